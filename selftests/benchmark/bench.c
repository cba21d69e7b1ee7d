// SPDX-License-Identifier: GPL-2.0
/*
 * bench: times /dev/rust_pagemap against the kernel's own /proc/self/pagemap,
 * PAGEMAP_SCAN and clear_refs, on the same memory, in the same process.
 *
 * Not a selftest (make check does not run it): `make bench` boots the
 * performance kernel and runs it. Every figure is the median of RUNS runs;
 * a run repeats the operation until it has taken at least MIN_RUN_NS, and
 * the device's and the kernel's runs alternate, so that drift (the host,
 * the other vCPU) hits both the same way.
 *
 * Output, per workload:
 *   ratio NAME: X.XX          device time / kernel time (lower is better)
 *   BENCH-CSV,NAME,GROUP,PAGES,DEV_NS,KERN_NS,NOTE
 *   BENCH-ICOUNT,NAME,SEQ,SCOPE,STAT,DEV_DIV,KERN_DIV
 * DEV_NS and KERN_NS are nanoseconds per operation; PAGES is what one
 * operation covers (1 for per-call workloads), so ns/page = NS / PAGES. The
 * host turns the CSV lines into build/bench/results.md and an SVG plot.
 *
 * Instruction counts: after its timed runs, each workload runs its operation
 * COUNT_OPS more times per side, untimed, each between two calls into the
 * marker page (a page of `ret`s at MARK_PAGE), with counting switched on by
 * another marker. Under `make bench` QEMU runs the rpm-icount TCG plugin
 * (qemu/bench/icount-plugin.c), which logs every vCPU's kernel instruction count at
 * each marker to a file on the host; elsewhere the markers are plain calls.
 * BENCH-ICOUNT tells the host how to read the sections of count phase SEQ
 * (marker MARK_WORKLOAD + SEQ): SCOPE which vCPUs' instructions (all, self: the
 * vCPU that ran the markers, others: all but it), STAT how to combine the
 * sections of a side (median of the sections, or total of them), and the
 * divisor per side that makes it instructions per page (or per call).
 *
 * Usage: bench [DENSE_MIB [SWEEP_MAX_MIB [CLEAR_MIB [SPARSE_GIB]]]] [range_mib=MIB]
 *              [only=NAME,NAME...]
 * only= runs just the named workload groups (the bench_* function names without
 * the prefix: read_dense, read_thp, ..., scan_written, clears, clear_range_big,
 * get_and_clear, read_sweep), to time again what a change touched. range_mib= is
 * what clear_range_big populates (default 1024) around its 2 MiB ranged clear.
 */
#include "pm_scan.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>

#define RUNS 7
#define MIN_RUN_NS 100000000ULL
#define GIB (1UL << 30)
#define MIB (1UL << 20)

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif

static int fd_dev = -1, fd_proc = -1;
static size_t dense_bytes = 256 * MIB, sweep_max = 1024 * MIB, clear_bytes = 256 * MIB;
static size_t sparse_gib = 64;
static size_t range_populated = 1024 * MIB; /* what bench_clear_range_big populates */
static const char *group = "read";
static const char *only; /* comma-separated workload groups to run, NULL: all */

/*
 * The marker page (see the top of the file and qemu/bench/icount-plugin.c, which has
 * the same address and the meaning of MARK_COUNT_ON/OFF). A marker is a call to
 * an offset of it; the offset is what the plugin logs.
 */
#define MARK_PAGE 0x4d41524b0000UL
enum {
	MARK_DEV_BEGIN = 0,
	MARK_DEV_END = 1,
	MARK_KERN_BEGIN = 2,
	MARK_KERN_END = 3,
	MARK_COUNT_ON = 16,
	MARK_COUNT_OFF = 17,
	MARK_START = 18, /* a run of this program begins */
	MARK_WORKLOAD = 1024, /* + the count phase's sequence number, up to 3071 */
};
#define COUNT_OPS 5

