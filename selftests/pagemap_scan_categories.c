// SPDX-License-Identifier: GPL-2.0
/*
 * PAGEMAP_SCAN categories, one behaviour per case: every category on every
 * kind of entry that can carry it (PTE, THP PMD, hugetlb entry, hole), and its
 * absence where the kernel leaves it out. Each case first proves through
 * /proc/self/pagemap's own scan that the memory is in the state the case
 * names (pm_require.h: a set-up that did not take fails), then runs a family
 * of scans through both files and compares them: everything reported, and
 * each category required, required absent and any-of.
 *
 * A case is a variant of the fixture `cat` (CASE() below: the memory and
 * userfaultfd its set-up makes, and its body), run by the one test `scan`:
 * its name is cat.CASE.scan.
 */
#include "pm_scan.h"

#include <signal.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "pm_require.h"

#define NPAGES 32
#define LEN (NPAGES * PM_PAGE)

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

/*
 * The cases: each maps the memory its variant names (and opens the
 * userfaultfd it names) in the fixture's set-up, which fails the case if the
 * mapping fails, skips it if the kernel lacks that kind of memory or that
 * userfaultfd feature, and fails it if a THP mapping is not PMD-mapped; the
 * case then puts the memory in the state it is named for and checks it.
 */
enum mem {
	ANON,		/* private anonymous memory, untouched */
	SHARED_ANON,	/* the same, MAP_SHARED */
	FILE_PRIVATE,	/* a private mapping of a memfd as long, untouched */
	ALIGNED,	/* private anonymous memory, 2 MiB aligned, untouched */
	THP,		/* thp_anon(true): a written anonymous THP */
	THP_ZERO,	/* thp_anon(false): the huge zero page, read */
	THP_SHMEM,	/* thp_shmem(): a written shmem THP */
	HUGETLB,	/* private 2 MiB hugetlb pages, untouched */
	HUGETLB_SHARED,	/* shared 2 MiB hugetlb pages, untouched */
	HUGETLB_FRESH,	/* hugetlb_fresh(): 2 MiB pages where no page table is */
	HUGETLB_1G,	/* private 1 GiB hugetlb pages, untouched */
};

enum uffd {
	NO_UFFD,
	UFFD_ASYNC,		/* pm_uffd_async() */
	UFFD_SHMEM_ASYNC,	/* asynchronous write-protection with WP_HUGETLBFS_SHMEM */
	UFFD_SYNC_WP,		/* synchronous write-protection (WP_UNPOPULATED only) */
	UFFD_RWP,		/* uffd_rwp(); the case skips without it */
	UFFD_POISON,		/* UFFD_FEATURE_POISON; the case skips without it */
};

FIXTURE(cat)
{
	int proc, dev;
	char *p;	/* the variant's memory, `len` bytes */
	size_t len;
	int fd;		/* FILE_PRIVATE's memfd, else -1 */
	int uffd;	/* -1 when the variant needs none */
};

FIXTURE_VARIANT(cat)
{
	enum mem mem;
	size_t len;
	enum uffd uffd;
	/* The case itself, on the fixture's memory and userfaultfd. */
	void (*run)(struct __test_metadata *_metadata, FIXTURE_DATA(cat) *self, char *p, int uffd);
};

static char *map_mem(enum mem mem, size_t len, int *fd)
{
	switch (mem) {
	case ANON:
		return anon(len);
	case SHARED_ANON:
		return shared_anon(len);
	case FILE_PRIVATE:
		*fd = memfd_create("rpm-scan-file", 0);
		if (*fd < 0 || ftruncate(*fd, len))
			return MAP_FAILED;
		return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, *fd, 0);
	case ALIGNED:
		return pm_map_aligned(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	case THP:
	case THP_ZERO:
		return thp_anon(mem == THP);
	case THP_SHMEM:
		return thp_shmem();
	case HUGETLB:
		return hugetlb(len, MAP_PRIVATE);
	case HUGETLB_SHARED:
		return hugetlb(len, MAP_SHARED);
	case HUGETLB_FRESH:
		return hugetlb_fresh(len);
	case HUGETLB_1G:
		return pm_hugetlb_map(len, PM_GPAGE, MAP_PRIVATE);
	}
	return MAP_FAILED;
}

