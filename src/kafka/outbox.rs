//! Records on their way to the producer (outputs, dead letters, changelog): encoded by the
//! processing thread into a shared buffer, handed over in groups, and enqueued into
//! librdkafka by a sending thread (`at_least_once`) or by the processing thread itself
//! (`exactly_once`, which must know every record is in the transaction before committing).
//!
//! Enqueueing a record (`rd_kafka_producev`: its allocation, copy, partitioner, locks and
//! clock reads) was about a quarter of the processing thread, which is the service's critical
//! path; the sending thread takes it onto the other core. Records keep their order (one
//! thread sends them all), and each counts as in flight for its batch from the moment it is
//! staged, so a batch never looks delivered while some of its records wait here.

use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::thread::JoinHandle;
use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::OwnedHeaders;
use rdkafka::producer::Producer;

use super::delivery::KafkaProducer;
use super::outputs::Output;
use super::topic_handles::{Outgoing, TopicHandles};

/// Staged records are handed over once this many wait (and whenever the processor asks).
const GROUP: usize = 256;
/// Groups handed over and not yet enqueued, at most: then the processor waits (back
/// pressure, when librdkafka's own queue is full).
const GROUPS_WAITING: usize = 16;

/// Records encoded into one buffer.
#[derive(Debug, Default)]
pub(super) struct Staged {
    bytes: Vec<u8>,
    records: Vec<StagedRecord>,
}

#[derive(Debug)]
struct StagedRecord {
    topic: Output,
    partition: Option<i32>,
    /// `None`: a null key.
    key: Option<Range<usize>>,
    /// `None`: a tombstone.
    payload: Option<Range<usize>>,
    headers: Option<OwnedHeaders>,
    timestamp_ms: Option<i64>,
    batch: usize,
}

/// Where a staged record goes, and what it carries besides its payload.
#[derive(Debug)]
pub struct Envelope<'a> {
    /// Which of the sink's topics.
    pub topic: Output,
    /// `None`: the partitioner picks one from the key.
    pub partition: Option<i32>,
    /// `None`: a null key (a dead letter of a record that had none).
    pub key: Option<&'a [u8]>,
    pub headers: Option<OwnedHeaders>,
    /// In ms since the epoch; `None`: librdkafka reads the clock.
    pub timestamp_ms: Option<i64>,
    /// The batch (or batch stage) it counts for, see `Sink::in_flight`.
    pub batch: usize,
}

impl Staged {
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Adds a record; `encode` appends its payload to the buffer (`None`: a tombstone).
    pub fn push(&mut self, envelope: Envelope<'_>, encode: Option<impl FnOnce(&mut Vec<u8>)>) {
        let start = self.bytes.len();
        let key = envelope.key.map(|k| {
            self.bytes.extend_from_slice(k);
            start..self.bytes.len()
        });
        let payload = encode.map(|encode| {
            let from = self.bytes.len();
            encode(&mut self.bytes);
            from..self.bytes.len()
        });
        self.records.push(StagedRecord {
            topic: envelope.topic,
            partition: envelope.partition,
            key,
            payload,
            headers: envelope.headers,
            timestamp_ms: envelope.timestamp_ms,
            batch: envelope.batch,
        });
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.records.clear();
    }

    /// Enqueues every record, waiting for room when librdkafka's queue is full. A record
    /// that cannot be enqueued is reported to the producer's context (and no longer counted
    /// in flight); the others still go.
    fn enqueue(&mut self, producer: &KafkaProducer, topics: &TopicHandles, stop: &AtomicBool) {
        let bytes = &self.bytes;
        for r in &mut self.records {
            let record = Outgoing {
                topic: r.topic,
                partition: r.partition,
                key: r.key.clone().map(|k| &bytes[k]),
                payload: r.payload.clone().map(|p| &bytes[p]),
                timestamp_ms: r.timestamp_ms,
                batch: r.batch,
            };
            let mut headers = r.headers.take();
            loop {
                match topics.send(&record, headers.take()) {
                    Ok(()) => break,
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                        if !stop.load(Ordering::Acquire) =>
                    {
                        headers = back;
                        std::thread::sleep(Duration::from_millis(1));
                    }
                    Err((error, _)) => {
                        producer
                            .context()
                            .enqueue_failed(r.batch, topics.name(r.topic), error);
                        break;
                    }
                }
            }
        }
    }
}

/// Where staged groups go: enqueued on the calling thread, or handed to the sending thread.
pub(super) enum Sending {
    /// Enqueued by the caller (transactions: the processor must know each record is in the
    /// producer before it commits or aborts).
    Inline,
    Thread(SendingThread),
}

