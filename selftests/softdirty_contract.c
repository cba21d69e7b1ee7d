// SPDX-License-Identifier: GPL-2.0
/*
 * The soft-dirty extension's contract (uapi/rust_pagemap.h): never a false
 * clean. After any ranged clear, whole clear or get-and-clear -- successful,
 * failed or racing with faults -- every page written since it was last
 * reported clean reads soft-dirty in /proc/self/pagemap; get-and-clear clears
 * exactly what it reports; a call that fails changes nothing.
 *
 * Each test builds the situation, checks that the set-up took (a test that
 * proves nothing must fail, not pass), makes the call and then reads the
 * oracle, /proc/self/pagemap.
 */
#include "pm_scan.h"

#include <pthread.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <time.h>

#include "kselftest_harness.h"
#include "pm_require.h"

PM_BOTH_FIXTURE(sdc)

/* /proc's entry for the page at `p`; 0 if the read fails (then nothing reads dirty). */
static uint64_t proc_entry(int proc, const void *p)
{
	uint64_t e = 0;

	if (pm_read_entries(proc, (uintptr_t)p, 1, &e))
		return 0;
	return e;
}

static bool dirty(int proc, const void *p)
{
	return proc_entry(proc, p) & RPM_SOFT_DIRTY;
}

/* Number of pages of [p, p + n pages) that read clean in /proc. */
static long clean_pages(int proc, const void *p, size_t n)
{
	static uint64_t e[16384];
	long clean = 0;

	for (size_t done = 0; done < n;) {
		size_t k = n - done > 16384 ? 16384 : n - done;

		if (pm_read_entries(proc, (uintptr_t)p + done * PM_PAGE, k, e))
			return -1;
		for (size_t i = 0; i < k; i++)
			clean += !(e[i] & RPM_SOFT_DIRTY);
		done += k;
	}
	return clean;
}

static int clear_range(int dev, const void *start, size_t len)
{
	struct rpm_range r = { (uintptr_t)start, (uintptr_t)start + len };

	return ioctl(dev, RPM_IOC_CLEAR_SOFT_DIRTY, &r);
}

/* A get-and-clear of [p, p + len) into `res`, reporting soft-dirty pages. */
static void get_and_clear(int dev, const void *p, size_t len, uint64_t mask, uint64_t max_pages,
			  uint64_t vec_len, struct pm_scan_result *res)
{
	struct pm_scan_arg a = pm_scan_req((uintptr_t)p, (uintptr_t)p + len,
					   RPM_SCAN_CLEAR_SOFT_DIRTY, 0, mask, 0, mask);

	a.max_pages = max_pages;
	pm_scan_run(dev, &a, vec_len, res);
}

static char *map_anon(size_t len)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	return p == MAP_FAILED ? NULL : p;
}

/*
 * A new mapping reads soft-dirty as a whole (VM_SOFTDIRTY). A get-and-clear
 * whose masks select only present pages reports the written page; the
 * untouched one was not reported and must keep reading dirty.
 */
TEST_F(sdc, get_and_clear_keeps_unreported_page_dirty)
{
	static struct pm_scan_result res;
	char *p = map_anon(2 * PM_PAGE);

	ASSERT_NE(p, NULL);
	p[0] = 1;
	ASSERT_TRUE(dirty(self->proc, p + PM_PAGE));
	get_and_clear(self->dev, p, 2 * PM_PAGE, PAGE_IS_SOFT_DIRTY | PAGE_IS_PRESENT, 0,
		      PM_MAX_REGIONS, &res);
	ASSERT_EQ(res.ret, 1);
	ASSERT_EQ(res.r[0].start, (uintptr_t)p);
	ASSERT_EQ(res.r[0].end, (uintptr_t)p + PM_PAGE);
	EXPECT_TRUE(dirty(self->proc, p + PM_PAGE));
	munmap(p, 2 * PM_PAGE);
}

/* Pages a max_pages limit cut off were not reported: they stay dirty. */
TEST_F(sdc, get_and_clear_keeps_pages_past_max_pages_dirty)
{
	static struct pm_scan_result res;
	char *p = map_anon(8 * PM_PAGE);

	ASSERT_NE(p, NULL);
	pm_touch(p, 8 * PM_PAGE, PM_PAGE, true);
	get_and_clear(self->dev, p, 8 * PM_PAGE, PAGE_IS_SOFT_DIRTY, 3, PM_MAX_REGIONS, &res);
	ASSERT_EQ(res.ret, 1);
	ASSERT_EQ(res.r[0].end - res.r[0].start, 3 * PM_PAGE);
	EXPECT_EQ(clean_pages(self->proc, p + 3 * PM_PAGE, 5), 0);
	munmap(p, 8 * PM_PAGE);
}

