//! Faults of the input and of delivery: records keyed by something other than their
//! customer id, dead letters as large as the largest event, and a delivery failure, after
//! which nothing of the failed batch may be committed.

mod support;

use support::compare::*;
use support::*;

use std::time::{Duration, Instant};

use rdkafka::ClientConfig;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

/// A raw input record: (partition, key, value).
type Raw<'a> = (i32, Option<&'a [u8]>, Option<&'a [u8]>);

/// Produces raw records.
fn produce_raw(broker: &Broker, topic: &str, records: &[Raw<'_>]) {
    produce_raw_with_headers(broker, topic, records, &[]);
}

/// Produces raw records, each with `headers` (name, value).
fn produce_raw_with_headers(
    broker: &Broker,
    topic: &str,
    records: &[Raw<'_>],
    headers: &[(&str, &str)],
) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("message.max.bytes", "4000000")
        .create()
        .expect("test producer");
    for (partition, key, value) in records {
        let mut record = BaseRecord::<[u8], [u8]>::to(topic).partition(*partition);
        if let Some(k) = key {
            record = record.key(*k);
        }
        if let Some(v) = value {
            record = record.payload(*v);
        }
        if !headers.is_empty() {
            let mut owned = rdkafka::message::OwnedHeaders::new();
            for (key, value) in headers {
                owned = owned.insert(rdkafka::message::Header {
                    key,
                    value: Some(*value),
                });
            }
            record = record.headers(owned);
        }
        producer.send(record).map_err(|(e, _)| e).expect("send");
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
}

fn all_outputs(broker: &Broker, topics: &TestTopics) -> Vec<Consumed> {
    read_all(broker, &topics.outputs_and_state())
}

fn line(id: &str, customer: &str, ty: &str, at: &str, data: &str) -> String {
    format!(
        r#"{{"event_id":"{id}","customer_id":"{customer}","type":"{ty}","occurred_at":"{at}","data":{data}}}"#
    )
}

#[test]
fn records_not_keyed_by_their_customer_are_dead_lettered_and_split_no_customer() {
    const PARTITIONS: u32 = 2;
    let broker = Broker::start();
    let topics = TestTopics::new("keys");
    topics.create(&broker, PARTITIONS);
    let good = vec![
        line("e1", "x-1", "lead_created", "2025-01-01T00:00:00Z", "{}"),
        line(
            "e2",
            "x-1",
            "purchase",
            "2025-01-02T00:00:00Z",
            r#"{"amount":5}"#,
        ),
    ];
    produce_lines(&broker, &topics.input, PARTITIONS, &good);
    let home = partition_of("x-1", PARTITIONS);
    let away = (home + 1) % PARTITIONS as i32;
    let bad = [
        line(
            "e3",
            "x-1",
            "purchase",
            "2025-01-03T00:00:00Z",
            r#"{"amount":5}"#,
        ),
        line(
            "e4",
            "x-1",
            "purchase",
            "2025-01-04T00:00:00Z",
            r#"{"amount":5}"#,
        ),
        line(
            "e5",
            "x-1",
            "purchase",
            "2025-01-05T00:00:00Z",
            r#"{"amount":5}"#,
        ),
    ];
    produce_raw_with_headers(
        &broker,
        &topics.input,
        &[
            (away, None, Some(bad[0].as_bytes())),
            (away, Some(b""), Some(bad[1].as_bytes())),
            (away, Some(b"x-2"), Some(bad[2].as_bytes())),
        ],
        // The producer's own headers, one of them named like one of ours.
        &[("trace_id", "t-1"), ("reason", "the producer's own")],
    );
    let mut service = Service::start(
        broker.dir.path(),
        "keys",
        &service_config(&broker, &topics, "keys-group", ""),
    );
    wait_processed(&broker, &mut service, "keys-group", &topics, PARTITIONS);
    service.stop_cleanly();
    // Dead letters, restores (whose consumer reports each partition's end) and a clean
    // shutdown are normal operation: nothing an operator must act on is logged.
    let log = service.log_text();
    assert!(!log.contains("ERROR"), "no ERROR line:\n{log}");

    let dead = read_all(&broker, &[&topics.dlq]);
    assert_eq!(dead.len(), 3, "every mis-keyed record is dead-lettered");
    let mut keys: Vec<Option<Vec<u8>>> = dead.iter().map(|m| m.key.clone()).collect();
    keys.sort();
    assert_eq!(
        keys,
        [None, Some(b"".to_vec()), Some(b"x-2".to_vec())],
        "a dead letter keeps the key as it was, a null one null"
    );
    for m in &dead {
        // The original headers are kept; ours come after them, so ours is the last `reason`.
        assert_eq!(m.headers.get("trace_id").map(String::as_str), Some("t-1"));
        assert_eq!(
            m.headers.get("reason").map(String::as_str),
            Some("key_mismatch")
        );
        assert_eq!(m.headers.get("source_partition"), Some(&away.to_string()));
        assert!(
            bad.iter()
                .any(|l| Some(l.as_bytes()) == m.payload.as_deref())
        );
    }
    // x-1's state lives in its own partition only, as the correctly keyed events left it.
    let consumed = all_outputs(&broker, &topics);
    let state_partitions: std::collections::BTreeSet<i32> = consumed
        .iter()
        .filter(|m| m.topic == topics.state && m.key.as_deref() == Some(b"x-1"))
        .map(|m| m.partition)
        .collect();
    assert_eq!(
        state_partitions,
        [home].into(),
        "one changelog partition holds x-1"
    );
    assert_matches_replay(&consumed, &topics, &good, false);
}

#[test]
fn repartitioning_re_keys_unkeyed_records_and_gives_the_replay_result() {
    const PARTITIONS: u32 = 3;
    let broker = Broker::start();
    let topics = TestTopics::new("repartition");
    topics.create(&broker, PARTITIONS);
    // A producer that does not key: every event, in time order, with no key, on one
    // partition. Re-keyed, each customer's events land on its partition in the same order.
    let events: Vec<String> = ordered_stream(200, 9, PARTITIONS)
        .into_iter()
        .filter(|l| !key_of(l).starts_with("tick-"))
        .collect();
    let raw: Vec<Raw<'_>> = events
        .iter()
        .map(|l| (0, None, Some(l.as_bytes())))
        .collect();
    produce_raw(&broker, &topics.input, &raw);
    let config = service_config(
        &broker,
        &topics,
        "repartition-group",
        "key_mismatch = \"repartition\"",
    );
    let mut service = Service::start(broker.dir.path(), "repartition", &config);
    let caught_up = || group_caught_up(&broker, "repartition-group", &topics.input, PARTITIONS);
    wait_for(
        "the originals and their re-keyed copies to be processed",
        Duration::from_secs(240),
        || {
            assert!(service.is_running(), "died:\n{}", service.log_text());
            read_all(&broker, &[&topics.input]).len() == 2 * events.len() && caught_up()
        },
    );
    // Then one clock tick per partition at the last event's time (keyed as they should be),
    // so every partition's clock ends where replay's does.
    let last = events
        .iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["occurred_at"].as_str().map(str::to_owned))
        .max()
        .expect("events");
    let ticks: Vec<String> = (0..PARTITIONS)
        .map(|p| {
            line(
                &format!("tick-{p}"),
                &format!("tick-{p}"),
                "clock_tick",
                &last,
                "{}",
            )
        })
        .collect();
    let keys: Vec<String> = (0..PARTITIONS).map(|p| format!("tick-{p}")).collect();
    let raw: Vec<Raw<'_>> = ticks
        .iter()
        .zip(&keys)
        .enumerate()
        .map(|(p, (l, k))| (p as i32, Some(k.as_bytes()), Some(l.as_bytes())))
        .collect();
    produce_raw(&broker, &topics.input, &raw);
    wait_processed(
        &broker,
        &mut service,
        "repartition-group",
        &topics,
        PARTITIONS,
    );
    service.stop_cleanly();

    assert!(
        read_all(&broker, &[&topics.dlq]).is_empty(),
        "nothing dead-lettered"
    );
    // Every keyed record on the input is keyed by its customer id: the re-keyed copies too.
    let input = read_all(&broker, &[&topics.input]);
    let keyed: Vec<&Consumed> = input.iter().filter(|m| m.key.is_some()).collect();
    assert_eq!(
        keyed.len(),
        events.len() + ticks.len(),
        "one re-keyed copy of each"
    );
    for m in keyed {
        let payload = std::str::from_utf8(m.payload.as_deref().unwrap()).unwrap();
        assert_eq!(m.key.as_deref(), Some(key_of(payload).as_bytes()));
    }
    let mut lines = events.clone();
    lines.extend(ticks);
    let consumed = all_outputs(&broker, &topics);
    assert_matches_replay(&consumed, &topics, &lines, false);
}

#[test]
fn a_rejected_record_as_large_as_an_event_is_dead_lettered_whole_or_cut_and_marked() {
    let broker = Broker::start();
    let topics = TestTopics::new("large");
    for t in topics.outputs() {
        broker.create_topic(t, 1, false);
    }
    broker.create_topic(&topics.state, 1, true);
    broker.create_topic_with(&topics.input, 1, &["max.message.bytes=4194304"]);
    broker.create_topic_with(&topics.dlq, 1, &["max.message.bytes=2097152"]);
    // Under the 1 MiB event limit but over librdkafka's default 1,000,000-byte message size.
    let mut invalid = vec![b'{'; 1];
    invalid.resize(1_020_001, b' ');
    // Over the event limit.
    let huge = vec![b'x'; 1_500_000];
    let after = line("e9", "y-1", "lead_created", "2025-01-01T00:00:00Z", "{}");
    // A key no customer id can be, and headers as large as the rest of a record: a dead
    // letter over the producer's message.max.bytes stopped the processing.
    let long_key = vec![b'k'; 300_000];
    let header_value = "h".repeat(40_000);
    let mut many: Vec<(&str, &str)> = (0..20).map(|_| ("x-big", header_value.as_str())).collect();
    many.push(("x-small", "s"));
    produce_raw(
        &broker,
        &topics.input,
        &[
            (0, Some(b"y-1"), Some(&invalid)),
            (0, Some(b"y-1"), Some(&huge)),
            (0, Some(&long_key), Some(&invalid[..1])),
        ],
    );
    produce_raw_with_headers(
        &broker,
        &topics.input,
        &[(0, Some(b"y-1"), Some(&invalid))],
        &many,
    );
    produce_raw(
        &broker,
        &topics.input,
        &[(0, Some(b"y-1"), Some(after.as_bytes())), (0, None, None)],
    );
    let mut service = Service::start(
        broker.dir.path(),
        "large",
        &service_config(&broker, &topics, "large-group", ""),
    );
    wait_processed(&broker, &mut service, "large-group", &topics, 1);
    service.stop_cleanly();
    let dead = read_all(&broker, &[&topics.dlq]);
    assert_eq!(
        dead.len(),
        5,
        "{:?}",
        dead.iter()
            .map(|m| m.headers.keys().collect::<Vec<_>>())
            .collect::<Vec<_>>()
    );
    assert_eq!(dead[0].payload.as_deref(), Some(&invalid[..]), "kept whole");
    assert_eq!(
        dead[0].headers.get("reason").map(String::as_str),
        Some("invalid_json")
    );
    assert!(!dead[0].headers.contains_key("value_truncated"));
    assert_eq!(
        dead[1].headers.get("reason").map(String::as_str),
        Some("too_large")
    );
    assert_eq!(
        dead[1].payload.as_deref(),
        Some(&huge[..1 << 20]),
        "its first MiB"
    );
    assert_eq!(
        dead[1].headers.get("value_truncated").map(String::as_str),
        Some("true")
    );
    assert_eq!(
        dead[1].headers.get("original_size").map(String::as_str),
        Some("1500000")
    );
    // The long key: its first KiB, and its size.
    assert_eq!(dead[2].key.as_deref(), Some(&long_key[..1024]));
    let h = |i: usize, name: &str| dead[i].headers.get(name).map(String::as_str);
    assert_eq!(h(2, "key_truncated"), Some("true"));
    assert_eq!(h(2, "original_key_size"), Some("300000"));
    // The large headers: those that fit in 32 KiB, and a mark (the others are left out).
    assert_eq!(h(3, "reason"), Some("invalid_json"));
    assert_eq!(h(3, "headers_truncated"), Some("true"));
    assert!(h(3, "x-big").is_none(), "a 40 KB header does not fit");
    assert_eq!(h(3, "x-small"), Some("s"), "a small one after it does");
    // A record with a null key and value: dead-lettered with both null.
    assert_eq!((dead[4].key.clone(), dead[4].payload.clone()), (None, None));
    let consumed = all_outputs(&broker, &topics);
    assert!(
        consumed.iter().any(|m| m.topic == topics.transitions),
        "the event after them was applied"
    );
}

#[test]
fn after_a_delivery_failure_nothing_of_the_failed_batch_is_committed() {
    let broker = Broker::start();
    let topics = TestTopics::new("failing");
    topics.create(&broker, 1);
    let mut lines: Vec<String> = (0..10)
        .map(|i| {
            line(
                &format!("a{i}"),
                "z-1",
                "engagement",
                "2025-01-01T00:00:00Z",
                "{}",
            )
        })
        .collect();
    // An invalid record whose dead letter the producer refuses (too large for the limit set
    // below), then more good events.
    lines.push(format!("{{{}", "x".repeat(5000)));
    lines.extend((0..10).map(|i| {
        line(
            &format!("b{i}"),
            "z-1",
            "engagement",
            "2025-01-02T00:00:00Z",
            "{}",
        )
    }));
    let raw: Vec<Raw<'_>> = lines
        .iter()
        .map(|l| (0, Some(&b"z-1"[..]), Some(l.as_bytes())))
        .collect();
    produce_raw(&broker, &topics.input, &raw);
    let config = service_config(
        &broker,
        &topics,
        "failing-group",
        "max_batch_events = 100000",
    ) + "\"message.max.bytes\" = \"3000\"\n";
    let mut service = Service::start(broker.dir.path(), "failing", &config);
    let started = Instant::now();
    while service.is_running() {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the service goes on after a failed delivery:\n{}",
            service.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = service.log_text();
    assert!(
        log.contains("MessageSizeTooLarge") || log.contains("too large"),
        "{log}"
    );
    // The bad record is at offset 10: the group's committed offset must not be past it.
    let committed = committed_offset(&broker, "failing-group", &topics.input);
    assert!(
        committed.is_none_or(|o| o <= 10),
        "committed {committed:?} past the record that could not be dead-lettered:\n{log}"
    );
}

fn committed_offset(broker: &Broker, group: &str, topic: &str) -> Option<i64> {
    use rdkafka::consumer::{BaseConsumer, Consumer};
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("offset reader");
    let mut tpl = rdkafka::TopicPartitionList::new();
    tpl.add_partition(topic, 0);
    let committed = consumer
        .committed_offsets(tpl, Duration::from_secs(10))
        .expect("committed offsets");
    match committed.find_partition(topic, 0).map(|e| e.offset()) {
        Some(rdkafka::Offset::Offset(o)) => Some(o),
        _ => None,
    }
}
