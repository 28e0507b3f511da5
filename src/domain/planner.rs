//! Action planning (SPEC section 3): which actions one input plans, in which order, and
//! which of them cooldown and consent suppress. Pure: state in, records out.

use super::action::{ActionKind, ActionReason, Cause, Reason, Suppression, action_id};
use super::customer::{Customer, Stage};
use super::event::{EventType, Payload, Severity};
use super::explain::{Explain, Why};
use super::kano::{KanoClass, classify};
use super::record::{Action, Facts, Record, RecordSink, RecordType, Rfc3339};
use super::record_schema::SchemaVersion;
use super::rules::Rules;
use super::time::Timestamp;
use smallvec::SmallVec;

/// The actions one input plans: its stage-entry action and at most two of its own (a
/// feedback can be a detractor's and a must-be complaint), kept inline: a `Vec` here was an
/// allocation and a free for nearly every event (the allocator was ~5 % of the engine
/// thread's samples in replay's profile).
pub type PlannedActions = SmallVec<[Planned; 3]>;

/// An action the rules call for, before suppression.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    pub kind: ActionKind,
    pub reason: ActionReason,
    pub explain: Explain,
    pub facts: Facts,
}

/// The stage-entry action of an input's net change: from the stage before the input (`None`
/// for a new customer) to the stage after its last transition.
pub fn entry_action(before: Option<Stage>, after: Stage) -> ActionKind {
    let was_lost = matches!(before, Some(Stage::Churning | Stage::Churned));
    match after {
        Stage::Prospect => ActionKind::NurtureLead,
        Stage::New | Stage::Mature if was_lost => ActionKind::WelcomeBack,
        Stage::New => ActionKind::WelcomeOnboarding,
        Stage::Mature => ActionKind::LoyaltyReward,
        Stage::Churning => ActionKind::RetentionOffer,
        Stage::Churned => ActionKind::WinBackCampaign,
    }
}

/// The actions an applied event calls for besides its stage-entry action, in table order.
/// `milestone` is the purchase count this event reached when it is a delight milestone.
pub fn event_actions(
    customer: &Customer,
    payload: &Payload,
    milestone: Option<u32>,
    planned: &mut PlannedActions,
) {
    let mature = customer.stage == Stage::Mature;
    match *payload {
        Payload::Complaint => planned.push(Planned {
            kind: ActionKind::ServiceRecovery,
            reason: ActionReason::Complaint,
            explain: Explain::Complaint,
            facts: Facts {
                event_type: Some(EventType::Complaint),
                ..Facts::default()
            },
        }),
        Payload::SupportTicket {
            severity: Severity::High,
        } => planned.push(Planned {
            kind: ActionKind::ServiceRecovery,
            reason: ActionReason::HighSeverityTicket,
            explain: Explain::HighSeverityTicket,
            facts: Facts {
                event_type: Some(EventType::SupportTicket),
                severity: Some(Severity::High),
                ..Facts::default()
            },
        }),
        Payload::Feedback {
            nps,
            satisfaction,
            kano,
        } => {
            if let Some(score) = nps.filter(|&n| n <= 6) {
                planned.push(Planned {
                    kind: ActionKind::DetractorFollowUp,
                    reason: ActionReason::Detractor,
                    explain: Explain::Detractor(score),
                    facts: Facts {
                        nps: Some(score),
                        ..Facts::default()
                    },
                });
            }
            if let Some(score) = nps.filter(|&n| n >= 9 && mature) {
                planned.push(Planned {
                    kind: ActionKind::AdvocacyInvite,
                    reason: ActionReason::Promoter,
                    explain: Explain::Promoter(score),
                    facts: Facts {
                        nps: Some(score),
                        ..Facts::default()
                    },
                });
            }
            let must_be = kano.map(classify) == Some(KanoClass::MustBe);
            if let Some(sat) = satisfaction.filter(|&s| must_be && s <= 2) {
                planned.push(Planned {
                    kind: ActionKind::ServiceRecovery,
                    reason: ActionReason::MustBeUnsatisfied,
                    explain: Explain::MustBeUnsatisfied(sat),
                    facts: Facts {
                        kano_class: Some(KanoClass::MustBe),
                        satisfaction: Some(sat),
                        ..Facts::default()
                    },
                });
            }
        }
        Payload::Purchase { .. } => {
            if let Some(m) = milestone.filter(|_| mature) {
                planned.push(Planned {
                    kind: ActionKind::SurpriseDelight,
                    reason: ActionReason::Milestone,
                    explain: Explain::Milestone(m),
                    facts: Facts {
                        purchase_count: Some(customer.purchase_count),
                        milestone: Some(m),
                        ..Facts::default()
                    },
                });
            }
        }
        Payload::LeadCreated
        | Payload::Engagement
        | Payload::SubscriptionStarted
        | Payload::SubscriptionCancelled
        | Payload::Refund { .. }
        | Payload::SupportTicket { .. }
        | Payload::ConsentWithdrawn
        | Payload::ConsentGranted
        | Payload::CustomerErased => {}
    }
}

