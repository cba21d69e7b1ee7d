// SPDX-License-Identifier: GPL-2.0

//! The pagemap read consumer: one 64-bit entry per page, as `/proc/PID/pagemap` encodes it
//! (`pte_to_pagemap_entry`, `pagemap_pmd_range_thp`, `pagemap_hugetlb_range`,
//! `pagemap_pte_hole` in fs/proc/task_mmu.c).

use kernel::prelude::*;

use crate::walk::mm::fillbuf::FillBuf;
use crate::walk::mm::lock::{task_size, MmapReadGuard};
use crate::walk::mm::page::{Folio, MemMap, Page};
use crate::walk::mm::sched::fatal_signal_pending;
use crate::walk::mm::softleaf::{self, SoftLeaf};
use crate::walk::mm::table::PteTableLock;
use crate::walk::mm::vma::Vma;
use crate::walk::mm::x86::{SdUffd, PAGE_SHIFT, PAGE_SIZE};
use crate::walk::mm::{Entry, Kind, Leaf, LeafKind, Level};
use crate::walk::uapi::pm;
use crate::walk::walker::{walk, walk_ptes, Flow, Visitor, VmaAction};

/// Bits 0-54: the frame (PFN, or swap type and offset).
pub(crate) const PM_PFRAME_MASK: u64 = pm::PFRAME_MASK;
/// Bit 55: soft-dirty entry or VMA.
pub(crate) const PM_SOFT_DIRTY: u64 = pm::SOFT_DIRTY;
/// Bit 56: the page is mapped exactly once.
pub(crate) const PM_MMAP_EXCLUSIVE: u64 = pm::MMAP_EXCLUSIVE;
/// Bit 57: userfaultfd-protected (WP or RWP) entry or marker.
pub(crate) const PM_UFFD_WP: u64 = pm::UFFD_WP;
/// Bit 58: guard-region marker.
pub(crate) const PM_GUARD_REGION: u64 = pm::GUARD_REGION;
/// Bit 61: file-backed, shmem or shared-anonymous page.
pub(crate) const PM_FILE: u64 = pm::FILE;
/// Bit 62: non-present entry (swap, migration, marker, ...).
pub(crate) const PM_SWAP: u64 = pm::SWAP;
/// Bit 63: present page.
pub(crate) const PM_PRESENT: u64 = pm::PRESENT;
/// Bits of the swap type in a non-present frame (`MAX_SWAPFILES_SHIFT`).
const SWAP_TYPE_BITS: u32 = softleaf::SWAP_TYPE_BITS;

/// Entries one chunk produces at most: a chunk never crosses a 2 MiB boundary.
pub(crate) const CHUNK_ENTRIES: usize = 512;

/// What the last large folio seen under the current PTE-table lock is: the facts
/// `pte_to_pagemap_entry` asks of every page but which belong to the folio, so that
/// the 16 PTEs of a 64 KiB mTHP (or the 512 of a PTE-mapped THP) ask them once.
#[derive(Copy, Clone)]
struct FolioFacts {
    folio: Folio,
    anon: bool,
    /// `folio_entire_mapcount`.
    entire: i32,
}

/// Fills a buffer with pagemap entries for one chunk of address space.
///
/// # Invariants
///
/// `folio`, when set, is a folio mapped by a PTE of the PTE table whose lock the
/// walk holds now: it is reset whenever a PTE table is entered or left, so it
/// never outlives the lock that keeps the folio from being freed.
pub(crate) struct PagemapReader {
    buf: FillBuf<CHUNK_ENTRIES>,
    show_pfn: bool,
    folio: Option<FolioFacts>,
}

impl PagemapReader {
    /// An empty reader; `show_pfn` says whether frames are reported or zeroed.
    pub(crate) fn new(show_pfn: bool) -> Self {
        // INVARIANT: no folio yet. The buffer is written entry by entry before it is
        // read, so it is never zero-filled.
        Self {
            buf: FillBuf::new(),
            show_pfn,
            folio: None,
        }
    }

    /// Empties the buffer for the next chunk.
    pub(crate) fn reset(&mut self) {
        self.buf.clear();
        self.folio = None;
    }

    /// The entries produced since the last reset.
    pub(crate) fn entries(&self) -> &[u64] {
        self.buf.as_slice()
    }