static int open_uffd(enum uffd uffd)
{
	switch (uffd) {
	case NO_UFFD:
		break;
	case UFFD_ASYNC:
		return pm_uffd_async();
	case UFFD_SHMEM_ASYNC:
		return pm_uffd_open(UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
	case UFFD_SYNC_WP:
		return pm_uffd_open(UFFD_FEATURE_WP_UNPOPULATED);
	case UFFD_RWP:
		return uffd_rwp();
	case UFFD_POISON:
		return pm_uffd_open(UFFD_FEATURE_POISON);
	}
	return -1;
}

FIXTURE_SETUP(cat)
{
	PM_OPEN_BOTH(self);
	self->fd = -1;
	self->len = variant->len;
	self->p = map_mem(variant->mem, variant->len, &self->fd);
	self->uffd = open_uffd(variant->uffd);
	switch (variant->mem) {
	case HUGETLB:
	case HUGETLB_SHARED:
	case HUGETLB_FRESH:
		PM_REQUIRE_HUGETLB_MAPPED(self->p, PM_HPAGE);
		break;
	case HUGETLB_1G:
		PM_REQUIRE_HUGETLB_MAPPED(self->p, PM_GPAGE);
		break;
	case FILE_PRIVATE:
		ASSERT_GE(self->fd, 0);
		/* fall through */
	default:
		ASSERT_NE(MAP_FAILED, self->p);
	}
	switch (variant->uffd) {
	case NO_UFFD:
		break;
	case UFFD_RWP:
		if (self->uffd < 0)
			SKIP(return, "UFFD_FEATURE_RWP unavailable");
		break;
	case UFFD_POISON:
		if (self->uffd < 0)
			SKIP(return, "UFFD_FEATURE_POISON unavailable");
		break;
	default:
		ASSERT_GE(self->uffd, 0);
	}
	if (variant->mem == THP || variant->mem == THP_ZERO || variant->mem == THP_SHMEM)
		PM_REQUIRE_THP(self->proc, self->p, PM_HPAGE);
}

FIXTURE_TEARDOWN(cat)
{
	if (self->uffd >= 0)
		close(self->uffd);
	if (self->p != MAP_FAILED)
		munmap(self->p, self->len);
	if (self->fd >= 0)
		close(self->fd);
	PM_CLOSE_BOTH(self);
}

/*
 * CASE(name, mem, len, uffd) { body }: a variant of `cat` named `name`, whose
 * set-up maps `len` bytes of `mem` and opens a userfaultfd of kind `uffd`,
 * and whose test runs `body` with them as `p` and `uffd`.
 */
#define CASE(name, mem_, len_, uffd_)                                                      \
	static void name(struct __test_metadata *_metadata, FIXTURE_DATA(cat) *self,       \
			 char *p, int uffd);                                               \
	FIXTURE_VARIANT_ADD(cat, name)                                                     \
	{                                                                                  \
		.mem = mem_, .len = len_, .uffd = uffd_, .run = name,                      \
	};                                                                                 \
	static void name(struct __test_metadata *_metadata, FIXTURE_DATA(cat) *self,       \
			 char *p, int uffd)

/*
 * Every case is this one test of its variant. The timeout is for the longest
 * (a 1 GiB page faulted in, a hugetlb page poisoned).
 */
TEST_F_TIMEOUT(cat, scan, 120)
{
	variant->run(_metadata, self, self->p, self->uffd);
}

/* --- PRESENT, SWAPPED, HUGE: the kind of entry ---------------------------- */

CASE(present_pte, ANON, LEN, NO_UFFD)
{
	pm_touch(p, LEN / 2, PM_PAGE, true);
	EXPECT_CAT(p, LEN, 0, KIND, PAGE_IS_PRESENT);
	EXPECT_AGREE(p, LEN);
}

CASE(present_pte_prot_none_stays_present, ANON, LEN, NO_UFFD)
{
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, mprotect(p, LEN / 2, PROT_NONE));
	EXPECT_CAT(p, LEN, 0, KIND, PAGE_IS_PRESENT);
	EXPECT_AGREE(p, LEN);
}

