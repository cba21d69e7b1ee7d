// SPDX-License-Identifier: GPL-2.0
/*
 * mark-run: the benchmark's markers (selftests/benchmark/bench.c) around a
 * program of somebody else's, for the rpm-icount TCG plugin
 * (qemu/bench/icount-plugin.c), which logs every vCPU's kernel instruction
 * count whenever the guest executes an instruction on the marker page.
 *
 *   mark-run OFFSET...                 calls those markers, in order
 *   mark-run BEGIN END -- PROGRAM ARGS  calls BEGIN, runs PROGRAM to its end,
 *                                      calls END; exits with PROGRAM's status
 *
 * So a section of a count phase is the program's whole life (its fork, exec,
 * run and exit), counted on every vCPU. guest-others.sh gc-bench runs bdwgc's
 * gctest so, for `iratio gc_collections`.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define MARK_PAGE 0x4d41524b0000UL	/* as in bench.c and the plugin */
#define PAGE 4096

static unsigned char *page;

static void mark(const char *arg)
{
	char *end;
	unsigned long off = strtoul(arg, &end, 0);

	if (*arg == '\0' || *end != '\0' || off >= PAGE) {
		fprintf(stderr, "mark-run: %s: not a marker offset\n", arg);
		exit(2);
	}
	((void (*)(void))(page + off))();
}

int main(int argc, char **argv)
{
	int sep = 0, status;
	pid_t pid;

	page = mmap((void *)MARK_PAGE, PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (page != (void *)MARK_PAGE) {
		fprintf(stderr, "mark-run: marker page not mapped at %#lx: %s\n", MARK_PAGE,
			strerror(errno));
		return 2;
	}
	memset(page, 0xc3, PAGE);	/* ret */
	if (mprotect(page, PAGE, PROT_READ | PROT_EXEC)) {
		perror("mark-run: mprotect");
		return 2;
	}
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--"))
			sep = i;
	if (!sep) {
		for (int i = 1; i < argc; i++)
			mark(argv[i]);
		return 0;
	}
	if (sep != 3 || sep + 1 >= argc) {
		fprintf(stderr, "usage: mark-run OFFSET... | mark-run BEGIN END -- PROGRAM ARGS\n");
		return 2;
	}
	mark(argv[1]);
	pid = fork();
	if (pid < 0) {
		perror("mark-run: fork");
		return 2;
	}
	if (pid == 0) {
		execvp(argv[sep + 1], argv + sep + 1);
		fprintf(stderr, "mark-run: %s: %s\n", argv[sep + 1], strerror(errno));
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			perror("mark-run: waitpid");
			return 2;
		}
	mark(argv[2]);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
