// SPDX-License-Identifier: GPL-2.0
/*
 * librpm_redirect.so: run an unchanged program on /dev/rust_pagemap.
 *
 *     LD_PRELOAD=/path/to/librpm_redirect.so [RPM_REDIRECT_LOG=1] program ...
 *
 * - An open of a pagemap file of procfs (/proc/self/pagemap,
 *   /proc/thread-self/pagemap, /proc/PID/pagemap, /proc/PID/task/TID/pagemap,
 *   by any path that reaches one: relative to a directory fd or the working
 *   directory, through symlinks) returns a descriptor of the device bound to
 *   that process, in the same descriptor slot. The real open is done first:
 *   if it fails, its errno is the answer, so permission outcomes are the ones
 *   /proc gives. Then the device is opened (with the caller's credentials, so
 *   frame numbers are hidden or shown as /proc would) and, for another
 *   process, bound with RPM_IOC_ATTACH_PIDFD on a pidfd_open(2) pidfd; the
 *   device descriptor replaces the procfs one with dup3(2).
 *   Reads, lseek and PAGEMAP_SCAN then go to the device unchanged.
 * - A write of "4" to /proc/PID/clear_refs (any descriptor whose file is a
 *   clear_refs file of procfs) becomes RPM_IOC_CLEAR_SOFT_DIRTY_ALL on a
 *   device descriptor bound to that process. Other values go to clear_refs.
 * - Everything else passes through untouched.
 *
 * Which file a descriptor is, is decided after the real open from the
 * descriptor itself (fstatfs says procfs, /proc/self/fd/N names the file),
 * never from the path the program passed, so every spelling is caught and
 * nothing else is. What that found is remembered per file, by the identity
 * fstat gives, not per descriptor number: a write of "4" costs one fstat to
 * be told from clear_refs, whatever the program did with its descriptors
 * since (copies, closes, numbers reused, fork, exec). The clears of the
 * process's own address space go through one device descriptor it keeps.
 *
 * Intercepted: open, open64, openat, openat64, __open_2, __open64_2,
 * __openat_2, __openat64_2 (the _FORTIFY_SOURCE entry points), fopen, fopen64,
 * freopen, freopen64, write, pwrite, pwrite64. Not reachable from a preload
 * library: raw syscall(2) opens, openat2(2), and stdio writes to clear_refs
 * (glibc's stdio calls its internal write); fopen() of a clear_refs file for
 * writing is therefore given a FILE of our own (fopencookie) whose writes
 * take the path above.
 *
 * If anything on the device side fails (node absent, attach refused, the
 * process has no address space any more), the procfs descriptor is kept and
 * the program runs on /proc; RPM_REDIRECT_LOG says so. A missing device is
 * reported once per process on stderr, whether or not logging is on.
 *
 * RPM_REDIRECT_LOG=1: one line per redirected call on stderr, starting with
 * "rpm_redirect: ", plus one per call that had to stay on /proc.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "rust_pagemap.h"

/* The device; a build may point it elsewhere to test the library itself. */
#ifndef RPM_REDIRECT_DEV
#define RPM_REDIRECT_DEV RUST_PAGEMAP_DEV
#endif

#ifndef PROC_SUPER_MAGIC
#define PROC_SUPER_MAGIC 0x9fa0
#endif

#define EXPORT __attribute__((visibility("default")))

typedef int (*open_fn)(const char *, int, ...);
typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*open2_fn)(const char *, int);
typedef int (*openat2_fn)(int, const char *, int);
typedef FILE *(*fopen_fn)(const char *, const char *);
typedef FILE *(*freopen_fn)(const char *, const char *, FILE *);
typedef ssize_t (*write_fn)(int, const void *, size_t);
typedef ssize_t (*pwrite_fn)(int, const void *, size_t, off_t);

/* The next definition of a symbol after this library (normally libc's). */
static void *next(const char *name)
{
	void *p = dlsym(RTLD_NEXT, name);

	if (!p) {
		static const char msg[] = "rpm_redirect: a libc symbol is missing\n";

		syscall(SYS_write, 2, msg, sizeof(msg) - 1);
		abort();
	}
	return p;
}

/*
 * Resolved on first use (a constructor of another library may open files
 * before ours runs); a racing first use resolves the same pointer twice.
 */
