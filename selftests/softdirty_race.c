// SPDX-License-Identifier: GPL-2.0
/*
 * Writes on another CPU against clearing and write-protecting: no write may be
 * lost, no clean page may be reported, and the protection must really take.
 *
 * Deterministic rounds, not a free-running race. A writer thread is pinned to
 * the second CPU and spins on a flag in memory (no syscalls, so it never
 * leaves its address space and its TLB entries for the buffer stay hot: a
 * page it wrote keeps a writable translation until somebody flushes it). The
 * main thread, pinned to the first CPU, runs rounds:
 *
 *   1. read back what is dirty (or WRITTEN) and compare with the model: the
 *      pages the writer wrote since the last clear, exactly;
 *   2. clear (get-and-clear, ranged clear, whole-process clear) or
 *      write-protect (PAGEMAP_SCAN with PM_SCAN_WP_MATCHING) through the
 *      device, and check through /proc that it took;
 *   3. tell the writer which random subset of pages to write, each exactly
 *      once, and wait until it has.
 *
 * A clear that does not flush the TLB leaves the writer a writable
 * translation of a page it wrote in the round before: its next write to it
 * does not fault, the page stays clean and step 1 of the next round misses it.
 * That is what these tests are for; `make mutants` proves they catch it.
 *
 * Anonymous memory, shmem (memfd), anonymous THP (written at 2 MiB
 * granularity: a write fault on a protected, exclusive huge PMD dirties all
 * of it, and the test checks that it stays PMD-mapped), and 2 MiB hugetlb
 * pages: write-protection works on them as on THP, and the clears leave them
 * alone, as clear_refs does (the VMA keeps VM_SOFTDIRTY, the entries their
 * bits), so for them the model is that every page reads dirty, always.
 *
 * A clear can also go wrong without any stale TLB entry: by leaving the kernel
 * a way to map a clean page writable. Then the write after it never faults and
 * the page stays clean for good. Pages the clear itself protected do not show
 * it; pages mapped again after the clear do. So the refault variants, after
 * each clear, map a window of pages again the ways the kernel can map a clean
 * page (a read fault on a new shmem page, a read fault that swaps a page in,
 * mprotect from read-only back to read-write) and check through /proc that
 * they are present and clean; the writer writes those first and counts its
 * page faults, which must be one per such page: the proof that the round
 * really had a clean page in front of a write. The writer writes its other
 * pages after that, as in the other variants.
 */
#include "pm_scan.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/resource.h>
#include <time.h>

#include "kselftest_harness.h"
#include "pm_require.h"
#include "pm_share.h"

#define PAGES 512		/* 2 MiB: two PTE tables' worth for 4 KiB memory */
#define THP_PAGES (4 * 512)	/* 8 MiB: four huge pages */
#define ROUNDS 48
#define REFAULT_ROUNDS 16	/* each maps a window again */
#define SWAP_IN_ROUNDS 8	/* each pages a window out first: slow */
#define REFAULT_PAGES 32	/* the window mapped again after each clear */
#define FEW_PAGES 32		/* under x86's full-flush threshold (33 pages) */

enum kind { ANON, SHMEM, THP, HUGETLB };

/* How the refault variants map pages again after a clear (see the top). */
enum refault { NO_REFAULT, HOLE_READ, SWAP_IN_READ, MPROTECT_RW };

/* What the writer is told; every field is written by main before `cmd` moves. */
struct control {
	_Atomic unsigned int cmd;	/* bumped by main to start a batch */
	_Atomic unsigned int done;	/* set to `cmd` by the writer when the batch is written */
	_Atomic bool quit;
	char *buf;
	int n;
	int n_first;			/* page[0..n_first): count the faults their writes take */
	long faults_first;		/* set by the writer: faults of those writes */
	uint32_t page[THP_PAGES];	/* pages to write, each once */
	uint64_t value[THP_PAGES];
} __attribute__((aligned(64)));

static void *writer(void *arg)
{
	struct control *c = arg;
	unsigned int seen = 0;

	for (;;) {
		unsigned int cmd;

		while ((cmd = atomic_load_explicit(&c->cmd, memory_order_acquire)) == seen)
			__builtin_ia32_pause();
		seen = cmd;
		if (atomic_load_explicit(&c->quit, memory_order_relaxed))
			return NULL;
		if (c->n_first) {
			struct rusage r0, r1;

			/* Two syscalls, no flush: the TLB keeps the buffer's entries. */
			getrusage(RUSAGE_THREAD, &r0);
			for (int i = 0; i < c->n_first; i++)
				*(volatile uint64_t *)(c->buf + (size_t)c->page[i] * PM_PAGE) =
					c->value[i];
			getrusage(RUSAGE_THREAD, &r1);
			c->faults_first = (r1.ru_minflt - r0.ru_minflt) +
					  (r1.ru_majflt - r0.ru_majflt);
		}
		for (int i = c->n_first; i < c->n; i++)
			*(volatile uint64_t *)(c->buf + (size_t)c->page[i] * PM_PAGE) = c->value[i];
		atomic_store_explicit(&c->done, cmd, memory_order_release);
	}
}

FIXTURE(race)
{
	int proc, dev, uffd, memfd;
	enum kind kind;
	char *buf;
	size_t pages, len, gran;	/* gran: pages that one write dirties */
	struct control *c;
	pthread_t t;
	bool running;
	uint64_t seed;
	struct timespec t0;
	enum refault refault;
	bool sticky;			/* clears leave every page soft-dirty (hugetlb) */
	uint64_t clean_bit;		/* in /proc: set on a page a write must fault on */
	size_t win0, winn;		/* the writer writes granules [win0, win0 + winn) only */
	bool candidate[THP_PAGES];	/* present, clean, mapped again since the clear */
	long candidates, candidate_faults;	/* over the test: written, and their faults */
	bool model[THP_PAGES];		/* pages that must read dirty / WRITTEN now */
	uint64_t content[THP_PAGES];	/* what each page must hold */
};

FIXTURE_VARIANT(race)
{
	enum kind kind;
	enum refault refault;
};

FIXTURE_VARIANT_ADD(race, anon) { .kind = ANON };
FIXTURE_VARIANT_ADD(race, shmem) { .kind = SHMEM };
FIXTURE_VARIANT_ADD(race, thp) { .kind = THP };
FIXTURE_VARIANT_ADD(race, hugetlb) { .kind = HUGETLB };
/* A read fault maps a new (clean) shmem folio with the VMA's vm_page_prot. */
FIXTURE_VARIANT_ADD(race, shmem_hole_read) { .kind = SHMEM, .refault = HOLE_READ };
/* A read fault swaps an exclusive anonymous page in, writable unless soft-dirty says no. */
FIXTURE_VARIANT_ADD(race, anon_swap_in_read) { .kind = ANON, .refault = SWAP_IN_READ };
/* mprotect makes a shared page writable again unless soft-dirty says no. */
FIXTURE_VARIANT_ADD(race, shmem_mprotect_rw) { .kind = SHMEM, .refault = MPROTECT_RW };

static int pin(pthread_t t, int cpu)
{
	cpu_set_t s;

	CPU_ZERO(&s);
	CPU_SET(cpu, &s);
	return pthread_setaffinity_np(t, sizeof(s), &s);
}

/*
 * The first two CPUs this process may run on, in `cpus`, with the calling
 * thread pinned to the first (the other is for the thread it races with).
 * 0, or -1 when there are not two.
 */
