//! The harness of the Kafka tests: a real broker (nisshi) on a free loopback port, the
//! `lifecycle` binary as a child process, and helpers to produce input and read outputs.
//! Every test gets its own broker, topics and group. A missing broker binary fails the test
//! with a message saying how to install it.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Headers;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

pub const INSTALL_HINT: &str = "the Kafka tests need the nisshi broker: run `scripts/broker.sh install` \
     (cargo install nisshi@0.8.1 --locked --ignore-rust-version), or set NISSHI to its path";

pub fn nisshi() -> PathBuf {
    if let Ok(p) = std::env::var("NISSHI") {
        return PathBuf::from(p);
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let candidates = [PathBuf::from(home).join(".cargo/bin/nisshi")];
    for c in candidates {
        if c.exists() {
            return c;
        }
    }
    if let Ok(out) = Command::new("sh")
        .args(["-c", "command -v nisshi"])
        .output()
    {
        let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !p.is_empty() {
            return PathBuf::from(p);
        }
    }
    panic!("{INSTALL_HINT}");
}

/// A loopback port for a service's HTTP server, free when asked, below Linux's ephemeral
/// range (32768-60999), where the kernel picks the local ports of outgoing connections: a
/// port taken from that range (`bind(0)`) could be given to one of the many client
/// connections the tests open before the service binds it ("Address already in use" seen
/// in kafka_fencing). Never the same port twice in one test process.
pub fn free_port() -> u16 {
    use std::sync::Mutex;
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let seed = std::process::id() as usize * 7919;
    for i in 0..12_000usize {
        let port = 20_000 + ((seed + i * 104_729) % 12_000) as u16;
        if given.contains(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.push(port);
            return port;
        }
    }
    panic!("no free loopback port in 20000-31999");
}

/// Waits for `cond`, polling, up to `limit`; panics with `what` if it never holds.
pub fn wait_for(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A broker process, killed on drop.
pub struct Broker {
    pub port: u16,
    child: Child,
    pub dir: tempfile::TempDir,
}

impl Broker {
    pub fn start() -> Broker {
        Broker::start_with_storage(None)
    }

    /// `storage`: e.g. `sqlite://state.db` (relative to the broker's directory) to survive a
    /// restart; memory by default.
    pub fn start_with_storage(storage: Option<&str>) -> Broker {
        Broker::start_with(storage, "100ms")
    }

    /// `rebalance_delay`: how long a new group's first join waits (the broker's default is 3s).
    pub fn start_with(storage: Option<&str>, rebalance_delay: &str) -> Broker {
        let bin = nisshi();
        let dir = tempfile::tempdir().expect("temp dir");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("broker.log")).expect("broker log");
        let url = format!("tcp://127.0.0.1:{port}");
        let child = Command::new(&bin)
            .current_dir(dir.path())
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", storage.unwrap_or("memory://nisshi/")])
            .args(["--group-initial-rebalance-delay", rebalance_delay])
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}; {INSTALL_HINT}", bin.display()));
        let broker = Broker { port, child, dir };
        let log_path = broker.dir.path().join("broker.log");
        wait_for("the broker to be ready", Duration::from_secs(60), || {
            std::fs::read_to_string(&log_path).is_ok_and(|l| l.contains("ready in"))
        });
        broker
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn create_topic(&self, name: &str, partitions: u32, compact: bool) {
        let configs: &[&str] = if compact {
            &["cleanup.policy=compact"]
        } else {
            &[]
        };
        self.create_topic_with(name, partitions, configs);
    }

    /// Creates a topic with topic configs such as `max.message.bytes=2097152`.
    pub fn create_topic_with(&self, name: &str, partitions: u32, configs: &[&str]) {
        let mut cmd = Command::new(nisshi());
        cmd.args([
            "topic",
            "create",
            "--broker",
            &format!("tcp://127.0.0.1:{}", self.port),
        ])
        .args(["--partitions", &partitions.to_string()]);
        for config in configs {
            cmd.args(["--config", config]);
        }
        let out = cmd.arg(name).output().expect("nisshi topic create");
        assert!(
            out.status.success(),
            "creating topic {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The topic names of one test (prefixed, so tests never share topics).
#[derive(Clone, Debug)]
pub struct TestTopics {
    pub input: String,
    pub transitions: String,
    pub care: String,
    pub retention: String,
    pub marketing: String,
    pub state: String,
    pub dlq: String,
    pub members: String,
    pub holdout: String,
}

impl TestTopics {
    pub fn new(prefix: &str) -> TestTopics {
        TestTopics {
            input: format!("{prefix}.crm.events"),
            transitions: format!("{prefix}.transitions"),
            care: format!("{prefix}.actions.care"),
            retention: format!("{prefix}.actions.retention"),
            marketing: format!("{prefix}.actions.marketing"),
            state: format!("{prefix}.state"),
            dlq: format!("{prefix}.dlq"),
            members: format!("{prefix}.members"),
            holdout: format!("{prefix}.actions.holdout"),
        }
    }

    pub fn create(&self, broker: &Broker, partitions: u32) {
        for t in [
            &self.input,
            &self.transitions,
            &self.care,
            &self.retention,
            &self.marketing,
            &self.dlq,
            &self.holdout,
        ] {
            broker.create_topic(t, partitions, false);
        }
        broker.create_topic(&self.state, partitions, true);
        broker.create_topic(&self.members, 1, true);
    }

    /// The outputs and the changelog: everything a run writes but dead letters.
    pub fn outputs_and_state(&self) -> [&str; 6] {
        [
            &self.transitions,
            &self.care,
            &self.retention,
            &self.marketing,
            &self.holdout,
            &self.state,
        ]
    }

    pub fn outputs(&self) -> [&str; 5] {
        [
            &self.transitions,
            &self.care,
            &self.retention,
            &self.marketing,
            &self.holdout,
        ]
    }
}

/// A service configuration for a test.
pub fn service_config(broker: &Broker, topics: &TestTopics, group: &str, extra: &str) -> String {
    service_config_for(&broker.bootstrap(), topics, group, extra)
}

/// [`service_config`] for any bootstrap address.
pub fn service_config_for(
    bootstrap: &str,
    topics: &TestTopics,
    group: &str,
    extra: &str,
) -> String {
    format!(
        r#"[http]
address = "127.0.0.1:HTTP_PORT"

[kafka]
brokers = "{}"
group_id = "{group}"
clock = "event"
commit_interval_ms = 50
operation_timeout_ms = 20000
shutdown_timeout_ms = 10000
{extra}
[kafka.topics]
input = "{}"
transitions = "{}"
care = "{}"
retention = "{}"
marketing = "{}"
state = "{}"
dead_letters = "{}"
members = "{}"
holdout = "{}"

[kafka.librdkafka]
"session.timeout.ms" = "6000"
"heartbeat.interval.ms" = "500"
"#,
        bootstrap,
        topics.input,
        topics.transitions,
        topics.care,
        topics.retention,
        topics.marketing,
        topics.state,
        topics.dlq,
        topics.members,
        topics.holdout
    )
}

/// A `lifecycle run` child process.
pub struct Service {
    child: Child,
    pub log: PathBuf,
    /// The port of its /metrics, /healthz and /readyz.
    pub http_port: u16,
}

impl Service {
    /// Starts `lifecycle run`; `HTTP_PORT` in the config becomes a free port.
    pub fn start(dir: &Path, name: &str, config: &str) -> Service {
        Service::start_with_env(dir, name, config, &[])
    }

    /// [`Service::start`] with `env` added to the child's environment, after the harness's
    /// own `RUST_LOG` (so `("RUST_LOG", "trace")` overrides it): secrets for `env:NAME`
    /// settings, a log level.
    pub fn start_with_env(dir: &Path, name: &str, config: &str, env: &[(&str, &str)]) -> Service {
        let http_port = free_port();
        let config = config.replace("HTTP_PORT", &http_port.to_string());
        let config_path = dir.join(format!("{name}.toml"));
        std::fs::write(&config_path, config).expect("write config");
        let log = dir.join(format!("{name}.log"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("service log");
        // LIFECYCLE_BIN runs another build (say, an older version, to see a test fail on it).
        let bin = std::env::var("LIFECYCLE_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_lifecycle").to_string());
        let child = Command::new(bin)
            .args(["run", "--config"])
            .arg(&config_path)
            .env(
                "RUST_LOG",
                std::env::var("SERVICE_LOG").unwrap_or_else(|_| "info".into()),
            )
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(file)
            .spawn()
            .expect("start lifecycle run");
        Service {
            child,
            log,
            http_port,
        }
    }

    /// `method path` to the service's HTTP endpoints, or None if it does not answer (yet).
    pub fn request(&self, method: &str, path: &str) -> Option<HttpResponse> {
        http_request(self.http_port, method, path)
    }

    /// The URL its instance advertises (http.advertised_url's default: its loopback port).
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// GET `path` from the service's HTTP endpoints: (status, body), or None if it does not
    /// answer (yet).
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        use std::io::Read;
        let mut stream = std::net::TcpStream::connect(("127.0.0.1", self.http_port)).ok()?;
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .ok()?;
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
        )
        .ok()?;
        let mut response = String::new();
        stream.read_to_string(&mut response).ok()?;
        let status = response.split_whitespace().nth(1)?.parse().ok()?;
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())?;
        Some((status, body))
    }

    /// SIGKILL: no commit, no goodbye.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait for a clean exit; returns whether it exited successfully.
    pub fn terminate(&mut self) -> bool {
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let status = self.child.wait();
        if !status.as_ref().is_ok_and(|s| s.success()) {
            eprintln!("{pid} ended with {status:?}");
        }
        status.is_ok_and(|s| s.success())
    }

    /// SIGTERM, and a clean exit, or a failure showing the log.
    pub fn stop_cleanly(&mut self) {
        assert!(self.terminate(), "clean shutdown:\n{}", self.log_text());
    }

    /// SIGSTOP: the process (all its threads) stops where it is, as in a long pause.
    pub fn pause(&mut self) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill").args(["-STOP", &pid]).status();
        assert!(ok.is_ok_and(|s| s.success()), "SIGSTOP {pid}");
    }

    /// SIGCONT after [`pause`](Self::pause).
    pub fn resume(&mut self) {
        let pid = self.child.id().to_string();
        let ok = Command::new("kill").args(["-CONT", &pid]).status();
        assert!(ok.is_ok_and(|s| s.success()), "SIGCONT {pid}");
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// The partition a test producer puts a customer on (any stable function works: the service
/// only needs a customer to stay on one partition).
pub fn partition_of(customer: &str, partitions: u32) -> i32 {
    let h = customer.bytes().fold(0xcbf29ce484222325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100000001b3)
    });
    (h % u64::from(partitions)) as i32
}

/// The customer id of a JSON line, or a fixed key for lines that have none.
pub fn key_of(line: &str) -> String {
    serde_json::from_str::<serde_json::Value>(line)
        .ok()
        .and_then(|v| {
            v.get("customer_id")
                .and_then(|c| c.as_str())
                .map(str::to_owned)
        })
        .unwrap_or_else(|| "unkeyed".into())
}

/// Produces `lines` to `topic`, each keyed and partitioned by its customer id.
pub fn produce_lines(broker: &Broker, topic: &str, partitions: u32, lines: &[String]) {
    produce_lines_to(&broker.bootstrap(), topic, partitions, lines);
}

/// [`produce_lines`] to any bootstrap address (the mock cluster too).
pub fn produce_lines_to(bootstrap: &str, topic: &str, partitions: u32, lines: &[String]) {
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("enable.idempotence", "true")
        .set("linger.ms", "5")
        .create()
        .expect("test producer");
    for line in lines {
        let key = key_of(line);
        let mut record = BaseRecord::to(topic)
            .key(key.as_bytes())
            .payload(line.as_bytes())
            .partition(partition_of(&key, partitions));
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((_, back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(10));
                }
            }
        }
        producer.poll(Duration::ZERO);
    }
    producer
        .flush(Duration::from_secs(60))
        .expect("flush test input");
}

