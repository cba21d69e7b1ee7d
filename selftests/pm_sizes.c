// SPDX-License-Identifier: GPL-2.0
/*
 * RPM_SCAN_PAGE_SIZES checked against smaps and /proc/kpageflags, and upstream's
 * output rules as a model (pm_sizes.h).
 */
#include "pm_sizes.h"

/* The /proc/self/smaps fields the sizes are checked with, per VMA. */
struct pm_smaps_vma {
	uintptr_t start, end;
	long kernel_page_kb, anon_huge_kb, shmem_pmd_kb, file_pmd_kb;
};

/* All VMAs of this process with their smaps fields; the count, -1 on error. */
static int pm_smaps_read(struct pm_smaps_vma *v, int max)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	char line[512];
	int n = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		char *sp = strchr(line, ' '), *dash = strchr(line, '-');
		long kb;

		if (sp && dash && dash < sp && sscanf(line, "%lx-%lx ", &s, &e) == 2) {
			if (n + 1 >= max)
				break;
			n++;
			memset(&v[n], 0, sizeof(v[n]));
			v[n].start = s;
			v[n].end = e;
			continue;
		}
		if (n < 0)
			continue;
		if (sscanf(line, "KernelPageSize: %ld kB", &kb) == 1)
			v[n].kernel_page_kb = kb;
		else if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			v[n].anon_huge_kb = kb;
		else if (sscanf(line, "ShmemPmdMapped: %ld kB", &kb) == 1)
			v[n].shmem_pmd_kb = kb;
		else if (sscanf(line, "FilePmdMapped: %ld kB", &kb) == 1)
			v[n].file_pmd_kb = kb;
	}
	fclose(f);
	return n + 1;
}

static const struct pm_smaps_vma *pm_smaps_find(const struct pm_smaps_vma *v, int n,
						 uintptr_t addr)
{
	for (int i = 0; i < n; i++)
		if (v[i].start <= addr && addr < v[i].end)
			return &v[i];
	return NULL;
}

static unsigned int pm_log2(uint64_t x)
{
	unsigned int s = 0;

	while (x > 1) {
		x >>= 1;
		s++;
	}
	return s;
}

/*
 * /proc/kpageflags is read through a cache of one window of 512 frames and of
 * the folio worked out last, and that cache lives for one picture only:
 * pm_sizes_check() empties it (pm_kpageflags_forget()) before it reads a frame.
 *
 * Kernel fact: a read of /proc/kpageflags is a snapshot of the frame's struct
 * page at that moment (stable_page_flags() over snapshot_page(), fs/proc/page.c
 * and mm/util.c), and COMPOUND_HEAD/COMPOUND_TAIL say which folio the frame is
 * part of then. That changes while the frame stays where it is: a THP is split
 * in place (split_huge_page: the deferred split of a partly unmapped THP,
 * MADV_PAGEOUT of part of a folio, debugfs split_huge_pages), a freed frame is
 * handed out again in a folio of another size (the page allocator hands out
 * recently freed frames first: a 4 KiB shmem page of this world where the last
 * world had a THP), khugepaged collapses 4 KiB folios into a new THP.
 * So flags read for an earlier picture say nothing about a frame in this one.
 */
struct pm_kpf_cache {
	uint64_t first;			/* frame of flags[0]; ~0: nothing cached */
	uint64_t n;			/* entries read (short at the end of memory) */
	uint64_t flags[512];
	uint64_t last_head, last_n;	/* the folio worked out last; ~0: none */
};

static struct pm_kpf_cache pm_kpf = { .first = ~0ULL, .last_head = ~0ULL };

/* Forget every flag read so far: the next read is the kernel's answer of now. */
static void pm_kpageflags_forget(void)
{
	pm_kpf.first = ~0ULL;
	pm_kpf.last_head = ~0ULL;
}

/* /proc/kpageflags of `pfn` (this picture's cache); ~0 on error or past the last frame. */
static uint64_t pm_kpageflags(uint64_t pfn)
{
	static int fd = -1;

	if (fd < 0)
		fd = open("/proc/kpageflags", O_RDONLY);
	if (fd < 0)
		return ~0ULL;
	if (pm_kpf.first == ~0ULL || pfn < pm_kpf.first || pfn >= pm_kpf.first + 512) {
		ssize_t got;

		pm_kpf.first = pfn & ~511ULL;
		got = pread(fd, pm_kpf.flags, sizeof(pm_kpf.flags), (off_t)pm_kpf.first * 8);
		if (got < 0) {
			pm_kpf.first = ~0ULL;
			return ~0ULL;
		}
		pm_kpf.n = (uint64_t)got / 8;
	}
	return pfn - pm_kpf.first < pm_kpf.n ? pm_kpf.flags[pfn - pm_kpf.first] : ~0ULL;
}

