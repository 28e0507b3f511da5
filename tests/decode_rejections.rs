//! SPEC section 1: what is rejected and why (every reason), what is accepted at the
//! boundaries, null as absent, unknown fields and types, blank lines, the rejects file.

#![allow(clippy::type_complexity)] // the case tables are tuples, on purpose
mod common;

use common::*;

const NOW_PLUS_24H: &str = "2026-06-02T00:00:00Z";

/// A lead_created line with the standard fields, `extra` appended inside the object.
fn lead_with(extra: &str) -> String {
    let mut l = lead("e1", "c1", &d(0));
    if !extra.is_empty() {
        l.pop();
        l.push(',');
        l.push_str(extra);
        l.push('}');
    }
    l
}

/// A line from explicit top-level members.
fn obj(members: &str) -> String {
    format!("{{{members}}}")
}

const ID: &str = r#""event_id":"e1""#;
const CUST: &str = r#""customer_id":"c1""#;
const AT: &str = r#""occurred_at":"2025-01-01T00:00:00Z""#;

fn with_type(ty: &str, data: &str) -> String {
    ev("e1", "c1", ty, &d(0), data)
}

fn at_time(t: &str) -> String {
    obj(&format!(
        r#"{ID},{CUST},"type":"lead_created","occurred_at":"{t}""#
    ))
}

/// Runs each single-line case and checks it is rejected for one of `reasons` (the first is
/// the expected one; more are tolerated where the SPEC leaves the reason open).
fn expect_rejected(cases: Vec<(&str, String, &[&str])>) {
    let mut check = Checker::new();
    for (name, line, reasons) in cases {
        let out = replay_lines(&format!("{line}\n"));
        let got = out.reject_reasons();
        check.ok(
            name,
            got.len() == 1 && reasons.contains(&got[0].as_str()),
            format!(
                "expected one rejection for {reasons:?}, got {got:?}\n      line: {}",
                short(&line)
            ),
        );
        check.lines(name, "records", &out.all(), &[] as &[&str]);
        check.eq(name, "applied", out.outcome("applied"), 0);
        if let Some(r) = out.rejects.first() {
            check.eq(name, "rejects line number", r["line"].as_u64(), Some(1));
            // SPEC 1: the rejects file keeps at most a line's first MiB, and says it was cut.
            let mib = 1024 * 1024;
            let kept = &line[..line.len().min(mib)];
            check.eq(
                name,
                "rejects original text",
                r["text"].as_str(),
                Some(kept),
            );
            let cut = line.len() > mib;
            check.eq(
                name,
                "text_truncated",
                r.get("text_truncated").and_then(|v| v.as_bool()),
                cut.then_some(true),
            );
            check.eq(
                name,
                "original_size",
                r.get("original_size").and_then(|v| v.as_u64()),
                cut.then_some(line.len() as u64),
            );
            let reason = r["reason"].as_str().unwrap_or("");
            if reasons.contains(&reason) {
                check.eq(name, "summary count of its reason", out.rejected(reason), 1);
            }
        }
    }
    check.finish();
}

/// Runs each single-line case and checks it is applied, with no rejection.
fn expect_applied(cases: Vec<(&str, String)>) {
    let mut check = Checker::new();
    for (name, line) in cases {
        let out = replay_lines(&format!("{line}\n"));
        check.lines(name, "rejects", &out.rejects(), &[] as &[&str]);
        check.eq(name, "applied", out.outcome("applied"), 1);
        check.ok(
            name,
            !out.transitions().is_empty(),
            "expected a first_seen transition",
        );
    }
    check.finish();
}

fn short(s: &str) -> String {
    if s.len() > 200 {
        format!("{}... ({} bytes)", &s[..200], s.len())
    } else {
        s.to_string()
    }
}

