// SPDX-License-Identifier: GPL-2.0
/*
 * Secondary MMUs: a device that mirrors the process's page tables (KVM, a
 * GPU, an IOMMU with shared virtual addressing) keeps its own writable
 * translations, and only the mmu_notifier calls around a clear or a
 * write-protecting scan make it drop them. A device write through a
 * translation it kept never faults, so the page would never read dirty (or
 * WRITTEN) again: a lost write.
 *
 * The kernel's HMM test driver (CONFIG_TEST_HMM, /dev/hmm_dmirror0) is such
 * a mirror: HMM_DMIRROR_WRITE writes through its own page table and faults
 * (through hmm_range_fault, a real write fault in the process) only when it
 * has no writable translation; it says how many faults it took. Each test:
 * the device writes a page (faulting once), writes it again (no fault: the
 * translation is kept, proven), then the module clears or protects through
 * /dev/rust_pagemap; the next device write must fault again and the page
 * must read dirty / WRITTEN in /proc.
 *
 * The same driver also moves pages into its device-private memory: the CPU's
 * PTE becomes a device-private entry, writable when the PTE was. A clear must
 * take write access away from such an entry (as mprotect does), or the CPU
 * write that brings the page back lands in a writable, clean PTE: no fault
 * marks it, and the page reads clean.
 */
#include "pm_scan.h"

#include "kselftest_harness.h"
#include "pm_hmm.h"
#include "pm_require.h"

#define NPAGES 16
#define LEN (NPAGES * PM_PAGE)

FIXTURE(mirror)
{
	int proc, dev, hmm, uffd;
	char *p;
	uint64_t data[PM_PAGE / 8];
};

FIXTURE_SETUP(mirror)
{
	self->uffd = -1;
	self->hmm = -1;
	PM_OPEN_BOTH(self);
	if (access(PM_HMM_DEV, F_OK))
		SKIP(return, "no %s: the kernel has no CONFIG_TEST_HMM", PM_HMM_DEV);
	/* The mirror covers the address space of the process that opens it. */
	self->hmm = open(PM_HMM_DEV, O_RDWR);
	ASSERT_GE(self->hmm, 0) TH_LOG("open %s: %s", PM_HMM_DEV, strerror(errno));
	self->p = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, self->p);
	ASSERT_EQ(0, madvise(self->p, LEN, MADV_NOHUGEPAGE));
	pm_touch(self->p, LEN, PM_PAGE, true);
}

FIXTURE_TEARDOWN(mirror)
{
	if (self->uffd >= 0)
		close(self->uffd);
	if (self->hmm >= 0)
		close(self->hmm);
	PM_CLOSE_BOTH(self);
}

/* The device writes page `i` with `v`; returns the faults it took, -1 on error. */
static long device_write(FIXTURE_DATA(mirror) *self, int i, uint64_t v)
{
	struct pm_hmm_cmd c = {
		.addr = (uintptr_t)self->p + (size_t)i * PM_PAGE,
		.ptr = (uintptr_t)self->data,
		.npages = 1,
	};

	for (size_t k = 0; k < PM_PAGE / 8; k++)
		self->data[k] = v;
	if (ioctl(self->hmm, PM_HMM_WRITE, &c) || c.cpages != 1)
		return -1;
	return (long)c.faults;
}

/* The device holds a writable translation of page `i`: a write through it does not fault. */
#define DEVICE_MAPS_WRITABLE(i)                                                        \
	do {                                                                           \
		ASSERT_LE(0, device_write(self, (i), 1));                              \
		ASSERT_EQ(0, device_write(self, (i), 2))                               \
		TH_LOG("the mirror did not keep its translation: nothing to test");    \
	} while (0)

static bool soft_dirty(FIXTURE_DATA(mirror) *self, int i)
{
	return pm_count_with(self->proc, self->p + (size_t)i * PM_PAGE, PM_PAGE, RPM_SOFT_DIRTY) == 1;
}

/* After the clear, the device's write faults and the page reads dirty. */
#define EXPECT_WRITE_SEEN(i)                                                           \
	do {                                                                           \
		ASSERT_FALSE(soft_dirty(self, (i))) TH_LOG("the clear did not clear");  \
		EXPECT_EQ(1, device_write(self, (i), 3))                               \
		TH_LOG("the device kept writing through a stale translation");         \
		EXPECT_TRUE(soft_dirty(self, (i))) TH_LOG("a device write was lost");   \
		EXPECT_EQ(3, *(volatile uint64_t *)(self->p + (size_t)(i) * PM_PAGE));  \
	} while (0)

/* Get-and-clear of soft-dirty over the whole mapping; the regions it reported, or -1. */
static long get_and_clear_all(FIXTURE_DATA(mirror) *self)
{
	static struct page_region r[NPAGES];
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.flags = RPM_SCAN_CLEAR_SOFT_DIRTY,
		.start = (uintptr_t)self->p,
		.end = (uintptr_t)self->p + LEN,
		.vec = (uintptr_t)r,
		.vec_len = NPAGES,
		.category_mask = PAGE_IS_SOFT_DIRTY,
		.return_mask = PAGE_IS_SOFT_DIRTY,
	};

	return ioctl(self->dev, PAGEMAP_SCAN, &a);
}

