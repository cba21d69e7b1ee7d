// SPDX-License-Identifier: GPL-2.0

//! `RPM_SCAN_PAGE_SIZES` (uapi/rust_pagemap.h): which page-table entry maps a
//! page and which folio stands behind it, as log2 sizes in the upper bits of a
//! region's `categories`. Upstream has no counterpart; the rules are the
//! header's:
//!
//! - entry: 12 for a PTE, 21 for a huge PMD (THP, PMD migration entry), the
//!   VMA's huge page size for every page of a hugetlb VMA (present, swapped,
//!   migrating, or not faulted yet); 0 where no entry exists (a hole, an empty
//!   PTE) outside hugetlb;
//! - folio: the size of the folio a present entry maps (the zero page: 12, the
//!   huge zero page: 21); 0 for a non-present entry and for a raw frame
//!   without a folio.
//!
//! Two pages with the same sizes and categories merge into one region as
//! upstream merges them; a change of either size starts a new region, because
//! the sizes are part of the value that is compared.

use crate::walk::mm::page::{self, Page};
use crate::walk::mm::vma::Vma;
use crate::walk::mm::x86::PAGE_SHIFT;
use crate::walk::mm::{Entry, Kind, Level};
use crate::walk::uapi;

/// Every bit the sizes use (`RPM_REGION_SIZE_MASK`: bits 48-63, above every upstream
/// category): the entry's log2 size in the low half, the folio's in the high half.
pub(crate) const SIZE_BITS: u64 = uapi::RPM_REGION_SIZE_MASK;
/// First bit of the entry's log2 size in `categories` (`RPM_REGION_ENTRY_SHIFT`).
const ENTRY_AT: u32 = SIZE_BITS.trailing_zeros();
/// First bit of the folio's log2 size in `categories` (`RPM_REGION_FOLIO_SHIFT`).
const FOLIO_AT: u32 = ENTRY_AT + SIZE_BITS.count_ones() / 2;

/// The two sizes in their bits.
fn encode(entry_shift: u32, folio_shift: u32) -> u64 {
    (u64::from(entry_shift & 0xff) << ENTRY_AT) | (u64::from(folio_shift & 0xff) << FOLIO_AT)
}

/// Sizes of a PTE at `addr` of `vma`.
pub(crate) fn pte(vma: &Vma<'_>, addr: usize, entry: Entry) -> u64 {
    match entry.kind() {
        Kind::Present => {
            let folio = match Page::normal_pte(vma, addr, entry) {
                Some(page) => page.folio().shift(),
                None if page::is_zero_pfn(entry.pfn()) => PAGE_SHIFT,
                None => 0,
            };
            encode(PAGE_SHIFT, folio)
        }
        Kind::NonPresent => encode(PAGE_SHIFT, 0),
        Kind::None | Kind::Table => 0,
    }
}

/// Sizes of a huge PMD (or PMD migration entry) mapping `addr` of `vma`.
pub(crate) fn thp(vma: &Vma<'_>, addr: usize, entry: Entry) -> u64 {
    let shift = Level::PMD.shift();
    match entry.kind() {
        Kind::Present => {
            let folio = match Page::normal_pmd(vma, addr, entry) {
                Some(page) => page.folio().shift(),
                None if page::is_huge_zero_pmd(entry) => shift,
                None => 0,
            };
            encode(shift, folio)
        }
        Kind::NonPresent => encode(shift, 0),
        Kind::None | Kind::Table => 0,
    }
}

/// Sizes of a hugetlb entry of `vma`, whatever it holds.
pub(crate) fn hugetlb(vma: &Vma<'_>, entry: Entry) -> u64 {
    // hugetlb entries are read with the bottom level's rules, whatever their level.
    let entry = entry.as_pte();
    let folio = match entry.kind() {
        Kind::Present => Page::from_pfn(entry.pfn()).map_or(0, |p| p.folio().shift()),
        _ => 0,
    };
    encode(vma.huge_page_shift(), folio)
}

/// Sizes of a hole inside `vma`: a hugetlb VMA maps it with its huge page size
/// once it is faulted in; anything else has no entry, so no size, there.
pub(crate) fn hole(vma: &Vma<'_>) -> u64 {
    if vma.is_hugetlb() {
        encode(vma.huge_page_shift(), 0)
    } else {
        0
    }
}
