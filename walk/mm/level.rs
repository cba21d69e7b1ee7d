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

#[kernel::prelude::kunit_tests(rust_pagemap_level)]
mod tests {
    use super::*;

    const KIB: usize = 1 << 10;
    const MIB: usize = 1 << 20;
    const GIB: usize = 1 << 30;

    #[test]
    fn spans_are_the_page_sizes_of_each_level() {
        assert_eq!(Level::PTE.span(), 4 * KIB);
        assert_eq!(Level::PMD.span(), 2 * MIB);
        assert_eq!(Level(2).span(), GIB);
        assert_eq!(Level(3).span(), 512 * GIB);
        assert_eq!(Level(4).shift(), 48);
    }

    #[test]
    fn page_sizes_name_their_level_and_others_none() {
        assert_eq!(Level::of_page_size(4 * KIB), Some(Level::PTE));
        assert_eq!(Level::of_page_size(2 * MIB), Some(Level::PMD));
        assert_eq!(Level::of_page_size(GIB), Some(Level(2)));
        assert_eq!(Level::of_page_size(64 * KIB), None);
        assert_eq!(Level::of_page_size(0), None);
    }

    #[test]
    fn index_is_the_nine_bits_of_the_level() {
        let addr = (3 << 39) | (5 << 30) | (7 << 21) | (9 << 12) | 0xabc;
        assert_eq!(Level::PTE.index(addr), 9);
        assert_eq!(Level::PMD.index(addr), 7);
        assert_eq!(Level(2).index(addr), 5);
        assert_eq!(Level(3).index(addr), 3);
        assert_eq!(Level::PTE.index(511 << 12), 511);
        assert_eq!(Level::PTE.index(512 << 12), 0);
    }

    #[test]
    fn entry_end_stops_at_the_boundary_or_the_end() {
        assert_eq!(Level::PMD.entry_end(2 * MIB + 4 * KIB, 10 * MIB), 4 * MIB);
        assert_eq!(Level::PMD.entry_end(2 * MIB + 4 * KIB, 3 * MIB), 3 * MIB);
        // An address on a boundary covers a whole entry.
        assert_eq!(Level::PMD.entry_end(4 * MIB, 10 * MIB), 6 * MIB);
        assert_eq!(Level::PTE.entry_end(0, usize::MAX), 4 * KIB);
    }

    #[test]
    fn entry_end_does_not_wrap_at_the_top_of_the_address_space() {
        let last = usize::MAX - (2 * MIB - 1);
        assert_eq!(Level::PMD.entry_end(last, usize::MAX), usize::MAX);
        assert_eq!(
            Level(4).entry_end(usize::MAX - 4095, usize::MAX),
            usize::MAX
        );
    }

    #[test]
    fn below_steps_down_to_the_pte_level() {
        assert_eq!(Level(4).below(), Some(Level(3)));
        assert_eq!(Level::PMD.below(), Some(Level::PTE));
        assert_eq!(Level::PTE.below(), None);
    }

    #[test]
    fn top_is_the_root_of_four_or_five_level_paging() {
        let top = Level::top();
        assert!(top == Level(3) || top == Level(4));
        // Asked once and kept: the same answer again.
        assert_eq!(Level::top(), top);
    }
}
