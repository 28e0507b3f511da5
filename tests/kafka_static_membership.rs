//! Static membership (`group.instance.id`, KIP-345) through the librdkafka passthrough:
//! an instance restarted with the same id takes its partitions back without a rebalance,
//! so the other instances keep theirs, and the output still equals replay's.

mod support;

use support::compare::*;
use support::*;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

const PARTITIONS: u32 = 4;

/// A service config with static membership: `instance` as `group.instance.id`, and
/// `session_ms` as the session timeout (how long the group waits for a member that stopped
/// heartbeating).
fn static_config(
    broker: &Broker,
    topics: &TestTopics,
    group: &str,
    instance: &str,
    session_ms: u32,
) -> String {
    let config = service_config(broker, topics, group, "").replace(
        "\"session.timeout.ms\" = \"6000\"",
        &format!("\"session.timeout.ms\" = \"{session_ms}\""),
    );
    assert!(config.contains(&format!("\"session.timeout.ms\" = \"{session_ms}\"")));
    // The passthrough table is the config's last one.
    assert!(
        config
            .trim_end()
            .ends_with("\"heartbeat.interval.ms\" = \"500\"")
    );
    config + &format!("\"group.instance.id\" = \"{instance}\"\n")
}

/// The rebalance lines of a service log: "partitions assigned, restoring" and
/// "partitions revoked" (src/kafka/processor.rs).
fn rebalance_lines(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("partitions assigned") || l.contains("partitions revoked"))
        .map(plain)
        .collect()
}

/// `line` without its ANSI colour sequences (the text log colours field names).
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters final-letter
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The partition sets of the "partitions assigned" lines, in order.
fn assignments(log: &str) -> Vec<BTreeSet<i32>> {
    log.lines()
        .filter(|l| l.contains("partitions assigned"))
        .map(plain)
        .map(|l| {
            let set = l
                .split_once("partitions={")
                .and_then(|(_, rest)| rest.split_once('}'))
                .map(|(set, _)| set)
                .unwrap_or_else(|| panic!("no partition set in {l}"));
            set.split(',')
                .filter(|p| !p.trim().is_empty())
                .map(|p| p.trim().parse().expect("a partition number"))
                .collect()
        })
        .collect()
}

fn assigned_gauge(service: &Service) -> Option<f64> {
    metric(
        &service.metrics_text(),
        r#"lifecycle_partitions{state="assigned"}"#,
    )
}

/// Two static members, `instance-a` and `instance-b`, sharing the 4 partitions, with the
/// first half of the stream processed.
struct Pair {
    broker: Broker,
    topics: TestTopics,
    lines: Vec<String>,
    config_a: String,
    a: Service,
    b: Service,
    /// a's partitions, and what b had seen of rebalances and restores, before a stopped.
    a_had: BTreeSet<i32>,
    b_rebalances: Vec<String>,
    b_restored: Option<f64>,
}

const GROUP: &str = "static-group";

impl Pair {
    fn start(prefix: &str, session_ms: u32) -> Pair {
        let broker = Broker::start();
        let topics = TestTopics::new(prefix);
        topics.create(&broker, PARTITIONS);
        let lines = ordered_stream(200, 31, PARTITIONS);
        let dir = broker.dir.path();
        let config_a = static_config(&broker, &topics, GROUP, "instance-a", session_ms);
        let config_b = static_config(&broker, &topics, GROUP, "instance-b", session_ms);
        let mut a = Service::start(dir, "a", &config_a);
        a.wait_ready(Duration::from_secs(60));
        let mut b = Service::start(dir, "b", &config_b);
        wait_for(
            "the two instances to share the partitions",
            Duration::from_secs(60),
            || {
                assert!(a.is_running(), "a died:\n{}", a.log_text());
                assert!(b.is_running(), "b died:\n{}", b.log_text());
                assigned_gauge(&a) == Some(2.0)
                    && assigned_gauge(&b) == Some(2.0)
                    && a.is_ready()
                    && b.is_ready()
            },
        );
        produce_lines(
            &broker,
            &topics.input,
            PARTITIONS,
            &lines[..lines.len() / 2],
        );
        wait_processed(&broker, &mut b, GROUP, &topics, PARTITIONS);
        let a_had = assignments(&a.log_text()).pop().expect("a was assigned");
        let b_has = assignments(&b.log_text()).pop().expect("b was assigned");
        assert_eq!(a_had.len(), 2, "{a_had:?}");
        assert!(a_had.is_disjoint(&b_has), "{a_had:?} and {b_has:?}");
        let b_rebalances = rebalance_lines(&b.log_text());
        let b_restored = metric(&b.metrics_text(), "lifecycle_restore_records_total");
        Pair {
            broker,
            topics,
            lines,
            config_a,
            a,
            b,
            a_had,
            b_rebalances,
            b_restored,
        }
    }

    fn produce_second_half(&self) {
        let second = &self.lines[self.lines.len() / 2..];
        produce_lines(&self.broker, &self.topics.input, PARTITIONS, second);
    }

