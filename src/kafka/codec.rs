//! Kafka message encodings: output records, dead letters and changelog records.

use rdkafka::message::{Header, OwnedHeaders};
use serde::{Deserialize, Serialize};

use crate::domain::{Customer, Record, Rejection, Timestamp};

/// The changelog key of a partition's own record (its clock and applied offset). A customer
/// id cannot contain U+0000, so it cannot collide.
pub const PARTITION_META_KEY: &[u8] = b"\0partition";

/// A partition's progress, written to its changelog partition after its customers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartitionMeta {
    /// The event-time clock (stream time) of the partition.
    pub clock: Option<Timestamp>,
    /// The last input offset whose effects are all in the changelog.
    pub applied_offset: Option<i64>,
    /// The owner epoch of the instance that wrote it (see [`OwnerEpoch`]); 0 in records of
    /// versions before owner epochs.
    #[serde(default)]
    pub epoch: OwnerEpoch,
    /// The partition's feedback answers and holdout counts (SPEC 10, `GET /voc`), when it has
    /// any; absent in records of versions before them (and ignored by those versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub voc: Option<Box<crate::domain::voc::VocCounts>>,
}

/// Which ownership of a changelog partition wrote a record. Each `at_least_once` instance
/// that takes a partition over writes a progress record with a higher epoch (its claim)
/// before anything else; a restore applies no record of a lower epoch after it, so an
/// instance that lost the partition without knowing it (paused, cut off) cannot change the
/// state its successor restores. Records written before owner epochs count as epoch 0.
pub type OwnerEpoch = u64;

/// The header that carries a tombstone's owner epoch (a tombstone has no value to carry it).
pub const EPOCH_HEADER: &std::ffi::CStr = c"lifecycle_epoch";

/// The most of a rejected record's value a dead letter keeps: the event limit (SPEC 1).
pub const DEAD_LETTER_MAX_VALUE: usize = crate::domain::decode::MAX_EVENT_BYTES;

/// The most of a rejected record's key a dead letter keeps (a customer id is at most 128
/// bytes; a longer key is kept whole up to this).
pub const DEAD_LETTER_MAX_KEY: usize = 1024;

/// The most of the rejected record's own headers a dead letter copies, in bytes as written
/// (names, values and their lengths). With the value (at most 1 MiB), the key (at most
/// [`DEAD_LETTER_MAX_KEY`]), its own headers (under 2 KiB: the detail at most
/// [`DEAD_LETTER_MAX_DETAIL`], a topic name at most 249 bytes) and the record's overhead a
/// dead letter stays under the producer's `message.max.bytes` (1 MiB and 64 KiB): one the
/// producer refused stopped the processing, at every restart. A record produced again under
/// its customer id (`key_mismatch = "repartition"`) copies its headers within it too.
pub const DEAD_LETTER_MAX_HEADERS: usize = 32 * 1024;

/// The most of a rejection's detail a dead letter's `detail` header keeps.
pub const DEAD_LETTER_MAX_DETAIL: usize = 1024;

/// A dead letter's key: the original (null stays null), cut to [`DEAD_LETTER_MAX_KEY`]
/// bytes; with the original size when it was cut.
pub fn dead_letter_key(key: Option<&[u8]>) -> (Option<&[u8]>, Option<usize>) {
    match key {
        Some(k) if k.len() > DEAD_LETTER_MAX_KEY => {
            (Some(&k[..DEAD_LETTER_MAX_KEY]), Some(k.len()))
        }
        other => (other, None),
    }
}

