//! Customer history: per customer, their orders with the show's name and date, the
//! ticket count, the amount paid and refunded, and whether the show is upcoming.
//!
//! Facts arrive from three kinds of stream (show, order, payment) in any relative
//! order, so each is stored by its own key and joined when queried; "upcoming vs past"
//! is decided by the `now` given to the query, never stored.

use super::{DomainEvent, Projection, StreamId};
use crate::money::Money;
use crate::order::{OrderEvent, OrderStatus};
use crate::payment::PaymentEvent;
use crate::show::ShowEvent;
use crate::time::Timestamp;
use crate::{CustomerId, OrderId, PaymentId, ShowId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// One order in a customer's history.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrderHistory {
    /// The order.
    pub order: OrderId,
    /// The show.
    pub show: ShowId,
    /// The show's name, once its creation was seen.
    pub show_name: Option<String>,
    /// The show's start, once its creation was seen.
    pub show_start_at: Option<Timestamp>,
    /// The order's status.
    pub status: OrderStatus,
    /// Tickets issued.
    pub tickets: u32,
    /// Money captured.
    pub paid: Money,
    /// Money refunded.
    pub refunded: Money,
    /// The show starts after the query's `now` (`None` while the show is unknown).
    pub upcoming: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct OrderFacts {
    show: ShowId,
    status: OrderStatus,
    tickets: u32,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct MoneyFacts {
    paid: Money,
    refunded: Money,
}

/// The customer-history read model.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomerHistory {
    shows: BTreeMap<ShowId, (String, Timestamp)>,
    orders: BTreeMap<OrderId, OrderFacts>,
    money: BTreeMap<OrderId, MoneyFacts>,
    by_customer: BTreeMap<CustomerId, BTreeSet<OrderId>>,
}

impl CustomerHistory {
    /// `customer`'s orders, by order id, judged upcoming or past at `now`.
    pub fn orders(&self, customer: CustomerId, now: Timestamp) -> Vec<OrderHistory> {
        let Some(orders) = self.by_customer.get(&customer) else {
            return Vec::new();
        };
        orders
            .iter()
            .filter_map(|order| {
                let facts = self.orders.get(order)?;
                let money = self.money.get(order).copied().unwrap_or_default();
                let show = self.shows.get(&facts.show);
                Some(OrderHistory {
                    order: *order,
                    show: facts.show,
                    show_name: show.map(|(name, _)| name.clone()),
                    show_start_at: show.map(|(_, start_at)| *start_at),
                    status: facts.status,
                    tickets: facts.tickets,
                    paid: money.paid,
                    refunded: money.refunded,
                    upcoming: show.map(|(_, start_at)| *start_at > now),
                })
            })
            .collect()
    }
}

fn add(total: &mut Money, amount: Money) {
    *total = total.checked_add(amount).unwrap_or(Money(u64::MAX));
}

impl Projection for CustomerHistory {
    fn apply(&mut self, stream: StreamId, event: &DomainEvent) {
        match (stream, event) {
            (StreamId::Show(show), DomainEvent::Show(recorded)) => {
                if let ShowEvent::Created { name, start_at, .. } = &recorded.event {
                    self.shows.insert(show, (name.clone(), *start_at));
                }
            }
            (StreamId::Order(order), DomainEvent::Order(recorded)) => match &recorded.event {
                OrderEvent::Initiated {
                    customer, section, ..
                } => {
                    self.by_customer.entry(*customer).or_default().insert(order);
                    self.orders.insert(
                        order,
                        OrderFacts {
                            show: section.show,
                            status: OrderStatus::Reserving,
                            tickets: 0,
                        },
                    );
                }
                other => {
                    let Some(facts) = self.orders.get_mut(&order) else {
                        return;
                    };
                    match other {
                        OrderEvent::Reserved { .. } => facts.status = OrderStatus::AwaitingPayment,
                        OrderEvent::PaymentStarted { .. } => facts.status = OrderStatus::Extending,
                        OrderEvent::HoldExtended => facts.status = OrderStatus::Authorizing,
                        OrderEvent::Authorized => facts.status = OrderStatus::Confirming,
                        OrderEvent::SeatsConfirmed => facts.status = OrderStatus::Capturing,
                        OrderEvent::Completed { tickets } => {
                            facts.status = OrderStatus::Completed;
                            facts.tickets = tickets.len() as u32;
                        }
                        OrderEvent::Ended { status, .. } => facts.status = *status,
                        _ => {}
                    }
                }
            },
            (StreamId::Payment(PaymentId::Order(order)), DomainEvent::Payment(recorded)) => {
                let money = self.money.entry(order).or_default();
                match &recorded.event {
                    PaymentEvent::Captured { amount } => add(&mut money.paid, *amount),
                    PaymentEvent::Refunded { amount, .. } => add(&mut money.refunded, *amount),
                    _ => {}
                }
            }
            _ => {}
        }
    }
}
