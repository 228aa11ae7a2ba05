//! The ticketing world on the engine: the [`System`] implementation ([`Ticketing`]) that
//! wires the services, the payment gateway, the organizer and the customers together,
//! and the public API the `turnstile` command uses.
//!
//! # Nodes
//! Node 0 hosts the shows, 1 the orders (the saga), 2 the payments, 3 the tickets and
//! resale purchases, 4 the read models, 5 the payment gateway (outside our control: it
//! never crashes but misbehaves), then one node per show section's inventory, then the
//! organizer, then one node per customer. Services may crash, pause and restart; the
//! gateway, the organizer and the customers never do.
//!
//! # A run
//! [`System::setup`] draws the workload ([`Workload`]: flash sale, season, adversarial,
//! each a third of a sweep), the gateway's misbehaviour ([`GatewayProfile`]) and every
//! client's plan from the run's choice stream, then schedules the organizer and the
//! customers. Invariants are judged from outside ([`crate::invariants`]): the services'
//! durable logs, the gateway's ledger and what the customers were told.
//!
//! # API for the command
//! [`Ticketing::new`] from a [`WorldConfig`] (or [`Ticketing::sweep`]), [`sweep_config`]
//! for the engine, [`BUILD`] for replay tokens, [`Ticketing::workload`] and
//! [`Ticketing::gateway_profile`] to describe the last run, and
//! [`install_trace_subscriber`] to show the services' `tracing` output.

pub mod wire;

use turnstile_core::inventory::seating::SeatLabels;
use turnstile_core::payment::{GatewayKey, GatewayOutcome};
use turnstile_core::show::{SectionKind, SectionSpec};
use turnstile_core::time::{DAY_MS, MINUTE_MS};
use turnstile_core::{
    Actor, CustomerId, Message, Money, OrganizerId, SectionIndex, SectionKey, ShowId, Timer,
    Timestamp,
};
use turnstile_sim::{
    Config, Ctx, Envelope, NodeId, Profile, ProfileMode, Recovered, Setup, System, TraceMode, View,
    Violation,
};

use crate::gateway::{GatewayProfile, Ledger};
use crate::invariants::Observer;
use crate::services::{Digest, Doubles, EPOCH_MS, ServiceKind, ServiceNode};
use crate::workloads::{Board, Client, ClientTimer, CustomerPlan, External};
use wire::{Entry, Msg, Stored};

/// The build a replay token names.
pub const BUILD: &str = concat!("turnstile-", env!("CARGO_PKG_VERSION"), "-world-1");

/// The show service.
pub const SHOWS: NodeId = NodeId(0);
/// The order service (the reservation saga).
pub const ORDERS: NodeId = NodeId(1);
/// The payment service.
pub const PAYMENTS: NodeId = NodeId(2);
/// The ticket service (tickets and resale purchases).
pub const TICKETS: NodeId = NodeId(3);
/// The read-model service.
pub const READ_MODELS: NodeId = NodeId(4);
/// The payment gateway.
pub const GATEWAY: NodeId = NodeId(5);
/// The first section inventory.
pub const FIRST_SECTION: u32 = 6;

/// The three workloads; a sweep draws one per seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Workload {
    /// Many customers within seconds of sales opening, colliding on seats.
    FlashSale,
    /// Four shows from a day to a month away: every tier, transfers at the 24-hour edge,
    /// resale, cancellations across each refund boundary, a show cancelled.
    Season,
    /// Customers who cheat, among customers who do not.
    Adversarial,
}

impl Workload {
    /// Stable lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Workload::FlashSale => "flash_sale",
            Workload::Season => "season",
            Workload::Adversarial => "adversarial",
        }
    }

    /// Every workload, in draw order.
    pub const ALL: [Workload; 3] = [Workload::FlashSale, Workload::Season, Workload::Adversarial];
}

