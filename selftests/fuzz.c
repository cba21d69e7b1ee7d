// SPDX-License-Identifier: GPL-2.0
/*
 * Differential fuzzing: seeded random calls, each made on /proc/self/pagemap
 * and on /dev/rust_pagemap, which must give the same result (return value,
 * errno, bytes written, file position, walk_end) wherever /proc has the same
 * call. Calls only the device has (ranged clear, whole clear, get-and-clear,
 * attach) must succeed or fail with an errno uapi/rust_pagemap.h documents,
 * and attach must succeed exactly when opening /proc/PID/pagemap does.
 *
 * What is random: pread offsets and lengths (unaligned, wrapping, reaching the
 * top of the address space, far past it), buffers (valid, NULL, unmapped,
 * read-only, kernel addresses, ending in an unmapped page, inside the memory
 * being read), every pm_scan_arg field, flag and size, the argument pointer,
 * vec pointing into the argument itself or into the scanned memory, ioctl
 * numbers, lseek whence, and the descriptors handed to attach (pidfds of
 * this process, of a child, of pid 1, of a kernel thread, of a zombie and of a
 * reaped child, pipes, memfds, closed and absurd numbers).
 *
 * The device-only calls are also checked against /proc's reading of twin A
 * right after them (see "clean after a clear" below): a clear's pages must
 * read clean, every other page as before, and the whole clear must leave
 * what /proc's own whole clear (clear_refs) leaves.
 *
 * State: calls that change memory state (write-protecting scans, clears,
 * get-and-clear, buffers inside the arena) run on twin memory, the same
 * layout at two addresses built by the same steps: /proc's call on twin A,
 * the device's on twin B with every address shifted, results compared
 * relative to each twin. Frame numbers differ between twins and are the only
 * thing masked in those comparisons. Every so often, and at the end, the
 * twins must still look alike to /proc. Calls that change nothing run on
 * the same memory and are compared bit for bit; a difference counts only if
 * /proc's own answer is unchanged when asked again.
 *
 * Runs as root and as nobody (in a child that drops to uid 65534). Prints
 * `fuzz: N calls, 0 mismatches, seed S`; a mismatch prints the call and
 * `RPM_SEED=S RPM_FUZZ_CALLS=K` to replay up to it. Each run (root, nobody)
 * makes RPM_FUZZ_CALLS calls, every one required however slow the machine;
 * RPM_FUZZ_CAP_SECONDS bounds a run's time: one that has not made its calls
 * by then stops and fails, with the count it reached (defaults below).
 */
#include "pm_clear.h"
#include "pm_hostile.h"

#include <setjmp.h>
#include <stdarg.h>
#include <sys/socket.h>

#include "kselftest_harness.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

/*
 * Calls per run (root and nobody each), all required, and the cap on a run's
 * seconds: RPM_FUZZ_CALLS and RPM_FUZZ_CAP_SECONDS override. Under TCG with
 * KASAN a call costs about a millisecond; the default is a short run there.
 * The same seed replays the same sequence.
 */
#define DEFAULT_CALLS 5000
#define DEFAULT_CAP_SECONDS 200

#define SLOTS 6
#define TWIN (SLOTS * PM_HPAGE)
#define TWIN_PAGES (TWIN / PM_PAGE)
#define SCRATCH (4UL << 20)
#define KERNEL_ADDR 0xffff888000000000ULL
#define CHECK_TWINS_EVERY 64
#define MAX_REPORTS 10

struct fuzz {
	struct pm_rng rng;
	uint64_t seed;
	bool root;
	int proc, dev;		/* the two files under test */
	int attach_dev;		/* a device file only attach calls use */
	char *twin[2];		/* A, B */
	intptr_t d;		/* B - A */
	char *scratch[2];	/* valid buffers, prefaulted */
	char *ro;		/* a read-only page */
	char *unmapped;		/* an address with nothing mapped */
	char *edge;		/* the last valid page before an unmapped one */
	uintptr_t top;
	int uffd;
	pid_t sleeper, other_uid, zombie, root_sleeper;
	int zombie_pidfd, reaped_pidfd;
	long calls, mismatches, unstable, device_only, state_changes, twin_checks;
	bool capped;		/* the run stopped at its time cap, short of its calls */
	bool hugetlb;		/* slot 5 is hugetlb (else plain anonymous memory) */
	long clean_checked, unchanged_checked;	/* pages checked after clears */
	long by_kind[8];
	double by_time[8];
};

static struct fuzz *F;

/* Where answers are kept between the two calls; prefaulted, so reading them changes nothing. */
static char saved[1 << 19];
static uint64_t snap[SCRATCH / 8], devs[SCRATCH / 8];
static char vec_snap[1024 * 24];

/* The call being made, and the last one that changed state, for reproducer lines. */
static char call_desc[512], last_change[512];

