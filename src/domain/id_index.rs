//! The customer-id index of a [`Store`](super::store::Store): id hash to slab slot.
//!
//! Open addressing with linear probing over one `Vec<u64>`: an entry packs the upper 32 bits
//! of the id's hash (the *tag*) with the slot plus one (0 marks an empty entry). The home
//! position of an entry is the top bits of its tag, so the table can grow and delete
//! (backward shift) from the entries alone, without rehashing ids. Eight entries share a
//! cache line, so a lookup reads one line of the table, then the customer to compare ids.
//!
//! It exists, instead of a general hash table, for [`IdIndex::home`] and
//! [`IdIndex::candidate`]: the address a lookup will read, and the slot it will most likely
//! find, both without touching anything else. The engine prefetches them for the events of
//! a batch a few events ahead (see `Engine::warm`), which a general table does not allow.

use super::timers::Slot;

/// Grows when more than this fraction of entries is taken (3/4).
const LOAD_NUM: usize = 3;
const LOAD_DEN: usize = 4;

#[derive(Debug)]
pub struct IdIndex {
    entries: Vec<u64>,
    /// log2 of `entries.len()`.
    bits: u32,
    len: usize,
}

impl Default for IdIndex {
    fn default() -> IdIndex {
        IdIndex::with_bits(4)
    }
}

fn tag(hash: u64) -> u32 {
    (hash >> 32) as u32
}

fn entry(tag: u32, slot: Slot) -> u64 {
    (u64::from(tag) << 32) | (u64::from(slot) + 1)
}

fn entry_tag(e: u64) -> u32 {
    (e >> 32) as u32
}

fn entry_slot(e: u64) -> Slot {
    (e as u32).wrapping_sub(1)
}

impl IdIndex {
    fn with_bits(bits: u32) -> IdIndex {
        IdIndex {
            entries: vec![0; 1 << bits],
            bits,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    fn mask(&self) -> usize {
        self.entries.len() - 1
    }

    fn home_of(&self, tag: u32) -> usize {
        (tag >> (32 - self.bits)) as usize
    }

    /// Where a lookup of `hash` starts reading: for a prefetch.
    pub fn home(&self, hash: u64) -> &u64 {
        &self.entries[self.home_of(tag(hash))]
    }

    /// The first slot whose tag matches `hash`: the one [`find`](Self::find) will most
    /// likely return (it also compares the ids). For a prefetch only.
    pub fn candidate(&self, hash: u64) -> Option<Slot> {
        self.find(hash, |_| true)
    }

    /// The slot whose tag matches `hash` and for which `is_it` holds.
    pub fn find(&self, hash: u64, mut is_it: impl FnMut(Slot) -> bool) -> Option<Slot> {
        let tag = tag(hash);
        let mut i = self.home_of(tag);
        loop {
            let e = self.entries[i];
            if e == 0 {
                return None;
            }
            if entry_tag(e) == tag && is_it(entry_slot(e)) {
                return Some(entry_slot(e));
            }
            i = (i + 1) & self.mask();
        }
    }

    /// Adds `slot` under `hash`; the caller knows the id is not present.
    pub fn insert(&mut self, hash: u64, slot: Slot) {
        self.reserve(1);
        self.place(entry(tag(hash), slot));
        self.len += 1;
    }

    fn place(&mut self, e: u64) {
        let mut i = self.home_of(entry_tag(e));
        while self.entries[i] != 0 {
            i = (i + 1) & self.mask();
        }
        self.entries[i] = e;
    }

    /// Removes the entry of `slot` filed under `hash`, if there is one.
    pub fn remove(&mut self, hash: u64, slot: Slot) {
        let wanted = entry(tag(hash), slot);
        let mask = self.mask();
        let mut i = self.home_of(tag(hash));
        loop {
            match self.entries[i] {
                0 => return,
                e if e == wanted => break,
                _ => i = (i + 1) & mask,
            }
        }
        // Backward shift: move later entries of the run into the hole when their home is
        // not between the hole and them (cyclically), so no lookup meets an empty entry
        // before its target.
        let mut hole = i;
        let mut j = i;
        loop {
            j = (j + 1) & mask;
            let e = self.entries[j];
            if e == 0 {
                break;
            }
            let home = self.home_of(entry_tag(e));
            let distance_to_home = j.wrapping_sub(home) & mask;
            let distance_to_hole = j.wrapping_sub(hole) & mask;
            if distance_to_home >= distance_to_hole {
                self.entries[hole] = e;
                hole = j;
            }
        }
        self.entries[hole] = 0;
        self.len -= 1;
    }

    /// Makes room for `additional` more entries without growing.
    pub fn reserve(&mut self, additional: usize) {
        let needed = self.len + additional;
        if needed * LOAD_DEN <= self.entries.len() * LOAD_NUM {
            return;
        }
        let mut bits = self.bits;
        while needed * LOAD_DEN > (1usize << bits) * LOAD_NUM {
            bits += 1;
        }
        let old = std::mem::replace(self, IdIndex::with_bits(bits));
        for e in old.entries.into_iter().filter(|&e| e != 0) {
            self.place(e);
        }
        self.len = old.len;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// Hashes chosen to collide: few distinct homes, tags that repeat.
    fn hash(key: u16) -> u64 {
        (u64::from(key % 7) << 61) | (u64::from(key % 5) << 40) | u64::from(key)
    }

    proptest! {
        /// Any sequence of inserts and removes finds exactly what a HashMap holds.
        #[test]
        fn behaves_like_a_map(ops in proptest::collection::vec((any::<bool>(), 0u16..200), 1..400)) {
            let mut index = IdIndex::default();
            let mut model: HashMap<u16, Slot> = HashMap::new();
            let mut next_slot = 0;
            for (insert, key) in ops {
                if insert && !model.contains_key(&key) {
                    index.insert(hash(key), next_slot);
                    model.insert(key, next_slot);
                    next_slot += 1;
                } else if !insert && let Some(slot) = model.remove(&key) {
                    index.remove(hash(key), slot);
                }
                prop_assert_eq!(index.len(), model.len());
            }
            let slot_key: HashMap<Slot, u16> = model.iter().map(|(k, s)| (*s, *k)).collect();
            for key in 0..200u16 {
                let found = index.find(hash(key), |s| slot_key.get(&s) == Some(&key));
                prop_assert_eq!(found, model.get(&key).copied());
                if let Some(slot) = found
                    && index.candidate(hash(key)) != Some(slot)
                {
                    // The candidate is the first tag match: another key with the same tag.
                    let other = index.candidate(hash(key)).unwrap();
                    prop_assert_eq!(hash(slot_key[&other]) >> 32, hash(key) >> 32);
                }
            }
        }
    }

    #[test]
    fn grows_and_keeps_every_entry() {
        let mut index = IdIndex::default();
        for slot in 0..10_000u32 {
            index.insert(u64::from(slot).wrapping_mul(0x9E37_79B9_7F4A_7C15), slot);
        }
        assert_eq!(index.len(), 10_000);
        assert!(index.entries.len() * 3 >= 10_000 * 4);
        for slot in 0..10_000u32 {
            let h = u64::from(slot).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            assert_eq!(index.find(h, |s| s == slot), Some(slot));
        }
    }
}
