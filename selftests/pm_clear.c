// SPDX-License-Identifier: GPL-2.0
/* The device's ways of clearing soft-dirty, and what the clearing tests read back (pm_clear.h). */
#include "pm_clear.h"

const char *pm_clear_name(enum pm_clear_kind k)
{
	return k == PM_CLEAR_RANGE ? "RPM_IOC_CLEAR_SOFT_DIRTY" :
	       k == PM_CLEAR_ALL   ? "RPM_IOC_CLEAR_SOFT_DIRTY_ALL" :
				     "get-and-clear";
}

int pm_clear_range(int fd, uintptr_t start, uintptr_t end)
{
	struct rpm_range r = { start, end };

	return ioctl(fd, RPM_IOC_CLEAR_SOFT_DIRTY, &r);
}

long pm_get_and_clear(int fd, uintptr_t start, uintptr_t end, uint64_t max_pages,
		      struct page_region *vec, uint64_t vec_len, uint64_t *walk_end)
{
	struct pm_scan_arg a = pm_scan_req(start, end, RPM_SCAN_CLEAR_SOFT_DIRTY, 0,
					   PAGE_IS_SOFT_DIRTY, 0, PAGE_IS_SOFT_DIRTY);
	long ret;

	a.max_pages = max_pages;
	a.vec = (uintptr_t)vec;
	a.vec_len = vec_len;
	ret = ioctl(fd, PAGEMAP_SCAN, &a);
	if (walk_end)
		*walk_end = a.walk_end;
	return ret;
}

int pm_clear_by(int fd, enum pm_clear_kind k, uintptr_t start, uintptr_t end)
{
	static struct page_region vec[PM_MAX_REGIONS];

	switch (k) {
	case PM_CLEAR_RANGE:
		return pm_clear_range(fd, start, end) ? -1 : 0;
	case PM_CLEAR_ALL:
		return ioctl(fd, RPM_IOC_CLEAR_SOFT_DIRTY_ALL) ? -1 : 0;
	default:
		return pm_get_and_clear(fd, start, end, 0, vec, PM_MAX_REGIONS, NULL) < 0 ? -1 : 0;
	}
}

long pm_soft_dirty_pages(int fd, uintptr_t start, size_t pages)
{
	static uint64_t e[4096];
	long n = 0;

	for (size_t done = 0; done < pages;) {
		size_t k = pages - done > 4096 ? 4096 : pages - done;

		if (pm_read_entries(fd, start + done * PM_PAGE, k, e))
			return -1;
		for (size_t i = 0; i < k; i++)
			n += !!(e[i] & RPM_SOFT_DIRTY);
		done += k;
	}
	return n;
}

int pm_soft_dirty_vmas(uintptr_t start, uintptr_t end, struct pm_vma *v, int max)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	unsigned long s = 0, e = 0;
	char line[1024];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long a, b;

		/* A VMA's first line: "start-end perms ..."; its last: "VmFlags: rd wr ... sd". */
		if (sscanf(line, "%lx-%lx ", &a, &b) == 2) {
			s = a;
			e = b;
			continue;
		}
		if (strncmp(line, "VmFlags:", 8) || s >= end || e <= start || !strstr(line, " sd"))
			continue;
		if (n < max) {
			v[n].start = s;
			v[n].end = e;
			v[n].name[0] = 0;
		}
		n++;
	}
	fclose(f);
	return n <= max ? n : max;
}

int pm_maps_lines(void)
{
	static struct pm_vma v[8192];

	return pm_read_maps(v, 8192);
}

int pm_vma_count(void)
{
	static struct pm_vma v[8192];
	int n = pm_read_maps(v, 8192), vmas = 0;

	for (int i = 0; i < n; i++)
		vmas += !!strcmp(v[i].name, "[vsyscall]");
	return n < 0 ? -1 : vmas;
}