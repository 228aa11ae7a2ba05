//! The ticket aggregate: one per ticket, minted by a completed order; transfer, resale
//! listings, customer cancellation with the 100/50/0 policy, and refunds when the show
//! is cancelled.
//!
//! A ticket remembers every payment that paid for it ([`Share`]s, oldest first): a
//! transfer moves rights, not money; a resale adds the buyer's payment and pays the
//! seller `R` out of the seller's own payment. So a later refund goes to the current
//! owner's payment, and a show cancellation refunds every share what it still holds
//! (the resale buyer `R`, the original payment `P − R`).

pub mod resale;

use crate::ids::{SeatIndex, tag};
use crate::inventory::InventoryCommand;
use crate::money::{BasisPoints, Money};
use crate::payment::PaymentCommand;
use crate::policy::{before_change_cutoff, cancellation_refund, refund_share};
use crate::show::{ShowCatalog, ShowStatus};
use crate::time::Timestamp;
use crate::{
    Actor, Admission, Aggregate, ArmedTimer, CommandId, CustomerId, Decision, Effect, Effects,
    Envelope, GuardError, Journal, Message, PaymentId, PayoutId, Recorded, RefundId, ResaleId,
    SectionKey, TicketId, applied_add, applied_found, recorded,
};
use serde::{Deserialize, Serialize};

/// One payment's part in a ticket: what it paid and what was paid out of it to a
/// reseller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Share {
    /// The payment.
    pub payment: PaymentId,
    /// What it paid for the ticket.
    pub paid: Money,
    /// What was paid out of it to its owner on resale.
    pub paid_out: Money,
}

impl Share {
    /// What a full refund gives back to this payment.
    pub fn held(&self) -> Money {
        self.paid.checked_sub(self.paid_out).unwrap_or(Money::ZERO)
    }
}

/// Where a ticket is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TicketStatus {
    /// Valid: its owner may enter.
    Valid,
    /// Cancelled by its owner.
    Cancelled,
    /// Refunded because the show was cancelled.
    ShowCancelled,
}

/// A resale listing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Listing {
    /// The asking price `R` (≤ what the owner paid).
    pub price: Money,
    /// The resale purchase that took it and its buyer: the ticket is locked.
    pub taken_by: Option<(ResaleId, CustomerId)>,
}

/// What can be asked of a ticket.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TicketCommand {
    /// Mint the ticket (service, from a completed order).
    Issue {
        /// The ticket (names the stream).
        ticket: TicketId,
        /// Its first owner.
        owner: CustomerId,
        /// Its section.
        section: SectionKey,
        /// Its seat (numbered sections).
        seat: Option<SeatIndex>,
        /// What was paid for it.
        price: Money,
        /// The payment that bought it.
        payment: PaymentId,
        /// The show's start.
        start_at: Timestamp,
    },
    /// Give it to another customer (its owner, while `start − now ≥ 24 h`).
    Transfer {
        /// The new owner.
        to: CustomerId,
    },
    /// List it for resale at `price` ≤ what its owner paid (its owner, 24 h cut-off).
    List {
        /// The asking price.
        price: Money,
    },
    /// Withdraw an untaken listing (its owner).
    Unlist,
    /// Cancel it for a refund by the policy (its owner).
    Cancel,
    /// The show was cancelled: refund in full (service).
    ShowCancelled,
    /// A resale purchase takes the listing, locking the ticket (service).
    TakeListing {
        /// The resale purchase.
        resale: ResaleId,
        /// Its buyer.
        buyer: CustomerId,
        /// The price it authorized.
        price: Money,
    },
    /// The resale's capture was refused: put the listing back (service).
    ReturnListing {
        /// The resale purchase.
        resale: ResaleId,
    },
    /// The resale's capture succeeded: ownership moves (service).
    CompleteResale {
        /// The resale purchase.
        resale: ResaleId,
    },
}

