//! Action kinds and their categories (SPEC section 3), why an action was planned, why one
//! was suppressed, and the deterministic action id.

use std::fmt;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::event::EventType;
use super::time::Timestamp;

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum ActionKind {
    NurtureLead,
    WelcomeOnboarding,
    LoyaltyReward,
    RetentionOffer,
    WinBackCampaign,
    WelcomeBack,
    ServiceRecovery,
    DetractorFollowUp,
    AdvocacyInvite,
    SurpriseDelight,
    /// P(alive) fell below `prediction.at_risk_below` (SPEC 8).
    ChurnRisk,
}

/// Which output topic an action goes to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Category {
    Care,
    Retention,
    Marketing,
}

impl Category {
    pub const ALL: [Category; 3] = [Category::Care, Category::Retention, Category::Marketing];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Care => "care",
            Category::Retention => "retention",
            Category::Marketing => "marketing",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ActionKind {
    pub const ALL: [ActionKind; 11] = [
        ActionKind::NurtureLead,
        ActionKind::WelcomeOnboarding,
        ActionKind::LoyaltyReward,
        ActionKind::RetentionOffer,
        ActionKind::WinBackCampaign,
        ActionKind::WelcomeBack,
        ActionKind::ServiceRecovery,
        ActionKind::DetractorFollowUp,
        ActionKind::AdvocacyInvite,
        ActionKind::SurpriseDelight,
        ActionKind::ChurnRisk,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ActionKind::NurtureLead => "nurture_lead",
            ActionKind::WelcomeOnboarding => "welcome_onboarding",
            ActionKind::LoyaltyReward => "loyalty_reward",
            ActionKind::RetentionOffer => "retention_offer",
            ActionKind::WinBackCampaign => "win_back_campaign",
            ActionKind::WelcomeBack => "welcome_back",
            ActionKind::ServiceRecovery => "service_recovery",
            ActionKind::DetractorFollowUp => "detractor_follow_up",
            ActionKind::AdvocacyInvite => "advocacy_invite",
            ActionKind::SurpriseDelight => "surprise_delight",
            ActionKind::ChurnRisk => "churn_risk",
        }
    }

    pub fn category(self) -> Category {
        match self {
            ActionKind::NurtureLead | ActionKind::AdvocacyInvite => Category::Marketing,
            ActionKind::RetentionOffer | ActionKind::WinBackCampaign | ActionKind::ChurnRisk => {
                Category::Retention
            }
            ActionKind::WelcomeOnboarding
            | ActionKind::LoyaltyReward
            | ActionKind::WelcomeBack
            | ActionKind::ServiceRecovery
            | ActionKind::DetractorFollowUp
            | ActionKind::SurpriseDelight => Category::Care,
        }
    }

    /// Sent even to a customer who withdrew consent: a service obligation, not marketing.
    pub fn ignores_consent(self) -> bool {
        self == ActionKind::ServiceRecovery
    }

    /// Whether the frequency cap counts (and can suppress) this kind: all but
    /// `service_recovery` (SPEC 3).
    pub fn counts_for_frequency_cap(self) -> bool {
        self != ActionKind::ServiceRecovery
    }
}

impl fmt::Display for ActionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a planned action was not sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Suppression {
    /// The same kind was sent to this customer less than `cooldown_days` before.
    Cooldown,
    /// The customer withdrew consent.
    NoConsent,
    /// The customer was sent `actions.max_sent` actions within `actions.per_days` days.
    FrequencyCap,
    /// Dated before `actions.send_from`: planned and counted as sent, but not sent.
    Backfill,
}

impl Suppression {
    pub const ALL: [Suppression; 4] = [
        Suppression::Cooldown,
        Suppression::NoConsent,
        Suppression::FrequencyCap,
        Suppression::Backfill,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Suppression::Cooldown => "cooldown",
            Suppression::NoConsent => "no_consent",
            Suppression::FrequencyCap => "frequency_cap",
            Suppression::Backfill => "backfill",
        }
    }
}

/// The kinds of timer: each stage arms at most one stage timer, and `new`/`mature` also the
/// prediction's `churn_risk`; a customer's earliest one is armed (a stage timer first on a
/// tie).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    /// `new`/`mature` with no activity for `inactivity_days`.
    Inactivity,
    /// `churning` for `churned_after_days` without reactivation.
    NoReactivation,
    /// P(alive) falls below `prediction.at_risk_below` (SPEC 8); moves no stage.
    ChurnRisk,
}

impl TimerKind {
    pub const ALL: [TimerKind; 3] = [
        TimerKind::Inactivity,
        TimerKind::NoReactivation,
        TimerKind::ChurnRisk,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TimerKind::Inactivity => "inactivity",
            TimerKind::NoReactivation => "no_reactivation",
            TimerKind::ChurnRisk => "churn_risk",
        }
    }
}

