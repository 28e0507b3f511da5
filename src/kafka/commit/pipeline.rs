//! `at_least_once`: a batch is committed in three steps, each once the one before is
//! acknowledged, while the next batch is processed. Outputs and dead letters are delivered;
//! then the changelog (every customer the batch touched, then each partition's progress
//! record); then the input offsets. A crash between steps re-delivers events whose effects
//! are already in the changelog; the partition's applied offset and each customer's last
//! offset make them change nothing, and outputs re-sent before the crash are identical.
//! Nothing reaches the changelog unless the group membership is confirmed (fencing).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rdkafka::TopicPartitionList;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;

use super::super::error::ProcessError;
use super::super::membership::{Membership, not_a_member};
use super::super::sink::SinkError;
use super::{ChangelogRecord, Outbound};

/// Batches that may wait for acknowledgement while the next one is processed.
pub const MAX_IN_FLIGHT: usize = 2;

/// An ended batch whose outputs or changelog are not acknowledged yet.
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

#[derive(Debug)]
pub struct Pipeline {
    pub out: Outbound,
    in_flight: VecDeque<InFlight>,
    /// The group membership's last confirmation: nothing is written without one.
    pub membership: Membership,
}

impl Pipeline {
    pub fn new(out: Outbound, lease: Duration) -> Pipeline {
        Pipeline {
            out,
            in_flight: VecDeque::new(),
            membership: Membership::new(lease),
        }
    }

    pub fn ensure_member<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        input: &str,
    ) -> Result<(), ProcessError> {
        self.membership
            .ensure(consumer, input)
            .map_err(ProcessError::Fenced)
    }

    /// Writes a partition's claim (a progress record with a new owner epoch) with the
    /// current batch's outputs, once the membership is confirmed.
    ///
    /// It is not waited for: the idempotent producer keeps a partition's records in order, so
    /// it lands before anything this owner writes there, and it counts among the current
    /// batch's outputs, whose changelog and offsets wait for them (waiting here cost the first
    /// assignment ~0.35 s: the producer's first delivery).
    pub fn claim<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        claim: ChangelogRecord,
    ) -> Result<(), ProcessError> {
        let input = self.out.input().to_owned();
        self.ensure_member(consumer, &input)?;
        self.out.open_batch();
        let seq = self.out.seq();
        self.out.send_changelog(std::slice::from_ref(&claim), seq);
        Ok(())
    }

    /// Ends the current batch: its changelog goes out once its outputs are acknowledged, its
    /// offsets are committed once its changelog is, and processing goes on meanwhile (see
    /// [`advance`](Self::advance)); at most [`MAX_IN_FLIGHT`] batches wait.
    pub fn end_batch<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        changelog: Vec<ChangelogRecord>,
        waiting: &mut dyn FnMut(),
    ) -> Result<(), ProcessError> {
        self.out.sink.dispatch();
        let batch = self.out.batch();
        let (events, started) = (batch.events, batch.started.unwrap_or_else(Instant::now));
        let offsets = self.out.offsets()?;
        let seq = self.out.seq();
        self.in_flight.push_back(InFlight {
            outputs: seq,
            changelog_seq: seq + 1,
            changelog: Some(changelog),
            offsets,
            events,
            started,
        });
        self.out.next_batch();
        self.advance(consumer, false, waiting)?;
        while self.in_flight.len() > MAX_IN_FLIGHT {
            self.advance(consumer, true, waiting)?;
        }
        Ok(())
    }

    /// Moves waiting batches along: changelog after acknowledged outputs, offset commit after
    /// the acknowledged changelog. With `block`, waits until the oldest batch is fully
    /// committed, calling `waiting` in between (the loop answers queries there: a full
    /// pipeline can wait several milliseconds).
    pub fn advance<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        block: bool,
        waiting: &mut dyn FnMut(),
    ) -> Result<(), ProcessError> {
        let timeout = self.out.timeout;
        let deadline = Instant::now() + timeout;
        let target = self.in_flight.len().saturating_sub(1);
        while let Some(front) = self.in_flight.front_mut() {
            self.out.sink.take_failures()?;
            let waiting_for = match front.changelog {
                Some(_) => front.outputs,
                None => front.changelog_seq,
            };
            if self.out.sink.in_flight(waiting_for) > 0 {
                if !block {
                    return Ok(());
                }
                if Instant::now() > deadline {
                    return Err(SinkError::Delivery(format!(
                        "records not acknowledged within {timeout:?}"
                    ))
                    .into());
                }
                waiting();
                std::thread::sleep(Duration::from_micros(200));
                continue;
            }
            if front.changelog.is_some() {
                // Nothing of it may reach the changelog unless the partitions are still ours.
                let input = self.out.input().to_owned();
                self.ensure_member(consumer, &input)?;
                let front = self.in_flight.front_mut().expect("front exists");
                let records = front.changelog.take().expect("checked above");
                let seq = front.changelog_seq;
                self.out.send_changelog(&records, seq);
                continue;
            }
            let done = self.in_flight.pop_front().expect("front exists");
            self.commit_offsets(consumer, done)?;
            if block && self.in_flight.len() <= target {
                return Ok(());
            }
        }
        Ok(())
    }

    /// The last step of a batch whose changelog is acknowledged.
    fn commit_offsets<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        done: InFlight,
    ) -> Result<(), ProcessError> {
        let sent_at = Instant::now();
        let result = match done.offsets.count() {
            0 => Ok(()),
            _ => consumer.commit(&done.offsets, CommitMode::Sync),
        };
        match result {
            Ok(()) => {
                self.membership.committed_offsets(&done.offsets);
                if done.offsets.count() > 0 {
                    self.membership.confirmed(sent_at);
                }
                self.out.committed(done.events, done.started);
                Ok(())
            }
            // The group has moved on without this instance: the batches after this one must
            // not reach the changelog.
            Err(e) if not_a_member(&e) => Err(ProcessError::Fenced(e)),
            Err(e) if group_changing(&e) => {
                // Its changelog is written: the state is safe, and the events are read again
                // only if the partition moves (changing nothing, as their effects are
                // recorded); a later commit covers them otherwise.
                tracing::warn!(error = %e, events = done.events, "input offsets not committed: the group is rebalancing");
                self.out.uncommitted();
                Ok(())
            }
            Err(e) => Err(ProcessError::Commit(e)),
        }
    }

    /// Waits until every ended batch is committed (revocation, shutdown).
    pub fn wait_all<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        waiting: &mut dyn FnMut(),
    ) -> Result<(), ProcessError> {
        while !self.in_flight.is_empty() {
            self.advance(consumer, true, waiting)?;
        }
        Ok(())
    }

    /// Drops the staged records, the batch being built, the batches waiting for their commit
    /// and the delivery failures reported so far.
    pub fn drop_uncommitted(&mut self) {
        self.out.sink.discard_staged();
        let _ = self.out.sink.take_failures();
        self.out.reset_batch();
        self.in_flight.clear();
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
