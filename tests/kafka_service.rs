//! The service against a real broker: end-to-end equality with replay, dead letters, and
//! erasure across a restart.

mod support;

use support::compare::*;
use support::*;

use std::time::Duration;

use lifecycle::domain::ActionKind;
use lifecycle::domain::holdout::Group;

const PARTITIONS: u32 = 4;

#[test]
fn the_service_writes_what_replay_computes_for_the_same_stream() {
    let broker = Broker::start();
    let topics = TestTopics::new("e2e");
    topics.create(&broker, PARTITIONS);
    let lines = ordered_stream(400, 11, PARTITIONS);
    produce_lines(&broker, &topics.input, PARTITIONS, &lines);

    let config = service_config(&broker, &topics, "e2e-group", "");
    let mut service = Service::start(broker.dir.path(), "e2e", &config);
    wait_processed(&broker, &mut service, "e2e-group", &topics, PARTITIONS);
    service.stop_cleanly();

    let consumed = read_all(
        &broker,
        &[
            &topics.transitions,
            &topics.care,
            &topics.retention,
            &topics.marketing,
            &topics.state,
        ],
    );
    assert_matches_replay(&consumed, &topics, &lines, false);
}

/// Churn prediction on (SPEC 8): the service sends the `churn_risk` actions replay computes,
/// and its changelog holds the same transactions per customer.
#[test]
fn with_prediction_on_the_service_sends_the_churn_risk_actions_replay_computes() {
    const PREDICTION: &str =
        "\n[prediction]\nr = 0.243\nalpha = 4.414\na = 0.793\nb = 2.426\nat_risk_below = 0.8\n";
    let broker = Broker::start();
    let topics = TestTopics::new("e2e-risk");
    topics.create(&broker, PARTITIONS);
    let lines = ordered_stream(300, 13, PARTITIONS);
    let rules = lifecycle::config::Config::from_toml_str(PREDICTION, "test")
        .expect("valid")
        .rules();
    let (expected, _) = replay_outputs_with(&lines, rules.clone());
    let risk = expected
        .kinds()
        .iter()
        .filter(|k| *k == "churn_risk")
        .count();
    assert!(
        risk > 0,
        "the stream reaches churn_risk: {:?}",
        expected.kinds()
    );
    produce_lines(&broker, &topics.input, PARTITIONS, &lines);

    let config = service_config(&broker, &topics, "e2e-risk-group", "") + PREDICTION;
    let mut service = Service::start(broker.dir.path(), "e2e-risk", &config);
    wait_processed(&broker, &mut service, "e2e-risk-group", &topics, PARTITIONS);
    service.stop_cleanly();
    let consumed = read_all(&broker, &topics.outputs_and_state());
    assert_matches_replay_with(&consumed, &topics, &lines, false, rules);
}

/// With a two-minute commit interval, a drained input is still committed within a minute:
/// the batch ends once a poll finds nothing and it is a tenth of the interval old (12 s).
#[test]
fn a_drained_input_is_committed_before_the_commit_interval_runs_out() {
    let broker = Broker::start();
    let topics = TestTopics::new("drained");
    topics.create(&broker, PARTITIONS);
    let lines = ordered_stream(50, 5, PARTITIONS);
    produce_lines(&broker, &topics.input, PARTITIONS, &lines);
    let config = service_config(&broker, &topics, "drained-group", "")
        .replace("commit_interval_ms = 50", "commit_interval_ms = 120000");
    assert!(config.contains("commit_interval_ms = 120000"));
    let mut service = Service::start(broker.dir.path(), "drained", &config);
    wait_for(
        "the drained input to be committed",
        Duration::from_secs(60),
        || {
            assert!(service.is_running(), "died:\n{}", service.log_text());
            group_caught_up(&broker, "drained-group", &topics.input, PARTITIONS)
        },
    );
    service.stop_cleanly();
}

