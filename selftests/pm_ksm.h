/* SPDX-License-Identifier: GPL-2.0 */
/*
 * KSM for the tests: ksmd set to scan as fast as it can, and a wait, by count,
 * until an area's pages read merged in /proc/self/pagemap.
 */
#ifndef PM_KSM_H
#define PM_KSM_H

#include "pm_common.h"

#define PM_KSM_DIR "/sys/kernel/mm/ksm/"

/* The knobs pm_ksm_start() changes, as they were, to be put back. */
struct pm_ksm_knobs {
	bool saved;
	char run[32], pages_to_scan[32], sleep_millisecs[32], use_zero_pages[32];
};

/* Whether the kernel has KSM (CONFIG_KSM: its sysfs directory). */
bool pm_have_ksm(void);

/*
 * Save the knobs into `k`, then run ksmd without sleeping between batches of
 * many pages, merging pages of zeros with the zero page when `zero_pages`
 * (use_zero_pages). false when a knob cannot be read or written.
 */
bool pm_ksm_start(struct pm_ksm_knobs *k, bool zero_pages);

/* Put the knobs saved by pm_ksm_start() back (nothing if none were saved). */
void pm_ksm_restore(const struct pm_ksm_knobs *k);

/*
 * How many of the `n` pages at `p` read merged in /proc (`proc`, opened with
 * CAP_SYS_ADMIN): present, not mapped exclusively, and mapping frame `pfn`
 * (0: the frame of the first page). -1 if the read fails.
 */
long pm_ksm_merged(int proc, const void *p, size_t n, uint64_t pfn);

/*
 * Wait until all `n` pages at `p` read merged (pm_ksm_merged()), polling; gives
 * up after `cap_seconds`. Returns the count last read: `n` when merged.
 */
long pm_ksm_wait_merged(int proc, const void *p, size_t n, uint64_t pfn, int cap_seconds);

#endif
