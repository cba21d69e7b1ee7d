#!/usr/bin/env python3
"""Mutation testing of the module: do the tests catch the bugs they are for?

Usage: mutants.py [--keep] [--check] [--baseline-log LOG] [NAME ...]   (make mutants)

  NAME     run only the named mutants (see MUTANTS below); none: all of them

  --check  only verify that every mutation still applies to the source (fast:
           no build, no boot); run it after changing walk/ to see what to retarget
  --keep   keep each mutant's tree under build/mutants/NAME/src
  --baseline-log LOG  take the unmutated run from LOG (a console of an earlier
           baseline run of the same tree) instead of booting it again

Every boot takes the machine-wide QEMU lock (/tmp/rpm-qemu.lock) itself, one
guest at a time; do not run this script under that lock (it would wait for itself).

Each mutant below is one exact text substitution in the module's source.
For each, in turn: the tree is copied, the substitution applied (it must
match exactly `count` times, or the mutant no longer applies and the run
fails: retarget it), the module rebuilt against the cached debug test kernel
(the performance kernel when a killer is a block that runs only there,
PERF_ONLY: CRIU), and the guest booted (5-level paging) with only the selftest
binaries of the tests named in `killers`, in the environment make check gives
its debug boots (the counts of qemu/verdict/run.sh's debug_append), and with the
blocks of other people's programs that qemu/guest/guest-others.sh runs when a
killer names one (OTHERS: bdwgc's gctest and CRIU's checkpoint and restore
through the redirect library; with no selftest among the killers the guest gets
rpm.tests=none and runs none). The mutant is killed when
at least one of those tests reports `not ok`, or the kernel prints a report
(WARNING, BUG, KASAN, lockdep) while one of those binaries runs; it survives
when every one of them passed; it is unknown (and the run fails) when one
never reported without a kernel report to explain it. A SKIP kills nothing. A mutant of a file whose code
runs differently under 5- and 4-level paging (MODE_DEPENDENT) boots both modes.
First the unmutated tree is run the same way with all the named binaries, in
every mode a mutant needs: a test that already fails cannot kill anything, and a
kernel report in that run fails the whole run before any mutant.

A mutant may be marked `equivalent` only with a check that proves it cannot
change behaviour on the test kernel (see the mmu_notifier one); when the
check does not hold, the mutant is run like any other.

Prints `mutants: K killed, S survived` (and equivalent and stale counts);
exits non-zero if any survived, no longer applies, does not build, or the
baseline fails.

Retargeting after the code changed: each mutant names a file, the exact text
(`old`) and its replacement (`new`); find the new spelling of the same
statement and update `old`/`new`. Keep the substitution minimal: it should
remove or change exactly the one behaviour the mutant's name says.
"""
import os
import re
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
QEMU_DIR = os.path.dirname(HERE)
TOP = os.path.dirname(QEMU_DIR)
BUILD = os.path.join(TOP, "build", "mutants")

RACE = "softdirty_race"

# What checks a clear against /proc's reading right after it (issue 24): the fuzz's
# device-only calls, and the model's test of clean after every clear.
CLEAR_KILLERS = ["fuzz:global.fuzz_device_against_proc_as_root_and_nobody",
                 "softdirty_model:model.cleared_pages_read_clean_and_others_unchanged"]

# One guest at a time, machine-wide (as qemu/bench/bench.sh and the guest runs of make check).
QEMU_LOCK = "/tmp/rpm-qemu.lock"