#define REAL(type, name)                                                  \
	static type real_##name(void)                                     \
	{                                                                 \
		static _Atomic(type) fn;                                  \
		type f = atomic_load_explicit(&fn, memory_order_acquire); \
		if (!f) {                                                 \
			f = (type)next(#name);                            \
			atomic_store_explicit(&fn, f, memory_order_release); \
		}                                                         \
		return f;                                                 \
	}
REAL(open_fn, open)
REAL(open_fn, open64)
REAL(openat_fn, openat)
REAL(openat_fn, openat64)
REAL(open2_fn, __open_2)
REAL(open2_fn, __open64_2)
REAL(openat2_fn, __openat_2)
REAL(openat2_fn, __openat64_2)
REAL(fopen_fn, fopen)
REAL(fopen_fn, fopen64)
REAL(freopen_fn, freopen)
REAL(freopen_fn, freopen64)
REAL(write_fn, write)
REAL(pwrite_fn, pwrite)
REAL(pwrite_fn, pwrite64)

/* ---- logging ---------------------------------------------------------- */

static int log_on(void)
{
	static atomic_int state; /* 0 unknown, 1 off, 2 on */
	int s = atomic_load(&state);

	if (!s) {
		const char *v = getenv("RPM_REDIRECT_LOG");

		s = (v && *v && strcmp(v, "0")) ? 2 : 1;
		atomic_store(&state, s);
	}
	return s == 2;
}

/* One line to stderr with one write(2), so lines of threads do not mix. */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
	char line[512];
	int n, saved = errno;
	va_list ap;

	n = snprintf(line, sizeof(line), "rpm_redirect[%d]: ", (int)getpid());
	va_start(ap, fmt);
	n += vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(line) - 1)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	real_write()(2, line, n);
	errno = saved;
}

#define LOG(...)                  \
	do {                      \
		if (log_on())     \
			say(__VA_ARGS__); \
	} while (0)

/* ---- which procfs file a descriptor is -------------------------------- */

enum kind { OTHER, PAGEMAP, CLEAR_REFS };

/*
 * Parse ".../PID/NAME" or ".../PID/task/TID/NAME" at the end of a path that
 * /proc/self/fd/N gave for a procfs file. The process is PID (the thread
 * group): threads share one address space.
 */
static enum kind parse_proc_path(const char *path, pid_t *pid)
{
	const char *end = path + strlen(path), *p = end, *name, *num;
	enum kind k;
	long v;
	char *stop;

	while (p > path && p[-1] != '/')
		p--;
	name = p;
	if (!strcmp(name, "pagemap"))
		k = PAGEMAP;
	else if (!strcmp(name, "clear_refs"))
		k = CLEAR_REFS;
	else
		return OTHER;
	/* the component before NAME: a number (PID or TID) */
	if (p == path)
		return OTHER;
	p--; /* at '/' */
	while (p > path && p[-1] >= '0' && p[-1] <= '9')
		p--;
	num = p;
	if (num == name - 1 || (num > path && num[-1] != '/'))
		return OTHER;
	/* "/task/" before it means NUM is a TID: take the PID before "task" */
	if (num - path >= 6 && !strncmp(num - 6, "/task/", 6)) {
		p = num - 6;
		while (p > path && p[-1] >= '0' && p[-1] <= '9')
			p--;
		if (p == num - 6 || (p > path && p[-1] != '/'))
			return OTHER;
		num = p;
	}
	errno = 0;
	v = strtol(num, &stop, 10);
	if (errno || *stop != '/' || v <= 0 || v > INT_MAX)
		return OTHER;
	*pid = (pid_t)v;
	return k;
}

/* What procfs file FD is; OTHER for anything that is not procfs. */
static enum kind classify_fd(int fd, pid_t *pid)
{
	char link[64], path[PATH_MAX];
	struct statfs sfs;
	ssize_t n;

	if (fd < 0 || fstatfs(fd, &sfs) || sfs.f_type != PROC_SUPER_MAGIC)
		return OTHER;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
	n = readlink(link, path, sizeof(path) - 1);
	if (n <= 0)
		return OTHER;
	path[n] = 0;
	return parse_proc_path(path, pid);
}

/*
 * What a file is, remembered by its identity: the device and inode number
 * fstat gives, and the inode's change time. procfs makes the inode of
 * /proc/PID/clear_refs or /proc/PID/pagemap with a fresh number
 * (get_next_ino) and the time of its making, and it names one process for
 * its whole life; a file of another filesystem has another device. So one
 * identity is one file with one meaning, under whatever descriptor number:
 * a copy (dup, dup2, dup3, F_DUPFD), a descriptor inherited across fork or
 * exec, the same file opened again. A number the program closed, by a call
 * the library sees or not, and gave to another file has another identity.
 * The table is a cache, a seqlock per entry: an entry being written, or
 * taken by another file, is a miss, never a wait (write(2) may be called
 * from a signal handler).
 */
