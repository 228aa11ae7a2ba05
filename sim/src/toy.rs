//! The toy system: the reference engine workload of SIMULATION.md, on the engine.
//!
//! One inventory server (node 0) holds 100 seats; 50 clients (nodes 1..=50) each arrive
//! (a workload event), send `Reserve` of 1–4 seats, then `Confirm` (80 %) or `Release`
//! (20 %). The server answers `Ok` or `Insufficient`, deduplicates by request id (one
//! request per client), and writes each decision to its log, synced before it answers
//! (or, with group commit, answers after a short flush timer syncs a batch). Clients
//! retry after 200 ms until answered. Clients never crash; the server may.
//!
//! It serves the engine's example, tests, benchmark and fuzz target. Two planted bugs sit
//! behind [`Bugs`], a runtime switch only tests and fuzzing turn on:
//! - `confirm_not_idempotent`: a repeated `Confirm` sells the seats again;
//! - `ack_before_sync`: the server answers before its decision is durable.
//!
//! Invariants (stable names): `no_oversell` and `seats_accounted` (always, on the
//! server), `acked_survives_crash` (at restart: whatever a client was told, the recovered
//! server still knows), `clients_finish` and `tickets_match_sales` (eventually).

use crate::checks::Violation;
use crate::faults::Profile;
use crate::log::Record;
use crate::sim::{Ctx, Envelope, NodeId, Recovered, Setup, System, TimerId, View};

/// Planted bugs, all off by default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Bugs {
    /// A repeated `Confirm` of a confirmed request sells its seats again.
    pub confirm_not_idempotent: bool,
    /// The server answers before the decision is synced to its log.
    pub ack_before_sync: bool,
}

/// Shape of the toy world.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ToyConfig {
    /// Number of clients.
    pub clients: u32,
    /// Seats on sale.
    pub seats: u32,
    /// Client resend interval.
    pub retry_ms: u64,
    /// Clients arrive this far apart, plus a drawn jitter.
    pub arrival_spacing_ms: u64,
    /// Longest arrival jitter.
    pub arrival_jitter_ms_max: u64,
    /// 0: sync every decision before answering; otherwise answers wait for a flush
    /// timer this long that syncs the batch (group commit).
    pub group_commit_ms: u64,
    /// Planted bugs.
    pub bugs: Bugs,
}

impl Default for ToyConfig {
    fn default() -> Self {
        Self {
            clients: 50,
            seats: 100,
            retry_ms: 200,
            arrival_spacing_ms: 20,
            arrival_jitter_ms_max: 1_000,
            group_commit_ms: 0,
            bugs: Bugs::default(),
        }
    }
}

/// The reference workload's profile: delay 1–50 ms, and with `faults` 5 % drops.
pub fn reference_profile(faults: bool) -> Profile {
    let mut profile = Profile::calm(1, 50);
    if faults {
        profile.drop_per_mille = 50;
    }
    profile
}

/// The ceiling for swarm runs of the toy: every fault kind, delays 1–50 ms.
pub fn swarm_ceiling() -> Profile {
    Profile::everything(1, 50)
}

/// Which request an answer is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Hold seats.
    Reserve,
    /// Buy the held seats.
    Confirm,
    /// Give the held seats back.
    Release,
}

/// A message of the toy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Msg {
    /// Hold `quantity` seats for `request`.
    Reserve {
        /// The request (one per client).
        request: u32,
        /// Seats, 1–4.
        quantity: u32,
    },
    /// Buy the seats held for `request`.
    Confirm {
        /// The request.
        request: u32,
    },
    /// Give back the seats held for `request`.
    Release {
        /// The request.
        request: u32,
    },
    /// The server's answer.
    Answer {
        /// The request.
        request: u32,
        /// What was asked.
        op: Op,
        /// `false`: insufficient seats.
        ok: bool,
    },
}

/// Timers of the toy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Timer {
    /// A client resends its pending request.
    Retry,
    /// The server syncs its log and sends the answers waiting for it.
    Flush,
}

/// The workload event: a client arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Arrive;

