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

    /// Empties the record, keeping its memory; returns the erased ids and the marked slots.
    pub fn take(&mut self) -> (Vec<CompactString>, Vec<Slot>) {
        for &slot in &self.slots {
            self.marked[slot as usize / 64] = 0;
        }
        (
            std::mem::take(&mut self.erased),
            std::mem::take(&mut self.slots),
        )
    }

    /// Gives back the vector [`take`](Self::take) returned, for its memory.
    pub fn recycle(&mut self, mut slots: Vec<Slot>) {
        if self.slots.is_empty() {
            slots.clear();
            self.slots = slots;
        }
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
        let (erased, slots) = changes.take();
        assert_eq!(slots, [3, 700, 64, 0]);
        assert_eq!(erased, ["gone"]);
        assert!(changes.is_empty());
        changes.recycle(slots);
        // Taking cleared the marks: the same slots are listed again.
        changes.mark(700);
        changes.mark(3);
        changes.mark(700);
        assert_eq!(changes.take().1, [700, 3]);
    }
}
