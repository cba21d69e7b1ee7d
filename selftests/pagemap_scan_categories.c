// SPDX-License-Identifier: GPL-2.0
/*
 * PAGEMAP_SCAN categories, one behaviour per test: every category on every
 * kind of entry that can carry it (PTE, THP PMD, hugetlb entry, hole), and its
 * absence where the kernel leaves it out. Each test first proves through
 * /proc/self/pagemap's own scan that the memory is in the state the test
 * names (a THP test also through smaps), then runs a family of scans through
 * both files and compares them: everything reported, and each category
 * required, required absent and any-of.
 */
#include "pm_scan.h"

#include <signal.h>
#include <sys/wait.h>

#include "kselftest_harness.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#ifndef MADV_HWPOISON
#define MADV_HWPOISON 100
#endif

#define NPAGES 32
#define LEN (NPAGES * PM_PAGE)

FIXTURE(cat)
{
	int proc, dev;
};

FIXTURE_SETUP(cat)
{
	self->proc = pm_open_proc();
	self->dev = pm_open_dev();
	ASSERT_GE(self->proc, 0);
	ASSERT_GE(self->dev, 0);
}

FIXTURE_TEARDOWN(cat)
{
	close(self->proc);
	close(self->dev);
}

/* The kernel's categories of page `i` of [p, p+len), masked. */
#define CAT(p, len, i, mask) (pm_cat_at(self->proc, (p), (len), (char *)(p) + (size_t)(i) * PM_PAGE) & (mask))
/* The kernel reports page `i` with exactly `want` among `mask`. */
#define EXPECT_CAT(p, len, i, mask, want) EXPECT_EQ((long)(want), CAT(p, len, i, mask))
#define ASSERT_CAT(p, len, i, mask, want) ASSERT_EQ((long)(want), CAT(p, len, i, mask))
/* Both files agree on every scan of the family. */
#define EXPECT_AGREE(p, len) EXPECT_EQ(0, pm_scan_family_differs(self->proc, self->dev, (p), (len)))

#define KIND (PAGE_IS_PRESENT | PAGE_IS_SWAPPED | PAGE_IS_HUGE)

static char *anon(size_t len)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static char *shared_anon(size_t len)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
}

static char *hugetlb(size_t len, int flags)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE,
		    flags | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB, -1, 0);
}

/*
 * 2 MiB hugetlb pages at a 1 GiB aligned address nothing was ever mapped at,
 * so that no page table covers them yet: the walk sees a hole there.
 */
static char *hugetlb_fresh(size_t len)
{
	size_t g = 1UL << 30;
	char *raw = mmap(NULL, 2 * g, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *a;

	if (raw == MAP_FAILED)
		return MAP_FAILED;
	a = (char *)(((uintptr_t)raw + g - 1) & ~(g - 1));
	munmap(raw, 2 * g);
	return mmap(a, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB | MAP_FIXED_NOREPLACE, -1, 0);
}

/* A written, 2 MiB aligned anonymous THP; MAP_FAILED if none could be had. */
static char *thp_anon(bool write)
{
	char *p = pm_map_aligned(PM_HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);

	if (p == MAP_FAILED || madvise(p, PM_HPAGE, MADV_HUGEPAGE))
		return MAP_FAILED;
	pm_touch(p, PM_HPAGE, PM_PAGE, write);
	return p;
}

/* A written 2 MiB shmem THP (memfd, MAP_SHARED). */
static char *thp_shmem(void)
{
	int fd = memfd_create("rpm-scan-thp", 0);
	char *p;

	if (fd < 0 || ftruncate(fd, PM_HPAGE))
		return MAP_FAILED;
	p = pm_map_aligned(PM_HPAGE, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	close(fd);
	if (p == MAP_FAILED || madvise(p, PM_HPAGE, MADV_HUGEPAGE))
		return MAP_FAILED;
	pm_touch(p, PM_HPAGE, PM_PAGE, true);
	return p;
}

/* Swap out [p, p+len); true if /proc then reports page `i` swapped. */
static bool page_out(int proc, char *p, size_t len, size_t i)
{
	for (int attempt = 0; attempt < 5; attempt++) {
		madvise(p, len, MADV_PAGEOUT);
		if (pm_cat_at(proc, p, len, p + i * PM_PAGE) & PAGE_IS_SWAPPED)
			return true;
	}
	return false;
}

static int uffd_rwp(void)
{
	return pm_uffd_open(UFFD_FEATURE_RWP | UFFD_FEATURE_RWP_ASYNC);
}

static int rw_protect(int uffd, void *p, size_t len)
{
	struct uffdio_rwprotect r = {
		.range = { .start = (uintptr_t)p, .len = len },
		.mode = UFFDIO_RWPROTECT_MODE_RWP,
	};

	return ioctl(uffd, UFFDIO_RWPROTECT, &r);
}

/* --- PRESENT, SWAPPED, HUGE: the kind of entry ---------------------------- */

TEST_F(cat, present_pte)
{
	char *p = anon(LEN);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN / 2, PM_PAGE, true);
	EXPECT_CAT(p, LEN, 0, KIND, PAGE_IS_PRESENT);
	EXPECT_AGREE(p, LEN);
}

TEST_F(cat, present_pte_prot_none_stays_present)
{
	char *p = anon(LEN);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, mprotect(p, LEN / 2, PROT_NONE));
	EXPECT_CAT(p, LEN, 0, KIND, PAGE_IS_PRESENT);
	EXPECT_AGREE(p, LEN);
}