/// What happened to a ticket.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum TicketEvent {
    /// The ticket exists.
    Issued {
        /// The ticket.
        ticket: TicketId,
        /// Its owner.
        owner: CustomerId,
        /// Its section.
        section: SectionKey,
        /// Its seat.
        seat: Option<SeatIndex>,
        /// What was paid.
        price: Money,
        /// The payment.
        payment: PaymentId,
        /// The show's start.
        start_at: Timestamp,
    },
    /// Given to another customer; an untaken listing is withdrawn.
    Transferred {
        /// The old owner.
        from: CustomerId,
        /// The new owner.
        to: CustomerId,
    },
    /// Listed for resale.
    Listed {
        /// The asking price.
        price: Money,
    },
    /// The listing was withdrawn by the owner.
    Unlisted,
    /// A resale purchase took the listing.
    ListingTaken {
        /// The resale purchase.
        resale: ResaleId,
        /// Its buyer.
        buyer: CustomerId,
    },
    /// The listing is back after a refused capture.
    ListingReturned {
        /// The resale purchase.
        resale: ResaleId,
    },
    /// Ownership moved to the resale buyer; the seller is paid `price`.
    Resold {
        /// The resale purchase.
        resale: ResaleId,
        /// The old owner.
        seller: CustomerId,
        /// The new owner.
        buyer: CustomerId,
        /// `R`.
        price: Money,
        /// The seller's payment, which pays `R` out.
        seller_payment: PaymentId,
        /// The buyer's payment.
        buyer_payment: PaymentId,
    },
    /// Cancelled by its owner; `refund` goes to the owner's payment.
    Cancelled {
        /// The owner.
        owner: CustomerId,
        /// The policy's share at the recorded `now`.
        share: BasisPoints,
        /// The refund.
        refund: Money,
        /// Where it goes.
        payment: PaymentId,
    },
    /// The show was cancelled: every payment gets back what it holds.
    ShowCancelledRefunded {
        /// `(payment, amount)`, oldest payment first.
        refunds: Vec<(PaymentId, Money)>,
    },
}

/// Why a ticket command was refused.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum TicketError {
    /// A rejection every aggregate shares: time going backwards, a reused command id,
    /// or the wrong kind of actor.
    #[error(transparent)]
    Guard(#[from] GuardError),
    /// Only the current owner may do this.
    #[error("only the ticket's owner may do this")]
    NotTicketOwner,
    /// No such ticket.
    #[error("no such ticket")]
    TicketNotFound,
    /// `Issue` twice.
    #[error("the ticket already exists")]
    TicketAlreadyIssued,
    /// The ticket was cancelled (by its owner or the show).
    #[error("the ticket is no longer valid")]
    TicketNotValid,
    /// Needs `start − now ≥ 24 h`.
    #[error("too close to the show's start")]
    TooCloseToShow,
    /// The show was cancelled.
    #[error("the show was cancelled")]
    ShowCancelled,
    /// The show has started.
    #[error("the show has started")]
    ShowStarted,
    /// A resale purchase has taken the listing.
    #[error("the ticket is locked by a resale in progress")]
    TicketLocked,
    /// The asking price is zero or above what the owner paid.
    #[error("resale price {price:?} must be between 1 cent and {paid:?}")]
    InvalidResalePrice {
        /// Asked.
        price: Money,
        /// What the owner paid.
        paid: Money,
    },
    /// Listed already.
    #[error("the ticket is already listed")]
    AlreadyListed,
    /// Not listed.
    #[error("the ticket is not listed")]
    NotListed,
    /// The listing is taken, gone or at another price.
    #[error("the listing is not available")]
    ListingNotAvailable,
    /// Transfer to its own owner.
    #[error("the ticket already belongs to this customer")]
    TransferToSelf,
    /// The resale purchase does not hold the listing.
    #[error("this resale does not hold the listing")]
    NotListingHolder,
    /// The refund does not fit in `u64` cents.
    #[error("the refund overflows")]
    RefundOverflow,
}

/// An issued ticket.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketDetails {
    /// The ticket.
    pub ticket: TicketId,
    /// Its current owner.
    pub owner: CustomerId,
    /// Its section.
    pub section: SectionKey,
    /// Its seat.
    pub seat: Option<SeatIndex>,
    /// The show's start.
    pub start_at: Timestamp,
    /// Where it is.
    pub status: TicketStatus,
    /// The payments that paid for it, oldest first; the last is the current owner's.
    pub shares: Vec<Share>,
    /// Its resale listing.
    pub listing: Option<Listing>,
}

impl TicketDetails {
    /// What the current owner paid.
    pub fn paid_by_owner(&self) -> Money {
        self.shares.last().map_or(Money::ZERO, |share| share.paid)
    }

    /// The payment later refunds go to.
    pub fn owner_payment(&self) -> Option<PaymentId> {
        self.shares.last().map(|share| share.payment)
    }

    fn locked(&self) -> bool {
        self.listing
            .is_some_and(|listing| listing.taken_by.is_some())
    }
}

/// The state of one ticket.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    /// Version, last `now`, idempotency records.
    pub journal: Journal,
    /// `None` until issued.
    pub details: Option<TicketDetails>,
}

