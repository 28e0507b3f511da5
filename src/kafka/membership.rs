//! Fencing for `at_least_once` without broker transactions: this instance writes outputs and
//! changelog records for its partitions only while its group membership is confirmed.
//!
//! A paused process (SIGSTOP, a long GC-like stall, a VM freeze) or one cut off from the
//! group coordinator is removed from the group after `session.timeout.ms`, and its partitions
//! go to another instance, but it learns of this only when librdkafka next talks to the
//! coordinator. Until then it would go on writing. So a confirmation counts for a *lease* of
//! half the session timeout, timed from the moment its request was sent: an assignment, or
//! an offset commit the group accepted (a commit carries the member id and generation, and
//! the coordinator refuses it from a member it has removed). Before writing, the processor
//! asks [`Membership::ensure`]; past the lease it commits the last committed offsets again,
//! which changes nothing but confirms the membership, or fails with the group's refusal
//! (the processor's `ProcessError::Fenced`). A pause longer than the session timeout always outlasts the
//! lease, so the first write after it waits for a confirmation that the group refuses.
//!
//! What a lease cannot stop (records already handed to librdkafka before the pause, sent
//! after it) is kept out of the restored state by owner epochs (see `codec::OwnerEpoch`).

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

/// An offset commit refused because the group no longer knows this instance (removed after
/// its session timed out, or fenced by another with its instance id): its partitions may
/// belong to another instance now. (`IllegalGeneration` is not that: the coordinator knows
/// the member, whose generation is behind a rebalance under way; its partitions go to no one
/// else before it has rejoined and revoked them, or been removed, after which its commits get
/// `UnknownMemberId`.)
pub fn not_a_member(e: &KafkaError) -> bool {
    use rdkafka::error::RDKafkaErrorCode as Code;
    matches!(
        e.rdkafka_error_code(),
        Some(Code::UnknownMemberId | Code::AssignmentLost | Code::FencedInstanceId)
    )
}

/// A refusal that only a member the coordinator knows gets.
fn known_member(e: &KafkaError) -> bool {
    use rdkafka::error::RDKafkaErrorCode as Code;
    matches!(
        e.rdkafka_error_code(),
        Some(Code::RebalanceInProgress | Code::IllegalGeneration)
    )
}

/// librdkafka's default `session.timeout.ms`.
const DEFAULT_SESSION_TIMEOUT_MS: u64 = 45_000;

/// The lease for a consumer configured with these librdkafka settings: half its session
/// timeout.
pub fn lease_for(librdkafka: &BTreeMap<String, String>) -> Duration {
    let session = librdkafka
        .get("session.timeout.ms")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(DEFAULT_SESSION_TIMEOUT_MS);
    Duration::from_millis(session / 2)
}

/// This instance's last confirmed membership and the offsets it can re-commit to confirm it.
#[derive(Debug)]
pub struct Membership {
    lease: Duration,
    confirmed_at: Option<Instant>,
    /// Per partition held: the input offset last committed (0 where none was).
    committed: BTreeMap<i32, i64>,
    /// Confirmations that needed a round trip (for tests and the log).
    pub confirmations: u64,
}

impl Membership {
    pub fn new(lease: Duration) -> Membership {
        Membership {
            lease,
            confirmed_at: None,
            committed: BTreeMap::new(),
            confirmations: 0,
        }
    }

    /// The group has just (re)confirmed the membership, at `since` or later.
    pub fn confirmed(&mut self, since: Instant) {
        self.confirmed_at = Some(self.confirmed_at.map_or(since, |t| t.max(since)));
    }

    /// A partition is held from now on, with its committed offset (`None`: nothing
    /// committed yet, so re-committing its start changes nothing).
    pub fn hold(&mut self, partition: i32, committed: Option<i64>) {
        self.committed.insert(partition, committed.unwrap_or(0));
    }

    pub fn release(&mut self, partition: i32) {
        self.committed.remove(&partition);
    }

    /// Offsets the group accepted.
    pub fn committed_offsets(&mut self, offsets: &TopicPartitionList) {
        for e in offsets.elements() {
            if let (Offset::Offset(o), Some(slot)) =
                (e.offset(), self.committed.get_mut(&e.partition()))
            {
                *slot = o;
            }
        }
    }

    /// Whether the lease still holds at `now`.
    pub fn holds(&self, now: Instant) -> bool {
        self.confirmed_at
            .is_some_and(|t| now.saturating_duration_since(t) < self.lease)
    }

    /// Ok while the lease holds; otherwise confirms the membership with a commit of the
    /// offsets already committed (a round trip). Fails with the group's refusal when
    /// the group refuses it: nothing may be written for the partitions held.
    pub fn ensure<C: ConsumerContext>(
        &mut self,
        consumer: &BaseConsumer<C>,
        topic: &str,
    ) -> Result<(), KafkaError> {
        let now = Instant::now();
        if self.holds(now) || self.committed.is_empty() {
            return Ok(());
        }
        let mut tpl = TopicPartitionList::new();
        for (&p, &o) in &self.committed {
            tpl.add_partition_offset(topic, p, Offset::Offset(o))?;
        }
        self.confirmations += 1;
        match consumer.commit(&tpl, CommitMode::Sync) {
            Ok(()) => {
                self.confirmed(now);
                tracing::debug!(partitions = ?self.committed.keys().collect::<Vec<_>>(), "group membership confirmed");
                Ok(())
            }
            // The coordinator answers these only to a member it knows: a rebalance is under
            // way (or just moved the generation on), and until this member has rejoined and
            // revoked them, the partitions it holds are nobody else's.
            Err(e) if !not_a_member(&e) && known_member(&e) => {
                self.confirmed(now);
                Ok(())
            }
            Err(e) => {
                self.confirmed_at = None;
                Err(e)
            }
        }
    }

    /// Reads the committed input offsets of `partitions` (assigned to this member), in one
    /// round trip; a partition with none committed is left out.
    pub fn fetch_committed<C: ConsumerContext>(
        consumer: &BaseConsumer<C>,
        topic: &str,
        partitions: &BTreeSet<i32>,
        timeout: Duration,
    ) -> Result<BTreeMap<i32, i64>, KafkaError> {
        let mut tpl = TopicPartitionList::new();
        for &p in partitions {
            tpl.add_partition(topic, p);
        }
        let committed = consumer.committed_offsets(tpl, timeout)?;
        Ok(committed
            .elements_for_topic(topic)
            .iter()
            .filter_map(|e| match e.offset() {
                Offset::Offset(o) => Some((e.partition(), o)),
                _ => None,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_is_half_the_session_timeout_and_ends() {
        let mut settings = BTreeMap::new();
        assert_eq!(lease_for(&settings), Duration::from_millis(22_500));
        settings.insert("session.timeout.ms".to_string(), "6000".to_string());
        let lease = lease_for(&settings);
        assert_eq!(lease, Duration::from_millis(3000));
        let mut m = Membership::new(lease);
        let t0 = Instant::now();
        assert!(!m.holds(t0), "no confirmation yet");
        m.confirmed(t0);
        assert!(m.holds(t0 + Duration::from_millis(2999)));
        assert!(
            !m.holds(t0 + Duration::from_millis(3000)),
            "a pause past the lease"
        );
        // An older confirmation never moves the lease back.
        m.confirmed(t0 - Duration::from_secs(10));
        assert!(m.holds(t0 + Duration::from_millis(2999)));
    }
}
