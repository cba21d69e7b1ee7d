// SPDX-License-Identifier: GPL-2.0
/*
 * RPM_SCAN_PAGE_SIZES, one behaviour per test: the log2 size of the entry
 * mapping each page and of the folio behind it, for every kind of memory
 * (4 KiB anonymous, file and shmem pages, the zero pages, 64 KiB mTHP, PMD
 * THP anonymous and shmem, THPs split in part, hugetlb 2 MiB and 1 GiB present
 * and not faulted in, swap entries, PROT_NONE), regions split where a size
 * changes, max_pages/vec_len/walk_end, and the flag with write-protection and
 * get-and-clear.
 *
 * Every test first proves its set-up through the kernel (pm_require.h), then
 * checks the values it is named for, and then the whole range against the
 * kernel's own answers (pm_sizes.h): the regions without the size bits are
 * /proc's, the entry sizes are smaps' and PAGE_IS_HUGE's, the folio sizes
 * /proc/kpageflags', and the PMD-mapped pages add up to smaps' AnonHugePages,
 * ShmemPmdMapped and FilePmdMapped.
 */
#include "pm_sizes.h"
#include "pm_hostile.h"

#include "kselftest_harness.h"
#include "pm_require.h"

#define NPAGES 32
#define LEN (NPAGES * PM_PAGE)
#define THP_SYSFS "/sys/kernel/mm/transparent_hugepage"
#define MTHP_64K THP_SYSFS "/hugepages-64kB/enabled"

FIXTURE(sizes)
{
	int proc, dev;
	char mthp_64k[128];	/* the setting to put back, "" if untouched */
	char khugepaged_sleep[32];
};

/* Reads a sysfs file whole; false on failure. */
static bool sysfs_get(const char *path, char *buf, size_t len)
{
	return pm_read_file(path, buf, len);
}

FIXTURE_SETUP(sizes)
{
	PM_OPEN_BOTH(self);
	self->mthp_64k[0] = 0;
	/* khugepaged must not collapse what a test split while it looks. */
	ASSERT_TRUE(pm_khugepaged_sleep(self->khugepaged_sleep, sizeof(self->khugepaged_sleep)));
}

FIXTURE_TEARDOWN(sizes)
{
	if (self->mthp_64k[0])
		pm_write_file(MTHP_64K, self->mthp_64k);
	pm_khugepaged_restore(self->khugepaged_sleep);
	PM_CLOSE_BOTH(self);
}

/* The selected word of a sysfs "a [b] c" setting. */
static void sysfs_selected(const char *all, char *out, size_t len)
{
	const char *l = strchr(all, '['), *r = l ? strchr(l, ']') : NULL;

	snprintf(out, len, "%.*s", l && r ? (int)(r - l - 1) : 0, l ? l + 1 : "");
}

/*
 * Set 64 KiB mTHP for anonymous memory to `how` ("always", "never"), keeping
 * the first setting for the teardown. The guest's kernel has mTHP: a missing
 * file fails the test.
 */
#define SET_MTHP_64K(how)                                                             \
	do {                                                                          \
		char cur[256];                                                        \
		ASSERT_TRUE(sysfs_get(MTHP_64K, cur, sizeof(cur)))                   \
		TH_LOG("no %s: the kernel has no 64 KiB mTHP", MTHP_64K);            \
		if (!self->mthp_64k[0])                                               \
			sysfs_selected(cur, self->mthp_64k, sizeof(self->mthp_64k));  \
		ASSERT_TRUE(pm_write_file(MTHP_64K, how));                            \
	} while (0)

/* Categories (sizes included) of the page at `addr` in a sized scan of [p, p+len); -1 if not reported. */
static long sized_cat_at(int dev, void *p, size_t len, void *addr)
{
	static struct pm_scan_result r;
	struct pm_scan_arg a = pm_scan_req((uintptr_t)p, (uintptr_t)p + len, RPM_SCAN_PAGE_SIZES,
					   0, 0, 0, PM_ALL_CATEGORIES);

	pm_scan_run(dev, &a, PM_MAX_REGIONS, &r);
	for (long i = 0; i < r.n; i++)
		if (r.r[i].start <= (uintptr_t)addr && (uintptr_t)addr < r.r[i].end)
			return (long)r.r[i].categories;
	return -1;
}

/* Entry and folio shifts of page `i` of [p, p+len), as "ent/fol" packed: ent * 100 + fol. */
#define SIZES(p, len, i)                                                              \
	({                                                                            \
		long _c = sized_cat_at(self->dev, (p), (len), (char *)(p) + (size_t)(i) * PM_PAGE); \
		_c < 0 ? -1L : (long)RPM_REGION_ENTRY_SHIFT(_c) * 100 + RPM_REGION_FOLIO_SHIFT(_c); \
	})
#define EXPECT_SIZES(p, len, i, ent, fol) EXPECT_EQ((long)(ent) * 100 + (fol), SIZES(p, len, i))

/* Pictures of up to 1 GiB, for the checks below. */
static struct pm_page pic_dev[1 << 18], pic_proc[1 << 18];

/* The whole range agrees with the kernel's answers (pm_sizes.h). */
#define EXPECT_KERNEL_AGREES(p, len)                                                  \
	do {                                                                          \
		uintptr_t _bad;                                                       \
		const char *_why = pm_sizes_check(self->proc, self->dev, (uintptr_t)(p), \
						  (len) / PM_PAGE, pic_dev, pic_proc, &_bad); \
		EXPECT_EQ(NULL, _why) TH_LOG("%s at %#lx (page %ld)", _why, (unsigned long)_bad, \
					     (long)((_bad - (uintptr_t)(p)) / PM_PAGE)); \
	} while (0)

