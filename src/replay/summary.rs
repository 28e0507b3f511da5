//! What a replay run did: its [`Summary`], printed on stderr at the end.

use std::collections::BTreeMap;
use std::fmt;

use crate::domain::holdout::Group;
use crate::domain::uplift::Uplift;
use crate::domain::voc::{Voc, category, letter};
use crate::domain::{ActionKind, Category, Outcome, RejectReason, Stage, Suppression};
use crate::tally::Counts;

/// Counts of one run: events by outcome, records, customers by stage, the voice of the
/// customer.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub lines: u64,
    pub blank_lines: u64,
    pub outcomes: BTreeMap<Outcome, u64>,
    pub rejected: BTreeMap<RejectReason, u64>,
    pub transitions: u64,
    pub actions: BTreeMap<ActionKind, u64>,
    pub suppressed: BTreeMap<Suppression, u64>,
    /// Suppressed actions by week of their `at` ([`Timestamp::week`](crate::domain::Timestamp::week)),
    /// counted at the reasons' places in `Suppression::ALL`.
    pub suppressed_weekly: BTreeMap<i64, [u64; Suppression::ALL.len()]>,
    pub stages: BTreeMap<Stage, u64>,
    /// Valid events left out for occurring after `until` (`lifecycle fit`).
    pub after_until: u64,
    /// The feedback answers (SPEC 10); `Summary::default()` keeps no feature by name.
    pub voc: Voc,
    /// Holdout actions and conversions per kind and group (SPEC 10).
    pub uplift: Uplift,
}

impl Summary {
    /// An empty summary whose feedback answers are counted by `voc`.
    pub fn with_voc(voc: Voc) -> Summary {
        Summary {
            voc,
            ..Summary::default()
        }
    }

    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    pub fn events(&self) -> u64 {
        self.outcomes.values().sum::<u64>() + self.rejected_total()
    }

    pub fn outcome(&self, o: Outcome) -> u64 {
        self.outcomes.get(&o).copied().unwrap_or(0)
    }
}

impl Summary {
    /// Adds a run's [`Counts`] (only the keys that occurred, as `entry` would).
    pub fn add(&mut self, counts: &Counts) {
        fn fold<K: Copy + Ord>(map: &mut BTreeMap<K, u64>, keys: &[K], counts: &[u64]) {
            for (key, n) in keys.iter().zip(counts).filter(|(_, n)| **n > 0) {
                *map.entry(*key).or_default() += n;
            }
        }
        fold(&mut self.outcomes, &Outcome::ALL, &counts.outcomes);
        fold(&mut self.rejected, &RejectReason::ALL, &counts.rejected);
        fold(&mut self.actions, &ActionKind::ALL, &counts.actions);
        fold(&mut self.suppressed, &Suppression::ALL, &counts.suppressed);
        for (week, by_reason) in &counts.suppressed_weekly {
            let into = self
                .suppressed_weekly
                .entry(*week)
                .or_insert([0; Suppression::ALL.len()]);
            for (sum, n) in into.iter_mut().zip(by_reason) {
                *sum += n;
            }
        }
        self.transitions += counts.transitions;
        self.uplift.merge(&counts.uplift);
    }
}

