//! SPEC 10, "Monitor": holdout groups by SHA-256 bucket, held-out actions (recorded with
//! `"held_out": true`, restarting the cooldown, counted), and the conversion counts per kind
//! and group within `holdout.window_days`.
//!
//! The buckets below were computed with Python's hashlib, independently of the crate:
//! `int.from_bytes(sha256(f"{salt}\n{id}\n{kind}".encode()).digest()[:8], "big") % 10000`.
//! With salt "t" and kind `retention_offer`: c-0 370, c-3 3207, c-5 3298, c-1 8933,
//! c-2 9463, c-4 7404.

mod common;

use common::*;
use lifecycle::domain::ActionKind;
use lifecycle::domain::holdout::{Group, bucket};
use serde_json::Value;

/// Holdouts on `retention_offer` only, with salt "t".
fn holdout(percent: &str, window_days: u32) -> String {
    format!(
        "[holdout]\npercent = {percent}\nkinds = [\"retention_offer\"]\nsalt = \"t\"\nwindow_days = {window_days}\n"
    )
}

/// A purchase on day 0 and a cancellation on day 1: `retention_offer` at day 1.
fn churns(c: &str) -> Vec<String> {
    vec![
        buy(&format!("{c}-e1"), c, &d(0)),
        cancel(&format!("{c}-e2"), c, &d(1)),
    ]
}

fn retention_offers(out: &Output) -> Vec<&Value> {
    out.action_records()
        .into_iter()
        .filter(|a| a["kind"] == "retention_offer")
        .collect()
}

fn held_out(record: &Value) -> bool {
    record["held_out"] == Value::Bool(true)
}

#[test]
fn the_buckets_are_the_spec_sha256_of_salt_id_and_kind() {
    let cases = [
        ("", "c-1", ActionKind::RetentionOffer, 3883),
        ("spring", "c-1", ActionKind::RetentionOffer, 2840),
        ("spring", "c-1", ActionKind::WinBackCampaign, 8027),
        ("spring", "Ünï 客户", ActionKind::ChurnRisk, 4491),
        ("t", "c-0", ActionKind::RetentionOffer, 370),
        ("t", "c-3", ActionKind::RetentionOffer, 3207),
    ];
    for (salt, id, kind, expected) in cases {
        assert_eq!(bucket(salt, id, kind), expected, "{salt:?} {id:?} {kind}");
    }
}

/// "modulo 10000 are below percent * 100": a bucket equal to percent * 100 is treated, one
/// below it is control.
#[test]
fn a_customer_is_in_control_when_its_bucket_is_below_percent_times_100() {
    let cases = [
        ("c-0", "3.7", false),
        ("c-0", "3.71", true),
        ("c-3", "32.07", false),
        ("c-3", "32.08", true),
        ("c-1", "50", false),
        ("c-5", "50", true),
    ];
    for (c, percent, control) in cases {
        let out = replay_with(&jsonl(&churns(c)), None, Some(&holdout(percent, 30)));
        let offers = retention_offers(&out);
        assert_eq!(offers.len(), 1, "{c} at {percent}%: one retention_offer");
        assert_eq!(
            held_out(offers[0]),
            control,
            "{c} at {percent}%: {}",
            offers[0]
        );
        let welcome = &out.action_records()[0];
        assert_eq!(welcome["kind"], "welcome_onboarding");
        assert!(!held_out(welcome), "kinds without a holdout are sent");
        let counts = out
            .summary
            .uplift
            .get(ActionKind::RetentionOffer, Group::Control);
        assert_eq!(counts.actions, u64::from(control), "{c} at {percent}%");
    }
}

/// A held-out action is the action that would have been sent, plus `"held_out": true`.
#[test]
fn a_held_out_action_is_the_sent_one_marked_held_out() {
    let lines = jsonl(&churns("c-0"));
    let held = replay_with(&lines, None, Some(&holdout("10", 30)));
    let sent = replay_lines(&lines);
    let mut held = retention_offers(&held)[0].clone();
    assert_eq!(held["held_out"], Value::Bool(true));
    held.as_object_mut().unwrap().remove("held_out");
    assert_eq!(&held, retention_offers(&sent)[0]);
    assert!(retention_offers(&sent)[0].get("held_out").is_none());
}

/// "restarts the cooldown like a sent action, and is counted".
#[test]
fn a_held_out_action_restarts_the_cooldown_like_a_sent_one() {
    let lines = jsonl(&[
        buy("e1", "c-0", &d(0)),
        cancel("e2", "c-0", &d(1)), // retention_offer, held out
        buy("e3", "c-0", &d(2)),    // reactivated: welcome_back
        cancel("e4", "c-0", &d(3)), // retention_offer again: within the cooldown
        buy("e5", "c-0", &d(40)),
        cancel("e6", "c-0", &d(41)), // past the cooldown: held out again
    ]);
    let out = replay_with(&lines, None, Some(&holdout("10", 30)));
    let offers = retention_offers(&out);
    let days: Vec<&str> = offers.iter().map(|a| a["at"].as_str().unwrap()).collect();
    assert_eq!(days, [d(1), d(41)]);
    assert!(offers.iter().all(|a| held_out(a)));
    assert_eq!(out.suppressed("cooldown"), 1);
    let control = out
        .summary
        .uplift
        .get(ActionKind::RetentionOffer, Group::Control);
    assert_eq!(control.actions, 2);
    // e3 converts after the held-out offer of d1; e5 follows only the offer of d3, which
    // cooldown suppressed and which so opened no window.
    assert_eq!(control.conversions, 1);
}