/* Number of regions of a sized full scan of [p, p+len). */
static long sized_regions(int fd, void *p, size_t len, uint64_t flags)
{
	static struct pm_scan_result r;
	struct pm_scan_arg a = pm_scan_req((uintptr_t)p, (uintptr_t)p + len, flags, 0, 0, 0,
					   PM_ALL_CATEGORIES);

	pm_scan_run(fd, &a, PM_MAX_REGIONS, &r);
	return r.ret;
}

static char *anon(size_t len)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

/* A touched 2 MiB aligned MADV_HUGEPAGE mapping of `len`, anonymous or (fd >= 0) shared file. */
static char *thp(size_t len, int fd, bool write)
{
	char *p = pm_thp_map(len, fd);

	if (p != MAP_FAILED)
		pm_touch(p, len, PM_PAGE, write);
	return p;
}

static char *thp_shmem(void)
{
	int fd = memfd_create("rpm-sizes-thp", 0);
	char *p;

	if (fd < 0 || ftruncate(fd, PM_HPAGE))
		return MAP_FAILED;
	p = thp(PM_HPAGE, fd, true);
	close(fd);
	return p;
}

static long mthp_64k_faults(void)
{
	char buf[64] = "";

	if (!pm_read_file(THP_SYSFS "/hugepages-64kB/stats/anon_fault_alloc", buf, sizeof(buf)))
		return -1;
	return strtol(buf, NULL, 10);
}

/*
 * An anonymous mapping of `len` (2 MiB aligned, no MADV_HUGEPAGE) whose first
 * `mthp_len` bytes are written with 64 KiB mTHP on. A test that wants 4 KiB
 * folios after them maps them here too, and faults them with mTHP off: a
 * second mapping placed right after `p` with MAP_FIXED_NOREPLACE can find the
 * next mapping in its way (pm_map_aligned() frees only the 2 MiB of slack it
 * aligned with), and failed so now and then.
 */
#define MTHP_ANON(p, len, mthp_len)                                                   \
	do {                                                                          \
		long _before;                                                         \
		SET_MTHP_64K("always");                                               \
		_before = mthp_64k_faults();                                          \
		(p) = pm_map_aligned((len), PROT_READ | PROT_WRITE,                   \
				     MAP_PRIVATE | MAP_ANONYMOUS, -1);               \
		ASSERT_NE(MAP_FAILED, (p));                                           \
		pm_touch((p), (mthp_len), PM_PAGE, true);                             \
		ASSERT_EQ(_before + (long)((mthp_len) >> 16), mthp_64k_faults())     \
		TH_LOG("not every 64 KiB written faulted in as an mTHP");            \
	} while (0)

/* --- the flag itself ------------------------------------------------------- */

TEST_F(sizes, unknown_flag_bits_are_einval)
{
	char *p = anon(LEN);
	struct pm_scan_result r;
	uint64_t bad[] = { 1ULL << 2, 1ULL << 31, 1ULL << 34, 1ULL << 63 };

	ASSERT_NE(MAP_FAILED, p);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct pm_scan_arg a = pm_scan_req((uintptr_t)p, (uintptr_t)p + LEN,
						   RPM_SCAN_PAGE_SIZES | bad[i], 0, 0, 0,
						   PM_ALL_CATEGORIES);

		pm_scan_run(self->dev, &a, 8, &r);
		EXPECT_EQ(-EINVAL, r.ret) TH_LOG("flags %#llx", (unsigned long long)a.flags);
	}
}

TEST_F(sizes, flag_is_the_devices_only)
{
	char *p = anon(LEN);
	struct pm_scan_result r;
	struct pm_scan_arg a;

	ASSERT_NE(MAP_FAILED, p);
	a = pm_scan_req((uintptr_t)p, (uintptr_t)p + LEN, RPM_SCAN_PAGE_SIZES, 0, 0, 0,
			PM_ALL_CATEGORIES);
	pm_scan_run(self->proc, &a, 8, &r);
	EXPECT_EQ(-EINVAL, r.ret) TH_LOG("upstream knows bit 33 now: the bit must move");
	pm_scan_run(self->dev, &a, 8, &r);
	EXPECT_GE(r.ret, 0);
}

TEST_F(sizes, size_bits_not_in_masks)
{
	char *p = anon(LEN);
	struct pm_scan_result r;
	struct pm_scan_arg a;

	ASSERT_NE(MAP_FAILED, p);
	/* The size bits are output only: as masks they are unknown categories. */
	a = pm_scan_req((uintptr_t)p, (uintptr_t)p + LEN, RPM_SCAN_PAGE_SIZES, 0,
			1ULL << 48, 0, PM_ALL_CATEGORIES);
	pm_scan_run(self->dev, &a, 8, &r);
	EXPECT_EQ(-EINVAL, r.ret);
	a = pm_scan_req((uintptr_t)p, (uintptr_t)p + LEN, RPM_SCAN_PAGE_SIZES, 0, 0, 0,
			PM_ALL_CATEGORIES | (1ULL << 56));
	pm_scan_run(self->dev, &a, 8, &r);
	EXPECT_EQ(-EINVAL, r.ret);
}

TEST_F(sizes, without_flag_upstream_answers)
{
	char *t = thp(PM_HPAGE, -1, true);
	char *m;

	ASSERT_NE(MAP_FAILED, t);
	PM_REQUIRE_THP(self->proc, t, PM_HPAGE);
	MTHP_ANON(m, 16 * 64 * 1024, 16 * 64 * 1024);
	EXPECT_EQ(0, pm_scan_family_differs(self->proc, self->dev, t, PM_HPAGE));
	EXPECT_EQ(0, pm_scan_family_differs(self->proc, self->dev, m, 16 * 64 * 1024));
}

