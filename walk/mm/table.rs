// SPDX-License-Identifier: GPL-2.0

//! Page tables and the entry slots in them.
//!
//! A [`Table`] is a page table at a known level; a [`Slot`] is one entry of a
//! table, derived from the table and an address. Entries are read and written
//! only through slots. What keeps a table alive is part of how it was
//! obtained:
//!
//! - tables above the PTE level are freed only under the mmap write lock, so a
//!   [`Table`] borrows the mmap read lock;
//! - a PTE table can be freed or replaced under the read lock (THP collapse,
//!   empty-table reclaim), so it is only reached through [`PteTableLock`],
//!   which maps and locks it the kernel's way (`pte_offset_map_lock`);
//! - a huge PMD is read again under [`PmdLock`] before it is trusted.

use core::marker::PhantomData;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::bindings;

use super::entry::{Entry, Kind};
use super::level::Level;
use super::lock::MmapLocked;
use super::vma::{HugetlbVmaLock, Vma};

/// How a leaf was reached, which decides which rules apply to it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) enum LeafKind {
    /// A 4 KiB PTE, under its PTE-table lock.
    Pte,
    /// A transparent huge page (or a PMD migration entry), under the PMD lock.
    Thp,
    /// A hugetlb page table entry (PMD or PUD level), under the huge-PTE lock.
    Hugetlb,
}

/// The page-table lock a leaf or a run of PTEs was read under, kept only for
/// lockdep to check before an entry is changed (`lockdep_assert_held`): on a kernel
/// without `CONFIG_LOCKDEP` it is empty and its check is nothing.
///
/// # Invariants
///
/// With lockdep, `ptl` is the page-table lock (PTE table, PMD or huge PTE) of the
/// entries it was made for, a lock that stays allocated while they are borrowed.
#[derive(Copy, Clone)]
pub(crate) struct HeldLock {
    #[cfg(CONFIG_LOCKDEP)]
    ptl: *mut bindings::spinlock_t,
}

impl HeldLock {
    /// The lock `ptl`, which the caller holds and which protects the entries it is kept for.
    #[inline(always)]
    fn new(ptl: *mut bindings::spinlock_t) -> Self {
        #[cfg(not(CONFIG_LOCKDEP))]
        let _ = ptl;
        // INVARIANT: the caller's lock, of the entries this is made for.
        Self {
            #[cfg(CONFIG_LOCKDEP)]
            ptl,
        }
    }

    /// Warns (a lockdep `WARNING`, with the backtrace) unless the current task holds the
    /// lock: an entry about to change must be under its page-table lock, and a bug that
    /// released it early shows here at once, not only when another CPU happens to
    /// change the entry in between.
    #[inline(always)]
    pub(crate) fn assert_held(&self) {
        // SAFETY: `ptl` is an initialised spinlock that stays allocated while the entries
        // it protects are borrowed (type invariant); the check only reads lockdep's record
        // of the locks the current task holds.
        #[cfg(CONFIG_LOCKDEP)]
        unsafe {
            bindings::spin_assert_is_held(self.ptl)
        };
    }
}

/// A leaf entry, read under the page-table lock that keeps it current.
///
/// # Invariants
///
/// `entry` was read from `slot` while that lock was held, and the lock is
/// still held for as long as the leaf is borrowed.
pub(crate) struct Leaf<'s> {
    /// Where the entry lives.
    pub(crate) slot: Slot<'s>,
    /// Its value.
    pub(crate) entry: Entry,
    /// How it was reached.
    pub(crate) kind: LeafKind,
    /// The lock it was read under, for lockdep.
    pub(crate) held: HeldLock,
}

