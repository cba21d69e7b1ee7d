// SPDX-License-Identifier: GPL-2.0
/*
 * PAGEMAP_SCAN behaviour beyond single categories, one behaviour per test:
 * the masks, region merging, the vec_len and max_pages limits and what
 * walk_end says after each (the kernel's quirks included), errors after
 * progress, PM_SCAN_CHECK_WPASYNC, and PM_SCAN_WP_MATCHING on PTEs, THPs,
 * hugetlb pages and holes, including the TLB flush a concurrent writer needs.
 *
 * Each test first checks that the kernel (/proc/self/pagemap) shows the
 * behaviour the test names, then that the device does the same. Scans that
 * write-protect are compared on twins: the same memory built twice, the
 * kernel's scan on one, the device's on the other, and then the twins.
 */
#include "pm_scan.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "pm_require.h"

#define NPAGES 64
#define LEN (NPAGES * PM_PAGE)
#define P(i) ((size_t)(i) * PM_PAGE)

FIXTURE(scan)
{
	int proc, dev;
	int uffd;
	struct pm_scan_result r;
};

FIXTURE_SETUP(scan)
{
	PM_OPEN_BOTH(self);
	self->uffd = pm_uffd_async();
	ASSERT_GE(self->uffd, 0) TH_LOG("async uffd-wp unavailable");
}

FIXTURE_TEARDOWN(scan)
{
	close(self->uffd);
	PM_CLOSE_BOTH(self);
}

/* A request for [p + P(from), p + P(to)). */
static struct pm_scan_arg req(char *p, size_t from, size_t to, uint64_t flags, uint64_t inv,
			      uint64_t mask, uint64_t anyof, uint64_t ret)
{
	return pm_scan_req((uintptr_t)p + P(from), (uintptr_t)p + P(to), flags, inv, mask, anyof,
			   ret);
}

/* The kernel's answer to `a` with room for `vec_len` regions, in self->r. */
#define KERNEL(a, vec_len) pm_scan_run(self->proc, &(a), (vec_len), &self->r)
/* Both files give the same answer to a scan that changes nothing. */
#define EXPECT_AGREE(a, vec_len) EXPECT_TRUE(pm_scan_agree(self->proc, self->dev, &(a), (vec_len)))
/* A write-protecting scan, kernel on twin x and device on twin y, agrees; then the twins. */
#define EXPECT_TWINS_AGREE(x, y, len, a, vec_len)                                           \
	EXPECT_TRUE(pm_scan_twins_agree(self->proc, self->dev, (x), (y), (len), &(a), (vec_len), \
					NULL))

#define REGION(i, s, e, c)                                                  \
	do {                                                                \
		EXPECT_EQ((uint64_t)(s), self->r.r[i].start);               \
		EXPECT_EQ((uint64_t)(e), self->r.r[i].end);                 \
		EXPECT_EQ((uint64_t)(c), self->r.r[i].categories);          \
	} while (0)

static char *anon(size_t len)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

/* Write pages [from, to) of p, every `stride`-th. */
static void write_pages(char *p, size_t from, size_t to, size_t stride)
{
	for (size_t i = from; i < to; i += stride)
		p[P(i)] = (char)i | 1;
}

/* Whether /proc/self/pagemap shows page `i` of p with the uffd-wp bit. */
static bool uffd_wp_bit(int proc, char *p, size_t i)
{
	uint64_t e;

	return !pm_read_entries(proc, (uintptr_t)p + P(i), 1, &e) && (e & RPM_UFFD_WP);
}

/* LEN of anonymous memory, registered for async uffd-wp, all written, then protected. */
static char *protected_anon(int uffd)
{
	char *p = anon(LEN);

	if (p == MAP_FAILED)
		return p;
	write_pages(p, 0, NPAGES, 1);
	if (pm_uffd_async_wp(uffd, p, LEN))
		return MAP_FAILED;
	return p;
}

/* A 2 MiB aligned anon THP, written, registered for async uffd-wp (not protected). */
static char *thp_registered(int uffd)
{
	char *p = pm_thp_map(PM_HPAGE, -1);

	if (p == MAP_FAILED)
		return MAP_FAILED;
	pm_touch(p, PM_HPAGE, PM_PAGE, true);
	if (pm_uffd_register(uffd, p, PM_HPAGE, UFFDIO_REGISTER_MODE_WP))
		return MAP_FAILED;
	return p;
}

static char *hugetlb_registered(int uffd, size_t len, bool write)
{
	char *p = pm_hugetlb_map(len, PM_HPAGE, MAP_PRIVATE);

	if (p == MAP_FAILED)
		return p;
	if (write)
		pm_touch(p, len, PM_HPAGE, true);
	if (pm_uffd_register(uffd, p, len, UFFDIO_REGISTER_MODE_WP))
		return MAP_FAILED;
	return p;
}

/* --- masks and merging ---------------------------------------------------- */

TEST_F(scan, return_mask_zero_merges_all_contiguous_matches)
{
	char *p = anon(LEN);
	struct pm_scan_arg a = req(p, 0, NPAGES, 0, 0, 0, 0, 0);

	ASSERT_NE(MAP_FAILED, p);
	write_pages(p, 0, NPAGES, 2);
	KERNEL(a, 16);
	ASSERT_EQ(1, self->r.ret);
	REGION(0, p, p + LEN, 0);
	EXPECT_AGREE(a, 16);
}

TEST_F(scan, return_mask_splits_regions_where_reported_categories_change)
{
	char *p = anon(LEN);
	struct pm_scan_arg a = req(p, 0, NPAGES, 0, 0, 0, 0, PAGE_IS_PRESENT);

	ASSERT_NE(MAP_FAILED, p);
	write_pages(p, 0, NPAGES, 2);
	KERNEL(a, 128);
	ASSERT_EQ(NPAGES, self->r.ret);
	REGION(0, p, p + P(1), PAGE_IS_PRESENT);
	REGION(1, p + P(1), p + P(2), 0);
	EXPECT_AGREE(a, 128);
}

TEST_F(scan, category_mask_requires_every_bit)
{
	char *p = anon(LEN);
	struct pm_scan_arg a = req(p, 0, NPAGES, 0, 0, PAGE_IS_PRESENT | PAGE_IS_SOFT_DIRTY, 0,
				   PM_ALL_CATEGORIES);

	ASSERT_NE(MAP_FAILED, p);
	write_pages(p, 0, NPAGES, 1);
	ASSERT_EQ(0, pm_clear_soft_dirty());
	write_pages(p, 10, 20, 1);
	KERNEL(a, 16);
	ASSERT_EQ(1, self->r.ret);
	EXPECT_EQ((uintptr_t)p + P(10), self->r.r[0].start);
	EXPECT_EQ((uintptr_t)p + P(20), self->r.r[0].end);
	EXPECT_AGREE(a, 16);
}

