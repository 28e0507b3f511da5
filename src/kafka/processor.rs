//! One instance's processing state: an engine per assigned input partition, the batch in
//! progress, and the commit protocol of each guarantee.
//!
//! `at_least_once` commits a batch in three steps: outputs and dead letters are delivered,
//! then the changelog (every customer the batch touched, then the partition's progress
//! record), then the input offsets. A crash between steps re-delivers events whose effects
//! are already in the changelog; the partition's applied offset and each customer's last
//! offset make them change nothing, and outputs re-sent before the crash are identical.
//! `exactly_once` sends the same records inside a transaction with the offsets.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::message::{BorrowedMessage, Header, OwnedHeaders};
use rdkafka::producer::Producer;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use super::changelog::{RestoreError, restore};
use super::codec::{
    DEAD_LETTER_TOPIC, EPOCH_HEADER, INPUT_TOPIC, OwnerEpoch, PARTITION_META_KEY, PartitionMeta,
    STATE_TOPIC, append_record, dead_letter_headers, dead_letter_value, encode_customer_owned,
    encode_meta, output_index,
};
use super::membership::{Membership, not_a_member};
use super::outbox::Envelope;
use super::sink::{Sink, SinkError};
use crate::config::{ClockSource, Guarantee, KeyMismatch, Topics};
use crate::domain::{
    ClockMode, Engine, Event, EventHashes, Outcome, Record, RejectReason, Rejection, Rules,
    Timestamp, decode,
};
use crate::health::Health;
use crate::metrics::Metrics;
use std::sync::Arc;

/// An input message decoded, with its hashes for the engine, or why it was rejected.
type Decoded<'a> = Result<(Event<'a>, EventHashes), Rejection>;