TEST_F(sizes, sizes_added_whatever_return_mask_says)
{
	char *p = anon(LEN);
	struct pm_scan_result r;
	struct pm_scan_arg a;

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	a = pm_scan_req((uintptr_t)p, (uintptr_t)p + LEN, RPM_SCAN_PAGE_SIZES, 0, 0, 0, 0);
	pm_scan_run(self->dev, &a, 8, &r);
	ASSERT_EQ(1, r.ret);
	EXPECT_EQ((12ULL << 48) | (12ULL << 56), r.r[0].categories);
}

/* --- 4 KiB pages ------------------------------------------------------------ */

TEST_F(sizes, anon_4k_pte_and_folio_12)
{
	char *p = anon(LEN);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	EXPECT_EQ(4, pm_smaps_kb(p, "KernelPageSize"));
	EXPECT_EQ(0, pm_smaps_kb(p, "AnonHugePages"));
	EXPECT_SIZES(p, LEN, 0, 12, 12);
	EXPECT_SIZES(p, LEN, NPAGES - 1, 12, 12);
	EXPECT_EQ(1, sized_regions(self->dev, p, LEN, RPM_SCAN_PAGE_SIZES));
	EXPECT_KERNEL_AGREES(p, LEN);
}

TEST_F(sizes, untouched_anon_has_no_size)
{
	char *p = anon(LEN);

	ASSERT_NE(MAP_FAILED, p);
	p[0] = 1;	/* a table, with empty PTEs after the first */
	EXPECT_SIZES(p, LEN, 0, 12, 12);
	EXPECT_SIZES(p, LEN, 1, 0, 0);
	EXPECT_KERNEL_AGREES(p, LEN);
}

TEST_F(sizes, zero_page_is_a_4k_folio)
{
	char *p = anon(LEN);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, false);
	ASSERT_EQ(NPAGES, pm_count_cat(self->proc, p, LEN, PAGE_IS_PFNZERO, 0));
	EXPECT_SIZES(p, LEN, 3, 12, 12);
	EXPECT_KERNEL_AGREES(p, LEN);
}

TEST_F(sizes, file_4k)
{
	const char *path = "/rpm-sizes-file";
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	char *p;

	if (fd < 0) {
		path = "/tmp/rpm-sizes-file";
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	}
	ASSERT_GE(fd, 0);
	unlink(path);
	ASSERT_EQ(0, ftruncate(fd, LEN));
	p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(NPAGES, pm_count_cat(self->proc, p, LEN, PAGE_IS_FILE | PAGE_IS_PRESENT, 0));
	EXPECT_EQ(4, pm_smaps_kb(p, "KernelPageSize"));
	EXPECT_EQ(0, pm_smaps_kb(p, "FilePmdMapped"));
	EXPECT_EQ(0, pm_smaps_kb(p, "ShmemPmdMapped"));
	EXPECT_SIZES(p, LEN, 5, 12, 12);
	EXPECT_KERNEL_AGREES(p, LEN);
}

TEST_F(sizes, shmem_4k)
{
	int fd = memfd_create("rpm-sizes", 0);
	char *p;

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ftruncate(fd, LEN));
	p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	EXPECT_EQ(0, pm_smaps_kb(p, "ShmemPmdMapped"));
	EXPECT_SIZES(p, LEN, 7, 12, 12);
	EXPECT_KERNEL_AGREES(p, LEN);
}

TEST_F(sizes, prot_none_after_touch_keeps_sizes)
{
	char *p = anon(LEN);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, mprotect(p, LEN, PROT_NONE));
	EXPECT_SIZES(p, LEN, 2, 12, 12);
	EXPECT_KERNEL_AGREES(p, LEN);
}

TEST_F(sizes, prot_none_untouched_has_no_size)
{
	char *p = mmap(NULL, LEN, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, p);
	EXPECT_SIZES(p, LEN, 2, 0, 0);
	EXPECT_KERNEL_AGREES(p, LEN);
}

TEST_F(sizes, swapped_pte_is_a_pte_without_folio)
{
	char *p = anon(LEN);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	PM_REQUIRE_SWAPPED(self->proc, p, LEN, NPAGES);
	EXPECT_SIZES(p, LEN, 4, 12, 0);
	EXPECT_KERNEL_AGREES(p, LEN);
}

/* --- mTHP ------------------------------------------------------------------- */

TEST_F(sizes, mthp_64k_is_ptes_of_a_64k_folio)
{
	size_t len = 8 * 64 * 1024;
	char *p;

	MTHP_ANON(p, len, len);
	EXPECT_EQ(0, pm_smaps_kb(p, "AnonHugePages"));
	EXPECT_EQ(0, pm_count_cat(self->proc, p, len, PAGE_IS_HUGE, 0));
	EXPECT_SIZES(p, len, 0, 12, 16);
	EXPECT_SIZES(p, len, 17, 12, 16);
	EXPECT_SIZES(p, len, len / PM_PAGE - 1, 12, 16);
	/* Eight folios of the same sizes side by side: one region, as upstream merges. */
	EXPECT_EQ(1, sized_regions(self->dev, p, len, RPM_SCAN_PAGE_SIZES));
	EXPECT_KERNEL_AGREES(p, len);
}

