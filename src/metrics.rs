//! Every metric, declared once on an owned registry (so each test gets a fresh one). Names
//! follow `lifecycle_<what>_<unit>`; labels come from closed sets, never a customer id.

use std::sync::OnceLock;

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::domain::holdout::Group;
use crate::domain::kano::KanoClass;
use crate::domain::voc::letter;
use crate::domain::{
    ActionKind, EventType, Outcome, Reason, Record, RejectReason, Stage, Suppression,
};

#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    pub events: IntCounterVec,
    pub dead_letters: IntCounterVec,
    pub transitions: IntCounterVec,
    pub actions: IntCounterVec,
    pub customers: IntGaugeVec,
    pub event_time_lag: Histogram,
    pub batch_duration: Histogram,
    pub batch_events: Histogram,
    pub batches: IntCounterVec,
    pub consumer_lag: IntGaugeVec,
    pub restore_records: IntCounter,
    pub partitions: IntGaugeVec,
    pub timers_pending: IntGauge,
    pub timers_fired: IntCounterVec,
    pub ready: IntGauge,
    pub client_restarts: IntCounter,
    pub holdout_actions: IntCounterVec,
    pub holdout_conversions: IntCounterVec,
    pub voc_kano_answers: IntCounterVec,
    pub voc_nps_answers: IntCounterVec,
    pub voc_satisfaction_answers: IntCounterVec,
    pub voc_satisfaction_score: IntCounterVec,
    /// The children counted per event and per record, resolved once: `with_label_values`
    /// hashes its labels and takes a lock on every call.
    cached: Cached,
}

/// Label children looked up on first use and kept; indexed by the enums' positions.
#[derive(Debug, Clone, Default)]
struct Cached {
    /// `[type][outcome]`, with one more type row for events of an unknown type.
    events: Vec<OnceLock<IntCounter>>,
    /// `[kind][outcome]`: emitted, cooldown, no_consent.
    actions: Vec<OnceLock<IntCounter>>,
    customers: Vec<OnceLock<IntGauge>>,
    /// `[from][to][reason family]`, `from` and `to` with one more row for none.
    transitions: Vec<OnceLock<IntCounter>>,
}

impl Cached {
    fn new() -> Cached {
        fn cells<T>(n: usize) -> Vec<OnceLock<T>> {
            (0..n).map(|_| OnceLock::new()).collect()
        }
        Cached {
            events: cells((EventType::ALL.len() + 1) * Outcome::ALL.len()),
            actions: cells(ActionKind::ALL.len() * ACTION_OUTCOMES.len()),
            customers: cells(Stage::ALL.len()),
            transitions: cells((Stage::ALL.len() + 1).pow(2) * Reason::FAMILIES.len()),
        }
    }
}

/// The `outcome` label of `lifecycle_actions_total`: sent, held out (SPEC 10), then each
/// suppression reason at 2 + its place in `Suppression::ALL`.
const ACTION_OUTCOMES: [&str; 2 + Suppression::ALL.len()] = [
    "emitted",
    "held_out",
    "cooldown",
    "no_consent",
    "frequency_cap",
    "backfill",
];
const EMITTED: usize = 0;
const HELD_OUT: usize = 1;

fn position<T: PartialEq>(all: &[T], item: &T) -> usize {
    all.iter()
        .position(|x| x == item)
        .expect("every variant is in ALL")
}

