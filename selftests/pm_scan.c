// SPDX-License-Identifier: GPL-2.0
/* Running PAGEMAP_SCAN through both files and comparing the answers (pm_scan.h). */
#include "pm_scan.h"

struct pm_scan_arg pm_scan_req(uintptr_t start, uintptr_t end, uint64_t flags,
			       uint64_t inverted, uint64_t mask, uint64_t anyof,
			       uint64_t ret_mask)
{
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.flags = flags,
		.start = start,
		.end = end,
		.category_inverted = inverted,
		.category_mask = mask,
		.category_anyof_mask = anyof,
		.return_mask = ret_mask,
	};
	return a;
}

void pm_scan_run(int fd, const struct pm_scan_arg *req, uint64_t vec_len,
		 struct pm_scan_result *res)
{
	struct pm_scan_arg a = *req;
	long ret;

	memset(res->r, 0xa5, sizeof(res->r));
	a.vec = vec_len ? (uintptr_t)res->r : 0;
	a.vec_len = vec_len;
	a.walk_end = 0xdeadbeef;
	ret = ioctl(fd, PAGEMAP_SCAN, &a);
	res->ret = ret < 0 ? -errno : ret;
	res->walk_end = a.walk_end;
	res->n = ret > 0 ? ret : 0;
}

void pm_scan_print(const char *who, const struct pm_scan_result *res, long max)
{
	printf("#   %s: ret %ld walk_end %#" PRIx64 "\n", who, res->ret, (uint64_t)res->walk_end);
	for (long i = 0; i < res->n && i < max; i++)
		printf("#     [%ld] %#llx-%#llx cat %#llx\n", i, (unsigned long long)res->r[i].start,
		       (unsigned long long)res->r[i].end, (unsigned long long)res->r[i].categories);
}

bool pm_scan_same(const struct pm_scan_result *a, uintptr_t base_a,
		  const struct pm_scan_result *b, uintptr_t base_b)
{
	if (a->ret != b->ret || a->n != b->n)
		return false;
	if (a->walk_end - base_a != b->walk_end - base_b)
		return false;
	for (long i = 0; i < a->n; i++) {
		if (a->r[i].start - base_a != b->r[i].start - base_b ||
		    a->r[i].end - base_a != b->r[i].end - base_b ||
		    a->r[i].categories != b->r[i].categories)
			return false;
	}
	return true;
}

void pm_scan_print_args(const struct pm_scan_arg *a, uint64_t vec_len)
{
	printf("#   scan %#llx-%#llx flags %#llx inv %#llx mask %#llx anyof %#llx ret %#llx "
	       "vec_len %llu max_pages %llu\n",
	       (unsigned long long)a->start, (unsigned long long)a->end,
	       (unsigned long long)a->flags, (unsigned long long)a->category_inverted,
	       (unsigned long long)a->category_mask, (unsigned long long)a->category_anyof_mask,
	       (unsigned long long)a->return_mask, (unsigned long long)vec_len,
	       (unsigned long long)a->max_pages);
}

bool pm_scan_agree(int fd_proc, int fd_dev, const struct pm_scan_arg *req,
		   uint64_t vec_len)
{
	static struct pm_scan_result a, b, a2;

	for (int attempt = 0; attempt < 3; attempt++) {
		pm_scan_run(fd_proc, req, vec_len, &a);
		pm_scan_run(fd_dev, req, vec_len, &b);
		if (pm_scan_same(&a, 0, &b, 0))
			return true;
		pm_scan_run(fd_proc, req, vec_len, &a2);
		if (pm_scan_same(&a, 0, &a2, 0))
			break;	/* /proc is stable: the device is wrong */
		printf("# scans differ, but /proc changed too: again\n");
	}
	printf("# scans differ:\n");
	pm_scan_print_args(req, vec_len);
	pm_scan_print("proc", &a, 12);
	pm_scan_print("dev ", &b, 12);
	return false;
}

int pm_uffd_async(void)
{
	return pm_uffd_open(UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED |
			    UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
}

int pm_uffd_async_wp(int uffd, void *p, size_t len)
{
	if (pm_uffd_register(uffd, p, len, UFFDIO_REGISTER_MODE_WP))
		return -1;
	return pm_uffd_wp(uffd, p, len, true);
}

int pm_clear_soft_dirty(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY);
	int ret = -1;

	if (fd >= 0) {
		ret = write(fd, "4", 1) == 1 ? 0 : -1;
		close(fd);
	}
	return ret;
}