CASE(pte_none_in_populated_table_is_nothing, ANON, LEN, NO_UFFD)
{
	p[0] = 1;
	EXPECT_CAT(p, LEN, 1, PM_ALL_CATEGORIES & ~PAGE_IS_SOFT_DIRTY, 0);
	EXPECT_AGREE(p, LEN);
}

CASE(swapped_pte, ANON, LEN, NO_UFFD)
{
	pm_touch(p, LEN, PM_PAGE, true);
	PM_REQUIRE_SWAPPED(self->proc, p, LEN, NPAGES);
	EXPECT_CAT(p, LEN, 0, KIND, PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, LEN);
}

CASE(swapped_thp_becomes_swapped_ptes, THP, PM_HPAGE, NO_UFFD)
{
	PM_REQUIRE_SWAPPED(self->proc, p, PM_HPAGE, 512);
	EXPECT_CAT(p, PM_HPAGE, 0, KIND, PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, PM_HPAGE);
}

/* Poison page `i`: skip if the kernel cannot (no CONFIG_MEMORY_FAILURE), fail if it did not take. */
#define POISON(p, len, i)                                                             \
	do {                                                                          \
		int r_ = pm_poison_from_child((p), (i));                                 \
		if (r_ == 2)                                                          \
			SKIP(return, "MADV_HWPOISON unsupported (CONFIG_MEMORY_FAILURE)"); \
		ASSERT_EQ(0, r_) TH_LOG("MADV_HWPOISON failed");                      \
		ASSERT_NE(0, CAT(p, len, i, PAGE_IS_SWAPPED))                         \
		TH_LOG("MADV_HWPOISON left no hwpoison entry");                       \
	} while (0)

CASE(hwpoison_pte_is_swapped, ANON, LEN, NO_UFFD)
{
	pm_touch(p, LEN, PM_PAGE, true);
	POISON(p, LEN, 3);
	EXPECT_CAT(p, LEN, 3, KIND | PAGE_IS_FILE, PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, LEN);
}

CASE(huge_thp_present, THP, PM_HPAGE, NO_UFFD)
{
	EXPECT_CAT(p, PM_HPAGE, 7, KIND, PAGE_IS_PRESENT | PAGE_IS_HUGE);
	EXPECT_AGREE(p, PM_HPAGE);
}

CASE(huge_thp_reported_clipped_when_scan_starts_inside, THP, PM_HPAGE, NO_UFFD)
{
	EXPECT_AGREE(p + 100 * PM_PAGE, 50 * PM_PAGE);
}

CASE(huge_not_on_split_thp, THP, PM_HPAGE, NO_UFFD)
{
	/* Splits the VMA, and with it the PMD, not the folio. */
	ASSERT_EQ(0, mprotect(p + 10 * PM_PAGE, PM_PAGE, PROT_READ));
	EXPECT_CAT(p, PM_HPAGE, 7, KIND, PAGE_IS_PRESENT);
	EXPECT_AGREE(p, PM_HPAGE);
}

CASE(huge_shmem_thp, THP_SHMEM, PM_HPAGE, NO_UFFD)
{
	EXPECT_CAT(p, PM_HPAGE, 0, KIND | PAGE_IS_FILE,
		   PAGE_IS_PRESENT | PAGE_IS_HUGE | PAGE_IS_FILE);
	EXPECT_AGREE(p, PM_HPAGE);
}

CASE(huge_hugetlb_present, HUGETLB, 2 * PM_HPAGE, NO_UFFD)
{
	p[0] = 1;
	EXPECT_CAT(p, 2 * PM_HPAGE, 5, KIND, PAGE_IS_PRESENT | PAGE_IS_HUGE);
	EXPECT_AGREE(p, 2 * PM_HPAGE);
	EXPECT_AGREE(p + 3 * PM_PAGE, PM_HPAGE);
}

/* Faulting in a 1 GiB page zeroes it: seconds under TCG with KASAN, more when the host is busy. */
CASE(huge_hugetlb_1g_present, HUGETLB_1G, PM_GPAGE, NO_UFFD)
{
	p[0] = 1;
	EXPECT_CAT(p, PM_GPAGE, 0, KIND, PAGE_IS_PRESENT | PAGE_IS_HUGE);
	EXPECT_AGREE(p, PM_GPAGE);
	EXPECT_AGREE(p + (5 * PM_PAGE), 64 * PM_PAGE);
}