MUTANTS = [
    {
        "name": "clear-no-tlb-flush",
        "what": "the TLB flush after write-protecting soft-dirty PTEs (one per clear) is gone",
        "file": "walk/mm/change.rs",
        "old": "self.lock.flush_tlb_range(start, end);",
        "new": "let _ = (start, end);",
        "killers": [f"{RACE}:race.anon.get_and_clear_reports_exactly_the_writes",
                    f"{RACE}:race.anon.ranged_clear_loses_no_write",
                    f"{RACE}:race.shmem.whole_clear_loses_no_write"],
    },
    {
        "name": "clear-flush-misses-last-page",
        "what": "the TLB flush after a clear ends a page early: the last page changed stays cached",
        # Invisible when more than 33 pages changed: x86 flushes the whole mm then.
        "file": "walk/mm/change.rs",
        "old": "self.lock.flush_tlb_range(start, end);",
        "new": "self.lock.flush_tlb_range(start, end - 4096);",
        "killers": [f"{RACE}:race.anon.ranged_clear_of_few_pages_loses_no_write",
                    f"{RACE}:race.anon.get_and_clear_of_few_dirty_pages_reports_exactly_the_writes"],
    },
    {
        "name": "vm-page-prot-stale",
        "what": "clearing VM_SOFTDIRTY leaves vm_page_prot as it was: shared pages map writable",
        # A write to a page mapped after the clear does not fault; only a clean folio
        # (a new shmem page read in) gets a writable PTE without the dirty bits.
        "file": "walk/mm/vma.rs",
        "old": "            bindings::vm_flags_clear(self.as_ptr(), flags::SOFTDIRTY);\n"
               "            bindings::vma_set_page_prot(self.as_ptr());",
        "new": "            bindings::vm_flags_clear(self.as_ptr(), flags::SOFTDIRTY);",
        "killers": [f"{RACE}:race.shmem_hole_read.get_and_clear_reports_exactly_the_writes",
                    f"{RACE}:race.shmem_hole_read.ranged_clear_loses_no_write",
                    f"{RACE}:race.shmem_hole_read.whole_clear_loses_no_write"],
    },
    {
        "name": "wp-no-mmu-notifier",
        "what": "the MMU_NOTIFY_PROTECTION_VMA range around a write-protecting scan is gone",
        # The change bracket neither starts nor ends the range of this event.
        "file": "walk/mm/change.rs",
        "old": "            bindings::mmu_notifier_invalidate_range_start(&mut range);",
        "new": "            if event != NotifyEvent::ProtectionVma {\n"
               "                bindings::mmu_notifier_invalidate_range_start(&mut range);\n"
               "            }",
        "also": [("walk/mm/change.rs",
                  "unsafe { bindings::mmu_notifier_invalidate_range_end(&mut self.range) };",
                  "if self.range.event\n"
                  "            != bindings::mmu_notifier_event_MMU_NOTIFY_PROTECTION_VMA\n"
                  "        {\n"
                  "            unsafe { bindings::mmu_notifier_invalidate_range_end(&mut self.range) };\n"
                  "        }")],
        "equivalent_if_unset": "CONFIG_MMU_NOTIFIER",
        "killers": ["softdirty_notifier:mirror.device_write_after_wp_scan_is_seen"],
    },
    {
        "name": "wp-no-tlb-flush",
        "what": "the PTEs a scan uffd-write-protects are never flushed from the TLB",
        "file": "walk/scan/visit.rs",
        "old": "changes.changed(first, exit);",
        "new": "let _ = (&changes, first, exit);",
        "killers": [f"{RACE}:race.anon.wp_scan_reports_exactly_the_writes",
                    f"{RACE}:race.shmem.wp_scan_reports_exactly_the_writes"],
    },
    {
        "name": "clear-no-mmu-notifier",
        "what": "the MMU_NOTIFY_SOFT_DIRTY range around the clear is never started nor ended",
        # The change bracket neither starts nor ends the range of this event.
        "file": "walk/mm/change.rs",
        "old": "            bindings::mmu_notifier_invalidate_range_start(&mut range);",
        "new": "            if event != NotifyEvent::SoftDirty {\n"
               "                bindings::mmu_notifier_invalidate_range_start(&mut range);\n"
               "            }",
        "also": [("walk/mm/change.rs",
                  "unsafe { bindings::mmu_notifier_invalidate_range_end(&mut self.range) };",
                  "if self.range.event != bindings::mmu_notifier_event_MMU_NOTIFY_SOFT_DIRTY {\n"
                  "            unsafe { bindings::mmu_notifier_invalidate_range_end(&mut self.range) };\n"
                  "        }")],
        # Without CONFIG_MMU_NOTIFIER the start and end calls are empty inlines: no secondary
        # MMU can exist, so nothing can observe the difference. Checked, not assumed.
        "equivalent_if_unset": "CONFIG_MMU_NOTIFIER",
        "killers": ["softdirty_notifier:mirror.device_write_after_get_and_clear_is_seen",
                    "softdirty_notifier:mirror.device_write_after_ranged_clear_is_seen",
                    "softdirty_notifier:mirror.device_write_after_whole_clear_is_seen"],
    },
    {
        "name": "thp-soft-dirty-kept",
        "what": "clearing a huge PMD write-protects it but leaves its soft-dirty bit",
        "file": "walk/mm/modify.rs",
        "old": "new = bindings::pmd_clear_soft_dirty(bindings::pmd_wrprotect(new));",
        "new": "new = bindings::pmd_wrprotect(new);",
        "killers": [f"{RACE}:race.thp.get_and_clear_reports_exactly_the_writes",
                    f"{RACE}:race.thp.whole_clear_loses_no_write",
                    "softdirty_clear:sd.thp_whole_clear_keeps_the_huge_page"],
    },
    {
        "name": "pfn-shown-to-all",
        "what": "frame numbers are shown whatever the opener's credentials",
        "file": "walk/pagemap/mod.rs",
        "old": "KBox::new(PagemapReader::new(show_pfn), GFP_KERNEL)?",
        "new": "KBox::new(PagemapReader::new(show_pfn || true), GFP_KERNEL)?",
        "killers": ["pagemap_attach:global.unprivileged_reader_never_sees_a_frame"],
    },
    {
        "name": "vm-softdirty-left-set",
        "what": "a clear leaves VM_SOFTDIRTY set on the VMAs it covers",
        "file": "walk/softdirty/vmas.rs",
        "old": "part.clear_soft_dirty_flag(lock);",
        "new": "let _ = &part;",
        "killers": [f"{RACE}:race.anon.get_and_clear_reports_exactly_the_writes",
                    f"{RACE}:race.anon.whole_clear_loses_no_write",
                    "softdirty_clear:sd.untouched_pages_in_range_read_clean"],
    },
    {
        "name": "clear-right-unchecked",
        "what": "every binding may clear soft-dirty, whatever clear_refs would allow its binder",
        "file": "walk/access.rs",
        "old": "        if self.clear {\n            Ok(())",
        "new": "        if self.clear || true {\n            Ok(())",
        "killers": ["clear_rights:rights.dac_read_search_and_perfmon_to_root."
                    "clears_allowed_iff_proc_clear_refs_opens",
                    "clear_rights:passed.get_and_clear."
                    "unprivileged_bound_fd_passed_by_scm_rights_to_root_gets_eperm",
                    "clear_rights:self_open.nobody_not_dumpable_dac_read_search."
                    "clears_allowed_iff_proc_self_clear_refs_opens"],
    },
    {
        "name": "pinned-page-cleaned-state-kept",
        "what": "a pinned page the clear must leave writable is left clean, not marked dirty",
        "file": "walk/mm/modify.rs",
        "old": "if self.entry.kind() != Kind::Present || self.entry.soft_dirty() {",
        "new": "if self.entry.kind() != Kind::Present || self.entry.soft_dirty() || true {",
        "killers": ["softdirty_edges:pinned.clear_range."
                    "pinned_writable_clean_page_reads_dirty_until_unpinned",
                    "softdirty_edges:pinned.clear_all."
                    "pinned_writable_clean_page_reads_dirty_until_unpinned",
                    "softdirty_edges:pinned.get_and_clear."
                    "pinned_writable_clean_page_reads_dirty_until_unpinned"],
    },
    {
        "name": "pte-lock-dropped",
        "what": "a PTE table is walked (and its entries modified) with its lock released "
                "right after it was taken (re-taken only to release it at the end)",
        "file": "walk/mm/table.rs",
        "old": "        NonNull::new(pte).map(|first| Self {",
        "new": "        if !pte.is_null() {\n"
               "            unsafe { bindings::spin_unlock(ptl) };\n"
               "        }\n"
               "        NonNull::new(pte).map(|first| Self {",
        "also": [("walk/mm/table.rs",
                  "unsafe { bindings::pte_unmap_unlock(self.first.as_ptr(), self.ptl) };",
                  "unsafe { bindings::spin_lock(self.ptl); "
                  "bindings::pte_unmap_unlock(self.first.as_ptr(), self.ptl) };")],
        "killers": [f"{RACE}:global.wp_scan_racing_zaps_loses_no_write",
                    "softdirty_clear:sd.write_after_clear_reads_dirty"],
    },
    # Page-table locks dropped early (issue 24): a race must hit the narrow window between
    # the release and the change to show it, which under TCG it does not (pmd-lock-dropped
    # survived 200 zap cycles); the wrappers' lockdep assertion (HeldLock, walk/mm/table.rs)
    # reports the first change made without the lock, so any test that makes one kills them
    # on the debug kernel.
    {
        "name": "pmd-lock-dropped",
        "what": "a huge PMD is read and changed with its lock released right after it was "
                "taken (re-taken only to release it at the end)",
        "file": "walk/mm/table.rs",
        "old": "        // INVARIANT: `pmd_lock` returns with the lock held.\n        Self { pmd, ptl }",
        "new": "        unsafe { bindings::spin_unlock(ptl) };\n        Self { pmd, ptl }",
        "also": [("walk/mm/table.rs",
                  "impl Drop for PmdLock<'_> {\n    fn drop(&mut self) {\n"
                  "        // SAFETY: `ptl` is held (type invariant) and released once, here.\n"
                  "        unsafe { bindings::spin_unlock(self.ptl) };",
                  "impl Drop for PmdLock<'_> {\n    fn drop(&mut self) {\n"
                  "        unsafe { bindings::spin_lock(self.ptl) };\n"
                  "        unsafe { bindings::spin_unlock(self.ptl) };")],
        "killers": ["softdirty_clear:sd.thp_whole_clear_keeps_the_huge_page",
                    "softdirty_contract:sdc.get_and_clear_of_whole_thp_reports_and_cleans_it",
                    "pagemap_scan_flags:scan.wp_whole_thp_keeps_it_huge"],
    },
    {
        "name": "huge-pte-lock-dropped",
        "what": "a hugetlb entry is read and write-protected with its huge-PTE lock released "
                "right after it was taken (re-taken only to release it at the end)",
        "file": "walk/mm/table.rs",
        "old": "        // INVARIANT: `vma_huge_pte_lock` returns with the entry's lock held.\n"
               "        Self { slot, mm, ptl }",
        "new": "        unsafe { bindings::spin_unlock(ptl) };\n        Self { slot, mm, ptl }",
        "also": [("walk/mm/table.rs",
                  "impl Drop for HugePteLock<'_> {\n    fn drop(&mut self) {\n"
                  "        // SAFETY: `ptl` is held (type invariant) and released once, here.\n"
                  "        unsafe { bindings::spin_unlock(self.ptl) };",
                  "impl Drop for HugePteLock<'_> {\n    fn drop(&mut self) {\n"
                  "        unsafe { bindings::spin_lock(self.ptl) };\n"
                  "        unsafe { bindings::spin_unlock(self.ptl) };")],
        "killers": ["pagemap_scan_flags:scan.wp_whole_hugetlb_page"],
    },
    {
        "name": "exclusive-bit-zero",
        "what": "PM_MMAP_EXCLUSIVE is never set on a PTE",
        "file": "walk/pagemap/mod.rs",
        "old": "if page.mapped_exclusively_with(None) {",
        "new": "if page.mapped_exclusively_with(None) && false {",
        "also": [("walk/pagemap/mod.rs",
                  "if page.mapped_exclusively_with(Some(facts.entire)) {",
                  "if page.mapped_exclusively_with(Some(facts.entire)) && false {")],
        "killers": ["pagemap_read_diff:mapped.anon_private_written.reads_same",
                    "pagemap_read_diff:diff.after_fork_cow_break_exclusive"],
    },
    {
        "name": "walk-skips-last-pte",
        "what": "the PTE loops stop one entry early, skipping the last PTE of every table "
                "(the read's raw loop then reports it as empty)",
        "file": "walk/mm/table.rs",
        "old": "let count = end.saturating_sub(start) >> super::x86::PAGE_SHIFT;",
        "new": "let count = (end.saturating_sub(start) >> super::x86::PAGE_SHIFT).saturating_sub(1);",
        "also": [("walk/walker/mod.rs",
                  "    while addr < end {\n        let leaf = ptes.leaf(addr);",
                  "    while addr + x86::PAGE_SIZE < end {\n        let leaf = ptes.leaf(addr);")],
        "killers": ["pagemap_read_diff:mapped.anon_private_written.reads_same",
                    "pagemap_read_diff:diff.heap"],
    },
    {
        "name": "wp-leaves-writable",
        "what": "a PTE a scan write-protects in place gets the uffd bit but stays writable: "
                "a later write takes no fault and the page keeps reading protected",
        "file": "walk/mm/x86.rs",
        "old": "    pte_wrprotect(raw | UFFD)",
        "new": "    raw | UFFD",
        "killers": [f"{RACE}:race.anon.wp_scan_reports_exactly_the_writes",
                    f"{RACE}:race.shmem.wp_scan_reports_exactly_the_writes"],
    },
    {
        "name": "range-end-at-top-refused",
        "what": "a ranged clear whose end is the top of user space (TASK_SIZE) gets EINVAL",
        "file": "rust_pagemap.rs",
        "old": "end > walk::mm::lock::task_size(&mm)",
        "new": "end >= walk::mm::lock::task_size(&mm)",
        "killers": ["softdirty_clear:sd.range_ending_at_the_top_of_user_space_is_valid"],
    },
    # Where the suite was weakest (issue 24): hugetlb, huge-page frames, swap types,
    # credentials, undo paths, uffd-wp markers, max_pages cuts, page sizes.
    {
        "name": "hugetlb-pmd-share-ignored",
        "what": "a hugetlb page mapped through a shared PMD table reads exclusive",
        "file": "walk/pagemap/mod.rs",
        "old": "if !page.folio_maybe_mapped_shared() && !leaf.hugetlb_pmd_shared() {",
        "new": "if !page.folio_maybe_mapped_shared() {",
        "killers": ["pagemap_read_huge:huge.hugetlb_page_in_a_shared_pmd_table_reads_like_proc"],
    },
    {
        "name": "nonpresent-page-read-exclusive",
        "what": "a device-private or migration entry reads PM_MMAP_EXCLUSIVE when its page is",
        "file": "walk/pagemap/mod.rs",
        "old": "if flags & PM_PRESENT != 0 && page.mapped_exclusively() {",
        "new": "if page.mapped_exclusively() {",
        "killers": ["pagemap_read_migration:global.entries_of_migrating_pages_read_right_while_writers_wait"],
    },
    {
        "name": "hugetlb-pfn-shown-to-all",
        "what": "a hugetlb page's frame is shown to a reader without CAP_SYS_ADMIN (the "
                "frame step stays 0, so every entry of the page shows its first frame); "
                "only hugetlb entries change, the PTE and THP paths still hide frames",
        "file": "walk/pagemap/mod.rs",
        "old": "frame = shown(self.show_pfn, entry.pfn() + idx);",
        "new": "frame = shown(true, entry.pfn() + idx);",
        "killers": ["pagemap_read_huge:huge.unprivileged_reader_sees_no_frame_in_hugetlb"],
    },
    {
        "name": "thp-pfn-steps-shown-to-all",
        "what": "the frame step of a huge PMD (and of the rare non-present PTEs) is kept when "
                "frames are hidden: an unprivileged reader of a THP sees frames 0, 1, ... 511 "
                "(the first entry still reads 0, so a check of one entry misses it)",
        "file": "walk/pagemap/mod.rs",
        "old": "(frame | flags, if show_pfn { step } else { 0 })",
        "new": "(frame | flags, step)",
        "killers": ["pagemap_read_huge:huge.unprivileged_reader_sees_no_frame_in_thp"],
    },
    {
        "name": "dac-read-search-may-clear",
        "what": "CAP_DAC_READ_SEARCH is taken to override the owner check for clear_refs "
                "(mode 0200, written) as it does for pagemap (mode 0400, read): a reader "
                "with it may clear soft-dirty, which /proc/PID/clear_refs would refuse",
        "file": "walk/access.rs",
        "old": "|| (access == Access::Read && caller.ns_capable(bindings::CAP_DAC_READ_SEARCH)))",
        "new": "|| (matches!(access, Access::Read | Access::Write)\n"
               "                && caller.ns_capable(bindings::CAP_DAC_READ_SEARCH)))",
        "killers": ["clear_rights:rights.dac_read_search_to_nondumpable_nobody."
                    "clears_allowed_iff_proc_clear_refs_opens",
                    "clear_rights:self_open.nobody_not_dumpable_dac_read_search."
                    "clears_allowed_iff_proc_self_clear_refs_opens"],
    },
    {
        "name": "fsuid-read-as-euid",
        "what": "the caller's owner check compares its effective uid, not its filesystem "
                "uid (what generic_permission uses): a root process that set its fsuid to "
                "nobody still opens its own device as owner, where /proc/self/pagemap "
                "gives EACCES",
        "file": "walk/mm/task.rs",
        "old": "((*(*current).cred).fsuid, (*(*current).cred).user_ns)",
        "new": "((*(*current).cred).euid, (*(*current).cred).user_ns)",
        "killers": ["attach_fsuid:global.fsuid_not_owner_opens_self_iff_proc_self_pagemap_opens"],
    },
    {
        "name": "consume-enomem-not-undone",
        "what": "a ranged clear whose split fails with ENOMEM at vm.max_map_count leaves "
                "VM_SOFTDIRTY consumed on the VMAs before the failing one: a page written "
                "through a PTE left writable there reads clean after a failed call",
        "file": "walk/softdirty/vmas.rs",
        "old": "set_vma_flags(lock, start, from);",
        "new": "let _ = (start, from);",
        "killers": ["softdirty_contract:sdc.failed_ranged_clear_changes_nothing"],
    },
    {
        "name": "swap-type-dropped",
        "what": "a swapped-out PTE's pagemap frame leaves out the swap type (bits 0-4): "
                "equivalent with one swap device (type 0), wrong on any other",
        "file": "walk/pagemap/mod.rs",
        "old": "let frame = ty | (offset << SWAP_TYPE_BITS);",
        "new": "let frame = offset << SWAP_TYPE_BITS;",
        "killers": ["pagemap_read_swap_types:swap2.second_swap_device_reads_like_proc"],
    },
    {
        "name": "hugetlb-wp-cut-walk-end-lost",
        "what": "a write-protecting scan that may protect only part of a hugetlb page backs "
                "it out but does not set walk_end to it: the caller resumes past the page "
                "and never protects it",
        "file": "walk/scan/visit.rs",
        "old": "            self.out.set_walk_end(start as u64);\n",
        "new": "",
        "killers": ["pagemap_scan_flags:scan.wp_part_of_hugetlb_page_is_skipped_with_walk_end_at_it"],
    },
    {
        "name": "hugetlb-wp-no-tlb-flush",
        "what": "a hugetlb entry a scan uffd-write-protects is never flushed from the TLB: "
                "a writer keeps its writable translation of the 2 MiB or 1 GiB page",
        "file": "walk/scan/visit.rs",
        "old": "        leaf.huge_pte_make_uffd_wp(vma, start);\n        vma.flush_tlb_range(start, end);\n",
        "new": "        leaf.huge_pte_make_uffd_wp(vma, start);\n",
        "killers": [f"{RACE}:race.hugetlb.wp_scan_reports_exactly_the_writes",
                    f"{RACE}:global.hugetlb_1g_wp_scan_reports_exactly_the_writes"],
    },
    {
        "name": "hugetlb-hole-written",
        "what": "a hole of a hugetlb VMA registered for uffd-wp is categorized WRITTEN, as a "
                "hole of any other uffd-wp VMA is (pagemap_scan_pte_hole leaves hugetlb out)",
        "file": "walk/scan/category.rs",
        "old": "if self.uffd_wp && !vma.is_hugetlb() {",
        "new": "let _ = vma;\n        if self.uffd_wp {",
        "killers": ["pagemap_scan_categories:cat.written_not_on_hugetlb_hole.scan"],
    },
    {
        "name": "hugetlb-marker-uffd-wp-lost",
        "what": "a uffd-wp marker in a hugetlb entry (a write-protected huge page never "
                "faulted in) reads without PM_UFFD_WP in the pagemap",
        "file": "walk/pagemap/mod.rs",
        "old": "if leaf.swp_uffd_any() {",
        "new": "if leaf.swp_uffd_any() && false {",
        "killers": ["pagemap_read_huge:huge.hugetlb_uffd_wp_marker_reads_like_proc"],
    },
    {
        "name": "hugetlb-size-is-pmd",
        "what": "RPM_SCAN_PAGE_SIZES gives every hugetlb entry the PMD's size (21): right "
                "for 2 MiB pages, wrong for a present 1 GiB page (30)",
        "file": "walk/scan/size.rs",
        "old": "encode(vma.huge_page_shift(), folio)",
        "new": "{\n        let _ = vma;\n        encode(Level::PMD.shift(), folio)\n    }",
        "killers": ["pagemap_scan_sizes:sizes.hugetlb_1g_present"],
    },
    {
        "name": "gac-thp-max-pages-not-split",
        "what": "get-and-clear checks only the range, not the max_pages budget, before "
                "deciding to split a THP: a THP cut by max_pages is reported as a HUGE "
                "region of part of it, and left dirty (clear_leaf refuses the part)",
        "file": "walk/scan/visit.rs",
        "old": "let budget_end = self.out.budget_end(start, end);",
        "new": "let budget_end = end;",
        "killers": ["softdirty_contract:sdc.get_and_clear_cut_by_max_pages_inside_thp_reports_one_region"],
    },
    {
        "name": "gac-thp-left-dirty",
        "what": "get-and-clear reports a huge PMD it covers whole and leaves it dirty: "
                "the next call reports its 512 pages again, unwritten",
        "file": "walk/scan/visit.rs",
        "old": "                softdirty::clear_leaf(changes, vma, leaf, start, end);",
        "new": "                let _ = (changes, vma, leaf);",
        "killers": ["softdirty_contract:sdc.get_and_clear_of_whole_thp_reports_and_cleans_it"],
    },
    {
        "name": "gac-copy-out-failure-not-redirtied",
        "what": "a get-and-clear whose copy-out of regions fails after the walk (the array "
                "turned read-only meanwhile) returns EFAULT without putting VM_SOFTDIRTY "
                "back: the pages it cleaned and never reported read clean",
        "file": "walk/scan/get_and_clear.rs",
        "old": "                softdirty::redirty(mm, walk_start, args.end);\n",
        "new": "",
        "killers": ["softdirty_contract:sdc.get_and_clear_whose_array_turns_read_only_loses_no_write"],
    },
    {
        "name": "ksm-folio-read-as-file",
        "what": "a folio is taken for anonymous only when its mapping's low bits are "
                "exactly FOLIO_MAPPING_ANON (anonymous and not KSM): a KSM page reads "
                "PM_FILE and PAGE_IS_FILE",
        "file": "walk/mm/page.rs",
        "old": "mapping as usize & FOLIO_MAPPING_ANON != 0",
        "new": "mapping as usize & 0x3 == FOLIO_MAPPING_ANON",
        "killers": ["pagemap_read_ksm:ksm.ksm_page.entries_read_same_as_proc",
                    "pagemap_read_ksm:ksm.ksm_page.scan_categories_same_as_proc"],
    },
    {
        "name": "scan-walk-end-fault-ignored",
        "what": "PAGEMAP_SCAN ignores a failure to write walk_end back: it returns the "
                "regions instead of EFAULT, and the caller cannot know where the walk ended",
        "file": "walk/scan/mod.rs",
        "old": "ScanArgs::write_walk_end(uarg, out.walk_end()).map_err(|_| EFAULT)?;",
        "new": "let _ = ScanArgs::write_walk_end(uarg, out.walk_end());",
        "killers": ["pagemap_scan_flags:scan.unwritable_walk_end_is_efault_after_the_scan_was_done"],
    },
    {
        "name": "uffd-wp-marker-written",
        "what": "a non-present PTE's uffd-wp state (swap bit or marker) is not looked at: "
                "uffd-wp markers and protected swap entries are categorized WRITTEN",
        "file": "walk/scan/category.rs",
        "old": "let mut c = SWAPPED | self.unprotected(pte_swp_uffd_any(raw));",
        "new": "let mut c = SWAPPED | self.unprotected(false);",
        "killers": ["pagemap_scan_categories:cat.written_not_on_uffd_wp_marker.scan"],
    },
    # Other people's programs as killers (OTHERS below): a tracker that depends on the
    # device, not a test of ours.
    {
        "name": "clear-leaves-pte-writable",
        "what": "a clear cleans a present PTE's soft-dirty bit but leaves the PTE writable: "
                "the next write to the page takes no fault and the page keeps reading clean",
        "file": "walk/mm/modify.rs",
        "old": "        self.update(seen, x86::pte_clean_wrprotect);",
        "new": "        self.update(seen, |v| v & !(1u64 << 11));",
        "also": [("walk/mm/modify.rs",
                  ".update(self.entry.raw(), x86::pte_clean_wrprotect);",
                  ".update(self.entry.raw(), |v| v & !(1u64 << 11));"),
                 ("walk/mm/modify.rs",
                  "let new = bindings::pte_clear_soft_dirty(bindings::pte_wrprotect(old));",
                  "let new = bindings::pte_clear_soft_dirty(old);")],
        "killers": ["bdwgc:gctest.incremental_soft_dirty_through_device",
                    "criu:criu.restored_and_verified_through_device"],
    },
    # Clears that clean too little (issue 24): each passed the fuzz and
    # model.never_a_false_clean while they checked only "written => reads dirty" and twin
    # against twin; /proc's reading right after the clear (and /proc's own whole clear on
    # the same memory) shows what was left dirty. None leaves a writable clean entry (that
    # would be a false clean, which the model always caught): they leave too much dirty.
    {
        "name": "clear-keeps-shared-thp",
        "what": "ranged and whole clears pass over a file or shmem huge PMD even when they "
                "cover it whole: it keeps reading dirty",
        "file": "walk/softdirty/clear.rs",
        "old": "        clear_leaf(self.changes, vma, leaf, start, end)\n",
        "new": "        if leaf.kind == LeafKind::Thp && !vma.is_anonymous() {\n"
               "            return Flow::Continue;\n"
               "        }\n"
               "        clear_leaf(self.changes, vma, leaf, start, end)\n",
        "killers": CLEAR_KILLERS,
    },
    {
        "name": "clear-keeps-wrprotected-shared-sd",
        "what": "ranged and whole clears take a present, write-protected PTE of a file or "
                "shmem VMA for clean already: its soft-dirty bit stays",
        "file": "walk/softdirty/clear.rs",
        "old": "            if x86::pte_clear_is_noop(raw) {\n",
        "new": "            if x86::pte_clear_is_noop(raw)\n"
               "                || (x86::pte_present(raw) && !x86::writable(raw) && !vma.is_anonymous())\n"
               "            {\n",
        "killers": CLEAR_KILLERS,
    },
    {
        "name": "gac-keeps-sd-of-wrprotected",
        "what": "get-and-clear cleans only the writable PTEs it reports: a reported "
                "write-protected page keeps its soft-dirty bit",
        "file": "walk/scan/visit.rs",
        "old": "            if clear {\n                if let Some(changes)",
        "new": "            if clear && leaf.entry.writable() {\n                if let Some(changes)",
        "killers": CLEAR_KILLERS,
    },
    {
        "name": "ranged-clear-last-page-kept",
        "what": "a ranged clear walks its range but for the last page, whose entry keeps "
                "its soft-dirty bit (VM_SOFTDIRTY is consumed for all of the range)",
        "file": "walk/softdirty/mod.rs",
        "old": "    walk(&lock, start, end, &mut Clearer::new(&mut changes));",
        "new": "    let end = if range.is_some() && end > start { end - 4096 } else { end };\n"
               "    walk(&lock, start, end, &mut Clearer::new(&mut changes));",
        "killers": CLEAR_KILLERS,
    },
    {
        "name": "gac-cleans-first-page-of-run",
        "what": "get-and-clear reports a run of PTEs but cleans only the first page of it: "
                "the others were reported and keep reading dirty",
        "file": "walk/scan/visit.rs",
        "old": "            if clear {\n                if let Some(changes)",
        "new": "            if clear && addr == run.start {\n                if let Some(changes)",
        "killers": CLEAR_KILLERS,
    },
]

