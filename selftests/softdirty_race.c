// SPDX-License-Identifier: GPL-2.0
/*
 * No write may be lost between reporting a page dirty and clearing it: a
 * writer thread keeps writing random pages while this thread loops an atomic
 * get-and-clear (PAGEMAP_SCAN with RPM_SCAN_CLEAR_SOFT_DIRTY) over the
 * buffer, for at least 10,000 rounds.
 *
 * Bookkeeping: after each round, the content of every reported page is
 * remembered. A page that was not reported but whose content differs from
 * what was remembered was written after this round's clear point, so the
 * next round must report it; if it does not, that write is lost. The writer
 * stops at the end and two last rounds must report nothing then nothing, so
 * a module that reported every page every time could not pass either.
 */
#include "pm_common.h"

#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"

#define PAGES 256
#define ROUNDS 10000

static char *buf;
static atomic_bool stop;

static void *writer(void *arg)
{
	uint64_t seq = 0, x = 88172645463325252ULL;

	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		atomic_store_explicit((_Atomic uint64_t *)(buf + (x % PAGES) * PM_PAGE), ++seq,
				      memory_order_release);
	}
	return NULL;
}

/* One atomic get-and-clear over the buffer; marks reported pages in `dirty`. */
static long get_and_clear(int dev, bool *dirty)
{
	static struct page_region r[PAGES];
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.flags = RPM_SCAN_CLEAR_SOFT_DIRTY,
		.start = (uintptr_t)buf,
		.end = (uintptr_t)buf + PAGES * PM_PAGE,
		.vec = (uintptr_t)r,
		.vec_len = PAGES,
		.category_mask = PAGE_IS_SOFT_DIRTY,
		.return_mask = PAGE_IS_SOFT_DIRTY,
	};
	long n = ioctl(dev, PAGEMAP_SCAN, &a), pages = 0;

	memset(dirty, 0, PAGES);
	for (long i = 0; i < n; i++)
		for (uint64_t p = r[i].start; p < r[i].end; p += PM_PAGE, pages++)
			dirty[(p - (uintptr_t)buf) / PM_PAGE] = true;
	return n < 0 ? n : pages;
}

static uint64_t load(int i)
{
	return atomic_load_explicit((_Atomic uint64_t *)(buf + i * PM_PAGE), memory_order_acquire);
}

TEST(get_and_clear_loses_no_write)
{
	static uint64_t last[PAGES];
	static bool dirty[PAGES], pending[PAGES];
	long lost = 0, reported = 0;
	int dev = pm_open_dev();
	pthread_t t;

	ASSERT_GE(dev, 0);
	buf = mmap(NULL, PAGES * PM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, buf);
	/* Per-page precision: no huge page may make 512 pages dirty at once. */
	ASSERT_EQ(0, madvise(buf, PAGES * PM_PAGE, MADV_NOHUGEPAGE));
	pm_touch(buf, PAGES * PM_PAGE, PM_PAGE, true);
	ASSERT_EQ(PAGES, get_and_clear(dev, dirty)) TH_LOG("first round must report every page");
	for (int i = 0; i < PAGES; i++)
		last[i] = load(i);
	ASSERT_EQ(0, get_and_clear(dev, dirty)) TH_LOG("a clear did not clear");

	ASSERT_EQ(0, pthread_create(&t, NULL, writer, NULL));
	for (int round = 0; round < ROUNDS; round++) {
		long n = get_and_clear(dev, dirty);

		ASSERT_GE(n, 0) TH_LOG("scan failed: %s", strerror(errno));
		reported += n;
		for (int i = 0; i < PAGES; i++) {
			uint64_t v = load(i);

			if (dirty[i]) {
				last[i] = v;
				pending[i] = false;
			} else if (pending[i]) {
				lost++;
				pending[i] = false;
				last[i] = v;
			} else if (v != last[i]) {
				pending[i] = true;
			}
		}
	}
	atomic_store(&stop, true);
	pthread_join(t, NULL);
		/* The writer is done: every page changed since its last report must be reported now. */
	ASSERT_GE(get_and_clear(dev, dirty), 0);
	for (int i = 0; i < PAGES; i++)
		if (!dirty[i] && (pending[i] || load(i) != last[i]))
			lost++;
	EXPECT_EQ(0, get_and_clear(dev, dirty));
	printf("# lost writes: %ld in %d rounds (%ld pages reported dirty)\n", lost, ROUNDS, reported);
	EXPECT_EQ(0, lost);
	EXPECT_GT(reported, 0);
	close(dev);
}

TEST_HARNESS_MAIN