    /// Appends `count` entries: the first is `first`, each next one adds `step` to the frame.
    #[inline]
    fn push(&mut self, first: u64, count: usize, frame_step: u64) -> Flow {
        let flags = first & !PM_PFRAME_MASK;
        let mut frame = first & PM_PFRAME_MASK;
        let n = self.buf.extend(count, || {
            let entry = (frame & PM_PFRAME_MASK) | flags;
            frame = frame.wrapping_add(frame_step);
            entry
        });
        if n < count {
            Flow::Stop
        } else {
            Flow::Continue
        }
    }

    /// The entry of a present 4 KiB PTE (`pte_to_pagemap_entry`, present branch): the
    /// common case, kept free of everything the other kinds need.
    #[inline]
    fn present_pte_value(&mut self, vma: &Vma<'_>, addr: usize, entry: Entry) -> u64 {
        let mut flags = PM_PRESENT;
        if entry.soft_dirty() || vma.soft_dirty() {
            flags |= PM_SOFT_DIRTY;
        }
        if entry.uffd() {
            flags |= PM_UFFD_WP;
        }
        if let Some(page) = Page::normal_pte(vma, addr, entry) {
            flags |= present_pte_flags(&mut self.folio, page);
        }
        shown(self.show_pfn, entry.pfn()) | flags
    }

    /// Entries of a hugetlb page for `[start, end)` (`pagemap_hugetlb_range`): soft-dirty
    /// only from the VMA, never `PM_SWAP`, no frame for non-present entries.
    fn hugetlb_entries(
        &mut self,
        vma: &Vma<'_>,
        leaf: &Leaf<'_>,
        start: usize,
        end: usize,
    ) -> Flow {
        // hugetlb entries are read with the `pte_*` rules at every level (`huge_ptep_get`
        // returns a `pte_t`): a PROT_NONE 1 GiB page is present, as a PROT_NONE PTE is.
        let entry = leaf.entry.as_pte();
        let span = vma.huge_page_size();
        let count = (end - start) / PAGE_SIZE;
        let mut flags = if vma.soft_dirty() { PM_SOFT_DIRTY } else { 0 };
        let mut frame = 0;
        let mut step = 0;
        match entry.kind() {
            Kind::Present => {
                if let Some(page) = Page::from_pfn(entry.pfn()) {
                    if !page.is_anon() {
                        flags |= PM_FILE;
                    }
                    if !page.folio_maybe_mapped_shared() && !leaf.hugetlb_pmd_shared() {
                        flags |= PM_MMAP_EXCLUSIVE;
                    }
                }
                if entry.uffd() {
                    flags |= PM_UFFD_WP;
                }
                flags |= PM_PRESENT;
                let idx = ((start & (span - 1)) >> PAGE_SHIFT) as u64;
                frame = shown(self.show_pfn, entry.pfn() + idx);
                step = if self.show_pfn { 1 } else { 0 };
            }
            Kind::NonPresent => {
                if leaf.swp_uffd_any() {
                    flags |= PM_UFFD_WP;
                }
            }
            Kind::None | Kind::Table => {}
        }
        self.push(frame | flags, count, step)
    }
}

/// The entry for the page at `addr` of a PTE or huge-PMD leaf, and how much the frame
/// grows for each next 4 KiB page of the same leaf (`pte_to_pagemap_entry`,
/// `pagemap_pmd_range_thp`: one set of rules, the PMD's applied to each subpage);
/// frames are shown if `show_pfn`.
fn leaf_value(show_pfn: bool, vma: &Vma<'_>, addr: usize, entry: Entry) -> (u64, u64) {
    let idx = ((addr & (entry.level().span() - 1)) >> PAGE_SHIFT) as u64;
    let mut flags = 0;
    let mut frame = 0;
    let mut step = 0;
    let mut page = None;
    match entry.kind() {
        Kind::Present => {
            frame = shown(show_pfn, entry.pfn() + idx);
            step = 1;
            flags |= PM_PRESENT;
            page = if entry.level() == Level::PTE {
                Page::normal_pte(vma, addr, entry)
            } else {
                Page::normal_pmd(vma, addr, entry)
            };
        }
        Kind::NonPresent => {
            if let Some(leaf) = SoftLeaf::of(entry) {
                frame = shown(
                    show_pfn,
                    leaf.swap_type() | ((leaf.pagemap_offset() + idx) << SWAP_TYPE_BITS),
                );
                step = 1 << SWAP_TYPE_BITS;
                flags |= PM_SWAP;
                page = leaf.page();
                // Markers exist at the PTE level only; a PMD leaf is never one.
                if leaf.is_uffd_wp_marker() {
                    flags |= PM_UFFD_WP;
                }
                if leaf.is_guard_marker() {
                    flags |= PM_GUARD_REGION;
                }
            }
        }
        Kind::None | Kind::Table => {}
    }
    if entry.soft_dirty() {
        flags |= PM_SOFT_DIRTY;
    }
    if entry.uffd() {
        flags |= PM_UFFD_WP;
    }
    if let Some(page) = page {
        if !page.is_anon() {
            flags |= PM_FILE;
        }
        // For a huge PMD the kernel asks this of its first page, once for all entries.
        if flags & PM_PRESENT != 0 && page.mapped_exclusively() {
            flags |= PM_MMAP_EXCLUSIVE;
        }
    }
    if vma.soft_dirty() {
        flags |= PM_SOFT_DIRTY;
    }
    (frame | flags, if show_pfn { step } else { 0 })
}

