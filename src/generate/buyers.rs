//! `generate`'s BG/NBD buyers ([`GenerateOptions::bgnbd`]): customers drawn from the model's
//! story ([`crate::predict::simulate`]), emitting only purchases, from the same per-customer
//! SplitMix64 streams and merged in time order like the archetype stream.

use std::io::{self, Write};

use anyhow::{Result, bail};

use super::{DAY, GenerateOptions, Rng, customer_id, event_line};
use crate::predict::simulate::Buyer;
use crate::predict::{Model, Params};

/// Customers as a BG/NBD (or MBG/NBD) process draws them: each one's first purchase at a
/// uniform instant of the first 80% of the range, then purchases at the rate of its
/// Gamma-drawn lambda per `unit_days` days, dropping out with its Beta-drawn p. Purchases
/// that fall on the UTC day of the one before are one transaction and one event (the day
/// counting of SPEC 8, and how the papers' data are made); with lambda a purchase per week
/// that merges about 1 gap in 14, fewer at lower rates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BuyerProcess {
    pub model: Model,
    pub params: Params,
    pub unit_days: f64,
}

impl BuyerProcess {
    /// Parses the `--bgnbd` value `r,alpha,a,b` (lambda per week: `unit_days` 7).
    pub fn parse(text: &str, model: Model) -> Result<BuyerProcess> {
        let values: Vec<f64> = text
            .split(',')
            .map(|v| v.trim().parse::<f64>())
            .collect::<Result<_, _>>()
            .map_err(|_| anyhow::anyhow!("--bgnbd wants four numbers r,alpha,a,b"))?;
        let [r, alpha, a, b] = values[..] else {
            bail!(
                "--bgnbd wants four numbers r,alpha,a,b, not {}",
                values.len()
            );
        };
        let params = Params { r, alpha, a, b };
        if !params.are_valid() {
            bail!("--bgnbd: r, alpha, a and b must all be above 0");
        }
        Ok(BuyerProcess {
            model,
            params,
            unit_days: 7.0,
        })
    }
}

/// The generator is a `rand_core` generator too, so that `rand_distr` draws from its stream.
impl rand_core::TryRng for Rng {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok((self.next() >> 32) as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.next())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            chunk.copy_from_slice(&self.next().to_le_bytes()[..chunk.len()]);
        }
        Ok(())
    }
}

/// One buyer: emits its purchases one at a time, in time order.
#[derive(Debug)]
struct BuyerCustomer {
    index: u64,
    rng: Rng,
    buyer: Buyer,
    /// When the next purchase is due (seconds).
    t: i64,
    /// Purchases emitted so far.
    k: u32,
    done: bool,
}

impl BuyerCustomer {
    fn new(index: u64, opts: &GenerateOptions, process: &BuyerProcess) -> Option<BuyerCustomer> {
        let mut rng = Rng::new(opts.seed, index);
        let span = (opts.to - opts.from).max(1) as u64;
        let t = opts.from + rng.range(0, span * 4 / 5) as i64;
        let buyer = Buyer::draw(&process.params, process.model, &mut rng).ok()?;
        Some(BuyerCustomer {
            index,
            rng,
            buyer,
            t,
            k: 0,
            done: false,
        })
    }

    /// The purchase due at `self.t`; then finds the next one on a later UTC day (until `to`).
    fn next_line(&mut self, to: i64, unit_secs: f64) -> Option<String> {
        if self.done {
            return None;
        }
        let at = self.t;
        let cents = self.rng.range(100, 25_000);
        let line = event_line(
            &format!("e-{}-{}", self.index, self.k),
            &customer_id(self.index),
            "purchase",
            at,
            &format!(
                r#"{{"amount":{}.{:02},"currency":"EUR"}}"#,
                cents / 100,
                cents % 100
            ),
        );
        self.k += 1;
        let day = at.div_euclid(DAY);
        self.buyer.transact(&mut self.rng);
        loop {
            let Some(gap) = self.buyer.next_gap(&mut self.rng) else {
                self.done = true;
                break;
            };
            // `as` saturates: a rate near 0 gives a gap past the end.
            self.t = self.t.saturating_add((gap * unit_secs) as i64);
            if self.t > to {
                self.done = true;
                break;
            }
            if self.t.div_euclid(DAY) != day {
                break;
            }
            // Another purchase the same day: the same transaction, no event of its own.
            self.buyer.transact(&mut self.rng);
        }
        Some(line)
    }
}

/// Writes the buyers' stream; returns the number of lines written.
pub(super) fn generate_buyers(
    opts: &GenerateOptions,
    process: &BuyerProcess,
    out: &mut dyn Write,
) -> io::Result<u64> {
    let unit_secs = process.unit_days * DAY as f64;
    let customers = (0..opts.customers)
        .map(|i| {
            BuyerCustomer::new(i, opts, process).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "the BG/NBD parameters must all be above 0",
                )
            })
        })
        .collect::<io::Result<Vec<_>>>()?;
    super::merge_in_time_order(
        customers,
        |c| c.t,
        opts.to,
        out,
        |c, _| {
            let line = c.next_line(opts.to, unit_secs)?;
            Some((line, (!c.done).then_some(c.t)))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Timestamp;
    use crate::generate::generate;

    fn buyers(customers: u64, seed: u64, model: Model) -> Vec<u8> {
        let process = BuyerProcess::parse("0.5, 2.0, 0.8, 2.5", model).unwrap();
        let opts = GenerateOptions::new(
            customers,
            seed,
            "2024-01-01",
            "2024-12-31",
            Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap(),
        )
        .unwrap()
        .with_bgnbd(process)
        .unwrap();
        let mut out = Vec::new();
        generate(&opts, &mut out).unwrap();
        out
    }

    #[test]
    fn buyers_are_deterministic_and_buy_at_most_once_a_utc_day_in_time_order() {
        for model in [Model::BgNbd, Model::MbgNbd] {
            let out = buyers(300, 5, model);
            assert_eq!(out, buyers(300, 5, model));
            assert_ne!(out, buyers(300, 6, model));
            let now = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
            let mut days = std::collections::HashSet::new();
            let mut last = Timestamp::MIN;
            let text = String::from_utf8(out).unwrap();
            for line in text.lines() {
                let event = crate::domain::decode(line.as_bytes(), now).expect("a valid event");
                match event.payload {
                    Some(crate::domain::Payload::Purchase { amount, .. }) => assert!(amount > 0.0),
                    other => panic!("only purchases, got {other:?}"),
                }
                assert!(event.occurred_at >= last, "in time order");
                last = event.occurred_at;
                let day = event.occurred_at.as_nanos().div_euclid(DAY * 1_000_000_000);
                assert!(days.insert((event.customer_id.to_string(), day)), "{line}");
            }
            // 300 first purchases, and repeat ones.
            assert!(days.len() > 300, "{model:?}: {} purchases", days.len());
        }
    }

    #[test]
    fn buyer_flags_are_four_positive_numbers() {
        assert!(BuyerProcess::parse("0.243,4.414,0.793,2.426", Model::BgNbd).is_ok());
        for bad in [
            "",
            "1,2,3",
            "1,2,3,4,5",
            "1,2,3,x",
            "1,2,3,0",
            "1,-2,3,4",
            "1,2,3,inf",
        ] {
            assert!(BuyerProcess::parse(bad, Model::BgNbd).is_err(), "{bad}");
        }
    }
}
