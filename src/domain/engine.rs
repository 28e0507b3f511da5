//! The lifecycle engine (SPEC section 2): applies one event at a time, fires due timers
//! first, and appends the resulting records. Pure and deterministic: the same inputs give
//! the same records, and a snapshot restored into a fresh engine continues identically.

use serde::{Deserialize, Serialize};

use super::action::{Cause, Reason};
pub use super::changes::ChangeSet;
use super::changes::Changes;
use super::customer::{Customer, Stage, event_id_hash};
use super::event::{Event, Payload};
use super::explain::Why;
use super::planner::{PlannedActions, emit, entry_planned, event_actions, risk_planned};
use super::record::{Facts, Record, RecordSink, RecordType, Rfc3339, Transition};
use super::record_schema::SchemaVersion;
use super::rules::Rules;
use super::steps::{
    NetChange, Steps, note_entry, set_stage, timer_move, transition_record, update_counters,
    with_p_alive,
};
use super::store::{Slot, Store};
pub use super::store::{customer_hash, customer_hash_bytes};
use super::time::Timestamp;
use super::uplift::on_conversion;

/// The two hashes applying an event needs: of its customer id (the store's index) and of its
/// event id (the duplicate check).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventHashes {
    pub customer: u64,
    pub event_id: u64,
}

impl EventHashes {
    pub fn of(event: &Event) -> EventHashes {
        EventHashes {
            customer: customer_hash(&event.customer_id),
            event_id: event_id_hash(&event.event_id),
        }
    }
}

/// How many events ahead each step of [`Engine::warm_ahead`] works: far enough that a read
/// from memory (~100 ns) completes while the events in between are applied.
const WARM_DISTANCE: usize = 4;

/// What became of one valid event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// Applied to its customer's state (records may or may not follow).
    Applied,
    /// Its event id was already applied for this customer: nothing changed.
    Duplicate,
    /// A type this processor does not know: counted, skipped.
    Ignored,
    /// `customer_erased` for a customer with no state: nothing to do.
    NothingToErase,
    /// Kafka mode: this input offset was already applied to the customer (a re-delivery
    /// after a crash or rebalance): nothing changed.
    AlreadyApplied,
    /// Kafka mode, `key_mismatch = "repartition"`: produced again under its customer id,
    /// to be applied when read from that customer's partition.
    Repartitioned,
}

impl Outcome {
    pub const ALL: [Outcome; 6] = [
        Outcome::Applied,
        Outcome::Duplicate,
        Outcome::Ignored,
        Outcome::NothingToErase,
        Outcome::AlreadyApplied,
        Outcome::Repartitioned,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::Duplicate => "duplicate",
            Outcome::Ignored => "ignored",
            Outcome::NothingToErase => "nothing_to_erase",
            Outcome::AlreadyApplied => "already_applied",
            Outcome::Repartitioned => "repartitioned",
        }
    }
}

/// Everything an engine needs to continue elsewhere: its clock and its customers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub clock: Option<Timestamp>,
    pub customers: Vec<Customer>,
}

/// Where the engine's clock comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ClockMode {
    /// Event time: every valid event advances the clock to its `occurred_at`.
    #[default]
    Event,
    /// The driver advances the clock (wall-clock time); events do not move it.
    External,
}

#[derive(Debug)]
pub struct Engine {
    rules: Rules,
    store: Store,
    clock: Option<Timestamp>,
    clock_mode: ClockMode,
    /// The customers changed since the last `take_changes`, when tracked.
    changes: Option<Changes>,
}

impl Engine {
    pub fn new(rules: Rules) -> Engine {
        Engine {
            rules,
            store: Store::default(),
            clock: None,
            clock_mode: ClockMode::Event,
            changes: None,
        }
    }

    /// Tracks the customers that events and timers change, for
    /// [`take_changes`](Self::take_changes). Customers put or removed directly (restoring)
    /// are not tracked.
    pub fn with_change_tracking(mut self) -> Engine {
        self.changes = Some(Changes::default());
        self
    }

    /// Hands each customer changed since the last call (or since tracking began) to `write`,
    /// with its state, or `None` when it no longer exists (erased). Does nothing unless
    /// [`with_change_tracking`](Self::with_change_tracking).
    pub fn take_changes(&mut self, mut write: impl FnMut(&str, Option<&Customer>)) {
        let set = self.take_change_set();
        for (id, customer) in self.changed(&set) {
            write(id, customer);
        }
        self.recycle_changes(set);
    }

    /// The changes since the last take, to read with [`changed`](Self::changed) (while the
    /// engine is not borrowed mutably, e.g. in pieces with other reads between them) and give
    /// back with [`recycle_changes`](Self::recycle_changes).
    pub fn take_change_set(&mut self) -> ChangeSet {
        self.changes.as_mut().map(Changes::take).unwrap_or_default()
    }

