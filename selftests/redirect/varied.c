// SPDX-License-Identifier: GPL-2.0
/*
 * A process with a varied address space for page-types to walk (make check
 * runs page-types on it directly and through librpm_redirect.so and wants
 * the same output): present and absent anonymous pages, the zero page, a
 * THP, shmem, a private and a shared file mapping, a memfd written through a
 * private mapping (anonymous pages in a file VMA), a 2 MiB hugetlb page,
 * swapped-out pages, a PROT_NONE range, guard regions, pages shared with a
 * child after fork (not exclusive), and a mix of soft-dirty and clean pages.
 *
 * Everything lies in one 16 MiB window, so that page-types can be told to
 * walk only this process's own memory (-a): shared libraries are mapped by
 * page-types too, and their page flags change under its feet.
 *
 * Usage: varied FILE   (FILE: a path on tmpfs it creates and maps)
 * Prints "ready PID FIRST,END" (the window in pages, page-types' -a syntax)
 * when set up, then waits for SIGTERM and exits 0.
 * What the kernel does not offer here (no hugetlb pages, no swap) is left
 * out and said on stderr; page-types is compared with itself, so that is
 * no failure.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MADV_PAGEOUT
#define MADV_PAGEOUT 21
#endif
#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif

#define PG 4096UL
#define HP (2UL << 20)

static void *map(size_t len, int prot, int flags, int fd)
{
	void *p = mmap(NULL, len, prot, flags, fd, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(1);
	}
	return p;
}

#define WINDOW (16 * MB)
#define MB (1UL << 20)
static char *window;

/* A mapping at OFF in the window (2 MiB-aligned, reserved PROT_NONE). */
static char *place(unsigned long off, size_t len, int prot, int flags, int fd)
{
	void *p = mmap(window + off, len, prot, flags | MAP_FIXED, fd, 0);

	if (p == MAP_FAILED)
		return NULL;
	return p;
}

static char *must_place(unsigned long off, size_t len, int prot, int flags, int fd)
{
	char *p = place(off, len, prot, flags, fd);

	if (!p) {
		perror("mmap");
		exit(1);
	}
	return p;
}

static void reserve_window(void)
{
	char *p = map(WINDOW + HP, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1);
	char *a = (char *)(((unsigned long)p + HP - 1) & ~(HP - 1));

	if (a > p)
		munmap(p, a - p);
	munmap(a + WINDOW, p + HP - a);
	window = a;
}

static void clear_soft_dirty(void)
{
	int fd = open("/proc/self/clear_refs", O_WRONLY);

	if (fd < 0 || write(fd, "4", 1) != 1) {
		perror("clear_refs");
		exit(1);
	}
	close(fd);
}

static void on_term(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	volatile char sink = 0;
	char *anon, *zero, *thp, *shm, *filep, *files, *memp, *huge, *swp, *none, *guard, *cow;
	int fd, mfd;
	pid_t child;
	sigset_t set;

	if (argc != 2) {
		fprintf(stderr, "usage: varied FILE\n");
		return 2;
	}
	/* SIGTERM blocked until we wait for it, so none is lost */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigprocmask(SIG_BLOCK, &set, NULL);
	signal(SIGTERM, on_term);

	/* one CPU: its LRU batch is the one drained at the end */
	{
		cpu_set_t cpus;
		int cpu = sched_getcpu();

		CPU_ZERO(&cpus);
		CPU_SET(cpu < 0 ? 0 : cpu, &cpus);
		sched_setaffinity(0, sizeof(cpus), &cpus);
	}
	reserve_window();

	/* every other page of 64 written */
	anon = must_place(0, 64 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	for (int i = 0; i < 64; i += 2)
		anon[i * PG] = 1;

	/* read only: the zero page */
	zero = must_place(1 * MB, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	for (int i = 0; i < 16; i++)
		sink += zero[i * PG];

	/* a THP, if the kernel gives one */
	thp = must_place(2 * MB, HP, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	madvise(thp, HP, MADV_HUGEPAGE);
	memset(thp, 3, HP);

	/* shmem, half written */
	shm = must_place(4 * MB, 32 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1);
	for (int i = 0; i < 32; i += 2)
		shm[i * PG] = 4;

	/* a tmpfs file: shared mapping written, private mapping read */
	fd = open(argv[1], O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || ftruncate(fd, 64 * PG)) {
		perror(argv[1]);
		return 1;
	}
	files = must_place(5 * MB, 64 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd);
	for (int i = 0; i < 48; i++)
		files[i * PG] = 5;
	filep = must_place(6 * MB, 64 * PG, PROT_READ, MAP_PRIVATE, fd);
	for (int i = 0; i < 64; i += 3)
		sink += filep[i * PG];

	/* a memfd through a private mapping: read (file pages) and written (anon) */
	mfd = memfd_create("varied", 0);
	if (mfd < 0 || ftruncate(mfd, 16 * PG)) {
		perror("memfd");
		return 1;
	}
	memp = must_place(7 * MB, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, mfd);
	for (int i = 0; i < 16; i++) {
		if (i % 2)
			memp[i * PG] = 6;
		else
			sink += memp[i * PG];
	}

	/* a 2 MiB hugetlb page */
	huge = place(8 * MB, HP, PROT_READ | PROT_WRITE,
		     MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1);
	if (!huge)
		fprintf(stderr, "varied: no hugetlb page: %m\n");
	else
		memset(huge, 7, PG);

	/* swapped out */
	swp = must_place(10 * MB, 32 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	memset(swp, 8, 32 * PG);
	if (madvise(swp, 32 * PG, MADV_PAGEOUT))
		fprintf(stderr, "varied: MADV_PAGEOUT: %m\n");

	/* written, then PROT_NONE */
	none = must_place(11 * MB, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	memset(none, 9, 8 * PG);
	mprotect(none, 8 * PG, PROT_NONE);

	/* guard regions between written pages */
	guard = must_place(12 * MB, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	memset(guard, 10, 16 * PG);
	if (madvise(guard + 4 * PG, 4 * PG, MADV_GUARD_INSTALL))
		fprintf(stderr, "varied: MADV_GUARD_INSTALL: %m\n");

	/* pages a child shares after fork: mapped twice, not exclusive */
	cow = must_place(13 * MB, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	memset(cow, 11, 16 * PG);

	/* soft-dirty: everything clean, then a few pages written again */
	clear_soft_dirty();
	for (int i = 0; i < 64; i += 8)
		anon[i * PG] = 12;
	shm[0] = 12;
	files[0] = 12;
	thp[0] = 12;

	child = fork();
	if (child < 0) {
		perror("fork");
		return 1;
	}
	if (!child) {
		/* the child holds the COW pages until its parent goes */
		sigset_t none_set;

		sigemptyset(&none_set);
		sigprocmask(SIG_SETMASK, &none_set, NULL);
		signal(SIGTERM, SIG_DFL);
		for (;;)
			pause();
	}
	/* the first half of the COW range written again: exclusive once more */
	memset(cow, 13, 8 * PG);

	/*
	 * New pages wait in this CPU's LRU batch until something drains it,
	 * and kpageflags shows the difference (lru): drain it now, from the
	 * CPU they were added on, so no later walk sees them change.
	 */
	madvise(cow + 15 * PG, PG, MADV_COLD);

	printf("ready %d %lu,%lu\n", (int)getpid(), (unsigned long)window / PG,
	       ((unsigned long)window + WINDOW) / PG);
	fflush(stdout);
	sigwaitinfo(&set, NULL);
	kill(child, SIGTERM);
	waitpid(child, NULL, 0);
	unlink(argv[1]);
	return 0;
}
