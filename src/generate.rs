//! `lifecycle generate`: a deterministic synthetic CRM event stream for demos and benchmarks.
//!
//! Every customer follows an archetype (loyal buyer, casual buyer, lead that never buys,
//! churner, win-back) drawn from its own random stream, so the output depends only on the
//! arguments. Customers' events are merged in time order through a heap, so memory grows with
//! the number of customers, not of events. A small share of the lines are deliberately
//! imperfect: duplicates, late events (dated up to two days before their position), unknown
//! types and malformed lines.
//!
//! With [`GenerateOptions::bgnbd`] set (the CLI flag is to be `--bgnbd r,alpha,a,b`), every
//! customer is instead a buyer drawn from BG/NBD (or MBG/NBD): only `purchase` events, at most
//! one per UTC day, a clean stream (no duplicates, late or malformed lines) for checking that
//! `lifecycle fit` recovers the parameters. See [`BuyerProcess`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::{self, Write};

use anyhow::{Result, bail};

use crate::domain::Timestamp;

mod buyers;
pub use buyers::BuyerProcess;

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    pub customers: u64,
    pub seed: u64,
    /// First and last instant of the stream, in seconds since the epoch.
    pub from: i64,
    pub to: i64,
    /// `None`: the archetype stream (its bytes depend only on the other fields).
    pub bgnbd: Option<BuyerProcess>,
}

impl GenerateOptions {
    /// Checks the arguments: a non-empty range that ends before `now`.
    pub fn new(customers: u64, seed: u64, from: &str, to: &str, now: Timestamp) -> Result<Self> {
        let from = parse_day(from)?;
        let to = parse_day(to)?;
        if to <= from {
            bail!("--to must be after --from");
        }
        if to.plus(crate::domain::Span::from_days(1)) > now {
            bail!("--to must be in the past (the stream is history), it is {to}");
        }
        let secs = |t: Timestamp| t.as_nanos().div_euclid(1_000_000_000);
        Ok(GenerateOptions {
            customers,
            seed,
            from: secs(from),
            to: secs(to) + 86_399,
            bgnbd: None,
        })
    }

    /// Buyers drawn from `process` instead of the archetypes.
    pub fn with_bgnbd(self, process: BuyerProcess) -> Result<Self> {
        if !process.params.are_valid() {
            bail!("the BG/NBD parameters must all be above 0");
        }
        if !(process.unit_days.is_finite() && process.unit_days > 0.0) {
            bail!("the BG/NBD time unit must be above 0 days");
        }
        Ok(GenerateOptions {
            bgnbd: Some(process),
            ..self
        })
    }
}

fn parse_day(s: &str) -> Result<Timestamp> {
    let full = if s.len() == 10 {
        format!("{s}T00:00:00Z")
    } else {
        s.to_owned()
    };
    Timestamp::parse_rfc3339(&full)
        .map_err(|_| anyhow::anyhow!("`{s}` is not a date YYYY-MM-DD or an RFC 3339 date-time"))
}

