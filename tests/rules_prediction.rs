//! SPEC 8 in the engine: P(alive) in the facts, and the `churn_risk` timer and action: its
//! closed-form instant, the allowed lateness, re-arming by a purchase, its place after the
//! stage timers, consent, and the modified model. Expected instants are computed here from
//! the SPEC's formulas (days after 2025-01-01, as in the other rule tests).

mod common;

use common::*;
use lifecycle::domain::Timestamp;
use serde_json::Value;

/// The CDNOW fit of the BG/NBD paper, weeks.
const R: f64 = 0.243;
const ALPHA: f64 = 4.414;
const A: f64 = 0.793;
const B: f64 = 2.426;
const WEEK_NS: f64 = 7.0 * 86_400.0 * 1e9;

fn config(model: &str, at_risk_below: f64) -> String {
    format!(
        "[prediction]\nmodel = \"{model}\"\nr = {R}\nalpha = {ALPHA}\na = {A}\nb = {B}\nat_risk_below = {at_risk_below:?}\n"
    )
}

/// SPEC 8: the instant, in nanoseconds after `t0`, at which P(alive) falls below `p`, with
/// `x` repeat purchases, the latest `t_x` weeks after the first (`mbg`: b + x, else b + x - 1).
fn crossing_ns(x: f64, t_x: f64, p: f64, mbg: bool) -> f64 {
    let k = (1.0 / p - 1.0) * (if mbg { B + x } else { B + x - 1.0 }) / A;
    let weeks = (ALPHA + t_x) * k.powf(1.0 / (R + x)) - ALPHA;
    weeks.max(t_x) * WEEK_NS
}

/// SPEC 7 (BG/NBD) at `t` weeks.
fn p_alive(x: f64, t_x: f64, t: f64) -> f64 {
    if x == 0.0 {
        return 1.0;
    }
    1.0 / (1.0 + A / (B + x - 1.0) * ((ALPHA + t) / (ALPHA + t_x)).powf(R + x))
}

fn nanos(at: &str) -> i64 {
    Timestamp::parse_rfc3339(at).unwrap().as_nanos()
}

fn at_of(r: &Value) -> i64 {
    nanos(r["at"].as_str().unwrap())
}

fn risk_actions(out: &Output) -> Vec<&Value> {
    out.action_records()
        .into_iter()
        .filter(|a| a["kind"] == "churn_risk")
        .collect()
}

/// Three purchases a week apart: x = 2, t_x = 2 weeks.
fn three_weekly_purchases() -> Vec<String> {
    vec![
        buy("e1", "c1", &d(0)),
        buy("e2", "c1", &d(7)),
        buy("e3", "c1", &d(14)),
    ]
}

#[test]
fn churn_risk_fires_at_the_closed_form_crossing_plus_the_allowed_lateness() {
    let events = jsonl(&three_weekly_purchases());
    let stamp = nanos(&d(0)) + crossing_ns(2.0, 2.0, 0.5, false).ceil() as i64;
    // Before the inactivity timer (day 14 + 60): the prediction acts first.
    assert!(stamp < nanos(&d(74)));
    let hour = 3_600_000_000_000;
    let just_before = ts(0, 0, stamp + hour - nanos(&d(0)) - 1);
    let out = replay_with(&events, Some(&just_before), Some(&config("bg_nbd", 0.5)));
    assert!(
        risk_actions(&out).is_empty(),
        "not yet: {:?}",
        out.actions()
    );
    let fired_at = ts(0, 0, stamp + hour - nanos(&d(0)));
    let out = replay_with(&events, Some(&fired_at), Some(&config("bg_nbd", 0.5)));
    let risk = risk_actions(&out);
    assert_eq!(risk.len(), 1, "{:?}", out.actions());
    let a = risk[0];
    assert!(
        (at_of(a) - stamp).abs() < 1_000,
        "stamped at the crossing: {a}"
    );
    assert_eq!(a["category"], "retention");
    assert_eq!(a["reason"], "churn_risk");
    assert_eq!(a["cause_event_id"], Value::Null, "a timer's action");
    assert_eq!(a["facts"]["repeat_purchases"], 2);
    assert_eq!(a["facts"]["at_risk_below"], 0.5);
    let p = a["facts"]["p_alive"].as_f64().unwrap();
    let weeks = (at_of(a) - nanos(&d(0))) as f64 / WEEK_NS;
    // At the crossing P(alive) is the threshold (to rounding).
    assert!(
        (p - p_alive(2.0, 2.0, weeks)).abs() < 1e-9 && (p - 0.5).abs() < 1e-9,
        "{a}"
    );
    // It moves no stage: the only timer transition is the inactivity one, later.
    let later = replay_with(&events, Some(&d(200)), Some(&config("bg_nbd", 0.5)));
    assert_eq!(risk_actions(&later).len(), 1, "once per purchase history");
    assert_eq!(
        later.timer_transitions(),
        vec![
            tr("c1", "new", "churning", "inactivity", &d(74), 3),
            tr("c1", "churning", "churned", "no_reactivation", &d(164), 4),
        ]
        .into_iter()
        .map(|t| t.to_string())
        .collect::<Vec<_>>()
    );
}

