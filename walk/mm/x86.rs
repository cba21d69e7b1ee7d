// SPDX-License-Identifier: GPL-2.0

//! x86-64 page-table entry bits: the only file that knows bit numbers.
//!
//! Values follow `arch/x86/include/asm/pgtable_types.h` and `pgtable.h` of the
//! kernel the module is built against (64-bit, 4 KiB pages); the
//! physical-address mask is the kernel's own where memory encryption can
//! change it at boot.

/// log2 of the base page size (the `kernel` crate's, as a shift count).
pub(crate) const PAGE_SHIFT: u32 = kernel::page::PAGE_SHIFT as u32;
/// The base page size.
pub(crate) const PAGE_SIZE: usize = kernel::page::PAGE_SIZE;
/// Index bits consumed by each page-table level.
pub(crate) const LEVEL_BITS: u32 = 9;
/// Entries in one page table.
pub(crate) const ENTRIES_PER_TABLE: usize = 1 << LEVEL_BITS;

const PRESENT: u64 = 1 << 0;
const RW: u64 = 1 << 1;
const USER: u64 = 1 << 2;
const ACCESSED: u64 = 1 << 5;
const DIRTY: u64 = 1 << 6;
const PSE: u64 = 1 << 7;
/// `_PAGE_PROTNONE` shares the GLOBAL bit; user mappings never set GLOBAL.
const PROTNONE: u64 = 1 << 8;
const UFFD: u64 = 1 << 10;
const SOFT_DIRTY: u64 = 1 << 11;
/// Software bits kept in non-present (swap-format) entries.
const SWP_SOFT_DIRTY: u64 = RW;
const SWP_UFFD: u64 = USER;
/// Bits the KNL erratum may set in an otherwise empty entry (`_PAGE_KNL_ERRATUM_MASK`).
const KNL_ERRATUM: u64 = DIRTY | ACCESSED;
/// `__PHYSICAL_MASK` on a kernel whose physical-address bits are fixed:
/// `__PHYSICAL_MASK_SHIFT`, 52 bits.
#[cfg(not(CONFIG_DYNAMIC_PHYSICAL_MASK))]
#[inline]
fn physical_mask() -> u64 {
    (1 << 52) - 1
}

/// `__PHYSICAL_MASK` on a kernel that takes bits away at boot for memory
/// encryption (AMD SME/SEV, Intel TDX): the kernel's `physical_mask`, so that an
/// encryption bit in an entry is never read as part of a frame number.
#[cfg(CONFIG_DYNAMIC_PHYSICAL_MASK)]
#[inline]
fn physical_mask() -> u64 {
    // SAFETY: `physical_mask` is set during early boot and read-only after init.
    unsafe { core::ptr::addr_of!(kernel::bindings::physical_mask).read() }
}

/// The physical-address bits of an entry whose frame is aligned to `1 << shift`.
#[inline]
fn frame_mask(shift: u32) -> u64 {
    physical_mask() & !((1u64 << shift) - 1)
}

/// Whether the entry is empty (`pte_none`, `pmd_none`, ... are the same test).
#[inline]
pub(crate) fn is_none(raw: u64) -> bool {
    raw & !KNL_ERRATUM == 0
}

/// Whether a PTE maps a page (`pte_present`: PROT_NONE entries count).
#[inline]
pub(crate) fn pte_present(raw: u64) -> bool {
    raw & (PRESENT | PROTNONE) != 0
}

/// Whether a PMD maps something (`pmd_present`: PSE counts, for splits in progress).
#[inline]
pub(crate) fn pmd_present(raw: u64) -> bool {
    raw & (PRESENT | PROTNONE | PSE) != 0
}

/// Whether a PUD, P4D or PGD entry is present (`pud_present`).
#[inline]
pub(crate) fn upper_present(raw: u64) -> bool {
    raw & PRESENT != 0
}

/// Whether an entry above the PTE level maps a huge page rather than a table.
#[inline]
pub(crate) fn is_huge(raw: u64) -> bool {
    raw & PSE != 0
}

