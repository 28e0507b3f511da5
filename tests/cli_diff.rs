//! `lifecycle diff` (SPEC 12) on rule changes whose effect is known in advance.
//!
//! Each customer buys once and comes back (an engagement, not a conversion) `g` days later,
//! every one of them at the same final instant T, so the clock reaches no timer before T.
//! With `inactivity_days` 60 no one churns before coming back; with 30, exactly the customers
//! whose gap is over 30 days (31, 45 and 59 here; 30 itself is not over it, and the timer
//! waits the hour of `allowed_lateness`) enter `churning` before T and stay there, since an
//! engagement does not reactivate. Everyone else's records are the same.

mod common;

use std::process::Command;

use common::*;
use serde_json::Value;

const GAPS: [i64; 6] = [59, 45, 31, 30, 20, 5];
const T: i64 = 100;

fn stream() -> String {
    let mut lines: Vec<String> = GAPS
        .iter()
        .map(|g| buy(&format!("b{g}"), &format!("c{g}"), &d(T - g)))
        .collect();
    lines.extend(
        GAPS.iter()
            .map(|g| engage(&format!("e{g}"), &format!("c{g}"), &d(T))),
    );
    jsonl(&lines)
}

fn diff(dir: &std::path::Path, a: &str, b: &str, json: bool) -> std::process::Output {
    let input = dir.join("in.jsonl");
    std::fs::write(&input, stream()).unwrap();
    let (pa, pb) = (dir.join("a.toml"), dir.join("b.toml"));
    std::fs::write(&pa, a).unwrap();
    std::fs::write(&pb, b).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifecycle"));
    cmd.args(["diff", "--input"])
        .arg(&input)
        .arg("--config")
        .arg(&pa)
        .arg("--against")
        .arg(&pb);
    if json {
        cmd.arg("--json");
    }
    cmd.output().unwrap()
}

#[test]
fn a_shorter_inactivity_moves_exactly_the_customers_with_a_longer_gap() {
    let dir = tempfile::tempdir().unwrap();
    let out = diff(dir.path(), "", "[rules]\ninactivity_days = 30\n", true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["customers_differing"], 3);
    let differing: Vec<&str> = report["first_differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["customer_id"].as_str().unwrap())
        .collect();
    assert_eq!(differing, ["c31", "c45", "c59"]);
    assert_eq!(report["stages"]["new"], serde_json::json!({"a": 6, "b": 3}));
    assert_eq!(
        report["stages"]["churning"],
        serde_json::json!({"a": 0, "b": 3})
    );
    assert_eq!(
        report["transitions"]["new -> churning (inactivity)"],
        serde_json::json!({"a": 0, "b": 3})
    );
    assert_eq!(
        report["actions"]["retention_offer"],
        serde_json::json!({"a": 0, "b": 3})
    );
    // Each one's first differing record: its churn, only under the 30-day rule, dated 30 days
    // (and the lateness hour is not part of the stamp) after its purchase.
    for d in report["first_differences"].as_array().unwrap() {
        let g: i64 = d["customer_id"].as_str().unwrap()[1..].parse().unwrap();
        assert_eq!(
            d["record"], 4,
            "first_seen, first_conversion, then the churn"
        );
        assert_eq!(d["b"]["reason"], "inactivity");
        assert_eq!(d["b"]["at"], d_(T - g + 30));
        assert_eq!(d["a"]["reason"], Value::Null);
        assert_eq!(
            d["a"]["type"],
            Value::Null,
            "under 60 days the 4th record is an action"
        );
    }
}

fn d_(days: i64) -> String {
    d(days)
}

#[test]
fn the_same_rules_differ_nowhere_and_markdown_is_the_default() {
    let dir = tempfile::tempdir().unwrap();
    let out = diff(dir.path(), "", "[rules]\ninactivity_days = 60\n", false);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("# lifecycle diff: "), "{text}");
    assert!(
        text.contains("## Customers whose records differ: 0\n"),
        "{text}"
    );
    assert!(text.contains("| new | 6 | 6 | +0 |"), "{text}");
}

#[test]
fn bad_arguments_are_refused_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = diff(dir.path(), "[rules]\ninactivity_days = \"x\"\n", "", true);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("rules.inactivity_days"));
    let missing = Command::new(env!("CARGO_BIN_EXE_lifecycle"))
        .args([
            "diff",
            "--input",
            "/no/such/file",
            "--config",
            "/dev/null",
            "--against",
            "/dev/null",
        ])
        .output()
        .unwrap();
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/no/such/file"));
}

/// `report --input - --against`: standard input is read once and kept for the what-if, which
/// then finds the same differing customers as `diff`.
#[test]
fn the_reports_what_if_reads_standard_input_too() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("b.toml");
    std::fs::write(&b, "[rules]\ninactivity_days = 30\n").unwrap();
    let html = dir.path().join("r.html");
    let mut child = Command::new(env!("CARGO_BIN_EXE_lifecycle"))
        .args(["report", "--input", "-", "--output"])
        .arg(&html)
        .arg("--against")
        .arg(&b)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stream().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("3 customers&#x27; records would differ")
            || page.contains("3 customers' records would differ"),
        "the what-if of the piped input"
    );
}
