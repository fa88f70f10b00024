/* SPDX-License-Identifier: MIT */
/*
 * Device accesses to process memory that may have left the process.
 *
 * A device reaches pinned memory through the process's own mapping of it.
 * When the program unmaps (or mprotects, or truncates the file under) such
 * memory without telling the library (svf_pinner_release), the next access
 * would raise SIGSEGV or SIGBUS in whichever thread runs the device. A
 * guarded access fails instead: the device reports it as an IOMMU fault,
 * and nothing crashes (docs/design.md, "Memory that leaves the process
 * while pinned").
 *
 * How. While any user holds it (svf_recover_get: a device, from create to
 * destroy), SIGSEGV and SIGBUS go to this file's handler. A guarded access
 * publishes a recovery point (struct svf_recover) in a thread-local pointer
 * and, around each access, the bytes [lo, hi) it may touch. A fault raised by the kernel on that
 * thread at an address inside that range jumps back to the point
 * (siglongjmp). sigsetjmp saves no signal mask and the handler is installed
 * with SA_NODEFER, so the mask after the jump is the one before the access,
 * and the fast path costs a register save per point, two thread-local
 * stores, and two plain stores per access; no system call.
 *
 * Every other fault is the program's: the handler passes it on to the
 * disposition that was in place when it was installed - a handler called
 * as its SA_SIGINFO flag says; SIG_DFL (or SIG_IGN for a fault the kernel
 * raised, which it would not let be ignored): the default is restored and
 * a sent signal raised again, a faulting instruction re-executes, and the
 * process ends as it would have; SIG_IGN for a sent signal: ignored. A
 * program that installs its own handler later replaces this one and sees
 * the device's faults itself; one that restores the handler it found
 * (QEMU's and DPDK's temporary SIGBUS handlers while they touch memory)
 * restores this one. At the last put the previous disposition comes back,
 * unless someone replaced this handler meanwhile (then it is left as it is,
 * and chaining to this handler still works).
 *
 * The handler is async-signal-safe: it reads the thread-local pointer
 * (initial-exec TLS, no allocation), the saved dispositions (written only
 * by get, before the handler is installed) and calls sigaction and raise.
 */
#ifndef SVF_BASE_RECOVER_H
#define SVF_BASE_RECOVER_H

#include <setjmp.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>

struct svf_recover {
	sigjmp_buf env;
	uintptr_t lo, hi;        /* the bytes the access may touch */
	volatile uintptr_t addr; /* set by the handler: the address that faulted */
	volatile int sig;        /* set by the handler: SIGSEGV or SIGBUS */
	sigset_t mask;           /* set by the handler: the mask the fault interrupted */
};

/* This thread's recovery point, or NULL. Only this file and the inline helpers touch it. */
extern _Thread_local struct svf_recover *svf_recover_cur
	__attribute__((tls_model("initial-exec")));

/*
 * Install the handler for SIGSEGV and SIGBUS (counted: only the first get
 * installs). 0 or a negative errno from sigaction.
 */
int svf_recover_get(void);
/* Drop a get; the last one restores the previous dispositions. */
void svf_recover_put(void);

/*
 * Guarded accesses, in the caller's frame (sigsetjmp must stay live):
 *
 *	struct svf_recover r;
 *
 *	svf_recover_init(&r);
 *	if (sigsetjmp(r.env, 0)) {
 *		svf_recover_resume(&r);
 *		return fault at r.addr;   (the handler has left the point)
 *	}
 *	svf_recover_enter(&r);
 *	for each piece:
 *		svf_recover_arm(&r, p, n);
 *		... touch [p, p + n) ...
 *		svf_recover_disarm(&r);
 *	svf_recover_leave();
 *
 * One point may serve many accesses: arming is two stores. Between
 * disarm and the next arm the range is empty, so a fault in the caller's
 * own code still reaches the program. Not nested; nothing the caller
 * holds may be left inconsistent by a jump out of an access (a lock, a
 * half-updated structure): what must survive is in memory, stored before
 * the arm.
 */
static inline void svf_recover_init(struct svf_recover *r)
{
	r->lo = 0;
	r->hi = 0;
	r->addr = 0;
	r->sig = 0;
}

static inline void svf_recover_enter(struct svf_recover *r)
{
	svf_recover_cur = r;
	atomic_signal_fence(memory_order_seq_cst);
}

/* From here until disarm, a fault in [p, p + n) comes back to the point. */
static inline void svf_recover_arm(struct svf_recover *r, const void *p, uint64_t n)
{
	r->lo = (uintptr_t)p;
	r->hi = (uintptr_t)p + n;
	/* Everything stored before (the caller's position) is in memory before the access. */
	atomic_signal_fence(memory_order_seq_cst);
}

static inline void svf_recover_disarm(struct svf_recover *r)
{
	atomic_signal_fence(memory_order_seq_cst);
	r->hi = 0;
}

static inline void svf_recover_leave(void)
{
	atomic_signal_fence(memory_order_seq_cst);
	svf_recover_cur = NULL;
}

/*
 * Right after the jump back (sigsetjmp returned non-zero): the signal mask
 * the fault interrupted, restored. SA_NODEFER already leaves it so; a
 * sanitizer's signal wrapper may not honour that (ThreadSanitizer runs
 * handlers with every signal blocked), and a blocked SIGSEGV or SIGBUS
 * would kill the process at the next fault. One system call, on the fault
 * path only.
 */
void svf_recover_resume(const struct svf_recover *r);

/*
 * What became of the memory at addr, for a report: the mapping that holds
 * it now ([lo, hi) of a VMA, *mapped true; a SIGBUS or a protection fault)
 * or the hole around it (*mapped false), read from /proc/self/maps. When
 * that cannot be read, addr's page. Not for the handler (it reads a file).
 */
void svf_recover_extent(uintptr_t addr, uintptr_t *lo, uintptr_t *hi, _Bool *mapped);

/*
 * Record a device access that faulted at addr: true when it should be
 * logged, that is, when addr lies in no range already reported since the
 * handler was installed; that range (svf_recover_extent, into *lo, *hi and
 * *mapped) is then remembered. Reports are per range of the address space,
 * so a program that unmapped one buffer sees one line, however many pages
 * and devices reach it. Thread-safe; takes a lock under which nothing else
 * is taken.
 */
_Bool svf_recover_report(uintptr_t addr, uintptr_t *lo, uintptr_t *hi, _Bool *mapped);

#endif
