//! Why a record happened, in words for people. Kept as its parts (small, `Copy`, no
//! allocation) and written out only when a record is encoded: the engine makes hundreds of
//! thousands of records a second, and replay encodes them on another thread.

use std::fmt;

use super::customer::{Entered, Stage};
use super::event::EventType;
use super::time::{Span, Timestamp};

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

impl Why {
    /// What a customer's state keeps of this transition once it has entered its stage
    /// ([`Entered`]); `None` for `Erased`, after which there is no state.
    pub fn entered(&self) -> Option<Entered> {
        Some(match *self {
            Why::FirstSeen(t) => Entered::FirstSeen(t),
            Why::FirstConversion(t) => Entered::FirstConversion(t),
            Why::Reactivated {
                event_type, from, ..
            } => Entered::Reactivated { event_type, from },
            Why::MatureCriteria {
                purchases,
                min_purchases,
                days,
                min_days,
            } => Entered::MatureCriteria {
                purchases,
                min_purchases,
                // At least `min_days` when the rule held, and at most ~213,000 (the clock's range).
                days: u32::try_from(days.max(0)).unwrap_or(u32::MAX),
                min_days,
            },
            Why::ChurnSignal(t) => Entered::ChurnSignal(t),
            Why::Inactivity { days, .. } => Entered::Inactivity { days },
            Why::NoReactivation { days, .. } => Entered::NoReactivation { days },
            Why::Erased => return None,
        })
    }

    /// The explanation of the transition that entered `stage` at `entered_at`, from what the
    /// state kept of it: the same as its transition record's (a timer's stamp is its
    /// `stage_entered_at`, so the last activity, or the start of `churning`, is that less the
    /// days; unless the stamp was cut at the clock's end, year 2262).
    pub fn of_entered(entered: Entered, stage: Stage, entered_at: Timestamp) -> Why {
        match entered {
            Entered::FirstSeen(t) => Why::FirstSeen(t),
            Entered::FirstConversion(t) => Why::FirstConversion(t),
            Entered::Reactivated { event_type, from } => Why::Reactivated {
                event_type,
                from,
                mature: stage == Stage::Mature,
            },
            Entered::MatureCriteria {
                purchases,
                min_purchases,
                days,
                min_days,
            } => Why::MatureCriteria {
                purchases,
                min_purchases,
                days: i64::from(days),
                min_days,
            },
            Entered::ChurnSignal(t) => Why::ChurnSignal(t),
            Entered::Inactivity { days } => Why::Inactivity {
                last: entered_at.minus(Span::from_days(days)),
                days,
            },
            Entered::NoReactivation { days } => Why::NoReactivation {
                since: entered_at.minus(Span::from_days(days)),
                days,
            },
        }
    }

    /// The sentence, appended to `out` (the encoder's path: no formatting machinery).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut w = Text(out);
        match *self {
            Why::FirstSeen(t) => w
                .s("first event seen for this customer (")
                .s(t.as_str())
                .s(")"),
            Why::FirstConversion(t) => w.s("first conversion (").s(t.as_str()).s(")"),
            Why::Reactivated {
                event_type,
                from,
                mature,
            } => w
                .s("a conversion (")
                .s(event_type.as_str())
                .s(") while ")
                .s(from.as_str())
                .s("; the mature rule ")
                .s(if mature { "holds" } else { "does not hold" }),
            Why::MatureCriteria {
                purchases,
                min_purchases,
                days,
                min_days,
            } => w
                .n(purchases)
                .s(" purchases >= ")
                .n(min_purchases)
                .s(" and ")
                .n(days)
                .s(" days since the first conversion >= ")
                .n(min_days),
            Why::ChurnSignal(t) => w.s("a churn signal (").s(t.as_str()).s(")"),
            Why::Inactivity { last, days } => w
                .s("no activity since ")
                .t(last)
                .s(": ")
                .n(days)
                .s(" days of inactivity"),
            Why::NoReactivation { since, days } => w
                .s("churning since ")
                .t(since)
                .s(" with no reactivation for ")
                .n(days)
                .s(" days"),
            Why::Erased => w.s("customer_erased: every fact about this customer was deleted"),
        };
    }
}

/// Appends text to a byte buffer, piece by piece.
struct Text<'a>(&'a mut Vec<u8>);

impl Text<'_> {
    fn s(&mut self, s: &str) -> &mut Self {
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    fn n(&mut self, n: impl itoa::Integer) -> &mut Self {
        self.0
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
        self
    }
    fn t(&mut self, t: Timestamp) -> &mut Self {
        let mut buf = [0u8; 32];
        let len = t.write_rfc3339(&mut buf);
        self.0.extend_from_slice(&buf[..len]);
        self
    }
}

/// Text for `Display`, from the byte writer (which writes only valid UTF-8).
fn display(f: &mut fmt::Formatter<'_>, write: impl FnOnce(&mut Vec<u8>)) -> fmt::Result {
    let mut buf = Vec::with_capacity(128);
    write(&mut buf);
    f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
}

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display(f, |buf| self.write_to(buf))
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
    /// P(alive) fell below `threshold` after `repeats` repeat purchases, the latest at `last`.
    ChurnRisk {
        threshold: f64,
        repeats: u32,
        last: Timestamp,
    },
}

impl Explain {
    /// The sentence, appended to `out` (the encoder's path: no formatting machinery).
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let mut w = Text(out);
        match *self {
            Explain::Entered(stage, why) => {
                w.s("entered ").s(stage.as_str()).s(": ");
                why.write_to(out);
            }
            Explain::Complaint => {
                w.s("the customer complained");
            }
            Explain::HighSeverityTicket => {
                w.s("a support ticket of severity high");
            }
            Explain::Detractor(score) => {
                w.s("NPS ").n(score).s(" <= 6: a detractor");
            }
            Explain::Promoter(score) => {
                w.s("NPS ")
                    .n(score)
                    .s(" >= 9 from a mature customer: a promoter");
            }
            Explain::MustBeUnsatisfied(sat) => {
                w.s("a must-be feature (KANO) with satisfaction ")
                    .n(sat)
                    .s(" <= 2: a basic need unmet");
            }
            Explain::Milestone(m) => {
                w.s("purchase number ").n(m).s(" is a delight milestone");
            }
            Explain::ChurnRisk {
                threshold,
                repeats,
                last,
            } => {
                w.s("the probability that this customer is still active fell below ")
                    .s(&threshold.to_string())
                    .s(": no purchase since ")
                    .t(last)
                    .s(" after ")
                    .n(repeats)
                    .s(" repeat purchases");
            }
        }
    }
}

impl fmt::Display for Explain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        display(f, |buf| self.write_to(buf))
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
