//! The report's actions section (SPEC 12: actions by kind and by outcome per week): sent and
//! held-out actions from the records, the suppressed ones from replay's weekly counts (they
//! are counted, never written).

use std::collections::{BTreeMap, BTreeSet};

use super::collect::{Collected, week_label};
use super::{MAX_POINTS, charts, counts, named_bars, section};
use crate::domain::{ActionKind, Suppression};
use crate::replay::Summary;

/// The outcome of an action that was not suppressed: sent, or held out.
const SENT: &str = "sent";
const HELD_OUT: &str = "held out";

pub(super) fn actions_section(body: &mut String, c: &Collected, summary: &Summary) {
    let by_kind = c.actions_weekly();
    let weeks: BTreeSet<i64> = by_kind
        .keys()
        .chain(summary.suppressed_weekly.keys())
        .copied()
        .collect();
    // Every week from the first to the last, those without an action too.
    let weeks: Vec<i64> = match (weeks.first(), weeks.last()) {
        (Some(first), Some(last)) => (*first..=*last).collect(),
        _ => Vec::new(),
    };
    // Past MAX_POINTS weeks, consecutive weeks are summed into one point.
    let step = weeks.len().div_ceil(MAX_POINTS).max(1);
    let points = Points(weeks.chunks(step).collect());
    let x: Vec<String> = points.0.iter().map(|c| week_label(c[0])).collect();
    let kinds: BTreeSet<&String> = by_kind.values().flat_map(|m| m.keys()).collect();
    let kind_series: Vec<(String, Vec<f32>)> = kinds
        .iter()
        .map(|k| {
            let count = |w: i64| by_kind.get(&w).and_then(|m| m.get(*k)).copied();
            ((*k).clone(), points.sum(|w| count(w).unwrap_or(0)))
        })
        .collect();
    let outcome_series = outcome_series(&by_kind, summary, &points);
    let mut sent = counts(&ActionKind::ALL, ActionKind::as_str, &summary.actions);
    sent.retain(|(_, n)| *n > 0.0);
    let not_sent = counts(&Suppression::ALL, Suppression::as_str, &summary.suppressed);
    section(
        body,
        "actions",
        "Actions",
        "The actions sent per week by kind; every planned action per week by outcome (sent, held out for a control group, or suppressed with its reason); the total sent by kind, and the total not sent by reason.",
        &[
            charts::lines(
                "Actions per week, by kind",
                "actions sent (held-out ones apart)",
                x.clone(),
                kind_series,
            ),
            charts::lines(
                "Actions per week, by outcome",
                "planned actions by what became of them",
                x,
                outcome_series,
            ),
            named_bars(true, "Actions sent, by kind", "actions", sent, "sent"),
            named_bars(
                true,
                "Actions not sent, by reason",
                "actions",
                not_sent,
                "suppressed",
            ),
        ],
    );
}

/// The points of a chart over time: one run of consecutive weeks each.
struct Points<'w>(Vec<&'w [i64]>);

impl Points<'_> {
    /// Each point's sum of `count` over its weeks.
    fn sum(&self, count: impl Fn(i64) -> u64) -> Vec<f32> {
        self.0
            .iter()
            .map(|weeks| weeks.iter().map(|w| count(*w)).sum::<u64>() as f32)
            .collect()
    }
}

/// Per week: sent, held out, and each suppression reason that occurred at all.
fn outcome_series(
    by_kind: &BTreeMap<i64, BTreeMap<String, u64>>,
    summary: &Summary,
    points: &Points,
) -> Vec<(String, Vec<f32>)> {
    let recorded = |held_out: bool| {
        move |w: i64| -> u64 {
            by_kind.get(&w).map_or(0, |m| {
                m.iter()
                    .filter(|(k, _)| k.ends_with(" (held out)") == held_out)
                    .map(|(_, n)| n)
                    .sum()
            })
        }
    };
    let mut series = vec![(SENT.to_owned(), points.sum(recorded(false)))];
    let held_out = points.sum(recorded(true));
    if held_out.iter().any(|n| *n > 0.0) {
        series.push((HELD_OUT.to_owned(), held_out));
    }
    for reason in Suppression::ALL {
        if summary.suppressed.get(&reason).copied().unwrap_or(0) == 0 {
            continue;
        }
        let count = |w: i64| {
            summary
                .suppressed_weekly
                .get(&w)
                .map_or(0, |n| n[reason as usize])
        };
        series.push((reason.as_str().to_owned(), points.sum(count)));
    }
    series
}