/// One consumed message.
#[derive(Clone, Debug, PartialEq)]
pub struct Consumed {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub payload: Option<Vec<u8>>,
    pub headers: BTreeMap<String, String>,
}

/// Reads every message of `topics` currently in the log (up to the high watermarks).
pub fn read_all(broker: &Broker, topics: &[&str]) -> Vec<Consumed> {
    read_all_from(&broker.bootstrap(), topics)
}

/// [`read_all`] from any bootstrap address, as a read_committed reader.
pub fn read_all_from(bootstrap: &str, topics: &[&str]) -> Vec<Consumed> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("isolation.level", "read_committed")
        .set("group.id", "test-reader")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("test consumer");
    let mut tpl = TopicPartitionList::new();
    let mut remaining: BTreeMap<(String, i32), i64> = BTreeMap::new();
    for topic in topics {
        let md = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .expect("metadata");
        for t in md.topics() {
            for p in t.partitions() {
                let (low, high) = consumer
                    .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                    .expect("watermarks");
                if high > low {
                    tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                        .expect("tpl");
                    remaining.insert((topic.to_string(), p.id()), high);
                }
            }
        }
    }
    let mut out = Vec::new();
    if remaining.is_empty() {
        return out;
    }
    consumer.assign(&tpl).expect("assign");
    let start = Instant::now();
    while !remaining.is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "reading outputs timed out"
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                let mut headers = BTreeMap::new();
                if let Some(h) = m.headers() {
                    for header in h.iter() {
                        headers.insert(
                            header.key.to_string(),
                            String::from_utf8_lossy(header.value.unwrap_or_default()).into_owned(),
                        );
                    }
                }
                let k = (m.topic().to_string(), m.partition());
                if remaining.get(&k).is_some_and(|high| m.offset() >= high - 1) {
                    remaining.remove(&k);
                }
                out.push(Consumed {
                    topic: m.topic().to_string(),
                    partition: m.partition(),
                    offset: m.offset(),
                    key: m.key().map(<[u8]>::to_vec),
                    payload: m.payload().map(<[u8]>::to_vec),
                    headers,
                });
            }
            Some(Err(e)) => panic!("reading outputs: {e}"),
            None => {
                // Transaction markers take offsets but are never delivered: a partition whose
                // position reached its high watermark is done too.
                if let Ok(positions) = consumer.position() {
                    for e in positions.elements() {
                        if let Offset::Offset(pos) = e.offset() {
                            let k = (e.topic().to_string(), e.partition());
                            if remaining.get(&k).is_some_and(|high| pos >= *high) {
                                remaining.remove(&k);
                            }
                        }
                    }
                }
            }
        }
    }
    keep_for_the_schema_check(&out);
    out
}

