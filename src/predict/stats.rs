//! The online per-customer tally of SPEC 8, from which (x, t_x, T) follow at any evaluation
//! time: the first transaction's instant, the latest's, and the number of UTC calendar days
//! counted so far.
//!
//! A transaction (a purchase with amount > 0; the caller decides) counts unless it falls on
//! the UTC day of the first transaction or of the latest transaction so far. For a stream in
//! time order that is exactly "distinct UTC days with a transaction", so x = days - 1: the
//! papers' convention of counting a customer's purchases of one day as one transaction (the
//! CDNOW data are aggregated by day). For a late transaction it is an approximation: one on
//! an earlier day that already had a transaction, other than the first's or the latest's, is
//! counted again (remembering every day would make the tally grow with the history). One
//! before the first transaction moves t0 back and counts (the former first one becomes a
//! repeat), unless it is on t0's day.

use crate::domain::Timestamp;

use super::model::{Model, Params, Summary, risk_crossing};

const NANOS_PER_DAY: i64 = 86_400 * 1_000_000_000;

/// 24 bytes: two instants and a day count. `days == 0` means no transaction yet (the
/// instants are then meaningless).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Tally {
    first: Timestamp,
    latest: Timestamp,
    /// Days counted, the first transaction's included: x + 1.
    days: u32,
}

impl Default for Tally {
    fn default() -> Tally {
        Tally::EMPTY
    }
}

fn utc_day(t: Timestamp) -> i64 {
    t.as_nanos().div_euclid(NANOS_PER_DAY)
}

impl Tally {
    /// No transaction yet.
    pub const EMPTY: Tally = Tally {
        first: Timestamp::MIN,
        latest: Timestamp::MIN,
        days: 0,
    };

    /// Records a transaction at `at` (in any order).
    pub fn observe(&mut self, at: Timestamp) {
        if self.days == 0 {
            *self = Tally {
                first: at,
                latest: at,
                days: 1,
            };
            return;
        }
        let day = utc_day(at);
        if day != utc_day(self.first) && day != utc_day(self.latest) {
            self.days = self.days.saturating_add(1);
        }
        self.first = self.first.min(at);
        self.latest = self.latest.max(at);
    }

    /// (first, latest, days counted) for the changelog's bytes; `None` without a transaction.
    pub fn parts(&self) -> Option<(Timestamp, Timestamp, u32)> {
        self.has_transaction()
            .then_some((self.first, self.latest, self.days))
    }

    /// The tally of [`parts`](Self::parts); `None` for parts no tally has (no day counted,
    /// or the latest before the first).
    pub fn from_parts(first: Timestamp, latest: Timestamp, days: u32) -> Option<Tally> {
        (days > 0 && first <= latest).then_some(Tally {
            first,
            latest,
            days,
        })
    }

    /// Whether a transaction was observed.
    pub fn has_transaction(&self) -> bool {
        self.days > 0
    }

    /// The number of repeat transactions, x.
    pub fn repeats(&self) -> u32 {
        self.days.saturating_sub(1)
    }

    /// The first transaction's instant (t0), if any.
    pub fn first(&self) -> Option<Timestamp> {
        self.has_transaction().then_some(self.first)
    }

    /// The latest transaction's instant, if any.
    pub fn latest(&self) -> Option<Timestamp> {
        self.has_transaction().then_some(self.latest)
    }

    /// (x, t_x, T) at `at`, times in units of `unit_days` days (fractional, from instants),
    /// or `None` without a transaction. `t_x = (latest - t0) / unit`, `T = (at - t0) / unit`;
    /// an evaluation before the latest transaction (possible with late events) is taken at
    /// the latest transaction, so that `T >= t_x` as the models require.
    pub fn summary(&self, at: Timestamp, unit_days: f64) -> Option<Summary> {
        if !self.has_transaction() {
            return None;
        }
        let unit_nanos = unit_days * NANOS_PER_DAY as f64;
        // i128: the difference of two i64 instants may not fit an i64.
        let since_first = |t: Timestamp| {
            (i128::from(t.as_nanos()) - i128::from(self.first.as_nanos())) as f64 / unit_nanos
        };
        let t_x = since_first(self.latest);
        Some(Summary {
            x: f64::from(self.repeats()),
            t_x,
            t: since_first(at).max(t_x),
        })
    }
}

impl Tally {
    /// The instant P(alive) falls below `p` if no transaction arrives (SPEC 8's `churn_risk`
    /// deadline): t0 + unit * [`risk_crossing`], the latest transaction's instant when that
    /// is later. `None` without a transaction, when it never falls below `p`, or beyond the
    /// representable range. (SPEC 8 arms the timer only for x > 0; that is the caller's rule.)
    pub fn risk_deadline(
        &self,
        params: &Params,
        model: Model,
        p: f64,
        unit_days: f64,
    ) -> Option<Timestamp> {
        let s = self.summary(self.latest, unit_days)?;
        let crossing = risk_crossing(params, model, s.x, s.t_x, p)?;
        self.deadline_at(crossing, s.t_x, unit_days)
    }

