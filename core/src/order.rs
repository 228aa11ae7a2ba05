//! The order: the reservation saga as a pure process manager, one per order.
//!
//! It consumes the customer's commands (initiate, pay, cancel), the answers of
//! inventory and payment, its expiry timer and the show's cancellation, and emits
//! commands, exactly per SPEC.md's order table. The answers are produced from the other
//! aggregates' outcomes by [`input_from_inventory`] and [`input_from_payment`], so the
//! saga's contract lives here. Every command it sends carries an id derived from the
//! order and the step, so a resend is a repeat to its receiver.

use crate::ids::tag;
use crate::inventory::{InventoryCommand, InventoryError, InventoryEvent, Seats};
use crate::payment::{PaymentCommand, PaymentError, PaymentEvent, PaymentMethod};
use crate::policy::{Quote, quote};
use crate::show::{SectionKind, ShowCatalog, ShowStatus};
use crate::ticket::TicketCommand;
use crate::time::{HOLD_DURATION_MS, PAYMENT_WINDOW_MS, Timestamp};
use crate::{
    Actor, Admission, Aggregate, ArmedTimer, CommandId, CustomerId, Decision, Effect, Effects,
    Envelope, GuardError, Journal, Message, OrderId, PaymentId, Recorded, RefundId, SectionIndex,
    SectionKey, ShowId, TicketId, Timer, recorded,
};
use serde::{Deserialize, Serialize};

/// Where an order is. The last five are terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderStatus {
    /// Waiting for inventory to hold the seats.
    Reserving,
    /// Seats held; waiting for the customer to pay.
    AwaitingPayment,
    /// Waiting for the hold's extension to the payment window.
    Extending,
    /// Waiting for the payment's authorization.
    Authorizing,
    /// Waiting for inventory to confirm the hold.
    Confirming,
    /// Waiting for the capture.
    Capturing,
    /// Paid; tickets issued.
    Completed,
    /// A step failed after money or seats were involved; undone.
    Compensated,
    /// The order ran out of time.
    Expired,
    /// The customer or the show's cancellation ended it.
    Cancelled,
    /// Inventory refused the reservation.
    Rejected,
}

impl OrderStatus {
    /// Whether the order's state can no longer change.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderStatus::Completed
                | OrderStatus::Compensated
                | OrderStatus::Expired
                | OrderStatus::Cancelled
                | OrderStatus::Rejected
        )
    }
}

/// Why a payment step failed, as the saga hears it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PaymentFailure {
    /// The gateway declined (for good, after any unknown outcome was resolved).
    Declined,
    /// Our payment service refused the command.
    Refused(PaymentError),
}

/// What can be asked of an order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderCommand {
    /// Start an order (customer; the actor is its customer).
    Initiate {
        /// The order's id (names the stream).
        order: OrderId,
        /// The show.
        show: ShowId,
        /// The section.
        section: SectionIndex,
        /// 1..=8.
        quantity: u32,
        /// Specific seats, or best available.
        seats: Option<Vec<String>>,
    },
    /// Pay for the held seats (the order's customer).
    Pay {
        /// How.
        method: PaymentMethod,
    },
    /// Cancel before paying (the order's customer).
    Cancel,
    /// The order's expiry timer fired (system).
    Expire,
    /// The show was cancelled (service).
    ShowCancelled,
    /// Inventory held the seats (service).
    SeatsReserved {
        /// Which seats (empty in general admission).
        seats: Seats,
    },
    /// Inventory refused the reservation (service).
    ReserveRejected {
        /// Why.
        reason: InventoryError,
    },
    /// Inventory extended the hold (service).
    HoldExtended,
    /// Inventory refused the extension (service).
    ExtendRejected {
        /// Why (`HoldNotLive` when the hold lapsed).
        reason: InventoryError,
    },
    /// The payment is authorized (service).
    Authorized,
    /// The authorization failed (service).
    AuthorizationFailed {
        /// Why.
        reason: PaymentFailure,
    },
    /// Inventory confirmed the hold (service).
    SeatsConfirmed,
    /// Inventory refused to confirm (service).
    ConfirmRejected {
        /// Why (`HoldNotLive` when the hold lapsed).
        reason: InventoryError,
    },
    /// The payment is captured (service).
    Captured,
    /// The capture was refused for good (service).
    CaptureFailed {
        /// Why.
        reason: PaymentFailure,
    },
}