TEST_F(sizes, mthp_next_to_4k_folios_splits_region)
{
	size_t len = 8 * 64 * 1024;
	char *p;

	/* One VMA: its second half faulted with mTHP off, 4 KiB folios. */
	MTHP_ANON(p, len, len / 2);
	ASSERT_TRUE(pm_write_file(MTHP_64K, "never"));
	pm_touch(p + len / 2, len / 2, PM_PAGE, true);
	/* Upstream sees one run of present pages. */
	ASSERT_EQ(1, sized_regions(self->proc, p, len, 0));
	EXPECT_EQ(2, sized_regions(self->dev, p, len, RPM_SCAN_PAGE_SIZES));
	EXPECT_SIZES(p, len, len / PM_PAGE / 2 - 1, 12, 16);
	EXPECT_SIZES(p, len, len / PM_PAGE / 2, 12, 12);
	EXPECT_KERNEL_AGREES(p, len);
}

TEST_F(sizes, mthp_partly_unmapped_folio_stays_64k)
{
	size_t len = 4 * 64 * 1024;
	char *p;

	MTHP_ANON(p, len, len);
	ASSERT_EQ(0, madvise(p + 3 * PM_PAGE, PM_PAGE, MADV_DONTNEED));
	EXPECT_SIZES(p, len, 2, 12, 16);
	EXPECT_SIZES(p, len, 3, 0, 0);
	EXPECT_SIZES(p, len, 4, 12, 16);
	EXPECT_KERNEL_AGREES(p, len);
}

/* --- PMD THP ----------------------------------------------------------------- */

TEST_F(sizes, thp_anon_pmd_21)
{
	char *p = thp(PM_HPAGE, -1, true);

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	EXPECT_EQ(2048, pm_smaps_kb(p, "AnonHugePages"));
	EXPECT_SIZES(p, PM_HPAGE, 0, 21, 21);
	EXPECT_SIZES(p, PM_HPAGE, 511, 21, 21);
	EXPECT_KERNEL_AGREES(p, PM_HPAGE);
}

TEST_F(sizes, thp_clipped_scan_keeps_sizes)
{
	char *p = thp(PM_HPAGE, -1, true);

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	EXPECT_SIZES(p + 100 * PM_PAGE, 50 * PM_PAGE, 10, 21, 21);
	EXPECT_KERNEL_AGREES(p + 100 * PM_PAGE, 50 * PM_PAGE);
}

TEST_F(sizes, huge_zero_page_is_a_2m_folio)
{
	char *p = thp(PM_HPAGE, -1, false);

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	ASSERT_EQ(512, pm_count_cat(self->proc, p, PM_HPAGE, PAGE_IS_PFNZERO, 0));
	EXPECT_SIZES(p, PM_HPAGE, 0, 21, 21);
	EXPECT_KERNEL_AGREES(p, PM_HPAGE);
}

TEST_F(sizes, thp_shmem_pmd_21)
{
	char *p = thp_shmem();

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	EXPECT_EQ(2048, pm_smaps_kb(p, "ShmemPmdMapped"));
	EXPECT_SIZES(p, PM_HPAGE, 9, 21, 21);
	EXPECT_KERNEL_AGREES(p, PM_HPAGE);
}

TEST_F(sizes, two_thps_side_by_side_are_one_region)
{
	char *p = thp(2 * PM_HPAGE, -1, true);

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, 2 * PM_HPAGE);
	EXPECT_EQ(1, sized_regions(self->dev, p, 2 * PM_HPAGE, RPM_SCAN_PAGE_SIZES));
	EXPECT_KERNEL_AGREES(p, 2 * PM_HPAGE);
}

TEST_F(sizes, thp_next_to_4k_splits_region)
{
	/*
	 * A THP and 4 KiB pages right after it, in a VMA without THP (/proc merges
	 * across VMAs): one mapping, its two parts advised apart (a second mapping
	 * after the THP could find another mapping in its way, see MTHP_ANON).
	 */
	char *p = pm_map_aligned(PM_HPAGE + LEN, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1);

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p, PM_HPAGE, MADV_HUGEPAGE));
	ASSERT_EQ(0, madvise(p + PM_HPAGE, LEN, MADV_NOHUGEPAGE));
	pm_touch(p, PM_HPAGE, PM_PAGE, true);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	pm_touch(p + PM_HPAGE, LEN, PM_PAGE, true);
	/* Same categories but for HUGE: two regions either way; the sizes change too. */
	EXPECT_SIZES(p, PM_HPAGE + LEN, 511, 21, 21);
	EXPECT_SIZES(p, PM_HPAGE + LEN, 512, 12, 12);
	EXPECT_KERNEL_AGREES(p, PM_HPAGE + LEN);
}

TEST_F(sizes, thp_split_by_mprotect_ptes_of_a_2m_folio)
{
	char *p = thp(PM_HPAGE, -1, true);

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	/* Splits the VMA and the PMD, not the folio. */
	ASSERT_EQ(0, mprotect(p + 10 * PM_PAGE, PM_PAGE, PROT_READ));
	EXPECT_EQ(0, pm_count_cat(self->proc, p, PM_HPAGE, PAGE_IS_HUGE, 0));
	EXPECT_EQ(0, pm_smaps_kb(p, "AnonHugePages"));
	EXPECT_SIZES(p, PM_HPAGE, 7, 12, 21);
	EXPECT_SIZES(p, PM_HPAGE, 10, 12, 21);
	EXPECT_SIZES(p, PM_HPAGE, 500, 12, 21);
	/* Same sizes and categories across the three VMAs: one region, as upstream. */
	EXPECT_EQ(1, sized_regions(self->dev, p, PM_HPAGE, RPM_SCAN_PAGE_SIZES));
	EXPECT_KERNEL_AGREES(p, PM_HPAGE);
}

