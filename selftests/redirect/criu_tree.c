// SPDX-License-Identifier: GPL-2.0
/*
 * criu_tree: the process tree qemu/guest/guest-others.sh checkpoints and
 * restores with CRIU (its criu block), on /proc and through
 * librpm_redirect.so.
 *
 *   criu_tree run DIR     the tree: a parent and a forked child, each with a
 *                         main thread and two writer threads, writing a known
 *                         pattern into anonymous private memory, MAP_SHARED
 *                         anonymous memory (parent and child), a MAP_SHARED
 *                         mapping of DIR/data, and (the parent) a
 *                         MADV_HUGEPAGE area that is one THP. It prints
 *                         "ready PID" on stdout once every page was written
 *                         and the THP is in place, then writes until it gets
 *                         SIGUSR1: then every process stops its writers,
 *                         checks every page it writes against the record
 *                         and writes DIR/verdict.parent or DIR/verdict.child
 *                         ("verified N pages, M wrong, checksum X"); the
 *                         parent's comes last and adds the child's exit.
 *   criu_tree mark DIR    remember every page's generation (after the last
 *                         pre-dump: what is written from here on is dirty
 *                         to the final dump)
 *   criu_tree count DIR   pages written since the mark, by kind:
 *                         "private N shared N file N"
 *   criu_tree stats FILE  the figures of a CRIU stats-dump image, decoded
 *                         here (no crit, no python): "pages_scanned N
 *                         pages_skipped_parent N pages_written N
 *                         shpages_scanned N shpages_skipped_parent N
 *                         shpages_written N"
 *
 * The record: every page has one writer (a thread of one process) and a
 * generation; its content is a function of (area, page, generation), every
 * 8-byte word of it. The generations live in DIR/rec, a file both processes
 * map shared: CRIU dumps a shared file mapping by reference, not by content,
 * so the record is exactly what the writers wrote up to the freeze, whatever
 * the dumps did. A record in the processes' own memory would be restored from
 * the same images as the pages it describes, and a write the dump missed
 * would take its record with it. A writer updates the generation after the
 * page's last word; frozen in between, it finishes the page after the
 * restore, before it stops, so at the check every page equals its record.
 * The writers go on after the restore until SIGUSR1, so each also checks a
 * page against its record before it writes it again: a page restored stale
 * is counted then, before the rewrite hides it.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096UL
#define WORDS (PAGE / 8)
#define THP_SIZE (2UL << 20)

enum area { A_PARENT_ANON, A_CHILD_ANON, A_SHARED, A_FILE, A_THP, NAREAS };
static const char *const area_name[NAREAS] = { "parent-anon", "child-anon", "shared-anon",
					       "file", "thp" };
static const unsigned long area_pages[NAREAS] = { 256, 256, 256, 64, THP_SIZE / PAGE };

#define REC_MAGIC 0x7270636e72756974ULL

struct rec {
	uint64_t magic;
	_Atomic uint64_t ready; /* writer threads that wrote all their pages */
	uint64_t gen[NAREAS][512];
	uint64_t mark[NAREAS][512];
};

static struct rec *rec;
static char *area[NAREAS];
static int is_child;
static atomic_bool stop;
static atomic_int stopped;
static atomic_ulong stale; /* pages found not as written, before a rewrite */