# Killers that are not selftest binaries: a block of qemu/guest/guest-others.sh
# (RPM-BEGIN NAME ... RPM-END NAME), named "BLOCK:TEST" like a binary's test, and the
# rpm.others= item that makes the guest run it. Such a boot carries the overlay
# qemu/guest/build-others.sh builds (the redirect library, the programs, their loader
# and libc).
OTHERS = {"bdwgc": "gctest", "criu": "criu"}
# Blocks that run only on the performance kernel (CRIU: the namespaces,
# networking and nf_tables it needs are in kernel-perf.config only). A mutant
# with such a killer is built against that kernel and boots it, and so is its
# baseline; the others boot the debug kernel.
PERF_ONLY = {"criu"}

COPY = ["Kbuild", "Makefile", "rust_pagemap.rs", "walk", "uapi", "qemu"]


def log(msg):
    print(f"[mutants] {msg}", file=sys.stderr, flush=True)


def sh(args, **kw):
    return subprocess.run(args, check=True, text=True, **kw)


def copy_tree(tree):
    """A copy of the module's sources and scripts at `tree`, for a build of its own."""
    shutil.rmtree(tree, ignore_errors=True)
    os.makedirs(tree)
    for item in COPY:
        src = os.path.join(TOP, item)
        if os.path.isdir(src):
            shutil.copytree(src, os.path.join(tree, item),
                            ignore=shutil.ignore_patterns("*.o", "*.cmd", "*.d", "*.rmeta",
                                                          "*.mod", "*.mod.c", "*.ko",
                                                          "__pycache__", "uapi_generated.rs"))
        else:
            shutil.copy2(src, os.path.join(tree, item))