struct identity {
	unsigned long dev, ino, ctime_ns;
};

struct known_file {
	atomic_uint seq; /* odd while being written */
	atomic_ulong dev, ino, ctime_ns;
	atomic_int kind, pid;
};

#define KNOWN_FILES 64
static struct known_file known[KNOWN_FILES];

static bool identity_of(int fd, struct identity *id)
{
	struct stat st;

	if (fd < 0 || fstat(fd, &st))
		return false;
	id->dev = st.st_dev;
	id->ino = st.st_ino;
	id->ctime_ns = st.st_ctim.tv_sec * 1000000000UL + st.st_ctim.tv_nsec;
	return true;
}

static bool same_identity(const struct identity *a, const struct identity *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->ctime_ns == b->ctime_ns;
}

static struct known_file *known_slot(const struct identity *id)
{
	return &known[(id->ino ^ id->dev * 31) % KNOWN_FILES];
}

static bool recall(const struct identity *id, enum kind *kind, pid_t *pid)
{
	struct known_file *k = known_slot(id);
	unsigned int seq = atomic_load_explicit(&k->seq, memory_order_acquire);
	struct identity was = {
		atomic_load_explicit(&k->dev, memory_order_relaxed),
		atomic_load_explicit(&k->ino, memory_order_relaxed),
		atomic_load_explicit(&k->ctime_ns, memory_order_relaxed),
	};

	*kind = atomic_load_explicit(&k->kind, memory_order_relaxed);
	*pid = atomic_load_explicit(&k->pid, memory_order_relaxed);
	atomic_thread_fence(memory_order_acquire);
	return !(seq & 1) && seq && same_identity(&was, id) &&
	       atomic_load_explicit(&k->seq, memory_order_relaxed) == seq;
}

static void remember(const struct identity *id, enum kind kind, pid_t pid)
{
	struct known_file *k = known_slot(id);
	unsigned int seq = atomic_load_explicit(&k->seq, memory_order_relaxed);

	if ((seq & 1) || !atomic_compare_exchange_strong_explicit(&k->seq, &seq, seq + 1,
								 memory_order_relaxed,
								 memory_order_relaxed))
		return; /* another thread writes it: a cache may miss */
	atomic_thread_fence(memory_order_release);
	atomic_store_explicit(&k->dev, id->dev, memory_order_relaxed);
	atomic_store_explicit(&k->ino, id->ino, memory_order_relaxed);
	atomic_store_explicit(&k->ctime_ns, id->ctime_ns, memory_order_relaxed);
	atomic_store_explicit(&k->kind, kind, memory_order_relaxed);
	atomic_store_explicit(&k->pid, pid, memory_order_relaxed);
	atomic_store_explicit(&k->seq, seq + 2, memory_order_release);
}

/*
 * What procfs file FD is (classify_fd), found out once per file. What is
 * remembered is checked to be still FD's file afterwards: another thread
 * may have closed FD and opened another file in its place meanwhile.
 */
static enum kind identify(int fd, pid_t *pid)
{
	struct identity id, again;
	enum kind k;

	if (!identity_of(fd, &id))
		return OTHER;
	if (recall(&id, &k, pid))
		return k;
	k = classify_fd(fd, pid);
	if (k == OTHER)
		*pid = 0;
	if (identity_of(fd, &again) && same_identity(&id, &again))
		remember(&id, k, *pid);
	return k;
}

/* Cheap filter before any syscall: could PATH name one of our files? */
static bool maybe_ours(const char *path)
{
	const char *base;

	if (!path)
		return false;
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	return !strcmp(base, "pagemap") || !strcmp(base, "clear_refs");
}

/* ---- the device -------------------------------------------------------- */

static atomic_bool device_missing;

/*
 * A device descriptor bound to PID's address space, opened with ACCMODE and
 * CLOEXEC; -1 with errno on failure.
 */
