//! Why a step of the processing loop failed, and what the loop does about it.

use rdkafka::error::KafkaError;

use super::changelog::RestoreError;
use super::sink::SinkError;

#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error(transparent)]
    Sink(#[from] SinkError),
    #[error(transparent)]
    Restore(#[from] RestoreError),
    #[error("committing input offsets failed: {0}")]
    Commit(#[source] KafkaError),
    #[error("the transaction failed: {0}")]
    Transaction(#[source] KafkaError),
    #[error("the consumer has no group metadata (not in a group yet)")]
    NoGroupMetadata,
    /// The group refused this instance's membership (paused or cut off past its session
    /// timeout, so its partitions may be someone else's now).
    #[error("this instance's group membership could not be confirmed: {0}")]
    Fenced(#[source] KafkaError),
}

impl ProcessError {
    /// A fatal producer error (fenced by a newer instance with the same transactional id,
    /// for example): the clients must be recreated.
    pub fn is_fatal(&self) -> bool {
        match self {
            ProcessError::Fenced(_) => true,
            ProcessError::Transaction(KafkaError::Transaction(e)) => e.is_fatal(),
            ProcessError::Sink(SinkError::Enqueue { source, .. }) => {
                source.rdkafka_error_code() == Some(rdkafka::error::RDKafkaErrorCode::Fatal)
            }
            _ => false,
        }
    }

    /// An error after which the transaction must be aborted and the input rewound.
    pub fn requires_abort(&self) -> bool {
        match self {
            ProcessError::Transaction(KafkaError::Transaction(e)) => {
                e.txn_requires_abort() && !e.is_fatal()
            }
            ProcessError::Sink(_) | ProcessError::Transaction(_) => true,
            _ => false,
        }
    }
}
