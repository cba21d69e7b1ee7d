// SPDX-License-Identifier: GPL-2.0
/*
 * Stress: the device under racing mutators, on both CPUs, with khugepaged and
 * swap active, on the debug kernel (KASAN, lockdep, DEBUG_VM watch the module
 * while this runs).
 *
 * Device threads read (pread, and read on a shared descriptor), scan (with and
 * without PM_SCAN_WP_MATCHING), clear soft-dirty (ranged and whole-process)
 * and get-and-clear (RPM_SCAN_CLEAR_SOFT_DIRTY) over an arena of slots, while
 * mutator threads mmap/munmap/mremap the slots, mprotect them, madvise them
 * (DONTNEED, PAGEOUT, HUGEPAGE, COLLAPSE, GUARD_INSTALL/REMOVE), write and
 * read them, register and unregister them with userfaultfd (async
 * write-protect) and fork children that touch memory and exit.
 *
 * Variants:
 *   self      the device bound to this process (the arena above 2^47 when the
 *             kernel has 5-level paging);
 *   attached  the device attached by pidfd to a target process that mutates
 *             its own arena and, after a random short life, exits or execs
 *             itself again, so that calls race with the target's exit and exec.
 *
 * Every answer is checked: each pagemap entry is a combination of bits some
 * mapping state allows, each scan's regions are sorted, inside the range and
 * walk_end, merged as upstream merges them and consistent with the masks, and
 * calls only fail with the errnos their situation allows. A thread stuck in
 * one call for a minute is reported by name (a hang is a failure, not a
 * timeout). The line `stress: N ops, 0 violations` ends each variant.
 *
 * How long a variant runs is a count, not a time: until every kind of
 * operation it stresses has run at least RPM_STRESS_EACH times, its device
 * threads have made at least RPM_STRESS_CALLS calls and, attached, targets
 * have exited by themselves and exec'd at least RPM_STRESS_TARGETS times each
 * (defaults below), however slow the machine. RPM_STRESS_CAP_SECONDS bounds
 * that: a variant that has not got there by then fails, saying which counts
 * fell short. RPM_SEED sets the seed.
 */
#include "pm_hostile.h"

#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>

#include "kselftest_harness.h"

#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif
#ifndef MADV_GUARD_REMOVE
#define MADV_GUARD_REMOVE 103
#endif
#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif

#define SLOTS 24
#define SLOT (4UL << 20)
#define SLOT_PAGES (SLOT / PM_PAGE)
#define ARENA (SLOTS * SLOT)
#define ARENA_PAGES (ARENA / PM_PAGE)
/* The target's arena (attached variant), at the same address in every image. */
#define TARGET_ARENA 0x300000000000UL

#define DEV_THREADS 3
#define MUT_THREADS 3
#define MAX_THREADS (DEV_THREADS + MUT_THREADS)
#define STUCK_SECONDS 60
/*
 * Per variant: each kind it needs at least EACH times, device calls at least
 * CALLS, target exits and execs at least TARGETS times each. Targets are the
 * slow kind: under TCG each image takes a second or more (it maps and writes
 * an arena, then lives up to 0.85 s), and after the first exec one image in
 * two exits; the first exit comes after 5-10 s.
 */
#define DEFAULT_EACH 5
#define DEFAULT_CALLS 1000
#define DEFAULT_TARGETS 1
#define DEFAULT_CAP_SECONDS 150

#define KHP "/sys/kernel/mm/transparent_hugepage/khugepaged/"

/* --- shared state --------------------------------------------------------- */

struct slot {
	pthread_mutex_t lock;
	bool owned;	/* mapped by us (else a hole someone else may have taken) */
	bool ever_uffd; /* may carry uffd-wp markers: no guard regions (kernel livelock) */
};

struct thread_state {
	pthread_t t;
	int id, cpu;
	struct pm_rng rng;
	const char *_Atomic op;	/* what the thread is doing now */
	_Atomic double since;	/* since when */
	long ops;
};

struct stress {
	char *arena;		/* the arena being mutated (in this process) */
	uintptr_t scan_base;	/* the arena the device calls look at */
	struct slot slots[SLOTS];
	int uffd;
	int shared_dev;		/* one descriptor all device threads share */
	atomic_bool stop;
	atomic_long violations;
	atomic_long ops_by_kind[32];
	bool attached;
	uintptr_t top;		/* TASK_SIZE */
	_Atomic pid_t target;	/* attached: the current target, 0 while there is none */
};

static struct stress *S;

static const char *const kind_names[] = {
	"pread", "read-shared", "scan", "scan-wp", "clear-range", "clear-all", "get-and-clear",
	"scan-whole", "attach", "remap", "munmap", "mremap", "mprotect", "madvise", "touch",
	"uffd-register", "uffd-unregister", "fork", "target-exit", "target-exec",
};

enum kind {
	K_PREAD, K_READ_SHARED, K_SCAN, K_SCAN_WP, K_CLEAR_RANGE, K_CLEAR_ALL, K_GET_CLEAR,
	K_SCAN_WHOLE, K_ATTACH, K_REMAP, K_MUNMAP, K_MREMAP, K_MPROTECT, K_MADVISE, K_TOUCH,
	K_UFFD_REG, K_UFFD_UNREG, K_FORK, K_TARGET_EXIT, K_TARGET_EXEC, K_COUNT
};

