// SPDX-License-Identifier: GPL-2.0
/*
 * PAGEMAP_SCAN categories, one behaviour per test: every category on every
 * kind of entry that can carry it (PTE, THP PMD, hugetlb entry, hole), and its
 * absence where the kernel leaves it out. Each test first proves through
 * /proc/self/pagemap's own scan that the memory is in the state the test
 * names (pm_require.h: a set-up that did not take fails), then runs a family of scans through
 * both files and compares them: everything reported, and each category
 * required, required absent and any-of.
 */
#include "pm_scan.h"

#include <signal.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "pm_require.h"

#ifndef MADV_HWPOISON
#define MADV_HWPOISON 100
#endif

#define NPAGES 32
#define LEN (NPAGES * PM_PAGE)

PM_BOTH_FIXTURE(cat)

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
	return pm_hugetlb_map(len, PM_HPAGE, flags);
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

/* A touched, 2 MiB aligned anonymous MADV_HUGEPAGE mapping; the test proves it huge. */
static char *thp_anon(bool write)
{
	char *p = pm_thp_map(PM_HPAGE, -1);

	if (p != MAP_FAILED)
		pm_touch(p, PM_HPAGE, PM_PAGE, write);
	return p;
}

/* The same, shmem (memfd, MAP_SHARED), written. */
static char *thp_shmem(void)
{
	int fd = memfd_create("rpm-scan-thp", 0);
	char *p;

	if (fd < 0 || ftruncate(fd, PM_HPAGE))
		return MAP_FAILED;
	p = pm_thp_map(PM_HPAGE, fd);
	close(fd);
	if (p != MAP_FAILED)
		pm_touch(p, PM_HPAGE, PM_PAGE, true);
	return p;
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
	PM_REQUIRE_SWAPPED(self->proc, p, LEN, NPAGES);
	EXPECT_CAT(p, LEN, 0, KIND, PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, LEN);
}

TEST_F(cat, swapped_thp_becomes_swapped_ptes)
{
	char *p = thp_anon(true);

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	PM_REQUIRE_SWAPPED(self->proc, p, PM_HPAGE, 512);
	EXPECT_CAT(p, PM_HPAGE, 0, KIND, PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, PM_HPAGE);
}

/*
 * Poison page `i` of [p, p+len) from a forked child that shares it: the child,
 * which touches the page, is killed; the parent keeps a hwpoison entry.
 */
static int poison_from_child(char *p, size_t i)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		if (madvise(p + i * PM_PAGE, PM_PAGE, MADV_HWPOISON))
			_exit(errno == EINVAL ? 2 : 1);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	/* Killed by the poison it touched, or returned: done. */
	return WIFEXITED(status) ? WEXITSTATUS(status) : 0;
}

/* Poison page `i`: skip if the kernel cannot (no CONFIG_MEMORY_FAILURE), fail if it did not take. */
#define POISON(p, len, i)                                                             \
	do {                                                                          \
		int r_ = poison_from_child((p), (i));                                 \
		if (r_ == 2)                                                          \
			SKIP(return, "MADV_HWPOISON unsupported (CONFIG_MEMORY_FAILURE)"); \
		ASSERT_EQ(0, r_) TH_LOG("MADV_HWPOISON failed");                      \
		ASSERT_NE(0, CAT(p, len, i, PAGE_IS_SWAPPED))                         \
		TH_LOG("MADV_HWPOISON left no hwpoison entry");                       \
	} while (0)

TEST_F(cat, hwpoison_pte_is_swapped)
{
	char *p = anon(LEN);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	POISON(p, LEN, 3);
	EXPECT_CAT(p, LEN, 3, KIND | PAGE_IS_FILE, PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, LEN);
}

TEST_F(cat, huge_thp_present)
{
	char *p = thp_anon(true);

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	EXPECT_CAT(p, PM_HPAGE, 7, KIND, PAGE_IS_PRESENT | PAGE_IS_HUGE);
	EXPECT_AGREE(p, PM_HPAGE);
}

