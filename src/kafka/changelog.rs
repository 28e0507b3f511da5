//! Restoring one partition's engine from its changelog partition, before any of its input
//! events is processed.
//!
//! A batch writes its customers and then the partition's progress record. Customer records
//! count only once a progress record follows them: the records of a batch cut short by a
//! crash are discarded, and that batch's events, which are after the recorded applied
//! offset, are processed again from the state before it, giving the same records.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use super::codec::{ChangelogEntry, ChangelogError, PartitionMeta, decode_changelog};
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
    #[error("changelog {topic}[{partition}] did not reach offset {high} within {timeout:?}")]
    Timeout {
        topic: String,
        partition: i32,
        high: i64,
        timeout: Duration,
    },
}

/// What a restore read.
#[derive(Debug, Default, Clone, Copy)]
pub struct RestoreStats {
    pub records: u64,
    pub customers: usize,
    /// Records of a batch cut short (no progress record after them).
    pub discarded: usize,
    pub elapsed: Duration,
}

/// Fills `engine` from changelog partition `partition` of `topic`; returns the partition's
/// recorded progress.
pub fn restore(
    config: &ClientConfig,
    topic: &str,
    partition: i32,
    engine: &mut Engine,
    timeout: Duration,
    progress: &mut dyn FnMut(),
) -> Result<(PartitionMeta, RestoreStats), RestoreError> {
    let started = Instant::now();
    let kafka = |source| RestoreError::Kafka {
        topic: topic.to_owned(),
        partition,
        source,
    };
    let consumer: BaseConsumer = config.create().map_err(kafka)?;
    let (low, high) = consumer
        .fetch_watermarks(topic, partition, timeout)
        .map_err(kafka)?;
    let mut meta = PartitionMeta::default();
    let mut stats = RestoreStats::default();
    let mut unconfirmed: Vec<ChangelogEntry> = Vec::new();
    if high > low {
        // An upper bound of the customers to come (a compacted log holds few stale records),
        // capped so that a huge uncompacted log does not reserve memory it will not need.
        engine.reserve_customers(usize::try_from(high - low).unwrap_or(0).min(4 << 20));
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(topic, partition, Offset::Beginning)
            .map_err(kafka)?;
        consumer.assign(&tpl).map_err(kafka)?;
        let mut last_progress = Instant::now();
        loop {
            match consumer.poll(Duration::from_millis(100)) {
                Some(Ok(msg)) => {
                    stats.records += 1;
                    if stats.records % 10_000 == 0 {
                        last_progress = Instant::now();
                        progress();
                    }
                    let entry = decode_changelog(msg.key(), msg.payload(), msg.offset()).map_err(
                        |source| RestoreError::Record {
                            topic: topic.to_owned(),
                            partition,
                            source,
                        },
                    )?;
                    match entry {
                        ChangelogEntry::Meta(m) => {
                            meta = m;
                            for confirmed in unconfirmed.drain(..) {
                                match confirmed {
                                    ChangelogEntry::Customer(c) => engine.put_customer(*c),
                                    ChangelogEntry::Tombstone(id) => {
                                        engine.remove_customer(&id);
                                    }
                                    ChangelogEntry::Meta(_) => {}
                                }
                            }
                        }
                        other => unconfirmed.push(other),
                    }
                    if msg.offset() >= high - 1 {
                        break;
                    }
                }
                Some(Err(KafkaError::PartitionEOF(_))) => break,
                Some(Err(e)) => return Err(kafka(e)),
                None if last_progress.elapsed() > timeout => {
                    // Silent for a whole timeout (progress is noted every 10,000 records).
                    return Err(RestoreError::Timeout {
                        topic: topic.to_owned(),
                        partition,
                        high,
                        timeout,
                    });
                }
                None => {}
            }
        }
    }
    stats.discarded = unconfirmed.len();
    // Set, not advanced: timers already due stay pending exactly as they were.
    engine.restore_clock(meta.clock);
    stats.customers = engine.customer_count();
    stats.elapsed = started.elapsed();
    Ok((meta, stats))
}
