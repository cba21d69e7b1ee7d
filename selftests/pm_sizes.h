/* SPDX-License-Identifier: GPL-2.0 */
/*
 * RPM_SCAN_PAGE_SIZES checked against the kernel's own answers.
 *
 * The sizes the device reports for each page are compared with sizes worked
 * out here from nothing the device says:
 *
 *   entry  hugetlb VMA: log2 of its KernelPageSize (/proc/self/smaps), for every
 *          page of it; else 21 where /proc's PAGEMAP_SCAN says PAGE_IS_HUGE,
 *          12 where it says PRESENT or SWAPPED (a PTE), 0 elsewhere;
 *   folio  present pages only: the compound page the frame belongs to, per
 *          /proc/self/pagemap (the frame) and /proc/kpageflags (COMPOUND_HEAD,
 *          COMPOUND_TAIL): log2 of its size; 0 for a page not present.
 *
 * and the regions with the size bits dropped and merged again must be /proc's
 * answer to the same scan. pm_sizes_model() then plays upstream's output
 * rules (selection, merging, max_pages, the bounce buffer, vec_len, walk_end)
 * over such a per-page picture: run on the categories alone it must give
 * /proc's answer to any request (which checks the model), and with the sizes
 * compared too it gives what a RPM_SCAN_PAGE_SIZES scan must answer.
 *
 * Needs root (frame numbers and /proc/kpageflags); the test guest runs as root.
 */
#ifndef PM_SIZES_H
#define PM_SIZES_H

#include "pm_scan.h"

#define PM_KPF_HEAD (1ULL << 15)
#define PM_KPF_TAIL (1ULL << 16)

#define PM_SIZE_BITS RPM_REGION_SIZE_MASK

/* What one page is, as a full scan sees it. */
struct pm_page {
	bool mapped;		/* reported at all (inside a walked VMA) */
	uint64_t cat;		/* upstream categories */
	unsigned int ent, fol;	/* log2 sizes (0: none) */
};

/*
 * The check of a sized picture against the kernel: `dev` (with sizes) against
 * `proc` (the same full scan through /proc), the sizes against smaps and
 * kpageflags. NULL if all is well; else what is wrong, with the page in *bad.
 * Frames are looked up afresh in each call (pm_sizes.c says why).
 */
const char *pm_sizes_check(int proc_fd, int dev_fd, uintptr_t base, size_t npages,
			   struct pm_page *dev, struct pm_page *proc,
			   uintptr_t *bad);

/* --- upstream's output rules over a picture ---------------------------- */

/*
 * Run `req` through /proc and the device (sized), and compare each with the
 * model of upstream's rules over the kernel-checked picture: /proc's answer
 * checks the model, the device's answer is checked by it.
 */
int pm_sizes_model_mismatches(int proc, int dev, uintptr_t base, size_t npages,
			      const struct pm_page *pg_dev,
			      const struct pm_page *pg_proc,
			      struct pm_scan_arg a, uint64_t vec_len);

#endif /* PM_SIZES_H */
