// SPDX-License-Identifier: GPL-2.0

//! rust_pagemap: `/proc/PID/pagemap` reads and `PAGEMAP_SCAN`, behind a misc device.
//!
//! Opening `/dev/rust_pagemap` binds the opener's mm, like opening
//! `/proc/self/pagemap`. `pread(fd, buf, n, (vaddr / 4096) * 8)` then returns
//! one 64-bit entry per page, bit for bit what `/proc/self/pagemap` returns.

use kernel::{
    fs::{File, Kiocb},
    iov::IovIterDest,
    miscdevice::{MiscDevice, MiscDeviceOptions, MiscDeviceRegistration},
    mm::Mm,
    new_mutex,
    prelude::*,
    sync::{aref::ARef, Mutex},
    uaccess::{UserPtr, UserSlice},
};

mod walk;

use walk::uapi;

module! {
    type: RustPagemap,
    name: "rust_pagemap",
    authors: ["rust_pagemap developers"],
    description: "pagemap reads and PAGEMAP_SCAN in Rust, behind /dev/rust_pagemap",
    license: "GPL",
}

#[pin_data]
struct RustPagemap {
    #[pin]
    _miscdev: MiscDeviceRegistration<PagemapFile>,
}

impl kernel::InPlaceModule for RustPagemap {
    fn init(_module: &'static ThisModule) -> impl PinInit<Self, Error> {
        try_pin_init!(Self {
            _miscdev <- {
                walk::check_primitives()?;
                MiscDeviceRegistration::register(MiscDeviceOptions {
                    name: c"rust_pagemap",
                })
            },
        })
    }
}

/// What an open file of the device reads: an mm, whose rule shows frame numbers, and
/// what the binder was allowed to do to it.
///
/// # Invariants
///
/// `mm`, when set, holds an `mmgrab` reference (not a user reference), like
/// the pagemap file's `private_data`: the mm struct stays allocated, but its
/// address space may already be gone, which reads then report as end of file.
#[derive(Clone)]
struct Binding {
    mm: Option<ARef<Mm>>,
    /// `None`: frame numbers follow the opener (bound at open, like
    /// `/proc/self/pagemap`); `Some(shown)`: decided for whoever attached it.
    pfns: Option<bool>,
    /// Decided when the file was bound (`walk::access`), kept for whoever uses it.
    rights: walk::access::Rights,
}

/// One open file of the device.
#[pin_data]
struct PagemapFile {
    #[pin]
    binding: Mutex<Binding>,
}

impl PagemapFile {
    /// The bound mm and the rights of the binding.
    fn mm_and_rights(&self) -> (Option<ARef<Mm>>, walk::access::Rights) {
        let binding = self.binding.lock();
        (binding.mm.clone(), binding.rights)
    }
}

// The pagemap file's own scan command has the number upstream gives it.
const _: () = assert!(uapi::PAGEMAP_SCAN == 0xC060_6610);

impl PagemapFile {
    /// Binds the file to the mm of the process `pidfd` names, under the permission rule
    /// of opening `/proc/PID/pagemap` (see `walk::access`): `EACCES` when the caller may
    /// not open it, `ESRCH` when it has no mm (exited, or a kernel thread). From then on
    /// frame numbers show only if the caller could see them in that file, and soft-dirty
    /// may be cleared only if the caller could open its `clear_refs` for writing.
    fn attach_pidfd(&self, pidfd: usize) -> Result<isize> {
        let pidfd = i32::try_from(pidfd).map_err(|_| EBADF)?;
        let (mm, rights) = walk::access::attach(pidfd)?;
        *self.binding.lock() = Binding {
            mm: Some(mm),
            pfns: Some(walk::access::caller_sees_pfns()),
            rights,
        };
        Ok(0)
    }
}

impl PagemapFile {
    /// The bound mm with a user reference, for a clear: `ESRCH` when there is none any
    /// more, `EPERM` when the binding does not carry the right to clear.
    fn mm_to_clear(&self) -> Result<ARef<kernel::mm::MmWithUser>> {
        let (mm, rights) = self.mm_and_rights();
        let mm = mm.and_then(|mm| mm.mmget_not_zero()).ok_or(ESRCH)?;
        rights.check_clear()?;
        Ok(mm)
    }

