//! The fit recovers the parameters of the process that generated the data: `generate` with
//! BG/NBD (or MBG/NBD) buyers, the stream decoded as replay decodes it, each customer's
//! (x, t_x, T) from SPEC 8's tally, then `fit`.
//!
//! The tolerance is the estimate's own standard error at this sample size: the square root of
//! the diagonal of the inverse observed information (the Hessian of the negative
//! log-likelihood, by finite differences) on the log scale. Each log-parameter must lie within
//! 4 standard errors of the truth (a two-sided chance of 6e-5 per parameter were the
//! estimator exactly normal and unbiased; the seeds are fixed, so the test is deterministic),
//! and each standard error must be below 0.3 (the parameters known to within ~30%), so that
//! a loose fit cannot pass by being uninformative. The generator merges purchases on one UTC
//! day into one transaction, a small bias at these rates (a fraction lambda/14 of gaps for
//! lambda per week), well inside the tolerance.

use std::collections::HashMap;

use lifecycle::domain::{Payload, Timestamp, decode};
use lifecycle::generate::{BuyerProcess, GenerateOptions, generate};
use lifecycle::predict::model::total_log_likelihood;
use lifecycle::predict::{Model, Params, Summary, Tally, fit};

const CUSTOMERS: u64 = 5000;
const FROM: &str = "2023-01-01";
const TO: &str = "2024-12-31";

/// The customers' summaries (weeks) at the end of the generated range.
fn summaries(process: BuyerProcess, seed: u64) -> Vec<Summary> {
    let now = Timestamp::parse_rfc3339("2026-01-01T00:00:00Z").unwrap();
    let opts = GenerateOptions::new(CUSTOMERS, seed, FROM, TO, now)
        .unwrap()
        .with_bgnbd(process)
        .unwrap();
    let mut out = Vec::new();
    generate(&opts, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    let mut tallies: HashMap<String, Tally> = HashMap::new();
    for line in text.lines() {
        let event = decode(line.as_bytes(), now).expect("a valid event");
        if let Some(Payload::Purchase { amount, .. }) = event.payload
            && amount > 0.0
        {
            tallies
                .entry(event.customer_id.to_string())
                .or_default()
                .observe(event.occurred_at);
        }
    }
    let until = Timestamp::from_nanos(opts.to * 1_000_000_000);
    let mut out: Vec<Summary> = tallies
        .values()
        .filter_map(|t| t.summary(until, process.unit_days))
        .collect();
    // HashMap order is random; the fit should not depend on it, but the test stays exact.
    out.sort_by(|p, q| (p.x, p.t_x, p.t).partial_cmp(&(q.x, q.t_x, q.t)).unwrap());
    out
}

fn log_params(p: &Params) -> Vec<f64> {
    vec![p.r.ln(), p.alpha.ln(), p.a.ln(), p.b.ln()]
}

/// Standard errors of (ln r, ln alpha, ln a, ln b) at `at`: the inverse of the observed
/// information, by Gauss-Jordan elimination.
fn standard_errors(model: Model, customers: &[Summary], at: &Params) -> [f64; 4] {
    let f = |v: &Vec<f64>| -> Result<f64, anyhow::Error> {
        let p = Params {
            r: v[0].exp(),
            alpha: v[1].exp(),
            a: v[2].exp(),
            b: v[3].exp(),
        };
        Ok(-total_log_likelihood(&p, model, customers))
    };
    let gradient = |v: &Vec<f64>| finitediff::vec::central_diff(&f)(v);
    let h = finitediff::vec::central_hessian(&gradient)(&log_params(at)).unwrap();
    let mut m: Vec<Vec<f64>> = (0..4)
        .map(|i| {
            let mut row = h[i].clone();
            row.extend((0..4).map(|j| if i == j { 1.0 } else { 0.0 }));
            row
        })
        .collect();
    for col in 0..4 {
        let pivot = (col..4)
            .max_by(|&i, &j| m[i][col].abs().total_cmp(&m[j][col].abs()))
            .unwrap();
        m.swap(col, pivot);
        let d = m[col][col];
        assert!(d.abs() > 1e-12, "singular information matrix");
        for v in m[col].iter_mut() {
            *v /= d;
        }
        for row in 0..4 {
            if row != col {
                let factor = m[row][col];
                let pivot_row = m[col].clone();
                for (v, p) in m[row].iter_mut().zip(pivot_row) {
                    *v -= factor * p;
                }
            }
        }
    }
    std::array::from_fn(|i| {
        let variance = m[i][4 + i];
        assert!(
            variance > 0.0,
            "the information matrix is not positive definite"
        );
        variance.sqrt()
    })
}

fn assert_recovers(model: Model, truth: Params, seed: u64) {
    let process = BuyerProcess {
        model,
        params: truth,
        unit_days: 7.0,
    };
    let customers = summaries(process, seed);
    assert_eq!(customers.len() as u64, CUSTOMERS);
    let fitted = fit(model, &customers).expect("the fit converges");
    let se = standard_errors(model, &customers, &fitted.params);
    let names = ["r", "alpha", "a", "b"];
    let estimated = log_params(&fitted.params);
    for (i, name) in names.iter().enumerate() {
        let truth = log_params(&truth)[i];
        let error = estimated[i] - truth;
        assert!(
            se[i] < 0.3,
            "{model:?} {name}: standard error {} too large for a test",
            se[i]
        );
        assert!(
            error.abs() < 4.0 * se[i],
            "{model:?} {name}: estimated {} vs true {} ({:.1} standard errors)",
            estimated[i].exp(),
            truth.exp(),
            error / se[i]
        );
    }
}

/// Buyers about once a month on average, most staying for a few purchases.
const MONTHLY: Params = Params {
    r: 0.8,
    alpha: 3.5,
    a: 0.9,
    b: 3.0,
};

/// The CDNOW estimates: rare buyers (a purchase every 18 weeks on average).
const CDNOW: Params = Params {
    r: 0.243,
    alpha: 4.414,
    a: 0.793,
    b: 2.426,
};

#[test]
fn the_fit_recovers_bg_nbd_parameters_it_generated() {
    assert_recovers(Model::BgNbd, MONTHLY, 1);
    assert_recovers(Model::BgNbd, CDNOW, 2);
}

#[test]
fn the_fit_recovers_mbg_nbd_parameters_it_generated() {
    assert_recovers(Model::MbgNbd, MONTHLY, 3);
    assert_recovers(Model::MbgNbd, CDNOW, 4);
}