def apply(tree, file, old, new, count=1):
    """Apply one substitution in `tree`; returns an error text or None."""
    path = os.path.join(tree, file)
    try:
        text = open(path).read()
    except OSError as e:
        return f"{file}: {e}"
    found = text.count(old)
    if found != count:
        return f"{file}: the text to mutate occurs {found} times, not {count}: retarget it"
    open(path, "w").write(text.replace(old, new))
    return None


TAP = re.compile(r"^(?:\[\s*\d+\.\d+\]\s*)?(ok|not ok) \d+ (\S+)")
# A kernel report (WARNING, BUG, KASAN, lockdep, ...) while a named binary runs kills as
# well: `make check` fails on it. The patterns are the verdict parser's own.
sys.path.insert(0, HERE)
try:
    from parse_log import SPLATS
except ImportError:  # the parser changed shape: the essentials
    SPLATS = [("report", re.compile(r"\bBUG:|\bWARNING:|\bKASAN\b|\bOops\b|bad unlock balance|"
                                    r"possible circular locking|general protection fault"))]
SPLAT = "<kernel report>"


def results(log_text):
    """{binary: {test: 'ok'|'not ok'|'skip'}} from a guest console: the
    installed kselftest runner's KTAP, each program between
    `# selftests: rust_pagemap: NAME` and its own result line, its TAP
    nested under a "# " prefix; and the blocks of guest-others.sh, between
    `RPM-BEGIN NAME` and `RPM-END NAME`, their TAP not nested."""
    out, binary, block = {}, None, False
    start = re.compile(r"^# selftests: \S+: (\S+)\s*$")
    end = re.compile(r"^(not ok|ok) \d+ selftests: \S+: (\S+)")
    for raw in log_text.replace("\r", "").split("\n"):
        if binary and any(p.search(raw) for _, p in SPLATS):
            out[binary][SPLAT] = raw.strip()[:160]
        line = re.sub(r"^\[\s*\d+\.\d+\]\s?", "", raw.strip())
        m = start.match(line) or re.match(r"^RPM-BEGIN (\S+)", line)
        if m:
            binary, block = m.group(1), line.startswith("RPM-BEGIN ")
            out.setdefault(binary, {})
            continue
        if end.match(line) or line.startswith("RPM-END "):
            binary = None
            continue
        if not binary or not (block or line.startswith("# ")):
            continue
        inner = line if block else line[2:]
        m = TAP.match(inner)
        if m:
            status = "skip" if re.search(r"#\s*SKIP", inner, re.I) else m.group(1)
            out[binary][m.group(2)] = status
    return out


