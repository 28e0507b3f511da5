//! Who owns which input partition (SPEC 9): each instance writes, once it has restored a
//! partition, a record to the compacted members topic (key: the partition number; value:
//! [`MemberRecord`], its advertised URL), and every instance reads that topic from the start,
//! in a thread of its own, into [`Owners`], which the HTTP server asks where to redirect a
//! customer's query. The processing loop itself answers for the partitions it holds (see
//! `queries`); the members topic is only for the others.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::domain::record_schema::SchemaVersion;

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};
use serde::{Deserialize, Serialize};

/// The value of a members record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[schemars(deny_unknown_fields)]
#[schemars(
    title = "Member",
    description = "Who owns an input partition (SPEC 9), on the compacted members topic, keyed by the partition number in decimal; written by the owner on each assignment and release."
)]
pub struct MemberRecord {
    pub partition: i32,
    /// The owner's `http.advertised_url`.
    pub url: String,
    /// The owner epoch it holds the partition with (see `codec::OwnerEpoch`): a record of a
    /// lower epoch than one already read is an older owner's and is ignored.
    pub epoch: u64,
    /// The owner gives the partition up (it is shutting down): the partition has no owner
    /// until the next one says so, and queries get 503 rather than a redirect to a stopped
    /// instance. It removes only its own record.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub released: bool,
    /// `1` (SPEC 11), last; absent in records of versions before it.
    #[serde(default)]
    pub schema_version: SchemaVersion,
}

impl MemberRecord {
    pub fn key(&self) -> String {
        self.partition.to_string()
    }
}

/// The owners of the input partitions as the members topic says, and the input's partition
/// count; shared by the reading thread and the HTTP handlers.
#[derive(Debug, Clone, Default)]
pub struct Owners {
    owners: Arc<RwLock<BTreeMap<i32, MemberRecord>>>,
    partitions: Arc<AtomicI32>,
}

impl Owners {
    /// The advertised URL of `partition`'s owner, if one has said so.
    pub fn owner(&self, partition: i32) -> Option<String> {
        let owners = self.owners.read().unwrap_or_else(|e| e.into_inner());
        owners.get(&partition).map(|m| m.url.clone())
    }

    /// The input topic's partition count (0 until the reader has read the metadata).
    pub fn input_partitions(&self) -> i32 {
        self.partitions.load(Ordering::Acquire)
    }

    /// Takes a record read from the members topic.
    pub fn learn(&self, record: MemberRecord) {
        let mut owners = self.owners.write().unwrap_or_else(|e| e.into_inner());
        match owners.get(&record.partition) {
            Some(known) if known.epoch > record.epoch => {}
            Some(known) if record.released && known.url != record.url => {}
            _ if record.released => {
                owners.remove(&record.partition);
            }
            _ => {
                owners.insert(record.partition, record);
            }
        }
    }
}

/// Reads the members topic from its start into `owners` until `stop` is set, and the input
/// topic's partition count; retries with a pause when the broker is away (the owners stay as
/// they were). `config` is a consumer without group work (the restore's).
pub fn read_members(
    config: &ClientConfig,
    members: &str,
    input: &str,
    owners: &Owners,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::Relaxed) {
        if let Err(e) = read_until_stopped(config, members, input, owners, stop) {
            tracing::warn!(error = %e, topic = members, "reading the members topic failed; retrying in 1 s");
            std::thread::sleep(Duration::from_secs(1));
        }
    }
}

fn read_until_stopped(
    config: &ClientConfig,
    members: &str,
    input: &str,
    owners: &Owners,
    stop: &AtomicBool,
) -> Result<(), rdkafka::error::KafkaError> {
    // The end of the topic is where a reader waits, not news: no end-of-partition events
    // (rdkafka's default context would log each one as an ERROR).
    let consumer: BaseConsumer = config
        .clone()
        .set("enable.partition.eof", "false")
        .create()?;
    let timeout = Duration::from_secs(10);
    let count = |topic: &str| -> Result<usize, rdkafka::error::KafkaError> {
        let md = consumer.fetch_metadata(Some(topic), timeout)?;
        Ok(md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .map_or(0, |t| t.partitions().len()))
    };
    owners
        .partitions
        .store(count(input)? as i32, Ordering::Release);
    let mut tpl = TopicPartitionList::new();
    for p in 0..count(members)? as i32 {
        tpl.add_partition_offset(members, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    while !stop.load(Ordering::Relaxed) {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let record = m
                    .payload()
                    .and_then(|v| serde_json::from_slice::<MemberRecord>(v).ok());
                match record {
                    Some(r) => owners.learn(r),
                    None => tracing::debug!(
                        offset = m.offset(),
                        "a members record that is not one; skipped"
                    ),
                }
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) | None => {}
            Some(Err(e)) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(partition: i32, url: &str, epoch: u64) -> MemberRecord {
        MemberRecord {
            partition,
            url: url.into(),
            epoch,
            released: false,
            schema_version: SchemaVersion,
        }
    }

    #[test]
    fn the_latest_owner_of_a_partition_wins_unless_its_epoch_is_older() {
        let owners = Owners::default();
        assert_eq!(owners.owner(1), None);
        owners.learn(record(1, "http://a:9095", 3));
        owners.learn(record(2, "http://b:9095", 1));
        assert_eq!(owners.owner(1).as_deref(), Some("http://a:9095"));
        owners.learn(record(1, "http://b:9095", 4));
        assert_eq!(owners.owner(1).as_deref(), Some("http://b:9095"));
        owners.learn(record(1, "http://stale:9095", 2));
        assert_eq!(owners.owner(1).as_deref(), Some("http://b:9095"));
        owners.learn(record(1, "http://c:9095", 4));
        assert_eq!(
            owners.owner(1).as_deref(),
            Some("http://c:9095"),
            "same epoch: the later"
        );
        let json = serde_json::to_string(&record(7, "http://a:9095", 2)).unwrap();
        assert_eq!(
            json,
            r#"{"partition":7,"url":"http://a:9095","epoch":2,"schema_version":1}"#
        );
        // A record of a version before schema_version reads as well.
        let old: MemberRecord =
            serde_json::from_str(r#"{"partition":7,"url":"http://a:9095","epoch":2}"#).unwrap();
        assert_eq!(old, record(7, "http://a:9095", 2));
        // A release removes only its own instance's record.
        let release = |url: &str| MemberRecord {
            released: true,
            ..record(1, url, 4)
        };
        owners.learn(release("http://b:9095"));
        assert_eq!(
            owners.owner(1).as_deref(),
            Some("http://c:9095"),
            "not b's any more"
        );
        owners.learn(release("http://c:9095"));
        assert_eq!(owners.owner(1), None);
        assert_eq!(owners.owner(2).as_deref(), Some("http://b:9095"));
    }
}