TEST_F(mirror, device_write_after_get_and_clear_is_seen)
{
	DEVICE_MAPS_WRITABLE(5);
	ASSERT_LE(1, get_and_clear_all(self));
	EXPECT_WRITE_SEEN(5);
}

TEST_F(mirror, device_write_after_ranged_clear_is_seen)
{
	struct rpm_range r = { (uintptr_t)self->p, (uintptr_t)self->p + LEN };

	DEVICE_MAPS_WRITABLE(7);
	ASSERT_EQ(0, ioctl(self->dev, RPM_IOC_CLEAR_SOFT_DIRTY, &r));
	EXPECT_WRITE_SEEN(7);
}

TEST_F(mirror, device_write_after_whole_clear_is_seen)
{
	DEVICE_MAPS_WRITABLE(2);
	ASSERT_EQ(0, ioctl(self->dev, RPM_IOC_CLEAR_SOFT_DIRTY_ALL));
	EXPECT_WRITE_SEEN(2);
}

/* The write-protecting scan: after it, a device write must fault and read WRITTEN. */
TEST_F(mirror, device_write_after_wp_scan_is_seen)
{
	static struct page_region r[NPAGES];
	struct pm_scan_arg a = {
		.size = sizeof(a),
		.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		.start = (uintptr_t)self->p,
		.end = (uintptr_t)self->p + LEN,
		.vec = (uintptr_t)r,
		.vec_len = NPAGES,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	void *page = self->p + 9 * PM_PAGE;

	self->uffd = pm_uffd_async();
	if (self->uffd < 0)
		SKIP(return, "userfaultfd with WP_ASYNC unavailable");
	ASSERT_EQ(0, pm_uffd_register(self->uffd, self->p, LEN, UFFDIO_REGISTER_MODE_WP));
	DEVICE_MAPS_WRITABLE(9);
	ASSERT_LE(1, ioctl(self->dev, PAGEMAP_SCAN, &a));
	ASSERT_EQ(0, pm_count_cat(self->proc, page, PM_PAGE, PAGE_IS_WRITTEN, 0))
	TH_LOG("the scan did not protect the page");
	EXPECT_EQ(1, device_write(self, 9, 3)) TH_LOG("the device kept a stale translation");
	EXPECT_EQ(1, pm_count_cat(self->proc, page, PM_PAGE, PAGE_IS_WRITTEN, 0))
	TH_LOG("a device write was lost");
}



/* The device takes page `i` into its private memory; the CPU's entry is then non-present. */
static bool migrate_to_device(FIXTURE_DATA(mirror) *self, int i)
{
	char *page = self->p + (size_t)i * PM_PAGE;

	return pm_hmm_migrate_to_dev(self->hmm, page, 1, self->data) == 1 &&
	       pm_count_with(self->proc, page, PM_PAGE, RPM_PRESENT) == 0;
}

/* After the clear, a CPU write to the device-private page brings it back and reads dirty. */
#define EXPECT_CPU_WRITE_SEEN(i)                                                       \
	do {                                                                           \
		volatile uint64_t *q = (volatile uint64_t *)(self->p + (size_t)(i) * PM_PAGE); \
		ASSERT_FALSE(soft_dirty(self, (i))) TH_LOG("the clear did not clear");  \
		*q = 4;                                                                \
		EXPECT_TRUE(soft_dirty(self, (i)))                                      \
		TH_LOG("a CPU write to a page back from device memory was lost");      \
		EXPECT_EQ(4, *q);                                                      \
	} while (0)

TEST_F(mirror, cpu_write_after_ranged_clear_of_device_private_page_is_seen)
{
	struct rpm_range r = { (uintptr_t)self->p, (uintptr_t)self->p + LEN };

	ASSERT_TRUE(migrate_to_device(self, 3)) TH_LOG("the page did not move to the device");
	ASSERT_EQ(0, ioctl(self->dev, RPM_IOC_CLEAR_SOFT_DIRTY, &r));
	EXPECT_CPU_WRITE_SEEN(3);
}

TEST_F(mirror, cpu_write_after_get_and_clear_of_device_private_page_is_seen)
{
	ASSERT_TRUE(migrate_to_device(self, 4)) TH_LOG("the page did not move to the device");
	ASSERT_LE(1, get_and_clear_all(self));
	EXPECT_CPU_WRITE_SEEN(4);
}

TEST_F(mirror, cpu_write_after_whole_clear_of_device_private_page_is_seen)
{
	ASSERT_TRUE(migrate_to_device(self, 6)) TH_LOG("the page did not move to the device");
	ASSERT_EQ(0, ioctl(self->dev, RPM_IOC_CLEAR_SOFT_DIRTY_ALL));
	EXPECT_CPU_WRITE_SEEN(6);
}

TEST_HARNESS_MAIN
