//! What the fuzz targets assert, in one file compiled twice: by the AFL++ targets
//! (`fuzz/src/bin/*.rs`, through `fuzz/src/lib.rs`) and by the main crate's
//! `tests/fuzz_corpus.rs` (through `#[path]`), so the short run in `cargo test` and the long
//! runs under AFL++ check exactly the same things. It may use only what both builds have:
//! `lifecycle`, `serde_json` and std.
//!
//! Every check panics on a violation; AFL++ counts a panic as a crash.

use std::cell::Cell;

use lifecycle::domain::customer::Customer;
use lifecycle::domain::decode::{MAX_EVENT_BYTES, MAX_FUTURE, MAX_ID_BYTES};
use lifecycle::domain::event::{KanoAnswer, NeedLevel};
use lifecycle::domain::{ActionKind, Event, EventType, Payload, RejectReason, Stage, Timestamp};
use lifecycle::domain::{Span, decode};
use lifecycle::kafka::codec::{
    ChangelogEntry, ChangelogError, OwnerEpoch, PARTITION_META_KEY, PartitionMeta,
    STATE_FORMAT_FIXED, STATE_FORMAT_FIXED_EPOCH, STATE_FORMAT_POSTCARD, decode_changelog,
    decode_customer, decode_customer_owned, encode_customer_owned, encode_meta, tombstone_epoch,
};
use serde_json::{Map, Value};

/// The system time every decode check runs at (only `future_timestamp` reads it).
pub const NOW: &str = "2026-06-01T00:00:00Z";

/// The input offset handed to the changelog decoder (it only goes into errors).
const OFFSET: i64 = 42;

pub fn now() -> Timestamp {
    time(NOW)
}

fn time(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).expect("a valid time")
}

// ---------------------------------------------------------------------------------------
// decode

/// Feeds `bytes` to [`decode`] (it must not panic) and compares its verdict with
/// `std::str::from_utf8` and serde_json's where SPEC 1 and docs/decisions.md ("Input (SPEC
/// 1)") say they must agree:
///
/// - over 1 MiB: `too_large`, before anything else;
/// - not UTF-8 (std's verdict): `invalid_utf8`;
/// - not JSON (serde_json's verdict): `invalid_json`, or `duplicate_key` when a duplicate key
///   comes before the fault (our parser reports the first fault it reads; serde_json does not
///   look for duplicates). Excluded: a number serde_json calls out of range. The contract
///   keeps an integer written without fraction or exponent an integer whatever its digits
///   (`invalid_value` where a field is, accepted in an unknown member), where serde_json
///   refuses one whose double is infinite; a `1e400` both refuse;
/// - JSON: never `invalid_json` (both follow RFC 8259 and both refuse nesting past 127
///   levels, so depth is no exclusion); not an object: `not_an_object` (or `duplicate_key`
///   inside it); an object: never `not_an_object`;
/// - an accepted event: its ids, type, time and the typed `data` fields equal what
///   serde_json reads from the same text, and it keeps SPEC 1's rules (ids and type of
///   1..=128 bytes, no control character in `customer_id`, `occurred_at` in the years
///   1678-2261 and at most 24 hours after [`NOW`]).
///
/// Not compared: duplicate keys where serde_json parses (it keeps the last; we refuse), and
/// lone surrogates are no exclusion (both refuse an escaped lone surrogate).
pub fn check_decode(bytes: &[u8]) {
    let ours = decode(bytes, now());
    let reason = ours.as_ref().err().map(|r| r.reason);
    if bytes.len() > MAX_EVENT_BYTES {
        assert_eq!(reason, Some(RejectReason::TooLarge), "{}", show(bytes));
        return;
    }
    let Ok(text) = std::str::from_utf8(bytes) else {
        assert_eq!(reason, Some(RejectReason::InvalidUtf8), "{}", show(bytes));
        return;
    };
    match serde_json::from_str::<Value>(text) {
        // The exclusion above: serde_json's doubles end where our integers do not.
        Err(e) if e.to_string().starts_with("number out of range") => {}
        Err(e) => assert!(
            matches!(
                reason,
                Some(RejectReason::InvalidJson | RejectReason::DuplicateKey)
            ),
            "serde_json refuses ({e}) but decode says {ours:?}: {}",
            show(bytes)
        ),
        Ok(Value::Object(map)) => {
            assert!(
                !matches!(
                    reason,
                    Some(RejectReason::InvalidJson | RejectReason::NotAnObject)
                ),
                "serde_json reads an object but decode says {ours:?}: {}",
                show(bytes)
            );
            if let Ok(event) = &ours {
                agree(&map, event, bytes);
            }
        }
        Ok(other) => assert!(
            matches!(
                reason,
                Some(RejectReason::NotAnObject | RejectReason::DuplicateKey)
            ),
            "serde_json reads a {} but decode says {ours:?}: {}",
            kind(&other),
            show(bytes)
        ),
    }
}

