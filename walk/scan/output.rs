// SPDX-License-Identifier: GPL-2.0

//! PAGEMAP_SCAN output: selected runs of pages merged into `page_region`s in a
//! bounce buffer, the `max_pages` budget, `walk_end`, and the copy to the user
//! (`pagemap_scan_output`, `pagemap_scan_push_range`,
//! `pagemap_scan_backout_range`, `pagemap_scan_flush_buffer` in fs/proc/task_mmu.c).

use kernel::{
    prelude::*,
    transmute::AsBytes,
    uaccess::{UserPtr, UserSlice},
};

use crate::walk::mm::uaccess::fault_in_safe_writeable;
use crate::walk::mm::x86::PAGE_SIZE;
use crate::walk::uapi::page_region as Region;

/// Regions the bounce buffer holds at most (`PAGEMAP_WALK_SIZE >> PAGE_SHIFT`).
const BUFFER_REGIONS: u64 = 512;

/// The bounce buffer and where in the user's array it goes next.
///
/// # Invariants
///
/// `buf` holds the slots filled since the last flush, the last one being filled
/// (`vec_buf_index` is `buf.len() - 1`): it is never empty, and never longer than its
/// capacity, which is at least `len`; `buf.len() <= len` unless `len` dropped to 0
/// because the user's array is full. Slots past the last are never written before they
/// are used, so they are not initialised at all.
struct Buffer {
    buf: KVec<Region>,
    /// Usable slots (`vec_buf_len`).
    len: usize,
    /// User address of the next region to copy out.
    user: usize,
    /// Regions the user's array still has room for (`vec_len`).
    room: u64,
}

impl Buffer {
    /// Extends the current region by `[addr, end)`, or starts a new one; `false`
    /// when a new one is needed and the buffer is full (`pagemap_scan_push_range`).
    #[inline]
    fn push(&mut self, categories: u64, addr: usize, end: usize) -> bool {
        let filled = self.buf.len();
        let Some(cur) = self.buf.last_mut() else {
            return false;
        };
        if addr as u64 == cur.end && categories == cur.categories {
            cur.end = end as u64;
            return true;
        }
        // A zero-length region can be stored (a `max_pages` cut to nothing); it is never
        // copied out unless a later push extends it.
        let region = Region {
            start: addr as u64,
            end: end as u64,
            categories,
        };
        if cur.end == 0 {
            *cur = region;
            return true;
        }
        // INVARIANT: one more slot, within `len`, which the capacity holds.
        filled < self.len && self.buf.push_within_capacity(region).is_ok()
    }
}

/// What a scan has produced so far, across the walks of one ioctl.
pub(crate) struct Output {
    buffer: Option<Buffer>,
    /// The bits of a page's categories that are reported (and compared when merging).
    return_mask: u64,
    max_pages: u64,
    found_pages: u64,
    walk_end: u64,
}

impl Output {
    /// Output for a user array of `vec_len` regions at `vec`, reporting the bits of
    /// `return_mask` (the request's, plus the size bits of `RPM_SCAN_PAGE_SIZES`) of
    /// the categories it is given; without an array
    /// nothing is ever reported or counted. Allocates the bounce buffer
    /// (`pagemap_scan_init_bounce_buffer`).
    pub(crate) fn new(vec: usize, vec_len: u64, return_mask: u64, max_pages: u64) -> Result<Self> {
        let buffer = if vec_len == 0 {
            None
        } else {
            let len = vec_len.min(BUFFER_REGIONS) as usize;
            let mut buf = KVec::with_capacity(len, GFP_KERNEL)?;
            // The kernel's buffer is uninitialised but for slot 0's bounds; a zero slot 0
            // differs from that only for a push at address 0, which no VMA can hold. The
            // other slots are written when they are reached.
            buf.push(Region::default(), GFP_KERNEL)?;
            // INVARIANT: one slot, the one being filled, and capacity for `len`.
            Some(Buffer {
                buf,
                len,
                user: vec,
                room: vec_len,
            })
        };
        Ok(Self {
            buffer,
            return_mask,
            max_pages,
            found_pages: 0,
            walk_end: 0,
        })
    }

