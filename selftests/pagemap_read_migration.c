// SPDX-License-Identifier: GPL-2.0
/*
 * Entries read while their pages migrate, with threads waiting on them. The
 * kernel's HMM test driver moves pages into its device-private memory and
 * back, and a CPU write moves a device-private page back too: while a move
 * runs, the page's entry is a migration entry, and a thread that touches the
 * page then waits on it (migration_entry_wait) until the move is done. One
 * thread moves the pages to the device and back in a loop, another writes
 * them in a loop (moving them back, or waiting), and the main thread reads
 * their entries through the device, as root, all the while.
 *
 * The writer pauses while the pages move to the device: the driver's move
 * that way reads the pages back for its own check and is not safe against a
 * CPU fault at the same time (KASAN reported a slab-out-of-bounds read in
 * its dmirror_do_read); the move back to system memory is, and that is when
 * the writer runs.
 *
 * What an entry can be is known: present (with its frame), device-private or
 * migration (non-present, with the type and the frame), never file-backed,
 * always soft-dirty (the VMA is new). The device reads each entry under its
 * page-table lock, and with it the folio behind a migration entry, which the
 * mover frees once the move is done: KASAN is the oracle for that part. The
 * run lasts until the device has read each kind of entry READS_OF_EACH times,
 * the writer has written WRITES times and the mover moved as many pages (and
 * /proc, asked now and then, has shown a migration entry too: the case is
 * real), at most CAP_SECONDS. Then, all still, the device reads what
 * /proc reads.
 */
#include "pm_common.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>

#include "kselftest_harness.h"
#include "pm_hmm.h"

#define NPAGES 16
#define LEN (NPAGES * PM_PAGE)
#ifndef READS_OF_EACH
#define READS_OF_EACH 20
#endif
#ifndef WRITES
#define WRITES (50 * NPAGES)	/* writes (each a fault back, or a wait) and moves to the device */
#endif
#ifndef CAP_SECONDS
#define CAP_SECONDS 120
#endif

/* Swap types of the entries that carry a page frame (include/linux/swap.h, 32 types). */
#define SWP_MIGRATION_FIRST 25	/* read, read-exclusive, write: 25 to 27 */
#define SWP_MIGRATION_LAST 27
#define SWP_DEVICE_FIRST 28	/* device write, device read: 28, 29 */
#define SWP_DEVICE_LAST 29

enum kind { PRESENT, DEVICE, MIGRATION, KINDS };

struct movers {
	char *p;
	int hmm;
	_Atomic bool stop;
	_Atomic bool pause;	/* set by the mover: the writer is to stop writing */
	_Atomic bool paused;	/* set by the writer while it is stopped */
	long moved, move_errors, writes;
	uint64_t buf[LEN / 8];
};

/* Sets the writer's pause to `on` and waits until it has taken it. */
static void pause_writer(struct movers *m, bool on)
{
	atomic_store(&m->pause, on);
	while (atomic_load(&m->paused) != on && !atomic_load(&m->stop))
		sched_yield();
}

/*
 * Moves every page of the range that is in RAM into the device's memory (the
 * writer paused), then every one on the device back (the writer running),
 * again and again.
 */
static void *mover(void *arg)
{
	struct movers *m = arg;

	while (!atomic_load_explicit(&m->stop, memory_order_relaxed)) {
		long n;

		pause_writer(m, true);
		n = pm_hmm_migrate_to_dev(m->hmm, m->p, NPAGES, m->buf);
		pause_writer(m, false);
		if (n < 0)
			m->move_errors++;
		else
			m->moved += n;
		if (pm_hmm_migrate_to_sys(m->hmm, m->p, NPAGES, m->buf) < 0)
			m->move_errors++;
	}
	return NULL;
}

/* Writes every page again and again: a device-private page comes back, a moving one waits. */
static void *writer(void *arg)
{
	struct movers *m = arg;
	uint64_t v = 0;

	while (!atomic_load_explicit(&m->stop, memory_order_relaxed)) {
		if (atomic_load(&m->pause)) {
			atomic_store(&m->paused, true);
			while (atomic_load(&m->pause) && !atomic_load(&m->stop))
				sched_yield();
			atomic_store(&m->paused, false);
			continue;
		}
		for (int i = 0; i < NPAGES; i++)
			*(volatile uint64_t *)(m->p + (size_t)i * PM_PAGE) = ++v;
		m->writes += NPAGES;
	}
	return NULL;
}

/*
 * The kind of entry `e`, or -1 (and a line saying why) when no page of the
 * range may read like that.
 */
