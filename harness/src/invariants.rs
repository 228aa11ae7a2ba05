//! The invariants of SIMULATION.md, under their exact names, judged from outside.
//!
//! The [`Observer`] folds what the outside world can see: every entry a service writes
//! to its durable log (right after the append, with the actor the world knows sent the
//! command), every call the gateway executed (its ledger), and every answer a customer
//! was told. It keeps small tallies (per section, order, payment, ticket) so that each
//! step is judged in O(1): `always` invariants fail at the step that broke them. The
//! code under test is never asked how it is doing: its counters are not read.
//!
//! | invariant | where it is judged |
//! |---|---|
//! | `no_oversell`, `no_double_seat`, `max_per_order` | inventory and ticket logs, per event |
//! | `no_money_twice` | the gateway's ledger, per executed call |
//! | `quote_matches_tier` | the order log (quote at the recorded `initiated_at`), gateway authorizations |
//! | `refund_matches_policy` | the ticket log (refund at the recorded `now`) |
//! | `authorized_only` | every logged event's actor against the rules and the real sender; adversarial answers |
//! | `terminal_is_final` | the order log, and what customers were told |
//! | `tickets_are_paid` | ticket log against the gateway's captures |
//! | `recovery_is_exact` | at every restart: the rebuilt host against the observer's own fold of its durable log |
//! | `sagas_terminate`, `compensation_complete`, `money_conserved`, `ledger_agrees`, `no_stale_holds`, `projections_converge` | after heal and quiesce |

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use smallvec::SmallVec;
use turnstile_core::inventory::Inventory;
use turnstile_core::inventory::{InventoryError, InventoryEvent};
use turnstile_core::order::Order;
use turnstile_core::order::{EndCause, LateAnswer, OrderCommand, OrderEvent, OrderStatus};
use turnstile_core::payment::{
    GatewayKey, GatewayOutcome, GatewayRequest, Operation, Payment, PaymentEvent,
};
use turnstile_core::policy::{Quote, Tier};
use turnstile_core::read_models::{DomainEvent, ReadModels, StreamId};
use turnstile_core::show::{SectionKind, ShowEvent};
use turnstile_core::show::{Show, ShowCatalog};
use turnstile_core::ticket::Ticket;
use turnstile_core::ticket::TicketError;
use turnstile_core::ticket::TicketEvent;
use turnstile_core::ticket::resale::Resale;
use turnstile_core::ticket::resale::{ResaleEvent, ResaleStatus};
use turnstile_core::time::{DAY_MS, HOUR_MS, MINUTE_MS};
use turnstile_core::{
    Actor, Aggregate, ArmedTimer, CommandId, CustomerId, Message, Money, OrderId, OrganizerId,
    PaymentId, Recorded, ResaleId, SectionKey, TicketId, Timer, Timestamp,
};
use turnstile_host::wire::message_name;
use turnstile_host::{AggregateRef, Answer, Change, Entry, Host, Msg, Rejection, Service};
use turnstile_sim::{NodeId, Violation};

use crate::customers::{ADVERSARIAL_BIT, Sighting};
use crate::gateway::{Account, Executed, Ledger};
use crate::layout::{Layout, READ_MODELS, event_name, span, variant_name, when};
use crate::probes;
use crate::services::Store;
use crate::spec;

/// Per section, blocked + reserved + sold ≤ capacity.
pub const NO_OVERSELL: &str = "no_oversell";
/// A numbered seat is in at most one hold or sold; one valid ticket per seat.
pub const NO_DOUBLE_SEAT: &str = "no_double_seat";
/// No order holds or buys more than 8 seats.
pub const MAX_PER_ORDER: &str = "max_per_order";
/// On the gateway's ledger: one capture, within the authorization; refunds within it.
pub const NO_MONEY_TWICE: &str = "no_money_twice";
/// Every quote follows the pricing table at the order's recorded `initiated_at`.
pub const QUOTE_MATCHES_TIER: &str = "quote_matches_tier";
/// Every ticket cancellation refund follows the policy at its recorded `now`.
pub const REFUND_MATCHES_POLICY: &str = "refund_matches_policy";
/// No domain event was caused by a command from the wrong actor.
pub const AUTHORIZED_ONLY: &str = "authorized_only";
/// A terminal order's state never changes.
pub const TERMINAL_IS_FINAL: &str = "terminal_is_final";
/// Every valid ticket was paid for, on the gateway's ledger.
pub const TICKETS_ARE_PAID: &str = "tickets_are_paid";
/// A restarted service is exactly as it was at its last sync.
pub const RECOVERY_IS_EXACT: &str = "recovery_is_exact";
/// Every order is terminal.
pub const SAGAS_TERMINATE: &str = "sagas_terminate";
/// An order that did not complete holds no seats and no money.
pub const COMPENSATION_COMPLETE: &str = "compensation_complete";
/// The gateway's net per payment equals what the rules let us keep.
pub const MONEY_CONSERVED: &str = "money_conserved";
/// Our payment records equal the gateway's ledger.
pub const LEDGER_AGREES: &str = "ledger_agrees";
/// Every count the inventory reports (the places available in a refusal) equals the
/// observer's own count from the logs.
pub const INVENTORY_REPORTS_TRUTH: &str = "inventory_reports_truth";
/// Transfers, resale listings and takings, and show cancellations happen only while
/// `start − now ≥ 24 h`, and ownership never moves at or after the start.
pub const CUTOFFS_RESPECTED: &str = "cutoffs_respected";
/// A hold follows the clock: born live within its 5 minutes, extended once while live
/// and never past 15, confirmed only while live, expired only once due.
pub const HOLDS_FOLLOW_THE_CLOCK: &str = "holds_follow_the_clock";
/// Once the gateway is back, every refund, void and payout we owe is settled on its
/// ledger: none is abandoned.
pub const OWED_MONEY_SETTLED: &str = "owed_money_settled";
/// Every hold is confirmed or released.
pub const NO_STALE_HOLDS: &str = "no_stale_holds";
/// Every read model equals the one folded from the write side's logs.
pub const PROJECTIONS_CONVERGE: &str = "projections_converge";

/// An amount of cents the observer computed, in units (`26.66`), or "none".
fn cents(amount: Option<u64>) -> String {
    amount.map_or("none".to_owned(), |cents| Money(cents).to_string())
}

/// Every invariant of the world by name.
pub const INVARIANTS: &[&str] = &[
    NO_OVERSELL,
    NO_DOUBLE_SEAT,
    MAX_PER_ORDER,
    NO_MONEY_TWICE,
    QUOTE_MATCHES_TIER,
    REFUND_MATCHES_POLICY,
    AUTHORIZED_ONLY,
    TERMINAL_IS_FINAL,
    TICKETS_ARE_PAID,
    RECOVERY_IS_EXACT,
    SAGAS_TERMINATE,
    COMPENSATION_COMPLETE,
    MONEY_CONSERVED,
    LEDGER_AGREES,
    INVENTORY_REPORTS_TRUTH,
    CUTOFFS_RESPECTED,
    HOLDS_FOLLOW_THE_CLOCK,
    OWED_MONEY_SETTLED,
    NO_STALE_HOLDS,
    PROJECTIONS_CONVERGE,
];

const SEAT_FREE: u8 = 0;
const SEAT_HELD: u8 = 1;
const SEAT_SOLD: u8 = 2;
const SEAT_BLOCKED: u8 = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HoldState {
    Held,
    Sold,
    Released,
    Unsold,
}

#[derive(Clone, Debug)]
struct HoldObs {
    state: HoldState,
    quantity: u32,
    seats: SmallVec<[u32; 8]>,
    returned: u8,
    initiated_ms: u64,
    expires_ms: u64,
    extended: bool,
}

#[derive(Clone, Debug, Default)]
struct SectionObs {
    capacity: u32,
    numbered: bool,
    base_price: Money,
    reserved: u32,
    sold: u32,
    blocked: u32,
    seats: Vec<u8>,
    seat_ticket: Vec<Option<TicketId>>,
    holds: BTreeMap<OrderId, HoldObs>,
    last_seat_taken_ms: Option<u64>,
}

#[derive(Clone, Debug, Default)]
struct ShowObs {
    organizer: Option<OrganizerId>,
    start_at: Timestamp,
    base_prices: Vec<Money>,
}

#[derive(Clone, Debug)]
struct OrderObs {
    customer: CustomerId,
    status: OrderStatus,
    section: SectionKey,
    quantity: u8,
    quote: Quote,
    hold_expired: bool,
    last_sent: &'static str,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct PayObs {
    authorized: Money,
    captured: Money,
    refunded: Money,
    paid_out: Money,
    voided: bool,
}

