// SPDX-License-Identifier: GPL-2.0

//! Decoding of non-present ("soft leaf") entries (`softleaf_t`, include/linux/leafops.h).
//!
//! The decoding that every swapped page needs (type, offset, markers) is done
//! here in Rust, the way the kernel's inlines do it: the per-page path of a
//! read or scan makes no call for it. The type numbering is derived from the
//! kernel's own constants (`MAX_SWAPFILES` and the `SWP_*_NUM` counts, which
//! follow the config), so it matches the running kernel. Entries that carry a
//! page frame (migration, device, hwpoison: rare, and their frame mask is a
//! run-time property of the paging mode) still go through the kernel's inlines.

use kernel::bindings;
use kernel::prelude::*;

use super::entry::{Entry, Kind};
use super::level::Level;
use super::page::Page;
use super::vma::Vma;
use super::x86;

/// The marker value of a uffd-wp marker (`PTE_MARKER_UFFD_WP` in include/linux/swapops.h):
/// a marker kind, not a page-table bit.
const PTE_MARKER_UFFD_WP: u64 = 1 << 0;
/// `PTE_MARKER_GUARD`: a guard-region marker.
const PTE_MARKER_GUARD: u64 = 1 << 2;
/// `PTE_MARKER_MASK`: the marker bits of a marker's offset.
const PTE_MARKER_MASK: u64 = (1 << 3) - 1;

/// Bits of the swap type (`MAX_SWAPFILES_SHIFT`), as the pagemap file packs type and
/// offset into an entry's frame bits.
pub(crate) const SWAP_TYPE_BITS: u32 = bindings::MAX_SWAPFILES_SHIFT;

/// `SWP_TYPE_SHIFT`: where the type sits in a `swp_entry_t` (`BITS_PER_XA_VALUE -
/// MAX_SWAPFILES_SHIFT`, with `BITS_PER_XA_VALUE` = 63 on 64-bit).
const SWP_TYPE_SHIFT: u32 = 63 - bindings::MAX_SWAPFILES_SHIFT;
/// `SWP_OFFSET_MASK`.
const SWP_OFFSET_MASK: u64 = (1 << SWP_TYPE_SHIFT) - 1;

/// The special swap types of include/linux/swap.h, numbered from `MAX_SWAPFILES` up in the
/// order that header gives them; a count of 0 means the config has none of that kind (and
/// `softleaf_type` then has no case for it).
const MAX_SWAPFILES: u64 = bindings::MAX_SWAPFILES as u64;
const HWPOISON_NUM: u64 = bindings::SWP_HWPOISON_NUM as u64;
const MIGRATION_NUM: u64 = bindings::SWP_MIGRATION_NUM as u64;
const DEVICE_NUM: u64 = bindings::SWP_DEVICE_NUM as u64;
const SWP_HWPOISON: u64 = MAX_SWAPFILES;
const SWP_MIGRATION_READ: u64 = MAX_SWAPFILES + HWPOISON_NUM;
const SWP_MIGRATION_READ_EXCLUSIVE: u64 = SWP_MIGRATION_READ + 1;
const SWP_MIGRATION_WRITE: u64 = SWP_MIGRATION_READ + 2;
const SWP_DEVICE_WRITE: u64 = MAX_SWAPFILES + HWPOISON_NUM + MIGRATION_NUM;
const SWP_DEVICE_READ: u64 = SWP_DEVICE_WRITE + 1;
const SWP_PTE_MARKER: u64 = MAX_SWAPFILES + HWPOISON_NUM + MIGRATION_NUM + DEVICE_NUM;

const _: () = assert!(
    MAX_SWAPFILES + HWPOISON_NUM + MIGRATION_NUM + DEVICE_NUM + bindings::SWP_PTE_MARKER_NUM as u64
        == 1 << bindings::MAX_SWAPFILES_SHIFT
);

/// What a soft leaf is (`enum softleaf_type`), with the kinds pagemap tells apart.
#[derive(Copy, Clone, PartialEq, Eq)]
enum Type {
    None,
    Swap,
    Migration,
    DevicePrivate,
    DeviceExclusive,
    HwPoison,
    Marker,
}

/// The PTE value of a uffd-wp marker (`make_pte_marker(PTE_MARKER_UFFD_WP)`).
pub(crate) fn uffd_wp_marker_pte() -> bindings::pte_t {
    // SAFETY: `make_pte_marker` is a pure function of the value.
    unsafe { bindings::make_pte_marker(PTE_MARKER_UFFD_WP as usize) }
}

