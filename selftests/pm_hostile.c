// SPDX-License-Identifier: GPL-2.0
/* Invariants and process helpers of the hostile-use selftests (pm_hostile.h). */
#include "pm_hostile.h"

uint64_t pm_env_u64(const char *name, uint64_t def)
{
	const char *s = getenv(name);

	return s && *s ? strtoull(s, NULL, 0) : def;
}

double pm_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

const char *pm_entry_violation(uint64_t e, bool pfn_visible)
{
	bool present = e & RPM_PRESENT, swap = e & RPM_SWAP;

	if (e & PM_ENTRY_RESERVED)
		return "reserved bit 59/60 set";
	if (present && swap)
		return "present and swapped";
	if (!pfn_visible && (e & RPM_PFRAME_MASK))
		return "frame bits visible to a reader without CAP_SYS_ADMIN";
	if (!present && !swap) {
		/* A hole, an empty entry or a non-present hugetlb entry. */
		if (e & RPM_PFRAME_MASK)
			return "frame bits in an entry that is neither present nor swapped";
		if (e & (RPM_FILE | RPM_MMAP_EXCLUSIVE | RPM_GUARD_REGION))
			return "file/exclusive/guard bits in an empty entry";
	}
	if ((e & RPM_MMAP_EXCLUSIVE) && !present)
		return "exclusive but not present";
	if ((e & RPM_GUARD_REGION) && !swap)
		return "guard marker that is not a non-present entry";
	/* A marker's frame bits are its swap type and offset (seen with CAP_SYS_ADMIN). */
	if ((e & RPM_GUARD_REGION) && (e & (RPM_FILE | RPM_MMAP_EXCLUSIVE)))
		return "guard marker with a file or exclusive bit";
	return NULL;
}

const char *pm_scan_violation(const struct pm_scan_arg *a, long ret,
			      const struct page_region *r, uint64_t walk_end)
{
	uint64_t end = (a->end + PM_PAGE - 1) & ~(PM_PAGE - 1);
	uint64_t pages = 0, rm = a->return_mask;
	uint64_t max_pages = a->max_pages ? a->max_pages : UINT64_MAX;

	if ((uint64_t)ret > a->vec_len)
		return "more regions than vec_len";
	if (walk_end % PM_PAGE)
		return "walk_end not page-aligned";
	if (walk_end < a->start || walk_end > end)
		return "walk_end outside [start, end]";
	for (long i = 0; i < ret; i++) {
		const struct page_region *x = &r[i];
		uint64_t c = x->categories, ci = c ^ a->category_inverted;

		if (x->start % PM_PAGE || x->end % PM_PAGE)
			return "region not page-aligned";
		if (x->start >= x->end)
			return "empty or inverted region";
		if (x->start < a->start || x->end > end)
			return "region outside [start, end)";
		/*
		 * A scan that restarted (more than 512 regions: the bounce buffer)
		 * leaves walk_end at its last restart point, as upstream does, even
		 * though later walks reported more; with vec_len <= 512 there is one
		 * walk. A write-protecting scan also sets walk_end at a hugetlb page
		 * it could only cover in part, and walks on.
		 */
		if (a->vec_len <= 512 && !(a->flags & PM_SCAN_WP_MATCHING) && x->end > walk_end)
			return "region past walk_end";
		if (i && x->start < r[i - 1].end)
			return "regions not sorted or overlapping";
		/*
		 * Upstream's one exception: a write-protecting scan that splits a
		 * THP covered in part takes the huge page's region back and starts
		 * a new one for its pages, at the huge page's start.
		 */
		if (i && x->start == r[i - 1].end && c == r[i - 1].categories &&
		    !((a->flags & PM_SCAN_WP_MATCHING) && x->start % PM_HPAGE == 0))
			return "adjacent regions with equal categories not merged";
		if (c & ~rm)
			return "categories outside return_mask";
		if ((ci & a->category_mask & rm) != (a->category_mask & rm))
			return "region does not satisfy category_mask";
		if (a->category_anyof_mask && !(a->category_anyof_mask & ~rm) &&
		    !(ci & a->category_anyof_mask))
			return "region does not satisfy category_anyof_mask";
		if ((c & PAGE_IS_PRESENT) && (c & PAGE_IS_SWAPPED))
			return "present and swapped";
		if ((rm & PAGE_IS_PRESENT) && (c & PAGE_IS_PFNZERO) && !(c & PAGE_IS_PRESENT))
			return "zero page not present";
		if ((rm & PAGE_IS_SWAPPED) && (c & PAGE_IS_GUARD) && !(c & PAGE_IS_SWAPPED))
			return "guard marker not a non-present entry";
		if ((rm & PAGE_IS_PRESENT) && (c & PAGE_IS_GUARD) && (c & PAGE_IS_PRESENT))
			return "guard marker present";
		pages += (x->end - x->start) / PM_PAGE;
	}
	if (pages > max_pages)
		return "more pages than max_pages";
	return NULL;
}

bool pm_documented_errno(int e)
{
	return e == EINVAL || e == EFAULT || e == ESRCH || e == EACCES || e == EBADF ||
	       e == ENOMEM || e == EINTR || e == EPERM || e == ENOSPC;
}

bool pm_drop_to(uid_t uid)
{
	return !setgroups(0, NULL) && !setresgid(uid, uid, uid) && !setresuid(uid, uid, uid) &&
	       !prctl(PR_SET_DUMPABLE, 1);
}

int pm_pidfd_open(pid_t pid, unsigned int flags)
{
	return syscall(SYS_pidfd_open, pid, flags);
}

int pm_attach_pid(int dev, pid_t pid)
{
	int pidfd = pm_pidfd_open(pid, 0), ret, err;

	if (pidfd < 0)
		return -1;
	ret = ioctl(dev, RPM_IOC_ATTACH_PIDFD, pidfd);
	err = errno;
	close(pidfd);
	errno = err;
	return ret;
}

int pm_open_proc_of(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	return open(path, O_RDONLY);
}

void pm_pin_to_cpu(int cpu)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t set;

	if (n < 1)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu % n, &set);
	sched_setaffinity(0, sizeof(set), &set);
}