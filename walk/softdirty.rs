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
//!   its flags without it as `mprotect` would ([`consume_part`]): merged into a
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

use super::entry::Kind;
use super::level::Level;
use super::mm::{task_size, MmapLock, MmapReadLock};
use super::notify::{NotifierRange, NotifyEvent, TlbFlushPending};
use super::table::PteTableLock;
use super::vma::Vma;
use super::x86::{self, PAGE_SIZE};
use super::{walk, Flow, Leaf, LeafKind, Visitor, VmaAction};
use kernel::mm::virt::flags;

/// Clears soft-dirty on every page of the consumer's walk.
///
/// The TLB is flushed once, for the span of everything changed, when the clearer is
/// dropped: as `clear_refs` flushes once per call (`flush_tlb_mm`), after its walk and
/// with the flush announced as pending (`inc_tlb_flush_pending`) meanwhile, not once per
/// PTE table. A clearer lives inside that bracket ([`in_clear_bracket`]) and under the
/// mmap lock its constructor borrows, so the flush comes before either is left.
///
/// # Invariants
///
/// `pending`, when set, spans every present PTE of the locked mm the clearer changed
/// whose TLB entries were not flushed yet.
pub(crate) struct SoftDirtyClearer<'l> {
    lock: &'l MmapLock<'l>,
    pending: Option<(usize, usize)>,
}

impl<'l> SoftDirtyClearer<'l> {
    /// A clearer for the mm `lock` holds, with nothing pending.
    pub(crate) fn new(lock: &'l MmapLock<'l>) -> Self {
        // INVARIANT: nothing changed yet.
        Self {
            lock,
            pending: None,
        }
    }

    /// Clears one leaf over `[start, end)`; returns [`Flow::Split`] for a huge PMD
    /// the range covers only in part, so that the walk comes back with its PTEs.
    pub(crate) fn clear_leaf(
        &mut self,
        vma: &Vma<'_>,
        leaf: &Leaf<'_>,
        start: usize,
        end: usize,
    ) -> Flow {
        match leaf.kind {
            LeafKind::Pte => {
                self.clear_pte_leaf(vma, leaf, start, end);
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
                    return if Self::splits(vma, leaf, start, end) {
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

    /// Whether [`Self::clear_leaf`] of `[start, end)` splits `leaf` ([`Flow::Split`]):
    /// an anonymous huge PMD that the span covers only in part.
    pub(crate) fn splits(vma: &Vma<'_>, leaf: &Leaf<'_>, start: usize, end: usize) -> bool {
        let span = Level::PMD.span();
        let base = start & !(span - 1);
        leaf.kind == LeafKind::Thp
            && leaf.entry.kind() != Kind::None
            && (start != base || end != base + span)
            && vma.is_anonymous()
    }

    /// Cleans the PTE leaf at `addr`; `true` if its TLB entries must be flushed. A pinned
    /// page of a COW mapping stays writable, as `clear_refs` leaves it, and is marked
    /// soft-dirty instead ([`Leaf::pte_keep_soft_dirty`]): it cannot be tracked.
    #[inline]
    fn clear_pte(&mut self, vma: &Vma<'_>, leaf: &Leaf<'_>, addr: usize) -> bool {
        if leaf.is_pinned_cow_page(vma, addr, leaf.entry) {
            leaf.pte_keep_soft_dirty(vma, addr);
            return false;
        }
        leaf.pte_clear_soft_dirty(vma, addr)
    }

    /// Adds `[start, end)`, PTEs of the locked mm just changed (cleaned here, or
    /// write-protected by a scan), to what must be flushed.
    #[inline]
    pub(crate) fn pending_add(&mut self, start: usize, end: usize) {
        // INVARIANT: the span grows to cover `start..end`.
        self.pending = Some(match self.pending {
            Some((s, e)) => (s.min(start), e.max(end)),
            None => (start, end),
        });
    }

    /// [`Self::clear_leaf`] of a PTE leaf over `[start, end)`, inline.
    #[inline]
    pub(crate) fn clear_pte_leaf(
        &mut self,
        vma: &Vma<'_>,
        leaf: &Leaf<'_>,
        start: usize,
        end: usize,
    ) {
        if self.clear_pte(vma, leaf, start) {
            self.pending_add(start, end);
        }
    }

    /// Flushes the TLB entries of everything changed so far, on every CPU that may hold them.
    pub(crate) fn flush(&mut self) {
        if let Some((start, end)) = self.pending.take() {
            self.lock.flush_tlb_range(start, end);
        }
    }
}

impl Drop for SoftDirtyClearer<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

impl Visitor for SoftDirtyClearer<'_> {
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
        self.clear_leaf(vma, leaf, start, end)
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
        // The span changed in this table, kept here and added to the pending one once.
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
            self.pending_add(lo, hi);
        }
        Flow::Continue
    }
}

/// Calls `f` for every VMA that `[start, end)` of the locked mm reaches, with the part
/// of it inside the range, until `f` fails. `f` may merge or split the VMAs of the range
/// from the part on: the walk goes on from where the VMA ended before `f` ran.
pub(crate) fn try_for_each_vma<'a>(
    lock: &'a MmapLock<'_>,
    start: usize,
    end: usize,
    mut f: impl FnMut(Vma<'a>, usize, usize) -> Result,
) -> Result {
    let mut addr = start;
    while addr < end {
        let Some(vma) = Vma::find(lock, addr) else {
            break;
        };
        if vma.start() >= end {
            break;
        }
        let (from, to) = (addr.max(vma.start()), end.min(vma.end()));
        addr = vma.end();
        f(vma, from, to)?;
    }
    Ok(())
}

/// Calls `f` for every VMA that `[start, end)` of the locked mm reaches.
fn for_each_vma<'a>(lock: &'a MmapLock<'_>, start: usize, end: usize, mut f: impl FnMut(Vma<'a>)) {
    let _ = try_for_each_vma(lock, start, end, |vma, _, _| {
        f(vma);
        Ok(())
    });
}

