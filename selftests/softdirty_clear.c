// SPDX-License-Identifier: GPL-2.0
/*
 * Soft-dirty clearing through the device: ranged clears touch exactly their
 * range, writes after a clear read dirty again, huge pages are handled whole
 * or split exactly at the range, and the whole-process clear leaves the same
 * state as writing 4 to /proc/self/clear_refs in an identical twin process.
 * Every state is read through /proc/self/pagemap, the oracle, and the device
 * must agree with it.
 */
#include "pm_common.h"

#include <sys/ioctl.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "pm_require.h"

#define NPAGES 64
#define LEN (NPAGES * PM_PAGE)

PM_BOTH_FIXTURE(sd)

static int clear_range(int dev, void *start, size_t len)
{
	struct rpm_range r = { (uintptr_t)start, (uintptr_t)start + len };

	return ioctl(dev, RPM_IOC_CLEAR_SOFT_DIRTY, &r);
}

/* Soft-dirty bit of each page of [p, p+n pages) per /proc, into `sd`. */
static int soft_dirty_map(int proc, void *p, size_t n, bool *sd)
{
	static uint64_t e[8192];

	if (n > 8192 || pm_read_entries(proc, (uintptr_t)p, n, e))
		return -1;
	for (size_t i = 0; i < n; i++)
		sd[i] = !!(e[i] & RPM_SOFT_DIRTY);
	return 0;
}

static char *map_written(size_t len, int flags)
{
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);

	if (p != MAP_FAILED)
		pm_touch(p, len, PM_PAGE, true);
	return p;
}

TEST_F(sd, range_clear_touches_only_the_range)
{
	char *p = map_written(LEN, MAP_PRIVATE);
	bool s[NPAGES];

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, clear_range(self->dev, p + 16 * PM_PAGE, 32 * PM_PAGE));
	ASSERT_EQ(0, soft_dirty_map(self->proc, p, NPAGES, s));
	for (int i = 0; i < NPAGES; i++) {
		EXPECT_EQ(i < 16 || i >= 48, s[i]) TH_LOG("page %d", i);
	}
	EXPECT_EQ(0, pm_compare_around(self->proc, self->dev, p, LEN, 16));
}

/*
 * At the top of the address space: above 2^47 under 5-level paging (where no
 * other test maps), just under it with 4-level. A ranged clear touches
 * exactly its range there, a write after it reads dirty, and the
 * whole-process clear reaches that far.
 */
TEST_F(sd, clears_at_the_top_of_the_address_space)
{
	char *p = pm_map_high(PM_HPAGE, 64 * PM_HPAGE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	bool s[NPAGES];

	ASSERT_NE(MAP_FAILED, p);
	if (pm_paging_levels() == 5)
		ASSERT_GT((uintptr_t)p, 1UL << 47) TH_LOG("5-level paging, mapped below 2^47");
	ASSERT_EQ(0, madvise(p, PM_HPAGE, MADV_NOHUGEPAGE));
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, clear_range(self->dev, p, LEN / 2));
	ASSERT_EQ(0, soft_dirty_map(self->proc, p, NPAGES, s));
	for (int i = 0; i < NPAGES; i++) {
		EXPECT_EQ(i >= NPAGES / 2, s[i]) TH_LOG("page %d", i);
	}
	p[3 * PM_PAGE] = 1;
	ASSERT_EQ(0, soft_dirty_map(self->proc, p, NPAGES, s));
	EXPECT_TRUE(s[3]);
	EXPECT_EQ(0, pm_compare_around(self->proc, self->dev, p, LEN, 16));
	ASSERT_EQ(0, ioctl(self->dev, RPM_IOC_CLEAR_SOFT_DIRTY_ALL));
	ASSERT_EQ(0, soft_dirty_map(self->proc, p, NPAGES, s));
	for (int i = 0; i < NPAGES; i++) {
		EXPECT_FALSE(s[i]) TH_LOG("page %d after the whole-process clear", i);
	}
	munmap(p, PM_HPAGE);
}