    /// `RPM_IOC_CLEAR_SOFT_DIRTY`: reads `{start, end}` from user memory and clears
    /// soft-dirty on `[start, end)`: `start` page-aligned, `end` rounded up to a page,
    /// `end >= start`, all below the top of user space; else `EINVAL`. An empty range
    /// changes nothing.
    fn clear_soft_dirty_range(&self, arg: usize) -> Result<isize> {
        let mm = self.mm_to_clear()?;
        let range: uapi::rpm_range =
            UserSlice::new(UserPtr::from_addr(arg), size_of::<uapi::rpm_range>())
                .reader()
                .read()?;
        let (start, end) = (range.start as usize, range.end as usize);
        let page = kernel::page::PAGE_SIZE;
        let end = end.checked_next_multiple_of(page).ok_or(EINVAL)?;
        if start % page != 0 || end < start || end > walk::mm::lock::task_size(&mm) {
            return Err(EINVAL);
        }
        if start == end {
            return Ok(0);
        }
        walk::softdirty::clear(&mm, Some((start, end)))?;
        Ok(0)
    }
}

#[vtable]
impl MiscDevice for PagemapFile {
    type Ptr = Pin<KBox<Self>>;

    fn open(file: &File, _misc: &MiscDeviceRegistration<Self>) -> Result<Pin<KBox<Self>>> {
        // The opener's own files' rule (`EACCES` when it may not read its own
        // `/proc/self/pagemap`), then its own mm, for which `proc_mem_open` checks nothing.
        let rights = walk::access::open_self()?;
        let mm = kernel::current!().mm().map(|mm| ARef::<Mm>::from(&**mm));
        if mm.is_none() {
            // A kernel thread has no mm; `/proc/PID/pagemap` says ESRCH for one.
            return Err(ESRCH);
        }
        walk::mm::file::set_atomic_pos_at_open(file);
        KBox::try_pin_init(
            try_pin_init!(PagemapFile {
                binding <- new_mutex!(Binding { mm, pfns: None, rights }),
            }),
            GFP_KERNEL,
        )
    }

    fn llseek(_me: Pin<&PagemapFile>, pos: i64, offset: i64, whence: u32) -> Result<i64> {
        // `mem_lseek`: SEEK_SET and SEEK_CUR only, and no range check at all.
        match whence {
            uapi::SEEK_SET => Ok(offset),
            uapi::SEEK_CUR => Ok(pos.wrapping_add(offset)),
            _ => Err(EINVAL),
        }
    }

    fn ioctl(me: Pin<&PagemapFile>, _file: &File, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            uapi::RPM_IOC_ATTACH_PIDFD => me.attach_pidfd(arg),
            uapi::RPM_IOC_CLEAR_SOFT_DIRTY => me.clear_soft_dirty_range(arg),
            uapi::RPM_IOC_CLEAR_SOFT_DIRTY_ALL => {
                let mm = me.mm_to_clear()?;
                walk::softdirty::clear(&mm, None)?;
                Ok(0)
            }
            // Like the pagemap file: no access-mode or permission check beyond those of
            // open and attach.
            uapi::PAGEMAP_SCAN => match me.mm_and_rights() {
                (Some(mm), rights) => walk::scan::scan(&mm, arg, rights),
                (None, _) => Err(ESRCH),
            },
            // The pagemap file answers EINVAL, not ENOTTY, to commands it does not know;
            // feature probes (CRIU) rely on that.
            _ => Err(EINVAL),
        }
    }

    fn read_iter(mut kiocb: Kiocb<'_, Self::Ptr>, iov: &mut IovIterDest<'_>) -> Result<usize> {
        // The user reference is taken under the binding's lock, from the bound mm itself:
        // no reference to the `mm_struct` is taken and dropped per read.
        let (mm, pfns) = {
            let file = kiocb.file();
            let binding = file.binding.lock();
            (
                binding.mm.as_ref().map(|mm| mm.mmget_not_zero()),
                binding.pfns,
            )
        };
        // A target whose address space is gone reads as end of file, before any other check.
        let Some(Some(mm)) = mm else { return Ok(0) };
        let pos = *kiocb.ki_pos_mut();
        let count = iov.len();
        if pos % 8 != 0 || count % 8 != 0 {
            return Err(EINVAL);
        }
        if count == 0 {
            return Ok(0);
        }
        let show_pfn = pfns.unwrap_or_else(|| walk::mm::file::opener_has_sys_admin(&kiocb));
        let copied = walk::pagemap::read(&mm, pos as u64, count, show_pfn, |entries| {
            let bytes = entries.as_bytes();
            // A short copy is a fault in the user buffer: the whole read fails, as in the kernel.
            if iov.copy_to_iter(bytes) != bytes.len() {
                return Err(EFAULT);
            }
            Ok(())
        })?;
        *kiocb.ki_pos_mut() += copied as i64;
        Ok(copied)
    }
}
