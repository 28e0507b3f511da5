//! The pure core: typed events, customer state, the lifecycle engine and the action planner.
//! Nothing in here does I/O, reads a clock, logs or knows about Kafka; the replay and Kafka
//! drivers feed it events and take its records.

pub mod action;
mod changes;
pub mod customer;
pub mod customer_bytes;
pub mod decode;
pub mod engine;
pub mod event;
pub mod explain;
pub mod holdout;
mod id_index;
pub mod inspect;
pub mod json;
pub mod kano;
pub mod planner;
pub mod prediction;
mod prefetch;
pub use prefetch::prefetch;
pub mod record;
mod record_json;
pub mod record_schema;
pub mod rules;
mod slab;
mod steps;
pub mod store;
pub mod time;
pub mod timers;
pub mod uplift;
pub mod voc;

pub use action::{ActionKind, Category, Reason, Suppression};
pub use customer::{Customer, Stage};
pub use decode::{RejectReason, Rejection, decode};
pub use engine::{
    ClockMode, Engine, EventHashes, Outcome, Snapshot, customer_hash, customer_hash_bytes,
};
pub use event::{Event, EventType, Payload};
pub use record::{Record, RecordSink};
pub use rules::Rules;
pub use time::{Span, TimeError, Timestamp};
