//! Zoho CRM notifications (the Notification API's `watch` channels): one JSON object per
//! notification, naming the module, the operation and the ids of the records, with the
//! channel's `token` sent back for verification (no signature is documented:
//! https://www.zoho.com/crm/developer/docs/api/v7/notifications/enable.html and
//! .../update-info.html).

use serde_json::{Map, Value};

use super::config::ZohoConfig;
use super::events::{Mapped, Refusal, from_millis, integer_text, number, plain_event, same_secret};
use crate::domain::{EventType, Timestamp};

/// Checks the notification's `token` and `channel_id` against the configured ones.
pub fn verify(config: &ZohoConfig, body: &[u8]) -> Result<Value, Refusal> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| Refusal::Unmappable(vec![format!("the body is not JSON: {e}")]))?;
    let token = value
        .get("token")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !same_secret(token.as_bytes(), config.token.as_bytes()) {
        return Err(Refusal::Unauthorized("the token does not match".into()));
    }
    let channel = value.get("channel_id").and_then(integer_text);
    if channel.as_deref() != Some(config.channel_id.as_str()) {
        return Err(Refusal::Unauthorized(
            "the notification is not of the configured channel".into(),
        ));
    }
    Ok(value)
}

/// The events of a notification (verified): one per record id.
pub fn map(n: &Value, config: &ZohoConfig, now: Timestamp) -> Result<Mapped, Refusal> {
    let text = |key: &str| n.get(key).and_then(Value::as_str);
    let unmappable = |why: &str| Refusal::Unmappable(vec![why.to_owned()]);
    let module = text("module").ok_or_else(|| unmappable("no module"))?;
    let operation = text("operation").ok_or_else(|| unmappable("no operation"))?;
    let ids: Vec<String> = n
        .get("ids")
        .and_then(Value::as_array)
        .ok_or_else(|| unmappable("no ids"))?
        .iter()
        .filter_map(integer_text)
        .collect();
    let Some(event_type) = config
        .operations
        .get(&format!("{module}.{operation}"))
        .and_then(|t| EventType::parse(t))
    else {
        return Ok(Mapped {
            events: Vec::new(),
            ignored: ids.len(),
        });
    };
    let server_time = n
        .get("server_time")
        .and_then(Value::as_i64)
        .ok_or_else(|| unmappable("no server_time"))?;
    let at = from_millis(server_time).ok_or_else(|| unmappable("server_time is out of range"))?;
    let channel = &config.channel_id;
    let mut mapped = Mapped::default();
    let mut reasons = Vec::new();
    for id in &ids {
        let mut data = Map::new();
        if matches!(event_type, EventType::Purchase | EventType::Refund) {
            // The record's new values, when the channel returns them.
            let amount = n
                .get("affected_values")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter(|v| v.get("record_id").and_then(integer_text).as_deref() == Some(id))
                .find_map(|v| v.get("values")?.get("Amount").and_then(number));
            match amount {
                Some(a) => {
                    data.insert("amount".into(), a.into());
                }
                None => {
                    reasons.push(format!(
                        "record {id}: a {event_type} needs its Amount in affected_values (return_affected_field_values)"
                    ));
                    continue;
                }
            }
        }
        if event_type == EventType::LeadCreated {
            data.insert("source".into(), "zoho".into());
        }
        let event_id = format!("zoho:{channel}:{module}:{operation}:{server_time}:{id}");
        let customer = format!("{}{id}", config.customer_id_prefix);
        match plain_event(event_id, &customer, event_type, at, data, now) {
            Ok(e) => mapped.events.push(e),
            Err(why) => reasons.push(format!("record {id}: {why}")),
        }
    }
    match reasons.is_empty() {
        true => Ok(mapped),
        false => Err(Refusal::Unmappable(reasons)),
    }
}
