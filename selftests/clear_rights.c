// SPDX-License-Identifier: GPL-2.0
/*
 * Clearing soft-dirty needs the right /proc asks for it: a binding of the
 * device (an open for oneself, or RPM_IOC_ATTACH_PIDFD) may clear iff its
 * binder, at bind time, could open /proc/PID/clear_refs for writing (mode 0200,
 * owned by the target's dump owner: its euid, or root when it is not dumpable).
 * Without the right, RPM_IOC_CLEAR_SOFT_DIRTY, RPM_IOC_CLEAR_SOFT_DIRTY_ALL and
 * get-and-clear fail with EPERM and change nothing; reads and the other scans
 * work as on the pagemap file. The right stays with the descriptor, passed or
 * inherited. And opening the device for oneself follows the owner rule of
 * /proc/self/pagemap: a process that is not dumpable may not, unless it may
 * open that file.
 *
 * Every case asks /proc the same question in the same process (the child with
 * the caller's credentials opens /proc/PID/clear_refs and /proc/PID/pagemap),
 * and checks the target's soft-dirty bits in its /proc/PID/pagemap.
 */
#include "pm_clear.h"

#include <sys/socket.h>

#include "kselftest_harness.h"
#include "pm_creds.h"
#include "pm_require.h"
#include "pm_share.h"

#define PAGES 8

/* What a child with the caller's credentials saw; errors are 0 or an errno. */
struct seen {
	int setup;	    /* nonzero: the child's set-up failed at this step */
	int dumpable;	    /* PR_GET_DUMPABLE after the switch */
	int clear_refs_err; /* open("/proc/PID/clear_refs", O_WRONLY) */
	int binder_clear_refs_err; /* the same, by the binder of a descriptor passed on */
	int pagemap_err;    /* open("/proc/PID/pagemap", O_RDONLY) */
	int dev_err;	    /* the device's open (for oneself) or attach (to PID) */
	int clear_err;	    /* a clear: 0 or errno, -1 when not tried */
	struct {
		int err;		  /* -1: not tried */
		long before, after;	  /* soft-dirty pages of the memory, per /proc */
	} clears[3];			  /* by enum pm_clear_kind */
	long read_mismatches;		/* device reads that differ from /proc's */
	bool scan_agrees;		/* a plain PAGEMAP_SCAN agrees with /proc's */
	long written_before, wp_regions, wp_proc_regions, written_after;
};

static int open_err(const char *path, int flags)
{
	int fd = open(path, flags);

	if (fd < 0)
		return errno;
	close(fd);
	return 0;
}

static void proc_path(char *buf, size_t len, pid_t pid, const char *file)
{
	snprintf(buf, len, "/proc/%d/%s", pid, file);
}

