//! Churn prediction in the engine (SPEC 8): P(alive) of a customer at an instant, and the
//! instant it falls below `at_risk_below` (the `churn_risk` timer's stamp). The models
//! themselves are [`crate::predict`]'s; this is where the engine's state meets them.

use super::time::Timestamp;
use crate::predict::{Model, Params, Tally, p_alive};

/// `[prediction]` when it is on (all four parameters set).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Prediction {
    pub model: Model,
    pub params: Params,
    /// The models' time unit, in days.
    pub unit_days: f64,
    /// P(alive) below which a customer in `new` or `mature` gets `churn_risk`; 0: never.
    pub at_risk_below: f64,
}

impl Prediction {
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
        transactions.risk_deadline(&self.params, self.model, self.at_risk_below, self.unit_days)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    fn prediction(model: Model) -> Prediction {
        Prediction {
            model,
            params: Params {
                r: 0.243,
                alpha: 4.414,
                a: 0.793,
                b: 2.426,
            },
            unit_days: 7.0,
            at_risk_below: 0.5,
        }
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
        let off = Prediction {
            at_risk_below: 0.0,
            ..prediction(Model::BgNbd)
        };
        assert_eq!(off.risk_stamp(&t), None);
    }
}
