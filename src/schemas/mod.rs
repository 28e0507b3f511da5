//! The published contract (SPEC 11): the JSON Schemas (draft 2020-12) of the input event, the
//! output records, the dead-letter headers and the per-customer answer, generated from the
//! Rust types, and committed in `docs/schemas/` beside the AsyncAPI document
//! (`docs/asyncapi.yaml`) that names every topic. `lifecycle schemas --output-dir DIR`
//! writes them; a test checks that the committed files are what the code generates.

mod input;

use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{Schema, json_schema};

use crate::domain::RejectReason;
use crate::domain::inspect::one_line_descriptions;
use crate::domain::record::{Action, Transition};

/// Every schema document: its file name in `docs/schemas/` and its text (pretty printed,
/// with a final line feed).
pub fn documents() -> Vec<(&'static str, String)> {
    vec![
        ("event.schema.json", text(&event())),
        ("transition.schema.json", text(&serialized::<Transition>())),
        ("action.schema.json", text(&serialized::<Action>())),
        (
            "dead-letter-headers.schema.json",
            text(&dead_letter_headers()),
        ),
        (
            "member.schema.json",
            text(&serialized::<crate::kafka::members::MemberRecord>()),
        ),
        (
            "customer.schema.json",
            crate::domain::inspect::customer_schema(),
        ),
    ]
}

fn settings() -> SchemaSettings {
    SchemaSettings::draft2020_12().with_transform(RecursiveTransform(one_line_descriptions))
}

fn text(schema: &Schema) -> String {
    let mut text = serde_json::to_string_pretty(schema).expect("a schema is JSON");
    text.push('\n');
    text
}

/// The schema of a record as it is written (serialized).
fn serialized<T: schemars::JsonSchema>() -> Schema {
    settings()
        .for_serialize()
        .into_generator()
        .into_root_schema_for::<T>()
}

fn event() -> Schema {
    let mut generator = settings().for_deserialize().into_generator();
    let mut schema = input::event_schema(&mut generator);
    let defs = generator.take_definitions(true);
    schema.insert(
        "$schema".into(),
        "https://json-schema.org/draft/2020-12/schema".into(),
    );
    if !defs.is_empty() {
        schema.insert("$defs".into(), defs.into());
    }
    schema
}

/// The headers of a dead letter (SPEC 4): the record's own headers are kept, and these are
/// added, each a UTF-8 string.
fn dead_letter_headers() -> Schema {
    let reasons: Vec<&str> = RejectReason::ALL.map(RejectReason::as_str).to_vec();
    json_schema!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "DeadLetterHeaders",
        "description": "The Kafka headers of a message on the dead-letter topic, as name -> UTF-8 value. The value is the rejected record's original bytes (at most its first 1 MiB). The rejected record's own headers are kept beside these.",
        "type": "object",
        "required": ["reason", "detail", "source_topic", "source_partition", "source_offset", "schema_version"],
        "properties": {
            "reason": {
                "description": "Why it was rejected (SPEC 1): a stable code.",
                "type": "string",
                "enum": reasons
            },
            "detail": { "description": "The problem in words, naming the field; never a value. At most 1 KiB.", "type": "string", "maxLength": 1024 },
            "source_topic": { "description": "The topic it was read from.", "type": "string", "minLength": 1 },
            "source_partition": { "description": "Its partition, in decimal.", "type": "string", "pattern": "^(0|[1-9][0-9]*)$" },
            "source_offset": { "description": "Its offset, in decimal.", "type": "string", "pattern": "^(0|[1-9][0-9]*)$" },
            "value_truncated": { "description": "Present when the record was over 1 MiB and only its first 1 MiB is kept.", "const": "true" },
            "original_size": { "description": "The record's size in bytes, with value_truncated.", "type": "string", "pattern": "^[1-9][0-9]*$" },
            "key_truncated": { "description": "Present when the record's key was over 1 KiB and only its first 1 KiB is kept.", "const": "true" },
            "original_key_size": { "description": "The key's size in bytes, with key_truncated.", "type": "string", "pattern": "^[1-9][0-9]*$" },
            "headers_truncated": { "description": "Present when some of the record's own headers are left out: those that fit in 32 KiB (names, values and their lengths), in order, at most 256, are kept.", "const": "true" },
            "schema_version": { "description": "The version of these headers' shape: 1.", "const": "1" }
        },
        "additionalProperties": { "type": "string" }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The committed documents are the code's: regenerate them with
    /// `cargo run -- schemas --output-dir docs/schemas` after changing a type.
    #[test]
    fn the_committed_schemas_are_the_generated_ones() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schemas");
        for (name, generated) in documents() {
            let committed = std::fs::read_to_string(dir.join(name))
                .unwrap_or_else(|e| panic!("docs/schemas/{name}: {e}"));
            assert!(
                committed == generated,
                "docs/schemas/{name} is not what the code generates: run `cargo run -- schemas --output-dir docs/schemas`"
            );
        }
    }
}

#[cfg(test)]
mod asyncapi_tests {
    /// docs/asyncapi.yaml has a channel for every topic the service reads or writes, by its
    /// default name.
    #[test]
    fn the_asyncapi_document_names_every_default_topic() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/asyncapi.yaml");
        let text = std::fs::read_to_string(path).expect("docs/asyncapi.yaml");
        let topics = crate::config::Config::default_config().kafka.topics;
        for topic in crate::kafka::outputs::Output::topics(&topics) {
            assert!(
                text.contains(&format!("    address: {topic}\n")),
                "docs/asyncapi.yaml has no channel for {topic}"
            );
        }
    }
}