/// Why an order ended other than completed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum EndCause {
    /// Inventory refused the reservation.
    ReserveRejected(InventoryError),
    /// The extension was refused (the hold was not live).
    ExtendRejected(InventoryError),
    /// The authorization failed.
    AuthorizationFailed(PaymentFailure),
    /// Inventory refused to confirm.
    ConfirmRejected(InventoryError),
    /// The capture failed.
    CaptureFailed(PaymentFailure),
    /// The order's expiry timer fired before payment began.
    Expired,
    /// The customer cancelled.
    CustomerCancelled,
    /// The show was cancelled.
    ShowCancelled,
}

/// The undo steps an event asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Undo {
    /// Release the unconfirmed hold.
    pub release: bool,
    /// Return the sold seats.
    pub unsell: bool,
    /// Void the authorization.
    pub void: bool,
    /// Refund the capture in full.
    pub refund: bool,
}

/// A late answer on a terminal order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LateAnswer {
    /// Seats reserved after the order ended: release them.
    SeatsReserved,
    /// Seats confirmed after the order ended: unsell them.
    SeatsConfirmed,
    /// Authorized after the order ended: void.
    Authorized,
    /// Captured after the order ended: refund in full.
    Captured,
}

/// What happened to an order.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrderEvent {
    /// The order started (`→ Reserving`) with its quote.
    Initiated {
        /// The order.
        order: OrderId,
        /// Its customer.
        customer: CustomerId,
        /// The section.
        section: SectionKey,
        /// How many seats.
        quantity: u8,
        /// Seats asked for by label, if any.
        seats_requested: Option<Vec<String>>,
        /// The price, fixed at `initiated_at`.
        quote: Quote,
        /// The show's start.
        start_at: Timestamp,
        /// When the order started (= the command's `now`).
        initiated_at: Timestamp,
        /// `initiated_at + 5 min`: the hold's and the order's expiry.
        expires_at: Timestamp,
    },
    /// `Reserving → AwaitingPayment`.
    Reserved {
        /// The seats held.
        seats: Seats,
    },
    /// `AwaitingPayment → Extending`.
    PaymentStarted {
        /// How the customer pays.
        method: PaymentMethod,
    },
    /// `Extending → Authorizing`.
    HoldExtended,
    /// `Authorizing → Confirming`.
    Authorized,
    /// `Confirming → Capturing`.
    SeatsConfirmed,
    /// `Capturing → Completed`: tickets issued, one per seat.
    Completed {
        /// The tickets.
        tickets: Vec<TicketId>,
    },
    /// The order ended in `status` (terminal, not `Completed`), undoing what it did.
    Ended {
        /// The terminal status.
        status: OrderStatus,
        /// Why.
        cause: EndCause,
        /// The undo steps sent.
        undo: Undo,
    },
    /// The show was cancelled while an answer was in flight; it decides the undo.
    ShowCancellationNoted,
    /// A late answer on a terminal order was undone; the status did not change.
    LateAnswerUndone {
        /// The answer.
        answer: LateAnswer,
        /// The undo sent.
        undo: Undo,
    },
}

