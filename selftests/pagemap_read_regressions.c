// SPDX-License-Identifier: GPL-2.0
/*
 * Read-path cases found outside the suite, each compared entry by entry with
 * /proc/self/pagemap after checking that the set-up took.
 */
#include "pm_common.h"

#include <linux/mman.h>

#include "kselftest_harness.h"
#include "pm_require.h"

#define GIB (1UL << 30)

#ifndef MAP_HUGE_1GB
#define MAP_HUGE_1GB (30 << MAP_HUGE_SHIFT)
#endif

PM_BOTH_FIXTURE(rr)

/* A hugetlb page made PROT_NONE is still present (pte_present counts PROT_NONE). */
static void prot_none_hugetlb(struct __test_metadata *_metadata, int proc, int dev, size_t size,
			      int size_flag)
{
	char *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | size_flag, -1, 0);
	uint64_t e = 0;

	ASSERT_NE(p, MAP_FAILED) TH_LOG("no %zu MiB hugetlb page reserved", size >> 20);
	p[0] = 1;
	ASSERT_EQ(mprotect(p, size, PROT_NONE), 0);
	ASSERT_EQ(pm_read_entries(proc, (uintptr_t)p, 1, &e), 0);
	ASSERT_TRUE(e & RPM_PRESENT) TH_LOG("/proc: %#llx", (unsigned long long)e);
	EXPECT_EQ(pm_compare_range(proc, dev, (uintptr_t)p, (uintptr_t)p + 64 * PM_PAGE), 0);
	EXPECT_EQ(pm_compare_range(proc, dev, (uintptr_t)p + size - 64 * PM_PAGE,
				   (uintptr_t)p + size), 0);
	munmap(p, size);
}

TEST_F(rr, prot_none_1g_hugetlb_page_reads_present)
{
	prot_none_hugetlb(_metadata, self->proc, self->dev, GIB, MAP_HUGE_1GB);
}

TEST_F(rr, prot_none_2m_hugetlb_page_reads_present)
{
	prot_none_hugetlb(_metadata, self->proc, self->dev, PM_HPAGE, MAP_HUGE_2MB);
}

TEST_HARNESS_MAIN
