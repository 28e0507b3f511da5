//! `lifecycle report` (SPEC 12) opened in a real browser: Debian's Chromium, headless,
//! driven by playwright-core (`tools/report-check/check.mjs`; `scripts/test.sh` installs
//! both). The page loads with no console error and no request, a screenshot is taken, and
//! the charts draw what the replay of the same input says: one Sankey band per (from, to)
//! pair of its transitions, each as thick as its count, and the final stage counts.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn lifecycle(args: &[&str]) -> std::process::Output {
    let out = Command::new(env!("CARGO_BIN_EXE_lifecycle"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// What the browser saw (see check.mjs).
fn open_in_chromium(report: &Path, screenshot: &Path) -> Value {
    let script = root().join("tools/report-check/check.mjs");
    assert!(
        root()
            .join("tools/report-check/node_modules/playwright-core")
            .exists(),
        "playwright-core is missing: run scripts/test.sh, or (cd tools/report-check && npm ci)"
    );
    assert!(
        Path::new("/usr/bin/chromium").exists() || std::env::var("CHROMIUM").is_ok(),
        "Chromium is missing: run scripts/test.sh, or apt-get install chromium"
    );
    let out = Command::new("node")
        .arg(script)
        .arg(report)
        .arg(screenshot)
        .output()
        .expect("node runs (install Node.js)");
    assert!(
        out.status.success(),
        "check.mjs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// The (from, to) pairs of the transitions replay writes for the same input, and the final
/// stage counts from its summary.
fn replayed(input: &Path, as_of: &str) -> (BTreeMap<(String, String), u64>, String) {
    let out = lifecycle(&[
        "replay",
        "--input",
        input.to_str().unwrap(),
        "--as-of",
        as_of,
    ]);
    let mut pairs = BTreeMap::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let r: Value = serde_json::from_str(line).unwrap();
        if r["type"] == "transition" {
            let name = |v: &Value| v.as_str().unwrap_or("none").to_owned();
            *pairs.entry((name(&r["from"]), name(&r["to"]))).or_default() += 1;
        }
    }
    (pairs, String::from_utf8(out.stderr).unwrap())
}

fn texts_of(chart: &Value) -> Vec<&str> {
    chart["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect()
}

fn section<'a>(page: &'a Value, id: &str) -> &'a Value {
    page["sections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no section {id}"))
}

fn check(input: &Path, as_of: &str, against: Option<&Path>, dir: &Path) {
    let report = dir.join("report.html");
    let mut args = vec![
        "report",
        "--input",
        input.to_str().unwrap(),
        "--as-of",
        as_of,
        "--output",
        report.to_str().unwrap(),
    ];
    if let Some(b) = against {
        args.extend(["--against", b.to_str().unwrap()]);
    }
    lifecycle(&args);
    // The SVG namespace is a name, not an address; nothing else may point outside.
    let html = std::fs::read_to_string(&report)
        .unwrap()
        .replace(r#"xmlns="http://www.w3.org/2000/svg""#, "");
    for forbidden in ["<script", "http://", "https://", "<link", "@import"] {
        assert!(!html.contains(forbidden), "self-contained: {forbidden}");
    }
    let screenshot = dir.join("report.png");
    let page = open_in_chromium(&report, &screenshot);
    assert_eq!(page["consoleErrors"], serde_json::json!([]));
    assert_eq!(page["pageErrors"], serde_json::json!([]));
    assert_eq!(
        page["requests"],
        serde_json::json!([]),
        "no network request"
    );
    let png = std::fs::read(&screenshot).unwrap();
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 20_000,
        "a screenshot"
    );
    for id in ["events", "stages", "flow", "cohorts", "actions", "voc"] {
        let charts = section(&page, id)["charts"].as_array().unwrap();
        assert!(!charts.is_empty(), "{id}: a chart");
        for c in charts {
            assert!(
                c["texts"].as_array().unwrap().len() >= 3,
                "{id}: a title and labels"
            );
        }
    }
    assert_eq!(
        against.is_some(),
        page["sections"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["id"] == "what-if")
    );

    // The Sankey: a band per (from, to) pair, thickness proportional to its count.
    let (pairs, summary) = replayed(input, as_of);
    let flow = &section(&page, "flow")["charts"][0];
    let mut bands: Vec<f64> = flow["bands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_f64().unwrap())
        .collect();
    let mut counts: Vec<f64> = pairs.values().map(|n| *n as f64).collect();
    assert_eq!(bands.len(), counts.len(), "one band per pair: {pairs:?}");
    bands.sort_by(f64::total_cmp);
    counts.sort_by(f64::total_cmp);
    let scale = bands.last().unwrap() / counts.last().unwrap();
    for (band, count) in bands.iter().zip(&counts) {
        assert!(
            (band - count * scale).abs() <= 0.5 + 0.02 * band,
            "band {band} for {count} transitions (scale {scale})"
        );
    }
    let texts: Vec<&str> = flow["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    for ((from, to), n) in &pairs {
        let left = if from == "none" {
            "(first seen)".to_owned()
        } else {
            format!("from {from}")
        };
        let right = if to == "none" {
            "(erased)".to_owned()
        } else {
            format!("to {to}")
        };
        assert!(
            texts.contains(&left.as_str()) && texts.contains(&right.as_str()),
            "{left} -> {right}"
        );
        // The counts themselves, in the table under the chart.
        let row = format!(r#"<tr><td>{left}</td><td>{right}</td><td class="n">{n}</td></tr>"#);
        assert!(html.contains(&row), "{row}");
    }
    // Over time up to the end of the input: both tests ask as of 2026-01-01, a Thursday,
    // whose week starts on Monday 2025-12-29.
    assert_eq!(as_of, "2026-01-01T00:00:00Z");
    let weekly = texts_of(&section(&page, "stages")["charts"][1]);
    assert!(weekly[1].ends_with(" to 2025-12-29"), "{weekly:?}");
    // No negative value is drawn (an axis tick or a label): charts-rs would draw its bar
    // from the bottom of the axis. The what-if section shows a change as a signed label.
    let signed = ["voc", "what-if"]
        .into_iter()
        .filter(|id| *id == "voc" || against.is_some());
    for id in signed {
        for text in section(&page, id)["charts"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(texts_of)
        {
            assert!(
                !text.parse::<f64>().is_ok_and(|v| v < 0.0),
                "a negative value in a chart of the {id} section: {text}"
            );
        }
    }
    // Actions per week by outcome: sent, and the reasons the summary counts suppressions for.
    let actions = section(&page, "actions")["charts"].as_array().unwrap();
    let by_outcome = actions
        .iter()
        .map(texts_of)
        .find(|t| t.contains(&"Actions per week, by outcome"))
        .expect("a chart of actions per week by outcome");
    assert!(by_outcome.contains(&"sent"), "{by_outcome:?}");
    let suppressed = summary
        .lines()
        .find(|l| l.trim_start().starts_with("actions suppressed:"))
        .unwrap();
    for reason in ["cooldown", "no_consent", "frequency_cap", "backfill"] {
        assert_eq!(
            suppressed.contains(&format!("{reason} ")),
            by_outcome.contains(&reason),
            "{reason}: {suppressed}"
        );
    }
    // Customers by stage now: the bars' labels are replay's final counts.
    let customers_line = summary
        .lines()
        .find(|l| l.trim_start().starts_with("customers:"))
        .unwrap();
    let now = &section(&page, "stages")["charts"][0]["texts"];
    for part in customers_line.split(['(', ')', ',']).skip(1) {
        let Some((stage, n)) = part.trim().split_once(' ') else {
            continue;
        };
        assert!(
            now.as_array().unwrap().iter().any(|t| t == stage),
            "{stage} on the axis"
        );
        assert!(
            now.as_array().unwrap().iter().any(|t| t == n),
            "{stage} {n}"
        );
    }
}

#[test]
fn the_report_of_the_bundled_sample_opens_cleanly_and_draws_its_flows() {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("b.toml");
    std::fs::write(&b, "[rules]\ninactivity_days = 30\n").unwrap();
    check(
        &root().join("samples/crm-events.jsonl"),
        "2026-01-01T00:00:00Z",
        Some(&b),
        dir.path(),
    );
}

#[test]
fn the_report_of_a_generated_stream_opens_cleanly_and_draws_its_flows() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("g.jsonl");
    lifecycle(&[
        "generate",
        "--customers",
        "400",
        "--seed",
        "5",
        "--output",
        input.to_str().unwrap(),
    ]);
    check(&input, "2026-01-01T00:00:00Z", None, dir.path());
}

/// Holdouts on (no browser needed): each kind's uplift is in its label, and a group without
/// actions has no rate, so no bar, rather than a bar at 0 %.
#[test]
fn the_uplift_is_stated_and_a_group_without_actions_has_no_bar() {
    let dir = tempfile::tempdir().unwrap();
    let report = dir.path().join("report.html");
    let holdouts = root().join("samples/voc-holdout.toml");
    lifecycle(&[
        "report",
        "--input",
        root().join("samples/crm-events.jsonl").to_str().unwrap(),
        "--config",
        holdouts.to_str().unwrap(),
        "--as-of",
        "2026-01-01T00:00:00Z",
        "--output",
        report.to_str().unwrap(),
    ]);
    let voc = lifecycle(&[
        "voc",
        "--input",
        root().join("samples/crm-events.jsonl").to_str().unwrap(),
        "--config",
        holdouts.to_str().unwrap(),
        "--as-of",
        "2026-01-01T00:00:00Z",
    ]);
    let voc: Value = serde_json::from_slice(&voc.stdout).unwrap();
    let html = std::fs::read_to_string(&report).unwrap();
    let kinds = voc["holdout"].as_object().expect("holdout kinds");
    assert!(!kinds.is_empty());
    let mut without_control = 0;
    for (kind, k) in kinds {
        let label = match k["uplift"].as_f64() {
            Some(u) => format!("{kind}: uplift {:+.1} points", 100.0 * u),
            None => format!("{kind}: no uplift yet"),
        };
        assert!(html.contains(&label), "{label}");
        without_control += usize::from(k["control"]["conversion_rate"].is_null());
    }
    assert!(
        without_control > 0,
        "the sample has a kind whose control group has no action"
    );
    // Bars are labelled with their value: no "0" label stands for a missing rate.
    let uplift = &html[html.find(r#"<section id="uplift">"#).unwrap()..];
    let uplift = &uplift[..uplift.find("</section>").unwrap()];
    let zero_labels = uplift.matches(">0<").count();
    let zero_rates = kinds
        .values()
        .flat_map(|k| [&k["treated"], &k["control"]])
        .filter(|g| g["conversion_rate"].as_f64() == Some(0.0))
        .count();
    assert!(
        zero_labels <= zero_rates + 1,
        "{zero_labels} zero labels, {zero_rates} zero rates (and the axis' 0)"
    );
}

/// An input with nothing to chart: each section says so in words, never with the chart
/// library's error (no browser needed).
#[test]
fn an_empty_input_gives_notes_not_errors() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("empty.jsonl");
    std::fs::write(&input, "").unwrap();
    let report = dir.path().join("report.html");
    let holdouts = root().join("samples/voc-holdout.toml");
    lifecycle(&[
        "report",
        "--input",
        input.to_str().unwrap(),
        "--config",
        holdouts.to_str().unwrap(),
        "--output",
        report.to_str().unwrap(),
    ]);
    let html = std::fs::read_to_string(&report).unwrap();
    assert!(!html.contains("could not be drawn"), "{html}");
    for said in [
        "No customer has converted yet",
        "No feedback with a KANO answer yet",
        "Holdouts are on, but no action",
    ] {
        assert!(html.contains(said), "{said}");
    }
    for id in [
        "events", "stages", "flow", "cohorts", "actions", "voc", "uplift",
    ] {
        assert!(html.contains(&format!("<section id=\"{id}\">")), "{id}");
    }
}
