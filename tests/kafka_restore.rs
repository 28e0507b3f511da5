//! Restoring an engine from a changelog partition on a real broker: confirmed batches count,
//! a batch with no progress record after it is undone, down to the state before it.

mod support;

use support::*;

use std::time::Duration;

use lifecycle::config::Config;
use lifecycle::domain::{Customer, Engine, Rules, Timestamp};
use lifecycle::kafka::codec::{
    PARTITION_META_KEY, PartitionMeta, encode_customer, encode_customer_owned, encode_meta,
};
use lifecycle::kafka::{changelog, client};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

fn customer(id: &str, purchases: u32) -> Customer {
    let at = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").expect("time");
    let mut c = Customer::new(id, at);
    c.purchase_count = purchases;
    c
}

fn meta(offset: i64) -> Vec<u8> {
    encode_meta(&PartitionMeta {
        clock: Some(Timestamp::parse_rfc3339("2026-01-02T00:00:00Z").expect("time")),
        applied_offset: Some(offset),
        epoch: 0,
        voc: None,
    })
}

/// A broker with a one-partition compacted state topic, and a configuration for it (the
/// broker stops when the first value is dropped).
fn one_state_partition(prefix: &str) -> (Broker, TestTopics, Config) {
    let broker = Broker::start();
    let topics = TestTopics::new(prefix);
    broker.create_topic(&topics.state, 1, true);
    let group = format!("{prefix}-group");
    let text = service_config(&broker, &topics, &group, "").replace("HTTP_PORT", "0");
    let config = Config::from_toml_str(&text, "test").expect("config");
    (broker, topics, config)
}

