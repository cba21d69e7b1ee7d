// SPDX-License-Identifier: GPL-2.0
/*
 * libgc_calls.so: time the soft-dirty calls a program makes, for `make bench`'s
 * bdwgc figure (qemu/guest/guest-others.sh gc-bench).
 *
 *     LD_PRELOAD=libgc_calls.so gctest                         # on /proc
 *     LD_PRELOAD="libgc_calls.so librpm_redirect.so" gctest    # on the device
 *
 * Listed first, it sees each call before librpm_redirect.so does, so what it
 * times is what the call costs the program either way: a write of "4" to a
 * clear_refs file (on /proc one write(2); redirected, the library's checks of
 * the descriptor and of its kept device descriptor, and the
 * RPM_IOC_CLEAR_SOFT_DIRTY_ALL) and a read(2) of a pagemap file (its
 * descriptor keeps its slot when the library puts the device there). Files are told by the path they were opened with, which is
 * enough for bdwgc: "/proc/PID/clear_refs" and "/proc/PID/pagemap", opened with
 * open(2) or, in Debian's _FORTIFY_SOURCE build, its entry point __open_2.
 *
 * At exit each process prints one line on stderr:
 *   rpm-gc-calls pid=P clears=N clear_ns=T reads=M read_ns=U read_bytes=B
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define EXPORT __attribute__((visibility("default")))
#define MAX_FD 1024

enum kind { OTHER, PAGEMAP, CLEAR_REFS };

static _Atomic unsigned char kinds[MAX_FD];
static atomic_ulong clears, clear_ns, reads, read_ns, read_bytes;

typedef int (*open_fn)(const char *, int, ...);
typedef int (*open2_fn)(const char *, int);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*read_fn)(int, void *, size_t);
typedef int (*close_fn)(int);

static void *next(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p) {
		static const char msg[] = "rpm-gc-calls: a libc symbol is missing\n";

		syscall(SYS_write, 2, msg, sizeof(msg) - 1);
		_exit(127);
	}
	return p;
}

/* real_NAME(): the next definition of NAME (libc's, or the redirect library's). */
#define REAL(type, name)                                        \
	static type real_##name(void)                           \
	{                                                       \
		static _Atomic(type) fn;                        \
		type f = atomic_load(&fn);                      \
		if (!f) {                                       \
			f = (type)next(#name);                  \
			atomic_store(&fn, f);                   \
		}                                               \
		return f;                                       \
	}
REAL(open_fn, open)
REAL(open_fn, open64)
REAL(open2_fn, __open_2)
REAL(open2_fn, __open64_2)
REAL(write_fn, write)
REAL(read_fn, read)
REAL(close_fn, close)

static unsigned long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000UL + ts.tv_nsec;
}

static enum kind kind_of(const char *path)
{
	const char *base = path ? strrchr(path, '/') : NULL;

	if (!base || strncmp(path, "/proc/", 6))
		return OTHER;
	if (!strcmp(base, "/pagemap"))
		return PAGEMAP;
	if (!strcmp(base, "/clear_refs"))
		return CLEAR_REFS;
	return OTHER;
}

static int note(int fd, const char *path)
{
	if (fd >= 0 && fd < MAX_FD)
		atomic_store(&kinds[fd], kind_of(path));
	return fd;
}

static enum kind kind_at(int fd)
{
	return fd >= 0 && fd < MAX_FD ? atomic_load(&kinds[fd]) : OTHER;
}

/* open and open64: the mode is there only with O_CREAT or O_TMPFILE. */
#define OPEN_WRAPPER(name)                                                        \
	EXPORT int name(const char *path, int flags, ...)                         \
	{                                                                         \
		mode_t mode = 0;                                                  \
		va_list ap;                                                       \
		if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE) {      \
			va_start(ap, flags);                                      \
			mode = va_arg(ap, mode_t);                                \
			va_end(ap);                                               \
		}                                                                 \
		return note(real_##name()(path, flags, mode), path);              \
	}
OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)

/* The _FORTIFY_SOURCE entry points Debian's libgc calls. */
#define OPEN2_WRAPPER(name)                                                       \
	EXPORT int name(const char *path, int flags)                              \
	{                                                                         \
		return note(real_##name()(path, flags), path);                    \
	}
OPEN2_WRAPPER(__open_2)
OPEN2_WRAPPER(__open64_2)

EXPORT int close(int fd)
{
	if (fd >= 0 && fd < MAX_FD)
		atomic_store(&kinds[fd], OTHER);
	return real_close()(fd);
}

EXPORT ssize_t write(int fd, const void *buf, size_t count)
{
	unsigned long t0;
	ssize_t ret;

	if (kind_at(fd) != CLEAR_REFS || !count || ((const char *)buf)[0] != '4')
		return real_write()(fd, buf, count);
	t0 = now_ns();
	ret = real_write()(fd, buf, count);
	atomic_fetch_add(&clear_ns, now_ns() - t0);
	atomic_fetch_add(&clears, 1);
	return ret;
}

EXPORT ssize_t read(int fd, void *buf, size_t count)
{
	unsigned long t0;
	ssize_t ret;

	if (kind_at(fd) != PAGEMAP)
		return real_read()(fd, buf, count);
	t0 = now_ns();
	ret = real_read()(fd, buf, count);
	atomic_fetch_add(&read_ns, now_ns() - t0);
	atomic_fetch_add(&reads, 1);
	if (ret > 0)
		atomic_fetch_add(&read_bytes, ret);
	return ret;
}

__attribute__((destructor)) static void report(void)
{
	char line[256];
	int n;

	n = snprintf(line, sizeof(line),
		     "rpm-gc-calls pid=%d clears=%lu clear_ns=%lu reads=%lu read_ns=%lu read_bytes=%lu\n",
		     (int)getpid(), atomic_load(&clears), atomic_load(&clear_ns), atomic_load(&reads),
		     atomic_load(&read_ns), atomic_load(&read_bytes));
	if (n > 0)
		syscall(SYS_write, 2, line, (size_t)n);
}