static void count(enum kind k)
{
	atomic_fetch_add_explicit(&S->ops_by_kind[k], 1, memory_order_relaxed);
}

#define MAX_REPORTS 20

static void violation(const char *what, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void violation(const char *what, const char *fmt, ...)
{
	long n = atomic_fetch_add(&S->violations, 1);
	char buf[512];
	va_list ap;

	if (n >= MAX_REPORTS)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printf("# VIOLATION %s: %s\n", what, buf);
	fflush(stdout);
}

static void set_op(struct thread_state *ts, const char *op)
{
	atomic_store_explicit(&ts->since, pm_now(), memory_order_relaxed);
	atomic_store_explicit(&ts->op, op, memory_order_release);
	ts->ops++;
}

/* --- surviving faults while touching memory ------------------------------- */

static __thread sigjmp_buf touch_env;
static __thread volatile int in_touch;

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	(void)si;
	(void)uc;
	if (in_touch)
		siglongjmp(touch_env, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_fault_handler(void)
{
	struct sigaction sa = { .sa_sigaction = on_fault, .sa_flags = SA_SIGINFO | SA_NODEFER };

	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}

/* Write or read `n` random pages of [p, p+len); faults (guard, PROT_NONE, ...) are skipped. */
static void touch_pages(struct pm_rng *r, char *p, size_t len, int n, bool write)
{
	for (int i = 0; i < n; i++) {
		volatile char *c = p + pm_below(r, len / PM_PAGE) * PM_PAGE + pm_below(r, PM_PAGE);

		in_touch = 1;
		if (!sigsetjmp(touch_env, 1)) {
			if (write)
				*c = (char)i;
			else
				(void)*c;
		}
		in_touch = 0;
	}
}

/* --- mutators ------------------------------------------------------------- */

static char *slot_addr(int i)
{
	return S->arena + (size_t)i * SLOT;
}

/* A random page-aligned subrange of a slot: [*off, *off + *len). */
static void sub_range(struct pm_rng *r, size_t *off, size_t *len)
{
	size_t a = pm_below(r, SLOT_PAGES), b = pm_below(r, SLOT_PAGES);

	if (pm_chance(r, 20)) {
		*off = 0;
		*len = SLOT;
		return;
	}
	if (a > b) {
		size_t t = a;

		a = b;
		b = t;
	}
	*off = a * PM_PAGE;
	*len = (b - a + 1) * PM_PAGE;
}

/* Map a fresh random kind of memory at slot i, which must be a hole; false if it could not. */
static bool map_fresh(struct pm_rng *r, int i)
{
	char *want = slot_addr(i), *p = MAP_FAILED;
	int prot = pm_chance(r, 10) ? PROT_READ : PROT_READ | PROT_WRITE;
	int fl = MAP_FIXED_NOREPLACE, fd = -1;

	switch (pm_below(r, 6)) {
	case 0:
	case 1:
		p = mmap(want, SLOT, prot, fl | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		break;
	case 2:
		p = mmap(want, SLOT, prot, fl | MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		break;
	case 3:
	case 4:
		fd = memfd_create("stress", MFD_CLOEXEC);
		if (fd >= 0 && !ftruncate(fd, SLOT))
			p = mmap(want, SLOT, prot,
				 fl | (pm_chance(r, 50) ? MAP_SHARED : MAP_PRIVATE), fd, 0);
		break;
	case 5:
		p = mmap(want, SLOT, prot,
			 fl | MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (21 << MAP_HUGE_SHIFT), -1,
			 0);
		if (p == MAP_FAILED)
			p = mmap(want, SLOT, prot, fl | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		break;
	}
	if (fd >= 0)
		close(fd);
	if (p == MAP_FAILED)
		return false;
	if (p != want) {
		/* An old kernel that ignores NOREPLACE: give it back. */
		munmap(p, SLOT);
		return false;
	}
	if (pm_chance(r, 40))
		madvise(p, SLOT, MADV_HUGEPAGE);
	return true;
}

static void op_remap(struct thread_state *ts, int i)
{
	struct slot *s = &S->slots[i];

	set_op(ts, "remap");
	count(K_REMAP);
	if (s->owned)
		munmap(slot_addr(i), SLOT);
	s->owned = map_fresh(&ts->rng, i);
	s->ever_uffd = false;
}

static void op_munmap(struct thread_state *ts, int i)
{
	struct slot *s = &S->slots[i];
	size_t off, len;

	set_op(ts, "munmap");
	count(K_MUNMAP);
	if (!s->owned)
		return;
	sub_range(&ts->rng, &off, &len);
	munmap(slot_addr(i) + off, len);
	/* Keep the slot ours: a reservation over what was unmapped. */
	if (mmap(slot_addr(i) + off, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		 -1, 0) == MAP_FAILED && off == 0 && len == SLOT)
		s->owned = false;
}

/* Move all or half of slot i onto slot j (both locked, j owned). */
static void op_mremap(struct thread_state *ts, int i, int j)
{
	struct slot *a = &S->slots[i], *b = &S->slots[j];
	size_t len = pm_chance(&ts->rng, 50) ? SLOT : SLOT / 2;
	void *p;

	set_op(ts, "mremap");
	count(K_MREMAP);
	if (!a->owned || !b->owned)
		return;
	p = mremap(slot_addr(i), len, len, MREMAP_MAYMOVE | MREMAP_FIXED, slot_addr(j));
	if (p == MAP_FAILED)
		return;
	b->ever_uffd |= a->ever_uffd;
	if (mmap(slot_addr(i), len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE,
		 -1, 0) == MAP_FAILED && len == SLOT)
		a->owned = false;
}

static void op_mprotect(struct thread_state *ts, int i)
{
	static const int prots[] = { PROT_NONE, PROT_READ, PROT_READ | PROT_WRITE,
				     PROT_READ | PROT_WRITE };
	size_t off, len;

	set_op(ts, "mprotect");
	count(K_MPROTECT);
	if (!S->slots[i].owned)
		return;
	sub_range(&ts->rng, &off, &len);
	mprotect(slot_addr(i) + off, len, prots[pm_below(&ts->rng, 4)]);
}

static void op_madvise(struct thread_state *ts, int i)
{
	static const int advice[] = { MADV_DONTNEED, MADV_PAGEOUT, MADV_HUGEPAGE, MADV_NOHUGEPAGE,
				      MADV_COLLAPSE, MADV_GUARD_INSTALL, MADV_GUARD_REMOVE,
				      MADV_COLD, MADV_PAGEOUT };
	struct slot *s = &S->slots[i];
	int a = advice[pm_below(&ts->rng, sizeof(advice) / sizeof(advice[0]))];
	size_t off, len;

	set_op(ts, "madvise");
	count(K_MADVISE);
	if (!s->owned)
		return;
	/* Guard regions over uffd-wp markers make the kernel livelock (zap, retry). */
	if (a == MADV_GUARD_INSTALL && s->ever_uffd)
		a = MADV_DONTNEED;
	sub_range(&ts->rng, &off, &len);
	if (a == MADV_COLLAPSE) {
		/* Collapse needs 2 MiB-aligned whole huge pages. */
		off &= ~(PM_HPAGE - 1);
		len = PM_HPAGE;
	}
	madvise(slot_addr(i) + off, len, a);
}

static void op_touch(struct thread_state *ts, int i)
{
	set_op(ts, "touch");
	count(K_TOUCH);
	if (!S->slots[i].owned)
		return;
	touch_pages(&ts->rng, slot_addr(i), SLOT, 1 + pm_below(&ts->rng, 64),
		    pm_chance(&ts->rng, 70));
}

static void op_uffd(struct thread_state *ts, int i)
{
	struct slot *s = &S->slots[i];

	if (!s->owned || S->uffd < 0)
		return;
	if (pm_chance(&ts->rng, 60)) {
		set_op(ts, "uffd-register");
		count(K_UFFD_REG);
		s->ever_uffd = true;
		if (!pm_uffd_register(S->uffd, slot_addr(i), SLOT, UFFDIO_REGISTER_MODE_WP))
			pm_uffd_wp(S->uffd, slot_addr(i), SLOT, true);
	} else {
		struct uffdio_range range = { .start = (uintptr_t)slot_addr(i), .len = SLOT };

		set_op(ts, "uffd-unregister");
		count(K_UFFD_UNREG);
		ioctl(S->uffd, UFFDIO_UNREGISTER, &range);
	}
}

/*
 * Fork a child that writes a few pages of the slot and reads entries of it
 * through the inherited device descriptor (bound to the parent), then exits.
 * Only raw system calls and memory accesses happen in the child: other threads
 * of the parent may have held libc locks at the fork.
 */
static void op_fork(struct thread_state *ts, int i)
{
	char *p = slot_addr(i);
	pid_t pid;

	set_op(ts, "fork");
	count(K_FORK);
	pid = fork();
	if (pid == 0) {
		uint64_t e[16];

		if (S->slots[i].owned)
			touch_pages(&ts->rng, p, SLOT, 8, true);
		if (pread(S->shared_dev, e, sizeof(e), ((uintptr_t)p / PM_PAGE) * 8) < 0)
			_exit(3);
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

static void mutate_once(struct thread_state *ts)
{
	struct pm_rng *r = &ts->rng;
	int i = pm_below(r, SLOTS), j = pm_below(r, SLOTS);
	uint64_t what = pm_below(r, 100);

	if (pthread_mutex_trylock(&S->slots[i].lock))
		return;
	if (what < 8) {
		op_remap(ts, i);
	} else if (what < 12) {
		op_munmap(ts, i);
	} else if (what < 18) {
		if (i != j && !pthread_mutex_trylock(&S->slots[j].lock)) {
			op_mremap(ts, i, j);
			pthread_mutex_unlock(&S->slots[j].lock);
		}
	} else if (what < 28) {
		op_mprotect(ts, i);
	} else if (what < 50) {
		op_madvise(ts, i);
	} else if (what < 88) {
		op_touch(ts, i);
	} else if (what < 97) {
		op_uffd(ts, i);
	} else {
		op_fork(ts, i);
	}
	pthread_mutex_unlock(&S->slots[i].lock);
}

static void *mutator(void *arg)
{
	struct thread_state *ts = arg;

	pm_pin_to_cpu(ts->cpu);
	while (!atomic_load_explicit(&S->stop, memory_order_relaxed))
		mutate_once(ts);
	set_op(ts, "done");
	return NULL;
}

/* --- device calls and their checks --------------------------------------- */

/* A random page-aligned range in the scanned arena, sometimes beyond its edges. */
static void dev_range(struct pm_rng *r, uintptr_t *start, uintptr_t *end)
{
	uintptr_t base = S->scan_base;
	uint64_t a = pm_below(r, ARENA_PAGES + 64), b = pm_below(r, ARENA_PAGES + 64);

	if (a > b) {
		uint64_t t = a;

		a = b;
		b = t;
	}
	if (pm_chance(r, 70) && b - a > 2048)
		b = a + 1 + pm_below(r, 2048);
	*start = base - 32 * PM_PAGE + a * PM_PAGE;
	*end = base - 32 * PM_PAGE + (b + 1) * PM_PAGE;
}

/*
 * An errno a call on the bound process may fail with while it races: ESRCH
 * once an attached target is gone, EINTR never without a signal; for the rest
 * the caller passes what its call allows.
 */
static bool errno_allowed(int err, int also)
{
	if (err == ESRCH)
		return S->attached;
	return also && err == also;
}

static void check_entries(const char *what, uintptr_t start, const uint64_t *e, size_t n)
{
	for (size_t k = 0; k < n; k++) {
		const char *why = pm_entry_violation(e[k], true);

		if (why) {
			violation(what, "%#lx: entry %#018" PRIx64 ": %s",
				  (unsigned long)(start + k * PM_PAGE), e[k], why);
			return;
		}
	}
}

static void dev_pread(struct thread_state *ts, int fd)
{
	static __thread uint64_t e[4096];
	uintptr_t start, end;
	size_t n;
	ssize_t got;

	set_op(ts, "pread");
	count(K_PREAD);
	dev_range(&ts->rng, &start, &end);
	n = (end - start) / PM_PAGE;
	if (n > 4096)
		n = 4096;
	got = pread(fd, e, n * 8, (off_t)(start / PM_PAGE) * 8);
	if (got == (ssize_t)(n * 8)) {
		check_entries("pread", start, e, n);
	} else if (!(got == 0 && S->attached)) {
		/* Only a gone target may end a read early (end of file). */
		violation("pread", "%#lx+%zu pages: returned %zd (%s)", (unsigned long)start, n, got,
			  got < 0 ? strerror(errno) : "short");
	}
}

/* read() on the descriptor every thread shares: the position moves under everyone. */
static void dev_read_shared(struct thread_state *ts)
{
	uint64_t e[64];
	uintptr_t start, end;
	ssize_t got;

	set_op(ts, "read-shared");
	count(K_READ_SHARED);
	dev_range(&ts->rng, &start, &end);
	lseek(S->shared_dev, (off_t)(start / PM_PAGE) * 8, SEEK_SET);
	got = read(S->shared_dev, e, sizeof(e));
	if (got < 0 && !errno_allowed(errno, 0))
		violation("read-shared", "read failed: %s", strerror(errno));
	else if (got > 0 && got % 8)
		violation("read-shared", "read of %zd bytes, not a multiple of 8", got);
	else if (got > 0)
		check_entries("read-shared", 0, e, got / 8);
}

static uint64_t random_categories(struct pm_rng *r, unsigned int pct)
{
	uint64_t m = 0;

	for (int b = 0; b < 10; b++)
		if (pm_chance(r, pct))
			m |= 1ULL << b;
	return m;
}

static void dev_scan(struct thread_state *ts, int fd, enum kind k)
{
	static __thread struct page_region r[512];
	struct pm_rng *g = &ts->rng;
	uintptr_t start, end;
	struct pm_scan_arg a;
	long ret;
	const char *why;
	int also = 0;

	dev_range(g, &start, &end);
	if (k == K_SCAN_WHOLE) {
		start = 0;
		end = S->top;
	}
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.start = start;
	a.end = end - (pm_chance(g, 10) ? pm_below(g, PM_PAGE) : 0);
	a.category_mask = random_categories(g, 10);
	a.category_inverted = a.category_mask & random_categories(g, 30);
	a.category_anyof_mask = pm_chance(g, 30) ? random_categories(g, 25) : 0;
	a.return_mask = pm_chance(g, 20) ? PM_ALL_CATEGORIES : random_categories(g, 50);
	a.max_pages = pm_chance(g, 30) ? 1 + pm_below(g, 4096) : 0;
	a.vec_len = pm_chance(g, 5) ? 0 : 1 + pm_below(g, 512);
	a.vec = a.vec_len ? (uintptr_t)r : 0;
	switch (k) {
	case K_SCAN_WP:
		set_op(ts, "scan-wp");
		a.flags = PM_SCAN_WP_MATCHING;
		if (pm_chance(g, 30)) {
			a.flags |= PM_SCAN_CHECK_WPASYNC;
			also = EPERM;
		}
		break;
	case K_GET_CLEAR:
		set_op(ts, "get-and-clear");
		a.flags = RPM_SCAN_CLEAR_SOFT_DIRTY;
		a.category_mask |= PAGE_IS_SOFT_DIRTY;
		a.category_inverted &= ~PAGE_IS_SOFT_DIRTY;
		/* It clears what it reports, so it needs an output array (else EINVAL). */
		if (!a.vec_len) {
			a.vec_len = 1 + pm_below(g, 512);
			a.vec = (uintptr_t)r;
		}
		/* A split the clear needs may be refused (vm.max_map_count). */
		also = ENOMEM;
		break;
	case K_SCAN_WHOLE:
		set_op(ts, "scan-whole");
		break;
	default:
		set_op(ts, "scan");
		break;
	}
	count(k);
	a.walk_end = 0xdeadbeef;
	ret = ioctl(fd, PAGEMAP_SCAN, &a);
	if (ret < 0) {
		if (!errno_allowed(errno, also))
			violation(kind_names[k], "%#llx-%#llx flags %#llx: %s",
				  (unsigned long long)a.start, (unsigned long long)a.end,
				  (unsigned long long)a.flags, strerror(errno));
		return;
	}
	why = pm_scan_violation(&a, ret, r, a.walk_end);
	if (!why && k == K_GET_CLEAR && (a.return_mask & PAGE_IS_SOFT_DIRTY)) {
		for (long i = 0; i < ret; i++)
			if (!(r[i].categories & PAGE_IS_SOFT_DIRTY))
				why = "get-and-clear reported a page that is not soft-dirty";
	}
	if (why) {
		violation(kind_names[k],
			  "%s: %#llx-%#llx flags %#llx mask %#llx inv %#llx anyof %#llx ret %#llx "
			  "max_pages %llu vec_len %llu -> %ld regions, walk_end %#llx",
			  why, (unsigned long long)a.start, (unsigned long long)a.end,
			  (unsigned long long)a.flags, (unsigned long long)a.category_mask,
			  (unsigned long long)a.category_inverted,
			  (unsigned long long)a.category_anyof_mask,
			  (unsigned long long)a.return_mask, (unsigned long long)a.max_pages,
			  (unsigned long long)a.vec_len, ret, (unsigned long long)a.walk_end);
		for (long i = 0; i < ret && i < 6; i++)
			printf("#   [%ld] %#llx-%#llx cat %#llx\n", i,
			       (unsigned long long)r[i].start, (unsigned long long)r[i].end,
			       (unsigned long long)r[i].categories);
	}
}

static void dev_clear(struct thread_state *ts, int fd, bool all)
{
	struct rpm_range range;
	int ret;

	if (all) {
		set_op(ts, "clear-all");
		count(K_CLEAR_ALL);
		ret = ioctl(fd, RPM_IOC_CLEAR_SOFT_DIRTY_ALL);
	} else {
		uintptr_t s, e;

		set_op(ts, "clear-range");
		count(K_CLEAR_RANGE);
		dev_range(&ts->rng, &s, &e);
		range.start = s;
		range.end = e - (pm_chance(&ts->rng, 10) ? pm_below(&ts->rng, PM_PAGE) : 0);
		ret = ioctl(fd, RPM_IOC_CLEAR_SOFT_DIRTY, &range);
	}
	if (ret && !errno_allowed(errno, ENOMEM))
		violation(all ? "clear-all" : "clear-range", "failed: %s", strerror(errno));
}

/* Attached variant: a fresh descriptor attached to the current target. */
static int attach_target(struct thread_state *ts)
{
	pid_t pid = atomic_load(&S->target);
	int fd, pidfd;

	set_op(ts, "attach");
	count(K_ATTACH);
	if (!pid)
		return -1;
	fd = pm_open_dev();
	if (fd < 0) {
		violation("attach", "open: %s", strerror(errno));
		return -1;
	}
	pidfd = pm_pidfd_open(pid, 0);
	if (pidfd < 0) {
		close(fd);
		return -1;	/* reaped between the load and the open */
	}
	if (ioctl(fd, RPM_IOC_ATTACH_PIDFD, pidfd)) {
		if (errno != ESRCH)
			violation("attach", "pid %d: %s", pid, strerror(errno));
		close(fd);
		fd = -1;
	}
	close(pidfd);
	return fd;
}

static void *device_thread(void *arg)
{
	struct thread_state *ts = arg;
	int own = -1, uses = 0;

	pm_pin_to_cpu(ts->cpu);
	if (!S->attached)
		own = pm_open_dev();
	while (!atomic_load_explicit(&S->stop, memory_order_relaxed)) {
		struct pm_rng *r = &ts->rng;
		uint64_t what = pm_below(r, 100);
		int fd;

		if (S->attached && (own < 0 || ++uses > 40)) {
			if (own >= 0)
				close(own);
			own = attach_target(ts);
			uses = 0;
			if (own < 0) {
				usleep(1000);
				continue;
			}
		}
		fd = S->attached || pm_chance(r, 70) ? own : S->shared_dev;
		if (what < 30)
			dev_pread(ts, fd);
		else if (what < 35 && !S->attached)
			dev_read_shared(ts);
		else if (what < 55)
			dev_scan(ts, fd, K_SCAN);
		else if (what < 70)
			dev_scan(ts, fd, K_SCAN_WP);
		else if (what < 80)
			dev_scan(ts, fd, K_GET_CLEAR);
		else if (what < 92)
			dev_clear(ts, fd, false);
		else if (what < 96)
			dev_clear(ts, fd, true);
		else
			dev_scan(ts, fd, K_SCAN_WHOLE);
	}
	if (own >= 0)
		close(own);
	set_op(ts, "done");
	return NULL;
}

/* --- the attached variant's target --------------------------------------- */

/*
 * Body of a target image: map the arena at TARGET_ARENA, mutate it with
 * MUT_THREADS threads for a random short life, then exit or exec this binary
 * again (the pid, and so the pidfd, stays; the mm is replaced).
 */
static int target_main(uint64_t seed, int generation, int report_fd)
{
	static struct stress st;
	struct thread_state ts[MUT_THREADS];
	struct pm_rng r = { seed };
	double life = 0.05 + pm_below(&r, 800) / 1000.0;

	S = &st;
	install_fault_handler();
	st.arena = mmap((void *)TARGET_ARENA, ARENA, PROT_NONE,
			MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (st.arena != (char *)TARGET_ARENA)
		return 2;
	st.uffd = pm_uffd_async();
	st.shared_dev = pm_open_dev();
	for (int i = 0; i < SLOTS; i++) {
		pthread_mutex_init(&st.slots[i].lock, NULL);
		munmap(slot_addr(i), SLOT);
		st.slots[i].owned = map_fresh(&r, i);
		if (st.slots[i].owned)
			touch_pages(&r, slot_addr(i), SLOT, 16, true);
	}
	for (int i = 0; i < MUT_THREADS; i++) {
		ts[i].id = i;
		ts[i].cpu = i;
		ts[i].rng.s = pm_rand(&r);
		pthread_create(&ts[i].t, NULL, mutator, &ts[i]);
	}
	usleep((useconds_t)(life * 1e6));
	/* The first image always execs, so that every run sees an exec mid-call. */
	if ((generation == 0 || pm_chance(&r, 50)) && generation < 1000) {
		char s[32], g[16], f[16];
		char *argv[] = { "/proc/self/exe", "--stress-target", s, g, f, NULL };

		snprintf(s, sizeof(s), "%llu", (unsigned long long)pm_rand(&r));
		snprintf(g, sizeof(g), "%d", generation + 1);
		snprintf(f, sizeof(f), "%d", report_fd);
		/* Tell the spawner, then exec from a multi-threaded process. */
		if (write(report_fd, "x", 1) != 1)
			return 5;
		execv("/proc/self/exe", argv);
		return 3;
	}
	/* Exit with the mutators still running: the mm goes while calls are in flight. */
	_exit(0);
}

struct spawner {
	pthread_t t;
	uint64_t seed;
	long exits, execs;
};

/* The execs the targets announced on the pipe (each writes a byte, then execs). */
static void count_execs(int fd)
{
	char drain[64];
	ssize_t n;

	while ((n = read(fd, drain, sizeof(drain))) > 0)
		for (ssize_t i = 0; i < n; i++)
			count(K_TARGET_EXEC);
}

/*
 * Keep a target alive: start one, wait for it, count how it ended, start the
 * next. Execs are counted as they come; an exit only if the target exited by
 * itself (not killed at the end of the run).
 */
static void *spawn_targets(void *arg)
{
	struct spawner *sp = arg;
	struct pm_rng r = { sp->seed };

	int rep[2];

	if (pipe2(rep, O_NONBLOCK)) {
		violation("target", "pipe: %s", strerror(errno));
		return NULL;
	}
	while (!atomic_load(&S->stop)) {
		char s[32], f[16], *argv[] = { "/proc/self/exe", "--stress-target", s, "0", f, NULL };
		pid_t pid;
		int pidfd, status;
		bool killed = false;
		struct pollfd pfd[2];

		snprintf(s, sizeof(s), "%llu", (unsigned long long)pm_rand(&r));
		snprintf(f, sizeof(f), "%d", rep[1]);
		pid = fork();
		if (pid == 0) {
			execv("/proc/self/exe", argv);
			_exit(4);
		}
		if (pid < 0) {
			violation("target", "fork: %s", strerror(errno));
			break;
		}
		atomic_store(&S->target, pid);
		/* The pidfd polls readable when the target exits (an exec keeps the pid). */
		pidfd = pm_pidfd_open(pid, 0);
		pfd[0] = (struct pollfd){ .fd = pidfd, .events = POLLIN };
		pfd[1] = (struct pollfd){ .fd = rep[0], .events = POLLIN };
		while (!atomic_load(&S->stop)) {
			if (poll(pfd, 2, 100) <= 0)
				continue;
			if (pfd[1].revents & POLLIN)
				count_execs(rep[0]);
			if (pfd[0].revents)
				break;
		}
		if (atomic_load(&S->stop)) {
			killed = true;
			kill(pid, SIGKILL);
		}
		atomic_store(&S->target, 0);
		waitpid(pid, &status, 0);
		close(pidfd);
		if (WIFEXITED(status) && WEXITSTATUS(status) > 1)
			violation("target", "target failed to start (status %d)", WEXITSTATUS(status));
		if (!killed) {
			count(K_TARGET_EXIT);
			sp->exits++;
		}
		count_execs(rep[0]);
	}
	close(rep[0]);
	close(rep[1]);
	return NULL;
}

/* --- the test ------------------------------------------------------------- */

FIXTURE(stress)
{
	char khp_sleep[32], khp_alloc[32];
};

FIXTURE_VARIANT(stress)
{
	bool attached;
};

FIXTURE_VARIANT_ADD(stress, self)
{
	.attached = false,
};

FIXTURE_VARIANT_ADD(stress, attached)
{
	.attached = true,
};

FIXTURE_SETUP(stress)
{
	/* khugepaged active and quick, so that it collapses while everything else runs. */
	ASSERT_TRUE(pm_read_file(KHP "scan_sleep_millisecs", self->khp_sleep,
				 sizeof(self->khp_sleep)));
	ASSERT_TRUE(pm_read_file(KHP "alloc_sleep_millisecs", self->khp_alloc,
				 sizeof(self->khp_alloc)));
	ASSERT_TRUE(pm_write_file(KHP "scan_sleep_millisecs", "20"));
	ASSERT_TRUE(pm_write_file(KHP "alloc_sleep_millisecs", "20"));
}

FIXTURE_TEARDOWN(stress)
{
	pm_write_file(KHP "scan_sleep_millisecs", self->khp_sleep);
	pm_write_file(KHP "alloc_sleep_millisecs", self->khp_alloc);
}

/* The arena for the self variant: above 2^47 when the kernel gives such addresses. */
static char *map_arena(void)
{
	void *hint = (void *)(1UL << 52);
	char *p = mmap(hint, ARENA + PM_HPAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t a;

	if (p == MAP_FAILED)
		return p;
	a = ((uintptr_t)p + PM_HPAGE - 1) & ~(PM_HPAGE - 1);
	if (a > (uintptr_t)p)
		munmap(p, a - (uintptr_t)p);
	munmap((char *)a + ARENA, (uintptr_t)p + PM_HPAGE - a);
	return (char *)a;
}

/*
 * Whether a variant needs kind k to have run: the self variant every kind but
 * the attached one's (attach, target exit and exec); the attached variant the
 * device calls but read-shared (it has no shared descriptor: each attach makes
 * its own) and what happens to its targets (their mutators run in the targets,
 * where this process does not count them).
 */
static bool kind_needed(enum kind k, bool attached)
{
	if (attached)
		return k <= K_SCAN_WHOLE ? k != K_READ_SHARED :
					   k == K_ATTACH || k == K_TARGET_EXIT || k == K_TARGET_EXEC;
	return k != K_ATTACH && k != K_TARGET_EXIT && k != K_TARGET_EXEC;
}

/* Calls on the device: the kinds up to scan-whole. */
static long device_calls(void)
{
	long n = 0;

	for (int k = 0; k <= K_SCAN_WHOLE; k++)
		n += atomic_load(&S->ops_by_kind[k]);
	return n;
}

struct coverage {
	long each, calls, targets;
};

/* How many times the run must have done kind k (0: not needed). */
static long needed(const struct coverage *c, enum kind k)
{
	if (!kind_needed(k, S->attached))
		return 0;
	return k == K_TARGET_EXIT || k == K_TARGET_EXEC ? c->targets : c->each;
}

/* Whether the run has done every kind it needs as often as needed, and its device calls. */
static bool covered(const struct coverage *c)
{
	for (int k = 0; k < K_COUNT; k++)
		if (atomic_load(&S->ops_by_kind[k]) < needed(c, k))
			return false;
	return device_calls() >= c->calls;
}

TEST_F_TIMEOUT(stress, racing_mutators_never_break_an_answer,
	       DEFAULT_CAP_SECONDS + 2 * STUCK_SECONDS + 30)
{
	static struct stress st;
	struct thread_state ts[MAX_THREADS] = {};
	struct spawner sp = {};
	uint64_t seed = pm_seed();
	struct pm_rng r = { seed };
	const struct coverage cov = {
		.each = pm_env_u64("RPM_STRESS_EACH", DEFAULT_EACH),
		.calls = pm_env_u64("RPM_STRESS_CALLS", DEFAULT_CALLS),
		.targets = variant->attached ? pm_env_u64("RPM_STRESS_TARGETS", DEFAULT_TARGETS) : 0,
	};
	double cap = pm_env_u64("RPM_STRESS_CAP_SECONDS", DEFAULT_CAP_SECONDS), t0, took,
	       stuck_at = 0;
	long total = 0, nthreads = 0;
	bool reached = false;
	int stuck = -1;

	S = &st;
	st.attached = variant->attached;
	st.top = pm_user_top();
	printf("# seed %llu (replay with RPM_SEED=%llu); until each kind ran %ld times, %ld device "
	       "calls, %ld target exits and execs; at most %.0f s\n", (unsigned long long)seed,
	       (unsigned long long)seed, cov.each, cov.calls, cov.targets, cap);
	ASSERT_GE(sysconf(_SC_NPROCESSORS_ONLN), 2) TH_LOG("the stress needs two online CPUs");
	ASSERT_TRUE(pm_have_swap()) TH_LOG("the stress needs swap for MADV_PAGEOUT");
	install_fault_handler();
	st.uffd = pm_uffd_async();
	ASSERT_GE(st.uffd, 0) TH_LOG("userfaultfd with WP_ASYNC: %s", strerror(errno));
	st.shared_dev = pm_open_dev();
	ASSERT_GE(st.shared_dev, 0);

	if (st.attached) {
		st.scan_base = TARGET_ARENA;
		sp.seed = pm_rand(&r);
		ASSERT_EQ(0, pthread_create(&sp.t, NULL, spawn_targets, &sp));
	} else {
		st.arena = map_arena();
		ASSERT_NE(MAP_FAILED, st.arena);
		st.scan_base = (uintptr_t)st.arena;
		printf("# arena at %p\n", st.arena);
		for (int i = 0; i < SLOTS; i++) {
			pthread_mutex_init(&st.slots[i].lock, NULL);
			munmap(slot_addr(i), SLOT);
			st.slots[i].owned = map_fresh(&r, i);
			ASSERT_TRUE(st.slots[i].owned) TH_LOG("slot %d could not be mapped", i);
			touch_pages(&r, slot_addr(i), SLOT, 128, true);
		}
	}
	for (int i = 0; i < MAX_THREADS; i++) {
		bool dev = i < DEV_THREADS;

		/* The attached variant's mutators live in the target. */
		if (!dev && st.attached)
			break;
		ts[i].id = i;
		ts[i].cpu = i;
		ts[i].rng.s = pm_rand(&r);
		set_op(&ts[i], "start");
		ASSERT_EQ(0, pthread_create(&ts[i].t, NULL, dev ? device_thread : mutator, &ts[i]));
		nthreads++;
	}

	t0 = pm_now();
	while (stuck < 0 && !(reached = covered(&cov)) && pm_now() - t0 < cap) {
		usleep(100 * 1000);
		for (int i = 0; i < nthreads; i++) {
			if (pm_now() - atomic_load(&ts[i].since) > STUCK_SECONDS) {
				stuck = i;
				stuck_at = atomic_load(&ts[i].since);
			}
		}
	}
	took = pm_now() - t0;
	atomic_store(&st.stop, true);
	/* Let the threads finish their calls; one that does not within a minute is stuck. */
	for (double w = pm_now(); stuck < 0 && pm_now() - w < STUCK_SECONDS;) {
		bool all = true;

		for (int i = 0; i < nthreads; i++)
			if (strcmp(atomic_load(&ts[i].op), "done"))
				all = false;
		if (all)
			break;
		usleep(100 * 1000);
	}
	for (int i = 0; i < nthreads; i++) {
		if (strcmp(atomic_load(&ts[i].op), "done")) {
			stuck = i;
			stuck_at = atomic_load(&ts[i].since);
		}
	}
	ASSERT_LT(stuck, 0)
	{
		printf("# thread %d stuck in %s for %.0f s\n", stuck, atomic_load(&ts[stuck].op),
		       pm_now() - stuck_at);
	}
	for (int i = 0; i < nthreads; i++)
		pthread_join(ts[i].t, NULL);
	if (st.attached)
		pthread_join(sp.t, NULL);

	printf("# ops:");
	for (int k = 0; k < K_COUNT; k++) {
		long n = atomic_load(&st.ops_by_kind[k]);

		total += n;
		if (n)
			printf(" %s %ld", kind_names[k], n);
	}
	printf("\n# stress: %ld ops (%ld device calls), %ld violations (%s, coverage %s in %.1f s, "
	       "seed %llu)\n", total, device_calls(), atomic_load(&st.violations),
	       variant->attached ? "attached" : "self", reached ? "reached" : "NOT reached", took,
	       (unsigned long long)seed);
	EXPECT_EQ(0, atomic_load(&st.violations));
	/*
	 * The run must have done each kind of thing it claims to stress, as often
	 * as asked, whatever the speed of the machine: it ran until it had, or
	 * until the cap.
	 */
	EXPECT_TRUE(reached)
	{
		printf("# did not reach coverage in %.0f s (RPM_STRESS_CAP_SECONDS); short of what "
		       "was needed:", cap);
		for (int k = 0; k < K_COUNT; k++) {
			long n = atomic_load(&st.ops_by_kind[k]);

			if (n < needed(&cov, k))
				printf(" %s %ld of %ld", kind_names[k], n, needed(&cov, k));
		}
		printf(", device calls %ld of %ld\n", device_calls(), cov.calls);
	}
	close(st.shared_dev);
}

int main(int argc, char **argv)
{
	if (argc >= 5 && !strcmp(argv[1], "--stress-target"))
		return target_main(strtoull(argv[2], NULL, 0), atoi(argv[3]), atoi(argv[4]));
	/* The harness's timeout lets the cap fail first, with its counts, and a stuck thread too. */
	_stress_racing_mutators_never_break_an_answer_object->timeout =
		pm_env_u64("RPM_STRESS_CAP_SECONDS", DEFAULT_CAP_SECONDS) + 2 * STUCK_SECONDS + 30;
	return test_harness_run(argc, argv);
}
