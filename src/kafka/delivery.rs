//! The producer's context: delivery reports counted per batch, and the first failures kept,
//! so that the sink can tell when a batch's records have all arrived (or why not).

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{ProducerContext, ThreadedProducer};

/// Counts records in flight per batch (the delivery opaque is the batch's sequence number)
/// and collects the first delivery failures.
#[derive(Debug)]
pub struct DeliveryContext {
    pub(super) failures: Mutex<Vec<String>>,
    /// The first record that could not even be enqueued (by the sending thread), kept with
    /// its error so that a fatal one (fencing) is told apart.
    pub(super) enqueue_failure: Mutex<Option<(String, KafkaError)>>,
    /// Records enqueued and not yet reported, per batch sequence number modulo
    /// [`COUNTER_SLOTS`]: an atomic add per record instead of a lock and a map lookup (both
    /// showed in the profile of the processing thread). Sequences that far apart are never
    /// in flight together (a few batches are); if they were, a count would only be too high,
    /// so a batch would wait longer, never be taken as delivered early.
    in_flight: [AtomicU64; COUNTER_SLOTS],
}

const COUNTER_SLOTS: usize = 64;

impl Default for DeliveryContext {
    fn default() -> DeliveryContext {
        DeliveryContext {
            failures: Mutex::default(),
            enqueue_failure: Mutex::default(),
            in_flight: [const { AtomicU64::new(0) }; COUNTER_SLOTS],
        }
    }
}

impl DeliveryContext {
    pub(super) fn counter(&self, batch: usize) -> &AtomicU64 {
        &self.in_flight[batch % COUNTER_SLOTS]
    }

    /// One record of `batch` is no longer in flight (delivered, failed or dropped).
    /// Saturating: a producer may send records it does not count (the benchmark's pipe).
    pub(super) fn done(&self, batch: usize) {
        let _ = self
            .counter(batch)
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// A record of `batch` for `topic` was refused by the producer: it is no longer in
    /// flight, and [`Sink::take_failures`](super::sink::Sink::take_failures) reports the first such error.
    pub fn enqueue_failed(&self, batch: usize, topic: &str, error: KafkaError) {
        self.done(batch);
        let mut first = self
            .enqueue_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        first.get_or_insert_with(|| (topic.to_owned(), error));
    }
}

impl ClientContext for DeliveryContext {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "producer client error");
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, batch: usize) {
        self.done(batch);
        if let Err((error, message)) = result {
            let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
            if failures.len() < 16 {
                use rdkafka::Message;
                failures.push(format!("{}: {error}", message.topic()));
            }
        }
    }
}

/// A producer whose delivery reports are served by its own thread, so transactional calls
/// (which wait for outstanding deliveries) never wait on the processing loop.
pub type KafkaProducer = ThreadedProducer<DeliveryContext>;
