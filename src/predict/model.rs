//! The BG/NBD and MBG/NBD models: their per-customer log-likelihood, P(alive) and the instant
//! at which P(alive) falls below a threshold (SPEC 7 and 8).
//!
//! A customer is summarised by (x, t_x, T) ([`Summary`]): x repeat transactions, the latest at
//! t_x, observed until T, both measured from the first transaction in the model's time unit.
//! The models share the transaction process (while alive, purchases are a Poisson process of
//! rate lambda, lambda ~ Gamma(r, alpha) with alpha a rate) and differ in when a customer may
//! drop out (with probability p, p ~ Beta(a, b)):
//!
//! - BG/NBD (Fader, Hardie & Lee 2005, "Counting your customers the easy way: an alternative
//!   to the Pareto/NBD model", Marketing Science 24(2), 275-284): after each *repeat*
//!   transaction, so a customer without one is certainly alive.
//! - MBG/NBD (Batislam, Denizel & Filiztekin 2007, "Empirical validation and comparison of
//!   models for customer base analysis", International Journal of Research in Marketing 24(3),
//!   201-209): after *every* transaction, the first included.
//!
//! Everything is computed in log space (log-gamma from `libm`, a log-sum-exp for the two terms
//! of the likelihood), so that customers with hundreds of transactions or long histories do
//! not overflow.

use serde::{Deserialize, Serialize};

/// Which model the parameters belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Model {
    /// Fader, Hardie & Lee (2005).
    BgNbd,
    /// Batislam, Denizel & Filiztekin (2007).
    MbgNbd,
}

impl Model {
    /// The configuration name (`bg_nbd`, `mbg_nbd`).
    pub fn name(self) -> &'static str {
        match self {
            Model::BgNbd => "bg_nbd",
            Model::MbgNbd => "mbg_nbd",
        }
    }
}

/// The four parameters, all > 0: lambda ~ Gamma(shape `r`, rate `alpha`) per time unit,
/// p ~ Beta(`a`, `b`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Params {
    pub r: f64,
    pub alpha: f64,
    pub a: f64,
    pub b: f64,
}

impl Params {
    /// Whether all four are finite and > 0 (the only values the models are defined for).
    pub fn are_valid(&self) -> bool {
        [self.r, self.alpha, self.a, self.b]
            .iter()
            .all(|v| v.is_finite() && *v > 0.0)
    }
}

/// One customer's purchase history as the models see it, in the model's time unit, measured
/// from the first transaction: `x` repeat transactions, the latest at `t_x`, observed until
/// `t` (the papers' T). `0 <= t_x <= t`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub x: f64,
    pub t_x: f64,
    #[serde(rename = "T")]
    pub t: f64,
}

/// ln(e^u + e^v) without overflow.
fn log_add_exp(u: f64, v: f64) -> f64 {
    let m = u.max(v);
    if m == f64::NEG_INFINITY {
        return m;
    }
    m + ((u - m).exp() + (v - m).exp()).ln()
}

fn ln_gamma(z: f64) -> f64 {
    libm::lgamma(z)
}

/// The log-likelihood of one customer's (x, t_x, T).
///
/// BG/NBD, Fader, Hardie & Lee (2005) equation (6):
///
/// ```text
/// L = B(a, b+x)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))
///   + [x > 0] B(a+1, b+x-1)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x))
/// ```
///
/// and, since B(a+1, b+x-1) / B(a, b+x) = a / (b+x-1),
/// `ln L = A1 + A2 + ln((alpha+T)^-(r+x) + [x > 0] a/(b+x-1) (alpha+t_x)^-(r+x))` with
/// `A1 = lnG(r+x) - lnG(r) + r ln(alpha)` and `A2 = ln B(a, b+x) - ln B(a, b)`.
///
/// MBG/NBD, Batislam et al. (2007): dropping out is possible at time 0 too, so
///
/// ```text
/// L = B(a, b+x+1)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+T)^(r+x))
///   + B(a+1, b+x)/B(a, b) * G(r+x) alpha^r / (G(r) (alpha+t_x)^(r+x))
/// ```
///
/// with B(a+1, b+x) / B(a, b+x+1) = a / (b+x), for every x.
pub fn log_likelihood(params: &Params, model: Model, s: &Summary) -> f64 {
    log_likelihood_with(params, s, terms_of_x(params, model, s.x))
}

