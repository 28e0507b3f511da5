//! Kafka benchmarks on the local broker, each figure next to its baseline measured in the
//! same run:
//! - end to end: the service (`at_least_once`, event clock) against a pass-through pipe
//!   (consume, produce the same bytes, the same client settings, broker and partitions);
//! - latency from produce to delivered record at half of the measured maximum rate;
//! - restore: rebuilding state of N customers from the changelog against a plain consumer
//!   reading the same changelog partitions.
//!
//! `cargo run --release --example bench_kafka -- [EVENTS_CUSTOMERS] [RESTORE_CUSTOMERS]`
//! (needs nisshi: scripts/broker.sh install). Prints one `figure:` line per result.

use std::collections::HashMap;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use lifecycle::config::{Config, KafkaConfig};
use lifecycle::domain::{Customer, Engine, Rules, Timestamp};
use lifecycle::generate::{GenerateOptions, generate};
use lifecycle::kafka::codec::{PARTITION_META_KEY, PartitionMeta, encode_customer, encode_meta};
use lifecycle::kafka::consumer_batches::ConsumerQueue;
use lifecycle::kafka::service::{Telemetry, run};
use lifecycle::kafka::{changelog, client};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Timestamp as MsgTime;
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

const PARTITIONS: i32 = 4;

mod queries;
mod webhooks;

