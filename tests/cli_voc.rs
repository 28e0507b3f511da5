//! `lifecycle voc` and the voice-of-the-customer lines of replay's summary (SPEC 10,
//! "Analyse"), as a user runs them. Expected values are worked out from SPEC 2, 7 and 10.

mod common;

use std::process::{Command, Output};

use common::*;
use serde_json::{Value, json};

fn lifecycle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lifecycle"))
        .args(args)
        .output()
        .expect("the lifecycle binary runs")
}

/// `lifecycle voc` over `jsonl` (and a config text, when given): its JSON report.
fn voc(jsonl: &str, config: Option<&str>, extra: &[&str]) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, jsonl).unwrap();
    let mut args = vec!["voc", "--input", input.to_str().unwrap()];
    let config_path = dir.path().join("c.toml");
    if let Some(text) = config {
        std::fs::write(&config_path, text).unwrap();
        args.extend(["--config", config_path.to_str().unwrap()]);
    }
    args.extend(extra);
    let out = lifecycle(&args);
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one JSON object: {stdout}");
    serde_json::from_str(&stdout).unwrap()
}

fn fb(id: &str, c: &str, at: &str, data: Value) -> String {
    feedback(id, c, at, &data.to_string())
}

/// Customers whose feedback lands in every stage but `new` and `churned`, each for a reason
/// of SPEC 2, plus a duplicate, a rejected answer and an erasure.
fn stages_stream() -> String {
    jsonl(&[
        // c1: new after its first purchase, three purchases by day 2 (tenure too short for
        // mature); its feedback on day 40 makes the mature rule hold (3 purchases, 40 >= 30
        // days): the answer counts under `mature`, the stage after the event.
        buy("e1", "c1", &d(0)),
        buy("e2", "c1", &d(1)),
        buy("e3", "c1", &d(2)),
        fb("e4", "c1", &d(40), json!({"nps": 10})),
        // c2: its first event is a feedback: created in `prospect`.
        fb(
            "e5",
            "c2",
            &d(41),
            json!({"nps": 9, "satisfaction": 5, "feature": "checkout",
                "kano": {"functional": 2, "dysfunctional": 5}}),
        ),
        // The same event again: a duplicate, not counted.
        fb(
            "e5",
            "c2",
            &d(41),
            json!({"nps": 9, "satisfaction": 5, "feature": "checkout",
                "kano": {"functional": 2, "dysfunctional": 5}}),
        ),
        // Out of range: rejected, not counted.
        fb("e6", "c2", &d(41), json!({"nps": 11})),
        // c4: a prospect's answer, then the customer is erased: the counts stay.
        fb("e7", "c4", &d(42), json!({"nps": 8, "satisfaction": 3})),
        erase("e8", "c4", &d(43)),
        // c3: new on day 0; by day 100 the inactivity timer (day 60 + 1 h) has fired before
        // the feedback is applied, which moves nothing: `churning`.
        buy("e9", "c3", &d(0)),
        fb("e10", "c3", &d(100), json!({"nps": 5})),
    ])
}

fn stage(p: u64, pa: u64, d: u64, nps: Value, mean: Value, sat: u64) -> Value {
    json!({"promoters": p, "passives": pa, "detractors": d, "answers": p + pa + d,
        "nps": nps, "mean_satisfaction": mean, "satisfaction_answers": sat})
}

fn stages_expected() -> Value {
    json!({
        "kano": {"checkout": {
            "counts": {"A": 0, "O": 0, "M": 1, "I": 0, "R": 0, "Q": 0},
            "better": 0.0, "worse": -1.0, "category": "M"}},
        "nps": {
            // c2 (9, satisfaction 5) and c4 (8, satisfaction 3): 100 * (1 - 0) / 2.
            "prospect": stage(1, 1, 0, json!(50.0), json!(4.0), 2),
            "new": stage(0, 0, 0, Value::Null, Value::Null, 0),
            "mature": stage(1, 0, 0, json!(100.0), Value::Null, 0),
            "churning": stage(0, 0, 1, json!(-100.0), Value::Null, 0),
            "churned": stage(0, 0, 0, Value::Null, Value::Null, 0),
        },
        "kano_without_feature": 0,
        "holdout": {},
    })
}

