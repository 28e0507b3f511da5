//! The answer to "where is this customer, why, and what happens next" (SPEC 9): one
//! customer's state at a clock as a [`CustomerView`], the JSON that `GET /v1/customers/{id}`
//! and `lifecycle inspect` both answer. Pure: the caller finds the customer, passes its
//! engine's rules and clock to [`customer_view`], and fills in the input position the answer
//! reflects ([`Position`]). The answer's JSON Schema is generated from these types
//! ([`customer_schema`]) and committed as `docs/schemas/customer.schema.json`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Serialize, Serializer};

use super::action::{ActionKind, Reason, TimerKind};
use super::customer::{Customer, Stage, Timer};
use super::decode::MAX_ID_BYTES;
use super::event::{EventSet, EventType, NeedLevel};
use super::explain::Why;
use super::holdout::Group;
use super::planner::entry_action;
use super::record::Rfc3339;
use super::rules::Rules;
use super::time::Timestamp;

mod schema;
pub use schema::{customer_schema, one_line_descriptions};

/// One customer: its state, why it is in its stage, what happens next, the clock the answer
/// was evaluated at and the input position it reflects (SPEC 9).
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(
    title = "Customer",
    deny_unknown_fields,
    description = "One customer as `GET /v1/customers/{customer_id}` and `lifecycle inspect` answer: its state, why it is in its stage, what happens next, the clock the answer was evaluated at and the input position it reflects. Times are RFC 3339 in UTC, as in the output records."
)]
pub struct CustomerView {
    pub customer_id: String,
    pub stage: Stage,
    /// When the customer entered its stage: the `at` of the transition that entered it.
    pub stage_entered_at: Rfc3339,
    /// The `seq` of the customer's last transition (1 for `first_seen`).
    pub seq: u32,
    pub first_seen: Rfc3339,
    pub first_conversion_at: Option<Rfc3339>,
    pub last_activity_at: Option<Rfc3339>,
    /// Purchases with an amount above 0.
    pub purchase_count: u32,
    pub total_spend: f64,
    pub refund_total: f64,
    pub complaint_count: u32,
    #[schemars(range(max = 10))]
    pub last_nps: Option<u8>,
    /// False after `consent_withdrawn`, until `consent_granted`.
    pub contactable: bool,
    /// The highest need level served.
    pub need_level: Option<NeedLevel>,
    /// P(alive) at `clock` (SPEC 8); null when prediction is off or there is no clock yet.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub p_alive: Option<f64>,
    /// Why the customer is in its stage: the transition that entered it. Null for a state
    /// restored from a changelog record written before this was kept (issue 21), until the
    /// customer's next transition; `stage` and `stage_entered_at` are given all the same.
    pub why: Option<WhyView>,
    /// Every armed timer, the first to fire first (a stage timer before `churn_risk` at the
    /// same instant). One that fires may disarm the later ones: `churn_risk` exists only in
    /// `new` and `mature`.
    pub next: Vec<NextTimer>,
    /// When each action kind was last sent; kinds never sent (held out for a control group,
    /// or backfilled before `actions.send_from`, which restart the cooldown all the same)
    /// are absent.
    #[schemars(schema_with = "schema::last_sent")]
    pub last_sent: BTreeMap<ActionKind, Rfc3339>,
    /// The clock the answer was evaluated at: the engine's (event time; the system time in
    /// the service's `clock = "wall"`); null before any event.
    pub clock: Option<Rfc3339>,
    /// The input position the answer reflects, filled in by the caller; null when it does
    /// not know it.
    pub position: Option<Position>,
}

/// The transition that entered the customer's stage.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct WhyView {
    /// The transition's reason, as in its transition record.
    #[serde(serialize_with = "text")]
    #[schemars(schema_with = "schema::entering_reason")]
    pub reason: Reason,
    /// The transition's `at`: `stage_entered_at`.
    pub at: Rfc3339,
    pub cause: CauseView,
    /// The transition record's `explain`, in the same words.
    #[schemars(with = "String")]
    pub explain: Why,
    pub facts: WhyFacts,
}

/// What caused the transition: an applied event, or a timer firing.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
#[schemars(deny_unknown_fields)]
pub enum CauseView {
    /// The event whose application made the transition.
    Event { event_id: String },
    /// A timer: its kind and its stamp (the transition's `at`).
    Timer { timer: TimerKind, stamp: Rfc3339 },
}