impl std::fmt::Display for PayObs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "authorized {}, captured {}, refunded {}, paid out {}{}",
            self.authorized,
            self.captured,
            self.refunded,
            self.paid_out,
            if self.voided { ", voided" } else { "" }
        )
    }
}

/// A signed amount of cents in units: `20.00`, `-3.50`.
fn signed_money(cents: i128) -> String {
    let units = Money(u64::try_from(cents.unsigned_abs()).unwrap_or(u64::MAX));
    if cents < 0 {
        format!("-{units}")
    } else {
        units.to_string()
    }
}

/// How far a moment is from a show's start (`until`: ms to the start, negative past it).
fn to_start(until: i128) -> String {
    let ms = u64::try_from(until.unsigned_abs()).unwrap_or(u64::MAX);
    if until >= 0 {
        format!("{} before the start", span(ms))
    } else {
        format!("{} after the start", span(ms))
    }
}

/// A seat's state as the observer codes it, in words (`None`: no such seat).
fn seat_state(state: Option<u8>) -> &'static str {
    match state {
        Some(SEAT_FREE) => "free",
        Some(SEAT_HELD) => "held",
        Some(SEAT_SOLD) => "sold",
        Some(SEAT_BLOCKED) => "blocked",
        Some(_) => "in an unknown state",
        None => "not a seat of the section",
    }
}

#[derive(Clone, Debug)]
struct TicketObs {
    owner: CustomerId,
    valid: bool,
    section: Option<usize>,
    seat: Option<u32>,
    start_at: Timestamp,
    /// Who paid what for it (oldest first) and what was paid out of each share.
    shares: SmallVec<[(PaymentId, Money, Money); 2]>,
    refunds: SmallVec<[(PaymentId, Money); 2]>,
}

#[derive(Clone, Copy, Debug)]
struct ResaleObs {
    status: ResaleStatus,
    price: Money,
}

/// What the outside world saw in one run (see the module docs).
#[derive(Clone, Debug, Default)]
pub struct Observer {
    shows: Vec<ShowObs>,
    sections: Vec<SectionObs>,
    orders: BTreeMap<OrderId, OrderObs>,
    payments: BTreeMap<PaymentId, PayObs>,
    /// Per payment, the voids, refunds and payouts asked: money we owe until the
    /// gateway's ledger settles it.
    owed: BTreeMap<PaymentId, SmallVec<[Operation; 2]>>,
    tickets: BTreeMap<TicketId, TicketObs>,
    resales: BTreeMap<ResaleId, ResaleObs>,
    told: BTreeMap<OrderId, OrderStatus>,
    /// Orders holding seats, not yet paying.
    awaiting_payment: u32,
    /// Orders not terminal.
    open_orders: u32,
    /// Per node: whether it crashed while an order awaited payment.
    crashed_awaiting: Vec<bool>,
    /// Per node: whether it crashed with outbox messages waiting for a sync.
    crashed_unsent: Vec<bool>,
    /// Per restarted node: its durable log as the observer folded it at the last restart.
    recovered: Vec<Option<Expected>>,
    /// The first violation of the run.
    violation: Option<Violation>,
}

fn violation(invariant: &'static str, message: String) -> Option<Violation> {
    Some(Violation::new(invariant, message))
}

fn is_awaiting(status: OrderStatus) -> bool {
    matches!(
        status,
        OrderStatus::AwaitingPayment | OrderStatus::Extending
    )
}

impl Observer {
    /// Forgets the last run and takes in the new run's shape.
    pub fn reset(&mut self, layout: &Layout) {
        self.shows.clear();
        self.shows.resize(layout.shows.len(), ShowObs::default());
        self.sections.clear();
        self.sections
            .resize(layout.sections.len(), SectionObs::default());
        self.orders.clear();
        self.payments.clear();
        self.owed.clear();
        self.tickets.clear();
        self.resales.clear();
        self.told.clear();
        self.awaiting_payment = 0;
        self.open_orders = 0;
        self.crashed_awaiting.clear();
        self.crashed_unsent.clear();
        self.recovered.clear();
        self.violation = None;
    }

    /// The layout gained shows (a driven run): observe them too.
    pub fn grow(&mut self, layout: &Layout) {
        if self.shows.len() < layout.shows.len() {
            self.shows.resize(layout.shows.len(), ShowObs::default());
        }
        if self.sections.len() < layout.sections.len() {
            self.sections
                .resize(layout.sections.len(), SectionObs::default());
        }
    }

    /// A node crashed: remember whether an order was between reserve and pay.
    pub fn crashed(&mut self, node: NodeId, unsent_outbox: bool) {
        let index = node.index();
        if self.crashed_awaiting.len() <= index {
            self.crashed_awaiting.resize(index + 1, false);
            self.crashed_unsent.resize(index + 1, false);
        }
        self.crashed_awaiting[index] = self.awaiting_payment > 0;
        self.crashed_unsent[index] = unsent_outbox;
    }

    /// Whether `node` crashed with outbox messages unsent (cleared by reading).
    pub fn take_crashed_unsent(&mut self, node: NodeId) -> bool {
        self.crashed_unsent
            .get_mut(node.index())
            .is_some_and(std::mem::take)
    }

    /// Whether `node` crashed while an order awaited payment (cleared by reading).
    pub fn take_crashed_awaiting(&mut self, node: NodeId) -> bool {
        self.crashed_awaiting
            .get_mut(node.index())
            .is_some_and(std::mem::take)
    }

    /// Orders not yet terminal.
    pub fn open_orders(&self) -> u32 {
        self.open_orders
    }

    /// The seat price an order was quoted.
    pub fn seat_price(&self, order: OrderId) -> Option<Money> {
        self.orders.get(&order).map(|obs| obs.quote.seat_price)
    }

    /// A customer was told an order's status.
    pub fn told(
        &mut self,
        order: OrderId,
        status: OrderStatus,
        customer: CustomerId,
    ) -> Option<Violation> {
        let _ = customer;
        match self.told.get(&order) {
            Some(&earlier) if earlier != status => violation(
                TERMINAL_IS_FINAL,
                format!("order {} was told {earlier}, later {status}", order.0),
            ),
            Some(_) => None,
            None => {
                if status.is_terminal() {
                    self.told.insert(order, status);
                }
                None
            }
        }
    }
}

struct Step<'a> {
    actor: Actor,
    layout: &'a Layout,
    ledger: &'a Ledger,
    now_ms: u64,
}

impl Observer {
    fn event(
        &mut self,
        step: &Step<'_>,
        stream: StreamId,
        event: &DomainEvent,
        hits: &mut Hits,
    ) -> Option<Violation> {
        let (command, actor) = match event {
            DomainEvent::Show(e) => (e.command, e.actor),
            DomainEvent::Inventory(e) => (e.command, e.actor),
            DomainEvent::Order(e) => (e.command, e.actor),
            DomainEvent::Payment(e) => (e.command, e.actor),
            DomainEvent::Ticket(e) => (e.command, e.actor),
            DomainEvent::Resale(e) => (e.command, e.actor),
        };
        if command.0 & ADVERSARIAL_BIT != 0 && !command.is_derived() {
            return violation(
                AUTHORIZED_ONLY,
                format!(
                    "an adversarial command #{:x} caused {} on {stream} (by {actor})",
                    command.0,
                    event_name(event)
                ),
            );
        }
        if actor != step.actor {
            return violation(
                AUTHORIZED_ONLY,
                format!(
                    "{stream} recorded actor {actor}, but the command came from {}",
                    step.actor
                ),
            );
        }
        match (stream, event) {
            (StreamId::Show(show), DomainEvent::Show(e)) => self.show_event(show.0 as usize, e),
            (StreamId::Inventory(key), DomainEvent::Inventory(e)) => {
                let index = step.layout.section_index(key)?;
                self.inventory_event(index, key, e, step, hits)
            }
            (StreamId::Order(order), DomainEvent::Order(e)) => {
                self.order_event(order, e, step, hits)
            }
            (StreamId::Payment(payment), DomainEvent::Payment(e)) => self.payment_event(payment, e),
            (StreamId::Ticket(ticket), DomainEvent::Ticket(e)) => {
                self.ticket_event(ticket, e, step, hits)
            }
            (StreamId::Resale(resale), DomainEvent::Resale(e)) => {
                self.resale_event(resale, e, hits)
            }
            _ => None,
        }
    }