/// The size of a flash sale.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FlashSaleShape {
    /// Fewest customers.
    pub customers_min: u32,
    /// Most customers.
    pub customers_max: u32,
    /// Numbered sections.
    pub numbered_sections: u32,
    /// Rows per numbered section.
    pub rows: u32,
    /// Seats per row.
    pub seats_per_row: u32,
    /// Places in the general-admission section.
    pub general_admission: u32,
    /// Customers arrive within this many ms of sales opening.
    pub arrival_window_ms: u64,
}

/// How runs of the world are shaped.
#[derive(Clone, Copy, Debug)]
pub struct WorldConfig {
    /// A fixed workload, or `None` to draw one per seed.
    pub workload: Option<Workload>,
    /// The flash sale's size.
    pub flash_sale: FlashSaleShape,
    /// Customers of a season (fewest, most).
    pub season_customers: (u32, u32),
    /// Honest customers and adversaries of an adversarial run.
    pub adversarial_customers: (u32, u32),
    /// Whether services publish their events to the read models.
    pub publish: bool,
    /// Faulty test doubles (all off in production).
    pub doubles: Doubles,
}

impl WorldConfig {
    /// The default sweep's world.
    pub fn sweep() -> Self {
        Self {
            workload: None,
            flash_sale: FlashSaleShape {
                customers_min: 12,
                customers_max: 30,
                numbered_sections: 1,
                rows: 2,
                seats_per_row: 8,
                general_admission: 10,
                arrival_window_ms: 3_000,
            },
            season_customers: (10, 18),
            adversarial_customers: (8, 14),
            publish: true,
            doubles: Doubles::default(),
        }
    }

    /// The stadium flash sale: 100,000 customers for 50,000 seats, in one run.
    pub fn stadium() -> Self {
        Self {
            workload: Some(Workload::FlashSale),
            flash_sale: FlashSaleShape {
                customers_min: 100_000,
                customers_max: 100_000,
                numbered_sections: 4,
                rows: 100,
                seats_per_row: 100,
                general_admission: 10_000,
                arrival_window_ms: 10_000,
            },
            ..Self::sweep()
        }
    }

    /// This config with a fixed workload.
    pub fn with_workload(mut self, workload: Workload) -> Self {
        self.workload = Some(workload);
        self
    }

    /// This config with test doubles.
    pub fn with_doubles(mut self, doubles: Doubles) -> Self {
        self.doubles = doubles;
        self
    }
}

/// The engine configuration of the default sweep: swarm profiles under a ceiling with
/// every fault kind, time bounds long enough for a season, every check on.
pub fn sweep_config() -> Config {
    let mut ceiling = Profile::everything(1, 50);
    // Process faults every 3–30 s of virtual time: a run lasts minutes.
    ceiling.process_fault_interval_ms = 3_000;
    ceiling.outage_ms_max = 2_000;
    Config {
        profile: ProfileMode::Swarm(ceiling),
        safety_ms_max: 2 * 60 * MINUTE_MS,
        liveness_ms_max: 60 * MINUTE_MS,
        steps_max: 20_000_000,
        check_always: true,
        trace: TraceMode::Hash,
    }
}

/// Installs a `tracing` subscriber on stderr showing the services' commands and
/// deliveries (`replay --trace`). Sweeps install none, so the spans cost nothing.
pub fn install_trace_subscriber() {
    let _ = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .without_time()
        .try_init();
}

/// One show of a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShowPlan {
    /// Its id.
    pub show: ShowId,
    /// Its name.
    pub name: String,
    /// When it starts.
    pub start_at: Timestamp,
    /// Its sections.
    pub sections: Vec<SectionSpec>,
    /// The global index of its first section.
    pub first_section: u32,
}

/// Who a node is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// One of our services.
    Service,
    /// The payment gateway.
    Gateway,
    /// The organizer.
    Organizer(OrganizerId),
    /// A customer.
    Customer(CustomerId),
}

/// The shape of one run: shows, sections and where every node is.
#[derive(Clone, Debug, Default)]
pub struct Layout {
    /// The shows.
    pub shows: Vec<ShowPlan>,
    /// Every section, by global index.
    pub sections: Vec<SectionKey>,
    /// The organizer's node.
    pub organizer: u32,
    /// The first customer's node.
    pub first_customer: u32,
    /// How many customers.
    pub customers: u32,
}

