// SPDX-License-Identifier: GPL-2.0

//! What PAGEMAP_SCAN needs of user memory beyond `UserSlice`: the address check
//! of x86-64 (`access_ok`), faulting an output array in before a walk
//! (`fault_in_writeable`), and the layout of the `page_region`s copied out.

use kernel::{bindings, prelude::*, transmute::AsBytes};

/// `access_ok` of x86-64: `[addr, addr + size)` does not wrap and ends at or
/// below the highest user address.
pub(crate) fn access_ok(addr: u64, size: u64) -> bool {
    // SAFETY: `USER_PTR_MAX` is written once during boot and only read afterwards.
    let max = unsafe { core::ptr::addr_of!(bindings::USER_PTR_MAX).read() } as u64;
    let sum = addr.wrapping_add(size);
    sum <= max && sum >= addr
}

/// Faults in `[user, user + size)` of the current task's address space for writing
/// (`fault_in_writeable`, which stores zeroes there): `EFAULT` if some of it cannot be
/// written. The caller holds no lock that a page fault may need (the mmap lock).
pub(crate) fn fault_in_writeable(user: usize, size: usize) -> Result {
    // SAFETY: `fault_in_writeable` checks the range with `access_ok` and writes to it
    // through the user-access primitives, which handle any fault; any address is allowed.
    let left = unsafe { bindings::fault_in_writeable(user as *mut _, size) };
    if left != 0 {
        return Err(EFAULT);
    }
    Ok(())
}

/// One `struct page_region`: `[start, end)` and its categories.
#[repr(C)]
#[derive(Copy, Clone, Default)]
pub(crate) struct Region {
    pub(crate) start: u64,
    pub(crate) end: u64,
    pub(crate) categories: u64,
}

const _: () =
    assert!(core::mem::size_of::<Region>() == core::mem::size_of::<bindings::page_region>());

// SAFETY: `Region` is `repr(C)` with three `u64` fields: no padding, no interior mutability.
unsafe impl AsBytes for Region {}
