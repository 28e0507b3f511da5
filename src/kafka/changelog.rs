//! Restoring one partition's engine from its changelog partition, before any of its input
//! events is processed.
//!
//! A batch writes its customers and then the partition's progress record. Customer records
//! count only once a progress record follows them: the records of a batch cut short by a
//! crash are discarded, and that batch's events, which are after the recorded applied
//! offset, are processed again from the state before it, giving the same records.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use super::changelog_apply::{Applied, DecodedBatch, apply_batches};
use super::client::redacted;
use super::codec::{ChangelogError, PartitionMeta};
use super::consumer_batches::ConsumerQueue;
use crate::domain::Engine;

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("reading changelog {topic}[{partition}]: {source}")]
    Kafka {
        topic: String,
        partition: i32,
        #[source]
        source: KafkaError,
    },
    #[error("changelog {topic}[{partition}]: {source}")]
    Record {
        topic: String,
        partition: i32,
        #[source]
        source: ChangelogError,
    },
    #[error("starting the changelog applier thread: {0}")]
    Spawn(#[source] std::io::Error),
    #[error("changelog {topic}[{partition}] did not reach offset {high} within {timeout:?}")]
    Timeout {
        topic: String,
        partition: i32,
        high: i64,
        timeout: Duration,
    },
}

/// The restore consumer's context: reaching a partition's end is how a restore finishes,
/// not an error (rdkafka's default context logs every error event at ERROR, and an operator
/// should act on what is logged there).
#[derive(Debug, Clone, Copy)]
pub struct RestoreContext;

impl rdkafka::ClientContext for RestoreContext {
    fn error(&self, error: KafkaError, reason: &str) {
        match error.rdkafka_error_code() {
            Some(rdkafka::error::RDKafkaErrorCode::PartitionEOF) => {
                tracing::debug!(%error, reason, "restore consumer")
            }
            _ => tracing::warn!(%error, reason, "restore consumer error"),
        }
    }
}

impl rdkafka::consumer::ConsumerContext for RestoreContext {}

/// What a restore read.
#[derive(Debug, Default, Clone, Copy)]
pub struct RestoreStats {
    pub records: u64,
    pub customers: usize,
    /// Records of a batch cut short (no progress record of their owner after them).
    pub discarded: usize,
    /// Records skipped because their writer's ownership had ended (owner epochs).
    pub fenced: usize,
    /// The highest owner epoch in the partition.
    pub max_epoch: super::codec::OwnerEpoch,
    pub elapsed: Duration,
}

/// How many records the polling thread hands to the applying thread at once.
const BATCH: usize = 1024;

