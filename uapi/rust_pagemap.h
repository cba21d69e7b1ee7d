/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * rust_pagemap: /proc/PID/pagemap and PAGEMAP_SCAN behind /dev/rust_pagemap.
 *
 * Opening RUST_PAGEMAP_DEV binds the opener's address space, exactly like
 * opening /proc/self/pagemap, under the same rule: a process that may not open
 * its own /proc/self/pagemap gets EACCES (one that is not dumpable -- it
 * changed its credentials, or said so with PR_SET_DUMPABLE -- has its procfs
 * files owned by root, and only root, its owner, or a caller with
 * CAP_DAC_OVERRIDE or CAP_DAC_READ_SEARCH may open them).
 *
 * Rights. A binding (the open, or RPM_IOC_ATTACH_PIDFD) reads what the
 * binder could read through /proc/PID/pagemap. It may also clear soft-dirty
 * (RPM_IOC_CLEAR_SOFT_DIRTY, RPM_IOC_CLEAR_SOFT_DIRTY_ALL, PAGEMAP_SCAN with
 * RPM_SCAN_CLEAR_SOFT_DIRTY) only if the binder could, at that moment, open
 * /proc/PID/clear_refs for writing: that file is mode 0200 with the owner
 * above, so the caller must be its owner (filesystem uid) or have
 * CAP_DAC_OVERRIDE in a user namespace that maps the owner; CAP_DAC_READ_SEARCH,
 * CAP_PERFMON and ptrace access, which may be enough to read, are not enough to
 * clear. Without the right every clearing call fails with EPERM and changes
 * nothing (a get-and-clear checks its arguments first: EINVAL before EPERM).
 * Both rights are decided when the file is bound and stay with it: a
 * descriptor passed by SCM_RIGHTS or inherited across fork() does what its
 * binder could, whoever uses it, as a /proc descriptor does. On the file:
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
 * the opener's. It grants exactly what open("/proc/PID/pagemap") grants the
 * caller, checked in the same order: first the file's permission (mode 0400,
 * owned by the target's effective uid, or by root when it is not dumpable:
 * the caller must be that owner or have CAP_DAC_OVERRIDE or
 * CAP_DAC_READ_SEARCH in a user namespace that maps it), then ptrace read
 * access with the caller's filesystem credentials (or CAP_PERFMON). EACCES
 * when either is denied, ESRCH when the process has no address space left,
 * EBADF or EINVAL for something that is not a pidfd; on an error the file
 * stays bound as it was. Frame numbers then show only if the caller has
 * CAP_SYS_ADMIN (the rule /proc applies to whoever opened the file), whoever
 * opened the device, and soft-dirty may be cleared only if the caller could
 * open /proc/PID/clear_refs for writing (see Rights above). (A procfs mount's
 * hidepid= option is not known here.)
 */
#define RPM_IOC_ATTACH_PIDFD	_IO('R', 0x01)

