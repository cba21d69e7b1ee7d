// SPDX-License-Identifier: GPL-2.0
/*
 * The edges of soft-dirty clearing (uapi/rust_pagemap.h), each against
 * /proc's own answer:
 *
 * - VMAs the kernel will not split ([vvar], [vdso]) never make a clear fail:
 *   a tracker paging through them with get-and-clear reaches the end, a
 *   ranged clear with an edge inside one succeeds, and nothing outside the
 *   range or not yet reported reads clean;
 * - an empty ranged clear changes nothing (not even the VMAs);
 * - repeated clears keep the number of VMAs bounded by the ranges, not the
 *   calls, and exact: after clears that covered a mapping, one write reads as
 *   exactly one dirty page; a tracker keeps working at vm.max_map_count;
 * - a page pinned for DMA (FOLL_PIN) that a clear cannot write-protect reads
 *   dirty after every clear until it is unpinned: a write to it goes unseen;
 * - PAGEMAP_SCAN writes nothing into the output array past the regions it
 *   returns, in every flavour the device has.
 */
#include "pm_clear.h"
#include "pm_rng.h"

#include <poll.h>
#include <pthread.h>
#include <sys/resource.h>
#include <sys/uio.h>

#include "kselftest_harness.h"
#include "pm_require.h"

#ifndef MREMAP_MAYMOVE
#define MREMAP_MAYMOVE 1
#endif
#ifndef MREMAP_FIXED
#define MREMAP_FIXED 2
#endif

#define MAX_MAP_COUNT "/proc/sys/vm/max_map_count"