    fn show_event(&mut self, show: usize, e: &Recorded<ShowEvent>) -> Option<Violation> {
        let obs = self.shows.get_mut(show.wrapping_sub(1))?;
        let allowed = match &e.event {
            ShowEvent::Created {
                organizer,
                start_at,
                sections,
                ..
            } => {
                obs.organizer = Some(*organizer);
                obs.start_at = *start_at;
                obs.base_prices = sections.iter().map(|spec| spec.base_price).collect();
                e.actor == Actor::Organizer(*organizer)
            }
            ShowEvent::Completed => e.actor == Actor::System,
            ShowEvent::Cancelled if !spec::before_cutoff(e.now.0, obs.start_at.0) => {
                return Some(Violation::new(
                    CUTOFFS_RESPECTED,
                    format!(
                        "show {show} cancelled {} ms before its start",
                        i128::from(obs.start_at.0) - i128::from(e.now.0)
                    ),
                ));
            }
            _ => obs
                .organizer
                .is_some_and(|o| e.actor == Actor::Organizer(o)),
        };
        (!allowed).then(|| {
            Violation::new(
                AUTHORIZED_ONLY,
                format!("show {show}: {} by {}", variant_name(&e.event), e.actor),
            )
        })
    }

    fn release(section: &mut SectionObs, order: OrderId) {
        if let Some(hold) = section.holds.get_mut(&order) {
            if hold.state == HoldState::Held {
                section.reserved -= hold.quantity;
                for &seat in &hold.seats {
                    section.seats[seat as usize] = SEAT_FREE;
                }
                hold.state = HoldState::Released;
            }
        } else {
            section.holds.insert(
                order,
                HoldObs {
                    state: HoldState::Released,
                    quantity: 0,
                    seats: SmallVec::new(),
                    returned: 0,
                    initiated_ms: 0,
                    expires_ms: 0,
                    extended: false,
                },
            );
        }
    }

    fn inventory_event(
        &mut self,
        index: usize,
        key: SectionKey,
        e: &Recorded<InventoryEvent>,
        step: &Step<'_>,
        hits: &mut Hits,
    ) -> Option<Violation> {
        let organizer = self
            .shows
            .get(key.show.0 as usize - 1)
            .and_then(|s| s.organizer);
        let expected_actor = match &e.event {
            InventoryEvent::HoldExpired { .. } => Actor::System,
            InventoryEvent::SeatsBlocked { .. } | InventoryEvent::SeatsUnblocked { .. } => {
                Actor::Organizer(organizer.unwrap_or(OrganizerId(0)))
            }
            _ => Actor::Service,
        };
        if e.actor != expected_actor {
            return violation(
                AUTHORIZED_ONLY,
                format!("{key}: {} by {}", variant_name(&e.event), e.actor),
            );
        }
        let section = &mut self.sections[index];
        match &e.event {
            InventoryEvent::Initialized { spec, .. } => {
                section.capacity = spec.capacity;
                section.base_price = spec.base_price;
                section.numbered = spec.kind == SectionKind::Numbered;
                if section.numbered {
                    section.seats = vec![SEAT_FREE; spec.capacity as usize];
                    section.seat_ticket = vec![None; spec.capacity as usize];
                }
            }
            InventoryEvent::PhaseChanged { released, .. } => {
                for order in released {
                    Self::release(section, *order);
                }
            }
            InventoryEvent::SeatsReserved {
                order,
                quantity,
                seats,
                initiated_at,
                expires_at,
            } => {
                // (The order's clock stamped `initiated_at`; clocks may be skewed.)
                if expires_at.0 <= e.now.0 || expires_at.0 > initiated_at.0 + spec::HOLD {
                    return violation(
                        HOLDS_FOLLOW_THE_CLOCK,
                        format!(
                            "order {} held seats in {key} at {} until {} (started {})",
                            order.0, e.now.0, expires_at.0, initiated_at.0
                        ),
                    );
                }
                let quantity = u32::from(*quantity);
                if quantity > spec::QUANTITY_MAX
                    || (section.numbered && seats.len() != quantity as usize)
                {
                    return violation(
                        MAX_PER_ORDER,
                        format!(
                            "order {} holds {quantity} places ({} seats) in {key}",
                            order.0,
                            seats.len()
                        ),
                    );
                }
                for seat in seats {
                    match section.seats.get(seat.0 as usize) {
                        Some(&SEAT_FREE) => section.seats[seat.0 as usize] = SEAT_HELD,
                        state => {
                            return violation(
                                NO_DOUBLE_SEAT,
                                format!(
                                    "order {} holds seat {} of {key}, which is {}",
                                    order.0,
                                    seat.0,
                                    seat_state(state.copied())
                                ),
                            );
                        }
                    }
                }
                section.reserved += quantity;
                section.holds.insert(
                    *order,
                    HoldObs {
                        state: HoldState::Held,
                        quantity,
                        seats: seats.iter().map(|seat| seat.0).collect(),
                        returned: 0,
                        initiated_ms: initiated_at.0,
                        expires_ms: expires_at.0,
                        extended: false,
                    },
                );
                if section.reserved + section.sold + section.blocked == section.capacity {
                    section.last_seat_taken_ms = Some(step.now_ms);
                }
            }
            InventoryEvent::HoldExtended { order, expires_at } => {
                let Some(hold) = section.holds.get_mut(order) else {
                    return violation(
                        HOLDS_FOLLOW_THE_CLOCK,
                        format!("order {} extended without a hold in {key}", order.0),
                    );
                };
                let live = hold.state == HoldState::Held && e.now.0 < hold.expires_ms;
                if !live
                    || hold.extended
                    || !spec::hold_expiry_allowed(hold.initiated_ms, expires_at.0)
                {
                    return violation(
                        HOLDS_FOLLOW_THE_CLOCK,
                        format!(
                            "order {} extended its hold in {key} at {} to {} (it was {:?} until {}, reserved at {}{})",
                            order.0,
                            when(e.now),
                            when(*expires_at),
                            hold.state,
                            when(Timestamp(hold.expires_ms)),
                            when(Timestamp(hold.initiated_ms)),
                            if hold.extended {
                                ", extended before"
                            } else {
                                ""
                            }
                        ),
                    );
                }
                hold.extended = true;
                hold.expires_ms = expires_at.0;
            }
            InventoryEvent::HoldConfirmed { order } => {
                let Some(hold) = section.holds.get_mut(order) else {
                    return violation(
                        NO_DOUBLE_SEAT,
                        format!("order {} confirmed without a hold in {key}", order.0),
                    );
                };
                if e.now.0 >= hold.expires_ms && hold.state == HoldState::Held {
                    return violation(
                        HOLDS_FOLLOW_THE_CLOCK,
                        format!(
                            "order {} confirmed its hold in {key} at {}, due to expire at {}",
                            order.0, e.now.0, hold.expires_ms
                        ),
                    );
                }
                if hold.state != HoldState::Held {
                    return violation(
                        NO_DOUBLE_SEAT,
                        format!(
                            "order {} confirmed a hold that is {:?} in {key}: its seats may be another's",
                            order.0, hold.state
                        ),
                    );
                }
                hold.state = HoldState::Sold;
                section.reserved -= hold.quantity;
                section.sold += hold.quantity;
                for &seat in &hold.seats {
                    section.seats[seat as usize] = SEAT_SOLD;
                }
            }
            InventoryEvent::HoldReleased { order } | InventoryEvent::HoldExpired { order } => {
                if matches!(e.event, InventoryEvent::HoldExpired { .. })
                    && section
                        .holds
                        .get(order)
                        .is_some_and(|hold| e.now.0 < hold.expires_ms)
                {
                    return violation(
                        HOLDS_FOLLOW_THE_CLOCK,
                        format!(
                            "order {}'s hold in {key} expired at {}, before it was due",
                            order.0, e.now.0
                        ),
                    );
                }
                if matches!(e.event, InventoryEvent::HoldExpired { .. })
                    && self.orders.get(order).is_some_and(|o| {
                        matches!(
                            o.status,
                            OrderStatus::Reserving | OrderStatus::AwaitingPayment
                        )
                    })
                {
                    hits.push(probes::HOLD_EXPIRED_BEFORE_PAY);
                }
                if matches!(e.event, InventoryEvent::HoldExpired { .. })
                    && let Some(obs) = self.orders.get_mut(order)
                {
                    obs.hold_expired = true;
                }
                Self::release(&mut self.sections[index], *order);
            }
            InventoryEvent::SeatsUnsold { order } => {
                if let Some(hold) = section.holds.get_mut(order)
                    && hold.state == HoldState::Sold
                {
                    for (i, &seat) in hold.seats.iter().enumerate() {
                        if hold.returned & (1 << i) == 0 {
                            section.seats[seat as usize] = SEAT_FREE;
                        }
                    }
                    let unreturned =
                        hold.quantity - (hold.returned.count_ones()).min(hold.quantity);
                    section.sold -= unreturned;
                    hold.state = HoldState::Unsold;
                }
            }
            InventoryEvent::SeatsBlocked { seats, count } => {
                for seat in seats {
                    if section.seats.get(seat.0 as usize) != Some(&SEAT_FREE) {
                        return violation(
                            NO_DOUBLE_SEAT,
                            format!("seat {} of {key} blocked while taken", seat.0),
                        );
                    }
                    section.seats[seat.0 as usize] = SEAT_BLOCKED;
                }
                section.blocked += count;
            }
            InventoryEvent::SeatsUnblocked { seats, count } => {
                for seat in seats {
                    if let Some(state) = section.seats.get_mut(seat.0 as usize) {
                        *state = SEAT_FREE;
                    }
                }
                section.blocked = section.blocked.saturating_sub(*count);
            }
            InventoryEvent::SeatReturned { ticket } => {
                if let Some(hold) = section.holds.get_mut(&ticket.order)
                    && hold.state == HoldState::Sold
                    && hold.returned & (1 << ticket.index) == 0
                {
                    hold.returned |= 1 << ticket.index;
                    section.sold -= 1;
                    if let Some(&seat) = hold.seats.get(usize::from(ticket.index)) {
                        section.seats[seat as usize] = SEAT_FREE;
                    }
                }
            }
        }
        let section = &self.sections[index];
        let taken = section.blocked + section.reserved + section.sold;
        (taken > section.capacity).then(|| {
            Violation::new(
                NO_OVERSELL,
                format!(
                    "{key}: blocked {} + reserved {} + sold {} > capacity {} after {:?}",
                    section.blocked, section.reserved, section.sold, section.capacity, e.event
                ),
            )
        })
    }

