// SPDX-License-Identifier: GPL-2.0
/*
 * Pages that KSM merged, read and cleared through the device: an area of
 * identical pages (variant ksm_page: one KSM page behind them all) or of pages
 * of zeros (variant zero_page: use_zero_pages, every page mapped to the zero
 * page) is made mergeable, ksmd is run without sleeping, and each test starts
 * once /proc reads every page of the area merged (present, not exclusive, one
 * frame shared by all). /proc/self/pagemap and its PAGEMAP_SCAN are the oracle:
 * entries bit for bit, with frames and without (no CAP_SYS_ADMIN), scan
 * categories, and soft-dirty around the write that breaks the sharing, after a
 * ranged clear, a get-and-clear and a whole clear.
 *
 * The wait is by count: until all pages read merged, with a cap far above what
 * the merge takes that fails printing how many were merged. KSM's knobs are put
 * back after each test (by the harness's parent, also when the test failed).
 */
#include "pm_scan.h"

#include <linux/capability.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "pm_ksm.h"
#include "pm_creds.h"
#include "pm_require.h"

#define PAGES 64
#define MARGIN 4
#define MERGE_CAP_SECONDS 60
#define KSM_TIMEOUT (MERGE_CAP_SECONDS + 60)
#define WRITTEN_PAGE 5

/* /proc's frame of the page at `q`; 0 if the read fails. */
static uint64_t proc_pfn(int proc, const void *q)
{
	uint64_t e = 0;

	if (pm_read_entries(proc, (uintptr_t)q, 1, &e))
		return 0;
	return e & RPM_PFRAME_MASK;
}

/* /proc's entry of the page at `q` has soft-dirty set; false if the read fails. */
static bool proc_dirty(int proc, const void *q)
{
	uint64_t e = 0;

	return !pm_read_entries(proc, (uintptr_t)q, 1, &e) && (e & RPM_SOFT_DIRTY);
}

FIXTURE(ksm)
{
	int proc, dev;
	char *p;
	uint64_t pfn; /* the frame every page maps once merged; 0 for the KSM page */
	struct pm_ksm_knobs knobs;
};

FIXTURE_VARIANT(ksm)
{
	bool zero;
};

FIXTURE_VARIANT_ADD(ksm, ksm_page)
{
	.zero = false,
};

FIXTURE_VARIANT_ADD(ksm, zero_page)
{
	.zero = true,
};