#[test]
fn answers_count_under_the_stage_after_the_event_and_survive_erasure() {
    assert_eq!(voc(&stages_stream(), None, &[]), stages_expected());
}

#[test]
fn as_of_moves_stages_but_not_the_answers() {
    // By day 400 c1 and c3 have churned by timers; each answer keeps the stage it was
    // given in.
    let as_of = d(400);
    assert_eq!(
        voc(&stages_stream(), None, &["--as-of", &as_of]),
        stages_expected()
    );
    let out = lifecycle(&["voc", "--input", "-", "--as-of", "soon"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn replay_counts_the_same_in_memory() {
    let out = replay_lines(&stages_stream());
    assert_eq!(out.outcome("duplicate"), 1);
    assert_eq!(out.rejected("invalid_value"), 1);
    let report = serde_json::to_value(out.summary.voc.report()).unwrap();
    assert_eq!(report, stages_expected());
}

#[test]
fn every_cell_of_the_kano_table_reaches_its_class_through_voc() {
    // SPEC 7: rows functional 1..5, columns dysfunctional 1..5.
    let table = ["QAAAO", "RIIIM", "RIIIM", "RIIIM", "RRRRQ"];
    let mut lines = Vec::new();
    for f in 1..=5 {
        for d_ in 1..=5 {
            lines.push(fb(
                &format!("e{f}{d_}"),
                "c1",
                &d(0),
                json!({"feature": format!("f{f}d{d_}"),
                    "kano": {"functional": f, "dysfunctional": d_}}),
            ));
        }
    }
    let report = voc(&jsonl(&lines), None, &[]);
    let kano = report["kano"].as_object().unwrap();
    assert_eq!(kano.len(), 25);
    for (f, row) in table.iter().enumerate() {
        for (d_, letter) in row.chars().enumerate() {
            let feature = &kano[&format!("f{}d{}", f + 1, d_ + 1)];
            let letter = letter.to_string();
            assert_eq!(feature["category"], json!(letter), "{feature}");
            assert_eq!(feature["counts"][&letter], json!(1), "{feature}");
            let (better, worse) = match letter.as_str() {
                "A" => (json!(1.0), json!(0.0)),
                "O" => (json!(1.0), json!(-1.0)),
                "M" => (json!(0.0), json!(-1.0)),
                "I" => (json!(0.0), json!(0.0)),
                _ => (Value::Null, Value::Null), // R, Q: no denominator
            };
            assert_eq!(feature["better"], better, "{letter} {feature}");
            assert_eq!(feature["worse"], worse, "{letter} {feature}");
        }
    }
}

#[test]
fn better_worse_and_the_tie_break_of_one_feature() {
    // search: A (1,2), A (1,4), O (1,5), M (2,5), M (4,5), I (3,3), R (5,1), Q (5,5):
    // A 2, M 2 tie -> M; better (2+1)/(2+1+2+1) = 0.5, worse -(1+2)/6 = -0.5.
    let pairs = [
        (1, 2),
        (1, 4),
        (1, 5),
        (2, 5),
        (4, 5),
        (3, 3),
        (5, 1),
        (5, 5),
    ];
    let lines: Vec<String> = pairs
        .iter()
        .enumerate()
        .map(|(i, (f, d_))| {
            fb(
                &format!("e{i}"),
                &format!("c{i}"),
                &d(0),
                json!({"feature": "search", "kano": {"functional": f, "dysfunctional": d_}}),
            )
        })
        .collect();
    let report = voc(&jsonl(&lines), None, &[]);
    assert_eq!(
        report["kano"]["search"],
        json!({"counts": {"A": 2, "O": 1, "M": 2, "I": 1, "R": 1, "Q": 1},
            "better": 0.5, "worse": -0.5, "category": "M"})
    );
}

#[test]
fn nps_boundaries_and_mean_satisfaction() {
    // Scores 0..=10 from prospects: detractors 0-6 (7), passives 7-8 (2), promoters 9-10
    // (2); NPS = 100 * (2 - 7) / 11. Satisfaction 1..=5 on the first five: mean 3.
    let lines: Vec<String> = (0..=10)
        .map(|n| {
            let data = if n < 5 {
                json!({"nps": n, "satisfaction": n + 1})
            } else {
                json!({"nps": n})
            };
            fb(&format!("e{n}"), &format!("c{n}"), &d(0), data)
        })
        .collect();
    let report = voc(&jsonl(&lines), None, &[]);
    assert_eq!(
        report["nps"]["prospect"],
        stage(2, 2, 7, json!(100.0 * -5.0 / 11.0), json!(3.0), 5)
    );
}

#[test]
fn features_past_max_features_are_counted_as_other() {
    let lines: Vec<String> = ["a", "b", "c", "d", "a"]
        .iter()
        .enumerate()
        .map(|(i, feature)| {
            fb(
                &format!("e{i}"),
                "c1",
                &d(0),
                json!({"feature": feature, "kano": {"functional": 2, "dysfunctional": 5}}),
            )
        })
        .collect();
    let report = voc(&jsonl(&lines), Some("[voc]\nmax_features = 2\n"), &[]);
    let kano = report["kano"].as_object().unwrap();
    let names: Vec<&String> = kano.keys().collect();
    assert_eq!(names, ["a", "b", "other"]);
    assert_eq!(kano["a"]["counts"]["M"], 2);
    assert_eq!(kano["b"]["counts"]["M"], 1);
    assert_eq!(kano["other"]["counts"]["M"], 2);
}

#[test]
fn max_features_of_zero_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.toml");
    std::fs::write(&config, "[voc]\nmax_features = 0\n").unwrap();
    let config = config.to_str().unwrap();
    for args in [
        vec!["check-config", "--config", config],
        vec!["voc", "--input", "-", "--config", config],
    ] {
        let out = lifecycle(&args);
        assert!(!out.status.success(), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("voc.max_features"), "{args:?}: {stderr}");
    }
}

#[test]
fn replay_summary_shows_classes_categories_and_nps_after_its_other_lines() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, stages_stream()).unwrap();
    let out = lifecycle(&[
        "replay",
        "--input",
        input.to_str().unwrap(),
        "--output",
        dir.path().join("out.jsonl").to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    // c2 prospect; c1 and c3 churning (both inactivity timers fired by day 100, c1's after
    // its answer from `mature`); c4 erased.
    let tail = "  customers: 3 (prospect 1, new 0, mature 0, churning 2, churned 0)\n\
                \x20 kano by feature: 1\n\
                \x20   checkout: M (A 0, O 0, M 1, I 0, R 0, Q 0)\n\
                \x20 nps by stage: prospect 50.0 (2 answers), new -, mature 100.0 (1 answers), \
                churning -100.0 (1 answers), churned -\n\
                \x20 uplift by kind: none\n";
    assert!(stderr.ends_with(tail), "{stderr}");
}

/// An answer that cannot be written (a full disk here) is an error with a message and exit
/// 1, for every command that answers on standard output, never a panic (exit 101).
#[test]
fn a_full_standard_output_is_an_error_not_a_panic() {
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/crm-events.jsonl");
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/config/default.toml");
    let diff = [
        "diff",
        "--input",
        sample,
        "--config",
        config,
        "--against",
        config,
    ];
    let diff_json = [&diff[..], &["--json"]].concat();
    let commands: [&[&str]; 5] = [
        &["voc", "--input", sample],
        &["inspect", "--input", sample, "--customer", "ana"],
        &diff,
        &diff_json,
        &["check-config", "--config", config],
    ];
    for args in commands {
        let full = std::fs::File::options()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full (Linux)");
        let out = Command::new(env!("CARGO_BIN_EXE_lifecycle"))
            .args(args)
            .stdout(full)
            .output()
            .expect("the lifecycle binary runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("cannot write to standard output"),
            "{args:?}: {stderr}"
        );
    }
}
