//! The inventory aggregate: one per show section, the only judge of who holds or owns
//! which places.
//!
//! A **hold** is an order's temporary claim (seats *reserved* until `expires_at`), an
//! organizer **block** takes seats out of sale, a seat is **sold** once its hold is
//! confirmed. `available = capacity − blocked − reserved − sold` is computed, never
//! stored. Every order that ever touched the section keeps a small record here, so a
//! release that overtakes its reserve still refuses the reserve when it arrives.

pub mod seating;

use crate::ids::{SeatIndex, TicketId};
use crate::show::{SectionKind, SectionSpec};
use crate::time::{PAYMENT_WINDOW_MS, Timestamp};
use crate::{
    Actor, Admission, Aggregate, ArmedTimer, Decision, Effect, Effects, Envelope, GuardError,
    Journal, OrderId, OrganizerId, Recorded, SectionKey, Timer, applied_found, applied_sub,
    recorded,
};
use seating::{LayoutProblem, SeatLayout, SeatList, SeatMap, SeatState};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

pub use seating::SeatList as Seats;

/// A section holds at most this many places.
pub const SECTION_CAPACITY_MAX: u32 = 1_000_000;
/// One order takes at most this many places.
pub const ORDER_QUANTITY_MAX: u32 = 8;
/// A section name is at most this many bytes.
pub const SECTION_NAME_BYTES_MAX: usize = 200;

/// Why a section description is malformed.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum SectionProblem {
    /// Capacity 0.
    #[error("capacity must be at least 1")]
    ZeroCapacity,
    /// Capacity above [`SECTION_CAPACITY_MAX`].
    #[error("capacity above the limit")]
    CapacityTooLarge,
    /// Base price 0.
    #[error("base price must be above zero")]
    ZeroPrice,
    /// Name longer than [`SECTION_NAME_BYTES_MAX`].
    #[error("section name too long")]
    NameTooLong,
    /// A general-admission section lists seat labels.
    #[error("a general-admission section lists no seats")]
    LabelsOnGeneralAdmission,
    /// A numbered section lists a number of labels other than its capacity.
    #[error("{listed} seat labels listed for capacity {capacity}")]
    SeatCountMismatch {
        /// Labels listed.
        listed: u32,
        /// Declared capacity.
        capacity: u32,
    },
    /// The labels do not form rows.
    #[error(transparent)]
    Layout(#[from] LayoutProblem),
}

/// Check a section description: capacity ≥ 1, price > 0, labels exactly per SPEC.
pub fn validate_section(spec: &SectionSpec) -> Result<Option<Arc<SeatLayout>>, SectionProblem> {
    if spec.capacity == 0 {
        return Err(SectionProblem::ZeroCapacity);
    }
    if spec.capacity > SECTION_CAPACITY_MAX {
        return Err(SectionProblem::CapacityTooLarge);
    }
    if spec.base_price.cents() == 0 {
        return Err(SectionProblem::ZeroPrice);
    }
    if spec.name.len() > SECTION_NAME_BYTES_MAX {
        return Err(SectionProblem::NameTooLong);
    }
    match spec.kind {
        SectionKind::GeneralAdmission if !spec.seat_labels.is_empty() => {
            Err(SectionProblem::LabelsOnGeneralAdmission)
        }
        SectionKind::GeneralAdmission => Ok(None),
        SectionKind::Numbered => {
            if spec.seat_labels.len() != spec.capacity as usize {
                return Err(SectionProblem::SeatCountMismatch {
                    listed: u32::try_from(spec.seat_labels.len()).unwrap_or(u32::MAX),
                    capacity: spec.capacity,
                });
            }
            Ok(Some(spec.seat_labels.layout()?))
        }
    }
}

/// Whether the section sells, as told by its show.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SalesPhase {
    /// Not selling (draft, published, sales closed).
    #[default]
    Closed,
    /// Selling.
    Open,
    /// The show started or was cancelled: closed for good, holds released.
    Ended,
}

/// Which places an organizer blocks or unblocks.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SeatSelection {
    /// Numbered seats by label.
    Labels(Vec<String>),
    /// A number of general-admission places.
    Count(u32),
}

/// What can be asked of a section's inventory.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InventoryCommand {
    /// Set the section up (service, from the show's creation).
    Initialize {
        /// The section (names the stream).
        section: SectionKey,
        /// The show's organizer: the only one who may block seats.
        organizer: OrganizerId,
        /// The show's start: no reserve at or after it.
        start_at: Timestamp,
        /// The section.
        spec: SectionSpec,
    },
    /// The show's sales phase as of show version `show_version` (service).
    SetPhase {
        /// The show's stream version: older phases are ignored.
        show_version: u64,
        /// The phase.
        phase: SalesPhase,
    },
    /// Hold places for an order (service, from the saga).
    Reserve {
        /// The order.
        order: OrderId,
        /// 1..=8.
        quantity: u32,
        /// Specific seats (numbered sections only), or best available.
        seats: Option<Vec<String>>,
        /// When the order started (bounds the extension).
        initiated_at: Timestamp,
        /// When the hold lapses; must be after `now`.
        expires_at: Timestamp,
    },
    /// Extend a live hold once, up to `initiated_at + 15 min` (service).
    Extend {
        /// The order.
        order: OrderId,
        /// The new expiry.
        expires_at: Timestamp,
    },
    /// Turn a live hold into a sale (service).
    Confirm {
        /// The order.
        order: OrderId,
    },
    /// Free an order's unconfirmed hold and refuse any later reserve for it (service).
    Release {
        /// The order.
        order: OrderId,
    },
    /// Return the seats sold to an order that never completed (service).
    Unsell {
        /// The order.
        order: OrderId,
    },
    /// A hold's expiry timer fired (system).
    ExpireHold {
        /// The order.
        order: OrderId,
    },
    /// Take free places out of sale (the show's organizer).
    Block(SeatSelection),
    /// Put blocked places back on sale (the show's organizer).
    Unblock(SeatSelection),
    /// A cancelled ticket's place goes back on sale (service, from the ticket).
    ReturnSeat {
        /// The cancelled ticket.
        ticket: TicketId,
    },
}

