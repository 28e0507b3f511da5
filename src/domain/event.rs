//! The typed, validated input event: what the engine sees once bytes have passed
//! [`decode`](fn@super::decode). Nothing past this point handles raw JSON.

use std::borrow::Cow;
use std::fmt;

use super::time::Timestamp;

/// The event types of SPEC section 1. Any other `type` is ignored, not rejected.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    LeadCreated,
    Engagement,
    Purchase,
    SubscriptionStarted,
    SubscriptionCancelled,
    Refund,
    SupportTicket,
    Complaint,
    Feedback,
    ConsentWithdrawn,
    ConsentGranted,
    CustomerErased,
}

impl EventType {
    pub const ALL: [EventType; 12] = [
        EventType::LeadCreated,
        EventType::Engagement,
        EventType::Purchase,
        EventType::SubscriptionStarted,
        EventType::SubscriptionCancelled,
        EventType::Refund,
        EventType::SupportTicket,
        EventType::Complaint,
        EventType::Feedback,
        EventType::ConsentWithdrawn,
        EventType::ConsentGranted,
        EventType::CustomerErased,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::LeadCreated => "lead_created",
            EventType::Engagement => "engagement",
            EventType::Purchase => "purchase",
            EventType::SubscriptionStarted => "subscription_started",
            EventType::SubscriptionCancelled => "subscription_cancelled",
            EventType::Refund => "refund",
            EventType::SupportTicket => "support_ticket",
            EventType::Complaint => "complaint",
            EventType::Feedback => "feedback",
            EventType::ConsentWithdrawn => "consent_withdrawn",
            EventType::ConsentGranted => "consent_granted",
            EventType::CustomerErased => "customer_erased",
        }
    }

    /// The type named `s` (one comparison after a jump on the length, where a scan of
    /// [`ALL`](Self::ALL) compared up to twelve names).
    pub fn parse(s: &str) -> Option<EventType> {
        Some(match s {
            "lead_created" => EventType::LeadCreated,
            "engagement" => EventType::Engagement,
            "purchase" => EventType::Purchase,
            "subscription_started" => EventType::SubscriptionStarted,
            "subscription_cancelled" => EventType::SubscriptionCancelled,
            "refund" => EventType::Refund,
            "support_ticket" => EventType::SupportTicket,
            "complaint" => EventType::Complaint,
            "feedback" => EventType::Feedback,
            "consent_withdrawn" => EventType::ConsentWithdrawn,
            "consent_granted" => EventType::ConsentGranted,
            "customer_erased" => EventType::CustomerErased,
            _ => return None,
        })
    }

    /// A bit for [`EventSet`].
    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of event types (the configurable activity, conversion and churn-signal sets).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EventSet(u16);

impl EventSet {
    pub fn of(types: &[EventType]) -> EventSet {
        EventSet(types.iter().fold(0, |acc, t| acc | t.bit()))
    }
    pub fn contains(self, t: EventType) -> bool {
        self.0 & t.bit() != 0
    }
}

/// The need hierarchy of the seeds, lowest first, so `max` is "highest served".
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    serde::Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum NeedLevel {
    Physiological = 1,
    Safety = 2,
    Social = 3,
    Esteem = 4,
    SelfActualization = 5,
}

impl NeedLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            NeedLevel::Physiological => "physiological",
            NeedLevel::Safety => "safety",
            NeedLevel::Social => "social",
            NeedLevel::Esteem => "esteem",
            NeedLevel::SelfActualization => "self_actualization",
        }
    }
    pub fn parse(s: &str) -> Option<NeedLevel> {
        [
            NeedLevel::Physiological,
            NeedLevel::Safety,
            NeedLevel::Social,
            NeedLevel::Esteem,
            NeedLevel::SelfActualization,
        ]
        .into_iter()
        .find(|l| l.as_str() == s)
    }
    pub fn from_u8(v: u8) -> Option<NeedLevel> {
        match v {
            1 => Some(NeedLevel::Physiological),
            2 => Some(NeedLevel::Safety),
            3 => Some(NeedLevel::Social),
            4 => Some(NeedLevel::Esteem),
            5 => Some(NeedLevel::SelfActualization),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Low,
    Normal,
    High,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Normal => "normal",
            Severity::High => "high",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One KANO questionnaire answer pair, each 1..=5.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KanoAnswer {
    pub functional: u8,
    pub dysfunctional: u8,
}

/// The type-specific facts the engine uses. Strings the engine never reads (currency, plan,
/// channel, ...) are validated by the decoder and not carried.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Payload {
    LeadCreated,
    Engagement,
    Purchase {
        amount: f64,
        need_level: Option<NeedLevel>,
    },
    SubscriptionStarted,
    SubscriptionCancelled,
    Refund {
        amount: f64,
    },
    SupportTicket {
        severity: Severity,
    },
    Complaint,
    Feedback {
        nps: Option<u8>,
        satisfaction: Option<u8>,
        kano: Option<KanoAnswer>,
    },
    ConsentWithdrawn,
    ConsentGranted,
    CustomerErased,
}

impl Payload {
    pub fn event_type(&self) -> EventType {
        match self {
            Payload::LeadCreated => EventType::LeadCreated,
            Payload::Engagement => EventType::Engagement,
            Payload::Purchase { .. } => EventType::Purchase,
            Payload::SubscriptionStarted => EventType::SubscriptionStarted,
            Payload::SubscriptionCancelled => EventType::SubscriptionCancelled,
            Payload::Refund { .. } => EventType::Refund,
            Payload::SupportTicket { .. } => EventType::SupportTicket,
            Payload::Complaint => EventType::Complaint,
            Payload::Feedback { .. } => EventType::Feedback,
            Payload::ConsentWithdrawn => EventType::ConsentWithdrawn,
            Payload::ConsentGranted => EventType::ConsentGranted,
            Payload::CustomerErased => EventType::CustomerErased,
        }
    }
}

/// A valid event. Strings borrow from the input line where the JSON had no escapes.
#[derive(Clone, Debug, PartialEq)]
pub struct Event<'a> {
    pub event_id: Cow<'a, str>,
    pub customer_id: Cow<'a, str>,
    pub occurred_at: Timestamp,
    /// `None`: a well-formed event of a type this processor does not know; it is ignored
    /// (counted) but still advances the event-time clock.
    pub payload: Option<Payload>,
    /// The `feature` of a `feedback` event (`None` for every other type). The engine never
    /// reads it; the voice-of-the-customer counts do ([`super::voc`]). Beside the payload,
    /// not in it, so that [`Payload`] stays `Copy`.
    pub feature: Option<Cow<'a, str>>,
}

impl Event<'_> {
    pub fn event_type(&self) -> Option<EventType> {
        self.payload.as_ref().map(Payload::event_type)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_type_parses_from_its_name_and_nothing_else_does() {
        for t in EventType::ALL {
            assert_eq!(EventType::parse(t.as_str()), Some(t));
            assert_eq!(EventType::parse(&t.as_str().to_uppercase()), None);
            assert_eq!(EventType::parse(&format!("{t} ")), None);
        }
        assert_eq!(EventType::parse(""), None);
    }
}
