//! The producer side: one idempotent (or transactional) producer for outputs, changelog and
//! dead letters, with delivery failures collected so a batch can tell whether everything
//! it sent arrived.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::error::KafkaError;
use rdkafka::message::DeliveryResult;
use rdkafka::producer::{Producer, ProducerContext, ThreadedProducer};

use super::outbox::{Envelope, Outbox, Sending, SendingThread};
use super::topic_handles::TopicHandles;

/// Counts records in flight per batch (the delivery opaque is the batch's sequence number)
/// and collects the first delivery failures.
#[derive(Debug)]
pub struct DeliveryContext {
    failures: Mutex<Vec<String>>,
    /// The first record that could not even be enqueued (by the sending thread), kept with
    /// its error so that a fatal one (fencing) is told apart.
    enqueue_failure: Mutex<Option<(String, KafkaError)>>,
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
    fn counter(&self, batch: usize) -> &AtomicU64 {
        &self.in_flight[batch % COUNTER_SLOTS]
    }

    /// One record of `batch` is no longer in flight (delivered, failed or dropped).
    /// Saturating: a producer may send records it does not count (the benchmark's pipe).
    fn done(&self, batch: usize) {
        let _ = self
            .counter(batch)
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// A record of `batch` for `topic` was refused by the producer: it is no longer in
    /// flight, and [`Sink::take_failures`] reports the first such error.
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

/// Why a batch could not be delivered.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("could not enqueue a record for {topic}: {source}")]
    Enqueue {
        topic: String,
        #[source]
        source: KafkaError,
    },
    #[error("records were not delivered: {0}")]
    Delivery(String),
    #[error("flushing the producer timed out or failed: {0}")]
    Flush(#[source] KafkaError),
}

pub struct Sink {
    pub producer: Arc<KafkaProducer>,
    /// Output records, staged and sent in groups (see [`outbox`](super::outbox)).
    outbox: Outbox,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink").finish_non_exhaustive()
    }
}

impl Sink {
    /// A sink whose staged records go to `topics` (indexed by [`Envelope::topic`]), enqueued
    /// by a sending thread when `background`, else by the caller.
    pub fn new(
        producer: KafkaProducer,
        topics: Vec<String>,
        background: bool,
    ) -> std::io::Result<Sink> {
        let producer = Arc::new(producer);
        let topics = Arc::new(TopicHandles::new(producer.clone(), topics));
        let sending = match background {
            true => Sending::Thread(SendingThread::start(producer.clone(), topics.clone())?),
            false => Sending::Inline,
        };
        Ok(Sink {
            outbox: Outbox::new(producer.clone(), topics, sending),
            producer,
        })
    }

    /// Stages a record, counted in flight for its batch from now; `encode` appends its
    /// payload (`None`: a tombstone). Staged records go out in groups: call
    /// [`dispatch`](Self::dispatch) when a piece of work is done.
    pub fn stage(&mut self, envelope: Envelope<'_>, encode: Option<impl FnOnce(&mut Vec<u8>)>) {
        self.producer
            .context()
            .counter(envelope.batch)
            .fetch_add(1, Ordering::AcqRel);
        self.outbox.push(envelope, encode);
    }

    /// Sends the staged records on their way.
    pub fn dispatch(&mut self) {
        self.outbox.dispatch();
    }

    /// Drops the staged records (their batch is being aborted).
    pub fn discard_staged(&mut self) {
        let context = self.producer.context();
        self.outbox.discard(|batch| context.done(batch));
    }

    /// Dispatches and waits until every staged record is in the producer (before a
    /// transaction's commit or abort, or a flush).
    pub fn settle(&mut self, timeout: Duration) -> Result<(), SinkError> {
        match self.outbox.settle(timeout) {
            true => Ok(()),
            false => Err(SinkError::Delivery(format!(
                "records not handed to the producer within {timeout:?}"
            ))),
        }
    }

    /// Records of `batch` not yet acknowledged (or failed), staged ones included (this
    /// dispatches them).
    pub fn in_flight(&mut self, batch: usize) -> u64 {
        self.dispatch();
        self.producer
            .context()
            .counter(batch)
            .load(Ordering::Acquire)
    }

    /// Waits until everything staged or enqueued is delivered; fails if anything was not.
    pub fn flush(&mut self, timeout: Duration) -> Result<(), SinkError> {
        self.settle(timeout)?;
        self.producer.flush(timeout).map_err(SinkError::Flush)?;
        self.take_failures()
    }

    /// The delivery failures since the last call, as an error.
    pub fn take_failures(&self) -> Result<(), SinkError> {
        let refused = self
            .producer
            .context()
            .enqueue_failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some((topic, source)) = refused {
            return Err(SinkError::Enqueue { topic, source });
        }
        let mut failures = self
            .producer
            .context()
            .failures
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if failures.is_empty() {
            Ok(())
        } else {
            let all = failures.join("; ");
            failures.clear();
            Err(SinkError::Delivery(all))
        }
    }
}
