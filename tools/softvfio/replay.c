/* SPDX-License-Identifier: MIT */
/*
 * The vfio-trace v1 replayer: parse a whole trace, then run it op by op
 * through softvfio_ioctl() on one type1v2 container. See replay.h for the
 * theory of operation and docs/vfio-trace.md for the format.
 *
 * Two phases, never mixed: svf_trace_parse() only reads text and reports
 * the first syntax error; svf_trace_replay() only runs what parsed. A result
 * line is printed per operation as it completes, so a crash in the library
 * still leaves the lines that ran.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "cli.h"
#include "replay.h"

#define ARENA_GUARD      (1ULL << 30) /* PROT_NONE after the arena */
#define HUGE_ALIGN       (2ULL << 20)
#define BITMAP_MAX_BYTES (256ULL << 20) /* Linux's DIRTY_BITMAP_SIZE_MAX */
#define MAX_TOKENS       8              /* more than any operation takes */
#define INFO_TRIES       4              /* GET_INFO argsz negotiation rounds */
#define INFO_MAX_CAPS    64             /* a chain longer than this is broken */

/* ------------------------------------------------------------------------ */
/* Parsing                                                                  */
/* ------------------------------------------------------------------------ */

enum op_kind {
	OP_ARENA,
	OP_HOLE,
	OP_FILL,
	OP_MAP,
	OP_UNMAP,
	OP_DIRTY_START,
	OP_DIRTY_STOP,
	OP_DIRTY_GET,
	OP_INFO,
	OP_DMA_READ,
	OP_DMA_WRITE,
};

/* One operation; which fields mean something depends on kind. */
struct trace_op {
	enum op_kind kind;
	unsigned line;   /* 1-based line of the trace */
	uint64_t iova;   /* map, unmap, dirty get, dma */
	uint64_t size;   /* every SIZE */
	uint64_t offset; /* hole, fill, map */
	uint64_t pgsize; /* unmap with dirty, dirty get */
	uint32_t prot;   /* map: VFIO_DMA_MAP_FLAG_READ | _WRITE */
	uint8_t byte;    /* fill, dma write */
	bool all;        /* unmap */
	bool dirty;      /* unmap */
	bool huge;       /* arena */
};

struct svf_trace {
	struct trace_op *ops;
	size_t nr, cap;
	size_t nr_holes;     /* hole operations (the replay preallocates their list) */
	bool has_arena;
	uint64_t arena_size; /* 0 without an arena */
};

/* The line being parsed. */
struct parser {
	struct svf_trace *t;
	FILE *err;
	unsigned line;
	const char *opname; /* for messages: "map", "dirty get", ... */
	char *tok[MAX_TOKENS];
	int n;
};

__attribute__((format(printf, 2, 3)))
static int syntax(struct parser *ps, const char *fmt, ...)
{
	va_list ap;

	fprintf(ps->err, "error: %u: ", ps->line);
	va_start(ap, fmt);
	svf_cli_vprint_cut(ps->err, fmt, ap); /* a 10 MB token prints as 60 bytes */
	va_end(ap);
	fputc('\n', ps->err);
	return -EINVAL;
}

static int arg_num(struct parser *ps, int idx, const char *what, uint64_t *out)
{
	int rc;

	if (idx >= ps->n)
		return syntax(ps, "%s: missing %s", ps->opname, what);
	rc = svf_parse_u64(ps->tok[idx], out);
	if (rc == -ERANGE)
		return syntax(ps, "%s: %s '%s' is out of range (over 2^64 - 1)", ps->opname, what,
			      ps->tok[idx]);
	if (rc)
		return syntax(ps, "%s: malformed %s '%s' (want decimal or 0x hex, optional K/M/G/T)",
			      ps->opname, what, ps->tok[idx]);
	return 0;
}

static int arg_byte(struct parser *ps, int idx, uint8_t *out)
{
	uint64_t v;
	int rc;

	rc = arg_num(ps, idx, "BYTE", &v);
	if (rc)
		return rc;
	if (v > 255)
		return syntax(ps, "%s: BYTE must be 0-255, not '%s'", ps->opname, ps->tok[idx]);
	*out = (uint8_t)v;
	return 0;
}

static int no_more_args(struct parser *ps, int idx)
{
	if (idx < ps->n)
		return syntax(ps, "%s: unexpected argument '%s'", ps->opname, ps->tok[idx]);
	return 0;
}