/* A shared page for a child's answer. */
static struct seen *seen_map(void)
{
	struct seen *s = mmap(NULL, sizeof(*s), PROT_READ | PROT_WRITE,
			      MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (s == MAP_FAILED)
		return NULL;
	memset(s, 0, sizeof(*s));
	s->clear_err = -1;
	for (int k = 0; k < 3; k++)
		s->clears[k].err = -1;
	return s;
}

/* End a child, with what it printed. */
static void child_exit(int code)
{
	fflush(stdout);
	_exit(code);
}

/* Wait for a child; 0 if it exited with 0. */
static int reap(pid_t pid)
{
	int status;

	if (waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) && !WEXITSTATUS(status) ? 0 : -1;
}

/* Does the caller `c` get to write `target`'s clear_refs? The procfs rule, for the matrix. */
static bool clear_refs_expected(const struct pm_creds *c, enum pm_target_kind target)
{
	uid_t owner = pm_target_owner(target);

	/* Root in a new user namespace keeps fsuid 0 but no capability over unmapped ids. */
	if (c->userns)
		return owner == 0;
	if (c->uid == 0)
		return true;
	return c->uid == owner || (c->caps & PM_CAPBIT(CAP_DAC_OVERRIDE));
}

/* --- one caller against one target ------------------------------------- */

/* What a probe does through the device once bound: each of the three clears, or read and scan. */
enum action { A_CLEARS, A_READ_AND_SCAN };

/*
 * Each clear through `dev` of the `pages` pages at `mem`, made soft-dirty
 * first by `redirty`, counted before and after on the pagemap file `oracle`.
 */
static void each_clear(int dev, int oracle, uintptr_t mem, size_t pages,
		       int (*redirty)(const void *), const void *arg, struct seen *s)
{
	for (int k = PM_CLEAR_RANGE; k <= PM_GET_AND_CLEAR; k++) {
		if (redirty(arg)) {
			s->setup = 10 + k;
			return;
		}
		s->clears[k].before = pm_soft_dirty_pages(oracle, mem, pages);
		s->clears[k].err = pm_clear_by(dev, k, mem, mem + pages * PM_PAGE) ? errno : 0;
		s->clears[k].after = pm_soft_dirty_pages(oracle, mem, pages);
	}
}

static int target_redirty(const void *t)
{
	return pm_target_write(t, 'm');
}

/* The reads and scans of the pagemap fd rule, through the device and `proc` (the caller's). */
static void read_and_scan(const struct pm_target *t, int proc, int dev, struct seen *s)
{
	static struct pm_scan_result a, b;
	uintptr_t mem = (uintptr_t)t->mem, wp = (uintptr_t)t->wp;
	size_t len = t->pages * PM_PAGE;
	struct pm_scan_arg req;

	s->read_mismatches = pm_compare_range(proc, dev, mem, mem + len) +
			     pm_compare_range(proc, dev, wp, wp + len);
	req = pm_scan_req(mem, mem + len, 0, 0, 0, 0, PM_ALL_CATEGORIES);
	s->scan_agrees = pm_scan_agree(proc, dev, &req, PM_MAX_REGIONS);
	req = pm_scan_req(wp, wp + len, 0, 0, 0, 0, PM_ALL_CATEGORIES);
	s->scan_agrees = s->scan_agrees && pm_scan_agree(proc, dev, &req, PM_MAX_REGIONS);

	/* Write-protection of written pages: on the device, then /proc sees none written. */
	if (pm_target_write(t, 'w')) {
		s->setup = 20;
		return;
	}
	s->written_before = pm_count_cat(proc, t->wp, len, PAGE_IS_WRITTEN, 0);
	req = pm_scan_req(wp, wp + len, PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC, 0,
			  PAGE_IS_WRITTEN, 0, PAGE_IS_WRITTEN);
	pm_scan_run(dev, &req, PM_MAX_REGIONS, &b);
	s->wp_regions = b.ret;
	s->written_after = pm_count_cat(proc, t->wp, len, PAGE_IS_WRITTEN, 0);
	/* And the same on /proc, for its own answer. */
	if (pm_target_write(t, 'w')) {
		s->setup = 21;
		return;
	}
	pm_scan_run(proc, &req, PM_MAX_REGIONS, &a);
	s->wp_proc_regions = a.ret;
}

/*
 * In a child: become `c`, ask /proc, attach the device to the target, and do
 * `act` through it. The device is opened before the switch (a process that
 * changed its uid may not open it for itself), the target's /proc pagemap is
 * opened as root, to count its soft-dirty pages whatever the caller may read.
 */
static void caller_child(const struct pm_creds *c, const struct pm_target *t, enum action act,
			 struct seen *s)
{
	int pidfd = syscall(SYS_pidfd_open, t->pid, 0);
	int dev = pm_open_dev();
	char path[64];
	int oracle, proc;