/*
 * Soft-dirty clearing. Soft-dirty (bit 55 of a pagemap entry, PAGE_IS_SOFT_DIRTY
 * in PAGEMAP_SCAN) says a page was written since the last clear; clearing
 * write-protects the page so that the next write faults and marks it again.
 *
 * The contract of everything below: never a false clean. After any call --
 * successful, failed, interrupted, or racing with faults on other CPUs --
 * every page written since it was last cleared (or reported by a
 * get-and-clear) reads soft-dirty, in /proc/PID/pagemap as on this device. A
 * page may read dirty without having been written (a new mapping reads dirty
 * as a whole, and so may a page whose clear could not be made exact); it
 * never reads clean after a write or after its content changed.
 *
 * - All or nothing: what can fail (VMA splits, the output array) is done or
 *   tried before the first change; a call that fails changes nothing, or puts
 *   VM_SOFTDIRTY back on what it had consumed (its pages then read dirty).
 * - VMAs stay few: a VMA that is soft-dirty as a whole (VM_SOFTDIRTY: new
 *   mappings are) and that a call clears only in part gives that part its
 *   flags without VM_SOFTDIRTY as mprotect would: the part merges into a
 *   neighbouring VMA that is not soft-dirty, or is split off. A mapping
 *   cleared piece by piece (consecutive ranges, get-and-clear paging with
 *   max_pages) so moves one boundary along and ends as at most a few VMAs,
 *   never one per call: the number of VMAs grows by at most 2 per distinct
 *   range a caller clears, and not at all when a call consumes no flag. The
 *   flag is sticky when VMAs merge, so a merge can make pages read dirty
 *   again, never clean.
 * - Edges the kernel will not split: a VMA that refuses a split where a
 *   range ends inside it ([vdso], [vvar], other special mappings) keeps
 *   VM_SOFTDIRTY, and all its pages keep reading dirty; the call succeeds.
 * - Pages that cannot be tracked: a page pinned for DMA (FOLL_PIN: O_DIRECT,
 *   io_uring fixed buffers, RDMA, ...) in a private writable mapping cannot be
 *   write-protected (clear_refs leaves it writable too), so a write to it would
 *   not be seen. Every clear, ranged, whole or get-and-clear, leaves such a
 *   page soft-dirty (it sets the bit if it was clear) instead of cleaning it:
 *   it reads dirty after every call until it is unpinned, and the first clear
 *   after that cleans it.
 * - Page faults wait: when a VMA of the range has VM_SOFTDIRTY to clear,
 *   every VMA of the range is write-locked for the call, as clear_refs does,
 *   so a fault racing the call cannot install an entry that a later write
 *   would pass without marking it. When none has (only page-table entries
 *   change, each under its lock), get-and-clear runs under the mmap lock held
 *   for read, as PAGEMAP_SCAN's write-protection does.
 * - Pages away: an entry of a page under migration or in device-private
 *   memory that would come back writable loses write access (as mprotect
 *   does), so the write after its return faults and marks it.
 * - Huge pages: an anonymous THP that a range covers in part is split and
 *   cleaned exactly; a file or shmem THP covered in part is left alone and
 *   reads dirty (splitting it would zap it). Hugetlb pages are never cleaned
 *   and their VMAs keep VM_SOFTDIRTY: the pagemap file reports hugetlb
 *   soft-dirtiness from the VMA flag alone, and nothing write-protects hugetlb
 *   pages, so clearing it (as clear_refs does) would make a later write read
 *   clean. They read dirty from their first mapping on.
 *
 * ioctl(fd, RPM_IOC_CLEAR_SOFT_DIRTY, &(struct rpm_range){ start, end })
 *	clears soft-dirty on [start, end) of the bound process, and on nothing
 *	else. start must be page-aligned, end is rounded up to a page, and
 *	start <= end <= top of the user address space (else EINVAL). start ==
 *	end is an empty range: 0, and nothing changes. A VMA that is soft-dirty
 *	as a whole and that the range covers only in part has the part merged
 *	or split off (see "VMAs stay few"), so that exactly the range reads
 *	clean afterwards; one that refuses the split keeps reading dirty.
 *	ENOMEM if a split is refused (vm.max_map_count): then VM_SOFTDIRTY is
 *	back on whatever the call had consumed and no entry changed. EPERM
 *	without the right to clear, EINTR on a fatal signal, ESRCH once the
 *	process is gone.
 *
 * ioctl(fd, RPM_IOC_CLEAR_SOFT_DIRTY_ALL)
 *	the same for the whole process: the effect of writing 4 to
 *	/proc/PID/clear_refs (pages pinned for DMA in private mappings stay
 *	writable, as there, and dirty, see above), hugetlb VMAs aside (see
 *	above). EPERM without the right to clear.
 */
