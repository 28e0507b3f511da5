//! `lifecycle report` (SPEC 12): one self-contained HTML file (inline SVG and CSS, no script,
//! no request) with the charts of SPEC 12, from one replay of the input: the records are
//! read as they are written (`collect`), the summary and the final state give the rest.

mod actions;
mod charts;
mod collect;

use std::fmt::Write as _;
use std::io::IsTerminal;

use anyhow::{Context, Result};

use crate::config::Config;
use crate::domain::{Outcome, RejectReason, Stage, Timestamp};
use crate::record_lines::LineSink;
use crate::replay::{ReplayOptions, Summary, replay_to_state};
use actions::actions_section;
use collect::{Collected, month_label, week_label};

/// The most points a chart over time draws (weeks are merged past it).
const MAX_POINTS: usize = 60;

/// The report of `input` under `config` (and, with `against`, the what-if section).
pub fn report_file(
    input: &str,
    config: &Config,
    as_of: Option<Timestamp>,
    against: Option<(&Config, &str)>,
) -> Result<String> {
    // The what-if reads the input again: standard input is kept in a temporary file.
    let (input, _temp) = match against {
        Some(_) => crate::diff_command::input_file(input)?,
        None => (input.to_owned(), None),
    };
    let input = input.as_str();
    let mut reader = crate::app::open_input(input)?;
    let options = ReplayOptions {
        rules: config.rules(),
        as_of,
        now: Timestamp::now(),
        progress: std::io::stderr().is_terminal(),
        until: None,
        voc_max_features: config.voc.max_features,
    };
    let mut collected = Collected::default();
    let mut sink = LineSink::new(|line: &[u8]| collected.line(line));
    let (summary, engine) = replay_to_state(&mut reader, &mut sink, None, &options)
        .with_context(|| format!("cannot replay {input}"))?;
    drop(sink);
    // The charts over time run to the end of the input (or --as-of), not to its last record.
    collected.finish(engine.clock());
    let p_alive = engine.rules().prediction.map(|prediction| {
        let at = engine.clock().unwrap_or(Timestamp::now());
        let mut buckets = [[0u64; 10]; 5];
        for c in engine.customers() {
            if matches!(c.stage, Stage::New | Stage::Mature) || c.transactions.has_transaction() {
                let p = prediction.p_alive(&c.transactions, at);
                let b = ((p * 10.0) as usize).min(9);
                buckets[c.stage as usize][b] += 1;
            }
        }
        buckets
    });
    let what_if = match against {
        Some((b, name)) => Some((
            crate::diff_command::diff_file(input, config, b, as_of)?,
            name.to_owned(),
        )),
        None => None,
    };
    let holdouts_on = engine.rules().holdout.is_some();
    Ok(page(
        input,
        &summary,
        &collected,
        (p_alive, holdouts_on),
        what_if,
    ))
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn section(out: &mut String, id: &str, title: &str, text: &str, figures: &[String]) {
    let _ = write!(
        out,
        "<section id=\"{id}\"><h2>{}</h2><p>{}</p>",
        escape(title),
        escape(text)
    );
    for f in figures {
        let _ = write!(out, "<figure>{f}</figure>");
    }
    out.push_str("</section>\n");
}

fn page(
    input: &str,
    summary: &Summary,
    c: &Collected,
    (p_alive, holdouts_on): (Option<[[u64; 10]; 5]>, bool),
    what_if: Option<(crate::diff_command::DiffReport, String)>,
) -> String {
    let mut body = String::new();
    let customers: u64 = summary.stages.values().sum();
    let _ = writeln!(
        body,
        "<header><h1>Customer lifecycle report</h1><p>{} &middot; {} events, {} customers</p></header>",
        escape(input),
        summary.events(),
        customers
    );
    // Events and rejects.
    let outcomes: Vec<(String, f32)> = Outcome::ALL
        .iter()
        .map(|o| (o.as_str().to_owned(), summary.outcome(*o) as f32))
        .chain([("rejected".to_owned(), summary.rejected_total() as f32)])
        .collect();
    let mut rejects = counts(&RejectReason::ALL, RejectReason::as_str, &summary.rejected);
    rejects.retain(|(_, n)| *n > 0.0);
    let mut figures = vec![named_bars(
        true,
        "Events by outcome",
        "events",
        outcomes,
        "events",
    )];
    if !rejects.is_empty() {
        figures.push(named_bars(
            true,
            "Rejected events by reason",
            "events",
            rejects,
            "rejected",
        ));
    }
    section(
        &mut body,
        "events",
        "Input",
        "What happened to each event of the input: applied, ignored (an unknown type), duplicate, or rejected with its reason.",
        &figures,
    );
    // Stages over time.
    let weeks: Vec<(&i64, &[i64; 5])> = c.weekly.iter().collect();
    let step = weeks.len().div_ceil(MAX_POINTS).max(1);
    // Counted back from the last week, so that the chart ends where "now" is.
    let mut sampled: Vec<(&i64, &[i64; 5])> = weeks.iter().rev().copied().step_by(step).collect();
    sampled.reverse();
    let x: Vec<String> = sampled.iter().map(|(w, _)| week_label(**w)).collect();
    let series: Vec<(String, Vec<f32>)> = Stage::ALL
        .iter()
        .enumerate()
        .map(|(i, s)| {
            (
                s.as_str().to_owned(),
                sampled.iter().map(|(_, v)| v[i] as f32).collect(),
            )
        })
        .collect();
    let now = counts(&Stage::ALL, Stage::as_str, &summary.stages);
    // The axis labels only some weeks: the range is said in words.
    let weekly_units = match (x.first(), x.last()) {
        (Some(first), Some(last)) => {
            format!("customers at the end of each week, weeks of {first} to {last}")
        }
        _ => "customers at the end of each week".to_owned(),
    };
    section(
        &mut body,
        "stages",
        "Customers by stage",
        "How many customers are in each stage now, and at the end of each week of the input (weeks start on Monday).",
        &[
            named_bars(
                false,
                "Customers by stage now",
                "customers",
                now,
                "customers",
            ),
            charts::lines("Customers by stage, weekly", &weekly_units, x, series),
        ],
    );
    // Flow.
    let links: Vec<(String, String, f32)> = c
        .flows()
        .into_iter()
        .map(|(from, to, n)| {
            let from = if from == "none" {
                "(first seen)".to_owned()
            } else {
                format!("from {from}")
            };
            let to = if to == "none" {
                "(erased)".to_owned()
            } else {
                format!("to {to}")
            };
            (from, to, n as f32)
        })
        .collect();
    section(
        &mut body,
        "flow",
        "Where customers flow",
        "Every transition of the input, from the stage before to the stage after: the width of a band is the number of transitions.",
        &[
            charts::flow("Transitions between stages", links.clone()),
            flow_table(&links),
        ],
    );
    // Cohorts.
    let cohorts: Vec<&i64> = c.cohort_size.keys().collect();
    let longest = c
        .cohort_months
        .values()
        .map(Vec::len)
        .max()
        .unwrap_or(0)
        .min(24);
    let mut cells = Vec::new();
    for (row, cohort) in cohorts.iter().enumerate() {
        let size = c.cohort_size[*cohort].max(1) as f32;
        for (k, active) in c
            .cohort_months
            .get(*cohort)
            .into_iter()
            .flatten()
            .take(longest)
            .enumerate()
        {
            cells.push((row, k, (100.0 * *active as f32 / size).round()));
        }
    }
    let y: Vec<String> = cohorts
        .iter()
        .map(|m| format!("{} ({})", month_label(**m), c.cohort_size[*m]))
        .collect();
    let x: Vec<String> = (0..longest).map(|k| format!("+{k}")).collect();
    section(
        &mut body,
        "cohorts",
        "Which cohorts keep buying",
        "Customers by the month of their first conversion (with the cohort's size), and the percentage of each still new or mature at the end of that month (+0) and of each month after, up to 23 months after.",
        &[match cohorts.is_empty() {
            true => note("No customer has converted yet: there is no cohort to follow."),
            false => charts::grid(
                "Cohorts: % still new or mature",
                "percent of the cohort, by months since its first conversion",
                x,
                y,
                cells,
            ),
        }],
    );
    actions_section(&mut body, c, summary);
    // Voice of the customer.
    let voc = summary.voc.report_with(&summary.uplift);
    // A feature with only R and Q answers has no Better or Worse: no bar, and its label says
    // so (a 0 would read as a measured one).
    let features: Vec<String> = voc
        .kano
        .iter()
        .map(|(name, f)| match f.better {
            Some(_) => name.clone(),
            None => format!("{name} (no A/O/M/I answer)"),
        })
        .collect();
    let drawn = |v: Option<f64>| v.map_or(charts_rs::NIL_VALUE, |v| v.abs() as f32);
    let better: Vec<f32> = voc.kano.values().map(|f| drawn(f.better)).collect();
    // Drawn as its absolute value: Worse is never positive, and charts-rs draws bars from
    // the bottom of the axis.
    let worse: Vec<f32> = voc.kano.values().map(|f| drawn(f.worse)).collect();
    let nps_stages: Vec<String> = Stage::ALL
        .iter()
        .map(|s| match voc.nps.get(*s).nps {
            Some(nps) => format!("{}: NPS {}", s.as_str(), one_decimal(nps)),
            None => format!("{}: no answers", s.as_str()),
        })
        .collect();
    let share = |part: fn(&crate::domain::voc::StageReport) -> u64| {
        Stage::ALL
            .iter()
            .map(|s| {
                let r = voc.nps.get(*s);
                let percent = 100.0 * part(r) as f64 / r.answers.max(1) as f64;
                (percent * 10.0).round() as f32 / 10.0
            })
            .collect::<Vec<f32>>()
    };
    let nps = vec![
        ("promoters (9-10)".to_owned(), share(|r| r.promoters)),
        ("passives (7-8)".to_owned(), share(|r| r.passives)),
        ("detractors (0-6)".to_owned(), share(|r| r.detractors)),
    ];
    let mut voc_figures = Vec::new();
    if features.is_empty() {
        voc_figures.push(note(
            "No feedback with a KANO answer yet: no feature to classify.",
        ));
    } else {
        voc_figures.push(charts::bars(
            "KANO Better and Worse by feature",
            "Better (A+O)/(A+O+M+I); Worse -(O+M)/(A+O+M+I), drawn as its absolute value",
            features,
            vec![
                ("better".into(), better),
                ("worse (absolute)".into(), worse),
            ],
        ));
    }
    voc_figures.push(charts::stacked_percent_bars(
        "NPS by stage",
        "percent of the stage's answers; NPS = promoters - detractors, -100 to 100",
        nps_stages,
        nps,
    ));
    section(
        &mut body,
        "voc",
        "What customers say",
        "KANO answers per feature (Better: how much satisfaction the feature adds; Worse: how much its absence takes away) and the NPS of the answers given in each stage.",
        &voc_figures,
    );
    if let Some(buckets) = p_alive {
        let x: Vec<String> = (0..10)
            .map(|b| format!("{:.1}-{:.1}", b as f32 / 10.0, (b + 1) as f32 / 10.0))
            .collect();
        let series = Stage::ALL
            .iter()
            .map(|s| {
                (
                    s.as_str().to_owned(),
                    buckets[*s as usize].iter().map(|n| *n as f32).collect(),
                )
            })
            .filter(|(_, v): &(String, Vec<f32>)| v.iter().any(|n| *n > 0.0))
            .collect();
        section(
            &mut body,
            "risk",
            "Who is at risk",
            "P(alive) at the end of the input (churn prediction, SPEC 8), for the customers with a purchase, by stage: the lower, the likelier they have left.",
            &[charts::bars_named(
                "P(alive) by stage",
                "customers per band of P(alive)",
                x,
                series,
            )],
        );
    }
    if holdouts_on && voc.holdout.is_empty() {
        section(
            &mut body,
            "uplift",
            "Do actions work",
            "Per action kind with a holdout: the conversion rate after a sent action (treated) and after a held-out one (control).",
            &[note(
                "Holdouts are on, but no action of a kind with a control group was planned in this input.",
            )],
        );
    } else if !voc.holdout.is_empty() {
        // Each kind's uplift in its label; a group without actions has no rate: no bar.
        let kinds: Vec<String> = voc
            .holdout
            .iter()
            .map(|(kind, k)| match k.uplift {
                Some(u) => format!("{}: uplift {:+.1} points", kind.as_str(), 100.0 * u),
                None => format!("{}: no uplift yet", kind.as_str()),
            })
            .collect();
        let rate = |f: fn(&crate::domain::uplift::KindUplift) -> Option<f64>| {
            voc.holdout
                .values()
                .map(|k| f(k).map_or(charts_rs::NIL_VALUE, |r| (1000.0 * r).round() as f32 / 10.0))
                .collect::<Vec<f32>>()
        };
        section(
            &mut body,
            "uplift",
            "Do actions work",
            "Per action kind with a holdout: the conversion rate after a sent action (treated) and after a held-out one (control); the uplift, in each kind's label, is the difference in percentage points. A group with no action yet has no rate and no bar.",
            &[charts::bars(
                "Conversion rate by kind and group",
                "percent converting within holdout.window_days",
                kinds,
                vec![
                    ("treated".into(), rate(|k| k.treated.conversion_rate)),
                    ("control".into(), rate(|k| k.control.conversion_rate)),
                ],
            )],
        );
    }
    if let Some((diff, name)) = what_if {
        let stages: Vec<String> = diff.stages.keys().cloned().collect();
        let a: Vec<f32> = diff.stages.values().map(|p| p.a as f32).collect();
        let b: Vec<f32> = diff.stages.values().map(|p| p.b as f32).collect();
        // The transitions whose counts differ, under each rule set side by side (charts-rs
        // draws bars from the axis' bottom, so a signed change would be misdrawn).
        let changed: Vec<_> = diff
            .transitions
            .iter()
            .filter(|(_, p)| p.a != p.b)
            .collect();
        let labels: Vec<String> = changed
            .iter()
            .map(|(k, p)| format!("{k} ({:+})", p.b as i64 - p.a as i64))
            .collect();
        let mut figures = vec![charts::bars(
            "Customers by final stage: these rules and the alternative",
            "customers",
            stages,
            vec![("these rules".into(), a), (name.clone(), b)],
        )];
        if !changed.is_empty() {
            figures.push(charts::horizontal_bars(
                "Transitions that change under the alternative",
                "transitions under each rule set (the change in brackets)",
                labels,
                vec![
                    (
                        "these rules".into(),
                        changed.iter().map(|(_, p)| p.a as f32).collect(),
                    ),
                    (
                        name.clone(),
                        changed.iter().map(|(_, p)| p.b as f32).collect(),
                    ),
                ],
            ));
        }
        section(
            &mut body,
            "what-if",
            &format!("What if: {name}"),
            &format!(
                "The same input under the rules of {name}: {} customers' records would differ.",
                diff.customers_differing
            ),
            &figures,
        );
    }
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>Customer lifecycle report</title>\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><style>{STYLE}</style></head><body>\n{body}\
<footer>lifecycle {} &middot; every chart is inline SVG; this file makes no request.</footer></body></html>\n",
        env!("CARGO_PKG_VERSION")
    )
}

