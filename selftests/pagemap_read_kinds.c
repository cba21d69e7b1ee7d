// SPDX-License-Identifier: GPL-2.0
/*
 * Differential tests of the entry kinds beyond plain PTEs and THPs: hugetlb
 * (2 MiB and 1 GiB, private and shared), swap entries, uffd-wp state and
 * markers, guard and poison markers. Each test first proves, through
 * /proc/self/pagemap, that the memory really is in the state it names, then
 * compares the device with /proc (pm_require.h: a set-up that did not take
 * fails). A kernel that lacks a feature altogether gets a SKIP that names it,
 * never a pass; the project's guest has every feature.
 */
#include "pm_common.h"
#include "pm_uffd.h"

#include <signal.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "pm_require.h"
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define NPAGES 64
#define LEN (NPAGES * PM_PAGE)
#define MARGIN 16

PM_BOTH_FIXTURE(kinds)

#define EXPECT_SAME(p, len) \
	EXPECT_EQ(0, pm_compare_around(self->proc, self->dev, (p), (len), MARGIN))

TEST_F(kinds, hugetlb_2m_private)
{
	char *p = pm_hugetlb_map(2 * PM_HPAGE, PM_HPAGE, MAP_PRIVATE);

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_HPAGE);
	pm_touch(p, PM_HPAGE, PM_PAGE, true);
	EXPECT_EQ(512, pm_count_with(self->proc, p, 2 * PM_HPAGE, RPM_PRESENT));
	EXPECT_SAME(p, 2 * PM_HPAGE);
	munmap(p, 2 * PM_HPAGE);
}

TEST_F(kinds, hugetlb_2m_shared)
{
	char *p = pm_hugetlb_map(PM_HPAGE, PM_HPAGE, MAP_SHARED);

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_HPAGE);
	pm_touch(p, PM_HPAGE, 64 * PM_PAGE, true);
	EXPECT_EQ(512, pm_count_with(self->proc, p, PM_HPAGE, RPM_PRESENT | RPM_FILE));
	EXPECT_SAME(p, PM_HPAGE);
	munmap(p, PM_HPAGE);
}

TEST_F(kinds, hugetlb_2m_mapped_by_two_not_exclusive)
{
	char *p = pm_hugetlb_map(PM_HPAGE, PM_HPAGE, MAP_SHARED);
	int ready[2];
	pid_t pid;
	char c;

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_HPAGE);
	pm_touch(p, PM_HPAGE, PM_PAGE, true);
	ASSERT_EQ(0, pipe(ready));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		/* fork() does not copy shared hugetlb page tables: fault the page in here. */
		(void)*(volatile char *)p;
		if (write(ready[1], "r", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	ASSERT_EQ(1, read(ready[0], &c, 1));
	EXPECT_EQ(0, pm_count_with(self->proc, p, PM_HPAGE, RPM_MMAP_EXCLUSIVE));
	EXPECT_SAME(p, PM_HPAGE);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	munmap(p, PM_HPAGE);
}

/* Faulting in a 1 GiB page zeroes it: seconds under TCG with KASAN, more when the host is busy. */
TEST_F_TIMEOUT(kinds, hugetlb_1g_private, 120)
{
	size_t g = 1UL << 30;
	char *p = pm_hugetlb_map(g, PM_GPAGE, MAP_PRIVATE);

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_GPAGE);
	p[0] = 1;
	p[g - 1] = 2;
	PM_REQUIRE_HUGE(self->proc, p, 4096 * PM_PAGE);
	PM_REQUIRE_HUGE(self->proc, p + g - 4096 * PM_PAGE, 4096 * PM_PAGE);
	/* The first and last 16 MiB and the holes around: a whole 1 GiB is 262144 entries. */
	EXPECT_EQ(0, pm_compare_range(self->proc, self->dev, (uintptr_t)p - MARGIN * PM_PAGE,
				      (uintptr_t)p + (16 << 20)));
	EXPECT_EQ(0, pm_compare_range(self->proc, self->dev, (uintptr_t)p + g - (16 << 20),
				      (uintptr_t)p + g + MARGIN * PM_PAGE));
	munmap(p, g);
}

