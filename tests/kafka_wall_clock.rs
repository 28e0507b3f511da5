//! The default clock, `kafka.clock = "wall"`, against a real broker: timers fire by the system
//! time with no further input, once (not again after a restart, and after a crash at most as
//! identical copies), and not before their firing time.
//!
//! Event times are computed from the system time when the test runs (all in the past: the
//! service rejects events more than 24 hours ahead), and formatted by the harness's own
//! calendar, not the crate's.

mod support;

use support::compare::changelog_states;
use support::*;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use serde_json::Value;

const PARTITIONS: u32 = 4;
const DAY: i64 = 86_400;

fn lead(id: &str, customer: &str, at: i64) -> String {
    format!(
        r#"{{"event_id":"{id}","customer_id":"{customer}","type":"lead_created","occurred_at":"{}"}}"#,
        rfc3339_utc(at)
    )
}

fn purchase(id: &str, customer: &str, at: i64) -> String {
    format!(
        r#"{{"event_id":"{id}","customer_id":"{customer}","type":"purchase","occurred_at":"{}","data":{{"amount":25}}}}"#,
        rfc3339_utc(at)
    )
}

/// The JSON records of `topics` (in log order per partition).
fn records(broker: &Broker, topics: &[&str]) -> Vec<Value> {
    read_all(broker, topics)
        .iter()
        .map(|m| serde_json::from_slice(m.payload.as_deref().unwrap_or_default()).expect("JSON"))
        .collect()
}

fn of_customer<'a>(records: &'a [Value], customer: &str) -> Vec<&'a Value> {
    records
        .iter()
        .filter(|r| r["customer_id"] == customer)
        .collect()
}

/// (from, to, reason, at, event_id, seq) of a transition record.
fn transition(r: &Value) -> (Value, Value, Value, Value, Value, Value) {
    (
        r["from"].clone(),
        r["to"].clone(),
        r["reason"].clone(),
        r["at"].clone(),
        r["event_id"].clone(),
        r["seq"].clone(),
    )
}

fn t(
    from: Option<&str>,
    to: &str,
    reason: &str,
    at: i64,
    event_id: Option<&str>,
    seq: u64,
) -> (Value, Value, Value, Value, Value, Value) {
    (
        from.map_or(Value::Null, Value::from),
        Value::from(to),
        Value::from(reason),
        Value::from(rfc3339_utc(at)),
        event_id.map_or(Value::Null, Value::from),
        Value::from(seq),
    )
}

/// Waits until the last input event is committed after a restart: the loop has then gone
/// round at least once with every partition restored (each iteration restores, handles, fires
/// due timers, then commits), so a timer that was going to fire again has fired.
fn wait_loop_went_round(
    broker: &Broker,
    service: &mut Service,
    group: &str,
    topics: &TestTopics,
    now: i64,
) {
    let probe = vec![lead("probe-1", "probe", now - 60)];
    produce_lines(broker, &topics.input, PARTITIONS, &probe);
    wait_processed(broker, service, group, topics, PARTITIONS);
}

/// Customers of the first two tests: `due`'s inactivity timer (last activity 61 days ago,
/// fires at +60 days +1 h lateness) is due by the system time; `recent`'s (30 days) and
/// `late`'s (60 days 30 minutes: past its stamp, within the hour of allowed lateness) are not.
fn due_stream(now: i64) -> (Vec<String>, i64, i64) {
    let lead_at = now - 62 * DAY;
    let purchase_at = now - 61 * DAY;
    let lines = vec![
        lead("d-1", "due", lead_at),
        purchase("d-2", "due", purchase_at),
        lead("r-1", "recent", now - 40 * DAY),
        purchase("r-2", "recent", now - 30 * DAY),
        lead("l-1", "late", now - 70 * DAY),
        purchase("l-2", "late", now - 60 * DAY - 1800),
    ];
    (lines, lead_at, purchase_at)
}

fn assert_due_customer_churned(records: &[Value], lead_at: i64, purchase_at: i64) {
    let stamp = purchase_at + 60 * DAY;
    let transitions: Vec<_> = of_customer(records, "due")
        .into_iter()
        .filter(|r| r["type"] == "transition")
        .map(transition)
        .collect();
    assert_eq!(
        transitions,
        [
            t(None, "prospect", "first_seen", lead_at, Some("d-1"), 1),
            t(
                Some("prospect"),
                "new",
                "first_conversion",
                purchase_at,
                Some("d-2"),
                2
            ),
            t(Some("new"), "churning", "inactivity", stamp, None, 3),
        ],
        "the due customer's transitions"
    );
    let offers: Vec<_> = of_customer(records, "due")
        .into_iter()
        .filter(|r| r["kind"] == "retention_offer")
        .collect();
    assert_eq!(offers.len(), 1, "one retention offer: {offers:?}");
    let offer = offers[0];
    assert_eq!(offer["category"], "retention");
    assert_eq!(offer["stage"], "churning");
    assert_eq!(offer["reason"], "inactivity");
    assert_eq!(offer["at"], rfc3339_utc(stamp));
    assert_eq!(offer["cause_event_id"], Value::Null);
    for customer in ["recent", "late"] {
        let stages: Vec<&Value> = of_customer(records, customer)
            .iter()
            .filter(|r| r["type"] == "transition")
            .map(|r| &r["to"])
            .collect();
        assert_eq!(
            stages,
            ["prospect", "new"],
            "{customer}'s timer is not due by the system time"
        );
    }
}

