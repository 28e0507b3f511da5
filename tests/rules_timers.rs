//! SPEC section 2, timers and the clock: inactivity (last_activity_at + 60 days + 1 hour,
//! stamped at + 60 days), no_reactivation (stage_entered_at + 90 days + 1 hour, stamped at
//! plus 90 days), firing order, what advances the clock, late and cancelling events, --as-of.
//! Times are days after 2025-01-01 (`d(n)`); expected values come from the SPEC text.

#![allow(clippy::type_complexity)] // the case tables are tuples, on purpose
mod common;

use common::*;

fn converted_at(c: &str, at: &str, cause: &str) -> Vec<String> {
    vec![
        tr(c, "null", "prospect", "first_seen", at, 1),
        tr(c, "prospect", "new", "first_conversion", at, 2),
        ac(c, "welcome_onboarding", "new", at, cause),
    ]
}

fn with(mut base: Vec<String>, more: &[String]) -> Vec<String> {
    base.extend_from_slice(more);
    base
}

#[test]
fn the_test_calendar_matches_hand_computed_dates() {
    // 2025 is not a leap year: Jan 31 + Feb 28 days.
    let mut check = Checker::new();
    for (got, want) in [
        (d(0), "2025-01-01T00:00:00Z"),
        (d(30), "2025-01-31T00:00:00Z"),
        (d(60), "2025-03-02T00:00:00Z"),
        (d(91), "2025-04-02T00:00:00Z"),
        (d(150), "2025-05-31T00:00:00Z"),
        (d(365), "2026-01-01T00:00:00Z"),
        (d(-31), "2024-12-01T00:00:00Z"),
        (ts(60, HOUR, 0), "2025-03-02T01:00:00Z"),
        (ts(60, HOUR, -1), "2025-03-02T00:59:59.999999999Z"),
    ] {
        check.eq(want, "calendar", got.as_str(), want);
    }
    check.finish();
}

#[test]
fn inactivity_fires_one_hour_after_the_sixtieth_day() {
    // New customer, last activity day 0: deadline day 60 + 1 h, stamped day 60.
    let events = jsonl(&[buy("e1", "c1", &d(0))]);
    let fired = with(
        converted_at("c1", &d(0), "e1"),
        &[
            tr("c1", "new", "churning", "inactivity", &d(60), 3),
            ac("c1", "retention_offer", "churning", &d(60), "-"),
        ],
    );
    let cases: Vec<(&str, String, Vec<String>)> = vec![
        (
            "--as-of exactly day 60 + 1 h: fires",
            ts(60, HOUR, 0),
            fired.clone(),
        ),
        (
            "--as-of 1 ns before day 60 + 1 h: not yet",
            ts(60, HOUR, -1),
            converted_at("c1", &d(0), "e1"),
        ),
        (
            "--as-of day 60 (the stamp): not yet",
            d(60),
            converted_at("c1", &d(0), "e1"),
        ),
        ("--as-of day 70: fires", d(70), fired.clone()),
    ];
    let mut check = Checker::new();
    for (name, as_of, expected) in cases {
        let out = replay_with(&events, Some(&as_of), None);
        check.lines(name, "records", &out.all(), &expected);
    }
    check.finish();
}

