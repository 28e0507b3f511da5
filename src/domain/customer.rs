//! One customer's state: the stage and why it was entered, the counters the rules read, the
//! recent event ids for de-duplication and the cooldown clock of each action kind.
//! Serializable, because it is also the changelog record and the replay snapshot.

use std::fmt;

use compact_str::CompactString;
use serde::{Deserialize, Serialize};

use super::action::KindSet;
pub use super::action::TimerKind;
use super::action::{ActionKind, Reason};
use super::event::{EventType, NeedLevel};
use super::rules::Rules;
use super::time::Timestamp;
use crate::predict::Tally;

/// The lifecycle stages, in their natural order.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Stage {
    Prospect,
    New,
    Mature,
    Churning,
    Churned,
}

impl Stage {
    pub const ALL: [Stage; 5] = [
        Stage::Prospect,
        Stage::New,
        Stage::Mature,
        Stage::Churning,
        Stage::Churned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Prospect => "prospect",
            Stage::New => "new",
            Stage::Mature => "mature",
            Stage::Churning => "churning",
            Stage::Churned => "churned",
        }
    }
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A timer derived from state: it fires when the clock reaches `fires_at`, and its
/// transition is stamped `stamp` (`fires_at` minus the allowed lateness).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timer {
    pub kind: TimerKind,
    pub stamp: Timestamp,
    pub fires_at: Timestamp,
}

/// Why the customer entered its current stage (issue 21): the transition's reason and the
/// numbers its rule decided on, in the least room that gives back its
/// [`Why`](super::explain::Why) (`Why::of_entered`): 20 bytes, where a `Why` takes 24 and its
/// `Reason` 2 more. What the state knows anyway is not repeated: whether a reactivation
/// reached `mature` is the stage, and the last activity of `inactivity` (the `churning` since
/// of `no_reactivation`) is `stage_entered_at` less the days, since the timer's stamp is
/// both. Stored in the changelog with explicit codes (`customer_bytes.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Entered {
    FirstSeen(EventType),
    FirstConversion(EventType),
    /// A conversion while `from` (`churning` or `churned`).
    Reactivated {
        event_type: EventType,
        from: Stage,
    },
    /// The mature rule held: `purchases` >= `min_purchases` and `days` since the first
    /// conversion >= `min_days` (never negative: the rule held).
    MatureCriteria {
        purchases: u32,
        min_purchases: u32,
        days: u32,
        min_days: u32,
    },
    ChurnSignal(EventType),
    /// The inactivity timer, with `inactivity_days` as it was.
    Inactivity {
        days: u32,
    },
    /// The no-reactivation timer, with `churned_after_days` as it was.
    NoReactivation {
        days: u32,
    },
}

impl Entered {
    /// The transition's reason (as its transition record has it).
    pub fn reason(self) -> Reason {
        match self {
            Entered::FirstSeen(_) => Reason::FirstSeen,
            Entered::FirstConversion(_) => Reason::FirstConversion,
            Entered::Reactivated { .. } => Reason::Reactivated,
            Entered::MatureCriteria { .. } => Reason::MatureCriteria,
            Entered::ChurnSignal(t) => Reason::ChurnSignal(t),
            Entered::Inactivity { .. } => Reason::Inactivity,
            Entered::NoReactivation { .. } => Reason::NoReactivation,
        }
    }

    /// The timer that made this transition, if a timer did (its stamp is the stage's
    /// `stage_entered_at`).
    pub fn timer(self) -> Option<TimerKind> {
        match self {
            Entered::Inactivity { .. } => Some(TimerKind::Inactivity),
            Entered::NoReactivation { .. } => Some(TimerKind::NoReactivation),
            Entered::FirstSeen(_)
            | Entered::FirstConversion(_)
            | Entered::Reactivated { .. }
            | Entered::MatureCriteria { .. }
            | Entered::ChurnSignal(_) => None,
        }
    }

    /// Whether a transition of this kind can have entered `stage` (SPEC 2).
    pub fn can_enter(self, stage: Stage) -> bool {
        match self {
            Entered::FirstSeen(_) => stage == Stage::Prospect,
            Entered::FirstConversion(_) => stage == Stage::New,
            Entered::Reactivated { from, .. } => {
                matches!(from, Stage::Churning | Stage::Churned)
                    && matches!(stage, Stage::New | Stage::Mature)
            }
            Entered::MatureCriteria { .. } => stage == Stage::Mature,
            Entered::ChurnSignal(_) | Entered::Inactivity { .. } => stage == Stage::Churning,
            Entered::NoReactivation { .. } => stage == Stage::Churned,
        }
    }
}

/// How many event ids a customer remembers for de-duplication.
pub const RECENT_IDS: usize = 16;

