// SPDX-License-Identifier: GPL-2.0

//! Everything behind the device, in three layers, each using only the ones below it:
//!
//! - [`mm`], the wrappers: safe types over the kernel's mm internals (the mmap lock as
//!   read and write guards, VMAs, page tables and their locks, entry values, `struct
//!   page` facts, leaf changes, the notifier-and-flush bracket of a change, user
//!   copies, tasks and credentials). Every `unsafe` of `walk/` is here, in [`uapi`]
//!   and in nothing else.
//! - [`walker`], the mechanism: VMAs first, then page tables level by level with one
//!   level-generic loop, handing holes and leaves to a [`walker::Visitor`].
//! - the consumers, one folder each: [`pagemap`] (the read), [`scan`] (PAGEMAP_SCAN and
//!   get-and-clear) and [`softdirty`] (clearing), with [`access`], the rules of who may
//!   bind which process and what a binding may do.

pub(crate) mod access;
pub(crate) mod mm;
pub(crate) mod pagemap;
pub(crate) mod scan;
pub(crate) mod softdirty;
pub(crate) mod uapi;
pub(crate) mod walker;

pub(crate) use mm::check_primitives;
