//! The JSON Schema (draft 2020-12) of the answer, generated from its types with `schemars`:
//! the parts a derive cannot say (times as `date-time` strings, the reasons, the action kinds
//! of `last_sent`), and the committed document's text.

use std::borrow::Cow;

use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};

use super::CustomerView;
use crate::domain::action::{ActionKind, Reason};
use crate::domain::event::EventType;
use crate::domain::record::Rfc3339;

/// The schema of the answer, as committed in `docs/schemas/customer.schema.json` (pretty
/// printed, with a final line feed). It describes the answer as serialized: a field written
/// as null when unknown is required, one left out when it does not apply is not.
pub fn customer_schema() -> String {
    let schema = SchemaSettings::draft2020_12()
        .for_serialize()
        .with_transform(RecursiveTransform(one_line_descriptions))
        .into_generator()
        .into_root_schema_for::<CustomerView>();
    let mut text = serde_json::to_string_pretty(&schema).expect("a schema is JSON");
    text.push('\n');
    text
}

/// Doc comments' line breaks are only where the source wrapped: a description is one line
/// per paragraph.
pub fn one_line_descriptions(schema: &mut Schema) {
    if let Some(serde_json::Value::String(text)) = schema.get_mut("description") {
        *text = text
            .split("\n\n")
            .map(|paragraph| paragraph.replace('\n', " "))
            .collect::<Vec<_>>()
            .join("\n\n");
    }
}

impl JsonSchema for Rfc3339 {
    fn schema_name() -> Cow<'static, str> {
        "Rfc3339".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "An instant, RFC 3339 in UTC: YYYY-MM-DDTHH:MM:SS[.fraction]Z, the fraction only when it is not zero.",
            "type": "string",
            "format": "date-time"
        })
    }
}

/// `last_sent`: an object with a time for some of the action kinds.
pub(super) fn last_sent(generator: &mut SchemaGenerator) -> Schema {
    let time = generator.subschema_for::<Rfc3339>();
    let properties: serde_json::Map<String, serde_json::Value> = ActionKind::ALL
        .into_iter()
        .map(|kind| (kind.as_str().to_string(), time.clone().to_value()))
        .collect();
    json_schema!({
        "type": "object",
        "properties": properties,
        "additionalProperties": false
    })
}

/// The reasons a transition into a stage can have: every reason but `erased` (which leaves
/// no customer), `churn_signal:<type>` for each event type (the signals are configurable).
pub(super) fn entering_reason(_: &mut SchemaGenerator) -> Schema {
    let reasons = [
        Reason::FirstSeen,
        Reason::FirstConversion,
        Reason::Reactivated,
        Reason::MatureCriteria,
    ]
    .into_iter()
    .chain(EventType::ALL.map(Reason::ChurnSignal))
    .chain([Reason::Inactivity, Reason::NoReactivation]);
    let names: Vec<String> = reasons.map(|r| r.to_string()).collect();
    json_schema!({
        "type": "string",
        "enum": names
    })
}
