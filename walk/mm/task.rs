// SPDX-License-Identifier: GPL-2.0

//! Tasks and credentials as the permission rules of [`crate::walk::access`] need them:
//! the owner of a task's procfs files, the caller's filesystem uid and capabilities
//! in its user namespace, a task from a pidfd, and its mm under ptrace read access.

use core::ptr::NonNull;
use kernel::{bindings, mm::Mm, prelude::*, sync::aref::ARef, task::Task};

/// `ptrace_may_access` mode of `/proc/PID/pagemap`: read access, with the opener's fs credentials.
const PTRACE_MODE_READ_FSCREDS: u32 = bindings::PTRACE_MODE_READ | bindings::PTRACE_MODE_FSCREDS;

/// `(uid_t)-1`: an id that has no mapping in a namespace.
const INVALID_ID: u32 = u32::MAX;

/// A file owner: a user and a group id, as the kernel keeps them (`kuid_t`, `kgid_t`).
#[derive(Clone, Copy)]
pub(crate) struct Owner {
    uid: bindings::kuid_t,
    gid: bindings::kgid_t,
}

/// The owner the procfs files of `task` have (`task_dump_owner` for a regular
/// file): its effective ids, or root of its exec-time user namespace when it
/// is not dumpable; global root for a kernel thread.
pub(crate) fn dump_owner(task: &Task) -> Owner {
    let root = Owner {
        uid: bindings::kuid_t { val: 0 },
        gid: bindings::kgid_t { val: 0 },
    };
    let task = task.as_ptr();
    let _rcu = kernel::sync::rcu::read_lock();
    // SAFETY: `task` is live (a reference to it exists); `flags` is read as the C code does.
    if unsafe { (*task).flags } & bindings::PF_KTHREAD != 0 {
        return root;
    }
    // SAFETY: under the RCU read lock the task's objective credentials and exec
    // state (both RCU-freed) stay valid; the task is live.
    unsafe {
        let cred = (*task).real_cred;
        let mut owner = Owner {
            uid: (*cred).euid,
            gid: (*cred).egid,
        };
        let exec = (*task).exec_state;
        let dumpable = core::ptr::read_volatile(&raw const (*exec).dumpable);
        if dumpable != bindings::task_dumpable_TASK_DUMPABLE_OWNER {
            let ns = (*exec).user_ns;
            let uid = bindings::make_kuid(ns, 0);
            let gid = bindings::make_kgid(ns, 0);
            owner.uid = if uid.val == INVALID_ID { root.uid } else { uid };
            owner.gid = if gid.val == INVALID_ID { root.gid } else { gid };
        }
        owner
    }
}

/// The caller's subjective credentials, as `generic_permission` looks at them.
///
/// # Invariants
///
/// `fsuid` and `ns` are those of the current task's credentials, which only the task
/// itself replaces: `ns` stays valid while the task runs the call that made this value
/// (it is neither `Send` nor kept beyond the call).
pub(crate) struct Caller {
    fsuid: bindings::kuid_t,
    ns: *mut bindings::user_namespace,
}

impl Caller {
    /// The current task's credentials.
    pub(crate) fn current() -> Self {
        let current = Task::current_raw();
        // SAFETY: the current task is live, and its subjective credentials (`cred`) are
        // only ever replaced by itself, so they stay valid during this call.
        let (fsuid, ns) = unsafe { ((*(*current).cred).fsuid, (*(*current).cred).user_ns) };
        // INVARIANT: read from the current task's credentials just now.
        Self { fsuid, ns }
    }

    /// Whether the caller's filesystem uid is `owner`'s uid.
    pub(crate) fn fsuid_owns(&self, owner: Owner) -> bool {
        self.fsuid.val == owner.uid.val
    }

    /// Whether the caller's user namespace maps both of `owner`'s ids
    /// (`capable_wrt_inode_uidgid`'s condition).
    pub(crate) fn ns_maps(&self, owner: Owner) -> bool {
        // SAFETY: `ns` is the current task's own user namespace, kept by its credentials
        // (type invariant).
        unsafe {
            bindings::from_kuid(self.ns, owner.uid) != INVALID_ID
                && bindings::from_kgid(self.ns, owner.gid) != INVALID_ID
        }
    }

    /// Whether the caller has capability `cap` in its user namespace (`ns_capable`).
    pub(crate) fn ns_capable(&self, cap: u32) -> bool {
        // SAFETY: as above; `ns_capable` only reads the current credentials.
        unsafe { bindings::ns_capable(self.ns, cap as i32) }
    }
}

/// Whether the caller has capability `cap` in the initial user namespace, without an
/// audit record (`ns_capable_noaudit(&init_user_ns, cap)`).
pub(crate) fn init_ns_capable_noaudit(cap: u32) -> bool {
    // SAFETY: `init_user_ns` is a static object; the check reads the current credentials.
    unsafe { bindings::ns_capable_noaudit(&raw mut bindings::init_user_ns, cap as i32) }
}

/// The task `pidfd` names (`pidfd_get_task`): `EBADF` or `EINVAL` for a bad descriptor,
/// `ESRCH` once the process is reaped.
pub(crate) fn pidfd_task(pidfd: i32) -> Result<ARef<Task>> {
    let mut flags = 0u32;
    // SAFETY: `pidfd_get_task` validates the descriptor and returns a task with a
    // reference, or an error pointer.
    let task = unsafe { bindings::pidfd_get_task(pidfd, &mut flags) };
    let task = kernel::error::from_err_ptr(task)?;
    let task = NonNull::new(task.cast::<Task>()).ok_or(ESRCH)?;
    // SAFETY: `Task` is a transparent wrapper of `task_struct`, and the reference
    // `pidfd_get_task` took is handed over to the `ARef`, which drops it.
    Ok(unsafe { ARef::from_raw(task) })
}

/// `mm_access` for ptrace read access with the caller's fs credentials, then an `mmgrab` reference in place of the user one, as
/// `proc_mem_open` keeps it.
pub(crate) fn task_mm(task: &Task) -> Result<ARef<Mm>> {
    // SAFETY: the task is live; `mm_access` returns an mm with a user reference, NULL or
    // an error pointer, and takes the locks it needs itself.
    let mm = unsafe { bindings::mm_access(task.as_ptr(), PTRACE_MODE_READ_FSCREDS) };
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