/// Output records and dead letters, for `scripts/validate-records.py` (see `produced`).
fn keep_for_the_schema_check(consumed: &[Consumed]) {
    let is_record = |m: &&Consumed| {
        m.payload.as_deref().is_some_and(|p| {
            p.starts_with(br#"{"type":"transition""#) || p.starts_with(br#"{"type":"action""#)
        })
    };
    produced::records(
        consumed
            .iter()
            .filter(is_record)
            .filter_map(|m| m.payload.as_deref()),
    );
    produced::dead_letter_headers(
        consumed
            .iter()
            .filter(|m| m.headers.contains_key("source_offset") && m.headers.contains_key("reason"))
            .map(|m| &m.headers),
    );
}

/// The committed offsets of `group` on `topic` sum to the topic's total high watermark.
pub fn group_caught_up(broker: &Broker, group: &str, topic: &str, partitions: u32) -> bool {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create()
        .expect("offset reader");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions as i32 {
        tpl.add_partition(topic, p);
    }
    let Ok(committed) = consumer.committed_offsets(tpl, Duration::from_secs(10)) else {
        return false;
    };
    (0..partitions as i32).all(|p| {
        let high = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .map(|(_, h)| h)
            .unwrap_or(i64::MAX);
        match committed.find_partition(topic, p).map(|e| e.offset()) {
            Some(Offset::Offset(o)) => o >= high,
            _ => high == 0,
        }
    })
}

/// Waits until `service` has committed every input offset of `group` (up to 5 minutes),
/// failing with its log if it dies.
pub fn wait_processed(
    broker: &Broker,
    service: &mut Service,
    group: &str,
    topics: &TestTopics,
    partitions: u32,
) {
    wait_for(
        "the service to commit every input offset",
        Duration::from_secs(300),
        || {
            assert!(
                service.is_running(),
                "service died:\n{}",
                service.log_text()
            );
            group_caught_up(broker, group, &topics.input, partitions)
        },
    );
}

/// Writes `lines` to a file (for replaying the same input).
pub fn write_lines(path: &Path, lines: &[String]) {
    let mut f = std::fs::File::create(path).expect("create input file");
    for l in lines {
        writeln!(f, "{l}").expect("write input file");
    }
}

pub mod compare;
#[path = "../produced/mod.rs"]
pub mod produced;

// ---------------------------------------------------------------------------------------
// Wall-clock, signal and metric helpers (tests/kafka_wall_clock.rs, kafka_shutdown.rs,
// kafka_static_membership.rs).
// ---------------------------------------------------------------------------------------

/// [`service_config`] with `kafka.clock` set to `clock` ("wall" or "event").
pub fn service_config_with_clock(
    broker: &Broker,
    topics: &TestTopics,
    group: &str,
    clock: &str,
    extra: &str,
) -> String {
    let config = service_config(broker, topics, group, extra);
    assert!(config.contains("clock = \"event\"\n"), "{config}");
    config.replace("clock = \"event\"\n", &format!("clock = \"{clock}\"\n"))
}

/// Seconds since the Unix epoch, from the system time (what the wall clock reads).
pub fn unix_now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the system time is after 1970")
        .as_secs() as i64
}