/* [offset, offset+size) inside the arena. */
static int check_in_arena(struct parser *ps, uint64_t offset, uint64_t size)
{
	uint64_t arena = ps->t->arena_size;

	if (!ps->t->has_arena)
		return syntax(ps, "%s reaches outside the arena (there is no arena)", ps->opname);
	if (size > arena || offset > arena - size)
		return syntax(ps, "%s reaches outside the arena (0x%" PRIx64 "+0x%" PRIx64
			      " > arena size 0x%" PRIx64 ")", ps->opname, offset, size, arena);
	return 0;
}

static int parse_arena(struct parser *ps, struct trace_op *op)
{
	int idx = 2, rc;

	if (ps->t->nr > 0)
		return syntax(ps, "arena must be the first operation");
	rc = arg_num(ps, 1, "SIZE", &op->size);
	if (rc)
		return rc;
	if (idx < ps->n && strcmp(ps->tok[idx], "huge") == 0) {
		op->huge = true;
		idx++;
	}
	rc = no_more_args(ps, idx);
	if (rc)
		return rc;
	if (op->size == 0 || op->size % SVF_PAGE_SIZE)
		return syntax(ps, "arena: SIZE must be a non-zero multiple of 4 KiB");
	if (op->size > (1ULL << 46))
		return syntax(ps, "arena: SIZE is too large (at most 64 TiB)");
	ps->t->has_arena = true;
	ps->t->arena_size = op->size;
	return 0;
}

static int parse_hole(struct parser *ps, struct trace_op *op)
{
	int rc;

	rc = arg_num(ps, 1, "OFFSET", &op->offset);
	if (!rc)
		rc = arg_num(ps, 2, "SIZE", &op->size);
	if (!rc)
		rc = no_more_args(ps, 3);
	if (!rc)
		rc = check_in_arena(ps, op->offset, op->size);
	if (rc)
		return rc;
	if (op->size == 0 || op->offset % SVF_PAGE_SIZE || op->size % SVF_PAGE_SIZE)
		return syntax(ps, "hole: OFFSET and SIZE must be multiples of 4 KiB, SIZE non-zero");
	ps->t->nr_holes++;
	return 0;
}

static int parse_fill(struct parser *ps, struct trace_op *op)
{
	int rc;

	rc = arg_num(ps, 1, "OFFSET", &op->offset);
	if (!rc)
		rc = arg_num(ps, 2, "SIZE", &op->size);
	if (!rc)
		rc = arg_byte(ps, 3, &op->byte);
	if (!rc)
		rc = no_more_args(ps, 4);
	if (!rc)
		rc = check_in_arena(ps, op->offset, op->size);
	return rc;
}

static int parse_map(struct parser *ps, struct trace_op *op)
{
	const char *prot;
	int rc;

	rc = arg_num(ps, 1, "IOVA", &op->iova);
	if (!rc)
		rc = arg_num(ps, 2, "SIZE", &op->size);
	if (!rc)
		rc = arg_num(ps, 3, "OFFSET", &op->offset);
	if (rc)
		return rc;
	if (ps->n <= 4)
		return syntax(ps, "map: missing PROT");
	prot = ps->tok[4];
	if (strcmp(prot, "r") == 0)
		op->prot = VFIO_DMA_MAP_FLAG_READ;
	else if (strcmp(prot, "w") == 0)
		op->prot = VFIO_DMA_MAP_FLAG_WRITE;
	else if (strcmp(prot, "rw") == 0)
		op->prot = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE;
	else if (strcmp(prot, "-") == 0)
		op->prot = 0;
	else
		return syntax(ps, "map: malformed PROT '%s' (want r, w, rw or -)", prot);
	rc = no_more_args(ps, 5);
	if (rc)
		return rc;
	/*
	 * The vaddr must stay inside what the replayer reserved (arena and
	 * guard): an OFFSET that wraps or passes the guard would name the
	 * replayer's own memory, which Linux's replayer would not map either.
	 */
	uint64_t bound = ps->t->arena_size + ARENA_GUARD, end;

	if (__builtin_add_overflow(op->offset, op->size, &end) || end > bound)
		return syntax(ps, "map: OFFSET 0x%" PRIx64 " + SIZE 0x%" PRIx64
			      " reaches past the arena's guard (0x%" PRIx64 ")",
			      op->offset, op->size, bound);
	return 0;
}

