//! Rebalancing: instances of one group share the partitions; one joins and one leaves while
//! the stream flows, and the result still equals replay. Partition state moves through the
//! changelog: the leaving owner commits on revocation, the new owner restores first. Once with
//! librdkafka's default (eager) assignment, once with `cooperative-sticky`, where an instance
//! keeps its other partitions through a rebalance.

mod support;

use support::compare::*;
use support::*;

use std::time::Duration;

const PARTITIONS: u32 = 6;

fn restored_count(service: &Service) -> usize {
    service.log_text().matches("partition restored").count()
}

#[test]
fn instances_joining_and_leaving_mid_stream_give_the_replay_result() {
    joining_and_leaving("rebalance", "");
}

#[test]
fn cooperative_rebalancing_gives_the_replay_result() {
    joining_and_leaving(
        "cooperative",
        "\"partition.assignment.strategy\" = \"cooperative-sticky\"\n",
    );
}

/// `librdkafka`: lines added to the `[kafka.librdkafka]` table, the config's last.
fn joining_and_leaving(name: &str, librdkafka: &str) {
    let broker = Broker::start();
    let topics = TestTopics::new(name);
    topics.create(&broker, PARTITIONS);
    let lines = ordered_stream(3_000, 21, PARTITIONS);
    let third = lines.len() / 3;
    let (part1, rest) = lines.split_at(third);
    let (part2, part3) = rest.split_at(third);
    let cooperative = librdkafka.contains("cooperative");
    let group = format!("{name}-group");
    let config = service_config(&broker, &topics, &group, "") + librdkafka;
    let caught_up = || group_caught_up(&broker, &group, &topics.input, PARTITIONS);

    let mut a = Service::start(broker.dir.path(), "a", &config);
    produce_lines(&broker, &topics.input, PARTITIONS, part1);
    wait_for(
        "instance a to own all partitions",
        Duration::from_secs(120),
        || {
            assert!(a.is_running(), "a died:\n{}", a.log_text());
            restored_count(&a) == PARTITIONS as usize
        },
    );

    // b joins: the partitions are shared out again.
    let mut b = Service::start(broker.dir.path(), "b", &config);
    wait_for(
        "instance b to get partitions",
        Duration::from_secs(120),
        || {
            assert!(b.is_running(), "b died:\n{}", b.log_text());
            restored_count(&b) > 0
        },
    );
    if cooperative {
        // a gave up only some of its partitions and kept the others (its log line ends with
        // the list of those remaining).
        let log = a.log_text();
        assert!(
            log.lines()
                .any(|l| l.contains("partitions revoked") && !l.trim_end().ends_with("[]")),
            "a kept partitions through the rebalance:\n{log}"
        );
    }
    produce_lines(&broker, &topics.input, PARTITIONS, part2);
    wait_for(
        "the first two thirds to be committed",
        Duration::from_secs(120),
        || {
            assert!(a.is_running(), "a died:\n{}", a.log_text());
            assert!(b.is_running(), "b died:\n{}", b.log_text());
            caught_up()
        },
    );

    // a leaves: b takes over a's partitions, restoring them from the changelog.
    let b_before = restored_count(&b);
    assert!(a.terminate(), "a shut down cleanly:\n{}", a.log_text());
    produce_lines(&broker, &topics.input, PARTITIONS, part3);
    wait_for(
        "b to take over and finish the stream",
        Duration::from_secs(180),
        || {
            assert!(b.is_running(), "b died:\n{}", b.log_text());
            restored_count(&b) > b_before && caught_up()
        },
    );
    // b's GET /voc answers for all the partitions, a's counts included: they came with the
    // partitions' progress records (SPEC 10).
    let (status, body) = b.get("/voc").expect("GET /voc answers");
    assert_eq!(status, 200, "{body}");
    let voc: serde_json::Value = serde_json::from_str(&body).unwrap();
    let defaults = lifecycle::config::Config::from_toml_str("", "test").unwrap();
    let summary = replay_summary(&lines, &defaults);
    assert!(
        summary.voc.report().kano.len() > 1,
        "the stream has KANO answers"
    );
    let expected = serde_json::to_value(summary.voc.report_with(&summary.uplift)).unwrap();
    assert_eq!(voc, expected, "GET /voc on b (left), replay (right)");
    assert!(b.terminate(), "b shut down cleanly:\n{}", b.log_text());

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
    assert_matches_replay(&consumed, &topics, &lines, false);
}
