//! One instance's processing state: an engine per assigned input partition, fed the input
//! messages, whose records it stages with the commit protocol of the configured guarantee
//! ([`Commit`]). The shape replay has: messages in, records out; what makes them durable is
//! the protocol's business.

mod answers;
mod changelog_out;
mod feedback;
mod restore;
mod routing;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::message::BorrowedMessage;
use rdkafka::{ClientConfig, Message, Offset, TopicPartitionList};

use super::codec::OwnerEpoch;
pub use super::commit::MAX_IN_FLIGHT;
use super::commit::{Commit, Outbound};
pub use super::error::ProcessError;
use super::queries::QueryInbox;
use super::sink::Sink;
use crate::config::{ClockSource, Guarantee, KeyMismatch, Topics};
use crate::domain::uplift::Uplift;
use crate::domain::voc::Voc;
use crate::domain::{Engine, Event, EventHashes, Record, Rejection, Rules, Timestamp, decode};
use crate::health::Health;
use crate::metrics::Metrics;

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
    /// This instance's `http.advertised_url`, published as the owner of each partition it
    /// restores (SPEC 9).
    pub advertised_url: String,
    /// How many features the voice-of-the-customer counts keep by name.
    pub voc_max_features: usize,
    /// How CloudEvents on the input map to events (SPEC 11).
    pub cloudevents: crate::cloudevents::CloudEventsConfig,
    /// `ce_source` of the outputs' CloudEvents headers, when `output.cloudevents` is on.
    pub cloudevents_source: Option<String>,
}

/// Counters of this instance, for the run's report (the outcomes themselves are counted in
/// the metrics, see `tally`).
#[derive(Debug, Default, Clone)]
pub struct Stats {
    pub records_sent: u64,
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
    /// Its feedback answers and holdout counts (SPEC 10, `GET /voc`), whichever instance
    /// counted them: they travel in its progress record.
    counts: PartitionCounts,
}

/// A partition's voice-of-the-customer and holdout counts.
#[derive(Debug, Default)]
struct PartitionCounts {
    voc: Voc,
    uplift: Uplift,
}

impl Partition {
    /// The partition as its changelog left it.
    fn restored(
        engine: Engine,
        meta: &crate::kafka::codec::PartitionMeta,
        epoch: OwnerEpoch,
        voc_max_features: usize,
    ) -> Partition {
        let mut counts = PartitionCounts {
            voc: Voc::new(voc_max_features),
            uplift: Uplift::default(),
        };
        if let Some(stored) = &meta.voc {
            stored.add_to(&mut counts.voc, &mut counts.uplift);
        }
        Partition {
            engine,
            applied_offset: meta.applied_offset,
            epoch,
            counts,
        }
    }
}

#[derive(Debug)]
pub struct Processor {
    settings: Settings,
    commit: Commit,
    partitions: BTreeMap<i32, Partition>,
    /// Assigned partitions whose state is not restored yet.
    pending: BTreeSet<i32>,
    records: Vec<Record>,
    stats: Stats,
    metrics: Metrics,
    health: Arc<Health>,
    /// A step failed: nothing uncommitted may be committed any more, not even on the way out
    /// (the revocation when the consumer closes).
    failed: bool,
    /// Questions from the HTTP server, answered between polls and while commits wait.
    inbox: QueryInbox,
    /// Which features the metrics label by name (the first `voc.max_features` this instance
    /// sees: a bounded label set); the counts of `GET /voc` are the partitions'.
    feature_labels: Voc,
}

impl Processor {
    pub fn new(
        settings: Settings,
        sink: Sink,
        metrics: Metrics,
        health: Arc<Health>,
        inbox: QueryInbox,
    ) -> Processor {
        let out = Outbound::new(
            sink,
            settings.topics.input.clone(),
            settings.timeout,
            metrics.clone(),
        );
        let settings_voc = settings.voc_max_features;
        Processor {
            commit: Commit::new(settings.guarantee, out, settings.lease),
            metrics,
            health,
            settings,
            partitions: BTreeMap::new(),
            pending: BTreeSet::new(),
            records: Vec::new(),
            stats: Stats::default(),
            failed: false,
            inbox,
            feature_labels: Voc::new(settings_voc),
        }
    }

    /// A step failed: drops everything not committed and commits nothing more, so that the
    /// input of the failed batch is read again from the last commit by whoever owns it next.
    pub fn fail(&mut self) {
        self.failed = true;
        let _ = self.drop_uncommitted();
    }

