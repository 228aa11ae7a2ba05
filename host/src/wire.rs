//! What travels between services, clients and the gateway ([`Msg`]), and what a service
//! writes to its durable log ([`Entry`]).
//!
//! Architecture invariant: no message carries an actor or a time that a service reads.
//! A client may put a [`Claim`] on a command (the simulator's adversaries forge one);
//! the host never looks at it: the actor comes from the driver's word on who sent the
//! message ([`crate::Peer`]) and `now` from the host's own clock.

use smallvec::SmallVec;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use turnstile_core::inventory::InventoryError;
use turnstile_core::order::{OrderError, OrderStatus};
use turnstile_core::payment::{GatewayCall, GatewayKey, GatewayOutcome, PaymentError};
use turnstile_core::read_models::Published;
use turnstile_core::show::{ShowError, ShowTerms};
use turnstile_core::ticket::TicketError;
use turnstile_core::ticket::resale::{ResaleError, ResaleStatus};
use turnstile_core::{Actor, CommandId, Message, Notice, OrderId, ResaleId, Timestamp};

use serde::{Deserialize, Serialize};

use crate::Service;

/// An actor and a time a client *claims* in a command's body. Services ignore it; it
/// exists so the adversarial workload can forge one and the invariants can see that
/// forging changes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Claim {
    /// Who the sender pretends to be.
    pub actor: Actor,
    /// When the sender pretends it is.
    pub now: Timestamp,
}

/// Why a service refused a client's command: the core's typed error, or a transport
/// refusal.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Rejection {
    /// The show refused.
    Show(ShowError),
    /// The section's inventory refused.
    Inventory(InventoryError),
    /// The order refused.
    Order(OrderError),
    /// The payment refused.
    Payment(PaymentError),
    /// The ticket refused.
    Ticket(TicketError),
    /// The resale purchase refused.
    Resale(ResaleError),
    /// The command was sent to a service that does not host its aggregate.
    WrongService,
}

/// A service's answer to a client.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Answer {
    /// Accepted: `new` when it recorded an event, false for a repeat or a no-op.
    Accepted {
        /// Whether an event was recorded.
        new: bool,
    },
    /// Refused; nothing changed.
    Rejected(Rejection),
    /// An order's status (`None`: unknown order).
    Order(Option<OrderStatus>),
    /// A resale purchase's status.
    Resale(Option<ResaleStatus>),
}

/// A read-only question a client asks (no log, no state change).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Query {
    /// Where is this order?
    Order(OrderId),
    /// Where is this resale purchase?
    Resale(ResaleId),
}

/// A message of the ticketing world.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Msg {
    /// A command for an aggregate: between services (acknowledged with [`Msg::Ack`],
    /// resent until then) or from a client (answered with [`Msg::Reply`]).
    Command {
        /// The command, with its id and target.
        msg: Message,
        /// What the sender claims about itself; never read by a service.
        // Boxed: only adversaries claim anything, and every other message is then
        // small enough (≤ 128 bytes) to be moved without a call to memcpy.
        claimed: Option<Box<Claim>>,
    },
    /// The receiver durably consumed the message with this id.
    Ack(CommandId),
    /// The show service tells the order and ticket services something.
    Notice {
        /// Deduplication id.
        id: CommandId,
        /// What.
        notice: Notice,
    },
    /// A service publishes one of its events to the read models.
    Publish {
        /// Deduplication id (stream and version).
        id: CommandId,
        /// The event.
        published: Arc<Published>,
    },
    /// The payment service calls the gateway.
    Gateway(GatewayCall),
    /// The gateway answers a call.
    GatewayReply {
        /// The call's idempotency key.
        key: GatewayKey,
        /// The answer.
        outcome: GatewayOutcome,
    },
    /// A client asks a question.
    Query {
        /// The client's request id.
        id: CommandId,
        /// The question.
        query: Query,
    },
    /// A service answers a client's command or question.
    Reply {
        /// The client's request id.
        id: CommandId,
        /// The answer.
        answer: Answer,
    },
}

// The engine hashes every delivered message into the trace hash. Commands, notices and
// publications are named by ids derived from their content (or chosen by their client),
// so hashing the id, the kind and the target keeps the hash sensitive to any divergence
// without walking whole events on every delivery.
impl Hash for Msg {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            Msg::Command { msg, claimed } => {
                state.write_u8(0);
                state.write_u64(msg.id().0);
                // The command's target kind; the id already stands for its body.
                std::mem::discriminant(msg).hash(state);
                claimed.hash(state);
            }
            Msg::Ack(id) => {
                state.write_u8(1);
                state.write_u64(id.0);
            }
            Msg::Notice { id, .. } => {
                state.write_u8(2);
                state.write_u64(id.0);
            }
            Msg::Publish { id, .. } => {
                state.write_u8(3);
                state.write_u64(id.0);
            }
            Msg::Gateway(call) => {
                state.write_u8(4);
                call.hash(state);
            }
            Msg::GatewayReply { key, outcome } => {
                state.write_u8(5);
                key.hash(state);
                outcome.hash(state);
            }
            Msg::Query { id, query } => {
                state.write_u8(6);
                state.write_u64(id.0);
                query.hash(state);
            }
            Msg::Reply { id, answer } => {
                state.write_u8(7);
                state.write_u64(id.0);
                std::mem::discriminant(answer).hash(state);
            }
        }
    }
}

