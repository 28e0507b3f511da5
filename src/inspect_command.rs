//! `lifecycle inspect` (SPEC 9): one customer's answer from a CRM history, offline. It *is* a
//! replay (records discarded; `--as-of` moves the clock at the end and fires the timers due,
//! as replay does), then [`customer_view`] of the customer at the engine's clock, with the
//! position `{"lines": N}`: the input lines read.

use crate::config::Config;
use crate::domain::inspect::{
    BadCustomerId, CustomerView, Position, check_customer_id, customer_view,
};

/// Why `inspect` gives no answer. None of the messages quotes the customer id.
#[derive(Debug, thiserror::Error)]
pub enum InspectError {
    /// `--customer` cannot be any customer's id: a usage error (exit 2).
    #[error("--customer: {0}")]
    BadId(#[from] BadCustomerId),
    /// No such customer at the end of the input (exit 1): never seen, or erased (the state
    /// keeps nothing of an erased customer, so the two cannot be told apart).
    #[error("no customer with this id in {input}: never seen, or erased")]
    Unknown { input: String },
    /// The run itself failed: an unreadable input, a malformed `--as-of` (exit 1).
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

impl InspectError {
    /// The process's exit code for this error: 2 for a usage error, like clap's.
    pub fn exit_code(&self) -> u8 {
        match self {
            InspectError::BadId(_) => 2,
            InspectError::Unknown { .. } | InspectError::Failed(_) => 1,
        }
    }
}

/// The answer for `customer` after replaying `input` (a path or `-`), the clock moved to
/// `as_of` when given.
pub fn inspect_file(
    input: &str,
    customer: &str,
    as_of: Option<&str>,
    config: &Config,
) -> Result<CustomerView, InspectError> {
    check_customer_id(customer)?;
    let as_of = as_of.map(crate::app::parse_as_of).transpose()?;
    let (summary, engine) = crate::app::replay_quietly(input, config, as_of, None)?;
    let found = engine
        .customer(customer)
        .ok_or_else(|| InspectError::Unknown {
            input: input.to_string(),
        })?;
    let mut view = customer_view(found, engine.rules(), engine.clock());
    view.position = Some(Position::Lines {
        lines: summary.lines,
    });
    Ok(view)
}