/// What happened in a section.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum InventoryEvent {
    /// The section exists.
    Initialized {
        /// The section.
        section: SectionKey,
        /// The show's organizer.
        organizer: OrganizerId,
        /// The show's start.
        start_at: Timestamp,
        /// The section.
        spec: SectionSpec,
    },
    /// The sales phase changed; on `Ended` every hold was released.
    PhaseChanged {
        /// The show version it reflects.
        show_version: u64,
        /// The phase.
        phase: SalesPhase,
        /// Orders whose holds were released by it.
        released: Vec<OrderId>,
    },
    /// An order holds places.
    SeatsReserved {
        /// The order.
        order: OrderId,
        /// How many.
        quantity: u8,
        /// Which seats (empty in general admission).
        seats: SeatList,
        /// When the order started.
        initiated_at: Timestamp,
        /// When the hold lapses.
        expires_at: Timestamp,
    },
    /// A hold was extended.
    HoldExtended {
        /// The order.
        order: OrderId,
        /// The new expiry.
        expires_at: Timestamp,
    },
    /// A hold became a sale.
    HoldConfirmed {
        /// The order.
        order: OrderId,
    },
    /// An order's hold (if any) was released; the order can no longer reserve here.
    HoldReleased {
        /// The order.
        order: OrderId,
    },
    /// A hold lapsed.
    HoldExpired {
        /// The order.
        order: OrderId,
    },
    /// An order's sold places went back on sale.
    SeatsUnsold {
        /// The order.
        order: OrderId,
    },
    /// Places taken out of sale.
    SeatsBlocked {
        /// Numbered seats.
        seats: Vec<SeatIndex>,
        /// General-admission places.
        count: u32,
    },
    /// Places put back on sale.
    SeatsUnblocked {
        /// Numbered seats.
        seats: Vec<SeatIndex>,
        /// General-admission places.
        count: u32,
    },
    /// A cancelled ticket's place is back on sale.
    SeatReturned {
        /// The ticket.
        ticket: TicketId,
    },
}

/// Why an inventory command was refused.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum InventoryError {
    /// A rejection every aggregate shares: time going backwards, a reused command id,
    /// or the wrong kind of actor.
    #[error(transparent)]
    Guard(#[from] GuardError),
    /// Only the show's organizer may block or unblock.
    #[error("only the show's organizer may block or unblock seats")]
    NotShowOrganizer,
    /// The section was not initialized yet.
    #[error("the section is not set up")]
    SectionNotInitialized,
    /// `Initialize` twice.
    #[error("the section is already set up")]
    AlreadyInitialized,
    /// The section description is malformed.
    #[error("invalid section: {problem}")]
    InvalidSection {
        /// What is wrong.
        problem: SectionProblem,
    },
    /// Sales are not open (or the show has started).
    #[error("sales are not open")]
    SalesNotOpen,
    /// The show has started: nothing more is held or sold.
    #[error("the show has started")]
    ShowStarted,
    /// Quantity outside 1..=8.
    #[error("quantity {quantity} is outside 1..={}", ORDER_QUANTITY_MAX)]
    InvalidQuantity {
        /// The quantity asked.
        quantity: u32,
    },
    /// The order was released here; a late reserve is refused.
    #[error("order {order} was already released")]
    OrderReleased {
        /// The order.
        order: OrderId,
    },
    /// The order already reserved here.
    #[error("order {order} already reserved")]
    OrderAlreadyReserved {
        /// The order.
        order: OrderId,
    },
    /// `expires_at ≤ now`: a hold is never born dead.
    #[error("the hold would be born expired")]
    HoldBornExpired,
    /// Not enough places available.
    #[error("{requested} requested, {available} available")]
    InsufficientInventory {
        /// Places asked.
        requested: u32,
        /// Places available.
        available: u32,
    },
    /// Seat labels given for a general-admission section.
    #[error("general admission has no seat labels")]
    LabelsOnGeneralAdmission,
    /// A numbered section's places are named by label, not counted.
    #[error("a numbered section's seats are named by label")]
    LabelsRequired,
    /// The number of labels differs from the quantity.
    #[error("{listed} seats named for quantity {quantity}")]
    SeatCountMismatch {
        /// Labels given.
        listed: u32,
        /// Quantity asked.
        quantity: u32,
    },
    /// No seat has this label.
    #[error("no seat {label:?}")]
    UnknownSeat {
        /// The label.
        label: String,
    },
    /// A label is named twice.
    #[error("seat {label:?} named twice")]
    DuplicateSeat {
        /// The label.
        label: String,
    },
    /// The seat is not free.
    #[error("seat {label:?} is not free")]
    SeatNotFree {
        /// The label.
        label: String,
    },
    /// The seat is not blocked.
    #[error("seat {label:?} is not blocked")]
    SeatNotBlocked {
        /// The label.
        label: String,
    },
    /// More places to unblock than are blocked.
    #[error("{requested} to unblock, {blocked} blocked")]
    NotThatManyBlocked {
        /// Places asked.
        requested: u32,
        /// Places blocked.
        blocked: u32,
    },
    /// The hold is released, expired, confirmed or unknown.
    #[error("order {order} has no live hold")]
    HoldNotLive {
        /// The order.
        order: OrderId,
    },
    /// A hold is extended at most once.
    #[error("order {order}'s hold was already extended")]
    AlreadyExtended {
        /// The order.
        order: OrderId,
    },
    /// Extension past `initiated_at + 15 min`.
    #[error("extension beyond the payment window ending at {limit:?}")]
    BeyondPaymentWindow {
        /// The window's end.
        limit: Timestamp,
    },
    /// The new expiry is not later than the current one.
    #[error("the extension does not extend")]
    ExtensionNotLater,
    /// The hold is already sold.
    #[error("order {order}'s hold is already confirmed")]
    AlreadyConfirmed {
        /// The order.
        order: OrderId,
    },
    /// The ticket's place was not sold here.
    #[error("ticket {ticket:?} has no sold seat here")]
    TicketNotSold {
        /// The ticket.
        ticket: TicketId,
    },
}

