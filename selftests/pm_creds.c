// SPDX-License-Identifier: GPL-2.0
/* Credentials and target processes for the permission tests (pm_creds.h). */
#include "pm_creds.h"

/* Set the effective and permitted capabilities to exactly `caps` (no inheritable). */
static int pm_set_caps(uint64_t caps)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = {};

	d[0].effective = d[0].permitted = (uint32_t)caps;
	d[1].effective = d[1].permitted = (uint32_t)(caps >> 32);
	return syscall(SYS_capset, &h, d);
}

int pm_drop_cap(int cap)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = {};

	if (syscall(SYS_capget, &h, d))
		return -1;
	d[CAP_TO_INDEX(cap)].effective &= ~CAP_TO_MASK(cap);
	d[CAP_TO_INDEX(cap)].permitted &= ~CAP_TO_MASK(cap);
	return syscall(SYS_capset, &h, d);
}

int pm_become(const struct pm_creds *c)
{
	if (c->userns)
		return unshare(CLONE_NEWUSER);
	if (!c->uid)
		return 0;
	if (prctl(PR_SET_KEEPCAPS, 1) || setgroups(0, NULL))
		return -1;
	if (setresgid(c->uid, c->uid, c->uid) || setresuid(c->uid, c->uid, c->uid))
		return -1;
	return pm_set_caps(c->caps);
}

/* The uid a target of `t` runs as. */
static uid_t pm_target_uid(enum pm_target_kind t)
{
	return t == PM_T_ROOT ? 0 : t == PM_T_OTHER ? PM_OTHER : PM_NOBODY;
}

uid_t pm_target_owner(enum pm_target_kind t)
{
	return t == PM_T_NOBODY_NONDUMPABLE ? 0 : pm_target_uid(t);
}

static void pm_target_serve(const struct pm_target *t, int cmd, int ack)
{
	char c;

	while (read(cmd, &c, 1) == 1) {
		char *p = c == 'w' ? t->wp : t->mem;

		for (size_t i = 0; i < t->pages; i++)
			((volatile char *)p)[i * PM_PAGE] = c + (char)i;
		if (write(ack, &c, 1) != 1)
			_exit(1);
	}
	for (;;)
		pause();
}

/* Map the target's memory, in the target (the wp area needs a userfaultfd of its own). */
static int pm_target_map(struct pm_target *t)
{
	struct uffdio_api api = {
		.api = UFFD_API,
		.features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED,
	};
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_WP };
	struct uffdio_writeprotect wp = { .mode = UFFDIO_WRITEPROTECT_MODE_WP };
	size_t len = t->pages * PM_PAGE;
	int uffd;

	t->mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	t->wp = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t->mem == MAP_FAILED || t->wp == MAP_FAILED)
		return -1;
	/* Any user may have one that only handles faults from user space. */
	uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
	if (uffd < 0 || ioctl(uffd, UFFDIO_API, &api))
		return -1;
	reg.range.start = wp.range.start = (uintptr_t)t->wp;
	reg.range.len = wp.range.len = len;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg) || ioctl(uffd, UFFDIO_WRITEPROTECT, &wp))
		return -1;
	for (size_t i = 0; i < t->pages; i++)
		t->mem[i * PM_PAGE] = (char)i;
	return 0;
}

void pm_target_stop(struct pm_target *t)
{
	if (t->pid > 0) {
		kill(t->pid, SIGKILL);
		waitpid(t->pid, NULL, 0);
		close(t->cmd);
		close(t->ack);
	}
	t->pid = 0;
}

int pm_target_start(enum pm_target_kind k, size_t pages, struct pm_target *t)
{
	int cmd[2], ack[2];
	char *addrs[2];

	memset(t, 0, sizeof(*t));
	t->pages = pages;
	if (pipe(cmd) || pipe(ack))
		return -1;
	t->pid = fork();
	if (t->pid < 0)
		return -1;
	if (!t->pid) {
		uid_t uid = pm_target_uid(k);

		close(cmd[1]);
		close(ack[0]);
		if (uid && (setresgid(uid, uid, uid) || setresuid(uid, uid, uid)))
			_exit(1);
		/* A change of uid makes a process non-dumpable; undo that unless asked. */
		if (prctl(PR_SET_DUMPABLE, k != PM_T_NOBODY_NONDUMPABLE))
			_exit(1);
		if (pages && pm_target_map(t))
			_exit(1);
		addrs[0] = t->mem;
		addrs[1] = t->wp;
		if (write(ack[1], addrs, sizeof(addrs)) != sizeof(addrs))
			_exit(1);
		pm_target_serve(t, cmd[0], ack[1]);
	}
	close(cmd[0]);
	close(ack[1]);
	t->cmd = cmd[1];
	t->ack = ack[0];
	/* Ready once it says where its memory is. */
	if (read(t->ack, addrs, sizeof(addrs)) != sizeof(addrs)) {
		pm_target_stop(t);
		return -1;
	}
	t->mem = addrs[0];
	t->wp = addrs[1];
	return 0;
}

int pm_target_write(const struct pm_target *t, char what)
{
	char c;

	if (write(t->cmd, &what, 1) != 1 || read(t->ack, &c, 1) != 1)
		return -1;
	return c == what ? 0 : -1;
}