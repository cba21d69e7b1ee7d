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

TEST_HARNESS_MAIN
