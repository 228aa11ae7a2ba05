//! Sales analytics: per show per UTC day, tickets sold, revenue and refunds in cents.
//!
//! A sale counts on the day its order completed (the capture), for the order's total.
//! A refund of a ticket counts on the day the gateway paid it (the payment's
//! `Refunded`), whichever payment it went to (the original one or a resale buyer's),
//! not on the day it was asked for: a refund the gateway has not paid yet is not a
//! refund in the books. Refunds that undo a purchase that never completed (a saga's
//! compensation) and payouts to resellers are not counted: they move no revenue.
//! Each stream's facts are kept by stream, and a refund whose order is not known yet
//! waits for it, so the order of streams does not matter.

use super::{DomainEvent, Projection, StreamId};
use crate::money::Money;
use crate::order::OrderEvent;
use crate::payment::PaymentEvent;
use crate::{OrderId, RefundId, ShowId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One show's sales on one UTC day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DaySales {
    /// Tickets sold.
    pub tickets_sold: u64,
    /// Revenue.
    pub revenue: Money,
    /// Refunds paid by the gateway.
    pub refunds: Money,
}

/// The sales-analytics read model.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesAnalytics {
    days: BTreeMap<(ShowId, u64), DaySales>,
    orders: BTreeMap<OrderId, (ShowId, Money)>,
    /// Refunds paid for tickets of an order whose `Initiated` is not seen yet, by day.
    waiting: BTreeMap<OrderId, BTreeMap<u64, Money>>,
}

impl SalesAnalytics {
    /// The sales of `show` on UTC day `day` (days since the epoch).
    pub fn day(&self, show: ShowId, day: u64) -> DaySales {
        self.days.get(&(show, day)).copied().unwrap_or_default()
    }

    /// Every day of `show` with activity, oldest first.
    pub fn show(&self, show: ShowId) -> Vec<(u64, DaySales)> {
        self.days
            .range((show, 0)..=(show, u64::MAX))
            .map(|((_, day), sales)| (*day, *sales))
            .collect()
    }
}

fn add(total: &mut Money, amount: Money) {
    *total = total.checked_add(amount).unwrap_or(Money(u64::MAX));
}

impl Projection for SalesAnalytics {
    fn apply(&mut self, stream: StreamId, event: &DomainEvent) {
        match (stream, event) {
            (StreamId::Order(order), DomainEvent::Order(recorded)) => match &recorded.event {
                OrderEvent::Initiated { section, quote, .. } => {
                    let show = section.show;
                    self.orders.insert(order, (show, quote.total));
                    for (day, amount) in self.waiting.remove(&order).unwrap_or_default() {
                        add(
                            &mut self.days.entry((show, day)).or_default().refunds,
                            amount,
                        );
                    }
                }
                OrderEvent::Completed { tickets } => {
                    // The quote came with the same stream's `Initiated`, so it is known.
                    let Some((show, total)) = self.orders.get(&order).copied() else {
                        return;
                    };
                    let day = self.days.entry((show, recorded.now.utc_day())).or_default();
                    day.tickets_sold += tickets.len() as u64;
                    add(&mut day.revenue, total);
                }
                _ => {}
            },
            (StreamId::Payment(_), DomainEvent::Payment(recorded)) => {
                let PaymentEvent::Refunded {
                    refund:
                        RefundId {
                            ticket: Some(ticket),
                            ..
                        },
                    amount,
                } = &recorded.event
                else {
                    return;
                };
                // A ticket is minted by its order: the order names the show.
                let day = recorded.now.utc_day();
                match self.orders.get(&ticket.order) {
                    Some((show, _)) => {
                        add(
                            &mut self.days.entry((*show, day)).or_default().refunds,
                            *amount,
                        );
                    }
                    None => add(
                        self.waiting
                            .entry(ticket.order)
                            .or_default()
                            .entry(day)
                            .or_default(),
                        *amount,
                    ),
                }
            }
            _ => {}
        }
    }
}
