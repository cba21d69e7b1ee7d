/* SPDX-License-Identifier: GPL-2.0 */
/*
 * PM_SHARED_HARNESS_MAIN: TEST_HARNESS_MAIN for a program whose tests do not
 * depend on the paging mode (who may clear, races of writers against clears at
 * the PTE and PMD levels). make check runs such a program in both of its lanes
 * (one per paging mode) and each lane runs a share of its tests: with
 * RPM_SHARE=K/N in the environment, the tests whose position in the harness's
 * own order (fixtures, their variants, their tests) is K modulo N. The N lanes
 * together run every test once; the plan a lane prints counts its share only,
 * so nothing is reported as skipped. Without RPM_SHARE, or when the program is
 * given arguments (the harness's -t, -v, -r, -l, ...), it is TEST_HARNESS_MAIN.
 *
 * Include after kselftest_harness.h: the harness's lists are static to the
 * program that includes it.
 */
#ifndef PM_SHARE_H
#define PM_SHARE_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int pm_share_run(int argc, char **argv)
{
	struct __fixture_variant_metadata no_variant = { .name = "" };
	struct __fixture_variant_metadata *v;
	struct __fixture_metadata *f;
	struct __test_metadata *t;
	const char *share = getenv("RPM_SHARE");
	unsigned int k, n, pos = 0, nargs = 1;
	char **args;

	if (argc > 1 || !share || sscanf(share, "%u/%u", &k, &n) != 2 || n < 2)
		return test_harness_run(argc, argv);
	if (k >= n) {
		fprintf(stderr, "RPM_SHARE=%s: K must be below N\n", share);
		return KSFT_FAIL;
	}
	for (f = __fixture_list; f; f = f->next)
		for (v = f->variant ?: &no_variant; v; v = v->next)
			for (t = f->tests; t; t = t->next)
				nargs += 2;
	args = calloc(nargs + 1, sizeof(*args));
	if (!args)
		return KSFT_FAIL;
	args[0] = argv[0];
	nargs = 1;
	for (f = __fixture_list; f; f = f->next)
		for (v = f->variant ?: &no_variant; v; v = v->next)
			for (t = f->tests; t; t = t->next, pos++) {
				if (pos % n != k)
					continue;
				/* -r FIXTURE.VARIANT.TEST, or FIXTURE.TEST without variants */
				if (asprintf(&args[nargs + 1], "%s.%s%s%s", f->name, v->name,
					     *v->name ? "." : "", t->name) < 0)
					return KSFT_FAIL;
				args[nargs] = "-r";
				nargs += 2;
			}
	printf("# RPM_SHARE=%u/%u: %u of the program's %u tests\n", k, n, (nargs - 1) / 2, pos);
	if (nargs == 1) {
		/* A share with no test would run every test: the harness treats no filter as all. */
		fprintf(stderr, "RPM_SHARE=%u/%u leaves no test\n", k, n);
		return KSFT_FAIL;
	}
	return test_harness_run(nargs, args);
}

#define PM_SHARED_HARNESS_MAIN                                                                     \
	int main(int argc, char **argv)                                                            \
	{                                                                                          \
		return pm_share_run(argc, argv);                                                   \
	}

#endif /* PM_SHARE_H */
