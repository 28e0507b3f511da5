//! Which customers the engine changed since they were last taken, for a driver that writes
//! changed state out (the Kafka service's changelog, once per customer per batch).
//!
//! The engine marks a customer's slot where it changes it, with the customer already in
//! cache: a bit per slot and a list of the marked slots. The service used to keep a hash
//! set of ids for this, whose lookups missed the cache (a twentieth of its processing
//! thread).

use compact_str::CompactString;

use super::timers::Slot;

#[derive(Debug, Default)]
pub struct Changes {
    /// One bit per slot: marked since the last take.
    marked: Vec<u64>,
    /// The marked slots, in the order they were first marked.
    slots: Vec<Slot>,
    /// Customers erased since the last take (their slots may hold someone else by then).
    erased: Vec<CompactString>,
}

impl Changes {
    pub fn mark(&mut self, slot: Slot) {
        let (word, bit) = (slot as usize / 64, 1u64 << (slot % 64));
        if word >= self.marked.len() {
            self.marked.resize(word + 1, 0);
        }
        if self.marked[word] & bit == 0 {
            self.marked[word] |= bit;
            self.slots.push(slot);
        }
    }

    pub fn erased(&mut self, id: CompactString) {
        self.erased.push(id);
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty() && self.erased.is_empty()
    }

    /// Empties the record, keeping its memory; returns what it held.
    pub fn take(&mut self) -> ChangeSet {
        for &slot in &self.slots {
            self.marked[slot as usize / 64] = 0;
        }
        ChangeSet {
            erased: std::mem::take(&mut self.erased),
            slots: std::mem::take(&mut self.slots),
        }
    }

    /// Gives back the set [`take`](Self::take) returned, for its memory.
    pub fn recycle(&mut self, set: ChangeSet) {
        let mut slots = set.slots;
        if self.slots.is_empty() {
            slots.clear();
            self.slots = slots;
        }
    }
}

/// What changed between two takes: the erased ids and the marked slots.
#[derive(Debug, Default)]
pub struct ChangeSet {
    pub(super) erased: Vec<CompactString>,
    pub(super) slots: Vec<Slot>,
}

impl ChangeSet {
    /// Erased ids plus changed slots (an upper bound of the changes written).
    pub fn len(&self) -> usize {
        self.erased.len() + self.slots.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_listed_once_until_taken() {
        let mut changes = Changes::default();
        for slot in [3, 700, 3, 64, 700, 0] {
            changes.mark(slot);
        }
        changes.erased("gone".into());
        assert!(!changes.is_empty());
        let set = changes.take();
        assert_eq!(set.slots, [3, 700, 64, 0]);
        assert_eq!(set.erased, ["gone"]);
        assert_eq!(set.len(), 5);
        assert!(changes.is_empty());
        changes.recycle(set);
        // Taking cleared the marks: the same slots are listed again.
        changes.mark(700);
        changes.mark(3);
        changes.mark(700);
        assert_eq!(changes.take().slots, [700, 3]);
    }
}
