// SPDX-License-Identifier: GPL-2.0
/*
 * Reading another process: RPM_IOC_ATTACH_PIDFD binds the device to the
 * process a pidfd names, under the rule of opening /proc/PID/pagemap (ptrace
 * read access with the caller's fs credentials). Each permission case is
 * checked against what /proc answers for the same caller and target; the
 * unprivileged cases run in children that drop to uid 65534 ("nobody").
 */
#include "pm_common.h"

#include <grp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest_harness.h"

#define NOBODY 65534
#define OTHER 65533

static int pidfd_open(pid_t pid)
{
	return syscall(SYS_pidfd_open, pid, 0);
}

static int attach(int dev, pid_t pid)
{
	int pidfd = pidfd_open(pid);
	int ret;

	if (pidfd < 0)
		return -1;
	ret = ioctl(dev, RPM_IOC_ATTACH_PIDFD, pidfd);
	close(pidfd);
	return ret;
}

static int open_proc_pagemap(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	return open(path, O_RDONLY);
}

/*
 * Become `uid` for good. Changing credentials makes a process non-dumpable,
 * which would hide even its own /proc files from it; a process started as
 * that user would be dumpable, so this one is made so again.
 */
static bool drop_to(uid_t uid)
{
	return !setgroups(0, NULL) && !setresgid(uid, uid, uid) && !setresuid(uid, uid, uid) &&
	       !prctl(PR_SET_DUMPABLE, 1);
}