/// A valid lead_created line of exactly `len` bytes (padded in an unknown field).
fn line_of_len(len: usize) -> String {
    let prefix = format!(r#"{{{ID},{CUST},"type":"lead_created",{AT},"pad":""#);
    let suffix = r#""}"#;
    let pad = len - prefix.len() - suffix.len();
    format!("{prefix}{}{suffix}", "x".repeat(pad))
}

#[test]
fn an_event_larger_than_one_mib_is_too_large_and_exactly_one_mib_is_accepted() {
    let mib = 1024 * 1024;
    assert_eq!(line_of_len(mib).len(), mib);
    expect_rejected(vec![
        ("1 MiB + 1 byte", line_of_len(mib + 1), &["too_large"]),
        ("2 MiB", line_of_len(2 * mib), &["too_large"]),
    ]);
    expect_applied(vec![("exactly 1 MiB", line_of_len(mib))]);
    // The byte order mark that may open a file is not part of the first line (SPEC 1).
    let out = replay_lines(&format!("\u{feff}{}\n", line_of_len(mib)));
    let mut check = Checker::new();
    check.lines("BOM, then 1 MiB", "rejects", &out.rejects(), &[] as &[&str]);
    check.eq("BOM, then 1 MiB", "applied", out.outcome("applied"), 1);
    let out = replay_lines(&format!("\u{feff}{}\n", line_of_len(mib + 1)));
    check.lines(
        "BOM, then 1 MiB + 1",
        "rejects",
        &out.rejects(),
        &["1 too_large"],
    );
    check.finish();
}

#[test]
fn a_line_that_is_not_utf8_is_invalid_utf8() {
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("0xFF in customer_id", b"\xff".to_vec()),
        ("overlong encoding", b"\xc0\xaf".to_vec()),
        ("UTF-8 encoded surrogate", b"\xed\xa0\x80".to_vec()),
        ("truncated sequence", b"\xe2\x82".to_vec()),
    ];
    let mut check = Checker::new();
    for (name, bad) in cases {
        let mut line = br#"{"event_id":"e1","customer_id":"c"#.to_vec();
        line.extend_from_slice(&bad);
        line.extend_from_slice(br#"","type":"lead_created","occurred_at":"2025-01-01T00:00:00Z"}"#);
        line.push(b'\n');
        let out = replay_bytes(&line, None, None);
        check.lines(name, "rejects", &out.rejects(), &["1 invalid_utf8"]);
        check.lines(name, "records", &out.all(), &[] as &[&str]);
    }
    // In an unknown field too: the whole line must be UTF-8.
    let mut line = br#"{"event_id":"e1","customer_id":"c1","type":"lead_created","occurred_at":"2025-01-01T00:00:00Z","note":""#.to_vec();
    line.extend_from_slice(b"\xfe\"}\n");
    let out = replay_bytes(&line, None, None);
    check.lines(
        "0xFE in an unknown field",
        "rejects",
        &out.rejects(),
        &["1 invalid_utf8"],
    );
    check.finish();
}

#[test]
fn malformed_json_is_invalid_json() {
    let valid = lead("e1", "c1", &d(0));
    expect_rejected(vec![
        ("plain text", "not json".into(), &["invalid_json"]),
        ("an unclosed object", "{".into(), &["invalid_json"]),
        (
            "truncated",
            valid[..valid.len() - 1].to_string(),
            &["invalid_json"],
        ),
        (
            "single quotes",
            r#"{'event_id':'e1'}"#.into(),
            &["invalid_json"],
        ),
        (
            "trailing comma",
            format!("{},}}", &valid[..valid.len() - 1]),
            &["invalid_json"],
        ),
        ("trailing garbage", format!("{valid} x"), &["invalid_json"]),
        (
            "two objects on one line",
            format!("{valid}{valid}"),
            &["invalid_json"],
        ),
        (
            "unquoted key",
            r#"{event_id:"e1"}"#.into(),
            &["invalid_json"],
        ),
        (
            "raw control character in a string",
            format!("{}\u{1}\"}}", &valid[..valid.len() - 2]),
            &["invalid_json"],
        ),
    ]);
}

#[test]
fn an_object_with_a_duplicate_key_is_rejected_at_any_depth() {
    expect_rejected(vec![
        (
            "top level",
            lead_with(r#""type":"lead_created""#),
            &["duplicate_key"],
        ),
        (
            "top level, different values",
            lead_with(r#""customer_id":"c2""#),
            &["duplicate_key"],
        ),
        (
            "in data",
            with_type("purchase", r#"{"amount":1,"amount":1}"#),
            &["duplicate_key"],
        ),
        (
            "in data.kano",
            with_type(
                "feedback",
                r#"{"kano":{"functional":2,"functional":2,"dysfunctional":5}}"#,
            ),
            &["duplicate_key"],
        ),
        (
            "in an unknown nested object",
            lead_with(r#""extra":{"a":{"b":1,"b":2}}"#),
            &["duplicate_key"],
        ),
        (
            "same key written with an escape",
            lead_with(r#""typ\u0065":"lead_created""#),
            &["duplicate_key"],
        ),
    ]);
}

#[test]
fn a_json_value_that_is_not_an_object_is_not_an_object() {
    expect_rejected(vec![
        ("array", "[]".into(), &["not_an_object"]),
        (
            "array of an event",
            format!("[{}]", lead("e1", "c1", &d(0))),
            &["not_an_object"],
        ),
        ("string", r#""lead_created""#.into(), &["not_an_object"]),
        ("number", "42".into(), &["not_an_object"]),
        ("true", "true".into(), &["not_an_object"]),
        ("null", "null".into(), &["not_an_object"]),
    ]);
}

#[test]
fn a_required_field_absent_or_null_is_missing_field() {
    let ty = r#""type":"lead_created""#;
    expect_rejected(vec![
        (
            "no event_id",
            obj(&format!("{CUST},{ty},{AT}")),
            &["missing_field"],
        ),
        (
            "no customer_id",
            obj(&format!("{ID},{ty},{AT}")),
            &["missing_field"],
        ),
        (
            "no type",
            obj(&format!("{ID},{CUST},{AT}")),
            &["missing_field"],
        ),
        (
            "no occurred_at",
            obj(&format!("{ID},{CUST},{ty}")),
            &["missing_field"],
        ),
        ("empty object", "{}".into(), &["missing_field"]),
        (
            "event_id null",
            obj(&format!(r#""event_id":null,{CUST},{ty},{AT}"#)),
            &["missing_field"],
        ),
        (
            "customer_id null",
            obj(&format!(r#"{ID},"customer_id":null,{ty},{AT}"#)),
            &["missing_field"],
        ),
        (
            "type null",
            obj(&format!(r#"{ID},{CUST},"type":null,{AT}"#)),
            &["missing_field"],
        ),
        (
            "occurred_at null",
            obj(&format!(r#"{ID},{CUST},{ty},"occurred_at":null"#)),
            &["missing_field"],
        ),
        (
            "purchase without data",
            with_type("purchase", ""),
            &["missing_field"],
        ),
        (
            "purchase with data null",
            with_type("purchase", "null"),
            &["missing_field"],
        ),
        (
            "purchase without amount",
            with_type("purchase", r#"{"currency":"EUR"}"#),
            &["missing_field"],
        ),
        (
            "purchase amount null",
            with_type("purchase", r#"{"amount":null}"#),
            &["missing_field"],
        ),
        (
            "refund without amount",
            with_type("refund", "{}"),
            &["missing_field"],
        ),
        (
            "refund amount null",
            with_type("refund", r#"{"amount":null}"#),
            &["missing_field"],
        ),
    ]);
}

#[test]
fn a_field_of_the_wrong_json_type_is_wrong_type() {
    let ty = r#""type":"lead_created""#;
    expect_rejected(vec![
        (
            "event_id a number",
            obj(&format!(r#""event_id":1,{CUST},{ty},{AT}"#)),
            &["wrong_type"],
        ),
        (
            "customer_id a bool",
            obj(&format!(r#"{ID},"customer_id":true,{ty},{AT}"#)),
            &["wrong_type"],
        ),
        (
            "type a number",
            obj(&format!(r#"{ID},{CUST},"type":1,{AT}"#)),
            &["wrong_type"],
        ),
        (
            "type an array",
            obj(&format!(r#"{ID},{CUST},"type":["purchase"],{AT}"#)),
            &["wrong_type"],
        ),
        (
            "occurred_at a number",
            obj(&format!(r#"{ID},{CUST},{ty},"occurred_at":1735689600"#)),
            &["wrong_type"],
        ),
        (
            "data a string",
            with_type("lead_created", r#""web""#),
            &["wrong_type"],
        ),
        (
            "data an array",
            with_type("lead_created", "[]"),
            &["wrong_type"],
        ),
        (
            "data a number",
            with_type("purchase", "10"),
            &["wrong_type"],
        ),
        (
            "amount a string",
            with_type("purchase", r#"{"amount":"10"}"#),
            &["wrong_type"],
        ),
        (
            "amount a bool",
            with_type("purchase", r#"{"amount":true}"#),
            &["wrong_type"],
        ),
        (
            "refund amount a string",
            with_type("refund", r#"{"amount":"1"}"#),
            &["wrong_type"],
        ),
        (
            "nps 5.0 is not an integer",
            with_type("feedback", r#"{"nps":5.0}"#),
            &["wrong_type"],
        ),
        (
            "nps 5e0 is not an integer",
            with_type("feedback", r#"{"nps":5e0}"#),
            &["wrong_type"],
        ),
        (
            "nps -0.0 is not an integer",
            with_type("feedback", r#"{"nps":-0.0}"#),
            &["wrong_type"],
        ),
        (
            "nps a string",
            with_type("feedback", r#"{"nps":"5"}"#),
            &["wrong_type"],
        ),
        (
            "satisfaction 2.0",
            with_type("feedback", r#"{"satisfaction":2.0}"#),
            &["wrong_type"],
        ),
        (
            "satisfaction 2.5",
            with_type("feedback", r#"{"satisfaction":2.5}"#),
            &["wrong_type"],
        ),
        (
            "kano a string",
            with_type("feedback", r#"{"kano":"must-be"}"#),
            &["wrong_type"],
        ),
        (
            "kano an array",
            with_type("feedback", r#"{"kano":[2,5]}"#),
            &["wrong_type"],
        ),
        (
            "kano.functional 2.0",
            with_type(
                "feedback",
                r#"{"kano":{"functional":2.0,"dysfunctional":5}}"#,
            ),
            &["wrong_type"],
        ),
        (
            "kano without dysfunctional (docs/decisions.md: both are needed)",
            with_type("feedback", r#"{"kano":{"functional":2}}"#),
            &["missing_field"],
        ),
        (
            "kano.dysfunctional a string",
            with_type(
                "feedback",
                r#"{"kano":{"functional":2,"dysfunctional":"5"}}"#,
            ),
            &["wrong_type"],
        ),
        (
            "feature a number",
            with_type("feedback", r#"{"feature":1}"#),
            &["wrong_type"],
        ),
        (
            "severity a number",
            with_type("support_ticket", r#"{"severity":3}"#),
            &["wrong_type"],
        ),
        (
            "status a number",
            with_type("support_ticket", r#"{"status":1}"#),
            &["wrong_type"],
        ),
        (
            "source a number",
            with_type("lead_created", r#"{"source":1}"#),
            &["wrong_type"],
        ),
        (
            "channel a bool",
            with_type("engagement", r#"{"channel":true}"#),
            &["wrong_type"],
        ),
        (
            "currency a number",
            with_type("purchase", r#"{"amount":1,"currency":978}"#),
            &["wrong_type"],
        ),
        (
            "order_id a number",
            with_type("purchase", r#"{"amount":1,"order_id":7}"#),
            &["wrong_type"],
        ),
        (
            "need_level a number",
            with_type("purchase", r#"{"amount":1,"need_level":3}"#),
            &["wrong_type"],
        ),
        (
            "plan a number",
            with_type("subscription_started", r#"{"plan":1}"#),
            &["wrong_type"],
        ),
        (
            "reason a number",
            with_type("subscription_cancelled", r#"{"reason":1}"#),
            &["wrong_type"],
        ),
        (
            "topic an object",
            with_type("complaint", r#"{"topic":{}}"#),
            &["wrong_type"],
        ),
        (
            "consent channel a number",
            with_type("consent_withdrawn", r#"{"channel":1}"#),
            &["wrong_type"],
        ),
    ]);
}

#[test]
fn a_value_out_of_range_is_invalid_value() {
    let ty = r#""type":"lead_created""#;
    let id_of = |id: &str| obj(&format!(r#""event_id":"{id}",{CUST},{ty},{AT}"#));
    let cust_of = |c: &str| obj(&format!(r#"{ID},"customer_id":"{c}",{ty},{AT}"#));
    let type_of = |t: &str| obj(&format!(r#"{ID},{CUST},"type":"{t}",{AT}"#));
    let nps = |v: &str| with_type("feedback", &format!(r#"{{"nps":{v}}}"#));
    let sat = |v: &str| with_type("feedback", &format!(r#"{{"satisfaction":{v}}}"#));
    let kano = |f: &str, df: &str| {
        with_type(
            "feedback",
            &format!(r#"{{"kano":{{"functional":{f},"dysfunctional":{df}}}}}"#),
        )
    };
    expect_rejected(vec![
        ("event_id of 0 bytes", id_of(""), &["invalid_value"]),
        (
            "event_id of 129 bytes",
            id_of(&"e".repeat(129)),
            &["invalid_value"],
        ),
        ("customer_id of 0 bytes", cust_of(""), &["invalid_value"]),
        (
            "customer_id of 129 bytes",
            cust_of(&"c".repeat(129)),
            &["invalid_value"],
        ),
        (
            "customer_id of 65 x 'é' (130 bytes)",
            cust_of(&"é".repeat(65)),
            &["invalid_value"],
        ),
        (
            "customer_id of 43 x '€' (129 bytes)",
            cust_of(&"€".repeat(43)),
            &["invalid_value"],
        ),
        ("type of 0 bytes", type_of(""), &["invalid_value"]),
        (
            "type of 129 bytes",
            type_of(&"t".repeat(129)),
            &["invalid_value"],
        ),
        (
            "customer_id with U+0000",
            cust_of(r"c\u0000"),
            &["invalid_value"],
        ),
        (
            "customer_id with U+0001",
            cust_of(r"c\u0001"),
            &["invalid_value"],
        ),
        (
            "customer_id with a tab",
            cust_of(r"c\t1"),
            &["invalid_value"],
        ),
        (
            "customer_id with a line feed",
            cust_of(r"c\n1"),
            &["invalid_value"],
        ),
        (
            "customer_id with U+001F",
            cust_of(r"c\u001f"),
            &["invalid_value"],
        ),
        (
            "customer_id with U+007F",
            cust_of(r"c\u007f"),
            &["invalid_value"],
        ),
        (
            "customer_id with U+0085",
            cust_of(r"c\u0085"),
            &["invalid_value"],
        ),
        (
            "customer_id with U+009F",
            cust_of(r"c\u009f"),
            &["invalid_value"],
        ),
        (
            "customer_id with a raw U+0085",
            cust_of("c\u{85}"),
            &["invalid_value"],
        ),
        (
            "purchase amount -1",
            with_type("purchase", r#"{"amount":-1}"#),
            &["invalid_value"],
        ),
        (
            "refund amount -0.01",
            with_type("refund", r#"{"amount":-0.01}"#),
            &["invalid_value"],
        ),
        ("nps 11", nps("11"), &["invalid_value"]),
        ("nps -1", nps("-1"), &["invalid_value"]),
        (
            "nps beyond 64 bits",
            nps("100000000000000000000"),
            &["invalid_value"],
        ),
        ("satisfaction 0", sat("0"), &["invalid_value"]),
        ("satisfaction 6", sat("6"), &["invalid_value"]),
        ("kano functional 0", kano("0", "5"), &["invalid_value"]),
        ("kano dysfunctional 6", kano("2", "6"), &["invalid_value"]),
        (
            "severity urgent",
            with_type("support_ticket", r#"{"severity":"urgent"}"#),
            &["invalid_value"],
        ),
        (
            "severity HIGH",
            with_type("support_ticket", r#"{"severity":"HIGH"}"#),
            &["invalid_value"],
        ),
        (
            "need_level wealth",
            with_type("purchase", r#"{"amount":1,"need_level":"wealth"}"#),
            &["invalid_value"],
        ),
        // "Numbers must be finite"; docs/decisions.md: a number too large for a double is
        // `invalid_json`.
        (
            "amount 1e999 (not finite)",
            with_type("purchase", r#"{"amount":1e999}"#),
            &["invalid_json"],
        ),
    ]);
}

#[test]
fn values_at_the_limits_are_accepted() {
    let ty = r#""type":"lead_created""#;
    let id_of = |id: &str| obj(&format!(r#""event_id":"{id}",{CUST},{ty},{AT}"#));
    let cust_of = |c: &str| obj(&format!(r#"{ID},"customer_id":"{c}",{ty},{AT}"#));
    expect_applied(vec![
        ("event_id of 1 byte", id_of("e")),
        ("event_id of 128 bytes", id_of(&"e".repeat(128))),
        ("customer_id of 128 bytes", cust_of(&"c".repeat(128))),
        (
            "customer_id of 64 x 'é' (128 bytes)",
            cust_of(&"é".repeat(64)),
        ),
        (
            "customer_id of 42 x '€' + 2 (128 bytes)",
            cust_of(&format!("{}ab", "€".repeat(42))),
        ),
        (
            "customer_id with U+00A0 (not a control character)",
            cust_of(r"c\u00a0"),
        ),
        ("customer_id with an emoji", cust_of("c-\u{1F600}")),
        // Only customer_id forbids control characters.
        ("event_id with a control character", id_of(r"e\u0001")),
        (
            "purchase amount 0",
            with_type("purchase", r#"{"amount":0}"#),
        ),
        (
            "purchase amount an integer",
            with_type("purchase", r#"{"amount":5}"#),
        ),
        (
            "purchase amount 5.0",
            with_type("purchase", r#"{"amount":5.0}"#),
        ),
        (
            "purchase amount 1e2",
            with_type("purchase", r#"{"amount":1e2}"#),
        ),
        (
            "purchase with every optional field",
            with_type(
                "purchase",
                r#"{"amount":49.9,"currency":"EUR","order_id":"o-1","need_level":"self_actualization"}"#,
            ),
        ),
        ("refund amount 0", with_type("refund", r#"{"amount":0}"#)),
        ("nps 0", with_type("feedback", r#"{"nps":0}"#)),
        (
            "nps -0 (an integer)",
            with_type("feedback", r#"{"nps":-0}"#),
        ),
        ("nps 10", with_type("feedback", r#"{"nps":10}"#)),
        (
            "satisfaction 1",
            with_type("feedback", r#"{"satisfaction":1,"feature":"x"}"#),
        ),
        (
            "satisfaction 5",
            with_type("feedback", r#"{"satisfaction":5}"#),
        ),
        (
            "kano 1 and 5",
            with_type("feedback", r#"{"kano":{"functional":1,"dysfunctional":5}}"#),
        ),
        (
            "severity low",
            with_type("support_ticket", r#"{"severity":"low","status":"open"}"#),
        ),
    ]);
    let mut check = Checker::new();
    for level in [
        "physiological",
        "safety",
        "social",
        "esteem",
        "self_actualization",
    ] {
        let out = replay_lines(&jsonl(&[with_type(
            "purchase",
            &format!(r#"{{"amount":1,"need_level":"{level}"}}"#),
        )]));
        check.lines(level, "rejects", &out.rejects(), &[] as &[&str]);
    }
    check.finish();
}

#[test]
fn a_malformed_occurred_at_is_invalid_timestamp() {
    let cases = [
        ("leap second", "2025-06-30T23:59:60Z"),
        ("missing seconds", "2025-01-01T00:00Z"),
        ("date only", "2025-01-01"),
        ("no offset", "2025-01-01T00:00:00"),
        ("offset without colon", "2025-01-01T00:00:00+0100"),
        ("offset without minutes", "2025-01-01T00:00:00+01"),
        ("29 February of a common year", "2025-02-29T00:00:00Z"),
        ("month 13", "2025-13-01T00:00:00Z"),
        ("day 32", "2025-01-32T00:00:00Z"),
        ("hour 24", "2025-01-01T24:00:00Z"),
        ("minute 60", "2025-01-01T00:60:00Z"),
        ("empty fraction", "2025-01-01T00:00:00.Z"),
        ("two-digit year", "25-01-01T00:00:00Z"),
        ("single-digit month and day", "2025-1-1T00:00:00Z"),
        ("empty", ""),
        ("words", "yesterday"),
        ("leading space", " 2025-01-01T00:00:00Z"),
        ("trailing space", "2025-01-01T00:00:00Z "),
    ];
    expect_rejected(
        cases
            .iter()
            .map(|(name, t)| (*name, at_time(t), &["invalid_timestamp"][..]))
            .collect(),
    );
}

#[test]
fn valid_timestamps_are_accepted_and_written_in_utc() {
    let cases = [
        ("Z", "2025-01-01T00:00:00Z", "2025-01-01T00:00:00Z"),
        (
            "positive offset",
            "2025-01-01T02:00:00+02:00",
            "2025-01-01T00:00:00Z",
        ),
        (
            "negative offset, previous day",
            "2024-12-31T23:00:00-01:00",
            "2025-01-01T00:00:00Z",
        ),
        (
            "+00:00",
            "2025-01-01T00:00:00+00:00",
            "2025-01-01T00:00:00Z",
        ),
        (
            "zero fraction is not written",
            "2025-01-01T00:00:00.000Z",
            "2025-01-01T00:00:00Z",
        ),
        (
            "zero nanoseconds",
            "2025-01-01T00:00:00.000000000+00:00",
            "2025-01-01T00:00:00Z",
        ),
        (
            "29 February of a leap year",
            "2024-02-29T12:00:00Z",
            "2024-02-29T12:00:00Z",
        ),
        (
            "last second of a day",
            "2025-06-30T23:59:59Z",
            "2025-06-30T23:59:59Z",
        ),
    ];
    let mut check = Checker::new();
    for (name, input, expected) in cases {
        let out = replay_lines(&jsonl(&[at_time(input)]));
        check.lines(name, "rejects", &out.rejects(), &[] as &[&str]);
        let at: Vec<String> = out
            .transition_records()
            .iter()
            .map(|r| r["at"].as_str().unwrap_or("?").to_string())
            .collect();
        check.lines(name, "transition at", &at, &[expected]);
    }
    // A non-zero fraction is kept ("the fraction only when it is not zero"), written without
    // trailing zeros (docs/decisions.md).
    for (name, input, prefix) in [
        (
            "half a second",
            "2025-01-01T00:00:00.5Z",
            "2025-01-01T00:00:00.5",
        ),
        (
            "fraction with an offset",
            "2025-01-01T05:30:00.25+05:30",
            "2025-01-01T00:00:00.25",
        ),
        (
            "nanoseconds",
            "2025-01-01T00:00:00.000000001Z",
            "2025-01-01T00:00:00.000000001",
        ),
    ] {
        let out = replay_lines(&jsonl(&[at_time(input)]));
        let at = out
            .transition_records()
            .first()
            .and_then(|r| r["at"].as_str().map(str::to_string))
            .unwrap_or_default();
        let ok = at == format!("{prefix}Z");
        check.ok(name, ok, format!("expected {prefix}Z, got {at:?}"));
    }
    check.finish();
}

#[test]
fn an_occurred_at_more_than_24_hours_ahead_is_future_timestamp() {
    // now = 2026-06-01T00:00:00Z; 24 h ahead is 2026-06-02T00:00:00Z.
    let rejected = [
        ("1 ns past 24 h", "2026-06-02T00:00:00.000000001Z"),
        ("1 s past 24 h, with an offset", "2026-06-02T00:00:01+00:00"),
        (
            "1 s past 24 h, negative offset",
            "2026-06-01T23:00:01-01:00",
        ),
        ("years ahead", "2030-01-01T00:00:00Z"),
    ];
    expect_rejected(
        rejected
            .iter()
            .map(|(name, t)| (*name, at_time(t), &["future_timestamp"][..]))
            .collect(),
    );
    expect_applied(vec![
        ("exactly 24 h ahead", at_time(NOW_PLUS_24H)),
        (
            "exactly 24 h ahead, positive offset",
            at_time("2026-06-02T01:00:00+01:00"),
        ),
        (
            "exactly 24 h ahead, negative offset",
            at_time("2026-06-01T23:00:00-01:00"),
        ),
        ("now", at_time(NOW)),
    ]);
}

#[test]
fn null_counts_as_absent_for_optional_fields() {
    expect_applied(vec![
        ("data null", with_type("lead_created", "null")),
        (
            "source null",
            with_type("lead_created", r#"{"source":null}"#),
        ),
        (
            "channel null",
            with_type("engagement", r#"{"channel":null}"#),
        ),
        (
            "purchase optionals null",
            with_type(
                "purchase",
                r#"{"amount":5,"currency":null,"order_id":null,"need_level":null}"#,
            ),
        ),
        (
            "feedback fields null",
            with_type(
                "feedback",
                r#"{"nps":null,"satisfaction":null,"feature":null,"kano":null}"#,
            ),
        ),
        (
            "severity and status null",
            with_type("support_ticket", r#"{"severity":null,"status":null}"#),
        ),
        (
            "plan null",
            with_type("subscription_started", r#"{"plan":null}"#),
        ),
        (
            "reason null",
            with_type("subscription_cancelled", r#"{"reason":null}"#),
        ),
        ("topic null", with_type("complaint", r#"{"topic":null}"#)),
        (
            "consent channel null",
            with_type("consent_granted", r#"{"channel":null}"#),
        ),
    ]);
}

#[test]
fn unknown_fields_are_ignored() {
    expect_applied(vec![
        ("top-level scalar", lead_with(r#""schema":2"#)),
        (
            "top-level nested",
            lead_with(r#""extra":{"x":[1,2,{"y":null}],"z":"w"}"#),
        ),
        (
            "in purchase data",
            with_type("purchase", r#"{"amount":5,"coupon":"X","items":[1,2]}"#),
        ),
        (
            "in feedback data",
            with_type("feedback", r#"{"nps":8,"comment":"great"}"#),
        ),
        (
            "in kano",
            with_type(
                "feedback",
                r#"{"kano":{"functional":2,"dysfunctional":5,"note":"x"}}"#,
            ),
        ),
        (
            "unknown data field on a complaint",
            with_type("complaint", r#"{"by":"phone"}"#),
        ),
    ]);
}

#[test]
fn an_unknown_type_is_ignored_not_rejected() {
    let mut check = Checker::new();
    let ty = |t: &str| obj(&format!(r#"{ID},{CUST},"type":"{t}",{AT}"#));
    for (name, line) in [
        ("webinar_attended", ty("webinar_attended")),
        ("types are case-sensitive", ty("Purchase")),
        ("an unknown type of 128 bytes", ty(&"t".repeat(128))),
        ("with data", with_type("page_view", r#"{"url":"/"}"#)),
    ] {
        let out = replay_lines(&jsonl(&[line]));
        check.lines(name, "rejects", &out.rejects(), &[] as &[&str]);
        check.lines(name, "records", &out.all(), &[] as &[&str]);
        check.eq(name, "ignored", out.outcome("ignored"), 1);
        check.eq(name, "customers", out.customers(), 0);
    }
    // docs/decisions.md: an ignored event's id is not remembered ...
    let out = replay_lines(&jsonl(&[
        unknown("e1", "c1", &d(0)),
        lead("e1", "c1", &d(1)),
    ]));
    let name = "an ignored event's id is not remembered";
    check.eq(name, "duplicates", out.outcome("duplicate"), 0);
    check.lines(
        name,
        "transitions",
        &out.transitions(),
        &[tr("c1", "null", "prospect", "first_seen", &d(1), 1)],
    );
    // ... and its common fields are still checked, `data` included.
    for (name, line, reason) in [
        (
            "unknown type, data a string",
            with_type("page_view", r#""x""#),
            "1 wrong_type",
        ),
        (
            "unknown type, empty customer_id",
            ev("e1", "", "page_view", &d(0), ""),
            "1 invalid_value",
        ),
        (
            "unknown type, bad occurred_at",
            at_time("2025-01-01T00:00Z").replace("lead_created", "page_view"),
            "1 invalid_timestamp",
        ),
    ] {
        let out = replay_lines(&jsonl(&[line]));
        check.lines(name, "rejects", &out.rejects(), &[reason]);
    }
    check.finish();
}

#[test]
fn whitespace_only_lines_are_skipped() {
    let valid = lead("e1", "c1", &d(0));
    let input = format!("\n   \n\t\n{valid}\n \r\n\nnot json\n");
    let out = replay_lines(&input);
    let mut check = Checker::new();
    let name = "blank lines around an event and a bad line";
    // Line numbers count the skipped lines too: "not json" is line 7.
    check.lines(name, "rejects", &out.rejects(), &["7 invalid_json"]);
    check.eq(name, "applied", out.outcome("applied"), 1);
    check.lines(
        name,
        "transitions",
        &out.transitions(),
        &[tr("c1", "null", "prospect", "first_seen", &d(0), 1)],
    );

    let out = replay_lines(" \n\t\t\n\n");
    check.lines("only whitespace", "rejects", &out.rejects(), &[] as &[&str]);
    check.eq("only whitespace", "events", out.summary.events(), 0);

    let out = replay_lines(&valid);
    check.eq("no final line feed", "applied", out.outcome("applied"), 1);

    // docs/decisions.md: white space is Unicode white space; a BOM on line 1 is skipped.
    let out = replay_lines(&format!("\u{a0}\u{2003} \n{valid}\n"));
    check.lines(
        "a line of Unicode spaces",
        "rejects",
        &out.rejects(),
        &[] as &[&str],
    );
    check.eq(
        "a line of Unicode spaces",
        "applied",
        out.outcome("applied"),
        1,
    );
    let out = replay_lines(&format!("\u{feff}{valid}\n"));
    check.lines(
        "a byte order mark on line 1",
        "rejects",
        &out.rejects(),
        &[] as &[&str],
    );
    check.eq(
        "a byte order mark on line 1",
        "applied",
        out.outcome("applied"),
        1,
    );
    check.finish();
}

#[test]
fn bad_input_never_stops_processing() {
    let input = jsonl(&[
        lead("e1", "c1", &d(0)),
        "garbage".into(),
        ev("e2", "c1", "purchase", &d(1), "{}"),
        at_time("2030-01-01T00:00:00Z"),
        buy("e3", "c1", &d(2)),
    ]);
    let out = replay_lines(&input);
    let mut check = Checker::new();
    let name = "events around three bad lines";
    check.lines(
        name,
        "rejects",
        &out.rejects(),
        &["2 invalid_json", "3 missing_field", "4 future_timestamp"],
    );
    check.lines(
        name,
        "transitions",
        &out.transitions(),
        &[
            tr("c1", "null", "prospect", "first_seen", &d(0), 1),
            tr("c1", "prospect", "new", "first_conversion", &d(2), 2),
        ],
    );
    check.eq(name, "applied", out.outcome("applied"), 2);
    check.eq(name, "rejected total", out.summary.rejected_total(), 3);
    check.finish();
}

#[test]
fn a_rejected_event_does_not_create_a_customer_nor_consume_its_event_id() {
    let input = jsonl(&[
        ev("e1", "c1", "purchase", &d(0), r#"{"amount":-5}"#),
        lead("e1", "c1", &d(1)),
    ]);
    let out = replay_lines(&input);
    let mut check = Checker::new();
    let name = "rejected e1, then a valid e1";
    check.lines(name, "rejects", &out.rejects(), &["1 invalid_value"]);
    check.eq(name, "duplicates", out.outcome("duplicate"), 0);
    check.lines(
        name,
        "transitions",
        &out.transitions(),
        &[tr("c1", "null", "prospect", "first_seen", &d(1), 1)],
    );
    check.finish();
}

/// SPEC 1 as sharpened: a line of Unicode White_Space alone is blank, whichever characters
/// (U+000B and U+000C are White_Space though ASCII's "whitespace" leaves U+000B out).
#[test]
fn a_line_of_any_unicode_white_space_is_skipped() {
    let valid = lead("e1", "c1", &d(0));
    let mut check = Checker::new();
    for (name, blank) in [
        ("a vertical tab alone", "\u{b}"),
        ("a form feed and a vertical tab", "\u{c}\u{b}"),
        ("next line (U+0085)", "\u{85}"),
        ("a no-break space then a vertical tab", "\u{a0}\u{b}"),
        ("line and paragraph separators", "\u{2028}\u{2029}"),
        ("ideographic space", "\u{3000}"),
    ] {
        let out = replay_lines(&format!("{blank}\n{valid}\n"));
        check.lines(name, "rejects", &out.rejects(), &[] as &[&str]);
        check.eq(name, "blank lines", out.summary.blank_lines, 1);
        check.eq(name, "applied", out.outcome("applied"), 1);
    }
    // Not White_Space: a zero-width space (U+200B) and a BOM past line 1 are text.
    for (name, text) in [
        ("zero-width space", "\u{200b}"),
        ("BOM on line 2", "\u{feff}"),
    ] {
        let out = replay_lines(&format!("{valid}\n{text}\n"));
        check.lines(name, "rejects", &out.rejects(), &["2 invalid_json"]);
    }
    check.finish();
}

/// SPEC 1 as sharpened: an integer too large for its range is `invalid_value`, however many
/// digits it has (past 128 bits too), not `wrong_type`.
#[test]
fn an_integer_past_any_range_is_invalid_value_whatever_its_digits() {
    let huge = "9".repeat(400);
    let mut cases = Vec::new();
    for (name, digits) in [
        ("2^127", "170141183460469231731687303715884105728"),
        ("10^42", "1000000000000000000000000000000000000000000"),
        ("400 digits", huge.as_str()),
        ("-10^42", "-1000000000000000000000000000000000000000000"),
    ] {
        cases.push((
            name,
            with_type("feedback", &format!(r#"{{"nps":{digits}}}"#)),
            &["invalid_value"][..],
        ));
        cases.push((
            name,
            with_type(
                "feedback",
                &format!(r#"{{"kano":{{"functional":{digits},"dysfunctional":1}}}}"#),
            ),
            &["invalid_value"][..],
        ));
    }
    cases.push((
        "an amount of 400 digits (no finite number)",
        with_type("purchase", &format!(r#"{{"amount":{huge}}}"#)),
        &["invalid_value"][..],
    ));
    cases.push((
        "a negative amount past 128 bits",
        with_type(
            "purchase",
            r#"{"amount":-1000000000000000000000000000000000000000000}"#,
        ),
        &["invalid_value"][..],
    ));
    // A fraction or an exponent is still not an integer.
    cases.push((
        "an exponent",
        with_type("feedback", r#"{"nps":1e42}"#),
        &["wrong_type"][..],
    ));
    expect_rejected(cases);
    // A big amount that a double holds is a number >= 0, as any other.
    expect_applied(vec![(
        "an amount of 10^42",
        with_type(
            "purchase",
            r#"{"amount":1000000000000000000000000000000000000000000}"#,
        ),
    )]);
}

/// SPEC 1 as sharpened: an `occurred_at` whose UTC instant lies outside the years 1678-2261
/// is `invalid_timestamp` (not `future_timestamp`, however far ahead).
#[test]
fn an_occurred_at_outside_the_years_1678_to_2261_is_invalid_timestamp() {
    let rejected = [
        (
            "the last nanosecond of 1677",
            "1677-12-31T23:59:59.999999999Z",
        ),
        (
            "1678 by its offset, 1677 in UTC",
            "1678-01-01T00:59:59+01:00",
        ),
        ("1600", "1600-06-01T00:00:00Z"),
        ("the first instant of 2262", "2262-01-01T00:00:00Z"),
        (
            "2261 by its offset, 2262 in UTC",
            "2261-12-31T23:00:00-01:00",
        ),
        ("year 9999", "9999-12-31T23:59:59Z"),
    ];
    expect_rejected(
        rejected
            .iter()
            .map(|(name, t)| (*name, at_time(t), &["invalid_timestamp"][..]))
            .collect(),
    );
    expect_applied(vec![
        ("the first instant of 1678", at_time("1678-01-01T00:00:00Z")),
        (
            "1677 by its offset, 1678 in UTC",
            at_time("1677-12-31T23:00:00-01:00"),
        ),
    ]);
    // Within the years but ahead of the system time: future_timestamp, as before.
    expect_rejected(vec![(
        "the last second of 2261",
        at_time("2261-12-31T23:59:59Z"),
        &["future_timestamp"][..],
    )]);
}
