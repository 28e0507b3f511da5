//! What every source maps to: plain events (SPEC 1) as JSON text, each checked by the same
//! decoder the service reads the input with, so nothing is produced that it would reject.

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use crate::domain::{EventType, Timestamp, decode};

/// An event to produce, keyed by its customer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PlainEvent {
    pub customer_id: String,
    pub json: String,
}

/// What a request maps to: the events to produce, and how many of its notifications no
/// mapping names (ignored, as the service ignores unknown types).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mapped {
    pub events: Vec<PlainEvent>,
    pub ignored: usize,
}

/// Why a request is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 401: the signature or token is missing or wrong, or the timestamp too old.
    Unauthorized(String),
    /// 400: the payload cannot be read or mapped, with every reason.
    Unmappable(Vec<String>),
    /// 404: the source is not configured (no secret).
    NotConfigured,
}

/// Maps every item of a delivery with `map` (`Ok(None)`: no table names it); refuses the
/// whole delivery, with every reason, when any item cannot be mapped.
pub fn map_all<T>(
    items: &[T],
    what: &str,
    mut map: impl FnMut(&T) -> Result<Option<PlainEvent>, String>,
) -> Result<Mapped, Refusal> {
    let mut mapped = Mapped::default();
    let mut reasons = Vec::new();
    for (i, item) in items.iter().enumerate() {
        match map(item) {
            Ok(Some(event)) => mapped.events.push(event),
            Ok(None) => mapped.ignored += 1,
            Err(why) => reasons.push(format!("{what} {i}: {why}")),
        }
    }
    match reasons.is_empty() {
        true => Ok(mapped),
        false => Err(Refusal::Unmappable(reasons)),
    }
}

/// An event id of at most 128 bytes (SPEC 1): `id` itself, or, when longer, its prefix up to
/// the first `:` and a SHA-256 of it (stable: retries give the same id).
pub fn event_id(id: String) -> String {
    if id.len() <= 128 {
        return id;
    }
    let source = id.split(':').next().unwrap_or("webhook");
    let digest = Sha256::digest(id.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}:{hex}", &source[..source.len().min(64)])
}

/// The instant of a millisecond epoch time (HubSpot's `occurredAt`, Zoho's `server_time`).
pub fn from_millis(ms: i64) -> Option<Timestamp> {
    ms.checked_mul(1_000_000).map(Timestamp::from_nanos)
}

/// Builds the event and checks it with the input decoder; `Err` says why it cannot be one.
pub fn plain_event(
    event_id: String,
    customer_id: &str,
    event_type: EventType,
    at: Timestamp,
    data: Map<String, Value>,
    now: Timestamp,
) -> Result<PlainEvent, String> {
    let mut event = Map::new();
    event.insert("event_id".into(), self::event_id(event_id).into());
    event.insert("customer_id".into(), customer_id.into());
    event.insert("type".into(), event_type.as_str().into());
    event.insert("occurred_at".into(), at.to_string().into());
    if !data.is_empty() {
        event.insert("data".into(), Value::Object(data));
    }
    let json = Value::Object(event).to_string();
    match decode(json.as_bytes(), now) {
        Ok(_) => Ok(PlainEvent {
            customer_id: customer_id.to_owned(),
            json,
        }),
        Err(rejection) => Err(format!("{}: {}", rejection.reason, rejection.detail)),
    }
}

/// A number from JSON: a number, or a string holding one (Segment's classic `revenue`,
/// HubSpot's property values are strings).
pub fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|x| x.is_finite()),
        _ => None,
    }
}

/// An integer from JSON: a number, or a string of digits (Zoho's ids and `channel_id`).
pub fn integer_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => n.as_i64().map(|i| i.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Constant-time equality of two byte strings (for tokens).
pub fn same_secret(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