/* Regions that did not fit into vec_len were not reported: they stay dirty. */
TEST_F(sdc, get_and_clear_keeps_regions_past_vec_len_dirty)
{
	static struct pm_scan_result res;
	char *p = map_anon(8 * PM_PAGE);

	ASSERT_NE(p, NULL);
	pm_touch(p, 8 * PM_PAGE, PM_PAGE, true);
	ASSERT_EQ(clear_range(self->dev, p, 8 * PM_PAGE), 0);
	ASSERT_EQ(clean_pages(self->proc, p, 8), 8);
	p[0] = p[2 * PM_PAGE] = p[4 * PM_PAGE] = 2;
	get_and_clear(self->dev, p, 8 * PM_PAGE, PAGE_IS_SOFT_DIRTY, 0, 1, &res);
	ASSERT_EQ(res.ret, 1);
	ASSERT_EQ(res.r[0].start, (uintptr_t)p);
	EXPECT_FALSE(dirty(self->proc, p));
	EXPECT_TRUE(dirty(self->proc, p + 2 * PM_PAGE));
	EXPECT_TRUE(dirty(self->proc, p + 4 * PM_PAGE));
	munmap(p, 8 * PM_PAGE);
}

/* What is reported is cleared: the next call reports exactly what was written since. */
TEST_F(sdc, get_and_clear_reports_exactly_the_writes_since)
{
	static struct pm_scan_result res;
	char *p = map_anon(16 * PM_PAGE);

	ASSERT_NE(p, NULL);
	pm_touch(p, 16 * PM_PAGE, PM_PAGE, true);
	get_and_clear(self->dev, p, 16 * PM_PAGE, PAGE_IS_SOFT_DIRTY, 0, PM_MAX_REGIONS, &res);
	ASSERT_EQ(res.ret, 1);
	ASSERT_EQ(clean_pages(self->proc, p, 16), 16);
	p[5 * PM_PAGE] = 3;
	get_and_clear(self->dev, p, 16 * PM_PAGE, PAGE_IS_SOFT_DIRTY, 0, PM_MAX_REGIONS, &res);
	ASSERT_EQ(res.ret, 1);
	EXPECT_EQ(res.r[0].start, (uintptr_t)p + 5 * PM_PAGE);
	EXPECT_EQ(res.r[0].end, (uintptr_t)p + 6 * PM_PAGE);
	munmap(p, 16 * PM_PAGE);
}

/*
 * A 2 MiB shmem THP mapped by one PMD, all dirty. A ranged clear of its first
 * page must not zap the PMD: the 511 other pages keep reading dirty.
 */
TEST_F(sdc, ranged_clear_inside_shmem_thp_keeps_rest_dirty)
{
	char *p = pm_map_aligned(PM_HPAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1);

	ASSERT_NE(p, MAP_FAILED);
	ASSERT_EQ(madvise(p, PM_HPAGE, MADV_HUGEPAGE), 0);
	pm_touch(p, PM_HPAGE, PM_PAGE, true);
	ASSERT_EQ(pm_smaps_kb(p, "ShmemPmdMapped"), 2048);
	ASSERT_EQ(clean_pages(self->proc, p, 512), 0);
	ASSERT_EQ(clear_range(self->dev, p, PM_PAGE), 0);
	EXPECT_EQ(clean_pages(self->proc, p + PM_PAGE, 511), 0);
	munmap(p, PM_HPAGE);
}

/*
 * The case where only the huge PMD carries the dirtiness: the VMA's own flag
 * is cleared first (nothing mapped yet), then one write faults the whole
 * shmem THP in as a writable, soft-dirty PMD. A ranged clear of its first
 * page must not zap it: the other 511 pages must keep reading dirty.
 */
TEST_F(sdc, ranged_clear_inside_soft_dirty_shmem_pmd_keeps_rest_dirty)
{
	char *p = pm_map_aligned(PM_HPAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1);

	ASSERT_NE(p, MAP_FAILED);
	ASSERT_EQ(madvise(p, PM_HPAGE, MADV_HUGEPAGE), 0);
	ASSERT_EQ(clear_range(self->dev, p, PM_HPAGE), 0);
	ASSERT_EQ(clean_pages(self->proc, p, 512), 512);
	p[0] = 1;
	ASSERT_EQ(pm_smaps_kb(p, "ShmemPmdMapped"), 2048);
	ASSERT_EQ(clean_pages(self->proc, p, 512), 0);
	ASSERT_EQ(clear_range(self->dev, p, PM_PAGE), 0);
	EXPECT_EQ(clean_pages(self->proc, p + PM_PAGE, 511), 0);
	munmap(p, PM_HPAGE);
}

