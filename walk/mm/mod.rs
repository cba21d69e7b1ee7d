// SPDX-License-Identifier: GPL-2.0

//! The wrapper layer: safe types over the kernel's mm internals, for the walker and
//! the consumers above it. Every `unsafe` block of the walk is in this folder, each
//! argued where it stands; the types carry what makes it sound (a lock held, a table
//! mapped) as their invariants, and the layers above see only safe methods.
//!
//! From the bottom up (no file uses one listed after it):
//! - [`x86`]: the architecture's entry bits and the Rust versions of its primitives;
//! - [`level`], [`entry`], [`softleaf`]: page-table levels, entry values and the
//!   non-present ("soft leaf") entries, decoded;
//! - [`lock`]: the mmap lock as read and write guards; [`task`]: tasks, credentials
//!   and pidfds; [`signal`], [`uaccess`], [`fillbuf`]: small primitives;
//! - [`vma`], [`page`]: VMAs, and `struct page` / folio facts;
//! - [`table`]: page tables, their slots and locks, and a [`Leaf`] read under its lock;
//! - [`modify`]: leaf changes, each under the lock that made the leaf current;
//! - [`change`]: the bracket of a change to a range's entries (notifier range,
//!   pending flush, the flush itself).

pub(crate) mod change;
pub(crate) mod entry;
pub(crate) mod file;
pub(crate) mod fillbuf;
pub(crate) mod level;
pub(crate) mod lock;
pub(crate) mod modify;
pub(crate) mod page;
pub(crate) mod sched;
pub(crate) mod softleaf;
pub(crate) mod table;
pub(crate) mod task;
pub(crate) mod uaccess;
pub(crate) mod vma;
pub(crate) mod x86;

pub(crate) use entry::{Entry, Kind};
pub(crate) use level::Level;
pub(crate) use table::{Leaf, LeafKind};

/// Checks, when the module is loaded, that the page-table primitives done in Rust
/// agree with the kernel's own (see [`x86::IN_PLACE_PTE_UPDATES`]): `EINVAL`, and a
/// message naming the primitive, if one does not.
pub(crate) fn check_primitives() -> kernel::error::Result {
    let mut check = page::check_memmap().and_then(|()| softleaf::check_decoding());
    if x86::IN_PLACE_PTE_UPDATES {
        check = check.and_then(|()| x86::check_pte_builders());
    }
    // The scan's uffd test on non-present PTEs, done in Rust.
    check = check.and_then(|()| softleaf::check_swp_uffd_any());
    if let Err(what) = check {
        kernel::pr_err!("rust_pagemap: {what} differs from the Rust version; not loading\n");
        return Err(kernel::error::code::EINVAL);
    }
    Ok(())
}