/*
 * log2 of the size of the compound page (folio) frame `pfn` belongs to, per
 * /proc/kpageflags: 12 for a page that is not compound. -1 on error.
 */
static int pm_folio_shift_of_pfn(uint64_t pfn)
{
	uint64_t f = pm_kpageflags(pfn), head, n;

	if (f == ~0ULL)
		return -1;
	if (!(f & (PM_KPF_HEAD | PM_KPF_TAIL)))
		return 12;
	/* A tail of the folio worked out last (a 1 GiB folio has 262144 pages). */
	if (pm_kpf.last_head != ~0ULL && pfn > pm_kpf.last_head &&
	    pfn < pm_kpf.last_head + pm_kpf.last_n && (f & PM_KPF_TAIL))
		return 12 + pm_log2(pm_kpf.last_n);
	for (head = pfn; pm_kpageflags(head) & PM_KPF_TAIL; head--)
		if (pfn - head > (1ULL << 18))
			return -1;
	if (!(pm_kpageflags(head) & PM_KPF_HEAD))
		return -1;
	for (n = 1; (pm_kpageflags(head + n) & (PM_KPF_TAIL | PM_KPF_HEAD)) == PM_KPF_TAIL; n++)
		if (n > (1ULL << 18))
			return -1;
	pm_kpf.last_head = head;
	pm_kpf.last_n = n;
	return 12 + pm_log2(n);
}

/*
 * Fill `pg` (npages entries from `base`) from a full scan through `fd`:
 * everything returned, no selection. With `sizes`, the scan has
 * RPM_SCAN_PAGE_SIZES and the sizes are taken from it; the regions must also
 * be well formed: in order, page aligned, not empty, and never two adjacent
 * ones with the same categories and sizes (they would have merged). Returns
 * NULL, or what is wrong.
 */
static const char *pm_sizes_picture(int fd, uintptr_t base, size_t npages, bool sizes,
				    struct pm_page *pg, struct pm_scan_result *res)
{
	struct pm_scan_arg a = pm_scan_req(base, base + npages * PM_PAGE,
					   sizes ? RPM_SCAN_PAGE_SIZES : 0, 0, 0, 0,
					   PM_ALL_CATEGORIES);

	memset(pg, 0, npages * sizeof(*pg));
	pm_scan_run(fd, &a, PM_MAX_REGIONS, res);
	if (res->ret < 0)
		return "the full scan failed";
	/*
	 * Room left in the array: the scan went to the end. (walk_end is no proof:
	 * past 512 regions upstream leaves it at the last restart of its walk.)
	 */
	if (res->n >= PM_MAX_REGIONS)
		return "the full scan did not fit the array";
	for (long i = 0; i < res->n; i++) {
		const struct page_region *r = &res->r[i];

		if (r->start >= r->end || r->start % PM_PAGE || r->end % PM_PAGE ||
		    r->start < base || r->end > base + npages * PM_PAGE)
			return "a region is empty, unaligned or outside the range";
		if (i && r->start < res->r[i - 1].end)
			return "regions out of order or overlapping";
		if (i && r->start == res->r[i - 1].end && r->categories == res->r[i - 1].categories)
			return "two adjacent regions with the same value were not merged";
		if (!sizes && (r->categories & PM_SIZE_BITS))
			return "size bits without RPM_SCAN_PAGE_SIZES";
		for (uintptr_t at = r->start; at < r->end; at += PM_PAGE) {
			struct pm_page *p = &pg[(at - base) / PM_PAGE];

			p->mapped = true;
			p->cat = r->categories & ~PM_SIZE_BITS;
			p->ent = RPM_REGION_ENTRY_SHIFT(r->categories);
			p->fol = RPM_REGION_FOLIO_SHIFT(r->categories);
		}
	}
	return NULL;
}

/* Regions of `res` with the size bits dropped and neighbours of equal value merged, in place. */
static void pm_sizes_remerge(struct pm_scan_result *res)
{
	long n = 0;

	for (long i = 0; i < res->n; i++) {
		struct page_region r = res->r[i];

		r.categories &= ~PM_SIZE_BITS;
		if (n && res->r[n - 1].end == r.start && res->r[n - 1].categories == r.categories)
			res->r[n - 1].end = r.end;
		else
			res->r[n++] = r;
	}
	res->n = n;
	res->ret = n;
}

