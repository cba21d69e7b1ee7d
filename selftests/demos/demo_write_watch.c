// SPDX-License-Identifier: GPL-2.0
/*
 * Demo: GetWriteWatch-style tracking of a buffer with /dev/rust_pagemap.
 *
 * Windows' GetWriteWatch(WRITE_WATCH_FLAG_RESET) returns the pages of a
 * region written since the last call and resets their state, atomically.
 * Here that is one PAGEMAP_SCAN with RPM_SCAN_CLEAR_SOFT_DIRTY over the
 * region; ResetWriteWatch is RPM_IOC_CLEAR_SOFT_DIRTY on the region. Nothing
 * else in the process is reset, unlike /proc/PID/clear_refs.
 */
#include "pm_common.h"

#include <linux/fs.h>
#include <sys/ioctl.h>

#define PAGES 16

/* GetWriteWatch with reset: fills `addrs` with written pages, returns their count. */
static long get_write_watch(int dev, char *base, size_t len, void **addrs, long max)
{
	struct page_region r[PAGES];
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.flags = RPM_SCAN_CLEAR_SOFT_DIRTY,
		.start = (uintptr_t)base,
		.end = (uintptr_t)base + len,
		.vec = (uintptr_t)r,
		.vec_len = PAGES,
		.max_pages = max,
		.category_mask = PAGE_IS_SOFT_DIRTY,
		.return_mask = PAGE_IS_SOFT_DIRTY,
	};
	long n = ioctl(dev, PAGEMAP_SCAN, &a), count = 0;

	if (n < 0)
		return -1;
	for (long i = 0; i < n; i++)
		for (uint64_t p = r[i].start; p < r[i].end && count < max; p += PM_PAGE)
			addrs[count++] = (void *)(uintptr_t)p;
	return count;
}

static void show(const char *when, int dev, char *buf)
{
	void *addrs[PAGES];
	long n = get_write_watch(dev, buf, PAGES * PM_PAGE, addrs, PAGES);

	printf("%-36s", when);
	if (n < 0) {
		perror(" PAGEMAP_SCAN");
		exit(1);
	}
	printf(" %ld written:", n);
	for (long i = 0; i < n; i++)
		printf(" %ld", (long)(((char *)addrs[i] - buf) / PM_PAGE));
	printf("\n");
}

int main(void)
{
	int dev = pm_open_dev();
	char *buf, *other;
	struct rpm_range r;

	if (dev < 0) {
		perror("open " RUST_PAGEMAP_DEV);
		return 1;
	}
	buf = mmap(NULL, PAGES * PM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	other = mmap(NULL, PM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED || other == MAP_FAILED)
		return 1;
	madvise(buf, PAGES * PM_PAGE, MADV_NOHUGEPAGE);
	printf("write watch over a %d-page buffer (page numbers relative to it)\n", PAGES);
	show("new buffer (every page counts):", dev, buf);
	show("right after the reset:", dev, buf);
	buf[2 * PM_PAGE] = 1;
	buf[7 * PM_PAGE] = 1;
	buf[8 * PM_PAGE + 100] = 1;
	other[0] = 1;
	show("after writing pages 2, 7, 8:", dev, buf);
	show("again (reset by the previous call):", dev, buf);
	buf[15 * PM_PAGE] = 1;
	r = (struct rpm_range){ (uintptr_t)buf, (uintptr_t)buf + PAGES * PM_PAGE };
	if (ioctl(dev, RPM_IOC_CLEAR_SOFT_DIRTY, &r))
		perror("RPM_IOC_CLEAR_SOFT_DIRTY");
	show("page 15 written, then ResetWriteWatch:", dev, buf);
	return 0;
}
