//! `lifecycle inspect` as a user runs it (SPEC 9): the answer for customers of the bundled
//! sample in each stage, `--as-of` moving their timers, prediction's `churn_risk` and
//! P(alive), unknown, erased and impossible ids, and every answer validated against the
//! committed JSON Schema by the reference validator (Python's `jsonschema`).
//!
//! Expected values are written from the SPEC and the sample's lines (quoted where used),
//! never copied from a run: default rules, 60 days of inactivity, 90 days in churning, one
//! hour of allowed lateness, a 30-day cooldown.

use std::path::Path;
use std::process::{Command, Output};

use lifecycle::domain::Timestamp;
use serde_json::{Value, json};

const SAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/crm-events.jsonl");
const PREDICTION: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/samples/prediction.toml");
const SCHEMA: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/docs/schemas/customer.schema.json"
);

fn lifecycle(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_lifecycle"))
        .args(args)
        .output()
        .expect("the lifecycle binary runs")
}

/// The answer for `customer` after `input`, with more arguments; it must succeed.
fn inspect(input: &str, customer: &str, more: &[&str]) -> Value {
    let mut args = vec!["inspect", "--input", input, "--customer", customer];
    args.extend_from_slice(more);
    let out = lifecycle(&args);
    assert!(
        out.status.success(),
        "inspect {customer}: {out:?}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    assert_eq!(
        text.lines().count(),
        1,
        "one JSON object on one line: {text}"
    );
    serde_json::from_str(&text).expect("a JSON object")
}

/// The `unless` of an inactivity timer, as the answer words it.
fn inactivity_unless(stamp: &str, last: &str, fires_at: &str) -> String {
    format!(
        "moves to churning at {stamp} unless an activity event (engagement, purchase or \
         subscription_started) dated after {last} arrives before the clock reaches {fires_at}"
    )
}

fn no_reactivation_unless(stamp: &str, fires_at: &str) -> String {
    format!(
        "moves to churned at {stamp} unless a conversion event (purchase with an amount above 0 \
         or subscription_started) arrives before the clock reaches {fires_at}"
    )
}

/// ana: lead (e-001, 01-03), first conversion (e-002, 01-10 12:30), purchases e-006 and e-008
/// (3 by 02-05), mature on her feedback e-011 (02-15 10:00: 35 days after the first
/// conversion), last activity e-026 (05-01 10:00) so inactive from 06-30 10:00 (fired by
/// e-027 on 07-15), churned 90 days later, 09-28 10:00 (fired by e-030 on 10-01), and e-030
/// itself, a purchase on 10-01 10:00, reactivates her: 5 purchases, more than 30 days after
/// the first conversion, so `mature`, her 6th transition.
fn ana_last_sent() -> Value {
    json!({
        "nurture_lead": "2025-01-03T09:00:00Z",
        "welcome_onboarding": "2025-01-10T12:30:00Z",
        "loyalty_reward": "2025-02-15T10:00:00Z",
        // NPS 10 from a customer mature after that event.
        "advocacy_invite": "2025-02-15T10:00:00Z",
        "retention_offer": "2025-06-30T10:00:00Z",
        "win_back_campaign": "2025-09-28T10:00:00Z",
        "welcome_back": "2025-10-01T10:00:00Z",
    })
}

#[test]
fn a_reactivated_customer_says_why_what_next_and_what_was_sent() {
    let answer = inspect(SAMPLE, "ana", &[]);
    let expected = json!({
        "customer_id": "ana",
        "stage": "mature",
        "stage_entered_at": "2025-10-01T10:00:00Z",
        "seq": 6,
        "first_seen": "2025-01-03T09:00:00Z",
        "first_conversion_at": "2025-01-10T12:30:00Z",
        "last_activity_at": "2025-10-01T10:00:00Z",
        "purchase_count": 5,
        "total_spend": 49.9 + 19.0 + 99.0 + 35.0 + 80.0,
        "refund_total": 0.0,
        "complaint_count": 0,
        "last_nps": 10,
        "contactable": true,
        "need_level": "self_actualization",
        "p_alive": null,
        "why": {
            "reason": "reactivated",
            "at": "2025-10-01T10:00:00Z",
            "cause": {"event_id": "e-030"},
            "explain": "a conversion (purchase) while churned; the mature rule holds",
            "facts": {"event_type": "purchase", "from": "churned", "mature_rule_held": true},
        },
        "next": [{
            "kind": "inactivity",
            "stamp": "2025-11-30T10:00:00Z",
            "fires_at": "2025-11-30T11:00:00Z",
            "moves_to": "churning",
            "action": "retention_offer",
            "unless": inactivity_unless(
                "2025-11-30T10:00:00Z",
                "2025-10-01T10:00:00Z",
                "2025-11-30T11:00:00Z"
            ),
        }],
        "last_sent": ana_last_sent(),
        "clock": "2025-10-01T10:00:00Z",
        "position": {"lines": 32},
    });
    assert_eq!(answer, expected);
}

