//! Shutdown is a protocol with a deadline (src/shutdown.rs, `lifecycle run`): the first
//! SIGTERM/SIGINT finishes and commits the batch, leaves the group and exits 0 within
//! `kafka.shutdown_timeout_ms`; a shutdown that cannot finish exits at the deadline with
//! status 130; a second signal exits at once with status 130.
//!
//! Each test keeps a batch open when the signal comes: `commit_interval_ms` is ten minutes,
//! so a drained input would be committed only after a minute (a tenth of the interval).

mod support;

use support::compare::*;
use support::*;

use std::time::{Duration, Instant};

const PARTITIONS: u32 = 4;
/// `lifecycle::shutdown::FORCED_EXIT`: the status of a forced exit (deadline or second signal).
const FORCED_EXIT: i32 = lifecycle::shutdown::FORCED_EXIT;

/// A service with an open batch holding every event of `lines`: started, fed, and waited
/// for until it has handled them all (by its metrics), with none of them committed yet.
fn service_with_open_batch(
    broker: &Broker,
    topics: &TestTopics,
    group: &str,
    name: &str,
    lines: &[String],
    shutdown_timeout_ms: u64,
) -> Service {
    topics.create(broker, PARTITIONS);
    let config = service_config(broker, topics, group, "")
        .replace("commit_interval_ms = 50", "commit_interval_ms = 600000")
        .replace(
            "shutdown_timeout_ms = 10000",
            &format!("shutdown_timeout_ms = {shutdown_timeout_ms}"),
        );
    assert!(config.contains("commit_interval_ms = 600000"));
    assert!(config.contains(&format!("shutdown_timeout_ms = {shutdown_timeout_ms}\n")));
    let mut service = Service::start(broker.dir.path(), name, &config);
    service.wait_ready(Duration::from_secs(60));
    produce_lines(broker, &topics.input, PARTITIONS, lines);
    wait_for(
        "the service to handle every event",
        Duration::from_secs(60),
        || {
            assert!(service.is_running(), "died:\n{}", service.log_text());
            metric_sum(&service.metrics_text(), "lifecycle_events_total") as usize == lines.len()
        },
    );
    assert!(
        !group_caught_up(broker, group, &topics.input, PARTITIONS),
        "the batch is still open (nothing committed yet)"
    );
    service
}

#[test]
fn sigterm_commits_the_open_batch_and_exits_zero_within_the_deadline() {
    let broker = Broker::start();
    let topics = TestTopics::new("term");
    let group = "term-group";
    let lines = ordered_stream(150, 21, PARTITIONS);
    let mut service = service_with_open_batch(&broker, &topics, group, "term", &lines, 10_000);

    let signalled = Instant::now();
    service.signal("TERM");
    let status = service
        .wait_exit(Duration::from_secs(30))
        .unwrap_or_else(|| panic!("still running 30 s after SIGTERM:\n{}", service.log_text()));
    let took = signalled.elapsed();
    eprintln!("exited with {status} {took:?} after SIGTERM");
    assert!(status.success(), "{status}:\n{}", service.log_text());
    assert!(
        took < Duration::from_millis(10_000),
        "took {took:?}, past kafka.shutdown_timeout_ms (10 s)"
    );
    assert!(
        group_caught_up(&broker, group, &topics.input, PARTITIONS),
        "the final commit covers every handled event"
    );
    let consumed = read_all(
        &broker,
        &[
            &topics.transitions,
            &topics.care,
            &topics.retention,
            &topics.marketing,
            &topics.state,
        ],
    );
    // Outputs and the changelog of the final batch are complete: equal to replay's.
    assert_matches_replay(&consumed, &topics, &lines, false);
}

#[test]
fn a_shutdown_that_cannot_commit_exits_at_the_deadline_with_status_130() {
    let mut broker = Broker::start();
    let topics = TestTopics::new("deadline");
    let group = "deadline-group";
    let lines = ordered_stream(50, 22, PARTITIONS);
    let mut service = service_with_open_batch(&broker, &topics, group, "deadline", &lines, 3_000);

    // No broker: the final batch's changelog and offsets cannot be written.
    broker.stop();
    let signalled = Instant::now();
    service.signal("TERM");
    let status = service
        .wait_exit(Duration::from_secs(3 + 15))
        .unwrap_or_else(|| {
            panic!(
                "still running 18 s after SIGTERM with a 3 s deadline:\n{}",
                service.log_text()
            )
        });
    let took = signalled.elapsed();
    eprintln!("exited with {status} {took:?} after SIGTERM");
    let log = service.log_text();
    assert_eq!(status.code(), Some(FORCED_EXIT), "{status}:\n{log}");
    assert!(
        log.contains("shutting down: committing the last batch"),
        "it was in its final commit: {log}"
    );
    assert!(log.contains("shutdown deadline passed"), "{log}");
    assert!(
        took >= Duration::from_millis(2_900),
        "exited after {took:?}, before the 3 s deadline"
    );
    assert!(
        took < Duration::from_secs(3 + 5),
        "exited {took:?} after SIGTERM, long past the 3 s deadline"
    );
}

#[test]
fn a_second_signal_during_a_hanging_shutdown_exits_at_once() {
    let mut broker = Broker::start();
    let topics = TestTopics::new("second");
    let group = "second-group";
    let lines = ordered_stream(50, 23, PARTITIONS);
    let mut service = service_with_open_batch(&broker, &topics, group, "second", &lines, 60_000);

    broker.stop();
    let first = Instant::now();
    service.signal("TERM");
    wait_for(
        "the service to start its shutdown",
        Duration::from_secs(10),
        || {
            let log = service.log_text();
            log.contains("shutdown requested") && log.contains("shutting down")
        },
    );
    assert!(
        service.is_running(),
        "the shutdown was to hang without a broker:\n{}",
        service.log_text()
    );
    let second = Instant::now();
    service.signal("INT");
    let status = service
        .wait_exit(Duration::from_secs(10))
        .unwrap_or_else(|| {
            panic!(
                "still running 10 s after the second signal:\n{}",
                service.log_text()
            )
        });
    let took = second.elapsed();
    eprintln!(
        "exited with {status} {took:?} after the second signal, {:?} after the first",
        first.elapsed()
    );
    let log = service.log_text();
    assert_eq!(status.code(), Some(FORCED_EXIT), "{status}:\n{log}");
    assert!(log.contains("second signal: exiting now"), "{log}");
    assert!(
        took < Duration::from_secs(3),
        "took {took:?} after the second signal"
    );
    assert!(
        first.elapsed() < Duration::from_secs(30),
        "well before the 60 s deadline"
    );
}