TEST_F(kinds, hugetlb_unpopulated)
{
	char *p = pm_hugetlb_map(2 * PM_HPAGE, PM_HPAGE, MAP_PRIVATE);

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_HPAGE);
	EXPECT_EQ(0, pm_count_with(self->proc, p, 2 * PM_HPAGE, RPM_PRESENT));
	EXPECT_SAME(p, 2 * PM_HPAGE);
	munmap(p, 2 * PM_HPAGE);
}

TEST_F(kinds, swap_anon_private)
{
	char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	PM_REQUIRE_SWAPPED(self->proc, p, LEN, NPAGES);
	EXPECT_SAME(p, LEN);
}

TEST_F(kinds, swap_partially_swapped_in)
{
	char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	PM_REQUIRE_SWAPPED(self->proc, p, LEN, NPAGES);
	pm_touch(p, LEN / 2, 2 * PM_PAGE, false);
	PM_REQUIRE_ENTRIES(self->proc, p, LEN, RPM_SWAP, NPAGES - NPAGES / 4);
	EXPECT_SAME(p, LEN);
}

TEST_F(kinds, swap_shmem_reads_as_none)
{
	char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	PM_REQUIRE_PAGED_OUT(self->proc, p, LEN);
	EXPECT_SAME(p, LEN);
}

TEST_F(kinds, swap_thp)
{
	char *p = pm_thp_map(PM_HPAGE, -1);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, PM_HPAGE, PM_PAGE, true);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	PM_REQUIRE_SWAPPED(self->proc, p, PM_HPAGE, 512);
	EXPECT_SAME(p, PM_HPAGE);
}

TEST_F(kinds, uffd_wp_present_pages)
{
	char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int uffd = pm_uffd_open(0);

	if (uffd < 0)
		SKIP(return, "userfaultfd unavailable");
	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_WP));
	ASSERT_EQ(0, pm_uffd_wp(uffd, p, LEN / 2, true));
	PM_REQUIRE_ENTRIES(self->proc, p, LEN, RPM_PRESENT | RPM_UFFD_WP, NPAGES / 2);
	EXPECT_SAME(p, LEN);
	close(uffd);
}

TEST_F(kinds, uffd_wp_marker_on_unpopulated_anon)
{
	char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int uffd = pm_uffd_open(UFFD_FEATURE_WP_UNPOPULATED);

	if (uffd < 0)
		SKIP(return, "userfaultfd WP_UNPOPULATED unavailable");
	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, 4 * PM_PAGE, true);
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_WP));
	ASSERT_EQ(0, pm_uffd_wp(uffd, p, LEN, true));
	/* Untouched pages now hold uffd-wp markers: swap-format, uffd bit. */
	PM_REQUIRE_ENTRIES(self->proc, p, LEN, RPM_SWAP | RPM_UFFD_WP, NPAGES - NPAGES / 4);
	EXPECT_SAME(p, LEN);
	close(uffd);
}

TEST_F(kinds, uffd_wp_marker_on_shmem)
{
	char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	int uffd = pm_uffd_open(0);

	if (uffd < 0)
		SKIP(return, "userfaultfd unavailable");
	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, 2 * PM_PAGE, true);
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_WP));
	ASSERT_EQ(0, pm_uffd_wp(uffd, p, LEN, true));
	PM_REQUIRE_ENTRIES(self->proc, p, LEN, RPM_PRESENT | RPM_UFFD_WP | RPM_FILE, NPAGES / 2);
	EXPECT_SAME(p, LEN);
	close(uffd);
}

