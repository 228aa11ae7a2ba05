//! The driver: every service's [`Host`] on one thread, fed by real inputs (HTTP
//! requests, gateway answers, timers) and executing their outputs against SQLite, the
//! gateway client and the waiting requests — the same contract the simulator's driver
//! keeps (`harness/src/services.rs`), with real I/O.
//!
//! One **round**: take every input waiting (client commands, gateway answers, due
//! timers, including the hosts' flushes), hand each to its host, and pass the messages
//! the hosts send each other on to their receivers, wave after wave, until the hosts are
//! quiet; write every `Append` into one open transaction, mirror what the read models
//! changed into their tables in the same transaction, **commit once** (group commit),
//! and only then execute what leaves the process: replies to the waiting requests,
//! calls to the gateway. So nothing leaves before the state it reflects is durable, and
//! a round costs one sync however many requests and hops it carries.
//!
//! Messages between hosts are handed over before the commit, although the host emits
//! them after its `Sync`: every host of this process writes into the same transaction,
//! so a message and the state that sent it become durable together or not at all — a
//! crash loses both, and the sender's outbox resends from whatever the log kept. That is
//! what the contract's rule protects (no receiver's durable state reflects a sender's
//! lost one); the rule still holds for everything that leaves the process. A reserve
//! then takes one round (orders → inventory → orders) instead of three.
//!
//! Hosts hold `Rc`s and are not `Send`: they live on the driver's own thread (its own
//! single-threaded tokio runtime), and everything else talks to it through a channel.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use turnstile_core::payment::{GatewayCall, GatewayKey, GatewayOutcome};
use turnstile_core::read_models::customer_history::Purchase;
use turnstile_core::read_models::{DomainEvent, StreamId};
use turnstile_core::show::ShowEvent;
use turnstile_core::{
    CustomerId, OrderId, OrganizerId, PaymentId, ResaleId, ShowId, TicketId, Timer, Timestamp,
};
use turnstile_host::{
    AggregateRef, Host, HostConfig, HostTimer, Msg, Note, Output, Peer, ReplyTo, Service,
};

use crate::store::{Loaded, Store, StoreError};

/// Who sends a client command, as the API authenticated them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Client {
    /// A customer.
    Customer(CustomerId),
    /// An organizer.
    Organizer(OrganizerId),
}

/// A read of the hosts' state, run on the driver's thread between rounds.
pub type Read = Box<dyn FnOnce(&Hosts) + Send>;

/// What the driver takes in.
pub enum Input {
    /// A client's command or query for `service`; the answer (a [`Msg::Reply`]) goes to
    /// `reply` once the state it reflects is durable.
    Client {
        /// Which service.
        service: Service,
        /// Who.
        client: Client,
        /// The command or query.
        msg: Msg,
        /// Where the answer goes.
        reply: oneshot::Sender<Msg>,
    },
    /// Run a read against the hosts (after the last commit).
    Read(Read),
    /// Answer when `order`'s status satisfies `until` (checked after every commit).
    Wait {
        /// The order.
        order: OrderId,
        /// The condition.
        until: fn(turnstile_core::order::OrderStatus) -> bool,
        /// Where the status goes.
        reply: oneshot::Sender<turnstile_core::order::OrderStatus>,
    },
    /// The gateway answered (or the call timed out: `Unknown`).
    GatewayReply {
        /// The call's key.
        key: GatewayKey,
        /// The answer.
        outcome: GatewayOutcome,
    },
    /// Stop after the current round.
    Stop,
}

/// What the driver calls to reach the payment gateway (a real HTTP client in `serve`).
pub trait GatewayPort: Send + 'static {
    /// Start `call`; its answer must come back as [`Input::GatewayReply`].
    fn call(&self, call: GatewayCall);
}

/// The hosts, for reads.
pub struct Hosts {
    hosts: BTreeMap<Service, Host>,
}