/// The parts of [`log_likelihood`] that depend on the parameters and x only: `A1 + A2`, and
/// the log of the drop-out weight `a / (b + x - 1)` (MBG/NBD: `b + x`; `None` for a BG/NBD
/// customer without repeat transactions).
fn terms_of_x(params: &Params, model: Model, x: f64) -> (f64, Option<f64>) {
    let Params { r, alpha, a, b } = *params;
    let a1 = ln_gamma(r + x) - ln_gamma(r) + r * alpha.ln();
    match model {
        Model::BgNbd => {
            let a2 = ln_gamma(a + b) + ln_gamma(b + x) - ln_gamma(b) - ln_gamma(a + b + x);
            (a1 + a2, (x > 0.0).then(|| a.ln() - (b + x - 1.0).ln()))
        }
        Model::MbgNbd => {
            let a2 =
                ln_gamma(a + b) + ln_gamma(b + x + 1.0) - ln_gamma(b) - ln_gamma(a + b + x + 1.0);
            (a1 + a2, Some(a.ln() - (b + x).ln()))
        }
    }
}

fn log_likelihood_with(params: &Params, s: &Summary, (common, weight): (f64, Option<f64>)) -> f64 {
    let Params { r, alpha, .. } = *params;
    let survive = -(r + s.x) * (alpha + s.t).ln();
    match weight {
        Some(w) => {
            let dropped = -(r + s.x) * (alpha + s.t_x).ln();
            common + log_add_exp(survive, w + dropped)
        }
        None => common + survive,
    }
}

/// The sum of [`log_likelihood`] over customers. The terms that depend on x alone (four
/// log-gammas) are computed once per distinct x: customers share a few dozen values of x,
/// and the fit evaluates this thousands of times (it made `lifecycle fit` over 70,000
/// customers about three times faster; the sum is the same, term by term).
pub fn total_log_likelihood(params: &Params, model: Model, customers: &[Summary]) -> f64 {
    let mut by_x: Vec<Option<(f64, Option<f64>)>> = Vec::new();
    let mut other = std::collections::HashMap::new();
    customers
        .iter()
        .map(|s| {
            let terms = match s.x {
                x if (0.0..4096.0).contains(&x) && x.fract() == 0.0 => {
                    let i = x as usize;
                    if by_x.len() <= i {
                        by_x.resize(i + 1, None);
                    }
                    *by_x[i].get_or_insert_with(|| terms_of_x(params, model, x))
                }
                x => *other
                    .entry(x.to_bits())
                    .or_insert_with(|| terms_of_x(params, model, x)),
            };
            log_likelihood_with(params, s, terms)
        })
        .sum()
}

/// ln of the odds of having dropped out, `a / (b + x - 1) * ((alpha+T)/(alpha+t_x))^(r+x)`
/// (MBG/NBD: `b + x`), or `None` for a BG/NBD customer without repeat transactions (who
/// cannot have dropped out).
fn log_dropout_odds(params: &Params, model: Model, x: f64, t_x: f64, t: f64) -> Option<f64> {
    let Params { r, alpha, a, b } = *params;
    let denominator = match model {
        Model::BgNbd if x > 0.0 => b + x - 1.0,
        Model::BgNbd => return None,
        Model::MbgNbd => b + x,
    };
    // Two logarithms, not four: the engine evaluates this for the facts of every record.
    Some((a / denominator).ln() + (r + x) * ((alpha + t) / (alpha + t_x)).ln())
}

/// The probability that a customer with history (x, t_x, T) is still alive at T: SPEC 7
/// (Fader, Hardie & Lee 2008, "Computing P(alive) using the BG/NBD model", note 021)
///
/// `P(alive) = 1 / (1 + [x > 0] a/(b+x-1) ((alpha+T)/(alpha+t_x))^(r+x))`,
///
/// and for MBG/NBD (SPEC 8) `1 / (1 + a/(b+x) ((alpha+T)/(alpha+t_x))^(r+x))` for every x.
pub fn p_alive(params: &Params, model: Model, x: f64, t_x: f64, t: f64) -> f64 {
    match log_dropout_odds(params, model, x, t_x, t) {
        None => 1.0,
        // 1 / (1 + e^z); e^z overflowing to infinity gives 0, as it should.
        Some(z) => 1.0 / (1.0 + z.exp()),
    }
}