/// The frame number of a leaf whose frame is aligned to `1 << shift`.
///
/// Non-present, non-empty entries (PROT_NONE) store their frame inverted
/// (the L1TF mitigation, `protnone_mask`); this undoes that.
#[inline]
pub(crate) fn leaf_pfn(raw: u64, shift: u32) -> u64 {
    let needs_invert = raw != 0 && raw & PRESENT == 0;
    let val = if needs_invert { !raw } else { raw };
    (val & frame_mask(shift)) >> PAGE_SHIFT
}

/// The physical address of the next-level table that a non-leaf entry points to.
#[inline]
pub(crate) fn table_phys(raw: u64) -> u64 {
    raw & frame_mask(PAGE_SHIFT)
}

/// `_PAGE_SPECIAL`: the PTE maps no "normal" page (zero page, raw PFN, ...).
const SPECIAL: u64 = 1 << 9;
const _: () = assert!(kernel::bindings::_PAGE_BIT_SPECIAL == 9);

/// Whether a present PTE is special (`pte_special`).
#[inline]
pub(crate) fn special(raw: u64) -> bool {
    raw & SPECIAL != 0
}

/// Whether a PTE maps a normal page the plain way: present to the hardware (not a
/// PROT_NONE entry, whose frame is stored inverted) and not special. Such a PTE is
/// [`pte_present`], and its frame is [`present_pfn`].
#[inline(always)]
pub(crate) fn pte_plain(raw: u64) -> bool {
    raw & (PRESENT | SPECIAL) == PRESENT
}

/// The frame of a PTE that is present to the hardware (`pte_pfn` without the inversion
/// that only PROT_NONE entries need): [`leaf_pfn`] of such an entry.
#[inline(always)]
pub(crate) fn present_pfn(raw: u64) -> u64 {
    (raw & frame_mask(PAGE_SHIFT)) >> PAGE_SHIFT
}

/// The soft-dirty and userfaultfd bits of an entry, present ones ([`soft_dirty`],
/// [`uffd`]) or non-present ones ([`swp_soft_dirty`], [`swp_uffd`]), as an index from 0 to
/// 3 into a table of what each combination gives ([`SdUffd::sd_uffd`] tells): one shift
/// and one mask per entry where testing the two bits takes a branch or a shift each.
#[derive(Copy, Clone)]
pub(crate) enum SdUffd {
    /// A present entry's bits.
    Present,
    /// A non-present (swap-format) entry's bits.
    Swap,
}

/// Where each format keeps the two bits: adjacent in both, so one shift brings both down.
const _: () = assert!(UFFD << 1 == SOFT_DIRTY && SWP_SOFT_DIRTY << 1 == SWP_UFFD);

impl SdUffd {
    /// The index of `raw`'s soft-dirty and uffd bits, below 4.
    #[inline(always)]
    pub(crate) fn index(self, raw: u64) -> usize {
        let low = match self {
            Self::Present => UFFD,
            Self::Swap => SWP_SOFT_DIRTY,
        };
        ((raw >> low.trailing_zeros()) & 3) as usize
    }

    /// Whether an entry whose [`Self::index`] is `index` is soft-dirty, and whether it is
    /// uffd-protected.
    pub(crate) fn sd_uffd(self, index: usize) -> (bool, bool) {
        let raw = match self {
            Self::Present => (index as u64) << UFFD.trailing_zeros(),
            Self::Swap => (index as u64) << SWP_SOFT_DIRTY.trailing_zeros(),
        };
        match self {
            Self::Present => (soft_dirty(raw), uffd(raw)),
            Self::Swap => (swp_soft_dirty(raw), swp_uffd(raw)),
        }
    }
}

/// Soft-dirty bit of a present entry (`pte_soft_dirty`, `pmd_soft_dirty`).
#[inline]
pub(crate) fn soft_dirty(raw: u64) -> bool {
    raw & SOFT_DIRTY != 0
}