/// Why an order command was refused.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum OrderError {
    /// A rejection every aggregate shares: time going backwards, a reused command id,
    /// or the wrong kind of actor.
    #[error(transparent)]
    Guard(#[from] GuardError),
    /// Only the order's customer may pay for or cancel it.
    #[error("only the order's customer may do this")]
    NotOrderCustomer,
    /// No such order.
    #[error("no such order")]
    OrderNotFound,
    /// `Initiate` on an existing order.
    #[error("the order already exists")]
    OrderAlreadyExists,
    /// Quantity outside 1..=8.
    #[error(
        "quantity {quantity} is outside 1..={}",
        crate::inventory::ORDER_QUANTITY_MAX
    )]
    InvalidQuantity {
        /// The quantity asked.
        quantity: u32,
    },
    /// The show is unknown to this service.
    #[error("unknown show")]
    UnknownShow,
    /// The show has no such section.
    #[error("unknown section")]
    UnknownSection,
    /// Sales are not open, or the show has started.
    #[error("sales are not open")]
    SalesNotOpen,
    /// Seat labels for a general-admission section.
    #[error("general admission has no seat labels")]
    LabelsOnGeneralAdmission,
    /// The number of labels differs from the quantity.
    #[error("{listed} seats named for quantity {quantity}")]
    SeatCountMismatch {
        /// Labels given.
        listed: u32,
        /// Quantity asked.
        quantity: u32,
    },
    /// The quote does not fit in `u64` cents.
    #[error("the price overflows")]
    PriceOverflow,
    /// Cancelling once payment has begun.
    #[error("too late to cancel: payment has begun")]
    TooLateToCancel,
    /// The show was cancelled (the order service's catalog knows it): nothing more is
    /// paid for; the order ends when its own cancellation message arrives.
    #[error("the show was cancelled")]
    ShowCancelled,
    /// The command does not apply in this state.
    #[error("not allowed while the order is {status:?}")]
    NotAllowedInStatus {
        /// The current status.
        status: OrderStatus,
    },
}

/// A started order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderDetails {
    /// The order.
    pub order: OrderId,
    /// Its customer.
    pub customer: CustomerId,
    /// The section.
    pub section: SectionKey,
    /// How many seats.
    pub quantity: u8,
    /// Seats asked for by label, if any.
    pub seats_requested: Option<Vec<String>>,
    /// The price.
    pub quote: Quote,
    /// The show's start.
    pub start_at: Timestamp,
    /// When it started.
    pub initiated_at: Timestamp,
    /// When the hold and the order expire.
    pub expires_at: Timestamp,
    /// Where it is.
    pub status: OrderStatus,
    /// The seats held (after `Reserved`).
    pub seats: Seats,
    /// How the customer pays (after `Pay`).
    pub method: Option<PaymentMethod>,
    /// The show was cancelled while an answer was in flight.
    pub show_cancelled: bool,
    /// Why it ended, if it did other than completed.
    pub end_cause: Option<EndCause>,
    /// The tickets, once completed.
    pub tickets: Vec<TicketId>,
}

/// The state of one order's saga.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Version, last `now`, idempotency records.
    pub journal: Journal,
    /// `None` until initiated.
    pub details: Option<OrderDetails>,
}

/// What an order's effects need to know, before or after the event.
struct Route {
    order: OrderId,
    section: SectionKey,
}

impl Route {
    fn inventory(&self, step: u64, body: InventoryCommand) -> Effect {
        Effect::Send(Message::Inventory {
            section: self.section,
            id: CommandId::derive(&[step, self.order.0]),
            body,
        })
    }

    fn payment(&self, step: u64, body: PaymentCommand) -> Effect {
        Effect::Send(Message::Payment {
            payment: PaymentId::Order(self.order),
            id: CommandId::derive(&[step, self.order.0]),
            body,
        })
    }

    fn undo(&self, undo: Undo, effects: &mut Effects) {
        let order = self.order;
        if undo.release {
            effects.push(self.inventory(tag::RELEASE, InventoryCommand::Release { order }));
        }
        if undo.unsell {
            effects.push(self.inventory(tag::UNSELL, InventoryCommand::Unsell { order }));
        }
        if undo.void {
            effects.push(self.payment(tag::VOID, PaymentCommand::Void));
        }
        if undo.refund {
            effects.push(self.payment(
                tag::REFUND,
                PaymentCommand::RefundAll {
                    refund: RefundId {
                        payment: PaymentId::Order(order),
                        ticket: None,
                    },
                },
            ));
        }
    }
}

impl Order {
    /// The status, once initiated.
    pub fn status(&self) -> Option<OrderStatus> {
        self.details.as_ref().map(|details| details.status)
    }

    /// Whether the order is started and not terminal (the show's cancellation concerns it).
    pub fn is_open(&self) -> bool {
        self.status().is_some_and(|status| !status.is_terminal())
    }

