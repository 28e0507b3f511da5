//! `lifecycle replay`: the engine over a JSONL stream, no broker. Streams line by line, so
//! memory grows with the number of customers, not with the length of the input.

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, BufRead, Write};
use std::time::Instant;

use serde::Serialize;

use crate::domain::{
    ActionKind, Category, Engine, Outcome, Record, RecordSink, RejectReason, Rules, Stage,
    Suppression, Timestamp, decode,
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
}

/// Counts of one run: events by outcome, records, customers by stage.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    pub lines: u64,
    pub blank_lines: u64,
    pub outcomes: BTreeMap<Outcome, u64>,
    pub rejected: BTreeMap<RejectReason, u64>,
    pub transitions: u64,
    pub actions: BTreeMap<ActionKind, u64>,
    pub suppressed: BTreeMap<Suppression, u64>,
    pub stages: BTreeMap<Stage, u64>,
}

impl Summary {
    pub fn rejected_total(&self) -> u64 {
        self.rejected.values().sum()
    }

    pub fn events(&self) -> u64 {
        self.outcomes.values().sum::<u64>() + self.rejected_total()
    }

    pub fn outcome(&self, o: Outcome) -> u64 {
        self.outcomes.get(&o).copied().unwrap_or(0)
    }

    fn count(&mut self, record: &Record) {
        match record {
            Record::Transition(_) => self.transitions += 1,
            Record::Action(a) => *self.actions.entry(a.kind).or_default() += 1,
            Record::Suppressed { reason, .. } => *self.suppressed.entry(*reason).or_default() += 1,
        }
    }
}

fn list<K: Copy + Ord>(map: &BTreeMap<K, u64>, name: impl Fn(K) -> &'static str) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter()
        .map(|(k, v)| format!("{} {v}", name(*k)))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sent: u64 = self.actions.values().sum();
        let suppressed: u64 = self.suppressed.values().sum();
        let customers: u64 = self.stages.values().sum();
        let mut by_category: BTreeMap<Category, u64> = BTreeMap::new();
        for (kind, n) in &self.actions {
            *by_category.entry(kind.category()).or_default() += n;
        }
        writeln!(f, "replay summary")?;
        writeln!(
            f,
            "  lines: {} ({} blank, skipped)",
            self.lines, self.blank_lines
        )?;
        writeln!(
            f,
            "  events: {} (applied {}, duplicate {}, ignored {}, nothing_to_erase {}, rejected {})",
            self.events(),
            self.outcome(Outcome::Applied),
            self.outcome(Outcome::Duplicate),
            self.outcome(Outcome::Ignored),
            self.outcome(Outcome::NothingToErase),
            self.rejected_total()
        )?;
        writeln!(
            f,
            "  rejected by reason: {}",
            list(&self.rejected, RejectReason::as_str)
        )?;
        writeln!(f, "  transitions: {}", self.transitions)?;
        writeln!(
            f,
            "  actions sent: {sent} ({})",
            list(&by_category, Category::as_str)
        )?;
        writeln!(
            f,
            "  actions by kind: {}",
            list(&self.actions, ActionKind::as_str)
        )?;
        writeln!(
            f,
            "  actions suppressed: {suppressed} ({})",
            list(&self.suppressed, Suppression::as_str)
        )?;
        let stages: BTreeMap<Stage, u64> = Stage::ALL
            .iter()
            .map(|s| (*s, self.stages.get(s).copied().unwrap_or(0)))
            .collect();
        writeln!(
            f,
            "  customers: {customers} ({})",
            list(&stages, Stage::as_str)
        )
    }
}

/// One line of the rejects file.
#[derive(Serialize)]
struct RejectLine<'a> {
    line: u64,
    reason: &'static str,
    detail: &'a str,
    /// The original line (invalid UTF-8 replaced by U+FFFD).
    text: &'a str,
}

/// Encodes records as JSON lines the moment the engine emits them, writing in 64 KiB
/// chunks, and counts them.
struct LineWriter<'a> {
    out: &'a mut dyn Write,
    buf: Vec<u8>,
    error: Option<io::Error>,
    summary: Summary,
}

impl RecordSink for LineWriter<'_> {
    fn push(&mut self, record: Record) {
        self.summary.count(&record);
        record.write_json_line(&mut self.buf);
        if self.buf.len() >= 64 * 1024 {
            self.write_out();
        }
    }
}

impl LineWriter<'_> {
    fn write_out(&mut self) {
        if self.error.is_none()
            && let Err(e) = self.out.write_all(&self.buf)
        {
            self.error = Some(e);
        }
        self.buf.clear();
    }

    /// The first write error, if any happened.
    fn check(&mut self) -> io::Result<()> {
        self.error.take().map_or(Ok(()), Err)
    }
}

/// Replays `input` into `output` (JSON lines in processing order) and `rejects`.
pub fn replay(
    input: &mut dyn BufRead,
    output: &mut dyn Write,
    mut rejects: RejectSink,
    options: &ReplayOptions,
) -> io::Result<Summary> {
    let mut engine = Engine::new(options.rules.clone());
    let mut line = Vec::with_capacity(1024);
    let mut writer = LineWriter {
        out: output,
        buf: Vec::with_capacity(80 * 1024),
        error: None,
        summary: Summary::default(),
    };
    let mut progress = Progress::new(options.progress);
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            break;
        }
        let summary = &mut writer.summary;
        summary.lines += 1;
        let mut bytes = line.strip_suffix(b"\n").unwrap_or(&line);
        if summary.lines == 1 {
            bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        }
        if is_blank(bytes) {
            summary.blank_lines += 1;
            continue;
        }
        match decode(bytes, options.now) {
            Ok(event) => {
                let outcome = engine.apply(&event, &mut writer);
                *writer.summary.outcomes.entry(outcome).or_default() += 1;
            }
            Err(rejection) => {
                *summary.rejected.entry(rejection.reason).or_default() += 1;
                if let Some(sink) = rejects.as_deref_mut() {
                    let text = String::from_utf8_lossy(bytes);
                    let reject = RejectLine {
                        line: summary.lines,
                        reason: rejection.reason.as_str(),
                        detail: &rejection.detail,
                        text: &text,
                    };
                    serde_json::to_writer(&mut *sink, &reject)?;
                    sink.write_all(b"\n")?;
                }
            }
        }
        writer.check()?;
        progress.tick(writer.summary.lines);
    }
    // The end: the clock advances to --as-of when given (never back), and every timer due by
    // then fires, including timers a late last event armed in the past.
    if let Some(end) = engine.clock().max(options.as_of) {
        engine.advance_clock(end, &mut writer);
    }
    writer.write_out();
    writer.check()?;
    writer.out.flush()?;
    if let Some(sink) = rejects {
        sink.flush()?;
    }
    progress.done(writer.summary.lines);
    let mut summary = writer.summary;
    for customer in engine.customers() {
        *summary.stages.entry(customer.stage).or_default() += 1;
    }
    Ok(summary)
}

/// A line of only whitespace (or nothing) is skipped, not rejected.
fn is_blank(bytes: &[u8]) -> bool {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return true;
    }
    std::str::from_utf8(bytes).is_ok_and(|s| s.trim().is_empty())
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