/// Write-locks every VMA that `[start, end)` of the write-locked mm reaches (as the
/// kernel's walker does with `PGWALK_WRLOCK`), so that no fault runs until the mmap
/// lock is dropped.
pub(crate) fn lock_vmas(lock: &MmapLock<'_>, start: usize, end: usize) {
    for_each_vma(lock, start, end, |vma| vma.write_lock(lock));
}

/// Consumes the `VM_SOFTDIRTY` of `[start, end)`, a part of the soft-dirty VMA `vma` of
/// the write-locked mm, so that the pages of the part read soft-dirty from their
/// entries alone, and those of the rest of the VMA still read dirty through the flag.
///
/// The part gets the VMA's flags without `VM_SOFTDIRTY` as `mprotect` gives a part of
/// a VMA new flags ([`Vma::modify_flags`]): it merges with a neighbour that is not
/// soft-dirty and would merge with it anyway, else it is split off. So a tracker that
/// consumes a VMA piece by piece (get-and-clear with `max_pages`, consecutive ranged
/// clears) moves one boundary along instead of leaving a VMA per call: the VMAs of a
/// mapping stay within a constant of what they were. A merge never takes in a
/// soft-dirty neighbour (`VM_SOFTDIRTY` is sticky: the merged VMA would keep it, and
/// the part would not be consumed): `prev` is offered only when it is clean, and when
/// the part ends where a soft-dirty VMA with the same flags starts, it is only split
/// off. Should a merge take a soft-dirty neighbour in all the same (by flags the kernel
/// ignores for merging), the flags it returns say so, and the part is left dirty.
///
/// Returns whether the flag was consumed: `false` when the VMA refuses to be split
/// there (`[vdso]`, `[vvar]` and other special mappings with `may_split`), which leaves
/// all of it dirty. `ENOMEM` when a split is refused at `vm.max_map_count`; nothing
/// changed then.
pub(crate) fn consume_part(
    lock: &MmapLock<'_>,
    vma: Vma<'_>,
    start: usize,
    end: usize,
) -> Result<bool> {
    // A soft-dirty VMA that starts where the part ends and has the same flags may merge
    // with it (the kernel also compares file, anon_vma and policy, which are not looked at
    // here): then the part is only split off. One whose other flags differ (a guard page,
    // another protection) cannot, and the part may merge into a clean `prev` as usual.
    let next_dirty = end == vma.end()
        && vma.next_adjacent(lock).is_some_and(|next| {
            next.soft_dirty() && (next.flags() ^ vma.flags()) & !flags::SOFTDIRTY == 0
        });
    let part = if next_dirty {
        let part = if start > vma.start() {
            vma.split(lock, start).map(|()| Vma::find(lock, start))
        } else {
            Ok(Some(vma))
        };
        part.map(|part| part.map(|part| (part, part.flags() & !flags::SOFTDIRTY)))
    } else {
        let prev = vma.prev_adjacent(lock).filter(|prev| !prev.soft_dirty());
        let new = vma.flags() & !flags::SOFTDIRTY;
        vma.modify_flags(lock, prev, start, end, new).map(Some)
    };
    match part {
        Ok(Some((part, new))) if new & flags::SOFTDIRTY == 0 => {
            part.clear_soft_dirty_flag(lock);
            Ok(true)
        }
        // Merged with a soft-dirty VMA after all: the part keeps reading dirty.
        Ok(_) => Ok(false),
        Err(e) if e == EINVAL => Ok(false),
        Err(e) => Err(e),
    }
}

