//! `lifecycle replay`: the engine over a JSONL stream, no broker. Streams line by line, so
//! memory grows with the number of customers, not with the length of the input.

use std::borrow::Cow;
use std::io::{self, BufRead, Write};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::time::Instant;

use compact_str::CompactString;

mod reject_text;
mod summary;
use crate::tally::{self, Counts};
use reject_text::kept_text;
use serde::Serialize;
pub use summary::Summary;

use crate::domain::decode::MAX_EVENT_BYTES;
use crate::domain::voc::Voc;
use crate::domain::{
    Engine, Event, EventHashes, EventType, Outcome, Payload, Record, RecordSink, RejectReason,
    Rejection, Rules, Timestamp, decode, prefetch,
};

/// Where rejected lines go, if anywhere.
pub type RejectSink<'a> = Option<&'a mut dyn Write>;

/// Settings of one replay run.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub rules: Rules,
    /// After the last event the clock advances to this time, firing due timers.
    pub as_of: Option<Timestamp>,
    /// The system time for the `future_timestamp` rule (taken once per run).
    pub now: Timestamp,
    /// Print progress to stderr now and then.
    pub progress: bool,
    /// Only events that occurred at or before this are applied (`lifecycle fit --until`).
    pub until: Option<Timestamp>,
    /// How many features the voice-of-the-customer counts keep by name (`voc.max_features`).
    pub voc_max_features: usize,
}

/// One line of the rejects file.
#[derive(Serialize)]
struct RejectLine<'a> {
    line: u64,
    reason: &'static str,
    detail: &'a str,
    /// The original line (invalid UTF-8 replaced by U+FFFD), at most 1 MiB of it in UTF-8
    /// (`reject_text`).
    text: &'a str,
    /// Present (true) when `text` is cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    text_truncated: Option<bool>,
    /// The line's length in bytes, when `text` is cut.
    #[serde(skip_serializing_if = "Option::is_none")]
    original_size: Option<usize>,
}

/// How many lines (or records) travel between the stages at once, and how many such
/// batches may wait in each channel: bounded, so memory does not grow with the input. Three
/// threads share 2 cores, so each stage is descheduled now and then for a few milliseconds;
/// 64 batches of lines (~60 ms of decoding) let the engine run on meanwhile, where 4 made it
/// wait (about 5 % faster over 14 interleaved pairs). Records are bigger (a few hundred
/// bytes each) and the encoder rarely falls behind: a deeper queue there only added memory
/// (358 against 339 bytes per customer in scripts/measure-memory.sh) and no speed.
const BATCH: usize = 1024;
const LINE_BATCHES_IN_FLIGHT: usize = 64;
const RECORD_BATCHES_IN_FLIGHT: usize = 4;

/// How far ahead in its batch the engine's thread asks for a decoded line: the lines were
/// written on the decoding thread's core, and reading each for the first time (for the
/// prefetches of `Engine::warm_ahead`, twelve places ahead) waited on that core's cache.
const LINES_AHEAD: usize = 32;

/// A decoded event that owns its ids inline (ids up to 24 bytes need no allocation, so
/// nothing is freed on a thread other than the one that allocated it).
struct OwnedEvent {
    event_id: CompactString,
    customer_id: CompactString,
    /// The hashes of the ids, taken on the decoding thread: for the engine's prefetch and
    /// lookups, off the engine's thread.
    hashes: EventHashes,
    occurred_at: Timestamp,
    payload: Option<Payload>,
    /// A feedback event's `feature` (inline up to 24 bytes, like the ids).
    feature: Option<CompactString>,
}

impl OwnedEvent {
    fn new(e: &Event) -> OwnedEvent {
        OwnedEvent {
            event_id: CompactString::from(&*e.event_id),
            customer_id: CompactString::from(&*e.customer_id),
            hashes: EventHashes::of(e),
            occurred_at: e.occurred_at,
            payload: e.payload,
            feature: e.feature.as_deref().map(CompactString::from),
        }
    }

