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
 * clear_refs file (on /proc one write(2); redirected, the library's checks,
 * the device's open, its RPM_IOC_CLEAR_SOFT_DIRTY_ALL and close) and a read(2)
 * of a pagemap file (its descriptor keeps its slot when the library puts the
 * device there). Files are told by the path they were opened with, which is
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

static int open_with(const char *name, const char *path, int flags, va_list ap)
{
	static _Atomic(open_fn) real[2];
	int i = !strcmp(name, "open64");
	open_fn f = atomic_load(&real[i]);
	mode_t mode = 0;

	if (!f) {
		f = (open_fn)next(name);
		atomic_store(&real[i], f);
	}
	if ((flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE)
		mode = va_arg(ap, mode_t);
	return note(f(path, flags, mode), path);
}

EXPORT int open(const char *path, int flags, ...)
{
	va_list ap;
	int fd;

	va_start(ap, flags);
	fd = open_with("open", path, flags, ap);
	va_end(ap);
	return fd;
}

EXPORT int open64(const char *path, int flags, ...)
{
	va_list ap;
	int fd;

	va_start(ap, flags);
	fd = open_with("open64", path, flags, ap);
	va_end(ap);
	return fd;
}

static int open2_with(int i, const char *path, int flags)
{
	static _Atomic(open2_fn) real[2];
	open2_fn f = atomic_load(&real[i]);

	if (!f) {
		f = (open2_fn)next(i ? "__open64_2" : "__open_2");
		atomic_store(&real[i], f);
	}
	return note(f(path, flags), path);
}

EXPORT int __open_2(const char *path, int flags)
{
	return open2_with(0, path, flags);
}

EXPORT int __open64_2(const char *path, int flags)
{
	return open2_with(1, path, flags);
}

EXPORT int close(int fd)
{
	static _Atomic(close_fn) real;
	close_fn f = atomic_load(&real);

	if (!f) {
		f = (close_fn)next("close");
		atomic_store(&real, f);
	}
	if (fd >= 0 && fd < MAX_FD)
		atomic_store(&kinds[fd], OTHER);
	return f(fd);
}

EXPORT ssize_t write(int fd, const void *buf, size_t count)
{
	static _Atomic(write_fn) real;
	write_fn f = atomic_load(&real);
	unsigned long t0;
	ssize_t ret;

	if (!f) {
		f = (write_fn)next("write");
		atomic_store(&real, f);
	}
	if (fd < 0 || fd >= MAX_FD || atomic_load(&kinds[fd]) != CLEAR_REFS || !count ||
	    ((const char *)buf)[0] != '4')
		return f(fd, buf, count);
	t0 = now_ns();
	ret = f(fd, buf, count);
	atomic_fetch_add(&clear_ns, now_ns() - t0);
	atomic_fetch_add(&clears, 1);
	return ret;
}

EXPORT ssize_t read(int fd, void *buf, size_t count)
{
	static _Atomic(read_fn) real;
	read_fn f = atomic_load(&real);
	unsigned long t0;
	ssize_t ret;

	if (!f) {
		f = (read_fn)next("read");
		atomic_store(&real, f);
	}
	if (fd < 0 || fd >= MAX_FD || atomic_load(&kinds[fd]) != PAGEMAP)
		return f(fd, buf, count);
	t0 = now_ns();
	ret = f(fd, buf, count);
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