#[test]
fn malformed_events_go_to_the_dead_letter_topic_and_good_ones_are_processed() {
    let broker = Broker::start();
    let topics = TestTopics::new("poison");
    topics.create(&broker, PARTITIONS);
    let good = |i: u32| {
        format!(
            r#"{{"event_id":"g{i}","customer_id":"c{i}","type":"purchase","occurred_at":"2025-01-0{}T10:00:00Z","data":{{"amount":10}}}}"#,
            1 + i % 9
        )
    };
    let bad = [
        "{not json".to_string(),
        r#"{"event_id":"b1","customer_id":"c1","type":"purchase","occurred_at":"2025-01-01T10:00:00Z","data":{"amount":-1}}"#.to_string(),
        r#"{"event_id":"b2","customer_id":"c2","type":"engagement","occurred_at":"2025-01-01T10:00"}"#.to_string(),
        r#"{"event_id":"b3","event_id":"b3","customer_id":"c3","type":"engagement","occurred_at":"2025-01-01T10:00:00Z"}"#.to_string(),
        r#"{"event_id":"b4","customer_id":"c4","type":"engagement","occurred_at":"2200-01-01T10:00:00Z"}"#.to_string(),
    ];
    let mut lines = Vec::new();
    for i in 0..20 {
        lines.push(good(i));
        if let Some(b) = bad.get(i as usize) {
            lines.push(b.clone());
        }
    }
    produce_lines(&broker, &topics.input, PARTITIONS, &lines);
    let config = service_config(&broker, &topics, "poison-group", "");
    let mut service = Service::start(broker.dir.path(), "poison", &config);
    wait_processed(&broker, &mut service, "poison-group", &topics, PARTITIONS);
    service.stop_cleanly();

    let dlq = read_all(&broker, &[&topics.dlq]);
    let mut reasons: Vec<(String, String)> = dlq
        .iter()
        .map(|m| {
            assert_eq!(m.headers["source_topic"], topics.input);
            let original = lines
                .iter()
                .position(|l| Some(l.as_bytes()) == m.payload.as_deref())
                .expect("the dead letter carries the original bytes");
            assert!(m.headers.contains_key("detail") && !m.headers["detail"].is_empty());
            let partition: i32 = m.headers["source_partition"].parse().unwrap();
            let offset: i64 = m.headers["source_offset"].parse().unwrap();
            assert!(partition >= 0 && offset >= 0, "{:?}", m.headers);
            (lines[original].clone(), m.headers["reason"].clone())
        })
        .collect();
    reasons.sort();
    let mut expected: Vec<(String, String)> = bad
        .iter()
        .cloned()
        .zip(
            [
                "invalid_json",
                "invalid_value",
                "invalid_timestamp",
                "duplicate_key",
                "future_timestamp",
            ]
            .map(String::from),
        )
        .collect();
    expected.sort();
    assert_eq!(reasons, expected);

    let consumed = read_all(&broker, &[&topics.transitions]);
    let first_conversions = consumed
        .iter()
        .filter(|m| {
            let v: serde_json::Value =
                serde_json::from_slice(m.payload.as_deref().unwrap()).unwrap();
            v["reason"] == "first_conversion"
        })
        .count();
    assert_eq!(
        first_conversions, 20,
        "every good purchase converted its customer"
    );
}

