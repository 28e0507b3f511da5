//! Operations against a running service: /readyz follows restoration, /healthz answers,
//! /metrics counters move as events are processed, and the exposition passes
//! `promtool check metrics`.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use support::compare::replay_outputs;
use support::{
    Broker, Service, TestTopics, group_caught_up, produce_lines, service_config, wait_for,
};

const PARTITIONS: u32 = 3;

/// Sums of each metric family (over all label sets) and the labelled samples.
fn parse(text: &str) -> (BTreeMap<String, f64>, BTreeMap<String, f64>) {
    let mut sums = BTreeMap::new();
    let mut samples = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').expect("sample line");
        let value: f64 = value.parse().expect("sample value");
        let name = series.split('{').next().unwrap().to_string();
        *sums.entry(name).or_insert(0.0) += value;
        samples.insert(series.to_string(), value);
    }
    (sums, samples)
}

fn lines(from: usize, to: usize) -> Vec<String> {
    (from..to)
        .map(|i| {
            if i % 10 == 9 {
                format!("{{broken line {i}")
            } else {
                format!(
                    r#"{{"event_id":"e{i}","customer_id":"c{}","type":"purchase","occurred_at":"2025-03-01T{:02}:00:00Z","data":{{"amount":5}}}}"#,
                    i % 25,
                    i % 24
                )
            }
        })
        .collect()
}

#[test]
fn readiness_follows_restoration_and_counters_follow_processing() {
    // The broker's default 3 s first-join delay keeps the service unassigned, so not
    // ready, for a while after it starts listening.
    let broker = Broker::start_with(None, "3s");
    let topics = TestTopics::new("ops");
    topics.create(&broker, PARTITIONS);
    let first = lines(0, 200);
    produce_lines(&broker, &topics.input, PARTITIONS, &first);

    let config = service_config(&broker, &topics, "ops-group", "");
    let mut service = Service::start(broker.dir.path(), "ops", &config);
    let mut seen = Vec::new();
    let started = std::time::Instant::now();
    wait_for("/readyz to answer 200", Duration::from_secs(60), || {
        assert!(
            started.elapsed() < Duration::from_secs(50),
            "seen {seen:?}; log:\n{}",
            service.log_text()
        );
        assert!(
            service.is_running(),
            "service died:\n{}",
            service.log_text()
        );
        if let Some((status, _)) = service.get("/readyz")
            && seen.last() != Some(&status)
        {
            seen.push(status);
        }
        seen.last() == Some(&200)
    });
    assert_eq!(
        seen,
        [503, 200],
        "not ready while joining and restoring, then ready"
    );
    assert_eq!(service.get("/healthz").map(|(s, _)| s), Some(200));

    wait_for(
        "the first events to be committed",
        Duration::from_secs(60),
        || group_caught_up(&broker, "ops-group", &topics.input, PARTITIONS),
    );
    let (_, text) = service.get("/metrics").expect("metrics");
    let (sums, samples) = parse(&text);
    assert_eq!(sums["lifecycle_events_total"], 200.0);
    assert_eq!(
        samples[r#"lifecycle_dead_letters_total{reason="invalid_json"}"#],
        20.0
    );
    assert_eq!(
        samples[r#"lifecycle_events_total{outcome="applied",type="purchase"}"#],
        180.0
    );
    let (expected, states) = replay_outputs(&first);
    assert_eq!(
        sums["lifecycle_transitions_total"],
        expected.transition_count() as f64
    );
    assert_eq!(sums["lifecycle_customers"], states.len() as f64);
    assert_eq!(
        samples[r#"lifecycle_partitions{state="assigned"}"#],
        PARTITIONS as f64
    );
    assert_eq!(samples[r#"lifecycle_partitions{state="restoring"}"#], 0.0);
    assert_eq!(samples["lifecycle_ready"], 1.0);
    assert!(sums["lifecycle_batches_total"] >= 1.0);
    assert!(
        !text.contains("customer_id") && !text.contains("\"c1\""),
        "no customer ids in labels"
    );

    let promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; scripts/check-deploy.sh installs it)");
    {
        use std::io::Write;
        let mut stdin = promtool.stdin.as_ref().expect("stdin");
        stdin.write_all(text.as_bytes()).expect("write to promtool");
    }
    let out = promtool.wait_with_output().expect("promtool ran");
    assert!(
        out.status.success(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // More input: the counters move by exactly as much.
    produce_lines(&broker, &topics.input, PARTITIONS, &lines(200, 300));
    wait_for(
        "the next events to be counted",
        Duration::from_secs(60),
        || {
            let (_, text) = service.get("/metrics").expect("metrics");
            parse(&text).0["lifecycle_events_total"] == 300.0
        },
    );
    let (_, text) = service.get("/metrics").expect("metrics");
    let (_, samples) = parse(&text);
    assert_eq!(
        samples[r#"lifecycle_dead_letters_total{reason="invalid_json"}"#],
        30.0
    );
    assert!(
        service.terminate(),
        "clean shutdown:\n{}",
        service.log_text()
    );
}
