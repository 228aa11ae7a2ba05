//! The bottom layer of the ticketing world: the shape of a run and the vocabulary every
//! part of the world shares. Which workload and how big ([`WorldConfig`]), the shows
//! and sections of a run and which node is whom ([`Layout`], [`Role`]), the timers and
//! workload events of the world ([`WorldTimer`], [`External`]), the record a service
//! writes to the engine's log ([`Stored`]), and [`World`]: the engine's `System` with
//! these types, which every part above drives without knowing the top.
//!
//! Layers point one way: this file imports no other part of the world.

use std::fmt;

use turnstile_core::inventory::seating::SeatLabels;
use turnstile_core::payment::{GatewayKey, GatewayOutcome};
use turnstile_core::read_models::DomainEvent;
use turnstile_core::show::{SectionKind, SectionSpec, ShowCommand};
use turnstile_core::{
    CommandId, CustomerId, Money, OrganizerId, SectionKey, ShowId, TicketId, Timer, Timestamp,
};
use turnstile_host::{Doubles, HostConfig, Msg, Service};
use turnstile_sim::{Ctx, NodeId, Record, Setup, System};

/// Milliseconds since the Unix epoch at virtual time 0 (2026-01-01T00:00:00Z).
pub const EPOCH_MS: u64 = 1_767_225_600_000;

/// A node's clock as a timestamp: virtual time (plus the node's skew) from [`EPOCH_MS`].
#[inline]
pub fn clock<S: System>(ctx: &Ctx<'_, S>) -> Timestamp {
    Timestamp(EPOCH_MS + ctx.now_ms())
}

/// A duration as a clock reads: `00:29:07.594`, with days in front past the first.
pub fn span(ms: u64) -> String {
    let (days, rest) = (ms / 86_400_000, ms % 86_400_000);
    let (h, m, s, milli) = (
        rest / 3_600_000,
        rest / 60_000 % 60,
        rest / 1_000 % 60,
        rest % 1_000,
    );
    if days > 0 {
        format!("{days}d {h:02}:{m:02}:{s:02}.{milli:03}")
    } else {
        format!("{h:02}:{m:02}:{s:02}.{milli:03}")
    }
}

/// A moment of a run on its virtual clock, as every human line shows it (`00:05:01.501`:
/// the time since the run began).
pub fn when(at: Timestamp) -> String {
    span(at.0.saturating_sub(EPOCH_MS))
}

/// The name of a domain event (`SeatsReserved`), without its fields.
pub fn event_name(event: &DomainEvent) -> String {
    match event {
        DomainEvent::Show(e) => variant_name(&e.event),
        DomainEvent::Inventory(e) => variant_name(&e.event),
        DomainEvent::Order(e) => variant_name(&e.event),
        DomainEvent::Payment(e) => variant_name(&e.event),
        DomainEvent::Ticket(e) => variant_name(&e.event),
        DomainEvent::Resale(e) => variant_name(&e.event),
    }
}

/// The variant of an enum as its derived `Debug` names it, without its fields.
pub fn variant_name(value: &impl fmt::Debug) -> String {
    let mut debug = format!("{value:?}");
    let end = debug
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(debug.len());
    debug.truncate(end);
    debug
}

/// The engine's `System` with the ticketing world's messages, timers, workload events
/// and log records: what the parts below the top drive, generically, so that none of
/// them imports the type that wires them.
pub trait World:
    System<Msg = Msg, Timer = WorldTimer, External = External, Record = Stored>
{
}

impl<S: System<Msg = Msg, Timer = WorldTimer, External = External, Record = Stored>> World for S {}

/// The build a replay token names (bumped whenever what a seed or tape draws changes).
pub const BUILD: &str = concat!("turnstile-", env!("CARGO_PKG_VERSION"), "-world-3");

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
    /// Nothing drawn: the shows, the customers' commands and the gateway's answers come
    /// from a driver (the shell, a script) through [`External::Driven`]. The layout has
    /// room for [`DRIVEN_SHOWS`] shows of [`DRIVEN_SECTIONS`] sections and
    /// [`DRIVEN_CUSTOMERS`] customers; a show's inventories start empty and are set up
    /// when the driver creates it. Never drawn by a sweep.
    Driven,
}

/// Shows a driven run has room for.
pub const DRIVEN_SHOWS: u32 = 4;
/// Sections per show in a driven run.
pub const DRIVEN_SECTIONS: u32 = 4;
/// Customers of a driven run.
pub const DRIVEN_CUSTOMERS: u32 = 16;
/// Bit 61 marks the command ids a driver mints (client ids live below bit 61).
pub const DRIVEN_BIT: u64 = 1 << 61;

