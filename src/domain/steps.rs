//! The transitions an event causes (SPEC 2, steps 2-6): the customer's counters, then rules
//! 3-6 in order, each a [`Move`] written as a transition record and noted for the net-change
//! rule. Timers' transitions are the engine's (`Engine::fire`).

use super::action::Reason;
use super::customer::{Customer, Stage, Timer, TimerKind};
use super::event::{Event, EventType, Payload};
use super::explain::Why;
use super::record::{Facts, Record, RecordSink, RecordType, Rfc3339, Transition};
use super::record_schema::SchemaVersion;
use super::rules::Rules;
use super::time::Timestamp;
use compact_str::CompactString;

/// The transitions of one input so far, for the net-change rule.
pub(super) struct NetChange {
    pub before: Option<Stage>,
    pub last: Option<(Stage, Reason, Why, Facts)>,
}

/// One transition: where to, why, and the facts it was decided on.
pub(super) struct Move {
    pub to: Stage,
    pub reason: Reason,
    pub explain: Why,
    pub facts: Facts,
}

/// The transitions of one event: its time, the event, the net change so far and where the
/// records go.
pub(super) struct Steps<'a, 'e> {
    pub rules: &'a Rules,
    pub at: Timestamp,
    pub event: &'a Event<'e>,
    pub net: &'a mut NetChange,
    pub out: &'a mut dyn RecordSink,
}

impl Steps<'_, '_> {
    /// Rules 3-6 of SPEC 2, in order, each on the stage the previous one left.
    pub fn rules_3_to_6(
        &mut self,
        customer: &mut Customer,
        event_type: EventType,
        converts: bool,
        rules: &Rules,
    ) {
        if converts && customer.stage == Stage::Prospect {
            let facts = conversion_facts(customer, event_type);
            let explain = Why::FirstConversion(event_type);
            self.step(
                customer,
                Move {
                    to: Stage::New,
                    reason: Reason::FirstConversion,
                    explain,
                    facts,
                },
            );
        }
        if converts && matches!(customer.stage, Stage::Churning | Stage::Churned) {
            // P(alive) fell below the threshold while the customer was churning or churned
            // (since it left new or mature: churned follows churning by churned_after days):
            // `churn_risk` is for a customer in new or mature when it falls (SPEC 8), so the
            // crossing is past, not an action dated before the reactivation. The next
            // transaction arms it again (one that is this event has moved the crossing).
            let left = match customer.stage {
                Stage::Churned => customer.stage_entered_at.minus(rules.churned_after()),
                _ => customer.stage_entered_at,
            };
            if let Some(prediction) = &rules.prediction
                && prediction
                    .risk_stamp(&customer.transactions)
                    .is_some_and(|stamp| stamp >= left && stamp < self.at)
            {
                customer.risk_fired = true;
            }
            let from = customer.stage;
            let mature = customer.meets_mature_rule(self.at, rules);
            let to = if mature { Stage::Mature } else { Stage::New };
            let facts = mature_facts(customer, self.at, rules, Some(event_type));
            let explain = Why::Reactivated {
                event_type,
                from,
                mature,
            };
            self.step(
                customer,
                Move {
                    to,
                    reason: Reason::Reactivated,
                    explain,
                    facts,
                },
            );
        }
        if customer.stage == Stage::New && customer.meets_mature_rule(self.at, rules) {
            let facts = mature_facts(customer, self.at, rules, None);
            let explain = Why::MatureCriteria {
                purchases: customer.purchase_count,
                min_purchases: rules.mature_min_purchases,
                days: facts.days_since_first_conversion.unwrap_or_default(),
                min_days: rules.mature_min_tenure_days,
            };
            self.step(
                customer,
                Move {
                    to: Stage::Mature,
                    reason: Reason::MatureCriteria,
                    explain,
                    facts,
                },
            );
        }
        if rules.churn_signal_events.contains(event_type)
            && matches!(customer.stage, Stage::New | Stage::Mature)
        {
            let facts = Facts {
                event_type: Some(event_type),
                ..Facts::default()
            };
            let explain = Why::ChurnSignal(event_type);
            self.step(
                customer,
                Move {
                    to: Stage::Churning,
                    reason: Reason::ChurnSignal(event_type),
                    explain,
                    facts,
                },
            );
        }
    }

    /// One event-caused transition: moves the customer, writes the record, notes the net
    /// change.
    fn step(&mut self, c: &mut Customer, m: Move) {
        let from = c.stage;
        set_stage(c, &m, self.at, Some(&self.event.event_id));
        let facts = with_p_alive(m.facts, c, self.at, self.rules);
        self.out.push(transition_record(
            c,
            Some(from),
            m.reason,
            self.at,
            Some(&self.event.event_id),
            m.explain,
            facts.clone(),
        ));
        self.net.last = Some((m.to, m.reason, m.explain, facts));
    }
}

