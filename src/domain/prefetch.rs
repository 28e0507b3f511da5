//! A cache prefetch hint: one of the crate's uses of `unsafe` (the others call librdkafka, in
//! `kafka::topic_handles` and `kafka::consumer_batches`).
//!
//! The engine's thread spends most of its time waiting for memory: each event reads the id
//! index, its customer (three to four cache lines), the customer's recent ids and last-sent
//! times, and its timer entry, all at random places in tens of megabytes. Prefetching them a
//! few events ahead lets those reads overlap (see `Engine::warm_ahead` and BENCHMARKS.md for
//! what it measured). A prefetch reads nothing and cannot fault, whatever the address.

/// Asks the CPU to bring the cache lines of `value` (all of them, for a value spanning
/// several) towards the core. A hint: no effect on any result.
#[inline]
pub fn prefetch<T>(value: &T) {
    prefetch_bytes((value as *const T).cast(), std::mem::size_of::<T>());
}

/// Prefetches every cache line a slice's elements span (the lookups that follow scan them
/// all: a customer's 16 recent ids are 128 bytes, two lines).
#[inline]
pub fn prefetch_slice<T>(values: &[T]) {
    prefetch_bytes(values.as_ptr().cast(), std::mem::size_of_val(values));
}

/// Every line of `len` bytes from `start`, which need not be on a line boundary: stepping
/// 64 bytes from `start` alone can miss the last line (session 12 found the customer's
/// stage and the second line of its recent ids read cold that way, a third of `apply_at`).
#[inline]
fn prefetch_bytes(start: *const u8, len: usize) {
    for line in line_starts(start as usize, len) {
        prefetch_line(start.wrapping_add(line.wrapping_sub(start as usize)));
    }
}

/// The addresses of the 64-byte lines that `len` bytes at `start` touch (one, for nothing).
fn line_starts(start: usize, len: usize) -> std::iter::StepBy<std::ops::Range<usize>> {
    (start - start % 64..start.saturating_add(len.max(1))).step_by(64)
}

#[inline]
#[allow(unsafe_code)]
fn prefetch_line(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: `_mm_prefetch` is a hint: it does not dereference `p` in the language's sense,
    // never faults, and needs only SSE, which every x86_64 CPU has.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(p.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

#[cfg(test)]
mod tests {
    use super::line_starts;

    #[test]
    fn every_line_a_value_touches_is_listed_wherever_it_starts() {
        let lines = |start, len| line_starts(start, len).collect::<Vec<_>>();
        // 184 bytes from a line boundary: three lines; from 48 bytes into one: four.
        assert_eq!(lines(1024, 184), [1024, 1088, 1152]);
        assert_eq!(lines(1024 + 48, 184), [1024, 1088, 1152, 1216]);
        // 128 bytes at 16 into a line: three lines, not the two a 64-byte stride from 16 hits.
        assert_eq!(lines(16, 128), [0, 64, 128]);
        assert_eq!(lines(64, 0), [64]);
    }
}
