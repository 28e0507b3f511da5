//! Churn prediction (SPEC 7 and 8): the BG/NBD and MBG/NBD models, their maximum-likelihood
//! fit, the per-customer tally that feeds them, and the `[prediction]` configuration.
//!
//! Pure like [`crate::domain`]: no I/O, no clock, no logging.
//!
//! - [`model`]: [`Model`], [`Params`], the per-customer log-likelihood, [`p_alive`] and the
//!   instant P(alive) falls below a threshold ([`risk_crossing`]).
//! - [`fit`](mod@fit): [`fit()`] by L-BFGS over the log-parameters, from several starts.
//! - [`stats`]: [`Tally`], the online per-customer (t0, latest, x) and its (x, t_x, T).
//! - [`simulate`]: [`simulate::Buyer`], a customer drawn from a model (for `generate`).
//! - [`config`]: [`PredictionConfig`], the `[prediction]` table and its checks.

pub mod config;
pub mod fit;
pub mod model;
pub mod simulate;
pub mod stats;

pub use config::PredictionConfig;
pub use fit::{FitError, Fitted, fit};
pub use model::{Model, Params, Summary, log_likelihood, p_alive, risk_crossing};
pub use stats::Tally;
