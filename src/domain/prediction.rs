//! Churn prediction in the engine (SPEC 8): P(alive) of a customer at an instant, and the
//! instant it falls below `at_risk_below` (the `churn_risk` timer's stamp). The models
//! themselves are [`crate::predict`]'s; this is where the engine's state meets them.

use super::time::Timestamp;
use crate::predict::model::{crossing_from_root, crossing_root};
use crate::predict::{Model, Params, Tally, p_alive};

/// The crossing's root is kept for x below this (repeat transaction days); customers with
/// more compute theirs.
const ROOTS: usize = 32;

/// `[prediction]` when it is on (all four parameters set).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prediction {
    pub model: Model,
    pub params: Params,
    /// The models' time unit, in days.
    pub unit_days: f64,
    /// P(alive) below which a customer in `new` or `mature` gets `churn_risk`; 0: never.
    pub at_risk_below: f64,
    /// K^(1 / (r + x)) of the crossing instant for each x below [`ROOTS`], when the action
    /// is on: the engine asks for the stamp whenever it arms a customer's timer (after
    /// every event), and the root is its only logarithm and exponential. Computed by the
    /// same function as on demand, so the stamps are the same to the bit.
    roots: Option<[Option<f64>; ROOTS]>,
}

impl Prediction {
    pub fn new(model: Model, params: Params, unit_days: f64, at_risk_below: f64) -> Prediction {
        let roots = (at_risk_below > 0.0 && at_risk_below < 1.0).then(|| {
            std::array::from_fn(|x| crossing_root(&params, model, x as f64, at_risk_below))
        });
        Prediction {
            model,
            params,
            unit_days,
            at_risk_below,
            roots,
        }
    }

    /// P(alive) at `at` of a customer with these transactions: 1 without a transaction (and,
    /// under BG/NBD, without a repeat one).
    pub fn p_alive(&self, transactions: &Tally, at: Timestamp) -> f64 {
        match transactions.summary(at, self.unit_days) {
            Some(s) => p_alive(&self.params, self.model, s.x, s.t_x, s.t),
            None => 1.0,
        }
    }

    /// The instant P(alive) falls below `at_risk_below` if no transaction arrives (the
    /// latest transaction's instant when it is below already), in whole nanoseconds rounded
    /// up, so that P(alive) at the stamp is below the threshold; `None` when it never does
    /// (the action off, no transaction, BG/NBD without a repeat transaction, or beyond the
    /// representable range).
    pub fn risk_stamp(&self, transactions: &Tally) -> Option<Timestamp> {
        if self.at_risk_below <= 0.0 {
            return None;
        }
        let Some(roots) = &self.roots else {
            // A threshold of 1 or more: the latest transaction (tests only; the configuration
            // refuses it).
            return transactions.risk_deadline(
                &self.params,
                self.model,
                self.at_risk_below,
                self.unit_days,
            );
        };
        let s = transactions.summary(transactions.latest()?, self.unit_days)?;
        let root = match roots.get(s.x as usize) {
            Some(root) => (*root)?,
            None => crossing_root(&self.params, self.model, s.x, self.at_risk_below)?,
        };
        let crossing = crossing_from_root(self.params.alpha, s.t_x, root)?;
        transactions.deadline_at(crossing, s.t_x, self.unit_days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    fn prediction(model: Model) -> Prediction {
        prediction_below(model, 0.5)
    }

    fn prediction_below(model: Model, at_risk_below: f64) -> Prediction {
        Prediction::new(
            model,
            Params {
                r: 0.243,
                alpha: 4.414,
                a: 0.793,
                b: 2.426,
            },
            7.0,
            at_risk_below,
        )
    }

    fn tally(days: &[&str]) -> Tally {
        let mut t = Tally::EMPTY;
        for d in days {
            t.observe(at(d));
        }
        t
    }

    #[test]
    fn p_alive_crosses_the_threshold_at_the_stamp() {
        let p = prediction(Model::BgNbd);
        let t = tally(&[
            "2025-01-01T12:00:00Z",
            "2025-01-15T12:00:00Z",
            "2025-02-01T12:00:00Z",
        ]);
        let stamp = p.risk_stamp(&t).expect("x = 2: it falls");
        assert!(stamp > at("2025-02-01T12:00:00Z"));
        let before = Timestamp::from_nanos(stamp.as_nanos() - 1_000_000);
        assert!(p.p_alive(&t, before) >= 0.5, "{}", p.p_alive(&t, before));
        assert!(
            p.p_alive(&t, stamp) <= 0.5 + 1e-12,
            "{}",
            p.p_alive(&t, stamp)
        );
    }

    #[test]
    fn without_a_repeat_bg_nbd_never_falls_and_mbg_nbd_does() {
        let one = tally(&["2025-01-01T12:00:00Z"]);
        let bg = prediction(Model::BgNbd);
        assert_eq!(bg.risk_stamp(&one), None);
        assert_eq!(bg.p_alive(&one, at("2030-01-01T00:00:00Z")), 1.0);
        assert!(prediction(Model::MbgNbd).risk_stamp(&one).is_some());
        assert_eq!(bg.p_alive(&Tally::EMPTY, at("2030-01-01T00:00:00Z")), 1.0);
        assert_eq!(bg.risk_stamp(&Tally::EMPTY), None);
    }

    #[test]
    fn a_threshold_of_zero_turns_the_action_off() {
        let t = tally(&["2025-01-01T12:00:00Z", "2025-01-09T12:00:00Z"]);
        assert_eq!(prediction_below(Model::BgNbd, 0.0).risk_stamp(&t), None);
    }

    #[test]
    fn the_kept_roots_give_the_stamps_computed_on_demand_to_the_nanosecond() {
        // x from 0 to 40 repeat days (past the kept roots), a few thresholds, both models.
        for model in [Model::BgNbd, Model::MbgNbd] {
            for p in [0.05, 0.3, 0.5, 0.93] {
                let kept = prediction_below(model, p);
                let mut t = tally(&["2024-12-31T08:00:00Z"]);
                for day in 0..=40 {
                    let expected = t.risk_deadline(&kept.params, model, p, kept.unit_days);
                    assert_eq!(kept.risk_stamp(&t), expected, "{model:?} p {p} day {day}");
                    t.observe(Timestamp::from_nanos(
                        at("2025-01-01T09:30:00Z").as_nanos() + day * 3 * 86_400_000_000_007,
                    ));
                }
            }
        }
    }
}
