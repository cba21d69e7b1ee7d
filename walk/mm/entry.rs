// SPDX-License-Identifier: GPL-2.0

//! One page-table entry's value, which knows the level it was read from.

use super::level::Level;
use super::x86::{self, SdUffd};

/// A snapshot of one page-table entry at a known level.
///
/// It is a copy: reading it needs no lock, but what it says may be stale unless
/// it was read under the lock of its table (see [`super::table`]).
#[derive(Copy, Clone, Debug)]
pub(crate) struct Entry {
    raw: u64,
    level: Level,
}

/// What an entry is, as far as a walk is concerned.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Nothing is mapped and no table hangs below.
    None,
    /// Points to the table of the level below.
    Table,
    /// Maps memory (a 4 KiB page, or a huge page above the bottom level).
    Present,
    /// A non-present leaf in swap format: swap, migration, device, hwpoison or marker.
    NonPresent,
}

impl Entry {
    /// Wraps a raw value read from a table at `level`.
    #[inline]
    pub(crate) fn new(raw: u64, level: Level) -> Self {
        Self { raw, level }
    }

    /// The raw value.
    #[inline]
    pub(crate) fn raw(self) -> u64 {
        self.raw
    }

    /// The level the entry was read from.
    #[inline]
    pub(crate) fn level(self) -> Level {
        self.level
    }

    /// The same value read with the rules of the bottom level: hugetlb code reads
    /// its huge entries with the `pte_*` helpers (`huge_ptep_get` returns a `pte_t`),
    /// whatever level they live at.
    #[inline]
    pub(crate) fn as_pte(self) -> Self {
        Self {
            raw: self.raw,
            level: Level::PTE,
        }
    }

    /// Classifies the entry. Above the bottom level a present entry without the
    /// huge bit is a table; a non-present, non-empty entry is a leaf (a PMD
    /// migration entry) at the PMD level and a table pointer nowhere else.
    #[inline]
    pub(crate) fn kind(self) -> Kind {
        let raw = self.raw;
        if x86::is_none(raw) {
            return Kind::None;
        }
        match self.level {
            Level::PTE => {
                if x86::pte_present(raw) {
                    Kind::Present
                } else {
                    Kind::NonPresent
                }
            }
            Level::PMD => {
                if !x86::pmd_present(raw) {
                    Kind::NonPresent
                } else if x86::is_huge(raw) {
                    Kind::Present
                } else {
                    Kind::Table
                }
            }
            _ => {
                if x86::upper_present(raw) && x86::is_huge(raw) {
                    Kind::Present
                } else if x86::upper_present(raw) {
                    Kind::Table
                } else {
                    Kind::NonPresent
                }
            }
        }
    }

    /// Whether the entry maps memory directly (a page or a huge page) or is a
    /// non-present leaf, rather than being empty or pointing to a table.
    #[inline]
    pub(crate) fn is_leaf(self) -> bool {
        matches!(self.kind(), Kind::Present | Kind::NonPresent)
    }

    /// The first page frame a present leaf maps.
    #[inline]
    pub(crate) fn pfn(self) -> u64 {
        x86::leaf_pfn(self.raw, self.level.shift())
    }

    /// Physical address of the table a [`Kind::Table`] entry points to.
    #[inline]
    pub(crate) fn table_phys(self) -> u64 {
        x86::table_phys(self.raw)
    }

    /// The soft-dirty bit, read from the present or the swap-format position.
    #[inline]
    pub(crate) fn soft_dirty(self) -> bool {
        match self.kind() {
            Kind::Present => x86::soft_dirty(self.raw),
            Kind::NonPresent => x86::swp_soft_dirty(self.raw),
            _ => false,
        }
    }

    /// The userfaultfd bit, read from the present or the swap-format position.
    #[inline]
    pub(crate) fn uffd(self) -> bool {
        match self.kind() {
            Kind::Present => x86::uffd(self.raw),
            Kind::NonPresent => x86::swp_uffd(self.raw),
            _ => false,
        }
    }

    /// The soft-dirty and userfaultfd bits of the entry, read as `format` says, as an
    /// index below 4 (see [`SdUffd`]).
    #[inline(always)]
    pub(crate) fn sd_uffd_index(self, format: SdUffd) -> usize {
        format.index(self.raw)
    }

    /// Whether a present entry is writable.
    #[inline]
    pub(crate) fn writable(self) -> bool {
        x86::writable(self.raw)
    }
}