static void die(const char *what)
{
	fprintf(stderr, "criu_tree[%d]: %s: %s\n", (int)getpid(), what, strerror(errno));
	exit(2);
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static uint64_t word(int a, unsigned long pg, uint64_t gen, unsigned long i)
{
	return mix(((uint64_t)a << 56) ^ ((uint64_t)pg << 32) ^ gen) ^ (i * 0xd6e8feb86659fd93ULL);
}

/* The process (0 parent, 1 child) and writer thread (0, 1) of a page. */
static void owner(int a, unsigned long pg, int *proc, int *thread)
{
	switch (a) {
	case A_PARENT_ANON:
	case A_THP:
		*proc = 0;
		*thread = pg % 2;
		break;
	case A_CHILD_ANON:
		*proc = 1;
		*thread = pg % 2;
		break;
	default: /* shared: even pages the parent's, odd the child's */
		*proc = pg % 2;
		*thread = (pg / 2) % 2;
	}
}

/*
 * Write the next generation of a page. CHECK: first check that the page holds
 * the generation its record says (the writer wrote it itself): a restored
 * process goes on writing before it is told to stop, and a page that came
 * back stale would be overwritten before the final check could see it.
 */
static void write_page(int a, unsigned long pg, bool check)
{
	uint64_t *p = (uint64_t *)(area[a] + pg * PAGE);
	uint64_t gen = rec->gen[a][pg] + 1;
	unsigned long i, bad = 0;

	for (i = 0; check && i < WORDS; i++)
		bad += ((volatile uint64_t *)p)[i] != word(a, pg, gen - 1, i);
	if (bad && atomic_fetch_add(&stale, 1) == 0)
		fprintf(stderr, "criu_tree %s: %s page %lu: %lu of %lu words not of generation %" PRIu64 " before its rewrite\n",
			is_child ? "child" : "parent", area_name[a], pg, bad, WORDS, gen - 1);
	for (i = 0; i < WORDS; i++)
		((volatile uint64_t *)p)[i] = word(a, pg, gen, i);
	/* the record after the page's last word (x86 keeps stores in order) */
	atomic_signal_fence(memory_order_release);
	__atomic_store_n(&rec->gen[a][pg], gen, __ATOMIC_RELEASE);
}

struct mine {
	int n;
	int a[1400];
	unsigned short pg[1400];
};

/* The pages thread T of this process writes. */
static void collect(int t, struct mine *m)
{
	int a, proc, thread;
	unsigned long pg;

	m->n = 0;
	for (a = 0; a < NAREAS; a++) {
		if (!area[a])
			continue;
		for (pg = 0; pg < area_pages[a]; pg++) {
			owner(a, pg, &proc, &thread);
			if (proc == is_child && thread == t) {
				m->a[m->n] = a;
				m->pg[m->n] = (unsigned short)pg;
				m->n++;
			}
		}
	}
}

static void *writer(void *arg)
{
	int t = (int)(long)arg, i;
	uint64_t rng = mix(((uint64_t)getpid() << 8) | (uint64_t)t);
	struct timespec gap = { 0, 200000 };
	static struct mine mine[2];
	struct mine *m = &mine[t];

	collect(t, m);
	for (i = 0; i < m->n; i++)
		write_page(m->a[i], m->pg[i], false);
	atomic_fetch_add(&rec->ready, 1);
	while (!atomic_load(&stop)) {
		/* 7 in 8 writes to the first eighth of the pages: hot and cold pages */
		rng = mix(rng);
		if ((rng & 7) != 0)
			i = (int)((rng >> 8) % (uint64_t)(m->n / 8 + 1));
		else
			i = (int)((rng >> 8) % (uint64_t)m->n);
		write_page(m->a[i], m->pg[i], true);
		nanosleep(&gap, NULL);
	}
	atomic_fetch_add(&stopped, 1);
	for (;;)
		pause();
	return NULL;
}

static char *map_area(int a, int fd)
{
	size_t len = area_pages[a] * PAGE;
	char *p;

	if (a == A_THP) {
		/* a 2 MiB-aligned 2 MiB inside a 4 MiB reservation */
		p = mmap(NULL, 2 * THP_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
		if (p == MAP_FAILED)
			die("mmap thp");
		p = (char *)(((uintptr_t)p + THP_SIZE - 1) & ~(THP_SIZE - 1));
		if (madvise(p, THP_SIZE, MADV_HUGEPAGE))
			die("madvise(MADV_HUGEPAGE)");
		return p;
	}
	if (a == A_FILE)
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	else if (a == A_SHARED)
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	else
		p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		die("mmap");
	return p;
}

/* AnonHugePages of the VMA at ADDR, in kB (-1: not found). */
static long anon_huge_kb(void *addr)
{
	char line[256];
	unsigned long start, end;
	bool in = false;
	long kb = -1;
	FILE *f = fopen("/proc/self/smaps", "r");

	if (!f)
		die("/proc/self/smaps");
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2 && strchr(line, '-') < strchr(line, ' ')) {
			in = start <= (uintptr_t)addr && (uintptr_t)addr < end;
			continue;
		}
		if (in && sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
			break;
	}
	fclose(f);
	return kb;
}

/* Every page this process writes, against the record. */
static int verify(const char *dir, const char *who, const char *extra)
{
	unsigned long pages = 0, wrong = 0, pg, i;
	uint64_t sum = 0;
	int a, proc, thread, first = 1;
	char path[4096], tmp[4200];
	FILE *f;

	for (a = 0; a < NAREAS; a++) {
		if (!area[a])
			continue;
		for (pg = 0; pg < area_pages[a]; pg++) {
			const uint64_t *p = (const uint64_t *)(area[a] + pg * PAGE);
			uint64_t gen = rec->gen[a][pg];
			unsigned long bad = 0;

			owner(a, pg, &proc, &thread);
			if (proc != is_child)
				continue;
			for (i = 0; i < WORDS; i++) {
				bad += p[i] != word(a, pg, gen, i);
				sum += p[i];
			}
			pages++;
			if (bad) {
				wrong++;
				if (first)
					fprintf(stderr, "criu_tree %s: %s page %lu: %lu of %lu words not of generation %" PRIu64 "\n",
						who, area_name[a], pg, bad, WORDS, gen);
				first = 0;
			}
		}
	}
	wrong += atomic_load(&stale);
	snprintf(path, sizeof(path), "%s/verdict.%s", dir, who);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "w");
	if (!f)
		die(tmp);
	fprintf(f, "%s: verified %lu pages, %lu wrong (%lu of them before a rewrite), checksum %016" PRIx64 "%s\n",
		who, pages, wrong, atomic_load(&stale), sum, extra);
	fclose(f);
	if (rename(tmp, path))
		die("rename verdict");
	return wrong ? 1 : 0;
}

