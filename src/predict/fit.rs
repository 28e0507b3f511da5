//! Maximum-likelihood fit of BG/NBD or MBG/NBD to customers' (x, t_x, T) (SPEC 8,
//! `lifecycle fit`).
//!
//! The solver is argmin's L-BFGS (a More-Thuente line search, 7 correction pairs) with a
//! central finite-difference gradient (argmin's `finitediff`), over (ln r, ln alpha, ln a,
//! ln b): the parameters must be > 0, and on the log scale every point is valid and the
//! surface is far better scaled (alpha is tens of times r). The analytic gradient would need
//! digamma, which `libm` lacks; four central differences cost 8 likelihood evaluations, and
//! the fit still takes ~20 iterations. Measured on CDNOW (debug build): L-BFGS and argmin's
//! Nelder-Mead both converged from all five starting points in about the same time (1.0-1.5 s
//! for the five), L-BFGS in 19-27 iterations with the starts agreeing to ~1e-8, Nelder-Mead
//! in 99-421 iterations agreeing to ~1e-5 and stopping on the spread of the cost, which says
//! nothing about the parameters; see docs/decisions.md, "Churn prediction: the fit".
//!
//! Convergence is judged twice: the solver's own criterion (gradient norm below
//! [`SOLVER_GRADIENT_TOLERANCE`] or no more progress in the cost) and then a check that does
//! not trust the solver: every component of the finite-difference gradient of the mean
//! log-likelihood with respect to the log-parameters must be below [`GRADIENT_TOLERANCE`] at
//! the result, with every parameter inside [`PARAMETER_BOUND`]. A run that stops on its
//! iteration limit or a line-search failure, stalls on a slope or runs off to an edge of the
//! model did not converge. The best converged start is the result only if another start
//! converged to the same parameters ([`AGREEMENT`]); otherwise the fit is an error, never a
//! result.

use argmin::core::{CostFunction, Executor, Gradient, State, TerminationReason};
use argmin::solver::linesearch::MoreThuenteLineSearch;
use argmin::solver::quasinewton::LBFGS;

use super::model::{Model, Params, Summary, total_log_likelihood};

/// L-BFGS stops when the norm of the gradient of the mean negative log-likelihood (with
/// respect to the log-parameters) is below this ...
pub const SOLVER_GRADIENT_TOLERANCE: f64 = 1e-9;
/// ... or when an iteration changes the mean negative log-likelihood by less than this.
pub const SOLVER_COST_TOLERANCE: f64 = 1e-14;
/// The largest accepted component of the gradient of the mean log-likelihood with respect
/// to (ln r, ln alpha, ln a, ln b) at the result. On CDNOW the Fisher information per
/// customer is about 0.1 on the log scale, so this bounds the error of each parameter to
/// about 1e-5 of its value, far below the 3 significant digits anyone reads.
pub const GRADIENT_TOLERANCE: f64 = 1e-6;
/// Iterations allowed per starting point (CDNOW needs 16-27).
pub const MAX_ITERATIONS: u64 = 500;
/// A result with a parameter outside `[1/PARAMETER_BOUND, PARAMETER_BOUND]` is the solver
/// running off to an edge of the model, not an estimate: r and alpha growing together
/// towards the Poisson limit (no heterogeneity in purchase rates), or alpha shrinking towards
/// 0 when the likelihood has no maximum. Estimates in practice lie within 1e-3..1e3 (alpha
/// scales with the time unit: CDNOW's 4.4 weeks is 740 hours).
pub const PARAMETER_BOUND: f64 = 1e6;
/// Correction pairs kept by L-BFGS (the problem has 4 dimensions).
const LBFGS_MEMORY: usize = 7;

/// The result of a fit.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Fitted {
    pub model: Model,
    pub params: Params,
    /// The total log-likelihood at `params`.
    pub log_likelihood: f64,
    /// The number of customers fitted.
    pub customers: usize,
    /// Solver iterations of the run that gave the result.
    pub iterations: u64,
    /// How many starting points converged to these parameters (at least 2).
    pub agreeing_starts: usize,
}