static int pin_first_of_two(int cpus[2])
{
	cpu_set_t all;
	int n = 0;

	if (sched_getaffinity(0, sizeof(all), &all))
		return -1;
	for (int i = 0; i < CPU_SETSIZE && n < 2; i++)
		if (CPU_ISSET(i, &all))
			cpus[n++] = i;
	if (n < 2)
		return -1;
	return pin(pthread_self(), cpus[0]) ? -1 : 0;
}

static uint64_t rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

FIXTURE_SETUP(race)
{
	int cpus[2];

	self->uffd = self->memfd = -1;
	PM_OPEN_BOTH(self);
	PM_REQUIRE_CPUS(2);
	self->kind = variant->kind;
	self->refault = variant->refault;
	self->clean_bit = RPM_SOFT_DIRTY;
	if (self->refault == SWAP_IN_READ && !pm_have_swap())
		SKIP(return, "no swap device active (the guest has zram)");
	/* Main on one CPU, the writer on the other. */
	ASSERT_EQ(0, pin_first_of_two(cpus)) TH_LOG("this process may run on one CPU only");

	self->sticky = self->kind == HUGETLB;
	self->pages = self->kind == THP || self->kind == HUGETLB ? THP_PAGES : PAGES;
	self->gran = self->kind == THP || self->kind == HUGETLB ? 512 : 1;
	self->len = self->pages * PM_PAGE;
	self->win0 = 0;
	self->winn = self->pages / self->gran;
	switch (self->kind) {
	case ANON:
		self->buf = mmap(NULL, self->len, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		ASSERT_NE(MAP_FAILED, self->buf);
		/* Per-page precision: no huge page may make 512 pages dirty at once. */
		ASSERT_EQ(0, madvise(self->buf, self->len, MADV_NOHUGEPAGE));
		break;
	case SHMEM:
		self->memfd = memfd_create("rpm-race", 0);
		ASSERT_GE(self->memfd, 0);
		ASSERT_EQ(0, ftruncate(self->memfd, self->len));
		self->buf = mmap(NULL, self->len, PROT_READ | PROT_WRITE, MAP_SHARED,
				 self->memfd, 0);
		ASSERT_NE(MAP_FAILED, self->buf);
		break;
	case HUGETLB:
		self->buf = pm_hugetlb_map(self->len, PM_HPAGE, MAP_PRIVATE);
		PM_REQUIRE_HUGETLB_MAPPED(self->buf, PM_HPAGE);
		break;
	case THP:
		if (!pm_have_thp())
			SKIP(return, "the kernel has no transparent huge pages");
		self->buf = pm_thp_map(self->len, -1);
		ASSERT_NE(MAP_FAILED, self->buf);
		break;
	}
	/* Every page present and holding a known value; the writer's TLB is warmed below. */
	for (size_t i = 0; i < self->pages; i++) {
		self->content[i] = i + 1;
		*(uint64_t *)(self->buf + i * PM_PAGE) = i + 1;
	}
	if (self->kind == THP)
		PM_REQUIRE_THP(self->proc, self->buf, self->len);

	self->c = mmap(NULL, sizeof(*self->c), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->c);
	self->c->buf = self->buf;
	ASSERT_EQ(0, pthread_create(&self->t, NULL, writer, self->c));
	self->running = true;
	ASSERT_EQ(0, pin(self->t, cpus[1]));
	self->seed = getenv("RPM_RACE_SEED") ? strtoull(getenv("RPM_RACE_SEED"), NULL, 0)
					     : 0x9e3779b97f4a7c15ULL ^ (uint64_t)time(NULL);
	TH_LOG("seed %#llx (RPM_RACE_SEED= repeats it)", (unsigned long long)self->seed);
	clock_gettime(CLOCK_MONOTONIC, &self->t0);
}

FIXTURE_TEARDOWN(race)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# %.1f s\n", (double)(t1.tv_sec - self->t0.tv_sec) +
				    (t1.tv_nsec - self->t0.tv_nsec) / 1e9);
	if (self->running) {
		atomic_store(&self->c->quit, true);
		atomic_fetch_add(&self->c->cmd, 1);
		pthread_join(self->t, NULL);
	}
	if (self->uffd >= 0)
		close(self->uffd);
	if (self->memfd >= 0)
		close(self->memfd);
	PM_CLOSE_BOTH(self);
}

static unsigned int start_batch_of(FIXTURE_DATA(race) *self, unsigned int per,
				   unsigned int round);

/*
 * Tell the writer to write random granules (all if `all`, else about a
 * quarter), each once, at a random page inside the granule, and record them
 * in the model; returns at once. wait_batch() waits until the writer is done.
 */
static unsigned int start_batch(FIXTURE_DATA(race) *self, bool all, unsigned int round)
{
	return start_batch_of(self, all ? 1 : 4, round);
}

/*
 * The same, each granule of the window with probability 1/`per`. The pages
 * marked in candidate[] go first, and the writer counts their faults.
 */
static unsigned int start_batch_of(FIXTURE_DATA(race) *self, unsigned int per, unsigned int round)
{
	struct control *c = self->c;
	unsigned int cmd;

	c->n = 0;
	for (size_t g = self->win0; g < self->win0 + self->winn; g++) {
		size_t page;

		if (rnd(&self->seed) % per)
			continue;
		page = g * self->gran + rnd(&self->seed) % self->gran;
		c->page[c->n] = page;
		c->value[c->n] = ((uint64_t)round << 32) | page;
		self->content[page] = c->value[c->n];
		for (size_t i = 0; i < self->gran; i++)
			self->model[g * self->gran + i] = true;
		c->n++;
	}
	c->n_first = 0;
	for (int i = 0; i < c->n; i++) {
		uint32_t page = c->page[i];
		uint64_t value = c->value[i];

		if (!self->candidate[page])
			continue;
		c->page[i] = c->page[c->n_first];
		c->value[i] = c->value[c->n_first];
		c->page[c->n_first] = page;
		c->value[c->n_first] = value;
		c->n_first++;
	}
	cmd = atomic_load(&c->cmd) + 1;
	atomic_store_explicit(&c->cmd, cmd, memory_order_release);
	return cmd;
}

/*
 * Wait until the writer is done. Every write to a candidate page must have
 * faulted: one that did not found a writable clean PTE, and the page stays
 * clean although written.
 */
static void wait_batch(FIXTURE_DATA(race) *self, unsigned int cmd)
{
	struct control *c = self->c;

	while (atomic_load_explicit(&c->done, memory_order_acquire) != cmd)
		__builtin_ia32_pause();
	if (!c->n_first)
		return;
	self->candidates += c->n_first;
	self->candidate_faults += c->faults_first < c->n_first ? c->faults_first : c->n_first;
	if (c->faults_first < c->n_first)
		printf("# %d writes to present clean pages took %ld faults: writable-clean PTEs\n",
		       c->n_first, c->faults_first);
}

static void write_batch(FIXTURE_DATA(race) *self, bool all, unsigned int round)
{
	wait_batch(self, start_batch(self, all, round));
}

/* Pages [0, pages) whose entries in /proc/self/pagemap have `bit`; -1 on error. */
static int proc_bits(FIXTURE_DATA(race) *self, uint64_t bit, bool *out)
{
	static uint64_t e[THP_PAGES];

	if (pm_read_entries(self->proc, (uintptr_t)self->buf, self->pages, e))
		return -1;
	for (size_t i = 0; i < self->pages; i++)
		out[i] = e[i] & bit;
	return 0;
}