TEST_F(scan, category_anyof_mask_requires_one_bit)
{
	char *p = anon(LEN);
	struct pm_scan_arg a = req(p, 0, NPAGES, 0, 0, 0, PAGE_IS_PRESENT | PAGE_IS_GUARD,
				   PAGE_IS_PRESENT | PAGE_IS_GUARD);

	ASSERT_NE(MAP_FAILED, p);
	write_pages(p, 0, 8, 1);
	ASSERT_EQ(0, madvise(p + P(8), P(4), MADV_GUARD_INSTALL));
	KERNEL(a, 16);
	ASSERT_EQ(2, self->r.ret);
	REGION(0, p, p + P(8), PAGE_IS_PRESENT);
	REGION(1, p + P(8), p + P(12), PAGE_IS_GUARD);
	EXPECT_AGREE(a, 16);
}

TEST_F(scan, category_inverted_selects_pages_without_the_category)
{
	char *p = anon(LEN);
	struct pm_scan_arg a = req(p, 0, NPAGES, 0, PAGE_IS_PRESENT, PAGE_IS_PRESENT, 0,
				   PM_ALL_CATEGORIES);

	ASSERT_NE(MAP_FAILED, p);
	write_pages(p, 0, 16, 1);
	KERNEL(a, 16);
	ASSERT_EQ(1, self->r.ret);
	REGION(0, p + P(16), p + LEN, PAGE_IS_SOFT_DIRTY);
	EXPECT_AGREE(a, 16);
}

TEST_F(scan, category_inverted_alone_changes_nothing)
{
	char *p = anon(LEN);
	struct pm_scan_arg a = req(p, 0, NPAGES, 0, PAGE_IS_FILE | PAGE_IS_PRESENT, 0, 0,
				   PM_ALL_CATEGORIES);

	ASSERT_NE(MAP_FAILED, p);
	write_pages(p, 0, 16, 1);
	KERNEL(a, 16);
	ASSERT_EQ(2, self->r.ret);
	REGION(0, p, p + P(16), PAGE_IS_PRESENT | PAGE_IS_SOFT_DIRTY);
	EXPECT_AGREE(a, 16);
}

/* --- max_pages ------------------------------------------------------------ */

TEST_F(scan, max_pages_cuts_region_and_walk_end_is_first_unreported_page)
{
	char *p = anon(LEN);
	struct pm_scan_arg a = req(p, 0, NPAGES, 0, 0, PAGE_IS_PRESENT, 0, PAGE_IS_PRESENT);

	ASSERT_NE(MAP_FAILED, p);
	write_pages(p, 0, 16, 1);
	a.max_pages = 5;
	KERNEL(a, 16);
	ASSERT_EQ(1, self->r.ret);
	REGION(0, p, p + P(5), PAGE_IS_PRESENT);
	EXPECT_EQ((uintptr_t)p + P(5), self->r.walk_end);
	EXPECT_AGREE(a, 16);
}

TEST_F(scan, max_pages_reached_exactly_lets_the_walk_finish)
{
	char *p = anon(LEN);
	struct pm_scan_arg a = req(p, 0, NPAGES, 0, 0, PAGE_IS_PRESENT, 0, PAGE_IS_PRESENT);

	ASSERT_NE(MAP_FAILED, p);
	write_pages(p, 0, 16, 1);
	a.max_pages = 16;
	KERNEL(a, 16);
	ASSERT_EQ(1, self->r.ret);
	EXPECT_EQ((uintptr_t)p + LEN, self->r.walk_end);
	EXPECT_AGREE(a, 16);
}

TEST_F(scan, max_pages_walk_end_is_next_matching_page_not_end_of_last)
{
	char *p = anon(LEN);
	struct pm_scan_arg a = req(p, 0, NPAGES, 0, 0, PAGE_IS_PRESENT, 0, PAGE_IS_PRESENT);

	ASSERT_NE(MAP_FAILED, p);
	write_pages(p, 0, 5, 1);
	write_pages(p, 10, 15, 1);
	a.max_pages = 5;
	KERNEL(a, 16);
	ASSERT_EQ(1, self->r.ret);
	REGION(0, p, p + P(5), PAGE_IS_PRESENT);
	EXPECT_EQ((uintptr_t)p + P(10), self->r.walk_end);
	EXPECT_AGREE(a, 16);
}

TEST_F(scan, max_pages_ignored_without_output_array)
{
	char *p = anon(LEN);
	struct pm_scan_arg a = req(p, 0, NPAGES, 0, 0, PAGE_IS_PRESENT, 0, PAGE_IS_PRESENT);

	ASSERT_NE(MAP_FAILED, p);
	write_pages(p, 0, 16, 1);
	a.max_pages = 1;
	KERNEL(a, 0);
	ASSERT_EQ(0, self->r.ret);
	EXPECT_EQ((uintptr_t)p + LEN, self->r.walk_end);
	EXPECT_AGREE(a, 0);
}

TEST_F(scan, max_pages_cuts_thp_run)
{
	char *p = pm_map_aligned(PM_HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	struct pm_scan_arg a = pm_scan_req((uintptr_t)p, (uintptr_t)p + PM_HPAGE, 0, 0, 0, 0,
					   PM_ALL_CATEGORIES);

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p, PM_HPAGE, MADV_HUGEPAGE));
	pm_touch(p, PM_HPAGE, PM_PAGE, true);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	a.max_pages = 100;
	KERNEL(a, 16);
	ASSERT_EQ(1, self->r.ret);
	EXPECT_EQ((uintptr_t)p + P(100), self->r.r[0].end);
	EXPECT_EQ((uintptr_t)p + P(100), self->r.walk_end);
	EXPECT_AGREE(a, 16);
}

/* --- the output array ----------------------------------------------------- */