/* Any number: the ioctl, not the parser, judges a PGSIZE (EINVAL unless the IOMMU's). */
static int parse_pgsize(struct parser *ps, int idx, uint64_t *pgsize)
{
	return arg_num(ps, idx, "PGSIZE", pgsize);
}

static int parse_unmap(struct parser *ps, struct trace_op *op)
{
	int idx = 3, rc;

	rc = arg_num(ps, 1, "IOVA", &op->iova);
	if (!rc)
		rc = arg_num(ps, 2, "SIZE", &op->size);
	if (rc)
		return rc;
	while (idx < ps->n) {
		if (strcmp(ps->tok[idx], "all") == 0 && !op->all) {
			op->all = true;
			idx++;
		} else if (strcmp(ps->tok[idx], "dirty") == 0 && !op->dirty) {
			op->dirty = true;
			rc = parse_pgsize(ps, idx + 1, &op->pgsize);
			if (rc)
				return rc;
			idx += 2;
		} else {
			return no_more_args(ps, idx);
		}
	}
	return 0;
}

static int parse_dirty(struct parser *ps, struct trace_op *op)
{
	int rc;

	if (ps->n < 2)
		return syntax(ps, "dirty: missing start, stop or get");
	if (strcmp(ps->tok[1], "start") == 0) {
		op->kind = OP_DIRTY_START;
		ps->opname = "dirty start";
		return no_more_args(ps, 2);
	}
	if (strcmp(ps->tok[1], "stop") == 0) {
		op->kind = OP_DIRTY_STOP;
		ps->opname = "dirty stop";
		return no_more_args(ps, 2);
	}
	if (strcmp(ps->tok[1], "get") != 0)
		return syntax(ps, "dirty: unknown '%s' (want start, stop or get)", ps->tok[1]);
	op->kind = OP_DIRTY_GET;
	ps->opname = "dirty get";
	rc = arg_num(ps, 2, "IOVA", &op->iova);
	if (!rc)
		rc = arg_num(ps, 3, "SIZE", &op->size);
	if (!rc)
		rc = parse_pgsize(ps, 4, &op->pgsize);
	if (!rc)
		rc = no_more_args(ps, 5);
	return rc;
}

static int parse_dma(struct parser *ps, struct trace_op *op)
{
	bool write;
	int rc;

	if (ps->n < 2)
		return syntax(ps, "dma: missing read or write");
	if (strcmp(ps->tok[1], "read") == 0)
		write = false;
	else if (strcmp(ps->tok[1], "write") == 0)
		write = true;
	else
		return syntax(ps, "dma: unknown '%s' (want read or write)", ps->tok[1]);
	op->kind = write ? OP_DMA_WRITE : OP_DMA_READ;
	ps->opname = write ? "dma write" : "dma read";
	rc = arg_num(ps, 2, "IOVA", &op->iova);
	if (!rc)
		rc = arg_num(ps, 3, "SIZE", &op->size);
	if (!rc && write)
		rc = arg_byte(ps, 4, &op->byte);
	if (!rc)
		rc = no_more_args(ps, write ? 5 : 4);
	return rc;
}

static int trace_push(struct svf_trace *t, const struct trace_op *op)
{
	if (t->nr == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		struct trace_op *ops = realloc(t->ops, cap * sizeof(*ops));

		if (!ops)
			return -ENOMEM;
		t->ops = ops;
		t->cap = cap;
	}
	t->ops[t->nr++] = *op;
	return 0;
}