/// A dead letter's value: the original (null stays null), cut to
/// [`DEAD_LETTER_MAX_VALUE`] bytes; with the original size when it was cut.
pub fn dead_letter_value(value: Option<&[u8]>) -> (Option<&[u8]>, Option<usize>) {
    match value {
        Some(v) if v.len() > DEAD_LETTER_MAX_VALUE => {
            (Some(&v[..DEAD_LETTER_MAX_VALUE]), Some(v.len()))
        }
        other => (other, None),
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

/// The headers of a dead letter: why, and where the original came from; `cut_from`, the
/// original value's size when the dead letter keeps only its start (`value_truncated`).
///
/// The original record's headers come first, as they were (null values stay null), those
/// that fit in [`DEAD_LETTER_MAX_HEADERS`] bytes as written, in order, and at most
/// [`raw_headers::MAX_COPIED`](super::raw_headers::MAX_COPIED) (`headers_truncated` when some
/// are left out),
/// and ours after them: a reader that takes the last header of a name gets ours.
/// `key_cut_from`: the original key's size when the dead letter keeps only its start.
#[allow(clippy::too_many_arguments)]
pub fn dead_letter_headers(
    rejection: &Rejection,
    topic: &str,
    partition: i32,
    offset: i64,
    cut_from: Option<usize>,
    key_cut_from: Option<usize>,
    original: &super::raw_headers::RawHeaders<'_>,
) -> OwnedHeaders {
    let partition = partition.to_string();
    let offset = offset.to_string();
    let headers = OwnedHeaders::new_with_capacity(10 + original.len());
    let (headers, all) = original.copy_within(headers, DEAD_LETTER_MAX_HEADERS);
    let headers = match all {
        false => headers.insert(Header {
            key: "headers_truncated",
            value: Some("true"),
        }),
        true => headers,
    };
    let headers = match key_cut_from {
        Some(size) => headers
            .insert(Header {
                key: "key_truncated",
                value: Some("true"),
            })
            .insert(Header {
                key: "original_key_size",
                value: Some(size.to_string().as_str()),
            }),
        None => headers,
    };
    let headers = match cut_from {
        Some(size) => headers
            .insert(Header {
                key: "value_truncated",
                value: Some("true"),
            })
            .insert(Header {
                key: "original_size",
                value: Some(size.to_string().as_str()),
            }),
        None => headers,
    };
    headers
        .insert(Header {
            key: "reason",
            value: Some(rejection.reason.as_str()),
        })
        .insert(Header {
            key: "schema_version",
            value: Some("1"),
        })
        .insert(Header {
            key: "detail",
            value: Some(crate::domain::decode::cut_text(
                &rejection.detail,
                DEAD_LETTER_MAX_DETAIL,
            )),
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

/// The first byte of a customer state record: its format. Format 1 (postcard, a serde
/// format laid out by the struct of its day) was written before session 8 and is no longer
/// read: its reader decoded today's struct, not the bytes old versions wrote (see
/// docs/decisions.md). Formats 2 and 3 are read from committed fixtures of real bytes
/// (`tests/changelog_fixtures.rs`).
pub const STATE_FORMAT_POSTCARD: u8 = 1;
/// Format 2: fixed-width fields ([`Customer::write_bytes`]), about ten times cheaper to read.
pub const STATE_FORMAT_FIXED: u8 = 2;
/// Format 3: the writer's owner epoch (8 bytes, little-endian), then format 2's fields.
pub const STATE_FORMAT_FIXED_EPOCH: u8 = 3;

/// A customer's state record, written by an owner of epoch `epoch`.
pub fn encode_customer_owned(customer: &Customer, epoch: OwnerEpoch) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.push(STATE_FORMAT_FIXED_EPOCH);
    out.extend_from_slice(&epoch.to_le_bytes());
    customer.write_bytes(&mut out);
    out
}

/// A customer's state record of epoch 0.
pub fn encode_customer(customer: &Customer) -> Vec<u8> {
    encode_customer_owned(customer, 0)
}

/// Decodes a customer state record written by [`encode_customer`], now or by an older
/// version.
pub fn decode_customer(bytes: &[u8]) -> Result<Customer, String> {
    decode_customer_owned(bytes).map(|(c, _)| c)
}

/// A customer state record and the owner epoch that wrote it (0 for formats 1 and 2).
pub fn decode_customer_owned(bytes: &[u8]) -> Result<(Customer, OwnerEpoch), String> {
    match bytes.split_first() {
        Some((&STATE_FORMAT_FIXED_EPOCH, rest)) => {
            let (epoch, fields) = rest
                .split_first_chunk::<8>()
                .ok_or_else(|| "format 3 record shorter than its epoch".to_string())?;
            let customer = Customer::read_bytes(fields).map_err(|e| e.to_string())?;
            Ok((customer, OwnerEpoch::from_le_bytes(*epoch)))
        }
        Some((&STATE_FORMAT_FIXED, rest)) => Customer::read_bytes(rest)
            .map(|c| (c, 0))
            .map_err(|e| e.to_string()),
        Some((&STATE_FORMAT_POSTCARD, _)) => Err(
            "state format 1, written before format 2 (session 8), is no longer read: rebuild the \
             state by consuming the input from its start (a new consumer group, or its offsets reset)"
                .into(),
        ),
        Some((other, _)) => Err(format!("unknown state format {other}")),
        None => Err("empty state record".into()),
    }
}

/// A tombstone's owner epoch from its [`EPOCH_HEADER`] value (decimal); 0 without one.
pub fn tombstone_epoch(header: Option<&[u8]>) -> OwnerEpoch {
    header
        .and_then(|h| std::str::from_utf8(h).ok())
        .and_then(|h| h.parse().ok())
        .unwrap_or(0)
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
    Customer(Customer, OwnerEpoch),
    Tombstone(String, OwnerEpoch),
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

/// Decodes a changelog record; `tombstone_epoch` is read only for a tombstone (the epoch of
/// the others is in their value).
pub fn decode_changelog(
    key: Option<&[u8]>,
    payload: Option<&[u8]>,
    offset: i64,
    epoch_of_tombstone: impl FnOnce() -> OwnerEpoch,
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
            epoch_of_tombstone(),
        )),
        Some(p) => {
            let (customer, epoch) = decode_customer_owned(p).map_err(invalid)?;
            Ok(ChangelogEntry::Customer(customer, epoch))
        }
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
        let bytes = encode_customer_owned(&c, 7);
        assert_eq!(bytes[0], STATE_FORMAT_FIXED_EPOCH);
        assert_eq!(decode_customer_owned(&bytes).unwrap(), (c.clone(), 7));
        // Format 2 (before owner epochs) reads as epoch 0.
        let mut two = vec![STATE_FORMAT_FIXED];
        c.write_bytes(&mut two);
        assert_eq!(decode_customer_owned(&two).unwrap(), (c.clone(), 0));
        assert!(decode_customer(&[STATE_FORMAT_FIXED_EPOCH, 1, 2]).is_err());
        // Format 1 is refused with what to do.
        let old = decode_customer(&[STATE_FORMAT_POSTCARD, 0, 1]).unwrap_err();
        assert!(old.contains("no longer read"), "{old}");
        assert!(decode_customer(&[9, 1, 2]).is_err());
        // A progress record of a version before owner epochs is epoch 0.
        let meta = decode_changelog(
            Some(PARTITION_META_KEY),
            Some(br#"{"clock":null,"applied_offset":12}"#),
            0,
            || 9,
        );
        match meta {
            Ok(ChangelogEntry::Meta(m)) => assert_eq!((m.applied_offset, m.epoch), (Some(12), 0)),
            other => panic!("not a progress record: {other:?}"),
        }
        match decode_changelog(Some(b"c-1"), None, 0, || tombstone_epoch(Some(b"4"))) {
            Ok(ChangelogEntry::Tombstone(id, 4)) => assert_eq!(id, "c-1"),
            other => panic!("not a tombstone of epoch 4: {other:?}"),
        }
        assert!(decode_customer(&[]).is_err());
    }
}
