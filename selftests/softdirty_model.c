// SPDX-License-Identifier: GPL-2.0
/*
 * Randomized model test of soft-dirty: never a false clean
 * (model.never_a_false_clean), and clean exactly where a clear cleaned
 * (model.cleared_pages_read_clean_and_others_unchanged, below "clean after a
 * clear": a shorter run of the same steps, RPM_MODEL_CLEAN_STEPS of them).
 *
 * A handful of regions of a few MiB each (private anonymous with and without
 * THP, a shared memfd, shared anonymous memory, a tmpfs file, private 2 MiB
 * hugetlb) go through a seeded random sequence of steps: writes, reads,
 * MADV_DONTNEED, MADV_PAGEOUT, mprotect, MAP_FIXED replacement, munmap,
 * mremap (move, grow, shrink), MADV_COLLAPSE, fork (the child writes in its
 * own mm while the parent writes copy-on-write pages), ranged clears
 * (RPM_IOC_CLEAR_SOFT_DIRTY), whole-process clears (RPM_IOC_CLEAR_SOFT_DIRTY_ALL
 * and, as its twin, 4 into /proc/self/clear_refs), get-and-clears (PAGEMAP_SCAN
 * with RPM_SCAN_CLEAR_SOFT_DIRTY on the device) with random masks, max_pages
 * and vec_len, and ranged clears that must fail with ENOMEM (vm.max_map_count
 * lowered so that a split is refused).
 *
 * The model keeps one bit per page, "must read dirty". It is set when the
 * page is written, when its mapping is new (mmap, MAP_FIXED) and when mremap
 * moves it PTE by PTE (move_soft_dirty_pte()). It is cleared only by
 *   - a ranged or whole clear that covers the page and succeeded, and
 *   - a get-and-clear that succeeded and reported the page;
 * and it is forgotten where the kernel itself drops the page table entry that
 * holds soft-dirty: MADV_DONTNEED and munmap of the page, MADV_PAGEOUT of a
 * shared page (reclaim unmaps a large folio whole: 2 MiB either side),
 * MADV_COLLAPSE of shared memory, and the split of a PMD-mapped shared THP
 * (file and shmem huge PMDs are zapped on split, __split_huge_pmd_locked())
 * by an operation of the test -- never by a clear of the device.
 * Kernel facts the model follows (fs/proc/task_mmu.c, mm/mremap.c):
 *   - a pagemap read of hugetlb takes bit 55 from VM_SOFTDIRTY only, so a
 *     hugetlb write sets nothing; only a new mapping does;
 *   - a move at the same offset within 2 MiB may move whole page tables
 *     (move_normal_pmd()), which keeps each PTE as it is: the page keeps its
 *     own bit wherever it goes;
 *   - growing in place does not mark the VMA: grown pages start with none.
 *
 * After every step every page that must read dirty is read through
 * /proc/self/pagemap and through a pread of the device; bit 55 must be set in
 * both. After a step of the device, a whole clear or fork every region is
 * read; after a step of the kernel's own on one region (write, madvise,
 * mprotect, mmap, mremap) that region, as nothing else can have changed. A get-and-clear must also report every page that must read
 * dirty and that its masks select (the categories come from a PAGEMAP_SCAN of
 * /proc just before), up to its walk_end. Right after a whole clear, every
 * page of the private anonymous regions must read clean (clear_refs does that:
 * fs/proc/task_mmu.c clears VM_SOFTDIRTY and every PTE and PMD). Pages are
 * never otherwise required to read clean in this test: the kernel may report
 * more. The second test requires it after every clear, as strictly as this one
 * requires dirty after a write, with the kernel's own exceptions (see "clean
 * after a clear" below).
 *
 * The seed is printed; RPM_SEED=<seed> replays a run, RPM_MODEL_STEPS=<n>
 * changes the number of steps (DEFAULT_STEPS). Every step is required, however
 * slow the machine; RPM_MODEL_CAP_SECONDS bounds the time (DEFAULT_CAP_SECONDS):
 * a run that has not made its steps by then stops and fails, with the count.
 */
#include "pm_clear.h"

#include <setjmp.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include "kselftest_harness.h"

#ifndef MAP_HUGE_SHIFT
#define MAP_HUGE_SHIFT 26
#endif
#define MAP_HUGE_2MB (21 << MAP_HUGE_SHIFT)
#ifndef MREMAP_FIXED
#define MREMAP_FIXED 2
#endif

#ifndef DEFAULT_SEED
#define DEFAULT_SEED 0x50f7d1e7ULL
#endif
/* Per run; make check runs it once per paging mode, 20,000 steps in all. */
#ifndef DEFAULT_STEPS
#define DEFAULT_STEPS 10000
#endif
/* Steps of the test of clean after every clear (RPM_MODEL_CLEAN_STEPS). */
#ifndef DEFAULT_CLEAN_STEPS
#define DEFAULT_CLEAN_STEPS 2000
#endif
/*
 * Under the runner's 600 s per program (selftests/settings), with setup and
 * teardown: both tests' caps together (RPM_MODEL_CLEAN_CAP_SECONDS the second's).
 */
#define DEFAULT_CAP_SECONDS 420
#define DEFAULT_CLEAN_CAP_SECONDS 120
#define HPAGES 512			/* 4 KiB pages in a 2 MiB page */
#define GUARD (2 * HPAGES)		/* reserved pages around every slot */
#define HIST 8				/* ops remembered per page */
#define MAX_PRINTED 60			/* violations printed in full */
#define MAX_PRINTED_STEP 3		/* ... and per step */
#ifndef MAX_VIOLATIONS
#define MAX_VIOLATIONS 200		/* a run stops after this many */
#endif

/* --- randomness ---------------------------------------------------------- */

/*
 * Its own xorshift64*, not pm_rng.h's generator: the default seeds below were
 * run with this stream, and on pm_rng.h's (tried) no operation ever met the
 * anonymous THP while it was PMD-mapped, so the coverage check failed.
 */
static uint64_t rng;

static uint64_t rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 0x2545F4914F6CDD1DULL;
}

static uint64_t below(uint64_t n)
{
	return n ? rnd() % n : 0;
}

static bool chance(unsigned int pct)
{
	return below(100) < pct;
}

/* --- regions -------------------------------------------------------------- */

enum kind { K_ANON, K_ANON_THP, K_MEMFD, K_SHM_ANON, K_FILE, K_HUGETLB, NKINDS };

static const char *const kind_name[NKINDS] = {
	"anon", "anon-thp", "memfd", "shared-anon", "tmpfs-file", "hugetlb",
};

/* Pages at the start and at most (capacity); multiples of 512 for hugetlb. */
static const size_t kind_pages[NKINDS] = { 128, 640, 640, 512, 128, 1024 };
static const size_t kind_cap[NKINDS] = { 256, 768, 768, 512, 256, 1024 };

enum op {
	OP_NONE,
	OP_WRITE,
	OP_READ,
	OP_DONTNEED,
	OP_PAGEOUT,
	OP_MPROTECT,
	OP_MAP_FIXED,
	OP_MUNMAP,
	OP_MOVE,
	OP_GROW,
	OP_SHRINK,
	OP_COLLAPSE,
	OP_FORK,
	OP_CLEAR_RANGE,
	OP_CLEAR_ALL,
	OP_CLEAR_REFS,
	OP_GET_CLEAR,
	OP_FAILED_CLEAR,
	OP_SPLIT_ZAP,			/* not a step: a PMD split the kernel zapped */
	NOPS
};

static const char *const op_name[NOPS] = {
	"none", "write", "read", "dontneed", "pageout", "mprotect", "map-fixed", "munmap",
	"mremap-move", "mremap-grow", "shrink", "collapse", "fork", "clear-range",
	"clear-all", "clear-refs", "get-and-clear", "failed-clear", "shared-thp-split",
};

struct hent {
	uint32_t step;
	uint8_t op;
	char eff;	/* '+' must read dirty, '-' cleared, '~' forgotten, '.' no change */
};

struct region {
	enum kind kind;
	int fd;			/* memfd or tmpfs file; -1 otherwise */
	size_t len, cap;	/* pages */
	char *slot[2];		/* two places to live, cap + HPAGES pages each */
	int cur;
	size_t shift;		/* pages from slot[cur] to base */
	char *base;
	uint8_t *must, *mapped, *prot;
	struct hent *hist;	/* cap * HIST */
	uint8_t *hpos;
};

static struct region reg[NKINDS];
static int proc_fd, dev_fd;
static long step;
static uint64_t run_seed;
static bool have_swap;
static char step_desc[512];	/* what the current step did, for violation reports */
static long step_reported = -1, step_printed;

#define DESCRIBE(...) snprintf(step_desc, sizeof(step_desc), __VA_ARGS__)

/* Outcome counters. */
static long violations, missed_reports, not_cleared, errors;
static long violations_after[NOPS];
static long ops_done[NOPS], ops_ok[NOPS];
static long gc_reported, gc_regions, enomem_seen, strict_checks, must_checked;
static long thp_seen, shmem_thp_seen, swapped_seen, moves_misaligned, forks_cow;
static double op_seconds[NOPS];
/* Why MADV_COLLAPSE was refused, by errno (diagnostic, printed at the end). */
static long collapse_refused[4];	/* EINVAL, EAGAIN, ENOMEM, other */
static long collapsed_small;		/* collapses that found the block PTE-mapped */

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static bool is_shared(const struct region *r)
{
	return r->kind == K_MEMFD || r->kind == K_SHM_ANON || r->kind == K_FILE;
}

static bool is_hugetlb(const struct region *r)
{
	return r->kind == K_HUGETLB;
}

static char *page_addr(const struct region *r, long i)
{
	return r->base + i * (long)PM_PAGE;
}

static void hist_add(struct region *r, size_t i, enum op op, char eff)
{
	struct hent *h = &r->hist[i * HIST + r->hpos[i]];

	h->step = (uint32_t)step;
	h->op = (uint8_t)op;
	h->eff = eff;
	r->hpos[i] = (r->hpos[i] + 1) % HIST;
}

static void set_must(struct region *r, size_t i, enum op op)
{
	r->must[i] = 1;
	hist_add(r, i, op, '+');
}

static void clear_must(struct region *r, size_t i, enum op op)
{
	if (r->must[i])
		hist_add(r, i, op, '-');
	r->must[i] = 0;
}

static void forget(struct region *r, size_t i, enum op op)
{
	if (r->must[i])
		hist_add(r, i, op, '~');
	r->must[i] = 0;
}

