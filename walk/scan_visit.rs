// SPDX-License-Identifier: GPL-2.0

//! The PAGEMAP_SCAN walk consumer: which VMAs are walked
//! (`pagemap_scan_test_walk`), and for each hole, PTE, THP and hugetlb entry
//! whether it is selected, reported and write-protected (`pagemap_scan_pte_hole`,
//! `pagemap_scan_pmd_entry`, `pagemap_scan_thp_entry`,
//! `pagemap_scan_hugetlb_entry` in fs/proc/task_mmu.c).

use kernel::prelude::*;

use super::level::Level;
use super::mm::MmapReadLock;
use super::scan_args::{ScanArgs, CHECK_WPASYNC};
use super::scan_category::{Context, FILE, SOFT_DIRTY, WPALLOWED, WRITTEN};
use super::scan_output::Output;
use super::scan_size;
use super::scan_wp;
use super::softdirty::SoftDirtyClearer;
use super::vma::{HugetlbVmaLock, Vma};
use super::x86::PAGE_SIZE;
use super::{Flow, Leaf, LeafKind, Visitor, VmaAction};

/// What happened in the PTE table being walked.
#[derive(Default)]
struct PteTable {
    /// First PTE write-protected in it, if any.
    first_wp: Option<usize>,
    /// Where the loop over its PTEs stopped early, if it did.
    stopped_at: Option<usize>,
}

/// One walk of a scan, from a start address to the end of the range.
pub(crate) struct ScanVisitor<'a> {
    args: &'a ScanArgs,
    out: &'a mut Output,
    /// The walk's result: `ENOSPC` (output full), `EPERM` (`PM_SCAN_CHECK_WPASYNC`),
    /// or the error of write-protecting a hole. The walk stops at the first.
    ret: Result,
    /// Categories every page of the current VMA has (`cur_vma_category`).
    vma_category: u64,
    /// What the current VMA's page categories depend on.
    ctx: Context,
    table: PteTable,
    /// Clears what is reported, for `RPM_SCAN_CLEAR_SOFT_DIRTY`; flushes the TLB for
    /// all of it once, when the visitor is done.
    clearer: SoftDirtyClearer<'a>,
}