/// Step 2 of SPEC 2: counters and flags. Returns the purchase count when this event made it
/// reach a delight milestone.
pub(super) fn update_counters(
    c: &mut Customer,
    payload: &Payload,
    at: Timestamp,
    rules: &Rules,
) -> Option<u32> {
    let event_type = payload.event_type();
    c.first_seen = c.first_seen.min(at);
    if rules.activity_events.contains(event_type) {
        c.last_activity_at = Some(c.last_activity_at.map_or(at, |t| t.max(at)));
    }
    let positive_purchase = matches!(payload, Payload::Purchase { amount, .. } if *amount > 0.0);
    if rules.conversion_events.contains(event_type)
        && (event_type != EventType::Purchase || positive_purchase)
    {
        c.first_conversion_at = Some(c.first_conversion_at.map_or(at, |t| t.min(at)));
    }
    let mut milestone = None;
    match *payload {
        Payload::Purchase { amount, need_level } => {
            c.total_spend += amount;
            if amount > 0.0 || (amount == 0.0 && rules.zero_amount_transactions) {
                let before = c.transactions;
                c.transactions.observe(at);
                // x or t_x changed: the `churn_risk` timer is armed again (SPEC 8).
                if c.transactions != before {
                    c.risk_fired = false;
                }
            }
            if amount > 0.0 {
                c.purchase_count += 1;
                if rules.delight_milestones.contains(&c.purchase_count) {
                    milestone = Some(c.purchase_count);
                }
            }
            if need_level.is_some() {
                c.need_level = c.need_level.max(need_level);
            }
        }
        Payload::Refund { amount } => c.refund_total += amount,
        Payload::Complaint => c.complaint_count += 1,
        Payload::Feedback { nps: Some(n), .. } => c.last_nps = Some(n),
        Payload::ConsentWithdrawn => c.contactable = false,
        Payload::ConsentGranted => c.contactable = true,
        Payload::LeadCreated
        | Payload::Engagement
        | Payload::SubscriptionStarted
        | Payload::SubscriptionCancelled
        | Payload::SupportTicket { .. }
        | Payload::Feedback { nps: None, .. }
        | Payload::CustomerErased => {}
    }
    milestone
}

/// Moves the customer into `m.to` at `at`, caused by the event `event_id` (`None`: a timer).
pub(super) fn set_stage(c: &mut Customer, m: &Move, at: Timestamp, event_id: Option<&str>) {
    c.stage = m.to;
    c.stage_entered_at = at;
    c.seq += 1;
    note_entry(c, &m.explain, m.reason, event_id);
}

/// Keeps why the customer entered its stage and what caused it, for the answer to "why"
/// (SPEC 9): every transition that leaves a state passes here.
pub(super) fn note_entry(c: &mut Customer, why: &Why, reason: Reason, event_id: Option<&str>) {
    c.entered = why.entered();
    debug_assert_eq!(c.entered.map(|e| e.reason()), Some(reason), "{why:?}");
    debug_assert!(c.entered.is_some_and(|e| e.can_enter(c.stage)), "{why:?}");
    debug_assert_eq!(
        c.entered.and_then(|e| e.timer()).is_some(),
        event_id.is_none()
    );
    c.entered_by = event_id.map(CompactString::from);
}

/// `facts` with the customer's P(alive) at `at`, when prediction is on (SPEC 8).
pub(super) fn with_p_alive(mut facts: Facts, c: &Customer, at: Timestamp, rules: &Rules) -> Facts {
    if let Some(prediction) = &rules.prediction {
        facts.p_alive = Some(prediction.p_alive(&c.transactions, at));
    }
    facts
}

/// The transition a stage timer makes (SPEC 2), or `None` for `churn_risk`, which moves no
/// stage.
pub(super) fn timer_move(c: &Customer, timer: &Timer, rules: &Rules) -> Option<Move> {
    let lateness = Some(rules.allowed_lateness.as_nanos() / 1_000_000_000);
    Some(match timer.kind {
        TimerKind::Inactivity => {
            let last = c.last_activity_at.unwrap_or(timer.stamp);
            Move {
                to: Stage::Churning,
                reason: Reason::Inactivity,
                explain: Why::Inactivity {
                    last,
                    days: rules.inactivity_days,
                },
                facts: Facts {
                    last_activity_at: Some(Rfc3339(last)),
                    inactivity_days: Some(rules.inactivity_days),
                    allowed_lateness_secs: lateness,
                    ..Facts::default()
                },
            }
        }
        TimerKind::NoReactivation => Move {
            to: Stage::Churned,
            reason: Reason::NoReactivation,
            explain: Why::NoReactivation {
                since: c.stage_entered_at,
                days: rules.churned_after_days,
            },
            facts: Facts {
                churning_since: Some(Rfc3339(c.stage_entered_at)),
                churned_after_days: Some(rules.churned_after_days),
                allowed_lateness_secs: lateness,
                ..Facts::default()
            },
        },
        TimerKind::ChurnRisk => return None,
    })
}

pub(super) fn transition_record(
    c: &Customer,
    from: Option<Stage>,
    reason: Reason,
    at: Timestamp,
    event_id: Option<&str>,
    explain: Why,
    facts: Facts,
) -> Record {
    Record::Transition(Transition {
        record_type: RecordType::Transition,
        customer_id: c.id.clone(),
        from,
        to: Some(c.stage),
        reason,
        at: Rfc3339(at),
        event_id: event_id.map(CompactString::from),
        seq: c.seq,
        explain,
        facts,
        schema_version: SchemaVersion,
    })
}

fn conversion_facts(c: &Customer, event_type: EventType) -> Facts {
    Facts {
        event_type: Some(event_type),
        purchase_count: Some(c.purchase_count),
        total_spend: Some(c.total_spend),
        ..Facts::default()
    }
}

fn mature_facts(
    c: &Customer,
    at: Timestamp,
    rules: &Rules,
    event_type: Option<EventType>,
) -> Facts {
    Facts {
        event_type,
        purchase_count: Some(c.purchase_count),
        mature_min_purchases: Some(rules.mature_min_purchases),
        first_conversion_at: c.first_conversion_at.map(Rfc3339),
        days_since_first_conversion: c.first_conversion_at.map(|f| at.days_since(f)),
        mature_min_tenure_days: Some(rules.mature_min_tenure_days),
        ..Facts::default()
    }
}