/// Why there is no fit.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FitError {
    #[error(
        "no customer with a transaction: nothing to fit (is --until after the first purchases?)"
    )]
    NoCustomers,
    #[error(
        "no customer has a repeat transaction, so the purchase rate cannot be estimated: fit over a longer period"
    )]
    NoRepeats,
    #[error(
        "customer summary {index} is not a purchase history (x must be a whole number >= 0, 0 <= t_x <= T, all finite)"
    )]
    InvalidSummary { index: usize },
    #[error(
        "the fit did not converge from any of its {starts} starting points (best log-likelihood {best_log_likelihood}); the data may not suit the model (too few customers or repeat purchases?)"
    )]
    NotConverged {
        starts: usize,
        best_log_likelihood: f64,
    },
    #[error(
        "the fit converged from {converged} of its {starts} starting points, but no two of them to the same parameters: the data do not determine the model (too few customers, or customers too much alike)"
    )]
    NotIdentified { starts: usize, converged: usize },
}

/// The mean negative log-likelihood as a function of the log-parameters.
struct Objective<'a> {
    model: Model,
    customers: &'a [Summary],
}

impl Objective<'_> {
    fn mean_negative_log_likelihood(&self, log_params: &[f64]) -> f64 {
        let params = params_of(log_params);
        let value = -total_log_likelihood(&params, self.model, self.customers)
            / self.customers.len() as f64;
        // A NaN (a parameter overflowing to 0 or infinity) must read as the worst point to
        // the line search, not poison its comparisons.
        if value.is_nan() { f64::INFINITY } else { value }
    }
}

impl CostFunction for Objective<'_> {
    type Param = Vec<f64>;
    type Output = f64;

    fn cost(&self, log_params: &Vec<f64>) -> Result<f64, argmin::core::Error> {
        Ok(self.mean_negative_log_likelihood(log_params))
    }
}

impl Gradient for Objective<'_> {
    type Param = Vec<f64>;
    type Gradient = Vec<f64>;

    fn gradient(&self, log_params: &Vec<f64>) -> Result<Vec<f64>, argmin::core::Error> {
        self.finite_difference_gradient(log_params)
    }
}

impl Objective<'_> {
    /// Central differences (step: the cube root of the machine epsilon, ~6e-6).
    fn finite_difference_gradient(
        &self,
        log_params: &[f64],
    ) -> Result<Vec<f64>, argmin::core::Error> {
        let f = |p: &Vec<f64>| -> Result<f64, argmin::core::Error> {
            Ok(self.mean_negative_log_likelihood(p))
        };
        finitediff::vec::central_diff(&f)(&log_params.to_vec())
    }
}

fn params_of(log_params: &[f64]) -> Params {
    Params {
        r: log_params[0].exp(),
        alpha: log_params[1].exp(),
        a: log_params[2].exp(),
        b: log_params[3].exp(),
    }
}

/// The starting points, as parameters. The scale parameter alpha is a rate per time unit,
/// so it starts from the data (r over the mean observed purchase rate: the Gamma mean r/alpha
/// then matches it), which keeps the starts sensible whatever `unit_days` is; the others are
/// unit-free and spread over the shapes seen in practice (r and a below and above 1, b from
/// 0.5 to 8), plus the all-ones start of the reference implementations.
fn starting_points(customers: &[Summary]) -> Vec<Params> {
    let (repeats, time) = customers
        .iter()
        .fold((0.0, 0.0), |(x, t), s| (x + s.x, t + s.t));
    let rate = if time > 0.0 { repeats / time } else { 1.0 };
    let start = |r: f64, a: f64, b: f64| Params {
        r,
        alpha: r / rate,
        a,
        b,
    };
    let mut starts = vec![
        start(1.0, 1.0, 1.0),
        start(0.25, 0.5, 2.0),
        start(4.0, 2.0, 8.0),
        start(0.5, 3.0, 0.5),
    ];
    let ones = Params {
        r: 1.0,
        alpha: 1.0,
        a: 1.0,
        b: 1.0,
    };
    // With a rate of 1 per unit it is the first start already; a start run twice would
    // "agree" with itself.
    if starts[0] != ones {
        starts.push(ones);
    }
    starts
}

