// SPDX-License-Identifier: GPL-2.0
/*
 * Error and edge cases of pagemap reads: each call is made on
 * /proc/self/pagemap and on /dev/rust_pagemap, and the return values, errno
 * values and resulting file positions must be the same.
 */
#include "pm_common.h"

#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "pm_require.h"

struct outcome {
	long ret;
	int err;
};

FIXTURE(err)
{
	int proc, dev;
	uint64_t *buf;
};

/*
 * The buffer, 8 MiB, and right after it a PROT_NONE guard page. A read longer
 * than the buffer that the VFS lets through (huge_length under 5-level paging:
 * 2^46 bytes fit below 2^56, and the count is cut to MAX_RW_COUNT, 2 GiB) makes
 * /proc and the device write entries up to the first address they cannot
 * write. Without the guard that was whatever was mapped above the buffer -- the
 * C library's data, the harness's results -- and the test process died of its
 * own read (`segfault at 0 ip 0`) when its layout put a writable mapping there.
 */
#define ERR_BUF (8UL << 20)

FIXTURE_SETUP(err)
{
	PM_OPEN_BOTH(self);
	self->buf = mmap(NULL, ERR_BUF + PM_PAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->buf);
	ASSERT_EQ(0, mprotect((char *)self->buf + ERR_BUF, PM_PAGE, PROT_NONE));
	memset(self->buf, 0, ERR_BUF);
}

FIXTURE_TEARDOWN(err)
{
	PM_CLOSE_BOTH(self);
	munmap(self->buf, ERR_BUF + PM_PAGE);
}

static struct outcome do_pread(int fd, void *buf, size_t n, off_t off)
{
	/* Through a volatile, so the compiler does not judge sizes the test means to be bad. */
	volatile size_t count = n;
	struct outcome o;

	errno = 0;
	o.ret = pread(fd, buf, count, off);
	o.err = o.ret < 0 ? errno : 0;
	return o;
}

/* The same pread on both files: same return value and errno. */
#define EXPECT_SAME_PREAD(buf, n, off)                                                 \
	do {                                                                           \
		struct outcome a = do_pread(self->proc, (buf), (n), (off));            \
		struct outcome b = do_pread(self->dev, (buf), (n), (off));             \
		EXPECT_EQ(a.ret, b.ret);                                               \
		EXPECT_EQ(a.err, b.err) TH_LOG("proc errno %d dev errno %d", a.err, b.err); \
	} while (0)

/* Byte offset of the first entry past the top of the user address space, probed. */
static off_t top_offset(void)
{
	return (off_t)(pm_user_top() / PM_PAGE) * 8;
}

/* Whether the boot asked for 5-level paging and the CPU has it (la57, no no5lvl). */
static bool five_level_expected(void)
{
	char line[4096];
	bool la57 = false, off = false;
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "flags", 5) && strstr(line, " la57"))
			la57 = true;
	if (f)
		fclose(f);
	f = fopen("/proc/cmdline", "r");
	if (f && fgets(line, sizeof(line), f))
		off = strstr(line, "no5lvl") != NULL;
	if (f)
		fclose(f);
	return la57 && !off;
}

/*
 * The top the tests probe is the one the paging mode implies: 2^56 - 4 KiB
 * when the CPU has LA57 and the boot did not say no5lvl, 2^47 - 4 KiB else.
 */
TEST_F(err, probed_top_matches_the_paging_mode)
{
	uintptr_t top = pm_user_top();

	ASSERT_NE(0, top) TH_LOG("could not probe the top of the address space");
	printf("# top of the user address space: %#lx (%d-level paging)\n", (unsigned long)top,
	       pm_paging_levels());
	EXPECT_EQ(five_level_expected() ? PM_TOP_5LEVEL : PM_TOP_4LEVEL, top);
}

TEST_F(err, unaligned_offset)
{
	EXPECT_SAME_PREAD(self->buf, 64, 4);
	EXPECT_SAME_PREAD(self->buf, 64, 8 * 1000 + 1);
}

