// SPDX-License-Identifier: GPL-2.0
/* KSM for the tests (pm_ksm.h). */
#include "pm_ksm.h"

#include <time.h>

/* Enough that one batch covers every mergeable page a test has. */
#define KSM_PAGES_TO_SCAN "4096"

static bool knob_read(const char *name, char *buf, size_t len)
{
	char path[128];

	snprintf(path, sizeof(path), PM_KSM_DIR "%s", name);
	return pm_read_file(path, buf, len);
}

static bool knob_write(const char *name, const char *value)
{
	char path[128];

	snprintf(path, sizeof(path), PM_KSM_DIR "%s", name);
	return pm_write_file(path, value);
}

bool pm_have_ksm(void)
{
	return access(PM_KSM_DIR "run", F_OK) == 0;
}

bool pm_ksm_start(struct pm_ksm_knobs *k, bool zero_pages)
{
	k->saved = knob_read("run", k->run, sizeof(k->run)) &&
		   knob_read("pages_to_scan", k->pages_to_scan, sizeof(k->pages_to_scan)) &&
		   knob_read("sleep_millisecs", k->sleep_millisecs, sizeof(k->sleep_millisecs)) &&
		   knob_read("use_zero_pages", k->use_zero_pages, sizeof(k->use_zero_pages));
	if (!k->saved)
		return false;
	return knob_write("use_zero_pages", zero_pages ? "1" : "0") &&
	       knob_write("pages_to_scan", KSM_PAGES_TO_SCAN) &&
	       knob_write("sleep_millisecs", "0") && knob_write("run", "1");
}

void pm_ksm_restore(const struct pm_ksm_knobs *k)
{
	if (!k->saved)
		return;
	knob_write("run", k->run);
	knob_write("sleep_millisecs", k->sleep_millisecs);
	knob_write("pages_to_scan", k->pages_to_scan);
	knob_write("use_zero_pages", k->use_zero_pages);
}

long pm_ksm_merged(int proc, const void *p, size_t n, uint64_t pfn)
{
	uint64_t *e = calloc(n, sizeof(*e));
	long merged = 0;

	if (!e || pm_read_entries(proc, (uintptr_t)p, n, e)) {
		free(e);
		return -1;
	}
	if (!pfn)
		pfn = e[0] & RPM_PFRAME_MASK;
	for (size_t i = 0; i < n; i++)
		merged += (e[i] & RPM_PRESENT) && !(e[i] & RPM_MMAP_EXCLUSIVE) &&
			  (e[i] & RPM_PFRAME_MASK) == pfn && pfn;
	free(e);
	return merged;
}

long pm_ksm_wait_merged(int proc, const void *p, size_t n, uint64_t pfn, int cap_seconds)
{
	time_t t0 = time(NULL);
	long merged;

	for (;;) {
		merged = pm_ksm_merged(proc, p, n, pfn);
		if (merged < 0 || merged == (long)n || time(NULL) - t0 >= cap_seconds)
			return merged;
		usleep(10000);
	}
}