    fn event(&self) -> Event<'_> {
        Event {
            event_id: Cow::Borrowed(&self.event_id),
            customer_id: Cow::Borrowed(&self.customer_id),
            occurred_at: self.occurred_at,
            payload: self.payload,
            feature: self.feature.as_deref().map(Cow::Borrowed),
        }
    }
}

/// One input line after decoding.
enum Line {
    Blank,
    Event(OwnedEvent),
    Rejected {
        rejection: Rejection,
        /// The original line, kept only when there is a rejects file to write it to.
        text: Option<String>,
        /// The line's length when `text` is not the whole line (see `reject_text`).
        cut_from: Option<usize>,
    },
}

/// Collects the engine's records in batches for the encoding thread, and counts them.
struct RecordBatches {
    batch: Vec<Record>,
    to_encoder: SyncSender<Vec<Record>>,
    /// Emptied batches back from the encoder, to fill again.
    spare: Receiver<Vec<Record>>,
    /// The encoder has stopped (a write failed): further records are dropped, and the run
    /// ends with the encoder's error.
    closed: bool,
    summary: Summary,
    counts: Counts,
}

impl RecordSink for RecordBatches {
    fn push(&mut self, record: Record) {
        tally::record_written(&mut self.counts, &record);
        if matches!(record, Record::Suppressed { .. }) {
            return;
        }
        self.batch.push(record);
        if self.batch.len() >= BATCH {
            self.send();
        }
    }
}

impl RecordBatches {
    fn send(&mut self) {
        if self.batch.is_empty() || self.closed {
            self.batch.clear();
            return;
        }
        let fresh = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH));
        let batch = std::mem::replace(&mut self.batch, fresh);
        self.closed = self.to_encoder.send(batch).is_err();
    }
}

/// Replays `input` into `output` (JSON lines in processing order) and `rejects`.
///
/// Three stages run at once, joined by bounded channels that keep the order: a thread reads
/// and decodes lines, this thread drives the engine (the only stage with state), and a
/// thread encodes the records and writes them. The output is byte-identical to doing the
/// three one after the other.
pub fn replay(
    input: &mut (dyn BufRead + Send),
    output: &mut (dyn Write + Send),
    rejects: RejectSink,
    options: &ReplayOptions,
) -> io::Result<Summary> {
    replay_to_state(input, output, rejects, options).map(|(summary, _)| summary)
}

