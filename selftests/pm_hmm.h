/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The kernel's HMM test driver (CONFIG_TEST_HMM, lib/test_hmm.c): a device
 * that mirrors the address space of the process that opens it and has
 * device-private memory of its own, into which it can move pages (their CPU
 * entries become device-private entries; a CPU fault moves them back).
 */
#ifndef PM_HMM_H
#define PM_HMM_H

#include "pm_common.h"

#include <linux/types.h>
#include <sys/ioctl.h>

#define PM_HMM_DEV "/dev/hmm_dmirror0"

/* The driver's ABI (lib/test_hmm_uapi.h in the kernel tree). */
struct pm_hmm_cmd {
	__u64 addr;	/* in: user address the device accesses */
	__u64 ptr;	/* in: user buffer the data comes from or goes to */
	__u64 npages;	/* in */
	__u64 cpages;	/* out: pages copied */
	__u64 faults;	/* out: device page faults taken */
};
#define PM_HMM_WRITE _IOWR('H', 0x01, struct pm_hmm_cmd)
#define PM_HMM_MIGRATE_TO_DEV _IOWR('H', 0x02, struct pm_hmm_cmd)
#define PM_HMM_MIGRATE_TO_SYS _IOWR('H', 0x03, struct pm_hmm_cmd)

/*
 * Move the `npages` pages at `p` into the device's memory, through `buf`
 * (npages pages); returns how many moved, or -1 with errno.
 */
long pm_hmm_migrate_to_dev(int hmm, void *p, size_t npages, void *buf);

/* Move the device's pages among the `npages` at `p` back to system memory; the same returns. */
long pm_hmm_migrate_to_sys(int hmm, void *p, size_t npages, void *buf);

#endif
