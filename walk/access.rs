// SPDX-License-Identifier: GPL-2.0

//! Who may bind which address space: the permission rule of opening
//! `/proc/PID/pagemap`, applied to an attach by pidfd, and the rule for showing
//! frame numbers.
//!
//! Opening `/proc/PID/pagemap` passes two checks, in this order:
//! 1. the inode's permission (`generic_permission`): the file is mode 0400 and
//!    owned by the task's effective uid and gid, or by root (of the task's
//!    user namespace) when the task is not dumpable (`task_dump_owner`); so
//!    only the owner may read it, or a caller with `CAP_DAC_OVERRIDE` or
//!    `CAP_DAC_READ_SEARCH` in its user namespace when that namespace maps the
//!    owner (`capable_wrt_inode_uidgid`) -- else `EACCES`;
//! 2. `proc_mem_open`: `mm_access` with `PTRACE_MODE_READ_FSCREDS` (ptrace read
//!    access, or `CAP_PERFMON`) -- `EACCES` when denied, `ESRCH` without an mm.
//!
//! The procfs mount's own options (`hidepid`, idmapped mounts) are not known to
//! a device file; the rule is that of a default procfs mount.

use kernel::{bindings, mm::Mm, prelude::*, sync::aref::ARef, task::Task};

/// `ptrace_may_access` mode of `/proc/PID/pagemap`: read access, with the opener's fs credentials.
const PTRACE_MODE_READ_FSCREDS: u32 = 0x01 | 0x08;

/// `(uid_t)-1`: an id that has no mapping in a namespace.
const INVALID_ID: u32 = u32::MAX;

/// A task reference taken from a pidfd, dropped with it.
///
/// # Invariants
///
/// `task` is a live task on which this value holds one reference.
struct PidfdTask {
    task: *mut bindings::task_struct,
}

impl PidfdTask {
    /// The task `pidfd` names (`pidfd_get_task`): `EBADF` or `EINVAL` for a bad descriptor,
    /// `ESRCH` once the process is reaped.
    fn get(pidfd: i32) -> Result<Self> {
        let mut flags = 0u32;
        // SAFETY: `pidfd_get_task` validates the descriptor and returns a task with a
        // reference, or an error pointer.
        let task = unsafe { bindings::pidfd_get_task(pidfd, &mut flags) };
        let task = kernel::error::from_err_ptr(task)?;
        // INVARIANT: a task with the reference just taken.
        Ok(Self { task })
    }

    /// The owner `/proc/PID/pagemap` of this task has (`task_dump_owner` for a
    /// regular file): its effective ids, or root of its exec-time user namespace
    /// when it is not dumpable; global root for a kernel thread.
    fn dump_owner(&self) -> (bindings::kuid_t, bindings::kgid_t) {
        let root = (bindings::kuid_t { val: 0 }, bindings::kgid_t { val: 0 });
        let _rcu = kernel::sync::rcu::read_lock();
        // SAFETY: the task is live (type invariant); `flags` is read as the C code does.
        if unsafe { (*self.task).flags } & bindings::PF_KTHREAD != 0 {
            return root;
        }
        // SAFETY: under the RCU read lock the task's objective credentials and exec
        // state (both RCU-freed) stay valid; the task is live.
        unsafe {
            let cred = (*self.task).real_cred;
            let mut owner = ((*cred).euid, (*cred).egid);
            let exec = (*self.task).exec_state;
            let dumpable = core::ptr::read_volatile(&raw const (*exec).dumpable);
            if dumpable != bindings::task_dumpable_TASK_DUMPABLE_OWNER {
                let ns = (*exec).user_ns;
                let uid = bindings::make_kuid(ns, 0);
                let gid = bindings::make_kgid(ns, 0);
                owner.0 = if uid.val == INVALID_ID { root.0 } else { uid };
                owner.1 = if gid.val == INVALID_ID { root.1 } else { gid };
            }
            owner
        }
    }

    /// Step 1 of the module documentation: may the caller read a mode-0400 file
    /// owned by `owner` (`generic_permission` with `MAY_READ`)?
    fn may_read_proc_file(owner: (bindings::kuid_t, bindings::kgid_t)) -> bool {
        let current = Task::current_raw();
        // SAFETY: the current task is live, and its subjective credentials (`cred`) are
        // only ever replaced by itself, so they stay valid during this call.
        let (fsuid, ns) = unsafe { ((*(*current).cred).fsuid, (*(*current).cred).user_ns) };
        if fsuid.val == owner.0.val {
            return true;
        }
        // SAFETY: `ns` is the current task's own user namespace, pinned by its credentials.
        let mapped = unsafe {
            bindings::from_kuid(ns, owner.0) != INVALID_ID
                && bindings::from_kgid(ns, owner.1) != INVALID_ID
        };
        let capable = |cap: u32| {
            // SAFETY: as above; `ns_capable` only reads the current credentials.
            unsafe { bindings::ns_capable(ns, cap as i32) }
        };
        mapped && (capable(bindings::CAP_DAC_OVERRIDE) || capable(bindings::CAP_DAC_READ_SEARCH))
    }

    /// Step 2: `mm_access`, then an `mmgrab` reference in place of the user one, as
    /// `proc_mem_open` keeps it.
    fn mm(&self) -> Result<ARef<Mm>> {
        // SAFETY: the task is live; `mm_access` returns an mm with a user reference, NULL or
        // an error pointer, and takes the locks it needs itself.
        let mm = unsafe { bindings::mm_access(self.task, PTRACE_MODE_READ_FSCREDS) };
        let mm = kernel::error::from_err_ptr(mm)?;
        if mm.is_null() {
            return Err(ESRCH);
        }
        // SAFETY: `mm` is a live mm with a user reference (from `mm_access`).
        let grabbed = ARef::<Mm>::from(unsafe { Mm::from_raw(mm) });
        // SAFETY: the user reference from `mm_access` is dropped exactly once; `grabbed`
        // keeps the mm struct itself alive.
        unsafe { bindings::mmput(mm) };
        Ok(grabbed)
    }
}

impl Drop for PidfdTask {
    fn drop(&mut self) {
        // SAFETY: the reference taken in `get` (type invariant) is dropped exactly once.
        unsafe { bindings::put_task_struct(self.task) };
    }
}

/// The mm of the process `pidfd` names, if the caller may open its
/// `/proc/PID/pagemap`: `EACCES` when not, `ESRCH` when it has no mm.
pub(crate) fn attach(pidfd: i32) -> Result<ARef<Mm>> {
    let task = PidfdTask::get(pidfd)?;
    if !PidfdTask::may_read_proc_file(task.dump_owner()) {
        return Err(EACCES);
    }
    task.mm()
}

/// Whether the caller may see frame numbers: `CAP_SYS_ADMIN` in the initial user
/// namespace, the rule `/proc/PID/pagemap` applies to whoever opened it.
pub(crate) fn caller_sees_pfns() -> bool {
    // SAFETY: `init_user_ns` is a static object; the check reads the current credentials.
    unsafe {
        bindings::ns_capable_noaudit(
            &raw mut bindings::init_user_ns,
            bindings::CAP_SYS_ADMIN as i32,
        )
    }
}
