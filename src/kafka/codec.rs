//! Kafka message encodings: output records, dead letters and changelog records.

use rdkafka::message::{Header, OwnedHeaders};
use serde::{Deserialize, Serialize};

use crate::config::Topics;
use crate::domain::{Category, Customer, Record, Rejection, Timestamp};

/// The changelog key of a partition's own record (its clock and applied offset). A customer
/// id cannot contain U+0000, so it cannot collide.
pub const PARTITION_META_KEY: &[u8] = b"\0partition";

/// A partition's progress, written to its changelog partition after its customers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionMeta {
    /// The event-time clock (stream time) of the partition.
    pub clock: Option<Timestamp>,
    /// The last input offset whose effects are all in the changelog.
    pub applied_offset: Option<i64>,
}

/// The topic an output record goes to (`None`: it is not written).
pub fn output_topic<'t>(record: &Record, topics: &'t Topics) -> Option<&'t str> {
    match record {
        Record::Transition(_) => Some(&topics.transitions),
        Record::Action(a) => Some(match a.kind.category() {
            Category::Care => &topics.care,
            Category::Retention => &topics.retention,
            Category::Marketing => &topics.marketing,
        }),
        Record::Suppressed { .. } => None,
    }
}

/// The JSON of an output record, as replay writes it but without the line feed.
pub fn encode_record(record: &Record, buf: &mut Vec<u8>) {
    buf.clear();
    record.write_json_line(buf);
    if buf.last() == Some(&b'\n') {
        buf.pop();
    }
}

/// The headers of a dead letter: why, and where the original came from.
pub fn dead_letter_headers(
    rejection: &Rejection,
    topic: &str,
    partition: i32,
    offset: i64,
) -> OwnedHeaders {
    let partition = partition.to_string();
    let offset = offset.to_string();
    OwnedHeaders::new_with_capacity(5)
        .insert(Header {
            key: "reason",
            value: Some(rejection.reason.as_str()),
        })
        .insert(Header {
            key: "detail",
            value: Some(rejection.detail.as_str()),
        })
        .insert(Header {
            key: "source_topic",
            value: Some(topic),
        })
        .insert(Header {
            key: "source_partition",
            value: Some(partition.as_str()),
        })
        .insert(Header {
            key: "source_offset",
            value: Some(offset.as_str()),
        })
}

pub fn encode_customer(customer: &Customer) -> Vec<u8> {
    serde_json::to_vec(customer).expect("customer state serializes")
}

pub fn encode_meta(meta: &PartitionMeta) -> Vec<u8> {
    serde_json::to_vec(meta).expect("partition meta serializes")
}

/// A changelog record, decoded.
#[derive(Debug)]
pub enum ChangelogEntry {
    Customer(Box<Customer>),
    Tombstone(String),
    Meta(PartitionMeta),
}

/// Why a changelog record could not be read (a bug or a foreign writer: fatal for restore).
#[derive(Debug, thiserror::Error)]
pub enum ChangelogError {
    #[error("changelog record at offset {offset} has no key")]
    NoKey { offset: i64 },
    #[error("changelog record at offset {offset} is not valid state: {source}")]
    Invalid {
        offset: i64,
        #[source]
        source: serde_json::Error,
    },
}

pub fn decode_changelog(
    key: Option<&[u8]>,
    payload: Option<&[u8]>,
    offset: i64,
) -> Result<ChangelogEntry, ChangelogError> {
    let key = key.ok_or(ChangelogError::NoKey { offset })?;
    let invalid = |source| ChangelogError::Invalid { offset, source };
    if key == PARTITION_META_KEY {
        let meta = match payload {
            Some(p) => serde_json::from_slice(p).map_err(invalid)?,
            None => PartitionMeta::default(),
        };
        return Ok(ChangelogEntry::Meta(meta));
    }
    match payload {
        None => Ok(ChangelogEntry::Tombstone(
            String::from_utf8_lossy(key).into_owned(),
        )),
        Some(p) => Ok(ChangelogEntry::Customer(Box::new(
            serde_json::from_slice(p).map_err(invalid)?,
        ))),
    }
}