#[test]
fn inactivity_fires_when_another_event_brings_the_clock_to_the_deadline() {
    // The clock is the largest occurred_at seen (ignored events included); the timer fires
    // before that event is applied, so its records come first.
    let mut check = Checker::new();
    let cases: Vec<(&str, String, Vec<String>)> = vec![
        (
            "an ignored event exactly at day 60 + 1 h",
            unknown("x1", "zz", &ts(60, HOUR, 0)),
            vec![
                tr("c1", "new", "churning", "inactivity", &d(60), 3),
                ac("c1", "retention_offer", "churning", &d(60), "-"),
            ],
        ),
        (
            "an ignored event 1 ns earlier",
            unknown("x1", "zz", &ts(60, HOUR, -1)),
            vec![],
        ),
        (
            "another customer's lead at day 70",
            lead("x1", "c2", &d(70)),
            vec![
                tr("c1", "new", "churning", "inactivity", &d(60), 3),
                ac("c1", "retention_offer", "churning", &d(60), "-"),
                tr("c2", "null", "prospect", "first_seen", &d(70), 1),
                ac("c2", "nurture_lead", "prospect", &d(70), "x1"),
            ],
        ),
        (
            "another customer's lead 1 ns before the deadline",
            lead("x1", "c2", &ts(60, HOUR, -1)),
            vec![
                tr("c2", "null", "prospect", "first_seen", &ts(60, HOUR, -1), 1),
                ac("c2", "nurture_lead", "prospect", &ts(60, HOUR, -1), "x1"),
            ],
        ),
    ];
    for (name, line, expected) in cases {
        let out = replay_lines(&jsonl(&[buy("e1", "c1", &d(0)), line]));
        check.lines(
            name,
            "records",
            &out.all(),
            &with(converted_at("c1", &d(0), "e1"), &expected),
        );
    }
    check.finish();
}

#[test]
fn timer_records_have_no_event_id_and_no_cause_event() {
    let out = replay_with(&jsonl(&[buy("e1", "c1", &d(0))]), Some(&d(70)), None);
    let mut check = Checker::new();
    let timer_transitions: Vec<_> = out
        .transition_records()
        .into_iter()
        .filter(|r| r["reason"] == "inactivity")
        .collect();
    check.eq(
        "inactivity",
        "number of inactivity transitions",
        timer_transitions.len(),
        1,
    );
    for r in timer_transitions {
        check.ok(
            "inactivity",
            r["event_id"].is_null(),
            format!("event_id should be null: {r}"),
        );
    }
    let timer_actions: Vec<_> = out
        .action_records()
        .into_iter()
        .filter(|r| r["kind"] == "retention_offer")
        .collect();
    check.eq(
        "inactivity",
        "number of retention_offer actions",
        timer_actions.len(),
        1,
    );
    for r in timer_actions {
        check.ok(
            "inactivity",
            r["cause_event_id"].is_null(),
            format!("cause_event_id should be null: {r}"),
        );
        check.eq(
            "inactivity",
            "action reason",
            r["reason"].as_str(),
            Some("inactivity"),
        );
    }
    check.finish();
}

#[test]
fn inactivity_applies_to_mature_customers_too() {
    // Mature at day 30 on an engagement (last activity day 30): deadline day 90 + 1 h.
    let events = jsonl(&[
        buy("e1", "c1", &d(0)),
        buy("e2", "c1", &d(1)),
        buy("e3", "c1", &d(2)),
        engage("e4", "c1", &d(30)),
    ]);
    let mut check = Checker::new();
    let out = replay_with(&events, Some(&ts(90, HOUR, 0)), None);
    check.lines(
        "--as-of day 90 + 1 h",
        "timer transitions",
        &out.timer_transitions(),
        &[tr("c1", "mature", "churning", "inactivity", &d(90), 4)],
    );
    let out = replay_with(&events, Some(&ts(90, HOUR, -1)), None);
    check.lines(
        "--as-of 1 ns earlier",
        "timer transitions",
        &out.timer_transitions(),
        &[] as &[&str],
    );
    check.finish();
}

