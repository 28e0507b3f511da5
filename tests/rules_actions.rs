//! SPEC section 3: stage-entry actions and the net-change rule, event actions
//! (service_recovery, detractor_follow_up, advocacy_invite, KANO must-be, surprise_delight),
//! their order, cooldown and consent suppression, deterministic action ids.
//! Times are days after 2025-01-01 (`d(n)`); expected values come from the SPEC text.

#![allow(clippy::type_complexity)] // the case tables are tuples, on purpose
mod common;

use std::collections::BTreeSet;

use common::*;

fn with(mut base: Vec<String>, more: &[String]) -> Vec<String> {
    base.extend_from_slice(more);
    base
}

/// The sent actions caused by one event.
fn caused_by(out: &Output, event_id: &str) -> Vec<String> {
    let suffix = format!(" cause={event_id}");
    out.actions()
        .into_iter()
        .filter(|a| a.ends_with(&suffix))
        .collect()
}

/// Purchases `ids` at days `first..`, one a day.
fn purchases(c: &str, ids: &[&str], first_day: i64) -> Vec<String> {
    ids.iter()
        .enumerate()
        .map(|(i, id)| buy(id, c, &d(first_day + i as i64)))
        .collect()
}

/// c1 made mature at day 30: purchases e1, e2, e3 on days 0-2, engagement e4 on day 30.
fn mature_c1() -> Vec<String> {
    with(
        purchases("c1", &["e1", "e2", "e3"], 0),
        &[engage("e4", "c1", &d(30))],
    )
}

#[test]
fn each_stage_entry_plans_its_action() {
    let cases: Vec<(&str, Vec<String>, Option<String>, Vec<String>)> = vec![
        (
            "entered prospect: nurture_lead",
            vec![lead("e1", "c1", &d(0))],
            None,
            vec![ac("c1", "nurture_lead", "prospect", &d(0), "e1")],
        ),
        (
            "entered new from prospect: welcome_onboarding",
            vec![lead("e1", "c1", &d(0)), buy("e2", "c1", &d(1))],
            None,
            vec![
                ac("c1", "nurture_lead", "prospect", &d(0), "e1"),
                ac("c1", "welcome_onboarding", "new", &d(1), "e2"),
            ],
        ),
        (
            "entered mature from new: loyalty_reward",
            mature_c1(),
            None,
            vec![
                ac("c1", "welcome_onboarding", "new", &d(0), "e1"),
                ac("c1", "loyalty_reward", "mature", &d(30), "e4"),
            ],
        ),
        (
            "entered churning by churn signal: retention_offer",
            vec![buy("e1", "c1", &d(0)), cancel("e2", "c1", &d(1))],
            None,
            vec![
                ac("c1", "welcome_onboarding", "new", &d(0), "e1"),
                ac("c1", "retention_offer", "churning", &d(1), "e2"),
            ],
        ),
        (
            "entered churning by inactivity: retention_offer from the timer",
            vec![buy("e1", "c1", &d(0))],
            Some(d(70)),
            vec![
                ac("c1", "welcome_onboarding", "new", &d(0), "e1"),
                ac("c1", "retention_offer", "churning", &d(60), "-"),
            ],
        ),
        (
            "entered churned: win_back_campaign",
            vec![buy("e1", "c1", &d(0)), cancel("e2", "c1", &d(1))],
            Some(d(100)),
            vec![
                ac("c1", "welcome_onboarding", "new", &d(0), "e1"),
                ac("c1", "retention_offer", "churning", &d(1), "e2"),
                ac("c1", "win_back_campaign", "churned", &d(91), "-"),
            ],
        ),
        (
            "reactivated churning -> new: welcome_back",
            vec![
                buy("e1", "c1", &d(0)),
                cancel("e2", "c1", &d(1)),
                buy("e3", "c1", &d(10)),
            ],
            None,
            vec![
                ac("c1", "welcome_onboarding", "new", &d(0), "e1"),
                ac("c1", "retention_offer", "churning", &d(1), "e2"),
                ac("c1", "welcome_back", "new", &d(10), "e3"),
            ],
        ),
        (
            "reactivated churning -> mature: welcome_back (not loyalty_reward)",
            with(
                purchases("c1", &["e1", "e2", "e3"], 0),
                &[cancel("e4", "c1", &d(5)), buy("e5", "c1", &d(40))],
            ),
            None,
            vec![
                ac("c1", "welcome_onboarding", "new", &d(0), "e1"),
                ac("c1", "retention_offer", "churning", &d(5), "e4"),
                ac("c1", "welcome_back", "mature", &d(40), "e5"),
            ],
        ),
        (
            "reactivated churned -> new: win_back by the timer, then welcome_back",
            vec![
                buy("e1", "c1", &d(0)),
                cancel("e2", "c1", &d(1)),
                buy("e3", "c1", &d(100)),
            ],
            None,
            vec![
                ac("c1", "welcome_onboarding", "new", &d(0), "e1"),
                ac("c1", "retention_offer", "churning", &d(1), "e2"),
                ac("c1", "win_back_campaign", "churned", &d(91), "-"),
                ac("c1", "welcome_back", "new", &d(100), "e3"),
            ],
        ),
    ];
    let mut check = Checker::new();
    for (name, events, as_of, expected) in cases {
        let out = replay_with(&jsonl(&events), as_of.as_deref(), None);
        check.lines(name, "actions", &out.actions(), &expected);
    }
    check.finish();
}

#[test]
fn stage_entry_actions_carry_the_reason_of_the_transition() {
    // Section 4: a welcome_onboarding action has reason "first_conversion", the reason of
    // the transition that entered the stage.
    let mut check = Checker::new();
    let out = replay_with(
        &jsonl(&[
            lead("e1", "c1", &d(0)),
            buy("e2", "c1", &d(1)),
            cancel("e3", "c1", &d(2)),
            buy("e4", "c1", &d(100)),
        ]),
        Some(&d(300)),
        None,
    );
    check.lines(
        "lead, purchase, cancel, win-back purchase, --as-of day 300",
        "kind reason",
        &out.action_reasons(),
        &[
            "nurture_lead first_seen",
            "welcome_onboarding first_conversion",
            "retention_offer churn_signal:subscription_cancelled",
            "win_back_campaign no_reactivation",
            "welcome_back reactivated",
            "retention_offer inactivity",
            "win_back_campaign no_reactivation",
        ],
    );
    let out = replay_lines(&jsonl(&mature_c1()));
    check.lines(
        "mature",
        "kind reason",
        &out.action_reasons(),
        &[
            "welcome_onboarding first_conversion",
            "loyalty_reward mature_criteria",
        ],
    );
    check.finish();
}