/* The same for a get-and-clear whose range ends inside the shmem THP. */
TEST_F(sdc, get_and_clear_inside_shmem_thp_keeps_rest_dirty)
{
	static struct pm_scan_result res;
	char *p = pm_map_aligned(PM_HPAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1);

	ASSERT_NE(p, MAP_FAILED);
	ASSERT_EQ(madvise(p, PM_HPAGE, MADV_HUGEPAGE), 0);
	pm_touch(p, PM_HPAGE, PM_PAGE, true);
	ASSERT_EQ(pm_smaps_kb(p, "ShmemPmdMapped"), 2048);
	get_and_clear(self->dev, p, 4 * PM_PAGE, PAGE_IS_SOFT_DIRTY, 0, PM_MAX_REGIONS, &res);
	ASSERT_EQ(res.ret, 1);
	EXPECT_EQ(clean_pages(self->proc, p + 4 * PM_PAGE, 508), 0);
	munmap(p, PM_HPAGE);
}

/*
 * Two written THPs of a VMA whose VM_SOFTDIRTY is already clear (a whole clear,
 * then every page written again), so that a get-and-clear covering them in part
 * reaches the huge PMDs themselves: with the flag still set, the VMA split at the
 * range's edges would split them first.
 */
static char *two_dirty_thps(struct __test_metadata *_metadata, int proc, int dev)
{
	char *p = pm_thp_map(2 * PM_HPAGE, -1);

	if (p == MAP_FAILED)
		return p;
	pm_touch(p, 2 * PM_HPAGE, PM_PAGE, true);
	if (clear_range(dev, p, 2 * PM_HPAGE) ||
	    clean_pages(proc, p, 2 * PM_HPAGE / PM_PAGE) != 2 * PM_HPAGE / PM_PAGE) {
		TH_LOG("the whole clear did not leave every page clean: the case would test nothing");
		munmap(p, 2 * PM_HPAGE);
		return MAP_FAILED;
	}
	pm_touch(p, 2 * PM_HPAGE, PM_PAGE, true);
	return p;
}

/*
 * One get-and-clear returns the pages of `[p + from, p + to)` as the single region
 * they are (adjacent, written, present alike, none huge any more once split), and
 * cleans exactly them: the huge page's own region (HUGE is reported) that the
 * split takes back must not leave a region boundary behind.
 */
static void expect_one_region(struct __test_metadata *_metadata, int proc, char *p,
			      const struct pm_scan_result *res, size_t from, size_t to)
{
	ASSERT_EQ(res->ret, 1) TH_LOG("regions: [%#llx, %#llx) %#llx, [%#llx, %#llx) %#llx",
				      res->r[0].start, res->r[0].end, res->r[0].categories,
				      res->r[1].start, res->r[1].end, res->r[1].categories);
	EXPECT_EQ(res->r[0].start, (uintptr_t)p + from);
	EXPECT_EQ(res->r[0].end, (uintptr_t)p + to);
	EXPECT_EQ(res->r[0].categories, PAGE_IS_SOFT_DIRTY | PAGE_IS_PRESENT);
	EXPECT_EQ(clean_pages(proc, p + from, (to - from) / PM_PAGE), (to - from) / PM_PAGE);
	EXPECT_EQ(clean_pages(proc, p, from / PM_PAGE), 0);
	EXPECT_EQ(clean_pages(proc, p + to, (2 * PM_HPAGE - to) / PM_PAGE), 0);
}

/* Over the second half of one THP and the first half of the next: both are split. */
TEST_F(sdc, get_and_clear_across_two_split_thps_reports_one_region)
{
	static struct pm_scan_result res;
	char *p = two_dirty_thps(_metadata, self->proc, self->dev);
	struct pm_scan_arg a = pm_scan_req((uintptr_t)p + PM_HPAGE / 2,
					   (uintptr_t)p + PM_HPAGE + PM_HPAGE / 2,
					   RPM_SCAN_CLEAR_SOFT_DIRTY, 0, PAGE_IS_SOFT_DIRTY, 0,
					   PAGE_IS_SOFT_DIRTY | PAGE_IS_PRESENT | PAGE_IS_HUGE);

	ASSERT_NE(p, MAP_FAILED);
	PM_REQUIRE_THP(self->proc, p, 2 * PM_HPAGE);
	pm_scan_run(self->dev, &a, PM_MAX_REGIONS, &res);
	expect_one_region(_metadata, self->proc, p, &res, PM_HPAGE / 2, PM_HPAGE + PM_HPAGE / 2);
	munmap(p, 2 * PM_HPAGE);
}

