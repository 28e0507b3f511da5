//! CloudEvents 1.0 (SPEC 11) on the input, beside plain events, and on the outputs.
//!
//! In: a message in binary mode (the `ce_specversion`, `ce_id`, `ce_type`, `ce_source`,
//! `ce_time`, `ce_subject` headers of the Kafka protocol binding; the value is `data`) or in
//! structured mode (`content-type: application/cloudevents+json`; the value is the event) is
//! turned into the plain event it stands for, as JSON text, which the ordinary decoder then
//! reads: one decoder, one set of rejections. `id` becomes `event_id`, `time` `occurred_at`,
//! `subject` (or the configured field of `data`) `customer_id`, and `type` an event type
//! through the configured table; an unmapped type becomes a type no rule knows, so the event
//! is ignored like any unknown type.
//!
//! Out: with `output.cloudevents = true`, each output record carries the binary-mode headers
//! ([`output_headers`]); the value stays the record.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::domain::{Record, RejectReason, Rejection};

/// The `[cloudevents]` table: how CloudEvents on the input map to events.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CloudEventsConfig {
    /// CloudEvents `type` -> event type (SPEC 1), e.g. "com.example.order.completed" =
    /// "purchase".
    pub types: BTreeMap<String, String>,
    /// The field of `data` that holds the customer id; empty: the `subject` attribute.
    pub customer_id_field: String,
}

impl CloudEventsConfig {
    pub fn problems(&self) -> Vec<String> {
        self.types
            .iter()
            .filter(|(_, to)| crate::domain::EventType::parse(to).is_none())
            .map(|(from, to)| {
                format!("cloudevents.types.\"{from}\": `{to}` is not an event type (SPEC 1)")
            })
            .collect()
    }
}

/// The `[output]` table.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct OutputConfig {
    /// Binary-mode CloudEvents headers on every output record (SPEC 11).
    pub cloudevents: bool,
    /// Their `ce_source`: a URI-reference naming this deployment.
    pub cloudevents_source: String,
}

impl OutputConfig {
    pub fn problems(&self) -> Vec<String> {
        match self.cloudevents && self.cloudevents_source.trim().is_empty() {
            true => vec![
                "output.cloudevents_source: must not be empty when output.cloudevents is on".into(),
            ],
            false => Vec::new(),
        }
    }
}

/// The prefix that marks an unmapped CloudEvents type: no event type starts with it, so the
/// event is ignored (and counted) like any unknown type.
pub const UNMAPPED_PREFIX: &str = "cloudevents:";

/// The structured mode's content types (a `; charset=...` parameter may follow).
const STRUCTURED: &str = "application/cloudevents+json";

/// How a message carries a CloudEvent, if it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Binary,
    Structured,
}

/// The mode of a message with these headers (`header(name)` gives a header's value).
pub fn mode<'h>(header: impl Fn(&str) -> Option<&'h [u8]>) -> Option<Mode> {
    if header("ce_specversion").is_some() {
        return Some(Mode::Binary);
    }
    let content_type = header("content-type")?;
    let content_type = std::str::from_utf8(content_type).ok()?;
    let media = content_type.split(';').next().unwrap_or_default().trim();
    media
        .eq_ignore_ascii_case(STRUCTURED)
        .then_some(Mode::Structured)
}

fn missing(attribute: &str) -> Rejection {
    Rejection::new(
        RejectReason::MissingField,
        format!("the CloudEvent has no `{attribute}`"),
    )
}

fn wrong(attribute: &str, what: &str) -> Rejection {
    Rejection::new(
        RejectReason::WrongType,
        format!("the CloudEvent's `{attribute}` must be {what}"),
    )
}

/// `bytes` checked as an event's text is (a duplicate key refused, as for a plain event),
/// before serde_json reads them.
fn checked<'b>(bytes: &'b [u8], what: &str) -> Result<&'b str, Rejection> {
    crate::domain::decode::check_json(bytes)
        .map_err(|r| Rejection::new(r.reason, format!("the CloudEvent's {what}: {}", r.detail)))
}

/// The attributes an event needs, read from either mode.
struct Attributes<'a> {
    specversion: &'a str,
    id: &'a str,
    ce_type: &'a str,
    time: Option<&'a str>,
    subject: Option<&'a str>,
}

/// The plain event (JSON text) a binary-mode message stands for.
pub fn from_binary<'h>(
    header: impl Fn(&str) -> Option<&'h [u8]>,
    value: &[u8],
    config: &CloudEventsConfig,
) -> Result<String, Rejection> {
    let text = |name: &str| -> Result<Option<&'h str>, Rejection> {
        header(name)
            .map(|v| {
                std::str::from_utf8(v).map_err(|_| {
                    Rejection::new(
                        RejectReason::InvalidUtf8,
                        format!("the CloudEvent's header {name} is not UTF-8"),
                    )
                })
            })
            .transpose()
    };
    let attributes = Attributes {
        specversion: text("ce_specversion")?.ok_or_else(|| missing("specversion"))?,
        id: text("ce_id")?.ok_or_else(|| missing("id"))?,
        ce_type: text("ce_type")?.ok_or_else(|| missing("type"))?,
        time: text("ce_time")?,
        subject: text("ce_subject")?,
    };
    let data = match value.iter().all(u8::is_ascii_whitespace) {
        true => None,
        false => Some(
            serde_json::from_str::<serde_json::Value>(checked(value, "data (the value)")?)
                .map_err(|e| {
                    Rejection::new(
                        RejectReason::InvalidJson,
                        format!("the CloudEvent's data (the value) is not JSON: {e}"),
                    )
                })?,
        ),
    };
    event_json(&attributes, data.as_ref(), config)
}