def check_only(chosen):
    """Whether each mutation still applies to the source as it is (no build, no boot)."""
    stale = 0
    for m in chosen:
        for f, old, new in [(m["file"], m["old"], m["new"])] + m.get("also", []):
            found = open(os.path.join(TOP, f)).read().count(old)
            if found != 1:
                stale += 1
                print(f"{m['name']}: {f}: the text to mutate occurs {found} times, not 1")
    print(f"mutants: {len(chosen) - stale} of {len(chosen)} apply")
    return 1 if stale else 0


# Files whose code runs differently under 5- and 4-level paging (the walk's top level is
# read from the running kernel): a mutant touching one boots both modes.
MODE_DEPENDENT = {"walk/walker/mod.rs", "walk/mm/level.rs", "walk/mm/table.rs", "walk/mm/lock.rs"}


def modes_of(m):
    files = {m["file"]} | {f for f, _, _ in m.get("also", [])}
    return ["5", "4"] if files & MODE_DEPENDENT else ["5"]


def run_guest(kobj, ko, tests_dir, binaries, tag, paging="5", others_dir=None):
    """Boot the guest (`paging`-level paging) with `ko` and the installed selftests,
    running only `binaries` (rpm.tests= selects them for the runner; rpm.others= the
    blocks of guest-others.sh among them, from the overlay `others_dir`); returns the
    parsed results."""
    tag = f"{tag}-{paging}level"
    sub = os.path.join(BUILD, tag, "guest")
    shutil.rmtree(sub, ignore_errors=True)
    os.makedirs(sub)
    initrd = os.path.join(sub, "initramfs.cpio.gz")
    selftests = sorted(b for b in binaries if b not in OTHERS)
    others = sorted(OTHERS[b] for b in binaries if b in OTHERS)
    overlay = ["", others_dir] if others else []
    sh([os.path.join(QEMU_DIR, "guest", "mkinitramfs.sh"), initrd, ko, tests_dir] + overlay)
    console = os.path.join(sub, "console.log")
    append = " ".join(["rpm.tests=" + (",".join(selftests) or "none")] + debug_env())
    if others:
        append += " rpm.others=" + ",".join(others)
    env = dict(os.environ, RPM_APPEND=append)
    t0 = time.time()
    sh(["flock", QEMU_LOCK, os.path.join(QEMU_DIR, "guest", "boot.sh"),
        os.path.join(kobj, "arch/x86/boot/bzImage"), initrd, "check", paging, console, "900"],
       env=env)
    text = open(console, errors="replace").read()
    log(f"{tag}: guest ran {time.time() - t0:.0f} s (console: {console})")
    return results(text), text


