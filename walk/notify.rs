// SPDX-License-Identifier: GPL-2.0

//! Telling the rest of the kernel that page-table entries of a range are about
//! to change: the mmu_notifier range (secondary MMUs: KVM, IOMMU SVA, HMM
//! mirrors) and the pending-TLB-flush count (`inc_tlb_flush_pending`), both as
//! guards that borrow the mmap lock, so that each is started and ended under it
//! (notifier calls outside the lock are a bug class of the kernel's own version).

use core::marker::PhantomData;
use kernel::bindings;

use super::mm::MmapLock;

/// Why the entries of a notified range change (`enum mmu_notifier_event`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum NotifyEvent {
    /// `MMU_NOTIFY_PROTECTION_VMA`: write-protection by PAGEMAP_SCAN.
    ProtectionVma,
    /// `MMU_NOTIFY_SOFT_DIRTY`: a soft-dirty clear.
    SoftDirty,
}

impl NotifyEvent {
    fn as_c(self) -> bindings::mmu_notifier_event {
        match self {
            Self::ProtectionVma => bindings::mmu_notifier_event_MMU_NOTIFY_PROTECTION_VMA,
            Self::SoftDirty => bindings::mmu_notifier_event_MMU_NOTIFY_SOFT_DIRTY,
        }
    }
}

/// An mmu_notifier range of the locked mm, started (`mmu_notifier_invalidate_range_start`);
/// ended (`mmu_notifier_invalidate_range_end`) on drop.
///
/// On a kernel with `CONFIG_MMU_NOTIFIER` (the test kernel has it, for the HMM mirror
/// of the selftests) it tells secondary MMUs to drop their mappings of the range
/// before the walk changes the entries; without it both calls are empty inlines.
///
/// # Invariants
///
/// `range` was initialised (`mmu_notifier_range_init`) and started under the mmap
/// lock that the borrow `'a` keeps held, and is ended exactly once, on drop.
pub(crate) struct NotifierRange<'a> {
    range: bindings::mmu_notifier_range,
    _lock: PhantomData<&'a MmapLock<'a>>,
}

impl<'a> NotifierRange<'a> {
    /// Initialises a range of `[start, end)` of the locked mm for `event` and starts it.
    pub(crate) fn start(
        lock: &'a MmapLock<'_>,
        event: NotifyEvent,
        start: usize,
        end: usize,
    ) -> Self {
        // SAFETY: a plain C struct of integers and pointers, for which zero is valid.
        let mut range: bindings::mmu_notifier_range = unsafe { core::mem::zeroed() };
        // SAFETY: `range` is ours and writable; the mm is live and its mmap lock held (the
        // guard is borrowed). The notifier code keeps no pointer to `range` past each call,
        // so it may move afterwards.
        unsafe {
            bindings::mmu_notifier_range_init(
                &mut range,
                event.as_c(),
                0,
                lock.mm_ptr(),
                start,
                end,
            );
            bindings::mmu_notifier_invalidate_range_start(&mut range);
        }
        // INVARIANT: initialised and started just now, under the lock `lock` holds for 'a.
        Self {
            range,
            _lock: PhantomData,
        }
    }
}

impl Drop for NotifierRange<'_> {
    fn drop(&mut self) {
        // SAFETY: started in `start` (type invariant), ended once, here, still under the
        // mmap lock (the borrow `'a` outlives the guard).
        unsafe { bindings::mmu_notifier_invalidate_range_end(&mut self.range) };
    }
}

/// A TLB flush of the locked mm announced as pending (`inc_tlb_flush_pending`), so that
/// code which reads entries without the page-table lock (page migration, reclaim,
/// `mprotect` on another CPU) knows stale TLB entries may exist; withdrawn
/// (`dec_tlb_flush_pending`) on drop. Whoever changes entries inside it flushes
/// before it ends.
///
/// # Invariants
///
/// `mm` is the mm of the mmap lock the borrow `'a` keeps held, and its pending count
/// was raised once, in [`Self::announce`]; it is lowered once, on drop.
pub(crate) struct TlbFlushPending<'a> {
    mm: *mut bindings::mm_struct,
    _lock: PhantomData<&'a MmapLock<'a>>,
}

impl<'a> TlbFlushPending<'a> {
    /// Announces a pending flush for the mm that `lock` holds.
    pub(crate) fn announce(lock: &'a MmapLock<'_>) -> Self {
        let mm = lock.mm_ptr();
        // SAFETY: the mm is live while its lock is held; paired with the decrement in `drop`.
        unsafe { bindings::inc_tlb_flush_pending(mm) };
        // INVARIANT: raised just now, for the mm of the borrowed lock.
        Self {
            mm,
            _lock: PhantomData,
        }
    }
}

impl Drop for TlbFlushPending<'_> {
    fn drop(&mut self) {
        // SAFETY: raised once in `announce` (type invariant); the mm is still live, as the
        // borrowed mmap lock is still held.
        unsafe { bindings::dec_tlb_flush_pending(self.mm) };
    }
}
