//! A consumed record's headers, names as bytes.
//!
//! rdkafka 0.39's `Headers::get`, `try_get` and `iter` check each header *name* as UTF-8 and
//! unwrap the result (`message.rs`): a record whose header name is not UTF-8, which any
//! producer may write, panicked the processing loop, and again after every restart. Bad input
//! never stops processing (SPEC 1), so the headers are read here through librdkafka's C API,
//! and a name that is not UTF-8 is only ever compared as bytes or copied with U+FFFD in place
//! of its invalid bytes.
//!
//! The crate's seventh `unsafe` (see docs/decisions.md): two calls into librdkafka on a
//! message the caller borrows, whose headers live as long as that borrow.
#![allow(unsafe_code)]

use std::ffi::CStr;

use rdkafka::bindings as rd;
use rdkafka::message::{BorrowedMessage, Header, OwnedHeaders};

/// One header: its name's bytes (without the C string's NUL) and its value (`None`: null).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawHeader<'m> {
    pub name: &'m [u8],
    pub value: Option<&'m [u8]>,
}

/// The headers of `msg`, in order (none when it has none).
pub fn of<'m>(msg: &'m BorrowedMessage<'_>) -> Vec<RawHeader<'m>> {
    let mut headers: *mut rd::rd_kafka_headers_t = std::ptr::null_mut();
    // SAFETY: `msg.ptr()` is the live message `msg` borrows; librdkafka sets `headers` to
    // the message's own list (owned by the message) or leaves it null.
    let err = unsafe { rd::rd_kafka_message_headers(msg.ptr(), &mut headers) };
    if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || headers.is_null() {
        return Vec::new();
    }
    // SAFETY: `headers` is the message's list, valid while `msg` is.
    let count = unsafe { rd::rd_kafka_header_cnt(headers) };
    let mut found = Vec::with_capacity(count);
    for idx in 0..count {
        let mut name = std::ptr::null();
        let mut value = std::ptr::null();
        let mut size = 0;
        // SAFETY: `idx` is below the count; librdkafka points `name` at a NUL-terminated
        // string and `value` at `size` bytes (or null), both owned by the list.
        let err =
            unsafe { rd::rd_kafka_header_get_all(headers, idx, &mut name, &mut value, &mut size) };
        if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
            continue;
        }
        // SAFETY: as above; the slices borrow the message's memory for `'m`.
        let (name, value) = unsafe {
            (
                CStr::from_ptr(name).to_bytes(),
                (!value.is_null()).then(|| std::slice::from_raw_parts(value.cast::<u8>(), size)),
            )
        };
        found.push(RawHeader { name, value });
    }
    found
}

/// The value of the first header of `headers` named `name`, compared case-insensitively (as
/// HTTP-style names such as `content-type` may be written by any client).
pub fn value<'m>(headers: &[RawHeader<'m>], name: &str) -> Option<&'m [u8]> {
    headers
        .iter()
        .find(|h| h.name.eq_ignore_ascii_case(name.as_bytes()))
        .and_then(|h| h.value)
}

/// `headers` copied onto `into`, in order (a name that is not UTF-8 with U+FFFD in place of
/// its invalid bytes; null values stay null).
pub fn copy(headers: &[RawHeader<'_>], mut into: OwnedHeaders) -> OwnedHeaders {
    for h in headers {
        let name = String::from_utf8_lossy(h.name);
        into = into.insert(Header {
            key: &name,
            value: h.value,
        });
    }
    into
}
