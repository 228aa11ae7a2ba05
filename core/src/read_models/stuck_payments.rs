//! Stuck payments: money we owe — a refund, a void or a payout — that the gateway has
//! not settled. Every owed operation is listed from the moment it is asked until the
//! gateway pays it; an operator's view asks for those unsettled for
//! [`STUCK_AFTER_MS`] (24 hours) or more at the `now` of the query, so "stuck" is
//! decided when queried, never stored. They are still retried: listing one here does
//! not give it up.
//!
//! Folded from the payment stream alone. A void asked while the capture was in flight
//! turns into a refund of the whole capture when the capture lands (as the payment
//! does), keeping the time it was first owed.

use super::{DomainEvent, Projection, StreamId};
use crate::money::Money;
use crate::payment::{Operation, PaymentEvent};
use crate::time::{HOUR_MS, Timestamp};
use crate::{PaymentId, RefundId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// How long owed money may stay unsettled before it is reported stuck.
pub const STUCK_AFTER_MS: u64 = 24 * HOUR_MS;

/// One refund, void or payout we owe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct OwedPayment {
    /// The payment it draws on.
    pub payment: PaymentId,
    /// What is owed.
    pub operation: Operation,
    /// How much (a void: the authorized amount).
    pub amount: Money,
    /// When it was first asked.
    pub since: Timestamp,
    /// How many times the gateway declined it or could not say (retries scheduled).
    pub retries: u32,
}

/// The stuck-payments read model.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StuckPayments {
    authorized: BTreeMap<PaymentId, Money>,
    owed: BTreeMap<(PaymentId, Operation), OwedPayment>,
}

impl StuckPayments {
    /// Every owed operation not yet settled, by payment and operation.
    pub fn owed(&self) -> impl Iterator<Item = &OwedPayment> {
        self.owed.values()
    }

    /// The owed operations unsettled for at least [`STUCK_AFTER_MS`] at `now`.
    pub fn stuck(&self, now: Timestamp) -> Vec<OwedPayment> {
        self.owed
            .values()
            .filter(|owed| now.0.saturating_sub(owed.since.0) >= STUCK_AFTER_MS)
            .copied()
            .collect()
    }

    fn owe(&mut self, payment: PaymentId, operation: Operation, amount: Money, since: Timestamp) {
        self.owed
            .entry((payment, operation))
            .or_insert(OwedPayment {
                payment,
                operation,
                amount,
                since,
                retries: 0,
            });
    }
}

impl Projection for StuckPayments {
    fn apply(&mut self, stream: StreamId, event: &DomainEvent) {
        let (StreamId::Payment(payment), DomainEvent::Payment(recorded)) = (stream, event) else {
            return;
        };
        let now = recorded.now;
        match &recorded.event {
            PaymentEvent::AuthorizationRequested { amount, .. } => {
                self.authorized.insert(payment, *amount);
            }
            PaymentEvent::VoidRequested => {
                let amount = self.authorized.get(&payment).copied().unwrap_or_default();
                self.owe(payment, Operation::Void, amount, now);
            }
            // Nothing was authorized: there is nothing to void.
            PaymentEvent::AuthorizationDeclined | PaymentEvent::Voided => {
                self.owed.remove(&(payment, Operation::Void));
            }
            PaymentEvent::Captured { amount } => {
                if let Some(void) = self.owed.remove(&(payment, Operation::Void)) {
                    let whole = Operation::Refund(RefundId {
                        payment,
                        ticket: None,
                    });
                    self.owe(payment, whole, *amount, void.since);
                }
            }
            PaymentEvent::RefundRequested { refund, amount } => {
                self.owe(payment, Operation::Refund(*refund), *amount, now);
            }
            PaymentEvent::PayoutRequested { payout, amount, .. } => {
                self.owe(payment, Operation::Payout(*payout), *amount, now);
            }
            PaymentEvent::Refunded { refund, .. } => {
                self.owed.remove(&(payment, Operation::Refund(*refund)));
            }
            PaymentEvent::PaidOut { payout, .. } => {
                self.owed.remove(&(payment, Operation::Payout(*payout)));
            }
            PaymentEvent::RetryScheduled { key, .. } => {
                if let Some(owed) = self.owed.get_mut(&(payment, key.operation)) {
                    owed.retries = owed.retries.saturating_add(1);
                }
            }
            _ => {}
        }
    }
}
