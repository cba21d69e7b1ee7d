// SPDX-License-Identifier: GPL-2.0

//! Userfaultfd write-protection as PAGEMAP_SCAN applies it beyond single leaves
//! (the leaves themselves are changed by [`crate::walk::mm::modify`], inside the
//! walk's [`crate::walk::mm::change::PteChanges`] bracket): the holes it protects
//! (`pagemap_scan_hugetlb_hole_wp` and the `uffd_wp_range` call in
//! fs/proc/task_mmu.c).
//!
//! Entries are changed only under the page-table lock that made them current,
//! and present ones only through the kernel's modify-protection pairs, so that
//! accessed and dirty bits the hardware sets meanwhile are not lost.

use kernel::prelude::*;

use crate::walk::mm::table::{HugePteLock, Slot};
use crate::walk::mm::vma::{HugetlbVmaLock, Vma};
use crate::walk::mm::{Entry, Kind, Level};

/// Write-protects the hole `[addr, end)` of the hugetlb VMA `hlock` holds, whose
/// page tables are missing (`pagemap_scan_hugetlb_hole_wp`): allocates them and
/// puts a marker in every huge page the range touches, whole pages even if only
/// partly covered. `ENOMEM` if a table cannot be allocated.
pub(crate) fn wp_hugetlb_hole(hlock: &HugetlbVmaLock<'_>, addr: usize, end: usize) -> Result {
    let vma = hlock.vma();
    let size = vma.huge_page_size();
    let mut addr = addr & !(size - 1);
    while addr < end {
        let Some(slot) = Slot::huge_alloc(hlock, addr) else {
            return Err(ENOMEM);
        };
        let mapping = vma.lock_mapping_write();
        let ptl = HugePteLock::lock(hlock, slot);
        let leaf = ptl.leaf(addr);
        leaf.huge_pte_make_uffd_wp(vma, addr);
        // An empty entry had no translation to flush; one a racing fault filled had.
        if Entry::new(leaf.entry.raw(), Level::PTE).kind() != Kind::None {
            vma.flush_tlb_range(addr, addr + size);
        }
        drop(ptl);
        drop(mapping);
        addr += size;
    }
    Ok(())
}

/// Write-protects the hole `[addr, end)` of a non-hugetlb VMA (`uffd_wp_range`):
/// the kernel allocates the missing page tables and puts uffd-wp markers in
/// them, with its own TLB gathering and notifications.
pub(crate) fn wp_hole(vma: &Vma<'_>, addr: usize, end: usize) -> Result {
    vma.uffd_wp_range(addr, end)
}