#[test]
fn no_reactivation_fires_ninety_days_and_one_hour_after_entering_churning() {
    // Churning since day 1 (churn signal): deadline day 91 + 1 h, stamped day 91.
    let events = jsonl(&[buy("e1", "c1", &d(0)), cancel("e2", "c1", &d(1))]);
    let base = with(
        converted_at("c1", &d(0), "e1"),
        &[
            tr(
                "c1",
                "new",
                "churning",
                "churn_signal:subscription_cancelled",
                &d(1),
                3,
            ),
            ac("c1", "retention_offer", "churning", &d(1), "e2"),
        ],
    );
    let fired = with(
        base.clone(),
        &[
            tr("c1", "churning", "churned", "no_reactivation", &d(91), 4),
            ac("c1", "win_back_campaign", "churned", &d(91), "-"),
        ],
    );
    let mut check = Checker::new();
    for (name, as_of, expected) in [
        ("--as-of exactly day 91 + 1 h", ts(91, HOUR, 0), &fired),
        ("--as-of 1 ns earlier", ts(91, HOUR, -1), &base),
        ("--as-of day 91 (the stamp)", d(91), &base),
        (
            "--as-of 10 years later: churned has no timer",
            d(3650),
            &fired,
        ),
    ] {
        let out = replay_with(&events, Some(&as_of), None);
        check.lines(name, "records", &out.all(), expected);
    }
    check.finish();
}

#[test]
fn inactivity_then_no_reactivation_counts_from_the_inactivity_stamp() {
    // stage_entered_at is the `at` of the transition that entered the stage: day 60, so
    // churned at day 150 (fires at day 150 + 1 h).
    let events = jsonl(&[buy("e1", "c1", &d(0))]);
    let first = with(
        converted_at("c1", &d(0), "e1"),
        &[
            tr("c1", "new", "churning", "inactivity", &d(60), 3),
            ac("c1", "retention_offer", "churning", &d(60), "-"),
        ],
    );
    let both = with(
        first.clone(),
        &[
            tr("c1", "churning", "churned", "no_reactivation", &d(150), 4),
            ac("c1", "win_back_campaign", "churned", &d(150), "-"),
        ],
    );
    let mut check = Checker::new();
    for (name, as_of, expected) in [
        ("--as-of day 150 + 1 h", ts(150, HOUR, 0), &both),
        (
            "--as-of 1 ns before day 150 + 1 h",
            ts(150, HOUR, -1),
            &first,
        ),
        ("--as-of two years later", d(730), &both),
    ] {
        let out = replay_with(&events, Some(&as_of), None);
        check.lines(name, "records", &out.all(), expected);
    }
    check.finish();
}

#[test]
fn prospects_and_churned_customers_have_no_timer() {
    let mut check = Checker::new();
    let out = replay_with(&jsonl(&[lead("e1", "c1", &d(0))]), Some(&d(1000)), None);
    check.lines(
        "prospect, --as-of day 1000",
        "transitions",
        &out.transitions(),
        &[tr("c1", "null", "prospect", "first_seen", &d(0), 1)],
    );
    check.eq(
        "prospect, --as-of day 1000",
        "prospects",
        out.customers_in("prospect"),
        1,
    );
    let out = replay_with(
        &jsonl(&[buy("e1", "c1", &d(0)), cancel("e2", "c1", &d(1))]),
        Some(&d(2000)),
        None,
    );
    check.eq(
        "churned, --as-of day 2000",
        "timer transitions",
        out.timer_transitions().len(),
        1,
    );
    check.eq(
        "churned, --as-of day 2000",
        "churned",
        out.customers_in("churned"),
        1,
    );
    check.finish();
}

#[test]
fn a_customers_own_event_after_the_deadline_sees_the_timer_fire_first() {
    // The purchase at day 70 advances the clock past day 60 + 1 h: the inactivity timer
    // fires (its own input), then the purchase reactivates the churning customer.
    let out = replay_lines(&jsonl(&[buy("e1", "c1", &d(0)), buy("e2", "c1", &d(70))]));
    let mut check = Checker::new();
    check.lines(
        "purchase at day 70",
        "records",
        &out.all(),
        &with(
            converted_at("c1", &d(0), "e1"),
            &[
                tr("c1", "new", "churning", "inactivity", &d(60), 3),
                ac("c1", "retention_offer", "churning", &d(60), "-"),
                tr("c1", "churning", "new", "reactivated", &d(70), 4),
                ac("c1", "welcome_back", "new", &d(70), "e2"),
            ],
        ),
    );
    check.finish();
}