/// The count of each of `keys` in `map` (0 when absent), by name.
fn counts<K: Ord + Copy>(
    keys: &[K],
    name: fn(K) -> &'static str,
    map: &std::collections::BTreeMap<K, u64>,
) -> Vec<(String, f32)> {
    keys.iter()
        .map(|k| (name(*k).to_owned(), *map.get(k).unwrap_or(&0) as f32))
        .collect()
}

/// Bars of named values, one series.
fn named_bars(
    horizontal: bool,
    title: &str,
    units: &str,
    values: Vec<(String, f32)>,
    series: &str,
) -> String {
    let (names, data): (Vec<String>, Vec<f32>) = values.into_iter().unzip();
    match horizontal {
        true => charts::horizontal_bars(title, units, names, vec![(series.to_owned(), data)]),
        false => charts::bars(title, units, names, vec![(series.to_owned(), data)]),
    }
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;max-width:940px;padding:1rem 1.5rem;color:#1f2937;background:#fff}\
h1{font-size:1.6rem;margin:.2rem 0}h2{font-size:1.25rem;margin:1.6rem 0 .3rem;border-bottom:1px solid #e5e7eb}\
header p,footer{color:#6b7280;font-size:.9rem}figure{margin:.6rem 0}figure svg{max-width:100%;height:auto}\
.note{color:#9a3412}table.counts{border-collapse:collapse;font-size:.85rem;margin:.4rem 0}\
table.counts caption{text-align:left;color:#6b7280}table.counts th,table.counts td{padding:.15rem .8rem;border-bottom:1px solid #e5e7eb;text-align:left}\
table.counts .n{text-align:right}@media print{section{break-inside:avoid}body{max-width:none}}";

/// A note where a chart has nothing to draw.
fn note(text: &str) -> String {
    format!("<p class=\"note\">{}</p>", escape(text))
}

/// `x` with one decimal, none when it is whole.
fn one_decimal(x: f64) -> String {
    // + 0.0: a value that rounds to -0 is written 0.
    let rounded = (x * 10.0).round() / 10.0 + 0.0;
    match rounded.fract() == 0.0 {
        true => format!("{rounded:.0}"),
        false => format!("{rounded:.1}"),
    }
}

/// The flow's counts as a table under the chart (the bands show them only as widths).
fn flow_table(links: &[(String, String, f32)]) -> String {
    let mut rows = String::new();
    for (from, to, n) in links {
        let _ = write!(
            rows,
            "<tr><td>{}</td><td>{}</td><td class=\"n\">{n}</td></tr>",
            escape(from),
            escape(to)
        );
    }
    format!(
        "<table class=\"counts\"><caption>Transitions by stage before and after</caption>\
<thead><tr><th>before</th><th>after</th><th class=\"n\">transitions</th></tr></thead><tbody>{rows}</tbody></table>"
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_decimal_drops_a_zero_fraction_and_a_negative_zero() {
        assert_eq!(super::one_decimal(-71.428), "-71.4");
        assert_eq!(super::one_decimal(20.0), "20");
        assert_eq!(super::one_decimal(-0.04), "0");
        assert_eq!(super::one_decimal(-100.0), "-100");
    }
}
