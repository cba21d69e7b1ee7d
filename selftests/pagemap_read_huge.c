// SPDX-License-Identifier: GPL-2.0
/*
 * Huge pages read through the pagemap file where the other tests do not
 * look: the frames of THP and hugetlb entries hidden from a reader without
 * CAP_SYS_ADMIN (each entry of a huge page, not only the first, whose frame
 * offset is 0), a uffd-wp marker in a hugetlb entry, a poisoned hugetlb page,
 * and a hugetlb page mapped through a PMD table two processes share.
 * /proc/self/pagemap, opened with the same credentials, is the oracle.
 */
#include "pm_common.h"

#include <linux/capability.h>
#include <linux/memfd.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "pm_creds.h"
#include "pm_require.h"
#include "pm_uffd.h"

#define MARGIN 4
#define PM_PUD (1UL << 30)

/* How many of the `n` entries at `p`, read from `fd`, have frame bits set. */
static long with_frame(int fd, const void *p, size_t n)
{
	static uint64_t e[PM_HPAGE / PM_PAGE];
	long count = 0;

	if (n > PM_HPAGE / PM_PAGE || pm_read_entries(fd, (uintptr_t)p, n, e))
		return -1;
	for (size_t i = 0; i < n; i++)
		count += (e[i] & RPM_PFRAME_MASK) != 0;
	return count;
}

FIXTURE(huge)
{
	int proc, dev;
};

FIXTURE_SETUP(huge)
{
	self->proc = self->dev = -1;
}

FIXTURE_TEARDOWN(huge)
{
	if (self->proc >= 0)
		close(self->proc);
	if (self->dev >= 0)
		close(self->dev);
}

/* Both files opened without CAP_SYS_ADMIN: no frame in any entry of a THP. */
TEST_F(huge, unprivileged_reader_sees_no_frame_in_thp)
{
	char *p = pm_thp_map(PM_HPAGE, -1);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, PM_HPAGE, PM_PAGE, true);
	ASSERT_EQ(0, pm_drop_cap(CAP_SYS_ADMIN));
	PM_OPEN_BOTH(self);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	EXPECT_EQ(0, with_frame(self->dev, p, PM_HPAGE / PM_PAGE));
	EXPECT_EQ(0, pm_compare_around(self->proc, self->dev, p, PM_HPAGE, MARGIN));
	munmap(p, PM_HPAGE);
}

/* The same for a 2 MiB hugetlb page. */
TEST_F(huge, unprivileged_reader_sees_no_frame_in_hugetlb)
{
	char *p = pm_hugetlb_map(PM_HPAGE, PM_HPAGE, MAP_PRIVATE);

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_HPAGE);
	p[0] = 1;
	ASSERT_EQ(0, pm_drop_cap(CAP_SYS_ADMIN));
	PM_OPEN_BOTH(self);
	PM_REQUIRE_ENTRIES(self->proc, p, PM_HPAGE, RPM_PRESENT, PM_HPAGE / PM_PAGE);
	EXPECT_EQ(0, with_frame(self->dev, p, PM_HPAGE / PM_PAGE));
	EXPECT_EQ(0, pm_compare_around(self->proc, self->dev, p, PM_HPAGE, MARGIN));
	munmap(p, PM_HPAGE);
}

/*
 * Two hugetlb pages under uffd-wp, the second never faulted in: write-protecting
 * both leaves a marker in the second one's entry, which reads PM_UFFD_WP.
 */
TEST_F(huge, hugetlb_uffd_wp_marker_reads_like_proc)
{
	char *p = pm_hugetlb_map(2 * PM_HPAGE, PM_HPAGE, MAP_PRIVATE);
	int uffd = pm_uffd_open(0);

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_HPAGE);
	ASSERT_GE(uffd, 0);
	PM_OPEN_BOTH(self);
	p[0] = 1;
	ASSERT_EQ(0, pm_uffd_register(uffd, p, 2 * PM_HPAGE, UFFDIO_REGISTER_MODE_WP));
	ASSERT_EQ(0, pm_uffd_wp(uffd, p, 2 * PM_HPAGE, true));
	/* The first page present and protected, the second a marker only. */
	PM_REQUIRE_ENTRIES(self->proc, p, PM_HPAGE, RPM_PRESENT | RPM_UFFD_WP, PM_HPAGE / PM_PAGE);
	PM_REQUIRE_ENTRIES(self->proc, p + PM_HPAGE, PM_HPAGE, RPM_UFFD_WP, PM_HPAGE / PM_PAGE);
	PM_REQUIRE_ENTRIES(self->proc, p + PM_HPAGE, PM_HPAGE, RPM_PRESENT, 0);
	EXPECT_EQ(0, pm_compare_around(self->proc, self->dev, p, 2 * PM_HPAGE, MARGIN));
	close(uffd);
	munmap(p, 2 * PM_HPAGE);
}