/* `pages` anonymous read-write pages between two PROT_NONE guard pages (never merged). */
static char *map_guarded(size_t pages)
{
	char *res = mmap(NULL, (pages + 2) * PM_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			 0);
	char *p;

	if (res == MAP_FAILED)
		return NULL;
	p = mmap(res + PM_PAGE, pages * PM_PAGE, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/*
 * Move the whole of [p, p + len) to a new place with mremap, one page larger:
 * a resize fails with EFAULT when the range spans more than one VMA (a move
 * of the same size may take several VMAs along since Linux 6.17, so it would
 * prove nothing). 0, or errno.
 */
static int mremap_whole(char *p, size_t len)
{
	char *to = mmap(NULL, len + PM_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *got;

	if (to == MAP_FAILED)
		return errno;
	got = mremap(p, len, len + PM_PAGE, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	if (got == MAP_FAILED)
		return errno;
	return got == to ? 0 : EINVAL;
}

/* Pages of [p, p + n pages) that read soft-dirty in /proc, as a bitmap (n <= 512). */
static int dirty_map(int proc, uintptr_t p, size_t n, bool *out)
{
	static uint64_t e[512];

	if (n > 512 || pm_read_entries(proc, p, n, e))
		return -1;
	for (size_t i = 0; i < n; i++)
		out[i] = e[i] & RPM_SOFT_DIRTY;
	return 0;
}

PM_BOTH_FIXTURE(edges)

/* --- VMAs the kernel will not split: [vvar], [vvar_vclock], [vdso] -------- */

#define MAX_SPECIAL 8
#define MAX_SPECIAL_PAGES 512

struct specials {
	int n;
	struct pm_vma v[MAX_SPECIAL];
	uintptr_t lo, hi; /* from the first one's start to the last one's end */
};

static bool is_special(const char *name)
{
	return !strncmp(name, "[vvar", 5) || !strcmp(name, "[vdso]");
}

static int find_specials(struct specials *s)
{
	static struct pm_vma v[4096];
	int n = pm_read_maps(v, 4096);

	memset(s, 0, sizeof(*s));
	for (int i = 0; i < n && s->n < MAX_SPECIAL; i++) {
		if (!is_special(v[i].name))
			continue;
		s->v[s->n++] = v[i];
		if (!s->lo || v[i].start < s->lo)
			s->lo = v[i].start;
		if (v[i].end > s->hi)
			s->hi = v[i].end;
	}
	return s->n;
}

static const struct pm_vma *special_named(const struct specials *s, const char *name)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->v[i].name, name))
			return &s->v[i];
	return NULL;
}

#define REQUIRE_SPECIALS(sp)                                                               \
	do {                                                                               \
		ASSERT_GE(find_specials(sp), 2) TH_LOG("no [vvar] and [vdso] in maps");     \
		ASSERT_TRUE(special_named(sp, "[vdso]") && special_named(sp, "[vvar]"));  \
		ASSERT_LE(((sp)->hi - (sp)->lo) / PM_PAGE, MAX_SPECIAL_PAGES);             \
		for (int i_ = 0; i_ < (sp)->n; i_++)                                        \
			TH_LOG("%s %#lx-%#lx", (sp)->v[i_].name,                            \
			       (unsigned long)(sp)->v[i_].start, (unsigned long)(sp)->v[i_].end); \
	} while (0)

/*
 * A tracker pages through the special mappings with get-and-clear, one page
 * per call, each call from the previous walk_end: every call succeeds, each
 * makes progress, and it reaches the end in at most one call per page (and
 * one more). A page not reported yet keeps the state it had (a page that read
 * dirty still does), and afterwards the device reads what /proc reads.
 */
TEST_F(edges, get_and_clear_by_one_page_walks_through_vdso_and_vvar)
{
	static bool before[MAX_SPECIAL_PAGES], now[MAX_SPECIAL_PAGES];
	static struct page_region vec[1];
	struct specials sp;
	size_t pages;
	uintptr_t at;
	long calls = 0, lost = 0, dirty = 0;

	REQUIRE_SPECIALS(&sp);
	pages = (sp.hi - sp.lo) / PM_PAGE;
	ASSERT_EQ(dirty_map(self->proc, sp.lo, pages, before), 0);
	for (size_t i = 0; i < pages; i++)
		dirty += before[i];
	ASSERT_GT(dirty, 1) TH_LOG("nothing there reads dirty: the walk would cross nothing");

	for (at = sp.lo; at < sp.hi && calls <= (long)pages;) {
		uint64_t walk_end = 0;
		long ret = pm_get_and_clear(self->dev, at, sp.hi, 1, vec, 1, &walk_end);

		calls++;
		if (ret < 0) {
			TH_LOG("call %ld from %#lx: %s", calls, (unsigned long)at, strerror(errno));
			break;
		}
		if (walk_end <= at || walk_end > sp.hi) {
			TH_LOG("call %ld from %#lx: walk_end %#lx", calls, (unsigned long)at,
			       (unsigned long)walk_end);
			break;
		}
		if (ret == 1 && (vec[0].start < at || vec[0].end > walk_end ||
				 vec[0].end - vec[0].start != PM_PAGE)) {
			TH_LOG("call %ld from %#lx: region %#llx-%#llx, walk_end %#lx", calls,
			       (unsigned long)at, (unsigned long long)vec[0].start,
			       (unsigned long long)vec[0].end, (unsigned long)walk_end);
			break;
		}
		at = walk_end;
		ASSERT_EQ(dirty_map(self->proc, sp.lo, pages, now), 0);
		for (size_t i = (at - sp.lo) / PM_PAGE; i < pages; i++) {
			if (before[i] && !now[i] && lost++ < 4)
				TH_LOG("%#lx not reported yet, reads clean after call %ld",
				       (unsigned long)(sp.lo + i * PM_PAGE), calls);
		}
	}
	EXPECT_EQ(at, sp.hi) TH_LOG("stopped at %#lx after %ld calls", (unsigned long)at, calls);
	EXPECT_LE(calls, (long)pages + 1);
	EXPECT_EQ(lost, 0);
	EXPECT_EQ(pm_compare_range(self->proc, self->dev, sp.lo, sp.hi), 0);
}

PM_BOTH_FIXTURE(special_range)

enum shape { START_INSIDE, END_INSIDE, BOTH_INSIDE, ACROSS_ALL };

FIXTURE_VARIANT(special_range)
{
	const char *vma; /* the VMA an edge is inside of; ACROSS_ALL: all of them */
	enum shape shape;
};

FIXTURE_VARIANT_ADD(special_range, start_inside_vvar) { "[vvar]", START_INSIDE };
FIXTURE_VARIANT_ADD(special_range, end_inside_vvar) { "[vvar]", END_INSIDE };
FIXTURE_VARIANT_ADD(special_range, both_inside_vvar) { "[vvar]", BOTH_INSIDE };
FIXTURE_VARIANT_ADD(special_range, start_inside_vdso) { "[vdso]", START_INSIDE };
FIXTURE_VARIANT_ADD(special_range, end_inside_vdso) { "[vdso]", END_INSIDE };
/* From inside the first special VMA to inside the last: both edges unsplittable. */
FIXTURE_VARIANT_ADD(special_range, across_all_special) { NULL, ACROSS_ALL };

/*
 * A ranged clear with an edge inside a VMA the kernel will not split succeeds,
 * and clears nothing outside the range: every page there that read dirty
 * before still does. The device reads what /proc reads afterwards.
 */
TEST_F(special_range, ranged_clear_with_edge_inside_succeeds)
{
	static bool before[MAX_SPECIAL_PAGES], after[MAX_SPECIAL_PAGES];
	struct specials sp;
	uintptr_t start, end;
	size_t pages;
	long lost = 0;
	int ret;

	REQUIRE_SPECIALS(&sp);
	if (variant->shape == ACROSS_ALL) {
		start = sp.lo + PM_PAGE;
		end = sp.hi - PM_PAGE;
	} else {
		const struct pm_vma *v = special_named(&sp, variant->vma);
		size_t need = variant->shape == BOTH_INSIDE ? 3 : 2;

		ASSERT_NE(v, NULL);
		ASSERT_GE((v->end - v->start) / PM_PAGE, need)
		TH_LOG("%s is too small to have an edge inside", variant->vma);
		start = variant->shape == END_INSIDE ? v->start : v->start + PM_PAGE;
		end = variant->shape == START_INSIDE ? v->end : v->end - PM_PAGE;
	}
	pages = (sp.hi - sp.lo) / PM_PAGE;
	ASSERT_EQ(dirty_map(self->proc, sp.lo, pages, before), 0);
	ret = pm_clear_range(self->dev, start, end);
	EXPECT_EQ(ret, 0) TH_LOG("clear %#lx-%#lx: %s", (unsigned long)start, (unsigned long)end,
				 strerror(errno));
	ASSERT_EQ(dirty_map(self->proc, sp.lo, pages, after), 0);
	for (size_t i = 0; i < pages; i++) {
		uintptr_t a = sp.lo + i * PM_PAGE;

		if ((a < start || a >= end) && before[i] && !after[i] && lost++ < 4)
			TH_LOG("%#lx, outside the range, reads clean", (unsigned long)a);
	}
	EXPECT_EQ(lost, 0);
	EXPECT_EQ(pm_compare_range(self->proc, self->dev, sp.lo, sp.hi), 0);
}

/* --- an empty ranged clear ------------------------------------------------ */

#define EMPTY_PAGES 16

PM_BOTH_FIXTURE(empty)

FIXTURE_VARIANT(empty)
{
	size_t at; /* the page index where start == end */
};

FIXTURE_VARIANT_ADD(empty, at_start) { 0 };
FIXTURE_VARIANT_ADD(empty, in_the_middle) { EMPTY_PAGES / 2 };
FIXTURE_VARIANT_ADD(empty, one_page_in) { 1 };
FIXTURE_VARIANT_ADD(empty, at_end) { EMPTY_PAGES };

/*
 * RPM_IOC_CLEAR_SOFT_DIRTY with start == end in a fresh mapping returns 0 and
 * changes nothing: the same lines in /proc/self/maps, the same soft-dirty bit
 * on every page, and the mapping still moves as a whole with mremap.
 */
TEST_F(empty, empty_ranged_clear_changes_nothing)
{
	static bool before[EMPTY_PAGES], after[EMPTY_PAGES];
	char *p = map_guarded(EMPTY_PAGES);
	uintptr_t at;
	int lines, ret, err;

	ASSERT_NE(p, NULL);
	pm_touch(p, EMPTY_PAGES / 2 * PM_PAGE, PM_PAGE, true);
	at = (uintptr_t)p + variant->at * PM_PAGE;
	ASSERT_EQ(dirty_map(self->proc, (uintptr_t)p, EMPTY_PAGES, before), 0);
	lines = pm_maps_lines();
	ASSERT_GT(lines, 0);
	ret = pm_clear_range(self->dev, at, at);
	err = errno;
	EXPECT_EQ(ret, 0) TH_LOG("empty clear at %#lx: %s", (unsigned long)at, strerror(err));
	EXPECT_EQ(pm_maps_lines(), lines);
	ASSERT_EQ(dirty_map(self->proc, (uintptr_t)p, EMPTY_PAGES, after), 0);
	EXPECT_EQ(memcmp(before, after, sizeof(before)), 0);
	err = mremap_whole(p, EMPTY_PAGES * PM_PAGE);
	EXPECT_EQ(err, 0) TH_LOG("mremap of the mapping: %s", strerror(err));
}

/* --- the number of VMAs stays bounded ------------------------------------- */

#define SEQ_PAGES 64
#define SEQ_STEP 4

/* What a sequence of clears did to the process's VMAs, and which calls failed. */
struct seq {
	int dev;
	int lines0;	/* lines of /proc/self/maps before the sequence */
	int max_lines;	/* the most seen after any call */
	int failed;	/* calls that failed */
	long uncovered; /* pages of the mapping the get-and-clears did not report once */
	int over;	/* calls after which there were more lines than the bound */
};

static void seq_start(struct seq *q, int dev)
{
	memset(q, 0, sizeof(*q));
	q->dev = dev;
	q->lines0 = q->max_lines = pm_maps_lines();
}

static int seq_lines(struct seq *q)
{
	int lines = pm_maps_lines();

	if (lines > q->max_lines)
		q->max_lines = lines;
	return lines;
}

/*
 * Sixteen calls over 64 pages at `p`, four pages each: get-and-clears with
 * max_pages = 4, each from the previous walk_end, or ranged clears of
 * consecutive 4-page ranges.
 */
static void by_fours(struct seq *q, enum pm_clear_kind kind, char *p)
{
	static struct page_region vec[SEQ_PAGES];
	uintptr_t base = (uintptr_t)p, end = base + SEQ_PAGES * PM_PAGE, at = base;

	for (int i = 0; i < SEQ_PAGES / SEQ_STEP; i++) {
		if (kind == PM_CLEAR_RANGE) {
			at = base + i * SEQ_STEP * PM_PAGE;
			if (pm_clear_range(q->dev, at, at + SEQ_STEP * PM_PAGE)) {
				printf("# ranged clear %d: %s\n", i, strerror(errno));
				q->failed++;
			}
		} else {
			uint64_t walk_end = at;
			long n = pm_get_and_clear(q->dev, at, end, SEQ_STEP, vec, SEQ_PAGES,
						  &walk_end);

			if (n < 0) {
				printf("# get-and-clear %d from %#lx: %s\n", i, (unsigned long)at,
				       strerror(errno));
				q->failed++;
			}
			for (long r = 0; r < n; r++)
				q->uncovered -= (vec[r].end - vec[r].start) / PM_PAGE;
			if (walk_end > at)
				at = walk_end;
		}
		seq_lines(q);
	}
	if (kind == PM_GET_AND_CLEAR)
		q->uncovered += SEQ_PAGES;
}

FIXTURE(bounded)
{
	int proc, dev;
	char *p;
	struct seq q;
};

FIXTURE_VARIANT(bounded)
{
	enum pm_clear_kind kind; /* PM_CLEAR_RANGE or PM_GET_AND_CLEAR */
	bool written;		 /* the mapping's pages written first, or left unpopulated */
};

FIXTURE_VARIANT_ADD(bounded, get_and_clear_written) { PM_GET_AND_CLEAR, true };
FIXTURE_VARIANT_ADD(bounded, get_and_clear_unpopulated) { PM_GET_AND_CLEAR, false };
FIXTURE_VARIANT_ADD(bounded, ranged_clear_written) { PM_CLEAR_RANGE, true };
FIXTURE_VARIANT_ADD(bounded, ranged_clear_unpopulated) { PM_CLEAR_RANGE, false };

FIXTURE_SETUP(bounded)
{
	PM_OPEN_BOTH(self);
	self->p = map_guarded(SEQ_PAGES);
	ASSERT_NE(self->p, NULL);
	if (variant->written)
		pm_touch(self->p, SEQ_PAGES * PM_PAGE, PM_PAGE, true);
	ASSERT_EQ(pm_soft_dirty_pages(self->proc, (uintptr_t)self->p, SEQ_PAGES), SEQ_PAGES);
	seq_start(&self->q, self->dev);
	ASSERT_GT(self->q.lines0, 0);
}

FIXTURE_TEARDOWN(bounded)
{
	PM_CLOSE_BOTH(self);
}

TEST_F(bounded, sixteen_calls_of_4_pages_keep_maps_at_most_2_lines_above)
{
	by_fours(&self->q, variant->kind, self->p);
	EXPECT_EQ(self->q.failed, 0);
	EXPECT_EQ(self->q.uncovered, 0);
	EXPECT_LE(self->q.max_lines, self->q.lines0 + 2)
	TH_LOG("/proc/self/maps: %d lines before, up to %d after a call, %d at the end",
	       self->q.lines0, self->q.max_lines, pm_maps_lines());
}

TEST_F(bounded, sixteen_calls_of_4_pages_leave_mapping_mremappable)
{
	int err;

	by_fours(&self->q, variant->kind, self->p);
	EXPECT_EQ(self->q.failed, 0);
	err = mremap_whole(self->p, SEQ_PAGES * PM_PAGE);
	EXPECT_EQ(err, 0) TH_LOG("mremap of the mapping: %s", strerror(err));
}

/*
 * Exact, not only bounded: once the calls covered every page, one write reads
 * as exactly one dirty page of the mapping. (A clear that left VM_SOFTDIRTY
 * on the mapping would make every page read dirty.)
 */
static void one_write_reads_as_one_page(struct __test_metadata *_metadata, int proc, char *p,
					size_t pages, size_t which)
{
	static bool d[512];
	long n = 0;

	ASSERT_LE(pages, 512);
	p[which * PM_PAGE] = 7;
	ASSERT_EQ(dirty_map(proc, (uintptr_t)p, pages, d), 0);
	for (size_t i = 0; i < pages; i++)
		n += d[i];
	EXPECT_TRUE(d[which]);
	EXPECT_EQ(n, 1) TH_LOG("%ld of %zu pages read dirty after one write", n, pages);
}

TEST_F(bounded, sixteen_calls_of_4_pages_then_one_write_reads_exactly_that_page)
{
	by_fours(&self->q, variant->kind, self->p);
	EXPECT_EQ(self->q.failed, 0);
	one_write_reads_as_one_page(_metadata, self->proc, self->p, SEQ_PAGES, 37);
}

#define RANDOM_PAGES 256
#define RANDOM_CALLS 64

/* Count `a` among the distinct edges seen so far. */
static void note_edge(uintptr_t *edges, int *n, uintptr_t a)
{
	for (int i = 0; i < *n; i++)
		if (edges[i] == a)
			return;
	edges[(*n)++] = a;
}

/*
 * Random clears of the mapping at `p`, with random writes between them:
 * ranged clears of random ranges, or get-and-clears of random ranges with a
 * random max_pages. A VMA boundary may appear only at an edge some call had
 * (its start, its end, or where a get-and-clear stopped): after each call,
 * at most one more line per distinct edge so far (2 per range, shared edges
 * counted once). Then one clear of the whole mapping (ranged, or a
 * get-and-clear without max_pages).
 */
static void random_clears(struct __test_metadata *_metadata, struct seq *q,
			  enum pm_clear_kind kind, char *p)
{
	static uintptr_t edges[3 * RANDOM_CALLS];
	static struct page_region vec[RANDOM_PAGES];
	uint64_t seed = pm_seed();
	struct pm_rng rng = { seed };
	uintptr_t base = (uintptr_t)p, end = base + RANDOM_PAGES * PM_PAGE;
	int n_edges = 0;

	TH_LOG("RPM_SEED=%#llx", (unsigned long long)seed);
	for (int i = 0; i < RANDOM_CALLS; i++) {
		size_t a = pm_below(&rng, RANDOM_PAGES), b = pm_below(&rng, RANDOM_PAGES);
		uint64_t walk_end = 0;
		uintptr_t s, e;
		int lines, ret;

		if (a > b) {
			size_t t = a;

			a = b;
			b = t;
		}
		s = base + a * PM_PAGE;
		e = base + (b + 1) * PM_PAGE;
		if (kind == PM_CLEAR_RANGE) {
			ret = pm_clear_range(q->dev, s, e);
		} else {
			ret = pm_get_and_clear(q->dev, s, e, pm_below(&rng, 8) + 1, vec,
					       RANDOM_PAGES, &walk_end) < 0 ? -1 : 0;
			if (!ret && walk_end > s && walk_end < e)
				note_edge(edges, &n_edges, walk_end);
		}
		if (ret) {
			printf("# call %d on pages %zu-%zu: %s\n", i, a, b + 1, strerror(errno));
			q->failed++;
		}
		note_edge(edges, &n_edges, s);
		note_edge(edges, &n_edges, e);
		lines = seq_lines(q);
		if (lines > q->lines0 + n_edges && q->over++ < 4)
			printf("# call %d: %d lines, %d before, %d distinct edges\n", i, lines,
			       q->lines0, n_edges);
		for (int w = pm_below(&rng, 4); w > 0; w--)
			p[pm_below(&rng, RANDOM_PAGES) * PM_PAGE]++;
	}
	if (kind == PM_CLEAR_RANGE ? pm_clear_range(q->dev, base, end) :
				     pm_get_and_clear(q->dev, base, end, 0, vec, RANDOM_PAGES,
						      NULL) < 0) {
		printf("# the whole clear: %s\n", strerror(errno));
		q->failed++;
	}
}

FIXTURE(random_clears)
{
	int proc, dev;
	char *p;
	struct seq q;
};

FIXTURE_VARIANT(random_clears)
{
	enum pm_clear_kind kind;
};

FIXTURE_VARIANT_ADD(random_clears, ranged_clear) { PM_CLEAR_RANGE };
FIXTURE_VARIANT_ADD(random_clears, get_and_clear) { PM_GET_AND_CLEAR };

FIXTURE_SETUP(random_clears)
{
	PM_OPEN_BOTH(self);
	self->p = map_guarded(RANDOM_PAGES);
	ASSERT_NE(self->p, NULL);
	pm_touch(self->p, RANDOM_PAGES * PM_PAGE, PM_PAGE, true);
	seq_start(&self->q, self->dev);
	ASSERT_GT(self->q.lines0, 0);
	random_clears(_metadata, &self->q, variant->kind, self->p);
}

FIXTURE_TEARDOWN(random_clears)
{
	PM_CLOSE_BOTH(self);
}

TEST_F(random_clears, keep_vmas_bounded_by_the_edges_and_back_after_whole_clear)
{
	int lines = pm_maps_lines();

	EXPECT_EQ(self->q.failed, 0);
	EXPECT_EQ(self->q.over, 0) TH_LOG("more VMAs than distinct edges after %d calls",
					  self->q.over);
	EXPECT_LE(lines, self->q.lines0 + 2)
	TH_LOG("/proc/self/maps: %d lines before, up to %d, %d after the whole clear",
	       self->q.lines0, self->q.max_lines, lines);
}

TEST_F(random_clears, leave_mapping_mremappable)
{
	int err;

	EXPECT_EQ(self->q.failed, 0);
	err = mremap_whole(self->p, RANDOM_PAGES * PM_PAGE);
	EXPECT_EQ(err, 0) TH_LOG("mremap of the mapping: %s", strerror(err));
}

TEST_F(random_clears, then_one_write_reads_exactly_that_page)
{
	EXPECT_EQ(self->q.failed, 0);
	one_write_reads_as_one_page(_metadata, self->proc, self->p, RANDOM_PAGES, 101);
}

/* --- a tracker at vm.max_map_count ----------------------------------------- */

#define TRACK_ROUNDS 4
#define TRACK_WRITES 3

FIXTURE(map_count)
{
	int proc, dev;
	char old[32]; /* vm.max_map_count to put back; "" when unchanged */
};

FIXTURE_SETUP(map_count)
{
	PM_OPEN_BOTH(self);
	self->old[0] = 0;
}

FIXTURE_TEARDOWN(map_count)
{
	if (self->old[0])
		pm_write_file(MAX_MAP_COUNT, self->old);
	PM_CLOSE_BOTH(self);
}

/*
 * With vm.max_map_count lowered to the number of VMAs the process has, a
 * tracker's loop -- get-and-clears with max_pages = 4 over a fresh mapping,
 * each from the previous walk_end, a few writes between rounds -- keeps
 * working: no call fails (ENOMEM: a split refused), every round reaches the
 * end, and every page written since the previous round is reported.
 */
TEST_F(map_count, get_and_clear_tracker_keeps_working_at_the_limit)
{
	static struct page_region vec[SEQ_PAGES];
	static bool reported[SEQ_PAGES], written[SEQ_PAGES];
	char *p = map_guarded(SEQ_PAGES);
	uintptr_t base = (uintptr_t)p, end = base + SEQ_PAGES * PM_PAGE;
	int err = 0, vmas, bad_round = -1, stuck = -1;
	long missed = 0;
	char limit[32];

	ASSERT_NE(p, NULL);
	pm_touch(p, SEQ_PAGES * PM_PAGE, PM_PAGE, true);
	memset(written, 1, sizeof(written));
	ASSERT_TRUE(pm_read_file(MAX_MAP_COUNT, self->old, sizeof(self->old)));
	vmas = pm_vma_count();
	ASSERT_GT(vmas, 0);
	snprintf(limit, sizeof(limit), "%d", vmas);
	/* From here to the write back: no new VMA (no mmap, no stdio), no assertion. */
	if (!pm_write_file(MAX_MAP_COUNT, limit))
		err = -1;
	for (int round = 0; round < TRACK_ROUNDS && !err && stuck < 0; round++) {
		uintptr_t at = base;

		memset(reported, 0, sizeof(reported));
		for (int calls = 0; at < end; calls++) {
			uint64_t walk_end = at;
			long n;

			if (calls > SEQ_PAGES) {
				stuck = round;
				break;
			}
			n = pm_get_and_clear(self->dev, at, end, SEQ_STEP, vec, SEQ_PAGES, &walk_end);
			if (n < 0) {
				err = errno;
				bad_round = round;
				break;
			}
			for (long r = 0; r < n; r++)
				for (uintptr_t a = vec[r].start; a < vec[r].end; a += PM_PAGE)
					reported[(a - base) / PM_PAGE] = true;
			if (walk_end <= at) {
				stuck = round;
				break;
			}
			at = walk_end;
		}
		/* Every page written since the round before was reported. */
		for (int i = 0; i < SEQ_PAGES; i++)
			missed += written[i] && !reported[i];
		memset(written, 0, sizeof(written));
		for (int k = 0; k < TRACK_WRITES; k++) {
			int i = (round * 7 + k * 21) % SEQ_PAGES;

			p[i * PM_PAGE]++;
			written[i] = true;
		}
	}
	pm_write_file(MAX_MAP_COUNT, self->old);
	self->old[0] = 0;
	TH_LOG("vm.max_map_count %s (the process's VMAs)", limit);
	EXPECT_EQ(err, 0) TH_LOG("round %d: %s", bad_round, strerror(err));
	EXPECT_EQ(stuck, -1) TH_LOG("round %d did not reach the end", stuck);
	EXPECT_EQ(missed, 0) TH_LOG("%ld written pages not reported", missed);
}

/* --- a pinned page ---------------------------------------------------------- */

/*
 * A page pinned with FOLL_PIN, for as long as the test wants: a direct-I/O
 * read from the zram swap device into two buffers, the page and then a page
 * under userfaultfd (missing mode). The block layer pins the user pages of the
 * read one buffer after the other (iov_iter_extract_pages: pin_user_pages_fast),
 * so while the fault on the second waits for the userfaultfd, the first is
 * pinned; the test resolves the fault to let the read finish and unpin it.
 */
struct pin {
	int zram, uffd;
	char *wait;
	struct iovec iov[2];
	pthread_t thread;
	ssize_t got;
	int err;
};

static void *pin_read(void *arg)
{
	struct pin *pin = arg;

	pin->got = preadv(pin->zram, pin->iov, 2, 0);
	pin->err = pin->got < 0 ? errno : 0;
	return NULL;
}

/* Pin `page`; 0 once the read waits on the second buffer, else -1 (`why` says). */
static int pin_start(struct pin *pin, char *page, const char **why)
{
	struct pollfd pfd;
	struct uffd_msg msg;

	memset(pin, 0, sizeof(*pin));
	*why = "open /dev/zram0 O_DIRECT";
	pin->zram = open("/dev/zram0", O_RDONLY | O_DIRECT);
	if (pin->zram < 0)
		return -1;
	*why = "the userfaultfd page";
	pin->wait = mmap(NULL, PM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	pin->uffd = pm_uffd_open(0);
	if (pin->wait == MAP_FAILED || pin->uffd < 0 ||
	    pm_uffd_register(pin->uffd, pin->wait, PM_PAGE, UFFDIO_REGISTER_MODE_MISSING))
		return -1;
	pin->iov[0] = (struct iovec){ page, PM_PAGE };
	pin->iov[1] = (struct iovec){ pin->wait, PM_PAGE };
	*why = "the reader thread";
	if (pthread_create(&pin->thread, NULL, pin_read, pin))
		return -1;
	*why = "no fault on the userfaultfd page (the read did not wait there)";
	pfd = (struct pollfd){ .fd = pin->uffd, .events = POLLIN };
	if (poll(&pfd, 1, 20000) != 1 || read(pin->uffd, &msg, sizeof(msg)) != sizeof(msg))
		return -1;
	if (msg.event != UFFD_EVENT_PAGEFAULT ||
	    (msg.arg.pagefault.address & ~(PM_PAGE - 1)) != (uintptr_t)pin->wait)
		return -1;
	return 0;
}

/* Let the read finish (it unpins the page); 0 if it read both buffers. */
static int pin_release(struct pin *pin)
{
	struct uffdio_zeropage z = { .range = { (uintptr_t)pin->wait, PM_PAGE } };

	if (ioctl(pin->uffd, UFFDIO_ZEROPAGE, &z) && errno != EEXIST)
		return -1;
	pthread_join(pin->thread, NULL);
	close(pin->uffd);
	close(pin->zram);
	munmap(pin->wait, PM_PAGE);
	return pin->got == 2 * PM_PAGE ? 0 : -1;
}

static long minor_faults(void)
{
	struct rusage ru;

	getrusage(RUSAGE_THREAD, &ru);
	return ru.ru_minflt;
}

/* Whether `p` reads soft-dirty through `fd` (/proc/self/pagemap or the device). */
static bool reads_dirty(int fd, const void *p)
{
	uint64_t e = 0;

	return !pm_read_entries(fd, (uintptr_t)p, 1, &e) && (e & RPM_SOFT_DIRTY);
}

/*
 * Pages mapped writable and not soft-dirty, each in a VMA that is soft-dirty
 * as a whole (VM_SOFTDIRTY): written, cleared by /proc/self/clear_refs (clean,
 * write-protected, the VMA's flag consumed), then a new mapping merged onto
 * each page's VMA (a new or expanded VMA is soft-dirty as a whole again), then
 * mprotect read-only and read-write (in a VM_SOFTDIRTY VMA mprotect maps an
 * exclusive anonymous page writable at once, soft-dirty or not). Each page
 * gets a VMA [page][new page] of its own (the caller keeps PROT_NONE between).
 */
static void writable_clean(struct __test_metadata *_metadata, int proc, char **pages, int n)
{
	static struct pm_vma v[4096];
	int nv;

	for (int i = 0; i < n; i++) {
		ASSERT_EQ(mmap(pages[i], PM_PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0), pages[i]);
		pages[i][0] = 1;
	}
	ASSERT_EQ(pm_clear_soft_dirty(), 0);
	for (int i = 0; i < n; i++) {
		ASSERT_FALSE(reads_dirty(proc, pages[i]));
		ASSERT_EQ(mmap(pages[i] + PM_PAGE, PM_PAGE, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0), pages[i] + PM_PAGE);
	}
	nv = pm_read_maps(v, 4096);
	for (int i = 0; i < n; i++) {
		uintptr_t a = (uintptr_t)pages[i];
		long f;

		for (int k = 0; k < nv; k++)
			if (v[k].start <= a && a < v[k].end)
				ASSERT_TRUE(v[k].start == a && v[k].end == a + 2 * PM_PAGE)
				TH_LOG("the new page did not merge onto the page's VMA");
		ASSERT_TRUE(reads_dirty(proc, pages[i])) TH_LOG("the merged VMA is not soft-dirty");
		ASSERT_EQ(mprotect(pages[i], 2 * PM_PAGE, PROT_READ), 0);
		ASSERT_EQ(mprotect(pages[i], 2 * PM_PAGE, PROT_READ | PROT_WRITE), 0);
		f = minor_faults();
		((volatile char *)pages[i])[0] = 2;
		ASSERT_EQ(minor_faults(), f) TH_LOG("the page is not mapped writable");
	}
}

FIXTURE(pinned)
{
	int proc, dev;
};

FIXTURE_VARIANT(pinned)
{
	enum pm_clear_kind kind;
};

FIXTURE_VARIANT_ADD(pinned, clear_range) { PM_CLEAR_RANGE };
FIXTURE_VARIANT_ADD(pinned, clear_all) { PM_CLEAR_ALL };
FIXTURE_VARIANT_ADD(pinned, get_and_clear) { PM_GET_AND_CLEAR };

FIXTURE_SETUP(pinned)
{
	PM_OPEN_BOTH(self);
}

FIXTURE_TEARDOWN(pinned)
{
	PM_CLOSE_BOTH(self);
}

#define PIN_ROUNDS 3

/*
 * A pinned page the clear cannot write-protect, mapped writable and clean,
 * reads dirty after every clear while it is pinned, and after the write that
 * follows (the write does not fault: nothing would mark it). Beside it, in a
 * VMA of its own, a page built the same way but not pinned proves the clear
 * write-protects what it can (its write faults), and the pinned page's write
 * not faulting proves it is pinned.
 */
TEST_F(pinned, pinned_writable_clean_page_reads_dirty_until_unpinned)
{
	static struct page_region vec[16];
	/* [guard][P][P's new page][guard][Q][Q's new page][guard] */
	char *res = mmap(NULL, 7 * PM_PAGE, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *pinned = res + PM_PAGE, *unpinned = res + 4 * PM_PAGE;
	char *both[2] = { pinned, unpinned };
	uintptr_t s = (uintptr_t)res, e = s + 7 * PM_PAGE;
	const char *why;
	struct pin pin;

	ASSERT_NE(res, MAP_FAILED);
	writable_clean(_metadata, self->proc, both, 2);
	ASSERT_EQ(pin_start(&pin, pinned, &why), 0) TH_LOG("pin: %s: %s", why, strerror(errno));

	for (int round = 0; round < PIN_ROUNDS; round++) {
		bool reported = false;
		long f0, f1, f2;

		if (variant->kind == PM_GET_AND_CLEAR) {
			long n = pm_get_and_clear(self->dev, s, e, 0, vec, 16, NULL);

			ASSERT_GE(n, 0) TH_LOG("round %d: get-and-clear: %s", round, strerror(errno));
			for (long r = 0; r < n; r++)
				reported |= vec[r].start <= (uintptr_t)pinned &&
					    (uintptr_t)pinned < vec[r].end;
			EXPECT_TRUE(reported) TH_LOG("round %d: the pinned page not reported", round);
		} else {
			ASSERT_EQ(pm_clear_by(self->dev, variant->kind, s, e), 0)
			TH_LOG("round %d: %s: %s", round, pm_clear_name(variant->kind),
			       strerror(errno));
		}
		EXPECT_TRUE(reads_dirty(self->proc, pinned))
		TH_LOG("round %d: the pinned page reads clean in /proc after %s", round,
		       pm_clear_name(variant->kind));
		EXPECT_TRUE(reads_dirty(self->dev, pinned))
		TH_LOG("round %d: the pinned page reads clean on the device", round);

		f0 = minor_faults();
		((volatile char *)unpinned)[0] = (char)round;
		f1 = minor_faults();
		((volatile char *)pinned)[0] = (char)round;
		f2 = minor_faults();
		ASSERT_GT(f1, f0) TH_LOG("round %d: the unpinned page was not write-protected", round);
		ASSERT_EQ(f2, f1) TH_LOG("round %d: the pinned page faulted: not pinned", round);
		EXPECT_TRUE(reads_dirty(self->proc, pinned))
		TH_LOG("round %d: written, the pinned page reads clean in /proc", round);
		EXPECT_TRUE(reads_dirty(self->dev, pinned))
		TH_LOG("round %d: written, the pinned page reads clean on the device", round);
	}
	ASSERT_EQ(pin_release(&pin), 0) TH_LOG("the direct read: %s", strerror(pin.err));
	munmap(res, 7 * PM_PAGE);
}

/* --- what PAGEMAP_SCAN writes ------------------------------------------------ */

#define OUT_PAGES 6   /* the output array: several pages */
#define SCAN_PAGES 8  /* the memory scanned: one region */
#define PATTERN 0xa5

enum flavour { F_PLAIN, F_WP, F_CLEAR, F_SIZES, F_SIZES_CLEAR, F_SIZES_WP };

FIXTURE(output)
{
	int proc, dev, uffd;
	unsigned char *buf;
};

FIXTURE_VARIANT(output)
{
	enum flavour flavour;
	size_t offset; /* where the array starts in its pages */
};

FIXTURE_VARIANT_ADD(output, plain) { F_PLAIN, 0 };
FIXTURE_VARIANT_ADD(output, plain_unaligned) { F_PLAIN, 1000 };
FIXTURE_VARIANT_ADD(output, wp_matching) { F_WP, 0 };
FIXTURE_VARIANT_ADD(output, wp_matching_unaligned) { F_WP, 1000 };
FIXTURE_VARIANT_ADD(output, get_and_clear) { F_CLEAR, 0 };
FIXTURE_VARIANT_ADD(output, get_and_clear_unaligned) { F_CLEAR, 1000 };
FIXTURE_VARIANT_ADD(output, page_sizes) { F_SIZES, 0 };
FIXTURE_VARIANT_ADD(output, page_sizes_unaligned) { F_SIZES, 1000 };
FIXTURE_VARIANT_ADD(output, page_sizes_get_and_clear) { F_SIZES_CLEAR, 0 };
FIXTURE_VARIANT_ADD(output, page_sizes_get_and_clear_unaligned) { F_SIZES_CLEAR, 1000 };
FIXTURE_VARIANT_ADD(output, page_sizes_wp_matching) { F_SIZES_WP, 0 };
FIXTURE_VARIANT_ADD(output, page_sizes_wp_matching_unaligned) { F_SIZES_WP, 1000 };

FIXTURE_SETUP(output)
{
	PM_OPEN_BOTH(self);
	self->uffd = pm_uffd_async();
	ASSERT_GE(self->uffd, 0);
	self->buf = mmap(NULL, OUT_PAGES * PM_PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(self->buf, MAP_FAILED);
}

FIXTURE_TEARDOWN(output)
{
	close(self->uffd);
	PM_CLOSE_BOTH(self);
}

/* Memory for one scan of the flavour: written, under async uffd-wp for the WP ones. */
static char *scan_memory(struct __test_metadata *_metadata, int uffd, bool wp)
{
	char *m = map_guarded(SCAN_PAGES);

	if (!m)
		return NULL;
	if (wp && pm_uffd_async_wp(uffd, m, SCAN_PAGES * PM_PAGE))
		return NULL;
	pm_touch(m, SCAN_PAGES * PM_PAGE, PM_PAGE, true);
	return m;
}

/*
 * Scan `m` through `fd` into the array at buf + offset, the array's pages
 * filled with a pattern first; the regions returned, or -errno. `*changed`
 * receives the number of bytes of the array's pages that differ from the
 * pattern outside the returned regions.
 */
static long scan_into(int fd, const struct pm_scan_arg *req, unsigned char *buf, size_t offset,
		      long *changed)
{
	size_t total = OUT_PAGES * PM_PAGE, n = (total - offset) / sizeof(struct page_region);
	struct pm_scan_arg a = *req;
	size_t from, to;
	long ret;

	memset(buf, PATTERN, total);
	a.vec = (uintptr_t)(buf + offset);
	a.vec_len = n;
	ret = ioctl(fd, PAGEMAP_SCAN, &a);
	if (ret < 0)
		return -errno;
	from = offset;
	to = offset + ret * sizeof(struct page_region);
	*changed = 0;
	for (size_t i = 0; i < total; i++) {
		if ((i < from || i >= to) && buf[i] != PATTERN && (*changed)++ < 4)
			printf("# byte %zu of the array's pages (%zd from its start) is %#x\n", i,
			       (ssize_t)i - (ssize_t)offset, buf[i]);
	}
	return ret;
}

/* The flavour's request on [m, m + SCAN_PAGES), for the device or /proc. */
static struct pm_scan_arg flavour_req(enum flavour f, char *m, bool dev)
{
	uintptr_t s = (uintptr_t)m, e = s + SCAN_PAGES * PM_PAGE;
	uint64_t sizes = dev && (f == F_SIZES || f == F_SIZES_CLEAR || f == F_SIZES_WP) ?
				 RPM_SCAN_PAGE_SIZES : 0;

	switch (f) {
	case F_WP:
	case F_SIZES_WP:
		return pm_scan_req(s, e, sizes | PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, 0,
				   PAGE_IS_WRITTEN, 0, PAGE_IS_WRITTEN);
	case F_CLEAR:
	case F_SIZES_CLEAR:
		/* /proc has no get-and-clear: its scan of the same selection. */
		return pm_scan_req(s, e, sizes | (dev ? RPM_SCAN_CLEAR_SOFT_DIRTY : 0), 0,
				   PAGE_IS_SOFT_DIRTY, 0, PAGE_IS_SOFT_DIRTY);
	default:
		return pm_scan_req(s, e, sizes, 0, PAGE_IS_PRESENT, 0,
				   PAGE_IS_PRESENT | PAGE_IS_SOFT_DIRTY);
	}
}

/*
 * A scan that returns one region writes that region and nothing else of the
 * caller's array, which spans several pages: no byte before it, none after.
 * /proc's PAGEMAP_SCAN of the same memory (a twin of it) is held to the same.
 */
TEST_F(output, scan_writes_nothing_past_returned_regions)
{
	enum flavour f = variant->flavour;
	bool wp = f == F_WP || f == F_SIZES_WP;
	char *for_proc = scan_memory(_metadata, self->uffd, wp);
	char *for_dev = scan_memory(_metadata, self->uffd, wp);
	struct pm_scan_arg req;
	long ret, changed = -1;

	ASSERT_NE(for_proc, NULL);
	ASSERT_NE(for_dev, NULL);
	req = flavour_req(f, for_proc, false);
	ret = scan_into(self->proc, &req, self->buf, variant->offset, &changed);
	ASSERT_EQ(ret, 1) TH_LOG("/proc's scan: %ld", ret);
	ASSERT_EQ(changed, 0) TH_LOG("/proc's own scan wrote past its region");

	req = flavour_req(f, for_dev, true);
	ret = scan_into(self->dev, &req, self->buf, variant->offset, &changed);
	ASSERT_EQ(ret, 1) TH_LOG("the device's scan: %ld", ret);
	EXPECT_EQ(changed, 0) TH_LOG("%ld bytes of the array changed past the region", changed);
}

TEST_HARNESS_MAIN
