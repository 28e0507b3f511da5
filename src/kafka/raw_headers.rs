//! A consumed record's headers, names as bytes.
//!
//! rdkafka 0.39's `Headers::get`, `try_get` and `iter` check each header *name* as UTF-8 and
//! unwrap the result (`message.rs`): a record whose header name is not UTF-8, which any
//! producer may write, panicked the processing loop, and again after every restart. Bad input
//! never stops processing (SPEC 1), so the headers are read here through librdkafka's C API,
//! and a name that is not UTF-8 is only ever compared as bytes or copied with U+FFFD in place
//! of its invalid bytes.
//!
//! The crate's seventh `unsafe` (see docs/decisions.md): calls into librdkafka on a message
//! the caller borrows, whose header list lives as long as that borrow.
#![allow(unsafe_code)]

use std::ffi::CStr;
use std::marker::PhantomData;

use rdkafka::bindings as rd;
use rdkafka::message::{BorrowedMessage, Header, OwnedHeaders};

/// One header: its name's bytes (without the C string's NUL) and its value (`None`: null).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawHeader<'m> {
    pub name: &'m [u8],
    pub value: Option<&'m [u8]>,
}

/// The header list of a message, read in place (no copy).
#[derive(Clone, Copy, Debug)]
pub struct RawHeaders<'m> {
    /// Null when the message has no headers.
    list: *const rd::rd_kafka_headers_t,
    count: usize,
    message: PhantomData<&'m ()>,
}

/// The headers of `msg`.
pub fn of<'m>(msg: &'m BorrowedMessage<'_>) -> RawHeaders<'m> {
    let mut list: *mut rd::rd_kafka_headers_t = std::ptr::null_mut();
    // SAFETY: `msg.ptr()` is the live message `msg` borrows; librdkafka sets `list` to the
    // message's own header list (freed with the message) or leaves it null.
    let err = unsafe { rd::rd_kafka_message_headers(msg.ptr(), &mut list) };
    let found = err == rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && !list.is_null();
    RawHeaders {
        list: if found { list } else { std::ptr::null() },
        // SAFETY: a live list, as above.
        count: if found {
            unsafe { rd::rd_kafka_header_cnt(list) }
        } else {
            0
        },
        message: PhantomData,
    }
}

impl<'m> RawHeaders<'m> {
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The header at `idx`, if librdkafka gives one.
    fn get(&self, idx: usize) -> Option<RawHeader<'m>> {
        let (mut name, mut value, mut size) = (std::ptr::null(), std::ptr::null(), 0);
        // SAFETY: `idx` is below the count of a live list; librdkafka points `name` at a
        // NUL-terminated string and `value` at `size` bytes (or null), both owned by the
        // list, which lives as long as the message borrowed for `'m`.
        let err = unsafe {
            rd::rd_kafka_header_get_all(self.list.cast_mut(), idx, &mut name, &mut value, &mut size)
        };
        if err != rd::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR || name.is_null() {
            return None;
        }
        // SAFETY: as above.
        let header = unsafe {
            RawHeader {
                name: CStr::from_ptr(name).to_bytes(),
                value: (!value.is_null())
                    .then(|| std::slice::from_raw_parts(value.cast::<u8>(), size)),
            }
        };
        Some(header)
    }

    /// The headers in order.
    pub fn iter(&self) -> impl Iterator<Item = RawHeader<'m>> + '_ {
        (0..self.count).filter_map(|idx| self.get(idx))
    }

    /// The value of the first header named `name`, compared case-insensitively (as
    /// HTTP-style names such as `content-type` may be written by any client).
    pub fn value(&self, name: &str) -> Option<&'m [u8]> {
        self.iter()
            .find(|h| h.name.eq_ignore_ascii_case(name.as_bytes()))
            .and_then(|h| h.value)
    }

    /// The headers copied onto `into`, in order, those that fit in what is left of `budget`
    /// bytes as librdkafka writes them (each name as UTF-8, with U+FFFD for an invalid
    /// byte, its value and their two lengths: a large one is left out, the small ones after
    /// it still copied), at most [`MAX_COPIED`] of them; whether every one was copied.
    pub fn copy_within(&self, mut into: OwnedHeaders, budget: usize) -> (OwnedHeaders, bool) {
        let (mut used, mut copied, mut all) = (0, 0, true);
        for h in self.iter() {
            let name = String::from_utf8_lossy(h.name);
            let cost = name.len() + h.value.map_or(0, <[u8]>::len) + LENGTHS;
            if copied == MAX_COPIED || used + cost > budget {
                all = false;
                continue;
            }
            used += cost;
            copied += 1;
            into = into.insert(Header {
                key: &name,
                value: h.value,
            });
        }
        (into, all)
    }
}

/// What a header costs beside its name and value: its two lengths (varints of up to five
/// bytes each in Kafka's record format).
const LENGTHS: usize = 10;

/// The most headers of a record copied into another.
pub const MAX_COPIED: usize = 256;
