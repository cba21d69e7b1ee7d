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

/*
 * Soft-dirty clearing. Soft-dirty (bit 55 of a pagemap entry, PAGE_IS_SOFT_DIRTY
 * in PAGEMAP_SCAN) says a page was written since the last clear; clearing
 * write-protects the page so that the next write faults and marks it again.
 *
 * ioctl(fd, RPM_IOC_CLEAR_SOFT_DIRTY, &(struct rpm_range){ start, end })
 *	clears soft-dirty on [start, end) of the bound process, and on nothing
 *	else. start must be page-aligned, end is rounded up to a page, and
 *	start <= end <= top of the user address space (else EINVAL). A VMA
 *	that is soft-dirty as a whole (VM_SOFTDIRTY: new mappings are) and that
 *	the range covers only in part is split at the range's edges, like
 *	mprotect splits, so that exactly the range reads clean afterwards; a
 *	later merge of such VMAs can make pages read dirty again, never clean.
 *	Hugetlb VMAs are split at huge-page boundaries only, and their pages
 *	keep their state, as with clear_refs. ENOMEM if a split is refused
 *	(vm.max_map_count), EINTR on a fatal signal, ESRCH once the process is
 *	gone.
 *
 * ioctl(fd, RPM_IOC_CLEAR_SOFT_DIRTY_ALL)
 *	the same for the whole process: the effect of writing 4 to
 *	/proc/PID/clear_refs (pages pinned for DMA in private mappings stay
 *	dirty and writable, as there).
 */
/*
 * RPM_SCAN_CLEAR_SOFT_DIRTY, in pm_scan_arg.flags of a PAGEMAP_SCAN on this
 * device: atomic get-and-clear of soft-dirty (GetWriteWatch with
 * WRITE_WATCH_FLAG_RESET). Every page the scan reports has its soft-dirty
 * state cleared under the same page-table lock hold that read it, so no write
 * can fall between report and clear; the scan runs under the mmap lock held
 * for write. category_mask must contain PAGE_IS_SOFT_DIRTY (not inverted), so
 * that the pages reported are exactly the dirty ones; the range cleared is
 * [start, walk_end), with VMAs split as for RPM_IOC_CLEAR_SOFT_DIRTY. It does
 * not combine with PM_SCAN_WP_MATCHING (EINVAL). Upstream uses flag bits 0-1
 * only; this one is bit 32.
 */
#define RPM_SCAN_CLEAR_SOFT_DIRTY	(1ULL << 32)

struct rpm_range {
	__u64 start;
	__u64 end;
};

#define RPM_IOC_CLEAR_SOFT_DIRTY	_IOW('R', 0x02, struct rpm_range)
#define RPM_IOC_CLEAR_SOFT_DIRTY_ALL	_IO('R', 0x03)

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