/// "a conversion event is applied within `holdout.window_days` after the last sent or
/// held-out K action": the window's last instant counts, the next second does not; a
/// conversion counts once per action; non-conversion events do not count.
#[test]
fn conversions_count_once_within_the_window_after_the_action() {
    let window_end = d(31); // the offer is at d(1), the window 30 days
    let one_second_late = ts(31, 1, 0);
    let cases: Vec<(&str, Vec<String>, u64)> = vec![
        ("at the window's end", vec![buy("x", "C", &window_end)], 1),
        ("a second late", vec![buy("x", "C", &one_second_late)], 0),
        (
            "two conversions, counted once",
            vec![buy("x", "C", &d(5)), buy("y", "C", &d(6))],
            1,
        ),
        (
            "a subscription converts",
            vec![subscribe("x", "C", &d(10))],
            1,
        ),
        ("an engagement does not", vec![engage("x", "C", &d(10))], 0),
        (
            "a zero-amount purchase does not",
            vec![buy_amount("x", "C", &d(10), "0")],
            0,
        ),
        (
            "a late purchase dated before the offer does not, a later one does",
            vec![
                buy_amount("x", "C", &ts(0, 3600, 0), "5"),
                buy("y", "C", &d(20)),
            ],
            1,
        ),
    ];
    for (what, after, expected) in cases {
        for (c, group) in [("c-1", Group::Treated), ("c-0", Group::Control)] {
            let mut lines = churns(c);
            lines.extend(
                after
                    .iter()
                    .map(|l| l.replace("\"C\"", &format!("\"{c}\""))),
            );
            let out = replay_with(&jsonl(&lines), None, Some(&holdout("10", 30)));
            let counts = out.summary.uplift.get(ActionKind::RetentionOffer, group);
            assert_eq!(counts.actions, 1, "{what}, {c}");
            assert_eq!(counts.conversions, expected, "{what}, {c}");
        }
    }
}

/// Backfilled actions are history: in neither group, and no conversion is credited to them.
#[test]
fn backfilled_actions_are_in_neither_group() {
    let lines = jsonl(&[
        buy("e1", "c-0", &d(0)),
        cancel("e2", "c-0", &d(1)),
        buy("e3", "c-0", &d(2)),
    ]);
    let config = format!(
        "{}[actions]\nsend_from = \"{}\"\n",
        holdout("10", 30),
        d(10)
    );
    let out = replay_with(&lines, None, Some(&config));
    assert!(retention_offers(&out).is_empty());
    assert_eq!(out.suppressed("backfill"), 3);
    for group in Group::ALL {
        let counts = out.summary.uplift.get(ActionKind::RetentionOffer, group);
        assert_eq!((counts.actions, counts.conversions), (0, 0), "{group:?}");
    }
}

/// The summary shows the held-out actions and each kind's experiment.
#[test]
fn the_summary_shows_held_out_actions_and_uplift() {
    let mut lines = churns("c-0");
    lines.extend(churns("c-1"));
    lines.extend(churns("c-2"));
    lines.push(buy("c-1-e3", "c-1", &d(3)));
    let out = replay_with(&jsonl(&lines), None, Some(&holdout("10", 30)));
    let text = out.summary.to_string();
    assert!(
        text.contains("  actions held out: 1 (retention_offer 1)"),
        "{text}"
    );
    assert!(
        text.contains(
            "    retention_offer: treated 2 actions, 1 conversions (50.0%); control 1 actions, 0 conversions (0.0%); uplift +50.0 points"
        ),
        "{text}"
    );
}

#[test]
fn holdout_settings_are_checked() {
    let bad = [
        ("percent = 50.5", "holdout.percent"),
        ("percent = -1", "holdout.percent"),
        ("percent = 10.005", "two decimals"),
        (
            "kinds = [\"retention\"]",
            "`retention` is not an action kind",
        ),
        ("window_days = 0", "holdout.window_days"),
    ];
    for (line, expected) in bad {
        let text = format!("[holdout]\n{line}\n");
        let err = lifecycle::config::Config::from_toml_str(&text, "test")
            .expect_err(line)
            .to_string();
        assert!(err.contains(expected), "{line}: {err}");
    }
    let on = lifecycle::config::Config::from_toml_str("[holdout]\npercent = 12.5\n", "t")
        .unwrap()
        .rules()
        .holdout
        .expect("on");
    assert_eq!(on.basis_points, 1250);
    assert!(
        on.kinds.contains(ActionKind::ChurnRisk),
        "the default kinds"
    );
    assert!(
        lifecycle::config::Config::default_config()
            .rules()
            .holdout
            .is_none(),
        "off by default"
    );
}
