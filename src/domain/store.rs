//! The customers of one engine and their armed timers.
//!
//! Customers live in a slab (chunks that never move, [`Slab`]) found through an [`IdIndex`] of slab indices, so each id
//! is stored once. Timers are kept by slot in [`Timers`] (see there); the due timers come out in
//! firing-time order (ties are broken by customer id by the engine).

use std::cell::Cell;

use super::customer::Customer;
use super::id_index::IdIndex;
use super::prefetch::{prefetch, prefetch_slice};
use super::slab::Slab;
use super::time::Timestamp;
use super::timers::Timers;

pub use super::timers::Slot;

#[derive(Debug, Default)]
pub struct Store {
    slots: Slab<Option<Customer>>,
    free: Vec<Slot>,
    index: IdIndex,
    timers: Timers,
    /// The slot [`warm_next_due`](Self::warm_next_due) warmed last (a hint's memory only).
    warmed_due: Cell<Option<Slot>>,
}

/// The hash the index files a customer id under ([`Store::warm_index`] and the others take it).
pub fn customer_hash(id: &str) -> u64 {
    customer_hash_bytes(id.as_bytes())
}

/// [`customer_hash`] of an id still in bytes (a changelog key), without checking it is UTF-8:
/// for a prefetch, ahead of the decoding that checks it.
pub fn customer_hash_bytes(id: &[u8]) -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = HASH_STATE.build_hasher();
    hasher.write(id);
    hasher.finish()
}

/// The index's hash, seeded once per process at random: customer ids are untrusted input,
/// and with a fixed, public seed crafted ids could be made to collide on purpose (hash
/// flooding). Nothing stores the hash, so it need not be the same in another process.
static HASH_STATE: std::sync::LazyLock<foldhash::fast::FixedState> =
    std::sync::LazyLock::new(|| {
        use std::hash::BuildHasher;
        // std's RandomState draws its keys from the operating system's random source.
        let seed = std::hash::RandomState::new().hash_one(0x6c69_6665_6379_636c_u64);
        foldhash::fast::FixedState::with_seed(seed)
    });

impl Store {
    fn hash(&self, id: &str) -> u64 {
        customer_hash(id)
    }

    /// Prefetch hint, first of three: the index entries a lookup of `hash` reads.
    pub fn warm_index(&self, hash: u64) {
        prefetch(self.index.home(hash));
    }

    /// Prefetch hint, second: the customer the lookup will most likely find, and its timer.
    /// Reads the index (warmed by [`warm_index`](Self::warm_index) a while before).
    pub fn warm_customer(&self, hash: u64) {
        if let Some(slot) = self.index.candidate(hash) {
            if let Some(customer) = self.slots.get(slot as usize) {
                prefetch(customer);
            }
            if let Some(armed) = self.timers.armed_entry(slot) {
                prefetch(armed);
            }
        }
    }

    /// Prefetch hint, third: the customer's recent event ids and last-sent times, which live
    /// in allocations of their own. Reads the customer (warmed by
    /// [`warm_customer`](Self::warm_customer)).
    pub fn warm_heap(&self, hash: u64) {
        if let Some(slot) = self.index.candidate(hash)
            && let Some(Some(customer)) = self.slots.get(slot as usize)
        {
            prefetch_slice(customer.recent.as_slice());
            prefetch_slice(customer.last_sent.entries());
        }
    }

    /// Makes room for `additional` more customers at once (a restore knows how many records
    /// it will read), instead of growing the index step by step.
    pub fn reserve(&mut self, additional: usize) {
        self.slots.reserve(additional);
        self.timers.reserve(additional);
        self.index.reserve(additional);
    }

    pub fn len(&self) -> usize {
        self.index.len()
    }

    pub fn is_empty(&self) -> bool {
        self.index.len() == 0
    }

    pub fn find(&self, id: &str) -> Option<Slot> {
        self.find_hashed(id, self.hash(id))
    }

    /// [`find`](Self::find) with `hash` = [`customer_hash`] of `id`, taken before.
    pub fn find_hashed(&self, id: &str, hash: u64) -> Option<Slot> {
        debug_assert_eq!(hash, customer_hash(id));
        let slots = &self.slots;
        self.index.find(hash, |s| {
            slots[s as usize].as_ref().is_some_and(|c| &*c.id == id)
        })
    }

    pub fn get(&self, slot: Slot) -> &Customer {
        self.slots[slot as usize]
            .as_ref()
            .expect("a slot from find() or insert() is occupied")
    }

    /// The customer in `slot`, if the slot is occupied (it may have been freed since).
    pub fn occupant(&self, slot: Slot) -> Option<&Customer> {
        self.slots.get(slot as usize)?.as_ref()
    }

