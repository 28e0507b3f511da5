//! CloudEvents on the input topic (SPEC 11): which messages carry one, read through the
//! message's headers; the mapping itself is `crate::cloudevents`, free of rdkafka.

use rdkafka::Message;
use rdkafka::message::BorrowedMessage;

use super::raw_headers;
use crate::cloudevents::{CloudEventsConfig, Mode, from_binary, from_structured, mode};
use crate::domain::decode::MAX_EVENT_BYTES;
use crate::domain::{RejectReason, Rejection};

/// The plain event (JSON text) a CloudEvent message stands for, or why it cannot be one;
/// `None` for a message that is not a CloudEvent (the common case: one header lookup, or
/// none without headers).
pub fn plain_event(
    msg: &BorrowedMessage<'_>,
    config: &CloudEventsConfig,
) -> Option<Result<String, Rejection>> {
    msg.headers()?;
    let headers = raw_headers::of(msg);
    let lookup = |name: &str| headers.value(name);
    let value = msg.payload().unwrap_or_default();
    let mode = mode(lookup)?;
    // SPEC 1's limit is the record's: checked before the translation, which may be longer
    // or shorter than the record (JSON escapes, numbers written again).
    if value.len() > MAX_EVENT_BYTES {
        return Some(Err(Rejection::new(
            RejectReason::TooLarge,
            format!("{} bytes, the limit is {MAX_EVENT_BYTES}", value.len()),
        )));
    }
    match mode {
        Mode::Binary => Some(from_binary(lookup, value, config)),
        Mode::Structured => Some(from_structured(value, config)),
    }
}