impl Msg {
    /// The id an outbox keys this message by (commands, notices, publications).
    pub fn outbox_id(&self) -> Option<CommandId> {
        match self {
            Msg::Command { msg, .. } => Some(msg.id()),
            Msg::Notice { id, .. } | Msg::Publish { id, .. } => Some(*id),
            _ => None,
        }
    }
}

/// The name of a core message's command, for traces and stuck reports.
pub fn message_name(message: &Message) -> &'static str {
    use turnstile_core::inventory::InventoryCommand as I;
    use turnstile_core::order::OrderCommand as O;
    use turnstile_core::payment::PaymentCommand as P;
    use turnstile_core::show::ShowCommand as S;
    use turnstile_core::ticket::TicketCommand as T;
    use turnstile_core::ticket::resale::ResaleCommand as R;
    match message {
        Message::Show { body, .. } => match body {
            S::Create { .. } => "show.Create",
            S::Publish => "show.Publish",
            S::OpenSales => "show.OpenSales",
            S::CloseSales => "show.CloseSales",
            S::Cancel => "show.Cancel",
            S::Start => "show.Start",
        },
        Message::Inventory { body, .. } => match body {
            I::Initialize { .. } => "inventory.Initialize",
            I::SetPhase { .. } => "inventory.SetPhase",
            I::Reserve { .. } => "inventory.Reserve",
            I::Extend { .. } => "inventory.Extend",
            I::Confirm { .. } => "inventory.Confirm",
            I::Release { .. } => "inventory.Release",
            I::Unsell { .. } => "inventory.Unsell",
            I::ExpireHold { .. } => "inventory.ExpireHold",
            I::Block(_) => "inventory.Block",
            I::Unblock(_) => "inventory.Unblock",
            I::ReturnSeat { .. } => "inventory.ReturnSeat",
        },
        Message::Order { body, .. } => match body {
            O::Initiate { .. } => "order.Initiate",
            O::Pay { .. } => "order.Pay",
            O::Cancel => "order.Cancel",
            O::Expire => "order.Expire",
            O::ShowCancelled => "order.ShowCancelled",
            O::SeatsReserved { .. } => "order.SeatsReserved",
            O::ReserveRejected { .. } => "order.ReserveRejected",
            O::HoldExtended => "order.HoldExtended",
            O::ExtendRejected { .. } => "order.ExtendRejected",
            O::Authorized => "order.Authorized",
            O::AuthorizationFailed { .. } => "order.AuthorizationFailed",
            O::SeatsConfirmed => "order.SeatsConfirmed",
            O::ConfirmRejected { .. } => "order.ConfirmRejected",
            O::Captured => "order.Captured",
            O::CaptureFailed { .. } => "order.CaptureFailed",
        },
        Message::Payment { body, .. } => match body {
            P::Authorize { .. } => "payment.Authorize",
            P::Capture => "payment.Capture",
            P::Void => "payment.Void",
            P::Refund { .. } => "payment.Refund",
            P::RefundAll { .. } => "payment.RefundAll",
            P::Payout { .. } => "payment.Payout",
            P::GatewayReplied { .. } => "payment.GatewayReplied",
            P::RetryDue => "payment.RetryDue",
        },
        Message::Ticket { body, .. } => match body {
            T::Issue { .. } => "ticket.Issue",
            T::Transfer { .. } => "ticket.Transfer",
            T::List { .. } => "ticket.List",
            T::Unlist => "ticket.Unlist",
            T::Cancel => "ticket.Cancel",
            T::ShowCancelled => "ticket.ShowCancelled",
            T::TakeListing { .. } => "ticket.TakeListing",
            T::ReturnListing { .. } => "ticket.ReturnListing",
            T::CompleteResale { .. } => "ticket.CompleteResale",
        },
        Message::Resale { body, .. } => match body {
            R::Buy { .. } => "resale.Buy",
            R::Authorized => "resale.Authorized",
            R::AuthorizationFailed { .. } => "resale.AuthorizationFailed",
            R::ListingTaken => "resale.ListingTaken",
            R::TakeRejected { .. } => "resale.TakeRejected",
            R::Captured => "resale.Captured",
            R::CaptureFailed { .. } => "resale.CaptureFailed",
            R::ResaleCompleted => "resale.ResaleCompleted",
            R::CompleteRejected { .. } => "resale.CompleteRejected",
        },
    }
}

fn target(message: &Message) -> String {
    match message {
        Message::Show { show, .. } => format!("show {}", show.0),
        Message::Inventory { section, .. } => section.to_string(),
        Message::Order { order, .. } => format!("order {}", order.0),
        Message::Payment { payment, .. } => format!("payment of {payment}"),
        Message::Ticket { ticket, .. } => ticket.to_string(),
        Message::Resale { resale, .. } => format!("resale {}", resale.0),
    }
}

