//! What the running service shows of itself (SPEC 6, STYLE 8 and 9): JSON logs that a log
//! pipeline can parse line by line, every output keyed by its customer, no secret in the
//! logs or the metrics at any level, and no customer id in any metric.

mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use support::compare::ordered_stream;
use support::*;

const PARTITIONS: u32 = 3;

/// Rejected events that are still JSON with a `customer_id`, so that the test producer keys
/// them by it and their dead letters can be checked against it: a negative amount
/// (`invalid_value`), a date that does not exist (`invalid_timestamp`), an unknown field type
/// (`wrong_type`).
fn rejected_lines(customers: &[&str]) -> Vec<String> {
    customers
        .iter()
        .enumerate()
        .flat_map(|(i, c)| {
            [
                format!(
                    r#"{{"event_id":"bad-{i}-a","customer_id":"{c}","type":"purchase","occurred_at":"2025-03-01T00:00:00Z","data":{{"amount":-5}}}}"#
                ),
                format!(
                    r#"{{"event_id":"bad-{i}-b","customer_id":"{c}","type":"engagement","occurred_at":"2025-02-30T10:00:00Z"}}"#
                ),
                format!(
                    r#"{{"event_id":"bad-{i}-c","customer_id":"{c}","type":"purchase","occurred_at":"2025-03-01T00:00:00Z","data":{{"amount":"five"}}}}"#
                ),
            ]
        })
        .collect()
}

/// The `customer_id` of a JSON event line.
fn customer_of(line: &str) -> String {
    let v: Value = serde_json::from_str(line).expect("a JSON line");
    v["customer_id"]
        .as_str()
        .expect("a customer_id")
        .to_string()
}

/// The customers a `customer_erased` event of `lines` names.
fn erased_in(lines: &[String]) -> BTreeSet<String> {
    lines
        .iter()
        .filter(|l| l.contains(r#""type":"customer_erased""#))
        .map(|l| customer_of(l))
        .collect()
}

/// A broker with this test's topics, and a generated stream of `customers` customers,
/// followed by the erasure of one of them (a tombstone in the changelog, whether or not the
/// generator erased any) and 12 rejected events of 4 customers.
fn setup(prefix: &str, customers: u64, seed: u64) -> (Broker, TestTopics, Vec<String>) {
    let broker = Broker::start();
    let topics = TestTopics::new(prefix);
    topics.create(&broker, PARTITIONS);
    let mut lines = ordered_stream(customers, seed, PARTITIONS);
    let ids: Vec<String> = lines.iter().map(|l| customer_of(l)).collect();
    let erased = erased_in(&lines);
    let target = ids
        .iter()
        .find(|c| !erased.contains(*c))
        .expect("a customer not erased yet")
        .clone();
    let last: Value = serde_json::from_str(lines.last().expect("a stream")).unwrap();
    let at = last["occurred_at"].as_str().unwrap().to_string();
    lines.push(format!(
        r#"{{"event_id":"erase-1","customer_id":"{target}","type":"customer_erased","occurred_at":"{at}"}}"#
    ));
    let rejected: Vec<&str> = ids
        .iter()
        .filter(|c| **c != target)
        .step_by(7)
        .take(4)
        .map(String::as_str)
        .collect();
    lines.extend(rejected_lines(&rejected));
    (broker, topics, lines)
}

#[test]
fn json_logs_are_one_object_per_line_with_timestamp_level_and_message() {
    let (broker, topics, lines) = setup("jsonlog", 40, 31);
    let group = "jsonlog-group";
    // `[log]` before the harness's tables: TOML tables may come in any order.
    let config = format!(
        "[log]\nformat = \"json\"\n\n{}",
        service_config(&broker, &topics, group, "")
    );
    let mut service = Service::start(broker.dir.path(), "jsonlog", &config);
    service.wait_ready(Duration::from_secs(60));
    produce_lines(&broker, &topics.input, PARTITIONS, &lines);
    wait_processed(&broker, &mut service, group, &topics, PARTITIONS);
    service.stop_cleanly();

    let log = service.log_text();
    let mut messages = Vec::new();
    for (n, line) in log.lines().enumerate() {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("line {} is not JSON ({e}): {line}\n{log}", n + 1));
        let o = v
            .as_object()
            .unwrap_or_else(|| panic!("line {} is not an object: {line}", n + 1));
        let timestamp = o["timestamp"].as_str().expect("a timestamp string");
        // RFC 3339 in UTC, as tracing-subscriber writes it: 2026-01-02T03:04:05.678901Z.
        assert!(
            timestamp.len() >= 20 && timestamp.as_bytes()[10] == b'T' && timestamp.ends_with('Z'),
            "timestamp {timestamp:?} in {line}"
        );
        let level = o["level"].as_str().expect("a level string");
        assert!(
            ["ERROR", "WARN", "INFO"].contains(&level),
            "level {level:?} (RUST_LOG=info) in {line}"
        );
        assert!(o["target"].is_string(), "a target in {line}");
        messages.push(o["message"].as_str().expect("a message").to_string());
    }
    // The lines of the service's life are there, with their fields as keys of their own.
    for expected in [
        "serving /metrics, /healthz, /readyz, /v1/status, /voc, /v1/customers/{id}",
        "lifecycle service started",
        "shutdown requested",
        "stopped",
    ] {
        assert!(
            messages.iter().any(|m| m == expected),
            "no {expected:?} among {messages:?}"
        );
    }
    let started: Value = log
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|v| v["message"] == "lifecycle service started")
        .unwrap();
    assert_eq!(started["group"], group, "{started}");
    assert_eq!(started["input"], topics.input.as_str(), "{started}");
}

