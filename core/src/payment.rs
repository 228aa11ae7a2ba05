//! The payment aggregate: one per order or resale purchase, the only one that talks to
//! the gateway (through effects: the gateway itself is outside the core).
//!
//! `Pending → Authorized → Captured → (PartiallyRefunded →) Refunded`, `Authorized →
//! Voided`, `Failed`. Every gateway call carries an idempotency key
//! ([`GatewayKey`]: payment, operation, attempt), so a resend never moves money twice.
//! A reply whose outcome is unknown is resolved by a status query on the same key
//! before the saga hears anything; a call the gateway never saw is reissued with the
//! same key. Refunds and payouts draw on captured money only and each has a
//! deterministic id.
//!
//! Money we owe is never abandoned. A refund, void or payout the gateway declines is
//! retried under the same refund or payout id, with the next attempt's key (the gateway
//! remembers a declined key's answer), after a backoff that doubles from
//! [`RETRY_BACKOFF_FIRST_MS`] up to [`RETRY_BACKOFF_MAX_MS`], for as long as it takes; a
//! status query the gateway cannot answer either (it is down) is repeated on the same
//! backoff. The payment arms [`Timer::PaymentRetry`] for its earliest retry, so a
//! restarted service resumes the schedule from the log.

use crate::ids::{PayoutId, RefundId};
use crate::money::Money;
use crate::time::Timestamp;
use crate::{
    Actor, Admission, Aggregate, ArmedTimer, CustomerId, Decision, Effect, Effects, Envelope,
    GuardError, Journal, PaymentId, Recorded, Timer, applied_add, applied_found, order, recorded,
    ticket,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The wait before the first retry of a declined refund, void or payout (or of a status
/// query answered `Unknown`).
pub const RETRY_BACKOFF_FIRST_MS: u64 = 1_000;

/// The longest wait between two retries: the backoff doubles up to this cap.
pub const RETRY_BACKOFF_MAX_MS: u64 = 10 * 60 * 1_000;

/// The wait before the retry that follows `failures` consecutive failures (1-based):
/// 1 s, 2 s, 4 s … doubling, never more than [`RETRY_BACKOFF_MAX_MS`].
pub fn retry_backoff_ms(failures: u32) -> u64 {
    let doublings = failures.saturating_sub(1).min(20);
    (RETRY_BACKOFF_FIRST_MS << doublings).min(RETRY_BACKOFF_MAX_MS)
}

/// How a customer pays: an opaque token from their client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct PaymentMethod {
    /// The token.
    pub token: u64,
}

/// Which money movement a gateway call is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Operation {
    /// Authorize the amount.
    Authorize,
    /// Capture the authorization.
    Capture,
    /// Void the authorization.
    Void,
    /// A refund.
    Refund(RefundId),
    /// A payout to a reseller.
    Payout(PayoutId),
}

/// The gateway's idempotency key: the same key never moves money twice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GatewayKey {
    /// The payment.
    pub payment: PaymentId,
    /// The operation.
    pub operation: Operation,
    /// 0 for the first call; a declined refund, void or payout is retried with the next.
    pub attempt: u32,
}

/// What a gateway call asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GatewayRequest {
    /// Authorize `amount` on `method`.
    Authorize {
        /// The amount.
        amount: Money,
        /// The card.
        method: PaymentMethod,
    },
    /// Capture `amount` of the authorization.
    Capture {
        /// The amount.
        amount: Money,
    },
    /// Void the authorization.
    Void,
    /// Refund `amount` to the card.
    Refund {
        /// The amount.
        amount: Money,
    },
    /// Pay `amount` out to customer `to`.
    Payout {
        /// The amount.
        amount: Money,
        /// The reseller.
        to: CustomerId,
    },
    /// What happened to the call with this key?
    Status,
}

/// A call to the gateway (an effect the host executes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct GatewayCall {
    /// The idempotency key.
    pub key: GatewayKey,
    /// What is asked.
    pub request: GatewayRequest,
}

