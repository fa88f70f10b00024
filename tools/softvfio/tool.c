/* SPDX-License-Identifier: MIT */
/*
 * Helpers every subcommand of the softvfio command shares: building the
 * container a replay or a benchmark runs on, parsing numbers, naming
 * errnos, reading input files, printing the counters. See tool.h.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "tool.h"


void svf_tool_default_config(struct svf_tool_config *cfg)
{
	*cfg = (struct svf_tool_config){
		.driver = "vtd",
		.backend = SVF_BACKEND_PROCESS,
		.layout = SVF_LAYOUT_CONTIG,
		.policy = SVF_POLICY_GATHER,
		.batch_cap = 0,
		.cost = -1,
		.check_unpin = false,
	};
}

int svf_tool_driver_config(const char *name, struct svf_iommu_config *ic)
{
	if (!name)
		name = "vtd";
	if (strcmp(name, "amd-covering") == 0 || strcmp(name, "amd-npcache") == 0) {
		svf_iommu_default_config("amd", ic);
		ic->covering_inv = name[4] == 'c';
		ic->np_cache = name[4] == 'n';
		return 0;
	}
	svf_iommu_default_config(name, ic); /* an unknown name: svf_iommu_create says -ENODEV */
	return 0;
}

static void tool_iommu_config(const struct svf_tool_config *cfg, struct svf_iommu_config *ic)
{
	(void)svf_tool_driver_config(cfg->driver, ic); /* an unknown name fails at create */
	ic->check_unpin = cfg->check_unpin;
	ic->hw_dirty = cfg->hw_dirty;
	if (cfg->cost == 0) {
		ic->cost_off = true;
		ic->cost.enabled = false;
	} else if (cfg->cost == 1) {
		ic->cost_off = false;
		ic->cost.enabled = true;
	}
}

int svf_tool_check_driver(const char *driver)
{
	struct svf_tool_config cfg;
	struct svf_iommu_config ic;
	struct svf_iommu *u;
	int rc;

	svf_tool_default_config(&cfg);
	cfg.driver = driver;
	tool_iommu_config(&cfg, &ic);
	rc = svf_iommu_create(&ic, &u);
	if (rc)
		return rc;
	svf_iommu_destroy(u);
	return 0;
}

int svf_tool_container_create(const struct svf_tool_config *cfg, struct svf_pinner **pinner,
			      struct svf_container **container)
{
	struct svf_pinner_config pc = {
		.backend = cfg->backend,
		.layout = cfg->layout,
		.seed = 1,
		/*
		 * Synthetic guests pin no memory: the tools do not charge them
		 * against this process's RLIMIT_MEMLOCK (the library still counts
		 * them as locked, and its tests check the limit on both backends).
		 */
		.memlock_limit_override = cfg->backend == SVF_BACKEND_SYNTHETIC ? UINT64_MAX : 0,
	};
	struct svf_container_config cc;
	struct svf_iommu_config ic;
	struct svf_container *c;
	struct svf_pinner *p;
	long lrc;
	int rc;

	tool_iommu_config(cfg, &ic);
	rc = svf_pinner_create(&pc, &p);
	if (rc)
		return rc;

	svf_container_default_config(&cc);
	cc.policy = cfg->policy;
	cc.batch_cap = cfg->batch_cap;
	cc.pinner = p;
	cc.attach_default_domain = true;
	cc.iommu = &ic;
	cc.dma_check = cfg->dma_check;
	cc.cpu_time = cfg->cpu_time;
	rc = svf_container_create(&cc, &c);
	if (rc)
		goto err_destroy_pinner;

	lrc = softvfio_ioctl(c, VFIO_SET_IOMMU, (void *)(uintptr_t)VFIO_TYPE1v2_IOMMU);
	if (lrc < 0) {
		rc = (int)lrc;
		goto err_destroy_container;
	}
	*pinner = p;
	*container = c;
	return 0;

err_destroy_container:
	svf_container_destroy(c);
err_destroy_pinner:
	svf_pinner_destroy(p);
	return rc;
}

void svf_tool_container_destroy(struct svf_pinner *pinner, struct svf_container *container)
{
	if (container)
		svf_container_destroy(container);
	if (pinner)
		svf_pinner_destroy(pinner);
}

static int digit_value(char ch, unsigned base)
{
	int v;

	if (ch >= '0' && ch <= '9')
		v = ch - '0';
	else if (ch >= 'a' && ch <= 'f')
		v = ch - 'a' + 10;
	else if (ch >= 'A' && ch <= 'F')
		v = ch - 'A' + 10;
	else
		return -1;
	return (unsigned)v < base ? v : -1;
}