/// Milliseconds since the Unix epoch, from the system time.
pub fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("the system time is after 1970")
        .as_millis() as i64
}

/// `unix_secs` as RFC 3339 UTC text, `YYYY-MM-DDTHH:MM:SSZ`, by a calendar of the tests' own
/// (not the crate's formatter, whose output the tests check).
pub fn rfc3339_utc(unix_secs: i64) -> String {
    let days = unix_secs.div_euclid(86_400);
    let sod = unix_secs.rem_euclid(86_400);
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// The value of one sample of a Prometheus text exposition, `series` written as it appears
/// (`name` or `name{label="value",...}` with the labels in the exposition's order).
pub fn metric(exposition: &str, series: &str) -> Option<f64> {
    exposition.lines().find_map(|line| {
        let rest = line.strip_prefix(series)?;
        rest.strip_prefix(' ')?.trim().parse().ok()
    })
}

/// The sum of every sample of metric `name` (all label sets).
pub fn metric_sum(exposition: &str, name: &str) -> f64 {
    exposition
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let series_name = series.split('{').next()?;
            (series_name == name).then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

/// One record of an output topic with the timestamp Kafka stored for it.
#[derive(Clone, Debug)]
pub struct Timestamped {
    pub timestamp_ms: Option<i64>,
    pub value: serde_json::Value,
}

/// Every record of `topic` (JSON values) with its Kafka timestamp, up to the high watermarks.
pub fn read_timestamped(broker: &Broker, topic: &str) -> Vec<Timestamped> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", broker.bootstrap())
        .set("group.id", "test-timestamp-reader")
        .set("enable.auto.commit", "false")
        .set("fetch.wait.max.ms", "10")
        .create()
        .expect("test consumer");
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .expect("metadata");
    let mut tpl = TopicPartitionList::new();
    let mut remaining: BTreeMap<i32, i64> = BTreeMap::new();
    for t in md.topics() {
        for p in t.partitions() {
            let (low, high) = consumer
                .fetch_watermarks(topic, p.id(), Duration::from_secs(10))
                .expect("watermarks");
            if high > low {
                tpl.add_partition_offset(topic, p.id(), Offset::Beginning)
                    .expect("tpl");
                remaining.insert(p.id(), high);
            }
        }
    }
    let mut out = Vec::new();
    if remaining.is_empty() {
        return out;
    }
    consumer.assign(&tpl).expect("assign");
    let start = Instant::now();
    while !remaining.is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "reading {topic} timed out"
        );
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                if remaining
                    .get(&m.partition())
                    .is_some_and(|high| m.offset() >= high - 1)
                {
                    remaining.remove(&m.partition());
                }
                out.push(Timestamped {
                    timestamp_ms: m.timestamp().to_millis(),
                    value: serde_json::from_slice(m.payload().unwrap_or_default())
                        .expect("a JSON record"),
                });
            }
            Some(Err(e)) => panic!("reading {topic}: {e}"),
            None => {}
        }
    }
    out
}