/// Whether a PTE may be soft-dirty: `false` only when neither the present nor the
/// swap-format soft-dirty bit is set, so that neither reading can say dirty.
#[inline]
pub(crate) fn pte_maybe_soft_dirty(raw: u64) -> bool {
    raw & (SOFT_DIRTY | SWP_SOFT_DIRTY) != 0
}

/// Whether a soft-dirty clear leaves the PTE `raw` as it is, told by its bits alone: empty,
/// or present, soft-clean and write-protected already (non-present entries need decoding).
#[inline]
pub(crate) fn pte_clear_is_noop(raw: u64) -> bool {
    is_none(raw) || (pte_present(raw) && raw & (SOFT_DIRTY | RW) == 0)
}

/// Whether the AND `all` of several PTE values says that every one of them is present
/// (the hardware bit; PROT_NONE ones are not counted) and carries the uffd bit.
#[inline(always)]
pub(crate) fn all_present_uffd(all: u64) -> bool {
    all & (PRESENT | UFFD) == PRESENT | UFFD
}

/// userfaultfd bit of a present entry (`pte_uffd`, `pmd_uffd`).
#[inline]
pub(crate) fn uffd(raw: u64) -> bool {
    raw & UFFD != 0
}

/// Soft-dirty bit of a non-present entry (`pte_swp_soft_dirty`, `pmd_swp_soft_dirty`).
#[inline]
pub(crate) fn swp_soft_dirty(raw: u64) -> bool {
    raw & SWP_SOFT_DIRTY != 0
}

/// userfaultfd bit of a non-present entry (`pte_swp_uffd`, `pmd_swp_uffd`).
#[inline]
pub(crate) fn swp_uffd(raw: u64) -> bool {
    raw & SWP_UFFD != 0
}

/// Whether a present entry is writable (`pte_write`).
#[inline]
pub(crate) fn writable(raw: u64) -> bool {
    raw & RW != 0
}

/// `_PAGE_SAVED_DIRTY`: where a write-protected entry keeps its dirty bit, since to a CPU
/// with shadow stacks Write=0, Dirty=1 means a shadow-stack page.
const SAVED_DIRTY: u64 = 1 << 58;
const _: () = assert!(kernel::bindings::_PAGE_BIT_SAVED_DIRTY == 58);

/// Whether a live PTE may be changed in place, with one atomic compare-and-exchange of
/// the entry, instead of the `ptep_modify_prot_start`/`commit` pair and the entry
/// builders, which are out-of-line helper calls from Rust:
/// - without `CONFIG_PARAVIRT_XXL` (Xen PV) the pair is `ptep_get_and_clear` then
///   `set_pte_at`, whose only purpose is that no accessed or dirty bit the hardware sets
///   meanwhile is lost: an update that is computed again whenever the entry changed
///   under it keeps those bits just as well;
/// - without `CONFIG_PAGE_TABLE_CHECK` the pair has no accounting hooks to keep.
///
/// Elsewhere the kernel's own primitives are called. [`check_pte_builders`] compares the
/// bit operations below with the kernel's builders when the module is loaded.
pub(crate) const IN_PLACE_PTE_UPDATES: bool =
    !cfg!(CONFIG_PARAVIRT_XXL) && !cfg!(CONFIG_PAGE_TABLE_CHECK);

/// `pte_wrprotect`: RW cleared, and a set dirty bit moved to SavedDirty
/// (`pte_mksaveddirty`, which the kernel applies whatever the CPU).
#[inline]
fn pte_wrprotect(raw: u64) -> u64 {
    let v = raw & !RW;
    if v & DIRTY != 0 {
        (v & !DIRTY) | SAVED_DIRTY
    } else {
        v
    }
}