#[test]
fn timer_transitions_name_their_timer_and_stamp() {
    // cy: subscription_started e-005 (01-21 10:00), complaint e-009, cancelled e-012
    // (02-20: churning), churned 90 days later (05-21 10:00), reactivated by e-028
    // (subscription_started 08-01 10:00: no purchase, so `new`), inactive 60 days after
    // it, 09-30 10:00, which e-030 (10-01 10:00) passes by more than the hour of lateness.
    let cy = inspect(SAMPLE, "cy", &[]);
    assert_eq!(cy["stage"], "churning");
    assert_eq!(cy["seq"], 6);
    assert_eq!(cy["stage_entered_at"], "2025-09-30T10:00:00Z");
    assert_eq!(
        cy["why"],
        json!({
            "reason": "inactivity",
            "at": "2025-09-30T10:00:00Z",
            "cause": {"timer": "inactivity", "stamp": "2025-09-30T10:00:00Z"},
            "explain": "no activity since 2025-08-01T10:00:00Z: 60 days of inactivity",
            "facts": {
                "last_activity_at": "2025-08-01T10:00:00Z",
                "inactivity_days": 60,
                "allowed_lateness_secs": 3600,
            },
        })
    );
    // 90 days after 09-30: 12-29.
    assert_eq!(
        cy["next"],
        json!([{
            "kind": "no_reactivation",
            "stamp": "2025-12-29T10:00:00Z",
            "fires_at": "2025-12-29T11:00:00Z",
            "moves_to": "churned",
            "action": "win_back_campaign",
            "unless": no_reactivation_unless("2025-12-29T10:00:00Z", "2025-12-29T11:00:00Z"),
        }])
    );
    assert_eq!(
        cy["last_sent"],
        json!({
            "welcome_onboarding": "2025-01-21T10:00:00Z",
            "service_recovery": "2025-02-08T09:10:00Z",
            "retention_offer": "2025-09-30T10:00:00Z",
            "win_back_campaign": "2025-05-21T10:00:00Z",
            "welcome_back": "2025-08-01T10:00:00Z",
        })
    );
    assert_eq!(
        (&cy["complaint_count"], &cy["first_conversion_at"]),
        (&json!(1), &json!("2025-01-21T10:00:00Z"))
    );

    // eli: consent withdrawn (e-014, 02-25), a purchase e-015 (02-26 08:30: `new`, its
    // welcome suppressed), a high-severity ticket e-016 (03-01 09:00: service_recovery is
    // sent anyway), consent granted again (04-01); inactive 60 days after 02-26 08:30, that
    // is 04-27 08:30 (fired by e-026 on 05-01), churned 90 days later, 07-26 08:30 (fired by
    // e-028 on 08-01). `churned` arms no timer.
    let eli = inspect(SAMPLE, "eli", &[]);
    assert_eq!((&eli["stage"], &eli["seq"]), (&json!("churned"), &json!(4)));
    assert_eq!(
        eli["why"],
        json!({
            "reason": "no_reactivation",
            "at": "2025-07-26T08:30:00Z",
            "cause": {"timer": "no_reactivation", "stamp": "2025-07-26T08:30:00Z"},
            "explain": "churning since 2025-04-27T08:30:00Z with no reactivation for 90 days",
            "facts": {
                "churning_since": "2025-04-27T08:30:00Z",
                "churned_after_days": 90,
                "allowed_lateness_secs": 3600,
            },
        })
    );
    assert_eq!(eli["next"], json!([]));
    assert_eq!(
        eli["last_sent"],
        json!({
            "service_recovery": "2025-03-01T09:00:00Z",
            "retention_offer": "2025-04-27T08:30:00Z",
            "win_back_campaign": "2025-07-26T08:30:00Z",
        })
    );
    assert_eq!(eli["contactable"], true);
}

