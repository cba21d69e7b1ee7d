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

#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "pm_creds.h"

struct outcome {
	int proc_err; /* 0: the open succeeded */
	int dev_err;  /* 0: the attach succeeded */
};

/* In a child with credentials `c`: open /proc/PID/pagemap, and attach the device to PID. */
static int try_both(const struct pm_creds *c, pid_t target, struct outcome *o)
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
		/*
		 * Opened before the switch: a process that changed its uid is not
		 * dumpable, and may not open the device for itself (it may not
		 * open its own /proc/self/pagemap). The attach decides by the
		 * credentials it is made with.
		 */
		int dev = pm_open_dev();
		char path[64];
		int fd;

		if (pidfd < 0 || dev < 0 || pm_become(c))
			_exit(2);
		snprintf(path, sizeof(path), "/proc/%d/pagemap", target);
		fd = open(path, O_RDONLY);
		r.proc_err = fd < 0 ? errno : 0;
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
	struct pm_creds caller;
	enum pm_target_kind target;
	bool allowed; /* what /proc says on the test kernel, checked as a sanity bound */
};

#define CASE(name, uid_, caps_, userns_, target_, allowed_)                                \
	FIXTURE_VARIANT_ADD(attach, name)                                                   \
	{                                                                                   \
		.caller = { .uid = uid_, .caps = caps_, .userns = userns_ },                  \
		.target = target_, .allowed = allowed_,                                       \
	}

CASE(root_to_nobody, 0, 0, false, PM_T_NOBODY, true);
CASE(root_to_nondumpable, 0, 0, false, PM_T_NOBODY_NONDUMPABLE, true);
CASE(same_uid, PM_NOBODY, 0, false, PM_T_NOBODY, true);
CASE(same_uid_nondumpable, PM_NOBODY, 0, false, PM_T_NOBODY_NONDUMPABLE, false);
CASE(other_uid, PM_NOBODY, 0, false, PM_T_OTHER, false);
CASE(nobody_to_root, PM_NOBODY, 0, false, PM_T_ROOT, false);
CASE(sys_ptrace_to_root, PM_NOBODY, PM_CAPBIT(CAP_SYS_PTRACE), false, PM_T_ROOT, false);
CASE(sys_ptrace_to_other, PM_NOBODY, PM_CAPBIT(CAP_SYS_PTRACE), false, PM_T_OTHER, false);
CASE(perfmon_to_root, PM_NOBODY, PM_CAPBIT(CAP_PERFMON), false, PM_T_ROOT, false);
CASE(perfmon_to_nondumpable_same_uid, PM_NOBODY, PM_CAPBIT(CAP_PERFMON), false,
     PM_T_NOBODY_NONDUMPABLE, false);
CASE(dac_read_search_to_root, PM_NOBODY, PM_CAPBIT(CAP_DAC_READ_SEARCH), false, PM_T_ROOT, false);
CASE(dac_read_search_and_ptrace_to_root, PM_NOBODY,
     PM_CAPBIT(CAP_DAC_READ_SEARCH) | PM_CAPBIT(CAP_SYS_PTRACE), false, PM_T_ROOT, true);
CASE(dac_override_and_perfmon_to_root, PM_NOBODY,
     PM_CAPBIT(CAP_DAC_OVERRIDE) | PM_CAPBIT(CAP_PERFMON), false, PM_T_ROOT, true);
CASE(dac_read_search_and_perfmon_to_other, PM_NOBODY,
     PM_CAPBIT(CAP_DAC_READ_SEARCH) | PM_CAPBIT(CAP_PERFMON), false, PM_T_OTHER, true);
CASE(userns_root_to_root, 0, 0, true, PM_T_ROOT, false);
CASE(userns_root_to_nobody, 0, 0, true, PM_T_NOBODY, false);

/* The attach gives what the open gives, errno included. */
TEST_F(attach, same_outcome_as_opening_proc_pagemap)
{
	struct pm_target t;
	struct outcome o;

	ASSERT_EQ(pm_target_start(variant->target, 0, &t), 0);
	ASSERT_EQ(try_both(&variant->caller, t.pid, &o), 0);
	pm_target_stop(&t);
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
		struct pm_creds nobody = { .uid = PM_NOBODY };
		volatile char *page;
		uint64_t e = 0, p = 0;
		int pidfd, proc;

		if (pm_become(&nobody) || prctl(PR_SET_DUMPABLE, 1))
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
