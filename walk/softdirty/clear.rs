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

/// [`clear_leaf`] of a PTE leaf over `[start, end)`. A pinned page of a COW
/// mapping stays writable, as `clear_refs` leaves it, and is marked soft-dirty instead
/// ([`Leaf::pte_keep_soft_dirty`]): it cannot be tracked.
#[inline(never)]
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

/// Whether a PTE of `vma` may map a page that a clear must leave writable (a page pinned
/// for DMA in a COW mapping, [`Leaf::is_pinned_cow_page`]): only in a COW mapping of an mm
/// that ever pinned a page. Read once per PTE table: the VMA's flags do not change under
/// the mmap lock, and a pin that sets `MMF_HAS_PINNED` after this read races with the
/// clear as it would after a read per PTE (GUP-fast sees the PTE changed under its pin
/// and drops it, `gup_fast_pte_range`).
pub(crate) fn may_pin(vma: &Vma<'_>) -> bool {
    vma.is_cow_mapping() && vma.mm_has_pinned()
}

/// [`clear_pte_leaf`] of a PTE leaf of a table where [`may_pin`] said `pins`: without
/// pins, a present PTE is cleaned in place, inline, with no test of its page.
#[inline(always)]
pub(crate) fn clear_pte_leaf_of_table(
    changes: &mut PteChanges<'_>,
    vma: &Vma<'_>,
    leaf: &Leaf<'_>,
    start: usize,
    end: usize,
    pins: bool,
) {
    let raw = leaf.entry.raw();
    if !pins && x86::IN_PLACE_PTE_UPDATES && x86::pte_present(raw) {
        if !x86::pte_clear_is_noop(raw) && leaf.cell().clean_present_in_place(raw) {
            changes.changed(start, end);
        }
        return;
    }
    clear_pte_leaf(changes, vma, leaf, start, end);
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
    /// on a bit test of its value; a present one to clean is cleaned in place when no
    /// pinned page can be among them ([`clean_table`]); the others are cleaned as leaves.
    fn pte_table(
        &mut self,
        vma: &Vma<'_>,
        ptes: &PteTableLock<'_>,
        start: usize,
        end: usize,
    ) -> Flow {
        // Only a writable PTE of a COW mapping of an mm that ever pinned a page can be a
        // pinned page `clear_refs` leaves alone (read once per table).
        let pins = may_pin(vma);
        let changed = if pins || !x86::IN_PLACE_PTE_UPDATES {
            clean_table_by_leaf(vma, ptes, start, end, pins)
        } else {
            clean_table(vma, ptes, start, end)
        };
        if let Some((lo, hi)) = changed {
            self.changes.changed(lo, hi);
        }
        Flow::Continue
    }
}

/// Cleans the PTEs of `[start, end)` of a locked table, where no pinned page can be
/// (`pins` false in [`Clearer::pte_table`]) and present entries change in place; returns
/// the span of those whose TLB entries are to be flushed, `None` if none changed.
///
/// The loop is the clear's cost per page, so it does as little as a page needs: one load,
/// two bit tests for a page the clear leaves as it is, and for a present page to clean
/// the atomic update and one store of its index. The first change ends a first loop and
/// the second only notes the last, so no page pays for keeping the span's start; the
/// index is the loop's only counter, and the addresses are made from it once, at the end.
/// Anything else (a swap or migration entry; a PROT_NONE one counts as present) goes
/// through the leaf.
#[inline(never)]
fn clean_table(
    vma: &Vma<'_>,
    ptes: &PteTableLock<'_>,
    start: usize,
    end: usize,
) -> Option<(usize, usize)> {
    let values = ptes.values(start, end);
    let n = values.len();
    let addr = |i: usize| start.wrapping_add(i << x86::PAGE_SHIFT);
    // One page: whether its TLB entry is now to be flushed.
    let page = |i: usize| -> bool {
        let cell = values.cell(i);
        let raw = cell.value();
        if x86::pte_present(raw) {
            if x86::pte_clear_is_noop(raw) {
                return false;
            }
            return cell.clean_present_in_place(raw);
        }
        if x86::is_none(raw) {
            return false;
        }
        clean_leaf(vma, ptes, addr(i), raw, false)
    };
    let mut i = 0;
    let first = loop {
        if i == n {
            return None;
        }
        let changed = page(i);
        i += 1;
        if changed {
            break i - 1;
        }
    };
    let mut last = first;
    while i < n {
        if page(i) {
            last = i;
        }
        i += 1;
    }
    Some((addr(first), addr(last + 1)))
}

/// [`clean_table`] one leaf at a time: where a pinned page may be among the PTEs
/// (`pins`), or where present entries are not changed in place.
#[inline(never)]
fn clean_table_by_leaf(
    vma: &Vma<'_>,
    ptes: &PteTableLock<'_>,
    start: usize,
    end: usize,
    pins: bool,
) -> Option<(usize, usize)> {
    // The span changed in this table.
    let (mut lo, mut hi) = (usize::MAX, 0);
    let mut next = start;
    for raw in ptes.values(start, end).iter() {
        let addr = next;
        next = next.wrapping_add(PAGE_SIZE);
        if x86::pte_clear_is_noop(raw) {
            continue;
        }
        if clean_leaf(vma, ptes, addr, raw, pins) {
            lo = lo.min(addr);
            hi = next;
        }
    }
    (lo < hi).then_some((lo, hi))
}

/// Cleans the PTE of `addr`, whose value `raw` was just read under the table's lock, as
/// a leaf; `pins`: whether it may map a pinned page (kept writable and dirty then).
/// Returns whether its TLB entry is to be flushed.
#[inline(never)]
fn clean_leaf(vma: &Vma<'_>, ptes: &PteTableLock<'_>, addr: usize, raw: u64, pins: bool) -> bool {
    let leaf = ptes.leaf_of(addr, raw);
    if pins && x86::writable(raw) && leaf.is_pinned_cow_page(vma, addr, leaf.entry) {
        leaf.pte_keep_soft_dirty(vma, addr);
        return false;
    }
    leaf.pte_clear_soft_dirty(vma, addr)
}