static void stop_writers(void)
{
	struct timespec ms = { 0, 1000000 };

	atomic_store(&stop, true);
	while (atomic_load(&stopped) < 2)
		nanosleep(&ms, NULL);
}

static void start_writers(void)
{
	pthread_t t;
	long i;

	for (i = 0; i < 2; i++)
		if ((errno = pthread_create(&t, NULL, writer, (void *)i)))
			die("pthread_create");
}

static void wait_usr1(void)
{
	sigset_t set;
	int sig;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	/* a freeze and a restore can interrupt the wait: wait again */
	do
		sig = sigwaitinfo(&set, NULL);
	while (sig < 0 && errno == EINTR);
	if (sig != SIGUSR1)
		die("sigwaitinfo");
}

static struct rec *map_rec(const char *dir, bool create)
{
	char path[4096];
	struct rec *r;
	int fd;

	snprintf(path, sizeof(path), "%s/rec", dir);
	fd = open(path, create ? O_RDWR | O_CREAT | O_TRUNC : O_RDWR, 0600);
	if (fd < 0)
		die(path);
	if (create && ftruncate(fd, sizeof(*r)))
		die("ftruncate rec");
	r = mmap(NULL, sizeof(*r), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (r == MAP_FAILED)
		die("mmap rec");
	close(fd);
	if (create)
		r->magic = REC_MAGIC;
	else if (r->magic != REC_MAGIC) {
		fprintf(stderr, "criu_tree: %s is not a record\n", path);
		exit(2);
	}
	return r;
}

static int run(const char *dir)
{
	char path[4096], extra[128];
	struct timespec ms = { 0, 1000000 };
	sigset_t set;
	int fd, status, rc;
	long kb;
	pid_t child;

	/* a session of its own: CRIU dumps a tree whose session leader is in it */
	if (getsid(0) != getpid() && setsid() < 0)
		die("setsid");
	rec = map_rec(dir, true);
	snprintf(path, sizeof(path), "%s/data", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, area_pages[A_FILE] * PAGE))
		die(path);
	area[A_SHARED] = map_area(A_SHARED, -1);
	area[A_FILE] = map_area(A_FILE, fd);
	close(fd);
	/* SIGUSR1 is taken by sigwaitinfo in the main thread only */
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		die("sigprocmask");
	child = fork();
	if (child < 0)
		die("fork");
	is_child = child == 0;
	if (is_child) {
		area[A_CHILD_ANON] = map_area(A_CHILD_ANON, -1);
	} else {
		area[A_PARENT_ANON] = map_area(A_PARENT_ANON, -1);
		area[A_THP] = map_area(A_THP, -1);
	}
	start_writers();
	if (is_child) {
		wait_usr1();
		stop_writers();
		return verify(dir, "child", "");
	}
	while (atomic_load(&rec->ready) < 4)
		nanosleep(&ms, NULL);
	kb = anon_huge_kb(area[A_THP]);
	if (kb < (long)(THP_SIZE >> 10)) {
		fprintf(stderr, "criu_tree: the THP area has AnonHugePages %ld kB, not %lu\n", kb,
			THP_SIZE >> 10);
		kill(child, SIGKILL);
		return 2;
	}
	printf("ready %d child %d thp %ld kB\n", (int)getpid(), (int)child, kb);
	fflush(stdout);
	wait_usr1();
	kill(child, SIGUSR1);
	stop_writers();
	while (waitpid(child, &status, 0) < 0)
		if (errno != EINTR)
			die("waitpid");
	snprintf(extra, sizeof(extra), "; child exit %d",
		 WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	rc = verify(dir, "parent", extra);
	return rc || !WIFEXITED(status) || WEXITSTATUS(status) ? 1 : 0;
}

static int mark(const char *dir)
{
	int a;
	unsigned long pg;

	rec = map_rec(dir, false);
	for (a = 0; a < NAREAS; a++)
		for (pg = 0; pg < area_pages[a]; pg++)
			rec->mark[a][pg] = __atomic_load_n(&rec->gen[a][pg], __ATOMIC_ACQUIRE);
	return 0;
}

static int count(const char *dir)
{
	unsigned long n[3] = { 0 }, pg;
	int a;

	rec = map_rec(dir, false);
	for (a = 0; a < NAREAS; a++)
		for (pg = 0; pg < area_pages[a]; pg++)
			if (__atomic_load_n(&rec->gen[a][pg], __ATOMIC_ACQUIRE) != rec->mark[a][pg])
				n[a == A_SHARED ? 1 : a == A_FILE ? 2 : 0]++;
	printf("private %lu shared %lu file %lu\n", n[0], n[1], n[2]);
	return 0;
}

/* ---- a CRIU stats-dump image: two magics, a length, a stats_entry ---- */

static bool varint(const unsigned char **p, const unsigned char *end, uint64_t *v)
{
	int shift = 0;

	*v = 0;
	while (*p < end && shift < 64) {
		unsigned char b = *(*p)++;

		*v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80))
			return true;
		shift += 7;
	}
	return false;
}

