// SPDX-License-Identifier: GPL-2.0

//! The few questions pagemap asks of a mapped page and its folio.

use core::ptr::NonNull;
use kernel::bindings;

use super::entry::{Entry, Kind};
use super::level::Level;
use super::vma::Vma;

/// A `struct page` found through a page-table entry.
///
/// # Invariants
///
/// `ptr` points to a valid `struct page` of the memory map. The folio it
/// belongs to cannot be freed while the page-table lock under which the
/// entry was read is held; users only look at it while that lock is held.
#[derive(Copy, Clone)]
pub(crate) struct Page {
    ptr: NonNull<bindings::page>,
}

impl Page {
    /// Wraps a page pointer returned by the kernel; `None` for NULL.
    pub(crate) fn from_raw(ptr: *mut bindings::page) -> Option<Self> {
        // INVARIANT: the kernel functions this is called with return NULL or a valid page.
        NonNull::new(ptr).map(|ptr| Self { ptr })
    }

    /// The "normal" page a present PTE maps (`vm_normal_page`): `None` for the
    /// zero page, special and raw-PFN mappings.
    pub(crate) fn normal_pte(vma: &Vma<'_>, addr: usize, entry: Entry) -> Option<Self> {
        // SAFETY: `vma` is a live VMA (its type's invariant) and `entry` a present PTE of it.
        Self::from_raw(unsafe {
            bindings::vm_normal_page(
                vma.as_ptr(),
                addr,
                bindings::pte_t {
                    pte: entry.raw() as usize,
                },
            )
        })
    }

    /// The "normal" page a present huge PMD maps (`vm_normal_page_pmd`).
    pub(crate) fn normal_pmd(vma: &Vma<'_>, addr: usize, entry: Entry) -> Option<Self> {
        // SAFETY: `vma` is a live VMA and `entry` a present huge PMD of it.
        Self::from_raw(unsafe {
            bindings::vm_normal_page_pmd(
                vma.as_ptr(),
                addr,
                bindings::pmd_t {
                    pmd: entry.raw() as usize,
                },
            )
        })
    }

    /// The page an entry at the PTE or PMD level refers to, as pagemap finds it:
    /// the normal page of a present entry (`vm_normal_page`, `vm_normal_page_pmd`),
    /// the page of a frame-carrying non-present entry (migration, device,
    /// hwpoison); `None` for everything else.
    pub(crate) fn of_entry(vma: &Vma<'_>, addr: usize, entry: Entry) -> Option<Self> {
        match entry.kind() {
            Kind::Present if entry.level() == Level::PTE => Self::normal_pte(vma, addr, entry),
            Kind::Present => Self::normal_pmd(vma, addr, entry),
            Kind::NonPresent => entry.soft_leaf().and_then(|leaf| leaf.page()),
            Kind::None | Kind::Table => None,
        }
    }

    /// The page of frame `pfn`, for frames known to have a memory-map entry.
    pub(crate) fn from_pfn(pfn: u64) -> Option<Self> {
        // SAFETY: callers pass frames of mapped RAM (hugetlb pages), which have a `struct page`.
        Self::from_raw(unsafe { bindings::pfn_to_page(pfn as usize) })
    }

    fn folio(self) -> *mut bindings::folio {
        // SAFETY: `ptr` is a valid page (type invariant).
        unsafe { bindings::page_folio(self.ptr.as_ptr()) }
    }

    /// Whether the page belongs to an anonymous folio (else: file, shmem, shared anon).
    pub(crate) fn is_anon(self) -> bool {
        // SAFETY: `folio()` returns the valid folio of a valid page.
        unsafe { bindings::folio_test_anon(self.folio()) }
    }

    /// Whether the folio may be mapped by more than one process.
    pub(crate) fn folio_maybe_mapped_shared(self) -> bool {
        // SAFETY: as for `is_anon`.
        unsafe { bindings::folio_maybe_mapped_shared(self.folio()) }
    }

    /// Whether the folio may be pinned for DMA (`folio_maybe_dma_pinned`).
    pub(crate) fn folio_maybe_dma_pinned(self) -> bool {
        // SAFETY: as for `is_anon`.
        unsafe { bindings::folio_maybe_dma_pinned(self.folio()) }
    }

    /// Number of mappings of this very page, as `folio_precise_page_mapcount`
    /// (fs/proc/internal.h) counts them: the page's own mapcount plus, for a
    /// large folio, the mappings of the folio as a whole.
    #[cfg(CONFIG_PAGE_MAPCOUNT)]
    fn precise_mapcount(self) -> i32 {
        let folio = self.folio();
        // SAFETY: `ptr` is a valid page; reading its mapcount is an atomic read.
        let mut count = unsafe { bindings::page_mapcount_raw(self.ptr.as_ptr()) } + 1;
        // SAFETY: pure function of the value.
        if unsafe { bindings::page_mapcount_is_type(count as u32) } {
            count = 0;
        }
        // SAFETY: `folio` is the valid folio of a valid page.
        if unsafe { bindings::folio_test_large(folio) } {
            // SAFETY: as above; only valid for large folios, which this one is.
            count += unsafe { bindings::folio_entire_mapcount(folio) };
        }
        count
    }

    /// Whether the page is mapped exactly once (`__folio_page_mapped_exclusively`):
    /// its precise mapcount with `CONFIG_PAGE_MAPCOUNT` (the test kernel's), else
    /// the folio-wide estimate, as the kernel decides on a kernel without per-page
    /// mapcounts (`CONFIG_NO_PAGE_MAPCOUNT`).
    pub(crate) fn mapped_exclusively(self) -> bool {
        #[cfg(CONFIG_PAGE_MAPCOUNT)]
        return self.precise_mapcount() == 1;
        #[cfg(not(CONFIG_PAGE_MAPCOUNT))]
        return !self.folio_maybe_mapped_shared();
    }
}

/// Whether `pfn` is the shared zero page (`is_zero_pfn`).
pub(crate) fn is_zero_pfn(pfn: u64) -> bool {
    // SAFETY: compares with the exported zero-page frame; pure.
    unsafe { bindings::is_zero_pfn(pfn as usize) }
}

/// Whether a PMD maps the huge zero page (`is_huge_zero_pmd`).
pub(crate) fn is_huge_zero_pmd(entry: Entry) -> bool {
    // SAFETY: compares the entry's frame with the huge zero page's; pure.
    unsafe {
        bindings::is_huge_zero_pmd(bindings::pmd_t {
            pmd: entry.raw() as usize,
        })
    }
}