fn list<K: Copy + Ord>(map: &BTreeMap<K, u64>, name: impl Fn(K) -> &'static str) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter()
        .map(|(k, v)| format!("{} {v}", name(*k)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sent: u64 = self.actions.values().sum();
        let suppressed: u64 = self.suppressed.values().sum();
        let customers: u64 = self.stages.values().sum();
        let mut by_category: BTreeMap<Category, u64> = BTreeMap::new();
        for (kind, n) in &self.actions {
            *by_category.entry(kind.category()).or_default() += n;
        }
        writeln!(f, "replay summary")?;
        writeln!(
            f,
            "  lines: {} ({} blank, skipped)",
            self.lines, self.blank_lines
        )?;
        writeln!(
            f,
            "  events: {} (applied {}, duplicate {}, ignored {}, nothing_to_erase {}, rejected {})",
            self.events(),
            self.outcome(Outcome::Applied),
            self.outcome(Outcome::Duplicate),
            self.outcome(Outcome::Ignored),
            self.outcome(Outcome::NothingToErase),
            self.rejected_total()
        )?;
        writeln!(
            f,
            "  rejected by reason: {}",
            list(&self.rejected, RejectReason::as_str)
        )?;
        writeln!(f, "  transitions: {}", self.transitions)?;
        writeln!(
            f,
            "  actions sent: {sent} ({})",
            list(&by_category, Category::as_str)
        )?;
        writeln!(
            f,
            "  actions by kind: {}",
            list(&self.actions, ActionKind::as_str)
        )?;
        writeln!(
            f,
            "  actions suppressed: {suppressed} ({})",
            list(&self.suppressed, Suppression::as_str)
        )?;
        let held_out: BTreeMap<ActionKind, u64> = ActionKind::ALL
            .into_iter()
            .map(|k| (k, self.uplift.get(k, Group::Control).actions))
            .filter(|(_, n)| *n > 0)
            .collect();
        writeln!(
            f,
            "  actions held out: {} ({})",
            held_out.values().sum::<u64>(),
            list(&held_out, ActionKind::as_str)
        )?;
        let stages: BTreeMap<Stage, u64> = Stage::ALL
            .iter()
            .map(|s| (*s, self.stages.get(s).copied().unwrap_or(0)))
            .collect();
        writeln!(
            f,
            "  customers: {customers} ({})",
            list(&stages, Stage::as_str)
        )?;
        write_voc(f, &self.voc)?;
        write_uplift(f, &self.uplift)
    }
}

/// The holdout experiments: per kind, each group's actions and conversions, and the uplift.
fn write_uplift(f: &mut fmt::Formatter<'_>, uplift: &Uplift) -> fmt::Result {
    let report = uplift.report();
    if report.is_empty() {
        return writeln!(f, "  uplift by kind: none");
    }
    writeln!(f, "  uplift by kind: {}", report.len())?;
    let rate = |r: Option<f64>| r.map_or("-".to_owned(), |r| format!("{:.1}%", 100.0 * r));
    for (kind, k) in &report {
        let uplift = k
            .uplift
            .map_or("-".to_owned(), |u| format!("{:+.1} points", 100.0 * u));
        writeln!(
            f,
            "    {kind}: treated {} actions, {} conversions ({}); control {} actions, {} conversions ({}); uplift {uplift}",
            k.treated.actions,
            k.treated.conversions,
            rate(k.treated.conversion_rate),
            k.control.actions,
            k.control.conversions,
            rate(k.control.conversion_rate),
        )?;
    }
    Ok(())
}

/// The voice-of-the-customer lines, after the others (which tests and scripts read).
fn write_voc(f: &mut fmt::Formatter<'_>, voc: &Voc) -> fmt::Result {
    let features = voc.features();
    let without = voc.kano_without_feature();
    let unnamed = if without > 0 {
        format!(" ({without} KANO answers without a feature)")
    } else {
        String::new()
    };
    writeln!(f, "  kano by feature: {}{unnamed}", features.len())?;
    for (name, t) in &features {
        let class = category(t).map_or("-", letter);
        writeln!(
            f,
            "    {name}: {class} (A {}, O {}, M {}, I {}, R {}, Q {})",
            t.attractive, t.one_dimensional, t.must_be, t.indifferent, t.reverse, t.questionable
        )?;
    }
    let by_stage: Vec<String> = Stage::ALL
        .iter()
        .map(|s| {
            let answers = voc.stage(*s);
            match answers.nps() {
                Some(nps) => format!("{s} {nps:.1} ({} answers)", answers.answers()),
                None => format!("{s} -"),
            }
        })
        .collect();
    writeln!(f, "  nps by stage: {}", by_stage.join(", "))
}
