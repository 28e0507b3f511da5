//! Bytes to a typed [`Event`] (SPEC section 1), in one place: every way an input can be
//! refused is a [`RejectReason`], never a panic.

use std::borrow::Cow;
use std::fmt;

use super::event::{Event, EventType, KanoAnswer, NeedLevel, Payload, Severity};
use super::json::{DUPLICATE_KEY, EventFields, Json, Members, member};
use super::time::{Span, TimeError, Timestamp};

/// An event larger than this (in bytes, without its line feed) is rejected.
pub const MAX_EVENT_BYTES: usize = 1024 * 1024;
/// Longest `event_id`, `customer_id` and `type`, in UTF-8 bytes.
pub const MAX_ID_BYTES: usize = 128;
/// How far ahead of the system time an `occurred_at` may be.
pub const MAX_FUTURE: Span = Span::from_nanos(24 * 3600 * 1_000_000_000);

/// Why an input was rejected: the value of the dead-letter `reason` header and of the
/// `reason` field in replay's rejects file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    TooLarge,
    InvalidUtf8,
    InvalidJson,
    DuplicateKey,
    NotAnObject,
    MissingField,
    WrongType,
    InvalidValue,
    InvalidTimestamp,
    FutureTimestamp,
    /// Kafka only: the record's key is not its `customer_id` (empty, null or another id).
    KeyMismatch,
}

impl RejectReason {
    pub const ALL: [RejectReason; 11] = [
        RejectReason::TooLarge,
        RejectReason::InvalidUtf8,
        RejectReason::InvalidJson,
        RejectReason::DuplicateKey,
        RejectReason::NotAnObject,
        RejectReason::MissingField,
        RejectReason::WrongType,
        RejectReason::InvalidValue,
        RejectReason::InvalidTimestamp,
        RejectReason::FutureTimestamp,
        RejectReason::KeyMismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RejectReason::TooLarge => "too_large",
            RejectReason::InvalidUtf8 => "invalid_utf8",
            RejectReason::InvalidJson => "invalid_json",
            RejectReason::DuplicateKey => "duplicate_key",
            RejectReason::NotAnObject => "not_an_object",
            RejectReason::MissingField => "missing_field",
            RejectReason::WrongType => "wrong_type",
            RejectReason::InvalidValue => "invalid_value",
            RejectReason::InvalidTimestamp => "invalid_timestamp",
            RejectReason::FutureTimestamp => "future_timestamp",
            RejectReason::KeyMismatch => "key_mismatch",
        }
    }
}

impl fmt::Display for RejectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected input: the reason (a closed set) and a human detail naming the field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rejection {
    pub reason: RejectReason,
    pub detail: String,
}

impl Rejection {
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Rejection {
        Rejection {
            reason,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.reason, self.detail)
    }
}

type Result<T> = std::result::Result<T, Rejection>;

/// 1678-01-01T00:00:00Z and the last nanosecond of 2261 (UTC), in ns since the epoch: the
/// years an `occurred_at` may lie in (SPEC 1), whole years inside what 64-bit nanoseconds hold.
const FIRST_INSTANT: i64 = -9_214_560_000_000_000_000;
const LAST_INSTANT: i64 = 9_214_646_400_000_000_000 - 1;

/// Decodes one event. `now` is the system time, used only for the `future_timestamp` rule.
pub fn decode(bytes: &[u8], now: Timestamp) -> Result<Event<'_>> {
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(Rejection::new(
            RejectReason::TooLarge,
            format!("{} bytes, the limit is {MAX_EVENT_BYTES}", bytes.len()),
        ));
    }
    // simdutf8 checks a line several times faster than std (a tenth of decoding, before);
    // std reports where an invalid line goes wrong.
    if let Ok(text) = simdutf8::basic::from_utf8(bytes) {
        return decode_str(text, now);
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Rejection::new(
            RejectReason::InvalidUtf8,
            format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        )
    })?;
    decode_str(text, now)
}

