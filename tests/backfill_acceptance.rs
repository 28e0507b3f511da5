//! Issue 22's acceptance for backfill (SPEC 3): replaying two years of history with
//! `actions.send_from` at its end sends no action dated before it, and the state equals a run
//! without backfill.

use lifecycle::config::Config;
use lifecycle::domain::{Engine, Record, Timestamp, decode};

const NOW: &str = "2026-06-01T00:00:00Z";
const END: &str = "2025-12-31T00:00:00Z";

/// The records and final state of the stream under `config_toml`.
fn run(lines: &[&str], config_toml: &str) -> (Vec<Record>, Engine) {
    let config = Config::from_toml_str(config_toml, "test").expect("valid");
    let now = Timestamp::parse_rfc3339(NOW).unwrap();
    let mut engine = Engine::new(config.rules());
    let mut records = Vec::new();
    for line in lines {
        if let Ok(event) = decode(line.as_bytes(), now) {
            engine.apply(&event, &mut records);
        }
    }
    (records, engine)
}

#[test]
fn backfilled_history_sends_nothing_before_send_from_and_builds_the_same_state() {
    let now = Timestamp::parse_rfc3339(NOW).unwrap();
    let opts =
        lifecycle::generate::GenerateOptions::new(5_000, 11, "2024-01-01", "2025-12-31", now)
            .expect("valid generate options");
    let mut bytes = Vec::new();
    lifecycle::generate::generate(&opts, &mut bytes).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    // Cooldowns and a frequency cap, so that what backfill restarts matters to the state.
    let rules = "[actions]\nmax_sent = 3\nper_days = 30\n";
    let (plain_records, plain) = run(&lines, rules);
    let backfill = format!("{rules}send_from = \"{END}\"\n");
    let (records, backfilled) = run(&lines, &backfill);

    let end = Timestamp::parse_rfc3339(END).unwrap();
    let sent: Vec<&Record> = records
        .iter()
        .filter(|r| matches!(r, Record::Action(_)))
        .collect();
    for r in &sent {
        let Record::Action(a) = r else { unreachable!() };
        assert!(a.at.0 >= end, "sent before send_from: {a:?}");
    }
    let planned_before = plain_records
        .iter()
        .filter(|r| matches!(r, Record::Action(a) if a.at.0 < end))
        .count();
    assert!(
        planned_before > 10_000,
        "two years of actions: {planned_before}"
    );
    let backfilled_count = records
        .iter()
        .filter(|r| matches!(r, Record::Suppressed { reason, .. } if reason.as_str() == "backfill"))
        .count();
    assert_eq!(
        backfilled_count, planned_before,
        "every action before it is backfilled"
    );
    assert_eq!(backfilled.snapshot(), plain.snapshot(), "the same state");
    let transitions = |rs: &[Record]| {
        rs.iter()
            .filter(|r| matches!(r, Record::Transition(_)))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(transitions(&records), transitions(&plain_records));
}
