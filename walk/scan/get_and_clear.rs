// SPDX-License-Identifier: GPL-2.0

//! PAGEMAP_SCAN with `RPM_SCAN_CLEAR_SOFT_DIRTY`: get-and-clear of soft-dirty
//! (uapi/rust_pagemap.h).
//!
//! Each walk runs inside the clear's notifier range, with a TLB flush announced
//! as pending until the one flush after the walk. A page is cleaned under the
//! page-table lock hold that selected and reported it, so it is cleaned exactly
//! when it is reported.
//!
//! Which mmap lock: when a VMA of the range has `VM_SOFTDIRTY` (a new mapping,
//! or one never cleared), the walk runs under the lock held for write, with
//! every VMA of the range write-locked ([`softdirty::lock_vmas`]) so that no
//! fault runs behind it; after the walk, a VMA's own `VM_SOFTDIRTY` is
//! consumed for the part of it the walk reported without a gap from the
//! VMA's first page in the range on ([`softdirty::consume_part`]: that part
//! is merged into a clean neighbour or split off); the rest of the VMA keeps
//! the flag, and pages the walk reported beyond a gap keep reading dirty
//! through it (more than was written, never less). When none has it -- the steady state of a tracker
//! that calls get-and-clear in a loop -- only page-table entries change, and
//! the walk runs under the lock held for read ([`softdirty::changes_vmas`]),
//! as the kernel's own PAGEMAP_SCAN write-protection does: faults on other
//! CPUs go on meanwhile, and one that writes a page after it was cleaned finds
//! it write-protected and marks it dirty again.
//!
//! All or nothing: what can fail is tried before the first change (the user's
//! array and `walk_end` are faulted in writable, `PM_SCAN_CHECK_WPASYNC` is
//! checked on every VMA); a split refused after the walk leaves the VMA's flag
//! (its pages read dirty); if the copy-out still fails (the
//! array was unmapped meanwhile), the consumed range gets `VM_SOFTDIRTY` back.
//! A call that already delivered regions when a later walk fails returns them,
//! with `walk_end` where the failed walk would have started.

use kernel::{mm::MmWithUser, prelude::*};

use crate::walk::mm::change::{NotifyEvent, PteChanges};
use crate::walk::mm::lock::{MmapGuard, MmapLocked, MmapReadGuard, MmapWriteGuard};
use crate::walk::mm::sched::fatal_signal_pending;
use crate::walk::mm::vma::Vma;
use crate::walk::softdirty;

use super::args::{ScanArgs, CHECK_WPASYNC};
use super::output::Output;
use super::visit::walk_once;

/// Checks and prepares `[start, args.end)` under the mmap lock: `EPERM` if
/// `PM_SCAN_CHECK_WPASYNC` meets a VMA without asynchronous write-protection
/// (the walk would stop there); under the write lock, every VMA there is
/// write-locked ([`softdirty::lock_vmas`]). Nothing is changed that a reader can
/// see when it fails.
fn prepare(lock: &MmapGuard<'_>, args: &ScanArgs, start: usize) -> Result {
    if args.flags & CHECK_WPASYNC != 0 {
        let mut addr = start;
        while let Some(vma) = Vma::find(lock, addr) {
            if vma.start() >= args.end {
                break;
            }
            if !vma.uffd_wp_async_with_markers() {
                return Err(EPERM);
            }
            addr = vma.end();
        }
    }
    if let Some(lock) = lock.as_write() {
        softdirty::lock_vmas(lock, start, args.end);
    }
    Ok(())
}

/// The mmap lock for a walk of `[start, end)`: for read when the clear changes no
/// VMA there, else for write (see the module documentation). `EINTR` on a fatal signal.
fn lock_for_clear(mm: &MmWithUser, start: usize, end: usize) -> Result<MmapGuard<'_>> {
    let lock = MmapReadGuard::lock_killable(mm)?;
    if !softdirty::changes_vmas(&lock, start, end) {
        return Ok(MmapGuard::Read(lock));
    }
    drop(lock);
    MmapWriteGuard::lock_killable(mm).map(MmapGuard::Write)
}

