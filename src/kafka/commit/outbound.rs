//! What both commit protocols share: the sink, the batch being built, and the delivery
//! sequence its records count for.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::{Offset, TopicPartitionList};

use super::super::codec::{EPOCH_HEADER, OwnerEpoch};
use super::super::error::ProcessError;
use super::super::outbox::Envelope;
use super::super::outputs::Output;
use super::super::sink::Sink;
use crate::metrics::Metrics;

/// The batch being built: when it started, how many input messages it holds, and the next
/// input offset of each partition it read.
#[derive(Debug, Default)]
pub struct Batch {
    pub started: Option<Instant>,
    pub events: usize,
    pub next_offsets: BTreeMap<i32, i64>,
}

/// A changelog record serialized at the end of its batch.
#[derive(Debug)]
pub struct ChangelogRecord {
    pub partition: i32,
    pub key: Box<[u8]>,
    pub payload: Option<Vec<u8>>,
    /// The owner epoch, for a tombstone (other records carry it in their value).
    pub tombstone_epoch: Option<OwnerEpoch>,
}

/// The sink and the batch being built.
#[derive(Debug)]
pub struct Outbound {
    pub sink: Sink,
    batch: Batch,
    /// Delivery sequence of the current batch's outputs (its changelog gets the next one).
    seq: usize,
    input: String,
    pub timeout: Duration,
    metrics: Metrics,
    /// Batches committed.
    committed: u64,
}

impl Outbound {
    /// Writes through `sink`; `input` is the input topic (whose offsets a batch commits),
    /// `timeout` bounds each wait for the broker.
    pub fn new(sink: Sink, input: String, timeout: Duration, metrics: Metrics) -> Outbound {
        Outbound {
            sink,
            batch: Batch::default(),
            seq: 0,
            input,
            timeout,
            metrics,
            committed: 0,
        }
    }

    pub fn batch(&self) -> &Batch {
        &self.batch
    }

    /// Batches committed so far.
    pub fn batches_committed(&self) -> u64 {
        self.committed
    }

    /// Starts timing the batch at its first message (or timer, or claim).
    pub fn open_batch(&mut self) {
        self.batch.started.get_or_insert_with(Instant::now);
    }

    /// Counts input message `offset` of partition `p` in the batch.
    pub fn count_message(&mut self, p: i32, offset: i64) {
        self.batch.events += 1;
        self.batch.next_offsets.insert(p, offset + 1);
    }

    /// The batch should end: it holds `max_events`, or is as old as `interval`, or the input
    /// is `idle` (the last poll found nothing to read) and the batch is a tenth of that old.
    /// Once the input is drained, waiting longer would only delay the commit; the tenth
    /// bounds the commits of a trickling input to ten per interval.
    pub fn batch_due(&self, idle: bool, interval: Duration, max_events: usize) -> bool {
        let age = |part: u32| {
            self.batch
                .started
                .is_some_and(|s| s.elapsed() >= interval / part)
        };
        self.batch.events >= max_events || age(1) || (idle && age(10))
    }

    /// Stages a record of the current batch (`envelope.batch` is set here).
    pub fn stage(&mut self, envelope: Envelope<'_>, encode: Option<impl FnOnce(&mut Vec<u8>)>) {
        let envelope = Envelope {
            batch: self.seq,
            ..envelope
        };
        self.sink.stage(envelope, encode);
    }

    /// The delivery sequence of the current batch's outputs.
    pub(super) fn seq(&self) -> usize {
        self.seq
    }

    /// Ends the batch: the next one counts its records under the next two sequences (its
    /// outputs, then its changelog).
    pub(super) fn next_batch(&mut self) {
        self.seq += 2;
        self.batch = Batch::default();
    }

    /// Forgets the batch being built.
    pub(super) fn reset_batch(&mut self) {
        self.batch = Batch::default();
    }

    /// Stages changelog records under delivery sequence `seq` and sends them on their way.
    pub(super) fn send_changelog(&mut self, records: &[ChangelogRecord], seq: usize) {
        for r in records {
            self.sink.stage(
                Envelope {
                    topic: Output::State,
                    partition: Some(r.partition),
                    key: Some(&r.key),
                    headers: r.tombstone_epoch.map(|epoch| {
                        let value = epoch.to_string();
                        OwnedHeaders::new_with_capacity(1).insert(Header {
                            key: EPOCH_HEADER.to_str().expect("an ASCII name"),
                            value: Some(value.as_str()),
                        })
                    }),
                    timestamp_ms: None,
                    batch: seq,
                },
                r.payload
                    .as_deref()
                    .map(|p| move |buf: &mut Vec<u8>| buf.extend_from_slice(p)),
            );
        }
        self.sink.dispatch();
    }

    /// The input offsets the batch commits.
    pub(super) fn offsets(&self) -> Result<TopicPartitionList, ProcessError> {
        let mut tpl = TopicPartitionList::new();
        for (&p, &next) in &self.batch.next_offsets {
            tpl.add_partition_offset(&self.input, p, Offset::Offset(next))
                .map_err(ProcessError::Commit)?;
        }
        Ok(tpl)
    }

    pub(super) fn input(&self) -> &str {
        &self.input
    }

    /// Counts and logs a batch of `events` committed, begun at `started`.
    pub(super) fn committed(&mut self, events: usize, started: Instant) {
        tracing::debug!(
            events,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "batch committed"
        );
        self.metrics
            .batch_duration
            .observe(started.elapsed().as_secs_f64());
        self.metrics.batch_events.observe(events as f64);
        self.metrics.batches.with_label_values(&["committed"]).inc();
        self.committed += 1;
    }

    /// Counts a batch whose offsets the group refused while rebalancing.
    pub(super) fn uncommitted(&self) {
        self.metrics
            .batches
            .with_label_values(&["uncommitted"])
            .inc();
    }
}
