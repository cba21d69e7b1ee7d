// SPDX-License-Identifier: GPL-2.0
/*
 * PAGEMAP_SCAN argument validation, table-driven: every variant breaks the
 * request in one way (or in two, to pin down which check comes first) and
 * must get the kernel's errno from both /proc/self/pagemap and
 * /dev/rust_pagemap, with walk_end left untouched. The few validation cases
 * that need more than a changed field (a bad argument pointer, a process that
 * is gone, an unknown command) are tests of their own below the table.
 */
#include "pm_scan.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "pm_require.h"

#define NPAGES 16
#define SENTINEL 0x5eed5eedULL

/* What a variant may point the request at. */
struct scan_ctx {
	char *mem;			/* NPAGES mapped, written pages */
	struct page_region *vec;	/* room for 8 regions */
};

typedef void (*breaker)(struct pm_scan_arg *a, const struct scan_ctx *c);

FIXTURE(bad_arg)
{
	int proc, dev;
	struct scan_ctx c;
};

FIXTURE_VARIANT(bad_arg)
{
	breaker first, second;	/* second may be NULL */
	int err;
};

FIXTURE_SETUP(bad_arg)
{
	PM_OPEN_BOTH(self);
	self->c.mem = mmap(NULL, NPAGES * PM_PAGE, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->c.mem);
	pm_touch(self->c.mem, NPAGES * PM_PAGE, PM_PAGE, true);
	self->c.vec = calloc(8, sizeof(struct page_region));
	ASSERT_NE(NULL, self->c.vec);
}

FIXTURE_TEARDOWN(bad_arg)
{
	munmap(self->c.mem, NPAGES * PM_PAGE);
	free(self->c.vec);
	PM_CLOSE_BOTH(self);
}

/* The valid request every variant starts from. */
static struct pm_scan_arg good_arg(const struct scan_ctx *c)
{
	struct pm_scan_arg a = pm_scan_req((uintptr_t)c->mem, (uintptr_t)c->mem + NPAGES * PM_PAGE,
					   0, 0, 0, 0, PM_ALL_CATEGORIES);

	a.vec = (uintptr_t)c->vec;
	a.vec_len = 8;
	a.walk_end = SENTINEL;
	return a;
}

static void size_zero(struct pm_scan_arg *a, const struct scan_ctx *c) { a->size = 0; }
static void size_short(struct pm_scan_arg *a, const struct scan_ctx *c) { a->size = 88; }
static void size_long(struct pm_scan_arg *a, const struct scan_ctx *c) { a->size = 104; }
static void flags_unknown(struct pm_scan_arg *a, const struct scan_ctx *c) { a->flags = 1 << 2; }
static void flags_all(struct pm_scan_arg *a, const struct scan_ctx *c) { a->flags = ~0ULL; }
static void inverted_unknown(struct pm_scan_arg *a, const struct scan_ctx *c)
{
	a->category_inverted = 1 << 10;
}
static void mask_unknown(struct pm_scan_arg *a, const struct scan_ctx *c)
{
	a->category_mask = 1 << 10;
}
static void anyof_unknown(struct pm_scan_arg *a, const struct scan_ctx *c)
{
	a->category_anyof_mask = 1ULL << 63;
}
static void return_unknown(struct pm_scan_arg *a, const struct scan_ctx *c)
{
	a->return_mask = PM_ALL_CATEGORIES | 1 << 10;
}
static void start_unaligned(struct pm_scan_arg *a, const struct scan_ctx *c) { a->start += 1; }
static void start_unaligned_empty(struct pm_scan_arg *a, const struct scan_ctx *c)
{
	a->start += 8;
	a->end = a->start;
}
static void end_below_start(struct pm_scan_arg *a, const struct scan_ctx *c)
{
	a->end = a->start - PM_PAGE;
}
static void end_beyond_user(struct pm_scan_arg *a, const struct scan_ctx *c)
{
	a->end = 1ULL << 63;
}
static void start_kernel_empty(struct pm_scan_arg *a, const struct scan_ctx *c)
{
	a->start = a->end = 0xffff800000000000ULL;
}
static void vec_null_with_len(struct pm_scan_arg *a, const struct scan_ctx *c) { a->vec = 0; }
static void vec_all_ones(struct pm_scan_arg *a, const struct scan_ctx *c) { a->vec = ~0ULL; }
static void vec_kernel_no_len(struct pm_scan_arg *a, const struct scan_ctx *c)
{
	a->vec = 0xffff800000000000ULL;
	a->vec_len = 0;
}
static void vec_len_saturates(struct pm_scan_arg *a, const struct scan_ctx *c)
{
	a->vec_len = 1ULL << 60;
}
static void vec_wraps(struct pm_scan_arg *a, const struct scan_ctx *c)
{
	a->vec_len = (~0ULL - a->vec) / sizeof(struct page_region) + 1;
}

#define BAD(name, fn1, fn2, e)                   \
	FIXTURE_VARIANT_ADD(bad_arg, name)       \
	{                                        \
		.first = fn1, .second = fn2, .err = e, \
	}