impl fmt::Display for TimerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What caused an input: an applied event, or a timer firing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause<'a> {
    /// An event: its id and its `occurred_at` (a source may re-use an event id later, after
    /// the 16 remembered ones or an erasure; the time keeps their action ids apart).
    Event {
        id: &'a str,
        at: Timestamp,
    },
    Timer {
        kind: TimerKind,
        stamp: Timestamp,
    },
}

impl Cause<'_> {
    pub fn event_id(&self) -> Option<&str> {
        match self {
            Cause::Event { id, .. } => Some(id),
            Cause::Timer { .. } => None,
        }
    }
}

/// The namespace of action ids (a fixed random UUID: never change it, consumers dedupe on ids).
const ACTION_NAMESPACE: Uuid = Uuid::from_u128(0x6c1f_8e2a_43b5_4d0e_9a61_5f27_c3d8_b104);

/// The deterministic action id: UUIDv5 over `customer_id`, kind and cause, separated by
/// U+001F (which a customer id cannot contain). The cause is `event:<event_id>` U+001F
/// `<occurred_at, RFC 3339 UTC>`, or `timer:<timer kind>:<stamp, RFC 3339 UTC>`.
pub fn action_id(customer_id: &str, kind: ActionKind, cause: &Cause) -> Uuid {
    let mut stamp = [0u8; 32];
    let head = [
        customer_id.as_bytes(),
        b"\x1f",
        kind.as_str().as_bytes(),
        b"\x1f",
    ];
    let name_parts: &[&[u8]] = &match cause {
        Cause::Event { id, at } => {
            let len = at.write_rfc3339(&mut stamp);
            [
                head[0],
                head[1],
                head[2],
                head[3],
                b"event:",
                id.as_bytes(),
                b"\x1f",
                &stamp[..len],
            ]
        }
        Cause::Timer { kind: t, stamp: at } => {
            let len = at.write_rfc3339(&mut stamp);
            let t = t.as_str().as_bytes();
            [
                head[0],
                head[1],
                head[2],
                head[3],
                b"timer:",
                t,
                b":",
                &stamp[..len],
            ]
        }
    };
    // UUIDv5 by hand (what `Uuid::new_v5` computes, a test checks it): SHA-1 over the
    // namespace and the name, with the `sha1` crate, which uses the CPU's SHA instructions
    // where there are any. The usual name is gathered on the stack and hashed in one call:
    // feeding the eight parts one by one cost more than the hashing itself.
    use sha1::{Digest, Sha1};
    let mut gathered = [0u8; 256];
    let len = 16 + name_parts.iter().map(|p| p.len()).sum::<usize>();
    let digest = if len <= gathered.len() {
        gathered[..16].copy_from_slice(ACTION_NAMESPACE.as_bytes());
        let mut at = 16;
        for part in name_parts {
            gathered[at..at + part.len()].copy_from_slice(part);
            at += part.len();
        }
        Sha1::digest(&gathered[..len])
    } else {
        let mut hasher = Sha1::new();
        hasher.update(ACTION_NAMESPACE.as_bytes());
        for part in name_parts {
            hasher.update(part);
        }
        hasher.finalize()
    };
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes).into_uuid()
}

/// Why a transition happened (the `reason` field of a transition record).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    FirstSeen,
    FirstConversion,
    Reactivated,
    MatureCriteria,
    ChurnSignal(EventType),
    Inactivity,
    NoReactivation,
    Erased,
}

impl Reason {
    /// Every value of [`Reason::family`], in the order of [`Reason::family_index`].
    pub const FAMILIES: [&'static str; 8] = [
        "first_seen",
        "first_conversion",
        "reactivated",
        "mature_criteria",
        "churn_signal",
        "inactivity",
        "no_reactivation",
        "erased",
    ];

    /// The reason without its detail (`churn_signal` for `churn_signal:<type>`): a closed
    /// set, for metric labels.
    pub fn family(&self) -> &'static str {
        Self::FAMILIES[self.family_index()]
    }

    /// The position of [`Reason::family`] in [`Reason::FAMILIES`].
    pub fn family_index(&self) -> usize {
        match self {
            Reason::FirstSeen => 0,
            Reason::FirstConversion => 1,
            Reason::Reactivated => 2,
            Reason::MatureCriteria => 3,
            Reason::ChurnSignal(_) => 4,
            Reason::Inactivity => 5,
            Reason::NoReactivation => 6,
            Reason::Erased => 7,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reason::FirstSeen => f.write_str("first_seen"),
            Reason::FirstConversion => f.write_str("first_conversion"),
            Reason::Reactivated => f.write_str("reactivated"),
            Reason::MatureCriteria => f.write_str("mature_criteria"),
            Reason::ChurnSignal(t) => write!(f, "churn_signal:{t}"),
            Reason::Inactivity => f.write_str("inactivity"),
            Reason::NoReactivation => f.write_str("no_reactivation"),
            Reason::Erased => f.write_str("erased"),
        }
    }
}