struct Broker {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The allocator of the `lifecycle` binary, so the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Rounds of the end-to-end and restore comparisons. Each round times ours and its baseline
/// back to back; the figure is the round with the median ratio (the host's speed drifts, and
/// a ratio within one round is steadier than two bests taken at different moments).
const E2E_ROUNDS: usize = 7;
/// Query rounds: each is ~2 s of processing, and this host moves single ratios by +-0.2.
const QUERY_ROUNDS: usize = 11;
const RESTORE_ROUNDS: usize = 7;

/// The (ours, baseline) pair of seconds whose ratio is the median.
fn median_round(mut rounds: Vec<(f64, f64)>) -> (f64, f64) {
    rounds.sort_by(|a, b| (a.1 / a.0).total_cmp(&(b.1 / b.0)));
    rounds[rounds.len() / 2]
}

fn nisshi() -> String {
    std::env::var("NISSHI").unwrap_or_else(|_| {
        format!(
            "{}/.cargo/bin/nisshi",
            std::env::var("HOME").unwrap_or_default()
        )
    })
}

fn start_broker() -> Broker {
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let dir = tempfile::tempdir().expect("temp dir");
    let log = std::fs::File::create(dir.path().join("log")).expect("log");
    let url = format!("tcp://127.0.0.1:{port}");
    let child = Command::new(nisshi())
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .args([
            "--storage-engine",
            "memory://nisshi/",
            "--group-initial-rebalance-delay",
            "100ms",
        ])
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("nisshi (scripts/broker.sh install)");
    let start = Instant::now();
    while !std::fs::read_to_string(dir.path().join("log")).is_ok_and(|l| l.contains("ready in")) {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "broker not ready"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    Broker {
        child,
        port,
        _dir: dir,
    }
}

fn create_topic(b: &Broker, name: &str, compact: bool) {
    let mut cmd = Command::new(nisshi());
    cmd.args([
        "topic",
        "create",
        "--broker",
        &format!("tcp://127.0.0.1:{}", b.port),
    ])
    .args(["--partitions", &PARTITIONS.to_string()]);
    if compact {
        cmd.args(["--config", "cleanup.policy=compact"]);
    }
    let ok = cmd
        .arg(name)
        .stdout(Stdio::null())
        .status()
        .expect("topic create");
    assert!(ok.success(), "create {name}");
}

/// The default configuration on the bench's broker and topics. `BENCH_KAFKA_EXTRA` adds keys
/// to its `[kafka]` table, to compare settings (e.g. `commit_interval_ms = 100`).
fn config(b: &Broker, prefix: &str) -> Config {
    let text = format!(
        r#"[kafka]
brokers = "127.0.0.1:{}"
group_id = "{prefix}-group"
clock = "event"
{}
[kafka.topics]
input = "{prefix}.in"
transitions = "{prefix}.transitions"
care = "{prefix}.care"
retention = "{prefix}.retention"
marketing = "{prefix}.marketing"
state = "{prefix}.state"
dead_letters = "{prefix}.dlq"
members = "{prefix}.members"
"#,
        b.port,
        std::env::var("BENCH_KAFKA_EXTRA").unwrap_or_default()
    );
    Config::from_toml_str(&text, "bench").expect("bench config")
}

fn create_topics(b: &Broker, k: &KafkaConfig) {
    let t = &k.topics;
    for name in [
        &t.input,
        &t.transitions,
        &t.care,
        &t.retention,
        &t.marketing,
        &t.dead_letters,
    ] {
        create_topic(b, name, false);
    }
    create_topic(b, &t.state, true);
    create_topic(b, &t.members, true);
}

fn events(customers: u64) -> Vec<u8> {
    let now = Timestamp::now();
    let opts =
        GenerateOptions::new(customers, 1, "2024-01-01", "2025-12-31", now).expect("options");
    let mut out = Vec::new();
    generate(&opts, &mut out).expect("generate");
    out
}

fn produce_input(k: &KafkaConfig, data: &[u8]) -> u64 {
    let (lines, secs) =
        lifecycle::kafka::produce::produce(k, &mut &data[..]).expect("produce input");
    println!("input: {lines} events produced in {secs:.2} s");
    lines
}

/// Reads a group's committed input offsets (their sum). One client, reused: the latency run
/// checks it every 20 ms, and making a client per check cost CPU the service needed.
struct CommitWatch {
    consumer: BaseConsumer,
    topic: String,
}

impl CommitWatch {
    fn new(bootstrap: &str, group: &str, topic: &str) -> CommitWatch {
        let consumer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", group)
            .create()
            .expect("offset reader");
        CommitWatch {
            consumer,
            topic: topic.to_owned(),
        }
    }

    fn total(&self) -> i64 {
        let mut tpl = TopicPartitionList::new();
        for p in 0..PARTITIONS {
            tpl.add_partition(&self.topic, p);
        }
        let Ok(committed) = self
            .consumer
            .committed_offsets(tpl, Duration::from_secs(10))
        else {
            return 0;
        };
        committed
            .elements()
            .iter()
            .map(|e| match e.offset() {
                Offset::Offset(o) => o,
                _ => 0,
            })
            .sum()
    }
}

/// Consume the input, produce the same bytes to one output topic, commit like the service
/// (flush, then commit the offsets, every `commit_interval_ms`).
fn pipe(k: &KafkaConfig, total: u64) -> f64 {
    let consumer: BaseConsumer = client::consumer(k)
        .expect("consumer config")
        .set("group.id", format!("{}-pipe", k.group_id))
        .create()
        .expect("pipe consumer");
    let producer: ThreadedProducer<_> = client::producer(k)
        .expect("producer config")
        .create_with_context(lifecycle::kafka::sink::DeliveryContext::default())
        .expect("pipe producer");
    let started = Instant::now();
    consumer.subscribe(&[&k.topics.input]).expect("subscribe");
    let mut done = 0u64;
    let mut offsets: HashMap<i32, i64> = HashMap::new();
    let mut last_commit = Instant::now();
    while done < total {
        let Some(Ok(m)) = consumer.poll(Duration::from_millis(20)) else {
            continue;
        };
        let mut rec: BaseRecord<[u8], [u8], usize> =
            BaseRecord::with_opaque_to(&k.topics.transitions, 0)
                .payload(m.payload().unwrap_or_default());
        if let Some(key) = m.key() {
            rec = rec.key(key);
        }
        while let Err((_, back)) = producer.send(rec) {
            rec = back;
            std::thread::sleep(Duration::from_millis(1));
        }
        offsets.insert(m.partition(), m.offset() + 1);
        done += 1;
        if last_commit.elapsed() >= Duration::from_millis(k.commit_interval_ms) || done == total {
            producer.flush(Duration::from_secs(30)).expect("flush");
            let mut tpl = TopicPartitionList::new();
            for (p, o) in &offsets {
                tpl.add_partition_offset(&k.topics.input, *p, Offset::Offset(*o))
                    .expect("tpl");
            }
            consumer
                .commit(&tpl, rdkafka::consumer::CommitMode::Sync)
                .expect("commit");
            last_commit = Instant::now();
        }
    }
    started.elapsed().as_secs_f64()
}

/// Runs the service until it has committed `total` input events; returns seconds from its
/// start (joining the group included, as for the pipe) to done. Done is read in this process
/// from the service's metrics (the events of its committed batches, counted once their offset
/// commit has returned), as the pipe knows its own commit has returned: asking the broker for
/// the group's offsets every 20 ms lagged by 10-30 ms and loaded the broker during the run.
fn service(config: &Config, total: u64) -> f64 {
    let k = &config.kafka;
    let telemetry = Telemetry::new(Duration::from_secs(600));
    let committed = telemetry.metrics.batch_events.clone();
    let started = Instant::now();
    let shutdown = Arc::new(AtomicBool::new(false));
    let flag = shutdown.clone();
    let cfg = config.clone();
    let handle = std::thread::spawn(move || {
        let (_asker, inbox) = lifecycle::kafka::queries::channel();
        run(&cfg, &flag, &telemetry, &inbox).expect("service run")
    });
    while (committed.get_sample_sum() as u64) < total {
        assert!(!handle.is_finished(), "the service stopped early");
        std::thread::sleep(Duration::from_millis(1));
    }
    let secs = started.elapsed().as_secs_f64();
    // The broker agrees, before the service stops (its shutdown commits too): the group's
    // committed offsets already cover the input.
    let watch = CommitWatch::new(&k.brokers, &k.group_id, &k.topics.input);
    assert_eq!(watch.total() as u64, total, "committed input offsets");
    shutdown.store(true, Ordering::Relaxed);
    let report = handle.join().expect("service thread");
    let changelog: i64 = (0..PARTITIONS)
        .filter_map(|p| {
            let marks =
                watch
                    .consumer
                    .fetch_watermarks(&k.topics.state, p, Duration::from_secs(10));
            marks.ok().map(|(low, high)| high - low)
        })
        .sum();
    println!("service report: {report:?}, changelog records {changelog}");
    secs
}

/// The first ten seconds of input at `rate`.
fn latency_sample(data: &[u8], rate: f64) -> Vec<u8> {
    data.split(|c| *c == b'\n')
        .take((rate * 10.0) as usize)
        .flat_map(|l| l.iter().copied().chain([b'\n']))
        .collect()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

/// Produces `lines` at `rate` events/s while the service runs; latency of each record is its
/// output timestamp minus its cause's input timestamp.
fn latency(b: &Broker, data: &[u8], rate: f64) -> (f64, f64, usize) {
    let config = config(b, "lat");
    let k = config.kafka.clone();
    create_topics(b, &k);
    let shutdown = Arc::new(AtomicBool::new(false));
    let flag = shutdown.clone();
    let cfg = config.clone();
    let telemetry = Telemetry::new(Duration::from_secs(600));
    let health = telemetry.health.clone();
    let handle = std::thread::spawn(move || {
        let (_asker, inbox) = lifecycle::kafka::queries::channel();
        run(&cfg, &flag, &telemetry, &inbox).expect("service run")
    });
    // Steady state, not startup: input starts once the service has its partitions restored
    // (as /readyz reports it).
    let waited = Instant::now();
    while !health.ready() {
        assert!(
            waited.elapsed() < Duration::from_secs(60),
            "service not ready"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let producer: ThreadedProducer<_> = client::producer(&k)
        .expect("producer config")
        .set("linger.ms", "1")
        .create_with_context(lifecycle::kafka::sink::DeliveryContext::default())
        .expect("producer");
    // A new idempotent producer holds its first records until it has connected and has its
    // producer id (about a second here), with their timestamps already taken: one record to
    // a scratch topic first, so the figures measure the service, not that.
    let warmup = format!("{}.warmup", k.topics.input);
    create_topic(b, &warmup, false);
    producer
        .send(BaseRecord::<[u8], [u8], usize>::with_opaque_to(&warmup, 0).payload(&b"warm-up"[..]))
        .map_err(|(e, _)| e)
        .expect("warm-up record");
    producer
        .flush(Duration::from_secs(30))
        .expect("warm-up flush");
    let lines: Vec<&[u8]> = data
        .split(|c| *c == b'\n')
        .filter(|l| !l.is_empty())
        .collect();
    // Keys first: parsing each line while producing took CPU from the service on 2 cores.
    let keys: Vec<String> = lines
        .iter()
        .map(|line| {
            serde_json::from_slice::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v["customer_id"].as_str().map(str::to_owned))
                .unwrap_or_default()
        })
        .collect();
    let start = Instant::now();
    for (i, (line, key)) in lines.iter().zip(&keys).enumerate() {
        let due = Duration::from_secs_f64(i as f64 / rate);
        if let Some(wait) = due.checked_sub(start.elapsed()) {
            std::thread::sleep(wait);
        }
        let mut rec: BaseRecord<str, [u8], usize> = BaseRecord::with_opaque_to(&k.topics.input, 0)
            .key(key.as_str())
            .payload(*line);
        while let Err((_, back)) = producer.send(rec) {
            rec = back;
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    let watch = CommitWatch::new(&k.brokers, &k.group_id, &k.topics.input);
    while (watch.total() as usize) < lines.len() {
        std::thread::sleep(Duration::from_millis(20));
    }
    shutdown.store(true, Ordering::Relaxed);
    handle.join().expect("service thread");
    let read = |topics: &[&str]| read_timestamps(&k.brokers, topics);
    let inputs: HashMap<String, i64> = read(&[&k.topics.input])
        .into_iter()
        .filter_map(|(payload, ts)| {
            let v: serde_json::Value = serde_json::from_slice(&payload).ok()?;
            Some((v["event_id"].as_str()?.to_owned(), ts))
        })
        .collect();
    let mut lat: Vec<f64> = read(&[
        &k.topics.transitions,
        &k.topics.care,
        &k.topics.retention,
        &k.topics.marketing,
    ])
    .into_iter()
    .filter_map(|(payload, ts)| {
        let v: serde_json::Value = serde_json::from_slice(&payload).ok()?;
        let cause = v["event_id"].as_str().or(v["cause_event_id"].as_str())?;
        Some((ts - inputs.get(cause)?) as f64)
    })
    .collect();
    lat.sort_by(f64::total_cmp);
    (percentile(&lat, 0.5), percentile(&lat, 0.99), lat.len())
}

fn read_timestamps(bootstrap: &str, topics: &[&str]) -> Vec<(Vec<u8>, i64)> {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", "bench-reader")
        .set("fetch.wait.max.ms", "10")
        .set("enable.partition.eof", "true")
        .create()
        .expect("reader");
    let mut tpl = TopicPartitionList::new();
    let mut open = 0;
    for t in topics {
        for p in 0..PARTITIONS {
            let (lo, hi) = c
                .fetch_watermarks(t, p, Duration::from_secs(10))
                .expect("marks");
            if hi > lo {
                tpl.add_partition_offset(t, p, Offset::Beginning)
                    .expect("tpl");
                open += 1;
            }
        }
    }
    c.assign(&tpl).expect("assign");
    let mut out = Vec::new();
    while open > 0 {
        match c.poll(Duration::from_secs(5)) {
            Some(Ok(m)) => {
                if let MsgTime::CreateTime(ts) | MsgTime::LogAppendTime(ts) = m.timestamp() {
                    out.push((m.payload().unwrap_or_default().to_vec(), ts));
                }
            }
            Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => open -= 1,
            Some(Err(e)) => panic!("{e}"),
            None => break,
        }
    }
    out
}

/// Writes `customers` customer states (and partition records) to a changelog topic, then
/// times our restore of every partition against a plain consumer of the same partitions.
fn restore(b: &Broker, customers: u64) -> (f64, f64, f64) {
    let config = config(b, "restore");
    let k = config.kafka.clone();
    create_topic(b, &k.topics.state, true);
    let producer: ThreadedProducer<_> = client::producer(&k)
        .expect("producer config")
        .set("linger.ms", "20")
        .create_with_context(lifecycle::kafka::sink::DeliveryContext::default())
        .expect("producer");
    let at = Timestamp::parse_rfc3339("2025-01-01T00:00:00Z").expect("time");
    for i in 0..customers {
        let id = format!("c-{i:08}");
        let mut c = Customer::new(&id, at);
        c.purchase_count = 3;
        c.recent.push(i);
        let p = (i % PARTITIONS as u64) as i32;
        let payload = encode_customer(&c);
        let mut rec = BaseRecord::with_opaque_to(&k.topics.state, 0)
            .key(id.as_bytes())
            .payload(&payload)
            .partition(p);
        while let Err((_, back)) = producer.send(rec) {
            rec = back;
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    for p in 0..PARTITIONS {
        let meta = encode_meta(&PartitionMeta {
            clock: Some(at),
            applied_offset: Some(0),
            epoch: 0,
            voc: None,
        });
        let mut rec = BaseRecord::with_opaque_to(&k.topics.state, 0)
            .key(PARTITION_META_KEY)
            .payload(&meta)
            .partition(p);
        while let Err((_, back)) = producer.send(rec) {
            rec = back;
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    producer.flush(Duration::from_secs(120)).expect("flush");

    let restorer = client::restorer(&k).expect("restorer config");
    // Rounds of ours then the plain consumer (the first read of a partition is not favoured
    // or penalised against the second); the round with the median ratio. A third reader
    // reads like ours, many records per librdkafka call, and does nothing with them: the
    // fastest plain consumer, reported beside the target's baseline.
    let mut rounds = Vec::new();
    let mut batched_ratios = Vec::new();
    for _ in 0..RESTORE_ROUNDS {
        let cpu = || (cpu_seconds(std::process::id()), cpu_seconds(b.child.id()));
        let (ours0, broker0) = cpu();
        let ours = restore_all(&restorer, &k.topics.state, customers);
        let (ours1, broker1) = cpu();
        let plain = read_all(&restorer, &k.topics.state, customers, Reading::Poll);
        let (ours2, broker2) = cpu();
        let batched = read_all(&restorer, &k.topics.state, customers, Reading::Batches);
        let (ours3, broker3) = cpu();
        println!(
            "restore round: ours {ours:.2} s, plain {plain:.2} s, ratio {:.2}; CPU s (this process, broker): ours {:.2}, {:.2}; plain {:.2}, {:.2}; batched plain {batched:.2} s, ratio {:.2}, CPU {:.2}, {:.2}",
            plain / ours,
            ours1 - ours0,
            broker1 - broker0,
            ours2 - ours1,
            broker2 - broker1,
            batched / ours,
            ours3 - ours2,
            broker3 - broker2
        );
        rounds.push((ours, plain));
        batched_ratios.push(batched / ours);
    }
    let (ours, plain) = median_round(rounds);
    batched_ratios.sort_by(f64::total_cmp);
    (ours, plain, batched_ratios[batched_ratios.len() / 2])
}

/// CPU seconds (user + system) a process has used so far, from /proc (Linux).
fn cpu_seconds(pid: u32) -> f64 {
    stat_cpu_seconds(&format!("/proc/{pid}/stat"))
}

/// CPU seconds (user + system) in a `/proc/.../stat` file of a process or thread; 0 when it
/// cannot be read.
fn stat_cpu_seconds(path: &str) -> f64 {
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map_or("", |(_, rest)| rest)
        .split_whitespace()
        .collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Our restore of every partition; seconds. The engines are kept until the end, as the
/// service keeps them: each partition's state takes fresh memory, none reuses another's.
fn restore_all(restorer: &rdkafka::ClientConfig, topic: &str, customers: u64) -> f64 {
    let start = Instant::now();
    let mut engines = Vec::new();
    for p in 0..PARTITIONS {
        let mut engine = Engine::new(Rules::default());
        changelog::restore(
            restorer,
            topic,
            p,
            &mut engine,
            Duration::from_secs(60),
            &mut || {},
        )
        .expect("restore");
        engines.push(engine);
    }
    let elapsed = start.elapsed().as_secs_f64();
    let restored: usize = engines.iter().map(Engine::customer_count).sum();
    assert_eq!(restored as u64, customers);
    elapsed
}

/// How a plain consumer reads: rdkafka's `poll`, a record per call, or like our restore,
/// up to a batch of records per librdkafka call.
#[derive(Clone, Copy)]
enum Reading {
    Poll,
    Batches,
}

/// A plain consumer reading every partition to its end; seconds. As with our restore, the
/// consumers are closed after the clock stops (our restore closes its own in the background).
fn read_all(
    restorer: &rdkafka::ClientConfig,
    topic: &str,
    customers: u64,
    reading: Reading,
) -> f64 {
    let start = Instant::now();
    let mut read = 0u64;
    let mut consumers = Vec::new();
    for p in 0..PARTITIONS {
        let c: BaseConsumer = restorer.create().expect("plain consumer");
        let (_, high) = c
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .expect("marks");
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .expect("tpl");
        c.assign(&tpl).expect("assign");
        match reading {
            Reading::Poll => loop {
                match c.poll(Duration::from_millis(100)) {
                    Some(Ok(m)) => {
                        read += 1;
                        if m.offset() >= high - 1 {
                            break;
                        }
                    }
                    Some(Err(rdkafka::error::KafkaError::PartitionEOF(_))) => break,
                    _ => {}
                }
            },
            Reading::Batches => {
                let mut queue = ConsumerQueue::new(&c, 1024).expect("consumer queue");
                let mut messages = Vec::with_capacity(1024);
                'reading: loop {
                    messages.clear();
                    queue.consume(Duration::from_millis(100), &mut messages);
                    for m in &messages {
                        match m.result() {
                            Ok(()) => read += 1,
                            Err(rdkafka::error::KafkaError::PartitionEOF(_)) => break 'reading,
                            Err(_) => continue,
                        }
                        if m.offset() >= high - 1 {
                            break 'reading;
                        }
                    }
                }
            }
        }
        consumers.push(c);
    }
    let elapsed = start.elapsed().as_secs_f64();
    assert!(read >= customers);
    drop(consumers);
    elapsed
}

/// Rounds of processing with and without 1,000 customer queries/s (alternating which goes
/// first), each on a fresh broker; prints the latencies and the rate ratio of the median round.
fn query_rounds(broker: Broker, data: &[u8]) {
    let ids: Vec<String> = data
        .split(|c| *c == b'\n')
        .filter_map(|l| serde_json::from_slice::<serde_json::Value>(l).ok())
        .filter_map(|v| v["customer_id"].as_str().map(str::to_owned))
        .step_by(7)
        .take(5000)
        .collect();
    let mut broker = broker;
    let (mut timed, mut latencies, mut statuses) = (Vec::new(), Vec::new(), Vec::new());
    let (mut cpu_per_query, mut http_per_query, mut asker_per_query, mut loop_per_query) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..QUERY_ROUNDS {
        if round > 0 {
            drop(broker);
            broker = start_broker();
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let run = |name: &str, rate: f64| {
            let mut cfg = config(&broker, &format!("{name}{round}"));
            cfg.http.address = format!("127.0.0.1:{port}");
            create_topics(&broker, &cfg.kafka);
            let total = produce_input(&cfg.kafka, data);
            let cpu = || cpu_seconds(std::process::id()) + cpu_seconds(broker.child.id());
            let before = cpu();
            let r = queries::round(&cfg, total, &ids, rate);
            (r, cpu() - before)
        };
        let (quiet, asked) = if round % 2 == 0 {
            let q = run("quiet", 0.0);
            (q, run("asked", 1000.0))
        } else {
            let a = run("asked", 1000.0);
            (run("quiet", 0.0), a)
        };
        let ((quiet, quiet_cpu), (asked, asked_cpu)) = (quiet, asked);
        let n = asked.latencies.len().max(1) as f64;
        let per_query = (asked_cpu - quiet_cpu) / n;
        // The processing: from readiness (group joined, partitions restored), when the
        // queries start, until the input is committed.
        let (quiet_secs, asked_secs) =
            (quiet.secs - quiet.ready_secs, asked.secs - asked.ready_secs);
        let loop_more = (asked.loop_cpu - quiet.loop_cpu) / n;
        println!(
            "queries round {round}: processing without {quiet_secs:.2} s, with {asked_secs:.2} s, ratio {:.2} (ready after {:.2} s and {:.2} s); {} queries; CPU s (this process and the broker): without {quiet_cpu:.2}, with {asked_cpu:.2}, {:.0} us more per query; HTTP threads {:.0} us, the loop {:.0} us more, asking client {:.0} us",
            quiet_secs / asked_secs,
            quiet.ready_secs,
            asked.ready_secs,
            asked.latencies.len(),
            per_query * 1e6,
            asked.http_cpu / n * 1e6,
            loop_more * 1e6,
            asked.asker_cpu / n * 1e6,
        );
        cpu_per_query.push(per_query);
        http_per_query.push(asked.http_cpu / n);
        asker_per_query.push(asked.asker_cpu / n);
        loop_per_query.push(loop_more);
        timed.push((asked_secs, quiet_secs));
        latencies.extend(asked.latencies);
        statuses.extend(asked.statuses);
    }
    let (with, without) = median_round(timed);
    latencies.sort_by(f64::total_cmp);
    for v in [
        &mut cpu_per_query,
        &mut http_per_query,
        &mut asker_per_query,
        &mut loop_per_query,
    ] {
        v.sort_by(f64::total_cmp);
    }
    println!(
        "queries: CPU per query, medians over the rounds: {:.0} us in all (this process and the broker, with less without), of which the HTTP threads {:.0} us, the processing loop {:.0} us more and the asking client {:.0} us",
        percentile(&cpu_per_query, 0.5) * 1e6,
        percentile(&http_per_query, 0.5) * 1e6,
        percentile(&loop_per_query, 0.5) * 1e6,
        percentile(&asker_per_query, 0.5) * 1e6
    );
    println!(
        "queries: latency p90 {:.2} ms, p99.9 {:.2} ms",
        percentile(&latencies, 0.9),
        percentile(&latencies, 0.999)
    );
    let ok = statuses.iter().filter(|s| **s == 200).count();
    println!(
        "figure: queries at 1000/s: p50 {:.2} ms, p99 {:.2} ms over {} queries ({} answered 200); processing with them at {:.2} of its rate without",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        latencies.len(),
        ok,
        without / with
    );
}

/// Webhook ingestion rounds (issue 23): each round posts the batches through the webhook
/// server, then produces the same events straight; the round with the median ratio counts.
fn webhook_rounds(broker: &Broker, batches: usize) {
    let mut config = config(broker, "wh");
    create_topic(broker, &config.kafka.topics.input, false);
    config.webhooks.address = "127.0.0.1:0".into();
    config.webhooks.segment.shared_secret = "bench-secret".into();
    config
        .webhooks
        .segment
        .events
        .insert("Order Completed".into(), "purchase".into());
    let bodies = webhooks::bodies(batches, "bench-secret");
    let mut rounds = Vec::new();
    for round in 0..5 {
        let (hook_s, mut hook_ms) = webhooks::through_webhooks(&config, &bodies);
        let (plain_s, mut plain_ms) = webhooks::straight(&config, &bodies);
        let events = (batches * webhooks::BATCH) as f64;
        println!(
            "webhooks round {round}: webhooks {:.0} requests/s ({:.0} events/s), p50 {:.1} ms, p99 {:.1} ms; plain produce {:.0} batches/s ({:.0} events/s), p50 {:.1} ms, p99 {:.1} ms; ratio {:.2}",
            batches as f64 / hook_s,
            events / hook_s,
            webhooks::quantile(&mut hook_ms, 0.5),
            webhooks::quantile(&mut hook_ms, 0.99),
            batches as f64 / plain_s,
            events / plain_s,
            webhooks::quantile(&mut plain_ms, 0.5),
            webhooks::quantile(&mut plain_ms, 0.99),
            plain_s / hook_s
        );
        rounds.push((
            hook_s,
            plain_s,
            webhooks::quantile(&mut hook_ms, 0.99),
            webhooks::quantile(&mut plain_ms, 0.99),
        ));
    }
    rounds.sort_by(|a, b| (a.1 / a.0).total_cmp(&(b.1 / b.0)));
    let (hook_s, plain_s, hook_p99, plain_p99) = rounds[rounds.len() / 2];
    println!(
        "figure: webhooks {:.0} requests/s of {} events, p99 {hook_p99:.1} ms; plain produce {:.0} batches/s, p99 {plain_p99:.1} ms; ratio {:.2}",
        batches as f64 / hook_s,
        webhooks::BATCH,
        batches as f64 / plain_s,
        plain_s / hook_s
    );
}

fn main() {
    // As the binary does: its allocator settings are part of what is measured.
    lifecycle::memory::no_transparent_huge_pages();
    // BENCH_LOG=<filter> shows the service's logs (e.g. "info" to time its start-up).
    if let Ok(filter) = std::env::var("BENCH_LOG") {
        tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_writer(std::io::stderr)
            .init();
    }
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let customers = args.first().copied().unwrap_or(19_000);
    let restore_customers = args.get(1).copied().unwrap_or(1_000_000);
    let broker = start_broker();
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "restore") {
        let (ours, plain, batched) = restore(&broker, restore_customers);
        println!(
            "figure: restore {ours:.2} s, plain consumer {plain:.2} s; against the batched plain consumer {batched:.2}"
        );
        return;
    }
    // BENCH_ONLY=webhooks: webhook ingestion against a plain produce of the same events.
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "webhooks") {
        webhook_rounds(&broker, args.get(2).copied().unwrap_or(400) as usize);
        return;
    }
    let data = events(customers);

    // BENCH_ONLY=queries: customer queries at 1,000/s during processing, against none.
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "queries") {
        query_rounds(broker, &data);
        return;
    }

    // BENCH_ONLY=latency measures the latency alone, at the rate given as a third argument.
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "latency") {
        let rate = args.get(2).copied().unwrap_or(50_000) as f64;
        let (p50, p99, n) = latency(&broker, &latency_sample(&data, rate), rate);
        println!(
            "figure: latency at {rate:.0} events/s over {n} records: p50 {p50:.0} ms, p99 {p99:.0} ms"
        );
        return;
    }
    // BENCH_ONLY=service measures the service alone (for profiling).
    let only_service = std::env::var("BENCH_ONLY").is_ok_and(|v| v == "service");
    // Rounds of the pipe and the service, each round on a fresh broker (the memory storage
    // keeps every round's records, and a broker holding a few GB was slower: the later of
    // seven rounds on one broker had ratios ~0.1 lower) and on its own topics and groups; the
    // pipe goes first in even rounds, the service in odd ones. The round with the median ratio
    // is the figure.
    let rounds = if only_service { 1 } else { E2E_ROUNDS };
    let mut timed = Vec::new();
    let mut total = 0;
    let mut broker = broker;
    for round in 0..rounds {
        if round > 0 {
            drop(broker);
            broker = start_broker();
        }
        let svc = config(&broker, &format!("svc{round}"));
        create_topics(&broker, &svc.kafka);
        total = produce_input(&svc.kafka, &data);
        let pipe_cfg = config(&broker, &format!("pipe{round}"));
        if !only_service {
            create_topics(&broker, &pipe_cfg.kafka);
            produce_input(&pipe_cfg.kafka, &data);
        }
        let cpu = || {
            (
                cpu_seconds(std::process::id()),
                cpu_seconds(broker.child.id()),
            )
        };
        // (seconds, CPU s of this process, CPU s of the broker)
        let timed_pipe = || {
            let (ours0, broker0) = cpu();
            let secs = if only_service {
                1.0
            } else {
                pipe(&pipe_cfg.kafka, total)
            };
            let (ours1, broker1) = cpu();
            (secs, ours1 - ours0, broker1 - broker0)
        };
        let timed_service = || {
            let (ours0, broker0) = cpu();
            let secs = service(&svc, total);
            let (ours1, broker1) = cpu();
            (secs, ours1 - ours0, broker1 - broker0)
        };
        let (pipe_run, svc_run) = if round % 2 == 0 {
            let p = timed_pipe();
            (p, timed_service())
        } else {
            let s = timed_service();
            (timed_pipe(), s)
        };
        let (pipe_secs, svc_secs) = (pipe_run.0, svc_run.0);
        println!(
            "round {round}: pipe {pipe_secs:.2} s, service {svc_secs:.2} s, ratio {:.2}; CPU s (this process, broker): pipe {:.2}, {:.2}; service {:.2}, {:.2}",
            pipe_secs / svc_secs,
            pipe_run.1,
            pipe_run.2,
            svc_run.1,
            svc_run.2,
        );
        timed.push((svc_secs, pipe_secs));
    }
    let (svc_secs, pipe_secs) = median_round(timed);
    if only_service {
        println!("figure: service {total} events in {svc_secs:.2} s");
        return;
    }
    let pipe_rate = total as f64 / pipe_secs;
    let svc_rate = total as f64 / svc_secs;
    println!("figure: pipe {total} events in {pipe_secs:.2} s = {pipe_rate:.0} events/s");
    println!("figure: service {total} events in {svc_secs:.2} s = {svc_rate:.0} events/s");
    println!("figure: service/pipe ratio {:.2}", svc_rate / pipe_rate);
    // BENCH_ONLY=e2e stops after the end-to-end rounds.
    if std::env::var("BENCH_ONLY").is_ok_and(|v| v == "e2e") {
        return;
    }

    let half = svc_rate / 2.0;
    // On a fresh broker: the rounds above leave a few GB in the broker's memory storage,
    // which slowed it (one run: p50 612 ms on it, 100 ms on a fresh one).
    drop(broker);
    let broker = start_broker();
    let (p50, p99, n) = latency(&broker, &latency_sample(&data, half), half);
    println!(
        "figure: latency at {half:.0} events/s over {n} records: p50 {p50:.0} ms, p99 {p99:.0} ms"
    );

    let (ours, plain, batched) = restore(&broker, restore_customers);
    println!(
        "figure: restore {restore_customers} customers in {ours:.2} s = {:.0} customers/s; plain consumer {plain:.2} s = {:.0} records/s; ratio {:.2}; against the batched plain consumer {batched:.2}",
        restore_customers as f64 / ours,
        restore_customers as f64 / plain,
        plain / ours
    );
}
