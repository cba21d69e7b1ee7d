// SPDX-License-Identifier: GPL-2.0

//! The PAGEMAP_SCAN walk consumer: which VMAs are walked
//! (`pagemap_scan_test_walk`), and for each hole, PTE, THP and hugetlb entry
//! whether it is selected, reported and write-protected (`pagemap_scan_pte_hole`,
//! `pagemap_scan_pmd_entry`, `pagemap_scan_thp_entry`,
//! `pagemap_scan_hugetlb_entry` in fs/proc/task_mmu.c).

use kernel::prelude::*;

use crate::walk::mm::change::PteChanges;
use crate::walk::mm::lock::MmapLocked;
use crate::walk::mm::table::{PteTableLock, GROUP};
use crate::walk::mm::vma::{HugetlbVmaLock, Vma};
use crate::walk::mm::x86::{self, PAGE_SIZE};
use crate::walk::mm::{Leaf, LeafKind, Level};
use crate::walk::softdirty;
use crate::walk::walker::{walk, walk_ptes, Flow, Visitor, VmaAction};

use super::args::{ScanArgs, CHECK_WPASYNC};
use super::category::{
    pte_uffd_protected, Context, Masks, FILE, PFNZERO, PRESENT, SOFT_DIRTY, WPALLOWED, WRITTEN,
};
use super::output::Output;
use super::size;
use super::wp;

/// One walk of `[start, args.end)` of the locked mm, reporting into `out`; a scan that
/// changes entries (write-protection, get-and-clear) notes them in `changes`.
pub(crate) fn walk_once(
    lock: &MmapLocked<'_>,
    args: &ScanArgs,
    out: &mut Output,
    changes: Option<&mut PteChanges<'_>>,
    start: usize,
) -> Result {
    let mut visitor = ScanVisitor::new(args, out, changes);
    walk(lock, start, args.end, &mut visitor);
    visitor.result()
}

/// What happened in the PTE table being walked.
#[derive(Default)]
struct PteTable {
    /// First PTE write-protected in it, if any.
    first_wp: Option<usize>,
    /// The end of the last PTE write-protected in it (meaningful with `first_wp`).
    last_wp: usize,
    /// Whether a page that get-and-clear must leave writable (pinned, in a COW mapping)
    /// may be among its PTEs ([`softdirty::clear_pte_leaf_of_table`]).
    pins: bool,
}

/// Necessary conditions for a PTE to be selected that one bit test of its value decides:
/// the categories the masks require set that the VMA does not give every page. A PTE
/// that fails one is not selected, and its categories are not computed.
#[derive(Copy, Clone, Default)]
struct Prefilter {
    /// `SOFT_DIRTY` is required: the entry's soft-dirty bit (present or swap format).
    soft_dirty: bool,
    /// `WRITTEN` is required: a present entry must not carry the uffd bit.
    unprotected: bool,
    /// `PRESENT` is required.
    present: bool,
}

impl Prefilter {
    /// The conditions of `masks` on the pages of a VMA whose own categories are `vma_category`.
    fn new(masks: &Masks, vma_category: u64) -> Self {
        let required = masks.all & !masks.inverted & !vma_category;
        Self {
            soft_dirty: required & SOFT_DIRTY != 0,
            unprotected: required & WRITTEN != 0,
            present: required & PRESENT != 0,
        }
    }

    /// Whether the PTE value `raw` cannot be selected.
    #[inline]
    fn rejects(&self, raw: u64) -> bool {
        (self.soft_dirty && !x86::pte_maybe_soft_dirty(raw))
            || (self.unprotected && x86::pte_present(raw) && x86::uffd(raw))
            || (self.present && !x86::pte_present(raw))
    }
}

/// The type of an absent group test of [`ScanVisitor::select_ptes`].
type Skip = fn(u64, u64) -> bool;

/// Consecutive selected PTEs of one table whose categories agree on every bit that is
/// reported or decides write-protection: output with one call, as the per-page calls
/// would have merged them into one region.
#[derive(Copy, Clone)]
struct Run {
    start: usize,
    end: usize,
    /// The categories of its first page.
    categories: u64,
}

