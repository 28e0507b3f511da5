//! Questions into the processing loop. The loop owns every engine; a caller on another
//! thread (the HTTP server) sends a [`Query`] over a bounded channel, and the loop answers
//! each one between two runs of messages ([`QueryInbox::answer_waiting`]), so an answer
//! reflects a consistent state and costs the loop at most one lookup per query. While the
//! loop waits for input it says so: a caller then rings its [`Bell`] after sending, or, when
//! the loop has installed a [`Direct`] answerer, answers on its own thread under the loop's
//! lock without waking it. A query the loop does not answer in time (restoring a partition,
//! restarting its clients, or the channel full) fails fast: the caller answers 503 with
//! `Retry-After`. `GET /v1/status`, `GET /voc` and the per-customer queries of SPEC 9 use it.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;

use super::bell::Bell;
use crate::config::{ClockSource, Guarantee};
use crate::domain::Timestamp;

/// Queries waiting for the loop, at most: past that the caller is told to retry.
pub const QUERIES_WAITING: usize = 64;

/// A question for the processing loop, with where its answer goes.
#[derive(Debug)]
pub enum Query {
    /// What this instance holds: its partitions and their progress.
    Status(Reply<Status>),
    /// One customer (SPEC 9), if this instance owns it.
    Customer(CustomerQuery, Reply<CustomerAnswer>),
    /// The voice-of-the-customer counts and holdout experiments of this instance (SPEC 10).
    Voc(Reply<Box<crate::domain::voc::VocReport>>),
}

/// A question about one customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CustomerQuery {
    pub customer_id: String,
    /// The partition the configured partitioner gives the id (`None`: `random`).
    pub partition: Option<i32>,
    /// Read-your-writes: answer only once the partition's applied offset is at least this.
    pub min_position: Option<i64>,
}

/// The loop's answer about one customer.
#[derive(Debug, Clone, PartialEq)]
pub enum CustomerAnswer {
    /// The customer's view (SPEC 9), with the position it reflects; serialized by the asker,
    /// off the loop's thread.
    Found(Box<crate::domain::inspect::CustomerView>),
    /// Its partition is here and restored, and it is not there: never seen, or erased.
    Unknown,
    /// Its partition is here but behind `min_position` (its applied offset so far).
    Behind { applied: Option<i64> },
    /// Its partition is here and still restoring.
    Restoring,
    /// Its partition is not this instance's.
    NotHere,
}

/// Where one answer goes (the asker may have given up; then the answer is dropped).
#[derive(Debug)]
pub struct Reply<T>(tokio::sync::oneshot::Sender<T>);

impl<T> Reply<T> {
    pub fn send(self, answer: T) {
        let _ = self.0.send(answer);
    }
}

/// The answer to [`Query::Status`].
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Status {
    #[serde(serialize_with = "guarantee_name")]
    pub guarantee: Guarantee,
    #[serde(serialize_with = "clock_name")]
    pub clock: ClockSource,
    /// The partitions restored here, in order.
    pub partitions: Vec<PartitionStatus>,
    /// Assigned partitions still restoring.
    pub restoring: Vec<i32>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct PartitionStatus {
    pub partition: i32,
    pub customers: usize,
    pub timers_pending: usize,
    /// The partition's clock (RFC 3339), once it has one.
    #[serde(serialize_with = "instant")]
    pub clock: Option<Timestamp>,
    /// The input offset of the last event applied.
    pub applied_offset: Option<i64>,
    /// The owner epoch this instance writes the partition's changelog with.
    pub epoch: u64,
}

fn guarantee_name<S: serde::Serializer>(g: &Guarantee, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match g {
        Guarantee::AtLeastOnce => "at_least_once",
        Guarantee::ExactlyOnce => "exactly_once",
    })
}

fn clock_name<S: serde::Serializer>(c: &ClockSource, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match c {
        ClockSource::Event => "event",
        ClockSource::Wall => "wall",
    })
}

fn instant<S: serde::Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&t.to_string()),
        None => s.serialize_none(),
    }
}

/// Why a query got no answer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum QueryError {
    #[error("the processing loop has {QUERIES_WAITING} queries waiting already")]
    Busy,
    #[error("the processing loop did not answer in time")]
    Timeout,
    #[error("the processing loop is not running")]
    Stopped,
}

/// Answers a query on the asker's thread, at once, if the loop is not using its engines
/// now (it is waiting for input); gives the query back if it is.
pub type Direct = Arc<dyn Fn(Query) -> Option<Query> + Send + Sync>;

/// Where the loop puts its [`Direct`] answerer while it runs.
#[derive(Clone, Default)]
struct DirectSlot(Arc<Mutex<Option<Direct>>>);