/// Decodes one event from text already known to be UTF-8 and within the size limit.
///
/// Two paths, one result: an event of the usual shape (only the contract's top-level keys,
/// `data` an object of a few members) is read member by member ([`EventFields`]), without
/// building a tree; anything else, and anything that fails a check on the fast path, is
/// parsed into a [`Json`] tree and decoded again from it, so every rejection and its detail
/// come from one place. Both end in [`decode_fields`].
pub fn decode_str(text: &str, now: Timestamp) -> Result<Event<'_>> {
    let mut fields = EventFields::default();
    if fields.parse(text) {
        let event_id = fields.event_id.take();
        let customer_id = fields.customer_id.take();
        let type_name = fields.type_name.take();
        let data = match fields.data() {
            Some(members) => DataValue::Object(members),
            None => DataValue::Absent,
        };
        if let Ok(event) = decode_fields(
            event_id,
            customer_id,
            type_name,
            fields.occurred_at.as_ref(),
            data,
            now,
        ) {
            return Ok(event);
        }
    }
    decode_tree(text, now)
}

/// `text` cut to at most `max` bytes, at a character boundary.
pub fn cut_text(text: &str, max: usize) -> &str {
    let end = (0..=max.min(text.len()))
        .rev()
        .find(|i| text.is_char_boundary(*i))
        .unwrap_or(0);
    &text[..end]
}

/// A text that is not one JSON value: `duplicate_key` or `invalid_json`.
fn json_rejection(e: super::json::JsonError) -> Rejection {
    let msg = e.to_string();
    let reason = if msg.starts_with(DUPLICATE_KEY) {
        RejectReason::DuplicateKey
    } else {
        RejectReason::InvalidJson
    };
    Rejection::new(reason, msg)
}

/// Checks `bytes` as the decoder checks an event's text (UTF-8, one JSON value, no duplicate
/// key at any depth, nesting within the limit), for JSON another parser reads after it: the
/// CloudEvents envelope and data (serde_json keeps the last of duplicate keys silently).
pub fn check_json(bytes: &[u8]) -> Result<&str> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Rejection::new(
            RejectReason::InvalidUtf8,
            format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        )
    })?;
    Json::parse(text).map_err(json_rejection)?;
    Ok(text)
}

/// The tree path of [`decode_str`].
fn decode_tree(text: &str, now: Timestamp) -> Result<Event<'_>> {
    let json = Json::parse(text).map_err(json_rejection)?;
    let Json::Object(members) = json else {
        return Err(Rejection::new(
            RejectReason::NotAnObject,
            format!("an event is a JSON object, not {}", json.type_name()),
        ));
    };
    // Keys are distinct (the parser refuses duplicates); a null counts as absent.
    let (mut event_id, mut customer_id, mut type_name) = (None, None, None);
    let (mut occurred_at, mut data) = (None, None);
    for (key, value) in members {
        if matches!(value, Json::Null) {
            continue;
        }
        match &*key {
            "event_id" => event_id = Some(value),
            "customer_id" => customer_id = Some(value),
            "type" => type_name = Some(value),
            "occurred_at" => occurred_at = Some(value),
            "data" => data = Some(value),
            _ => {}
        }
    }
    let data = match &data {
        None => DataValue::Absent,
        Some(Json::Object(members)) => DataValue::Object(members),
        Some(other) => DataValue::Other(other),
    };
    decode_fields(
        event_id,
        customer_id,
        type_name,
        occurred_at.as_ref(),
        data,
        now,
    )
}

/// The `data` member of an event.
enum DataValue<'j, 'a> {
    Absent,
    Object(&'j Members<'a>),
    Other(&'j Json<'a>),
}