/// A present PTE write-protected and soft-clean (`pte_clear_soft_dirty(pte_wrprotect(pte))`),
/// without a branch: RW, DIRTY and SOFT_DIRTY cleared, DIRTY moved to SAVED_DIRTY (the
/// kernel's `mksaveddirty_shift` once RW is clear). Computed inside the clear's
/// compare-and-exchange loop, once per page.
#[inline(always)]
pub(crate) fn pte_clean_wrprotect(raw: u64) -> u64 {
    const SHIFT: u32 = SAVED_DIRTY.trailing_zeros() - DIRTY.trailing_zeros();
    (raw & !(RW | DIRTY | SOFT_DIRTY)) | ((raw & DIRTY) << SHIFT)
}

/// A present PTE marked soft-dirty (`pte_mksoft_dirty`), its protection unchanged.
#[inline]
pub(crate) fn pte_mksoft_dirty(raw: u64) -> u64 {
    raw | SOFT_DIRTY
}

/// A present PTE marked uffd-write-protected (`pte_mkuffd`: `pte_wrprotect` of the entry
/// with the uffd bit set).
#[inline]
pub(crate) fn pte_mkuffd(raw: u64) -> u64 {
    pte_wrprotect(raw | UFFD)
}

/// A non-present PTE soft-clean (`pte_swp_clear_soft_dirty`).
#[inline]
pub(crate) fn pte_swp_clean(raw: u64) -> u64 {
    raw & !SWP_SOFT_DIRTY
}

/// Checks the bit operations above against the kernel's own builders (`pte_wrprotect`,
/// `pte_clear_soft_dirty`, `pte_mksoft_dirty`, `pte_mkuffd`, `pte_swp_clear_soft_dirty`) on entries with every
/// flag bit in turn, and a few mixes; `Err` names the first that differs. The module
/// refuses to load then: its in-place updates would not be the kernel's.
pub(crate) fn check_pte_builders() -> Result<(), &'static str> {
    use kernel::bindings;
    let pte = |raw: u64| bindings::pte_t { pte: raw as usize };
    let frame = 0x1234_5000u64;
    let mut samples = [0u64; 20];
    for (i, s) in samples.iter_mut().enumerate().take(13) {
        *s = frame | PRESENT | (1 << i);
    }
    samples[13] = frame | PRESENT | RW | USER | ACCESSED | DIRTY | SOFT_DIRTY;
    samples[14] = frame | PRESENT | RW | USER | ACCESSED | DIRTY | SOFT_DIRTY | UFFD;
    samples[15] = frame | PRESENT | USER | ACCESSED | (1 << 63);
    samples[16] = frame | PRESENT | USER | ACCESSED | DIRTY;
    samples[17] = frame | PRESENT | USER | SAVED_DIRTY | SOFT_DIRTY;
    samples[18] = frame | PRESENT | RW | USER | DIRTY | SAVED_DIRTY;
    samples[19] = frame | PRESENT | RW | USER | ACCESSED | DIRTY | (1 << 57) | (1 << 63);
    for raw in samples {
        // SAFETY: the builders are pure functions of the value.
        let (clean, uffd) = unsafe {
            (
                bindings::pte_clear_soft_dirty(bindings::pte_wrprotect(pte(raw))).pte as u64,
                bindings::pte_mkuffd(pte(raw)).pte as u64,
            )
        };
        if clean != pte_clean_wrprotect(raw) {
            return Err("pte_clear_soft_dirty(pte_wrprotect())");
        }
        if uffd != pte_mkuffd(raw) {
            return Err("pte_mkuffd");
        }
        // SAFETY: as above.
        if unsafe { bindings::pte_mksoft_dirty(pte(raw)).pte as u64 } != pte_mksoft_dirty(raw) {
            return Err("pte_mksoft_dirty");
        }
        let swp = raw & !PRESENT;
        // SAFETY: as above.
        let swp_clean = unsafe { bindings::pte_swp_clear_soft_dirty(pte(swp)).pte as u64 };
        if swp_clean != pte_swp_clean(swp) {
            return Err("pte_swp_clear_soft_dirty");
        }
    }
    Ok(())
}