#[test]
fn a_purchase_moves_the_crossing_and_after_a_firing_arms_it_again() {
    let config = config("bg_nbd", 0.7);
    let day = 86_400_000_000_000_i64;
    let first = nanos(&d(0)) + crossing_ns(2.0, 2.0, 0.7, false).ceil() as i64;
    // A purchase after the first firing: x = 3, t_x = 9 weeks (day 63), and a new crossing,
    // before its inactivity timer (day 123).
    let mut events = three_weekly_purchases();
    events.push(buy("e4", "c1", &d(63)));
    let second = nanos(&d(0)) + crossing_ns(3.0, 9.0, 0.7, false).ceil() as i64;
    assert!(first < nanos(&d(63)) && second < nanos(&d(123)));
    let out = replay_with(&jsonl(&events), Some(&d(400)), Some(&config));
    let risk = risk_actions(&out);
    assert_eq!(risk.len(), 2, "{:?}", out.actions());
    assert!((at_of(risk[0]) - first).abs() < 1_000 && (at_of(risk[1]) - second).abs() < 1_000);
    assert_eq!(risk[1]["facts"]["repeat_purchases"], 3);
    // A purchase before the crossing replaces it: only the later one fires.
    let mut events = three_weekly_purchases();
    events.push(buy("e4", "c1", &d(21)));
    let moved = nanos(&d(0)) + crossing_ns(3.0, 3.0, 0.7, false).ceil() as i64;
    assert!(first > nanos(&d(21)) && moved < nanos(&d(81)) && moved > first + day);
    let out = replay_with(&jsonl(&events), Some(&d(400)), Some(&config));
    let risk = risk_actions(&out);
    assert_eq!(risk.len(), 1, "{:?}", out.actions());
    assert!((at_of(risk[0]) - moved).abs() < 1_000);
}

#[test]
fn a_crossing_after_the_inactivity_timer_never_fires() {
    // A low threshold crosses late; by then the customer is churning, and churn_risk is for
    // `new` and `mature` only.
    let events = jsonl(&three_weekly_purchases());
    let stamp = nanos(&d(0)) + crossing_ns(2.0, 2.0, 0.05, false).ceil() as i64;
    assert!(stamp > nanos(&d(74)));
    let out = replay_with(&events, Some(&d(1000)), Some(&config("bg_nbd", 0.05)));
    assert!(risk_actions(&out).is_empty(), "{:?}", out.actions());
}

/// P(alive) fell below the threshold while the customer was churning; a reactivation by a
/// subscription (no transaction: x and t_x unchanged) brings it back to `mature` (three
/// purchases) with P(alive) still below. `churn_risk` is for a customer in `new` or `mature` when it falls (SPEC 8):
/// no action, and none dated at the crossing, when the customer was churning. (A purchase
/// re-arms it: `a_purchase_moves_the_crossing_and_after_a_firing_arms_it_again`.)
#[test]
fn a_crossing_while_churning_gives_no_action_after_a_reactivation() {
    let day = 86_400_000_000_000_i64;
    let stamp = nanos(&d(0)) + crossing_ns(2.0, 2.0, 0.05, false).ceil() as i64;
    assert!(stamp > nanos(&d(74)), "the crossing falls while churning");
    let back = (stamp - nanos(&d(0))) / day + 1;
    let mut events = three_weekly_purchases();
    events.push(subscribe("e4", "c1", &d(back)));
    let out = replay_with(
        &jsonl(&events),
        Some(&d(back + 30)),
        Some(&config("bg_nbd", 0.05)),
    );
    let reactivated = out
        .records
        .iter()
        .any(|r| r["reason"] == "reactivated" && r["to"] == "mature");
    assert!(reactivated, "{:?}", out.transitions());
    assert!(risk_actions(&out).is_empty(), "{:?}", out.actions());
}

/// Under the modified model P(alive) is below 1 after the first purchase: the `first_seen`
/// record of a purchase counts it, as the other records of the same event do.
#[test]
fn the_first_seen_record_counts_its_own_purchase() {
    let events = jsonl(&[buy("e1", "c1", &d(0))]);
    let out = replay_with(&events, Some(&d(1)), Some(&config("mbg_nbd", 0.0)));
    let expected = 1.0 / (1.0 + A / B);
    let at_purchase: Vec<f64> = out
        .records
        .iter()
        .filter(|r| r["at"] == d(0).as_str())
        .map(|r| r["facts"]["p_alive"].as_f64().expect("p_alive"))
        .collect();
    assert!(
        at_purchase.len() >= 3,
        "first_seen, first_conversion, welcome"
    );
    for p in at_purchase {
        assert!((p - expected).abs() < 1e-12, "{p} against {expected}");
    }
}