/// Checks the members the contract defines, in the order their rejections are reported.
fn decode_fields<'a>(
    event_id: Option<Json<'a>>,
    customer_id: Option<Json<'a>>,
    type_name: Option<Json<'a>>,
    occurred_at: Option<&Json<'a>>,
    data: DataValue<'_, 'a>,
    now: Timestamp,
) -> Result<Event<'a>> {
    let event_id = id(event_id, "event_id")?;
    let customer_id = id(customer_id, "customer_id")?;
    // ASCII ids (the usual ones) are checked byte by byte; Unicode's control characters
    // outside ASCII (U+0080..=U+009F) only in ids that have non-ASCII bytes.
    let control = |s: &str| {
        if s.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
            s.chars().find(|c| c.is_control())
        } else {
            None
        }
    };
    if let Some(c) = control(&customer_id) {
        return Err(Rejection::new(
            RejectReason::InvalidValue,
            format!(
                "customer_id contains the control character U+{:04X}",
                c as u32
            ),
        ));
    }
    let type_name = id(type_name, "type")?;
    let occurred_at = match occurred_at {
        None | Some(Json::Null) => return Err(missing("occurred_at")),
        Some(Json::Str(s)) => match Timestamp::parse_rfc3339(s) {
            Ok(t) if (FIRST_INSTANT..=LAST_INSTANT).contains(&t.as_nanos()) => t,
            Ok(_) | Err(TimeError::TooEarly | TimeError::TooLate) => {
                return Err(Rejection::new(
                    RejectReason::InvalidTimestamp,
                    "occurred_at is outside the years 1678-2261 (UTC)",
                ));
            }
            Err(TimeError::Malformed) => {
                return Err(Rejection::new(
                    RejectReason::InvalidTimestamp,
                    "occurred_at is not an RFC 3339 date-time YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)",
                ));
            }
        },
        Some(other) => return Err(wrong_type("occurred_at", "string", other)),
    };
    let data = match data {
        DataValue::Absent => None,
        DataValue::Object(members) => Some(members),
        DataValue::Other(other) => return Err(wrong_type("data", "object", other)),
    };
    let (payload, feature) = match EventType::parse(&type_name) {
        Some(t) => {
            let (payload, feature) = payload(t, data)?;
            (Some(payload), feature)
        }
        None => (None, None),
    };
    if occurred_at > now.plus(MAX_FUTURE) {
        return Err(Rejection::new(
            RejectReason::FutureTimestamp,
            format!("occurred_at is more than 24 hours after the system time {now}"),
        ));
    }
    Ok(Event {
        event_id,
        customer_id,
        occurred_at,
        payload,
        feature,
    })
}

/// A required 1..=128-byte string member (a null counts as missing).
fn id<'a>(value: Option<Json<'a>>, key: &str) -> Result<Cow<'a, str>> {
    match value {
        None | Some(Json::Null) => Err(missing(key)),
        Some(Json::Str(s)) if s.is_empty() || s.len() > MAX_ID_BYTES => Err(Rejection::new(
            RejectReason::InvalidValue,
            format!("{key} must be 1..={MAX_ID_BYTES} bytes, it has {}", s.len()),
        )),
        Some(Json::Str(s)) => Ok(s),
        Some(other) => Err(wrong_type(key, "string", &other)),
    }
}

fn missing(key: &str) -> Rejection {
    Rejection::new(
        RejectReason::MissingField,
        format!("required field {key} is missing"),
    )
}

fn wrong_type(key: &str, expected: &str, got: &Json) -> Rejection {
    Rejection::new(
        RejectReason::WrongType,
        format!("{key} must be {expected}, not {}", got.type_name()),
    )
}

fn invalid(key: &str, rule: &str) -> Rejection {
    Rejection::new(RejectReason::InvalidValue, format!("{key} must be {rule}"))
}

/// Typed accessors on the optional `data` object; a `null` field counts as absent.
struct Data<'j, 'a>(Option<&'j Members<'a>>);

impl<'j, 'a> Data<'j, 'a> {
    fn field(&self, key: &str) -> Option<&'j Json<'a>> {
        member(self.0?, key)
    }