CASE(huge_hugetlb_none_entry_is_huge_only, HUGETLB, 2 * PM_HPAGE, NO_UFFD)
{
	/* The first page makes the PMD table; the second stays an empty entry in it. */
	p[0] = 1;
	EXPECT_CAT(p, 2 * PM_HPAGE, 512, PM_ALL_CATEGORIES & ~PAGE_IS_SOFT_DIRTY, PAGE_IS_HUGE);
	EXPECT_AGREE(p, 2 * PM_HPAGE);
}

CASE(hugetlb_hole_without_table_is_not_huge, HUGETLB_FRESH, PM_HPAGE, NO_UFFD)
{
	/* Nothing touched: no page table, a hole; only the VMA's soft-dirty flag. */
	EXPECT_CAT(p, PM_HPAGE, 0, PM_ALL_CATEGORIES, PAGE_IS_SOFT_DIRTY);
	EXPECT_AGREE(p, PM_HPAGE);
}

CASE(hwpoison_hugetlb_is_huge_swapped, HUGETLB, PM_HPAGE, NO_UFFD)
{
	p[0] = 1;
	POISON(p, PM_HPAGE, 0);
	EXPECT_CAT(p, PM_HPAGE, 0, KIND, PAGE_IS_HUGE | PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, PM_HPAGE);
}

/* --- FILE ----------------------------------------------------------------- */

CASE(file_not_on_anon_pte, ANON, LEN, NO_UFFD)
{
	pm_touch(p, LEN, PM_PAGE, true);
	EXPECT_CAT(p, LEN, 0, PAGE_IS_FILE, 0);
	EXPECT_AGREE(p, LEN);
}

CASE(file_on_shared_anon_pte, SHARED_ANON, LEN, NO_UFFD)
{
	pm_touch(p, LEN, PM_PAGE, true);
	EXPECT_CAT(p, LEN, 0, PAGE_IS_FILE | KIND, PAGE_IS_FILE | PAGE_IS_PRESENT);
	EXPECT_AGREE(p, LEN);
}

CASE(file_on_private_file_page_until_written, FILE_PRIVATE, LEN, NO_UFFD)
{
	pm_touch(p, LEN, PM_PAGE, false);
	pm_touch(p, LEN / 2, PM_PAGE, true);
	EXPECT_CAT(p, LEN, NPAGES - 1, PAGE_IS_FILE, PAGE_IS_FILE);
	EXPECT_CAT(p, LEN, 0, PAGE_IS_FILE, 0);
	EXPECT_AGREE(p, LEN);
}

CASE(file_not_on_anon_thp, THP, PM_HPAGE, NO_UFFD)
{
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_FILE, 0);
	EXPECT_AGREE(p, PM_HPAGE);
}

CASE(file_on_shared_hugetlb_not_private, HUGETLB_SHARED, PM_HPAGE, NO_UFFD)
{
	char *q = hugetlb(PM_HPAGE, MAP_PRIVATE);

	PM_REQUIRE_HUGETLB_MAPPED(q, PM_HPAGE);
	p[0] = 1;
	q[0] = 1;
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_FILE, PAGE_IS_FILE);
	EXPECT_CAT(q, PM_HPAGE, 0, PAGE_IS_FILE, 0);
	EXPECT_AGREE(p, PM_HPAGE);
	EXPECT_AGREE(q, PM_HPAGE);
	munmap(q, PM_HPAGE);
}

/* --- PFNZERO -------------------------------------------------------------- */

CASE(pfnzero_on_zero_page_pte, ANON, LEN, NO_UFFD)
{
	pm_touch(p, LEN, PM_PAGE, false);
	p[PM_PAGE] = 1;
	EXPECT_CAT(p, LEN, 0, PAGE_IS_PFNZERO | KIND, PAGE_IS_PFNZERO | PAGE_IS_PRESENT);
	EXPECT_CAT(p, LEN, 1, PAGE_IS_PFNZERO, 0);
	EXPECT_AGREE(p, LEN);
}

