//! The customers of one engine and their armed timers.
//!
//! Customers live in a slab (`Vec`) found through a hash table of slab indices, so each id is
//! stored once. Timers are an ordered set of `(fires_at, slot)`: arming or moving one is
//! O(log n), and the due ones come out in firing-time order (ties are broken by customer id
//! by the engine).

use std::collections::BTreeSet;

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
    /// The armed timer of each slot (its `fires_at`), mirrored in `timers`.
    armed: Vec<Option<Timestamp>>,
    timers: BTreeSet<(Timestamp, Slot)>,
}

impl Store {
    fn hash(&self, id: &str) -> u64 {
        use std::hash::BuildHasher;
        self.hasher.hash_one(id)
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
        if let Some(old) = current.take() {
            self.timers.remove(&(old, slot));
        }
        if let Some(new) = fires_at {
            self.timers.insert((new, slot));
        }
        *current = fires_at;
    }

    /// The earliest armed firing time.
    pub fn next_timer(&self) -> Option<Timestamp> {
        self.timers.first().map(|&(t, _)| t)
    }

    /// Disarms and returns every slot whose timer fires exactly at `at`.
    pub fn take_timers_at(&mut self, at: Timestamp) -> Vec<Slot> {
        let mut due = Vec::new();
        while let Some(&(t, slot)) = self.timers.first() {
            if t != at {
                break;
            }
            self.timers.pop_first();
            self.armed[slot as usize] = None;
            due.push(slot);
        }
        due
    }

    pub fn pending_timers(&self) -> usize {
        self.timers.len()
    }

    /// All customers, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Customer> {
        self.slots.iter().flatten()
    }
}
