//! `lifecycle diff` (SPEC 12, what-if): the same input replayed under two rule sets, side by
//! side: customers by final stage, transitions by (from, to, reason), actions by kind, and
//! the customers whose records differ, with the first ones' first differing record.
//!
//! Memory grows with customers, not events: each run's records pass through a
//! [`RecordDigest`] that keeps, per customer, a running hash and a count of its records
//! (and the counts by transition and kind), not the records. The first differing customers'
//! records are found by replaying the input once more under each rule set, keeping only
//! theirs. So the input must be a file (`-` is copied to a temporary file first).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::{self, Write};

use anyhow::{Context, Result};
use serde::Serialize;
use serde_json::Value;

use crate::config::Config;
use crate::domain::{Stage, Timestamp};
use crate::record_lines::LineSink;
use crate::replay::{ReplayOptions, replay_to_state};

/// How many differing customers are shown with their first differing record.
pub const FIRST_SHOWN: usize = 10;

/// Two counts: under the rules of `--config` (`a`) and of `--against` (`b`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Pair {
    pub a: u64,
    pub b: u64,
}

/// One customer's first record that differs (`null` on the side that has fewer records).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FirstDifference {
    pub customer_id: String,
    /// The record's place among the customer's records, from 1.
    pub record: usize,
    pub a: Option<Value>,
    pub b: Option<Value>,
}

/// What `lifecycle diff --json` prints.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DiffReport {
    /// Customers by final stage.
    pub stages: BTreeMap<String, Pair>,
    /// Transitions by "from -> to (reason)" (`from`/`to` "none" for first_seen and erasure).
    pub transitions: BTreeMap<String, Pair>,
    /// Sent actions by kind (held-out ones as "<kind> (held out)").
    pub actions: BTreeMap<String, Pair>,
    /// The number of customers whose records differ (in content or number).
    pub customers_differing: u64,
    /// The first of them (by customer id), with their first differing record.
    pub first_differences: Vec<FirstDifference>,
}

/// Per customer: a running hash of its records and their number; and the counts.
#[derive(Default)]
struct Digest {
    customers: HashMap<String, (u64, u32)>,
    transitions: BTreeMap<String, u64>,
    actions: BTreeMap<String, u64>,
}

/// Reads replay's JSON lines (through a `LineSink`) and digests them.
struct RecordDigest {
    digest: Digest,
    /// When set: the records of these customers are kept (the second pass).
    keep: Option<BTreeSet<String>>,
    kept: BTreeMap<String, Vec<Value>>,
}

impl RecordDigest {
    fn new(keep: Option<BTreeSet<String>>) -> RecordDigest {
        RecordDigest {
            digest: Digest::default(),
            keep,
            kept: BTreeMap::new(),
        }
    }

