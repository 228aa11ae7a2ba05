//! Turnstile's ticketing domain core: every rule of SPEC.md as pure, replayable reducers.
//!
//! The core never reads a clock, draws randomness or does I/O. Each aggregate is a
//! value with two functions:
//!
//! - [`Aggregate::decide`]`(&self, context, &Envelope<Command>)` judges a command and
//!   returns a [`Decision`] — one new event plus the [`Effect`]s it causes, a
//!   [`Decision::Repeat`] of an earlier decision, or [`Decision::Ignored`] — or a typed
//!   rejection. It never mutates.
//! - [`Aggregate::apply`]`(&mut self, &Recorded<Event>)` folds one event into the state.
//!   It is infallible and is the same code live and on replay: rebuilding from an empty
//!   state by applying the log restores everything, idempotency records included.
//!
//! # The calling protocol (what a hosting service does)
//! 1. Receive a command body from an authenticated sender. Wrap it in an [`Envelope`]:
//!    the sender's command id, the [`Actor`] stamped from the session (a customer, an
//!    organizer, one of our services, or `System` for the service's own timers) and
//!    `now` from the service's clock, never earlier than the last `now` in its log.
//! 2. Call `decide(&state, &context, &envelope)`. The context is `()` except for the
//!    order and ticket services, which pass their [`show::ShowCatalog`] (the show terms
//!    they were told about through [`Notice::ShowTerms`]). Every `decide` checks, in
//!    this order: time ([`GuardError::TimeWentBackwards`]), idempotency (a repeat, or
//!    [`GuardError::IdempotencyConflict`]), the actor, then the rules.
//! 3. On `Accepted { event, effects }`: append the event, the effects (the outbox) and
//!    the consumed message id in one durable append; then `apply` the event, send the
//!    messages, call the gateway, arm and disarm the timers, publish the notices.
//!    On `Repeat { version }` the command was already decided: answer as the event at
//!    that stream version answered; append nothing. On `Ignored`, acknowledge and
//!    append nothing. On `Err`, nothing changed; answer the sender with the rejection.
//! 4. Answer the saga that sent the command. Answers are produced from the request and
//!    its outcome (the event — the original one for a repeat — or the rejection) by one
//!    function per source, so the sagas' contract lives in one place:
//!    [`order::input_from_inventory`], [`order::input_from_payment_rejection`],
//!    [`ticket::resale::input_from_ticket`] and
//!    [`ticket::resale::input_from_payment_rejection`]. A payment answers after the
//!    gateway did, from its events ([`order::input_from_payment`],
//!    [`ticket::resale::input_from_payment`]); those answers are already among its
//!    effects.
//! 5. When a timer fires, deliver [`Timer::command`] to the service itself with actor
//!    `System`.
//! 6. After a crash: apply the logged events to `Default::default()`, arm every timer
//!    [`Aggregate::timers`] lists, resend the unacknowledged outbox (a payment also
//!    lists its unanswered gateway calls: [`payment::Payment::calls_in_flight`]).
//!
//! [`host::Stream`] is this protocol in memory (state + log), for tests and benches.
//!
//! Messages between aggregates ([`Message`]) carry command ids derived from the
//! sender's state ([`CommandId::derive`]), so a resend is a repeat at the receiver,
//! and every receiver is idempotent.
//!
//! # Who talks to whom
//! - [`show`] → inventory: `Initialize`, `SetPhase` (sales open / closed / ended, with
//!   the show's version so reordering cannot undo a newer phase); → order and ticket
//!   services: [`Notice`]s. On [`Notice::ShowCancelled`] the host sends
//!   [`order::show_cancelled_message`] to each open order of the show and
//!   [`ticket::show_cancelled_message`] to each valid ticket.
//! - [`order`] (the reservation saga) → inventory: reserve, extend, confirm, release,
//!   unsell; → payment: authorize, capture, void, refund; → ticket: issue.
//! - [`payment`] → the gateway ([`payment::GatewayCall`] effects; the gateway is
//!   outside the core and answers with [`payment::PaymentCommand::GatewayReplied`]);
//!   → the order or resale saga: authorized, declined, captured, capture refused.
//! - [`ticket`] → payment: refunds and reseller payouts; → inventory: a cancelled
//!   ticket's seat.
//! - [`ticket::resale`] (the resale saga) → payment: authorize, capture, void, refund;
//!   → ticket: take the listing, return it, complete the resale.
//! - [`read_models`] fold [`read_models::Published`] events of every stream.
//!
//! # Modules
//! [`money`], [`time`], [`ids`] (values) · [`policy`] (pricing, refunds, cut-offs) ·
//! [`show`] · [`inventory`] (with [`inventory::seating`]: best available) · [`order`] ·
//! [`payment`] · [`ticket`] (with [`ticket::resale`]) · [`read_models`] · [`host`].