impl Workload {
    /// Stable lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Workload::FlashSale => "flash_sale",
            Workload::Season => "season",
            Workload::Adversarial => "adversarial",
            Workload::Driven => "driven",
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
    /// Faulty test doubles, planted in the hosts (all off in production).
    pub doubles: Doubles,
    /// Whether a sliver of runs draws a world smaller than this config (fewer shows,
    /// sections, seats and customers, idle customers, no read models, no group commit):
    /// what lets shrinking lower a failing world to one show, one section of one place
    /// and one customer ([`draw_size`]).
    pub small_worlds: bool,
}

/// Draws of [`draw_size`] are in `0..=SIZE_SCALE`; the lowest [`SMALL_SIZES`] of them
/// draw a size below the typical range.
const SIZE_SCALE: u64 = 255;
const SMALL_SIZES: u64 = 8;

/// A size of the world, drawn so that shrinking can lower it: mostly in `typical`
/// (`low..=high`); in a sliver of runs (8 draws of 256) below it, down to `least`. One
/// draw, monotone: a lower value never gives a larger size, and 0 gives `least`.
/// Without `small`, a plain draw in `typical`.
pub fn draw_size<S: System>(
    setup: &mut Setup<'_, S>,
    least: u64,
    (low, high): (u64, u64),
    small: bool,
) -> u64 {
    if !small || least >= low {
        return setup.range(low, high);
    }
    let value = setup.draw(SIZE_SCALE);
    if value < SMALL_SIZES {
        least + value * (low - least) / SMALL_SIZES
    } else {
        low + (value - SMALL_SIZES) * (high - low + 1) / (SIZE_SCALE + 1 - SMALL_SIZES)
    }
}