TEST_F(sizes, thp_split_by_dontneed_of_one_page)
{
	char *p = thp(PM_HPAGE, -1, true);

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	ASSERT_EQ(0, madvise(p + 100 * PM_PAGE, PM_PAGE, MADV_DONTNEED));
	EXPECT_EQ(0, pm_smaps_kb(p, "AnonHugePages"));
	EXPECT_SIZES(p, PM_HPAGE, 99, 12, 21);
	EXPECT_SIZES(p, PM_HPAGE, 100, 0, 0);
	EXPECT_SIZES(p, PM_HPAGE, 101, 12, 21);
	EXPECT_KERNEL_AGREES(p, PM_HPAGE);
}

TEST_F(sizes, thp_swapped_out_is_ptes_without_folio)
{
	char *p = thp(PM_HPAGE, -1, true);

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	PM_REQUIRE_SWAPPED(self->proc, p, PM_HPAGE, 512);
	EXPECT_SIZES(p, PM_HPAGE, 0, 12, 0);
	EXPECT_KERNEL_AGREES(p, PM_HPAGE);
}

/* --- the kernel check itself, across pictures ------------------------------ */

#define SPLIT_HUGE_PAGES "/sys/kernel/debug/split_huge_pages"

/* Split every THP of [p, p+len) of this process into 4 KiB folios where they are (debugfs). */
static bool split_in_place(void *p, size_t len)
{
	char cmd[96];

	snprintf(cmd, sizeof(cmd), "%d,%#lx,%#lx", getpid(), (unsigned long)p,
		 (unsigned long)p + len);
	return pm_write_file(SPLIT_HUGE_PAGES, cmd);
}

/* The frame of the page at `addr` per /proc/self/pagemap; 0 if not present. */
static uint64_t frame_of(int proc, void *addr)
{
	uint64_t e;

	if (pm_read_entries(proc, (uintptr_t)addr, 1, &e) || !(e & RPM_PRESENT))
		return 0;
	return e & RPM_PFRAME_MASK;
}

/* /proc/kpageflags of `pfn` read now, without pm_sizes.h's cache; ~0 on error. */
static uint64_t kpageflags_now(uint64_t pfn)
{
	int fd = open("/proc/kpageflags", O_RDONLY);
	uint64_t f = ~0ULL;

	if (fd >= 0) {
		if (pread(fd, &f, sizeof(f), (off_t)pfn * 8) != (ssize_t)sizeof(f))
			f = ~0ULL;
		close(fd);
	}
	return f;
}

/*
 * The frames of [p, p+PM_HPAGE) were one THP when the kernel check last looked
 * and are 512 folios of 4 KiB now, at the same frames (split in place, pages
 * touched again): the next check must see the 4 KiB folios the device reports.
 * The sized random test once failed three pictures in a row this way on a
 * memfd-shared slot (4 KiB shmem folios), whose frames an earlier world had
 * used for a large folio.
 */
#define EXPECT_CHECK_SEES_SPLIT(p, write)                                              \
	do {                                                                          \
		uint64_t _pfn = frame_of(self->proc, (p) + 7 * PM_PAGE), _f;          \
		ASSERT_NE(0, _pfn);                                                   \
		ASSERT_TRUE(split_in_place((p), PM_HPAGE))                            \
		TH_LOG("cannot write %s (debugfs)", SPLIT_HUGE_PAGES);                \
		pm_touch((p), PM_HPAGE, PM_PAGE, (write));                            \
		ASSERT_EQ(_pfn, frame_of(self->proc, (p) + 7 * PM_PAGE))              \
		TH_LOG("the page moved: not split in place, the case would test nothing"); \
		_f = kpageflags_now(_pfn);                                            \
		ASSERT_EQ(0ULL, _f & (PM_KPF_HEAD | PM_KPF_TAIL))                        \
		TH_LOG("frame %#llx is still compound (flags %#llx): not split",     \
		       (unsigned long long)_pfn, (unsigned long long)_f);             \
		EXPECT_SIZES((p), PM_HPAGE, 7, 12, 12);                               \
		EXPECT_KERNEL_AGREES((p), PM_HPAGE);                                  \
	} while (0)

TEST_F(sizes, kernel_check_sees_anon_thp_split_in_place)
{
	char *p = thp(PM_HPAGE, -1, true);

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	EXPECT_SIZES(p, PM_HPAGE, 7, 21, 21);
	EXPECT_KERNEL_AGREES(p, PM_HPAGE);
	EXPECT_CHECK_SEES_SPLIT(p, true);
}

TEST_F(sizes, kernel_check_sees_shmem_thp_split_in_place)
{
	char *p = thp_shmem();

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	EXPECT_SIZES(p, PM_HPAGE, 7, 21, 21);
	EXPECT_KERNEL_AGREES(p, PM_HPAGE);
	/* The split unmaps the shmem pages; reading them maps the 4 KiB folios again. */
	EXPECT_CHECK_SEES_SPLIT(p, false);
}

/* --- hugetlb ----------------------------------------------------------------- */

TEST_F(sizes, hugetlb_2m_present)
{
	char *p = pm_hugetlb_map(2 * PM_HPAGE, PM_HPAGE, MAP_PRIVATE);

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_HPAGE);
	p[0] = 1;
	p[PM_HPAGE] = 1;
	EXPECT_EQ(2048, pm_smaps_kb(p, "KernelPageSize"));
	EXPECT_SIZES(p, 2 * PM_HPAGE, 5, 21, 21);
	EXPECT_SIZES(p, 2 * PM_HPAGE, 600, 21, 21);
	EXPECT_KERNEL_AGREES(p, 2 * PM_HPAGE);
	munmap(p, 2 * PM_HPAGE);
}

