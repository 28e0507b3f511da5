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

/// The topics the sink writes, in the order [`output_index`], [`STATE_TOPIC`] and
/// [`DEAD_LETTER_TOPIC`] number them.
pub fn sink_topics(topics: &Topics) -> Vec<String> {
    [
        &topics.transitions,
        &topics.care,
        &topics.retention,
        &topics.marketing,
        &topics.state,
        &topics.dead_letters,
    ]
    .map(Clone::clone)
    .to_vec()
}

/// The changelog's index in [`sink_topics`].
pub const STATE_TOPIC: usize = 4;
/// The dead letters' index in [`sink_topics`].
pub const DEAD_LETTER_TOPIC: usize = 5;

/// Which of [`sink_topics`] an output record goes to; `None` for one that is not sent.
pub fn output_index(record: &Record) -> Option<usize> {
    match record {
        Record::Transition(_) => Some(0),
        Record::Action(a) => Some(match a.kind.category() {
            Category::Care => 1,
            Category::Retention => 2,
            Category::Marketing => 3,
        }),
        Record::Suppressed { .. } => None,
    }
}

/// The JSON of an output record, as replay writes it but without the line feed.
pub fn encode_record(record: &Record, buf: &mut Vec<u8>) {
    buf.clear();
    append_record(record, buf);
}

/// [`encode_record`] appended to `buf`.
pub fn append_record(record: &Record, buf: &mut Vec<u8>) {
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

/// The first byte of a customer state record: its encoding. Format 1 (postcard, a compact
/// serde format) is what versions before format 2 wrote; it is still read, so a changelog
/// written by an older version restores.
pub const STATE_FORMAT_POSTCARD: u8 = 1;
/// Format 2: fixed-width fields ([`Customer::write_bytes`]), about ten times cheaper to read.
pub const STATE_FORMAT_FIXED: u8 = 2;

pub fn encode_customer(customer: &Customer) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.push(STATE_FORMAT_FIXED);
    customer.write_bytes(&mut out);
    out
}

/// Decodes a customer state record written by [`encode_customer`], now or by an older
/// version.
pub fn decode_customer(bytes: &[u8]) -> Result<Customer, String> {
    match bytes.split_first() {
        Some((&STATE_FORMAT_FIXED, rest)) => Customer::read_bytes(rest).map_err(|e| e.to_string()),
        Some((&STATE_FORMAT_POSTCARD, rest)) => {
            postcard::from_bytes(rest).map_err(|e| e.to_string())
        }
        Some((other, _)) => Err(format!("unknown state format {other}")),
        None => Err("empty state record".into()),
    }
}

pub fn encode_meta(meta: &PartitionMeta) -> Vec<u8> {
    serde_json::to_vec(meta).expect("partition meta serializes")
}

/// A changelog record, decoded.
#[derive(Debug)]
// Not boxed: a restore decodes a million of these one at a time and moves each straight into
// the engine, and the box cost an allocation and a copy per customer.
#[allow(clippy::large_enum_variant)]
pub enum ChangelogEntry {
    Customer(Customer),
    Tombstone(String),
    Meta(PartitionMeta),
}

/// Why a changelog record could not be read (a bug or a foreign writer: fatal for restore).
#[derive(Debug, thiserror::Error)]
pub enum ChangelogError {
    #[error("changelog record at offset {offset} has no key")]
    NoKey { offset: i64 },
    #[error("changelog record at offset {offset} is not valid state: {detail}")]
    Invalid { offset: i64, detail: String },
}

pub fn decode_changelog(
    key: Option<&[u8]>,
    payload: Option<&[u8]>,
    offset: i64,
) -> Result<ChangelogEntry, ChangelogError> {
    let key = key.ok_or(ChangelogError::NoKey { offset })?;
    let invalid = |detail: String| ChangelogError::Invalid { offset, detail };
    if key == PARTITION_META_KEY {
        let meta = match payload {
            Some(p) => serde_json::from_slice(p).map_err(|e| invalid(e.to_string()))?,
            None => PartitionMeta::default(),
        };
        return Ok(ChangelogEntry::Meta(meta));
    }
    match payload {
        None => Ok(ChangelogEntry::Tombstone(
            String::from_utf8_lossy(key).into_owned(),
        )),
        Some(p) => Ok(ChangelogEntry::Customer(
            decode_customer(p).map_err(invalid)?,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Timestamp;

    #[test]
    fn customer_state_round_trips_through_the_changelog_encoding() {
        let at = Timestamp::parse_rfc3339("2025-01-01T00:00:00.5Z").unwrap();
        let mut c = Customer::new("c-1", at);
        c.purchase_count = 3;
        c.total_spend = 940.99;
        c.last_offset = Some(41);
        c.recent.push(7);
        c.last_sent.set(crate::domain::ActionKind::NurtureLead, at);
        let bytes = encode_customer(&c);
        assert_eq!(bytes[0], STATE_FORMAT_FIXED);
        assert_eq!(decode_customer(&bytes).unwrap(), c);
        // A record an older version wrote (format 1) still restores.
        let mut old = vec![STATE_FORMAT_POSTCARD];
        old.extend(postcard::to_stdvec(&c).unwrap());
        assert_eq!(decode_customer(&old).unwrap(), c);
        assert!(decode_customer(&[9, 1, 2]).is_err());
        assert!(decode_customer(&[]).is_err());
    }
}
