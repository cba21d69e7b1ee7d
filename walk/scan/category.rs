// SPDX-License-Identifier: GPL-2.0

//! PAGEMAP_SCAN categories: what each kind of entry is (`pagemap_page_category`,
//! `pagemap_thp_category`, `pagemap_hugetlb_category`, `pagemap_scan_pte_hole`
//! in fs/proc/task_mmu.c), and which pages a scan's masks select
//! (`pagemap_scan_is_interesting_page`, `pagemap_scan_is_interesting_vma`).

use crate::walk::mm::page::{self, Page};
use crate::walk::mm::softleaf::{pte_swp_uffd_any, SoftLeaf};
use crate::walk::mm::vma::Vma;
use crate::walk::mm::x86;
use crate::walk::mm::{Entry, Kind, Leaf, Level};
use crate::walk::uapi::page_is;

/// The VMA is registered for asynchronous uffd write-protection with markers.
pub(crate) const WPALLOWED: u64 = page_is::WPALLOWED;
/// The page was written since it was last write-protected (uffd-wp VMAs only).
pub(crate) const WRITTEN: u64 = page_is::WRITTEN;
/// The page is not anonymous.
pub(crate) const FILE: u64 = page_is::FILE;
/// The entry is present.
pub(crate) const PRESENT: u64 = page_is::PRESENT;
/// The entry is non-present and not empty (swap, migration, markers, ...).
pub(crate) const SWAPPED: u64 = page_is::SWAPPED;
/// The page is the zero page or the huge zero page.
pub(crate) const PFNZERO: u64 = page_is::PFNZERO;
/// The entry is a THP or hugetlb entry.
pub(crate) const HUGE: u64 = page_is::HUGE;
/// The entry or the VMA is soft-dirty.
pub(crate) const SOFT_DIRTY: u64 = page_is::SOFT_DIRTY;
/// The entry is a guard-region marker.
pub(crate) const GUARD: u64 = page_is::GUARD;
/// The page was accessed since it was last read-write-protected (uffd-rwp VMAs only).
pub(crate) const ACCESSED: u64 = page_is::ACCESSED;
/// Every category this kernel knows (`PM_SCAN_CATEGORIES`).
pub(crate) const ALL: u64 =
    WPALLOWED | WRITTEN | FILE | PRESENT | SWAPPED | PFNZERO | HUGE | SOFT_DIRTY | GUARD | ACCESSED;

/// `category` if `cond`, else 0, without a branch.
#[inline]
fn bit(cond: bool, category: u64) -> u64 {
    u64::from(cond).wrapping_neg() & category
}

/// What the categories of a page depend on besides its entry: the VMA's
/// userfaultfd modes, and whether the scan asks about `FILE` at all.
#[derive(Copy, Clone, Default)]
pub(crate) struct Context {
    /// `userfaultfd_wp(vma)`.
    pub(crate) uffd_wp: bool,
    /// `userfaultfd_rwp(vma)`.
    pub(crate) uffd_rwp: bool,
    /// Whether `FILE` is in one of the scan's masks (it costs a page lookup).
    pub(crate) want_file: bool,
    /// Whether `PFNZERO` is in one of them: if not, no mask can see it, and it is not
    /// computed.
    pub(crate) want_zero: bool,
}

impl Context {
    /// `WRITTEN` and `ACCESSED`, as far as the VMA's modes allow, for an entry
    /// whose uffd state is `protected`: both are "the uffd bit is clear".
    /// Computed without branches, as are the other per-PTE bits below: in the loop over a
    /// table every conditional branch costs (most under emulation).
    #[inline]
    fn unprotected(&self, protected: bool) -> u64 {
        let modes = bit(self.uffd_wp, WRITTEN) | bit(self.uffd_rwp, ACCESSED);
        modes & bit(!protected, u64::MAX)
    }

    /// `FILE` if the scan wants it and `page` exists and is not anonymous.
    fn file(&self, page: impl FnOnce() -> Option<Page>) -> u64 {
        match self.want_file.then(page).flatten() {
            Some(page) if !page.is_anon() => FILE,
            _ => 0,
        }
    }