TEST_F(sizes, hugetlb_2m_not_faulted_has_entry_size)
{
	char *p = pm_hugetlb_map(2 * PM_HPAGE, PM_HPAGE, MAP_PRIVATE);

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_HPAGE);
	p[0] = 1;	/* the second page: an empty entry in the table */
	EXPECT_SIZES(p, 2 * PM_HPAGE, 0, 21, 21);
	EXPECT_SIZES(p, 2 * PM_HPAGE, 512, 21, 0);
	EXPECT_KERNEL_AGREES(p, 2 * PM_HPAGE);
	munmap(p, 2 * PM_HPAGE);
}

TEST_F(sizes, hugetlb_2m_without_table_has_entry_size)
{
	size_t g = PM_GPAGE;
	char *raw = mmap(NULL, 2 * g, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	char *a, *p;

	ASSERT_NE(MAP_FAILED, raw);
	a = (char *)(((uintptr_t)raw + g - 1) & ~(g - 1));
	munmap(raw, 2 * g);
	/* At a 1 GiB aligned address nothing was mapped at: no PMD table yet. */
	p = mmap(a, PM_HPAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB | MAP_FIXED_NOREPLACE,
		 -1, 0);
	PM_REQUIRE_HUGETLB_MAPPED(p, PM_HPAGE);
	EXPECT_SIZES(p, PM_HPAGE, 0, 21, 0);
	EXPECT_KERNEL_AGREES(p, PM_HPAGE);
	munmap(p, PM_HPAGE);
}

TEST_F(sizes, hugetlb_1g_not_faulted_has_entry_size)
{
	char *p = pm_hugetlb_map(PM_GPAGE, PM_GPAGE, MAP_PRIVATE);

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_GPAGE);
	EXPECT_EQ(1048576, pm_smaps_kb(p, "KernelPageSize"));
	EXPECT_SIZES(p, PM_GPAGE, 0, 30, 0);
	EXPECT_SIZES(p, PM_GPAGE, 262143, 30, 0);
	EXPECT_KERNEL_AGREES(p, PM_GPAGE);
	munmap(p, PM_GPAGE);
}

/* Faulting in a 1 GiB page zeroes it: seconds under TCG with KASAN. */
TEST_F_TIMEOUT(sizes, hugetlb_1g_present, 180)
{
	char *p = pm_hugetlb_map(PM_GPAGE, PM_GPAGE, MAP_PRIVATE);

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_GPAGE);
	p[0] = 1;
	EXPECT_SIZES(p, PM_GPAGE, 0, 30, 30);
	EXPECT_SIZES(p, PM_GPAGE, 1000, 30, 30);
	/*
	 * The page-by-page check at both ends, not over the whole GiB: 262,144
	 * pages of it took 7 s under the debug kernel, and a single entry covers
	 * them all (pagemap_read_kinds compares every entry of such a page).
	 */
	EXPECT_KERNEL_AGREES(p, 2 * PM_HPAGE);
	EXPECT_KERNEL_AGREES(p + PM_GPAGE - 2 * PM_HPAGE, 2 * PM_HPAGE);
	munmap(p, PM_GPAGE);
}

TEST_F(sizes, hugetlb_shared_2m_present)
{
	char *p = pm_hugetlb_map(PM_HPAGE, PM_HPAGE, MAP_SHARED);

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_HPAGE);
	p[0] = 1;
	EXPECT_SIZES(p, PM_HPAGE, 3, 21, 21);
	EXPECT_KERNEL_AGREES(p, PM_HPAGE);
	munmap(p, PM_HPAGE);
}

/* --- max_pages, vec_len, walk_end ------------------------------------------ */

/*
 * An 8 MiB window of many sizes: 64 KiB mTHP, 4 KiB folios, a THP, a THP split
 * in part, swapped pages and holes, so that sized regions differ from
 * upstream's.
 */