    /// The instant `crossing` units after t0 (a [`risk_crossing`] at this tally's `t_x`),
    /// rounded up to the nanosecond; the latest transaction's instant when the crossing is
    /// not after it; `None` beyond the representable range.
    pub fn deadline_at(&self, crossing: f64, t_x: f64, unit_days: f64) -> Option<Timestamp> {
        let nanos = crossing * unit_days * NANOS_PER_DAY as f64;
        if crossing <= t_x {
            return Some(self.latest);
        }
        // Rounded up, so that P(alive) at the deadline is below `p`; `as` saturates, and a
        // deadline past the range is no deadline.
        let offset = nanos.ceil() as i64;
        let at = self.first.as_nanos().checked_add(offset)?;
        (offset < i64::MAX).then_some(Timestamp::from_nanos(at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    fn tally(times: &[&str]) -> Tally {
        let mut t = Tally::EMPTY;
        for s in times {
            t.observe(at(s));
        }
        t
    }

    #[test]
    fn is_small_enough_to_embed_per_customer() {
        assert!(std::mem::size_of::<Tally>() <= 24);
    }

    #[test]
    fn without_a_transaction_there_is_no_summary() {
        assert_eq!(Tally::EMPTY.summary(at("2026-01-01T00:00:00Z"), 7.0), None);
        assert_eq!(Tally::default().first(), None);
    }

    #[test]
    fn counts_each_utc_day_once_in_order() {
        let t = tally(&[
            "2026-01-01T09:00:00Z",
            "2026-01-01T23:59:59Z",      // the first's day
            "2026-01-02T00:00:00Z",      // a new day
            "2026-01-02T12:00:00Z",      // the latest's day
            "2026-01-15T10:00:00+02:00", // 08:00 UTC: a new day
        ]);
        assert_eq!(t.repeats(), 2);
        let s = t.summary(at("2026-01-29T09:00:00Z"), 7.0).unwrap();
        assert_eq!(s.x, 2.0);
        assert!((s.t_x - (14.0 - 1.0 / 24.0) / 7.0).abs() < 1e-12, "{s:?}");
        assert!((s.t - 4.0).abs() < 1e-12);
    }

    #[test]
    fn the_utc_day_decides_not_the_local_one() {
        // 23:30 at -02:00 is the next UTC day.
        let t = tally(&["2026-01-01T10:00:00Z", "2026-01-01T23:30:00-02:00"]);
        assert_eq!(t.repeats(), 1);
    }

    #[test]
    fn a_late_transaction_before_the_first_moves_t0_and_counts() {
        let t = tally(&["2026-01-10T10:00:00Z", "2026-01-03T10:00:00Z"]);
        assert_eq!(t.repeats(), 1);
        assert_eq!(t.first(), Some(at("2026-01-03T10:00:00Z")));
        assert_eq!(t.latest(), Some(at("2026-01-10T10:00:00Z")));
        let s = t.summary(at("2026-01-17T10:00:00Z"), 7.0).unwrap();
        assert!((s.t_x - 1.0).abs() < 1e-12 && (s.t - 2.0).abs() < 1e-12);
    }

    #[test]
    fn a_late_transaction_on_an_older_counted_day_counts_again() {
        // As SPEC 8 says (documented): only the first's and the latest's days are remembered.
        let t = tally(&[
            "2026-01-01T10:00:00Z",
            "2026-01-05T10:00:00Z",
            "2026-01-09T10:00:00Z",
            "2026-01-05T18:00:00Z",
        ]);
        assert_eq!(t.repeats(), 3);
        let in_order = tally(&[
            "2026-01-01T10:00:00Z",
            "2026-01-05T10:00:00Z",
            "2026-01-05T18:00:00Z",
            "2026-01-09T10:00:00Z",
        ]);
        assert_eq!(in_order.repeats(), 2);
    }

    #[test]
    fn an_evaluation_before_the_latest_transaction_is_taken_at_it() {
        let t = tally(&["2026-01-01T00:00:00Z", "2026-01-15T00:00:00Z"]);
        let s = t.summary(at("2026-01-08T00:00:00Z"), 7.0).unwrap();
        assert_eq!((s.t_x, s.t), (2.0, 2.0));
    }

    #[test]
    fn the_risk_deadline_is_where_p_alive_meets_the_threshold() {
        let params = Params {
            r: 0.243,
            alpha: 4.414,
            a: 0.793,
            b: 2.426,
        };
        let t = tally(&[
            "2026-01-01T10:00:00Z",
            "2026-01-20T10:00:00Z",
            "2026-02-11T10:00:00Z",
        ]);
        let deadline = t.risk_deadline(&params, Model::BgNbd, 0.3, 7.0).unwrap();
        assert!(deadline > t.latest().unwrap());
        let s = t.summary(deadline, 7.0).unwrap();
        let at = crate::predict::p_alive(&params, Model::BgNbd, s.x, s.t_x, s.t);
        assert!((at - 0.3).abs() < 1e-6, "{at}");
        // Already below: the latest transaction's instant. Never below 0: none.
        assert_eq!(
            t.risk_deadline(&params, Model::BgNbd, 0.99, 7.0),
            t.latest()
        );
        assert_eq!(t.risk_deadline(&params, Model::BgNbd, 0.0, 7.0), None);
        assert_eq!(
            Tally::EMPTY.risk_deadline(&params, Model::BgNbd, 0.3, 7.0),
            None
        );
        let once = tally(&["2026-01-01T10:00:00Z"]);
        assert_eq!(once.risk_deadline(&params, Model::BgNbd, 0.3, 7.0), None);
    }

    #[test]
    fn the_unit_scales_the_times() {
        let t = tally(&["2026-01-01T00:00:00Z", "2026-01-15T00:00:00Z"]);
        let s = t.summary(at("2026-01-31T00:00:00Z"), 1.0).unwrap();
        assert_eq!((s.x, s.t_x, s.t), (1.0, 14.0, 30.0));
    }
}