impl Service {
    /// The process id (for signals).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends `signal` ("TERM", "INT", ...) with kill(1).
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([format!("-{signal}"), self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -{signal} {} failed", self.pid());
    }

    /// Waits up to `limit` for the process to exit: its status, or None if it still runs.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if start.elapsed() >= limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The body of GET /metrics (empty if it does not answer).
    pub fn metrics_text(&self) -> String {
        self.get("/metrics").map(|(_, b)| b).unwrap_or_default()
    }

    /// GET /readyz answers 200.
    pub fn is_ready(&self) -> bool {
        self.get("/readyz").is_some_and(|(s, _)| s == 200)
    }

    /// Waits up to `limit` until /readyz answers 200, failing with the log if it dies.
    pub fn wait_ready(&mut self, limit: Duration) {
        wait_for("the service to be ready", limit, || {
            assert!(self.is_running(), "service died:\n{}", self.log_text());
            self.is_ready()
        });
    }
}

/// An HTTP response: status, headers (names lower-cased), body.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {} {:?}", self.status, self.body))
    }
}

/// `method path` on 127.0.0.1:`port` (HTTP/1.1, one request per connection), or None when
/// nothing answers.
pub fn http_request(port: u16, method: &str, path: &str) -> Option<HttpResponse> {
    http_send(port, method, path, &[], b"")
}

/// `method path` with these headers and body; `None` if nothing answers.
pub fn http_send(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<HttpResponse> {
    use std::io::Read;
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    // A server may answer (413) before reading the whole body, and close.
    let _ = stream.write_all(body);
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(HttpResponse {
        status,
        headers,
        body: body.to_string(),
    })
}