    fn string(&self, key: &str) -> Result<Option<&'j str>> {
        match self.field(key) {
            None => Ok(None),
            Some(Json::Str(s)) => Ok(Some(s)),
            Some(other) => Err(wrong_type(&format!("data.{key}"), "a string", other)),
        }
    }

    /// [`string`](Self::string), kept: borrowed from the input line when it had no escapes.
    fn text(&self, key: &str) -> Result<Option<Cow<'a, str>>> {
        match self.field(key) {
            None => Ok(None),
            Some(Json::Str(s)) => Ok(Some(s.clone())),
            Some(other) => Err(wrong_type(&format!("data.{key}"), "a string", other)),
        }
    }

    fn amount(&self) -> Result<f64> {
        match self.field("amount") {
            None => Err(missing("data.amount")),
            Some(Json::Int(i)) if *i >= 0 => Ok(*i as f64),
            Some(Json::Float(f) | Json::BigInt(f)) if *f >= 0.0 && f.is_finite() => Ok(*f),
            Some(Json::Int(_) | Json::Float(_) | Json::BigInt(_)) => {
                Err(invalid("data.amount", "a finite number >= 0"))
            }
            Some(other) => Err(wrong_type("data.amount", "a number", other)),
        }
    }

    fn int_in(&self, key: &str, lo: u8, hi: u8) -> Result<Option<u8>> {
        int_in(self.field(key), || format!("data.{key}"), lo, hi)
    }

    fn one_of<T>(&self, key: &str, parse: fn(&str) -> Option<T>, rule: &str) -> Result<Option<T>> {
        match self.string(key)? {
            None => Ok(None),
            Some(s) => parse(s)
                .map(Some)
                .ok_or_else(|| invalid(&format!("data.{key}"), rule)),
        }
    }

    fn kano(&self) -> Result<Option<KanoAnswer>> {
        match self.field("kano") {
            None => Ok(None),
            Some(k @ Json::Object(_)) => {
                let answer = |key: &str| {
                    let path = || format!("data.kano.{key}");
                    int_in(k.get(key), path, 1, 5)?.ok_or_else(|| missing(&path()))
                };
                Ok(Some(KanoAnswer {
                    functional: answer("functional")?,
                    dysfunctional: answer("dysfunctional")?,
                }))
            }
            Some(other) => Err(wrong_type("data.kano", "an object", other)),
        }
    }
}

/// An optional integer in `lo..=hi`; `path` names it in a rejection (built only then: a
/// `format!` for every feedback event was ~2 % of decoding's instructions).
fn int_in(value: Option<&Json>, path: impl Fn() -> String, lo: u8, hi: u8) -> Result<Option<u8>> {
    match value {
        None => Ok(None),
        Some(Json::Int(i)) if (i128::from(lo)..=i128::from(hi)).contains(i) => Ok(Some(*i as u8)),
        Some(Json::Int(_) | Json::BigInt(_)) => {
            Err(invalid(&path(), &format!("an integer {lo}..={hi}")))
        }
        Some(Json::Float(_)) => Err(Rejection::new(
            RejectReason::WrongType,
            format!(
                "{} must be an integer (no fraction or exponent), not a number with one",
                path()
            ),
        )),
        Some(other) => Err(wrong_type(&path(), "an integer", other)),
    }
}

/// Validates the type-specific `data` fields and keeps those the engine uses, and the
/// `feature` of a feedback event (for the voice-of-the-customer counts).
fn payload<'a>(
    t: EventType,
    data: Option<&Members<'a>>,
) -> Result<(Payload, Option<Cow<'a, str>>)> {
    let d = Data(data);
    let mut feature = None;
    let payload = match t {
        EventType::LeadCreated => {
            d.string("source")?;
            Payload::LeadCreated
        }
        EventType::Engagement => {
            d.string("channel")?;
            Payload::Engagement
        }
        EventType::Purchase => {
            let amount = d.amount()?;
            d.string("currency")?;
            d.string("order_id")?;
            let need_level = d.one_of(
                "need_level",
                NeedLevel::parse,
                "one of physiological, safety, social, esteem, self_actualization",
            )?;
            Payload::Purchase { amount, need_level }
        }
        EventType::SubscriptionStarted => {
            d.string("plan")?;
            Payload::SubscriptionStarted
        }
        EventType::SubscriptionCancelled => {
            d.string("reason")?;
            Payload::SubscriptionCancelled
        }
        EventType::Refund => Payload::Refund {
            amount: d.amount()?,
        },
        EventType::SupportTicket => {
            let severity = d
                .one_of("severity", parse_severity, "one of low, normal, high")?
                .unwrap_or(Severity::Normal);
            d.string("status")?;
            Payload::SupportTicket { severity }
        }
        EventType::Complaint => {
            d.string("topic")?;
            Payload::Complaint
        }
        EventType::Feedback => {
            let nps = d.int_in("nps", 0, 10)?;
            let satisfaction = d.int_in("satisfaction", 1, 5)?;
            feature = d.text("feature")?;
            let kano = d.kano()?;
            Payload::Feedback {
                nps,
                satisfaction,
                kano,
            }
        }
        EventType::ConsentWithdrawn => {
            d.string("channel")?;
            Payload::ConsentWithdrawn
        }
        EventType::ConsentGranted => {
            d.string("channel")?;
            Payload::ConsentGranted
        }
        EventType::CustomerErased => Payload::CustomerErased,
    };
    Ok((payload, feature))
}