TEST_F(kinds, uffd_wp_swapped_page_keeps_bit)
{
	char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int uffd = pm_uffd_open(0);

	if (uffd < 0)
		SKIP(return, "userfaultfd unavailable");
	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_WP));
	ASSERT_EQ(0, pm_uffd_wp(uffd, p, LEN, true));
	PM_REQUIRE_SWAPPED(self->proc, p, LEN, NPAGES);
	PM_REQUIRE_ENTRIES(self->proc, p, LEN, RPM_SWAP | RPM_UFFD_WP, NPAGES);
	EXPECT_SAME(p, LEN);
	close(uffd);
}

TEST_F(kinds, uffd_wp_hugetlb)
{
	char *p = pm_hugetlb_map(PM_HPAGE, PM_HPAGE, MAP_PRIVATE);
	int uffd = pm_uffd_open(0);

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_HPAGE);
	if (uffd < 0)
		SKIP(return, "userfaultfd unavailable");
	p[0] = 1;
	ASSERT_EQ(0, pm_uffd_register(uffd, p, PM_HPAGE, UFFDIO_REGISTER_MODE_WP));
	ASSERT_EQ(0, pm_uffd_wp(uffd, p, PM_HPAGE, true));
	PM_REQUIRE_ENTRIES(self->proc, p, PM_HPAGE, RPM_PRESENT | RPM_UFFD_WP, 512);
	EXPECT_SAME(p, PM_HPAGE);
	close(uffd);
	munmap(p, PM_HPAGE);
}

TEST_F(kinds, guard_region_markers)
{
	char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	if (madvise(p + 8 * PM_PAGE, 8 * PM_PAGE, MADV_GUARD_INSTALL))
		SKIP(return, "MADV_GUARD_INSTALL unavailable");
	EXPECT_EQ(8, pm_count_with(self->proc, p, LEN, RPM_SWAP | RPM_GUARD_REGION));
	EXPECT_SAME(p, LEN);
}

TEST_F(kinds, guard_region_on_file_mapping)
{
	int fd = memfd_create("rpm-guard", 0);
	char *p;

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ftruncate(fd, LEN));
	p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	if (madvise(p, 4 * PM_PAGE, MADV_GUARD_INSTALL))
		SKIP(return, "MADV_GUARD_INSTALL on shmem unavailable");
	EXPECT_EQ(4, pm_count_with(self->proc, p, LEN, RPM_SWAP | RPM_GUARD_REGION));
	EXPECT_SAME(p, LEN);
	close(fd);
}

TEST_F(kinds, poison_marker)
{
	char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int uffd = pm_uffd_open(UFFD_FEATURE_POISON);
	struct uffdio_poison poison;

	if (uffd < 0)
		SKIP(return, "userfaultfd POISON unavailable");
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_MISSING));
	poison.range.start = (uintptr_t)p + 4 * PM_PAGE;
	poison.range.len = 2 * PM_PAGE;
	poison.mode = 0;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_POISON, &poison));
	PM_REQUIRE_ENTRIES(self->proc, p, LEN, RPM_SWAP, 2);
	EXPECT_SAME(p, LEN);
	close(uffd);
}

TEST_F(kinds, exclusive_shared_file_page_mapped_once)
{
	int fd = memfd_create("rpm-excl", 0);
	char *p;

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ftruncate(fd, LEN));
	p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	EXPECT_EQ(NPAGES, pm_count_with(self->proc, p, LEN, RPM_FILE | RPM_MMAP_EXCLUSIVE));
	EXPECT_SAME(p, LEN);
	close(fd);
}

TEST_F(kinds, exclusive_thp_after_cow_break)
{
	char *p = pm_thp_map(PM_HPAGE, -1);
	pid_t pid;

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, PM_HPAGE, PM_PAGE, true);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		pause();
		_exit(0);
	}
	p[PM_PAGE * 3] = 7; /* CoW break of one subpage of the shared THP */
	EXPECT_SAME(p, PM_HPAGE);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

TEST_HARNESS_MAIN
