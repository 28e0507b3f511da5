//! Waiting for work in the service's loop: a message or event on the consumer's queue, or a
//! query ([`Bell`]). librdkafka writes to a descriptor when a queue turns non-empty
//! (`rd_kafka_queue_io_event_enable`, made for poll(2) loops); pointed at the loop's bell, the
//! loop sleeps in one wait that either wakes. rdkafka's `poll` cannot be woken from another
//! thread: its loop swallows `rd_kafka_queue_yield` and polls again until its timeout.
//!
//! The crate's fifth `unsafe` (see docs/decisions.md): calls into librdkafka.
#![allow(unsafe_code)]

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::time::Duration;

use rdkafka::bindings as rd;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};

use super::bell::Bell;
use super::queries::QueryInbox;

/// The consumer's queue, ringing `bell` when it turns non-empty, until dropped.
#[derive(Debug)]
pub struct IdleWait<'c> {
    queue: NonNull<rd::rd_kafka_queue_t>,
    /// Held: librdkafka writes to its descriptor.
    _bell: Bell,
    _consumer: PhantomData<&'c ()>,
}

/// What librdkafka writes to the bell.
static RING: [u8; 1] = [1];

impl<'c> IdleWait<'c> {
    /// `None` when the consumer has no queue of its own (no `group.id`) or the bell cannot
    /// ring: the caller then waits in its poll.
    pub fn new<C: ConsumerContext>(consumer: &'c BaseConsumer<C>, bell: &Bell) -> Option<Self> {
        let fd = bell.ring_fd()?;
        // SAFETY: the consumer is alive for 'c; the queue reference taken here is released
        // in `drop`, within 'c, after the io event is disabled. The descriptor stays open
        // while `bell` (a clone of its `Arc`) is held here, and the payload is static.
        unsafe {
            let queue = NonNull::new(rd::rd_kafka_queue_get_consumer(
                consumer.client().native_ptr(),
            ))?;
            rd::rd_kafka_queue_io_event_enable(queue.as_ptr(), fd, RING.as_ptr().cast(), 1);
            Some(IdleWait {
                queue,
                _bell: bell.clone(),
                _consumer: PhantomData,
            })
        }
    }

    /// Messages or events waiting to be polled.
    fn queued(&self) -> usize {
        // SAFETY: the queue is alive while `self` is.
        unsafe { rd::rd_kafka_queue_length(self.queue.as_ptr()) }
    }

    /// Waits up to `timeout` unless the queue has something or queries wait; a message, an
    /// event or a query arriving meanwhile ends the wait. `queries` must ring this bell.
    ///
    /// librdkafka writes once when the queue turns non-empty, and once more only after the
    /// next poll: the length is asked after the old rings are drained, so a message that
    /// came before is seen in it, and one after rings.
    pub fn wait(&self, timeout: Duration, queries: &QueryInbox) {
        self.wait_or(timeout, queries, || false);
    }

    /// [`wait`](Self::wait) with one more reason not to wait, asked last.
    pub fn wait_or(&self, timeout: Duration, queries: &QueryInbox, ready: impl FnOnce() -> bool) {
        if self.queued() > 0 {
            return;
        }
        queries.wait_for_work(timeout, || self.queued() > 0 || ready());
    }
}

impl Drop for IdleWait<'_> {
    fn drop(&mut self) {
        // SAFETY: as in `new`; a descriptor of -1 disables the io event.
        unsafe {
            rd::rd_kafka_queue_io_event_enable(self.queue.as_ptr(), -1, std::ptr::null(), 0);
            rd::rd_kafka_queue_destroy(self.queue.as_ptr());
        }
    }
}