/// The time T (in units from the first transaction) at which P(alive) falls to `p`, if no
/// transaction arrives: SPEC 8's closed form, solving `P(alive) = p` for T,
///
/// `T = (alpha + t_x) K^(1/(r+x)) - alpha` with `K = (1/p - 1) (b+x-1) / a`
///
/// (MBG/NBD: `b + x`), or `t_x` when that is later (P(alive) is below `p` from the latest
/// transaction on). `None` when it never falls below `p`: a BG/NBD customer without repeat
/// transactions (P(alive) = 1), `p <= 0` (or not a number), or a crossing too far away to
/// represent. `p >= 1` gives `t_x` (P(alive) < 1 from the start).
pub fn risk_crossing(params: &Params, model: Model, x: f64, t_x: f64, p: f64) -> Option<f64> {
    if model == Model::BgNbd && x <= 0.0 {
        return None;
    }
    if p.is_nan() || p <= 0.0 {
        return None;
    }
    if p >= 1.0 {
        return Some(t_x);
    }
    crossing_from_root(params.alpha, t_x, crossing_root(params, model, x, p)?)
}

/// K^(1 / (r + x)) of SPEC 8's crossing instant, for 0 < p < 1: it depends on x, not on the
/// times, so the engine keeps it per x ([`crate::domain::prediction::Prediction`]). `None`
/// for a BG/NBD customer without a repeat transaction.
pub fn crossing_root(params: &Params, model: Model, x: f64, p: f64) -> Option<f64> {
    let Params { r, a, b, .. } = *params;
    let denominator = match model {
        Model::BgNbd if x > 0.0 => b + x - 1.0,
        Model::BgNbd => return None,
        Model::MbgNbd => b + x,
    };
    // In logs: ln K / (r + x), so a huge K does not overflow before the root is taken.
    let ln_k = ((1.0 / p - 1.0) * denominator / a).ln();
    Some((ln_k / (r + x)).exp())
}

