// SPDX-License-Identifier: GPL-2.0
/*
 * Lifetimes: of the module (no unload while a file is open, references given
 * back after close), of a file (shared by threads, by a forked child, passed
 * with SCM_RIGHTS), of the process a file is bound to (it exits, becomes a
 * zombie, execs) and of a call (a huge read or scan killed by SIGKILL returns
 * promptly). Where /proc/PID/pagemap has the same situation, the device must
 * behave as a pagemap file opened at the same moment does.
 */
#include "pm_hostile.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include "kselftest_harness.h"

#define MODULE "rust_pagemap"
#define REFCNT "/sys/module/" MODULE "/refcnt"

static long module_refcnt(void)
{
	char buf[32];

	return pm_read_file(REFCNT, buf, sizeof(buf)) ? strtol(buf, NULL, 10) : -1;
}

static int delete_module(const char *name, int flags)
{
	return syscall(SYS_delete_module, name, flags);
}

/* --- the module ------------------------------------------------------------ */

TEST(unload_refused_while_a_file_is_open)
{
	long base = module_refcnt();
	int fd;

	ASSERT_GE(base, 0) TH_LOG("no %s: is the module loaded?", REFCNT);
	fd = pm_open_dev();
	ASSERT_GE(fd, 0);
	EXPECT_EQ(base + 1, module_refcnt());
	errno = 0;
	EXPECT_EQ(-1, delete_module(MODULE, O_NONBLOCK));
	EXPECT_EQ(EWOULDBLOCK, errno);
	/* Still there, and the file still works. */
	EXPECT_EQ(base + 1, module_refcnt());
	{
		uint64_t e;

		EXPECT_EQ(8, pread(fd, &e, 8, ((uintptr_t)&e / PM_PAGE) * 8));
		EXPECT_TRUE(e & RPM_PRESENT);
	}
	close(fd);
	EXPECT_EQ(base, module_refcnt());
}

TEST(unload_refused_while_another_process_holds_the_file)
{
	long base = module_refcnt();
	int fd = pm_open_dev(), p[2], status;
	pid_t pid;
	char c;

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, pipe(p));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		close(p[1]);
		_exit(read(p[0], &c, 1) == 1 ? 0 : 1);
	}
	close(p[0]);
	close(fd);
	/* Only the child's copy keeps the module busy now. */
	EXPECT_EQ(base + 1, module_refcnt());
	errno = 0;
	EXPECT_EQ(-1, delete_module(MODULE, O_NONBLOCK));
	EXPECT_EQ(EWOULDBLOCK, errno);
	ASSERT_EQ(1, write(p[1], "x", 1));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_EQ(base, module_refcnt());
	close(p[1]);
}

/* Attach `n` times, to this process and to a child, through fresh and reused files. */
static int attach_churn(int n, pid_t child)
{
	int reused = pm_open_dev(), bad = 0;

	if (reused < 0)
		return -1;
	for (int i = 0; i < n; i++) {
		int fd = pm_open_dev();
		pid_t who = i % 2 ? child : getpid();
		uint64_t e;

		if (fd < 0)
			return -1;
		if (pm_attach_pid(fd, who) || pm_attach_pid(reused, who))
			bad++;
		if (pread(fd, &e, 8, 0) != 8 || pread(reused, &e, 8, 0) != 8)
			bad++;
		close(fd);
	}
	close(reused);
	return bad;
}

TEST(thousands_of_opens_and_attaches_give_every_reference_back)
{
	long base = module_refcnt();
	int ready[2], bad;
	pid_t child;
	double t;
	char c;

	ASSERT_EQ(0, pipe(ready));
	child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		close(ready[0]);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	ASSERT_EQ(1, read(ready[0], &c, 1));
	t = pm_now();
	for (int i = 0; i < 1000; i++) {
		int fd = pm_open_dev();

		ASSERT_GE(fd, 0);
		close(fd);
	}
	/* 500 rounds: 500 fresh files, 1000 attaches, half of them to the child. */
	bad = attach_churn(500, child);
	printf("# 1501 opens and 1000 attaches in %.1f s\n", pm_now() - t);
	EXPECT_EQ(0, bad);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	EXPECT_EQ(base, module_refcnt());
}

