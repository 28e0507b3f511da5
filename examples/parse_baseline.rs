//! The replay baseline: parse each line of a JSONL file into a typed event struct with
//! serde_json (borrowed strings, typed data), nothing else. Prints lines/s.
//!
//! `cargo run --release --example parse_baseline -- FILE`

use std::io::BufRead;
use std::time::Instant;

use serde::Deserialize;

#[derive(Deserialize)]
#[allow(dead_code)]
struct Kano {
    functional: u8,
    dysfunctional: u8,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Data<'a> {
    amount: Option<f64>,
    #[serde(borrow)]
    currency: Option<&'a str>,
    #[serde(borrow)]
    order_id: Option<&'a str>,
    #[serde(borrow)]
    need_level: Option<&'a str>,
    #[serde(borrow)]
    channel: Option<&'a str>,
    #[serde(borrow)]
    source: Option<&'a str>,
    nps: Option<u8>,
    satisfaction: Option<u8>,
    #[serde(borrow)]
    feature: Option<&'a str>,
    kano: Option<Kano>,
    #[serde(borrow)]
    severity: Option<&'a str>,
}

#[derive(Deserialize)]
#[allow(dead_code)]
struct Event<'a> {
    #[serde(borrow)]
    event_id: &'a str,
    #[serde(borrow)]
    customer_id: &'a str,
    #[serde(borrow, rename = "type")]
    event_type: &'a str,
    #[serde(borrow)]
    occurred_at: &'a str,
    #[serde(borrow)]
    data: Option<Data<'a>>,
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: parse_baseline FILE");
    let file = std::fs::File::open(&path).expect("input file");
    let mut reader = std::io::BufReader::with_capacity(1 << 20, file);
    let started = Instant::now();
    let (mut lines, mut ok) = (0u64, 0u64);
    let mut buf = String::new();
    loop {
        buf.clear();
        if reader.read_line(&mut buf).expect("read") == 0 {
            break;
        }
        lines += 1;
        if serde_json::from_str::<Event>(buf.trim_end()).is_ok() {
            ok += 1;
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "baseline: {lines} lines ({ok} parsed) in {secs:.2} s = {:.0} lines/s",
        lines as f64 / secs
    );
}
