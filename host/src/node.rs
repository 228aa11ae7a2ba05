//! [`Host`]: one service node — its aggregates, outbox, inbox and timers — as a state
//! machine with `handle_*` inputs and one ordered queue of [`Output`]s.
//!
//! Handling a message follows the core's calling protocol:
//! 1. the actor is stamped from the driver's [`Peer`] (a customer's or organizer's
//!    session, one of our services, or the host's own timer) and `now` from the host's
//!    clock, never earlier than the last `now` in its log; nothing in the body chooses
//!    either;
//! 2. a message from another service whose id the log already holds is dropped and
//!    acknowledged again (the inbox; the read models know a redelivered publication by
//!    its stream version instead);
//! 3. the aggregate decides; a new event, the messages it causes (the outbox: commands,
//!    answers to the saga, notices, the publication to the read models) and the consumed
//!    id are written in **one** append, then applied; the messages leave after the next
//!    sync (group commit: the first unsynced append arms a flush; without it, the input's
//!    end syncs); outbox messages are
//!    resent until acknowledged; an acknowledgement stops the resends at once and is
//!    logged with the host's next append (or by its next resend round);
//! 4. on restart the host is rebuilt from its log alone: entries replayed, the outbox and
//!    the inbox restored, every timer the aggregates list re-armed (hold expiry!), the
//!    outbox and the gateway calls in flight resent.

use smallvec::SmallVec;
use std::collections::{BTreeMap, BTreeSet};
use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::sync::Arc;

use turnstile_core::ids::StableHasher;
use turnstile_core::inventory::{Inventory, InventoryCommand};
use turnstile_core::order::{self, Order};
use turnstile_core::payment::{
    GatewayKey, GatewayOutcome, OperationStatus, Payment, PaymentCommand,
};
use turnstile_core::read_models::{DomainEvent, Published, ReadModels, StreamId};
use turnstile_core::show::{Show, ShowCatalog};
use turnstile_core::ticket::resale::{self, Resale};
use turnstile_core::ticket::{self, Ticket, TicketStatus};
use turnstile_core::{
    Actor, Aggregate, ArmedTimer, CommandId, Decision, Effect, Effects, Envelope, Message, Notice,
    OrderId, PaymentId, ResaleId, ShowId, TicketId, Timer, Timestamp,
};

use crate::doubles::{Rebuild, decide_with};
use crate::wire::{Answer, Change, Entry, Msg, Query, Rejection, message_name};
use crate::{HostConfig, HostTimer, Note, Output, Peer, Service};

/// The aggregates a host serves, each behind a pointer: map nodes then hold pointers,
/// so an insert shifts words, not whole aggregates. In the maps the pointer is an `Rc`
/// written through `Rc::make_mut`: a copy of the host (a driver keeping a rebuilt state
/// for the next restart) shares every aggregate, and only one changed afterwards is
/// copied (once).
#[derive(Clone, Debug)]
enum Streams {
    Shows(BTreeMap<ShowId, Rc<Show>>),
    Inventory(Box<Inventory>),
    Orders(BTreeMap<OrderId, Rc<Order>>),
    Payments(BTreeMap<PaymentId, Rc<Payment>>),
    Tickets {
        tickets: BTreeMap<TicketId, Rc<Ticket>>,
        resales: BTreeMap<ResaleId, Rc<Resale>>,
    },
    ReadModels(Box<ReadModels>),
}