/* Mark the pages of `n` regions in `out` (cleared first). */
static void regions_to_pages(FIXTURE_DATA(race) *self, const struct page_region *r, long n,
			     bool *out)
{
	memset(out, 0, self->pages);
	for (long i = 0; i < n; i++)
		for (uint64_t a = r[i].start; a < r[i].end; a += PM_PAGE)
			if (a >= (uintptr_t)self->buf && a < (uintptr_t)self->buf + self->len)
				out[(a - (uintptr_t)self->buf) / PM_PAGE] = true;
}

/* Count and print (a few of) the pages where `got` and the model differ. */
static long diff_model(FIXTURE_DATA(race) *self, const bool *got, const char *what,
		       unsigned int round)
{
	long bad = 0;

	for (size_t i = 0; i < self->pages; i++) {
		if (got[i] == self->model[i])
			continue;
		if (bad++ < 4)
			printf("# round %u: %s: page %zu reads %s, written %s\n", round, what, i,
			       got[i] ? "dirty" : "clean",
			       self->model[i] ? "since the last clear" : "never since");
	}
	return bad;
}

/* Every page holds what the writer last wrote there (no write went to a stale page). */
static long diff_content(FIXTURE_DATA(race) *self)
{
	long bad = 0;

	for (size_t i = 0; i < self->pages; i++)
		bad += *(uint64_t *)(self->buf + i * PM_PAGE) != self->content[i];
	return bad;
}

enum clear { GET_AND_CLEAR, RANGED, RANGED_FEW, WHOLE };

/*
 * One clear through the device; for get-and-clear, the pages it reported go
 * to `reported`. [*from, *to) is set to the pages the clear covered.
 */
static long do_clear(FIXTURE_DATA(race) *self, enum clear how, bool *reported, size_t *from,
		     size_t *to)
{
	static struct page_region r[THP_PAGES];
	struct rpm_range range;
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.flags = RPM_SCAN_CLEAR_SOFT_DIRTY,
		.start = (uintptr_t)self->buf,
		.end = (uintptr_t)self->buf + self->len,
		.vec = (uintptr_t)r,
		.vec_len = THP_PAGES,
		.category_mask = PAGE_IS_SOFT_DIRTY,
		.return_mask = PAGE_IS_SOFT_DIRTY,
	};
	size_t granules = self->pages / self->gran;
	long ret;

	*from = 0;
	*to = self->pages;
	switch (how) {
	case GET_AND_CLEAR:
		ret = ioctl(self->dev, PAGEMAP_SCAN, &a);
		if (ret >= 0)
			regions_to_pages(self, r, ret, reported);
		return ret;
	case RANGED: {
		/* A random range of whole granules, so that a THP is never split by it. */
		size_t g0 = rnd(&self->seed) % granules;
		size_t g1 = g0 + 1 + rnd(&self->seed) % (granules - g0);

		*from = g0 * self->gran;
		*to = g1 * self->gran;
		range.start = (uintptr_t)self->buf + *from * PM_PAGE;
		range.end = (uintptr_t)self->buf + *to * PM_PAGE;
		return ioctl(self->dev, RPM_IOC_CLEAR_SOFT_DIRTY, &range);
	}
	case RANGED_FEW: {
		/*
		 * 1 to FEW_PAGES pages (one granule of THP): the flush is of each
		 * page, not of the whole mm, so a flush of the wrong pages shows.
		 */
		size_t n = self->gran == 1 ? 1 + rnd(&self->seed) % FEW_PAGES : self->gran;

		*from = rnd(&self->seed) % ((self->pages - n) / self->gran + 1) * self->gran;
		*to = *from + n;
		range.start = (uintptr_t)self->buf + *from * PM_PAGE;
		range.end = (uintptr_t)self->buf + *to * PM_PAGE;
		return ioctl(self->dev, RPM_IOC_CLEAR_SOFT_DIRTY, &range);
	}
	case WHOLE:
	default:
		return ioctl(self->dev, RPM_IOC_CLEAR_SOFT_DIRTY_ALL);
	}
}

/* Rounds of a test: fewer when each maps a window again. */
static unsigned int rounds_of(FIXTURE_DATA(race) *self)
{
	switch (self->refault) {
	case NO_REFAULT:
		return ROUNDS;
	case SWAP_IN_READ:
		return SWAP_IN_ROUNDS;
	default:
		return REFAULT_ROUNDS;
	}
}

/* Count pages the model says written that `got` misses (lost) and the reverse (false). */
static void tally(FIXTURE_DATA(race) *self, const bool *got, long *lost, long *false_hit)
{
	for (size_t i = 0; i < self->pages; i++) {
		*lost += self->model[i] && !got[i];
		*false_hit += !self->model[i] && got[i];
	}
}

/*
 * After a clear of pages [from, to), the refault variants map a random window
 * of REFAULT_PAGES pages of it again their way, then mark in candidate[] the pages a write must
 * fault on, per /proc: present and clean (soft-dirty clear, or with `wp`
 * uffd-wp set). The model follows what the kernel's own rules do to the
 * window: a punched hole is a new page, clean unless its VMA is soft-dirty
 * (and, under write-protection, WRITTEN: it has no uffd-wp bit); mprotect
 * splits the VMA and merges it back, and a merged VMA is soft-dirty when a
 * part of it was. /proc says which, since nothing was written meanwhile.
 */
static void refault(struct __test_metadata *_metadata, FIXTURE_DATA(race) *self, bool wp,
		    size_t from, size_t to)
{
	static uint64_t e[THP_PAGES];
	size_t first, n = REFAULT_PAGES;
	uint64_t bit = wp ? RPM_UFFD_WP : RPM_SOFT_DIRTY;
	char *p;

	memset(self->candidate, 0, self->pages);
	if (self->refault == NO_REFAULT)
		return;
	/* Where the writer writes: inside its window, and what the last clear covered. */
	if (from < self->win0 * self->gran)
		from = self->win0 * self->gran;
	if (to > (self->win0 + self->winn) * self->gran)
		to = (self->win0 + self->winn) * self->gran;
	if (from >= to) {
		from = self->win0 * self->gran;
		to = (self->win0 + self->winn) * self->gran;
	}
	/* Inside that, or over all of it when that is smaller. */
	if (to - from >= n)
		first = from + rnd(&self->seed) % (to - from - n + 1);
	else
		first = from + n > self->pages ? self->pages - n : from;
	p = self->buf + first * PM_PAGE;
	switch (self->refault) {
	case HOLE_READ:
		ASSERT_EQ(0, fallocate(self->memfd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				       first * PM_PAGE, n * PM_PAGE));
		for (size_t i = first; i < first + n; i++)
			self->content[i] = 0;
		break;
	case SWAP_IN_READ:
		ASSERT_EQ((long)n, pm_page_out(self->proc, p, n * PM_PAGE, n))
		TH_LOG("MADV_PAGEOUT did not swap the window out");
		break;
	case MPROTECT_RW:
		ASSERT_EQ(0, mprotect(p, n * PM_PAGE, PROT_READ));
		ASSERT_EQ(0, mprotect(p, n * PM_PAGE, PROT_READ | PROT_WRITE));
		break;
	case NO_REFAULT:
		break;
	}
	for (size_t i = 0; i < n; i++)
		(void)*(volatile uint64_t *)(p + i * PM_PAGE);
	ASSERT_EQ(0, pm_read_entries(self->proc, (uintptr_t)self->buf, self->pages, e));
	for (size_t i = 0; i < self->pages; i++) {
		bool set = e[i] & bit;

		if (self->refault == HOLE_READ && i >= first && i < first + n)
			self->model[i] = wp ? !set : set;
		else if (self->refault == MPROTECT_RW && !wp)
			self->model[i] |= set;
	}
	for (size_t i = first; i < first + n; i++)
		self->candidate[i] = (e[i] & RPM_PRESENT) && (wp ? (e[i] & bit) : !(e[i] & bit));
}