impl Hosts {
    /// One service's host, if it exists.
    pub fn host(&self, service: Service) -> Option<&Host> {
        self.hosts.get(&service)
    }

    /// Every host.
    pub fn all(&self) -> impl Iterator<Item = &Host> {
        self.hosts.values()
    }

    /// An aggregate by its stream, wherever it lives.
    pub fn aggregate(&self, stream: StreamId) -> Option<AggregateRef<'_>> {
        let service = match stream {
            StreamId::Show(_) => Service::Shows,
            StreamId::Inventory(key) => Service::Inventory(key),
            StreamId::Order(_) => Service::Orders,
            StreamId::Payment(_) => Service::Payments,
            StreamId::Ticket(_) | StreamId::Resale(_) => Service::Tickets,
        };
        self.hosts.get(&service)?.aggregate(stream)
    }
}

/// Counters a round keeps, for `/health` and the logs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stats {
    /// Rounds that committed.
    pub commits: u64,
    /// Records appended.
    pub records: u64,
    /// Messages handed to hosts.
    pub messages: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Slot {
    Core(Timer),
    Resend,
    Flush,
}

fn slot(timer: HostTimer) -> Slot {
    match timer {
        HostTimer::Core { timer, .. } => Slot::Core(timer),
        HostTimer::Resend => Slot::Resend,
        HostTimer::Flush => Slot::Flush,
    }
}

struct Waiter {
    order: OrderId,
    until: fn(turnstile_core::order::OrderStatus) -> bool,
    reply: oneshot::Sender<turnstile_core::order::OrderStatus>,
}

/// The driver (see the module docs).
pub struct Driver<G: GatewayPort> {
    hosts: Hosts,
    config: HostConfig,
    store: Store,
    gateway: G,
    rx: mpsc::UnboundedReceiver<Input>,
    timers: BTreeMap<(u64, u64), (Service, HostTimer)>,
    armed: BTreeMap<(Service, Slot), (u64, u64)>,
    timer_seq: u64,
    ready: VecDeque<(Service, Peer, Msg)>,
    replies: BTreeMap<u64, oneshot::Sender<Msg>>,
    next_reply: u64,
    waiters: Vec<Waiter>,
    after_commit: Vec<Output>,
    dirty: BTreeSet<StreamId>,
    created_shows: Vec<(ShowId, String, Timestamp)>,
    // The seat states last written to `rm_layout`, per section.
    layouts:
        BTreeMap<turnstile_core::SectionKey, Vec<turnstile_core::inventory::seating::SeatState>>,
    clock: Timestamp,
    /// What it did.
    pub stats: Stats,
}

/// At most this many waves of messages between hosts in one round (a saga's hops are
/// a handful; the rest waits for the next round, after this one's commit).
const WAVES: usize = 32;

/// The host configuration `serve` runs: group commit per round (no flush delay).
pub fn host_config() -> HostConfig {
    HostConfig {
        flush_ms: 0,
        ..HostConfig::default()
    }
}