/// One walk of a scan, from a start address to the end of the range.
pub(crate) struct ScanVisitor<'a, 'c> {
    args: &'a ScanArgs,
    out: &'a mut Output,
    /// The walk's result: `ENOSPC` (output full), `EPERM` (`PM_SCAN_CHECK_WPASYNC`),
    /// or the error of write-protecting a hole. The walk stops at the first.
    ret: Result,
    /// Categories every page of the current VMA has (`cur_vma_category`).
    vma_category: u64,
    /// What the current VMA's page categories depend on.
    ctx: Context,
    /// What the masks require of a PTE of the current VMA, tested first.
    prefilter: Prefilter,
    /// The category bits that tell runs of pages apart: what is reported, and `WRITTEN`.
    run_key: u64,
    table: PteTable,
    /// The bracket of the entries the scan changes (cleaned for
    /// `RPM_SCAN_CLEAR_SOFT_DIRTY`, protected for `PM_SCAN_WP_MATCHING`), which
    /// flushes the TLB for all of them once, when the caller ends it; `None` for a
    /// scan that changes nothing.
    changes: Option<&'a mut PteChanges<'c>>,
}

impl<'a, 'c> ScanVisitor<'a, 'c> {
    /// A visitor reporting into `out`, noting what it changes in `changes`.
    pub(crate) fn new(
        args: &'a ScanArgs,
        out: &'a mut Output,
        changes: Option<&'a mut PteChanges<'c>>,
    ) -> Self {
        let interest = args.masks.all | args.masks.anyof | args.return_mask;
        Self {
            args,
            out,
            ret: Ok(()),
            vma_category: 0,
            ctx: Context {
                want_file: interest & FILE != 0,
                want_zero: interest & PFNZERO != 0,
                ..Context::default()
            },
            prefilter: Prefilter::default(),
            run_key: args.output_mask() | WRITTEN,
            table: PteTable::default(),
            changes,
        }
    }

    /// The walk's result.
    pub(crate) fn result(self) -> Result {
        self.ret
    }

    /// Ends a callback with the result `ret`: an error stops the walk.
    fn finish(&mut self, ret: Result) -> Flow {
        match ret {
            Ok(()) => Flow::Continue,
            Err(e) => {
                self.ret = Err(e);
                Flow::Stop
            }
        }
    }

    /// `categories` of a selected page, with the page sizes `sizes` computes when
    /// the scan reports them (`RPM_SCAN_PAGE_SIZES`). Selection never looks at
    /// them: the masks hold upstream categories only.
    fn with_sizes(&self, categories: u64, sizes: impl FnOnce() -> u64) -> u64 {
        if self.args.page_sizes() {
            categories | sizes()
        } else {
            categories
        }
    }

    /// Whether this is the exclusive write-protect mode: `PM_SCAN_WP_MATCHING`
    /// without an output array. Its PTE-level path protects every PTE whose uffd
    /// bit is clear, whatever the masks say.
    fn exclusive_wp(&self) -> bool {
        self.args.wp() && !self.out.has_buffer()
    }

    /// A PTE (the PTE branch of `pagemap_scan_pmd_entry`), one at a time: only for scans
    /// that report page sizes; the others go through the table loop of
    /// [`Visitor::pte_table`], which selects, reports and protects exactly the same PTEs.
    #[inline(never)]
    fn pte(&mut self, vma: &Vma<'_>, leaf: &Leaf<'_>, addr: usize) -> Flow {
        if self.exclusive_wp() {
            if !pte_uffd_protected(leaf.entry.raw()) {
                self.wp_pte(vma, leaf, addr);
            }
            return Flow::Continue;
        }
        let categories = self.vma_category | self.ctx.pte(vma, addr, leaf);
        if !self.args.masks.matches(categories) {
            return Flow::Continue;
        }
        let categories = self.with_sizes(categories, || size::pte(vma, addr, leaf.entry));
        let mut next = addr + PAGE_SIZE;
        let ret = self.out.output(categories, addr, &mut next);
        if next == addr {
            // Nothing fits any more; the result is `ENOSPC`.
            return self.finish(ret);
        }
        if self.args.wp() && categories & WRITTEN != 0 {
            self.wp_pte(vma, leaf, addr);
        }
        if self.args.clear_soft_dirty() {
            // Reported and cleared under the same PTE-table lock hold: no write in between.
            if let Some(changes) = self.changes.as_deref_mut() {
                softdirty::clear_leaf(changes, vma, leaf, addr, next);
            }
        }
        Flow::Continue
    }