impl Leaf<'_> {
    /// Whether a hugetlb leaf lives in a PMD table shared with other mms.
    pub(crate) fn hugetlb_pmd_shared(&self) -> bool {
        // SAFETY: the slot is a live hugetlb entry and its lock is held (type invariant).
        self.kind == LeafKind::Hugetlb
            && unsafe { bindings::hugetlb_pmd_shared(self.slot.as_pte_ptr()) }
    }

    /// Whether a non-present entry carries the uffd bit or is a uffd-wp marker
    /// (`pte_swp_uffd_any`; the hugetlb rule).
    pub(crate) fn swp_uffd_any(&self) -> bool {
        // SAFETY: pure function of the value.
        unsafe {
            bindings::pte_swp_uffd_any(bindings::pte_t {
                pte: self.entry.raw() as usize,
            })
        }
    }
}

/// A page table at `level`.
///
/// # Invariants
///
/// `base` is the kernel virtual address of a page table of 512 entries at
/// `level`, which stays allocated for `'a`.
#[derive(Copy, Clone)]
pub(crate) struct Table<'a> {
    base: NonNull<u64>,
    level: Level,
    _life: PhantomData<&'a ()>,
}

impl<'a> Table<'a> {
    /// The root table of the locked mm: the walk for any address starts here.
    pub(crate) fn root(lock: &'a MmapLocked<'_>) -> Self {
        // INVARIANT: `pgd` of an mm with users is its live root table, and the
        // mmap lock borrowed for 'a keeps it.
        Self {
            // SAFETY: every mm with users has a root table.
            base: unsafe { NonNull::new_unchecked(lock.pgd()) },
            level: Level::top(),
            _life: PhantomData,
        }
    }

    /// The level of this table.
    #[inline]
    pub(crate) fn level(&self) -> Level {
        self.level
    }

    /// The slot that covers `addr`.
    #[inline]
    pub(crate) fn slot(&self, addr: usize) -> Slot<'a> {
        // SAFETY: the index is below 512, inside the table (type invariant).
        let ptr = unsafe { self.base.as_ptr().add(self.level.index(addr)) };
        // INVARIANT: `ptr` is an entry of a table at `level`, alive for 'a.
        Slot {
            ptr,
            level: self.level,
            _life: PhantomData,
        }
    }

    /// The table a table entry of this table points to, one level down.
    ///
    /// Returns `None` if `entry` is not a table entry or this is the bottom level.
    /// Only for levels above the PMD: PTE tables go through [`PteTableLock`].
    #[inline]
    pub(crate) fn below(&self, entry: Entry) -> Option<Table<'a>> {
        let level = self.level.below()?;
        if entry.kind() != Kind::Table || level < Level::PMD {
            return None;
        }
        // `phys_to_virt` (`__va`): the direct map starts at `page_offset_base`, where every
        // page table lives.
        // SAFETY: `page_offset_base` is fixed during early boot and only read here.
        let offset = unsafe { bindings::page_offset_base };
        let base = (entry.table_phys() as usize).wrapping_add(offset) as *mut u64;
        // INVARIANT: tables at PMD level and above are freed only under the mmap write
        // lock, which cannot be taken while the read lock that keeps `self` is held.
        Some(Table {
            base: NonNull::new(base)?,
            level,
            _life: PhantomData,
        })
    }
}

/// One entry of a page table.
///
/// # Invariants
///
/// `ptr` points to an entry of a page table at `level` that stays allocated for `'a`.
#[derive(Copy, Clone)]
pub(crate) struct Slot<'a> {
    ptr: *mut u64,
    level: Level,
    _life: PhantomData<&'a ()>,
}

impl<'a> Slot<'a> {
    /// Reads the entry once (`READ_ONCE`; `ptep_get`, `pmdp_get` on x86).
    #[inline]
    pub(crate) fn read(&self) -> Entry {
        // SAFETY: `ptr` is a live, aligned entry (type invariant); entries are read
        // concurrently with hardware and other CPUs, hence the volatile access.
        Entry::new(unsafe { core::ptr::read_volatile(self.ptr) }, self.level)
    }