/// Where an order's places are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum HoldStatus {
    /// Reserved (live while `now < expires_at`).
    Held,
    /// Confirmed.
    Sold,
    /// Released or expired (or released before any reserve arrived).
    Released,
    /// Sold, then returned.
    Unsold,
}

/// One order's claim in this section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderSeats {
    /// Where the places are.
    pub status: HoldStatus,
    /// How many places.
    pub quantity: u8,
    /// Which seats (empty in general admission).
    pub seats: SeatList,
    /// When the order started.
    pub initiated_at: Timestamp,
    /// When the hold lapses.
    pub expires_at: Timestamp,
    /// Whether the hold was extended.
    pub extended: bool,
    /// Bit `i` set: ticket `i`'s place was returned after a cancellation.
    pub returned: u8,
}

impl OrderSeats {
    fn unreturned(&self) -> u32 {
        u32::from(self.quantity) - (self.returned & quantity_mask(self.quantity)).count_ones()
    }
}

// An order's returned tickets are bits of a `u8`: one per seat it can hold.
const _: () = assert!(ORDER_QUANTITY_MAX <= u8::BITS);

/// The bits of an order's `quantity` tickets in a returned-seats mask.
pub(crate) fn quantity_mask(quantity: u8) -> u8 {
    if u32::from(quantity) >= u8::BITS {
        u8::MAX
    } else {
        (1u8 << quantity) - 1
    }
}

/// The fixed facts of an initialized section.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionSetup {
    /// The section.
    pub section: SectionKey,
    /// The show's organizer.
    pub organizer: OrganizerId,
    /// The show's start.
    pub start_at: Timestamp,
    /// Numbered or general admission.
    pub kind: SectionKind,
    /// How many places.
    pub capacity: u32,
}

/// The state of one section's inventory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inventory {
    /// Version, last `now`, idempotency records.
    pub journal: Journal,
    setup: Option<SectionSetup>,
    seats: Option<SeatMap>,
    phase: SalesPhase,
    phase_version: u64,
    reserved: u32,
    sold: u32,
    blocked: u32,
    orders: BTreeMap<OrderId, OrderSeats>,
}

/// A section's counts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SectionCounts {
    /// Places in the section.
    pub capacity: u32,
    /// `capacity − blocked − reserved − sold`.
    pub available: u32,
    /// In unconfirmed holds.
    pub reserved: u32,
    /// Sold.
    pub sold: u32,
    /// Blocked by the organizer.
    pub blocked: u32,
}

impl Inventory {
    /// The fixed facts, once initialized.
    pub fn setup(&self) -> Option<&SectionSetup> {
        self.setup.as_ref()
    }

    /// The current sales phase.
    pub fn phase(&self) -> SalesPhase {
        self.phase
    }

    /// Places on sale now: `capacity − blocked − reserved − sold`.
    pub fn available(&self) -> u32 {
        let capacity = self.setup.as_ref().map_or(0, |setup| setup.capacity);
        capacity.saturating_sub(self.blocked + self.reserved + self.sold)
    }

    /// All counts.
    pub fn counts(&self) -> SectionCounts {
        SectionCounts {
            capacity: self.setup.as_ref().map_or(0, |setup| setup.capacity),
            available: self.available(),
            reserved: self.reserved,
            sold: self.sold,
            blocked: self.blocked,
        }
    }

    /// The seat map of a numbered section.
    pub fn seat_map(&self) -> Option<&SeatMap> {
        self.seats.as_ref()
    }

    /// An order's claim here.
    pub fn order(&self, order: OrderId) -> Option<&OrderSeats> {
        self.orders.get(&order)
    }

    /// Every order's claim, by order id.
    pub fn orders(&self) -> impl Iterator<Item = (&OrderId, &OrderSeats)> {
        self.orders.iter()
    }

    /// Whether `order`'s hold is live at `now`: held, unconfirmed and `now < expires_at`.
    pub fn hold_is_live(&self, order: OrderId, now: Timestamp) -> bool {
        self.orders
            .get(&order)
            .is_some_and(|hold| hold.status == HoldStatus::Held && now < hold.expires_at)
    }

    fn require_setup(&self) -> Result<&SectionSetup, InventoryError> {
        self.setup
            .as_ref()
            .ok_or(InventoryError::SectionNotInitialized)
    }

    /// Nothing more is bought at or after the start, even before the show's "ended"
    /// phase reaches the section.
    fn before_start(&self, now: Timestamp) -> Result<(), InventoryError> {
        match self.setup.as_ref() {
            Some(setup) if now >= setup.start_at => Err(InventoryError::ShowStarted),
            _ => Ok(()),
        }
    }