static int device_for(pid_t pid, int accmode, int cloexec)
{
	int fd, pidfd, err;

	if (atomic_load(&device_missing)) {
		errno = ENODEV;
		return -1;
	}
	fd = real_open()(RPM_REDIRECT_DEV, accmode | cloexec);
	if (fd < 0) {
		err = errno;
		if (err == ENOENT || err == ENODEV || err == ENXIO) {
			if (!atomic_exchange(&device_missing, true))
				say("%s is absent (%s): everything passes through to /proc",
				    RPM_REDIRECT_DEV, strerror(err));
		}
		errno = err;
		return -1;
	}
	if (pid == getpid())
		return fd; /* opening binds the opener */
	pidfd = syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0 || ioctl(fd, RPM_IOC_ATTACH_PIDFD, pidfd)) {
		err = errno;
		if (pidfd >= 0)
			close(pidfd);
		close(fd);
		errno = err;
		return -1;
	}
	close(pidfd);
	return fd;
}

/*
 * The device descriptor the process clears its own address space through:
 * opened at its first clear, kept (O_CLOEXEC) for the next ones. It is kept
 * in one word with the pid of the process that opened it. A child of fork
 * has a copy of both, bound to its parent's address space: the fork handler
 * closes it in the child at once; a child of _Fork or of a raw clone, which
 * run no fork handlers, is told by the pid and opens its own (the copy stays
 * open, unknown, until it execs). The descriptor's file position is a tag,
 * set to OWN_TAG when it is opened and read back (lseek) before every use:
 * a number the program closed without knowing it was the library's (a
 * close_range, a raw close, a loop closing every descriptor) and gave to a
 * file of its own, even a descriptor of the device bound to another
 * process, is then never taken for it, and never closed by the library.
 */
#define OWN_TAG ((off_t)0x52504d5f53454c46) /* "RPM_SELF" */
static _Atomic unsigned long own_device; /* pid << 32 | (fd + 1); 0: none */

static int own_fd(unsigned long word)
{
	return (int)(unsigned int)word - 1;
}

static bool own_tagged(int fd)
{
	return lseek(fd, 0, SEEK_CUR) == OWN_TAG;
}

/*
 * A device descriptor bound to the caller (SELF), to clear it: the kept one,
 * or one opened now and kept. *KEPT false: the caller closes it after use
 * (another thread kept one meanwhile). -1 with errno on failure.
 */
static int own_device_for(pid_t self, bool *kept)
{
	unsigned long word = atomic_load(&own_device);
	int fd;

	if (word && (pid_t)(word >> 32) == self && own_tagged(own_fd(word))) {
		*kept = true;
		return own_fd(word);
	}
	fd = device_for(self, O_RDONLY, O_CLOEXEC);
	if (fd < 0)
		return -1;
	*kept = lseek(fd, OWN_TAG, SEEK_SET) == OWN_TAG &&
		atomic_compare_exchange_strong(&own_device, &word,
					       (unsigned long)self << 32 | (unsigned int)(fd + 1));
	return fd;
}

static void own_device_forget_in_child(void)
{
	unsigned long word = atomic_exchange(&own_device, 0);

	if (word && own_tagged(own_fd(word)))
		close(own_fd(word));
}

__attribute__((constructor)) static void redirect_init(void)
{
	pthread_atfork(NULL, NULL, own_device_forget_in_child);
}

/*
 * Called with the result of a real open. If it is a pagemap file, put a
 * device descriptor bound to the same process into its slot. Returns FD in
 * every case; errno is left as the real open left it.
 */
static int redirect_pagemap(int fd, int flags, const char *call, const char *path)
{
	int saved = errno, dev;
	pid_t pid;

	/* O_PATH opens no file: nothing to read, nothing to redirect */
	if (fd < 0 || (flags & O_PATH) || identify(fd, &pid) != PAGEMAP) {
		errno = saved;
		return fd;
	}
	dev = device_for(pid, flags & O_ACCMODE, flags & O_CLOEXEC);
	if (dev < 0) {
		LOG("%s(%s): stays on /proc (pid %d): %s", call, path, (int)pid, strerror(errno));
		errno = saved;
		return fd;
	}
	/* Same slot, atomically: no other thread can see it empty. */
	if (dup3(dev, fd, flags & O_CLOEXEC) < 0) {
		LOG("%s(%s): stays on /proc (pid %d): dup3: %s", call, path, (int)pid,
		    strerror(errno));
		close(dev);
		errno = saved;
		return fd;
	}
	close(dev);
	LOG("%s(%s) = %d: pagemap of pid %d -> %s", call, path, fd, (int)pid, RPM_REDIRECT_DEV);
	errno = saved;
	return fd;
}

/* ---- clear_refs -------------------------------------------------------- */