    /// Stores a new value in a non-present entry (`set_pte_at` of one: `WRITE_ONCE`).
    ///
    /// # Safety
    ///
    /// The lock of the entry's table is held, so that no other software changes it, and
    /// the configuration lets the kernel change entries in place
    /// ([`super::x86::IN_PLACE_PTE_UPDATES`]); both the old and the new value are
    /// non-present, so no TLB holds the entry and no hardware writes it.
    #[inline]
    pub(super) unsafe fn write_non_present(&self, raw: u64) {
        // SAFETY: the caller's contract; `ptr` is a live, aligned entry (type invariant).
        unsafe { core::ptr::write_volatile(self.ptr, raw) };
    }

    /// Splits the huge PMD in this slot (`split_huge_pmd`), a PMD of `vma` covering
    /// `addr`: afterwards it points to a PTE table mapping the same pages, or is empty
    /// (a file THP is zapped). Takes the PMD lock itself: none may be held.
    pub(crate) fn split_huge_pmd(&self, _lock: &MmapLocked<'_>, vma: &Vma<'_>, addr: usize) {
        // SAFETY: the mmap lock is held (borrowed) and no page-table lock is (the PMD
        // lock is a guard its holder drops first); the slot is a live PMD of `vma`
        // covering `addr` (type invariant and the caller's `vma`).
        unsafe { bindings::split_huge_pmd(vma.as_ptr(), self.as_pmd_ptr(), addr) };
    }

    /// The slot as the C type of a PTE pointer.
    pub(super) fn as_pte_ptr(&self) -> *mut bindings::pte_t {
        self.ptr.cast()
    }

    /// The slot as the C type of a PMD pointer.
    pub(super) fn as_pmd_ptr(&self) -> *mut bindings::pmd_t {
        self.ptr.cast()
    }
}

/// A PTE table, mapped and locked with its page-table lock.
///
/// # Invariants
///
/// `first` is the PTE for `addr` in a PTE table that `pte_offset_map_lock`
/// mapped and whose lock `ptl` it took; both are released on drop. While the
/// lock is held the table cannot be freed or replaced.
pub(crate) struct PteTableLock<'a> {
    first: NonNull<bindings::pte_t>,
    addr: usize,
    ptl: *mut bindings::spinlock_t,
    _life: PhantomData<&'a ()>,
}

impl<'a> PteTableLock<'a> {
    /// Maps and locks the PTE table that PMD `pmd` points to, positioned at `addr`.
    ///
    /// Returns `None` when the PMD no longer points to a PTE table (it became
    /// empty or huge meanwhile): the caller reads the PMD again.
    pub(crate) fn map_lock(lock: &'a MmapLocked<'_>, pmd: Slot<'a>, addr: usize) -> Option<Self> {
        let mut ptl: *mut bindings::spinlock_t = core::ptr::null_mut();
        // SAFETY: the mmap lock is held and `pmd` is a live PMD slot of this mm covering `addr`.
        let pte = unsafe {
            bindings::pte_offset_map_lock(lock.mm_ptr(), pmd.as_pmd_ptr(), addr, &mut ptl)
        };
        // INVARIANT: on success the table is mapped and `ptl` is held.
        NonNull::new(pte).map(|first| Self {
            first,
            addr,
            ptl,
            _life: PhantomData,
        })
    }

    /// The slot of `addr`, which must lie in the same PTE table as the address it was locked at.
    #[inline]
    pub(crate) fn slot(&self, addr: usize) -> Slot<'_> {
        let delta = Level::PTE.index(addr) as isize - Level::PTE.index(self.addr) as isize;
        // SAFETY: both indices are in the same 512-entry table, so the result stays inside it.
        let ptr = unsafe { self.first.as_ptr().offset(delta) }.cast::<u64>();
        // INVARIANT: an entry of the locked PTE table, alive while `self` is borrowed.
        Slot {
            ptr,
            level: Level::PTE,
            _life: PhantomData,
        }
    }

    /// The PTE of `addr`, read now, as a leaf that lives no longer than the lock.
    #[inline]
    pub(crate) fn leaf(&self, addr: usize) -> Leaf<'_> {
        let slot = self.slot(addr);
        // INVARIANT: read under the lock `self` holds, which the leaf borrows.
        Leaf {
            slot,
            entry: slot.read(),
            kind: LeafKind::Pte,
            held: HeldLock::new(self.ptl),
        }
    }

    /// The PTE of `addr` as a leaf, with `raw`, the value that one loop of this lock
    /// (`values`, `cells`) read from its slot: no second read.
    #[inline]
    pub(crate) fn leaf_of(&self, addr: usize, raw: u64) -> Leaf<'_> {
        // INVARIANT: the caller read `raw` from this slot under the lock `self` still
        // holds (the loops above are the only reads it has), and the leaf borrows it.
        Leaf {
            slot: self.slot(addr),
            entry: Entry::new(raw, Level::PTE),
            kind: LeafKind::Pte,
            held: HeldLock::new(self.ptl),
        }
    }
}