    fn live_hold(&self, order: OrderId, now: Timestamp) -> Result<&OrderSeats, InventoryError> {
        match self.orders.get(&order) {
            Some(hold) if hold.status == HoldStatus::Held && now < hold.expires_at => Ok(hold),
            Some(hold) if hold.status == HoldStatus::Sold => {
                Err(InventoryError::AlreadyConfirmed { order })
            }
            _ => Err(InventoryError::HoldNotLive { order }),
        }
    }

    fn labels_to_seats(
        &self,
        labels: &[String],
        wanted: SeatState,
    ) -> Result<Vec<SeatIndex>, InventoryError> {
        let Some(map) = self.seats.as_ref() else {
            return Err(InventoryError::LabelsOnGeneralAdmission);
        };
        let mut seats: Vec<SeatIndex> = Vec::with_capacity(labels.len());
        let mut seen = std::collections::BTreeSet::new();
        for label in labels {
            let seat = map
                .layout()
                .seat(label)
                .ok_or_else(|| InventoryError::UnknownSeat {
                    label: label.clone(),
                })?;
            if !seen.insert(seat) {
                return Err(InventoryError::DuplicateSeat {
                    label: label.clone(),
                });
            }
            if map.state(seat) != Some(wanted) {
                return Err(if wanted == SeatState::Free {
                    InventoryError::SeatNotFree {
                        label: label.clone(),
                    }
                } else {
                    InventoryError::SeatNotBlocked {
                        label: label.clone(),
                    }
                });
            }
            seats.push(seat);
        }
        Ok(seats)
    }

    fn decide_reserve(
        &self,
        now: Timestamp,
        order: OrderId,
        quantity: u32,
        labels: Option<&Vec<String>>,
        initiated_at: Timestamp,
        expires_at: Timestamp,
    ) -> Result<InventoryEvent, InventoryError> {
        let setup = self.require_setup()?;
        if self.phase != SalesPhase::Open || now >= setup.start_at {
            return Err(InventoryError::SalesNotOpen);
        }
        if quantity == 0 || quantity > ORDER_QUANTITY_MAX {
            return Err(InventoryError::InvalidQuantity { quantity });
        }
        match self.orders.get(&order).map(|claim| claim.status) {
            Some(HoldStatus::Released) => return Err(InventoryError::OrderReleased { order }),
            Some(_) => return Err(InventoryError::OrderAlreadyReserved { order }),
            None => {}
        }
        if expires_at <= now {
            return Err(InventoryError::HoldBornExpired);
        }
        let available = self.available();
        if quantity > available {
            return Err(InventoryError::InsufficientInventory {
                requested: quantity,
                available,
            });
        }
        let seats = match (labels, self.seats.as_ref()) {
            (Some(_), None) => return Err(InventoryError::LabelsOnGeneralAdmission),
            (None, None) => SeatList::new(),
            (Some(labels), Some(_)) => {
                if labels.len() != quantity as usize {
                    return Err(InventoryError::SeatCountMismatch {
                        listed: u32::try_from(labels.len()).unwrap_or(u32::MAX),
                        quantity,
                    });
                }
                self.labels_to_seats(labels, SeatState::Free)?
                    .into_iter()
                    .collect()
            }
            (None, Some(map)) => map.best_available(quantity as usize).ok_or(
                InventoryError::InsufficientInventory {
                    requested: quantity,
                    available,
                },
            )?,
        };
        Ok(InventoryEvent::SeatsReserved {
            order,
            quantity: quantity as u8,
            seats,
            initiated_at,
            expires_at,
        })
    }