// The toy's values are small: their `Debug` form is already the readable trace line.
macro_rules! display_as_debug {
    ($($name:ty),*) => {$(
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                std::fmt::Debug::fmt(self, f)
            }
        }
    )*};
}
display_as_debug!(Msg, Timer, Arrive);

/// A decision in the server's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Seats held for a request.
    Reserved {
        /// The request.
        request: u32,
        /// Seats held.
        quantity: u32,
    },
    /// A request turned down for lack of seats.
    Rejected {
        /// The request.
        request: u32,
    },
    /// Held seats sold.
    Confirmed {
        /// The request.
        request: u32,
    },
    /// Held seats given back.
    Released {
        /// The request.
        request: u32,
    },
}

impl Record for Decision {
    fn encode(&self, out: &mut Vec<u8>) {
        let (tag, request, quantity) = match *self {
            Decision::Reserved { request, quantity } => (1u8, request, quantity),
            Decision::Rejected { request } => (2, request, 0),
            Decision::Confirmed { request } => (3, request, 0),
            Decision::Released { request } => (4, request, 0),
        };
        let [a, b, c, d] = request.to_le_bytes();
        out.extend_from_slice(&[tag, a, b, c, d, quantity as u8]);
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let [tag, a, b, c, d, quantity] = *bytes else {
            return None;
        };
        let request = u32::from_le_bytes([a, b, c, d]);
        match tag {
            1 => Some(Decision::Reserved {
                request,
                quantity: u32::from(quantity),
            }),
            2 => Some(Decision::Rejected { request }),
            3 => Some(Decision::Confirmed { request }),
            4 => Some(Decision::Released { request }),
            _ => None,
        }
    }
}

/// What the server knows of one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestState {
    /// Never seen.
    Unknown,
    /// Seats held.
    Reserved(u32),
    /// Turned down.
    Rejected,
    /// Seats sold.
    Confirmed(u32),
    /// Seats given back.
    Released(u32),
}

/// The inventory server's volatile state.
#[derive(Clone, Debug)]
pub struct Server {
    /// Seats neither held nor sold.
    pub available: u32,
    /// Seats held.
    pub reserved: u32,
    /// Seats sold.
    pub sold: u32,
    /// Per request (client index).
    pub requests: Vec<RequestState>,
    answers: Vec<(NodeId, Msg)>,
    flush: Option<TimerId>,
    unsynced: bool,
}

impl Server {
    #[inline]
    fn apply(&mut self, decision: Decision) {
        match decision {
            Decision::Reserved { request, quantity } => {
                self.available -= quantity;
                self.reserved += quantity;
                self.requests[request as usize] = RequestState::Reserved(quantity);
            }
            Decision::Rejected { request } => {
                self.requests[request as usize] = RequestState::Rejected;
            }
            Decision::Confirmed { request } => {
                if let RequestState::Reserved(quantity) = self.requests[request as usize] {
                    self.reserved -= quantity;
                    self.sold += quantity;
                    self.requests[request as usize] = RequestState::Confirmed(quantity);
                }
            }
            Decision::Released { request } => {
                if let RequestState::Reserved(quantity) = self.requests[request as usize] {
                    self.reserved -= quantity;
                    self.available += quantity;
                    self.requests[request as usize] = RequestState::Released(quantity);
                }
            }
        }
    }
}

/// Where a client is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientState {
    /// Not arrived yet.
    Waiting,
    /// Asked for seats.
    Reserving(u32),
    /// Asked to buy them.
    Confirming(u32),
    /// Asked to give them back.
    Releasing(u32),
    /// Finished.
    Done,
}

/// A client's volatile state.
#[derive(Clone, Copy, Debug)]
pub struct Client {
    /// The client's one request id.
    pub request: u32,
    /// Where it is.
    pub state: ClientState,
    retry: Option<TimerId>,
}

impl Client {
    fn pending(&self) -> Option<Msg> {
        let request = self.request;
        match self.state {
            ClientState::Reserving(quantity) => Some(Msg::Reserve { request, quantity }),
            ClientState::Confirming(_) => Some(Msg::Confirm { request }),
            ClientState::Releasing(_) => Some(Msg::Release { request }),
            ClientState::Waiting | ClientState::Done => None,
        }
    }
}

