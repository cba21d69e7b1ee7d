// SPDX-License-Identifier: GPL-2.0
/*
 * Differential tests of pagemap reads: for each kind of mapping, every entry
 * read through /dev/rust_pagemap must equal the entry /proc/self/pagemap
 * returns for the same page, and so must the holes around the mapping.
 */
#include "pm_common.h"

#include <sys/wait.h>
#include <sys/resource.h>
#include <signal.h>

#include "kselftest_harness.h"
#include "pm_require.h"

#define NPAGES 64
#define LEN (NPAGES * PM_PAGE)
#define MARGIN 16

PM_BOTH_FIXTURE(diff)

/* The mapping and the holes next to it read the same through both files. */
#define EXPECT_SAME(p, len) \
	EXPECT_EQ(0, pm_compare_around(self->proc, self->dev, (p), (len), MARGIN))

static char *map_anon(size_t len, int prot, int flags)
{
	return mmap(NULL, len, prot, flags | MAP_ANONYMOUS, -1, 0);
}

static int memfd_with(size_t len)
{
	int fd = memfd_create("rpm-test", 0);

	if (fd >= 0 && ftruncate(fd, len)) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * One mapping of each kind, in a state that takes no more than touching it:
 * map it (an anonymous one, or a memfd's), touch it as the variant says, check
 * through /proc that the pages it must have are there, and compare.
 */
FIXTURE(mapped)
{
	int proc, dev;
	int fd;		/* the memfd of a tmpfs mapping, else -1 */
	char *p;
};

FIXTURE_VARIANT(mapped)
{
	bool tmpfs;		/* a memfd's pages (else anonymous memory) */
	bool file_tail;		/* the file's last byte written before it is mapped */
	int prot, flags;	/* of the mapping */
	size_t read_stride;	/* read every this many bytes of it (0: none) */
	size_t write_len;	/* then write this much of it, */
	size_t write_stride;	/* every this many bytes */
	long present;		/* pages /proc must then show present (-1: not checked) */
};

FIXTURE_SETUP(mapped)
{
	PM_OPEN_BOTH(self);
	self->fd = -1;
	if (variant->tmpfs) {
		self->fd = memfd_with(LEN);
		ASSERT_GE(self->fd, 0);
		if (variant->file_tail)
			ASSERT_EQ(1, pwrite(self->fd, "x", 1, LEN - 1));
		self->p = mmap(NULL, LEN, variant->prot, variant->flags, self->fd, 0);
	} else {
		self->p = map_anon(LEN, variant->prot, variant->flags);
	}
	ASSERT_NE(MAP_FAILED, self->p);
}

FIXTURE_TEARDOWN(mapped)
{
	munmap(self->p, LEN);
	if (self->fd >= 0)
		close(self->fd);
	PM_CLOSE_BOTH(self);
}

#define RW (PROT_READ | PROT_WRITE)

FIXTURE_VARIANT_ADD(mapped, anon_private_untouched) {
	.prot = RW, .flags = MAP_PRIVATE, .present = 0,
};
FIXTURE_VARIANT_ADD(mapped, anon_private_written) {
	.prot = RW, .flags = MAP_PRIVATE, .write_len = LEN, .write_stride = PM_PAGE,
	.present = NPAGES,
};
FIXTURE_VARIANT_ADD(mapped, anon_private_partially_written) {
	.prot = RW, .flags = MAP_PRIVATE, .write_len = LEN, .write_stride = 3 * PM_PAGE,
	.present = (NPAGES + 2) / 3,
};
FIXTURE_VARIANT_ADD(mapped, anon_private_read_only_faults_zero_page) {
	.prot = RW, .flags = MAP_PRIVATE | MAP_NORESERVE, .read_stride = PM_PAGE, .present = -1,
};
FIXTURE_VARIANT_ADD(mapped, anon_shared_written) {
	.prot = RW, .flags = MAP_SHARED, .write_len = LEN, .write_stride = PM_PAGE,
	.present = NPAGES,
};
FIXTURE_VARIANT_ADD(mapped, anon_shared_untouched) {
	.prot = RW, .flags = MAP_SHARED, .present = -1,
};
FIXTURE_VARIANT_ADD(mapped, prot_none_untouched) {
	.prot = PROT_NONE, .flags = MAP_PRIVATE, .present = -1,
};
FIXTURE_VARIANT_ADD(mapped, tmpfs_private_read) {
	.tmpfs = true, .file_tail = true, .prot = RW, .flags = MAP_PRIVATE,
	.read_stride = PM_PAGE, .present = -1,
};
FIXTURE_VARIANT_ADD(mapped, tmpfs_private_written_cow) {
	.tmpfs = true, .prot = RW, .flags = MAP_PRIVATE, .read_stride = PM_PAGE,
	.write_len = LEN / 2, .write_stride = PM_PAGE, .present = -1,
};
FIXTURE_VARIANT_ADD(mapped, tmpfs_shared_written) {
	.tmpfs = true, .prot = RW, .flags = MAP_SHARED, .write_len = LEN, .write_stride = PM_PAGE,
	.present = NPAGES,
};
FIXTURE_VARIANT_ADD(mapped, tmpfs_shared_read_sparse) {
	.tmpfs = true, .prot = PROT_READ, .flags = MAP_SHARED, .read_stride = 5 * PM_PAGE,
	.present = -1,
};

TEST_F(mapped, reads_same)
{
	char *p = self->p;

	if (variant->read_stride)
		pm_touch(p, LEN, variant->read_stride, false);
	if (variant->write_len)
		pm_touch(p, variant->write_len, variant->write_stride, true);
	if (variant->present >= 0)
		EXPECT_EQ(variant->present, pm_count_with(self->proc, p, LEN, RPM_PRESENT));
	EXPECT_SAME(p, LEN);
}

TEST_F(diff, read_only_mapping)
{
	char *p = map_anon(LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN / 2, PM_PAGE, true);
	ASSERT_EQ(0, mprotect(p, LEN, PROT_READ));
	pm_touch(p, LEN, PM_PAGE, false);
	EXPECT_SAME(p, LEN);
}

TEST_F(diff, prot_none_after_write)
{
	char *p = map_anon(LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, mprotect(p, LEN, PROT_NONE));
	/* PROT_NONE PTEs stay "present" and keep their (inverted) frame. */
	EXPECT_EQ(NPAGES, pm_count_with(self->proc, p, LEN, RPM_PRESENT));
	EXPECT_SAME(p, LEN);
}

TEST_F(diff, madv_dontneed_after_write)
{
	char *p = map_anon(LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	ASSERT_EQ(0, madvise(p + LEN / 4, LEN / 2, MADV_DONTNEED));
	EXPECT_EQ(NPAGES / 2, pm_count_with(self->proc, p, LEN, RPM_PRESENT));
	EXPECT_SAME(p, LEN);
}

TEST_F(diff, mremap_moved)
{
	char *p = map_anon(LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	char *dst = map_anon(4 * LEN, PROT_NONE, MAP_PRIVATE);
	char *q;

	ASSERT_NE(MAP_FAILED, p);
	ASSERT_NE(MAP_FAILED, dst);
	pm_touch(p, LEN, 2 * PM_PAGE, true);
	q = mremap(p, LEN, LEN, MREMAP_MAYMOVE | MREMAP_FIXED, dst + LEN);
	ASSERT_NE(MAP_FAILED, q);
	EXPECT_EQ(NPAGES / 2, pm_count_with(self->proc, q, LEN, RPM_PRESENT));
	EXPECT_SAME(dst, 4 * LEN);
}

TEST_F(diff, mremap_grown)
{
	char *p = map_anon(LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	char *q;

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	q = mremap(p, LEN, 3 * LEN, MREMAP_MAYMOVE);
	ASSERT_NE(MAP_FAILED, q);
	pm_touch(q + 2 * LEN, LEN, 4 * PM_PAGE, true);
	EXPECT_SAME(q, 3 * LEN);
}

/* A child shares the parent's pages until one of them writes. */
static pid_t fork_paused(void)
{
	pid_t pid = fork();

	if (pid == 0) {
		pause();
		_exit(0);
	}
	return pid;
}

static void reap(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

TEST_F(diff, after_fork_shared_not_exclusive)
{
	char *p = map_anon(LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	uint64_t e;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	pid = fork_paused();
	ASSERT_GT(pid, 0);
	ASSERT_EQ(0, pm_read_entries(self->proc, (uintptr_t)p, 1, &e));
	EXPECT_EQ(0, e & RPM_MMAP_EXCLUSIVE);
	EXPECT_SAME(p, LEN);
	reap(pid);
}

TEST_F(diff, after_fork_cow_break_exclusive)
{
	char *p = map_anon(LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	uint64_t e;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	pid = fork_paused();
	ASSERT_GT(pid, 0);
	pm_touch(p, LEN / 2, PM_PAGE, true);
	ASSERT_EQ(0, pm_read_entries(self->proc, (uintptr_t)p, 1, &e));
	EXPECT_NE(0, e & RPM_MMAP_EXCLUSIVE);
	EXPECT_SAME(p, LEN);
	reap(pid);
}

TEST_F(diff, after_fork_in_child)
{
	char *p = map_anon(LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	int status;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, LEN, PM_PAGE, true);
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		/* Fresh descriptors: the child's own address space. */
		int fp = pm_open_proc(), fd = pm_open_dev();
		long bad;

		pm_touch(p, LEN / 4, PM_PAGE, true);
		bad = pm_compare_around(fp, fd, p, LEN, MARGIN);
		_exit(bad == 0 ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/* 2 MiB aligned anonymous memory with MADV_HUGEPAGE, touched; the caller proves it huge. */
static char *thp_anon(size_t len, bool write)
{
	char *p = pm_thp_map(len, -1);

	if (p != MAP_FAILED)
		pm_touch(p, len, PM_PAGE, write);
	return p;
}

TEST_F(diff, thp_anon_written)
{
	char *p = thp_anon(2 * PM_HPAGE, true);

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, 2 * PM_HPAGE);
	EXPECT_SAME(p, 2 * PM_HPAGE);
}

TEST_F(diff, thp_anon_unaligned_read_window)
{
	char *p = thp_anon(2 * PM_HPAGE, true);

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, 2 * PM_HPAGE);
	/* Starts and ends inside the huge pages: the frame must start at the right index. */
	EXPECT_EQ(0, pm_compare_range(self->proc, self->dev, (uintptr_t)p + 37 * PM_PAGE,
				      (uintptr_t)p + PM_HPAGE + 301 * PM_PAGE));
}

TEST_F(diff, thp_anon_after_fork_not_exclusive)
{
	char *p = thp_anon(PM_HPAGE, true);
	uint64_t e;
	pid_t pid;

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	pid = fork_paused();
	ASSERT_GT(pid, 0);
	ASSERT_EQ(0, pm_read_entries(self->proc, (uintptr_t)p + 5 * PM_PAGE, 1, &e));
	EXPECT_EQ(0, e & RPM_MMAP_EXCLUSIVE);
	EXPECT_SAME(p, PM_HPAGE);
	reap(pid);
}

TEST_F(diff, thp_huge_zero_page)
{
	char *p = thp_anon(PM_HPAGE, false);
	uint64_t e[512];

	ASSERT_NE(MAP_FAILED, p);
	/* A read fault maps the huge zero page: 512 consecutive frames from one 2 MiB frame. */
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	ASSERT_EQ(512, pm_count_cat(self->proc, p, PM_HPAGE, PAGE_IS_PFNZERO, 0))
	TH_LOG("the read fault did not map the huge zero page");
	ASSERT_EQ(0, pm_read_entries(self->proc, (uintptr_t)p, 512, e));
	/* Root reads frames: they are the huge zero page's, 2 MiB aligned and consecutive. */
	ASSERT_NE(0, e[0] & RPM_PFRAME_MASK);
	EXPECT_EQ(0, (e[0] & RPM_PFRAME_MASK) % 512);
	EXPECT_EQ((e[0] & RPM_PFRAME_MASK) + 511, e[511] & RPM_PFRAME_MASK);
	EXPECT_SAME(p, PM_HPAGE);
}

TEST_F(diff, thp_split_by_mprotect)
{
	char *p = thp_anon(PM_HPAGE, true);

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	ASSERT_EQ(0, mprotect(p + 100 * PM_PAGE, 10 * PM_PAGE, PROT_READ));
	EXPECT_SAME(p, PM_HPAGE);
}

TEST_F(diff, thp_partly_dontneed)
{
	char *p = thp_anon(PM_HPAGE, true);

	ASSERT_NE(MAP_FAILED, p);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	ASSERT_EQ(0, madvise(p + 256 * PM_PAGE, 64 * PM_PAGE, MADV_DONTNEED));
	EXPECT_SAME(p, PM_HPAGE);
}

TEST_F(diff, thp_shmem_shared)
{
	int fd = memfd_with(PM_HPAGE);
	char *p;

	ASSERT_GE(fd, 0);
	p = pm_thp_map(PM_HPAGE, fd);
	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, PM_HPAGE, PM_PAGE, true);
	PM_REQUIRE_THP(self->proc, p, PM_HPAGE);
	EXPECT_SAME(p, PM_HPAGE);
	close(fd);
}

/*
 * Memory at the top of the address space: under 5-level paging above 2^47,
 * where the top-level index is no longer 0; with 4-level paging just under
 * 2^47. Pages, a THP and the holes up to the very top are compared.
 */
TEST_F(diff, mapped_at_the_top_of_the_address_space)
{
	char *p = pm_map_high(2 * PM_HPAGE, 64 * PM_HPAGE, MAP_PRIVATE | MAP_ANONYMOUS, -1);

	ASSERT_NE(MAP_FAILED, p);
	if (pm_paging_levels() == 5)
		ASSERT_GT((uintptr_t)p, 1UL << 47) TH_LOG("5-level paging, mapped below 2^47");
	ASSERT_EQ(0, madvise(p, PM_HPAGE, MADV_NOHUGEPAGE));
	ASSERT_EQ(0, madvise(p + PM_HPAGE, PM_HPAGE, MADV_HUGEPAGE));
	pm_touch(p, PM_HPAGE, 3 * PM_PAGE, true);
	pm_touch(p + PM_HPAGE, PM_HPAGE, PM_PAGE, true);
	PM_REQUIRE_THP(self->proc, p + PM_HPAGE, PM_HPAGE);
	EXPECT_EQ(0, pm_compare_range(self->proc, self->dev, (uintptr_t)p - MARGIN * PM_PAGE,
				      pm_user_top()));
	munmap(p, 2 * PM_HPAGE);
}

/*
 * A fixed mapping at 2^48: top-level index 1 under 5-level paging, compared
 * with the holes around it; with 4-level paging the address does not exist
 * and the kernel must refuse it.
 */
TEST_F(diff, mapped_at_2_to_the_48)
{
	char *want = (char *)(1UL << 48);
	char *p = mmap(want, PM_HPAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

	if (pm_paging_levels() == 4) {
		EXPECT_EQ(MAP_FAILED, p) TH_LOG("4-level paging, but 2^48 was mapped");
		return;
	}
	ASSERT_EQ(want, p) TH_LOG("5-level paging, but 2^48 could not be mapped: %s",
				  strerror(errno));
	pm_touch(p, PM_HPAGE, 2 * PM_PAGE, true);
	EXPECT_SAME(p, PM_HPAGE);
	munmap(p, PM_HPAGE);
}

TEST_F(diff, heap)
{
	char *p = sbrk(0);

	ASSERT_NE((void *)-1, sbrk(LEN));
	pm_touch(p, LEN, 2 * PM_PAGE, true);
	EXPECT_SAME(p, LEN);
}

TEST_F(diff, stack)
{
	static struct pm_vma v[512];
	int n = pm_read_maps(v, 512);
	int found = 0;

	ASSERT_GT(n, 0);
	for (int i = 0; i < n; i++) {
		if (strcmp(v[i].name, "[stack]"))
			continue;
		found = 1;
		EXPECT_SAME((void *)v[i].start, v[i].end - v[i].start);
	}
	EXPECT_TRUE(found);
}

TEST_F(diff, special_mappings_vdso_vvar)
{
	static struct pm_vma v[512];
	int n = pm_read_maps(v, 512);
	int found = 0;

	ASSERT_GT(n, 0);
	for (int i = 0; i < n; i++) {
		if (strncmp(v[i].name, "[v", 2))
			continue;
		found++;
		EXPECT_SAME((void *)v[i].start, v[i].end - v[i].start);
	}
	EXPECT_GE(found, 1);
}

TEST_F(diff, hole_between_mappings)
{
	char *p = map_anon(3 * LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE);

	ASSERT_NE(MAP_FAILED, p);
	pm_touch(p, 3 * LEN, PM_PAGE, true);
	ASSERT_EQ(0, munmap(p + LEN, LEN));
	EXPECT_SAME(p, 3 * LEN);
}

TEST_F(diff, one_read_spans_many_vmas)
{
	char *p = map_anon(16 * LEN, PROT_NONE, MAP_PRIVATE);

	ASSERT_NE(MAP_FAILED, p);
	for (int i = 0; i < 16; i += 2) {
		ASSERT_EQ(0, mprotect(p + i * LEN, LEN, i % 4 ? PROT_READ : PROT_READ | PROT_WRITE));
		if (i % 4 == 0)
			pm_touch(p + i * LEN, LEN, 7 * PM_PAGE, true);
	}
	ASSERT_EQ(0, munmap(p + 5 * LEN, LEN));
	/* One pread of the whole 16-VMA window, not VMA by VMA. */
	EXPECT_EQ(0, pm_compare_range(self->proc, self->dev, (uintptr_t)p, (uintptr_t)p + 16 * LEN));
}

TEST_F(diff, lowest_pages_of_address_space)
{
	EXPECT_EQ(0, pm_compare_range(self->proc, self->dev, 0, 1024 * PM_PAGE));
}

TEST_F(diff, every_vma_in_maps)
{
	EXPECT_EQ(0, pm_compare_all_maps(self->proc, self->dev, MARGIN));
}

TEST_F(diff, vma_soft_dirty_flag_on_new_vma)
{
	char *p = map_anon(LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE);
	uint64_t e;

	ASSERT_NE(MAP_FAILED, p);
	/* A fresh VMA is VM_SOFTDIRTY: even its empty pages read soft-dirty. */
	ASSERT_EQ(0, pm_read_entries(self->dev, (uintptr_t)p, 1, &e));
	EXPECT_NE(0, e & RPM_SOFT_DIRTY);
	EXPECT_SAME(p, LEN);
}

TEST_HARNESS_MAIN