/// The last [`RECENT_IDS`] event-id hashes, a ring.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecentIds {
    ids: Vec<u64>,
    next: u8,
}

impl RecentIds {
    pub fn contains(&self, hash: u64) -> bool {
        self.ids.contains(&hash)
    }
    pub(super) fn as_slice(&self) -> &[u64] {
        &self.ids
    }
    /// The hashes and the ring position, for [`Customer::write_bytes`].
    pub(super) fn parts(&self) -> (&[u64], u8) {
        (&self.ids, self.next)
    }
    pub(super) fn from_parts(ids: Vec<u64>, next: u8) -> RecentIds {
        RecentIds { ids, next }
    }
    pub fn push(&mut self, hash: u64) {
        if self.ids.len() < RECENT_IDS {
            self.ids.push(hash);
        } else {
            self.ids[usize::from(self.next)] = hash;
            self.next = ((usize::from(self.next) + 1) % RECENT_IDS) as u8;
        }
    }
}

/// The stable 64-bit hash of an event id (persisted in state: never change it).
pub fn event_id_hash(event_id: &str) -> u64 {
    xxhash_rust::xxh3::xxh3_64(event_id.as_bytes())
}

/// When each action kind was last sent, for cooldowns. A boxed slice, exactly as long as the
/// kinds sent (most customers are sent one to three): two words, not a `Vec`'s three, and no
/// spare capacity; a new kind reallocates it, which is rare.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastSent(Box<[(ActionKind, Timestamp)]>);

impl LastSent {
    pub fn get(&self, kind: ActionKind) -> Option<Timestamp> {
        self.0.iter().find(|(k, _)| *k == kind).map(|(_, t)| *t)
    }
    /// Entries of distinct kinds, for [`Customer::read_bytes`].
    pub(super) fn from_entries(entries: Vec<(ActionKind, Timestamp)>) -> LastSent {
        LastSent(entries.into_boxed_slice())
    }
    pub fn entries(&self) -> &[(ActionKind, Timestamp)] {
        &self.0
    }
    pub fn set(&mut self, kind: ActionKind, at: Timestamp) {
        match self.0.iter_mut().find(|(k, _)| *k == kind) {
            Some(slot) => slot.1 = at,
            None => {
                // Exactly as long as needed: growing a `Vec` by one doubles its capacity,
                // and shrinking that to the length afterwards is done in place by mimalloc
                // (a block at most half wasted is kept), so `push` then `into_boxed_slice`
                // held 64 bytes for two entries of 16 (measured: scripts/measure-memory.sh).
                let mut entries = Vec::with_capacity(self.0.len() + 1);
                entries.extend_from_slice(&self.0);
                entries.push((kind, at));
                self.0 = entries.into_boxed_slice();
            }
        }
    }
}

/// The times of the latest actions the frequency cap counts (sent or backfilled, not
/// `service_recovery`), oldest first: at most `2 * actions.max_sent + 1`, and once an earlier
/// one has been forgotten, one more in front, the latest forgotten time. Boxed, so a customer
/// without any (the cap off, the default) pays one word.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapTimes(Option<Box<[Timestamp]>>);

impl CapTimes {
    pub fn times(&self) -> &[Timestamp] {
        self.0.as_deref().unwrap_or(&[])
    }

    pub(super) fn from_times(times: Vec<Timestamp>) -> CapTimes {
        CapTimes((!times.is_empty()).then(|| times.into_boxed_slice()))
    }

    /// How many times are kept for a cap of `max`: enough that an action up to about one
    /// window earlier than the latest is still decided exactly.
    fn kept(max: usize) -> usize {
        2 * max + 1
    }

    /// The latest forgotten time, if any was forgotten, and the times kept.
    fn parts(&self, max: usize) -> (Option<Timestamp>, &[Timestamp]) {
        let times = self.times();
        match times.len().checked_sub(Self::kept(max) + 1) {
            Some(before) => (Some(times[before]), &times[before + 1..]),
            None => (None, times),
        }
    }

    /// Whether one more counted action at `at` leaves every span of `window` of action time
    /// with at most `max` counted actions (SPEC 3), whatever order they come in. A span
    /// holding more than `max` with `at` among them holds `max + 1` consecutive times with
    /// `at` among them less than `window` apart: only those runs are looked at. A span around
    /// `at` that reaches a forgotten time cannot be shown to hold: a late action that far
    /// back is refused. Exact while nothing was forgotten.
    pub fn allows(&self, at: Timestamp, window: super::time::Span, max: usize) -> bool {
        let (forgotten, times) = self.parts(max);
        if forgotten.is_some_and(|f| at < f.plus(window)) {
            return false;
        }
        let n = times.len() + 1;
        if n <= max {
            return true;
        }
        // The times with `at` in its place (after any equal to it).
        let place = times.partition_point(|t| *t <= at);
        let merged = |i: usize| match i.cmp(&place) {
            std::cmp::Ordering::Less => times[i],
            std::cmp::Ordering::Equal => at,
            std::cmp::Ordering::Greater => times[i - 1],
        };
        let runs = place.saturating_sub(max)..=place.min(n - 1 - max);
        !runs
            .into_iter()
            .any(|first| merged(first).plus(window) > merged(first + max))
    }

