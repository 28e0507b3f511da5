//! Why a record happened, in words for people. Kept as its parts (small, `Copy`, no
//! allocation) and written out only when a record is encoded: the engine makes hundreds of
//! thousands of records a second, and replay encodes them on another thread.

use std::fmt;

use super::customer::Stage;
use super::event::EventType;
use super::time::Timestamp;

/// Why a transition happened.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Why {
    FirstSeen(EventType),
    FirstConversion(EventType),
    Reactivated {
        event_type: EventType,
        from: Stage,
        mature: bool,
    },
    MatureCriteria {
        purchases: u32,
        min_purchases: u32,
        days: i64,
        min_days: u32,
    },
    ChurnSignal(EventType),
    Inactivity {
        last: Timestamp,
        days: u32,
    },
    NoReactivation {
        since: Timestamp,
        days: u32,
    },
    Erased,
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Why::FirstSeen(t) => write!(f, "first event seen for this customer ({t})"),
            Why::FirstConversion(t) => write!(f, "first conversion ({t})"),
            Why::Reactivated {
                event_type,
                from,
                mature,
            } => write!(
                f,
                "a conversion ({event_type}) while {from}; the mature rule {}",
                if mature { "holds" } else { "does not hold" }
            ),
            Why::MatureCriteria {
                purchases,
                min_purchases,
                days,
                min_days,
            } => write!(
                f,
                "{purchases} purchases >= {min_purchases} and {days} days since the first conversion >= {min_days}"
            ),
            Why::ChurnSignal(t) => write!(f, "a churn signal ({t})"),
            Why::Inactivity { last, days } => {
                write!(f, "no activity since {last}: {days} days of inactivity")
            }
            Why::NoReactivation { since, days } => write!(
                f,
                "churning since {since} with no reactivation for {days} days"
            ),
            Why::Erased => {
                f.write_str("customer_erased: every fact about this customer was deleted")
            }
        }
    }
}

/// Why an action was planned.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Explain {
    /// A stage-entry action: the stage, and why the transition into it happened.
    Entered(Stage, Why),
    Complaint,
    HighSeverityTicket,
    Detractor(u8),
    Promoter(u8),
    MustBeUnsatisfied(u8),
    Milestone(u32),
}

impl fmt::Display for Explain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Explain::Entered(stage, why) => write!(f, "entered {stage}: {why}"),
            Explain::Complaint => f.write_str("the customer complained"),
            Explain::HighSeverityTicket => f.write_str("a support ticket of severity high"),
            Explain::Detractor(score) => write!(f, "NPS {score} <= 6: a detractor"),
            Explain::Promoter(score) => {
                write!(f, "NPS {score} >= 9 from a mature customer: a promoter")
            }
            Explain::MustBeUnsatisfied(sat) => write!(
                f,
                "a must-be feature (KANO) with satisfaction {sat} <= 2: a basic need unmet"
            ),
            Explain::Milestone(m) => write!(f, "purchase number {m} is a delight milestone"),
        }
    }
}

/// Both serialize as their text.
impl serde::Serialize for Why {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl serde::Serialize for Explain {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}