/* The second THP is inside the range, but max_pages ends the scan in its middle. */
TEST_F(sdc, get_and_clear_cut_by_max_pages_inside_thp_reports_one_region)
{
	static struct pm_scan_result res;
	char *p = two_dirty_thps(_metadata, self->proc, self->dev);
	struct pm_scan_arg a = pm_scan_req((uintptr_t)p + PM_HPAGE / 2, (uintptr_t)p + 2 * PM_HPAGE,
					   RPM_SCAN_CLEAR_SOFT_DIRTY, 0, PAGE_IS_SOFT_DIRTY, 0,
					   PAGE_IS_SOFT_DIRTY | PAGE_IS_PRESENT | PAGE_IS_HUGE);

	ASSERT_NE(p, MAP_FAILED);
	PM_REQUIRE_THP(self->proc, p, 2 * PM_HPAGE);
	a.max_pages = PM_HPAGE / PM_PAGE;
	pm_scan_run(self->dev, &a, PM_MAX_REGIONS, &res);
	expect_one_region(_metadata, self->proc, p, &res, PM_HPAGE / 2, PM_HPAGE + PM_HPAGE / 2);
	EXPECT_EQ(res.walk_end, (uintptr_t)p + PM_HPAGE + PM_HPAGE / 2);
	munmap(p, 2 * PM_HPAGE);
}

/*
 * A get-and-clear that covers a whole written THP reports it as one huge region
 * and cleans it as one, without splitting it: afterwards /proc reads all its
 * pages clean (the other THP, outside the range, stays dirty), the PMD still
 * maps the huge page, and the next write reads dirty and is reported again.
 */
TEST_F(sdc, get_and_clear_of_whole_thp_reports_and_cleans_it)
{
	static struct pm_scan_result res;
	char *p = two_dirty_thps(_metadata, self->proc, self->dev);
	struct pm_scan_arg a = pm_scan_req((uintptr_t)p, (uintptr_t)p + PM_HPAGE,
					   RPM_SCAN_CLEAR_SOFT_DIRTY, 0, PAGE_IS_SOFT_DIRTY, 0,
					   PAGE_IS_SOFT_DIRTY | PAGE_IS_PRESENT | PAGE_IS_HUGE);
	const size_t n = PM_HPAGE / PM_PAGE;

	ASSERT_NE(p, MAP_FAILED);
	PM_REQUIRE_THP(self->proc, p, 2 * PM_HPAGE);
	pm_scan_run(self->dev, &a, PM_MAX_REGIONS, &res);
	ASSERT_EQ(res.ret, 1) TH_LOG("regions: [%#llx, %#llx) %#llx", res.r[0].start,
				     res.r[0].end, res.r[0].categories);
	EXPECT_EQ(res.r[0].start, (uintptr_t)p);
	EXPECT_EQ(res.r[0].end, (uintptr_t)p + PM_HPAGE);
	EXPECT_EQ(res.r[0].categories, PAGE_IS_SOFT_DIRTY | PAGE_IS_PRESENT | PAGE_IS_HUGE);
	PM_REQUIRE_HUGE(self->proc, p, PM_HPAGE); /* cleaned whole, not split */
	EXPECT_EQ(clean_pages(self->proc, p, n), n);
	EXPECT_EQ(clean_pages(self->proc, p + PM_HPAGE, n), 0);
	EXPECT_EQ(pm_compare_around(self->proc, self->dev, p, 2 * PM_HPAGE, 16), 0);

	p[100 * PM_PAGE] = 2;
	EXPECT_TRUE(dirty(self->proc, p + 100 * PM_PAGE));
	pm_scan_run(self->dev, &a, PM_MAX_REGIONS, &res);
	ASSERT_GE(res.ret, 1);
	EXPECT_LE(res.r[0].start, (uintptr_t)p + 100 * PM_PAGE);
	EXPECT_GT(res.r[0].end, (uintptr_t)p + 100 * PM_PAGE);
	EXPECT_EQ(clean_pages(self->proc, p, n), n);
	munmap(p, 2 * PM_HPAGE);
}

/* A written anonymous THP keeps its other pages dirty when a ranged clear splits it. */
TEST_F(sdc, ranged_clear_inside_anon_thp_keeps_rest_dirty)
{
	char *p = pm_map_aligned(PM_HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);

	ASSERT_NE(p, MAP_FAILED);
	ASSERT_EQ(madvise(p, PM_HPAGE, MADV_HUGEPAGE), 0);
	pm_touch(p, PM_HPAGE, PM_PAGE, true);
	ASSERT_EQ(pm_smaps_kb(p, "AnonHugePages"), 2048);
	ASSERT_EQ(clear_range(self->dev, p, PM_PAGE), 0);
	EXPECT_FALSE(dirty(self->proc, p));
	EXPECT_EQ(clean_pages(self->proc, p + PM_PAGE, 511), 0);
	munmap(p, PM_HPAGE);
}

/*
 * Hugetlb soft-dirtiness is the VMA flag alone in the pagemap file, and no
 * clear write-protects hugetlb pages: after a whole or ranged clear a hugetlb
 * page written again must still read dirty.
 */
