//! Segment's webhook destination (Webhooks (Actions), or the classic one): a `track` or
//! `identify` call, or a batch of them as a JSON array, signed with `X-Signature`: the hex
//! HMAC-SHA1 of the body with the shared secret, of the first event only in a batch
//! (https://www.twilio.com/docs/segment/connections/destinations/catalog/actions-webhook,
//! "Shared secret with batching"). Segment deduplicates on `messageId`, our event id.

use hmac::{Hmac, Mac};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use sha1::Sha1;

use super::config::SegmentConfig;
use super::events::{Mapped, PlainEvent, Refusal, map_all, number, plain_event};
use crate::domain::{EventType, Timestamp};

/// The bytes Segment signs: the body, or a batch's first event as sent.
fn signed_part(body: &[u8]) -> Result<&[u8], Refusal> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'[') {
        return Ok(body);
    }
    let batch: Vec<&RawValue> = serde_json::from_slice(body)
        .map_err(|e| Refusal::Unmappable(vec![format!("the body is not JSON: {e}")]))?;
    let first = batch
        .first()
        .ok_or_else(|| Refusal::Unmappable(vec!["an empty batch".into()]))?;
    Ok(first.get().as_bytes())
}

/// Checks `X-Signature`.
pub fn verify(secret: &str, body: &[u8], signature: Option<&str>) -> Result<(), Refusal> {
    let unauthorized = |why: &str| Err(Refusal::Unauthorized(why.to_owned()));
    let Some(signature) = signature else {
        return unauthorized("X-Signature is required");
    };
    let Ok(given) = hex::decode(signature.trim()) else {
        return unauthorized("X-Signature is not hex");
    };
    let mut mac = Hmac::<Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(signed_part(body)?);
    mac.verify_slice(&given)
        .or_else(|_| unauthorized("X-Signature does not match"))
}

/// The events of a call or batch (its signature already checked).
pub fn map(body: &[u8], config: &SegmentConfig, now: Timestamp) -> Result<Mapped, Refusal> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Refusal::Unmappable(vec![format!("the body is not JSON: {e}")]))?;
    let calls = match value {
        Value::Array(calls) => calls,
        call @ Value::Object(_) => vec![call],
        _ => {
            return Err(Refusal::Unmappable(vec![
                "the body is not a call or a batch".into(),
            ]));
        }
    };
    map_all(&calls, "call", |call| event(call, config, now))
}

fn event(
    call: &Value,
    config: &SegmentConfig,
    now: Timestamp,
) -> Result<Option<PlainEvent>, String> {
    let text = |key: &str| call.get(key).and_then(Value::as_str);
    let mapped = match text("type") {
        Some("track") => text("event").and_then(|name| config.events.get(name)),
        Some("identify") => Some(&config.identify).filter(|t| !t.is_empty()),
        _ => None,
    };
    let Some(event_type) = mapped.and_then(|t| EventType::parse(t)) else {
        return Ok(None);
    };
    // Anonymous visitors are not customers yet: only calls with a userId count.
    let Some(user) = text("userId").filter(|u| !u.is_empty()) else {
        return Ok(None);
    };
    let message = text("messageId").ok_or("no messageId")?;
    let at = text("timestamp").ok_or("no timestamp")?;
    let at =
        Timestamp::parse_rfc3339(at).map_err(|_| format!("timestamp `{at}` is not RFC 3339"))?;
    let mut data = Map::new();
    let properties = call.get("properties").and_then(Value::as_object);
    if matches!(event_type, EventType::Purchase | EventType::Refund) {
        let amount = config
            .amount_properties
            .iter()
            .find_map(|p| properties.and_then(|ps| ps.get(p)).and_then(number))
            .ok_or_else(|| {
                format!(
                    "a {event_type} needs an amount: none of properties {:?}",
                    config.amount_properties
                )
            })?;
        data.insert("amount".into(), amount.into());
    }
    if event_type == EventType::Purchase {
        for key in ["currency", "order_id"] {
            if let Some(v) = properties
                .and_then(|ps| ps.get(key))
                .filter(|v| v.is_string())
            {
                data.insert(key.into(), v.clone());
            }
        }
    }
    if event_type == EventType::LeadCreated {
        data.insert("source".into(), "segment".into());
    }
    plain_event(
        format!("segment:{message}"),
        user,
        event_type,
        at,
        data,
        now,
    )
    .map(Some)
}