/// The decision's inputs: the numbers the rule compared and the rule's settings, as far as
/// the state keeps them (the `allowed_lateness_secs` of a timer is today's setting). Only the
/// ones of the reason are present. The transition record itself also carries the counters
/// as they were at the transition (`purchase_count`, `total_spend`, `p_alive`, ...); the
/// answer's own fields give them as they are now.
#[derive(Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct WhyFacts {
    /// The type of the event that made the transition.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_type: Option<EventType>,
    /// `reactivated`: the stage the customer came back from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Stage>,
    /// `reactivated`: whether the mature rule held (then the customer went to `mature`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mature_rule_held: Option<bool>,
    /// `mature_criteria`: the purchase count when the rule held.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purchase_count: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mature_min_purchases: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_since_first_conversion: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mature_min_tenure_days: Option<u32>,
    /// `inactivity`: the last activity the timer counted from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_activity_at: Option<Rfc3339>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inactivity_days: Option<u32>,
    /// `no_reactivation`: when the customer had entered `churning`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub churning_since: Option<Rfc3339>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub churned_after_days: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allowed_lateness_secs: Option<i64>,
}

/// An armed timer.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[schemars(deny_unknown_fields)]
pub struct NextTimer {
    pub kind: TimerKind,
    /// The `at` its transition or action will carry.
    pub stamp: Rfc3339,
    /// When it fires: when the clock reaches this (the stamp plus `allowed_lateness`).
    pub fires_at: Rfc3339,
    /// The stage it moves the customer to; null for `churn_risk`, which moves none.
    pub moves_to: Option<Stage>,
    /// The action it plans: the entry action of `moves_to`, or `churn_risk`; sent unless
    /// consent, cooldown or the frequency cap suppress it when it fires.
    pub action: ActionKind,
    /// What it does and what would cancel it, in words.
    pub unless: String,
}

/// The input position an answer reflects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, JsonSchema)]
#[serde(untagged)]
#[schemars(deny_unknown_fields)]
pub enum Position {
    /// `lifecycle inspect`: the number of input lines read (all of them, blank and rejected
    /// lines included).
    Lines { lines: u64 },
    /// The service: the customer's partition and the offset of the last input record handled
    /// from it (applied, or rejected, ignored or a duplicate, which change no state; null
    /// before any).
    Partition { partition: i32, offset: Option<i64> },
}

/// Why a text cannot be a customer id (SPEC 1: 1 to 128 UTF-8 bytes, no control character).
/// The messages never quote the id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum BadCustomerId {
    #[error("the customer id is empty (an id has 1 to 128 bytes)")]
    Empty,
    #[error("the customer id has {0} bytes (an id has at most 128)")]
    TooLong(usize),
    #[error("the customer id contains a control character (no customer's id does)")]
    ControlCharacter,
}

/// Whether `id` can be a customer's id at all (a question about another is a caller's error).
pub fn check_customer_id(id: &str) -> Result<(), BadCustomerId> {
    match id.len() {
        0 => Err(BadCustomerId::Empty),
        n if n > MAX_ID_BYTES => Err(BadCustomerId::TooLong(n)),
        _ if id.chars().any(char::is_control) => Err(BadCustomerId::ControlCharacter),
        _ => Ok(()),
    }
}

/// The answer for customer `c` under `rules` at `clock` (its engine's), without its position.
pub fn customer_view(c: &Customer, rules: &Rules, clock: Option<Timestamp>) -> CustomerView {
    let p_alive = rules
        .prediction
        .as_ref()
        .zip(clock)
        .map(|(prediction, at)| prediction.p_alive(&c.transactions, at));
    CustomerView {
        customer_id: c.id.to_string(),
        stage: c.stage,
        stage_entered_at: Rfc3339(c.stage_entered_at),
        seq: c.seq,
        first_seen: Rfc3339(c.first_seen),
        first_conversion_at: c.first_conversion_at.map(Rfc3339),
        last_activity_at: c.last_activity_at.map(Rfc3339),
        purchase_count: c.purchase_count,
        total_spend: c.total_spend,
        refund_total: c.refund_total,
        complaint_count: c.complaint_count,
        last_nps: c.last_nps,
        contactable: c.contactable,
        need_level: c.need_level,
        p_alive,
        why: why_view(c, rules),
        next: next_timers(c, rules),
        last_sent: last_sent(c, rules),
        clock: clock.map(Rfc3339),
        position: None,
    }
}

/// The last send of each kind. The state keeps, per kind, the last action that restarted its
/// cooldown: sent, held out (SPEC 10) or backfilled (SPEC 3). Those times only grow (an
/// earlier one is within the cooldown), a customer's group for a kind is fixed, and
/// backfill covers everything before `actions.send_from`: so when the last one was not
/// sent, none was, and the kind is left out.
fn last_sent(c: &Customer, rules: &Rules) -> BTreeMap<ActionKind, Rfc3339> {
    let held_out = |kind| {
        rules
            .holdout
            .as_ref()
            .is_some_and(|h| h.group(&c.id, kind) == Some(Group::Control))
    };
    c.last_sent
        .entries()
        .iter()
        .filter(|&&(kind, at)| rules.send_from.is_none_or(|from| at >= from) && !held_out(kind))
        .map(|&(kind, at)| (kind, Rfc3339(at)))
        .collect()
}