impl std::fmt::Debug for DirectSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DirectSlot")
    }
}

impl DirectSlot {
    fn get(&self) -> Option<Direct> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn set(&self, direct: Option<Direct>) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = direct;
    }
}

/// The askers' end: cheap to clone, one per HTTP handler.
#[derive(Debug, Clone)]
pub struct Queries {
    to_loop: SyncSender<Query>,
    direct: DirectSlot,
    /// Queries sent and not yet taken by the loop.
    waiting: Arc<AtomicUsize>,
    /// Set while the loop waits for input.
    loop_waits: Arc<AtomicBool>,
    /// Rung after a query sent while the loop waits for input.
    bell: Bell,
}

/// The loop's end (a clone per client generation of the loop; one of them drains it at a
/// time).
#[derive(Debug, Clone)]
pub struct QueryInbox {
    from_askers: Arc<Mutex<Receiver<Query>>>,
    direct: DirectSlot,
    waiting: Arc<AtomicUsize>,
    loop_waits: Arc<AtomicBool>,
    bell: Bell,
}

/// A channel for queries into the processing loop.
pub fn channel() -> (Queries, QueryInbox) {
    let (to_loop, from_askers) = sync_channel(QUERIES_WAITING);
    let from_askers = Arc::new(Mutex::new(from_askers));
    let (waiting, bell) = (Arc::new(AtomicUsize::new(0)), Bell::new());
    let direct = DirectSlot::default();
    let loop_waits = Arc::new(AtomicBool::new(false));
    let queries = Queries {
        to_loop,
        direct: direct.clone(),
        waiting: waiting.clone(),
        loop_waits: loop_waits.clone(),
        bell: bell.clone(),
    };
    (
        queries,
        QueryInbox {
            from_askers,
            direct,
            waiting,
            loop_waits,
            bell,
        },
    )
}

impl Queries {
    /// Asks for the loop's [`Status`], waiting at most `timeout`.
    pub async fn status(&self, timeout: Duration) -> Result<Status, QueryError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.ask(Query::Status(Reply(tx)), rx, timeout).await
    }
}

impl Queries {
    /// Asks the loop for its voice-of-the-customer counts, waiting at most `timeout`.
    pub async fn voc(
        &self,
        timeout: Duration,
    ) -> Result<Box<crate::domain::voc::VocReport>, QueryError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.ask(Query::Voc(Reply(tx)), rx, timeout).await
    }

    /// Asks the loop about one customer, waiting at most `timeout`.
    pub async fn customer(
        &self,
        query: CustomerQuery,
        timeout: Duration,
    ) -> Result<CustomerAnswer, QueryError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.ask(Query::Customer(query, Reply(tx)), rx, timeout)
            .await
    }

    async fn ask<T>(
        &self,
        query: Query,
        answer: tokio::sync::oneshot::Receiver<T>,
        timeout: Duration,
    ) -> Result<T, QueryError> {
        // Answered here when the loop is not using its engines (no hop to its thread and
        // back, no wake-up).
        let query = match self.direct.get() {
            Some(direct) => match direct(query) {
                None => return Self::answer(answer, timeout).await,
                Some(query) => query,
            },
            None => query,
        };
        // Counted before it is sent, and rung after if the loop waits: the loop says it
        // waits before it looks at the count (all sequentially consistent), so either it
        // sees the count and does not wait, or this sees it waiting and rings. A busy loop
        // takes the query between two runs of messages, unrung.
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let sent = self.to_loop.try_send(query);
        if sent.is_err() {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
        }
        match sent {
            Ok(()) => {
                if self.loop_waits.load(Ordering::SeqCst) {
                    self.bell.ring();
                }
            }
            Err(TrySendError::Full(_)) => return Err(QueryError::Busy),
            Err(TrySendError::Disconnected(_)) => return Err(QueryError::Stopped),
        }
        Self::answer(answer, timeout).await
    }

    async fn answer<T>(
        answer: tokio::sync::oneshot::Receiver<T>,
        timeout: Duration,
    ) -> Result<T, QueryError> {
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(answer)) => Ok(answer),
            // The loop dropped the query unanswered (its clients restarting).
            Ok(Err(_)) => Err(QueryError::Stopped),
            Err(_) => Err(QueryError::Timeout),
        }
    }
}

impl QueryInbox {
    /// Answers every query waiting now with `answer` (called by the loop between polls).
    pub fn answer_waiting(&self, mut answer: impl FnMut(Query)) {
        // The loop asks after every run of messages: most times nobody waits.
        if !self.any_waiting() {
            return;
        }
        let from_askers = self.from_askers.lock().unwrap_or_else(|e| e.into_inner());
        while let Ok(query) = from_askers.try_recv() {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            answer(query);
        }
    }

