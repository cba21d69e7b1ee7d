// SPDX-License-Identifier: GPL-2.0
/*
 * librpm_redirect.so itself, run under it (guest-others.sh starts it with
 * LD_PRELOAD; without the library every "is the device" check fails).
 * Each spelling of a pagemap open must give a descriptor of the device bound
 * to the right process, in the slot and with the flags the real open gives;
 * failures must be the real open's; clear_refs "4" must clear soft-dirty and
 * other values must reach clear_refs; nothing else may change. The oracle is
 * /proc itself, opened with a raw openat syscall the library cannot see.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/fs.h>

#include "../../uapi/rust_pagemap.h"
#include "kselftest_harness.h"

#define PG 4096UL

/* glibc's _FORTIFY_SOURCE entry points: declared here to call them directly. */
int __open_2(const char *path, int flags);
int __open64_2(const char *path, int flags);
int __openat_2(int dirfd, const char *path, int flags);
int __openat64_2(int dirfd, const char *path, int flags);
FILE *fopen64(const char *path, const char *mode);
int open64(const char *path, int flags, ...);
int openat64(int dirfd, const char *path, int flags, ...);

/* /proc as it is: an open the library does not intercept. */
static int raw_open(const char *path, int flags)
{
	return syscall(SYS_openat, AT_FDCWD, path, flags, 0);
}

static uint64_t read_entry(int fd, const void *addr)
{
	uint64_t e = 0;

	if (pread(fd, &e, 8, (uintptr_t)addr / PG * 8) != 8)
		return ~0ULL;
	return e;
}

/* Is FD a descriptor of the device? */
static int is_device(int fd)
{
	struct stat a, b;

	if (fstat(fd, &a) || stat(RUST_PAGEMAP_DEV, &b))
		return 0;
	return S_ISCHR(a.st_mode) && a.st_rdev == b.st_rdev;
}

/* A written page; its /proc entry (present, PFN as root) is the reference. */
static char *written_page(void)
{
	char *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED)
		p[0] = 1;
	return p;
}

/* FD reads the entry /proc/self/pagemap has for a written page. */
static int reads_self(int fd)
{
	char *p = written_page();
	int proc = raw_open("/proc/self/pagemap", O_RDONLY);
	uint64_t want = read_entry(proc, p), got = read_entry(fd, p);

	close(proc);
	munmap(p, PG);
	return want != ~0ULL && (want & RPM_PRESENT) && got == want;
}

static void check_self(struct __test_metadata *_metadata, int fd)
{
	ASSERT_GE(fd, 0);
	EXPECT_TRUE(is_device(fd));
	EXPECT_TRUE(reads_self(fd));
	close(fd);
}

TEST(open_proc_self)
{
	check_self(_metadata, open("/proc/self/pagemap", O_RDONLY));
}

TEST(open64_proc_self)
{
	check_self(_metadata, open64("/proc/self/pagemap", O_RDONLY));
}

TEST(open_thread_self)
{
	check_self(_metadata, open("/proc/thread-self/pagemap", O_RDONLY));
}

TEST(open_own_pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/pagemap", getpid());
	check_self(_metadata, open(path, O_RDONLY));
}

TEST(open_task_tid)
{
	char path[96];

	snprintf(path, sizeof(path), "/proc/%d/task/%d/pagemap", getpid(), gettid());
	check_self(_metadata, open(path, O_RDONLY));
}

TEST(openat_dirfd)
{
	int dir = open("/proc/self", O_RDONLY | O_DIRECTORY);

	ASSERT_GE(dir, 0);
	check_self(_metadata, openat(dir, "pagemap", O_RDONLY));
	check_self(_metadata, openat64(dir, "pagemap", O_RDONLY));
	close(dir);
}

