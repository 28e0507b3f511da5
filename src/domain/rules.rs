//! The rule parameters of SPEC section 2, as the engine reads them. Their defaults live in
//! `config/default.toml` and nowhere else; `crate::config` builds this from it.

use super::event::EventSet;
use super::time::Span;

#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    pub mature_min_purchases: u32,
    pub mature_min_tenure_days: u32,
    pub inactivity_days: u32,
    pub churned_after_days: u32,
    pub allowed_lateness: Span,
    pub activity_events: EventSet,
    /// A `purchase` in this set converts only when its amount is above zero.
    pub conversion_events: EventSet,
    pub churn_signal_events: EventSet,
    pub cooldown_days: u32,
    /// Purchase counts that trigger `surprise_delight`, ascending, without repeats.
    pub delight_milestones: Vec<u32>,
    /// Frequency cap: at most this many actions (`service_recovery` aside) within any
    /// `per_days` days of action time; 0 disables it.
    pub max_sent: u32,
    pub per_days: u32,
    /// Backfill: an action dated before this is planned and counted but not sent.
    pub send_from: Option<super::time::Timestamp>,
    /// Churn prediction (SPEC 8), when `[prediction]` is on.
    pub prediction: Option<super::prediction::Prediction>,
    /// A purchase of amount 0 counts as a transaction of the prediction's tally
    /// (`prediction.count_zero_amount`; SPEC 8 counts amounts above 0 only). The tally is kept
    /// whether or not prediction is on, so this holds either way (`lifecycle fit` too).
    pub zero_amount_transactions: bool,
    /// Holdout groups and uplift (SPEC 10), when `[holdout]` is on.
    pub holdout: Option<super::holdout::Holdout>,
}

impl Rules {
    pub fn mature_min_tenure(&self) -> Span {
        Span::from_days(self.mature_min_tenure_days)
    }
    pub fn inactivity(&self) -> Span {
        Span::from_days(self.inactivity_days)
    }
    pub fn churned_after(&self) -> Span {
        Span::from_days(self.churned_after_days)
    }
    pub fn cooldown(&self) -> Span {
        Span::from_days(self.cooldown_days)
    }
    pub fn cap_window(&self) -> Span {
        Span::from_days(self.per_days)
    }
}