impl Layout {
    /// Who `node` is.
    #[inline]
    pub fn role(&self, node: NodeId) -> Role {
        if node == GATEWAY {
            Role::Gateway
        } else if node.0 < self.organizer {
            Role::Service
        } else if node.0 == self.organizer {
            Role::Organizer(OrganizerId(1))
        } else {
            Role::Customer(CustomerId(u64::from(node.0 - self.first_customer) + 1))
        }
    }

    /// The node of customer `customer`.
    pub fn customer_node(&self, customer: CustomerId) -> NodeId {
        NodeId(self.first_customer + customer.0 as u32 - 1)
    }

    /// The node of a section's inventory (the shows' node if the section is unknown).
    #[inline]
    pub fn section_node(&self, key: SectionKey) -> NodeId {
        let show = (key.show.0 as usize).wrapping_sub(1);
        match self.shows.get(show) {
            Some(plan) if (key.section.0 as usize) < plan.sections.len() => {
                NodeId(FIRST_SECTION + plan.first_section + key.section.0)
            }
            _ => SHOWS,
        }
    }

    /// The global index of a section.
    pub fn section_index(&self, key: SectionKey) -> Option<usize> {
        let plan = self.shows.get((key.show.0 as usize).wrapping_sub(1))?;
        ((key.section.0 as usize) < plan.sections.len())
            .then_some((plan.first_section + key.section.0) as usize)
    }

    /// The service that hosts a message's aggregate.
    #[inline]
    pub fn route(&self, message: &Message) -> NodeId {
        match message {
            Message::Show { .. } => SHOWS,
            Message::Inventory { section, .. } => self.section_node(*section),
            Message::Order { .. } => ORDERS,
            Message::Payment { .. } => PAYMENTS,
            Message::Ticket { .. } | Message::Resale { .. } => TICKETS,
        }
    }

    /// A show's plan.
    pub fn show(&self, show: ShowId) -> Option<&ShowPlan> {
        self.shows.get((show.0 as usize).wrapping_sub(1))
    }
}

/// A timer of the world.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WorldTimer {
    /// A core timer of a service, with its deadline.
    Core {
        /// Which.
        timer: Timer,
        /// When it was due.
        at: Timestamp,
    },
    /// A service resends its unacknowledged outbox and unanswered gateway calls.
    Resend,
    /// A service syncs its log and sends what waited for the sync (group commit).
    Flush,
    /// The gateway finishes a call it stalled on.
    GatewayStalled {
        /// Who called.
        to: NodeId,
        /// The call.
        call: turnstile_core::payment::GatewayCall,
    },
    /// The gateway sends a late answer.
    GatewayLate {
        /// To whom.
        to: NodeId,
        /// The call.
        key: GatewayKey,
        /// The answer.
        outcome: GatewayOutcome,
    },
    /// A client's timer.
    Client(ClientTimer),
}

/// A node's volatile state.
#[derive(Debug)]
pub enum Node {
    /// A service.
    Service(Box<ServiceNode>),
    /// The gateway (its ledger lives in the world: it never crashes).
    Gateway,
    /// The organizer or a customer.
    Client(Box<Client>),
}

/// The ticketing world: configuration, the run's shape, and everything the outside
/// world saw (the services' logs, the gateway's ledger, what customers were told).
#[derive(Debug)]
pub struct Ticketing {
    pub(crate) config: WorldConfig,
    pub(crate) workload: Workload,
    pub(crate) gateway_profile: GatewayProfile,
    pub(crate) layout: Layout,
    pub(crate) plans: Vec<CustomerPlan>,
    pub(crate) board: Board,
    /// Per node, its log's entries (the frames live in the engine's durable log).
    pub(crate) logs: Vec<Vec<Entry>>,
    /// Per node, the digest of its state at its last sync.
    pub(crate) synced: Vec<Digest>,
    /// Per node and log entry, the actor the world knows sent the command.
    pub(crate) senders: Vec<Vec<Actor>>,
    /// Per node, how many log entries the observer has judged (the synced ones).
    pub(crate) observed: Vec<u32>,
    /// Per node, whether outbox messages wait for a sync.
    pub(crate) unsent_outbox: Vec<bool>,
    /// Per restarted service: the state its last rebuild replayed from its log (node
    /// index, entries replayed, state before timers were re-armed), so that the next
    /// rebuild replays only the entries appended since (see `start_service`).
    pub(crate) rebuilt: Vec<(u32, u32, ServiceNode)>,
    /// The seat labels of every numbered-section shape (rows, seats per row) used so
    /// far, kept from run to run: labels are formatted and their layout built once.
    seat_labels: Vec<((u32, u32), SeatLabels)>,
    pub(crate) observer: Observer,
    pub(crate) ledger: Ledger,
    pub(crate) current_actor: Actor,
    pub(crate) violation: Option<Violation>,
}

