/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The device's three ways of clearing soft-dirty, one call each, and what the
 * tests of clearing read back: soft-dirty pages per a pagemap file (/proc's,
 * of any process), and the VMAs of the process per /proc/self/maps.
 */
#ifndef PM_CLEAR_H
#define PM_CLEAR_H

#include "pm_scan.h"

#include <sys/ioctl.h>

enum pm_clear_kind { PM_CLEAR_RANGE, PM_CLEAR_ALL, PM_GET_AND_CLEAR };

const char *pm_clear_name(enum pm_clear_kind k);

/* RPM_IOC_CLEAR_SOFT_DIRTY of [start, end): the ioctl's value (-1 and errno on failure). */
int pm_clear_range(int fd, uintptr_t start, uintptr_t end);

/*
 * A get-and-clear of [start, end): PAGEMAP_SCAN with RPM_SCAN_CLEAR_SOFT_DIRTY,
 * soft-dirty pages selected and returned, at most `max_pages` pages (0: no
 * limit) into `vec_len` regions at `vec`. The ioctl's value (-1 and errno on
 * failure); `*walk_end`, if given, receives walk_end.
 */
long pm_get_and_clear(int fd, uintptr_t start, uintptr_t end, uint64_t max_pages,
		      struct page_region *vec, uint64_t vec_len, uint64_t *walk_end);

/*
 * One clear of kind `k` through `fd`: of [start, end), or of the whole process
 * for PM_CLEAR_ALL; a get-and-clear with room for every region. 0, or -1 and errno.
 */
int pm_clear_by(int fd, enum pm_clear_kind k, uintptr_t start, uintptr_t end);

/* Soft-dirty pages of [start, start + pages * 4K) per the pagemap file `fd`; -1 on error. */
long pm_soft_dirty_pages(int fd, uintptr_t start, size_t pages);

/*
 * The VMAs of this process that overlap [start, end) and have VM_SOFTDIRTY
 * (VmFlags "sd" in /proc/self/smaps), in address order, into `v` (at most
 * `max`); the count, -1 on error. All pages of such a VMA read soft-dirty,
 * whatever their entries say (pagemap ORs the flag in).
 */
int pm_soft_dirty_vmas(uintptr_t start, uintptr_t end, struct pm_vma *v, int max);

/* Lines of /proc/self/maps; -1 on error. */
int pm_maps_lines(void);

/*
 * The process's number of VMAs (mm->map_count, what vm.max_map_count limits):
 * the lines of /proc/self/maps but the gate area, [vsyscall], which is no VMA.
 */
int pm_vma_count(void);

#endif /* PM_CLEAR_H */