/* The refault variants had pages to show: clean, present, written, and every write faulted. */
static void check_refaults(struct __test_metadata *_metadata, FIXTURE_DATA(race) *self)
{
	if (self->refault == NO_REFAULT)
		return;
	printf("# %ld writes to present clean pages, %ld of them faulted\n", self->candidates,
	       self->candidate_faults);
	EXPECT_LT(0, self->candidates) TH_LOG("no round had a clean page in front of a write");
	EXPECT_EQ(self->candidates, self->candidate_faults);
}

static void run_clear_rounds(struct __test_metadata *_metadata, FIXTURE_DATA(race) *self,
			     enum clear how)
{
	static bool got[THP_PAGES], reported[THP_PAGES];
	long lost = 0, false_dirty = 0, not_cleared = 0, written = 0;

	/* The VMA is new: everything reads dirty until the first clear. */
	for (size_t i = 0; i < self->pages; i++)
		self->model[i] = true;
	/*
	 * Except in the refault variants of the ranged clears: mprotect merges
	 * the parts it split back into a VMA that is soft-dirty if any part was,
	 * so a VMA left soft-dirty around a ranged clear leaves no clean page to
	 * show. They start from a clean VMA.
	 */
	if (self->refault != NO_REFAULT && (how == RANGED || how == RANGED_FEW)) {
		ASSERT_EQ(0, ioctl(self->dev, RPM_IOC_CLEAR_SOFT_DIRTY_ALL));
		memset(self->model, 0, self->pages);
	}
	/* A whole-process clear walks every mapping: fewer rounds of it. */
	unsigned int rounds = how == WHOLE ? rounds_of(self) / 4 : rounds_of(self);

	for (unsigned int round = 0; round < rounds; round++) {
		size_t from, to;

		/* 1. Dirty now, per /proc: exactly what was written since the last clear. */
		ASSERT_EQ(0, proc_bits(self, RPM_SOFT_DIRTY, got));
		if (diff_model(self, got, "before the clear, /proc", round))
			tally(self, got, &lost, &false_dirty);
		/* 2. The clear; a get-and-clear must report exactly the same pages. */
		ASSERT_LE(0, do_clear(self, how, reported, &from, &to))
		TH_LOG("clear failed: %s", strerror(errno));
		if (how == GET_AND_CLEAR && diff_model(self, reported, "get-and-clear", round))
			tally(self, reported, &lost, &false_dirty);
		for (size_t i = from; i < to; i++)
			self->model[i] = self->sticky;
		/* It took: /proc reads clean wherever the model now says so. */
		ASSERT_EQ(0, proc_bits(self, RPM_SOFT_DIRTY, got));
		not_cleared += diff_model(self, got, "after the clear, /proc", round);
		if (self->kind == THP)
			PM_REQUIRE_HUGE(self->proc, self->buf, self->len);
		if (lost || false_dirty || not_cleared)
			break;
		/* The refault variants map a window again (see refault()). */
		refault(_metadata, self, false, from, to);
		/* 3. The writer writes a random subset, once each (everything in round 0). */
		write_batch(self, round == 0, round);
		for (size_t i = 0; i < self->pages; i++)
			written += self->model[i];
	}
	printf("# %u rounds, %ld dirty pages expected; lost %ld, clean reported dirty %ld, "
	       "not cleared %ld\n", rounds, written, lost, false_dirty, not_cleared);
	EXPECT_EQ(0, lost);
	EXPECT_EQ(0, false_dirty);
	EXPECT_EQ(0, not_cleared);
	EXPECT_EQ(0, diff_content(self));
	check_refaults(_metadata, self);
}

/* Atomic get-and-clear (PAGEMAP_SCAN with RPM_SCAN_CLEAR_SOFT_DIRTY), once per round. */
TEST_F_TIMEOUT(race, get_and_clear_reports_exactly_the_writes, 60)
{
	run_clear_rounds(_metadata, self, GET_AND_CLEAR);
}

/*
 * The same with the writer kept to one window of FEW_PAGES pages (one huge
 * page of THP): after the first round a get-and-clear changes at most that
 * many entries, and x86 flushes them page by page instead of flushing the mm.
 */
TEST_F_TIMEOUT(race, get_and_clear_of_few_dirty_pages_reports_exactly_the_writes, 60)
{
	size_t granules = self->pages / self->gran;

	self->winn = FEW_PAGES / self->gran ? FEW_PAGES / self->gran : 1;
	self->win0 = rnd(&self->seed) % (granules - self->winn + 1);
	run_clear_rounds(_metadata, self, GET_AND_CLEAR);
}

/*
 * Get-and-clear while the writer writes: the writer starts a batch (each
 * granule once) and the scan runs at the same time; a second get-and-clear
 * after the writer is done. Every written granule must be reported by at
 * least one of the two, and nothing else by either. Both may report it: the
 * write fault can mark a page dirty, the scan report and clear it, and the
 * store, retried, fault again after the clear point; that is a second dirtying,
 * not a false report.
 */
TEST_F_TIMEOUT(race, get_and_clear_racing_writes_are_all_reported, 60)
{
	static bool first[THP_PAGES], second[THP_PAGES], got[THP_PAGES];
	long lost = 0, twice = 0, false_dirty = 0, not_cleared = 0, written = 0;
	size_t from, to;

	ASSERT_LE(0, do_clear(self, GET_AND_CLEAR, first, &from, &to));
	for (unsigned int round = 1; round < rounds_of(self); round++) {
		unsigned int cmd;

		memset(self->model, self->sticky, self->pages);
		refault(_metadata, self, false, 0, self->pages);
		cmd = start_batch(self, false, round);
		ASSERT_LE(0, do_clear(self, GET_AND_CLEAR, first, &from, &to))
		TH_LOG("get-and-clear failed: %s", strerror(errno));
		wait_batch(self, cmd);
		ASSERT_LE(0, do_clear(self, GET_AND_CLEAR, second, &from, &to))
		TH_LOG("get-and-clear failed: %s", strerror(errno));
		for (size_t i = 0; i < self->pages; i++) {
			written += self->model[i];
			lost += self->model[i] && !first[i] && !second[i];
			twice += first[i] && second[i];
			false_dirty += !self->model[i] && (first[i] || second[i]);
			if (self->model[i] && !first[i] && !second[i] && lost < 4)
				printf("# round %u: page %zu written, reported by neither scan\n",
				       round, i);
		}
		ASSERT_EQ(0, proc_bits(self, RPM_SOFT_DIRTY, got));
		for (size_t i = 0; i < self->pages; i++)
			not_cleared += got[i] != self->sticky;
		if (self->kind == THP)
			PM_REQUIRE_HUGE(self->proc, self->buf, self->len);
		if (lost || false_dirty || not_cleared)
			break;
	}
	printf("# %d rounds, %ld pages written; lost %ld, reported twice %ld, "
	       "reported unwritten %ld, not cleared %ld\n", rounds_of(self), written, lost, twice,
	       false_dirty, not_cleared);
	EXPECT_EQ(0, lost);
	EXPECT_EQ(0, false_dirty);
	EXPECT_EQ(0, not_cleared);
	EXPECT_EQ(0, diff_content(self));
	check_refaults(_metadata, self);
}

/* RPM_IOC_CLEAR_SOFT_DIRTY on a random range, once per round. */
TEST_F_TIMEOUT(race, ranged_clear_loses_no_write, 60)
{
	run_clear_rounds(_metadata, self, RANGED);
}

