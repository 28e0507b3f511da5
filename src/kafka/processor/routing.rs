//! Where the processor's records go: engine records to their [`Output`] topics, rejected
//! input to the dead letters, and events under the wrong key back to the input.

use rdkafka::Message;
use rdkafka::message::{BorrowedMessage, Header, OwnedHeaders};

use super::super::codec::{
    DEAD_LETTER_MAX_HEADERS, append_record, dead_letter_headers, dead_letter_key, dead_letter_value,
};
use super::super::outbox::Envelope;
use super::super::outputs::Output;
use super::super::raw_headers;
use super::Processor;
use crate::config::KeyMismatch;
use crate::domain::uplift::Uplift;
use crate::domain::{Event, Outcome, RejectReason, Rejection, Timestamp};
use crate::tally;

/// The binary-mode CloudEvents headers of an output record (`output.cloudevents`).
fn cloudevents_headers(record: &crate::domain::Record, source: &str) -> Option<OwnedHeaders> {
    let pairs = crate::cloudevents::output_headers(record, source)?;
    let mut headers = OwnedHeaders::new_with_capacity(pairs.len());
    for (key, value) in &pairs {
        headers = headers.insert(Header {
            key,
            value: Some(value.as_str()),
        });
    }
    Some(headers)
}

/// An envelope of the current batch (the protocol sets the batch).
fn envelope<'a>(topic: Output, key: Option<&'a [u8]>, now: Timestamp) -> Envelope<'a> {
    Envelope {
        topic,
        partition: None,
        key,
        headers: None,
        timestamp_ms: Some(now.as_nanos().div_euclid(1_000_000)),
        batch: 0,
    }
}

impl Processor {
    /// Stages the engine's pending records (counting holdout ones in their partition's
    /// `uplift`); `now`, the time read for the messages being handled, is their timestamp.
    pub(super) fn emit(&mut self, now: Timestamp, uplift: &mut Uplift) {
        for record in self.records.drain(..) {
            tally::record_written(&mut self.metrics, &record);
            uplift.record(&record);
            let Some(topic) = Output::of_record(&record) else {
                continue;
            };
            let customer = record.customer_id().unwrap_or_default();
            let mut envelope = envelope(topic, Some(customer.as_bytes()), now);
            if let Some(source) = &self.settings.cloudevents_source {
                envelope.headers = cloudevents_headers(&record, source);
            }
            self.commit.stage(
                envelope,
                Some(|buf: &mut Vec<u8>| append_record(&record, buf)),
            );
            self.stats.records_sent += 1;
        }
    }

    /// An event whose record key is not its customer id (`kafka.key_mismatch`).
    pub(super) fn key_mismatch(&mut self, msg: &BorrowedMessage, event: &Event, now: Timestamp) {
        match self.settings.key_mismatch {
            KeyMismatch::DeadLetter => {
                let detail = match msg.key() {
                    None => "the record has no key; it must be its customer_id",
                    Some([]) => "the record's key is empty; it must be its customer_id",
                    Some(_) => "the record's key is not its customer_id",
                };
                let rejection = Rejection::new(RejectReason::KeyMismatch, detail);
                self.dead_letter(msg, &rejection, now);
            }
            KeyMismatch::Repartition => {
                // With its headers (a CloudEvent in binary mode is its headers and its
                // value), when they fit in a record the producer takes.
                let original = raw_headers::of(msg);
                let headers = OwnedHeaders::new_with_capacity(original.len());
                match original.copy_within(headers, DEAD_LETTER_MAX_HEADERS) {
                    (headers, true) => self.repartition(msg, event, headers, now),
                    (_, false) => {
                        let rejection = Rejection::new(
                            RejectReason::KeyMismatch,
                            "the record's key is not its customer_id, and its headers are too many or too large to produce it again",
                        );
                        self.dead_letter(msg, &rejection, now);
                    }
                }
            }
        }
    }

    /// Stages the dead letter of `msg`: its key and value as they were (a null stays null; a
    /// value over the event limit is cut to it, and a header says so), with headers naming
    /// the reason and where it came from.
    pub(super) fn dead_letter(
        &mut self,
        msg: &BorrowedMessage,
        rejection: &Rejection,
        now: Timestamp,
    ) {
        let (p, offset) = (msg.partition(), msg.offset());
        tally::input_rejected(
            &mut self.metrics,
            rejection,
            format_args!("{}[{p}]@{offset}", self.settings.topics.input),
        );
        let (payload, cut_from) = dead_letter_value(msg.payload());
        let (key, key_cut_from) = dead_letter_key(msg.key());
        let headers = dead_letter_headers(
            rejection,
            &self.settings.topics.input,
            p,
            offset,
            cut_from,
            key_cut_from,
            &raw_headers::of(msg),
        );
        self.commit.stage(
            Envelope {
                headers: Some(headers),
                ..envelope(Output::DeadLetters, key, now)
            },
            payload.map(|v| move |buf: &mut Vec<u8>| buf.extend_from_slice(v)),
        );
    }

    /// Stages `msg` again on the input topic, keyed by its customer id, so that it is
    /// processed on that customer's partition (`kafka.key_mismatch = "repartition"`).
    fn repartition(
        &mut self,
        msg: &BorrowedMessage,
        event: &Event,
        headers: OwnedHeaders,
        now: Timestamp,
    ) {
        tally::event_handled(
            &mut self.metrics,
            event.event_type(),
            Outcome::Repartitioned,
        );
        tracing::debug!(
            partition = msg.partition(),
            offset = msg.offset(),
            "re-producing an event under its customer_id key"
        );
        let payload = msg.payload().unwrap_or_default();
        self.commit.stage(
            Envelope {
                headers: Some(headers),
                ..envelope(Output::Input, Some(event.customer_id.as_bytes()), now)
            },
            Some(|buf: &mut Vec<u8>| buf.extend_from_slice(payload)),
        );
    }
}
