//! Fencing without broker transactions (`at_least_once`): an instance paused past its
//! session timeout (SIGSTOP) loses its partitions to another instance; when it resumes it must
//! not write outputs or changelog records for them any more, and nothing it had in flight
//! may change the state its successors restore. Then the outputs (without byte-identical
//! copies) and the state a restore of the changelog gives equal replay's.

mod support;

use support::compare::*;
use support::*;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

const PARTITIONS: u32 = 4;
/// Longer than the session timeout (6 s in `service_config`).
const PAUSE: Duration = Duration::from_secs(10);

const ASSIGNED: &str = "partitions assigned, restoring";

/// Assignments of every partition at once, in a service's log.
fn took_all(service: &Service) -> usize {
    service
        .log_text()
        .lines()
        .filter(|l| l.contains(ASSIGNED) && l.contains("{0, 1, 2, 3}"))
        .count()
}

fn restored_count(service: &Service) -> usize {
    service.log_text().matches("partition restored").count()
}

#[test]
fn an_instance_paused_past_its_session_timeout_neither_loses_nor_corrupts_state() {
    let broker = Broker::start();
    let topics = TestTopics::new("paused");
    topics.create(&broker, PARTITIONS);
    let lines = ordered_stream(3_000, 77, PARTITIONS);
    let third = lines.len() / 3;
    let (part1, rest) = lines.split_at(third);
    let (part2, part3) = rest.split_at(third);
    let group = "paused-group";
    let config = service_config(&broker, &topics, group, "max_batch_events = 300")
        + "\"max.poll.interval.ms\" = \"7000\"\n";
    let caught_up = || group_caught_up(&broker, group, &topics.input, PARTITIONS);
    let old_build = std::env::var("LIFECYCLE_OLD_BIN").is_ok();

    let mut a = Service::start(broker.dir.path(), "a", &config);
    let mut b = Service::start(broker.dir.path(), "b", &config);
    produce_lines(&broker, &topics.input, PARTITIONS, part1);
    wait_for(
        "both instances to own partitions",
        Duration::from_secs(120),
        || {
            assert!(a.is_running(), "a died:\n{}", a.log_text());
            assert!(b.is_running(), "b died:\n{}", b.log_text());
            restored_count(&a) > 0 && restored_count(&b) > 0 && caught_up()
        },
    );

    // Each instance in turn is paused while it works, long enough to be removed from the
    // group; the other takes all its partitions over, and then it resumes and rejoins.
    for (round, part) in [part2, part3].into_iter().enumerate() {
        let (paused, other) = match round {
            0 => (&mut a, &mut b),
            _ => (&mut b, &mut a),
        };
        let other_took_all = took_all(other);
        let paused_assigned = paused.log_text().matches(ASSIGNED).count();
        produce_lines(&broker, &topics.input, PARTITIONS, &part[..part.len() / 2]);
        paused.pause();
        let paused_at = Instant::now();
        produce_lines(&broker, &topics.input, PARTITIONS, &part[part.len() / 2..]);
        wait_for(
            "the other instance to take every partition over",
            PAUSE + Duration::from_secs(60),
            || {
                assert!(other.is_running(), "died:\n{}", other.log_text());
                took_all(other) > other_took_all
            },
        );
        // The pause's length is what this test is about: past the session timeout.
        std::thread::sleep(PAUSE.saturating_sub(paused_at.elapsed()));
        paused.resume();
        wait_for(
            "the resumed instance to rejoin, restore its share and catch up",
            Duration::from_secs(180),
            || {
                assert!(paused.is_running(), "died:\n{}", paused.log_text());
                assert!(other.is_running(), "died:\n{}", other.log_text());
                let log = paused.log_text();
                log.matches(ASSIGNED).count() > paused_assigned
                    && log.matches("partition restored").count() > 0
                    && !log.trim_end().ends_with("restoring")
                    && caught_up()
            },
        );
    }
    // The resumed instances learnt they were no longer members (LIFECYCLE_OLD_BIN=1
    // skips this, to run the rest of the test against a build from before fencing).
    for s in [&a, &b] {
        let log = s.log_text();
        // Either its own confirmation was refused, or librdkafka's session check got there
        // first and revoked the partitions as lost.
        assert!(
            old_build
                || log.contains("group membership could not be confirmed")
                || log.contains("session timed out"),
            "a resumed instance found it was no longer a member:\n{log}"
        );
        let fenced: usize = log
            .lines()
            .filter(|l| l.contains("partition restored"))
            .filter_map(|l| l.split("fenced=").nth(1))
            .filter_map(|r| r.split_whitespace().next()?.parse::<usize>().ok())
            .sum();
        eprintln!("restores skipped {fenced} records of ended owner epochs");
    }
    if std::env::var("SHOW_LOGS").is_ok() {
        eprintln!("== a\n{}\n== b\n{}", a.log_text(), b.log_text());
    }
    assert!(a.terminate(), "a shut down cleanly:\n{}", a.log_text());
    assert!(b.terminate(), "b shut down cleanly:\n{}", b.log_text());

    let consumed = read_all(&broker, &topics.outputs_and_state());
    // Only byte-identical duplicates: one payload per action id.
    let mut by_id: BTreeMap<String, &Vec<u8>> = BTreeMap::new();
    for m in consumed
        .iter()
        .filter(|m| m.topic != topics.transitions && m.topic != topics.state)
    {
        let payload = m.payload.as_ref().expect("an action has a payload");
        let v: serde_json::Value = serde_json::from_slice(payload).unwrap();
        let id = v["action_id"].as_str().unwrap().to_string();
        let first = by_id.entry(id.clone()).or_insert(payload);
        assert_eq!(
            *first, payload,
            "two different records share action_id {id}"
        );
    }
    let (expected, expected_states) = replay_outputs(&lines);
    let actual = kafka_outputs(&consumed, &topics, true);
    if let Some(diff) = expected.first_difference(&actual) {
        panic!("Kafka output differs from replay (left: replay, right: Kafka)\n{diff}");
    }
    let restored = restored_states(&consumed, &topics);
    if let Some(diff) = first_state_difference(&expected_states, &restored) {
        panic!("restored state differs from replay (left: replay, right: restore)\n{diff}");
    }
    // Progress never goes backwards within an owner epoch.
    let mut last: BTreeMap<(i32, u64), i64> = BTreeMap::new();
    for m in consumed
        .iter()
        .filter(|m| m.topic == topics.state && m.key.as_deref() == Some(b"\0partition"))
    {
        let meta: lifecycle::kafka::codec::PartitionMeta =
            serde_json::from_slice(m.payload.as_deref().unwrap()).unwrap();
        if let Some(applied) = meta.applied_offset {
            let slot = last.entry((m.partition, meta.epoch)).or_insert(applied);
            assert!(
                applied >= *slot,
                "partition {} epoch {}: applied offset {applied} after {slot}",
                m.partition,
                meta.epoch
            );
            *slot = applied;
        }
    }
}