TEST_F(scan, full_array_returns_its_length_and_walk_end_at_region_left_out)
{
	char *p = anon(LEN);
	struct pm_scan_arg a = req(p, 0, NPAGES, 0, 0, 0, 0, PAGE_IS_PRESENT);

	ASSERT_NE(MAP_FAILED, p);
	write_pages(p, 0, NPAGES, 2);
	KERNEL(a, 3);
	ASSERT_EQ(3, self->r.ret);
	EXPECT_EQ((uintptr_t)p + P(3), self->r.walk_end);
	EXPECT_AGREE(a, 3);
}

TEST_F(scan, array_beyond_bounce_buffer_restarts_and_keeps_stale_walk_end)
{
	/* 700 regions: the first walk fills 512 and stops, the second finds the rest. */
	char *p = anon(P(700));
	struct pm_scan_arg a = req(p, 0, 700, 0, 0, 0, 0, PAGE_IS_PRESENT);

	ASSERT_NE(MAP_FAILED, p);
	write_pages(p, 0, 700, 2);
	KERNEL(a, 1000);
	ASSERT_EQ(700, self->r.ret);
	/* walk_end stays where the second walk started, not at the end. */
	EXPECT_EQ((uintptr_t)p + P(512), self->r.walk_end);
	EXPECT_AGREE(a, 1000);
}

TEST_F(scan, array_beyond_bounce_buffer_fills_up_over_two_walks)
{
	char *p = anon(P(700));
	struct pm_scan_arg a = req(p, 0, 700, 0, 0, 0, 0, PAGE_IS_PRESENT);

	ASSERT_NE(MAP_FAILED, p);
	write_pages(p, 0, 700, 2);
	KERNEL(a, 600);
	ASSERT_EQ(600, self->r.ret);
	EXPECT_EQ((uintptr_t)p + P(600), self->r.walk_end);
	EXPECT_AGREE(a, 600);
}

TEST_F(scan, no_array_reports_nothing_and_walk_end_is_end)
{
	char *p = anon(LEN);
	struct pm_scan_arg a = req(p, 0, NPAGES, 0, 0, 0, 0, PM_ALL_CATEGORIES);

	ASSERT_NE(MAP_FAILED, p);
	write_pages(p, 0, NPAGES, 1);
	KERNEL(a, 0);
	ASSERT_EQ(0, self->r.ret);
	EXPECT_EQ((uintptr_t)p + LEN, self->r.walk_end);
	EXPECT_AGREE(a, 0);
}

TEST_F(scan, return_value_counts_regions_and_leaves_the_rest_of_the_array)
{
	char *p = anon(LEN);
	struct pm_scan_arg a = req(p, 0, NPAGES, 0, 0, 0, 0, PAGE_IS_PRESENT);
	static struct pm_scan_result d;

	ASSERT_NE(MAP_FAILED, p);
	write_pages(p, 0, 8, 1);
	pm_scan_run(self->dev, &a, 16, &d);
	ASSERT_EQ(2, d.ret);
	/* pm_scan_run filled the array with 0xa5 first. */
	EXPECT_EQ(0xa5a5a5a5a5a5a5a5ULL, d.r[2].start);
	EXPECT_AGREE(a, 16);
}

TEST_F(scan, only_walk_end_is_written_back)
{
	char *p = anon(LEN);
	struct pm_scan_arg a = req(p, 0, NPAGES, 0, 0, 0, 0, PM_ALL_CATEGORIES), b;
	struct page_region vec[4];

	ASSERT_NE(MAP_FAILED, p);
	a.vec = (uintptr_t)vec;
	a.vec_len = 4;
	a.max_pages = 7;
	b = a;
	ASSERT_EQ(1, ioctl(self->dev, PAGEMAP_SCAN, &b));
	EXPECT_EQ((uintptr_t)p + P(7), b.walk_end);
	b.walk_end = a.walk_end;
	EXPECT_EQ(0, memcmp(&a, &b, sizeof(a)));
}

/* --- the range ------------------------------------------------------------ */

TEST_F(scan, empty_range_returns_zero_with_walk_end_at_start)
{
	char *p = anon(LEN);
	struct pm_scan_arg a = req(p, 4, 4, 0, 0, 0, 0, PM_ALL_CATEGORIES);

	ASSERT_NE(MAP_FAILED, p);
	KERNEL(a, 16);
	ASSERT_EQ(0, self->r.ret);
	EXPECT_EQ((uintptr_t)p + P(4), self->r.walk_end);
	EXPECT_AGREE(a, 16);
}

TEST_F(scan, unaligned_end_is_rounded_up)
{
	char *p = anon(LEN);
	struct pm_scan_arg a = req(p, 0, 5, 0, 0, 0, 0, PM_ALL_CATEGORIES);

	ASSERT_NE(MAP_FAILED, p);
	write_pages(p, 0, NPAGES, 1);
	a.end += 1;
	KERNEL(a, 16);
	ASSERT_EQ(1, self->r.ret);
	EXPECT_EQ((uintptr_t)p + P(6), self->r.r[0].end);
	EXPECT_EQ((uintptr_t)p + P(6), self->r.walk_end);
	EXPECT_AGREE(a, 16);
}

TEST_F(scan, gaps_between_vmas_are_never_reported)
{
	char *p = anon(LEN);
	struct pm_scan_arg a = req(p, 0, NPAGES, 0, 0, 0, 0, 0);

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, munmap(p + P(20), P(10)));
	KERNEL(a, 16);
	ASSERT_EQ(2, self->r.ret);
	REGION(0, p, p + P(20), 0);
	REGION(1, p + P(30), p + LEN, 0);
	EXPECT_AGREE(a, 16);
}

TEST_F(scan, pfnmap_vma_is_skipped)
{
	static struct pm_vma v[512];
	int n = pm_read_maps(v, 512), found = 0;

	ASSERT_GT(n, 0);
	for (int i = 0; i < n; i++) {
		struct pm_scan_arg a;

		if (strncmp(v[i].name, "[vvar", 5))
			continue;
		a = pm_scan_req(v[i].start, v[i].end, 0, 0, 0, 0, PM_ALL_CATEGORIES);
		KERNEL(a, 16);
		if (!strcmp(v[i].name, "[vvar_vclock]")) {
			/* VM_PFNMAP: not even its holes are reported. */
			EXPECT_EQ(0, self->r.ret);
			found++;
		}
		EXPECT_AGREE(a, 16);
	}
	if (!found)
		SKIP(return, "no [vvar_vclock] mapping to check");
}

/*
 * From 0 to the probed top, with memory mapped at the very top (above 2^47
 * under 5-level paging): the kernel's answer must reach it, and the device's
 * must be the same.
 */