    /// Whether there is a user array at all (`p->vec_buf`).
    pub(crate) fn has_buffer(&self) -> bool {
        self.buffer.is_some()
    }

    /// Pages reported so far.
    pub(crate) fn found_pages(&self) -> u64 {
        self.found_pages
    }

    /// Regions the user's array still has room for.
    pub(crate) fn room(&self) -> u64 {
        self.buffer.as_ref().map_or(0, |b| b.room)
    }

    /// Where the scan stopped, 0 if nothing stopped it yet.
    pub(crate) fn walk_end(&self) -> u64 {
        self.walk_end
    }

    /// Overrides `walk_end` (a hugetlb page that could not be write-protected whole).
    pub(crate) fn set_walk_end(&mut self, addr: u64) {
        self.walk_end = addr;
    }

    /// Reports the selected run `[addr, *end)` of pages with `categories`
    /// (`pagemap_scan_output`). Cuts `*end` back to what fits the `max_pages`
    /// budget and the buffer; `ENOSPC` if anything was cut, and `walk_end` is
    /// then the new `*end`.
    #[inline(always)]
    pub(crate) fn output(&mut self, categories: u64, addr: usize, end: &mut usize) -> Result {
        let Some(buffer) = self.buffer.as_mut() else {
            return Ok(());
        };
        let categories = categories & self.return_mask;
        let mut ret = Ok(());
        let mut pages = ((*end - addr) / PAGE_SIZE) as u64;
        let (total, overflow) = self.found_pages.overflowing_add(pages);
        if overflow || total > self.max_pages {
            let too_many = total.wrapping_sub(self.max_pages);
            *end = end.wrapping_sub((too_many as usize).wrapping_mul(PAGE_SIZE));
            pages = pages.wrapping_sub(too_many);
            ret = Err(ENOSPC);
        }
        if !buffer.push(categories, addr, *end) {
            *end = addr;
            pages = 0;
            ret = Err(ENOSPC);
        }
        self.found_pages = self.found_pages.wrapping_add(pages);
        if ret.is_err() {
            self.walk_end = *end as u64;
        }
        ret
    }

    /// The end of the part of `[addr, end)` that the `max_pages` budget still
    /// lets [`Self::output`] report (the buffer aside).
    pub(crate) fn budget_end(&self, addr: usize, end: usize) -> usize {
        if self.buffer.is_none() {
            return end;
        }
        let left = self.max_pages.saturating_sub(self.found_pages);
        let pages = ((end - addr) / PAGE_SIZE) as u64;
        if pages <= left {
            end
        } else {
            addr + left as usize * PAGE_SIZE
        }
    }

    /// Takes back the run `[addr, end)` just output, which is the tail of the
    /// current region (`pagemap_scan_backout_range`). A region that began at
    /// `addr` is emptied in place; the slot index does not move back.
    pub(crate) fn backout(&mut self, addr: usize, end: usize) {
        let Some(buffer) = self.buffer.as_mut() else {
            return;
        };
        let Some(cur) = buffer.buf.last_mut() else {
            return;
        };
        if cur.start != addr as u64 {
            cur.end = addr as u64;
        } else {
            cur.start = 0;
            cur.end = 0;
        }
        self.found_pages = self
            .found_pages
            .wrapping_sub(((end - addr) / PAGE_SIZE) as u64);
    }

    /// How far from `start` (up to `end`) the regions found since the last flush cover
    /// the range without a gap: `start` when the page at `start` was not reported.
    pub(crate) fn covered_until(&self, start: usize, end: usize) -> usize {
        let Some(buffer) = self.buffer.as_ref() else {
            return start;
        };
        let mut next = start as u64;
        for r in buffer.buf.iter() {
            // Regions are in address order; empty ones (backed out, cut to nothing) say nothing.
            if r.start < r.end && r.start <= next && r.end > next {
                next = r.end;
            }
        }
        (next as usize).min(end)
    }