/// [`replay`], and the engine's state at the end (for `lifecycle fit`).
pub fn replay_to_state(
    input: &mut (dyn BufRead + Send),
    output: &mut (dyn Write + Send),
    mut rejects: RejectSink,
    options: &ReplayOptions,
) -> io::Result<(Summary, Engine)> {
    let mut engine = Engine::new(options.rules.clone());
    let mut progress = Progress::new(options.progress);
    let keep_text = rejects.is_some();
    let (lines_tx, lines_rx) = sync_channel::<io::Result<Vec<Line>>>(LINE_BATCHES_IN_FLIGHT);
    let (records_tx, records_rx) = sync_channel::<Vec<Record>>(RECORD_BATCHES_IN_FLIGHT);
    // Emptied batches travel back to be filled again: a fresh 1,024-record batch each time
    // cost more in page faults (the allocator returning and re-mapping the memory freed on
    // the other thread) than all the engine's work.
    let (spare_lines_tx, spare_lines_rx) = sync_channel::<Vec<Line>>(LINE_BATCHES_IN_FLIGHT + 2);
    let (spare_records_tx, spare_records_rx) =
        sync_channel::<Vec<Record>>(RECORD_BATCHES_IN_FLIGHT + 2);
    let now = options.now;
    std::thread::scope(|scope| {
        scope.spawn(move || read_and_decode(input, now, keep_text, &lines_tx, &spare_lines_rx));
        let encoder = scope.spawn(move || encode_and_write(output, &records_rx, &spare_records_tx));
        let mut sink = RecordBatches {
            batch: Vec::with_capacity(BATCH),
            to_encoder: records_tx,
            spare: spare_records_rx,
            closed: false,
            summary: Summary::with_voc(Voc::new(options.voc_max_features)),
            counts: Counts::default(),
        };
        let processed = (|| -> io::Result<()> {
            for batch in lines_rx.iter() {
                let mut batch = batch?;
                let customer_of = |line: &Line| match line {
                    Line::Event(e) => Some(e.hashes.customer),
                    _ => None,
                };
                let mut i = 0;
                engine.apply_batch(&batch, customer_of, |engine, line| {
                    if let Some(ahead) = batch.get(i + LINES_AHEAD) {
                        prefetch(ahead);
                    }
                    i += 1;
                    let summary = &mut sink.summary;
                    summary.lines += 1;
                    let line_number = summary.lines;
                    match line {
                        Line::Blank => summary.blank_lines += 1,
                        Line::Event(event)
                            if options.until.is_some_and(|u| event.occurred_at > u) =>
                        {
                            summary.after_until += 1;
                        }
                        Line::Event(event) => {
                            let outcome =
                                engine.apply_hashed(&event.event(), event.hashes, None, &mut sink);
                            let event_type = event.payload.as_ref().map(Payload::event_type);
                            tally::event_handled(&mut sink.counts, event_type, outcome);
                            if event_type == Some(EventType::Feedback)
                                && outcome == Outcome::Applied
                            {
                                observe_feedback(&mut sink.summary.voc, engine, event);
                            }
                        }
                        Line::Rejected {
                            rejection,
                            text,
                            cut_from,
                        } => {
                            tally::input_rejected(&mut sink.counts, rejection, line_number);
                            if let (Some(out), Some(text)) = (rejects.as_deref_mut(), text) {
                                write_reject(out, line_number, rejection, text, *cut_from)?;
                            }
                        }
                    }
                    progress.tick(line_number);
                    Ok::<(), io::Error>(())
                })?;
                batch.clear();
                let _ = spare_lines_tx.try_send(batch);
                if sink.closed {
                    break;
                }
            }
            // The end: the clock advances to --as-of when given (never back), and every
            // timer due by then fires, including timers a late last event armed in the past.
            if let Some(end) = engine.clock().max(options.as_of) {
                engine.advance_clock(end, &mut sink);
            }
            sink.send();
            Ok(())
        })();
        // Dropping the receiver stops the reader if processing stopped early; dropping the
        // sender ends the encoder's input. The encoder's result comes first, since a failed
        // write is why processing stopped early.
        drop(lines_rx);
        let mut summary = std::mem::take(&mut sink.summary);
        summary.add(&sink.counts);
        drop(sink);
        let written = encoder
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the encoding thread panicked")));
        written?;
        processed?;
        if let Some(out) = rejects {
            out.flush()?;
        }
        progress.done(summary.lines);
        for customer in engine.customers() {
            *summary.stages.entry(customer.stage).or_default() += 1;
        }
        Ok((summary, engine))
    })
}

/// Counts an applied feedback event in the voice-of-the-customer tallies, with its
/// customer's stage after it (one lookup, only for feedback events).
fn observe_feedback(voc: &mut Voc, engine: &Engine, event: &OwnedEvent) {
    let (Some(payload), Some(customer)) = (&event.payload, engine.customer(&event.customer_id))
    else {
        return;
    };
    voc.observe(payload, event.feature.as_deref(), customer.stage);
}

