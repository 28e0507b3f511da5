//! The customers of one engine and their armed timers.
//!
//! Customers live in a slab (`Vec`) found through a hash table of slab indices, so each id is
//! stored once. Timers are a min-heap of `(fires_at, slot)` with lazy deletion: moving a
//! timer records the new deadline in `armed` and pushes an entry (O(log n), and O(1) on
//! average for the mostly-later deadlines a stream produces); entries that no longer match
//! `armed` are stale and skipped when they reach the top. The heap is rebuilt from `armed`
//! when stale entries outnumber live ones, so it stays within twice the armed timers. The
//! due timers come out in firing-time order (ties are broken by customer id by the engine).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use hashbrown::HashTable;

use super::customer::Customer;
use super::time::Timestamp;

pub type Slot = u32;

#[derive(Debug, Default)]
pub struct Store {
    slots: Vec<Option<Customer>>,
    free: Vec<Slot>,
    index: HashTable<Slot>,
    hasher: foldhash::fast::FixedState,
    /// The armed timer of each slot (its `fires_at`): the truth that `timers` approximates.
    armed: Vec<Option<Timestamp>>,
    /// How many slots have a timer armed.
    armed_count: usize,
    /// Every armed timer, plus stale entries; its top is never stale.
    timers: BinaryHeap<Reverse<(Timestamp, Slot)>>,
}