/* The first time a step shows a violation, say what the step did. */
static void print_step(void)
{
	if (step_reported == step)
		return;
	step_reported = step;
	step_printed = 0;
	printf("# step %ld was: %s\n", step, step_desc[0] ? step_desc : "(setup)");
}

static long detailed;

/* Whether to print this violation in full: a few per step, a few dozen per run. */
static bool want_detail(void)
{
	if (detailed >= MAX_PRINTED)
		return false;
	print_step();
	if (step_printed >= MAX_PRINTED_STEP)
		return false;
	step_printed++;
	detailed++;
	return true;
}

static void print_hist(const struct region *r, size_t i)
{
	char line[512];
	int n = 0;

	for (int k = 0; k < HIST; k++) {
		const struct hent *h = &r->hist[i * HIST + (r->hpos[i] + k) % HIST];

		if (h->op == OP_NONE)
			continue;
		n += snprintf(line + n, sizeof(line) - n, " %u:%s%c", h->step, op_name[h->op],
			      h->eff);
		if (n >= (int)sizeof(line))
			break;
	}
	printf("#     history of the page (step:op, + dirtied - cleared ~ forgotten):%s\n",
	       n ? line : " (none)");
}

/* --- faults while touching memory ----------------------------------------- */

static sigjmp_buf touch_env;
static volatile sig_atomic_t in_touch;
static long unexpected_faults;

static void on_fault(int sig)
{
	if (!in_touch)
		_exit(128 + sig);
	siglongjmp(touch_env, 1);
}

static void install_fault_handler(void)
{
	struct sigaction sa = { .sa_handler = on_fault, .sa_flags = SA_NODEFER };

	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
}

/* Read or write one byte (never zero: zero-filled pages may become the zero page); false on a fault. */
static bool touch(char *p, bool write)
{
	in_touch = 1;
	if (sigsetjmp(touch_env, 0)) {
		in_touch = 0;
		return false;
	}
	if (write)
		*(volatile char *)p = (char)(step | 1);
	else
		(void)*(volatile char *)p;
	in_touch = 0;
	return true;
}

/* --- mapping -------------------------------------------------------------- */

