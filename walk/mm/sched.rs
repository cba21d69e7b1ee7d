// SPDX-License-Identifier: GPL-2.0

//! The scheduler's side of a long walk: yielding between page tables, and giving up
//! when the current task is being killed.

use kernel::{bindings, task::Task};

/// Whether the current task has been sent SIGKILL (`fatal_signal_pending(current)`).
pub(crate) fn fatal_signal_pending() -> bool {
    let task = Task::current_raw();
    // SAFETY: `task` is the running task; its pending set is only read, as the
    // kernel's inline does without a lock.
    unsafe {
        bindings::signal_pending(task) != 0
            && (*task).pending.signal.sig[0] & (1 << (bindings::SIGKILL - 1)) != 0
    }
}

/// Lets other tasks run if one should (`cond_resched`). A walk calls it between page
/// tables, where it holds no spinlock: the borrow of a [`super::lock::MmapLocked`]
/// says it is in task context under the sleepable mmap lock, and page-table locks are
/// guards it has dropped by then.
pub(crate) fn cond_resched() {
    // SAFETY: may sleep; called only from task context (the device's file operations),
    // between page tables, with no spinlock held.
    unsafe { bindings::cond_resched() };
}