TEST_F(cat, pte_none_in_populated_table_is_nothing)
{
	char *p = anon(LEN);

	ASSERT_NE(MAP_FAILED, p);
	p[0] = 1;
	EXPECT_CAT(p, LEN, 1, PM_ALL_CATEGORIES & ~PAGE_IS_SOFT_DIRTY, 0);
	EXPECT_AGREE(p, LEN);
}

TEST_F(cat, swapped_pte)
{
	char *p = anon(LEN);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	if (!page_out(self->proc, p, LEN, 0))
		SKIP(return, "MADV_PAGEOUT swapped nothing (no swap?)");
	EXPECT_CAT(p, LEN, 0, KIND, PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, LEN);
}

TEST_F(cat, swapped_thp_becomes_swapped_ptes)
{
	char *p = thp_anon(true);

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_GE(pm_smaps_kb(p, "AnonHugePages"), 2048) TH_LOG("no THP");
	if (!page_out(self->proc, p, PM_HPAGE, 0))
		SKIP(return, "MADV_PAGEOUT swapped nothing (no swap?)");
	EXPECT_CAT(p, PM_HPAGE, 0, KIND, PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, PM_HPAGE);
}

/*
 * Poison page `i` of [p, p+len) from a forked child that shares it: the child,
 * which touches the page, is killed; the parent keeps a hwpoison entry.
 */
static bool poison_from_child(char *p, size_t i)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		madvise(p + i * PM_PAGE, PM_PAGE, MADV_HWPOISON);
		_exit(0);
	}
	return pid > 0 && waitpid(pid, &status, 0) == pid;
}

TEST_F(cat, hwpoison_pte_is_swapped)
{
	char *p = anon(LEN);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_TRUE(poison_from_child(p, 3));
	if (!(CAT(p, LEN, 3, PAGE_IS_SWAPPED)))
		SKIP(return, "MADV_HWPOISON left no hwpoison entry");
	EXPECT_CAT(p, LEN, 3, KIND | PAGE_IS_FILE, PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, LEN);
}

TEST_F(cat, huge_thp_present)
{
	char *p = thp_anon(true);

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_GE(pm_smaps_kb(p, "AnonHugePages"), 2048) TH_LOG("no THP");
	EXPECT_CAT(p, PM_HPAGE, 7, KIND, PAGE_IS_PRESENT | PAGE_IS_HUGE);
	EXPECT_AGREE(p, PM_HPAGE);
}

TEST_F(cat, huge_thp_reported_clipped_when_scan_starts_inside)
{
	char *p = thp_anon(true);

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_GE(pm_smaps_kb(p, "AnonHugePages"), 2048) TH_LOG("no THP");
	EXPECT_AGREE(p + 100 * PM_PAGE, 50 * PM_PAGE);
}

TEST_F(cat, huge_not_on_split_thp)
{
	char *p = thp_anon(true);

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_GE(pm_smaps_kb(p, "AnonHugePages"), 2048) TH_LOG("no THP");
	/* Splits the VMA, and with it the PMD, not the folio. */
	ASSERT_EQ(0, mprotect(p + 10 * PM_PAGE, PM_PAGE, PROT_READ));
	EXPECT_CAT(p, PM_HPAGE, 7, KIND, PAGE_IS_PRESENT);
	EXPECT_AGREE(p, PM_HPAGE);
}

