// SPDX-License-Identifier: GPL-2.0
/*
 * Attaching by pidfd grants exactly what opening /proc/PID/pagemap grants.
 * For each combination of caller credentials (uid, capabilities, user
 * namespace) and target (root, another user, non-dumpable), a child with
 * those credentials opens /proc/PID/pagemap and attaches the device to the
 * same process; both must succeed, or both fail with the same errno. And a
 * descriptor never shows frame numbers /proc would not show its attacher.
 */
#include "pm_common.h"

#include <grp.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest_harness.h"

#define NOBODY 65534
#define OTHER 1000

#define CAPBIT(c) (1ULL << (c))

enum target { T_ROOT, T_NOBODY, T_NOBODY_NONDUMPABLE, T_OTHER };

struct creds {
	uid_t uid;
	uint64_t caps; /* effective and permitted after the switch (uid 0 keeps all) */
	bool userns;   /* unshare a user namespace first (as root: full caps inside it) */
};

static int set_caps(uint64_t caps)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = {};

	d[0].effective = d[0].permitted = (uint32_t)caps;
	d[1].effective = d[1].permitted = (uint32_t)(caps >> 32);
	return syscall(SYS_capset, &h, d);
}

/* Become `c`; 0 or -1. Root keeps its capabilities only when asked to. */
static int become(const struct creds *c)
{
	if (c->userns)
		return unshare(CLONE_NEWUSER);
	if (!c->uid)
		return 0;
	if (prctl(PR_SET_KEEPCAPS, 1) || setgroups(0, NULL))
		return -1;
	if (setresgid(c->uid, c->uid, c->uid) || setresuid(c->uid, c->uid, c->uid))
		return -1;
	return set_caps(c->caps);
}

/* A child that becomes the target and sleeps; its pid, or -1. */
static pid_t start_target(enum target t)
{
	int ready[2];
	pid_t pid;
	char c;

	if (pipe(ready))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		uid_t uid = t == T_ROOT ? 0 : t == T_OTHER ? OTHER : NOBODY;

		if (uid && (setresgid(uid, uid, uid) || setresuid(uid, uid, uid)))
			_exit(1);
		/* A change of uid makes a process non-dumpable; undo that unless asked. */
		if (prctl(PR_SET_DUMPABLE, t != T_NOBODY_NONDUMPABLE))
			_exit(1);
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1) {
		close(ready[0]);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	close(ready[0]);
	return pid;
}

static void stop_target(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

struct outcome {
	int proc_err; /* 0: the open succeeded */
	int dev_err;  /* 0: the attach succeeded */
};

/* In a child with credentials `c`: open /proc/PID/pagemap, and attach the device to PID. */
static int try_both(const struct creds *c, pid_t target, struct outcome *o)
{
	int pipefd[2];
	pid_t pid;
	int status;

	if (pipe(pipefd))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		struct outcome r = { -1, -1 };
		int pidfd = syscall(SYS_pidfd_open, target, 0);
		char path[64];
		int fd, dev;

		if (pidfd < 0 || become(c))
			_exit(2);
		snprintf(path, sizeof(path), "/proc/%d/pagemap", target);
		fd = open(path, O_RDONLY);
		r.proc_err = fd < 0 ? errno : 0;
		dev = pm_open_dev();
		if (dev < 0)
			_exit(3);
		r.dev_err = ioctl(dev, RPM_IOC_ATTACH_PIDFD, pidfd) ? errno : 0;
		if (write(pipefd[1], &r, sizeof(r)) != sizeof(r))
			_exit(4);
		_exit(0);
	}
	close(pipefd[1]);
	if (read(pipefd[0], o, sizeof(*o)) != sizeof(*o))
		o->proc_err = o->dev_err = -1;
	close(pipefd[0]);
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return -1;
	return 0;
}

FIXTURE(attach) {};
FIXTURE_SETUP(attach)
{
	ASSERT_EQ(geteuid(), 0) TH_LOG("the credential matrix needs root to set it up");
}
FIXTURE_TEARDOWN(attach) {}

FIXTURE_VARIANT(attach)
{
	struct creds caller;
	enum target target;
	bool allowed; /* what /proc says on the test kernel, checked as a sanity bound */
};

#define CASE(name, uid_, caps_, userns_, target_, allowed_)                                \
	FIXTURE_VARIANT_ADD(attach, name)                                                   \
	{                                                                                   \
		.caller = { .uid = uid_, .caps = caps_, .userns = userns_ },                  \
		.target = target_, .allowed = allowed_,                                       \
	}