/* The value clear_refs_write() would parse from BUF (kstrtoint after strim). */
static bool parse_clear_refs(const void *buf, size_t count, int *value)
{
	char s[16], *p, *e, *stop;
	long v;

	/* the kernel reads at most PROC_NUMBUF - 1 = 12 bytes */
	if (count > 12)
		count = 12;
	memcpy(s, buf, count);
	s[count] = 0;
	p = s;
	while (*p == ' ' || (*p >= '\t' && *p <= '\r'))
		p++;
	e = p + strlen(p);
	while (e > p && (e[-1] == ' ' || (e[-1] >= '\t' && e[-1] <= '\r')))
		*--e = 0;
	if (!*p || *p == '-' || (*p == '+' && p[1] == '-'))
		return false;
	errno = 0;
	v = strtol(p, &stop, 10);
	if (errno || *stop || v < INT_MIN || v > INT_MAX)
		return false;
	*value = (int)v;
	return true;
}

/*
 * If FD is /proc/PID/clear_refs and BUF says 4, clear through the device and
 * return true with *ret set to what write(2) returns. False: not ours, let
 * the real call do it.
 */
static bool clear_refs_write(int fd, const void *buf, size_t count, ssize_t *ret,
			     const char *call)
{
	int value, dev, flags, err = 0, saved = errno;
	bool kept = false;
	pid_t pid, self;

	if (!buf || !count || count > 4096 || !parse_clear_refs(buf, count, &value) || value != 4 ||
	    identify(fd, &pid) != CLEAR_REFS) {
		errno = saved;
		return false;
	}
	/*
	 * Only a descriptor open for writing: on any other the real write
	 * fails (EBADF), and so must ours. The access mode is the open file
	 * description's, not the file's: asked every time.
	 */
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || (flags & O_ACCMODE) == O_RDONLY || (flags & O_PATH)) {
		errno = saved;
		return false;
	}
	self = getpid();
	dev = pid == self ? own_device_for(self, &kept) : device_for(pid, O_RDONLY, O_CLOEXEC);
	if (dev < 0) {
		LOG("%s(clear_refs of pid %d, 4): stays on /proc: %s", call, (int)pid,
		    strerror(errno));
		errno = saved;
		return false;
	}
	if (ioctl(dev, RPM_IOC_CLEAR_SOFT_DIRTY_ALL))
		err = errno;
	if (!kept)
		close(dev);
	if (err) {
		LOG("%s(clear_refs of pid %d, 4) -> RPM_IOC_CLEAR_SOFT_DIRTY_ALL failed: %s", call,
		    (int)pid, strerror(err));
		errno = err;
		*ret = -1;
		return true;
	}
	LOG("%s(clear_refs of pid %d, 4) -> RPM_IOC_CLEAR_SOFT_DIRTY_ALL", call, (int)pid);
	errno = saved;
	*ret = (ssize_t)count; /* clear_refs consumes the whole write */
	return true;
}

/* ---- open family ------------------------------------------------------- */

static bool wants_mode(int flags)
{
	return (flags & O_CREAT) || (flags & O_TMPFILE) == O_TMPFILE;
}