#[test]
fn several_due_timers_fire_in_order_of_firing_time_then_customer_id() {
    // cD is churning since day -30 + 6 h, so its no_reactivation deadline is day 60 + 7 h;
    // cC and cB (in that input order) are due at day 60 + 1 h; cA at day 60 + 13 h.
    let setup = vec![
        buy("d1", "cD", &d(-31)),
        cancel("d2", "cD", &dh(-30, 6)),
        buy("c1", "cC", &d(0)),
        buy("b1", "cB", &d(0)),
        buy("a1", "cA", &dh(0, 12)),
    ];
    let timers = vec![
        tr("cB", "new", "churning", "inactivity", &d(60), 3),
        ac("cB", "retention_offer", "churning", &d(60), "-"),
        tr("cC", "new", "churning", "inactivity", &d(60), 3),
        ac("cC", "retention_offer", "churning", &d(60), "-"),
        tr(
            "cD",
            "churning",
            "churned",
            "no_reactivation",
            &dh(60, 6),
            4,
        ),
        ac("cD", "win_back_campaign", "churned", &dh(60, 6), "-"),
        tr("cA", "new", "churning", "inactivity", &dh(60, 12), 3),
        ac("cA", "retention_offer", "churning", &dh(60, 12), "-"),
    ];
    let setup_records = with(
        with(
            with(
                vec![
                    tr("cD", "null", "prospect", "first_seen", &d(-31), 1),
                    tr("cD", "prospect", "new", "first_conversion", &d(-31), 2),
                    ac("cD", "welcome_onboarding", "new", &d(-31), "d1"),
                    tr(
                        "cD",
                        "new",
                        "churning",
                        "churn_signal:subscription_cancelled",
                        &dh(-30, 6),
                        3,
                    ),
                    ac("cD", "retention_offer", "churning", &dh(-30, 6), "d2"),
                ],
                &converted_at("cC", &d(0), "c1"),
            ),
            &converted_at("cB", &d(0), "b1"),
        ),
        &converted_at("cA", &dh(0, 12), "a1"),
    );
    let mut check = Checker::new();

    let out = replay_with(&jsonl(&setup), Some(&d(100)), None);
    check.lines(
        "all due at --as-of day 100",
        "records",
        &out.all(),
        &with(setup_records.clone(), &timers),
    );

    let mut lines = setup.clone();
    lines.push(lead("z1", "cZ", &d(100)));
    let out = replay_lines(&jsonl(&lines));
    check.lines(
        "all due when cZ's event at day 100 arrives",
        "records",
        &out.all(),
        &with(
            with(setup_records.clone(), &timers),
            &[
                tr("cZ", "null", "prospect", "first_seen", &d(100), 1),
                ac("cZ", "nurture_lead", "prospect", &d(100), "z1"),
            ],
        ),
    );

    // At day 60 + 7 h only cB, cC (60 + 1 h) and cD (60 + 7 h) are due.
    let out = replay_with(&jsonl(&setup), Some(&dh(60, 7)), None);
    check.lines(
        "--as-of day 60 + 7 h",
        "timer transitions",
        &out.timer_transitions(),
        &[
            tr("cB", "new", "churning", "inactivity", &d(60), 3),
            tr("cC", "new", "churning", "inactivity", &d(60), 3),
            tr(
                "cD",
                "churning",
                "churned",
                "no_reactivation",
                &dh(60, 6),
                4,
            ),
        ],
    );
    check.finish();
}