/// A decoded non-present page-table entry (`softleaf_t`).
///
/// # Invariants
///
/// `val` is what `softleaf_from_pte` or `softleaf_from_pmd` returns for the entry it was
/// decoded from (0 for a present or empty one).
#[derive(Copy, Clone)]
pub(crate) struct SoftLeaf {
    val: u64,
}

/// `swp_entry(type, offset)`.
#[inline]
fn swp_entry(ty: u64, offset: u64) -> u64 {
    (ty << SWP_TYPE_SHIFT) | (offset & SWP_OFFSET_MASK)
}

impl SoftLeaf {
    /// Decodes a non-present leaf entry at the PTE or PMD level; `None` for anything else.
    #[inline]
    pub(crate) fn of(entry: Entry) -> Option<Self> {
        if entry.kind() != Kind::NonPresent {
            return None;
        }
        match entry.level() {
            Level::PTE => Some(Self::from_pte(entry.raw())),
            Level::PMD => Some(Self::from_pmd(entry.raw())),
            _ => None,
        }
    }

    /// Decodes a PTE value (`softleaf_from_pte`).
    #[inline]
    pub(crate) fn from_pte(raw: u64) -> Self {
        if x86::pte_present(raw) || x86::is_none(raw) {
            return Self { val: 0 };
        }
        let arch = x86::pte_swp_clear_flags(raw);
        // INVARIANT: the steps of `softleaf_from_pte`, on x86-64.
        Self {
            val: swp_entry(x86::arch_swp_type(arch), x86::arch_swp_offset(arch)),
        }
    }

    /// The swap type and offset of a PTE that is a swap entry (`softleaf_from_pte` then
    /// `softleaf_is_swap`, `swp_type`, `swp_offset`), `None` for any other PTE: the steps
    /// of [`Self::from_pte`] and [`Self::is_swap`] for the one kind a swapped-out range is
    /// made of, with the type tested before the entry is put together (checked against
    /// the kernel's decoding at load, [`check_decoding`]).
    #[inline(always)]
    pub(crate) fn pte_swap(raw: u64) -> Option<(u64, u64)> {
        if x86::pte_present(raw) || x86::is_none(raw) {
            return None;
        }
        let arch = x86::pte_swp_clear_flags(raw);
        let ty = x86::arch_swp_type(arch);
        if ty >= MAX_SWAPFILES {
            return None;
        }
        let offset = x86::arch_swp_offset(arch) & SWP_OFFSET_MASK;
        // A value of 0 (type 0, offset 0) is `SOFTLEAF_NONE`, not a swap entry.
        if ty | offset == 0 {
            return None;
        }
        Some((ty, offset))
    }

    /// Decodes a PMD value (`softleaf_from_pmd`).
    #[inline]
    pub(crate) fn from_pmd(raw: u64) -> Self {
        if x86::pmd_present(raw) || x86::is_none(raw) {
            return Self { val: 0 };
        }
        let arch = x86::pmd_swp_clear_flags(raw);
        // INVARIANT: the steps of `softleaf_from_pmd`, on x86-64.
        Self {
            val: swp_entry(x86::arch_swp_type(arch), x86::arch_swp_offset(arch)),
        }
    }

    /// The C value, for the kernel's inlines.
    fn as_c(self) -> bindings::swp_entry_t {
        bindings::swp_entry_t {
            val: self.val as usize,
        }
    }

    /// `softleaf_type`. An unknown type number is `None`, as there (which also warns once).
    #[inline]
    fn kind(self) -> Type {
        if self.val == 0 {
            return Type::None;
        }
        let t = self.swap_type();
        if t < MAX_SWAPFILES {
            Type::Swap
        } else if MIGRATION_NUM != 0 && (SWP_MIGRATION_READ..SWP_MIGRATION_READ + 3).contains(&t) {
            Type::Migration
        } else if DEVICE_NUM != 0 && (SWP_DEVICE_WRITE..SWP_DEVICE_WRITE + 2).contains(&t) {
            Type::DevicePrivate
        } else if DEVICE_NUM != 0 && t == SWP_DEVICE_WRITE + 2 {
            Type::DeviceExclusive
        } else if HWPOISON_NUM != 0 && t == SWP_HWPOISON {
            Type::HwPoison
        } else if t == SWP_PTE_MARKER {
            Type::Marker
        } else {
            Type::None
        }
    }

