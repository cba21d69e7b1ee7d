// SPDX-License-Identifier: GPL-2.0
/* What the set-up checks of pm_require.h read of the kernel, and the set-up they check. */
#include "pm_require.h"

#include <sys/wait.h>

long pm_count_with(int fd, const void *p, size_t len, uint64_t bits)
{
	static uint64_t e[4096];
	long c = 0;

	for (size_t off = 0; off < len; off += sizeof(e) / 8 * PM_PAGE) {
		size_t n = (len - off) / PM_PAGE;

		if (n > sizeof(e) / 8)
			n = sizeof(e) / 8;
		if (pm_read_entries(fd, (uintptr_t)p + off, n, e))
			return -1;
		for (size_t i = 0; i < n; i++)
			c += (e[i] & bits) == bits;
	}
	return c;
}

long pm_count_cat(int fd, const void *p, size_t len, uint64_t cats, uint64_t absent)
{
	static struct page_region r[512];
	uintptr_t at = (uintptr_t)p, end = at + len;
	long pages = 0;

	while (at < end) {
		struct pm_scan_arg a = {
			.size = sizeof(a),
			.start = at,
			.end = end,
			.vec = (uintptr_t)r,
			.vec_len = 512,
			.category_inverted = absent,
			.category_mask = cats | absent,
			.return_mask = cats | absent | PAGE_IS_PRESENT,
		};
		long n = ioctl(fd, PAGEMAP_SCAN, &a);

		if (n < 0)
			return -1;
		for (long i = 0; i < n; i++)
			pages += (r[i].end - r[i].start) / PM_PAGE;
		if (a.walk_end <= at)
			return -1;
		at = a.walk_end;
	}
	return pages;
}

bool pm_have_thp(void)
{
	return access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) == 0;
}

long pm_hugetlb_reserved(unsigned long kb)
{
	char path[96], buf[32] = "";
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/hugepages-%lukB/nr_hugepages", kb);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = 0;
	fclose(f);
	return strtol(buf, NULL, 10);
}

long pm_online_cpus(void)
{
	return sysconf(_SC_NPROCESSORS_ONLN);
}

long pm_page_out_until(int proc, void *p, size_t len, uint64_t bits, long want,
		       bool at_least)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	bool pinned = false;
	cpu_set_t old, one;
	long n = 0;

	if (sched_getaffinity(0, sizeof(old), &old))
		cpus = 1;
	for (int attempt = 0; attempt < 10; attempt++) {
		if (attempt > 0 && cpus > 1) {
			CPU_ZERO(&one);
			CPU_SET((attempt - 1) % cpus, &one);
			pinned = !sched_setaffinity(0, sizeof(one), &one) || pinned;
		}
		madvise(p, len, MADV_PAGEOUT);
		n = pm_count_with(proc, p, len, bits);
		if (at_least ? n >= want : n <= want)
			break;
	}
	if (pinned)
		sched_setaffinity(0, sizeof(old), &old);
	return n;
}

long pm_page_out(int proc, void *p, size_t len, long want)
{
	return pm_page_out_until(proc, p, len, RPM_SWAP, want, true);
}

char *pm_thp_map(size_t len, int fd)
{
	char *p = pm_map_aligned(len, PROT_READ | PROT_WRITE,
				 fd >= 0 ? MAP_SHARED : MAP_PRIVATE | MAP_ANONYMOUS, fd);

	if (p == MAP_FAILED)
		return p;
	if (madvise(p, len, MADV_HUGEPAGE)) {
		munmap(p, len);
		return MAP_FAILED;
	}
	return p;
}

int pm_poison_from_child(char *p, size_t i)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		if (madvise(p + i * PM_PAGE, PM_PAGE, MADV_HWPOISON))
			_exit(errno == EINVAL ? 2 : 1);
		_exit(0);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	/* Killed by the poison it touched, or returned: done. */
	return WIFEXITED(status) ? WEXITSTATUS(status) : 0;
}

char *pm_hugetlb_map(size_t len, size_t psize, int flags)
{
	int huge = psize == PM_GPAGE ? MAP_HUGE_1GB : MAP_HUGE_2MB;

	return mmap(NULL, len, PROT_READ | PROT_WRITE,
		    flags | MAP_ANONYMOUS | MAP_HUGETLB | huge, -1, 0);
}