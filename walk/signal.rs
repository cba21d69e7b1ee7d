// SPDX-License-Identifier: GPL-2.0

//! Whether the current task is being killed, for long walks that give up then.

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
