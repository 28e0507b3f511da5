//! The parts of the output records' JSON Schemas that a derive cannot say: the `type` tags,
//! the reasons and names written with `Display`, the action id's format, `held_out` and the
//! schema version. The documents themselves are assembled in `crate::schemas`.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize, Serializer};

use super::action::{ActionKind, ActionReason, Category, Reason};
use super::event::EventType;
use super::kano::KanoClass;

/// The version of the output records' shape (SPEC 11): 1. It changes only when a field is
/// removed or changes meaning; a field added keeps it.
pub const SCHEMA_VERSION: u8 = 1;

/// `"schema_version": 1` on every output record; takes no room in a record.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SchemaVersion;

impl Serialize for SchemaVersion {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(SCHEMA_VERSION)
    }
}

/// Read back (the members topic's records are read by the service): any version is taken, as
/// a newer one only adds fields.
impl<'de> Deserialize<'de> for SchemaVersion {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        u64::deserialize(d).map(|_| SchemaVersion)
    }
}

impl JsonSchema for SchemaVersion {
    fn schema_name() -> Cow<'static, str> {
        "SchemaVersion".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "The version of the record's shape: 1 (SPEC 11).",
            "type": "integer",
            "const": SCHEMA_VERSION
        })
    }
}

fn names(description: &str, names: impl IntoIterator<Item = String>) -> Schema {
    let names: Vec<String> = names.into_iter().collect();
    json_schema!({
        "description": description,
        "type": "string",
        "enum": names
    })
}

pub(super) fn transition_tag(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "const": "transition" })
}

pub(super) fn action_tag(_: &mut SchemaGenerator) -> Schema {
    json_schema!({ "type": "string", "const": "action" })
}

/// Every transition reason: `churn_signal:<type>` for each event type.
fn all_reasons() -> impl Iterator<Item = Reason> {
    [
        Reason::FirstSeen,
        Reason::FirstConversion,
        Reason::Reactivated,
        Reason::MatureCriteria,
    ]
    .into_iter()
    .chain(EventType::ALL.map(Reason::ChurnSignal))
    .chain([Reason::Inactivity, Reason::NoReactivation, Reason::Erased])
}

pub(super) fn reason(_: &mut SchemaGenerator) -> Schema {
    names(
        "Why the transition happened (SPEC 2); churn_signal:<type> names the event type.",
        all_reasons().map(|r| r.to_string()),
    )
}

pub(super) fn action_reason(_: &mut SchemaGenerator) -> Schema {
    let own = [
        ActionReason::Complaint,
        ActionReason::HighSeverityTicket,
        ActionReason::Detractor,
        ActionReason::Promoter,
        ActionReason::MustBeUnsatisfied,
        ActionReason::Milestone,
        ActionReason::ChurnRisk,
    ];
    let entered = all_reasons()
        .filter(|r| *r != Reason::Erased)
        .map(ActionReason::Entered);
    names(
        "Why the action was planned: the entering transition's reason for a stage-entry action, else the rule's.",
        entered.chain(own).map(|r| r.to_string()),
    )
}

pub(super) fn category(_: &mut SchemaGenerator) -> Schema {
    names(
        "The action's category, which names its topic.",
        Category::ALL.map(|c| c.as_str().to_owned()),
    )
}

pub(super) fn severity(_: &mut SchemaGenerator) -> Schema {
    names(
        "A support ticket's severity.",
        ["low", "normal", "high"].map(String::from),
    )
}

pub(super) fn kano_class(_: &mut SchemaGenerator) -> Schema {
    use KanoClass::*;
    names(
        "The KANO class of the answer (SPEC 7).",
        [
            Attractive,
            OneDimensional,
            MustBe,
            Indifferent,
            Reverse,
            Questionable,
        ]
        .map(|c| c.as_str().to_owned()),
    )
}

pub(super) fn action_id(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "A UUIDv5 of the customer id, the kind and the cause (SPEC 3): the same for the same action on every run; deduplicate on it.",
        "type": "string",
        "format": "uuid",
        "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
    })
}

pub(super) fn held_out(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "description": "Present, and true, only on a control group's action (SPEC 10): recorded, never sent; on the holdout topic in Kafka mode.",
        "type": "boolean",
        "const": true
    })
}

/// The kinds, for documents that list them.
pub fn kind_names() -> Vec<String> {
    ActionKind::ALL.map(|k| k.as_str().to_owned()).to_vec()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_encoders_field_says_the_version() {
        assert_eq!(
            super::SCHEMA_VERSION,
            1,
            "record_json.rs writes 1: change both"
        );
    }
}