def debug_env():
    """The rpm.env= settings make check gives its debug boots (qemu/verdict/run.sh: the
    DEBUG_* counts in its debug_append), so that a mutant's tests run as make check runs
    them on the same kernel: `rpm.env=NAME=VALUE` each."""
    text = open(os.path.join(HERE, "run.sh")).read()
    values = dict(re.findall(r"\b(DEBUG_[A-Z_]+)=(\S+)", text))
    m = re.search(r'debug_append="(.*?)"', text, re.S)
    if not m:
        return []
    out = []
    for name, var in re.findall(r"rpm\.env=([A-Z_]+)=\$([A-Z_]+)", m.group(1)):
        if var in values:
            out.append(f"rpm.env={name}={values[var]}")
    return out


def flavour_of(m):
    """The kernel a mutant's killers run on: perf if one of them needs it."""
    return "perf" if set(killers_by_binary(m)) & PERF_ONLY else "debug"


def killers_by_binary(m):
    out = {}
    for k in m["killers"]:
        b, t = k.split(":", 1)
        out.setdefault(b, set()).add(t)
    return out


def main(argv):
    if "--help" in argv or "-h" in argv:
        print(__doc__)
        return 0
    unknown = [a for a in argv if a.startswith("-") and a not in ("--keep", "--check",
                                                                   "--baseline-log")]
    if unknown:
        log(f"unknown option {unknown[0]} (--help says which there are)")
        return 2
    keep = "--keep" in argv
    base_log = None
    if "--baseline-log" in argv:
        i = argv.index("--baseline-log")
        base_log = argv[i + 1]
        argv = argv[:i] + argv[i + 2:]
    names = [a for a in argv if not a.startswith("--")]
    chosen = [m for m in MUTANTS if not names or m["name"] in names]
    if names and len(chosen) != len(names):
        log(f"unknown mutant among {names}; known: {[m['name'] for m in MUTANTS]}")
        return 2
    if "--check" in argv:
        return check_only(chosen)
    sh([os.path.join(QEMU_DIR, "kernel", "setup-toolchain.sh")])
    kobj = sh([os.path.join(QEMU_DIR, "kernel", "build-kernel.sh")], stdout=subprocess.PIPE).stdout.strip()
    config = open(os.path.join(kobj, ".config")).read()
    os.makedirs(BUILD, exist_ok=True)
    tests_dir = os.path.join(BUILD, "tests")
    shutil.rmtree(tests_dir, ignore_errors=True)
    log("building the selftests")
    sh([os.path.join(QEMU_DIR, "guest", "build-tests.sh"), kobj, tests_dir])
    others_dir = None
    if any(k.split(":", 1)[0] in OTHERS for m in chosen for k in m["killers"]):
        others_dir = os.path.join(BUILD, "others")
        log("building other people's programs and the redirect library")
        sh([os.path.join(QEMU_DIR, "guest", "build-others.sh"), kobj, others_dir])

    def is_set(sym):
        return re.search(rf"^{sym}=[ym]", config, re.M) is not None

    to_run = []
    equivalent, stale = [], []
    for m in chosen:
        sym = m.get("equivalent_if_unset")
        if sym and not is_set(sym):
            equivalent.append(m)
        elif not m["killers"]:
            stale.append((m, f"{sym} is set in the test kernel: the mutant needs a killing test"))
        else:
            to_run.append(m)

    # The kernels: the debug one, and the performance one for killers that need it.
    kobjs = {"debug": kobj}
    if any(flavour_of(m) == "perf" for m in to_run):
        log("building (or taking from the cache) the performance kernel")
        kobjs["perf"] = sh([os.path.join(QEMU_DIR, "kernel", "build-kernel.sh"), "perf"],
                           stdout=subprocess.PIPE).stdout.strip()

    # The baseline: the named tests must pass on the unmutated module, on each kernel.
    log("building the unmutated module")
    sh([os.path.join(QEMU_DIR, "kernel", "build-module.sh"), kobj])
    base_ko = {"debug": os.path.join(TOP, "rust_pagemap.ko")}
    if "perf" in kobjs:
        base_tree = os.path.join(BUILD, "baseline-perf", "src")
        copy_tree(base_tree)
        sh([os.path.join(base_tree, "qemu", "kernel", "build-module.sh"), kobjs["perf"]])
        base_ko["perf"] = os.path.join(base_tree, "rust_pagemap.ko")
    base = {}
    for fl in sorted(kobjs):
        mine = [m for m in to_run if flavour_of(m) == fl]
        binaries = set()
        for m in mine:
            binaries |= set(killers_by_binary(m))
        modes = sorted({p for m in mine for p in modes_of(m)}, reverse=True)
        if base_log:
            log(f"baseline: taken from {base_log} (for every paging mode)")
            logged = results(open(base_log, errors="replace").read())
            base.update({(fl, p): logged for p in modes})
        elif binaries:
            for p in modes:
                base[(fl, p)], _ = run_guest(kobjs[fl], base_ko[fl], tests_dir, binaries,
                                             "baseline" if fl == "debug" else "baseline-perf",
                                             p, others_dir)
    bad_base = []
    for (fl, p), res in base.items():
        # A kernel report in the baseline means the run cannot tell a mutant's report
        # from the module's own: it fails, as make check would.
        for b in sorted(res):
            if SPLAT in res[b]:
                bad_base.append(f"{b}: kernel report under {p}-level paging ({fl} kernel): "
                                f"{res[b][SPLAT]}")
    for m in to_run:
        for p in modes_of(m):
            for b, tests in killers_by_binary(m).items():
                for t in tests:
                    st = base.get((flavour_of(m), p), {}).get(b, {}).get(t)
                    if st != "ok":
                        bad_base.append(f"{b}:{t} ({st or 'not run'}, {p}-level)")
    if bad_base:
        for b in sorted(set(bad_base)):
            log(f"baseline: {b} does not pass on the unmutated module")
        print("mutants: baseline fails; nothing can be killed")
        return 1

    killed, survived, unknown = [], [], []
    for m in to_run:
        tree = os.path.join(BUILD, m["name"], "src")
        copy_tree(tree)
        err = apply(tree, m["file"], m["old"], m["new"])
        for f, old, new in m.get("also", []):
            err = err or apply(tree, f, old, new)
        if err:
            stale.append((m, err))
            log(f"{m['name']}: no longer applies: {err}")
            continue
        fl = flavour_of(m)
        log(f"{m['name']}: {m['what']}; building against the {fl} kernel")
        try:
            sh([os.path.join(tree, "qemu", "kernel", "build-module.sh"), kobjs[fl]],
               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        except subprocess.CalledProcessError as e:
            stale.append((m, "does not build: " + (e.stderr or "")[-400:]))
            log(f"{m['name']}: does not build")
            continue
        failed, missing = [], []
        for p in modes_of(m):
            res, _ = run_guest(kobjs[fl], os.path.join(tree, "rust_pagemap.ko"), tests_dir,
                               set(killers_by_binary(m)), m["name"], p, others_dir)
            for b, tests in killers_by_binary(m).items():
                for t in tests:
                    st = res.get(b, {}).get(t)
                    # A SKIP kills nothing; a test that never reported says nothing either,
                    # unless the kernel reported something while its binary ran.
                    if st == "not ok":
                        failed.append(f"{b}:{t} ({p}-level)")
                    elif st is None:
                        missing.append(f"{b}:{t} ({p}-level)")
                if SPLAT in res.get(b, {}):
                    failed.append(f"{b}: {res[b][SPLAT]} ({p}-level)")
            if failed:
                break
        if failed:
            killed.append(m)
            log(f"{m['name']}: KILLED by {', '.join(failed)}")
        elif missing:
            unknown.append(m)
            log(f"{m['name']}: UNKNOWN: no result from {', '.join(missing)}")
        else:
            survived.append(m)
            log(f"{m['name']}: SURVIVED (every named test passed)")
        if not keep:
            shutil.rmtree(tree, ignore_errors=True)

    for m in equivalent:
        log(f"{m['name']}: equivalent on this kernel ({m['equivalent_if_unset']} is not set: "
            f"the calls it removes are empty inlines)")
    for m, why in stale:
        log(f"{m['name']}: STALE: {why}")
    print(f"mutants: {len(killed)} killed, {len(survived)} survived"
          f" ({len(unknown)} unknown, {len(equivalent)} equivalent on this kernel,"
          f" {len(stale)} no longer apply)")
    for m in survived:
        print(f"survived: {m['name']}: {m['what']}")
    for m in unknown:
        print(f"unknown: {m['name']}: its tests never reported")
    return 1 if survived or stale or unknown else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