const char *pm_sizes_check(int proc_fd, int dev_fd, uintptr_t base, size_t npages,
			   struct pm_page *dev, struct pm_page *proc,
			   uintptr_t *bad)
{
	static struct pm_scan_result rd, rp;
	static struct pm_smaps_vma vmas[1024];
	static uint64_t ent[4096];
	const char *why;
	int nv;

	*bad = base;
	why = pm_sizes_picture(dev_fd, base, npages, true, dev, &rd);
	if (why)
		return why;
	why = pm_sizes_picture(proc_fd, base, npages, false, proc, &rp);
	if (why)
		return why;
	pm_sizes_remerge(&rd);
	/*
	 * walk_end is not compared: past 512 regions (the bounce buffer) upstream
	 * leaves it at the last restart of its walk, and the sized scan has more
	 * regions. The model below checks it.
	 */
	rd.walk_end = rp.walk_end;
	if (!pm_scan_same(&rd, 0, &rp, 0))
		return "without the size bits, merged again, the regions are not /proc's";
	nv = pm_smaps_read(vmas, 1024);
	if (nv <= 0)
		return "cannot read /proc/self/smaps";
	/* The frames are looked up again: what an earlier picture read of them is past. */
	pm_kpageflags_forget();
	for (size_t i = 0; i < npages; i += 4096) {
		size_t n = npages - i < 4096 ? npages - i : 4096;

		if (pm_read_entries(proc_fd, base + i * PM_PAGE, n, ent))
			return "cannot read /proc/self/pagemap";
		for (size_t j = 0; j < n; j++) {
			uintptr_t at = base + (i + j) * PM_PAGE;
			const struct pm_page *d = &dev[i + j], *p = &proc[i + j];
			const struct pm_smaps_vma *v = pm_smaps_find(vmas, nv, at);
			unsigned int want_ent = 0;
			int want_fol = 0;

			*bad = at;
			if (d->mapped != p->mapped || d->cat != p->cat)
				return "categories differ from /proc's";
			if (!d->mapped)
				continue;
			if (!v)
				return "a reported page is in no VMA of smaps";
			if (v->kernel_page_kb > 4)
				want_ent = pm_log2((uint64_t)v->kernel_page_kb << 10);
			else if (p->cat & PAGE_IS_HUGE)
				want_ent = 21;
			else if (p->cat & (PAGE_IS_PRESENT | PAGE_IS_SWAPPED))
				want_ent = 12;
			if (d->ent != want_ent)
				return "entry size is not what smaps and /proc's categories say";
			if (p->cat & PAGE_IS_PRESENT) {
				if (!(ent[j] & RPM_PRESENT))
					return "/proc's scan and /proc's pagemap disagree (state changed?)";
				want_fol = pm_folio_shift_of_pfn(ent[j] & RPM_PFRAME_MASK);
				if (want_fol < 0)
					return "cannot work the folio out from /proc/kpageflags";
			}
			if ((int)d->fol != want_fol) {
				static char msg[128];

				snprintf(msg, sizeof(msg),
					 "folio size is not what /proc/kpageflags says (device %u, "
					 "kpageflags %d, frame %#llx)", d->fol, want_fol,
					 (unsigned long long)(ent[j] & RPM_PFRAME_MASK));
				return msg;
			}
		}
	}
	/*
	 * smaps' PMD-mapped totals: every PMD-mapped page in a VMA the range covers
	 * whole, but for the huge zero page, which smaps does not count.
	 */
	for (int k = 0; k < nv; k++) {
		long pmd_pages = 0;

		if (vmas[k].start < base || vmas[k].end > base + npages * PM_PAGE)
			continue;
		if (vmas[k].kernel_page_kb > 4)
			continue;
		for (uintptr_t at = vmas[k].start; at < vmas[k].end; at += PM_PAGE)
			pmd_pages += dev[(at - base) / PM_PAGE].ent == 21 &&
				     !(dev[(at - base) / PM_PAGE].cat & PAGE_IS_PFNZERO);
		*bad = vmas[k].start;
		if (pmd_pages * 4 !=
		    vmas[k].anon_huge_kb + vmas[k].shmem_pmd_kb + vmas[k].file_pmd_kb)
			return "pages with entry size 21 do not add up to smaps' PMD-mapped kB";
	}
	return NULL;
}

/* --- upstream's output rules over a picture ---------------------------- */

