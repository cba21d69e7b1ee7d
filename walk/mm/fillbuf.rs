// SPDX-License-Identifier: GPL-2.0

//! A fixed array of words filled from the front and never zero-filled: the
//! output chunk of a pagemap read, written entry by entry before it is read.

use core::mem::MaybeUninit;

/// Up to `N` words, of which the first `len` have been written.
///
/// # Invariants
///
/// `len <= N`, and `buf[..len]` is initialised.
pub(crate) struct FillBuf<const N: usize> {
    buf: [MaybeUninit<u64>; N],
    len: usize,
}

impl<const N: usize> FillBuf<N> {
    /// An empty buffer; nothing in it is initialised.
    pub(crate) fn new() -> Self {
        // INVARIANT: nothing is claimed to be initialised.
        Self {
            buf: [MaybeUninit::uninit(); N],
            len: 0,
        }
    }

    /// Empties the buffer.
    #[inline]
    pub(crate) fn clear(&mut self) {
        // INVARIANT: an empty prefix is initialised.
        self.len = 0;
    }

    /// How many more words fit.
    #[inline]
    pub(crate) fn room(&self) -> usize {
        N - self.len
    }

    /// Appends `value`; `false` (and nothing appended) when the buffer is full.
    #[inline]
    pub(crate) fn push(&mut self, value: u64) -> bool {
        if self.len == N {
            return false;
        }
        self.buf[self.len].write(value);
        // INVARIANT: the word at the old `len` was just written.
        self.len += 1;
        true
    }

    /// Appends as many of `count` words as fit, each the next value of `next`;
    /// returns how many were appended.
    #[inline]
    pub(crate) fn extend(&mut self, count: usize, mut next: impl FnMut() -> u64) -> usize {
        let n = count.min(N - self.len);
        for slot in &mut self.buf[self.len..self.len + n] {
            slot.write(next());
        }
        // INVARIANT: the `n` words after the old `len` were just written.
        self.len += n;
        n
    }

    /// Appends `f(item)` for each of `items` while there is room; returns how many were
    /// appended. One loop over the items and the free words together: a consumer's
    /// per-entry loop with one bound, the shorter of the two.
    #[inline]
    pub(crate) fn extend_map<T>(
        &mut self,
        items: impl Iterator<Item = T>,
        mut f: impl FnMut(T) -> u64,
    ) -> usize {
        let mut n = 0;
        for (slot, item) in self.buf[self.len..].iter_mut().zip(items) {
            slot.write(f(item));
            n += 1;
        }
        // INVARIANT: the `n` words after the old `len` were just written (`n <= N - len`).
        self.len += n;
        n
    }

    /// The words written since the buffer was last empty.
    #[inline]
    pub(crate) fn as_slice(&self) -> &[u64] {
        // SAFETY: `buf[..len]` is initialised (type invariant), and `MaybeUninit<u64>` has
        // the layout of `u64`.
        unsafe { core::slice::from_raw_parts(self.buf.as_ptr().cast::<u64>(), self.len) }
    }
}

#[kernel::prelude::kunit_tests(rust_pagemap_fillbuf)]
mod tests {
    use super::*;

    #[test]
    fn push_fills_until_full_then_refuses() {
        let mut buf = FillBuf::<3>::new();
        assert_eq!(buf.room(), 3);
        assert!(buf.push(1));
        assert!(buf.push(2));
        assert!(buf.push(3));
        assert!(!buf.push(4));
        assert_eq!(buf.room(), 0);
        assert_eq!(buf.as_slice(), &[1, 2, 3]);
    }

    #[test]
    fn extend_appends_what_fits_and_says_how_many() {
        let mut buf = FillBuf::<4>::new();
        assert!(buf.push(7));
        let mut next = 10;
        let n = buf.extend(5, || {
            next += 1;
            next
        });
        assert_eq!(n, 3);
        assert_eq!(buf.as_slice(), &[7, 11, 12, 13]);
        assert_eq!(buf.extend(2, || 99), 0);
    }

    #[test]
    fn extend_map_appends_what_fits_of_the_items() {
        let mut buf = FillBuf::<4>::new();
        assert!(buf.push(1));
        assert_eq!(buf.extend_map([2u64, 3].into_iter(), |v| v * 10), 2);
        assert_eq!(buf.as_slice(), &[1, 20, 30]);
        assert_eq!(buf.extend_map([4u64, 5, 6].into_iter(), |v| v + 100), 1);
        assert_eq!(buf.as_slice(), &[1, 20, 30, 104]);
        assert_eq!(buf.extend_map([7u64].into_iter(), |v| v), 0);
    }

    #[test]
    fn clear_empties_for_the_next_chunk() {
        let mut buf = FillBuf::<2>::new();
        assert!(buf.push(5));
        buf.clear();
        assert_eq!(buf.as_slice(), &[] as &[u64]);
        assert_eq!(buf.room(), 2);
        assert!(buf.push(6));
        assert_eq!(buf.as_slice(), &[6]);
    }
}