    /// The show the order is for.
    pub fn show(&self) -> Option<ShowId> {
        self.details.as_ref().map(|details| details.section.show)
    }

    fn decide_initiate(
        catalog: &ShowCatalog,
        command: &Envelope<OrderCommand>,
    ) -> Result<OrderEvent, OrderError> {
        let OrderCommand::Initiate {
            order,
            show,
            section,
            quantity,
            seats,
        } = &command.body
        else {
            return Err(OrderError::OrderNotFound);
        };
        let Actor::Customer(customer) = command.actor else {
            return Err(OrderError::Guard(GuardError::NotAuthorized {
                actor: command.actor,
            }));
        };
        if *quantity == 0 || *quantity > crate::inventory::ORDER_QUANTITY_MAX {
            return Err(OrderError::InvalidQuantity {
                quantity: *quantity,
            });
        }
        let terms = catalog.terms(*show).ok_or(OrderError::UnknownShow)?;
        let section_terms = terms
            .sections
            .get(section.0 as usize)
            .ok_or(OrderError::UnknownSection)?;
        let now = command.now;
        if terms.status != ShowStatus::SalesOpen || now >= terms.start_at {
            return Err(OrderError::SalesNotOpen);
        }
        if let Some(labels) = seats {
            if section_terms.kind == SectionKind::GeneralAdmission {
                return Err(OrderError::LabelsOnGeneralAdmission);
            }
            if labels.len() != *quantity as usize {
                return Err(OrderError::SeatCountMismatch {
                    listed: u32::try_from(labels.len()).unwrap_or(u32::MAX),
                    quantity: *quantity,
                });
            }
        }
        let quantity = *quantity as u8;
        let quote = quote(section_terms.base_price, quantity, now, terms.start_at)
            .map_err(|_| OrderError::PriceOverflow)?;
        Ok(OrderEvent::Initiated {
            order: *order,
            customer,
            section: SectionKey {
                show: *show,
                section: *section,
            },
            quantity,
            seats_requested: seats.clone(),
            quote,
            start_at: terms.start_at,
            initiated_at: now,
            expires_at: now.plus(HOLD_DURATION_MS),
        })
    }

