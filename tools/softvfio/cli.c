/* SPDX-License-Identifier: MIT */
/* The command's edges: see cli.h. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "tool.h"

#define CUT_OVER 72 /* a run longer than this is cut ... */
#define CUT_KEEP 60 /* ... to this many bytes */

void svf_cli_vprint_cut(FILE *f, const char *fmt, va_list ap)
{
	char *msg = NULL;
	size_t i = 0, n;

	if (vasprintf(&msg, fmt, ap) < 0) {
		fputs("(message lost: out of memory)", f);
		return;
	}
	n = strlen(msg);
	while (i < n) {
		size_t run = strcspn(msg + i, " \t\n'");

		if (run > CUT_OVER) {
			fprintf(f, "%.*s...(%zu bytes)", CUT_KEEP, msg + i, run);
		} else {
			fwrite(msg + i, 1, run, f);
		}
		i += run;
		if (i < n)
			fputc(msg[i++], f);
	}
	free(msg);
}

void svf_cli_print_cut(FILE *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	svf_cli_vprint_cut(f, fmt, ap);
	va_end(ap);
}

int svf_cli_usage(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "softvfio%s%s: ", cmd ? " " : "", cmd ? cmd : "");
	va_start(ap, fmt);
	svf_cli_vprint_cut(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'softvfio%s%s --help'.\n", cmd ? " " : "", cmd ? cmd : "");
	return SVF_EXIT_USAGE;
}

int svf_cli_bad_option(const char *cmd, char **argv, int c)
{
	const char *arg = argv[optind - 1];
	char shortopt[3] = { '-', (char)optopt, '\0' };

	if (c == '?' && optopt > 0 && optopt < 256)
		arg = shortopt;
	if (c == ':')
		return svf_cli_usage(cmd, "option '%s' needs a value", arg);
	return svf_cli_usage(cmd, "unknown option '%s'", arg);
}

int svf_cli_parse(const char *cmd, const char *help, int argc, char **argv,
		  const struct svf_cli_opt *opts, size_t n)
{
	struct option longopts[SVF_CLI_MAX_OPTS + 2] = { { 0 } };
	char opt[64];
	uint64_t v = 0;
	int c;

	if (n > SVF_CLI_MAX_OPTS)
		n = SVF_CLI_MAX_OPTS;
	for (size_t i = 0; i < n; i++)
		longopts[i] = (struct option){ opts[i].name, required_argument, NULL, 256 + (int)i };
	longopts[n] = (struct option){ "help", no_argument, NULL, 'h' };
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		const struct svf_cli_opt *o;

		if (c == 'h') {
			fputs(help, stdout);
			return 0;
		}
		if (c < 256 || c >= 256 + (int)n)
			return svf_cli_bad_option(cmd, argv, c);
		o = &opts[c - 256];
		if (o->str) {
			*o->str = optarg;
			continue;
		}
		snprintf(opt, sizeof(opt), "--%s", o->name);
		if (svf_cli_u64(cmd, opt, optarg, o->min, o->max, &v))
			return SVF_EXIT_USAGE;
		if (o->u64)
			*o->u64 = v;
		else
			*o->uint = (unsigned)v;
	}
	if (optind != argc)
		return svf_cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
	return -1;
}

int svf_cli_u64(const char *cmd, const char *opt, const char *arg, uint64_t min, uint64_t max,
		uint64_t *out)
{
	uint64_t v;

	if (svf_parse_u64(arg, &v) || v < min || v > max)
		return svf_cli_usage(cmd, "%s wants a number from %" PRIu64 " to %" PRIu64
				     ", not '%s'", opt, min, max, arg);
	*out = v;
	return 0;
}

int svf_cli_check_output(const char *cmd, const char *opt, const char *path)
{
	struct stat st;
	bool existed;
	int fd;

	if (strcmp(path, "-") == 0)
		return 0;
	existed = stat(path, &st) == 0;
	if (existed && S_ISDIR(st.st_mode)) {
		svf_cli_print_cut(stderr, "softvfio %s: %s '%s' is a directory, not a file\n", cmd,
				  opt, path);
		return EXIT_FAILURE;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
	if (fd < 0) {
		int err = errno;

		svf_cli_print_cut(stderr, "softvfio %s: %s '%s' cannot be written: %s%s\n", cmd, opt,
				  path, strerror(err),
				  err == ENOENT ? " (its directory does not exist)" : "");
		return EXIT_FAILURE;
	}
	close(fd);
	if (!existed)
		unlink(path); /* written at the end; leave nothing behind if the run fails */
	return 0;
}

int svf_cli_read_error(const char *cmd, const char *path, int err)
{
	struct stat st;

	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
		svf_cli_print_cut(stderr, "softvfio %s: '%s' is a directory, not a file\n", cmd, path);
	else
		svf_cli_print_cut(stderr, "softvfio %s: cannot read '%s': %s\n", cmd, path,
				  strerror(err));
	return EXIT_FAILURE;
}

int svf_cli_finish(int rc)
{
	errno = 0;
	if (fflush(stdout) == EOF || ferror(stdout)) {
		int err = errno;

		fprintf(stderr, "softvfio: writing standard output failed%s%s\n", err ? ": " : "",
			err ? strerror(err) : "");
		return rc ? rc : EXIT_FAILURE;
	}
	return rc;
}
