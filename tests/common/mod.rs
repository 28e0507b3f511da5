//! Test harness shared by the integration tests: runs `lifecycle::replay::replay` in memory
//! over a JSONL text, parses its output records and rejects lines as JSON, and projects them
//! to compact strings that read like the SPEC.
//!
//! Expected values in the tests are written from SPEC.md, never copied from a run. Times are
//! built with [`d`] / [`ts`], a small calendar of its own (days after 2025-01-01T00:00:00Z),
//! independent of the crate's time code.

#![allow(dead_code)]

use std::fmt::Debug;
use std::io::{Cursor, Write};

use lifecycle::config::Config;
use lifecycle::domain::{Outcome, RejectReason, Stage, Suppression, Timestamp};
use lifecycle::replay::{ReplayOptions, Summary, replay};
use serde_json::Value;

#[path = "../produced/mod.rs"]
mod produced;

/// The system time of every test run (for the `future_timestamp` rule).
pub const NOW: &str = "2026-06-01T00:00:00Z";

/// What one replay produced.
#[derive(Debug)]
pub struct Output {
    /// The output records (transitions and actions), in processing order.
    pub records: Vec<Value>,
    /// The rejects lines (`line`, `reason`, `text`, ...).
    pub rejects: Vec<Value>,
    pub summary: Summary,
}

/// Replays `jsonl` with the default configuration and no `--as-of`.
pub fn replay_lines(jsonl: &str) -> Output {
    replay_with(jsonl, None, None)
}

/// Replays `jsonl` with an optional `--as-of` and an optional user config (TOML text laid
/// over `config/default.toml`).
pub fn replay_with(jsonl: &str, as_of: Option<&str>, config_toml: Option<&str>) -> Output {
    replay_bytes(jsonl.as_bytes(), as_of, config_toml)
}

/// Like [`replay_with`], over raw bytes (for invalid UTF-8).
pub fn replay_bytes(input: &[u8], as_of: Option<&str>, config_toml: Option<&str>) -> Output {
    let config = match config_toml {
        Some(text) => Config::from_toml_str(text, "test config")
            .unwrap_or_else(|e| panic!("test config does not load: {e}")),
        None => Config::default_config(),
    };
    let options = ReplayOptions {
        rules: config.rules(),
        as_of: as_of.map(|s| {
            Timestamp::parse_rfc3339(s).unwrap_or_else(|e| panic!("bad --as-of {s:?}: {e:?}"))
        }),
        now: Timestamp::parse_rfc3339(NOW).expect("NOW parses"),
        progress: false,
        until: None,
        voc_max_features: config.voc.max_features,
    };
    let mut output: Vec<u8> = Vec::new();
    let mut rejects: Vec<u8> = Vec::new();
    let summary = {
        let sink: &mut dyn Write = &mut rejects;
        replay(&mut Cursor::new(input), &mut output, Some(sink), &options)
            .expect("replay into memory cannot fail on I/O")
    };
    produced::records(output.split(|b| *b == b'\n'));
    Output {
        records: parse_json_lines(&output, "output"),
        rejects: parse_json_lines(&rejects, "rejects"),
        summary,
    }
}