#[test]
fn net_change_plans_only_the_final_stage_entry_action() {
    // "when one event moves a customer through several stages, only the final stage's entry
    // action is planned."
    let mut check = Checker::new();
    for (name, line) in [
        ("first event a purchase", buy("e1", "c1", &d(0))),
        ("first event a subscription", subscribe("e1", "c1", &d(0))),
    ] {
        let out = replay_lines(&jsonl(&[line]));
        check.lines(
            name,
            "records",
            &out.all(),
            &[
                tr("c1", "null", "prospect", "first_seen", &d(0), 1),
                tr("c1", "prospect", "new", "first_conversion", &d(0), 2),
                ac("c1", "welcome_onboarding", "new", &d(0), "e1"),
            ],
        );
        // nurture_lead is not planned at all, so it is not counted as suppressed either.
        check.eq(name, "suppressed actions", out.suppressed_total(), 0);
    }

    let name = "new -> mature -> churning on one cancellation";
    let out = replay_lines(&jsonl(&with(
        purchases("c1", &["e1", "e2", "e3"], 0),
        &[cancel("e4", "c1", &d(30))],
    )));
    check.lines(
        name,
        "records",
        &out.all(),
        &[
            tr("c1", "null", "prospect", "first_seen", &d(0), 1),
            tr("c1", "prospect", "new", "first_conversion", &d(0), 2),
            ac("c1", "welcome_onboarding", "new", &d(0), "e1"),
            tr("c1", "new", "mature", "mature_criteria", &d(30), 3),
            tr(
                "c1",
                "mature",
                "churning",
                "churn_signal:subscription_cancelled",
                &d(30),
                4,
            ),
            ac("c1", "retention_offer", "churning", &d(30), "e4"),
        ],
    );
    check.eq(name, "suppressed actions", out.suppressed_total(), 0);

    let name = "first purchase straight to mature (1 purchase, 0 days)";
    let out = replay_with(
        &jsonl(&[buy("e1", "c1", &d(0))]),
        None,
        Some("[rules]\nmature_min_purchases = 1\nmature_min_tenure_days = 0\n"),
    );
    check.lines(
        name,
        "actions",
        &out.actions(),
        &[ac("c1", "loyalty_reward", "mature", &d(0), "e1")],
    );
    check.eq(name, "suppressed actions", out.suppressed_total(), 0);
    check.finish();
}