/*
 * What a scan `req` (with room for `vec_len` regions) must answer over the
 * picture `pg` of [base, base + npages pages), which must hold every page the
 * request can reach; `sizes` adds the size bits to each page's value, as
 * RPM_SCAN_PAGE_SIZES does. PM_SCAN_CHECK_WPASYNC and PM_SCAN_WP_MATCHING are
 * not modelled (-1 if asked). The rules, in page steps (a huge leaf output
 * at once ends up the same: a leaf either extends the current region or
 * needs a new one, and max_pages cuts it at the same page):
 * - a selected page extends the current region if it follows it with the same
 *   value, else starts one; none is free: ENOSPC, walk_end there;
 * - a page past max_pages: ENOSPC, walk_end there (a new, empty region may
 *   take a slot of the bounce buffer, and is never copied out);
 * - the bounce buffer holds min(vec_len, 512) regions; when it is full the
 *   walk stops (ENOSPC), is copied out, and a new walk starts at walk_end,
 *   unless the array is full or max_pages reached; walk_end, once set, is
 *   never reset by a later walk (upstream's loop).
 */
static int pm_sizes_model(const struct pm_page *pg, uintptr_t base, size_t npages,
			  const struct pm_scan_arg *req, uint64_t vec_len, bool sizes,
			  struct pm_scan_result *res)
{
	uint64_t end = (req->end + PM_PAGE - 1) & ~(PM_PAGE - 1);
	uint64_t maxp = req->max_pages ? req->max_pages : ~0ULL;
	uint64_t room = vec_len, found = 0, walk_end = 0, start = req->start;
	uint64_t buflen = vec_len < 512 ? vec_len : 512;
	long out = 0;

	if (req->flags & (PM_SCAN_CHECK_WPASYNC | PM_SCAN_WP_MATCHING))
		return -1;
	if (req->start < base || (req->start < end && end > base + npages * PM_PAGE))
		return -1;
	res->n = 0;
	while (start < end) {
		struct page_region buf[512];
		uint64_t idx = 0;
		bool nospc = false;

		buf[0].start = buf[0].end = 0;
		buf[0].categories = ~0ULL;
		for (uint64_t at = start; at < end && vec_len; at += PM_PAGE) {
			const struct pm_page *p = &pg[(at - base) / PM_PAGE];
			uint64_t c = p->cat ^ req->category_inverted, v, e = at + PM_PAGE;

			if (!p->mapped)
				continue;
			if ((c & req->category_mask) != req->category_mask ||
			    (req->category_anyof_mask && !(c & req->category_anyof_mask)))
				continue;
			v = p->cat & req->return_mask;
			if (sizes)
				v |= ((uint64_t)p->ent << 48) | ((uint64_t)p->fol << 56);
			if (found + 1 > maxp) {
				e = at;
				nospc = true;
			}
			if (!(at == buf[idx].end && v == buf[idx].categories)) {
				if (buf[idx].end != 0) {
					if (idx + 1 >= buflen) {
						e = at;
						nospc = true;
						walk_end = at;
						break;
					}
					idx++;
				}
				buf[idx].start = at;
				buf[idx].categories = v;
			}
			buf[idx].end = e;
			if (nospc) {
				walk_end = at;
				break;
			}
			found++;
		}
		if (vec_len) {
			uint64_t n = idx + (buf[idx].end != buf[idx].start);

			memcpy(&res->r[out], buf, n * sizeof(buf[0]));
			out += n;
			room -= n;
			buflen = buflen < room ? buflen : room;
		}
		if (!nospc || room == 0 || found == maxp)
			break;
		start = walk_end;
	}
	res->ret = out;
	res->n = out;
	res->walk_end = walk_end ? walk_end : end;
	return 0;
}

int pm_sizes_model_mismatches(int proc, int dev, uintptr_t base, size_t npages,
			      const struct pm_page *pg_dev,
			      const struct pm_page *pg_proc,
			      struct pm_scan_arg a, uint64_t vec_len)
{
	static struct pm_scan_result want, got;
	int bad = 0;

	if (pm_sizes_model(pg_proc, base, npages, &a, vec_len, false, &want))
		return 1;
	pm_scan_run(proc, &a, vec_len, &got);
	if (!pm_scan_same(&want, 0, &got, 0)) {
		printf("# the model is not upstream's:\n");
		pm_scan_print_args(&a, vec_len);
		pm_scan_print("model", &want, 12);
		pm_scan_print("proc ", &got, 12);
		bad++;
	}
	a.flags |= RPM_SCAN_PAGE_SIZES;
	pm_sizes_model(pg_dev, base, npages, &a, vec_len, true, &want);
	pm_scan_run(dev, &a, vec_len, &got);
	if (!pm_scan_same(&want, 0, &got, 0)) {
		printf("# the device differs from the model:\n");
		pm_scan_print_args(&a, vec_len);
		pm_scan_print("model", &want, 12);
		pm_scan_print("dev  ", &got, 12);
		bad++;
	}
	return bad;
}