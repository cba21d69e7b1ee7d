// SPDX-License-Identifier: GPL-2.0

//! The few questions pagemap asks of a mapped page and its folio.
//!
//! The per-page ones (which folio, anonymous or not, large or not, how often
//! the page is mapped, the zero page) are answered here in Rust by reading
//! the same `struct page`/`struct folio` fields the kernel's inlines read
//! (include/linux/page-flags.h, include/linux/mm.h, fs/proc/internal.h),
//! with the same loads: the test kernel's Rust cannot inline the C helpers
//! (`CONFIG_RUST_INLINE_HELPERS` needs one LLVM for C and Rust), and a real
//! call per question per page cost more than the walk itself. Field offsets
//! come from the kernel's own bindings, so they are C's.

use core::ptr::{addr_of, read_volatile, NonNull};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::bindings;
#[cfg(CONFIG_DEBUG_VM)]
use kernel::prelude::*;

use super::entry::{Entry, Kind};
use super::level::Level;
use super::vma::Vma;
use super::x86::{self, PAGE_SHIFT};

extern "C" {
    /// The frame of the shared zero page (mm/mm_init.c, exported; declared by the kernel
    /// only inside `is_zero_pfn`, so bindgen does not see it).
    static zero_page_pfn: kernel::ffi::c_ulong;
}

/// One past the highest frame for which the kernel's `vm_normal_page` returned a page
/// from a PTE without the special bit: a lower bound of `highest_memmap_pfn + 1`, which
/// only grows (see [`Page::normal_pte`]).
static KNOWN_MEMMAP_END: AtomicU64 = AtomicU64::new(0);

/// `FOLIO_MAPPING_ANON`: the low bit of `folio->mapping` marks an anonymous folio.
const FOLIO_MAPPING_ANON: usize = 0x1;
/// `PGTY_mapcount_underflow << 24`: a `_mapcount + 1` at or above this (as `int`, i.e. a
/// negative value) is a page type, not a mapcount (`page_type_has_type`).
const PAGE_TYPE_FLOOR: i32 = (0xffu32 << 24) as i32;

/// `compound_info_has_mask()`: tail pages store a mask to the head, not a pointer, only with
/// HugeTLB vmemmap optimisation and a power-of-two `struct page`.
const COMPOUND_INFO_HAS_MASK: bool = cfg!(CONFIG_HUGETLB_PAGE_OPTIMIZE_VMEMMAP)
    && core::mem::size_of::<bindings::page>().is_power_of_two();

/// A `struct page` found through a page-table entry.
///
/// # Invariants
///
/// `ptr` points to a valid `struct page` of the memory map. The folio it
/// belongs to cannot be freed while the page-table lock under which the
/// entry was read is held; users only look at it while that lock is held.
#[derive(Copy, Clone)]
pub(crate) struct Page {
    ptr: NonNull<bindings::page>,
}

/// The folio of a [`Page`], under the same rule.
///
/// # Invariants
///
/// `ptr` points to the head `struct page` (as a `struct folio`) of a valid folio.
#[derive(Copy, Clone, PartialEq, Eq)]
pub(crate) struct Folio {
    ptr: NonNull<bindings::folio>,
}

/// What [`Page::normal_pte`] reads of the kernel's globals, read once for a run of PTEs
/// (a PTE table) instead of once per PTE: the memory map's base and the learned bound.
/// A bound read earlier is only lower than the current one (it only grows), which sends
/// more frames to the kernel's `vm_normal_page`, never fewer.
#[derive(Copy, Clone)]
pub(crate) struct MemMap {
    known_end: u64,
    base: *mut bindings::page,
    /// The kernel refused a frame looked ahead for: no more looking ahead with this one.
    refused: bool,
}

impl MemMap {
    /// The memory map's base and the bound as they are now.
    #[inline]
    pub(crate) fn snapshot() -> Self {
        Self {
            known_end: KNOWN_MEMMAP_END.load(Ordering::Relaxed),
            // SAFETY: `vmemmap_base` is set once at boot and only read here.
            base: unsafe { bindings::vmemmap_base } as *mut bindings::page,
            refused: false,
        }
    }