    fn set_status(&mut self, order: OrderId, status: OrderStatus) {
        if let Some(obs) = self.orders.get_mut(&order) {
            if is_awaiting(obs.status) {
                self.awaiting_payment -= 1;
            }
            if !obs.status.is_terminal() && status.is_terminal() {
                self.open_orders -= 1;
            }
            if is_awaiting(status) {
                self.awaiting_payment += 1;
            }
            obs.status = status;
        }
    }

    fn order_event(
        &mut self,
        order: OrderId,
        e: &Recorded<OrderEvent>,
        step: &Step<'_>,
        hits: &mut Hits,
    ) -> Option<Violation> {
        if let OrderEvent::Initiated {
            customer,
            section,
            quantity,
            quote: quoted,
            start_at,
            initiated_at,
            ..
        } = &e.event
        {
            if e.actor != Actor::Customer(*customer) {
                return violation(
                    AUTHORIZED_ONLY,
                    format!(
                        "order {} initiated by {} for customer {}",
                        order.0, e.actor, customer.0
                    ),
                );
            }
            if u32::from(*quantity) > spec::QUANTITY_MAX {
                return violation(
                    MAX_PER_ORDER,
                    format!("order {} for {quantity} seats", order.0),
                );
            }
            let show = self
                .shows
                .get(section.show.0 as usize - 1)
                .cloned()
                .unwrap_or_default();
            let _ = step;
            let base = show
                .base_prices
                .get(section.section.0 as usize)
                .copied()
                .unwrap_or(Money(0));
            // SPEC's table, from the observer's own model.
            let (now, start) = (e.now.0, show.start_at.0);
            let tier = match spec::tier(now, start) {
                spec::Tier::EarlyBird => Tier::EarlyBird,
                spec::Tier::Regular => Tier::Regular,
                spec::Tier::LastMinute => Tier::LastMinute,
            };
            let seat = spec::seat_price(base.0, now, start);
            let total = spec::order_total(base.0, u32::from(*quantity), now, start);
            if quoted.tier != tier
                || Some(quoted.seat_price.0) != seat
                || Some(quoted.total.0) != total
                || quoted.base_price != base
                || quoted.quantity != *quantity
                || *initiated_at != e.now
                || *start_at != show.start_at
            {
                return violation(
                    QUOTE_MATCHES_TIER,
                    format!(
                        "order {} quoted {:?} for {} place(s) at base {}: {} a seat, {} in all, at {} (recorded at {}); the table says {tier:?}: {} a seat, {} in all",
                        order.0,
                        quoted.tier,
                        quoted.quantity,
                        quoted.base_price,
                        quoted.seat_price,
                        quoted.total,
                        when(*initiated_at),
                        when(e.now),
                        cents(seat),
                        cents(total)
                    ),
                );
            }
            self.orders.insert(
                order,
                OrderObs {
                    customer: *customer,
                    status: OrderStatus::Reserving,
                    section: *section,
                    quantity: *quantity,
                    quote: *quoted,
                    hold_expired: false,
                    last_sent: "inventory.Reserve",
                },
            );
            self.open_orders += 1;
            return None;
        }
        let Some(obs) = self.orders.get(&order) else {
            return violation(
                AUTHORIZED_ONLY,
                format!(
                    "order {}: {} before it was initiated",
                    order.0,
                    variant_name(&e.event)
                ),
            );
        };
        let customer = Actor::Customer(obs.customer);
        let (expected_actor, next) = match &e.event {
            OrderEvent::Initiated { .. } => unreachable!("handled above"),
            OrderEvent::Reserved { .. } => (Actor::Service, Some(OrderStatus::AwaitingPayment)),
            OrderEvent::PaymentStarted { .. } => (customer, Some(OrderStatus::Extending)),
            OrderEvent::HoldExtended => (Actor::Service, Some(OrderStatus::Authorizing)),
            OrderEvent::Authorized => {
                if obs.hold_expired {
                    hits.push(probes::AUTHORIZED_AFTER_HOLD_EXPIRED);
                }
                (Actor::Service, Some(OrderStatus::Confirming))
            }
            OrderEvent::SeatsConfirmed => (Actor::Service, Some(OrderStatus::Capturing)),
            OrderEvent::Completed { tickets } => {
                if tickets.len() > spec::QUANTITY_MAX as usize
                    || tickets.len() != usize::from(obs.quantity)
                {
                    return violation(
                        MAX_PER_ORDER,
                        format!(
                            "order {} of {} seats issued {} tickets",
                            order.0,
                            obs.quantity,
                            tickets.len()
                        ),
                    );
                }
                (Actor::Service, Some(OrderStatus::Completed))
            }
            OrderEvent::Ended {
                status,
                cause,
                undo,
            } => {
                if undo.refund {
                    hits.push(probes::LATE_CAPTURE_REFUNDED);
                }
                let actor = match cause {
                    EndCause::CustomerCancelled => customer,
                    EndCause::Expired => Actor::System,
                    _ => Actor::Service,
                };
                (actor, Some(*status))
            }
            OrderEvent::ShowCancellationNoted => (Actor::Service, None),
            OrderEvent::LateAnswerUndone { answer, .. } => {
                if *answer == LateAnswer::Captured {
                    hits.push(probes::LATE_CAPTURE_REFUNDED);
                }
                return (e.actor != Actor::Service).then(|| {
                    Violation::new(
                        AUTHORIZED_ONLY,
                        format!("order {}: late answer undone by {}", order.0, e.actor),
                    )
                });
            }
        };
        if obs.status.is_terminal() {
            return violation(
                TERMINAL_IS_FINAL,
                format!(
                    "order {} is {}, yet recorded {}",
                    order.0,
                    obs.status,
                    variant_name(&e.event)
                ),
            );
        }
        if e.actor != expected_actor {
            return violation(
                AUTHORIZED_ONLY,
                format!(
                    "order {}: {} by {}",
                    order.0,
                    variant_name(&e.event),
                    e.actor
                ),
            );
        }
        if let Some(next) = next {
            self.set_status(order, next);
        }
        None
    }