/// Fills `engine` from changelog partition `partition` of `topic`; returns the partition's
/// recorded progress.
///
/// Two threads: this one reads the consumer's records in batches and decodes them; a scoped
/// thread applies the decoded batches to `engine` (finding, inserting, arming timers). They
/// run side by side instead of in turn.
pub fn restore(
    config: &ClientConfig,
    topic: &str,
    partition: i32,
    engine: &mut Engine,
    timeout: Duration,
    progress: &mut dyn FnMut(),
) -> Result<(PartitionMeta, RestoreStats), RestoreError> {
    let started = Instant::now();
    let source = Source {
        topic,
        partition,
        timeout,
    };
    let consumer: BaseConsumer<RestoreContext> = config
        .create_with_context(RestoreContext)
        .map_err(|e| source.kafka(redacted(e)))?;
    let (low, high) = consumer
        .fetch_watermarks(topic, partition, timeout)
        .map_err(|e| source.kafka(e))?;
    let mut stats = RestoreStats::default();
    let mut meta = PartitionMeta::default();
    if high > low {
        // An upper bound of the customers to come (a compacted log holds few stale records),
        // capped so that a huge uncompacted log does not reserve memory it will not need.
        engine.reserve_customers(usize::try_from(high - low).unwrap_or(0).min(4 << 20));
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Beginning)
            .map_err(|e| source.kafka(e))?;
        consumer.assign(&tpl).map_err(|e| source.kafka(e))?;
        let applying = &mut *engine;
        let applied: Applied = std::thread::scope(|scope| {
            // Fetches arrive in bursts: up to 32 batches (a few MiB of decoded records) wait, so
            // neither side stalls.
            let (to_apply, batches) = mpsc::sync_channel::<DecodedBatch>(32);
            let (recycle, emptied) = mpsc::channel::<DecodedBatch>();
            let applier = std::thread::Builder::new()
                .name("restore-apply".into())
                .spawn_scoped(scope, move || apply_batches(&batches, &recycle, applying))
                .map_err(RestoreError::Spawn)?;
            let polled = source.poll_to_end(&consumer, high, progress, &mut stats, &mut |batch| {
                let fresh = emptied.try_recv().unwrap_or_default();
                to_apply.send(std::mem::replace(batch, fresh)).is_ok()
            });
            drop(to_apply);
            let applied = applier
                .join()
                .expect("the changelog applier does not panic");
            // A bad record stops the applier first, and the polling after it: its error wins.
            let applied = applied.map_err(|e| RestoreError::Record {
                topic: topic.to_owned(),
                partition,
                source: e,
            })?;
            polled.map(|()| applied)
        })?;
        meta = applied.meta;
        stats.discarded = applied.discarded;
        stats.fenced = applied.fenced;
        stats.max_epoch = applied.max_epoch;
    }
    // Closing a consumer waits ~100 ms for librdkafka's threads to time out; nothing here
    // needs to wait for that.
    let _ = std::thread::Builder::new()
        .name("restore-close".into())
        .spawn(move || drop(consumer));
    // Set, not advanced: timers already due stay pending exactly as they were.
    engine.restore_clock(meta.clock);
    stats.customers = engine.customer_count();
    stats.elapsed = started.elapsed();
    Ok((meta, stats))
}

/// The changelog partition being read, for polling it and naming it in errors.
struct Source<'a> {
    topic: &'a str,
    partition: i32,
    timeout: Duration,
}

impl Source<'_> {
    fn kafka(&self, source: KafkaError) -> RestoreError {
        RestoreError::Kafka {
            topic: self.topic.to_owned(),
            partition: self.partition,
            source,
        }
    }

    /// Polls up to offset `high - 1`, handing the records over in batches; `hand_over`
    /// returns false when the applier has stopped (on a bad record), which ends the polling.
    fn poll_to_end(
        &self,
        consumer: &BaseConsumer<RestoreContext>,
        high: i64,
        progress: &mut dyn FnMut(),
        stats: &mut RestoreStats,
        hand_over: &mut dyn FnMut(&mut DecodedBatch) -> bool,
    ) -> Result<(), RestoreError> {
        let mut batch = DecodedBatch::default();
        let mut last_progress = Instant::now();
        let mut queue = ConsumerQueue::new(consumer, BATCH).ok_or_else(|| {
            self.kafka(KafkaError::ClientCreation(
                "the restore consumer has no consumer queue (no group.id)".into(),
            ))
        })?;
        let mut messages = Vec::with_capacity(BATCH);
        'polling: loop {
            messages.clear();
            queue.consume(Duration::from_millis(100), &mut messages);
            for msg in &messages {
                match msg.result() {
                    Ok(()) => {}
                    Err(KafkaError::PartitionEOF(_)) => break 'polling,
                    Err(e) => return Err(self.kafka(e)),
                }
                stats.records += 1;
                if stats.records.is_multiple_of(10_000) {
                    last_progress = Instant::now();
                    progress();
                }
                batch.push(msg);
                let last = msg.offset() >= high - 1;
                if last || batch.len() >= BATCH {
                    let applier_running = hand_over(&mut batch);
                    if last || !applier_running {
                        return Ok(());
                    }
                }
            }
            if messages.is_empty() {
                if last_progress.elapsed() > self.timeout {
                    // Silent for a whole timeout (progress is noted every 10,000 records).
                    return Err(RestoreError::Timeout {
                        topic: self.topic.to_owned(),
                        partition: self.partition,
                        high,
                        timeout: self.timeout,
                    });
                }
                // Nothing new for now: let the applier work on what is here.
                if !batch.is_empty() && !hand_over(&mut batch) {
                    return Ok(());
                }
            }
        }
        if !batch.is_empty() {
            hand_over(&mut batch);
        }
        Ok(())
    }
}