/// The wall clock in ms since the Unix epoch.
pub fn wall_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl<G: GatewayPort> Driver<G> {
    /// Rebuilds every service from the store's logs and starts them.
    pub fn start(
        mut store: Store,
        gateway: G,
        rx: mpsc::UnboundedReceiver<Input>,
    ) -> Result<Driver<G>, StoreError> {
        let config = host_config();
        let loaded = store.load()?;
        let mut hosts = BTreeMap::new();
        for Loaded {
            service,
            entries,
            dropped,
        } in loaded
        {
            if let Some((at, problem)) = dropped {
                tracing::warn!(service = %service.name(), at, ?problem, "log ends early: rebuilt from the intact prefix");
            }
            hosts.insert(service, Host::rebuild(service, config, &entries, None));
        }
        let mut driver = Driver {
            hosts: Hosts { hosts },
            config,
            store,
            gateway,
            rx,
            timers: BTreeMap::new(),
            armed: BTreeMap::new(),
            timer_seq: 0,
            ready: VecDeque::new(),
            replies: BTreeMap::new(),
            next_reply: 1,
            waiters: Vec::new(),
            after_commit: Vec::new(),
            dirty: BTreeSet::new(),
            created_shows: Vec::new(),
            layouts: BTreeMap::new(),
            clock: Timestamp(wall_ms()),
            stats: Stats::default(),
        };
        for service in [
            Service::Shows,
            Service::Orders,
            Service::Payments,
            Service::Tickets,
            Service::ReadModels,
        ] {
            driver.ensure_host(service);
        }
        let now = driver.now();
        let services: Vec<Service> = driver.hosts.hosts.keys().copied().collect();
        for service in services {
            if let Some(host) = driver.hosts.hosts.get_mut(&service) {
                host.start(now);
            }
            driver.collect(service)?;
        }
        driver.finish_round()?;
        Ok(driver)
    }

    fn now(&mut self) -> Timestamp {
        self.clock = self.clock.max(Timestamp(wall_ms()));
        self.clock
    }

    fn ensure_host(&mut self, service: Service) {
        let config = self.config;
        self.hosts
            .hosts
            .entry(service)
            .or_insert_with(|| Host::new(service, config));
    }

    /// Runs until [`Input::Stop`] or every sender is gone.
    pub async fn run(mut self) -> Result<Stats, StoreError> {
        loop {
            if self.ready.is_empty() {
                let deadline = self.timers.keys().next().map(|(at, _)| *at);
                let input = match deadline {
                    Some(at) => {
                        let wait = at.saturating_sub(wall_ms());
                        tokio::select! {
                            input = self.rx.recv() => Some(input),
                            () = tokio::time::sleep(Duration::from_millis(wait)) => None,
                        }
                    }
                    None => Some(self.rx.recv().await),
                };
                let keep_going = match input {
                    Some(None) => false,
                    Some(Some(input)) => self.take(input)?,
                    None => true,
                };
                if !keep_going {
                    return Ok(self.stats);
                }
            }
            // Everything else already waiting joins this round.
            let mut more = 0;
            while more < 4096 {
                match self.rx.try_recv() {
                    Ok(input) => {
                        if !self.take(input)? {
                            // Like a crash: the open transaction is dropped, and nothing
                            // that depends on it was let out.
                            return Ok(self.stats);
                        }
                    }
                    Err(_) => break,
                }
                more += 1;
            }
            self.round()?;
        }
    }

    /// Takes one input; false on `Stop`.
    fn take(&mut self, input: Input) -> Result<bool, StoreError> {
        let now = self.now();
        match input {
            Input::Client {
                service,
                client,
                msg,
                reply,
            } => {
                let reply_to = ReplyTo(self.next_reply);
                self.next_reply += 1;
                self.replies.insert(reply_to.0, reply);
                let peer = match client {
                    Client::Customer(customer) => Peer::Customer { customer, reply_to },
                    Client::Organizer(organizer) => Peer::Organizer {
                        organizer,
                        reply_to,
                    },
                };
                self.deliver(now, service, peer, msg)?;
            }
            Input::Read(read) => read(&self.hosts),
            Input::Wait {
                order,
                until,
                reply,
            } => self.waiters.push(Waiter {
                order,
                until,
                reply,
            }),
            Input::GatewayReply { key, outcome } => {
                self.deliver(
                    now,
                    Service::Payments,
                    Peer::Gateway,
                    Msg::GatewayReply { key, outcome },
                )?;
            }
            Input::Stop => return Ok(false),
        }
        Ok(true)
    }

    fn deliver(
        &mut self,
        now: Timestamp,
        service: Service,
        peer: Peer,
        msg: Msg,
    ) -> Result<(), StoreError> {
        self.ensure_host(service);
        if service == Service::ReadModels
            && let Msg::Publish { published, .. } = &msg
        {
            self.dirty.insert(published.stream);
            if let DomainEvent::Show(recorded) = &published.event
                && let ShowEvent::Created {
                    show,
                    name,
                    start_at,
                    ..
                } = &recorded.event
            {
                self.created_shows.push((*show, name.clone(), *start_at));
            }
        }
        self.stats.messages += 1;
        if let Some(host) = self.hosts.hosts.get_mut(&service) {
            host.handle_message(now, peer, msg);
        }
        self.collect(service)
    }

    /// Drains a host's outputs: appends into the open transaction, the rest after the
    /// commit.
    fn collect(&mut self, service: Service) -> Result<(), StoreError> {
        let Some(host) = self.hosts.hosts.get_mut(&service) else {
            return Ok(());
        };
        let outputs: Vec<Output> = host.outputs().collect();
        for output in outputs {
            match output {
                Output::Append(entry) => {
                    self.store.append(service, &entry)?;
                    self.stats.records += 1;
                }
                Output::Arm { timer, at } => self.arm(service, timer, at),
                Output::Cancel(timer) => self.cancel(service, Slot::Core(timer)),
                Output::Note(note) => note_of(service, &note),
                // To a host of this process: it shares the round's transaction.
                Output::Send { to, msg } => {
                    self.ready.push_back((to, Peer::Service(service), *msg))
                }
                other => self.after_commit.push(other),
            }
        }
        Ok(())
    }

    fn arm(&mut self, service: Service, timer: HostTimer, at: Timestamp) {
        let slot = slot(timer);
        self.cancel(service, slot);
        self.timer_seq += 1;
        let key = (at.0, self.timer_seq);
        self.timers.insert(key, (service, timer));
        self.armed.insert((service, slot), key);
    }

    fn cancel(&mut self, service: Service, slot: Slot) {
        if let Some(key) = self.armed.remove(&(service, slot)) {
            self.timers.remove(&key);
        }
    }

    /// One round after the inputs were taken: the messages between hosts and the due
    /// timers, wave after wave until quiet (or [`WAVES`]), then the commit and what
    /// leaves.
    fn round(&mut self) -> Result<(), StoreError> {
        let now = self.now();
        for _ in 0..WAVES {
            let wave = std::mem::take(&mut self.ready);
            for (service, peer, msg) in wave {
                self.deliver(now, service, peer, msg)?;
            }
            while let Some((&key, _)) = self.timers.iter().next() {
                if key.0 > now.0 {
                    break;
                }
                let Some((service, timer)) = self.timers.remove(&key) else {
                    break;
                };
                self.armed.remove(&(service, slot(timer)));
                if let Some(host) = self.hosts.hosts.get_mut(&service) {
                    host.handle_timer(now, timer);
                }
                self.collect(service)?;
            }
            if self.ready.is_empty() {
                break;
            }
        }
        self.finish_round()
    }

    fn finish_round(&mut self) -> Result<(), StoreError> {
        self.mirror_read_models()?;
        if self.store.commit()? {
            self.stats.commits += 1;
        }
        for output in std::mem::take(&mut self.after_commit) {
            match output {
                Output::Reply { to, msg } => {
                    if let Some(reply) = self.replies.remove(&to.0) {
                        let _ = reply.send(*msg);
                    }
                }
                Output::Gateway(call) => self.gateway.call(*call),
                // `collect` executed these already (a `Sync` is this commit).
                Output::Sync
                | Output::Send { .. }
                | Output::Append(_)
                | Output::Arm { .. }
                | Output::Cancel(_)
                | Output::Note(_) => {}
            }
        }
        self.wake_waiters();
        Ok(())
    }

    fn wake_waiters(&mut self) {
        if self.waiters.is_empty() {
            return;
        }
        let hosts = &self.hosts;
        self.waiters.retain_mut(|waiter| {
            if waiter.reply.is_closed() {
                return false;
            }
            let status = match hosts.aggregate(StreamId::Order(waiter.order)) {
                Some(AggregateRef::Order(order)) => order.status(),
                _ => None,
            };
            match status {
                Some(status) if (waiter.until)(status) => {
                    let reply = std::mem::replace(&mut waiter.reply, oneshot::channel().0);
                    let _ = reply.send(status);
                    false
                }
                _ => true,
            }
        });
    }

    /// Writes the read-model rows the round's publications changed, with each stream's
    /// applied version (the redelivery guard), into the open transaction.
    fn mirror_read_models(&mut self) -> Result<(), StoreError> {
        if self.dirty.is_empty() {
            return Ok(());
        }
        let dirty = std::mem::take(&mut self.dirty);
        let created = std::mem::take(&mut self.created_shows);
        let Some(models) = self
            .hosts
            .hosts
            .get(&Service::ReadModels)
            .and_then(Host::read_models)
        else {
            return Ok(());
        };
        let mut sections = BTreeSet::new();
        let mut customers = BTreeSet::new();
        let mut sales = BTreeSet::new();
        let mut payments = BTreeSet::new();
        for stream in &dirty {
            match *stream {
                StreamId::Show(show) => {
                    sales.insert(show);
                }
                StreamId::Inventory(key) => {
                    sections.insert(key);
                }
                StreamId::Order(order) => {
                    if let Some((customer, show)) = order_owner(&self.hosts, order) {
                        customers.insert(customer);
                        sales.insert(show);
                    }
                }
                StreamId::Payment(PaymentId::Order(order)) => {
                    payments.insert(PaymentId::Order(order));
                    if let Some((customer, show)) = order_owner(&self.hosts, order) {
                        customers.insert(customer);
                        sales.insert(show);
                    }
                }
                StreamId::Ticket(ticket) => {
                    if let Some((customer, show)) = order_owner(&self.hosts, ticket.order) {
                        customers.insert(customer);
                        sales.insert(show);
                    }
                }
                // A resale purchase is in its buyer's history, and its refunds count
                // in the sales of the show of the order that minted the ticket.
                StreamId::Payment(PaymentId::Resale(resale)) | StreamId::Resale(resale) => {
                    if matches!(stream, StreamId::Payment(_)) {
                        payments.insert(PaymentId::Resale(resale));
                    }
                    if let Some((buyer, ticket)) = resale_buyer(&self.hosts, resale) {
                        customers.insert(buyer);
                        if let Some((_, show)) = order_owner(&self.hosts, ticket.order) {
                            sales.insert(show);
                        }
                    }
                }
            }
        }
        let now = self.clock;
        let conn = self.store.begin()?;
        for stream in &dirty {
            let mut stmt = conn.prepare_cached(
                "INSERT INTO rm_streams (stream, version) VALUES (?1, ?2)
                 ON CONFLICT (stream) DO UPDATE SET version = excluded.version",
            )?;
            stmt.execute(rusqlite::params![
                serde_json::to_string(stream).unwrap_or_default(),
                models.applied(*stream) as i64
            ])?;
        }
        for (show, name, start_at) in &created {
            conn.prepare_cached(
                "INSERT OR REPLACE INTO rm_shows (show, name, start_at) VALUES (?1, ?2, ?3)",
            )?
            .execute(rusqlite::params![show.0 as i64, name, start_at.0 as i64])?;
        }
        for key in &sections {
            if let Some(counts) = models.available_seats.section(*key) {
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO rm_seats
                     (show, section, capacity, available, reserved, sold, blocked)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(rusqlite::params![
                    key.show.0 as i64,
                    key.section.0,
                    counts.capacity,
                    counts.available,
                    counts.reserved,
                    counts.sold,
                    counts.blocked
                ])?;
            }
            // The layout: every seat once, then only the seats whose status changed.
            let Some(states) = models.venue_layout.states(*key) else {
                continue;
            };
            match self.layouts.get_mut(key) {
                Some(written) if written.len() == states.len() => {
                    let mut update = conn.prepare_cached(
                        "UPDATE rm_layout SET status = ?4 WHERE show = ?1 AND section = ?2 AND seat = ?3",
                    )?;
                    for (seat, (old, new)) in written.iter_mut().zip(states).enumerate() {
                        if old != new {
                            update.execute(rusqlite::params![
                                key.show.0 as i64,
                                key.section.0,
                                seat as i64,
                                seat_status(*new)
                            ])?;
                            *old = *new;
                        }
                    }
                }
                _ => {
                    let mut insert = conn.prepare_cached(
                        "INSERT OR REPLACE INTO rm_layout (show, section, seat, label, row_name, status)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?;
                    for (seat, view) in models
                        .venue_layout
                        .seats(*key)
                        .into_iter()
                        .flatten()
                        .enumerate()
                    {
                        insert.execute(rusqlite::params![
                            key.show.0 as i64,
                            key.section.0,
                            seat as i64,
                            view.label,
                            view.row,
                            seat_status(view.status)
                        ])?;
                    }
                    self.layouts.insert(*key, states.to_vec());
                }
            }
        }
        for show in &sales {
            conn.prepare_cached("DELETE FROM rm_sales WHERE show = ?1")?
                .execute([show.0 as i64])?;
            for (day, sold) in models.sales.show(*show) {
                conn.prepare_cached(
                    "INSERT INTO rm_sales (show, day, tickets_sold, revenue, refunds)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?
                .execute(rusqlite::params![
                    show.0 as i64,
                    utc_day(day),
                    sold.tickets_sold as i64,
                    sold.revenue.0 as i64,
                    sold.refunds.0 as i64
                ])?;
            }
        }
        for payment in &payments {
            let (kind, id) = crate::ids::payment_key(*payment);
            conn.prepare_cached("DELETE FROM rm_owed WHERE payment_kind = ?1 AND payment = ?2")?
                .execute(rusqlite::params![kind, id as i64])?;
            for owed in models
                .stuck_payments
                .owed()
                .filter(|owed| owed.payment == *payment)
            {
                let (operation, ticket) = crate::ids::operation_name(owed.operation);
                conn.prepare_cached(
                    "INSERT INTO rm_owed (payment_kind, payment, operation, ticket_order,
                      ticket_index, amount, since, retries)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(rusqlite::params![
                    kind,
                    id as i64,
                    operation,
                    ticket.map(|ticket| ticket.order.0 as i64),
                    ticket.map(|ticket| ticket.index),
                    owed.amount.0 as i64,
                    owed.since.0 as i64,
                    owed.retries
                ])?;
            }
        }
        for customer in &customers {
            for entry in models.customer_history.orders(*customer, now) {
                let (kind, purchase, ticket, status) = match entry.purchase {
                    Purchase::Order { order, status } => {
                        ("order", order.0, None, crate::ids::order_status(status))
                    }
                    Purchase::Resale {
                        resale,
                        ticket,
                        status,
                    } => (
                        "resale",
                        resale.0,
                        Some(ticket),
                        crate::ids::resale_status(status),
                    ),
                };
                conn.prepare_cached(
                    "INSERT OR REPLACE INTO rm_history
                     (customer, kind, purchase, ticket_order, ticket_index, show, status,
                      tickets, paid, refunded)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )?
                .execute(rusqlite::params![
                    customer.0 as i64,
                    kind,
                    purchase as i64,
                    ticket.map(|ticket| ticket.order.0 as i64),
                    ticket.map(|ticket| ticket.index),
                    entry.show.0 as i64,
                    status,
                    entry.tickets,
                    entry.paid.0 as i64,
                    entry.refunded.0 as i64
                ])?;
            }
        }
        Ok(())
    }
}

/// The customer and show of an order, from the order service.
fn order_owner(hosts: &Hosts, order: OrderId) -> Option<(CustomerId, ShowId)> {
    match hosts.aggregate(StreamId::Order(order))? {
        AggregateRef::Order(order) => order
            .details
            .as_ref()
            .map(|details| (details.customer, details.section.show)),
        _ => None,
    }
}

/// The buyer and ticket of a resale purchase, from the ticket service.
fn resale_buyer(hosts: &Hosts, resale: ResaleId) -> Option<(CustomerId, TicketId)> {
    match hosts.aggregate(StreamId::Resale(resale))? {
        AggregateRef::Resale(resale) => resale
            .details
            .as_ref()
            .map(|details| (details.buyer, details.ticket)),
        _ => None,
    }
}

/// A seat state as the API spells it.
pub fn seat_status(state: turnstile_core::inventory::seating::SeatState) -> &'static str {
    use turnstile_core::inventory::seating::SeatState;
    match state {
        SeatState::Free => "available",
        SeatState::Reserved => "reserved",
        SeatState::Sold => "sold",
        SeatState::Blocked => "blocked",
    }
}

/// Days since the epoch as `YYYY-MM-DD`.
pub fn utc_day(day: u64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp((day * 86_400) as i64, 0)
        .map(|t| t.format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

fn note_of(service: Service, note: &Note) {
    match note {
        Note::Rejected(rejection) => {
            tracing::debug!(service = %service.name(), ?rejection, "rejected")
        }
        Note::DuplicateDropped => tracing::trace!(service = %service.name(), "duplicate dropped"),
        Note::ShowCancelledWithOpenOrders => {
            tracing::info!(service = %service.name(), "show cancelled with open orders")
        }
    }
}

/// A handle to a running driver.
#[derive(Clone)]
pub struct Handle {
    tx: mpsc::UnboundedSender<Input>,
}

/// The driver stopped (it crashed or was stopped).
#[derive(Debug, thiserror::Error)]
#[error("the service driver is not running")]
pub struct Gone;

impl Handle {
    /// A handle over a sender.
    pub fn new(tx: mpsc::UnboundedSender<Input>) -> Handle {
        Handle { tx }
    }

    /// Sends an input.
    pub fn send(&self, input: Input) -> Result<(), Gone> {
        self.tx.send(input).map_err(|_| Gone)
    }

    /// A client's command or query; the reply once durable.
    pub async fn ask(&self, service: Service, client: Client, msg: Msg) -> Result<Msg, Gone> {
        let (reply, answer) = oneshot::channel();
        self.send(Input::Client {
            service,
            client,
            msg,
            reply,
        })?;
        answer.await.map_err(|_| Gone)
    }

    /// Runs `read` against the hosts.
    pub async fn read<T: Send + 'static>(
        &self,
        read: impl FnOnce(&Hosts) -> T + Send + 'static,
    ) -> Result<T, Gone> {
        let (tx, rx) = oneshot::channel();
        self.send(Input::Read(Box::new(move |hosts| {
            let _ = tx.send(read(hosts));
        })))?;
        rx.await.map_err(|_| Gone)
    }

    /// Waits (up to `timeout`) until `order`'s status satisfies `until`.
    pub async fn wait(
        &self,
        order: OrderId,
        until: fn(turnstile_core::order::OrderStatus) -> bool,
        timeout: Duration,
    ) -> Option<turnstile_core::order::OrderStatus> {
        let (reply, rx) = oneshot::channel();
        self.send(Input::Wait {
            order,
            until,
            reply,
        })
        .ok()?;
        tokio::time::timeout(timeout, rx).await.ok()?.ok()
    }

    /// Tells the gateway's answer.
    pub fn gateway_reply(&self, key: GatewayKey, outcome: GatewayOutcome) {
        let _ = self.send(Input::GatewayReply { key, outcome });
    }
}
