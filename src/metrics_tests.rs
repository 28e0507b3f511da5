//! The metrics' names, labels and cached children.

use super::*;

#[test]
fn a_churn_risk_firing_counts_as_a_timer_fired_sent_or_not() {
    let m = Metrics::new();
    m.record(&Record::Suppressed {
        kind: ActionKind::ChurnRisk,
        reason: Suppression::Cooldown,
        at: crate::domain::Timestamp::from_nanos(0),
    });
    m.record(&Record::Suppressed {
        kind: ActionKind::RetentionOffer,
        reason: Suppression::Cooldown,
        at: crate::domain::Timestamp::from_nanos(0),
    });
    let text = m.render();
    assert!(
        text.contains(r#"lifecycle_timers_fired_total{kind="churn_risk"} 1"#),
        "{text}"
    );
}

#[test]
fn every_suppression_reason_has_its_own_outcome_label() {
    for reason in Suppression::ALL {
        assert_eq!(ACTION_OUTCOMES[suppression(reason)], reason.as_str());
    }
    let m = Metrics::new();
    for reason in Suppression::ALL {
        m.record(&Record::Suppressed {
            kind: ActionKind::RetentionOffer,
            reason,
            at: crate::domain::Timestamp::from_nanos(0),
        });
    }
    let text = m.render();
    for reason in Suppression::ALL {
        let line = format!(
            r#"lifecycle_actions_total{{category="retention",kind="retention_offer",outcome="{}"}} 1"#,
            reason.as_str()
        );
        assert!(text.contains(&line), "{line} in\n{text}");
    }
}

#[test]
fn each_registry_is_fresh_and_renders_every_family() {
    let a = Metrics::new();
    a.event(Some(EventType::Purchase), Outcome::Applied);
    let b = Metrics::new();
    assert!(
        a.render()
            .contains(r#"lifecycle_events_total{outcome="applied",type="purchase"} 1"#)
    );
    assert!(!b.render().contains("lifecycle_events_total{"));
    assert!(b.render().contains("lifecycle_build_info"));
}

#[test]
fn cached_children_count_into_the_labelled_series() {
    let m = Metrics::new();
    m.event(Some(EventType::Purchase), Outcome::Applied);
    m.event(Some(EventType::Purchase), Outcome::Applied);
    m.event(None, Outcome::Ignored);
    m.action(ActionKind::NurtureLead, 0);
    m.action(ActionKind::NurtureLead, suppression(Suppression::NoConsent));
    m.action(
        ActionKind::RetentionOffer,
        suppression(Suppression::Cooldown),
    );
    m.customers_in(Stage::New).inc();
    m.customers_in(Stage::New).inc();
    m.customers_in(Stage::Prospect).dec();
    let text = m.render();
    for line in [
        r#"lifecycle_events_total{outcome="applied",type="purchase"} 2"#,
        r#"lifecycle_events_total{outcome="ignored",type="unknown"} 1"#,
        r#"lifecycle_actions_total{category="marketing",kind="nurture_lead",outcome="emitted"} 1"#,
        r#"lifecycle_actions_total{category="marketing",kind="nurture_lead",outcome="no_consent"} 1"#,
        r#"lifecycle_actions_total{category="retention",kind="retention_offer",outcome="cooldown"} 1"#,
        r#"lifecycle_customers{stage="new"} 2"#,
        r#"lifecycle_customers{stage="prospect"} -1"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    assert_eq!(
        m.events.with_label_values(&["purchase", "applied"]).get(),
        2
    );
}

/// The sample value of an unlabelled series in a text exposition.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[cfg(target_os = "linux")]
#[test]
fn the_registry_exposes_this_process_memory_and_file_descriptors() {
    let m = Metrics::new();
    // Files held open here are descriptors of the process at the next scrape.
    let before =
        sample(&m.render(), "lifecycle_process_open_fds").expect("lifecycle_process_open_fds");
    let files: Vec<std::fs::File> = (0..256)
        .map(|_| std::fs::File::open("Cargo.toml").expect("open a file"))
        .collect();
    let text = m.render();
    let rss = sample(&text, "lifecycle_process_resident_memory_bytes").expect("resident memory");
    let virt = sample(&text, "lifecycle_process_virtual_memory_bytes").expect("virtual memory");
    assert!(rss > 1e6 && virt >= rss, "rss {rss}, virtual {virt}");
    let fds = sample(&text, "lifecycle_process_open_fds").expect("lifecycle_process_open_fds");
    // Other tests of this binary open and close files meanwhile: hence the margin.
    assert!(
        fds >= before + 200.0,
        "open fds {fds}, before opening 256: {before}"
    );
    for name in [
        "lifecycle_process_cpu_seconds_total",
        "lifecycle_process_max_fds",
        "lifecycle_process_start_time_seconds",
        "lifecycle_process_threads",
    ] {
        assert!(sample(&text, name).is_some(), "missing {name} in\n{text}");
    }
    let started = sample(&text, "lifecycle_process_start_time_seconds").expect("start time");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    assert!(
        started <= now && started > now - 86_400.0,
        "started {started}"
    );
    drop(files);
}

#[test]
fn client_restarts_are_counted() {
    let m = Metrics::new();
    assert_eq!(
        sample(&m.render(), "lifecycle_client_restarts_total"),
        Some(0.0)
    );
    m.client_restarts.inc();
    assert_eq!(
        sample(&m.render(), "lifecycle_client_restarts_total"),
        Some(1.0)
    );
}

#[test]
fn transitions_count_by_stages_and_reason_family() {
    use crate::domain::{Engine, Rules, Timestamp, decode};
    let m = Metrics::new();
    let now = Timestamp::parse_rfc3339("2026-01-02T00:00:00Z").expect("valid");
    let mut engine = Engine::new(Rules::default());
    let mut records = Vec::new();
    for (id, customer) in [("e1", "c1"), ("e2", "c2")] {
        let line = format!(
            r#"{{"event_id":"{id}","customer_id":"{customer}","type":"purchase","occurred_at":"2026-01-01T00:00:00Z","data":{{"amount":5}}}}"#
        );
        let event = decode(line.as_bytes(), now).expect("valid event");
        engine.apply(&event, &mut records);
    }
    for r in &records {
        m.record(r);
    }
    let text = m.render();
    for line in [
        r#"lifecycle_transitions_total{from="none",reason="first_seen",to="prospect"} 2"#,
        r#"lifecycle_transitions_total{from="prospect",reason="first_conversion",to="new"} 2"#,
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}

/// What `promtool check metrics` lints (tests/kafka_operations.rs runs it on a live service,
/// whose input has no survey answers): a counter's name ends in `_total`, and no other
/// metric's name ends in a histogram's or summary's suffix.
#[test]
fn every_name_follows_the_exposition_conventions_once_each_family_has_a_sample() {
    let m = Metrics::new();
    m.feedback(
        Some("search"),
        Some(KanoClass::Attractive),
        Some(9),
        Some(4),
        Stage::Mature,
    );
    let text = m.render();
    let mut counters = 0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("# TYPE ") else {
            continue;
        };
        let (name, kind) = rest.split_once(' ').unwrap();
        assert!(name.starts_with("lifecycle_"), "SPEC 6: {name}");
        if kind == "counter" {
            counters += 1;
            assert!(name.ends_with("_total"), "a counter: {name}");
        }
        if !matches!(kind, "histogram" | "summary") {
            for suffix in ["_sum", "_count", "_bucket"] {
                assert!(!name.ends_with(suffix), "{kind} {name}");
            }
        }
    }
    assert!(
        text.contains("lifecycle_voc_satisfaction_score_total{"),
        "{text}"
    );
    assert!(counters > 5, "{text}");
}
