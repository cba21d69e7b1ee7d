// SPDX-License-Identifier: GPL-2.0

//! The argument of PAGEMAP_SCAN, `struct pm_scan_arg` of <linux/fs.h>: copied
//! in and checked in the kernel's order with the kernel's errnos
//! (`pagemap_scan_get_args`), and its one output field written back
//! (`pagemap_scan_writeback_args`).

use core::mem::{offset_of, size_of};
use kernel::{
    prelude::*,
    uaccess::{UserPtr, UserSlice},
};

use crate::walk::mm::uaccess::access_ok;
use crate::walk::mm::x86::PAGE_SIZE;
use crate::walk::uapi::{self, page_region, pm_scan_arg};

use super::category::{Masks, ALL, SOFT_DIRTY};
use super::size::SIZE_BITS;

/// Write-protect the pages the scan selects.
pub(crate) const WP_MATCHING: u64 = uapi::PM_SCAN_WP_MATCHING;
/// Fail with `EPERM` on a VMA that cannot be write-protected asynchronously.
pub(crate) const CHECK_WPASYNC: u64 = uapi::PM_SCAN_CHECK_WPASYNC;
/// `RPM_SCAN_CLEAR_SOFT_DIRTY`: this device's atomic get-and-clear of soft-dirty, in a
/// flag bit upstream does not use.
pub(crate) const CLEAR_SOFT_DIRTY: u64 = uapi::RPM_SCAN_CLEAR_SOFT_DIRTY;
/// `RPM_SCAN_PAGE_SIZES`: regions carry the log2 sizes of the entry and the folio
/// behind them, and split where either changes.
pub(crate) const PAGE_SIZES: u64 = uapi::RPM_SCAN_PAGE_SIZES;

/// Size of `struct pm_scan_arg`, which its `size` field must give.
const ARG_SIZE: usize = size_of::<pm_scan_arg>();

/// Size of `struct page_region`, for the check of the user's array.
const REGION_SIZE: u64 = size_of::<page_region>() as u64;

/// A validated scan request.
pub(crate) struct ScanArgs {
    /// `PM_SCAN_*` flags.
    pub(crate) flags: u64,
    /// First page of the range.
    pub(crate) start: usize,
    /// End of the range, rounded up to a page.
    pub(crate) end: usize,
    /// User address of the `page_region` array.
    pub(crate) vec: usize,
    /// Regions in the array; 0 for none.
    pub(crate) vec_len: u64,
    /// Pages to report at most (0 in the request means no limit).
    pub(crate) max_pages: u64,
    /// Which pages are selected.
    pub(crate) masks: Masks,
    /// Which categories are reported.
    pub(crate) return_mask: u64,
}

impl ScanArgs {
    /// Copies the request at user address `uarg` in and validates it.
    ///
    /// Addresses are used as given: `untagged_addr` is the identity on kernels
    /// without `CONFIG_ADDRESS_MASKING`, which the test kernel is.
    pub(crate) fn read(uarg: usize) -> Result<Self> {
        let arg: pm_scan_arg = UserSlice::new(UserPtr::from_addr(uarg), ARG_SIZE)
            .reader()
            .read()?;
        if arg.size != ARG_SIZE as u64 {
            return Err(EINVAL);
        }
        let flags = arg.flags;
        if flags & !(WP_MATCHING | CHECK_WPASYNC | CLEAR_SOFT_DIRTY | PAGE_SIZES) != 0 {
            return Err(EINVAL);
        }
        let masks = Masks {
            inverted: arg.category_inverted,
            all: arg.category_mask,
            anyof: arg.category_anyof_mask,
        };
        let return_mask = arg.return_mask;
        if (masks.inverted | masks.all | masks.anyof | return_mask) & !ALL != 0 {
            return Err(EINVAL);
        }
        let (start, end, vec, vec_len) = (arg.start, arg.end, arg.vec, arg.vec_len);
        // Get-and-clear reports dirty pages only, into an array (it clears exactly what
        // it reports, so it must report); it is not a write-protecting scan.
        if flags & CLEAR_SOFT_DIRTY != 0
            && (masks.all & SOFT_DIRTY == 0
                || masks.inverted & SOFT_DIRTY != 0
                || flags & WP_MATCHING != 0
                || vec_len == 0)
        {
            return Err(EINVAL);
        }
        if start % PAGE_SIZE as u64 != 0 {
            return Err(EINVAL);
        }
        if !access_ok(start, end.wrapping_sub(start)) {
            return Err(EFAULT);
        }
        if vec == 0 && vec_len != 0 {
            return Err(EINVAL);
        }
        if vec != 0 && !access_ok(vec, vec_len.saturating_mul(REGION_SIZE)) {
            return Err(EFAULT);
        }
        // `access_ok` bounds `end`, so rounding it up cannot wrap.
        let end = end.next_multiple_of(PAGE_SIZE as u64);
        let max_pages = match arg.max_pages {
            0 => u64::MAX,
            n => n,
        };
        Ok(Self {
            flags,
            start: start as usize,
            end: end as usize,
            vec: vec as usize,
            vec_len,
            max_pages,
            masks,
            return_mask,
        })
    }

    /// Whether the scan clears the soft-dirty state of what it reports.
    pub(crate) fn clear_soft_dirty(&self) -> bool {
        self.flags & CLEAR_SOFT_DIRTY != 0
    }

    /// Whether regions carry their page sizes (`RPM_SCAN_PAGE_SIZES`).
    pub(crate) fn page_sizes(&self) -> bool {
        self.flags & PAGE_SIZES != 0
    }

    /// The bits of a page's categories that reach the user: `return_mask`, and the
    /// size bits when the scan reports sizes.
    pub(crate) fn output_mask(&self) -> u64 {
        if self.page_sizes() {
            self.return_mask | SIZE_BITS
        } else {
            self.return_mask
        }
    }

    /// Whether the scan write-protects what it selects.
    pub(crate) fn wp(&self) -> bool {
        self.flags & WP_MATCHING != 0
    }

    /// Writes `walk_end` back into the request at `uarg`, and nothing else.
    pub(crate) fn write_walk_end(uarg: usize, walk_end: u64) -> Result {
        let at = uarg.wrapping_add(offset_of!(pm_scan_arg, walk_end));
        UserSlice::new(UserPtr::from_addr(at), size_of::<u64>())
            .writer()
            .write(&walk_end)
    }
}