long pm_cat_at(int proc, void *p, size_t len, void *addr)
{
	static struct pm_scan_result r;
	struct pm_scan_arg a = pm_scan_req((uintptr_t)p, (uintptr_t)p + len, 0, 0, 0, 0,
					   PM_ALL_CATEGORIES);

	pm_scan_run(proc, &a, PM_MAX_REGIONS, &r);
	for (long i = 0; i < r.n; i++)
		if (r.r[i].start <= (uintptr_t)addr && (uintptr_t)addr < r.r[i].end)
			return r.r[i].categories;
	return -1;
}

int pm_scan_family_differs(int proc, int dev, void *p, size_t len)
{
	uintptr_t s = (uintptr_t)p, e = s + len;
	struct pm_scan_arg a = pm_scan_req(s, e, 0, 0, 0, 0, PM_ALL_CATEGORIES);
	int bad = !pm_scan_agree(proc, dev, &a, PM_MAX_REGIONS);

	for (int b = 0; b < 10; b++) {
		uint64_t c = 1ULL << b;

		a = pm_scan_req(s, e, 0, 0, c, 0, PM_ALL_CATEGORIES);
		bad += !pm_scan_agree(proc, dev, &a, PM_MAX_REGIONS);
		a = pm_scan_req(s, e, 0, c, c, 0, PM_ALL_CATEGORIES);
		bad += !pm_scan_agree(proc, dev, &a, PM_MAX_REGIONS);
		a = pm_scan_req(s, e, 0, 0, 0, c, c);
		bad += !pm_scan_agree(proc, dev, &a, PM_MAX_REGIONS);
	}
	return bad;
}

bool pm_twins_alike(int proc, void *a, void *b, size_t len)
{
	static struct pm_scan_result ra, rb;
	static uint64_t ea[8192], eb[8192];
	size_t n = len / PM_PAGE;
	struct pm_scan_arg r;

	r = pm_scan_req((uintptr_t)a, (uintptr_t)a + len, 0, 0, 0, 0, PM_ALL_CATEGORIES);
	pm_scan_run(proc, &r, PM_MAX_REGIONS, &ra);
	r = pm_scan_req((uintptr_t)b, (uintptr_t)b + len, 0, 0, 0, 0, PM_ALL_CATEGORIES);
	pm_scan_run(proc, &r, PM_MAX_REGIONS, &rb);
	if (!pm_scan_same(&ra, (uintptr_t)a, &rb, (uintptr_t)b)) {
		printf("# twins differ in categories\n");
		pm_scan_print("a", &ra, 8);
		pm_scan_print("b", &rb, 8);
		return false;
	}
	if (n > 8192 || pm_read_entries(proc, (uintptr_t)a, n, ea) ||
	    pm_read_entries(proc, (uintptr_t)b, n, eb))
		return false;
	for (size_t i = 0; i < n; i++) {
		if ((ea[i] ^ eb[i]) & ~RPM_PFRAME_MASK) {
			printf("# twins differ at page %zu: %#" PRIx64 " %#" PRIx64 "\n", i, ea[i], eb[i]);
			return false;
		}
	}
	return true;
}

bool pm_scan_twins_agree(int proc, int dev, void *a, void *b, size_t len,
			 const struct pm_scan_arg *req, uint64_t vec_len,
			 struct pm_scan_result *out)
{
	static struct pm_scan_result ra, rb;
	struct pm_scan_arg rq = *req;
	uintptr_t d = (uintptr_t)b - (uintptr_t)a;

	pm_scan_run(proc, &rq, vec_len, &ra);
	rq.start += d;
	rq.end += d;
	pm_scan_run(dev, &rq, vec_len, &rb);
	if (out)
		*out = ra;
	if (!pm_scan_same(&ra, (uintptr_t)a, &rb, (uintptr_t)b)) {
		printf("# results differ:\n");
		pm_scan_print_args(req, vec_len);
		pm_scan_print("proc", &ra, 12);
		pm_scan_print("dev ", &rb, 12);
		return false;
	}
	return pm_twins_alike(proc, a, b, len);
}