TEST_F(cat, huge_shmem_thp)
{
	char *p = thp_shmem();

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_GE(pm_smaps_kb(p, "ShmemPmdMapped"), 2048) TH_LOG("no shmem THP");
	EXPECT_CAT(p, PM_HPAGE, 0, KIND | PAGE_IS_FILE,
		   PAGE_IS_PRESENT | PAGE_IS_HUGE | PAGE_IS_FILE);
	EXPECT_AGREE(p, PM_HPAGE);
}

TEST_F(cat, huge_hugetlb_present)
{
	char *p = hugetlb(2 * PM_HPAGE, MAP_PRIVATE);

	if (p == MAP_FAILED)
		SKIP(return, "no 2 MiB hugetlb pages");
	p[0] = 1;
	EXPECT_CAT(p, 2 * PM_HPAGE, 5, KIND, PAGE_IS_PRESENT | PAGE_IS_HUGE);
	EXPECT_AGREE(p, 2 * PM_HPAGE);
	EXPECT_AGREE(p + 3 * PM_PAGE, PM_HPAGE);
	munmap(p, 2 * PM_HPAGE);
}

TEST_F(cat, huge_hugetlb_none_entry_is_huge_only)
{
	char *p = hugetlb(2 * PM_HPAGE, MAP_PRIVATE);

	if (p == MAP_FAILED)
		SKIP(return, "no 2 MiB hugetlb pages");
	/* The first page makes the PMD table; the second stays an empty entry in it. */
	p[0] = 1;
	EXPECT_CAT(p, 2 * PM_HPAGE, 512, PM_ALL_CATEGORIES & ~PAGE_IS_SOFT_DIRTY, PAGE_IS_HUGE);
	EXPECT_AGREE(p, 2 * PM_HPAGE);
	munmap(p, 2 * PM_HPAGE);
}

TEST_F(cat, hugetlb_hole_without_table_is_not_huge)
{
	char *p = hugetlb_fresh(PM_HPAGE);

	if (p == MAP_FAILED)
		SKIP(return, "no 2 MiB hugetlb pages");
	/* Nothing touched: no page table, a hole; only the VMA's soft-dirty flag. */
	EXPECT_CAT(p, PM_HPAGE, 0, PM_ALL_CATEGORIES, PAGE_IS_SOFT_DIRTY);
	EXPECT_AGREE(p, PM_HPAGE);
	munmap(p, PM_HPAGE);
}

TEST_F(cat, hwpoison_hugetlb_is_huge_swapped)
{
	char *p = hugetlb(PM_HPAGE, MAP_PRIVATE);

	if (p == MAP_FAILED)
		SKIP(return, "no 2 MiB hugetlb pages");
	p[0] = 1;
	ASSERT_TRUE(poison_from_child(p, 0));
	if (!(CAT(p, PM_HPAGE, 0, PAGE_IS_SWAPPED)))
		SKIP(return, "MADV_HWPOISON left no hwpoison entry");
	EXPECT_CAT(p, PM_HPAGE, 0, KIND, PAGE_IS_HUGE | PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, PM_HPAGE);
}

/* --- FILE ----------------------------------------------------------------- */

TEST_F(cat, file_not_on_anon_pte)
{
	char *p = anon(LEN);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	EXPECT_CAT(p, LEN, 0, PAGE_IS_FILE, 0);
	EXPECT_AGREE(p, LEN);
}

TEST_F(cat, file_on_shared_anon_pte)
{
	char *p = shared_anon(LEN);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	EXPECT_CAT(p, LEN, 0, PAGE_IS_FILE | KIND, PAGE_IS_FILE | PAGE_IS_PRESENT);
	EXPECT_AGREE(p, LEN);
}

TEST_F(cat, file_on_private_file_page_until_written)
{
	int fd = memfd_create("rpm-scan-file", 0);
	char *p;

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ftruncate(fd, LEN));
	p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, false);
	pm_touch(p, LEN / 2, PM_PAGE, true);
	EXPECT_CAT(p, LEN, NPAGES - 1, PAGE_IS_FILE, PAGE_IS_FILE);
	EXPECT_CAT(p, LEN, 0, PAGE_IS_FILE, 0);
	EXPECT_AGREE(p, LEN);
	close(fd);
}

TEST_F(cat, file_not_on_anon_thp)
{
	char *p = thp_anon(true);

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_GE(pm_smaps_kb(p, "AnonHugePages"), 2048) TH_LOG("no THP");
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_FILE, 0);
	EXPECT_AGREE(p, PM_HPAGE);
}