/* RPM_IOC_CLEAR_SOFT_DIRTY of 1 to FEW_PAGES pages, once per round. */
TEST_F_TIMEOUT(race, ranged_clear_of_few_pages_loses_no_write, 60)
{
	run_clear_rounds(_metadata, self, RANGED_FEW);
}

/* RPM_IOC_CLEAR_SOFT_DIRTY_ALL, once per round. */
TEST_F_TIMEOUT(race, whole_clear_loses_no_write, 60)
{
	run_clear_rounds(_metadata, self, WHOLE);
}

/*
 * The write-protect path: userfaultfd async write-protection, and per round one
 * PAGEMAP_SCAN with PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC on the device
 * that reports the WRITTEN pages and protects them again. Must report exactly
 * the pages written since the round before, and every page must read
 * protected (not WRITTEN, uffd-wp set) in /proc afterwards.
 *
 * For THP the memory is written whole before protection starts, so the first
 * scan protects a huge PMD; the writer's first write to a protected huge page
 * splits it (async write-protection resolves at PTE level), so from then on
 * the granule is a page.
 */
TEST_F_TIMEOUT(race, wp_scan_reports_exactly_the_writes, 60)
{
	static struct page_region r[THP_PAGES];
	static bool got[THP_PAGES];
	long lost = 0, false_written = 0, unprotected = 0, written = 0;

	self->uffd = pm_uffd_async();
	if (self->uffd < 0)
		SKIP(return, "userfaultfd with WP_ASYNC unavailable");
	ASSERT_EQ(0, pm_uffd_register(self->uffd, self->buf, self->len, UFFDIO_REGISTER_MODE_WP));
	/* Registered, not protected: every page reads WRITTEN. */
	for (size_t i = 0; i < self->pages; i++)
		self->model[i] = true;
	for (unsigned int round = 0; round < rounds_of(self); round++) {
		struct pm_scan_arg a = {
			.size = sizeof(a),
			.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
			.start = (uintptr_t)self->buf,
			.end = (uintptr_t)self->buf + self->len,
			.vec = (uintptr_t)r,
			.vec_len = THP_PAGES,
			.category_mask = PAGE_IS_WRITTEN,
			.return_mask = PAGE_IS_WRITTEN,
		};
		long n = ioctl(self->dev, PAGEMAP_SCAN, &a);

		/*
		 * Checked before the writes only where something has to happen between
		 * (a window mapped again; the first THP round's huge PMD); otherwise
		 * after them (below), so that nothing stands between the protection and
		 * the writer's writes: a kernel entry on its CPU may flush its TLB (under
		 * TCG with page table isolation every one does), and a /proc read here
		 * gives a timer tick the time to, hiding a flush the scan left out.
		 */
		bool check_before = self->refault != NO_REFAULT || (round == 0 && self->kind == THP);

		ASSERT_LE(0, n) TH_LOG("scan failed: %s", strerror(errno));
		regions_to_pages(self, r, n, got);
		if (diff_model(self, got, "the scan reported it WRITTEN", round))
			tally(self, got, &lost, &false_written);
		memset(self->model, 0, self->pages);
		if (check_before) {
			/* The protection took: nothing reads WRITTEN, every page is uffd-wp. */
			ASSERT_EQ(0, pm_count_cat(self->proc, self->buf, self->len,
						  PAGE_IS_WRITTEN, 0));
			ASSERT_EQ(0, proc_bits(self, RPM_UFFD_WP, got));
			for (size_t i = 0; i < self->pages; i++)
				unprotected += !got[i];
			if (round == 0 && self->kind == THP)
				PM_REQUIRE_HUGE(self->proc, self->buf, self->len);
		}
		if (lost || false_written || unprotected)
			break;
		refault(_metadata, self, true, 0, self->pages);
		if (round == 0 && self->kind == THP) {
			self->gran = 1;	/* a write un-protects one page from now on (see above) */
			self->winn = self->pages;
			write_batch(self, true, round);
		} else {
			/*
			 * About 128 pages per round whatever the size: the time is in the
			 * faults; half the hugetlb pages (a write unprotects all of one).
			 */
			unsigned int per = self->kind == HUGETLB ? 2 : self->pages / 128;

			wait_batch(self, start_batch_of(self, round == 0 ? 1 : per, round));
		}
		if (!check_before) {
			/*
			 * The protection took and each write faulted: a page written since
			 * reads WRITTEN (its uffd-wp bit gone), every other page uffd-wp.
			 */
			ASSERT_EQ(0, proc_bits(self, RPM_UFFD_WP, got));
			for (size_t i = 0; i < self->pages; i++)
				unprotected += got[i] == self->model[i];
			if (unprotected) {
				printf("# round %u: %ld pages read written and uffd-wp alike in /proc\n",
				       round, unprotected);
				break;
			}
		}
		for (size_t i = 0; i < self->pages; i++)
			written += self->model[i];
	}
	printf("# %d rounds, %ld written pages expected; lost %ld, reported unwritten %ld, "
	       "protection wrong in /proc %ld\n", rounds_of(self), written, lost, false_written,
	       unprotected);
	EXPECT_EQ(0, lost);
	EXPECT_EQ(0, false_written);
	EXPECT_EQ(0, unprotected);
	EXPECT_EQ(0, diff_content(self));
	check_refaults(_metadata, self);
}

/*
 * A write-protecting scan against zaps of the same pages on the other CPU: a
 * thread keeps dropping pages (MADV_DONTNEED) and writing them again, each
 * write a new value, while PAGEMAP_SCAN with PM_SCAN_WP_MATCHING protects
 * what is written. A scan that modifies an entry without holding its
 * page-table lock can write back an entry the zap already removed (mapping a
 * freed page again, or leaving a garbage swap entry): then a write goes to a
 * page that is not the one mapped, or faults in garbage. Every page must end
 * holding the value last written to it, and read as present in /proc.
 */
#define ZAP_PAGES 8
/*
 * The race runs until the zapper has made ZAP_CYCLES zap-and-write cycles and
 * the main thread ZAP_SCANS scans, both at once, however slow the machine; at
 * most ZAP_CAP_SECONDS (the test's timeout, set in main(), is longer).
 */
#ifndef ZAP_CYCLES
#define ZAP_CYCLES 500
#endif
#ifndef ZAP_SCANS
#define ZAP_SCANS 500
#endif
#ifndef ZAP_CAP_SECONDS
#define ZAP_CAP_SECONDS 120
#endif

/* Zaps `count` pieces of `unit` bytes at `p` in turn, each followed by a write of a new value. */
struct zapper {
	char *p;
	size_t unit;
	int count;
	_Atomic bool stop;
	uint64_t want[ZAP_PAGES];
	long ops;
};

static void *zap_loop(void *arg)
{
	struct zapper *z = arg;
	uint64_t v = 0;

	while (!atomic_load_explicit(&z->stop, memory_order_relaxed)) {
		int i = v % z->count;
		char *piece = z->p + (size_t)i * z->unit;

		madvise(piece, z->unit, MADV_DONTNEED);
		z->want[i] = ++v;
		*(volatile uint64_t *)piece = v;
		z->ops++;
	}
	return NULL;
}