TEST_F(sd, range_clear_leaves_neighbouring_vmas_dirty)
{
	char *p = map_written(3 * LEN, MAP_PRIVATE);
	bool s[3 * NPAGES];

	ASSERT_NE(MAP_FAILED, p);
	/* Three VMAs; the range ends exactly at the middle one's edges. */
	ASSERT_EQ(0, mprotect(p + LEN, LEN, PROT_READ));
	ASSERT_EQ(0, clear_range(self->dev, p + LEN, LEN));
	ASSERT_EQ(0, soft_dirty_map(self->proc, p, 3 * NPAGES, s));
	for (int i = 0; i < 3 * NPAGES; i++) {
		EXPECT_EQ(i < NPAGES || i >= 2 * NPAGES, s[i]) TH_LOG("page %d", i);
	}
}

TEST_F(sd, untouched_pages_in_range_read_clean)
{
	char *p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bool s[NPAGES];

	ASSERT_NE(MAP_FAILED, p);
	/* A fresh VMA reads dirty everywhere (VM_SOFTDIRTY); the clear must undo that in range only. */
	ASSERT_EQ(0, soft_dirty_map(self->proc, p, NPAGES, s));
	EXPECT_TRUE(s[0] && s[NPAGES - 1]);
	ASSERT_EQ(0, clear_range(self->dev, p, LEN / 2));
	ASSERT_EQ(0, soft_dirty_map(self->proc, p, NPAGES, s));
	for (int i = 0; i < NPAGES; i++) {
		EXPECT_EQ(i >= NPAGES / 2, s[i]) TH_LOG("page %d", i);
	}
}

TEST_F(sd, write_after_clear_reads_dirty)
{
	char *p = map_written(LEN, MAP_PRIVATE);
	bool s[NPAGES];

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, clear_range(self->dev, p, LEN));
	for (int i = 0; i < NPAGES; i += 5)
		p[i * PM_PAGE] = 42;
	ASSERT_EQ(0, soft_dirty_map(self->proc, p, NPAGES, s));
	for (int i = 0; i < NPAGES; i++) {
		EXPECT_EQ(i % 5 == 0, s[i]) TH_LOG("page %d", i);
	}
	EXPECT_EQ(0, pm_compare_around(self->proc, self->dev, p, LEN, 16));
}

TEST_F(sd, write_after_clear_on_shared_mapping_reads_dirty)
{
	char *p = map_written(LEN, MAP_SHARED);
	bool s[NPAGES];

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, clear_range(self->dev, p, LEN));
	ASSERT_EQ(0, soft_dirty_map(self->proc, p, NPAGES, s));
	EXPECT_FALSE(s[3]);
	p[3 * PM_PAGE] = 1;
	ASSERT_EQ(0, soft_dirty_map(self->proc, p, NPAGES, s));
	EXPECT_TRUE(s[3]);
	EXPECT_FALSE(s[4]);
}

TEST_F(sd, swapped_page_clear)
{
	char *p = map_written(LEN, MAP_PRIVATE);
	bool s[NPAGES];

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_SWAPPED(self->proc, p, LEN, NPAGES);
	ASSERT_EQ(0, clear_range(self->dev, p, LEN));
	ASSERT_EQ(0, soft_dirty_map(self->proc, p, NPAGES, s));
	for (int i = 0; i < NPAGES; i++) {
		EXPECT_FALSE(s[i]) TH_LOG("page %d", i);
	}
	EXPECT_EQ(0, pm_compare_around(self->proc, self->dev, p, LEN, 16));
}

static char *thp_written(void)
{
	char *p = pm_thp_map(PM_HPAGE, -1);

	if (p != MAP_FAILED)
		pm_touch(p, PM_HPAGE, PM_PAGE, true);
	return p;
}

TEST_F(sd, thp_whole_clear_keeps_the_huge_page)
{
	static bool s[512];
	char *p = thp_written();

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	ASSERT_EQ(0, clear_range(self->dev, p, PM_HPAGE));
	PM_REQUIRE_HUGE(self->proc, p, PM_HPAGE); /* the clear must not split it */
	ASSERT_EQ(0, soft_dirty_map(self->proc, p, 512, s));
	for (int i = 0; i < 512; i++) {
		EXPECT_FALSE(s[i]) TH_LOG("page %d", i);
	}
	p[100 * PM_PAGE] = 1; /* one write dirties the whole huge page */
	ASSERT_EQ(0, soft_dirty_map(self->proc, p, 512, s));
	EXPECT_TRUE(s[0] && s[511]);
	EXPECT_EQ(0, pm_compare_around(self->proc, self->dev, p, PM_HPAGE, 16));
}