    /// The swap type field (a swap device, or one of the special types) (`swp_type`).
    #[inline]
    pub(crate) fn swap_type(self) -> u64 {
        self.val >> SWP_TYPE_SHIFT
    }

    /// The raw swap offset field (`swp_offset`).
    #[inline]
    pub(crate) fn swap_offset(self) -> u64 {
        self.val & SWP_OFFSET_MASK
    }

    /// Whether the entry carries a page frame (migration, device, hwpoison) (`softleaf_has_pfn`).
    #[inline]
    pub(crate) fn has_pfn(self) -> bool {
        matches!(
            self.kind(),
            Type::Migration | Type::DevicePrivate | Type::DeviceExclusive | Type::HwPoison
        )
    }

    /// The page frame of a [`Self::has_pfn`] entry.
    pub(crate) fn pfn(self) -> u64 {
        // SAFETY: pure function of the value.
        unsafe { bindings::softleaf_to_pfn(self.as_c()) as u64 }
    }

    /// The offset pagemap reports: the frame for frame-carrying entries, else the swap offset.
    #[inline]
    pub(crate) fn pagemap_offset(self) -> u64 {
        if self.has_pfn() {
            self.pfn()
        } else {
            self.swap_offset()
        }
    }

    /// The page a frame-carrying entry refers to.
    ///
    /// The page is only looked at (its folio's anon bit) while the page-table
    /// lock that made this entry current is held, as the kernel does.
    #[inline]
    pub(crate) fn page(self) -> Option<Page> {
        if !self.has_pfn() {
            return None;
        }
        // SAFETY: the entry carries a PFN of a page with a `struct page`.
        Page::from_raw(unsafe { bindings::softleaf_to_page(self.as_c()) })
    }

    /// The marker bits of a marker entry (`softleaf_to_marker`), 0 for anything else.
    #[inline]
    fn marker(self) -> u64 {
        if self.kind() == Type::Marker {
            self.swap_offset() & PTE_MARKER_MASK
        } else {
            0
        }
    }

    /// Whether this is a userfaultfd write-protect marker.
    #[inline]
    pub(crate) fn is_uffd_wp_marker(self) -> bool {
        self.marker() & PTE_MARKER_UFFD_WP != 0
    }

    /// Whether this is a swapped-out page (a swap device's type): no frame, no page, no marker.
    #[inline]
    pub(crate) fn is_swap(self) -> bool {
        self.kind() == Type::Swap
    }

    /// Whether this is a migration entry of any kind.
    #[inline]
    pub(crate) fn is_migration(self) -> bool {
        self.kind() == Type::Migration
    }

    /// Whether this is a PTE marker of any kind (uffd-wp, poison, guard).
    #[inline]
    pub(crate) fn is_marker(self) -> bool {
        self.kind() == Type::Marker
    }

    /// Whether this is a hardware-poison entry.
    #[inline]
    pub(crate) fn is_hwpoison(self) -> bool {
        self.kind() == Type::HwPoison
    }

    /// `raw`, the PTE or PMD this entry was decoded from, with write access taken away as
    /// mprotect takes it (`change_softleaf_pte`): a writable migration entry becomes a
    /// readable one (exclusive for an anonymous folio, so a later write fault may reuse
    /// the page) and a writable device-private entry a readable one; only the type field
    /// changes. Any other entry comes back unchanged.
    pub(crate) fn write_removed(self, raw: u64) -> u64 {
        let t = self.swap_type();
        let readable = if MIGRATION_NUM != 0 && t == SWP_MIGRATION_WRITE {
            if self.page().is_some_and(|p| p.is_anon()) {
                SWP_MIGRATION_READ_EXCLUSIVE
            } else {
                SWP_MIGRATION_READ
            }
        } else if DEVICE_NUM != 0 && t == SWP_DEVICE_WRITE {
            SWP_DEVICE_READ
        } else {
            return raw;
        };
        x86::swp_with_type(raw, readable)
    }

    /// Whether this is a guard-region marker.
    #[inline]
    pub(crate) fn is_guard_marker(self) -> bool {
        self.marker() & PTE_MARKER_GUARD != 0
    }
}