    fn decide_body(
        &self,
        command: &Envelope<InventoryCommand>,
    ) -> Result<Option<InventoryEvent>, InventoryError> {
        let now = command.now;
        let actor = command.actor;
        let expect = |wanted: Actor| {
            if actor == wanted {
                Ok(())
            } else {
                Err(InventoryError::Guard(GuardError::NotAuthorized { actor }))
            }
        };
        let event = match &command.body {
            InventoryCommand::Initialize {
                section,
                organizer,
                start_at,
                spec,
            } => {
                expect(Actor::Service)?;
                if self.setup.is_some() {
                    return Err(InventoryError::AlreadyInitialized);
                }
                validate_section(spec)
                    .map_err(|problem| InventoryError::InvalidSection { problem })?;
                InventoryEvent::Initialized {
                    section: *section,
                    organizer: *organizer,
                    start_at: *start_at,
                    spec: spec.clone(),
                }
            }
            InventoryCommand::SetPhase {
                show_version,
                phase,
            } => {
                expect(Actor::Service)?;
                if *show_version <= self.phase_version || self.phase == SalesPhase::Ended {
                    return Ok(None);
                }
                let released = if *phase == SalesPhase::Ended {
                    self.orders
                        .iter()
                        .filter(|(_, claim)| claim.status == HoldStatus::Held)
                        .map(|(order, _)| *order)
                        .collect()
                } else {
                    Vec::new()
                };
                InventoryEvent::PhaseChanged {
                    show_version: *show_version,
                    phase: *phase,
                    released,
                }
            }
            InventoryCommand::Reserve {
                order,
                quantity,
                seats,
                initiated_at,
                expires_at,
            } => {
                expect(Actor::Service)?;
                self.decide_reserve(
                    now,
                    *order,
                    *quantity,
                    seats.as_ref(),
                    *initiated_at,
                    *expires_at,
                )?
            }
            InventoryCommand::Extend { order, expires_at } => {
                expect(Actor::Service)?;
                self.before_start(now)?;
                let hold = self.live_hold(*order, now)?;
                if hold.extended {
                    return Err(InventoryError::AlreadyExtended { order: *order });
                }
                let limit = hold.initiated_at.plus(PAYMENT_WINDOW_MS);
                if *expires_at > limit {
                    return Err(InventoryError::BeyondPaymentWindow { limit });
                }
                if *expires_at <= hold.expires_at {
                    return Err(InventoryError::ExtensionNotLater);
                }
                InventoryEvent::HoldExtended {
                    order: *order,
                    expires_at: *expires_at,
                }
            }
            InventoryCommand::Confirm { order } => {
                expect(Actor::Service)?;
                self.before_start(now)?;
                self.live_hold(*order, now)?;
                InventoryEvent::HoldConfirmed { order: *order }
            }
            InventoryCommand::Release { order } => {
                expect(Actor::Service)?;
                match self.orders.get(order).map(|claim| claim.status) {
                    None | Some(HoldStatus::Held) => InventoryEvent::HoldReleased { order: *order },
                    // Already released, or sold: release never touches sold seats.
                    Some(_) => return Ok(None),
                }
            }
            InventoryCommand::Unsell { order } => {
                expect(Actor::Service)?;
                match self.orders.get(order).map(|claim| claim.status) {
                    Some(HoldStatus::Sold) => InventoryEvent::SeatsUnsold { order: *order },
                    // Never confirmed: the same undo as a release, which also refuses a
                    // reserve still in flight.
                    None | Some(HoldStatus::Held) => InventoryEvent::HoldReleased { order: *order },
                    Some(_) => return Ok(None),
                }
            }
            InventoryCommand::ExpireHold { order } => {
                expect(Actor::System)?;
                match self.orders.get(order) {
                    Some(hold) if hold.status == HoldStatus::Held && now >= hold.expires_at => {
                        InventoryEvent::HoldExpired { order: *order }
                    }
                    _ => return Ok(None),
                }
            }
            InventoryCommand::Block(selection) | InventoryCommand::Unblock(selection) => {
                let setup = self.require_setup()?;
                match actor {
                    Actor::Organizer(organizer) if organizer == setup.organizer => {}
                    Actor::Organizer(_) => return Err(InventoryError::NotShowOrganizer),
                    _ => return Err(InventoryError::Guard(GuardError::NotAuthorized { actor })),
                }
                let block = matches!(command.body, InventoryCommand::Block(_));
                let (seats, count) = match selection {
                    SeatSelection::Labels(labels) => {
                        let wanted = if block {
                            SeatState::Free
                        } else {
                            SeatState::Blocked
                        };
                        let seats = self.labels_to_seats(labels, wanted)?;
                        let count = seats.len() as u32;
                        (seats, count)
                    }
                    SeatSelection::Count(_) if self.seats.is_some() => {
                        return Err(InventoryError::LabelsRequired);
                    }
                    SeatSelection::Count(count) => (Vec::new(), *count),
                };
                if block && count > self.available() {
                    return Err(InventoryError::InsufficientInventory {
                        requested: count,
                        available: self.available(),
                    });
                }
                if !block && count > self.blocked {
                    return Err(InventoryError::NotThatManyBlocked {
                        requested: count,
                        blocked: self.blocked,
                    });
                }
                if block {
                    InventoryEvent::SeatsBlocked { seats, count }
                } else {
                    InventoryEvent::SeatsUnblocked { seats, count }
                }
            }
            InventoryCommand::ReturnSeat { ticket } => {
                expect(Actor::Service)?;
                match self.orders.get(&ticket.order) {
                    Some(claim)
                        if claim.status == HoldStatus::Sold && ticket.index < claim.quantity =>
                    {
                        if claim.returned & (1 << ticket.index) != 0 {
                            return Ok(None);
                        }
                        InventoryEvent::SeatReturned { ticket: *ticket }
                    }
                    _ => return Err(InventoryError::TicketNotSold { ticket: *ticket }),
                }
            }
        };
        Ok(Some(event))
    }

    fn effects_of(&self, event: &InventoryEvent) -> Effects {
        let mut effects = Effects::new();
        let Some(setup) = self.setup.as_ref() else {
            return effects;
        };
        let section = setup.section;
        match event {
            InventoryEvent::SeatsReserved {
                order, expires_at, ..
            }
            | InventoryEvent::HoldExtended { order, expires_at } => {
                effects.push(Effect::Arm(ArmedTimer {
                    timer: Timer::HoldExpiry {
                        section,
                        order: *order,
                    },
                    at: *expires_at,
                }));
            }
            InventoryEvent::HoldConfirmed { order }
            | InventoryEvent::HoldReleased { order }
            | InventoryEvent::HoldExpired { order } => {
                effects.push(Effect::Disarm(Timer::HoldExpiry {
                    section,
                    order: *order,
                }));
            }
            InventoryEvent::PhaseChanged { released, .. } => {
                effects.extend(released.iter().map(|order| {
                    Effect::Disarm(Timer::HoldExpiry {
                        section,
                        order: *order,
                    })
                }));
            }
            _ => {}
        }
        effects
    }

    fn release_hold(&mut self, order: OrderId) {
        let claim = self.orders.entry(order).or_insert_with(|| OrderSeats {
            status: HoldStatus::Released,
            quantity: 0,
            seats: SeatList::new(),
            initiated_at: Timestamp(0),
            expires_at: Timestamp(0),
            extended: false,
            returned: 0,
        });
        if claim.status == HoldStatus::Held {
            self.reserved = applied_sub(self.reserved, u32::from(claim.quantity), "reserved");
            if let Some(map) = self.seats.as_mut() {
                map.set(&claim.seats, SeatState::Free);
            }
        }
        if claim.status != HoldStatus::Sold {
            claim.status = HoldStatus::Released;
        }
    }
}

