//! The Turnstile service host: one service node as a sans-IO state machine, in the
//! style of quinn-proto. It hosts the core's aggregates behind a durable log, a
//! transactional outbox and a deduplicating inbox, and it knows neither the simulator
//! nor any real I/O: the simulated world (`harness`) and the real server drive the same
//! code, so the code that is proven is the code that runs.
//!
//! # The contract
//! A driver owns a [`Host`] per service ([`Service`]) and does four things:
//! 1. **Inputs**: it calls [`Host::handle_message`] for every message delivered to the
//!    service, saying truthfully who sent it ([`Peer`]: which service, the gateway, or
//!    an authenticated customer or organizer with the address to answer them at);
//!    [`Host::handle_timer`] when a timer it armed fires; and, at start and after every
//!    crash, [`Host::rebuild`] from the records its durable log still holds, then
//!    [`Host::start`]. Every input carries `now`, the service's clock (ms since the Unix
//!    epoch); the host stamps commands with it, never earlier than the last `now` in its
//!    log, so a clock that steps back does not move time backwards for an aggregate.
//! 2. **Outputs**: after each input it drains [`Host::outputs`] and executes every
//!    [`Output`] **in order**: [`Output::Append`] writes a record (not yet durable);
//!    [`Output::Sync`] makes every appended record durable, and nothing after a `Sync`
//!    may be executed before the sync completed (that is how a message never leaves
//!    before the state it reflects is durable); [`Output::Send`], [`Output::Reply`] and
//!    [`Output::Gateway`] go to another service, a client, or the payment gateway;
//!    [`Output::Arm`] and [`Output::Cancel`] arm and cancel timers on the host's clock;
//!    [`Output::Note`] tells what happened, for metrics and probes.
//!    One relaxation: a driver whose hosts all append into one atomic commit (the real
//!    server's single SQLite transaction) may hand an [`Output::Send`] to a host of that
//!    same commit before it completes — the message and the state that sent it then
//!    become durable together or not at all; replies and gateway calls still wait.
//! 3. **What it may lose or reorder**: any message in either direction may be lost,
//!    duplicated, delayed or reordered (the host resends its outbox until acknowledged
//!    and drops what its inbox already consumed); a timer may fire late, or after it was
//!    cancelled (stale timers are recognised); a crash may lose every record appended
//!    after the last completed `Sync`, and tear the one being written: the driver must
//!    then hand [`Host::rebuild`] only the intact prefix ([`record`] frames carry a
//!    checksum and a sequence number for that).
//! 4. **What it must not do**: execute outputs out of order, drop a record before a
//!    crash said so, invent a sender, or read anything from a message's body that the
//!    host did not.
//!
//! The rules the host owns: stamping the actor and `now`; decide → append → apply;
//! one append holding the event, the messages it causes (the outbox) and the id of the
//! message consumed; group commit ([`HostConfig::flush_ms`]); resend rounds with
//! backoff; inbox dedupe; rebuilding every aggregate, the outbox, the inbox and every
//! timer from the log alone.
//!
//! # Modules
//! [`wire`] (messages and log entries) · [`record`] (the durable frame codec) ·
//! [`doubles`] (the seam where tests plant faulty decisions).

#![warn(missing_docs)]

pub mod doubles;
mod node;
pub mod record;
pub mod wire;

use serde::{Deserialize, Serialize};
use turnstile_core::payment::GatewayCall;
use turnstile_core::{CustomerId, Message, OrganizerId, SectionKey, Timer, Timestamp};

pub use doubles::{Doubles, Hook, Rebuild};
pub use node::{AggregateRef, Host};
pub use wire::{Answer, Change, Claim, Entry, Msg, Query, Rejection};

/// Which service a host is, and the address of one (services talk by these).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Service {
    /// Every show.
    Shows,
    /// Every order's saga.
    Orders,
    /// Every payment.
    Payments,
    /// Every ticket and resale purchase.
    Tickets,
    /// The read models.
    ReadModels,
    /// One show section's inventory.
    Inventory(SectionKey),
}

impl Service {
    /// The service that hosts a message's aggregate.
    #[inline]
    pub fn of(message: &Message) -> Service {
        match message {
            Message::Show { .. } => Service::Shows,
            Message::Inventory { section, .. } => Service::Inventory(*section),
            Message::Order { .. } => Service::Orders,
            Message::Payment { .. } => Service::Payments,
            Message::Ticket { .. } | Message::Resale { .. } => Service::Tickets,
        }
    }