#[test]
fn a_prospect_and_the_customers_of_a_shorter_input() {
    // gus: one lead_created, e-029 (09-01 10:00); a prospect has no timer.
    let gus = inspect(SAMPLE, "gus", &[]);
    assert_eq!(
        (&gus["stage"], &gus["seq"], &gus["next"]),
        (&json!("prospect"), &json!(1), &json!([]))
    );
    assert_eq!(
        gus["why"],
        json!({
            "reason": "first_seen",
            "at": "2025-09-01T10:00:00Z",
            "cause": {"event_id": "e-029"},
            "explain": "first event seen for this customer (lead_created)",
            "facts": {"event_type": "lead_created"},
        })
    );
    assert_eq!(
        gus["last_sent"],
        json!({"nurture_lead": "2025-09-01T10:00:00Z"})
    );

    // The sample's first 12 lines: cy is `new` (e-005), ana just turned `mature` (e-011).
    let dir = tempfile::tempdir().unwrap();
    let head = dir.path().join("head.jsonl");
    let text = std::fs::read_to_string(SAMPLE).unwrap();
    let lines: Vec<&str> = text.lines().take(12).collect();
    std::fs::write(&head, lines.join("\n") + "\n").unwrap();
    let head = head.to_str().unwrap();
    let cy = inspect(head, "cy", &[]);
    assert_eq!((&cy["stage"], &cy["seq"]), (&json!("new"), &json!(2)));
    assert_eq!(
        cy["why"],
        json!({
            "reason": "first_conversion",
            "at": "2025-01-21T10:00:00Z",
            "cause": {"event_id": "e-005"},
            "explain": "first conversion (subscription_started)",
            "facts": {"event_type": "subscription_started"},
        })
    );
    // 60 days after 01-21: 03-22.
    assert_eq!(cy["next"][0]["stamp"], "2025-03-22T10:00:00Z");
    assert_eq!(cy["next"][0]["fires_at"], "2025-03-22T11:00:00Z");
    assert_eq!(cy["position"], json!({"lines": 12}));
    assert_eq!(cy["clock"], "2025-02-15T10:00:00Z", "e-011, the 12th line");
    let ana = inspect(head, "ana", &[]);
    assert_eq!(
        ana["why"],
        json!({
            "reason": "mature_criteria",
            "at": "2025-02-15T10:00:00Z",
            "cause": {"event_id": "e-011"},
            "explain": "3 purchases >= 3 and 35 days since the first conversion >= 30",
            "facts": {
                "purchase_count": 3,
                "mature_min_purchases": 3,
                "days_since_first_conversion": 35,
                "mature_min_tenure_days": 30,
            },
        })
    );
}

#[test]
fn as_of_moves_the_clock_and_fires_the_timers_due() {
    // ana's inactivity timer (stamp 11-30 10:00) fires when the clock reaches 11:00.
    let before = inspect(SAMPLE, "ana", &["--as-of", "2025-11-30T10:59:59Z"]);
    assert_eq!(before["stage"], "mature");
    assert_eq!(before["clock"], "2025-11-30T10:59:59Z");
    assert_eq!(before["next"][0]["kind"], "inactivity");
    let after = inspect(SAMPLE, "ana", &["--as-of", "2025-11-30T11:00:00Z"]);
    assert_eq!(
        (&after["stage"], &after["seq"]),
        (&json!("churning"), &json!(7))
    );
    assert_eq!(
        after["why"]["cause"],
        json!({"timer": "inactivity", "stamp": "2025-11-30T10:00:00Z"})
    );
    assert_eq!(
        after["why"]["explain"],
        "no activity since 2025-10-01T10:00:00Z: 60 days of inactivity"
    );
    // 90 days after 2025-11-30: 2026-02-28.
    assert_eq!(after["next"][0]["kind"], "no_reactivation");
    assert_eq!(after["next"][0]["stamp"], "2026-02-28T10:00:00Z");
    assert_eq!(after["next"][0]["fires_at"], "2026-02-28T11:00:00Z");
    assert_eq!(
        after["last_sent"]["retention_offer"],
        "2025-11-30T10:00:00Z"
    );
    assert_eq!(after["clock"], "2025-11-30T11:00:00Z");
    assert_eq!(after["position"], json!({"lines": 32}));
}

/// samples/prediction.toml: BG/NBD with the CDNOW fit of the paper, in weeks, and
/// `churn_risk` below P(alive) 0.5.
const R: f64 = 0.243;
const ALPHA: f64 = 4.414;
const A: f64 = 0.793;
const B: f64 = 2.426;
const WEEK_NS: f64 = 7.0 * 86_400.0 * 1e9;

