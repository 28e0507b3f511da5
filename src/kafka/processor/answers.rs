//! Answers to the questions the HTTP server sends into the loop (see `queries`): asked
//! between two polls, each costs a lookup or two in the engines.

use std::collections::{BTreeMap, BTreeSet};

use super::super::queries::{
    CustomerAnswer, CustomerQuery, PartitionStatus, Query, QueryInbox, Status,
};
use super::{Partition, Processor, Settings};
use crate::domain::inspect::{Position, customer_view};
use crate::domain::uplift::Uplift;
use crate::domain::voc::Voc;

/// What answers need of the processor, borrowed apart from its commit protocol, so that the
/// protocol can answer the waiting queries while it waits for the broker (see
/// `Pipeline::advance`).
pub(super) struct Holdings<'a> {
    pub partitions: &'a BTreeMap<i32, Partition>,
    pub pending: &'a BTreeSet<i32>,
    pub settings: &'a Settings,
    pub inbox: &'a QueryInbox,
}

impl Processor {
    /// Answers every question waiting (the HTTP server's): between polls, and while a
    /// commit waits.
    pub fn answer_waiting(&self) {
        self.holdings().answer_waiting();
    }

    /// Answers one question now (an asker holding the processor's lock).
    pub fn answer_now(&self, query: Query) {
        self.holdings().answer(query);
    }

    pub(super) fn holdings(&self) -> Holdings<'_> {
        Holdings {
            partitions: &self.partitions,
            pending: &self.pending,
            settings: &self.settings,
            inbox: &self.inbox,
        }
    }
}

impl Holdings<'_> {
    pub fn answer_waiting(&self) {
        self.inbox.answer_waiting(|q| self.answer(q));
    }

    /// Answers a question from outside the loop.
    fn answer(&self, query: Query) {
        match query {
            Query::Status(reply) => reply.send(self.status()),
            Query::Customer(q, reply) => reply.send(self.customer(&q)),
            Query::Voc(reply) => reply.send(Box::new(self.voc())),
        }
    }

    /// The voice-of-the-customer report of the partitions held here (SPEC 10: "this
    /// instance's partitions"), whichever instance counted their answers.
    fn voc(&self) -> crate::domain::voc::VocReport {
        // Every partition's features by name: the report is not a metric label.
        let mut voc = Voc::new(usize::MAX);
        let mut uplift = Uplift::default();
        for part in self.partitions.values() {
            voc.merge(&part.counts.voc);
            uplift.merge(&part.counts.uplift);
        }
        voc.report_with(&uplift)
    }

    fn status(&self) -> Status {
        Status {
            guarantee: self.settings.guarantee,
            clock: self.settings.clock,
            partitions: self
                .partitions
                .iter()
                .map(|(&partition, part)| PartitionStatus {
                    partition,
                    customers: part.engine.customer_count(),
                    timers_pending: part.engine.pending_timers(),
                    clock: part.engine.clock(),
                    applied_offset: part.applied_offset,
                    epoch: part.epoch,
                })
                .collect(),
            restoring: self.pending.iter().copied().collect(),
        }
    }

    /// The customer's view, if it is here: in the partition the partitioner gives it, or in
    /// any other held here (a producer that partitions differently still gets its answer
    /// from the owner it reached).
    fn customer(&self, q: &CustomerQuery) -> CustomerAnswer {
        let id = q.customer_id.as_str();
        let holds = |part: &Partition| part.engine.customer(id).is_some();
        let found = q
            .partition
            .and_then(|p| self.partitions.get_key_value(&p))
            .filter(|(_, part)| holds(part))
            .or_else(|| self.partitions.iter().find(|(_, part)| holds(part)));
        let behind = |part: &Partition| {
            q.min_position
                .is_some_and(|min| part.applied_offset.is_none_or(|a| a < min))
        };
        if let Some((&p, part)) = found {
            if behind(part) {
                return CustomerAnswer::Behind {
                    applied: part.applied_offset,
                };
            }
            let customer = part.engine.customer(id).expect("found above");
            let mut view = customer_view(customer, part.engine.rules(), part.engine.clock());
            view.position = Some(Position::Partition {
                partition: p,
                offset: part.applied_offset,
            });
            return CustomerAnswer::Found(Box::new(view));
        }
        match q.partition {
            Some(p) => match self.partitions.get(&p) {
                Some(part) if behind(part) => CustomerAnswer::Behind {
                    applied: part.applied_offset,
                },
                Some(_) => CustomerAnswer::Unknown,
                None if self.pending.contains(&p) => CustomerAnswer::Restoring,
                None => CustomerAnswer::NotHere,
            },
            None => CustomerAnswer::NotHere,
        }
    }
}