fn log_params_of(p: &Params) -> Vec<f64> {
    vec![p.r.ln(), p.alpha.ln(), p.a.ln(), p.b.ln()]
}

/// One run of the solver: the log-parameters found, its iterations, and whether it
/// converged by both criteria.
struct Run {
    log_params: Vec<f64>,
    mean_cost: f64,
    iterations: u64,
    converged: bool,
}

fn run(objective: &Objective<'_>, start: &Params) -> Run {
    let failed = || Run {
        log_params: log_params_of(start),
        mean_cost: f64::INFINITY,
        iterations: 0,
        converged: false,
    };
    let Ok(solver) = LBFGS::new(MoreThuenteLineSearch::new(), LBFGS_MEMORY)
        .with_tolerance_grad(SOLVER_GRADIENT_TOLERANCE)
        .and_then(|s| s.with_tolerance_cost(SOLVER_COST_TOLERANCE))
    else {
        return failed();
    };
    let problem = Objective {
        model: objective.model,
        customers: objective.customers,
    };
    // A line search that meets no acceptable step (or a non-finite cost) is an error: this
    // start failed, the others may not.
    let Ok(result) = Executor::new(problem, solver)
        .configure(|state| state.param(log_params_of(start)).max_iters(MAX_ITERATIONS))
        .run()
    else {
        return failed();
    };
    let state = result.state();
    let Some(log_params) = state.get_best_param().cloned() else {
        return failed();
    };
    let solver_converged = matches!(
        state.get_termination_reason(),
        Some(TerminationReason::SolverConverged)
    );
    let mean_cost = objective.mean_negative_log_likelihood(&log_params);
    let inside = log_params.iter().all(|p| p.abs() < PARAMETER_BOUND.ln());
    let converged = solver_converged
        && inside
        && mean_cost.is_finite()
        && gradient_is_flat(objective, &log_params);
    Run {
        log_params,
        mean_cost,
        iterations: state.get_iter(),
        converged,
    }
}

/// Whether every central-difference derivative of the mean log-likelihood with respect to
/// the log-parameters is below [`GRADIENT_TOLERANCE`].
fn gradient_is_flat(objective: &Objective<'_>, log_params: &[f64]) -> bool {
    objective
        .finite_difference_gradient(log_params)
        .is_ok_and(|g| {
            g.iter()
                .all(|d| d.is_finite() && d.abs() < GRADIENT_TOLERANCE)
        })
}

fn check(customers: &[Summary]) -> Result<(), FitError> {
    if customers.is_empty() {
        return Err(FitError::NoCustomers);
    }
    for (index, s) in customers.iter().enumerate() {
        let valid = s.x.is_finite()
            && s.x >= 0.0
            && s.x.fract() == 0.0
            && s.t_x.is_finite()
            && s.t.is_finite()
            && 0.0 <= s.t_x
            && s.t_x <= s.t;
        if !valid {
            return Err(FitError::InvalidSummary { index });
        }
    }
    if customers.iter().all(|s| s.x == 0.0) {
        return Err(FitError::NoRepeats);
    }
    Ok(())
}

/// Two runs found the same optimum when every log-parameter differs by less than this
/// (0.1%). On CDNOW the five starts agree to about 1e-6.
pub const AGREEMENT: f64 = 1e-3;

