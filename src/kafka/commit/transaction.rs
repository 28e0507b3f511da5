//! `exactly_once`: a batch's outputs, dead letters, changelog records and input offsets go in
//! one producer transaction, committed when the batch ends. An instance that lost its
//! partitions cannot commit (the broker fences its transactional id); after any failure the
//! transaction is aborted and the input rewound to the last commit (see the processor's
//! `abort_and_rewind`).

use std::time::Instant;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::producer::Producer;

use super::super::error::ProcessError;
use super::{ChangelogRecord, Outbound};

#[derive(Debug)]
pub struct Transaction {
    pub out: Outbound,
    /// A transaction is open (begun with the batch's first record).
    open: bool,
}

impl Transaction {
    pub fn new(out: Outbound) -> Transaction {
        Transaction { out, open: false }
    }

    /// Begins the transaction if none is open, and the batch.
    pub fn begin(&mut self) -> Result<(), ProcessError> {
        if !self.open {
            self.out
                .sink
                .producer
                .begin_transaction()
                .map_err(ProcessError::Transaction)?;
            self.open = true;
        }
        self.out.open_batch();
        Ok(())
    }

    /// Commits the batch: its changelog records and offsets join its outputs in the
    /// transaction, which commits. On error the caller aborts and rewinds, or stops.
    pub fn end_batch<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        changelog: Vec<ChangelogRecord>,
    ) -> Result<(), ProcessError> {
        // The commit waits inside librdkafka: no queries are answered meanwhile.
        let timeout = self.out.timeout;
        // Every output record in the producer, and so in the transaction, before it commits.
        self.out.sink.settle(timeout)?;
        let offsets = self.out.offsets()?;
        let events = self.out.batch().events;
        let started = Instant::now();
        let seq = self.out.seq();
        self.out.send_changelog(&changelog, seq);
        self.out.sink.settle(timeout)?;
        if offsets.count() > 0 {
            let cgm = consumer
                .group_metadata()
                .ok_or(ProcessError::NoGroupMetadata)?;
            self.out
                .sink
                .producer
                .send_offsets_to_transaction(&offsets, &cgm, timeout)
                .map_err(ProcessError::Transaction)?;
        }
        self.out
            .sink
            .producer
            .commit_transaction(timeout)
            .map_err(ProcessError::Transaction)?;
        self.out.sink.take_failures()?;
        self.open = false;
        self.out.next_batch();
        self.out.committed(events, started);
        Ok(())
    }

    /// Drops the staged records, aborts the open transaction, forgets the batch and the
    /// delivery failures reported so far. Errs if the abort failed.
    pub fn drop_uncommitted(&mut self) -> Result<(), ProcessError> {
        self.out.sink.discard_staged();
        let aborted = match std::mem::take(&mut self.open) {
            true => self
                .out
                .sink
                .producer
                .abort_transaction(self.out.timeout)
                .map_err(ProcessError::Transaction),
            false => Ok(()),
        };
        let _ = self.out.sink.take_failures();
        self.out.reset_batch();
        aborted
    }
}
