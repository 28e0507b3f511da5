//! Crash safety, after the template of Kafka's own transactions system test: the service is
//! killed with SIGKILL at random moments while it works through a stream of more than 100k
//! events, and restarted each time; a verifier then compares every output and the final
//! changelog with replay of the same stream.

mod support;

use support::compare::*;
use support::*;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

const PARTITIONS: u32 = 4;
const KILLS: usize = 6;

/// A small deterministic generator for the kill moments (no clock-seeded randomness, so a
/// failure can be re-run as it was).
struct Moments(u64);

impl Moments {
    fn next_ms(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        lo + (self.0 >> 33) % (hi - lo)
    }
}

#[test]
fn killing_the_service_repeatedly_loses_no_action_and_duplicates_only_identical_copies() {
    let broker = Broker::start();
    let topics = TestTopics::new("crash");
    topics.create(&broker, PARTITIONS);
    let lines = ordered_stream(11_000, 5, PARTITIONS);
    assert!(
        lines.len() >= 100_000,
        "the stream has {} events",
        lines.len()
    );
    // The stream goes in in parts, one more while each incarnation runs, so it cannot be
    // done before the planned kills (a fast build got through all of it after two or three).
    let parts: Vec<&[String]> = lines.chunks(lines.len().div_ceil(KILLS + 1)).collect();
    produce_lines(&broker, &topics.input, PARTITIONS, parts[0]);
    let mut produced = 1;

    let config = service_config(&broker, &topics, "crash-group", "max_batch_events = 2000");
    let mut moments = Moments(0x5eed);
    let mut kills = 0;
    for round in 0..KILLS {
        let mut service = Service::start(broker.dir.path(), "crash", &config);
        // Kill only once this incarnation is past restoring and processing, at a random
        // moment after that.
        let restored_before = service.log_text().matches("partition restored").count();
        wait_for(
            "the service to restore its partitions",
            Duration::from_secs(120),
            || {
                assert!(
                    service.is_running(),
                    "service died:\n{}",
                    service.log_text()
                );
                service.log_text().matches("partition restored").count() > restored_before
            },
        );
        if let Some(part) = parts.get(produced) {
            produce_lines(&broker, &topics.input, PARTITIONS, part);
            produced += 1;
        }
        if produced == parts.len()
            && group_caught_up(&broker, "crash-group", &topics.input, PARTITIONS)
        {
            break;
        }
        std::thread::sleep(Duration::from_millis(moments.next_ms(50, 1500)));
        service.kill9();
        kills += 1;
        eprintln!("round {round}: killed");
    }
    for part in &parts[produced..] {
        produce_lines(&broker, &topics.input, PARTITIONS, part);
    }
    let mut service = Service::start(broker.dir.path(), "crash", &config);
    wait_processed(&broker, &mut service, "crash-group", &topics, PARTITIONS);
    service.stop_cleanly();
    assert!(
        kills >= 5,
        "only {kills} kills happened before the stream was done"
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
    let (expected, _) = replay_outputs(&lines);

    // Every copy of an action id is byte-identical to the first.
    let mut by_id: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut copies = 0;
    for m in consumed
        .iter()
        .filter(|m| m.topic != topics.transitions && m.topic != topics.state)
    {
        let payload = m.payload.clone().expect("an action has a payload");
        let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
        let id = v["action_id"].as_str().unwrap().to_string();
        match by_id.get(&id) {
            Some(first) => {
                copies += 1;
                assert_eq!(
                    first, &payload,
                    "two different records share action_id {id}"
                );
            }
            None => {
                by_id.insert(id, payload);
            }
        }
    }
    let expected_ids: BTreeSet<String> = expected
        .actions
        .values()
        .flatten()
        .map(|a| a["action_id"].as_str().unwrap().to_string())
        .collect();
    let actual_ids: BTreeSet<String> = by_id.keys().cloned().collect();
    assert_eq!(
        expected_ids.difference(&actual_ids).count(),
        0,
        "action ids lost: {:?}",
        expected_ids
            .difference(&actual_ids)
            .take(5)
            .collect::<Vec<_>>()
    );
    assert_eq!(actual_ids, expected_ids, "no action id beyond replay's");
    eprintln!("{kills} kills, {copies} re-sent action copies");

    assert_matches_replay(&consumed, &topics, &lines, true);
}