/// What the gateway answered to a call or a status query.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum GatewayOutcome {
    /// Done.
    Approved,
    /// Refused.
    Declined,
    /// Timed out: the outcome is unknown.
    Unknown,
    /// (Status query only) the gateway never received the call.
    NotFound,
}

/// Where a payment is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PaymentStatus {
    /// Authorization asked, not answered.
    Pending,
    /// Authorized, not captured.
    Authorized,
    /// Captured.
    Captured,
    /// Part of the capture refunded.
    PartiallyRefunded,
    /// All of the capture refunded (what a payout drew on it aside).
    Refunded,
    /// The authorization was voided.
    Voided,
    /// The authorization was declined.
    Failed,
}

/// What can be asked of a payment.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PaymentCommand {
    /// Authorize (service, from a saga).
    Authorize {
        /// The payment (names the stream).
        payment: PaymentId,
        /// Who pays.
        customer: CustomerId,
        /// How much (> 0).
        amount: Money,
        /// How.
        method: PaymentMethod,
    },
    /// Capture the authorized amount (service).
    Capture,
    /// Void the uncaptured authorization (service).
    Void,
    /// Refund `amount` of the captured money (service).
    Refund {
        /// The refund's id.
        refund: RefundId,
        /// How much.
        amount: Money,
    },
    /// Refund everything captured and not yet refunded or paid out (service).
    RefundAll {
        /// The refund's id.
        refund: RefundId,
    },
    /// Pay `amount` of the captured money out to a reseller (service).
    Payout {
        /// The payout's id.
        payout: PayoutId,
        /// How much.
        amount: Money,
        /// The reseller.
        to: CustomerId,
    },
    /// The gateway answered a call or a status query (service: the gateway adapter).
    GatewayReplied {
        /// The call's key.
        key: GatewayKey,
        /// The answer.
        outcome: GatewayOutcome,
    },
    /// The payment's retry timer fired: send every retry now due (system).
    RetryDue,
}

/// What happened to a payment.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PaymentEvent {
    /// Authorization asked of the gateway.
    AuthorizationRequested {
        /// The payment.
        payment: PaymentId,
        /// Who pays.
        customer: CustomerId,
        /// How much.
        amount: Money,
        /// How.
        method: PaymentMethod,
    },
    /// The gateway authorized.
    Authorized {
        /// The amount.
        amount: Money,
    },
    /// The gateway declined the authorization.
    AuthorizationDeclined,
    /// Capture asked of the gateway.
    CaptureRequested {
        /// The amount.
        amount: Money,
    },
    /// The gateway captured.
    Captured {
        /// The amount.
        amount: Money,
    },
    /// The gateway refused the capture for good.
    CaptureDeclined,
    /// Void asked (sent now if authorized, else as soon as the authorization lands).
    VoidRequested,
    /// The gateway voided.
    Voided,
    /// Refund asked of the gateway.
    RefundRequested {
        /// The refund.
        refund: RefundId,
        /// The amount.
        amount: Money,
    },
    /// The gateway refunded.
    Refunded {
        /// The refund.
        refund: RefundId,
        /// The amount.
        amount: Money,
    },
    /// Payout asked of the gateway.
    PayoutRequested {
        /// The payout.
        payout: PayoutId,
        /// The amount.
        amount: Money,
        /// The reseller.
        to: CustomerId,
    },
    /// The gateway paid out.
    PaidOut {
        /// The payout.
        payout: PayoutId,
        /// The amount.
        amount: Money,
    },
    /// A call's outcome is unknown: a status query was sent.
    OutcomeUnknown {
        /// The call.
        key: GatewayKey,
    },
    /// A call is resent with the same `key`: the gateway never saw it.
    CallReissued {
        /// The key of the call.
        key: GatewayKey,
    },
    /// The gateway declined a refund, void or payout, or could not answer a status
    /// query: the call (with `key`, the next attempt for a decline) or the status query
    /// (`resolve`, the same key) goes again at `at`.
    RetryScheduled {
        /// The key the retry uses.
        key: GatewayKey,
        /// When.
        at: Timestamp,
        /// Whether the retry is a status query (the outcome is unknown) rather than
        /// the call itself.
        resolve: bool,
    },
    /// The retries due at the timer's firing are sent.
    RetriesSent {
        /// The operations retried.
        operations: Vec<Operation>,
    },
}