#[test]
fn an_activity_event_between_the_stamp_and_the_firing_time_cancels_the_timer() {
    // Deadline day 60 + 1 h, stamp day 60. An activity event at day 60 + 30 min arrives
    // before the timer fired: applied, last activity moves to day 60 + 30 min, so the new
    // deadline is day 120 + 1 h 30 min, stamped day 120 + 30 min.
    let half = 1800;
    let mut check = Checker::new();
    for (name, line) in [
        ("engagement", engage("e2", "c1", &ts(60, half, 0))),
        ("purchase", buy("e2", "c1", &ts(60, half, 0))),
        (
            "subscription_started",
            subscribe("e2", "c1", &ts(60, half, 0)),
        ),
        // activity_events lists `purchase` with no amount condition (unlike conversion_events).
        (
            "purchase of 0",
            buy_amount("e2", "c1", &ts(60, half, 0), "0"),
        ),
    ] {
        let events = jsonl(&[buy("e1", "c1", &d(0)), line]);
        let out = replay_with(&events, Some(&ts(60, HOUR, 0)), None);
        check.lines(
            name,
            "timer transitions at the old deadline",
            &out.timer_transitions(),
            &[] as &[&str],
        );
        let out = replay_with(&events, Some(&ts(120, half + HOUR, -1)), None);
        check.lines(
            name,
            "timer transitions 1 ns before the new deadline",
            &out.timer_transitions(),
            &[] as &[&str],
        );
        let out = replay_with(&events, Some(&ts(120, half + HOUR, 0)), None);
        check.lines(
            name,
            "timer transitions at the new deadline",
            &out.timer_transitions(),
            &[tr(
                "c1",
                "new",
                "churning",
                "inactivity",
                &ts(120, half, 0),
                3,
            )],
        );
    }
    check.finish();
}