impl PteTableLock<'_> {
    /// The number of PTEs of `[start, end)`, a page-aligned run that must lie in one table.
    #[inline]
    fn run_len(start: usize, end: usize) -> usize {
        let count = end.saturating_sub(start) >> super::x86::PAGE_SHIFT;
        // Checked, not assumed: a run past the table's end would reach outside it.
        assert!(Level::PTE.index(start) + count <= super::x86::ENTRIES_PER_TABLE);
        count
    }
}

impl Drop for PteTableLock<'_> {
    fn drop(&mut self) {
        // SAFETY: `first` and `ptl` came from one successful `pte_offset_map_lock` (invariant).
        unsafe { bindings::pte_unmap_unlock(self.first.as_ptr(), self.ptl) };
    }
}

/// The page-table lock of a PMD (`pmd_lock`), held.
///
/// # Invariants
///
/// `ptl` is the PMD's lock, held; it is released on drop.
pub(crate) struct PmdLock<'a> {
    pmd: Slot<'a>,
    ptl: *mut bindings::spinlock_t,
}

impl<'a> PmdLock<'a> {
    /// Locks the PMD `pmd` of the locked mm.
    pub(crate) fn lock(lock: &'a MmapLocked<'_>, pmd: Slot<'a>) -> Self {
        // SAFETY: the mmap lock is held and `pmd` is a live PMD slot of this mm.
        let ptl = unsafe { bindings::pmd_lock(lock.mm_ptr(), pmd.as_pmd_ptr()) };
        // INVARIANT: `pmd_lock` returns with the lock held.
        Self { pmd, ptl }
    }

    /// The PMD, read under the lock, as a leaf that lives no longer than the lock: `None`
    /// if it is not a leaf (it became a table, or empty, before the lock was taken).
    pub(crate) fn leaf(&self) -> Option<Leaf<'_>> {
        let entry = self.pmd.read();
        // INVARIANT: read under the PMD lock, held while the leaf borrows `self`.
        entry.is_leaf().then_some(Leaf {
            slot: self.pmd,
            entry,
            kind: LeafKind::Thp,
            held: HeldLock::new(self.ptl),
        })
    }
}

impl Drop for PmdLock<'_> {
    fn drop(&mut self) {
        // SAFETY: `ptl` is held (type invariant) and released once, here.
        unsafe { bindings::spin_unlock(self.ptl) };
    }
}

impl<'a> Slot<'a> {
    /// The huge PTE slot for `addr` of the VMA `hlock` holds, with the page tables above
    /// it allocated where missing (`huge_pte_alloc`): `None` when a table cannot be
    /// allocated.
    pub(crate) fn huge_alloc(hlock: &'a HugetlbVmaLock<'_>, addr: usize) -> Option<Self> {
        let vma = hlock.vma();
        let size = vma.huge_page_size();
        let level = Level::of_page_size(size)?;
        // SAFETY: the mmap lock and the VMA's hugetlb lock are held (`hlock` is borrowed), as
        // `huge_pte_alloc` requires; it returns the huge PTE for `addr` or NULL.
        let ptep = unsafe { bindings::huge_pte_alloc(vma.mm_ptr(), vma.as_ptr(), addr, size) };
        // INVARIANT: an entry at `level` of a page table of the hugetlb VMA, which neither the
        // mmap lock nor the hugetlb lock, borrowed for 'a, lets anyone free or unshare.
        NonNull::new(ptep).map(|p| Slot {
            ptr: p.as_ptr().cast(),
            level,
            _life: PhantomData,
        })
    }
}

