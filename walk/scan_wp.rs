// SPDX-License-Identifier: GPL-2.0

//! Userfaultfd write-protection as PAGEMAP_SCAN applies it (`make_uffd_wp_pte`,
//! `make_uffd_wp_pmd`, `make_uffd_wp_huge_pte`, `pagemap_scan_hugetlb_hole_wp`
//! and the `uffd_wp_range` call in fs/proc/task_mmu.c), and the notifier and
//! TLB-flush calls around it.
//!
//! Entries are changed only under the page-table lock that made them current,
//! and present ones only through the kernel's modify-protection pairs, so that
//! accessed and dirty bits the hardware sets meanwhile are not lost.

use kernel::{bindings, prelude::*};

use super::entry::{Entry, Kind};
use super::level::Level;
use super::mm::MmapReadLock;
use super::notify::{NotifierRange, NotifyEvent};
use super::softleaf::{self, SoftLeaf};
use super::vma::Vma;
use super::x86;
use super::Leaf;

/// Runs `f` between the start and the end of an `MMU_NOTIFY_PROTECTION_VMA`
/// notification for `[start, end)` of the locked mm, as `do_pagemap_scan`
/// brackets a write-protecting walk. Taking the lock guard as an argument keeps
/// both calls under the mmap lock.
pub(crate) fn with_protection_notifier<R>(
    lock: &MmapReadLock<'_>,
    start: usize,
    end: usize,
    f: impl FnOnce() -> R,
) -> R {
    let _range = NotifierRange::start(lock, NotifyEvent::ProtectionVma, start, end);
    f()
}

/// Flushes the TLB entries of `[start, end)` of `vma` on every CPU the mm ran on
/// (`flush_tlb_range`, which is also `flush_hugetlb_tlb_range` on x86).
pub(crate) fn flush_tlb_range(vma: &Vma<'_>, start: usize, end: usize) {
    // SAFETY: `vma` is live; the flush only reads the mm's CPU mask and generation.
    unsafe { bindings::flush_tlb_range(vma.as_ptr(), start, end) };
}

/// The raw value of a PTE, as the C type.
fn pte_t(raw: u64) -> bindings::pte_t {
    bindings::pte_t { pte: raw as usize }
}

/// Write-protects the PTE of `leaf` at `addr` (`make_uffd_wp_pte`): the uffd bit
/// on a present entry (which also drops write access), the swap-format uffd bit
/// on a non-present one, and a uffd-wp marker in an empty one.
pub(crate) fn wp_pte(vma: &Vma<'_>, leaf: &Leaf<'_>, addr: usize) {
    let ptep = leaf.slot.as_pte_ptr();
    let new = match leaf.entry.kind() {
        Kind::Present if x86::IN_PLACE_PTE_UPDATES => {
            // SAFETY: the PTE-table lock is held (the leaf's invariant), the configuration
            // allows in-place updates, and the caller flushes the TLB for the table.
            unsafe { leaf.slot.update(leaf.entry.raw(), x86::pte_mkuffd) };
            return;
        }
        Kind::Present => {
            // SAFETY: `ptep` is the PTE of `vma` at `addr` and its PTE-table lock is held (the
            // leaf's invariant); start and commit are paired under that one lock hold.
            unsafe {
                let old = bindings::ptep_modify_prot_start(vma.as_ptr(), addr, ptep);
                let new = bindings::pte_mkuffd(old);
                bindings::ptep_modify_prot_commit(vma.as_ptr(), addr, ptep, old, new);
            }
            return;
        }
        Kind::None => softleaf::uffd_wp_marker_pte(),
        // SAFETY: pure function of the value. (A PTE is never a table.)
        Kind::NonPresent | Kind::Table => unsafe {
            bindings::pte_swp_mkuffd(pte_t(leaf.entry.raw()))
        },
    };
    // SAFETY: as above; an entry that is not present has no TLB entry and no hardware
    // updates it, so a plain store of the new value is what the kernel does.
    unsafe { bindings::set_pte_at(vma.mm_ptr(), addr, ptep, new) };
}

/// Write-protects the huge PMD of `leaf`, which maps `addr` on (`make_uffd_wp_pmd`).
/// The caller flushes the TLB before the PMD lock is dropped.
pub(crate) fn wp_pmd(vma: &Vma<'_>, leaf: &Leaf<'_>, addr: usize) {
    let pmdp = leaf.slot.as_pmd_ptr();
    let entry = leaf.slot.read();
    match entry.kind() {
        Kind::Present => {
            // SAFETY: `pmdp` is a huge PMD of `vma` at `addr` and the PMD lock is held (the
            // leaf's invariant): the entry is invalidated, keeping the accessed and dirty
            // bits it had, then set again with the uffd bit.
            unsafe {
                let old = bindings::pmdp_invalidate_ad(vma.as_ptr(), addr, pmdp);
                let new = bindings::pmd_mkuffd(old);
                bindings::set_pmd_at(vma.mm_ptr(), addr, pmdp, new);
            }
        }
        Kind::NonPresent if entry.soft_leaf().is_some_and(|l| l.is_migration()) => {
            // SAFETY: as above; a migration entry has no TLB entry.
            unsafe {
                let new = bindings::pmd_swp_mkuffd(bindings::pmd_t {
                    pmd: entry.raw() as usize,
                });
                bindings::set_pmd_at(vma.mm_ptr(), addr, pmdp, new);
            }
        }
        // Device-private PMDs and anything else are left as they are.
        _ => {}
    }
}