/// `PM_FILE` and `PM_MMAP_EXCLUSIVE` for a present page mapped by a PTE, with the
/// folio's facts taken once per large folio: `cache` holds those of the last large
/// folio seen under the current PTE-table lock (see [`PagemapReader`]'s invariant).
#[inline(always)]
fn present_pte_flags(cache: &mut Option<FolioFacts>, page: Page) -> u64 {
    let (folio, small) = page.folio_small();
    if small {
        small_folio_flags(folio, page)
    } else {
        large_folio_flags(cache, folio, page)
    }
}

/// [`present_pte_flags`] of a page that is a small folio of its own: its mapping's anon
/// bit and its own mapcount, nothing to remember.
#[inline(always)]
fn small_folio_flags(folio: Folio, page: Page) -> u64 {
    let mut flags = 0;
    if !folio.is_anon() {
        flags |= PM_FILE;
    }
    if page.mapped_exclusively_with(None) {
        flags |= PM_MMAP_EXCLUSIVE;
    }
    flags
}

/// [`present_pte_flags`] of a page of the large folio `folio`.
#[inline]
fn large_folio_flags(cache: &mut Option<FolioFacts>, folio: Folio, page: Page) -> u64 {
    let facts = match *cache {
        Some(f) if f.folio == folio => f,
        _ => {
            let f = FolioFacts {
                folio,
                anon: folio.is_anon(),
                entire: folio.entire_mapcount(),
            };
            // INVARIANT: mapped by a PTE of the table whose lock is held now.
            *cache = Some(f);
            f
        }
    };
    let mut flags = 0;
    if !facts.anon {
        flags |= PM_FILE;
    }
    if page.mapped_exclusively_with(Some(facts.entire)) {
        flags |= PM_MMAP_EXCLUSIVE;
    }
    flags
}

/// The frame as reported: itself when frames are shown, else 0.
#[inline]
fn shown(show_pfn: bool, frame: u64) -> u64 {
    if show_pfn {
        frame & PM_PFRAME_MASK
    } else {
        0
    }
}

/// The flags of an entry in `format` by its soft-dirty and uffd bits' index, each with
/// `base`.
fn sd_uffd_flags(format: SdUffd, base: u64) -> [u64; 4] {
    core::array::from_fn(|index| {
        let (sd, uffd) = format.sd_uffd(index);
        let mut flags = base;
        if sd {
            flags |= PM_SOFT_DIRTY;
        }
        if uffd {
            flags |= PM_UFFD_WP;
        }
        flags
    })
}

/// What the entries of one PTE table share, for [`TableRun::pte_value`].
struct TableRun<'v> {
    vma: &'v Vma<'v>,
    /// The locked table, and the end of the run in it.
    ptes: &'v PteTableLock<'v>,
    end: usize,
    show_pfn: bool,
    /// The bits every entry of the table has: the VMA's soft-dirty flag as an entry bit.
    vma_sd: u64,
    /// What of a frame an entry shows: [`PM_PFRAME_MASK`] when frames are shown, else 0.
    frame_mask: u64,
    /// The flags of a present entry of the table by its soft-dirty and uffd bits
    /// ([`Entry::sd_uffd_index`]): `PM_PRESENT`, `vma_sd` and what the bits say.
    present_flags: [u64; 4],
    /// The same for a swapped-out entry, with `PM_SWAP`.
    swap_flags: [u64; 4],
    memmap: MemMap,
    /// [`PagemapReader::folio`], kept in a local for the loop.
    cache: Option<FolioFacts>,
}

