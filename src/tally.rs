//! Counting and logging what happened, in one place. Each notable thing an edge sees (an
//! event handled, an input rejected, a record written) goes through one function here,
//! which logs it and counts it in the edge's [`Tally`]: replay's summary
//! ([`Counts`]) or the service's Prometheus metrics (`Metrics`). So the replay summary and
//! the metrics cannot drift apart: they are two tallies fed by the same calls.

use std::collections::BTreeMap;
use std::fmt;

use crate::domain::holdout::Group;
use crate::domain::uplift::Uplift;
use crate::domain::{ActionKind, EventType, Outcome, Record, RejectReason, Rejection, Suppression};

/// Where an edge counts what happened.
pub trait Tally {
    /// An input event handled by the engine (or skipped by the edge), with its type.
    fn event(&mut self, event_type: Option<EventType>, outcome: Outcome);
    /// An input rejected.
    fn rejected(&mut self, reason: RejectReason);
    /// A record the engine wrote.
    fn record(&mut self, record: &Record);
}

/// An event handled, with its outcome.
pub fn event_handled(tally: &mut impl Tally, event_type: Option<EventType>, outcome: Outcome) {
    tally.event(event_type, outcome);
    tracing::trace!(
        event_type = event_type.map(EventType::as_str),
        outcome = outcome.as_str(),
        "event handled"
    );
}

/// An input rejected at `position` (a line number, a partition and offset).
pub fn input_rejected(tally: &mut impl Tally, rejection: &Rejection, position: impl fmt::Display) {
    tally.rejected(rejection.reason);
    tracing::debug!(%position, reason = %rejection.reason, detail = %rejection.detail, "input rejected");
}

/// A record the engine wrote (sent, or a suppression).
pub fn record_written(tally: &mut impl Tally, record: &Record) {
    tally.record(record);
}

/// Replay's tally, in arrays indexed by the enums' places in their `ALL` lists: a
/// `BTreeMap` entry per event and per record cost the engine thread a few percent.
#[derive(Debug, Default, Clone)]
pub struct Counts {
    pub outcomes: [u64; Outcome::ALL.len()],
    pub rejected: [u64; RejectReason::ALL.len()],
    pub actions: [u64; ActionKind::ALL.len()],
    pub suppressed: [u64; Suppression::ALL.len()],
    /// The same by week of the action's `at` ([`Timestamp::week`](crate::domain::Timestamp::week)), for the
    /// report.
    pub suppressed_weekly: BTreeMap<i64, [u64; Suppression::ALL.len()]>,
    pub transitions: u64,
    /// Holdout actions and conversions per kind and group (SPEC 10).
    pub uplift: Uplift,
}

impl Tally for Counts {
    fn event(&mut self, _: Option<EventType>, outcome: Outcome) {
        self.outcomes[outcome as usize] += 1;
    }

    fn rejected(&mut self, reason: RejectReason) {
        self.rejected[reason as usize] += 1;
    }

    fn record(&mut self, record: &Record) {
        match record {
            Record::Transition(_) => self.transitions += 1,
            Record::Action(a) => {
                if a.group != Some(Group::Control) {
                    self.actions[a.kind as usize] += 1;
                }
                self.uplift.record(record);
            }
            Record::Suppressed { reason, at, .. } => {
                self.suppressed[*reason as usize] += 1;
                self.suppressed_weekly
                    .entry(at.week())
                    .or_insert([0; Suppression::ALL.len()])[*reason as usize] += 1;
            }
            Record::Converted { .. } => self.uplift.record(record),
        }
    }
}

impl Tally for crate::metrics::Metrics {
    fn event(&mut self, event_type: Option<EventType>, outcome: Outcome) {
        crate::metrics::Metrics::event(self, event_type, outcome);
    }

    fn rejected(&mut self, reason: RejectReason) {
        crate::metrics::Metrics::rejected(self, reason);
    }

    fn record(&mut self, record: &Record) {
        crate::metrics::Metrics::record(self, record);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_counts_index_by_each_enums_place_in_its_all_list() {
        fn in_place<K: Copy>(all: &[K], index: fn(K) -> usize) -> bool {
            all.iter().enumerate().all(|(i, k)| index(*k) == i)
        }
        assert!(in_place(&Outcome::ALL, |k| k as usize));
        assert!(in_place(&RejectReason::ALL, |k| k as usize));
        assert!(in_place(&ActionKind::ALL, |k| k as usize));
        assert!(in_place(&Suppression::ALL, |k| k as usize));
    }

    #[test]
    fn each_count_lands_at_its_enums_place_in_its_all_list() {
        let mut counts = Counts::default();
        for (i, o) in Outcome::ALL.iter().enumerate() {
            for _ in 0..=i {
                event_handled(&mut counts, None, *o);
            }
        }
        for (i, r) in RejectReason::ALL.iter().enumerate() {
            for _ in 0..=i {
                input_rejected(&mut counts, &Rejection::new(*r, "x"), 1);
            }
        }
        let expected = |n: usize| (1..=n as u64).collect::<Vec<_>>();
        assert_eq!(counts.outcomes.to_vec(), expected(Outcome::ALL.len()));
        assert_eq!(counts.rejected.to_vec(), expected(RejectReason::ALL.len()));
    }
}