/// The reading stage: lines in, decoded in batches. Stops at the end of the input, at a
/// read error (sent on), or when the engine stage has stopped listening.
///
/// Lines are decoded where they lie in the reader's buffer; only a line that straddles two
/// fills of the buffer is copied (the per-line copy of `read_until` was a tenth of this
/// thread).
fn read_and_decode(
    input: &mut (dyn BufRead + Send),
    now: Timestamp,
    keep_text: bool,
    out: &SyncSender<io::Result<Vec<Line>>>,
    spare: &Receiver<Vec<Line>>,
) {
    let mut decoder = LineDecoder {
        now,
        keep_text,
        first: true,
        batch: Vec::with_capacity(BATCH),
        out,
        spare,
    };
    // The start of a line whose end is not in the buffer yet: at most its first
    // MAX_EVENT_BYTES + 1 bytes (enough to know it is too large), however long it is.
    let mut straddling: Vec<u8> = Vec::new();
    // The length of that line so far.
    let mut straddling_len = 0usize;
    let hold = |straddling: &mut Vec<u8>, len: &mut usize, bytes: &[u8]| {
        let room = (MAX_EVENT_BYTES + 1).saturating_sub(straddling.len());
        straddling.extend_from_slice(&bytes[..bytes.len().min(room)]);
        *len += bytes.len();
    };
    loop {
        let buf = match input.fill_buf() {
            Ok([]) => break,
            Ok(buf) => buf,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let _ = out.send(Err(e));
                return;
            }
        };
        let mut rest = buf;
        if straddling_len > 0 {
            let Some(end) = memchr::memchr(b'\n', rest) else {
                hold(&mut straddling, &mut straddling_len, rest);
                let n = buf.len();
                input.consume(n);
                continue;
            };
            hold(&mut straddling, &mut straddling_len, &rest[..end]);
            rest = &rest[end + 1..];
            if !decoder.line_of(&straddling, straddling_len) {
                return;
            }
            straddling.clear();
            straddling_len = 0;
        }
        while let Some(end) = memchr::memchr(b'\n', rest) {
            if !decoder.line_of(&rest[..end], end) {
                return;
            }
            rest = &rest[end + 1..];
        }
        hold(&mut straddling, &mut straddling_len, rest);
        let n = buf.len();
        input.consume(n);
    }
    if straddling_len > 0 && !decoder.line_of(&straddling, straddling_len) {
        return;
    }
    let _ = out.send(Ok(decoder.batch));
}

/// UTF-8's byte order mark, ignored at the start of a file (SPEC 1).
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Decodes lines into batches and sends full batches on.
struct LineDecoder<'c> {
    now: Timestamp,
    keep_text: bool,
    first: bool,
    batch: Vec<Line>,
    out: &'c SyncSender<io::Result<Vec<Line>>>,
    spare: &'c Receiver<Vec<Line>>,
}

impl LineDecoder<'_> {
    /// A line of `len` bytes of which `held` are its first ones (all of them, unless it is
    /// over the event limit): a line over the limit is rejected as `too_large` from its first
    /// MiB, never held whole (SPEC 1: a line of gigabytes must not exhaust memory).
    fn line_of(&mut self, held: &[u8], len: usize) -> bool {
        // A byte order mark opening the file is not part of its first line (SPEC 1).
        let first = std::mem::replace(&mut self.first, false);
        let (held, len) = match first && held.starts_with(BOM) {
            true => (&held[BOM.len()..], len - BOM.len()),
            false => (held, len),
        };
        if len <= MAX_EVENT_BYTES {
            return self.line(held);
        }
        let (text, cut_from) = self.text_of(held, len);
        self.push(Line::Rejected {
            rejection: Rejection::new(
                RejectReason::TooLarge,
                format!("{len} bytes, the limit is {MAX_EVENT_BYTES}"),
            ),
            text,
            cut_from,
        })
    }

    /// What a rejects line keeps of a rejected line (nothing without a rejects file).
    fn text_of(&self, held: &[u8], len: usize) -> (Option<String>, Option<usize>) {
        if !self.keep_text {
            return (None, None);
        }
        let (text, cut_from) = kept_text(held, len);
        (Some(text), cut_from)
    }

    /// One line without its line feed; false when the engine stage has stopped listening.
    fn line(&mut self, line: &[u8]) -> bool {
        let bytes = line;
        let line = if is_blank(bytes) {
            Line::Blank
        } else {
            match decode(bytes, self.now) {
                Ok(event) => Line::Event(OwnedEvent::new(&event)),
                Err(rejection) => {
                    let (text, cut_from) = self.text_of(bytes, bytes.len());
                    Line::Rejected {
                        rejection,
                        text,
                        cut_from,
                    }
                }
            }
        };
        self.push(line)
    }

    /// Adds a line to the batch, sending the batch on when it is full; false when the
    /// engine stage has stopped listening.
    fn push(&mut self, line: Line) -> bool {
        self.batch.push(line);
        if self.batch.len() < BATCH {
            return true;
        }
        let fresh = self
            .spare
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(BATCH));
        self.out
            .send(Ok(std::mem::replace(&mut self.batch, fresh)))
            .is_ok()
    }
}