TEST_F(cat, file_on_shared_hugetlb_not_private)
{
	char *s = hugetlb(PM_HPAGE, MAP_SHARED), *q = hugetlb(PM_HPAGE, MAP_PRIVATE);

	if (s == MAP_FAILED || q == MAP_FAILED)
		SKIP(return, "no 2 MiB hugetlb pages");
	s[0] = 1;
	q[0] = 1;
	EXPECT_CAT(s, PM_HPAGE, 0, PAGE_IS_FILE, PAGE_IS_FILE);
	EXPECT_CAT(q, PM_HPAGE, 0, PAGE_IS_FILE, 0);
	EXPECT_AGREE(s, PM_HPAGE);
	EXPECT_AGREE(q, PM_HPAGE);
	munmap(s, PM_HPAGE);
	munmap(q, PM_HPAGE);
}

/* --- PFNZERO -------------------------------------------------------------- */

TEST_F(cat, pfnzero_on_zero_page_pte)
{
	char *p = anon(LEN);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, false);
	p[PM_PAGE] = 1;
	EXPECT_CAT(p, LEN, 0, PAGE_IS_PFNZERO | KIND, PAGE_IS_PFNZERO | PAGE_IS_PRESENT);
	EXPECT_CAT(p, LEN, 1, PAGE_IS_PFNZERO, 0);
	EXPECT_AGREE(p, LEN);
}

TEST_F(cat, pfnzero_on_huge_zero_page)
{
	char *p = thp_anon(false);

	ASSERT_NE(MAP_FAILED, p);
	if (!(CAT(p, PM_HPAGE, 0, PAGE_IS_HUGE)))
		SKIP(return, "no huge zero page (use_zero_page off?)");
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_PFNZERO | KIND,
		   PAGE_IS_PFNZERO | PAGE_IS_PRESENT | PAGE_IS_HUGE);
	EXPECT_AGREE(p, PM_HPAGE);
}

/* --- SOFT_DIRTY ----------------------------------------------------------- */

TEST_F(cat, soft_dirty_from_new_vma_covers_holes)
{
	char *p = anon(LEN);

	ASSERT_NE(MAP_FAILED, p);
	EXPECT_CAT(p, LEN, 0, PM_ALL_CATEGORIES, PAGE_IS_SOFT_DIRTY);
	EXPECT_AGREE(p, LEN);
}

TEST_F(cat, soft_dirty_pte_only_where_written_after_clear)
{
	char *p = anon(LEN);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, pm_clear_soft_dirty());
	p[5 * PM_PAGE] = 2;
	EXPECT_CAT(p, LEN, 5, PAGE_IS_SOFT_DIRTY, PAGE_IS_SOFT_DIRTY);
	EXPECT_CAT(p, LEN, 4, PAGE_IS_SOFT_DIRTY, 0);
	EXPECT_AGREE(p, LEN);
}

TEST_F(cat, soft_dirty_kept_by_swapped_pte)
{
	char *p = anon(LEN);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, pm_clear_soft_dirty());
	pm_touch(p, LEN / 2, PM_PAGE, true);
	if (!page_out(self->proc, p, LEN, 0))
		SKIP(return, "MADV_PAGEOUT swapped nothing (no swap?)");
	EXPECT_CAT(p, LEN, 0, PAGE_IS_SOFT_DIRTY | KIND, PAGE_IS_SOFT_DIRTY | PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, LEN);
}

TEST_F(cat, soft_dirty_thp)
{
	char *p = thp_anon(true);

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_GE(pm_smaps_kb(p, "AnonHugePages"), 2048) TH_LOG("no THP");
	ASSERT_EQ(0, pm_clear_soft_dirty());
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_SOFT_DIRTY | PAGE_IS_HUGE, PAGE_IS_HUGE);
	EXPECT_AGREE(p, PM_HPAGE);
	p[0] = 3;
	ASSERT_GE(pm_smaps_kb(p, "AnonHugePages"), 2048) TH_LOG("the write split the THP");
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_SOFT_DIRTY | PAGE_IS_HUGE,
		   PAGE_IS_SOFT_DIRTY | PAGE_IS_HUGE);
	EXPECT_AGREE(p, PM_HPAGE);
}