static char *mixed_window(struct __test_metadata *_metadata, FIXTURE_DATA(sizes) *self)
{
	char *p;

	SET_MTHP_64K("always");
	p = pm_map_aligned(4 * PM_HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	if (p == MAP_FAILED)
		return p;
	/* [0, 1M): mTHP in every other 64 KiB, 4 KiB folios between. */
	for (int i = 0; i < 16; i += 2)
		pm_touch(p + i * 65536, 65536, PM_PAGE, true);
	pm_write_file(MTHP_64K, "never");
	for (int i = 1; i < 16; i += 2)
		pm_touch(p + i * 65536, 65536, PM_PAGE, true);
	/* [1M, 1M + 64K): swapped out. */
	pm_touch(p + (1 << 20), 65536, PM_PAGE, true);
	madvise(p + (1 << 20), 65536, MADV_PAGEOUT);
	/* [2M, 6M): THPs, the second split by one zapped page; [6M, 8M) untouched. */
	madvise(p + PM_HPAGE, 2 * PM_HPAGE, MADV_HUGEPAGE);
	pm_touch(p + PM_HPAGE, PM_HPAGE, PM_PAGE, true);
	pm_touch(p + 2 * PM_HPAGE, PM_HPAGE, PM_PAGE, true);
	madvise(p + 2 * PM_HPAGE + 300 * PM_PAGE, PM_PAGE, MADV_DONTNEED);
	return p;
}

TEST_F(sizes, max_pages_vec_len_walk_end_as_upstream_with_split_rule)
{
	struct pm_page *d = pic_dev, *q = pic_proc;
	char *p = mixed_window(_metadata, self);
	uintptr_t base = (uintptr_t)p, bad_at;
	const size_t n = 4 * PM_HPAGE / PM_PAGE;
	const char *why;
	int bad = 0, cases = 0;

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_GT(pm_count_cat(self->proc, p, 4 * PM_HPAGE, PAGE_IS_SWAPPED, 0), 0);
	ASSERT_EQ(512, pm_count_cat(self->proc, p, 4 * PM_HPAGE, PAGE_IS_HUGE, 0));
	why = pm_sizes_check(self->proc, self->dev, base, n, d, q, &bad_at);
	ASSERT_EQ(NULL, why) TH_LOG("%s at page %ld", why, (long)((bad_at - base) / PM_PAGE));
	for (uint64_t vec_len = 1; vec_len <= 40; vec_len += 3) {
		for (uint64_t maxp = 0; maxp < 1100; maxp = maxp * 3 + 7) {
			for (uint64_t off = 0; off < n; off += 131) {
				struct pm_scan_arg a = pm_scan_req(base + off * PM_PAGE, base + n * PM_PAGE,
								   0, 0, 0, 0, PM_ALL_CATEGORIES);

				a.max_pages = maxp;
				bad += pm_sizes_model_mismatches(self->proc, self->dev, base, n, d, q, a, vec_len);
				/* Selecting present pages only, returning nothing but the sizes. */
				a.category_mask = PAGE_IS_PRESENT;
				a.return_mask = 0;
				bad += pm_sizes_model_mismatches(self->proc, self->dev, base, n, d, q, a, vec_len);
				cases += 2;
				if (bad > 5)
					break;
			}
		}
	}
	printf("# %d cases\n", cases);
	EXPECT_EQ(0, bad);
}

TEST_F(sizes, more_regions_than_the_bounce_buffer)
{
	const int chunks = 1200;
	size_t len = (size_t)chunks * 65536, n = len / PM_PAGE;
	uintptr_t base, bad_at;
	const char *why;
	long before;
	int bad = 0;
	char *p;

	/* Alternate 64 KiB mTHP and 64 KiB of 4 KiB folios: 1200 sized regions, 1 upstream. */
	SET_MTHP_64K("always");
	before = mthp_64k_faults();
	p = pm_map_aligned(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	ASSERT_NE(MAP_FAILED, p);
	base = (uintptr_t)p;
	for (int i = 0; i < chunks; i += 2)
		pm_touch(p + (size_t)i * 65536, 65536, PM_PAGE, true);
	ASSERT_EQ(before + chunks / 2, mthp_64k_faults());
	ASSERT_TRUE(pm_write_file(MTHP_64K, "never"));
	for (int i = 1; i < chunks; i += 2)
		pm_touch(p + (size_t)i * 65536, 65536, PM_PAGE, true);
	ASSERT_EQ(1, sized_regions(self->proc, p, len, 0));
	ASSERT_EQ(chunks, sized_regions(self->dev, p, len, RPM_SCAN_PAGE_SIZES));
	why = pm_sizes_check(self->proc, self->dev, base, n, pic_dev, pic_proc, &bad_at);
	ASSERT_EQ(NULL, why) TH_LOG("%s at %#lx", why, (unsigned long)bad_at);
	for (uint64_t vec_len = 500; vec_len <= 1300; vec_len += 37) {
		struct pm_scan_arg a = pm_scan_req(base, base + len, 0, 0, 0, 0, PM_ALL_CATEGORIES);

		bad += pm_sizes_model_mismatches(self->proc, self->dev, base, n, pic_dev, pic_proc, a,
					vec_len);
		a.max_pages = 9000 + vec_len;
		bad += pm_sizes_model_mismatches(self->proc, self->dev, base, n, pic_dev, pic_proc, a,
					vec_len);
		a.start = base + 1000 * PM_PAGE + 3 * PM_PAGE;
		bad += pm_sizes_model_mismatches(self->proc, self->dev, base, n, pic_dev, pic_proc, a,
					vec_len);
	}
	EXPECT_EQ(0, bad);
}

/* --- with write-protection and get-and-clear --------------------------------- */

TEST_F(sizes, with_wp_matching_split_thp_reports_ptes)
{
	int uffd = pm_uffd_async();
	char *p = thp(PM_HPAGE, -1, true);
	struct pm_scan_result r;
	struct pm_scan_arg a;

	ASSERT_GE(uffd, 0);
	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	/* Registered after the fault: every page is written (no uffd bit yet). */
	ASSERT_EQ(0, pm_uffd_register(uffd, p, PM_HPAGE, UFFDIO_REGISTER_MODE_WP));
	ASSERT_EQ(512, pm_count_cat(self->proc, p, PM_HPAGE, PAGE_IS_WRITTEN, 0));
	/* Half of the THP: the PMD is split and the half protected as PTEs. */
	a = pm_scan_req((uintptr_t)p, (uintptr_t)p + PM_HPAGE / 2,
			PM_SCAN_WP_MATCHING | RPM_SCAN_PAGE_SIZES, 0, PAGE_IS_WRITTEN, 0,
			PAGE_IS_WRITTEN);
	pm_scan_run(self->dev, &a, 16, &r);
	ASSERT_EQ(1, r.ret);
	EXPECT_EQ((uintptr_t)p, r.r[0].start);
	EXPECT_EQ((uintptr_t)p + PM_HPAGE / 2, r.r[0].end);
	EXPECT_EQ(PAGE_IS_WRITTEN | (12ULL << 48) | (21ULL << 56), r.r[0].categories);
	EXPECT_EQ(256, pm_count_cat(self->proc, p, PM_HPAGE, PAGE_IS_WRITTEN, 0));
	EXPECT_KERNEL_AGREES(p, PM_HPAGE);
	close(uffd);
}

TEST_F(sizes, with_wp_matching_whole_thp_stays_pmd)
{
	int uffd = pm_uffd_async();
	char *p = thp(PM_HPAGE, -1, true);
	struct pm_scan_result r;
	struct pm_scan_arg a;

	ASSERT_GE(uffd, 0);
	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	/* Registered after the fault: every page is written (no uffd bit yet). */
	ASSERT_EQ(0, pm_uffd_register(uffd, p, PM_HPAGE, UFFDIO_REGISTER_MODE_WP));
	a = pm_scan_req((uintptr_t)p, (uintptr_t)p + PM_HPAGE,
			PM_SCAN_WP_MATCHING | RPM_SCAN_PAGE_SIZES, 0, PAGE_IS_WRITTEN, 0,
			PAGE_IS_WRITTEN | PAGE_IS_HUGE);
	pm_scan_run(self->dev, &a, 16, &r);
	ASSERT_EQ(1, r.ret);
	EXPECT_EQ(PAGE_IS_WRITTEN | PAGE_IS_HUGE | (21ULL << 48) | (21ULL << 56),
		  r.r[0].categories);
	EXPECT_EQ(0, pm_count_cat(self->proc, p, PM_HPAGE, PAGE_IS_WRITTEN, 0));
	PM_REQUIRE_HUGE(self->proc, p, PM_HPAGE);
	close(uffd);
}

TEST_F(sizes, with_get_and_clear_whole_thp)
{
	char *p = thp(PM_HPAGE, -1, true);
	struct pm_scan_result r;
	struct pm_scan_arg a;

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	a = pm_scan_req((uintptr_t)p, (uintptr_t)p + PM_HPAGE,
			RPM_SCAN_CLEAR_SOFT_DIRTY | RPM_SCAN_PAGE_SIZES, 0, PAGE_IS_SOFT_DIRTY, 0,
			PAGE_IS_SOFT_DIRTY);
	pm_scan_run(self->dev, &a, 16, &r);
	ASSERT_EQ(1, r.ret);
	EXPECT_EQ(PM_HPAGE, r.r[0].end - r.r[0].start);
	EXPECT_EQ(PAGE_IS_SOFT_DIRTY | (21ULL << 48) | (21ULL << 56), r.r[0].categories);
	/* Cleared: nothing dirty any more, and still one PMD. */
	pm_scan_run(self->dev, &a, 16, &r);
	EXPECT_EQ(0, r.ret);
	PM_REQUIRE_HUGE(self->proc, p, PM_HPAGE);
}

TEST_F(sizes, with_get_and_clear_part_of_thp_reports_ptes)
{
	char *p = thp(PM_HPAGE, -1, true);
	struct pm_scan_result r;
	struct pm_scan_arg a;

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	ASSERT_EQ(0, pm_clear_soft_dirty());
	pm_touch(p, PM_HPAGE, PM_PAGE, true);
	ASSERT_EQ(512, pm_count_cat(self->proc, p, PM_HPAGE, PAGE_IS_SOFT_DIRTY, 0));
	a = pm_scan_req((uintptr_t)p + 64 * PM_PAGE, (uintptr_t)p + 128 * PM_PAGE,
			RPM_SCAN_CLEAR_SOFT_DIRTY | RPM_SCAN_PAGE_SIZES, 0, PAGE_IS_SOFT_DIRTY, 0,
			PAGE_IS_SOFT_DIRTY | PAGE_IS_HUGE);
	pm_scan_run(self->dev, &a, 16, &r);
	ASSERT_EQ(1, r.ret);
	EXPECT_EQ((uintptr_t)p + 64 * PM_PAGE, r.r[0].start);
	EXPECT_EQ((uintptr_t)p + 128 * PM_PAGE, r.r[0].end);
	EXPECT_EQ(PAGE_IS_SOFT_DIRTY | (12ULL << 48) | (21ULL << 56), r.r[0].categories);
	EXPECT_EQ(512 - 64, pm_count_cat(self->proc, p, PM_HPAGE, PAGE_IS_SOFT_DIRTY, 0));
	EXPECT_KERNEL_AGREES(p, PM_HPAGE);
}

TEST_F(sizes, with_get_and_clear_max_pages_cuts_sized_regions)
{
	char *p;
	struct pm_scan_result r;
	struct pm_scan_arg a;
	size_t len = 4 * 65536;

	MTHP_ANON(p, len, len / 2);
	ASSERT_TRUE(pm_write_file(MTHP_64K, "never"));
	pm_touch(p + len / 2, len / 2, PM_PAGE, true);
	ASSERT_EQ(0, pm_clear_soft_dirty());
	pm_touch(p, len, PM_PAGE, true);
	a = pm_scan_req((uintptr_t)p, (uintptr_t)p + len,
			RPM_SCAN_CLEAR_SOFT_DIRTY | RPM_SCAN_PAGE_SIZES, 0, PAGE_IS_SOFT_DIRTY, 0,
			PAGE_IS_SOFT_DIRTY);
	a.max_pages = 40;
	pm_scan_run(self->dev, &a, 16, &r);
	ASSERT_EQ(2, r.ret);
	EXPECT_EQ((uintptr_t)p + 32 * PM_PAGE, r.r[0].end);
	EXPECT_EQ(PAGE_IS_SOFT_DIRTY | (12ULL << 48) | (16ULL << 56), r.r[0].categories);
	EXPECT_EQ((uintptr_t)p + 40 * PM_PAGE, r.r[1].end);
	EXPECT_EQ(PAGE_IS_SOFT_DIRTY | (12ULL << 48) | (12ULL << 56), r.r[1].categories);
	EXPECT_EQ((uintptr_t)p + 40 * PM_PAGE, r.walk_end);
	/* Exactly the reported pages were cleaned. */
	EXPECT_EQ(len / PM_PAGE - 40, pm_count_cat(self->proc, p, len, PAGE_IS_SOFT_DIRTY, 0));
}

TEST_HARNESS_MAIN
