//! Sales analytics: per show per UTC day, tickets sold, revenue and refunds in cents.
//!
//! A sale counts on the day its order completed (the capture), for the order's total;
//! a refund counts on the day of the ticket event that asked it (a customer's
//! cancellation by the policy, or the show's cancellation). Resale purchases move a
//! ticket between customers and are not primary sales. Each stream's facts are kept
//! by stream, so the order of streams does not matter.

use super::{DomainEvent, Projection, StreamId};
use crate::money::Money;
use crate::order::OrderEvent;
use crate::ticket::TicketEvent;
use crate::{OrderId, ShowId, TicketId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One show's sales on one UTC day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DaySales {
    /// Tickets sold.
    pub tickets_sold: u64,
    /// Revenue.
    pub revenue: Money,
    /// Refunds asked.
    pub refunds: Money,
}

/// The sales-analytics read model.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SalesAnalytics {
    days: BTreeMap<(ShowId, u64), DaySales>,
    orders: BTreeMap<OrderId, (ShowId, Money)>,
    tickets: BTreeMap<TicketId, ShowId>,
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
                    self.orders.insert(order, (section.show, quote.total));
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
            (StreamId::Ticket(ticket), DomainEvent::Ticket(recorded)) => {
                let show = match &recorded.event {
                    TicketEvent::Issued { section, .. } => {
                        self.tickets.insert(ticket, section.show);
                        return;
                    }
                    _ => match self.tickets.get(&ticket) {
                        Some(show) => *show,
                        None => return,
                    },
                };
                let refund = match &recorded.event {
                    TicketEvent::Cancelled { refund, .. } => *refund,
                    TicketEvent::ShowCancelledRefunded { refunds } => {
                        Money::sum(refunds.iter().map(|(_, amount)| *amount)).unwrap_or_default()
                    }
                    _ => return,
                };
                let day = self.days.entry((show, recorded.now.utc_day())).or_default();
                add(&mut day.refunds, refund);
            }
            _ => {}
        }
    }
}