/// The plain event (JSON text) a structured-mode message stands for.
pub fn from_structured(value: &[u8], config: &CloudEventsConfig) -> Result<String, Rejection> {
    let text = checked(value, "structured event")?;
    let event: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        Rejection::new(
            RejectReason::InvalidJson,
            format!("a structured CloudEvent must be a JSON object: {e}"),
        )
    })?;
    from_structured_value(&event, config)
}

/// The plain event of one structured CloudEvent, already parsed (e.g. one of a batch).
pub fn from_structured_value(
    event: &serde_json::Value,
    config: &CloudEventsConfig,
) -> Result<String, Rejection> {
    let object = event.as_object().ok_or_else(|| {
        Rejection::new(
            RejectReason::NotAnObject,
            "a structured CloudEvent must be a JSON object",
        )
    })?;
    let string = |name: &str| -> Result<Option<&str>, Rejection> {
        match object.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(wrong(name, "a string")),
        }
    };
    let attributes = Attributes {
        specversion: string("specversion")?.ok_or_else(|| missing("specversion"))?,
        id: string("id")?.ok_or_else(|| missing("id"))?,
        ce_type: string("type")?.ok_or_else(|| missing("type"))?,
        time: string("time")?,
        subject: string("subject")?,
    };
    if object.contains_key("data_base64") {
        return Err(Rejection::new(
            RejectReason::InvalidValue,
            "the CloudEvent carries data_base64; only JSON data maps to an event",
        ));
    }
    event_json(&attributes, object.get("data"), config)
}

/// The plain event, as the decoder reads it.
fn event_json(
    a: &Attributes<'_>,
    data: Option<&serde_json::Value>,
    config: &CloudEventsConfig,
) -> Result<String, Rejection> {
    if !a.specversion.starts_with("1.") {
        return Err(Rejection::new(
            RejectReason::InvalidValue,
            "the CloudEvent's specversion is not 1.x",
        ));
    }
    let time = a.time.ok_or_else(|| missing("time"))?;
    let customer = match config.customer_id_field.as_str() {
        "" => a.subject.ok_or_else(|| missing("subject"))?.to_owned(),
        field => match data.and_then(|d| d.get(field)) {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(_) => return Err(wrong(&format!("data.{field}"), "a string")),
            None => return Err(missing(&format!("data.{field}"))),
        },
    };
    let event_type = match config.types.get(a.ce_type) {
        Some(mapped) => mapped.clone(),
        // Ignored as a type no rule knows (SPEC 11), whatever its length: cut to the longest
        // type an event may have.
        None => {
            let name = format!("{UNMAPPED_PREFIX}{}", a.ce_type);
            crate::domain::decode::cut_text(&name, crate::domain::decode::MAX_ID_BYTES).to_owned()
        }
    };
    let mut event = serde_json::Map::new();
    event.insert("event_id".into(), a.id.into());
    event.insert("customer_id".into(), customer.into());
    event.insert("type".into(), event_type.into());
    event.insert("occurred_at".into(), time.into());
    if let Some(data) = data {
        event.insert("data".into(), data.clone());
    }
    Ok(serde_json::Value::Object(event).to_string())
}

/// The binary-mode headers of an output record (`output.cloudevents = true`): `ce_id` is the
/// action id, or the customer id and `seq` for a transition; `ce_subject` the customer.
pub fn output_headers(record: &Record, source: &str) -> Option<Vec<(&'static str, String)>> {
    let (id, ce_type, time, subject) = match record {
        Record::Transition(t) => (
            format!("{}:{}", t.customer_id, t.seq),
            "lifecycle.transition".to_owned(),
            t.at.0.to_string(),
            t.customer_id.to_string(),
        ),
        Record::Action(a) => (
            a.action_id.to_string(),
            format!("lifecycle.action.{}", a.kind.as_str()),
            a.at.0.to_string(),
            a.customer_id.to_string(),
        ),
        Record::Suppressed { .. } | Record::Converted { .. } => return None,
    };
    Some(vec![
        ("ce_specversion", "1.0".to_owned()),
        ("ce_id", id),
        ("ce_source", source.to_owned()),
        ("ce_type", ce_type),
        ("ce_time", time),
        ("ce_subject", subject),
        ("content-type", "application/json".to_owned()),
    ])
}

#[cfg(test)]
#[path = "cloudevents_tests.rs"]
mod tests;
