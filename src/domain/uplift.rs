//! Uplift (SPEC 10, "Monitor"): a customer converts after K when a conversion event is
//! applied within `holdout.window_days` after the last sent or held-out K action. Each such
//! action opens a window ([`Customer::uplift_open`]); the first conversion in it is counted
//! once ([`Record::Converted`]) and closes it. Per kind and group the counts of actions and of
//! conversions are kept by the drivers ([`Uplift`]), so uplift = conversion rate treated -
//! conversion rate control.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::action::{ActionKind, Group};
use super::customer::Customer;
use super::holdout::Holdout;
use super::record::{Record, RecordSink};
use super::time::Timestamp;

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
#[serde(default)]
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

    /// Adds `counts` to `kind`'s `group` (counts restored from a changelog).
    pub fn add(&mut self, kind: ActionKind, group: Group, counts: GroupCounts) {
        let mine = &mut self.counts[kind as usize][group as usize];
        mine.actions += counts.actions;
        mine.conversions += counts.conversions;
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
mod tests {
    use super::*;

    #[test]
    fn uplift_is_the_treated_rate_less_the_control_rate() {
        let mut uplift = Uplift::default();
        let kind = ActionKind::RetentionOffer;
        uplift.counts[kind as usize][Group::Treated as usize] = GroupCounts {
            actions: 200,
            conversions: 50,
        };
        uplift.counts[kind as usize][Group::Control as usize] = GroupCounts {
            actions: 20,
            conversions: 3,
        };
        let report = uplift.report();
        let k = &report[&kind];
        assert_eq!(k.treated.conversion_rate, Some(0.25));
        assert_eq!(k.control.conversion_rate, Some(0.15));
        assert!((k.uplift.unwrap() - 0.10).abs() < 1e-12);
        assert_eq!(report.len(), 1, "kinds without actions are left out");
        let mut twice = uplift.clone();
        twice.merge(&uplift);
        assert_eq!(twice.get(kind, Group::Control).actions, 40);
    }
}
