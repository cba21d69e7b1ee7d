// SPDX-License-Identifier: GPL-2.0

//! VMAs as the walker sees them: found under the mmap lock, valid while it is held.

use kernel::bindings;
use kernel::mm::virt::{flags, VmaRef};

use kernel::prelude::*;

use super::lock::{MmapLocked, MmapWriteGuard};

/// A VMA of the mm whose mmap lock `'a` borrows.
///
/// # Invariants
///
/// `vma` is a VMA of that mm, and the mmap lock is held for `'a`, so it is
/// neither freed nor changed in the fields read here.
#[derive(Copy, Clone)]
pub(crate) struct Vma<'a> {
    vma: &'a VmaRef,
}

impl<'a> Vma<'a> {
    /// The first VMA that ends above `addr` (`find_vma`), if any.
    pub(crate) fn find(lock: &'a MmapLocked<'_>, addr: usize) -> Option<Self> {
        // SAFETY: the mmap lock is held (the guard exists), as `find_vma` requires.
        let ptr = unsafe { bindings::find_vma(lock.mm_ptr(), addr) };
        if ptr.is_null() {
            return None;
        }
        // SAFETY: `ptr` is a VMA of this mm and stays valid while the lock, borrowed for 'a, is held.
        let vma = unsafe { VmaRef::from_raw(ptr) };
        // INVARIANT: as argued above.
        Some(Self { vma })
    }