fn has_churning(records: &[Value], customer: &str) -> bool {
    of_customer(records, customer)
        .iter()
        .any(|r| r["type"] == "transition" && r["to"] == "churning")
}

#[test]
fn timers_due_by_the_system_time_fire_without_further_input_and_not_again_after_a_restart() {
    let broker = Broker::start();
    let topics = TestTopics::new("wall-due");
    topics.create(&broker, PARTITIONS);
    let group = "wall-due-group";
    let config = service_config_with_clock(&broker, &topics, group, "wall", "");
    let mut service = Service::start(broker.dir.path(), "wall-due", &config);
    service.wait_ready(Duration::from_secs(60));

    let now = unix_now_secs();
    let (lines, lead_at, purchase_at) = due_stream(now);
    produce_lines(&broker, &topics.input, PARTITIONS, &lines);
    let produced = Instant::now();
    // No further input: the transition comes from the loop's own reading of the system time.
    let outputs = [topics.transitions.as_str(), topics.retention.as_str()];
    wait_for(
        "the due customer's inactivity timer to fire",
        Duration::from_secs(30),
        || {
            assert!(service.is_running(), "died:\n{}", service.log_text());
            has_churning(&records(&broker, &outputs), "due")
        },
    );
    eprintln!(
        "fired {:?} after the input was produced",
        produced.elapsed()
    );
    wait_processed(&broker, &mut service, group, &topics, PARTITIONS);
    let (_, metrics) = service.get("/metrics").expect("metrics");
    assert_eq!(
        metric(
            &metrics,
            r#"lifecycle_timers_fired_total{kind="inactivity"}"#
        ),
        Some(1.0),
        "one timer fired:\n{metrics}"
    );
    service.stop_cleanly();

    let before = records(&broker, &outputs);
    assert_due_customer_churned(&before, lead_at, purchase_at);
    let states = changelog_states(&read_all(&broker, &[&topics.state]), &topics);
    assert_eq!(
        states["due"]["stage"], "churning",
        "the changelog holds the fired transition: {}",
        states["due"]
    );

    // Restart: the state is restored from the changelog, and the loop reads the system time
    // again; the timer that already fired is not due any more.
    let mut service = Service::start(broker.dir.path(), "wall-due-restarted", &config);
    service.wait_ready(Duration::from_secs(60));
    wait_loop_went_round(&broker, &mut service, group, &topics, unix_now_secs());
    let (_, metrics) = service.get("/metrics").expect("metrics");
    assert_eq!(
        metric_sum(&metrics, "lifecycle_timers_fired_total"),
        0.0,
        "no timer fired after the restart:\n{metrics}"
    );
    assert_eq!(
        metric(&metrics, "lifecycle_timers_pending"),
        Some(3.0),
        "the restored customers' timers are armed (due: churned; recent, late: inactivity)"
    );
    service.stop_cleanly();

    let after = records(&broker, &outputs);
    // The contract (at_least_once) allows identical copies and forbids different records; a
    // clean stop committed the firing, so there are no copies either.
    for r in of_customer(&after, "due") {
        assert!(
            before.contains(r),
            "a record for the due customer that differs from the first run's: {r}"
        );
    }
    assert_eq!(
        of_customer(&after, "due"),
        of_customer(&before, "due"),
        "no copies after a clean stop"
    );
    assert_due_customer_churned(&after, lead_at, purchase_at);
}

