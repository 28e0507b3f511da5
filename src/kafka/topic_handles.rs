//! Enqueueing records through librdkafka topic handles.
//!
//! rdkafka's `BaseProducer::send` names the topic as a string: for every record it allocates
//! the name as a C string, and librdkafka looks the topic up by name holding the client's
//! write lock (`rd_kafka_topic_new0`), which its broker threads take for reading all the
//! time. The sink's topics are known when it starts, so it takes a handle for each once and
//! enqueues records with it (`RD_KAFKA_V_RKT`). In interleaved end-to-end benchmark runs this
//! moved the median ratio from 0.71-0.78 to 0.81-0.93 (see docs/decisions.md).
//!
//! The crate's second `unsafe` (see docs/decisions.md): calls into librdkafka, with the
//! argument list rdkafka itself passes.
#![allow(unsafe_code)]

use std::ffi::{CString, c_void};
use std::ptr::{self, NonNull};
use std::sync::Arc;

use rdkafka::bindings as rd;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::{BaseRecord, Producer};

use super::delivery::KafkaProducer;
use super::outputs::Output;

/// A librdkafka handle per topic of the sink, released before the producer it belongs to
/// (it keeps the producer alive).
pub(super) struct TopicHandles {
    names: Vec<String>,
    /// `None`: librdkafka gave no handle (see [`TopicHandles::new`]).
    handles: Vec<Option<NonNull<rd::rd_kafka_topic_t>>>,
    producer: Arc<KafkaProducer>,
}

// SAFETY: librdkafka topic handles may be used from any thread; they are only released in
// `drop`, when no other reference to the `TopicHandles` remains.
unsafe impl Send for TopicHandles {}
unsafe impl Sync for TopicHandles {}

/// One record to enqueue (its headers, if any, are passed beside it).
pub(super) struct Outgoing<'a> {
    pub topic: Output,
    /// `None`: the partitioner picks one from the key.
    pub partition: Option<i32>,
    /// `None`: a null key.
    pub key: Option<&'a [u8]>,
    /// `None`: a tombstone.
    pub payload: Option<&'a [u8]>,
    /// In ms since the epoch; `None`: librdkafka reads the clock.
    pub timestamp_ms: Option<i64>,
    /// The delivery opaque: the batch the record counts for.
    pub batch: usize,
}

impl TopicHandles {
    /// Handles for `names`. A topic librdkafka gives no handle for (a name it refuses) has
    /// none: its records are enqueued by name and fail there with librdkafka's error.
    pub fn new(producer: Arc<KafkaProducer>, names: Vec<String>) -> TopicHandles {
        let rk = producer.client().native_ptr();
        let handles = names
            .iter()
            .map(|name| {
                let name = CString::new(name.as_str()).ok()?;
                // SAFETY: `rk` is a live producer; a null configuration means the defaults.
                NonNull::new(unsafe { rd::rd_kafka_topic_new(rk, name.as_ptr(), ptr::null_mut()) })
            })
            .collect();
        TopicHandles {
            names,
            handles,
            producer,
        }
    }

    pub fn name(&self, topic: Output) -> &str {
        &self.names[topic.index()]
    }

    /// Enqueues `record`: with its topic's handle, or by name (rdkafka's `send`) when it
    /// carries headers (dead letters, rare) or its topic has no handle. librdkafka copies the
    /// key and payload. On error, the headers come back for another try.
    pub fn send(
        &self,
        record: &Outgoing<'_>,
        headers: Option<OwnedHeaders>,
    ) -> Result<(), (KafkaError, Option<OwnedHeaders>)> {
        match (self.handles[record.topic.index()], headers) {
            (Some(rkt), None) => self
                .produce(rkt, record)
                .map_err(|code| (KafkaError::MessageProduction(code), None)),
            (_, headers) => self.send_by_name(record, headers),
        }
    }

    fn produce(
        &self,
        rkt: NonNull<rd::rd_kafka_topic_t>,
        record: &Outgoing<'_>,
    ) -> Result<(), RDKafkaErrorCode> {
        let (key, key_len) = record.key.map_or((ptr::null_mut(), 0), |k| {
            (k.as_ptr() as *mut c_void, k.len())
        });
        let (payload, payload_len) = record.payload.map_or((ptr::null_mut(), 0), |p| {
            (p.as_ptr() as *mut c_void, p.len())
        });
        // SAFETY: the argument list is the one rdkafka's `BaseProducer::send` passes, with the
        // topic handle (alive while `self` is) in place of the name; key and payload are
        // copied (RD_KAFKA_MSG_F_COPY) before the call returns. The opaque is a number, as
        // rdkafka's `IntoOpaque for usize` makes it, read back by the delivery callback.
        let err = unsafe {
            rd::rd_kafka_producev(
                self.producer.client().native_ptr(),
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_RKT,
                rkt.as_ptr(),
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_PARTITION,
                record.partition.unwrap_or(-1),
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_MSGFLAGS,
                rd::RD_KAFKA_MSG_F_COPY,
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_VALUE,
                payload,
                payload_len,
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_KEY,
                key,
                key_len,
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_OPAQUE,
                record.batch as *mut c_void,
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_TIMESTAMP,
                record.timestamp_ms.unwrap_or(0),
                rd::rd_kafka_vtype_t::RD_KAFKA_VTYPE_END,
            )
        };
        match RDKafkaErrorCode::from(err) {
            RDKafkaErrorCode::NoError => Ok(()),
            code => Err(code),
        }
    }

    fn send_by_name(
        &self,
        r: &Outgoing<'_>,
        headers: Option<OwnedHeaders>,
    ) -> Result<(), (KafkaError, Option<OwnedHeaders>)> {
        let mut record: BaseRecord<[u8], [u8], usize> =
            BaseRecord::with_opaque_to(self.name(r.topic), r.batch);
        if let Some(key) = r.key {
            record = record.key(key);
        }
        if let Some(payload) = r.payload {
            record = record.payload(payload);
        }
        if let Some(p) = r.partition {
            record = record.partition(p);
        }
        if let Some(h) = headers {
            record = record.headers(h);
        }
        if let Some(t) = r.timestamp_ms {
            record = record.timestamp(t);
        }
        self.producer
            .send(record)
            .map_err(|(e, back)| (e, back.headers))
    }
}

impl Drop for TopicHandles {
    fn drop(&mut self) {
        for rkt in self.handles.iter().flatten() {
            // SAFETY: taken in `new`, released once; the producer is still alive (held here).
            unsafe { rd::rd_kafka_topic_destroy(rkt.as_ptr()) };
        }
    }
}
