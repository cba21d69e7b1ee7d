// SPDX-License-Identifier: GPL-2.0
/* Reading through both files, comparing them, and the memory set-up helpers (pm_common.h). */
#include "pm_common.h"

int pm_open_proc(void)
{
	return open("/proc/self/pagemap", O_RDONLY);
}

int pm_open_dev(void)
{
	return open(RUST_PAGEMAP_DEV, O_RDONLY);
}

int pm_read_entries(int fd, uintptr_t start, size_t n, uint64_t *out)
{
	ssize_t got = pread(fd, out, n * 8, (off_t)(start / PM_PAGE) * 8);

	return got == (ssize_t)(n * 8) ? 0 : -1;
}

long pm_compare_range(int fd_proc, int fd_dev, uintptr_t start, uintptr_t end)
{
	const size_t chunk = 4096;
	static uint64_t a[4096], b[4096], a2[4096];
	long bad = 0, forgiven = 0;

	for (uintptr_t addr = start; addr < end; addr += chunk * PM_PAGE) {
		size_t n = (end - addr) / PM_PAGE;
		bool differ = false;

		if (n > chunk)
			n = chunk;
		if (pm_read_entries(fd_proc, addr, n, a) || pm_read_entries(fd_dev, addr, n, b)) {
			printf("# read of %#lx+%zu pages failed: %s\n", (unsigned long)addr, n,
			       strerror(errno));
			return -1;
		}
		for (size_t i = 0; i < n && !differ; i++)
			differ = a[i] != b[i];
		if (!differ)
			continue;
		if (pm_read_entries(fd_proc, addr, n, a2)) {
			printf("# read of %#lx+%zu pages failed: %s\n", (unsigned long)addr, n,
			       strerror(errno));
			return -1;
		}
		for (size_t i = 0; i < n; i++) {
			if (a[i] == b[i])
				continue;
			if (a2[i] != a[i]) {
				/* /proc itself changed here: the page changed state meanwhile. */
				if (forgiven++ < 4)
					printf("# %#lx: forgiven, /proc changed %#018" PRIx64
					       " -> %#018" PRIx64 " (dev %#018" PRIx64 ")\n",
					       (unsigned long)(addr + i * PM_PAGE), a[i], a2[i], b[i]);
				continue;
			}
			if (bad++ < 4)
				printf("# %#lx: proc %#018" PRIx64 " dev %#018" PRIx64 " xor %#" PRIx64
				       "\n",
				       (unsigned long)(addr + i * PM_PAGE), a[i], b[i], a[i] ^ b[i]);
		}
	}
	return bad;
}

long pm_compare_around(int fd_proc, int fd_dev, void *p, size_t len, size_t margin)
{
	uintptr_t start = (uintptr_t)p, end = start + len;

	start = start > margin * PM_PAGE ? start - margin * PM_PAGE : 0;
	return pm_compare_range(fd_proc, fd_dev, start, end + margin * PM_PAGE);
}

int pm_read_maps_of(int pid, struct pm_vma *v, int max)
{
	char path[64];
	FILE *f;
	char line[512];
	int n = 0;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/maps");
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (n < max && fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		int off = 0;

		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %n", &s, &e, &off) < 2)
			continue;
		v[n].start = s;
		v[n].end = e;
		snprintf(v[n].name, sizeof(v[n].name), "%s", off ? line + off : "");
		v[n].name[strcspn(v[n].name, "\n")] = 0;
		n++;
	}
	fclose(f);
	return n;
}

int pm_read_maps(struct pm_vma *v, int max)
{
	return pm_read_maps_of(0, v, max);
}

long pm_compare_all_maps_of(int pid, int fd_proc, int fd_dev, size_t margin)
{
	static struct pm_vma v[512];
	int n = pm_read_maps_of(pid, v, 512);
	long bad = 0;

	if (n <= 0)
		return -1;
	for (int i = 0; i < n; i++) {
		long r = pm_compare_around(fd_proc, fd_dev, (void *)v[i].start,
					   v[i].end - v[i].start, margin);
		if (r < 0)
			return -1;
		if (r)
			printf("# mismatch in %lx-%lx %s\n", (unsigned long)v[i].start,
			       (unsigned long)v[i].end, v[i].name);
		bad += r;
	}
	return bad;
}