    fn payment_event(
        &mut self,
        payment: PaymentId,
        e: &Recorded<PaymentEvent>,
    ) -> Option<Violation> {
        // Only the payment's own retry timer acts as the system; the rest is our services.
        let expected = match e.event {
            PaymentEvent::RetriesSent { .. } => Actor::System,
            _ => Actor::Service,
        };
        if e.actor != expected {
            return violation(
                AUTHORIZED_ONLY,
                format!(
                    "payment of {payment}: {} by {}",
                    variant_name(&e.event),
                    e.actor
                ),
            );
        }
        let asked = match &e.event {
            PaymentEvent::RefundRequested { refund, .. } => Some(Operation::Refund(*refund)),
            PaymentEvent::PayoutRequested { payout, .. } => Some(Operation::Payout(*payout)),
            PaymentEvent::VoidRequested => Some(Operation::Void),
            _ => None,
        };
        if let Some(operation) = asked {
            self.owed.entry(payment).or_default().push(operation);
        }
        let obs = self.payments.entry(payment).or_default();
        match &e.event {
            PaymentEvent::Authorized { amount } => {
                obs.authorized = Money(obs.authorized.0 + amount.0)
            }
            PaymentEvent::Captured { amount } => obs.captured = Money(obs.captured.0 + amount.0),
            PaymentEvent::Refunded { amount, .. } => {
                obs.refunded = Money(obs.refunded.0 + amount.0)
            }
            PaymentEvent::PaidOut { amount, .. } => obs.paid_out = Money(obs.paid_out.0 + amount.0),
            PaymentEvent::Voided => obs.voided = true,
            _ => {}
        }
        None
    }

    fn ticket_event(
        &mut self,
        ticket: TicketId,
        e: &Recorded<TicketEvent>,
        step: &Step<'_>,
        hits: &mut Hits,
    ) -> Option<Violation> {
        if let TicketEvent::Issued {
            owner,
            section,
            seat,
            price,
            payment,
            start_at,
            ..
        } = &e.event
        {
            if e.actor != Actor::Service {
                return violation(AUTHORIZED_ONLY, format!("{ticket} issued by {}", e.actor));
            }
            if step.ledger.account(*payment).captures == 0 {
                return violation(
                    TICKETS_ARE_PAID,
                    format!("{ticket} issued on {payment}, which the gateway never captured"),
                );
            }
            let index = step.layout.section_index(*section);
            if let (Some(index), Some(seat)) = (index, seat) {
                let slot = self.sections[index].seat_ticket.get_mut(seat.0 as usize);
                match slot {
                    Some(slot) if slot.is_none() => *slot = Some(ticket),
                    other => {
                        return violation(
                            NO_DOUBLE_SEAT,
                            format!(
                                "{ticket} for seat {} of {section}, {}",
                                seat.0,
                                match other {
                                    Some(Some(held)) => format!("already held by {held}"),
                                    _ => "which the section does not have".to_owned(),
                                }
                            ),
                        );
                    }
                }
            }
            self.tickets.insert(
                ticket,
                TicketObs {
                    owner: *owner,
                    valid: true,
                    section: index,
                    seat: seat.map(|s| s.0),
                    start_at: *start_at,
                    shares: SmallVec::from_elem((*payment, *price, Money(0)), 1),
                    refunds: SmallVec::new(),
                },
            );
            return None;
        }
        let Some(obs) = self.tickets.get_mut(&ticket) else {
            return violation(
                AUTHORIZED_ONLY,
                format!("{ticket}: {} before it was issued", variant_name(&e.event)),
            );
        };
        let owner = Actor::Customer(obs.owner);
        let mut free_seat = false;
        let expected = match &e.event {
            TicketEvent::Issued { .. } => unreachable!("handled above"),
            TicketEvent::Transferred { from, to } => {
                let d = e.now.until(obs.start_at) - i128::from(DAY_MS);
                if d.abs() <= i128::from(MINUTE_MS) {
                    hits.push(probes::TRANSFER_AT_24H_EDGE);
                }
                if !spec::before_cutoff(e.now.0, obs.start_at.0) {
                    return violation(
                        CUTOFFS_RESPECTED,
                        format!(
                            "{ticket} transferred {}",
                            to_start(e.now.until(obs.start_at))
                        ),
                    );
                }
                let expected = Actor::Customer(*from);
                if *from != obs.owner {
                    return violation(
                        AUTHORIZED_ONLY,
                        format!(
                            "{ticket} transferred from customer {}, owned by customer {}",
                            from.0, obs.owner.0
                        ),
                    );
                }
                obs.owner = *to;
                expected
            }
            TicketEvent::Listed { .. } | TicketEvent::ListingTaken { .. }
                if !spec::before_cutoff(e.now.0, obs.start_at.0) =>
            {
                return violation(
                    CUTOFFS_RESPECTED,
                    format!(
                        "{ticket}: {} {}",
                        variant_name(&e.event),
                        to_start(e.now.until(obs.start_at))
                    ),
                );
            }
            TicketEvent::Resold { .. } if e.now.0 >= obs.start_at.0 => {
                return violation(
                    CUTOFFS_RESPECTED,
                    format!(
                        "{ticket} changed owner {} ms after the start",
                        e.now.0 - obs.start_at.0
                    ),
                );
            }
            TicketEvent::Listed { .. } | TicketEvent::Unlisted => owner,
            TicketEvent::ListingTaken { .. } | TicketEvent::ListingReturned { .. } => {
                Actor::Service
            }
            TicketEvent::Resold {
                buyer,
                price,
                seller_payment,
                buyer_payment,
                ..
            } => {
                if step.ledger.account(*buyer_payment).captures == 0 {
                    return violation(
                        TICKETS_ARE_PAID,
                        format!("{ticket} resold on {buyer_payment}, never captured"),
                    );
                }
                if let Some(share) = obs.shares.iter_mut().rev().find(|s| s.0 == *seller_payment) {
                    share.2 = Money(share.2.0 + price.0);
                }
                obs.shares.push((*buyer_payment, *price, Money(0)));
                obs.owner = *buyer;
                Actor::Service
            }
            TicketEvent::Cancelled {
                owner: named,
                share,
                refund,
                payment,
            } => {
                let paid = obs.shares.last().map_or(Money(0), |s| s.1);
                let last_payment = obs.shares.last().map(|s| s.0);
                let expected_refund = spec::cancellation_refund(paid.0, e.now.0, obs.start_at.0);
                let expected_percent = spec::refund_percent(e.now.0, obs.start_at.0);
                if expected_refund != Some(refund.0)
                    || u64::from(share.0) != expected_percent * 100
                    || last_payment != Some(*payment)
                {
                    return violation(
                        REFUND_MATCHES_POLICY,
                        format!(
                            "{ticket} cancelled at {} ({}): refund {refund} ({share}) to {payment}, the policy says {} ({expected_percent} %) to {}",
                            when(e.now),
                            to_start(e.now.until(obs.start_at)),
                            cents(expected_refund),
                            last_payment
                                .map_or("nothing".to_owned(), |payment| payment.to_string()),
                        ),
                    );
                }
                for boundary in [7 * DAY_MS, 3 * DAY_MS] {
                    let d = e.now.until(obs.start_at) - i128::from(boundary);
                    if d.abs() <= i128::from(HOUR_MS) {
                        hits.push(probes::REFUND_AT_EACH_POLICY_BOUNDARY);
                    }
                }
                if *named != obs.owner {
                    return violation(
                        AUTHORIZED_ONLY,
                        format!(
                            "{ticket} cancelled for customer {}, owned by customer {}",
                            named.0, obs.owner.0
                        ),
                    );
                }
                obs.refunds.push((*payment, *refund));
                obs.valid = false;
                free_seat = true;
                owner
            }
            TicketEvent::ShowCancelledRefunded { refunds } => {
                obs.refunds.extend(refunds.iter().copied());
                obs.valid = false;
                free_seat = true;
                Actor::Service
            }
        };
        if e.actor != expected {
            return violation(
                AUTHORIZED_ONLY,
                format!("{ticket}: {} by {}", variant_name(&e.event), e.actor),
            );
        }
        if free_seat
            && let (Some(index), Some(seat)) = (obs.section, obs.seat)
            && let Some(slot) = self.sections[index].seat_ticket.get_mut(seat as usize)
        {
            *slot = None;
        }
        None
    }

    fn resale_event(
        &mut self,
        resale: ResaleId,
        e: &Recorded<ResaleEvent>,
        hits: &mut Hits,
    ) -> Option<Violation> {
        match &e.event {
            ResaleEvent::Started { buyer, price, .. } => {
                if e.actor != Actor::Customer(*buyer) {
                    return violation(
                        AUTHORIZED_ONLY,
                        format!(
                            "resale {} started by {} for customer {}",
                            resale.0, e.actor, buyer.0
                        ),
                    );
                }
                self.resales.insert(
                    resale,
                    ResaleObs {
                        status: ResaleStatus::Authorizing,
                        price: *price,
                    },
                );
                return None;
            }
            ResaleEvent::Ended { undo, .. } | ResaleEvent::LateAnswerUndone { undo }
                if undo.refund =>
            {
                hits.push(probes::LATE_CAPTURE_REFUNDED);
            }
            _ => {}
        }
        if e.actor != Actor::Service {
            return violation(
                AUTHORIZED_ONLY,
                format!(
                    "resale {}: {} by {}",
                    resale.0,
                    variant_name(&e.event),
                    e.actor
                ),
            );
        }
        if let Some(obs) = self.resales.get_mut(&resale) {
            obs.status = match &e.event {
                ResaleEvent::Authorized => ResaleStatus::Taking,
                ResaleEvent::ListingTaken => ResaleStatus::Capturing,
                ResaleEvent::Captured => ResaleStatus::Completing,
                ResaleEvent::Completed => ResaleStatus::Completed,
                ResaleEvent::Ended { status, .. } => *status,
                _ => obs.status,
            };
        }
        None
    }
}