/// A node of the toy.
#[derive(Clone, Debug)]
pub enum ToyNode {
    /// Node 0.
    Server(Server),
    /// Nodes 1..=clients.
    Client(Client),
}

/// What a client was told (the outside world's view, judged by the checks).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Told {
    /// Nothing yet.
    Nothing,
    /// Its seats are held.
    Reserved,
    /// Not enough seats.
    Rejected,
    /// Its seats are bought.
    Confirmed,
    /// Its seats are given back.
    Released,
}

/// The toy system.
#[derive(Clone, Debug)]
pub struct Toy {
    config: ToyConfig,
    told: Vec<Told>,
    seats_in_hand: u32,
    /// Per client, whether it stays home this run (done before it starts).
    home: Vec<bool>,
}

const SERVER: NodeId = NodeId(0);

impl Toy {
    /// A toy world shaped by `config`.
    pub fn new(config: ToyConfig) -> Self {
        Self {
            config,
            told: Vec::new(),
            seats_in_hand: 0,
            home: Vec::new(),
        }
    }

    /// The reference workload, bugs off.
    pub fn reference() -> Self {
        Self::new(ToyConfig::default())
    }

    /// Its configuration.
    pub fn config(&self) -> &ToyConfig {
        &self.config
    }

    /// Seats clients were told they bought.
    pub fn seats_in_hand(&self) -> u32 {
        self.seats_in_hand
    }

    #[inline]
    fn decide(&mut self, server: &mut Server, ctx: &mut Ctx<'_, Self>, decision: Decision) {
        server.apply(decision);
        if self.config.group_commit_ms > 0 || self.config.bugs.ack_before_sync {
            ctx.append(&decision);
            server.unsynced = true;
        } else {
            ctx.append_synced(&decision);
        }
    }

    fn answer(&self, server: &mut Server, ctx: &mut Ctx<'_, Self>, to: NodeId, msg: Msg) {
        if server.unsynced && !self.config.bugs.ack_before_sync {
            server.answers.push((to, msg));
            if server.flush.is_none() {
                server.flush =
                    Some(ctx.set_liveness_timer(self.config.group_commit_ms, Timer::Flush));
            }
        } else {
            ctx.send(to, msg);
        }
    }

    fn serve(&mut self, server: &mut Server, ctx: &mut Ctx<'_, Self>, from: NodeId, msg: Msg) {
        if self.config.bugs.ack_before_sync && server.unsynced {
            // The planted bug's lazy sync: the previous decision becomes durable only now,
            // after its answer already left.
            ctx.sync();
            server.unsynced = false;
        }
        let (request, op) = match msg {
            Msg::Reserve { request, .. } => (request, Op::Reserve),
            Msg::Confirm { request } => (request, Op::Confirm),
            Msg::Release { request } => (request, Op::Release),
            Msg::Answer { .. } => return,
        };
        let Some(&state) = server.requests.get(request as usize) else {
            return;
        };
        let ok = match (msg, state) {
            (Msg::Reserve { quantity, .. }, RequestState::Unknown) => {
                if server.available >= quantity {
                    self.decide(server, ctx, Decision::Reserved { request, quantity });
                    if server.available == 0 {
                        ctx.sometimes("last_seat_taken");
                    }
                    true
                } else {
                    ctx.sometimes("seats_ran_out");
                    self.decide(server, ctx, Decision::Rejected { request });
                    false
                }
            }
            (Msg::Reserve { .. }, RequestState::Rejected) => {
                ctx.sometimes("duplicate_request");
                false
            }
            (Msg::Confirm { .. }, RequestState::Reserved(_)) => {
                self.decide(server, ctx, Decision::Confirmed { request });
                true
            }
            (Msg::Release { .. }, RequestState::Reserved(_)) => {
                ctx.sometimes("seats_released");
                self.decide(server, ctx, Decision::Released { request });
                true
            }
            (Msg::Confirm { .. }, RequestState::Confirmed(quantity)) => {
                ctx.sometimes("duplicate_request");
                if self.config.bugs.confirm_not_idempotent {
                    server.sold += quantity;
                }
                true
            }
            _ => {
                ctx.sometimes("duplicate_request");
                true
            }
        };
        self.answer(server, ctx, from, Msg::Answer { request, op, ok });
    }