#[test]
fn a_crash_right_after_a_wall_clock_timer_fired_repeats_at_most_identical_copies() {
    let broker = Broker::start();
    let topics = TestTopics::new("wall-crash");
    topics.create(&broker, PARTITIONS);
    let group = "wall-crash-group";
    let config = service_config_with_clock(&broker, &topics, group, "wall", "");
    // The first instance commits nothing before the crash: a ten-minute batch (an idle
    // input is committed after a tenth of it), so the firing is lost with the process.
    let never_commits = config.replace("commit_interval_ms = 50", "commit_interval_ms = 600000");
    assert_ne!(never_commits, config);
    let mut service = Service::start(broker.dir.path(), "wall-crash", &never_commits);
    service.wait_ready(Duration::from_secs(60));

    let now = unix_now_secs();
    let (lines, lead_at, purchase_at) = due_stream(now);
    produce_lines(&broker, &topics.input, PARTITIONS, &lines);
    let outputs = [topics.transitions.as_str(), topics.retention.as_str()];
    wait_for(
        "the due customer's inactivity timer to fire",
        Duration::from_secs(30),
        || {
            assert!(service.is_running(), "died:\n{}", service.log_text());
            has_churning(&records(&broker, &outputs), "due")
        },
    );
    assert!(
        !group_caught_up(&broker, group, &topics.input, PARTITIONS),
        "nothing committed before the crash"
    );
    service.kill9();

    let mut service = Service::start(broker.dir.path(), "wall-crash-restarted", &config);
    service.wait_ready(Duration::from_secs(60));
    wait_loop_went_round(&broker, &mut service, group, &topics, unix_now_secs());
    service.stop_cleanly();

    let after = records(&broker, &outputs);
    // Every record of a customer is either new or an identical copy: per transition seq and
    // per action id, one distinct record.
    let mut by_identity: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for r in &after {
        let identity = match r["type"].as_str() {
            Some("transition") => format!("{} seq {}", r["customer_id"], r["seq"]),
            _ => format!("action {}", r["action_id"]),
        };
        by_identity.entry(identity).or_default().push(r);
    }
    for (identity, copies) in &by_identity {
        assert!(
            copies.iter().all(|c| *c == copies[0]),
            "{identity} was written differently: {copies:?}"
        );
    }
    // The restarted instance read the events again and fired the timer again: copies.
    let copies = after.len() - by_identity.len();
    assert!(
        copies >= 3,
        "the records were sent again after the crash: {after:?}"
    );
    let distinct: Vec<Value> = {
        let mut seen = Vec::new();
        for r in &after {
            if !seen.contains(r) {
                seen.push(r.clone());
            }
        }
        seen
    };
    assert_due_customer_churned(&distinct, lead_at, purchase_at);
    let states = changelog_states(&read_all(&broker, &[&topics.state]), &topics);
    assert_eq!(states["due"]["stage"], "churning", "{}", states["due"]);
}

#[test]
fn a_timer_due_in_a_few_seconds_fires_on_time_while_no_input_arrives() {
    let broker = Broker::start();
    let topics = TestTopics::new("wall-soon");
    topics.create(&broker, PARTITIONS);
    let group = "wall-soon-group";
    let config = service_config_with_clock(&broker, &topics, group, "wall", "")
        + "\n[rules]\nallowed_lateness = \"0s\"\n";
    let mut service = Service::start(broker.dir.path(), "wall-soon", &config);
    service.wait_ready(Duration::from_secs(60));

    // Last activity 60 days minus 8 s ago: with no allowed lateness the inactivity timer
    // fires 8 s from now, at its stamp.
    const AHEAD: i64 = 8;
    let now = unix_now_secs();
    let purchase_at = now - 60 * DAY + AHEAD;
    let deadline = purchase_at + 60 * DAY;
    let lines = vec![
        lead("s-1", "soon", now - 61 * DAY),
        purchase("s-2", "soon", purchase_at),
    ];
    produce_lines(&broker, &topics.input, PARTITIONS, &lines);
    let outputs = [topics.transitions.as_str()];
    wait_processed(&broker, &mut service, group, &topics, PARTITIONS);

    // Before the firing time: not fired yet. (Checked only when this machine got here in
    // time; the Kafka timestamp check below holds either way.)
    let metrics = service.metrics_text();
    let early = records(&broker, &outputs);
    let checked_at_ms = unix_now_ms();
    if checked_at_ms < deadline * 1000 {
        assert!(
            !has_churning(&early, "soon"),
            "the timer fired before its firing time: {early:?}"
        );
        assert_eq!(
            of_customer(&early, "soon").len(),
            2,
            "first_seen and first_conversion are out: {early:?}"
        );
        assert_eq!(
            metric_sum(&metrics, "lifecycle_timers_fired_total"),
            0.0,
            "{metrics}"
        );
    } else {
        eprintln!(
            "note: the purchase was processed only {} ms after the firing time; the early check was skipped",
            checked_at_ms - deadline * 1000
        );
    }

    wait_for(
        "the timer to fire with no further input",
        Duration::from_secs(AHEAD as u64 + 30),
        || {
            assert!(service.is_running(), "died:\n{}", service.log_text());
            has_churning(&records(&broker, &outputs), "soon")
        },
    );
    let input_high: i64 = read_all(&broker, &[&topics.input]).len() as i64;
    assert_eq!(input_high, 2, "no input but the two events");

    let churning: Vec<Timestamped> = read_timestamped(&broker, &topics.transitions)
        .into_iter()
        .filter(|r| r.value["customer_id"] == "soon" && r.value["to"] == "churning")
        .collect();
    assert_eq!(churning.len(), 1, "{churning:?}");
    let fired = &churning[0];
    assert_eq!(
        transition(&fired.value),
        t(Some("new"), "churning", "inactivity", deadline, None, 3)
    );
    // The record carries the wall time the loop read when the timer fired.
    let fired_ms = fired.timestamp_ms.expect("a timestamp");
    assert!(
        fired_ms >= deadline * 1000,
        "fired at {fired_ms} ms, before its firing time {} ms",
        deadline * 1000
    );
    assert!(
        fired_ms - deadline * 1000 < 10_000,
        "fired {} ms after its firing time",
        fired_ms - deadline * 1000
    );
    eprintln!(
        "fired {} ms after its firing time ({} ms)",
        fired_ms - deadline * 1000,
        deadline * 1000
    );
    service.stop_cleanly();
}

