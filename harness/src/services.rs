//! The services of the simulated world: the engine's driver of `turnstile-host`.
//!
//! Every service node runs a [`Host`], the same sans-IO state machine the real server
//! runs; this file only maps the engine onto its inputs and its outputs onto the
//! engine ([`Ctx`]), as any driver must (see the contract in `turnstile_host`):
//! - a delivery becomes [`Host::handle_message`] with the sender as the layout knows it
//!   (a service, the gateway, a customer or the organizer with its node as the reply
//!   address); a timer, [`Host::handle_timer`]; a start or restart, [`Host::rebuild`]
//!   from the records the engine's log kept, then [`Host::start`];
//! - [`Output::Append`] keeps the entry in the node's [`Store`] and writes its position
//!   ([`Stored`]) to the engine's durable log; [`Output::Sync`] syncs it, and the entries
//!   it made durable are handed to the observer (as the step's [`Step`] range);
//!   sends, replies and gateway calls go on the network; timers on the engine's queue.
//!
//! What survives a crash is the [`Store`] (the disk), never the [`ServiceNode`] (the
//! process). To change how a service reacts to a crash, open `host/src/node.rs`
//! (`Host::rebuild` and `Host::start`); this file only hands it the records.

use std::collections::{BTreeMap, VecDeque};
use std::ops::Range;
use std::rc::Rc;

use turnstile_core::{Actor, Timer, Timestamp};
use turnstile_host::{
    Entry, Host, HostConfig, HostTimer, Msg, Note, Output, Peer, Rejection, ReplyTo, Service,
};
use turnstile_sim::{Ctx, Envelope as Delivery, NodeId, Recovered, Setup, TimerId};

use crate::layout::{
    EPOCH_MS, GATEWAY, Layout, Role, SETUP_COMMANDS, SHOWS, Stored, World, WorldTimer, clock,
    command_id,
};
use crate::probes;

/// A service node's volatile state: its host, and the engine's handles of the core
/// timers the host armed (to cancel them). Dropped by a crash.
#[derive(Clone, Debug)]
pub struct ServiceNode {
    /// The host.
    pub host: Host,
    timers: BTreeMap<Timer, (TimerId, Timestamp)>,
}

/// What a service node keeps on disk, surviving crashes: the entries of its log (the
/// engine's log holds their positions and decides which survive), who the world knows
/// sent the input that wrote each, and a host rebuilt earlier that a restart may resume.
#[derive(Clone, Debug, Default)]
pub struct Store {
    /// The log's entries, in append order (the engine's log holds their positions).
    pub entries: Vec<Rc<Entry>>,
    /// Per entry, the actor of the input that wrote it, as the world knows it.
    pub actors: Vec<Actor>,
    /// Per entry, the engine step that wrote it, in traced runs only (to tell a
    /// failure's story); empty in sweeps.
    pub steps: Vec<u64>,
    /// Entries synced (durable) so far.
    pub synced: u32,
    /// Whether appended outbox messages wait for a sync.
    pub unsent: bool,
    /// The host as the last rebuild replayed it (before it started; it knows how many
    /// entries it replayed): the next restart resumes from it.
    rebuilt: Option<Host>,
}

/// The step of an entry written before the run ([`Services::put_on_sale`]).
pub const BEFORE_THE_RUN: u64 = u64::MAX;

/// What one step of a service came to, for the observer: the entries of the node's
/// store it made durable (the command it refused, if any, waits in
/// [`Services::take_rejection`]).
pub type Step = Range<u32>;

/// The record stores of every service node of a run.
#[derive(Debug, Default)]
pub struct Services {
    stores: Vec<Store>,
    /// The command the last step refused, if it refused one.
    rejection: Option<Rejection>,
}

impl Services {
    /// Forgets the last run; `nodes` nodes in this one.
    pub fn reset(&mut self, nodes: usize) {
        self.stores.resize_with(nodes, Store::default);
        self.stores.truncate(nodes);
        for store in &mut self.stores {
            store.entries.clear();
            store.actors.clear();
            store.steps.clear();
            store.synced = 0;
            store.unsent = false;
            store.rebuilt = None;
        }
    }

