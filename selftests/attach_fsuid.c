// SPDX-License-Identifier: GPL-2.0
/*
 * The owner check of opening /proc/PID/pagemap (generic_permission) compares
 * the caller's filesystem uid, not its effective uid. A root process that sets
 * its fsuid to nobody loses its filesystem capabilities (CAP_DAC_OVERRIDE,
 * CAP_DAC_READ_SEARCH, ...) and no longer owns its own /proc files: it may not
 * open its /proc/self/pagemap, and so may not open the device for itself.
 */
#include "pm_common.h"

#include <sys/fsuid.h>

#include "kselftest_harness.h"
#include "pm_creds.h"

/* Each test runs in a process of its own: the fsuid change does not outlive it. */
TEST(fsuid_not_owner_opens_self_iff_proc_self_pagemap_opens)
{
	int proc, dev, proc_err, dev_err;

	ASSERT_EQ(geteuid(), 0) TH_LOG("the case needs root to set its fsuid");
	setfsuid(PM_NOBODY);
	/* setfsuid answers the fsuid before the call; an invalid id changes nothing. */
	ASSERT_EQ(PM_NOBODY, setfsuid(-1));
	ASSERT_EQ(0, geteuid());
	proc = pm_open_proc();
	proc_err = proc < 0 ? errno : 0;
	dev = pm_open_dev();
	dev_err = dev < 0 ? errno : 0;
	TH_LOG("/proc/self/pagemap: %s; device: %s", strerror(proc_err), strerror(dev_err));
	/* The rule the case is named for, from the kernel itself. */
	ASSERT_EQ(EACCES, proc_err);
	EXPECT_EQ(proc_err, dev_err);
	if (proc >= 0)
		close(proc);
	if (dev >= 0)
		close(dev);
}

TEST_HARNESS_MAIN