    fn on_answer(&mut self, client: &mut Client, ctx: &mut Ctx<'_, Self>, op: Op, ok: bool) {
        let told = &mut self.told[client.request as usize];
        client.state = match (client.state, op) {
            (ClientState::Reserving(quantity), Op::Reserve) if ok => {
                *told = Told::Reserved;
                // 0 (least eventful) is the common path: confirm.
                if ctx.draw(99) >= 80 {
                    ClientState::Releasing(quantity)
                } else {
                    ClientState::Confirming(quantity)
                }
            }
            (ClientState::Reserving(_), Op::Reserve) => {
                *told = Told::Rejected;
                ClientState::Done
            }
            (ClientState::Confirming(quantity), Op::Confirm) => {
                *told = Told::Confirmed;
                self.seats_in_hand += quantity;
                ClientState::Done
            }
            (ClientState::Releasing(_), Op::Release) => {
                *told = Told::Released;
                ClientState::Done
            }
            _ => return, // A late duplicate of an answer already acted on.
        };
        if let Some(retry) = client.retry.take() {
            ctx.cancel_timer(retry);
        }
        self.send_pending(client, ctx);
    }

    fn send_pending(&self, client: &mut Client, ctx: &mut Ctx<'_, Self>) {
        if let Some(msg) = client.pending() {
            ctx.send(SERVER, msg);
            client.retry = Some(ctx.set_liveness_timer(self.config.retry_ms, Timer::Retry));
        }
    }

    /// Names which seat invariant broke (off the hot path: checks pass almost always).
    #[cold]
    #[inline(never)]
    fn seat_violation(server: &Server, seats: u32) -> Violation {
        if server.available + server.reserved + server.sold != seats {
            return Violation::new(
                "seats_accounted",
                format!(
                    "available {} + reserved {} + sold {} != {seats} seats",
                    server.available, server.reserved, server.sold
                ),
            );
        }
        Violation::new(
            "no_oversell",
            format!(
                "reserved {} + sold {} > {seats} seats",
                server.reserved, server.sold
            ),
        )
    }

    #[inline]
    fn server<'a>(view: &View<'a, Self>) -> Option<&'a Server> {
        match view.node(SERVER) {
            Some(ToyNode::Server(server)) => Some(server),
            _ => None,
        }
    }
}

impl System for Toy {
    type Node = ToyNode;
    type Msg = Msg;
    type Timer = Timer;
    type External = Arrive;
    type Record = Decision;