    /// Plays the organizer's setup commands of every show before the run, at time 0:
    /// the same hosts create, publish and open each show, passing their messages to each
    /// other at once, in order, until none is left, then log the acknowledgements they
    /// received. What each service wrote is its disk when the run begins: kept in its
    /// store and preloaded, synced, into the engine's log of its node. Returns every
    /// entry written, in the order written, for the observer.
    pub fn put_on_sale<S: World>(
        &mut self,
        setup: &mut Setup<'_, S>,
        layout: &Layout,
        config: HostConfig,
        traced: bool,
    ) -> Vec<(NodeId, u32)> {
        let organizer = NodeId(layout.organizer);
        let Role::Organizer(organizer_id) = layout.role(organizer) else {
            return Vec::new();
        };
        let from_organizer = Peer::Organizer {
            organizer: organizer_id,
            reply_to: ReplyTo(u64::from(organizer.0)),
        };
        let config = HostConfig {
            flush_ms: 0,
            ..config
        };
        let now = Timestamp(EPOCH_MS);
        let mut hosts: BTreeMap<u32, Host> = BTreeMap::new();
        let mut inbox: VecDeque<(NodeId, Peer, Msg, Actor)> = VecDeque::new();
        let mut seq = 0;
        for plan in &layout.shows {
            for index in 0..SETUP_COMMANDS {
                seq += 1;
                let message = turnstile_core::Message::Show {
                    show: plan.show,
                    id: command_id(organizer, seq),
                    body: plan.setup_command(index),
                };
                let msg = Msg::Command {
                    msg: message,
                    claimed: None,
                };
                inbox.push_back((SHOWS, from_organizer, msg, Actor::Organizer(organizer_id)));
            }
        }
        let mut written = Vec::new();
        let mut out = Written {
            setup,
            layout,
            inbox: &mut inbox,
            written: &mut written,
            traced,
        };
        loop {
            while let Some((node, from, msg, actor)) = out.inbox.pop_front() {
                let Some(service) = layout.service_of(node) else {
                    continue;
                };
                let host = hosts
                    .entry(node.0)
                    .or_insert_with(|| Host::new(service, config));
                host.handle_message(now, from, msg);
                out.take(&mut self.stores[node.index()], node, host, actor);
            }
            // A resend round logs the acknowledgements no append carried yet.
            for (&node, host) in hosts.iter_mut() {
                host.handle_timer(now, HostTimer::Resend);
                let node = NodeId(node);
                out.take(&mut self.stores[node.index()], node, host, Actor::System);
            }
            if out.inbox.is_empty() {
                break;
            }
        }
        written
    }

    /// Whether the last step refused a command.
    pub fn has_rejection(&self) -> bool {
        self.rejection.is_some()
    }

    /// The command the last step refused, if it refused one.
    pub fn take_rejection(&mut self) -> Option<Rejection> {
        self.rejection.take()
    }

    /// The store of `node`.
    pub fn store(&self, node: NodeId) -> &Store {
        &self.stores[node.index()]
    }

    /// Every node's store, by node index.
    pub fn stores(&self) -> &[Store] {
        &self.stores
    }

    /// Builds a service node from its log alone (at first start, and after a crash).
    pub fn start<S: World>(
        &mut self,
        service: Service,
        config: HostConfig,
        ctx: &mut Ctx<'_, S>,
        recovered: Recovered<'_, Stored>,
        layout: &Layout,
    ) -> ServiceNode {
        let store = &mut self.stores[ctx.node().index()];
        let records = recovered.records.len();
        debug_assert!(
            recovered
                .records
                .iter()
                .enumerate()
                .all(|(i, stored)| stored.0 as usize == i)
        );
        store.entries.truncate(records);
        store.actors.truncate(records);
        store.steps.truncate(records);
        store.synced = store.synced.min(records as u32);
        // Replaying a log is a pure function of its entries, and a log only ever grows
        // or loses its unsynced tail: the host an earlier rebuild replayed from a prefix
        // still holding is where this one resumes (the host checks it may).
        let cached = if recovered.is_restart {
            store.rebuilt.take()
        } else {
            None
        };
        let host = Host::rebuild(service, config, &store.entries, cached);
        if recovered.is_restart {
            store.rebuilt = Some(host.clone());
            tracing::debug!(node = ctx.node().0, service = ?service, records, "rebuilt from log");
        }
        let mut node = ServiceNode {
            host,
            timers: BTreeMap::new(),
        };
        node.host.start(clock(ctx));
        self.drive(&mut node, ctx, layout, Actor::System);
        node
    }

    /// A message reached a service node.
    pub fn deliver<S: World>(
        &mut self,
        node: &mut ServiceNode,
        ctx: &mut Ctx<'_, S>,
        layout: &Layout,
        delivery: Delivery,
        msg: Msg,
    ) -> Step {
        let from = delivery.from;
        let (peer, actor) = match layout.role(from) {
            Role::Service => match layout.service_of(from) {
                Some(service) => (Peer::Service(service), Actor::Service),
                None => return Step::default(),
            },
            Role::Gateway => (Peer::Gateway, Actor::Service),
            Role::Customer(customer) => (
                Peer::Customer {
                    customer,
                    reply_to: ReplyTo(u64::from(from.0)),
                },
                Actor::Customer(customer),
            ),
            Role::Organizer(organizer) => (
                Peer::Organizer {
                    organizer,
                    reply_to: ReplyTo(u64::from(from.0)),
                },
                Actor::Organizer(organizer),
            ),
        };
        node.host.handle_message(clock(ctx), peer, msg);
        self.drive(node, ctx, layout, actor)
    }

    /// A timer of a service node fired.
    pub fn timer<S: World>(
        &mut self,
        node: &mut ServiceNode,
        ctx: &mut Ctx<'_, S>,
        layout: &Layout,
        timer: WorldTimer,
    ) -> Step {
        let timer = match timer {
            WorldTimer::Core { timer, at } => {
                if node
                    .timers
                    .get(&timer)
                    .is_some_and(|(_, armed)| *armed == at)
                {
                    node.timers.remove(&timer);
                }
                HostTimer::Core { timer, at }
            }
            WorldTimer::Resend => HostTimer::Resend,
            WorldTimer::Flush => HostTimer::Flush,
            _ => return Step::default(),
        };
        node.host.handle_timer(clock(ctx), timer);
        self.drive(node, ctx, layout, Actor::System)
    }