TEST_F(cat, soft_dirty_hugetlb_from_entry)
{
	char *p = hugetlb(PM_HPAGE, MAP_PRIVATE);

	if (p == MAP_FAILED)
		SKIP(return, "no 2 MiB hugetlb pages");
	/* Soft-dirty clearing leaves hugetlb entries alone but clears the VMA flag. */
	p[0] = 1;
	ASSERT_EQ(0, pm_clear_soft_dirty());
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_SOFT_DIRTY, PAGE_IS_SOFT_DIRTY);
	EXPECT_AGREE(p, PM_HPAGE);
	munmap(p, PM_HPAGE);
}

/* --- GUARD ---------------------------------------------------------------- */

TEST_F(cat, guard_marker_is_guard_and_swapped)
{
	char *p = anon(LEN);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	if (madvise(p + 4 * PM_PAGE, 4 * PM_PAGE, MADV_GUARD_INSTALL))
		SKIP(return, "MADV_GUARD_INSTALL unavailable");
	EXPECT_CAT(p, LEN, 5, PAGE_IS_GUARD | KIND, PAGE_IS_GUARD | PAGE_IS_SWAPPED);
	EXPECT_CAT(p, LEN, 3, PAGE_IS_GUARD, 0);
	EXPECT_AGREE(p, LEN);
}

TEST_F(cat, guard_marker_on_shmem_is_not_file)
{
	char *p = shared_anon(LEN);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	if (madvise(p, 2 * PM_PAGE, MADV_GUARD_INSTALL))
		SKIP(return, "MADV_GUARD_INSTALL on shmem unavailable");
	EXPECT_CAT(p, LEN, 0, PAGE_IS_GUARD | PAGE_IS_FILE, PAGE_IS_GUARD);
	EXPECT_AGREE(p, LEN);
}

TEST_F(cat, poison_marker_is_swapped_not_guard)
{
	char *p = anon(LEN);
	int uffd = pm_uffd_open(UFFD_FEATURE_POISON);
	struct uffdio_poison poison = {
		.range = { .start = (uintptr_t)p + 2 * PM_PAGE, .len = PM_PAGE },
	};

	ASSERT_NE(MAP_FAILED, p);
	if (uffd < 0)
		SKIP(return, "UFFD_FEATURE_POISON unavailable");
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_MISSING));
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_POISON, &poison));
	EXPECT_CAT(p, LEN, 2, PAGE_IS_GUARD | KIND, PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, LEN);
	close(uffd);
}

/* --- WPALLOWED ------------------------------------------------------------ */

TEST_F(cat, wpallowed_on_async_wp_vma_with_markers)
{
	char *p = anon(LEN);
	int uffd = pm_uffd_async();

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_GE(uffd, 0);
	pm_touch(p, LEN / 2, PM_PAGE, true);
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_WP));
	EXPECT_CAT(p, LEN, 0, PAGE_IS_WPALLOWED, PAGE_IS_WPALLOWED);
	EXPECT_CAT(p, LEN, NPAGES - 1, PAGE_IS_WPALLOWED, PAGE_IS_WPALLOWED);
	EXPECT_AGREE(p, LEN);
	close(uffd);
}

TEST_F(cat, wpallowed_not_for_missing_mode_registration)
{
	char *p = anon(LEN);
	int uffd = pm_uffd_async();

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_GE(uffd, 0);
	pm_touch(p, LEN, PM_PAGE, true);
	/* An async context, but the VMA is not registered for write-protection. */
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_MISSING));
	EXPECT_CAT(p, LEN, 0, PAGE_IS_WPALLOWED, 0);
	EXPECT_AGREE(p, LEN);
	close(uffd);
}

TEST_F(cat, wpallowed_not_for_rwp_registration)
{
	char *p = anon(LEN);
	int uffd = uffd_rwp();

	ASSERT_NE(MAP_FAILED, p);
	if (uffd < 0)
		SKIP(return, "UFFD_FEATURE_RWP unavailable");
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_RWP));
	EXPECT_CAT(p, LEN, 0, PAGE_IS_WPALLOWED, 0);
	EXPECT_AGREE(p, LEN);
	close(uffd);
}

TEST_F(cat, wpallowed_for_shmem)
{
	char *p = shared_anon(LEN);
	int uffd = pm_uffd_open(UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_HUGETLBFS_SHMEM);

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_GE(uffd, 0);
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_WP));
	EXPECT_CAT(p, LEN, 0, PAGE_IS_WPALLOWED, PAGE_IS_WPALLOWED);
	EXPECT_AGREE(p, LEN);
	close(uffd);
}

