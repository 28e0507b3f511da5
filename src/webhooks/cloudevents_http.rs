//! CloudEvents over HTTP (the HTTP protocol binding's structured and batched modes,
//! https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/http-protocol-binding.md
//! 3.2 and 3.3): each event mapped by `[cloudevents]`, as on the input topic.

use serde_json::Value;

use super::events::{Mapped, PlainEvent, Refusal, map_all};
use crate::cloudevents::{CloudEventsConfig, from_structured_value};
use crate::domain::{Timestamp, decode};

/// The events of a structured (`application/cloudevents+json`) or batched
/// (`application/cloudevents-batch+json`) request.
pub fn map(
    content_type: Option<&str>,
    body: &[u8],
    config: &CloudEventsConfig,
    now: Timestamp,
) -> Result<Mapped, Refusal> {
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(|m| m.trim().to_ascii_lowercase());
    let batched = match media.as_deref() {
        Some("application/cloudevents+json") => false,
        Some("application/cloudevents-batch+json") => true,
        _ => {
            return Err(Refusal::Unmappable(vec![
                "Content-Type must be application/cloudevents+json or application/cloudevents-batch+json".into(),
            ]));
        }
    };
    // Checked as an event's text is first: serde_json keeps the last of duplicate keys.
    let text = crate::domain::decode::check_json(body)
        .map_err(|r| Refusal::Unmappable(vec![format!("the body: {}", reason(r))]))?;
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Refusal::Unmappable(vec![format!("the body is not JSON: {e}")]))?;
    let events = match (batched, value) {
        (true, Value::Array(events)) => events,
        (false, event @ Value::Object(_)) => vec![event],
        (true, _) => {
            return Err(Refusal::Unmappable(vec![
                "a batch must be a JSON array".into(),
            ]));
        }
        (false, _) => {
            return Err(Refusal::Unmappable(vec![
                "an event must be a JSON object".into(),
            ]));
        }
    };
    map_all(&events, "event", |event| {
        let json = from_structured_value(event, config).map_err(reason)?;
        let decoded = decode(json.as_bytes(), now).map_err(reason)?;
        let ignored = decoded.payload.is_none()
            && event
                .get("type")
                .and_then(Value::as_str)
                .is_some_and(|t| !config.types.contains_key(t));
        let customer_id = decoded.customer_id.to_string();
        Ok((!ignored).then_some(PlainEvent { customer_id, json }))
    })
}

fn reason(r: crate::domain::Rejection) -> String {
    format!("{}: {}", r.reason, r.detail)
}
