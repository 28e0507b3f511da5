//! `lifecycle run`: the consume-process-produce loop and its startup and shutdown.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Message};
use rdkafka::producer::Producer;

use super::backoff::{Backoff, wait_unless_stopped};
use super::client;
use super::idle_wait::IdleWait;
use super::processor::{ProcessError, Processor, Settings, Stats};
use super::queries::QueryInbox;
use super::sink::{DeliveryContext, KafkaProducer, Sink};
use crate::config::{Config, Guarantee};
use crate::domain::Timestamp;
use crate::health::Health;
use crate::metrics::Metrics;
use rdkafka::statistics::Statistics;

/// Shared between the loop and the rebalance callbacks (which run inside `poll`, on the
/// loop's thread, while the loop does not hold the lock).
pub type SharedProcessor = Arc<Mutex<Processor>>;

fn lock(p: &SharedProcessor) -> MutexGuard<'_, Processor> {
    p.lock().unwrap_or_else(|e| e.into_inner())
}

/// The metrics registry and health state the service reports to (and the HTTP endpoints
/// read).
#[derive(Debug, Clone)]
pub struct Telemetry {
    pub metrics: Metrics,
    pub health: Arc<Health>,
}

impl Telemetry {
    pub fn new(stuck_after: Duration) -> Telemetry {
        Telemetry {
            metrics: Metrics::new(),
            health: Arc::new(Health::new(stuck_after)),
        }
    }
}

/// The consumer's context: hands rebalances to the processor, statistics to the metrics.
#[derive(Debug)]
pub struct RebalanceContext {
    processor: SharedProcessor,
    metrics: Metrics,
    input: String,
    /// Input partitions revoked (or rewound to their last commit) since the polling loop last
    /// looked (it drops the messages of those partitions it holds but has not handled yet).
    revoked: Mutex<Vec<i32>>,
    /// Set with `revoked`, so that the polling loop looks at it only then (a lock per
    /// message showed in its profile).
    any_revoked: AtomicBool,
}

impl ClientContext for RebalanceContext {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "consumer client error");
    }

    /// Consumer lag per assigned input partition, from librdkafka's statistics.
    fn stats(&self, statistics: Statistics) {
        let Some(topic) = statistics.topics.get(&self.input) else {
            return;
        };
        for (id, p) in &topic.partitions {
            if *id >= 0 && p.consumer_lag >= 0 {
                self.metrics
                    .consumer_lag
                    .with_label_values(&[&id.to_string()])
                    .set(p.consumer_lag);
            }
        }
    }
}

impl ConsumerContext for RebalanceContext {
    fn pre_rebalance(&self, consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        if let Rebalance::Revoke(tpl) = rebalance {
            let rewound = lock(&self.processor).on_revoke(consumer, tpl);
            let mut revoked = self.revoked.lock().unwrap_or_else(|e| e.into_inner());
            revoked.extend(
                tpl.elements_for_topic(&self.input)
                    .iter()
                    .map(|e| e.partition())
                    .chain(rewound),
            );
            self.any_revoked.store(true, Ordering::Release);
        }
    }

    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        match rebalance {
            Rebalance::Assign(tpl) => lock(&self.processor).on_assign(tpl),
            Rebalance::Revoke(_) => {}
            Rebalance::Error(e) => tracing::warn!(error = %e, "rebalance error"),
        }
    }
}

/// Checks the topics exist and the changelog has a partition for every input partition.
/// Returns the input's partition count.
fn check_topics(consumer: &BaseConsumer<RebalanceContext>, config: &Config) -> Result<usize> {
    let k = &config.kafka;
    let timeout = Duration::from_millis(k.operation_timeout_ms);
    let partitions = |topic: &str| -> Result<usize> {
        let md = consumer
            .fetch_metadata(Some(topic), timeout)
            .with_context(|| format!("cannot read metadata of topic {topic} from {}", k.brokers))?;
        let t = md
            .topics()
            .iter()
            .find(|t| t.name() == topic)
            .filter(|t| t.error().is_none() && !t.partitions().is_empty());
        match t {
            Some(t) => Ok(t.partitions().len()),
            None => {
                bail!("topic {topic} does not exist (create it: see scripts/broker.sh or deploy/)")
            }
        }
    };
    let input = partitions(&k.topics.input)?;
    let state = partitions(&k.topics.state)?;
    if state < input {
        bail!(
            "the changelog {} has {state} partitions but the input {} has {input}: it needs at least as many",
            k.topics.state,
            k.topics.input
        );
    }
    for topic in [
        &k.topics.transitions,
        &k.topics.care,
        &k.topics.retention,
        &k.topics.marketing,
        &k.topics.dead_letters,
        &k.topics.members,
    ] {
        partitions(topic)?;
    }
    // Held-out actions exist only with holdouts on: a deployment without them needs no topic.
    if config.holdout.percent > 0.0 {
        partitions(&k.topics.holdout)?;
    }
    Ok(input)
}

