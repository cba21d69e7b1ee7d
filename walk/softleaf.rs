// SPDX-License-Identifier: GPL-2.0

//! Decoding of non-present ("soft leaf") entries through the kernel's own
//! inlines, so that the swap-type numbering always matches the running config.

use kernel::bindings;

use super::page::Page;

/// The marker value of a uffd-wp marker (`PTE_MARKER_UFFD_WP` in include/linux/swapops.h):
/// a marker kind, not a page-table bit.
const PTE_MARKER_UFFD_WP: usize = 1 << 0;

/// The PTE value of a uffd-wp marker (`make_pte_marker(PTE_MARKER_UFFD_WP)`).
pub(crate) fn uffd_wp_marker_pte() -> bindings::pte_t {
    // SAFETY: `make_pte_marker` is a pure function of the value.
    unsafe { bindings::make_pte_marker(PTE_MARKER_UFFD_WP) }
}

/// A decoded non-present page-table entry (`softleaf_t`).
///
/// # Invariants
///
/// `inner` was produced by `softleaf_from_pte` or `softleaf_from_pmd` from a
/// non-present, non-empty entry.
#[derive(Copy, Clone)]
pub(crate) struct SoftLeaf {
    inner: bindings::swp_entry_t,
}

impl SoftLeaf {
    /// Decodes a non-present PTE value.
    pub(crate) fn from_pte(raw: u64) -> Self {
        // SAFETY: `softleaf_from_pte` is a pure function of the value.
        let inner = unsafe { bindings::softleaf_from_pte(bindings::pte_t { pte: raw as usize }) };
        // INVARIANT: decoded from a non-present PTE (callers pass only those).
        Self { inner }
    }

    /// Decodes a non-present PMD value.
    pub(crate) fn from_pmd(raw: u64) -> Self {
        // SAFETY: `softleaf_from_pmd` is a pure function of the value.
        let inner = unsafe { bindings::softleaf_from_pmd(bindings::pmd_t { pmd: raw as usize }) };
        // INVARIANT: decoded from a non-present PMD (callers pass only those).
        Self { inner }
    }

    /// The swap type field (a swap device, or one of the special types).
    pub(crate) fn swap_type(self) -> u64 {
        // SAFETY: pure function of the value.
        u64::from(unsafe { bindings::swp_type(self.inner) })
    }

    /// The raw swap offset field.
    pub(crate) fn swap_offset(self) -> u64 {
        // SAFETY: pure function of the value.
        unsafe { bindings::swp_offset(self.inner) as u64 }
    }

    /// Whether the entry carries a page frame (migration, device, hwpoison).
    pub(crate) fn has_pfn(self) -> bool {
        // SAFETY: pure function of the value.
        unsafe { bindings::softleaf_has_pfn(self.inner) }
    }

    /// The page frame of a [`Self::has_pfn`] entry.
    pub(crate) fn pfn(self) -> u64 {
        // SAFETY: pure function of the value.
        unsafe { bindings::softleaf_to_pfn(self.inner) as u64 }
    }

    /// The offset pagemap reports: the frame for frame-carrying entries, else the swap offset.
    pub(crate) fn pagemap_offset(self) -> u64 {
        if self.has_pfn() {
            self.pfn()
        } else {
            self.swap_offset()
        }
    }

    /// The page a frame-carrying entry refers to.
    ///
    /// The page is only looked at (its folio's anon bit) while the page-table
    /// lock that made this entry current is held, as the kernel does.
    pub(crate) fn page(self) -> Option<Page> {
        if !self.has_pfn() {
            return None;
        }
        // SAFETY: the entry carries a PFN of a page with a `struct page`.
        Page::from_raw(unsafe { bindings::softleaf_to_page(self.inner) })
    }

    /// Whether this is a userfaultfd write-protect marker.
    pub(crate) fn is_uffd_wp_marker(self) -> bool {
        // SAFETY: pure function of the value.
        unsafe { bindings::softleaf_is_uffd_wp_marker(self.inner) }
    }

    /// Whether this is a migration entry of any kind.
    pub(crate) fn is_migration(self) -> bool {
        // SAFETY: pure function of the value.
        unsafe { bindings::softleaf_is_migration(self.inner) }
    }

    /// Whether this is a PTE marker of any kind (uffd-wp, poison, guard).
    pub(crate) fn is_marker(self) -> bool {
        // SAFETY: pure function of the value.
        unsafe { bindings::softleaf_is_marker(self.inner) }
    }

    /// Whether this is a hardware-poison entry.
    pub(crate) fn is_hwpoison(self) -> bool {
        // SAFETY: pure function of the value.
        unsafe { bindings::softleaf_is_hwpoison(self.inner) }
    }

    /// Whether this is a guard-region marker.
    pub(crate) fn is_guard_marker(self) -> bool {
        // SAFETY: pure function of the value.
        unsafe { bindings::softleaf_is_guard_marker(self.inner) }
    }
}