impl Aggregate for Inventory {
    type Command = InventoryCommand;
    type Event = InventoryEvent;
    type Error = InventoryError;
    type Context = ();

    fn decide(
        &self,
        _context: &(),
        command: &Envelope<InventoryCommand>,
    ) -> Result<Decision<InventoryEvent>, InventoryError> {
        let fingerprint = match self.journal.admit(command)? {
            Admission::Repeat { version } => return Ok(Decision::Repeat { version }),
            Admission::Fresh { fingerprint } => fingerprint,
        };
        let Some(event) = self.decide_body(command)? else {
            return Ok(Decision::Ignored);
        };
        let effects = self.effects_of(&event);
        Ok(Decision::Accepted {
            event: recorded(command, fingerprint, event),
            effects,
        })
    }

    fn apply(&mut self, event: &Recorded<InventoryEvent>) {
        self.journal.record(event);
        match &event.event {
            InventoryEvent::Initialized {
                section,
                organizer,
                start_at,
                spec,
            } => {
                // The layout was validated when decided; a replayed log holds only
                // decided events, so a failure here is impossible and leaves the
                // section without seats rather than panicking.
                self.seats = validate_section(spec).ok().flatten().map(SeatMap::new);
                self.setup = Some(SectionSetup {
                    section: *section,
                    organizer: *organizer,
                    start_at: *start_at,
                    kind: spec.kind,
                    capacity: spec.capacity,
                });
            }
            InventoryEvent::PhaseChanged {
                show_version,
                phase,
                released,
            } => {
                self.phase_version = *show_version;
                self.phase = *phase;
                for order in released {
                    self.release_hold(*order);
                }
            }
            InventoryEvent::SeatsReserved {
                order,
                quantity,
                seats,
                initiated_at,
                expires_at,
            } => {
                self.reserved += u32::from(*quantity);
                if let Some(map) = self.seats.as_mut() {
                    map.set(seats, SeatState::Reserved);
                }
                self.orders.insert(
                    *order,
                    OrderSeats {
                        status: HoldStatus::Held,
                        quantity: *quantity,
                        seats: seats.clone(),
                        initiated_at: *initiated_at,
                        expires_at: *expires_at,
                        extended: false,
                        returned: 0,
                    },
                );
            }
            InventoryEvent::HoldExtended { order, expires_at } => {
                if let Some(claim) = self.orders.get_mut(order) {
                    claim.expires_at = *expires_at;
                    claim.extended = true;
                }
            }
            InventoryEvent::HoldConfirmed { order } => {
                if let Some(claim) = applied_found(self.orders.get_mut(order), "the confirmed hold")
                {
                    debug_assert_eq!(
                        claim.status,
                        HoldStatus::Held,
                        "apply: confirm of {order:?}"
                    );
                    claim.status = HoldStatus::Sold;
                    self.reserved =
                        applied_sub(self.reserved, u32::from(claim.quantity), "reserved");
                    self.sold += u32::from(claim.quantity);
                    if let Some(map) = self.seats.as_mut() {
                        map.set(&claim.seats, SeatState::Sold);
                    }
                }
            }
            InventoryEvent::HoldReleased { order } | InventoryEvent::HoldExpired { order } => {
                self.release_hold(*order);
            }
            InventoryEvent::SeatsUnsold { order } => {
                if let Some(claim) = applied_found(self.orders.get_mut(order), "the unsold order") {
                    self.sold = applied_sub(self.sold, claim.unreturned(), "sold");
                    if let Some(map) = self.seats.as_mut() {
                        let seats: SeatList = claim
                            .seats
                            .iter()
                            .enumerate()
                            .filter(|(index, _)| claim.returned & (1 << index) == 0)
                            .map(|(_, seat)| *seat)
                            .collect();
                        map.set(&seats, SeatState::Free);
                    }
                    claim.status = HoldStatus::Unsold;
                }
            }
            InventoryEvent::SeatsBlocked { seats, count } => {
                self.blocked += count;
                if let Some(map) = self.seats.as_mut() {
                    map.set(seats, SeatState::Blocked);
                }
            }
            InventoryEvent::SeatsUnblocked { seats, count } => {
                self.blocked = applied_sub(self.blocked, *count, "blocked");
                if let Some(map) = self.seats.as_mut() {
                    map.set(seats, SeatState::Free);
                }
            }
            InventoryEvent::SeatReturned { ticket } => {
                if let Some(claim) = applied_found(
                    self.orders.get_mut(&ticket.order),
                    "the returned seat's order",
                ) {
                    claim.returned |= 1 << ticket.index;
                    self.sold = applied_sub(self.sold, 1, "sold");
                    if let (Some(map), Some(seat)) = (
                        self.seats.as_mut(),
                        claim.seats.get(usize::from(ticket.index)),
                    ) {
                        map.set(&[*seat], SeatState::Free);
                    }
                }
            }
        }
    }

    fn timers(&self) -> Vec<ArmedTimer> {
        let Some(setup) = self.setup.as_ref() else {
            return Vec::new();
        };
        self.orders
            .iter()
            .filter(|(_, claim)| claim.status == HoldStatus::Held)
            .map(|(order, claim)| ArmedTimer {
                timer: Timer::HoldExpiry {
                    section: setup.section,
                    order: *order,
                },
                at: claim.expires_at,
            })
            .collect()
    }

