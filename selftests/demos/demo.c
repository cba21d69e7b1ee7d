// SPDX-License-Identifier: GPL-2.0
/*
 * Demo: map a buffer, touch some of its pages in different ways, and print
 * what /dev/rust_pagemap says of each page next to /proc/self/pagemap.
 */
#include "pm_common.h"

static void show(const char *what, int dev, int proc, char *p, size_t pages)
{
	uint64_t d[16], k[16];

	if (pm_read_entries(dev, (uintptr_t)p, pages, d) || pm_read_entries(proc, (uintptr_t)p, pages, k)) {
		perror("pread");
		exit(1);
	}
	printf("%s\n", what);
	printf("  %-14s %-18s %-7s %-4s %-4s %-4s %-4s %-9s %s\n", "vaddr", "entry", "present",
	       "swap", "file", "excl", "sd", "pfn", "same as /proc");
	for (size_t i = 0; i < pages; i++)
		printf("  %-14p %#018" PRIx64 " %-7d %-4d %-4d %-4d %-4d %-9" PRIu64 " %s\n",
		       p + i * PM_PAGE, d[i], !!(d[i] & RPM_PRESENT), !!(d[i] & RPM_SWAP),
		       !!(d[i] & RPM_FILE), !!(d[i] & RPM_MMAP_EXCLUSIVE), !!(d[i] & RPM_SOFT_DIRTY),
		       (uint64_t)(d[i] & RPM_PFRAME_MASK), d[i] == k[i] ? "yes" : "NO");
}

int main(void)
{
	int dev = pm_open_dev(), proc = pm_open_proc();
	char *anon, *shared;

	if (dev < 0 || proc < 0) {
		perror("open");
		return 1;
	}
	anon = mmap(NULL, 8 * PM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	shared = mmap(NULL, 4 * PM_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (anon == MAP_FAILED || shared == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	anon[0] = 1;			/* written: a private page of our own */
	(void)*(volatile char *)(anon + 2 * PM_PAGE); /* read: the shared zero page */
	anon[5 * PM_PAGE] = 1;
	shared[PM_PAGE] = 1;		/* shared anonymous memory is shmem: "file" */

	show("8 pages of private anonymous memory (0 and 5 written, 2 read):", dev, proc, anon, 8);
	show("4 pages of shared anonymous memory (1 written):", dev, proc, shared, 4);
	return 0;
}