/// Probe hits collected while folding (counted through the engine afterwards).
pub type Hits = SmallVec<[&'static str; 2]>;

impl Observer {
    /// The first violation seen this run, if any (an `always` check reports it).
    pub fn violation(&self) -> Option<&Violation> {
        self.violation.as_ref()
    }

    fn fail(&mut self, violation: Option<Violation>) {
        if let Some(violation) = violation
            && self.violation.is_none()
        {
            self.violation = Some(violation);
        }
    }

    /// Folds an entry a service made durable; returns the probes it hit.
    #[allow(clippy::too_many_arguments)]
    pub fn entry_synced(
        &mut self,
        service: Service,
        entry: &Entry,
        actor: Actor,
        layout: &Layout,
        ledger: &Ledger,
        now_ms: u64,
    ) -> Hits {
        let mut hits = Hits::new();
        let Change::Event(published) = &entry.change else {
            // A refusal an inventory answered a saga with is in its log, in order: what
            // it reports is judged against the count of every entry before it.
            if let Service::Inventory(key) = service {
                let found = self.refusal_reported(key, entry, layout);
                self.fail(found);
            }
            return hits;
        };
        if service == Service::ReadModels {
            return hits;
        }
        let (stream, event) = (&published.stream, &published.event);
        let step = Step {
            actor,
            layout,
            ledger,
            now_ms,
        };
        let found = self.event(&step, *stream, event, &mut hits);
        if let StreamId::Order(order) = stream
            && let Some(last) = entry.outbox.iter().rev().find_map(|(_, msg)| match msg {
                Msg::Command { msg, .. } => Some(message_name(msg)),
                _ => None,
            })
            && let Some(obs) = self.orders.get_mut(order)
        {
            obs.last_sent = last;
        }
        self.fail(found);
        hits
    }

    /// `inventory_reports_truth`: the places an inventory says are available, when it
    /// refuses a reserve, are the places the observer counts free.
    fn refusal_reported(
        &self,
        key: SectionKey,
        entry: &Entry,
        layout: &Layout,
    ) -> Option<Violation> {
        let index = layout.section_index(key)?;
        let section = &self.sections[index];
        for (_, msg) in &entry.outbox {
            let Msg::Command {
                msg:
                    Message::Order {
                        order,
                        body:
                            OrderCommand::ReserveRejected {
                                reason:
                                    InventoryError::InsufficientInventory {
                                        requested,
                                        available,
                                    },
                            },
                        ..
                    },
                ..
            } = msg
            else {
                continue;
            };
            let free = section
                .capacity
                .saturating_sub(section.blocked + section.reserved + section.sold);
            if *available != free || requested <= available {
                return violation(
                    INVENTORY_REPORTS_TRUTH,
                    format!(
                        "{key} refused order {} {requested} place(s), saying {available} are available; the logs leave {free} (capacity {}, blocked {}, reserved {}, sold {})",
                        order.0, section.capacity, section.blocked, section.reserved, section.sold
                    ),
                );
            }
        }
        None
    }

    /// A service refused a command: the probe of a contended moment, if it was one.
    pub fn rejection(
        &self,
        service: Service,
        rejection: &Rejection,
        layout: &Layout,
        now_ms: u64,
    ) -> Option<&'static str> {
        match (service, rejection) {
            (_, Rejection::Inventory(InventoryError::SeatNotFree { .. })) => {
                Some(probes::SAME_NUMBERED_SEAT_CONTENDED)
            }
            (
                Service::Inventory(key),
                Rejection::Inventory(InventoryError::InsufficientInventory { .. }),
            ) => {
                let index = layout.section_index(key)?;
                let taken_ms = self.sections[index].last_seat_taken_ms?;
                (now_ms.saturating_sub(taken_ms) <= 5_000).then_some(probes::LAST_SEAT_CONTENDED)
            }
            (_, Rejection::Ticket(TicketError::ListingNotAvailable)) => {
                Some(probes::RESALE_CONTENDED)
            }
            _ => None,
        }
    }

    /// The gateway executed a call: no money moved twice, and the customer pays exactly
    /// the quote.
    pub fn gateway_executed(&mut self, executed: Executed, ledger: &Ledger) {
        let call = executed.call;
        if executed.outcome == GatewayOutcome::Approved {
            let found = no_money_twice(call.key.payment, &ledger.account(call.key.payment));
            self.fail(found);
        }
        let GatewayRequest::Authorize { amount, .. } = call.request else {
            return;
        };
        let expected = match call.key.payment {
            PaymentId::Order(order) => self.orders.get(&order).map(|o| o.quote.total),
            PaymentId::Resale(resale) => self.resales.get(&resale).map(|r| r.price),
        };
        if expected != Some(amount) {
            let found = violation(
                QUOTE_MATCHES_TIER,
                format!(
                    "the gateway was asked to authorize {amount} on {}; the quote is {}",
                    call.key.payment,
                    expected.map_or("unknown".to_owned(), |total| total.to_string())
                ),
            );
            self.fail(found);
        }
    }

    /// A client saw something: judge it; returns the probe it hit, if any.
    pub fn sighting(&mut self, sighting: Sighting) -> Option<&'static str> {
        match sighting {
            Sighting::Told {
                order,
                status,
                customer,
            } => {
                let found = self.told(order, status, customer);
                self.fail(found);
                None
            }
            Sighting::AdversarialAnswer { msg, answer } => match answer {
                Answer::Accepted { new: true } => {
                    let found = violation(
                        AUTHORIZED_ONLY,
                        format!("an adversarial move was accepted and recorded: {msg}"),
                    );
                    self.fail(found);
                    None
                }
                Answer::Rejected(_) => Some(probes::ADVERSARY_REJECTED),
                _ => None,
            },
        }
    }

    /// `recovery_is_exact`, judged right after `node` restarted: the observer folds the
    /// node's durable log itself, with the core's `apply` and none of the host's
    /// bookkeeping, and compares the rebuilt host with it: every aggregate, the
    /// unacknowledged outbox, the consumed inbox ids, the show terms, the read models,
    /// the latest `now`, and every timer the folded aggregates list.
    pub fn judge_recovery(&mut self, node: NodeId, store: &Store, host: &Host) {
        let index = node.index();
        if self.recovered.len() <= index {
            self.recovered.resize_with(index + 1, || None);
        }
        let durable = store.entries.len();
        let mut expected = match self.recovered[index].take() {
            Some(expected) if expected.entries <= durable => expected,
            _ => Expected::default(),
        };
        for entry in &store.entries[expected.entries..durable] {
            expected.fold(entry);
        }
        let found = expected.differs(host).map(|what| {
            Violation::new(
                RECOVERY_IS_EXACT,
                format!(
                    "{} (n{}) rebuilt from {durable} durable log entries, but {what}",
                    host.service().name(),
                    node.0
                ),
            )
        });
        self.recovered[index] = Some(expected);
        self.fail(found);
    }
}

/// `no_money_twice`, on the ledger: at most one authorization captured, captures within
/// authorizations, refunds and payouts within captures.
fn no_money_twice(payment: PaymentId, account: &Account) -> Option<Violation> {
    let problem = if account.captures > 1 {
        "captured more than once"
    } else if account.captured.0 > account.authorized.0 {
        "captured more than authorized"
    } else if account.refunded.0 + account.paid_out.0 > account.captured.0 {
        "refunded and paid out more than captured"
    } else {
        return None;
    };
    Some(Violation::new(
        NO_MONEY_TWICE,
        format!("payment of {payment} {problem} on the gateway's ledger: {account}"),
    ))
}

