// SPDX-License-Identifier: GPL-2.0

//! Changing a leaf in place, under the page-table lock the walk handed it over with.
//!
//! Present PTEs change either through the kernel's `ptep_modify_prot_start`/`commit`
//! pair or, where that transaction is exactly one atomic update (no Xen PV, no
//! page-table check; checked against the kernel's builders at load), in place with
//! a compare-and-exchange loop that keeps hardware-set accessed and dirty bits;
//! non-present ones through `set_pte_at`, huge PMDs through `pmdp_invalidate` and
//! `set_pmd_at`. Nothing here flushes the TLB: the caller flushes the span it
//! changed once, after the walk, inside the pending-flush bracket and the
//! mmu_notifier range (as `clear_refs` does).

use kernel::bindings;

use super::entry::{Entry, Kind};
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
    pub(crate) fn pte_clear_soft_dirty(&self, vma: &Vma<'_>, addr: usize) -> bool {
        debug_assert_eq!(self.kind, LeafKind::Pte);
        let ptep = self.slot.as_pte_ptr();
        match self.entry.kind() {
            // Already clean and write-protected: the next write faults and marks it anyway,
            // and an unchanged entry needs no TLB flush.
            Kind::Present if !self.entry.soft_dirty() && !self.entry.writable() => false,
            Kind::Present if x86::IN_PLACE_PTE_UPDATES => {
                // SAFETY: the PTE-table lock is held (the leaf's invariant), the configuration
                // allows in-place updates, and the caller flushes the TLB (we return `true`).
                unsafe { self.slot.update(self.entry.raw(), x86::pte_clean_wrprotect) };
                true
            }
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
            Kind::NonPresent if !self.entry.soft_dirty() => false,
            Kind::NonPresent if x86::IN_PLACE_PTE_UPDATES => {
                // SAFETY: the PTE-table lock is held; the entry stays non-present.
                unsafe {
                    self.slot
                        .write_non_present(x86::pte_swp_clean(self.entry.raw()))
                };
                false
            }
            Kind::NonPresent => {
                // SAFETY: as above; a non-present entry is not cached by the TLB and no
                // hardware writes it, so a plain store under the lock is enough.
                unsafe {
                    let new = bindings::pte_swp_clear_soft_dirty(pte(self.entry.raw()));
                    bindings::set_pte_at(vma.mm_ptr(), addr, ptep, new);
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
                // SAFETY: as above; a PMD migration entry is not cached by the TLB.
                unsafe {
                    let new = bindings::pmd_swp_clear_soft_dirty(pmd(self.entry.raw()));
                    bindings::set_pmd_at(vma.mm_ptr(), addr, pmdp, new);
                }
            }
            Kind::None | Kind::Table => {}
        }
    }

    /// Whether a present PTE maps a page pinned for DMA in a COW mapping of an mm
    /// that pins pages: `clear_refs` leaves such PTEs writable and soft-dirty,
    /// since write-protecting them would break the pin's coherency on the next CoW.
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
