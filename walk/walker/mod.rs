// SPDX-License-Identifier: GPL-2.0

//! The walker: VMAs first, then page tables level by level.
//!
//! One walk serves every consumer (the pagemap read, PAGEMAP_SCAN, soft-dirty
//! clearing): it finds VMAs and the gaps between them, descends from the root
//! table with one level-generic loop, and hands the consumer, a [`Visitor`],
//! either a hole or a leaf. A leaf is handed over with the page-table lock
//! that makes it current held, so a consumer may also modify it.
//!
//! The algorithm only: every kernel object it touches (VMAs, tables, their
//! locks) comes from the wrappers in [`crate::walk::mm`], and it holds no `unsafe`.

use crate::walk::mm::lock::MmapLocked;
use crate::walk::mm::sched::cond_resched;
use crate::walk::mm::table::{HugePteLock, PmdLock, PteTableLock, Slot, Table};
use crate::walk::mm::vma::{HugetlbVmaLock, Vma};
use crate::walk::mm::{x86, Kind, Leaf, Level};

/// Whether the walk goes on after a consumer call.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    /// Keep walking.
    Continue,
    /// Stop the whole walk now.
    Stop,
    /// Only meaningful from a THP leaf: drop the PMD lock, split the huge PMD
    /// (`split_huge_pmd`) and visit its range again as whatever it became (a
    /// PTE table, or a hole where a file THP was zapped). Elsewhere it means
    /// [`Flow::Continue`].
    Split,
}

/// What to do with a VMA the walk reaches.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum VmaAction {
    /// Walk its page tables.
    Walk,
    /// Do not look at its page tables; report its range as one hole instead.
    Hole,
    /// Leave it out altogether.
    Skip,
    /// Stop the whole walk.
    Stop,
}

/// A consumer of a walk.
pub(crate) trait Visitor {
    /// Decides what to do with a VMA before its range `[start, end)` is walked.
    fn vma(&mut self, _vma: &Vma<'_>, _start: usize, _end: usize) -> VmaAction {
        VmaAction::Walk
    }