/* Parse one line, already copied into a writable NUL-terminated buffer. */
static int parse_line(struct parser *ps, char *buf)
{
	struct trace_op op = { .line = ps->line };
	char *hash, *save = NULL, *tok;
	int rc;

	hash = strchr(buf, '#');
	if (hash)
		*hash = '\0';
	ps->n = 0;
	for (tok = strtok_r(buf, " \t\r", &save); tok; tok = strtok_r(NULL, " \t\r", &save)) {
		if (ps->n == MAX_TOKENS) {
			ps->opname = ps->tok[0];
			return syntax(ps, "%s: unexpected argument '%s'", ps->tok[0], tok);
		}
		ps->tok[ps->n++] = tok;
	}
	if (ps->n == 0)
		return 0;

	ps->opname = ps->tok[0];
	if (strcmp(ps->tok[0], "arena") == 0) {
		op.kind = OP_ARENA;
		rc = parse_arena(ps, &op);
	} else if (strcmp(ps->tok[0], "hole") == 0) {
		op.kind = OP_HOLE;
		rc = parse_hole(ps, &op);
	} else if (strcmp(ps->tok[0], "fill") == 0) {
		op.kind = OP_FILL;
		rc = parse_fill(ps, &op);
	} else if (strcmp(ps->tok[0], "map") == 0) {
		op.kind = OP_MAP;
		rc = parse_map(ps, &op);
	} else if (strcmp(ps->tok[0], "unmap") == 0) {
		op.kind = OP_UNMAP;
		rc = parse_unmap(ps, &op);
	} else if (strcmp(ps->tok[0], "dirty") == 0) {
		rc = parse_dirty(ps, &op);
	} else if (strcmp(ps->tok[0], "info") == 0) {
		op.kind = OP_INFO;
		rc = no_more_args(ps, 1);
	} else if (strcmp(ps->tok[0], "dma") == 0) {
		rc = parse_dma(ps, &op);
	} else {
		rc = syntax(ps, "unknown operation '%s'", ps->tok[0]);
	}
	if (rc)
		return rc;
	rc = trace_push(ps->t, &op);
	if (rc)
		fprintf(ps->err, "error: %u: out of memory\n", ps->line);
	return rc;
}

int svf_trace_parse(const char *text, size_t len, FILE *err, struct svf_trace **out)
{
	struct parser ps = { .err = err };
	const char *p = text, *end = text + len;
	size_t bufcap = 0;
	char *buf = NULL;
	int rc = 0;

	ps.t = calloc(1, sizeof(*ps.t));
	if (!ps.t)
		return -ENOMEM;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);

		ps.line++;
		if (memchr(p, '\0', ll)) {
			rc = syntax(&ps, "NUL byte in the line");
			goto err_free;
		}
		if (ll + 1 > bufcap) {
			char *grown = realloc(buf, ll + 1);

			if (!grown) {
				rc = -ENOMEM;
				goto err_free;
			}
			buf = grown;
			bufcap = ll + 1;
		}
		memcpy(buf, p, ll);
		buf[ll] = '\0';
		rc = parse_line(&ps, buf);
		if (rc)
			goto err_free;
		p += ll + (nl ? 1 : 0);
	}
	free(buf);
	*out = ps.t;
	return 0;

err_free:
	free(buf);
	svf_trace_free(ps.t);
	return rc;
}

void svf_trace_free(struct svf_trace *t)
{
	if (!t)
		return;
	free(t->ops);
	free(t);
}

size_t svf_trace_nr_ops(const struct svf_trace *t)
{
	return t->nr;
}

uint64_t svf_trace_footprint(const struct svf_trace *t)
{
	uint64_t most = t->arena_size;

	for (size_t i = 0; i < t->nr; i++) {
		const struct trace_op *op = &t->ops[i];

		if (op->kind == OP_MAP || op->kind == OP_FILL || op->kind == OP_DMA_READ ||
		    op->kind == OP_DMA_WRITE || op->kind == OP_DIRTY_GET ||
		    (op->kind == OP_UNMAP && op->dirty))
			most = op->size > most ? op->size : most;
	}
	return most;
}

/* ------------------------------------------------------------------------ */
/* Replay                                                                   */
/* ------------------------------------------------------------------------ */

struct hole {
	uint64_t start, end; /* arena offsets, end exclusive */
};

struct replay {
	const struct svf_trace *t;
	FILE *out, *err;
	struct svf_pinner *pinner;
	struct svf_container *c;
	bool synthetic;
	uint64_t base;      /* vaddr of arena offset 0 (0 with the synthetic backend) */
	void *resv;         /* process backend: the arena and its guard */
	size_t resv_len;
	struct hole *holes; /* preallocated: one per hole operation */
	size_t nr_holes;
	struct svf_device *dev; /* created by the first dma operation */
};

/*
 * The arena: reserve SIZE + guard (+ slack for 2 MiB alignment) as
 * PROT_NONE, trim the slack, open the first SIZE bytes read-write. A size of
 * 0 leaves only the guard (a trace without an arena).
 */