    /// Faults in, for writing, the part of the user's array that the next flush can
    /// write, without storing to it: `EFAULT` if it cannot be written. Called before a walk that consumes what it reports, with no lock
    /// held, so that the flush after it does not fail but for a racing `munmap`.
    pub(crate) fn fault_in_user(&self) -> Result {
        let Some(buffer) = self.buffer.as_ref() else {
            return Ok(());
        };
        let size = buffer.len * core::mem::size_of::<Region>();
        fault_in_safe_writeable(buffer.user, size)
    }

    /// Copies the finished regions to the user's array and empties the buffer
    /// (`pagemap_scan_flush_buffer`). Returns how many were copied; `EFAULT` if
    /// the array cannot be written, which leaves the state as it was.
    pub(crate) fn flush(&mut self) -> Result<u64> {
        let Some(buffer) = self.buffer.as_mut() else {
            return Ok(0);
        };
        let Some(last) = buffer.buf.last() else {
            return Ok(0);
        };
        let mut n = buffer.buf.len() - 1;
        if last.end != last.start {
            n += 1;
        }
        if n == 0 {
            return Ok(0);
        }
        let bytes = buffer.buf[..n].as_bytes();
        UserSlice::new(UserPtr::from_addr(buffer.user), bytes.len())
            .writer()
            .write_slice(bytes)?;
        buffer.room -= n as u64;
        buffer.user = buffer.user.wrapping_add(bytes.len());
        buffer.len = buffer.len.min(buffer.room as usize);
        // INVARIANT: back to the one slot being filled, emptied.
        buffer.buf.truncate(1);
        if let Some(first) = buffer.buf.first_mut() {
            first.start = 0;
            first.end = 0;
        }
        Ok(n as u64)
    }
}

#[kernel::prelude::kunit_tests(rust_pagemap_scan_output)]
mod tests {
    use super::*;

    /// A user address that is never written: these tests do not flush.
    const USER: usize = 0x7000_0000;
    const P: usize = PAGE_SIZE;
    const BASE: usize = 0x10_0000;

    fn regions(out: &Output) -> KVec<(u64, u64, u64)> {
        let mut v = KVec::new();
        if let Some(b) = out.buffer.as_ref() {
            for r in b.buf.iter() {
                if r.start != r.end {
                    let _ = v.push((r.start, r.end, r.categories), GFP_KERNEL);
                }
            }
        }
        v
    }

    fn put(out: &mut Output, c: u64, start: usize, end: usize) -> (Result, usize) {
        let mut end = end;
        let ret = out.output(c, start, &mut end);
        (ret, end)
    }

    #[test]
    fn adjacent_runs_of_one_category_merge() -> Result {
        let mut out = Output::new(USER, 8, !0, u64::MAX)?;
        assert!(put(&mut out, 1, BASE, BASE + 2 * P).0.is_ok());
        assert!(put(&mut out, 1, BASE + 2 * P, BASE + 5 * P).0.is_ok());
        assert_eq!(
            regions(&out).as_slice(),
            &[(BASE as u64, (BASE + 5 * P) as u64, 1)]
        );
        assert_eq!(out.found_pages(), 5);
        Ok(())
    }

    #[test]
    fn a_gap_or_another_category_starts_a_region() -> Result {
        let mut out = Output::new(USER, 8, !0, u64::MAX)?;
        assert!(put(&mut out, 1, BASE, BASE + P).0.is_ok());
        assert!(put(&mut out, 1, BASE + 2 * P, BASE + 3 * P).0.is_ok());
        assert!(put(&mut out, 2, BASE + 3 * P, BASE + 4 * P).0.is_ok());
        assert_eq!(regions(&out).len(), 3);
        Ok(())
    }