/// The writing stage: records in, JSON lines out in 64 KiB chunks.
fn encode_and_write(
    output: &mut (dyn Write + Send),
    records: &Receiver<Vec<Record>>,
    spare: &SyncSender<Vec<Record>>,
) -> io::Result<()> {
    let mut buf = Vec::with_capacity(80 * 1024);
    for mut batch in records.iter() {
        // Encoded where they lie, not moved out first: a record is a few hundred bytes.
        for record in &batch {
            record.write_json_line(&mut buf);
            if buf.len() >= 64 * 1024 {
                output.write_all(&buf)?;
                buf.clear();
            }
        }
        batch.clear();
        let _ = spare.try_send(batch);
    }
    output.write_all(&buf)?;
    output.flush()
}

fn write_reject(
    out: &mut dyn Write,
    line: u64,
    rejection: &Rejection,
    text: &str,
    cut_from: Option<usize>,
) -> io::Result<()> {
    let reject = RejectLine {
        line,
        reason: rejection.reason.as_str(),
        detail: &rejection.detail,
        text,
        text_truncated: cut_from.map(|_| true),
        original_size: cut_from,
    };
    serde_json::to_writer(&mut *out, &reject)?;
    out.write_all(b"\n")
}

/// A line of only white space (Unicode White_Space, or nothing) is skipped, not rejected.
fn is_blank(bytes: &[u8]) -> bool {
    // The ASCII White_Space characters: `is_ascii_whitespace` leaves out U+000B.
    let ascii_space = |b: &&u8| matches!(**b, b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | b' ');
    match bytes.iter().find(|b| !ascii_space(b)) {
        None => true,
        // Any other ASCII byte is not white space; only then is the line read as text
        // (every line through `from_utf8` was 4% of the decoding thread).
        Some(b) if b.is_ascii() => false,
        Some(_) => std::str::from_utf8(bytes).is_ok_and(|s| s.trim().is_empty()),
    }
}

/// A progress line on stderr, about once a second, only when asked (stderr is a terminal).
struct Progress {
    enabled: bool,
    started: Instant,
    last: Instant,
}

impl Progress {
    fn new(enabled: bool) -> Progress {
        let now = Instant::now();
        Progress {
            enabled,
            started: now,
            last: now,
        }
    }

    fn tick(&mut self, lines: u64) {
        if !self.enabled || !lines.is_multiple_of(65_536) {
            return;
        }
        let now = Instant::now();
        if now.duration_since(self.last).as_secs_f64() >= 1.0 {
            self.last = now;
            let secs = now.duration_since(self.started).as_secs_f64();
            eprint!("\r{lines} lines, {:.0} lines/s   ", lines as f64 / secs);
        }
    }

    fn done(&self, lines: u64) {
        if self.enabled && self.last != self.started {
            let secs = self.started.elapsed().as_secs_f64();
            eprintln!("\r{lines} lines in {secs:.1} s            ");
        }
    }
}

#[cfg(test)]
mod tests;