#![warn(missing_docs)]

pub mod canonical;
pub mod host;
pub mod ids;
pub mod inventory;
pub mod money;
pub mod order;
pub mod payment;
pub mod policy;
pub mod read_models;
pub mod show;
mod text;
pub mod ticket;
pub mod time;

use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::collections::BTreeMap;
use std::hash::Hash;

pub use ids::{
    Actor, CommandId, CustomerId, OrderId, OrganizerId, PaymentId, PayoutId, RefundId, ResaleId,
    SeatIndex, SectionIndex, SectionKey, ShowId, TicketId,
};
pub use money::{BasisPoints, Money, MoneyError};
pub use time::Timestamp;

/// A command as a service received it: the sender's id, the stamped actor and `now`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Envelope<C> {
    /// Chosen by the sender; a retry reuses it.
    pub id: CommandId,
    /// Stamped by the receiving service from the authenticated sender.
    pub actor: Actor,
    /// Stamped by the receiving service; never earlier than its log's last.
    pub now: Timestamp,
    /// What is asked.
    pub body: C,
}

impl<C> Envelope<C> {
    /// An envelope.
    pub fn new(id: CommandId, actor: Actor, now: Timestamp, body: C) -> Envelope<C> {
        Envelope {
            id,
            actor,
            now,
            body,
        }
    }
}

/// An event as recorded in a log: the event plus the command id, actor and `now` that
/// produced it (so an outside checker can judge every rule at the recorded `now`), and
/// the command's content fingerprint (so replay rebuilds idempotency).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Recorded<E> {
    /// The command that caused the event.
    pub command: CommandId,
    /// Who sent it.
    pub actor: Actor,
    /// When it was decided.
    pub now: Timestamp,
    /// [`ids::fingerprint`] of the command's actor and body.
    pub fingerprint: u64,
    /// What happened.
    pub event: E,
}

/// A message to another aggregate, delivered with actor [`Actor::Service`].
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Message {
    /// To a show (only its own start timer sends one).
    Show {
        /// The show.
        show: ShowId,
        /// The deterministic command id.
        id: CommandId,
        /// The command.
        body: show::ShowCommand,
    },
    /// To the inventory of one section.
    Inventory {
        /// The section.
        section: SectionKey,
        /// The deterministic command id.
        id: CommandId,
        /// The command.
        body: inventory::InventoryCommand,
    },
    /// To one order's saga.
    Order {
        /// The order.
        order: OrderId,
        /// The deterministic command id.
        id: CommandId,
        /// The command.
        body: order::OrderCommand,
    },
    /// To one payment.
    Payment {
        /// The payment.
        payment: PaymentId,
        /// The deterministic command id.
        id: CommandId,
        /// The command.
        body: payment::PaymentCommand,
    },
    /// To one ticket.
    Ticket {
        /// The ticket.
        ticket: TicketId,
        /// The deterministic command id.
        id: CommandId,
        /// The command.
        body: ticket::TicketCommand,
    },
    /// To one resale saga.
    Resale {
        /// The resale purchase.
        resale: ResaleId,
        /// The deterministic command id.
        id: CommandId,
        /// The command.
        body: ticket::resale::ResaleCommand,
    },
}

impl Message {
    /// The command id the message carries.
    pub fn id(&self) -> CommandId {
        match self {
            Message::Show { id, .. }
            | Message::Inventory { id, .. }
            | Message::Order { id, .. }
            | Message::Payment { id, .. }
            | Message::Ticket { id, .. }
            | Message::Resale { id, .. } => *id,
        }
    }
}

/// A timer a service arms for itself; when it fires the service sends itself
/// [`Timer::command`] with actor [`Actor::System`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Timer {
    /// A hold's expiry (inventory).
    HoldExpiry {
        /// The section.
        section: SectionKey,
        /// The order holding seats.
        order: OrderId,
    },
    /// An order's expiry (the saga).
    OrderExpiry {
        /// The order.
        order: OrderId,
    },
    /// A show's start (the show).
    ShowStart {
        /// The show.
        show: ShowId,
    },
    /// The next retry of a payment's refund, void or payout the gateway declined, or of
    /// a status query it could not answer (the payment service).
    PaymentRetry {
        /// The payment.
        payment: PaymentId,
    },
}

impl Timer {
    /// Whether the world must wait for this timer before it is quiet (holds and orders
    /// count; a show's start months away does not).
    pub fn counts_for_liveness(self) -> bool {
        !matches!(self, Timer::ShowStart { .. })
    }

