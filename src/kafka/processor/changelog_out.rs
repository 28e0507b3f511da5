//! The changelog records of a batch, serialized at its end, with the waiting queries answered
//! between pieces: a batch of 100,000 events touches tens of thousands of customers, and
//! serializing them all at once held a query up for ~10 ms (`BENCH_ONLY=queries`).

use super::Processor;
use crate::domain::voc::VocCounts;
use crate::kafka::codec::{PARTITION_META_KEY, PartitionMeta, encode_customer_owned, encode_meta};
use crate::kafka::commit::ChangelogRecord;

/// Customers serialized between two looks at the waiting queries (~0.3 ms).
const PIECE: usize = 1024;

impl Processor {
    /// The changelog records of the batch (the state at the batch's end): touched
    /// customers, then each touched partition's progress record.
    pub(super) fn changelog_records(&mut self) -> Vec<ChangelogRecord> {
        let touched = &self.commit.out().batch().next_offsets;
        let sets: Vec<_> = (self.partitions.iter_mut())
            .filter(|(p, part)| part.engine.has_changes() || touched.contains_key(p))
            .map(|(&p, part)| (p, part.engine.take_change_set()))
            .collect();
        let mut records = Vec::with_capacity(sets.iter().map(|(_, set)| set.len() + 1).sum());
        for (p, set) in &sets {
            let part = &self.partitions[p];
            let epoch = part.epoch;
            for (i, (id, customer)) in part.engine.changed(set).enumerate() {
                records.push(ChangelogRecord {
                    partition: *p,
                    key: id.as_bytes().into(),
                    payload: customer.map(|c| encode_customer_owned(c, epoch)),
                    tombstone_epoch: customer.is_none().then_some(epoch),
                });
                if i % PIECE == PIECE - 1 {
                    // The engines are as the batch left them: an answer sees its end.
                    self.answer_waiting();
                }
            }
            records.push(ChangelogRecord {
                partition: *p,
                key: PARTITION_META_KEY.into(),
                payload: Some(encode_meta(&PartitionMeta {
                    clock: part.engine.clock(),
                    applied_offset: part.applied_offset,
                    epoch,
                    voc: VocCounts::of(&part.counts.voc, &part.counts.uplift).map(Box::new),
                })),
                tombstone_epoch: None,
            });
        }
        for (p, set) in sets {
            if let Some(part) = self.partitions.get_mut(&p) {
                part.engine.recycle_changes(set);
            }
        }
        records
    }
}
