// SPDX-License-Identifier: GPL-2.0

//! Soft-dirty clearing: of a range, or of the whole process as writing 4 to
//! `/proc/PID/clear_refs` does (`clear_refs_write` in fs/proc/task_mmu.c).
//!
//! The kernel's sequence: the mmap lock for write (VMA flags change), every VMA
//! of the range write-locked so that no page fault runs until the end (faults
//! under per-VMA locks would otherwise install entries with the old
//! protection behind the walk), then `VM_SOFTDIRTY` cleared and `vm_page_prot`
//! recomputed, a pending TLB flush announced, an mmu_notifier range of type
//! `MMU_NOTIFY_SOFT_DIRTY` around the walk, and every entry write-protected and
//! cleaned under its page-table lock. The TLB is flushed once for the span of
//! PTEs that changed, after the walk and before the notifier range ends and the
//! mmap lock is dropped (`clear_refs` flushes the whole mm once); a huge PMD is flushed by
//! its own invalidation.
//!
//! Never a false clean:
//! - Everything that can fail (the VMA splits) is done before the first page-table
//!   change; a call that fails has set `VM_SOFTDIRTY` again where it had consumed
//!   it, and changed nothing else.
//! - A VMA with `VM_SOFTDIRTY` that the range covers only in part gives the part
//!   its flags without it as `mprotect` would ([`vmas::consume_part`]): merged into a
//!   clean neighbour, or split off, so that the VMAs of a mapping cleared piece by
//!   piece stay few. The flag is sticky when VMAs merge, so a merge can make pages
//!   read dirty once more, never clean. A VMA that refuses the split (`[vdso]`,
//!   `[vvar]`) keeps the flag, and all its pages read dirty.
//! - A page pinned for DMA in a private mapping stays writable, as `clear_refs`
//!   leaves it, so a write to it would not be seen: it is marked soft-dirty
//!   instead of cleaned, and reads dirty after every clear until it is unpinned.
//! - A file or shmem huge PMD that the range covers only in part is left as it
//!   is, dirty: splitting it would zap it, and its other pages would read clean.
//!   An anonymous one is split, and exactly the range is cleaned.
//! - Hugetlb VMAs keep `VM_SOFTDIRTY` and their entries: the pagemap file
//!   reports hugetlb soft-dirtiness from the VMA flag alone, and nothing
//!   write-protects hugetlb pages, so clearing the flag (as `clear_refs` does)
//!   would make pages written later read clean.

use kernel::mm::MmWithUser;
use kernel::prelude::*;

use crate::walk::mm::change::{NotifyEvent, PteChanges};
use crate::walk::mm::lock::{task_size, MmapLocked, MmapWriteGuard};
use crate::walk::mm::vma::Vma;
use crate::walk::walker::walk;

mod clear;
mod vmas;

pub(crate) use clear::{clear_leaf, clear_pte_leaf_of_table, may_pin, splits, Clearer};
pub(crate) use vmas::consume_part;

/// Write-locks every VMA that `[start, end)` of the write-locked mm reaches (as the
/// kernel's walker does with `PGWALK_WRLOCK`), so that no fault runs until the mmap
/// lock is dropped.
pub(crate) fn lock_vmas(lock: &MmapWriteGuard<'_>, start: usize, end: usize) {
    Vma::for_each(lock, start, end, |vma| vma.write_lock(lock));
}

/// Whether a clear of `[start, end)` would change a VMA: some VMA there other than a
/// hugetlb one (which keeps the flag) has `VM_SOFTDIRTY`. Only then does the clear need
/// the mmap lock for write (to change the flag and `vm_page_prot`, to split the VMA, and
/// to keep faults from installing entries with the old protection behind the walk).
/// Without such a VMA nothing but page-table entries changes, each under its page-table
/// lock, as PAGEMAP_SCAN's write-protection does under the read lock; the answer cannot
/// change while the lock is held, as VMA flags change only under the write lock.
pub(crate) fn changes_vmas(lock: &MmapLocked<'_>, start: usize, end: usize) -> bool {
    let mut found = false;
    Vma::for_each(lock, start, end, |vma| {
        // Nor a VM_PFNMAP one (`[vvar]` has the flag): a scan skips it, so no region
        // ever covers it and get-and-clear never consumes its flag.
        found |= vma.soft_dirty() && !vma.is_hugetlb() && !vma.is_pfnmap();
    });
    found
}

/// Undoes the consumption of soft-dirty state on `[start, end)` of `mm` whose
/// report could not be delivered: every VMA the range reaches gets
/// `VM_SOFTDIRTY` back ([`vmas::set_vma_flags`]). Takes the mmap lock for write,
/// uninterruptibly.
pub(crate) fn redirty(mm: &MmWithUser, start: usize, end: usize) {
    let lock = MmapWriteGuard::lock(mm);
    vmas::set_vma_flags(&lock, start, end);
}

/// Clears soft-dirty on `range` of `mm`, or on all of it for `None` (the effect
/// of writing 4 to `/proc/PID/clear_refs`, hugetlb VMAs aside).
pub(crate) fn clear(mm: &MmWithUser, range: Option<(usize, usize)>) -> Result {
    let lock = MmapWriteGuard::lock_killable(mm)?;
    let (start, end) = range.unwrap_or((0, task_size(mm)));
    vmas::consume(&lock, start, end)?;
    lock_vmas(&lock, start, end);
    let mut changes = PteChanges::begin(&lock, NotifyEvent::SoftDirty, start, end);
    walk(&lock, start, end, &mut Clearer::new(&mut changes));
    Ok(())
}
