/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Credentials and target processes for the permission tests: a caller becomes
 * a uid with a set of capabilities (or root in a user namespace of its own),
 * and a target is a process of a given owner and dumpability that sleeps, or
 * writes its own memory again when asked to.
 */
#ifndef PM_CREDS_H
#define PM_CREDS_H

#include "pm_common.h"

#include <grp.h>
#include <linux/capability.h>
#include <linux/userfaultfd.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define PM_NOBODY 65534
#define PM_OTHER 1000

#define PM_CAPBIT(c) (1ULL << (c))

struct pm_creds {
	uid_t uid;
	uint64_t caps; /* effective and permitted after the switch (uid 0 keeps all) */
	bool userns;   /* unshare a user namespace first (as root: full caps inside it) */
};

/*
 * Become `c`; 0 or -1. Root keeps its capabilities only when asked to. A change
 * of uid leaves the process non-dumpable (the kernel's rule for setresuid).
 */
int pm_become(const struct pm_creds *c);

/*
 * Drop capability `cap` from the effective and permitted sets and keep the
 * uid and every other capability (so the process still owns its /proc files);
 * 0 or -1. E.g. CAP_SYS_ADMIN: what the process opens from then on hides frames.
 */
int pm_drop_cap(int cap);

enum pm_target_kind { PM_T_ROOT, PM_T_NOBODY, PM_T_NOBODY_NONDUMPABLE, PM_T_OTHER };

/*
 * The owner of the target's /proc/PID files (task_dump_owner): its euid, or
 * root when it is not dumpable.
 */
uid_t pm_target_owner(enum pm_target_kind t);

/*
 * A target process. With `pages`, it maps that many anonymous pages and writes
 * them (`mem`), and as many more under asynchronous userfaultfd
 * write-protection (`wp`, write-protected and not written yet); then, for each
 * byte written to `cmd` -- 'm': write every page of `mem`, 'w': of `wp` -- it
 * does so and answers with one byte on `ack`.
 */
struct pm_target {
	pid_t pid;
	int cmd, ack;
	char *mem, *wp;
	size_t pages;
};

/* Kill and reap the target, and close its pipes. */
void pm_target_stop(struct pm_target *t);

/* Start a target of kind `k` with `pages` pages of memory (0: none); 0 or -1. */
int pm_target_start(enum pm_target_kind k, size_t pages, struct pm_target *t);

/* Have the target write every page of its memory ('m') or of its wp area ('w'); 0 or -1. */
int pm_target_write(const struct pm_target *t, char what);

#endif /* PM_CREDS_H */