CASE(pfnzero_on_huge_zero_page, THP_ZERO, PM_HPAGE, NO_UFFD)
{
	ASSERT_EQ(512, pm_count_cat(self->proc, p, PM_HPAGE, PAGE_IS_PFNZERO, 0))
	TH_LOG("the read fault did not map the huge zero page");
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_PFNZERO | KIND,
		   PAGE_IS_PFNZERO | PAGE_IS_PRESENT | PAGE_IS_HUGE);
	EXPECT_AGREE(p, PM_HPAGE);
}

/* --- SOFT_DIRTY ----------------------------------------------------------- */

CASE(soft_dirty_from_new_vma_covers_holes, ANON, LEN, NO_UFFD)
{
	EXPECT_CAT(p, LEN, 0, PM_ALL_CATEGORIES, PAGE_IS_SOFT_DIRTY);
	EXPECT_AGREE(p, LEN);
}

CASE(soft_dirty_pte_only_where_written_after_clear, ANON, LEN, NO_UFFD)
{
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, pm_clear_soft_dirty());
	p[5 * PM_PAGE] = 2;
	EXPECT_CAT(p, LEN, 5, PAGE_IS_SOFT_DIRTY, PAGE_IS_SOFT_DIRTY);
	EXPECT_CAT(p, LEN, 4, PAGE_IS_SOFT_DIRTY, 0);
	EXPECT_AGREE(p, LEN);
}

CASE(soft_dirty_kept_by_swapped_pte, ANON, LEN, NO_UFFD)
{
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, pm_clear_soft_dirty());
	pm_touch(p, LEN / 2, PM_PAGE, true);
	PM_REQUIRE_SWAPPED(self->proc, p, LEN, NPAGES);
	EXPECT_CAT(p, LEN, 0, PAGE_IS_SOFT_DIRTY | KIND, PAGE_IS_SOFT_DIRTY | PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, LEN);
}

CASE(soft_dirty_thp, THP, PM_HPAGE, NO_UFFD)
{
	ASSERT_EQ(0, pm_clear_soft_dirty());
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_SOFT_DIRTY | PAGE_IS_HUGE, PAGE_IS_HUGE);
	EXPECT_AGREE(p, PM_HPAGE);
	p[0] = 3;
	PM_REQUIRE_HUGE(self->proc, p, PM_HPAGE); /* the write must not split it */
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_SOFT_DIRTY | PAGE_IS_HUGE,
		   PAGE_IS_SOFT_DIRTY | PAGE_IS_HUGE);
	EXPECT_AGREE(p, PM_HPAGE);
}

CASE(soft_dirty_hugetlb_from_entry, HUGETLB, PM_HPAGE, NO_UFFD)
{
	/* Soft-dirty clearing leaves hugetlb entries alone but clears the VMA flag. */
	p[0] = 1;
	ASSERT_EQ(0, pm_clear_soft_dirty());
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_SOFT_DIRTY, PAGE_IS_SOFT_DIRTY);
	EXPECT_AGREE(p, PM_HPAGE);
}

/* --- GUARD ---------------------------------------------------------------- */

CASE(guard_marker_is_guard_and_swapped, ANON, LEN, NO_UFFD)
{
	pm_touch(p, LEN, PM_PAGE, true);
	if (madvise(p + 4 * PM_PAGE, 4 * PM_PAGE, MADV_GUARD_INSTALL))
		SKIP(return, "MADV_GUARD_INSTALL unavailable");
	EXPECT_CAT(p, LEN, 5, PAGE_IS_GUARD | KIND, PAGE_IS_GUARD | PAGE_IS_SWAPPED);
	EXPECT_CAT(p, LEN, 3, PAGE_IS_GUARD, 0);
	EXPECT_AGREE(p, LEN);
}

CASE(guard_marker_on_shmem_is_not_file, SHARED_ANON, LEN, NO_UFFD)
{
	pm_touch(p, LEN, PM_PAGE, true);
	if (madvise(p, 2 * PM_PAGE, MADV_GUARD_INSTALL))
		SKIP(return, "MADV_GUARD_INSTALL on shmem unavailable");
	EXPECT_CAT(p, LEN, 0, PAGE_IS_GUARD | PAGE_IS_FILE, PAGE_IS_GUARD);
	EXPECT_AGREE(p, LEN);
}

