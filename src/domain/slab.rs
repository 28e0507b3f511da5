//! The customers' storage: slots in fixed chunks of [`CHUNK`] that never move. A single
//! `Vec` doubled as it grew, and while it copied, the old block and the new one were both
//! resident: at a million customers the peak held about 1.5 times the customers' bytes
//! (measured: the peak at 1M customers fell by about a quarter with chunks, see
//! docs/decisions.md). A chunk is allocated whole when the previous one is full.

use std::ops::{Index, IndexMut};

/// Slots per chunk (a chunk of ~250-byte customers is about 1 MiB).
const CHUNK_BITS: u32 = 12;
const CHUNK: usize = 1 << CHUNK_BITS;

#[derive(Debug)]
pub struct Slab<T> {
    chunks: Vec<Vec<T>>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Slab<T> {
        Slab {
            chunks: Vec::new(),
            len: 0,
        }
    }
}

impl<T> Slab<T> {
    /// Values pushed so far.
    pub fn count(&self) -> usize {
        self.len
    }

    pub fn get(&self, i: usize) -> Option<&T> {
        self.chunks.get(i >> CHUNK_BITS)?.get(i & (CHUNK - 1))
    }

    /// Appends `value`; its index is the length before.
    pub fn push(&mut self, value: T) {
        if self.chunks.last().is_none_or(|c| c.len() == CHUNK) {
            self.chunks.push(Vec::with_capacity(CHUNK));
        }
        self.chunks
            .last_mut()
            .expect("a chunk with room")
            .push(value);
        self.len += 1;
    }

    /// Makes room for the chunk pointers of `additional` more values (the chunks themselves
    /// come as they fill).
    pub fn reserve(&mut self, additional: usize) {
        self.chunks.reserve(additional.div_ceil(CHUNK));
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.chunks.iter().flatten()
    }
}

impl<T> Index<usize> for Slab<T> {
    type Output = T;
    fn index(&self, i: usize) -> &T {
        &self.chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
    }
}

impl<T> IndexMut<usize> for Slab<T> {
    fn index_mut(&mut self, i: usize) -> &mut T {
        &mut self.chunks[i >> CHUNK_BITS][i & (CHUNK - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_keep_their_index_across_chunks() {
        let mut slab = Slab::default();
        let n = 3 * CHUNK + 5;
        for i in 0..n {
            slab.push(i);
        }
        assert_eq!(slab.count(), n);
        for i in [0, 1, CHUNK - 1, CHUNK, 2 * CHUNK + 7, n - 1] {
            assert_eq!(slab[i], i);
            assert_eq!(slab.get(i), Some(&i));
        }
        assert_eq!(slab.get(n), None);
        slab[CHUNK] = 42;
        slab[1] = 7;
        assert_eq!((slab[CHUNK], slab[1]), (42, 7));
        assert_eq!(slab.iter().count(), n);
        // Chunks never reallocate: a value's address stays put as others are added.
        let before: *const usize = &slab[5];
        for i in 0..CHUNK {
            slab.push(i);
        }
        assert_eq!(before, &slab[5] as *const usize);
    }
}