/// SPEC 8: nanoseconds after the first purchase at which P(alive) falls below `p`, with `x`
/// repeat purchases, the latest `t_x` weeks after the first.
fn crossing_ns(x: f64, t_x: f64, p: f64) -> f64 {
    let k = (1.0 / p - 1.0) * (B + x - 1.0) / A;
    let weeks = (ALPHA + t_x) * k.powf(1.0 / (R + x)) - ALPHA;
    weeks.max(t_x) * WEEK_NS
}

fn nanos(at: &str) -> i64 {
    Timestamp::parse_rfc3339(at).unwrap().as_nanos()
}

#[test]
fn with_prediction_on_churn_risk_is_a_timer_and_p_alive_is_given() {
    let answer = inspect(SAMPLE, "ana", &["--config", PREDICTION]);
    // ana's purchases above 0, each on its own day: 01-10 12:30 (the first), 01-28, 02-05,
    // 03-11 13:00 and 10-01 10:00, so x = 4 and t_x is 10-01 10:00 less 01-10 12:30.
    let t0 = nanos("2025-01-10T12:30:00Z");
    let t_x = (nanos("2025-10-01T10:00:00Z") - t0) as f64 / WEEK_NS;
    let stamp = t0 + crossing_ns(4.0, t_x, 0.5).ceil() as i64;
    let next = answer["next"].as_array().unwrap();
    assert_eq!(next.len(), 2, "{next:?}");
    assert_eq!(next[0]["kind"], "inactivity", "it fires first: 11-30");
    assert_eq!(next[1]["kind"], "churn_risk");
    assert_eq!(
        (&next[1]["moves_to"], &next[1]["action"]),
        (&Value::Null, &json!("churn_risk"))
    );
    let at = |v: &Value| nanos(v.as_str().unwrap());
    assert!((at(&next[1]["stamp"]) - stamp).abs() < 1_000, "{}", next[1]);
    assert_eq!(
        at(&next[1]["fires_at"]) - at(&next[1]["stamp"]),
        3_600_000_000_000
    );
    assert!(
        next[1]["unless"]
            .as_str()
            .unwrap()
            .contains("unless a purchase with an amount above 0 arrives"),
        "{}",
        next[1]
    );
    // P(alive) at the clock, 10-01 10:00, the latest purchase: T = t_x (SPEC 7).
    let p = 1.0 / (1.0 + A / (B + 4.0 - 1.0));
    assert!(
        (answer["p_alive"].as_f64().unwrap() - p).abs() < 1e-9,
        "{answer}"
    );
    // Before e-030 her crossing with x = 3 (the latest purchase 03-11 13:00) came first of
    // her timers and fired (mature, contactable) when e-027 moved the clock to 07-15.
    let t_x3 = (nanos("2025-03-11T13:00:00Z") - t0) as f64 / WEEK_NS;
    let fired = t0 + crossing_ns(3.0, t_x3, 0.5).ceil() as i64;
    assert!(
        fired < nanos("2025-06-30T10:00:00Z"),
        "before her inactivity"
    );
    assert!(
        (at(&answer["last_sent"]["churn_risk"]) - fired).abs() < 1_000,
        "{answer}"
    );
    // Without prediction: no churn_risk timer, and p_alive null.
    let off = inspect(SAMPLE, "ana", &[]);
    assert_eq!(off["next"].as_array().unwrap().len(), 1);
    assert_eq!(off["p_alive"], Value::Null);
}

#[test]
fn an_unknown_or_erased_customer_exits_1_without_naming_it() {
    // fay: a lead (e-023) erased by e-024; zed: never seen.
    for id in ["fay", "zed"] {
        let out = lifecycle(&["inspect", "--input", SAMPLE, "--customer", id]);
        assert_eq!(out.status.code(), Some(1), "{id}: {out:?}");
        assert!(out.stdout.is_empty(), "{id}: nothing on stdout");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains("never seen, or erased"), "{id}: {stderr}");
        assert!(
            !stderr.contains(id),
            "{id}: the id is not repeated: {stderr}"
        );
    }
}

