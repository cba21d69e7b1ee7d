// SPDX-License-Identifier: GPL-2.0

//! A change to the page-table entries of a range, bracketed as the kernel brackets
//! one (the role `struct mmu_gather` and its callers play in C): the pending-TLB-flush
//! count raised (`inc_tlb_flush_pending`), an mmu_notifier range started (secondary
//! MMUs: KVM, IOMMU SVA, HMM mirrors), the entries changed, the span of what changed
//! flushed once, the range ended and the count lowered. One guard, [`PteChanges`], owns
//! all of it and borrows the mmap lock, so each step happens under it (notifier calls
//! outside the lock are a bug class of the kernel's own version).

use core::marker::PhantomData;
use kernel::bindings;

use super::lock::MmapLocked;

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
struct NotifierRange<'a> {
    range: bindings::mmu_notifier_range,
    _lock: PhantomData<&'a MmapLocked<'a>>,
}

impl<'a> NotifierRange<'a> {
    /// Initialises a range of `[start, end)` of the locked mm for `event` and starts it.
    fn start(lock: &'a MmapLocked<'_>, event: NotifyEvent, start: usize, end: usize) -> Self {
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
struct TlbFlushPending<'a> {
    mm: *mut bindings::mm_struct,
    _lock: PhantomData<&'a MmapLocked<'a>>,
}

impl<'a> TlbFlushPending<'a> {
    /// Announces a pending flush for the mm that `lock` holds.
    fn announce(lock: &'a MmapLocked<'_>) -> Self {
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

/// The entries of a range of the locked mm being changed (cleaned, write-protected):
/// begun with a TLB flush announced as pending and an mmu_notifier range started for
/// `event`; [`Self::changed`] gathers the span of present entries changed; on drop
/// that span is flushed, then the range ends, then the pending flush is withdrawn.
///
/// # Invariants
///
/// `to_flush`, when set, spans every present entry changed inside this bracket whose
/// TLB entries were not flushed yet; `range` and `pending` were started for the mm of
/// `lock`, which is held for the guard's life.
pub(crate) struct PteChanges<'l> {
    lock: &'l MmapLocked<'l>,
    to_flush: Option<(usize, usize)>,
    // Dropped in this order, after `drop` flushed: the notifier range ends while the
    // flush is still announced as pending.
    _range: NotifierRange<'l>,
    _pending: TlbFlushPending<'l>,
}

impl<'l> PteChanges<'l> {
    /// Begins changing the entries of `[start, end)` of the mm `lock` holds, for `event`.
    pub(crate) fn begin(
        lock: &'l MmapLocked<'l>,
        event: NotifyEvent,
        start: usize,
        end: usize,
    ) -> Self {
        let pending = TlbFlushPending::announce(lock);
        let range = NotifierRange::start(lock, event, start, end);
        // INVARIANT: nothing changed yet.
        Self {
            lock,
            to_flush: None,
            _range: range,
            _pending: pending,
        }
    }

    /// Notes that present entries of `[start, end)` were just changed: their TLB entries
    /// are flushed with the rest, once.
    #[inline]
    pub(crate) fn changed(&mut self, start: usize, end: usize) {
        // INVARIANT: the span grows to cover `start..end`.
        self.to_flush = Some(match self.to_flush {
            Some((s, e)) => (s.min(start), e.max(end)),
            None => (start, end),
        });
    }

    /// Flushes the TLB entries of everything changed so far, on every CPU that may hold
    /// them.
    pub(crate) fn flush(&mut self) {
        if let Some((start, end)) = self.to_flush.take() {
            self.lock.flush_tlb_range(start, end);
        }
    }
}

impl Drop for PteChanges<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}