    /// a, restarted with the same group.instance.id, took its partitions back in one
    /// assignment, and b saw no rebalance and restored nothing again.
    fn assert_no_rebalance(&self, a2: &Service) {
        let a2_log = a2.log_text();
        assert_eq!(
            assignments(&a2_log),
            std::slice::from_ref(&self.a_had),
            "the restarted instance got its partitions back, in one assignment:\n{a2_log}"
        );
        assert!(
            !a2_log.contains("partitions revoked"),
            "the restarted instance was not rebalanced:\n{a2_log}"
        );
        assert_eq!(
            rebalance_lines(&self.b.log_text()),
            self.b_rebalances,
            "the other instance saw no rebalance while a restarted"
        );
        assert_eq!(
            metric(&self.b.metrics_text(), "lifecycle_restore_records_total"),
            self.b_restored,
            "the other instance restored nothing again"
        );
    }

    /// Outputs and changelog equal replay's (`dedupe`: without byte-identical copies).
    fn assert_matches_replay(&self, dedupe: bool) {
        let t = &self.topics;
        let consumed = read_all(
            &self.broker,
            &[
                &t.transitions,
                &t.care,
                &t.retention,
                &t.marketing,
                &t.state,
            ],
        );
        assert_matches_replay(&consumed, t, &self.lines, dedupe);
    }
}

#[test]
fn an_instance_restarted_with_its_group_instance_id_gets_its_partitions_back_without_a_rebalance() {
    let mut pair = Pair::start("static", 20_000);
    // A clean restart of a with the same group.instance.id (well within the session timeout).
    pair.a.stop_cleanly();
    let mut a2 = Service::start(pair.broker.dir.path(), "a-restarted", &pair.config_a);
    a2.wait_ready(Duration::from_secs(60));
    pair.produce_second_half();
    wait_processed(&pair.broker, &mut a2, GROUP, &pair.topics, PARTITIONS);
    pair.assert_no_rebalance(&a2);
    a2.stop_cleanly();
    pair.b.stop_cleanly();
    // The clean stop committed everything: no copies either.
    pair.assert_matches_replay(false);
}

/// A crash (SIGKILL, no goodbye) and a restart within the session timeout: the container
/// restart a kubelet does.
#[test]
fn an_instance_restarted_after_a_crash_within_the_session_timeout_gets_its_partitions_back() {
    let mut pair = Pair::start("static-crash", 20_000);
    pair.produce_second_half();
    pair.a.kill9();
    let mut a2 = Service::start(pair.broker.dir.path(), "a-restarted", &pair.config_a);
    a2.wait_ready(Duration::from_secs(60));
    wait_processed(&pair.broker, &mut a2, GROUP, &pair.topics, PARTITIONS);
    pair.assert_no_rebalance(&a2);
    a2.stop_cleanly();
    pair.b.stop_cleanly();
    pair.assert_matches_replay(true);
}

/// The price of static membership: a member that stops and does not come back keeps its
/// partitions, unprocessed, until its session times out; then the other instance takes them
/// over, and nothing is lost.
#[test]
fn a_static_member_that_does_not_return_keeps_its_partitions_until_its_session_times_out() {
    const SESSION_MS: u32 = 6_000;
    let mut pair = Pair::start("static-gone", SESSION_MS);
    let stopped = Instant::now();
    pair.a.stop_cleanly();
    pair.produce_second_half();
    wait_for(
        "the other instance to take every partition",
        Duration::from_secs(60),
        || {
            assert!(pair.b.is_running(), "b died:\n{}", pair.b.log_text());
            assigned_gauge(&pair.b) == Some(f64::from(PARTITIONS))
        },
    );
    let waited = stopped.elapsed();
    eprintln!("b took a's partitions {waited:?} after a stopped (session timeout {SESSION_MS} ms)");
    // a stopped heartbeating at most one heartbeat interval (500 ms) before it stopped.
    assert!(
        waited >= Duration::from_millis(u64::from(SESSION_MS) - 500),
        "a's partitions moved after {waited:?}, before its session ({SESSION_MS} ms) timed out: \
         a clean stop left the group"
    );
    wait_processed(&pair.broker, &mut pair.b, GROUP, &pair.topics, PARTITIONS);
    pair.b.stop_cleanly();
    pair.assert_matches_replay(false);
}

/// Two instances with one `group.instance.id` (a fixed id in a shared config, or a pod
/// force-deleted while still running): the broker fences the older one (FENCED_INSTANCE_ID),
/// and that one must not go on looking healthy while it processes nothing.
///
/// librdkafka raises a fatal consumer error; the service stops with an error naming it
/// (before session 17 it logged a warning and went on polling, reporting ready).
#[test]
fn an_instance_fenced_by_another_with_the_same_group_instance_id_stops_reporting_ready() {
    let broker = Broker::start();
    let topics = TestTopics::new("fenced");
    topics.create(&broker, PARTITIONS);
    let config = static_config(&broker, &topics, "fenced-group", "same-id", 6_000);
    let mut older = Service::start(broker.dir.path(), "older", &config);
    older.wait_ready(Duration::from_secs(60));
    let mut newer = Service::start(broker.dir.path(), "newer", &config);
    newer.wait_ready(Duration::from_secs(60));
    wait_for(
        "the older instance to be fenced",
        Duration::from_secs(30),
        || older.log_text().contains("FencedInstanceId"),
    );
    wait_for(
        "the fenced instance to exit or stop reporting ready",
        Duration::from_secs(30),
        || !older.is_running() || !older.is_ready(),
    );
    // The newer instance holds the membership and processes the input.
    let lines = ordered_stream(20, 41, PARTITIONS);
    produce_lines(&broker, &topics.input, PARTITIONS, &lines);
    wait_processed(&broker, &mut newer, "fenced-group", &topics, PARTITIONS);
    newer.stop_cleanly();
}