    /// The event for an answer or a notice, `None` to acknowledge and ignore.
    fn decide_message(
        details: &OrderDetails,
        now: Timestamp,
        body: &OrderCommand,
    ) -> Option<OrderEvent> {
        use OrderCommand as C;
        use OrderStatus as S;
        let status = details.status;
        let ended = |status, cause, undo| {
            Some(OrderEvent::Ended {
                status,
                cause,
                undo,
            })
        };
        let none = Undo::default();
        let release = Undo {
            release: true,
            ..none
        };
        if status == S::Completed {
            return None;
        }
        if status.is_terminal() {
            let (answer, undo) = match body {
                C::SeatsReserved { .. } => (LateAnswer::SeatsReserved, release),
                C::SeatsConfirmed => (
                    LateAnswer::SeatsConfirmed,
                    Undo {
                        unsell: true,
                        ..none
                    },
                ),
                C::Authorized => (LateAnswer::Authorized, Undo { void: true, ..none }),
                C::Captured => (
                    LateAnswer::Captured,
                    Undo {
                        refund: true,
                        ..none
                    },
                ),
                _ => return None,
            };
            return Some(OrderEvent::LateAnswerUndone { answer, undo });
        }
        // With the show cancelled, the answer in flight ends the order as `Cancelled`.
        let failed = if details.show_cancelled {
            S::Cancelled
        } else {
            S::Compensated
        };
        let cancelled_cause = |cause| {
            if details.show_cancelled {
                EndCause::ShowCancelled
            } else {
                cause
            }
        };
        match (status, body) {
            // Only a cancellation known from the catalog sets the flag this early: the
            // held seats are released instead of moving on towards payment.
            (S::Reserving, C::SeatsReserved { .. }) | (S::Extending, C::HoldExtended)
                if details.show_cancelled =>
            {
                ended(S::Cancelled, EndCause::ShowCancelled, release)
            }
            (S::Reserving, C::SeatsReserved { seats }) => Some(OrderEvent::Reserved {
                seats: seats.clone(),
            }),
            (S::Reserving, C::ReserveRejected { reason }) => {
                ended(S::Rejected, EndCause::ReserveRejected(reason.clone()), none)
            }
            (S::Extending, C::HoldExtended) => Some(OrderEvent::HoldExtended),
            (S::Extending, C::ExtendRejected { reason }) => {
                // A lapsed hold is released by its own timer; any other refusal is
                // undone here so nothing lingers.
                let undo = if matches!(reason, InventoryError::HoldNotLive { .. }) {
                    none
                } else {
                    release
                };
                ended(S::Expired, EndCause::ExtendRejected(reason.clone()), undo)
            }
            (S::Authorizing, C::Authorized) if details.show_cancelled => ended(
                S::Cancelled,
                EndCause::ShowCancelled,
                Undo {
                    release: true,
                    void: true,
                    ..none
                },
            ),
            (S::Authorizing, C::Authorized) => Some(OrderEvent::Authorized),
            (S::Authorizing, C::AuthorizationFailed { reason }) => ended(
                failed,
                cancelled_cause(EndCause::AuthorizationFailed(reason.clone())),
                release,
            ),
            (S::Confirming, C::SeatsConfirmed) if details.show_cancelled => ended(
                S::Cancelled,
                EndCause::ShowCancelled,
                Undo {
                    unsell: true,
                    void: true,
                    ..none
                },
            ),
            (S::Confirming, C::SeatsConfirmed) => Some(OrderEvent::SeatsConfirmed),
            (S::Confirming, C::ConfirmRejected { reason }) => {
                let sold = matches!(reason, InventoryError::AlreadyConfirmed { .. });
                let undo = Undo {
                    release: !sold,
                    unsell: sold,
                    void: true,
                    refund: false,
                };
                ended(
                    failed,
                    cancelled_cause(EndCause::ConfirmRejected(reason.clone())),
                    undo,
                )
            }
            (S::Capturing, C::Captured) if details.show_cancelled => ended(
                S::Cancelled,
                EndCause::ShowCancelled,
                Undo {
                    unsell: true,
                    refund: true,
                    ..none
                },
            ),
            (S::Capturing, C::Captured) => Some(OrderEvent::Completed {
                tickets: (0..details.quantity)
                    .map(|index| TicketId {
                        order: details.order,
                        index,
                    })
                    .collect(),
            }),
            (S::Capturing, C::CaptureFailed { reason }) => ended(
                failed,
                cancelled_cause(EndCause::CaptureFailed(reason.clone())),
                Undo {
                    unsell: true,
                    void: true,
                    ..none
                },
            ),
            (S::Reserving | S::AwaitingPayment | S::Extending, C::Expire)
                if now >= details.expires_at =>
            {
                ended(S::Expired, EndCause::Expired, release)
            }
            (S::Reserving | S::AwaitingPayment | S::Extending, C::ShowCancelled) => {
                ended(S::Cancelled, EndCause::ShowCancelled, release)
            }
            (S::Authorizing | S::Confirming | S::Capturing, C::ShowCancelled)
                if !details.show_cancelled =>
            {
                Some(OrderEvent::ShowCancellationNoted)
            }
            _ => None,
        }
    }