    /// Categories of a PTE (`pagemap_page_category`).
    #[inline]
    pub(crate) fn pte(&self, vma: &Vma<'_>, addr: usize, leaf: &Leaf<'_>) -> u64 {
        self.pte_raw(vma, addr, leaf.entry.raw())
    }

    /// Categories of the PTE value `raw`, read under its PTE-table lock
    /// (`pagemap_page_category`): bit tests on the value, and a page lookup only for
    /// `FILE` when a mask asks for it.
    #[inline(always)]
    pub(crate) fn pte_raw(&self, vma: &Vma<'_>, addr: usize, raw: u64) -> u64 {
        // Present first: an entry with a present bit is never empty.
        if x86::pte_present(raw) {
            let mut c = PRESENT | self.unprotected(x86::uffd(raw));
            if self.want_file {
                c |= self.file(|| Page::normal_pte(vma, addr, Entry::new(raw, Level::PTE)));
            }
            if self.want_zero {
                c |= bit(
                    page::is_zero_pfn(x86::leaf_pfn(raw, x86::PAGE_SHIFT)),
                    PFNZERO,
                );
            }
            c | bit(x86::soft_dirty(raw), SOFT_DIRTY)
        } else if x86::is_none(raw) {
            // An unpopulated PTE carries no uffd bit: written, in a uffd-wp VMA.
            self.unprotected(false) & WRITTEN
        } else {
            let mut c = SWAPPED | self.unprotected(pte_swp_uffd_any(raw));
            let soft = SoftLeaf::from_pte(raw);
            if soft.is_guard_marker() {
                c |= GUARD;
            } else {
                c |= self.file(|| soft.page());
            }
            if x86::swp_soft_dirty(raw) {
                c |= SOFT_DIRTY;
            }
            c
        }
    }

    /// Categories of a huge PMD (`pagemap_thp_category`).
    #[inline(always)]
    pub(crate) fn thp(&self, vma: &Vma<'_>, addr: usize, entry: Entry) -> u64 {
        let mut c = HUGE;
        match entry.kind() {
            Kind::Present => {
                c |= PRESENT | self.unprotected(entry.uffd());
                c |= self.file(|| Page::of_entry(vma, addr, entry));
                if self.want_zero && page::is_huge_zero_pmd(entry) {
                    c |= PFNZERO;
                }
            }
            Kind::NonPresent => {
                c |= SWAPPED | self.unprotected(entry.uffd());
                c |= self.file(|| Page::of_entry(vma, addr, entry));
            }
            Kind::None | Kind::Table => return c,
        }
        if entry.soft_dirty() {
            c |= SOFT_DIRTY;
        }
        c
    }

    /// Categories of a hugetlb entry (`pagemap_hugetlb_category`). Unlike the
    /// read path this uses the entry's own soft-dirty bit; `FILE` is always
    /// computed for present pages and never for non-present ones.
    pub(crate) fn hugetlb(&self, leaf: &Leaf<'_>) -> u64 {
        let entry = leaf.entry.as_pte();
        let mut c = HUGE;
        match entry.kind() {
            Kind::Present => {
                c |= PRESENT | self.unprotected(entry.uffd());
                if Page::from_pfn(entry.pfn()).is_some_and(|p| !p.is_anon()) {
                    c |= FILE;
                }
                if page::is_zero_pfn(entry.pfn()) {
                    c |= PFNZERO;
                }
            }
            Kind::NonPresent => c |= SWAPPED | self.unprotected(leaf.swp_uffd_any()),
            Kind::None | Kind::Table => return c,
        }
        if entry.soft_dirty() {
            c |= SOFT_DIRTY;
        }
        c
    }

    /// Categories of a hole inside a walked VMA (`pagemap_scan_pte_hole`), the
    /// VMA's own categories aside: written in a uffd-wp VMA, except hugetlb.
    pub(crate) fn hole(&self, vma: &Vma<'_>) -> u64 {
        if self.uffd_wp && !vma.is_hugetlb() {
            WRITTEN
        } else {
            0
        }
    }
}