TEST(openat_cwd_relative)
{
	char cwd[4096];

	ASSERT_NE(NULL, getcwd(cwd, sizeof(cwd)));
	ASSERT_EQ(0, chdir("/proc/self/task"));
	check_self(_metadata, openat(AT_FDCWD, "../pagemap", O_RDONLY));
	ASSERT_EQ(0, chdir(cwd));
}

TEST(fortify_entry_points)
{
	int dir = open("/proc/self", O_RDONLY | O_DIRECTORY);

	ASSERT_GE(dir, 0);
	check_self(_metadata, __open_2("/proc/self/pagemap", O_RDONLY));
	check_self(_metadata, __open64_2("/proc/self/pagemap", O_RDONLY));
	check_self(_metadata, __openat_2(dir, "pagemap", O_RDONLY));
	check_self(_metadata, __openat64_2(dir, "pagemap", O_RDONLY));
	close(dir);
}

TEST(fopen_reads_device)
{
	const char *modes[] = { "r", "re" };

	for (int i = 0; i < 2; i++) {
		FILE *f = i ? fopen64("/proc/self/pagemap", modes[i]) :
			      fopen("/proc/self/pagemap", modes[i]);
		char *p = written_page();
		int proc = raw_open("/proc/self/pagemap", O_RDONLY);
		uint64_t want = read_entry(proc, p), got = 0;

		ASSERT_NE(NULL, f);
		EXPECT_TRUE(is_device(fileno(f)));
		ASSERT_EQ(0, fseeko(f, (uintptr_t)p / PG * 8, SEEK_SET));
		ASSERT_EQ(1, fread(&got, 8, 1, f));
		EXPECT_EQ(want, got);
		EXPECT_EQ(i ? FD_CLOEXEC : 0, fcntl(fileno(f), F_GETFD));
		fclose(f);
		close(proc);
		munmap(p, PG);
	}
}

/* The descriptor lands in the slot the real open chose, with its O_CLOEXEC. */
TEST(same_slot_and_cloexec)
{
	int probe = raw_open("/proc/self/pagemap", O_RDONLY), fd;

	ASSERT_GE(probe, 0);
	close(probe);
	fd = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	EXPECT_EQ(probe, fd);
	EXPECT_TRUE(is_device(fd));
	EXPECT_EQ(FD_CLOEXEC, fcntl(fd, F_GETFD));
	close(fd);
	fd = open("/proc/self/pagemap", O_RDONLY);
	EXPECT_EQ(0, fcntl(fd, F_GETFD));
	close(fd);
}