TEST_F(err, unaligned_length)
{
	EXPECT_SAME_PREAD(self->buf, 12, 0);
	EXPECT_SAME_PREAD(self->buf, 7, 8 * 4096);
}

TEST_F(err, zero_length)
{
	EXPECT_SAME_PREAD(self->buf, 0, 0);
	EXPECT_SAME_PREAD(self->buf, 0, 4);
}

TEST_F(err, read_straddling_top_is_short)
{
	off_t last = top_offset();

	/* The last page below task_size, then past it: a short read. */
	EXPECT_SAME_PREAD(self->buf, 8 * 16, last - 8 * 8);
}

TEST_F(err, read_at_and_past_top_is_eof)
{
	off_t last = top_offset();

	EXPECT_SAME_PREAD(self->buf, 64, last);
	EXPECT_SAME_PREAD(self->buf, 64, last + 8);
	EXPECT_SAME_PREAD(self->buf, 64, last + 8 * 4096);
	EXPECT_SAME_PREAD(self->buf, 64, (off_t)1 << 60);
	EXPECT_SAME_PREAD(self->buf, 64, INT64_MAX & ~7L);
}

TEST_F(err, huge_length)
{
	/* Larger than the buffer and the address space: the VFS refuses the buffer. */
	EXPECT_SAME_PREAD(self->buf, SIZE_MAX & ~7UL, 0);
	EXPECT_SAME_PREAD(self->buf, 1UL << 46, 0);
}

TEST_F(err, large_valid_length_spans_many_chunks)
{
	uint64_t *other = self->buf + (4 << 20) / 8;
	uintptr_t at = (uintptr_t)self->buf & ~(PM_HPAGE - 1);
	ssize_t a = pread(self->proc, self->buf, 4 << 20, (at / PM_PAGE) * 8);
	ssize_t b = pread(self->dev, other, 4 << 20, (at / PM_PAGE) * 8);

	EXPECT_EQ(a, b);
	EXPECT_EQ(4 << 20, a);
	/* The two reads write into the region they describe; compare everything but it. */
	for (size_t i = 0; i < (4u << 20) / 8; i++) {
		uintptr_t va = at + i * PM_PAGE;

		if (va >= (uintptr_t)self->buf && va < (uintptr_t)self->buf + ERR_BUF)
			continue;
		if (self->buf[i] != other[i]) {
			EXPECT_EQ(self->buf[i], other[i]) TH_LOG("at %#lx", (unsigned long)va);
			break;
		}
	}
}

TEST_F(err, bad_buffer_pointer)
{
	EXPECT_SAME_PREAD((void *)8, 64, 0);
	EXPECT_SAME_PREAD(NULL, 64, 0);
	EXPECT_SAME_PREAD((void *)(1UL << 63), 64, 0);
}

TEST_F(err, read_only_buffer)
{
	void *ro = mmap(NULL, PM_PAGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, ro);
	EXPECT_SAME_PREAD(ro, 64, 0);
	munmap(ro, PM_PAGE);
}

TEST_F(err, fault_in_later_chunk_loses_progress)
{
	/* 2 MiB of entries (one chunk and more) into a buffer whose second page is unmapped. */
	char *b = mmap(NULL, 2 * PM_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	off_t pa, pd;

	ASSERT_NE(MAP_FAILED, b);
	ASSERT_EQ(0, munmap(b + PM_PAGE, PM_PAGE));
	ASSERT_EQ(0, lseek(self->proc, 0, SEEK_SET));
	ASSERT_EQ(0, lseek(self->dev, 0, SEEK_SET));
	errno = 0;
	EXPECT_EQ(read(self->proc, b, 2 * PM_PAGE), read(self->dev, b, 2 * PM_PAGE));
	EXPECT_EQ(EFAULT, errno);
	pa = lseek(self->proc, 0, SEEK_CUR);
	pd = lseek(self->dev, 0, SEEK_CUR);
	EXPECT_EQ(pa, pd);
	EXPECT_EQ(0, pd);
	munmap(b, PM_PAGE);
}

TEST_F(err, sequential_reads_advance_position)
{
	uint64_t a[64], b[64];
	uintptr_t at = (uintptr_t)self->buf;

	ASSERT_EQ((off_t)(at / PM_PAGE) * 8, lseek(self->proc, (at / PM_PAGE) * 8, SEEK_SET));
	ASSERT_EQ((off_t)(at / PM_PAGE) * 8, lseek(self->dev, (at / PM_PAGE) * 8, SEEK_SET));
	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(sizeof(a), (size_t)read(self->proc, a, sizeof(a)));
		ASSERT_EQ(sizeof(b), (size_t)read(self->dev, b, sizeof(b)));
		EXPECT_EQ(0, memcmp(a, b, sizeof(a)));
		EXPECT_EQ(lseek(self->proc, 0, SEEK_CUR), lseek(self->dev, 0, SEEK_CUR));
	}
}

