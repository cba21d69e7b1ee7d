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

uint64_t pm_rand(struct pm_rng *r);

/* Uniform in [0, n); 0 when n is 0. */
uint64_t pm_below(struct pm_rng *r, uint64_t n);

/* True with probability pct/100. */
bool pm_chance(struct pm_rng *r, unsigned int pct);

/* The seed: RPM_SEED from the environment if set, else one from the clock. */
uint64_t pm_seed(void);

#endif /* PM_RNG_H */