    /// [`Self::normal_pte`] for the PTE `entry` at `addr`, followed in its table by the
    /// PTEs `ahead()` yields (raw values, one page apart), read under the same lock.
    ///
    /// A non-special frame at or above the learned bound would cost one `vm_normal_page`
    /// call per PTE, one after another when frames grow with addresses (a freshly
    /// populated mapping). Instead the highest non-special frame among this PTE and those
    /// ahead is asked once: `vm_normal_page` returning its page proves every frame up to
    /// it within `highest_memmap_pfn`, where the kernel's answer for any non-special PTE
    /// is `pfn_to_page`. If the kernel refuses it (a corrupted entry, which it reports as
    /// a bad page map), every PTE goes to the kernel as before, so that one is reported
    /// once more when reached.
    #[inline]
    pub(crate) fn normal_pte_ahead<I: Iterator<Item = u64>>(
        &mut self,
        vma: &Vma<'_>,
        addr: usize,
        entry: Entry,
        ahead: impl FnOnce() -> I,
    ) -> Option<Page> {
        if !self.refused && !x86::special(entry.raw()) && entry.pfn() >= self.known_end {
            self.learn(vma, addr, entry, ahead());
        }
        self.normal_pte(vma, addr, entry)
    }

    /// Asks the kernel for the highest non-special frame of `entry` and the PTEs `ahead`.
    #[inline(never)]
    fn learn(
        &mut self,
        vma: &Vma<'_>,
        addr: usize,
        entry: Entry,
        ahead: impl Iterator<Item = u64>,
    ) {
        let (mut top, mut top_addr) = (entry, addr);
        let mut next_addr = addr;
        for raw in ahead {
            next_addr += x86::PAGE_SIZE;
            let e = Entry::new(raw, Level::PTE);
            if e.kind() == Kind::Present && !x86::special(raw) && e.pfn() > top.pfn() {
                (top, top_addr) = (e, next_addr);
            }
        }
        if Page::normal_pte_slow(vma, top_addr, top).is_some() {
            self.known_end = self.known_end.max(top.pfn() + 1);
        } else {
            self.refused = true;
        }
    }

    /// The frame and page of a PTE that [`x86::pte_plain`] accepts (present to the
    /// hardware, not special) when its frame is below the learned bound: what
    /// [`Self::normal_pte`] answers for it, without a call and without that function's
    /// other cases, for the loop of a dense read. `None` for any other PTE, which the
    /// caller sends to [`Self::normal_pte_ahead`].
    #[inline(always)]
    pub(crate) fn plain_page(&self, vma: &Vma<'_>, addr: usize, raw: u64) -> Option<(u64, Page)> {
        if !x86::pte_plain(raw) {
            return None;
        }
        let pfn = x86::present_pfn(raw);
        if pfn >= self.known_end {
            return None;
        }
        // `pfn_to_page` with `CONFIG_SPARSEMEM_VMEMMAP`, as in `Self::normal_pte`.
        let ptr = self.base.wrapping_add(pfn as usize);
        // INVARIANT: the frame is below a frame `vm_normal_page` returned a page for (the
        // learned bound), so it has a `struct page` in the memory map, and the PTE is not
        // special: `vm_normal_page` returns exactly this page (see `Page::normal_pte`).
        let page = Page {
            // SAFETY: `base` is the virtual memory map's base, a kernel address far above
            // the `pfn * size_of::<page>()` (below 2^46) added to it: the sum is not NULL.
            ptr: unsafe { NonNull::new_unchecked(ptr) },
        };
        #[cfg(CONFIG_DEBUG_VM)]
        {
            let kernel = Page::kernel_normal_pte(vma, addr, Entry::new(raw, Level::PTE));
            if kernel.map(|p| p.ptr) != Some(page.ptr) {
                pr_err!(
                    "BUG: rust_pagemap: the plain page of PTE {:#x} differs from vm_normal_page\n",
                    raw
                );
                return None;
            }
        }
        #[cfg(not(CONFIG_DEBUG_VM))]
        let _ = (vma, addr);
        Some((pfn, page))
    }

    /// [`Page::normal_pte`] with this snapshot.
    #[inline]
    pub(crate) fn normal_pte(&self, vma: &Vma<'_>, addr: usize, entry: Entry) -> Option<Page> {
        let pfn = entry.pfn();
        if !x86::special(entry.raw()) && pfn < self.known_end {
            // `pfn_to_page` with `CONFIG_SPARSEMEM_VMEMMAP`, as in `Page::from_pfn`; the frame
            // is below a frame `vm_normal_page` returned a page for, so it has one.
            let page = Page::from_raw(self.base.wrapping_add(pfn as usize));
            #[cfg(CONFIG_DEBUG_VM)]
            {
                let kernel = Page::kernel_normal_pte(vma, addr, entry);
                if kernel.map(|p| p.ptr) != page.map(|p| p.ptr) {
                    pr_err!(
                        "BUG: rust_pagemap: the normal page of PTE {:#x} differs from vm_normal_page\n",
                        entry.raw()
                    );
                    return kernel;
                }
            }
            return page;
        }
        Page::normal_pte_slow(vma, addr, entry)
    }
}

