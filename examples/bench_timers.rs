//! Timer scale: arms one timer for each of N customers (in `new`, last active within one
//! day), then advances the clock past every inactivity deadline and times the firing of all
//! of them. Also times moving one timer among N (an activity event for one customer).
//!
//! `cargo run --release --example bench_timers -- [N]`

use std::time::Instant;

use lifecycle::domain::{Customer, Engine, Rules, Snapshot, Span, Stage, Timestamp};

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let base = Timestamp::parse_rfc3339("2025-01-01T00:00:00Z").expect("time");
    let customers = (0..n)
        .map(|i| {
            let at = base.plus(Span::from_secs(i % 86_400));
            let mut c = Customer::new(&format!("c-{i:08}"), at);
            c.stage = Stage::New;
            c.seq = 2;
            c.purchase_count = 1;
            c.first_conversion_at = Some(at);
            c.last_activity_at = Some(at);
            c
        })
        .collect();
    let started = Instant::now();
    let mut engine = Engine::restore(
        Rules::default(),
        Snapshot {
            clock: Some(base),
            customers,
        },
    );
    println!(
        "armed {} timers in {:.2} s",
        engine.pending_timers(),
        started.elapsed().as_secs_f64()
    );

    // Moving one timer: apply an activity event to one customer among n.
    let line = format!(
        r#"{{"event_id":"x","customer_id":"c-{:08}","type":"engagement","occurred_at":"2025-01-02T00:00:00Z"}}"#,
        n / 2
    );
    let event = lifecycle::domain::decode(line.as_bytes(), Timestamp::now()).expect("event");
    let mut out = Vec::new();
    let started = Instant::now();
    engine.apply(&event, &mut out);
    println!(
        "moved one timer among {n} in {:.1} us",
        started.elapsed().as_secs_f64() * 1e6
    );

    let mut records = Vec::with_capacity(2 * n as usize + 8);
    let started = Instant::now();
    engine.advance_clock(base.plus(Span::from_days(62)), &mut records);
    let secs = started.elapsed().as_secs_f64();
    let transitions = records
        .iter()
        .filter(|r| matches!(r, lifecycle::domain::Record::Transition(_)))
        .count();
    println!(
        "figure: fired {transitions} timers in {secs:.2} s ({:.0} timers/s), {} records",
        transitions as f64 / secs,
        records.len()
    );
}