#[test]
fn erasure_writes_a_tombstone_and_a_restart_does_not_bring_the_customer_back() {
    let broker = Broker::start();
    let topics = TestTopics::new("erase");
    topics.create(&broker, PARTITIONS);
    let first = vec![
        r#"{"event_id":"e1","customer_id":"gone","type":"purchase","occurred_at":"2025-01-01T10:00:00Z","data":{"amount":10}}"#.to_string(),
        r#"{"event_id":"e2","customer_id":"kept","type":"lead_created","occurred_at":"2025-01-01T11:00:00Z"}"#.to_string(),
        r#"{"event_id":"e3","customer_id":"gone","type":"customer_erased","occurred_at":"2025-01-02T10:00:00Z"}"#.to_string(),
    ];
    produce_lines(&broker, &topics.input, PARTITIONS, &first);
    let config = service_config(&broker, &topics, "erase-group", "");
    let mut service = Service::start(broker.dir.path(), "erase", &config);
    wait_processed(&broker, &mut service, "erase-group", &topics, PARTITIONS);
    service.stop_cleanly();

    let state = read_all(&broker, &[&topics.state]);
    let last_for_gone = state
        .iter()
        .rfind(|m| m.key.as_deref() == Some(b"gone".as_slice()))
        .expect("changelog records for the erased customer");
    assert_eq!(
        last_for_gone.payload, None,
        "the last changelog record is a tombstone"
    );

    // After a restart (state restored from the changelog), the customer's next event starts
    // a new customer: a first_seen transition with seq 1.
    let later = vec![
        r#"{"event_id":"e4","customer_id":"gone","type":"engagement","occurred_at":"2025-02-01T10:00:00Z"}"#.to_string(),
        r#"{"event_id":"e5","customer_id":"kept","type":"engagement","occurred_at":"2025-02-01T10:00:00Z"}"#.to_string(),
    ];
    produce_lines(&broker, &topics.input, PARTITIONS, &later);
    let mut service = Service::start(broker.dir.path(), "erase", &config);
    wait_processed(&broker, &mut service, "erase-group", &topics, PARTITIONS);
    service.stop_cleanly();
    let transitions: Vec<serde_json::Value> = read_all(&broker, &[&topics.transitions])
        .iter()
        .map(|m| serde_json::from_slice(m.payload.as_deref().unwrap()).unwrap())
        .collect();
    let gone: Vec<(String, u64)> = transitions
        .iter()
        .filter(|t| t["customer_id"] == "gone")
        .map(|t| {
            (
                t["reason"].as_str().unwrap().to_string(),
                t["seq"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        gone,
        [
            ("first_seen", 1),
            ("first_conversion", 2),
            ("erased", 3),
            ("first_seen", 1)
        ]
        .map(|(r, s)| (r.to_string(), s))
    );
    let kept = transitions
        .iter()
        .filter(|t| t["customer_id"] == "kept")
        .count();
    assert_eq!(
        kept, 1,
        "the other customer's state was restored, not recreated"
    );
}

#[test]
fn exactly_once_against_a_broker_without_transactions_fails_at_startup_naming_at_least_once() {
    let broker = Broker::start();
    let topics = TestTopics::new("notxn");
    topics.create(&broker, 1);
    let config = service_config(
        &broker,
        &topics,
        "notxn-group",
        "guarantee = \"exactly_once\"",
    );
    let mut service = Service::start(broker.dir.path(), "notxn", &config);
    wait_for("the service to exit", Duration::from_secs(60), || {
        !service.is_running()
    });
    let log = service.log_text();
    assert!(!service.terminate(), "it exited with an error");
    assert!(
        log.contains("transactions") && log.contains("at_least_once"),
        "{log}"
    );
}

/// Holdouts on (SPEC 10): the service holds out exactly the actions replay holds out, on the
/// holdout topic, and its `GET /voc` counts what replay's summary counts (the answers per
/// stage and feature, and each kind's treated and control actions and conversions).
#[test]
fn with_holdouts_on_the_service_holds_out_and_counts_what_replay_does() {
    const HOLDOUT: &str = "\n[holdout]\npercent = 30\nsalt = \"e2e\"\nkinds = [\"nurture_lead\", \"welcome_onboarding\", \"retention_offer\", \"win_back_campaign\"]\n";
    let broker = Broker::start();
    let topics = TestTopics::new("e2e-holdout");
    topics.create(&broker, PARTITIONS);
    let lines = ordered_stream(300, 17, PARTITIONS);
    let config = lifecycle::config::Config::from_toml_str(HOLDOUT, "test").expect("valid");
    let summary = replay_summary(&lines, &config);
    let held_out = |kind| summary.uplift.get(kind, Group::Control).actions;
    assert!(
        held_out(ActionKind::WelcomeOnboarding) > 0 && held_out(ActionKind::RetentionOffer) > 0,
        "the stream has held-out actions: {}",
        summary
    );
    produce_lines(&broker, &topics.input, PARTITIONS, &lines);

    let text = service_config(&broker, &topics, "e2e-holdout-group", "") + HOLDOUT;
    let mut service = Service::start(broker.dir.path(), "e2e-holdout", &text);
    wait_processed(
        &broker,
        &mut service,
        "e2e-holdout-group",
        &topics,
        PARTITIONS,
    );
    let (status, body) = service.get("/voc").expect("GET /voc answers");
    assert_eq!(status, 200, "{body}");
    let voc: serde_json::Value = serde_json::from_str(&body).unwrap();
    let expected = serde_json::to_value(summary.voc.report_with(&summary.uplift)).unwrap();
    assert_eq!(voc, expected, "GET /voc (left) and replay's counts (right)");
    let metrics = service.metrics_text();
    let control = metric_sum_where(
        &metrics,
        "lifecycle_holdout_actions_total",
        "group=\"control\"",
    );
    let all_held: u64 = ActionKind::ALL.into_iter().map(held_out).sum();
    assert_eq!(control, all_held as f64);
    service.stop_cleanly();
    // A new instance answers for the same partitions with the same counts: they travel in
    // the partitions' progress records, not in the process that counted them.
    let mut again = Service::start(broker.dir.path(), "e2e-holdout-again", &text);
    again.wait_ready(Duration::from_secs(60));
    let (status, body) = again.get("/voc").expect("GET /voc answers after a restart");
    assert_eq!(status, 200, "{body}");
    let voc: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        voc, expected,
        "GET /voc after a restart (left), replay (right)"
    );
    again.stop_cleanly();

    let consumed = read_all(&broker, &topics.outputs_and_state());
    let on_holdout_topic = consumed
        .iter()
        .filter(|m| m.topic == topics.holdout)
        .count();
    assert_eq!(on_holdout_topic as u64, all_held);
    assert_matches_replay_with(&consumed, &topics, &lines, false, config.rules());
}

/// The sum of a metric's series whose labels contain `label`.
fn metric_sum_where(exposition: &str, name: &str, label: &str) -> f64 {
    exposition
        .lines()
        .filter(|l| l.starts_with(&format!("{name}{{")) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}
