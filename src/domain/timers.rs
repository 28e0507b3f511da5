//! The armed timers of one engine: at most one per customer slot.
//!
//! `armed[slot]` is the truth: the slot's firing time, if any. Entries elsewhere approximate
//! it lazily: moving a timer records the new time in `armed` and adds an entry; entries that
//! no longer match `armed` are stale and dropped when met.
//!
//! Entries live in two tiers. Those due within the current *bucket* (one day of firing
//! times, or earlier) sit in `near`, a small min-heap; later ones wait unsorted in `far`,
//! one vector per day. When `near` runs dry, the next day's vector is filtered of stale
//! entries and heapified into it. So arming or moving a timer is a push onto a vector (O(1)
//! amortised, plus a lookup among the days ahead), and the heap work is done only on one
//! day's timers at a time, in cache, instead of on a heap of every timer (a stream moves
//! nearly every customer's deadline with each of its events, so the entries are many).
//! When stale entries outnumber live ones, everything is rebuilt from `armed`.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use super::time::Timestamp;

pub type Slot = u32;

/// One day of firing times, in nanoseconds.
const BUCKET_NANOS: i64 = 86_400 * 1_000_000_000;

fn bucket(t: Timestamp) -> i64 {
    t.as_nanos().div_euclid(BUCKET_NANOS)
}

#[derive(Debug)]
pub struct Timers {
    armed: Vec<Option<Timestamp>>,
    armed_count: usize,
    /// Entries of buckets up to `horizon`; its top is never stale while it has entries.
    near: BinaryHeap<Reverse<(Timestamp, Slot)>>,
    /// Entries of the buckets after `horizon`, by bucket.
    far: BTreeMap<i64, Vec<(Timestamp, Slot)>>,
    far_len: usize,
    /// The last bucket moved into `near`.
    horizon: i64,
}

impl Default for Timers {
    fn default() -> Timers {
        Timers {
            armed: Vec::new(),
            armed_count: 0,
            near: BinaryHeap::new(),
            far: BTreeMap::new(),
            far_len: 0,
            horizon: i64::MIN,
        }
    }
}

impl Timers {
    /// Makes room for `additional` more slots.
    pub fn reserve(&mut self, additional: usize) {
        self.armed.reserve(additional);
    }

    /// Adds a slot with no timer (slots are numbered in the order they are added).
    pub fn add_slot(&mut self) {
        self.armed.push(None);
    }

    /// The slot's entry in `armed`, which [`set`](Self::set) reads: for a prefetch.
    pub fn armed_entry(&self, slot: Slot) -> Option<&Option<Timestamp>> {
        self.armed.get(slot as usize)
    }

    /// How many slots have a timer armed.
    pub fn pending(&self) -> usize {
        self.armed_count
    }

    /// The earliest armed firing time.
    pub fn next(&self) -> Option<Timestamp> {
        self.near.peek().map(|&Reverse((t, _))| t)
    }

    /// The slot whose timer fires first (ties: the lowest slot).
    pub fn next_slot(&self) -> Option<Slot> {
        self.near.peek().map(|&Reverse((_, slot))| slot)
    }

    /// Arms, moves or clears the slot's timer.
    pub fn set(&mut self, slot: Slot, fires_at: Option<Timestamp>) {
        let current = &mut self.armed[slot as usize];
        if *current == fires_at {
            return;
        }
        match (current.is_some(), fires_at.is_some()) {
            (false, true) => self.armed_count += 1,
            (true, false) => self.armed_count -= 1,
            _ => {}
        }
        *current = fires_at;
        if let Some(t) = fires_at {
            self.add_entry(t, slot);
        }
        if self.near.len() + self.far_len > 2 * self.armed_count + 1024 {
            self.rebuild();
        }
        self.settle();
    }

    fn add_entry(&mut self, t: Timestamp, slot: Slot) {
        let b = bucket(t);
        if b <= self.horizon {
            self.near.push(Reverse((t, slot)));
        } else {
            self.far.entry(b).or_default().push((t, slot));
            self.far_len += 1;
        }
    }

    /// Restores the invariant: `near`'s top is live, and `near` is empty only when no
    /// timer is armed. Drops stale tops; when `near` runs dry, moves the next bucket in.
    fn settle(&mut self) {
        loop {
            while let Some(&Reverse((t, slot))) = self.near.peek() {
                if self.armed[slot as usize] == Some(t) {
                    return;
                }
                self.near.pop();
            }
            let Some((b, entries)) = self.far.pop_first() else {
                return;
            };
            self.far_len -= entries.len();
            self.horizon = b;
            // The heap's own memory, refilled: no fresh allocation per day.
            let mut heap = std::mem::take(&mut self.near).into_vec();
            heap.clear();
            let armed = &self.armed;
            heap.extend(
                entries
                    .into_iter()
                    .filter(|&(t, slot)| armed[slot as usize] == Some(t))
                    .map(Reverse),
            );
            self.near = BinaryHeap::from(heap);
        }
    }

