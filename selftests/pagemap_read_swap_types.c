// SPDX-License-Identifier: GPL-2.0
/*
 * A swap entry's frame in the pagemap file is its swap type (bits 0-4) and
 * offset. The guest swaps to one device (zram0, type 0), where a frame that
 * left the type out would read the same; here a second zram device is added
 * with a higher priority, pages are swapped out to it (type 1), and the
 * device must read them as /proc does. Runs as root (CAP_SYS_ADMIN: frames
 * are shown).
 */
#include "pm_common.h"

#include <sys/swap.h>

#include "kselftest_harness.h"
#include "pm_require.h"

/*
 * More pages than two swap clusters (512 entries each): the swap allocator keeps
 * a cluster of the device it last used cached per CPU and fills it first, whatever
 * the priorities, so after earlier programs swapped to zram0 up to one cluster per
 * CPU still goes there; the rest goes to the new device.
 */
#define NPAGES 2048
#define LEN (NPAGES * PM_PAGE)
#define ZRAM_PAGES 4096 /* 16 MiB */
#define SWAP_TYPE_MASK 0x1fULL

/* A swap area header (version 1, no bad pages) at the start of the device `fd` of `pages`. */
static bool write_swap_header(int fd, uint32_t pages)
{
	static char page[PM_PAGE];
	uint32_t info[3] = { 1, pages - 1, 0 }; /* version, last_page, nr_badpages */

	memset(page, 0, sizeof(page));
	memcpy(page + 1024, info, sizeof(info));
	memcpy(page + PM_PAGE - 10, "SWAPSPACE2", 10);
	return pwrite(fd, page, sizeof(page), 0) == (ssize_t)sizeof(page) && !fsync(fd);
}

FIXTURE(swap2)
{
	int proc, dev;
	int zram;	/* the added zram device's number, -1: none */
	bool on;	/* swapon succeeded */
	char path[32];
	char *p;
};

FIXTURE_SETUP(swap2)
{
	char num[16] = "";
	int fd;
	ssize_t n;

	self->zram = -1;
	self->on = false;
	self->p = MAP_FAILED;
	ASSERT_EQ(geteuid(), 0);
	PM_OPEN_BOTH(self);
	if (!pm_have_swap())
		SKIP(return, "no swap device active (the guest has zram)");
	fd = open("/sys/class/zram-control/hot_add", O_RDONLY);
	if (fd < 0)
		SKIP(return, "no zram-control to add a second zram device");
	n = read(fd, num, sizeof(num) - 1);
	close(fd);
	ASSERT_GT(n, 0);
	self->zram = atoi(num);
	snprintf(self->path, sizeof(self->path), "/sys/block/zram%d/disksize", self->zram);
	ASSERT_TRUE(pm_write_file(self->path, "16M"));
	snprintf(self->path, sizeof(self->path), "/dev/zram%d", self->zram);
	for (int i = 0; i < 100 && (fd = open(self->path, O_RDWR)) < 0; i++)
		usleep(10000);
	ASSERT_GE(fd, 0) TH_LOG("open %s: %s", self->path, strerror(errno));
	ASSERT_TRUE(write_swap_header(fd, ZRAM_PAGES));
	close(fd);
	/* Above zram0's priority: pages go to the new device first. */
	ASSERT_EQ(0, swapon(self->path, SWAP_FLAG_PREFER | (100 & SWAP_FLAG_PRIO_MASK)))
	TH_LOG("swapon %s: %s", self->path, strerror(errno));
	self->on = true;
}

FIXTURE_TEARDOWN(swap2)
{
	char num[16];

	if (self->p != MAP_FAILED)
		munmap(self->p, LEN);
	if (self->on && swapoff(self->path))
		TH_LOG("swapoff %s: %s", self->path, strerror(errno));
	if (self->zram >= 0) {
		snprintf(num, sizeof(num), "%d", self->zram);
		pm_write_file("/sys/class/zram-control/hot_remove", num);
	}
	if (self->proc >= 0)
		close(self->proc);
	if (self->dev >= 0)
		close(self->dev);
}

TEST_F(swap2, second_swap_device_reads_like_proc)
{
	uint64_t e[NPAGES];
	long typed = 0;

	self->p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->p);
	pm_touch(self->p, LEN, PM_PAGE, true);
	PM_REQUIRE_SWAPPED(self->proc, self->p, LEN, NPAGES / 2);
	ASSERT_EQ(0, pm_read_entries(self->proc, (uintptr_t)self->p, NPAGES, e));
	for (int i = 0; i < NPAGES; i++)
		typed += (e[i] & RPM_SWAP) && (e[i] & SWAP_TYPE_MASK) != 0;
	/* What the case is for: /proc shows entries of a swap type other than 0. */
	ASSERT_GE(typed, NPAGES / 4) TH_LOG("only %ld entries of a swap type other than 0", typed);
	EXPECT_EQ(0, pm_compare_around(self->proc, self->dev, self->p, LEN, 4));
}

TEST_HARNESS_MAIN