impl Ticketing {
    /// A world shaped by `config`.
    pub fn new(config: WorldConfig) -> Self {
        Self {
            config,
            workload: Workload::FlashSale,
            gateway_profile: GatewayProfile::default(),
            layout: Layout::default(),
            plans: Vec::new(),
            board: Board::default(),
            logs: Vec::new(),
            synced: Vec::new(),
            unsent_outbox: Vec::new(),
            rebuilt: Vec::new(),
            seat_labels: Vec::new(),
            senders: Vec::new(),
            observed: Vec::new(),
            observer: Observer::default(),
            ledger: Ledger::default(),
            current_actor: Actor::System,
            violation: None,
        }
    }

    /// The default sweep's world.
    pub fn sweep() -> Self {
        Self::new(WorldConfig::sweep())
    }

    /// The workload of the last (or current) run.
    pub fn workload(&self) -> Workload {
        self.workload
    }

    /// The gateway's misbehaviour in the last run.
    pub fn gateway_profile(&self) -> GatewayProfile {
        self.gateway_profile
    }

    /// One line describing the last run beyond the engine's profile: its workload and
    /// the gateway's misbehaviour (print it with every failure).
    pub fn describe_run(&self) -> String {
        format!(
            "workload={} customers={} {}",
            self.workload.name(),
            self.layout.customers,
            self.gateway_profile
        )
    }

    /// The last run's shape.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The gateway's ledger of the last run.
    pub fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    /// The config.
    pub fn config(&self) -> &WorldConfig {
        &self.config
    }

    /// [`numbered_section`], with the labels of an earlier run of the same shape.
    fn numbered(&mut self, name: &str, rows: u32, seats_per_row: u32, price: u64) -> SectionSpec {
        let shape = (rows, seats_per_row);
        let labels = match self.seat_labels.iter().find(|(known, _)| *known == shape) {
            Some((_, labels)) => labels.clone(),
            None => {
                let labels = seat_labels(rows, seats_per_row);
                self.seat_labels.push((shape, labels.clone()));
                labels
            }
        };
        numbered_with(name, labels, price)
    }

    fn add_show(&mut self, start_offset_ms: u64, sections: Vec<SectionSpec>) {
        let show = ShowId(self.layout.shows.len() as u64 + 1);
        let first_section = self.layout.sections.len() as u32;
        for index in 0..sections.len() as u32 {
            self.layout.sections.push(SectionKey {
                show,
                section: SectionIndex(index),
            });
        }
        self.layout.shows.push(ShowPlan {
            show,
            name: format!("Show {}", show.0),
            start_at: Timestamp(EPOCH_MS + start_offset_ms),
            sections,
            first_section,
        });
    }
}

/// A numbered section: `rows` rows `A`, `B`… of `seats_per_row` seats `A-1`, `A-2`…
pub fn numbered_section(
    name: &str,
    rows: u32,
    seats_per_row: u32,
    price_cents: u64,
) -> SectionSpec {
    numbered_with(name, seat_labels(rows, seats_per_row), price_cents)
}

/// A numbered section with one seat per label.
fn numbered_with(name: &str, labels: SeatLabels, price_cents: u64) -> SectionSpec {
    SectionSpec {
        name: name.to_owned(),
        kind: SectionKind::Numbered,
        capacity: labels.len() as u32,
        seat_labels: labels,
        base_price: Money(price_cents),
    }
}