impl Page {
    /// Wraps a page pointer returned by the kernel; `None` for NULL.
    #[inline]
    pub(super) fn from_raw(ptr: *mut bindings::page) -> Option<Self> {
        // INVARIANT: the kernel functions this is called with return NULL or a valid page.
        NonNull::new(ptr).map(|ptr| Self { ptr })
    }

    /// The "normal" page a present PTE maps (`vm_normal_page`): `None` for the
    /// zero page, special and raw-PFN mappings.
    ///
    /// On x86 (`CONFIG_ARCH_HAS_PTE_SPECIAL`) `vm_normal_page` of a PTE without the
    /// special bit is `pfn_to_page(pfn)` when `pfn <= highest_memmap_pfn`, and NULL (with
    /// a bad-map report) above it. That bound is not exported, so it is learned: every
    /// frame the kernel's `vm_normal_page` returned a page for proves the bound at least
    /// that high (it only grows, with memory hot-add), and a non-special PTE at or below
    /// the highest such frame gets its page here without the call. Special PTEs and
    /// frames above it go to the kernel. On a `CONFIG_DEBUG_VM` kernel every answer made
    /// here is checked against the kernel's, and a difference is reported as a BUG.
    #[inline]
    pub(crate) fn normal_pte(vma: &Vma<'_>, addr: usize, entry: Entry) -> Option<Self> {
        MemMap::snapshot().normal_pte(vma, addr, entry)
    }

    /// [`Self::normal_pte`] by the kernel's `vm_normal_page`, learning from its answer.
    fn normal_pte_slow(vma: &Vma<'_>, addr: usize, entry: Entry) -> Option<Self> {
        let page = Self::kernel_normal_pte(vma, addr, entry);
        if page.is_some() && !x86::special(entry.raw()) {
            KNOWN_MEMMAP_END.fetch_max(entry.pfn() + 1, Ordering::Relaxed);
        }
        page
    }

    /// The kernel's own `vm_normal_page`.
    fn kernel_normal_pte(vma: &Vma<'_>, addr: usize, entry: Entry) -> Option<Self> {
        // SAFETY: `vma` is a live VMA (its type's invariant) and `entry` a present PTE of it.
        Self::from_raw(unsafe {
            bindings::vm_normal_page(
                vma.as_ptr(),
                addr,
                bindings::pte_t {
                    pte: entry.raw() as usize,
                },
            )
        })
    }

    /// The "normal" page a present huge PMD maps (`vm_normal_page_pmd`).
    pub(crate) fn normal_pmd(vma: &Vma<'_>, addr: usize, entry: Entry) -> Option<Self> {
        // SAFETY: `vma` is a live VMA and `entry` a present huge PMD of it.
        Self::from_raw(unsafe {
            bindings::vm_normal_page_pmd(
                vma.as_ptr(),
                addr,
                bindings::pmd_t {
                    pmd: entry.raw() as usize,
                },
            )
        })
    }

    /// The page of frame `pfn`, for frames known to have a memory-map entry
    /// (`pfn_to_page` with `CONFIG_SPARSEMEM_VMEMMAP`: `vmemmap + pfn`).
    #[inline]
    pub(crate) fn from_pfn(pfn: u64) -> Option<Self> {
        // SAFETY: `vmemmap_base` is set once at boot (`__ro_after_init` in spirit: KASLR picks
        // it before any user process exists) and only read here.
        let base = unsafe { bindings::vmemmap_base } as *mut bindings::page;
        // Callers pass frames of mapped RAM (hugetlb pages), which have a `struct page` in
        // the virtual memory map; `wrapping_add` keeps the arithmetic free of UB either way.
        Self::from_raw(base.wrapping_add(pfn as usize))
    }

    /// The folio the page belongs to (`page_folio`, i.e. `_compound_head`).
    #[inline]
    pub(crate) fn folio(self) -> Folio {
        let page = self.ptr.as_ptr();
        // SAFETY: `page` is a valid page (type invariant); `compound_info` is a plain word of
        // it, read once as `READ_ONCE` does (it changes when a folio is split or freed).
        let info = unsafe {
            read_volatile(addr_of!(
                (*page).__bindgen_anon_1.__bindgen_anon_3.compound_info
            ))
        } as usize;
        Self::head(page, info)
    }