    /// A hole of `vma` (`pagemap_scan_pte_hole`), write-protected by `wp` when the scan
    /// protects what it reports.
    fn vma_hole(
        &mut self,
        vma: &Vma<'_>,
        start: usize,
        end: usize,
        wp: impl FnOnce(usize, usize) -> Result,
    ) -> Flow {
        let categories = self.vma_category | self.ctx.hole(vma);
        if !self.args.masks.matches(categories) {
            return Flow::Continue;
        }
        let categories = self.with_sizes(categories, || size::hole(vma));
        let mut end = end;
        let mut ret = self.out.output(categories, start, &mut end);
        if start == end || !self.args.wp() {
            return self.finish(ret);
        }
        let wp = wp(start, end);
        if wp.is_err() {
            ret = wp;
        }
        self.finish(ret)
    }

    #[inline]
    fn wp_pte(&mut self, vma: &Vma<'_>, leaf: &Leaf<'_>, addr: usize) {
        leaf.pte_make_uffd_wp(vma, addr);
        self.table.first_wp.get_or_insert(addr);
        self.table.last_wp = addr + PAGE_SIZE;
    }

    /// Whether the kernel's fast path for `WRITTEN`-only scans applies to the current VMA:
    /// a uffd-wp VMA, `WRITTEN` the only category required and reported, nothing else
    /// asked. A page is then selected exactly when its entry is not uffd-protected.
    fn written_only(&self) -> bool {
        let m = &self.args.masks;
        self.ctx.uffd_wp
            && m.anyof == 0
            && m.inverted == 0
            && m.all == WRITTEN
            && self.args.return_mask == WRITTEN
    }

    /// The exclusive write-protection of a PTE table (`PM_SCAN_WP_MATCHING` without an
    /// output array): every PTE of `[start, end)` not yet uffd-protected is protected.
    fn wp_ptes(&mut self, vma: &Vma<'_>, ptes: &PteTableLock<'_>, start: usize, end: usize) {
        for (i, raw) in ptes.values(start, end).iter().enumerate() {
            if !pte_uffd_protected(raw) {
                let addr = start.wrapping_add(i << x86::PAGE_SHIFT);
                let leaf = ptes.leaf_of(addr, raw);
                self.wp_pte(vma, &leaf, addr);
            }
        }
    }

    /// The PTEs of `[start, end)` of a locked table, in one loop over their values:
    /// `select` gives the categories of a selected page from its address and value, `None`
    /// for a page not selected; `skip_group`, given for a selection expected to be sparse
    /// (`WRITTEN`-only scans), says from the AND and the OR of a group of values that none
    /// of them is selected (passed over on one test per group instead of one per page;
    /// measured, the groups cost more than they save on a soft-dirty scan of every other
    /// page, and save nothing on one of 1%); with `OR_ONLY`, `skip_group` looks at the OR
    /// alone, which is read with one instruction per entry
    /// ([`crate::walk::mm::table::PteGroup::or`]), and its
    /// AND argument is all ones, not computed. Selected pages are
    /// output in runs ([`Run`]), then write-protected or cleaned as the scan asks, as each
    /// page would be on its own.
    // A function per selection (never inlined into `pte_table`, which would hold all of
    // them): each fits a page of its own (see `Kbuild`), its loop never straddles two.
    #[inline(never)]
    fn select_ptes<const OR_ONLY: bool>(
        &mut self,
        vma: &Vma<'_>,
        ptes: &PteTableLock<'_>,
        start: usize,
        end: usize,
        skip_group: Option<impl Fn(u64, u64) -> bool>,
        select: impl Fn(usize, u64) -> Option<u64>,
    ) -> Flow {
        let key = self.run_key;
        // No run yet: an end no page address equals (they are page-aligned).
        let mut run = Run {
            start: 0,
            end: usize::MAX,
            categories: 0,
        };
        // The address as a counter of its own (no index arithmetic, no overflow branch):
        // under emulation every conditional branch of this loop costs.
        let mut next = start;
        let values = ptes.values(start, end);
        // One page: selected or not, it extends the run or ends it and starts another.
        macro_rules! page {
            ($raw:expr) => {{
                let here = next;
                next = next.wrapping_add(PAGE_SIZE);
                if let Some(categories) = select(here, $raw) {
                    // One test: the page extends the run.
                    if (run.end ^ here) as u64 | ((run.categories ^ categories) & key) == 0 {
                        run.end = next;
                    } else {
                        if run.end != usize::MAX && self.output_run(vma, ptes, run) == Flow::Stop {
                            return Flow::Stop;
                        }
                        run = Run {
                            start: here,
                            end: next,
                            categories,
                        };
                    }
                }
            }};
        }
        let Some(skip_group) = skip_group else {
            for raw in values.iter() {
                page!(raw);
            }
            return self.end_run(vma, ptes, run);
        };
        let (groups, rest) = values.groups();
        // A page the group test passes over on its own value (a group of one) is not
        // selected: it is passed over as a group is, before the selection's call.
        macro_rules! page_of_group {
            ($raw:expr) => {{
                let raw = $raw;
                if skip_group(raw, raw) {
                    next = next.wrapping_add(PAGE_SIZE);
                } else {
                    page!(raw);
                }
            }};
        }
        // The group's address is made from its index where a group is looked into, so
        // that the loop over the groups passed over keeps no address of its own.
        for group in groups {
            let (all, any) = if OR_ONLY {
                (u64::MAX, group.or())
            } else {
                group.and_or()
            };
            if skip_group(all, any) {
                // No page of the group is selected: the run cannot go on past it.
                continue;
            }
            next = start.wrapping_add(values.index_of(&group) << x86::PAGE_SHIFT);
            // Each value read again: the test above only said that one may be selected.
            for raw in group.iter() {
                page_of_group!(raw);
            }
        }
        next = start.wrapping_add((values.len() / GROUP * GROUP) << x86::PAGE_SHIFT);
        for raw in rest {
            page_of_group!(raw);
        }
        self.end_run(vma, ptes, run)
    }

