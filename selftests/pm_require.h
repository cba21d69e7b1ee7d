/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Proof that a test's set-up took, before anything is compared.
 *
 * A differential test that compares the device with /proc on memory that is
 * not in the state the test is named for passes without testing anything.
 * The PM_REQUIRE_*() macros below check that state through the kernel's own
 * /proc/self/pagemap (never through the device) and:
 *
 *   - FAIL the test when the state did not take although the kernel has the
 *     feature (swap active but nothing swapped, THP enabled but no PMD
 *     mapping, a marker that is not there, protection that did not happen);
 *   - SKIP it, with the reason, only when the running kernel or machine lacks
 *     the feature altogether (no swap device, no THP, no reserved hugetlb
 *     pages of that size). The project's own guest provides every feature and
 *     its runner fails on any SKIP, so a skip there is a failure as well.
 *
 * Retrying a set-up step (MADV_PAGEOUT, a THP fault) is fine: it is the
 * set-up that is retried, never a comparison with the device.
 *
 * The macros are for test files: they use kselftest_harness.h's FIXTURE,
 * ASSERT and SKIP, and the fixture's `self->proc` where they say so. The
 * functions (pm_require.c) need no harness.
 */
#ifndef PM_REQUIRE_H
#define PM_REQUIRE_H

#include "pm_common.h"

#include <dirent.h>
#include <linux/fs.h>
#include <sched.h>
#include <sys/ioctl.h>

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#ifndef MAP_HUGE_2MB
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#endif
#ifndef MAP_HUGE_1GB
#define MAP_HUGE_1GB (30 << MAP_HUGE_SHIFT)
#endif
#define PM_GPAGE (1UL << 30)

/* --- the /proc + device fixture most differential tests share ----------- */

/* Open /proc/self/pagemap and the device into self->proc and self->dev, or fail. */
#define PM_OPEN_BOTH(self)                                                            \
	do {                                                                          \
		(self)->proc = pm_open_proc();                                        \
		ASSERT_GE((self)->proc, 0)                                            \
		TH_LOG("open /proc/self/pagemap: %s", strerror(errno));               \
		(self)->dev = pm_open_dev();                                          \
		ASSERT_GE((self)->dev, 0)                                             \
		TH_LOG("open %s: %s", RUST_PAGEMAP_DEV, strerror(errno));             \
	} while (0)

#define PM_CLOSE_BOTH(self)                                                           \
	do {                                                                          \
		close((self)->proc);                                                  \
		close((self)->dev);                                                   \
	} while (0)

/* A fixture `name` with just the two files open. */
#define PM_BOTH_FIXTURE(name)                                                         \
	FIXTURE(name)                                                                 \
	{                                                                             \
		int proc, dev;                                                        \
	};                                                                            \
	FIXTURE_SETUP(name)                                                           \
	{                                                                             \
		PM_OPEN_BOTH(self);                                                   \
	}                                                                             \
	FIXTURE_TEARDOWN(name)                                                        \
	{                                                                             \
		PM_CLOSE_BOTH(self);                                                  \
	}

/* --- reading the kernel's view ---------------------------------------- */

/* How many entries of [p, p+len) have all of `bits` set, per `fd` (/proc); -1 on error. */
long pm_count_with(int fd, const void *p, size_t len, uint64_t bits);

/*
 * How many pages of [p, p+len) the kernel's PAGEMAP_SCAN on `fd` reports with
 * every category in `cats` (and none of `absent`); -1 on error.
 */
long pm_count_cat(int fd, const void *p, size_t len, uint64_t cats, uint64_t absent);

/* Whether the kernel has THP at all (a user's kernel may not). */
bool pm_have_thp(void);

/* How many hugetlb pages of `kb` KiB are reserved; 0 if the size does not exist. */
long pm_hugetlb_reserved(unsigned long kb);

/* CPUs online now. */
long pm_online_cpus(void);

/* --- set-up that is proven ------------------------------------------- */

/*
 * MADV_PAGEOUT [p, p+len) until /proc's count of its pages with all of `bits`
 * reaches `want` (at least `want` with `at_least`, else at most), or 10 tries;
 * returns the last count.
 *
 * A page faulted in lately may still sit in the LRU batch of the CPU that
 * faulted it, where MADV_PAGEOUT cannot isolate it; madvise drains only the
 * batch of the CPU it runs on. So after the first try each further one runs
 * pinned to the next CPU in turn, draining every CPU's batch; the thread's
 * affinity is restored before returning.
 */
long pm_page_out_until(int proc, void *p, size_t len, uint64_t bits, long want,
		       bool at_least);

/* Page [p, p+len) out until /proc reports at least `want` of its pages swapped; returns how many. */
long pm_page_out(int proc, void *p, size_t len, long want);