/// When an event was recorded.
fn event_now(event: &DomainEvent) -> Timestamp {
    match event {
        DomainEvent::Show(e) => e.now,
        DomainEvent::Inventory(e) => e.now,
        DomainEvent::Order(e) => e.now,
        DomainEvent::Payment(e) => e.now,
        DomainEvent::Ticket(e) => e.now,
        DomainEvent::Resale(e) => e.now,
    }
}

/// One aggregate as the observer folds it from a log.
#[derive(Clone, Debug)]
enum Folded {
    Show(Show),
    Inventory(Inventory),
    Order(Order),
    Payment(Payment),
    Ticket(Ticket),
    Resale(Resale),
}

impl Folded {
    fn new(stream: StreamId) -> Folded {
        match stream {
            StreamId::Show(_) => Folded::Show(Show::default()),
            StreamId::Inventory(_) => Folded::Inventory(Inventory::default()),
            StreamId::Order(_) => Folded::Order(Order::default()),
            StreamId::Payment(_) => Folded::Payment(Payment::default()),
            StreamId::Ticket(_) => Folded::Ticket(Ticket::default()),
            StreamId::Resale(_) => Folded::Resale(Resale::default()),
        }
    }

    fn apply(&mut self, event: &DomainEvent) {
        match (self, event) {
            (Folded::Show(a), DomainEvent::Show(e)) => a.apply(e),
            (Folded::Inventory(a), DomainEvent::Inventory(e)) => a.apply(e),
            (Folded::Order(a), DomainEvent::Order(e)) => a.apply(e),
            (Folded::Payment(a), DomainEvent::Payment(e)) => a.apply(e),
            (Folded::Ticket(a), DomainEvent::Ticket(e)) => a.apply(e),
            (Folded::Resale(a), DomainEvent::Resale(e)) => a.apply(e),
            (folded, event) => panic!("a {event:?} in the stream of {folded:?}"),
        }
    }

    fn as_ref(&self) -> AggregateRef<'_> {
        match self {
            Folded::Show(a) => AggregateRef::Show(a),
            Folded::Inventory(a) => AggregateRef::Inventory(a),
            Folded::Order(a) => AggregateRef::Order(a),
            Folded::Payment(a) => AggregateRef::Payment(a),
            Folded::Ticket(a) => AggregateRef::Ticket(a),
            Folded::Resale(a) => AggregateRef::Resale(a),
        }
    }

    fn timers(&self) -> Vec<ArmedTimer> {
        match self {
            Folded::Show(a) => a.timers(),
            Folded::Inventory(a) => a.timers(),
            Folded::Order(a) => a.timers(),
            Folded::Payment(a) => a.timers(),
            _ => Vec::new(),
        }
    }
}

/// A service's state as its durable log says it must be, folded by the observer.
///
/// It is kept from one restart of a node to the next and only extended. What the log
/// changed since the last judgement (`touched` streams, `fresh` inbox ids) is compared
/// in full; the rest by count and stream version, since it was found equal then and the
/// log has not touched it since. The timers the aggregates list are kept per stream, so
/// a restart compares the armed set without listing every aggregate's timers again.
#[derive(Clone, Debug, Default)]
struct Expected {
    entries: usize,
    aggregates: BTreeMap<StreamId, Folded>,
    catalog: ShowCatalog,
    read_models: ReadModels,
    outbox: BTreeSet<(Service, CommandId)>,
    /// How many messages the inbox consumed (an entry consumes at most one, and the
    /// inbox never consumes an id twice).
    consumed: usize,
    last_now: Timestamp,
    /// The timers every aggregate lists, by stream, and all of them together.
    listed: BTreeMap<StreamId, Vec<ArmedTimer>>,
    timers: BTreeSet<(Timer, Timestamp)>,
    /// Streams with events since the last judgement.
    touched: BTreeSet<StreamId>,
    /// Message ids consumed since the last judgement.
    fresh: Vec<CommandId>,
}

impl Expected {
    fn fold(&mut self, entry: &Entry) {
        self.entries += 1;
        if let Some(id) = entry.consumed {
            self.consumed += 1;
            self.fresh.push(id);
        }
        for (to, msg) in &entry.outbox {
            if let Some(id) = msg.outbox_id() {
                self.outbox.insert((*to, id));
            }
        }
        if let Some(id) = entry.publish {
            self.outbox.insert((Service::ReadModels, id));
        }
        for key in &entry.acked {
            self.outbox.remove(key);
        }
        match &entry.change {
            Change::Nothing => {}
            Change::Event(published) => {
                self.last_now = self.last_now.max(event_now(&published.event));
                self.touched.insert(published.stream);
                self.aggregates
                    .entry(published.stream)
                    .or_insert_with(|| Folded::new(published.stream))
                    .apply(&published.event);
            }
            Change::Terms(terms) => self.catalog.observe((**terms).clone()),
            Change::Published(published) => self.read_models.observe_ref(published),
        }
    }

    /// Brings the listed timers of the touched streams up to date.
    fn relist(&mut self) {
        for stream in &self.touched {
            if let Some(old) = self.listed.remove(stream) {
                for armed in old {
                    self.timers.remove(&(armed.timer, armed.at));
                }
            }
            let listed = self.aggregates.get(stream).map(Folded::timers);
            if let Some(listed) = listed.filter(|listed| !listed.is_empty()) {
                self.timers
                    .extend(listed.iter().map(|armed| (armed.timer, armed.at)));
                self.listed.insert(*stream, listed);
            }
        }
    }

    /// What about `host` differs from this state, if anything; forgets what was
    /// touched, so the next judgement compares only what changes after this one.
    fn differs(&mut self, host: &Host) -> Option<String> {
        self.relist();
        let found = self.compare(host);
        self.touched.clear();
        self.fresh.clear();
        found
    }

    fn compare(&self, host: &Host) -> Option<String> {
        let mut folded = self.aggregates.iter();
        for (stream, aggregate) in host.aggregates() {
            let same = match folded.next() {
                Some((expected, _)) if *expected != stream => {
                    return Some(format!(
                        "it holds {stream} where the log has {expected} next"
                    ));
                }
                None => return Some(format!("it holds {stream}, which the log does not")),
                Some((_, folded)) if self.touched.contains(&stream) => folded.as_ref() == aggregate,
                Some((_, folded)) => folded.as_ref().version() == aggregate.version(),
            };
            if !same {
                return Some(format!("its {stream} differs from the log's"));
            }
        }
        if let Some((stream, _)) = folded.next() {
            return Some(format!("it lacks {stream}, which the log holds"));
        }
        if !host.outbox().eq(self.outbox.iter().copied()) {
            return Some(format!(
                "its outbox holds {} unacknowledged messages where the log has {}",
                host.outbox().count(),
                self.outbox.len()
            ));
        }
        let consumed = host.consumed();
        if consumed.len() != self.consumed || !self.fresh.iter().all(|id| consumed.contains(id)) {
            return Some(format!(
                "its inbox consumed {} messages where the log has {}",
                consumed.len(),
                self.consumed
            ));
        }
        if *host.catalog() != self.catalog {
            return Some("its show terms differ from the log's".to_owned());
        }
        if host
            .read_models()
            .is_some_and(|models| *models != self.read_models)
        {
            return Some("its read models differ from the log's".to_owned());
        }
        if host.last_now() != self.last_now {
            return Some(format!(
                "its clock floor is {} where the log's last now is {}",
                host.last_now().0,
                self.last_now.0
            ));
        }
        if !host.armed_timers().eq(self.timers.iter().copied()) {
            let missing = self
                .timers
                .iter()
                .find(|(timer, at)| !host.armed_timers().any(|armed| armed == (*timer, *at)));
            return Some(format!(
                "it armed {} timers where the log implies {}{}",
                host.armed_timers().count(),
                self.timers.len(),
                missing.map_or(String::new(), |(timer, at)| format!(
                    " (first missing: {timer} at {})",
                    when(*at)
                ))
            ));
        }
        None
    }
}

fn waits_for(status: OrderStatus) -> &'static str {
    match status {
        OrderStatus::Reserving => "inventory's answer to its reserve, or its expiry",
        OrderStatus::AwaitingPayment => "the customer's payment, or its expiry",
        OrderStatus::Extending => "inventory's answer to its extension, or its expiry",
        OrderStatus::Authorizing => "the payment's authorization",
        OrderStatus::Confirming => "inventory's confirmation",
        OrderStatus::Capturing => "the payment's capture",
        _ => "nothing",
    }
}

