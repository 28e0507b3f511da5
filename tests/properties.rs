//! Properties of the pure engine over random event streams: determinism, idempotence under
//! duplicates, only legal stage edges, and snapshot/restore equivalence (which the Kafka
//! runtime relies on when it restores a partition's state from the changelog).

use std::collections::HashMap;

use lifecycle::domain::holdout::HoldoutConfig;
use lifecycle::domain::prediction::Prediction;
use lifecycle::domain::{Engine, Rules, Snapshot, Stage, Timestamp, decode};
use lifecycle::predict::{Model, Params};
use lifecycle::replay::{ReplayOptions, replay};
use proptest::prelude::*;

const DAY: i64 = 86_400;

/// One generated event, before it becomes a JSON line.
#[derive(Clone, Debug)]
struct Ev {
    id: u32,
    customer: u8,
    kind: u8,
    /// Seconds after 2024-01-01.
    t: i64,
    x: u8,
}

fn line(e: &Ev) -> String {
    let (ty, data) = match e.kind {
        0 => ("lead_created", "null".to_string()),
        1..=3 => (
            "purchase",
            format!(
                r#"{{"amount":{}}}"#,
                if e.x.is_multiple_of(7) {
                    0
                } else {
                    10 + e.x as u32
                }
            ),
        ),
        4 => ("engagement", r#"{"channel":"visit"}"#.into()),
        5 => ("subscription_started", "{}".into()),
        6 => ("subscription_cancelled", "{}".into()),
        7 => (
            "feedback",
            format!(
                r#"{{"nps":{},"satisfaction":{},"kano":{{"functional":{},"dysfunctional":{}}}}}"#,
                e.x % 11,
                e.x % 5 + 1,
                e.x % 5 + 1,
                (e.x / 5) % 5 + 1
            ),
        ),
        8 => ("complaint", "{}".into()),
        9 => (
            "support_ticket",
            format!(
                r#"{{"severity":"{}"}}"#,
                ["low", "normal", "high"][e.x as usize % 3]
            ),
        ),
        10 => ("consent_withdrawn", "{}".into()),
        11 => ("consent_granted", "{}".into()),
        12 => ("refund", r#"{"amount":5}"#.into()),
        13 => ("page_view", "{}".into()),
        14 => ("customer_erased", "null".into()),
        _ => return "{not json".into(),
    };
    let at = Timestamp::from_nanos((1_704_067_200 + e.t) * 1_000_000_000);
    format!(
        r#"{{"event_id":"e{}","customer_id":"c{}","type":"{ty}","occurred_at":"{at}","data":{data}}}"#,
        e.id, e.customer
    )
}

/// Streams of up to `n` events over 5 customers and ~2 years, mostly in time order with some
/// late events; erasures are rare.
fn stream(n: usize) -> impl Strategy<Value = Vec<Ev>> {
    prop::collection::vec(
        (
            0u8..5,
            prop_oneof![12 => 0u8..14, 1 => Just(14u8), 1 => Just(15u8)],
            0i64..40 * DAY,
            prop::bool::weighted(0.1),
            any::<u8>(),
        ),
        1..n,
    )
    .prop_map(|raw| {
        let mut t = 0;
        raw.into_iter()
            .enumerate()
            .map(|(i, (customer, kind, gap, late, x))| {
                t += gap / 4;
                let at = if late { t - gap } else { t };
                Ev {
                    id: i as u32,
                    customer,
                    kind,
                    t: at,
                    x,
                }
            })
            .collect()
    })
}

/// The default rules with churn prediction on (SPEC 8), so that every property covers the
/// `churn_risk` timer beside the stage timers: a threshold that repeat buyers cross within
/// weeks of their last purchase. Holdouts (SPEC 10) hold out half of the customers of five
/// kinds, so that held-out actions and open conversion windows are in every state; the
/// frequency cap (SPEC 3) keeps its times in state too.
fn rules() -> Rules {
    let kinds = [
        "retention_offer",
        "win_back_campaign",
        "churn_risk",
        "welcome_onboarding",
        "detractor_follow_up",
    ];
    Rules {
        holdout: HoldoutConfig {
            percent: 50.0,
            kinds: kinds.map(String::from).to_vec(),
            salt: "properties".into(),
            window_days: 30,
        }
        .holdout(),
        max_sent: 3,
        per_days: 20,
        prediction: Some(Prediction::new(
            Model::BgNbd,
            Params {
                r: 0.243,
                alpha: 4.414,
                a: 0.793,
                b: 2.426,
            },
            7.0,
            0.6,
        )),
        ..Rules::default()
    }
}

fn options() -> ReplayOptions {
    ReplayOptions {
        rules: rules(),
        as_of: Some(Timestamp::parse_rfc3339("2027-01-01T00:00:00Z").unwrap()),
        now: Timestamp::parse_rfc3339("2030-01-01T00:00:00Z").unwrap(),
        progress: false,
        until: None,
        voc_max_features: 50,
    }
}

fn run_replay(lines: &[String]) -> Vec<u8> {
    let input = lines.join("\n");
    let mut out = Vec::new();
    replay(&mut input.as_bytes(), &mut out, None, &options()).unwrap();
    out
}

/// The engine over `lines`, restarting from a serialized snapshot at every cut.
fn run_in_chunks(lines: &[String], cuts: &[usize]) -> Vec<u8> {
    let opts = options();
    let mut out = Vec::new();
    let mut snapshot = Snapshot::default();
    let mut start = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (lines.len() + 1)).collect();
    bounds.sort_unstable();
    bounds.push(lines.len());
    for end in bounds {
        let json = serde_json::to_vec(&snapshot).unwrap();
        let restored: Snapshot = serde_json::from_slice(&json).unwrap();
        let mut engine = Engine::restore(opts.rules.clone(), restored);
        let mut records = Vec::new();
        for l in &lines[start..end] {
            if let Ok(event) = decode(l.as_bytes(), opts.now) {
                engine.apply(&event, &mut records);
            }
        }
        if end == lines.len() {
            engine.advance_clock(opts.as_of.unwrap(), &mut records);
        }
        for r in &records {
            r.write_json_line(&mut out);
        }
        snapshot = engine.snapshot();
        start = end.max(start);
    }
    out
}

fn records(bytes: &[u8]) -> Vec<serde_json::Value> {
    bytes
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect()
}

#[test]
fn the_generated_streams_reach_the_churn_risk_timer() {
    // Weekly purchases of customer 0, then silence: x > 0 and a crossing before inactivity.
    let evs: Vec<Ev> = (0..4)
        .map(|i| Ev {
            id: i,
            customer: 0,
            kind: 1,
            t: i64::from(i) * 7 * DAY,
            x: 1,
        })
        .collect();
    let lines: Vec<String> = evs.iter().map(line).collect();
    let out = String::from_utf8(run_replay(&lines)).unwrap();
    assert!(out.contains(r#""kind":"churn_risk""#), "{out}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn the_same_input_gives_byte_identical_output(evs in stream(120)) {
        let lines: Vec<String> = evs.iter().map(line).collect();
        prop_assert_eq!(run_replay(&lines), run_replay(&lines));
    }

    #[test]
    fn records_are_encoded_as_serde_json_encodes_them(evs in stream(120)) {
        let opts = options();
        let mut engine = Engine::new(opts.rules.clone());
        let mut records = Vec::new();
        for l in evs.iter().map(line) {
            if let Ok(event) = decode(l.as_bytes(), opts.now) {
                engine.apply(&event, &mut records);
            }
        }
        engine.advance_clock(opts.as_of.unwrap(), &mut records);
        for r in &records {
            let mut ours = Vec::new();
            r.write_json_line(&mut ours);
            let reference = r.serde_json_line();
            prop_assert_eq!(String::from_utf8_lossy(&ours), String::from_utf8_lossy(&reference));
        }
    }

    #[test]
    fn inserting_duplicates_of_earlier_events_changes_nothing(
        evs in stream(60),
        picks in prop::collection::vec((any::<prop::sample::Index>(), any::<prop::sample::Index>()), 1..10),
    ) {
        // A duplicate is re-delivered before its customer's erasure (which forgets ids) and
        // within the 16 most recent events of its customer (the de-duplication window).
        let lines: Vec<String> = evs.iter().map(line).collect();
        // Sorted by (position, 0 for a copy / 1 for an original): a copy at position k goes
        // right before the original event k.
        let mut with_dups: Vec<(usize, u8, String)> =
            lines.iter().cloned().enumerate().map(|(i, l)| (i, 1, l)).collect();
        for (orig, pos) in picks {
            let o = orig.index(lines.len());
            if evs[o].kind == 14 {
                // An erasure forgets the ids, its own included: a re-delivered erasure after
                // the customer's return erases again, rightly.
                continue;
            }
            let latest = evs.iter().enumerate().skip(o + 1)
                .filter(|(_, e)| e.customer == evs[o].customer)
                .take(15)
                .take_while(|(_, e)| e.kind != 14)
                .map(|(i, _)| i)
                .last()
                .unwrap_or(o);
            let span = latest - o + 1;
            let at = o + 1 + pos.index(span);
            with_dups.push((at, 0, lines[o].clone()));
        }
        with_dups.sort_by_key(|(at, order, _)| (*at, *order));
        let dup_lines: Vec<String> = with_dups.into_iter().map(|(_, _, l)| l).collect();
        prop_assert_eq!(records(&run_replay(&lines)), records(&run_replay(&dup_lines)));
    }

    #[test]
    fn no_transition_leaves_the_allowed_edges(evs in stream(150)) {
        let lines: Vec<String> = evs.iter().map(line).collect();
        let mut seqs: HashMap<String, u64> = HashMap::new();
        for r in records(&run_replay(&lines)) {
            if r["type"] != "transition" {
                continue;
            }
            let from = r["from"].as_str();
            let to = r["to"].as_str();
            let allowed = matches!(
                (from, to),
                (None, Some("prospect"))
                    | (Some("prospect"), Some("new"))
                    | (Some("new"), Some("mature"))
                    | (Some("new" | "mature"), Some("churning"))
                    | (Some("churning"), Some("churned"))
                    | (Some("churning" | "churned"), Some("new" | "mature"))
                    | (Some(_), None)
            );
            prop_assert!(allowed, "illegal edge {:?} -> {:?} in {}", from, to, r);
            let customer = r["customer_id"].as_str().unwrap().to_string();
            let seq = r["seq"].as_u64().unwrap();
            let expected = if from.is_none() { 1 } else { seqs.get(&customer).copied().unwrap_or(0) + 1 };
            prop_assert_eq!(seq, expected, "seq of {}", r);
            if to.is_none() { seqs.remove(&customer); } else { seqs.insert(customer, seq); }
        }
    }

    #[test]
    fn restoring_from_a_snapshot_between_chunks_gives_the_same_output(
        evs in stream(120),
        cuts in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        let lines: Vec<String> = evs.iter().map(line).collect();
        prop_assert_eq!(
            String::from_utf8(run_replay(&lines)).unwrap(),
            String::from_utf8(run_in_chunks(&lines, &cuts)).unwrap()
        );
    }
}

#[test]
fn stage_enum_covers_the_contract() {
    let names: Vec<&str> = Stage::ALL.iter().map(|s| s.as_str()).collect();
    assert_eq!(names, ["prospect", "new", "mature", "churning", "churned"]);
}