/* Swap out [p, p+len) and fail unless /proc reports at least `want` of its pages swapped. */
#define PM_REQUIRE_SWAPPED(proc, p, len, want)                                        \
	do {                                                                          \
		if (!pm_have_swap())                                                  \
			SKIP(return, "no swap device active (the guest has zram)");  \
		ASSERT_GE(pm_page_out((proc), (p), (len), (want)), (long)(want))      \
		TH_LOG("MADV_PAGEOUT did not swap the pages: the case would test nothing"); \
	} while (0)

/*
 * Page [p, p+len) out and fail unless /proc shows none of its pages present
 * (shared memory: a paged-out shmem page leaves no entry at all).
 */
#define PM_REQUIRE_PAGED_OUT(proc, p, len)                                            \
	do {                                                                          \
		if (!pm_have_swap())                                                  \
			SKIP(return, "no swap device active (the guest has zram)");  \
		ASSERT_EQ(0, pm_page_out_until((proc), (p), (len), RPM_PRESENT, 0, false)) \
		TH_LOG("MADV_PAGEOUT left pages present: the case would test nothing"); \
	} while (0)

/* A 2 MiB aligned anonymous (or, with `fd` >= 0, shared file) mapping of `len`, MADV_HUGEPAGE. */
char *pm_thp_map(size_t len, int fd);

/* Fail unless every page of [p, p+len) is mapped by a huge entry, per /proc's own scan. */
#define PM_REQUIRE_HUGE(proc, p, len)                                                 \
	do {                                                                          \
		ASSERT_EQ((long)((len) / PM_PAGE),                                    \
			  pm_count_cat((proc), (p), (len), PAGE_IS_HUGE | PAGE_IS_PRESENT, 0)) \
		TH_LOG("%p+%#lx is not mapped by huge entries: the case would test nothing", \
		       (void *)(p), (unsigned long)(len));                           \
	} while (0)

/* Skip when the kernel has no THP; fail unless [p, p+len) is PMD-mapped. */
#define PM_REQUIRE_THP(proc, p, len)                                                  \
	do {                                                                          \
		if (!pm_have_thp())                                                   \
			SKIP(return, "the kernel has no transparent huge pages");    \
		PM_REQUIRE_HUGE(proc, p, len);                                        \
	} while (0)

/* A hugetlb mapping of `len` with pages of `psize` (2 MiB or 1 GiB). */
char *pm_hugetlb_map(size_t len, size_t psize, int flags);

#ifndef MADV_HWPOISON
#define MADV_HWPOISON 100
#endif

/*
 * Poison page `i` of [p, p+len) from a forked child that shares it
 * (MADV_HWPOISON, root only): the child, which touches the page, is killed;
 * the caller keeps a hwpoison entry. 0 when done, 2 when the kernel cannot
 * (no CONFIG_MEMORY_FAILURE), -1 or 1 on other failures.
 */
int pm_poison_from_child(char *p, size_t i);

/*
 * The mapping `p` of hugetlb pages of `psize` must exist: skip when none of
 * that size are reserved, fail when they are but the mapping failed.
 */
#define PM_REQUIRE_HUGETLB_MAPPED(p, psize)                                           \
	do {                                                                          \
		if ((p) == MAP_FAILED && pm_hugetlb_reserved((psize) >> 10) <= 0)     \
			SKIP(return, "no %lu KiB hugetlb pages reserved (hugepagesz=, hugepages=)", \
			     (unsigned long)(psize) >> 10);                           \
		ASSERT_NE(MAP_FAILED, (p))                                            \
		TH_LOG("%lu KiB hugetlb pages are reserved but the mapping failed: %s", \
		       (unsigned long)(psize) >> 10, strerror(errno));               \
	} while (0)

/* Fail unless exactly `want` entries of [p, p+len) have all of `bits`, per /proc. */
#define PM_REQUIRE_ENTRIES(proc, p, len, bits, want)                                  \
	do {                                                                          \
		ASSERT_EQ((long)(want), pm_count_with((proc), (p), (len), (bits)))    \
		TH_LOG("/proc does not show the entries the set-up made (bits %#llx)", \
		       (unsigned long long)(bits));                                   \
	} while (0)

/* Fail unless every page of [p, p+len) is uffd write-protected, per /proc. */
#define PM_REQUIRE_UFFD_WP(proc, p, len)                                              \
	PM_REQUIRE_ENTRIES(proc, p, len, RPM_UFFD_WP, (len) / PM_PAGE)

/* Fail unless the machine has at least `n` CPUs online (a race test on one CPU proves nothing). */
#define PM_REQUIRE_CPUS(n)                                                            \
	do {                                                                          \
		ASSERT_GE(pm_online_cpus(), (long)(n))                               \
		TH_LOG("%d CPUs must be online", (int)(n));                           \
	} while (0)

#endif /* PM_REQUIRE_H */
