//! CloudEvents on the real broker (SPEC 11): CloudEvents in binary and structured mode on the
//! input give the records their plain events give, an unmapped type is ignored, a CloudEvent
//! that cannot be an event is a dead letter with its reason, and with `output.cloudevents`
//! every output record carries the binary-mode headers.

mod support;

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde_json::Value;

use support::compare::*;
use support::*;

const PARTITIONS: u32 = 2;

const CLOUDEVENTS: &str = r#"
[cloudevents.types]
"com.example.order.completed" = "purchase"
"com.example.contact.created" = "lead_created"

[output]
cloudevents = true
cloudevents_source = "/lifecycle/test"
"#;

/// One input message: its key, headers and value.
#[derive(Default)]
struct Message {
    key: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    /// A header whose name need not be UTF-8 (rdkafka's `Header` names are `&str`).
    raw_header: Option<(&'static [u8], &'static [u8])>,
    value: &'static str,
}

/// Adds a header named by any bytes but NUL to `headers`, through librdkafka's C API.
#[allow(unsafe_code)]
fn add_raw_header(headers: &OwnedHeaders, name: &[u8], value: &[u8]) {
    use rdkafka::bindings as rd;
    // `as_borrowed` is the native header list itself, as rdkafka casts it.
    let list = headers.as_borrowed() as *const rdkafka::message::BorrowedHeaders
        as *mut rd::rd_kafka_headers_t;
    // SAFETY: a live list that `headers` owns; librdkafka copies the name and the value.
    let err = unsafe {
        rd::rd_kafka_header_add(
            list,
            name.as_ptr().cast(),
            name.len() as isize,
            value.as_ptr().cast(),
            value.len() as isize,
        )
    };
    assert_eq!(err, rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR);
}

