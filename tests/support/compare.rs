//! Comparing what the service wrote to Kafka with what `replay` computes for the same input.
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};

use lifecycle::domain::{Engine, Rules, Timestamp, decode};
use serde_json::Value;

use super::{Consumed, TestTopics, partition_of};

/// Records per customer: transitions in order, and actions per category topic in order (the
/// order Kafka keeps for one key in one topic).
#[derive(Debug, Default, PartialEq)]
pub struct PerCustomer {
    pub transitions: BTreeMap<String, Vec<Value>>,
    pub actions: BTreeMap<(String, String), Vec<Value>>,
}

impl PerCustomer {
    fn add(&mut self, record: Value) {
        let customer = record["customer_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if record["type"] == "transition" {
            self.transitions.entry(customer).or_default().push(record);
        } else {
            // Held-out actions have a topic of their own (SPEC 10).
            let category = match record["held_out"] == Value::Bool(true) {
                true => "holdout".to_string(),
                false => record["category"].as_str().unwrap_or_default().to_string(),
            };
            self.actions
                .entry((customer, category))
                .or_default()
                .push(record);
        }
    }

    pub fn action_count(&self) -> usize {
        self.actions.values().map(Vec::len).sum()
    }

    /// The kinds of the actions, in customer and category order.
    pub fn kinds(&self) -> Vec<String> {
        self.actions
            .values()
            .flatten()
            .map(|a| a["kind"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    pub fn transition_count(&self) -> usize {
        self.transitions.values().map(Vec::len).sum()
    }

    /// A readable first difference, for assertion messages.
    pub fn first_difference(&self, other: &PerCustomer) -> Option<String> {
        let keys: BTreeSet<&String> = self
            .transitions
            .keys()
            .chain(other.transitions.keys())
            .collect();
        for k in keys {
            let a = self.transitions.get(k);
            let b = other.transitions.get(k);
            if a != b {
                return Some(format!(
                    "transitions of {k}:\n  left:  {a:?}\n  right: {b:?}"
                ));
            }
        }
        let keys: BTreeSet<&(String, String)> =
            self.actions.keys().chain(other.actions.keys()).collect();
        for k in keys {
            let a = self.actions.get(k);
            let b = other.actions.get(k);
            if a != b {
                return Some(format!("actions of {k:?}:\n  left:  {a:?}\n  right: {b:?}"));
            }
        }
        None
    }
}

pub const NOW: &str = "2026-06-01T00:00:00Z";

/// What replay computes for `lines` (event clock, no --as-of), and its final customer states.
pub fn replay_outputs(lines: &[String]) -> (PerCustomer, BTreeMap<String, Value>) {
    replay_outputs_with(lines, Rules::default())
}

/// [`replay_outputs`] with these rules.
pub fn replay_outputs_with(
    lines: &[String],
    rules: Rules,
) -> (PerCustomer, BTreeMap<String, Value>) {
    let now = Timestamp::parse_rfc3339(NOW).unwrap();
    let mut engine = Engine::new(rules);
    let mut records = Vec::new();
    for line in lines {
        if let Ok(event) = decode(line.as_bytes(), now) {
            engine.apply(&event, &mut records);
        }
    }
    let mut out = PerCustomer::default();
    let mut buf = Vec::new();
    for r in &records {
        buf.clear();
        r.write_json_line(&mut buf);
        if !buf.is_empty() {
            out.add(serde_json::from_slice(&buf).unwrap());
        }
    }
    let states = engine
        .snapshot()
        .customers
        .iter()
        .map(|c| {
            (
                c.id.to_string(),
                comparable_state(serde_json::to_value(c).unwrap()),
            )
        })
        .collect();
    (out, states)
}

/// Customer state without the Kafka-only input offset.
pub fn comparable_state(mut v: Value) -> Value {
    if let Some(o) = v.as_object_mut() {
        o.remove("last_offset");
    }
    v
}

/// The output topics' records, per customer. With `dedupe`, byte-identical copies of a
/// record (re-sent after a crash) are dropped, keeping the first.
pub fn kafka_outputs(consumed: &[Consumed], topics: &TestTopics, dedupe: bool) -> PerCustomer {
    let outputs = topics.outputs();
    let mut seen: BTreeSet<Vec<u8>> = BTreeSet::new();
    let mut out = PerCustomer::default();
    for m in consumed
        .iter()
        .filter(|m| outputs.contains(&m.topic.as_str()))
    {
        let payload = m.payload.clone().unwrap_or_default();
        if dedupe && !seen.insert(payload.clone()) {
            continue;
        }
        out.add(serde_json::from_slice(&payload).expect("output is JSON"));
    }
    out
}

/// The customers of the changelog after compaction: last value per key, tombstones removed.
pub fn changelog_states(consumed: &[Consumed], topics: &TestTopics) -> BTreeMap<String, Value> {
    let mut states = BTreeMap::new();
    for m in consumed.iter().filter(|m| m.topic == topics.state) {
        let key = m.key.clone().unwrap_or_default();
        if key.first() == Some(&0) {
            continue;
        }
        let key = String::from_utf8(key).expect("utf-8 key");
        match &m.payload {
            Some(p) => {
                let customer = lifecycle::kafka::codec::decode_customer(p).expect("state record");
                states.insert(
                    key,
                    comparable_state(serde_json::to_value(customer).unwrap()),
                );
            }
            None => {
                states.remove(&key);
            }
        }
    }
    states
}

/// The customers a restore of each changelog partition gives, honouring owner epochs (a
/// model of the restore written from its contract, not from its code): per partition in log
/// order, a progress record of a higher epoch is a new owner's claim (what the previous owner
/// left unconfirmed is dropped), a record of a lower epoch than the current one is skipped,
/// and customer records count once a progress record of the current owner follows them.
pub fn restored_states(consumed: &[Consumed], topics: &TestTopics) -> BTreeMap<String, Value> {
    use lifecycle::kafka::codec::{PartitionMeta, decode_customer_owned};
    let mut by_partition: BTreeMap<i32, Vec<&Consumed>> = BTreeMap::new();
    for m in consumed.iter().filter(|m| m.topic == topics.state) {
        by_partition.entry(m.partition).or_default().push(m);
    }
    let mut states = BTreeMap::new();
    for (_, mut records) in by_partition {
        records.sort_by_key(|m| m.offset);
        let mut epoch = 0u64;
        let mut confirmed: BTreeMap<String, Option<Value>> = BTreeMap::new();
        let mut pending: Vec<(String, Option<Value>, u64)> = Vec::new();
        for m in records {
            let key = m.key.clone().unwrap_or_default();
            if key.first() == Some(&0) {
                let meta: PartitionMeta =
                    serde_json::from_slice(m.payload.as_deref().expect("progress")).unwrap();
                if meta.epoch < epoch {
                    continue;
                }
                if meta.epoch > epoch {
                    pending.retain(|(_, _, e)| *e >= meta.epoch);
                    epoch = meta.epoch;
                }
                confirmed.extend(pending.drain(..).map(|(k, v, _)| (k, v)));
                continue;
            }
            let key = String::from_utf8(key).expect("utf-8 key");
            let (value, record_epoch) = match &m.payload {
                Some(p) => {
                    let (c, e) = decode_customer_owned(p).expect("state record");
                    (Some(comparable_state(serde_json::to_value(c).unwrap())), e)
                }
                None => (
                    None,
                    m.headers
                        .get("lifecycle_epoch")
                        .map_or(0, |e| e.parse().expect("a number")),
                ),
            };
            if record_epoch >= epoch {
                pending.push((key, value, record_epoch));
            }
        }
        for (k, v) in confirmed {
            match v {
                Some(v) => states.insert(k, v),
                None => states.remove(&k),
            };
        }
    }
    states
}

/// A time-ordered generated stream (so per-partition and global event time agree), without
/// malformed lines, followed by one clock tick per partition at the last event's time, so
/// every partition's clock ends where replay's does.
pub fn ordered_stream(customers: u64, seed: u64, partitions: u32) -> Vec<String> {
    let now = Timestamp::parse_rfc3339(NOW).unwrap();
    let opts =
        lifecycle::generate::GenerateOptions::new(customers, seed, "2024-01-01", "2025-06-30", now)
            .expect("valid generate options");
    let mut bytes = Vec::new();
    lifecycle::generate::generate(&opts, &mut bytes).unwrap();
    let text = String::from_utf8(bytes).unwrap();
    let mut timed: Vec<(Timestamp, String)> = text
        .lines()
        .filter_map(|l| {
            decode(l.as_bytes(), now)
                .ok()
                .map(|e| (e.occurred_at, l.to_string()))
        })
        .collect();
    timed.sort_by_key(|(t, _)| *t);
    let last = timed.last().map(|(t, _)| *t).expect("a non-empty stream");
    let mut lines: Vec<String> = timed.into_iter().map(|(_, l)| l).collect();
    let mut covered = BTreeSet::new();
    for i in 0.. {
        if covered.len() == partitions as usize {
            break;
        }
        let id = format!("tick-{i}");
        if covered.insert(partition_of(&id, partitions)) {
            lines.push(format!(
                r#"{{"event_id":"tick-{i}","customer_id":"{id}","type":"clock_tick","occurred_at":"{last}"}}"#
            ));
        }
    }
    lines
}

/// The first customer whose state differs, for assertion messages.
pub fn first_state_difference(
    left: &BTreeMap<String, Value>,
    right: &BTreeMap<String, Value>,
) -> Option<String> {
    let keys: BTreeSet<&String> = left.keys().chain(right.keys()).collect();
    for k in keys {
        let (a, b) = (left.get(k), right.get(k));
        if a != b {
            return Some(format!(
                "{} customers vs {}; state of {k}:\n  left:  {}\n  right: {}",
                left.len(),
                right.len(),
                a.map(Value::to_string).unwrap_or_default(),
                b.map(Value::to_string).unwrap_or_default()
            ));
        }
    }
    None
}

/// Checks that the outputs (per customer, and with `dedupe` without byte-identical copies)
/// and the final changelog of `consumed` equal what replay computes for `lines`.
pub fn assert_matches_replay(
    consumed: &[Consumed],
    topics: &TestTopics,
    lines: &[String],
    dedupe: bool,
) {
    assert_matches_replay_with(consumed, topics, lines, dedupe, Rules::default());
}

/// [`assert_matches_replay`] against replay with these rules.
pub fn assert_matches_replay_with(
    consumed: &[Consumed],
    topics: &TestTopics,
    lines: &[String],
    dedupe: bool,
    rules: Rules,
) {
    let (expected, expected_states) = replay_outputs_with(lines, rules);
    assert!(expected.transition_count() > 0, "a meaningful stream");
    let actual = kafka_outputs(consumed, topics, dedupe);
    if let Some(diff) = expected.first_difference(&actual) {
        panic!("Kafka output differs from replay (left: replay, right: Kafka)\n{diff}");
    }
    let states = changelog_states(consumed, topics);
    if let Some(diff) = first_state_difference(&expected_states, &states) {
        panic!("changelog state differs from replay (left: replay, right: changelog)\n{diff}");
    }
}

/// Replay's summary of `lines` under `config` (event clock, no `--as-of`).
pub fn replay_summary(
    lines: &[String],
    config: &lifecycle::config::Config,
) -> lifecycle::replay::Summary {
    let options = lifecycle::replay::ReplayOptions {
        rules: config.rules(),
        as_of: None,
        now: lifecycle::domain::Timestamp::parse_rfc3339(NOW).unwrap(),
        progress: false,
        until: None,
        voc_max_features: config.voc.max_features,
    };
    let input = lines.join("\n");
    let mut output = Vec::new();
    lifecycle::replay::replay(
        &mut std::io::Cursor::new(input),
        &mut output,
        None,
        &options,
    )
    .expect("replay in memory")
}
