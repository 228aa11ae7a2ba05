//! The top of the ticketing world: [`Ticketing`], the engine's [`System`], wiring the
//! parts below it — the services (hosts of `turnstile-host`, driven in
//! [`crate::services`]), the payment gateway ([`crate::gateway`]), the organizer and
//! the customers ([`crate::customers`]) — and handing what each part saw to the
//! observer ([`crate::invariants`]), which judges the invariants from outside.
//!
//! # Nodes
//! Node 0 hosts the shows, 1 the orders (the saga), 2 the payments, 3 the tickets and
//! resale purchases, 4 the read models, 5 the payment gateway (outside our control: it
//! never crashes but misbehaves), then one node per show section's inventory, then the
//! organizer, then one node per customer ([`crate::layout`]). Services may crash, pause
//! and restart; the gateway, the organizer and the customers never do.
//!
//! # A run
//! [`System::setup`] draws the workload ([`Workload`]: flash sale, season, adversarial,
//! each a third of a sweep), the gateway's misbehaviour ([`GatewayProfile`]) and every
//! client's plan from the run's choice stream, then schedules the organizer and the
//! customers. Invariants are judged from outside: the services' durable logs, the
//! gateway's ledger and what the customers were told.
//!
//! # API for the command
//! [`Ticketing::new`] from a [`WorldConfig`] (or [`Ticketing::sweep`]), [`sweep_config`]
//! for the engine, [`BUILD`] for replay tokens, [`Ticketing::workload`] and
//! [`Ticketing::gateway_profile`] to describe the last run, and
//! [`install_trace_subscriber`] to show the services' `tracing` output.

use std::rc::Rc;

use turnstile_core::inventory::seating::SeatLabels;
use turnstile_core::show::SectionSpec;
use turnstile_core::time::{DAY_MS, MINUTE_MS};
use turnstile_core::{SectionIndex, SectionKey, ShowId, Timestamp};
use turnstile_host::{FLUSH_MS, HostConfig, Msg, Service};
use turnstile_sim::{
    Config, Ctx, Envelope, NodeId, Profile, ProfileMode, Recovered, Setup, System, TraceMode, View,
    Violation,
};

use crate::customers::{Client, Customers};
use crate::gateway::{Executed, Gateway, GatewayProfile, Ledger};
use crate::invariants::{Hits, Observer};
use crate::services::{ServiceNode, Services, Step};

pub use crate::customers::DrivenAnswer;
pub use crate::gateway::Scripted;
pub use crate::layout::{
    BUILD, DRIVEN_BIT, DRIVEN_CUSTOMERS, EPOCH_MS, External, FIRST_SECTION, FlashSaleShape,
    GATEWAY, Layout, ORDERS, PAYMENTS, READ_MODELS, Role, SHOWS, ShowPlan, Stored, TICKETS,
    Workload, WorldConfig, WorldTimer, general_admission, is_numbered, numbered_section, row_label,
};
use crate::layout::{
    DRIVEN_SECTIONS, DRIVEN_SHOWS, draw_size, draw_usually, numbered_with, seat_labels,
};

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

/// The typical sections of a workload's show ([`Ticketing::draw_sections`]).
struct Sections {
    numbered: u32,
    rows: u32,
    seats_per_row: u32,
    general_admission: u32,
    numbered_name: &'static str,
    /// Whether the numbered sections are named with their index (`Numbered 0`).
    numbered_indexed: bool,
    numbered_price: u64,
    general_admission_name: &'static str,
    general_admission_price: u64,
}

/// A node's volatile state.
#[derive(Debug)]
pub enum Node {
    /// A service: its host.
    Service(Box<ServiceNode>),
    /// The gateway (its ledger lives in [`Gateway`]: it never crashes).
    Gateway,
    /// The organizer or a customer.
    Client(Box<Client>),
}

