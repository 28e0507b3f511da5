//! Holdout groups and uplift (SPEC 10, "Monitor"): which customers are in the control group
//! of an action kind, and the counts that say whether sending that kind changes anything.
//!
//! A customer is in the control group of kind K when the first 8 bytes of SHA-256 of
//! `salt` + "\n" + customer id + "\n" + K, read as a big-endian u64, modulo 10000 are below
//! `percent` * 100: the same customers on every run, in replay and in the service, on any
//! instance, with nothing stored. A control-group action is planned as usual but recorded
//! with `"held_out": true` instead of being sent (`planner::emit`).
//!
//! Uplift: a customer converts after K when a conversion event is applied within
//! `window_days` after the last sent or held-out K action. Each such action opens a window
//! ([`Customer::uplift_open`](super::customer::Customer)); the first conversion in it is
//! counted once ([`Record::Converted`]) and closes it. Per kind and group the counts of
//! actions and of conversions are kept by the drivers ([`Uplift`]), so uplift = conversion
//! rate treated - conversion rate control.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::action::ActionKind;
use super::customer::Customer;
use super::record::{Record, RecordSink};
use super::time::{Span, Timestamp};

/// The `[holdout]` table.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HoldoutConfig {
    /// The control group's share of each kind's customers, in (0, 50] with at most two
    /// decimals; 0 turns holdouts off.
    pub percent: f64,
    /// The action kinds with a control group.
    pub kinds: Vec<String>,
    /// Mixed into the bucketing: a new salt draws new groups.
    pub salt: String,
    /// How long after an action a conversion counts for it, in days.
    pub window_days: u32,
}

/// The longest conversion window (ten years, like the other day counts).
const MAX_WINDOW_DAYS: u32 = 3650;

impl HoldoutConfig {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let p = self.percent;
        let hundredths = p * 100.0;
        if !(p == 0.0 || (p > 0.0 && p <= 50.0)) {
            problems.push(format!(
                "holdout.percent: must be 0 (off) or in (0, 50], it is {p}"
            ));
        } else if (hundredths - hundredths.round()).abs() > 1e-6 {
            problems.push(format!(
                "holdout.percent: at most two decimals (the buckets are hundredths of a percent), it is {p}"
            ));
        }
        for name in &self.kinds {
            if kind_named(name).is_none() {
                problems.push(format!("holdout.kinds: `{name}` is not an action kind"));
            }
        }
        if !(1..=MAX_WINDOW_DAYS).contains(&self.window_days) {
            problems.push(format!(
                "holdout.window_days: must be 1..={MAX_WINDOW_DAYS}, it is {}",
                self.window_days
            ));
        }
        problems
    }

    /// The engine's holdout, `None` when off (`percent` 0). The config is valid.
    pub fn holdout(&self) -> Option<Holdout> {
        let basis_points = (self.percent * 100.0).round() as u32;
        (basis_points > 0).then(|| Holdout {
            basis_points,
            kinds: self
                .kinds
                .iter()
                .filter_map(|n| kind_named(n))
                .fold(KindSet::EMPTY, KindSet::with),
            salt: self.salt.as_str().into(),
            window_days: self.window_days,
        })
    }
}

fn kind_named(name: &str) -> Option<ActionKind> {
    ActionKind::ALL.into_iter().find(|k| k.as_str() == name)
}

/// Holdouts as the engine applies them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holdout {
    /// The control share in hundredths of a percent: a bucket below it is control.
    pub basis_points: u32,
    pub kinds: KindSet,
    pub salt: Box<str>,
    pub window_days: u32,
}

impl Holdout {
    /// The group of `customer_id` for `kind`; `None` when `kind` has no control group.
    pub fn group(&self, customer_id: &str, kind: ActionKind) -> Option<Group> {
        if !self.kinds.contains(kind) {
            return None;
        }
        Some(
            match bucket(&self.salt, customer_id, kind) < u64::from(self.basis_points) {
                true => Group::Control,
                false => Group::Treated,
            },
        )
    }

    pub fn window(&self) -> Span {
        Span::from_days(self.window_days)
    }
}