static int arena_create(struct replay *r, uint64_t size, bool huge)
{
	uint64_t align = huge ? HUGE_ALIGN : SVF_PAGE_SIZE;
	size_t len = (size_t)(size + ARENA_GUARD + align - SVF_PAGE_SIZE);
	uintptr_t start, base;
	size_t head, tail;
	void *p;
	int rc;

	p = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED) {
		rc = -errno;
		fprintf(r->err, "softvfio: arena: cannot reserve %zu bytes: %s\n", len,
			strerror(-rc));
		return rc;
	}
	start = (uintptr_t)p;
	base = (start + align - 1) & ~(uintptr_t)(align - 1);
	head = base - start;
	tail = len - head - (size_t)(size + ARENA_GUARD);
	if (head)
		munmap(p, head);
	if (tail)
		munmap((void *)(base + size + ARENA_GUARD), tail);
	r->resv = (void *)base;
	r->resv_len = (size_t)(size + ARENA_GUARD);
	r->base = base;
	if (size && mprotect((void *)base, (size_t)size, PROT_READ | PROT_WRITE)) {
		rc = -errno;
		fprintf(r->err, "softvfio: arena: cannot open %" PRIu64 " bytes read-write: %s\n",
			size, strerror(-rc));
		return rc;
	}
	/* Advice only: a kernel without transparent huge pages still gives an arena. */
	if (huge && size)
		(void)madvise((void *)base, (size_t)size, MADV_HUGEPAGE);
	return 0;
}

static void arena_destroy(struct replay *r)
{
	if (r->resv)
		munmap(r->resv, r->resv_len);
	r->resv = NULL;
}

/* Prints "L<line> <op> " and either "err NAME\n" (returns false) or "ok". */
static bool result_begin(struct replay *r, const struct trace_op *op, long rc)
{
	static const char *const names[] = {
		[OP_ARENA] = "arena", [OP_HOLE] = "hole",   [OP_FILL] = "fill",
		[OP_MAP] = "map",     [OP_UNMAP] = "unmap", [OP_DIRTY_START] = "dirty",
		[OP_DIRTY_STOP] = "dirty", [OP_DIRTY_GET] = "dirty", [OP_INFO] = "info",
		[OP_DMA_READ] = "dma", [OP_DMA_WRITE] = "dma",
	};
	char buf[24];

	fprintf(r->out, "L%u %s ", op->line, names[op->kind]);
	if (rc < 0) {
		fprintf(r->out, "err %s\n", svf_errno_name((int)-rc, buf));
		return false;
	}
	fputs("ok", r->out);
	return true;
}

static void result_simple(struct replay *r, const struct trace_op *op, long rc)
{
	if (result_begin(r, op, rc))
		fputc('\n', r->out);
}

static void print_bitmap(struct replay *r, const uint8_t *data, uint64_t bytes)
{
	fputs(" bitmap=", r->out);
	for (uint64_t i = 0; data && i < bytes; i++)
		fprintf(r->out, "%02x", data[i]);
}

/*
 * A zeroed bitmap for [iova, iova+size) at pgsize: pages rounded up to whole
 * 64-bit words. Past Linux's maximum the size is still reported (so that the
 * library rejects it) but no memory is given: *data stays NULL. A PGSIZE of
 * 0 gives an empty bitmap (the ioctl answers EINVAL for it).
 */
static int bitmap_alloc(uint64_t size, uint64_t pgsize, uint64_t *bytes, uint8_t **data)
{
	uint64_t pages = pgsize ? size / pgsize : 0;

	*bytes = (pages / 64 + (pages % 64 != 0)) * 8;
	*data = NULL;
	if (*bytes == 0 || *bytes > BITMAP_MAX_BYTES)
		return 0;
	*data = calloc(1, (size_t)*bytes);
	return *data ? 0 : -ENOMEM;
}

static int do_arena(struct replay *r, const struct trace_op *op)
{
	int rc = 0;

	if (!r->synthetic)
		rc = arena_create(r, op->size, op->huge);
	if (rc)
		return rc;
	result_simple(r, op, 0);
	return 0;
}

/*
 * The range leaves the process but stays reserved (PROT_NONE over it), so
 * nothing the process maps later can land there and a map of it is EFAULT.
 * Pages of it still pinned for DMA are handed to the pinner first
 * (svf_pinner_release): the device keeps reaching them, as on Linux.
 */
