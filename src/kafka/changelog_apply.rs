//! The applying side of a changelog restore: batches of decoded records put into the engine,
//! with the records not yet confirmed by a progress record kept undoable.
//!
//! Records go into the engine as they arrive, each with a note of the state it replaced; a
//! progress record clears the notes, and at the end the notes left (a batch cut short) are
//! undone, newest first. So a restore holds each customer once, not a second copy of the
//! batch waiting for its confirmation.

use std::sync::mpsc::{Receiver, Sender};

use compact_str::CompactString;

use super::codec::{
    ChangelogEntry, ChangelogError, EPOCH_HEADER, OwnerEpoch, PartitionMeta, decode_changelog,
    tombstone_epoch,
};
use super::consumer_batches::ConsumedMessage;
use crate::domain::{Customer, Engine, customer_hash_bytes};

/// Changelog records decoded by the polling thread, in order, for the applying thread.
///
/// The polling thread decodes, straight from librdkafka's buffers: with batched reads it had
/// time to spare, while the applier, which decoded before, was the restore's limit.
#[derive(Debug, Default)]
pub struct DecodedBatch {
    /// A record that is not state stays in its place, so the records before it are applied
    /// first and the restore fails at it.
    entries: Vec<Result<ChangelogEntry, ChangelogError>>,
    /// The id hash of each record's key, for the applier to prefetch a few records ahead
    /// (each lookup of a new id otherwise waits on a cache miss in the id index).
    hashes: Vec<Option<u64>>,
}

impl DecodedBatch {
    pub fn push(&mut self, msg: &ConsumedMessage<'_>) {
        let key = msg.key();
        self.hashes.push(key.map(customer_hash_bytes));
        self.entries
            .push(decode_changelog(key, msg.payload(), msg.offset(), || {
                tombstone_epoch(msg.header(EPOCH_HEADER))
            }));
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// What applying a changelog partition found.
#[derive(Debug, Default, Clone)]
pub struct Applied {
    /// The last progress record of the current owner epoch.
    pub meta: PartitionMeta,
    /// Records undone: of a batch that no progress record of its owner confirmed.
    pub discarded: usize,
    /// Records skipped: written by an owner whose epoch had ended (a fenced writer).
    pub fenced: usize,
    /// The highest owner epoch seen in any record (the next owner claims one above it).
    pub max_epoch: OwnerEpoch,
}

/// Applies the batches in order until the sender is gone, then undoes what no progress record
/// confirmed. Emptied batches go back through `recycle` for the poller to fill again.
///
/// Owner epochs: a progress record of a higher epoch than the current one is a new owner's
/// claim; what the previous owner left unconfirmed before it is undone, and from then on a
/// record of a lower epoch is skipped (its writer had lost the partition).
pub fn apply_batches(
    batches: &Receiver<DecodedBatch>,
    recycle: &Sender<DecodedBatch>,
    engine: &mut Engine,
) -> Result<Applied, ChangelogError> {
    let mut applied = Applied::default();
    let mut unconfirmed = Unconfirmed::default();
    for mut batch in batches {
        // An entry per hash: the hashes are what the engine prefetches by.
        let mut entries = batch.entries.drain(..);
        engine.apply_batch(
            &batch.hashes,
            |h| *h,
            |engine, _| {
                let entry = entries.next().expect("an entry per hash")?;
                let current = applied.meta.epoch;
                let epoch = match &entry {
                    ChangelogEntry::Meta(m) => m.epoch,
                    ChangelogEntry::Customer(_, e) | ChangelogEntry::Tombstone(_, e) => *e,
                };
                applied.max_epoch = applied.max_epoch.max(epoch);
                if epoch < current {
                    applied.fenced += 1;
                    return Ok(());
                }
                match entry {
                    ChangelogEntry::Meta(m) => {
                        if m.epoch > current {
                            // A claim: what earlier owners left unconfirmed never counts.
                            applied.discarded += unconfirmed.undo_below(engine, m.epoch);
                        }
                        applied.meta = m;
                        unconfirmed.confirm();
                    }
                    ChangelogEntry::Customer(c, e) => unconfirmed.put(engine, c, e),
                    ChangelogEntry::Tombstone(id, e) => unconfirmed.remove(engine, &id, e),
                }
                Ok::<(), ChangelogError>(())
            },
        )?;
        drop(entries);
        batch.hashes.clear();
        // The poller may have finished already; then the batch is simply dropped.
        let _ = recycle.send(batch);
    }
    applied.discarded += unconfirmed.undo_below(engine, OwnerEpoch::MAX);
    Ok(applied)
}

/// The customer records read since the last progress record, each with the state it replaced,
/// and the range of their owner epochs.
#[derive(Default)]
struct Unconfirmed {
    replaced: Vec<(CompactString, Option<Box<Customer>>)>,
    /// The lowest and highest owner epoch among them (no epoch per record: a restore notes
    /// a million of them, and the notes' size showed in its time).
    epochs: Option<(OwnerEpoch, OwnerEpoch)>,
}

impl Unconfirmed {
    fn note(&mut self, id: CompactString, epoch: OwnerEpoch, previous: Option<Customer>) {
        self.replaced.push((id, previous.map(Box::new)));
        self.epochs = Some(match self.epochs {
            None => (epoch, epoch),
            Some((lo, hi)) => (lo.min(epoch), hi.max(epoch)),
        });
    }

    fn put(&mut self, engine: &mut Engine, customer: Customer, epoch: OwnerEpoch) {
        let id = customer.id.clone();
        let previous = engine.put_customer(customer);
        self.note(id, epoch, previous);
    }

    fn remove(&mut self, engine: &mut Engine, id: &str, epoch: OwnerEpoch) {
        let previous = engine.remove_customer(id);
        self.note(id.into(), epoch, previous);
    }

    fn confirm(&mut self) {
        self.replaced.clear();
        self.epochs = None;
    }

    /// Puts back the state from before the unconfirmed records, newest first, when any of
    /// them is of an owner epoch below `epoch`; returns how many there were. (A new owner
    /// writes nothing before its claim, so records of the claim's own epoch before it come
    /// only from a log written before claims, by owners of epoch 0: those are kept. A mix
    /// of both is undone whole.)
    fn undo_below(&mut self, engine: &mut Engine, epoch: OwnerEpoch) -> usize {
        if self.epochs.is_none_or(|(lo, _)| lo >= epoch) {
            return 0;
        }
        let count = self.replaced.len();
        for (id, previous) in self.replaced.drain(..).rev() {
            engine.remove_customer(&id);
            if let Some(customer) = previous {
                engine.put_customer(*customer);
            }
        }
        self.epochs = None;
        count
    }
}