/// The labels of `rows` rows of `seats_per_row` seats: `A-1`, `A-2`… `B-1`…
fn seat_labels(rows: u32, seats_per_row: u32) -> SeatLabels {
    let mut labels = Vec::with_capacity((rows * seats_per_row) as usize);
    for row in 0..rows {
        let row_name = row_label(row);
        for seat in 1..=seats_per_row {
            labels.push(format!("{row_name}-{seat}"));
        }
    }
    labels.into()
}

/// The name of row `row`: `A`…`Z`, then `AA`, `AB`…
pub fn row_label(row: u32) -> String {
    if row < 26 {
        char::from(b'A' + row as u8).to_string()
    } else {
        format!(
            "{}{}",
            row_label(row / 26 - 1),
            char::from(b'A' + (row % 26) as u8)
        )
    }
}

/// A general-admission section.
pub fn general_admission(name: &str, capacity: u32, price_cents: u64) -> SectionSpec {
    SectionSpec {
        name: name.to_owned(),
        kind: SectionKind::GeneralAdmission,
        capacity,
        seat_labels: Default::default(),
        base_price: Money(price_cents),
    }
}

impl System for Ticketing {
    type Node = Node;
    type Msg = Msg;
    type Timer = WorldTimer;
    type External = External;
    type Record = Stored;