/// One walk from `start` that reports into `out` and cleans what it reports, then
/// consumes `VM_SOFTDIRTY` of each VMA for the part reported from its first page in
/// the range on. `Ok` or `ENOSPC`.
fn consume(lock: &MmapGuard<'_>, args: &ScanArgs, out: &mut Output, start: usize) -> Result {
    let ret = walk_and_clean(lock, args, out, start);
    let Some(lock) = lock.as_write() else {
        // No VMA there has the flag to consume (`lock_for_clear`).
        return ret;
    };
    let _ = Vma::try_for_each(lock, start, args.end, |vma, from, to| {
        let reported = out.covered_until(from, to);
        if vma.soft_dirty() && !vma.is_hugetlb() && reported > from {
            // Refused (a VMA that cannot be split there, `vm.max_map_count`): the part
            // keeps the flag and reads dirty, the call's report stands.
            let _ = softdirty::consume_part(lock, vma, from, reported);
        }
        Ok(())
    });
    ret
}

/// One walk from `start` that reports into `out` and cleans what it reports, inside the
/// clear's bracket: a TLB flush announced as pending and an `MMU_NOTIFY_SOFT_DIRTY`
/// notifier range, as `clear_refs_write` brackets its walk, and one flush at its end.
fn walk_and_clean(
    lock: &MmapLocked<'_>,
    args: &ScanArgs,
    out: &mut Output,
    start: usize,
) -> Result {
    let mut changes = PteChanges::begin(lock, NotifyEvent::SoftDirty, start, args.end);
    walk_once(lock, args, out, Some(&mut changes), start)
}

/// Runs a validated get-and-clear request (`args`, read from `uarg`) on `mm`;
/// returns the number of regions written to the user's array.
pub(crate) fn get_and_clear(
    mm: &MmWithUser,
    uarg: usize,
    args: &ScanArgs,
    out: &mut Output,
) -> Result<isize> {
    // `walk_end` is written back at the end whatever happens: find out now whether it can be.
    ScanArgs::write_walk_end(uarg, args.start as u64).map_err(|_| EFAULT)?;
    let mut regions: u64 = 0;
    let mut stopped: Result = Ok(());
    let mut walk_start = args.start;
    while walk_start < args.end {
        if fatal_signal_pending() {
            stopped = Err(EINTR);
            break;
        }
        if let Err(e) = out.fault_in_user() {
            stopped = Err(e);
            break;
        }
        let lock = match lock_for_clear(mm, walk_start, args.end) {
            Ok(lock) => lock,
            Err(e) => {
                stopped = Err(e);
                break;
            }
        };
        if let Err(e) = prepare(&lock, args, walk_start) {
            stopped = Err(e);
            break;
        }
        let ret = consume(&lock, args, out, walk_start);
        drop(lock);
        match out.flush() {
            Ok(n) => regions += n,
            Err(e) => {
                // Consumed but not delivered: make all of it read dirty again.
                softdirty::redirty(mm, walk_start, args.end);
                stopped = Err(e);
                break;
            }
        }
        if ret != Err(ENOSPC) || out.room() == 0 || out.found_pages() == args.max_pages {
            break;
        }
        walk_start = out.walk_end() as usize;
    }
    let result = match stopped {
        Ok(()) => Ok(regions as isize),
        // What was delivered stands; the next call, from `walk_end`, meets the error.
        Err(_) if regions > 0 => {
            out.set_walk_end(walk_start as u64);
            Ok(regions as isize)
        }
        Err(e) => Err(e),
    };
    if out.walk_end() == 0 {
        out.set_walk_end(args.end as u64);
    }
    if ScanArgs::write_walk_end(uarg, out.walk_end()).is_err() {
        // The caller cannot learn what it got: undo all of it.
        softdirty::redirty(mm, args.start, args.end);
        return Err(EFAULT);
    }
    result
}