CASE(poison_marker_is_swapped_not_guard, ANON, LEN, UFFD_POISON)
{
	struct uffdio_poison poison = {
		.range = { .start = (uintptr_t)p + 2 * PM_PAGE, .len = PM_PAGE },
	};

	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_MISSING));
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_POISON, &poison));
	EXPECT_CAT(p, LEN, 2, PAGE_IS_GUARD | KIND, PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, LEN);
}

/* --- WPALLOWED ------------------------------------------------------------ */

CASE(wpallowed_on_async_wp_vma_with_markers, ANON, LEN, UFFD_ASYNC)
{
	pm_touch(p, LEN / 2, PM_PAGE, true);
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_WP));
	EXPECT_CAT(p, LEN, 0, PAGE_IS_WPALLOWED, PAGE_IS_WPALLOWED);
	EXPECT_CAT(p, LEN, NPAGES - 1, PAGE_IS_WPALLOWED, PAGE_IS_WPALLOWED);
	EXPECT_AGREE(p, LEN);
}

CASE(wpallowed_not_for_missing_mode_registration, ANON, LEN, UFFD_ASYNC)
{
	pm_touch(p, LEN, PM_PAGE, true);
	/* An async context, but the VMA is not registered for write-protection. */
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_MISSING));
	EXPECT_CAT(p, LEN, 0, PAGE_IS_WPALLOWED, 0);
	EXPECT_AGREE(p, LEN);
}

CASE(wpallowed_not_for_rwp_registration, ANON, LEN, UFFD_RWP)
{
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_RWP));
	EXPECT_CAT(p, LEN, 0, PAGE_IS_WPALLOWED, 0);
	EXPECT_AGREE(p, LEN);
}

CASE(wpallowed_for_shmem, SHARED_ANON, LEN, UFFD_SHMEM_ASYNC)
{
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_WP));
	EXPECT_CAT(p, LEN, 0, PAGE_IS_WPALLOWED, PAGE_IS_WPALLOWED);
	EXPECT_AGREE(p, LEN);
}

CASE(wpallowed_not_for_synchronous_wp, ANON, LEN, UFFD_SYNC_WP)
{
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_WP));
	EXPECT_CAT(p, LEN, 0, PAGE_IS_WPALLOWED, 0);
	EXPECT_AGREE(p, LEN);
}

/* --- WRITTEN -------------------------------------------------------------- */

CASE(written_only_after_write_to_protected_pte, ANON, LEN, UFFD_ASYNC)
{
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, pm_uffd_async_wp(uffd, p, LEN));
	p[6 * PM_PAGE] = 9;
	EXPECT_CAT(p, LEN, 6, PAGE_IS_WRITTEN | KIND, PAGE_IS_WRITTEN | PAGE_IS_PRESENT);
	EXPECT_CAT(p, LEN, 7, PAGE_IS_WRITTEN | KIND, PAGE_IS_PRESENT);
	EXPECT_AGREE(p, LEN);
}

CASE(written_not_outside_uffd_wp_vma, ANON, LEN, NO_UFFD)
{
	p[0] = 1;
	EXPECT_CAT(p, LEN, 0, PAGE_IS_WRITTEN, 0);
	EXPECT_CAT(p, LEN, 1, PAGE_IS_WRITTEN, 0);
	EXPECT_AGREE(p, LEN);
}

CASE(written_on_pte_none_in_uffd_wp_vma, ANON, LEN, UFFD_ASYNC)
{
	p[0] = 1;	/* a PTE table, with page 1 empty in it */
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_WP));
	EXPECT_CAT(p, LEN, 1, PAGE_IS_WRITTEN | KIND, PAGE_IS_WRITTEN);
	EXPECT_AGREE(p, LEN);
}