TEST(wp_scan_racing_zaps_loses_no_write)
{
	static struct page_region r[ZAP_PAGES];
	static struct zapper z;
	int dev = pm_open_dev(), proc = pm_open_proc(), uffd = pm_uffd_async();
	struct timespec t0, t1;
	long scans = 0, bad = 0;
	bool reached = false;
	double took = 0;
	int cpus[2];
	pthread_t t;

	PM_REQUIRE_CPUS(2);
	ASSERT_GE(dev, 0);
	ASSERT_GE(proc, 0);
	if (uffd < 0)
		SKIP(return, "userfaultfd with WP_ASYNC unavailable");
	ASSERT_EQ(0, pin_first_of_two(cpus)) TH_LOG("this process may run on one CPU only");
	z.p = mmap(NULL, ZAP_PAGES * PM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		   -1, 0);
	ASSERT_NE(MAP_FAILED, z.p);
	ASSERT_EQ(0, madvise(z.p, ZAP_PAGES * PM_PAGE, MADV_NOHUGEPAGE));
	pm_touch(z.p, ZAP_PAGES * PM_PAGE, PM_PAGE, true);
	ASSERT_EQ(0, pm_uffd_register(uffd, z.p, ZAP_PAGES * PM_PAGE, UFFDIO_REGISTER_MODE_WP));
	z.unit = PM_PAGE;
	z.count = ZAP_PAGES;
	ASSERT_EQ(0, pthread_create(&t, NULL, zap_loop, &z));
	ASSERT_EQ(0, pin(t, cpus[1]));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		struct pm_scan_arg a = {
			.size = sizeof(a),
			.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
			.start = (uintptr_t)z.p,
			.end = (uintptr_t)z.p + ZAP_PAGES * PM_PAGE,
			.vec = (uintptr_t)r,
			.vec_len = ZAP_PAGES,
			.category_mask = PAGE_IS_WRITTEN,
			.return_mask = PAGE_IS_WRITTEN,
		};

		if (ioctl(dev, PAGEMAP_SCAN, &a) < 0) {
			printf("# scan failed: %s\n", strerror(errno));
			bad++;
			break;
		}
		scans++;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		took = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
		reached = scans >= ZAP_SCANS && *(volatile long *)&z.ops >= ZAP_CYCLES;
	} while (!reached && took < ZAP_CAP_SECONDS);
	atomic_store(&z.stop, true);
	pthread_join(t, NULL);
	for (int i = 0; i < ZAP_PAGES; i++) {
		uint64_t got = *(volatile uint64_t *)(z.p + (size_t)i * PM_PAGE);

		if (got != z.want[i] && bad++ < 4)
			printf("# page %d holds %llu, last written %llu\n", i,
			       (unsigned long long)got, (unsigned long long)z.want[i]);
	}
	printf("# %ld scans against %ld zap-and-write cycles in %.1f s\n", scans, z.ops, took);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(ZAP_PAGES, pm_count_with(proc, z.p, ZAP_PAGES * PM_PAGE, RPM_PRESENT));
	EXPECT_TRUE(reached)
	TH_LOG("did not reach coverage in %d s: %d scans against %d zap cycles needed",
	       ZAP_CAP_SECONDS, ZAP_SCANS, ZAP_CYCLES);
	close(uffd);
	close(proc);
	close(dev);
}

/*
 * The same against huge PMDs: a thread keeps dropping two THPs whole
 * (MADV_DONTNEED, which clears the PMD and frees the huge page under the PMD
 * lock) and faulting them in again by a write of a new value, while the main
 * thread gets-and-clears them (each clear invalidates the huge PMD and writes
 * it back write-protected). A clear that does so without the PMD lock can
 * write back a PMD the zap cleared: the huge page is freed and mapped again,
 * writes go to a page nobody owns, and the debug kernel reports it. Each
 * huge page must end holding the value last written to it, and read as
 * present. (The window is narrow: a mutant that releases the PMD lock right
 * after taking it survived 200 cycles under TCG. What the test does give is
 * the clear of huge PMDs racing their zaps under KASAN and lockdep.)
 */
#define THP_ZAP_PAGES 1024	/* two huge pages */
#ifndef THP_ZAP_CYCLES
#define THP_ZAP_CYCLES 200
#endif
#ifndef THP_ZAP_CLEARS
#define THP_ZAP_CLEARS 200
#endif

TEST(get_and_clear_racing_thp_zaps_loses_no_write)
{
	static struct page_region r[THP_ZAP_PAGES];
	static struct zapper z;
	int dev = pm_open_dev(), proc = pm_open_proc();
	long clears = 0, bad = 0, huge = 0;
	struct timespec t0, t1;
	bool reached = false;
	double took = 0;
	int cpus[2];
	pthread_t t;

	PM_REQUIRE_CPUS(2);
	ASSERT_GE(dev, 0);
	ASSERT_GE(proc, 0);
	if (!pm_have_thp())
		SKIP(return, "the kernel has no transparent huge pages");
	ASSERT_EQ(0, pin_first_of_two(cpus)) TH_LOG("this process may run on one CPU only");
	z.p = pm_thp_map(2 * PM_HPAGE, -1);
	ASSERT_NE(MAP_FAILED, z.p);
	for (int i = 0; i < 2; i++)
		*(volatile uint64_t *)(z.p + (size_t)i * PM_HPAGE) = 0;
	PM_REQUIRE_THP(proc, z.p, 2 * PM_HPAGE);
	z.unit = PM_HPAGE;
	z.count = 2;
	ASSERT_EQ(0, pthread_create(&t, NULL, zap_loop, &z));
	ASSERT_EQ(0, pin(t, cpus[1]));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		struct pm_scan_arg a = {
			.size = sizeof(a),
			.flags = RPM_SCAN_CLEAR_SOFT_DIRTY,
			.start = (uintptr_t)z.p,
			.end = (uintptr_t)z.p + 2 * PM_HPAGE,
			.vec = (uintptr_t)r,
			.vec_len = THP_ZAP_PAGES,
			.category_mask = PAGE_IS_SOFT_DIRTY,
			.return_mask = PAGE_IS_SOFT_DIRTY | PAGE_IS_HUGE,
		};
		long got = ioctl(dev, PAGEMAP_SCAN, &a);

		if (got < 0) {
			printf("# get-and-clear failed: %s\n", strerror(errno));
			bad++;
			break;
		}
		for (long i = 0; i < got; i++)
			huge += !!(r[i].categories & PAGE_IS_HUGE);
		clears++;
		clock_gettime(CLOCK_MONOTONIC, &t1);
		took = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
		reached = clears >= THP_ZAP_CLEARS && *(volatile long *)&z.ops >= THP_ZAP_CYCLES &&
			  huge >= THP_ZAP_CLEARS / 4;
	} while (!reached && took < ZAP_CAP_SECONDS);
	atomic_store(&z.stop, true);
	pthread_join(t, NULL);
	for (int i = 0; i < 2; i++) {
		uint64_t got = *(volatile uint64_t *)(z.p + (size_t)i * PM_HPAGE);

		if (got != z.want[i] && bad++ < 4)
			printf("# huge page %d holds %llu, last written %llu\n", i,
			       (unsigned long long)got, (unsigned long long)z.want[i]);
	}
	printf("# %ld get-and-clears (%ld huge regions cleared) against %ld zap-and-write cycles "
	       "in %.1f s\n", clears, huge, z.ops, took);
	EXPECT_EQ(0, bad);
	/* The page last written in each (a THP, or a page if none could be had) is there. */
	for (int i = 0; i < 2; i++)
		EXPECT_EQ(1, pm_count_with(proc, z.p + (size_t)i * PM_HPAGE, PM_PAGE, RPM_PRESENT));
	EXPECT_TRUE(reached)
	TH_LOG("did not reach coverage in %d s: %d get-and-clears (a quarter of them clearing "
	       "a huge PMD) against %d zap cycles needed", ZAP_CAP_SECONDS, THP_ZAP_CLEARS,
	       THP_ZAP_CYCLES);
	close(proc);
	close(dev);
}

