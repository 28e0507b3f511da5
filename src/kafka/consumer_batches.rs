//! Reading a consumer's messages many at a time, with librdkafka's batch call.
//!
//! rdkafka's `BaseConsumer::poll` returns one message per call, and each call reads the clock
//! twice, waits on the consumer queue and wraps the message in an event that is allocated and
//! freed. A changelog restore reads a million small records in a second: in the benchmark's
//! profile of our restore and a plain consumer, `clock_gettime` was 7.5 % and the queue's
//! mutex 5.5 % of the process's samples. `rd_kafka_consume_batch_queue` hands over the queued
//! messages, up to a batch, with neither the clock reads nor the events. Only the restore
//! reads this way: it assigns its one partition and joins no group, so no rebalance event can
//! wait in the queue (the service's consumer must see those, through rdkafka's poll).
//!
//! The crate's third `unsafe` (see docs/decisions.md): calls into librdkafka.
#![allow(unsafe_code)]

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;

/// The queue a consumer's fetched messages wait in, borrowed from the consumer.
#[derive(Debug)]
pub struct ConsumerQueue<'c> {
    queue: NonNull<rd::rd_kafka_queue_t>,
    /// Room for the pointers one call returns.
    slots: Vec<*mut rd::rd_kafka_message_t>,
    _consumer: PhantomData<&'c ()>,
}

/// One consumed message; released when dropped, before its consumer.
#[derive(Debug)]
pub struct ConsumedMessage<'c> {
    message: NonNull<rd::rd_kafka_message_t>,
    _consumer: PhantomData<&'c ()>,
}

impl<'c> ConsumerQueue<'c> {
    /// The consumer's queue, where an assigned partition's messages arrive; `None` when the
    /// consumer has none (it was configured without a `group.id`).
    pub fn new<C: rdkafka::consumer::ConsumerContext>(
        consumer: &'c BaseConsumer<C>,
        batch: usize,
    ) -> Option<ConsumerQueue<'c>> {
        // SAFETY: the consumer is alive for 'c, and the queue reference taken here is
        // released in `drop`, within 'c.
        let queue = unsafe { rd::rd_kafka_queue_get_consumer(consumer.client().native_ptr()) };
        Some(ConsumerQueue {
            queue: NonNull::new(queue)?,
            slots: vec![std::ptr::null_mut(); batch.max(1)],
            _consumer: PhantomData,
        })
    }

    /// The messages queued now, up to a batch (errors among them, as messages with an error);
    /// when none is, waits up to `timeout` for one. Empty when none came.
    ///
    /// librdkafka's batch call returns early only once the batch is full: asked for a batch
    /// with a timeout, it would wait out the timeout after the partition's last record.
    pub fn consume(&mut self, timeout: Duration, into: &mut Vec<ConsumedMessage<'c>>) {
        let before = into.len();
        self.consume_up_to(self.slots.len(), Duration::ZERO, into);
        if into.len() == before {
            self.consume_up_to(1, timeout, into);
        }
    }

    fn consume_up_to(
        &mut self,
        max: usize,
        timeout: Duration,
        into: &mut Vec<ConsumedMessage<'c>>,
    ) {
        let max = max.min(self.slots.len());
        let timeout_ms = i32::try_from(timeout.as_millis()).unwrap_or(i32::MAX);
        // SAFETY: `slots` has room for `max` pointers, and librdkafka writes at most that
        // many; each pointer it returns is a message we own until we destroy it.
        let n = unsafe {
            rd::rd_kafka_consume_batch_queue(
                self.queue.as_ptr(),
                timeout_ms,
                self.slots.as_mut_ptr(),
                max,
            )
        };
        let n = usize::try_from(n).unwrap_or(0).min(max);
        into.extend(self.slots[..n].iter().filter_map(|&m| {
            Some(ConsumedMessage {
                message: NonNull::new(m)?,
                _consumer: PhantomData,
            })
        }));
    }
}

impl Drop for ConsumerQueue<'_> {
    fn drop(&mut self) {
        // SAFETY: the reference taken in `new`, released once.
        unsafe { rd::rd_kafka_queue_destroy(self.queue.as_ptr()) }
    }
}

impl ConsumedMessage<'_> {
    fn raw(&self) -> &rd::rd_kafka_message_t {
        // SAFETY: the message stays valid until `drop` destroys it.
        unsafe { self.message.as_ref() }
    }

    /// The message, or the error it carries (as rdkafka's poll would return it).
    pub fn result(&self) -> Result<(), KafkaError> {
        let m = self.raw();
        match m.err {
            rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR => Ok(()),
            rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__PARTITION_EOF => {
                Err(KafkaError::PartitionEOF(m.partition))
            }
            e => Err(KafkaError::MessageConsumption(e.into())),
        }
    }

    pub fn offset(&self) -> i64 {
        self.raw().offset
    }

    pub fn key(&self) -> Option<&[u8]> {
        let m = self.raw();
        // SAFETY: librdkafka's key pointer and length describe bytes that live as long as
        // the message.
        (!m.key.is_null()).then(|| unsafe { std::slice::from_raw_parts(m.key.cast(), m.key_len) })
    }

    pub fn payload(&self) -> Option<&[u8]> {
        let m = self.raw();
        // SAFETY: as for the key.
        (!m.payload.is_null())
            .then(|| unsafe { std::slice::from_raw_parts(m.payload.cast(), m.len) })
    }

    /// The value of the last header called `name`, if the message has one.
    pub fn header(&self, name: &std::ffi::CStr) -> Option<&[u8]> {
        let mut headers: *mut rd::rd_kafka_headers_t = std::ptr::null_mut();
        // SAFETY: the message is alive; librdkafka keeps the parsed headers with it (they
        // are freed with the message), so the value borrowed here lives as long as `self`.
        unsafe {
            let err = rd::rd_kafka_message_headers(self.message.as_ptr(), &mut headers);
            if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || headers.is_null() {
                return None;
            }
            let mut value: *const std::ffi::c_void = std::ptr::null();
            let mut size: usize = 0;
            let err = rd::rd_kafka_header_get_last(headers, name.as_ptr(), &mut value, &mut size);
            if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || value.is_null() {
                return None;
            }
            Some(std::slice::from_raw_parts(value.cast(), size))
        }
    }
}

impl Drop for ConsumedMessage<'_> {
    fn drop(&mut self) {
        // SAFETY: the message is ours, destroyed once.
        unsafe { rd::rd_kafka_message_destroy(self.message.as_ptr()) }
    }
}