fn parse_severity(s: &str) -> Option<Severity> {
    match s {
        "low" => Some(Severity::Low),
        "normal" => Some(Severity::Normal),
        "high" => Some(Severity::High),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: &str = "2030-01-01T00:00:00Z";

    /// Members an event line may have: the contract's, with good and bad values, nulls,
    /// escapes, unknown keys, and `data` of every kind.
    const MEMBERS: &[&str] = &[
        r#""event_id":"e-1""#,
        r#""event_id":"e-\u0031""#,
        r#""event_id":"""#,
        r#""event_id":null"#,
        r#""event_id":7"#,
        r#""ev\u0065nt_id":"e-2""#,
        r#""customer_id":"c-1""#,
        r#""customer_id":"c\u0007""#,
        r#""customer_id":"\u00e9t\u00e9""#,
        r#""customer_id":["c"]"#,
        r#""type":"purchase""#,
        r#""type":"feedback""#,
        r#""type":"lead_created""#,
        r#""type":"support_ticket""#,
        r#""type":"mystery""#,
        r#""occurred_at":"2025-01-01T00:00:00Z""#,
        r#""occurred_at":"2025-01-01T00:00:00+02:00""#,
        r#""occurred_at":"2031-01-01T00:00:00Z""#,
        r#""occurred_at":"yesterday""#,
        r#""occurred_at":null"#,
        r#""data":{"amount":12.5,"currency":"EUR"}"#,
        r#""data":{"amount":3}"#,
        r#""data":{"amount":-1}"#,
        r#""data":{"amount":"3"}"#,
        r#""data":{"nps":9,"kano":{"functional":1,"dysfunctional":5}}"#,
        r#""data":{"nps":9.0}"#,
        r#""data":{"severity":"high","status":null}"#,
        r#""data":{"severity":"urgent"}"#,
        r#""data":{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"amount":1}"#,
        r#""data":{"amount":1,"amount":2}"#,
        r#""data":{"x":{"y":1,"y":2}}"#,
        r#""data":null"#,
        r#""data":[]"#,
        r#""data":"none""#,
        r#""extra":{"anything":[1,2,{"deep":true}]}"#,
    ];

    proptest! {
        /// Whatever the line, the fast path and the tree path decide the same: the same
        /// event, or the same rejection with the same detail.
        #[test]
        fn both_paths_agree(picks in proptest::collection::vec(0..MEMBERS.len(), 0..8), spaced: bool) {
            let sep = if spaced { " , " } else { "," };
            let body = picks.iter().map(|&i| MEMBERS[i]).collect::<Vec<_>>().join(sep);
            let text = if spaced { format!(" {{ {body} }} ") } else { format!("{{{body}}}") };
            let now = Timestamp::parse_rfc3339(NOW).unwrap();
            prop_assert_eq!(decode_str(&text, now), decode_tree(&text, now), "{}", text);
        }
    }

    #[test]
    fn the_usual_shape_takes_the_fast_path() {
        let text = r#"{"event_id":"e-1","customer_id":"c-1","type":"purchase","occurred_at":"2025-01-01T00:00:00Z","data":{"amount":12.5,"currency":"EUR"}}"#;
        let mut fields = EventFields::default();
        assert!(fields.parse(text), "the usual shape");
        assert_eq!(fields.data().map(<[_]>::len), Some(2));
        let now = Timestamp::parse_rfc3339(NOW).unwrap();
        assert_eq!(decode_str(text, now), decode_tree(text, now));
        // Another top-level key, a duplicate or a null `data` leave it to the tree.
        for other in [
            r#"{"event_id":"e","x":1}"#,
            r#"{"type":"a","type":"b"}"#,
            r#"{"data":null}"#,
            r#"{"event_id":"e"} x"#,
        ] {
            assert!(!EventFields::default().parse(other), "{other}");
        }
    }
}