static unsigned char *mark_page;
/* Count phases so far; in a shared page, so that a forked child's phases are numbered too. */
static int *count_seq;
/* How the host reads the next count phase: which vCPUs, and the statistic. */
static const char *count_scope = "all", *count_stat = "median";
static int last_seq = -1;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static void die(const char *what)
{
	printf("bench: %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

static void marker(unsigned int offset)
{
	if (mark_page)
		((void (*)(void))(mark_page + offset))();
}

/* The marker page: every byte a `ret`, at the address the plugin watches. */
static void map_markers(void)
{
	unsigned char *p = mmap((void *)MARK_PAGE, PM_PAGE, PROT_READ | PROT_WRITE,
				MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	int *seq = mmap(NULL, PM_PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p != (void *)MARK_PAGE || seq == MAP_FAILED) {
		printf("# marker page not mapped at %#lx (%s): no instruction counts\n", MARK_PAGE,
		       strerror(errno));
		return;
	}
	memset(p, 0xc3, PM_PAGE);
	if (mprotect(p, PM_PAGE, PROT_READ | PROT_EXEC))
		die("mprotect marker page");
	mark_page = p;
	count_seq = seq;
}

/* Counting on for the next phase; returns its sequence number. */
static int count_begin(void)
{
	int seq = count_seq ? (*count_seq)++ : 0;

	marker(MARK_COUNT_ON);
	marker(MARK_WORKLOAD + seq % 3072);
	last_seq = mark_page ? seq : -1;
	return seq;
}

static void count_end(void)
{
	marker(MARK_COUNT_OFF);
}

static void pin_to_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	sched_setaffinity(0, sizeof(set), &set);
}

/*
 * One measured operation. `op(ctx, side)` is what is timed (side 0: the
 * device, 1: the kernel); `prep(ctx, side)`, if set, runs before each
 * operation and is not timed (re-dirtying pages a clear will clean).
 */
struct bench_op {
	void (*op)(void *ctx, int side);
	void (*prep)(void *ctx, int side);
	void *ctx;
};

/* One run: repeat until MIN_RUN_NS of timed work; returns ns per operation. */
static double one_run(const struct bench_op *b, int side)
{
	uint64_t spent = 0, n = 0;

	while (spent < MIN_RUN_NS) {
		uint64_t t0;

		if (b->prep)
			b->prep(b->ctx, side);
		t0 = now_ns();
		b->op(b->ctx, side);
		spent += now_ns() - t0;
		n++;
	}
	return (double)spent / (double)n;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

/* Interleaved runs; medians of the device's and the kernel's ns per operation. */
static void measure(const struct bench_op *b, double *dev, double *kern)
{
	double d[RUNS], k[RUNS];

	/* One untimed warm-up of each side: caches, first-touch of buffers. */
	if (b->prep)
		b->prep(b->ctx, 0);
	b->op(b->ctx, 0);
	if (b->prep)
		b->prep(b->ctx, 1);
	b->op(b->ctx, 1);
	for (int i = 0; i < RUNS; i++) {
		/* Alternate which side goes first as well. */
		if (i & 1) {
			k[i] = one_run(b, 1);
			d[i] = one_run(b, 0);
		} else {
			d[i] = one_run(b, 0);
			k[i] = one_run(b, 1);
		}
	}
	qsort(d, RUNS, sizeof(d[0]), cmp_double);
	qsort(k, RUNS, sizeof(k[0]), cmp_double);
	*dev = d[RUNS / 2];
	*kern = k[RUNS / 2];
}

/*
 * The count phase of a workload, after its timed runs: COUNT_OPS operations
 * per side, alternating, each between a begin and an end marker (prep outside
 * them), counting on. Not timed: the counting slows the guest's kernel code.
 */
static void count(const struct bench_op *b)
{
	count_begin();
	for (int i = 0; i < COUNT_OPS; i++) {
		for (int j = 0; j < 2; j++) {
			int side = j ^ (i & 1);

			if (b->prep)
				b->prep(b->ctx, side);
			marker(side ? MARK_KERN_BEGIN : MARK_DEV_BEGIN);
			b->op(b->ctx, side);
			marker(side ? MARK_KERN_END : MARK_DEV_END);
		}
	}
	count_end();
}

/* How the host is to read the last count phase: divisors give instructions per page or call. */
static void report_count(const char *name, double dev_div, double kern_div)
{
	if (last_seq < 0)
		return;
	printf("BENCH-ICOUNT,%s,%d,%s,%s,%.0f,%.0f\n", name, last_seq, count_scope, count_stat,
	       dev_div, kern_div);
	last_seq = -1;
	count_scope = "all";
	count_stat = "median";
}

static void report(const char *name, long pages, double dev, double kern, const char *note)
{
	printf("ratio %s: %.2f\n", name, dev / kern);
	printf("BENCH-CSV,%s,%s,%ld,%.0f,%.0f,%s\n", name, group, pages, dev, kern, note);
	fflush(stdout);
}

static void run(const char *name, long pages, const struct bench_op *b, const char *note)
{
	double dev, kern;

	measure(b, &dev, &kern);
	count(b);
	report(name, pages, dev, kern, note);
	report_count(name, pages, pages);
}

/* ---- memory set-up ---- */

static char *map_anon(size_t len, int advice)
{
	char *p = pm_map_aligned(len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);

	if (p == MAP_FAILED)
		die("mmap");
	if (advice >= 0 && madvise(p, len, advice))
		die("madvise");
	return p;
}

static void touch(char *p, size_t len, size_t every_pages)
{
	pm_touch(p, len, every_pages * PM_PAGE, true);
}

static int write_file(const char *path, const char *val)
{
	int fd = open(path, O_WRONLY);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, val, strlen(val));
	close(fd);
	return n == (ssize_t)strlen(val) ? 0 : -1;
}

static void clear_refs(void)
{
	if (write_file("/proc/self/clear_refs", "4"))
		die("clear_refs");
}

/* ---- reads ---- */

struct read_ctx {
	uintptr_t start;
	size_t pages;
	uint64_t *buf;
	int dev, proc;
};

static void read_op(void *c, int side)
{
	struct read_ctx *r = c;
	size_t len = r->pages * 8;

	if (pread(side ? r->proc : r->dev, r->buf, len, (off_t)(r->start / PM_PAGE) * 8) !=
	    (ssize_t)len)
		die("pread");
}

static uint64_t *entry_buffer(size_t pages)
{
	uint64_t *buf = mmap(NULL, pages * 8, PROT_READ | PROT_WRITE,
			     MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);

	if (buf == MAP_FAILED)
		die("mmap buffer");
	return buf;
}

/* Times one whole-range pread through both files; checks once that they agree. */
static void read_range(const char *name, void *p, size_t len, int dev, int proc, const char *note)
{
	struct read_ctx r = { (uintptr_t)p, len / PM_PAGE, NULL, dev, proc };
	struct bench_op b = { read_op, NULL, &r };
	long bad;

	r.buf = entry_buffer(r.pages);
	bad = pm_compare_range(proc, dev, r.start, r.start + len);
	if (bad)
		printf("# %s: device and /proc differ in %ld entries (timed anyway)\n", name, bad);
	run(name, r.pages, &b, note);
	munmap(r.buf, r.pages * 8);
}

static void bench_read_dense(void)
{
	char *p = map_anon(dense_bytes, MADV_NOHUGEPAGE);

	touch(p, dense_bytes, 1);
	read_range("read_dense_4k", p, dense_bytes, fd_dev, fd_proc, "anon 4 KiB, root");

	/* After fork(): every page is mapped by two processes (no PM_MMAP_EXCLUSIVE). */
	pid_t child = fork();

	if (child < 0)
		die("fork");
	if (!child) {
		pause();
		_exit(0);
	}
	read_range("read_dense_4k_forked", p, dense_bytes, fd_dev, fd_proc,
		   "anon 4 KiB, shared with a child after fork()");
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	munmap(p, dense_bytes);

	/* Unprivileged: a child that drops to nobody and opens both files itself. */
	fflush(stdout);
	child = fork();
	if (child < 0)
		die("fork");
	if (!child) {
		if (setgid(65534) || setuid(65534))
			die("setuid");
		/* Changing uid makes the process non-dumpable, which hides its own /proc files. */
		if (prctl(PR_SET_DUMPABLE, 1))
			die("PR_SET_DUMPABLE");
		int dev = pm_open_dev(), proc = pm_open_proc();

		if (dev < 0 || proc < 0)
			die("open as nobody");
		p = map_anon(dense_bytes, MADV_NOHUGEPAGE);
		touch(p, dense_bytes, 1);
		read_range("read_dense_4k_user", p, dense_bytes, dev, proc,
			   "anon 4 KiB, unprivileged (no frame numbers)");
		fflush(stdout);
		_exit(0);
	}
	waitpid(child, NULL, 0);
}

static void bench_read_thp(void)
{
	char *p = map_anon(dense_bytes, MADV_HUGEPAGE);

	touch(p, dense_bytes, 1);
	printf("# THP: AnonHugePages %ld kB of %zu\n", pm_smaps_kb(p, "AnonHugePages"),
	       dense_bytes >> 10);
	read_range("read_thp", p, dense_bytes, fd_dev, fd_proc, "anon THP (PMD-mapped)");
	munmap(p, dense_bytes);
}

static void bench_read_mthp(void)
{
	const char *m64 = "/sys/kernel/mm/transparent_hugepage/hugepages-64kB/enabled";
	const char *m2m = "/sys/kernel/mm/transparent_hugepage/hugepages-2048kB/enabled";
	char *p;

	if (write_file(m64, "always") || write_file(m2m, "never")) {
		printf("# mTHP sizes cannot be set: read_mthp_64k not run\n");
		return;
	}
	p = map_anon(dense_bytes, -1);
	touch(p, dense_bytes, 1);
	write_file(m64, "never");
	write_file(m2m, "inherit");
	printf("# mTHP: AnonHugePages %ld kB (expected 0: 64 KiB folios are PTE-mapped)\n",
	       pm_smaps_kb(p, "AnonHugePages"));
	read_range("read_mthp_64k", p, dense_bytes, fd_dev, fd_proc, "anon 64 KiB mTHP folios");
	munmap(p, dense_bytes);
}

static void bench_read_tmpfs(void)
{
	int fd = open("/tmp/bench-tmpfs", O_RDWR | O_CREAT | O_TRUNC, 0600);
	char *p;

	if (fd < 0 || ftruncate(fd, dense_bytes))
		die("tmpfs file");
	p = pm_map_aligned(dense_bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	if (p == MAP_FAILED)
		die("mmap tmpfs");
	touch(p, dense_bytes, 1);
	read_range("read_tmpfs", p, dense_bytes, fd_dev, fd_proc, "tmpfs file, MAP_SHARED");
	munmap(p, dense_bytes);
	close(fd);
	unlink("/tmp/bench-tmpfs");
}

static void bench_read_swap(void)
{
	size_t len = dense_bytes < 64 * MIB ? dense_bytes : 64 * MIB;
	char *p;

	if (!pm_have_swap()) {
		printf("# no swap: read_zram not run\n");
		return;
	}
	p = map_anon(len, MADV_NOHUGEPAGE);
	touch(p, len, 1);
	if (madvise(p, len, MADV_PAGEOUT))
		die("MADV_PAGEOUT");
	printf("# zram: Swap %ld kB of %zu\n", pm_smaps_kb(p, "Swap"), len >> 10);
	read_range("read_zram", p, len, fd_dev, fd_proc, "anonymous pages swapped out to zram");
	munmap(p, len);
}

/* A reservation of sparse_gib GiB (64 by default) with one page populated per GiB. */
static char *map_sparse(void)
{
	size_t len = sparse_gib * GIB;
	char *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

	if (p == MAP_FAILED)
		die("mmap 64 GiB");
	for (size_t off = GIB / 2; off < len; off += GIB)
		p[off] = 1;
	return p;
}

static void bench_read_sparse(void)
{
	char *p = map_sparse();

	read_range("read_sparse", p, sparse_gib * GIB, fd_dev, fd_proc,
		   "sparse reservation (64 GiB by default), one page per GiB");
	munmap(p, sparse_gib * GIB);
}

struct pread8_ctx {
	uintptr_t start;
	size_t pages;
};

#define PREADS_PER_OP 1024

static void pread8_op(void *c, int side)
{
	struct pread8_ctx *r = c;
	uint64_t e;
	int fd = side ? fd_proc : fd_dev;

	for (size_t i = 0; i < PREADS_PER_OP; i++) {
		size_t page = (i * 97) % r->pages;

		if (pread(fd, &e, 8, (off_t)(r->start / PM_PAGE + page) * 8) != 8)
			die("pread 8");
	}
}

static void bench_read_pread8(void)
{
	size_t len = 64 * MIB;
	char *p = map_anon(len, MADV_NOHUGEPAGE);
	struct pread8_ctx r = { (uintptr_t)p, len / PM_PAGE };
	struct bench_op b = { pread8_op, NULL, &r };
	double dev, kern;

	touch(p, len, 1);
	measure(&b, &dev, &kern);
	count(&b);
	report("read_pread8", 1, dev / PREADS_PER_OP, kern / PREADS_PER_OP,
	       "one 8-byte pread (per-call cost)");
	report_count("read_pread8", PREADS_PER_OP, PREADS_PER_OP);
	munmap(p, len);
}

static void bench_read_sweep(void)
{
	const char *saved = group;

	group = "sweep";
	for (size_t len = MIB; len <= sweep_max; len *= 4) {
		char name[64];
		char *p = map_anon(len, MADV_NOHUGEPAGE);

		touch(p, len, 1);
		snprintf(name, sizeof(name), "sweep_dense_%zum", len / MIB);
		read_range(name, p, len, fd_dev, fd_proc, "dense 4 KiB read by mapping size");
		munmap(p, len);
	}
	group = saved;
}

/* ---- scans ---- */

struct scan_ctx {
	struct pm_scan_arg arg;
	struct page_region *vec;
	void (*prep)(struct scan_ctx *s);
	char *p;
	size_t len;
	long expect; /* regions a scan must return, -1: any */
};

static void scan_op(void *c, int side)
{
	struct scan_ctx *s = c;
	struct pm_scan_arg a = s->arg;
	long n = ioctl(side ? fd_proc : fd_dev, PAGEMAP_SCAN, &a);

	if (n < 0)
		die("PAGEMAP_SCAN");
	if (s->expect >= 0 && n != s->expect) {
		printf("bench: %s scan returned %ld regions, expected %ld\n",
		       side ? "/proc" : "device", n, s->expect);
		exit(1);
	}
}

static void scan_prep(void *c, int side)
{
	struct scan_ctx *s = c;

	(void)side;
	s->prep(s);
}

static void scan_setup(struct scan_ctx *s, void *p, size_t len, uint64_t flags, uint64_t mask,
		       uint64_t ret_mask, size_t vec_len)
{
	memset(s, 0, sizeof(*s));
	s->p = p;
	s->len = len;
	s->expect = -1;
	s->vec = calloc(vec_len ? vec_len : 1, sizeof(*s->vec));
	if (!s->vec)
		die("calloc");
	s->arg = (struct pm_scan_arg){
		.size = sizeof(s->arg),
		.flags = flags,
		.start = (uintptr_t)p,
		.end = (uintptr_t)p + len,
		.vec = vec_len ? (uintptr_t)s->vec : 0,
		.vec_len = vec_len,
		.max_pages = 0,
		.category_mask = mask,
		.return_mask = ret_mask,
	};
}

static void scan_run(const char *name, struct scan_ctx *s, const char *note)
{
	struct bench_op b = { scan_op, s->prep ? scan_prep : NULL, s };

	run(name, s->len / PM_PAGE, &b, note);
	free(s->vec);
}

static void bench_scan_softdirty(void)
{
	char *p = map_anon(dense_bytes, MADV_NOHUGEPAGE);
	size_t pages = dense_bytes / PM_PAGE;
	struct scan_ctx s;

	touch(p, dense_bytes, 1);
	clear_refs();
	touch(p, dense_bytes, 100);
	scan_setup(&s, p, dense_bytes, 0, PAGE_IS_SOFT_DIRTY, PAGE_IS_SOFT_DIRTY, pages / 100 + 2);
	s.expect = (pages + 99) / 100;
	scan_run("scan_softdirty_1pct", &s, "soft-dirty pages, 1% dirty");

	scan_setup(&s, p, dense_bytes, 0, PAGE_IS_PRESENT, PAGE_IS_PRESENT, 16);
	s.expect = 1;
	scan_run("scan_present", &s, "present pages, all present (one region)");

	/* Every other page dirty: as many regions as dirty pages. */
	clear_refs();
	touch(p, dense_bytes, 2);
	scan_setup(&s, p, dense_bytes, 0, PAGE_IS_SOFT_DIRTY, PAGE_IS_SOFT_DIRTY, pages / 2 + 2);
	s.expect = pages / 2;
	scan_run("scan_every_other", &s, "every other page selected, vec_len = pages/2");
	munmap(p, dense_bytes);
}

static void rewrite_1pct(struct scan_ctx *s)
{
	touch(s->p, s->len, 100);
}

static void bench_scan_written(void)
{
	char *p = map_anon(dense_bytes, MADV_NOHUGEPAGE);
	size_t pages = dense_bytes / PM_PAGE;
	int uffd = pm_uffd_async();
	struct scan_ctx s;

	if (uffd < 0) {
		printf("# no async uffd-wp: WRITTEN scans not run\n");
		munmap(p, dense_bytes);
		return;
	}
	touch(p, dense_bytes, 1);
	if (pm_uffd_async_wp(uffd, p, dense_bytes))
		die("uffd wp");
	touch(p, dense_bytes, 100);

	scan_setup(&s, p, dense_bytes, 0, PAGE_IS_WRITTEN, PAGE_IS_WRITTEN, pages / 100 + 2);
	s.expect = (pages + 99) / 100;
	scan_run("scan_written_1pct", &s, "uffd async WP, 1% written, no WP");

	/* The GetWriteWatch way: report the written pages and protect them again. */
	scan_setup(&s, p, dense_bytes, PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		   PAGE_IS_WRITTEN, PAGE_IS_WRITTEN, pages / 100 + 2);
	s.prep = rewrite_1pct;
	s.expect = (pages + 99) / 100;
	scan_run("scan_written_wp_1pct", &s, "uffd async WP, 1% written, PM_SCAN_WP_MATCHING");
	munmap(p, dense_bytes);
	close(uffd);
}

static void bench_scan_maxpages(void)
{
	char *p = map_sparse();
	struct scan_ctx s;

	scan_setup(&s, p, sparse_gib * GIB, 0, PAGE_IS_PRESENT, PAGE_IS_PRESENT, 16);
	s.arg.max_pages = 1;
	s.expect = 1;
	scan_run("scan_max_pages_1", &s, "max_pages = 1 over the sparse reservation");
	munmap(p, sparse_gib * GIB);
}

static void bench_scan_thp(void)
{
	char *p = map_anon(dense_bytes, MADV_HUGEPAGE);
	struct scan_ctx s;

	touch(p, dense_bytes, 1);
	scan_setup(&s, p, dense_bytes, 0, PAGE_IS_PRESENT, PAGE_IS_PRESENT | PAGE_IS_HUGE, 4096);
	scan_run("scan_thp", &s, "present pages of a THP-backed area");
	munmap(p, dense_bytes);
}

/* ---- clears ---- */

struct clear_ctx {
	char *p;
	size_t len;
	size_t every; /* pages between re-dirtied pages */
	uintptr_t range_start, range_end; /* ranged clear, else whole process */
};

static void clear_prep(void *c, int side)
{
	struct clear_ctx *x = c;

	(void)side;
	if (x->range_end)
		touch((char *)x->range_start, x->range_end - x->range_start, 1);
	else
		touch(x->p, x->len, x->every);
}

static void clear_op(void *c, int side)
{
	struct clear_ctx *x = c;

	if (side) {
		clear_refs();
	} else if (x->range_end) {
		struct rpm_range r = { x->range_start, x->range_end };

		if (ioctl(fd_dev, RPM_IOC_CLEAR_SOFT_DIRTY, &r))
			die("RPM_IOC_CLEAR_SOFT_DIRTY");
	} else if (ioctl(fd_dev, RPM_IOC_CLEAR_SOFT_DIRTY_ALL)) {
		die("RPM_IOC_CLEAR_SOFT_DIRTY_ALL");
	}
}

static atomic_int writer_stop;
static atomic_long writer_count;

/* Writes one byte per page of its own buffer, round and round, on CPU 1. */
static void *writer(void *arg)
{
	size_t len = 4 * MIB;
	char *p = map_anon(len, MADV_NOHUGEPAGE);
	long n = 0;

	(void)arg;
	pin_to_cpu(1);
	while (!atomic_load_explicit(&writer_stop, memory_order_relaxed)) {
		for (size_t off = 0; off < len; off += PM_PAGE)
			((volatile char *)p)[off]++;
		n += len / PM_PAGE;
	}
	atomic_store(&writer_count, n);
	munmap(p, len);
	return NULL;
}

static void bench_clears(void)
{
	char *p = map_anon(clear_bytes, MADV_NOHUGEPAGE);
	size_t pages = clear_bytes / PM_PAGE;
	struct clear_ctx x = { p, clear_bytes, 1, 0, 0 };
	struct bench_op b = { clear_op, clear_prep, &x };
	pthread_t t;

	touch(p, clear_bytes, 1);
	run("clear_all_dirty", pages, &b, "whole process, every page dirty, other CPU idle");

	atomic_store(&writer_stop, 0);
	if (pthread_create(&t, NULL, writer, NULL))
		die("pthread_create");
	/*
	 * Counted on the clearing thread's vCPU only: the writer's faults on the
	 * other one fall into a section or not by timing (each clear makes all of
	 * its pages fault again, on either side), so the count of both vCPUs would
	 * grow with the section's length, as a time does.
	 */
	count_scope = "self";
	run("clear_all_dirty_writer", pages, &b,
	    "whole process, every page dirty, a writer thread on the other CPU");
	atomic_store(&writer_stop, 1);
	pthread_join(t, NULL);

	x.every = 100;
	run("clear_all_99pct_clean", pages, &b, "whole process again, 1% re-dirtied");
	munmap(p, clear_bytes);

	/* 2 MiB ranged clear in a process with much populated, vs clear_refs of it all. */
	size_t big = 2 * clear_bytes;

	p = map_anon(big, MADV_NOHUGEPAGE);
	touch(p, big, 1);
	x = (struct clear_ctx){ p, big, 1, (uintptr_t)p + big / 2, (uintptr_t)p + big / 2 + 2 * MIB };
	run("clear_range_2m", 2 * MIB / PM_PAGE, &b,
	    "2 MiB ranged clear vs clear_refs, with twice the clear area populated");
	munmap(p, big);
}

/*
 * The ranged clear where it is meant to win: 2 MiB in the middle of a process with
 * range_mib= populated (1 GiB by default), against clear_refs of all of it. A group
 * of its own: under TCG populating 1 GiB takes a while.
 */
static void bench_clear_range_big(void)
{
	size_t big = range_populated;
	char *p = map_anon(big, MADV_NOHUGEPAGE);
	struct clear_ctx x = { p, big, 1, (uintptr_t)p + big / 2,
			       (uintptr_t)p + big / 2 + 2 * MIB };
	struct bench_op b = { clear_op, clear_prep, &x };
	char note[128];

	if (big < 4 * MIB)
		die("range_mib= below 4");
	touch(p, big, 1);
	snprintf(note, sizeof(note), "2 MiB ranged clear vs clear_refs, with %zu MiB populated",
		 big / MIB);
	run("clear_range_2m_big", 2 * MIB / PM_PAGE, &b, note);
	munmap(p, big);
}

/* ---- get-and-clear ---- */

/* GetWriteWatch with reset: the device's atomic soft-dirty get-and-clear, or the uffd way. */
struct gww_ctx {
	char *sd, *wp; /* soft-dirty tracked area (device), uffd-wp area (/proc) */
	size_t len;
	struct page_region *vec;
	size_t vec_len;
	long found;
};

static void gww_op(void *c, int side)
{
	struct gww_ctx *g = c;
	char *p = side ? g->wp : g->sd;
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.flags = side ? PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC
			      : RPM_SCAN_CLEAR_SOFT_DIRTY,
		.start = (uintptr_t)p,
		.end = (uintptr_t)p + g->len,
		.vec = (uintptr_t)g->vec,
		.vec_len = g->vec_len,
		.category_mask = side ? PAGE_IS_WRITTEN : PAGE_IS_SOFT_DIRTY,
		.return_mask = side ? PAGE_IS_WRITTEN : PAGE_IS_SOFT_DIRTY,
	};
	long n = ioctl(side ? fd_proc : fd_dev, PAGEMAP_SCAN, &a);

	if (n < 0)
		die("get-and-clear scan");
	g->found += n;
}

static void gww_prep(void *c, int side)
{
	struct gww_ctx *g = c;

	touch(side ? g->wp : g->sd, g->len, 100);
}

/*
 * Faults pages of an area in on CPU 1: each write to a page protected by a clear
 * faults. With `every` set, the writer may not get more than `every` pages ahead
 * of the get-and-clears: before page (k + 1) * `every` it waits, spinning in user
 * space, until `passes` (the get-and-clears done) is at least k, and the time it
 * waits is not its own (`waited_ns`).
 */
struct fault_writer {
	char *p;
	size_t len;
	long every;
	atomic_long *passes;
	long pages;
	uint64_t waited_ns;
	atomic_long progress; /* pages written so far, published every 64 */
};

/* Spins until `w->passes` reaches `k` or the writer is told to stop; the ns it took. */
static uint64_t wait_for_passes(struct fault_writer *w, long k)
{
	uint64_t t0;

	if (atomic_load_explicit(w->passes, memory_order_acquire) >= k)
		return 0;
	t0 = now_ns();
	while (atomic_load_explicit(w->passes, memory_order_acquire) < k &&
	       !atomic_load_explicit(&writer_stop, memory_order_relaxed))
		;
	return now_ns() - t0;
}

static void *fault_writer(void *arg)
{
	struct fault_writer *w = arg;
	long n = 0;

	pin_to_cpu(1);
	while (!atomic_load_explicit(&writer_stop, memory_order_relaxed)) {
		for (size_t off = 0; off < w->len; off += PM_PAGE) {
			if (w->every && n % w->every == 0 && n)
				w->waited_ns += wait_for_passes(w, n / w->every - 1);
			((volatile char *)w->p)[off]++;
			n++;
			if ((n & 63) != 0)
				continue;
			atomic_store_explicit(&w->progress, n, memory_order_relaxed);
			if (atomic_load_explicit(&writer_stop, memory_order_relaxed))
				break;
		}
	}
	w->pages = n;
	return NULL;
}

/*
 * Waits, spinning in user space (no kernel instruction is counted for it), until
 * the writer has written `target` pages or the window of `ns` from `t0` is over.
 * The clock is read once per 4096 turns: a clock read in every turn, if the
 * guest's clocksource is not the TSC (an emulated HPET's register), would hold
 * up both vCPUs.
 */
static void spin_until_written(struct fault_writer *w, long target, uint64_t t0, uint64_t ns)
{
	for (unsigned int i = 1; atomic_load_explicit(&w->progress, memory_order_relaxed) < target;
	     i++)
		if ((i & 4095) == 0 && now_ns() - t0 >= ns)
			break;
}

/*
 * Pages per second a writer gets while get-and-clear runs in a loop for `ns`;
 * `pages`, if set, gets the pages it wrote, `passes` the get-and-clears made.
 * With `every` (pages), both are paced to one get-and-clear per `every` pages:
 * pass k starts once the writer has written k * `every` pages (this thread spins
 * in user space until then), and the writer waits before page (k + 2) * `every`
 * until pass k is done (see fault_writer), so neither gets ahead of the other
 * whatever their speeds, and the rate is of the writer's own time (its waits
 * left out; `waited`, if set, gets their share of the window). With `marked`,
 * the window is between a begin and an end marker.
 */
static double writer_throughput(struct gww_ctx *g, int side, uint64_t ns, long every,
				int marked, long *pages, long *passes, double *waited)
{
	atomic_long done = 0;
	struct fault_writer w = { side ? g->wp : g->sd, g->len, every, &done, 0, 0, 0 };
	pthread_t t;
	uint64_t t0, took;
	long n = 0;

	if (marked)
		marker(side ? MARK_KERN_BEGIN : MARK_DEV_BEGIN);
	atomic_store(&writer_stop, 0);
	if (pthread_create(&t, NULL, fault_writer, &w))
		die("pthread_create");
	t0 = now_ns();
	while (now_ns() - t0 < ns) {
		if (every) {
			spin_until_written(&w, n * every, t0, ns);
			if (now_ns() - t0 >= ns)
				break;
		}
		gww_op(g, side);
		n++;
		atomic_store_explicit(&done, n, memory_order_release);
	}
	atomic_store(&writer_stop, 1);
	pthread_join(t, NULL);
	took = now_ns() - t0;
	if (marked)
		marker(side ? MARK_KERN_END : MARK_DEV_END);
	if (pages)
		*pages = w.pages;
	if (passes)
		*passes = n;
	if (waited)
		*waited = (double)w.waited_ns / (double)took;
	return (double)w.pages * 1e9 / (double)(took - (w.waited_ns < took ? w.waited_ns : 0));
}

/*
 * One writer row, `name`: RUNS timed windows of 200 ms per side, alternating,
 * then two counted ones per side (the kernel instructions of the writer's vCPU:
 * its faults, the flush IPIs it takes, its waits for the page-table lock, per
 * page it wrote). `every`: the pace, as in writer_throughput (0: none). `ppp`,
 * if set, gets each way's pages per pass over the timed windows.
 */
static void writer_row(struct gww_ctx *g, long every, const char *name, const char *note,
		       double *ppp)
{
	double dev[RUNS], kern[RUNS], waited[2] = { 0, 0 };
	long passes[2] = { 0, 0 }, pages[2] = { 0, 0 }, written[2] = { 0, 0 };

	for (int i = 0; i < RUNS; i++) {
		long n[2], p[2];
		double w[2];

		dev[i] = writer_throughput(g, 0, 200000000ULL, every, 0, &p[0], &n[0], &w[0]);
		kern[i] = writer_throughput(g, 1, 200000000ULL, every, 0, &p[1], &n[1], &w[1]);
		for (int s = 0; s < 2; s++) {
			passes[s] += n[s];
			pages[s] += p[s];
			waited[s] += w[s] / RUNS;
		}
	}
	count_begin();
	for (int i = 0; i < 2; i++) {
		for (int j = 0; j < 2; j++) {
			int side = j ^ i;
			long n;

			writer_throughput(g, side, 200000000ULL, every, 1, &n, NULL, NULL);
			written[side] += n;
		}
	}
	count_end();
	count_scope = "others";
	count_stat = "total";
	qsort(dev, RUNS, sizeof(dev[0]), cmp_double);
	qsort(kern, RUNS, sizeof(kern[0]), cmp_double);
	printf("# %s: device way %.0f pages/s, /proc way %.0f pages/s%s\n", name, dev[RUNS / 2],
	       kern[RUNS / 2], every ? " (of the writer's own time)" : "");
	printf("# %s: device way %.0f passes/s (%.0f pages per pass), /proc way %.0f (%.0f)\n",
	       name, passes[0] / (RUNS * 0.2), passes[0] ? (double)pages[0] / passes[0] : 0,
	       passes[1] / (RUNS * 0.2), passes[1] ? (double)pages[1] / passes[1] : 0);
	if (every)
		printf("# %s: one pass per %ld pages; the writer waited for the passes %.0f%% of "
		       "its time with the device way, %.0f%% with the /proc way\n",
		       name, every, 100 * waited[0], 100 * waited[1]);
	/* As a time: ns per written page, so that the ratio reads like the others. */
	report(name, 1, 1e9 / dev[RUNS / 2], 1e9 / kern[RUNS / 2], note);
	report_count(name, written[0], written[1]);
	for (int s = 0; ppp && s < 2; s++)
		ppp[s] = passes[s] ? (double)pages[s] / passes[s] : 0;
}

static void bench_get_and_clear(void)
{
	size_t len = clear_bytes, pages = len / PM_PAGE;
	int uffd = pm_uffd_async();
	struct gww_ctx g = { NULL, NULL, len, NULL, pages / 100 + 2, 0 };
	struct bench_op b = { gww_op, gww_prep, &g };
	double ppp[2];
	long every;

	if (uffd < 0) {
		printf("# no async uffd-wp: get-and-clear comparison not run\n");
		return;
	}
	g.sd = map_anon(len, MADV_NOHUGEPAGE);
	g.wp = map_anon(len, MADV_NOHUGEPAGE);
	g.vec = calloc(g.vec_len, sizeof(*g.vec));
	touch(g.sd, len, 1);
	touch(g.wp, len, 1);
	if (pm_uffd_async_wp(uffd, g.wp, len))
		die("uffd wp");
	/* New VMAs are soft-dirty as a whole: start from a clean state. */
	clear_refs();
	run("get_and_clear_1pct", pages, &b,
	    "device soft-dirty get-and-clear vs PM_SCAN_WP_MATCHING on /proc (uffd async WP), 1% written");

	/* Writer throughput: pages/s on CPU 1 while the other CPU loops over get-and-clear. */
	writer_row(&g, 0, "writer_during_get_and_clear",
		   "ns per page a faulting writer on the other CPU needs while get-and-clear loops",
		   ppp);
	/*
	 * Again with both ways paced to the same passes per page the writer writes:
	 * one get-and-clear per `every` pages written, twice the pages per pass of the
	 * way that wrote the most per pass unpaced. Unpaced, the faster way makes more
	 * passes per lap of the writer, each of which makes the writer fault again on
	 * every page it writes and ends in a flush of the pages it cleaned (an IPI to
	 * the writer's CPU): the faster get-and-clear costs the writer more per page.
	 * Paced, each way is charged for the same passes. Neither side may run ahead
	 * (writer_throughput): a pace that only started passes at the writer's
	 * progress let a way whose passes cost more per page than the writer's writes
	 * fall behind for good, its longer passes finding ever more pages (the /proc
	 * way: 17,702 pages per pass where 1,792 were asked, measured). Now a slow way
	 * makes the writer wait instead, and the wait is printed and left out of the
	 * writer's time. (Paced by time instead, both ways made far fewer passes
	 * than asked: 183 and 38 of 536 per second, measured.)
	 */
	every = (long)(2 * (ppp[0] > ppp[1] ? ppp[0] : ppp[1]));
	every = (every + 63) / 64 * 64;
	if (every <= 0 || every > (long)pages)
		printf("# writer_at_equal_passes: %ld pages per pass, not run\n", every);
	else
		writer_row(&g, every, "writer_at_equal_passes",
			   "writer_during_get_and_clear with both ways paced to one get-and-clear per as many pages written",
			   NULL);
	free(g.vec);
	munmap(g.sd, len);
	munmap(g.wp, len);
	close(uffd);
}

static void info(void)
{
	char buf[128] = "";
	int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource", O_RDONLY);

	if (fd >= 0) {
		ssize_t n = read(fd, buf, sizeof(buf) - 1);

		buf[n > 0 ? n : 0] = 0;
		buf[strcspn(buf, "\n")] = 0;
		close(fd);
	}
	printf("BENCH-INFO clocksource=%s cpus=%ld dense_mib=%zu sweep_max_mib=%zu clear_mib=%zu sparse_gib=%zu range_mib=%zu runs=%d min_run_ms=%llu marker=%#lx count_ops=%d\n",
	       buf, sysconf(_SC_NPROCESSORS_ONLN), dense_bytes / MIB, sweep_max / MIB,
	       clear_bytes / MIB, sparse_gib, range_populated / MIB, RUNS, MIN_RUN_NS / 1000000,
	       mark_page ? MARK_PAGE : 0UL, COUNT_OPS);
}

/* Whether workload group `name` is to run (`only=` lists it, or there is no `only=`). */
static int selected(const char *name)
{
	size_t n = strlen(name);

	for (const char *p = only; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
		if (!strncmp(p, name, n) && (p[n] == ',' || !p[n]))
			return 1;
	return !only;
}

#define RUN(fn) do { if (selected(#fn)) bench_##fn(); } while (0)

int main(int argc, char **argv)
{
	uint64_t t0 = now_ns();

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (;;) {
		if (argc > 1 && !strncmp(argv[argc - 1], "only=", 5))
			only = argv[--argc] + 5;
		else if (argc > 1 && !strncmp(argv[argc - 1], "range_mib=", 10))
			range_populated = strtoul(argv[--argc] + 10, NULL, 0) * MIB;
		else
			break;
	}
	if (argc > 1)
		dense_bytes = strtoul(argv[1], NULL, 0) * MIB;
	if (argc > 2)
		sweep_max = strtoul(argv[2], NULL, 0) * MIB;
	if (argc > 3)
		clear_bytes = strtoul(argv[3], NULL, 0) * MIB;
	if (argc > 4)
		sparse_gib = strtoul(argv[4], NULL, 0);
	fd_dev = pm_open_dev();
	fd_proc = pm_open_proc();
	if (fd_dev < 0 || fd_proc < 0)
		die("open");
	pin_to_cpu(0);
	map_markers();
	info();
	marker(MARK_START);

	group = "read";
	RUN(read_dense);
	RUN(read_thp);
	RUN(read_mthp);
	RUN(read_tmpfs);
	RUN(read_swap);
	RUN(read_sparse);
	RUN(read_pread8);
	group = "scan";
	RUN(scan_softdirty);
	RUN(scan_written);
	RUN(scan_maxpages);
	RUN(scan_thp);
	group = "clear";
	RUN(clears);
	RUN(clear_range_big);
	RUN(get_and_clear);
	RUN(read_sweep);
	printf("BENCH-DONE %.1f s\n", (double)(now_ns() - t0) / 1e9);
	return 0;
}