/// Why a payment command was refused.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum PaymentError {
    /// A rejection every aggregate shares: time going backwards, a reused command id,
    /// or the wrong kind of actor.
    #[error(transparent)]
    Guard(#[from] GuardError),
    /// No authorization was asked yet.
    #[error("no such payment")]
    PaymentNotFound,
    /// `Authorize` on an existing payment.
    #[error("the payment already exists")]
    PaymentAlreadyExists,
    /// An amount of zero.
    #[error("the amount must be above zero")]
    ZeroAmount,
    /// Capture needs an authorization that is not captured, voided or declined.
    #[error("no authorization to capture while {status:?}")]
    NoAuthorization {
        /// The current status.
        status: PaymentStatus,
    },
    /// Void of captured money.
    #[error("the payment is captured: refund it instead")]
    AlreadyCaptured,
    /// A refund or payout beyond the captured money not yet refunded or paid out.
    #[error("{requested:?} asked, {refundable:?} refundable")]
    ExceedsCaptured {
        /// The amount asked.
        requested: Money,
        /// What is left.
        refundable: Money,
    },
}

/// Where one gateway operation is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OperationStatus {
    /// Sent, unanswered.
    InFlight,
    /// Outcome unknown; status query sent.
    Resolving,
    /// Declined (a refund, void or payout) or still unknown: waiting to go again.
    Waiting {
        /// When the retry is due.
        at: Timestamp,
        /// The retry is a status query (the outcome is unknown), not the call.
        resolve: bool,
    },
    /// Done.
    Approved,
    /// Refused for good.
    Declined,
}

/// One gateway operation of a payment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OperationState {
    /// What the call asks.
    pub request: GatewayRequest,
    /// The current attempt.
    pub attempt: u32,
    /// Consecutive failures (declines, unanswerable status queries): the backoff.
    pub failures: u32,
    /// Where it is.
    pub status: OperationStatus,
}

/// An authorized (or asked) payment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PaymentDetails {
    /// The payment.
    pub payment: PaymentId,
    /// Who pays.
    pub customer: CustomerId,
    /// The authorized amount.
    pub amount: Money,
    /// How.
    pub method: PaymentMethod,
    /// Where it is.
    pub status: PaymentStatus,
    /// Captured so far.
    pub captured: Money,
    /// Refunded so far (confirmed by the gateway).
    pub refunded: Money,
    /// Paid out so far (confirmed by the gateway).
    pub paid_out: Money,
    /// Refunds and payouts asked and not declined for good: bounded by `captured`.
    pub committed: Money,
    /// A void waits for the authorization (or the capture) in flight.
    pub void_wanted: bool,
    /// Every operation, by kind.
    pub operations: BTreeMap<Operation, OperationState>,
}

impl PaymentDetails {
    /// Captured money not yet refunded or paid out (or asked to be).
    pub fn refundable(&self) -> Money {
        self.captured
            .checked_sub(self.committed)
            .unwrap_or(Money::ZERO)
    }

    fn key(&self, operation: Operation) -> GatewayKey {
        let attempt = self
            .operations
            .get(&operation)
            .map_or(0, |state| state.attempt);
        GatewayKey {
            payment: self.payment,
            operation,
            attempt,
        }
    }

    fn in_flight(&self, operation: Operation) -> bool {
        self.operations.get(&operation).is_some_and(|state| {
            matches!(
                state.status,
                OperationStatus::InFlight | OperationStatus::Resolving
            )
        })
    }