    fn version(&self) -> u64 {
        self.journal.version
    }
}

#[cfg(test)]
mod random_tests {
    use super::*;
    use crate::host::Stream;
    use crate::money::Money;
    use crate::read_models::{AvailableSeats, DomainEvent, Projection, StreamId, VenueLayout};
    use crate::{CommandId, SectionIndex, ShowId};

    /// A section of `labels.len()` seats: numbered with those labels, or general
    /// admission of that capacity.
    fn section_spec(numbered: bool, labels: &[String]) -> SectionSpec {
        SectionSpec {
            name: "S".into(),
            kind: if numbered {
                SectionKind::Numbered
            } else {
                SectionKind::GeneralAdmission
            },
            capacity: labels.len() as u32,
            seat_labels: if numbered {
                labels.to_vec().into()
            } else {
                Default::default()
            },
            base_price: Money(100),
        }
    }

    /// Random command sequences never oversell, keep counts and seat states in step,
    /// leave state unchanged when rejected, replay exactly and agree with the read
    /// models. Order ids come from pools of three sizes: with 40 most commands meet
    /// an order of their own; with 6 or 3 (a window sliding along the ids), reserve,
    /// extend, confirm, return, unsell, release and expire follow one another on the
    /// same order.
    #[test]
    fn random_commands_keep_every_invariant() {
        let pools = [
            (40, 0x2545_f491_4f6c_dd1du64),
            (6, 0x9e37_79b9_7f4a_7c15),
            (3, 0xd1b5_4a32_d192_ed03),
        ];
        for (ids, seed) in pools {
            random_commands_on(ids, seed);
        }
    }