    /// A short stable name (`orders`, `inventory 2/0`).
    pub fn name(self) -> String {
        match self {
            Service::Shows => "shows".to_owned(),
            Service::Orders => "orders".to_owned(),
            Service::Payments => "payments".to_owned(),
            Service::Tickets => "tickets".to_owned(),
            Service::ReadModels => "read_models".to_owned(),
            Service::Inventory(key) => format!("inventory {}/{}", key.show.0, key.section.0),
        }
    }
}

/// Where a client's answer goes: a number the driver chose when it handed the host the
/// client's message (a simulated node, an HTTP request waiting), given back in
/// [`Output::Reply`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ReplyTo(pub u64);

/// Who sent a message, as the driver authenticated it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Peer {
    /// One of our services.
    Service(Service),
    /// The payment gateway.
    Gateway,
    /// A customer's session.
    Customer {
        /// Who.
        customer: CustomerId,
        /// Where to answer.
        reply_to: ReplyTo,
    },
    /// An organizer's session.
    Organizer {
        /// Who.
        organizer: OrganizerId,
        /// Where to answer.
        reply_to: ReplyTo,
    },
}

/// A timer the host asks its driver to arm.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostTimer {
    /// A core timer (a hold's expiry, an order's expiry, a show's start) and its
    /// deadline; on firing the host sends itself [`Timer::command`].
    Core {
        /// Which.
        timer: Timer,
        /// When it is due.
        at: Timestamp,
    },
    /// Resend the unacknowledged outbox and the unanswered gateway calls.
    Resend,
    /// Sync the log and send what waited for it (group commit).
    Flush,
}

impl HostTimer {
    /// Whether the world must wait for this timer before it is quiet: the host's own
    /// timers and hold and order expiries count; a show's start months away does not.
    pub fn counts_for_liveness(self) -> bool {
        match self {
            HostTimer::Core { timer, .. } => timer.counts_for_liveness(),
            HostTimer::Resend | HostTimer::Flush => true,
        }
    }
}

/// Something that happened inside the host that a driver may count or show; no
/// state depends on whether it is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Note {
    /// The inbox dropped (and acknowledged again) a message it had already consumed.
    DuplicateDropped,
    /// A command was refused; nothing changed.
    Rejected(Rejection),
    /// A show's cancellation reached orders still open, which were told.
    ShowCancelledWithOpenOrders,
}

/// What the driver must do, in order (see the contract in the crate docs).
#[derive(Clone, Debug)]
pub enum Output {
    /// Append this record to the durable log; it is not durable until the next `Sync`.
    Append(std::rc::Rc<Entry>),
    /// Make every appended record durable before executing any later output.
    Sync,
    /// Send a message to another service (boxed: drivers queue it as it is).
    Send {
        /// The receiving service.
        to: Service,
        /// The message.
        msg: Box<Msg>,
    },
    /// Answer a client: `msg` is a [`Msg::Reply`] (boxed, like every message a driver
    /// queues).
    Reply {
        /// Where.
        to: ReplyTo,
        /// The reply.
        msg: Box<Msg>,
    },
    /// Call the payment gateway; its answer comes back as a [`Msg::GatewayReply`] from
    /// [`Peer::Gateway`]. (Boxed: calls are rare, and every other output is small.)
    Gateway(Box<GatewayCall>),
    /// Arm (or re-arm) a timer to fire at `at` on the host's clock.
    Arm {
        /// Which.
        timer: HostTimer,
        /// When.
        at: Timestamp,
    },
    /// Cancel a core timer armed earlier (it may have fired already).
    Cancel(Timer),
    /// Something to count or show.
    Note(Note),
}

/// How a host behaves: its timing and the test seam.
#[derive(Clone, Copy, Debug)]
pub struct HostConfig {
    /// How long the host waits before resending unacknowledged messages and unanswered
    /// gateway calls.
    pub resend_ms: u64,
    /// The longest it backs off between resends while nothing gets through.
    pub resend_ms_max: u64,
    /// How long it batches appends before one sync (group commit). 0: no batching,
    /// every input's appends are synced before the input ends (no flush timer).
    pub flush_ms: u64,
    /// Whether services publish their events to the read models.
    pub publish: bool,
    /// Faulty test doubles (all off in production).
    pub doubles: Doubles,
}

/// How long a service waits before resending, by default.
pub const RESEND_MS: u64 = 250;
/// The longest a service backs off between resends, by default.
pub const RESEND_MS_MAX: u64 = 8_000;
/// How long a service batches appends before one sync, by default.
pub const FLUSH_MS: u64 = 20;

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            resend_ms: RESEND_MS,
            resend_ms_max: RESEND_MS_MAX,
            flush_ms: FLUSH_MS,
            publish: true,
            doubles: Doubles::default(),
        }
    }
}

#[cfg(test)]
mod tests;
