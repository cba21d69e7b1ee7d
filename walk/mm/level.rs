// SPDX-License-Identifier: GPL-2.0

//! Page-table levels as numbers, so that one walk serves every level.

use core::sync::atomic::{AtomicU8, Ordering};

use super::x86::{ENTRIES_PER_TABLE, LEVEL_BITS, PAGE_SHIFT};

/// A page-table level.
///
/// Levels count from the bottom: level 0 holds the 4 KiB PTEs, level 1 the
/// PMDs, level 2 the PUDs, level 3 the P4Ds (which are the PGD entries under
/// 4-level paging) and level 4 the PGD under 5-level paging. Walking down
/// decrements the level. The top level is a property of the running kernel,
/// see [`Level::top`].
///
/// # Invariants
///
/// The number is at most 4.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Level(u8);

impl Level {
    /// The level of the 4 KiB page-table entries.
    pub(crate) const PTE: Level = Level(0);
    /// The level whose leaves are 2 MiB pages.
    pub(crate) const PMD: Level = Level(1);

    /// The root level of every mm on the running kernel (3 or 4).
    ///
    /// The paging mode is fixed at boot, so the answer of `pgtable_l5_enabled` is
    /// asked once and kept: every walk starts here, and the helper is a real call.
    #[inline]
    pub(crate) fn top() -> Level {
        // 0: not asked yet; else the top level plus one.
        static TOP: AtomicU8 = AtomicU8::new(0);
        match TOP.load(Ordering::Relaxed) {
            0 => {
                // SAFETY: `pgtable_l5_enabled` only reads a boot-time CPU feature.
                let top = if unsafe { kernel::bindings::pgtable_l5_enabled() } {
                    4
                } else {
                    3
                };
                // Racing first callers store the same value.
                TOP.store(top + 1, Ordering::Relaxed);
                Level(top)
            }
            // INVARIANT: only 4 or 5 is ever stored, so the level is 3 or 4.
            n => Level(n - 1),
        }
    }

    /// The level whose leaves are pages of `size` bytes, if there is one.
    pub(crate) fn of_page_size(size: usize) -> Option<Level> {
        (0..=4u8).map(Level).find(|l| l.span() == size)
    }

    /// log2 of the address span one entry at this level covers.
    #[inline]
    pub(crate) fn shift(self) -> u32 {
        PAGE_SHIFT + LEVEL_BITS * u32::from(self.0)
    }

    /// Bytes of address space one entry at this level covers.
    #[inline]
    pub(crate) fn span(self) -> usize {
        1usize << self.shift()
    }

    /// Index of `addr`'s entry within a table at this level.
    #[inline]
    pub(crate) fn index(self, addr: usize) -> usize {
        (addr >> self.shift()) & (ENTRIES_PER_TABLE - 1)
    }

    /// End of the entry that covers `addr`, clipped to `end`, without overflow.
    #[inline]
    pub(crate) fn entry_end(self, addr: usize, end: usize) -> usize {
        let boundary = (addr | (self.span() - 1)).wrapping_add(1);
        if boundary == 0 || boundary > end {
            end
        } else {
            boundary
        }
    }

    /// The level a table entry at this level points down to; `None` at the bottom.
    #[inline]
    pub(crate) fn below(self) -> Option<Level> {
        self.0.checked_sub(1).map(Level)
    }
}