    pub fn get_mut(&mut self, slot: Slot) -> &mut Customer {
        self.slots[slot as usize]
            .as_mut()
            .expect("a slot from find() or insert() is occupied")
    }

    /// Adds a customer whose id is not present yet.
    pub fn insert(&mut self, customer: Customer) -> Slot {
        let hash = self.hash(&customer.id);
        self.insert_hashed(customer, hash)
    }

    /// [`insert`](Self::insert) with `hash` = [`customer_hash`] of its id, taken before.
    pub fn insert_hashed(&mut self, customer: Customer, hash: u64) -> Slot {
        debug_assert_eq!(hash, customer_hash(&customer.id));
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(customer);
                s
            }
            None => {
                self.slots.push(Some(customer));
                self.timers.add_slot();
                (self.slots.count() - 1) as Slot
            }
        };
        self.index.insert(hash, slot);
        slot
    }

    /// Removes a customer and its timer.
    pub fn remove(&mut self, slot: Slot) -> Customer {
        self.set_timer(slot, None);
        let customer = self.slots[slot as usize]
            .take()
            .expect("a slot from find() is occupied");
        let hash = self.hash(&customer.id);
        self.index.remove(hash, slot);
        self.free.push(slot);
        customer
    }

    /// Arms, moves or clears the slot's timer.
    pub fn set_timer(&mut self, slot: Slot, fires_at: Option<Timestamp>) {
        self.timers.set(slot, fires_at);
    }

    /// The earliest armed firing time.
    pub fn next_timer(&self) -> Option<Timestamp> {
        self.timers.next()
    }

    /// Prefetch hint, called after each event: the customer whose timer fires next, so that
    /// it is in cache when the clock reaches it; the next time (when it is in cache and still
    /// next), its last-sent times and recent ids, which firing reads too. Firing otherwise
    /// waited on all three (in `perf`, `fire` and its `emit` were ~3.5 % of replay's samples).
    pub fn warm_next_due(&self) {
        let Some(slot) = self.timers.next_slot() else {
            return;
        };
        if self.warmed_due.get() == Some(slot) {
            if let Some(Some(customer)) = self.slots.get(slot as usize) {
                prefetch_slice(customer.last_sent.entries());
                prefetch_slice(customer.recent.as_slice());
            }
        } else if let Some(customer) = self.slots.get(slot as usize) {
            prefetch(customer);
            self.warmed_due.set(Some(slot));
        }
    }

    /// Disarms every timer due at or before `clock` and returns them sorted by firing time
    /// (ties in slot order).
    pub fn take_due(&mut self, clock: Timestamp) -> Vec<(Timestamp, Slot)> {
        self.timers.take_due(clock)
    }

    pub fn pending_timers(&self) -> usize {
        self.timers.pending()
    }

    /// All customers, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Customer> {
        self.slots.iter().flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_hash_is_stable_in_a_process_and_not_the_public_fixed_seed() {
        use std::hash::{BuildHasher, Hasher};
        assert_eq!(customer_hash("c-42"), customer_hash("c-42"));
        assert_eq!(customer_hash("c-42"), customer_hash_bytes(b"c-42"));
        let fixed = |id: &[u8]| {
            let mut h = foldhash::fast::FixedState::default().build_hasher();
            h.write(id);
            h.finish()
        };
        // A random seed equals the public default one with probability 2^-64.
        assert_ne!(customer_hash("c-42"), fixed(b"c-42"));
    }

    #[test]
    fn an_id_hashes_the_same_from_its_bytes_and_the_hashes_spread() {
        let ids = [
            "c-1",
            "c-2",
            "客户-7",
            "",
            "a-much-longer-customer-identifier-0001",
        ];
        for id in ids {
            assert_eq!(
                customer_hash(id),
                customer_hash_bytes(id.as_bytes()),
                "{id}"
            );
        }
        let distinct: std::collections::HashSet<u64> =
            ids.iter().map(|id| customer_hash(id)).collect();
        assert_eq!(distinct.len(), ids.len());
    }

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

    #[test]
    fn a_removed_customer_takes_its_timer_with_it() {
        let mut s = store(2);
        s.set_timer(0, Some(t(1)));
        s.set_timer(1, Some(t(2)));
        s.remove(0);
        assert_eq!(s.pending_timers(), 1);
        assert_eq!(s.take_due(t(10)), vec![(t(2), 1)]);
        assert_eq!(s.next_timer(), None);
    }

    #[test]
    fn a_freed_slot_is_reused_without_its_old_timer() {
        let mut s = store(2);
        s.set_timer(0, Some(t(5)));
        s.remove(0);
        let slot = s.insert(Customer::new("c-new", t(0)));
        assert_eq!(slot, 0);
        assert_eq!(s.pending_timers(), 0);
        assert_eq!(s.find("c-new"), Some(0));
        assert_eq!(s.find("c-0"), None);
    }
}
