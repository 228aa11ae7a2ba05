//! Read models: pure folds over the domain events the services publish.
//!
//! Every published event carries its stream and its version in that stream. A
//! [`Sequencer`] applies each stream's events exactly once and in order: a redelivered
//! version is dropped, a version that arrives before its predecessor waits in a buffer
//! until the gap is filled. Across streams nothing is assumed: each model keeps the
//! facts of each stream apart and joins them when queried, so any interleaving of
//! streams gives the same answers. Anything relative to "today" (upcoming vs past) is
//! computed at query time from the `now` passed in.

pub mod available_seats;
pub mod customer_history;
pub mod sales;
pub mod stuck_payments;
pub mod venue_layout;

use crate::inventory::InventoryEvent;
use crate::order::OrderEvent;
use crate::payment::PaymentEvent;
use crate::show::ShowEvent;
use crate::ticket::TicketEvent;
use crate::ticket::resale::ResaleEvent;
use crate::{OrderId, PaymentId, Recorded, ResaleId, SectionKey, ShowId, TicketId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use available_seats::AvailableSeats;
pub use customer_history::CustomerHistory;
pub use sales::SalesAnalytics;
pub use stuck_payments::StuckPayments;
pub use venue_layout::VenueLayout;

/// Which stream an event belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum StreamId {
    /// A show.
    Show(ShowId),
    /// A section's inventory.
    Inventory(SectionKey),
    /// An order's saga.
    Order(OrderId),
    /// A payment.
    Payment(PaymentId),
    /// A ticket.
    Ticket(TicketId),
    /// A resale saga.
    Resale(ResaleId),
}

/// Any aggregate's recorded event.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DomainEvent {
    /// From a show.
    Show(Recorded<ShowEvent>),
    /// From a section's inventory.
    Inventory(Recorded<InventoryEvent>),
    /// From an order.
    Order(Recorded<OrderEvent>),
    /// From a payment.
    Payment(Recorded<PaymentEvent>),
    /// From a ticket.
    Ticket(Recorded<TicketEvent>),
    /// From a resale purchase.
    Resale(Recorded<ResaleEvent>),
}

/// An event as published: its stream, its version there (1-based) and the event.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Published {
    /// The stream.
    pub stream: StreamId,
    /// Its version in the stream.
    pub version: u64,
    /// The event.
    pub event: DomainEvent,
}

/// A read model: folds each stream's events in order, exactly once.
pub trait Projection {
    /// Fold one event (called in stream order, once per version).
    fn apply(&mut self, stream: StreamId, event: &DomainEvent);
}

/// Per-stream ordering and deduplication of published events.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sequencer {
    applied: BTreeMap<StreamId, u64>,
    waiting: BTreeMap<StreamId, BTreeMap<u64, Published>>,
}

impl Sequencer {
    /// Takes `version` of `stream` in; calls `fold` for every event that is now next in
    /// its stream (`keep` makes the copy that waits for a gap to fill).
    fn accept_with(
        &mut self,
        stream: StreamId,
        version: u64,
        event: &DomainEvent,
        keep: impl FnOnce() -> Published,
        mut fold: impl FnMut(StreamId, &DomainEvent),
    ) {
        // One search of `applied` on the common path (the next version of a known
        // stream), and none of `waiting` while nothing waits.
        let slot = self.applied.get_mut(&stream);
        let applied = slot.as_deref().copied().unwrap_or(0);
        if version <= applied {
            return; // redelivered
        }
        if version > applied + 1 {
            self.waiting
                .entry(stream)
                .or_default()
                .entry(version)
                .or_insert_with(keep);
            return;
        }
        fold(stream, event);
        let mut applied = version;
        if !self.waiting.is_empty()
            && let Some(waiting) = self.waiting.get_mut(&stream)
        {
            while let Some(next) = waiting.remove(&(applied + 1)) {
                fold(stream, &next.event);
                applied += 1;
            }
            if waiting.is_empty() {
                self.waiting.remove(&stream);
            }
        }
        match slot {
            Some(slot) => *slot = applied,
            None => {
                self.applied.insert(stream, applied);
            }
        }
    }

    /// Whether `version` of `stream` was taken in already (applied, or waiting for a
    /// gap to fill): a redelivery, which changes nothing.
    pub fn has_seen(&self, stream: StreamId, version: u64) -> bool {
        version <= self.applied(stream)
            || !self.waiting.is_empty()
                && self
                    .waiting
                    .get(&stream)
                    .is_some_and(|waiting| waiting.contains_key(&version))
    }

    /// The last version applied for `stream`.
    pub fn applied(&self, stream: StreamId) -> u64 {
        self.applied.get(&stream).copied().unwrap_or(0)
    }

    /// How many events wait for a gap to fill.
    pub fn waiting(&self) -> usize {
        self.waiting.values().map(BTreeMap::len).sum()
    }
}

/// All five read models behind one sequencer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadModels {
    sequencer: Sequencer,
    /// Available seats per section.
    pub available_seats: AvailableSeats,
    /// Sales per show per UTC day.
    pub sales: SalesAnalytics,
    /// Orders per customer.
    pub customer_history: CustomerHistory,
    /// Seat statuses per numbered section.
    pub venue_layout: VenueLayout,
    /// Refunds, voids and payouts we owe and the gateway has not settled.
    pub stuck_payments: StuckPayments,
}