fn why_view(c: &Customer, rules: &Rules) -> Option<WhyView> {
    let entered = c.entered?;
    let at = c.stage_entered_at;
    let cause = match (entered.timer(), &c.entered_by) {
        (Some(timer), _) => CauseView::Timer {
            timer,
            stamp: Rfc3339(at),
        },
        (None, Some(id)) => CauseView::Event {
            event_id: id.to_string(),
        },
        // Never kept so (the changelog reader refuses it): no cause, no answer to "why".
        (None, None) => return None,
    };
    let why = Why::of_entered(entered, c.stage, at);
    Some(WhyView {
        reason: entered.reason(),
        at: Rfc3339(at),
        cause,
        explain: why,
        facts: facts(&why, rules),
    })
}

/// The numbers a transition was decided on, from its explanation and the rules.
fn facts(why: &Why, rules: &Rules) -> WhyFacts {
    let lateness = Some(rules.allowed_lateness.as_nanos() / 1_000_000_000);
    match *why {
        Why::FirstSeen(t) | Why::FirstConversion(t) | Why::ChurnSignal(t) => WhyFacts {
            event_type: Some(t),
            ..WhyFacts::default()
        },
        Why::Reactivated {
            event_type,
            from,
            mature,
        } => WhyFacts {
            event_type: Some(event_type),
            from: Some(from),
            mature_rule_held: Some(mature),
            ..WhyFacts::default()
        },
        Why::MatureCriteria {
            purchases,
            min_purchases,
            days,
            min_days,
        } => WhyFacts {
            purchase_count: Some(purchases),
            mature_min_purchases: Some(min_purchases),
            days_since_first_conversion: Some(days),
            mature_min_tenure_days: Some(min_days),
            ..WhyFacts::default()
        },
        Why::Inactivity { last, days } => WhyFacts {
            last_activity_at: Some(Rfc3339(last)),
            inactivity_days: Some(days),
            allowed_lateness_secs: lateness,
            ..WhyFacts::default()
        },
        Why::NoReactivation { since, days } => WhyFacts {
            churning_since: Some(Rfc3339(since)),
            churned_after_days: Some(days),
            allowed_lateness_secs: lateness,
            ..WhyFacts::default()
        },
        Why::Erased => WhyFacts::default(),
    }
}

/// Every armed timer of `c`, in firing order (the stage timer first on a tie, as they fire).
fn next_timers(c: &Customer, rules: &Rules) -> Vec<NextTimer> {
    let mut timers: Vec<Timer> = [c.stage_timer(rules), c.risk_timer(rules)]
        .into_iter()
        .flatten()
        .collect();
    timers.sort_by_key(|t| t.fires_at);
    timers
        .into_iter()
        .map(|t| next_timer(c, t, rules))
        .collect()
}

fn next_timer(c: &Customer, t: Timer, rules: &Rules) -> NextTimer {
    let (stamp, fires_at) = (t.stamp, t.fires_at);
    let (moves_to, unless) = match t.kind {
        TimerKind::Inactivity => {
            let last = c.last_activity_at.unwrap_or(stamp);
            let events = event_names(rules.activity_events, false);
            let unless = format!(
                "moves to churning at {stamp} unless an activity event ({events}) dated after \
                 {last} arrives before the clock reaches {fires_at}"
            );
            (Some(Stage::Churning), unless)
        }
        TimerKind::NoReactivation => {
            let events = event_names(rules.conversion_events, true);
            let unless = format!(
                "moves to churned at {stamp} unless a conversion event ({events}) arrives before \
                 the clock reaches {fires_at}"
            );
            (Some(Stage::Churned), unless)
        }
        TimerKind::ChurnRisk => {
            let unless = format!(
                "sends churn_risk at {stamp} unless a purchase with an amount above 0 arrives \
                 before the clock reaches {fires_at} (it moves this instant), or the customer \
                 leaves new and mature first"
            );
            (None, unless)
        }
    };
    NextTimer {
        kind: t.kind,
        stamp: Rfc3339(stamp),
        fires_at: Rfc3339(fires_at),
        moves_to,
        action: moves_to.map_or(ActionKind::ChurnRisk, |to| entry_action(Some(c.stage), to)),
        unless,
    }
}

/// The types of `set` in words, "a, b or c"; in the conversion events (`conversions`) a
/// purchase counts only above 0 (SPEC 2).
fn event_names(set: EventSet, conversions: bool) -> String {
    let names: Vec<&str> = EventType::ALL
        .into_iter()
        .filter(|&t| set.contains(t))
        .map(|t| match t {
            EventType::Purchase if conversions => "purchase with an amount above 0",
            t => t.as_str(),
        })
        .collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

fn text<T: std::fmt::Display, S: Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}

#[cfg(test)]
mod tests;
