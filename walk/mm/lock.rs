// SPDX-License-Identifier: GPL-2.0

//! The mmap lock, taken killably as pagemap does, and what may be read under it.

use core::ops::Deref;
use kernel::bindings;
use kernel::mm::MmWithUser;
use kernel::prelude::*;

/// An mm whose mmap lock is held, for read or for write: what a walk needs. It exists
/// only inside a guard ([`MmapReadGuard`], [`MmapWriteGuard`]), which the lock's holder
/// borrows it from, so a `&MmapLocked` proves the lock held for as long as it lives.
///
/// # Invariants
///
/// The mmap lock of `mm` is held while this value exists (its guard releases it when
/// it drops this value), and `mm` has a user reference (it is a [`MmWithUser`]), so its
/// page tables are live.
pub(crate) struct MmapLocked<'a> {
    mm: &'a MmWithUser,
}

/// The mmap lock held for read (`mmap_read_lock_killable`); released on drop.
///
/// # Invariants
///
/// The lock of `.0` is held for read.
pub(crate) struct MmapReadGuard<'a>(MmapLocked<'a>);

/// The mmap lock held for write, which changing VMAs requires; released on drop. It
/// derefs to [`MmapLocked`], so it does for everything a read guard does.
///
/// # Invariants
///
/// The lock of `.0` is held for write.
pub(crate) struct MmapWriteGuard<'a>(MmapLocked<'a>);

/// The mmap lock held in the mode a caller chose at run time.
pub(crate) enum MmapGuard<'a> {
    /// Held for read.
    Read(MmapReadGuard<'a>),
    /// Held for write.
    Write(MmapWriteGuard<'a>),
}

impl<'a> MmapReadGuard<'a> {
    /// Takes the lock for read; a fatal signal while waiting gives `EINTR`.
    pub(crate) fn lock_killable(mm: &'a MmWithUser) -> Result<Self> {
        // SAFETY: `mm` has a user reference, so the lock is initialised and alive.
        let ret = unsafe { bindings::mmap_read_lock_killable(mm.as_raw()) };
        if ret != 0 {
            return Err(EINTR);
        }
        // INVARIANT: the lock was just taken for read.
        Ok(Self(MmapLocked { mm }))
    }
}

impl<'a> MmapWriteGuard<'a> {
    /// Takes the lock for write; `EINTR` on a fatal signal.
    pub(crate) fn lock_killable(mm: &'a MmWithUser) -> Result<Self> {
        // SAFETY: `mm` has a user reference, so the lock is initialised and alive.
        let ret = unsafe { bindings::mmap_write_lock_killable(mm.as_raw()) };
        if ret != 0 {
            return Err(EINTR);
        }
        // INVARIANT: the lock was just taken for write.
        Ok(Self(MmapLocked { mm }))
    }

    /// Takes the lock for write, not interruptibly: for undoing a change that must
    /// not be left half done even when a fatal signal is pending.
    pub(crate) fn lock(mm: &'a MmWithUser) -> Self {
        // SAFETY: `mm` has a user reference, so the lock is initialised and alive.
        unsafe { bindings::mmap_write_lock(mm.as_raw()) };
        // INVARIANT: the lock was just taken for write.
        Self(MmapLocked { mm })
    }
}

impl<'a> MmapGuard<'a> {
    /// The write guard, when the lock is held for write.
    pub(crate) fn as_write(&self) -> Option<&MmapWriteGuard<'a>> {
        match self {
            Self::Read(_) => None,
            Self::Write(guard) => Some(guard),
        }
    }
}

impl<'a> Deref for MmapReadGuard<'a> {
    type Target = MmapLocked<'a>;
    fn deref(&self) -> &MmapLocked<'a> {
        &self.0
    }
}

impl<'a> Deref for MmapWriteGuard<'a> {
    type Target = MmapLocked<'a>;
    fn deref(&self) -> &MmapLocked<'a> {
        &self.0
    }
}

impl<'a> Deref for MmapGuard<'a> {
    type Target = MmapLocked<'a>;
    fn deref(&self) -> &MmapLocked<'a> {
        match self {
            Self::Read(guard) => guard,
            Self::Write(guard) => guard,
        }
    }
}

impl Drop for MmapReadGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: the lock is held for read (type invariant) and released once, here.
        unsafe { bindings::mmap_read_unlock(self.mm_ptr()) };
    }
}

impl Drop for MmapWriteGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: the lock is held for write (type invariant) and released once, here.
        unsafe { bindings::mmap_write_unlock(self.mm_ptr()) };
    }
}

impl<'a> MmapLocked<'a> {
    /// The locked mm.
    pub(super) fn mm_ptr(&self) -> *mut bindings::mm_struct {
        self.mm.as_raw()
    }

    /// Flushes the TLB entries of `[start, end)` of the locked mm on every CPU that may
    /// hold them (`flush_tlb_mm_range` with 4 KiB strides, as `flush_tlb_range` flushes a
    /// non-hugetlb VMA; x86 flushes the whole mm when the span is large).
    pub(crate) fn flush_tlb_range(&self, start: usize, end: usize) {
        // `mm_struct` holds an empty C struct (its CID state on this config), which the lint
        // flags; only a pointer to it crosses, as in the generated bindings.
        #[allow(improper_ctypes)]
        extern "C" {
            // arch/x86/mm/tlb.c, exported to this module by qemu/kernel/patches; bindgen does
            // not see it (asm/tlbflush.h declares it for built-in code only).
            fn flush_tlb_mm_range(
                mm: *mut bindings::mm_struct,
                start: kernel::ffi::c_ulong,
                end: kernel::ffi::c_ulong,
                stride_shift: kernel::ffi::c_uint,
                freed_tables: bool,
            );
        }
        // SAFETY: the mm is live while its lock is held (type invariant); the flush only
        // reads its CPU mask and bumps its TLB generation. `freed_tables` is what the
        // kernel's `flush_tlb_range` and `flush_tlb_mm` pass.
        unsafe { flush_tlb_mm_range(self.mm_ptr(), start, end, super::x86::PAGE_SHIFT, true) };
    }

    /// Kernel virtual address of the mm's root page table.
    pub(super) fn pgd(&self) -> *mut u64 {
        // SAFETY: `mm` is live; `pgd` is set at mm creation and never changes while it has users.
        unsafe { (*self.mm_ptr()).__bindgen_anon_1.pgd.cast() }
    }
}

/// Size of the user address space of `mm` (`mm->task_size`).
pub(crate) fn task_size(mm: &MmWithUser) -> usize {
    // SAFETY: `mm` is live; `task_size` is fixed at exec time.
    unsafe { (*mm.as_raw()).__bindgen_anon_1.task_size }
}