static int do_hole(struct replay *r, const struct trace_op *op)
{
	void *at = (void *)(uintptr_t)(r->base + op->offset);
	long rc = 0;

	if (!r->synthetic) {
		rc = svf_pinner_release(r->pinner, r->base + op->offset, op->size);
		if (!rc && mmap(at, (size_t)op->size, PROT_NONE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0) == MAP_FAILED)
			rc = -errno;
	}
	if (rc == 0)
		r->holes[r->nr_holes++] = (struct hole){ op->offset, op->offset + op->size };
	result_simple(r, op, rc);
	return 0;
}

/* As the CPU would: the bytes before the first hole are written, then it faults. */
static int do_fill(struct replay *r, const struct trace_op *op)
{
	uint64_t start = op->offset, end = op->offset + op->size, stop = end;

	for (size_t i = 0; i < r->nr_holes; i++) {
		const struct hole *h = &r->holes[i];

		if (h->start < end && h->end > start && h->start < stop)
			stop = h->start > start ? h->start : start;
	}
	if (!r->synthetic && stop > start)
		memset((void *)(uintptr_t)(r->base + start), op->byte, (size_t)(stop - start));
	result_simple(r, op, stop < end ? -EFAULT : 0);
	return 0;
}

static int do_map(struct replay *r, const struct trace_op *op)
{
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = op->prot,
		.vaddr = r->base + op->offset, /* wraps like the kernel's u64 would */
		.iova = op->iova,
		.size = op->size,
	};

	result_simple(r, op, softvfio_ioctl(r->c, VFIO_IOMMU_MAP_DMA, &m));
	return 0;
}

static int do_unmap(struct replay *r, const struct trace_op *op)
{
	struct vfio_iommu_type1_dma_unmap *u;
	struct vfio_bitmap bm = { 0 };
	uint8_t *data = NULL;
	size_t argsz = sizeof(*u);
	uint64_t bytes = 0;
	long lrc;
	int rc;

	if (op->dirty) {
		rc = bitmap_alloc(op->size, op->pgsize, &bytes, &data);
		if (rc)
			goto err_nomem;
		argsz += sizeof(bm);
	}
	u = calloc(1, argsz);
	if (!u) {
		rc = -ENOMEM;
		goto err_free_data;
	}
	u->argsz = (uint32_t)argsz;
	u->flags = (op->all ? VFIO_DMA_UNMAP_FLAG_ALL : 0) |
		   (op->dirty ? VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP : 0);
	u->iova = op->iova;
	u->size = op->size;
	if (op->dirty) {
		bm = (struct vfio_bitmap){ .pgsize = op->pgsize, .size = bytes, .data = (void *)data };
		memcpy(u->data, &bm, sizeof(bm));
	}
	lrc = softvfio_ioctl(r->c, VFIO_IOMMU_UNMAP_DMA, u);
	if (result_begin(r, op, lrc)) {
		fprintf(r->out, " size=0x%" PRIx64, (uint64_t)u->size);
		if (op->dirty)
			print_bitmap(r, data, bytes);
		fputc('\n', r->out);
	}
	free(u);
	free(data);
	return 0;

err_free_data:
	free(data);
err_nomem:
	fprintf(r->err, "softvfio: line %u: out of memory for the unmap request\n", op->line);
	return rc;
}

static int do_dirty(struct replay *r, const struct trace_op *op)
{
	struct vfio_iommu_type1_dirty_bitmap d = { .argsz = sizeof(d) };

	d.flags = op->kind == OP_DIRTY_START ? VFIO_IOMMU_DIRTY_PAGES_FLAG_START
					     : VFIO_IOMMU_DIRTY_PAGES_FLAG_STOP;
	result_simple(r, op, softvfio_ioctl(r->c, VFIO_IOMMU_DIRTY_PAGES, &d));
	return 0;
}

