//! The producer side: one idempotent (or transactional) producer for outputs, changelog and
//! dead letters, staged through the outbox; with the delivery reports of
//! [`delivery`](super::delivery) a batch can tell whether everything it sent arrived.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use rdkafka::error::KafkaError;
use rdkafka::producer::Producer;

pub use super::delivery::{DeliveryContext, KafkaProducer};
use super::outbox::{Envelope, Outbox, Sending, SendingThread};
use super::outputs::Output;
use super::topic_handles::TopicHandles;
use crate::config::Topics;

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
    /// A sink whose staged records go to each [`Output`]'s topic in `topics`, enqueued by a
    /// sending thread when `background`, else by the caller.
    pub fn new(
        producer: KafkaProducer,
        topics: &Topics,
        background: bool,
    ) -> std::io::Result<Sink> {
        let producer = Arc::new(producer);
        let topics = Arc::new(TopicHandles::new(producer.clone(), Output::topics(topics)));
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