    /// Outputs the last run of a table's loop, if there is one.
    #[inline(always)]
    fn end_run(&mut self, vma: &Vma<'_>, ptes: &PteTableLock<'_>, run: Run) -> Flow {
        if run.end == usize::MAX {
            return Flow::Continue;
        }
        self.output_run(vma, ptes, run)
    }

    /// Outputs a run of selected PTEs; the part that fit is write-protected (what is
    /// `WRITTEN`, for `PM_SCAN_WP_MATCHING`) or cleaned (`RPM_SCAN_CLEAR_SOFT_DIRTY`) in
    /// the same lock hold. Where the output was cut, the walk stops, as the per-page loop
    /// would at the first page that did not fit. Inline in the loop: no call per run.
    #[inline(always)]
    fn output_run(&mut self, vma: &Vma<'_>, ptes: &PteTableLock<'_>, run: Run) -> Flow {
        let mut next = run.end;
        let ret = self.out.output(run.categories, run.start, &mut next);
        if self.args.wp() || self.args.clear_soft_dirty() {
            self.change_run(vma, ptes, run, next);
        }
        // Where nothing fits from `next` on, the result is `ENOSPC`, and the walk stops.
        self.finish(ret)
    }

    /// Write-protects (what is `WRITTEN`, for `PM_SCAN_WP_MATCHING`) or cleans
    /// (`RPM_SCAN_CLEAR_SOFT_DIRTY`) the pages of `run` up to `next`, where its output ended.
    /// Inline in the table's loop: a get-and-clear's runs are mostly of one page, for
    /// which a call's saving and setting up of registers cost as much as the cleaning.
    #[inline(always)]
    fn change_run(&mut self, vma: &Vma<'_>, ptes: &PteTableLock<'_>, run: Run, next: usize) {
        let protect = self.args.wp() && run.categories & WRITTEN != 0;
        let clear = self.args.clear_soft_dirty();
        let pins = self.table.pins;
        let mut addr = run.start;
        while addr < next {
            let leaf = ptes.leaf(addr);
            if protect {
                self.wp_pte(vma, &leaf, addr);
            }
            if clear {
                if let Some(changes) = self.changes.as_deref_mut() {
                    let end = addr + PAGE_SIZE;
                    softdirty::clear_pte_leaf_of_table(changes, vma, &leaf, addr, end, pins);
                }
            }
            addr += PAGE_SIZE;
        }
    }