CASE(root_to_nobody, 0, 0, false, T_NOBODY, true);
CASE(root_to_nondumpable, 0, 0, false, T_NOBODY_NONDUMPABLE, true);
CASE(same_uid, NOBODY, 0, false, T_NOBODY, true);
CASE(same_uid_nondumpable, NOBODY, 0, false, T_NOBODY_NONDUMPABLE, false);
CASE(other_uid, NOBODY, 0, false, T_OTHER, false);
CASE(nobody_to_root, NOBODY, 0, false, T_ROOT, false);
CASE(sys_ptrace_to_root, NOBODY, CAPBIT(CAP_SYS_PTRACE), false, T_ROOT, false);
CASE(sys_ptrace_to_other, NOBODY, CAPBIT(CAP_SYS_PTRACE), false, T_OTHER, false);
CASE(perfmon_to_root, NOBODY, CAPBIT(CAP_PERFMON), false, T_ROOT, false);
CASE(perfmon_to_nondumpable_same_uid, NOBODY, CAPBIT(CAP_PERFMON), false,
     T_NOBODY_NONDUMPABLE, false);
CASE(dac_read_search_to_root, NOBODY, CAPBIT(CAP_DAC_READ_SEARCH), false, T_ROOT, false);
CASE(dac_read_search_and_ptrace_to_root, NOBODY,
     CAPBIT(CAP_DAC_READ_SEARCH) | CAPBIT(CAP_SYS_PTRACE), false, T_ROOT, true);
CASE(dac_override_and_perfmon_to_root, NOBODY, CAPBIT(CAP_DAC_OVERRIDE) | CAPBIT(CAP_PERFMON),
     false, T_ROOT, true);
CASE(dac_read_search_and_perfmon_to_other, NOBODY,
     CAPBIT(CAP_DAC_READ_SEARCH) | CAPBIT(CAP_PERFMON), false, T_OTHER, true);
CASE(userns_root_to_root, 0, 0, true, T_ROOT, false);
CASE(userns_root_to_nobody, 0, 0, true, T_NOBODY, false);

/* The attach gives what the open gives, errno included. */
TEST_F(attach, same_outcome_as_opening_proc_pagemap)
{
	struct outcome o;
	pid_t t = start_target(variant->target);

	ASSERT_GT(t, 0);
	ASSERT_EQ(try_both(&variant->caller, t, &o), 0);
	stop_target(t);
	TH_LOG("open /proc/PID/pagemap: %s; attach: %s", strerror(o.proc_err),
	       strerror(o.dev_err));
	/* The matrix must exercise what it claims: /proc's own answer is known. */
	ASSERT_EQ(o.proc_err == 0, variant->allowed);
	EXPECT_EQ(o.dev_err, o.proc_err);
}

/*
 * Frame numbers follow whoever attached: a descriptor root opened, handed to
 * an unprivileged process and attached by it to itself, shows no PFN -- as
 * /proc/self/pagemap opened by that process shows none.
 */
TEST(pfn_hidden_after_unprivileged_attach)
{
	int dev = pm_open_dev();
	int status;
	pid_t pid;

	ASSERT_EQ(geteuid(), 0);
	ASSERT_GE(dev, 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		struct creds nobody = { .uid = NOBODY };
		volatile char *page;
		uint64_t e = 0, p = 0;
		int pidfd, proc;

		if (become(&nobody) || prctl(PR_SET_DUMPABLE, 1))
			_exit(10);
		page = mmap(NULL, PM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			    0);
		if (page == MAP_FAILED)
			_exit(11);
		page[0] = 1;
		pidfd = syscall(SYS_pidfd_open, getpid(), 0);
		if (pidfd < 0 || ioctl(dev, RPM_IOC_ATTACH_PIDFD, pidfd))
			_exit(12);
		proc = pm_open_proc();
		if (proc < 0 || pm_read_entries(proc, (uintptr_t)page, 1, &p) ||
		    pm_read_entries(dev, (uintptr_t)page, 1, &e))
			_exit(13);
		if (!(p & RPM_PRESENT) || (p & RPM_PFRAME_MASK))
			_exit(14); /* the oracle itself must show a present page without PFN */
		_exit(e == p ? 0 : 15);
	}
	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(WEXITSTATUS(status), 0);
	close(dev);
}

/* Root attaching a descriptor to another process sees frame numbers, as /proc shows root. */
TEST(pfn_shown_after_root_attach)
{
	volatile char *page = mmap(NULL, PM_PAGE, PROT_READ | PROT_WRITE,
				   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int dev = pm_open_dev();
	int proc = pm_open_proc();
	uint64_t e = 0, p = 0;
	int pidfd;

	ASSERT_EQ(geteuid(), 0);
	ASSERT_NE(page, MAP_FAILED);
	ASSERT_GE(dev, 0);
	ASSERT_GE(proc, 0);
	page[0] = 1;
	pidfd = syscall(SYS_pidfd_open, getpid(), 0);
	ASSERT_GE(pidfd, 0);
	ASSERT_EQ(ioctl(dev, RPM_IOC_ATTACH_PIDFD, pidfd), 0);
	ASSERT_EQ(pm_read_entries(proc, (uintptr_t)page, 1, &p), 0);
	ASSERT_EQ(pm_read_entries(dev, (uintptr_t)page, 1, &e), 0);
	ASSERT_NE(p & RPM_PFRAME_MASK, 0);
	EXPECT_EQ(e, p);
}

TEST_HARNESS_MAIN