#[test]
fn a_non_activity_event_does_not_move_the_inactivity_deadline() {
    // activity_events: purchase, subscription_started, engagement (defaults).
    let mut check = Checker::new();
    for (ty, data) in [
        ("lead_created", ""),
        ("complaint", ""),
        ("support_ticket", ""),
        ("feedback", r#"{"nps":8}"#),
        ("refund", r#"{"amount":1}"#),
        ("consent_granted", ""),
    ] {
        let events = jsonl(&[buy("e1", "c1", &d(0)), ev("e2", "c1", ty, &d(50), data)]);
        let out = replay_with(&events, Some(&ts(60, HOUR, 0)), None);
        let name = format!("{ty} {data}");
        check.lines(
            &name,
            "timer transitions",
            &out.timer_transitions(),
            &[tr("c1", "new", "churning", "inactivity", &d(60), 3)],
        );
    }
    check.finish();
}

#[test]
fn an_activity_event_at_the_firing_time_is_too_late_to_cancel() {
    // The event advances the clock to the deadline: the timer fires before it is applied.
    let out = replay_lines(&jsonl(&[
        buy("e1", "c1", &d(0)),
        engage("e2", "c1", &ts(60, HOUR, 0)),
    ]));
    let mut check = Checker::new();
    check.lines(
        "engagement at day 60 + 1 h",
        "records",
        &out.all(),
        &with(
            converted_at("c1", &d(0), "e1"),
            &[
                tr("c1", "new", "churning", "inactivity", &d(60), 3),
                ac("c1", "retention_offer", "churning", &d(60), "-"),
            ],
        ),
    );
    check.eq(
        "engagement at day 60 + 1 h",
        "churning",
        out.customers_in("churning"),
        1,
    );
    check.finish();
}

#[test]
fn late_events_never_move_last_activity_backwards() {
    // Last activity day 10; a late engagement of day 5 must not pull it back to day 5.
    let events = jsonl(&[buy("e1", "c1", &d(10)), engage("e2", "c1", &d(5))]);
    let mut check = Checker::new();
    let out = replay_with(&events, Some(&ts(65, HOUR, 0)), None);
    check.lines(
        "--as-of day 65 + 1 h",
        "timer transitions",
        &out.timer_transitions(),
        &[] as &[&str],
    );
    let out = replay_with(&events, Some(&ts(70, HOUR, 0)), None);
    check.lines(
        "--as-of day 70 + 1 h",
        "timer transitions",
        &out.timer_transitions(),
        &[tr("c1", "new", "churning", "inactivity", &d(70), 3)],
    );
    // A late purchase counts (it is applied) but does not move the deadline either.
    let events = jsonl(&[
        buy("e1", "c1", &d(0)),
        buy("e2", "c1", &d(40)),
        buy("e3", "c1", &d(31)),
    ]);
    let out = replay_with(&events, Some(&d(200)), None);
    check.lines(
        "late third purchase, --as-of day 200",
        "transitions",
        &out.transitions(),
        &[
            tr("c1", "null", "prospect", "first_seen", &d(0), 1),
            tr("c1", "prospect", "new", "first_conversion", &d(0), 2),
            tr("c1", "new", "mature", "mature_criteria", &d(31), 3),
            tr("c1", "mature", "churning", "inactivity", &d(100), 4),
            tr("c1", "churning", "churned", "no_reactivation", &d(190), 5),
        ],
    );
    check.finish();
}

#[test]
fn ignored_duplicate_and_noop_erase_events_advance_the_clock_but_rejected_ones_do_not() {
    // "the clock is the largest occurred_at of the events seen so far that were not
    // rejected, ignored, duplicate and no-op erase events included".
    let setup = vec![buy("e1", "c1", &d(0)), lead("e2", "c2", &d(1))];
    let fired = vec![tr("c1", "new", "churning", "inactivity", &d(60), 3)];
    let cases: Vec<(&str, String, Vec<String>)> = vec![
        (
            "an ignored unknown type",
            unknown("x1", "c3", &d(70)),
            fired.clone(),
        ),
        (
            "a duplicate (c2's e2 again)",
            lead("e2", "c2", &d(70)),
            fired.clone(),
        ),
        ("a no-op erase", erase("x1", "c9", &d(70)), fired.clone()),
        (
            "a rejected event (purchase without amount)",
            ev("x1", "c3", "purchase", &d(70), "{}"),
            vec![],
        ),
        (
            "a rejected event (empty customer_id)",
            lead("x1", "", &d(70)),
            vec![],
        ),
    ];
    let mut check = Checker::new();
    for (name, line, expected) in cases {
        let mut lines = setup.clone();
        lines.push(line);
        let out = replay_lines(&jsonl(&lines));
        check.lines(
            name,
            "timer transitions",
            &out.timer_transitions(),
            &expected,
        );
    }
    check.finish();
}

#[test]
fn a_past_as_of_changes_nothing() {
    // "a past or future --as-of is accepted as given"; the clock never goes back.
    let events = jsonl(&[buy("e1", "c1", &d(0)), engage("e2", "c1", &d(30))]);
    let out = replay_with(&events, Some(&d(10)), None);
    let mut check = Checker::new();
    check.lines(
        "--as-of day 10 after events up to day 30",
        "records",
        &out.all(),
        &converted_at("c1", &d(0), "e1"),
    );
    check.finish();
}

#[test]
fn configured_timer_parameters() {
    let mut check = Checker::new();
    let cases: Vec<(&str, &str, Vec<String>, String, Vec<String>)> = vec![
        (
            "inactivity_days 10, no lateness: fires exactly at day 10",
            "[rules]\ninactivity_days = 10\nallowed_lateness = \"0s\"\n",
            vec![buy("e1", "c1", &d(0))],
            d(10),
            vec![tr("c1", "new", "churning", "inactivity", &d(10), 3)],
        ),
        (
            "inactivity_days 10, no lateness: not 1 ns before",
            "[rules]\ninactivity_days = 10\nallowed_lateness = \"0s\"\n",
            vec![buy("e1", "c1", &d(0))],
            ts(10, 0, -1),
            vec![],
        ),
        (
            "churned_after_days 5, lateness 30 min",
            "[rules]\nchurned_after_days = 5\nallowed_lateness = \"30m\"\n",
            vec![buy("e1", "c1", &d(0)), cancel("e2", "c1", &d(1))],
            ts(6, 1800, 0),
            vec![tr("c1", "churning", "churned", "no_reactivation", &d(6), 4)],
        ),
        (
            "churned_after_days 5, lateness 30 min: not 1 ns before",
            "[rules]\nchurned_after_days = 5\nallowed_lateness = \"30m\"\n",
            vec![buy("e1", "c1", &d(0)), cancel("e2", "c1", &d(1))],
            ts(6, 1800, -1),
            vec![],
        ),
        (
            "only purchases are activity: an engagement does not move the deadline",
            "[rules]\nactivity_events = [\"purchase\"]\n",
            vec![buy("e1", "c1", &d(0)), engage("e2", "c1", &d(50))],
            ts(60, HOUR, 0),
            vec![tr("c1", "new", "churning", "inactivity", &d(60), 3)],
        ),
        (
            "lead_created made an activity: it moves the deadline",
            "[rules]\nactivity_events = [\"purchase\", \"lead_created\"]\n",
            vec![buy("e1", "c1", &d(0)), lead("e2", "c1", &d(50))],
            ts(110, HOUR, 0),
            vec![tr("c1", "new", "churning", "inactivity", &d(110), 3)],
        ),
    ];
    for (name, config, events, as_of, expected) in cases {
        let out = replay_with(&jsonl(&events), Some(&as_of), Some(config));
        check.lines(
            name,
            "timer transitions",
            &out.timer_transitions(),
            &expected,
        );
    }
    // Default rules for comparison: the engagement at day 50 moves the deadline.
    let out = replay_with(
        &jsonl(&[buy("e1", "c1", &d(0)), engage("e2", "c1", &d(50))]),
        Some(&ts(60, HOUR, 0)),
        None,
    );
    check.lines(
        "defaults: engagement is activity",
        "timer transitions",
        &out.timer_transitions(),
        &[] as &[&str],
    );
    check.finish();
}

#[test]
fn reactivation_rearms_inactivity_from_the_new_last_activity_and_drops_no_reactivation() {
    let mut check = Checker::new();

    // Churned by the timer at day 60, reactivated at day 70: the next inactivity deadline is
    // day 130 + 1 h, stamped day 130.
    let events = jsonl(&[buy("e1", "c1", &d(0)), buy("e2", "c1", &d(70))]);
    let out = replay_with(&events, Some(&ts(130, HOUR, 0)), None);
    check.lines(
        "reactivated at day 70, --as-of day 130 + 1 h",
        "timer transitions",
        &out.timer_transitions(),
        // (the reactivation, seq 4, is caused by e2 and is not a timer transition)
        &[
            tr("c1", "new", "churning", "inactivity", &d(60), 3),
            tr("c1", "new", "churning", "inactivity", &d(130), 5),
        ],
    );
    let out = replay_with(&events, Some(&ts(130, HOUR, -1)), None);
    check.lines(
        "reactivated at day 70, --as-of 1 ns before day 130 + 1 h",
        "timer transitions",
        &out.timer_transitions(),
        &[tr("c1", "new", "churning", "inactivity", &d(60), 3)],
    );

    // Churning since day 1, reactivated at day 10: no churned at day 91; instead inactivity
    // from the day-10 purchase fires at day 70 + 1 h.
    let events = jsonl(&[
        buy("e1", "c1", &d(0)),
        cancel("e2", "c1", &d(1)),
        buy("e3", "c1", &d(10)),
    ]);
    let out = replay_with(&events, Some(&ts(91, HOUR, 0)), None);
    check.lines(
        "reactivated before the no_reactivation deadline",
        "timer transitions",
        &out.timer_transitions(),
        &[tr("c1", "new", "churning", "inactivity", &d(70), 5)],
    );
    check.finish();
}

#[test]
fn a_late_activity_event_after_the_timer_fired_is_applied_but_does_not_undo_it() {
    // c2's event at day 70 fires c1's inactivity timer; c1's engagement dated day 59 arrives
    // afterwards: it is applied (no event is dropped for being late) but c1 stays churning.
    let out = replay_with(
        &jsonl(&[
            buy("e1", "c1", &d(0)),
            lead("x1", "c2", &d(70)),
            engage("e2", "c1", &d(59)),
        ]),
        Some(&d(100)),
        None,
    );
    let mut check = Checker::new();
    let name = "late engagement of day 59 after the day-60 timer fired";
    check.lines(
        name,
        "c1 transitions",
        &out.transitions_of("c1"),
        &[
            tr("c1", "null", "prospect", "first_seen", &d(0), 1),
            tr("c1", "prospect", "new", "first_conversion", &d(0), 2),
            tr("c1", "new", "churning", "inactivity", &d(60), 3),
        ],
    );
    check.eq(name, "applied", out.outcome("applied"), 3);
    check.eq(name, "churning", out.customers_in("churning"), 1);
    check.finish();
}

#[test]
fn a_timer_a_late_event_armed_in_the_past_fires_at_the_end_of_the_replay() {
    // docs/decisions.md: at the end of a replay every timer due by the clock fires, with or
    // without --as-of. c2 brings the clock to day 100; c1's first purchase, dated day 0,
    // arms an inactivity timer already due (day 60 + 1 h).
    let lines = [lead("x1", "c2", &d(100)), buy("e1", "c1", &d(0))];
    let mut check = Checker::new();
    let out = replay_lines(&jsonl(&lines));
    check.lines(
        "no --as-of",
        "timer transitions",
        &out.timer_transitions(),
        &[tr("c1", "new", "churning", "inactivity", &d(60), 3)],
    );
    // With a next event, it fires before that event (SPEC: "Before an event is applied, every
    // timer whose firing time is at or before the clock ... fires").
    let mut more = lines.to_vec();
    more.push(lead("x2", "c3", &d(100)));
    let out = replay_lines(&jsonl(&more));
    let all = out.all();
    check.lines(
        "a later event",
        "last four records",
        &all[all.len().saturating_sub(4)..],
        &[
            tr("c1", "new", "churning", "inactivity", &d(60), 3),
            ac("c1", "retention_offer", "churning", &d(60), "-"),
            tr("c3", "null", "prospect", "first_seen", &d(100), 1),
            ac("c3", "nurture_lead", "prospect", &d(100), "x2"),
        ],
    );
    check.finish();
}

/// More timers due in one advance than are popped one by one (so they are taken in bulk),
/// with many ties and with firings that arm timers due within the same advance: they
/// fire in order of firing time, then customer id, each customer's chain in its order.
#[test]
fn a_bulk_of_due_timers_fires_in_time_then_id_order() {
    use lifecycle::domain::{Engine, Record, Rules, Stage, Timestamp, decode};
    let now = Timestamp::parse_rfc3339("2030-01-01T00:00:00Z").unwrap();
    let mut engine = Engine::new(Rules::default());
    let mut records = Vec::new();
    for i in 0..3000u32 {
        // 20 distinct days, ids inserted in an order unrelated to id order.
        let c = (i * 7919) % 3000;
        let line = format!(
            r#"{{"event_id":"e{c}","customer_id":"c{c:05}","type":"purchase","occurred_at":"2025-01-{:02}T00:00:00Z","data":{{"amount":1}}}}"#,
            1 + c % 20
        );
        engine.apply(&decode(line.as_bytes(), now).unwrap(), &mut records);
    }
    records.clear();
    engine.advance_clock(now, &mut records);
    let fired: Vec<(Timestamp, String, Option<Stage>)> = records
        .iter()
        .filter_map(|r| match r {
            Record::Transition(t) => Some((t.at.0, t.customer_id.to_string(), t.to)),
            _ => None,
        })
        .collect();
    // Each customer goes new -> churning -> churned: 6000 firings.
    assert_eq!(fired.len(), 6000);
    // Both kinds of timer fire their stamp plus the same lateness: stamp order is firing
    // order.
    let keys: Vec<(Timestamp, &str)> = fired.iter().map(|f| (f.0, f.1.as_str())).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted);
    assert_eq!(engine.pending_timers(), 0);
}
