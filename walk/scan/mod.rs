// SPDX-License-Identifier: GPL-2.0

//! The PAGEMAP_SCAN ioctl (`do_pagemap_scan` in fs/proc/task_mmu.c): checks the
//! request, walks the range under the mmap lock (inside a protection
//! notification when it write-protects), copies the regions found out after
//! each walk, walks again from `walk_end` while the output array has room,
//! and writes `walk_end` back. Get-and-clear (`RPM_SCAN_CLEAR_SOFT_DIRTY`) has
//! a driver of its own, [`get_and_clear`].
//!
//! The folder: [`args`] reads and checks the request, [`category`] computes and
//! matches page categories, [`visit`] is the walk consumer, [`output`] the region
//! array, [`wp`] the write-protection of holes, [`size`] the page sizes of
//! `RPM_SCAN_PAGE_SIZES`, [`get_and_clear`] the get-and-clear driver.

use kernel::{mm::Mm, prelude::*};

use crate::walk::access::Rights;
use crate::walk::mm::change::{NotifyEvent, PteChanges};
use crate::walk::mm::lock::MmapReadGuard;
use crate::walk::mm::sched::fatal_signal_pending;

mod args;
mod category;
mod get_and_clear;
mod output;
mod size;
mod visit;
mod wp;

use args::ScanArgs;
use output::Output;
use visit::walk_once;

/// Runs the PAGEMAP_SCAN request at user address `uarg` on `mm`.
///
/// Returns the number of regions written to the user's array, or the errno the
/// kernel's ioctl would give. Regions found before an error are still copied
/// out, pages already write-protected stay so, and `walk_end` is written back
/// whenever the request itself was valid. A get-and-clear needs the binding's right to
/// clear (`rights`): `EPERM` without it, after the checks of the request.
pub(crate) fn scan(mm: &Mm, uarg: usize, rights: Rights) -> Result<isize> {
    let Some(mm) = mm.mmget_not_zero() else {
        return Err(ESRCH);
    };
    let args = ScanArgs::read(uarg)?;
    let mut out = Output::new(args.vec, args.vec_len, args.output_mask(), args.max_pages)?;
    if args.clear_soft_dirty() {
        rights.check_clear()?;
        return get_and_clear::get_and_clear(&mm, uarg, &args, &mut out);
    }
    let mut regions: u64 = 0;
    let mut ret: Result = Ok(());
    let mut walk_start = args.start;
    while walk_start < args.end {
        if fatal_signal_pending() {
            ret = Err(EINTR);
            break;
        }
        let lock = match MmapReadGuard::lock_killable(&mm) {
            Ok(lock) => lock,
            Err(e) => {
                ret = Err(e);
                break;
            }
        };
        ret = if args.wp() {
            // Protected entries are flushed once, when the walk is done, while the flush
            // is announced as pending (as `change_protection` does) and inside the
            // `MMU_NOTIFY_PROTECTION_VMA` range `do_pagemap_scan` brackets the walk with.
            let mut changes =
                PteChanges::begin(&lock, NotifyEvent::ProtectionVma, walk_start, args.end);
            walk_once(&lock, &args, &mut out, Some(&mut changes), walk_start)
        } else {
            walk_once(&lock, &args, &mut out, None, walk_start)
        };
        drop(lock);
        match out.flush() {
            Ok(n) => regions += n,
            Err(e) => ret = Err(e),
        }
        // Only a full output array is worth another walk, from where this one stopped.
        // `walk_end` is not reset in between: a later walk that completes leaves it at
        // the last restart point, as in the kernel.
        if ret != Err(ENOSPC) || out.room() == 0 || out.found_pages() == args.max_pages {
            break;
        }
        walk_start = out.walk_end() as usize;
    }
    let result = match ret {
        Ok(()) => Ok(regions as isize),
        Err(e) if e == ENOSPC => Ok(regions as isize),
        Err(e) => Err(e),
    };
    if out.walk_end() == 0 {
        out.set_walk_end(args.end as u64);
    }
    ScanArgs::write_walk_end(uarg, out.walk_end()).map_err(|_| EFAULT)?;
    result
}