    /// A huge PMD, present or not (`pagemap_scan_thp_entry`).
    #[inline(always)]
    fn thp(&mut self, vma: &Vma<'_>, leaf: &Leaf<'_>, start: usize, end: usize) -> Flow {
        let categories = self.vma_category | self.ctx.thp(vma, start, leaf.entry);
        if !self.args.masks.matches(categories) {
            return Flow::Continue;
        }
        if self.args.clear_soft_dirty() {
            let budget_end = self.out.budget_end(start, end);
            if budget_end != start && softdirty::splits(vma, leaf, start, budget_end) {
                // Covered in part (range edge or `max_pages`): split before anything is
                // reported, and the PTE pass reports and cleans exactly the part, its
                // pages merged with the region before as any pages are. Reported first
                // and taken back after, the huge page's region (HUGE differs) would
                // leave a boundary.
                return Flow::Split;
            }
        }
        let categories = self.with_sizes(categories, || size::thp(vma, start, leaf.entry));
        let mut end = end;
        let ret = self.out.output(categories, start, &mut end);
        if start != end && self.args.clear_soft_dirty() {
            // Whole (or a file or shmem huge page, kept dirty whole): cleaned as one.
            if let Some(changes) = self.changes.as_deref_mut() {
                softdirty::clear_leaf(changes, vma, leaf, start, end);
            }
            return self.finish(ret);
        }
        if start == end || !self.args.wp() || categories & WRITTEN == 0 {
            return self.finish(ret);
        }
        if end != start + Level::PMD.span() {
            // Only part of the huge page is to be protected: split it and scan it
            // again as PTEs, which reports and protects page by page.
            self.out.backout(start, end);
            return Flow::Split;
        }
        leaf.pmd_make_uffd_wp(vma, start);
        vma.flush_tlb_range(start, end);
        self.finish(ret)
    }

    /// A hugetlb entry (`pagemap_scan_hugetlb_entry`).
    #[inline(never)]
    fn hugetlb(&mut self, vma: &Vma<'_>, leaf: &Leaf<'_>, start: usize, end: usize) -> Flow {
        let categories = self.vma_category | self.ctx.hugetlb(leaf);
        if !self.args.masks.matches(categories) {
            return Flow::Continue;
        }
        let categories = self.with_sizes(categories, || size::hugetlb(vma, leaf.entry));
        let mut end = end;
        let ret = self.out.output(categories, start, &mut end);
        if !self.args.wp() || start == end || categories & WRITTEN == 0 {
            return self.finish(ret);
        }
        if end != start + vma.huge_page_size() {
            // A huge page cannot be protected in part: take it back, note where the
            // scan should resume, and go on.
            self.out.backout(start, end);
            self.out.set_walk_end(start as u64);
            return Flow::Continue;
        }
        leaf.huge_pte_make_uffd_wp(vma, start);
        vma.flush_tlb_range(start, end);
        self.finish(ret)
    }
}

impl Visitor for ScanVisitor<'_, '_> {
    fn vma(&mut self, vma: &Vma<'_>, _start: usize, _end: usize) -> VmaAction {
        let wp_allowed = vma.uffd_wp_async_with_markers();
        if !wp_allowed {
            if self.args.flags & CHECK_WPASYNC != 0 {
                self.ret = Err(EPERM);
                return VmaAction::Stop;
            }
            if self.args.wp() {
                return VmaAction::Skip;
            }
        }
        if vma.is_pfnmap() {
            return VmaAction::Skip;
        }
        let mut category = 0;
        if wp_allowed {
            category |= WPALLOWED;
        }
        if vma.soft_dirty() {
            category |= SOFT_DIRTY;
        }
        if !self.args.masks.vma_matches(category) {
            return VmaAction::Skip;
        }
        self.vma_category = category;
        self.ctx.uffd_wp = vma.uffd_wp();
        self.ctx.uffd_rwp = vma.uffd_rwp();
        self.prefilter = Prefilter::new(&self.args.masks, category);
        VmaAction::Walk
    }

    fn hole(&mut self, vma: Option<&Vma<'_>>, start: usize, end: usize) -> Flow {
        // Gaps between VMAs are never reported.
        let Some(vma) = vma else {
            return Flow::Continue;
        };
        // The walker hands holes of hugetlb VMAs to `hugetlb_hole`, under their lock.
        self.vma_hole(vma, start, end, |start, end| wp::wp_hole(vma, start, end))
    }

    fn hugetlb_hole(&mut self, hlock: &HugetlbVmaLock<'_>, start: usize, end: usize) -> Flow {
        self.vma_hole(hlock.vma(), start, end, |start, end| {
            wp::wp_hugetlb_hole(hlock, start, end)
        })
    }

    // Inline into the walker, with the THP case: one call less per huge PMD.
    #[inline(always)]
    fn leaf(&mut self, vma: &Vma<'_>, leaf: &Leaf<'_>, start: usize, end: usize) -> Flow {
        match leaf.kind {
            LeafKind::Pte => self.pte(vma, leaf, start),
            LeafKind::Thp => self.thp(vma, leaf, start, end),
            LeafKind::Hugetlb => self.hugetlb(vma, leaf, start, end),
        }
    }