static int stats(const char *file)
{
	static const char *const names[15] = {
		[5] = "pages_scanned",	    [6] = "pages_skipped_parent",
		[7] = "pages_written",	    [12] = "shpages_scanned",
		[13] = "shpages_skipped_parent", [14] = "shpages_written",
	};
	unsigned char buf[4096];
	const unsigned char *p, *end, *dend = NULL;
	uint64_t key, v, vals[15] = { 0 };
	uint32_t hdr[3];
	size_t n;
	int i;
	FILE *f = fopen(file, "r");

	if (!f)
		die(file);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	memcpy(hdr, buf, sizeof(hdr));
	/* IMG_SERVICE_MAGIC, STATS_MAGIC, the entry's length */
	if (n < sizeof(hdr) || hdr[0] != 0x55105940 || hdr[1] != 0x57093306 ||
	    hdr[2] > n - sizeof(hdr)) {
		fprintf(stderr, "criu_tree: %s is not a CRIU stats image\n", file);
		return 2;
	}
	p = buf + sizeof(hdr);
	end = p + hdr[2];
	while (p < end) {
		if (!varint(&p, end, &key))
			goto bad;
		if ((key & 7) == 2) { /* the dump_stats_entry (field 1), or restore's */
			if (!varint(&p, end, &v) || v > (uint64_t)(end - p))
				goto bad;
			if (key >> 3 == 1)
				dend = p + v;
			else
				p += v; /* restore stats: not ours */
			continue;
		}
		if ((key & 7) != 0 || !varint(&p, end, &v))
			goto bad;
		if (dend && p <= dend && key >> 3 < 15)
			vals[key >> 3] = v;
	}
	for (i = 0; i < 15; i++)
		if (names[i])
			printf("%s%s %" PRIu64, i == 5 ? "" : " ", names[i], vals[i]);
	printf("\n");
	return 0;
bad:
	fprintf(stderr, "criu_tree: %s: cannot decode the stats entry\n", file);
	return 2;
}

int main(int argc, char **argv)
{
	if (argc == 3 && !strcmp(argv[1], "run"))
		return run(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "mark"))
		return mark(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "count"))
		return count(argv[2]);
	if (argc == 3 && !strcmp(argv[1], "stats"))
		return stats(argv[2]);
	fprintf(stderr, "usage: criu_tree run|mark|count DIR, criu_tree stats FILE\n");
	return 2;
}