TEST_F(cat, huge_thp_reported_clipped_when_scan_starts_inside)
{
	char *p = thp_anon(true);

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	EXPECT_AGREE(p + 100 * PM_PAGE, 50 * PM_PAGE);
}

TEST_F(cat, huge_not_on_split_thp)
{
	char *p = thp_anon(true);

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	/* Splits the VMA, and with it the PMD, not the folio. */
	ASSERT_EQ(0, mprotect(p + 10 * PM_PAGE, PM_PAGE, PROT_READ));
	EXPECT_CAT(p, PM_HPAGE, 7, KIND, PAGE_IS_PRESENT);
	EXPECT_AGREE(p, PM_HPAGE);
}

TEST_F(cat, huge_shmem_thp)
{
	char *p = thp_shmem();

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	EXPECT_CAT(p, PM_HPAGE, 0, KIND | PAGE_IS_FILE,
		   PAGE_IS_PRESENT | PAGE_IS_HUGE | PAGE_IS_FILE);
	EXPECT_AGREE(p, PM_HPAGE);
}

TEST_F(cat, huge_hugetlb_present)
{
	char *p = hugetlb(2 * PM_HPAGE, MAP_PRIVATE);

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_HPAGE);
	p[0] = 1;
	EXPECT_CAT(p, 2 * PM_HPAGE, 5, KIND, PAGE_IS_PRESENT | PAGE_IS_HUGE);
	EXPECT_AGREE(p, 2 * PM_HPAGE);
	EXPECT_AGREE(p + 3 * PM_PAGE, PM_HPAGE);
	munmap(p, 2 * PM_HPAGE);
}

/* Faulting in a 1 GiB page zeroes it: seconds under TCG with KASAN, more when the host is busy. */
TEST_F_TIMEOUT(cat, huge_hugetlb_1g_present, 120)
{
	size_t g = 1UL << 30;
	char *p = mmap(NULL, g, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (30 << MAP_HUGE_SHIFT), -1, 0);

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_GPAGE);
	p[0] = 1;
	EXPECT_CAT(p, g, 0, KIND, PAGE_IS_PRESENT | PAGE_IS_HUGE);
	EXPECT_AGREE(p, g);
	EXPECT_AGREE(p + (5 * PM_PAGE), 64 * PM_PAGE);
	munmap(p, g);
}

TEST_F(cat, huge_hugetlb_none_entry_is_huge_only)
{
	char *p = hugetlb(2 * PM_HPAGE, MAP_PRIVATE);

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_HPAGE);
	/* The first page makes the PMD table; the second stays an empty entry in it. */
	p[0] = 1;
	EXPECT_CAT(p, 2 * PM_HPAGE, 512, PM_ALL_CATEGORIES & ~PAGE_IS_SOFT_DIRTY, PAGE_IS_HUGE);
	EXPECT_AGREE(p, 2 * PM_HPAGE);
	munmap(p, 2 * PM_HPAGE);
}

TEST_F(cat, hugetlb_hole_without_table_is_not_huge)
{
	char *p = hugetlb_fresh(PM_HPAGE);

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_HPAGE);
	/* Nothing touched: no page table, a hole; only the VMA's soft-dirty flag. */
	EXPECT_CAT(p, PM_HPAGE, 0, PM_ALL_CATEGORIES, PAGE_IS_SOFT_DIRTY);
	EXPECT_AGREE(p, PM_HPAGE);
	munmap(p, PM_HPAGE);
}

TEST_F_TIMEOUT(cat, hwpoison_hugetlb_is_huge_swapped, 120)
{
	char *p = hugetlb(PM_HPAGE, MAP_PRIVATE);

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_HPAGE);
	p[0] = 1;
	POISON(p, PM_HPAGE, 0);
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
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_FILE, 0);
	EXPECT_AGREE(p, PM_HPAGE);
}