fn make_producer(config: &Config) -> Result<KafkaProducer> {
    let k = &config.kafka;
    let producer: KafkaProducer = client::producer(k)?
        .create_with_context(DeliveryContext::default())
        .map_err(client::creation_error)
        .context("cannot create the Kafka producer")?;
    if k.guarantee == Guarantee::ExactlyOnce {
        producer
            .init_transactions(Duration::from_millis(k.operation_timeout_ms))
            .map_err(|e| {
                anyhow::anyhow!(
                    "kafka.guarantee = \"exactly_once\" needs a broker with transactions, and \
                     initializing them failed: {e}. Use kafka.guarantee = \"at_least_once\" with \
                     a broker without transactions."
                )
            })?;
    }
    Ok(producer)
}

/// Messages handled together, at most (see [`poll_some`]).
const POLL_BATCH: usize = 256;

/// How long an idle loop waits for a message before it looks at the clock (wall-clock timers,
/// the commit interval) again. A query or a message ends the wait early ([`IdleWait`]).
const IDLE_WAIT: Duration = Duration::from_millis(5);

/// Polls up to [`POLL_BATCH`] messages into `polled`: when none is queued and no query waits,
/// first waits up to [`IDLE_WAIT`] for either, then takes only what is already fetched. A
/// rebalance on the way drops the held messages of the partitions it revoked or rewound (they
/// are read again from the committed offset). Returns librdkafka's reason when the consumer
/// hit a fatal error (it will never deliver again: with static membership, another instance
/// took this one's `group.instance.id`).
fn poll_some<'c>(
    consumer: &'c BaseConsumer<RebalanceContext>,
    idle: Option<&IdleWait<'_>>,
    direct: &DirectAnswers<'_>,
    polled: &mut Vec<BorrowedMessage<'c>>,
) -> Option<String> {
    // Without the bell (no socket to spare), the wait is the first poll's, as it was before.
    let mut wait = match idle {
        Some(idle) => {
            idle.wait(IDLE_WAIT, direct.queries);
            Duration::ZERO
        }
        None => IDLE_WAIT,
    };
    while polled.len() < POLL_BATCH {
        let next = consumer.poll(wait);
        wait = Duration::ZERO;
        let context = consumer.context();
        if context.any_revoked.swap(false, Ordering::AcqRel) {
            let mut revoked = context.revoked.lock().unwrap_or_else(|e| e.into_inner());
            polled.retain(|m| !revoked.contains(&m.partition()));
            revoked.clear();
        }
        match next {
            Some(Ok(msg)) => polled.push(msg),
            Some(Err(e)) => {
                if let Some((code, reason)) = consumer.client().fatal_error() {
                    return Some(format!("{code:?}: {reason}"));
                }
                tracing::warn!(error = %e, "consumer error")
            }
            None => return None,
        }
    }
    None
}

/// While it lives, askers answer on their own thread while the loop waits for input (and so
/// does not hold the processor): one lookup under the processor's lock, no hop to the loop's
/// thread and back, no wake-up. At 1,000 queries/s on an idle instance that was most of a
/// query's CPU (see docs/decisions.md). Otherwise the query goes through the channel: a
/// loop busy processing would contend for the lock with the askers (and wait for one
/// preempted while it holds it), which cost more than the hop. The rebalance callbacks take
/// the same lock, so an answer never sees a partition half assigned either.
struct DirectAnswers<'q> {
    queries: &'q QueryInbox,
}

