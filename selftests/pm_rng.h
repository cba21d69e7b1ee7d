/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The selftests' one random generator: seedable (RPM_SEED replays a run),
 * small and fast; each user keeps its own state (one per thread or process).
 */
#ifndef PM_RNG_H
#define PM_RNG_H

#include "pm_common.h"

#include <time.h>

/* A small, fast, seedable generator (splitmix64); one per thread. */
struct pm_rng {
	uint64_t s;
};

static inline uint64_t pm_rand(struct pm_rng *r)
{
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, n); 0 when n is 0. */
static inline uint64_t pm_below(struct pm_rng *r, uint64_t n)
{
	return n ? pm_rand(r) % n : 0;
}

/* True with probability pct/100. */
static inline bool pm_chance(struct pm_rng *r, unsigned int pct)
{
	return pm_below(r, 100) < pct;
}

/* The seed: RPM_SEED from the environment if set, else one from the clock. */
static inline uint64_t pm_seed(void)
{
	const char *s = getenv("RPM_SEED");
	struct timespec ts;

	if (s && *s)
		return strtoull(s, NULL, 0);
	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000003ULL) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
}

#endif /* PM_RNG_H */