    fn line(&mut self, line: &[u8]) -> io::Result<()> {
        let record: Value = serde_json::from_slice(line).map_err(io::Error::other)?;
        let customer = record["customer_id"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if let Some(keep) = &self.keep {
            if keep.contains(&customer) {
                self.kept.entry(customer).or_default().push(record);
            }
            return Ok(());
        }
        let name = |v: &Value| v.as_str().unwrap_or("none").to_owned();
        match record["type"].as_str() {
            Some("transition") => {
                let key = format!(
                    "{} -> {} ({})",
                    name(&record["from"]),
                    name(&record["to"]),
                    name(&record["reason"])
                );
                *self.digest.transitions.entry(key).or_default() += 1;
            }
            Some("action") => {
                let mut key = name(&record["kind"]);
                if record["held_out"] == Value::Bool(true) {
                    key.push_str(" (held out)");
                }
                *self.digest.actions.entry(key).or_default() += 1;
            }
            _ => {}
        }
        let slot = self.digest.customers.entry(customer).or_default();
        slot.0 = xxhash_rust::xxh3::xxh3_64_with_seed(line, slot.0);
        slot.1 += 1;
        Ok(())
    }
}

/// One replay of `input` under `config`: its digest and final stages.
fn run(
    input: &str,
    config: &Config,
    as_of: Option<Timestamp>,
    keep: Option<BTreeSet<String>>,
) -> Result<(RecordDigest, BTreeMap<Stage, u64>)> {
    let mut reader = crate::app::open_input(input)?;
    let options = ReplayOptions {
        rules: config.rules(),
        as_of,
        now: Timestamp::now(),
        progress: false,
        until: None,
        voc_max_features: config.voc.max_features,
    };
    let mut digest = RecordDigest::new(keep);
    let mut sink = LineSink::new(|line: &[u8]| digest.line(line));
    let (summary, _) = replay_to_state(&mut reader, &mut sink, None, &options)
        .with_context(|| format!("cannot replay {input}"))?;
    drop(sink);
    Ok((digest, summary.stages))
}

fn pairs(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> BTreeMap<String, Pair> {
    a.keys()
        .chain(b.keys())
        .map(|k| {
            let pair = Pair {
                a: a.get(k).copied().unwrap_or(0),
                b: b.get(k).copied().unwrap_or(0),
            };
            (k.clone(), pair)
        })
        .collect()
}

/// Replays `input` (a file) under both configurations and compares.
pub fn diff_file(
    input: &str,
    a: &Config,
    b: &Config,
    as_of: Option<Timestamp>,
) -> Result<DiffReport> {
    let (da, stages_a) = run(input, a, as_of, None)?;
    let (db, stages_b) = run(input, b, as_of, None)?;
    let stage_counts = |s: &BTreeMap<Stage, u64>| -> BTreeMap<String, u64> {
        Stage::ALL
            .iter()
            .map(|st| (st.as_str().to_owned(), s.get(st).copied().unwrap_or(0)))
            .collect()
    };
    let mut differing: Vec<&String> = da
        .digest
        .customers
        .keys()
        .chain(db.digest.customers.keys())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .filter(|c| da.digest.customers.get(*c) != db.digest.customers.get(*c))
        .collect();
    differing.sort();
    let shown: BTreeSet<String> = differing
        .iter()
        .take(FIRST_SHOWN)
        .map(|c| (*c).clone())
        .collect();
    let mut first_differences = Vec::new();
    if !shown.is_empty() {
        let (ka, _) = run(input, a, as_of, Some(shown.clone()))?;
        let (kb, _) = run(input, b, as_of, Some(shown.clone()))?;
        for customer in &shown {
            let none = Vec::new();
            let ra = ka.kept.get(customer).unwrap_or(&none);
            let rb = kb.kept.get(customer).unwrap_or(&none);
            let at = (0..ra.len().max(rb.len()))
                .find(|&i| ra.get(i) != rb.get(i))
                .unwrap_or(0);
            first_differences.push(FirstDifference {
                customer_id: customer.clone(),
                record: at + 1,
                a: ra.get(at).cloned(),
                b: rb.get(at).cloned(),
            });
        }
    }
    Ok(DiffReport {
        stages: pairs(&stage_counts(&stages_a), &stage_counts(&stages_b)),
        transitions: pairs(&da.digest.transitions, &db.digest.transitions),
        actions: pairs(&da.digest.actions, &db.digest.actions),
        customers_differing: differing.len() as u64,
        first_differences,
    })
}

/// `text` (a customer id: the CRM's, so anything) as markdown text: every ASCII punctuation
/// character backslash-escaped (CommonMark allows it for all of them), so that it is shown as
/// it is, never read as emphasis, a link or HTML. The tables' names are this program's own
/// (stages, reasons, kinds) and the file names the user's: they are written as they are.
fn md_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_punctuation() {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// `text` as a markdown code span: fenced by more backticks than any run inside it, padded
/// with a space where it begins or ends with one (CommonMark 6.1).
fn md_code(text: &str) -> String {
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    let pad = if text.starts_with('`') || text.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{text}{pad}{fence}")
}

/// The report as markdown: one table per comparison, the differing customers last.
pub fn markdown(report: &DiffReport, a: &str, b: &str) -> String {
    let mut out = String::new();
    let table = |out: &mut String, title: &str, rows: &BTreeMap<String, Pair>| {
        out.push_str(&format!(
            "\n## {title}\n\n| | {a} | {b} | change |\n|---|---:|---:|---:|\n"
        ));
        for (k, p) in rows {
            let change = p.b as i64 - p.a as i64;
            out.push_str(&format!("| {k} | {} | {} | {change:+} |\n", p.a, p.b));
        }
    };
    out.push_str(&format!("# lifecycle diff: {a} against {b}\n"));
    table(&mut out, "Customers by final stage", &report.stages);
    table(
        &mut out,
        "Transitions by from, to and reason",
        &report.transitions,
    );
    table(&mut out, "Actions sent by kind", &report.actions);
    out.push_str(&format!(
        "\n## Customers whose records differ: {}\n",
        report.customers_differing
    ));
    for d in &report.first_differences {
        let show = |v: &Option<Value>| {
            v.as_ref()
                .map_or("(none)".to_owned(), |v| md_code(&v.to_string()))
        };
        out.push_str(&format!(
            "\n- **{}**, record {}:\n  - {a}: {}\n  - {b}: {}\n",
            md_text(&d.customer_id),
            d.record,
            show(&d.a),
            show(&d.b)
        ));
    }
    out
}

/// `-` (standard input) copied to a temporary file, since diff reads its input four times.
pub fn input_file(input: &str) -> Result<(String, Option<TempInput>)> {
    if input != "-" {
        return Ok((input.to_owned(), None));
    }
    let path = std::env::temp_dir().join(format!("lifecycle-diff-{}.jsonl", std::process::id()));
    let mut file = std::fs::File::create(&path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    io::copy(&mut io::stdin().lock(), &mut file).context("cannot read standard input")?;
    file.flush()?;
    let name = path.to_string_lossy().into_owned();
    Ok((name, Some(TempInput(path))))
}

/// A temporary copy of standard input, removed when dropped.
#[derive(Debug)]
pub struct TempInput(std::path::PathBuf);

impl Drop for TempInput {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customer_ids_and_records_are_shown_as_they_are_in_markdown() {
        assert_eq!(
            md_text("<img src=x onerror=alert(1)>"),
            r"\<img src\=x onerror\=alert\(1\)\>"
        );
        assert_eq!(md_text("a*b_c"), r"a\*b\_c");
        assert_eq!(md_text("ana"), "ana");
        assert_eq!(md_code(r#"{"id":"a"}"#), r#"`{"id":"a"}`"#);
        // A backtick inside: a longer fence; at an end: padded.
        assert_eq!(md_code("a`b"), "``a`b``");
        assert_eq!(md_code("`a``"), "``` `a`` ```");
    }
}