    /// Every entry rebuilt from `armed`, without stale ones (O(n)).
    fn rebuild(&mut self) {
        let mut heap = std::mem::take(&mut self.near).into_vec();
        heap.clear();
        self.near = BinaryHeap::from(heap);
        self.far.clear();
        self.far_len = 0;
        self.horizon = i64::MIN;
        for slot in 0..self.armed.len() {
            if let Some(t) = self.armed[slot] {
                self.add_entry(t, slot as Slot);
            }
        }
    }

    /// Disarms every timer due at or before `clock` and returns them sorted by firing time
    /// (ties in slot order). A few are popped off the heap; past `BULK` (1,024) every bucket up to
    /// the clock's is taken at once and partitioned (O(n), instead of a pop per timer).
    pub fn take_due(&mut self, clock: Timestamp) -> Vec<(Timestamp, Slot)> {
        /// How many due timers are popped one by one before the rest are taken in bulk.
        const BULK: usize = 1024;
        let mut due = Vec::new();
        while let Some(&Reverse((t, slot))) = self.near.peek() {
            if t > clock {
                return due;
            }
            if due.len() == BULK {
                break;
            }
            self.near.pop();
            self.disarm(slot);
            due.push((t, slot));
            self.settle();
        }
        if self.near.is_empty() {
            return due;
        }
        let mut rest = std::mem::take(&mut self.near).into_vec();
        let last = bucket(clock);
        while let Some(entry) = self.far.first_entry() {
            if *entry.key() > last {
                break;
            }
            let entries = entry.remove();
            self.far_len -= entries.len();
            rest.extend(entries.into_iter().map(Reverse));
        }
        self.horizon = self.horizon.max(last);
        let (armed, armed_count) = (&mut self.armed, &mut self.armed_count);
        rest.retain(|&Reverse((t, slot))| {
            if armed[slot as usize] != Some(t) {
                return false; // stale, or a copy of an entry already taken
            }
            if t <= clock {
                armed[slot as usize] = None;
                *armed_count -= 1;
                due.push((t, slot));
                return false;
            }
            true
        });
        self.near = BinaryHeap::from(rest);
        self.settle();
        due.sort_unstable();
        due
    }

    fn disarm(&mut self, slot: Slot) {
        self.armed[slot as usize] = None;
        self.armed_count -= 1;
    }

    /// Entries held, stale ones included (for tests of the bound).
    #[cfg(test)]
    fn entries(&self) -> usize {
        self.near.len() + self.far_len
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: i64) -> Timestamp {
        Timestamp::from_nanos(n)
    }

    const DAY: i64 = BUCKET_NANOS;

    fn timers(n: usize) -> Timers {
        let mut s = Timers::default();
        for _ in 0..n {
            s.add_slot();
        }
        s
    }

    /// Takes every due timer in order, one firing time at a time.
    fn drain(s: &mut Timers) -> Vec<(i64, Slot)> {
        let mut fired = Vec::new();
        while let Some(at) = s.next() {
            for (t, slot) in s.take_due(at) {
                fired.push((t.as_nanos(), slot));
            }
        }
        fired
    }

    #[test]
    fn moved_and_cleared_timers_fire_once_at_their_last_deadline() {
        for scale in [1, DAY / 3, DAY] {
            let mut s = timers(4);
            s.set(0, Some(t(10 * scale)));
            s.set(1, Some(t(5 * scale)));
            s.set(0, Some(t(20 * scale))); // moved later
            s.set(1, Some(t(3 * scale))); // moved earlier
            s.set(2, Some(t(7 * scale)));
            s.set(2, None); // cleared
            s.set(3, Some(t(10 * scale)));
            s.set(3, Some(t(30 * scale)));
            s.set(3, Some(t(10 * scale))); // back to an earlier deadline: one firing
            assert_eq!(s.pending(), 3);
            assert_eq!(s.next(), Some(t(3 * scale)));
            assert_eq!(
                drain(&mut s),
                vec![(3 * scale, 1), (10 * scale, 3), (20 * scale, 0)]
            );
            assert_eq!(s.pending(), 0);
            assert_eq!(s.next(), None);
        }
    }

    #[test]
    fn stale_entries_are_bounded_by_rebuilds() {
        let mut s = timers(10);
        for round in 0..10_000 {
            for slot in 0..10 {
                s.set(slot, Some(t((round * 10 + i64::from(slot)) * DAY / 7)));
            }
        }
        assert!(s.entries() <= 2 * 10 + 1024, "{}", s.entries());
        let fired = drain(&mut s);
        assert_eq!(fired.len(), 10);
        assert_eq!(fired[0], (99_990 * DAY / 7, 0));
    }