static void hugetlb_written_after_clear(struct __test_metadata *_metadata, int proc, int dev,
					bool whole)
{
	char *p = mmap(NULL, PM_HPAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);

	ASSERT_NE(p, MAP_FAILED) TH_LOG("no 2 MiB hugetlb page reserved");
	p[0] = 1;
	ASSERT_TRUE(proc_entry(proc, p) & RPM_PRESENT);
	if (whole) {
		ASSERT_EQ(ioctl(dev, RPM_IOC_CLEAR_SOFT_DIRTY_ALL), 0);
	} else {
		ASSERT_EQ(clear_range(dev, p, PM_HPAGE), 0);
	}
	p[PM_PAGE] = 2;
	EXPECT_TRUE(dirty(proc, p + PM_PAGE));
	munmap(p, PM_HPAGE);
}

TEST_F(sdc, whole_clear_then_hugetlb_write_reads_dirty)
{
	hugetlb_written_after_clear(_metadata, self->proc, self->dev, true);
}

TEST_F(sdc, ranged_clear_then_hugetlb_write_reads_dirty)
{
	hugetlb_written_after_clear(_metadata, self->proc, self->dev, false);
}

static long read_long(const char *path)
{
	FILE *f = fopen(path, "r");
	long v = -1;

	if (f) {
		if (fscanf(f, "%ld", &v) != 1)
			v = -1;
		fclose(f);
	}
	return v;
}

static int write_long(const char *path, long v)
{
	FILE *f = fopen(path, "w");
	int ret;

	if (!f)
		return -1;
	ret = fprintf(f, "%ld\n", v) > 0 ? 0 : -1;
	return fclose(f) ? -1 : ret;
}

static long map_count(void)
{
	static struct pm_vma v[4096];

	return pm_read_maps(v, 4096);
}

#define MAX_MAP_COUNT "/proc/sys/vm/max_map_count"

/*
 * A memfd page A, read once (so mapped writable but clean: a new VMA needs no
 * write notification), then a new 2-page anonymous VMA B. With
 * vm.max_map_count reached, B cannot be split, so a ranged clear over
 * [A, B + 4K) fails with ENOMEM -- and must have changed nothing: a later
 * write to A reads dirty.
 */