#define OPEN_WRAPPER(name)                                            \
	EXPORT int name(const char *path, int flags, ...)             \
	{                                                             \
		mode_t mode = 0;                                      \
		int fd;                                               \
		if (wants_mode(flags)) {                              \
			va_list ap;                                   \
			va_start(ap, flags);                          \
			mode = va_arg(ap, mode_t);                    \
			va_end(ap);                                   \
		}                                                     \
		fd = real_##name()(path, flags, mode);                \
		return maybe_ours(path) ? redirect_pagemap(fd, flags, #name, path) : fd; \
	}
OPEN_WRAPPER(open)
OPEN_WRAPPER(open64)

#define OPENAT_WRAPPER(name)                                          \
	EXPORT int name(int dirfd, const char *path, int flags, ...)  \
	{                                                             \
		mode_t mode = 0;                                      \
		int fd;                                               \
		if (wants_mode(flags)) {                              \
			va_list ap;                                   \
			va_start(ap, flags);                          \
			mode = va_arg(ap, mode_t);                    \
			va_end(ap);                                   \
		}                                                     \
		fd = real_##name()(dirfd, path, flags, mode);         \
		return maybe_ours(path) ? redirect_pagemap(fd, flags, #name, path) : fd; \
	}
OPENAT_WRAPPER(openat)
OPENAT_WRAPPER(openat64)

#define OPEN2_WRAPPER(name)                                           \
	EXPORT int name(const char *path, int flags)                  \
	{                                                             \
		int fd = real_##name()(path, flags);                  \
		return maybe_ours(path) ? redirect_pagemap(fd, flags, #name, path) : fd; \
	}
OPEN2_WRAPPER(__open_2)
OPEN2_WRAPPER(__open64_2)

#define OPENAT2_WRAPPER(name)                                         \
	EXPORT int name(int dirfd, const char *path, int flags)       \
	{                                                             \
		int fd = real_##name()(dirfd, path, flags);           \
		return maybe_ours(path) ? redirect_pagemap(fd, flags, #name, path) : fd; \
	}
OPENAT2_WRAPPER(__openat_2)
OPENAT2_WRAPPER(__openat64_2)

/* ---- stdio ------------------------------------------------------------- */

/* fopen mode string to the access mode and O_CLOEXEC it implies ('e'). */
static int stdio_flags(const char *mode)
{
	int acc = O_RDONLY, cloexec = 0;

	if (mode[0] == 'w' || mode[0] == 'a')
		acc = O_WRONLY;
	for (const char *m = mode + 1; *m && *m != ','; m++) {
		if (*m == '+')
			acc = O_RDWR;
		else if (*m == 'e')
			cloexec = O_CLOEXEC;
	}
	return acc | cloexec;
}

static ssize_t cookie_write(void *cookie, const char *buf, size_t size)
{
	int fd = (int)(intptr_t)cookie;
	ssize_t ret;

	if (clear_refs_write(fd, buf, size, &ret, "fwrite"))
		return ret;
	return real_write()(fd, buf, size);
}

static ssize_t cookie_read(void *cookie, char *buf, size_t size)
{
	return read((int)(intptr_t)cookie, buf, size);
}

static int cookie_close(void *cookie)
{
	return close((int)(intptr_t)cookie);
}

/*
 * A FILE on a pagemap file: its descriptor is swapped for the device's
 * (stdio keeps the slot number). A FILE on clear_refs opened for writing:
 * stdio would write with its internal write, which we cannot see, so it is
 * replaced by a FILE whose writes come here.
 */
static FILE *stdio_redirect(FILE *f, const char *path, const char *mode, const char *call)
{
	int fd, flags, saved = errno;
	pid_t pid;
	enum kind k;

	if (!f || !maybe_ours(path))
		return f;
	fd = fileno(f);
	flags = stdio_flags(mode);
	k = identify(fd, &pid);
	if (k == PAGEMAP) {
		redirect_pagemap(fd, flags, call, path);
	} else if (k == CLEAR_REFS && (flags & O_ACCMODE) != O_RDONLY) {
		cookie_io_functions_t io = {
			.read = cookie_read, .write = cookie_write, .close = cookie_close,
		};
		int own = dup(fd);
		FILE *c = own < 0 ? NULL : fopencookie((void *)(intptr_t)own, mode, io);

		if (c) {
			fclose(f);
			f = c;
			if (flags & O_CLOEXEC)
				fcntl(own, F_SETFD, FD_CLOEXEC);
		} else if (own >= 0) {
			close(own);
		}
	}
	errno = saved;
	return f;
}

EXPORT FILE *fopen(const char *path, const char *mode)
{
	return stdio_redirect(real_fopen()(path, mode), path, mode, "fopen");
}

EXPORT FILE *fopen64(const char *path, const char *mode)
{
	return stdio_redirect(real_fopen64()(path, mode), path, mode, "fopen64");
}

EXPORT FILE *freopen(const char *path, const char *mode, FILE *stream)
{
	return stdio_redirect(real_freopen()(path, mode, stream), path, mode, "freopen");
}

EXPORT FILE *freopen64(const char *path, const char *mode, FILE *stream)
{
	return stdio_redirect(real_freopen64()(path, mode, stream), path, mode, "freopen64");
}

/* ---- writes ------------------------------------------------------------ */

EXPORT ssize_t write(int fd, const void *buf, size_t count)
{
	ssize_t ret;

	if (clear_refs_write(fd, buf, count, &ret, "write"))
		return ret;
	return real_write()(fd, buf, count);
}

EXPORT ssize_t pwrite(int fd, const void *buf, size_t count, off_t off)
{
	ssize_t ret;

	if (clear_refs_write(fd, buf, count, &ret, "pwrite"))
		return ret;
	return real_pwrite()(fd, buf, count, off);
}

EXPORT ssize_t pwrite64(int fd, const void *buf, size_t count, off_t off)
{
	ssize_t ret;

	if (clear_refs_write(fd, buf, count, &ret, "pwrite64"))
		return ret;
	return real_pwrite64()(fd, buf, count, off);
}