/// The ticketing world: configuration, the run's shape, and its parts.
#[derive(Debug)]
pub struct Ticketing {
    config: WorldConfig,
    workload: Workload,
    layout: Rc<Layout>,
    services: Services,
    gateway: Gateway,
    customers: Customers,
    observer: Observer,
    /// How this run's hosts behave (drawn: the read models and group commit may be off).
    host: HostConfig,
    /// The seat labels of every numbered-section shape (rows, seats per row) used so
    /// far, kept from run to run: labels are formatted and their layout built once.
    seat_labels: Vec<((u32, u32), SeatLabels)>,
}

impl Ticketing {
    /// A world shaped by `config`.
    pub fn new(config: WorldConfig) -> Self {
        Self {
            config,
            workload: Workload::FlashSale,
            layout: Rc::default(),
            services: Services::default(),
            gateway: Gateway::default(),
            customers: Customers::default(),
            observer: Observer::default(),
            host: config.host(),
            seat_labels: Vec::new(),
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
        self.gateway.profile
    }

    /// One line describing the last run beyond the engine's profile: its workload and
    /// the gateway's misbehaviour (print it with every failure).
    pub fn describe_run(&self) -> String {
        format!(
            "workload={} customers={} {}",
            self.workload.name(),
            self.layout.customers,
            self.gateway.profile
        )
    }

    /// What the last run drew beyond its shows and gateway, for a person: customers
    /// staying home, the shows on sale from the start, no read models, no group commit.
    pub fn world_notes(&self) -> Vec<String> {
        let mut notes = Vec::new();
        let home = self.customers.staying_home();
        if home > 0 {
            notes.push(format!("{home} stay home"));
        }
        if self.customers.on_sale_from_the_start() {
            notes.push("on sale from the start".to_owned());
        }
        if !self.host.publish {
            notes.push("no read models".to_owned());
        }
        if self.host.flush_ms == 0 {
            notes.push("sync per step".to_owned());
        }
        notes
    }

    /// The last run's shape.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// The gateway's ledger of the last run.
    pub fn ledger(&self) -> &Ledger {
        &self.gateway.ledger
    }

    /// The config.
    pub fn config(&self) -> &WorldConfig {
        &self.config
    }

    /// Adds a show to a driven run's layout, before the driver sends its `Create`:
    /// its sections get the inventories kept for them. `None` if the run is not driven,
    /// has no room for another show, or the show has no section or too many.
    pub fn add_driven_show(
        &mut self,
        name: &str,
        start_at: Timestamp,
        sections: Vec<SectionSpec>,
    ) -> Option<ShowId> {
        let room = (self.layout.shows.len() as u32) < DRIVEN_SHOWS;
        let fits = !sections.is_empty() && sections.len() as u32 <= DRIVEN_SECTIONS;
        if self.workload != Workload::Driven || !room || !fits {
            return None;
        }
        let layout = Rc::make_mut(&mut self.layout);
        let show = ShowId(layout.shows.len() as u64 + 1);
        layout.shows.push(ShowPlan {
            show,
            name: name.to_owned(),
            start_at,
            sections,
            first_section: (show.0 as u32 - 1) * DRIVEN_SECTIONS,
        });
        self.observer.grow(&self.layout);
        self.customers.set_layout(Rc::clone(&self.layout));
        Some(show)
    }

    /// Takes back the last show [`Ticketing::add_driven_show`] added (its `Create` was
    /// refused, so nothing was routed to its inventories).
    pub fn remove_driven_show(&mut self, show: ShowId) {
        let layout = Rc::make_mut(&mut self.layout);
        if layout.shows.last().is_some_and(|plan| plan.show == show) {
            layout.shows.pop();
        }
        self.customers.set_layout(Rc::clone(&self.layout));
    }

    /// Answers to driven commands since the last call.
    pub fn take_driven_answers(&mut self) -> Vec<DrivenAnswer> {
        self.customers.take_driven()
    }

    /// Scripts the gateway's next new authorization (`None`: behave).
    pub fn script_gateway(&mut self, scripted: Option<Scripted>) {
        self.gateway.scripted = scripted;
    }

    /// The services' stores of the last run, by node: every entry each log holds, with
    /// the step that wrote it.
    pub fn stores(&self) -> &[crate::services::Store] {
        self.services.stores()
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

    /// Draws a show's sections around their typical shape: as many numbered sections
    /// of as many rows and seats, and a general-admission section of as many places
    /// (none when 0). A small world has fewer, down to one section of one place.
    fn draw_sections(
        &mut self,
        setup: &mut Setup<'_, Self>,
        typical: Sections,
    ) -> Vec<SectionSpec> {
        let small = self.config.small_worlds;
        let fixed = |value: u32| (u64::from(value), u64::from(value));
        // At least one section: without general admission, at least one numbered.
        let numbered_least = u64::from(typical.general_admission == 0);
        let numbered = draw_size(setup, numbered_least, fixed(typical.numbered), small) as u32;
        let rows = draw_size(setup, 1, fixed(typical.rows), small) as u32;
        let seats_per_row = draw_size(setup, 1, fixed(typical.seats_per_row), small) as u32;
        let places_least = u64::from(numbered == 0);
        let places = draw_size(setup, places_least, fixed(typical.general_admission), small) as u32;
        let mut sections = Vec::new();
        for index in 0..numbered {
            let name = if typical.numbered_indexed {
                format!("{} {index}", typical.numbered_name)
            } else {
                typical.numbered_name.to_owned()
            };
            let price = typical.numbered_price + 1_000 * u64::from(index);
            sections.push(self.numbered(&name, rows, seats_per_row, price));
        }
        if places > 0 {
            sections.push(general_admission(
                typical.general_admission_name,
                places,
                typical.general_admission_price,
            ));
        }
        sections
    }

    fn add_show(layout: &mut Layout, start_offset_ms: u64, sections: Vec<SectionSpec>) {
        let show = ShowId(layout.shows.len() as u64 + 1);
        let first_section = layout.sections.len() as u32;
        for index in 0..sections.len() as u32 {
            layout.sections.push(SectionKey {
                show,
                section: SectionIndex(index),
            });
        }
        layout.shows.push(ShowPlan {
            show,
            name: format!("Show {}", show.0),
            start_at: Timestamp(EPOCH_MS + start_offset_ms),
            sections,
            first_section,
        });
    }

    /// Hands the observer what a service step made durable and refused.
    fn observe_service(&mut self, ctx: &mut Ctx<'_, Self>, service: Service, step: Step) {
        if step.is_empty() && !self.services.has_rejection() {
            return;
        }
        let now_ms = ctx.now_ms();
        for seq in step {
            let hits = self.observe_entry(service, ctx.node(), seq, now_ms);
            for hit in hits {
                ctx.sometimes(hit);
            }
        }
        if let Some(rejection) = self.services.take_rejection()
            && let Some(probe) = self
                .observer
                .rejection(service, &rejection, &self.layout, now_ms)
        {
            ctx.sometimes(probe);
        }
    }

    /// Hands the observer entry `seq` of the store of `node`, just made durable.
    fn observe_entry(&mut self, service: Service, node: NodeId, seq: u32, now_ms: u64) -> Hits {
        let store = self.services.store(node);
        self.observer.entry_synced(
            service,
            &store.entries[seq as usize],
            store.actors[seq as usize],
            &self.layout,
            &self.gateway.ledger,
            now_ms,
        )
    }

    fn observe_gateway(&mut self, executed: Option<Executed>) {
        if let Some(executed) = executed {
            self.observer
                .gateway_executed(executed, &self.gateway.ledger);
        }
    }

    /// Hands the observer what the clients saw.
    fn observe_clients(&mut self, ctx: &mut Ctx<'_, Self>) {
        for sighting in self.customers.take_sightings() {
            if let Some(probe) = self.observer.sighting(sighting) {
                ctx.sometimes(probe);
            }
        }
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
        self.gateway.profile = if self.workload == Workload::Driven {
            GatewayProfile::default()
        } else {
            GatewayProfile::draw(setup)
        };
        self.gateway.ledger.clear();
        self.gateway.scripted = None;
        let small = self.config.small_worlds && self.workload != Workload::Driven;
        // The least eventful world has no read models and no group commit: both are
        // usually there, and shrinking can take them away.
        self.host = HostConfig {
            publish: self.config.publish && draw_usually(setup, small),
            flush_ms: if draw_usually(setup, small) {
                FLUSH_MS
            } else {
                0
            },
            ..self.config.host()
        };
        // The least eventful world begins with its shows on sale: the organizer's setup
        // played before the run. Usually the organizer sets them up during the run.
        let on_sale = !draw_usually(setup, small);
        let mut layout = Layout::default();
        match self.workload {
            Workload::FlashSale => {
                let shape = self.config.flash_sale;
                // The tier varies with the run: early bird, regular or last minute.
                let start_days = [40, 12, 4][setup.draw(2) as usize];
                let sections = self.draw_sections(
                    setup,
                    Sections {
                        numbered: shape.numbered_sections,
                        rows: shape.rows,
                        seats_per_row: shape.seats_per_row,
                        general_admission: shape.general_admission,
                        numbered_name: "Numbered",
                        numbered_indexed: true,
                        numbered_price: 5_000,
                        general_admission_name: "Floor",
                        general_admission_price: 3_333,
                    },
                );
                Self::add_show(&mut layout, start_days * DAY_MS, sections);
            }
            Workload::Season => {
                let sections = self.draw_sections(
                    setup,
                    Sections {
                        numbered: 1,
                        rows: 2,
                        seats_per_row: 5,
                        general_admission: 6,
                        numbered_name: "Stalls",
                        numbered_indexed: false,
                        numbered_price: 4_999,
                        general_admission_name: "Balcony",
                        general_admission_price: 2_501,
                    },
                );
                // Shows straddling every boundary: a month, a week, three days and a
                // day away, each a few minutes beyond it, so the run crosses it.
                // Each show's time is drawn, used or not, so that lowering the count moves
                // no later draw.
                let shows = draw_size(setup, 1, (4, 4), small) as usize;
                for (index, base_ms) in [30 * DAY_MS, 7 * DAY_MS, 3 * DAY_MS, DAY_MS]
                    .into_iter()
                    .enumerate()
                {
                    let beyond_ms = setup.range(2 * MINUTE_MS, 8 * MINUTE_MS);
                    if index < shows {
                        Self::add_show(&mut layout, base_ms + beyond_ms, sections.clone());
                    }
                }
            }
            Workload::Adversarial => {
                let sections = self.draw_sections(
                    setup,
                    Sections {
                        numbered: 1,
                        rows: 2,
                        seats_per_row: 6,
                        general_admission: 10,
                        numbered_name: "Stalls",
                        numbered_indexed: false,
                        numbered_price: 6_000,
                        general_admission_name: "Floor",
                        general_admission_price: 3_000,
                    },
                );
                Self::add_show(&mut layout, 10 * DAY_MS, sections);
            }
            Workload::Driven => {
                // Room for the driver's shows: every section's inventory starts empty
                // and is set up when the show it belongs to is created.
                for show in 1..=u64::from(DRIVEN_SHOWS) {
                    for section in 0..DRIVEN_SECTIONS {
                        layout.sections.push(SectionKey {
                            show: ShowId(show),
                            section: SectionIndex(section),
                        });
                    }
                }
            }
        }
        // Services, gateway, sections, organizer, customers.
        for _ in 0..5 {
            setup.add_node(true);
        }
        setup.add_node(false);
        for _ in 0..layout.sections.len() {
            setup.add_node(true);
        }
        layout.organizer = setup.add_node(false).0;
        layout.first_customer = layout.organizer + 1;
        self.customers
            .plan(self.config, self.workload, on_sale, &mut layout, setup);
        let nodes = (layout.first_customer + layout.customers) as usize;
        self.observer.reset(&layout);
        self.layout = Rc::new(layout);
        self.customers.set_layout(Rc::clone(&self.layout));
        self.services.reset(nodes);
        if on_sale {
            let traced = setup.is_traced();
            let written = self
                .services
                .put_on_sale(setup, &self.layout, self.host, traced);
            for (node, seq) in written {
                let Some(service) = self.layout.service_of(node) else {
                    continue;
                };
                // Probes are not counted before the run.
                let _ = self.observe_entry(service, node, seq, 0);
            }
        }
    }

    fn start(&mut self, ctx: &mut Ctx<'_, Self>, recovered: Recovered<'_, Stored>) -> Node {
        let node = ctx.node();
        if node == GATEWAY {
            return Node::Gateway;
        }
        let Some(service) = self.layout.service_of(node) else {
            return Node::Client(Box::new(self.customers.start_client(node)));
        };
        if recovered.is_restart {
            if recovered.report.torn_dropped {
                ctx.sometimes(crate::probes::TORN_RECORD_DROPPED);
            }
            if self.observer.take_crashed_awaiting(node) {
                ctx.sometimes(crate::probes::CRASH_BETWEEN_RESERVE_AND_PAY);
            }
            if self.observer.take_crashed_unsent(node) {
                ctx.sometimes(crate::probes::CRASH_WITH_UNSENT_OUTBOX);
            }
        }
        let started = self
            .services
            .start(service, self.host, ctx, recovered, &self.layout);
        if recovered.is_restart {
            self.observer
                .judge_recovery(node, self.services.store(node), &started.host);
        }
        Node::Service(Box::new(started))
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
                let step = self
                    .services
                    .deliver(service, ctx, &self.layout, envelope, msg);
                self.observe_service(ctx, service.host.service(), step);
            }
            Node::Gateway => {
                let executed = self.gateway.on_message(ctx, envelope.from, msg);
                self.observe_gateway(executed);
            }
            Node::Client(client) => {
                let observer = &self.observer;
                let seat_price = |order| observer.seat_price(order);
                self.customers
                    .client_message(client, ctx, envelope.from, msg, &seat_price);
                self.observe_clients(ctx);
            }
        }
    }