fn payment_code(payment: PaymentId) -> [u64; 2] {
    match payment {
        PaymentId::Order(order) => [0, order.0],
        PaymentId::Resale(resale) => [1, resale.0],
    }
}

fn refund_message(ticket: TicketId, payment: PaymentId, amount: Money) -> Effect {
    let [kind, id] = payment_code(payment);
    Effect::Send(Message::Payment {
        payment,
        id: CommandId::derive(&[
            tag::REFUND,
            ticket.order.0,
            u64::from(ticket.index),
            kind,
            id,
        ]),
        body: PaymentCommand::Refund {
            refund: RefundId {
                payment,
                ticket: Some(ticket),
            },
            amount,
        },
    })
}

impl Ticket {
    /// The status, once issued.
    pub fn status(&self) -> Option<TicketStatus> {
        self.details.as_ref().map(|details| details.status)
    }

    /// The current owner, once issued.
    pub fn owner(&self) -> Option<CustomerId> {
        self.details.as_ref().map(|details| details.owner)
    }

    fn decide_body(
        &self,
        command: &Envelope<TicketCommand>,
    ) -> Result<Option<TicketEvent>, TicketError> {
        let now = command.now;
        let actor = command.actor;
        let details = match (&command.body, self.details.as_ref()) {
            (
                TicketCommand::Issue {
                    ticket,
                    owner,
                    section,
                    seat,
                    price,
                    payment,
                    start_at,
                },
                None,
            ) => {
                if actor != Actor::Service {
                    return Err(TicketError::Guard(GuardError::NotAuthorized { actor }));
                }
                return Ok(Some(TicketEvent::Issued {
                    ticket: *ticket,
                    owner: *owner,
                    section: *section,
                    seat: *seat,
                    price: *price,
                    payment: *payment,
                    start_at: *start_at,
                }));
            }
            (TicketCommand::Issue { .. }, Some(_)) => return Err(TicketError::TicketAlreadyIssued),
            (_, None) => return Err(TicketError::TicketNotFound),
            (_, Some(details)) => details,
        };
        let by_owner = || match actor {
            Actor::Customer(customer) if customer == details.owner => Ok(()),
            Actor::Customer(_) => Err(TicketError::NotTicketOwner),
            _ => Err(TicketError::Guard(GuardError::NotAuthorized { actor })),
        };
        let by_service = || {
            if actor == Actor::Service {
                Ok(())
            } else {
                Err(TicketError::Guard(GuardError::NotAuthorized { actor }))
            }
        };
        let valid = || {
            if details.status == TicketStatus::Valid {
                Ok(())
            } else {
                Err(TicketError::TicketNotValid)
            }
        };
        let event = match &command.body {
            TicketCommand::Issue { .. } => return Err(TicketError::TicketAlreadyIssued),
            TicketCommand::Transfer { to } => {
                by_owner()?;
                valid()?;
                if details.locked() {
                    return Err(TicketError::TicketLocked);
                }
                if !before_change_cutoff(now, details.start_at) {
                    return Err(TicketError::TooCloseToShow);
                }
                if *to == details.owner {
                    return Err(TicketError::TransferToSelf);
                }
                TicketEvent::Transferred {
                    from: details.owner,
                    to: *to,
                }
            }
            TicketCommand::List { price } => {
                by_owner()?;
                valid()?;
                if details.listing.is_some() {
                    return Err(TicketError::AlreadyListed);
                }
                if !before_change_cutoff(now, details.start_at) {
                    return Err(TicketError::TooCloseToShow);
                }
                let paid = details.paid_by_owner();
                if price.cents() == 0 || *price > paid {
                    return Err(TicketError::InvalidResalePrice {
                        price: *price,
                        paid,
                    });
                }
                TicketEvent::Listed { price: *price }
            }
            TicketCommand::Unlist => {
                by_owner()?;
                valid()?;
                match details.listing {
                    None => return Err(TicketError::NotListed),
                    Some(listing) if listing.taken_by.is_some() => {
                        return Err(TicketError::TicketLocked);
                    }
                    Some(_) => TicketEvent::Unlisted,
                }
            }
            TicketCommand::Cancel => {
                by_owner()?;
                valid()?;
                if details.locked() {
                    return Err(TicketError::TicketLocked);
                }
                if now >= details.start_at {
                    return Err(TicketError::ShowStarted);
                }
                let paid = details.paid_by_owner();
                let refund = cancellation_refund(paid, now, details.start_at)
                    .map_err(|_| TicketError::RefundOverflow)?;
                let Some(payment) = details.owner_payment() else {
                    return Err(TicketError::TicketNotValid);
                };
                TicketEvent::Cancelled {
                    owner: details.owner,
                    share: refund_share(now, details.start_at),
                    refund,
                    payment,
                }
            }
            TicketCommand::ShowCancelled => {
                by_service()?;
                if details.status != TicketStatus::Valid {
                    return Ok(None);
                }
                TicketEvent::ShowCancelledRefunded {
                    refunds: details
                        .shares
                        .iter()
                        .filter(|share| share.held().cents() > 0)
                        .map(|share| (share.payment, share.held()))
                        .collect(),
                }
            }
            TicketCommand::TakeListing {
                resale,
                buyer,
                price,
            } => {
                by_service()?;
                valid()?;
                match details.listing {
                    Some(Listing {
                        price: asked,
                        taken_by: None,
                    }) if asked == *price
                        && before_change_cutoff(now, details.start_at)
                        && *buyer != details.owner =>
                    {
                        TicketEvent::ListingTaken {
                            resale: *resale,
                            buyer: *buyer,
                        }
                    }
                    _ => return Err(TicketError::ListingNotAvailable),
                }
            }
            TicketCommand::ReturnListing { resale } => {
                by_service()?;
                match details.listing {
                    Some(Listing {
                        taken_by: Some((holder, _)),
                        ..
                    }) if holder == *resale => TicketEvent::ListingReturned { resale: *resale },
                    _ => return Ok(None),
                }
            }
            TicketCommand::CompleteResale { resale } => {
                by_service()?;
                valid()?;
                // Ownership never moves at or after the start: the resale is undone
                // (its capture refunded) and the ticket stays with the seller.
                if now >= details.start_at {
                    return Err(TicketError::ShowStarted);
                }
                match details.listing {
                    Some(Listing {
                        price,
                        taken_by: Some((holder, buyer)),
                    }) if holder == *resale => {
                        let Some(seller_payment) = details.owner_payment() else {
                            return Err(TicketError::TicketNotValid);
                        };
                        TicketEvent::Resold {
                            resale: *resale,
                            seller: details.owner,
                            buyer,
                            price,
                            seller_payment,
                            buyer_payment: PaymentId::Resale(*resale),
                        }
                    }
                    _ => return Err(TicketError::NotListingHolder),
                }
            }
        };
        Ok(Some(event))
    }