TEST_F(cat, file_on_shared_hugetlb_not_private)
{
	char *s = hugetlb(PM_HPAGE, MAP_SHARED), *q = hugetlb(PM_HPAGE, MAP_PRIVATE);

	PM_REQUIRE_HUGETLB_MAPPED(s, PM_HPAGE);
	PM_REQUIRE_HUGETLB_MAPPED(q, PM_HPAGE);
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
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	ASSERT_EQ(512, pm_count_cat(self->proc, p, PM_HPAGE, PAGE_IS_PFNZERO, 0))
	TH_LOG("the read fault did not map the huge zero page");
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
	PM_REQUIRE_SWAPPED(self->proc, p, LEN, NPAGES);
	EXPECT_CAT(p, LEN, 0, PAGE_IS_SOFT_DIRTY | KIND, PAGE_IS_SOFT_DIRTY | PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, LEN);
}

TEST_F(cat, soft_dirty_thp)
{
	char *p = thp_anon(true);

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	ASSERT_EQ(0, pm_clear_soft_dirty());
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_SOFT_DIRTY | PAGE_IS_HUGE, PAGE_IS_HUGE);
	EXPECT_AGREE(p, PM_HPAGE);
	p[0] = 3;
	PM_REQUIRE_HUGE(self->proc, p, PM_HPAGE); /* the write must not split it */
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_SOFT_DIRTY | PAGE_IS_HUGE,
		   PAGE_IS_SOFT_DIRTY | PAGE_IS_HUGE);
	EXPECT_AGREE(p, PM_HPAGE);
}

TEST_F(cat, soft_dirty_hugetlb_from_entry)
{
	char *p = hugetlb(PM_HPAGE, MAP_PRIVATE);

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_HPAGE);
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
	PM_REQUIRE_SWAPPED(self->proc, p, LEN, NPAGES);
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
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	ASSERT_EQ(0, pm_uffd_register(uffd, p, PM_HPAGE, UFFDIO_REGISTER_MODE_WP));
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_WRITTEN | KIND,
		   PAGE_IS_WRITTEN | PAGE_IS_PRESENT | PAGE_IS_HUGE);
	EXPECT_AGREE(p, PM_HPAGE);
	ASSERT_EQ(0, pm_uffd_wp(uffd, p, PM_HPAGE, true));
	PM_REQUIRE_HUGE(self->proc, p, PM_HPAGE); /* protecting must not split it */
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_WRITTEN | KIND, PAGE_IS_PRESENT | PAGE_IS_HUGE);
	EXPECT_AGREE(p, PM_HPAGE);
	close(uffd);
}

TEST_F(cat, written_hugetlb_unless_protected)
{
	char *p = hugetlb(2 * PM_HPAGE, MAP_PRIVATE);
	int uffd = pm_uffd_async();

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_HPAGE);
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

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_HPAGE);
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

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_HPAGE);
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

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_HPAGE);
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
	PM_REQUIRE_SWAPPED(self->proc, p, LEN, NPAGES);
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
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	ASSERT_EQ(0, pm_uffd_register(uffd, p, PM_HPAGE, UFFDIO_REGISTER_MODE_RWP));
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_ACCESSED | PAGE_IS_HUGE, PAGE_IS_ACCESSED | PAGE_IS_HUGE);
	ASSERT_EQ(0, rw_protect(uffd, p, PM_HPAGE));
	PM_REQUIRE_HUGE(self->proc, p, PM_HPAGE); /* protecting must not split it */
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_ACCESSED | PAGE_IS_HUGE, PAGE_IS_HUGE);
	EXPECT_AGREE(p, PM_HPAGE);
	close(uffd);
}

TEST_F(cat, accessed_hugetlb_unless_protected)
{
	char *p = hugetlb(2 * PM_HPAGE, MAP_PRIVATE);
	int uffd = uffd_rwp();

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_HPAGE);
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
