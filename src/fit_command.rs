//! `lifecycle fit` (SPEC 8): the customers' (x, t_x, T) from a CRM history, decoded and
//! applied exactly as replay does (rejects, duplicates and erasures alike: it *is* a replay,
//! records discarded, of the events up to `--until`), then the maximum-likelihood fit of the
//! configured model.

use std::io::{self, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Serialize;

use crate::config::Config;
use crate::domain::{Customer, Timestamp};
use crate::predict::{Fitted, Model, Params, Summary, fit, p_alive};

/// What `fit` prints on stdout (one JSON object).
#[derive(Debug, Serialize)]
pub struct FitReport {
    pub model: &'static str,
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
    pub log_likelihood: f64,
    pub customers: usize,
    pub unit_days: u32,
    /// `prediction.count_zero_amount` as the fit used it (not printed: only the lines to
    /// paste say it, so that the engine counts as the fit did).
    #[serde(skip)]
    pub count_zero_amount: bool,
}

/// One line of `--summary`.
#[derive(Debug, Serialize)]
struct CustomerLine<'a> {
    customer_id: &'a str,
    /// A count of days: written as an integer.
    x: u64,
    t_x: f64,
    #[serde(rename = "T")]
    t: f64,
    p_alive: f64,
}

/// Fits the configured model to `input` (a path or `-`) as of `until`; writes the
/// per-customer summary to `summary` when given. The `[prediction]` lines to paste are the
/// caller's to print ([`paste_lines`]).
pub fn fit_file(
    input: &str,
    until: &str,
    config: &Config,
    summary: Option<&Path>,
) -> Result<FitReport> {
    let until = Timestamp::parse_rfc3339(until)
        .map_err(|_| anyhow::anyhow!("--until `{until}` is not an RFC 3339 date-time"))?;
    let model = config.prediction.model;
    let unit_days = config.prediction.unit_days;
    // Truncated first, as replay's files are: a failed fit leaves no earlier run's summary.
    let summary_file = summary
        .map(|path| {
            std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))
        })
        .transpose()?;
    let (_, engine) = crate::app::replay_quietly(input, config, None, Some(until))?;
    // In id order: the engine's own order depends on the process's hash seed.
    let mut customers: Vec<(&Customer, Summary)> = engine
        .customers()
        .filter_map(|c| Some((c, c.transactions.summary(until, f64::from(unit_days))?)))
        .collect();
    customers.sort_unstable_by(|a, b| a.0.id.cmp(&b.0.id));
    if customers.is_empty() {
        let amount = if config.prediction.count_zero_amount {
            "of any amount"
        } else {
            "with an amount above 0"
        };
        bail!("no customer has a purchase {amount} at or before --until {until}: nothing to fit");
    }
    let summaries: Vec<Summary> = customers.iter().map(|(_, s)| *s).collect();
    let fitted = fit(model, &summaries).context("the fit failed")?;
    if let (Some(path), Some(file)) = (summary, summary_file) {
        write_summary(path, file, &customers, &fitted)?;
    }
    Ok(FitReport {
        count_zero_amount: config.prediction.count_zero_amount,
        ..report(&fitted, model, unit_days)
    })
}

fn report(fitted: &Fitted, model: Model, unit_days: u32) -> FitReport {
    let Params { r, alpha, a, b } = fitted.params;
    FitReport {
        model: model.name(),
        r,
        alpha,
        a,
        b,
        log_likelihood: fitted.log_likelihood,
        customers: fitted.customers,
        unit_days,
        count_zero_amount: false,
    }
}

fn write_summary(
    path: &Path,
    file: std::fs::File,
    customers: &[(&Customer, Summary)],
    fitted: &Fitted,
) -> Result<()> {
    let mut out = io::BufWriter::new(file);
    for (c, s) in customers {
        let line = CustomerLine {
            customer_id: &c.id,
            x: s.x as u64,
            t_x: s.t_x,
            t: s.t,
            p_alive: p_alive(&fitted.params, fitted.model, s.x, s.t_x, s.t),
        };
        serde_json::to_writer(&mut out, &line)?;
        out.write_all(b"\n")?;
    }
    out.flush()
        .with_context(|| format!("cannot write {}", path.display()))
}

/// The `[prediction]` lines that put the fit into a configuration file.
pub fn paste_lines(report: &FitReport) -> String {
    let zero = if report.count_zero_amount {
        "count_zero_amount = true\n"
    } else {
        ""
    };
    format!(
        "# paste into your configuration file (then set at_risk_below to turn on churn_risk):\n\
         [prediction]\nmodel = \"{}\"\nr = {}\nalpha = {}\na = {}\nb = {}\nunit_days = {}\n{zero}",
        report.model, report.r, report.alpha, report.a, report.b, report.unit_days
    )
}