    /// The changes of `set` as [`take_changes`](Self::take_changes) hands them over: each
    /// erased id not seen again (`None`), then each changed customer.
    pub fn changed<'a>(
        &'a self,
        set: &'a ChangeSet,
    ) -> impl Iterator<Item = (&'a str, Option<&'a Customer>)> + 'a {
        // Erased, then seen again: its state (from its new slot) is what counts.
        let erased = (set.erased.iter())
            .filter(|id| self.store.find(id).is_none())
            .map(|id| (id.as_str(), None));
        // A slot freed by an erasure and not reused since holds nobody.
        let changed = (set.slots.iter())
            .filter_map(|&slot| self.store.occupant(slot))
            .map(|customer| (customer.id.as_str(), Some(customer)));
        erased.chain(changed)
    }

    /// Gives back a set [`take_change_set`](Self::take_change_set) returned, for its memory.
    pub fn recycle_changes(&mut self, set: ChangeSet) {
        if let Some(changes) = &mut self.changes {
            changes.recycle(set);
        }
    }

    /// Whether anything changed since the last [`take_changes`](Self::take_changes).
    pub fn has_changes(&self) -> bool {
        self.changes.as_ref().is_some_and(|c| !c.is_empty())
    }

    fn mark_changed(&mut self, slot: Slot) {
        if let Some(changes) = &mut self.changes {
            changes.mark(slot);
        }
    }

    pub fn with_clock_mode(mut self, mode: ClockMode) -> Engine {
        self.clock_mode = mode;
        self
    }

    /// A fresh engine that continues from `snapshot`; timers are re-derived from state.
    pub fn restore(rules: Rules, snapshot: Snapshot) -> Engine {
        let mut engine = Engine::new(rules);
        engine.clock = snapshot.clock;
        for customer in snapshot.customers {
            engine.put_customer(customer);
        }
        engine
    }

    /// The engine's state, customers in id order (so equal states serialize equally).
    pub fn snapshot(&self) -> Snapshot {
        let mut customers: Vec<Customer> = self.store.iter().cloned().collect();
        customers.sort_by(|a, b| a.id.cmp(&b.id));
        Snapshot {
            clock: self.clock,
            customers,
        }
    }

    /// Works through `items` in order, calling `each` with the engine for every item: the
    /// one entry point for a driver with many events (or restored customers) at hand.
    /// `customer_of(item)` is the [`customer_hash`] of the item's customer (`None` for an
    /// item without one, a rejected line say), so that the customers of the items a few
    /// places ahead are fetched from memory while the engine works on this one (see
    /// `warm_ahead`): the results are the same as calling `each` in a plain loop. The first
    /// error `each` returns stops the batch and is returned.
    pub fn apply_batch<T, E>(
        &mut self,
        items: &[T],
        customer_of: impl Fn(&T) -> Option<u64>,
        mut each: impl FnMut(&mut Engine, &T) -> Result<(), E>,
    ) -> Result<(), E> {
        for (i, item) in items.iter().enumerate() {
            self.warm_ahead(i, |j| items.get(j).and_then(&customer_of));
            each(self, item)?;
        }
        Ok(())
    }

    /// Prefetch hints for a batch of events, to call before applying event `i` of it;
    /// `hash_at(j)` is the [`customer_hash`] of event `j`'s customer (`None` past the end).
    ///
    /// Applying an event waits on memory (the index, the customer, its heap parts, its
    /// timer); this starts those reads for the events a few places ahead, in three steps
    /// each depending on the one before, so they arrive while the engine works on the
    /// events in between. Only a hint: results are the same without it.
    fn warm_ahead(&self, i: usize, hash_at: impl Fn(usize) -> Option<u64>) {
        if let Some(hash) = hash_at(i + 3 * WARM_DISTANCE) {
            self.store.warm_index(hash);
        }
        if let Some(hash) = hash_at(i + 2 * WARM_DISTANCE) {
            self.store.warm_customer(hash);
        }
        if let Some(hash) = hash_at(i + WARM_DISTANCE) {
            self.store.warm_heap(hash);
        }
    }

    /// Makes room for about `additional` more customers (a hint; restoring from a changelog).
    pub fn reserve_customers(&mut self, additional: usize) {
        self.store.reserve(additional);
    }

    /// Adds or replaces one customer's state (restoring from a changelog); returns the state
    /// it replaced.
    pub fn put_customer(&mut self, customer: Customer) -> Option<Customer> {
        let replaced = self
            .store
            .find(&customer.id)
            .map(|slot| self.store.remove(slot));
        let timer = customer.timer(&self.rules).map(|t| t.fires_at);
        let slot = self.store.insert(customer);
        self.store.set_timer(slot, timer);
        replaced
    }

    /// Sets the clock as it was recorded, without firing anything (restoring from a changelog).
    pub fn restore_clock(&mut self, clock: Option<Timestamp>) {
        self.clock = clock;
    }

    /// Forgets one customer (a changelog tombstone).
    pub fn remove_customer(&mut self, id: &str) -> Option<Customer> {
        self.store.find(id).map(|slot| self.store.remove(slot))
    }

    pub fn customer(&self, id: &str) -> Option<&Customer> {
        self.store.find(id).map(|slot| self.store.get(slot))
    }

    pub fn customers(&self) -> impl Iterator<Item = &Customer> {
        self.store.iter()
    }

    pub fn customer_count(&self) -> usize {
        self.store.len()
    }

    pub fn pending_timers(&self) -> usize {
        self.store.pending_timers()
    }

    /// When the earliest armed timer fires.
    pub fn next_timer(&self) -> Option<Timestamp> {
        self.store.next_timer()
    }

    pub fn clock(&self) -> Option<Timestamp> {
        self.clock
    }

    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// Advances the clock to `to` (it never goes back) and fires every due timer in order of
    /// firing time, then customer id.
    pub fn advance_clock(&mut self, to: Timestamp, out: &mut dyn RecordSink) {
        let clock = self.clock.map_or(to, |c| c.max(to));
        self.clock = Some(clock);
        loop {
            let due = self.store.take_due(clock);
            if due.is_empty() {
                self.store.warm_next_due();
                return;
            }
            let mut next = 0;
            while next < due.len() {
                // A timer armed by an earlier firing may be due before the next taken one.
                let taken_at = due[next].0;
                let at = self
                    .store
                    .next_timer()
                    .map_or(taken_at, |t| t.min(taken_at));
                let mut group: Vec<Slot> = Vec::new();
                while next < due.len() && due[next].0 == at {
                    group.push(due[next].1);
                    next += 1;
                }
                if self.store.next_timer() == Some(at) {
                    // `at` is the earliest armed time: these are exactly the timers due at it.
                    group.extend(self.store.take_due(at).into_iter().map(|(_, slot)| slot));
                }
                group.sort_by(|&a, &b| self.store.get(a).id.cmp(&self.store.get(b).id));
                for slot in group {
                    self.fire(slot, at, out);
                }
            }
        }
    }

    /// Applies one valid event: advances the clock by its time (firing due timers), then
    /// applies it to its customer unless it is ignored or a duplicate.
    pub fn apply(&mut self, event: &Event, out: &mut dyn RecordSink) -> Outcome {
        self.apply_at(event, None, out)
    }

    /// [`apply`](Self::apply) for an event read at input `offset`: an offset at or below the
    /// customer's last applied one is a re-delivery and changes nothing.
    pub fn apply_at(
        &mut self,
        event: &Event,
        offset: Option<i64>,
        out: &mut dyn RecordSink,
    ) -> Outcome {
        self.apply_hashed(event, EventHashes::of(event), offset, out)
    }

    /// [`apply_at`](Self::apply_at) with the event's hashes ([`EventHashes::of`]) taken
    /// before, where they were needed anyway (for `warm_ahead`) or off the engine's thread
    /// (replay takes them on its decoding thread).
    pub fn apply_hashed(
        &mut self,
        event: &Event,
        hashes: EventHashes,
        offset: Option<i64>,
        out: &mut dyn RecordSink,
    ) -> Outcome {
        if self.clock_mode == ClockMode::Event {
            self.advance_clock(event.occurred_at, out);
        }
        let Some(payload) = event.payload else {
            return Outcome::Ignored;
        };
        let hash = hashes.event_id;
        let found = self.store.find_hashed(&event.customer_id, hashes.customer);
        if let Some(slot) = found {
            let customer = self.store.get(slot);
            if offset.is_some() && customer.last_offset >= offset {
                return Outcome::AlreadyApplied;
            }
            if customer.recent.contains(hash) {
                return Outcome::Duplicate;
            }
        }
        if payload == Payload::CustomerErased {
            return match found {
                Some(slot) => {
                    self.erase(slot, event, out);
                    Outcome::Applied
                }
                None => Outcome::NothingToErase,
            };
        }
        let at = event.occurred_at;
        let event_type = payload.event_type();
        let (slot, mut net, first_seen) = match found {
            Some(slot) => {
                let before = Some(self.store.get(slot).stage);
                (slot, NetChange { before, last: None }, None)
            }
            None => {
                let explain = Why::FirstSeen(event_type);
                let mut customer = Customer::new(&event.customer_id, at);
                note_entry(
                    &mut customer,
                    &explain,
                    Reason::FirstSeen,
                    Some(&event.event_id),
                );
                let slot = self.store.insert_hashed(customer, hashes.customer);
                let net = NetChange {
                    before: None,
                    last: None,
                };
                (slot, net, Some(explain))
            }
        };
        self.mark_changed(slot);
        let rules = &self.rules;
        let customer = self.store.get_mut(slot);
        let milestone = update_counters(customer, &payload, at, rules);
        if let Some(explain) = first_seen {
            // Written after the counters, so that its P(alive) counts the event's own
            // purchase, as every record's does (SPEC 8; it differs under `mbg_nbd`).
            let facts = Facts {
                event_type: Some(event_type),
                ..Facts::default()
            };
            let facts = with_p_alive(facts, customer, at, rules);
            out.push(transition_record(
                customer,
                None,
                Reason::FirstSeen,
                at,
                Some(&event.event_id),
                explain,
                facts.clone(),
            ));
            net.last = Some((Stage::Prospect, Reason::FirstSeen, explain, facts));
        }
        let converts = rules.conversion_events.contains(event_type)
            && !matches!(payload, Payload::Purchase { amount, .. } if amount <= 0.0);
        if converts && let Some(holdout) = &rules.holdout {
            on_conversion(customer, at, holdout, &mut *out);
        }

        // Rules 3-6, in order, each on the stage the previous one left.
        let mut steps = Steps {
            rules,
            at,
            event,
            net: &mut net,
            out: &mut *out,
        };
        steps.rules_3_to_6(customer, event_type, converts, rules);
        customer.recent.push(hash);
        if offset.is_some() {
            customer.last_offset = offset;
        }

        let mut planned = PlannedActions::new();
        if let Some((after, reason, explain, facts)) = &net.last {
            planned.push(entry_planned(net.before, *after, *reason, *explain, facts));
        }
        event_actions(customer, &payload, milestone, &mut planned);
        // Drained in place: moving the actions into `emit` copied ~0.6 KB per event.
        emit(
            customer,
            planned.drain(..),
            at,
            &Cause::Event {
                id: &event.event_id,
                at: event.occurred_at,
            },
            rules,
            out,
        );
        self.rearm(slot);
        Outcome::Applied
    }

    fn erase(&mut self, slot: Slot, event: &Event, out: &mut dyn RecordSink) {
        let customer = self.store.remove(slot);
        if let Some(changes) = &mut self.changes {
            changes.erased(customer.id.clone());
        }
        out.push(Record::Transition(Transition {
            record_type: RecordType::Transition,
            customer_id: customer.id.clone(),
            from: Some(customer.stage),
            to: None,
            reason: Reason::Erased,
            at: Rfc3339(event.occurred_at),
            event_id: Some(event.event_id.as_ref().into()),
            seq: customer.seq + 1,
            explain: Why::Erased,
            facts: Facts::default(),
            schema_version: SchemaVersion,
        }));
    }

    /// Fires the (already disarmed) timer of `slot`, due at `fires_at`, and any timer its
    /// transition arms for the same instant.
    fn fire(&mut self, slot: Slot, fires_at: Timestamp, out: &mut dyn RecordSink) {
        // Marked even in the rare case below that finds no timer (the state is then written
        // once more, unchanged).
        self.mark_changed(slot);
        let rules = &self.rules;
        let customer = self.store.get_mut(slot);
        let Some(timer) = customer.timer(rules) else {
            return;
        };
        let at = timer.stamp;
        let cause = Cause::Timer {
            kind: timer.kind,
            stamp: timer.stamp,
        };
        let planned = match timer_move(customer, &timer, rules) {
            Some(m) => {
                let from = customer.stage;
                set_stage(customer, &m, at, None);
                let facts = with_p_alive(m.facts, customer, at, rules);
                let planned = entry_planned(Some(from), m.to, m.reason, m.explain, &facts);
                out.push(transition_record(
                    customer,
                    Some(from),
                    m.reason,
                    at,
                    None,
                    m.explain,
                    facts,
                ));
                planned
            }
            None => {
                // `churn_risk`: an action, no transition; not again before a transaction.
                customer.risk_fired = true;
                risk_planned(customer, at, rules)
            }
        };
        emit(customer, [planned], at, &cause, rules, out);
        match customer.timer(rules) {
            // Only with zero-day rules: the next timer is due at this very instant, and this
            // customer still sorts first among those due now.
            Some(next) if next.fires_at <= fires_at => self.fire(slot, fires_at, out),
            next => self.store.set_timer(slot, next.map(|t| t.fires_at)),
        }
    }

    fn rearm(&mut self, slot: Slot) {
        let timer = self.store.get(slot).timer(&self.rules).map(|t| t.fires_at);
        self.store.set_timer(slot, timer);
    }
}
