//! Client restarts back off (src/kafka/backoff.rs): a fatal error that keeps coming back
//! spaces the restarts out more and more, each is counted in
//! `lifecycle_client_restarts_total` and logged with its delay, and a shutdown during the
//! wait between two restarts ends it at once. Against librdkafka's mock cluster, told to
//! answer the producer's transactional requests as Kafka answers a fenced producer (a fatal
//! error).

mod support;

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lifecycle::config::Config;
use lifecycle::domain::Timestamp;
use lifecycle::kafka::service::{Telemetry, run};
use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use serde_json::Value;
use support::compare::ordered_stream;
use support::{TestTopics, produce_lines_to, service_config_for};

const PARTITIONS: u32 = 2;

/// The service's log, as JSON lines in memory.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

impl Captured {
    fn lines(&self) -> Vec<Value> {
        let bytes = self.0.lock().unwrap().clone();
        String::from_utf8(bytes)
            .expect("UTF-8 log")
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON log line"))
            .collect()
    }
}

/// Seconds between two log lines' timestamps.
fn seconds_between(from: &Value, to: &Value) -> f64 {
    let t = |v: &Value| {
        Timestamp::parse_rfc3339(v["timestamp"].as_str().expect("a timestamp"))
            .expect("an RFC 3339 timestamp")
            .as_nanos()
    };
    (t(to) - t(from)) as f64 / 1e9
}

#[test]
fn repeated_fatal_errors_space_restarts_out_and_shutdown_ends_the_wait() {
    let log = Captured::default();
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_env_filter(tracing_subscriber::EnvFilter::new("lifecycle=info"))
        .with_writer(log.clone())
        .try_init()
        .expect("the only subscriber of this test binary");
    let mock = MockCluster::new(1).expect("mock cluster");
    let bootstrap = mock.bootstrap_servers();
    let topics = TestTopics::new("backoff");
    for t in [
        &topics.input,
        &topics.transitions,
        &topics.care,
        &topics.retention,
        &topics.marketing,
        &topics.dlq,
        &topics.state,
    ] {
        mock.create_topic(t, PARTITIONS as i32, 1)
            .expect("mock topic");
    }
    // Every client generation reads this input again from the start (nothing is ever
    // committed), and its first transaction meets the next injected error: four fatal
    // errors, four restarts, after 0.5, 1, 2 and 4 s.
    produce_lines_to(
        &bootstrap,
        &topics.input,
        PARTITIONS,
        &ordered_stream(10, 41, PARTITIONS),
    );
    mock.request_errors(
        RDKafkaApiKey::AddPartitionsToTxn,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_PRODUCER_FENCED; 4],
    );
    let extra = "guarantee = \"exactly_once\"\ntransactional_id = \"backoff-1\"";
    let text =
        service_config_for(&bootstrap, &topics, "backoff-group", extra).replace("HTTP_PORT", "0");
    let config = Config::from_toml_str(&text, "test").expect("valid config");
    let telemetry = Telemetry::new(Duration::from_secs(60));
    let shutdown = Arc::new(AtomicBool::new(false));
    let service = {
        let (shutdown, telemetry) = (shutdown.clone(), telemetry.clone());
        std::thread::spawn(move || {
            let (_asker, inbox) = lifecycle::kafka::queries::channel();
            run(&config, &shutdown, &telemetry, &inbox)
        })
    };

    // Wait for the fourth restart, then ask for shutdown during its 4 s wait.
    let started = Instant::now();
    while telemetry.metrics.client_restarts.get() < 4 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "only {} restarts in 2 minutes",
            telemetry.metrics.client_restarts.get()
        );
        assert!(!service.is_finished(), "the service stopped: {:?}", {
            service.join()
        });
        std::thread::sleep(Duration::from_millis(10));
    }
    let asked = Instant::now();
    shutdown.store(true, Ordering::Relaxed);
    let report = service
        .join()
        .expect("service thread")
        .expect("a clean stop");
    let took = asked.elapsed();
    assert_eq!(report.client_restarts, 4, "{report:?}");
    assert_eq!(telemetry.metrics.client_restarts.get(), 4);
    assert!(
        took < Duration::from_millis(1_500),
        "the 4 s wait ended {took:?} after the shutdown flag"
    );

    // Each restart is logged with its delay, and the next clients start that long after
    // (plus the time init_transactions takes).
    let lines = log.lines();
    let restarts: Vec<&Value> = lines
        .iter()
        .filter(|v| {
            v["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("fatal Kafka client error"))
        })
        .collect();
    let delays: Vec<u64> = restarts
        .iter()
        .map(|v| v["delay_ms"].as_u64().expect("a delay_ms field"))
        .collect();
    assert_eq!(delays, [500, 1_000, 2_000, 4_000]);
    let starts: Vec<&Value> = lines
        .iter()
        .filter(|v| v["message"] == "lifecycle service started")
        .collect();
    assert_eq!(starts.len(), 4, "the first clients and three restarts");
    let waited: Vec<f64> = restarts
        .iter()
        .zip(&starts[1..])
        .map(|(restart, start)| seconds_between(restart, start))
        .collect();
    eprintln!("restart to next start: {waited:?} s; stopped {took:?} after the shutdown flag");
    for (w, delay) in waited.iter().zip(&delays) {
        let delay = *delay as f64 / 1e3;
        assert!(
            *w >= delay && *w < delay + 3.0,
            "the clients started {w} s after a restart with a {delay} s delay: {waited:?}"
        );
    }
}
