// SPDX-License-Identifier: GPL-2.0

//! Cleaning page-table entries: one leaf at a time for PAGEMAP_SCAN's get-and-clear,
//! or a whole walk ([`Clearer`]) for the clears of a range or of the process. Every
//! change is noted in the [`PteChanges`] bracket of the caller, which flushes the TLB
//! once, for the span of everything changed, when it ends: as `clear_refs` flushes once
//! per call (`flush_tlb_mm`), after its walk and with the flush announced as pending
//! meanwhile, not once per PTE table.

use crate::walk::mm::change::PteChanges;
use crate::walk::mm::table::PteTableLock;
use crate::walk::mm::vma::Vma;
use crate::walk::mm::x86::{self, PAGE_SIZE};
use crate::walk::mm::{Kind, Leaf, LeafKind, Level};
use crate::walk::walker::{Flow, Visitor, VmaAction};

/// Clears one leaf over `[start, end)`; returns [`Flow::Split`] for a huge PMD the range
/// covers only in part, so that the walk comes back with its PTEs.
pub(crate) fn clear_leaf(
    changes: &mut PteChanges<'_>,
    vma: &Vma<'_>,
    leaf: &Leaf<'_>,
    start: usize,
    end: usize,
) -> Flow {
    match leaf.kind {
        LeafKind::Pte => {
            clear_pte_leaf(changes, vma, leaf, start, end);
            Flow::Continue
        }
        LeafKind::Thp => {
            if leaf.entry.kind() == Kind::None {
                return Flow::Continue;
            }
            let span = Level::PMD.span();
            let base = start & !(span - 1);
            if start != base || end != base + span {
                // Splitting a file or shmem huge PMD zaps it: keep all of it dirty.
                return if splits(vma, leaf, start, end) {
                    Flow::Split
                } else {
                    Flow::Continue
                };
            }
            leaf.pmd_clear_soft_dirty(vma, base);
            Flow::Continue
        }
        // `clear_refs` walks hugetlb VMAs without touching their entries.
        LeafKind::Hugetlb => Flow::Continue,
    }
}

/// Whether [`clear_leaf`] of `[start, end)` splits `leaf` ([`Flow::Split`]): an
/// anonymous huge PMD that the span covers only in part.
pub(crate) fn splits(vma: &Vma<'_>, leaf: &Leaf<'_>, start: usize, end: usize) -> bool {
    let span = Level::PMD.span();
    let base = start & !(span - 1);
    leaf.kind == LeafKind::Thp
        && leaf.entry.kind() != Kind::None
        && (start != base || end != base + span)
        && vma.is_anonymous()
}

/// [`clear_leaf`] of a PTE leaf over `[start, end)`, inline. A pinned page of a COW
/// mapping stays writable, as `clear_refs` leaves it, and is marked soft-dirty instead
/// ([`Leaf::pte_keep_soft_dirty`]): it cannot be tracked.
#[inline]
pub(crate) fn clear_pte_leaf(
    changes: &mut PteChanges<'_>,
    vma: &Vma<'_>,
    leaf: &Leaf<'_>,
    start: usize,
    end: usize,
) {
    if leaf.is_pinned_cow_page(vma, start, leaf.entry) {
        leaf.pte_keep_soft_dirty(vma, start);
    } else if leaf.pte_clear_soft_dirty(vma, start) {
        changes.changed(start, end);
    }
}

/// Clears soft-dirty on every page of a walk, inside the bracket `changes`.
pub(crate) struct Clearer<'a, 'l> {
    changes: &'a mut PteChanges<'l>,
}

impl<'a, 'l> Clearer<'a, 'l> {
    /// A clearer noting its changes in `changes`.
    pub(crate) fn new(changes: &'a mut PteChanges<'l>) -> Self {
        Self { changes }
    }
}

impl Visitor for Clearer<'_, '_> {
    fn vma(&mut self, vma: &Vma<'_>, _start: usize, _end: usize) -> VmaAction {
        // `clear_refs_test_walk` leaves VM_PFNMAP alone; hugetlb entries are never touched.
        if vma.is_pfnmap() || vma.is_hugetlb() {
            VmaAction::Skip
        } else {
            VmaAction::Walk
        }
    }

    fn hole(&mut self, _vma: Option<&Vma<'_>>, _start: usize, _end: usize) -> Flow {
        Flow::Continue
    }

    fn leaf(&mut self, vma: &Vma<'_>, leaf: &Leaf<'_>, start: usize, end: usize) -> Flow {
        clear_leaf(self.changes, vma, leaf, start, end)
    }

    /// One pass over the table's PTE values: a PTE that the clear would leave as it is
    /// (empty, or clean and write-protected already: the steady state) is passed over
    /// on a bit test of its value; the others are cleaned as leaves.
    fn pte_table(
        &mut self,
        vma: &Vma<'_>,
        ptes: &PteTableLock<'_>,
        start: usize,
        end: usize,
    ) -> Flow {
        // The span changed in this table, kept here and added to the bracket's once.
        let (mut lo, mut hi) = (usize::MAX, 0);
        // Only a writable PTE of a COW mapping of an mm that ever pinned a page can be a
        // pinned page `clear_refs` leaves alone. The VMA's flags do not change under the
        // mmap lock; `MMF_HAS_PINNED` is read once per table, not per PTE: a pin that
        // sets it after this read races with the clear as it would after a read per PTE,
        // and GUP-fast sees the PTE changed under its pin and drops it (`gup_fast_pte_range`).
        let pins = vma.is_cow_mapping() && vma.mm_has_pinned();
        let mut next = start;
        for cell in ptes.values(start, end).cells() {
            let raw = cell.value();
            let addr = next;
            next = next.wrapping_add(PAGE_SIZE);
            if x86::pte_clear_is_noop(raw) {
                continue;
            }
            // The common case, with the fewest tests: present, and no pinned page possible.
            if !pins && cell.clean_present_in_place(raw) {
                lo = lo.min(addr);
                hi = next;
                continue;
            }
            let leaf = ptes.leaf_of(addr, raw);
            if pins && x86::writable(raw) && leaf.is_pinned_cow_page(vma, addr, leaf.entry) {
                leaf.pte_keep_soft_dirty(vma, addr);
            } else if leaf.pte_clear_soft_dirty(vma, addr) {
                lo = lo.min(addr);
                hi = next;
            }
        }
        if lo < hi {
            self.changes.changed(lo, hi);
        }
        Flow::Continue
    }
}