int svf_parse_u64(const char *s, uint64_t *out)
{
	const char *p = s;
	unsigned base = 10, shift = 0;
	uint64_t v = 0;
	int d;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	if (digit_value(*p, base) < 0)
		return -EINVAL;
	for (; (d = digit_value(*p, base)) >= 0; p++) {
		if (v > (UINT64_MAX - (uint64_t)d) / base)
			return -ERANGE;
		v = v * base + (uint64_t)d;
	}
	switch (*p) {
	case '\0': break;
	case 'K': shift = 10; p++; break;
	case 'M': shift = 20; p++; break;
	case 'G': shift = 30; p++; break;
	case 'T': shift = 40; p++; break;
	default: return -EINVAL;
	}
	if (*p != '\0')
		return -EINVAL;
	if (shift && v > (UINT64_MAX >> shift))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

#define ERRNO_NAME(e) { e, #e }
static const struct {
	int err;
	const char *name;
} errno_names[] = {
	ERRNO_NAME(EPERM),     ERRNO_NAME(ENOENT),    ERRNO_NAME(ESRCH),
	ERRNO_NAME(EINTR),     ERRNO_NAME(EIO),       ERRNO_NAME(ENXIO),
	ERRNO_NAME(E2BIG),     ERRNO_NAME(EBADF),     ERRNO_NAME(EAGAIN),
	ERRNO_NAME(ENOMEM),    ERRNO_NAME(EACCES),    ERRNO_NAME(EFAULT),
	ERRNO_NAME(EBUSY),     ERRNO_NAME(EEXIST),    ERRNO_NAME(EXDEV),
	ERRNO_NAME(ENODEV),    ERRNO_NAME(EINVAL),    ERRNO_NAME(ENFILE),
	ERRNO_NAME(EMFILE),    ERRNO_NAME(ENOTTY),    ERRNO_NAME(EFBIG),
	ERRNO_NAME(ENOSPC),    ERRNO_NAME(ESPIPE),    ERRNO_NAME(EROFS),
	ERRNO_NAME(EPIPE),     ERRNO_NAME(EDOM),      ERRNO_NAME(ERANGE),
	ERRNO_NAME(EDEADLK),   ERRNO_NAME(ENOSYS),    ERRNO_NAME(EOPNOTSUPP),
	ERRNO_NAME(EOVERFLOW), ERRNO_NAME(ETIMEDOUT), ERRNO_NAME(ECANCELED),
	ERRNO_NAME(EUCLEAN),   ERRNO_NAME(EMSGSIZE),  ERRNO_NAME(ENOBUFS),
	ERRNO_NAME(EHWPOISON), ERRNO_NAME(ENOTRECOVERABLE),
};
#undef ERRNO_NAME

const char *svf_errno_name(int err, char buf[static 24])
{
	const char *name = NULL;

	for (size_t i = 0; i < sizeof(errno_names) / sizeof(errno_names[0]); i++)
		if (errno_names[i].err == err)
			return errno_names[i].name;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
	name = strerrorname_np(err);
#endif
	if (name)
		return name;
	snprintf(buf, 24, "E%d", err);
	return buf;
}

int svf_read_file(const char *path, char **text, size_t *len)
{
	bool is_stdin = strcmp(path, "-") == 0;
	size_t cap = 4096, n = 0;
	char *buf, *grown;
	FILE *f;
	int rc = 0;

	f = is_stdin ? stdin : fopen(path, "r");
	if (!f)
		return -errno;
	buf = malloc(cap);
	if (!buf) {
		rc = -ENOMEM;
		goto out_close;
	}
	for (;;) {
		size_t got;

		if (cap - n < 2) {
			grown = realloc(buf, cap * 2);
			if (!grown) {
				rc = -ENOMEM;
				goto err_free;
			}
			buf = grown;
			cap *= 2;
		}
		errno = 0;
		got = fread(buf + n, 1, cap - n - 1, f);
		n += got;
		if (got == 0) {
			if (ferror(f)) {
				rc = errno ? -errno : -EIO; /* EISDIR for a directory */
				goto err_free;
			}
			break;
		}
	}
	buf[n] = '\0';
	*text = buf;
	*len = n;
	goto out_close;

err_free:
	free(buf);
out_close:
	if (!is_stdin)
		fclose(f);
	return rc;
}

void svf_stats_print_table(const struct svf_stats *s, FILE *out)
{
#define ROW(name, kind, what) fprintf(out, "  %-26s %" PRIu64 "\n", #name, s->name);
	SVF_STATS_FIELDS(ROW)
#undef ROW
}