#[test]
fn an_id_no_customer_can_have_is_a_usage_error() {
    let long = "c".repeat(129);
    for (id, says) in [
        ("", "is empty"),
        (long.as_str(), "has 129 bytes"),
        ("c\u{7}1", "control character"),
    ] {
        let out = lifecycle(&["inspect", "--input", SAMPLE, "--customer", id]);
        assert_eq!(out.status.code(), Some(2), "{id:?}: {out:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains(says), "{id:?}: {stderr}");
        assert!(id.is_empty() || !stderr.contains(id), "{stderr}");
    }
    // 128 bytes is an id (unknown here).
    let out = lifecycle(&["inspect", "--input", SAMPLE, "--customer", &long[..128]]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
}

#[test]
fn ids_with_percent_signs_and_unicode_are_taken_as_they_are() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("ids.jsonl");
    let ids = ["c%2F42", "zoë 🙂/1"];
    let mut text = String::new();
    for (i, id) in ids.iter().enumerate() {
        text.push_str(&format!(
            r#"{{"event_id":"e-{i}","customer_id":"{id}","type":"purchase","occurred_at":"2025-03-0{}T10:00:00Z","data":{{"amount":5}}}}"#,
            i + 1
        ));
        text.push('\n');
    }
    std::fs::write(&input, text).unwrap();
    let input = input.to_str().unwrap();
    for (i, id) in ids.iter().enumerate() {
        let answer = inspect(input, id, &[]);
        assert_eq!(answer["customer_id"], *id);
        assert_eq!(answer["stage"], "new");
        assert_eq!(
            answer["why"]["cause"],
            json!({"event_id": format!("e-{i}")})
        );
    }
    // "c%2F42" is not "c/42" decoded: the id is taken as given.
    let out = lifecycle(&["inspect", "--input", input, "--customer", "c/42"]);
    assert_eq!(out.status.code(), Some(1));
}

/// Every answer the CLI gives validates against docs/schemas/customer.schema.json, with the
/// reference validator; answers broken on purpose do not.
#[test]
fn every_answer_matches_the_committed_schema() {
    let mut answers = Vec::new();
    for id in ["ana", "bo", "cy", "dee", "eli", "gus"] {
        answers.push(inspect(SAMPLE, id, &[]));
        answers.push(inspect(SAMPLE, id, &["--config", PREDICTION]));
        answers.push(inspect(SAMPLE, id, &["--as-of", "2026-06-01T00:00:00Z"]));
    }
    let mut broken = Vec::new();
    for (field, value) in [
        ("stage", json!("gone")),
        ("stage_entered_at", json!("yesterday")),
        ("last_nps", json!(11)),
        ("position", json!({"lines": 3, "offset": 1})),
        ("extra", json!(1)),
    ] {
        let mut a = answers[0].clone();
        a[field] = value;
        broken.push(a);
    }
    let mut without_why = answers[0].clone();
    without_why.as_object_mut().unwrap().remove("why");
    broken.push(without_why);
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, v: &[Value]| {
        let path = dir.path().join(name);
        std::fs::write(&path, serde_json::to_vec(v).unwrap()).unwrap();
        path
    };
    let good = write("answers.json", &answers);
    let bad = write("broken.json", &broken);
    let failures = validate(Path::new(SCHEMA), &good);
    assert!(failures.is_empty(), "{failures:#?}");
    let failures = validate(Path::new(SCHEMA), &bad);
    let failed: Vec<usize> = failures.iter().map(|(i, _)| *i).collect();
    assert_eq!(
        failed
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        broken.len(),
        "every broken answer fails: {failures:#?}"
    );
}

/// Validates each of the JSON array in `instances` with Python's `jsonschema` (the schema's
/// own dialect, draft 2020-12, checked first); returns the errors as (index, message).
fn validate(schema: &Path, instances: &Path) -> Vec<(usize, String)> {
    const SCRIPT: &str = r#"
import json, sys
try:
    import jsonschema
except ImportError:
    sys.exit(3)
schema = json.load(open(sys.argv[1]))
cls = jsonschema.validators.validator_for(schema)
assert cls.__name__ == "Draft202012Validator", cls.__name__
# Without rfc3339-validator, jsonschema does not check `date-time` (silently).
if "date-time" not in cls.FORMAT_CHECKER.checkers:
    sys.exit(3)
cls.check_schema(schema)
validator = cls(schema, format_checker=cls.FORMAT_CHECKER)
for i, instance in enumerate(json.load(open(sys.argv[2]))):
    for error in validator.iter_errors(instance):
        print(json.dumps([i, error.json_path + ": " + error.message]))
"#;
    let out = Command::new("python3")
        .args(["-c", SCRIPT])
        .arg(schema)
        .arg(instances)
        .output()
        .expect("python3 runs (it is the reference validator's language)");
    if out.status.code() == Some(3) {
        panic!(
            "Python's jsonschema package, or the rfc3339-validator it checks date-times with, \
             is missing: install them with \
             `python3 -m pip install --user jsonschema rfc3339-validator` (scripts/test.sh does)"
        );
    }
    assert!(
        out.status.success(),
        "the validator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("an error line"))
        .collect()
}
