//! A deliberately naive model of one section's inventory, written from SPEC.md alone:
//! a plain vector of seats (or a counter for general admission), a map of holds, and
//! linear scans everywhere. It shares no code with the core but the command and id
//! types, so when the two disagree one of them misreads SPEC.md.

use std::collections::BTreeMap;
use turnstile_core::inventory::seating::SeatState;
use turnstile_core::inventory::{InventoryCommand, SalesPhase, SeatSelection};
use turnstile_core::time::PAYMENT_WINDOW_MS;
use turnstile_core::{Actor, CommandId, OrderId, OrganizerId, Timestamp};

/// One seat of a numbered section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Seat {
    Free,
    Held(OrderId),
    Sold(OrderId),
    Blocked,
}

/// Where an order's claim is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    Held,
    Sold,
    Released,
    Unsold,
}

/// One order's claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hold {
    pub claim: Claim,
    pub quantity: u32,
    /// Seat positions (numbered sections).
    pub seats: Vec<usize>,
    pub initiated_at: Timestamp,
    pub expires_at: Timestamp,
    pub extended: bool,
    /// Ticket indexes whose seat went back on sale.
    pub returned: Vec<u8>,
}

/// What the model concludes about one command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The state changes (seats chosen by a reserve, if any).
    Accept { seats: Option<Vec<usize>> },
    /// Nothing changes and nothing is refused (a repeat, an idempotent no-op).
    Nothing,
    /// Refused.
    Reject(&'static str),
}

/// The naive section.
#[derive(Clone, Debug)]
pub struct Model {
    pub organizer: OrganizerId,
    pub start_at: Timestamp,
    pub capacity: u32,
    /// Rows of seat labels (numbered), in seating order; empty for general admission.
    pub rows: Vec<Vec<String>>,
    pub seats: Vec<Seat>,
    /// General admission: places blocked.
    pub blocked_places: u32,
    pub holds: BTreeMap<OrderId, Hold>,
    pub phase: SalesPhase,
    pub phase_version: u64,
    pub last_now: Timestamp,
    pub accepted: BTreeMap<CommandId, (Actor, InventoryCommand)>,
}

impl Model {
    /// A numbered section with these rows (labels `ROW-n`), or general admission of
    /// `capacity` places when `rows` is empty.
    pub fn new(
        organizer: OrganizerId,
        start_at: Timestamp,
        rows: &[(&str, u32)],
        capacity: u32,
    ) -> Model {
        let rows: Vec<Vec<String>> = rows
            .iter()
            .map(|(row, len)| (1..=*len).map(|seat| format!("{row}-{seat}")).collect())
            .collect();
        let seat_count: usize = rows.iter().map(Vec::len).sum();
        Model {
            organizer,
            start_at,
            capacity: if rows.is_empty() {
                capacity
            } else {
                seat_count as u32
            },
            rows,
            seats: vec![Seat::Free; seat_count],
            blocked_places: 0,
            holds: BTreeMap::new(),
            phase: SalesPhase::Closed,
            phase_version: 0,
            last_now: Timestamp(0),
            accepted: BTreeMap::new(),
        }
    }

    fn numbered(&self) -> bool {
        !self.rows.is_empty()
    }

    fn position(&self, label: &str) -> Option<usize> {
        self.rows
            .iter()
            .flatten()
            .position(|candidate| candidate == label)
    }

    /// Places held by live or lapsed but unreleased holds.
    pub fn reserved(&self) -> u32 {
        self.holds
            .values()
            .filter(|hold| hold.claim == Claim::Held)
            .map(|hold| hold.quantity)
            .sum()
    }

    pub fn sold(&self) -> u32 {
        self.holds
            .values()
            .filter(|hold| hold.claim == Claim::Sold)
            .map(|hold| hold.quantity - hold.returned.len() as u32)
            .sum()
    }