fn stage_label(stage: Option<Stage>) -> &'static str {
    stage.map_or("none", Stage::as_str)
}

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("metric registered once");
            c
        };
        let gauge = |name: &str, help: &str, labels: &[&str]| {
            let g = IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("metric registered once");
            g
        };
        let histogram = |name: &str, help: &str, buckets: Vec<f64>| {
            let h = Histogram::with_opts(HistogramOpts::new(name, help).buckets(buckets))
                .expect("valid metric");
            registry
                .register(Box::new(h.clone()))
                .expect("metric registered once");
            h
        };
        let plain_counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).expect("valid metric");
            registry
                .register(Box::new(c.clone()))
                .expect("metric registered once");
            c
        };
        let plain_gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).expect("valid metric");
            registry
                .register(Box::new(g.clone()))
                .expect("metric registered once");
            g
        };
        let metrics = Metrics {
            events: counter(
                "lifecycle_events_total",
                "Input events by type and outcome.",
                &["type", "outcome"],
            ),
            dead_letters: counter(
                "lifecycle_dead_letters_total",
                "Rejected events written to the dead-letter topic, by reason.",
                &["reason"],
            ),
            transitions: counter(
                "lifecycle_transitions_total",
                "Stage transitions by from, to and reason.",
                &["from", "to", "reason"],
            ),
            actions: counter(
                "lifecycle_actions_total",
                "Planned actions by kind, category and outcome (emitted, held_out, or suppressed: cooldown, no_consent, frequency_cap, backfill).",
                &["kind", "category", "outcome"],
            ),
            customers: gauge(
                "lifecycle_customers",
                "Customers in the assigned partitions, by stage.",
                &["stage"],
            ),
            event_time_lag: histogram(
                "lifecycle_event_time_lag_seconds",
                "Processing time minus the event's occurred_at.",
                vec![
                    0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0, 60.0, 300.0, 3600.0, 86400.0,
                ],
            ),
            batch_duration: histogram(
                "lifecycle_batch_duration_seconds",
                "Time to commit one batch (one transaction with exactly_once).",
                vec![
                    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
                ],
            ),
            batch_events: histogram(
                "lifecycle_batch_events",
                "Input events per committed batch.",
                vec![1.0, 10.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0, 20000.0],
            ),
            batches: counter(
                "lifecycle_batches_total",
                "Batches by result (committed, aborted, failed, uncommitted).",
                &["result"],
            ),
            consumer_lag: gauge(
                "lifecycle_consumer_lag_messages",
                "Consumer lag of each assigned input partition (librdkafka statistics).",
                &["partition"],
            ),
            restore_records: plain_counter(
                "lifecycle_restore_records_total",
                "Changelog records read while restoring partitions.",
            ),
            partitions: gauge(
                "lifecycle_partitions",
                "Input partitions by state (assigned, restoring).",
                &["state"],
            ),
            timers_pending: plain_gauge(
                "lifecycle_timers_pending",
                "Armed timers in the assigned partitions.",
            ),
            timers_fired: counter(
                "lifecycle_timers_fired_total",
                "Timer firings by kind.",
                &["kind"],
            ),
            ready: plain_gauge(
                "lifecycle_ready",
                "1 when every assigned partition is restored and the producer is usable.",
            ),
            client_restarts: plain_counter(
                "lifecycle_client_restarts_total",
                "Fatal Kafka client errors after which the consumer and producer are recreated.",
            ),
            holdout_actions: counter(
                "lifecycle_holdout_actions_total",
                "Actions of the kinds with a holdout (SPEC 10), by kind and group (treated: sent, control: held out).",
                &["kind", "group"],
            ),
            holdout_conversions: counter(
                "lifecycle_holdout_conversions_total",
                "Conversions within holdout.window_days after a kind's action, by kind and group.",
                &["kind", "group"],
            ),
            voc_kano_answers: counter(
                "lifecycle_voc_kano_answers_total",
                "KANO answers by feature (the first voc.max_features seen, the rest as `other`; empty: none named) and class (A, O, M, I, R, Q).",
                &["feature", "class"],
            ),
            voc_nps_answers: counter(
                "lifecycle_voc_nps_answers_total",
                "NPS answers by the customer's stage after the feedback and answer (promoter, passive, detractor).",
                &["stage", "answer"],
            ),
            voc_satisfaction_answers: counter(
                "lifecycle_voc_satisfaction_answers_total",
                "Feedback events with a satisfaction score, by the customer's stage after it.",
                &["stage"],
            ),
            voc_satisfaction_score: counter(
                "lifecycle_voc_satisfaction_score_total",
                "The sum of the satisfaction scores (1-5), by stage: divide by the answers for the mean.",
                &["stage"],
            ),
            cached: Cached::new(),
            registry,
        };
        let build = IntGaugeVec::new(
            Opts::new("lifecycle_build_info", "The running version, as a label."),
            &["version"],
        )
        .expect("valid metric");
        metrics
            .registry
            .register(Box::new(build.clone()))
            .expect("metric registered once");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        // The process's memory, CPU time, file descriptors, threads and start time, read
        // from /proc at each scrape, under the service's prefix (SPEC 6: every name starts
        // with `lifecycle_`): `lifecycle_process_resident_memory_bytes`, ... Linux only:
        // procfs is what the prometheus crate reads.
        #[cfg(target_os = "linux")]
        metrics
            .registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::new(
                    std::process::id() as i32,
                    "lifecycle",
                ),
            ))
            .expect("process metrics registered once");
        for stage in Stage::ALL {
            metrics
                .customers
                .with_label_values(&[stage.as_str()])
                .set(0);
        }
        for state in ["assigned", "restoring"] {
            metrics.partitions.with_label_values(&[state]).set(0);
        }
        metrics
    }

    /// Registers a collector of another part (the webhooks') on this registry.
    pub fn register(&self, collector: Box<dyn prometheus::core::Collector>) {
        let _ = self.registry.register(collector);
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        let encoder = TextEncoder::new();
        // Encoding gathered families into a Vec cannot fail.
        let _ = encoder.encode(&self.registry.gather(), &mut buf);
        String::from_utf8(buf).unwrap_or_default()
    }

    /// Counts one input event; `None`: a type this processor does not know.
    pub fn event(&self, event_type: Option<EventType>, outcome: Outcome) {
        let row = event_type.map_or(EventType::ALL.len(), |t| position(&EventType::ALL, &t));
        let cell = row * Outcome::ALL.len() + position(&Outcome::ALL, &outcome);
        self.cached.events[cell]
            .get_or_init(|| {
                let label = event_type.map_or("unknown", EventType::as_str);
                self.events.with_label_values(&[label, outcome.as_str()])
            })
            .inc();
    }

    /// The gauge of customers in `stage`.
    pub fn customers_in(&self, stage: Stage) -> &IntGauge {
        self.cached.customers[position(&Stage::ALL, &stage)]
            .get_or_init(|| self.customers.with_label_values(&[stage.as_str()]))
    }

    pub fn rejected(&self, reason: RejectReason) {
        self.events
            .with_label_values(&["invalid", "rejected"])
            .inc();
        self.dead_letters
            .with_label_values(&[reason.as_str()])
            .inc();
    }

    /// Counts one engine output record.
    pub fn record(&self, record: &Record) {
        match record {
            Record::Transition(t) => {
                let stage =
                    |s: Option<Stage>| s.map_or(Stage::ALL.len(), |s| position(&Stage::ALL, &s));
                let stages = Stage::ALL.len() + 1;
                let cell = (stage(t.from) * stages + stage(t.to)) * Reason::FAMILIES.len()
                    + t.reason.family_index();
                self.cached.transitions[cell]
                    .get_or_init(|| {
                        self.transitions.with_label_values(&[
                            stage_label(t.from),
                            stage_label(t.to),
                            t.reason.family(),
                        ])
                    })
                    .inc();
                if let Some(from) = t.from {
                    self.customers_in(from).dec();
                }
                if let Some(to) = t.to {
                    self.customers_in(to).inc();
                }
                if t.event_id.is_none() {
                    let kind = match t.reason {
                        crate::domain::Reason::NoReactivation => "no_reactivation",
                        _ => "inactivity",
                    };
                    self.timers_fired.with_label_values(&[kind]).inc();
                }
            }
            Record::Action(a) => {
                let outcome = match a.group {
                    Some(Group::Control) => HELD_OUT,
                    _ => EMITTED,
                };
                self.action(a.kind, outcome);
                if let Some(group) = a.group {
                    self.holdout_actions
                        .with_label_values(&[a.kind.as_str(), group.as_str()])
                        .inc();
                }
            }
            Record::Suppressed { kind, reason, .. } => self.action(*kind, suppression(*reason)),
            Record::Converted { kind, group } => self
                .holdout_conversions
                .with_label_values(&[kind.as_str(), group.as_str()])
                .inc(),
        }
    }

    /// Counts one applied feedback answer (SPEC 10): `feature` is its label (bounded by the
    /// caller's `Voc`), `stage` the customer's stage after it.
    pub fn feedback(
        &self,
        feature: Option<&str>,
        kano: Option<KanoClass>,
        nps: Option<u8>,
        satisfaction: Option<u8>,
        stage: Stage,
    ) {
        if let Some(class) = kano {
            self.voc_kano_answers
                .with_label_values(&[feature.unwrap_or(""), letter(class)])
                .inc();
        }
        if let Some(n) = nps {
            let answer = match n {
                9..=10 => "promoter",
                7..=8 => "passive",
                _ => "detractor",
            };
            self.voc_nps_answers
                .with_label_values(&[stage.as_str(), answer])
                .inc();
        }
        if let Some(s) = satisfaction {
            self.voc_satisfaction_answers
                .with_label_values(&[stage.as_str()])
                .inc();
            self.voc_satisfaction_score
                .with_label_values(&[stage.as_str()])
                .inc_by(u64::from(s));
        }
    }

    /// Counts one planned action; `outcome` indexes [`ACTION_OUTCOMES`].
    fn action(&self, kind: ActionKind, outcome: usize) {
        // A churn_risk action, sent or not, is its timer's firing (it moves no stage, so no
        // transition counts it).
        if kind == ActionKind::ChurnRisk {
            self.timers_fired.with_label_values(&["churn_risk"]).inc();
        }
        let cell = position(&ActionKind::ALL, &kind) * ACTION_OUTCOMES.len() + outcome;
        self.cached.actions[cell]
            .get_or_init(|| {
                self.actions.with_label_values(&[
                    kind.as_str(),
                    kind.category().as_str(),
                    ACTION_OUTCOMES[outcome],
                ])
            })
            .inc();
    }
}

/// The index of a suppression's `outcome` label in [`ACTION_OUTCOMES`].
fn suppression(reason: Suppression) -> usize {
    2 + position(&Suppression::ALL, &reason)
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

#[cfg(test)]
#[path = "metrics_tests.rs"]
mod tests;
