/* SPDX-License-Identifier: GPL-2.0 */
/* userfaultfd set-up shared by the selftests that need write-protection or markers. */
#ifndef PM_UFFD_H
#define PM_UFFD_H

#include "pm_common.h"

#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

/* A userfaultfd with the given features, or -1. */
int pm_uffd_open(uint64_t features);

/* Register [p, p+len) with `uffd` in `mode` (UFFDIO_REGISTER_MODE_*); the ioctl's value. */
int pm_uffd_register(int uffd, void *p, size_t len, uint64_t mode);

/* Write-protect [p, p+len) (`on`) or lift the protection; the ioctl's value. */
int pm_uffd_wp(int uffd, void *p, size_t len, bool on);

#endif /* PM_UFFD_H */
