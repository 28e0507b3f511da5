//! The producer side: one idempotent (or transactional) producer for outputs, changelog and
//! dead letters, with delivery failures collected so a batch can tell whether everything
//! it sent arrived.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::ClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{DeliveryResult, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ProducerContext, ThreadedProducer};

/// Counts records in flight per batch (the delivery opaque is the batch's sequence number)
/// and collects the first delivery failures.
#[derive(Debug, Default)]
pub struct DeliveryContext {
    failures: Mutex<Vec<String>>,
    in_flight: Mutex<HashMap<usize, u64>>,
}

impl ClientContext for DeliveryContext {
    fn error(&self, error: KafkaError, reason: &str) {
        tracing::warn!(%error, reason, "producer client error");
    }
}

impl ProducerContext for DeliveryContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, batch: usize) {
        {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(n) = in_flight.get_mut(&batch) {
                *n -= 1;
                if *n == 0 {
                    in_flight.remove(&batch);
                }
            }
        }
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

/// One outgoing record.
#[derive(Debug)]
pub struct Outgoing<'a> {
    pub topic: &'a str,
    pub partition: Option<i32>,
    pub key: &'a [u8],
    /// `None`: a tombstone.
    pub payload: Option<&'a [u8]>,
    pub headers: Option<OwnedHeaders>,
    /// The batch (or batch stage) it belongs to, for [`Sink::in_flight`].
    pub batch: usize,
}

pub struct Sink {
    pub producer: KafkaProducer,
}

impl std::fmt::Debug for Sink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sink").finish_non_exhaustive()
    }
}

impl Sink {
    /// Enqueues a record, waiting for room when the local queue is full.
    pub fn send(&self, out: Outgoing) -> Result<(), SinkError> {
        *self
            .producer
            .context()
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(out.batch)
            .or_default() += 1;
        let mut record: BaseRecord<[u8], [u8], usize> =
            BaseRecord::with_opaque_to(out.topic, out.batch).key(out.key);
        if let Some(p) = out.payload {
            record = record.payload(p);
        }
        if let Some(p) = out.partition {
            record = record.partition(p);
        }
        if let Some(h) = out.headers {
            record = record.headers(h);
        }
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    std::thread::sleep(Duration::from_millis(1));
                }
                Err((source, _)) => {
                    self.delivered_or_dropped(out.batch);
                    return Err(SinkError::Enqueue {
                        topic: out.topic.to_owned(),
                        source,
                    });
                }
            }
        }
    }

    fn delivered_or_dropped(&self, batch: usize) {
        let mut in_flight = self
            .producer
            .context()
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(n) = in_flight.get_mut(&batch) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                in_flight.remove(&batch);
            }
        }
    }

    /// Records of `batch` not yet acknowledged (or failed).
    pub fn in_flight(&self, batch: usize) -> u64 {
        self.producer
            .context()
            .in_flight
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&batch)
            .copied()
            .unwrap_or(0)
    }

    /// Waits until everything enqueued is delivered; fails if anything was not.
    pub fn flush(&self, timeout: Duration) -> Result<(), SinkError> {
        self.producer.flush(timeout).map_err(SinkError::Flush)?;
        self.take_failures()
    }

    /// The delivery failures since the last call, as an error.
    pub fn take_failures(&self) -> Result<(), SinkError> {
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