/* The frame of the zero page, as /proc shows a page read before it was written. */
static uint64_t zero_pfn(int proc)
{
	char *q = mmap(NULL, PM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t e = 0;

	if (q == MAP_FAILED)
		return 0;
	(void)*(volatile char *)q;
	if (pm_read_entries(proc, (uintptr_t)q, 1, &e))
		e = 0;
	munmap(q, PM_PAGE);
	return e & RPM_PFRAME_MASK;
}

FIXTURE_SETUP(ksm)
{
	const size_t len = PAGES * PM_PAGE;
	long merged;

	self->proc = self->dev = -1;
	self->p = MAP_FAILED;
	if (!pm_have_ksm())
		SKIP(return, "the kernel has no KSM (CONFIG_KSM)");
	PM_OPEN_BOTH(self);
	if (variant->zero) {
		self->pfn = zero_pfn(self->proc);
		ASSERT_NE(self->pfn, 0UL) TH_LOG("no frame for the zero page");
	}
	self->p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(self->p, MAP_FAILED);
	ASSERT_EQ(madvise(self->p, len, MADV_NOHUGEPAGE), 0);
	/* Every page written, all alike: zeros, or one pattern. */
	for (size_t i = 0; i < PAGES; i++)
		memset(self->p + i * PM_PAGE, variant->zero ? 0 : 0x5a, PM_PAGE);
	ASSERT_EQ(pm_count_with(self->proc, self->p, len, RPM_PRESENT | RPM_MMAP_EXCLUSIVE),
		  PAGES) TH_LOG("the pages were not written");
	ASSERT_TRUE(pm_ksm_start(&self->knobs, variant->zero))
	TH_LOG("cannot set " PM_KSM_DIR "'s knobs: %s", strerror(errno));
	ASSERT_EQ(madvise(self->p, len, MADV_MERGEABLE), 0);
	merged = pm_ksm_wait_merged(self->proc, self->p, PAGES, self->pfn, MERGE_CAP_SECONDS);
	ASSERT_EQ(merged, PAGES)
	TH_LOG("did not reach coverage in %d s: %ld of %d pages read merged",
	       MERGE_CAP_SECONDS, merged, PAGES);
	if (!self->pfn)
		self->pfn = proc_pfn(self->proc, self->p);
}

FIXTURE_TEARDOWN_PARENT(ksm)
{
	pm_ksm_restore(&self->knobs);
}

/* As root: every entry of the merged pages, and of the holes around them, bit for bit. */
TEST_F_TIMEOUT(ksm, entries_read_same_as_proc, KSM_TIMEOUT)
{
	EXPECT_EQ(pm_compare_around(self->proc, self->dev, self->p, PAGES * PM_PAGE, MARGIN), 0);
}

/*
 * Both files opened again without CAP_SYS_ADMIN: the shared frame is hidden in
 * every entry, and the rest of each entry is /proc's.
 */
TEST_F_TIMEOUT(ksm, entries_without_sys_admin_read_same_as_proc, KSM_TIMEOUT)
{
	const size_t len = PAGES * PM_PAGE;

	ASSERT_EQ(pm_drop_cap(CAP_SYS_ADMIN), 0);
	PM_CLOSE_BOTH(self);
	PM_OPEN_BOTH(self);
	EXPECT_EQ(pm_count_with(self->dev, self->p, len, RPM_PRESENT), PAGES);
	EXPECT_EQ(proc_pfn(self->dev, self->p), 0UL);
	EXPECT_EQ(proc_pfn(self->dev, self->p + (PAGES - 1) * PM_PAGE), 0UL);
	EXPECT_EQ(pm_compare_around(self->proc, self->dev, self->p, len, MARGIN), 0);
}

/* PAGEMAP_SCAN of the merged pages: every category, as /proc's scan reports them. */
TEST_F_TIMEOUT(ksm, scan_categories_same_as_proc, KSM_TIMEOUT)
{
	uintptr_t start = (uintptr_t)self->p - MARGIN * PM_PAGE;
	uintptr_t end = (uintptr_t)self->p + (PAGES + MARGIN) * PM_PAGE;
	struct pm_scan_arg all = pm_scan_req(start, end, 0, 0, 0, 0, PM_ALL_CATEGORIES);
	struct pm_scan_arg present = pm_scan_req(start, end, 0, 0, PAGE_IS_PRESENT, 0,
						 PM_ALL_CATEGORIES);

	EXPECT_TRUE(pm_scan_agree(self->proc, self->dev, &all, PM_MAX_REGIONS));
	EXPECT_TRUE(pm_scan_agree(self->proc, self->dev, &present, PM_MAX_REGIONS));
	/* The zero page is PFNZERO; a KSM page is not. */
	EXPECT_EQ(pm_count_cat(self->dev, self->p, PAGES * PM_PAGE, PAGE_IS_PFNZERO, 0),
		  variant->zero ? PAGES : 0);
}

/*
 * A ranged clear over the merged pages leaves them merged and clean; the write
 * that breaks the sharing of one page (a copy of its own) makes that page, and
 * only it, read dirty, in /proc as on the device.
 */
TEST_F_TIMEOUT(ksm, ranged_clear_then_cow_write_reads_dirty, KSM_TIMEOUT)
{
	const size_t len = PAGES * PM_PAGE;
	struct rpm_range r = { (uintptr_t)self->p, (uintptr_t)self->p + len };
	char *w = self->p + WRITTEN_PAGE * PM_PAGE;

	ASSERT_EQ(ioctl(self->dev, RPM_IOC_CLEAR_SOFT_DIRTY, &r), 0);
	EXPECT_EQ(pm_count_with(self->proc, self->p, len, RPM_SOFT_DIRTY), 0);
	EXPECT_EQ(pm_ksm_merged(self->proc, self->p, PAGES, self->pfn), PAGES)
	TH_LOG("the clear broke the sharing");
	EXPECT_EQ(pm_compare_around(self->proc, self->dev, self->p, len, MARGIN), 0);

	*w = 1;
	EXPECT_NE(proc_pfn(self->proc, w), self->pfn) TH_LOG("the write did not break the sharing");
	EXPECT_TRUE(proc_dirty(self->proc, w));
	EXPECT_EQ(pm_count_with(self->proc, self->p, len, RPM_SOFT_DIRTY), 1);
	EXPECT_EQ(pm_compare_around(self->proc, self->dev, self->p, len, MARGIN), 0);
}

/*
 * Get-and-clear over the merged pages (a new mapping: all read dirty) reports
 * them all and leaves them clean; after the write that breaks one page's
 * sharing, the next call reports exactly that page.
 */
TEST_F_TIMEOUT(ksm, get_and_clear_reports_the_cow_write, KSM_TIMEOUT)
{
	static struct pm_scan_result res;
	const size_t len = PAGES * PM_PAGE;
	char *w = self->p + WRITTEN_PAGE * PM_PAGE;
	struct pm_scan_arg a = pm_scan_req((uintptr_t)self->p, (uintptr_t)self->p + len,
					   RPM_SCAN_CLEAR_SOFT_DIRTY, 0, PAGE_IS_SOFT_DIRTY, 0,
					   PAGE_IS_SOFT_DIRTY);

	ASSERT_EQ(pm_count_with(self->proc, self->p, len, RPM_SOFT_DIRTY), PAGES);
	pm_scan_run(self->dev, &a, PM_MAX_REGIONS, &res);
	ASSERT_EQ(res.ret, 1);
	EXPECT_EQ(res.r[0].start, (uintptr_t)self->p);
	EXPECT_EQ(res.r[0].end, (uintptr_t)self->p + len);
	EXPECT_EQ(pm_count_with(self->proc, self->p, len, RPM_SOFT_DIRTY), 0);
	EXPECT_EQ(pm_ksm_merged(self->proc, self->p, PAGES, self->pfn), PAGES);

	*w = 1;
	EXPECT_TRUE(proc_dirty(self->proc, w));
	pm_scan_run(self->dev, &a, PM_MAX_REGIONS, &res);
	ASSERT_EQ(res.ret, 1);
	EXPECT_EQ(res.r[0].start, (uintptr_t)w);
	EXPECT_EQ(res.r[0].end, (uintptr_t)w + PM_PAGE);
	EXPECT_EQ(pm_count_with(self->proc, self->p, len, RPM_SOFT_DIRTY), 0);
}

/* The whole-process clear, then the write that breaks one page's sharing. */
TEST_F_TIMEOUT(ksm, whole_clear_then_cow_write_reads_dirty, KSM_TIMEOUT)
{
	const size_t len = PAGES * PM_PAGE;
	char *w = self->p + WRITTEN_PAGE * PM_PAGE;

	ASSERT_EQ(ioctl(self->dev, RPM_IOC_CLEAR_SOFT_DIRTY_ALL), 0);
	EXPECT_EQ(pm_count_with(self->proc, self->p, len, RPM_SOFT_DIRTY), 0);
	EXPECT_EQ(pm_ksm_merged(self->proc, self->p, PAGES, self->pfn), PAGES);
	*w = 1;
	EXPECT_TRUE(proc_dirty(self->proc, w));
	EXPECT_EQ(pm_count_with(self->proc, self->p, len, RPM_SOFT_DIRTY), 1);
	EXPECT_EQ(pm_compare_around(self->proc, self->dev, self->p, len, MARGIN), 0);
}

TEST_HARNESS_MAIN