    fn effects_of(details: &TicketDetails, event: &TicketEvent) -> Effects {
        let ticket = details.ticket;
        let mut effects = Effects::new();
        match event {
            TicketEvent::Cancelled {
                refund, payment, ..
            } => {
                if refund.cents() > 0 {
                    effects.push(refund_message(ticket, *payment, *refund));
                }
                effects.push(Effect::Send(Message::Inventory {
                    section: details.section,
                    id: CommandId::derive(&[
                        tag::RETURN_SEAT,
                        ticket.order.0,
                        u64::from(ticket.index),
                    ]),
                    body: InventoryCommand::ReturnSeat { ticket },
                }));
            }
            TicketEvent::ShowCancelledRefunded { refunds } => {
                for (payment, amount) in refunds {
                    effects.push(refund_message(ticket, *payment, *amount));
                }
            }
            TicketEvent::Resold {
                resale,
                seller,
                price,
                seller_payment,
                ..
            } => {
                effects.push(Effect::Send(Message::Payment {
                    payment: *seller_payment,
                    id: CommandId::derive(&[tag::PAYOUT, resale.0]),
                    body: PaymentCommand::Payout {
                        payout: PayoutId { resale: *resale },
                        amount: *price,
                        to: *seller,
                    },
                }));
            }
            _ => {}
        }
        effects
    }
}

impl Aggregate for Ticket {
    type Command = TicketCommand;
    type Event = TicketEvent;
    type Error = TicketError;
    /// The ticket service's catalog: a ticket issued for a show already known to be
    /// cancelled asks itself for the show-cancellation refund, so no ticket of a
    /// cancelled show escapes the fan-out by being issued after it.
    type Context = ShowCatalog;