/// Churn prediction under the wall clock (SPEC 8): the `churn_risk` timer fires by the system
/// time with no input arriving, and the action is the one replay computes for the same events.
#[test]
fn churn_risk_fires_by_the_wall_clock_as_replay_computes_it() {
    const PREDICTION: &str =
        "\n[prediction]\nr = 0.243\nalpha = 4.414\na = 0.793\nb = 2.426\nat_risk_below = 0.5\n";
    let broker = Broker::start();
    let topics = TestTopics::new("wall-risk");
    topics.create(&broker, PARTITIONS);
    let group = "wall-risk-group";
    let config = service_config_with_clock(&broker, &topics, group, "wall", "")
        + "\n[rules]\nallowed_lateness = \"0s\"\n"
        + PREDICTION;
    let mut service = Service::start(broker.dir.path(), "wall-risk", &config);
    service.wait_ready(Duration::from_secs(60));

    // Purchases on three days in a row (x = 2, t_x = 2 days) placed so that P(alive) falls
    // below 0.5 about 8 s from now: SPEC 8's crossing, in weeks after the first purchase.
    const AHEAD: i64 = 8;
    let (r, alpha, a, b, x, t_x) = (0.243_f64, 4.414, 0.793, 2.426, 2.0, 2.0 / 7.0);
    let k: f64 = (b + x - 1.0) / a;
    let crossing_secs = ((alpha + t_x) * k.powf(1.0 / (r + x)) - alpha) * 7.0 * DAY as f64;
    let first = unix_now_secs() + AHEAD - crossing_secs as i64;
    let lines = vec![
        purchase("r-1", "risky", first),
        purchase("r-2", "risky", first + DAY),
        purchase("r-3", "risky", first + 2 * DAY),
    ];
    produce_lines(&broker, &topics.input, PARTITIONS, &lines);
    let retention = [topics.retention.as_str()];
    wait_for(
        "churn_risk to fire with no further input",
        Duration::from_secs(AHEAD as u64 + 60),
        || {
            assert!(service.is_running(), "died:\n{}", service.log_text());
            records(&broker, &retention)
                .iter()
                .any(|r| r["kind"] == "churn_risk")
        },
    );
    let sent: Vec<Value> = records(&broker, &retention)
        .into_iter()
        .filter(|r| r["kind"] == "churn_risk")
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");

    // Replay of the same events, its clock moved past the crossing.
    let rules = lifecycle::config::Config::from_toml_str(PREDICTION, "test")
        .expect("valid")
        .rules();
    let mut engine = lifecycle::domain::Engine::new(rules);
    let mut out = Vec::new();
    let now = lifecycle::domain::Timestamp::now();
    for line in &lines {
        let event = lifecycle::domain::decode(line.as_bytes(), now).expect("valid");
        engine.apply(&event, &mut out);
    }
    engine.advance_clock(
        lifecycle::domain::Timestamp::from_nanos((first + 200 * DAY) * 1_000_000_000),
        &mut out,
    );
    let replayed: Vec<Value> = out
        .iter()
        .filter_map(|r| {
            let mut buf = Vec::new();
            r.write_json_line(&mut buf);
            (!buf.is_empty()).then(|| serde_json::from_slice::<Value>(&buf).unwrap())
        })
        .filter(|r| r["kind"] == "churn_risk")
        .collect();
    assert_eq!(sent, replayed, "Kafka (left) and replay (right)");
    service.stop_cleanly();
}