BAD(size_zero, size_zero, NULL, EINVAL);
BAD(size_short, size_short, NULL, EINVAL);
BAD(size_larger_than_struct, size_long, NULL, EINVAL);
BAD(flags_unknown_bit, flags_unknown, NULL, EINVAL);
BAD(flags_every_bit, flags_all, NULL, EINVAL);
BAD(category_inverted_unknown_bit, inverted_unknown, NULL, EINVAL);
BAD(category_mask_unknown_bit, mask_unknown, NULL, EINVAL);
BAD(category_anyof_mask_top_bit, anyof_unknown, NULL, EINVAL);
BAD(return_mask_unknown_bit, return_unknown, NULL, EINVAL);
BAD(start_not_page_aligned, start_unaligned, NULL, EINVAL);
BAD(start_not_page_aligned_empty_range, start_unaligned_empty, NULL, EINVAL);
BAD(end_below_start, end_below_start, NULL, EFAULT);
BAD(end_beyond_user_space, end_beyond_user, NULL, EFAULT);
BAD(empty_range_at_kernel_address, start_kernel_empty, NULL, EFAULT);
BAD(vec_null_with_vec_len, vec_null_with_len, NULL, EINVAL);
BAD(vec_all_ones_probe, vec_all_ones, NULL, EFAULT);
BAD(vec_kernel_address_with_zero_len, vec_kernel_no_len, NULL, EFAULT);
BAD(vec_len_size_saturates, vec_len_saturates, NULL, EFAULT);
BAD(vec_array_wraps_address_space, vec_wraps, NULL, EFAULT);
/* Two faults at once: the check the kernel makes first decides the errno. */
BAD(size_before_flags, flags_unknown, size_long, EINVAL);
BAD(flags_before_range, end_below_start, flags_unknown, EINVAL);
BAD(categories_before_range, end_beyond_user, return_unknown, EINVAL);
BAD(alignment_before_range, end_below_start, start_unaligned, EINVAL);
BAD(range_before_vec_null, vec_null_with_len, end_below_start, EFAULT);
BAD(vec_null_before_vec_range, vec_len_saturates, vec_null_with_len, EINVAL);
BAD(categories_before_vec_range, vec_all_ones, mask_unknown, EINVAL);
BAD(range_before_vec_range, vec_all_ones, end_beyond_user, EFAULT);

TEST_F(bad_arg, rejected_with_kernel_errno)
{
	int fds[2] = { self->proc, self->dev };
	const char *names[2] = { "/proc/self/pagemap", RUST_PAGEMAP_DEV };

	for (int i = 0; i < 2; i++) {
		struct pm_scan_arg a = good_arg(&self->c);
		long ret;

		variant->first(&a, &self->c);
		if (variant->second)
			variant->second(&a, &self->c);
		errno = 0;
		ret = ioctl(fds[i], PAGEMAP_SCAN, &a);
		EXPECT_EQ(-1, ret) TH_LOG("%s accepted the request", names[i]);
		EXPECT_EQ(variant->err, errno) TH_LOG("%s: errno %d", names[i], errno);
		EXPECT_EQ(SENTINEL, a.walk_end) TH_LOG("%s wrote walk_end", names[i]);
	}
}

PM_BOTH_FIXTURE(scan_errors)

/* ioctl on both files; returns true if both fail with `err`. */
static bool both_fail(int proc, int dev, unsigned long cmd, void *arg, int err)
{
	int fds[2] = { proc, dev };
	bool ok = true;

	for (int i = 0; i < 2; i++) {
		errno = 0;
		if (ioctl(fds[i], cmd, arg) != -1 || errno != err) {
			printf("# fd %d: cmd %#lx: errno %d, wanted %d\n", i, cmd, errno, err);
			ok = false;
		}
	}
	return ok;
}

TEST_F(scan_errors, argument_pointer_null)
{
	EXPECT_TRUE(both_fail(self->proc, self->dev, PAGEMAP_SCAN, NULL, EFAULT));
}

TEST_F(scan_errors, argument_pointer_unmapped)
{
	char *p = mmap(NULL, PM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, munmap(p, PM_PAGE));
	EXPECT_TRUE(both_fail(self->proc, self->dev, PAGEMAP_SCAN, p, EFAULT));
}

TEST_F(scan_errors, argument_straddles_into_unmapped_page)
{
	char *p = mmap(NULL, 2 * PM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	struct pm_scan_arg *a;

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_EQ(0, munmap(p + PM_PAGE, PM_PAGE));
	/* The first 48 bytes are readable, the rest is not. */
	a = (struct pm_scan_arg *)(p + PM_PAGE - 48);
	a->size = sizeof(*a);
	EXPECT_TRUE(both_fail(self->proc, self->dev, PAGEMAP_SCAN, a, EFAULT));
	munmap(p, PM_PAGE);
}

TEST_F(scan_errors, unknown_command_is_einval)
{
	struct pm_scan_arg a = pm_scan_req(0, 0, 0, 0, 0, 0, 0);

	EXPECT_TRUE(both_fail(self->proc, self->dev, _IOWR('f', 17, struct pm_scan_arg), &a, EINVAL));
	/* The same number with another size is another command. */
	EXPECT_TRUE(both_fail(self->proc, self->dev, _IOWR('f', 16, struct page_region), &a, EINVAL));
	EXPECT_TRUE(both_fail(self->proc, self->dev, _IOR('f', 16, struct pm_scan_arg), &a, EINVAL));
}

/* The mm is checked before the argument is even read. */
TEST_F(scan_errors, target_gone_is_esrch_before_argument_checks)
{
	int pipefd[2], pidfd, proc, dev;
	char path[64];
	pid_t pid;

	ASSERT_EQ(0, pipe(pipefd));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		char c;

		close(pipefd[1]);
		if (read(pipefd[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(pipefd[0]);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	proc = open(path, O_RDONLY);
	ASSERT_GE(proc, 0);
	dev = pm_open_dev();
	ASSERT_GE(dev, 0);
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	ASSERT_GE(pidfd, 0);
	ASSERT_EQ(0, ioctl(dev, RPM_IOC_ATTACH_PIDFD, pidfd));
	close(pipefd[1]);
	ASSERT_EQ(pid, waitpid(pid, NULL, 0));
	EXPECT_TRUE(both_fail(proc, dev, PAGEMAP_SCAN, NULL, ESRCH));
	close(pidfd);
	close(proc);
	close(dev);
}

TEST_HARNESS_MAIN