static int kind_of(uint64_t e)
{
	uint64_t frame = e & RPM_PFRAME_MASK;
	unsigned int type = frame & 31;

	if (!(e & RPM_SOFT_DIRTY) || (e & (RPM_FILE | RPM_UFFD_WP)))
		goto bad;
	if ((e & RPM_PRESENT) && !(e & RPM_SWAP) && frame)
		return PRESENT;
	if (!(e & RPM_SWAP) || (e & (RPM_PRESENT | RPM_MMAP_EXCLUSIVE)) || !(frame >> 5))
		goto bad;
	if (type >= SWP_DEVICE_FIRST && type <= SWP_DEVICE_LAST)
		return DEVICE;
	if (type >= SWP_MIGRATION_FIRST && type <= SWP_MIGRATION_LAST)
		return MIGRATION;
bad:
	printf("# entry %#llx is none of what the pages can be\n", (unsigned long long)e);
	return -1;
}

TEST(entries_of_migrating_pages_read_right_while_writers_wait)
{
	static struct movers m;
	uint64_t e[NPAGES];
	long seen[KINDS] = {}, proc_migration = 0, bad = 0, reads = 0;
	struct timespec t0, t1;
	double took = 0;
	pthread_t mv, w;
	bool reached = false;
	int dev = pm_open_dev(), proc = pm_open_proc();

	ASSERT_GE(dev, 0);
	ASSERT_GE(proc, 0);
	if (access(PM_HMM_DEV, F_OK))
		SKIP(return, "no %s: the kernel has no CONFIG_TEST_HMM", PM_HMM_DEV);
	m.hmm = open(PM_HMM_DEV, O_RDWR);
	ASSERT_GE(m.hmm, 0) TH_LOG("open %s: %s", PM_HMM_DEV, strerror(errno));
	m.p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, m.p);
	ASSERT_EQ(0, madvise(m.p, LEN, MADV_NOHUGEPAGE));
	pm_touch(m.p, LEN, PM_PAGE, true);
	ASSERT_EQ(NPAGES, pm_hmm_migrate_to_dev(m.hmm, m.p, NPAGES, m.buf))
	TH_LOG("the device did not take the pages");
	ASSERT_EQ(0, pthread_create(&mv, NULL, mover, &m));
	ASSERT_EQ(0, pthread_create(&w, NULL, writer, &m));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		ASSERT_EQ(0, pm_read_entries(dev, (uintptr_t)m.p, NPAGES, e));
		for (int i = 0; i < NPAGES; i++) {
			int k = kind_of(e[i]);

			if (k < 0)
				bad++;
			else
				seen[k]++;
		}
		/* Now and then /proc: its reads must show migration entries as well. */
		if (reads++ % 8 == 0) {
			ASSERT_EQ(0, pm_read_entries(proc, (uintptr_t)m.p, NPAGES, e));
			for (int i = 0; i < NPAGES; i++)
				proc_migration += kind_of(e[i]) == MIGRATION;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		took = (double)(t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
		reached = proc_migration > 0 && *(volatile long *)&m.writes >= WRITES &&
			  *(volatile long *)&m.moved >= WRITES;
		for (int k = 0; k < KINDS; k++)
			reached = reached && seen[k] >= READS_OF_EACH;
	} while (!reached && !bad && took < CAP_SECONDS);
	atomic_store(&m.stop, true);
	pthread_join(mv, NULL);
	pthread_join(w, NULL);
	printf("# %.1f s: %ld device reads of %d entries: %ld present, %ld device-private, "
	       "%ld migration; /proc showed %ld migration entries; %ld pages moved to the "
	       "device (%ld refusals), %ld writes\n", took, reads, NPAGES, seen[PRESENT],
	       seen[DEVICE], seen[MIGRATION], proc_migration, m.moved, m.move_errors, m.writes);
	EXPECT_EQ(0, bad);
	EXPECT_TRUE(reached)
	TH_LOG("did not reach coverage in %d s: %d device reads of each kind, %d writes and "
	       "moves, a migration entry in /proc needed", CAP_SECONDS, READS_OF_EACH, WRITES);
	/* All still: the device reads what /proc reads. */
	EXPECT_EQ(0, pm_compare_around(proc, dev, m.p, LEN, 0));
	close(m.hmm);
	close(proc);
	close(dev);
}

int main(int argc, char **argv)
{
	_entries_of_migrating_pages_read_right_while_writers_wait_object.timeout =
		CAP_SECONDS + 60;
	return test_harness_run(argc, argv);
}