static int do_dirty_get(struct replay *r, const struct trace_op *op)
{
	struct vfio_iommu_type1_dirty_bitmap_get get;
	struct vfio_iommu_type1_dirty_bitmap *d;
	size_t argsz = sizeof(*d) + sizeof(get);
	uint8_t *data = NULL;
	uint64_t bytes;
	long lrc;
	int rc;

	rc = bitmap_alloc(op->size, op->pgsize, &bytes, &data);
	if (rc)
		goto err_nomem;
	d = calloc(1, argsz);
	if (!d) {
		rc = -ENOMEM;
		goto err_free_data;
	}
	d->argsz = (uint32_t)argsz;
	d->flags = VFIO_IOMMU_DIRTY_PAGES_FLAG_GET_BITMAP;
	get = (struct vfio_iommu_type1_dirty_bitmap_get){
		.iova = op->iova,
		.size = op->size,
		.bitmap = { .pgsize = op->pgsize, .size = bytes, .data = (void *)data },
	};
	memcpy(d->data, &get, sizeof(get));
	lrc = softvfio_ioctl(r->c, VFIO_IOMMU_DIRTY_PAGES, d);
	if (result_begin(r, op, lrc)) {
		print_bitmap(r, data, bytes);
		fputc('\n', r->out);
	}
	free(d);
	free(data);
	return 0;

err_free_data:
	free(data);
err_nomem:
	fprintf(r->err, "softvfio: line %u: out of memory for the dirty bitmap\n", op->line);
	return rc;
}

/*
 * GET_INFO as a VMM does it: ask with the fixed struct, and when the answer
 * raises argsz for the capability chain, ask again with that much room.
 */
static int do_info(struct replay *r, const struct trace_op *op)
{
	struct vfio_iommu_type1_info fixed = { .argsz = sizeof(fixed) };
	struct vfio_iommu_type1_info *info = &fixed;
	const struct vfio_iommu_type1_info_cap_iova_range *ranges = NULL;
	const struct vfio_iommu_type1_info_dma_avail *avail = NULL;
	uint32_t off, room = sizeof(fixed);
	void *big = NULL;
	long lrc;
	int rc;

	lrc = softvfio_ioctl(r->c, VFIO_IOMMU_GET_INFO, info);
	for (int i = 0; lrc >= 0 && i < INFO_TRIES && info->argsz > room; i++) {
		void *grown;

		room = info->argsz;
		grown = realloc(big, room);
		if (!grown) {
			rc = -ENOMEM;
			goto err_nomem;
		}
		big = grown;
		memset(big, 0, room);
		info = big;
		info->argsz = room;
		lrc = softvfio_ioctl(r->c, VFIO_IOMMU_GET_INFO, info);
	}
	if (!result_begin(r, op, lrc))
		goto out;

	/* Walk the chain; offsets only go forward and stay inside what we gave. */
	off = (info->flags & VFIO_IOMMU_INFO_CAPS) ? info->cap_offset : 0;
	for (int n = 0; off && n < INFO_MAX_CAPS; n++) {
		const struct vfio_info_cap_header *h;

		if (off < sizeof(fixed) || off % 4 || off > room - sizeof(*h))
			break;
		h = (const void *)((const char *)info + off);
		if (h->id == VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE &&
		    room - off >= sizeof(*ranges)) {
			ranges = (const void *)h;
			if (ranges->nr_iovas > (room - off - sizeof(*ranges)) /
						       sizeof(ranges->iova_ranges[0]))
				ranges = NULL;
		} else if (h->id == VFIO_IOMMU_TYPE1_INFO_DMA_AVAIL &&
			   room - off >= sizeof(*avail)) {
			avail = (const void *)h;
		}
		if (h->next != 0 && h->next <= off)
			break;
		off = h->next;
	}

	fprintf(r->out, " pgsizes=0x%" PRIx64, (uint64_t)info->iova_pgsizes);
	if (ranges) {
		fputs(" ranges=", r->out);
		for (uint32_t i = 0; i < ranges->nr_iovas; i++)
			fprintf(r->out, "%s0x%" PRIx64 "-0x%" PRIx64, i ? "," : "",
				(uint64_t)ranges->iova_ranges[i].start,
				(uint64_t)ranges->iova_ranges[i].end);
	}
	if (avail)
		fprintf(r->out, " avail=%" PRIu32, avail->avail);
	fputc('\n', r->out);
out:
	free(big);
	return 0;

err_nomem:
	free(big);
	fprintf(r->err, "softvfio: line %u: out of memory for the info buffer\n", op->line);
	return rc;
}

/*
 * The device behind the IOMMU (<softvfio/device.h>): one device thread,
 * created on the first dma operation. The request is submitted to it and
 * waited for. Returns 0 with *sum for a read (the 32-bit sum of the bytes;
 * 0 on the synthetic backend, which has no memory), 0 for a write, 1 with
 * *fault_iova, or a negative errno (device set-up).
 */