/// Checks at load time that the decoding above is the kernel's (`softleaf_from_pte`,
/// `swp_type`, `swp_offset`, `softleaf_has_pfn` and the marker and kind tests) on
/// non-present PTEs of every swap type, with assorted offsets and software bits, and on
/// the kernel's own markers; `Err` names the first that differs. A read decodes swap
/// entries with these alone, so the module refuses to load then.
pub(crate) fn check_decoding() -> Result<(), &'static str> {
    const PATTERNS: [u64; 8] = [
        0x0000_0000_0000_4000,
        0x0000_0000_0000_4006,
        0x0000_0000_0000_4080,
        0x0123_4567_89ab_c000,
        0x0123_4567_89ab_c086,
        0x07ff_ffff_ffff_e000,
        0x07ff_ffff_ffff_fe86,
        0x0000_0000_0000_0e00,
    ];
    let pte = |raw: u64| bindings::pte_t { pte: raw as usize };
    let mut samples = KVec::new();
    for pattern in PATTERNS {
        for ty in 0..1u64 << bindings::MAX_SWAPFILES_SHIFT {
            let raw = x86::swp_with_type(pattern, ty);
            if !x86::pte_present(raw) && !x86::is_none(raw) {
                samples
                    .push(raw, GFP_KERNEL)
                    .map_err(|_| "memory for the samples")?;
            }
        }
    }
    for marker in [
        PTE_MARKER_UFFD_WP,
        1 << 1,
        PTE_MARKER_GUARD,
        PTE_MARKER_MASK,
    ] {
        // SAFETY: `make_pte_marker` is a pure function of the value.
        let raw = unsafe { bindings::make_pte_marker(marker as usize) }.pte as u64;
        samples
            .push(raw, GFP_KERNEL)
            .map_err(|_| "memory for the samples")?;
    }
    for raw in samples {
        let ours = SoftLeaf::from_pte(raw);
        // SAFETY: the kernel's decoders are pure functions of the value.
        let theirs = unsafe { bindings::softleaf_from_pte(pte(raw)) };
        if ours.val != theirs.val as u64 {
            return Err("softleaf_from_pte");
        }
        // SAFETY: as above.
        let (ty, offset, has_pfn, marker, uffd_wp, guard, migration, hwpoison) = unsafe {
            (
                u64::from(bindings::swp_type(theirs)),
                bindings::swp_offset(theirs) as u64,
                bindings::softleaf_has_pfn(theirs),
                bindings::softleaf_is_marker(theirs),
                bindings::softleaf_is_uffd_wp_marker(theirs),
                bindings::softleaf_is_guard_marker(theirs),
                bindings::softleaf_is_migration(theirs),
                bindings::softleaf_is_hwpoison(theirs),
            )
        };
        if ours.swap_type() != ty || ours.swap_offset() != offset {
            return Err("swp_type/swp_offset");
        }
        if ours.has_pfn() != has_pfn
            || ours.is_marker() != marker
            || ours.is_uffd_wp_marker() != uffd_wp
            || ours.is_guard_marker() != guard
            || ours.is_migration() != migration
            || ours.is_hwpoison() != hwpoison
        {
            return Err("the softleaf kind tests");
        }
        // Every type number has a kind, so a swap entry is what is none of the others.
        if ours.is_swap() != (theirs.val != 0 && !has_pfn && !marker) {
            return Err("softleaf_is_swap");
        }
        if SoftLeaf::pte_swap(raw) != ours.is_swap().then_some((ty, offset)) {
            return Err("the swap-entry decoding of a read");
        }
    }
    Ok(())
}

/// Whether uffd-wp markers exist on this kernel (`uffd_supports_wp_marker`, a constant).
const WP_MARKERS: bool = cfg!(CONFIG_HAVE_ARCH_USERFAULTFD_WP) && cfg!(CONFIG_PTE_MARKER_UFFD_WP);

/// Whether the PTE value `raw` is a non-present entry that is uffd-write-protected: its
/// swap-format uffd bit, or a uffd-wp marker (`pte_swp_uffd_any`), decoded in Rust.
#[inline]
pub(crate) fn pte_swp_uffd_any(raw: u64) -> bool {
    WP_MARKERS
        && !x86::pte_present(raw)
        && (x86::swp_uffd(raw) || SoftLeaf::from_pte(raw).is_uffd_wp_marker())
}