    /// When the earliest retry is due, if one waits.
    pub fn next_retry(&self) -> Option<Timestamp> {
        self.operations
            .values()
            .filter_map(|state| match state.status {
                OperationStatus::Waiting { at, .. } => Some(at),
                _ => None,
            })
            .min()
    }
}

/// The state of one payment.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// Version, last `now`, idempotency records.
    pub journal: Journal,
    /// `None` until authorization is asked.
    pub details: Option<PaymentDetails>,
}

impl Payment {
    /// The status, once asked.
    pub fn status(&self) -> Option<PaymentStatus> {
        self.details.as_ref().map(|details| details.status)
    }

    /// The gateway calls sent and not yet answered (to resend after a restart).
    pub fn calls_in_flight(&self) -> Vec<GatewayCall> {
        let Some(details) = self.details.as_ref() else {
            return Vec::new();
        };
        details
            .operations
            .iter()
            .filter_map(|(operation, state)| {
                let key = GatewayKey {
                    payment: details.payment,
                    operation: *operation,
                    attempt: state.attempt,
                };
                match state.status {
                    OperationStatus::InFlight => Some(GatewayCall {
                        key,
                        request: state.request,
                    }),
                    OperationStatus::Resolving => Some(GatewayCall {
                        key,
                        request: GatewayRequest::Status,
                    }),
                    _ => None,
                }
            })
            .collect()
    }

    fn decide_body(
        &self,
        command: &Envelope<PaymentCommand>,
    ) -> Result<Option<PaymentEvent>, PaymentError> {
        // The retry timer is the system's; everything else comes from our services.
        let expected = match command.body {
            PaymentCommand::RetryDue => Actor::System,
            _ => Actor::Service,
        };
        if command.actor != expected {
            return Err(PaymentError::Guard(GuardError::NotAuthorized {
                actor: command.actor,
            }));
        }
        let details = match (&command.body, self.details.as_ref()) {
            (
                PaymentCommand::Authorize {
                    payment,
                    customer,
                    amount,
                    method,
                },
                None,
            ) => {
                if amount.cents() == 0 {
                    return Err(PaymentError::ZeroAmount);
                }
                return Ok(Some(PaymentEvent::AuthorizationRequested {
                    payment: *payment,
                    customer: *customer,
                    amount: *amount,
                    method: *method,
                }));
            }
            (PaymentCommand::Authorize { .. }, Some(_)) => {
                return Err(PaymentError::PaymentAlreadyExists);
            }
            (_, None) => return Err(PaymentError::PaymentNotFound),
            (_, Some(details)) => details,
        };
        let status = details.status;
        let event = match &command.body {
            PaymentCommand::Authorize { .. } => return Err(PaymentError::PaymentAlreadyExists),
            PaymentCommand::Capture => {
                if status != PaymentStatus::Authorized || details.void_wanted {
                    return Err(PaymentError::NoAuthorization { status });
                }
                if details.operations.contains_key(&Operation::Capture) {
                    // A capture in flight or refused: nothing new to ask.
                    return Ok(None);
                }
                PaymentEvent::CaptureRequested {
                    amount: details.amount,
                }
            }
            PaymentCommand::Void => match status {
                PaymentStatus::Pending | PaymentStatus::Authorized => {
                    if details.void_wanted || details.operations.contains_key(&Operation::Void) {
                        return Ok(None);
                    }
                    PaymentEvent::VoidRequested
                }
                PaymentStatus::Voided | PaymentStatus::Failed => return Ok(None),
                _ => return Err(PaymentError::AlreadyCaptured),
            },
            PaymentCommand::Refund { refund, amount } => {
                if details.operations.contains_key(&Operation::Refund(*refund)) {
                    return Ok(None);
                }
                if amount.cents() == 0 {
                    return Err(PaymentError::ZeroAmount);
                }
                if *amount > details.refundable() {
                    return Err(PaymentError::ExceedsCaptured {
                        requested: *amount,
                        refundable: details.refundable(),
                    });
                }
                PaymentEvent::RefundRequested {
                    refund: *refund,
                    amount: *amount,
                }
            }
            PaymentCommand::RefundAll { refund } => {
                if details.operations.contains_key(&Operation::Refund(*refund)) {
                    return Ok(None);
                }
                let amount = details.refundable();
                if amount.cents() == 0 {
                    return Ok(None);
                }
                PaymentEvent::RefundRequested {
                    refund: *refund,
                    amount,
                }
            }
            PaymentCommand::Payout { payout, amount, to } => {
                if details.operations.contains_key(&Operation::Payout(*payout)) {
                    return Ok(None);
                }
                if amount.cents() == 0 {
                    return Err(PaymentError::ZeroAmount);
                }
                if *amount > details.refundable() {
                    return Err(PaymentError::ExceedsCaptured {
                        requested: *amount,
                        refundable: details.refundable(),
                    });
                }
                PaymentEvent::PayoutRequested {
                    payout: *payout,
                    amount: *amount,
                    to: *to,
                }
            }
            PaymentCommand::GatewayReplied { key, outcome } => {
                return Ok(Payment::on_reply(details, *key, *outcome, command.now));
            }
            PaymentCommand::RetryDue => {
                let operations: Vec<Operation> = details
                    .operations
                    .iter()
                    .filter(|(_, state)| {
                        matches!(state.status, OperationStatus::Waiting { at, .. } if at <= command.now)
                    })
                    .map(|(operation, _)| *operation)
                    .collect();
                if operations.is_empty() {
                    return Ok(None); // A stale timer.
                }
                PaymentEvent::RetriesSent { operations }
            }
        };
        Ok(Some(event))
    }