/// SPEC 10's bucket, 0..10000: SHA-256 of salt, id and kind, one line each, its first 8
/// bytes big-endian, modulo 10000.
pub fn bucket(salt: &str, customer_id: &str, kind: ActionKind) -> u64 {
    let mut hash = Sha256::new();
    hash.update(salt.as_bytes());
    hash.update(b"\n");
    hash.update(customer_id.as_bytes());
    hash.update(b"\n");
    hash.update(kind.as_str().as_bytes());
    let digest = hash.finalize();
    let first: [u8; 8] = digest[..8].try_into().expect("SHA-256 has 32 bytes");
    u64::from_be_bytes(first) % 10_000
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

/// A conversion event applied at `at` (SPEC 10): closes each open window of `customer`,
/// writing a [`Record::Converted`] for those it falls in. Before the input's own actions, so
/// that a conversion is never credited to the action it causes.
pub fn on_conversion(
    customer: &mut Customer,
    at: Timestamp,
    holdout: &Holdout,
    out: &mut dyn RecordSink,
) {
    for kind in customer.uplift_open.iter() {
        let Some(last) = customer.last_sent.get(kind) else {
            customer.uplift_open = customer.uplift_open.without(kind);
            continue;
        };
        if at < last {
            // A late event from before the action: not a conversion after it.
            continue;
        }
        customer.uplift_open = customer.uplift_open.without(kind);
        if at <= last.plus(holdout.window())
            && let Some(group) = holdout.group(&customer.id, kind)
        {
            out.push(Record::Converted { kind, group });
        }
    }
}

/// Actions and conversions of one group of one kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupCounts {
    pub actions: u64,
    pub conversions: u64,
}

impl GroupCounts {
    /// Conversions per action; `None` without actions.
    pub fn conversion_rate(&self) -> Option<f64> {
        (self.actions > 0).then(|| self.conversions as f64 / self.actions as f64)
    }
}

/// The uplift counts of every kind and group, fed with the engine's records.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Uplift {
    counts: [[GroupCounts; 2]; ActionKind::ALL.len()],
}

impl Uplift {
    /// Counts a held-out or treated action, or a conversion; other records count nothing.
    pub fn record(&mut self, record: &Record) {
        match record {
            Record::Action(a) => {
                if let Some(group) = a.group {
                    self.counts[a.kind as usize][group as usize].actions += 1;
                }
            }
            Record::Converted { kind, group } => {
                self.counts[*kind as usize][*group as usize].conversions += 1;
            }
            Record::Transition(_) | Record::Suppressed { .. } => {}
        }
    }

    pub fn get(&self, kind: ActionKind, group: Group) -> GroupCounts {
        self.counts[kind as usize][group as usize]
    }

    /// Adds `other`'s counts (e.g. another partition's).
    pub fn merge(&mut self, other: &Uplift) {
        for (mine, theirs) in self.counts.iter_mut().zip(&other.counts) {
            for (m, t) in mine.iter_mut().zip(theirs) {
                m.actions += t.actions;
                m.conversions += t.conversions;
            }
        }
    }

    /// Per kind with any action in either group: both groups and the uplift.
    pub fn report(&self) -> BTreeMap<ActionKind, KindUplift> {
        ActionKind::ALL
            .into_iter()
            .filter_map(|kind| {
                let treated = self.get(kind, Group::Treated);
                let control = self.get(kind, Group::Control);
                (treated.actions + control.actions > 0).then(|| {
                    let uplift = treated
                        .conversion_rate()
                        .zip(control.conversion_rate())
                        .map(|(t, c)| t - c);
                    (
                        kind,
                        KindUplift {
                            treated: GroupReport::of(treated),
                            control: GroupReport::of(control),
                            uplift,
                        },
                    )
                })
            })
            .collect()
    }
}

/// One kind's experiment: its two groups, and the treated rate minus the control rate
/// (`None` until both groups have actions).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct KindUplift {
    pub treated: GroupReport,
    pub control: GroupReport,
    pub uplift: Option<f64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct GroupReport {
    pub actions: u64,
    pub conversions: u64,
    pub conversion_rate: Option<f64>,
}

impl GroupReport {
    fn of(counts: GroupCounts) -> GroupReport {
        GroupReport {
            actions: counts.actions,
            conversions: counts.conversions,
            conversion_rate: counts.conversion_rate(),
        }
    }
}

#[cfg(test)]
#[path = "holdout_tests.rs"]
mod tests;