/// Whether the PTE value `raw` is uffd-write-protected, present or not: the test of the
/// kernel's `WRITTEN` fast path and of its exclusive write-protection
/// (`(pte_present && pte_uffd) || pte_swp_uffd_any` in `pagemap_scan_pmd_entry`).
#[inline]
pub(crate) fn pte_uffd_protected(raw: u64) -> bool {
    if x86::pte_present(raw) {
        x86::uffd(raw)
    } else {
        pte_swp_uffd_any(raw)
    }
}

/// The selection part of a scan's arguments.
#[derive(Copy, Clone)]
pub(crate) struct Masks {
    /// Categories inverted before matching.
    pub(crate) inverted: u64,
    /// Categories that must all be set.
    pub(crate) all: u64,
    /// Categories of which one must be set, unless zero.
    pub(crate) anyof: u64,
}

impl Masks {
    /// Whether a page of `categories` is selected (`pagemap_scan_is_interesting_page`).
    #[inline]
    pub(crate) fn matches(&self, categories: u64) -> bool {
        let c = categories ^ self.inverted;
        c & self.all == self.all && (self.anyof == 0 || c & self.anyof != 0)
    }

    /// Whether a VMA of `categories` can hold selected pages at all: only
    /// `WPALLOWED` is decided per VMA (`pagemap_scan_is_interesting_vma`).
    pub(crate) fn vma_matches(&self, categories: u64) -> bool {
        let required = self.all & WPALLOWED;
        (categories ^ self.inverted) & required == required
    }
}

#[kernel::prelude::kunit_tests(rust_pagemap_scan_masks)]
mod tests {
    use super::*;

    // `FILE` is also a name the KUnit assertions define for themselves.
    const FILE_BACKED: u64 = super::FILE;

    fn masks(inverted: u64, all: u64, anyof: u64) -> Masks {
        Masks {
            inverted,
            all,
            anyof,
        }
    }

    #[test]
    fn no_masks_select_every_page() {
        let m = masks(0, 0, 0);
        assert!(m.matches(0));
        assert!(m.matches(ALL));
    }

    #[test]
    fn all_requires_every_category() {
        let m = masks(0, PRESENT | SOFT_DIRTY, 0);
        assert!(m.matches(PRESENT | SOFT_DIRTY | FILE_BACKED));
        assert!(!m.matches(PRESENT));
        assert!(!m.matches(SOFT_DIRTY));
    }

    #[test]
    fn anyof_requires_one_category_unless_empty() {
        let m = masks(0, 0, SWAPPED | PRESENT);
        assert!(m.matches(SWAPPED));
        assert!(m.matches(PRESENT | HUGE));
        assert!(!m.matches(FILE_BACKED | HUGE));
    }

    #[test]
    fn inverted_categories_are_required_absent() {
        // Written pages that are not file-backed.
        let m = masks(FILE_BACKED, WRITTEN | FILE_BACKED, 0);
        assert!(m.matches(WRITTEN));
        assert!(!m.matches(WRITTEN | FILE_BACKED));
        // Inversion applies before anyof too: "not present or soft-dirty".
        let m = masks(PRESENT, 0, PRESENT | SOFT_DIRTY);
        assert!(m.matches(SWAPPED));
        assert!(m.matches(PRESENT | SOFT_DIRTY));
        assert!(!m.matches(PRESENT));
    }

    #[test]
    fn vmas_are_decided_on_wpallowed_only() {
        let m = masks(0, WPALLOWED | SOFT_DIRTY, 0);
        assert!(m.vma_matches(WPALLOWED));
        assert!(!m.vma_matches(SOFT_DIRTY));
        let m = masks(WPALLOWED, WPALLOWED, 0);
        assert!(m.vma_matches(0));
        assert!(!m.vma_matches(WPALLOWED));
        assert!(masks(0, PRESENT, 0).vma_matches(0));
    }

    #[test]
    fn all_is_every_upstream_category() {
        assert_eq!(ALL.count_ones(), 10);
        assert_eq!(ALL, (ACCESSED << 1) - 1);
    }
}