#[test]
fn an_unconfirmed_batch_is_undone_and_the_confirmed_state_restored() {
    let (_broker, topics, config) = one_state_partition("restore");

    // Batch 1 (confirmed): a with 1 purchase, b, c. Batch 2 (confirmed): a with 2.
    // Batch 3 (cut short): a with 3, b erased, d new, a with 4 again.
    let records: Vec<(&[u8], Option<Vec<u8>>)> = vec![
        (b"a", Some(encode_customer(&customer("a", 1)))),
        (b"b", Some(encode_customer(&customer("b", 1)))),
        (b"c", Some(encode_customer(&customer("c", 1)))),
        (PARTITION_META_KEY, Some(meta(10))),
        (b"a", Some(encode_customer(&customer("a", 2)))),
        (PARTITION_META_KEY, Some(meta(11))),
        (b"a", Some(encode_customer(&customer("a", 3)))),
        (b"b", None),
        (b"d", Some(encode_customer(&customer("d", 1)))),
        (b"a", Some(encode_customer(&customer("a", 4)))),
    ];
    let producer: BaseProducer = client::producer(&config.kafka)
        .expect("producer config")
        .create()
        .expect("producer");
    for (key, value) in &records {
        let mut record = BaseRecord::<[u8], [u8]>::to(&topics.state)
            .key(*key)
            .partition(0);
        if let Some(v) = value {
            record = record.payload(v);
        }
        producer.send(record).map_err(|(e, _)| e).expect("send");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");

    let restorer = client::restorer(&config.kafka).expect("restorer config");
    let mut engine = Engine::new(Rules::default());
    let (progress, stats) = changelog::restore(
        &restorer,
        &topics.state,
        0,
        &mut engine,
        Duration::from_secs(30),
        &mut || {},
    )
    .expect("restore");

    assert_eq!(progress.applied_offset, Some(11));
    assert_eq!(stats.records, records.len() as u64);
    assert_eq!(stats.discarded, 4, "the four records of the last batch");
    let purchases = |id: &str| engine.customer(id).map(|c| c.purchase_count);
    assert_eq!(purchases("a"), Some(2), "a as batch 2 left it");
    assert_eq!(purchases("b"), Some(1), "b's erasure was not confirmed");
    assert_eq!(purchases("c"), Some(1));
    assert_eq!(purchases("d"), None, "d came only in the unconfirmed batch");
    assert_eq!(engine.customer_count(), 3);
    assert_eq!(engine.clock(), progress.clock);
}

fn meta_of(offset: i64, epoch: u64) -> Vec<u8> {
    encode_meta(&PartitionMeta {
        clock: Some(Timestamp::parse_rfc3339("2026-01-02T00:00:00Z").expect("time")),
        applied_offset: Some(offset),
        epoch,
        voc: None,
    })
}

#[test]
fn records_of_an_owner_whose_epoch_ended_are_never_applied() {
    let (_broker, topics, config) = one_state_partition("epochs");
    let owned =
        |id: &str, purchases, epoch| Some(encode_customer_owned(&customer(id, purchases), epoch));
    // (key, value, tombstone epoch header)
    type Written<'a> = (&'a [u8], Option<Vec<u8>>, Option<&'a str>);
    let records: Vec<Written<'_>> = vec![
        // Owner 1: a confirmed batch, then one it had not confirmed when it was paused.
        (b"a", owned("a", 1, 1), None),
        (b"c", owned("c", 1, 1), None),
        (PARTITION_META_KEY, Some(meta_of(5, 1)), None),
        (b"b", owned("b", 1, 1), None),
        // Owner 2 restores and claims the partition, then works.
        (PARTITION_META_KEY, Some(meta_of(5, 2)), None),
        (b"a", owned("a", 2, 2), None),
        (PARTITION_META_KEY, Some(meta_of(7, 2)), None),
        // Owner 1 resumes and writes what it had in flight: older state, an erasure and
        // progress that goes backwards. None of it may count.
        (b"a", owned("a", 9, 1), None),
        (b"c", None, Some("1")),
        (b"e", owned("e", 1, 1), None),
        (PARTITION_META_KEY, Some(meta_of(3, 1)), None),
        // Owner 2 goes on; its progress record comes after the stale records.
        (b"d", owned("d", 1, 2), None),
        (PARTITION_META_KEY, Some(meta_of(9, 2)), None),
    ];
    let producer: BaseProducer = client::producer(&config.kafka)
        .expect("producer config")
        .create()
        .expect("producer");
    for (key, value, epoch) in &records {
        let mut record = BaseRecord::<[u8], [u8]>::to(&topics.state)
            .key(*key)
            .partition(0);
        if let Some(v) = value {
            record = record.payload(v);
        }
        if let Some(e) = epoch {
            record = record.headers(OwnedHeaders::new().insert(Header {
                key: "lifecycle_epoch",
                value: Some(*e),
            }));
        }
        producer.send(record).map_err(|(e, _)| e).expect("send");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");

    let restorer = client::restorer(&config.kafka).expect("restorer config");
    let mut engine = Engine::new(Rules::default());
    let (progress, stats) = changelog::restore(
        &restorer,
        &topics.state,
        0,
        &mut engine,
        Duration::from_secs(30),
        &mut || {},
    )
    .expect("restore");

    assert_eq!(progress.applied_offset, Some(9), "owner 2's last progress");
    assert_eq!(progress.epoch, 2);
    assert_eq!(stats.max_epoch, 2);
    assert_eq!(stats.fenced, 4, "owner 1's four records after the claim");
    assert_eq!(
        stats.discarded, 1,
        "owner 1's unconfirmed b, undone at the claim"
    );
    let purchases = |id: &str| engine.customer(id).map(|c| c.purchase_count);
    assert_eq!(purchases("a"), Some(2), "owner 2's a, not the stale one");
    assert_eq!(purchases("b"), None, "never confirmed by its owner");
    assert_eq!(purchases("c"), Some(1), "the stale erasure does not count");
    assert_eq!(purchases("d"), Some(1));
    assert_eq!(purchases("e"), None, "written by the stale owner only");
}

#[test]
fn a_record_that_is_not_state_fails_the_restore_naming_its_offset() {
    let (_broker, topics, config) = one_state_partition("badstate");
    let producer: BaseProducer = client::producer(&config.kafka)
        .expect("producer config")
        .create()
        .expect("producer");
    let good = encode_customer(&customer("a", 1));
    // Many good records first, so the bad one arrives while records are still being read.
    for i in 0..5000 {
        let key = format!("c-{i}");
        let mut record = BaseRecord::<[u8], [u8]>::to(&topics.state)
            .key(key.as_bytes())
            .payload(&good)
            .partition(0);
        // A full local queue: serve deliveries, then send the same record again.
        while let Err((e, back)) = producer.send(record) {
            assert!(
                matches!(e, rdkafka::error::KafkaError::MessageProduction(_)),
                "{e}"
            );
            producer.poll(Duration::from_millis(10));
            record = back;
        }
    }
    let bad = BaseRecord::<[u8], [u8]>::to(&topics.state)
        .key(b"bad")
        .payload(&[9, 9, 9])
        .partition(0);
    producer.send(bad).map_err(|(e, _)| e).expect("send");
    producer.flush(Duration::from_secs(30)).expect("flush");

    let restorer = client::restorer(&config.kafka).expect("restorer config");
    let mut engine = Engine::new(Rules::default());
    let error = changelog::restore(
        &restorer,
        &topics.state,
        0,
        &mut engine,
        Duration::from_secs(30),
        &mut || {},
    )
    .expect_err("a record that is not state");
    let text = error.to_string();
    assert!(text.contains("offset 5000"), "{text}");
    assert!(text.contains("unknown state format 9"), "{text}");
}