    fn pte_table_start(&mut self, vma: &Vma<'_>, _start: usize, _end: usize) {
        self.table = PteTable {
            pins: self.args.clear_soft_dirty() && softdirty::may_pin(vma),
            ..PteTable::default()
        };
    }

    /// One loop over the table's PTE values (`pagemap_scan_pmd_entry`), with the kernel's
    /// fast paths: exclusive write-protection, and `WRITTEN`-only scans, which test one
    /// bit per PTE; otherwise categories computed from the value, after the
    /// [`Prefilter`]. Scans that report page sizes go page by page.
    fn pte_table(
        &mut self,
        vma: &Vma<'_>,
        ptes: &PteTableLock<'_>,
        start: usize,
        end: usize,
    ) -> Flow {
        if self.args.page_sizes() {
            return walk_ptes(vma, ptes, start, end, self);
        }
        if self.exclusive_wp() {
            self.wp_ptes(vma, ptes, start, end);
            return Flow::Continue;
        }
        if self.written_only() {
            let categories = self.vma_category | WRITTEN;
            // A group of present, protected PTEs (the common case) is passed over whole.
            let protected = |all, _| x86::all_present_uffd(all);
            return self.select_ptes::<false>(vma, ptes, start, end, Some(protected), |_, raw| {
                // The common case first: present and protected.
                if x86::pte_present(raw) && x86::uffd(raw) {
                    return None;
                }
                (!pte_uffd_protected(raw)).then_some(categories)
            });
        }
        let (ctx, masks, filter) = (self.ctx, self.args.masks, self.prefilter);
        let vma_category = self.vma_category;
        let categories = move |addr, raw| {
            let categories = vma_category | ctx.pte_raw(vma, addr, raw);
            masks.matches(categories).then_some(categories)
        };
        // The common prefilters get loops of their own, with just their test.
        match filter {
            Prefilter {
                soft_dirty: true,
                unprotected: false,
                present: false,
            } => {
                // One closure per call, each used once: a closure shared by the two
                // calls was compiled out of line, a call per PTE (4x slower).
                if self.args.clear_soft_dirty() {
                    // Get-and-clear: a tracker's steady state, few pages written since
                    // the last call, passed over a group at a time.
                    let clean = |_, any| !x86::pte_maybe_soft_dirty(any);
                    self.select_ptes::<true>(vma, ptes, start, end, Some(clean), |addr, raw| {
                        if !x86::pte_maybe_soft_dirty(raw) {
                            return None;
                        }
                        categories(addr, raw)
                    })
                } else {
                    self.select_ptes::<false>(vma, ptes, start, end, None::<Skip>, |addr, raw| {
                        if !x86::pte_maybe_soft_dirty(raw) {
                            return None;
                        }
                        categories(addr, raw)
                    })
                }
            }
            Prefilter {
                soft_dirty: false,
                unprotected: false,
                present: true,
            } => self.select_ptes::<false>(vma, ptes, start, end, None::<Skip>, |addr, raw| {
                if !x86::pte_present(raw) {
                    return None;
                }
                categories(addr, raw)
            }),
            _ => self.select_ptes::<false>(vma, ptes, start, end, None::<Skip>, |addr, raw| {
                if filter.rejects(raw) {
                    return None;
                }
                categories(addr, raw)
            }),
        }
    }

    /// Only for scans that change PTEs: the mode batches PTE updates (for a paravirtualised
    /// MMU) and has nothing to batch in a scan that only reads them.
    fn lazy_mmu(&self) -> bool {
        self.args.wp() || self.args.clear_soft_dirty()
    }

    fn pte_table_done(&mut self, _vma: &Vma<'_>, _start: usize, _end: usize) {
        // What was protected in the table, from the first protected PTE to the end of the
        // last (not to where the loop ended, as the kernel's scan flushes: a PTE that was
        // not changed has no stale translation), is flushed with the rest once the walk
        // is done, as the clears flush
        // (`clear_refs`, mprotect): under the mmap lock, inside the notifier range and
        // with the flush announced as pending (the caller's [`PteChanges`]),
        // before the ioctl returns. The kernel's scan flushes each table before its lock
        // is dropped; a write through a stale entry meanwhile happens before the call
        // returns either way, so the pages are copied after it.
        if let Some(first) = self.table.first_wp {
            let exit = self.table.last_wp;
            if let Some(changes) = self.changes.as_deref_mut() {
                changes.changed(first, exit);
            }
        }
    }

    fn lock_hugetlb_mapping(&self) -> bool {
        self.args.wp()
    }
}