    const PROBES: &'static [&'static str] = crate::probes::ALL;

    fn setup(&mut self, setup: &mut Setup<'_, Self>) {
        self.workload = match self.config.workload {
            Some(workload) => workload,
            None => Workload::ALL[setup.draw(2) as usize],
        };
        self.gateway_profile = GatewayProfile::draw(setup);
        self.layout = Layout::default();
        self.board.clear();
        self.ledger.clear();
        self.violation = None;
        self.current_actor = Actor::System;
        match self.workload {
            Workload::FlashSale => {
                let shape = self.config.flash_sale;
                // The tier varies with the run: early bird, regular or last minute.
                let start_days = [40, 12, 4][setup.draw(2) as usize];
                let mut sections = Vec::new();
                for index in 0..shape.numbered_sections {
                    sections.push(self.numbered(
                        &format!("Numbered {index}"),
                        shape.rows,
                        shape.seats_per_row,
                        5_000 + 1_000 * u64::from(index),
                    ));
                }
                if shape.general_admission > 0 {
                    sections.push(general_admission("Floor", shape.general_admission, 3_333));
                }
                self.add_show(start_days * DAY_MS, sections);
            }
            Workload::Season => {
                // Shows straddling every boundary: a month, a week, three days and a
                // day away, each a few minutes beyond it, so the run crosses it.
                for base_ms in [30 * DAY_MS, 7 * DAY_MS, 3 * DAY_MS, DAY_MS] {
                    let beyond_ms = setup.range(2 * MINUTE_MS, 8 * MINUTE_MS);
                    let sections = vec![
                        self.numbered("Stalls", 2, 5, 4_999),
                        general_admission("Balcony", 6, 2_501),
                    ];
                    self.add_show(base_ms + beyond_ms, sections);
                }
            }
            Workload::Adversarial => {
                let sections = vec![
                    self.numbered("Stalls", 2, 6, 6_000),
                    general_admission("Floor", 10, 3_000),
                ];
                self.add_show(10 * DAY_MS, sections);
            }
        }
        // Services, gateway, sections, organizer, customers.
        for _ in 0..5 {
            setup.add_node(true);
        }
        setup.add_node(false);
        for _ in 0..self.layout.sections.len() {
            setup.add_node(true);
        }
        self.layout.organizer = setup.add_node(false).0;
        self.layout.first_customer = self.layout.organizer + 1;
        crate::workloads::plan(self, setup);
        let nodes = (self.layout.first_customer + self.layout.customers) as usize;
        self.logs.resize_with(nodes, Vec::new);
        self.logs.truncate(nodes);
        for log in &mut self.logs {
            log.clear();
        }
        self.synced.clear();
        self.synced.resize(nodes, Digest::default());
        self.unsent_outbox.clear();
        self.unsent_outbox.resize(nodes, false);
        self.senders.resize_with(nodes, Vec::new);
        self.senders.truncate(nodes);
        for senders in &mut self.senders {
            senders.clear();
        }
        self.observed.clear();
        self.observed.resize(nodes, 0);
        self.rebuilt.clear();
        self.observer.reset(&self.layout);
    }

    fn start(&mut self, ctx: &mut Ctx<'_, Self>, recovered: Recovered<'_, Stored>) -> Node {
        let node = ctx.node();
        if node == GATEWAY {
            return Node::Gateway;
        }
        let kind = match node {
            SHOWS => ServiceKind::Shows,
            ORDERS => ServiceKind::Orders,
            PAYMENTS => ServiceKind::Payments,
            TICKETS => ServiceKind::Tickets,
            READ_MODELS => ServiceKind::ReadModels,
            NodeId(index) if index < self.layout.organizer => {
                ServiceKind::Inventory(self.layout.sections[(index - FIRST_SECTION) as usize])
            }
            _ => return Node::Client(Box::new(self.start_client(node))),
        };
        let service = self.start_service(kind, ctx, recovered);
        Node::Service(Box::new(service))
    }

    fn on_message(
        &mut self,
        node: &mut Node,
        ctx: &mut Ctx<'_, Self>,
        envelope: Envelope,
        msg: Msg,
    ) {
        match node {
            Node::Service(service) => {
                self.service_message(service, ctx, envelope, msg);
                self.end_service_step(service, ctx);
            }
            Node::Gateway => self.gateway_message(ctx, envelope.from, msg),
            Node::Client(client) => self.client_message(client, ctx, envelope.from, msg),
        }
    }

    fn on_timer(&mut self, node: &mut Node, ctx: &mut Ctx<'_, Self>, timer: WorldTimer) {
        match (node, timer) {
            (Node::Service(service), timer) => {
                self.service_timer(service, ctx, timer);
                self.end_service_step(service, ctx);
            }
            (Node::Gateway, WorldTimer::GatewayStalled { to, call }) => {
                self.gateway_unstall(ctx, to, call);
            }
            (Node::Gateway, WorldTimer::GatewayLate { to, key, outcome }) => {
                ctx.send(to, Msg::GatewayReply { key, outcome });
            }
            (Node::Client(client), WorldTimer::Client(timer)) => {
                self.client_timer(client, ctx, timer);
            }
            _ => {}
        }
    }

    fn on_external(&mut self, node: &mut Node, ctx: &mut Ctx<'_, Self>, event: External) {
        if let Node::Client(client) = node {
            self.client_external(client, ctx, event);
        }
    }

    fn on_crash(&mut self, node: NodeId) {
        let unsent = self
            .unsent_outbox
            .get(node.index())
            .copied()
            .unwrap_or(false);
        self.observer.crashed(node, unsent);
    }

    fn on_partition_healed(&mut self) -> Option<&'static str> {
        // The engine says when a partition ends; orders the observer saw begin and not
        // yet end were in flight across it.
        (self.observer.open_orders() > 0).then_some(crate::probes::PARTITION_HEALED_MID_ORDER)
    }

    fn check_always(&self, _view: &View<'_, Self>) -> Result<(), Violation> {
        match &self.violation {
            None => Ok(()),
            Some(violation) => Err(violation.clone()),
        }
    }

    fn check_restart(&self, node: NodeId, view: &View<'_, Self>) -> Result<(), Violation> {
        self.check_always(view)?;
        crate::invariants::recovery_is_exact(self, node, view)
    }

    fn check_eventually(&self, view: &View<'_, Self>) -> Result<(), Violation> {
        self.check_always(view)?;
        crate::invariants::eventually(self, view)
    }
}

/// Whether a section has numbered seats.
pub fn is_numbered(spec: &SectionSpec) -> bool {
    spec.kind == SectionKind::Numbered
}