    fn on_reply(
        details: &PaymentDetails,
        key: GatewayKey,
        outcome: GatewayOutcome,
        now: Timestamp,
    ) -> Option<PaymentEvent> {
        let state = details.operations.get(&key.operation)?;
        let waiting_to_resolve =
            matches!(state.status, OperationStatus::Waiting { resolve: true, .. });
        if key.payment != details.payment
            || key.attempt != state.attempt
            || !(details.in_flight(key.operation) || waiting_to_resolve)
        {
            // Late, duplicated or stale: the operation was already settled, or moved on
            // to another attempt.
            return None;
        }
        let amount = match state.request {
            GatewayRequest::Authorize { amount, .. }
            | GatewayRequest::Capture { amount }
            | GatewayRequest::Refund { amount }
            | GatewayRequest::Payout { amount, .. } => amount,
            GatewayRequest::Void | GatewayRequest::Status => Money::ZERO,
        };
        let retry_at = now.plus(retry_backoff_ms(state.failures.saturating_add(1)));
        Some(match (outcome, key.operation) {
            // A status query waiting for its turn: a late "unknown" changes nothing.
            (GatewayOutcome::Unknown, _) if waiting_to_resolve => return None,
            // The status query could not tell either (the gateway is down): ask again
            // after the backoff.
            (GatewayOutcome::Unknown, _) if state.status == OperationStatus::Resolving => {
                PaymentEvent::RetryScheduled {
                    key,
                    at: retry_at,
                    resolve: true,
                }
            }
            (GatewayOutcome::Unknown, _) => PaymentEvent::OutcomeUnknown { key },
            (GatewayOutcome::NotFound, _) => PaymentEvent::CallReissued { key },
            (GatewayOutcome::Approved, Operation::Authorize) => PaymentEvent::Authorized { amount },
            (GatewayOutcome::Declined, Operation::Authorize) => PaymentEvent::AuthorizationDeclined,
            (GatewayOutcome::Approved, Operation::Capture) => PaymentEvent::Captured { amount },
            (GatewayOutcome::Declined, Operation::Capture) => PaymentEvent::CaptureDeclined,
            (GatewayOutcome::Approved, Operation::Void) => PaymentEvent::Voided,
            (GatewayOutcome::Approved, Operation::Refund(refund)) => {
                PaymentEvent::Refunded { refund, amount }
            }
            (GatewayOutcome::Approved, Operation::Payout(payout)) => {
                PaymentEvent::PaidOut { payout, amount }
            }
            // Money we owe: never abandoned. The next attempt's key, after the backoff.
            (
                GatewayOutcome::Declined,
                Operation::Void | Operation::Refund(_) | Operation::Payout(_),
            ) => PaymentEvent::RetryScheduled {
                key: GatewayKey {
                    attempt: key.attempt.saturating_add(1),
                    ..key
                },
                at: retry_at,
                resolve: false,
            },
        })
    }