    #[test]
    fn taking_many_due_timers_at_once_gives_them_in_time_order() {
        for scale in [1, DAY / 1000] {
            let mut s = timers(5000);
            for slot in 0..5000u32 {
                // Deadlines out of order, some moved, some equal.
                s.set(slot, Some(t(i64::from((slot * 7919) % 3000) * scale)));
                if slot % 3 == 0 {
                    s.set(slot, Some(t((i64::from(slot % 100) + 10_000) * scale)));
                }
            }
            let due = s.take_due(t(9_999 * scale));
            let expected: usize = (0..5000u32).filter(|slot| slot % 3 != 0).count();
            assert_eq!(due.len(), expected);
            assert!(due.windows(2).all(|w| w[0] <= w[1]));
            assert_eq!(s.pending(), 5000 - expected);
            assert_eq!(s.next(), Some(t(10_000 * scale)));
            let rest = s.take_due(t(20_000 * scale));
            assert_eq!(rest.len(), 5000 - expected);
            assert_eq!(s.pending(), 0);
            assert!(s.take_due(t(i64::MAX)).is_empty());
        }
    }

    #[test]
    fn a_timer_armed_behind_the_horizon_still_fires_first() {
        let mut s = timers(3);
        s.set(0, Some(t(10 * DAY)));
        s.set(1, Some(t(20 * DAY)));
        assert_eq!(s.next(), Some(t(10 * DAY)));
        // Day 10 is in the heap now; a timer for day 2 goes there too, and comes first.
        s.set(2, Some(t(2 * DAY)));
        assert_eq!(s.next(), Some(t(2 * DAY)));
        assert_eq!(
            drain(&mut s),
            vec![(2 * DAY, 2), (10 * DAY, 0), (20 * DAY, 1)]
        );
    }

    /// The model's timers due by `clock`, in (time, slot) order, disarmed.
    fn model_due(model: &mut [Option<i64>], clock: i64) -> Vec<(i64, Slot)> {
        let mut due: Vec<(i64, Slot)> = model
            .iter()
            .enumerate()
            .filter_map(|(i, m)| m.filter(|&m| m <= clock).map(|m| (m, i as Slot)))
            .collect();
        due.sort_unstable();
        for &(_, i) in &due {
            model[i as usize] = None;
        }
        due
    }

    fn take_due(s: &mut Timers, clock: i64) -> Vec<(i64, Slot)> {
        s.take_due(t(clock))
            .into_iter()
            .map(|(t, i)| (t.as_nanos(), i))
            .collect()
    }

    /// Past 1,024 due timers the rest are taken in bulk, bucket by bucket, stale entries
    /// dropped: the same timers, in the same order, as one by one.
    #[test]
    fn a_bulk_take_takes_every_due_timer_in_order() {
        let n = 5000;
        let mut s = timers(n);
        let mut model = vec![None; n];
        let mut set = |s: &mut Timers, i: usize, at: i64| {
            s.set(i as Slot, Some(t(at)));
            model[i] = Some(at);
        };
        // More than a bulk's worth due on the first day, so the bulk path is reached with
        // the first day still in the heap; the others spread over eleven days, moved once.
        for i in 0..2000 {
            set(&mut s, i, i as i64);
        }
        for round in 0..2 {
            for i in 2000..n {
                set(
                    &mut s,
                    i,
                    (1 + (i * 7 + round * 3) % 11) as i64 * DAY + i as i64,
                );
            }
        }
        for clock in [4 * DAY, 9 * DAY, 20 * DAY] {
            let expected = model_due(&mut model, clock);
            assert_eq!(take_due(&mut s, clock), expected);
        }
        assert_eq!(s.pending(), 0);
    }

    proptest::proptest! {
        /// Against a plain model: every armed timer fires once, at its last deadline, in
        /// (time, slot) order, whatever the mix of arming, moving, clearing and clock steps.
        #[test]
        fn fires_what_a_plain_model_fires(
            ops in proptest::collection::vec((0u32..8, 0i64..40, 0u8..4), 0..300),
        ) {
            let mut s = timers(8);
            let mut model: Vec<Option<i64>> = vec![None; 8];
            let mut clock = 0;
            for (slot, when, op) in ops {
                match op {
                    0 => {
                        s.set(slot, None);
                        model[slot as usize] = None;
                    }
                    1 => {
                        clock = clock.max(when * DAY / 4);
                        let expected = model_due(&mut model, clock);
                        proptest::prop_assert_eq!(take_due(&mut s, clock), expected);
                    }
                    _ => {
                        let at = clock + when * DAY / 4;
                        s.set(slot, Some(t(at)));
                        model[slot as usize] = Some(at);
                    }
                }
                proptest::prop_assert_eq!(s.pending(), model.iter().flatten().count());
                proptest::prop_assert_eq!(
                    s.next().map(Timestamp::as_nanos),
                    model.iter().flatten().min().copied()
                );
            }
        }
    }
}
