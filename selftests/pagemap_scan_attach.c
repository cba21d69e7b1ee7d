// SPDX-License-Identifier: GPL-2.0
/*
 * PAGEMAP_SCAN on another process: the device bound to a child with
 * RPM_IOC_ATTACH_PIDFD must answer like /proc/CHILD/pagemap, for scans that
 * only look and for scans that write-protect (those on twin children built
 * alike: the kernel's scan on one, the device's on the other).
 */
#include "pm_scan.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest_harness.h"

#define NPAGES 64
#define LEN (NPAGES * PM_PAGE)

/* What a child maps, at addresses it reports to the parent. */
struct child_maps {
	uintptr_t anon, thp, shared;
};

struct child {
	pid_t pid;
	int cmd, ack;		/* pipes: parent -> child, child -> parent */
	struct child_maps m;
};

/*
 * The child: anonymous pages (every other one written), a THP, shared anon
 * memory, all registered for async uffd-wp and protected, then a third of the
 * anonymous pages written again. On 'w' it writes pages 1, 5 and 9 again; on
 * anything else it exits.
 */
static void child_main(int cmd, int ack)
{
	int uffd = pm_uffd_async();
	struct child_maps m;
	char *anon, *thp, *shared, c;

	anon = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	shared = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	thp = pm_map_aligned(PM_HPAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1);
	if (uffd < 0 || anon == MAP_FAILED || shared == MAP_FAILED || thp == MAP_FAILED)
		_exit(1);
	madvise(thp, PM_HPAGE, MADV_HUGEPAGE);
	pm_touch(anon, LEN, 2 * PM_PAGE, true);
	pm_touch(shared, LEN, PM_PAGE, true);
	pm_touch(thp, PM_HPAGE, PM_PAGE, true);
	if (pm_uffd_async_wp(uffd, anon, LEN) || pm_uffd_async_wp(uffd, shared, LEN) ||
	    pm_uffd_register(uffd, thp, PM_HPAGE, UFFDIO_REGISTER_MODE_WP))
		_exit(1);
	pm_touch(anon, LEN, 3 * PM_PAGE, true);
	m.anon = (uintptr_t)anon;
	m.thp = (uintptr_t)thp;
	m.shared = (uintptr_t)shared;
	if (write(ack, &m, sizeof(m)) != sizeof(m))
		_exit(1);
	while (read(cmd, &c, 1) == 1 && c == 'w') {
		anon[PM_PAGE] = anon[5 * PM_PAGE] = anon[9 * PM_PAGE] = 7;
		if (write(ack, &c, 1) != 1)
			_exit(1);
	}
	_exit(0);
}

static bool child_start(struct child *c)
{
	int cmd[2], ack[2];

	if (pipe(cmd) || pipe(ack))
		return false;
	c->pid = fork();
	if (c->pid == 0) {
		close(cmd[1]);
		close(ack[0]);
		child_main(cmd[0], ack[1]);
	}
	close(cmd[0]);
	close(ack[1]);
	c->cmd = cmd[1];
	c->ack = ack[0];
	return c->pid > 0 && read(c->ack, &c->m, sizeof(c->m)) == sizeof(c->m);
}

static bool child_write(struct child *c)
{
	char x = 'w';

	return write(c->cmd, &x, 1) == 1 && read(c->ack, &x, 1) == 1;
}

static void child_stop(struct child *c)
{
	close(c->cmd);
	close(c->ack);
	kill(c->pid, SIGKILL);
	waitpid(c->pid, NULL, 0);
}

static int proc_of(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	return open(path, O_RDONLY);
}

static int dev_of(pid_t pid)
{
	int dev = pm_open_dev(), pidfd = syscall(SYS_pidfd_open, pid, 0);

	if (dev < 0 || pidfd < 0 || ioctl(dev, RPM_IOC_ATTACH_PIDFD, pidfd)) {
		close(dev);
		dev = -1;
	}
	close(pidfd);
	return dev;
}

FIXTURE(other)
{
	struct child a, b;
	int proc_a, dev_a, proc_b, dev_b;
};

FIXTURE_SETUP(other)
{
	ASSERT_TRUE(child_start(&self->a));
	ASSERT_TRUE(child_start(&self->b));
	self->proc_a = proc_of(self->a.pid);
	self->dev_a = dev_of(self->a.pid);
	self->proc_b = proc_of(self->b.pid);
	self->dev_b = dev_of(self->b.pid);
	ASSERT_GE(self->proc_a, 0);
	ASSERT_GE(self->dev_a, 0);
	ASSERT_GE(self->proc_b, 0);
	ASSERT_GE(self->dev_b, 0);
}