/// An accepted event says what serde_json reads from the same object.
fn agree(map: &Map<String, Value>, event: &Event, bytes: &[u8]) {
    let at = || show(bytes);
    let string = |key: &str| map.get(key).and_then(Value::as_str);
    assert_eq!(string("event_id"), Some(&*event.event_id), "{}", at());
    assert_eq!(string("customer_id"), Some(&*event.customer_id), "{}", at());
    let type_name = string("type").unwrap_or_else(|| panic!("no type string: {}", at()));
    assert_eq!(EventType::parse(type_name), event.event_type(), "{}", at());
    let occurred_at = string("occurred_at").map(Timestamp::parse_rfc3339);
    assert_eq!(occurred_at, Some(Ok(event.occurred_at)), "{}", at());
    // And what SPEC 1 requires of every accepted event, whatever serde_json says.
    for id in [&*event.event_id, &*event.customer_id, type_name] {
        assert!((1..=MAX_ID_BYTES).contains(&id.len()), "{}", at());
    }
    assert!(!event.customer_id.chars().any(char::is_control), "{}", at());
    let years = time("1678-01-01T00:00:00Z")..time("2262-01-01T00:00:00Z");
    assert!(years.contains(&event.occurred_at), "{}", at());
    assert!(event.occurred_at <= now().plus(MAX_FUTURE), "{}", at());
    // `null` counts as absent (SPEC 1). Numbers are compared as doubles: serde_json reads `-0`
    // as the double -0.0 where the contract reads the integer 0, and `==` equates the two.
    let data = map.get("data").filter(|d| !d.is_null());
    let field = |key: &str| data.and_then(|d| d.get(key)).filter(|v| !v.is_null());
    let number = |key: &str| field(key).and_then(Value::as_f64);
    let small = |n: Option<u8>| n.map(f64::from);
    match event.payload {
        Some(Payload::Purchase { amount, need_level }) => {
            assert_eq!(number("amount"), Some(amount), "{}", at());
            let level = field("need_level").and_then(Value::as_str);
            assert_eq!(level, need_level.map(NeedLevel::as_str), "{}", at());
        }
        Some(Payload::Refund { amount }) => {
            assert_eq!(number("amount"), Some(amount), "{}", at());
        }
        Some(Payload::SupportTicket { severity }) => {
            let written = field("severity").and_then(Value::as_str);
            assert_eq!(written.unwrap_or("normal"), severity.as_str(), "{}", at());
        }
        Some(Payload::Feedback {
            nps,
            satisfaction,
            kano,
        }) => {
            assert_eq!(number("nps"), small(nps), "{}", at());
            assert_eq!(number("satisfaction"), small(satisfaction), "{}", at());
            let answer = |key: &str| {
                let kano = field("kano")?;
                kano.get(key).and_then(Value::as_f64)
            };
            let (functional, dysfunctional) = match kano {
                Some(KanoAnswer {
                    functional,
                    dysfunctional,
                }) => (Some(functional), Some(dysfunctional)),
                None => (None, None),
            };
            assert_eq!(answer("functional"), small(functional), "{}", at());
            assert_eq!(answer("dysfunctional"), small(dysfunctional), "{}", at());
        }
        Some(
            Payload::LeadCreated
            | Payload::Engagement
            | Payload::SubscriptionStarted
            | Payload::SubscriptionCancelled
            | Payload::Complaint
            | Payload::ConsentWithdrawn
            | Payload::ConsentGranted
            | Payload::CustomerErased,
        )
        | None => {}
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// An input in a failure message: its start, escaped, and its size.
fn show(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(300)];
    format!("{} bytes: {}", bytes.len(), head.escape_ascii())
}

// ---------------------------------------------------------------------------------------
// changelog

/// A changelog record (key, value, epoch header) as the `changelog` target reads it from
/// fuzzer bytes:
///
/// | bytes | meaning |
/// |---|---|
/// | 1 | flags: 1 a key, 2 the key is the partition's progress key, 4 a value, 8 an epoch header |
/// | 1 + n | key length, key bytes |
/// | 1 + m | epoch header length, header bytes |
/// | rest | the value |
///
/// Missing bytes read as empty, so every input is some record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChangelogInput<'a> {
    pub key: Option<&'a [u8]>,
    pub payload: Option<&'a [u8]>,
    pub epoch_header: Option<&'a [u8]>,
}