TEST_F(scan, whole_address_space)
{
	char *high = pm_map_high(PM_HPAGE, 64 * PM_HPAGE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	struct pm_scan_arg a = pm_scan_req(0, pm_user_top(), 0, 0, 0, 0, PM_ALL_CATEGORIES);

	ASSERT_NE(MAP_FAILED, high);
	if (pm_paging_levels() == 5)
		ASSERT_GT((uintptr_t)high, 1UL << 47) TH_LOG("5-level paging, mapped below 2^47");
	pm_touch(high, PM_HPAGE, 4 * PM_PAGE, true);
	KERNEL(a, PM_MAX_REGIONS);
	ASSERT_GT(self->r.ret, 3);
	EXPECT_GT(self->r.r[self->r.n - 1].end, (uintptr_t)high)
	TH_LOG("the kernel's scan did not reach the top mapping");
	EXPECT_AGREE(a, PM_MAX_REGIONS);
	munmap(high, PM_HPAGE);
}

/* --- errors after progress ------------------------------------------------ */

TEST_F(scan, unwritable_array_is_efault_and_walk_end_still_written)
{
	char *p = anon(LEN);
	char *ro = mmap(NULL, PM_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct pm_scan_arg a = req(p, 0, NPAGES, 0, 0, 0, 0, PM_ALL_CATEGORIES), b;

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_NE(MAP_FAILED, ro);
	a.vec = (uintptr_t)ro;
	a.vec_len = 4;
	b = a;
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->proc, PAGEMAP_SCAN, &a));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ((uintptr_t)p + LEN, a.walk_end);
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->dev, PAGEMAP_SCAN, &b));
	EXPECT_EQ(EFAULT, errno);
	EXPECT_EQ(a.walk_end, b.walk_end);
}

TEST_F(scan, array_fault_on_second_flush_keeps_first_regions)
{
	/* The first 512 regions are writable, the rest of the array is not. */
	size_t first = 512 * sizeof(struct page_region);
	size_t room = (first + PM_PAGE - 1) & ~(PM_PAGE - 1);
	char *p = anon(P(1400));
	char *vec[2];
	struct pm_scan_arg a[2];

	ASSERT_NE(MAP_FAILED, p);
	write_pages(p, 0, 1400, 2);
	for (int i = 0; i < 2; i++) {
		vec[i] = mmap(NULL, room + PM_PAGE, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, vec[i]);
		ASSERT_EQ(0, mprotect(vec[i] + room, PM_PAGE, PROT_READ));
		a[i] = req(p, 0, 1400, 0, 0, 0, 0, PAGE_IS_PRESENT);
		/* Regions start `room - first` bytes in, so slot 512 is the read-only page. */
		a[i].vec = (uintptr_t)vec[i] + room - first;
		a[i].vec_len = 1000;
		errno = 0;
		EXPECT_EQ(-1, ioctl(i ? self->dev : self->proc, PAGEMAP_SCAN, &a[i]));
		EXPECT_EQ(EFAULT, errno);
	}
	EXPECT_EQ(a[0].walk_end, a[1].walk_end);
	EXPECT_EQ(0, memcmp(vec[0] + room - first, vec[1] + room - first, first));
	EXPECT_EQ((uintptr_t)p, ((struct page_region *)(vec[1] + room - first))->start);
}

TEST_F(scan, unwritable_walk_end_is_efault_after_the_scan_was_done)
{
	char *p[2], *argpage[2];

	for (int i = 0; i < 2; i++) {
		struct pm_scan_arg *a;

		p[i] = protected_anon(self->uffd);
		ASSERT_NE(MAP_FAILED, p[i]);
		write_pages(p[i], 3, 6, 1);
		argpage[i] = mmap(NULL, PM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				  -1, 0);
		ASSERT_NE(MAP_FAILED, argpage[i]);
		a = (struct pm_scan_arg *)argpage[i];
		*a = req(p[i], 0, NPAGES, PM_SCAN_WP_MATCHING, 0, PAGE_IS_WRITTEN, 0,
			 PAGE_IS_WRITTEN);
		ASSERT_EQ(0, mprotect(argpage[i], PM_PAGE, PROT_READ));
		errno = 0;
		EXPECT_EQ(-1, ioctl(i ? self->dev : self->proc, PAGEMAP_SCAN, a));
		EXPECT_EQ(EFAULT, errno);
		/* The pages were write-protected all the same. */
		EXPECT_TRUE(uffd_wp_bit(self->proc, p[i], 4));
	}
	EXPECT_TRUE(pm_twins_alike(self->proc, p[0], p[1], LEN));
}

/* --- PM_SCAN_CHECK_WPASYNC ------------------------------------------------ */

TEST_F(scan, check_wpasync_fails_with_eperm_at_first_unfit_vma)
{
	char *p = anon(LEN);
	struct pm_scan_arg a = req(p, 0, NPAGES, PM_SCAN_CHECK_WPASYNC, 0, 0, 0, 0);
	static struct page_region v[2][8];
	uint64_t walk_end[2];

	ASSERT_NE(MAP_FAILED, p);
	write_pages(p, 0, NPAGES, 1);
	ASSERT_EQ(0, pm_uffd_register(self->uffd, p, P(32), UFFDIO_REGISTER_MODE_WP));
	for (int i = 0; i < 2; i++) {
		struct pm_scan_arg b = a;

		b.vec = (uintptr_t)v[i];
		b.vec_len = 8;
		errno = 0;
		EXPECT_EQ(-1, ioctl(i ? self->dev : self->proc, PAGEMAP_SCAN, &b));
		EXPECT_EQ(EPERM, errno);
		walk_end[i] = b.walk_end;
	}
	/* The region found before the failure was still copied out. */
	EXPECT_EQ((uintptr_t)p, v[0][0].start);
	EXPECT_EQ((uintptr_t)p + P(32), v[0][0].end);
	EXPECT_EQ(0, memcmp(v[0], v[1], sizeof(v[0])));
	EXPECT_EQ(walk_end[0], walk_end[1]);
}

TEST_F(scan, check_wpasync_passes_on_async_vmas)
{
	char *p = protected_anon(self->uffd);
	struct pm_scan_arg a = req(p, 0, NPAGES, PM_SCAN_CHECK_WPASYNC, 0, 0, 0, PM_ALL_CATEGORIES);

	ASSERT_NE(MAP_FAILED, p);
	KERNEL(a, 16);
	ASSERT_EQ(1, self->r.ret);
	EXPECT_AGREE(a, 16);
}

