//! Issue 22's acceptance for holdouts: with holdouts at 10 % on a generated stream of 100k
//! customers, the control share per kind is within 1 percentage point of 10 %, and the same
//! customers are in control on every run. (The Kafka service holds out the same ones:
//! `tests/kafka_service.rs`.) Every control customer's bucket is checked with Python's
//! hashlib, an implementation of SHA-256 independent of the crate's.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Cursor;

use common::NOW;
use lifecycle::config::Config;
use lifecycle::domain::Timestamp;
use lifecycle::replay::{ReplayOptions, replay};
use serde_json::Value;

const CONFIG: &str = r#"
[holdout]
percent = 10
salt = "acceptance"

[prediction]
r = 0.243
alpha = 4.414
a = 0.793
b = 2.426
at_risk_below = 0.5
"#;

/// Per kind, the customers planned it in each group: (treated, control).
type Groups = BTreeMap<String, (BTreeSet<String>, BTreeSet<String>)>;

fn groups(stream: &[u8], config: &Config) -> Groups {
    let options = ReplayOptions {
        rules: config.rules(),
        as_of: None,
        now: Timestamp::parse_rfc3339(NOW).unwrap(),
        progress: false,
        until: None,
        voc_max_features: config.voc.max_features,
    };
    let mut out = Vec::new();
    replay(&mut Cursor::new(stream), &mut out, None, &options).expect("replay in memory");
    let kinds = &config.holdout.kinds;
    let mut groups = Groups::new();
    for line in out.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        let r: Value = serde_json::from_slice(line).unwrap();
        let kind = r["kind"].as_str().unwrap_or_default();
        if r["type"] != "action" || !kinds.iter().any(|k| k == kind) {
            continue;
        }
        let (treated, control) = groups.entry(kind.to_owned()).or_default();
        let customer = r["customer_id"].as_str().unwrap().to_owned();
        match r["held_out"] == Value::Bool(true) {
            true => control.insert(customer),
            false => treated.insert(customer),
        };
    }
    groups
}

#[test]
fn a_tenth_of_each_kinds_customers_are_control_and_always_the_same_ones() {
    let now = Timestamp::parse_rfc3339(NOW).unwrap();
    let opts =
        lifecycle::generate::GenerateOptions::new(100_000, 3, "2024-01-01", "2025-12-31", now)
            .expect("valid generate options");
    let mut stream = Vec::new();
    lifecycle::generate::generate(&opts, &mut stream).unwrap();
    let config = Config::from_toml_str(CONFIG, "test").expect("valid");

    let first = groups(&stream, &config);
    for kind in ["retention_offer", "win_back_campaign", "churn_risk"] {
        let (treated, control) = &first[kind];
        assert!(
            treated.is_disjoint(control),
            "{kind}: a customer is in one group"
        );
        let share = 100.0 * control.len() as f64 / (treated.len() + control.len()) as f64;
        assert!(
            (share - 10.0).abs() <= 1.0,
            "{kind}: control share {share:.2} % of {} customers",
            treated.len() + control.len()
        );
        assert!(
            control.len() > 500,
            "{kind}: a large sample ({})",
            control.len()
        );
        check_buckets_with_python(kind, treated, control);
    }
    assert_eq!(
        first,
        groups(&stream, &config),
        "the same groups on a second run"
    );
}

/// Each control customer's bucket is below 1000 and each treated one's is not, by Python.
fn check_buckets_with_python(kind: &str, treated: &BTreeSet<String>, control: &BTreeSet<String>) {
    let script = r#"
import hashlib, json, sys
kind, treated, control = json.load(sys.stdin)
def bucket(cid):
    d = hashlib.sha256(("acceptance\n" + cid + "\n" + kind).encode()).digest()
    return int.from_bytes(d[:8], "big") % 10000
bad = [c for c in control if bucket(c) >= 1000] + [c for c in treated if bucket(c) < 1000]
print(json.dumps(bad[:5]))
"#;
    let mut child = std::process::Command::new("python3")
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (the test script installs it: see scripts/test.sh)");
    let input = serde_json::to_vec(&(kind, treated, control)).unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &input).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python3 failed");
    let bad: Vec<String> = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        bad.is_empty(),
        "{kind}: in the wrong group by Python's SHA-256: {bad:?}"
    );
}