const HAS_KEY: u8 = 1;
const META_KEY: u8 = 2;
const HAS_PAYLOAD: u8 = 4;
const HAS_HEADER: u8 = 8;

impl<'a> ChangelogInput<'a> {
    pub fn parse(bytes: &'a [u8]) -> ChangelogInput<'a> {
        let mut rest = bytes;
        let mut byte = || match rest.split_first() {
            Some((b, tail)) => {
                rest = tail;
                *b
            }
            None => 0,
        };
        let flags = byte();
        let key_len = byte();
        let (key, tail) = rest.split_at(usize::from(key_len).min(rest.len()));
        rest = tail;
        let header_len = rest.first().copied().unwrap_or(0);
        rest = rest.get(1..).unwrap_or(&[]);
        let (header, payload) = rest.split_at(usize::from(header_len).min(rest.len()));
        let key = match (flags & HAS_KEY != 0, flags & META_KEY != 0) {
            (false, _) => None,
            (true, true) => Some(PARTITION_META_KEY),
            (true, false) => Some(key),
        };
        ChangelogInput {
            key,
            payload: (flags & HAS_PAYLOAD != 0).then_some(payload),
            epoch_header: (flags & HAS_HEADER != 0).then_some(header),
        }
    }

    /// The bytes [`ChangelogInput::parse`] reads back as `self` (keys and headers up to 255
    /// bytes).
    pub fn to_bytes(self) -> Vec<u8> {
        let mut flags = 0;
        let mut key: &[u8] = &[];
        if let Some(k) = self.key {
            flags |= HAS_KEY;
            if k == PARTITION_META_KEY {
                flags |= META_KEY;
            } else {
                key = k;
            }
        }
        if self.payload.is_some() {
            flags |= HAS_PAYLOAD;
        }
        if self.epoch_header.is_some() {
            flags |= HAS_HEADER;
        }
        let header = self.epoch_header.unwrap_or_default();
        let mut out = vec![
            flags,
            u8::try_from(key.len()).expect("a key of 255 bytes or less"),
        ];
        out.extend_from_slice(key);
        out.push(u8::try_from(header.len()).expect("a header of 255 bytes or less"));
        out.extend_from_slice(header);
        out.extend_from_slice(self.payload.unwrap_or_default());
        out
    }
}

/// Feeds the record in `bytes` to [`decode_changelog`] (it must not panic) and checks what it
/// returns: an error exactly when there is no key or the value is not a state (the same
/// verdict as [`decode_customer_owned`] or serde_json's on the progress record), the epoch
/// header read for a tombstone and only for one, and every decoded state, re-encoded, decoding
/// to the same state and epoch (customers with [`encode_customer_owned`], progress records
/// with [`encode_meta`]).
pub fn check_changelog(bytes: &[u8]) {
    let input = ChangelogInput::parse(bytes);
    let header_read = Cell::new(false);
    let decoded = decode_changelog(input.key, input.payload, OFFSET, || {
        header_read.set(true);
        tombstone_epoch(input.epoch_header)
    });
    let is_meta = input.key == Some(PARTITION_META_KEY);
    let tombstone = input.key.is_some() && !is_meta && input.payload.is_none();
    assert_eq!(header_read.get(), tombstone, "{input:?}: {decoded:?}");
    match decoded {
        Err(ChangelogError::NoKey { offset }) => {
            assert!(input.key.is_none(), "{input:?}");
            assert_eq!(offset, OFFSET);
        }
        Err(ChangelogError::Invalid { offset, .. }) => {
            assert_eq!(offset, OFFSET);
            let payload = input.payload.expect("only a value is invalid");
            if is_meta {
                assert!(serde_json::from_slice::<PartitionMeta>(payload).is_err());
            } else {
                assert!(decode_customer_owned(payload).is_err(), "{input:?}");
            }
        }
        Ok(ChangelogEntry::Meta(meta)) => {
            assert!(is_meta, "{input:?}");
            match input.payload {
                None => assert_eq!(meta, PartitionMeta::default()),
                Some(p) => assert_eq!(
                    serde_json::from_slice::<PartitionMeta>(p).ok().as_ref(),
                    Some(&meta)
                ),
            }
            let again = encode_meta(&meta);
            match decode_changelog(Some(PARTITION_META_KEY), Some(&again), OFFSET, || 0) {
                Ok(ChangelogEntry::Meta(back)) => assert_eq!(back, meta, "{input:?}"),
                other => panic!("{meta:?} re-encoded reads as {other:?}"),
            }
        }
        Ok(ChangelogEntry::Tombstone(id, epoch)) => {
            assert!(tombstone, "{input:?}");
            let key = input.key.expect("a tombstone has a key");
            assert_eq!(id, String::from_utf8_lossy(key));
            assert_eq!(epoch, tombstone_epoch(input.epoch_header));
            // The header as the writer puts it (decimal) reads back as the same epoch.
            assert_eq!(tombstone_epoch(Some(epoch.to_string().as_bytes())), epoch);
        }
        Ok(ChangelogEntry::Customer(customer, epoch)) => {
            assert!(!is_meta, "{input:?}");
            let payload = input.payload.expect("a state has a value");
            let direct = decode_customer_owned(payload).expect("decode_changelog read it");
            assert_same(&direct.0, &customer, input);
            assert_eq!(direct.1, epoch);
            let format_epoch = match payload.first() {
                Some(&STATE_FORMAT_FIXED_EPOCH) => {
                    let le = payload[1..9].try_into().expect("eight bytes");
                    OwnerEpoch::from_le_bytes(le)
                }
                Some(&STATE_FORMAT_FIXED) => 0,
                other => panic!("format {other:?} decoded: {input:?}"),
            };
            assert_eq!(epoch, format_epoch, "{input:?}");
            // The round trip: what a restore read, the next write must reproduce.
            let again = encode_customer_owned(&customer, epoch);
            match decode_customer_owned(&again) {
                Ok((back, back_epoch)) => {
                    assert_same(&back, &customer, input);
                    assert_eq!(back_epoch, epoch, "{input:?}");
                }
                Err(e) => panic!("{customer:?} re-encoded does not decode ({e}): {input:?}"),
            }
            assert_same(
                &decode_customer(&again).expect("decoded above"),
                &customer,
                input,
            );
        }
    }
}

/// Two states are the same: every field equal, the sums bit for bit (so a NaN read from a
/// record equals itself).
fn assert_same(a: &Customer, b: &Customer, input: ChangelogInput) {
    assert_eq!(format!("{a:?}"), format!("{b:?}"), "{input:?}");
    assert_eq!(
        a.total_spend.to_bits(),
        b.total_spend.to_bits(),
        "{input:?}"
    );
    assert_eq!(
        a.refund_total.to_bits(),
        b.refund_total.to_bits(),
        "{input:?}"
    );
}

/// The seed records of the `changelog` corpus, by file name: states written by the encoder in
/// each format, progress records, tombstones with and without an epoch header, and a record
/// without a key. `tests/fuzz_corpus.rs` checks `fuzz/corpus/changelog/` holds exactly these.
pub fn changelog_seeds() -> Vec<(&'static str, Vec<u8>)> {
    let at = Timestamp::parse_rfc3339("2025-01-01T00:00:00.5Z").expect("valid");
    let fresh = Customer::new("c-1", at);
    let mut full = Customer::new("c-ü-42", at);
    full.stage = Stage::Churning;
    full.seq = 7;
    full.stage_entered_at = at.plus(Span::from_days(90));
    full.first_conversion_at = Some(at.plus(Span::from_nanos(3)));
    full.last_activity_at = Some(at.plus(Span::from_days(2)));
    full.purchase_count = 12;
    full.total_spend = 940.99;
    full.refund_total = 0.1;
    full.complaint_count = 2;
    full.last_nps = Some(0);
    full.contactable = false;
    full.need_level = Some(NeedLevel::Esteem);
    for i in 0..20 {
        full.recent.push(u64::MAX - i);
    }
    full.last_sent.set(ActionKind::SurpriseDelight, at);
    full.last_sent.set(ActionKind::NurtureLead, Timestamp::MIN);
    full.last_offset = Some(41);
    full.cap_times.record(at, 3);
    full.cap_times.record(at.plus(Span::from_days(1)), 3);
    let format_2 = |c: &Customer| {
        let mut out = vec![STATE_FORMAT_FIXED];
        c.write_bytes(&mut out);
        out
    };
    let meta = PartitionMeta {
        clock: Some(at),
        applied_offset: Some(12),
        epoch: 3,
        voc: None,
    };
    let record = |key: Option<&[u8]>, payload: Option<&[u8]>, header: Option<&[u8]>| {
        ChangelogInput {
            key,
            payload,
            epoch_header: header,
        }
        .to_bytes()
    };
    let key = |c: &Customer| c.id.as_bytes().to_vec();
    let meta_key = Some(PARTITION_META_KEY);
    vec![
        (
            "state-format3-fresh",
            record(
                Some(&key(&fresh)),
                Some(&encode_customer_owned(&fresh, 0)),
                None,
            ),
        ),
        (
            "state-format3-full-epoch7",
            record(
                Some(&key(&full)),
                Some(&encode_customer_owned(&full, 7)),
                None,
            ),
        ),
        (
            "state-format2-full",
            record(Some(&key(&full)), Some(&format_2(&full)), None),
        ),
        // Format 1 (postcard) is no longer read: refused, whatever follows.
        (
            "state-format1-refused",
            record(
                Some(b"c-1"),
                Some(&[STATE_FORMAT_POSTCARD, 3, b'c', b'-', b'1']),
                None,
            ),
        ),
        (
            "meta-epoch3",
            record(meta_key, Some(&encode_meta(&meta)), None),
        ),
        (
            "meta-before-epochs",
            record(
                meta_key,
                Some(br#"{"clock":null,"applied_offset":12}"#),
                None,
            ),
        ),
        ("meta-null", record(meta_key, None, None)),
        ("tombstone-epoch4", record(Some(b"c-1"), None, Some(b"4"))),
        ("tombstone-no-header", record(Some(b"c-1"), None, None)),
        (
            "no-key",
            record(None, Some(&encode_customer_owned(&fresh, 1)), None),
        ),
    ]
}
