/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Shared by the hostile-use selftests (stress.c, fuzz.c, lifetimes.c): the
 * seeded random generator (pm_rng.h), the invariants every pagemap entry and every
 * PAGEMAP_SCAN answer must satisfy whatever the memory was doing at the time,
 * and the credential and process helpers those tests need.
 */
#ifndef PM_HOSTILE_H
#define PM_HOSTILE_H

#include "pm_rng.h"
#include "pm_scan.h"

#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#define PM_NOBODY 65534

/* An unsigned number from the environment, or `def`. */
uint64_t pm_env_u64(const char *name, uint64_t def);

/* Seconds on the monotonic clock. */
double pm_now(void);

/* Bits of a pagemap entry that no kernel sets (59, 60). */
#define PM_ENTRY_RESERVED ((1ULL << 59) | (1ULL << 60))

/*
 * Why the pagemap entry `e` is not one any mapping state can produce, or NULL.
 * `pfn_visible`: whether the reader may see frame numbers at all.
 */
const char *pm_entry_violation(uint64_t e, bool pfn_visible);

/*
 * Why the answer to a PAGEMAP_SCAN is not one a correct scan can give, or NULL.
 * `a` is the request as sent (end not yet rounded), `ret` the return value
 * (>= 0), `r` the regions, `walk_end` what came back in the argument.
 */
const char *pm_scan_violation(const struct pm_scan_arg *a, long ret,
			      const struct page_region *r, uint64_t walk_end);

/* The errnos uapi/rust_pagemap.h documents for the device's own calls. */
bool pm_documented_errno(int e);

/*
 * Become `uid` for good. Changing credentials makes a process non-dumpable,
 * which would hide even its own /proc files from it; a process started as
 * that user would be dumpable, so this one is made so again.
 */
bool pm_drop_to(uid_t uid);

/* pidfd_open(2); -1 and errno on failure. */
int pm_pidfd_open(pid_t pid, unsigned int flags);

/* Attach `dev` to `pid` through a pidfd; the ioctl's result (errno set on -1). */
int pm_attach_pid(int dev, pid_t pid);

/* /proc/PID/pagemap, opened for reading; -1 on failure. */
int pm_open_proc_of(pid_t pid);

/* Pin the calling thread to one CPU (cpu modulo the online count). */
void pm_pin_to_cpu(int cpu);

#endif /* PM_HOSTILE_H */
