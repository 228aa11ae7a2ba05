//! The resale saga: one per resale purchase, a process manager like the order saga.
//!
//! Authorize `R` → take the listing (which locks the ticket) → capture → the ticket
//! changes owner and pays the seller out. One buyer wins the listing; the others are
//! refused and voided. A refused capture puts the listing back and voids. If the
//! ticket refuses the completion (the show was cancelled meanwhile) the capture is
//! refunded in full. Late answers on an ended purchase are undone, as in the order saga.

use crate::ids::tag;
use crate::money::Money;
use crate::order::PaymentFailure;
use crate::payment::{PaymentCommand, PaymentError, PaymentEvent, PaymentMethod};
use crate::ticket::{TicketCommand, TicketError, TicketEvent};
use crate::{
    Actor, Admission, Aggregate, ArmedTimer, CommandId, CustomerId, Decision, Effect, Effects,
    Envelope, GuardError, Journal, Message, PaymentId, Recorded, RefundId, ResaleId, TicketId,
    recorded,
};
use serde::{Deserialize, Serialize};

/// Where a resale purchase is. The last four are terminal.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResaleStatus {
    /// Waiting for the authorization.
    Authorizing,
    /// Waiting for the ticket to hand over its listing.
    Taking,
    /// Waiting for the capture.
    Capturing,
    /// Waiting for the ticket to change owner.
    Completing,
    /// The buyer owns the ticket.
    Completed,
    /// The authorization was declined.
    Declined,
    /// The listing was not available (another buyer won, withdrawn…): voided.
    Lost,
    /// The capture was refused: listing returned, voided.
    Compensated,
    /// The ticket refused the completion: the capture was refunded.
    Refunded,
}

impl ResaleStatus {
    /// Whether the purchase can no longer change.
    pub fn is_terminal(self) -> bool {
        !matches!(
            self,
            ResaleStatus::Authorizing
                | ResaleStatus::Taking
                | ResaleStatus::Capturing
                | ResaleStatus::Completing
        )
    }
}

/// What can be asked of a resale purchase.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResaleCommand {
    /// Buy a listed ticket at its asking price (customer; the actor is the buyer).
    Buy {
        /// The purchase's id (names the stream).
        resale: ResaleId,
        /// The ticket.
        ticket: TicketId,
        /// The asking price `R`.
        price: Money,
        /// How.
        method: PaymentMethod,
    },
    /// The payment is authorized (service).
    Authorized,
    /// The authorization failed (service).
    AuthorizationFailed {
        /// Why.
        reason: PaymentFailure,
    },
    /// The ticket handed over its listing (service).
    ListingTaken,
    /// The ticket refused (service).
    TakeRejected {
        /// Why.
        reason: TicketError,
    },
    /// The payment is captured (service).
    Captured,
    /// The capture was refused for good (service).
    CaptureFailed {
        /// Why.
        reason: PaymentFailure,
    },
    /// The ticket changed owner (service).
    ResaleCompleted,
    /// The ticket refused to change owner (service).
    CompleteRejected {
        /// Why.
        reason: TicketError,
    },
}

/// The undo steps of an ended purchase.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResaleUndo {
    /// Void the authorization.
    pub void: bool,
    /// Put the listing back.
    pub return_listing: bool,
    /// Refund the capture in full.
    pub refund: bool,
}

/// What happened to a resale purchase.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ResaleEvent {
    /// Started (`→ Authorizing`).
    Started {
        /// The purchase.
        resale: ResaleId,
        /// The buyer.
        buyer: CustomerId,
        /// The ticket.
        ticket: TicketId,
        /// `R`.
        price: Money,
        /// How.
        method: PaymentMethod,
    },
    /// `Authorizing → Taking`.
    Authorized,
    /// `Taking → Capturing`.
    ListingTaken,
    /// `Capturing → Completing`.
    Captured,
    /// `Completing → Completed`.
    Completed,
    /// Ended other than completed, with its undo.
    Ended {
        /// The terminal status.
        status: ResaleStatus,
        /// The undo sent.
        undo: ResaleUndo,
    },
    /// A late answer on an ended purchase was undone.
    LateAnswerUndone {
        /// The undo sent.
        undo: ResaleUndo,
    },
}