    #[test]
    fn categories_are_compared_after_the_return_mask() -> Result {
        let mut out = Output::new(USER, 8, 0b01, u64::MAX)?;
        assert!(put(&mut out, 0b11, BASE, BASE + P).0.is_ok());
        assert!(put(&mut out, 0b01, BASE + P, BASE + 2 * P).0.is_ok());
        assert_eq!(
            regions(&out).as_slice(),
            &[(BASE as u64, (BASE + 2 * P) as u64, 1)]
        );
        Ok(())
    }

    #[test]
    fn max_pages_cuts_the_run_and_sets_walk_end() -> Result {
        let mut out = Output::new(USER, 8, !0, 3)?;
        let (ret, end) = put(&mut out, 1, BASE, BASE + 5 * P);
        assert_eq!(ret, Err(ENOSPC));
        assert_eq!(end, BASE + 3 * P);
        assert_eq!(out.walk_end(), (BASE + 3 * P) as u64);
        assert_eq!(out.found_pages(), 3);
        assert_eq!(out.budget_end(BASE + 3 * P, BASE + 9 * P), BASE + 3 * P);
        Ok(())
    }

    #[test]
    fn a_full_array_takes_no_new_region() -> Result {
        let mut out = Output::new(USER, 2, !0, u64::MAX)?;
        assert!(put(&mut out, 1, BASE, BASE + P).0.is_ok());
        assert!(put(&mut out, 2, BASE + P, BASE + 2 * P).0.is_ok());
        let (ret, end) = put(&mut out, 3, BASE + 2 * P, BASE + 4 * P);
        assert_eq!(ret, Err(ENOSPC));
        assert_eq!(end, BASE + 2 * P);
        assert_eq!(out.walk_end(), (BASE + 2 * P) as u64);
        // Extending the last region still fits.
        assert!(put(&mut out, 2, BASE + 2 * P, BASE + 3 * P).0.is_ok());
        assert_eq!(out.found_pages(), 3);
        Ok(())
    }

    #[test]
    fn backout_takes_back_the_tail_or_the_whole_region() -> Result {
        let mut out = Output::new(USER, 8, !0, u64::MAX)?;
        assert!(put(&mut out, 1, BASE, BASE + 4 * P).0.is_ok());
        out.backout(BASE + 2 * P, BASE + 4 * P);
        assert_eq!(
            regions(&out).as_slice(),
            &[(BASE as u64, (BASE + 2 * P) as u64, 1)]
        );
        assert_eq!(out.found_pages(), 2);
        assert!(put(&mut out, 2, BASE + 8 * P, BASE + 9 * P).0.is_ok());
        out.backout(BASE + 8 * P, BASE + 9 * P);
        assert_eq!(regions(&out).len(), 1);
        assert_eq!(out.found_pages(), 2);
        Ok(())
    }

    #[test]
    fn covered_until_stops_at_the_first_gap() -> Result {
        let mut out = Output::new(USER, 8, !0, u64::MAX)?;
        assert!(put(&mut out, 1, BASE, BASE + 2 * P).0.is_ok());
        assert!(put(&mut out, 2, BASE + 2 * P, BASE + 3 * P).0.is_ok());
        assert!(put(&mut out, 1, BASE + 5 * P, BASE + 6 * P).0.is_ok());
        assert_eq!(out.covered_until(BASE, BASE + 10 * P), BASE + 3 * P);
        assert_eq!(out.covered_until(BASE + P, BASE + 2 * P), BASE + 2 * P);
        assert_eq!(out.covered_until(BASE + 3 * P, BASE + 10 * P), BASE + 3 * P);
        Ok(())
    }

    #[test]
    fn without_an_array_nothing_is_reported_or_counted() -> Result {
        let mut out = Output::new(0, 0, !0, 1)?;
        assert!(put(&mut out, 1, BASE, BASE + 4 * P).0.is_ok());
        assert_eq!(out.found_pages(), 0);
        assert!(!out.has_buffer());
        assert_eq!(out.budget_end(BASE, BASE + 4 * P), BASE + 4 * P);
        Ok(())
    }
}
