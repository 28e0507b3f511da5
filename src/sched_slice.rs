//! A short scheduler slice for the threads that answer HTTP: they run for microseconds at a
//! time, but on a machine whose cores the processing loop and the broker keep busy, a woken
//! thread used to wait for the running one to finish its slice (1.4 ms on the 2-core CI
//! machine) at each of a query's hops. Linux's EEVDF scheduler (6.12 and later) lets a
//! thread ask for a shorter slice (`sched_setattr`'s `sched_runtime` under `SCHED_OTHER`):
//! it then preempts sooner when woken, and runs no longer than it asked for. Older kernels
//! accept and ignore the request; other systems have no such call. Measured with
//! `BENCH_ONLY=queries` (docs/decisions.md).
//!
//! The crate's sixth `unsafe`: one system call.
#![allow(unsafe_code)]

/// What the HTTP threads ask for: the shortest slice Linux grants (0.1 ms).
pub const SHORT_SLICE_NS: u64 = 100_000;

/// Asks for [`SHORT_SLICE_NS`] for the calling thread, logging (at DEBUG) a refusal.
pub fn request_short_slice() {
    if let Err(e) = request_slice(SHORT_SLICE_NS) {
        tracing::debug!(error = %e, "the scheduler refused a short slice for an HTTP thread");
    }
}

/// `sched_setattr`'s argument (`struct sched_attr`, its first version: 56 bytes).
#[cfg(target_os = "linux")]
#[repr(C)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
    util_min: u32,
    util_max: u32,
}

/// Asks for a slice of `ns` nanoseconds for the calling thread under `SCHED_OTHER`, at its
/// current nice value.
#[cfg(target_os = "linux")]
pub fn request_slice(ns: u64) -> std::io::Result<()> {
    // SAFETY: getpriority only reads this thread's nice value.
    let nice = unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) };
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: libc::SCHED_OTHER as u32,
        flags: 0,
        nice,
        priority: 0,
        runtime: ns,
        deadline: 0,
        period: 0,
        util_min: 0,
        util_max: 0,
    };
    // SAFETY: `attr` is a valid `struct sched_attr` of the size it says, alive for the call;
    // pid 0 is the calling thread.
    let done = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    if done == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(not(target_os = "linux"))]
pub fn request_slice(_ns: u64) -> std::io::Result<()> {
    Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// (major, minor) of the running kernel.
    fn kernel() -> (u32, u32) {
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut parts = release.split(|c: char| !c.is_ascii_digit());
        let mut next = || parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        (next(), next())
    }

    #[test]
    fn a_thread_gets_the_slice_it_asks_for() {
        std::thread::spawn(|| {
            request_slice(SHORT_SLICE_NS).expect("sched_setattr");
            if kernel() >= (6, 12) {
                let sched = std::fs::read_to_string("/proc/thread-self/sched").unwrap();
                let slice = sched
                    .lines()
                    .find(|l| l.starts_with("se.slice"))
                    .and_then(|l| l.rsplit(':').next())
                    .map(|v| v.trim().to_owned());
                assert_eq!(slice.as_deref(), Some("100000"), "{sched}");
            }
        })
        .join()
        .unwrap();
    }
}
