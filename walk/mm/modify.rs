// SPDX-License-Identifier: GPL-2.0

//! Changing a leaf in place, under the page-table lock the walk handed it over with.
//!
//! Present PTEs change either through the kernel's `ptep_modify_prot_start`/`commit`
//! pair or, where that transaction is exactly one atomic update (no Xen PV, no
//! page-table check; checked against the kernel's builders at load), in place with
//! a compare-and-exchange loop that keeps hardware-set accessed and dirty bits;
//! non-present ones through `set_pte_at`, huge PMDs through `pmdp_invalidate` and
//! `set_pmd_at`; hugetlb entries through the `huge_ptep_modify_prot` pair or
//! `set_huge_pte_at`. Nothing here flushes the TLB: a clear flushes the span it
//! changed once, after the walk, inside the pending-flush bracket and the
//! mmu_notifier range (as `clear_refs` does); a write-protecting scan flushes each
//! PTE table or huge entry it changed before that lock is dropped.

use kernel::bindings;

use super::entry::{Entry, Kind};
use super::level::Level;
use super::softleaf::{self, SoftLeaf};
use super::table::{HeldLock, PteCell, Slot};
use super::vma::Vma;
use super::x86;
use super::{Leaf, LeafKind};

/// A PTE value as the C type.
fn pte(raw: u64) -> bindings::pte_t {
    bindings::pte_t { pte: raw as usize }
}

/// A PMD value as the C type.
fn pmd(raw: u64) -> bindings::pmd_t {
    bindings::pmd_t { pmd: raw as usize }
}