impl Store {
    fn hash(&self, id: &str) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(id)
    }

    /// Makes room for `additional` more customers at once (a restore knows how many records
    /// it will read), instead of growing the index step by step.
    pub fn reserve(&mut self, additional: usize) {
        self.slots.reserve(additional);
        self.armed.reserve(additional);
        let slots = &self.slots;
        let hasher = &self.hasher;
        self.index.reserve(additional, |&s| {
            use std::hash::BuildHasher;
            hasher.hash_one(slots[s as usize].as_ref().map_or("", |c| &*c.id))
        });
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    pub fn find(&self, id: &str) -> Option<Slot> {
        let slots = &self.slots;
        self.index
            .find(self.hash(id), |&s| {
                slots[s as usize].as_ref().is_some_and(|c| &*c.id == id)
            })
            .copied()
    }

    pub fn get(&self, slot: Slot) -> &Customer {
        self.slots[slot as usize]
            .as_ref()
            .expect("a slot from find() or insert() is occupied")
    }

    pub fn get_mut(&mut self, slot: Slot) -> &mut Customer {
        self.slots[slot as usize]
            .as_mut()
            .expect("a slot from find() or insert() is occupied")
    }

    /// Adds a customer whose id is not present yet.
    pub fn insert(&mut self, customer: Customer) -> Slot {
        let hash = self.hash(&customer.id);
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(customer);
                s
            }
            None => {
                self.slots.push(Some(customer));
                self.armed.push(None);
                (self.slots.len() - 1) as Slot
            }
        };
        let slots = &self.slots;
        let hasher = &self.hasher;
        self.index.insert_unique(hash, slot, |&s| {
            use std::hash::BuildHasher;
            hasher.hash_one(slots[s as usize].as_ref().map_or("", |c| &*c.id))
        });
        slot
    }

    /// Removes a customer and its timer.
    pub fn remove(&mut self, slot: Slot) -> Customer {
        self.set_timer(slot, None);
        let customer = self.slots[slot as usize]
            .take()
            .expect("a slot from find() is occupied");
        let hash = self.hash(&customer.id);
        if let Ok(entry) = self.index.find_entry(hash, |&s| s == slot) {
            entry.remove();
        }
        self.free.push(slot);
        customer
    }

    /// Arms, moves or clears the slot's timer.
    pub fn set_timer(&mut self, slot: Slot, fires_at: Option<Timestamp>) {
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
        if let Some(new) = fires_at {
            self.timers.push(Reverse((new, slot)));
        }
        self.drop_stale();
        if self.timers.len() > 2 * self.armed_count + 1024 {
            self.rebuild_timers();
        }
    }

    /// Pops stale entries off the top, so the top (if any) is an armed timer.
    fn drop_stale(&mut self) {
        while let Some(&Reverse((t, slot))) = self.timers.peek() {
            if self.armed[slot as usize] == Some(t) {
                break;
            }
            self.timers.pop();
        }
    }

    /// Rebuilds the heap from `armed`, without stale entries (O(n)), in the heap's own
    /// memory: a fresh vector each time made the allocator map and zero new pages.
    fn rebuild_timers(&mut self) {
        let mut live = std::mem::take(&mut self.timers).into_vec();
        live.clear();
        live.extend(
            (0..)
                .zip(&self.armed)
                .filter_map(|(slot, t)| t.map(|t| Reverse((t, slot)))),
        );
        self.timers = BinaryHeap::from(live);
    }

    /// The earliest armed firing time.
    pub fn next_timer(&self) -> Option<Timestamp> {
        self.timers.peek().map(|&Reverse((t, _))| t)
    }

    /// Disarms every timer due at or before `clock` and returns them sorted by firing time
    /// (ties in slot order). A few are popped off the heap; past [`BULK`] the whole heap is
    /// partitioned at once (O(n), instead of a cache-missing O(log n) pop per timer).
    pub fn take_due(&mut self, clock: Timestamp) -> Vec<(Timestamp, Slot)> {
        /// How many due timers are popped one by one before the rest are taken in bulk.
        const BULK: usize = 1024;
        let mut due = Vec::new();
        while let Some(&Reverse((t, slot))) = self.timers.peek() {
            if t > clock {
                return due;
            }
            if due.len() == BULK {
                break;
            }
            self.timers.pop();
            self.disarm(slot);
            due.push((t, slot));
            self.drop_stale();
        }
        if self.timers.is_empty() {
            return due;
        }
        let mut rest = std::mem::take(&mut self.timers).into_vec();
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
        self.timers = BinaryHeap::from(rest);
        due.sort_unstable();
        due
    }

    fn disarm(&mut self, slot: Slot) {
        self.armed[slot as usize] = None;
        self.armed_count -= 1;
    }

    pub fn pending_timers(&self) -> usize {
        self.armed_count
    }

    /// All customers, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Customer> {
        self.slots.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: i64) -> Timestamp {
        Timestamp::from_nanos(n)
    }

    fn store(n: usize) -> Store {
        let mut s = Store::default();
        for i in 0..n {
            s.insert(Customer::new(&format!("c-{i}"), t(0)));
        }
        s
    }

    /// Takes every due timer in order, one firing time at a time.
    fn drain(s: &mut Store) -> Vec<(i64, Slot)> {
        let mut fired = Vec::new();
        while let Some(at) = s.next_timer() {
            for (t, slot) in s.take_due(at) {
                fired.push((t.as_nanos(), slot));
            }
        }
        fired
    }

    #[test]
    fn moved_and_cleared_timers_fire_once_at_their_last_deadline() {
        let mut s = store(4);
        s.set_timer(0, Some(t(10)));
        s.set_timer(1, Some(t(5)));
        s.set_timer(0, Some(t(20))); // moved later
        s.set_timer(1, Some(t(3))); // moved earlier
        s.set_timer(2, Some(t(7)));
        s.set_timer(2, None); // cleared
        s.set_timer(3, Some(t(10)));
        s.set_timer(3, Some(t(30)));
        s.set_timer(3, Some(t(10))); // back to an earlier deadline: one firing
        assert_eq!(s.pending_timers(), 3);
        assert_eq!(s.next_timer(), Some(t(3)));
        assert_eq!(drain(&mut s), vec![(3, 1), (10, 3), (20, 0)]);
        assert_eq!(s.pending_timers(), 0);
    }

    #[test]
    fn stale_entries_are_bounded_by_rebuilds() {
        let mut s = store(10);
        for round in 0..10_000 {
            for slot in 0..10 {
                s.set_timer(slot, Some(t(round * 10 + i64::from(slot))));
            }
        }
        assert!(s.timers.len() <= 2 * 10 + 1024, "{}", s.timers.len());
        let fired = drain(&mut s);
        assert_eq!(fired.len(), 10);
        assert_eq!(fired[0], (99_990, 0));
    }

    #[test]
    fn taking_many_due_timers_at_once_gives_them_in_time_order() {
        let mut s = store(5000);
        for slot in 0..5000u32 {
            // Deadlines out of order, some moved, some equal.
            s.set_timer(slot, Some(t(i64::from((slot * 7919) % 3000))));
            if slot % 3 == 0 {
                s.set_timer(slot, Some(t(i64::from(slot % 100) + 10_000)));
            }
        }
        let due = s.take_due(t(9_999));
        let expected: usize = (0..5000u32).filter(|slot| slot % 3 != 0).count();
        assert_eq!(due.len(), expected);
        assert!(due.windows(2).all(|w| w[0] <= w[1]));
        assert_eq!(s.pending_timers(), 5000 - expected);
        assert_eq!(s.next_timer(), Some(t(10_000)));
        let rest = s.take_due(t(20_000));
        assert_eq!(rest.len(), 5000 - expected);
        assert_eq!(s.pending_timers(), 0);
        assert!(s.take_due(t(i64::MAX)).is_empty());
    }

    #[test]
    fn a_removed_customer_takes_its_timer_with_it() {
        let mut s = store(2);
        s.set_timer(0, Some(t(1)));
        s.set_timer(1, Some(t(2)));
        s.remove(0);
        assert_eq!(s.pending_timers(), 1);
        assert_eq!(drain(&mut s), vec![(2, 1)]);
    }
}