#[test]
fn every_output_record_is_keyed_by_its_customer() {
    let (broker, topics, lines) = setup("keys", 150, 32);
    let group = "keys-group";
    let erased = erased_in(&lines);
    let config = service_config(&broker, &topics, group, "");
    let mut service = Service::start(broker.dir.path(), "keys", &config);
    service.wait_ready(Duration::from_secs(60));
    produce_lines(&broker, &topics.input, PARTITIONS, &lines);
    wait_processed(&broker, &mut service, group, &topics, PARTITIONS);
    service.stop_cleanly();

    let consumed = read_all(
        &broker,
        &[
            &topics.transitions,
            &topics.care,
            &topics.retention,
            &topics.marketing,
            &topics.dlq,
            &topics.state,
        ],
    );
    let key = |m: &Consumed| {
        String::from_utf8(m.key.clone().unwrap_or_else(|| panic!("no key: {m:?}")))
            .expect("a UTF-8 key")
    };
    let mut per_topic: std::collections::BTreeMap<&str, usize> = Default::default();
    let (mut progress, mut tombstones) = (0, 0);
    for m in &consumed {
        *per_topic.entry(m.topic.as_str()).or_default() += 1;
        if m.topic == topics.state {
            if m.key.as_deref() == Some(lifecycle::kafka::codec::PARTITION_META_KEY) {
                // A partition's own progress record: not a customer's.
                progress += 1;
                continue;
            }
            match &m.payload {
                Some(p) => {
                    let customer =
                        lifecycle::kafka::codec::decode_customer(p).expect("a customer state");
                    assert_eq!(key(m), customer.id.to_string(), "changelog record {m:?}");
                }
                None => {
                    tombstones += 1;
                    assert!(erased.contains(&key(m)), "a tombstone of {}", key(m));
                }
            }
            continue;
        }
        let payload: Value =
            serde_json::from_slice(m.payload.as_deref().expect("a payload")).expect("JSON");
        assert_eq!(
            key(m),
            payload["customer_id"].as_str().expect("a customer_id"),
            "{} record at {}/{}",
            m.topic,
            m.partition,
            m.offset
        );
        if m.topic == topics.dlq {
            assert!(m.headers.contains_key("reason"), "{m:?}");
        }
    }
    // Every kind of output was there to check.
    for topic in [
        &topics.transitions,
        &topics.care,
        &topics.retention,
        &topics.marketing,
        &topics.state,
    ] {
        assert!(
            per_topic.get(topic.as_str()).is_some_and(|n| *n > 0),
            "no record in {topic}: {per_topic:?}"
        );
    }
    assert_eq!(
        per_topic.get(topics.dlq.as_str()),
        Some(&12),
        "{per_topic:?}"
    );
    assert!(progress > 0, "no progress record");
    assert!(tombstones >= 1, "no tombstone for {erased:?}");
}

#[test]
fn secrets_appear_neither_in_trace_logs_nor_in_metrics() {
    let (broker, topics, lines) = setup("secrets", 30, 33);
    let group = "secrets-group";
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let sasl_secret = format!("SaslPw{nanos}x");
    let key_secret = format!("KeyPw{nanos}y");
    let key_file = broker.dir.path().join("key-password");
    std::fs::write(&key_file, &key_secret).expect("write the key password file");
    // Plaintext, so the SASL and TLS settings are accepted and never used; `debug = all`
    // makes librdkafka log as much as it can (its configuration too) at the debug level.
    let config = service_config(&broker, &topics, group, "").replace(
        "[kafka.librdkafka]\n",
        &format!(
            "[kafka.librdkafka]\n\"security.protocol\" = \"plaintext\"\n\
             \"sasl.username\" = \"env:TEST_USER\"\n\"sasl.password\" = \"env:TEST_SECRET\"\n\
             \"ssl.key.password\" = \"file:{}\"\n\"debug\" = \"all\"\n",
            key_file.display()
        ),
    );
    assert!(config.contains("env:TEST_SECRET"), "{config}");
    let mut service = Service::start_with_env(
        broker.dir.path(),
        "secrets",
        &config,
        &[
            ("RUST_LOG", "trace"),
            ("TEST_USER", "lifecycle-user"),
            ("TEST_SECRET", &sasl_secret),
        ],
    );
    service.wait_ready(Duration::from_secs(90));
    produce_lines(&broker, &topics.input, PARTITIONS, &lines);
    wait_processed(&broker, &mut service, group, &topics, PARTITIONS);
    let metrics = service.metrics_text();
    service.stop_cleanly();

    let log = service.log_text();
    // The log is the verbose one asked for: our trace and debug lines, and librdkafka's.
    let head: String = log.lines().take(30).collect::<Vec<_>>().join("\n");
    assert!(log.contains("TRACE"), "no TRACE line in:\n{head}");
    assert!(log.contains("DEBUG"), "no DEBUG line in:\n{head}");
    assert!(log.contains("librdkafka"), "no librdkafka line in:\n{head}");
    // librdkafka's configuration dump names the secret settings (with their values withheld).
    assert!(
        log.contains("sasl.password"),
        "no configuration dump in:\n{head}"
    );
    assert!(metrics.contains("lifecycle_events_total"), "{metrics}");
    for secret in [&sasl_secret, &key_secret] {
        if let Some(at) = log.find(secret.as_str()) {
            let line = log[..at].lines().count();
            panic!(
                "a secret is in the log at line {line}: {}",
                log.lines().nth(line.saturating_sub(1)).unwrap_or_default()
            );
        }
        assert!(
            !metrics.contains(secret.as_str()),
            "a secret is in /metrics"
        );
    }
}