TEST_F(sd, thp_partial_clear_is_exact)
{
	static bool s[512];
	char *p = thp_written();

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	ASSERT_EQ(0, clear_range(self->dev, p + 128 * PM_PAGE, 128 * PM_PAGE));
	ASSERT_EQ(0, soft_dirty_map(self->proc, p, 512, s));
	for (int i = 0; i < 512; i++) {
		EXPECT_EQ(i < 128 || i >= 256, s[i]) TH_LOG("page %d", i);
	}
	p[200 * PM_PAGE] = 1;
	ASSERT_EQ(0, soft_dirty_map(self->proc, p, 512, s));
	EXPECT_TRUE(s[200]);
	EXPECT_FALSE(s[201]);
	EXPECT_EQ(0, pm_compare_around(self->proc, self->dev, p, PM_HPAGE, 16));
}

/*
 * The top of user space (TASK_SIZE: 2^56 or 2^47 less a page, by the paging mode)
 * is a valid end: a range ending there clears like any other, and a range from 0
 * to it leaves every page of the process clean, strictly, as the whole-process
 * clear does. One page further is EINVAL.
 */
TEST_F(sd, range_ending_at_the_top_of_user_space_is_valid)
{
	uintptr_t top = (pm_paging_levels() == 5 ? 1UL << 56 : 1UL << 47) - PM_PAGE;
	char *p = map_written(LEN, MAP_PRIVATE);
	struct rpm_range r;
	bool s[NPAGES];

	ASSERT_NE(MAP_FAILED, p);
	r = (struct rpm_range){ top - LEN, top };
	EXPECT_EQ(0, ioctl(self->dev, RPM_IOC_CLEAR_SOFT_DIRTY, &r)) TH_LOG("%s", strerror(errno));
	r = (struct rpm_range){ top - LEN, top + PM_PAGE };
	EXPECT_EQ(-1, ioctl(self->dev, RPM_IOC_CLEAR_SOFT_DIRTY, &r));
	EXPECT_EQ(EINVAL, errno);
	ASSERT_EQ(0, soft_dirty_map(self->proc, p, NPAGES, s));
	for (int i = 0; i < NPAGES; i++) {
		EXPECT_TRUE(s[i]) TH_LOG("page %d: cleared by a range far above it", i);
	}
	r = (struct rpm_range){ 0, top };
	ASSERT_EQ(0, ioctl(self->dev, RPM_IOC_CLEAR_SOFT_DIRTY, &r)) TH_LOG("%s", strerror(errno));
	ASSERT_EQ(0, soft_dirty_map(self->proc, p, NPAGES, s));
	for (int i = 0; i < NPAGES; i++) {
		EXPECT_FALSE(s[i]) TH_LOG("page %d after a clear of all of user space", i);
	}
	p[5 * PM_PAGE] = 1;
	ASSERT_EQ(0, soft_dirty_map(self->proc, p, NPAGES, s));
	for (int i = 0; i < NPAGES; i++) {
		EXPECT_EQ(i == 5, s[i]) TH_LOG("page %d after one write", i);
	}
	EXPECT_EQ(0, pm_compare_around(self->proc, self->dev, p, LEN, 16));
}

TEST_F(sd, range_argument_errors)
{
	struct rpm_range r;
	char *p = map_written(LEN, MAP_PRIVATE);

	ASSERT_NE(MAP_FAILED, p);
	r = (struct rpm_range){ (uintptr_t)p + 1, (uintptr_t)p + LEN };
	EXPECT_EQ(-1, ioctl(self->dev, RPM_IOC_CLEAR_SOFT_DIRTY, &r));
	EXPECT_EQ(EINVAL, errno);
	r = (struct rpm_range){ (uintptr_t)p + LEN, (uintptr_t)p };
	EXPECT_EQ(-1, ioctl(self->dev, RPM_IOC_CLEAR_SOFT_DIRTY, &r));
	EXPECT_EQ(EINVAL, errno);
	r = (struct rpm_range){ 0, ~0ULL & ~4095ULL };
	EXPECT_EQ(-1, ioctl(self->dev, RPM_IOC_CLEAR_SOFT_DIRTY, &r));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-1, ioctl(self->dev, RPM_IOC_CLEAR_SOFT_DIRTY, (void *)8));
	EXPECT_EQ(EFAULT, errno);
	/* An empty range is fine and changes nothing. */
	r = (struct rpm_range){ (uintptr_t)p, (uintptr_t)p };
	EXPECT_EQ(0, ioctl(self->dev, RPM_IOC_CLEAR_SOFT_DIRTY, &r));
}

