//! The input event's schema (SPEC 1): the envelope, and each known type's `data` from a
//! struct below. The decoder (`domain::decode`) is the authority and is stricter than the
//! schema can be in three places, said in the document's description: lengths are UTF-8
//! bytes (JSON Schema counts characters), `5.0` is not an integer (JSON Schema says it is),
//! and the year range and the 24-hour future limit of `occurred_at`.

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use crate::domain::event::{EventType, NeedLevel};

/// `data` of `lead_created`. (Types here only describe `data`; the decoder reads it.)
#[allow(dead_code)]
#[derive(JsonSchema)]
struct LeadCreated {
    source: Option<String>,
}

#[allow(dead_code)]
#[derive(JsonSchema)]
struct Engagement {
    /// email_open, email_click, visit, login, app_session, ...
    channel: Option<String>,
}

#[allow(dead_code)]
#[derive(JsonSchema)]
struct Purchase {
    /// The order's value; 0 is allowed, but only an amount above 0 converts and counts.
    // Finite (SPEC 1): the largest double bounds out what a parser reads as infinity.
    #[schemars(range(min = 0.0, max = 1.797_693_134_862_315_7e308))]
    amount: f64,
    currency: Option<String>,
    order_id: Option<String>,
    need_level: Option<NeedLevel>,
}

#[allow(dead_code)]
#[derive(JsonSchema)]
struct SubscriptionStarted {
    plan: Option<String>,
}

#[allow(dead_code)]
#[derive(JsonSchema)]
struct SubscriptionCancelled {
    reason: Option<String>,
}

#[allow(dead_code)]
#[derive(JsonSchema)]
struct Refund {
    // Finite (SPEC 1): the largest double bounds out what a parser reads as infinity.
    #[schemars(range(min = 0.0, max = 1.797_693_134_862_315_7e308))]
    amount: f64,
}

#[allow(dead_code)]
#[derive(JsonSchema)]
#[serde(rename_all = "snake_case")]
enum Severity {
    Low,
    Normal,
    High,
}

#[allow(dead_code)]
#[derive(JsonSchema)]
struct SupportTicket {
    /// Default `normal`.
    severity: Option<Severity>,
    status: Option<String>,
}

#[allow(dead_code)]
#[derive(JsonSchema)]
struct Complaint {
    topic: Option<String>,
}

#[allow(dead_code)]
#[derive(JsonSchema)]
struct Kano {
    #[schemars(range(min = 1, max = 5))]
    functional: u8,
    #[schemars(range(min = 1, max = 5))]
    dysfunctional: u8,
}

#[allow(dead_code)]
#[derive(JsonSchema)]
struct Feedback {
    #[schemars(range(min = 0, max = 10))]
    nps: Option<u8>,
    #[schemars(range(min = 1, max = 5))]
    satisfaction: Option<u8>,
    feature: Option<String>,
    kano: Option<Kano>,
}

#[allow(dead_code)]
#[derive(JsonSchema)]
struct Consent {
    channel: Option<String>,
}

/// The schema of `data` for a known type (unknown fields allowed: they are ignored).
fn data_schema(t: EventType, generator: &mut SchemaGenerator) -> Schema {
    match t {
        EventType::LeadCreated => generator.subschema_for::<LeadCreated>(),
        EventType::Engagement => generator.subschema_for::<Engagement>(),
        EventType::Purchase => generator.subschema_for::<Purchase>(),
        EventType::SubscriptionStarted => generator.subschema_for::<SubscriptionStarted>(),
        EventType::SubscriptionCancelled => generator.subschema_for::<SubscriptionCancelled>(),
        EventType::Refund => generator.subschema_for::<Refund>(),
        EventType::SupportTicket => generator.subschema_for::<SupportTicket>(),
        EventType::Complaint => generator.subschema_for::<Complaint>(),
        EventType::Feedback => generator.subschema_for::<Feedback>(),
        EventType::ConsentWithdrawn | EventType::ConsentGranted => {
            generator.subschema_for::<Consent>()
        }
        EventType::CustomerErased => json_schema!({ "type": "object" }),
    }
}

/// Whether `data` must be there: the types with a required field.
fn data_required(t: EventType) -> bool {
    matches!(t, EventType::Purchase | EventType::Refund)
}

/// The input event's schema, as a root schema of `generator` (its `$defs` hold the data
/// types).
pub fn event_schema(generator: &mut SchemaGenerator) -> Schema {
    let per_type: Vec<serde_json::Value> = EventType::ALL
        .into_iter()
        .map(|t| {
            let data = data_schema(t, generator);
            let data = match data_required(t) {
                true => data.to_value(),
                false => serde_json::json!({ "anyOf": [data.to_value(), { "type": "null" }] }),
            };
            let mut then = serde_json::json!({ "properties": { "data": data } });
            if data_required(t) {
                then["required"] = serde_json::json!(["data"]);
            }
            serde_json::json!({
                "if": { "properties": { "type": { "const": t.as_str() } }, "required": ["type"] },
                "then": then
            })
        })
        .collect();
    let id = |description: &str| {
        serde_json::json!({
            "description": description,
            "type": "string",
            "minLength": 1,
            "maxLength": 128
        })
    };
    json_schema!({
        "title": "Event",
        "description": "One CRM event (SPEC 1): a line of a JSONL file or the value of a message on the input topic, keyed by customer_id. The processor is stricter than this schema where JSON Schema cannot say it: lengths are at most 128 UTF-8 bytes (the schema counts characters), an integer has no fraction or exponent (5.0 is not one), occurred_at lies in the years 1678-2261 and at most 24 hours ahead of the processor's clock, an object has no duplicate key, a number is finite (1e400 is not, in any field), no string escapes a lone surrogate (\\udc00), nesting is at most 127 levels deep, and the whole event is at most 1 MiB. A type not listed is ignored (counted, not rejected), whatever its data.",
        "type": "object",
        "required": ["event_id", "customer_id", "type", "occurred_at"],
        "properties": {
            "event_id": id("Unique per event at the source: a re-delivered event (same id, same customer) changes nothing."),
            "customer_id": {
                "description": "The customer; also the Kafka key. No control characters.",
                "type": "string",
                "minLength": 1,
                "maxLength": 128,
                "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"
            },
            "type": {
                "description": "One of the known types, or else the event is ignored.",
                "type": "string",
                "minLength": 1,
                "maxLength": 128,
                "examples": EventType::ALL.map(EventType::as_str)
            },
            "occurred_at": {
                "description": "The event time: RFC 3339 with seconds and an offset, upper-case T and Z.",
                "type": "string",
                "format": "date-time",
                "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})$"
            },
            "data": {
                "description": "Type-specific fields (null counts as absent); unknown fields are ignored.",
                "type": ["object", "null"]
            }
        },
        "allOf": per_type
    })
}