/* --- PM_SCAN_WP_MATCHING on PTEs ------------------------------------------ */

TEST_F(scan, wp_protects_the_written_pages_it_reports)
{
	char *x = protected_anon(self->uffd), *y = protected_anon(self->uffd);
	struct pm_scan_arg a = req(x, 0, NPAGES, PM_SCAN_WP_MATCHING, 0, PAGE_IS_WRITTEN, 0,
				   PAGE_IS_WRITTEN);

	ASSERT_NE(MAP_FAILED, x);
	ASSERT_NE(MAP_FAILED, y);
	write_pages(x, 2, 4, 1);
	write_pages(y, 2, 4, 1);
	write_pages(x, 7, 8, 1);
	write_pages(y, 7, 8, 1);
	ASSERT_FALSE(uffd_wp_bit(self->proc, x, 2));
	EXPECT_TWINS_AGREE(x, y, LEN, a, 16);
	EXPECT_TRUE(uffd_wp_bit(self->proc, x, 2));
	EXPECT_TRUE(uffd_wp_bit(self->proc, y, 7));
	/* Written again after the protection: written again. */
	write_pages(x, 3, 4, 1);
	write_pages(y, 3, 4, 1);
	EXPECT_TWINS_AGREE(x, y, LEN, a, 16);
}

TEST_F(scan, wp_protects_only_what_max_pages_lets_it_report)
{
	char *x = protected_anon(self->uffd), *y = protected_anon(self->uffd);
	struct pm_scan_arg a = req(x, 0, NPAGES, PM_SCAN_WP_MATCHING, 0, PAGE_IS_WRITTEN, 0,
				   PAGE_IS_WRITTEN);

	ASSERT_NE(MAP_FAILED, x);
	ASSERT_NE(MAP_FAILED, y);
	write_pages(x, 0, 10, 1);
	write_pages(y, 0, 10, 1);
	a.max_pages = 3;
	EXPECT_TWINS_AGREE(x, y, LEN, a, 16);
	EXPECT_TRUE(uffd_wp_bit(self->proc, x, 2));
	EXPECT_FALSE(uffd_wp_bit(self->proc, x, 3));
}

TEST_F(scan, wp_without_array_protects_every_pte_whatever_the_masks)
{
	char *x = protected_anon(self->uffd), *y = protected_anon(self->uffd);
	/* No page is PFNZERO, yet every written PTE gets protected. */
	struct pm_scan_arg a = req(x, 0, NPAGES, PM_SCAN_WP_MATCHING, 0, PAGE_IS_PFNZERO, 0, 0);

	ASSERT_NE(MAP_FAILED, x);
	ASSERT_NE(MAP_FAILED, y);
	write_pages(x, 0, NPAGES, 3);
	write_pages(y, 0, NPAGES, 3);
	EXPECT_TWINS_AGREE(x, y, LEN, a, 0);
	EXPECT_TRUE(uffd_wp_bit(self->proc, x, 3));
}

TEST_F(scan, wp_with_array_protects_only_matching_ptes)
{
	char *x = protected_anon(self->uffd), *y = protected_anon(self->uffd);
	struct pm_scan_arg a = req(x, 0, NPAGES, PM_SCAN_WP_MATCHING, 0, PAGE_IS_PFNZERO, 0, 0);

	ASSERT_NE(MAP_FAILED, x);
	ASSERT_NE(MAP_FAILED, y);
	write_pages(x, 0, NPAGES, 3);
	write_pages(y, 0, NPAGES, 3);
	EXPECT_TWINS_AGREE(x, y, LEN, a, 16);
	EXPECT_FALSE(uffd_wp_bit(self->proc, x, 3));
}

TEST_F(scan, wp_skips_vmas_without_async_wp_silently)
{
	char *x = anon(LEN), *y = anon(LEN);
	struct pm_scan_arg a = req(x, 0, NPAGES, PM_SCAN_WP_MATCHING, 0, PAGE_IS_WRITTEN, 0,
				   PAGE_IS_WRITTEN);
	static struct pm_scan_result k;

	ASSERT_NE(MAP_FAILED, x);
	ASSERT_NE(MAP_FAILED, y);
	write_pages(x, 0, NPAGES, 1);
	write_pages(y, 0, NPAGES, 1);
	/* The first half is registered, the second is not. */
	ASSERT_EQ(0, pm_uffd_register(self->uffd, x, P(32), UFFDIO_REGISTER_MODE_WP));
	ASSERT_EQ(0, pm_uffd_register(self->uffd, y, P(32), UFFDIO_REGISTER_MODE_WP));
	EXPECT_TRUE(pm_scan_twins_agree(self->proc, self->dev, x, y, LEN, &a, 16, &k));
	ASSERT_EQ(1, k.ret);
	EXPECT_EQ((uintptr_t)x + P(32), k.r[0].end);
	EXPECT_TRUE(uffd_wp_bit(self->proc, y, 0));
	EXPECT_FALSE(uffd_wp_bit(self->proc, y, 40));
}

TEST_F(scan, wp_check_wpasync_eperm_keeps_the_protection_done_before)
{
	char *x = anon(LEN), *y = anon(LEN);
	struct pm_scan_arg a = req(x, 0, NPAGES, PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, 0,
				   PAGE_IS_WRITTEN, 0, PAGE_IS_WRITTEN);
	static struct pm_scan_result k;

	ASSERT_NE(MAP_FAILED, x);
	ASSERT_NE(MAP_FAILED, y);
	write_pages(x, 0, NPAGES, 1);
	write_pages(y, 0, NPAGES, 1);
	ASSERT_EQ(0, pm_uffd_register(self->uffd, x, P(32), UFFDIO_REGISTER_MODE_WP));
	ASSERT_EQ(0, pm_uffd_register(self->uffd, y, P(32), UFFDIO_REGISTER_MODE_WP));
	EXPECT_TRUE(pm_scan_twins_agree(self->proc, self->dev, x, y, LEN, &a, 16, &k));
	EXPECT_EQ(-EPERM, k.ret);
	EXPECT_TRUE(uffd_wp_bit(self->proc, x, 0));
	EXPECT_TRUE(uffd_wp_bit(self->proc, y, 0));
}