    fn effects_of(after: &PaymentDetails, event: &Recorded<PaymentEvent>) -> Effects {
        let mut effects = Effects::new();
        let call = |operation: Operation| -> Option<Effect> {
            let state = after.operations.get(&operation)?;
            Some(Effect::Gateway(GatewayCall {
                key: after.key(operation),
                request: state.request,
            }))
        };
        match &event.event {
            PaymentEvent::AuthorizationRequested { .. } => {
                effects.extend(call(Operation::Authorize))
            }
            PaymentEvent::CaptureRequested { .. } => effects.extend(call(Operation::Capture)),
            PaymentEvent::RefundRequested { refund, .. } => {
                effects.extend(call(Operation::Refund(*refund)));
            }
            PaymentEvent::PayoutRequested { payout, .. } => {
                effects.extend(call(Operation::Payout(*payout)));
            }
            PaymentEvent::CallReissued { key } => effects.extend(call(key.operation)),
            // A capture that lands on a wanted void started the refund of it all.
            PaymentEvent::Captured { .. } => {
                let whole = Operation::Refund(RefundId {
                    payment: after.payment,
                    ticket: None,
                });
                if after.in_flight(whole) {
                    effects.extend(call(whole));
                }
            }
            PaymentEvent::RetriesSent { operations } => {
                for operation in operations {
                    let Some(state) = after.operations.get(operation) else {
                        continue;
                    };
                    let request = match state.status {
                        OperationStatus::Resolving => GatewayRequest::Status,
                        _ => state.request,
                    };
                    effects.push(Effect::Gateway(GatewayCall {
                        key: after.key(*operation),
                        request,
                    }));
                }
            }
            PaymentEvent::OutcomeUnknown { key } => {
                effects.push(Effect::Gateway(GatewayCall {
                    key: *key,
                    request: GatewayRequest::Status,
                }));
            }
            // A void goes out once there is an uncaptured authorization to void.
            PaymentEvent::VoidRequested
            | PaymentEvent::Authorized { .. }
            | PaymentEvent::CaptureDeclined
                if after.void_wanted && after.status == PaymentStatus::Authorized =>
            {
                effects.extend(call(Operation::Void));
            }
            _ => {}
        }
        let answer = match after.payment {
            PaymentId::Order(order) => order::input_from_payment(order, event),
            PaymentId::Resale(resale) => ticket::resale::input_from_payment(resale, event),
        };
        effects.extend(answer.map(Effect::Send));
        effects
    }
}