    /// Calls `f` for every VMA that `[start, end)` of the locked mm reaches, with the
    /// part of it inside the range, until `f` fails. `f` may merge or split the VMAs of
    /// the range from the part on: the walk goes on from where the VMA ended before `f`
    /// ran.
    pub(crate) fn try_for_each(
        lock: &'a MmapLocked<'_>,
        start: usize,
        end: usize,
        mut f: impl FnMut(Vma<'a>, usize, usize) -> Result,
    ) -> Result {
        let mut addr = start;
        while addr < end {
            let Some(vma) = Self::find(lock, addr) else {
                break;
            };
            if vma.start() >= end {
                break;
            }
            let (from, to) = (addr.max(vma.start()), end.min(vma.end()));
            addr = vma.end();
            f(vma, from, to)?;
        }
        Ok(())
    }

    /// Calls `f` for every VMA that `[start, end)` of the locked mm reaches.
    pub(crate) fn for_each(
        lock: &'a MmapLocked<'_>,
        start: usize,
        end: usize,
        mut f: impl FnMut(Vma<'a>),
    ) {
        let _ = Self::try_for_each(lock, start, end, |vma, _, _| {
            f(vma);
            Ok(())
        });
    }

    /// The raw VMA, for kernel functions that take one.
    pub(super) fn as_ptr(&self) -> *mut bindings::vm_area_struct {
        self.vma.as_ptr()
    }

    /// First address of the VMA.
    pub(crate) fn start(&self) -> usize {
        self.vma.start()
    }

    /// End (exclusive) of the VMA.
    pub(crate) fn end(&self) -> usize {
        self.vma.end()
    }

    /// The mm the VMA belongs to.
    pub(super) fn mm_ptr(&self) -> *mut bindings::mm_struct {
        // SAFETY: a live VMA always points to its mm.
        unsafe { (*self.as_ptr()).vm_mm }
    }

    /// Whether the VMA is a private, writable-in-principle mapping (`is_cow_mapping`:
    /// `VM_MAYWRITE` without `VM_SHARED`).
    #[inline]
    pub(crate) fn is_cow_mapping(&self) -> bool {
        self.vma.flags() & (flags::SHARED | flags::MAYWRITE) == flags::MAYWRITE
    }

    /// Whether pages of the VMA's mm were ever pinned (`mm_flags_test(MMF_HAS_PINNED)`):
    /// the flag is set by `FOLL_PIN` without any lock and never cleared, so it is read
    /// anew each time, as one load of its word, as `test_bit` reads it.
    #[inline]
    pub(crate) fn mm_has_pinned(&self) -> bool {
        const BITS: u32 = usize::BITS;
        const BIT: u32 = bindings::MMF_HAS_PINNED;
        // SAFETY: a live VMA points to its live mm; the flags bitmap is a plain array of
        // words inside it, and the word holding `MMF_HAS_PINNED` lies within it.
        let word = unsafe {
            core::ptr::read_volatile(core::ptr::addr_of!(
                (*self.mm_ptr()).__bindgen_anon_1.flags.__mm_flags[(BIT / BITS) as usize]
            ))
        };
        word & (1 << (BIT % BITS)) != 0
    }

    /// The VMA's flags (`vm_flags`).
    pub(crate) fn flags(&self) -> bindings::vm_flags_t {
        self.vma.flags()
    }

    /// Whether the whole VMA counts as soft-dirty (`VM_SOFTDIRTY`).
    pub(crate) fn soft_dirty(&self) -> bool {
        self.vma.flags() & flags::SOFTDIRTY != 0
    }

    /// Whether the VMA maps raw page frames that no walk may look at (`VM_PFNMAP`).
    pub(crate) fn is_pfnmap(&self) -> bool {
        self.vma.flags() & flags::PFNMAP != 0
    }

    /// Whether the VMA is backed by hugetlbfs.
    pub(crate) fn is_hugetlb(&self) -> bool {
        self.vma.flags() & flags::HUGETLB != 0
    }

    /// Splits the VMA at `addr` (`split_vma`); the VMA is stale afterwards, so it
    /// is consumed: look the range up again.
    pub(crate) fn split(self, _lock: &MmapWriteGuard<'_>, addr: usize) -> Result {
        if addr <= self.start() || addr >= self.end() {
            return Err(EINVAL);
        }
        // SAFETY: the mmap lock is held for write and `addr` lies strictly inside the VMA.
        let ret = unsafe { bindings::split_vma_at(self.as_ptr(), addr, 0) };
        kernel::error::to_result(ret)
    }

    /// The VMA that ends where this one starts, if any.
    pub(crate) fn prev_adjacent(&self, lock: &'a MmapLocked<'_>) -> Option<Self> {
        let start = self.start();
        if start == 0 {
            return None;
        }
        Self::find(lock, start - 1).filter(|prev| prev.end() == start)
    }

    /// The VMA that starts where this one ends, if any.
    pub(crate) fn next_adjacent(&self, lock: &'a MmapLocked<'_>) -> Option<Self> {
        let end = self.end();
        Self::find(lock, end).filter(|next| next.start() == end)
    }

    /// Gives `[start, end)` of the VMA the flags `new`, as `mprotect_fixup` does
    /// (`vma_modify_flags`): the part merges with `prev` (the VMA that ends at the
    /// VMA's start; `None` keeps it apart) when `start` is the VMA's start, or with the
    /// next VMA when `end` is its end, if their flags (but the sticky ones,
    /// `VM_SOFTDIRTY` among them), file, anon_vma and policy allow; else it is split off.
    /// Returns the VMA that holds the range now, and the flags it must be given: `new`
    /// with the sticky flags of whatever merged into it. The caller sets them. The VMA
    /// (and `prev`) are stale afterwards, so they are consumed. `EINVAL` when the VMA
    /// refuses a split (`vm_ops->may_split`: `[vdso]`, `[vvar]`, ...) or the range
    /// leaves it, `ENOMEM` when a split is refused (`vm.max_map_count`) or memory is
    /// short: nothing changed then.
    pub(crate) fn modify_flags(
        self,
        _lock: &'a MmapWriteGuard<'_>,
        prev: Option<Self>,
        start: usize,
        end: usize,
        new: bindings::vm_flags_t,
    ) -> Result<(Self, bindings::vm_flags_t)> {
        if start < self.start() || end > self.end() || start >= end {
            return Err(EINVAL);
        }
        // Offset into the VMA, the VMA is its own `prev` (the kernel's convention).
        let prev = if start > self.start() {
            self.as_ptr()
        } else {
            prev.filter(|p| p.end() == start)
                .map_or(core::ptr::null_mut(), |p| p.as_ptr())
        };
        let mut flags = new;
        // SAFETY: the mmap lock is held for write; `self` is a VMA of the locked mm and
        // `[start, end)` lies inside it; `prev` is null, the VMA itself (when `start` is
        // inside it) or the VMA of the same mm that ends at `start`, as the function
        // expects of its `prev`.
        let vma =
            unsafe { bindings::vma_modify_flags_at(prev, self.as_ptr(), start, end, &mut flags) };
        let vma = kernel::error::from_err_ptr(vma)?;
        // SAFETY: `vma_modify_flags` returns a live VMA of the locked mm, valid while the
        // lock, borrowed for 'a, is held.
        let vma = unsafe { VmaRef::from_raw(vma) };
        // INVARIANT: as argued above.
        Ok((Self { vma }, flags))
    }

    /// Whether the VMA is anonymous memory (`vma_is_anonymous`: no `vm_ops`). Only
    /// an anonymous huge PMD survives a split as PTEs; a file or shmem one is zapped.
    pub(crate) fn is_anonymous(&self) -> bool {
        // SAFETY: the VMA is live (type invariant); `vm_ops` is fixed while the mmap lock
        // is held.
        unsafe { (*self.as_ptr()).vm_ops.is_null() }
    }

    /// Write-locks the VMA (`vma_start_write`): page faults that would run under the
    /// per-VMA lock fall back to the mmap lock, which the caller holds for write, and
    /// so wait until it is dropped. The VMA lock is released with the mmap lock.
    pub(crate) fn write_lock(&self, _lock: &MmapWriteGuard<'_>) {
        // SAFETY: the mmap lock is held for write, as `vma_start_write` requires.
        unsafe { bindings::vma_start_write(self.as_ptr()) };
    }

    /// Clears `VM_SOFTDIRTY` and recomputes the page protection, as `clear_refs`
    /// does, so that writes to shared mappings fault again.
    pub(crate) fn clear_soft_dirty_flag(&self, _lock: &MmapWriteGuard<'_>) {
        // SAFETY: the mmap lock is held for write, which `vm_flags_clear` (it takes the VMA
        // write lock itself) and `vma_set_page_prot` require.
        unsafe {
            bindings::vm_flags_clear(self.as_ptr(), flags::SOFTDIRTY);
            bindings::vma_set_page_prot(self.as_ptr());
        }
    }

    /// Sets `VM_SOFTDIRTY` again, so that every page of the VMA reads dirty: the undo
    /// of a clear whose result could not be delivered.
    pub(crate) fn set_soft_dirty_flag(&self, _lock: &MmapWriteGuard<'_>) {
        // SAFETY: as for `clear_soft_dirty_flag`; `vm_flags_set` write-locks the VMA itself.
        unsafe {
            bindings::vm_flags_set(self.as_ptr(), flags::SOFTDIRTY);
            bindings::vma_set_page_prot(self.as_ptr());
        }
    }

    /// Whether the VMA is registered for userfaultfd write-protection (`userfaultfd_wp`).
    pub(crate) fn uffd_wp(&self) -> bool {
        // SAFETY: the VMA is live (type invariant); the helper only reads its flags.
        unsafe { bindings::userfaultfd_wp(self.as_ptr()) }
    }

    /// Whether the VMA is registered for userfaultfd read-write protection (`userfaultfd_rwp`).
    pub(crate) fn uffd_rwp(&self) -> bool {
        // SAFETY: as for `uffd_wp`.
        unsafe { bindings::userfaultfd_rwp(self.as_ptr()) }
    }

    /// Whether pages of the VMA may be write-protected asynchronously: its userfaultfd has
    /// `UFFD_FEATURE_WP_ASYNC` and it keeps uffd-wp markers (`userfaultfd_wp_async` and
    /// `userfaultfd_wp_use_markers`, the rule of `pagemap_scan_test_walk`).
    pub(crate) fn uffd_wp_async_with_markers(&self) -> bool {
        // SAFETY: the VMA is live and the mmap lock keeps its userfaultfd context attached;
        // both helpers only read flags and features.
        unsafe {
            bindings::userfaultfd_wp_async(self.as_ptr())
                && bindings::userfaultfd_wp_use_markers(self.as_ptr())
        }
    }

    /// Takes the write lock of the `i_mmap` tree of the VMA's file (`i_mmap_lock_write`);
    /// `None` for a VMA without a file.
    pub(crate) fn lock_mapping_write(&self) -> Option<MappingWriteLock> {
        // SAFETY: the VMA is live; its `vm_file` is fixed while the mmap lock is held.
        let file = unsafe { (*self.as_ptr()).vm_file };
        if file.is_null() {
            return None;
        }
        // SAFETY: a VMA holds a reference on its file, so `file` is live.
        let mapping = unsafe { (*file).f_mapping };
        // SAFETY: `mapping` is the live address space of an open file; this may sleep, and
        // callers hold no spinlock.
        unsafe { bindings::i_mmap_lock_write(mapping) };
        // INVARIANT: just locked.
        Some(MappingWriteLock { mapping })
    }

    /// Size of the huge pages of a hugetlb VMA.
    pub(crate) fn huge_page_size(&self) -> usize {
        // SAFETY: the VMA is live and hugetlb (callers check `is_hugetlb`).
        unsafe { bindings::vma_huge_page_size(self.as_ptr()) as usize }
    }

    /// log2 of [`Self::huge_page_size`].
    pub(crate) fn huge_page_shift(&self) -> u32 {
        self.huge_page_size().trailing_zeros()
    }

    /// Flushes the TLB entries of `[start, end)` of the VMA on every CPU the mm ran on
    /// (`flush_tlb_range`, which is also `flush_hugetlb_tlb_range` on x86).
    pub(crate) fn flush_tlb_range(&self, start: usize, end: usize) {
        // SAFETY: the VMA is live (type invariant); the flush only reads the mm's CPU mask
        // and bumps its TLB generation.
        unsafe { bindings::flush_tlb_range(self.as_ptr(), start, end) };
    }

    /// Write-protects `[start, end)` of a VMA registered for uffd-wp (`uffd_wp_range`):
    /// the kernel allocates missing page tables, puts uffd-wp markers in empty entries
    /// and sets the uffd bit on the others, with its own page-table locks, TLB
    /// gathering and notifications. `EINVAL` for a range that is empty or leaves the VMA.
    /// It may sleep and takes page-table locks: the caller holds none (the walker calls
    /// holes between page tables).
    pub(crate) fn uffd_wp_range(&self, start: usize, end: usize) -> Result {
        if start >= end || start < self.start() || end > self.end() {
            return Err(EINVAL);
        }
        // SAFETY: the mmap lock is held (type invariant) and `[start, end)` lies inside the
        // VMA (checked above), as `change_protection` requires; a page-table lock held by
        // the caller would deadlock, not corrupt memory.
        let ret = unsafe { bindings::uffd_wp_range(self.as_ptr(), start, end - start, true) };
        if ret < 0 {
            return Err(Error::from_errno(ret as i32));
        }
        Ok(())
    }
}

/// The write lock of a file mapping's `i_mmap` tree, held.
///
/// # Invariants
///
/// `mapping` is a live address space whose `i_mmap_rwsem` is held for write; it
/// is released on drop.
pub(crate) struct MappingWriteLock {
    mapping: *mut bindings::address_space,
}

impl Drop for MappingWriteLock {
    fn drop(&mut self) {
        // SAFETY: held (type invariant) and released once, here.
        unsafe { bindings::i_mmap_unlock_write(self.mapping) };
    }
}

/// The hugetlb lock of a VMA held for read (`hugetlb_vma_lock_read`), as
/// `walk_hugetlb_range` takes it: it keeps shared PMD tables from being unshared
/// (and freed) under the walk, and it is what allocating a huge PTE
/// (`huge_pte_alloc`) needs besides the mmap lock.
///
/// # Invariants
///
/// `vma` is a hugetlb VMA whose hugetlb lock is held for read; it is released on drop.
pub(crate) struct HugetlbVmaLock<'a> {
    vma: Vma<'a>,
}

impl<'a> HugetlbVmaLock<'a> {
    /// Takes the hugetlb lock of `vma` for read; `None` if `vma` is not a hugetlb VMA.
    pub(crate) fn lock_read(vma: &Vma<'a>) -> Option<Self> {
        if !vma.is_hugetlb() {
            return None;
        }
        // SAFETY: the VMA is a live hugetlb VMA (the mmap lock is held for 'a).
        unsafe { bindings::hugetlb_vma_lock_read(vma.as_ptr()) };
        // INVARIANT: just taken, for a hugetlb VMA.
        Some(Self { vma: *vma })
    }

    /// The locked VMA.
    pub(crate) fn vma(&self) -> &Vma<'a> {
        &self.vma
    }
}

impl Drop for HugetlbVmaLock<'_> {
    fn drop(&mut self) {
        // SAFETY: held for read (type invariant), released once, here.
        unsafe { bindings::hugetlb_vma_unlock_read(self.vma.as_ptr()) };
    }
}