/*
 * A poisoned hugetlb page (MADV_HWPOISON from a child that shares it): its
 * entry becomes a hwpoison entry, which pagemap reads as no page, only the
 * VMA's soft-dirty flag.
 */
TEST_F(huge, hugetlb_hwpoison_entry_reads_like_proc)
{
	char *p = pm_hugetlb_map(PM_HPAGE, PM_HPAGE, MAP_PRIVATE);
	int r;

	PM_REQUIRE_HUGETLB_MAPPED(p, PM_HPAGE);
	PM_OPEN_BOTH(self);
	p[0] = 1;
	PM_REQUIRE_ENTRIES(self->proc, p, PM_HPAGE, RPM_PRESENT, PM_HPAGE / PM_PAGE);
	r = pm_poison_from_child(p, 0);
	if (r == 2)
		SKIP(return, "MADV_HWPOISON unsupported (CONFIG_MEMORY_FAILURE)");
	ASSERT_EQ(0, r) TH_LOG("MADV_HWPOISON failed");
	PM_REQUIRE_ENTRIES(self->proc, p, PM_HPAGE, RPM_PRESENT, 0);
	EXPECT_EQ(0, pm_compare_around(self->proc, self->dev, p, PM_HPAGE, MARGIN));
}

/*
 * A shared hugetlb mapping that covers a whole 1 GiB-aligned range shares its
 * PMD table with another process mapping the same file range
 * (huge_pmd_share). A page faulted in after the table is shared is mapped
 * once, through the shared table: pagemap reads it not exclusive
 * (hugetlb_pmd_shared), though the folio is mapped only once.
 */
TEST_F(huge, hugetlb_page_in_a_shared_pmd_table_reads_like_proc)
{
	int fd = memfd_create("rpm-pmd-share", MFD_HUGETLB | MFD_HUGE_2MB);
	char *area, *p, c = 0;
	int ready[2];
	uint64_t e = 0;
	pid_t child;

	if (fd < 0 && pm_hugetlb_reserved(PM_HPAGE >> 10) <= 0)
		SKIP(return, "no 2048 KiB hugetlb pages reserved (hugepagesz=, hugepages=)");
	ASSERT_LE(0, fd);
	/* No reservation: only the pages faulted in are allocated. */
	ASSERT_EQ(0, ftruncate(fd, PM_PUD));
	area = mmap(NULL, 2 * PM_PUD, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1,
		    0);
	ASSERT_NE(MAP_FAILED, area);
	p = (char *)(((uintptr_t)area + PM_PUD - 1) & ~(PM_PUD - 1));
	ASSERT_EQ(p, mmap(p, PM_PUD, PROT_READ | PROT_WRITE,
			  MAP_SHARED | MAP_FIXED | MAP_NORESERVE, fd, 0));
	p[0] = 1;
	ASSERT_EQ(0, pipe(ready));
	child = fork();
	ASSERT_LE(0, child);
	if (!child) {
		/* Its fault of the same page finds the parent's table and shares it. */
		c = *(volatile char *)p;
		if (write(ready[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	ASSERT_EQ(1, read(ready[0], &c, 1));
	p[PM_HPAGE] = 1;
	PM_OPEN_BOTH(self);
	ASSERT_EQ(0, pm_read_entries(self->proc, (uintptr_t)p + PM_HPAGE, 1, &e));
	ASSERT_TRUE(e & RPM_PRESENT);
	ASSERT_FALSE(e & RPM_MMAP_EXCLUSIVE)
	TH_LOG("a page mapped once reads exclusive: the PMD table is not shared, the case would test nothing");
	EXPECT_EQ(0, pm_compare_around(self->proc, self->dev, p, 2 * PM_HPAGE, MARGIN));
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	munmap(area, 2 * PM_PUD);
	close(fd);
}

TEST_HARNESS_MAIN