impl ReadModels {
    /// Empty read models.
    pub fn new() -> ReadModels {
        ReadModels::default()
    }

    /// Take in one published event (in any order, any number of times).
    pub fn observe(&mut self, published: Published) {
        self.observe_ref(&published);
    }

    /// Whether `version` of `stream` was taken in already: observing it again changes
    /// nothing.
    pub fn has_seen(&self, stream: StreamId, version: u64) -> bool {
        self.sequencer.has_seen(stream, version)
    }

    /// The last version of `stream` folded in (0: none); later ones may wait for a gap.
    pub fn applied(&self, stream: StreamId) -> u64 {
        self.sequencer.applied(stream)
    }

    /// [`ReadModels::observe`] by reference: the event is cloned only when it has to
    /// wait for an earlier one of its stream.
    pub fn observe_ref(&mut self, published: &Published) {
        self.observe_event(published.stream, published.version, &published.event);
    }

    /// Takes in `event` as the next version of `stream`, as a refold of an event log
    /// does (a log holds a stream's events in order, with no gap): the version is
    /// counted by the sequencer itself, so the refold needs no map of its own, and
    /// while nothing waits (always, in a refold) the sequencer is searched once.
    pub fn fold_next(&mut self, stream: StreamId, event: &DomainEvent) {
        if !self.sequencer.waiting.is_empty() {
            let version = self.sequencer.applied(stream) + 1;
            return self.observe_event(stream, version, event);
        }
        *self.sequencer.applied.entry(stream).or_insert(0) += 1;
        self.available_seats.apply(stream, event);
        self.sales.apply(stream, event);
        self.customer_history.apply(stream, event);
        self.venue_layout.apply(stream, event);
        self.stuck_payments.apply(stream, event);
    }

    /// [`ReadModels::observe`] of the publication of `event` as `version` of `stream`;
    /// the event is cloned only when it has to wait for an earlier one of its stream.
    pub fn observe_event(&mut self, stream: StreamId, version: u64, event: &DomainEvent) {
        let ReadModels {
            sequencer,
            available_seats,
            sales,
            customer_history,
            venue_layout,
            stuck_payments,
        } = self;
        let keep = || Published {
            stream,
            version,
            event: event.clone(),
        };
        sequencer.accept_with(stream, version, event, keep, |stream, event| {
            available_seats.apply(stream, event);
            sales.apply(stream, event);
            customer_history.apply(stream, event);
            venue_layout.apply(stream, event);
            stuck_payments.apply(stream, event);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OrderId;
    use crate::order::OrderEvent;
    use crate::{Actor, CommandId, Recorded, Timestamp};

    fn published(order: u64, version: u64) -> Published {
        Published {
            stream: StreamId::Order(OrderId(order)),
            version,
            event: DomainEvent::Order(Recorded {
                command: CommandId(version),
                actor: Actor::Service,
                now: Timestamp(version),
                fingerprint: 0,
                event: OrderEvent::HoldExtended,
            }),
        }
    }

    #[test]
    fn fold_next_is_observe_with_the_version_counted() {
        let events = [
            published(7, 1),
            published(8, 1),
            published(7, 2),
            published(7, 3),
        ];
        let mut observed = ReadModels::new();
        let mut folded = ReadModels::new();
        for event in &events {
            observed.observe_ref(event);
            folded.fold_next(event.stream, &event.event);
        }
        assert_eq!(folded, observed);
        // Behind a gap it takes the next version all the same.
        let mut gapped = ReadModels::new();
        gapped.observe(published(9, 2));
        gapped.fold_next(StreamId::Order(OrderId(9)), &published(9, 1).event);
        assert_eq!(gapped.sequencer.applied(StreamId::Order(OrderId(9))), 2);
        assert_eq!(gapped.sequencer.waiting(), 0);
    }

    #[test]
    fn has_seen_knows_applied_and_waiting_versions_and_nothing_else() {
        let mut models = ReadModels::new();
        let stream = StreamId::Order(OrderId(7));
        assert!(!models.has_seen(stream, 1));
        models.observe(published(7, 1));
        models.observe(published(7, 3)); // waits for version 2
        assert!(models.has_seen(stream, 1), "applied");
        assert!(!models.has_seen(stream, 2), "the gap");
        assert!(models.has_seen(stream, 3), "waiting");
        assert!(!models.has_seen(stream, 4));
        assert!(
            !models.has_seen(StreamId::Order(OrderId(8)), 1),
            "another stream"
        );
        // What a mirror of the models stores per stream (found by mutation testing):
        // the last version folded in, and how many wait behind a gap.
        assert_eq!(models.applied(stream), 1);
        assert_eq!(models.sequencer.waiting(), 1);
        models.observe(published(7, 2));
        assert!(models.has_seen(stream, 2) && models.has_seen(stream, 3));
        assert_eq!(
            models.applied(stream),
            3,
            "the gap filled, the waiting one folded"
        );
        assert_eq!(models.sequencer.waiting(), 0);
        assert_eq!(models.applied(StreamId::Order(OrderId(8))), 0, "never seen");
    }
}
