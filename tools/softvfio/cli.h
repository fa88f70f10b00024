/* SPDX-License-Identifier: MIT */
/*
 * The command's conventions at its edges, in one place so every subcommand
 * behaves alike:
 *  - usage errors: "softvfio CMD: MESSAGE" and a hint on stderr, exit 2;
 *  - every numeric option is range-checked, and its error names the option,
 *    the value and the range;
 *  - whatever the user typed is echoed cut to a readable length (a 10 MB
 *    token prints as its first 60 bytes and its length);
 *  - output paths (--svg, --json, --stats) are tried before any work starts,
 *    and a path that cannot be written says why (a directory, permission,
 *    no such directory);
 *  - a command whose standard output could not be written exits 1, however
 *    well the rest went.
 */
#ifndef SOFTVFIO_CLI_H
#define SOFTVFIO_CLI_H

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>

#define SVF_EXIT_USAGE 2

/* fprintf with every whitespace-free run over 72 bytes cut to 60 bytes and its length. */
void svf_cli_print_cut(FILE *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void svf_cli_vprint_cut(FILE *f, const char *fmt, va_list ap);

/* "softvfio CMD: MESSAGE" + "Try 'softvfio CMD --help'." on stderr; returns SVF_EXIT_USAGE. */
int svf_cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * What getopt_long returned (c) for an option no case of the command took,
 * with its own messages off (opterr = 0): ':' an option without its value,
 * anything else an unknown option, named as the user wrote it (an unknown
 * short option inside a group as "-x"). Returns svf_cli_usage()'s value.
 */
int svf_cli_bad_option(const char *cmd, char **argv, int c);

/*
 * Parse arg (decimal or 0x hex, K/M/G/T suffixes) into *out if it lies in
 * [min, max]. Returns 0, or SVF_EXIT_USAGE after a message naming opt, the
 * value and the range.
 */
int svf_cli_u64(const char *cmd, const char *opt, const char *arg, uint64_t min, uint64_t max,
		uint64_t *out);

/*
 * One option of a command that takes options and no operands
 * (svf_cli_parse): --name VALUE. With str set, the text itself; else a
 * number as svf_cli_u64 reads it, in [min, max], stored into *u64 or *uint,
 * whichever is set (max must fit the field).
 */
struct svf_cli_opt {
	const char *name;
	uint64_t min, max;
	uint64_t *u64;
	unsigned *uint;
	const char **str;
};

#define SVF_CLI_MAX_OPTS 16

/*
 * Parse argv (argv[0] the command's name) against opts[0..n) (n at most
 * SVF_CLI_MAX_OPTS) and -h/--help, which prints help on standard output.
 * Returns -1 when the command should go on, else the exit status to return
 * at once: 0 after the help, SVF_EXIT_USAGE after a usage message (a bad
 * value, a bad option, an operand).
 */
int svf_cli_parse(const char *cmd, const char *help, int argc, char **argv,
		  const struct svf_cli_opt *opts, size_t n);

/*
 * Can path be written? "-" (standard output) always can. Opens it for
 * writing without truncating (removing it again if it did not exist).
 * Returns 0, or EXIT_FAILURE after saying why.
 */
int svf_cli_check_output(const char *cmd, const char *opt, const char *path);

/* A file could not be read: say what it is (a directory, missing, permission). Returns 1. */
int svf_cli_read_error(const char *cmd, const char *path, int err);

/* The exit status once standard output is flushed: rc, or 1 when writing it failed. */
int svf_cli_finish(int rc);

#endif