CASE(written_on_hole_in_uffd_wp_vma, ALIGNED, PM_HPAGE, UFFD_ASYNC)
{
	/* Never touched: no PTE table at all. */
	ASSERT_EQ(0, pm_uffd_register(uffd, p, PM_HPAGE, UFFDIO_REGISTER_MODE_WP));
	EXPECT_CAT(p, PM_HPAGE, 3, PAGE_IS_WRITTEN | KIND, PAGE_IS_WRITTEN);
	EXPECT_AGREE(p, PM_HPAGE);
}

CASE(written_not_on_uffd_wp_marker, ANON, LEN, UFFD_ASYNC)
{
	p[0] = 1;
	ASSERT_EQ(0, pm_uffd_async_wp(uffd, p, LEN));
	/* Page 1 was empty: write-protecting it left a marker. */
	EXPECT_CAT(p, LEN, 1, PAGE_IS_WRITTEN | KIND, PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, LEN);
}

CASE(written_on_swapped_pte_unless_protected, ANON, LEN, UFFD_ASYNC)
{
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_WP));
	ASSERT_EQ(0, pm_uffd_wp(uffd, p, LEN / 2, true));
	PM_REQUIRE_SWAPPED(self->proc, p, LEN, NPAGES);
	EXPECT_CAT(p, LEN, 0, PAGE_IS_WRITTEN | KIND, PAGE_IS_SWAPPED);
	EXPECT_CAT(p, LEN, NPAGES - 1, PAGE_IS_WRITTEN | KIND, PAGE_IS_WRITTEN | PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, LEN);
}

CASE(written_thp_unless_protected, THP, PM_HPAGE, UFFD_ASYNC)
{
	ASSERT_EQ(0, pm_uffd_register(uffd, p, PM_HPAGE, UFFDIO_REGISTER_MODE_WP));
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_WRITTEN | KIND,
		   PAGE_IS_WRITTEN | PAGE_IS_PRESENT | PAGE_IS_HUGE);
	EXPECT_AGREE(p, PM_HPAGE);
	ASSERT_EQ(0, pm_uffd_wp(uffd, p, PM_HPAGE, true));
	PM_REQUIRE_HUGE(self->proc, p, PM_HPAGE); /* protecting must not split it */
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_WRITTEN | KIND, PAGE_IS_PRESENT | PAGE_IS_HUGE);
	EXPECT_AGREE(p, PM_HPAGE);
}

CASE(written_hugetlb_unless_protected, HUGETLB, 2 * PM_HPAGE, UFFD_ASYNC)
{
	p[0] = 1;
	p[PM_HPAGE] = 1;
	ASSERT_EQ(0, pm_uffd_register(uffd, p, 2 * PM_HPAGE, UFFDIO_REGISTER_MODE_WP));
	ASSERT_EQ(0, pm_uffd_wp(uffd, p, PM_HPAGE, true));
	EXPECT_CAT(p, 2 * PM_HPAGE, 0, PAGE_IS_WRITTEN | KIND, PAGE_IS_PRESENT | PAGE_IS_HUGE);
	EXPECT_CAT(p, 2 * PM_HPAGE, 512, PAGE_IS_WRITTEN | KIND,
		   PAGE_IS_WRITTEN | PAGE_IS_PRESENT | PAGE_IS_HUGE);
	EXPECT_AGREE(p, 2 * PM_HPAGE);
}

CASE(written_not_on_hugetlb_hole, HUGETLB_FRESH, 2 * PM_HPAGE, UFFD_ASYNC)
{
	ASSERT_EQ(0, pm_uffd_register(uffd, p, 2 * PM_HPAGE, UFFDIO_REGISTER_MODE_WP));
	EXPECT_CAT(p, 2 * PM_HPAGE, 0, PAGE_IS_WRITTEN | KIND, 0);
	EXPECT_AGREE(p, 2 * PM_HPAGE);
}

CASE(written_not_on_hugetlb_none_entry, HUGETLB, 2 * PM_HPAGE, UFFD_ASYNC)
{
	ASSERT_EQ(0, pm_uffd_register(uffd, p, 2 * PM_HPAGE, UFFDIO_REGISTER_MODE_WP));
	p[0] = 1;
	EXPECT_CAT(p, 2 * PM_HPAGE, 512, PAGE_IS_WRITTEN | KIND, PAGE_IS_HUGE);
	EXPECT_AGREE(p, 2 * PM_HPAGE);
}