/// `_PAGE_SWP_EXCLUSIVE`: the PSE bit of a non-present PTE marks an exclusive anonymous swap entry.
const SWP_EXCLUSIVE: u64 = PSE;
/// `SWP_TYPE_BITS` (pgtable_64.h): the swap type lives in the top five bits, inverted offset below.
const SWP_TYPE_BITS: u32 = 5;
/// `SWP_OFFSET_SHIFT`: the offset starts above PROTNONE (bit 8), after room for the type bits.
const SWP_OFFSET_SHIFT: u32 = 9 + SWP_TYPE_BITS;

const _: () = assert!(kernel::bindings::SWP_TYPE_BITS == SWP_TYPE_BITS);
const _: () = assert!(kernel::bindings::SWP_OFFSET_SHIFT == SWP_OFFSET_SHIFT);
// The generic swap type (`MAX_SWAPFILES_SHIFT` bits) is stored whole in the arch type field.
const _: () = assert!(kernel::bindings::MAX_SWAPFILES_SHIFT == SWP_TYPE_BITS);

/// A non-present PTE with its software bits cleared (`pte_swp_clear_flags`: exclusive,
/// soft-dirty and uffd), ready for the arch swap decoding.
#[inline]
pub(crate) fn pte_swp_clear_flags(raw: u64) -> u64 {
    raw & !(SWP_EXCLUSIVE | SWP_SOFT_DIRTY | SWP_UFFD)
}

/// A non-present PMD with the bits `softleaf_from_pmd` clears (soft-dirty and uffd; unlike
/// the PTE rule the exclusive bit stays).
#[inline]
pub(crate) fn pmd_swp_clear_flags(raw: u64) -> u64 {
    raw & !(SWP_SOFT_DIRTY | SWP_UFFD)
}

/// The arch swap type of a cleared non-present entry (`__swp_type`).
#[inline]
pub(crate) fn arch_swp_type(raw: u64) -> u64 {
    raw >> (64 - SWP_TYPE_BITS)
}

/// A non-present PTE or PMD with its arch swap type replaced by `ty` (`__swp_entry` keeps
/// the type in the top `SWP_TYPE_BITS` bits): offset and software bits unchanged.
#[inline]
pub(crate) fn swp_with_type(raw: u64, ty: u64) -> u64 {
    const SHIFT: u32 = 64 - SWP_TYPE_BITS;
    debug_assert!(ty < 1 << SWP_TYPE_BITS);
    (raw & !(((1 << SWP_TYPE_BITS) - 1) << SHIFT)) | (ty << SHIFT)
}

/// The arch swap offset of a cleared non-present entry (`__swp_offset`: stored inverted,
/// the L1TF mitigation).
#[inline]
pub(crate) fn arch_swp_offset(raw: u64) -> u64 {
    (!raw << SWP_TYPE_BITS) >> SWP_OFFSET_SHIFT
}

#[kernel::prelude::kunit_tests(rust_pagemap_x86)]
mod tests {
    use super::*;

    #[test]
    fn sd_uffd_index_tells_both_bits_of_either_format() {
        let bits = [SOFT_DIRTY, UFFD, SWP_SOFT_DIRTY, SWP_UFFD];
        for pattern in [0, 0x1234_5067, 0x07ff_ffff_ffff_e000, !0] {
            // Every combination of the four bits on the pattern's other bits.
            for mask in 0..1usize << bits.len() {
                let mut raw = pattern & !(SOFT_DIRTY | UFFD | SWP_SOFT_DIRTY | SWP_UFFD);
                for (i, bit) in bits.iter().enumerate() {
                    if mask & (1 << i) != 0 {
                        raw |= bit;
                    }
                }
                let present = SdUffd::Present.index(raw);
                let swap = SdUffd::Swap.index(raw);
                assert!(present < 4 && swap < 4);
                assert_eq!(
                    SdUffd::Present.sd_uffd(present),
                    (soft_dirty(raw), uffd(raw))
                );
                assert_eq!(
                    SdUffd::Swap.sd_uffd(swap),
                    (swp_soft_dirty(raw), swp_uffd(raw))
                );
            }
        }
    }
}