/// Checks [`pte_swp_uffd_any`] against the kernel's own, without knowing what any bit
/// means: on every single-bit value, on each of them with bit 0 (present) added, on every
/// PTE marker, and on every marker with each bit flipped. `Err` if one differs.
pub(crate) fn check_swp_uffd_any() -> Result<(), &'static str> {
    let agrees = |raw: u64| {
        // SAFETY: `pte_swp_uffd_any` is a pure function of the value.
        let kernel = unsafe { bindings::pte_swp_uffd_any(bindings::pte_t { pte: raw as usize }) };
        kernel == pte_swp_uffd_any(raw)
    };
    for marker in 0..8usize {
        // SAFETY: `make_pte_marker` is a pure function of the value.
        let m = unsafe { bindings::make_pte_marker(marker) }.pte as u64;
        if !agrees(m) || (0..64).any(|bit| !agrees(m ^ (1 << bit))) {
            return Err("pte_swp_uffd_any");
        }
    }
    if (0..64).any(|bit| !agrees(1 << bit) || !agrees(1 | (1 << bit))) {
        return Err("pte_swp_uffd_any");
    }
    Ok(())
}

// Here rather than in `page.rs`, which the decoding of soft leaves builds on.
impl Page {
    /// The page an entry at the PTE or PMD level refers to, as pagemap finds it:
    /// the normal page of a present entry (`vm_normal_page`, `vm_normal_page_pmd`),
    /// the page of a frame-carrying non-present entry (migration, device,
    /// hwpoison); `None` for everything else.
    pub(crate) fn of_entry(vma: &Vma<'_>, addr: usize, entry: Entry) -> Option<Self> {
        match entry.kind() {
            Kind::Present if entry.level() == Level::PTE => Self::normal_pte(vma, addr, entry),
            Kind::Present => Self::normal_pmd(vma, addr, entry),
            Kind::NonPresent => SoftLeaf::of(entry).and_then(|leaf| leaf.page()),
            Kind::None | Kind::Table => None,
        }
    }
}

#[kernel::prelude::kunit_tests(rust_pagemap_softleaf)]
mod tests {
    use super::*;

    /// A non-present PTE of swap type `ty` built on `pattern`'s other bits.
    fn swap_pte(pattern: u64, ty: u64) -> u64 {
        x86::swp_with_type(pattern, ty)
    }

    #[test]
    fn present_and_empty_entries_are_no_soft_leaf() {
        assert!(SoftLeaf::of(Entry::new(0, Level::PTE)).is_none());
        // Present, writable, user, accessed.
        assert!(SoftLeaf::of(Entry::new(0x1000_0067, Level::PTE)).is_none());
        assert!(SoftLeaf::of(Entry::new(0x1000_0067, Level::PMD)).is_none());
    }

    #[test]
    fn every_swap_file_type_decodes_as_itself() {
        for ty in 0..MAX_SWAPFILES {
            let raw = swap_pte(0x0123_4567_89ab_c000, ty);
            let leaf = SoftLeaf::of(Entry::new(raw, Level::PTE));
            assert!(leaf.is_some());
            let leaf = SoftLeaf::from_pte(raw);
            assert_eq!(leaf.swap_type(), ty);
            assert!(leaf.is_swap());
            assert!(!leaf.is_migration());
            assert!(!leaf.is_marker());
            assert!(!leaf.has_pfn());
        }
    }

    #[test]
    fn offsets_survive_the_encoding() {
        let a = SoftLeaf::from_pte(swap_pte(0x0000_0000_0000_4000, 1));
        let b = SoftLeaf::from_pte(swap_pte(0x0123_4567_89ab_c000, 1));
        assert_ne!(a.swap_offset(), b.swap_offset());
        assert_eq!(a.swap_type(), b.swap_type());
    }

    #[test]
    fn migration_types_carry_a_frame() {
        for ty in [
            SWP_MIGRATION_READ,
            SWP_MIGRATION_READ_EXCLUSIVE,
            SWP_MIGRATION_WRITE,
        ] {
            let leaf = SoftLeaf::from_pte(swap_pte(0x0000_0000_0123_4000, ty));
            assert!(leaf.is_migration());
            assert!(leaf.has_pfn());
            assert!(!leaf.is_swap());
        }
        let poison = SoftLeaf::from_pte(swap_pte(0x0000_0000_0123_4000, SWP_HWPOISON));
        assert!(poison.is_hwpoison());
        assert!(poison.has_pfn());
    }

    #[test]
    fn the_uffd_wp_marker_is_a_marker_and_nothing_else() {
        let raw = uffd_wp_marker_pte().pte as u64;
        let leaf = SoftLeaf::from_pte(raw);
        assert!(leaf.is_marker());
        assert!(leaf.is_uffd_wp_marker());
        assert!(!leaf.is_guard_marker());
        assert!(!leaf.is_swap());
        assert!(!leaf.has_pfn());
        assert!(pte_swp_uffd_any(raw));
    }
}
