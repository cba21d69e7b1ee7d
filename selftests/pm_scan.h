/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the PAGEMAP_SCAN selftests: run one scan through a file, run the
 * same scan through /proc/self/pagemap (the oracle) and /dev/rust_pagemap and
 * compare everything the caller can observe (return value or errno, the
 * regions, walk_end), and set up userfaultfd asynchronous write-protection.
 */
#ifndef PM_SCAN_H
#define PM_SCAN_H

#include "pm_common.h"
#include "pm_uffd.h"

#include <linux/fs.h>
#include <sys/ioctl.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25
#endif

#define PM_ALL_CATEGORIES                                                                  \
	(PAGE_IS_WPALLOWED | PAGE_IS_WRITTEN | PAGE_IS_FILE | PAGE_IS_PRESENT |            \
	 PAGE_IS_SWAPPED | PAGE_IS_PFNZERO | PAGE_IS_HUGE | PAGE_IS_SOFT_DIRTY |           \
	 PAGE_IS_GUARD | PAGE_IS_ACCESSED)

#define PM_MAX_REGIONS 4096

/* What one scan returned: the ioctl's value (or -errno), walk_end, and the regions. */
struct pm_scan_result {
	long ret;
	uint64_t walk_end;
	long n;
	struct page_region r[PM_MAX_REGIONS];
};

/* A scan request with the fields a test varies; size is always right. */
struct pm_scan_arg pm_scan_req(uintptr_t start, uintptr_t end, uint64_t flags,
			       uint64_t inverted, uint64_t mask, uint64_t anyof,
			       uint64_t ret_mask);

/*
 * Run `req` through `fd` with room for `vec_len` regions (at most PM_MAX_REGIONS)
 * in `res`. Unused slots are filled with a pattern first so that a region the
 * ioctl did not write is never mistaken for one it did.
 */
void pm_scan_run(int fd, const struct pm_scan_arg *req, uint64_t vec_len,
		 struct pm_scan_result *res);

/* Print a result as TAP comments, at most `max` regions of it. */
void pm_scan_print(const char *who, const struct pm_scan_result *res, long max);

/*
 * Whether two results are the same once addresses are taken relative to `base_a`
 * and `base_b` (0 and 0 for scans of the same memory). A walk_end outside the
 * scanned memory (the range end, a sentinel) must be equal as is.
 */
bool pm_scan_same(const struct pm_scan_result *a, uintptr_t base_a,
		  const struct pm_scan_result *b, uintptr_t base_b);

/* Print a request as a TAP comment. */
void pm_scan_print_args(const struct pm_scan_arg *a, uint64_t vec_len);

/*
 * Run a scan that changes nothing (no PM_SCAN_WP_MATCHING) through both files on
 * the same memory and compare. A difference is forgiven only when /proc's own
 * answer changed too: /proc runs before and after the device, and only if those
 * two differ (the memory changed state meanwhile: reclaim, a kernel thread) is
 * the whole comparison made again, at most three times. Returns true if they agree.
 */
bool pm_scan_agree(int fd_proc, int fd_dev, const struct pm_scan_arg *req,
		   uint64_t vec_len);

/* A userfaultfd with asynchronous write-protection (and markers for unpopulated anon memory). */
int pm_uffd_async(void);

/* Register [p, p+len) for async write-protection and protect it all. */
int pm_uffd_async_wp(int uffd, void *p, size_t len);

/* Soft-dirty clearing for the whole process (writes "4" to /proc/self/clear_refs). */
int pm_clear_soft_dirty(void);

/*
 * Categories the kernel reports for the page at `addr` in a scan of [p, p+len)
 * that reports everything; -1 if the page is not reported at all.
 */
long pm_cat_at(int proc, void *p, size_t len, void *addr);

/*
 * Run a family of scans of [p, p+len) that change nothing through both files
 * and compare each: everything reported; then, for every category, that
 * category required, required absent (inverted), and as the any-of mask with
 * only it returned. Returns the number of scans that differed.
 */
int pm_scan_family_differs(int proc, int dev, void *p, size_t len);

/*
 * Whether the kernel sees [a, a+len) and [b, b+len) alike: the same categories
 * at the same offsets, and the same pagemap entries but for the frame numbers
 * (two twins are different memory: their frames, or swap offsets, differ by
 * construction; every
 * other bit, exclusivity included, must be equal). Write-protecting scans are
 * compared on such twins: the kernel's scan on one, the device's on the other.
 */
bool pm_twins_alike(int proc, void *a, void *b, size_t len);

/*
 * Run `req` (addresses in twin `a`) through /proc on `a` and, shifted, through
 * the device on `b`; compare the results and then the twins. `out`, if given,
 * receives the kernel's result.
 */
bool pm_scan_twins_agree(int proc, int dev, void *a, void *b, size_t len,
			 const struct pm_scan_arg *req, uint64_t vec_len,
			 struct pm_scan_result *out);

#endif /* PM_SCAN_H */