impl<'a> ScanVisitor<'a> {
    /// A visitor reporting into `out`, for a walk under `lock`.
    pub(crate) fn new(args: &'a ScanArgs, out: &'a mut Output, lock: &'a MmapReadLock<'_>) -> Self {
        let want_file = (args.masks.all | args.masks.anyof | args.return_mask) & FILE != 0;
        Self {
            args,
            out,
            ret: Ok(()),
            vma_category: 0,
            ctx: Context {
                want_file,
                ..Context::default()
            },
            table: PteTable::default(),
            clearer: SoftDirtyClearer::new(lock),
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

    /// A PTE (the PTE branch of `pagemap_scan_pmd_entry`). The kernel's fast path
    /// for a plain `WRITTEN` scan is not taken separately: with those masks the
    /// generic path selects, reports and protects exactly the same PTEs.
    fn pte(&mut self, vma: &Vma<'_>, leaf: &Leaf<'_>, addr: usize) -> Flow {
        if self.exclusive_wp() {
            let protected = leaf.entry.uffd() || leaf.swp_uffd_any();
            if !protected {
                self.wp_pte(vma, leaf, addr);
            }
            return Flow::Continue;
        }
        let categories = self.vma_category | self.ctx.pte(vma, addr, leaf);
        if !self.args.masks.matches(categories) {
            return Flow::Continue;
        }
        let categories = self.with_sizes(categories, || scan_size::pte(vma, addr, leaf.entry));
        let mut next = addr + PAGE_SIZE;
        let ret = self.out.output(categories, addr, &mut next);
        if next == addr {
            // Nothing fits any more; the result is `ENOSPC`.
            self.table.stopped_at = Some(addr);
            return self.finish(ret);
        }
        if self.args.wp() && categories & WRITTEN != 0 {
            self.wp_pte(vma, leaf, addr);
        }
        if self.args.clear_soft_dirty() {
            // Reported and cleared under the same PTE-table lock hold: no write in between.
            self.clearer.clear_leaf(vma, leaf, addr, next);
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
        let categories = self.with_sizes(categories, || scan_size::hole(vma));
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

    fn wp_pte(&mut self, vma: &Vma<'_>, leaf: &Leaf<'_>, addr: usize) {
        leaf.pte_make_uffd_wp(vma, addr);
        self.table.first_wp.get_or_insert(addr);
    }

    /// A huge PMD, present or not (`pagemap_scan_thp_entry`).
    fn thp(&mut self, vma: &Vma<'_>, leaf: &Leaf<'_>, start: usize, end: usize) -> Flow {
        let categories = self.vma_category | self.ctx.thp(vma, start, leaf.entry);
        if !self.args.masks.matches(categories) {
            return Flow::Continue;
        }
        let categories = self.with_sizes(categories, || scan_size::thp(vma, start, leaf.entry));
        let mut end = end;
        let ret = self.out.output(categories, start, &mut end);
        if start != end && self.args.clear_soft_dirty() {
            // Whole: cleaned as one. In part (range edge or `max_pages`): split, and
            // the PTE pass reports and cleans exactly the part.
            if self.clearer.clear_leaf(vma, leaf, start, end) == Flow::Split {
                self.out.backout(start, end);
                return Flow::Split;
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
    fn hugetlb(&mut self, vma: &Vma<'_>, leaf: &Leaf<'_>, start: usize, end: usize) -> Flow {
        let categories = self.vma_category | self.ctx.hugetlb(leaf);
        if !self.args.masks.matches(categories) {
            return Flow::Continue;
        }
        let categories = self.with_sizes(categories, || scan_size::hugetlb(vma, leaf.entry));
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

impl Visitor for ScanVisitor<'_> {
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
        VmaAction::Walk
    }

    fn hole(&mut self, vma: Option<&Vma<'_>>, start: usize, end: usize) -> Flow {
        // Gaps between VMAs are never reported.
        let Some(vma) = vma else {
            return Flow::Continue;
        };
        // The walker hands holes of hugetlb VMAs to `hugetlb_hole`, under their lock.
        self.vma_hole(vma, start, end, |start, end| {
            scan_wp::wp_hole(vma, start, end)
        })
    }

    fn hugetlb_hole(&mut self, hlock: &HugetlbVmaLock<'_>, start: usize, end: usize) -> Flow {
        self.vma_hole(hlock.vma(), start, end, |start, end| {
            scan_wp::wp_hugetlb_hole(hlock, start, end)
        })
    }

    fn leaf(&mut self, vma: &Vma<'_>, leaf: &Leaf<'_>, start: usize, end: usize) -> Flow {
        match leaf.kind {
            LeafKind::Pte => self.pte(vma, leaf, start),
            LeafKind::Thp => self.thp(vma, leaf, start, end),
            LeafKind::Hugetlb => self.hugetlb(vma, leaf, start, end),
        }
    }

    fn pte_table_start(&mut self, _vma: &Vma<'_>, _start: usize, _end: usize) {
        self.table = PteTable::default();
    }

    fn lazy_mmu(&self) -> bool {
        true
    }

    fn pte_table_done(&mut self, vma: &Vma<'_>, _start: usize, end: usize) {
        // One flush per table for what was protected in it, from the first protected
        // PTE to where the loop ended, before the lock is dropped.
        if let Some(first) = self.table.first_wp {
            let exit = self.table.stopped_at.unwrap_or(end);
            vma.flush_tlb_range(first, exit);
        }
    }

    fn lock_hugetlb_mapping(&self) -> bool {
        self.args.wp()
    }
}
