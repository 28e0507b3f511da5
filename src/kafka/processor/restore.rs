//! Taking partitions over: restoring each newly assigned partition's state from the
//! changelog, and (`at_least_once`) claiming it with a new owner epoch.

use rdkafka::consumer::{BaseConsumer, ConsumerContext};

use super::super::changelog::restore;
use super::super::codec::{OwnerEpoch, PARTITION_META_KEY, PartitionMeta, encode_meta};
use super::super::commit::{ChangelogRecord, Commit};
use super::super::members::MemberRecord;
use super::super::membership::Membership;
use super::super::outbox::Envelope;
use super::super::outputs::Output;
use super::{Partition, ProcessError, Processor};
use crate::config::ClockSource;
use crate::domain::record_schema::SchemaVersion;
use crate::domain::{ClockMode, Engine};

impl Processor {
    /// Restores every newly assigned partition from the changelog; `at_least_once` then
    /// claims it (see `claim`).
    pub fn restore_pending<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), ProcessError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let committed = match self.commit {
            Commit::AtLeastOnce(_) => Membership::fetch_committed(
                consumer,
                &self.settings.topics.input,
                &self.pending,
                self.settings.timeout,
            )
            .map_err(ProcessError::Fenced)?,
            Commit::ExactlyOnce(_) => Default::default(),
        };
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
            if let Some(membership) = self.commit.membership() {
                membership.hold(p, committed.get(&p).copied());
            }
            let epoch = match self.commit {
                Commit::AtLeastOnce(_) => self.claim(consumer, p, &meta, stats.max_epoch)?,
                // Transactions fence a stale writer (its transaction cannot commit).
                Commit::ExactlyOnce(_) => meta.epoch.max(stats.max_epoch),
            };
            self.stats.restored_customers += stats.customers as u64;
            self.metrics.restore_records.inc_by(stats.records);
            for c in engine.customers() {
                self.metrics.customers_in(c.stage).inc();
            }
            self.partitions.insert(
                p,
                Partition::restored(engine, &meta, epoch, self.settings.voc_max_features),
            );
            self.pending.remove(&p);
            self.publish_owner(p, epoch)?;
            self.publish_partitions();
        }
        Ok(())
    }

    /// Tells the other instances, through the members topic, that this one gives up every
    /// partition it holds (a clean shutdown): they answer 503 for them, not a redirect here,
    /// until their next owner says so. Staged with the last batch.
    pub fn release_ownership(&mut self) -> Result<(), ProcessError> {
        let held: Vec<(i32, OwnerEpoch)> = self
            .partitions
            .iter()
            .map(|(p, part)| (*p, part.epoch))
            .collect();
        for (p, epoch) in held {
            self.publish_member(MemberRecord {
                partition: p,
                url: self.settings.advertised_url.clone(),
                epoch,
                released: true,
                schema_version: SchemaVersion,
            })?;
        }
        Ok(())
    }

    /// Tells the other instances, through the members topic, that this one owns `p` now
    /// (SPEC 9): staged with the current batch's outputs.
    fn publish_owner(&mut self, p: i32, epoch: OwnerEpoch) -> Result<(), ProcessError> {
        self.publish_member(MemberRecord {
            partition: p,
            url: self.settings.advertised_url.clone(),
            epoch,
            released: false,
            schema_version: SchemaVersion,
        })
    }

    fn publish_member(&mut self, record: MemberRecord) -> Result<(), ProcessError> {
        let (p, epoch) = (record.partition, record.epoch);
        let value = serde_json::to_vec(&record).unwrap_or_default();
        let key = record.key();
        self.commit.begin()?;
        self.commit.stage(
            Envelope {
                topic: Output::Members,
                partition: None,
                key: Some(key.as_bytes()),
                headers: None,
                timestamp_ms: None,
                batch: 0,
            },
            Some(|buf: &mut Vec<u8>| buf.extend_from_slice(&value)),
        );
        tracing::debug!(
            partition = p,
            epoch,
            released = record.released,
            "published to the members topic"
        );
        Ok(())
    }

    /// Takes partition `p` over in its changelog: once the membership is confirmed, writes a
    /// progress record with an owner epoch above every epoch the restore saw. From there on a
    /// restore applies no record of an earlier owner (see `changelog_apply`). Returns the
    /// epoch claimed.
    fn claim<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        p: i32,
        restored: &PartitionMeta,
        max_epoch: OwnerEpoch,
    ) -> Result<OwnerEpoch, ProcessError> {
        let epoch = restored.epoch.max(max_epoch) + 1;
        let claim = ChangelogRecord {
            partition: p,
            key: PARTITION_META_KEY.into(),
            payload: Some(encode_meta(&PartitionMeta {
                epoch,
                ..restored.clone()
            })),
            tombstone_epoch: None,
        };
        if let Commit::AtLeastOnce(pipeline) = &mut self.commit {
            pipeline.claim(consumer, claim)?;
        }
        tracing::info!(partition = p, epoch, "partition claimed in the changelog");
        Ok(epoch)
    }
}
