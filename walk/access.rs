// SPDX-License-Identifier: GPL-2.0

//! Who may bind which address space, and what a binding may do: the permission
//! rules of opening `/proc/PID/pagemap` (to read) and `/proc/PID/clear_refs`
//! (to clear soft-dirty), applied when the device is opened for oneself and
//! when it is attached by pidfd; and the rule for showing frame numbers.
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
//!    A process always passes it for itself.
//!
//! Opening `/proc/PID/clear_refs` for writing passes only the first kind of
//! check, on a file of mode 0200 with the same owner: the owner may write it,
//! or a caller with `CAP_DAC_OVERRIDE` (not `CAP_DAC_READ_SEARCH`, which is for
//! reading) in a namespace that maps the owner. `clear_refs_write` checks
//! nothing more. So a process that may read another's pagemap (ptrace read
//! access and `CAP_DAC_READ_SEARCH`, say) need not be allowed to clear it, and a
//! process that is not dumpable (it changed its credentials, or said so with
//! `PR_SET_DUMPABLE`) may do neither for itself unless it is root or has the
//! capabilities: its files belong to root.
//!
//! Both are decided when the device is bound and kept with the binding, as a
//! `/proc` descriptor keeps what its open allowed: a descriptor passed to
//! another process, or inherited, can do what it could.
//!
//! The procfs mount's own options (`hidepid`, idmapped mounts) are not known to
//! a device file; the rules are those of a default procfs mount.

use core::ptr::NonNull;
use kernel::{bindings, mm::Mm, prelude::*, sync::aref::ARef, task::Task};

/// `ptrace_may_access` mode of `/proc/PID/pagemap`: read access, with the opener's fs credentials.
const PTRACE_MODE_READ_FSCREDS: u32 = 0x01 | 0x08;

/// `(uid_t)-1`: an id that has no mapping in a namespace.
const INVALID_ID: u32 = u32::MAX;

/// What a binding of the device allows beyond reading its address space.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rights {
    /// Soft-dirty may be cleared (`RPM_IOC_CLEAR_SOFT_DIRTY*`, get-and-clear): the
    /// binder could have opened the process's `/proc/PID/clear_refs` for writing.
    pub(crate) clear: bool,
}

impl Rights {
    /// `Ok` when soft-dirty may be cleared through the binding, else `EPERM`: the answer
    /// of every clearing call of a binding that does not carry the right.
    pub(crate) fn check_clear(self) -> Result {
        if self.clear {
            Ok(())
        } else {
            Err(EPERM)
        }
    }
}

/// Which access to a procfs file of a process is asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Opening the mode-0400 `pagemap` for reading.
    Read,
    /// Opening the mode-0200 `clear_refs` for writing.
    Write,
}

/// The owner the procfs files of `task` have (`task_dump_owner` for a regular
/// file): its effective ids, or root of its exec-time user namespace when it
/// is not dumpable; global root for a kernel thread.
fn dump_owner(task: &Task) -> (bindings::kuid_t, bindings::kgid_t) {
    let root = (bindings::kuid_t { val: 0 }, bindings::kgid_t { val: 0 });
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
        let mut owner = ((*cred).euid, (*cred).egid);
        let exec = (*task).exec_state;
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

/// Step 1 of the module documentation: may the caller open a procfs file owned by
/// `owner` whose only permission bit is the owner's `access` (`generic_permission`)?
fn may_open_proc_file(owner: (bindings::kuid_t, bindings::kgid_t), access: Access) -> bool {
    let current = Task::current_raw();
    // SAFETY: the current task is live, and its subjective credentials (`cred`) are
    // only ever replaced by itself, so they stay valid during this call.
    let (fsuid, ns) = unsafe { ((*(*current).cred).fsuid, (*(*current).cred).user_ns) };
    if fsuid.val == owner.0.val {
        return true;
    }
    // SAFETY: `ns` is the current task's own user namespace, kept by its credentials.
    let mapped = unsafe {
        bindings::from_kuid(ns, owner.0) != INVALID_ID
            && bindings::from_kgid(ns, owner.1) != INVALID_ID
    };
    let capable = |cap: u32| {
        // SAFETY: as above; `ns_capable` only reads the current credentials.
        unsafe { bindings::ns_capable(ns, cap as i32) }
    };
    mapped
        && (capable(bindings::CAP_DAC_OVERRIDE)
            || (access == Access::Read && capable(bindings::CAP_DAC_READ_SEARCH)))
}

/// The rights the caller gets on the address space of `task`, or `EACCES` when it may
/// not open the task's `/proc/PID/pagemap` at all (step 1 only).
fn rights_on(task: &Task) -> Result<Rights> {
    let owner = dump_owner(task);
    if !may_open_proc_file(owner, Access::Read) {
        return Err(EACCES);
    }
    Ok(Rights {
        clear: may_open_proc_file(owner, Access::Write),
    })
}

/// The task `pidfd` names (`pidfd_get_task`): `EBADF` or `EINVAL` for a bad descriptor,
/// `ESRCH` once the process is reaped.
fn pidfd_task(pidfd: i32) -> Result<ARef<Task>> {
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

/// Step 2: `mm_access`, then an `mmgrab` reference in place of the user one, as
/// `proc_mem_open` keeps it.
fn task_mm(task: &Task) -> Result<ARef<Mm>> {
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

/// The mm of the process `pidfd` names and the caller's rights on it, if the caller may
/// open its `/proc/PID/pagemap`: `EACCES` when not, `ESRCH` when it has no mm.
pub(crate) fn attach(pidfd: i32) -> Result<(ARef<Mm>, Rights)> {
    let task = pidfd_task(pidfd)?;
    let rights = rights_on(&task)?;
    Ok((task_mm(&task)?, rights))
}

/// The caller's rights on its own address space, as opening `/proc/self/pagemap`
/// and `/proc/self/clear_refs` decides them: `EACCES` when it may not read its own
/// pagemap (it is not dumpable, and neither root nor allowed to override).
pub(crate) fn open_self() -> Result<Rights> {
    rights_on(kernel::current!())
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