static int dma_run(struct replay *r, const struct trace_op *op, uint32_t *sum,
		   uint64_t *fault_iova)
{
	struct svf_dma_req req = {
		.access = op->kind == OP_DMA_WRITE ? SVF_PROT_WRITE : SVF_PROT_READ,
		.iova = op->iova,
		.len = op->size,
		.byte = op->byte,
	};
	int rc;

	if (!r->dev) {
		rc = svf_device_create(r->c, NULL, &r->dev);
		if (rc)
			return rc;
	}
	rc = svf_device_submit(r->dev, 0, &req);
	if (rc)
		return rc;
	svf_device_wait(r->dev, &req);
	if (req.status == 1)
		*fault_iova = req.fault_iova;
	*sum = req.sum;
	return req.status;
}

static int do_dma(struct replay *r, const struct trace_op *op)
{
	uint64_t fault_iova = 0;
	uint32_t sum = 0;
	int rc;

	rc = dma_run(r, op, &sum, &fault_iova);
	fprintf(r->out, "L%u dma ", op->line);
	if (rc == -EOPNOTSUPP)
		fputs("skip\n", r->out);
	else if (rc == 1)
		fprintf(r->out, "fault iova=0x%" PRIx64 "\n", fault_iova);
	else if (rc < 0)
		fprintf(r->out, "err %s\n", svf_errno_name(-rc, (char[24]){ 0 }));
	else if (op->kind == OP_DMA_READ)
		fprintf(r->out, "ok sum=0x%" PRIx32 "\n", sum);
	else
		fputs("ok\n", r->out);
	return 0;
}

static int run_op(struct replay *r, const struct trace_op *op)
{
	switch (op->kind) {
	case OP_ARENA: return do_arena(r, op);
	case OP_HOLE: return do_hole(r, op);
	case OP_FILL: return do_fill(r, op);
	case OP_MAP: return do_map(r, op);
	case OP_UNMAP: return do_unmap(r, op);
	case OP_DIRTY_START:
	case OP_DIRTY_STOP: return do_dirty(r, op);
	case OP_DIRTY_GET: return do_dirty_get(r, op);
	case OP_INFO: return do_info(r, op);
	case OP_DMA_READ:
	case OP_DMA_WRITE: return do_dma(r, op);
	}
	return -EINVAL;
}

int svf_trace_replay(const struct svf_trace *t, const struct svf_tool_config *cfg, FILE *out,
		     FILE *err, struct svf_stats *stats)
{
	struct replay r = {
		.t = t,
		.out = out,
		.err = err,
		.synthetic = cfg->backend == SVF_BACKEND_SYNTHETIC,
	};
	char ebuf[24];
	int rc;

	if (t->nr_holes) {
		r.holes = calloc(t->nr_holes, sizeof(*r.holes));
		if (!r.holes)
			return -ENOMEM;
	}
	rc = svf_tool_container_create(cfg, &r.pinner, &r.c);
	if (rc) {
		fprintf(err, "softvfio: cannot set up a type1v2 container (driver %s, %s backend, "
			"%s policy): %s\n", cfg->driver ? cfg->driver : "vtd",
			svf_backend_name(cfg->backend), svf_policy_name(cfg->policy),
			svf_errno_name(-rc, ebuf));
		goto out_free_holes;
	}
	/* A trace without an arena still gets the guard: every OFFSET faults. */
	if (!r.synthetic && !t->has_arena) {
		rc = arena_create(&r, 0, false);
		if (rc)
			goto out_destroy;
	}

	for (size_t i = 0; i < t->nr; i++) {
		rc = run_op(&r, &t->ops[i]);
		/* Line by line: a crash in the library still leaves what ran. */
		fflush(out);
		if (rc)
			goto out_destroy;
	}
	/* The device's counters are folded in when its threads go idle. */
	svf_device_destroy(r.dev);
	r.dev = NULL;
	if (stats)
		svf_container_get_stats(r.c, stats);

out_destroy:
	/* The device goes first; the container unpins everything before the arena goes away. */
	svf_device_destroy(r.dev);
	svf_tool_container_destroy(r.pinner, r.c);
	arena_destroy(&r);
out_free_holes:
	free(r.holes);
	return rc;
}
