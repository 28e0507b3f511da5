//! The Kafka edge: the only code that knows rdkafka. It feeds the pure engine from the input
//! topic, one engine per assigned partition, and writes records, changelog and dead letters.
//!
//! - [`service`]: the loop, startup checks, rebalance hooks, shutdown.
//! - [`processor`]: per-partition engines, batches and the commit protocols.
//! - [`changelog`]: restoring a partition's state before its events are processed.
//! - [`changelog_apply`]: the restore's applying side, and undoing an unconfirmed batch.
//! - [`membership`]: writing only while the group membership is confirmed (fencing).
//! - [`members`]: who owns which partition, published to and read from the members topic.
//! - [`partitioner`]: the partition of a customer id, as librdkafka's partitioners put it.
//! - [`codec`]: record, dead-letter and changelog encodings.
//! - [`outputs`]: the kinds of output (transitions, actions by category, changelog, dead
//!   letters, the input for re-keyed events), each with its topic.
//! - [`consumer_batches`]: the restore's reading of many messages per call.
//! - [`sink`]: the producer, staging through the outbox, and whether a batch arrived.
//! - [`delivery`]: the producer's context: delivery reports counted per batch.
//! - [`outbox`]: records staged, then enqueued by a sending thread (or inline).
//! - [`topic_handles`]: enqueueing a record with a topic handle instead of its name.
//! - [`backoff`]: the growing delay between client restarts after fatal errors.
//! - [`client`]: librdkafka settings from the configuration, checked, with value-free errors.

pub mod backoff;
pub mod bell;
pub mod changelog;
pub mod changelog_apply;
pub mod client;
pub mod cloudevents_in;
pub mod codec;
pub mod commit;
pub mod consumer_batches;
pub mod delivery;
pub mod error;
pub mod idle_wait;
pub mod members;
pub mod membership;
pub mod outbox;
pub mod outputs;
pub mod partitioner;
pub mod processor;
pub mod produce;
pub mod queries;
pub mod raw_headers;
pub mod service;
pub mod sink;
pub mod topic_handles;