fn produce(broker: &Broker, topic: &str, messages: &[Message]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .create()
        .expect("test producer");
    for m in messages {
        let mut headers = OwnedHeaders::new();
        for (key, value) in &m.headers {
            headers = headers.insert(Header {
                key,
                value: Some(*value),
            });
        }
        if let Some((name, value)) = m.raw_header {
            add_raw_header(&headers, name, value);
        }
        let record = BaseRecord::to(topic)
            .key(m.key)
            .payload(m.value)
            .headers(headers)
            .partition(partition_of(m.key, PARTITIONS));
        producer.send(record).map_err(|(e, _)| e).expect("send");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
}

#[test]
fn cloudevents_in_both_modes_become_events_and_outputs_carry_ce_headers() {
    let broker = Broker::start();
    let topics = TestTopics::new("ce");
    topics.create(&broker, PARTITIONS);
    let messages = [
        // Binary mode: the attributes in headers, the value is `data`.
        Message {
            key: "c-1",
            headers: vec![
                ("ce_specversion", "1.0"),
                ("ce_id", "ce-1"),
                ("ce_source", "/crm"),
                ("ce_type", "com.example.contact.created"),
                ("ce_time", "2025-03-01T09:00:00Z"),
                ("ce_subject", "c-1"),
            ],
            value: "",
            ..Default::default()
        },
        Message {
            key: "c-1",
            headers: vec![
                ("ce_specversion", "1.0"),
                ("ce_id", "ce-2"),
                ("ce_source", "/shop"),
                ("ce_type", "com.example.order.completed"),
                ("ce_time", "2025-03-02T10:00:00Z"),
                ("ce_subject", "c-1"),
                ("content-type", "application/json"),
            ],
            value: r#"{"amount": 42.5, "currency": "EUR"}"#,
            ..Default::default()
        },
        // Structured mode: the whole event in the value.
        Message {
            key: "c-2",
            headers: vec![(
                "content-type",
                "application/cloudevents+json; charset=UTF-8",
            )],
            value: r#"{"specversion":"1.0","id":"ce-3","source":"/shop","type":"com.example.order.completed","time":"2025-03-03T11:00:00Z","subject":"c-2","datacontenttype":"application/json","data":{"amount":10}}"#,
            ..Default::default()
        },
        // An unmapped type: ignored.
        Message {
            key: "c-3",
            headers: vec![
                ("ce_specversion", "1.0"),
                ("ce_id", "ce-4"),
                ("ce_source", "/crm"),
                ("ce_type", "com.example.page.viewed"),
                ("ce_time", "2025-03-04T12:00:00Z"),
                ("ce_subject", "c-3"),
            ],
            value: "{}",
            ..Default::default()
        },
        // No time: a dead letter.
        Message {
            key: "c-4",
            headers: vec![
                ("ce_specversion", "1.0"),
                ("ce_id", "ce-5"),
                ("ce_source", "/crm"),
                ("ce_type", "com.example.order.completed"),
                ("ce_subject", "c-4"),
            ],
            value: r#"{"amount": 1}"#,
            ..Default::default()
        },
    ];
    produce(&broker, &topics.input, &messages);
    let config = service_config(&broker, &topics, "ce-group", "") + CLOUDEVENTS;
    let mut service = Service::start(broker.dir.path(), "ce", &config);
    wait_processed(&broker, &mut service, "ce-group", &topics, PARTITIONS);
    service.stop_cleanly();

    // The same events, plain, through replay.
    let plain = [
        r#"{"event_id":"ce-1","customer_id":"c-1","type":"lead_created","occurred_at":"2025-03-01T09:00:00Z"}"#,
        r#"{"event_id":"ce-2","customer_id":"c-1","type":"purchase","occurred_at":"2025-03-02T10:00:00Z","data":{"amount":42.5,"currency":"EUR"}}"#,
        r#"{"event_id":"ce-3","customer_id":"c-2","type":"purchase","occurred_at":"2025-03-03T11:00:00Z","data":{"amount":10}}"#,
    ]
    .map(String::from);
    let consumed = read_all(&broker, &topics.outputs_and_state());
    let rules = lifecycle::config::Config::from_toml_str(CLOUDEVENTS, "test")
        .expect("valid")
        .rules();
    assert_matches_replay_with(&consumed, &topics, &plain, false, rules);

    let outputs: Vec<&Consumed> = consumed
        .iter()
        .filter(|m| m.topic != topics.state)
        .collect();
    assert!(
        outputs.len() >= 4,
        "transitions and actions: {}",
        outputs.len()
    );
    for m in &outputs {
        let record: Value = serde_json::from_slice(m.payload.as_deref().unwrap()).unwrap();
        let h = |k: &str| m.headers.get(k).map(String::as_str);
        assert_eq!(h("ce_specversion"), Some("1.0"));
        assert_eq!(h("ce_source"), Some("/lifecycle/test"));
        assert_eq!(h("ce_subject"), record["customer_id"].as_str());
        assert_eq!(h("ce_time"), record["at"].as_str());
        assert_eq!(h("content-type"), Some("application/json"));
        match record["type"].as_str() {
            Some("action") => {
                assert_eq!(h("ce_id"), record["action_id"].as_str());
                let kind = record["kind"].as_str().unwrap();
                assert_eq!(
                    h("ce_type"),
                    Some(format!("lifecycle.action.{kind}").as_str())
                );
            }
            _ => {
                let id = format!(
                    "{}:{}",
                    record["customer_id"].as_str().unwrap(),
                    record["seq"]
                );
                assert_eq!(h("ce_id"), Some(id.as_str()));
                assert_eq!(h("ce_type"), Some("lifecycle.transition"));
            }
        }
    }
    let dead = read_all(&broker, &[&topics.dlq]);
    assert_eq!(dead.len(), 1, "the CloudEvent without a time");
    assert_eq!(dead[0].headers["reason"], "missing_field");
    assert_eq!(
        dead[0].headers["ce_id"], "ce-5",
        "the original headers are kept"
    );
    let metrics_had = read_all(&broker, &[&topics.transitions]);
    assert!(
        metrics_had
            .iter()
            .all(|m| !String::from_utf8_lossy(m.payload.as_deref().unwrap()).contains("c-3")),
        "the unmapped type is ignored"
    );
}

/// SPEC 1, "bad input never stops processing": a header whose name is not UTF-8 (rdkafka's
/// own header reading panics on it) is read as bytes, and its record is processed. And with
/// `kafka.key_mismatch = "repartition"` a mis-keyed CloudEvent in binary mode is produced
/// again with its headers, so it is applied on its customer's partition.
#[test]
fn odd_header_names_and_repartitioned_cloudevents_are_processed() {
    let broker = Broker::start();
    let topics = TestTopics::new("ce-odd");
    topics.create(&broker, PARTITIONS);
    let messages = [
        Message {
            key: "h-1",
            raw_header: Some((b"x-\xff\xfe", b"v")),
            value: r#"{"event_id":"h1","customer_id":"h-1","type":"lead_created","occurred_at":"2025-03-01T09:00:00Z"}"#,
            ..Default::default()
        },
        Message {
            key: "not-h-2",
            headers: vec![
                ("ce_specversion", "1.0"),
                ("ce_id", "h2"),
                ("ce_source", "/shop"),
                ("ce_type", "com.example.order.completed"),
                ("ce_time", "2025-03-02T10:00:00Z"),
                ("ce_subject", "h-2"),
            ],
            value: r#"{"amount": 5}"#,
            ..Default::default()
        },
        Message {
            key: "h-1",
            value: r#"{"event_id":"h3","customer_id":"h-1","type":"purchase","occurred_at":"2025-03-03T09:00:00Z","data":{"amount":3}}"#,
            ..Default::default()
        },
    ];
    produce(&broker, &topics.input, &messages);
    let extra = "key_mismatch = \"repartition\"\n";
    let config = service_config(&broker, &topics, "ce-odd-group", extra) + CLOUDEVENTS;
    let mut service = Service::start(broker.dir.path(), "ce-odd", &config);
    let h2 = r#""customer_id":"h-2""#;
    wait_for(
        "the repartitioned CloudEvent to be applied",
        Duration::from_secs(60),
        || {
            read_all(&broker, &[&topics.transitions])
                .iter()
                .any(|m| String::from_utf8_lossy(m.payload.as_deref().unwrap()).contains(h2))
        },
    );
    wait_processed(&broker, &mut service, "ce-odd-group", &topics, PARTITIONS);
    service.stop_cleanly();
    let plain = [
        r#"{"event_id":"h1","customer_id":"h-1","type":"lead_created","occurred_at":"2025-03-01T09:00:00Z"}"#,
        r#"{"event_id":"h2","customer_id":"h-2","type":"purchase","occurred_at":"2025-03-02T10:00:00Z","data":{"amount":5}}"#,
        r#"{"event_id":"h3","customer_id":"h-1","type":"purchase","occurred_at":"2025-03-03T09:00:00Z","data":{"amount":3}}"#,
    ]
    .map(String::from);
    let consumed = read_all(&broker, &topics.outputs_and_state());
    let rules = lifecycle::config::Config::from_toml_str(CLOUDEVENTS, "test")
        .expect("valid")
        .rules();
    assert_matches_replay_with(&consumed, &topics, &plain, false, rules);
    assert!(
        read_all(&broker, &[&topics.dlq]).is_empty(),
        "no dead letter"
    );
}
