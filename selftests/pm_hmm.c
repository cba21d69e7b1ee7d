// SPDX-License-Identifier: GPL-2.0
#include "pm_hmm.h"

static long pm_hmm_migrate(int hmm, unsigned long cmd, void *p, size_t npages, void *buf)
{
	struct pm_hmm_cmd c = {
		.addr = (uintptr_t)p,
		.ptr = (uintptr_t)buf,
		.npages = npages,
	};

	if (ioctl(hmm, cmd, &c))
		return -1;
	return (long)c.cpages;
}

long pm_hmm_migrate_to_dev(int hmm, void *p, size_t npages, void *buf)
{
	return pm_hmm_migrate(hmm, PM_HMM_MIGRATE_TO_DEV, p, npages, buf);
}

long pm_hmm_migrate_to_sys(int hmm, void *p, size_t npages, void *buf)
{
	return pm_hmm_migrate(hmm, PM_HMM_MIGRATE_TO_SYS, p, npages, buf);
}