/// What the processor needs from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub topics: Topics,
    pub rules: Rules,
    pub clock: ClockSource,
    pub guarantee: Guarantee,
    pub commit_interval: Duration,
    pub max_batch_events: usize,
    pub timeout: Duration,
    pub restorer: ClientConfig,
    /// How long a confirmation of this instance's group membership counts (half the
    /// consumer's session timeout): past it, nothing is written before a new one.
    pub lease: Duration,
    pub key_mismatch: KeyMismatch,
}

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Restore(#[from] RestoreError),
    #[error("committing input offsets failed: {0}")]
    Commit(#[source] KafkaError),
    #[error("the transaction failed: {0}")]
    Transaction(#[source] KafkaError),
    #[error("the consumer has no group metadata (not in a group yet)")]
    NoGroupMetadata,
    /// The group refused this instance's membership (paused or cut off past its session
    /// timeout, so its partitions may be someone else's now).
    #[error("this instance's group membership could not be confirmed: {0}")]
    Fenced(#[source] KafkaError),
}

impl ProcessError {
    /// A fatal producer error (fenced by a newer instance with the same transactional id,
    /// for example): the clients must be recreated.
    pub fn is_fatal(&self) -> bool {
        match self {
            ProcessError::Fenced(_) => true,
            ProcessError::Transaction(KafkaError::Transaction(e)) => e.is_fatal(),
            ProcessError::Sink(SinkError::Enqueue { source, .. }) => {
                source.rdkafka_error_code() == Some(rdkafka::error::RDKafkaErrorCode::Fatal)
            }
            _ => false,
        }
    }

    /// An error after which the transaction must be aborted and the input rewound.
    pub fn requires_abort(&self) -> bool {
        match self {
            ProcessError::Transaction(KafkaError::Transaction(e)) => {
                e.txn_requires_abort() && !e.is_fatal()
            }
            ProcessError::Sink(_) | ProcessError::Transaction(_) => true,
            _ => false,
        }
    }
}

/// Commits `offsets` (nothing to do when empty).
fn commit_offsets<C: ConsumerContext>(
    consumer: &BaseConsumer<C>,
    offsets: &TopicPartitionList,
) -> Result<(), KafkaError> {
    match offsets.count() {
        0 => Ok(()),
        _ => consumer.commit(offsets, CommitMode::Sync),
    }
}

/// An offset commit refused because the group is changing (a rebalance under way, or this
/// member's generation is over): not a failure of the batch, whose changelog is written.
fn group_changing(e: &KafkaError) -> bool {
    use rdkafka::error::RDKafkaErrorCode as Code;
    matches!(
        e.rdkafka_error_code(),
        Some(
            Code::RebalanceInProgress
                | Code::IllegalGeneration
                | Code::UnknownMemberId
                | Code::AssignmentLost
        )
    )
}

/// Counters of this instance (logged, and exported as metrics).
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub outcomes: BTreeMap<Outcome, u64>,
    pub rejected: BTreeMap<RejectReason, u64>,
    pub records_sent: u64,
    pub suppressed: u64,
    pub batches: u64,
    pub aborts: u64,
    pub restored_customers: u64,
}

#[derive(Debug)]
struct Partition {
    engine: Engine,
    applied_offset: Option<i64>,
    /// The owner epoch this instance writes the partition's changelog with.
    epoch: OwnerEpoch,
}

#[derive(Debug, Default)]
struct Batch {
    started: Option<Instant>,
    events: usize,
    next_offsets: BTreeMap<i32, i64>,
}

impl Batch {
    /// Starts the next batch. (The customers a batch changed are tracked by each partition's
    /// engine, which hands them over for the changelog at the batch's end.)
    fn reset(&mut self) {
        *self = Batch::default();
    }
}

/// A changelog record serialized at the end of its batch.
#[derive(Debug)]
struct ChangelogRecord {
    partition: i32,
    key: Box<[u8]>,
    payload: Option<Vec<u8>>,
    /// The owner epoch, for a tombstone (other records carry it in their value).
    tombstone_epoch: Option<OwnerEpoch>,
}

/// An `at_least_once` batch whose outputs or changelog are not acknowledged yet.
#[derive(Debug)]
struct InFlight {
    /// Delivery sequence of its outputs and dead letters.
    outputs: usize,
    changelog_seq: usize,
    /// `Some` until sent (after the outputs are acknowledged).
    changelog: Option<Vec<ChangelogRecord>>,
    offsets: TopicPartitionList,
    events: usize,
    started: Instant,
}

/// Batches that may wait for acknowledgement while the next one is processed.
pub const MAX_IN_FLIGHT: usize = 2;

#[derive(Debug)]
pub struct Processor {
    settings: Settings,
    in_flight: std::collections::VecDeque<InFlight>,
    /// Delivery sequence of the current batch's outputs (its changelog gets the next one).
    batch_seq: usize,
    sink: Sink,
    partitions: BTreeMap<i32, Partition>,
    /// Assigned partitions whose state is not restored yet.
    pending: BTreeSet<i32>,
    batch: Batch,
    in_transaction: bool,
    records: Vec<Record>,
    pub stats: Stats,
    metrics: Metrics,
    health: Arc<Health>,
    /// The group membership's last confirmation: nothing is written without one.
    membership: Membership,
    /// A step failed: nothing uncommitted may be committed any more, not even on the way out
    /// (the revocation when the consumer closes).
    failed: bool,
}

impl Processor {
    pub fn new(settings: Settings, sink: Sink, metrics: Metrics, health: Arc<Health>) -> Processor {
        Processor {
            membership: Membership::new(settings.lease),
            in_flight: std::collections::VecDeque::new(),
            batch_seq: 0,
            metrics,
            health,
            settings,
            sink,
            partitions: BTreeMap::new(),
            pending: BTreeSet::new(),
            batch: Batch::default(),
            in_transaction: false,
            records: Vec::new(),
            stats: Stats::default(),
            failed: false,
        }
    }

    /// A step failed: drops everything not committed and commits nothing more, so that the
    /// input of the failed batch is read again from the last commit by whoever owns it next.
    pub fn fail(&mut self) {
        self.failed = true;
        let _ = self.drop_uncommitted();
    }

    pub fn sink(&mut self) -> &mut Sink {
        &mut self.sink
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Every assigned partition is restored (readiness).
    pub fn restored(&self) -> bool {
        self.pending.is_empty()
    }

    /// (restored, restoring) partition counts.
    pub fn partition_counts(&self) -> (usize, usize) {
        (self.partitions.len(), self.pending.len())
    }

    /// Timers armed across the assigned partitions.
    pub fn pending_timers(&self) -> usize {
        self.partitions
            .values()
            .map(|p| p.engine.pending_timers())
            .sum()
    }

    pub fn on_assign(&mut self, tpl: &TopicPartitionList) {
        for e in tpl.elements_for_topic(&self.settings.topics.input) {
            if !self.partitions.contains_key(&e.partition()) {
                self.pending.insert(e.partition());
            }
        }
        // The group has just given these partitions to this member.
        self.membership.confirmed(Instant::now());
        self.health.set_assigned();
        self.publish_partitions();
        tracing::info!(partitions = ?self.pending, "partitions assigned, restoring");
    }

    /// Partition gauges and readiness from the current assignment.
    fn publish_partitions(&self) {
        let assigned = self.partitions.len() + self.pending.len();
        self.metrics
            .partitions
            .with_label_values(&["assigned"])
            .set(assigned as i64);
        self.metrics
            .partitions
            .with_label_values(&["restoring"])
            .set(self.pending.len() as i64);
        self.metrics
            .timers_pending
            .set(self.pending_timers() as i64);
        self.health.set_restoring(self.pending.len());
    }

    /// Forgets a partition's state (revoked, rewound or shutting down), and its customers
    /// from the stage gauges.
    fn drop_partition(&mut self, p: i32) {
        if let Some(part) = self.partitions.remove(&p) {
            for c in part.engine.customers() {
                self.metrics.customers_in(c.stage).dec();
            }
        }
        self.pending.remove(&p);
        self.membership.release(p);
    }

    /// Forgets every partition (the clients are closing).
    pub fn release_all(&mut self) {
        for p in self.partitions.keys().copied().collect::<Vec<_>>() {
            self.drop_partition(p);
        }
        self.pending.clear();
        self.publish_partitions();
    }

    /// Commits what was processed, then forgets the revoked partitions' state. Returns the
    /// partitions kept but rewound (see below): messages already read for them must be
    /// dropped, like those of the revoked ones.
    ///
    /// If that commit fails, the batches not committed are dropped: their changelog records
    /// may be missing. The revoked partitions' next owner reads them again from the last
    /// commit; a partition kept here (a cooperative rebalance) is rewound the same way, its
    /// state restored again from the changelog, so that no change is left out of it.
    pub fn on_revoke<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        tpl: &TopicPartitionList,
    ) -> Vec<i32> {
        // After a failed step nothing uncommitted may be committed: it was dropped then, and
        // the partitions are read again from their last commit by their next owner.
        let failed = !self.failed
            && match self.drain(consumer) {
                Ok(()) => false,
                Err(e) => {
                    tracing::error!(error = %e, "commit before revocation failed; the partitions are read again from the last commit");
                    let _ = self.drop_uncommitted();
                    true
                }
            };
        for e in tpl.elements_for_topic(&self.settings.topics.input) {
            self.drop_partition(e.partition());
        }
        let mut rewound = Vec::new();
        if failed {
            match self.rewind_to_committed(consumer) {
                Ok(kept) => rewound = kept,
                Err(e) => {
                    tracing::error!(error = %e, "could not rewind the partitions kept; changes since their last commit may be missing from the changelog")
                }
            }
        }
        self.publish_partitions();
        tracing::info!(remaining = ?self.partitions.keys().chain(self.pending.iter()).collect::<Vec<_>>(), "partitions revoked");
        rewound
    }

    /// Restores every newly assigned partition from the changelog; `at_least_once` then
    /// claims it (see [`claim`](Self::claim)).
    pub fn restore_pending<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), ProcessError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let committed = Membership::fetch_committed(
            consumer,
            &self.settings.topics.input,
            &self.pending,
            self.settings.timeout,
        )
        .map_err(ProcessError::Fenced)?;
        while let Some(&p) = self.pending.first() {
            let mode = match self.settings.clock {
                ClockSource::Event => ClockMode::Event,
                ClockSource::Wall => ClockMode::External,
            };
            // Its changes (not the restored customers) go to the changelog at each batch's end.
            let mut engine = Engine::new(self.settings.rules.clone())
                .with_clock_mode(mode)
                .with_change_tracking();
            // A long restore is progress, not a stuck loop: it keeps /healthz alive.
            let health = self.health.clone();
            let (meta, stats) = restore(
                &self.settings.restorer,
                &self.settings.topics.state,
                p,
                &mut engine,
                self.settings.timeout,
                &mut || health.beat(),
            )?;
            tracing::info!(
                partition = p,
                records = stats.records,
                customers = stats.customers,
                discarded = stats.discarded,
                fenced = stats.fenced,
                elapsed_ms = stats.elapsed.as_millis() as u64,
                applied_offset = meta.applied_offset,
                "partition restored"
            );
            self.membership.hold(p, committed.get(&p).copied());
            let epoch = match self.settings.guarantee {
                Guarantee::AtLeastOnce => self.claim(consumer, p, &meta, stats.max_epoch)?,
                // Transactions fence a stale writer (its transaction cannot commit).
                Guarantee::ExactlyOnce => meta.epoch.max(stats.max_epoch),
            };
            self.stats.restored_customers += stats.customers as u64;
            self.metrics.restore_records.inc_by(stats.records);
            for c in engine.customers() {
                self.metrics.customers_in(c.stage).inc();
            }
            self.partitions.insert(
                p,
                Partition {
                    engine,
                    applied_offset: meta.applied_offset,
                    epoch,
                },
            );
            self.pending.remove(&p);
            self.publish_partitions();
        }
        Ok(())
    }

    /// Takes partition `p` over in its changelog: once the membership is confirmed, writes a
    /// progress record with an owner epoch above every epoch the restore saw. From there on a
    /// restore applies no record of an earlier owner (see `changelog_apply`). Returns the
    /// epoch claimed.
    ///
    /// It is not waited for: the idempotent producer keeps a partition's records in order, so
    /// it lands before anything this owner writes there, and it counts among the current
    /// batch's outputs, whose changelog and offsets wait for them (waiting here cost the first
    /// assignment ~0.35 s: the producer's first delivery).
    fn claim<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        p: i32,
        restored: &PartitionMeta,
        max_epoch: OwnerEpoch,
    ) -> Result<OwnerEpoch, ProcessError> {
        self.membership
            .ensure(consumer, &self.settings.topics.input)
            .map_err(ProcessError::Fenced)?;
        let epoch = restored.epoch.max(max_epoch) + 1;
        let claim = ChangelogRecord {
            partition: p,
            key: PARTITION_META_KEY.into(),
            payload: Some(encode_meta(&PartitionMeta { epoch, ..*restored })),
            tombstone_epoch: None,
        };
        self.begin_if_needed()?;
        self.send_changelog(std::slice::from_ref(&claim), self.batch_seq);
        tracing::info!(partition = p, epoch, "partition claimed in the changelog");
        Ok(epoch)
    }

    fn begin_if_needed(&mut self) -> Result<(), ProcessError> {
        if self.settings.guarantee == Guarantee::ExactlyOnce && !self.in_transaction {
            self.sink
                .producer
                .begin_transaction()
                .map_err(ProcessError::Transaction)?;
            self.in_transaction = true;
        }
        self.batch.started.get_or_insert_with(Instant::now);
        Ok(())
    }

    /// Processes messages polled together. Decodes them all first, so the engine can
    /// prefetch the customers of the events a few places ahead (see `Engine::warm_ahead`);
    /// ends the batch (see [`commit`](Self::commit)) whenever it reaches `max_batch_events`.
    pub fn handle_all<C: ConsumerContext>(
        &mut self,
        msgs: &[BorrowedMessage<'_>],
        now: Timestamp,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), ProcessError> {
        if msgs.is_empty() {
            return Ok(());
        }
        self.ensure_member(consumer)?;
        // The hashes are taken once: for the prefetch and then for the lookups.
        let decoded: Vec<(i32, Decoded<'_>)> = msgs
            .iter()
            .map(|m| {
                let event = decode(m.payload().unwrap_or_default(), now).map(|e| {
                    let hashes = EventHashes::of(&e);
                    (e, hashes)
                });
                (m.partition(), event)
            })
            .collect();
        for (i, (msg, (p, event))) in msgs.iter().zip(&decoded).enumerate() {
            if let Some(part) = self.partitions.get(p) {
                let hash_at = |j: usize| match decoded.get(j) {
                    Some((q, Ok((_, hashes)))) if q == p => Some(hashes.customer),
                    _ => None,
                };
                part.engine.warm_ahead(i, hash_at);
            }
            self.handle(msg, event.as_ref().map(|(e, h)| (e, *h)), now)?;
            if self.batch.events >= self.settings.max_batch_events {
                self.commit(consumer)?;
            }
        }
        self.sink.dispatch();
        Ok(())
    }

    /// Processes one decoded input message of a restored partition.
    fn handle(
        &mut self,
        msg: &BorrowedMessage,
        decoded: Result<(&Event<'_>, EventHashes), &Rejection>,
        now: Timestamp,
    ) -> Result<(), ProcessError> {
        let p = msg.partition();
        let offset = msg.offset();
        if !self.partitions.contains_key(&p) {
            tracing::warn!(
                partition = p,
                offset,
                "message of a partition not assigned here; skipped"
            );
            return Ok(());
        }
        self.begin_if_needed()?;
        self.batch.events += 1;
        self.batch.next_offsets.insert(p, offset + 1);
        let wall = self.settings.clock == ClockSource::Wall;
        let part = self.partitions.get_mut(&p).expect("checked above");
        if part.applied_offset.is_some_and(|a| a >= offset) {
            *self
                .stats
                .outcomes
                .entry(Outcome::AlreadyApplied)
                .or_default() += 1;
            return Ok(());
        }
        part.applied_offset = Some(offset);
        match decoded {
            Ok((event, _)) if msg.key() != Some(event.customer_id.as_bytes()) => {
                match self.settings.key_mismatch {
                    KeyMismatch::DeadLetter => {
                        let detail = match msg.key() {
                            None => "the record has no key; it must be its customer_id",
                            Some([]) => "the record's key is empty; it must be its customer_id",
                            Some(_) => "the record's key is not its customer_id",
                        };
                        let rejection = Rejection::new(RejectReason::KeyMismatch, detail);
                        self.dead_letter(msg, &rejection, now);
                    }
                    KeyMismatch::Repartition => self.repartition(msg, &event.customer_id, now),
                }
            }
            Ok((event, hashes)) => {
                if wall {
                    part.engine.advance_clock(now, &mut self.records);
                }
                let outcome =
                    part.engine
                        .apply_hashed(event, hashes, Some(offset), &mut self.records);
                *self.stats.outcomes.entry(outcome).or_default() += 1;
                self.metrics.event(event.event_type(), outcome);
                let lag = now.as_nanos().saturating_sub(event.occurred_at.as_nanos());
                if lag >= 0 {
                    self.metrics.event_time_lag.observe(lag as f64 / 1e9);
                }
            }
            Err(rejection) => self.dead_letter(msg, rejection, now),
        }
        self.emit(now);
        Ok(())
    }

    /// Stages the dead letter of `msg`: its key and value as they were (a null stays null; a
    /// value over the event limit is cut to it, and a header says so), with headers naming
    /// the reason and where it came from.
    fn dead_letter(&mut self, msg: &BorrowedMessage, rejection: &Rejection, now: Timestamp) {
        let (p, offset) = (msg.partition(), msg.offset());
        *self.stats.rejected.entry(rejection.reason).or_default() += 1;
        self.metrics.rejected(rejection.reason);
        tracing::debug!(partition = p, offset, reason = %rejection.reason, detail = %rejection.detail, "dead-lettering an event");
        let (payload, cut_from) = dead_letter_value(msg.payload());
        let headers = dead_letter_headers(
            rejection,
            &self.settings.topics.input,
            p,
            offset,
            cut_from,
            msg.headers(),
        );
        self.sink.stage(
            Envelope {
                topic: DEAD_LETTER_TOPIC,
                partition: None,
                key: msg.key(),
                headers: Some(headers),
                timestamp_ms: Some(now.as_nanos().div_euclid(1_000_000)),
                batch: self.batch_seq,
            },
            payload.map(|v| move |buf: &mut Vec<u8>| buf.extend_from_slice(v)),
        );
    }

    /// Stages `msg` again on the input topic, keyed by its customer id, so that it is
    /// processed on that customer's partition (`kafka.key_mismatch = "repartition"`).
    fn repartition(&mut self, msg: &BorrowedMessage, customer_id: &str, now: Timestamp) {
        *self
            .stats
            .outcomes
            .entry(Outcome::Repartitioned)
            .or_default() += 1;
        tracing::debug!(
            partition = msg.partition(),
            offset = msg.offset(),
            "re-producing an event under its customer_id key"
        );
        let payload = msg.payload().unwrap_or_default();
        self.sink.stage(
            Envelope {
                topic: INPUT_TOPIC,
                partition: None,
                key: Some(customer_id.as_bytes()),
                headers: None,
                timestamp_ms: Some(now.as_nanos().div_euclid(1_000_000)),
                batch: self.batch_seq,
            },
            Some(|buf: &mut Vec<u8>| buf.extend_from_slice(payload)),
        );
    }

    /// Nothing is written for the partitions held unless the group membership is confirmed
    /// (`at_least_once`; see [`Membership`]). `exactly_once` is fenced by its transactions.
    fn ensure_member<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), ProcessError> {
        match self.settings.guarantee {
            Guarantee::AtLeastOnce => self
                .membership
                .ensure(consumer, &self.settings.topics.input)
                .map_err(ProcessError::Fenced),
            Guarantee::ExactlyOnce => Ok(()),
        }
    }

    /// Wall clock: advances every partition's clock to `now`, firing due timers.
    pub fn tick<C: ConsumerContext>(
        &mut self,
        now: Timestamp,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), ProcessError> {
        if self.settings.clock != ClockSource::Wall {
            return Ok(());
        }
        let due: Vec<i32> = self
            .partitions
            .iter()
            .filter(|(_, part)| part.engine.next_timer().is_some_and(|t| t <= now))
            .map(|(p, _)| *p)
            .collect();
        if !due.is_empty() {
            self.ensure_member(consumer)?;
        }
        for p in due {
            self.begin_if_needed()?;
            let part = self.partitions.get_mut(&p).expect("listed above");
            part.engine.advance_clock(now, &mut self.records);
            self.emit(now);
        }
        self.sink.dispatch();
        Ok(())
    }

    /// Stages the engine's pending records; `now`, the time read for the messages being
    /// handled, is their timestamp.
    fn emit(&mut self, now: Timestamp) {
        let timestamp_ms = Some(now.as_nanos().div_euclid(1_000_000));
        for record in self.records.drain(..) {
            self.metrics.record(&record);
            let Some(topic) = output_index(&record) else {
                self.stats.suppressed += 1;
                continue;
            };
            let customer = record.customer_id().unwrap_or_default();
            self.sink.stage(
                Envelope {
                    topic,
                    partition: None,
                    key: Some(customer.as_bytes()),
                    headers: None,
                    timestamp_ms,
                    batch: self.batch_seq,
                },
                Some(|buf: &mut Vec<u8>| append_record(&record, buf)),
            );
            self.stats.records_sent += 1;
        }
    }

    /// The batch should end: it is full, or as old as `commit_interval`, or the input is
    /// `idle` (the last poll found nothing to read) and the batch is a tenth of that old. Once
    /// the input is drained, waiting longer would only delay the commit; the tenth bounds the
    /// commits of a trickling input to ten per interval.
    pub fn batch_due(&self, idle: bool) -> bool {
        let age = |part: u32| {
            self.batch
                .started
                .is_some_and(|s| s.elapsed() >= self.settings.commit_interval / part)
        };
        self.batch.events >= self.settings.max_batch_events || age(1) || (idle && age(10))
    }

    /// The changelog records of the batch, serialized now (the state at the batch's end):
    /// touched customers, then each touched partition's progress record.
    fn changelog_records(&mut self) -> Vec<ChangelogRecord> {
        let mut records = Vec::new();
        for (&p, part) in &mut self.partitions {
            if !part.engine.has_changes() && !self.batch.next_offsets.contains_key(&p) {
                continue;
            }
            let epoch = part.epoch;
            part.engine.take_changes(|id, customer| {
                records.push(ChangelogRecord {
                    partition: p,
                    key: id.as_bytes().into(),
                    payload: customer.map(|c| encode_customer_owned(c, epoch)),
                    tombstone_epoch: customer.is_none().then_some(epoch),
                });
            });
            records.push(ChangelogRecord {
                partition: p,
                key: PARTITION_META_KEY.into(),
                payload: Some(encode_meta(&PartitionMeta {
                    clock: part.engine.clock(),
                    applied_offset: part.applied_offset,
                    epoch,
                })),
                tombstone_epoch: None,
            });
        }
        records
    }

    /// Stages the changelog records of a batch and sends them on their way.
    fn send_changelog(&mut self, records: &[ChangelogRecord], batch: usize) {
        for r in records {
            self.sink.stage(
                Envelope {
                    topic: STATE_TOPIC,
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
                    batch,
                },
                r.payload
                    .as_deref()
                    .map(|p| move |buf: &mut Vec<u8>| buf.extend_from_slice(p)),
            );
        }
        self.sink.dispatch();
    }

    fn offsets(&self) -> Result<TopicPartitionList, ProcessError> {
        let mut tpl = TopicPartitionList::new();
        for (&p, &next) in &self.batch.next_offsets {
            tpl.add_partition_offset(&self.settings.topics.input, p, Offset::Offset(next))
                .map_err(ProcessError::Commit)?;
        }
        Ok(tpl)
    }

    /// Ends the current batch. `at_least_once` pipelines it: its changelog goes out once its
    /// outputs are acknowledged, its offsets are committed once its changelog is, and
    /// processing goes on meanwhile (see [`advance`](Self::advance)); at most
    /// [`MAX_IN_FLIGHT`] batches wait. `exactly_once` commits the transaction now. On error
    /// the caller decides (abort and rewind, or stop).
    pub fn commit<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), ProcessError> {
        if self.batch.started.is_none() {
            return Ok(());
        }
        let timeout = self.settings.timeout;
        // Every output record of the batch on its way; exactly_once: in the producer, and so
        // in the transaction, before it commits.
        match self.settings.guarantee {
            Guarantee::AtLeastOnce => self.sink.dispatch(),
            Guarantee::ExactlyOnce => self.sink.settle(timeout)?,
        }
        let offsets = self.offsets()?;
        let changelog = self.changelog_records();
        let events = self.batch.events;
        tracing::debug!(
            events,
            changelog = changelog.len(),
            "batch ended; committing once its records are delivered"
        );
        match self.settings.guarantee {
            Guarantee::AtLeastOnce => {
                self.in_flight.push_back(InFlight {
                    outputs: self.batch_seq,
                    changelog_seq: self.batch_seq + 1,
                    changelog: Some(changelog),
                    offsets,
                    events,
                    started: self.batch.started.unwrap_or_else(Instant::now),
                });
                self.batch_seq += 2;
                self.batch.reset();
                self.advance(consumer, false)?;
                while self.in_flight.len() > MAX_IN_FLIGHT {
                    self.advance(consumer, true)?;
                }
            }
            Guarantee::ExactlyOnce => {
                let started = Instant::now();
                self.send_changelog(&changelog, self.batch_seq);
                // Every record in the producer, and so in the transaction, before it commits.
                self.sink.settle(timeout)?;
                if offsets.count() > 0 {
                    let cgm = consumer
                        .group_metadata()
                        .ok_or(ProcessError::NoGroupMetadata)?;
                    self.sink
                        .producer
                        .send_offsets_to_transaction(&offsets, &cgm, timeout)
                        .map_err(ProcessError::Transaction)?;
                }
                self.sink
                    .producer
                    .commit_transaction(timeout)
                    .map_err(ProcessError::Transaction)?;
                self.sink.take_failures()?;
                self.in_transaction = false;
                self.batch_seq += 2;
                self.batch.reset();
                self.committed(events, started);
            }
        }
        Ok(())
    }

    fn committed(&mut self, events: usize, started: Instant) {
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
        self.metrics
            .timers_pending
            .set(self.pending_timers() as i64);
        self.stats.batches += 1;
    }

    /// Moves waiting `at_least_once` batches along: changelog after acknowledged outputs,
    /// offset commit after the acknowledged changelog. With `block`, waits until the oldest
    /// batch is fully committed.
    pub fn advance<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        block: bool,
    ) -> Result<(), ProcessError> {
        let deadline = Instant::now() + self.settings.timeout;
        let target = self.in_flight.len().saturating_sub(1);
        while let Some(front) = self.in_flight.front_mut() {
            self.sink.take_failures()?;
            let waiting_for = if front.changelog.is_some() {
                front.outputs
            } else {
                front.changelog_seq
            };
            if self.sink.in_flight(waiting_for) > 0 {
                if !block {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    return Err(SinkError::Delivery(format!(
                        "records not acknowledged within {:?}",
                        self.settings.timeout
                    ))
                    .into());
                }
                std::thread::sleep(Duration::from_micros(200));
                continue;
            }
            if front.changelog.is_some() {
                // Nothing of it may reach the changelog unless the partitions are still ours.
                self.ensure_member(consumer)?;
                let front = self.in_flight.front_mut().expect("front exists");
                let records = front.changelog.take().expect("checked above");
                let seq = front.changelog_seq;
                self.send_changelog(&records, seq);
                continue;
            }
            let done = self.in_flight.pop_front().expect("front exists");
            let sent_at = Instant::now();
            match commit_offsets(consumer, &done.offsets) {
                Ok(()) => {
                    self.membership.committed_offsets(&done.offsets);
                    if done.offsets.count() > 0 {
                        self.membership.confirmed(sent_at);
                    }
                    self.committed(done.events, done.started)
                }
                Err(e) if not_a_member(&e) => {
                    // The group has moved on without this instance: the batches after this
                    // one must not reach the changelog.
                    return Err(ProcessError::Fenced(e));
                }
                Err(e) if group_changing(&e) => {
                    // Its changelog is written: the state is safe, and the events are read
                    // again only if the partition moves (changing nothing, as their effects
                    // are recorded); a later commit covers them otherwise.
                    tracing::warn!(error = %e, events = done.events, "input offsets not committed: the group is rebalancing");
                    self.metrics
                        .batches
                        .with_label_values(&["uncommitted"])
                        .inc();
                }
                Err(e) => return Err(ProcessError::Commit(e)),
            }
            if block && self.in_flight.len() <= target {
                return Ok(());
            }
        }
        Ok(())
    }

    /// Commits the current batch and waits until every batch is committed (revocation,
    /// shutdown).
    pub fn drain<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), ProcessError> {
        self.commit(consumer)?;
        while !self.in_flight.is_empty() {
            self.advance(consumer, true)?;
        }
        Ok(())
    }

    /// `exactly_once`: aborts the open transaction and rewinds every assigned partition to
    /// its committed offset, restoring its state again from the changelog.
    pub fn abort_and_rewind<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), ProcessError> {
        self.drop_uncommitted()?;
        self.stats.aborts += 1;
        self.metrics.batches.with_label_values(&["aborted"]).inc();
        self.rewind_to_committed(consumer)?;
        tracing::warn!(partitions = ?self.pending, "transaction aborted; input rewound to the last commit");
        Ok(())
    }

    /// Drops what is not committed: the staged records (they must not go out with a later
    /// batch), the open transaction (aborted), the batch being built, the batches waiting
    /// for their commit, and the delivery failures reported so far. Errs if the abort failed.
    fn drop_uncommitted(&mut self) -> Result<(), ProcessError> {
        self.sink.discard_staged();
        let aborted = match std::mem::take(&mut self.in_transaction) {
            true => self
                .sink
                .producer
                .abort_transaction(self.settings.timeout)
                .map_err(ProcessError::Transaction),
            false => Ok(()),
        };
        let _ = self.sink.take_failures();
        self.batch.reset();
        self.records.clear();
        self.in_flight.clear();
        aborted
    }

    /// Seeks every partition held to its committed input offset and forgets its state, to
    /// be restored again from the changelog before its events are handled: what was read
    /// since the last commit is read and applied again. Returns the partitions rewound.
    fn rewind_to_committed<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<Vec<i32>, ProcessError> {
        let held: Vec<i32> = self
            .partitions
            .keys()
            .chain(self.pending.iter())
            .copied()
            .collect();
        if held.is_empty() {
            return Ok(held);
        }
        let committed = consumer
            .committed(self.settings.timeout)
            .map_err(ProcessError::Commit)?;
        let input = self.settings.topics.input.clone();
        for &p in &held {
            let offset = committed
                .find_partition(&input, p)
                .map(|e| e.offset())
                .filter(|o| matches!(o, Offset::Offset(_)))
                .unwrap_or(Offset::Beginning);
            consumer
                .seek(&input, p, offset, self.settings.timeout)
                .map_err(ProcessError::Commit)?;
            self.drop_partition(p);
            self.pending.insert(p);
        }
        self.publish_partitions();
        Ok(held)
    }
}
