// SPDX-License-Identifier: GPL-2.0
/* The selftests' seedable random generator (pm_rng.h). */
#include "pm_rng.h"

uint64_t pm_rand(struct pm_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t pm_below(struct pm_rng *r, uint64_t n)
{
	return n ? pm_rand(r) % n : 0;
}

bool pm_chance(struct pm_rng *r, unsigned int pct)
{
	return pm_below(r, 100) < pct;
}

uint64_t pm_seed(void)
{
	const char *s = getenv("RPM_SEED");
	struct timespec ts;

	if (s && *s)
		return strtoull(s, NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000003ULL) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
}