    const PROBES: &'static [&'static str] = &[
        "last_seat_taken",
        "seats_ran_out",
        "seats_released",
        "duplicate_request",
        "client_retried",
        "server_restarted",
        "torn_record_dropped",
    ];

    fn setup(&mut self, setup: &mut Setup<'_, Self>) {
        self.told.clear();
        self.told
            .resize(self.config.clients as usize, Told::Nothing);
        self.seats_in_hand = 0;
        self.home.clear();
        let server = setup.add_node(true);
        debug_assert_eq!(server, SERVER);
        for index in 0..self.config.clients {
            let client = setup.add_node(false);
            // Each client is a part of the world: drawing 0 first (1 draw in 16), it
            // stays home, which is how the shrinker deletes it.
            setup.begin_part(client);
            let comes = setup.draw(15) > 0;
            if comes {
                let jitter_ms = setup.draw(self.config.arrival_jitter_ms_max);
                let at_ms = u64::from(index) * self.config.arrival_spacing_ms + jitter_ms;
                setup.schedule_external(client, at_ms, Arrive);
            }
            setup.end_part();
            self.home.push(!comes);
        }
    }

    fn start(&mut self, ctx: &mut Ctx<'_, Self>, recovered: Recovered<'_, Decision>) -> ToyNode {
        if ctx.node() != SERVER {
            let request = ctx.node().0 - 1;
            return ToyNode::Client(Client {
                request,
                state: if self.home[request as usize] {
                    ClientState::Done
                } else {
                    ClientState::Waiting
                },
                retry: None,
            });
        }
        let mut server = Server {
            available: self.config.seats,
            reserved: 0,
            sold: 0,
            requests: vec![RequestState::Unknown; self.config.clients as usize],
            answers: Vec::new(),
            flush: None,
            unsynced: false,
        };
        for &decision in recovered.records {
            server.apply(decision);
        }
        if recovered.is_restart {
            ctx.sometimes("server_restarted");
        }
        if recovered.report.torn_dropped {
            ctx.sometimes("torn_record_dropped");
        }
        ToyNode::Server(server)
    }

    fn on_message(
        &mut self,
        node: &mut ToyNode,
        ctx: &mut Ctx<'_, Self>,
        envelope: Envelope,
        msg: Msg,
    ) {
        match node {
            ToyNode::Server(server) => self.serve(server, ctx, envelope.from, msg),
            ToyNode::Client(client) => {
                if let Msg::Answer { request, op, ok } = msg
                    && request == client.request
                {
                    self.on_answer(client, ctx, op, ok);
                }
            }
        }
    }

    fn on_timer(&mut self, node: &mut ToyNode, ctx: &mut Ctx<'_, Self>, timer: Timer) {
        match (node, timer) {
            (ToyNode::Client(client), Timer::Retry) => {
                ctx.sometimes("client_retried");
                self.send_pending(client, ctx);
            }
            (ToyNode::Server(server), Timer::Flush) => {
                ctx.sync();
                server.unsynced = false;
                server.flush = None;
                for (to, msg) in std::mem::take(&mut server.answers) {
                    ctx.send(to, msg);
                }
            }
            _ => {}
        }
    }

    fn on_external(&mut self, node: &mut ToyNode, ctx: &mut Ctx<'_, Self>, _event: Arrive) {
        if let ToyNode::Client(client) = node
            && client.state == ClientState::Waiting
        {
            let quantity = ctx.range(1, 4) as u32;
            client.state = ClientState::Reserving(quantity);
            self.send_pending(client, ctx);
        }
    }

    #[inline]
    fn check_always(&self, view: &View<'_, Self>) -> Result<(), Violation> {
        let Some(server) = Self::server(view) else {
            return Ok(());
        };
        let seats = self.config.seats;
        let accounted = server.available + server.reserved + server.sold == seats;
        if accounted && server.reserved + server.sold <= seats {
            return Ok(());
        }
        Err(Self::seat_violation(server, seats))
    }

    fn check_restart(&self, node: NodeId, view: &View<'_, Self>) -> Result<(), Violation> {
        let Some(server) = Self::server(view).filter(|_| node == SERVER) else {
            return Ok(());
        };
        for (request, (&told, &known)) in self.told.iter().zip(&server.requests).enumerate() {
            let kept = match told {
                Told::Nothing => true,
                Told::Reserved => !matches!(known, RequestState::Unknown | RequestState::Rejected),
                Told::Rejected => known == RequestState::Rejected,
                Told::Confirmed => matches!(known, RequestState::Confirmed(_)),
                Told::Released => matches!(known, RequestState::Released(_)),
            };
            if !kept {
                return Err(Violation::new(
                    "acked_survives_crash",
                    format!(
                        "client of request {request} was told {told:?}; the restarted server has {known:?}"
                    ),
                ));
            }
        }
        Ok(())
    }

    fn check_eventually(&self, view: &View<'_, Self>) -> Result<(), Violation> {
        for (id, state) in view.nodes() {
            if let Some(ToyNode::Client(client)) = state
                && client.state != ClientState::Done
            {
                return Err(Violation::new(
                    "clients_finish",
                    format!(
                        "client n{} (request {}) stuck in {:?}, waiting for the server",
                        id.0, client.request, client.state
                    ),
                ));
            }
        }
        if let Some(server) = Self::server(view)
            && server.sold != self.seats_in_hand
        {
            return Err(Violation::new(
                "tickets_match_sales",
                format!(
                    "server sold {} seats, clients hold {}",
                    server.sold, self.seats_in_hand
                ),
            ));
        }
        Ok(())
    }
}
