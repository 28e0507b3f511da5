//! The engine's outputs: transition and action records (SPEC section 4), each with the facts
//! it was decided on, and the suppressed actions that are counted but never sent.

use compact_str::CompactString;
use serde::{Serialize, Serializer};
use uuid::Uuid;

use super::action::Group;
use super::action::{ActionKind, ActionReason, Category, Reason, Suppression};
use super::customer::Stage;
use super::event::{EventType, NeedLevel, Severity};
use super::explain::{Explain, Why};
use super::kano::KanoClass;
use super::record_schema::{self, SchemaVersion};
use super::time::Timestamp;
use schemars::JsonSchema;

/// Serializes a [`Timestamp`] as RFC 3339 UTC text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rfc3339(pub Timestamp);

impl Serialize for Rfc3339 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

fn display<T: std::fmt::Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

fn display_some<T: std::fmt::Display, S: Serializer>(
    v: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match v {
        Some(v) => s.collect_str(v),
        None => s.serialize_none(),
    }
}

/// The facts a decision rested on; only the relevant ones are present in a record. Names
/// are kept as their enums (a byte each), not as `&str` (sixteen): records are moved a few
/// times on the engine thread and read on the encoding thread, so their size costs time.
#[derive(Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
#[schemars(
    deny_unknown_fields,
    description = "The facts the decision rested on: only those of its rule are present."
)]
pub struct Facts {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purchase_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_spend: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mature_min_purchases: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_conversion_at: Option<Rfc3339>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_since_first_conversion: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mature_min_tenure_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_activity_at: Option<Rfc3339>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactivity_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub churning_since: Option<Rfc3339>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub churned_after_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_lateness_secs: Option<i64>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "display_some"
    )]
    pub event_type: Option<EventType>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "display_some"
    )]
    #[schemars(schema_with = "record_schema::severity")]
    pub severity: Option<Severity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nps: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub satisfaction: Option<u8>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "display_some"
    )]
    #[schemars(schema_with = "record_schema::kano_class")]
    pub kano_class: Option<KanoClass>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub milestone: Option<u32>,
    /// Repeat transactions (the prediction's x) and the latest transaction's time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat_purchases: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_purchase_at: Option<Rfc3339>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_risk_below: Option<f64>,
    /// P(alive) at the record's `at`, when prediction is on (SPEC 8).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1.0))]
    pub p_alive: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(
    title = "Transition",
    deny_unknown_fields,
    description = "A stage transition (SPEC 4), on the transitions topic and in replay's output, keyed by customer_id."
)]
pub struct Transition {
    #[serde(rename = "type")]
    #[schemars(schema_with = "record_schema::transition_tag")]
    pub record_type: RecordType,
    #[schemars(with = "String")]
    pub customer_id: CompactString,
    /// The stage before; null for the first transition (`first_seen`).
    pub from: Option<Stage>,
    /// The stage after; null for an erasure.
    pub to: Option<Stage>,
    #[serde(serialize_with = "display")]
    #[schemars(schema_with = "record_schema::reason")]
    pub reason: Reason,
    pub at: Rfc3339,
    /// The event that caused it; null for a timer's transition.
    #[schemars(with = "Option<String>")]
    pub event_id: Option<CompactString>,
    /// This customer's transitions, counted from 1.
    #[schemars(range(min = 1))]
    pub seq: u32,
    /// One sentence on why, for people.
    #[schemars(with = "String")]
    pub explain: Why,
    pub facts: Facts,
    pub schema_version: SchemaVersion,
}

#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(
    title = "Action",
    deny_unknown_fields,
    description = "An action for marketing automation (SPEC 3, 4), on its category's topic (a held-out one on the holdout topic) and in replay's output, keyed by customer_id."
)]
pub struct Action {
    #[serde(rename = "type")]
    #[schemars(schema_with = "record_schema::action_tag")]
    pub record_type: RecordType,
    #[schemars(schema_with = "record_schema::action_id")]
    pub action_id: Uuid,
    pub kind: ActionKind,
    #[serde(serialize_with = "display")]
    #[schemars(schema_with = "record_schema::category")]
    pub category: Category,
    #[schemars(with = "String")]
    pub customer_id: CompactString,
    /// The customer's stage after the input that planned it.
    pub stage: Stage,
    #[serde(serialize_with = "display")]
    #[schemars(schema_with = "record_schema::action_reason")]
    pub reason: ActionReason,
    pub at: Rfc3339,
    /// The event that planned it; null for an action planned by a timer.
    #[schemars(with = "Option<String>")]
    pub cause_event_id: Option<CompactString>,
    /// The highest need level served so far, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub need_level: Option<NeedLevel>,
    /// One sentence on why, for people.
    #[schemars(with = "String")]
    pub explain: Explain,
    pub facts: Facts,
    /// Its side of a holdout experiment (SPEC 10), when its kind has one: written as
    /// `"held_out": true` for the control group (recorded, not sent), and not at all
    /// otherwise.
    #[serde(
        rename = "held_out",
        skip_serializing_if = "not_control",
        serialize_with = "held_out"
    )]
    #[schemars(schema_with = "record_schema::held_out")]
    pub group: Option<Group>,
    pub schema_version: SchemaVersion,
}

fn not_control(group: &Option<Group>) -> bool {
    *group != Some(Group::Control)
}

fn held_out<S: serde::Serializer>(_: &Option<Group>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bool(true)
}

/// The `type` tag of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordType {
    Transition,
    Action,
}

/// Where the engine puts its records, in order: a `Vec` to collect them, or a driver's
/// encoder that writes each at once (so firing a million timers needs no million-record
/// buffer).
pub trait RecordSink {
    fn push(&mut self, record: Record);
}

impl RecordSink for Vec<Record> {
    fn push(&mut self, record: Record) {
        Vec::push(self, record);
    }
}

/// Everything one input produced, in order: its transitions, then its actions.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    Transition(Transition),
    Action(Action),
    /// A planned action that was not sent; counted, never written.
    Suppressed {
        kind: ActionKind,
        reason: Suppression,
        /// The action's `at` (the report counts suppressions per week).
        at: Timestamp,
    },
    /// A conversion within the holdout window of an earlier `kind` action of `group` (SPEC
    /// 10); counted, never written.
    Converted {
        kind: ActionKind,
        group: Group,
    },
}

impl Record {
    /// The customer a sent record is about (the output key).
    pub fn customer_id(&self) -> Option<&str> {
        match self {
            Record::Transition(t) => Some(&t.customer_id),
            Record::Action(a) => Some(&a.customer_id),
            Record::Suppressed { .. } | Record::Converted { .. } => None,
        }
    }

    /// The same line through the derived `Serialize` (the reference the hand-written
    /// encoder is tested against).
    pub fn serde_json_line(&self) -> Vec<u8> {
        let mut out = match self {
            Record::Transition(t) => serde_json::to_vec(t),
            Record::Action(a) => serde_json::to_vec(a),
            Record::Suppressed { .. } | Record::Converted { .. } => return Vec::new(),
        }
        .unwrap_or_default();
        out.push(b'\n');
        out
    }
}
