//! SPEC section 2, rules 1-6: first_seen, first_conversion, mature_criteria, churn_signal,
//! reactivated; late events; duplicates; erasure; configured rule parameters.
//! Times are days after 2025-01-01 (`d(n)`); expected values come from the SPEC text.

#![allow(clippy::type_complexity)] // the case tables are tuples, on purpose
mod common;

use common::*;

/// `first_seen` then `first_conversion`, both for event e1 at `at` (a first event that converts).
fn converted_at(c: &str, at: &str) -> Vec<String> {
    vec![
        tr(c, "null", "prospect", "first_seen", at, 1),
        tr(c, "prospect", "new", "first_conversion", at, 2),
    ]
}

fn with(mut base: Vec<String>, more: &[String]) -> Vec<String> {
    base.extend_from_slice(more);
    base
}

#[test]
fn first_seen_creates_a_prospect_whatever_the_first_event_is() {
    // Rule 1: unknown customer -> `prospect`, from null, reason first_seen.
    let cases: &[(&str, &str)] = &[
        ("lead_created", ""),
        ("engagement", ""),
        ("refund", r#"{"amount":5}"#),
        ("support_ticket", ""),
        ("complaint", ""),
        ("feedback", r#"{"nps":8}"#),
        ("consent_granted", ""),
        ("consent_withdrawn", ""),
        ("subscription_cancelled", ""),
        ("purchase", r#"{"amount":0}"#),
    ];
    let mut check = Checker::new();
    for (ty, data) in cases {
        let out = replay_lines(&jsonl(&[ev("e1", "c1", ty, &d(0), data)]));
        check.lines(
            ty,
            "transitions",
            &out.transitions(),
            &[tr("c1", "null", "prospect", "first_seen", &d(0), 1)],
        );
        let ids: Vec<_> = out
            .transition_records()
            .iter()
            .map(|r| r["event_id"].clone())
            .collect();
        check.eq(
            ty,
            "transition event_id",
            ids,
            vec![serde_json::json!("e1")],
        );
        check.eq(ty, "customers in prospect", out.customers_in("prospect"), 1);
    }
    check.finish();
}

#[test]
fn a_converting_first_event_goes_through_prospect_to_new() {
    let cases = [
        ("purchase above zero", buy("e1", "c1", &d(0))),
        ("subscription_started", subscribe("e1", "c1", &d(0))),
    ];
    let mut check = Checker::new();
    for (name, line) in cases {
        let out = replay_lines(&jsonl(&[line]));
        check.lines(
            name,
            "transitions",
            &out.transitions(),
            &converted_at("c1", &d(0)),
        );
        check.eq(name, "customers in new", out.customers_in("new"), 1);
    }
    check.finish();
}

#[test]
fn first_conversion_needs_a_purchase_above_zero_or_a_subscription() {
    // Rule 3; conversion_events: purchase with amount > 0, subscription_started.
    let seen = tr("c1", "null", "prospect", "first_seen", &d(0), 1);
    let cases: Vec<(&str, Vec<String>, Vec<String>)> = vec![
        (
            "purchase of 10 converts",
            vec![buy("e2", "c1", &d(1))],
            vec![tr("c1", "prospect", "new", "first_conversion", &d(1), 2)],
        ),
        (
            "purchase of 0.01 converts",
            vec![buy_amount("e2", "c1", &d(1), "0.01")],
            vec![tr("c1", "prospect", "new", "first_conversion", &d(1), 2)],
        ),
        (
            "subscription_started converts",
            vec![subscribe("e2", "c1", &d(1))],
            vec![tr("c1", "prospect", "new", "first_conversion", &d(1), 2)],
        ),
        (
            "purchase of 0 does not convert",
            vec![buy_amount("e2", "c1", &d(1), "0")],
            vec![],
        ),
        (
            "engagement does not convert",
            vec![engage("e2", "c1", &d(1))],
            vec![],
        ),
        (
            "refund does not convert",
            vec![ev("e2", "c1", "refund", &d(1), r#"{"amount":10}"#)],
            vec![],
        ),
        (
            "another lead does not convert",
            vec![lead("e2", "c1", &d(1))],
            vec![],
        ),
        (
            "zero purchase then a real one: converts on the real one",
            vec![buy_amount("e2", "c1", &d(1), "0"), buy("e3", "c1", &d(2))],
            vec![tr("c1", "prospect", "new", "first_conversion", &d(2), 2)],
        ),
    ];
    let mut check = Checker::new();
    for (name, events, expected) in cases {
        let mut lines = vec![lead("e1", "c1", &d(0))];
        lines.extend(events);
        let out = replay_lines(&jsonl(&lines));
        check.lines(
            name,
            "transitions",
            &out.transitions(),
            &with(vec![seen.clone()], &expected),
        );
    }
    check.finish();
}

#[test]
fn mature_needs_three_purchases_and_thirty_days_since_first_conversion() {
    // Rule 5: purchase count >= 3 and the event's time at least 30 days after the first
    // conversion (first conversion = e1 at day 0 unless said otherwise).
    let conv = converted_at("c1", &d(0));
    let cases: Vec<(&str, Vec<String>, Vec<String>)> = vec![
        (
            "third purchase exactly 30 days after the first conversion",
            vec![
                buy("e1", "c1", &d(0)),
                buy("e2", "c1", &d(10)),
                buy("e3", "c1", &d(30)),
            ],
            with(
                conv.clone(),
                &[tr("c1", "new", "mature", "mature_criteria", &d(30), 3)],
            ),
        ),
        (
            "third purchase 1 ns short of 30 days",
            vec![
                buy("e1", "c1", &d(0)),
                buy("e2", "c1", &d(10)),
                buy("e3", "c1", &ts(30, 0, -1)),
            ],
            conv.clone(),
        ),
        (
            "30 days but only two purchases",
            vec![buy("e1", "c1", &d(0)), buy("e2", "c1", &d(30))],
            conv.clone(),
        ),
        (
            "three purchases early, an engagement at exactly day 30",
            vec![
                buy("e1", "c1", &d(0)),
                buy("e2", "c1", &d(1)),
                buy("e3", "c1", &d(2)),
                engage("e4", "c1", &d(30)),
            ],
            with(
                conv.clone(),
                &[tr("c1", "new", "mature", "mature_criteria", &d(30), 3)],
            ),
        ),
        (
            "three purchases early, an engagement 1 ns short of day 30",
            vec![
                buy("e1", "c1", &d(0)),
                buy("e2", "c1", &d(1)),
                buy("e3", "c1", &d(2)),
                engage("e4", "c1", &ts(30, 0, -1)),
            ],
            conv.clone(),
        ),
        (
            "a fourth purchase is the first to reach the tenure",
            vec![
                buy("e1", "c1", &d(0)),
                buy("e2", "c1", &d(1)),
                buy("e3", "c1", &d(2)),
                buy("e4", "c1", &d(3)),
                buy("e5", "c1", &d(31)),
            ],
            with(
                conv.clone(),
                &[tr("c1", "new", "mature", "mature_criteria", &d(31), 3)],
            ),
        ),
        (
            "tenure counts from the first conversion, not from first seen",
            vec![
                lead("e1", "c1", &d(0)),
                buy("e2", "c1", &d(10)),
                buy("e3", "c1", &d(11)),
                buy("e4", "c1", &d(12)),
                engage("e5", "c1", &d(39)),
                engage("e6", "c1", &d(40)),
            ],
            vec![
                tr("c1", "null", "prospect", "first_seen", &d(0), 1),
                tr("c1", "prospect", "new", "first_conversion", &d(10), 2),
                tr("c1", "new", "mature", "mature_criteria", &d(40), 3),
            ],
        ),
        (
            "zero-amount purchases do not count",
            vec![
                buy("e1", "c1", &d(0)),
                buy_amount("e2", "c1", &d(1), "0"),
                buy_amount("e3", "c1", &d(2), "0"),
                engage("e4", "c1", &d(30)),
            ],
            conv.clone(),
        ),
        (
            "subscription_started converts but is not a purchase",
            vec![
                subscribe("e1", "c1", &d(0)),
                buy("e2", "c1", &d(1)),
                buy("e3", "c1", &d(2)),
                engage("e4", "c1", &d(30)),
                buy("e5", "c1", &d(31)),
            ],
            with(
                conv.clone(),
                &[tr("c1", "new", "mature", "mature_criteria", &d(31), 3)],
            ),
        ),
    ];
    let mut check = Checker::new();
    for (name, events, expected) in cases {
        let out = replay_lines(&jsonl(&events));
        check.lines(name, "transitions", &out.transitions(), &expected);
    }
    check.finish();
}

#[test]
fn mature_rule_is_checked_after_every_known_event_type() {
    // Rule 5: "checked after every applied event of a known type, whatever the type".
    let prefix = [
        buy("e1", "c1", &d(0)),
        buy("e2", "c1", &d(1)),
        buy("e3", "c1", &d(2)),
    ];
    let mature = tr("c1", "new", "mature", "mature_criteria", &d(30), 3);
    let cases: Vec<(&str, &str, Vec<String>)> = vec![
        ("lead_created", "", vec![mature.clone()]),
        ("engagement", "", vec![mature.clone()]),
        ("refund", r#"{"amount":1}"#, vec![mature.clone()]),
        ("support_ticket", "", vec![mature.clone()]),
        ("complaint", "", vec![mature.clone()]),
        ("feedback", r#"{"nps":8}"#, vec![mature.clone()]),
        ("consent_withdrawn", "", vec![mature.clone()]),
        ("consent_granted", "", vec![mature.clone()]),
        ("purchase", r#"{"amount":0}"#, vec![mature.clone()]),
        // Rule 5 then rule 6 on the same event.
        (
            "subscription_cancelled",
            "",
            vec![
                mature.clone(),
                tr(
                    "c1",
                    "mature",
                    "churning",
                    "churn_signal:subscription_cancelled",
                    &d(30),
                    4,
                ),
            ],
        ),
        // An unknown type is ignored: no rule runs.
        ("webinar_attended", "", vec![]),
    ];
    let mut check = Checker::new();
    for (ty, data, expected) in cases {
        let mut lines = prefix.to_vec();
        lines.push(ev("e4", "c1", ty, &d(30), data));
        let out = replay_lines(&jsonl(&lines));
        check.lines(
            ty,
            "transitions",
            &out.transitions(),
            &with(converted_at("c1", &d(0)), &expected),
        );
    }
    check.finish();
}

#[test]
fn mature_is_not_reached_by_the_clock_alone() {
    // "It is checked after every applied event ... (not by timers)."
    let events = [
        buy("e1", "c1", &d(0)),
        buy("e2", "c1", &d(1)),
        buy("e3", "c1", &d(2)),
    ];
    let mut check = Checker::new();
    let out = replay_with(&jsonl(&events), Some(&d(30)), None);
    check.lines(
        "--as-of day 30",
        "transitions",
        &out.transitions(),
        &converted_at("c1", &d(0)),
    );
    let mut lines = events.to_vec();
    lines.push(lead("x1", "other", &d(30)));
    let out = replay_lines(&jsonl(&lines));
    check.lines(
        "another customer's event at day 30",
        "transitions of c1",
        &out.transitions_of("c1"),
        &converted_at("c1", &d(0)),
    );
    check.finish();
}

#[test]
fn churn_signal_moves_only_new_and_mature_to_churning() {
    // Rule 6: `new` or `mature` + churn signal -> churning, reason churn_signal:<type>.
    let conv = converted_at("c1", &d(0));
    let cases: Vec<(&str, Vec<String>, Vec<String>)> = vec![
        (
            "from prospect: nothing",
            vec![lead("e1", "c1", &d(0)), cancel("e2", "c1", &d(1))],
            vec![tr("c1", "null", "prospect", "first_seen", &d(0), 1)],
        ),
        (
            "from new",
            vec![buy("e1", "c1", &d(0)), cancel("e2", "c1", &d(1))],
            with(
                conv.clone(),
                &[tr(
                    "c1",
                    "new",
                    "churning",
                    "churn_signal:subscription_cancelled",
                    &d(1),
                    3,
                )],
            ),
        ),
        (
            "from mature",
            vec![
                buy("e1", "c1", &d(0)),
                buy("e2", "c1", &d(1)),
                buy("e3", "c1", &d(2)),
                engage("e4", "c1", &d(30)),
                cancel("e5", "c1", &d(31)),
            ],
            with(
                conv.clone(),
                &[
                    tr("c1", "new", "mature", "mature_criteria", &d(30), 3),
                    tr(
                        "c1",
                        "mature",
                        "churning",
                        "churn_signal:subscription_cancelled",
                        &d(31),
                        4,
                    ),
                ],
            ),
        ),
        (
            "from churning: nothing more",
            vec![
                buy("e1", "c1", &d(0)),
                cancel("e2", "c1", &d(1)),
                cancel("e3", "c1", &d(2)),
            ],
            with(
                conv.clone(),
                &[tr(
                    "c1",
                    "new",
                    "churning",
                    "churn_signal:subscription_cancelled",
                    &d(1),
                    3,
                )],
            ),
        ),
        (
            "from churned: nothing more (the no_reactivation timer fires first)",
            vec![
                buy("e1", "c1", &d(0)),
                cancel("e2", "c1", &d(1)),
                cancel("e3", "c1", &d(100)),
            ],
            with(
                conv.clone(),
                &[
                    tr(
                        "c1",
                        "new",
                        "churning",
                        "churn_signal:subscription_cancelled",
                        &d(1),
                        3,
                    ),
                    tr("c1", "churning", "churned", "no_reactivation", &d(91), 4),
                ],
            ),
        ),
    ];
    let mut check = Checker::new();
    for (name, events, expected) in cases {
        let out = replay_lines(&jsonl(&events));
        check.lines(name, "transitions", &out.transitions(), &expected);
    }
    check.finish();
}

#[test]
fn conversion_reactivates_churning_and_churned_customers_to_new_or_mature() {
    // Rule 4: churning/churned + conversion -> new or mature by the mature rule, reactivated.
    let conv = converted_at("c1", &d(0));
    let churn = |day: i64| {
        tr(
            "c1",
            "new",
            "churning",
            "churn_signal:subscription_cancelled",
            &d(day),
            3,
        )
    };
    let cases: Vec<(&str, Vec<String>, Vec<String>)> = vec![
        (
            "churning to new (two purchases)",
            vec![
                buy("e1", "c1", &d(0)),
                cancel("e2", "c1", &d(1)),
                buy("e3", "c1", &d(10)),
            ],
            with(
                conv.clone(),
                &[
                    churn(1),
                    tr("c1", "churning", "new", "reactivated", &d(10), 4),
                ],
            ),
        ),
        (
            "churning to new (four purchases but only 10 days of tenure)",
            vec![
                buy("e1", "c1", &d(0)),
                buy("e2", "c1", &d(1)),
                buy("e3", "c1", &d(2)),
                cancel("e4", "c1", &d(3)),
                buy("e5", "c1", &d(10)),
            ],
            with(
                conv.clone(),
                &[
                    churn(3),
                    tr("c1", "churning", "new", "reactivated", &d(10), 4),
                ],
            ),
        ),
        (
            "churning to mature",
            vec![
                buy("e1", "c1", &d(0)),
                buy("e2", "c1", &d(1)),
                buy("e3", "c1", &d(2)),
                cancel("e4", "c1", &d(5)),
                buy("e5", "c1", &d(40)),
            ],
            with(
                conv.clone(),
                &[
                    churn(5),
                    tr("c1", "churning", "mature", "reactivated", &d(40), 4),
                ],
            ),
        ),
        (
            "churning to mature by subscription_started (3 purchases, 40 days)",
            vec![
                buy("e1", "c1", &d(0)),
                buy("e2", "c1", &d(1)),
                buy("e3", "c1", &d(2)),
                cancel("e4", "c1", &d(5)),
                subscribe("e5", "c1", &d(40)),
            ],
            with(
                conv.clone(),
                &[
                    churn(5),
                    tr("c1", "churning", "mature", "reactivated", &d(40), 4),
                ],
            ),
        ),
        (
            "churned to new",
            vec![
                buy("e1", "c1", &d(0)),
                cancel("e2", "c1", &d(1)),
                buy("e3", "c1", &d(100)),
            ],
            with(
                conv.clone(),
                &[
                    churn(1),
                    tr("c1", "churning", "churned", "no_reactivation", &d(91), 4),
                    tr("c1", "churned", "new", "reactivated", &d(100), 5),
                ],
            ),
        ),
        (
            "churned to mature",
            vec![
                buy("e1", "c1", &d(0)),
                buy("e2", "c1", &d(1)),
                buy("e3", "c1", &d(2)),
                cancel("e4", "c1", &d(3)),
                buy("e5", "c1", &d(100)),
            ],
            with(
                conv.clone(),
                &[
                    churn(3),
                    tr("c1", "churning", "churned", "no_reactivation", &d(93), 4),
                    tr("c1", "churned", "mature", "reactivated", &d(100), 5),
                ],
            ),
        ),
        (
            "a zero-amount purchase does not reactivate",
            vec![
                buy("e1", "c1", &d(0)),
                cancel("e2", "c1", &d(1)),
                buy_amount("e3", "c1", &d(10), "0"),
            ],
            with(conv.clone(), &[churn(1)]),
        ),
        (
            "an engagement does not reactivate",
            vec![
                buy("e1", "c1", &d(0)),
                cancel("e2", "c1", &d(1)),
                engage("e3", "c1", &d(10)),
            ],
            with(conv.clone(), &[churn(1)]),
        ),
        (
            "reactivated to new, then mature 30 days after the FIRST conversion",
            vec![
                buy("e1", "c1", &d(0)),
                buy("e2", "c1", &d(1)),
                buy("e3", "c1", &d(2)),
                cancel("e4", "c1", &d(3)),
                buy("e5", "c1", &d(10)),
                engage("e6", "c1", &d(30)),
            ],
            with(
                conv.clone(),
                &[
                    churn(3),
                    tr("c1", "churning", "new", "reactivated", &d(10), 4),
                    tr("c1", "new", "mature", "mature_criteria", &d(30), 5),
                ],
            ),
        ),
    ];
    let mut check = Checker::new();
    for (name, events, expected) in cases {
        let out = replay_lines(&jsonl(&events));
        check.lines(name, "transitions", &out.transitions(), &expected);
    }
    check.finish();
}

#[test]
fn late_events_are_applied_and_carry_their_own_occurred_at() {
    // "Each transition ... carries the time of its cause in `at`: the event's occurred_at
    // (also when the event is late)"; "no event is ever dropped for being late".
    let cases: Vec<(&str, Vec<String>, Vec<String>)> = vec![
        (
            "a late third purchase matures the customer at its own time",
            vec![
                buy("e1", "c1", &d(0)),
                buy("e2", "c1", &d(40)),
                buy("e3", "c1", &d(31)),
            ],
            with(
                converted_at("c1", &d(0)),
                &[tr("c1", "new", "mature", "mature_criteria", &d(31), 3)],
            ),
        ),
        (
            "a late conversion is stamped with its own time",
            vec![lead("e1", "c1", &d(10)), buy("e2", "c1", &d(5))],
            vec![
                tr("c1", "null", "prospect", "first_seen", &d(10), 1),
                tr("c1", "prospect", "new", "first_conversion", &d(5), 2),
            ],
        ),
        (
            "a very late churn signal (weeks behind the clock) is still applied",
            vec![
                buy("e1", "c1", &d(0)),
                engage("e2", "c1", &d(50)),
                cancel("e3", "c1", &d(20)),
            ],
            with(
                converted_at("c1", &d(0)),
                &[tr(
                    "c1",
                    "new",
                    "churning",
                    "churn_signal:subscription_cancelled",
                    &d(20),
                    3,
                )],
            ),
        ),
    ];
    let mut check = Checker::new();
    for (name, events, expected) in cases {
        let out = replay_lines(&jsonl(&events));
        check.lines(name, "transitions", &out.transitions(), &expected);
    }
    check.finish();
}

#[test]
fn first_conversion_time_is_the_earliest_conversion_even_when_it_arrives_late() {
    // "the first conversion time is the earliest conversion event's time."
    // Converted at day 40, purchases at 41 and 42 (count 3); a late subscription_started of
    // day 5 moves the first conversion to day 5, so an engagement at day 43 (38 days later)
    // satisfies the tenure. At the late event itself (day 5) the tenure is 0.
    let events = [
        buy("e1", "c1", &d(40)),
        buy("e2", "c1", &d(41)),
        buy("e3", "c1", &d(42)),
        subscribe("e4", "c1", &d(5)),
        engage("e5", "c1", &d(43)),
    ];
    let out = replay_lines(&jsonl(&events));
    let mut check = Checker::new();
    check.lines(
        "late subscription_started at day 5",
        "transitions",
        &out.transitions(),
        &with(
            converted_at("c1", &d(40)),
            &[tr("c1", "new", "mature", "mature_criteria", &d(43), 3)],
        ),
    );
    check.finish();
}

#[test]
fn duplicates_change_nothing_for_the_same_customer_only() {
    // "An event whose event_id was already processed for the same customer is a duplicate
    // and changes nothing (remember at least the last 16 event ids per customer)".
    let mut check = Checker::new();

    // The repeated e2 (now dated day 30) would be a third purchase reaching the tenure.
    let out = replay_lines(&jsonl(&[
        buy("e1", "c1", &d(0)),
        buy("e2", "c1", &d(1)),
        buy("e2", "c1", &d(30)),
        engage("e4", "c1", &d(31)),
    ]));
    let name = "same id, same customer, repeated purchase";
    check.lines(
        name,
        "transitions",
        &out.transitions(),
        &converted_at("c1", &d(0)),
    );
    check.eq(name, "duplicates", out.outcome("duplicate"), 1);
    check.eq(name, "applied", out.outcome("applied"), 3);

    let out = replay_lines(&jsonl(&[buy("e1", "c1", &d(0)), cancel("e1", "c1", &d(1))]));
    let name = "same id, same customer, different type";
    check.lines(
        name,
        "transitions",
        &out.transitions(),
        &converted_at("c1", &d(0)),
    );
    check.eq(name, "duplicates", out.outcome("duplicate"), 1);

    let out = replay_lines(&jsonl(&[lead("e1", "c1", &d(0)), lead("e1", "c1", &d(0))]));
    let name = "an exact copy of a first event";
    check.lines(
        name,
        "transitions",
        &out.transitions(),
        &[tr("c1", "null", "prospect", "first_seen", &d(0), 1)],
    );
    check.eq(name, "duplicates", out.outcome("duplicate"), 1);

    let out = replay_lines(&jsonl(&[buy("e1", "c1", &d(0)), buy("e1", "c2", &d(0))]));
    let name = "same id, another customer: not a duplicate";
    check.lines(
        name,
        "transitions",
        &out.transitions(),
        &with(converted_at("c1", &d(0)), &converted_at("c2", &d(0))),
    );
    check.eq(name, "duplicates", out.outcome("duplicate"), 0);
    check.eq(name, "applied", out.outcome("applied"), 2);

    // docs/decisions.md: the duplicate check comes first, customer_erased included.
    let out = replay_lines(&jsonl(&[lead("e1", "c1", &d(0)), erase("e1", "c1", &d(1))]));
    let name = "an erase reusing an applied event id is a duplicate";
    check.lines(
        name,
        "transitions",
        &out.transitions(),
        &[tr("c1", "null", "prospect", "first_seen", &d(0), 1)],
    );
    check.eq(name, "duplicates", out.outcome("duplicate"), 1);
    check.eq(name, "customers", out.customers(), 1);

    // e1 .. e16 are the last 16 ids of c1; e1 repeated is still a duplicate.
    let mut lines = vec![lead("e1", "c1", &d(0))];
    for i in 2..=16 {
        lines.push(engage(&format!("e{i}"), "c1", &d(i)));
    }
    lines.push(buy("e1", "c1", &d(17)));
    let out = replay_lines(&jsonl(&lines));
    let name = "the 16th most recent id is remembered";
    check.eq(name, "duplicates", out.outcome("duplicate"), 1);
    check.lines(
        name,
        "transitions",
        &out.transitions(),
        &[tr("c1", "null", "prospect", "first_seen", &d(0), 1)],
    );
    check.finish();
}

#[test]
fn erase_deletes_the_customer_and_a_later_event_starts_over_at_seq_1() {
    // "customer_erased deletes the customer's state (transition to null, reason erased; ...
    // no action); for an unknown customer it does nothing. A later event starts a new
    // customer, with seq from 1 again."
    let mut check = Checker::new();

    let out = replay_lines(&jsonl(&[buy("e1", "c1", &d(0)), erase("e2", "c1", &d(1))]));
    let name = "erase a new customer";
    check.lines(
        name,
        "transitions",
        &out.transitions(),
        &with(
            converted_at("c1", &d(0)),
            &[tr("c1", "new", "null", "erased", &d(1), 3)],
        ),
    );
    check.lines(
        name,
        "actions",
        &out.actions(),
        &[ac("c1", "welcome_onboarding", "new", &d(0), "e1")],
    );
    let erase_event_id = out
        .transition_records()
        .last()
        .map(|r| r["event_id"].clone());
    check.eq(
        name,
        "erase transition event_id",
        erase_event_id,
        Some(serde_json::json!("e2")),
    );
    check.eq(name, "customers left", out.customers(), 0);

    let out = replay_lines(&jsonl(&[erase("e1", "c9", &d(0))]));
    let name = "erase an unknown customer";
    check.lines(name, "records", &out.all(), &[] as &[&str]);
    check.eq(name, "nothing_to_erase", out.outcome("nothing_to_erase"), 1);
    check.eq(name, "customers", out.customers(), 0);

    let out = replay_lines(&jsonl(&[
        lead("e1", "c1", &d(0)),
        erase("e2", "c1", &d(1)),
        erase("e3", "c1", &d(2)),
    ]));
    let name = "erase twice";
    check.lines(
        name,
        "transitions",
        &out.transitions(),
        &[
            tr("c1", "null", "prospect", "first_seen", &d(0), 1),
            tr("c1", "prospect", "null", "erased", &d(1), 2),
        ],
    );
    check.eq(name, "nothing_to_erase", out.outcome("nothing_to_erase"), 1);

    let out = replay_lines(&jsonl(&[
        lead("e1", "c1", &d(0)),
        erase("e2", "c1", &d(1)),
        lead("e3", "c1", &d(2)),
    ]));
    let name = "return after erase";
    check.lines(
        name,
        "records",
        &out.all(),
        &[
            tr("c1", "null", "prospect", "first_seen", &d(0), 1),
            ac("c1", "nurture_lead", "prospect", &d(0), "e1"),
            tr("c1", "prospect", "null", "erased", &d(1), 2),
            // Everything was deleted, the last-sent times too: no cooldown.
            tr("c1", "null", "prospect", "first_seen", &d(2), 1),
            ac("c1", "nurture_lead", "prospect", &d(2), "e3"),
        ],
    );
    check.eq(
        name,
        "customers in prospect",
        out.customers_in("prospect"),
        1,
    );

    let out = replay_lines(&jsonl(&[
        lead("e1", "c1", &d(0)),
        erase("e2", "c1", &d(1)),
        lead("e1", "c1", &d(2)),
    ]));
    let name = "erase forgets the remembered event ids too";
    check.eq(name, "duplicates", out.outcome("duplicate"), 0);
    check.lines(
        name,
        "transitions",
        &out.transitions(),
        &[
            tr("c1", "null", "prospect", "first_seen", &d(0), 1),
            tr("c1", "prospect", "null", "erased", &d(1), 2),
            tr("c1", "null", "prospect", "first_seen", &d(2), 1),
        ],
    );

    let out = replay_lines(&jsonl(&[buy("e1", "c1", &d(0)), erase("e2", "c1", &d(70))]));
    let name = "an erase that brings the clock past the customer's own deadline";
    // The timer fires first (before the event is applied), then the erase.
    check.lines(
        name,
        "transitions",
        &out.transitions(),
        &with(
            converted_at("c1", &d(0)),
            &[
                tr("c1", "new", "churning", "inactivity", &d(60), 3),
                tr("c1", "churning", "null", "erased", &d(70), 4),
            ],
        ),
    );

    let out = replay_with(
        &jsonl(&[buy("e1", "c1", &d(0)), erase("e2", "c1", &d(1))]),
        Some(&d(365)),
        None,
    );
    let name = "an erased customer's timer is gone";
    check.lines(
        name,
        "transitions",
        &out.transitions(),
        &with(
            converted_at("c1", &d(0)),
            &[tr("c1", "new", "null", "erased", &d(1), 3)],
        ),
    );
    check.finish();
}

#[test]
fn configured_rule_parameters_change_the_transitions() {
    let mut check = Checker::new();
    let cases: Vec<(&str, &str, Vec<String>, Vec<String>)> = vec![
        (
            "one purchase and no tenure: the first purchase goes straight to mature",
            "[rules]\nmature_min_purchases = 1\nmature_min_tenure_days = 0\n",
            vec![buy("e1", "c1", &d(0))],
            with(
                converted_at("c1", &d(0)),
                &[tr("c1", "new", "mature", "mature_criteria", &d(0), 3)],
            ),
        ),
        (
            "two purchases, ten days: matures at exactly day 10",
            "[rules]\nmature_min_purchases = 2\nmature_min_tenure_days = 10\n",
            vec![buy("e1", "c1", &d(0)), buy("e2", "c1", &d(10))],
            with(
                converted_at("c1", &d(0)),
                &[tr("c1", "new", "mature", "mature_criteria", &d(10), 3)],
            ),
        ),
        (
            "two purchases, ten days: not 1 ns before day 10",
            "[rules]\nmature_min_purchases = 2\nmature_min_tenure_days = 10\n",
            vec![buy("e1", "c1", &d(0)), buy("e2", "c1", &ts(10, 0, -1))],
            converted_at("c1", &d(0)),
        ),
        (
            "only subscriptions convert: a purchase does not",
            "[rules]\nconversion_events = [\"subscription_started\"]\n",
            vec![
                lead("e1", "c1", &d(0)),
                buy("e2", "c1", &d(1)),
                subscribe("e3", "c1", &d(2)),
            ],
            vec![
                tr("c1", "null", "prospect", "first_seen", &d(0), 1),
                tr("c1", "prospect", "new", "first_conversion", &d(2), 2),
            ],
        ),
        (
            "complaint as the churn signal",
            "[rules]\nchurn_signal_events = [\"complaint\"]\n",
            vec![
                buy("e1", "c1", &d(0)),
                cancel("e2", "c1", &d(1)),
                complaint("e3", "c1", &d(2)),
            ],
            with(
                converted_at("c1", &d(0)),
                &[tr(
                    "c1",
                    "new",
                    "churning",
                    "churn_signal:complaint",
                    &d(2),
                    3,
                )],
            ),
        ),
        (
            "refund added to the churn signals",
            "[rules]\nchurn_signal_events = [\"subscription_cancelled\", \"refund\"]\n",
            vec![
                buy("e1", "c1", &d(0)),
                ev("e2", "c1", "refund", &d(1), r#"{"amount":10}"#),
            ],
            with(
                converted_at("c1", &d(0)),
                &[tr("c1", "new", "churning", "churn_signal:refund", &d(1), 3)],
            ),
        ),
    ];
    for (name, config, events, expected) in cases {
        let out = replay_with(&jsonl(&events), None, Some(config));
        check.lines(name, "transitions", &out.transitions(), &expected);
    }
    check.finish();
}