static char *reserve(char *at, size_t pages)
{
	return mmap(at, pages * PM_PAGE, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
}

/* Map pages [s, e) of `r` anew, read-write, as its kind; false on failure. */
static bool map_fresh(struct region *r, size_t s, size_t e)
{
	char *a = page_addr(r, s), *p;
	size_t len = (e - s) * PM_PAGE;
	int rw = PROT_READ | PROT_WRITE;

	switch (r->kind) {
	case K_ANON:
	case K_ANON_THP:
		p = mmap(a, len, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		break;
	case K_MEMFD:
	case K_FILE:
		p = mmap(a, len, rw, MAP_SHARED | MAP_FIXED, r->fd, (off_t)(s * PM_PAGE));
		break;
	case K_SHM_ANON:
		p = mmap(a, len, rw, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
		break;
	case K_HUGETLB:
		p = mmap(a, len, rw, MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB | MAP_HUGE_2MB |
					     MAP_FIXED, -1, 0);
		break;
	default:
		return false;
	}
	if (p != a)
		return false;
	if (r->kind == K_ANON)
		madvise(a, len, MADV_NOHUGEPAGE);
	else if (r->kind != K_HUGETLB)
		madvise(a, len, MADV_HUGEPAGE);
	return true;
}

static void mark_fresh(struct region *r, size_t s, size_t e, enum op op)
{
	for (size_t i = s; i < e; i++) {
		r->mapped[i] = 1;
		r->prot[i] = PROT_READ | PROT_WRITE;
		set_must(r, i, op);
	}
}

static bool region_setup(struct region *r, enum kind k, char *area)
{
	size_t slot_pages;

	memset(r, 0, sizeof(*r));
	r->kind = k;
	r->fd = -1;
	r->len = kind_pages[k];
	r->cap = kind_cap[k];
	slot_pages = (r->cap + 2 * HPAGES - 1) / HPAGES * HPAGES;
	r->slot[0] = area + GUARD * PM_PAGE;
	r->slot[1] = r->slot[0] + (slot_pages + GUARD) * PM_PAGE;
	r->base = r->slot[0];
	r->must = calloc(r->cap, 1);
	r->mapped = calloc(r->cap, 1);
	r->prot = calloc(r->cap, 1);
	r->hpos = calloc(r->cap, 1);
	r->hist = calloc(r->cap * HIST, sizeof(*r->hist));
	if (!r->must || !r->mapped || !r->prot || !r->hpos || !r->hist)
		return false;
	if (k == K_MEMFD || k == K_FILE) {
		/* Room for the odd offsets failed_clear maps, and for growing those. */
		off_t size = (off_t)(3 * r->cap + HPAGES) * PM_PAGE;

		if (k == K_MEMFD) {
			r->fd = memfd_create("rpm-model", 0);
		} else {
			char path[] = "/tmp/rpm-model-XXXXXX";

			r->fd = mkstemp(path);
			if (r->fd >= 0)
				unlink(path);
		}
		if (r->fd < 0 || ftruncate(r->fd, size))
			return false;
	}
	if (!map_fresh(r, 0, r->len))
		return false;
	mark_fresh(r, 0, r->len, OP_MAP_FIXED);
	return true;
}

/* Pages of the area one region needs: guard, slot, guard, slot, guard. */
static size_t region_span(enum kind k)
{
	size_t slot_pages = (kind_cap[k] + 2 * HPAGES - 1) / HPAGES * HPAGES;

	return 3 * GUARD + 2 * slot_pages;
}

/* Number of VMAs (mm->map_count): the lines of /proc/self/maps but the gate VMA. */
static long map_count(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	long n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (!strstr(line, "[vsyscall]"))
			n++;
	fclose(f);
	return n;
}

/* VMAs overlapping [a, b), and the start of the one holding `at` (if any). */
static int vmas_in(uintptr_t a, uintptr_t b, uintptr_t at, uintptr_t *start_of_at)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;

		if (sscanf(line, "%lx-%lx", &s, &e) != 2)
			continue;
		if (s < b && e > a)
			n++;
		if (s <= at && at < e && start_of_at)
			*start_of_at = s;
	}
	fclose(f);
	return n;
}

static bool sysfs_rw(const char *path, char *buf, size_t len, bool store)
{
	int fd = open(path, store ? O_WRONLY : O_RDONLY);
	ssize_t n;

	if (fd < 0)
		return false;
	n = store ? (ssize_t)(write(fd, buf, strlen(buf)) == (ssize_t)strlen(buf)) :
		    read(fd, buf, len - 1);
	close(fd);
	if (!store && n > 0)
		buf[n] = 0;
	return n > 0;
}

#define MAX_MAP_COUNT "/proc/sys/vm/max_map_count"
#define KHUGEPAGED_SLEEP "/sys/kernel/mm/transparent_hugepage/khugepaged/scan_sleep_millisecs"

static char saved_max_map_count[32];

/* --- what the kernel shows ------------------------------------------------ */

static uint64_t ent_proc[2048], ent_dev[2048];

static bool read_region(const struct region *r)
{
	if (pm_read_entries(proc_fd, (uintptr_t)r->base, r->len, ent_proc) ||
	    pm_read_entries(dev_fd, (uintptr_t)r->base, r->len, ent_dev)) {
		printf("# step %ld: reading %s failed: %s\n", step, kind_name[r->kind],
		       strerror(errno));
		errors++;
		return false;
	}
	return true;
}

/*
 * Categories of pages [s, e) of `r` per a PAGEMAP_SCAN of /proc (the oracle)
 * into cat[i - s]; -1 for a page in no VMA.
 */
static bool categories(const struct region *r, long s, long e, int32_t *cat)
{
	static struct pm_scan_result res;
	uintptr_t a = (uintptr_t)page_addr(r, s), b = (uintptr_t)page_addr(r, e);
	struct pm_scan_arg q = pm_scan_req(a, b, 0, 0, 0, 0, PM_ALL_CATEGORIES);

	for (long i = 0; i < e - s; i++)
		cat[i] = -1;
	pm_scan_run(proc_fd, &q, PM_MAX_REGIONS, &res);
	if (res.ret < 0 || res.n >= PM_MAX_REGIONS) {
		printf("# step %ld: scan of /proc failed: %ld\n", step, res.ret);
		errors++;
		return false;
	}
	for (long k = 0; k < res.n; k++)
		for (uintptr_t x = res.r[k].start; x < res.r[k].end; x += PM_PAGE)
			cat[(x - a) / PM_PAGE] = (int32_t)res.r[k].categories;
	return true;
}

/* Pages of `r` in a PMD-mapped THP right now (category HUGE outside hugetlb). */
static uint8_t in_pmd[2048];

static void note_pmd_mapped(struct region *r)
{
	static int32_t cat[2048];

	memset(in_pmd, 0, sizeof(in_pmd));
	if (!is_shared(r) || !categories(r, 0, r->len, cat))
		return;
	for (size_t i = 0; i < r->len; i++)
		in_pmd[i] = cat[i] >= 0 && (cat[i] & PAGE_IS_HUGE);
}

/* Coverage: which states the pages of a scan were in. */
static void note_seen(const struct region *r, const int32_t *cat, long n)
{
	for (long i = 0; i < n; i++) {
		if (cat[i] < 0)
			continue;
		if ((cat[i] & PAGE_IS_HUGE) && is_shared(r))
			shmem_thp_seen++;
		else if ((cat[i] & PAGE_IS_HUGE) && !is_hugetlb(r))
			thp_seen++;
		if (cat[i] & PAGE_IS_SWAPPED)
			swapped_seen++;
	}
}

/*
 * An operation on [s, e) of a shared region splits every PMD-mapped THP it
 * covers only in part; the kernel zaps such a PMD, so every page of it forgets
 * its soft-dirty state. Call with in_pmd filled before the operation.
 */
static void forget_split_blocks(struct region *r, long s, long e)
{
	uintptr_t a = (uintptr_t)page_addr(r, s), b = (uintptr_t)page_addr(r, e);

	if (!is_shared(r))
		return;
	for (size_t i = 0; i < r->len; i++) {
		uintptr_t blk = (uintptr_t)page_addr(r, i) & ~(PM_HPAGE - 1);

		if (!in_pmd[i] || blk + PM_HPAGE <= a || blk >= b)
			continue;
		if (blk < a || blk + PM_HPAGE > b)
			forget(r, i, OP_SPLIT_ZAP);
	}
}

/* --- picking ranges -------------------------------------------------------- */

/* A random range of pages [s, e) of `r`, non-empty; whole huge pages for hugetlb. */
static void pick_range(const struct region *r, long *s, long *e)
{
	long len = (long)r->len, n;

	if (is_hugetlb(r)) {
		long hp = len / HPAGES, a = (long)below(hp), c = 1 + (long)below(hp - a);

		*s = a * HPAGES;
		*e = (a + c) * HPAGES;
		return;
	}
	switch (below(20)) {
	case 0 ... 9:
		n = 1 + (long)below(16);
		break;
	case 10 ... 15:
		n = 1 + (long)below(64);
		break;
	case 16 ... 18:
		n = 1 + (long)below(len);
		break;
	default:
		n = len;
		break;
	}
	if (n > len)
		n = len;
	*s = (long)below(len - n + 1);
	*e = *s + n;
}

/* Like pick_range, sometimes reaching a little past the region into its reservation. */
static void pick_range_out(const struct region *r, long *s, long *e)
{
	pick_range(r, s, e);
	if (chance(15))
		*s -= (long)below(64);
	if (chance(15))
		*e += (long)below(64);
	if (!is_hugetlb(r) && chance(10)) {
		/* An arbitrary 4 KiB-aligned slice, also across huge pages. */
		*s = (long)below(r->len);
		*e = *s + 1 + (long)below(r->len - *s);
	}
}

/* Shrink [s, e) to its first run of mapped pages; false if none. */
static bool clip_to_mapped(const struct region *r, long *s, long *e)
{
	while (*s < *e && !r->mapped[*s])
		(*s)++;
	if (*s >= *e)
		return false;
	for (long i = *s; i < *e; i++)
		if (!r->mapped[i]) {
			*e = i;
			break;
		}
	return true;
}

/* --- steps ---------------------------------------------------------------- */

static void write_page(struct region *r, size_t i, enum op op)
{
	if (!r->mapped[i] || !(r->prot[i] & PROT_WRITE))
		return;
	if (!touch(page_addr(r, i), true)) {
		printf("# step %ld: writing %s page %zu faulted\n", step, kind_name[r->kind], i);
		unexpected_faults++;
		return;
	}
	if (is_hugetlb(r)) {
		/*
		 * A pagemap read of hugetlb takes soft-dirty from VM_SOFTDIRTY only
		 * (pagemap_hugetlb_range()), never from the huge PTE: once a clear
		 * took the VMA's flag, writes stay invisible there.
		 */
		hist_add(r, i, op, '.');
	} else {
		set_must(r, i, op);
	}
}

static void op_write(struct region *r)
{
	long s, e, stride = chance(30) ? 1 + (long)below(8) : 1;

	pick_range(r, &s, &e);
	DESCRIBE("write %s pages [%ld, %ld) stride %ld", kind_name[r->kind], s, e, stride);
	for (long i = s; i < e; i += stride)
		write_page(r, i, OP_WRITE);
	ops_ok[OP_WRITE]++;
}

static void op_read(struct region *r)
{
	long s, e;

	pick_range(r, &s, &e);
	DESCRIBE("read %s pages [%ld, %ld)", kind_name[r->kind], s, e);
	for (long i = s; i < e; i++) {
		if (!r->mapped[i] || !(r->prot[i] & PROT_READ))
			continue;
		if (!touch(page_addr(r, i), false)) {
			printf("# step %ld: reading %s page %ld faulted\n", step, kind_name[r->kind], i);
			unexpected_faults++;
		}
	}
	ops_ok[OP_READ]++;
}

static void op_dontneed(struct region *r)
{
	long s, e;

	pick_range(r, &s, &e);
	DESCRIBE("MADV_DONTNEED %s pages [%ld, %ld)", kind_name[r->kind], s, e);
	note_pmd_mapped(r);
	/* With a hole in the range madvise says ENOMEM but still zaps the rest. */
	if (!madvise(page_addr(r, s), (e - s) * PM_PAGE, MADV_DONTNEED))
		ops_ok[OP_DONTNEED]++;
	forget_split_blocks(r, s, e);
	for (long i = s; i < e; i++) {
		forget(r, i, OP_DONTNEED);
	}
}

static void op_pageout(struct region *r)
{
	long s, e;

	pick_range(r, &s, &e);
	DESCRIBE("MADV_PAGEOUT %s pages [%ld, %ld)", kind_name[r->kind], s, e);
	note_pmd_mapped(r);
	if (!madvise(page_addr(r, s), (e - s) * PM_PAGE, MADV_PAGEOUT))
		ops_ok[OP_PAGEOUT]++;
	/*
	 * Anonymous pages go to swap entries that keep the bit. Shared ones drop
	 * their PTEs, and reclaim unmaps a large folio whole, also where it
	 * reaches out of the range: forget up to 2 MiB either side.
	 */
	if (is_shared(r)) {
		forget_split_blocks(r, s, e);
		for (long i = s - HPAGES + 1; i < e + HPAGES - 1; i++)
			if (i >= 0 && i < (long)r->len)
				forget(r, i, OP_PAGEOUT);
	}
}

static void op_mprotect(struct region *r)
{
	static const int prots[] = { PROT_READ | PROT_WRITE, PROT_READ | PROT_WRITE, PROT_READ,
				     PROT_READ, PROT_NONE };
	int prot = prots[below(5)];
	long s, e;

	pick_range(r, &s, &e);
	if (!clip_to_mapped(r, &s, &e))
		return;
	DESCRIBE("mprotect %s pages [%ld, %ld) to %d", kind_name[r->kind], s, e, prot);
	note_pmd_mapped(r);
	forget_split_blocks(r, s, e);
	if (mprotect(page_addr(r, s), (e - s) * PM_PAGE, prot)) {
		printf("# step %ld: mprotect of %s [%ld, %ld) failed: %s\n", step,
		       kind_name[r->kind], s, e, strerror(errno));
		errors++;
		return;
	}
	for (long i = s; i < e; i++)
		r->prot[i] = (uint8_t)prot;
	ops_ok[OP_MPROTECT]++;
}

/* The first run of unmapped pages of `r`, if any. */
static bool find_hole(const struct region *r, long *s, long *e)
{
	for (long i = 0; i < (long)r->len; i++) {
		if (r->mapped[i])
			continue;
		*s = i;
		while (i < (long)r->len && !r->mapped[i])
			i++;
		*e = i;
		return true;
	}
	return false;
}

static void op_map_fixed(struct region *r)
{
	long s, e;

	if (!(chance(40) && find_hole(r, &s, &e)))
		pick_range(r, &s, &e);
	DESCRIBE("MAP_FIXED %s pages [%ld, %ld)", kind_name[r->kind], s, e);
	note_pmd_mapped(r);
	forget_split_blocks(r, s, e);
	if (!map_fresh(r, s, e)) {
		printf("# step %ld: MAP_FIXED of %s [%ld, %ld) failed: %s\n", step,
		       kind_name[r->kind], s, e, strerror(errno));
		errors++;
		/* What is there now is unknown: nothing is required of it. */
		for (long i = s; i < e; i++) {
			forget(r, i, OP_MAP_FIXED);
			r->mapped[i] = 0;
		}
		return;
	}
	mark_fresh(r, s, e, OP_MAP_FIXED);
	ops_ok[OP_MAP_FIXED]++;
}

static void unmap_model(struct region *r, long s, long e, enum op op)
{
	for (long i = s; i < e; i++) {
		forget(r, i, op);
		r->mapped[i] = 0;
		r->prot[i] = 0;
	}
}

static void op_munmap(struct region *r)
{
	long s, e;

	pick_range(r, &s, &e);
	if (!is_hugetlb(r) && e - s > 64)
		e = s + 1 + (long)below(64);
	DESCRIBE("munmap %s pages [%ld, %ld)", kind_name[r->kind], s, e);
	note_pmd_mapped(r);
	forget_split_blocks(r, s, e);
	if (munmap(page_addr(r, s), (e - s) * PM_PAGE)) {
		printf("# step %ld: munmap failed: %s\n", step, strerror(errno));
		errors++;
	}
	unmap_model(r, s, e, OP_MUNMAP);
	ops_ok[OP_MUNMAP]++;
}

static bool run_fatal;

/*
 * mremap the whole region to its other slot, possibly growing it. A move whose
 * source and destination differ modulo 2 MiB goes PTE by PTE, and the kernel
 * marks every moved PTE soft-dirty (move_soft_dirty_pte()); a move at the same
 * offset may move whole page tables, which keeps each PTE as it is. Either way
 * a page keeps its own bit.
 */
static void op_move(struct region *r, bool grow)
{
	static uint64_t ent[2048];
	int to = 1 - r->cur;
	size_t shift = r->shift, newlen = r->len;
	char *dst, *old = r->base, *p;
	bool misaligned;

	/* No gap is allowed at the start; growing takes every page mapped. */
	if (!r->mapped[0])
		return;
	for (size_t i = 0; grow && i < r->len; i++)
		if (!r->mapped[i])
			return;
	if (!is_hugetlb(r) && chance(50))
		shift = below(HPAGES);
	if (grow) {
		if (r->kind == K_SHM_ANON || is_hugetlb(r) || r->len >= r->cap)
			return;
		/* Growing takes a single VMA. */
		if (vmas_in((uintptr_t)r->base, (uintptr_t)page_addr(r, r->len), 0, NULL) != 1)
			return;
		newlen = r->len + 1 + below(r->cap - r->len < 64 ? r->cap - r->len : 64);
	}
	dst = r->slot[to] + shift * PM_PAGE;
	misaligned = ((uintptr_t)dst - (uintptr_t)r->base) & (PM_HPAGE - 1);
	DESCRIBE("mremap %s (%zu pages) from %p to %p (%s), %zu pages after", kind_name[r->kind],
		 r->len, r->base, dst, misaligned ? "PTE by PTE" : "same offset in 2 MiB", newlen);
	note_pmd_mapped(r);
	if (pm_read_entries(proc_fd, (uintptr_t)r->base, r->len, ent)) {
		errors++;
		return;
	}
	p = mremap(r->base, r->len * PM_PAGE, newlen * PM_PAGE, MREMAP_MAYMOVE | MREMAP_FIXED,
		   dst);
	if (p != dst) {
		/* A move of several VMAs may have moved some of them: give up the run. */
		printf("# step %ld: mremap of %s to %p failed: %s\n", step, kind_name[r->kind],
		       dst, strerror(errno));
		errors++;
		run_fatal = true;
		return;
	}
	if (reserve(old, r->len) != old) {
		errors++;
		run_fatal = true;
		return;
	}
	r->cur = to;
	r->shift = shift;
	r->base = dst;
	moves_misaligned += misaligned;
	for (size_t i = 0; i < r->len; i++) {
		if (!r->mapped[i])
			continue;
		if (misaligned && in_pmd[i] && is_shared(r)) {
			/* Split before the move: a shared huge PMD is zapped. */
			forget(r, i, OP_SPLIT_ZAP);
		} else if (misaligned && (ent[i] & (RPM_PRESENT | RPM_SWAP))) {
			set_must(r, i, grow ? OP_GROW : OP_MOVE);
		} else {
			hist_add(r, i, grow ? OP_GROW : OP_MOVE, '.');
		}
	}
	for (size_t i = r->len; i < newlen; i++) {
		/* The VMA grew: its new part has no soft-dirty of its own. */
		r->mapped[i] = 1;
		r->prot[i] = r->prot[r->len - 1];
		r->must[i] = 0;
		r->hpos[i] = 0;
		memset(&r->hist[i * HIST], 0, HIST * sizeof(*r->hist));
		hist_add(r, i, OP_GROW, '.');
	}
	r->len = newlen;
	ops_ok[grow ? OP_GROW : OP_MOVE]++;
}

/* Grow the last VMA of the region in place, into the reservation after it. */
static void op_grow_in_place(struct region *r)
{
	uintptr_t vstart = 0, end = (uintptr_t)page_addr(r, r->len);
	size_t delta, newlen;

	if (r->kind == K_SHM_ANON || is_hugetlb(r) || r->len >= r->cap || !r->mapped[r->len - 1])
		return;
	delta = 1 + below(r->cap - r->len < 64 ? r->cap - r->len : 64);
	newlen = r->len + delta;
	if (vmas_in(end - PM_PAGE, end, end - PM_PAGE, &vstart) != 1 || !vstart)
		return;
	DESCRIBE("mremap grows %s in place from %zu to %zu pages", kind_name[r->kind], r->len,
		 newlen);
	if (munmap((void *)end, delta * PM_PAGE)) {
		errors++;
		return;
	}
	if (mremap((void *)vstart, end - vstart, end - vstart + delta * PM_PAGE, 0) !=
	    (void *)vstart) {
		printf("# step %ld: mremap growing %s in place failed: %s\n", step,
		       kind_name[r->kind], strerror(errno));
		errors++;
		reserve((void *)end, delta);
		return;
	}
	for (size_t i = r->len; i < newlen; i++) {
		r->mapped[i] = 1;
		r->prot[i] = r->prot[r->len - 1];
		r->must[i] = 0;
		r->hpos[i] = 0;
		memset(&r->hist[i * HIST], 0, HIST * sizeof(*r->hist));
		hist_add(r, i, OP_GROW, '.');
	}
	r->len = newlen;
	ops_ok[OP_GROW]++;
}

static void op_shrink(struct region *r)
{
	size_t newlen;

	if (is_hugetlb(r) || r->len <= 128)
		return;
	newlen = r->len - 1 - below(64);
	DESCRIBE("shrink %s from %zu to %zu pages", kind_name[r->kind], r->len, newlen);
	note_pmd_mapped(r);
	forget_split_blocks(r, newlen, r->len);
	if (munmap(page_addr(r, newlen), (r->len - newlen) * PM_PAGE) ||
	    reserve(page_addr(r, newlen), r->len - newlen) != page_addr(r, newlen)) {
		errors++;
		run_fatal = true;
		return;
	}
	unmap_model(r, newlen, r->len, OP_SHRINK);
	r->len = newlen;
	ops_ok[OP_SHRINK]++;
}

/* Whether the THP block at page s of `r` is one VMA with every page mapped. */
static bool block_is_one_vma(const struct region *r, long s)
{
	uintptr_t a = (uintptr_t)page_addr(r, s);

	for (long i = s; i < s + HPAGES; i++)
		if (!r->mapped[i])
			return false;
	return vmas_in(a, a + PM_HPAGE, a, NULL) == 1;
}

static void op_collapse(struct region *r)
{
	uintptr_t a = ((uintptr_t)r->base + PM_HPAGE - 1) & ~(PM_HPAGE - 1);
	uintptr_t end = (uintptr_t)page_addr(r, r->len);
	bool fresh, huge_before;
	int32_t cat;
	long nblk, s;

	/* K_ANON is MADV_NOHUGEPAGE, which MADV_COLLAPSE honours; hugetlb has nothing to collapse. */
	if (r->kind == K_ANON || is_hugetlb(r) || a + PM_HPAGE > end)
		return;
	nblk = (long)((end - a) / PM_HPAGE);
	a += below(nblk) * PM_HPAGE;
	s = (long)((a - (uintptr_t)r->base) / PM_PAGE);
	/*
	 * MADV_COLLAPSE refuses (EINVAL) a block that is not one VMA able to hold a
	 * PMD, or that has no page table at all. A few hundred steps cut most blocks
	 * into several VMAs (mprotect, MAP_FIXED, munmap, mremap), so such a block is
	 * mapped anew first and some of its pages written: then the collapse has
	 * something to do, and what it makes of written pages is checked.
	 */
	fresh = !block_is_one_vma(r, s);
	DESCRIBE("MADV_COLLAPSE %s pages [%ld, %ld)%s", kind_name[r->kind], s, s + HPAGES,
		 fresh ? ", mapped anew and partly written first" : "");
	if (fresh) {
		note_pmd_mapped(r);
		forget_split_blocks(r, s, s + HPAGES);
		if (!map_fresh(r, s, s + HPAGES)) {
			printf("# step %ld: MAP_FIXED of %s [%ld, %ld) before a collapse failed: %s\n",
			       step, kind_name[r->kind], s, s + HPAGES, strerror(errno));
			errors++;
			for (long i = s; i < s + HPAGES; i++) {
				forget(r, i, OP_COLLAPSE);
				r->mapped[i] = 0;
			}
			return;
		}
		mark_fresh(r, s, s + HPAGES, OP_COLLAPSE);
		/* Written as small pages, or the fault would map a THP and leave nothing to collapse. */
		madvise((void *)a, PM_HPAGE, MADV_NOHUGEPAGE);
		for (long i = s; i < s + HPAGES; i += 1 + (long)below(8))
			write_page(r, i, OP_COLLAPSE);
		madvise((void *)a, PM_HPAGE, MADV_HUGEPAGE);
	}
	huge_before = categories(r, s, s + 1, &cat) && cat >= 0 && (cat & PAGE_IS_HUGE);
	if (!madvise((void *)a, PM_HPAGE, MADV_COLLAPSE)) {
		ops_ok[OP_COLLAPSE]++;
		collapsed_small += !huge_before;
	} else
		collapse_refused[errno == EINVAL ? 0 : errno == EAGAIN ? 1 : errno == ENOMEM ? 2 : 3]++;
	/*
	 * Anonymous collapse maps the new PMD dirty; shared collapse unmaps the
	 * small pages and maps the huge one clean.
	 */
	if (is_shared(r))
		for (long i = s; i < s + HPAGES; i++)
			forget(r, i, OP_COLLAPSE);
}

/* A random page of a random region that can be written, or false. */
static bool random_writable(struct region **rp, size_t *ip)
{
	for (int tries = 0; tries < 16; tries++) {
		struct region *r = &reg[below(NKINDS)];
		size_t i = below(r->len);

		if (r->mapped[i] && (r->prot[i] & PROT_WRITE)) {
			*rp = r;
			*ip = i;
			return true;
		}
	}
	return false;
}

/*
 * fork: the child writes in its own mm (nothing changes for the parent) while
 * the parent writes pages the child still shares copy-on-write.
 */
static void op_fork(void)
{
	int ready[2], go[2];
	pid_t pid;
	char c = 0;
	int st;

	DESCRIBE("fork; the child writes, the parent writes copy-on-write pages");
	if (pipe(ready) || pipe(go)) {
		errors++;
		return;
	}
	pid = fork();
	if (pid < 0) {
		errors++;
		return;
	}
	if (pid == 0) {
		int hugetlb_writes = 0;

		close(ready[0]);
		close(go[1]);
		for (int k = 0; k < 16; k++) {
			struct region *r;
			size_t i;

			/* A private hugetlb write copies a whole huge page: at most one. */
			if (!random_writable(&r, &i) || (is_hugetlb(r) && hugetlb_writes++))
				continue;
			touch(page_addr(r, i), true);
		}
		if (write(ready[1], &c, 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(1);
		_exit(0);
	}
	/* Only the child holds these ends: its death cannot leave a read waiting. */
	close(ready[1]);
	close(go[0]);
	if (read(ready[0], &c, 1) != 1)
		errors++;
	for (int k = 0; k < 16; k++) {
		struct region *r;
		size_t i;

		if (random_writable(&r, &i)) {
			write_page(r, i, OP_FORK);
			forks_cow++;
		}
	}
	if (write(go[1], &c, 1) != 1)
		errors++;
	waitpid(pid, &st, 0);
	close(ready[0]);
	close(go[1]);
	ops_ok[OP_FORK]++;
}

/*
 * What the last clear step did, for the checks of clean after a clear
 * (model.cleared_pages_read_clean_and_others_unchanged): whether it succeeded,
 * the pages of its region it covered (ranged clear) or was asked to cover
 * (get-and-clear), its range in addresses, and which pages of the region a
 * get-and-clear reported (gc_pages[i - gc_ps]).
 */
static struct {
	bool ok;
	long s, e;
	uintptr_t start, end;
} last_clear;
static uint8_t gc_pages[2048 + 128];
static long gc_ps;

/* A successful clear covered page i of r. */
static void cleared_by_clear(struct region *r, long i, enum op op)
{
	if (i < 0 || i >= (long)r->len || !r->mapped[i])
		return;
	clear_must(r, i, op);
}

static void op_clear_range(struct region *r)
{
	struct rpm_range rr;
	long s, e;

	pick_range_out(r, &s, &e);
	rr.start = (uintptr_t)page_addr(r, s);
	rr.end = (uintptr_t)page_addr(r, e);
	DESCRIBE("RPM_IOC_CLEAR_SOFT_DIRTY %s pages [%ld, %ld)", kind_name[r->kind], s, e);
	last_clear.s = s;
	last_clear.e = e;
	last_clear.start = rr.start;
	last_clear.end = rr.end;
	if (ioctl(dev_fd, RPM_IOC_CLEAR_SOFT_DIRTY, &rr)) {
		printf("# step %ld: RPM_IOC_CLEAR_SOFT_DIRTY of %s [%ld, %ld) failed: %s\n", step,
		       kind_name[r->kind], s, e, strerror(errno));
		errors++;
		return;
	}
	for (long i = s; i < e; i++)
		cleared_by_clear(r, i, OP_CLEAR_RANGE);
	last_clear.ok = true;
	ops_ok[OP_CLEAR_RANGE]++;
}

static bool op_clear_all(bool refs)
{
	int ret;

	DESCRIBE("%s", refs ? "4 > /proc/self/clear_refs" : "RPM_IOC_CLEAR_SOFT_DIRTY_ALL");
	if (refs) {
		ret = pm_clear_soft_dirty();
	} else {
		ret = ioctl(dev_fd, RPM_IOC_CLEAR_SOFT_DIRTY_ALL);
	}
	if (ret) {
		printf("# step %ld: %s failed: %s\n", step,
		       refs ? "clear_refs" : "RPM_IOC_CLEAR_SOFT_DIRTY_ALL", strerror(errno));
		errors++;
		return false;
	}
	for (int k = 0; k < NKINDS; k++)
		for (long i = 0; i < (long)reg[k].len; i++)
			cleared_by_clear(&reg[k], i, refs ? OP_CLEAR_REFS : OP_CLEAR_ALL);
	last_clear.ok = true;
	ops_ok[refs ? OP_CLEAR_REFS : OP_CLEAR_ALL]++;
	return true;
}

/* Whether a page of categories `cat` is one a scan with these masks reports. */
static bool selected(uint64_t cat, const struct pm_scan_arg *a)
{
	cat ^= a->category_inverted;
	if ((cat & a->category_mask) != a->category_mask)
		return false;
	return !a->category_anyof_mask || (cat & a->category_anyof_mask);
}

static uint64_t random_categories(unsigned int pct)
{
	uint64_t m = 0;

	for (int b = 0; b < 10; b++)
		if (chance(pct))
			m |= 1ULL << b;
	return m;
}

/*
 * Get-and-clear on the device. Only the pages it reports lose their bit; every
 * page that must read dirty and that its masks select must be reported, up to
 * where it stopped.
 */
static void op_get_clear(struct region *r)
{
	static struct pm_scan_result res;
	static int32_t pre[2048 + 128], post[2048 + 128];
	uint8_t *reported = gc_pages;
	struct pm_scan_arg a;
	uint64_t vec_len, extra;
	long s, e, ps, pe;
	bool invalid = false;

	pick_range_out(r, &s, &e);
	/* Categories of the pages of the region inside the range, before the call. */
	ps = s < 0 ? 0 : s;
	pe = e > (long)r->len ? (long)r->len : e;
	if (ps < pe && !categories(r, ps, pe, pre))
		return;
	note_seen(r, pre, pe - ps);
	extra = random_categories(12) & ~(uint64_t)PAGE_IS_SOFT_DIRTY;
	a = pm_scan_req((uintptr_t)page_addr(r, s), (uintptr_t)page_addr(r, e),
			RPM_SCAN_CLEAR_SOFT_DIRTY, extra & random_categories(50),
			PAGE_IS_SOFT_DIRTY | extra, chance(60) ? 0 : random_categories(25),
			chance(30) ? PM_ALL_CATEGORIES : random_categories(40));
	a.max_pages = chance(50) ? 0 : 1 + below(chance(50) ? 16 : (uint64_t)(e - s));
	switch (below(6)) {
	case 0:
		vec_len = 0;
		break;
	case 1:
		vec_len = 1;
		break;
	case 2: case 3:
		vec_len = 2 + below(8);
		break;
	default:
		vec_len = PM_MAX_REGIONS;
		break;
	}
	/* Without an output array a get-and-clear could report nothing: it must be refused. */
	if (!vec_len)
		invalid = true;
	if (chance(4)) {
		/* Requests the device must refuse, changing nothing. */
		invalid = true;
		switch (below(3)) {
		case 0:
			a.category_inverted |= PAGE_IS_SOFT_DIRTY;
			break;
		case 1:
			a.category_mask &= ~(uint64_t)PAGE_IS_SOFT_DIRTY;
			break;
		default:
			a.flags |= PM_SCAN_WP_MATCHING;
			break;
		}
	}
	pm_scan_run(dev_fd, &a, vec_len, &res);
	{
		int n = snprintf(step_desc, sizeof(step_desc),
				 "get-and-clear %s pages [%ld, %ld) inv %#llx mask %#llx anyof %#llx "
				 "ret %#llx vec_len %llu max_pages %llu -> %ld, walk_end page %lld:",
				 kind_name[r->kind], s, e, (unsigned long long)a.category_inverted,
				 (unsigned long long)a.category_mask,
				 (unsigned long long)a.category_anyof_mask,
				 (unsigned long long)a.return_mask, (unsigned long long)vec_len,
				 (unsigned long long)a.max_pages, res.ret,
				 (long long)((int64_t)res.walk_end - (int64_t)(uintptr_t)r->base) /
					 (long long)PM_PAGE);

		for (long k = 0; k < res.n && k < 6 && n < (int)sizeof(step_desc); k++)
			n += snprintf(step_desc + n, sizeof(step_desc) - n, " [%lld, %lld) %#llx",
				      ((long long)res.r[k].start - (long long)(uintptr_t)r->base) /
					      (long long)PM_PAGE,
				      ((long long)res.r[k].end - (long long)(uintptr_t)r->base) /
					      (long long)PM_PAGE,
				      (unsigned long long)res.r[k].categories);
	}
	if (invalid) {
		if (res.ret != -EINVAL) {
			printf("# step %ld: invalid get-and-clear returned %ld, not -EINVAL\n", step,
			       res.ret);
			pm_scan_print_args(&a, vec_len);
			errors++;
		} else {
			ops_ok[OP_GET_CLEAR]++;
		}
		return;
	}
	if (res.ret < 0) {
		printf("# step %ld: get-and-clear failed: %s\n", step, strerror((int)-res.ret));
		pm_scan_print_args(&a, vec_len);
		errors++;
		return;
	}
	/* The answer must make sense before the model believes it. */
	{
		uint64_t prev = a.start;
		bool sane = res.walk_end >= a.start && res.walk_end <= a.end &&
			    (uint64_t)res.n <= vec_len;

		for (long k = 0; sane && k < res.n; k++) {
			sane = res.r[k].start >= prev && res.r[k].start < res.r[k].end &&
			       res.r[k].end <= a.end && !(res.r[k].start % PM_PAGE) &&
			       !(res.r[k].end % PM_PAGE);
			prev = res.r[k].end;
		}
		if (!sane) {
			printf("# step %ld: get-and-clear answer out of range\n", step);
			pm_scan_print_args(&a, vec_len);
			pm_scan_print("dev", &res, 16);
			errors++;
			return;
		}
	}
	ops_ok[OP_GET_CLEAR]++;
	last_clear.ok = true;
	last_clear.s = ps;
	last_clear.e = pe;
	last_clear.start = a.start;
	last_clear.end = a.end;
	gc_ps = ps;
	gc_regions += res.n;
	memset(gc_pages, 0, sizeof(gc_pages));
	for (long k = 0; k < res.n; k++) {
		for (uint64_t x = res.r[k].start; x < res.r[k].end; x += PM_PAGE) {
			long i = (long)((x - (uintptr_t)r->base) / PM_PAGE);

			if ((x < (uintptr_t)r->base) || i >= (long)r->len)
				continue;
			reported[i - ps] = 1;
			gc_reported++;
		}
	}
	/* Every selected page that must read dirty, up to walk_end, was reported. */
	if (vec_len) {
		/*
		 * Where the scan stopped. The kernel's walk_end can lag behind the
		 * last region when the regions outnumber its bounce buffer; never
		 * hold a page past the last region against it then.
		 */
		uint64_t stop = res.walk_end;
		long we;

		if (res.n && res.r[res.n - 1].end > stop)
			stop = res.r[res.n - 1].end;
		we = (long)(((int64_t)stop - (int64_t)(uintptr_t)r->base) / (int64_t)PM_PAGE);
		bool have_post = false;

		for (long i = ps; i < pe && i < we; i++) {
			uint64_t c;

			if (!r->mapped[i] || !r->must[i] || reported[i - ps] || pre[i - ps] < 0)
				continue;
			c = (uint64_t)pre[i - ps] | PAGE_IS_SOFT_DIRTY;
			if (!selected(c, &a))
				continue;
			/* A kernel thread may have changed the page in between: ask again. */
			if (!have_post) {
				if (!categories(r, ps, pe, post))
					break;
				have_post = true;
			}
			if ((pre[i - ps] ^ post[i - ps]) & ~(PAGE_IS_SOFT_DIRTY | PAGE_IS_ACCESSED))
				continue;
			missed_reports++;
			violations++;
			violations_after[OP_GET_CLEAR]++;
			if (want_detail()) {
				printf("# VIOLATION at step %ld (seed %llu): get-and-clear did not report "
				       "%s page %ld (%p), which must read dirty and which its masks "
				       "select (categories %#x)\n",
				       step, (unsigned long long)run_seed, kind_name[r->kind], i,
				       page_addr(r, i), pre[i - ps]);
				pm_scan_print_args(&a, vec_len);
				pm_scan_print("dev", &res, 8);
				print_hist(r, i);
			}
		}
	}
	for (long i = ps; i < pe; i++)
		if (reported[i - ps])
			clear_must(r, i, OP_GET_CLEAR);
		else if (r->mapped[i] && r->must[i])
			hist_add(r, i, OP_GET_CLEAR, '.');
}

/*
 * A ranged clear that cannot split: a fresh 1-page VMA A (read once, so
 * mapped clean) and a fresh 2-page VMA B after it, both of a shared kind, and
 * vm.max_map_count at the current count. Clearing [A, B + 4 KiB) must split B
 * and so must fail with ENOMEM, and then change nothing at all.
 */
static void op_failed_clear(struct region *r)
{
	char buf[32];
	struct rpm_range rr;
	long a, n;
	char *pa, *pb;
	int ret, err;

	if (!is_shared(r) || r->len < 8)
		return;
	a = (long)below(r->len - 3);
	pa = page_addr(r, a);
	pb = page_addr(r, a + 1);
	note_pmd_mapped(r);
	forget_split_blocks(r, a, a + 3);
	/* Odd file offsets, so that neither merges with its neighbours. */
	if (r->kind == K_SHM_ANON) {
		if (mmap(pa, PM_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED,
			 -1, 0) != pa ||
		    mmap(pb, 2 * PM_PAGE, PROT_READ, MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1,
			 0) != pb)
			goto broken;
	} else {
		off_t off = (off_t)(r->cap + HPAGES + a) * PM_PAGE;

		if (mmap(pa, PM_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, r->fd, off) !=
			    pa ||
		    mmap(pb, 2 * PM_PAGE, PROT_READ, MAP_SHARED | MAP_FIXED, r->fd,
			 off + (off_t)PM_PAGE) != pb)
			goto broken;
	}
	mark_fresh(r, a, a + 3, OP_FAILED_CLEAR);
	r->prot[a + 1] = r->prot[a + 2] = PROT_READ;
	touch(pa, false);
	n = map_count();
	snprintf(buf, sizeof(buf), "%ld", n);
	if (n <= 0 || !sysfs_rw(MAX_MAP_COUNT, buf, 0, true)) {
		errors++;
		return;
	}
	rr.start = (uintptr_t)pa;
	rr.end = (uintptr_t)pb + PM_PAGE;
	DESCRIBE("RPM_IOC_CLEAR_SOFT_DIRTY %s pages [%ld, %ld) over fresh VMAs [%ld, %ld) and "
		 "[%ld, %ld) with vm.max_map_count = %ld", kind_name[r->kind], a, a + 2, a, a + 1,
		 a + 1, a + 3, n);
	ret = ioctl(dev_fd, RPM_IOC_CLEAR_SOFT_DIRTY, &rr);
	err = errno;
	if (!sysfs_rw(MAX_MAP_COUNT, saved_max_map_count, 0, true)) {
		printf("# could not restore vm.max_map_count\n");
		errors++;
		run_fatal = true;
	}
	if (ret == -1 && err == ENOMEM) {
		enomem_seen++;
		ops_ok[OP_FAILED_CLEAR]++;
		for (long i = a; i < a + 3; i++)
			hist_add(r, i, OP_FAILED_CLEAR, '.');
		return;
	}
	printf("# step %ld: a ranged clear that needs a refused split returned %d (%s), not "
	       "ENOMEM\n",
	       step, ret, ret ? strerror(err) : "success");
	errors++;
	if (!ret)
		for (long i = a; i < a + 2; i++)
			cleared_by_clear(r, i, OP_FAILED_CLEAR);
	return;
broken:
	printf("# step %ld: mapping the failed-clear layout failed: %s\n", step, strerror(errno));
	errors++;
	run_fatal = true;
}

/* --- the check ------------------------------------------------------------ */

/*
 * Every page that must read dirty does, in /proc and in the device: in
 * `only` if given, else in every region. A step of the kernel's own (a write,
 * madvise, mprotect, mmap, mremap on one region) changes the soft-dirty state
 * of that region only, so the others need no new look; a step of the device,
 * a whole clear and fork get every region checked.
 */
static void check_all(enum op op, bool strict, const struct region *only)
{
	for (int k = 0; k < NKINDS; k++) {
		struct region *r = &reg[k];

		if (only && r != only)
			continue;
		bool any = strict && (r->kind == K_ANON || r->kind == K_ANON_THP);

		for (size_t i = 0; i < r->len && !any; i++)
			any = r->must[i];
		if (!any || !read_region(r))
			continue;
		for (size_t i = 0; i < r->len; i++) {
			bool p = ent_proc[i] & RPM_SOFT_DIRTY, d = ent_dev[i] & RPM_SOFT_DIRTY;

			if (r->must[i] && r->mapped[i]) {
				must_checked++;
				if (p && d)
					continue;
				violations++;
				violations_after[op]++;
				if (want_detail()) {
					printf("# VIOLATION at step %ld (%s, seed %llu): %s page %zu (%p) "
					       "must read soft-dirty: /proc %#018llx dev %#018llx\n",
					       step, op_name[op], (unsigned long long)run_seed,
					       kind_name[r->kind], i, page_addr(r, i),
					       (unsigned long long)ent_proc[i],
					       (unsigned long long)ent_dev[i]);
					print_hist(r, i);
				}
				/* Reported once: from now on the model follows the kernel. */
				hist_add(r, i, op, '!');
				r->must[i] = 0;
			} else if (strict && r->mapped[i] &&
				   (r->kind == K_ANON || r->kind == K_ANON_THP) && (p || d)) {
				not_cleared++;
				if (not_cleared <= MAX_PRINTED)
					printf("# step %ld (%s): %s page %zu (%p) reads dirty right after "
					       "a whole clear: /proc %#018llx dev %#018llx\n",
					       step, op_name[op], kind_name[r->kind], i, page_addr(r, i),
					       (unsigned long long)ent_proc[i],
					       (unsigned long long)ent_dev[i]);
			}
		}
		if (strict && (r->kind == K_ANON || r->kind == K_ANON_THP))
			strict_checks++;
	}
}

/* --- clean after a clear ---------------------------------------------------- */

/*
 * model.cleared_pages_read_clean_and_others_unchanged: right after a clear
 * that succeeded, /proc/self/pagemap (and the device, which must read the
 * same) shows every page the clear covered clean, and every other page as it
 * was just before -- as strictly as the model requires a written page to read
 * dirty. The kernel's own rules (fs/proc/task_mmu.c) and the device's
 * documented ones (uapi/rust_pagemap.h) decide what a page must read:
 *   - writing 4 to clear_refs clears VM_SOFTDIRTY on every VMA, hugetlb ones
 *     included, and write-protects and cleans every PTE and huge PMD
 *     (clear_soft_dirty(), clear_soft_dirty_pmd()) but pinned pages, which
 *     this test has none of: every page reads clean after it, hugetlb too
 *     (pagemap_hugetlb_range() takes bit 55 from the VMA flag alone);
 *   - the device's whole clear is that clear, but hugetlb VMAs keep their
 *     flag: so its pages read as they did, and every other page clean. The
 *     state it leaves is /proc's: /proc's clear right after the device's
 *     changes no page but hugetlb ones, and the device's right after /proc's
 *     changes none;
 *   - a ranged clear cleans exactly its range, but hugetlb pages (as above)
 *     and a file or shmem huge PMD the range covers in part (splitting would
 *     zap it: left alone, its pages read what its PMD says once the VMA's
 *     flag is consumed, so nothing is required of them); an anonymous huge
 *     PMD it covers in part is split, and the split marks every PTE of a
 *     dirty huge page soft-dirty (__split_huge_pmd_locked(): pte_mkdirty()
 *     sets soft-dirty on x86), so its pages outside the range may read dirty
 *     after it, whatever they read before;
 *   - a get-and-clear cleans exactly the pages it reported, with the same
 *     exceptions (a shared huge PMD reported in part; the pages it did not
 *     report of an anonymous one it split), and the VMA flag
 *     is consumed only for the part of a VMA reported without a gap from its
 *     first page in the range on: a page reported after a gap in a VMA with
 *     VM_SOFTDIRTY keeps reading dirty through the flag, so nothing is
 *     required of it (the prefix before the gap must read clean);
 *   - a VMA created after the clear would read dirty (VM_SOFTDIRTY of a new
 *     mapping), but nothing maps between the clear and the reading here.
 * Pages outside what a clear covered must read exactly as before.
 */
static bool strict_clean;
enum want { W_UNCHANGED, W_CLEAN, W_ANY };
static uint8_t sd_before[NKINDS][2048];	/* bit 55 per page per /proc, before the clear */
static uint8_t pmd_before[2048];		/* pages of the cleared region in a huge PMD, before */
static struct pm_vma sd_vmas[64];		/* VMAs with VM_SOFTDIRTY around it, before it */
static int n_sd_vmas;
static long clean_checked[NOPS], unchanged_checked[NOPS], clean_shared, clean_swapped;
static long not_clean, changed;

static bool read_sd(const struct region *r, uint8_t *sd)
{
	if (!read_region(r))
		return false;
	for (size_t i = 0; i < r->len; i++)
		sd[i] = !!(ent_proc[i] & RPM_SOFT_DIRTY);
	return true;
}

/* Before a clear of region `r` (or of everything): what every page reads now. */
static void before_clear(struct region *r)
{
	uintptr_t lo = (uintptr_t)r->base - GUARD * PM_PAGE;
	uintptr_t hi = (uintptr_t)page_addr(r, r->len) + GUARD * PM_PAGE;

	last_clear.ok = false;
	for (int k = 0; k < NKINDS; k++)
		read_sd(&reg[k], sd_before[k]);
	memset(pmd_before, 0, sizeof(pmd_before));
	if (!is_hugetlb(r)) {
		static int32_t cat[2048];

		if (categories(r, 0, r->len, cat))
			for (size_t i = 0; i < r->len; i++)
				pmd_before[i] = cat[i] >= 0 && (cat[i] & PAGE_IS_HUGE);
	}
	n_sd_vmas = pm_soft_dirty_vmas(lo, hi, sd_vmas, 64);
	if (n_sd_vmas < 0) {
		errors++;
		n_sd_vmas = 0;
	}
}

/* Whether a huge PMD held page i of `r` before, and [s, e) covers its block in part. */
static bool pmd_covered_in_part(const struct region *r, long i, long s, long e)
{
	uintptr_t blk = (uintptr_t)page_addr(r, i) & ~(PM_HPAGE - 1);
	uintptr_t a = (uintptr_t)page_addr(r, s), b = (uintptr_t)page_addr(r, e);

	return pmd_before[i] && blk < b && blk + PM_HPAGE > a && (blk < a || blk + PM_HPAGE > b);
}

/* The first page of the 2 MiB block of page i of `r`. */
static long block_of(const struct region *r, long i)
{
	return i - (long)(((uintptr_t)page_addr(r, i) & (PM_HPAGE - 1)) / PM_PAGE);
}

/*
 * Whether the last get-and-clear may have split the anonymous huge PMD that
 * held page i of `r`: it reported a page of it, or its range cut the block.
 */
static bool gc_may_split(const struct region *r, long i)
{
	long blk = block_of(r, i);

	if (!pmd_before[i] || is_shared(r))
		return false;
	if (pmd_covered_in_part(r, i, last_clear.s, last_clear.e))
		return true;
	for (long j = blk; j < blk + HPAGES; j++)
		if (j >= gc_ps && j < last_clear.e && gc_pages[j - gc_ps])
			return true;
	return false;
}

/*
 * Whether page i of `r`, reported by the last get-and-clear, lies in a VMA
 * that had VM_SOFTDIRTY and after a page of that VMA (from its first page in
 * the range on) that the call did not report: then the flag stays and the
 * page keeps reading dirty.
 */
static bool after_a_gap(const struct region *r, long i)
{
	uintptr_t x = (uintptr_t)page_addr(r, i);

	for (int v = 0; v < n_sd_vmas; v++) {
		uintptr_t from = sd_vmas[v].start > last_clear.start ? sd_vmas[v].start :
								       last_clear.start;

		if (x < sd_vmas[v].start || x >= sd_vmas[v].end)
			continue;
		for (uintptr_t y = from; y < x; y += PM_PAGE) {
			long j = (long)(((intptr_t)y - (intptr_t)(uintptr_t)r->base) / (intptr_t)PM_PAGE);

			/* Outside the region (its reservation) nothing is mapped: holes, reported alike. */
			if (j >= 0 && j >= gc_ps && j < last_clear.e && !gc_pages[j - gc_ps])
				return true;
		}
		return false;
	}
	return false;
}

static enum want want_after(enum op op, const struct region *cleared, int k, long i)
{
	const struct region *r = &reg[k];

	switch (op) {
	case OP_CLEAR_REFS:
		return W_CLEAN;
	case OP_CLEAR_ALL:
		return is_hugetlb(r) ? W_UNCHANGED : W_CLEAN;
	case OP_CLEAR_RANGE:
		if (r != cleared || is_hugetlb(r))
			return W_UNCHANGED;
		if (i < last_clear.s || i >= last_clear.e)
			return !is_shared(r) && pmd_covered_in_part(r, i, last_clear.s, last_clear.e) ?
				       W_ANY : W_UNCHANGED;
		return is_shared(r) && pmd_covered_in_part(r, i, last_clear.s, last_clear.e) ?
			       W_ANY : W_CLEAN;
	case OP_GET_CLEAR:
		if (r != cleared || is_hugetlb(r))
			return W_UNCHANGED;
		if (i < last_clear.s || i >= last_clear.e || !gc_pages[i - gc_ps])
			return gc_may_split(r, i) ? W_ANY : W_UNCHANGED;
		if (is_shared(r) && pmd_before[i]) {
			long blk = block_of(r, i);

			for (long j = blk; j < blk + HPAGES; j++)
				if (j < gc_ps || j >= last_clear.e || !gc_pages[j - gc_ps])
					return W_ANY;
		}
		return after_a_gap(r, i) ? W_ANY : W_CLEAN;
	default:
		return W_UNCHANGED;
	}
}

/* Every page of every region reads what the clear `op` (of `cleared`) must leave. */
static void check_after_clear(enum op op, const struct region *cleared, const char *what)
{
	for (int k = 0; k < NKINDS; k++) {
		struct region *r = &reg[k];

		if (!read_region(r))
			continue;
		for (size_t i = 0; i < r->len; i++) {
			bool p = ent_proc[i] & RPM_SOFT_DIRTY, d = ent_dev[i] & RPM_SOFT_DIRTY;
			enum want w = want_after(op, cleared, k, (long)i);
			bool bad;

			if (!r->mapped[i] || w == W_ANY)
				continue;
			if (w == W_CLEAN) {
				clean_checked[op]++;
				clean_shared += is_shared(r);
				clean_swapped += !!(ent_proc[i] & RPM_SWAP);
				bad = p || d;
				not_clean += bad;
			} else {
				unchanged_checked[op]++;
				bad = p != sd_before[k][i] || d != p;
				changed += bad;
			}
			if (!bad || !want_detail())
				continue;
			printf("# VIOLATION at step %ld (%s, seed %llu): %s page %zu (%p) must read %s "
			       "right after %s: /proc %#018llx dev %#018llx (before: %s)\n",
			       step, op_name[op], (unsigned long long)run_seed, kind_name[r->kind], i,
			       page_addr(r, i), w == W_CLEAN ? "clean" : "as before", what,
			       (unsigned long long)ent_proc[i], (unsigned long long)ent_dev[i],
			       sd_before[k][i] ? "dirty" : "clean");
			print_hist(r, i);
		}
	}
}

/*
 * After a clear step of the strict test: the checks above, and the state of
 * a whole clear compared with /proc's own whole clear on the same memory.
 */
static void after_clear(enum op op, struct region *r)
{
	if (!last_clear.ok)
		return;
	check_after_clear(op, r, op_name[op]);
	if (op == OP_CLEAR_ALL) {
		/* /proc's clear after the device's finds nothing left to clean but hugetlb. */
		before_clear(r);
		if (pm_clear_soft_dirty()) {
			printf("# step %ld: clear_refs failed: %s\n", step, strerror(errno));
			errors++;
			return;
		}
		last_clear.ok = true;
		check_after_clear(OP_CLEAR_REFS, r, "the device's whole clear, then clear_refs");
	} else if (op == OP_CLEAR_REFS) {
		/* The device's whole clear after /proc's changes nothing. */
		before_clear(r);
		if (ioctl(dev_fd, RPM_IOC_CLEAR_SOFT_DIRTY_ALL)) {
			printf("# step %ld: RPM_IOC_CLEAR_SOFT_DIRTY_ALL failed: %s\n", step,
			       strerror(errno));
			errors++;
			return;
		}
		last_clear.ok = true;
		check_after_clear(OP_NONE, r, "clear_refs, then the device's whole clear");
	}
}

/* --- the run -------------------------------------------------------------- */

static enum op pick_op(void)
{
	static const struct {
		enum op op;
		unsigned int weight;
	} w[] = {
		{ OP_WRITE, 260 },	{ OP_READ, 70 },	{ OP_DONTNEED, 50 },
		{ OP_PAGEOUT, 10 },	{ OP_MPROTECT, 60 },	{ OP_MAP_FIXED, 45 },
		{ OP_MUNMAP, 20 },	{ OP_MOVE, 15 },	{ OP_GROW, 20 },
		{ OP_SHRINK, 10 },	{ OP_COLLAPSE, 12 },	{ OP_FORK, 2 },
		{ OP_CLEAR_RANGE, 140 }, { OP_CLEAR_ALL, 12 },	{ OP_CLEAR_REFS, 12 },
		{ OP_GET_CLEAR, 220 },	{ OP_FAILED_CLEAR, 6 },
	};
	unsigned int total = 0, x;

	for (size_t k = 0; k < sizeof(w) / sizeof(w[0]); k++)
		total += w[k].weight;
	x = below(total);
	for (size_t k = 0; k < sizeof(w) / sizeof(w[0]); k++) {
		if (x < w[k].weight)
			return w[k].op;
		x -= w[k].weight;
	}
	return OP_WRITE;
}

static void do_step(enum op op)
{
	struct region *r = &reg[below(NKINDS)];
	const struct region *only = r;
	bool strict = false, clear_step;
	long before = violations;

	ops_done[op]++;
	step_desc[0] = 0;
	clear_step = strict_clean && (op == OP_CLEAR_RANGE || op == OP_CLEAR_ALL ||
				      op == OP_CLEAR_REFS || op == OP_GET_CLEAR);
	if (clear_step)
		before_clear(r);
	switch (op) {
	case OP_WRITE:
		op_write(r);
		break;
	case OP_READ:
		op_read(r);
		break;
	case OP_DONTNEED:
		op_dontneed(r);
		break;
	case OP_PAGEOUT:
		op_pageout(r);
		break;
	case OP_MPROTECT:
		op_mprotect(r);
		break;
	case OP_MAP_FIXED:
		op_map_fixed(r);
		break;
	case OP_MUNMAP:
		op_munmap(r);
		break;
	case OP_MOVE:
		op_move(r, false);
		break;
	case OP_GROW:
		if (chance(50))
			op_grow_in_place(r);
		else
			op_move(r, true);
		break;
	case OP_SHRINK:
		op_shrink(r);
		break;
	case OP_COLLAPSE:
		op_collapse(r);
		break;
	case OP_FORK:
		op_fork();
		only = NULL;
		break;
	case OP_CLEAR_RANGE:
		op_clear_range(r);
		only = NULL;
		break;
	case OP_CLEAR_ALL:
	case OP_CLEAR_REFS:
		strict = op_clear_all(op == OP_CLEAR_REFS);
		only = NULL;
		break;
	case OP_GET_CLEAR:
		op_get_clear(r);
		only = NULL;
		break;
	case OP_FAILED_CLEAR:
		op_failed_clear(&reg[K_MEMFD + below(3)]);
		only = NULL;
		break;
	default:
		break;
	}
	if (clear_step)
		after_clear(op, r);
	check_all(op, strict, only);
	if (violations > before && step_reported == step)
		printf("# step %ld: %ld violations\n", step, violations - before);
	if (step % 64 == 0 || step == 1) {
		/* Coverage: what states the regions are in now and then. */
		static int32_t cat[2048];

		for (int k = 0; k < NKINDS; k++)
			if (categories(&reg[k], 0, reg[k].len, cat))
				note_seen(&reg[k], cat, reg[k].len);
	}
}

FIXTURE(model)
{
	char *area;
	size_t area_len;
	char khugepaged_sleep[32];
	struct timespec t0;
};

FIXTURE_SETUP(model)
{
	size_t pages = 0;

	proc_fd = pm_open_proc();
	dev_fd = pm_open_dev();
	ASSERT_GE(proc_fd, 0);
	ASSERT_GE(dev_fd, 0);
	/*
	 * khugepaged would collapse shared THP ranges at its own time, which
	 * drops their soft-dirty PTEs behind the model's back.
	 */
	ASSERT_TRUE(sysfs_rw(KHUGEPAGED_SLEEP, self->khugepaged_sleep,
			     sizeof(self->khugepaged_sleep), false));
	ASSERT_TRUE(sysfs_rw(KHUGEPAGED_SLEEP, "4294967295", 0, true));
	ASSERT_TRUE(sysfs_rw(MAX_MAP_COUNT, saved_max_map_count, sizeof(saved_max_map_count),
			     false));
	saved_max_map_count[strcspn(saved_max_map_count, "\n")] = 0;
	have_swap = pm_have_swap();
	for (int k = 0; k < NKINDS; k++)
		pages += region_span(k);
	self->area_len = pages * PM_PAGE;
	self->area = pm_map_aligned(self->area_len, PROT_NONE,
				    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1);
	ASSERT_NE(MAP_FAILED, self->area);
	pages = 0;
	for (int k = 0; k < NKINDS; k++) {
		ASSERT_TRUE(region_setup(&reg[k], k, self->area + pages * PM_PAGE))
		TH_LOG("setting up the %s region: %s", kind_name[k], strerror(errno));
		pages += region_span(k);
	}
	install_fault_handler();
	/* Start with huge pages in place: the THP regions written whole. */
	pm_touch(reg[K_ANON_THP].base, reg[K_ANON_THP].len * PM_PAGE, PM_PAGE, true);
	pm_touch(reg[K_MEMFD].base, reg[K_MEMFD].len * PM_PAGE, PM_PAGE, true);
	printf("# at the start: AnonHugePages %ld kB, ShmemPmdMapped %ld kB\n",
	       pm_smaps_kb(reg[K_ANON_THP].base, "AnonHugePages"),
	       pm_smaps_kb(reg[K_MEMFD].base, "ShmemPmdMapped"));
	clock_gettime(CLOCK_MONOTONIC, &self->t0);
}

FIXTURE_TEARDOWN(model)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# %.1f s\n", (double)(t1.tv_sec - self->t0.tv_sec) +
				     (double)(t1.tv_nsec - self->t0.tv_nsec) / 1e9);
	sysfs_rw(MAX_MAP_COUNT, saved_max_map_count, 0, true);
	sysfs_rw(KHUGEPAGED_SLEEP, self->khugepaged_sleep, 0, true);
	close(proc_fd);
	close(dev_fd);
}

/*
 * The random run: `*steps` steps (RPM_MODEL_STEPS-like variable `steps_env`
 * overrides), at most RPM_MODEL_CAP_SECONDS (`*cap`); whether the cap came
 * first. `seed_mix` gives each test a sequence of its own for the same seed.
 */
static bool run_steps(const char *steps_env, const char *cap_env, uint64_t seed_mix, long *steps,
		      double *cap)
{
	const char *env = getenv("RPM_SEED");
	bool capped = false;
	double t0;

	/* The two paging modes explore different sequences unless a seed is given. */
	run_seed = env && *env ? strtoull(env, NULL, 0) : DEFAULT_SEED + pm_paging_levels();
	env = getenv(steps_env);
	if (env && *env)
		*steps = strtol(env, NULL, 0);
	env = getenv(cap_env);
	if (env && *env)
		*cap = strtod(env, NULL);
	rng = (run_seed ^ seed_mix) ? run_seed ^ seed_mix : 1;
	printf("# seed %llu (replay with RPM_SEED=%llu), %ld steps (at most %.0f s), swap %s\n",
	       (unsigned long long)run_seed, (unsigned long long)run_seed, *steps, *cap,
	       have_swap ? "on" : "off");
	check_all(OP_NONE, false, NULL);
	if (strict_clean) {
		/*
		 * First the device's whole clear, while the huge pages the setup wrote
		 * whole (anonymous and shmem THP) are still PMD-mapped and soft-dirty:
		 * random steps alone often split or clean them before any whole clear.
		 */
		step = 0;
		do_step(OP_CLEAR_ALL);
	}
	t0 = now();
	for (step = 1; step <= *steps && !run_fatal && violations < MAX_VIOLATIONS &&
		       not_clean + changed < MAX_VIOLATIONS; step++) {
		enum op op = pick_op();
		double t = now();

		do_step(op);
		op_seconds[op] += now() - t;
		if (step % 1000 == 0)
			printf("# %ld steps, %.1f s, %ld violations\n", step, now() - t0, violations);
		if (now() - t0 > *cap && step < *steps) {
			capped = true;
			step++;
			break;
		}
	}
	step--;
	return capped;
}

TEST_F_TIMEOUT(model, never_a_false_clean, DEFAULT_CAP_SECONDS + 180)
{
	long steps = DEFAULT_STEPS;
	double cap = DEFAULT_CAP_SECONDS;
	bool capped = run_steps("RPM_MODEL_STEPS", "RPM_MODEL_CAP_SECONDS", 0, &steps, &cap);

	printf("# ops (done/ok):");
	for (int k = OP_WRITE; k < OP_SPLIT_ZAP; k++)
		printf(" %s %ld/%ld", op_name[k], ops_done[k], ops_ok[k]);
	printf("\n# collapse: %ld of PTE-mapped blocks; refused: EINVAL %ld, EAGAIN %ld, "
	       "ENOMEM %ld, other %ld", collapsed_small, collapse_refused[0], collapse_refused[1],
	       collapse_refused[2], collapse_refused[3]);
	printf("\n# get-and-clear reported %ld pages in %ld regions; %ld must-dirty page checks; "
	       "%ld strict clean checks; %ld refused splits (ENOMEM)\n",
	       gc_reported, gc_regions, must_checked, strict_checks, enomem_seen);
	printf("# seen: %ld anon THP pages, %ld shmem THP pages, %ld swapped pages, %ld "
	       "misaligned moves, %ld copy-on-write writes after fork\n",
	       thp_seen, shmem_thp_seen, swapped_seen, moves_misaligned, forks_cow);
	printf("# seconds per kind of step (with its check):");
	for (int k = OP_WRITE; k < OP_SPLIT_ZAP; k++)
		printf(" %s %.1f", op_name[k], op_seconds[k]);
	printf("\n");
	for (int k = 0; k < NOPS; k++)
		if (violations_after[k])
			printf("# %ld violations found after a %s step\n", violations_after[k],
			       op_name[k]);
	printf("# never a false clean: %ld violations in %ld steps (%ld of them unreported "
	       "pages a get-and-clear selected)\n",
	       violations, step, missed_reports);
	EXPECT_EQ(0, violations);
	EXPECT_EQ(0, not_cleared) TH_LOG("pages read dirty right after a whole clear");
	EXPECT_EQ(0, errors) TH_LOG("calls failed that must not");
	EXPECT_EQ(0, unexpected_faults);
	EXPECT_FALSE(run_fatal);
	if (violations || errors || run_fatal)
		return;
	/* Every step asked for, however slow the machine; the cap only stops one too slow. */
	ASSERT_FALSE(capped)
	TH_LOG("did not reach coverage in %.0f s (RPM_MODEL_CAP_SECONDS): %ld of %ld steps", cap,
	       step, steps);
	/* A run that never reached the interesting states proves nothing. */
	EXPECT_GE(step, steps);
	for (int k = OP_WRITE; k < OP_SPLIT_ZAP; k++) {
		EXPECT_GT(ops_ok[k], 0) TH_LOG("no %s step ever succeeded", op_name[k]);
	}
	EXPECT_GT(gc_reported, 0);
	EXPECT_GT(enomem_seen, 0);
	EXPECT_GT(strict_checks, 0);
	EXPECT_GT(collapsed_small, 0) TH_LOG("no MADV_COLLAPSE ever collapsed small pages");
	EXPECT_GT(thp_seen, 0) TH_LOG("no anonymous THP was ever PMD-mapped");
	EXPECT_GT(shmem_thp_seen, 0) TH_LOG("no shmem THP was ever PMD-mapped");
	if (have_swap) {
		EXPECT_GT(swapped_seen, 0) TH_LOG("nothing was ever swapped out");
	}
	EXPECT_GT(moves_misaligned, 0);
	EXPECT_GT(forks_cow, 0);
}

/*
 * Clean after every clear, as /proc reads it: the same random run, shorter,
 * with the checks of "clean after a clear" above after every clear step
 * (and /proc's whole clear beside the device's); the model's own checks
 * still run, and must pass too.
 */
TEST_F_TIMEOUT(model, cleared_pages_read_clean_and_others_unchanged,
	       DEFAULT_CLEAN_CAP_SECONDS + 180)
{
	long steps = DEFAULT_CLEAN_STEPS;
	double cap = DEFAULT_CLEAN_CAP_SECONDS;
	bool capped;

	strict_clean = true;
	capped = run_steps("RPM_MODEL_CLEAN_STEPS", "RPM_MODEL_CLEAN_CAP_SECONDS", 0xc1ea2ed, &steps,
			   &cap);
	printf("# ops (done/ok):");
	for (int k = OP_WRITE; k < OP_SPLIT_ZAP; k++)
		printf(" %s %ld/%ld", op_name[k], ops_done[k], ops_ok[k]);
	printf("\n# pages required clean after a clear: ranged %ld, get-and-clear %ld, whole %ld, "
	       "clear_refs %ld (%ld of shared memory, %ld swapped out); required unchanged: "
	       "ranged %ld, get-and-clear %ld, whole %ld, the device's whole after clear_refs %ld\n",
	       clean_checked[OP_CLEAR_RANGE], clean_checked[OP_GET_CLEAR],
	       clean_checked[OP_CLEAR_ALL], clean_checked[OP_CLEAR_REFS], clean_shared,
	       clean_swapped, unchanged_checked[OP_CLEAR_RANGE], unchanged_checked[OP_GET_CLEAR],
	       unchanged_checked[OP_CLEAR_ALL], unchanged_checked[OP_NONE]);
	printf("# clean after every clear: %ld pages not clean, %ld changed that a clear did not "
	       "cover, in %ld steps; %ld violations of never a false clean\n",
	       not_clean, changed, step, violations);
	EXPECT_EQ(0, not_clean) TH_LOG("pages a clear covered read dirty right after it");
	EXPECT_EQ(0, changed) TH_LOG("pages a clear did not cover changed, or the device "
				     "read them otherwise than /proc");
	EXPECT_EQ(0, violations) TH_LOG("pages read clean that must read dirty");
	EXPECT_EQ(0, errors) TH_LOG("calls failed that must not");
	EXPECT_EQ(0, unexpected_faults);
	EXPECT_FALSE(run_fatal);
	if (not_clean || changed || violations || errors || run_fatal)
		return;
	ASSERT_FALSE(capped)
	TH_LOG("did not reach coverage in %.0f s (RPM_MODEL_CAP_SECONDS): %ld of %ld steps", cap,
	       step, steps);
	EXPECT_GE(step, steps);
	/* Each kind of clear was checked, on every kind of memory but hugetlb. */
	EXPECT_GT(clean_checked[OP_CLEAR_RANGE], 0);
	EXPECT_GT(clean_checked[OP_GET_CLEAR], 0);
	EXPECT_GT(clean_checked[OP_CLEAR_ALL], 0);
	EXPECT_GT(clean_checked[OP_CLEAR_REFS], 0);
	EXPECT_GT(unchanged_checked[OP_CLEAR_RANGE], 0);
	EXPECT_GT(unchanged_checked[OP_GET_CLEAR], 0);
	EXPECT_GT(unchanged_checked[OP_NONE], 0);
	EXPECT_GT(clean_shared, 0) TH_LOG("no page of shared memory was ever required clean");
}

int main(int argc, char **argv)
{
	const char *cap = getenv("RPM_MODEL_CAP_SECONDS");

	/* A longer cap gets a longer harness timeout: the cap fails first, with its count. */
	if (cap && *cap)
		_model_never_a_false_clean_object->timeout = (int)strtod(cap, NULL) + 180;
	cap = getenv("RPM_MODEL_CLEAN_CAP_SECONDS");
	if (cap && *cap)
		_model_cleared_pages_read_clean_and_others_unchanged_object->timeout =
			(int)strtod(cap, NULL) + 180;
	return test_harness_run(argc, argv);
}