	proc_path(path, sizeof(path), t->pid, "pagemap");
	oracle = open(path, O_RDONLY);
	if (pidfd < 0 || dev < 0 || oracle < 0 || pm_become(c)) {
		s->setup = 1;
		return;
	}
	proc_path(path, sizeof(path), t->pid, "clear_refs");
	s->clear_refs_err = open_err(path, O_WRONLY);
	proc_path(path, sizeof(path), t->pid, "pagemap");
	proc = open(path, O_RDONLY);
	s->pagemap_err = proc < 0 ? errno : 0;
	s->dev_err = ioctl(dev, RPM_IOC_ATTACH_PIDFD, pidfd) ? errno : 0;
	if (s->dev_err)
		return;
	if (act == A_READ_AND_SCAN) {
		if (proc >= 0)
			read_and_scan(t, proc, dev, s);
		return;
	}
	each_clear(dev, oracle, (uintptr_t)t->mem, t->pages, target_redirty, t, s);
}

static int probe(const struct pm_creds *c, const struct pm_target *t, enum action act,
		 struct seen *s)
{
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (!pid) {
		caller_child(c, t, act, s);
		child_exit(0);
	}
	return reap(pid);
}

FIXTURE(rights)
{
	struct pm_target t;
	struct seen *s;
};

FIXTURE_VARIANT(rights)
{
	struct pm_creds caller;
	enum pm_target_kind target;
};

FIXTURE_SETUP(rights)
{
	ASSERT_EQ(geteuid(), 0) TH_LOG("the credential matrix needs root to set it up");
	self->s = seen_map();
	ASSERT_NE(self->s, NULL);
	ASSERT_EQ(pm_target_start(variant->target, PAGES, &self->t), 0);
}

FIXTURE_TEARDOWN(rights)
{
	pm_target_stop(&self->t);
}

#define CASE(name, uid_, caps_, userns_, target_)                                           \
	FIXTURE_VARIANT_ADD(rights, name)                                                    \
	{                                                                                    \
		.caller = { .uid = uid_, .caps = caps_, .userns = userns_ },                   \
		.target = target_,                                                             \
	}

/* One caller against each kind of target. */
#define CALLER(name, uid_, caps_, userns_)                                                  \
	CASE(name##_to_root, uid_, caps_, userns_, PM_T_ROOT);                              \
	CASE(name##_to_nobody, uid_, caps_, userns_, PM_T_NOBODY);                          \
	CASE(name##_to_nondumpable_nobody, uid_, caps_, userns_, PM_T_NOBODY_NONDUMPABLE);  \
	CASE(name##_to_other_uid, uid_, caps_, userns_, PM_T_OTHER)

CALLER(root, 0, 0, false);
CALLER(nobody, PM_NOBODY, 0, false);
CALLER(dac_override, PM_NOBODY, PM_CAPBIT(CAP_DAC_OVERRIDE), false);
CALLER(dac_read_search, PM_NOBODY, PM_CAPBIT(CAP_DAC_READ_SEARCH), false);
CALLER(perfmon, PM_NOBODY, PM_CAPBIT(CAP_PERFMON), false);
CALLER(sys_ptrace, PM_NOBODY, PM_CAPBIT(CAP_SYS_PTRACE), false);
CALLER(sys_admin, PM_NOBODY, PM_CAPBIT(CAP_SYS_ADMIN), false);
CALLER(fowner, PM_NOBODY, PM_CAPBIT(CAP_FOWNER), false);
/* Those that may read another user's pagemap: the ones that may clear it are few. */
CALLER(dac_read_search_and_sys_ptrace, PM_NOBODY,
       PM_CAPBIT(CAP_DAC_READ_SEARCH) | PM_CAPBIT(CAP_SYS_PTRACE), false);
CALLER(dac_read_search_and_perfmon, PM_NOBODY,
       PM_CAPBIT(CAP_DAC_READ_SEARCH) | PM_CAPBIT(CAP_PERFMON), false);
CALLER(dac_override_and_sys_ptrace, PM_NOBODY,
       PM_CAPBIT(CAP_DAC_OVERRIDE) | PM_CAPBIT(CAP_SYS_PTRACE), false);
CALLER(dac_override_and_perfmon, PM_NOBODY,
       PM_CAPBIT(CAP_DAC_OVERRIDE) | PM_CAPBIT(CAP_PERFMON), false);
CALLER(userns_root, 0, 0, true);

/* A clear allowed cleaned every page; one refused failed with EPERM and cleaned none. */
static void check_each_clear(struct __test_metadata *_metadata, const struct seen *s,
			     bool allowed)
{
	int want_err = allowed ? 0 : EPERM;
	long want_dirty = allowed ? 0 : PAGES;

	for (int k = PM_CLEAR_RANGE; k <= PM_GET_AND_CLEAR; k++) {
		int err = s->clears[k].err;

		TH_LOG("%s: %s; dirty pages %ld -> %ld", pm_clear_name(k),
		       err < 0 ? "not tried" : strerror(err), s->clears[k].before,
		       s->clears[k].after);
		ASSERT_EQ(s->clears[k].before, PAGES);
		EXPECT_EQ(err, want_err);
		EXPECT_EQ(s->clears[k].after, want_dirty);
	}
}

/*
 * /proc answers as the rule says (the matrix tests what it claims); an attach
 * refused is refused as /proc refuses the pagemap (nothing can be cleared
 * through it); otherwise each of RPM_IOC_CLEAR_SOFT_DIRTY,
 * RPM_IOC_CLEAR_SOFT_DIRTY_ALL and get-and-clear succeeds and cleans the
 * target's pages iff /proc let the caller open its clear_refs for writing,
 * else fails with EPERM and leaves every page soft-dirty.
 */
TEST_F(rights, clears_allowed_iff_proc_clear_refs_opens)
{
	const struct seen *s = self->s;

	ASSERT_EQ(probe(&variant->caller, &self->t, A_CLEARS, self->s), 0);
	ASSERT_EQ(s->setup, 0);
	TH_LOG("clear_refs: %s; pagemap: %s; attach: %s", strerror(s->clear_refs_err),
	       strerror(s->pagemap_err), strerror(s->dev_err));
	ASSERT_EQ(s->clear_refs_err == 0, clear_refs_expected(&variant->caller, variant->target));
	if (s->dev_err) {
		EXPECT_EQ(s->dev_err, s->pagemap_err);
		return;
	}
	EXPECT_EQ(s->pagemap_err, 0) TH_LOG("attached where /proc/PID/pagemap is refused");
	check_each_clear(_metadata, s, !s->clear_refs_err);
}

/*
 * Whatever the clear right, a binding reads, scans and write-protects (the
 * pagemap fd rule): the same entries and regions as the caller's own
 * /proc/PID/pagemap, and PM_SCAN_WP_MATCHING reports the written pages and
 * protects them, as it does on /proc.
 */
TEST_F(rights, reads_and_scans_work_with_or_without_clear_right)
{
	struct seen *s = self->s;

	ASSERT_EQ(probe(&variant->caller, &self->t, A_READ_AND_SCAN, s), 0);
	ASSERT_EQ(s->setup, 0);
	TH_LOG("pagemap: %s; attach: %s", strerror(s->pagemap_err), strerror(s->dev_err));
	if (s->dev_err) {
		EXPECT_EQ(s->dev_err, s->pagemap_err);
		return;
	}
	ASSERT_EQ(s->pagemap_err, 0) TH_LOG("attached where /proc/PID/pagemap is refused");
	EXPECT_EQ(s->read_mismatches, 0);
	EXPECT_TRUE(s->scan_agrees);
	ASSERT_EQ(s->written_before, PAGES);
	EXPECT_EQ(s->wp_proc_regions, 1);
	EXPECT_EQ(s->wp_regions, s->wp_proc_regions);
	EXPECT_EQ(s->written_after, 0);
}

/* --- argument errors come first ------------------------------------------ */

/*
 * A get-and-clear with bad arguments is EINVAL, as without the flag, also on a
 * binding without the clear right: the arguments are checked before the right.
 * The binding: nobody with CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE, attached to
 * a root process (it may read that process's pagemap, not clear it).
 */
TEST(get_and_clear_argument_errors_come_before_eperm)
{
	struct pm_creds c = { .uid = PM_NOBODY,
			      .caps = PM_CAPBIT(CAP_DAC_READ_SEARCH) | PM_CAPBIT(CAP_SYS_PTRACE) };
	static struct page_region vec[PAGES];
	struct pm_target t;
	struct seen *s = seen_map();
	uint64_t sd = PAGE_IS_SOFT_DIRTY, cl = RPM_SCAN_CLEAR_SOFT_DIRTY;
	pid_t pid;

	ASSERT_NE(s, NULL);
	ASSERT_EQ(pm_target_start(PM_T_ROOT, PAGES, &t), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		uintptr_t m = (uintptr_t)t.mem, e = m + PAGES * PM_PAGE;
		struct {
			const char *what;
			struct pm_scan_arg a;
		} bad[] = {
			{ "soft-dirty not in category_mask",
			  pm_scan_req(m, e, cl, 0, PAGE_IS_PRESENT, 0, sd) },
			{ "soft-dirty inverted", pm_scan_req(m, e, cl, sd, sd, 0, sd) },
			{ "no output array", pm_scan_req(m, e, cl, 0, sd, 0, sd) },
			{ "with PM_SCAN_WP_MATCHING",
			  pm_scan_req(m, e, cl | PM_SCAN_WP_MATCHING, 0, sd, 0, sd) },
			{ "an unknown flag", pm_scan_req(m, e, cl | (1ULL << 40), 0, sd, 0, sd) },
			{ "an unknown category", pm_scan_req(m, e, cl, 0, sd | (1ULL << 40), 0, sd) },
			{ "start not page-aligned", pm_scan_req(m + 8, e, cl, 0, sd, 0, sd) },
			{ "wrong size", pm_scan_req(m, e, cl, 0, sd, 0, sd) },
		};
		int n = sizeof(bad) / sizeof(bad[0]);
		int pidfd = syscall(SYS_pidfd_open, t.pid, 0);
		int dev = pm_open_dev();

		bad[n - 1].a.size -= 8;
		if (pidfd < 0 || dev < 0 || pm_become(&c) || ioctl(dev, RPM_IOC_ATTACH_PIDFD, pidfd))
			_exit(1);
		for (int i = 0; i < n; i++) {
			if (i != 2) {
				bad[i].a.vec = (uintptr_t)vec;
				bad[i].a.vec_len = PAGES;
			}
			if (ioctl(dev, PAGEMAP_SCAN, &bad[i].a) >= 0 || errno != EINVAL) {
				printf("# get-and-clear with %s: %s, not EINVAL\n", bad[i].what,
				       strerror(errno));
				s->setup++;
			}
		}
		/* The same binding's valid request: the right it lacks. */
		s->clear_err = pm_clear_by(dev, PM_GET_AND_CLEAR, m, e) ? errno : 0;
		child_exit(0);
	}
	ASSERT_EQ(reap(pid), 0);
	pm_target_stop(&t);
	EXPECT_EQ(s->setup, 0) TH_LOG("%d argument errors not reported as EINVAL", s->setup);
	EXPECT_EQ(s->clear_err, EPERM) TH_LOG("the valid call: %s", strerror(s->clear_err));
}

/* --- the right stays with the descriptor ---------------------------------- */

static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = {};
	char byte = 'f';
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c = CMSG_FIRSTHDR(&m);

	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(c), &fd, sizeof(int));
	return sendmsg(sock, &m, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = {};
	char byte;
	struct iovec iov = { &byte, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
			    .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	int fd;

	if (recvmsg(sock, &m, 0) != 1)
		return -1;
	c = CMSG_FIRSTHDR(&m);
	if (!c || c->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* Every capability the kernel knows, for root's own set. */
static uint64_t all_caps(void)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = {};

	if (syscall(SYS_capget, &h, d))
		return 0;
	return d[0].permitted | (uint64_t)d[1].permitted << 32;
}

/* Set the effective capabilities to `eff`, keeping the permitted ones `perm`. */
static int set_effective(uint64_t eff, uint64_t perm)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2] = {};

	d[0].effective = (uint32_t)eff;
	d[1].effective = (uint32_t)(eff >> 32);
	d[0].permitted = (uint32_t)perm;
	d[1].permitted = (uint32_t)(perm >> 32);
	return syscall(SYS_capset, &h, d);
}

FIXTURE(passed)
{
	struct pm_target t;
	struct seen *s;
	int oracle; /* the target's /proc pagemap, opened by root */
	char clear_refs[64];
};

FIXTURE_VARIANT(passed)
{
	enum pm_clear_kind kind;
};

FIXTURE_VARIANT_ADD(passed, clear_range) { .kind = PM_CLEAR_RANGE };
FIXTURE_VARIANT_ADD(passed, clear_all) { .kind = PM_CLEAR_ALL };
FIXTURE_VARIANT_ADD(passed, get_and_clear) { .kind = PM_GET_AND_CLEAR };

/* A target of kind `k` with its memory written, and root's view of it. */
static void passed_target(struct __test_metadata *_metadata, FIXTURE_DATA(passed) *self,
			  enum pm_target_kind k)
{
	char path[64];

	ASSERT_EQ(pm_target_start(k, PAGES, &self->t), 0);
	proc_path(path, sizeof(path), self->t.pid, "pagemap");
	self->oracle = open(path, O_RDONLY);
	ASSERT_GE(self->oracle, 0);
	proc_path(self->clear_refs, sizeof(self->clear_refs), self->t.pid, "clear_refs");
	ASSERT_EQ(pm_target_write(&self->t, 'm'), 0);
	ASSERT_EQ(pm_soft_dirty_pages(self->oracle, (uintptr_t)self->t.mem, PAGES), PAGES);
}

FIXTURE_SETUP(passed)
{
	ASSERT_EQ(geteuid(), 0);
	self->s = seen_map();
	ASSERT_NE(self->s, NULL);
	passed_target(_metadata, self, PM_T_ROOT);
}

FIXTURE_TEARDOWN(passed)
{
	pm_target_stop(&self->t);
}

/* The variant's clear of the target's memory through `fd`: 0 or errno. */
static int clear_target(const FIXTURE_DATA(passed) *self, const FIXTURE_VARIANT(passed) *v,
			int fd)
{
	uintptr_t m = (uintptr_t)self->t.mem;

	return pm_clear_by(fd, v->kind, m, m + PAGES * PM_PAGE) ? errno : 0;
}

/* A root process's descriptor, attached by root, clears in a nobody process it is passed to. */
TEST_F(passed, root_bound_fd_passed_by_scm_rights_to_nobody_clears)
{
	struct pm_creds nobody = { .uid = PM_NOBODY };
	int sv[2], dev = pm_open_dev(), pidfd = syscall(SYS_pidfd_open, self->t.pid, 0);
	pid_t pid;

	ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ASSERT_GE(dev, 0);
	ASSERT_GE(pidfd, 0);
	ASSERT_EQ(ioctl(dev, RPM_IOC_ATTACH_PIDFD, pidfd), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		int fd;

		close(dev);
		if (pm_become(&nobody))
			_exit(1);
		/* It could not clear the target through /proc itself. */
		self->s->clear_refs_err = open_err(self->clear_refs, O_WRONLY);
		fd = recv_fd(sv[1]);
		if (fd < 0)
			_exit(2);
		self->s->clear_err = clear_target(self, variant, fd);
		_exit(0);
	}
	ASSERT_EQ(send_fd(sv[0], dev), 0);
	ASSERT_EQ(reap(pid), 0);
	ASSERT_EQ(self->s->clear_refs_err, EACCES);
	EXPECT_EQ(self->s->clear_err, 0) TH_LOG("%s: %s", pm_clear_name(variant->kind),
						strerror(self->s->clear_err));
	EXPECT_EQ(pm_soft_dirty_pages(self->oracle, (uintptr_t)self->t.mem, PAGES), 0);
}

/*
 * A descriptor attached by a process without the clear right (nobody with
 * CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE: it may read a root process's
 * pagemap, not clear it) and passed to root still may not clear, though root
 * may open the target's clear_refs.
 */
TEST_F(passed, unprivileged_bound_fd_passed_by_scm_rights_to_root_gets_eperm)
{
	struct pm_creds reader = { .uid = PM_NOBODY,
				   .caps = PM_CAPBIT(CAP_DAC_READ_SEARCH) |
					   PM_CAPBIT(CAP_SYS_PTRACE) };
	int sv[2], fd, err;
	pid_t pid;

	ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		int pidfd = syscall(SYS_pidfd_open, self->t.pid, 0);
		int dev = pm_open_dev();

		if (pidfd < 0 || dev < 0 || pm_become(&reader))
			_exit(1);
		self->s->clear_refs_err = open_err(self->clear_refs, O_WRONLY);
		self->s->dev_err = ioctl(dev, RPM_IOC_ATTACH_PIDFD, pidfd) ? errno : 0;
		if (send_fd(sv[1], dev))
			_exit(2);
		_exit(0);
	}
	fd = recv_fd(sv[0]);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(reap(pid), 0);
	ASSERT_EQ(self->s->clear_refs_err, EACCES);
	ASSERT_EQ(self->s->dev_err, 0);
	ASSERT_EQ(open_err(self->clear_refs, O_WRONLY), 0);
	err = clear_target(self, variant, fd);
	EXPECT_EQ(err, EPERM) TH_LOG("%s: %s", pm_clear_name(variant->kind), strerror(err));
	EXPECT_EQ(pm_soft_dirty_pages(self->oracle, (uintptr_t)self->t.mem, PAGES), PAGES);
}

/* A descriptor root attached keeps its right in a child that drops to nobody. */
TEST_F(passed, root_bound_fd_inherited_by_nobody_child_clears)
{
	struct pm_creds nobody = { .uid = PM_NOBODY };
	int dev = pm_open_dev(), pidfd = syscall(SYS_pidfd_open, self->t.pid, 0);
	pid_t pid;

	ASSERT_GE(dev, 0);
	ASSERT_GE(pidfd, 0);
	ASSERT_EQ(ioctl(dev, RPM_IOC_ATTACH_PIDFD, pidfd), 0);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		if (pm_become(&nobody))
			_exit(1);
		self->s->clear_refs_err = open_err(self->clear_refs, O_WRONLY);
		self->s->clear_err = clear_target(self, variant, dev);
		_exit(0);
	}
	ASSERT_EQ(reap(pid), 0);
	ASSERT_EQ(self->s->clear_refs_err, EACCES);
	EXPECT_EQ(self->s->clear_err, 0) TH_LOG("%s: %s", pm_clear_name(variant->kind),
						strerror(self->s->clear_err));
	EXPECT_EQ(pm_soft_dirty_pages(self->oracle, (uintptr_t)self->t.mem, PAGES), 0);
}

/*
 * A descriptor attached without the right keeps lacking it in a child that
 * has the right: root without CAP_DAC_OVERRIDE in its effective set attaches
 * to a process of another uid (CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE let it
 * read, nothing lets it write clear_refs); its child raises CAP_DAC_OVERRIDE
 * again, may open clear_refs now, and still gets EPERM through the descriptor.
 */
TEST_F(passed, fd_bound_without_right_inherited_by_child_with_right_gets_eperm)
{
	uint64_t all = all_caps(), no_override = all & ~PM_CAPBIT(CAP_DAC_OVERRIDE);
	pid_t binder;

	ASSERT_NE(all & PM_CAPBIT(CAP_DAC_OVERRIDE), 0);
	/* A target whose files root does not own. */
	pm_target_stop(&self->t);
	close(self->oracle);
	passed_target(_metadata, self, PM_T_OTHER);
	binder = fork();
	ASSERT_GE(binder, 0);
	if (!binder) {
		int pidfd = syscall(SYS_pidfd_open, self->t.pid, 0);
		int dev = pm_open_dev();
		pid_t child;

		if (pidfd < 0 || dev < 0 || set_effective(no_override, all))
			_exit(1);
		self->s->binder_clear_refs_err = open_err(self->clear_refs, O_WRONLY);
		self->s->dev_err = ioctl(dev, RPM_IOC_ATTACH_PIDFD, pidfd) ? errno : 0;
		child = fork();
		if (child < 0)
			_exit(2);
		if (!child) {
			if (set_effective(all, all))
				_exit(1);
			self->s->clear_refs_err = open_err(self->clear_refs, O_WRONLY);
			self->s->clear_err = clear_target(self, variant, dev);
			_exit(0);
		}
		_exit(reap(child) ? 3 : 0);
	}
	ASSERT_EQ(reap(binder), 0);
	ASSERT_EQ(self->s->binder_clear_refs_err, EACCES)
	TH_LOG("the binder could write clear_refs");
	ASSERT_EQ(self->s->dev_err, 0);
	ASSERT_EQ(self->s->clear_refs_err, 0);
	EXPECT_EQ(self->s->clear_err, EPERM) TH_LOG("%s: %s", pm_clear_name(variant->kind),
						    strerror(self->s->clear_err));
	EXPECT_EQ(pm_soft_dirty_pages(self->oracle, (uintptr_t)self->t.mem, PAGES), PAGES);
}

/* --- opening the device for oneself --------------------------------------- */

FIXTURE(self_open)
{
	struct seen *s;
};

FIXTURE_VARIANT(self_open)
{
	struct pm_creds c;
	int dumpable;	 /* -1: as the switch left it; 0 or 1: set with PR_SET_DUMPABLE */
	bool can_read;	 /* /proc/self/pagemap opens (the rule, checked as a sanity bound) */
	bool can_clear;	 /* /proc/self/clear_refs opens for writing */
};

FIXTURE_SETUP(self_open)
{
	ASSERT_EQ(geteuid(), 0);
	self->s = seen_map();
	ASSERT_NE(self->s, NULL);
}

FIXTURE_TEARDOWN(self_open) {}

#define SELF(name, uid_, caps_, userns_, dumpable_, read_, clear_)                          \
	FIXTURE_VARIANT_ADD(self_open, name)                                                 \
	{                                                                                    \
		.c = { .uid = uid_, .caps = caps_, .userns = userns_ },                        \
		.dumpable = dumpable_, .can_read = read_, .can_clear = clear_,                 \
	}

SELF(root, 0, 0, false, -1, true, true);
SELF(root_not_dumpable, 0, 0, false, 0, true, true);
SELF(userns_root_not_dumpable, 0, 0, true, 0, true, true);
SELF(nobody_dumpable, PM_NOBODY, 0, false, 1, true, true);
SELF(nobody_dumpable_dac_read_search, PM_NOBODY, PM_CAPBIT(CAP_DAC_READ_SEARCH), false, 1, true,
     true);
/* A uid change leaves a process non-dumpable: its files are root's. */
SELF(nobody_after_setresuid, PM_NOBODY, 0, false, -1, false, false);
SELF(nobody_not_dumpable_by_prctl, PM_NOBODY, 0, false, 0, false, false);
SELF(nobody_not_dumpable_dac_read_search, PM_NOBODY, PM_CAPBIT(CAP_DAC_READ_SEARCH), false, -1,
     true, false);
SELF(nobody_not_dumpable_dac_override, PM_NOBODY, PM_CAPBIT(CAP_DAC_OVERRIDE), false, -1, true,
     true);
SELF(nobody_not_dumpable_perfmon, PM_NOBODY, PM_CAPBIT(CAP_PERFMON), false, -1, false, false);
SELF(nobody_not_dumpable_sys_ptrace, PM_NOBODY, PM_CAPBIT(CAP_SYS_PTRACE), false, -1, false,
     false);
SELF(nobody_not_dumpable_sys_admin, PM_NOBODY, PM_CAPBIT(CAP_SYS_ADMIN), false, -1, false, false);
SELF(nobody_not_dumpable_fowner, PM_NOBODY, PM_CAPBIT(CAP_FOWNER), false, -1, false, false);

static int self_redirty(const void *mem)
{
	pm_touch((void *)mem, PAGES * PM_PAGE, PM_PAGE, true);
	return 0;
}

/* How a self probe binds the device to its own process. */
enum self_bind {
	B_OPEN,		/* opens it after the switch (binds the opener) */
	B_ATTACH,	/* opened before the switch, attaches by its own pidfd after it */
};

/*
 * In a child: become the variant, ask /proc about its own files, bind the
 * device to itself `how`, and (if that worked and `act` says so) clear a
 * written mapping of its own through it each way, counting soft-dirty pages
 * on its own /proc/self/pagemap, opened before the switch (it works on after
 * it). An attach asks /proc/PID/..., the files the rule of attaching names.
 */
static int self_probe(const FIXTURE_VARIANT(self_open) *v, enum self_bind how, enum action act,
		      struct seen *s)
{
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (!pid) {
		char *mem = mmap(NULL, PAGES * PM_PAGE, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int oracle = pm_open_proc(), proc, dev = -1, pidfd;
		char path[64];

		if (how == B_ATTACH)
			dev = pm_open_dev();
		if (mem == MAP_FAILED || oracle < 0 || (how == B_ATTACH && dev < 0) ||
		    pm_become(&v->c) ||
		    (v->dumpable >= 0 && prctl(PR_SET_DUMPABLE, v->dumpable)))
			_exit(1);
		s->dumpable = prctl(PR_GET_DUMPABLE);
		if (how == B_OPEN) {
			s->clear_refs_err = open_err("/proc/self/clear_refs", O_WRONLY);
			proc = pm_open_proc();
			s->pagemap_err = proc < 0 ? errno : 0;
			dev = pm_open_dev();
			s->dev_err = dev < 0 ? errno : 0;
		} else {
			proc_path(path, sizeof(path), getpid(), "clear_refs");
			s->clear_refs_err = open_err(path, O_WRONLY);
			proc_path(path, sizeof(path), getpid(), "pagemap");
			s->pagemap_err = open_err(path, O_RDONLY);
			pidfd = syscall(SYS_pidfd_open, getpid(), 0);
			if (pidfd < 0)
				_exit(2);
			s->dev_err = ioctl(dev, RPM_IOC_ATTACH_PIDFD, pidfd) ? errno : 0;
			if (s->dev_err) {
				close(dev);
				dev = -1;
			}
		}
		if (dev >= 0 && act == A_CLEARS)
			each_clear(dev, oracle, (uintptr_t)mem, PAGES, self_redirty, mem, s);
		child_exit(0);
	}
	return reap(pid);
}

/* /proc answered as the variant says, in a process as dumpable as it says. */
static void check_self_setup(struct __test_metadata *_metadata,
			     const FIXTURE_VARIANT(self_open) *v, const struct seen *s)
{
	TH_LOG("dumpable %d; /proc/self/pagemap: %s; /proc/self/clear_refs: %s; device: %s",
	       s->dumpable, strerror(s->pagemap_err), strerror(s->clear_refs_err),
	       strerror(s->dev_err));
	ASSERT_EQ(s->setup, 0);
	ASSERT_EQ(s->dumpable, v->dumpable >= 0 ? v->dumpable : v->c.uid ? 0 : 1);
	ASSERT_EQ(s->pagemap_err == 0, v->can_read);
	ASSERT_EQ(s->clear_refs_err == 0, v->can_clear);
}

/* The device opens for oneself iff /proc/self/pagemap does, with its errno. */
TEST_F(self_open, device_opens_iff_proc_self_pagemap_opens)
{
	ASSERT_EQ(self_probe(variant, B_OPEN, A_READ_AND_SCAN, self->s), 0);
	check_self_setup(_metadata, variant, self->s);
	EXPECT_EQ(self->s->dev_err, self->s->pagemap_err);
}

/*
 * A descriptor opened before the switch attaches to its own process by pidfd
 * iff /proc/PID/pagemap of that process opens, with its errno: in a user
 * namespace of its own, after setresuid, not dumpable.
 */
TEST_F(self_open, attach_to_itself_allowed_iff_proc_pid_pagemap_opens)
{
	ASSERT_EQ(self_probe(variant, B_ATTACH, A_READ_AND_SCAN, self->s), 0);
	check_self_setup(_metadata, variant, self->s);
	EXPECT_EQ(self->s->dev_err, self->s->pagemap_err);
}

/*
 * Through one's own device file, each of the three clears is allowed iff
 * /proc/self/clear_refs opens for writing (when the device opens at all).
 */
TEST_F(self_open, clears_allowed_iff_proc_self_clear_refs_opens)
{
	ASSERT_EQ(self_probe(variant, B_OPEN, A_CLEARS, self->s), 0);
	check_self_setup(_metadata, variant, self->s);
	if (self->s->dev_err)
		return; /* refused as it must be, or not: device_opens_iff_... says */
	check_each_clear(_metadata, self->s, variant->can_clear);
}

/*
 * Attached to itself, each of the three clears is allowed iff
 * /proc/PID/clear_refs opens for writing (when the attach works at all).
 */
TEST_F(self_open, clears_after_attach_to_itself_allowed_iff_proc_pid_clear_refs_opens)
{
	ASSERT_EQ(self_probe(variant, B_ATTACH, A_CLEARS, self->s), 0);
	check_self_setup(_metadata, variant, self->s);
	if (self->s->dev_err)
		return; /* refused as it must be, or not: attach_to_itself_... says */
	check_each_clear(_metadata, self->s, variant->can_clear);
}

PM_SHARED_HARNESS_MAIN