/* --- the 1 GiB hugetlb page: one PUD-level entry against the writer -------- */

/*
 * The guest's one 1 GiB hugetlb page, against the writer above (pinned to the
 * other CPU, spinning with its TLB entries hot). Protection and clears work on
 * it as on a 2 MiB hugetlb page, but on a PUD-level entry: a write anywhere in
 * the GiB makes all of it WRITTEN, so the model is one flag. The writer writes
 * the same GIB_WRITES random 4 KiB pages of it per batch: a batch written after a
 * protection must fault (once: the first write unprotects the whole page), or
 * it found a writable translation a flush should have removed, and the GiB
 * still reads protected in /proc after it.
 */
#define GIB_ROUNDS 32
#define GIB_WRITES 8

struct gib {
	char *p;
	int dev, proc, uffd;
	struct control *c;
	pthread_t t;
	bool running;
	uint64_t seed;
	unsigned int batches;
	uint32_t page[GIB_ROUNDS * 2 * GIB_WRITES];	/* every page written, in order */
	uint64_t value[GIB_ROUNDS * 2 * GIB_WRITES];
	unsigned int writes;
	bool last_written;		/* the last round wrote a batch */
	uint32_t hot[GIB_WRITES];	/* the pages every batch writes */
};

/*
 * Map and fault in the 1 GiB page (registered for async uffd-wp if `wp`), start
 * the writer on the other CPU; NULL, or why the test cannot run here.
 */
static const char *gib_setup(struct __test_metadata *_metadata, struct gib *g, bool wp)
{
	int cpus[2];

	g->uffd = -1;
	if (wp && (g->uffd = pm_uffd_async()) < 0)
		return "userfaultfd with WP_ASYNC unavailable";
	g->dev = pm_open_dev();
	g->proc = pm_open_proc();
	ASSERT_GE(g->dev, 0);
	ASSERT_GE(g->proc, 0);
	ASSERT_EQ(0, pin_first_of_two(cpus)) TH_LOG("this process may run on one CPU only");
	g->p = pm_hugetlb_map(PM_GPAGE, PM_GPAGE, MAP_PRIVATE);
	if (g->p == MAP_FAILED && pm_hugetlb_reserved(PM_GPAGE >> 10) <= 0)
		return "no 1 GiB hugetlb page reserved (hugepagesz=1G hugepages=1)";
	ASSERT_NE(MAP_FAILED, g->p) TH_LOG("a 1 GiB page is reserved but the mapping failed: %s",
					  strerror(errno));
	/* Faulting it in zeroes a GiB: seconds under TCG with KASAN. */
	*(volatile uint64_t *)g->p = 0;
	ASSERT_EQ(1, pm_count_cat(g->proc, g->p, PM_PAGE, PAGE_IS_PRESENT | PAGE_IS_HUGE, 0));
	g->c = mmap(NULL, sizeof(*g->c), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		    0);
	ASSERT_NE(MAP_FAILED, g->c);
	g->c->buf = g->p;
	ASSERT_EQ(0, pthread_create(&g->t, NULL, writer, g->c));
	g->running = true;
	ASSERT_EQ(0, pin(g->t, cpus[1]));
	g->seed = getenv("RPM_RACE_SEED") ? strtoull(getenv("RPM_RACE_SEED"), NULL, 0)
					  : 0x9e3779b97f4a7c15ULL ^ (uint64_t)time(NULL);
	printf("# seed %#llx (RPM_RACE_SEED= repeats it)\n", (unsigned long long)g->seed);
	for (int i = 0; i < GIB_WRITES; i++)
		g->hot[i] = rnd(&g->seed) % (PM_GPAGE / PM_PAGE);
	if (wp)
		ASSERT_EQ(0, pm_uffd_register(g->uffd, g->p, PM_GPAGE, UFFDIO_REGISTER_MODE_WP));
	return NULL;
}

static void gib_teardown(struct gib *g)
{
	if (g->running) {
		atomic_store(&g->c->quit, true);
		atomic_fetch_add(&g->c->cmd, 1);
		pthread_join(g->t, NULL);
	}
	if (g->p != MAP_FAILED && g->p)
		munmap(g->p, PM_GPAGE);
	if (g->uffd >= 0)
		close(g->uffd);
	close(g->proc);
	close(g->dev);
}

/*
 * Tell the writer to write its GIB_WRITES pages (the same ones every batch, so
 * that its TLB holds their translations from one batch to the next: under TCG
 * a translation is cached per 4 KiB page, also of a huge one, and a page
 * never written before is looked up afresh, stale flush or not), each a new
 * value; returns at once. It counts no faults: the getrusage calls around
 * counted writes are kernel entries, which may flush its TLB (see
 * hugetlb_1g_wp_scan_reports_exactly_the_writes).
 */
static unsigned int gib_start(struct gib *g)
{
	struct control *c = g->c;
	unsigned int cmd;

	g->batches++;
	for (int i = 0; i < GIB_WRITES; i++) {
		c->page[i] = g->hot[i];
		c->value[i] = (uint64_t)g->batches << 32 | c->page[i];
		g->page[g->writes] = c->page[i];
		g->value[g->writes++] = c->value[i];
	}
	c->n = GIB_WRITES;
	c->n_first = 0;
	cmd = atomic_load(&c->cmd) + 1;
	atomic_store_explicit(&c->cmd, cmd, memory_order_release);
	return cmd;
}

/* Wait for the batch. */
static void gib_wait(struct gib *g, unsigned int cmd)
{
	while (atomic_load_explicit(&g->c->done, memory_order_acquire) != cmd)
		__builtin_ia32_pause();
}

/* Pages that do not hold the value last written to them. */
static long gib_diff_content(struct gib *g)
{
	long bad = 0;

	for (unsigned int i = 0; i < g->writes; i++) {
		bool later = false;

		for (unsigned int j = i + 1; j < g->writes && !later; j++)
			later = g->page[j] == g->page[i];
		if (!later && *(uint64_t *)(g->p + (size_t)g->page[i] * PM_PAGE) != g->value[i])
			bad++;
	}
	return bad;
}

/* One write-protecting scan of the GiB through the device: 1 if it reported it WRITTEN. */
static long gib_wp_scan(struct gib *g)
{
	struct page_region r[4];
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		.start = (uintptr_t)g->p,
		.end = (uintptr_t)g->p + PM_GPAGE,
		.vec = (uintptr_t)r,
		.vec_len = 4,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	long n = ioctl(g->dev, PAGEMAP_SCAN, &a);

	if (n == 1 && (r[0].start != (uintptr_t)g->p || r[0].end != (uintptr_t)g->p + PM_GPAGE))
		return -2;	/* a part of a page that is protected and reported whole */
	return n;
}

/* Whether /proc reads the GiB protected: uffd-wp set and not WRITTEN. */
static bool gib_protected(struct gib *g)
{
	uint64_t e;

	return !pm_read_entries(g->proc, (uintptr_t)g->p, 1, &e) && (e & RPM_UFFD_WP) &&
	       pm_count_cat(g->proc, g->p, PM_GPAGE, PAGE_IS_WRITTEN, 0) == 0;
}

/*
 * Rounds of: a write-protecting scan, which must report the GiB WRITTEN exactly
 * when a batch was written since the last one; then at once, in three rounds
 * of four, a batch; then /proc must read the GiB WRITTEN if the batch was
 * written (its first write faulted) and protected if not. Nothing stands
 * between the scan and the writes, and the writer makes no system call: a
 * kernel entry on the writer's CPU may flush its TLB (under TCG with page
 * table isolation every one does), which would hide a flush the scan left out.
 */