/// The huge-PTE lock of a hugetlb entry (`huge_pte_lock`), held: under it the entry
/// is current and may be changed.
///
/// # Invariants
///
/// `slot` is a huge PTE of a hugetlb VMA of `mm`, and `ptl` its lock, held; it is
/// released on drop.
pub(crate) struct HugePteLock<'a> {
    slot: Slot<'a>,
    mm: *mut bindings::mm_struct,
    ptl: *mut bindings::spinlock_t,
}

impl<'a> HugePteLock<'a> {
    /// Locks `slot`, a huge PTE of the hugetlb VMA that `hlock` holds the hugetlb lock of
    /// (the lock finds the page-table lock by the VMA's huge page size: only a hugetlb
    /// VMA has one).
    pub(crate) fn lock(hlock: &HugetlbVmaLock<'_>, slot: Slot<'a>) -> Self {
        let vma = hlock.vma();
        debug_assert_eq!(Level::of_page_size(vma.huge_page_size()), Some(slot.level));
        let mm = vma.mm_ptr();
        // SAFETY: `vma` is a live hugetlb VMA (`hlock`'s invariant) and `slot` a live huge entry
        // at its page size (alive for 'a).
        let ptl = unsafe { bindings::vma_huge_pte_lock(vma.as_ptr(), mm, slot.as_pte_ptr()) };
        // INVARIANT: `vma_huge_pte_lock` returns with the entry's lock held.
        Self { slot, mm, ptl }
    }

    /// The entry, read under the lock (`huge_ptep_get` at `addr`), as a leaf that lives
    /// no longer than the lock.
    pub(crate) fn leaf(&self, addr: usize) -> Leaf<'_> {
        // SAFETY: the slot is a live huge entry whose lock is held (type invariant).
        let raw = unsafe { bindings::huge_ptep_get(self.mm, addr, self.slot.as_pte_ptr()).pte };
        // INVARIANT: read under the huge-PTE lock, held while the leaf borrows `self`.
        Leaf {
            slot: self.slot,
            entry: Entry::new(raw as u64, self.slot.level),
            kind: LeafKind::Hugetlb,
            held: HeldLock::new(self.ptl),
        }
    }
}

impl Drop for HugePteLock<'_> {
    fn drop(&mut self) {
        // SAFETY: `ptl` is held (type invariant) and released once, here.
        unsafe { bindings::spin_unlock(self.ptl) };
    }
}

/// The lazy MMU mode of the current task (`lazy_mmu_mode_enable`), entered while a
/// PTE table is locked, so that a paravirtualised MMU may batch the PTE changes;
/// left (`lazy_mmu_mode_disable`, which flushes the batch) on drop, before the
/// table's lock is dropped.
///
/// # Invariants
///
/// The mode was entered once, in [`PteTableLock::lazy_mmu`], and is left once, on drop,
/// while the PTE-table lock it borrows is still held.
pub(crate) struct LazyMmu<'a> {
    _ptes: PhantomData<&'a PteTableLock<'a>>,
}

impl PteTableLock<'_> {
    /// Enters the lazy MMU mode for changes to this table.
    pub(crate) fn lazy_mmu(&self) -> LazyMmu<'_> {
        // SAFETY: task context (the walker sleeps between tables); paired with the disable
        // in `LazyMmu::drop`, which runs before the PTE-table lock borrowed here is dropped.
        unsafe { bindings::lazy_mmu_mode_enable() };
        // INVARIANT: entered just now.
        LazyMmu { _ptes: PhantomData }
    }
}

impl Drop for LazyMmu<'_> {
    fn drop(&mut self) {
        // SAFETY: entered in `PteTableLock::lazy_mmu` (type invariant), left once, here.
        unsafe { bindings::lazy_mmu_mode_disable() };
    }
}

/// PTEs per group of [`PteValues::groups`].
pub(crate) const GROUP: usize = 8;

