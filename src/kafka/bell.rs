//! A doorbell for the processing loop. Its two ends are a socket pair: the HTTP handlers ring
//! it when they hand the loop a query, and librdkafka rings it when the consumer's queue gets
//! something to poll (see [`idle_wait`](super::idle_wait)); the loop waits on it while it has
//! nothing to do. Before it, an idle loop noticed a query only when its 5 ms poll timed out,
//! so a query waited 2.5 ms on average and 5 ms at worst on an idle input
//! (`BENCH_ONLY=queries`, docs/decisions.md).

use std::io::{Read, Write};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::time::Duration;

use rustix::event::{PollFd, PollFlags, Timespec, poll};

/// Cheap to clone; every clone rings and waits on the same pair.
#[derive(Debug, Clone)]
pub struct Bell(Option<Arc<Ends>>);

#[derive(Debug)]
struct Ends {
    /// Written to by whoever rings (non-blocking: a full buffer means it rings already).
    ring: UnixStream,
    /// Read by the loop.
    listen: UnixStream,
}

impl Default for Bell {
    fn default() -> Bell {
        Bell::new()
    }
}

impl Bell {
    /// A new bell, or, when the process has no socket to spare, one that never rings (the
    /// loop then falls back to waiting in its poll, as before the bell).
    pub fn new() -> Bell {
        let ends = UnixStream::pair().and_then(|(ring, listen)| {
            ring.set_nonblocking(true)?;
            listen.set_nonblocking(true)?;
            Ok(Ends { ring, listen })
        });
        match ends {
            Ok(ends) => Bell(Some(Arc::new(ends))),
            Err(e) => {
                tracing::warn!(error = %e, "no socket pair for the loop's bell: an idle loop notices queries only when its poll times out");
                Bell(None)
            }
        }
    }

    pub fn ring(&self) {
        if let Some(ends) = &self.0 {
            // Full (WouldBlock): it rings already.
            let _ = (&ends.ring).write(&[1]);
        }
    }

    /// The end others write to, for librdkafka; `None` for a bell that never rings.
    pub fn ring_fd(&self) -> Option<RawFd> {
        self.0.as_ref().map(|ends| ends.ring.as_raw_fd())
    }

    /// Waits until the bell rings or `timeout` passes, unless `ready()`, asked after the
    /// rings so far are forgotten, says there is something to do already (a ring after that
    /// question ends the wait at once, so none is lost). Returns at once for a bell that
    /// never rings.
    pub fn wait(&self, timeout: Duration, ready: impl FnOnce() -> bool) {
        let Some(ends) = &self.0 else {
            return;
        };
        let mut rings = [0u8; 256];
        while (&ends.listen)
            .read(&mut rings)
            .is_ok_and(|n| n == rings.len())
        {}
        if ready() {
            return;
        }
        let timeout = Timespec::try_from(timeout).unwrap_or(Timespec {
            tv_sec: 1,
            tv_nsec: 0,
        });
        // An error (a signal, EINTR) ends the wait early, which is harmless.
        let _ = poll(
            &mut [PollFd::new(&ends.listen, PollFlags::IN)],
            Some(&timeout),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_ring_ends_a_wait_and_a_ring_before_it_too() {
        let bell = Bell::new();
        assert!(bell.ring_fd().is_some());
        // Rung from another thread while waiting.
        let ringer = {
            let bell = bell.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(50));
                bell.ring();
            })
        };
        let started = Instant::now();
        bell.wait(Duration::from_secs(60), || false);
        assert!(started.elapsed() < Duration::from_secs(60));
        ringer.join().unwrap();
        // Rung after the readiness question: the wait returns without waiting it out.
        let started = Instant::now();
        bell.wait(Duration::from_secs(60), || {
            bell.ring();
            false
        });
        assert!(started.elapsed() < Duration::from_secs(60));
    }

    #[test]
    fn old_rings_are_forgotten_and_ready_work_skips_the_wait() {
        let bell = Bell::new();
        for _ in 0..1000 {
            bell.ring();
        }
        // The rings before the wait are drained: this wait times out.
        let started = Instant::now();
        bell.wait(Duration::from_millis(30), || false);
        assert!(started.elapsed() >= Duration::from_millis(30));
        let mut asked = false;
        bell.wait(Duration::from_secs(60), || {
            asked = true;
            true
        });
        assert!(asked);
    }
}