impl<'q> DirectAnswers<'q> {
    fn install(queries: &'q QueryInbox, processor: &SharedProcessor) -> DirectAnswers<'q> {
        let processor = Arc::downgrade(processor);
        let inbox = queries.clone();
        queries.answer_directly_with(Some(Arc::new(move |query| {
            if !inbox.loop_waits() {
                return Some(query);
            }
            let Some(processor) = processor.upgrade() else {
                return Some(query);
            };
            match processor.try_lock() {
                Ok(p) => {
                    p.answer_now(query);
                    None
                }
                Err(_) => Some(query),
            }
        })));
        DirectAnswers { queries }
    }
}

impl Drop for DirectAnswers<'_> {
    fn drop(&mut self) {
        self.queries.answer_directly_with(None);
    }
}

/// What a run did, for the log and for tests.
#[derive(Debug, Default, Clone)]
pub struct RunReport {
    pub batches: u64,
    pub aborts: u64,
    /// Times the Kafka clients were recreated after a fatal error (fencing).
    pub client_restarts: u64,
    pub records_sent: u64,
}

/// How one client generation ended.
enum Ended {
    Shutdown(Stats),
    /// A fatal producer error: recreate the clients and go on.
    Fatal(anyhow::Error, Stats),
}

/// Runs the service until `shutdown` is set; then commits, leaves the group and returns.
/// A fatal producer error (fencing) closes both clients and starts them again, after a
/// delay that doubles with each restart up to 30 s ([`Backoff`]) and that shutdown cuts short.
///
/// Between two polls the loop answers the queries waiting in `queries` (see
/// [`queries`](super::queries)).
pub fn run(
    config: &Config,
    shutdown: &AtomicBool,
    telemetry: &Telemetry,
    queries: &QueryInbox,
) -> Result<RunReport> {
    let mut report = RunReport::default();
    let mut backoff = Backoff::for_client_restarts();
    loop {
        let started = std::time::Instant::now();
        let (stats, fatal) = match run_clients(config, shutdown, telemetry, queries)? {
            Ended::Shutdown(stats) => (stats, None),
            Ended::Fatal(e, stats) => (stats, Some(e)),
        };
        report.batches += stats.batches;
        report.aborts += stats.aborts;
        report.records_sent += stats.records_sent;
        match fatal {
            None => return Ok(report),
            Some(e) => {
                report.client_restarts += 1;
                telemetry.health.set_producer_ok(false);
                telemetry.health.set_unassigned();
                telemetry
                    .metrics
                    .batches
                    .with_label_values(&["failed"])
                    .inc();
                telemetry.metrics.client_restarts.inc();
                let delay = backoff.delay(started.elapsed());
                tracing::error!(error = %format!("{e:#}"), delay_ms = delay.as_millis() as u64, restarts = report.client_restarts, "fatal Kafka client error: recreating the consumer and producer after the delay");
                // The loop is waiting by design, not stuck: /healthz stays up (/readyz is
                // down, the producer being unusable).
                if !wait_unless_stopped(delay, shutdown, || telemetry.health.beat()) {
                    return Ok(report);
                }
            }
        }
    }
}