/// The PTEs of a run of a locked PTE table, each read with one load (`ptep_get`).
///
/// # Invariants
///
/// `entries` are the PTEs of a PTE table whose lock is held for `'a`.
#[derive(Copy, Clone)]
pub(crate) struct PteValues<'a> {
    entries: &'a [AtomicU64],
    held: HeldLock,
}

impl PteTableLock<'_> {
    /// The PTEs for `[start, end)`, page-aligned and inside the table that was locked, for
    /// a consumer's own loop over their values: an indexed loop over them reads each entry
    /// once, with no per-entry bookkeeping beyond the index.
    #[inline]
    pub(crate) fn values(&self, start: usize, end: usize) -> PteValues<'_> {
        let count = Self::run_len(start, end);
        let first = self.slot(start).ptr;
        // SAFETY: `count` entries from `first` lie inside the locked PTE table, which stays
        // mapped while `self` is borrowed; they are 8-byte aligned. Every other access to
        // them is a single load or store of the whole word or the hardware's atomic update
        // of its accessed and dirty bits, so they may be seen as atomics.
        let entries = unsafe { core::slice::from_raw_parts(first.cast::<AtomicU64>(), count) };
        // INVARIANT: entries of the table whose lock `self` holds, borrowed from `self`.
        PteValues {
            entries,
            held: HeldLock::new(self.ptl),
        }
    }
}

impl<'a> PteValues<'a> {
    /// The values in order, each read as the iterator reaches it: the per-table loop of
    /// a consumer that decodes entries itself. The iterator borrows the lock, not `self`.
    #[inline]
    pub(crate) fn iter(self) -> impl ExactSizeIterator<Item = u64> + 'a {
        self.entries.iter().map(|e| e.load(Ordering::Relaxed))
    }

    /// The entries in groups of [`GROUP`], then the rest's values one by one: for a loop
    /// that can pass over a whole group on one test of the AND and the OR of its values.
    #[inline]
    pub(crate) fn groups(
        &self,
    ) -> (
        impl Iterator<Item = PteGroup<'_>> + '_,
        impl Iterator<Item = u64> + '_,
    ) {
        let (groups, rest) = self.entries.as_chunks::<GROUP>();
        (
            // INVARIANT: entries of the locked table, borrowed from `self`.
            groups.iter().map(|entries| PteGroup { entries }),
            rest.iter().map(|e| e.load(Ordering::Relaxed)),
        )
    }

    /// The index of the first entry of `group`, one of [`Self::groups`]: made from its
    /// place, so that a loop over the groups needs no counter of its own.
    #[inline(always)]
    pub(crate) fn index_of(&self, group: &PteGroup<'_>) -> usize {
        let offset = (group.entries.as_ptr() as usize).wrapping_sub(self.entries.as_ptr() as usize);
        offset / core::mem::size_of::<AtomicU64>()
    }

    /// How many entries there are.
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Entry `i` (below [`Self::len`]) as a cell, for an indexed loop that reads each once
    /// and changes some in place (through `modify.rs`).
    #[inline(always)]
    pub(crate) fn cell(&self, i: usize) -> PteCell<'a> {
        self.held.assert_held();
        // INVARIANT: an entry of the locked table, borrowed for as long as `self`'s borrow.
        PteCell {
            entry: &self.entries[i],
        }
    }
}

/// [`GROUP`] consecutive PTEs of a locked PTE table.
///
/// # Invariants
///
/// `entries` are PTEs of a PTE table whose lock is held for `'a`.
pub(crate) struct PteGroup<'a> {
    entries: &'a [AtomicU64; GROUP],
}

