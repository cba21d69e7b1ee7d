// SPDX-License-Identifier: GPL-2.0
/*
 * Huge pages read through the pagemap file where the other tests do not
 * look: the frames of THP and hugetlb entries hidden from a reader without
 * CAP_SYS_ADMIN (each entry of a huge page, not only the first, whose frame
 * offset is 0), and a uffd-wp marker in a hugetlb entry. /proc/self/pagemap,
 * opened with the same credentials, is the oracle.
 */
#include "pm_common.h"

#include <linux/capability.h>
#include <sys/syscall.h>

#include "kselftest_harness.h"
#include "pm_require.h"
#include "pm_uffd.h"

#define MARGIN 4

/*
 * Drop CAP_SYS_ADMIN (and keep every other capability and uid 0, so that the
 * process still owns its /proc files): frames are hidden from what it opens
 * from now on. Each test runs in a process of its own.
 */
static int drop_sys_admin(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = {};

	if (syscall(SYS_capget, &h, d))
		return -1;
	d[CAP_TO_INDEX(CAP_SYS_ADMIN)].effective &= ~CAP_TO_MASK(CAP_SYS_ADMIN);
	d[CAP_TO_INDEX(CAP_SYS_ADMIN)].permitted &= ~CAP_TO_MASK(CAP_SYS_ADMIN);
	return syscall(SYS_capset, &h, d);
}

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
	ASSERT_EQ(0, drop_sys_admin());
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
	ASSERT_EQ(0, drop_sys_admin());
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

TEST_HARNESS_MAIN
