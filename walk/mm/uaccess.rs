// SPDX-License-Identifier: GPL-2.0

//! What PAGEMAP_SCAN needs of user memory beyond `UserSlice`: the address check
//! of x86-64 (`access_ok`), faulting an output array in before a walk without
//! storing to it (`fault_in_safe_writeable`).

use kernel::{bindings, prelude::*};

/// `access_ok` of x86-64: `[addr, addr + size)` does not wrap and ends at or
/// below the highest user address.
pub(crate) fn access_ok(addr: u64, size: u64) -> bool {
    // SAFETY: `USER_PTR_MAX` is written once during boot and only read afterwards.
    let max = unsafe { core::ptr::addr_of!(bindings::USER_PTR_MAX).read() } as u64;
    let sum = addr.wrapping_add(size);
    sum <= max && sum >= addr
}

/// Faults in `[user, user + size)` of the current task's address space for writing,
/// without writing to it (`fault_in_safe_writeable`: a write fault through
/// `fixup_user_fault` on each page, as GUP takes it; `fault_in_writeable` would store
/// a zero byte into every page, and PAGEMAP_SCAN writes nothing past the regions it
/// returns): `EFAULT` if some of it cannot be written. The caller holds no lock that a
/// page fault may need (the current mm's mmap lock).
pub(crate) fn fault_in_safe_writeable(user: usize, size: usize) -> Result {
    if !access_ok(user as u64, size as u64) {
        return Err(EFAULT);
    }
    // SAFETY: `fault_in_safe_writeable` takes the current mm's mmap lock itself (the
    // caller holds none) and only faults pages in through `fixup_user_fault`, which
    // refuses any address without a VMA that allows writing; it stores nothing.
    let left = unsafe { bindings::fault_in_safe_writeable(user as *const _, size) };
    if left != 0 {
        return Err(EFAULT);
    }
    Ok(())
}
