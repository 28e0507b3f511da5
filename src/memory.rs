//! Process-wide memory settings, made once at startup.

/// Turns transparent huge pages off for this process.
///
/// On a host whose THP `defrag` setting is `madvise` (a common default), a fault in memory
/// advised for huge pages may compact memory synchronously before it zeroes 2 MiB. On the
/// 2-core benchmark host that made first-touch memory erratic: restoring 1M customers into
/// fresh memory took 3.3 to 5.1 s with THP and 1.7 to 1.8 s without, and replay spent up to
/// 0.7 s of system time in page faults (see docs/decisions.md). The state is many small
/// records read at random, which gains little from huge pages anyway. Other OSes: no-op.
pub fn no_transparent_huge_pages() {
    #[cfg(target_os = "linux")]
    if let Err(e) = rustix::thread::disable_transparent_huge_pages(true) {
        // Not fatal: only slower first touches.
        tracing::debug!(error = %e, "could not disable transparent huge pages");
    }
}