/// Fits `model` to the customers by maximum likelihood from several starting points and
/// returns the best converged one, provided another start converged to the same
/// parameters: a maximum found once could be a ridge the data do not pin down (identical
/// customers let r and alpha run off to infinity together, with a flat gradient all the way).
pub fn fit(model: Model, customers: &[Summary]) -> Result<Fitted, FitError> {
    check(customers)?;
    let starts = starting_points(customers);
    let objective = Objective { model, customers };
    // The starts are independent: one thread each (the objective only reads the customers),
    // and the results are taken in the starts' order, so the answer does not depend on which
    // finishes first.
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let threads: Vec<_> = starts
            .iter()
            .map(|start| scope.spawn(|| run(&objective, start)))
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().expect("a fit thread panicked"))
            .collect()
    });
    let converged: Vec<&Run> = runs.iter().filter(|r| r.converged).collect();
    let Some(best) = converged
        .iter()
        .min_by(|p, q| p.mean_cost.total_cmp(&q.mean_cost))
    else {
        let n = customers.len() as f64;
        return Err(FitError::NotConverged {
            starts: starts.len(),
            best_log_likelihood: runs
                .iter()
                .map(|r| -r.mean_cost * n)
                .filter(|ll| ll.is_finite())
                .fold(f64::NEG_INFINITY, f64::max),
        });
    };
    let agreeing = converged
        .iter()
        .filter(|r| {
            r.log_params
                .iter()
                .zip(&best.log_params)
                .all(|(p, q)| (p - q).abs() < AGREEMENT)
        })
        .count();
    if agreeing < 2 {
        return Err(FitError::NotIdentified {
            starts: starts.len(),
            converged: converged.len(),
        });
    }
    let params = params_of(&best.log_params);
    Ok(Fitted {
        model,
        params,
        log_likelihood: total_log_likelihood(&params, model, customers),
        customers: customers.len(),
        iterations: best.iterations,
        agreeing_starts: agreeing,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: f64, t_x: f64, t: f64) -> Summary {
        Summary { x, t_x, t }
    }

    #[test]
    fn refuses_nothing_to_fit() {
        assert_eq!(fit(Model::BgNbd, &[]), Err(FitError::NoCustomers));
        assert_eq!(
            fit(Model::BgNbd, &[s(0.0, 0.0, 5.0), s(0.0, 0.0, 9.0)]),
            Err(FitError::NoRepeats)
        );
    }

    #[test]
    fn refuses_summaries_that_are_not_histories() {
        for (bad, index) in [
            (s(1.5, 1.0, 2.0), 1),
            (s(1.0, 3.0, 2.0), 1),
            (s(-1.0, 0.0, 2.0), 1),
            (s(1.0, f64::NAN, 2.0), 1),
        ] {
            assert_eq!(
                fit(Model::BgNbd, &[s(1.0, 1.0, 2.0), bad]),
                Err(FitError::InvalidSummary { index })
            );
        }
    }

    #[test]
    fn customers_all_alike_are_an_error_not_a_result() {
        // Identical histories carry no information on heterogeneity: the likelihood rises
        // towards the Poisson limit (r and alpha to infinity together) and a, b are free
        // along a ridge. Starts stop past the parameter bound (not converged) or at
        // different points of the ridge (no two agree): an error either way.
        let customers: Vec<Summary> = (0..50).map(|_| s(1.0, 10.0, 10.0)).collect();
        match fit(Model::BgNbd, &customers) {
            Err(FitError::NotIdentified { starts, .. } | FitError::NotConverged { starts, .. }) => {
                assert_eq!(starts, 5)
            }
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn an_unbounded_likelihood_is_an_error_not_a_result() {
        // A repeat purchase at the very instant of the first (t_x = 0 < T): the dropped-out
        // term (alpha + t_x)^-(r+x) alpha^r = alpha^-x grows without bound as alpha -> 0.
        let customers: Vec<Summary> = (0..50).map(|i| s(1.0, 0.0, 10.0 + f64::from(i))).collect();
        for model in [Model::BgNbd, Model::MbgNbd] {
            match fit(model, &customers) {
                Err(FitError::NotConverged {
                    starts,
                    best_log_likelihood,
                }) => {
                    assert_eq!(starts, 5);
                    assert!(best_log_likelihood > 0.0, "{best_log_likelihood}");
                }
                other => panic!("{model:?}: expected no convergence, got {other:?}"),
            }
        }
    }

    #[test]
    fn starts_scale_with_the_time_unit_and_do_not_repeat() {
        // A mean rate of exactly 1 per unit makes the first start the all-ones one.
        let starts = starting_points(&[s(2.0, 1.0, 2.0)]);
        assert_eq!(starts.len(), 4);
        let days = starting_points(&[s(2.0, 7.0, 14.0)]);
        let weeks = starting_points(&[s(2.0, 1.0, 2.0)]);
        assert!((days[1].alpha - 7.0 * weeks[1].alpha).abs() < 1e-9);
    }
}