TEST_F(cat, wpallowed_not_for_synchronous_wp)
{
	char *p = anon(LEN);
	int uffd = pm_uffd_open(UFFD_FEATURE_WP_UNPOPULATED);

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_GE(uffd, 0);
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_WP));
	EXPECT_CAT(p, LEN, 0, PAGE_IS_WPALLOWED, 0);
	EXPECT_AGREE(p, LEN);
	close(uffd);
}

/* --- WRITTEN -------------------------------------------------------------- */

TEST_F(cat, written_only_after_write_to_protected_pte)
{
	char *p = anon(LEN);
	int uffd = pm_uffd_async();

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_GE(uffd, 0);
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, pm_uffd_async_wp(uffd, p, LEN));
	p[6 * PM_PAGE] = 9;
	EXPECT_CAT(p, LEN, 6, PAGE_IS_WRITTEN | KIND, PAGE_IS_WRITTEN | PAGE_IS_PRESENT);
	EXPECT_CAT(p, LEN, 7, PAGE_IS_WRITTEN | KIND, PAGE_IS_PRESENT);
	EXPECT_AGREE(p, LEN);
	close(uffd);
}

TEST_F(cat, written_not_outside_uffd_wp_vma)
{
	char *p = anon(LEN);

	ASSERT_NE(MAP_FAILED, p);
	p[0] = 1;
	EXPECT_CAT(p, LEN, 0, PAGE_IS_WRITTEN, 0);
	EXPECT_CAT(p, LEN, 1, PAGE_IS_WRITTEN, 0);
	EXPECT_AGREE(p, LEN);
}

TEST_F(cat, written_on_pte_none_in_uffd_wp_vma)
{
	char *p = anon(LEN);
	int uffd = pm_uffd_async();

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_GE(uffd, 0);
	p[0] = 1;	/* a PTE table, with page 1 empty in it */
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_WP));
	EXPECT_CAT(p, LEN, 1, PAGE_IS_WRITTEN | KIND, PAGE_IS_WRITTEN);
	EXPECT_AGREE(p, LEN);
	close(uffd);
}

TEST_F(cat, written_on_hole_in_uffd_wp_vma)
{
	char *p = pm_map_aligned(PM_HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	int uffd = pm_uffd_async();

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_GE(uffd, 0);
	/* Never touched: no PTE table at all. */
	ASSERT_EQ(0, pm_uffd_register(uffd, p, PM_HPAGE, UFFDIO_REGISTER_MODE_WP));
	EXPECT_CAT(p, PM_HPAGE, 3, PAGE_IS_WRITTEN | KIND, PAGE_IS_WRITTEN);
	EXPECT_AGREE(p, PM_HPAGE);
	close(uffd);
}

TEST_F(cat, written_not_on_uffd_wp_marker)
{
	char *p = anon(LEN);
	int uffd = pm_uffd_async();

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_GE(uffd, 0);
	p[0] = 1;
	ASSERT_EQ(0, pm_uffd_async_wp(uffd, p, LEN));
	/* Page 1 was empty: write-protecting it left a marker. */
	EXPECT_CAT(p, LEN, 1, PAGE_IS_WRITTEN | KIND, PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, LEN);
	close(uffd);
}

TEST_F(cat, written_on_swapped_pte_unless_protected)
{
	char *p = anon(LEN);
	int uffd = pm_uffd_async();

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_GE(uffd, 0);
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_WP));
	ASSERT_EQ(0, pm_uffd_wp(uffd, p, LEN / 2, true));
	if (!page_out(self->proc, p, LEN, 0) || !page_out(self->proc, p, LEN, NPAGES - 1))
		SKIP(return, "MADV_PAGEOUT swapped nothing (no swap?)");
	EXPECT_CAT(p, LEN, 0, PAGE_IS_WRITTEN | KIND, PAGE_IS_SWAPPED);
	EXPECT_CAT(p, LEN, NPAGES - 1, PAGE_IS_WRITTEN | KIND, PAGE_IS_WRITTEN | PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, LEN);
	close(uffd);
}

TEST_F(cat, written_thp_unless_protected)
{
	char *p = thp_anon(true);
	int uffd = pm_uffd_async();

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_GE(uffd, 0);
	ASSERT_GE(pm_smaps_kb(p, "AnonHugePages"), 2048) TH_LOG("no THP");
	ASSERT_EQ(0, pm_uffd_register(uffd, p, PM_HPAGE, UFFDIO_REGISTER_MODE_WP));
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_WRITTEN | KIND,
		   PAGE_IS_WRITTEN | PAGE_IS_PRESENT | PAGE_IS_HUGE);
	EXPECT_AGREE(p, PM_HPAGE);
	ASSERT_EQ(0, pm_uffd_wp(uffd, p, PM_HPAGE, true));
	ASSERT_GE(pm_smaps_kb(p, "AnonHugePages"), 2048) TH_LOG("write-protection split the THP");
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_WRITTEN | KIND, PAGE_IS_PRESENT | PAGE_IS_HUGE);
	EXPECT_AGREE(p, PM_HPAGE);
	close(uffd);
}