fn parse_json_lines(bytes: &[u8], what: &str) -> Vec<Value> {
    let text = std::str::from_utf8(bytes).unwrap_or_else(|e| panic!("{what} is not UTF-8: {e}"));
    text.lines()
        .map(|l| {
            serde_json::from_str(l).unwrap_or_else(|e| panic!("{what} line is not JSON ({e}): {l}"))
        })
        .collect()
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A transition record as `c1 prospect->new first_conversion 2025-01-01T00:00:00Z seq=2`.
pub fn transition_str(r: &Value) -> String {
    format!(
        "{} {}->{} {} {} seq={}",
        s(&r["customer_id"]),
        s(&r["from"]),
        s(&r["to"]),
        s(&r["reason"]),
        s(&r["at"]),
        s(&r["seq"])
    )
}

/// An action record as `c1 welcome_onboarding care new 2025-01-01T00:00:00Z cause=e2`
/// (`cause=-` for an action planned by a timer).
pub fn action_str(r: &Value) -> String {
    let cause = match &r["cause_event_id"] {
        Value::Null => "-".to_string(),
        v => s(v),
    };
    format!(
        "{} {} {} {} {} cause={}",
        s(&r["customer_id"]),
        s(&r["kind"]),
        s(&r["category"]),
        s(&r["stage"]),
        s(&r["at"]),
        cause
    )
}

fn is_transition(r: &Value) -> bool {
    r["type"] == "transition"
}

fn is_action(r: &Value) -> bool {
    r["type"] == "action"
}

impl Output {
    pub fn transition_records(&self) -> Vec<&Value> {
        self.records.iter().filter(|r| is_transition(r)).collect()
    }

    pub fn action_records(&self) -> Vec<&Value> {
        self.records.iter().filter(|r| is_action(r)).collect()
    }

    /// Every transition, compact, in output order.
    pub fn transitions(&self) -> Vec<String> {
        self.transition_records()
            .into_iter()
            .map(transition_str)
            .collect()
    }

    /// The transitions of one customer.
    pub fn transitions_of(&self, customer: &str) -> Vec<String> {
        self.transition_records()
            .into_iter()
            .filter(|r| r["customer_id"] == customer)
            .map(transition_str)
            .collect()
    }

    /// Transitions caused by timers (`event_id` null).
    pub fn timer_transitions(&self) -> Vec<String> {
        self.transition_records()
            .into_iter()
            .filter(|r| r["event_id"].is_null())
            .map(transition_str)
            .collect()
    }

    /// Every sent action, compact, in output order.
    pub fn actions(&self) -> Vec<String> {
        self.action_records().into_iter().map(action_str).collect()
    }

    /// The sent actions of one kind.
    pub fn actions_of_kind(&self, kind: &str) -> Vec<String> {
        self.action_records()
            .into_iter()
            .filter(|r| r["kind"] == kind)
            .map(action_str)
            .collect()
    }

    /// The kinds of the sent actions, in output order.
    pub fn action_kinds(&self) -> Vec<String> {
        self.action_records()
            .into_iter()
            .map(|r| s(&r["kind"]))
            .collect()
    }

    /// `kind reason` of each sent action.
    pub fn action_reasons(&self) -> Vec<String> {
        self.action_records()
            .into_iter()
            .map(|r| format!("{} {}", s(&r["kind"]), s(&r["reason"])))
            .collect()
    }

    pub fn action_ids(&self) -> Vec<String> {
        self.action_records()
            .into_iter()
            .map(|r| s(&r["action_id"]))
            .collect()
    }

    /// Every record (transitions and actions), compact, in output order.
    pub fn all(&self) -> Vec<String> {
        self.records
            .iter()
            .map(|r| {
                if is_transition(r) {
                    transition_str(r)
                } else if is_action(r) {
                    action_str(r)
                } else {
                    format!("?? {r}")
                }
            })
            .collect()
    }

    /// `line reason` of each rejects line.
    pub fn rejects(&self) -> Vec<String> {
        self.rejects
            .iter()
            .map(|r| format!("{} {}", s(&r["line"]), s(&r["reason"])))
            .collect()
    }

    pub fn reject_reasons(&self) -> Vec<String> {
        self.rejects.iter().map(|r| s(&r["reason"])).collect()
    }

    /// Events with this outcome (`applied`, `duplicate`, `ignored`, `nothing_to_erase`).
    pub fn outcome(&self, name: &str) -> u64 {
        let o = Outcome::ALL
            .into_iter()
            .find(|o| o.as_str() == name)
            .unwrap_or_else(|| panic!("no outcome {name}"));
        self.summary.outcome(o)
    }

    /// Events rejected for this reason.
    pub fn rejected(&self, name: &str) -> u64 {
        let r = RejectReason::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .unwrap_or_else(|| panic!("no reject reason {name}"));
        self.summary.rejected.get(&r).copied().unwrap_or(0)
    }

    /// Actions suppressed for this reason (`cooldown`, `no_consent`).
    pub fn suppressed(&self, name: &str) -> u64 {
        let r = Suppression::ALL
            .into_iter()
            .find(|r| r.as_str() == name)
            .unwrap_or_else(|| panic!("no suppression {name}"));
        self.summary.suppressed.get(&r).copied().unwrap_or(0)
    }

    pub fn suppressed_total(&self) -> u64 {
        self.summary.suppressed.values().sum()
    }

    /// Customers in this stage at the end of the run.
    pub fn customers_in(&self, name: &str) -> u64 {
        let st = Stage::ALL
            .into_iter()
            .find(|st| st.as_str() == name)
            .unwrap_or_else(|| panic!("no stage {name}"));
        self.summary.stages.get(&st).copied().unwrap_or(0)
    }

    pub fn customers(&self) -> u64 {
        self.summary.stages.values().sum()
    }
}

// ---------------------------------------------------------------------------------------
// Time: days after 2025-01-01T00:00:00Z, computed by a calendar of the tests' own.
// ---------------------------------------------------------------------------------------

const NANOS_PER_SEC: i128 = 1_000_000_000;
const NANOS_PER_DAY: i128 = 86_400 * NANOS_PER_SEC;

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// 2025-01-01T00:00:00Z + `days` days + `secs` seconds + `nanos` ns (each may be negative),
/// as RFC 3339 UTC text; a fraction of 9 digits only when it is not zero.
pub fn ts(days: i64, secs: i64, nanos: i64) -> String {
    let base = i128::from(days_from_civil(2025, 1, 1)) * NANOS_PER_DAY;
    let total = base
        + i128::from(days) * NANOS_PER_DAY
        + i128::from(secs) * NANOS_PER_SEC
        + i128::from(nanos);
    let day = total.div_euclid(NANOS_PER_DAY);
    let rem = total.rem_euclid(NANOS_PER_DAY);
    let (y, mo, dd) = civil_from_days(day as i64);
    let secs_of_day = rem / NANOS_PER_SEC;
    let frac = rem % NANOS_PER_SEC;
    let mut out = format!(
        "{y:04}-{mo:02}-{dd:02}T{:02}:{:02}:{:02}",
        secs_of_day / 3600,
        secs_of_day / 60 % 60,
        secs_of_day % 60
    );
    if frac != 0 {
        out.push_str(&format!(".{frac:09}"));
    }
    out.push('Z');
    out
}

/// Midnight `days` days after 2025-01-01.
pub fn d(days: i64) -> String {
    ts(days, 0, 0)
}

/// `days` days after 2025-01-01 plus `hours` hours.
pub fn dh(days: i64, hours: i64) -> String {
    ts(days, hours * 3600, 0)
}

pub const HOUR: i64 = 3600;

// ---------------------------------------------------------------------------------------
// Input lines
// ---------------------------------------------------------------------------------------

/// One event line. `data` is raw JSON text for the `data` field, or "" for no field.
pub fn ev(id: &str, customer: &str, ty: &str, at: &str, data: &str) -> String {
    let mut line = format!(
        r#"{{"event_id":"{id}","customer_id":"{customer}","type":"{ty}","occurred_at":"{at}""#
    );
    if !data.is_empty() {
        line.push_str(&format!(r#","data":{data}"#));
    }
    line.push('}');
    line
}

pub fn lead(id: &str, c: &str, at: &str) -> String {
    ev(id, c, "lead_created", at, "")
}

/// A purchase of 10.
pub fn buy(id: &str, c: &str, at: &str) -> String {
    ev(id, c, "purchase", at, r#"{"amount":10}"#)
}

pub fn buy_amount(id: &str, c: &str, at: &str, amount: &str) -> String {
    ev(id, c, "purchase", at, &format!(r#"{{"amount":{amount}}}"#))
}

pub fn engage(id: &str, c: &str, at: &str) -> String {
    ev(id, c, "engagement", at, r#"{"channel":"email_open"}"#)
}

pub fn subscribe(id: &str, c: &str, at: &str) -> String {
    ev(id, c, "subscription_started", at, "")
}

pub fn cancel(id: &str, c: &str, at: &str) -> String {
    ev(id, c, "subscription_cancelled", at, "")
}

pub fn complaint(id: &str, c: &str, at: &str) -> String {
    ev(id, c, "complaint", at, "")
}

pub fn feedback(id: &str, c: &str, at: &str, data: &str) -> String {
    ev(id, c, "feedback", at, data)
}

pub fn withdraw(id: &str, c: &str, at: &str) -> String {
    ev(id, c, "consent_withdrawn", at, "")
}

pub fn grant(id: &str, c: &str, at: &str) -> String {
    ev(id, c, "consent_granted", at, "")
}

pub fn erase(id: &str, c: &str, at: &str) -> String {
    ev(id, c, "customer_erased", at, "")
}

/// An event of a type the processor does not know (ignored, but it advances the clock).
pub fn unknown(id: &str, c: &str, at: &str) -> String {
    ev(id, c, "webinar_attended", at, "")
}

/// Joins event lines into a JSONL text.
pub fn jsonl(lines: &[String]) -> String {
    let mut text = lines.join("\n");
    text.push('\n');
    text
}

// ---------------------------------------------------------------------------------------
// Expected records
// ---------------------------------------------------------------------------------------

/// An expected transition; `from`/`to` may be "null".
pub fn tr(c: &str, from: &str, to: &str, reason: &str, at: &str, seq: u32) -> String {
    format!("{c} {from}->{to} {reason} {at} seq={seq}")
}

/// The category of each action kind, from the table of SPEC section 3.
pub fn category(kind: &str) -> &'static str {
    match kind {
        "nurture_lead" | "advocacy_invite" => "marketing",
        "retention_offer" | "win_back_campaign" => "retention",
        "welcome_onboarding"
        | "loyalty_reward"
        | "welcome_back"
        | "service_recovery"
        | "detractor_follow_up"
        | "surprise_delight" => "care",
        other => panic!("not an action kind of the SPEC: {other}"),
    }
}

/// An expected action; `cause` is the event id, or "-" for a timer.
pub fn ac(c: &str, kind: &str, stage: &str, at: &str, cause: &str) -> String {
    format!("{c} {kind} {} {stage} {at} cause={cause}", category(kind))
}

// ---------------------------------------------------------------------------------------
// Table-driven checking: every case runs, every mismatch is reported at the end.
// ---------------------------------------------------------------------------------------

#[derive(Default)]
pub struct Checker {
    failures: Vec<String>,
}

impl Checker {
    pub fn new() -> Checker {
        Checker::default()
    }

    /// Compares two lists of compact records.
    pub fn lines<A: AsRef<str>, E: AsRef<str>>(
        &mut self,
        case: &str,
        what: &str,
        actual: &[A],
        expected: &[E],
    ) {
        let actual: Vec<&str> = actual.iter().map(AsRef::as_ref).collect();
        let expected: Vec<&str> = expected.iter().map(AsRef::as_ref).collect();
        if actual != expected {
            let list = |v: &[&str]| {
                if v.is_empty() {
                    "      (none)\n".to_string()
                } else {
                    v.iter().map(|l| format!("      {l}\n")).collect()
                }
            };
            self.failures.push(format!(
                "case `{case}`: {what} differ\n    expected:\n{}    actual:\n{}",
                list(&expected),
                list(&actual)
            ));
        }
    }

    /// Compares two values.
    pub fn eq<T: PartialEq + Debug>(&mut self, case: &str, what: &str, actual: T, expected: T) {
        if actual != expected {
            self.failures.push(format!(
                "case `{case}`: {what}: expected {expected:?}, got {actual:?}"
            ));
        }
    }

    /// Records a failure when `ok` is false.
    pub fn ok(&mut self, case: &str, ok: bool, message: impl Into<String>) {
        if !ok {
            self.failures
                .push(format!("case `{case}`: {}", message.into()));
        }
    }

    /// Panics with every failure, if any.
    pub fn finish(self) {
        if !self.failures.is_empty() {
            panic!(
                "{} failing case(s):\n\n{}",
                self.failures.len(),
                self.failures.join("\n")
            );
        }
    }
}