TEST_F(sdc, failed_ranged_clear_changes_nothing)
{
	int mfd = memfd_create("sdc", 0);
	char *res = mmap(NULL, 3 * PM_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	long old, ret;
	char *a, *b;
	int err;

	ASSERT_GE(mfd, 0);
	ASSERT_EQ(ftruncate(mfd, PM_PAGE), 0);
	ASSERT_NE(res, MAP_FAILED);
	a = mmap(res, PM_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, mfd, 0);
	ASSERT_EQ(a, res);
	b = mmap(res + PM_PAGE, 2 * PM_PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	ASSERT_EQ(b, res + PM_PAGE);
	(void)*(volatile char *)a;
	ASSERT_TRUE(proc_entry(self->proc, a) & RPM_PRESENT);

	old = read_long(MAX_MAP_COUNT);
	ASSERT_GT(old, 0);
	ASSERT_EQ(write_long(MAX_MAP_COUNT, map_count()), 0);
	ret = clear_range(self->dev, a, 2 * PM_PAGE);
	err = errno;
	ASSERT_EQ(write_long(MAX_MAP_COUNT, old), 0);
	ASSERT_EQ(ret, -1);
	ASSERT_EQ(err, ENOMEM);

	a[0] = 1;
	EXPECT_TRUE(dirty(self->proc, a));
	EXPECT_TRUE(dirty(self->proc, b));
	munmap(res, 3 * PM_PAGE);
	close(mfd);
}

/* PM_SCAN_CHECK_WPASYNC fails with EPERM on a VMA without async uffd-wp: nothing is cleared. */
TEST_F(sdc, get_and_clear_that_fails_eperm_changes_nothing)
{
	static struct pm_scan_result res;
	char *p = map_anon(4 * PM_PAGE);
	struct pm_scan_arg a;

	ASSERT_NE(p, NULL);
	pm_touch(p, 4 * PM_PAGE, PM_PAGE, true);
	a = pm_scan_req((uintptr_t)p, (uintptr_t)p + 4 * PM_PAGE,
			RPM_SCAN_CLEAR_SOFT_DIRTY | PM_SCAN_CHECK_WPASYNC, 0, PAGE_IS_SOFT_DIRTY, 0,
			PAGE_IS_SOFT_DIRTY);
	pm_scan_run(self->dev, &a, PM_MAX_REGIONS, &res);
	ASSERT_EQ(res.ret, -EPERM);
	EXPECT_EQ(clean_pages(self->proc, p, 4), 0);
	munmap(p, 4 * PM_PAGE);
}

/* Without an output array nothing could be reported, so nothing may be cleared: EINVAL. */
TEST_F(sdc, get_and_clear_without_array_is_einval)
{
	static struct pm_scan_result res;
	char *p = map_anon(4 * PM_PAGE);

	ASSERT_NE(p, NULL);
	pm_touch(p, 4 * PM_PAGE, PM_PAGE, true);
	get_and_clear(self->dev, p, 4 * PM_PAGE, PAGE_IS_SOFT_DIRTY, 0, 0, &res);
	EXPECT_EQ(res.ret, -EINVAL);
	EXPECT_EQ(clean_pages(self->proc, p, 4), 0);
	munmap(p, 4 * PM_PAGE);
}

/* An output array the kernel cannot write gives EFAULT: the pages keep reading dirty. */
TEST_F(sdc, get_and_clear_into_unwritable_vec_changes_nothing)
{
	char *p = map_anon(4 * PM_PAGE);
	char *ro = mmap(NULL, PM_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct pm_scan_arg a;

	ASSERT_NE(p, NULL);
	ASSERT_NE(ro, MAP_FAILED);
	pm_touch(p, 4 * PM_PAGE, PM_PAGE, true);
	a = pm_scan_req((uintptr_t)p, (uintptr_t)p + 4 * PM_PAGE, RPM_SCAN_CLEAR_SOFT_DIRTY, 0,
			PAGE_IS_SOFT_DIRTY, 0, PAGE_IS_SOFT_DIRTY);
	a.vec = (uintptr_t)ro;
	a.vec_len = 4;
	ASSERT_EQ(ioctl(self->dev, PAGEMAP_SCAN, &a), -1);
	ASSERT_EQ(errno, EFAULT);
	EXPECT_EQ(clean_pages(self->proc, p, 4), 0);
	munmap(p, 4 * PM_PAGE);
	munmap(ro, PM_PAGE);
}

/* walk_end cannot be written back (the argument is read-only): EFAULT, and nothing lost. */
TEST_F(sdc, get_and_clear_with_unwritable_arg_changes_nothing)
{
	static struct page_region vec[8];
	char *p = map_anon(4 * PM_PAGE);
	struct pm_scan_arg *a = mmap(NULL, PM_PAGE, PROT_READ | PROT_WRITE,
				     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(p, NULL);
	ASSERT_NE(a, MAP_FAILED);
	pm_touch(p, 4 * PM_PAGE, PM_PAGE, true);
	*a = pm_scan_req((uintptr_t)p, (uintptr_t)p + 4 * PM_PAGE, RPM_SCAN_CLEAR_SOFT_DIRTY, 0,
			 PAGE_IS_SOFT_DIRTY, 0, PAGE_IS_SOFT_DIRTY);
	a->vec = (uintptr_t)vec;
	a->vec_len = 8;
	ASSERT_EQ(mprotect(a, PM_PAGE, PROT_READ), 0);
	ASSERT_EQ(ioctl(self->dev, PAGEMAP_SCAN, a), -1);
	ASSERT_EQ(errno, EFAULT);
	EXPECT_EQ(clean_pages(self->proc, p, 4), 0);
	munmap(p, 4 * PM_PAGE);
	munmap(a, PM_PAGE);
}

/*
 * The output array turns read-only while a get-and-clear runs (another thread
 * mprotects it; a shared mapping, which never merges with the private area's
 * VMA): the array was faulted in writable before the walk, the walk
 * cleaned the pages it reported, and copying the regions out fails. The call
 * then returns EFAULT, and the contract is that nothing is lost: every written
 * page must still read dirty, the cleaned ones through VM_SOFTDIRTY put back on
 * their VMA. A page of the area is never touched: with VM_SOFTDIRTY consumed it
 * reads clean, and it reads dirty only once the flag is back, which tells a
 * copy-out that failed after the walk (the undo) from an array that was already
 * read-only when the call faulted it in (nothing changed). The test runs until
 * COPY_OUT_FAILURES calls failed after the walk; a cap fails it with the counts.
 */
#define COPY_OUT_PAGES 64
#define COPY_OUT_FAILURES 5
#define COPY_OUT_CAP_SECONDS 120

struct flipper {
	char *page;
	volatile int stop;
	unsigned long flips;
};

static void *flip_read_only(void *arg)
{
	struct flipper *f = arg;

	while (!f->stop) {
		mprotect(f->page, PM_PAGE, PROT_READ);
		mprotect(f->page, PM_PAGE, PROT_READ | PROT_WRITE);
		f->flips++;
	}
	return NULL;
}

TEST_F_TIMEOUT(sdc, get_and_clear_whose_array_turns_read_only_loses_no_write,
	       COPY_OUT_CAP_SECONDS + 60)
{
	const size_t n = COPY_OUT_PAGES;
	char *p = map_anon((n + 1) * PM_PAGE);
	char *untouched = p + n * PM_PAGE;
	struct flipper f = { 0 };
	static struct pm_scan_arg a;
	long ok = 0, early = 0, late = 0, lost = 0, calls = 0;
	time_t t0 = time(NULL);
	pthread_t t;

	ASSERT_GE(pm_online_cpus(), 2);
	ASSERT_NE(p, NULL);
	/* Shared: a private array's VMA could merge with the area's, VM_SOFTDIRTY and all. */
	f.page = mmap(NULL, PM_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(f.page, MAP_FAILED);
	ASSERT_EQ(pthread_create(&t, NULL, flip_read_only, &f), 0);
	while (late < COPY_OUT_FAILURES && time(NULL) - t0 < COPY_OUT_CAP_SECONDS) {
		int ret;

		/* VM_SOFTDIRTY consumed, every page but one written since. */
		ASSERT_EQ(clear_range(self->dev, p, (n + 1) * PM_PAGE), 0);
		ASSERT_FALSE(dirty(self->proc, untouched));
		pm_touch(p, n * PM_PAGE, PM_PAGE, true);
		a = pm_scan_req((uintptr_t)p, (uintptr_t)p + (n + 1) * PM_PAGE,
				RPM_SCAN_CLEAR_SOFT_DIRTY, 0, PAGE_IS_SOFT_DIRTY, 0,
				PAGE_IS_SOFT_DIRTY);
		a.vec = (uintptr_t)f.page;
		a.vec_len = PM_PAGE / sizeof(struct page_region);
		ret = ioctl(self->dev, PAGEMAP_SCAN, &a);
		calls++;
		if (ret >= 0) {
			ok++;
			continue;
		}
		ASSERT_EQ(errno, EFAULT);
		lost = clean_pages(self->proc, p, n);
		if (lost)
			break;
		if (dirty(self->proc, untouched))
			late++;
		else
			early++;
	}
	f.stop = 1;
	pthread_join(t, NULL);
	TH_LOG("%ld calls in %lds: %ld succeeded, %ld EFAULT before the walk, %ld after it; "
	       "%lu flips of the array", calls, (long)(time(NULL) - t0), ok, early, late, f.flips);
	EXPECT_EQ(lost, 0) TH_LOG("a call that failed with EFAULT left %ld written pages clean",
				  lost);
	EXPECT_GE(late, COPY_OUT_FAILURES)
	TH_LOG("did not reach coverage in %d s: %ld copy-outs failed after the walk",
	       COPY_OUT_CAP_SECONDS, late);
	munmap(p, (n + 1) * PM_PAGE);
	munmap(f.page, PM_PAGE);
}

/*
 * Races with faults: while one thread faults pages in (by reading, or by
 * swapping them back in), the main thread clears or gets-and-clears. The
 * region has two halves: the first one is not mapped (a dropped memfd
 * mapping, or swapped out), the second is populated, so the walk passes the
 * first half at once and then spends its time on the second, while the
 * reader faults the first half in behind it. Once both are done, every page
 * of the first half is written: each must read dirty. Faults under per-VMA
 * locks run while the mmap lock is held for write unless the VMA is
 * write-locked too, and a page faulted in behind the walk of a VMA that still
 * has VM_SOFTDIRTY is mapped writable and clean.
 */
enum race_kind { RACE_GET_AND_CLEAR, RACE_RANGED_CLEAR, RACE_WHOLE_CLEAR };
enum race_mem { RACE_MEMFD, RACE_ANON_SWAPPED };

struct reader {
	volatile char *p;
	size_t len;
	volatile int go;
};

static void *read_all(void *arg)
{
	struct reader *r = arg;

	while (!r->go)
		;
	for (size_t off = 0; off < r->len; off += PM_PAGE)
		(void)r->p[off];
	return NULL;
}

static bool two_cpus(void)
{
	return sysconf(_SC_NPROCESSORS_ONLN) >= 2;
}

/* Each half; the swapped variant's first half is smaller (swapping is slow under TCG). */
#define RACE_HALF (4UL << 20)
#define RACE_SWAP_HALF (1UL << 20)
#define RACE_ROUNDS 6 /* RPM_RACE_ROUNDS in the environment overrides */
/* Rounds take seconds each under TCG with KASAN. */
#define RACE_TIMEOUT 240

/* The /proc entries of the first few pages of [p, p + n pages) that read clean. */
static void show_clean(int proc, const char *p, size_t n)
{
	int shown = 0;

	for (size_t i = 0; i < n && shown < 8; i++) {
		uint64_t e = proc_entry(proc, p + i * PM_PAGE);

		if (!(e & RPM_SOFT_DIRTY)) {
			printf("# page %zu of the first half reads clean: %#llx\n", i,
			       (unsigned long long)e);
			shown++;
		}
	}
	fflush(stdout);
}

static long race_round(int proc, int dev, enum race_kind kind, enum race_mem mem)
{
	static struct pm_scan_result res;
	const size_t half = mem == RACE_MEMFD ? RACE_HALF : RACE_SWAP_HALF;
	const size_t len = 2 * half;
	struct reader r = { .len = half };
	pthread_t t;
	long clean;
	char *p;

	if (mem == RACE_MEMFD) {
		int mfd = memfd_create("race", 0);

		if (mfd < 0 || ftruncate(mfd, len))
			return -1;
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
		close(mfd);
		if (p == MAP_FAILED)
			return -1;
		/* Populate the page cache, then unmap the first half: the reader faults it. */
		pm_touch(p, len, PM_PAGE, true);
		if (madvise(p, half, MADV_DONTNEED))
			return -1;
	} else {
		p = map_anon(len);
		if (!p)
			return -1;
		pm_touch(p, len, PM_PAGE, true);
		/*
		 * The whole first half out (pm_page_out asks again: pages faulted in on
		 * the other CPU sit in its LRU batch, which MADV_PAGEOUT does not
		 * drain; round 1 of 6 once swapped only part of it under load).
		 */
		if (pm_page_out(proc, p, half, half / PM_PAGE) < (long)(half / PM_PAGE))
			return -2;
	}
	r.p = p;
	if (pthread_create(&t, NULL, read_all, &r))
		return -1;
	r.go = 1;
	switch (kind) {
	case RACE_GET_AND_CLEAR:
		get_and_clear(dev, p, len, PAGE_IS_SOFT_DIRTY, 0, PM_MAX_REGIONS, &res);
		break;
	case RACE_RANGED_CLEAR:
		clear_range(dev, p, len);
		break;
	case RACE_WHOLE_CLEAR:
		ioctl(dev, RPM_IOC_CLEAR_SOFT_DIRTY_ALL);
		break;
	}
	pthread_join(t, NULL);
	pm_touch(p, half, PM_PAGE, true);
	clean = clean_pages(proc, p, half / PM_PAGE);
	if (clean > 0)
		show_clean(proc, p, half / PM_PAGE);
	munmap(p, len);
	return clean;
}

static void race_test(struct __test_metadata *_metadata, int proc, int dev, enum race_kind kind,
		      enum race_mem mem)
{
	const char *env = getenv("RPM_RACE_ROUNDS");
	int rounds = env && *env ? atoi(env) : RACE_ROUNDS;
	long lost = 0;

	ASSERT_TRUE(two_cpus());
	if (mem == RACE_ANON_SWAPPED)
		ASSERT_TRUE(pm_have_swap());
	for (int i = 0; i < rounds; i++) {
		time_t t0 = time(NULL);
		long clean = race_round(proc, dev, kind, mem);

		TH_LOG("round %d: %ld clean, %lds", i, clean, (long)(time(NULL) - t0));

		ASSERT_NE(clean, -2) TH_LOG("MADV_PAGEOUT did not swap the region out");
		ASSERT_GE(clean, 0);
		lost += clean;
	}
	EXPECT_EQ(lost, 0) TH_LOG("%ld written pages read clean", lost);
}

TEST_F_TIMEOUT(sdc, get_and_clear_racing_read_faults_loses_no_write, RACE_TIMEOUT)
{
	race_test(_metadata, self->proc, self->dev, RACE_GET_AND_CLEAR, RACE_MEMFD);
}

TEST_F_TIMEOUT(sdc, ranged_clear_racing_read_faults_loses_no_write, RACE_TIMEOUT)
{
	race_test(_metadata, self->proc, self->dev, RACE_RANGED_CLEAR, RACE_MEMFD);
}

TEST_F_TIMEOUT(sdc, whole_clear_racing_read_faults_loses_no_write, RACE_TIMEOUT)
{
	race_test(_metadata, self->proc, self->dev, RACE_WHOLE_CLEAR, RACE_MEMFD);
}

TEST_F_TIMEOUT(sdc, get_and_clear_racing_swap_ins_loses_no_write, RACE_TIMEOUT)
{
	race_test(_metadata, self->proc, self->dev, RACE_GET_AND_CLEAR, RACE_ANON_SWAPPED);
}

TEST_F_TIMEOUT(sdc, ranged_clear_racing_swap_ins_loses_no_write, RACE_TIMEOUT)
{
	race_test(_metadata, self->proc, self->dev, RACE_RANGED_CLEAR, RACE_ANON_SWAPPED);
}

TEST_HARNESS_MAIN