/// The sending thread and its queues.
pub(super) struct SendingThread {
    groups: Option<SyncSender<Staged>>,
    emptied: Receiver<Staged>,
    /// Groups handed over and not yet enqueued.
    waiting: Arc<AtomicUsize>,
    /// Set when the sink is dropped: a full queue then fails the rest instead of waiting
    /// for room (for up to librdkafka's message timeout, with the broker gone).
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl SendingThread {
    pub fn start(
        producer: Arc<KafkaProducer>,
        topics: Arc<TopicHandles>,
    ) -> std::io::Result<SendingThread> {
        let (groups, to_send) = std::sync::mpsc::sync_channel::<Staged>(GROUPS_WAITING);
        let (recycle, emptied) = std::sync::mpsc::channel::<Staged>();
        let waiting = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let (done, stopping) = (waiting.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("lifecycle-send".into())
            .spawn(move || {
                for mut group in to_send {
                    group.enqueue(&producer, &topics, &stopping);
                    group.clear();
                    done.fetch_sub(1, Ordering::AcqRel);
                    // The processor may be gone already; then the buffer is simply dropped.
                    let _ = recycle.send(group);
                }
            })?;
        Ok(SendingThread {
            groups: Some(groups),
            emptied,
            waiting,
            stop,
            thread: Some(thread),
        })
    }

    /// Hands `staged` over (replacing it with an emptied buffer); waits while
    /// [`GROUPS_WAITING`] groups wait.
    fn hand_over(&self, staged: &mut Staged) {
        let fresh = self.emptied.try_recv().unwrap_or_default();
        let group = std::mem::replace(staged, fresh);
        self.waiting.fetch_add(1, Ordering::AcqRel);
        if let Some(groups) = &self.groups
            && groups.send(group).is_err()
        {
            // The thread is gone (it panicked): nothing will enqueue these; their batch
            // waits and then times out, which stops the service with an error.
            self.waiting.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Waits until every group handed over is enqueued in the producer.
    fn wait_enqueued(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while self.waiting.load(Ordering::Acquire) > 0 {
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        true
    }
}

impl Drop for SendingThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        drop(self.groups.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Records staged by the processing thread, and where they go.
pub(super) struct Outbox {
    staged: Staged,
    sender: Sending,
    producer: Arc<KafkaProducer>,
    topics: Arc<TopicHandles>,
}

impl Outbox {
    pub fn new(producer: Arc<KafkaProducer>, topics: Arc<TopicHandles>, sender: Sending) -> Outbox {
        Outbox {
            staged: Staged::default(),
            sender,
            producer,
            topics,
        }
    }

    /// Stages a record (see [`Staged::push`]); hands the group over once it is large.
    pub fn push(&mut self, envelope: Envelope<'_>, encode: Option<impl FnOnce(&mut Vec<u8>)>) {
        self.staged.push(envelope, encode);
        if self.staged.len() >= GROUP {
            self.dispatch();
        }
    }

    /// Hands the staged records over, or enqueues them here (inline).
    pub fn dispatch(&mut self) {
        if self.staged.is_empty() {
            return;
        }
        match &self.sender {
            Sending::Inline => {
                self.staged
                    .enqueue(&self.producer, &self.topics, &AtomicBool::new(false));
                self.staged.clear();
            }
            Sending::Thread(thread) => thread.hand_over(&mut self.staged),
        }
    }

    /// Drops the staged records, telling `dropped` the batch of each.
    pub fn discard(&mut self, mut dropped: impl FnMut(usize)) {
        for r in &self.staged.records {
            dropped(r.batch);
        }
        self.staged.clear();
    }

    /// Dispatches, then waits until every record is in the producer.
    pub fn settle(&mut self, timeout: Duration) -> bool {
        self.dispatch();
        match &self.sender {
            Sending::Inline => true,
            Sending::Thread(thread) => thread.wait_enqueued(timeout),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staged_records_keep_their_key_payload_and_batch() {
        let envelope = |topic, partition, key, timestamp_ms, batch| Envelope {
            topic,
            partition,
            key,
            headers: None,
            timestamp_ms,
            batch,
        };
        let mut staged = Staged::default();
        staged.push(
            envelope(Output::Retention, None, Some(b"c-1"), Some(7), 4),
            Some(|b: &mut Vec<u8>| b.extend_from_slice(b"{\"a\":1}")),
        );
        staged.push(
            envelope(Output::State, Some(3), Some(b"c-2"), None, 5),
            None::<fn(&mut Vec<u8>)>,
        );
        staged.push(
            envelope(Output::Transitions, None, Some(b""), None, 5),
            Some(|b: &mut Vec<u8>| b.push(b'x')),
        );
        staged.push(
            envelope(Output::DeadLetters, None, None, None, 6),
            None::<fn(&mut Vec<u8>)>,
        );
        assert_eq!(staged.len(), 4);
        let parts: Vec<_> = staged
            .records
            .iter()
            .map(|r| {
                (
                    r.topic,
                    r.partition,
                    r.key.clone().map(|k| &staged.bytes[k]),
                    r.payload.clone().map(|p| &staged.bytes[p]),
                    r.timestamp_ms,
                    r.batch,
                )
            })
            .collect();
        assert_eq!(
            parts,
            [
                (
                    Output::Retention,
                    None,
                    Some(&b"c-1"[..]),
                    Some(&b"{\"a\":1}"[..]),
                    Some(7),
                    4
                ),
                (Output::State, Some(3), Some(&b"c-2"[..]), None, None, 5),
                (
                    Output::Transitions,
                    None,
                    Some(&b""[..]),
                    Some(&b"x"[..]),
                    None,
                    5
                ),
                // A null key and a null value stay null (a dead letter of such a record).
                (Output::DeadLetters, None, None, None, None, 6),
            ]
        );
        staged.clear();
        assert!(staged.is_empty());
    }
}