fn apply_to_details(details: &mut PaymentDetails, event: &PaymentEvent) {
    match event {
        PaymentEvent::AuthorizationRequested { .. } => {}
        PaymentEvent::Authorized { .. } => {
            details.status = PaymentStatus::Authorized;
            settle(details, Operation::Authorize, OperationStatus::Approved);
            if details.void_wanted {
                start_void(details);
            }
        }
        PaymentEvent::AuthorizationDeclined => {
            details.status = PaymentStatus::Failed;
            settle(details, Operation::Authorize, OperationStatus::Declined);
        }
        PaymentEvent::CaptureRequested { amount } => {
            start_operation(
                details,
                Operation::Capture,
                GatewayRequest::Capture { amount: *amount },
            );
        }
        PaymentEvent::Captured { amount } => {
            details.status = PaymentStatus::Captured;
            details.captured = applied_add(details.captured, *amount, "captured");
            settle(details, Operation::Capture, OperationStatus::Approved);
            if details.void_wanted {
                // A void asked while the capture was in flight: the money is captured
                // now, so what we owe back is the whole capture, refunded.
                details.void_wanted = false;
                let refund = RefundId {
                    payment: details.payment,
                    ticket: None,
                };
                let owed = details.refundable();
                if owed.cents() > 0 && !details.operations.contains_key(&Operation::Refund(refund))
                {
                    details.committed = details.captured;
                    start_operation(
                        details,
                        Operation::Refund(refund),
                        GatewayRequest::Refund { amount: owed },
                    );
                }
            }
        }
        PaymentEvent::CaptureDeclined => {
            settle(details, Operation::Capture, OperationStatus::Declined);
            if details.void_wanted {
                start_void(details);
            }
        }
        PaymentEvent::VoidRequested => {
            details.void_wanted = true;
            if details.status == PaymentStatus::Authorized && !details.in_flight(Operation::Capture)
            {
                start_void(details);
            }
        }
        PaymentEvent::Voided => {
            details.status = PaymentStatus::Voided;
            details.void_wanted = false;
            settle(details, Operation::Void, OperationStatus::Approved);
        }
        PaymentEvent::RefundRequested { refund, amount } => {
            details.committed = applied_add(details.committed, *amount, "committed");
            start_operation(
                details,
                Operation::Refund(*refund),
                GatewayRequest::Refund { amount: *amount },
            );
        }
        PaymentEvent::Refunded { refund, amount } => {
            details.refunded = applied_add(details.refunded, *amount, "refunded");
            settle(
                details,
                Operation::Refund(*refund),
                OperationStatus::Approved,
            );
            refresh_refund_status(details);
        }
        PaymentEvent::PayoutRequested { payout, amount, to } => {
            details.committed = applied_add(details.committed, *amount, "committed");
            start_operation(
                details,
                Operation::Payout(*payout),
                GatewayRequest::Payout {
                    amount: *amount,
                    to: *to,
                },
            );
        }
        PaymentEvent::PaidOut { payout, amount } => {
            details.paid_out = applied_add(details.paid_out, *amount, "paid_out");
            settle(
                details,
                Operation::Payout(*payout),
                OperationStatus::Approved,
            );
            refresh_refund_status(details);
        }
        PaymentEvent::OutcomeUnknown { key } => {
            settle(details, key.operation, OperationStatus::Resolving);
        }
        PaymentEvent::CallReissued { key } => {
            if let Some(state) =
                applied_found(details.operations.get_mut(&key.operation), "the call")
            {
                state.attempt = key.attempt;
                state.status = OperationStatus::InFlight;
            }
        }
        PaymentEvent::RetryScheduled { key, at, resolve } => {
            if let Some(state) = applied_found(
                details.operations.get_mut(&key.operation),
                "the retried call",
            ) {
                state.attempt = key.attempt;
                state.failures = state.failures.saturating_add(1);
                state.status = OperationStatus::Waiting {
                    at: *at,
                    resolve: *resolve,
                };
            }
        }
        PaymentEvent::RetriesSent { operations } => {
            for operation in operations {
                if let Some(state) = details.operations.get_mut(operation)
                    && let OperationStatus::Waiting { resolve, .. } = state.status
                {
                    state.status = if resolve {
                        OperationStatus::Resolving
                    } else {
                        OperationStatus::InFlight
                    };
                }
            }
        }
    }
}

fn settle(details: &mut PaymentDetails, operation: Operation, status: OperationStatus) {
    if let Some(state) = applied_found(details.operations.get_mut(&operation), "the operation") {
        state.status = status;
    }
}