/*
 * A file attached to a process must not keep that process's address space
 * alive, whatever calls were made through it (errors included): once the
 * process is gone, a shared page it mapped is mapped only here again, so
 * this process's entry for it reads exclusive.
 */
TEST(attached_calls_never_keep_the_target_address_space)
{
	int mfd = memfd_create("lifetimes", 0), ready[2], dev = pm_open_dev();
	char *shared, c;
	uint64_t e;
	pid_t child;

	ASSERT_GE(mfd, 0);
	ASSERT_GE(dev, 0);
	ASSERT_EQ(0, ftruncate(mfd, PM_PAGE));
	shared = mmap(NULL, PM_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	ASSERT_NE(MAP_FAILED, shared);
	shared[0] = 1;
	ASSERT_EQ(0, pipe(ready));
	child = fork();
	ASSERT_GE(child, 0);
	if (child == 0) {
		char *m = mmap(NULL, PM_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);

		if (m == MAP_FAILED)
			_exit(1);
		m[0] = 2;
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	ASSERT_EQ(1, read(ready[0], &c, 1));
	{
		int proc = pm_open_proc();

		ASSERT_EQ(0, pm_read_entries(proc, (uintptr_t)shared, 1, &e));
		close(proc);
	}
	/* The parent's inherited mapping plus the child's two: not exclusive. */
	ASSERT_FALSE(e & RPM_MMAP_EXCLUSIVE);
	ASSERT_EQ(0, pm_attach_pid(dev, child));
	{
		/* Calls of every kind, good and bad. */
		static struct page_region r[8];
		struct pm_scan_arg a = pm_scan_req(0, 1UL << 46, 0, 0, PAGE_IS_PRESENT, 0,
						   PAGE_IS_PRESENT);
		struct rpm_range rg = { 0, 1UL << 40 };
		uint64_t buf[64];
		void *volatile bad = NULL;

		a.vec = (uintptr_t)r;
		a.vec_len = 8;
		ioctl(dev, PAGEMAP_SCAN, &a);
		a.vec = 8;
		ioctl(dev, PAGEMAP_SCAN, &a);
		a.size = 1;
		ioctl(dev, PAGEMAP_SCAN, &a);
		ioctl(dev, PAGEMAP_SCAN, NULL);
		a = pm_scan_req(0, 1UL << 46, RPM_SCAN_CLEAR_SOFT_DIRTY, 0, PAGE_IS_SOFT_DIRTY, 0,
				PAGE_IS_SOFT_DIRTY);
		a.vec = (uintptr_t)r;
		a.vec_len = 8;
		ioctl(dev, PAGEMAP_SCAN, &a);
		a.vec = 8;
		ioctl(dev, PAGEMAP_SCAN, &a);
		ioctl(dev, RPM_IOC_CLEAR_SOFT_DIRTY, &rg);
		ioctl(dev, RPM_IOC_CLEAR_SOFT_DIRTY, NULL);
		ioctl(dev, RPM_IOC_CLEAR_SOFT_DIRTY_ALL);
		pread(dev, buf, sizeof(buf), 0);
		pread(dev, bad, sizeof(buf), 0);
		pread(dev, buf, 3, 0);
		bad = (void *)8;
		pread(dev, bad, 1 << 20, 0);
	}
	kill(child, SIGKILL);
	ASSERT_EQ(child, waitpid(child, NULL, 0));
	/* The attached file is still open: it must not hold the address space. */
	{
		int proc = pm_open_proc();

		ASSERT_EQ(0, pm_read_entries(proc, (uintptr_t)shared, 1, &e));
		EXPECT_TRUE(e & RPM_MMAP_EXCLUSIVE) TH_LOG("the exited child's mapping is still there");
		EXPECT_EQ(0, pread(dev, &e, 8, 0)) TH_LOG("a gone target must read as end of file");
		close(proc);
	}
	close(dev);
	close(mfd);
}

/* --- one file, many users ---------------------------------------------------- */

struct shared_reader {
	int fd, reads, cpu;
	atomic_int *go;
	long bad;
};

static void *read_sequentially(void *arg)
{
	struct shared_reader *s = arg;
	uint64_t e;

	pm_pin_to_cpu(s->cpu);
	while (!atomic_load(s->go))
		;
	for (int i = 0; i < s->reads; i++)
		if (read(s->fd, &e, 8) != 8)
			s->bad++;
	return NULL;
}

/* Threads read() one file 8 bytes at a time; returns the position gained. */
static long race_reads(int fd, int threads, int reads, long *bad)
{
	struct shared_reader s[4];
	pthread_t t[4];
	atomic_int go = 0;
	off_t start = 1 << 20;

	lseek(fd, start, SEEK_SET);
	*bad = 0;
	for (int i = 0; i < threads; i++) {
		s[i] = (struct shared_reader){ .fd = fd, .reads = reads, .cpu = i, .go = &go };
		pthread_create(&t[i], NULL, read_sequentially, &s[i]);
	}
	atomic_store(&go, 1);
	for (int i = 0; i < threads; i++) {
		pthread_join(t[i], NULL);
		*bad += s[i].bad;
	}
	return lseek(fd, 0, SEEK_CUR) - start;
}

/*
 * The pagemap file is a regular file: concurrent read()s of one open file
 * serialise on its position (FMODE_ATOMIC_POS), so every read advances it.
 */
TEST(reads_on_one_shared_file_serialise_the_position)
{
	const int threads = 2, reads = 1000;
	int proc = pm_open_proc(), dev = pm_open_dev();
	long bad, gained;

	ASSERT_GE(proc, 0);
	ASSERT_GE(dev, 0);
	ASSERT_GE(sysconf(_SC_NPROCESSORS_ONLN), 2);
	gained = race_reads(proc, threads, reads, &bad);
	ASSERT_EQ(0, bad);
	ASSERT_EQ(8L * threads * reads, gained) TH_LOG("/proc itself lost position updates");
	gained = race_reads(dev, threads, reads, &bad);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(8L * threads * reads, gained)
	TH_LOG("%ld of %d reads on the device left the position where another read put it",
	       (8L * threads * reads - gained) / 8, threads * reads);
	close(proc);
	close(dev);
}

struct churn {
	int dev;
	pid_t child;
	atomic_bool stop;
	atomic_long calls[3], violations;	/* attaches, scans, reads */
};

/*
 * Each of the three kinds of call at least CHURN_CALLS times, all on the one
 * file at once: the race needs them overlapping, not a length of time. At most
 * CHURN_CAP_SECONDS (the test's timeout, set in main(), is longer).
 */
#ifndef CHURN_CALLS
#define CHURN_CALLS 600
#endif
#ifndef CHURN_CAP_SECONDS
#define CHURN_CAP_SECONDS 90
#endif

static void *churn_attach(void *arg)
{
	struct churn *c = arg;

	pm_pin_to_cpu(0);
	for (int i = 0; !atomic_load(&c->stop); i++) {
		if (pm_attach_pid(c->dev, i % 2 ? c->child : getpid()))
			atomic_fetch_add(&c->violations, 1);
		atomic_fetch_add(&c->calls[0], 1);
	}
	return NULL;
}

static void *churn_scan(void *arg)
{
	struct churn *c = arg;
	static struct page_region r[64];

	pm_pin_to_cpu(1);
	while (!atomic_load(&c->stop)) {
		struct pm_scan_arg a = pm_scan_req(0, 1UL << 46, 0, 0, 0, 0, PM_ALL_CATEGORIES);
		long ret;

		a.vec = (uintptr_t)r;
		a.vec_len = 64;
		a.max_pages = 4096;
		ret = ioctl(c->dev, PAGEMAP_SCAN, &a);
		if (ret < 0 || pm_scan_violation(&a, ret, r, a.walk_end))
			atomic_fetch_add(&c->violations, 1);
		atomic_fetch_add(&c->calls[1], 1);
	}
	return NULL;
}

static void *churn_read(void *arg)
{
	struct churn *c = arg;
	static uint64_t e[512];

	pm_pin_to_cpu(1);
	while (!atomic_load(&c->stop)) {
		uintptr_t at = (uintptr_t)&c->stop & ~(PM_HPAGE - 1);
		ssize_t n = pread(c->dev, e, sizeof(e), at / PM_PAGE * 8);

		if (n != sizeof(e))
			atomic_fetch_add(&c->violations, 1);
		for (int i = 0; n == sizeof(e) && i < 512; i++)
			if (pm_entry_violation(e[i], true))
				atomic_fetch_add(&c->violations, 1);
		atomic_fetch_add(&c->calls[2], 1);
	}
	return NULL;
}

TEST(attach_scan_and_read_race_on_one_file)
{
	struct churn c = { .dev = pm_open_dev() };
	pthread_t t[3];
	int ready[2], proc;
	double t0, took;
	bool reached = false;
	char x;

	ASSERT_GE(c.dev, 0);
	ASSERT_EQ(0, pipe(ready));
	c.child = fork();
	ASSERT_GE(c.child, 0);
	if (c.child == 0) {
		char *m = mmap(NULL, 64 * PM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			       -1, 0);

		if (m != MAP_FAILED)
			memset(m, 1, 64 * PM_PAGE);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	ASSERT_EQ(1, read(ready[0], &x, 1));
	pthread_create(&t[0], NULL, churn_attach, &c);
	pthread_create(&t[1], NULL, churn_scan, &c);
	pthread_create(&t[2], NULL, churn_read, &c);
	t0 = pm_now();
	while (!reached && pm_now() - t0 < CHURN_CAP_SECONDS) {
		usleep(10000);
		reached = atomic_load(&c.calls[0]) >= CHURN_CALLS &&
			  atomic_load(&c.calls[1]) >= CHURN_CALLS &&
			  atomic_load(&c.calls[2]) >= CHURN_CALLS;
	}
	took = pm_now() - t0;
	atomic_store(&c.stop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	printf("# %ld attaches, %ld scans, %ld reads in %.1f s\n", atomic_load(&c.calls[0]),
	       atomic_load(&c.calls[1]), atomic_load(&c.calls[2]), took);
	EXPECT_EQ(0, atomic_load(&c.violations));
	EXPECT_TRUE(reached)
	TH_LOG("did not reach coverage in %d s: %d calls of each kind needed", CHURN_CAP_SECONDS,
	       CHURN_CALLS);
	/* Whatever the last attach was, one more decides. */
	ASSERT_EQ(0, pm_attach_pid(c.dev, c.child));
	proc = pm_open_proc_of(c.child);
	ASSERT_GE(proc, 0);
	EXPECT_EQ(0, pm_compare_all_maps_of(c.child, proc, c.dev, 4));
	kill(c.child, SIGKILL);
	waitpid(c.child, NULL, 0);
	close(proc);
	close(c.dev);
}

/* --- descriptors that travel --------------------------------------------------- */

#define SPAN (64 * PM_PAGE)

/* Memory of several states for the opener: written, read, untouched, swapped. */
static char *opener_memory(void)
{
	char *m = mmap(NULL, SPAN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return m;
	for (int i = 0; i < 64; i++) {
		if (i % 3 == 0)
			m[i * PM_PAGE] = 1;
		else if (i % 3 == 1)
			(void)*(volatile char *)(m + i * PM_PAGE);
	}
	madvise(m + 48 * PM_PAGE, 16 * PM_PAGE, MADV_PAGEOUT);
	return m;
}

TEST(file_inherited_across_fork_reads_the_opener)
{
	int proc = pm_open_proc(), dev = pm_open_dev(), status;
	char *m = opener_memory();
	pid_t pid;

	ASSERT_GE(proc, 0);
	ASSERT_GE(dev, 0);
	ASSERT_NE(MAP_FAILED, m);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		/* Change this copy: the inherited files must not see it. */
		char *n = mmap(NULL, SPAN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint64_t e;

		memset(m, 7, SPAN);
		if (n == MAP_FAILED)
			_exit(10);
		memset(n, 7, SPAN);
		if (pm_compare_around(proc, dev, m, SPAN, 4))
			_exit(11);
		if (pm_compare_around(proc, dev, n, SPAN, 4))
			_exit(12);
		/* The parent has nothing where this child just mapped. */
		if (pm_read_entries(dev, (uintptr_t)n, 1, &e) || (e & RPM_PRESENT))
			_exit(13);
		/* The untouched pages are still untouched in the parent. */
		if (pm_read_entries(dev, (uintptr_t)m + 2 * PM_PAGE, 1, &e) || (e & RPM_PRESENT))
			_exit(14);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	close(proc);
	close(dev);
}

static int send_fds(int sock, const int *fds, int n)
{
	char ctl[CMSG_SPACE(sizeof(int) * 4)] = {};
	char byte = 'f';
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl,
		.msg_controllen = CMSG_SPACE(sizeof(int) * n),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * n);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * n);
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int recv_fds(int sock, int *fds, int n)
{
	char ctl[CMSG_SPACE(sizeof(int) * 4)] = {};
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl,
		.msg_controllen = CMSG_SPACE(sizeof(int) * n),
	};
	struct cmsghdr *cm;

	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS || cm->cmsg_len != CMSG_LEN(sizeof(int) * n))
		return -1;
	memcpy(fds, CMSG_DATA(cm), sizeof(int) * n);
	return 0;
}

/*
 * A child that never inherited the files receives them over a socket, as
 * nobody: they read the opener's memory, with frames, as /proc's file does.
 */
TEST(file_passed_with_scm_rights_reads_the_opener)
{
	int sv[2], status, fds[2];
	uintptr_t at;
	char *m;
	pid_t pid;

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
	TH_LOG("AF_UNIX sockets: %s (the test kernel needs CONFIG_UNIX)", strerror(errno));
	m = opener_memory();
	ASSERT_NE(MAP_FAILED, m);
	at = (uintptr_t)m;
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		uint64_t e[64];
		int got[2];

		close(sv[0]);
		if (!pm_drop_to(PM_NOBODY))
			_exit(10);
		if (recv_fds(sv[1], got, 2))
			_exit(11);
		if (pm_compare_around(got[0], got[1], (void *)at, SPAN, 8))
			_exit(12);
		if (pm_read_entries(got[1], at, 64, e))
			_exit(13);
		/* Opened by root: frames show, whoever reads. */
		if (!(e[0] & RPM_PFRAME_MASK))
			_exit(14);
		if (write(sv[1], "d", 1) != 1)
			_exit(15);
		_exit(0);
	}
	close(sv[1]);
	/* Opened only now, after the fork. */
	fds[0] = pm_open_proc();
	fds[1] = pm_open_dev();
	ASSERT_GE(fds[0], 0);
	ASSERT_GE(fds[1], 0);
	ASSERT_EQ(0, send_fds(sv[0], fds, 2));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	close(fds[0]);
	close(fds[1]);
	close(sv[0]);
}

/*
 * A root-opened device file held by nobody (inherited across fork, then the
 * privileges dropped) and attached by nobody to one of nobody's processes:
 * /proc/PID/pagemap opened by nobody shows no frames, and the device must
 * not show more than that (issue: attach = opening /proc).
 */
TEST(root_opened_file_reattached_by_nobody_shows_no_frames)
{
	int status, dev = pm_open_dev();
	pid_t pid;

	ASSERT_GE(dev, 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		int ready[2], proc;
		uint64_t a[64], b[64];
		pid_t target;
		char c, *m;

		if (!pm_drop_to(PM_NOBODY) || pipe(ready))
			_exit(10);
		target = fork();
		if (target == 0) {
			m = mmap(NULL, SPAN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (m == MAP_FAILED)
				_exit(1);
			memset(m, 1, SPAN);
			if (write(ready[1], &m, sizeof(m)) != sizeof(m))
				_exit(1);
			for (;;)
				pause();
		}
		if (read(ready[0], &m, sizeof(m)) != sizeof(m))
			_exit(11);
		if (pm_attach_pid(dev, target))
			_exit(12);
		proc = pm_open_proc_of(target);
		if (proc < 0 || pm_read_entries(proc, (uintptr_t)m, 64, a) ||
		    pm_read_entries(dev, (uintptr_t)m, 64, b))
			_exit(13);
		c = 0;
		for (int i = 0; i < 64; i++) {
			if (a[i] & RPM_PFRAME_MASK)
				c = 14;	/* /proc itself showed a frame */
			else if (b[i] & RPM_PFRAME_MASK)
				c = 15;
		}
		kill(target, SIGKILL);
		waitpid(target, NULL, 0);
		_exit(c);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
	TH_LOG("exit %d: 15 = the device showed frames that /proc hides", WEXITSTATUS(status));
	close(dev);
}

/* --- the bound process's lifetime -------------------------------------------------- */

/* A child with some memory that waits for one byte on `go`, then does `then`. */
enum then { EXIT, EXEC, LEADER_EXITS };

static pid_t target(enum then then, int *go_fd, int *ready_fd, char **mem)
{
	int ready[2], go[2];
	pid_t pid;

	if (pipe(ready) || pipe(go))
		return -1;
	pid = fork();
	if (pid == 0) {
		char *m = opener_memory(), c;

		close(ready[0]);
		close(go[1]);
		if (m == MAP_FAILED || write(ready[1], &m, sizeof(m)) != sizeof(m))
			_exit(1);
		if (read(go[0], &c, 1) != 1)
			_exit(1);
		switch (then) {
		case EXIT:
			_exit(0);
		case EXEC: {
			char fd[16], *argv[] = { "/proc/self/exe", "--lifetimes-exec-target", fd, NULL };

			/* The new image says when it is ready on the same pipe. */
			snprintf(fd, sizeof(fd), "%d", ready[1]);
			execv("/proc/self/exe", argv);
			_exit(2);
		}
		case LEADER_EXITS:
			/* Only the leader thread exits; the process lives on in another thread. */
			{
				pthread_t t;

				if (pthread_create(&t, NULL, (void *(*)(void *))pause, NULL))
					_exit(3);
				syscall(SYS_exit, 0);
			}
		}
		_exit(4);
	}
	close(ready[1]);
	close(go[0]);
	if (pid < 0 || read(ready[0], mem, sizeof(*mem)) != sizeof(*mem))
		pid = -1;
	*go_fd = go[1];
	*ready_fd = ready[0];
	return pid;
}

/* The image a target execs: some memory of its own, a word on `ready`, then wait to be killed. */
static int exec_target_main(int ready)
{
	char *m = mmap(NULL, 16 * PM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m != MAP_FAILED)
		memset(m, 3, 16 * PM_PAGE);
	if (write(ready, "e", 1) != 1)
		return 1;
	for (;;)
		pause();
	return 0;
}

/* Every call through both files gives what a file of a gone address space gives. */
static void expect_gone(struct __test_metadata *_metadata, int proc, int dev)
{
	struct pm_scan_arg a = pm_scan_req(0, 1UL << 40, 0, 0, 0, 0, PM_ALL_CATEGORIES);
	struct rpm_range rg = { 0, 1UL << 30 };
	uint64_t e[8];

	EXPECT_EQ(0, pread(proc, e, sizeof(e), 8 * 4096));
	EXPECT_EQ(0, pread(dev, e, sizeof(e), 8 * 4096));
	errno = 0;
	EXPECT_EQ(-1, ioctl(proc, PAGEMAP_SCAN, &a));
	EXPECT_EQ(ESRCH, errno);
	errno = 0;
	EXPECT_EQ(-1, ioctl(dev, PAGEMAP_SCAN, &a));
	EXPECT_EQ(ESRCH, errno);
	errno = 0;
	EXPECT_EQ(-1, ioctl(dev, RPM_IOC_CLEAR_SOFT_DIRTY, &rg));
	EXPECT_EQ(ESRCH, errno);
	errno = 0;
	EXPECT_EQ(-1, ioctl(dev, RPM_IOC_CLEAR_SOFT_DIRTY_ALL));
	EXPECT_EQ(ESRCH, errno);
}

TEST(attached_target_becomes_a_zombie_reads_like_proc)
{
	int go, ready, proc, dev = pm_open_dev();
	char *m;
	pid_t pid = target(EXIT, &go, &ready, &m);
	siginfo_t si;
	uint64_t e;

	ASSERT_GT(pid, 0);
	ASSERT_EQ(0, pm_attach_pid(dev, pid));
	proc = pm_open_proc_of(pid);
	ASSERT_GE(proc, 0);
	EXPECT_EQ(0, pm_compare_around(proc, dev, m, SPAN, 4));
	ASSERT_EQ(1, write(go, "g", 1));
	/* Wait for the exit without reaping: the child stays a zombie. */
	ASSERT_EQ(0, waitid(P_PID, pid, &si, WEXITED | WNOWAIT));
	expect_gone(_metadata, proc, dev);
	/*
	 * A fresh attach to the zombie: ESRCH (documented: no address space), or,
	 * like opening /proc/PID/pagemap of a zombie, a file that reads nothing.
	 */
	errno = 0;
	if (pm_attach_pid(dev, pid)) {
		EXPECT_EQ(ESRCH, errno);
	} else {
		EXPECT_EQ(0, pread(dev, &e, 8, 0));
	}
	waitpid(pid, NULL, 0);
	close(proc);
	close(dev);
	close(go);
	close(ready);
}

TEST(attached_target_execs_reads_like_proc_opened_before)
{
	int go, ready, proc, dev = pm_open_dev(), proc_new, dev_new = pm_open_dev();
	char *m, c;
	pid_t pid = target(EXEC, &go, &ready, &m);

	ASSERT_GT(pid, 0);
	ASSERT_EQ(0, pm_attach_pid(dev, pid));
	proc = pm_open_proc_of(pid);
	ASSERT_GE(proc, 0);
	EXPECT_EQ(0, pm_compare_around(proc, dev, m, SPAN, 4));
	ASSERT_EQ(1, write(go, "g", 1));
	/* The new image says when it has mapped its memory. */
	ASSERT_EQ(1, read(ready, &c, 1));
	ASSERT_EQ('e', c);
	/* Both files were bound to the old address space, which is gone. */
	expect_gone(_metadata, proc, dev);
	/* Bound anew, both read the new image alike. */
	ASSERT_EQ(0, pm_attach_pid(dev_new, pid));
	proc_new = pm_open_proc_of(pid);
	ASSERT_GE(proc_new, 0);
	EXPECT_EQ(0, pm_compare_all_maps_of(pid, proc_new, dev_new, 4));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(proc);
	close(dev);
	close(proc_new);
	close(dev_new);
	close(go);
	close(ready);
}

/* The leader thread exits, the process lives on: files bound before still read it. */
TEST(attached_before_the_leader_thread_exits_reads_like_proc)
{
	int go, ready, proc, dev = pm_open_dev();
	char *m;
	pid_t pid = target(LEADER_EXITS, &go, &ready, &m);
	char path[64], state[256] = "";

	ASSERT_GT(pid, 0);
	ASSERT_EQ(0, pm_attach_pid(dev, pid));
	proc = pm_open_proc_of(pid);
	ASSERT_GE(proc, 0);
	ASSERT_EQ(1, write(go, "g", 1));
	/* Wait until the leader is a zombie (state Z) while its thread runs. */
	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	for (int i = 0; i < 500 && !strstr(state, "State:\tZ"); i++) {
		int fd = open(path, O_RDONLY);
		ssize_t n = fd >= 0 ? read(fd, state, sizeof(state) - 1) : -1;

		state[n > 0 ? n : 0] = 0;
		if (fd >= 0)
			close(fd);
		usleep(10000);
	}
	ASSERT_TRUE(strstr(state, "State:\tZ") != NULL);
	EXPECT_EQ(0, pm_compare_around(proc, dev, m, SPAN, 4));
	{
		uint64_t e;

		ASSERT_EQ(0, pm_read_entries(dev, (uintptr_t)m, 1, &e));
		EXPECT_TRUE(e & RPM_PRESENT);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(proc);
	close(dev);
	close(go);
	close(ready);
}

/* --- fatal signals ------------------------------------------------------------------ */

#define HUGE_SPAN (64UL << 40)		/* 64 TiB */
/* One read: 2M entries, 8 GiB of the reservation, 4096 chunks of 2 MiB. */
#define HUGE_READ (16UL << 20)
#define MARK 0xa5a5a5a5a5a5a5a5ULL
/* Killed when this much of the read is done... */
#define KILL_AT 10
/* ...it must not get past this. Without a fatal-signal check it runs to 100. */
#define STOP_BY 50

/* A 64 TiB sparse reservation, above 2^47 where the kernel allows: nothing in it is mapped. */
static char *huge_sparse(void)
{
	void *hint = pm_user_top() > (1UL << 47) ? (void *)(1UL << 52) : NULL;

	return mmap(hint, HUGE_SPAN, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
}

/* How many entries of `buf` (`n` long) the read has written: they are written in order. */
static size_t progress(const volatile uint64_t *buf, size_t n)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (buf[mid] != MARK)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/*
 * A child reads 8 GiB of the empty reservation's entries through `fd` into a
 * buffer shared with this process, which watches the entries arrive, sends
 * SIGKILL when KILL_AT percent are there, and after the child is gone
 * measures how far the read got. Returns that in percent (-1 on error);
 * *secs gets the time from SIGKILL to the child's end.
 */
static int read_killed_at(int fd, char *span, double *secs)
{
	size_t n = HUGE_READ / 8, got;
	uint64_t *buf = mmap(NULL, HUGE_READ, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS,
			     -1, 0);
	double killed;
	pid_t pid;

	if (buf == MAP_FAILED)
		return -1;
	memset(buf, 0xa5, HUGE_READ);
	pid = fork();
	if (pid == 0) {
		ssize_t r = pread(fd, buf, HUGE_READ, ((uintptr_t)span / PM_PAGE) * 8);

		_exit(r == (ssize_t)HUGE_READ ? 0 : 1);
	}
	if (pid < 0)
		return -1;
	while (progress(buf, n) < n * KILL_AT / 100)
		usleep(1000);
	killed = pm_now();
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	*secs = pm_now() - killed;
	got = progress(buf, n);
	munmap(buf, HUGE_READ);
	return (int)(got * 100 / n);
}

/*
 * A huge read must stop soon after SIGKILL: the kill comes a tenth of the way
 * through a read of 8 GiB of empty address space (4096 chunks), and the read
 * must not get past half of it. /proc's read is measured too, and only shown:
 * the kernel's pagemap_read has no such check.
 */
TEST(huge_sparse_read_stops_soon_after_sigkill)
{
	char *span = huge_sparse();
	int dev = pm_open_dev(), proc = pm_open_proc(), at, proc_at;
	double secs, proc_secs;

	ASSERT_NE(MAP_FAILED, span) TH_LOG("64 TiB reservation: %s", strerror(errno));
	ASSERT_GE(dev, 0);
	at = read_killed_at(dev, span, &secs);
	proc_at = read_killed_at(proc, span, &proc_secs);
	printf("# 64 TiB reservation at %p; killed at %d%% of a read of 8 GiB of it: the device's "
	       "read got to %d%% (%.2f s after SIGKILL), /proc's to %d%% (%.2f s)\n",
	       span, KILL_AT, at, secs, proc_at, proc_secs);
	ASSERT_GE(at, KILL_AT);
	EXPECT_LT(at, STOP_BY) TH_LOG("the read went on after SIGKILL");
	close(dev);
	close(proc);
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "--lifetimes-exec-target"))
		return exec_target_main(atoi(argv[2]));
	/* Thousands of calls under the emulator with KASAN: more than the default 30 s. */
	_thousands_of_opens_and_attaches_give_every_reference_back_object.timeout = 600;
	_reads_on_one_shared_file_serialise_the_position_object.timeout = 300;
	_huge_sparse_read_stops_soon_after_sigkill_object.timeout = 600;
	_attach_scan_and_read_race_on_one_file_object.timeout = CHURN_CAP_SECONDS + 60;
	return test_harness_run(argc, argv);
}