impl TableRun<'_> {
    /// The entry of the 4 KiB PTE `raw` at `addr` (`pte_to_pagemap_entry`). A present PTE
    /// that maps a normal page the plain way (what a populated mapping holds) is decoded
    /// here with no call; a swapped-out page and an empty PTE too; the rest by
    /// [`Self::other_pte_value`].
    #[inline(always)]
    fn pte_value(&mut self, addr: usize, raw: u64) -> u64 {
        if let Some((pfn, page)) = self.memmap.plain_page(self.vma, addr, raw) {
            let entry = Entry::new(raw, Level::PTE);
            let flags = self.present_flags[entry.sd_uffd_index(SdUffd::Present)]
                | present_pte_flags(&mut self.cache, page);
            return (pfn & self.frame_mask) | flags;
        }
        // A swapped-out page: no page to look at, no marker.
        if let Some((ty, offset)) = SoftLeaf::pte_swap(raw) {
            let entry = Entry::new(raw, Level::PTE);
            let flags = self.swap_flags[entry.sd_uffd_index(SdUffd::Swap)];
            let frame = ty | (offset << SWAP_TYPE_BITS);
            return (frame & self.frame_mask) | flags;
        }
        match Entry::new(raw, Level::PTE).kind() {
            Kind::None | Kind::Table => self.vma_sd,
            Kind::Present | Kind::NonPresent => self.other_pte_value(addr, raw),
        }
    }

    /// [`Self::pte_value`] of the PTEs it does not decode itself: present ones that are
    /// special, PROT_NONE or above the learned memory-map bound, and non-present ones that
    /// are not swap entries (migration, device, hwpoison, markers).
    #[inline(never)]
    fn other_pte_value(&mut self, addr: usize, raw: u64) -> u64 {
        let entry = Entry::new(raw, Level::PTE);
        if entry.kind() != Kind::Present {
            return leaf_value(self.show_pfn, self.vma, addr, entry).0;
        }
        let mut flags = PM_PRESENT | self.vma_sd;
        if entry.soft_dirty() {
            flags |= PM_SOFT_DIRTY;
        }
        if entry.uffd() {
            flags |= PM_UFFD_WP;
        }
        let page = self.memmap.normal_pte_ahead(self.vma, addr, entry, || {
            self.ptes
                .values(addr.wrapping_add(PAGE_SIZE), self.end)
                .iter()
        });
        if let Some(page) = page {
            flags |= present_pte_flags(&mut self.cache, page);
        }
        shown(self.show_pfn, entry.pfn()) | flags
    }
}

impl Visitor for PagemapReader {
    fn vma(&mut self, vma: &Vma<'_>, _start: usize, _end: usize) -> VmaAction {
        // The kernel's walker never looks into VM_PFNMAP VMAs: the whole range is a hole.
        if vma.is_pfnmap() {
            VmaAction::Hole
        } else {
            VmaAction::Walk
        }
    }

    fn hole(&mut self, vma: Option<&Vma<'_>>, start: usize, end: usize) -> Flow {
        let value = match vma {
            Some(vma) if vma.soft_dirty() => PM_SOFT_DIRTY,
            _ => 0,
        };
        self.push(value, (end - start) / PAGE_SIZE, 0)
    }

    fn pte_table_start(&mut self, _vma: &Vma<'_>, _start: usize, _end: usize) {
        self.folio = None;
    }

    /// One loop over the raw PTEs of the table, each decoded in place and written
    /// straight into the chunk: no leaf built or visited per PTE.
    fn pte_table(
        &mut self,
        vma: &Vma<'_>,
        ptes: &PteTableLock<'_>,
        start: usize,
        end: usize,
    ) -> Flow {
        let count = (end - start) / PAGE_SIZE;
        if self.buf.room() < count {
            // Never with a chunk that ends at a PMD boundary; the generic path stops
            // at the right entry if it happens.
            return walk_ptes(vma, ptes, start, end, self);
        }
        let vma_sd = if vma.soft_dirty() { PM_SOFT_DIRTY } else { 0 };
        let mut run = TableRun {
            vma,
            ptes,
            end,
            show_pfn: self.show_pfn,
            vma_sd,
            frame_mask: if self.show_pfn { PM_PFRAME_MASK } else { 0 },
            present_flags: sd_uffd_flags(SdUffd::Present, PM_PRESENT | vma_sd),
            swap_flags: sd_uffd_flags(SdUffd::Swap, PM_SWAP | vma_sd),
            memmap: MemMap::snapshot(),
            cache: self.folio,
        };
        let mut addr = start;
        // `count` values, and room for them (above).
        self.buf.extend_map(ptes.values(start, end).iter(), |pte| {
            let value = run.pte_value(addr, pte);
            addr = addr.wrapping_add(PAGE_SIZE);
            value
        });
        // INVARIANT: a folio of this table, whose lock is still held.
        self.folio = run.cache;
        Flow::Continue
    }