/// Consumes `VM_SOFTDIRTY` on all of `[start, end)` of the write-locked mm
/// ([`consume_part`] of every VMA there), but on hugetlb VMAs, which keep it (see the
/// module documentation), and on parts of VMAs that refuse a split there. All or
/// nothing: on `ENOMEM` the flag is set again on what the call reached (more VMAs may
/// read dirty than before, none reads clean) and nothing else has changed.
fn consume(lock: &MmapLock<'_>, start: usize, end: usize) -> Result {
    try_for_each_vma(lock, start, end, |vma, from, to| {
        if vma.soft_dirty() && !vma.is_hugetlb() {
            if let Err(e) = consume_part(lock, vma, from, to) {
                set_vma_flags(lock, start, from);
                return Err(e);
            }
        }
        Ok(())
    })
}

/// Whether a clear of `[start, end)` would change a VMA: some VMA there other than a
/// hugetlb one (which keeps the flag) has `VM_SOFTDIRTY`. Only then does the clear need
/// the mmap lock for write (to change the flag and `vm_page_prot`, to split the VMA, and
/// to keep faults from installing entries with the old protection behind the walk).
/// Without such a VMA nothing but page-table entries changes, each under its page-table
/// lock, as PAGEMAP_SCAN's write-protection does under the read lock; the answer cannot
/// change while the lock is held, as VMA flags change only under the write lock.
pub(crate) fn changes_vmas(lock: &MmapReadLock<'_>, start: usize, end: usize) -> bool {
    let mut found = false;
    for_each_vma(lock, start, end, |vma| {
        // Nor a VM_PFNMAP one (`[vvar]` has the flag): a scan skips it, so no region
        // ever covers it and get-and-clear never consumes its flag.
        found |= vma.soft_dirty() && !vma.is_hugetlb() && !vma.is_pfnmap();
    });
    found
}

/// Sets `VM_SOFTDIRTY` on every VMA `[start, end)` of the write-locked mm reaches, so
/// that all their pages read dirty again (more than was cleared, never less).
fn set_vma_flags(lock: &MmapLock<'_>, start: usize, end: usize) {
    for_each_vma(lock, start, end, |vma| vma.set_soft_dirty_flag(lock));
}

/// Undoes the consumption of soft-dirty state on `[start, end)` of `mm` whose
/// report could not be delivered: every VMA the range reaches gets
/// `VM_SOFTDIRTY` back ([`set_vma_flags`]). Takes the mmap lock for write,
/// uninterruptibly.
pub(crate) fn redirty(mm: &MmWithUser, start: usize, end: usize) {
    let lock = MmapLock::write_lock(mm);
    set_vma_flags(&lock, start, end);
}

/// Runs `f`, the walk of a clear over `[start, end)`, with a TLB flush announced as
/// pending (`inc_tlb_flush_pending`) and inside an mmu_notifier range of type
/// `MMU_NOTIFY_SOFT_DIRTY`, as `clear_refs_write` brackets its walk: the range tells
/// KVM, GPU and IOMMU mirrors to drop their write access to the range before the walk.
/// Both start after the mmap lock was taken and end before it is dropped.
pub(crate) fn in_clear_bracket<R>(
    lock: &MmapLock<'_>,
    start: usize,
    end: usize,
    f: impl FnOnce() -> R,
) -> R {
    let pending = TlbFlushPending::announce(lock);
    let ret = {
        let _notifier = NotifierRange::start(lock, NotifyEvent::SoftDirty, start, end);
        f()
    };
    drop(pending);
    ret
}

/// Clears soft-dirty on `range` of `mm`, or on all of it for `None` (the effect
/// of writing 4 to `/proc/PID/clear_refs`, hugetlb VMAs aside).
pub(crate) fn clear(mm: &MmWithUser, range: Option<(usize, usize)>) -> Result {
    let lock = MmapLock::write_lock_killable(mm)?;
    let (start, end) = range.unwrap_or((0, task_size(mm)));
    consume(&lock, start, end)?;
    lock_vmas(&lock, start, end);
    in_clear_bracket(&lock, start, end, || {
        let mut clearer = SoftDirtyClearer::new(&lock);
        walk(&lock, start, end, &mut clearer);
        clearer.flush();
    });
    Ok(())
}