    /// Counts an action at `at`, keeping the latest `2 * max + 1` and the latest forgotten.
    pub fn record(&mut self, at: Timestamp, max: usize) {
        let (forgotten, old) = self.parts(max);
        let place = old.partition_point(|t| *t <= at);
        // The times with `at` in its place.
        let merged = |i: usize| match i.cmp(&place) {
            std::cmp::Ordering::Less => old[i],
            std::cmp::Ordering::Equal => at,
            std::cmp::Ordering::Greater => old[i - 1],
        };
        let n = old.len() + 1;
        let excess = n.saturating_sub(Self::kept(max));
        let forgotten = match excess {
            0 => forgotten,
            e => Some(forgotten.map_or(merged(e - 1), |f| f.max(merged(e - 1)))),
        };
        // Allocated at its final length, as in `LastSent::set` (a box shrunk in place keeps
        // its larger block: ~15 bytes a customer with the cap on).
        let mut times = Vec::with_capacity(usize::from(forgotten.is_some()) + n - excess);
        times.extend(forgotten);
        times.extend((excess..n).map(merged));
        self.0 = Some(times.into_boxed_slice());
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Customer {
    /// Inline up to 24 bytes: no second allocation, and the id compare in the index lookup
    /// reads the cache line the customer's update needs anyway.
    pub id: CompactString,
    pub stage: Stage,
    /// The `seq` of the last transition.
    pub seq: u32,
    pub stage_entered_at: Timestamp,
    pub first_seen: Timestamp,
    pub first_conversion_at: Option<Timestamp>,
    pub last_activity_at: Option<Timestamp>,
    pub purchase_count: u32,
    pub total_spend: f64,
    pub refund_total: f64,
    pub complaint_count: u32,
    pub last_nps: Option<u8>,
    pub contactable: bool,
    pub need_level: Option<NeedLevel>,
    pub recent: RecentIds,
    pub last_sent: LastSent,
    /// For the frequency cap (`[actions] max_sent`).
    #[serde(default)]
    pub cap_times: CapTimes,
    /// Kafka mode: the input offset of the last event applied (for at-least-once replays).
    #[serde(default)]
    pub last_offset: Option<i64>,
    /// Purchases with an amount above 0, as the prediction counts them (SPEC 8): kept
    /// whether or not prediction is on, so that turning it on needs no rebuild.
    #[serde(default)]
    pub transactions: Tally,
    /// `churn_risk` fired for the current transactions (re-armed by the next one).
    #[serde(default)]
    pub risk_fired: bool,
    /// Why the customer entered its stage; `None` in a state restored from a changelog record
    /// written before issue 21, until its next transition.
    #[serde(default)]
    pub entered: Option<Entered>,
    /// The event that caused that transition; `None` when a timer did (or `entered` is
    /// `None`). Inline up to 24 bytes, like `id`.
    #[serde(default)]
    pub entered_by: Option<CompactString>,
    /// Holdouts (SPEC 10): the kinds whose last sent or held-out action's conversion window
    /// is open, no conversion counted in it yet (`uplift::on_conversion`).
    #[serde(default)]
    pub uplift_open: KindSet,
}

impl Customer {
    /// A customer created by its first event, in `prospect` (the `first_seen` transition).
    pub fn new(id: &str, at: Timestamp) -> Customer {
        Customer {
            id: id.into(),
            stage: Stage::Prospect,
            seq: 1,
            stage_entered_at: at,
            first_seen: at,
            first_conversion_at: None,
            last_activity_at: None,
            purchase_count: 0,
            total_spend: 0.0,
            refund_total: 0.0,
            complaint_count: 0,
            last_nps: None,
            contactable: true,
            need_level: None,
            recent: RecentIds::default(),
            last_sent: LastSent::default(),
            cap_times: CapTimes::default(),
            last_offset: None,
            transactions: Tally::EMPTY,
            risk_fired: false,
            entered: None,
            entered_by: None,
            uplift_open: KindSet::EMPTY,
        }
    }

    /// The mature rule of SPEC 2: enough purchases, and `at` far enough after the first
    /// conversion.
    pub fn meets_mature_rule(&self, at: Timestamp, rules: &Rules) -> bool {
        self.purchase_count >= rules.mature_min_purchases
            && self
                .first_conversion_at
                .is_some_and(|first| at >= first.plus(rules.mature_min_tenure()))
    }

    /// The timer this state arms, if any: the earlier of its stage timer and its
    /// `churn_risk` timer, the stage timer on a tie (SPEC 8).
    pub fn timer(&self, rules: &Rules) -> Option<Timer> {
        let stage = self.stage_timer(rules);
        match (stage, self.risk_timer(rules)) {
            (Some(s), Some(r)) if r.fires_at < s.fires_at => Some(r),
            (None, risk) => risk,
            (stage, _) => stage,
        }
    }

    /// The `churn_risk` timer: in `new` or `mature`, prediction on with a threshold, not
    /// fired yet for the current transactions, stamped when P(alive) falls below it.
    pub(crate) fn risk_timer(&self, rules: &Rules) -> Option<Timer> {
        if self.risk_fired || !matches!(self.stage, Stage::New | Stage::Mature) {
            return None;
        }
        let stamp = rules.prediction.as_ref()?.risk_stamp(&self.transactions)?;
        Some(Timer {
            kind: TimerKind::ChurnRisk,
            stamp,
            fires_at: stamp.plus(rules.allowed_lateness),
        })
    }

    /// The timer of the stage, if it has one.
    pub(crate) fn stage_timer(&self, rules: &Rules) -> Option<Timer> {
        let (kind, stamp) = match self.stage {
            Stage::New | Stage::Mature => (
                TimerKind::Inactivity,
                self.last_activity_at?.plus(rules.inactivity()),
            ),
            Stage::Churning => (
                TimerKind::NoReactivation,
                self.stage_entered_at.plus(rules.churned_after()),
            ),
            Stage::Prospect | Stage::Churned => return None,
        };
        Some(Timer {
            kind,
            stamp,
            fires_at: stamp.plus(rules.allowed_lateness),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Memory per customer has a target (400 bytes resident, BENCHMARKS.md), and the state's
    /// own size is two thirds of it: 224 bytes before issue 21, which added the entering
    /// transition (20 bytes) and its event id (24, inline up to 24 bytes).
    #[test]
    fn a_customer_state_stays_small() {
        assert_eq!(std::mem::size_of::<Option<Entered>>(), 20);
        assert!(std::mem::size_of::<Customer>() <= 240);
    }

    /// The frequency cap against its definition (SPEC 3: at most `max` counted actions in
    /// any span of `window`), by brute force over every span, for actions in any order.
    mod cap_times {
        use super::super::CapTimes;
        use crate::domain::Timestamp;
        use crate::domain::time::Span;
        use proptest::prelude::*;

        /// The most counted times in a span `[s, s + window)` that holds `at`, over every start.
        fn busiest_around(times: &[i64], at: i64, window: i64) -> usize {
            times
                .iter()
                .filter(|s| **s <= at && **s > at - window)
                .map(|s| {
                    times
                        .iter()
                        .filter(|t| **t >= *s && **t < s + window)
                        .count()
                })
                .max()
                .unwrap_or(0)
        }

        proptest! {
            #[test]
            fn no_span_goes_over_the_cap_and_only_the_cap_refuses(
                ats in proptest::collection::vec(0i64..60, 1..40),
                max in 1usize..4,
                window in 1i64..15,
            ) {
                let (mut cap, mut counted) = (CapTimes::default(), Vec::<i64>::new());
                let span = Span::from_nanos(window);
                let kept = 2 * max + 1;
                for at in ats {
                    let mut sorted = counted.clone();
                    sorted.sort_unstable();
                    // The latest forgotten time, once more than `kept` were counted.
                    let forgotten = sorted.len().checked_sub(kept + 1).map(|i| sorted[i]);
                    let exact = forgotten.is_none_or(|f| at >= f + window);
                    let allowed = cap.allows(Timestamp::from_nanos(at), span, max);
                    let mut with = counted.clone();
                    with.push(at);
                    let fits = busiest_around(&with, at, window) <= max;
                    if exact {
                        prop_assert_eq!(allowed, fits, "at {} after {:?}", at, counted);
                    } else {
                        prop_assert!(!allowed, "at {} near forgotten ones of {:?}", at, counted);
                    }
                    if allowed {
                        cap.record(Timestamp::from_nanos(at), max);
                        counted = with;
                    }
                    // Every span of every counted action, not only the last one's.
                    for t in &counted {
                        prop_assert!(busiest_around(&counted, *t, window) <= max);
                    }
                    // Stored: the latest forgotten (once any was), then the latest `kept`.
                    let mut sorted = counted.clone();
                    sorted.sort_unstable();
                    let from = sorted.len().saturating_sub(kept + 1);
                    let stored: Vec<i64> = cap.times().iter().map(|t| t.as_nanos()).collect();
                    prop_assert_eq!(&stored[..], &sorted[from..]);
                }
            }
        }
    }
}