TEST(hugetlb_1g_wp_scan_reports_exactly_the_writes)
{
	struct gib g = { .uffd = -1 };
	const char *skip;
	long lost = 0, false_written = 0, unprotected = 0, unfaulted = 0, batches = 0;

	PM_REQUIRE_CPUS(2);
	skip = gib_setup(_metadata, &g, true);
	if (skip)
		SKIP(return, "%s", skip);
	g.last_written = true;	/* registered, not yet protected: WRITTEN */
	for (unsigned int round = 0; round < GIB_ROUNDS; round++) {
		long n = gib_wp_scan(&g);
		bool written = rnd(&g.seed) % 4 != 0, prot;

		if (written)
			gib_wait(&g, gib_start(&g));
		ASSERT_LE(0, n) TH_LOG("scan failed: %s", n == -2 ? "a part reported" : strerror(errno));
		batches += written;
		lost += n == 0 && g.last_written;
		false_written += n == 1 && !g.last_written;
		g.last_written = written;
		/* Written: the first write faulted and unprotected it. Not: still protected. */
		prot = gib_protected(&g);
		unprotected += !written && !prot;
		unfaulted += written && prot;
		if (lost || false_written || unprotected || unfaulted) {
			printf("# round %u: the scan reported %ld; then written %d, /proc: %s\n",
			       round, n, written, prot ? "protected" : "not protected");
			break;
		}
	}
	printf("# %d rounds, %ld batches written; lost %ld, reported unwritten %ld, "
	       "left unprotected %ld, batches whose writes never faulted %ld\n", GIB_ROUNDS,
	       batches, lost, false_written, unprotected, unfaulted);
	EXPECT_LT(0, batches);
	EXPECT_EQ(0, lost);
	EXPECT_EQ(0, false_written);
	EXPECT_EQ(0, unprotected);
	EXPECT_EQ(0, unfaulted);
	EXPECT_EQ(0, gib_diff_content(&g));
	gib_teardown(&g);
}

/*
 * A write-protecting scan while the writer writes a batch, then a second scan
 * after it is done: the batch must be reported by at least one of the two, and
 * the GiB left protected by the second.
 */
TEST(hugetlb_1g_wp_scan_racing_writes_are_all_reported)
{
	struct gib g = { .uffd = -1 };
	const char *skip;
	long lost = 0, unprotected = 0, first_saw = 0;

	PM_REQUIRE_CPUS(2);
	skip = gib_setup(_metadata, &g, true);
	if (skip)
		SKIP(return, "%s", skip);
	ASSERT_EQ(1, gib_wp_scan(&g));
	for (unsigned int round = 0; round < GIB_ROUNDS; round++) {
		unsigned int cmd = gib_start(&g);
		long first = gib_wp_scan(&g), second;

		gib_wait(&g, cmd);
		second = gib_wp_scan(&g);
		ASSERT_LE(0, first) TH_LOG("scan failed: %s", strerror(errno));
		ASSERT_LE(0, second) TH_LOG("scan failed: %s", strerror(errno));
		first_saw += first;
		lost += !first && !second;
		unprotected += !gib_protected(&g);
		if (lost || unprotected) {
			printf("# round %u: the scans reported %ld and %ld\n", round, first, second);
			break;
		}
	}
	printf("# %d rounds; the scan during the batch saw it in %ld; lost %ld, left "
	       "unprotected %ld\n", GIB_ROUNDS, first_saw, lost, unprotected);
	EXPECT_EQ(0, lost);
	EXPECT_EQ(0, unprotected);
	EXPECT_EQ(0, gib_diff_content(&g));
	gib_teardown(&g);
}

/*
 * The clears (get-and-clear, ranged clear of a random part, ranged clear of a
 * few pages, whole-process clear) while the writer writes a batch: they leave
 * hugetlb entries alone, as clear_refs does, so the GiB reads soft-dirty
 * before and after each one, a get-and-clear reports it whole every time, and
 * every page holds what was last written to it.
 */
TEST(hugetlb_1g_clears_racing_writes_leave_it_dirty)
{
	struct gib g = { .uffd = -1 };
	const char *skip;
	long wrong = 0;

	PM_REQUIRE_CPUS(2);
	skip = gib_setup(_metadata, &g, false);
	if (skip)
		SKIP(return, "%s", skip);
	for (unsigned int round = 0; round < GIB_ROUNDS; round++) {
		unsigned int cmd = gib_start(&g);
		size_t first = rnd(&g.seed) % (PM_GPAGE / PM_PAGE), n;
		struct rpm_range range;
		struct page_region r[4];
		struct pm_scan_arg a = {
			.size = sizeof(a),
			.flags = RPM_SCAN_CLEAR_SOFT_DIRTY,
			.start = (uintptr_t)g.p,
			.end = (uintptr_t)g.p + PM_GPAGE,
			.vec = (uintptr_t)r,
			.vec_len = 4,
			.category_mask = PAGE_IS_SOFT_DIRTY,
			.return_mask = PAGE_IS_SOFT_DIRTY,
		};
		long ret;

		switch (round % 4) {
		case 0:
			ret = ioctl(g.dev, PAGEMAP_SCAN, &a);
			if (ret != 1 || r[0].start != a.start || r[0].end != a.end) {
				printf("# round %u: get-and-clear returned %ld\n", round, ret);
				wrong++;
			}
			break;
		case 1:
		case 2:
			n = round % 4 == 1 ? 1 + rnd(&g.seed) % (PM_GPAGE / PM_PAGE - first)
					   : 1 + rnd(&g.seed) % FEW_PAGES;
			if (first + n > PM_GPAGE / PM_PAGE)
				n = PM_GPAGE / PM_PAGE - first;
			range.start = (uintptr_t)g.p + first * PM_PAGE;
			range.end = range.start + n * PM_PAGE;
			ret = ioctl(g.dev, RPM_IOC_CLEAR_SOFT_DIRTY, &range);
			break;
		default:
			ret = ioctl(g.dev, RPM_IOC_CLEAR_SOFT_DIRTY_ALL);
			break;
		}
		ASSERT_LE(0, ret) TH_LOG("round %u: the clear failed: %s", round, strerror(errno));
		gib_wait(&g, cmd);
		if (pm_count_cat(g.proc, g.p, PM_GPAGE, PAGE_IS_SOFT_DIRTY, 0) != (long)(PM_GPAGE / PM_PAGE)) {
			printf("# round %u: the GiB no longer reads soft-dirty in /proc\n", round);
			wrong++;
		}
		if (wrong)
			break;
	}
	printf("# %d rounds of clears against batches of writes; wrong %ld\n", GIB_ROUNDS, wrong);
	EXPECT_EQ(0, wrong);
	EXPECT_EQ(0, gib_diff_content(&g));
	gib_teardown(&g);
}

int main(int argc, char **argv)
{
	_wp_scan_racing_zaps_loses_no_write_object.timeout = ZAP_CAP_SECONDS + 60;
	_get_and_clear_racing_thp_zaps_loses_no_write_object.timeout = ZAP_CAP_SECONDS + 60;
	/* Each faults in a GiB first. */
	_hugetlb_1g_wp_scan_reports_exactly_the_writes_object.timeout = 180;
	_hugetlb_1g_wp_scan_racing_writes_are_all_reported_object.timeout = 180;
	_hugetlb_1g_clears_racing_writes_leave_it_dirty_object.timeout = 180;
	return pm_share_run(argc, argv);
}