long pm_compare_all_maps(int fd_proc, int fd_dev, size_t margin)
{
	return pm_compare_all_maps_of(0, fd_proc, fd_dev, margin);
}

long pm_smaps_kb(void *addr, const char *field)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	bool in = false;
	long val = -1;
	size_t flen = strlen(field);

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;

		if (sscanf(line, "%lx-%lx ", &s, &e) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = (uintptr_t)addr >= s && (uintptr_t)addr < e;
			continue;
		}
		if (in && !strncmp(line, field, flen) && line[flen] == ':') {
			val = strtol(line + flen + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return val;
}

bool pm_have_swap(void)
{
	FILE *f = fopen("/proc/swaps", "r");
	char line[256];
	int lines = 0;

	if (!f)
		return false;
	while (fgets(line, sizeof(line), f))
		lines++;
	fclose(f);
	return lines > 1;
}

void *pm_map_aligned(size_t len, int prot, int flags, int fd)
{
	size_t span = len + PM_HPAGE;
	char *raw = mmap(NULL, span, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uintptr_t aligned;

	if (raw == MAP_FAILED)
		return MAP_FAILED;
	aligned = ((uintptr_t)raw + PM_HPAGE - 1) & ~(PM_HPAGE - 1);
	munmap(raw, span);
	return mmap((void *)aligned, len, prot, flags | MAP_FIXED_NOREPLACE, fd, 0);
}

static bool pm_page_mappable(uintptr_t at)
{
	void *p = mmap((void *)at, PM_PAGE, PROT_NONE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (p == MAP_FAILED)
		return errno == EEXIST;
	munmap(p, PM_PAGE);
	return p == (void *)at;
}

uintptr_t pm_user_top(void)
{
	static uintptr_t top;
	const uintptr_t cand[] = { PM_TOP_5LEVEL, PM_TOP_4LEVEL };

	for (size_t i = 0; !top && i < sizeof(cand) / sizeof(cand[0]); i++)
		if (pm_page_mappable(cand[i] - PM_PAGE) && !pm_page_mappable(cand[i]))
			top = cand[i];
	return top;
}

void *pm_map_high(size_t len, size_t below, int flags, int fd)
{
	uintptr_t top = pm_user_top();

	for (uintptr_t off = 0; top && off <= below; off += PM_HPAGE) {
		uintptr_t at = ((top - len - off) & ~(PM_HPAGE - 1));
		void *p = mmap((void *)at, len, PROT_READ | PROT_WRITE,
			       flags | MAP_FIXED_NOREPLACE, fd, 0);

		if (p != MAP_FAILED)
			return p;
	}
	return MAP_FAILED;
}

int pm_paging_levels(void)
{
	return pm_user_top() == PM_TOP_5LEVEL ? 5 : 4;
}

bool pm_write_file(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY);
	bool ok;

	if (fd < 0)
		return false;
	ok = write(fd, s, strlen(s)) == (ssize_t)strlen(s);
	close(fd);
	return ok;
}

bool pm_read_file(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return false;
	n = read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return false;
	buf[n] = 0;
	buf[strcspn(buf, "\n")] = 0;
	return true;
}

bool pm_khugepaged_sleep(char *old, size_t len)
{
	static const char forever[] = "4294967295";

	if (!pm_read_file(PM_KHUGEPAGED_SLEEP, old, len))
		return false;
	if (!strcmp(old, forever)) {
		old[0] = 0;
		return true;
	}
	return pm_write_file(PM_KHUGEPAGED_SLEEP, forever);
}

void pm_khugepaged_restore(const char *old)
{
	if (old[0])
		pm_write_file(PM_KHUGEPAGED_SLEEP, old);
}

void pm_touch(void *p, size_t len, size_t stride, bool w)
{
	volatile char *c = p;

	for (size_t off = 0; off < len; off += stride) {
		if (w)
			c[off] = (char)(off / PM_PAGE + 1);
		else
			(void)c[off];
	}
}