TEST_F(cat, written_hugetlb_unless_protected)
{
	char *p = hugetlb(2 * PM_HPAGE, MAP_PRIVATE);
	int uffd = pm_uffd_async();

	if (p == MAP_FAILED)
		SKIP(return, "no 2 MiB hugetlb pages");
	ASSERT_GE(uffd, 0);
	p[0] = 1;
	p[PM_HPAGE] = 1;
	ASSERT_EQ(0, pm_uffd_register(uffd, p, 2 * PM_HPAGE, UFFDIO_REGISTER_MODE_WP));
	ASSERT_EQ(0, pm_uffd_wp(uffd, p, PM_HPAGE, true));
	EXPECT_CAT(p, 2 * PM_HPAGE, 0, PAGE_IS_WRITTEN | KIND, PAGE_IS_PRESENT | PAGE_IS_HUGE);
	EXPECT_CAT(p, 2 * PM_HPAGE, 512, PAGE_IS_WRITTEN | KIND,
		   PAGE_IS_WRITTEN | PAGE_IS_PRESENT | PAGE_IS_HUGE);
	EXPECT_AGREE(p, 2 * PM_HPAGE);
	close(uffd);
	munmap(p, 2 * PM_HPAGE);
}

TEST_F(cat, written_not_on_hugetlb_hole)
{
	char *p = hugetlb_fresh(2 * PM_HPAGE);
	int uffd = pm_uffd_async();

	if (p == MAP_FAILED)
		SKIP(return, "no 2 MiB hugetlb pages");
	ASSERT_GE(uffd, 0);
	ASSERT_EQ(0, pm_uffd_register(uffd, p, 2 * PM_HPAGE, UFFDIO_REGISTER_MODE_WP));
	EXPECT_CAT(p, 2 * PM_HPAGE, 0, PAGE_IS_WRITTEN | KIND, 0);
	EXPECT_AGREE(p, 2 * PM_HPAGE);
	close(uffd);
	munmap(p, 2 * PM_HPAGE);
}

TEST_F(cat, written_not_on_hugetlb_none_entry)
{
	char *p = hugetlb(2 * PM_HPAGE, MAP_PRIVATE);
	int uffd = pm_uffd_async();

	if (p == MAP_FAILED)
		SKIP(return, "no 2 MiB hugetlb pages");
	ASSERT_GE(uffd, 0);
	ASSERT_EQ(0, pm_uffd_register(uffd, p, 2 * PM_HPAGE, UFFDIO_REGISTER_MODE_WP));
	p[0] = 1;
	EXPECT_CAT(p, 2 * PM_HPAGE, 512, PAGE_IS_WRITTEN | KIND, PAGE_IS_HUGE);
	EXPECT_AGREE(p, 2 * PM_HPAGE);
	close(uffd);
	munmap(p, 2 * PM_HPAGE);
}

TEST_F(cat, written_not_on_hugetlb_marker)
{
	char *p = hugetlb(2 * PM_HPAGE, MAP_PRIVATE);
	int uffd = pm_uffd_async();

	if (p == MAP_FAILED)
		SKIP(return, "no 2 MiB hugetlb pages");
	ASSERT_GE(uffd, 0);
	p[0] = 1;
	ASSERT_EQ(0, pm_uffd_async_wp(uffd, p, 2 * PM_HPAGE));
	EXPECT_CAT(p, 2 * PM_HPAGE, 512, PAGE_IS_WRITTEN | KIND, PAGE_IS_HUGE | PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, 2 * PM_HPAGE);
	close(uffd);
	munmap(p, 2 * PM_HPAGE);
}

/* --- ACCESSED ------------------------------------------------------------- */