impl PteGroup<'_> {
    /// The AND and the OR of the values, each read once.
    #[inline(always)]
    pub(crate) fn and_or(&self) -> (u64, u64) {
        self.entries.iter().fold((u64::MAX, 0), |(all, any), e| {
            let raw = e.load(Ordering::Relaxed);
            (all & raw, any | raw)
        })
    }

    /// The OR of the values, each read once (`READ_ONCE`: one aligned 8-byte load),
    /// with one instruction per entry: a load, then ORs from memory. The compiler does
    /// not fold an atomic load into the OR that uses it, which made two per entry, and
    /// where a group test needs only the OR (get-and-clear's soft-dirty selection) this
    /// loop over the groups is most of what a scan costs per page.
    #[inline(always)]
    pub(crate) fn or(&self) -> u64 {
        const _: () = assert!(GROUP == 8);
        let any: u64;
        // SAFETY: `entries` are 8 aligned, live PTEs of a table whose lock is held (type
        // invariant), readable for the group's 64 bytes; the block only reads them, each
        // with one 8-byte load, as every other reader does (the hardware and other CPUs
        // update them with whole-word or atomic writes), and writes only its output
        // register and the flags.
        unsafe {
            core::arch::asm!(
                "mov {any}, qword ptr [{p}]",
                "or {any}, qword ptr [{p} + 8]",
                "or {any}, qword ptr [{p} + 16]",
                "or {any}, qword ptr [{p} + 24]",
                "or {any}, qword ptr [{p} + 32]",
                "or {any}, qword ptr [{p} + 40]",
                "or {any}, qword ptr [{p} + 48]",
                "or {any}, qword ptr [{p} + 56]",
                p = in(reg) self.entries.as_ptr(),
                any = out(reg) any,
                options(nostack, readonly),
            );
        }
        any
    }

    /// The values in order, each read (again, after [`Self::and_or`]) as the iterator
    /// reaches it.
    #[inline(always)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = u64> + '_ {
        self.entries.iter().map(|e| e.load(Ordering::Relaxed))
    }
}

/// One PTE of a locked PTE table, seen as the atomic word it is.
///
/// # Invariants
///
/// `entry` is a PTE of a PTE table whose lock is held for `'a`.
#[derive(Copy, Clone)]
pub(crate) struct PteCell<'a> {
    pub(super) entry: &'a AtomicU64,
}

impl PteCell<'_> {
    /// Reads the entry once (`ptep_get`).
    #[inline(always)]
    pub(crate) fn value(&self) -> u64 {
        self.entry.load(Ordering::Relaxed)
    }

    /// Changes the entry in place with one atomic read-modify-write: `f` maps the value
    /// to the new one, and is applied again if the hardware set an accessed or dirty bit
    /// in between (no bit it sets is lost). `seen` is the value the caller last read, the
    /// first guess. Returns the value that was replaced. The one page-table
    /// compare-and-exchange of the module.
    ///
    /// What keeps it sound is the cell's invariant (its table's lock is held, so no other
    /// software changes the entry, and the word is only ever read or written whole, or
    /// updated atomically by the hardware). What keeps it correct is the caller's: the
    /// change is one the kernel makes in place on this configuration
    /// ([`super::x86::IN_PLACE_PTE_UPDATES`]), and the
    /// caller flushes the TLB for the entry when the change needs it.
    #[inline(always)]
    pub(crate) fn update(&self, seen: u64, f: impl Fn(u64) -> u64) -> u64 {
        let mut old = seen;
        loop {
            match self.entry.compare_exchange_weak(
                old,
                f(old),
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(replaced) => return replaced,
                Err(now) => old = now,
            }
        }
    }
}

impl Leaf<'_> {
    /// The leaf's entry as an atomic cell, for a change in place ([`PteCell::update`]).
    #[inline(always)]
    pub(crate) fn cell(&self) -> PteCell<'_> {
        self.held.assert_held();
        // SAFETY: `ptr` is a live, 8-byte aligned entry (`Slot`'s invariant) whose table's
        // lock is held while the leaf is borrowed (the leaf's invariant); every other
        // access to it is a single load or store of the whole word, or the hardware's
        // own atomic update of its accessed and dirty bits.
        let entry = unsafe { AtomicU64::from_ptr(self.slot.ptr) };
        // INVARIANT: an entry of a table whose lock is held for the borrow of `self`.
        PteCell { entry }
    }
}