/// One aggregate of a host, to compare against a state folded elsewhere.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AggregateRef<'a> {
    /// A show.
    Show(&'a Show),
    /// A section's inventory.
    Inventory(&'a Inventory),
    /// An order's saga.
    Order(&'a Order),
    /// A payment.
    Payment(&'a Payment),
    /// A ticket.
    Ticket(&'a Ticket),
    /// A resale purchase.
    Resale(&'a Resale),
}

impl AggregateRef<'_> {
    /// How many events its stream holds.
    pub fn version(&self) -> u64 {
        match self {
            AggregateRef::Show(a) => a.version(),
            AggregateRef::Inventory(a) => a.version(),
            AggregateRef::Order(a) => a.version(),
            AggregateRef::Payment(a) => a.version(),
            AggregateRef::Ticket(a) => a.version(),
            AggregateRef::Resale(a) => a.version(),
        }
    }
}

/// An outbox entry: the entry its message sits in, and how often it was resent.
#[derive(Clone, Debug)]
struct Pending {
    entry: Rc<Entry>,
    index: u32,
    /// When to resend (host clock, ms); 0 until the first resend round sees it.
    due_ms: u64,
    /// The receiver acknowledged it; the acknowledgement rides on the next append
    /// (volatile: after a crash the message is resent and acknowledged again).
    acked: bool,
}

/// One service node (see the crate docs for the contract).
#[derive(Clone, Debug)]
pub struct Host {
    service: Service,
    config: HostConfig,
    streams: Streams,
    /// The order and ticket services' knowledge of shows.
    catalog: ShowCatalog,
    outbox: BTreeMap<(Service, CommandId), Pending>,
    consumed: BTreeSet<CommandId>,
    timers: BTreeMap<Timer, Timestamp>,
    last_now: Timestamp,
    /// The clock of the input being handled.
    clock: Timestamp,
    resend_armed: bool,
    resend_ms: u64,
    /// Payments with gateway calls unanswered, and when to resend them (0: next round).
    gateway_pending: BTreeMap<PaymentId, u64>,
    unsynced: bool,
    /// Messages, replies and gateway calls waiting for the pending sync.
    deferred: Vec<Output>,
    /// Acknowledgements received and not yet logged: they are written with the next
    /// append (or by the resend round), never alone on the hot path.
    acks: Vec<(Service, CommandId)>,
    /// Log records folded by [`Host::rebuild`].
    replayed: usize,
    rearm_timers: bool,
    outputs: Vec<Output>,
}

/// What deciding one command came to.
// `New` is the common case; boxing its effects would allocate on the hot path.
#[allow(clippy::large_enum_variant)]
enum Decided {
    New {
        /// The event as it will be logged and published, built once where it is
        /// decided (moving a 160-byte event through each layer cost a copy each).
        published: Arc<Published>,
        effects: Effects,
        answer: Option<Message>,
    },
    Repeat,
    Ignored,
    Rejected {
        rejection: Rejection,
        answer: Option<Message>,
    },
}

/// Turns a decision into [`Decided`] (answers computed by the caller).
fn settle<E, X>(
    result: Result<Decision<E>, X>,
    stream: StreamId,
    version: u64,
    wrap: fn(turnstile_core::Recorded<E>) -> DomainEvent,
    reject: fn(X) -> Rejection,
) -> Decided {
    match result {
        Ok(Decision::Accepted { event, effects }) => Decided::New {
            published: Arc::new(Published {
                stream,
                version: version + 1,
                event: wrap(event),
            }),
            effects,
            answer: None,
        },
        Ok(Decision::Repeat { .. }) => Decided::Repeat,
        Ok(Decision::Ignored) => Decided::Ignored,
        Err(error) => Decided::Rejected {
            rejection: reject(error),
            answer: None,
        },
    }
}

fn set_answer(decided: &mut Decided, answer: Option<Message>) {
    match decided {
        Decided::New { answer: slot, .. } | Decided::Rejected { answer: slot, .. } => {
            *slot = answer;
        }
        _ => {}
    }
}

fn hash_of<T: Hash>(tag: u64, value: &T) -> u64 {
    let mut hasher = StableHasher::new();
    hasher.write_u64(tag);
    value.hash(&mut hasher);
    // Spread the bits so that nearby values give distant ids.
    let mut x = hasher.finish();
    x ^= x >> 31;
    x = x.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    x ^ (x >> 29)
}

fn stream_code(stream: &StreamId) -> u64 {
    let mut hasher = StableHasher::new();
    stream.hash(&mut hasher);
    hasher.finish()
}

/// The number a notice's id is derived with for each receiver (stable: ids are durable).
fn notice_code(to: Service) -> u64 {
    match to {
        Service::Orders => 1,
        Service::Tickets => 3,
        _ => 0,
    }
}

impl Host {
    /// An empty host of `service` (as at its first start, before [`Host::start`]).
    pub fn new(service: Service, config: HostConfig) -> Host {
        let streams = match service {
            Service::Shows => Streams::Shows(BTreeMap::new()),
            Service::Inventory(_) => Streams::Inventory(Box::default()),
            Service::Orders => Streams::Orders(BTreeMap::new()),
            Service::Payments => Streams::Payments(BTreeMap::new()),
            Service::Tickets => Streams::Tickets {
                tickets: BTreeMap::new(),
                resales: BTreeMap::new(),
            },
            Service::ReadModels => Streams::ReadModels(Box::default()),
        };
        Host {
            service,
            config,
            streams,
            catalog: ShowCatalog::new(),
            outbox: BTreeMap::new(),
            consumed: BTreeSet::new(),
            timers: BTreeMap::new(),
            last_now: Timestamp(0),
            clock: Timestamp(0),
            resend_armed: false,
            resend_ms: config.resend_ms,
            gateway_pending: BTreeMap::new(),
            unsynced: false,
            deferred: Vec::new(),
            acks: Vec::new(),
            replayed: 0,
            rearm_timers: true,
            outputs: Vec::new(),
        }
    }

    /// Rebuilds a host from the intact records of its log, in append order (all of
    /// them at a first start: none). Pure: it folds, arms nothing and sends nothing
    /// until [`Host::start`]. `from`, a copy of a host rebuilt earlier from a prefix of
    /// the same log (a driver may keep one), is resumed from instead of replaying
    /// everything; a log only ever grows or loses its unsynced tail, so that prefix is
    /// still there.
    pub fn rebuild(
        service: Service,
        config: HostConfig,
        records: &[Rc<Entry>],
        from: Option<Host>,
    ) -> Host {
        let mut rebuild = Rebuild {
            replay: records.len(),
            rearm_timers: true,
        };
        if let Some(hook) = config.doubles.rebuild {
            hook(service, &mut rebuild);
        }
        let replay = rebuild.replay.min(records.len());
        let resumable = |host: &Host| {
            config.doubles.rebuild.is_none() && host.service == service && host.replayed <= replay
        };
        let mut host = match from.filter(resumable) {
            Some(host) => host,
            None => Host::new(service, config),
        };
        for entry in &records[host.replayed..replay] {
            host.apply_entry(entry);
        }
        host.replayed = replay;
        host.rearm_timers = rebuild.rearm_timers;
        host
    }

    /// Starts a rebuilt host at `now`: arms every timer its aggregates list, resends the
    /// outbox and the gateway calls in flight. At a first start there is nothing to do.
    pub fn start(&mut self, now: Timestamp) {
        self.clock = now;
        if self.rearm_timers {
            for armed in self.listed_timers() {
                self.arm(armed.timer, armed.at);
            }
        }
        for ((to, _), pending) in &self.outbox {
            let msg = pending.entry.message(pending.index as usize);
            self.outputs.push(Output::Send {
                to: *to,
                msg: Box::new(msg),
            });
        }
        if let Streams::Payments(map) = &self.streams {
            for payment in self.gateway_pending.keys() {
                if let Some(state) = map.get(payment) {
                    for call in state.calls_in_flight() {
                        self.outputs.push(Output::Gateway(Box::new(call)));
                    }
                }
            }
        }
        self.ensure_resend();
    }

    /// What the driver must do now, in order (see the crate docs); drain it after every
    /// input.
    #[inline]
    pub fn outputs(&mut self) -> std::vec::Drain<'_, Output> {
        self.outputs.drain(..)
    }

    /// A message was delivered from `from` (authenticated by the driver).
    pub fn handle_message(&mut self, now: Timestamp, from: Peer, msg: Msg) {
        self.receive(now, from, msg);
        self.sync_unbatched();
    }

    /// Without group commit (`flush_ms` 0), what this input appended is synced before it
    /// ends, and what waited for the sync leaves with it.
    #[inline]
    fn sync_unbatched(&mut self) {
        if self.config.flush_ms == 0 {
            self.flush();
        }
    }

    fn receive(&mut self, now: Timestamp, from: Peer, msg: Msg) {
        self.clock = now;
        let from_service = match from {
            Peer::Service(service) => Some(service),
            _ => None,
        };
        if tracing::enabled!(tracing::Level::DEBUG) {
            tracing::debug!(service = ?self.service, from = ?from, msg = ?msg, "deliver");
        }
        match msg {
            Msg::Command { msg, claimed: _ } => {
                // The claim is never read: the actor comes from the driver's word.
                let actor = match from {
                    Peer::Service(_) => Actor::Service,
                    Peer::Customer { customer, .. } => Actor::Customer(customer),
                    Peer::Organizer { organizer, .. } => Actor::Organizer(organizer),
                    Peer::Gateway => return,
                };
                let id = msg.id();
                if let Some(sender) = from_service
                    && self.consumed.contains(&id)
                {
                    self.note(Note::DuplicateDropped);
                    self.send_out(ack(sender, id));
                    return;
                }
                let answer = self.handle_command(actor, msg, from_service.map(|_| id));
                match from_service {
                    Some(sender) => self.send_out(ack(sender, id)),
                    None => self.answer(from, id, answer),
                }
            }
            Msg::Ack(id) => {
                self.resend_ms = self.config.resend_ms;
                // Not logged now: the acknowledgement rides on the next append. A crash
                // before that only resends the message, which the receiver drops and
                // acknowledges again.
                if let Some(sender) = from_service
                    && let Some(pending) = self.outbox.get_mut(&(sender, id))
                    && !pending.acked
                {
                    pending.acked = true;
                    self.acks.push((sender, id));
                }
            }
            Msg::Notice { id, notice } => {
                let Some(sender) = from_service else { return };
                if self.consumed.contains(&id) {
                    self.note(Note::DuplicateDropped);
                } else {
                    self.notice(id, notice);
                }
                self.send_out(ack(sender, id));
            }
            Msg::Publish { id, published } => {
                let Some(sender) = from_service else { return };
                self.publication(published);
                self.send_out(ack(sender, id));
            }
            Msg::GatewayReply { key, outcome } if from == Peer::Gateway => {
                self.resend_ms = self.config.resend_ms;
                self.gateway_reply(key, outcome);
            }
            Msg::Query { id, query } => {
                let answer = self.query(query);
                self.answer(from, id, answer);
            }
            // Anything else (a notice or reply from a client, a forged gateway reply) is
            // not from whom it must be: dropped.
            _ => {}
        }
    }

    /// A timer armed through [`Output::Arm`] fired (perhaps late, perhaps stale).
    pub fn handle_timer(&mut self, now: Timestamp, timer: HostTimer) {
        self.clock = now;
        match timer {
            HostTimer::Flush => self.flush(),
            HostTimer::Core { timer, at } => {
                // Whatever waited for a sync goes first: the timer changes the state.
                self.flush();
                if self.timers.get(&timer) == Some(&at) {
                    self.timers.remove(&timer);
                }
                let msg = timer.command(at);
                self.handle_command(Actor::System, msg, None);
            }
            HostTimer::Resend => self.resend_round(),
        }
        self.sync_unbatched();
    }

    /// Which service this is.
    pub fn service(&self) -> Service {
        self.service
    }

    /// The latest `now` recorded in the log (the floor of the next stamp).
    pub fn last_now(&self) -> Timestamp {
        self.last_now
    }

    /// The read models of a read-model service.
    pub fn read_models(&self) -> Option<&ReadModels> {
        match &self.streams {
            Streams::ReadModels(models) => Some(models),
            _ => None,
        }
    }

    /// The show terms an order or ticket service knows.
    pub fn catalog(&self) -> &ShowCatalog {
        &self.catalog
    }

    /// Every aggregate that recorded at least one event, in stream order.
    pub fn aggregates(&self) -> impl Iterator<Item = (StreamId, AggregateRef<'_>)> + '_ {
        let (mut shows, mut orders, mut payments, mut tickets, mut resales) =
            (None, None, None, None, None);
        let mut inventory = None;
        match &self.streams {
            Streams::Shows(map) => shows = Some(map),
            Streams::Inventory(state) => {
                if let (Service::Inventory(key), true) = (self.service, state.version() > 0) {
                    inventory = Some((StreamId::Inventory(key), AggregateRef::Inventory(state)));
                }
            }
            Streams::Orders(map) => orders = Some(map),
            Streams::Payments(map) => payments = Some(map),
            Streams::Tickets {
                tickets: ticket_map,
                resales: resale_map,
            } => {
                tickets = Some(ticket_map);
                resales = Some(resale_map);
            }
            Streams::ReadModels(_) => {}
        }
        // In stream order: a service hosts one kind, the ticket service tickets first.
        let shows = shows
            .into_iter()
            .flatten()
            .map(|(id, a)| (StreamId::Show(*id), AggregateRef::Show(a)));
        let orders = orders
            .into_iter()
            .flatten()
            .map(|(id, a)| (StreamId::Order(*id), AggregateRef::Order(a)));
        let payments = payments
            .into_iter()
            .flatten()
            .map(|(id, a)| (StreamId::Payment(*id), AggregateRef::Payment(a)));
        let tickets = tickets
            .into_iter()
            .flatten()
            .map(|(id, a)| (StreamId::Ticket(*id), AggregateRef::Ticket(a)));
        let resales = resales
            .into_iter()
            .flatten()
            .map(|(id, a)| (StreamId::Resale(*id), AggregateRef::Resale(a)));
        shows
            .chain(inventory)
            .chain(orders)
            .chain(payments)
            .chain(tickets)
            .chain(resales)
    }

    /// One aggregate by its stream, if this host serves it and it recorded an event
    /// (a real driver's point lookups: an order's status, a ticket's owner).
    pub fn aggregate(&self, stream: StreamId) -> Option<AggregateRef<'_>> {
        let found = match (&self.streams, stream) {
            (Streams::Shows(map), StreamId::Show(id)) => {
                map.get(&id).map(|a| AggregateRef::Show(a))
            }
            (Streams::Inventory(state), StreamId::Inventory(key)) => {
                (self.service == Service::Inventory(key)).then_some(AggregateRef::Inventory(state))
            }
            (Streams::Orders(map), StreamId::Order(id)) => {
                map.get(&id).map(|a| AggregateRef::Order(a))
            }
            (Streams::Payments(map), StreamId::Payment(id)) => {
                map.get(&id).map(|a| AggregateRef::Payment(a))
            }
            (Streams::Tickets { tickets, .. }, StreamId::Ticket(id)) => {
                tickets.get(&id).map(|a| AggregateRef::Ticket(a))
            }
            (Streams::Tickets { resales, .. }, StreamId::Resale(id)) => {
                resales.get(&id).map(|a| AggregateRef::Resale(a))
            }
            _ => None,
        };
        found.filter(|aggregate| aggregate.version() > 0)
    }

    /// The unacknowledged outbox, by receiver and message id.
    pub fn outbox(&self) -> impl Iterator<Item = (Service, CommandId)> + '_ {
        self.outbox.keys().copied()
    }

    /// The ids of every message the inbox consumed.
    pub fn consumed(&self) -> &BTreeSet<CommandId> {
        &self.consumed
    }

    /// The core timers armed now, with their deadlines.
    pub fn armed_timers(&self) -> impl Iterator<Item = (Timer, Timestamp)> + '_ {
        self.timers.iter().map(|(timer, at)| (*timer, *at))
    }
}

// Inputs, one level down.
impl Host {
    /// The clock a command is stamped with: the host's, never earlier than its log's last.
    fn stamp(&self) -> Timestamp {
        self.clock.max(self.last_now)
    }

    fn note(&mut self, note: Note) {
        self.outputs.push(Output::Note(note));
    }

    /// Sends now, or after the pending sync if anything is unsynced: nothing leaves a
    /// host before the state it reflects is durable.
    fn send_out(&mut self, output: Output) {
        if self.unsynced {
            self.deferred.push(output);
        } else {
            self.outputs.push(output);
        }
    }

    /// Answers whoever asked: a client by its reply address, a service by a reply.
    fn answer(&mut self, to: Peer, id: CommandId, answer: Answer) {
        let output = match to {
            Peer::Service(service) => Output::Send {
                to: service,
                msg: Box::new(Msg::Reply { id, answer }),
            },
            Peer::Customer { reply_to, .. } | Peer::Organizer { reply_to, .. } => Output::Reply {
                to: reply_to,
                msg: Box::new(Msg::Reply { id, answer }),
            },
            Peer::Gateway => return,
        };
        self.send_out(output);
    }

    fn query(&self, query: Query) -> Answer {
        match (&self.streams, query) {
            (Streams::Orders(map), Query::Order(order)) => {
                Answer::Order(map.get(&order).and_then(|order| order.status()))
            }
            (Streams::Tickets { resales, .. }, Query::Resale(resale)) => {
                Answer::Resale(resales.get(&resale).and_then(|resale| resale.status()))
            }
            _ => Answer::Rejected(Rejection::WrongService),
        }
    }

    /// A publication reached the read models.
    fn publication(&mut self, published: Arc<Published>) {
        // The read models know every stream's version: a redelivered publication is
        // recognised by it, so the inbox needs no entry per event.
        let Some(models) = self.read_models() else {
            return;
        };
        if models.has_seen(published.stream, published.version) {
            self.note(Note::DuplicateDropped);
        } else if self
            .config
            .doubles
            .read_models
            .is_none_or(|hook| hook(&published))
        {
            self.commit(None, Change::Published(published), Vec::new());
        }
    }

    fn notice(&mut self, id: CommandId, notice: Notice) {
        let me = self.service;
        let outbox: Vec<(Service, Msg)> = match (notice, &self.streams) {
            (Notice::ShowTerms(terms), Streams::Orders(_) | Streams::Tickets { .. }) => {
                self.commit(Some(id), Change::Terms(Box::new(terms)), Vec::new());
                return;
            }
            (Notice::ShowCancelled(show), Streams::Orders(orders)) => {
                // Fan out to every open order of the show, through our own outbox.
                orders
                    .iter()
                    .filter(|(_, order)| order.show() == Some(show) && order.is_open())
                    .map(|(id, _)| {
                        let msg = order::show_cancelled_message(show, *id);
                        (me, Msg::Command { msg, claimed: None })
                    })
                    .collect()
            }
            (Notice::ShowCancelled(show), Streams::Tickets { tickets, .. }) => tickets
                .iter()
                .filter(|(_, ticket)| {
                    ticket.details.as_ref().is_some_and(|details| {
                        details.section.show == show && details.status == TicketStatus::Valid
                    })
                })
                .map(|(id, _)| {
                    let msg = ticket::show_cancelled_message(*id);
                    (me, Msg::Command { msg, claimed: None })
                })
                .collect(),
            _ => return,
        };
        if me == Service::Orders && !outbox.is_empty() {
            self.note(Note::ShowCancelledWithOpenOrders);
        }
        self.commit(Some(id), Change::Nothing, outbox);
    }

    fn gateway_reply(&mut self, key: GatewayKey, outcome: GatewayOutcome) {
        let Streams::Payments(map) = &self.streams else {
            return;
        };
        let version = map.get(&key.payment).map_or(0, |payment| payment.version());
        // The adapter's command id: the same reply at the same point of the payment's
        // stream is a repeat; a reply after the stream moved on is judged afresh.
        let id = CommandId::derive(&[103, hash_of(4, &(key, outcome)), version]);
        let msg = Message::Payment {
            payment: key.payment,
            id,
            body: PaymentCommand::GatewayReplied { key, outcome },
        };
        self.handle_command(Actor::Service, msg, None);
    }

    /// Syncs the log and lets out everything that waited for it.
    fn flush(&mut self) {
        if !self.unsynced {
            return;
        }
        self.unsynced = false;
        self.outputs.push(Output::Sync);
        self.outputs.append(&mut self.deferred);
    }

    /// Resends what has waited a full interval unacknowledged or unanswered.
    fn resend_round(&mut self) {
        self.flush();
        self.resend_armed = false;
        // Acknowledgements no append carried yet are logged now, together.
        if !self.acks.is_empty() {
            self.commit(None, Change::Nothing, Vec::new());
        }
        // Back off while nothing gets through (a receiver down, a stalled gateway).
        self.resend_ms = (self.resend_ms * 2).min(self.config.resend_ms_max);
        // Only what has waited a full interval is sent again: a message that left just
        // before this round is not due yet.
        let now_ms = self.clock.0;
        let next_ms = now_ms + self.resend_ms;
        for ((to, _), pending) in self.outbox.iter_mut() {
            if pending.acked {
                continue;
            }
            if pending.due_ms == 0 {
                pending.due_ms = next_ms;
                continue;
            }
            if pending.due_ms > now_ms {
                continue;
            }
            pending.due_ms = next_ms;
            let msg = pending.entry.message(pending.index as usize);
            self.outputs.push(Output::Send {
                to: *to,
                msg: Box::new(msg),
            });
        }
        if let Streams::Payments(map) = &self.streams {
            for (payment, due_ms) in self.gateway_pending.iter_mut() {
                if *due_ms == 0 || *due_ms > now_ms {
                    if *due_ms == 0 {
                        *due_ms = next_ms;
                    }
                    continue;
                }
                *due_ms = next_ms;
                if let Some(state) = map.get(payment) {
                    for call in state.calls_in_flight() {
                        self.outputs.push(Output::Gateway(Box::new(call)));
                    }
                }
            }
        }
        self.ensure_resend();
    }

    fn ensure_resend(&mut self) {
        if !self.resend_armed && (!self.outbox.is_empty() || !self.gateway_pending.is_empty()) {
            self.resend_armed = true;
            let at = Timestamp(self.clock.0 + self.resend_ms);
            self.outputs.push(Output::Arm {
                timer: HostTimer::Resend,
                at,
            });
        }
    }

    fn arm(&mut self, timer: Timer, at: Timestamp) {
        if self.timers.insert(timer, at).is_some() {
            self.outputs.push(Output::Cancel(timer));
        }
        self.outputs.push(Output::Arm {
            timer: HostTimer::Core { timer, at },
            at,
        });
    }

    /// The timers the aggregates list (re-armed at a start).
    fn listed_timers(&self) -> Vec<ArmedTimer> {
        match &self.streams {
            Streams::Shows(map) => map.values().flat_map(|a| a.timers()).collect(),
            Streams::Inventory(inventory) => inventory.timers(),
            Streams::Orders(map) => map.values().flat_map(|a| a.timers()).collect(),
            Streams::Payments(map) => map.values().flat_map(|a| a.timers()).collect(),
            _ => Vec::new(),
        }
    }
}

fn ack(to: Service, id: CommandId) -> Output {
    Output::Send {
        to,
        msg: Box::new(Msg::Ack(id)),
    }
}

// Deciding and committing.
impl Host {
    /// Decides one command and commits what it caused; returns the client's answer.
    fn handle_command(
        &mut self,
        actor: Actor,
        msg: Message,
        consumed: Option<CommandId>,
    ) -> Answer {
        let now = self.stamp();
        let name = message_name(&msg);
        match self.decide(actor, now, msg) {
            Decided::New {
                published,
                effects,
                answer,
            } => {
                let (stream, version) = (published.stream, published.version);
                if tracing::enabled!(tracing::Level::DEBUG) {
                    tracing::debug!(service = ?self.service, command = name, actor = ?actor, now = now.0, stream = ?stream, version, event = ?published.event, "accepted");
                }
                let outbox = self.outbox_of(&effects, answer);
                let publish = self
                    .config
                    .publish
                    .then(|| CommandId::derive(&[100, stream_code(&stream), version]));
                self.commit_entry(Entry {
                    consumed,
                    change: Change::Event(published),
                    outbox,
                    publish,
                    acked: SmallVec::new(),
                });
                self.execute(&effects);
                Answer::Accepted { new: true }
            }
            Decided::Repeat | Decided::Ignored => {
                if tracing::enabled!(tracing::Level::DEBUG) {
                    tracing::debug!(service = ?self.service, command = name, actor = ?actor, now = now.0, "repeat or no-op");
                }
                Answer::Accepted { new: false }
            }
            Decided::Rejected { rejection, answer } => {
                if tracing::enabled!(tracing::Level::DEBUG) {
                    tracing::debug!(service = ?self.service, command = name, actor = ?actor, now = now.0, rejection = ?rejection, "rejected");
                }
                if let Some(answer) = answer {
                    let to = Service::of(&answer);
                    let outbox = vec![(
                        to,
                        Msg::Command {
                            msg: answer,
                            claimed: None,
                        },
                    )];
                    self.commit(consumed, Change::Nothing, outbox);
                }
                // A service sender is only acknowledged: the rejection is not copied.
                if consumed.is_some() {
                    self.note(Note::Rejected(rejection));
                    Answer::Accepted { new: false }
                } else {
                    self.note(Note::Rejected(rejection.clone()));
                    Answer::Rejected(rejection)
                }
            }
        }
    }

    /// Decides `message` as `actor` at `now`.
    fn decide(&self, actor: Actor, now: Timestamp, message: Message) -> Decided {
        let doubles = &self.config.doubles;
        let malformed = || Decided::Rejected {
            rejection: Rejection::WrongService,
            answer: None,
        };
        match (&self.streams, message) {
            (Streams::Shows(map), Message::Show { show, id, body }) => {
                if let turnstile_core::show::ShowCommand::Create { show: named, .. } = &body
                    && *named != show
                {
                    return malformed();
                }
                let default = Show::default();
                let state = map.get(&show).map_or(&default, |state| &**state);
                let envelope = Envelope::new(id, actor, now, body);
                let result = decide_with(state, &(), &envelope, doubles.show);
                settle(
                    result,
                    StreamId::Show(show),
                    state.version(),
                    DomainEvent::Show,
                    Rejection::Show,
                )
            }
            (Streams::Inventory(inventory), Message::Inventory { section, id, body }) => {
                if let Service::Inventory(mine) = self.service
                    && mine != section
                {
                    return malformed();
                }
                if let InventoryCommand::Initialize { section: named, .. } = &body
                    && *named != section
                {
                    return malformed();
                }
                let envelope = Envelope::new(id, actor, now, body);
                let result = decide_with(&**inventory, &(), &envelope, doubles.inventory);
                // The saga's answer is computed from the request and its outcome.
                let answer = match &result {
                    Ok(Decision::Accepted { event, .. }) => {
                        order::input_from_inventory(id, &envelope.body, Ok(&event.event))
                    }
                    Err(error) if actor == Actor::Service => {
                        order::input_from_inventory(id, &envelope.body, Err(error))
                    }
                    _ => None,
                };
                let mut decided = settle(
                    result,
                    StreamId::Inventory(section),
                    inventory.version(),
                    DomainEvent::Inventory,
                    Rejection::Inventory,
                );
                set_answer(&mut decided, answer);
                decided
            }
            (Streams::Orders(map), Message::Order { order, id, body }) => {
                if let order::OrderCommand::Initiate { order: named, .. } = &body
                    && *named != order
                {
                    return malformed();
                }
                let default = Order::default();
                let state = map.get(&order).map_or(&default, |state| &**state);
                let envelope = Envelope::new(id, actor, now, body);
                let result = decide_with(state, &self.catalog, &envelope, doubles.order);
                settle(
                    result,
                    StreamId::Order(order),
                    state.version(),
                    DomainEvent::Order,
                    Rejection::Order,
                )
            }
            (Streams::Payments(map), Message::Payment { payment, id, body }) => {
                if let PaymentCommand::Authorize { payment: named, .. } = &body
                    && *named != payment
                {
                    return malformed();
                }
                let default = Payment::default();
                let state = map.get(&payment).map_or(&default, |state| &**state);
                let envelope = Envelope::new(id, actor, now, body);
                let result = decide_with(state, &(), &envelope, doubles.payment);
                // A refused authorize or capture is answered to its saga.
                let answer = match (&result, payment) {
                    (Err(error), PaymentId::Order(order)) if actor == Actor::Service => {
                        order::input_from_payment_rejection(order, id, &envelope.body, error)
                    }
                    (Err(error), PaymentId::Resale(resale)) if actor == Actor::Service => {
                        resale::input_from_payment_rejection(resale, id, &envelope.body, error)
                    }
                    _ => None,
                };
                let mut decided = settle(
                    result,
                    StreamId::Payment(payment),
                    state.version(),
                    DomainEvent::Payment,
                    Rejection::Payment,
                );
                set_answer(&mut decided, answer);
                decided
            }
            (Streams::Tickets { tickets, .. }, Message::Ticket { ticket, id, body }) => {
                if let ticket::TicketCommand::Issue { ticket: named, .. } = &body
                    && *named != ticket
                {
                    return malformed();
                }
                let default = Ticket::default();
                let state = tickets.get(&ticket).map_or(&default, |state| &**state);
                let envelope = Envelope::new(id, actor, now, body);
                let result = decide_with(state, &self.catalog, &envelope, doubles.ticket);
                let answer = match &result {
                    Ok(Decision::Accepted { event, .. }) => {
                        resale::input_from_ticket(id, &envelope.body, Ok(&event.event))
                    }
                    Err(error) if actor == Actor::Service => {
                        resale::input_from_ticket(id, &envelope.body, Err(error))
                    }
                    _ => None,
                };
                let mut decided = settle(
                    result,
                    StreamId::Ticket(ticket),
                    state.version(),
                    DomainEvent::Ticket,
                    Rejection::Ticket,
                );
                set_answer(&mut decided, answer);
                decided
            }
            (Streams::Tickets { resales, .. }, Message::Resale { resale, id, body }) => {
                if let resale::ResaleCommand::Buy { resale: named, .. } = &body
                    && *named != resale
                {
                    return malformed();
                }
                let default = Resale::default();
                let state = resales.get(&resale).map_or(&default, |state| &**state);
                let envelope = Envelope::new(id, actor, now, body);
                let result = decide_with(state, &(), &envelope, doubles.resale);
                settle(
                    result,
                    StreamId::Resale(resale),
                    state.version(),
                    DomainEvent::Resale,
                    Rejection::Resale,
                )
            }
            _ => malformed(),
        }
    }

    /// Executes a new event's effects that are not messages: timers and gateway calls.
    fn execute(&mut self, effects: &Effects) {
        for effect in effects {
            match effect {
                Effect::Arm(armed) => self.arm(armed.timer, armed.at),
                Effect::Disarm(timer) => {
                    if self.timers.remove(timer).is_some() {
                        self.outputs.push(Output::Cancel(*timer));
                    }
                }
                Effect::Gateway(call) => self.send_out(Output::Gateway(Box::new(*call))),
                Effect::Send(_) | Effect::Notify(_) => {}
            }
        }
        self.ensure_resend();
    }

    /// The outbox of a new event: its messages, notices and the saga's answer (the
    /// publication to the read models is built from the event when sent).
    fn outbox_of(&self, effects: &Effects, answer: Option<Message>) -> Vec<(Service, Msg)> {
        // Sized exactly: most events send nothing, and an empty Vec does not allocate.
        let messages = effects
            .iter()
            .map(|effect| match effect {
                Effect::Send(_) => 1,
                Effect::Notify(_) => 2,
                _ => 0,
            })
            .sum::<usize>()
            + usize::from(answer.is_some());
        let mut outbox = Vec::with_capacity(messages);
        for effect in effects {
            match effect {
                Effect::Send(message) => outbox.push((
                    Service::of(message),
                    Msg::Command {
                        msg: message.clone(),
                        claimed: None,
                    },
                )),
                Effect::Notify(notice) => {
                    for to in [Service::Orders, Service::Tickets] {
                        let id = match notice {
                            Notice::ShowTerms(terms) => CommandId::derive(&[
                                101,
                                terms.show.0,
                                terms.version,
                                notice_code(to),
                            ]),
                            Notice::ShowCancelled(show) => {
                                CommandId::derive(&[102, show.0, notice_code(to)])
                            }
                        };
                        outbox.push((
                            to,
                            Msg::Notice {
                                id,
                                notice: notice.clone(),
                            },
                        ));
                    }
                }
                _ => {}
            }
        }
        if let Some(answer) = answer {
            outbox.push((
                Service::of(&answer),
                Msg::Command {
                    msg: answer,
                    claimed: None,
                },
            ));
        }
        outbox
    }

    /// One durable append: the change, the outbox and the consumed id together.
    fn commit(&mut self, consumed: Option<CommandId>, change: Change, outbox: Vec<(Service, Msg)>) {
        self.commit_entry(Entry {
            consumed,
            change,
            outbox,
            publish: None,
            acked: SmallVec::new(),
        });
    }

    fn commit_entry(&mut self, mut entry: Entry) {
        // Acknowledgements received since the last append are logged with this one.
        if !self.acks.is_empty() {
            entry.acked = self.acks.drain(..).collect();
        }
        let entry = Rc::new(entry);
        self.outputs.push(Output::Append(Rc::clone(&entry)));
        // Group commit: the entry is appended now and synced by the flush timer, which
        // then lets out everything that waited for it (outbox, acks, replies, calls).
        // Without group commit (`flush_ms` 0) the input's end syncs (`sync_unbatched`).
        if !self.unsynced && self.config.flush_ms > 0 {
            let at = Timestamp(self.clock.0 + self.config.flush_ms);
            self.outputs.push(Output::Arm {
                timer: HostTimer::Flush,
                at,
            });
        }
        self.unsynced = true;
        self.apply_entry(&entry);
        for (to, msg) in &entry.outbox {
            self.deferred.push(Output::Send {
                to: *to,
                msg: Box::new(msg.clone()),
            });
        }
        if entry.publish.is_some() {
            self.deferred.push(Output::Send {
                to: Service::ReadModels,
                msg: Box::new(entry.message(entry.outbox.len())),
            });
        }
        self.ensure_resend();
    }

    /// Applies one logged entry (live, right after the append, and on replay).
    fn apply_entry(&mut self, entry: &Rc<Entry>) {
        if let Some(id) = entry.consumed {
            self.consumed.insert(id);
        }
        let publication = entry.publish.map(|id| (Service::ReadModels, id));
        let keys = entry
            .outbox
            .iter()
            .map(|(to, msg)| msg.outbox_id().map(|id| (*to, id)))
            .chain(publication.map(Some));
        for (index, key) in keys.enumerate() {
            if let Some(key) = key {
                let pending = Pending {
                    entry: Rc::clone(entry),
                    index: index as u32,
                    due_ms: 0,
                    acked: false,
                };
                self.outbox.insert(key, pending);
            }
        }
        for key in &entry.acked {
            self.outbox.remove(key);
        }
        match &entry.change {
            Change::Nothing => {}
            Change::Event(published) => self.apply_event(published.stream, &published.event),
            Change::Terms(terms) => self.catalog.observe((**terms).clone()),
            Change::Published(published) => {
                if let Streams::ReadModels(models) = &mut self.streams {
                    models.observe_ref(published);
                }
            }
        }
    }

    fn apply_event(&mut self, stream: StreamId, event: &DomainEvent) {
        match (&mut self.streams, stream, event) {
            (Streams::Shows(map), StreamId::Show(id), DomainEvent::Show(event)) => {
                self.last_now = self.last_now.max(event.now);
                Rc::make_mut(map.entry(id).or_default()).apply(event);
            }
            (Streams::Inventory(inventory), StreamId::Inventory(_), DomainEvent::Inventory(e)) => {
                self.last_now = self.last_now.max(e.now);
                inventory.apply(e);
            }
            (Streams::Orders(map), StreamId::Order(id), DomainEvent::Order(event)) => {
                self.last_now = self.last_now.max(event.now);
                Rc::make_mut(map.entry(id).or_default()).apply(event);
            }
            (Streams::Payments(map), StreamId::Payment(id), DomainEvent::Payment(event)) => {
                self.last_now = self.last_now.max(event.now);
                let payment = Rc::make_mut(map.entry(id).or_default());
                payment.apply(event);
                let in_flight = payment.details.as_ref().is_some_and(|details| {
                    details.operations.values().any(|state| {
                        matches!(
                            state.status,
                            OperationStatus::InFlight | OperationStatus::Resolving
                        )
                    })
                });
                if in_flight {
                    self.gateway_pending.entry(id).or_insert(0);
                } else {
                    self.gateway_pending.remove(&id);
                }
            }
            (Streams::Tickets { tickets, .. }, StreamId::Ticket(id), DomainEvent::Ticket(e)) => {
                self.last_now = self.last_now.max(e.now);
                Rc::make_mut(tickets.entry(id).or_default()).apply(e);
            }
            (Streams::Tickets { resales, .. }, StreamId::Resale(id), DomainEvent::Resale(e)) => {
                self.last_now = self.last_now.max(e.now);
                Rc::make_mut(resales.entry(id).or_default()).apply(e);
            }
            _ => debug_assert!(false, "an event for a stream this service does not host"),
        }
    }
}