TEST_F(cat, accessed_only_after_access_to_rw_protected_pte)
{
	char *p = anon(LEN);
	int uffd = uffd_rwp();

	ASSERT_NE(MAP_FAILED, p);
	if (uffd < 0)
		SKIP(return, "UFFD_FEATURE_RWP unavailable");
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_RWP));
	ASSERT_EQ(0, rw_protect(uffd, p, LEN));
	(void)*(volatile char *)(p + 3 * PM_PAGE);
	EXPECT_CAT(p, LEN, 3, PAGE_IS_ACCESSED | KIND, PAGE_IS_ACCESSED | PAGE_IS_PRESENT);
	EXPECT_CAT(p, LEN, 4, PAGE_IS_ACCESSED | KIND, PAGE_IS_PRESENT);
	EXPECT_AGREE(p, LEN);
	close(uffd);
}

TEST_F(cat, accessed_never_on_pte_none)
{
	char *p = anon(LEN);
	int uffd = uffd_rwp();

	ASSERT_NE(MAP_FAILED, p);
	if (uffd < 0)
		SKIP(return, "UFFD_FEATURE_RWP unavailable");
	p[0] = 1;
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_RWP));
	EXPECT_CAT(p, LEN, 0, PAGE_IS_ACCESSED, PAGE_IS_ACCESSED);
	EXPECT_CAT(p, LEN, 1, PAGE_IS_ACCESSED, 0);
	EXPECT_AGREE(p, LEN);
	close(uffd);
}

TEST_F(cat, accessed_on_swapped_pte_unless_protected)
{
	char *p = anon(LEN);
	int uffd = uffd_rwp();

	ASSERT_NE(MAP_FAILED, p);
	if (uffd < 0)
		SKIP(return, "UFFD_FEATURE_RWP unavailable");
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_RWP));
	ASSERT_EQ(0, rw_protect(uffd, p, LEN / 2));
	if (!page_out(self->proc, p, LEN, 0) || !page_out(self->proc, p, LEN, NPAGES - 1))
		SKIP(return, "MADV_PAGEOUT swapped nothing (no swap?)");
	EXPECT_CAT(p, LEN, 0, PAGE_IS_ACCESSED | KIND, PAGE_IS_SWAPPED);
	EXPECT_CAT(p, LEN, NPAGES - 1, PAGE_IS_ACCESSED | KIND, PAGE_IS_ACCESSED | PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, LEN);
	close(uffd);
}

TEST_F(cat, accessed_thp_unless_protected)
{
	char *p = thp_anon(true);
	int uffd = uffd_rwp();

	ASSERT_NE(MAP_FAILED, p);
	if (uffd < 0)
		SKIP(return, "UFFD_FEATURE_RWP unavailable");
	ASSERT_GE(pm_smaps_kb(p, "AnonHugePages"), 2048) TH_LOG("no THP");
	ASSERT_EQ(0, pm_uffd_register(uffd, p, PM_HPAGE, UFFDIO_REGISTER_MODE_RWP));
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_ACCESSED | PAGE_IS_HUGE, PAGE_IS_ACCESSED | PAGE_IS_HUGE);
	ASSERT_EQ(0, rw_protect(uffd, p, PM_HPAGE));
	ASSERT_GE(pm_smaps_kb(p, "AnonHugePages"), 2048) TH_LOG("protection split the THP");
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_ACCESSED | PAGE_IS_HUGE, PAGE_IS_HUGE);
	EXPECT_AGREE(p, PM_HPAGE);
	close(uffd);
}

TEST_F(cat, accessed_hugetlb_unless_protected)
{
	char *p = hugetlb(2 * PM_HPAGE, MAP_PRIVATE);
	int uffd = uffd_rwp();

	if (p == MAP_FAILED)
		SKIP(return, "no 2 MiB hugetlb pages");
	if (uffd < 0)
		SKIP(return, "UFFD_FEATURE_RWP unavailable");
	p[0] = 1;
	p[PM_HPAGE] = 1;
	ASSERT_EQ(0, pm_uffd_register(uffd, p, 2 * PM_HPAGE, UFFDIO_REGISTER_MODE_RWP));
	ASSERT_EQ(0, rw_protect(uffd, p, PM_HPAGE));
	EXPECT_CAT(p, 2 * PM_HPAGE, 0, PAGE_IS_ACCESSED | PAGE_IS_HUGE, PAGE_IS_HUGE);
	EXPECT_CAT(p, 2 * PM_HPAGE, 512, PAGE_IS_ACCESSED | PAGE_IS_HUGE,
		   PAGE_IS_ACCESSED | PAGE_IS_HUGE);
	EXPECT_AGREE(p, 2 * PM_HPAGE);
	close(uffd);
	munmap(p, 2 * PM_HPAGE);
}

TEST_HARNESS_MAIN
