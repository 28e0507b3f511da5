//! Bytes to a typed [`Event`] (SPEC section 1), in one place: every way an input can be
//! refused is a [`RejectReason`], never a panic.

use std::borrow::Cow;
use std::fmt;

use super::event::{Event, EventType, KanoAnswer, NeedLevel, Payload, Severity};
use super::json::{DUPLICATE_KEY, Json};
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
}

impl RejectReason {
    pub const ALL: [RejectReason; 10] = [
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
    fn new(reason: RejectReason, detail: impl Into<String>) -> Rejection {
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

/// Decodes one event. `now` is the system time, used only for the `future_timestamp` rule.
pub fn decode(bytes: &[u8], now: Timestamp) -> Result<Event<'_>> {
    if bytes.len() > MAX_EVENT_BYTES {
        return Err(Rejection::new(
            RejectReason::TooLarge,
            format!("{} bytes, the limit is {MAX_EVENT_BYTES}", bytes.len()),
        ));
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
pub fn decode_str(text: &str, now: Timestamp) -> Result<Event<'_>> {
    let json = Json::parse(text).map_err(|e| {
        let msg = e.to_string();
        let reason = if msg.starts_with(DUPLICATE_KEY) {
            RejectReason::DuplicateKey
        } else {
            RejectReason::InvalidJson
        };
        Rejection::new(reason, msg)
    })?;
    if !matches!(json, Json::Object(_)) {
        return Err(Rejection::new(
            RejectReason::NotAnObject,
            format!("an event is a JSON object, not {}", json.type_name()),
        ));
    }
    let mut json = json;
    let event_id = take_id(&mut json, "event_id")?;
    let customer_id = take_id(&mut json, "customer_id")?;
    if let Some(c) = customer_id.chars().find(|c| c.is_control()) {
        return Err(Rejection::new(
            RejectReason::InvalidValue,
            format!(
                "customer_id contains the control character U+{:04X}",
                c as u32
            ),
        ));
    }
    let type_name = take_id(&mut json, "type")?;
    let occurred_at = match json.get("occurred_at") {
        None => return Err(missing("occurred_at")),
        Some(Json::Str(s)) => Timestamp::parse_rfc3339(s).map_err(|e| match e {
            TimeError::Malformed => Rejection::new(
                RejectReason::InvalidTimestamp,
                "occurred_at is not an RFC 3339 date-time YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)",
            ),
            TimeError::TooEarly => Rejection::new(
                RejectReason::InvalidTimestamp,
                "occurred_at is before the supported range, which starts 1677-09-21T00:12:44Z",
            ),
            TimeError::TooLate => Rejection::new(
                RejectReason::FutureTimestamp,
                "occurred_at is after 2262-04-11, far more than 24 hours after the system time",
            ),
        })?,
        Some(other) => return Err(wrong_type("occurred_at", "string", other)),
    };
    let data = match json.get("data") {
        None => None,
        Some(d @ Json::Object(_)) => Some(d),
        Some(other) => return Err(wrong_type("data", "object", other)),
    };
    let payload = match EventType::parse(&type_name) {
        Some(t) => Some(payload(t, data)?),
        None => None,
    };
    if occurred_at > now.plus(MAX_FUTURE) {
        return Err(Rejection::new(
            RejectReason::FutureTimestamp,
            format!("occurred_at {occurred_at} is more than 24 hours after the system time {now}"),
        ));
    }
    Ok(Event {
        event_id,
        customer_id,
        occurred_at,
        payload,
    })
}

/// Moves a required 1..=128-byte string field out of the object.
fn take_id<'a>(json: &mut Json<'a>, key: &str) -> Result<Cow<'a, str>> {
    let Json::Object(fields) = json else {
        unreachable!("checked to be an object")
    };
    let slot = fields
        .iter_mut()
        .find(|(k, v)| k == key && !matches!(v, Json::Null))
        .map(|(_, v)| v)
        .ok_or_else(|| missing(key))?;
    match std::mem::replace(slot, Json::Null) {
        Json::Str(s) if s.is_empty() || s.len() > MAX_ID_BYTES => Err(Rejection::new(
            RejectReason::InvalidValue,
            format!("{key} must be 1..={MAX_ID_BYTES} bytes, it has {}", s.len()),
        )),
        Json::Str(s) => Ok(s),
        other => Err(wrong_type(key, "string", &other)),
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
struct Data<'j, 'a>(Option<&'j Json<'a>>);

impl<'j, 'a> Data<'j, 'a> {
    fn field(&self, key: &str) -> Option<&'j Json<'a>> {
        self.0.and_then(|d| d.get(key))
    }

    fn string(&self, key: &str) -> Result<Option<&'j str>> {
        match self.field(key) {
            None => Ok(None),
            Some(Json::Str(s)) => Ok(Some(s)),
            Some(other) => Err(wrong_type(&format!("data.{key}"), "a string", other)),
        }
    }

    fn amount(&self) -> Result<f64> {
        match self.field("amount") {
            None => Err(missing("data.amount")),
            Some(Json::Int(i)) if *i >= 0 => Ok(*i as f64),
            Some(Json::Float(f)) if *f >= 0.0 => Ok(*f),
            Some(Json::Int(_) | Json::Float(_)) => Err(invalid("data.amount", "a number >= 0")),
            Some(other) => Err(wrong_type("data.amount", "a number", other)),
        }
    }

    fn int_in(&self, key: &str, lo: u8, hi: u8) -> Result<Option<u8>> {
        int_in(self.field(key), &format!("data.{key}"), lo, hi)
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
                    let path = format!("data.kano.{key}");
                    int_in(k.get(key), &path, 1, 5)?.ok_or_else(|| missing(&path))
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

fn int_in(value: Option<&Json>, path: &str, lo: u8, hi: u8) -> Result<Option<u8>> {
    match value {
        None => Ok(None),
        Some(Json::Int(i)) if (i128::from(lo)..=i128::from(hi)).contains(i) => Ok(Some(*i as u8)),
        Some(Json::Int(_)) => Err(invalid(path, &format!("an integer {lo}..={hi}"))),
        Some(other @ Json::Float(_)) => Err(Rejection::new(
            RejectReason::WrongType,
            format!("{path} must be an integer (no fraction or exponent), not {other:?}"),
        )),
        Some(other) => Err(wrong_type(path, "an integer", other)),
    }
}

/// Validates the type-specific `data` fields and keeps those the engine uses.
fn payload(t: EventType, data: Option<&Json>) -> Result<Payload> {
    let d = Data(data);
    Ok(match t {
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
            d.string("feature")?;
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
    })
}

fn parse_severity(s: &str) -> Option<Severity> {
    match s {
        "low" => Some(Severity::Low),
        "normal" => Some(Severity::Normal),
        "high" => Some(Severity::High),
        _ => None,
    }
}