impl Leaf<'_> {
    /// Write-protects a present PTE and clears its soft-dirty bit, or clears the
    /// soft-dirty bit of a non-present one (`clear_soft_dirty` in task_mmu.c).
    ///
    /// Returns whether the entry changed in a way the TLB may cache (present entries).
    #[inline]
    pub(crate) fn pte_clear_soft_dirty(&self, vma: &Vma<'_>, addr: usize) -> bool {
        debug_assert_eq!(self.kind, LeafKind::Pte);
        self.held.assert_held();
        match self.entry.kind() {
            // Already clean and write-protected: the next write faults and marks it anyway,
            // and an unchanged entry needs no TLB flush.
            Kind::Present if !self.entry.soft_dirty() && !self.entry.writable() => false,
            // The common case, inline in the caller's loop: one atomic update of the entry.
            Kind::Present if x86::IN_PLACE_PTE_UPDATES => {
                // The configuration allows in-place updates; the caller flushes the TLB
                // (we return `true`).
                self.cell()
                    .update(self.entry.raw(), x86::pte_clean_wrprotect);
                true
            }
            // The leaf by value: nothing of it needs to live in memory on the fast path.
            _ => Self::pte_clear_soft_dirty_other(self.slot, self.entry, self.held, vma, addr),
        }
    }

    /// [`Self::pte_clear_soft_dirty`] for the rest: present entries changed through the
    /// kernel's modify-protection pair, non-present ones. `slot` and `entry` are those of
    /// a PTE leaf, whose lock is held.
    #[inline(never)]
    fn pte_clear_soft_dirty_other(
        slot: Slot<'_>,
        entry: Entry,
        held: HeldLock,
        vma: &Vma<'_>,
        addr: usize,
    ) -> bool {
        // INVARIANT: the caller's leaf, taken apart, under the same lock hold.
        let this = Leaf {
            slot,
            entry,
            kind: LeafKind::Pte,
            held,
        };
        this.pte_clear_soft_dirty_slow(vma, addr)
    }

    /// The body of [`Self::pte_clear_soft_dirty_other`].
    fn pte_clear_soft_dirty_slow(&self, vma: &Vma<'_>, addr: usize) -> bool {
        let ptep = self.slot.as_pte_ptr();
        match self.entry.kind() {
            Kind::Present if !self.entry.soft_dirty() && !self.entry.writable() => false,
            Kind::Present => {
                // SAFETY: the PTE-table lock is held (type invariant) and `ptep` is the live PTE
                // of `vma` at `addr`; start and commit are paired on the same entry.
                unsafe {
                    let old = bindings::ptep_modify_prot_start(vma.as_ptr(), addr, ptep);
                    let new = bindings::pte_clear_soft_dirty(bindings::pte_wrprotect(old));
                    bindings::ptep_modify_prot_commit(vma.as_ptr(), addr, ptep, old, new);
                }
                true
            }
            Kind::NonPresent => {
                let old = self.entry.raw();
                // A writable migration or device-private entry comes back as a writable PTE
                // (remove_migration_pte), and a write after this clear would not fault: it
                // loses write access here, as mprotect takes it (change_softleaf_pte).
                let new = SoftLeaf::from_pte(old).write_removed(old);
                if new == old && !self.entry.soft_dirty() {
                    return false;
                }
                if x86::IN_PLACE_PTE_UPDATES {
                    // SAFETY: the PTE-table lock is held; the entry stays non-present.
                    unsafe { self.slot.write_non_present(x86::pte_swp_clean(new)) };
                } else {
                    // SAFETY: the PTE-table lock is held (type invariant) and `ptep` is the live
                    // PTE of `vma` at `addr`; a non-present entry is not cached by the TLB and no
                    // hardware writes it, so a plain store under the lock is enough.
                    unsafe {
                        let new = bindings::pte_swp_clear_soft_dirty(pte(new));
                        bindings::set_pte_at(vma.mm_ptr(), addr, ptep, new);
                    }
                }
                false
            }
            Kind::None | Kind::Table => false,
        }
    }

    /// The same for a huge PMD that the range covers whole (`clear_soft_dirty_pmd`):
    /// the PMD is invalidated first (which flushes it from the TLB), then rebuilt
    /// write-protected and clean, keeping the accessed and dirty bits it had.
    pub(crate) fn pmd_clear_soft_dirty(&self, vma: &Vma<'_>, addr: usize) {
        debug_assert_eq!(self.kind, LeafKind::Thp);
        self.held.assert_held();
        let pmdp = self.slot.as_pmd_ptr();
        match self.entry.kind() {
            Kind::Present => {
                // SAFETY: the PMD lock is held (type invariant), `pmdp` is the live huge PMD of
                // `vma` covering `addr`. The order of the builders is the kernel's: x86
                // `pmd_mkdirty` also sets soft-dirty, so the clear comes last.
                unsafe {
                    let old = bindings::pmdp_invalidate(vma.as_ptr(), addr, pmdp);
                    let mut new = old;
                    if bindings::pmd_dirty(old) {
                        new = bindings::pmd_mkdirty(new);
                    }
                    if bindings::pmd_young(old) {
                        new = bindings::pmd_mkyoung(new);
                    }
                    new = bindings::pmd_clear_soft_dirty(bindings::pmd_wrprotect(new));
                    bindings::set_pmd_at(vma.mm_ptr(), addr, pmdp, new);
                }
            }
            Kind::NonPresent => {
                // A writable PMD migration entry loses write access, as for a PTE above.
                let old = self.entry.raw();
                let new = SoftLeaf::from_pmd(old).write_removed(old);
                // SAFETY: as above; a PMD migration entry is not cached by the TLB.
                unsafe {
                    let new = bindings::pmd_swp_clear_soft_dirty(pmd(new));
                    bindings::set_pmd_at(vma.mm_ptr(), addr, pmdp, new);
                }
            }
            Kind::None | Kind::Table => {}
        }
    }

    /// Write-protects a PTE for userfaultfd (`make_uffd_wp_pte`): the uffd bit on a
    /// present entry (which also drops write access), the swap-format uffd bit on a
    /// non-present one, and a uffd-wp marker in an empty one. The caller flushes the
    /// TLB for the table before its lock is dropped.
    #[inline]
    pub(crate) fn pte_make_uffd_wp(&self, vma: &Vma<'_>, addr: usize) {
        debug_assert_eq!(self.kind, LeafKind::Pte);
        self.held.assert_held();
        if x86::IN_PLACE_PTE_UPDATES && self.entry.kind() == Kind::Present {
            // The common case, inline in the caller's loop.
            // The configuration allows in-place updates; the caller flushes the TLB for
            // the table.
            self.cell().update(self.entry.raw(), x86::pte_mkuffd);
            return;
        }
        self.pte_make_uffd_wp_other(vma, addr);
    }

    /// [`Self::pte_make_uffd_wp`] for the rest: present entries through the kernel's
    /// modify-protection pair, empty and non-present ones.
    #[inline(never)]
    fn pte_make_uffd_wp_other(&self, vma: &Vma<'_>, addr: usize) {
        let ptep = self.slot.as_pte_ptr();
        let new = match self.entry.kind() {
            Kind::Present => {
                // SAFETY: `ptep` is the PTE of `vma` at `addr` and its PTE-table lock is held
                // (the leaf's invariant); start and commit are paired under that one lock hold.
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
                bindings::pte_swp_mkuffd(pte(self.entry.raw()))
            },
        };
        // SAFETY: as above; the entry is not present (its value was read under the lock that
        // is still held), so it has no TLB entry and no hardware updates it, and the new
        // value is not present either: a plain store is what the kernel does.
        unsafe { bindings::set_pte_at(vma.mm_ptr(), addr, ptep, new) };
    }

    /// Write-protects a huge PMD for userfaultfd (`make_uffd_wp_pmd`): a present one is
    /// invalidated, keeping the accessed and dirty bits it had, and set again with the
    /// uffd bit; a migration entry gets the swap-format uffd bit; anything else (a
    /// device-private PMD) stays as it is. The caller flushes the TLB before the PMD
    /// lock is dropped.
    pub(crate) fn pmd_make_uffd_wp(&self, vma: &Vma<'_>, addr: usize) {
        debug_assert_eq!(self.kind, LeafKind::Thp);
        self.held.assert_held();
        let pmdp = self.slot.as_pmd_ptr();
        let entry = self.slot.read();
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
            Kind::NonPresent if SoftLeaf::of(entry).is_some_and(|l| l.is_migration()) => {
                // SAFETY: as above; a migration entry has no TLB entry, and stays one.
                unsafe {
                    let new = bindings::pmd_swp_mkuffd(pmd(entry.raw()));
                    bindings::set_pmd_at(vma.mm_ptr(), addr, pmdp, new);
                }
            }
            // Device-private PMDs and anything else are left as they are.
            _ => {}
        }
    }

    /// Write-protects a hugetlb entry for userfaultfd (`make_uffd_wp_huge_pte`): a
    /// marker in an empty entry, the swap-format uffd bit on a migration entry, the
    /// uffd bit on a present page; hwpoison entries and markers stay as they are. The
    /// caller flushes the TLB before the huge-PTE lock is dropped.
    pub(crate) fn huge_pte_make_uffd_wp(&self, vma: &Vma<'_>, addr: usize) {
        debug_assert_eq!(self.kind, LeafKind::Hugetlb);
        self.held.assert_held();
        let ptep = self.slot.as_pte_ptr();
        let raw = self.entry.raw();
        // hugetlb code reads huge entries with the `pte_*` helpers.
        let new = match Entry::new(raw, Level::PTE).kind() {
            Kind::None => softleaf::uffd_wp_marker_pte(),
            Kind::NonPresent => {
                let leaf = SoftLeaf::from_pte(raw);
                if leaf.is_hwpoison() || leaf.is_marker() {
                    return;
                }
                if !leaf.is_migration() {
                    self.huge_pte_mkuffd(vma, addr);
                    return;
                }
                // SAFETY: pure function of the value.
                unsafe { bindings::pte_swp_mkuffd(pte(raw)) }
            }
            Kind::Present | Kind::Table => {
                self.huge_pte_mkuffd(vma, addr);
                return;
            }
        };
        // SAFETY: `ptep` is the huge PTE of the hugetlb VMA `vma` at `addr`, `raw` was read
        // from it and its huge-PTE lock is still held (the leaf's invariant); an empty or
        // migration entry has no TLB entry and no hardware updates it.
        unsafe { bindings::set_huge_pte_at(vma.mm_ptr(), addr, ptep, new, vma.huge_page_size()) };
    }

    /// Sets the uffd bit of a hugetlb entry through the modify-protection pair.
    fn huge_pte_mkuffd(&self, vma: &Vma<'_>, addr: usize) {
        let ptep = self.slot.as_pte_ptr();
        // SAFETY: `ptep` is the huge PTE of the hugetlb VMA `vma` at `addr` and its huge-PTE
        // lock is held (the leaf's invariant; callers check the kind); start and commit are
        // paired under one lock hold.
        unsafe {
            let old = bindings::huge_ptep_modify_prot_start(vma.as_ptr(), addr, ptep);
            let new = bindings::huge_pte_mkuffd(old);
            bindings::huge_ptep_modify_prot_commit(vma.as_ptr(), addr, ptep, old, new);
        }
    }

    /// Keeps a present PTE that a clear must leave writable (a page pinned for DMA in a
    /// COW mapping, [`Self::is_pinned_cow_page`]) reading dirty: sets its soft-dirty bit
    /// (`pte_mksoft_dirty`) if it is clear. Such a page cannot be tracked (a write to it
    /// does not fault), so every clear leaves it dirty until it is unpinned; without the
    /// bit a writable clean PTE would read clean forever once the VMA's `VM_SOFTDIRTY`
    /// is consumed. No TLB flush: the bit is the kernel's, the CPU neither caches nor
    /// sets it.
    pub(crate) fn pte_keep_soft_dirty(&self, vma: &Vma<'_>, addr: usize) {
        debug_assert_eq!(self.kind, LeafKind::Pte);
        self.held.assert_held();
        if self.entry.kind() != Kind::Present || self.entry.soft_dirty() {
            return;
        }
        if x86::IN_PLACE_PTE_UPDATES {
            // The configuration allows in-place updates. No TLB flush is owed: only the
            // soft-dirty bit is added, which the CPU ignores, so a cached translation stays
            // exactly as valid.
            self.cell().update(self.entry.raw(), x86::pte_mksoft_dirty);
            return;
        }
        let ptep = self.slot.as_pte_ptr();
        // SAFETY: the PTE-table lock is held (the leaf's invariant) and `ptep` is the live
        // PTE of `vma` at `addr`; start and commit are paired on the same entry.
        unsafe {
            let old = bindings::ptep_modify_prot_start(vma.as_ptr(), addr, ptep);
            let new = bindings::pte_mksoft_dirty(old);
            bindings::ptep_modify_prot_commit(vma.as_ptr(), addr, ptep, old, new);
        }
    }

    /// Whether a present PTE maps a page pinned for DMA in a COW mapping of an mm
    /// that pins pages: `clear_refs` leaves such PTEs writable and soft-dirty,
    /// since write-protecting them would break the pin's coherency on the next CoW.
    #[inline]
    pub(crate) fn is_pinned_cow_page(&self, vma: &Vma<'_>, addr: usize, entry: Entry) -> bool {
        if entry.kind() != Kind::Present || !entry.writable() || !vma.is_cow_mapping() {
            return false;
        }
        if !vma.mm_has_pinned() {
            return false;
        }
        super::page::Page::normal_pte(vma, addr, entry).is_some_and(|p| p.folio_maybe_dma_pinned())
    }
}

impl PteCell<'_> {
    /// [`Leaf::pte_clear_soft_dirty`] of a present PTE whose value was `seen`, done in
    /// place: cleaned and write-protected with one atomic update (applied again if the
    /// hardware set an accessed or dirty bit meanwhile), under the lock the cell's table
    /// is held by. Only where the configuration allows in-place updates and only for a
    /// present entry: `false`, and nothing done, otherwise. On `true` the caller flushes
    /// the TLB for the entry.
    #[inline(always)]
    pub(crate) fn clean_present_in_place(&self, seen: u64) -> bool {
        if !x86::IN_PLACE_PTE_UPDATES || !x86::pte_present(seen) {
            return false;
        }
        self.update(seen, x86::pte_clean_wrprotect);
        true
    }
}