    pub fn blocked(&self) -> u32 {
        if self.numbered() {
            self.seats
                .iter()
                .filter(|seat| **seat == Seat::Blocked)
                .count() as u32
        } else {
            self.blocked_places
        }
    }

    pub fn available(&self) -> u32 {
        self.capacity - self.reserved() - self.sold() - self.blocked()
    }

    /// Seat statuses as the venue layout shows them.
    pub fn seat_states(&self) -> Vec<SeatState> {
        self.seats
            .iter()
            .map(|seat| match seat {
                Seat::Free => SeatState::Free,
                Seat::Held(_) => SeatState::Reserved,
                Seat::Sold(_) => SeatState::Sold,
                Seat::Blocked => SeatState::Blocked,
            })
            .collect()
    }

    /// The lowest row with `quantity` adjacent free seats at its lowest first seat; else
    /// the lowest-ordered free seats.
    fn best_available(&self, quantity: usize) -> Option<Vec<usize>> {
        let mut first_of_row = 0;
        for row in &self.rows {
            for start in 0..row.len() {
                if start + quantity <= row.len()
                    && (start..start + quantity)
                        .all(|offset| self.seats[first_of_row + offset] == Seat::Free)
                {
                    return Some((first_of_row + start..first_of_row + start + quantity).collect());
                }
            }
            first_of_row += row.len();
        }
        let free: Vec<usize> = (0..self.seats.len())
            .filter(|seat| self.seats[*seat] == Seat::Free)
            .take(quantity)
            .collect();
        (free.len() == quantity).then_some(free)
    }

    fn live(&self, order: OrderId, now: Timestamp) -> Option<&Hold> {
        self.holds
            .get(&order)
            .filter(|hold| hold.claim == Claim::Held && now < hold.expires_at)
    }