/// Why a resale command was refused.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum ResaleError {
    /// A rejection every aggregate shares: time going backwards, a reused command id,
    /// or the wrong kind of actor.
    #[error(transparent)]
    Guard(#[from] GuardError),
    /// No such purchase.
    #[error("no such resale purchase")]
    ResaleNotFound,
    /// `Buy` twice.
    #[error("the resale purchase already exists")]
    ResaleAlreadyExists,
    /// A price of zero.
    #[error("the price must be above zero")]
    ZeroPrice,
}

/// A started purchase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResaleDetails {
    /// The purchase.
    pub resale: ResaleId,
    /// The buyer.
    pub buyer: CustomerId,
    /// The ticket.
    pub ticket: TicketId,
    /// `R`.
    pub price: Money,
    /// How.
    pub method: PaymentMethod,
    /// Where it is.
    pub status: ResaleStatus,
}

/// The state of one resale purchase.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resale {
    /// Version, last `now`, idempotency records.
    pub journal: Journal,
    /// `None` until started.
    pub details: Option<ResaleDetails>,
}

impl Resale {
    /// The status, once started.
    pub fn status(&self) -> Option<ResaleStatus> {
        self.details.as_ref().map(|details| details.status)
    }

    fn on_answer(details: &ResaleDetails, body: &ResaleCommand) -> Option<ResaleEvent> {
        use ResaleCommand as C;
        use ResaleStatus as S;
        let none = ResaleUndo::default();
        let ended = |status, undo| Some(ResaleEvent::Ended { status, undo });
        if details.status == S::Completed {
            return None;
        }
        if details.status.is_terminal() {
            let undo = match body {
                C::Authorized => ResaleUndo { void: true, ..none },
                C::ListingTaken => ResaleUndo {
                    return_listing: true,
                    ..none
                },
                C::Captured => ResaleUndo {
                    refund: true,
                    ..none
                },
                _ => return None,
            };
            return Some(ResaleEvent::LateAnswerUndone { undo });
        }
        match (details.status, body) {
            (S::Authorizing, C::Authorized) => Some(ResaleEvent::Authorized),
            (S::Authorizing, C::AuthorizationFailed { .. }) => ended(S::Declined, none),
            (S::Taking, C::ListingTaken) => Some(ResaleEvent::ListingTaken),
            (S::Taking, C::TakeRejected { .. }) => {
                ended(S::Lost, ResaleUndo { void: true, ..none })
            }
            (S::Capturing, C::Captured) => Some(ResaleEvent::Captured),
            (S::Capturing, C::CaptureFailed { .. }) => ended(
                S::Compensated,
                ResaleUndo {
                    void: true,
                    return_listing: true,
                    refund: false,
                },
            ),
            (S::Completing, C::ResaleCompleted) => Some(ResaleEvent::Completed),
            (S::Completing, C::CompleteRejected { .. }) => ended(
                S::Refunded,
                ResaleUndo {
                    return_listing: true,
                    refund: true,
                    void: false,
                },
            ),
            _ => None,
        }
    }

