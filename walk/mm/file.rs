// SPDX-License-Identifier: GPL-2.0

//! What the device's file needs beyond the `kernel` crate's `File` and `Kiocb`: its
//! position serialised like a regular file's, and the opener's capabilities.

use kernel::{bindings, fs::File, fs::Kiocb, types::ForeignOwnable};

/// `FMODE_ATOMIC_POS` (include/linux/fs.h, not uapi): reads and seeks serialise on
/// `f_pos_lock`.
const FMODE_ATOMIC_POS: u32 = 1 << 15;

/// Makes reads through `file`, shared by threads or processes, update its position one
/// at a time, as on the pagemap file (a regular file gets this at open). For the
/// `open` of a file only.
pub(crate) fn set_atomic_pos_at_open(file: &File) {
    // SAFETY: the file is being opened (the only caller is the device's `open`): no other
    // task can use it yet, so its mode may be changed, as `stream_open` and
    // `nonseekable_open` do.
    unsafe { (*file.as_ptr()).f_mode |= FMODE_ATOMIC_POS };
}

/// Whether the credentials the file of `kiocb` was opened with have CAP_SYS_ADMIN in the
/// initial user namespace (`file_ns_capable`).
pub(crate) fn opener_has_sys_admin<T: ForeignOwnable>(kiocb: &Kiocb<'_, T>) -> bool {
    // SAFETY: a kiocb under `read_iter` refers to a live, open file.
    let file = unsafe { (*kiocb.as_raw()).ki_filp };
    // SAFETY: `file` is live; `init_user_ns` is a static object.
    unsafe {
        bindings::file_ns_capable(
            file,
            &raw mut bindings::init_user_ns,
            bindings::CAP_SYS_ADMIN as i32,
        )
    }
}