    /// The folio of `page`, from its `compound_info` word `info` (`_compound_head`).
    #[inline(always)]
    fn head(page: *mut bindings::page, info: usize) -> Folio {
        let head = if !COMPOUND_INFO_HAS_MASK {
            // Bit 0 marks a tail page; the rest points to the head.
            if info & 1 != 0 {
                info - 1
            } else {
                page as usize
            }
        } else {
            // Non-tail: all ones; tail: the mask that rounds the page down to its head.
            ((info & 1).wrapping_sub(1) | info) & page as usize
        };
        // INVARIANT: callers pass a valid page and the `compound_info` just read from it; a
        // valid page's head is a valid page, which is its folio.
        Folio {
            // SAFETY: the head of a valid page is a valid page, never NULL.
            ptr: unsafe { NonNull::new_unchecked(head as *mut bindings::folio) },
        }
    }

    /// The folio the page belongs to, and whether that folio is this page alone (the page
    /// is neither a tail page nor the head of a large folio: `!folio_test_large`), with
    /// the loads `page_folio` and `folio_test_large` make, in that order.
    #[inline(always)]
    pub(crate) fn folio_small(self) -> (Folio, bool) {
        let page = self.ptr.as_ptr();
        // SAFETY: as in `Self::folio`.
        let info = unsafe {
            read_volatile(addr_of!(
                (*page).__bindgen_anon_1.__bindgen_anon_3.compound_info
            ))
        } as usize;
        if info & 1 != 0 {
            // A tail page: its folio is large.
            return (Self::head(page, info), false);
        }
        // INVARIANT: a page that is not a tail page is the head of its folio.
        let folio = Folio {
            // SAFETY: `page` is a valid page, never NULL.
            ptr: unsafe { NonNull::new_unchecked(page.cast::<bindings::folio>()) },
        };
        (folio, !folio.is_large())
    }

    /// Whether the page belongs to an anonymous folio (else: file, shmem, shared anon).
    #[inline]
    pub(crate) fn is_anon(self) -> bool {
        self.folio().is_anon()
    }

    /// Whether the folio may be mapped by more than one process.
    pub(crate) fn folio_maybe_mapped_shared(self) -> bool {
        // SAFETY: `folio()` is the valid folio of a valid page.
        unsafe { bindings::folio_maybe_mapped_shared(self.folio().ptr.as_ptr()) }
    }

    /// Whether the folio may be pinned for DMA (`folio_maybe_dma_pinned`).
    pub(crate) fn folio_maybe_dma_pinned(self) -> bool {
        // SAFETY: as for `folio_maybe_mapped_shared`.
        unsafe { bindings::folio_maybe_dma_pinned(self.folio().ptr.as_ptr()) }
    }

    /// The page's own mapcount: `atomic_read(&page->_mapcount) + 1`, 0 for a page that
    /// holds a page type instead (`page_mapcount_is_type`).
    #[inline]
    fn own_mapcount(self) -> i32 {
        let page = self.ptr.as_ptr();
        // SAFETY: `page` is a valid page; `_mapcount` is an `atomic_t`, read as
        // `atomic_read` does (one plain volatile load of its counter).
        let raw = unsafe { read_volatile(addr_of!((*page).__bindgen_anon_2._mapcount.counter)) };
        let count = raw.wrapping_add(1);
        // `page_type_has_type(mapcount - 1)`: the raw value, as a signed int, below the floor.
        if raw < PAGE_TYPE_FLOOR {
            0
        } else {
            count
        }
    }

    /// Number of mappings of this very page, as `folio_precise_page_mapcount`
    /// (fs/proc/internal.h) counts them: the page's own mapcount plus, for a
    /// large folio, the mappings of the folio as a whole.
    #[cfg(CONFIG_PAGE_MAPCOUNT)]
    #[inline]
    fn precise_mapcount(self, folio: Folio) -> i32 {
        let mut count = self.own_mapcount();
        if folio.is_large() {
            count = count.wrapping_add(folio.entire_mapcount());
        }
        count
    }

    /// Whether the page is mapped exactly once (`__folio_page_mapped_exclusively`):
    /// its precise mapcount with `CONFIG_PAGE_MAPCOUNT` (the test kernel's), else
    /// the folio-wide estimate, as the kernel decides on a kernel without per-page
    /// mapcounts (`CONFIG_NO_PAGE_MAPCOUNT`).
    #[inline]
    pub(crate) fn mapped_exclusively(self) -> bool {
        #[cfg(CONFIG_PAGE_MAPCOUNT)]
        return self.precise_mapcount(self.folio()) == 1;
        #[cfg(not(CONFIG_PAGE_MAPCOUNT))]
        return !self.folio_maybe_mapped_shared();
    }

