/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * rust_pagemap: /proc/PID/pagemap and PAGEMAP_SCAN behind /dev/rust_pagemap.
 *
 * Opening RUST_PAGEMAP_DEV binds the opener's address space, exactly like
 * opening /proc/self/pagemap. On the file:
 *
 *   pread(fd, buf, n, (vaddr / PAGE_SIZE) * 8)
 *       n / 8 64-bit entries, one per page from vaddr on, bit for bit what
 *       /proc/self/pagemap returns (see Documentation/admin-guide/mm/pagemap.rst
 *       for the bits). Same errors as /proc/PID/pagemap: EINVAL for an offset
 *       or length that is not a multiple of 8, EFAULT for a bad buffer, 0 at
 *       and past the top of the address space and once the process is gone.
 *   lseek(fd, off, SEEK_SET | SEEK_CUR)
 *       as on /proc/PID/pagemap (no range check; other whence: EINVAL).
 *   ioctl(fd, PAGEMAP_SCAN, &arg)
 *       the PAGEMAP_SCAN ioctl of /proc/PID/pagemap, with the same ABI:
 *       command number, struct pm_scan_arg and struct page_region come from
 *       <linux/fs.h> (see Documentation/admin-guide/mm/pagemap.rst). Same
 *       categories, masks, region merging, vec_len and max_pages limits,
 *       walk_end, write-protection (PM_SCAN_WP_MATCHING and
 *       PM_SCAN_CHECK_WPASYNC, with userfaultfd async write-protect) and
 *       errnos, checked in the same order; returns the number of regions
 *       written. Works on the opener's address space or on the one
 *       RPM_IOC_ATTACH_PIDFD bound; an O_RDONLY open is enough, as on the
 *       pagemap file.
 */
#ifndef _UAPI_RUST_PAGEMAP_H
#define _UAPI_RUST_PAGEMAP_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define RUST_PAGEMAP_DEV "/dev/rust_pagemap"

/*
 * ioctl(fd, RPM_IOC_ATTACH_PIDFD, pidfd): from now on the file reads the
 * address space of the process `pidfd` (from pidfd_open(2)) names, instead of
 * the opener's. The permission rule is the one of opening /proc/PID/pagemap:
 * ptrace read access with the caller's filesystem credentials; EACCES when it
 * is denied, ESRCH when the process has no address space left, EBADF or
 * EINVAL for something that is not a pidfd. The frame-hiding rule does not
 * change: it follows the credentials the device was opened with.
 */
#define RPM_IOC_ATTACH_PIDFD	_IO('R', 0x01)

/* Bits of a pagemap entry (fs/proc/task_mmu.c). */
#define RPM_PFRAME_MASK		((1ULL << 55) - 1)
#define RPM_SOFT_DIRTY		(1ULL << 55)
#define RPM_MMAP_EXCLUSIVE	(1ULL << 56)
#define RPM_UFFD_WP		(1ULL << 57)
#define RPM_GUARD_REGION	(1ULL << 58)
#define RPM_FILE		(1ULL << 61)
#define RPM_SWAP		(1ULL << 62)
#define RPM_PRESENT		(1ULL << 63)

#endif /* _UAPI_RUST_PAGEMAP_H */