    fn random_commands_on(ids: u64, seed: u64) {
        let small = ids < 40;
        let mut rng = seed;
        let mut next = move |bound: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % bound
        };
        for numbered in [true, false] {
            let key = SectionKey {
                show: ShowId(1),
                section: SectionIndex(0),
            };
            let labels: Vec<String> = (0..60)
                .map(|seat| format!("R{}-{}", seat / 12, seat % 12))
                .collect();
            let spec = section_spec(numbered, &labels);
            let mut stream = Stream::<Inventory>::new();
            let mut available = AvailableSeats::default();
            let mut layout = VenueLayout::default();
            let mut now = Timestamp(1_000);
            let organizer = OrganizerId(3);
            let setup = [
                InventoryCommand::Initialize {
                    section: key,
                    organizer,
                    start_at: Timestamp(u64::MAX / 2),
                    spec,
                },
                InventoryCommand::SetPhase {
                    show_version: 3,
                    phase: SalesPhase::Open,
                },
            ];
            let mut commands: Vec<(Actor, InventoryCommand, Timestamp)> = setup
                .into_iter()
                .map(|body| (Actor::Service, body, now))
                .collect();
            for step in 0..3_000u64 {
                // A small pool slides one id along every 25 steps: an order ends for
                // good (its id is never reserved again), so a fixed small pool would
                // soon hold only ended orders.
                let base = if small { step / 25 } else { 0 };
                let order = OrderId(base + next(ids));
                // Small pools favour the steps that follow a reservation over the
                // ones that end an order (a release ends even an order never reserved).
                const FOLLOW_UPS: [u64; 13] = [0, 1, 2, 3, 3, 4, 4, 7, 7, 5, 6, 8, 9];
                let kind = if small {
                    FOLLOW_UPS[next(13) as usize]
                } else {
                    next(10)
                };
                let body = match kind {
                    0..=2 => InventoryCommand::Reserve {
                        order,
                        quantity: next(10) as u32,
                        seats: (numbered && next(2) == 0).then(|| {
                            (0..1 + next(3))
                                .map(|_| labels[next(60) as usize].clone())
                                .collect()
                        }),
                        initiated_at: now,
                        expires_at: now.plus(next(5_000)),
                    },
                    3 => InventoryCommand::Extend {
                        order,
                        expires_at: now.plus(next(20_000)),
                    },
                    4 => InventoryCommand::Confirm { order },
                    5 => InventoryCommand::Release { order },
                    6 => InventoryCommand::Unsell { order },
                    7 => InventoryCommand::ReturnSeat {
                        ticket: TicketId {
                            order,
                            index: next(9) as u8,
                        },
                    },
                    8 => InventoryCommand::ExpireHold { order },
                    _ => {
                        let selection = if numbered {
                            SeatSelection::Labels(vec![labels[next(60) as usize].clone()])
                        } else {
                            SeatSelection::Count(next(4) as u32)
                        };
                        if next(2) == 0 {
                            InventoryCommand::Block(selection)
                        } else {
                            InventoryCommand::Unblock(selection)
                        }
                    }
                };
                let actor = match &body {
                    InventoryCommand::ExpireHold { .. } => Actor::System,
                    InventoryCommand::Block(_) | InventoryCommand::Unblock(_) => {
                        Actor::Organizer(organizer)
                    }
                    _ => Actor::Service,
                };
                commands.push((actor, body, now));
                now = now.plus(next(if small { 200 } else { 700 }));
            }
            for (index, (actor, body, now)) in commands.into_iter().enumerate() {
                let before = stream.state().clone();
                let command = Envelope::new(CommandId(index as u64), actor, now, body);
                match stream.handle(&(), &command) {
                    Err(_) => assert_eq!(stream.state(), &before),
                    Ok(handled) => {
                        if let Some(event) = handled.event() {
                            let event = DomainEvent::Inventory(event.clone());
                            available.apply(StreamId::Inventory(key), &event);
                            layout.apply(StreamId::Inventory(key), &event);
                        }
                    }
                }
                let state = stream.state();
                let counts = state.counts();
                assert!(counts.blocked + counts.reserved + counts.sold <= counts.capacity);
                assert_eq!(
                    counts.available + counts.blocked + counts.reserved + counts.sold,
                    counts.capacity
                );
                let held: u32 = state
                    .orders()
                    .filter(|(_, claim)| claim.status == HoldStatus::Held)
                    .map(|(_, claim)| u32::from(claim.quantity))
                    .sum();
                assert_eq!(held, counts.reserved);
                if let Some(map) = state.seat_map() {
                    let count =
                        |wanted| map.states().iter().filter(|s| **s == wanted).count() as u32;
                    assert_eq!(count(SeatState::Reserved), counts.reserved);
                    assert_eq!(count(SeatState::Sold), counts.sold);
                    assert_eq!(count(SeatState::Blocked), counts.blocked);
                    let seats = layout.seats(key).unwrap();
                    let statuses: Vec<SeatState> = seats.iter().map(|seat| seat.status).collect();
                    assert_eq!(statuses, map.states());
                }
                assert_eq!(available.section(key), Some(counts));
            }
            assert_eq!(&Stream::<Inventory>::replay(stream.log()), stream.state());
            assert!(
                stream.log().len() > 200,
                "the sequence must exercise the rules ({ids} order ids: {} events)",
                stream.log().len()
            );
            if small {
                // What the small pools are for: steps of one order after one another.
                let mut returned = std::collections::BTreeSet::new();
                let mut extended = std::collections::BTreeSet::new();
                let (mut unsold_after_return, mut confirmed_after_extend) = (0, 0);
                for recorded in stream.log() {
                    match &recorded.event {
                        InventoryEvent::SeatReturned { ticket } => {
                            returned.insert(ticket.order);
                        }
                        InventoryEvent::SeatsUnsold { order } if returned.contains(order) => {
                            unsold_after_return += 1;
                        }
                        InventoryEvent::HoldExtended { order, .. } => {
                            extended.insert(*order);
                        }
                        InventoryEvent::HoldConfirmed { order } if extended.contains(order) => {
                            confirmed_after_extend += 1;
                        }
                        _ => {}
                    }
                }
                assert!(
                    unsold_after_return > 0 && confirmed_after_extend > 0,
                    "{ids} order ids: {unsold_after_return} unsold after a return, \
                     {confirmed_after_extend} confirmed after an extension"
                );
            }
        }
    }

    /// A sold order with a seat returned, then unsold as a whole (the saga never
    /// unsells a completed order, but the inventory accepts the sequence, so its read
    /// models must follow it): only the seats still sold are freed, not the returned
    /// one that another order bought meanwhile.
    #[test]
    fn an_order_unsold_after_a_seat_was_returned_frees_only_the_seats_still_sold() {
        for numbered in [true, false] {
            let key = SectionKey {
                show: ShowId(1),
                section: SectionIndex(0),
            };
            let labels: Vec<String> = (1..=6).map(|seat| format!("A-{seat}")).collect();
            let spec = section_spec(numbered, &labels);
            let now = Timestamp(1_000);
            let reserve = |order, seats: Option<&[&str]>, quantity| InventoryCommand::Reserve {
                order: OrderId(order),
                quantity,
                seats: seats.map(|seats| seats.iter().map(|s| (*s).to_owned()).collect()),
                initiated_at: now,
                expires_at: now.plus(60_000),
            };
            let (first, returned) = if numbered {
                (Some(&["A-1", "A-2", "A-3"][..]), Some(&["A-2"][..]))
            } else {
                (None, None)
            };
            let commands = [
                InventoryCommand::Initialize {
                    section: key,
                    organizer: OrganizerId(3),
                    start_at: Timestamp(u64::MAX / 2),
                    spec,
                },
                InventoryCommand::SetPhase {
                    show_version: 3,
                    phase: SalesPhase::Open,
                },
                reserve(1, first, 3),
                InventoryCommand::Confirm { order: OrderId(1) },
                InventoryCommand::ReturnSeat {
                    ticket: crate::TicketId {
                        order: OrderId(1),
                        index: 1,
                    },
                },
                reserve(2, returned, 1),
                InventoryCommand::Confirm { order: OrderId(2) },
                InventoryCommand::Unsell { order: OrderId(1) },
            ];
            let mut stream = Stream::<Inventory>::new();
            let mut available = AvailableSeats::default();
            let mut layout = VenueLayout::default();
            for (index, body) in commands.into_iter().enumerate() {
                let command = Envelope::new(CommandId(index as u64), Actor::Service, now, body);
                let handled = stream.handle(&(), &command).expect("accepted");
                let event = DomainEvent::Inventory(handled.event().expect("recorded").clone());
                available.apply(StreamId::Inventory(key), &event);
                layout.apply(StreamId::Inventory(key), &event);
            }
            let counts = stream.state().counts();
            assert_eq!(
                (counts.sold, counts.available),
                (1, 5),
                "numbered: {numbered}"
            );
            assert_eq!(available.section(key), Some(counts));
            if numbered {
                let map = stream.state().seat_map().unwrap();
                assert_eq!(layout.states(key), Some(map.states()));
                assert_eq!(layout.seat_status(key, "A-2"), Some(SeatState::Sold));
                assert_eq!(layout.seat_status(key, "A-1"), Some(SeatState::Free));
                assert_eq!(layout.seat_status(key, "Z-9"), None);
            } else {
                assert_eq!(layout.states(key), None);
            }
        }
    }
}