/*
 * RPM_SCAN_CLEAR_SOFT_DIRTY, in pm_scan_arg.flags of a PAGEMAP_SCAN on this
 * device: atomic get-and-clear of soft-dirty (GetWriteWatch with
 * WRITE_WATCH_FLAG_RESET). It clears exactly what it reports: every page in a
 * returned region has its soft-dirty state cleared under the same page-table
 * lock hold that read it, so no write can fall between report and clear, and
 * a page the call did not report -- masks, max_pages, vec_len or the range
 * cut it off -- keeps the state it had. A VMA's own VM_SOFTDIRTY (all pages of
 * a new mapping read dirty through it) is consumed for the part of the VMA
 * the call reported without a gap from the VMA's first page in the range on
 * (that part merged into a clean neighbour or split off, see "VMAs stay
 * few"); the rest of the VMA keeps the flag, and pages reported beyond a gap
 * keep reading dirty through it until a later call reports them from there.
 * A tracker that pages through a range with max_pages therefore consumes the
 * flag piece by piece. Where the VMA refuses the split ([vdso]) or
 * vm.max_map_count is reached, the flag stays and the reported pages keep
 * reading dirty; the call succeeds. A page pinned for DMA is reported dirty
 * and stays dirty (see above).
 * Requirements (else EINVAL): category_mask contains PAGE_IS_SOFT_DIRTY and
 * category_inverted does not; an output array (vec_len > 0); no
 * PM_SCAN_WP_MATCHING. Then EPERM without the right to clear. The scan runs
 * under the mmap lock held for write while a VMA of the range has
 * VM_SOFTDIRTY, else for read. It writes nothing into the array past the
 * regions it returns (as any PAGEMAP_SCAN of the device).
 * Errors are all or nothing: EFAULT (the array or walk_end cannot be
 * written), EPERM (PM_SCAN_CHECK_WPASYNC meets a VMA without async
 * write-protection anywhere in the range) and EINTR leave
 * the soft-dirty state as it was, or as dirty as before; a call that had
 * already delivered regions when such an error stopped a later walk returns
 * those regions, with walk_end where the next call meets the error. Upstream
 * uses flag bits 0-1 only; this one is bit 32.
 */
#define RPM_SCAN_CLEAR_SOFT_DIRTY	(1ULL << 32)

/*
 * RPM_SCAN_PAGE_SIZES, in pm_scan_arg.flags of a PAGEMAP_SCAN on this device:
 * every page_region also says which page size maps it. Its `categories` carry,
 * above every upstream category (added after return_mask is applied, whatever
 * return_mask says):
 *
 *   bits 48-55  RPM_REGION_ENTRY_SHIFT(categories): log2 of the size of the
 *               page-table entry that maps the region: 12 for a PTE, 21 for a
 *               huge PMD (a THP, or a THP being migrated), and for every page
 *               of a hugetlb VMA its huge page size (21 or 30), present,
 *               swapped, migrating or not faulted in yet. Other non-present
 *               entries in a PTE (swap, migration, markers) read 12. 0 where
 *               there is no entry at all outside hugetlb (nothing faulted in:
 *               the size is not decided yet).
 *   bits 56-63  RPM_REGION_FOLIO_SHIFT(categories): log2 of the size of the
 *               folio a present entry maps: 12 for a small folio, 16 for a
 *               64 KiB mTHP (mapped by 16 PTEs: entry 12), 21 for a THP, also
 *               once its PMD is split into PTEs and until the folio itself is
 *               split, 21 or 30 for hugetlb. The zero page reads 12, the huge
 *               zero page 21. 0 for a non-present page and for a raw frame
 *               that has no folio.
 *
 * Regions never merge across a change of either size: the sizes are compared
 * with the categories, so one region may span several folios or entries of
 * the same sizes (two 2 MiB THPs side by side are one region), never two
 * sizes. Everything else is upstream's: selection (the masks take upstream
 * categories only), merging, max_pages, vec_len, walk_end and the return
 * value, with this one extra split rule; without the flag no size bit is set
 * and every answer is upstream's. It combines with PM_SCAN_WP_MATCHING,
 * PM_SCAN_CHECK_WPASYNC and RPM_SCAN_CLEAR_SOFT_DIRTY: a huge PMD such a scan
 * splits to act on part of it is reported as the PTEs it became (entry 12,
 * folio still 21). Flag bits other than 0, 1, 32 and 33 are EINVAL.
 */
#define RPM_SCAN_PAGE_SIZES		(1ULL << 33)
#define RPM_REGION_ENTRY_SHIFT(cat)	((unsigned int)(((__u64)(cat) >> 48) & 0xff))
#define RPM_REGION_FOLIO_SHIFT(cat)	((unsigned int)(((__u64)(cat) >> 56) & 0xff))
/* The bits of categories the sizes use. */
#define RPM_REGION_SIZE_MASK		(0xffffULL << 48)

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