TEST_F(scan, wp_hole_in_uffd_wp_vma_gets_markers)
{
	char *x = pm_map_aligned(PM_HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	char *y = pm_map_aligned(PM_HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	struct pm_scan_arg a = pm_scan_req((uintptr_t)x + P(10), (uintptr_t)x + P(20),
					   PM_SCAN_WP_MATCHING, 0, PAGE_IS_WRITTEN, 0,
					   PAGE_IS_WRITTEN);

	ASSERT_NE(MAP_FAILED, x);
	ASSERT_NE(MAP_FAILED, y);
	ASSERT_EQ(0, pm_uffd_register(self->uffd, x, PM_HPAGE, UFFDIO_REGISTER_MODE_WP));
	ASSERT_EQ(0, pm_uffd_register(self->uffd, y, PM_HPAGE, UFFDIO_REGISTER_MODE_WP));
	EXPECT_TWINS_AGREE(x, y, PM_HPAGE, a, 16);
	/* Markers in the ten pages asked for, nothing around them. */
	EXPECT_TRUE(uffd_wp_bit(self->proc, x, 10));
	EXPECT_TRUE(uffd_wp_bit(self->proc, y, 19));
	EXPECT_FALSE(uffd_wp_bit(self->proc, x, 20));
}

/* --- PM_SCAN_WP_MATCHING on THPs ------------------------------------------ */

TEST_F(scan, wp_whole_thp_keeps_it_huge)
{
	char *x = thp_registered(self->uffd), *y = thp_registered(self->uffd);
	struct pm_scan_arg a = pm_scan_req((uintptr_t)x, (uintptr_t)x + PM_HPAGE,
					   PM_SCAN_WP_MATCHING, 0, PAGE_IS_WRITTEN, 0,
					   PM_ALL_CATEGORIES);

	ASSERT_NE(MAP_FAILED, x);
	ASSERT_NE(MAP_FAILED, y);
	PM_REQUIRE_THP(self->proc, x, PM_HPAGE);
	PM_REQUIRE_THP(self->proc, y, PM_HPAGE);
	EXPECT_TWINS_AGREE(x, y, PM_HPAGE, a, 16);
	EXPECT_EQ(512, pm_count_cat(self->proc, y, PM_HPAGE, PAGE_IS_HUGE, 0))
	TH_LOG("protecting a whole THP must not split it");
	EXPECT_TRUE(uffd_wp_bit(self->proc, y, 511));
}

TEST_F(scan, wp_part_of_thp_splits_it)
{
	char *x = thp_registered(self->uffd), *y = thp_registered(self->uffd);
	struct pm_scan_arg a = pm_scan_req((uintptr_t)x + P(100), (uintptr_t)x + P(200),
					   PM_SCAN_WP_MATCHING, 0, PAGE_IS_WRITTEN, 0,
					   PM_ALL_CATEGORIES);

	ASSERT_NE(MAP_FAILED, x);
	ASSERT_NE(MAP_FAILED, y);
	PM_REQUIRE_THP(self->proc, x, PM_HPAGE);
	PM_REQUIRE_THP(self->proc, y, PM_HPAGE);
	EXPECT_TWINS_AGREE(x, y, PM_HPAGE, a, 16);
	EXPECT_EQ(0, pm_smaps_kb(x, "AnonHugePages")) TH_LOG("the kernel kept the THP");
	EXPECT_EQ(0, pm_smaps_kb(y, "AnonHugePages"));
	EXPECT_TRUE(uffd_wp_bit(self->proc, y, 100));
	EXPECT_FALSE(uffd_wp_bit(self->proc, y, 99));
}

TEST_F(scan, wp_thp_cut_by_max_pages_splits_and_reports_page_by_page)
{
	char *x = thp_registered(self->uffd), *y = thp_registered(self->uffd);
	struct pm_scan_arg a = pm_scan_req((uintptr_t)x, (uintptr_t)x + PM_HPAGE,
					   PM_SCAN_WP_MATCHING, 0, PAGE_IS_WRITTEN, 0,
					   PM_ALL_CATEGORIES);
	static struct pm_scan_result k;

	ASSERT_NE(MAP_FAILED, x);
	ASSERT_NE(MAP_FAILED, y);
	PM_REQUIRE_THP(self->proc, x, PM_HPAGE);
	PM_REQUIRE_THP(self->proc, y, PM_HPAGE);
	a.max_pages = 10;
	EXPECT_TRUE(pm_scan_twins_agree(self->proc, self->dev, x, y, PM_HPAGE, &a, 16, &k));
	/* The run after the split has no HUGE: the backed-out THP run left no trace. */
	ASSERT_EQ(1, k.ret);
	EXPECT_EQ(0, k.r[0].categories & PAGE_IS_HUGE);
	EXPECT_EQ((uintptr_t)x + P(10), k.r[0].end);
	EXPECT_TRUE(uffd_wp_bit(self->proc, y, 9));
	EXPECT_FALSE(uffd_wp_bit(self->proc, y, 10));
}

/* 4 MiB registered for async uffd-wp: PTEs in the first 2 MiB, a THP in the second, all written. */
static char *ptes_then_thp(int uffd)
{
	char *p = pm_map_aligned(2 * PM_HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
				 -1);

	if (p == MAP_FAILED || madvise(p + PM_HPAGE, PM_HPAGE, MADV_HUGEPAGE))
		return MAP_FAILED;
	pm_touch(p + PM_HPAGE - P(10), P(10), PM_PAGE, true);
	pm_touch(p + PM_HPAGE, PM_HPAGE, PM_PAGE, true);
	if (pm_uffd_register(uffd, p, 2 * PM_HPAGE, UFFDIO_REGISTER_MODE_WP))
		return MAP_FAILED;
	return p;
}

TEST_F(scan, wp_thp_backout_cuts_back_the_region_it_extended)
{
	char *x = ptes_then_thp(self->uffd), *y = ptes_then_thp(self->uffd);
	/* Ten PTEs, then the THP merged into the same region and cut by max_pages. */
	struct pm_scan_arg a = pm_scan_req((uintptr_t)x + PM_HPAGE - P(10),
					   (uintptr_t)x + 2 * PM_HPAGE, PM_SCAN_WP_MATCHING, 0,
					   PAGE_IS_WRITTEN, 0, 0);
	static struct pm_scan_result k;

	ASSERT_NE(MAP_FAILED, x);
	ASSERT_NE(MAP_FAILED, y);
	PM_REQUIRE_THP(self->proc, x + PM_HPAGE, PM_HPAGE);
	PM_REQUIRE_THP(self->proc, y + PM_HPAGE, PM_HPAGE);
	a.max_pages = 300;
	EXPECT_TRUE(pm_scan_twins_agree(self->proc, self->dev, x, y, 2 * PM_HPAGE, &a, 4, &k));
	ASSERT_EQ(1, k.ret);
	EXPECT_EQ((uintptr_t)x + PM_HPAGE - P(10), k.r[0].start);
	EXPECT_EQ((uintptr_t)x + PM_HPAGE + P(290), k.r[0].end);
}

TEST_F(scan, wp_part_of_shmem_thp_zaps_it_into_markers)
{
	char *t[2];
	int uffd = pm_uffd_async();
	struct pm_scan_arg a;

	ASSERT_GE(uffd, 0);
	for (int i = 0; i < 2; i++) {
		int fd = memfd_create("rpm-scan-shmem-thp", 0);

		ASSERT_GE(fd, 0);
		ASSERT_EQ(0, ftruncate(fd, PM_HPAGE));
		t[i] = pm_map_aligned(PM_HPAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
		close(fd);
		ASSERT_NE(MAP_FAILED, t[i]);
		ASSERT_EQ(0, madvise(t[i], PM_HPAGE, MADV_HUGEPAGE));
		pm_touch(t[i], PM_HPAGE, PM_PAGE, true);
		PM_REQUIRE_THP(self->proc, t[i], PM_HPAGE);
		ASSERT_EQ(0, pm_uffd_register(uffd, t[i], PM_HPAGE, UFFDIO_REGISTER_MODE_WP));
	}
	a = pm_scan_req((uintptr_t)t[0] + P(8), (uintptr_t)t[0] + P(16), PM_SCAN_WP_MATCHING, 0,
			PAGE_IS_WRITTEN, 0, PM_ALL_CATEGORIES);
	EXPECT_TWINS_AGREE(t[0], t[1], PM_HPAGE, a, 16);
	EXPECT_EQ(0, pm_smaps_kb(t[1], "ShmemPmdMapped"));
	EXPECT_TRUE(uffd_wp_bit(self->proc, t[1], 8));
	close(uffd);
}

/* --- PM_SCAN_WP_MATCHING on hugetlb --------------------------------------- */

TEST_F(scan, wp_whole_hugetlb_page)
{
	char *x = hugetlb_registered(self->uffd, PM_HPAGE, true);
	char *y = hugetlb_registered(self->uffd, PM_HPAGE, true);
	struct pm_scan_arg a = pm_scan_req((uintptr_t)x, (uintptr_t)x + PM_HPAGE,
					   PM_SCAN_WP_MATCHING, 0, PAGE_IS_WRITTEN, 0,
					   PM_ALL_CATEGORIES);

	PM_REQUIRE_HUGETLB_MAPPED(x, PM_HPAGE);
	PM_REQUIRE_HUGETLB_MAPPED(y, PM_HPAGE);
	EXPECT_TWINS_AGREE(x, y, PM_HPAGE, a, 16);
	EXPECT_TRUE(uffd_wp_bit(self->proc, y, 0));
	munmap(x, PM_HPAGE);
	munmap(y, PM_HPAGE);
}

TEST_F(scan, wp_part_of_hugetlb_page_is_skipped_with_walk_end_at_it)
{
	char *x = hugetlb_registered(self->uffd, PM_HPAGE, true);
	char *y = hugetlb_registered(self->uffd, PM_HPAGE, true);
	struct pm_scan_arg a = pm_scan_req((uintptr_t)x + P(1), (uintptr_t)x + PM_HPAGE,
					   PM_SCAN_WP_MATCHING, 0, PAGE_IS_WRITTEN, 0,
					   PM_ALL_CATEGORIES);
	static struct pm_scan_result k;

	PM_REQUIRE_HUGETLB_MAPPED(x, PM_HPAGE);
	PM_REQUIRE_HUGETLB_MAPPED(y, PM_HPAGE);
	EXPECT_TRUE(pm_scan_twins_agree(self->proc, self->dev, x, y, PM_HPAGE, &a, 16, &k));
	EXPECT_EQ(0, k.ret);
	EXPECT_EQ((uintptr_t)x + P(1), k.walk_end);
	EXPECT_FALSE(uffd_wp_bit(self->proc, y, 0));
	munmap(x, PM_HPAGE);
	munmap(y, PM_HPAGE);
}

TEST_F(scan, wp_hugetlb_cut_by_max_pages_backs_out_each_page)
{
	char *x = hugetlb_registered(self->uffd, 2 * PM_HPAGE, true);
	char *y = hugetlb_registered(self->uffd, 2 * PM_HPAGE, true);
	struct pm_scan_arg a = pm_scan_req((uintptr_t)x, (uintptr_t)x + 2 * PM_HPAGE,
					   PM_SCAN_WP_MATCHING, 0, PAGE_IS_WRITTEN, 0,
					   PM_ALL_CATEGORIES);
	static struct pm_scan_result k;

	PM_REQUIRE_HUGETLB_MAPPED(x, PM_HPAGE);
	PM_REQUIRE_HUGETLB_MAPPED(y, PM_HPAGE);
	a.max_pages = 100;
	EXPECT_TRUE(pm_scan_twins_agree(self->proc, self->dev, x, y, 2 * PM_HPAGE, &a, 16, &k));
	/* Both pages are backed out in turn; walk_end is left at the second. */
	EXPECT_EQ(0, k.ret);
	EXPECT_EQ((uintptr_t)x + PM_HPAGE, k.walk_end);
	munmap(x, 2 * PM_HPAGE);
	munmap(y, 2 * PM_HPAGE);
}

TEST_F(scan, wp_hugetlb_hole_marks_the_whole_huge_page)
{
	size_t g = 1UL << 30;
	char *t[2];
	struct pm_scan_arg a;

	for (int i = 0; i < 2; i++) {
		/* A fresh 1 GiB aligned range: no page table yet, the walk sees a hole. */
		char *raw = mmap(NULL, 2 * g, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
				 -1, 0);

		ASSERT_NE(MAP_FAILED, raw);
		t[i] = (char *)(((uintptr_t)raw + g - 1) & ~(g - 1));
		munmap(raw, 2 * g);
		t[i] = mmap(t[i], PM_HPAGE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB |
				    MAP_FIXED_NOREPLACE,
			    -1, 0);
		PM_REQUIRE_HUGETLB_MAPPED(t[i], PM_HPAGE);
		ASSERT_EQ(0, pm_uffd_register(self->uffd, t[i], PM_HPAGE, UFFDIO_REGISTER_MODE_WP));
	}
	/* Holes in hugetlb VMAs are not WRITTEN; select them by WPALLOWED, in part only. */
	a = pm_scan_req((uintptr_t)t[0] + P(3), (uintptr_t)t[0] + P(5), PM_SCAN_WP_MATCHING, 0,
			PAGE_IS_WPALLOWED, 0, PM_ALL_CATEGORIES);
	EXPECT_TWINS_AGREE(t[0], t[1], PM_HPAGE, a, 16);
	EXPECT_TRUE(uffd_wp_bit(self->proc, t[0], 0)) TH_LOG("the kernel left no marker");
	EXPECT_TRUE(uffd_wp_bit(self->proc, t[1], 0));
}

/*
 * Only one 1 GiB page exists, so no twins: the kernel protects it, a write
 * makes it written again, then the device protects it; both must report the
 * same and leave the same state.
 */
TEST_F_TIMEOUT(scan, wp_whole_1g_hugetlb_page_replayed_on_the_same_memory, 120)
{
	size_t g = 1UL << 30;
	char *p = mmap(NULL, g, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (30 << MAP_HUGE_SHIFT), -1, 0);
	struct pm_scan_arg a = pm_scan_req((uintptr_t)p, (uintptr_t)p + g, PM_SCAN_WP_MATCHING, 0,
					   PAGE_IS_WRITTEN, 0, PM_ALL_CATEGORIES);
	static struct pm_scan_result k, d;
	long after_k, after_d;

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_GPAGE);
	p[0] = 1;
	ASSERT_EQ(0, pm_uffd_register(self->uffd, p, g, UFFDIO_REGISTER_MODE_WP));
	pm_scan_run(self->proc, &a, 16, &k);
	after_k = pm_cat_at(self->proc, p, g, p);
	ASSERT_TRUE(uffd_wp_bit(self->proc, p, 0));
	p[0] = 2;
	ASSERT_FALSE(uffd_wp_bit(self->proc, p, 0));
	pm_scan_run(self->dev, &a, 16, &d);
	after_d = pm_cat_at(self->proc, p, g, p);
	EXPECT_TRUE(pm_scan_same(&k, 0, &d, 0));
	EXPECT_EQ(1, d.ret);
	EXPECT_EQ(after_k, after_d);
	EXPECT_TRUE(uffd_wp_bit(self->proc, p, 0));
	/* A part of the page cannot be protected: skipped, walk_end at its start. */
	p[0] = 3;
	a.start = (uintptr_t)p + P(1);
	pm_scan_run(self->proc, &a, 16, &k);
	pm_scan_run(self->dev, &a, 16, &d);
	EXPECT_TRUE(pm_scan_same(&k, 0, &d, 0));
	EXPECT_EQ((uintptr_t)p + P(1), d.walk_end);
	EXPECT_FALSE(uffd_wp_bit(self->proc, p, 0));
	munmap(p, g);
}

/* --- TLB shootdown -------------------------------------------------------- */

struct writer {
	volatile char *page;
	atomic_long count;
	atomic_int stop;
};

/* Pins the calling thread to `cpu` if there is more than one. */
static void pin(int cpu)
{
	cpu_set_t set;

	if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/*
 * Keeps writing one page (from CPU 1 if there are two), so that a TLB holds a
 * writable entry for it: another CPU's, or on one CPU the one both threads of
 * the mm share, which switching between them does not flush.
 */
static void *writer_thread(void *arg)
{
	struct writer *w = arg;

	pin(1);
	while (!atomic_load(&w->stop)) {
		w->page[0]++;
		atomic_fetch_add(&w->count, 1);
	}
	return NULL;
}

/*
 * Write-protect through `fd` the page a thread keeps writing; then its next
 * writes must fault and mark the page written again. Without a TLB flush they
 * would go through a stale writable entry.
 * Returns the categories of the page after the writer went on, -1 on error.
 */
static long wp_under_writer(int proc, int fd, char *p, size_t len)
{
	struct writer w = { .page = p };
	struct pm_scan_arg a = pm_scan_req((uintptr_t)p, (uintptr_t)p + len, PM_SCAN_WP_MATCHING, 0,
					   PAGE_IS_WRITTEN, 0, PAGE_IS_WRITTEN);
	pthread_t th;
	long before, cat;

	pin(0);
	atomic_init(&w.count, 0);
	atomic_init(&w.stop, 0);
	if (pthread_create(&th, NULL, writer_thread, &w))
		return -1;
	while (atomic_load(&w.count) < 100000)
		sched_yield();
	if (ioctl(fd, PAGEMAP_SCAN, &a) < 0)
		cat = -1;
	before = atomic_load(&w.count);
	while (atomic_load(&w.count) < before + 100000)
		sched_yield();
	atomic_store(&w.stop, 1);
	pthread_join(th, NULL);
	cat = pm_cat_at(proc, p, len, p);
	return cat;
}

TEST_F(scan, wp_pte_flushes_the_tlb_of_a_concurrent_writer)
{
	char *x = protected_anon(self->uffd), *y = protected_anon(self->uffd);

	ASSERT_NE(MAP_FAILED, x);
	ASSERT_NE(MAP_FAILED, y);
	EXPECT_EQ(PAGE_IS_WRITTEN, wp_under_writer(self->proc, self->proc, x, LEN) & PAGE_IS_WRITTEN);
	EXPECT_EQ(PAGE_IS_WRITTEN, wp_under_writer(self->proc, self->dev, y, LEN) & PAGE_IS_WRITTEN);
}

TEST_F(scan, wp_thp_flushes_the_tlb_of_a_concurrent_writer)
{
	char *x = thp_registered(self->uffd), *y = thp_registered(self->uffd);

	ASSERT_NE(MAP_FAILED, x);
	ASSERT_NE(MAP_FAILED, y);
	PM_REQUIRE_THP(self->proc, x, PM_HPAGE);
	PM_REQUIRE_THP(self->proc, y, PM_HPAGE);
	EXPECT_EQ(PAGE_IS_WRITTEN,
		  wp_under_writer(self->proc, self->proc, x, PM_HPAGE) & PAGE_IS_WRITTEN);
	EXPECT_EQ(PAGE_IS_WRITTEN,
		  wp_under_writer(self->proc, self->dev, y, PM_HPAGE) & PAGE_IS_WRITTEN);
}

TEST_HARNESS_MAIN
