/* SPDX-License-Identifier: MIT */
/*
 * Surviving device accesses to memory that left the process (recover.h).
 *
 * Locking: lock serializes get, put and the report table; the handler takes
 * no lock. saved[] is written by get before the handler is installed and
 * read by the handler; a get that reinstalls after a put found the handler
 * replaced keeps saved[] as it is (the replacing handler may chain to this
 * one at any time).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "recover.h"
#include "uaccess.h"

#define REPORTS_MAX 64

_Thread_local struct svf_recover *svf_recover_cur __attribute__((tls_model("initial-exec")));

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned users;                  /* under lock */
static struct sigaction saved[2];       /* [0] SIGSEGV, [1] SIGBUS; see above */
static bool saved_valid[2];             /* under lock */
static uintptr_t reports[REPORTS_MAX][2]; /* ranges reported, [lo, hi); under lock */
static unsigned nr_reports;             /* under lock */

static int sig_index(int sig)
{
	return sig == SIGBUS;
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	struct svf_recover *r = svf_recover_cur;
	const struct sigaction *old = &saved[sig_index(sig)];
	int saved_errno = errno;

	if (r && si && si->si_code > 0 && (uintptr_t)si->si_addr >= r->lo &&
	    (uintptr_t)si->si_addr < r->hi) {
		r->addr = (uintptr_t)si->si_addr;
		r->sig = sig;
		if (uc)
			r->mask = ((const ucontext_t *)uc)->uc_sigmask;
		else
			pthread_sigmask(SIG_SETMASK, NULL, &r->mask);
		svf_recover_cur = NULL;
		siglongjmp(r->env, 1);
	}
	/* The program's fault: as the disposition found at install would have had it. */
	if (old->sa_flags & SA_SIGINFO) {
		old->sa_sigaction(sig, si, uc);
	} else if (old->sa_handler == SIG_IGN && si && si->si_code <= 0) {
		/* A sent signal the program ignores. */
	} else if (old->sa_handler == SIG_DFL || old->sa_handler == SIG_IGN) {
		struct sigaction dfl;

		memset(&dfl, 0, sizeof(dfl));
		dfl.sa_handler = SIG_DFL;
		sigemptyset(&dfl.sa_mask);
		sigaction(sig, &dfl, NULL);
		/* A fault re-executes the instruction and ends the process; a sent signal must be raised. */
		if (!si || si->si_code <= 0)
			raise(sig);
	} else {
		old->sa_handler(sig);
	}
	errno = saved_errno;
}

void svf_recover_resume(const struct svf_recover *r)
{
	pthread_sigmask(SIG_SETMASK, &r->mask, NULL);
}

static bool is_ours(const struct sigaction *sa)
{
	return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == on_fault;
}

static int install(int sig)
{
	struct sigaction cur, sa;
	int i = sig_index(sig);

	if (sigaction(sig, NULL, &cur))
		return -errno;
	if (is_ours(&cur))
		return 0; /* left installed by an earlier put (someone had replaced it) */
	saved[i] = cur;
	saved_valid[i] = true;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_fault;
	/*
	 * SA_NODEFER: the jump out leaves the signal unblocked. SA_ONSTACK: a
	 * program's handler for its own stack overflow still runs on the
	 * alternate stack it set up.
	 */
	sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(sig, &sa, NULL))
		return -errno;
	return 0;
}

static void uninstall(int sig)
{
	struct sigaction cur;
	int i = sig_index(sig);

	if (!saved_valid[i] || sigaction(sig, NULL, &cur) || !is_ours(&cur))
		return; /* replaced by the program: keep saved[] for its chain */
	sigaction(sig, &saved[i], NULL);
}

int svf_recover_get(void)
{
	int rc = 0;

	pthread_mutex_lock(&lock);
	if (users == 0) {
		rc = install(SIGSEGV);
		if (!rc) {
			rc = install(SIGBUS);
			if (rc)
				uninstall(SIGSEGV);
		}
	}
	if (!rc)
		users++;
	pthread_mutex_unlock(&lock);
	return rc;
}

void svf_recover_put(void)
{
	pthread_mutex_lock(&lock);
	if (users && --users == 0) {
		uninstall(SIGBUS);
		uninstall(SIGSEGV);
		nr_reports = 0; /* a later device reports afresh */
	}
	pthread_mutex_unlock(&lock);
}

static int hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	return -1;
}

void svf_recover_extent(uintptr_t addr, uintptr_t *lo, uintptr_t *hi, bool *mapped)
{
	/* Each line of /proc/self/maps starts "start-end ": parse just that, byte by byte. */
	enum { START, END, REST } st = START;
	uintptr_t start = 0, end = 0, prev_end = 0;
	char buf[4096];
	ssize_t n;
	int fd = open("/proc/self/maps", O_RDONLY | O_CLOEXEC);

	*lo = addr & ~(uintptr_t)4095;
	*hi = *lo + 4096;
	*mapped = false;
	if (fd < 0)
		return;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			char ch = buf[i];
			int v = hexval(ch);

			if (st == START && v >= 0) {
				start = start << 4 | (uintptr_t)v;
			} else if (st == START) {
				st = END;
			} else if (st == END && v >= 0) {
				end = end << 4 | (uintptr_t)v;
			} else if (st == END) {
				st = REST;
				if (addr < start) {
					*lo = prev_end;
					*hi = start;
					goto out;
				}
				if (addr < end) {
					*lo = start;
					*hi = end;
					*mapped = true;
					goto out;
				}
				prev_end = end;
			}
			if (ch == '\n') {
				st = START;
				start = end = 0;
			}
		}
	}
	if (n == 0 && prev_end <= addr) {
		*lo = prev_end;
		*hi = SVF_USER_ADDR_END;
	}
out:
	close(fd);
}

bool svf_recover_report(uintptr_t addr, uintptr_t *lo, uintptr_t *hi, bool *mapped)
{
	bool fresh = true;

	pthread_mutex_lock(&lock);
	for (unsigned i = 0; i < nr_reports; i++) {
		if (addr >= reports[i][0] && addr < reports[i][1]) {
			fresh = false;
			break;
		}
	}
	if (fresh) {
		svf_recover_extent(addr, lo, hi, mapped);
		/* When the table is full the oldest range may be reported again: bounded, never silent. */
		if (nr_reports == REPORTS_MAX) {
			memmove(reports[0], reports[1], (REPORTS_MAX - 1) * sizeof(reports[0]));
			nr_reports--;
		}
		reports[nr_reports][0] = *lo;
		reports[nr_reports][1] = *hi;
		nr_reports++;
	}
	pthread_mutex_unlock(&lock);
	return fresh;
}