/// Why `kind` must not be sent at `at`, if it must not.
pub fn suppression(
    customer: &Customer,
    kind: ActionKind,
    at: Timestamp,
    rules: &Rules,
) -> Option<Suppression> {
    if !customer.contactable && !kind.ignores_consent() {
        return Some(Suppression::NoConsent);
    }
    if let Some(last) = customer.last_sent.get(kind)
        && at < last.plus(rules.cooldown())
    {
        return Some(Suppression::Cooldown);
    }
    let capped = rules.max_sent > 0 && kind.counts_for_frequency_cap();
    if capped
        && !customer
            .cap_times
            .allows(at, rules.cap_window(), rules.max_sent as usize)
    {
        return Some(Suppression::FrequencyCap);
    }
    None
}

/// Suppresses or sends each planned action in order, recording sent ones for cooldowns. A
/// control-group action (SPEC 10) passes every suppression, restarts the cooldown and counts
/// for the frequency cap as a sent one would, and is written with its group, held out.
pub fn emit(
    customer: &mut Customer,
    planned: impl IntoIterator<Item = Planned>,
    at: Timestamp,
    cause: &Cause,
    rules: &Rules,
    out: &mut dyn RecordSink,
) {
    // One P(alive) for the input's actions (they share their `at`), computed for the first
    // one not suppressed: most events plan nothing, and it costs two logarithms.
    let mut p_alive = None;
    for p in planned {
        if let Some(reason) = suppression(customer, p.kind, at, rules) {
            out.push(Record::Suppressed {
                kind: p.kind,
                reason,
                at,
            });
            continue;
        }
        // Sent, or backfilled: either restarts the cooldown and counts for the cap.
        customer.last_sent.set(p.kind, at);
        if rules.max_sent > 0 && p.kind.counts_for_frequency_cap() {
            customer.cap_times.record(at, rules.max_sent as usize);
        }
        let mut facts = p.facts;
        if let Some(prediction) = &rules.prediction {
            facts.p_alive = Some(
                *p_alive.get_or_insert_with(|| prediction.p_alive(&customer.transactions, at)),
            );
        }
        if rules.send_from.is_some_and(|from| at < from) {
            // History, in neither group: its window does not open (nor stays open).
            customer.uplift_open = customer.uplift_open.without(p.kind);
            out.push(Record::Suppressed {
                kind: p.kind,
                reason: Suppression::Backfill,
                at,
            });
            continue;
        }
        let group = rules
            .holdout
            .as_ref()
            .and_then(|h| h.group(&customer.id, p.kind));
        if group.is_some() {
            customer.uplift_open = customer.uplift_open.with(p.kind);
        }
        out.push(Record::Action(Action {
            record_type: RecordType::Action,
            action_id: action_id(&customer.id, p.kind, cause),
            kind: p.kind,
            category: p.kind.category(),
            customer_id: customer.id.clone(),
            stage: customer.stage,
            reason: p.reason,
            at: Rfc3339(at),
            cause_event_id: cause.event_id().map(Into::into),
            need_level: customer.need_level,
            explain: p.explain,
            facts,
            group,
            schema_version: SchemaVersion,
        }));
    }
}

/// The `churn_risk` action of the prediction's timer (SPEC 8), at `at`, its stamp.
pub fn risk_planned(customer: &Customer, at: Timestamp, rules: &Rules) -> Planned {
    let threshold = rules.prediction.map_or(0.0, |p| p.at_risk_below);
    Planned {
        kind: ActionKind::ChurnRisk,
        reason: ActionReason::ChurnRisk,
        explain: Explain::ChurnRisk {
            threshold,
            repeats: customer.transactions.repeats(),
            last: customer.transactions.latest().unwrap_or(at),
        },
        facts: Facts {
            repeat_purchases: Some(customer.transactions.repeats()),
            last_purchase_at: customer.transactions.latest().map(Rfc3339),
            at_risk_below: Some(threshold),
            ..Facts::default()
        },
    }
}

/// The stage-entry action planned for a net change, explained by the transition that ended it.
pub fn entry_planned(
    before: Option<Stage>,
    after: Stage,
    reason: Reason,
    why: Why,
    facts: &Facts,
) -> Planned {
    let kind = entry_action(before, after);
    Planned {
        kind,
        reason: ActionReason::Entered(reason),
        explain: Explain::Entered(after, why),
        facts: facts.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_action_follows_the_net_change() {
        use Stage::*;
        assert_eq!(entry_action(None, Prospect), ActionKind::NurtureLead);
        assert_eq!(entry_action(None, New), ActionKind::WelcomeOnboarding);
        assert_eq!(
            entry_action(Some(Prospect), New),
            ActionKind::WelcomeOnboarding
        );
        assert_eq!(entry_action(Some(New), Mature), ActionKind::LoyaltyReward);
        assert_eq!(
            entry_action(Some(Mature), Churning),
            ActionKind::RetentionOffer
        );
        assert_eq!(
            entry_action(Some(Churning), Churned),
            ActionKind::WinBackCampaign
        );
        assert_eq!(entry_action(Some(Churning), New), ActionKind::WelcomeBack);
        assert_eq!(entry_action(Some(Churned), Mature), ActionKind::WelcomeBack);
    }
}