#[test]
fn the_stage_entry_action_comes_first_then_the_others_in_table_order() {
    let kano_must_be_unhappy = r#""satisfaction":1,"kano":{"functional":2,"dysfunctional":5}"#;
    let cases: Vec<(&str, Vec<String>, &str, Vec<String>)> = vec![
        (
            "first event a complaint",
            vec![complaint("e1", "c1", &d(0))],
            "e1",
            vec![
                ac("c1", "nurture_lead", "prospect", &d(0), "e1"),
                ac("c1", "service_recovery", "prospect", &d(0), "e1"),
            ],
        ),
        (
            "first event a high-severity ticket",
            vec![ev(
                "e1",
                "c1",
                "support_ticket",
                &d(0),
                r#"{"severity":"high"}"#,
            )],
            "e1",
            vec![
                ac("c1", "nurture_lead", "prospect", &d(0), "e1"),
                ac("c1", "service_recovery", "prospect", &d(0), "e1"),
            ],
        ),
        (
            "a complaint that makes the customer mature",
            with(
                purchases("c1", &["e1", "e2", "e3"], 0),
                &[complaint("e4", "c1", &d(30))],
            ),
            "e4",
            vec![
                ac("c1", "loyalty_reward", "mature", &d(30), "e4"),
                ac("c1", "service_recovery", "mature", &d(30), "e4"),
            ],
        ),
        (
            "first event a detractor with an unhappy must-be (KANO row is after the NPS rows)",
            vec![feedback(
                "e1",
                "c1",
                &d(0),
                &format!(r#"{{"nps":2,{kano_must_be_unhappy}}}"#),
            )],
            "e1",
            vec![
                ac("c1", "nurture_lead", "prospect", &d(0), "e1"),
                ac("c1", "detractor_follow_up", "prospect", &d(0), "e1"),
                ac("c1", "service_recovery", "prospect", &d(0), "e1"),
            ],
        ),
        (
            "feedback that matures: promoter and unhappy must-be",
            with(
                purchases("c1", &["e1", "e2", "e3"], 0),
                &[feedback(
                    "e4",
                    "c1",
                    &d(30),
                    &format!(r#"{{"nps":10,{kano_must_be_unhappy}}}"#),
                )],
            ),
            "e4",
            vec![
                ac("c1", "loyalty_reward", "mature", &d(30), "e4"),
                ac("c1", "advocacy_invite", "mature", &d(30), "e4"),
                ac("c1", "service_recovery", "mature", &d(30), "e4"),
            ],
        ),
        (
            "the 10th purchase makes the customer mature",
            with(
                purchases(
                    "c1",
                    &["e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9"],
                    0,
                ),
                &[buy("e10", "c1", &d(30))],
            ),
            "e10",
            vec![
                ac("c1", "loyalty_reward", "mature", &d(30), "e10"),
                ac("c1", "surprise_delight", "mature", &d(30), "e10"),
            ],
        ),
        (
            "the 10th purchase reactivates to mature",
            with(
                purchases(
                    "c1",
                    &["e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9"],
                    0,
                ),
                &[cancel("e10", "c1", &d(9)), buy("e11", "c1", &d(40))],
            ),
            "e11",
            vec![
                ac("c1", "welcome_back", "mature", &d(40), "e11"),
                ac("c1", "surprise_delight", "mature", &d(40), "e11"),
            ],
        ),
    ];
    let mut check = Checker::new();
    for (name, events, cause, expected) in cases {
        let out = replay_lines(&jsonl(&events));
        check.lines(
            name,
            "actions of the event",
            &caused_by(&out, cause),
            &expected,
        );
    }
    check.finish();
}

#[test]
fn complaints_and_high_severity_tickets_trigger_service_recovery() {
    let recovery = vec![ac("c1", "service_recovery", "prospect", &d(1), "e2")];
    let cases: Vec<(&str, &str, Vec<String>)> = vec![
        ("complaint", "", recovery.clone()),
        ("complaint", r#"{"topic":"billing"}"#, recovery.clone()),
        ("support_ticket", r#"{"severity":"high"}"#, recovery.clone()),
        (
            "support_ticket",
            r#"{"severity":"high","status":"open"}"#,
            recovery.clone(),
        ),
        ("support_ticket", r#"{"severity":"normal"}"#, vec![]),
        ("support_ticket", r#"{"severity":"low"}"#, vec![]),
        ("support_ticket", "", vec![]),
        ("support_ticket", r#"{"severity":null}"#, vec![]),
        ("refund", r#"{"amount":5}"#, vec![]),
    ];
    let mut check = Checker::new();
    for (ty, data, expected) in cases {
        let out = replay_lines(&jsonl(&[
            lead("e1", "c1", &d(0)),
            ev("e2", "c1", ty, &d(1), data),
        ]));
        check.lines(
            &format!("{ty} {data}"),
            "actions of e2",
            &caused_by(&out, "e2"),
            &expected,
        );
    }
    check.finish();
}

#[test]
fn nps_of_six_or_less_asks_for_follow_up_and_nine_or_more_invites_mature_advocates() {
    // (setup, stage after the feedback, feedback id, feedback day)
    let prospect = (vec![lead("e1", "c1", &d(0))], "prospect", "f", 1);
    let new = (vec![buy("e1", "c1", &d(0))], "new", "f", 1);
    let mature = (mature_c1(), "mature", "f", 31);
    let churning = (
        vec![buy("e1", "c1", &d(0)), cancel("e2", "c1", &d(1))],
        "churning",
        "f",
        2,
    );
    let detractor =
        |stage: &str, day: i64| vec![ac("c1", "detractor_follow_up", stage, &d(day), "f")];
    let advocacy = |stage: &str, day: i64| vec![ac("c1", "advocacy_invite", stage, &d(day), "f")];
    let cases: Vec<(&str, &(Vec<String>, &str, &str, i64), &str, Vec<String>)> = vec![
        (
            "prospect nps 0",
            &prospect,
            r#"{"nps":0}"#,
            detractor("prospect", 1),
        ),
        (
            "prospect nps 6",
            &prospect,
            r#"{"nps":6}"#,
            detractor("prospect", 1),
        ),
        ("prospect nps 7", &prospect, r#"{"nps":7}"#, vec![]),
        ("prospect nps 8", &prospect, r#"{"nps":8}"#, vec![]),
        ("prospect nps 9", &prospect, r#"{"nps":9}"#, vec![]),
        ("prospect nps 10", &prospect, r#"{"nps":10}"#, vec![]),
        (
            "prospect no nps",
            &prospect,
            r#"{"satisfaction":4}"#,
            vec![],
        ),
        ("prospect nps null", &prospect, r#"{"nps":null}"#, vec![]),
        ("new nps 6", &new, r#"{"nps":6}"#, detractor("new", 1)),
        ("new nps 9", &new, r#"{"nps":9}"#, vec![]),
        ("new nps 10", &new, r#"{"nps":10}"#, vec![]),
        (
            "mature nps 6",
            &mature,
            r#"{"nps":6}"#,
            detractor("mature", 31),
        ),
        ("mature nps 8", &mature, r#"{"nps":8}"#, vec![]),
        (
            "mature nps 9",
            &mature,
            r#"{"nps":9}"#,
            advocacy("mature", 31),
        ),
        (
            "mature nps 10",
            &mature,
            r#"{"nps":10}"#,
            advocacy("mature", 31),
        ),
        ("churning nps 10", &churning, r#"{"nps":10}"#, vec![]),
        (
            "churning nps 3",
            &churning,
            r#"{"nps":3}"#,
            detractor("churning", 2),
        ),
    ];
    let mut check = Checker::new();
    for (name, (setup, _stage, id, day), data, expected) in cases {
        let mut lines = setup.clone();
        lines.push(feedback(id, "c1", &d(*day), data));
        let out = replay_lines(&jsonl(&lines));
        check.lines(
            name,
            "actions of the feedback",
            &caused_by(&out, id),
            &expected,
        );
    }
    // "While mature" means the stage after this input's transitions.
    let out = replay_lines(&jsonl(&with(
        purchases("c1", &["e1", "e2", "e3"], 0),
        &[feedback("f", "c1", &d(30), r#"{"nps":9}"#)],
    )));
    check.lines(
        "nps 9 on the feedback that makes the customer mature",
        "actions of the feedback",
        &caused_by(&out, "f"),
        &[
            ac("c1", "loyalty_reward", "mature", &d(30), "f"),
            ac("c1", "advocacy_invite", "mature", &d(30), "f"),
        ],
    );
    check.finish();
}

#[test]
fn an_unhappy_must_be_feature_triggers_service_recovery() {
    // KANO table of SPEC section 7: rows functional, columns dysfunctional; M (must-be) is
    // functional 2-4 with dysfunctional 5. Trigger: must-be and satisfaction <= 2.
    let yes = vec![ac("c1", "service_recovery", "prospect", &d(1), "f")];
    let cases: Vec<(&str, &str, Vec<String>)> = vec![
        (
            "must-be (2,5), satisfaction 2",
            r#"{"satisfaction":2,"kano":{"functional":2,"dysfunctional":5}}"#,
            yes.clone(),
        ),
        (
            "must-be (3,5), satisfaction 1",
            r#"{"satisfaction":1,"kano":{"functional":3,"dysfunctional":5}}"#,
            yes.clone(),
        ),
        (
            "must-be (4,5), satisfaction 2",
            r#"{"satisfaction":2,"kano":{"functional":4,"dysfunctional":5}}"#,
            yes.clone(),
        ),
        (
            "must-be (2,5), satisfaction 3",
            r#"{"satisfaction":3,"kano":{"functional":2,"dysfunctional":5}}"#,
            vec![],
        ),
        (
            "must-be (2,5), no satisfaction",
            r#"{"kano":{"functional":2,"dysfunctional":5}}"#,
            vec![],
        ),
        (
            "must-be (2,5), satisfaction null",
            r#"{"satisfaction":null,"kano":{"functional":2,"dysfunctional":5}}"#,
            vec![],
        ),
        (
            "one-dimensional (1,5), satisfaction 1",
            r#"{"satisfaction":1,"kano":{"functional":1,"dysfunctional":5}}"#,
            vec![],
        ),
        (
            "questionable (5,5), satisfaction 1",
            r#"{"satisfaction":1,"kano":{"functional":5,"dysfunctional":5}}"#,
            vec![],
        ),
        (
            "questionable (1,1), satisfaction 1",
            r#"{"satisfaction":1,"kano":{"functional":1,"dysfunctional":1}}"#,
            vec![],
        ),
        (
            "indifferent (2,4), satisfaction 1",
            r#"{"satisfaction":1,"kano":{"functional":2,"dysfunctional":4}}"#,
            vec![],
        ),
        (
            "attractive (1,2), satisfaction 1",
            r#"{"satisfaction":1,"kano":{"functional":1,"dysfunctional":2}}"#,
            vec![],
        ),
        (
            "reverse (5,1), satisfaction 1",
            r#"{"satisfaction":1,"kano":{"functional":5,"dysfunctional":1}}"#,
            vec![],
        ),
        (
            "reverse (3,1), satisfaction 1",
            r#"{"satisfaction":1,"kano":{"functional":3,"dysfunctional":1}}"#,
            vec![],
        ),
        ("satisfaction 1, no kano", r#"{"satisfaction":1}"#, vec![]),
        (
            "satisfaction 1, kano null",
            r#"{"satisfaction":1,"kano":null}"#,
            vec![],
        ),
    ];
    let mut check = Checker::new();
    for (name, data, expected) in cases {
        let out = replay_lines(&jsonl(&[
            lead("e1", "c1", &d(0)),
            feedback("f", "c1", &d(1), data),
        ]));
        check.lines(
            name,
            "actions of the feedback",
            &caused_by(&out, "f"),
            &expected,
        );
    }
    check.finish();
}

#[test]
fn surprise_delight_when_the_purchase_count_reaches_a_milestone_while_mature() {
    // Mature at day 30 with 3 purchases; purchases p4..p10 on days 31..37 reach 10.
    let ids: Vec<String> = (4..=10).map(|i| format!("p{i}")).collect();
    let to_ten: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| buy(id, "c1", &d(31 + i as i64)))
        .collect();
    let mut check = Checker::new();

    let out = replay_lines(&jsonl(&with(mature_c1(), &to_ten)));
    check.lines(
        "10th purchase while mature",
        "surprise_delight",
        &out.actions_of_kind("surprise_delight"),
        &[ac("c1", "surprise_delight", "mature", &d(37), "p10")],
    );

    let mut lines = with(mature_c1(), &to_ten);
    lines.push(buy("p11", "c1", &d(38)));
    let out = replay_lines(&jsonl(&lines));
    check.lines(
        "11th purchase: no milestone",
        "surprise_delight",
        &out.actions_of_kind("surprise_delight"),
        &[ac("c1", "surprise_delight", "mature", &d(37), "p10")],
    );

    let mut zero = to_ten.clone();
    zero[3] = buy_amount("p7", "c1", &d(34), "0");
    let out = replay_lines(&jsonl(&with(mature_c1(), &zero)));
    check.lines(
        "a zero-amount purchase does not count: only 9",
        "surprise_delight",
        &out.actions_of_kind("surprise_delight"),
        &[] as &[&str],
    );

    let ten_early: Vec<String> = (1..=10)
        .map(|i| buy(&format!("e{i}"), "c1", &d(i - 1)))
        .collect();
    let out = replay_lines(&jsonl(&with(ten_early, &[engage("g", "c1", &d(30))])));
    check.lines(
        "10th purchase while new; mature later on an engagement (the count reaches nothing then)",
        "actions",
        &out.actions(),
        &[
            ac("c1", "welcome_onboarding", "new", &d(0), "e1"),
            ac("c1", "loyalty_reward", "mature", &d(30), "g"),
        ],
    );

    // 25th purchase at day 70: 33 days after the first delight, outside the cooldown.
    let mut lines = with(mature_c1(), &to_ten);
    for i in 11..=24 {
        lines.push(buy(&format!("p{i}"), "c1", &d(27 + i)));
    }
    lines.push(buy("p25", "c1", &d(70)));
    let out = replay_lines(&jsonl(&lines));
    check.lines(
        "25th purchase while mature",
        "surprise_delight",
        &out.actions_of_kind("surprise_delight"),
        &[
            ac("c1", "surprise_delight", "mature", &d(37), "p10"),
            ac("c1", "surprise_delight", "mature", &d(70), "p25"),
        ],
    );
    check.finish();
}

#[test]
fn cooldown_suppresses_the_same_kind_within_thirty_days_of_the_last_sent_one() {
    // "an action whose at is earlier than the at of the last sent action of the same kind for
    // the same customer plus cooldown_days is suppressed (cooldown); suppressed actions do
    // not restart the cooldown."
    let sr = |c: &str, at: &str, cause: &str| ac(c, "service_recovery", "prospect", at, cause);
    let cases: Vec<(&str, Vec<String>, Vec<String>, u64)> = vec![
        (
            "exactly 30 days later: sent",
            vec![complaint("k1", "c1", &d(0)), complaint("k2", "c1", &d(30))],
            vec![sr("c1", &d(0), "k1"), sr("c1", &d(30), "k2")],
            0,
        ),
        (
            "1 ns short of 30 days: suppressed",
            vec![
                complaint("k1", "c1", &d(0)),
                complaint("k2", "c1", &ts(30, 0, -1)),
            ],
            vec![sr("c1", &d(0), "k1")],
            1,
        ),
        (
            "a suppressed one does not restart the cooldown (day 20, then day 30)",
            vec![
                complaint("k1", "c1", &d(0)),
                complaint("k2", "c1", &d(20)),
                complaint("k3", "c1", &d(30)),
            ],
            vec![sr("c1", &d(0), "k1"), sr("c1", &d(30), "k3")],
            1,
        ),
        (
            "a suppressed one does not restart the cooldown (day 20, then day 45)",
            vec![
                complaint("k1", "c1", &d(0)),
                complaint("k2", "c1", &d(20)),
                complaint("k3", "c1", &d(45)),
            ],
            vec![sr("c1", &d(0), "k1"), sr("c1", &d(45), "k3")],
            1,
        ),
        (
            "the cooldown runs from the last SENT one",
            vec![
                complaint("k1", "c1", &d(0)),
                complaint("k2", "c1", &d(30)),
                complaint("k3", "c1", &d(59)),
            ],
            vec![sr("c1", &d(0), "k1"), sr("c1", &d(30), "k2")],
            1,
        ),
        (
            "complaint then high-severity ticket: same kind",
            vec![
                complaint("k1", "c1", &d(0)),
                ev(
                    "k2",
                    "c1",
                    "support_ticket",
                    &d(10),
                    r#"{"severity":"high"}"#,
                ),
            ],
            vec![sr("c1", &d(0), "k1")],
            1,
        ),
        (
            "a late complaint dated before the last sent one is still within the cooldown",
            vec![complaint("k1", "c1", &d(40)), complaint("k2", "c1", &d(5))],
            vec![sr("c1", &d(40), "k1")],
            1,
        ),
        (
            "per customer",
            vec![complaint("k1", "c1", &d(0)), complaint("k2", "c2", &d(0))],
            vec![sr("c1", &d(0), "k1"), sr("c2", &d(0), "k2")],
            0,
        ),
    ];
    let mut check = Checker::new();
    for (name, events, expected, suppressed) in cases {
        let out = replay_lines(&jsonl(&events));
        check.lines(
            name,
            "service_recovery",
            &out.actions_of_kind("service_recovery"),
            &expected,
        );
        check.eq(
            name,
            "suppressed by cooldown",
            out.suppressed("cooldown"),
            suppressed,
        );
    }

    let name = "different kinds do not share a cooldown";
    let out = replay_lines(&jsonl(&[
        complaint("k1", "c1", &d(0)),
        feedback("k2", "c1", &d(1), r#"{"nps":3}"#),
    ]));
    check.lines(
        name,
        "actions",
        &out.actions(),
        &[
            ac("c1", "nurture_lead", "prospect", &d(0), "k1"),
            ac("c1", "service_recovery", "prospect", &d(0), "k1"),
            ac("c1", "detractor_follow_up", "prospect", &d(1), "k2"),
        ],
    );
    check.eq(name, "suppressed", out.suppressed_total(), 0);

    let name = "stage-entry actions have a cooldown too";
    let out = replay_lines(&jsonl(&[
        buy("e1", "c1", &d(0)),
        cancel("e2", "c1", &d(1)),
        buy("e3", "c1", &d(5)),
        cancel("e4", "c1", &d(10)),
        buy("e5", "c1", &d(20)),
        cancel("e6", "c1", &d(31)),
    ]));
    check.lines(
        name,
        "actions",
        &out.actions(),
        &[
            ac("c1", "welcome_onboarding", "new", &d(0), "e1"),
            ac("c1", "retention_offer", "churning", &d(1), "e2"),
            ac("c1", "welcome_back", "new", &d(5), "e3"),
            ac("c1", "retention_offer", "churning", &d(31), "e6"),
        ],
    );
    check.eq(
        name,
        "suppressed by cooldown",
        out.suppressed("cooldown"),
        2,
    );
    // e1, e3 and e5 are purchases, so at day 31 the mature rule
    // holds (3 purchases, 31 days) before the churn signal: new -> mature -> churning.
    check.lines(
        name,
        "transitions",
        &out.transitions(),
        &[
            tr("c1", "null", "prospect", "first_seen", &d(0), 1),
            tr("c1", "prospect", "new", "first_conversion", &d(0), 2),
            tr(
                "c1",
                "new",
                "churning",
                "churn_signal:subscription_cancelled",
                &d(1),
                3,
            ),
            tr("c1", "churning", "new", "reactivated", &d(5), 4),
            tr(
                "c1",
                "new",
                "churning",
                "churn_signal:subscription_cancelled",
                &d(10),
                5,
            ),
            tr("c1", "churning", "new", "reactivated", &d(20), 6),
            tr("c1", "new", "mature", "mature_criteria", &d(31), 7),
            tr(
                "c1",
                "mature",
                "churning",
                "churn_signal:subscription_cancelled",
                &d(31),
                8,
            ),
        ],
    );
    check.finish();
}

#[test]
fn without_consent_only_service_recovery_is_sent() {
    let mut check = Checker::new();

    let name = "withdrawn: conversion and detractor suppressed, complaint sent";
    let out = replay_lines(&jsonl(&[
        lead("e1", "c1", &d(0)),
        withdraw("e2", "c1", &d(1)),
        buy("e3", "c1", &d(2)),
        complaint("e4", "c1", &d(3)),
        feedback("e5", "c1", &d(4), r#"{"nps":3}"#),
    ]));
    check.lines(
        name,
        "actions",
        &out.actions(),
        &[
            ac("c1", "nurture_lead", "prospect", &d(0), "e1"),
            ac("c1", "service_recovery", "new", &d(3), "e4"),
        ],
    );
    check.lines(
        name,
        "transitions",
        &out.transitions(),
        &[
            tr("c1", "null", "prospect", "first_seen", &d(0), 1),
            tr("c1", "prospect", "new", "first_conversion", &d(2), 2),
        ],
    );
    check.eq(
        name,
        "suppressed no_consent",
        out.suppressed("no_consent"),
        2,
    );

    let name = "consent_granted restores contact";
    let out = replay_lines(&jsonl(&[
        lead("e1", "c1", &d(0)),
        withdraw("e2", "c1", &d(1)),
        grant("e3", "c1", &d(2)),
        buy("e4", "c1", &d(3)),
    ]));
    check.lines(
        name,
        "actions",
        &out.actions(),
        &[
            ac("c1", "nurture_lead", "prospect", &d(0), "e1"),
            ac("c1", "welcome_onboarding", "new", &d(3), "e4"),
        ],
    );
    check.eq(name, "suppressed", out.suppressed_total(), 0);

    let name = "first event consent_withdrawn: prospect with nurture_lead suppressed";
    let out = replay_lines(&jsonl(&[withdraw("e1", "c1", &d(0))]));
    check.lines(
        name,
        "transitions",
        &out.transitions(),
        &[tr("c1", "null", "prospect", "first_seen", &d(0), 1)],
    );
    check.lines(name, "actions", &out.actions(), &[] as &[&str]);
    check.eq(
        name,
        "suppressed no_consent",
        out.suppressed("no_consent"),
        1,
    );

    let name = "timer actions are suppressed too, the transition still happens";
    let out = replay_with(
        &jsonl(&[buy("e1", "c1", &d(0)), withdraw("e2", "c1", &d(1))]),
        Some(&d(70)),
        None,
    );
    check.lines(
        name,
        "actions",
        &out.actions(),
        &[ac("c1", "welcome_onboarding", "new", &d(0), "e1")],
    );
    check.lines(
        name,
        "timer transitions",
        &out.timer_transitions(),
        &[tr("c1", "new", "churning", "inactivity", &d(60), 3)],
    );
    check.eq(
        name,
        "suppressed no_consent",
        out.suppressed("no_consent"),
        1,
    );

    let name = "an unhappy must-be is service_recovery: sent without consent";
    let out = replay_lines(&jsonl(&[
        lead("e1", "c1", &d(0)),
        withdraw("e2", "c1", &d(1)),
        feedback(
            "e3",
            "c1",
            &d(2),
            r#"{"nps":3,"satisfaction":1,"kano":{"functional":2,"dysfunctional":5}}"#,
        ),
    ]));
    check.lines(
        name,
        "actions of e3",
        &caused_by(&out, "e3"),
        &[ac("c1", "service_recovery", "prospect", &d(2), "e3")],
    );
    check.eq(
        name,
        "suppressed no_consent",
        out.suppressed("no_consent"),
        1,
    );

    let name = "a no_consent suppression does not start a cooldown";
    let out = replay_lines(&jsonl(&[
        lead("e1", "c1", &d(0)),
        withdraw("e2", "c1", &d(1)),
        feedback("e3", "c1", &d(2), r#"{"nps":3}"#),
        grant("e4", "c1", &d(3)),
        feedback("e5", "c1", &d(4), r#"{"nps":3}"#),
    ]));
    check.lines(
        name,
        "detractor_follow_up",
        &out.actions_of_kind("detractor_follow_up"),
        &[ac("c1", "detractor_follow_up", "prospect", &d(4), "e5")],
    );
    check.eq(name, "suppressed cooldown", out.suppressed("cooldown"), 0);

    let name = "consent follows processing order: withdrawn, then a late event";
    let out = replay_lines(&jsonl(&[
        lead("e1", "c1", &d(0)),
        withdraw("e2", "c1", &d(10)),
        feedback("e3", "c1", &d(5), r#"{"nps":3}"#),
    ]));
    check.lines(
        name,
        "actions of e3",
        &caused_by(&out, "e3"),
        &[] as &[&str],
    );
    check.eq(
        name,
        "suppressed no_consent",
        out.suppressed("no_consent"),
        1,
    );

    let name = "consent follows processing order: granted, then a late event";
    let out = replay_lines(&jsonl(&[
        lead("e1", "c1", &d(0)),
        withdraw("e2", "c1", &d(1)),
        grant("e3", "c1", &d(10)),
        feedback("e4", "c1", &d(5), r#"{"nps":3}"#),
    ]));
    check.lines(
        name,
        "actions of e4",
        &caused_by(&out, "e4"),
        &[ac("c1", "detractor_follow_up", "prospect", &d(5), "e4")],
    );

    let name = "consent_withdrawn that makes the customer mature: loyalty_reward suppressed";
    // Step 2 (consent) comes before actions are planned; rule 5 still applies.
    let out = replay_lines(&jsonl(&with(
        purchases("c1", &["e1", "e2", "e3"], 0),
        &[withdraw("e4", "c1", &d(30))],
    )));
    check.lines(
        name,
        "transitions of e4",
        &out.transitions()[2..],
        &[tr("c1", "new", "mature", "mature_criteria", &d(30), 3)],
    );
    check.lines(
        name,
        "actions of e4",
        &caused_by(&out, "e4"),
        &[] as &[&str],
    );
    check.eq(
        name,
        "suppressed no_consent",
        out.suppressed("no_consent"),
        1,
    );

    let name = "both consent and cooldown apply: the reason is no_consent (docs/decisions.md)";
    let out = replay_lines(&jsonl(&[
        lead("e1", "c1", &d(0)),
        feedback("e2", "c1", &d(1), r#"{"nps":3}"#),
        withdraw("e3", "c1", &d(2)),
        feedback("e4", "c1", &d(3), r#"{"nps":3}"#),
    ]));
    check.eq(
        name,
        "suppressed no_consent",
        out.suppressed("no_consent"),
        1,
    );
    check.eq(name, "suppressed cooldown", out.suppressed("cooldown"), 0);

    let name = "consent is per customer";
    let out = replay_lines(&jsonl(&[
        withdraw("e1", "c1", &d(0)),
        lead("e2", "c2", &d(1)),
    ]));
    check.lines(
        name,
        "actions",
        &out.actions(),
        &[ac("c2", "nurture_lead", "prospect", &d(1), "e2")],
    );
    check.finish();
}

fn is_uuid_v5(id: &str) -> bool {
    let b = id.as_bytes();
    id.len() == 36
        && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-')
        && id
            .chars()
            .enumerate()
            .all(|(i, ch)| [8, 13, 18, 23].contains(&i) || ch.is_ascii_hexdigit())
        && b[14] == b'5'
        && matches!(b[19], b'8' | b'9' | b'a' | b'b' | b'A' | b'B')
}

#[test]
fn action_ids_are_deterministic_uuid_v5_and_distinct_per_cause() {
    let mut check = Checker::new();
    let stream = jsonl(&[
        lead("e1", "c1", &d(0)),
        complaint("e2", "c1", &d(1)),
        buy("e3", "c1", &d(2)),
        feedback("e4", "c1", &d(3), r#"{"nps":2}"#),
        complaint("e5", "c1", &d(40)),
        lead("e1", "c2", &d(41)),
        buy("e2", "c2", &d(42)),
    ]);
    let a = replay_with(&stream, Some(&d(400)), None);
    let b = replay_with(&stream, Some(&d(400)), None);
    let ids = a.action_ids();
    check.ok(
        "same stream twice",
        ids.len() >= 10,
        format!("expected many actions, got {}", ids.len()),
    );
    check.lines("same stream twice", "action ids", &b.action_ids(), &ids);
    for id in &ids {
        check.ok("UUIDv5", is_uuid_v5(id), format!("{id} is not a UUIDv5"));
    }
    let distinct: BTreeSet<&String> = ids.iter().collect();
    check.eq(
        "every action of a run",
        "distinct ids",
        distinct.len(),
        ids.len(),
    );

    // The same kind for two causes, the same cause for two kinds, the same event id for two
    // customers: all different ids.
    let sr: Vec<String> = a
        .action_records()
        .into_iter()
        .filter(|r| r["kind"] == "service_recovery")
        .map(|r| r["action_id"].to_string())
        .collect();
    check.eq("service_recovery for e2 and e5", "count", sr.len(), 2);
    check.ok(
        "service_recovery for e2 and e5",
        sr.len() == 2 && sr[0] != sr[1],
        "same id for two causes",
    );

    // c1's actions do not depend on what else is in the stream.
    let alone = replay_with(
        &jsonl(&[
            lead("e1", "c1", &d(0)),
            complaint("e2", "c1", &d(1)),
            buy("e3", "c1", &d(2)),
            feedback("e4", "c1", &d(3), r#"{"nps":2}"#),
            complaint("e5", "c1", &d(40)),
        ]),
        Some(&d(400)),
        None,
    );
    let c1_ids = |o: &Output| -> Vec<String> {
        o.action_records()
            .into_iter()
            .filter(|r| r["customer_id"] == "c1")
            .map(|r| r["action_id"].to_string())
            .collect()
    };
    check.lines(
        "c1 alone vs with c2",
        "c1 action ids",
        &c1_ids(&alone),
        &c1_ids(&a),
    );

    // A timer action's id depends on the timer kind and stamp, not on what advanced the clock.
    let by_as_of = replay_with(&jsonl(&[buy("e1", "c1", &d(0))]), Some(&d(70)), None);
    let by_event = replay_lines(&jsonl(&[buy("e1", "c1", &d(0)), lead("x", "c2", &d(65))]));
    let offer = |o: &Output| -> Vec<String> {
        o.action_records()
            .into_iter()
            .filter(|r| r["kind"] == "retention_offer")
            .map(|r| r["action_id"].to_string())
            .collect()
    };
    check.eq(
        "retention_offer by --as-of vs by an event",
        "count",
        offer(&by_as_of).len(),
        1,
    );
    check.lines(
        "retention_offer by --as-of vs by an event",
        "action id",
        &offer(&by_event),
        &offer(&by_as_of),
    );
    check.finish();
}

#[test]
fn configured_action_parameters() {
    let mut check = Checker::new();
    let sr = |at: &str, cause: &str| ac("c1", "service_recovery", "prospect", at, cause);
    let cases: Vec<(&str, &str, Vec<String>, Vec<String>)> = vec![
        (
            "cooldown 10 days: day 10 is sent",
            "[rules]\ncooldown_days = 10\n",
            vec![complaint("k1", "c1", &d(0)), complaint("k2", "c1", &d(10))],
            vec![sr(&d(0), "k1"), sr(&d(10), "k2")],
        ),
        (
            "cooldown 10 days: 1 ns earlier is suppressed",
            "[rules]\ncooldown_days = 10\n",
            vec![
                complaint("k1", "c1", &d(0)),
                complaint("k2", "c1", &ts(10, 0, -1)),
            ],
            vec![sr(&d(0), "k1")],
        ),
        (
            "cooldown 0 days: two at the same time are both sent",
            "[rules]\ncooldown_days = 0\n",
            vec![complaint("k1", "c1", &d(0)), complaint("k2", "c1", &d(0))],
            vec![sr(&d(0), "k1"), sr(&d(0), "k2")],
        ),
    ];
    for (name, config, events, expected) in cases {
        let out = replay_with(&jsonl(&events), None, Some(config));
        check.lines(
            name,
            "service_recovery",
            &out.actions_of_kind("service_recovery"),
            &expected,
        );
    }

    let name = "milestones 3 and 4, mature at 3 purchases with no tenure, no cooldown";
    let out = replay_with(
        &jsonl(&[
            buy("e1", "c1", &d(0)),
            buy("e2", "c1", &d(1)),
            buy("e3", "c1", &d(2)),
            buy("e4", "c1", &d(3)),
            buy("e5", "c1", &d(4)),
        ]),
        None,
        Some(
            "[rules]\nmature_min_tenure_days = 0\ndelight_milestones = [3, 4]\ncooldown_days = 0\n",
        ),
    );
    check.lines(
        name,
        "actions",
        &out.actions(),
        &[
            ac("c1", "welcome_onboarding", "new", &d(0), "e1"),
            ac("c1", "loyalty_reward", "mature", &d(2), "e3"),
            ac("c1", "surprise_delight", "mature", &d(2), "e3"),
            ac("c1", "surprise_delight", "mature", &d(3), "e4"),
        ],
    );

    let name = "complaint as churn signal: retention_offer first, then service_recovery";
    let out = replay_with(
        &jsonl(&[buy("e1", "c1", &d(0)), complaint("e2", "c1", &d(1))]),
        None,
        Some("[rules]\nchurn_signal_events = [\"complaint\"]\n"),
    );
    check.lines(
        name,
        "actions of e2",
        &caused_by(&out, "e2"),
        &[
            ac("c1", "retention_offer", "churning", &d(1), "e2"),
            ac("c1", "service_recovery", "churning", &d(1), "e2"),
        ],
    );
    check.finish();
}

/// SPEC 3 as sharpened: the action id's cause includes the event's `occurred_at`, so an event
/// id the source re-uses later (after an erasure here, or after the 16 remembered ones)
/// gives a different action id.
#[test]
fn an_event_id_reused_later_gives_another_action_id() {
    let out = replay_lines(&jsonl(&[
        lead("e1", "c1", &d(0)),
        erase("e2", "c1", &d(5)),
        lead("e1", "c1", &d(10)),
    ]));
    let mut check = Checker::new();
    check.lines(
        "re-used event id",
        "actions",
        &out.actions(),
        &[
            ac("c1", "nurture_lead", "prospect", &d(0), "e1"),
            ac("c1", "nurture_lead", "prospect", &d(10), "e1"),
        ],
    );
    let ids = out.action_ids();
    check.ok(
        "re-used event id",
        ids.len() == 2 && ids[0] != ids[1],
        format!("two different action ids: {ids:?}"),
    );
    // The same event at the same time (a re-delivery after the erasure's forgetting) gives
    // the same id: replaying the input gives the same ids.
    let again = replay_lines(&jsonl(&[lead("e1", "c1", &d(0))]));
    check.eq(
        "same event, same time",
        "action id",
        again.action_ids().first().cloned(),
        ids.first().cloned(),
    );
    check.finish();
}

/// A detractor's feedback (NPS 3): plans `detractor_follow_up`.
fn detractor(id: &str, c: &str, at: &str) -> String {
    feedback(id, c, at, r#"{"nps":3}"#)
}

/// SPEC 3, frequency cap: at most `max_sent` actions of any kind within any `per_days` days of
/// action time; `service_recovery` is neither capped nor counted; consent and cooldown come
/// first, and what they suppress does not count.
#[test]
fn the_frequency_cap_limits_actions_of_any_kind_within_its_window() {
    let config = "[actions]\nmax_sent = 2\nper_days = 30\n";
    let out = replay_with(
        &jsonl(&[
            lead("e1", "c1", &d(0)),       // nurture_lead: 1 of 2
            buy("e2", "c1", &d(1)),        // welcome_onboarding: 2 of 2
            complaint("e3", "c1", &d(2)),  // service_recovery: not capped, not counted
            detractor("e4", "c1", &d(3)),  // capped
            detractor("e5", "c1", &d(30)), // d0 left the window (d30 = d0 + 30): 2 of 2 again
            detractor("e6", "c1", &d(31)), // cooldown (30 days after e5), not the cap
            withdraw("e7", "c1", &d(32)),
            grant("e8", "c1", &d(33)),
            complaint("e9", "c1", &d(34)), // service_recovery again: sent
        ]),
        None,
        Some(config),
    );
    let mut check = Checker::new();
    check.lines(
        "frequency cap",
        "actions",
        &out.actions(),
        &[
            ac("c1", "nurture_lead", "prospect", &d(0), "e1"),
            ac("c1", "welcome_onboarding", "new", &d(1), "e2"),
            ac("c1", "service_recovery", "new", &d(2), "e3"),
            ac("c1", "detractor_follow_up", "new", &d(30), "e5"),
            ac("c1", "service_recovery", "new", &d(34), "e9"),
        ],
    );
    check.eq(
        "frequency cap",
        "capped",
        out.suppressed("frequency_cap"),
        1,
    );
    check.eq("frequency cap", "cooldown", out.suppressed("cooldown"), 1);
    // Without the cap (the default) the capped one is sent.
    let free = replay_lines(&jsonl(&[
        lead("e1", "c1", &d(0)),
        buy("e2", "c1", &d(1)),
        detractor("e4", "c1", &d(3)),
    ]));
    check.eq("no cap", "actions", free.actions().len(), 3);
    check.eq("no cap", "capped", free.suppressed("frequency_cap"), 0);
    check.finish();
}

/// SPEC 3, frequency cap, with late events: "within any `per_days` days of action time" is
/// about the actions' times, whatever order they are planned in. A late action is capped by
/// an earlier counted one its time is near, and is not capped by spans it is in with fewer.
#[test]
fn the_frequency_cap_holds_for_every_span_of_action_time_when_events_are_late() {
    // max 1 in 10 days: d0's nurture_lead, then d59's follow-up, then a purchase dated d2.
    let out = replay_with(
        &jsonl(&[
            lead("e1", "c1", &d(0)),
            detractor("e2", "c1", &d(59)),
            buy("e3", "c1", &d(2)), // late: within 10 days of d0's action
        ]),
        None,
        Some("[actions]\nmax_sent = 1\nper_days = 10\n"),
    );
    let mut check = Checker::new();
    check.lines(
        "late, capped",
        "actions",
        &out.actions(),
        &[
            ac("c1", "nurture_lead", "prospect", &d(0), "e1"),
            ac("c1", "detractor_follow_up", "prospect", &d(59), "e2"),
        ],
    );
    check.eq("late, capped", "capped", out.suppressed("frequency_cap"), 1);
    // max 2 in 10 days: actions at d0 and d18, then one dated d9. No span of 10 days holds
    // more than two of d0, d9, d18: it is sent.
    let out = replay_with(
        &jsonl(&[
            lead("e1", "c1", &d(0)),
            detractor("e2", "c1", &d(18)),
            buy("e3", "c1", &d(9)),
        ]),
        None,
        Some("[actions]\nmax_sent = 2\nper_days = 10\n"),
    );
    check.eq("late, sent", "actions", out.actions().len(), 3);
    check.eq("late, sent", "capped", out.suppressed("frequency_cap"), 0);
    // max 1 in 6 days: three actions a month apart, then one dated months before them all,
    // near none of them. Nothing was forgotten (three times are kept for a cap of 1): sent.
    let out = replay_with(
        &jsonl(&[
            lead("e1", "c1", &d(0)),
            buy("e2", "c1", &d(31)),
            cancel("e3", "c1", &d(59)),
            detractor("e4", "c1", &d(-214)),
        ]),
        None,
        Some("[actions]\nmax_sent = 1\nper_days = 6\n"),
    );
    check.eq("far back, sent", "actions", out.actions().len(), 4);
    check.eq(
        "far back, sent",
        "capped",
        out.suppressed("frequency_cap"),
        0,
    );
    check.finish();
}

/// SPEC 3, frequency cap: an action suppressed by consent does not count towards the cap.
#[test]
fn an_action_suppressed_by_consent_does_not_count_towards_the_cap() {
    let config = "[actions]\nmax_sent = 1\nper_days = 30\n";
    let out = replay_with(
        &jsonl(&[
            withdraw("e1", "c1", &d(0)), // nurture_lead: no consent, not counted
            grant("e2", "c1", &d(1)),
            buy("e3", "c1", &d(2)), // welcome_onboarding: 1 of 1
            detractor("e4", "c1", &d(3)),
        ]),
        None,
        Some(config),
    );
    let mut check = Checker::new();
    check.lines(
        "consent first",
        "actions",
        &out.actions(),
        &[ac("c1", "welcome_onboarding", "new", &d(2), "e3")],
    );
    check.eq(
        "consent first",
        "no_consent",
        out.suppressed("no_consent"),
        1,
    );
    check.eq(
        "consent first",
        "capped",
        out.suppressed("frequency_cap"),
        1,
    );
    check.finish();
}

/// SPEC 3, backfill: an action dated before `send_from` is planned and counted, restarts its
/// cooldown like a sent one, but is not sent; the state (so the transitions) equals a run
/// without backfill.
#[test]
fn backfilled_actions_are_planned_and_counted_but_not_sent() {
    let lines = jsonl(&[
        lead("e1", "c1", &d(0)),
        buy("e2", "c1", &d(5)),
        detractor("e3", "c1", &d(8)),  // backfilled
        detractor("e4", "c1", &d(20)), // after send_from, but within e3's cooldown
        detractor("e5", "c1", &d(40)), // sent
    ]);
    let config = format!("[actions]\nsend_from = \"{}\"\n", d(10));
    let out = replay_with(&lines, None, Some(&config));
    let plain = replay_lines(&lines);
    let mut check = Checker::new();
    check.lines(
        "backfill",
        "actions",
        &out.actions(),
        &[ac("c1", "detractor_follow_up", "new", &d(40), "e5")],
    );
    check.eq("backfill", "backfilled", out.suppressed("backfill"), 3);
    check.eq("backfill", "cooldown", out.suppressed("cooldown"), 1);
    check.lines(
        "backfill",
        "transitions as without it",
        &out.transitions(),
        &plain.transitions(),
    );
    check.finish();
}

/// SPEC 3, backfill's boundary: "an action whose `at` is earlier" than `send_from` is held
/// back; one at `send_from` itself is sent.
#[test]
fn backfill_holds_back_only_actions_dated_before_send_from() {
    let send_from = d(10);
    let cases = [
        (ts(9, 86_399, 999_999_999), 1, 0, "a nanosecond before"),
        (d(10), 0, 1, "at send_from"),
        (ts(10, 0, 1), 0, 1, "a nanosecond after"),
    ];
    let config = format!("[actions]\nsend_from = \"{send_from}\"\n");
    for (at, backfilled, sent, what) in cases {
        let out = replay_with(&jsonl(&[lead("e1", "c1", &at)]), None, Some(&config));
        assert_eq!(out.suppressed("backfill"), backfilled, "{what}");
        assert_eq!(out.actions().len(), sent, "{what}");
    }
}