TEST_F(err, lseek_whence_rules)
{
	off_t a, b;

	EXPECT_EQ(lseek(self->proc, 800, SEEK_SET), lseek(self->dev, 800, SEEK_SET));
	EXPECT_EQ(lseek(self->proc, 80, SEEK_CUR), lseek(self->dev, 80, SEEK_CUR));
	errno = 0;
	a = lseek(self->proc, 0, SEEK_END);
	int ea = errno;

	errno = 0;
	b = lseek(self->dev, 0, SEEK_END);
	EXPECT_EQ(a, b);
	EXPECT_EQ(ea, errno);
}

TEST_F(err, negative_position_read)
{
	struct outcome a, b;

	/* mem_lseek accepts any position; the read then fails in the VFS. */
	lseek(self->proc, -16, SEEK_SET);
	lseek(self->dev, -16, SEEK_SET);
	errno = 0;
	a.ret = read(self->proc, self->buf, 64);
	a.err = errno;
	errno = 0;
	b.ret = read(self->dev, self->buf, 64);
	b.err = errno;
	EXPECT_EQ(a.ret, b.ret);
	EXPECT_EQ(a.err, b.err);
}

TEST_F(err, position_overflow)
{
	EXPECT_SAME_PREAD(self->buf, 64, INT64_MAX - 7 - 56);
}

TEST_F(err, exited_process_reads_eof)
{
	int up[2], down[2], fds[2];
	pid_t pid;
	uint64_t e;

	ASSERT_EQ(0, pipe(up));
	ASSERT_EQ(0, pipe(down));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (pid == 0) {
		/* The child opens both files for itself, hands them over, and exits. */
		int p = pm_open_proc(), d = pm_open_dev();
		char c;

		if (write(up[1], (int[]){ p, d }, sizeof(int) * 2) < 0)
			_exit(1);
		if (read(down[0], &c, 1) < 0)
			_exit(1);
		_exit(0);
	}
	/* Take the child's two open files into this process (pidfd_getfd). */
	ASSERT_EQ(sizeof(fds), (size_t)read(up[0], fds, sizeof(fds)));
	{
		int pidfd = syscall(SYS_pidfd_open, pid, 0);
		int fp, fd;

		ASSERT_GE(pidfd, 0) {
			kill(pid, SIGKILL);
		}
		fp = syscall(SYS_pidfd_getfd, pidfd, fds[0], 0);
		fd = syscall(SYS_pidfd_getfd, pidfd, fds[1], 0);
		ASSERT_GE(fp, 0);
		ASSERT_GE(fd, 0);
		ASSERT_EQ(1, write(down[1], "x", 1));
		ASSERT_EQ(pid, waitpid(pid, NULL, 0));
		/* The child's mm is gone: both read as end of file, even with a bad length. */
		EXPECT_EQ(0, pread(fp, &e, 8, 0));
		EXPECT_EQ(0, pread(fd, &e, 8, 0));
		EXPECT_EQ(0, pread(fp, &e, 3, 1));
		EXPECT_EQ(0, pread(fd, &e, 3, 1));
		close(fp);
		close(fd);
		close(pidfd);
	}
}

TEST_HARNESS_MAIN