/* Another process: the device is attached to it and reads what /proc reads. */
TEST(other_pid_attached)
{
	char *p = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int ready[2], fd, proc;
	char path[64], c;
	char *priv;
	pid_t child;

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, pipe(ready));
	/* a private page only the child writes: absent in the parent */
	priv = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, priv);
	child = fork();
	ASSERT_GE(child, 0);
	if (!child) {
		priv[0] = 1;
		if (write(ready[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	ASSERT_EQ(1, read(ready[0], &c, 1));
	snprintf(path, sizeof(path), "/proc/%d/pagemap", child);
	fd = open(path, O_RDONLY);
	proc = raw_open(path, O_RDONLY);
	ASSERT_GE(fd, 0);
	ASSERT_GE(proc, 0);
	EXPECT_TRUE(is_device(fd));
	EXPECT_TRUE(read_entry(proc, priv) & RPM_PRESENT);
	EXPECT_EQ(read_entry(proc, priv), read_entry(fd, priv));
	/* and not the parent's view: there the page is absent */
	close(proc);
	proc = raw_open("/proc/self/pagemap", O_RDONLY);
	EXPECT_FALSE(read_entry(proc, priv) & RPM_PRESENT);
	close(fd);
	close(proc);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
}

/* A refused open stays refused, with the real errno, and leaks nothing. */
TEST(denied_open_keeps_errno)
{
	pid_t child = fork();
	int status;

	ASSERT_GE(child, 0);
	if (!child) {
		int raw_errno, fd, next;

		if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
			_exit(10);
		fd = raw_open("/proc/1/pagemap", O_RDONLY);
		raw_errno = errno;
		if (fd >= 0)
			_exit(11);
		next = raw_open("/dev/null", O_RDONLY);
		close(next);
		errno = 0;
		fd = open("/proc/1/pagemap", O_RDONLY);
		if (fd >= 0)
			_exit(12);
		if (errno != raw_errno)
			_exit(13);
		/* nothing left open behind the failure */
		if (raw_open("/dev/null", O_RDONLY) != next)
			_exit(14);
		_exit(0);
	}
	ASSERT_EQ(child, waitpid(child, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST(missing_pid_keeps_errno)
{
	int fd;

	errno = 0;
	fd = open("/proc/2147483647/pagemap", O_RDONLY);
	EXPECT_EQ(-1, fd);
	EXPECT_EQ(ENOENT, errno);
}

/* Other procfs files and O_PATH opens are not redirected. */
TEST(others_untouched)
{
	int maps = open("/proc/self/maps", O_RDONLY);
	int path = open("/proc/self/pagemap", O_PATH);
	struct stat st;

	ASSERT_GE(maps, 0);
	ASSERT_GE(path, 0);
	EXPECT_FALSE(is_device(maps));
	ASSERT_EQ(0, fstat(path, &st));
	EXPECT_TRUE(S_ISREG(st.st_mode));
	close(maps);
	close(path);
}

/* PAGEMAP_SCAN on a redirected descriptor answers as on /proc. */
TEST(pagemap_scan_works)
{
	char *p = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct page_region a[8], b[8];
	struct pm_scan_arg arg = {
		.size = sizeof(arg), .start = (uintptr_t)p, .end = (uintptr_t)p + 8 * PG,
		.category_anyof_mask = PAGE_IS_PRESENT, .return_mask = PAGE_IS_PRESENT,
		.vec_len = 8,
	};
	int fd = open("/proc/self/pagemap", O_RDONLY);
	int proc = raw_open("/proc/self/pagemap", O_RDONLY);
	long na, nb;

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_TRUE(is_device(fd));
	p[0] = p[3 * PG] = p[4 * PG] = 1;
	arg.vec = (uintptr_t)a;
	na = ioctl(proc, PAGEMAP_SCAN, &arg);
	arg.vec = (uintptr_t)b;
	nb = ioctl(fd, PAGEMAP_SCAN, &arg);
	EXPECT_EQ(2, na);
	ASSERT_EQ(na, nb);
	EXPECT_EQ(0, memcmp(a, b, na * sizeof(a[0])));
	close(fd);
	close(proc);
	munmap(p, 8 * PG);
}

/* A page written, then soft-dirty cleared by writing VALUE to clear_refs. */
static uint64_t after_clear_refs(const char *value, ssize_t *ret, int flags)
{
	char *p = written_page();
	int proc = raw_open("/proc/self/pagemap", O_RDONLY);
	int fd = open("/proc/self/clear_refs", flags);
	uint64_t e;

	*ret = fd < 0 ? -2 : write(fd, value, strlen(value));
	e = read_entry(proc, p);
	close(fd);
	close(proc);
	munmap(p, PG);
	return e;
}

TEST(clear_refs_4_clears_soft_dirty)
{
	ssize_t ret;
	uint64_t e = after_clear_refs("4", &ret, O_WRONLY);

	EXPECT_EQ(1, ret);
	EXPECT_TRUE(e & RPM_PRESENT);
	EXPECT_FALSE(e & RPM_SOFT_DIRTY);
	e = after_clear_refs(" 4\n", &ret, O_WRONLY);
	EXPECT_EQ(3, ret);
	EXPECT_FALSE(e & RPM_SOFT_DIRTY);
}

TEST(clear_refs_other_values_pass_through)
{
	ssize_t ret;
	uint64_t e = after_clear_refs("1", &ret, O_WRONLY);

	EXPECT_EQ(1, ret);
	EXPECT_TRUE(e & RPM_SOFT_DIRTY);
	/* what clear_refs says to a value it does not know */
	errno = 0;
	e = after_clear_refs("9", &ret, O_WRONLY);
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EINVAL, errno);
	EXPECT_TRUE(e & RPM_SOFT_DIRTY);
}

/* A descriptor not open for writing cannot clear: EBADF, as write(2) says. */
TEST(clear_refs_read_only_descriptor)
{
	ssize_t ret;
	uint64_t e;

	errno = 0;
	e = after_clear_refs("4", &ret, O_RDONLY);
	if (ret == -2)
		SKIP(return, "clear_refs cannot be opened read-only here");
	EXPECT_EQ(-1, ret);
	EXPECT_EQ(EBADF, errno);
	EXPECT_TRUE(e & RPM_SOFT_DIRTY);
}

TEST(clear_refs_through_stdio)
{
	char *p = written_page();
	int proc = raw_open("/proc/self/pagemap", O_RDONLY);
	FILE *f = fopen("/proc/self/clear_refs", "w");

	ASSERT_NE(NULL, f);
	EXPECT_TRUE(read_entry(proc, p) & RPM_SOFT_DIRTY);
	EXPECT_LT(0, fputs("4", f));
	EXPECT_EQ(0, fclose(f));
	EXPECT_FALSE(read_entry(proc, p) & RPM_SOFT_DIRTY);
	close(proc);
	munmap(p, PG);
}

/* clear_refs of another process clears that process, not the writer. */
TEST(clear_refs_other_pid)
{
	char *mine = written_page();
	char *shared = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int go[2], done[2], proc, fd;
	char path[64], c;
	pid_t child;
	uint64_t e;

	ASSERT_NE(MAP_FAILED, shared);
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(done));
	child = fork();
	ASSERT_GE(child, 0);
	if (!child) {
		int self = raw_open("/proc/self/pagemap", O_RDONLY);

		shared[0] = 1; /* written in the child: soft-dirty there */
		if (write(done[1], "x", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		/* after the parent's clear: clean in the child */
		_exit(read_entry(self, shared) & RPM_SOFT_DIRTY ? 2 : 0);
	}
	ASSERT_EQ(1, read(done[0], &c, 1));
	snprintf(path, sizeof(path), "/proc/%d/clear_refs", child);
	fd = open(path, O_WRONLY);
	ASSERT_GE(fd, 0);
	EXPECT_EQ(1, write(fd, "4", 1));
	close(fd);
	ASSERT_EQ(1, write(go[1], "x", 1));
	/* the writer's own page keeps its state */
	proc = raw_open("/proc/self/pagemap", O_RDONLY);
	e = read_entry(proc, mine);
	EXPECT_TRUE(e & RPM_SOFT_DIRTY);
	close(proc);
	{
		int status;

		ASSERT_EQ(child, waitpid(child, &status, 0));
		EXPECT_TRUE(WIFEXITED(status));
		EXPECT_EQ(0, WEXITSTATUS(status));
	}
}

/*
 * What the library remembers about descriptors, seen from a program that
 * copies, closes and reuses them, forks and execs. Each of these tests runs
 * a scenario in a fresh process: this program again (exec, so under the
 * same LD_PRELOAD), as `lib_redirect --scenario NAME`, with
 * RPM_REDIRECT_LOG=1 and its stderr in a memfd, so that the scenario can read
 * the library's log of its own calls (pread on fd 2) and check which clears
 * went to the device and for which process. The scenario checks everything
 * itself and exits 0, or prints what failed ("# ..." on stdout) and exits 1.
 */
static const char *scenario_name;

#define CHECK(cond)                                                                  \
	do {                                                                         \
		if (!(cond)) {                                                       \
			printf("# scenario %s, line %d: failed: %s\n", scenario_name, \
			       __LINE__, #cond);                                      \
			fflush(stdout);                                              \
			_exit(1);                                                    \
		}                                                                    \
	} while (0)

/* Soft-dirty of ADDR in /proc/self/pagemap, read without the library. */
static int soft_dirty(const void *addr)
{
	int proc = raw_open("/proc/self/pagemap", O_RDONLY);
	uint64_t e = read_entry(proc, addr);

	close(proc);
	CHECK(e != ~0ULL && (e & RPM_PRESENT));
	return !!(e & RPM_SOFT_DIRTY);
}

/* Clears of PID the library's log says it put on the device, so far. */
static int device_clears_of(pid_t pid)
{
	static char log[1 << 16];
	char want[96];
	ssize_t n = pread(2, log, sizeof(log) - 1, 0);
	int count = 0;

	CHECK(n >= 0 && n < (ssize_t)sizeof(log) - 1);
	log[n] = 0;
	CHECK(!strstr(log, "stays on /proc"));
	snprintf(want, sizeof(want), "(clear_refs of pid %d, 4) -> RPM_IOC_CLEAR_SOFT_DIRTY_ALL\n",
		 (int)pid);
	for (char *p = strstr(log, want); p; p = strstr(p + 1, want))
		count++;
	return count;
}

/* Descriptors of the device this process has open, and the last one's number. */
static int device_descriptors(int *last)
{
	char link[64], target[64];
	int count = 0;

	for (int fd = 0; fd < 1024; fd++) {
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
		n = readlink(link, target, sizeof(target) - 1);
		if (n <= 0)
			continue;
		target[n] = 0;
		if (!strcmp(target, RUST_PAGEMAP_DEV)) {
			count++;
			*last = fd;
		}
	}
	return count;
}

static int open_clear_refs(const char *path, int flags)
{
	int fd = open(path, O_WRONLY | flags);

	CHECK(fd >= 0);
	return fd;
}

/* A clear through FD that the library must put on the device. */
static void clear_through(int fd)
{
	CHECK(write(fd, "4", 1) == 1);
}

/* A child that writes a page of its own, then waits for a byte on GO. */
struct waiting_child {
	pid_t pid;
	int go, done;
	char *page;
};

static struct waiting_child start_child(void)
{
	struct waiting_child c;
	int go[2], done[2];
	char x;

	CHECK(!pipe(go) && !pipe(done));
	c.page = mmap(NULL, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(c.page != MAP_FAILED);
	c.pid = fork();
	CHECK(c.pid >= 0);
	if (!c.pid) {
		c.page[0] = 1;
		if (write(done[1], "x", 1) != 1 || read(go[0], &x, 1) != 1)
			_exit(2);
		/* exit status: what the parent's last call left of the page */
		_exit(soft_dirty(c.page) ? 10 : 11);
	}
	CHECK(read(done[0], &x, 1) == 1);
	c.go = go[1];
	c.done = done[0];
	return c;
}

/* Ends the child; true if its page was still soft-dirty. */
static int child_page_dirty(struct waiting_child *c)
{
	int status;

	CHECK(write(c->go, "x", 1) == 1);
	CHECK(waitpid(c->pid, &status, 0) == c->pid && WIFEXITED(status));
	CHECK(WEXITSTATUS(status) == 10 || WEXITSTATUS(status) == 11);
	return WEXITSTATUS(status) == 10;
}

/* How a scenario copies a descriptor (clear_refs_duplicate). */
static int duplicate(const char *how, int fd)
{
	if (!strcmp(how, "dup"))
		return dup(fd);
	if (!strcmp(how, "dup2"))
		return dup2(fd, 100);
	if (!strcmp(how, "dup3"))
		return dup3(fd, 101, O_CLOEXEC);
	if (!strcmp(how, "fcntl_dupfd"))
		return fcntl(fd, F_DUPFD, 50);
	if (!strcmp(how, "fcntl_dupfd_cloexec"))
		return fcntl(fd, F_DUPFD_CLOEXEC, 60);
	return -1;
}

/*
 * A copy of a clear_refs descriptor clears through the device like the
 * original, after the original is closed too.
 */
static void scenario_duplicate(const char *how)
{
	int fd = open_clear_refs("/proc/self/clear_refs", 0), copy;
	char *p = written_page();

	clear_through(fd);
	copy = duplicate(how, fd);
	CHECK(copy >= 0 && copy != fd);
	close(fd);
	p[0] = 2;
	CHECK(soft_dirty(p));
	clear_through(copy);
	CHECK(!soft_dirty(p));
	CHECK(device_clears_of(getpid()) == 2);
}

/*
 * The number of a clear_refs descriptor, once the program closed it (by any
 * way, seen by the library or not) and the number went to another file, is
 * that file: a write of "4" writes it, and clears nothing.
 */
static void scenario_number_reused(const char *how)
{
	int fd = open_clear_refs("/proc/self/clear_refs", 0), other;
	char *p = written_page(), got[4] = "";

	clear_through(fd);
	p[0] = 2;
	if (!strcmp(how, "close")) {
		close(fd);
		other = memfd_create("other", 0);
	} else if (!strcmp(how, "raw_close")) {
		syscall(SYS_close, fd);
		other = memfd_create("other", 0);
	} else if (!strcmp(how, "close_range")) {
		syscall(SYS_close_range, fd, fd, 0);
		other = memfd_create("other", 0);
	} else {
		int m = memfd_create("other", 0);

		/* dup2 over it */
		CHECK(m >= 0);
		other = dup2(m, fd);
		close(m);
	}
	CHECK(other == fd);
	CHECK(write(other, "4", 1) == 1);
	CHECK(pread(other, got, sizeof(got), 0) == 1 && got[0] == '4');
	CHECK(soft_dirty(p));
	CHECK(device_clears_of(getpid()) == 1);
}

/* ... and when the number goes to clear_refs of another process, that one. */
static void scenario_number_reused_by_other_pid(void)
{
	int fd = open_clear_refs("/proc/self/clear_refs", 0), other;
	char *p = written_page(), path[64];
	struct waiting_child child = start_child();

	clear_through(fd);
	p[0] = 2;
	close(fd);
	snprintf(path, sizeof(path), "/proc/%d/clear_refs", child.pid);
	other = open_clear_refs(path, 0);
	CHECK(other == fd);
	clear_through(other);
	CHECK(!child_page_dirty(&child));
	CHECK(soft_dirty(p));
	CHECK(device_clears_of(getpid()) == 1);
	CHECK(device_clears_of(child.pid) == 1);
}

/*
 * A child (of fork, or of _Fork, which runs no fork handlers) that opens its
 * own clear_refs clears its own address space, not its parent's, though its
 * parent cleared through the device before.
 */
static void scenario_child_clears_own(const char *how)
{
	int fd = open_clear_refs("/proc/self/clear_refs", 0), status;
	char *p = written_page();
	pid_t child;

	clear_through(fd);
	p[0] = 2;
	child = strcmp(how, "_Fork") ? fork() : _Fork();
	CHECK(child >= 0);
	if (!child) {
		int own = open_clear_refs("/proc/self/clear_refs", 0);

		p[0] = 3; /* the child's own copy */
		clear_through(own);
		_exit(soft_dirty(p) ? 1 : 0);
	}
	CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status));
	CHECK(WEXITSTATUS(status) == 0);
	CHECK(soft_dirty(p));
	CHECK(device_clears_of(getpid()) == 1);
	CHECK(device_clears_of(child) == 1);
}

/*
 * A child that writes to the clear_refs descriptor it inherited clears the
 * process that descriptor names, its parent, as the kernel's file does.
 */
static void scenario_inherited_clears_parent(void)
{
	int fd = open_clear_refs("/proc/self/clear_refs", 0), status;
	char *p = written_page();
	pid_t child;

	clear_through(fd);
	p[0] = 2;
	child = fork();
	CHECK(child >= 0);
	if (!child) {
		char *mine = written_page();

		clear_through(fd);
		_exit(soft_dirty(mine) ? 0 : 1);
	}
	CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status));
	CHECK(WEXITSTATUS(status) == 0);
	CHECK(!soft_dirty(p));
	CHECK(device_clears_of(getpid()) == 2);
	CHECK(device_clears_of(child) == 0);
}

/*
 * A clear_refs descriptor inherited across exec clears through the device
 * in the new program, and the library's own descriptors do not cross exec.
 */
static void scenario_exec(void)
{
	int fd = open_clear_refs("/proc/self/clear_refs", 0);
	char num[16];

	clear_through(fd);
	snprintf(num, sizeof(num), "%d", fd);
	execl("/proc/self/exe", "lib_redirect", "--scenario", "exec_image", num, (char *)NULL);
	CHECK(!"execl");
}

static void scenario_exec_image(const char *num)
{
	int fd = atoi(num), last;
	char *p = written_page();

	CHECK(device_descriptors(&last) == 0);
	clear_through(fd);
	CHECK(!soft_dirty(p));
	CHECK(device_clears_of(getpid()) == 2);
}

/*
 * The library keeps one device descriptor for the clears of its process.
 * When the program closes it (not knowing it is there, as a program that
 * closes every descriptor does) and puts its own descriptor of the device,
 * attached to another process, on that number, the library must neither
 * clear that process nor close the program's descriptor.
 */
static void scenario_own_descriptor_reused(void)
{
	int fd = open_clear_refs("/proc/self/clear_refs", 0), kept, theirs, pidfd;
	char *p = written_page();
	struct waiting_child child = start_child();

	clear_through(fd);
	clear_through(fd);
	CHECK(device_descriptors(&kept) == 1);
	syscall(SYS_close, kept);
	theirs = raw_open(RUST_PAGEMAP_DEV, O_RDONLY);
	pidfd = syscall(SYS_pidfd_open, child.pid, 0);
	CHECK(theirs >= 0 && pidfd >= 0);
	CHECK(!ioctl(theirs, RPM_IOC_ATTACH_PIDFD, pidfd));
	close(pidfd);
	if (theirs != kept) {
		CHECK(syscall(SYS_dup3, theirs, kept, 0) == kept);
		close(theirs);
	}
	p[0] = 2;
	clear_through(fd);
	CHECK(!soft_dirty(p));
	CHECK(child_page_dirty(&child));
	CHECK(fcntl(kept, F_GETFD) == 0);
	CHECK(device_clears_of(getpid()) == 3);
}

static int scenario_main(int argc, char **argv)
{
	const char *arg = argc > 1 ? argv[1] : "";

	scenario_name = argv[0];
	if (!strcmp(argv[0], "duplicate"))
		scenario_duplicate(arg);
	else if (!strcmp(argv[0], "number_reused"))
		scenario_number_reused(arg);
	else if (!strcmp(argv[0], "number_reused_by_other_pid"))
		scenario_number_reused_by_other_pid();
	else if (!strcmp(argv[0], "child_clears_own"))
		scenario_child_clears_own(arg);
	else if (!strcmp(argv[0], "inherited_clears_parent"))
		scenario_inherited_clears_parent();
	else if (!strcmp(argv[0], "exec"))
		scenario_exec();
	else if (!strcmp(argv[0], "exec_image"))
		scenario_exec_image(arg);
	else if (!strcmp(argv[0], "own_descriptor_reused"))
		scenario_own_descriptor_reused();
	else
		CHECK(!"a scenario of that name");
	return 0;
}

/* Runs scenario NAME (with ARG) as described above; its log on failure. */
static void scenario(struct __test_metadata *_metadata, const char *name, const char *arg)
{
	int log = memfd_create("rpm-redirect-log", MFD_CLOEXEC), status;
	char text[4096];
	ssize_t n;
	pid_t pid;

	ASSERT_GE(log, 0);
	fflush(stdout);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		if (dup2(log, 2) != 2 || setenv("RPM_REDIRECT_LOG", "1", 1))
			_exit(126);
		execl("/proc/self/exe", "lib_redirect", "--scenario", name, arg, (char *)NULL);
		_exit(127);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	if (WEXITSTATUS(status)) {
		n = pread(log, text, sizeof(text) - 1, 0);
		text[n > 0 ? n : 0] = 0;
		TH_LOG("scenario %s %s: exit %d; its stderr:\n%s", name, arg, WEXITSTATUS(status),
		       text);
	}
	EXPECT_EQ(0, WEXITSTATUS(status));
	close(log);
}

FIXTURE(clear_refs_duplicate) {};
FIXTURE_VARIANT(clear_refs_duplicate) { const char *how; };
FIXTURE_VARIANT_ADD(clear_refs_duplicate, dup) { .how = "dup" };
FIXTURE_VARIANT_ADD(clear_refs_duplicate, dup2) { .how = "dup2" };
FIXTURE_VARIANT_ADD(clear_refs_duplicate, dup3) { .how = "dup3" };
FIXTURE_VARIANT_ADD(clear_refs_duplicate, fcntl_dupfd) { .how = "fcntl_dupfd" };
FIXTURE_VARIANT_ADD(clear_refs_duplicate, fcntl_dupfd_cloexec) { .how = "fcntl_dupfd_cloexec" };
FIXTURE_SETUP(clear_refs_duplicate) {}
FIXTURE_TEARDOWN(clear_refs_duplicate) {}

TEST_F(clear_refs_duplicate, clears_through_device)
{
	scenario(_metadata, "duplicate", variant->how);
}

FIXTURE(clear_refs_number_reused) {};
FIXTURE_VARIANT(clear_refs_number_reused) { const char *how; };
FIXTURE_VARIANT_ADD(clear_refs_number_reused, close) { .how = "close" };
FIXTURE_VARIANT_ADD(clear_refs_number_reused, raw_close) { .how = "raw_close" };
FIXTURE_VARIANT_ADD(clear_refs_number_reused, close_range) { .how = "close_range" };
FIXTURE_VARIANT_ADD(clear_refs_number_reused, dup2_over_it) { .how = "dup2_over_it" };
FIXTURE_SETUP(clear_refs_number_reused) {}
FIXTURE_TEARDOWN(clear_refs_number_reused) {}

TEST_F(clear_refs_number_reused, is_the_new_file)
{
	scenario(_metadata, "number_reused", variant->how);
}

TEST(clear_refs_number_reused_by_other_pid_clears_that_pid)
{
	scenario(_metadata, "number_reused_by_other_pid", "");
}

FIXTURE(forked_child) {};
FIXTURE_VARIANT(forked_child) { const char *how; };
FIXTURE_VARIANT_ADD(forked_child, fork) { .how = "fork" };
FIXTURE_VARIANT_ADD(forked_child, _Fork) { .how = "_Fork" };
FIXTURE_SETUP(forked_child) {}
FIXTURE_TEARDOWN(forked_child) {}

TEST_F(forked_child, clears_its_own_mm)
{
	scenario(_metadata, "child_clears_own", variant->how);
}

TEST(inherited_clear_refs_clears_the_parent)
{
	scenario(_metadata, "inherited_clears_parent", "");
}

TEST(clear_refs_inherited_across_exec)
{
	scenario(_metadata, "exec", "");
}

TEST(own_device_descriptor_closed_and_number_reused)
{
	scenario(_metadata, "own_descriptor_reused", "");
}

int main(int argc, char **argv)
{
	if (argc > 2 && !strcmp(argv[1], "--scenario"))
		return scenario_main(argc - 2, argv + 2);
	return test_harness_run(argc, argv);
}
