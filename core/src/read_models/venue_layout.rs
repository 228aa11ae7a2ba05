//! Venue layout: per numbered seat, its label, row and status (available, blocked,
//! reserved, sold), folded from the section's inventory events alone.

use super::{DomainEvent, Projection, StreamId};
use crate::ids::SeatIndex;
use crate::inventory::seating::{SeatLayout, SeatState};
use crate::inventory::{InventoryEvent, SalesPhase, Seats};
use crate::{OrderId, SectionKey};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Arc;

/// One seat as shown to customers.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SeatView {
    /// Its label (`B-12`).
    pub label: String,
    /// Its row (`B`).
    pub row: String,
    /// Its status.
    pub status: SeatState,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Section {
    layout: Arc<SeatLayout>,
    states: Vec<SeatState>,
    // Seats per order, and which of them are still the order's (reserved or sold).
    claims: BTreeMap<OrderId, (Seats, u8)>,
}

impl Section {
    fn set(&mut self, seats: &[SeatIndex], state: SeatState) {
        for seat in seats {
            if let Some(slot) = self.states.get_mut(seat.0 as usize) {
                *slot = state;
            }
        }
    }

    fn free_order(&mut self, order: OrderId) {
        if let Some((seats, mask)) = self.claims.remove(&order) {
            let still: Vec<SeatIndex> = seats
                .iter()
                .enumerate()
                .filter(|(index, _)| mask & (1 << index) != 0)
                .map(|(_, seat)| *seat)
                .collect();
            self.set(&still, SeatState::Free);
        }
    }
}

/// The venue-layout read model (numbered sections only).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VenueLayout {
    sections: BTreeMap<SectionKey, Section>,
}

impl VenueLayout {
    /// Every seat of a numbered section, in seating order.
    pub fn seats(&self, key: SectionKey) -> Option<Vec<SeatView>> {
        let section = self.sections.get(&key)?;
        Some(
            section
                .states
                .iter()
                .enumerate()
                .map(|(index, status)| {
                    let seat = SeatIndex(index as u32);
                    SeatView {
                        label: section.layout.label(seat).unwrap_or_default().to_owned(),
                        row: section
                            .layout
                            .row_of(seat)
                            .map(|row| row.name.clone())
                            .unwrap_or_default(),
                        status: *status,
                    }
                })
                .collect(),
        )
    }

    /// Every seat's status in a numbered section, by seat index (cheap: no labels
    /// copied), for a store that writes only what changed.
    pub fn states(&self, key: SectionKey) -> Option<&[SeatState]> {
        self.sections
            .get(&key)
            .map(|section| section.states.as_slice())
    }

    /// One seat's status, by label.
    pub fn seat_status(&self, key: SectionKey, label: &str) -> Option<SeatState> {
        let section = self.sections.get(&key)?;
        let seat = section.layout.seat(label)?;
        section.states.get(seat.0 as usize).copied()
    }
}

impl Projection for VenueLayout {
    fn apply(&mut self, stream: StreamId, event: &DomainEvent) {
        let (StreamId::Inventory(key), DomainEvent::Inventory(recorded)) = (stream, event) else {
            return;
        };
        if let InventoryEvent::Initialized { spec, .. } = &recorded.event {
            if let Ok(layout) = spec.seat_labels.layout()
                && !layout.is_empty()
            {
                let states = vec![SeatState::Free; layout.len()];
                let claims = BTreeMap::new();
                self.sections.insert(
                    key,
                    Section {
                        layout,
                        states,
                        claims,
                    },
                );
            }
            return;
        }
        let Some(section) = self.sections.get_mut(&key) else {
            return;
        };
        match &recorded.event {
            InventoryEvent::Initialized { .. } => {}
            InventoryEvent::PhaseChanged {
                phase, released, ..
            } => {
                if *phase == SalesPhase::Ended {
                    for order in released {
                        section.free_order(*order);
                    }
                }
            }
            InventoryEvent::SeatsReserved {
                order,
                seats,
                quantity,
                ..
            } => {
                section.set(seats, SeatState::Reserved);
                let mask = crate::inventory::quantity_mask(*quantity);
                section.claims.insert(*order, (seats.clone(), mask));
            }
            InventoryEvent::HoldExtended { .. } => {}
            InventoryEvent::HoldConfirmed { order } => {
                if let Some((seats, _)) = section.claims.get(order).cloned() {
                    section.set(&seats, SeatState::Sold);
                }
            }
            InventoryEvent::HoldReleased { order }
            | InventoryEvent::HoldExpired { order }
            | InventoryEvent::SeatsUnsold { order } => section.free_order(*order),
            InventoryEvent::SeatsBlocked { seats, .. } => section.set(seats, SeatState::Blocked),
            InventoryEvent::SeatsUnblocked { seats, .. } => section.set(seats, SeatState::Free),
            InventoryEvent::SeatReturned { ticket } => {
                if let Some((seats, mask)) = section.claims.get_mut(&ticket.order)
                    && let Some(seat) = seats.get(usize::from(ticket.index)).copied()
                {
                    *mask &= !(1 << ticket.index);
                    section.set(&[seat], SeatState::Free);
                }
            }
        }
    }
}