    /// Executes the host's outputs in order. `actor` is who the world knows caused this
    /// input (what the observer holds each logged event's actor against).
    fn drive<S: World>(
        &mut self,
        node: &mut ServiceNode,
        ctx: &mut Ctx<'_, S>,
        layout: &Layout,
        actor: Actor,
    ) -> Step {
        let store = &mut self.stores[ctx.node().index()];
        let mut step = store.synced..store.synced;
        let timers = &mut node.timers;
        let rejection = &mut self.rejection;
        for output in node.host.outputs() {
            // One call site per engine operation keeps this loop small.
            let (to, msg) = match output {
                Output::Send { to, msg } => (layout.node_of(to), msg),
                Output::Reply { to, msg } => (NodeId(to.0 as u32), msg),
                Output::Gateway(call) => (GATEWAY, Box::new(Msg::Gateway(*call))),
                Output::Append(entry) => {
                    let seq = store.entries.len() as u32;
                    store.unsent |= entry.outbox_len() > 0;
                    store.entries.push(entry);
                    store.actors.push(actor);
                    if ctx.is_traced() {
                        store.steps.push(ctx.step());
                    }
                    ctx.append(&Stored(seq));
                    continue;
                }
                Output::Sync => {
                    ctx.sync();
                    store.synced = store.entries.len() as u32;
                    store.unsent = false;
                    step.end = store.synced;
                    continue;
                }
                Output::Arm { timer, at } => {
                    arm(timers, ctx, timer, at);
                    continue;
                }
                Output::Cancel(timer) => {
                    if let Some((id, _)) = timers.remove(&timer) {
                        ctx.cancel_timer(id);
                    }
                    continue;
                }
                Output::Note(note) => {
                    noted(ctx, note, rejection);
                    continue;
                }
            };
            ctx.send_boxed(to, msg);
        }
        step
    }
}

/// Where the hosts' outputs go while the shows are put on sale before the run.
struct Written<'a, 'b, 'c, S: World> {
    setup: &'a mut Setup<'b, S>,
    layout: &'c Layout,
    inbox: &'a mut VecDeque<(NodeId, Peer, Msg, Actor)>,
    written: &'a mut Vec<(NodeId, u32)>,
    traced: bool,
}

impl<S: World> Written<'_, '_, '_, S> {
    /// Takes a host's outputs: appends go to its store and its node's log, synced;
    /// messages to the other services' inbox. Replies to the organizer, timers (re-armed
    /// from the log at start), syncs (everything is synced) and notes go nowhere.
    fn take(&mut self, store: &mut Store, node: NodeId, host: &mut Host, actor: Actor) {
        let service = host.service();
        for output in host.outputs() {
            match output {
                Output::Append(entry) => {
                    let seq = store.entries.len() as u32;
                    store.entries.push(entry);
                    store.actors.push(actor);
                    if self.traced {
                        store.steps.push(BEFORE_THE_RUN);
                    }
                    store.synced = seq + 1;
                    self.setup.preload(node, &Stored(seq));
                    self.written.push((node, seq));
                }
                Output::Send { to, msg } => {
                    let from = Peer::Service(service);
                    self.inbox
                        .push_back((self.layout.node_of(to), from, *msg, Actor::Service));
                }
                _ => {}
            }
        }
    }
}

/// Counts a host's note as a probe, or keeps a rejection for the observer.
#[cold]
fn noted<S: World>(ctx: &mut Ctx<'_, S>, note: Note, rejection: &mut Option<Rejection>) {
    match note {
        Note::DuplicateDropped => ctx.sometimes(probes::DUPLICATE_DELIVERY_DROPPED),
        Note::ShowCancelledWithOpenOrders => {
            ctx.sometimes(probes::SHOW_CANCELLED_WITH_OPEN_ORDERS);
        }
        Note::Rejected(refused) => *rejection = Some(refused),
    }
}

/// Arms a host timer on the engine's queue.
fn arm<S: World>(
    timers: &mut BTreeMap<Timer, (TimerId, Timestamp)>,
    ctx: &mut Ctx<'_, S>,
    timer: HostTimer,
    at: Timestamp,
) {
    let after_ms = at.0.saturating_sub(clock(ctx).0);
    let (world_timer, liveness) = match timer {
        HostTimer::Core { timer, at } => {
            (WorldTimer::Core { timer, at }, timer.counts_for_liveness())
        }
        HostTimer::Resend => (WorldTimer::Resend, true),
        HostTimer::Flush => (WorldTimer::Flush, true),
    };
    let id = if liveness {
        ctx.set_liveness_timer(after_ms, world_timer)
    } else {
        ctx.set_timer(after_ms, world_timer)
    };
    if let HostTimer::Core { timer, at } = timer {
        timers.insert(timer, (id, at));
    }
}
