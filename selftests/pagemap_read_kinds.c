// SPDX-License-Identifier: GPL-2.0
/*
 * Differential tests of the entry kinds beyond plain PTEs and THPs: hugetlb
 * (2 MiB and 1 GiB, private and shared), swap entries, uffd-wp state and
 * markers, guard and poison markers. Each test first proves, through
 * /proc/self/pagemap, that the memory really is in the state it names, then
 * compares the device with /proc. A missing kernel feature is an honest
 * SKIP that names it, never a pass.
 */
#include "pm_common.h"
#include "pm_uffd.h"

#include <signal.h>
#include <sys/wait.h>

#include "kselftest_harness.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#define MAP_HUGE_1GB (30 << MAP_HUGE_SHIFT)
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define NPAGES 64
#define LEN (NPAGES * PM_PAGE)
#define MARGIN 16

FIXTURE(kinds)
{
	int proc, dev;
};

FIXTURE_SETUP(kinds)
{
	self->proc = pm_open_proc();
	self->dev = pm_open_dev();
	ASSERT_GE(self->proc, 0);
	ASSERT_GE(self->dev, 0);
}

FIXTURE_TEARDOWN(kinds)
{
	close(self->proc);
	close(self->dev);
}

#define EXPECT_SAME(p, len) \
	EXPECT_EQ(0, pm_compare_around(self->proc, self->dev, (p), (len), MARGIN))

/* How many entries of [p, p+len) have all of `bits` set, per /proc. */
static long count_with(int fd_proc, void *p, size_t len, uint64_t bits)
{
	static uint64_t e[8192];
	size_t n = len / PM_PAGE;
	long c = 0;

	if (n > 8192 || pm_read_entries(fd_proc, (uintptr_t)p, n, e))
		return -1;
	for (size_t i = 0; i < n; i++)
		c += (e[i] & bits) == bits;
	return c;
}

static void *map_hugetlb(size_t len, int flags)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
}

TEST_F(kinds, hugetlb_2m_private)
{
	char *p = map_hugetlb(2 * PM_HPAGE, MAP_PRIVATE | MAP_HUGE_2MB);

	if (p == MAP_FAILED)
		SKIP(return, "no 2 MiB hugetlb pages reserved (hugepages=)");
	pm_touch(p, PM_HPAGE, PM_PAGE, true);
	EXPECT_EQ(512, count_with(self->proc, p, 2 * PM_HPAGE, RPM_PRESENT));
	EXPECT_SAME(p, 2 * PM_HPAGE);
	munmap(p, 2 * PM_HPAGE);
}

TEST_F(kinds, hugetlb_2m_shared)
{
	char *p = map_hugetlb(PM_HPAGE, MAP_SHARED | MAP_HUGE_2MB);

	if (p == MAP_FAILED)
		SKIP(return, "no 2 MiB hugetlb pages reserved (hugepages=)");
	pm_touch(p, PM_HPAGE, 64 * PM_PAGE, true);
	EXPECT_EQ(512, count_with(self->proc, p, PM_HPAGE, RPM_PRESENT | RPM_FILE));
	EXPECT_SAME(p, PM_HPAGE);
	munmap(p, PM_HPAGE);
}

TEST_F(kinds, hugetlb_2m_mapped_by_two_not_exclusive)
{
	char *p = map_hugetlb(PM_HPAGE, MAP_SHARED | MAP_HUGE_2MB);
	int ready[2];
	pid_t pid;
	char c;

	if (p == MAP_FAILED)
		SKIP(return, "no 2 MiB hugetlb pages reserved (hugepages=)");
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
	EXPECT_EQ(0, count_with(self->proc, p, PM_HPAGE, RPM_MMAP_EXCLUSIVE));
	EXPECT_SAME(p, PM_HPAGE);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	munmap(p, PM_HPAGE);
}

TEST_F(kinds, hugetlb_1g_private)
{
	size_t g = 1UL << 30;
	char *p = map_hugetlb(g, MAP_PRIVATE | MAP_HUGE_1GB);

	if (p == MAP_FAILED)
		SKIP(return, "no 1 GiB hugetlb page reserved (hugepagesz=1G hugepages=1, pdpe1gb)");
	p[0] = 1;
	p[g - 1] = 2;
	EXPECT_EQ(4096, count_with(self->proc, p + g - 4096 * PM_PAGE, 4096 * PM_PAGE, RPM_PRESENT));
	/* The first and last 16 MiB and the holes around: a whole 1 GiB is 262144 entries. */
	EXPECT_EQ(0, pm_compare_range(self->proc, self->dev, (uintptr_t)p - MARGIN * PM_PAGE,
				      (uintptr_t)p + (16 << 20)));
	EXPECT_EQ(0, pm_compare_range(self->proc, self->dev, (uintptr_t)p + g - (16 << 20),
				      (uintptr_t)p + g + MARGIN * PM_PAGE));
	munmap(p, g);
}

TEST_F(kinds, hugetlb_unpopulated)
{
	char *p = map_hugetlb(2 * PM_HPAGE, MAP_PRIVATE | MAP_HUGE_2MB);

	if (p == MAP_FAILED)
		SKIP(return, "no 2 MiB hugetlb pages reserved (hugepages=)");
	EXPECT_EQ(0, count_with(self->proc, p, 2 * PM_HPAGE, RPM_PRESENT));
	EXPECT_SAME(p, 2 * PM_HPAGE);
	munmap(p, 2 * PM_HPAGE);
}