    fn on_timer(&mut self, node: &mut Node, ctx: &mut Ctx<'_, Self>, timer: WorldTimer) {
        match (node, timer) {
            (Node::Service(service), timer) => {
                let step = self.services.timer(service, ctx, &self.layout, timer);
                self.observe_service(ctx, service.host.service(), step);
            }
            (Node::Gateway, timer) => {
                let executed = self.gateway.on_timer(ctx, timer);
                self.observe_gateway(executed);
            }
            (Node::Client(client), WorldTimer::Client(timer)) => {
                self.customers.client_timer(client, ctx, timer);
            }
            _ => {}
        }
    }

    fn on_external(&mut self, node: &mut Node, ctx: &mut Ctx<'_, Self>, event: External) {
        if let Node::Client(client) = node {
            self.customers.client_external(client, ctx, event);
        }
    }

    fn on_crash(&mut self, node: NodeId) {
        let unsent = self
            .services
            .stores()
            .get(node.index())
            .is_some_and(|store| store.unsent);
        self.observer.crashed(node, unsent);
    }

    fn on_partition_healed(&mut self) -> Option<&'static str> {
        // The engine says when a partition ends; orders the observer saw begin and not
        // yet end were in flight across it.
        (self.observer.open_orders() > 0).then_some(crate::probes::PARTITION_HEALED_MID_ORDER)
    }

    fn check_always(&self, _view: &View<'_, Self>) -> Result<(), Violation> {
        match self.observer.violation() {
            None => Ok(()),
            Some(violation) => Err(violation.clone()),
        }
    }

    fn check_restart(&self, _node: NodeId, view: &View<'_, Self>) -> Result<(), Violation> {
        // `recovery_is_exact` was judged as the node started (`Observer::judge_recovery`).
        self.check_always(view)
    }

    fn check_eventually(&self, view: &View<'_, Self>) -> Result<(), Violation> {
        self.check_always(view)?;
        let read_models = match view.node(READ_MODELS) {
            Some(Node::Service(service)) if self.host.publish => service.host.read_models(),
            _ => None,
        };
        self.observer.eventually(
            &self.gateway.ledger,
            &self.layout,
            self.services.stores(),
            read_models,
        )
    }
}