CASE(written_not_on_hugetlb_marker, HUGETLB, 2 * PM_HPAGE, UFFD_ASYNC)
{
	p[0] = 1;
	ASSERT_EQ(0, pm_uffd_async_wp(uffd, p, 2 * PM_HPAGE));
	EXPECT_CAT(p, 2 * PM_HPAGE, 512, PAGE_IS_WRITTEN | KIND, PAGE_IS_HUGE | PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, 2 * PM_HPAGE);
}

/* --- ACCESSED ------------------------------------------------------------- */

CASE(accessed_only_after_access_to_rw_protected_pte, ANON, LEN, UFFD_RWP)
{
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_RWP));
	ASSERT_EQ(0, rw_protect(uffd, p, LEN));
	(void)*(volatile char *)(p + 3 * PM_PAGE);
	EXPECT_CAT(p, LEN, 3, PAGE_IS_ACCESSED | KIND, PAGE_IS_ACCESSED | PAGE_IS_PRESENT);
	EXPECT_CAT(p, LEN, 4, PAGE_IS_ACCESSED | KIND, PAGE_IS_PRESENT);
	EXPECT_AGREE(p, LEN);
}

CASE(accessed_never_on_pte_none, ANON, LEN, UFFD_RWP)
{
	p[0] = 1;
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_RWP));
	EXPECT_CAT(p, LEN, 0, PAGE_IS_ACCESSED, PAGE_IS_ACCESSED);
	EXPECT_CAT(p, LEN, 1, PAGE_IS_ACCESSED, 0);
	EXPECT_AGREE(p, LEN);
}

CASE(accessed_on_swapped_pte_unless_protected, ANON, LEN, UFFD_RWP)
{
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_RWP));
	ASSERT_EQ(0, rw_protect(uffd, p, LEN / 2));
	PM_REQUIRE_SWAPPED(self->proc, p, LEN, NPAGES);
	EXPECT_CAT(p, LEN, 0, PAGE_IS_ACCESSED | KIND, PAGE_IS_SWAPPED);
	EXPECT_CAT(p, LEN, NPAGES - 1, PAGE_IS_ACCESSED | KIND, PAGE_IS_ACCESSED | PAGE_IS_SWAPPED);
	EXPECT_AGREE(p, LEN);
}

CASE(accessed_thp_unless_protected, THP, PM_HPAGE, UFFD_RWP)
{
	ASSERT_EQ(0, pm_uffd_register(uffd, p, PM_HPAGE, UFFDIO_REGISTER_MODE_RWP));
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_ACCESSED | PAGE_IS_HUGE, PAGE_IS_ACCESSED | PAGE_IS_HUGE);
	ASSERT_EQ(0, rw_protect(uffd, p, PM_HPAGE));
	PM_REQUIRE_HUGE(self->proc, p, PM_HPAGE); /* protecting must not split it */
	EXPECT_CAT(p, PM_HPAGE, 0, PAGE_IS_ACCESSED | PAGE_IS_HUGE, PAGE_IS_HUGE);
	EXPECT_AGREE(p, PM_HPAGE);
}

CASE(accessed_hugetlb_unless_protected, HUGETLB, 2 * PM_HPAGE, UFFD_RWP)
{
	p[0] = 1;
	p[PM_HPAGE] = 1;
	ASSERT_EQ(0, pm_uffd_register(uffd, p, 2 * PM_HPAGE, UFFDIO_REGISTER_MODE_RWP));
	ASSERT_EQ(0, rw_protect(uffd, p, PM_HPAGE));
	EXPECT_CAT(p, 2 * PM_HPAGE, 0, PAGE_IS_ACCESSED | PAGE_IS_HUGE, PAGE_IS_HUGE);
	EXPECT_CAT(p, 2 * PM_HPAGE, 512, PAGE_IS_ACCESSED | PAGE_IS_HUGE,
		   PAGE_IS_ACCESSED | PAGE_IS_HUGE);
	EXPECT_AGREE(p, 2 * PM_HPAGE);
}

TEST_HARNESS_MAIN