/* Push written anonymous pages out to swap; returns how many /proc reports swapped. */
static long page_out(int fd_proc, char *p, size_t len)
{
	for (int attempt = 0; attempt < 5; attempt++) {
		long n;

		madvise(p, len, MADV_PAGEOUT);
		n = count_with(fd_proc, p, len, RPM_SWAP);
		if (n > 0)
			return n;
	}
	return 0;
}


TEST_F(kinds, swap_anon_private)
{
	char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (!pm_have_swap())
		SKIP(return, "no swap device (zram) active");
	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_GT(page_out(self->proc, p, LEN), 0) TH_LOG("MADV_PAGEOUT swapped nothing");
	EXPECT_SAME(p, LEN);
}

TEST_F(kinds, swap_partially_swapped_in)
{
	char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (!pm_have_swap())
		SKIP(return, "no swap device (zram) active");
	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_GT(page_out(self->proc, p, LEN), 0);
	pm_touch(p, LEN / 2, 2 * PM_PAGE, false);
	EXPECT_SAME(p, LEN);
}

TEST_F(kinds, swap_shmem_reads_as_none)
{
	char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (!pm_have_swap())
		SKIP(return, "no swap device (zram) active");
	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	madvise(p, LEN, MADV_PAGEOUT);
	EXPECT_SAME(p, LEN);
}

TEST_F(kinds, swap_thp)
{
	char *p = pm_map_aligned(PM_HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);

	if (!pm_have_swap())
		SKIP(return, "no swap device (zram) active");
	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p, PM_HPAGE, MADV_HUGEPAGE));
	pm_touch(p, PM_HPAGE, PM_PAGE, true);
	ASSERT_GE(pm_smaps_kb(p, "AnonHugePages"), 2048);
	ASSERT_GT(page_out(self->proc, p, PM_HPAGE), 0);
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
	EXPECT_EQ(NPAGES / 2, count_with(self->proc, p, LEN, RPM_PRESENT | RPM_UFFD_WP));
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
	EXPECT_GT(count_with(self->proc, p, LEN, RPM_SWAP | RPM_UFFD_WP), 0);
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
	EXPECT_GT(count_with(self->proc, p, LEN, RPM_PRESENT | RPM_UFFD_WP | RPM_FILE), 0);
	EXPECT_SAME(p, LEN);
	close(uffd);
}

TEST_F(kinds, uffd_wp_swapped_page_keeps_bit)
{
	char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int uffd = pm_uffd_open(0);

	if (uffd < 0)
		SKIP(return, "userfaultfd unavailable");
	if (!pm_have_swap())
		SKIP(return, "no swap device (zram) active");
	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, pm_uffd_register(uffd, p, LEN, UFFDIO_REGISTER_MODE_WP));
	ASSERT_EQ(0, pm_uffd_wp(uffd, p, LEN, true));
	ASSERT_GT(page_out(self->proc, p, LEN), 0);
	EXPECT_GT(count_with(self->proc, p, LEN, RPM_SWAP | RPM_UFFD_WP), 0);
	EXPECT_SAME(p, LEN);
	close(uffd);
}

TEST_F(kinds, uffd_wp_hugetlb)
{
	char *p = map_hugetlb(PM_HPAGE, MAP_PRIVATE | MAP_HUGE_2MB);
	int uffd = pm_uffd_open(0);

	if (p == MAP_FAILED)
		SKIP(return, "no 2 MiB hugetlb pages reserved (hugepages=)");
	if (uffd < 0)
		SKIP(return, "userfaultfd unavailable");
	p[0] = 1;
	ASSERT_EQ(0, pm_uffd_register(uffd, p, PM_HPAGE, UFFDIO_REGISTER_MODE_WP));
	ASSERT_EQ(0, pm_uffd_wp(uffd, p, PM_HPAGE, true));
	EXPECT_EQ(512, count_with(self->proc, p, PM_HPAGE, RPM_PRESENT | RPM_UFFD_WP));
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
	EXPECT_EQ(8, count_with(self->proc, p, LEN, RPM_SWAP | RPM_GUARD_REGION));
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
	EXPECT_EQ(4, count_with(self->proc, p, LEN, RPM_SWAP | RPM_GUARD_REGION));
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
	EXPECT_EQ(2, count_with(self->proc, p, LEN, RPM_SWAP));
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
	EXPECT_EQ(NPAGES, count_with(self->proc, p, LEN, RPM_FILE | RPM_MMAP_EXCLUSIVE));
	EXPECT_SAME(p, LEN);
	close(fd);
}

TEST_F(kinds, exclusive_thp_after_cow_break)
{
	char *p = pm_map_aligned(PM_HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	pid_t pid;

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, madvise(p, PM_HPAGE, MADV_HUGEPAGE));
	pm_touch(p, PM_HPAGE, PM_PAGE, true);
	ASSERT_GE(pm_smaps_kb(p, "AnonHugePages"), 2048);
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