    /// [`Self::mapped_exclusively`] with the folio's entire mapcount already known
    /// (`None` for a small folio): the per-folio part computed once per large folio.
    #[inline]
    pub(crate) fn mapped_exclusively_with(self, entire: Option<i32>) -> bool {
        #[cfg(CONFIG_PAGE_MAPCOUNT)]
        return self.own_mapcount().wrapping_add(entire.unwrap_or(0)) == 1;
        #[cfg(not(CONFIG_PAGE_MAPCOUNT))]
        {
            let _ = entire;
            return !self.folio_maybe_mapped_shared();
        }
    }
}

impl Folio {
    /// Whether the folio is anonymous (`folio_test_anon`).
    #[inline]
    pub(crate) fn is_anon(self) -> bool {
        // SAFETY: the folio is valid (type invariant); `mapping` is a plain field, read once.
        let mapping = unsafe {
            read_volatile(addr_of!(
                (*self.ptr.as_ptr())
                    .__bindgen_anon_1
                    .__bindgen_anon_1
                    .mapping
            ))
        };
        mapping as usize & FOLIO_MAPPING_ANON != 0
    }

    /// Whether the folio has more than one page (`folio_test_large`: `PG_head` in its flags).
    #[inline]
    pub(crate) fn is_large(self) -> bool {
        // SAFETY: the folio is valid; `flags` is its first page's flags word, read once as
        // `test_bit` does.
        let flags = unsafe {
            read_volatile(addr_of!(
                (*self.ptr.as_ptr())
                    .__bindgen_anon_1
                    .__bindgen_anon_1
                    .flags
                    .f
            ))
        };
        flags & (1 << bindings::pageflags_PG_head) != 0
    }

    /// log2 of the folio's size in bytes (`folio_shift`): `PAGE_SHIFT` plus its order,
    /// which a large folio keeps in the low byte of its second page's flags
    /// (`folio_large_order`).
    pub(crate) fn shift(self) -> u32 {
        if !self.is_large() {
            return PAGE_SHIFT;
        }
        // SAFETY: the folio is valid and large, so its second page exists and holds
        // `_flags_1`, a plain word read once as the kernel's inline reads it.
        let flags_1 = unsafe {
            read_volatile(addr_of!(
                (*self.ptr.as_ptr())
                    .__bindgen_anon_2
                    .__bindgen_anon_1
                    ._flags_1
            ))
        };
        PAGE_SHIFT + (flags_1 & 0xff) as u32
    }

    /// Mappings of the folio as a whole (`folio_entire_mapcount`); only for large folios.
    #[inline]
    pub(crate) fn entire_mapcount(self) -> i32 {
        // SAFETY: the folio is valid and large (callers check), so its second page holds
        // `_entire_mapcount`, an `atomic_t` read as `atomic_read` does.
        let raw = unsafe {
            read_volatile(addr_of!(
                (*self.ptr.as_ptr())
                    .__bindgen_anon_2
                    .__bindgen_anon_1
                    .__bindgen_anon_1
                    .__bindgen_anon_1
                    ._entire_mapcount
                    .counter
            ))
        };
        raw.wrapping_add(1)
    }
}

/// Checks at load time that [`Page::from_pfn`] finds the `struct page` the kernel's
/// `pfn_to_page` finds (the zero page's, and its neighbour's).
pub(crate) fn check_memmap() -> Result<(), &'static str> {
    // SAFETY: `zero_page_pfn` is set during boot, before modules load.
    let pfn = unsafe { zero_page_pfn } as u64;
    for pfn in [pfn, pfn + 1] {
        // SAFETY: `pfn_to_page` is pure arithmetic on the memory map's base.
        let kernel = unsafe { bindings::pfn_to_page(pfn as usize) };
        if Page::from_pfn(pfn).map(|p| p.ptr.as_ptr()) != Some(kernel) {
            return Err("pfn_to_page");
        }
    }
    Ok(())
}

/// Whether `pfn` is the shared zero page (`is_zero_pfn`; x86 has one zero page, no colours).
#[inline]
pub(crate) fn is_zero_pfn(pfn: u64) -> bool {
    // SAFETY: `zero_page_pfn` is set once during boot, before any user mapping exists.
    pfn == unsafe { zero_page_pfn } as u64
}

/// Whether a PMD maps the huge zero page (`is_huge_zero_pmd`).
pub(crate) fn is_huge_zero_pmd(entry: Entry) -> bool {
    // SAFETY: compares the entry's frame with the huge zero page's; pure.
    unsafe {
        bindings::is_huge_zero_pmd(bindings::pmd_t {
            pmd: entry.raw() as usize,
        })
    }
}
