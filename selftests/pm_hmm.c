// SPDX-License-Identifier: GPL-2.0
#include "pm_hmm.h"

long pm_hmm_migrate_to_dev(int hmm, void *p, size_t npages, void *buf)
{
	struct pm_hmm_cmd c = {
		.addr = (uintptr_t)p,
		.ptr = (uintptr_t)buf,
		.npages = npages,
	};

	if (ioctl(hmm, PM_HMM_MIGRATE_TO_DEV, &c))
		return -1;
	return (long)c.cpages;
}
