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

use kernel::{bindings, mm::Mm, prelude::*, sync::aref::ARef, task::Task};

use crate::walk::mm::task::{dump_owner, init_ns_capable_noaudit, pidfd_task, task_mm};
use crate::walk::mm::task::{Caller, Owner};

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

/// Step 1 of the module documentation: may the caller open a procfs file owned by
/// `owner` whose only permission bit is the owner's `access` (`generic_permission`)?
fn may_open_proc_file(owner: Owner, access: Access) -> bool {
    let caller = Caller::current();
    if caller.fsuid_owns(owner) {
        return true;
    }
    caller.ns_maps(owner)
        && (caller.ns_capable(bindings::CAP_DAC_OVERRIDE)
            || (access == Access::Read && caller.ns_capable(bindings::CAP_DAC_READ_SEARCH)))
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

/// The mm of the process `pidfd` names and the caller's rights on it, if the caller may
/// open its `/proc/PID/pagemap`: `EACCES` when not, `ESRCH` when it has no mm (step 2:
/// ptrace read access, `mm_access`).
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
    init_ns_capable_noaudit(bindings::CAP_SYS_ADMIN)
}