#[test]
fn no_metric_line_carries_a_customer_id() {
    let (broker, topics, lines) = setup("labels", 60, 34);
    let group = "labels-group";
    let config = service_config(&broker, &topics, group, "");
    let mut service = Service::start(broker.dir.path(), "labels", &config);
    service.wait_ready(Duration::from_secs(60));
    produce_lines(&broker, &topics.input, PARTITIONS, &lines);
    wait_processed(&broker, &mut service, group, &topics, PARTITIONS);
    let metrics = service.metrics_text();
    service.stop_cleanly();

    // The exposition counted this stream (so it is the one to look at).
    assert_eq!(
        metric_sum(&metrics, "lifecycle_events_total") as usize,
        lines.len(),
        "{metrics}"
    );
    let customers: BTreeSet<String> = lines.iter().map(|l| customer_of(l)).collect();
    assert!(customers.len() >= 60, "{} customers", customers.len());
    for line in metrics.lines() {
        if let Some(c) = customers.iter().find(|c| line.contains(c.as_str())) {
            panic!("customer {c} in the metrics line {line}");
        }
    }
}

#[test]
fn the_loop_answers_its_status_with_the_partitions_it_holds() {
    let (broker, topics, lines) = setup("status", 30, 37);
    let group = "status-group";
    let config = service_config(&broker, &topics, group, "");
    let mut service = Service::start(broker.dir.path(), "status", &config);
    service.wait_ready(Duration::from_secs(60));
    produce_lines(&broker, &topics.input, PARTITIONS, &lines);
    wait_processed(&broker, &mut service, group, &topics, PARTITIONS);

    let (code, body) = service.get("/v1/status").expect("an answer");
    assert_eq!(code, 200, "{body}");
    let status: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(status["guarantee"], "at_least_once", "{status}");
    assert_eq!(status["clock"], "event", "{status}");
    assert_eq!(status["restoring"], serde_json::json!([]), "{status}");
    let partitions = status["partitions"].as_array().expect("partitions");
    let held: Vec<i64> = partitions
        .iter()
        .map(|p| p["partition"].as_i64().unwrap())
        .collect();
    assert_eq!(held, (0..PARTITIONS as i64).collect::<Vec<_>>(), "{status}");
    let mut customers = 0;
    for p in partitions {
        let n = p["partition"].as_i64().unwrap() as i32;
        // Every message of the partition was applied or dead-lettered: the last one's offset.
        let messages = lines
            .iter()
            .filter(|l| partition_of(&key_of(l), PARTITIONS) == n)
            .count() as i64;
        assert_eq!(p["applied_offset"], messages - 1, "partition {n}: {p}");
        assert!(p["epoch"].as_u64().unwrap() >= 1, "claimed: {p}");
        assert!(p["clock"].is_string(), "an event-time clock: {p}");
        customers += p["customers"].as_i64().unwrap();
    }
    // The customers held are those the metrics count by stage (two separate tallies).
    let (_, metrics) = service.get("/metrics").expect("metrics");
    let by_stage: f64 = ["prospect", "new", "mature", "churning", "churned"]
        .iter()
        .map(|s| metric(&metrics, &format!("lifecycle_customers{{stage=\"{s}\"}}")).unwrap_or(0.0))
        .sum();
    assert_eq!(customers as f64, by_stage, "{status}\n{metrics}");
    let ids: BTreeSet<String> = lines.iter().map(|l| customer_of(l)).collect();
    assert!(
        customers > 0 && customers < ids.len() as i64,
        "one was erased: {customers} of {}",
        ids.len()
    );
    service.stop_cleanly();
}
