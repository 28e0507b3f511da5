//! The applying side of a changelog restore: batches of raw records, decoded and put into
//! the engine, with the records not yet confirmed by a progress record kept undoable.
//!
//! Records go into the engine as they arrive, each with a note of the state it replaced; a
//! progress record clears the notes, and at the end the notes left (a batch cut short) are
//! undone, newest first. So a restore holds each customer once, not a second copy of the
//! batch waiting for its confirmation.

use std::ops::Range;
use std::sync::mpsc::{Receiver, Sender};

use compact_str::CompactString;

use super::codec::{ChangelogEntry, ChangelogError, PartitionMeta, decode_changelog};
use crate::domain::{Customer, Engine, customer_hash_bytes};

/// Changelog records copied out of the consumer's messages: their bytes in one buffer.
#[derive(Debug, Default)]
pub struct RawBatch {
    bytes: Vec<u8>,
    records: Vec<RawRecord>,
}

#[derive(Debug)]
struct RawRecord {
    offset: i64,
    key: Option<Range<usize>>,
    payload: Option<Range<usize>>,
}

impl RawBatch {
    pub fn push(&mut self, key: Option<&[u8]>, payload: Option<&[u8]>, offset: i64) {
        let mut copy = |part: Option<&[u8]>| {
            part.map(|b| {
                let start = self.bytes.len();
                self.bytes.extend_from_slice(b);
                start..self.bytes.len()
            })
        };
        let key = copy(key);
        let payload = copy(payload);
        self.records.push(RawRecord {
            offset,
            key,
            payload,
        });
    }

    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    fn clear(&mut self) {
        self.bytes.clear();
        self.records.clear();
    }
}

/// Applies the batches in order until the sender is gone, then undoes what no progress record
/// confirmed; returns the last progress record and how many records were undone. Emptied
/// batches go back through `recycle` for the poller to fill again.
pub fn apply_batches(
    batches: &Receiver<RawBatch>,
    recycle: &Sender<RawBatch>,
    engine: &mut Engine,
) -> Result<(PartitionMeta, usize), ChangelogError> {
    let mut meta = PartitionMeta::default();
    let mut unconfirmed = Unconfirmed::default();
    // The id hashes of a batch's records, for the engine to prefetch a few records ahead
    // (each lookup of a new id otherwise waits on a cache miss in the id index).
    let mut hashes: Vec<Option<u64>> = Vec::new();
    for mut batch in batches {
        hashes.clear();
        hashes.extend(
            batch
                .records
                .iter()
                .map(|r| Some(customer_hash_bytes(&batch.bytes[r.key.clone()?]))),
        );
        for (i, r) in batch.records.iter().enumerate() {
            engine.warm_ahead(i, |j| hashes.get(j).copied().flatten());
            let part = |range: &Option<Range<usize>>| range.clone().map(|r| &batch.bytes[r]);
            match decode_changelog(part(&r.key), part(&r.payload), r.offset)? {
                ChangelogEntry::Meta(m) => {
                    meta = m;
                    unconfirmed.confirm();
                }
                ChangelogEntry::Customer(c) => unconfirmed.put(engine, c),
                ChangelogEntry::Tombstone(id) => unconfirmed.remove(engine, &id),
            }
        }
        batch.clear();
        // The poller may have finished already; then the batch is simply dropped.
        let _ = recycle.send(batch);
    }
    Ok((meta, unconfirmed.undo(engine)))
}

/// The customer records read since the last progress record, each with the state it replaced.
#[derive(Default)]
struct Unconfirmed {
    replaced: Vec<(CompactString, Option<Box<Customer>>)>,
}

impl Unconfirmed {
    fn put(&mut self, engine: &mut Engine, customer: Customer) {
        let id = customer.id.clone();
        let previous = engine.put_customer(customer);
        self.replaced.push((id, previous.map(Box::new)));
    }

    fn remove(&mut self, engine: &mut Engine, id: &str) {
        let previous = engine.remove_customer(id);
        self.replaced.push((id.into(), previous.map(Box::new)));
    }

    fn confirm(&mut self) {
        self.replaced.clear();
    }

    /// Puts back the state from before the unconfirmed records; returns how many there were.
    fn undo(&mut self, engine: &mut Engine) -> usize {
        let count = self.replaced.len();
        for (id, previous) in self.replaced.drain(..).rev() {
            engine.remove_customer(&id);
            if let Some(customer) = previous {
                engine.put_customer(*customer);
            }
        }
        count
    }
}
