/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the rust_pagemap selftests: read the same range through
 * /proc/self/pagemap (the oracle) and /dev/rust_pagemap, compare, and make
 * sure that memory really is in the state a test claims (THP and so on).
 */
#ifndef PM_COMMON_H
#define PM_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../uapi/rust_pagemap.h"

#define PM_PAGE 4096UL
#define PM_HPAGE (2UL << 20)

/* /proc/self/pagemap and the device, opened for reading; -1 on failure. */
int pm_open_proc(void);
int pm_open_dev(void);

/* One pread that must return the whole request; -1 on anything else. */
int pm_read_entries(int fd, uintptr_t start, size_t n, uint64_t *out);

/*
 * Compare [start, end) through both files. Returns the number of differing
 * entries (printing the first few as TAP comments), or -1 if a read failed.
 *
 * The memory of a test can change under it (a kernel thread, reclaim), so an
 * entry where the device differs from /proc is forgiven only when /proc's own
 * answer changed too: /proc is read before and after the device, and a
 * difference at an entry where both /proc reads agree counts. The device is
 * never read twice, so a device that answers wrong only sometimes is caught.
 */
long pm_compare_range(int fd_proc, int fd_dev, uintptr_t start, uintptr_t end);

/* Compare a range plus `margin` pages on each side (holes around a mapping). */
long pm_compare_around(int fd_proc, int fd_dev, void *p, size_t len, size_t margin);

struct pm_vma {
	uintptr_t start, end;
	char name[128];
};

/* Parse /proc/PID/maps (PID 0: self) into `v` (at most `max`); returns the count or -1. */
int pm_read_maps_of(int pid, struct pm_vma *v, int max);

/* pm_read_maps_of() of this process. */
int pm_read_maps(struct pm_vma *v, int max);

/*
 * Compare every VMA in /proc/PID/maps (PID 0: self) and `margin` pages of the
 * holes on both sides of each, reading through the two given files. Returns
 * the number of differing entries, -1 on error.
 */
long pm_compare_all_maps_of(int pid, int fd_proc, int fd_dev, size_t margin);

/* pm_compare_all_maps_of() of this process. */
long pm_compare_all_maps(int fd_proc, int fd_dev, size_t margin);

/* The value of `field` (in kB) in the smaps block of the VMA holding `addr`; -1 if absent. */
long pm_smaps_kb(void *addr, const char *field);

/* Whether a swap device is active (more than the header line in /proc/swaps). */
bool pm_have_swap(void);

/* Map `len` bytes aligned to 2 MiB (anonymous private unless flags say otherwise). */
void *pm_map_aligned(size_t len, int prot, int flags, int fd);

/*
 * The top of the user address space (x86 TASK_SIZE_MAX, what the kernel's
 * pagemap read stops at): 2^47 - 4 KiB with 4-level paging, 2^56 - 4 KiB with
 * 5-level paging (LA57). Probed, not assumed: the top is the end of the last
 * page a fixed mapping may take (mmap there succeeds or finds a mapping in the
 * way), and a page at the top itself must be refused. 0 if neither candidate
 * fits (not x86-64).
 */
#define PM_TOP_4LEVEL ((1UL << 47) - PM_PAGE)
#define PM_TOP_5LEVEL ((1UL << 56) - PM_PAGE)

uintptr_t pm_user_top(void);

/*
 * Map `len` (a multiple of 2 MiB) as high as the address space allows, 2 MiB
 * aligned, at most `below` bytes under the top: above 2^47 under 5-level
 * paging (a fixed address above 2^47 is how a process opts in), just under
 * it with 4-level paging. Anonymous private unless `flags`/`fd` say otherwise.
 */
void *pm_map_high(size_t len, size_t below, int flags, int fd);

/* How many paging levels the kernel runs with, going by where the address space ends. */
int pm_paging_levels(void);

/* Write a string to a sysfs/procfs file; false on failure. */
bool pm_write_file(const char *path, const char *s);

/* Read a small file into buf (NUL-terminated, trailing newline cut); false on failure. */
bool pm_read_file(const char *path, char *buf, size_t len);

#define PM_KHUGEPAGED_SLEEP "/sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs"

/*
 * Put khugepaged to sleep for as long as it can (its scan_sleep_millisecs),
 * so that it collapses nothing a test made while the test looks at it;
 * `old` keeps the value to put back, "" when it slept so already. Nothing is
 * written then: every write of that file wakes khugepaged for a pass at once
 * (mm/khugepaged.c, __sleep_millisecs_store), even a write of the same value,
 * and that pass would run during the test. The test guest puts it to sleep
 * at boot (qemu/guest/guest-init.sh). False if the file cannot be read or written.
 */
bool pm_khugepaged_sleep(char *old, size_t len);

/* Put back what pm_khugepaged_sleep() found, if it changed anything. */
void pm_khugepaged_restore(const char *old);

/* Touch every page by writing (w) or reading. */
void pm_touch(void *p, size_t len, size_t stride, bool w);

#endif /* PM_COMMON_H */