fn start_void(details: &mut PaymentDetails) {
    if !details.operations.contains_key(&Operation::Void) {
        start_operation(details, Operation::Void, GatewayRequest::Void);
    }
}

fn start_operation(details: &mut PaymentDetails, operation: Operation, request: GatewayRequest) {
    details.operations.insert(
        operation,
        OperationState {
            request,
            attempt: 0,
            failures: 0,
            status: OperationStatus::InFlight,
        },
    );
}

fn refresh_refund_status(details: &mut PaymentDetails) {
    // The status counts refunds only: a payout to a reseller is not a refund. A payment
    // is `Refunded` once refunds (and the payouts drawn on it) leave nothing captured.
    let out = details
        .refunded
        .checked_add(details.paid_out)
        .unwrap_or(details.captured);
    details.status = if details.refunded.cents() == 0 {
        PaymentStatus::Captured
    } else if out >= details.captured {
        PaymentStatus::Refunded
    } else {
        PaymentStatus::PartiallyRefunded
    };
}

impl Aggregate for Payment {
    type Command = PaymentCommand;
    type Event = PaymentEvent;
    type Error = PaymentError;
    type Context = ();

    fn decide(
        &self,
        _context: &(),
        command: &Envelope<PaymentCommand>,
    ) -> Result<Decision<PaymentEvent>, PaymentError> {
        let fingerprint = match self.journal.admit(command)? {
            Admission::Repeat { version } => return Ok(Decision::Repeat { version }),
            Admission::Fresh { fingerprint } => fingerprint,
        };
        let Some(event) = self.decide_body(command)? else {
            return Ok(Decision::Ignored);
        };
        let event = recorded(command, fingerprint, event);
        let mut after = self.clone();
        after.apply(&event);
        let mut effects = after
            .details
            .as_ref()
            .map(|details| Payment::effects_of(details, &event))
            .unwrap_or_default();
        // The retry timer always follows the earliest retry still waiting: armed,
        // moved or disarmed whenever an event changes it.
        let before = self.details.as_ref().and_then(PaymentDetails::next_retry);
        if let Some(details) = after.details.as_ref()
            && details.next_retry() != before
        {
            let timer = Timer::PaymentRetry {
                payment: details.payment,
            };
            effects.push(match details.next_retry() {
                Some(at) => Effect::Arm(ArmedTimer { timer, at }),
                None => Effect::Disarm(timer),
            });
        }
        Ok(Decision::Accepted { event, effects })
    }

    fn apply(&mut self, event: &Recorded<PaymentEvent>) {
        self.journal.record(event);
        if let PaymentEvent::AuthorizationRequested {
            payment,
            customer,
            amount,
            method,
        } = &event.event
        {
            let mut operations = BTreeMap::new();
            operations.insert(
                Operation::Authorize,
                OperationState {
                    request: GatewayRequest::Authorize {
                        amount: *amount,
                        method: *method,
                    },
                    attempt: 0,
                    failures: 0,
                    status: OperationStatus::InFlight,
                },
            );
            self.details = Some(PaymentDetails {
                payment: *payment,
                customer: *customer,
                amount: *amount,
                method: *method,
                status: PaymentStatus::Pending,
                captured: Money::ZERO,
                refunded: Money::ZERO,
                paid_out: Money::ZERO,
                committed: Money::ZERO,
                void_wanted: false,
                operations,
            });
            return;
        }
        if let Some(details) = applied_found(self.details.as_mut(), "the payment") {
            apply_to_details(details, &event.event);
        }
    }

    fn timers(&self) -> Vec<ArmedTimer> {
        self.details
            .as_ref()
            .and_then(|details| {
                Some(ArmedTimer {
                    timer: Timer::PaymentRetry {
                        payment: details.payment,
                    },
                    at: details.next_retry()?,
                })
            })
            .into_iter()
            .collect()
    }

    fn version(&self) -> u64 {
        self.journal.version
    }
}