    /// Labels to distinct seat positions in `wanted` state, or a refusal.
    fn pick(&self, labels: &[String], wanted: Seat) -> Result<Vec<usize>, &'static str> {
        if !self.numbered() {
            return Err("labels in general admission");
        }
        let mut seats = Vec::new();
        for label in labels {
            let seat = self.position(label).ok_or("unknown seat")?;
            if seats.contains(&seat) {
                return Err("duplicate seat");
            }
            if self.seats[seat] != wanted {
                return Err("seat not in the wanted state");
            }
            seats.push(seat);
        }
        Ok(seats)
    }

    /// Judge `body` without changing anything.
    pub fn judge(
        &self,
        id: CommandId,
        actor: Actor,
        now: Timestamp,
        body: &InventoryCommand,
    ) -> Verdict {
        use Verdict::{Accept, Nothing, Reject};
        if now < self.last_now {
            return Reject("time went backwards");
        }
        if let Some((seen_actor, seen_body)) = self.accepted.get(&id) {
            return if *seen_actor == actor && seen_body == body {
                Nothing
            } else {
                Reject("idempotency conflict")
            };
        }
        let service = actor == Actor::Service;
        match body {
            InventoryCommand::Initialize { .. } => Reject("already set up"),
            InventoryCommand::SetPhase { show_version, .. } => {
                if !service {
                    Reject("not authorized")
                } else if *show_version <= self.phase_version || self.phase == SalesPhase::Ended {
                    Nothing
                } else {
                    Accept { seats: None }
                }
            }
            InventoryCommand::Reserve {
                order,
                quantity,
                seats,
                expires_at,
                ..
            } => {
                if !service {
                    return Reject("not authorized");
                }
                if self.phase != SalesPhase::Open || now >= self.start_at {
                    return Reject("sales not open");
                }
                if *quantity == 0 || *quantity > 8 {
                    return Reject("invalid quantity");
                }
                if self.holds.contains_key(order) {
                    return Reject("order released or already reserved");
                }
                if *expires_at <= now {
                    return Reject("born expired");
                }
                if *quantity > self.available() {
                    return Reject("insufficient inventory");
                }
                match (seats, self.numbered()) {
                    (Some(_), false) => Reject("labels in general admission"),
                    (None, false) => Accept { seats: None },
                    (Some(labels), true) => {
                        if labels.len() != *quantity as usize {
                            return Reject("label count");
                        }
                        match self.pick(labels, Seat::Free) {
                            Ok(seats) => Accept { seats: Some(seats) },
                            Err(why) => Reject(why),
                        }
                    }
                    (None, true) => match self.best_available(*quantity as usize) {
                        Some(seats) => Accept { seats: Some(seats) },
                        None => Reject("insufficient inventory"),
                    },
                }
            }
            InventoryCommand::Extend { order, expires_at } => {
                if !service {
                    return Reject("not authorized");
                }
                let Some(hold) = self.live(*order, now) else {
                    return Reject("hold not live");
                };
                if hold.extended {
                    Reject("already extended")
                } else if *expires_at > hold.initiated_at.plus(PAYMENT_WINDOW_MS) {
                    Reject("beyond the payment window")
                } else if *expires_at <= hold.expires_at {
                    Reject("does not extend")
                } else {
                    Accept { seats: None }
                }
            }
            InventoryCommand::Confirm { order } => {
                if !service {
                    Reject("not authorized")
                } else if self.live(*order, now).is_some() {
                    Accept { seats: None }
                } else {
                    Reject("hold not live")
                }
            }
            InventoryCommand::Release { order } => {
                if !service {
                    return Reject("not authorized");
                }
                match self.holds.get(order).map(|hold| hold.claim) {
                    None | Some(Claim::Held) => Accept { seats: None },
                    Some(_) => Nothing,
                }
            }
            InventoryCommand::Unsell { order } => {
                if !service {
                    return Reject("not authorized");
                }
                match self.holds.get(order).map(|hold| hold.claim) {
                    None | Some(Claim::Held) | Some(Claim::Sold) => Accept { seats: None },
                    Some(_) => Nothing,
                }
            }
            InventoryCommand::ExpireHold { order } => {
                if actor != Actor::System {
                    return Reject("not authorized");
                }
                match self.holds.get(order) {
                    Some(hold) if hold.claim == Claim::Held && now >= hold.expires_at => {
                        Accept { seats: None }
                    }
                    _ => Nothing,
                }
            }
            InventoryCommand::Block(selection) | InventoryCommand::Unblock(selection) => {
                match actor {
                    Actor::Organizer(organizer) if organizer == self.organizer => {}
                    _ => return Reject("not the show's organizer"),
                }
                let block = matches!(body, InventoryCommand::Block(_));
                match selection {
                    SeatSelection::Labels(labels) => {
                        let wanted = if block { Seat::Free } else { Seat::Blocked };
                        match self.pick(labels, wanted) {
                            Ok(_) => Accept { seats: None },
                            Err(why) => Reject(why),
                        }
                    }
                    SeatSelection::Count(_) if self.numbered() => Reject("labels required"),
                    SeatSelection::Count(count) => {
                        if block && *count > self.available() {
                            Reject("insufficient inventory")
                        } else if !block && *count > self.blocked_places {
                            Reject("not that many blocked")
                        } else {
                            Accept { seats: None }
                        }
                    }
                }
            }
            InventoryCommand::ReturnSeat { ticket } => {
                if !service {
                    return Reject("not authorized");
                }
                match self.holds.get(&ticket.order) {
                    Some(hold)
                        if hold.claim == Claim::Sold && u32::from(ticket.index) < hold.quantity =>
                    {
                        if hold.returned.contains(&ticket.index) {
                            Nothing
                        } else {
                            Accept { seats: None }
                        }
                    }
                    _ => Reject("ticket not sold here"),
                }
            }
        }
    }

    fn free_hold(&mut self, order: OrderId) {
        let hold = self.holds.entry(order).or_insert(Hold {
            claim: Claim::Released,
            quantity: 0,
            seats: Vec::new(),
            initiated_at: Timestamp(0),
            expires_at: Timestamp(0),
            extended: false,
            returned: Vec::new(),
        });
        if hold.claim == Claim::Held {
            for seat in &hold.seats {
                self.seats[*seat] = Seat::Free;
            }
            hold.claim = Claim::Released;
        }
    }

    /// Carry out an accepted command.
    pub fn accept(
        &mut self,
        id: CommandId,
        actor: Actor,
        now: Timestamp,
        body: &InventoryCommand,
        seats: Option<Vec<usize>>,
    ) {
        self.last_now = self.last_now.max(now);
        self.accepted.insert(id, (actor, body.clone()));
        match body {
            InventoryCommand::Initialize { .. } => unreachable!("set up by the test"),
            InventoryCommand::SetPhase {
                show_version,
                phase,
            } => {
                self.phase = *phase;
                self.phase_version = *show_version;
                if *phase == SalesPhase::Ended {
                    let held: Vec<OrderId> = self
                        .holds
                        .iter()
                        .filter(|(_, hold)| hold.claim == Claim::Held)
                        .map(|(order, _)| *order)
                        .collect();
                    for order in held {
                        self.free_hold(order);
                    }
                }
            }
            InventoryCommand::Reserve {
                order,
                quantity,
                initiated_at,
                expires_at,
                ..
            } => {
                let seats = seats.unwrap_or_default();
                for seat in &seats {
                    assert_eq!(self.seats[*seat], Seat::Free, "the model double-booked");
                    self.seats[*seat] = Seat::Held(*order);
                }
                self.holds.insert(
                    *order,
                    Hold {
                        claim: Claim::Held,
                        quantity: *quantity,
                        seats,
                        initiated_at: *initiated_at,
                        expires_at: *expires_at,
                        extended: false,
                        returned: Vec::new(),
                    },
                );
            }
            InventoryCommand::Extend { order, expires_at } => {
                let hold = self.holds.get_mut(order).expect("live");
                hold.expires_at = *expires_at;
                hold.extended = true;
            }
            InventoryCommand::Confirm { order } => {
                let hold = self.holds.get_mut(order).expect("live");
                hold.claim = Claim::Sold;
                for seat in &hold.seats {
                    self.seats[*seat] = Seat::Sold(*order);
                }
            }
            InventoryCommand::Release { order } | InventoryCommand::ExpireHold { order } => {
                self.free_hold(*order);
            }
            InventoryCommand::Unsell { order } => {
                if self
                    .holds
                    .get(order)
                    .is_some_and(|hold| hold.claim == Claim::Sold)
                {
                    let hold = self.holds.get_mut(order).expect("sold");
                    for (index, seat) in hold.seats.iter().enumerate() {
                        if !hold.returned.contains(&(index as u8)) {
                            self.seats[*seat] = Seat::Free;
                        }
                    }
                    hold.claim = Claim::Unsold;
                } else {
                    self.free_hold(*order);
                }
            }
            InventoryCommand::Block(selection) | InventoryCommand::Unblock(selection) => {
                let block = matches!(body, InventoryCommand::Block(_));
                match selection {
                    SeatSelection::Labels(labels) => {
                        for label in labels {
                            let seat = self.position(label).expect("judged");
                            self.seats[seat] = if block { Seat::Blocked } else { Seat::Free };
                        }
                    }
                    SeatSelection::Count(count) => {
                        if block {
                            self.blocked_places += count;
                        } else {
                            self.blocked_places -= count;
                        }
                    }
                }
            }
            InventoryCommand::ReturnSeat { ticket } => {
                let hold = self.holds.get_mut(&ticket.order).expect("sold");
                hold.returned.push(ticket.index);
                if let Some(seat) = hold.seats.get(usize::from(ticket.index)) {
                    self.seats[*seat] = Seat::Free;
                }
            }
        }
    }
}