impl Observer {
    /// The `eventually` invariants, once the world healed and went quiet. `read_models`
    /// are the read-model service's (if it is up and publications are on).
    pub fn eventually(
        &self,
        ledger: &Ledger,
        layout: &Layout,
        stores: &[Store],
        read_models: Option<&ReadModels>,
    ) -> Result<(), Violation> {
        let observer = self;
        // sagas_terminate
        let stuck: Vec<(&OrderId, &OrderObs)> = observer
            .orders
            .iter()
            .filter(|(_, o)| !o.status.is_terminal())
            .collect();
        if !stuck.is_empty() {
            let mut message = format!("{} order(s) not terminal:", stuck.len());
            for (order, obs) in stuck.iter().take(8) {
                let _ = write!(
                    message,
                    " order {} is {}, waiting for {}; its last message sent was {};",
                    order.0,
                    obs.status,
                    waits_for(obs.status),
                    obs.last_sent
                );
            }
            return Err(Violation::new(SAGAS_TERMINATE, message));
        }
        if let Some((resale, obs)) = observer
            .resales
            .iter()
            .find(|(_, r)| !r.status.is_terminal())
        {
            return Err(Violation::new(
                SAGAS_TERMINATE,
                format!("resale {} is {}", resale.0, obs.status),
            ));
        }
        // no_stale_holds
        for (index, section) in observer.sections.iter().enumerate() {
            if let Some((order, _)) = section
                .holds
                .iter()
                .find(|(_, h)| h.state == HoldState::Held)
            {
                return Err(Violation::new(
                    NO_STALE_HOLDS,
                    format!(
                        "{} still holds seats for order {}",
                        layout.sections[index], order.0
                    ),
                ));
            }
        }
        // owed_money_settled: judged on the gateway's ledger alone.
        for (payment, owed) in &observer.owed {
            let account = ledger.account(*payment);
            for operation in owed {
                // A void is settled once no authorization is left open; a refund or
                // payout once one of its attempts was approved.
                if *operation == Operation::Void {
                    if account.open_authorization() {
                        return Err(Violation::new(
                            OWED_MONEY_SETTLED,
                            format!(
                                "{payment}: a void was asked and the authorization is still open ({account})"
                            ),
                        ));
                    }
                    continue;
                }
                let first = GatewayKey {
                    payment: *payment,
                    operation: *operation,
                    attempt: 0,
                };
                let last = GatewayKey {
                    attempt: u32::MAX,
                    ..first
                };
                let paid = ledger
                    .calls
                    .range(first..=last)
                    .any(|(_, outcome)| *outcome == GatewayOutcome::Approved);
                if !paid {
                    return Err(Violation::new(
                        OWED_MONEY_SETTLED,
                        format!(
                            "{payment}: the {operation} was asked and the gateway never paid it ({} attempt(s) on its ledger)",
                            ledger.calls.range(first..=last).count()
                        ),
                    ));
                }
            }
        }
        // compensation_complete
        for (order, obs) in &observer.orders {
            if obs.status == OrderStatus::Completed {
                continue;
            }
            if let Some(index) = layout.section_index(obs.section)
                && let Some(hold) = observer.sections[index].holds.get(order)
                && (hold.state == HoldState::Held
                    || (hold.state == HoldState::Sold
                        && hold.returned.count_ones() < hold.quantity))
            {
                return Err(Violation::new(
                    COMPENSATION_COMPLETE,
                    format!(
                        "order {} ended {} but its seats are {:?}",
                        order.0, obs.status, hold.state
                    ),
                ));
            }
            let account = ledger.account(PaymentId::Order(*order));
            if account.open_authorization() || account.net() != 0 {
                return Err(Violation::new(
                    COMPENSATION_COMPLETE,
                    format!(
                        "order {} ended {} but the gateway shows {account}",
                        order.0, obs.status
                    ),
                ));
            }
        }
        // money_conserved: per payment, the gateway's net equals what the tickets keep.
        let mut expected: BTreeMap<PaymentId, i128> = BTreeMap::new();
        for ticket in observer.tickets.values() {
            for &(payment, paid, paid_out) in &ticket.shares {
                *expected.entry(payment).or_default() +=
                    i128::from(paid.0) - i128::from(paid_out.0);
            }
            for &(payment, refund) in &ticket.refunds {
                *expected.entry(payment).or_default() -= i128::from(refund.0);
            }
        }
        for (payment, account) in &ledger.accounts {
            let keep = expected.get(payment).copied().unwrap_or(0);
            if account.net() != keep {
                return Err(Violation::new(
                    MONEY_CONSERVED,
                    format!(
                        "{payment}: the gateway holds {} net, the tickets say we keep {} ({account})",
                        signed_money(account.net()),
                        signed_money(keep)
                    ),
                ));
            }
        }
        for (payment, keep) in &expected {
            if *keep != 0 && !ledger.accounts.contains_key(payment) {
                return Err(Violation::new(
                    MONEY_CONSERVED,
                    format!(
                        "{payment}: we keep {}, the gateway holds nothing",
                        signed_money(*keep)
                    ),
                ));
            }
        }
        // ledger_agrees
        let mut payments: Vec<PaymentId> = ledger.accounts.keys().copied().collect();
        payments.extend(observer.payments.keys().copied());
        payments.sort();
        payments.dedup();
        for payment in payments {
            let ours = observer.payments.get(&payment).copied().unwrap_or_default();
            let theirs = ledger.account(payment);
            let theirs = PayObs {
                authorized: theirs.authorized,
                captured: theirs.captured,
                refunded: theirs.refunded,
                paid_out: theirs.paid_out,
                voided: theirs.voided,
            };
            if ours != theirs {
                return Err(Violation::new(
                    LEDGER_AGREES,
                    format!("{payment}: our records say {ours}, the gateway's ledger {theirs}"),
                ));
            }
        }
        // projections_converge
        if let Some(models) = read_models {
            let mut folded = ReadModels::new();
            for (index, store) in stores.iter().enumerate() {
                if index == READ_MODELS.index() {
                    continue;
                }
                for entry in &store.entries {
                    // Versions counted by the fold, not taken from the entry: the fold
                    // checks that each stream's log is gapless as well.
                    if let Change::Event(published) = &entry.change {
                        folded.fold_next(published.stream, &published.event);
                    }
                }
            }
            if folded != *models {
                return Err(Violation::new(
                    PROJECTIONS_CONVERGE,
                    format!(
                        "the read models differ from the ones folded from the services' logs: {}",
                        read_model_difference(&folded, models)
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Which read model differs, and where: the model's name and both texts around the
/// first difference (the key sits just before it).
fn read_model_difference(expected: &ReadModels, found: &ReadModels) -> String {
    fn around(expected: &str, found: &str) -> String {
        let at = expected
            .bytes()
            .zip(found.bytes())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.len().min(found.len()));
        let cut = |text: &str| {
            let mut start = at.saturating_sub(90);
            while !text.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (at + 60).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            format!("…{}…", &text[start..end])
        };
        format!("expected {}, found {}", cut(expected), cut(found))
    }
    let (e, f) = (expected, found);
    let models: [(&str, &dyn std::fmt::Debug, &dyn std::fmt::Debug); 5] = [
        ("available_seats", &e.available_seats, &f.available_seats),
        ("sales", &e.sales, &f.sales),
        ("customer_history", &e.customer_history, &f.customer_history),
        ("venue_layout", &e.venue_layout, &f.venue_layout),
        ("stuck_payments", &e.stuck_payments, &f.stuck_payments),
    ];
    for (name, expected, found) in models {
        let (expected, found) = (format!("{expected:?}"), format!("{found:?}"));
        if expected != found {
            return format!("model `{name}`: {}", around(&expected, &found));
        }
    }

    "the models agree; the streams each has applied differ".to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn violation_texts_say_times_money_and_states_in_words() {
        assert_eq!(to_start(86_190_849), "23:56:30.849 before the start");
        assert_eq!(to_start(-1_500), "00:00:01.500 after the start");
        assert_eq!(
            to_start(3 * 86_400_000 + 89_999),
            "3d 00:01:29.999 before the start"
        );
        assert_eq!(signed_money(2000), "20.00");
        assert_eq!(signed_money(-350), "-3.50");
        assert_eq!(seat_state(Some(1)), "held");
        assert_eq!(seat_state(Some(SEAT_FREE)), "free");
        assert_eq!(seat_state(None), "not a seat of the section");
        let paid = PayObs {
            authorized: Money(2666),
            captured: Money(2666),
            voided: true,
            ..PayObs::default()
        };
        assert_eq!(
            paid.to_string(),
            "authorized 26.66, captured 26.66, refunded 0.00, paid out 0.00, voided"
        );
        assert_eq!(
            when(Timestamp(crate::layout::EPOCH_MS + 301_501)),
            "00:05:01.501"
        );
    }
}