    fn effects_of(details: &OrderDetails, event: &OrderEvent) -> Effects {
        let route = Route {
            order: details.order,
            section: details.section,
        };
        let order = details.order;
        let mut effects = Effects::new();
        match event {
            OrderEvent::Initiated { .. } => {}
            OrderEvent::Reserved { .. } | OrderEvent::ShowCancellationNoted => {}
            OrderEvent::PaymentStarted { .. } => effects.push(route.inventory(
                tag::EXTEND,
                InventoryCommand::Extend {
                    order,
                    expires_at: details.initiated_at.plus(PAYMENT_WINDOW_MS),
                },
            )),
            OrderEvent::HoldExtended => {
                effects.push(Effect::Disarm(Timer::OrderExpiry { order }));
                if let Some(method) = details.method {
                    effects.push(route.payment(
                        tag::AUTHORIZE,
                        PaymentCommand::Authorize {
                            payment: PaymentId::Order(order),
                            customer: details.customer,
                            amount: details.quote.total,
                            method,
                        },
                    ));
                }
            }
            OrderEvent::Authorized => {
                effects.push(route.inventory(tag::CONFIRM, InventoryCommand::Confirm { order }));
            }
            OrderEvent::SeatsConfirmed => {
                effects.push(route.payment(tag::CAPTURE, PaymentCommand::Capture));
            }
            OrderEvent::Completed { tickets } => {
                for ticket in tickets {
                    effects.push(Effect::Send(Message::Ticket {
                        ticket: *ticket,
                        id: CommandId::derive(&[tag::ISSUE, order.0, u64::from(ticket.index)]),
                        body: TicketCommand::Issue {
                            ticket: *ticket,
                            owner: details.customer,
                            section: details.section,
                            seat: details.seats.get(usize::from(ticket.index)).copied(),
                            price: details.quote.seat_price,
                            payment: PaymentId::Order(order),
                            start_at: details.start_at,
                        },
                    }));
                }
            }
            OrderEvent::Ended { undo, .. } => {
                effects.push(Effect::Disarm(Timer::OrderExpiry { order }));
                route.undo(*undo, &mut effects);
            }
            OrderEvent::LateAnswerUndone { undo, .. } => route.undo(*undo, &mut effects),
        }
        effects
    }
}

impl Aggregate for Order {
    type Command = OrderCommand;
    type Event = OrderEvent;
    type Error = OrderError;
    type Context = ShowCatalog;

    fn decide(
        &self,
        catalog: &ShowCatalog,
        command: &Envelope<OrderCommand>,
    ) -> Result<Decision<OrderEvent>, OrderError> {
        let fingerprint = match self.journal.admit(command)? {
            Admission::Repeat { version } => return Ok(Decision::Repeat { version }),
            Admission::Fresh { fingerprint } => fingerprint,
        };
        let actor = command.actor;
        let Some(details) = self.details.as_ref() else {
            let event = Order::decide_initiate(catalog, command)?;
            let mut effects = Effects::new();
            if let OrderEvent::Initiated {
                order,
                section,
                quantity,
                seats_requested,
                initiated_at,
                expires_at,
                ..
            } = &event
            {
                let route = Route {
                    order: *order,
                    section: *section,
                };
                effects.push(route.inventory(
                    tag::RESERVE,
                    InventoryCommand::Reserve {
                        order: *order,
                        quantity: u32::from(*quantity),
                        seats: seats_requested.clone(),
                        initiated_at: *initiated_at,
                        expires_at: *expires_at,
                    },
                ));
                effects.push(Effect::Arm(ArmedTimer {
                    timer: Timer::OrderExpiry { order: *order },
                    at: *expires_at,
                }));
            }
            return Ok(Decision::Accepted {
                event: recorded(command, fingerprint, event),
                effects,
            });
        };
        let status = details.status;
        // The catalog may know of the show's cancellation before this order's own
        // message arrives: from then on nothing more is paid for, and any answer is
        // judged as if the cancellation had been noted, so the order ends Cancelled
        // with everything undone instead of completing.
        let cancelled_in_catalog = catalog
            .terms(details.section.show)
            .is_some_and(|terms| terms.status == ShowStatus::Cancelled);
        let noted;
        let judged = if cancelled_in_catalog && !details.show_cancelled {
            noted = OrderDetails {
                show_cancelled: true,
                ..details.clone()
            };
            &noted
        } else {
            details
        };
        let event = match &command.body {
            OrderCommand::Initiate { .. } => return Err(OrderError::OrderAlreadyExists),
            OrderCommand::Pay { method } => {
                match actor {
                    Actor::Customer(customer) if customer == details.customer => {}
                    Actor::Customer(_) => return Err(OrderError::NotOrderCustomer),
                    _ => return Err(OrderError::Guard(GuardError::NotAuthorized { actor })),
                }
                if status != OrderStatus::AwaitingPayment {
                    return Err(OrderError::NotAllowedInStatus { status });
                }
                if cancelled_in_catalog {
                    return Err(OrderError::ShowCancelled);
                }
                OrderEvent::PaymentStarted { method: *method }
            }
            OrderCommand::Cancel => {
                match actor {
                    Actor::Customer(customer) if customer == details.customer => {}
                    Actor::Customer(_) => return Err(OrderError::NotOrderCustomer),
                    _ => return Err(OrderError::Guard(GuardError::NotAuthorized { actor })),
                }
                match status {
                    OrderStatus::Reserving | OrderStatus::AwaitingPayment => OrderEvent::Ended {
                        status: OrderStatus::Cancelled,
                        cause: EndCause::CustomerCancelled,
                        undo: Undo {
                            release: true,
                            ..Undo::default()
                        },
                    },
                    OrderStatus::Extending
                    | OrderStatus::Authorizing
                    | OrderStatus::Confirming
                    | OrderStatus::Capturing
                    | OrderStatus::Completed => return Err(OrderError::TooLateToCancel),
                    _ => return Err(OrderError::NotAllowedInStatus { status }),
                }
            }
            OrderCommand::Expire => {
                if actor != Actor::System {
                    return Err(OrderError::Guard(GuardError::NotAuthorized { actor }));
                }
                match Order::decide_message(details, command.now, &command.body) {
                    Some(event) => event,
                    None => return Ok(Decision::Ignored),
                }
            }
            body => {
                if actor != Actor::Service {
                    return Err(OrderError::Guard(GuardError::NotAuthorized { actor }));
                }
                match Order::decide_message(judged, command.now, body) {
                    Some(event) => event,
                    None => return Ok(Decision::Ignored),
                }
            }
        };
        let mut after = details.clone();
        apply_to_details(&mut after, &event);
        let effects = Order::effects_of(&after, &event);
        Ok(Decision::Accepted {
            event: recorded(command, fingerprint, event),
            effects,
        })
    }