/*
 * Twins: one process clears with the device, its identical twin with
 * clear_refs; both then do the same writes. Their soft-dirty maps of every
 * mapping kind must be equal.
 */
#define TWIN_PAGES (4 * NPAGES + 512)

static void twin_work(char *anon, char *shared, char *file, char *thp, int how, int out)
{
	static bool s[TWIN_PAGES];
	int proc = pm_open_proc();

	if (how == 0) {
		int dev = pm_open_dev();

		if (dev < 0 || ioctl(dev, RPM_IOC_CLEAR_SOFT_DIRTY_ALL))
			_exit(2);
	} else {
		int fd = open("/proc/self/clear_refs", O_WRONLY);

		if (fd < 0 || write(fd, "4", 1) != 1)
			_exit(3);
		close(fd);
	}
	for (int i = 0; i < NPAGES; i += 3) {
		anon[i * PM_PAGE] = 1;
		shared[i * PM_PAGE] = 1;
		file[i * PM_PAGE] = 1;
	}
	thp[7 * PM_PAGE] = 1;
	if (soft_dirty_map(proc, anon, NPAGES, s) ||
	    soft_dirty_map(proc, shared, NPAGES, s + NPAGES) ||
	    soft_dirty_map(proc, file, NPAGES, s + 2 * NPAGES) ||
	    soft_dirty_map(proc, file + LEN, NPAGES, s + 3 * NPAGES) ||
	    soft_dirty_map(proc, thp, 512, s + 4 * NPAGES))
		_exit(4);
	if (write(out, s, sizeof(s)) != sizeof(s))
		_exit(5);
	_exit(0);
}

TEST(whole_process_clear_equals_clear_refs_in_a_twin)
{
	static bool a[TWIN_PAGES], b[TWIN_PAGES];
	int fd = memfd_create("rpm-twin", 0), pa[2], pb[2], st;
	char *anon = map_written(LEN, MAP_PRIVATE), *shared = map_written(LEN, MAP_SHARED);
	char *file, *thp = thp_written();
	pid_t x, y;

	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, ftruncate(fd, 2 * LEN));
	file = mmap(NULL, 2 * LEN, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	ASSERT_NE(MAP_FAILED, file);
	pm_touch(file, LEN, PM_PAGE, true); /* the second half stays unpopulated */
	ASSERT_NE(MAP_FAILED, anon);
	ASSERT_NE(MAP_FAILED, shared);
	ASSERT_NE(MAP_FAILED, thp);
	ASSERT_EQ(0, pipe(pa));
	ASSERT_EQ(0, pipe(pb));
	x = fork();
	if (x == 0)
		twin_work(anon, shared, file, thp, 0, pa[1]);
	y = fork();
	if (y == 0)
		twin_work(anon, shared, file, thp, 1, pb[1]);
	ASSERT_EQ(sizeof(a), (size_t)read(pa[0], a, sizeof(a)));
	ASSERT_EQ(sizeof(b), (size_t)read(pb[0], b, sizeof(b)));
	waitpid(x, &st, 0);
	EXPECT_EQ(0, st);
	waitpid(y, &st, 0);
	EXPECT_EQ(0, st);
	for (int i = 0; i < TWIN_PAGES; i++)
		if (a[i] != b[i]) {
			EXPECT_EQ(b[i], a[i]) TH_LOG("page %d of the twin maps differs", i);
			break;
		}
	/* And the clear really cleared: unwritten anon pages read clean. */
	EXPECT_FALSE(a[1]);
	EXPECT_TRUE(a[0]);
}

TEST_HARNESS_MAIN