    pub fn sink(&mut self) -> &mut Sink {
        &mut self.commit.out_mut().sink
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    /// What this instance did, for the run's report.
    pub fn stats(&self) -> Stats {
        Stats {
            batches: self.commit.out().batches_committed(),
            ..self.stats.clone()
        }
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
        if let Some(membership) = self.commit.membership() {
            membership.confirmed(Instant::now());
        }
        self.health.set_assigned();
        self.publish_partitions();
        tracing::info!(partitions = ?self.pending, "partitions assigned, restoring");
    }

    /// Partition gauges and readiness from the current assignment.
    fn publish_partitions(&self) {
        let assigned = self.partitions.len() + self.pending.len();
        let gauge = |state: &str| self.metrics.partitions.with_label_values(&[state]);
        gauge("assigned").set(assigned as i64);
        gauge("restoring").set(self.pending.len() as i64);
        self.publish_timers();
        self.health.set_restoring(self.pending.len());
    }

    fn publish_timers(&self) {
        self.metrics
            .timers_pending
            .set(self.pending_timers() as i64);
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
        if let Some(membership) = self.commit.membership() {
            membership.release(p);
        }
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

    /// Processes messages polled together, each run of one partition's messages through its
    /// engine's [`apply_batch`](Engine::apply_batch); ends the batch (see
    /// [`commit`](Self::commit)) whenever it reaches `max_batch_events`.
    pub fn handle_all<C: ConsumerContext>(
        &mut self,
        msgs: &[BorrowedMessage<'_>],
        now: Timestamp,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), ProcessError> {
        if msgs.is_empty() {
            return Ok(());
        }
        self.commit
            .ensure_member(consumer, &self.settings.topics.input)?;
        // CloudEvents first become the plain events they stand for (SPEC 11).
        let translated: Vec<Option<Result<String, Rejection>>> = msgs
            .iter()
            .map(|m| super::cloudevents_in::plain_event(m, &self.settings.cloudevents))
            .collect();
        // Decoded once, with the hashes the engine's prefetch and lookups both use.
        let decoded: Vec<(&BorrowedMessage<'_>, Decoded<'_>)> = msgs
            .iter()
            .zip(&translated)
            .map(|(m, translated)| {
                let event = match translated {
                    None => decode(m.payload().unwrap_or_default(), now),
                    // The record's own size was checked (SPEC 1); the plain event it stands
                    // for may be a little longer (`1e5` is `100000.0`).
                    Some(Ok(text)) => crate::domain::decode::decode_str(text, now),
                    Some(Err(rejection)) => Err(rejection.clone()),
                };
                let event = event.map(|e| {
                    let hashes = EventHashes::of(&e);
                    (e, hashes)
                });
                (m, event)
            })
            .collect();
        let mut rest = &decoded[..];
        while let Some((first, _)) = rest.first() {
            let p = first.partition();
            let room = self
                .settings
                .max_batch_events
                .saturating_sub(self.commit.out().batch().events)
                .max(1);
            let run = rest
                .iter()
                .take(room)
                .take_while(|(m, _)| m.partition() == p)
                .count();
            let (this, next) = rest.split_at(run);
            rest = next;
            self.handle_run(p, this, now)?;
            // Between runs too: a query waits for at most one run of messages.
            self.answer_waiting();
            if self.commit.out().batch().events >= self.settings.max_batch_events {
                self.commit(consumer)?;
            }
        }
        self.sink().dispatch();
        Ok(())
    }

    /// Handles messages of partition `p` in order (skipped when `p` is not restored here).
    fn handle_run(
        &mut self,
        p: i32,
        run: &[(&BorrowedMessage<'_>, Decoded<'_>)],
        now: Timestamp,
    ) -> Result<(), ProcessError> {
        let Some(mut part) = self.partitions.remove(&p) else {
            for (msg, _) in run {
                tracing::warn!(
                    partition = p,
                    offset = msg.offset(),
                    "message of a partition not assigned here; skipped"
                );
            }
            return Ok(());
        };
        let customer_of = |(_, d): &(&BorrowedMessage<'_>, Decoded<'_>)| match d {
            Ok((_, hashes)) => Some(hashes.customer),
            Err(_) => None,
        };
        let handled = part
            .engine
            .apply_batch(run, customer_of, |engine, (msg, decoded)| {
                let decoded = decoded.as_ref().map(|(e, h)| (e, *h));
                let state = (&mut part.applied_offset, &mut part.counts);
                self.handle(engine, state, msg, decoded, now)
            });
        self.partitions.insert(p, part);
        handled
    }

    /// Processes one decoded input message of a restored partition with its engine.
    fn handle(
        &mut self,
        engine: &mut Engine,
        (applied_offset, counts): (&mut Option<i64>, &mut PartitionCounts),
        msg: &BorrowedMessage,
        decoded: Result<(&Event<'_>, EventHashes), &Rejection>,
        now: Timestamp,
    ) -> Result<(), ProcessError> {
        let (p, offset) = (msg.partition(), msg.offset());
        self.commit.begin()?;
        self.commit.out_mut().count_message(p, offset);
        let event_type = decoded.as_ref().ok().and_then(|(e, _)| e.event_type());
        if applied_offset.is_some_and(|a| a >= offset) {
            crate::tally::event_handled(
                &mut self.metrics,
                event_type,
                crate::domain::Outcome::AlreadyApplied,
            );
            return Ok(());
        }
        *applied_offset = Some(offset);
        match decoded {
            Ok((event, _)) if msg.key() != Some(event.customer_id.as_bytes()) => {
                self.key_mismatch(msg, event, now);
            }
            Ok((event, hashes)) => {
                if self.settings.clock == ClockSource::Wall {
                    engine.advance_clock(now, &mut self.records);
                }
                let outcome = engine.apply_hashed(event, hashes, Some(offset), &mut self.records);
                crate::tally::event_handled(&mut self.metrics, event_type, outcome);
                if outcome == crate::domain::Outcome::Applied {
                    self.observe_feedback(engine, event, &mut counts.voc);
                }
                let lag = now.as_nanos().saturating_sub(event.occurred_at.as_nanos());
                if lag >= 0 {
                    self.metrics.event_time_lag.observe(lag as f64 / 1e9);
                }
            }
            Err(rejection) => self.dead_letter(msg, rejection, now),
        }
        self.emit(now, &mut counts.uplift);
        Ok(())
    }

    /// Fires the timers due by each partition's clock (the wall clock: `now`; the event clock:
    /// as it stands, for timers a late event armed overdue, which replay fires before its
    /// next line or at its end: so the answers to queries are replay's, SPEC 2 and 9).
    pub fn tick<C: ConsumerContext>(
        &mut self,
        now: Timestamp,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), ProcessError> {
        let wall = self.settings.clock == ClockSource::Wall;
        let due: Vec<(i32, Timestamp)> = self
            .partitions
            .iter()
            .filter_map(|(p, part)| {
                let clock = if wall { Some(now) } else { part.engine.clock() };
                let next = part.engine.next_timer()?;
                clock
                    .filter(|clock| next <= *clock)
                    .map(|clock| (*p, clock))
            })
            .collect();
        if due.is_empty() {
            if wall {
                self.sink().dispatch();
            }
            return Ok(());
        }
        self.commit
            .ensure_member(consumer, &self.settings.topics.input)?;
        for (p, clock) in due {
            self.commit.begin()?;
            let mut part = self.partitions.remove(&p).expect("listed above");
            part.engine.advance_clock(clock, &mut self.records);
            self.emit(now, &mut part.counts.uplift);
            self.partitions.insert(p, part);
        }
        self.sink().dispatch();
        Ok(())
    }

    /// The batch should end (see [`Outbound::batch_due`]).
    pub fn batch_due(&self, idle: bool) -> bool {
        self.commit.out().batch_due(
            idle,
            self.settings.commit_interval,
            self.settings.max_batch_events,
        )
    }

    /// Ends the current batch and hands it, with its changelog records, to the commit
    /// protocol. On error the caller decides (abort and rewind, or stop).
    pub fn commit<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), ProcessError> {
        if self.commit.out().batch().started.is_none() {
            return Ok(());
        }
        self.answer_waiting();
        let changelog = self.changelog_records();
        self.answer_waiting();
        let holdings = answers::Holdings {
            partitions: &self.partitions,
            pending: &self.pending,
            settings: &self.settings,
            inbox: &self.inbox,
        };
        self.commit
            .end_batch(consumer, changelog, &mut || holdings.answer_waiting())?;
        self.publish_timers();
        Ok(())
    }

    /// Moves ended batches along without waiting.
    pub fn advance<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), ProcessError> {
        self.commit.advance(consumer)
    }

    /// Commits the current batch and waits until every batch is committed (revocation,
    /// shutdown).
    pub fn drain<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), ProcessError> {
        self.commit(consumer)?;
        let holdings = answers::Holdings {
            partitions: &self.partitions,
            pending: &self.pending,
            settings: &self.settings,
            inbox: &self.inbox,
        };
        self.commit
            .wait_all(consumer, &mut || holdings.answer_waiting())
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

    /// Drops what is not committed (see [`Commit::drop_uncommitted`]), and the engine's
    /// records not staged yet.
    fn drop_uncommitted(&mut self) -> Result<(), ProcessError> {
        self.records.clear();
        self.commit.drop_uncommitted()
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