/// A part of the world that is usually there (a customer who acts, the read models,
/// group commit): absent in a sliver of runs (8 draws of 256) and when the draw is 0,
/// so shrinking can take it away. Without `small`, always there (no draw).
pub fn draw_usually<S: System>(setup: &mut Setup<'_, S>, small: bool) -> bool {
    !small || setup.draw(SIZE_SCALE) >= SMALL_SIZES
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
            small_worlds: true,
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
            small_worlds: false,
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

    /// How the services' hosts behave in this world.
    pub fn host(&self) -> HostConfig {
        HostConfig {
            publish: self.publish,
            doubles: self.doubles,
            ..HostConfig::default()
        }
    }
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

/// The id of a client's `seq`th command (the organizer's setup commands are 1, 2, 3…).
pub fn command_id(node: NodeId, seq: u64) -> CommandId {
    CommandId(u64::from(node.0) << 24 | seq)
}

/// The organizer's commands that put a show on sale: create, publish, open sales.
pub const SETUP_COMMANDS: usize = 3;

impl ShowPlan {
    /// The organizer's `index`th command (of [`SETUP_COMMANDS`]) putting this show on
    /// sale.
    pub fn setup_command(&self, index: usize) -> ShowCommand {
        match index {
            0 => ShowCommand::Create {
                show: self.show,
                name: self.name.clone(),
                start_at: self.start_at,
                sections: self.sections.clone(),
            },
            1 => ShowCommand::Publish,
            _ => ShowCommand::OpenSales,
        }
    }
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

    /// The node of the service that hosts a message's aggregate.
    #[inline]
    pub fn route(&self, message: &turnstile_core::Message) -> NodeId {
        self.node_of(Service::of(message))
    }

    /// The node of a service.
    #[inline]
    pub fn node_of(&self, service: Service) -> NodeId {
        match service {
            Service::Shows => SHOWS,
            Service::Orders => ORDERS,
            Service::Payments => PAYMENTS,
            Service::Tickets => TICKETS,
            Service::ReadModels => READ_MODELS,
            Service::Inventory(section) => self.section_node(section),
        }
    }

    /// The service a node hosts, if it is a service's node.
    #[inline]
    pub fn service_of(&self, node: NodeId) -> Option<Service> {
        match node {
            SHOWS => Some(Service::Shows),
            ORDERS => Some(Service::Orders),
            PAYMENTS => Some(Service::Payments),
            TICKETS => Some(Service::Tickets),
            READ_MODELS => Some(Service::ReadModels),
            GATEWAY => None,
            NodeId(index) if index < self.organizer => self
                .sections
                .get((index - FIRST_SECTION) as usize)
                .map(|key| Service::Inventory(*key)),
            _ => None,
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
pub fn numbered_with(name: &str, labels: SeatLabels, price_cents: u64) -> SectionSpec {
    SectionSpec {
        name: name.to_owned(),
        kind: SectionKind::Numbered,
        capacity: labels.len() as u32,
        seat_labels: labels,
        base_price: Money(price_cents),
    }
}

/// The labels of `rows` rows of `seats_per_row` seats: `A-1`, `A-2`… `B-1`…
pub fn seat_labels(rows: u32, seats_per_row: u32) -> SeatLabels {
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

/// Whether a section has numbered seats.
pub fn is_numbered(spec: &SectionSpec) -> bool {
    spec.kind == SectionKind::Numbered
}

/// A workload event: a client acts.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum External {
    /// A customer arrives (or the organizer starts).
    Arrive,
    /// Transfer a ticket.
    Transfer {
        /// The ticket.
        ticket: TicketId,
        /// To whom.
        to: CustomerId,
    },
    /// List a ticket for resale.
    List {
        /// The ticket.
        ticket: TicketId,
        /// At what price.
        price: Money,
    },
    /// Cancel a ticket.
    CancelTicket {
        /// The ticket.
        ticket: TicketId,
    },
    /// The organizer cancels a show.
    CancelShow {
        /// The show.
        show: ShowId,
    },
    /// An adversary makes its next move.
    Move,
    /// A driven run's client sends this command (its id minted by the driver, with
    /// [`DRIVEN_BIT`]) and resends it until answered.
    Driven(Box<turnstile_core::Message>),
}

/// How a resend round reads in a trace ([`WorldTimer::Resend`]).
pub const RESEND_LINE: &str = "resend what is unacknowledged";
/// How a group commit's flush reads in a trace ([`WorldTimer::Flush`]).
pub const FLUSH_LINE: &str = "sync the log (group commit)";

impl fmt::Display for WorldTimer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorldTimer::Core { timer, .. } => write!(f, "{timer}"),
            WorldTimer::Resend => f.write_str(RESEND_LINE),
            WorldTimer::Flush => f.write_str(FLUSH_LINE),
            WorldTimer::GatewayStalled { call, .. } => write!(
                f,
                "gateway ends its stall on {} for {}",
                call.request, call.key.payment
            ),
            WorldTimer::GatewayLate { key, outcome, .. } => write!(
                f,
                "gateway answers late: {outcome} ({} #{} for {})",
                key.operation, key.attempt, key.payment
            ),
            WorldTimer::Client(ClientTimer::Retry) => f.write_str("resend the request"),
            WorldTimer::Client(ClientTimer::Poll) => f.write_str("ask where the order is"),
            WorldTimer::Client(ClientTimer::Pay) => f.write_str("pay"),
        }
    }
}

impl fmt::Display for External {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            External::Arrive => f.write_str("arrives"),
            External::Transfer { ticket, to } => {
                write!(f, "transfers {ticket} to customer {}", to.0)
            }
            External::List { ticket, price } => write!(f, "lists {ticket} at {price}"),
            External::CancelTicket { ticket } => write!(f, "cancels {ticket}"),
            External::CancelShow { show } => write!(f, "cancels show {}", show.0),
            External::Move => f.write_str("makes a move"),
            External::Driven(message) => {
                let msg = Msg::Command {
                    msg: (**message).clone(),
                    claimed: None,
                };
                write!(f, "sends {msg}")
            }
        }
    }
}

/// A client's timers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ClientTimer {
    /// Resend the outstanding request.
    Retry,
    /// Ask where the order (or resale purchase) is.
    Poll,
    /// Pay now.
    Pay,
}

/// What a service's log frame holds: the position of its entry. The entry itself (the
/// event, the outbox, the consumed id) is kept, immutable, in the world's record store
/// ([`crate::services::Services`]), so the engine's log decides which entries survive a
/// crash (synced prefix, torn frames by checksum) without serializing domain events on
/// the hot path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored(pub u32);

const STORED_TAG: u8 = 0x5E;

impl Record for Stored {
    fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.0.to_le_bytes());
        out.push(STORED_TAG);
    }

    fn decode(bytes: &[u8]) -> Option<Self> {
        let [a, b, c, d, STORED_TAG] = *bytes else {
            return None;
        };
        Some(Stored(u32::from_le_bytes([a, b, c, d])))
    }
}
