//! The answer from a state, and the committed schema (the CLI's answers on the bundled sample
//! are `tests/cli_inspect.rs`'s).

use super::*;
use crate::domain::customer::Entered;
use crate::domain::time::Span;

fn t(s: &str) -> Timestamp {
    Timestamp::parse_rfc3339(s).unwrap()
}

fn rules() -> Rules {
    crate::config::Config::default_config().rules()
}

#[test]
fn the_committed_schema_is_the_one_the_code_generates() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/schemas/customer.schema.json"
    );
    let generated = customer_schema();
    if std::env::var_os("LIFECYCLE_WRITE_SCHEMA").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/schemas/customer.schema.json is not the schema of the code's CustomerView: \
         write it with `LIFECYCLE_WRITE_SCHEMA=1 cargo test --lib inspect`, review the diff \
         and commit it"
    );
}

#[test]
fn a_state_written_before_the_entering_transition_was_kept_answers_why_null() {
    let mut c = Customer::new("c-1", t("2025-01-01T00:00:00Z"));
    (c.stage, c.seq) = (Stage::Mature, 3);
    c.stage_entered_at = t("2025-02-15T10:00:00Z");
    c.last_activity_at = Some(t("2025-02-15T10:00:00Z"));
    let view = customer_view(&c, &rules(), Some(t("2025-03-01T00:00:00Z")));
    assert_eq!(view.why, None);
    assert_eq!(view.stage, Stage::Mature);
    assert_eq!(view.stage_entered_at, Rfc3339(t("2025-02-15T10:00:00Z")));
    // What happens next does not depend on it: 60 days of inactivity, one hour late.
    assert_eq!(view.next.len(), 1);
    assert_eq!(view.next[0].stamp, Rfc3339(t("2025-04-16T10:00:00Z")));
    assert_eq!(view.next[0].fires_at, Rfc3339(t("2025-04-16T11:00:00Z")));
    assert_eq!(view.p_alive, None, "prediction is off");
    assert_eq!(view.position, None, "the caller's to fill");
    let json = serde_json::to_value(&view).unwrap();
    assert!(
        json["why"].is_null() && json["position"].is_null(),
        "{json}"
    );
}

#[test]
fn the_kept_transition_gives_back_its_explanation() {
    let at = t("2025-06-30T10:00:00Z");
    let days = Span::from_days(60);
    let cases = [
        (Why::FirstSeen(EventType::LeadCreated), Stage::Prospect),
        (Why::FirstConversion(EventType::Purchase), Stage::New),
        (
            Why::Reactivated {
                event_type: EventType::SubscriptionStarted,
                from: Stage::Churned,
                mature: true,
            },
            Stage::Mature,
        ),
        (
            Why::Reactivated {
                event_type: EventType::Purchase,
                from: Stage::Churning,
                mature: false,
            },
            Stage::New,
        ),
        (
            Why::MatureCriteria {
                purchases: 4,
                min_purchases: 3,
                days: 35,
                min_days: 30,
            },
            Stage::Mature,
        ),
        (
            Why::ChurnSignal(EventType::SubscriptionCancelled),
            Stage::Churning,
        ),
        (
            Why::Inactivity {
                last: at.minus(days),
                days: 60,
            },
            Stage::Churning,
        ),
        (
            Why::NoReactivation {
                since: at.minus(Span::from_days(90)),
                days: 90,
            },
            Stage::Churned,
        ),
    ];
    for (why, stage) in cases {
        let entered: Entered = why.entered().unwrap();
        assert!(entered.can_enter(stage), "{why:?}");
        assert_eq!(Why::of_entered(entered, stage, at), why);
    }
    assert_eq!(Why::Erased.entered(), None);
}

#[test]
fn ids_no_customer_can_have_are_refused_without_quoting_them() {
    assert_eq!(check_customer_id("c-42"), Ok(()));
    assert_eq!(check_customer_id(&"é".repeat(64)), Ok(()));
    assert_eq!(check_customer_id(""), Err(BadCustomerId::Empty));
    assert_eq!(
        check_customer_id(&"a".repeat(129)),
        Err(BadCustomerId::TooLong(129))
    );
    assert_eq!(
        check_customer_id("c\u{85}1"),
        Err(BadCustomerId::ControlCharacter)
    );
    let message = BadCustomerId::TooLong(129).to_string();
    assert!(!message.contains("aaa"), "{message}");
}

#[test]
fn event_sets_are_named_in_words() {
    let r = rules();
    assert_eq!(
        event_names(r.activity_events, false),
        "engagement, purchase or subscription_started"
    );
    assert_eq!(
        event_names(r.conversion_events, true),
        "purchase with an amount above 0 or subscription_started"
    );
    assert_eq!(
        event_names(EventSet::of(&[EventType::Engagement]), false),
        "engagement"
    );
}

#[test]
fn last_sent_leaves_out_kinds_never_sent_held_out_or_backfilled() {
    let holdout = crate::domain::holdout::HoldoutConfig {
        percent: 50.0,
        kinds: vec!["retention_offer".into()],
        salt: "s".into(),
        window_days: 30,
    }
    .holdout()
    .unwrap();
    let in_group = |group| {
        (0..100)
            .map(|i| format!("c-{i}"))
            .find(|id| holdout.group(id, ActionKind::RetentionOffer) == Some(group))
            .unwrap()
    };
    let customer = |id: &str| {
        let mut c = Customer::new(id, t("2025-01-01T00:00:00Z"));
        c.last_sent
            .set(ActionKind::WelcomeOnboarding, t("2025-01-10T00:00:00Z"));
        c.last_sent
            .set(ActionKind::RetentionOffer, t("2025-03-01T00:00:00Z"));
        c
    };
    let kinds = |c: &Customer, rules: &Rules| -> Vec<ActionKind> {
        let view = customer_view(c, rules, Some(t("2025-04-01T00:00:00Z")));
        view.last_sent.into_keys().collect()
    };
    let both = vec![ActionKind::WelcomeOnboarding, ActionKind::RetentionOffer];
    let (control, treated) = (in_group(Group::Control), in_group(Group::Treated));
    assert_eq!(kinds(&customer(&control), &rules()), both, "all sent");
    // Backfill up to February: the welcome was planned before, so not sent.
    let mut backfill = rules();
    backfill.send_from = Some(t("2025-02-01T00:00:00Z"));
    assert_eq!(
        kinds(&customer(&control), &backfill),
        vec![ActionKind::RetentionOffer]
    );
    // A control group for retention offers: held out, not sent.
    let mut held = rules();
    held.holdout = Some(holdout.clone());
    assert_eq!(
        kinds(&customer(&control), &held),
        vec![ActionKind::WelcomeOnboarding]
    );
    assert_eq!(kinds(&customer(&treated), &held), both, "the treated group");
}
