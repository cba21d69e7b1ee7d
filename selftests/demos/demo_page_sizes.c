// SPDX-License-Identifier: GPL-2.0
/*
 * Demo of RPM_SCAN_PAGE_SIZES: a process with 4 KiB pages, 64 KiB mTHP, a
 * 2 MiB THP (whole and split in part), 2 MiB and 1 GiB hugetlb pages, and
 * what one PAGEMAP_SCAN on /dev/rust_pagemap says of each range: the size of
 * the page-table entry that maps it and of the folio behind it. Upstream's
 * PAGEMAP_SCAN can only say PAGE_IS_HUGE.
 */
#include "pm_scan.h"
#include "pm_hostile.h"

#define MTHP_64K "/sys/kernel/mm/transparent_hugepage/hugepages-64kB/enabled"

static const char *size_name(unsigned int shift)
{
	static char buf[4][16];
	static int i;

	if (!shift)
		return "-";
	i = (i + 1) % 4;
	if (shift >= 30)
		snprintf(buf[i], sizeof(buf[i]), "%u GiB", 1u << (shift - 30));
	else if (shift >= 20)
		snprintf(buf[i], sizeof(buf[i]), "%u MiB", 1u << (shift - 20));
	else
		snprintf(buf[i], sizeof(buf[i]), "%u KiB", 1u << (shift - 10));
	return buf[i];
}

static void show(int dev, const char *what, char *p, size_t len)
{
	static struct pm_scan_result r;
	struct pm_scan_arg a = pm_scan_req((uintptr_t)p, (uintptr_t)p + len, RPM_SCAN_PAGE_SIZES,
					   0, 0, 0, PAGE_IS_PRESENT | PAGE_IS_HUGE);

	pm_scan_run(dev, &a, PM_MAX_REGIONS, &r);
	printf("%s (smaps: KernelPageSize %ld kB, AnonHugePages %ld kB, ShmemPmdMapped %ld kB)\n",
	       what, pm_smaps_kb(p, "KernelPageSize"), pm_smaps_kb(p, "AnonHugePages"),
	       pm_smaps_kb(p, "ShmemPmdMapped"));
	if (r.ret < 0) {
		printf("  PAGEMAP_SCAN failed: %s\n", strerror((int)-r.ret));
		return;
	}
	for (long i = 0; i < r.n && i < 8; i++) {
		uint64_t c = r.r[i].categories;

		printf("  +%#-9lx %6llu pages  entry %-7s folio %-7s %s%s\n",
		       (unsigned long)(r.r[i].start - (uintptr_t)p),
		       (unsigned long long)((r.r[i].end - r.r[i].start) / PM_PAGE),
		       size_name(RPM_REGION_ENTRY_SHIFT(c)), size_name(RPM_REGION_FOLIO_SHIFT(c)),
		       c & PAGE_IS_PRESENT ? "present" : "not present",
		       c & PAGE_IS_HUGE ? ", PAGE_IS_HUGE" : "");
	}
	if (r.n > 8)
		printf("  ... %ld regions in all\n", r.n);
}

static char *map_hugetlb(size_t len, int shift)
{
	return mmap(NULL, len, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | (shift << 26), -1, 0);
}

int main(void)
{
	int dev = pm_open_dev();
	char old[128] = "", *l, *r;
	char *small, *mthp, *thp, *split, *h2m, *h1g;

	if (dev < 0) {
		perror("open " RUST_PAGEMAP_DEV);
		return 1;
	}
	/* 4 KiB pages: 16 written. */
	small = mmap(NULL, 16 * PM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pm_touch(small, 16 * PM_PAGE, PM_PAGE, true);

	/* 64 KiB mTHP: four folios of 16 PTEs each, with 64 KiB mTHP switched on for a moment. */
	if (pm_read_file(MTHP_64K, old, sizeof(old)) && (l = strchr(old, '[')) &&
	    (r = strchr(l, ']'))) {
		*r = 0;
		memmove(old, l + 1, strlen(l + 1) + 1);
		pm_write_file(MTHP_64K, "always");
	}
	mthp = pm_map_aligned(4 * 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	pm_touch(mthp, 4 * 65536, PM_PAGE, true);
	if (old[0])
		pm_write_file(MTHP_64K, old);

	/* A THP, and one of which one page is made read-only: its PMD split into PTEs. */
	thp = pm_map_aligned(PM_HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	madvise(thp, PM_HPAGE, MADV_HUGEPAGE);
	pm_touch(thp, PM_HPAGE, PM_PAGE, true);
	split = pm_map_aligned(PM_HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	madvise(split, PM_HPAGE, MADV_HUGEPAGE);
	pm_touch(split, PM_HPAGE, PM_PAGE, true);
	mprotect(split + 256 * PM_PAGE, PM_PAGE, PROT_READ);

	/* hugetlb: two 2 MiB pages, the first touched; one 1 GiB page, touched. */
	h2m = map_hugetlb(2 * PM_HPAGE, 21);
	if (h2m != MAP_FAILED)
		h2m[0] = 1;
	h1g = map_hugetlb(1UL << 30, 30);
	if (h1g != MAP_FAILED)
		h1g[0] = 1;

	printf("PAGEMAP_SCAN with RPM_SCAN_PAGE_SIZES, one line per region:\n\n");
	show(dev, "4 KiB pages, private anonymous", small, 16 * PM_PAGE);
	if (mthp != MAP_FAILED)
		show(dev, "64 KiB mTHP (hugepages-64kB/enabled = always while faulted)", mthp,
		     4 * 65536);
	if (thp != MAP_FAILED)
		show(dev, "2 MiB THP (MADV_HUGEPAGE)", thp, PM_HPAGE);
	if (split != MAP_FAILED)
		show(dev, "2 MiB THP, page 256 mprotect()ed: PTE-mapped, the folio still 2 MiB",
		     split, PM_HPAGE);
	if (h2m != MAP_FAILED)
		show(dev, "2 MiB hugetlb, the first page touched", h2m, 2 * PM_HPAGE);
	else
		printf("2 MiB hugetlb: %s\n", strerror(errno));
	if (h1g != MAP_FAILED)
		show(dev, "1 GiB hugetlb", h1g, 1UL << 30);
	else
		printf("1 GiB hugetlb: no page reserved (hugepagesz=1G hugepages=1)\n");
	return 0;
}