    fn apply(&mut self, event: &Recorded<OrderEvent>) {
        self.journal.record(event);
        if let OrderEvent::Initiated {
            order,
            customer,
            section,
            quantity,
            seats_requested,
            quote,
            start_at,
            initiated_at,
            expires_at,
        } = &event.event
        {
            self.details = Some(OrderDetails {
                order: *order,
                customer: *customer,
                section: *section,
                quantity: *quantity,
                seats_requested: seats_requested.clone(),
                quote: *quote,
                start_at: *start_at,
                initiated_at: *initiated_at,
                expires_at: *expires_at,
                status: OrderStatus::Reserving,
                seats: Seats::new(),
                method: None,
                show_cancelled: false,
                end_cause: None,
                tickets: Vec::new(),
            });
            return;
        }
        if let Some(details) = self.details.as_mut() {
            apply_to_details(details, &event.event);
        }
    }

    fn timers(&self) -> Vec<ArmedTimer> {
        match self.details.as_ref() {
            Some(details)
                if matches!(
                    details.status,
                    OrderStatus::Reserving | OrderStatus::AwaitingPayment | OrderStatus::Extending
                ) =>
            {
                vec![ArmedTimer {
                    timer: Timer::OrderExpiry {
                        order: details.order,
                    },
                    at: details.expires_at,
                }]
            }
            _ => Vec::new(),
        }
    }

    fn version(&self) -> u64 {
        self.journal.version
    }
}

fn apply_to_details(details: &mut OrderDetails, event: &OrderEvent) {
    match event {
        OrderEvent::Initiated { .. } => {}
        OrderEvent::Reserved { seats } => {
            details.seats = seats.clone();
            details.status = OrderStatus::AwaitingPayment;
        }
        OrderEvent::PaymentStarted { method } => {
            details.method = Some(*method);
            details.status = OrderStatus::Extending;
        }
        OrderEvent::HoldExtended => details.status = OrderStatus::Authorizing,
        OrderEvent::Authorized => details.status = OrderStatus::Confirming,
        OrderEvent::SeatsConfirmed => details.status = OrderStatus::Capturing,
        OrderEvent::Completed { tickets } => {
            details.tickets = tickets.clone();
            details.status = OrderStatus::Completed;
        }
        OrderEvent::Ended { status, cause, .. } => {
            details.status = *status;
            details.end_cause = Some(cause.clone());
        }
        OrderEvent::ShowCancellationNoted => details.show_cancelled = true,
        OrderEvent::LateAnswerUndone { .. } => {}
    }
}