    fn effects_of(details: &ResaleDetails, event: &ResaleEvent) -> Effects {
        let resale = details.resale;
        let payment = PaymentId::Resale(resale);
        let to_payment = |step: u64, body: PaymentCommand| {
            Effect::Send(Message::Payment {
                payment,
                id: CommandId::derive(&[step, resale.0, 1]),
                body,
            })
        };
        let to_ticket = |step: u64, body: TicketCommand| {
            Effect::Send(Message::Ticket {
                ticket: details.ticket,
                id: CommandId::derive(&[step, resale.0, 1]),
                body,
            })
        };
        let undo = |undo: &ResaleUndo, effects: &mut Effects| {
            if undo.void {
                effects.push(to_payment(tag::VOID, PaymentCommand::Void));
            }
            if undo.return_listing {
                effects.push(to_ticket(
                    tag::RETURN_LISTING,
                    TicketCommand::ReturnListing { resale },
                ));
            }
            if undo.refund {
                effects.push(to_payment(
                    tag::REFUND,
                    PaymentCommand::RefundAll {
                        refund: RefundId {
                            payment,
                            ticket: None,
                        },
                    },
                ));
            }
        };
        let mut effects = Effects::new();
        match event {
            ResaleEvent::Started {
                buyer,
                price,
                method,
                ..
            } => effects.push(to_payment(
                tag::AUTHORIZE,
                PaymentCommand::Authorize {
                    payment,
                    customer: *buyer,
                    amount: *price,
                    method: *method,
                },
            )),
            ResaleEvent::Authorized => effects.push(to_ticket(
                tag::TAKE_LISTING,
                TicketCommand::TakeListing {
                    resale,
                    buyer: details.buyer,
                    price: details.price,
                },
            )),
            ResaleEvent::ListingTaken => {
                effects.push(to_payment(tag::CAPTURE, PaymentCommand::Capture))
            }
            ResaleEvent::Captured => {
                effects.push(to_ticket(
                    tag::COMPLETE_RESALE,
                    TicketCommand::CompleteResale { resale },
                ));
            }
            ResaleEvent::Completed => {}
            ResaleEvent::Ended { undo: steps, .. }
            | ResaleEvent::LateAnswerUndone { undo: steps } => {
                undo(steps, &mut effects);
            }
        }
        effects
    }
}

impl Aggregate for Resale {
    type Command = ResaleCommand;
    type Event = ResaleEvent;
    type Error = ResaleError;
    type Context = ();

    fn decide(
        &self,
        _context: &(),
        command: &Envelope<ResaleCommand>,
    ) -> Result<Decision<ResaleEvent>, ResaleError> {
        let fingerprint = match self.journal.admit(command)? {
            Admission::Repeat { version } => return Ok(Decision::Repeat { version }),
            Admission::Fresh { fingerprint } => fingerprint,
        };
        let actor = command.actor;
        let (event, details) = match (&command.body, self.details.as_ref()) {
            (
                ResaleCommand::Buy {
                    resale,
                    ticket,
                    price,
                    method,
                },
                None,
            ) => {
                let Actor::Customer(buyer) = actor else {
                    return Err(ResaleError::Guard(GuardError::NotAuthorized { actor }));
                };
                if price.cents() == 0 {
                    return Err(ResaleError::ZeroPrice);
                }
                let details = ResaleDetails {
                    resale: *resale,
                    buyer,
                    ticket: *ticket,
                    price: *price,
                    method: *method,
                    status: ResaleStatus::Authorizing,
                };
                let event = ResaleEvent::Started {
                    resale: *resale,
                    buyer,
                    ticket: *ticket,
                    price: *price,
                    method: *method,
                };
                (event, details)
            }
            (ResaleCommand::Buy { .. }, Some(_)) => return Err(ResaleError::ResaleAlreadyExists),
            (_, None) => return Err(ResaleError::ResaleNotFound),
            (body, Some(details)) => {
                if actor != Actor::Service {
                    return Err(ResaleError::Guard(GuardError::NotAuthorized { actor }));
                }
                let Some(event) = Resale::on_answer(details, body) else {
                    return Ok(Decision::Ignored);
                };
                (event, details.clone())
            }
        };
        let effects = Resale::effects_of(&details, &event);
        Ok(Decision::Accepted {
            event: recorded(command, fingerprint, event),
            effects,
        })
    }

