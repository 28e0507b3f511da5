//! Liveness and readiness, shared by the processing loop (which reports) and the HTTP
//! endpoints (which answer).

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

#[derive(Debug)]
pub struct Health {
    /// When the processing loop last went round (ms since the epoch); 0 before it starts.
    heartbeat_ms: AtomicU64,
    /// The consumer has received its first assignment.
    assigned: AtomicBool,
    /// Assigned partitions whose state is still being restored.
    restoring: AtomicUsize,
    /// The producer is usable (false after a fatal error, until the clients are recreated).
    producer_ok: AtomicBool,
    /// A loop silent for longer than this is stuck.
    stuck_after: Duration,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

impl Health {
    pub fn new(stuck_after: Duration) -> Health {
        Health {
            heartbeat_ms: AtomicU64::new(now_ms()),
            assigned: AtomicBool::new(false),
            restoring: AtomicUsize::new(0),
            producer_ok: AtomicBool::new(true),
            stuck_after,
        }
    }

    pub fn beat(&self) {
        self.heartbeat_ms.store(now_ms(), Ordering::Relaxed);
    }

    pub fn set_assigned(&self) {
        self.assigned.store(true, Ordering::Relaxed);
    }

    /// The clients are being recreated: not ready until the new consumer has its first
    /// assignment (and has restored it).
    pub fn set_unassigned(&self) {
        self.assigned.store(false, Ordering::Relaxed);
    }

    pub fn set_restoring(&self, n: usize) {
        self.restoring.store(n, Ordering::Relaxed);
    }

    pub fn set_producer_ok(&self, ok: bool) {
        self.producer_ok.store(ok, Ordering::Relaxed);
    }

    /// The process is alive and its loop is not stuck.
    pub fn alive(&self) -> bool {
        now_ms().saturating_sub(self.heartbeat_ms.load(Ordering::Relaxed))
            <= self.stuck_after.as_millis() as u64
    }

    /// Joined the group, every assigned partition restored, the producer usable.
    pub fn ready(&self) -> bool {
        self.alive()
            && self.assigned.load(Ordering::Relaxed)
            && self.restoring.load(Ordering::Relaxed) == 0
            && self.producer_ok.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_only_after_assignment_and_restoration() {
        let h = Health::new(Duration::from_secs(30));
        assert!(h.alive() && !h.ready());
        h.set_assigned();
        h.set_restoring(2);
        assert!(!h.ready());
        h.set_restoring(0);
        assert!(h.ready());
        h.set_producer_ok(false);
        assert!(!h.ready());
        // Clients recreated: a new producer alone is not ready; the new consumer's first
        // assignment is awaited again.
        h.set_unassigned();
        h.set_producer_ok(true);
        assert!(!h.ready());
        h.set_assigned();
        assert!(h.ready());
    }

    #[test]
    fn a_silent_loop_is_not_alive() {
        let h = Health::new(Duration::ZERO);
        h.heartbeat_ms.store(1, Ordering::Relaxed);
        assert!(!h.alive());
    }
}
