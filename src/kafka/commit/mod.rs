//! The commit protocol of each guarantee: how a batch's outputs, changelog records and input
//! offsets become durable, and in which order.
//!
//! The processor turns messages into records and stages them here; at the batch's end it
//! hands over the changelog records (the state at the batch's end), and the protocol does the
//! rest: [`Pipeline`] for `at_least_once` (outputs, then changelog, then offsets, each step
//! once the one before is acknowledged, while the next batch is processed), [`Transaction`]
//! for `exactly_once` (everything, offsets included, in one producer transaction). Both own
//! the sink, the batch being built and its delivery sequence ([`Outbound`]); the pipeline
//! also owns the group membership it writes under (fencing, see `membership`).

mod outbound;
mod pipeline;
mod transaction;

use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, ConsumerContext};

pub use outbound::{Batch, ChangelogRecord, Outbound};
pub use pipeline::{MAX_IN_FLIGHT, Pipeline};
pub use transaction::Transaction;

use super::error::ProcessError;
use super::membership::Membership;
use super::outbox::Envelope;
use crate::config::Guarantee;

/// The protocol of the configured guarantee.
#[derive(Debug)]
pub enum Commit {
    AtLeastOnce(Pipeline),
    ExactlyOnce(Transaction),
}

impl Commit {
    /// The protocol for `guarantee`, writing through `out`; `lease` is how long a membership
    /// confirmation counts (`at_least_once`).
    pub fn new(guarantee: Guarantee, out: Outbound, lease: Duration) -> Commit {
        match guarantee {
            Guarantee::AtLeastOnce => Commit::AtLeastOnce(Pipeline::new(out, lease)),
            Guarantee::ExactlyOnce => Commit::ExactlyOnce(Transaction::new(out)),
        }
    }

    pub fn out(&self) -> &Outbound {
        match self {
            Commit::AtLeastOnce(p) => &p.out,
            Commit::ExactlyOnce(t) => &t.out,
        }
    }

    pub fn out_mut(&mut self) -> &mut Outbound {
        match self {
            Commit::AtLeastOnce(p) => &mut p.out,
            Commit::ExactlyOnce(t) => &mut t.out,
        }
    }

    /// The group membership the pipeline writes under (`exactly_once` has none: its
    /// transactions fence a stale writer).
    pub fn membership(&mut self) -> Option<&mut Membership> {
        match self {
            Commit::AtLeastOnce(p) => Some(&mut p.membership),
            Commit::ExactlyOnce(_) => None,
        }
    }

    /// Opens the batch (and the transaction) if not open yet.
    pub fn begin(&mut self) -> Result<(), ProcessError> {
        match self {
            Commit::AtLeastOnce(p) => {
                p.out.open_batch();
                Ok(())
            }
            Commit::ExactlyOnce(t) => t.begin(),
        }
    }

    /// Stages one record for the current batch (see [`Outbound::stage`]).
    pub fn stage(&mut self, envelope: Envelope<'_>, encode: Option<impl FnOnce(&mut Vec<u8>)>) {
        self.out_mut().stage(envelope, encode);
    }

    /// Nothing is written for the partitions held unless the group membership is confirmed
    /// (`at_least_once`; see [`Membership`]).
    pub fn ensure_member<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        input: &str,
    ) -> Result<(), ProcessError> {
        match self {
            Commit::AtLeastOnce(p) => p.ensure_member(consumer, input),
            Commit::ExactlyOnce(_) => Ok(()),
        }
    }

    /// Ends the current batch with its changelog records; see each protocol's `end_batch`.
    /// `waiting` is called while the protocol waits for the broker (the loop answers queries
    /// there).
    pub fn end_batch<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        changelog: Vec<ChangelogRecord>,
        waiting: &mut dyn FnMut(),
    ) -> Result<(), ProcessError> {
        tracing::debug!(
            events = self.out().batch().events,
            changelog = changelog.len(),
            "batch ended; committing once its records are delivered"
        );
        match self {
            Commit::AtLeastOnce(p) => p.end_batch(consumer, changelog, waiting),
            Commit::ExactlyOnce(t) => t.end_batch(consumer, changelog),
        }
    }

    /// Moves ended batches along without waiting (`at_least_once`; a transaction is done
    /// when its batch ends).
    pub fn advance<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
    ) -> Result<(), ProcessError> {
        match self {
            Commit::AtLeastOnce(p) => p.advance(consumer, false, &mut || {}),
            Commit::ExactlyOnce(_) => Ok(()),
        }
    }

    /// Waits until every ended batch is committed.
    pub fn wait_all<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        waiting: &mut dyn FnMut(),
    ) -> Result<(), ProcessError> {
        match self {
            Commit::AtLeastOnce(p) => p.wait_all(consumer, waiting),
            Commit::ExactlyOnce(_) => Ok(()),
        }
    }

    /// Drops what is not committed: the staged records, the open transaction (aborted), the
    /// batch being built, the batches waiting for their commit, and the delivery failures
    /// reported so far. Errs if the abort failed.
    pub fn drop_uncommitted(&mut self) -> Result<(), ProcessError> {
        match self {
            Commit::AtLeastOnce(p) => {
                p.drop_uncommitted();
                Ok(())
            }
            Commit::ExactlyOnce(t) => t.drop_uncommitted(),
        }
    }
}
