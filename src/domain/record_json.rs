//! Records as JSON lines, written by hand: the output path of replay and of the service
//! formats hundreds of thousands of records a second, and a derived serializer spends most
//! of that time in `fmt` machinery. The bytes equal `serde_json`'s for the same record (a
//! test checks it), so the derived `Serialize` stays the reference.

use super::action::{ActionReason, Reason};
use super::record::{Action, Facts, Record, Rfc3339, Transition};
use super::time::Timestamp;

impl Record {
    /// Appends the record as one JSON line; suppressed actions write nothing. (Here, beside
    /// the encoder, so that `record.rs`, the types, does not depend on their encoding.)
    pub fn write_json_line(&self, out: &mut Vec<u8>) {
        match self {
            Record::Transition(t) => write_transition(t, out),
            Record::Action(a) => write_action(a, out),
            Record::Suppressed { .. } | Record::Converted { .. } => return,
        }
        out.push(b'\n');
    }
}

/// The last field of every record (SPEC 11), `record_schema::SCHEMA_VERSION`.
const SCHEMA_VERSION_FIELD: &[u8] = br#","schema_version":1"#;

/// Appends `{"type":"transition",...}` without the line feed.
pub fn write_transition(t: &Transition, out: &mut Vec<u8>) {
    out.extend_from_slice(br#"{"type":"transition","customer_id":"#);
    string(&t.customer_id, out);
    out.extend_from_slice(br#","from":"#);
    opt_str(t.from.map(|s| s.as_str()), out);
    out.extend_from_slice(br#","to":"#);
    opt_str(t.to.map(|s| s.as_str()), out);
    out.extend_from_slice(br#","reason":""#);
    reason(&t.reason, out);
    out.extend_from_slice(br#"","at":"#);
    timestamp(t.at.0, out);
    out.extend_from_slice(br#","event_id":"#);
    opt_str(t.event_id.as_deref(), out);
    out.extend_from_slice(br#","seq":"#);
    integer(i64::from(t.seq), out);
    out.extend_from_slice(br#","explain":""#);
    t.explain.write_to(out);
    out.push(b'"');
    out.extend_from_slice(br#","facts":"#);
    facts(&t.facts, out);
    out.extend_from_slice(SCHEMA_VERSION_FIELD);
    out.push(b'}');
}

/// Appends `{"type":"action",...}` without the line feed.
pub fn write_action(a: &Action, out: &mut Vec<u8>) {
    out.extend_from_slice(br#"{"type":"action","action_id":""#);
    let mut uuid = uuid::Uuid::encode_buffer();
    out.extend_from_slice(a.action_id.hyphenated().encode_lower(&mut uuid).as_bytes());
    out.extend_from_slice(br#"","kind":""#);
    out.extend_from_slice(a.kind.as_str().as_bytes());
    out.extend_from_slice(br#"","category":"#);
    string(a.category.as_str(), out);
    out.extend_from_slice(br#","customer_id":"#);
    string(&a.customer_id, out);
    out.extend_from_slice(br#","stage":""#);
    out.extend_from_slice(a.stage.as_str().as_bytes());
    out.extend_from_slice(br#"","reason":""#);
    match &a.reason {
        ActionReason::Entered(r) => reason(r, out),
        other => display(other, out),
    }
    out.extend_from_slice(br#"","at":"#);
    timestamp(a.at.0, out);
    out.extend_from_slice(br#","cause_event_id":"#);
    opt_str(a.cause_event_id.as_deref(), out);
    if let Some(level) = a.need_level {
        out.extend_from_slice(br#","need_level":"#);
        string(level.as_str(), out);
    }
    out.extend_from_slice(br#","explain":""#);
    a.explain.write_to(out);
    out.push(b'"');
    out.extend_from_slice(br#","facts":"#);
    facts(&a.facts, out);
    if a.group == Some(super::action::Group::Control) {
        out.extend_from_slice(br#","held_out":true"#);
    }
    out.extend_from_slice(SCHEMA_VERSION_FIELD);
    out.push(b'}');
}

/// The facts object, only the fields present, in declaration order.
fn facts(f: &Facts, out: &mut Vec<u8>) {
    let mut o = Object { out, first: true };
    if let Some(v) = f.purchase_count {
        o.key("purchase_count");
        integer(i64::from(v), o.out);
    }
    if let Some(v) = f.total_spend {
        o.key("total_spend");
        float(v, o.out);
    }
    if let Some(v) = f.mature_min_purchases {
        o.key("mature_min_purchases");
        integer(i64::from(v), o.out);
    }
    if let Some(v) = f.first_conversion_at {
        o.key("first_conversion_at");
        timestamp(v.0, o.out);
    }
    if let Some(v) = f.days_since_first_conversion {
        o.key("days_since_first_conversion");
        integer(v, o.out);
    }
    if let Some(v) = f.mature_min_tenure_days {
        o.key("mature_min_tenure_days");
        integer(i64::from(v), o.out);
    }
    if let Some(v) = f.last_activity_at {
        o.key("last_activity_at");
        timestamp(v.0, o.out);
    }
    if let Some(v) = f.inactivity_days {
        o.key("inactivity_days");
        integer(i64::from(v), o.out);
    }
    if let Some(Rfc3339(v)) = f.churning_since {
        o.key("churning_since");
        timestamp(v, o.out);
    }
    if let Some(v) = f.churned_after_days {
        o.key("churned_after_days");
        integer(i64::from(v), o.out);
    }
    if let Some(v) = f.allowed_lateness_secs {
        o.key("allowed_lateness_secs");
        integer(v, o.out);
    }
    if let Some(v) = f.event_type {
        o.key("event_type");
        string(v.as_str(), o.out);
    }
    if let Some(v) = f.severity {
        o.key("severity");
        string(v.as_str(), o.out);
    }
    if let Some(v) = f.nps {
        o.key("nps");
        integer(i64::from(v), o.out);
    }
    if let Some(v) = f.satisfaction {
        o.key("satisfaction");
        integer(i64::from(v), o.out);
    }
    if let Some(v) = f.kano_class {
        o.key("kano_class");
        string(v.as_str(), o.out);
    }
    if let Some(v) = f.milestone {
        o.key("milestone");
        integer(i64::from(v), o.out);
    }
    if let Some(v) = f.repeat_purchases {
        o.key("repeat_purchases");
        integer(i64::from(v), o.out);
    }
    if let Some(Rfc3339(v)) = f.last_purchase_at {
        o.key("last_purchase_at");
        timestamp(v, o.out);
    }
    if let Some(v) = f.at_risk_below {
        o.key("at_risk_below");
        float(v, o.out);
    }
    if let Some(v) = f.p_alive {
        o.key("p_alive");
        float(v, o.out);
    }
    o.close();
}

struct Object<'a> {
    out: &'a mut Vec<u8>,
    first: bool,
}

impl Object<'_> {
    /// Writes the separator and `"key":` (keys are plain ASCII).
    fn key(&mut self, key: &str) {
        self.out.push(if self.first { b'{' } else { b',' });
        self.first = false;
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(b"\":");
    }
}

impl Object<'_> {
    fn close(self) {
        if self.first {
            self.out.push(b'{');
        }
        self.out.push(b'}');
    }
}

/// A JSON string: copied as it is unless it holds a character JSON must escape, in which
/// case serde_json escapes it (so escapes match the reference byte for byte).
fn string(s: &str, out: &mut Vec<u8>) {
    if super::json::plain_len(s.as_bytes()) < s.len() {
        // Writing a string into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, s);
        return;
    }
    out.push(b'"');
    out.extend_from_slice(s.as_bytes());
    out.push(b'"');
}

fn opt_str(s: Option<&str>, out: &mut Vec<u8>) {
    match s {
        Some(s) => string(s, out),
        None => out.extend_from_slice(b"null"),
    }
}

/// Reasons and explanations are built from identifiers, numbers and timestamps: no
/// character in them needs escaping.
/// A transition reason as its Display writes it, without the formatting machinery.
fn reason(r: &Reason, out: &mut Vec<u8>) {
    out.extend_from_slice(r.family().as_bytes());
    if let Reason::ChurnSignal(t) = r {
        out.push(b':');
        out.extend_from_slice(t.as_str().as_bytes());
    }
}

fn display(v: &dyn std::fmt::Display, out: &mut Vec<u8>) {
    use std::io::Write;
    // Writing into a Vec cannot fail.
    let _ = write!(out, "{v}");
}

fn timestamp(t: Timestamp, out: &mut Vec<u8>) {
    let mut buf = [0u8; 32];
    let len = t.write_rfc3339(&mut buf);
    out.push(b'"');
    out.extend_from_slice(&buf[..len]);
    out.push(b'"');
}

fn integer(v: i64, out: &mut Vec<u8>) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(v).as_bytes());
}

fn float(v: f64, out: &mut Vec<u8>) {
    // Facts hold finite numbers; serde_json writes them in their shortest round-trip form.
    let _ = serde_json::to_writer(&mut *out, &v);
}

#[cfg(test)]
mod tests {
    use crate::domain::{Engine, Record, Rules, Timestamp, decode};

    /// Every record of a stream with ids that need escaping, odd amounts and fractions of
    /// seconds, encoded both ways.
    #[test]
    fn matches_serde_json_byte_for_byte() {
        let now = Timestamp::parse_rfc3339("2030-01-01T00:00:00Z").unwrap();
        let lines = [
            r#"{"event_id":"e\"1\u0001","customer_id":"c \"q\" \\ é 😀","type":"lead_created","occurred_at":"2025-01-01T00:00:00.5Z"}"#,
            r#"{"event_id":"e2","customer_id":"c \"q\" \\ é 😀","type":"purchase","occurred_at":"2025-01-02T00:00:00.123456789+02:00","data":{"amount":0.1,"need_level":"esteem"}}"#,
            r#"{"event_id":"e3","customer_id":"c \"q\" \\ é 😀","type":"purchase","occurred_at":"2025-01-03T00:00:00Z","data":{"amount":1e21}}"#,
            r#"{"event_id":"e4","customer_id":"c \"q\" \\ é 😀","type":"purchase","occurred_at":"2025-02-03T00:00:00Z","data":{"amount":3}}"#,
            r#"{"event_id":"e5","customer_id":"c \"q\" \\ é 😀","type":"feedback","occurred_at":"2025-02-04T00:00:00Z","data":{"nps":10,"satisfaction":1,"kano":{"functional":2,"dysfunctional":5}}}"#,
            r#"{"event_id":"e6","customer_id":"c \"q\" \\ é 😀","type":"support_ticket","occurred_at":"2025-02-05T00:00:00Z","data":{"severity":"high"}}"#,
            r#"{"event_id":"e7","customer_id":"c \"q\" \\ é 😀","type":"subscription_cancelled","occurred_at":"2025-02-06T00:00:00Z"}"#,
            r#"{"event_id":"e8","customer_id":"plain","type":"subscription_started","occurred_at":"2025-02-06T00:00:00Z"}"#,
            r#"{"event_id":"e9","customer_id":"plain","type":"customer_erased","occurred_at":"2025-02-07T00:00:00Z"}"#,
        ];
        let mut engine = Engine::new(Rules::default());
        let mut records = Vec::new();
        for l in lines {
            let event = decode(l.as_bytes(), now).unwrap();
            engine.apply(&event, &mut records);
        }
        engine.advance_clock(now, &mut records);
        let sent = records
            .iter()
            .filter(|r| !matches!(r, Record::Suppressed { .. }))
            .count();
        assert!(sent >= 12, "{sent} records");
        for r in &records {
            let mut ours = Vec::new();
            r.write_json_line(&mut ours);
            assert_eq!(
                String::from_utf8_lossy(&ours),
                String::from_utf8_lossy(&r.serde_json_line())
            );
        }
    }
}