static void describe(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void describe(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(call_desc, sizeof(call_desc), fmt, ap);
	va_end(ap);
}

static void mismatch(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void mismatch(const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (F->mismatches++ >= MAX_REPORTS)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	printf("# MISMATCH (%s) call %ld: %s: %s\n", F->root ? "root" : "nobody", F->calls,
	       call_desc, buf);
	printf("# reproduce: RPM_SEED=%llu RPM_FUZZ_CALLS=%ld (%s run)\n",
	       (unsigned long long)F->seed, F->calls + 1, F->root ? "root" : "nobody");
	fflush(stdout);
}

/* --- memory ---------------------------------------------------------------- */

static sigjmp_buf touch_env;
static volatile int in_touch;

static void on_fault(int sig)
{
	if (in_touch)
		siglongjmp(touch_env, 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

static void poke(char *p, bool write)
{
	struct sigaction sa = { .sa_handler = on_fault, .sa_flags = SA_NODEFER };

	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	in_touch = 1;
	if (!sigsetjmp(touch_env, 1)) {
		if (write)
			*(volatile char *)p = 1;
		else
			(void)*(volatile char *)p;
	}
	in_touch = 0;
}

/*
 * Build twin `t`: six 2 MiB slots of different kinds, set up by the same
 * steps on both twins (all deterministic: no randomness in here).
 */
static bool build_twin(char *b)
{
	char *s;
	int fd;

	/* 0: anonymous, every other page written, a quarter of those swapped out. */
	s = mmap(b, PM_HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (s != b || madvise(s, PM_HPAGE, MADV_NOHUGEPAGE))
		return false;
	for (size_t i = 0; i < 512; i += 2)
		s[i * PM_PAGE] = 1;
	for (size_t i = 3; i < 512; i += 7)
		(void)*(volatile char *)(s + i * PM_PAGE);	/* zero pages */
	madvise(s + 384 * PM_PAGE, 128 * PM_PAGE, MADV_PAGEOUT);

	/* 1: a THP, written whole. */
	s = mmap(b + PM_HPAGE, PM_HPAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (s != b + PM_HPAGE || madvise(s, PM_HPAGE, MADV_HUGEPAGE))
		return false;
	memset(s, 2, PM_HPAGE);

	/* 2: shared memfd, first half written, some of the rest read. */
	fd = memfd_create("fuzz", MFD_CLOEXEC);
	if (fd < 0 || ftruncate(fd, PM_HPAGE))
		return false;
	s = mmap(b + 2 * PM_HPAGE, PM_HPAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0);
	close(fd);
	if (s != b + 2 * PM_HPAGE)
		return false;
	memset(s, 3, PM_HPAGE / 2);
	for (size_t i = 256; i < 512; i += 5)
		(void)*(volatile char *)(s + i * PM_PAGE);

	/* 3: anonymous under userfaultfd async write-protection, some pages written again. */
	s = mmap(b + 3 * PM_HPAGE, PM_HPAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (s != b + 3 * PM_HPAGE || madvise(s, PM_HPAGE, MADV_NOHUGEPAGE))
		return false;
	for (size_t i = 0; i < 512; i += 3)
		s[i * PM_PAGE] = 4;
	if (F->uffd >= 0) {
		if (pm_uffd_async_wp(F->uffd, s, PM_HPAGE))
			return false;
		for (size_t i = 0; i < 512; i += 11)
			s[i * PM_PAGE] = 5;
	}

	/* 4: guard pages, a PROT_NONE quarter and a read-only quarter. */
	s = mmap(b + 4 * PM_HPAGE, PM_HPAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (s != b + 4 * PM_HPAGE || madvise(s, PM_HPAGE, MADV_NOHUGEPAGE))
		return false;
	for (size_t i = 0; i < 512; i += 4)
		s[i * PM_PAGE] = 6;
	for (size_t i = 0; i < 128; i += 9)
		if (madvise(s + i * PM_PAGE, 2 * PM_PAGE, MADV_GUARD_INSTALL))
			return false;
	if (mprotect(s + 256 * PM_PAGE, 128 * PM_PAGE, PROT_NONE) ||
	    mprotect(s + 384 * PM_PAGE, 128 * PM_PAGE, PROT_READ))
		return false;

	/* 5: a 2 MiB hugetlb page (plain anonymous memory if the pool is empty). */
	s = mmap(b + 5 * PM_HPAGE, PM_HPAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (21 << MAP_HUGE_SHIFT) | MAP_FIXED, -1, 0);
	F->hugetlb = s != MAP_FAILED;
	if (s == MAP_FAILED)
		s = mmap(b + 5 * PM_HPAGE, PM_HPAGE, PROT_READ,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (s != b + 5 * PM_HPAGE)
		return false;
	poke(s, true);
	return true;
}

static int open_uffd(void)
{
	int fd = pm_uffd_async();
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED |
			    UFFD_FEATURE_WP_HUGETLBFS_SHMEM,
	};

	if (fd >= 0)
		return fd;
	/* Unprivileged: user-mode faults only (vm.unprivileged_userfaultfd is 0). */
	fd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (fd >= 0 && ioctl(fd, UFFDIO_API, &api)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* A child that sleeps until killed, optionally as another user. */
static pid_t sleeper(uid_t uid)
{
	int p[2];
	pid_t pid;
	char c;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		char *m;

		if (uid != (uid_t)-1 && !pm_drop_to(uid))
			_exit(1);
		m = mmap(NULL, 64 * PM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
		if (m != MAP_FAILED)
			memset(m, 1, 32 * PM_PAGE);
		if (write(p[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	if (pid < 0 || read(p[0], &c, 1) != 1)
		pid = -1;
	close(p[0]);
	return pid;
}

static bool fuzz_setup(struct fuzz *f, bool root, pid_t root_sleeper)
{
	size_t len = 2 * TWIN + 3 * PM_HPAGE;
	char *raw = mmap(NULL, len + PM_HPAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t b;
	pid_t z;

	if (raw == MAP_FAILED)
		return false;
	F = f;
	/* One CPU: pages faulted in sit in that CPU's LRU batch, which MADV_PAGEOUT drains. */
	pm_pin_to_cpu(0);
	f->root = root;
	f->root_sleeper = root_sleeper;
	f->top = pm_user_top();
	f->proc = pm_open_proc();
	f->dev = pm_open_dev();
	f->attach_dev = pm_open_dev();
	if (f->proc < 0 || f->dev < 0 || f->attach_dev < 0)
		return false;
	f->uffd = open_uffd();
	if (f->uffd < 0)
		printf("# no userfaultfd: %s\n", strerror(errno));
	/*
	 * 2 MiB before, between and after the twins stay reserved (PROT_NONE), so
	 * that each twin has the same neighbours and no later mapping lands there.
	 */
	b = ((uintptr_t)raw + PM_HPAGE - 1) & ~(PM_HPAGE - 1);
	f->twin[0] = (char *)b + PM_HPAGE;
	f->twin[1] = f->twin[0] + TWIN + PM_HPAGE;
	f->d = f->twin[1] - f->twin[0];
	if (mprotect(f->twin[1] + TWIN, PM_HPAGE, PROT_READ) ||
	    mprotect(f->twin[0] + TWIN, PM_HPAGE, PROT_READ) ||
	    mprotect(f->twin[0] - PM_HPAGE, PM_HPAGE, PROT_READ))
		return false;
	if (!build_twin(f->twin[0]) || !build_twin(f->twin[1]))
		return false;
	for (int i = 0; i < 2; i++) {
		f->scratch[i] = mmap(NULL, SCRATCH, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
		if (f->scratch[i] == MAP_FAILED)
			return false;
		memset(f->scratch[i], 0x5a, SCRATCH);
	}
	memset(saved, 1, sizeof(saved));
	memset(snap, 1, sizeof(snap));
	memset(devs, 1, sizeof(devs));
	memset(vec_snap, 1, sizeof(vec_snap));
	f->ro = mmap(NULL, PM_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	f->edge = mmap(NULL, 2 * PM_PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (f->ro == MAP_FAILED || f->edge == MAP_FAILED)
		return false;
	munmap(f->edge + PM_PAGE, PM_PAGE);
	f->unmapped = f->edge + PM_PAGE;
	/* Processes to attach to. */
	f->sleeper = sleeper((uid_t)-1);
	f->other_uid = sleeper(root ? 65533 : (uid_t)-1);
	z = fork();
	if (z == 0)
		_exit(0);
	f->zombie = z;
	f->zombie_pidfd = pm_pidfd_open(z, 0);
	z = fork();
	if (z == 0)
		_exit(0);
	f->reaped_pidfd = pm_pidfd_open(z, 0);
	waitpid(z, NULL, 0);
	/* Let the zombie become one. */
	usleep(10000);
	return f->sleeper > 0 && f->other_uid > 0 && f->zombie_pidfd >= 0 && f->reaped_pidfd >= 0;
}

static void fuzz_teardown(struct fuzz *f)
{
	kill(f->sleeper, SIGKILL);
	kill(f->other_uid, SIGKILL);
	waitpid(f->sleeper, NULL, 0);
	waitpid(f->other_uid, NULL, 0);
	waitpid(f->zombie, NULL, 0);
}

/* Whether an address lies in twin A; addresses there are shifted for the device's call. */
static bool in_a(uint64_t x)
{
	return x >= (uintptr_t)F->twin[0] && x < (uintptr_t)F->twin[0] + TWIN;
}

static uint64_t shift(uint64_t x)
{
	return in_a(x) ? x + F->d : x;
}

/*
 * For a call that changes state on twins: a range starting outside twin A but
 * reaching the twins is moved into twin A, and one starting in twin A ends at
 * most in the hole after it, so that /proc's call sees only twin A and the
 * device's, shifted, only twin B. Invalid ranges stay invalid.
 */
static void twin_range(struct pm_rng *r, __u64 *start, __u64 *end)
{
	uint64_t a = (uintptr_t)F->twin[0], a_end = a + TWIN, lo = a - PM_HPAGE;
	uint64_t hi = (uintptr_t)F->twin[1] + TWIN + PM_HPAGE, low = *start & (PM_PAGE - 1);

	if (!in_a(*start - low) && *start < hi && *end > lo && *end >= *start)
		*start = a + pm_below(r, TWIN_PAGES) * PM_PAGE + low;
	/*
	 * Ends past the twins, even invalid ones (whether the kernel takes an end
	 * past TASK_SIZE depends on LAM), are cut: calls that do not change state
	 * try those.
	 */
	if (in_a(*start - low) && *end > a_end + PM_HPAGE)
		*end = a_end + PM_HPAGE - PM_PAGE * pm_below(r, 2);
}

/* The end of a twin-A range, as twin B's: shifted only if it lies in or just after twin A. */
static uint64_t shift_end(uint64_t end)
{
	uint64_t a = (uintptr_t)F->twin[0];

	return end >= a && end <= a + TWIN + PM_HPAGE ? end + F->d : end;
}

/* Whether [start, end) keeps clear of both twins and the holes around them. */
static bool clear_of_twins(uint64_t start, uint64_t end)
{
	uint64_t lo = (uintptr_t)F->twin[0] - PM_HPAGE, hi = (uintptr_t)F->twin[1] + TWIN + PM_HPAGE;

	return end <= lo || start >= hi;
}

/* --- pread ------------------------------------------------------------------- */

struct outcome {
	long ret;
	int err;
};


static uint64_t random_offset(struct pm_rng *r)
{
	uint64_t top = F->top / PM_PAGE * 8, off;

	switch (pm_below(r, 10)) {
	case 0:
		off = pm_rand(r) & INT64_MAX;
		break;
	case 1:
		off = top - 8 * pm_below(r, 64);
		break;
	case 2:
		off = top + 8 * pm_below(r, 1 << 20);
		break;
	case 3:
		off = INT64_MAX - pm_below(r, 4096);
		break;
	case 4:
		off = pm_below(r, 1 << 20) * 8;
		break;
	case 5:
		off = (uint64_t)-8 * (1 + pm_below(r, 8));	/* negative positions */
		break;
	default:
		off = ((uintptr_t)F->twin[0] / PM_PAGE - 64 + pm_below(r, TWIN_PAGES + 128)) * 8;
		break;
	}
	if (pm_chance(r, 8))
		off += 1 + pm_below(r, 7);
	return off;
}

static size_t random_length(struct pm_rng *r)
{
	size_t n;

	switch (pm_below(r, 12)) {
	case 0:
		n = 0;
		break;
	case 1:
		n = SIZE_MAX - pm_below(r, 64);
		break;
	case 2:
		n = 1UL << (30 + pm_below(r, 30));
		break;
	case 3:
		n = 8 * (1 + pm_below(r, 4096));
		break;
	default:
		n = 8 * (1 + pm_below(r, 64));
		break;
	}
	if (pm_chance(r, 8))
		n += 1 + pm_below(r, 7);
	return n;
}

/* A buffer for `len` bytes; *twin set when it lies in twin A (state changes there). */
static char *random_buffer(struct pm_rng *r, size_t len, int side, bool *twin)
{
	*twin = false;
	switch (pm_below(r, 16)) {
	case 0:
		return NULL;
	case 1:
		return F->unmapped;
	case 2:
		return F->ro;
	case 3:
		return (char *)KERNEL_ADDR;
	case 4:
		/* Ends in the unmapped page. */
		return F->edge + PM_PAGE - 8 * (1 + pm_below(r, 64));
	case 5:
	case 6:
		*twin = true;
		return F->twin[0] + pm_below(r, TWIN_PAGES) * PM_PAGE + 8 * pm_below(r, 512);
	default:
		/* A huge length gets a buffer that ends soon: the call fails after one chunk. */
		if (len > SCRATCH)
			return F->edge;
		return F->scratch[side] + (pm_below(r, (SCRATCH - len) / 8 + 1)) * 8;
	}
}

static struct outcome do_pread(int fd, void *buf, size_t n, uint64_t off, bool positional)
{
	volatile size_t count = n;
	struct outcome o;

	errno = 0;
	if (positional) {
		o.ret = pread(fd, buf, count, (off_t)off);
	} else {
		lseek(fd, (off_t)off, SEEK_SET);
		o.ret = read(fd, buf, count);
	}
	o.err = o.ret < 0 ? errno : 0;
	return o;
}

static bool same_bytes(const char *a, const char *b, size_t n, bool twin)
{
	const uint64_t *x = (const uint64_t *)a, *y = (const uint64_t *)b;

	if (!twin)
		return !memcmp(a, b, n);
	/* Twins have different frames; everything else must agree. */
	for (size_t i = 0; i < n / 8; i++)
		if ((x[i] ^ y[i]) & ~RPM_PFRAME_MASK)
			return false;
	return true;
}

static void fuzz_pread(struct pm_rng *r)
{
	uint64_t off = random_offset(r);
	size_t len = random_length(r);
	bool positional = pm_chance(r, 80), twin;
	char *buf = random_buffer(r, len, 0, &twin), *buf_b;
	struct outcome a, b;
	off_t pa = 0, pb = 0;
	size_t cmp;

	F->by_kind[0]++;
	if (twin) {
		/*
		 * The buffer is in twin A (twin B for the device): the read must cover
		 * only twin A (then the device reads twin B) or keep clear of both.
		 */
		uint64_t pages = (len < (1UL << 31) ? len : (1UL << 31)) / 8;
		uint64_t va = (off / 8) * PM_PAGE, va_end = va + pages * PM_PAGE;

		if (off > INT64_MAX || va_end < va ||
		    !((in_a(va) && va_end <= (uintptr_t)F->twin[0] + TWIN) ||
		      clear_of_twins(va, va_end)))
			buf = F->scratch[0], twin = false;
	}
	if (twin)
		buf_b = buf + F->d;
	else if (buf >= F->scratch[0] && buf < F->scratch[0] + SCRATCH)
		buf_b = buf - F->scratch[0] + F->scratch[1];
	else
		buf_b = buf;
	describe("%s(fd, %p, %#zx, %#llx)%s", positional ? "pread" : "lseek+read", buf, len,
		 (unsigned long long)off, twin ? " [twins]" : "");
	a = do_pread(F->proc, buf, len, off, positional);
	if (!positional)
		pa = lseek(F->proc, 0, SEEK_CUR);
	cmp = a.ret > 0 ? (size_t)a.ret : 0;
	if (cmp > sizeof(saved))
		cmp = sizeof(saved);
	/* The /proc answer may sit in twin A; keep a copy before the device runs. */
	if (cmp)
		memcpy(saved, buf, cmp);
	{
		uint64_t off_b = off;

		if (twin && in_a((off / 8) * PM_PAGE))
			off_b = off + (uint64_t)(F->d / PM_PAGE) * 8;
		b = do_pread(F->dev, buf_b, len, off_b, positional);
		if (!positional)
			pb = lseek(F->dev, 0, SEEK_CUR) - (off_b - off);
	}
	if (a.ret != b.ret || a.err != b.err) {
		mismatch("proc %ld/%s dev %ld/%s", a.ret, strerror(a.err), b.ret, strerror(b.err));
		return;
	}
	if (!positional && pa != pb) {
		mismatch("position after read: proc %lld dev %lld", (long long)pa, (long long)pb);
		return;
	}
	if (cmp && !same_bytes(saved, buf_b, cmp, twin)) {
		/*
		 * Same memory (a read clear of the twins reads it even when the buffer
		 * is in twin A): forgiven only if /proc's own answer changed meanwhile.
		 * The copy into `saved` above writes this program's own pages, which
		 * such a read may cover: a page of it cleaned by an earlier clear reads
		 * clean to /proc and, one memcpy later, dirty to the device.
		 */
		if (!twin || !in_a((off / 8) * PM_PAGE)) {
			struct outcome c = do_pread(F->proc, buf, len, off, true);

			if (c.ret != a.ret || memcmp(saved, buf, cmp)) {
				F->unstable++;
				return;
			}
		}
		for (size_t i = 0; i < cmp / 8; i++) {
			uint64_t x = ((uint64_t *)saved)[i], y = ((uint64_t *)buf_b)[i];

			if (x != y) {
				mismatch("entry %zu: proc %#018llx dev %#018llx", i,
					 (unsigned long long)x, (unsigned long long)y);
				break;
			}
		}
	}
	if (twin)
		F->state_changes++;
}

/* --- PAGEMAP_SCAN ------------------------------------------------------------ */

static uint64_t random_mask(struct pm_rng *r)
{
	uint64_t m = 0;

	if (pm_chance(r, 3))
		return pm_rand(r);
	if (pm_chance(r, 3))
		return 1ULL << pm_below(r, 64);
	for (int b = 0; b < 10; b++)
		if (pm_chance(r, 15))
			m |= 1ULL << b;
	return m;
}

struct scan_call {
	struct pm_scan_arg a;
	uint64_t arg_at;	/* where the argument lives; may be bad */
	bool arg_in_scratch;	/* arg_at is inside scratch[0] */
	bool twin;		/* run on twins */
};

static void random_scan(struct pm_rng *r, struct scan_call *c)
{
	struct pm_scan_arg *a = &c->a;
	uint64_t base = (uintptr_t)F->twin[0];
	uint64_t s = base - 16 * PM_PAGE + pm_below(r, TWIN_PAGES + 32) * PM_PAGE;

	memset(c, 0, sizeof(*c));
	a->size = pm_chance(r, 95) ? sizeof(*a) : pm_below(r, 200);
	switch (pm_below(r, 10)) {
	case 0:
	case 1:
	case 2:
		a->flags = PM_SCAN_WP_MATCHING;
		break;
	case 3:
		a->flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
		break;
	case 4:
		a->flags = pm_chance(r, 50) ? PM_SCAN_CHECK_WPASYNC : pm_rand(r) & pm_rand(r);
		break;
	default:
		a->flags = 0;
		break;
	}
	a->start = s;
	a->end = s + pm_below(r, TWIN_PAGES / 2) * PM_PAGE;
	switch (pm_below(r, 14)) {
	case 0:
		a->start += 1 + pm_below(r, PM_PAGE - 1);
		break;
	case 1:
		a->end = a->start - PM_PAGE * pm_below(r, 4);
		break;
	case 2:
		a->end += pm_below(r, PM_PAGE);
		break;
	case 3:
		a->start = pm_rand(r) & ~(PM_PAGE - 1);
		a->end = pm_rand(r);
		break;
	case 4:
		a->end = F->top + PM_PAGE * pm_below(r, 3);
		break;
	case 5:
		a->start = 0;
		a->end = F->top;
		break;
	default:
		break;
	}
	a->category_mask = random_mask(r);
	a->category_inverted = pm_chance(r, 50) ? a->category_mask & random_mask(r) : random_mask(r);
	a->category_anyof_mask = pm_chance(r, 40) ? random_mask(r) : 0;
	a->return_mask = pm_chance(r, 30) ? PM_ALL_CATEGORIES : random_mask(r);
	if (pm_chance(r, 90))
		a->return_mask &= PM_ALL_CATEGORIES;
	a->max_pages = pm_chance(r, 60) ? 0 : pm_chance(r, 50) ? 1 + pm_below(r, 64) : pm_rand(r);
	a->walk_end = 0x5eed5eed;
	switch (pm_below(r, 5)) {
	case 0:
		a->vec_len = 0;
		break;
	case 1:
		a->vec_len = pm_rand(r) >> pm_below(r, 64);
		break;
	default:
		a->vec_len = 1 + pm_below(r, 600);
		break;
	}
	/* Where the argument lives, and where vec points. */
	c->arg_in_scratch = true;
	c->arg_at = (uintptr_t)F->scratch[0] + SCRATCH / 2 + 8 * pm_below(r, 512);
	switch (pm_below(r, 40)) {
	case 0:
		c->arg_in_scratch = false;
		c->arg_at = 0;
		break;
	case 1:
		c->arg_in_scratch = false;
		c->arg_at = (uintptr_t)F->unmapped;
		break;
	case 2:
		/* Straddles into the unmapped page. */
		c->arg_in_scratch = false;
		c->arg_at = (uintptr_t)F->edge + PM_PAGE - 8 * (1 + pm_below(r, 11));
		break;
	case 3:
		c->arg_in_scratch = false;
		c->arg_at = (uintptr_t)F->ro;
		break;
	case 4:
		c->arg_in_scratch = false;
		c->arg_at = KERNEL_ADDR;
		break;
	default:
		break;
	}
	switch (pm_below(r, 16)) {
	case 0:
		a->vec = 0;
		break;
	case 1:
		a->vec = (uintptr_t)F->unmapped;
		break;
	case 2:
		a->vec = (uintptr_t)F->ro;
		break;
	case 3:
		a->vec = KERNEL_ADDR;
		break;
	case 4:
		/* Overlapping the argument itself. */
		a->vec = c->arg_at - 8 * pm_below(r, 24) + 8 * pm_below(r, 12);
		break;
	case 5:
		a->vec = (uintptr_t)F->edge + PM_PAGE - 24 * (1 + pm_below(r, 4));
		break;
	case 6:
		/* Inside the scanned range (twin A; twin B for the device). */
		a->vec = (uintptr_t)F->twin[0] + pm_below(r, TWIN_PAGES) * PM_PAGE +
			 8 * pm_below(r, 256);
		break;
	case 7:
		a->vec = pm_rand(r);
		break;
	default: {
		/* Below the argument, clear of it (case 4 overlaps). */
		uint64_t room = 24 * (a->vec_len < 1024 ? a->vec_len : 1024);
		uint64_t below = c->arg_in_scratch ? c->arg_at : (uintptr_t)F->scratch[0] + SCRATCH / 2;

		a->vec = below - room - 8 * pm_below(r, 64);
		break;
	}
	}
	/*
	 * Twins for anything that can change memory: write-protection (a flag set
	 * anywhere in the request may make it one) and a vec or argument in the arena.
	 */
	/* Flag bit 32 alone is the device's get-and-clear: a device-only call, made elsewhere. */
	if ((a->flags & ~(uint64_t)(PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC)) ==
	    RPM_SCAN_CLEAR_SOFT_DIRTY)
		a->flags &= ~RPM_SCAN_CLEAR_SOFT_DIRTY;
	c->twin = (a->flags & PM_SCAN_WP_MATCHING) || in_a(a->vec);
	if (c->twin)
		twin_range(r, &a->start, &a->end);
}

/* Words of two results agree: equal, or (twins) the same address in each twin. */
static long picture_diff(const uint64_t *x, const uint64_t *y, size_t words, bool twin)
{
	for (size_t i = 0; i < words; i++) {
		if (x[i] == y[i])
			continue;
		if (twin && y[i] == x[i] + F->d &&
		    x[i] >= (uintptr_t)F->twin[0] && x[i] <= (uintptr_t)F->twin[0] + TWIN + PM_HPAGE)
			continue;
		return (long)i;
	}
	return -1;
}

/* Shift a request from twin A to twin B. */
static void to_twin_b(struct pm_scan_arg *a)
{
	if (in_a(a->start & ~(PM_PAGE - 1))) {
		a->start += F->d;
		a->end = shift_end(a->end);
	}
	a->vec = shift(a->vec);
}

static long do_scan(int fd, uint64_t arg_at, const struct pm_scan_arg *a, bool in_scratch,
		    uintptr_t lo, uintptr_t hi, int *err)
{
	long ret;

	memset((void *)lo, 0xa5, hi - lo);
	if (in_scratch)
		memcpy((void *)(uintptr_t)arg_at, a, sizeof(*a));
	errno = 0;
	ret = ioctl(fd, PAGEMAP_SCAN, (void *)(uintptr_t)arg_at);
	*err = ret < 0 ? errno : 0;
	return ret;
}

/*
 * Run one scan call on /proc (addresses as drawn) and on the device (shifted
 * to twin B for a twin call, else the same). The argument, and vec when it is
 * in the scratch buffer, are at the same addresses for both calls: the bytes
 * they cover are snapshotted after /proc's call and rebuilt before the
 * device's, so even a vec that overlaps the argument compares exactly.
 */
static void fuzz_scan(struct pm_rng *r)
{
	static struct scan_call c;
	uintptr_t s0 = (uintptr_t)F->scratch[0], s1 = s0 + SCRATCH, lo, hi;
	struct pm_scan_arg ab;
	struct outcome o[2];
	bool vec_in_scratch, vec_in_a, same_memory;
	uint64_t cap;
	long at;

	random_scan(r, &c);
	/* Both calls scan the same memory unless the range was put in the twins. */
	same_memory = !c.twin || !in_a(c.a.start & ~(PM_PAGE - 1));
	F->by_kind[1]++;
	vec_in_a = in_a(c.a.vec);
	vec_in_scratch = c.a.vec >= s0 && c.a.vec < s1;
	cap = c.a.vec_len < 1024 ? c.a.vec_len : 1024;
	lo = c.arg_in_scratch ? c.arg_at : s1;
	hi = c.arg_in_scratch ? c.arg_at + sizeof(c.a) : s0;
	if (vec_in_scratch) {
		lo = c.a.vec < lo ? c.a.vec : lo;
		hi = c.a.vec + cap * 24 > hi ? c.a.vec + cap * 24 : hi;
	}
	if (hi > s1)
		hi = s1;
	if (hi < lo)
		hi = lo;
	describe("PAGEMAP_SCAN arg@%#llx size %llu flags %#llx %#llx-%#llx vec %#llx len %llu "
		 "max %llu mask %#llx inv %#llx any %#llx ret %#llx%s",
		 (unsigned long long)c.arg_at, (unsigned long long)c.a.size,
		 (unsigned long long)c.a.flags, (unsigned long long)c.a.start,
		 (unsigned long long)c.a.end, (unsigned long long)c.a.vec,
		 (unsigned long long)c.a.vec_len, (unsigned long long)c.a.max_pages,
		 (unsigned long long)c.a.category_mask,
		 (unsigned long long)c.a.category_inverted,
		 (unsigned long long)c.a.category_anyof_mask,
		 (unsigned long long)c.a.return_mask, c.twin ? " [twins]" : "");

	o[0].ret = do_scan(F->proc, c.arg_at, &c.a, c.arg_in_scratch, lo, hi, &o[0].err);
	if (vec_in_scratch && o[0].ret > 0 && c.a.vec + o[0].ret * 24 > hi)
		hi = c.a.vec + o[0].ret * 24 < s1 ? c.a.vec + o[0].ret * 24 : s1;
	memcpy(snap, (void *)lo, hi - lo);
	/* Only what the call wrote: reading more would fault pages of twin A in. */
	if (vec_in_a && o[0].ret > 0) {
		size_t n = (size_t)o[0].ret * 24, room = (uintptr_t)F->twin[0] + TWIN - c.a.vec;

		n = n < room ? n : room;
		memcpy(vec_snap, (void *)(uintptr_t)c.a.vec, n < sizeof(vec_snap) ? n : sizeof(vec_snap));
	}

	ab = c.a;
	if (c.twin)
		to_twin_b(&ab);
	o[1].ret = do_scan(F->dev, c.arg_at, &ab, c.arg_in_scratch, lo, hi, &o[1].err);

	if (o[0].ret != o[1].ret || o[0].err != o[1].err) {
		if (same_memory) {
			/* Same memory: a real difference persists when /proc is asked again. */
			int err;
			long again = do_scan(F->proc, c.arg_at, &c.a, c.arg_in_scratch, lo, hi, &err);

			if (again != o[0].ret || err != o[0].err) {
				F->unstable++;
				return;
			}
		}
		mismatch("proc %ld/%s dev %ld/%s", o[0].ret, strerror(o[0].err), o[1].ret,
			 strerror(o[1].err));
		return;
	}
	at = picture_diff(snap, (uint64_t *)lo, (hi - lo) / 8, c.twin);
	if (at >= 0 && same_memory) {
		int err;

		memcpy(devs, (void *)lo, hi - lo);
		do_scan(F->proc, c.arg_at, &c.a, c.arg_in_scratch, lo, hi, &err);
		if (memcmp(snap, (void *)lo, hi - lo)) {
			F->unstable++;
			return;
		}
		memcpy((void *)lo, devs, hi - lo);
	}
	if (at >= 0) {
		mismatch("argument/vec memory differs at %#lx (arg %+ld): proc %#llx dev %#llx",
			 (unsigned long)(lo + at * 8), (long)(lo + at * 8 - c.arg_at),
			 (unsigned long long)snap[at], (unsigned long long)((uint64_t *)lo)[at]);
		return;
	}
	if (vec_in_a && o[0].ret > 0) {
		size_t n = (size_t)o[0].ret * 24, room = (uintptr_t)F->twin[0] + TWIN - c.a.vec;

		n = n < room ? n : room;
		n = n < sizeof(vec_snap) ? n : sizeof(vec_snap);
		at = picture_diff((uint64_t *)vec_snap, (uint64_t *)(uintptr_t)ab.vec, n / 8, true);
		if (at >= 0 && same_memory) {
			/* The snapshots above wrote this program's pages, which the range may hold. */
			int err;

			do_scan(F->proc, c.arg_at, &c.a, c.arg_in_scratch, lo, hi, &err);
			if (memcmp(vec_snap, (void *)(uintptr_t)c.a.vec, n)) {
				F->unstable++;
				return;
			}
		}
		if (at >= 0)
			mismatch("regions in twin memory differ at word %ld", at);
	}
	/* The device's answer must also be well-formed (/proc's was the same). */
	if (o[1].ret > 0 && c.arg_in_scratch && vec_in_scratch &&
	    (ab.vec + o[1].ret * 24 <= c.arg_at || ab.vec >= c.arg_at + sizeof(ab))) {
		const struct pm_scan_arg *w = (void *)(uintptr_t)c.arg_at;
		const char *why = pm_scan_violation(&ab, o[1].ret,
						    (struct page_region *)(uintptr_t)ab.vec,
						    w->walk_end);

		if (why)
			mismatch("ill-formed answer (the same from /proc): %s", why);
	}
	if (c.twin)
		F->state_changes++;
}

/* --- clean after a clear ---------------------------------------------------- */

/*
 * The device's clears against /proc's reading of twin A, right after them
 * (the twin the first of each pair of calls works on; twin B must stay like
 * it, which the twin checks see). Rules from fs/proc/task_mmu.c and
 * uapi/rust_pagemap.h:
 *   - clear_refs (4) write-protects and cleans every PTE and huge PMD (swap
 *     entries, markers, PROT_NONE and read-only pages included) but pinned
 *     pages (none here), and clears VM_SOFTDIRTY on every VMA, hugetlb too:
 *     after it every page of the twins reads clean;
 *   - the device's whole clear is the same but for hugetlb VMAs, which keep
 *     their flag (their pages read dirty through it, the read path never
 *     looks at the huge entry's bit); so /proc's clear right after the
 *     device's finds nothing left to clean but hugetlb pages;
 *   - a ranged clear cleans [start, end rounded up to a page), hugetlb aside,
 *     and an anonymous THP it covers in part is split and cleaned exactly
 *     (the twins have no shared THP, which would be left alone); the split
 *     marks every PTE of a dirty huge page soft-dirty (pte_mkdirty() in
 *     __split_huge_pmd_locked() sets soft-dirty on x86), so the THP's pages
 *     outside the range may read dirty after it, whatever they read before;
 *   - a get-and-clear cleans exactly what it reported, hugetlb aside (and the
 *     THP's pages it did not report may read dirty if it split it), but a
 *     VMA's own VM_SOFTDIRTY is consumed only for the part reported without a
 *     gap from the VMA's first page in the range on: a page reported after a
 *     gap in such a VMA keeps reading dirty, and nothing is required of it;
 *   - every page a clear did not cover reads as before (nothing maps anything
 *     between the clear and the reading, so no new VMA reads dirty).
 */
enum want { W_UNCHANGED, W_CLEAN, W_ANY };
static uint64_t twin_pre[TWIN_PAGES], twin_post[TWIN_PAGES];
static uint8_t twin_want[TWIN_PAGES];
static struct pm_vma sd_vmas[64];
static int n_sd_vmas;
static bool thp_before;		/* twin A's slot 1 was a PMD-mapped THP */

#define SLOT_PAGES (PM_HPAGE / PM_PAGE)

/*
 * Twin A as /proc reads it before a clear, whether its slot 1 is a THP, and
 * (for a get-and-clear, `vmas`) its VMAs with VM_SOFTDIRTY.
 */
static bool before_clear(bool vmas)
{
	static struct pm_scan_result res;
	uintptr_t a = (uintptr_t)F->twin[0];
	struct pm_scan_arg q = pm_scan_req(a + PM_HPAGE, a + 2 * PM_HPAGE, 0, 0, PAGE_IS_HUGE, 0,
					   PAGE_IS_HUGE);

	pm_scan_run(F->proc, &q, 1, &res);
	thp_before = res.ret > 0 && res.r[0].start == a + PM_HPAGE &&
		     res.r[0].end == a + 2 * PM_HPAGE;
	n_sd_vmas = vmas ? pm_soft_dirty_vmas(a, a + TWIN, sd_vmas, 64) : 0;
	return n_sd_vmas >= 0 && !pm_read_entries(F->proc, a, TWIN_PAGES, twin_pre);
}

static bool in_hugetlb_slot(size_t i)
{
	return F->hugetlb && i >= 5 * SLOT_PAGES;
}

/* Whether page i of twin A is in slot 1 and it was a THP that [start, end) covers in part. */
static bool thp_cut(size_t i, uint64_t start, uint64_t end)
{
	uintptr_t s1 = (uintptr_t)F->twin[0] + PM_HPAGE;

	return thp_before && i / SLOT_PAGES == 1 && start < s1 + PM_HPAGE && end > s1 &&
	       (start > s1 || end < s1 + PM_HPAGE);
}

/* Whether page i of twin A is reported after a page of its soft-dirty VMA that was not. */
static bool after_a_gap(size_t i, uint64_t start, const uint8_t *reported)
{
	uintptr_t a = (uintptr_t)F->twin[0], x = a + i * PM_PAGE;

	for (int v = 0; v < n_sd_vmas; v++) {
		uintptr_t from = sd_vmas[v].start > start ? sd_vmas[v].start : start;

		if (x < sd_vmas[v].start || x >= sd_vmas[v].end)
			continue;
		for (uintptr_t y = from < a ? a : from; y < x; y += PM_PAGE)
			if (!reported[(y - a) / PM_PAGE])
				return true;
		return false;
	}
	return false;
}

/* Twin A reads as twin_want says, per /proc and per the device; false (and reports) if not. */
static bool check_after_clear(const char *what)
{
	static uint64_t dev_post[TWIN_PAGES];
	uintptr_t a = (uintptr_t)F->twin[0];

	if (pm_read_entries(F->proc, a, TWIN_PAGES, twin_post) ||
	    pm_read_entries(F->dev, a, TWIN_PAGES, dev_post)) {
		mismatch("%s: reading twin A failed: %s", what, strerror(errno));
		return false;
	}
	for (size_t i = 0; i < TWIN_PAGES; i++) {
		bool p = twin_post[i] & RPM_SOFT_DIRTY, d = dev_post[i] & RPM_SOFT_DIRTY;
		bool was = twin_pre[i] & RPM_SOFT_DIRTY;

		if (twin_want[i] == W_CLEAN) {
			F->clean_checked++;
			if (!p && !d)
				continue;
		} else if (twin_want[i] == W_UNCHANGED) {
			F->unchanged_checked++;
			if (p == was && d == p)
				continue;
		} else {
			continue;
		}
		mismatch("%s: twin A page %zu (slot %zu) must read %s: /proc %#018llx dev %#018llx, "
			 "before %#018llx", what, i, i / (PM_HPAGE / PM_PAGE),
			 twin_want[i] == W_CLEAN ? "clean" : "as before",
			 (unsigned long long)twin_post[i], (unsigned long long)dev_post[i],
			 (unsigned long long)twin_pre[i]);
		return false;
	}
	return true;
}

/* After a successful whole clear of the device: twin A clean but hugetlb, then /proc's clear. */
static void whole_clear_as_proc(void)
{
	for (size_t i = 0; i < TWIN_PAGES; i++)
		twin_want[i] = in_hugetlb_slot(i) ? W_UNCHANGED : W_CLEAN;
	if (!check_after_clear("whole clear"))
		return;
	/* /proc's whole clear on the same memory: the only pages it still cleans are hugetlb. */
	memcpy(twin_pre, twin_post, sizeof(twin_pre));
	if (pm_clear_soft_dirty()) {
		mismatch("the device's whole clear succeeded, clear_refs failed: %s", strerror(errno));
		return;
	}
	for (size_t i = 0; i < TWIN_PAGES; i++)
		twin_want[i] = W_CLEAN;
	check_after_clear("the device's whole clear, then clear_refs");
}

/* After a successful ranged clear of [start, end) (twin A's call). */
static void ranged_clear_strict(uint64_t start, uint64_t end)
{
	uintptr_t a = (uintptr_t)F->twin[0];

	end = (end + PM_PAGE - 1) & ~(uint64_t)(PM_PAGE - 1);
	for (size_t i = 0; i < TWIN_PAGES; i++) {
		uint64_t x = a + i * PM_PAGE;

		if (x >= start && x < end)
			twin_want[i] = in_hugetlb_slot(i) ? W_UNCHANGED : W_CLEAN;
		else
			twin_want[i] = thp_cut(i, start, end) ? W_ANY : W_UNCHANGED;
	}
	check_after_clear("ranged clear");
}

/* After a successful get-and-clear of [start, end) of twin A that returned `n` regions in `v`. */
static void get_and_clear_strict(uint64_t start, uint64_t end, const struct page_region *v,
				 long n)
{
	static uint8_t reported[TWIN_PAGES];
	uintptr_t a = (uintptr_t)F->twin[0];
	bool split = false;

	memset(reported, 0, sizeof(reported));
	for (long k = 0; k < n; k++)
		for (uint64_t x = v[k].start; x < v[k].end; x += PM_PAGE)
			if (x >= a && x < a + TWIN)
				reported[(x - a) / PM_PAGE] = 1;
	/* It may have split slot 1's THP: it reported some of it, or its range cuts it. */
	for (size_t i = SLOT_PAGES; i < 2 * SLOT_PAGES; i++)
		split |= thp_before && (reported[i] || thp_cut(i, start, end));
	for (size_t i = 0; i < TWIN_PAGES; i++) {
		if (!reported[i] && split && i / SLOT_PAGES == 1)
			twin_want[i] = W_ANY;
		else if (!reported[i] || in_hugetlb_slot(i))
			twin_want[i] = W_UNCHANGED;
		else
			twin_want[i] = after_a_gap(i, start, reported) ? W_ANY : W_CLEAN;
	}
	check_after_clear("get-and-clear");
}

/* --- calls only the device has -------------------------------------------- */

static void expect_documented(const char *what, long ret, int err)
{
	F->device_only++;
	if (ret < 0 && !pm_documented_errno(err))
		mismatch("%s: undocumented errno %d (%s)", what, err, strerror(err));
}

/* Get-and-clear, the ranged clear and the whole clear: on both twins alike. */
static void fuzz_device_only(struct pm_rng *r)
{
	uint64_t which = pm_below(r, 100);
	struct outcome o[2];
	bool strict;

	F->by_kind[2]++;
	if (which < 50) {
		/* Get-and-clear: the same request on twin A and twin B must give the same. */
		static struct page_region v[2][600];
		struct pm_scan_arg a[2];
		struct scan_call c;

		random_scan(r, &c);
		c.a.flags = RPM_SCAN_CLEAR_SOFT_DIRTY | (pm_chance(r, 10) ? pm_rand(r) & 3 : 0);
		if (pm_chance(r, 80)) {
			c.a.category_mask |= PAGE_IS_SOFT_DIRTY;
			c.a.category_inverted &= ~PAGE_IS_SOFT_DIRTY;
		}
		if (c.a.vec_len > 600 || pm_chance(r, 70))
			c.a.vec_len = pm_below(r, 600);
		/* It changes state: twin A for the first call, twin B for the second. */
		if (!in_a(c.a.start & ~(PM_PAGE - 1)))
			c.a.start = (uintptr_t)F->twin[0] + pm_below(r, TWIN_PAGES) * PM_PAGE +
				    (c.a.start & (PM_PAGE - 1));
		twin_range(r, &c.a.start, &c.a.end);
		describe("get-and-clear size %llu flags %#llx %#llx-%#llx len %llu max %llu mask "
			 "%#llx inv %#llx any %#llx ret %#llx",
			 (unsigned long long)c.a.size, (unsigned long long)c.a.flags,
			 (unsigned long long)c.a.start, (unsigned long long)c.a.end,
			 (unsigned long long)c.a.vec_len, (unsigned long long)c.a.max_pages,
			 (unsigned long long)c.a.category_mask,
			 (unsigned long long)c.a.category_inverted,
			 (unsigned long long)c.a.category_anyof_mask,
			 (unsigned long long)c.a.return_mask);
		strict = before_clear(true);
		for (int t = 0; t < 2; t++) {
			a[t] = c.a;
			a[t].vec = c.a.vec_len ? (uintptr_t)v[t] : 0;
			if (t) {
				a[t].start += F->d;
				a[t].end = shift_end(a[t].end);
			}
			errno = 0;
			o[t].ret = ioctl(F->dev, PAGEMAP_SCAN, &a[t]);
			o[t].err = o[t].ret < 0 ? errno : 0;
		}
		/* /proc has no such flag. */
		{
			struct pm_scan_arg p = c.a;

			p.vec = 0;
			p.vec_len = 0;
			errno = 0;
			if (ioctl(F->proc, PAGEMAP_SCAN, &p) != -1 || errno != EINVAL)
				mismatch("/proc accepted flag bit 32");
		}
		expect_documented("get-and-clear", o[1].ret, o[1].err);
		if (o[0].ret != o[1].ret || o[0].err != o[1].err) {
			mismatch("twin A %ld/%s twin B %ld/%s", o[0].ret, strerror(o[0].err),
				 o[1].ret, strerror(o[1].err));
		} else if (!o[0].ret && a[0].walk_end != a[1].walk_end &&
			   a[0].walk_end + F->d != a[1].walk_end) {
			mismatch("twin walk_end %#llx and %#llx", (unsigned long long)a[0].walk_end,
				 (unsigned long long)a[1].walk_end);
		} else if (o[0].ret > 0) {
			if (picture_diff((uint64_t *)v[0], (uint64_t *)v[1], o[0].ret * 3, true) >= 0)
				mismatch("twin regions differ");
			else if (c.a.size == sizeof(c.a) &&
				 pm_scan_violation(&a[1], o[1].ret, v[1], a[1].walk_end))
				mismatch("ill-formed: %s",
					 pm_scan_violation(&a[1], o[1].ret, v[1], a[1].walk_end));
		}
		if (o[0].ret >= 0 && strict && in_a(c.a.start & ~(PM_PAGE - 1)))
			get_and_clear_strict(c.a.start, c.a.end, v[0], o[0].ret);
		F->state_changes++;
	} else if (which < 95) {
		/* Ranged clear of a random range, applied to both twins. */
		struct rpm_range rg[2];
		uint64_t base = (uintptr_t)F->twin[0];
		void *argp[2];

		rg[0].start = base - 8 * PM_PAGE + pm_below(r, TWIN_PAGES + 16) * PM_PAGE;
		rg[0].end = rg[0].start + pm_below(r, 1024) * PM_PAGE;
		switch (pm_below(r, 10)) {
		case 0:
			rg[0].start += 1 + pm_below(r, PM_PAGE - 1);
			break;
		case 1:
			rg[0].end = rg[0].start - PM_PAGE;
			break;
		case 2:
			rg[0].end = pm_rand(r);
			break;
		case 3:
			rg[0].end -= pm_below(r, PM_PAGE);
			break;
		case 4:
			rg[0].end = F->top + pm_below(r, 2) * PM_PAGE;
			break;
		default:
			break;
		}
		twin_range(r, &rg[0].start, &rg[0].end);
		rg[1] = rg[0];
		if (in_a(rg[0].start & ~(PM_PAGE - 1))) {
			rg[1].start += F->d;
			rg[1].end = shift_end(rg[1].end);
		}
		argp[0] = &rg[0];
		argp[1] = &rg[1];
		if (pm_chance(r, 5))
			argp[0] = argp[1] = pm_chance(r, 50) ? (void *)F->unmapped :
							      (void *)(F->edge + PM_PAGE - 8);
		describe("RPM_IOC_CLEAR_SOFT_DIRTY %#llx-%#llx arg %p", (unsigned long long)rg[0].start,
			 (unsigned long long)rg[0].end, argp[0]);
		strict = before_clear(false);
		for (int t = 0; t < 2; t++) {
			errno = 0;
			o[t].ret = ioctl(F->dev, RPM_IOC_CLEAR_SOFT_DIRTY, argp[t]);
			o[t].err = o[t].ret < 0 ? errno : 0;
		}
		expect_documented("ranged clear", o[0].ret, o[0].err);
		if (o[0].ret != o[1].ret || o[0].err != o[1].err)
			mismatch("twin A %ld/%s twin B %ld/%s", o[0].ret, strerror(o[0].err),
				 o[1].ret, strerror(o[1].err));
		else if (!o[0].ret && strict && argp[0] == &rg[0] && in_a(rg[0].start))
			ranged_clear_strict(rg[0].start, rg[0].end);
		F->state_changes++;
	} else {
		describe("RPM_IOC_CLEAR_SOFT_DIRTY_ALL");
		strict = before_clear(false);
		errno = 0;
		o[0].ret = ioctl(F->dev, RPM_IOC_CLEAR_SOFT_DIRTY_ALL, pm_rand(r));
		expect_documented("whole clear", o[0].ret, errno);
		if (o[0].ret)
			mismatch("whole clear failed: %s", strerror(errno));
		else if (strict)
			whole_clear_as_proc();
		F->state_changes++;
	}
}

/* A descriptor of some kind for attach: returns it and whether it must be closed. */
static int random_attach_fd(struct pm_rng *r, pid_t *pid, bool *close_it)
{
	int fd = -1;

	*pid = 0;
	*close_it = true;
	switch (pm_below(r, 16)) {
	case 0:
		*pid = getpid();
		return pm_pidfd_open(*pid, 0);
	case 1:
		*pid = F->sleeper;
		return pm_pidfd_open(*pid, 0);
	case 2:
		*pid = F->other_uid;
		return pm_pidfd_open(*pid, 0);
	case 3:
		*pid = 1;
		return pm_pidfd_open(1, 0);
	case 4:
		*pid = 2;	/* kthreadd: no mm */
		return pm_pidfd_open(2, 0);
	case 5:
		*pid = F->root_sleeper;
		return *pid > 0 ? pm_pidfd_open(*pid, 0) : -1;
	case 6:
		*close_it = false;
		*pid = -1;
		return F->zombie_pidfd;
	case 7:
		*close_it = false;
		*pid = -1;
		return F->reaped_pidfd;
	case 8: {
		int p[2];

		if (pipe(p))
			return -1;
		close(p[1]);
		return p[0];
	}
	case 9:
		*close_it = false;
		return pm_chance(r, 50) ? F->proc : F->dev;
	case 10:
		fd = memfd_create("fuzz-attach", MFD_CLOEXEC);
		return fd;
	case 11:
		*close_it = false;
		return F->uffd;
	case 12:
		*close_it = false;
		return 900 + pm_below(r, 100);	/* not open */
	case 13:
		*close_it = false;
		return (int)pm_rand(r);
	default:
		*pid = getpid();
		return pm_pidfd_open(*pid, PIDFD_THREAD);
	}
}

static void fuzz_attach(struct pm_rng *r)
{
	pid_t pid;
	bool close_it;
	int fd = random_attach_fd(r, &pid, &close_it), ret, err, proc_fd = -1, proc_err = 0;
	unsigned long arg = (unsigned int)fd;

	F->by_kind[3]++;
	if (pm_chance(r, 5))
		arg = pm_rand(r);
	describe("RPM_IOC_ATTACH_PIDFD fd %d (pid %d) arg %#lx", fd, pid, arg);
	errno = 0;
	ret = ioctl(F->attach_dev, RPM_IOC_ATTACH_PIDFD, arg);
	err = ret ? errno : 0;
	expect_documented("attach", ret, err);
	if (pid > 0 && arg == (unsigned int)fd && fd >= 0) {
		/* Attach must succeed exactly when opening /proc/PID/pagemap does. */
		errno = 0;
		proc_fd = pm_open_proc_of(pid);
		proc_err = proc_fd < 0 ? errno : 0;
		if (!ret && proc_fd < 0) {
			mismatch("attach succeeded, /proc/%d/pagemap open failed: %s", pid,
				 strerror(proc_err));
		} else if (ret && err == EACCES && proc_fd >= 0) {
			mismatch("attach EACCES, /proc/%d/pagemap opens", pid);
		} else if (ret && err == ESRCH && proc_fd >= 0) {
			uint64_t e;

			/* Documented: a process without an address space (kthread). */
			if (pread(proc_fd, &e, 8, 0) != 0)
				mismatch("attach ESRCH, but /proc/%d/pagemap reads", pid);
		} else if (!ret) {
			/* The attached file reads what /proc/PID/pagemap reads. */
			static uint64_t a[256], b[256];
			struct pm_vma v[64];
			int n = pm_read_maps_of(pid, v, 64);

			if (n > 0) {
				struct pm_vma *m = &v[pm_below(r, n)];
				uintptr_t at = m->start + PM_PAGE * pm_below(r, (m->end - m->start) / PM_PAGE);
				ssize_t x = pread(proc_fd, a, sizeof(a), at / PM_PAGE * 8);
				ssize_t y = pread(F->attach_dev, b, sizeof(b), at / PM_PAGE * 8);

				if (x != y || (x > 0 && memcmp(a, b, x))) {
					/* This process's own memory moves as the fuzzer runs. */
					ssize_t z = pread(proc_fd, b, sizeof(b), at / PM_PAGE * 8);

					if (pid != getpid() || (z == x && !memcmp(a, b, x > 0 ? x : 0)))
						mismatch("attached read of %d at %#lx differs from /proc",
							 pid, (unsigned long)at);
				}
			}
		}
		if (proc_fd >= 0)
			close(proc_fd);
	}
	if (close_it && fd >= 0)
		close(fd);
}

/* --- ioctl numbers and lseek ------------------------------------------------ */

/* Types whose commands the VFS answers itself, differently for a char device and a proc file. */
static bool vfs_generic(unsigned int cmd)
{
	unsigned int type = _IOC_TYPE(cmd);

	if (cmd == 1 || cmd == 2)	/* FIBMAP, FIGETBSZ */
		return true;
	return type == 'T' || type == 'X' || type == 0x94 || type == 0x15 ||
	       (type == 'f' && _IOC_NR(cmd) != 16) || type == 'v' || type == 0x58;
}

static void fuzz_ioctl(struct pm_rng *r)
{
	unsigned int cmd;
	unsigned long arg;
	struct outcome o[2];
	int fds[2] = { F->proc, F->dev };

	F->by_kind[4]++;
	do {
		switch (pm_below(r, 4)) {
		case 0:
			cmd = (unsigned int)pm_rand(r);
			break;
		case 1:
			/* PAGEMAP_SCAN's number with other directions and sizes. */
			cmd = _IOC(pm_below(r, 4), 'f', 16, pm_below(r, 1 << 14));
			break;
		case 2:
			cmd = _IOC(pm_below(r, 4), 'R', pm_below(r, 256), pm_below(r, 64));
			break;
		default:
			cmd = pm_below(r, 1 << 16);
			break;
		}
		/* The device's own commands are the device-only calls above. */
	} while (vfs_generic(cmd) || cmd == RPM_IOC_ATTACH_PIDFD || cmd == RPM_IOC_CLEAR_SOFT_DIRTY ||
		 cmd == RPM_IOC_CLEAR_SOFT_DIRTY_ALL || cmd == PAGEMAP_SCAN);
	arg = pm_chance(r, 50) ? (uintptr_t)F->scratch[0] + 8 * pm_below(r, 1024) : pm_rand(r);
	describe("ioctl(fd, %#x, %#lx)", cmd, arg);
	for (int i = 0; i < 2; i++) {
		errno = 0;
		o[i].ret = ioctl(fds[i], cmd, arg);
		o[i].err = o[i].ret < 0 ? errno : 0;
	}
	if (o[0].ret != o[1].ret || o[0].err != o[1].err)
		mismatch("proc %ld/%s dev %ld/%s", o[0].ret, strerror(o[0].err), o[1].ret,
			 strerror(o[1].err));
}

static void fuzz_lseek(struct pm_rng *r)
{
	off_t off = pm_chance(r, 50) ? (off_t)pm_rand(r) : (off_t)pm_below(r, 1 << 20) - (1 << 19);
	int whence = pm_chance(r, 80) ? (int)pm_below(r, 2) : (int)pm_below(r, 8);
	struct outcome o[2];
	int fds[2] = { F->proc, F->dev };

	F->by_kind[5]++;
	/* Start both from the same position. */
	lseek(F->proc, 4096, SEEK_SET);
	lseek(F->dev, 4096, SEEK_SET);
	describe("lseek(fd, %lld, %d)", (long long)off, whence);
	for (int i = 0; i < 2; i++) {
		errno = 0;
		o[i].ret = lseek(fds[i], off, whence);
		o[i].err = o[i].ret < 0 ? errno : 0;
	}
	if (o[0].ret != o[1].ret || o[0].err != o[1].err)
		mismatch("proc %ld/%s dev %ld/%s", o[0].ret, strerror(o[0].err), o[1].ret,
			 strerror(o[1].err));
}

/* --- the run ---------------------------------------------------------------- */

/*
 * The twins must still look alike to /proc; returns false (and reports) if not.
 * A difference that is gone when /proc is asked again (a page under migration,
 * a THP being split by the kernel) was /proc's own reading changing: unstable,
 * not a mismatch.
 */
static bool check_twins(void)
{
	F->twin_checks++;
	for (int s = 0; s < SLOTS; s++) {
		char *a = F->twin[0] + s * PM_HPAGE, *b = F->twin[1] + s * PM_HPAGE;

		if (!pm_twins_alike(F->proc, a, b, PM_HPAGE)) {
			usleep(10000);
			if (pm_twins_alike(F->proc, a, b, PM_HPAGE)) {
				F->unstable++;
				continue;
			}
			uint64_t ea[512], eb[512];

			if (!pm_read_entries(F->proc, (uintptr_t)a, 512, ea) &&
			    !pm_read_entries(F->proc, (uintptr_t)b, 512, eb)) {
				for (int i = 0; i < 512; i++)
					if ((ea[i] ^ eb[i]) & ~(RPM_PFRAME_MASK | RPM_MMAP_EXCLUSIVE)) {
						printf("# twins A %p B %p: slot %d page %d: %#llx %#llx\n",
						       F->twin[0], F->twin[1], s, i,
						       (unsigned long long)ea[i], (unsigned long long)eb[i]);
						break;
					}
			}
			describe("twin check after call %ld (slot %d)", F->calls, s);
			mismatch("twins no longer alike: a call since the last check treated "
				 "twin B differently from twin A; the last was: %s (replay with "
				 "RPM_FUZZ_TWIN_CHECK=1 to make it the culprit)", last_change);
			return false;
		}
	}
	return true;
}

/*
 * Run `n` calls, unless a mismatch stops the run or `cap` seconds pass first
 * (then f->capped); returns the number of mismatches.
 */
static long fuzz_run(struct fuzz *f, long n, double cap)
{
	long check_every = pm_env_u64("RPM_FUZZ_TWIN_CHECK", CHECK_TWINS_EVERY), since = 0;
	double t0 = pm_now();

	if (!check_twins())
		return f->mismatches;
	for (f->calls = 0; f->calls < n && f->mismatches < MAX_REPORTS; f->calls++) {
		if (!(f->calls % 256) && pm_now() - t0 > cap) {
			f->capped = true;
			break;
		}
		struct pm_rng *r = &f->rng;
		uint64_t what = pm_below(r, 1000);
		long before = f->state_changes;

		double t = pm_now();
		int k;

		if (what < 600)
			fuzz_pread(r), k = 0;
		else if (what < 900)
			fuzz_scan(r), k = 1;
		else if (what < 930)
			fuzz_device_only(r), k = 2;
		else if (what < 945)
			fuzz_attach(r), k = 3;
		else if (what < 985)
			fuzz_ioctl(r), k = 4;
		else
			fuzz_lseek(r), k = 5;
		f->by_time[k] += pm_now() - t;
		if (f->state_changes != before)
			memcpy(last_change, call_desc, sizeof(last_change));
		/* RPM_FUZZ_TWIN_CHECK=0: after every call, whatever it was. */
		if (!check_every || (f->state_changes != before && ++since >= check_every)) {
			since = 0;
			if (!check_twins())
				break;
		}
	}
	check_twins();
	printf("# %s: %ld calls in %.1f s (pread %ld in %.1f s, scan %ld in %.1f s, device-only %ld "
	       "in %.1f s, attach %ld in %.1f s, ioctl %ld in %.1f s, lseek %ld in %.1f s), "
	       "%ld state changes on twins, %ld twin checks, %ld unstable; after clears %ld pages "
	       "checked clean and %ld as before\n",
	       f->root ? "root" : "nobody", f->calls, pm_now() - t0, f->by_kind[0], f->by_time[0],
	       f->by_kind[1], f->by_time[1], f->by_kind[2], f->by_time[2], f->by_kind[3],
	       f->by_time[3], f->by_kind[4], f->by_time[4], f->by_kind[5], f->by_time[5],
	       f->state_changes, f->twin_checks, f->unstable, f->clean_checked,
	       f->unchanged_checked);
	return f->mismatches;
}

struct summary {
	long calls, mismatches, unstable, clean_checked;
	bool ok, capped;
};

static void run_as(bool root, uint64_t seed, long n, double cap, pid_t root_sleeper,
		   struct summary *out)
{
	static struct fuzz f;

	memset(&f, 0, sizeof(f));
	f.seed = seed;
	f.rng.s = seed ^ (root ? 0x726f6f74 : 0x6e6f626f);
	out->ok = false;
	if (!root && !pm_drop_to(PM_NOBODY))
		return;
	if (!fuzz_setup(&f, root, root_sleeper)) {
		printf("# %s: setup failed: %s\n", root ? "root" : "nobody", strerror(errno));
		return;
	}
	fuzz_run(&f, n, cap);
	fuzz_teardown(&f);
	out->calls = f.calls;
	out->mismatches = f.mismatches;
	out->unstable = f.unstable;
	out->clean_checked = f.clean_checked;
	out->capped = f.capped;
	/* Instability is forgiven, but only as the rare exception. */
	out->ok = f.unstable * 1000 <= f.calls;
}

TEST(fuzz_device_against_proc_as_root_and_nobody)
{
	struct summary *sum = mmap(NULL, 2 * sizeof(*sum), PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	uint64_t seed = pm_seed();
	long n = pm_env_u64("RPM_FUZZ_CALLS", DEFAULT_CALLS);
	double cap = pm_env_u64("RPM_FUZZ_CAP_SECONDS", DEFAULT_CAP_SECONDS);
	char khp[32];
	pid_t root_sleeper, pid;
	int status;

	ASSERT_NE(MAP_FAILED, sum);
	printf("# seed %llu (replay with RPM_SEED=%llu), %ld calls per run, at most %.0f s each\n",
	       (unsigned long long)seed, (unsigned long long)seed, n, cap);
	/* khugepaged would collapse one twin and not the other: it sleeps while this runs. */
	ASSERT_TRUE(pm_khugepaged_sleep(khp, sizeof(khp)));
	root_sleeper = sleeper((uid_t)-1);
	for (int i = 0; i < 2; i++) {
		pid = fork();
		ASSERT_GE(pid, 0);
		if (pid == 0) {
			run_as(i == 0, seed, n, cap, root_sleeper, &sum[i]);
			_exit(0);
		}
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		EXPECT_TRUE(WIFEXITED(status)) TH_LOG("the %s run died (signal %d)",
						      i ? "nobody" : "root", WTERMSIG(status));
		EXPECT_TRUE(sum[i].ok) TH_LOG("the %s run failed to set up or was unstable (%ld)",
					      i ? "nobody" : "root", sum[i].unstable);
	}
	kill(root_sleeper, SIGKILL);
	waitpid(root_sleeper, NULL, 0);
	pm_khugepaged_restore(khp);
	printf("# fuzz: %ld calls, %ld mismatches, seed %llu\n", sum[0].calls + sum[1].calls,
	       sum[0].mismatches + sum[1].mismatches, (unsigned long long)seed);
	EXPECT_EQ(0, sum[0].mismatches + sum[1].mismatches);
	/*
	 * Every call asked for, however slow the machine: a run ends when it has
	 * made them (or at a mismatch, a failure already), and the cap only turns
	 * a machine too slow into a failure that says so.
	 */
	for (int i = 0; i < 2; i++) {
		EXPECT_FALSE(sum[i].capped)
		TH_LOG("the %s run did not reach coverage in %.0f s (RPM_FUZZ_CAP_SECONDS): %ld of "
		       "%ld calls", i ? "nobody" : "root", cap, sum[i].calls, n);
		if (!sum[i].mismatches && !sum[i].capped) {
			EXPECT_EQ(n, sum[i].calls);
			/* The device's clears were checked against /proc's reading at all. */
			EXPECT_GT(sum[i].clean_checked, 0);
		}
	}
}

int main(int argc, char **argv)
{
	/* Two runs, each at most its cap: the harness's timeout lets the cap speak first. */
	_fuzz_device_against_proc_as_root_and_nobody_object.timeout =
		120 + 2 * pm_env_u64("RPM_FUZZ_CAP_SECONDS", DEFAULT_CAP_SECONDS);
	return test_harness_run(argc, argv);
}