/// SplitMix64: tiny, fast, and stable forever (the stream must not change with a crate).
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn new(seed: u64, stream: u64) -> Rng {
        let mut r = Rng(seed ^ stream.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next();
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

const DAY: i64 = 86_400;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Archetype {
    Loyal,
    Casual,
    LeadOnly,
    Churner,
    WinBack,
}

/// One customer's generator: emits its events one at a time, in time order.
#[derive(Debug)]
struct Customer {
    index: u64,
    rng: Rng,
    archetype: Archetype,
    /// When the next event is due (seconds).
    t: i64,
    /// Events emitted so far.
    k: u32,
    /// Body events left before the archetype's ending.
    budget: u32,
    /// Win-backs: whether the long pause has happened.
    paused: bool,
    /// Extra seconds before the next event (a win-back's silence).
    pause: i64,
    withdrawn: bool,
    erase_at_end: bool,
    done: bool,
    /// A line to emit again later (a duplicate delivery).
    duplicate: Option<String>,
}

impl Customer {
    fn new(index: u64, opts: &GenerateOptions) -> Customer {
        let mut rng = Rng::new(opts.seed, index);
        let archetype = match rng.range(0, 99) {
            0..=19 => Archetype::Loyal,
            20..=49 => Archetype::Casual,
            50..=74 => Archetype::LeadOnly,
            75..=89 => Archetype::Churner,
            _ => Archetype::WinBack,
        };
        let span = (opts.to - opts.from).max(1) as u64;
        let t = opts.from + rng.range(0, span * 4 / 5) as i64;
        let budget = match archetype {
            Archetype::Loyal => rng.range(12, 40),
            Archetype::Casual => rng.range(1, 4),
            Archetype::LeadOnly => rng.range(0, 4),
            Archetype::Churner => rng.range(3, 8),
            Archetype::WinBack => rng.range(4, 9),
        } as u32;
        let erase_at_end = rng.chance(0.004);
        Customer {
            index,
            rng,
            archetype,
            t,
            k: 0,
            budget,
            paused: false,
            pause: 0,
            withdrawn: false,
            erase_at_end,
            done: false,
            duplicate: None,
        }
    }

    /// Days until the next body event, by archetype.
    fn gap(&mut self) -> i64 {
        let days = match self.archetype {
            Archetype::Loyal => self.rng.range(3, 20),
            Archetype::Casual => self.rng.range(15, 90),
            Archetype::LeadOnly => self.rng.range(2, 40),
            Archetype::Churner => self.rng.range(5, 30),
            Archetype::WinBack => self.rng.range(5, 25),
        } as i64;
        days * DAY + self.rng.range(0, DAY as u64 - 1) as i64
    }

    /// The next line of this customer, or `None` when it has nothing more to say.
    fn next_line(&mut self) -> Option<String> {
        if let Some(dup) = self.duplicate.take() {
            return Some(dup);
        }
        if self.done {
            return None;
        }
        let (event_type, data) = self.next_event();
        let k = self.k;
        self.k += 1;
        let mut occurred = self.t;
        // About 1% arrive late: dated up to two days before their place in the stream.
        if k > 0 && self.rng.chance(0.01) {
            occurred -= self.rng.range(60, 2 * DAY as u64) as i64;
        }
        let line = event_line(
            &format!("e-{}-{k}", self.index),
            &customer_id(self.index),
            event_type,
            occurred,
            &data,
        );
        if self.rng.chance(0.01) {
            self.duplicate = Some(line.clone());
        } else if self.rng.chance(0.004) {
            self.duplicate = Some(self.malformed(occurred));
        }
        let gap = self.gap() + std::mem::take(&mut self.pause);
        self.t += gap;
        Some(line)
    }

    /// Picks the type and data of the next event and updates the life story.
    fn next_event(&mut self) -> (&'static str, String) {
        let rng = &mut self.rng;
        if self.k == 0 {
            let source = ["ads", "webinar", "referral", "organic"][rng.range(0, 3) as usize];
            return ("lead_created", format!(r#"{{"source":"{source}"}}"#));
        }
        if self.k == 1 && self.archetype != Archetype::LeadOnly {
            return if self.archetype == Archetype::Churner {
                ("subscription_started", r#"{"plan":"monthly"}"#.into())
            } else {
                purchase(rng)
            };
        }
        if self.budget == 0 {
            return self.ending();
        }
        self.budget -= 1;
        let roll = rng.range(0, 99);
        match (self.archetype, roll) {
            (Archetype::LeadOnly, 0..=69) => engagement(rng),
            (Archetype::LeadOnly, _) => feedback(rng, false),
            (_, 0..=54) => purchase(rng),
            (_, 55..=74) => engagement(rng),
            (_, 75..=82) => feedback(rng, self.archetype == Archetype::Loyal),
            (_, 83..=87) => {
                let severity = ["low", "normal", "high"][rng.range(0, 2) as usize];
                (
                    "support_ticket",
                    format!(r#"{{"severity":"{severity}","status":"open"}}"#),
                )
            }
            (_, 88..=90) => ("complaint", r#"{"topic":"delivery"}"#.into()),
            (_, 91..=92) => ("refund", format!(r#"{{"amount":{}.00}}"#, rng.range(5, 60))),
            (_, 93..=95) => {
                self.withdrawn = !self.withdrawn;
                let t = if self.withdrawn {
                    "consent_withdrawn"
                } else {
                    "consent_granted"
                };
                (t, r#"{"channel":"email"}"#.into())
            }
            (_, 96..=97) => ("page_view", r#"{"path":"/pricing"}"#.into()),
            _ => ("engagement", "null".into()),
        }
    }

    /// What happens once the body budget is spent.
    fn ending(&mut self) -> (&'static str, String) {
        match self.archetype {
            Archetype::Churner if !self.paused => {
                self.paused = true;
                self.budget = 0;
                (
                    "subscription_cancelled",
                    r#"{"reason":"too expensive"}"#.into(),
                )
            }
            Archetype::WinBack if !self.paused => {
                // A long silence (churning, maybe churned), then buying again.
                self.paused = true;
                self.budget = self.rng.range(2, 6) as u32;
                self.pause = self.rng.range(100, 220) as i64 * DAY;
                engagement(&mut self.rng)
            }
            _ => {
                self.done = true;
                if self.erase_at_end {
                    ("customer_erased", "null".into())
                } else {
                    engagement(&mut self.rng)
                }
            }
        }
    }

    fn malformed(&mut self, t: i64) -> String {
        let id = customer_id(self.index);
        match self.rng.range(0, 6) {
            0 => format!(
                r#"{{"event_id":"bad-{}","customer_id":"{id}","type":"purchase""#,
                self.k
            ),
            1 => format!(
                r#"{{"event_id":"bad-{}","type":"engagement","occurred_at":"{}"}}"#,
                self.k,
                rfc3339(t)
            ),
            2 => format!(
                r#"{{"event_id":"bad-{}","customer_id":"{id}","type":"purchase","occurred_at":"{}","data":{{"amount":-5}}}}"#,
                self.k,
                rfc3339(t)
            ),
            3 => format!(
                r#"{{"event_id":"bad-{}","customer_id":"{id}","type":"feedback","occurred_at":"{}","data":{{"nps":11}}}}"#,
                self.k,
                rfc3339(t)
            ),
            4 => format!(
                r#"{{"event_id":"bad-{}","customer_id":"{id}","type":"engagement","occurred_at":"2025-02-30T10:00:00Z"}}"#,
                self.k
            ),
            5 => format!(
                r#"{{"event_id":"bad-{}","event_id":"again","customer_id":"{id}","type":"engagement","occurred_at":"{}"}}"#,
                self.k,
                rfc3339(t)
            ),
            _ => "not json at all".into(),
        }
    }
}

fn purchase(rng: &mut Rng) -> (&'static str, String) {
    let cents = rng.range(0, 25_000);
    let need = [
        "physiological",
        "safety",
        "social",
        "esteem",
        "self_actualization",
    ][rng.range(0, 4) as usize];
    let order = rng.next() % 1_000_000_000;
    // A few zero-amount purchases (free orders) exercise "converts only when amount > 0".
    let amount = if rng.chance(0.03) { 0 } else { cents + 100 };
    (
        "purchase",
        format!(
            r#"{{"amount":{}.{:02},"currency":"EUR","order_id":"o-{order}","need_level":"{need}"}}"#,
            amount / 100,
            amount % 100
        ),
    )
}

fn engagement(rng: &mut Rng) -> (&'static str, String) {
    let channel =
        ["email_open", "email_click", "visit", "login", "app_session"][rng.range(0, 4) as usize];
    ("engagement", format!(r#"{{"channel":"{channel}"}}"#))
}

fn feedback(rng: &mut Rng, happy: bool) -> (&'static str, String) {
    let nps = if happy {
        rng.range(6, 10)
    } else {
        rng.range(0, 10)
    };
    let features = ["checkout", "delivery", "search", "support", "app"];
    let feature = features[rng.range(0, 4) as usize];
    let functional = rng.range(1, 5);
    let dysfunctional = rng.range(1, 5);
    let satisfaction = rng.range(1, 5);
    (
        "feedback",
        format!(
            r#"{{"nps":{nps},"satisfaction":{satisfaction},"feature":"{feature}","kano":{{"functional":{functional},"dysfunctional":{dysfunctional}}}}}"#
        ),
    )
}

fn customer_id(index: u64) -> String {
    format!("c-{index:07}")
}

fn rfc3339(secs: i64) -> String {
    Timestamp::from_nanos(secs * 1_000_000_000).to_string()
}

fn event_line(event_id: &str, customer: &str, event_type: &str, t: i64, data: &str) -> String {
    format!(
        r#"{{"event_id":"{event_id}","customer_id":"{customer}","type":"{event_type}","occurred_at":"{}","data":{data}}}"#,
        rfc3339(t)
    )
}

/// Writes the stream; returns the number of lines written.
pub fn generate(opts: &GenerateOptions, out: &mut dyn Write) -> io::Result<u64> {
    if let Some(process) = &opts.bgnbd {
        return buyers::generate_buyers(opts, process, out);
    }
    let customers = (0..opts.customers)
        .map(|i| Customer::new(i, opts))
        .collect();
    merge_in_time_order(
        customers,
        |c| c.t,
        opts.to,
        out,
        |c, t| {
            let line = c.next_line()?;
            // A pending duplicate goes out right after; otherwise wait for the next event.
            let next = if c.duplicate.is_some() { t } else { c.t };
            Some((line, Some(next)))
        },
    )
}

/// Writes the customers' lines merged in time order through a heap (memory grows with the
/// customers, not the events): `start(c)` is a customer's first time; `next(c, t)`, at its
/// turn `t`, gives its line and its next turn (`None`: it has no more), or nothing. Turns
/// after `to` end a customer. Returns the number of lines written.
fn merge_in_time_order<C>(
    mut customers: Vec<C>,
    start: impl Fn(&C) -> i64,
    to: i64,
    out: &mut dyn Write,
    mut next: impl FnMut(&mut C, i64) -> Option<(String, Option<i64>)>,
) -> io::Result<u64> {
    let mut heap: BinaryHeap<Reverse<(i64, u64)>> = customers
        .iter()
        .enumerate()
        .map(|(i, c)| Reverse((start(c), i as u64)))
        .collect();
    let mut lines = 0u64;
    while let Some(Reverse((t, i))) = heap.pop() {
        if t > to {
            continue;
        }
        if let Some((line, then)) = next(&mut customers[i as usize], t) {
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
            lines += 1;
            if let Some(then) = then {
                heap.push(Reverse((then, i)));
            }
        }
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(customers: u64, seed: u64) -> Vec<u8> {
        let opts = GenerateOptions::new(
            customers,
            seed,
            "2024-01-01",
            "2024-12-31",
            Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap(),
        )
        .unwrap();
        let mut out = Vec::new();
        generate(&opts, &mut out).unwrap();
        out
    }

    #[test]
    fn the_same_seed_gives_the_same_bytes() {
        assert_eq!(run(200, 7), run(200, 7));
        assert_ne!(run(200, 7), run(200, 8));
    }

    #[test]
    fn without_buyers_the_stream_is_the_one_before_they_existed() {
        // xxh3 of the stream of the code before `bgnbd` was added (commit 1c03ae8), same
        // arguments: the option must not move a byte of the archetype stream.
        let out = run(500, 11);
        assert_eq!(out.len(), 701_157);
        assert_eq!(xxhash_rust::xxh3::xxh3_64(&out), 0xdee2_7a8c_9232_cf80);
    }

    #[test]
    fn refuses_a_future_range() {
        let now = Timestamp::parse_rfc3339("2024-06-01T00:00:00Z").unwrap();
        assert!(GenerateOptions::new(1, 1, "2024-01-01", "2024-12-31", now).is_err());
        assert!(GenerateOptions::new(1, 1, "2024-12-31", "2024-01-01", now).is_err());
    }
}