    fn apply(&mut self, event: &Recorded<ResaleEvent>) {
        self.journal.record(event);
        if let ResaleEvent::Started {
            resale,
            buyer,
            ticket,
            price,
            method,
        } = &event.event
        {
            self.details = Some(ResaleDetails {
                resale: *resale,
                buyer: *buyer,
                ticket: *ticket,
                price: *price,
                method: *method,
                status: ResaleStatus::Authorizing,
            });
            return;
        }
        let Some(details) = self.details.as_mut() else {
            return;
        };
        match &event.event {
            ResaleEvent::Started { .. } | ResaleEvent::LateAnswerUndone { .. } => {}
            ResaleEvent::Authorized => details.status = ResaleStatus::Taking,
            ResaleEvent::ListingTaken => details.status = ResaleStatus::Capturing,
            ResaleEvent::Captured => details.status = ResaleStatus::Completing,
            ResaleEvent::Completed => details.status = ResaleStatus::Completed,
            ResaleEvent::Ended { status, .. } => details.status = *status,
        }
    }

    fn timers(&self) -> Vec<ArmedTimer> {
        Vec::new()
    }

    fn version(&self) -> u64 {
        self.journal.version
    }
}

/// The resale saga's input for a ticket's outcome of `request` (sent with id
/// `request_id`): its event (or the event at a repeated version) or its rejection.
pub fn input_from_ticket(
    request_id: CommandId,
    request: &TicketCommand,
    outcome: Result<&TicketEvent, &TicketError>,
) -> Option<Message> {
    let (resale, body) = match (request, outcome) {
        (TicketCommand::TakeListing { resale, .. }, Ok(TicketEvent::ListingTaken { .. })) => {
            (*resale, ResaleCommand::ListingTaken)
        }
        (TicketCommand::TakeListing { resale, .. }, Err(reason)) => (
            *resale,
            ResaleCommand::TakeRejected {
                reason: reason.clone(),
            },
        ),
        (TicketCommand::CompleteResale { resale }, Ok(TicketEvent::Resold { .. })) => {
            (*resale, ResaleCommand::ResaleCompleted)
        }
        (TicketCommand::CompleteResale { resale }, Err(reason)) => (
            *resale,
            ResaleCommand::CompleteRejected {
                reason: reason.clone(),
            },
        ),
        _ => return None,
    };
    let kind = u64::from(outcome.is_err());
    Some(Message::Resale {
        resale,
        id: CommandId::derive(&[tag::REPLY, request_id.0, kind]),
        body,
    })
}

/// The resale saga's input for a payment event of resale `resale`'s payment.
pub fn input_from_payment(resale: ResaleId, event: &Recorded<PaymentEvent>) -> Option<Message> {
    let body = match &event.event {
        PaymentEvent::Authorized { .. } => ResaleCommand::Authorized,
        PaymentEvent::AuthorizationDeclined => ResaleCommand::AuthorizationFailed {
            reason: PaymentFailure::Declined,
        },
        PaymentEvent::Captured { .. } => ResaleCommand::Captured,
        PaymentEvent::CaptureDeclined => ResaleCommand::CaptureFailed {
            reason: PaymentFailure::Declined,
        },
        _ => return None,
    };
    Some(Message::Resale {
        resale,
        id: CommandId::derive(&[tag::REPLY, event.command.0, 0]),
        body,
    })
}

/// The resale saga's input when the payment service refuses `request` outright.
pub fn input_from_payment_rejection(
    resale: ResaleId,
    request_id: CommandId,
    request: &PaymentCommand,
    error: &PaymentError,
) -> Option<Message> {
    let reason = PaymentFailure::Refused(error.clone());
    let body = match request {
        PaymentCommand::Authorize { .. } => ResaleCommand::AuthorizationFailed { reason },
        PaymentCommand::Capture => ResaleCommand::CaptureFailed { reason },
        _ => return None,
    };
    Some(Message::Resale {
        resale,
        id: CommandId::derive(&[tag::REPLY, request_id.0, 1]),
        body,
    })
}
