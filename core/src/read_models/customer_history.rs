//! Customer history: per customer, their orders — ticket orders and resale purchases —
//! with the show's name and date, the ticket count, the amount paid and refunded, and
//! whether the show is upcoming.
//!
//! Facts arrive from four kinds of stream (show, order, resale, payment) in any
//! relative order, so each is stored by its own key and joined when queried (a resale
//! purchase finds its show through the order that minted its ticket); "upcoming vs
//! past" is decided by the `now` given to the query, never stored.

use super::{DomainEvent, Projection, StreamId};
use crate::money::Money;
use crate::order::{OrderEvent, OrderStatus};
use crate::payment::PaymentEvent;
use crate::show::ShowEvent;
use crate::ticket::resale::{ResaleEvent, ResaleStatus};
use crate::time::Timestamp;
use crate::{CustomerId, OrderId, PaymentId, ResaleId, ShowId, TicketId};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Which purchase a history entry is, and where it is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Purchase {
    /// A ticket order.
    Order {
        /// The order.
        order: OrderId,
        /// Its status.
        status: OrderStatus,
    },
    /// A resale purchase of one ticket.
    Resale {
        /// The purchase.
        resale: ResaleId,
        /// The ticket bought.
        ticket: TicketId,
        /// Its status.
        status: ResaleStatus,
    },
}

/// One order (a ticket order or a resale purchase) in a customer's history.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OrderHistory {
    /// The order or resale purchase, with its status.
    pub purchase: Purchase,
    /// The show.
    pub show: ShowId,
    /// The show's name, once its creation was seen.
    pub show_name: Option<String>,
    /// The show's start, once its creation was seen.
    pub show_start_at: Option<Timestamp>,
    /// Tickets issued (a resale purchase: 1 once completed).
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

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ResaleFacts {
    ticket: TicketId,
    status: ResaleStatus,
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
    resales: BTreeMap<ResaleId, ResaleFacts>,
    money: BTreeMap<PaymentId, MoneyFacts>,
    by_customer: BTreeMap<CustomerId, BTreeSet<PaymentId>>,
}

impl CustomerHistory {
    /// `customer`'s ticket orders by order id, then resale purchases by id, judged
    /// upcoming or past at `now`. A resale purchase appears once the order that minted
    /// its ticket is known (it names the show).
    pub fn orders(&self, customer: CustomerId, now: Timestamp) -> Vec<OrderHistory> {
        let Some(purchases) = self.by_customer.get(&customer) else {
            return Vec::new();
        };
        purchases
            .iter()
            .filter_map(|payment| {
                let (purchase, show, tickets) = match *payment {
                    PaymentId::Order(order) => {
                        let facts = self.orders.get(&order)?;
                        let purchase = Purchase::Order {
                            order,
                            status: facts.status,
                        };
                        (purchase, facts.show, facts.tickets)
                    }
                    PaymentId::Resale(resale) => {
                        let facts = self.resales.get(&resale)?;
                        let show = self.orders.get(&facts.ticket.order)?.show;
                        let purchase = Purchase::Resale {
                            resale,
                            ticket: facts.ticket,
                            status: facts.status,
                        };
                        let tickets = u32::from(facts.status == ResaleStatus::Completed);
                        (purchase, show, tickets)
                    }
                };
                let money = self.money.get(payment).copied().unwrap_or_default();
                let show_facts = self.shows.get(&show);
                Some(OrderHistory {
                    purchase,
                    show,
                    show_name: show_facts.map(|(name, _)| name.clone()),
                    show_start_at: show_facts.map(|(_, start_at)| *start_at),
                    tickets,
                    paid: money.paid,
                    refunded: money.refunded,
                    upcoming: show_facts.map(|(_, start_at)| *start_at > now),
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
                    self.by_customer
                        .entry(*customer)
                        .or_default()
                        .insert(PaymentId::Order(order));
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
            (StreamId::Resale(resale), DomainEvent::Resale(recorded)) => {
                if let ResaleEvent::Started { buyer, ticket, .. } = &recorded.event {
                    self.by_customer
                        .entry(*buyer)
                        .or_default()
                        .insert(PaymentId::Resale(resale));
                    self.resales.insert(
                        resale,
                        ResaleFacts {
                            ticket: *ticket,
                            status: ResaleStatus::Authorizing,
                        },
                    );
                    return;
                }
                let Some(facts) = self.resales.get_mut(&resale) else {
                    return;
                };
                facts.status = match &recorded.event {
                    ResaleEvent::Started { .. } => ResaleStatus::Authorizing,
                    ResaleEvent::Authorized => ResaleStatus::Taking,
                    ResaleEvent::ListingTaken => ResaleStatus::Capturing,
                    ResaleEvent::Captured => ResaleStatus::Completing,
                    ResaleEvent::Completed => ResaleStatus::Completed,
                    ResaleEvent::Ended { status, .. } => *status,
                    ResaleEvent::LateAnswerUndone { .. } => facts.status,
                };
            }
            (StreamId::Payment(payment), DomainEvent::Payment(recorded)) => {
                let money = self.money.entry(payment).or_default();
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