/* A child that maps memory of every common kind, tells the parent, and waits to be killed. */
static pid_t spawn_target(uid_t uid, int *ready_fd)
{
	int p[2];
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid == 0) {
		char *anon, *shared, *thp;

		close(p[0]);
		if (uid && !drop_to(uid))
			_exit(1);
		anon = mmap(NULL, 64 * PM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		shared = mmap(NULL, 16 * PM_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		thp = pm_map_aligned(PM_HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
		if (anon == MAP_FAILED || shared == MAP_FAILED || thp == MAP_FAILED)
			_exit(1);
		madvise(thp, PM_HPAGE, MADV_HUGEPAGE);
		pm_touch(anon, 64 * PM_PAGE, 3 * PM_PAGE, true);
		pm_touch(shared, 16 * PM_PAGE, PM_PAGE, true);
		pm_touch(thp, PM_HPAGE, PM_PAGE, true);
		if (write(p[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	*ready_fd = p[0];
	return pid;
}

static bool wait_ready(int fd)
{
	char c;
	bool ok = read(fd, &c, 1) == 1;

	close(fd);
	return ok;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* Run `fn` in a child as `uid`; the child's exit status is the result (0 = pass). */
static int as_user(uid_t uid, int (*fn)(void *), void *arg)
{
	pid_t pid = fork();
	int status;

	if (pid == 0)
		_exit(drop_to(uid) ? fn(arg) : 100);
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

TEST(attach_child_reads_like_proc_pid_pagemap)
{
	int ready, dev = pm_open_dev(), proc;
	pid_t pid = spawn_target(0, &ready);

	ASSERT_GT(pid, 0);
	ASSERT_TRUE(wait_ready(ready));
	ASSERT_GE(dev, 0);
	ASSERT_EQ(0, attach(dev, pid));
	proc = open_proc_pagemap(pid);
	ASSERT_GE(proc, 0);
	EXPECT_EQ(0, pm_compare_all_maps_of(pid, proc, dev, 16));
	close(proc);
	close(dev);
	reap(pid);
}

TEST(attach_exited_target_reads_eof)
{
	int ready, dev = pm_open_dev();
	pid_t pid = spawn_target(0, &ready);
	uint64_t e;

	ASSERT_GT(pid, 0);
	ASSERT_TRUE(wait_ready(ready));
	ASSERT_EQ(0, attach(dev, pid));
	reap(pid);
	EXPECT_EQ(0, pread(dev, &e, 8, 0));
	/* End of file comes before the alignment check, as in /proc. */
	EXPECT_EQ(0, pread(dev, &e, 3, 1));
	close(dev);
}

TEST(attach_rejects_non_pidfd)
{
	int dev = pm_open_dev();
	int p[2];

	ASSERT_EQ(0, pipe(p));
	EXPECT_EQ(-1, ioctl(dev, RPM_IOC_ATTACH_PIDFD, p[0]));
	EXPECT_EQ(EBADF, errno);
	EXPECT_EQ(-1, ioctl(dev, RPM_IOC_ATTACH_PIDFD, 987654));
	EXPECT_EQ(EBADF, errno);
	close(dev);
}

TEST(unknown_ioctl_is_einval_like_proc)
{
	int dev = pm_open_dev(), proc = pm_open_proc();

	errno = 0;
	EXPECT_EQ(-1, ioctl(proc, _IO('R', 0x7f), 0));
	EXPECT_EQ(EINVAL, errno);
	errno = 0;
	EXPECT_EQ(-1, ioctl(dev, _IO('R', 0x7f), 0));
	EXPECT_EQ(EINVAL, errno);
	close(dev);
	close(proc);
}

struct perm_case {
	pid_t target;
	bool expect_ok;
};

/* In a child of another uid: attach and /proc open must agree, and match the expectation. */
static int try_attach(void *arg)
{
	struct perm_case *c = arg;
	int dev = pm_open_dev(), proc, dev_err, proc_err, dev_ret;

	if (dev < 0)
		return 10;
	errno = 0;
	dev_ret = attach(dev, c->target);
	dev_err = dev_ret ? errno : 0;
	errno = 0;
	proc = open_proc_pagemap(c->target);
	proc_err = proc < 0 ? errno : 0;
	if (dev_err != proc_err)
		return 11;
	if (c->expect_ok != (dev_ret == 0))
		return 12;
	if (!c->expect_ok && dev_err != EACCES)
		return 13;
	if (c->expect_ok && pm_compare_all_maps_of(c->target, proc, dev, 4) != 0)
		return 14;
	return 0;
}

TEST(unprivileged_cannot_attach_to_root_process)
{
	int ready;
	pid_t pid = spawn_target(0, &ready);
	struct perm_case c = { .target = pid, .expect_ok = false };

	ASSERT_GT(pid, 0);
	ASSERT_TRUE(wait_ready(ready));
	EXPECT_EQ(0, as_user(NOBODY, try_attach, &c));
	reap(pid);
}

TEST(unprivileged_cannot_attach_to_other_user)
{
	int ready;
	pid_t pid = spawn_target(OTHER, &ready);
	struct perm_case c = { .target = pid, .expect_ok = false };

	ASSERT_GT(pid, 0);
	ASSERT_TRUE(wait_ready(ready));
	EXPECT_EQ(0, as_user(NOBODY, try_attach, &c));
	reap(pid);
}

TEST(unprivileged_can_attach_to_own_user)
{
	int ready;
	pid_t pid = spawn_target(NOBODY, &ready);
	struct perm_case c = { .target = pid, .expect_ok = true };

	ASSERT_GT(pid, 0);
	ASSERT_TRUE(wait_ready(ready));
	EXPECT_EQ(0, as_user(NOBODY, try_attach, &c));
	reap(pid);
}

TEST(root_can_attach_to_other_user)
{
	int ready, dev = pm_open_dev(), proc;
	pid_t pid = spawn_target(OTHER, &ready);

	ASSERT_GT(pid, 0);
	ASSERT_TRUE(wait_ready(ready));
	ASSERT_EQ(0, attach(dev, pid));
	proc = open_proc_pagemap(pid);
	ASSERT_GE(proc, 0);
	EXPECT_EQ(0, pm_compare_all_maps_of(pid, proc, dev, 4));
	close(proc);
	close(dev);
	reap(pid);
}

/* Unprivileged, own memory: the device shows what /proc shows, and never a frame. */
static int read_own_without_pfn(void *arg)
{
	int dev = pm_open_dev(), proc = pm_open_proc();
	char *p = mmap(NULL, 64 * PM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t e[64];

	(void)arg;
	if (dev < 0 || proc < 0 || p == MAP_FAILED)
		return 10;
	pm_touch(p, 64 * PM_PAGE, PM_PAGE, true);
	madvise(p, 32 * PM_PAGE, MADV_PAGEOUT);
	if (pm_read_entries(dev, (uintptr_t)p, 64, e))
		return 11;
	for (int i = 0; i < 64; i++) {
		if (!(e[i] & (RPM_PRESENT | RPM_SWAP)))
			return 12;
		if (e[i] & RPM_PFRAME_MASK)
			return 13;
	}
	if (pm_compare_all_maps(proc, dev, 16))
		return 14;
	return 0;
}

TEST(unprivileged_reader_never_sees_a_frame)
{
	EXPECT_EQ(0, as_user(NOBODY, read_own_without_pfn, NULL));
}

/*
 * Opened with CAP_SYS_ADMIN, read after dropping it: the opener's credentials
 * decide, for both files. Runs in a child that opens both as root, then
 * becomes nobody.
 */
static int frames_after_dropping_privileges(void)
{
	int proc = pm_open_proc(), dev = pm_open_dev();
	char *p;
	uint64_t e[16];

	if (proc < 0 || dev < 0 || !drop_to(NOBODY))
		return 10;
	p = mmap(NULL, 16 * PM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return 11;
	pm_touch(p, 16 * PM_PAGE, PM_PAGE, true);
	if (pm_read_entries(dev, (uintptr_t)p, 16, e))
		return 12;
	for (int i = 0; i < 16; i++)
		if (!(e[i] & RPM_PFRAME_MASK))
			return 13;
	return pm_compare_around(proc, dev, p, 16 * PM_PAGE, 16) ? 14 : 0;
}

TEST(frame_visibility_is_decided_by_the_opener)
{
	pid_t pid = fork();
	int status;

	ASSERT_GE(pid, 0);
	if (pid == 0)
		_exit(frames_after_dropping_privileges());
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
}

TEST_HARNESS_MAIN
