//! A cache prefetch hint: the one use of `unsafe` in the crate.
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
    let start = (value as *const T).cast::<u8>();
    let mut offset = 0;
    while offset < std::mem::size_of::<T>().max(1) {
        prefetch_line(start.wrapping_add(offset));
        offset += 64;
    }
}

/// Prefetches the first cache line of a slice's elements (the lookups that follow read the
/// first few).
#[inline]
pub fn prefetch_slice<T>(values: &[T]) {
    prefetch_line(values.as_ptr().cast());
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