    /// The message a firing timer delivers to its own service, with a command id derived
    /// from the timer and its deadline (re-arming for a new deadline is a new command).
    pub fn command(self, at: Timestamp) -> Message {
        match self {
            Timer::HoldExpiry { section, order } => Message::Inventory {
                section,
                id: CommandId::derive(&[
                    ids::tag::TIMER,
                    1,
                    section.show.0,
                    u64::from(section.section.0),
                    order.0,
                    at.0,
                ]),
                body: inventory::InventoryCommand::ExpireHold { order },
            },
            Timer::OrderExpiry { order } => Message::Order {
                order,
                id: CommandId::derive(&[ids::tag::TIMER, 2, order.0, at.0]),
                body: order::OrderCommand::Expire,
            },
            Timer::ShowStart { show } => Message::Show {
                show,
                id: CommandId::derive(&[ids::tag::TIMER, 3, show.0, at.0]),
                body: show::ShowCommand::Start,
            },
            Timer::PaymentRetry { payment } => {
                let (kind, id) = match payment {
                    PaymentId::Order(order) => (0, order.0),
                    PaymentId::Resale(resale) => (1, resale.0),
                };
                Message::Payment {
                    payment,
                    id: CommandId::derive(&[ids::tag::TIMER, 4, kind, id, at.0]),
                    body: payment::PaymentCommand::RetryDue,
                }
            }
        }
    }
}

/// A timer and its deadline, as [`Aggregate::timers`] lists them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ArmedTimer {
    /// Which timer.
    pub timer: Timer,
    /// When it fires.
    pub at: Timestamp,
}

/// A notice the show service publishes for the order and ticket services.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Notice {
    /// The show's terms changed: the order service updates its [`show::ShowCatalog`].
    ShowTerms(show::ShowTerms),
    /// The show was cancelled: the order service sends [`order::OrderCommand::ShowCancelled`]
    /// to every open order of the show ([`order::show_cancelled_message`]), the ticket
    /// service [`ticket::TicketCommand::ShowCancelled`] to every valid ticket
    /// ([`ticket::show_cancelled_message`]).
    ShowCancelled(ShowId),
}

/// Something the host must do after durably appending an event.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Effect {
    /// Send a message to another aggregate; resend until acknowledged.
    Send(Message),
    /// Call the payment gateway; resend until it answers.
    Gateway(payment::GatewayCall),
    /// Arm (or re-arm) a timer.
    Arm(ArmedTimer),
    /// Disarm a timer.
    Disarm(Timer),
    /// Publish a notice to the order and ticket services.
    Notify(Notice),
}

/// The effects of one decision; most decisions have one or two.
pub type Effects = SmallVec<[Effect; 2]>;

/// What `decide` concluded about an acceptable command.
// Accepted is the common case; boxing it would allocate on the hot path.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision<E> {
    /// A new event to append, and what it causes.
    Accepted {
        /// The event, stamped with the command's id, actor and `now`.
        event: Recorded<E>,
        /// Messages, gateway calls and timers, in order.
        effects: Effects,
    },
    /// The same command (id and content) was already decided: its event is at this
    /// stream version (1-based). Nothing new is appended.
    Repeat {
        /// The stream version of the original event.
        version: u64,
    },
    /// A message that needs nothing (a duplicate answer, a stale timer): acknowledge it.
    Ignored,
}

impl<E> Decision<E> {
    /// The new event, if any.
    pub fn event(&self) -> Option<&Recorded<E>> {
        match self {
            Decision::Accepted { event, .. } => Some(event),
            _ => None,
        }
    }

    /// The effects of a new event (none for repeats and ignored messages).
    pub fn effects(&self) -> &[Effect] {
        match self {
            Decision::Accepted { effects, .. } => effects,
            _ => &[],
        }
    }
}

/// A reducer over one aggregate's stream.
pub trait Aggregate: Default + Clone {
    /// What can be asked of it.
    type Command: Hash + Clone;
    /// What it records.
    type Event: Clone;
    /// Why it refuses.
    type Error: std::error::Error + Clone + PartialEq;
    /// Read-only facts from elsewhere that deciding needs (the order service's catalog
    /// of show terms); `()` for most.
    type Context: ?Sized;

    /// Judge `command` against the current state. Never mutates.
    fn decide(
        &self,
        context: &Self::Context,
        command: &Envelope<Self::Command>,
    ) -> Result<Decision<Self::Event>, Self::Error>;

    /// Fold one event into the state. Infallible; the same live and on replay.
    fn apply(&mut self, event: &Recorded<Self::Event>);

    /// The timers that should be armed in this state (re-armed after a restart).
    fn timers(&self) -> Vec<ArmedTimer>;