/// Why an action was planned (the `reason` field of an action record).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActionReason {
    /// A stage-entry action: the reason of the transition that entered the stage.
    Entered(Reason),
    Complaint,
    HighSeverityTicket,
    Detractor,
    Promoter,
    MustBeUnsatisfied,
    Milestone,
    /// P(alive) fell below the threshold (the `churn_risk` timer).
    ChurnRisk,
}

impl fmt::Display for ActionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ActionReason::Entered(r) => r.fmt(f),
            ActionReason::Complaint => f.write_str("complaint"),
            ActionReason::HighSeverityTicket => f.write_str("high_severity_ticket"),
            ActionReason::Detractor => f.write_str("nps_detractor"),
            ActionReason::Promoter => f.write_str("nps_promoter"),
            ActionReason::MustBeUnsatisfied => f.write_str("kano_must_be_unsatisfied"),
            ActionReason::Milestone => f.write_str("purchase_milestone"),
            ActionReason::ChurnRisk => f.write_str("churn_risk"),
        }
    }
}

/// Which side of an experiment an action is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Group {
    /// Sent.
    Treated,
    /// Held out: recorded, not sent.
    Control,
}

impl Group {
    pub const ALL: [Group; 2] = [Group::Treated, Group::Control];

    pub fn as_str(self) -> &'static str {
        match self {
            Group::Treated => "treated",
            Group::Control => "control",
        }
    }
}

/// A set of action kinds, one bit per kind at its place in [`ActionKind::ALL`] (state
/// records store it by kind codes, `customer_bytes`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct KindSet(u16);

impl KindSet {
    pub const EMPTY: KindSet = KindSet(0);

    pub fn contains(self, kind: ActionKind) -> bool {
        self.0 & bit(kind) != 0
    }

    pub fn with(self, kind: ActionKind) -> KindSet {
        KindSet(self.0 | bit(kind))
    }

    pub fn without(self, kind: ActionKind) -> KindSet {
        KindSet(self.0 & !bit(kind))
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn iter(self) -> impl Iterator<Item = ActionKind> {
        ActionKind::ALL
            .into_iter()
            .filter(move |k| self.contains(*k))
    }
}

fn bit(kind: ActionKind) -> u16 {
    const { assert!(ActionKind::ALL.len() <= 16) };
    1 << (kind as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn action_ids_are_the_uuid_v5_of_the_whole_name() {
        let customer = "c".repeat(300);
        let at = Timestamp::parse_rfc3339("2025-03-01T09:30:00Z").unwrap();
        let id = action_id(&customer, ActionKind::NurtureLead, &event("e-1", at));
        let name = format!("{customer}\u{1f}nurture_lead\u{1f}event:e-1\u{1f}2025-03-01T09:30:00Z");
        assert_eq!(id, Uuid::new_v5(&ACTION_NAMESPACE, name.as_bytes()));
        let short = action_id("c-1", ActionKind::NurtureLead, &event("e-1", at));
        let name = "c-1\u{1f}nurture_lead\u{1f}event:e-1\u{1f}2025-03-01T09:30:00Z";
        assert_eq!(short, Uuid::new_v5(&ACTION_NAMESPACE, name.as_bytes()));
        let stamp = Timestamp::parse_rfc3339("2025-03-02T10:00:00.5Z").unwrap();
        let timer = Cause::Timer {
            kind: TimerKind::Inactivity,
            stamp,
        };
        let name = "c-1\u{1f}retention_offer\u{1f}timer:inactivity:2025-03-02T10:00:00.5Z";
        assert_eq!(
            action_id("c-1", ActionKind::RetentionOffer, &timer),
            Uuid::new_v5(&ACTION_NAMESPACE, name.as_bytes())
        );
    }

    fn event(id: &str, at: Timestamp) -> Cause<'_> {
        Cause::Event { id, at }
    }

    #[test]
    fn action_ids_are_deterministic_and_distinct_per_cause() {
        let at = Timestamp::parse_rfc3339("2025-03-01T09:30:00Z").unwrap();
        let a = action_id("c-1", ActionKind::WelcomeOnboarding, &event("e-1", at));
        assert_eq!(
            a,
            action_id("c-1", ActionKind::WelcomeOnboarding, &event("e-1", at))
        );
        assert_eq!(a.get_version_num(), 5);
        assert_ne!(
            a,
            action_id("c-1", ActionKind::WelcomeOnboarding, &event("e-2", at))
        );
        assert_ne!(
            a,
            action_id("c-2", ActionKind::WelcomeOnboarding, &event("e-1", at))
        );
        assert_ne!(
            a,
            action_id("c-1", ActionKind::LoyaltyReward, &event("e-1", at))
        );
        // The same event id re-used by the source at another time: another action.
        let later = Timestamp::parse_rfc3339("2025-09-01T09:30:00Z").unwrap();
        assert_ne!(
            a,
            action_id("c-1", ActionKind::WelcomeOnboarding, &event("e-1", later))
        );
    }
}
