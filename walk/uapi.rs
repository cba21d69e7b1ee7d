// SPDX-License-Identifier: GPL-2.0

//! The device's user ABI as the C headers state it: `uapi/rust_pagemap.h` and the
//! PAGEMAP_SCAN part of `<linux/fs.h>`, turned into Rust by bindgen when the module is
//! built (`Kbuild`, from `walk/uapi.h`), so that the Rust side never repeats a constant
//! or a layout by hand. Everything the device reads from or writes to user space in
//! these types is plain data.

#[allow(
    non_camel_case_types,
    non_upper_case_globals,
    dead_code,
    unreachable_pub,
    clippy::all
)]
mod generated {
    include!("uapi_generated.rs");
}

pub(crate) use generated::{page_region, pm_scan_arg, rpm_range};

/// `PAGEMAP_SCAN` (`<linux/fs.h>`).
pub(crate) const PAGEMAP_SCAN: u32 = generated::PAGEMAP_SCAN;
/// `RPM_IOC_ATTACH_PIDFD`.
pub(crate) const RPM_IOC_ATTACH_PIDFD: u32 = generated::RPM_IOC_ATTACH_PIDFD;
/// `RPM_IOC_CLEAR_SOFT_DIRTY`.
pub(crate) const RPM_IOC_CLEAR_SOFT_DIRTY: u32 = generated::RPM_IOC_CLEAR_SOFT_DIRTY;
/// `RPM_IOC_CLEAR_SOFT_DIRTY_ALL`.
pub(crate) const RPM_IOC_CLEAR_SOFT_DIRTY_ALL: u32 = generated::RPM_IOC_CLEAR_SOFT_DIRTY_ALL;

/// `SEEK_SET` (`<linux/fs.h>`).
pub(crate) const SEEK_SET: u32 = generated::SEEK_SET;
/// `SEEK_CUR` (`<linux/fs.h>`).
pub(crate) const SEEK_CUR: u32 = generated::SEEK_CUR;

/// `PM_SCAN_WP_MATCHING`.
pub(crate) const PM_SCAN_WP_MATCHING: u64 = generated::PM_SCAN_WP_MATCHING as u64;
/// `PM_SCAN_CHECK_WPASYNC`.
pub(crate) const PM_SCAN_CHECK_WPASYNC: u64 = generated::PM_SCAN_CHECK_WPASYNC as u64;
/// `RPM_SCAN_CLEAR_SOFT_DIRTY`.
pub(crate) const RPM_SCAN_CLEAR_SOFT_DIRTY: u64 = generated::RPM_SCAN_CLEAR_SOFT_DIRTY;
/// `RPM_SCAN_PAGE_SIZES`.
pub(crate) const RPM_SCAN_PAGE_SIZES: u64 = generated::RPM_SCAN_PAGE_SIZES;
/// `RPM_REGION_SIZE_MASK`: the category bits that carry the sizes, the entry's log2
/// size in the low half (`RPM_REGION_ENTRY_SHIFT`), the folio's in the high half.
pub(crate) const RPM_REGION_SIZE_MASK: u64 = generated::RPM_REGION_SIZE_MASK as u64;

/// The `PAGE_IS_*` categories, as the `u64` masks of `pm_scan_arg` carry them.
pub(crate) mod page_is {
    use super::generated as g;
    /// `PAGE_IS_WPALLOWED`.
    pub(crate) const WPALLOWED: u64 = g::PAGE_IS_WPALLOWED as u64;
    /// `PAGE_IS_WRITTEN`.
    pub(crate) const WRITTEN: u64 = g::PAGE_IS_WRITTEN as u64;
    /// `PAGE_IS_FILE`.
    pub(crate) const FILE: u64 = g::PAGE_IS_FILE as u64;
    /// `PAGE_IS_PRESENT`.
    pub(crate) const PRESENT: u64 = g::PAGE_IS_PRESENT as u64;
    /// `PAGE_IS_SWAPPED`.
    pub(crate) const SWAPPED: u64 = g::PAGE_IS_SWAPPED as u64;
    /// `PAGE_IS_PFNZERO`.
    pub(crate) const PFNZERO: u64 = g::PAGE_IS_PFNZERO as u64;
    /// `PAGE_IS_HUGE`.
    pub(crate) const HUGE: u64 = g::PAGE_IS_HUGE as u64;
    /// `PAGE_IS_SOFT_DIRTY`.
    pub(crate) const SOFT_DIRTY: u64 = g::PAGE_IS_SOFT_DIRTY as u64;
    /// `PAGE_IS_GUARD`.
    pub(crate) const GUARD: u64 = g::PAGE_IS_GUARD as u64;
    /// `PAGE_IS_ACCESSED`.
    pub(crate) const ACCESSED: u64 = g::PAGE_IS_ACCESSED as u64;
}

/// The bits of a pagemap entry (`RPM_*` in the header; `PM_*` in fs/proc/task_mmu.c).
pub(crate) mod pm {
    use super::generated as g;
    /// `RPM_PFRAME_MASK`: the frame number, or the swap type and offset.
    pub(crate) const PFRAME_MASK: u64 = g::RPM_PFRAME_MASK;
    /// `RPM_SOFT_DIRTY`.
    pub(crate) const SOFT_DIRTY: u64 = g::RPM_SOFT_DIRTY;
    /// `RPM_MMAP_EXCLUSIVE`.
    pub(crate) const MMAP_EXCLUSIVE: u64 = g::RPM_MMAP_EXCLUSIVE;
    /// `RPM_UFFD_WP`.
    pub(crate) const UFFD_WP: u64 = g::RPM_UFFD_WP;
    /// `RPM_GUARD_REGION`.
    pub(crate) const GUARD_REGION: u64 = g::RPM_GUARD_REGION;
    /// `RPM_FILE`.
    pub(crate) const FILE: u64 = g::RPM_FILE;
    /// `RPM_SWAP`.
    pub(crate) const SWAP: u64 = g::RPM_SWAP;
    /// `RPM_PRESENT`.
    pub(crate) const PRESENT: u64 = g::RPM_PRESENT as u64;
}

// SAFETY: `pm_scan_arg` is a `repr(C)` struct of `u64` fields only (bindgen's output of
// the C struct): no padding, and every bit pattern is a valid value.
unsafe impl kernel::transmute::FromBytes for pm_scan_arg {}
// SAFETY: as above: no padding, no uninitialised bytes.
unsafe impl kernel::transmute::AsBytes for pm_scan_arg {}
// SAFETY: `rpm_range` is a `repr(C)` struct of two `u64`s: any bit pattern is valid.
unsafe impl kernel::transmute::FromBytes for rpm_range {}
// SAFETY: `page_region` is a `repr(C)` struct of three `u64`s: no padding.
unsafe impl kernel::transmute::AsBytes for page_region {}