    fn pte_table_done(&mut self, _vma: &Vma<'_>, _start: usize, _end: usize) {
        // INVARIANT: the lock that kept the folio is about to be dropped.
        self.folio = None;
    }

    #[inline]
    fn leaf(&mut self, vma: &Vma<'_>, leaf: &Leaf<'_>, start: usize, end: usize) -> Flow {
        match leaf.kind {
            LeafKind::Pte if leaf.entry.kind() == Kind::Present => {
                let value = self.present_pte_value(vma, start, leaf.entry);
                if !self.buf.push(value) {
                    return Flow::Stop;
                }
                Flow::Continue
            }
            LeafKind::Pte | LeafKind::Thp => {
                let (value, step) = leaf_value(self.show_pfn, vma, start, leaf.entry);
                self.push(value, (end - start) / PAGE_SIZE, step)
            }
            LeafKind::Hugetlb => self.hugetlb_entries(vma, leaf, start, end),
        }
    }
}

/// Reads the pagemap entries of `count` bytes at file position `pos`, the way
/// `pagemap_read` does: 2 MiB chunks, the mmap lock taken killably for each
/// and dropped in between, each chunk handed to `out` as it is produced.
///
/// Returns the number of bytes produced. `count` and `pos` must be multiples
/// of 8 and `count` non-zero (the caller checks, for the kernel's errno order).
pub(crate) fn read(
    mm: &kernel::mm::MmWithUser,
    pos: u64,
    count: usize,
    show_pfn: bool,
    mut out: impl FnMut(&[u64]) -> Result,
) -> Result<usize> {
    let mut reader = KBox::new(PagemapReader::new(show_pfn), GFP_KERNEL)?;
    let task_size = task_size(mm);
    let svpfn = pos / 8;
    let mut end_vaddr = task_size;
    let mut start_vaddr = task_size;
    if svpfn <= (usize::MAX >> PAGE_SHIFT) as u64 {
        // The kernel takes the lock here only to untag the address with the target's LAM
        // mask (`untagged_addr_remote`). Without `CONFIG_ADDRESS_MASKING` (the test
        // kernel's) that is the identity and the lock is left out: the first chunk's, taken
        // right after, waits for a writer and gives up on a fatal signal the same way. With
        // it the lock is taken as there, and the address still used as is.
        #[cfg(CONFIG_ADDRESS_MASKING)]
        drop(MmapReadGuard::lock_killable(mm)?);
        start_vaddr = (svpfn as usize) << PAGE_SHIFT;
        if let Some(end) = start_vaddr.checked_add((count / 8) << PAGE_SHIFT) {
            if end < task_size {
                end_vaddr = end;
            }
        }
    }
    if start_vaddr > task_size {
        start_vaddr = end_vaddr;
    }
    let mut remaining = count;
    let mut copied = 0;
    while remaining > 0 && start_vaddr < end_vaddr {
        // A huge read stops promptly once the reader is being killed (an uncontended
        // killable lock does not look); the first chunk goes ahead, as it would in the kernel.
        if copied > 0 && fatal_signal_pending() {
            return Err(EINTR);
        }
        let pmd_span = Level::PMD.span();
        let mut end = (start_vaddr.wrapping_add(pmd_span)) & !(pmd_span - 1);
        if end < start_vaddr || end > end_vaddr {
            end = end_vaddr;
        }
        reader.reset();
        {
            let lock = MmapReadGuard::lock_killable(mm)?;
            walk(&lock, start_vaddr, end, &mut *reader);
        }
        start_vaddr = end;
        let entries = reader.entries();
        let n = entries.len().min(remaining / 8);
        out(&entries[..n])?;
        copied += n * 8;
        remaining -= n * 8;
    }
    Ok(copied)
}