#[test]
fn without_a_repeat_purchase_only_the_modified_model_fires() {
    let events = jsonl(&[buy("e1", "c1", &d(0))]);
    let out = replay_with(&events, Some(&d(59)), Some(&config("bg_nbd", 0.9)));
    assert!(
        risk_actions(&out).is_empty(),
        "BG/NBD: P(alive) = 1 without a repeat"
    );
    let stamp = nanos(&d(0)) + crossing_ns(0.0, 0.0, 0.9, true).ceil() as i64;
    assert!(stamp < nanos(&d(60)), "before inactivity");
    let out = replay_with(&events, Some(&d(61)), Some(&config("mbg_nbd", 0.9)));
    let risk = risk_actions(&out);
    assert_eq!(risk.len(), 1, "{:?}", out.actions());
    assert!((at_of(risk[0]) - stamp).abs() < 1_000, "{}", risk[0]);
}

#[test]
fn consent_and_cooldown_apply_to_churn_risk() {
    let mut events = three_weekly_purchases();
    events.push(withdraw("e9", "c1", &d(20)));
    let out = replay_with(&jsonl(&events), Some(&d(70)), Some(&config("bg_nbd", 0.5)));
    assert!(risk_actions(&out).is_empty());
    assert_eq!(out.suppressed("no_consent"), 1, "{:?}", out.summary);
    // A purchase the day after the first firing arms a second crossing inside the first's
    // 30-day cooldown: planned, and suppressed.
    let config = config("bg_nbd", 0.7);
    let day = 86_400_000_000_000_i64;
    let mut events = three_weekly_purchases();
    let first = nanos(&d(0)) + crossing_ns(2.0, 2.0, 0.7, false).ceil() as i64;
    let after = (first - nanos(&d(0))) / day + 1;
    events.push(buy("e4", "c1", &d(after)));
    let second = nanos(&d(0)) + crossing_ns(3.0, after as f64 / 7.0, 0.7, false).ceil() as i64;
    assert!(second < first + 30 * day && second < nanos(&d(after + 60)));
    let out = replay_with(&jsonl(&events), Some(&d(after + 59)), Some(&config));
    assert_eq!(risk_actions(&out).len(), 1, "{:?}", out.actions());
    assert_eq!(out.suppressed("cooldown"), 1, "{:?}", out.summary);
}

#[test]
fn p_alive_is_in_the_facts_of_every_record_only_with_prediction_on() {
    let events = jsonl(&three_weekly_purchases());
    let on = replay_with(&events, Some(&d(100)), Some(&config("bg_nbd", 0.0)));
    assert!(risk_actions(&on).is_empty(), "at_risk_below = 0: no action");
    for r in &on.records {
        let p = r["facts"]["p_alive"].as_f64();
        assert!(p.is_some(), "{r}");
        let weeks = (at_of(r) - nanos(&d(0))) as f64 / WEEK_NS;
        // The purchases so far at the record's `at`, in this in-order stream.
        let x = (((at_of(r) - nanos(&d(0))) / (7 * 86_400_000_000_000)).min(2)) as f64;
        let t_x = x;
        assert!((p.unwrap() - p_alive(x, t_x, weeks)).abs() < 1e-9, "{r}");
    }
    let off = replay_with(&events, Some(&d(100)), None);
    assert!(
        off.records
            .iter()
            .all(|r| r["facts"].get("p_alive").is_none())
    );
    assert_eq!(
        on.records.len(),
        off.records.len(),
        "the same records otherwise"
    );
}

#[test]
fn a_free_order_is_a_transaction_only_with_count_zero_amount() {
    // A $10 order, then three free ones a week apart: x = 3, t_x = 3 weeks when they count,
    // x = 0 (no churn_risk under BG/NBD) when they do not (SPEC 8, the default).
    let events = jsonl(&[
        buy("e1", "c1", &d(0)),
        buy_amount("e2", "c1", &d(7), "0"),
        buy_amount("e3", "c1", &d(14), "0"),
        buy_amount("e4", "c1", &d(21), "0.0"),
    ]);
    let spec = replay_with(&events, Some(&d(200)), Some(&config("bg_nbd", 0.5)));
    assert!(risk_actions(&spec).is_empty(), "{:?}", spec.actions());
    let counting = format!("{}count_zero_amount = true\n", config("bg_nbd", 0.5));
    let out = replay_with(&events, Some(&d(200)), Some(&counting));
    let risk = risk_actions(&out);
    assert_eq!(risk.len(), 1, "{:?}", out.actions());
    assert_eq!(risk[0]["facts"]["repeat_purchases"], 3);
    let stamp = nanos(&d(0)) + crossing_ns(3.0, 3.0, 0.5, false).ceil() as i64;
    assert!((at_of(risk[0]) - stamp).abs() < 1_000, "{}", risk[0]);
    // Free orders still are not purchases for the stages: the customer stays `new`.
    assert_eq!(
        out.transitions_of("c1").len(),
        spec.transitions_of("c1").len()
    );
}