    fn decide(
        &self,
        catalog: &ShowCatalog,
        command: &Envelope<TicketCommand>,
    ) -> Result<Decision<TicketEvent>, TicketError> {
        let fingerprint = match self.journal.admit(command)? {
            Admission::Repeat { version } => return Ok(Decision::Repeat { version }),
            Admission::Fresh { fingerprint } => fingerprint,
        };
        let show_cancelled = self.details.as_ref().is_some_and(|details| {
            catalog
                .terms(details.section.show)
                .is_some_and(|terms| terms.status == ShowStatus::Cancelled)
        });
        // The catalog may know of the cancellation before this ticket's own message
        // arrives: customers' changes are refused from then on.
        if show_cancelled
            && matches!(
                command.body,
                TicketCommand::Transfer { .. }
                    | TicketCommand::List { .. }
                    | TicketCommand::Unlist
                    | TicketCommand::Cancel
                    | TicketCommand::TakeListing { .. }
            )
        {
            // Keep the usual order of checks for strangers: only then the show.
            self.decide_body(command)?;
            return Err(TicketError::ShowCancelled);
        }
        let Some(event) = self.decide_body(command)? else {
            return Ok(Decision::Ignored);
        };
        let mut effects = match self.details.as_ref() {
            Some(details) => Ticket::effects_of(details, &event),
            None => Effects::new(),
        };
        if let TicketEvent::Issued {
            ticket, section, ..
        } = &event
            && catalog
                .terms(section.show)
                .is_some_and(|terms| terms.status == ShowStatus::Cancelled)
        {
            effects.push(Effect::Send(show_cancelled_message(*ticket)));
        }
        Ok(Decision::Accepted {
            event: recorded(command, fingerprint, event),
            effects,
        })
    }

    fn apply(&mut self, event: &Recorded<TicketEvent>) {
        self.journal.record(event);
        if let TicketEvent::Issued {
            ticket,
            owner,
            section,
            seat,
            price,
            payment,
            start_at,
        } = &event.event
        {
            self.details = Some(TicketDetails {
                ticket: *ticket,
                owner: *owner,
                section: *section,
                seat: *seat,
                start_at: *start_at,
                status: TicketStatus::Valid,
                shares: vec![Share {
                    payment: *payment,
                    paid: *price,
                    paid_out: Money::ZERO,
                }],
                listing: None,
            });
            return;
        }
        let Some(details) = applied_found(self.details.as_mut(), "the ticket") else {
            return;
        };
        match &event.event {
            TicketEvent::Issued { .. } => {}
            TicketEvent::Transferred { to, .. } => {
                details.owner = *to;
                details.listing = None;
            }
            TicketEvent::Listed { price } => {
                details.listing = Some(Listing {
                    price: *price,
                    taken_by: None,
                });
            }
            TicketEvent::Unlisted => details.listing = None,
            TicketEvent::ListingTaken {
                resale,
                buyer: taker,
            } => {
                if let Some(listing) = applied_found(details.listing.as_mut(), "the taken listing")
                {
                    listing.taken_by = Some((*resale, *taker));
                }
            }
            TicketEvent::ListingReturned { .. } => {
                if let Some(listing) =
                    applied_found(details.listing.as_mut(), "the returned listing")
                {
                    listing.taken_by = None;
                }
                // A ticket no longer valid (its show was cancelled while the resale was
                // in flight), or whose show has started, has its listing withdrawn
                // rather than put back: the seller keeps it, unlisted.
                if details.status != TicketStatus::Valid || event.now >= details.start_at {
                    details.listing = None;
                }
            }
            TicketEvent::Resold {
                buyer: new_owner,
                price,
                buyer_payment,
                ..
            } => {
                if let Some(share) = applied_found(details.shares.last_mut(), "the seller's share")
                {
                    share.paid_out = applied_add(share.paid_out, *price, "paid out");
                    debug_assert!(
                        share.paid_out <= share.paid,
                        "apply: paid out more than paid"
                    );
                }
                details.shares.push(Share {
                    payment: *buyer_payment,
                    paid: *price,
                    paid_out: Money::ZERO,
                });
                details.owner = *new_owner;
                details.listing = None;
            }
            TicketEvent::Cancelled { .. } => {
                details.status = TicketStatus::Cancelled;
                details.listing = None;
            }
            TicketEvent::ShowCancelledRefunded { .. } => {
                details.status = TicketStatus::ShowCancelled;
                // A taken listing stays locked so the resale in flight is refused and
                // refunds its buyer; an untaken one is withdrawn.
                if details
                    .listing
                    .is_some_and(|listing| listing.taken_by.is_none())
                {
                    details.listing = None;
                }
            }
        }
    }

    fn timers(&self) -> Vec<ArmedTimer> {
        Vec::new()
    }

    fn version(&self) -> u64 {
        self.journal.version
    }
}

/// The message telling valid ticket `ticket` that its show was cancelled.
pub fn show_cancelled_message(ticket: TicketId) -> Message {
    Message::Ticket {
        ticket,
        id: CommandId::derive(&[tag::SHOW_CANCELLED, ticket.order.0, u64::from(ticket.index)]),
        body: TicketCommand::ShowCancelled,
    }
}
