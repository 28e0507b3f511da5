//! Holdout groups and uplift (SPEC 10, "Monitor"): which customers are in the control group
//! of an action kind, and the counts that say whether sending that kind changes anything.
//!
//! A customer is in the control group of kind K when the first 8 bytes of SHA-256 of
//! `salt` + "\n" + customer id + "\n" + K, read as a big-endian u64, modulo 10000 are below
//! `percent` * 100: the same customers on every run, in replay and in the service, on any
//! instance, with nothing stored. A control-group action is planned as usual but recorded
//! with `"held_out": true` instead of being sent (`planner::emit`).
//!
//! The conversion windows and the uplift counts are in `uplift.rs`.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::action::ActionKind;
pub use super::action::{Group, KindSet};
use super::time::Span;

/// The `[holdout]` table.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct HoldoutConfig {
    /// The control group's share of each kind's customers, in (0, 50] with at most two
    /// decimals; 0 turns holdouts off.
    pub percent: f64,
    /// The action kinds with a control group.
    pub kinds: Vec<String>,
    /// Mixed into the bucketing: a new salt draws new groups.
    pub salt: String,
    /// How long after an action a conversion counts for it, in days.
    pub window_days: u32,
}

/// The longest conversion window (ten years, like the other day counts).
const MAX_WINDOW_DAYS: u32 = 3650;

impl HoldoutConfig {
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let p = self.percent;
        let hundredths = p * 100.0;
        if !(p == 0.0 || (p > 0.0 && p <= 50.0)) {
            problems.push(format!(
                "holdout.percent: must be 0 (off) or in (0, 50], it is {p}"
            ));
        } else if (hundredths - hundredths.round()).abs() > 1e-6 {
            problems.push(format!(
                "holdout.percent: at most two decimals (the buckets are hundredths of a percent), it is {p}"
            ));
        }
        for name in &self.kinds {
            if kind_named(name).is_none() {
                problems.push(format!("holdout.kinds: `{name}` is not an action kind"));
            }
        }
        if !(1..=MAX_WINDOW_DAYS).contains(&self.window_days) {
            problems.push(format!(
                "holdout.window_days: must be 1..={MAX_WINDOW_DAYS}, it is {}",
                self.window_days
            ));
        }
        problems
    }

    /// The engine's holdout, `None` when off (`percent` 0). The config is valid.
    pub fn holdout(&self) -> Option<Holdout> {
        let basis_points = (self.percent * 100.0).round() as u32;
        (basis_points > 0).then(|| Holdout {
            basis_points,
            kinds: self
                .kinds
                .iter()
                .filter_map(|n| kind_named(n))
                .fold(KindSet::EMPTY, KindSet::with),
            salt: self.salt.as_str().into(),
            window_days: self.window_days,
        })
    }
}

fn kind_named(name: &str) -> Option<ActionKind> {
    ActionKind::ALL.into_iter().find(|k| k.as_str() == name)
}

/// Holdouts as the engine applies them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holdout {
    /// The control share in hundredths of a percent: a bucket below it is control.
    pub basis_points: u32,
    pub kinds: KindSet,
    pub salt: Box<str>,
    pub window_days: u32,
}

impl Holdout {
    /// The group of `customer_id` for `kind`; `None` when `kind` has no control group.
    pub fn group(&self, customer_id: &str, kind: ActionKind) -> Option<Group> {
        if !self.kinds.contains(kind) {
            return None;
        }
        Some(
            match bucket(&self.salt, customer_id, kind) < u64::from(self.basis_points) {
                true => Group::Control,
                false => Group::Treated,
            },
        )
    }

    pub fn window(&self) -> Span {
        Span::from_days(self.window_days)
    }
}

/// SPEC 10's bucket, 0..10000: SHA-256 of salt, id and kind, one line each, its first 8
/// bytes big-endian, modulo 10000.
pub fn bucket(salt: &str, customer_id: &str, kind: ActionKind) -> u64 {
    let mut hash = Sha256::new();
    hash.update(salt.as_bytes());
    hash.update(b"\n");
    hash.update(customer_id.as_bytes());
    hash.update(b"\n");
    hash.update(kind.as_str().as_bytes());
    let digest = hash.finalize();
    let first: [u8; 8] = digest[..8].try_into().expect("SHA-256 has 32 bytes");
    u64::from_be_bytes(first) % 10_000
}

#[cfg(test)]
#[path = "holdout_tests.rs"]
mod tests;
