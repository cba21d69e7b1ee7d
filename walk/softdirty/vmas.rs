// SPDX-License-Identifier: GPL-2.0

//! `VM_SOFTDIRTY`: consuming it for the part of a VMA a clear covered, and setting it
//! again where a clear has to be undone. Needs the mmap lock for write.

use kernel::mm::virt::flags;
use kernel::prelude::*;

use crate::walk::mm::lock::MmapWriteGuard;
use crate::walk::mm::vma::Vma;

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
    lock: &MmapWriteGuard<'_>,
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
pub(super) fn consume(lock: &MmapWriteGuard<'_>, start: usize, end: usize) -> Result {
    Vma::try_for_each(lock, start, end, |vma, from, to| {
        if vma.soft_dirty() && !vma.is_hugetlb() {
            if let Err(e) = consume_part(lock, vma, from, to) {
                set_vma_flags(lock, start, from);
                return Err(e);
            }
        }
        Ok(())
    })
}

/// Sets `VM_SOFTDIRTY` on every VMA `[start, end)` of the write-locked mm reaches, so
/// that all their pages read dirty again (more than was cleared, never less).
pub(super) fn set_vma_flags(lock: &MmapWriteGuard<'_>, start: usize, end: usize) {
    Vma::for_each(lock, start, end, |vma| vma.set_soft_dirty_flag(lock));
}
