// SPDX-License-Identifier: GPL-2.0

//! VMAs as the walker sees them: found under the mmap lock, valid while it is held.

use kernel::bindings;
use kernel::mm::virt::{flags, VmaRef};

use kernel::prelude::*;

use super::mm::{MmapLock, MmapReadLock};

/// A VMA of the mm whose mmap lock `'a` borrows.
///
/// # Invariants
///
/// `vma` is a VMA of that mm, and the mmap lock is held for `'a`, so it is
/// neither freed nor changed in the fields read here.
#[derive(Copy, Clone)]
pub(crate) struct Vma<'a> {
    vma: &'a VmaRef,
}

impl<'a> Vma<'a> {
    /// The first VMA that ends above `addr` (`find_vma`), if any.
    pub(crate) fn find(lock: &'a MmapReadLock<'_>, addr: usize) -> Option<Self> {
        // SAFETY: the mmap lock is held (the guard exists), as `find_vma` requires.
        let ptr = unsafe { bindings::find_vma(lock.mm_ptr(), addr as _) };
        if ptr.is_null() {
            return None;
        }
        // SAFETY: `ptr` is a VMA of this mm and stays valid while the lock, borrowed for 'a, is held.
        let vma = unsafe { VmaRef::from_raw(ptr) };
        // INVARIANT: as argued above.
        Some(Self { vma })
    }

    /// The raw VMA, for kernel functions that take one.
    pub(crate) fn as_ptr(&self) -> *mut bindings::vm_area_struct {
        self.vma.as_ptr()
    }

    /// First address of the VMA.
    pub(crate) fn start(&self) -> usize {
        self.vma.start()
    }

    /// End (exclusive) of the VMA.
    pub(crate) fn end(&self) -> usize {
        self.vma.end()
    }

    /// The mm the VMA belongs to.
    pub(crate) fn mm_ptr(&self) -> *mut bindings::mm_struct {
        // SAFETY: a live VMA always points to its mm.
        unsafe { (*self.as_ptr()).vm_mm }
    }

    /// Whether the VMA is a private, writable-in-principle mapping (`is_cow_mapping`).
    pub(crate) fn is_cow_mapping(&self) -> bool {
        // SAFETY: the VMA is live (type invariant).
        unsafe { bindings::vma_is_cow_mapping(self.as_ptr()) }
    }

    /// Whether the whole VMA counts as soft-dirty (`VM_SOFTDIRTY`).
    pub(crate) fn soft_dirty(&self) -> bool {
        self.vma.flags() & flags::SOFTDIRTY != 0
    }

    /// Whether the VMA maps raw page frames that no walk may look at (`VM_PFNMAP`).
    pub(crate) fn is_pfnmap(&self) -> bool {
        self.vma.flags() & flags::PFNMAP != 0
    }

    /// Whether the VMA is backed by hugetlbfs.
    pub(crate) fn is_hugetlb(&self) -> bool {
        self.vma.flags() & flags::HUGETLB != 0
    }

    /// Splits the VMA at `addr` (`split_vma`); the VMA is stale afterwards, so it
    /// is consumed: look the range up again. Needs the mmap lock for write.
    pub(crate) fn split(self, lock: &MmapLock<'_>, addr: usize) -> Result {
        if !lock.is_write() || addr <= self.start() || addr >= self.end() {
            return Err(EINVAL);
        }
        // SAFETY: the mmap lock is held for write and `addr` lies strictly inside the VMA.
        let ret = unsafe { bindings::split_vma_at(self.as_ptr(), addr as _, 0) };
        kernel::error::to_result(ret)
    }

    /// Clears `VM_SOFTDIRTY` and recomputes the page protection, as `clear_refs`
    /// does, so that writes to shared mappings fault again. Needs the write lock.
    pub(crate) fn clear_soft_dirty_flag(&self, lock: &MmapLock<'_>) {
        if !lock.is_write() {
            return;
        }
        // SAFETY: the mmap lock is held for write, which `vm_flags_clear` (it takes the VMA
        // write lock itself) and `vma_set_page_prot` require.
        unsafe {
            bindings::vm_flags_clear(self.as_ptr(), flags::SOFTDIRTY as _);
            bindings::vma_set_page_prot(self.as_ptr());
        }
    }

    /// Size of the huge pages of a hugetlb VMA.
    pub(crate) fn huge_page_size(&self) -> usize {
        // SAFETY: the VMA is live and hugetlb (callers check `is_hugetlb`).
        unsafe { bindings::vma_huge_page_size(self.as_ptr()) as usize }
    }
}