    /// `[start, end)` has nothing mapped: `vma` is `None` outside any VMA, or
    /// the VMA whose page tables are missing there.
    fn hole(&mut self, vma: Option<&Vma<'_>>, start: usize, end: usize) -> Flow;

    /// `[start, end)` of the hugetlb VMA that `hlock` holds the hugetlb lock of has no
    /// page tables; the lock is what allocating them needs. By default, a [`Self::hole`].
    fn hugetlb_hole(&mut self, hlock: &HugetlbVmaLock<'_>, start: usize, end: usize) -> Flow {
        self.hole(Some(hlock.vma()), start, end)
    }

    /// A leaf maps `[start, end)`, a part of the leaf's span clipped to the walk.
    fn leaf(&mut self, vma: &Vma<'_>, leaf: &Leaf<'_>, start: usize, end: usize) -> Flow;

    /// A PTE table covering `[start, end)` was just locked; its PTEs come next.
    fn pte_table_start(&mut self, _vma: &Vma<'_>, _start: usize, _end: usize) {}

    /// Visits the PTEs of one locked PTE table in `[start, end)`, between
    /// [`Self::pte_table_start`] and [`Self::pte_table_done`]. By default one [`Self::leaf`]
    /// per PTE; a consumer may instead run its own loop over the raw entries
    /// ([`PteTableLock::values`]).
    #[inline]
    fn pte_table(
        &mut self,
        vma: &Vma<'_>,
        ptes: &PteTableLock<'_>,
        start: usize,
        end: usize,
    ) -> Flow
    where
        Self: Sized,
    {
        walk_ptes(vma, ptes, start, end, self)
    }

    /// All PTEs of one PTE table in `[start, end)` were visited; its lock is still held.
    fn pte_table_done(&mut self, _vma: &Vma<'_>, _start: usize, _end: usize) {}

    /// Whether each PTE table is walked in the lazy MMU mode, entered after
    /// [`Self::pte_table_start`] and left after [`Self::pte_table_done`], under its lock.
    fn lazy_mmu(&self) -> bool {
        false
    }

    /// Whether hugetlb leaves must be handed over with the write lock of the
    /// file's `i_mmap` tree held as well (taken before the huge-PTE lock), as
    /// write-protecting them requires.
    fn lock_hugetlb_mapping(&self) -> bool {
        false
    }
}

/// Walks `[start, end)` of the locked mm, calling `v` for every hole and leaf in address order.
///
/// Returns the address where the walk stopped: `end`, or the start of the
/// hole, leaf or VMA whose call said [`Flow::Stop`].
pub(crate) fn walk<V: Visitor>(
    lock: &MmapLocked<'_>,
    start: usize,
    end: usize,
    v: &mut V,
) -> usize {
    let mut addr = start;
    while addr < end {
        let Some(vma) = Vma::find(lock, addr) else {
            if v.hole(None, addr, end) == Flow::Stop {
                return addr;
            }
            return end;
        };
        if vma.start() > addr {
            let gap_end = vma.start().min(end);
            if v.hole(None, addr, gap_end) == Flow::Stop {
                return addr;
            }
            addr = gap_end;
            if addr >= end {
                break;
            }
        }
        let vma_end = vma.end().min(end);
        let flow = match v.vma(&vma, addr, vma_end) {
            VmaAction::Walk if vma.is_hugetlb() => walk_hugetlb(lock, &vma, addr, vma_end, v),
            VmaAction::Walk => walk_table(lock, &vma, Table::root(lock), addr, vma_end, v),
            VmaAction::Hole => v.hole(Some(&vma), addr, vma_end),
            VmaAction::Skip => Flow::Continue,
            VmaAction::Stop => Flow::Stop,
        };
        if flow == Flow::Stop {
            return addr;
        }
        addr = vma_end;
    }
    end
}

/// Walks the part `[start, end)` of `vma` that `table` covers, one entry at a time,
/// descending into lower tables; the same code at every level above the PMD.
fn walk_table<V: Visitor>(
    lock: &MmapLocked<'_>,
    vma: &Vma<'_>,
    table: Table<'_>,
    start: usize,
    end: usize,
    v: &mut V,
) -> Flow {
    let level = table.level();
    let mut addr = start;
    while addr < end {
        let next = level.entry_end(addr, end);
        let slot = table.slot(addr);
        let flow = if level == Level::PMD {
            walk_pmd(lock, vma, slot, addr, next, v)
        } else {
            let entry = slot.read();
            match table.below(entry) {
                Some(lower) => walk_table(lock, vma, lower, addr, next, v),
                // Empty, or a huge leaf above the PMD in a non-hugetlb VMA (device
                // DAX, which the test kernel has not): nothing to show but a hole.
                None => v.hole(Some(vma), addr, next),
            }
        };
        if flow == Flow::Stop {
            return Flow::Stop;
        }
        addr = next;
    }
    Flow::Continue
}

/// Handles one PMD slot covering `[start, end)`: a hole, a huge leaf taken
/// under the PMD lock, or a PTE table taken under its lock. A PMD that changes
/// between the unlocked look and the lock is read again, as the kernel's
/// walker does (`ACTION_AGAIN`).
fn walk_pmd<V: Visitor>(
    lock: &MmapLocked<'_>,
    vma: &Vma<'_>,
    slot: Slot<'_>,
    start: usize,
    end: usize,
    v: &mut V,
) -> Flow {
    loop {
        let entry = slot.read();
        match entry.kind() {
            Kind::None => return v.hole(Some(vma), start, end),
            Kind::Present | Kind::NonPresent => {
                let ptl = PmdLock::lock(lock, slot);
                let Some(leaf) = ptl.leaf() else {
                    continue;
                };
                let flow = v.leaf(vma, &leaf, start, end);
                if flow != Flow::Split {
                    return flow;
                }
                drop(ptl);
                slot.split_huge_pmd(lock, vma, start);
            }
            Kind::Table => {
                let Some(ptes) = PteTableLock::map_lock(lock, slot, start) else {
                    continue;
                };
                v.pte_table_start(vma, start, end);
                let lazy = v.lazy_mmu().then(|| ptes.lazy_mmu());
                let flow = v.pte_table(vma, &ptes, start, end);
                v.pte_table_done(vma, start, end);
                drop(lazy);
                drop(ptes);
                // No lock is held here besides the sleepable mmap lock.
                cond_resched();
                return flow;
            }
        }
    }
}

/// Visits every PTE of a locked PTE table in `[start, end)`: one [`Visitor::leaf`] each,
/// what [`Visitor::pte_table`] does unless a consumer runs its own loop.
pub(crate) fn walk_ptes<V: Visitor>(
    vma: &Vma<'_>,
    ptes: &PteTableLock<'_>,
    start: usize,
    end: usize,
    v: &mut V,
) -> Flow {
    let mut addr = start;
    while addr < end {
        let leaf = ptes.leaf(addr);
        let next = addr + x86::PAGE_SIZE;
        if v.leaf(vma, &leaf, addr, next) == Flow::Stop {
            return Flow::Stop;
        }
        addr = next;
    }
    Flow::Continue
}

/// Walks a hugetlb VMA one huge page at a time: descends to the level of the
/// VMA's page size, reports a hole where a table on the way is missing, and
/// hands over each huge entry under the huge-PTE lock.
fn walk_hugetlb<V: Visitor>(
    lock: &MmapLocked<'_>,
    vma: &Vma<'_>,
    start: usize,
    end: usize,
    v: &mut V,
) -> Flow {
    // This lock keeps shared PMD tables from being unshared under the walk, as
    // `walk_hugetlb_range` takes it; held until the end of the VMA.
    let Some(hlock) = HugetlbVmaLock::lock_read(vma) else {
        return v.hole(Some(vma), start, end);
    };
    let Some(leaf_level) = Level::of_page_size(vma.huge_page_size()) else {
        return v.hugetlb_hole(&hlock, start, end);
    };
    let mut addr = start;
    let mut flow = Flow::Continue;
    while addr < end && flow != Flow::Stop {
        let next = leaf_level.entry_end(addr, end);
        flow = match huge_slot(lock, leaf_level, addr) {
            None => v.hugetlb_hole(&hlock, addr, next),
            Some(slot) => {
                // Lock order: the mapping's i_mmap lock, then the huge-PTE lock.
                let mapping = if v.lock_hugetlb_mapping() {
                    vma.lock_mapping_write()
                } else {
                    None
                };
                let ptl = HugePteLock::lock(&hlock, slot);
                let flow = v.leaf(vma, &ptl.leaf(addr), addr, next);
                drop(ptl);
                drop(mapping);
                // No spinlock is held any more.
                cond_resched();
                flow
            }
        };
        addr = next;
    }
    drop(hlock);
    flow
}

/// The slot at `leaf_level` for `addr`, or `None` if a table above it is missing
/// (what `huge_pte_offset` reports as NULL).
fn huge_slot<'a>(lock: &'a MmapLocked<'_>, leaf_level: Level, addr: usize) -> Option<Slot<'a>> {
    let mut table = Table::root(lock);
    while table.level() > leaf_level {
        table = table.below(table.slot(addr).read())?;
    }
    Some(table.slot(addr))
}