fn run_clients(
    config: &Config,
    shutdown: &AtomicBool,
    telemetry: &Telemetry,
    queries: &QueryInbox,
) -> Result<Ended> {
    let k = &config.kafka;
    let timeout = Duration::from_millis(k.operation_timeout_ms);
    let settings = Settings {
        topics: k.topics.clone(),
        rules: config.rules(),
        clock: k.clock,
        guarantee: k.guarantee,
        commit_interval: Duration::from_millis(k.commit_interval_ms),
        max_batch_events: k.max_batch_events,
        timeout,
        restorer: client::restorer(k)?,
        lease: super::membership::lease_for(&k.librdkafka),
        key_mismatch: k.key_mismatch,
        advertised_url: config.http.advertised(),
        voc_max_features: config.voc.max_features,
        cloudevents: config.cloudevents.clone(),
        cloudevents_source: config
            .output
            .cloudevents
            .then(|| config.output.cloudevents_source.clone()),
    };
    let producer = make_producer(config)?;
    telemetry.health.set_producer_ok(true);
    // at_least_once: a sending thread enqueues the records. exactly_once enqueues them on
    // this thread, so that each is in the transaction before it commits or aborts.
    let background = k.guarantee == Guarantee::AtLeastOnce;
    let sink =
        Sink::new(producer, &k.topics, background).context("cannot start the sending thread")?;
    let processor: SharedProcessor = Arc::new(Mutex::new(Processor::new(
        settings,
        sink,
        telemetry.metrics.clone(),
        telemetry.health.clone(),
        queries.clone(),
    )));
    let direct = DirectAnswers::install(queries, &processor);
    let consumer: BaseConsumer<RebalanceContext> = client::consumer(k)?
        .create_with_context(RebalanceContext {
            processor: processor.clone(),
            metrics: telemetry.metrics.clone(),
            input: k.topics.input.clone(),
            revoked: Mutex::new(Vec::new()),
            any_revoked: AtomicBool::new(false),
        })
        .map_err(client::creation_error)
        .context("cannot create the Kafka consumer")?;
    check_topics(&consumer, config)?;
    consumer
        .subscribe(&[&k.topics.input])
        .context("cannot subscribe to the input topic")?;
    tracing::info!(brokers = %k.brokers, group = %k.group_id, input = %k.topics.input, guarantee = ?k.guarantee, clock = ?k.clock, "lifecycle service started");

    let mut polled = Vec::with_capacity(POLL_BATCH);
    let idle = IdleWait::new(&consumer, queries.bell());
    while !shutdown.load(Ordering::Relaxed) {
        telemetry.health.beat();
        let fatal = poll_some(&consumer, idle.as_ref(), &direct, &mut polled);
        let mut p = lock(&processor);
        if let Some(reason) = fatal {
            // Recreating the clients would only fence the other instance in turn: stop, so
            // that the supervisor (and the operator) sees it.
            p.fail();
            p.release_all();
            drop(p);
            polled.clear();
            bail!(
                "the consumer hit a fatal error ({reason}); with static membership, another \
                 instance uses the same group.instance.id"
            );
        }
        p.answer_waiting();
        let step = (|| -> Result<(), ProcessError> {
            p.restore_pending(&consumer)?;
            let now = Timestamp::now();
            p.handle_all(&polled, now, &consumer)?;
            p.tick(now, &consumer)?;
            if p.batch_due(polled.is_empty()) {
                p.commit(&consumer)?;
            } else {
                p.advance(&consumer)?;
            }
            Ok(())
        })();
        // Handled, or (after an error) to be read again from the committed offsets.
        polled.clear();
        match step {
            Ok(()) => {}
            Err(e) if e.is_fatal() => {
                // Nothing uncommitted may be committed now, not even by the revocation that
                // closing the consumer runs.
                p.fail();
                let stats = p.stats();
                p.release_all();
                drop(p);
                consumer.unsubscribe();
                return Ok(Ended::Fatal(e.into(), stats));
            }
            Err(e) if k.guarantee == Guarantee::ExactlyOnce && e.requires_abort() => {
                tracing::warn!(error = %e, "aborting the transaction");
                if let Err(abort) = p.abort_and_rewind(&consumer) {
                    // Could not abort cleanly: start over from the last commit with new clients.
                    p.fail();
                    let stats = p.stats();
                    p.release_all();
                    drop(p);
                    consumer.unsubscribe();
                    return Ok(Ended::Fatal(abort.into(), stats));
                }
            }
            Err(e) => {
                p.fail();
                return Err(e).context("processing stopped");
            }
        }
    }
    tracing::info!("shutting down: committing the last batch and leaving the group");
    let mut p = lock(&processor);
    if let Err(e) = p.release_ownership() {
        // Only the redirects of the next few seconds suffer: the next owners publish anyway.
        tracing::warn!(error = %e, "could not publish the release of this instance's partitions");
    }
    if let Err(e) = p.drain(&consumer) {
        p.fail();
        return Err(e).context("final commit failed");
    }
    if let Err(e) = p.sink().flush(timeout) {
        p.fail();
        return Err(e).context("final flush failed");
    }
    let stats = p.stats();
    p.release_all();
    drop(p);
    consumer.unsubscribe();
    Ok(Ended::Shutdown(stats))
}