    /// How many events this stream holds.
    fn version(&self) -> u64;
}

/// The bookkeeping every aggregate shares: its stream version, the last `now` it
/// recorded, and one idempotency record per accepted command.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Journal {
    /// Events applied so far.
    pub version: u64,
    /// The latest `now` among them.
    pub last_now: Timestamp,
    records: BTreeMap<CommandId, CommandRecord>,
}

/// What idempotency remembers about an accepted command: its content fingerprint and
/// the stream version of its event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandRecord {
    /// [`ids::fingerprint`] of the command's actor and body.
    pub fingerprint: u64,
    /// The stream version of the event it produced.
    pub version: u64,
}

/// How a command passed the shared checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Never seen: decide it. Carries its fingerprint for the event.
    Fresh {
        /// The command's content fingerprint.
        fingerprint: u64,
    },
    /// Seen with the same content: answer [`Decision::Repeat`].
    Repeat {
        /// Where its event is.
        version: u64,
    },
}

/// The rejections every aggregate shares, one type carried by each aggregate's error as
/// its `Guard` variant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum GuardError {
    /// `now` is earlier than the last `now` this aggregate recorded.
    #[error("time went backwards: now {now:?} is before {last:?}")]
    TimeWentBackwards {
        /// The command's `now`.
        now: Timestamp,
        /// The last recorded `now`.
        last: Timestamp,
    },
    /// The command id was used before with different content.
    #[error("command {command} was used before with different content")]
    IdempotencyConflict {
        /// The reused id.
        command: CommandId,
    },
    /// This kind of actor may not send this command.
    #[error("{actor:?} may not send this command")]
    NotAuthorized {
        /// Who sent it.
        actor: Actor,
    },
}

/// `value − amount` in `apply`, asserting (in debug builds and tests) that it cannot
/// underflow: `apply` folds only events `decide` produced from the same state, so an
/// underflow is a bug in the core, never bad input. A release build keeps the absorbed
/// value (0) rather than crash a service on its own log.
#[inline]
#[track_caller]
pub(crate) fn applied_sub(value: u32, amount: u32, what: &str) -> u32 {
    debug_assert!(
        amount <= value,
        "apply: {what} would go below zero ({value} − {amount})"
    );
    value.saturating_sub(amount)
}

/// `total + amount` of money in `apply`, asserting (in debug builds and tests) that it
/// cannot overflow: `decide` checked it. A release build keeps the old total.
#[inline]
#[track_caller]
pub(crate) fn applied_add(total: Money, amount: Money, what: &str) -> Money {
    let sum = total.checked_add(amount);
    debug_assert!(
        sum.is_ok(),
        "apply: {what} overflows ({total:?} + {amount:?})"
    );
    sum.unwrap_or(total)
}

/// Asserts (in debug builds and tests) that `apply` found what the event refers to; in a
/// release build the event is absorbed.
#[inline]
#[track_caller]
pub(crate) fn applied_found<T>(found: Option<T>, what: &str) -> Option<T> {
    debug_assert!(found.is_some(), "apply: {what} is missing");
    found
}

impl Journal {
    /// Check time and idempotency for `command`.
    pub fn admit<C: Serialize>(&self, command: &Envelope<C>) -> Result<Admission, GuardError> {
        if command.now < self.last_now {
            return Err(GuardError::TimeWentBackwards {
                now: command.now,
                last: self.last_now,
            });
        }
        let fingerprint = ids::fingerprint(&command.actor, &command.body);
        match self.records.get(&command.id) {
            None => Ok(Admission::Fresh { fingerprint }),
            Some(record) if record.fingerprint == fingerprint => Ok(Admission::Repeat {
                version: record.version,
            }),
            Some(_) => Err(GuardError::IdempotencyConflict {
                command: command.id,
            }),
        }
    }

    /// Count one applied event and remember its command.
    pub fn record<E>(&mut self, event: &Recorded<E>) {
        self.version += 1;
        self.last_now = self.last_now.max(event.now);
        self.records.insert(
            event.command,
            CommandRecord {
                fingerprint: event.fingerprint,
                version: self.version,
            },
        );
    }

    /// The idempotency record of `command`, if it was accepted.
    pub fn record_of(&self, command: CommandId) -> Option<CommandRecord> {
        self.records.get(&command).copied()
    }
}

/// Stamp `event` with `command`'s id, actor, `now` and fingerprint.
pub fn recorded<C, E>(command: &Envelope<C>, fingerprint: u64, event: E) -> Recorded<E> {
    Recorded {
        command: command.id,
        actor: command.actor,
        now: command.now,
        fingerprint,
        event,
    }
}