/// The saga's input for inventory's outcome of `request` (sent with id `request_id`):
/// the event it recorded (also for a repeat: the event at the repeated version) or its
/// rejection. `None` when the saga needs no answer (release, unsell…).
pub fn input_from_inventory(
    request_id: CommandId,
    request: &InventoryCommand,
    outcome: Result<&InventoryEvent, &InventoryError>,
) -> Option<Message> {
    let (order, body) = match (request, outcome) {
        (
            InventoryCommand::Reserve { order, .. },
            Ok(InventoryEvent::SeatsReserved { seats, .. }),
        ) => (
            *order,
            OrderCommand::SeatsReserved {
                seats: seats.clone(),
            },
        ),
        (InventoryCommand::Reserve { order, .. }, Err(reason)) => (
            *order,
            OrderCommand::ReserveRejected {
                reason: reason.clone(),
            },
        ),
        (InventoryCommand::Extend { order, .. }, Ok(InventoryEvent::HoldExtended { .. })) => {
            (*order, OrderCommand::HoldExtended)
        }
        (InventoryCommand::Extend { order, .. }, Err(reason)) => (
            *order,
            OrderCommand::ExtendRejected {
                reason: reason.clone(),
            },
        ),
        (InventoryCommand::Confirm { order }, Ok(InventoryEvent::HoldConfirmed { .. })) => {
            (*order, OrderCommand::SeatsConfirmed)
        }
        (InventoryCommand::Confirm { order }, Err(reason)) => (
            *order,
            OrderCommand::ConfirmRejected {
                reason: reason.clone(),
            },
        ),
        _ => return None,
    };
    // Accepted and refused answers get different ids: a request refused once and
    // accepted on a later resend reaches the saga as a new (late) answer to undo.
    let kind = u64::from(outcome.is_err());
    Some(Message::Order {
        order,
        id: CommandId::derive(&[tag::REPLY, request_id.0, kind]),
        body,
    })
}

/// The saga's input for a payment event of order `order`'s payment (`None` for events
/// the saga does not wait for). The payment service puts it among its effects.
pub fn input_from_payment(order: OrderId, event: &Recorded<PaymentEvent>) -> Option<Message> {
    let body = match &event.event {
        PaymentEvent::Authorized { .. } => OrderCommand::Authorized,
        PaymentEvent::AuthorizationDeclined => OrderCommand::AuthorizationFailed {
            reason: PaymentFailure::Declined,
        },
        PaymentEvent::Captured { .. } => OrderCommand::Captured,
        PaymentEvent::CaptureDeclined => OrderCommand::CaptureFailed {
            reason: PaymentFailure::Declined,
        },
        _ => return None,
    };
    Some(Message::Order {
        order,
        id: CommandId::derive(&[tag::REPLY, event.command.0, 0]),
        body,
    })
}

/// The saga's input when the payment service refuses `request` outright.
pub fn input_from_payment_rejection(
    order: OrderId,
    request_id: CommandId,
    request: &PaymentCommand,
    error: &PaymentError,
) -> Option<Message> {
    let reason = PaymentFailure::Refused(error.clone());
    let body = match request {
        PaymentCommand::Authorize { .. } => OrderCommand::AuthorizationFailed { reason },
        PaymentCommand::Capture => OrderCommand::CaptureFailed { reason },
        _ => return None,
    };
    Some(Message::Order {
        order,
        id: CommandId::derive(&[tag::REPLY, request_id.0, 1]),
        body,
    })
}

/// The message telling open order `order` that its show was cancelled.
pub fn show_cancelled_message(show: ShowId, order: OrderId) -> Message {
    Message::Order {
        order,
        id: CommandId::derive(&[tag::SHOW_CANCELLED, show.0, order.0]),
        body: OrderCommand::ShowCancelled,
    }
}
