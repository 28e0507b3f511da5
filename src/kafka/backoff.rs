//! How long to wait before the Kafka clients are recreated after a fatal error: doubling
//! from a short first delay up to a cap, back to the first delay once the clients have run
//! well for a while, and cut short by shutdown.
//!
//! Why: a fatal error that recurs at once (a broker refusing the producer, a fenced
//! transactional id that another instance keeps taking) would otherwise recreate the clients
//! twice a second for as long as it lasts, flooding the brokers and the log.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The delays between client restarts. Pure: the caller says how long the clients ran, so
/// the schedule is tested without a clock.
#[derive(Debug, Clone)]
pub struct Backoff {
    first: Duration,
    cap: Duration,
    /// Clients that ran this long before failing count as healthy: the delay starts over.
    reset_after: Duration,
    next: Duration,
}

impl Backoff {
    /// 0.5 s, 1 s, 2 s, ... up to 30 s; back to 0.5 s after clients that ran a minute.
    pub fn for_client_restarts() -> Backoff {
        Backoff::new(
            Duration::from_millis(500),
            Duration::from_secs(30),
            Duration::from_secs(60),
        )
    }

    pub fn new(first: Duration, cap: Duration, reset_after: Duration) -> Backoff {
        Backoff {
            first,
            cap: cap.max(first),
            reset_after,
            next: first,
        }
    }

    /// The delay before the next restart of clients that failed after running `ran_for`.
    pub fn delay(&mut self, ran_for: Duration) -> Duration {
        if ran_for >= self.reset_after {
            self.next = self.first;
        }
        let delay = self.next;
        self.next = self.next.saturating_mul(2).min(self.cap);
        delay
    }
}

/// How often a wait looks at the shutdown flag (and calls its `tick`).
const STEP: Duration = Duration::from_millis(50);

/// Waits `delay` in steps of at most 50 ms, calling `tick` at each step; returns `false` as
/// soon as `stop` is set (checked before the first step too), `true` after the full delay.
pub fn wait_unless_stopped(delay: Duration, stop: &AtomicBool, mut tick: impl FnMut()) -> bool {
    let deadline = Instant::now() + delay;
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        tick();
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return true;
        }
        std::thread::sleep(left.min(STEP));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn delays_double_up_to_the_cap() {
        let mut b = Backoff::for_client_restarts();
        let delays: Vec<u128> = (0..10).map(|_| b.delay(MS).as_millis()).collect();
        assert_eq!(
            delays,
            [
                500, 1_000, 2_000, 4_000, 8_000, 16_000, 30_000, 30_000, 30_000, 30_000
            ]
        );
    }

    #[test]
    fn clients_that_ran_long_enough_start_the_delays_over() {
        let mut b = Backoff::for_client_restarts();
        for _ in 0..5 {
            b.delay(Duration::from_secs(10));
        }
        assert_eq!(b.delay(Duration::from_secs(59)), Duration::from_secs(16));
        assert_eq!(b.delay(Duration::from_secs(60)), Duration::from_millis(500));
        assert_eq!(b.delay(MS), Duration::from_secs(1));
    }

    #[test]
    fn a_cap_below_the_first_delay_keeps_the_first_delay() {
        let mut b = Backoff::new(Duration::from_secs(2), Duration::from_secs(1), MS);
        assert_eq!(b.delay(Duration::ZERO), Duration::from_secs(2));
        assert_eq!(b.delay(Duration::ZERO), Duration::from_secs(2));
    }

    #[test]
    fn a_wait_already_stopped_returns_at_once_without_ticking() {
        let stop = AtomicBool::new(true);
        let mut ticks = 0;
        let started = Instant::now();
        assert!(!wait_unless_stopped(Duration::from_secs(60), &stop, || {
            ticks += 1
        }));
        assert_eq!(ticks, 0);
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn a_wait_ends_soon_after_stop_is_set() {
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let setter = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                stop.store(true, Ordering::Relaxed);
            })
        };
        let mut ticks = 0;
        let completed = wait_unless_stopped(Duration::from_secs(60), &stop, || ticks += 1);
        let took = started.elapsed();
        setter.join().expect("setter thread");
        assert!(!completed);
        // 200 ms, one 50 ms step late at most; 5 s leaves room for a loaded machine.
        assert!(took >= Duration::from_millis(200), "{took:?}");
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert!(ticks >= 2, "ticked {ticks} times");
    }

    #[test]
    fn a_wait_not_stopped_lasts_its_delay_and_ticks_each_step() {
        let stop = AtomicBool::new(false);
        let started = Instant::now();
        let mut ticks = 0;
        assert!(wait_unless_stopped(
            Duration::from_millis(300),
            &stop,
            || ticks += 1
        ));
        assert!(started.elapsed() >= Duration::from_millis(300));
        // One tick per step, not one long sleep (how many depends on the scheduler).
        assert!(ticks >= 2, "ticked {ticks} times");
    }
}