/// Write-protects the hugetlb entry `raw` at `ptep`, which maps `addr` on
/// (`make_uffd_wp_huge_pte`): a marker in an empty entry, the swap-format uffd
/// bit on a migration entry, the uffd bit on a present page; hwpoison entries
/// and markers stay as they are.
///
/// # Safety
///
/// `ptep` is the huge PTE of the hugetlb VMA `vma` at `addr`, `raw` was read
/// from it, and its huge-PTE lock is held.
unsafe fn wp_huge_pte_raw(vma: &Vma<'_>, addr: usize, ptep: *mut bindings::pte_t, raw: u64) {
    // hugetlb code reads huge entries with the `pte_*` helpers.
    let new = match Entry::new(raw, Level::PTE).kind() {
        Kind::None => softleaf::uffd_wp_marker_pte(),
        Kind::NonPresent => {
            let leaf = SoftLeaf::from_pte(raw);
            if leaf.is_hwpoison() || leaf.is_marker() {
                return;
            }
            if !leaf.is_migration() {
                // SAFETY: the caller's contract.
                unsafe { modify_huge_pte(vma, addr, ptep) };
                return;
            }
            // SAFETY: pure function of the value.
            unsafe { bindings::pte_swp_mkuffd(pte_t(raw)) }
        }
        Kind::Present | Kind::Table => {
            // SAFETY: the caller's contract.
            unsafe { modify_huge_pte(vma, addr, ptep) };
            return;
        }
    };
    // SAFETY: the caller's contract; an empty or migration entry has no TLB entry and no
    // hardware updates it.
    unsafe { bindings::set_huge_pte_at(vma.mm_ptr(), addr, ptep, new, vma.huge_page_size()) };
}

/// Sets the uffd bit of the huge PTE at `ptep` through the modify-protection pair.
///
/// # Safety
///
/// As for [`wp_huge_pte_raw`].
unsafe fn modify_huge_pte(vma: &Vma<'_>, addr: usize, ptep: *mut bindings::pte_t) {
    // SAFETY: the caller's contract; start and commit are paired under one lock hold.
    unsafe {
        let old = bindings::huge_ptep_modify_prot_start(vma.as_ptr(), addr, ptep);
        let new = bindings::huge_pte_mkuffd(old);
        bindings::huge_ptep_modify_prot_commit(vma.as_ptr(), addr, ptep, old, new);
    }
}

/// Write-protects the hugetlb entry of `leaf`, which maps `addr` on.
pub(crate) fn wp_huge_pte(vma: &Vma<'_>, leaf: &Leaf<'_>, addr: usize) {
    // SAFETY: a hugetlb leaf is its VMA's huge PTE at `addr`, read and still held under
    // its huge-PTE lock (the leaf's invariant).
    unsafe { wp_huge_pte_raw(vma, addr, leaf.slot.as_pte_ptr(), leaf.entry.raw()) };
}

/// Write-protects the hole `[addr, end)` of a hugetlb VMA whose page tables are
/// missing (`pagemap_scan_hugetlb_hole_wp`): allocates them and puts a marker
/// in every huge page the range touches, whole pages even if only partly
/// covered. `ENOMEM` if a table cannot be allocated.
pub(crate) fn wp_hugetlb_hole(vma: &Vma<'_>, addr: usize, end: usize) -> Result {
    let size = vma.huge_page_size();
    let mm = vma.mm_ptr();
    let mut addr = addr & !(size - 1);
    while addr < end {
        // SAFETY: the mmap lock and the VMA's hugetlb lock (taken by the walker) are held,
        // as `huge_pte_alloc` requires; it returns the huge PTE for `addr` or NULL.
        let ptep = unsafe { bindings::huge_pte_alloc(mm, vma.as_ptr(), addr, size) };
        if ptep.is_null() {
            return Err(ENOMEM);
        }
        let mapping = vma.lock_mapping_write();
        // SAFETY: `ptep` is a live huge PTE of this VMA (just allocated or found).
        let ptl = unsafe { bindings::vma_huge_pte_lock(vma.as_ptr(), mm, ptep) };
        // SAFETY: as above, under the huge-PTE lock.
        let raw = unsafe { bindings::huge_ptep_get(mm, addr, ptep).pte as u64 };
        // SAFETY: `ptep` is the huge PTE at `addr`, `raw` its value, and its lock is held.
        unsafe { wp_huge_pte_raw(vma, addr, ptep, raw) };
        // An empty entry had no translation to flush; one a racing fault filled had.
        if Entry::new(raw, Level::PTE).kind() != Kind::None {
            flush_tlb_range(vma, addr, addr + size);
        }
        // SAFETY: taken above, released once.
        unsafe { bindings::spin_unlock(ptl) };
        drop(mapping);
        addr += size;
    }
    Ok(())
}

/// Write-protects the hole `[addr, end)` of a non-hugetlb VMA (`uffd_wp_range`):
/// the kernel allocates the missing page tables and puts uffd-wp markers in
/// them, with its own TLB gathering and notifications.
pub(crate) fn wp_hole(vma: &Vma<'_>, addr: usize, end: usize) -> Result {
    // SAFETY: the mmap lock is held, `[addr, end)` lies inside `vma`, and no page-table
    // lock is held, as `change_protection` requires.
    let ret = unsafe { bindings::uffd_wp_range(vma.as_ptr(), addr, end - addr, true) };
    if ret < 0 {
        return Err(Error::from_errno(ret as i32));
    }
    Ok(())
}