    /// Whether queries wait for an answer.
    pub fn any_waiting(&self) -> bool {
        self.waiting.load(Ordering::SeqCst) > 0
    }

    /// Waits on the bell up to `timeout` unless queries wait or `ready()`, saying so to the
    /// askers meanwhile (they ring only then, and may answer directly).
    pub fn wait_for_work(&self, timeout: Duration, ready: impl FnOnce() -> bool) {
        self.loop_waits.store(true, Ordering::SeqCst);
        self.bell.wait(timeout, || self.any_waiting() || ready());
        self.loop_waits.store(false, Ordering::SeqCst);
    }

    /// Whether the loop is waiting for input (not holding its engines).
    pub fn loop_waits(&self) -> bool {
        self.loop_waits.load(Ordering::SeqCst)
    }

    /// Lets askers answer on their own thread with `direct` while the loop runs (`None`:
    /// every query goes through the channel).
    pub fn answer_directly_with(&self, direct: Option<Direct>) {
        self.direct.set(direct);
    }

    /// The bell rung for each query (the loop waits on it when idle).
    pub fn bell(&self) -> &Bell {
        &self.bell
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status() -> Status {
        Status {
            guarantee: Guarantee::AtLeastOnce,
            clock: ClockSource::Event,
            partitions: vec![PartitionStatus {
                partition: 3,
                customers: 2,
                timers_pending: 1,
                clock: Some(Timestamp::from_nanos(0)),
                applied_offset: Some(41),
                epoch: 2,
            }],
            restoring: vec![5],
        }
    }

    #[tokio::test]
    async fn a_query_is_answered_by_whoever_drains_the_inbox() {
        let (queries, inbox) = channel();
        let answering = std::thread::spawn(move || {
            let mut answered = 0;
            while answered == 0 {
                inbox.answer_waiting(|q| match q {
                    Query::Status(reply) => {
                        reply.send(status());
                        answered += 1;
                    }
                    Query::Customer(_, reply) => reply.send(CustomerAnswer::NotHere),
                    Query::Voc(reply) => {
                        reply.send(Box::new(crate::domain::voc::Voc::new(1).report()))
                    }
                });
                std::thread::yield_now();
            }
        });
        let got = queries.status(Duration::from_secs(10)).await;
        answering.join().unwrap();
        assert_eq!(got, Ok(status()));
        let json = serde_json::to_value(status()).unwrap();
        assert_eq!(json["guarantee"], "at_least_once");
        assert_eq!(json["partitions"][0]["clock"], "1970-01-01T00:00:00Z");
    }

    #[tokio::test]
    async fn a_direct_answerer_answers_without_the_loop_or_hands_the_query_on() {
        let (queries, inbox) = channel();
        // Answers: nothing goes through the channel.
        inbox.answer_directly_with(Some(Arc::new(|q| match q {
            Query::Status(reply) => {
                reply.send(status());
                None
            }
            other => Some(other),
        })));
        assert_eq!(queries.status(Duration::from_secs(10)).await, Ok(status()));
        assert!(!inbox.any_waiting());
        // Busy (gives it back): the query waits in the channel for the loop.
        inbox.answer_directly_with(Some(Arc::new(Some)));
        let asking = tokio::spawn({
            let queries = queries.clone();
            async move { queries.status(Duration::from_secs(10)).await }
        });
        while !inbox.any_waiting() {
            tokio::task::yield_now().await;
        }
        inbox.answer_waiting(|q| match q {
            Query::Status(reply) => reply.send(status()),
            _ => unreachable!("only a status was asked"),
        });
        assert_eq!(asking.await.unwrap(), Ok(status()));
        // Removed: the channel again.
        inbox.answer_directly_with(None);
        assert_eq!(
            queries.status(Duration::from_millis(1)).await,
            Err(QueryError::Timeout)
        );
    }

    #[tokio::test]
    async fn an_unanswered_query_times_out_and_a_full_inbox_is_busy() {
        let (queries, inbox) = channel();
        assert_eq!(
            queries.status(Duration::from_millis(1)).await,
            Err(QueryError::Timeout)
        );
        for _ in 1..QUERIES_WAITING {
            let (tx, _rx) = tokio::sync::oneshot::channel();
            queries.to_loop.try_send(Query::Status(Reply(tx))).unwrap();
        }
        assert_eq!(
            queries.status(Duration::from_millis(1)).await,
            Err(QueryError::Busy)
        );
        drop(inbox);
    }

    #[tokio::test]
    async fn a_query_to_a_stopped_loop_fails_at_once() {
        let (queries, inbox) = channel();
        drop(inbox);
        assert_eq!(
            queries.status(Duration::from_secs(60)).await,
            Err(QueryError::Stopped)
        );
    }
}