/// The crossing, in units after t0, from [`crossing_root`]: (alpha + t_x) * root - alpha, or
/// t_x when that is earlier; `None` when not finite.
pub fn crossing_from_root(alpha: f64, t_x: f64, root: f64) -> Option<f64> {
    let crossing = (alpha + t_x) * root - alpha;
    crossing.is_finite().then(|| crossing.max(t_x))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CDNOW: Params = Params {
        r: 0.243,
        alpha: 4.414,
        a: 0.793,
        b: 2.426,
    };

    /// The likelihood written the direct way (products of gamma functions), for histories
    /// small enough not to overflow.
    fn direct_likelihood(p: &Params, model: Model, x: f64, t_x: f64, t: f64) -> f64 {
        let g = |z: f64| libm::tgamma(z);
        let beta = |u: f64, v: f64| g(u) * g(v) / g(u + v);
        let nbd = |until: f64| {
            g(p.r + x) * p.alpha.powf(p.r) / (g(p.r) * (p.alpha + until).powf(p.r + x))
        };
        match model {
            Model::BgNbd => {
                let alive = beta(p.a, p.b + x) / beta(p.a, p.b) * nbd(t);
                let dead = if x > 0.0 {
                    beta(p.a + 1.0, p.b + x - 1.0) / beta(p.a, p.b) * nbd(t_x)
                } else {
                    0.0
                };
                alive + dead
            }
            Model::MbgNbd => {
                beta(p.a, p.b + x + 1.0) / beta(p.a, p.b) * nbd(t)
                    + beta(p.a + 1.0, p.b + x) / beta(p.a, p.b) * nbd(t_x)
            }
        }
    }

    #[test]
    fn the_log_likelihood_is_the_log_of_the_papers_products() {
        for model in [Model::BgNbd, Model::MbgNbd] {
            for (x, t_x, t) in [
                (0.0, 0.0, 38.86),
                (1.0, 1.71, 38.86),
                (2.0, 30.43, 38.86),
                (7.0, 20.0, 30.0),
            ] {
                let s = Summary { x, t_x, t };
                let got = log_likelihood(&CDNOW, model, &s);
                let want = direct_likelihood(&CDNOW, model, x, t_x, t).ln();
                assert!(
                    (got - want).abs() < 1e-10,
                    "{model:?} {s:?}: {got} vs {want}"
                );
            }
        }
    }

    #[test]
    fn the_log_likelihood_stays_finite_for_long_busy_histories() {
        let s = Summary {
            x: 5000.0,
            t_x: 9000.0,
            t: 10000.0,
        };
        for model in [Model::BgNbd, Model::MbgNbd] {
            assert!(log_likelihood(&CDNOW, model, &s).is_finite());
        }
    }

    #[test]
    fn p_alive_is_one_without_repeats_for_bg_nbd_only() {
        assert_eq!(p_alive(&CDNOW, Model::BgNbd, 0.0, 0.0, 50.0), 1.0);
        let mbg = p_alive(&CDNOW, Model::MbgNbd, 0.0, 0.0, 50.0);
        // 1 / (1 + a/b (alpha+T)^r / alpha^r)
        let want = 1.0 / (1.0 + 0.793 / 2.426 * ((4.414 + 50.0) / 4.414_f64).powf(0.243));
        assert!((mbg - want).abs() < 1e-12);
    }

    #[test]
    fn p_alive_is_the_closed_form_of_spec_7() {
        let (x, t_x, t): (f64, f64, f64) = (2.0, 30.43, 38.86);
        let want =
            1.0 / (1.0 + 0.793 / (2.426 + x - 1.0) * ((4.414 + t) / (4.414 + t_x)).powf(0.243 + x));
        assert!((p_alive(&CDNOW, Model::BgNbd, x, t_x, t) - want).abs() < 1e-12);
        // It only falls while nothing is bought, and a recent purchase means alive.
        let later = p_alive(&CDNOW, Model::BgNbd, x, t_x, t + 10.0);
        assert!(later < want);
        assert!(p_alive(&CDNOW, Model::BgNbd, 1e6, 0.0, 1e9) == 0.0);
    }

    #[test]
    fn p_alive_at_the_crossing_is_the_threshold() {
        for model in [Model::BgNbd, Model::MbgNbd] {
            for (x, t_x) in [(1.0, 3.0), (4.0, 20.0), (30.0, 35.0)] {
                for p in [0.05, 0.3, 0.5] {
                    let crossing = risk_crossing(&CDNOW, model, x, t_x, p).unwrap();
                    if crossing > t_x {
                        let at = p_alive(&CDNOW, model, x, t_x, crossing);
                        assert!((at - p).abs() < 1e-9, "{model:?} x={x} p={p}: {at}");
                        assert!(p_alive(&CDNOW, model, x, t_x, crossing * 1.001) < p);
                    } else {
                        assert!(p_alive(&CDNOW, model, x, t_x, t_x) <= p);
                    }
                }
            }
        }
    }

    #[test]
    fn a_crossing_before_the_latest_transaction_is_the_latest_transaction() {
        // P(alive) right after a purchase is 1 / (1 + a/(b+x-1)) = 0.77 for x = 1.
        let start = p_alive(&CDNOW, Model::BgNbd, 1.0, 5.0, 5.0);
        assert!(start < 0.9);
        assert_eq!(
            risk_crossing(&CDNOW, Model::BgNbd, 1.0, 5.0, 0.9),
            Some(5.0)
        );
        assert_eq!(
            risk_crossing(&CDNOW, Model::BgNbd, 1.0, 5.0, 1.0),
            Some(5.0)
        );
    }

    #[test]
    fn some_customers_never_cross() {
        assert_eq!(risk_crossing(&CDNOW, Model::BgNbd, 0.0, 0.0, 0.5), None);
        assert_eq!(risk_crossing(&CDNOW, Model::BgNbd, 3.0, 5.0, 0.0), None);
        assert_eq!(
            risk_crossing(&CDNOW, Model::BgNbd, 3.0, 5.0, f64::NAN),
            None
        );
        // A tiny threshold with r + x small is crossed beyond any representable time.
        assert_eq!(risk_crossing(&CDNOW, Model::MbgNbd, 0.0, 0.0, 1e-300), None);
        assert!(risk_crossing(&CDNOW, Model::MbgNbd, 0.0, 0.0, 0.5).is_some());
    }

    #[test]
    fn models_have_their_configuration_names() {
        for model in [Model::BgNbd, Model::MbgNbd] {
            let json = serde_json::to_string(&model).unwrap();
            assert_eq!(json, format!("\"{}\"", model.name()));
            assert_eq!(serde_json::from_str::<Model>(&json).unwrap(), model);
        }
        assert!(serde_json::from_str::<Model>("\"pareto_nbd\"").is_err());
    }
}
