//! The engine's change tracking, which decides the Kafka service's changelog records: every
//! customer an event or a timer changed, once, with its state at the time of taking; erased
//! customers as `None`, unless seen again since.

use lifecycle::domain::decode::decode_str;
use lifecycle::domain::{Engine, Record, Rules, Timestamp};

fn line(id: &str, customer: &str, ty: &str, at: &str) -> String {
    format!(
        r#"{{"event_id":"{id}","customer_id":"{customer}","type":"{ty}","occurred_at":"{at}"}}"#
    )
}

fn apply(engine: &mut Engine, lines: &[String]) {
    let now = Timestamp::parse_rfc3339("2030-01-01T00:00:00Z").expect("time");
    let mut records: Vec<Record> = Vec::new();
    for l in lines {
        let event = decode_str(l, now).expect("a valid event");
        engine.apply(&event, &mut records);
    }
}

/// (id, stage or "erased") of each change, sorted by id.
fn take(engine: &mut Engine) -> Vec<(String, String)> {
    let mut changes = Vec::new();
    engine.take_changes(|id, customer| {
        let state = customer.map_or("erased".into(), |c| c.stage.as_str().to_owned());
        changes.push((id.to_owned(), state));
    });
    changes.sort();
    changes
}

fn pairs(expected: &[(&str, &str)]) -> Vec<(String, String)> {
    expected
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn each_changed_customer_is_handed_over_once_with_its_latest_state() {
    let mut engine = Engine::new(Rules::default()).with_change_tracking();
    apply(
        &mut engine,
        &[
            line("e1", "a", "lead_created", "2025-01-01T00:00:00Z"),
            line("e2", "b", "lead_created", "2025-01-01T00:01:00Z"),
            line("e3", "a", "subscription_started", "2025-01-01T00:02:00Z"),
        ],
    );
    assert!(engine.has_changes());
    assert_eq!(take(&mut engine), pairs(&[("a", "new"), ("b", "prospect")]));
    assert!(!engine.has_changes());
    assert_eq!(take(&mut engine), pairs(&[]));

    // A duplicate changes nothing; a new event for `b` changes only `b`.
    apply(
        &mut engine,
        &[
            line("e3", "a", "subscription_started", "2025-01-01T00:02:00Z"),
            line("e4", "b", "engagement", "2025-01-01T00:03:00Z"),
        ],
    );
    assert_eq!(take(&mut engine), pairs(&[("b", "prospect")]));
}

#[test]
fn a_fired_timer_is_a_change() {
    let mut engine = Engine::new(Rules::default()).with_change_tracking();
    apply(
        &mut engine,
        &[line(
            "e1",
            "a",
            "subscription_started",
            "2025-01-01T00:00:00Z",
        )],
    );
    take(&mut engine);
    // 60 days of inactivity (plus the allowed lateness) later, `a` is churning; `b`'s first
    // event moved the clock there.
    apply(
        &mut engine,
        &[line("e2", "b", "lead_created", "2025-04-01T00:00:00Z")],
    );
    assert_eq!(
        take(&mut engine),
        pairs(&[("a", "churning"), ("b", "prospect")])
    );
}

#[test]
fn erased_customers_are_handed_over_as_none_unless_seen_again() {
    let mut engine = Engine::new(Rules::default()).with_change_tracking();
    apply(
        &mut engine,
        &[
            line("e1", "a", "lead_created", "2025-01-01T00:00:00Z"),
            line("e2", "b", "lead_created", "2025-01-01T00:00:00Z"),
        ],
    );
    take(&mut engine);
    apply(
        &mut engine,
        &[
            line("e3", "a", "customer_erased", "2025-01-02T00:00:00Z"),
            line("e4", "b", "customer_erased", "2025-01-02T00:00:00Z"),
            // `c` may take a freed slot; `b` comes back.
            line("e5", "c", "lead_created", "2025-01-03T00:00:00Z"),
            line("e6", "b", "lead_created", "2025-01-03T00:00:00Z"),
        ],
    );
    assert_eq!(
        take(&mut engine),
        pairs(&[("a", "erased"), ("b", "prospect"), ("c", "prospect")])
    );
}

#[test]
fn without_tracking_nothing_is_handed_over() {
    let mut engine = Engine::new(Rules::default());
    apply(
        &mut engine,
        &[line("e1", "a", "lead_created", "2025-01-01T00:00:00Z")],
    );
    assert!(!engine.has_changes());
    assert_eq!(take(&mut engine), pairs(&[]));
}