/// A command id as traces show it: a client's own number, or the top of a derived hash.
fn short_id(id: CommandId) -> u64 {
    if id.is_derived() {
        (id.0 >> 40) & 0x7f_ffff
    } else {
        id.0 & 0xff_ffff
    }
}

// Traces, stories and the shell are read by people: one short line per message, the
// command's name and target rather than every field, values in words and units.
impl fmt::Display for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Msg::Command { msg, claimed } => {
                write!(
                    f,
                    "{} {} #{:x}",
                    message_name(msg),
                    target(msg),
                    msg.id().0 >> 40
                )?;
                if let Some(claim) = claimed {
                    write!(
                        f,
                        " claiming {} at {}",
                        actor_text(claim.actor),
                        claim.now.0
                    )?;
                }
                Ok(())
            }
            Msg::Ack(id) => write!(f, "ack #{:x}", short_id(*id)),
            Msg::Notice { notice, .. } => match notice {
                Notice::ShowTerms(terms) => {
                    write!(f, "notice terms show {} v{}", terms.show.0, terms.version)
                }
                Notice::ShowCancelled(show) => write!(f, "notice show {} cancelled", show.0),
            },
            Msg::Publish { published, .. } => {
                write!(f, "publish {} v{}", published.stream, published.version)
            }
            Msg::Gateway(call) => write!(
                f,
                "gateway: {} for {} ({} #{})",
                call.request, call.key.payment, call.key.operation, call.key.attempt
            ),
            Msg::GatewayReply { key, outcome } => write!(
                f,
                "gateway reply: {outcome} ({} #{} for {})",
                key.operation, key.attempt, key.payment
            ),
            Msg::Query { query, .. } => match query {
                Query::Order(order) => write!(f, "query order {}", order.0),
                Query::Resale(resale) => write!(f, "query resale {}", resale.0),
            },
            Msg::Reply { answer, .. } => write!(f, "reply {answer}"),
        }
    }
}

impl fmt::Debug for Msg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Answer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Answer::Accepted { new: true } => f.write_str("accepted"),
            Answer::Accepted { new: false } => f.write_str("accepted (already done)"),
            Answer::Rejected(rejection) => write!(f, "rejected: {rejection}"),
            Answer::Order(Some(status)) => write!(f, "order {status}"),
            Answer::Order(None) => f.write_str("no such order"),
            Answer::Resale(Some(status)) => write!(f, "resale {status}"),
            Answer::Resale(None) => f.write_str("no such resale"),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Show(error) => write!(f, "{error}"),
            Rejection::Inventory(error) => write!(f, "{error}"),
            Rejection::Order(error) => write!(f, "{error}"),
            Rejection::Payment(error) => write!(f, "{error}"),
            Rejection::Ticket(error) => write!(f, "{error}"),
            Rejection::Resale(error) => write!(f, "{error}"),
            Rejection::WrongService => f.write_str("sent to the wrong service"),
        }
    }
}

/// Who an actor is, in words.
fn actor_text(actor: Actor) -> String {
    match actor {
        Actor::Organizer(organizer) => format!("organizer {}", organizer.0),
        Actor::Customer(customer) => format!("customer {}", customer.0),
        Actor::Service => "a service".to_owned(),
        Actor::System => "the system".to_owned(),
    }
}

/// What one log entry changed besides the outbox and the inbox.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Change {
    /// Nothing (a rejection answered to a saga, a fan-out).
    Nothing,
    /// A domain event of one stream, with its version there: shared with the
    /// publication that carries it to the read models, and with their log.
    Event(Arc<Published>),
    /// The order service learned a show's terms.
    Terms(Box<ShowTerms>),
    /// The read models took in a published event.
    Published(Arc<Published>),
}

/// One durable append of a service: the change, the messages it causes (the outbox)
/// and the id of the message it consumed, together.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The inbox id consumed, if the entry answers a message.
    pub consumed: Option<CommandId>,
    /// What changed.
    pub change: Change,
    /// Messages to send, resent until acknowledged.
    pub outbox: Vec<(Service, Msg)>,
    /// The id of the publication of the entry's event to the read models, the outbox's
    /// last message: built from the event when sent, so the log does not hold it twice.
    pub publish: Option<CommandId>,
    /// Outbox messages their receivers acknowledged since the previous append: taken
    /// out of the outbox when the entry applies.
    pub acked: SmallVec<[(Service, CommandId); 2]>,
}

impl Entry {
    /// Outbox messages, the publication included.
    pub fn outbox_len(&self) -> usize {
        self.outbox.len() + usize::from(self.publish.is_some())
    }

    /// The outbox message at `index` (the publication comes last).
    pub fn message(&self, index: usize) -> Msg {
        if let Some((_, msg)) = self.outbox.get(index) {
            return msg.clone();
        }
        match (&self.change, self.publish) {
            (Change::Event(published), Some(id)) => Msg::Publish {
                id,
                published: Arc::clone(published),
            },
            _ => unreachable!("an outbox index past the entry's messages"),
        }
    }
}