FIXTURE_TEARDOWN(other)
{
	close(self->proc_a);
	close(self->dev_a);
	close(self->proc_b);
	close(self->dev_b);
	child_stop(&self->a);
	child_stop(&self->b);
}

/* Whether the kernel sees `len` bytes at `x` in one child and at `y` in the other alike. */
static bool children_alike(int proc_x, uintptr_t x, int proc_y, uintptr_t y, size_t len)
{
	static struct pm_scan_result rx, ry;
	struct pm_scan_arg a;

	a = pm_scan_req(x, x + len, 0, 0, 0, 0, PM_ALL_CATEGORIES);
	pm_scan_run(proc_x, &a, PM_MAX_REGIONS, &rx);
	a = pm_scan_req(y, y + len, 0, 0, 0, 0, PM_ALL_CATEGORIES);
	pm_scan_run(proc_y, &a, PM_MAX_REGIONS, &ry);
	if (pm_scan_same(&rx, x, &ry, y))
		return true;
	pm_scan_print("a", &rx, 8);
	pm_scan_print("b", &ry, 8);
	return false;
}

TEST_F(other, scans_of_another_process_agree)
{
	struct pm_scan_arg all = pm_scan_req(0, pm_user_top(), 0, 0, 0, 0, PM_ALL_CATEGORIES);

	ASSERT_EQ(PAGE_IS_HUGE, pm_cat_at(self->proc_a, (void *)self->a.m.thp, PM_HPAGE,
					  (void *)self->a.m.thp) & PAGE_IS_HUGE)
		TH_LOG("the child got no THP");
	EXPECT_EQ(0, pm_scan_family_differs(self->proc_a, self->dev_a, (void *)self->a.m.anon, LEN));
	EXPECT_EQ(0, pm_scan_family_differs(self->proc_a, self->dev_a, (void *)self->a.m.thp,
					    PM_HPAGE));
	EXPECT_EQ(0, pm_scan_family_differs(self->proc_a, self->dev_a, (void *)self->a.m.shared,
					    LEN));
	EXPECT_TRUE(pm_scan_agree(self->proc_a, self->dev_a, &all, PM_MAX_REGIONS));
}

/* The kernel write-protects in child a, the device in child b; then both write again. */
static void wp_twins(struct __test_metadata *_metadata, FIXTURE_DATA(other) *self, uintptr_t xa,
		     uintptr_t xb, size_t len, uint64_t vec_len)
{
	static struct pm_scan_result ra, rb;
	struct pm_scan_arg a = pm_scan_req(xa, xa + len, PM_SCAN_WP_MATCHING, 0, PAGE_IS_WRITTEN,
					   0, PAGE_IS_WRITTEN);
	struct pm_scan_arg b = pm_scan_req(xb, xb + len, PM_SCAN_WP_MATCHING, 0, PAGE_IS_WRITTEN,
					   0, PAGE_IS_WRITTEN);

	ASSERT_TRUE(children_alike(self->proc_a, xa, self->proc_b, xb, len));
	pm_scan_run(self->proc_a, &a, vec_len, &ra);
	pm_scan_run(self->dev_b, &b, vec_len, &rb);
	EXPECT_TRUE(pm_scan_same(&ra, xa, &rb, xb));
	EXPECT_TRUE(children_alike(self->proc_a, xa, self->proc_b, xb, len));
	ASSERT_TRUE(child_write(&self->a));
	ASSERT_TRUE(child_write(&self->b));
	EXPECT_TRUE(children_alike(self->proc_a, xa, self->proc_b, xb, len));
}

TEST_F(other, wp_of_another_process_ptes)
{
	wp_twins(_metadata, self, self->a.m.anon, self->b.m.anon, LEN, 16);
}

TEST_F(other, wp_of_another_process_without_array)
{
	wp_twins(_metadata, self, self->a.m.anon, self->b.m.anon, LEN, 0);
}

TEST_F(other, wp_of_another_process_thp)
{
	uintptr_t a = self->a.m.thp, b = self->b.m.thp;

	ASSERT_EQ(PAGE_IS_HUGE,
		  pm_cat_at(self->proc_a, (void *)a, PM_HPAGE, (void *)a) & PAGE_IS_HUGE);
	ASSERT_EQ(PAGE_IS_HUGE,
		  pm_cat_at(self->proc_b, (void *)b, PM_HPAGE, (void *)b) & PAGE_IS_HUGE);
	wp_twins(_metadata, self, a, b, PM_HPAGE, 16);
}

TEST_F(other, wp_of_another_process_shmem)
{
	wp_twins(_metadata, self, self->a.m.shared, self->b.m.shared, LEN, 16);
}

TEST_HARNESS_MAIN
