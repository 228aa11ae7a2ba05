//! Available seats: per show section, capacity, available, reserved, sold and blocked,
//! folded from the section's inventory events alone.

use super::{DomainEvent, Projection, StreamId};
use crate::inventory::{InventoryEvent, SalesPhase, SectionCounts};
use crate::{OrderId, SectionKey, ShowId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where an order's places are, as this model tracks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Claim {
    Held(u32),
    Sold { quantity: u32, returned: u32 },
    Gone,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Section {
    capacity: u32,
    reserved: u32,
    sold: u32,
    blocked: u32,
    claims: BTreeMap<OrderId, Claim>,
}

impl Section {
    fn release(&mut self, order: OrderId) {
        let claim = self.claims.entry(order).or_insert(Claim::Gone);
        if let Claim::Held(quantity) = *claim {
            self.reserved = self.reserved.saturating_sub(quantity);
            *claim = Claim::Gone;
        }
    }
}

/// The available-seats read model.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AvailableSeats {
    sections: BTreeMap<SectionKey, Section>,
}

impl AvailableSeats {
    /// The counts of one section, once initialized.
    pub fn section(&self, key: SectionKey) -> Option<SectionCounts> {
        let section = self.sections.get(&key)?;
        Some(SectionCounts {
            capacity: section.capacity,
            available: section
                .capacity
                .saturating_sub(section.blocked + section.reserved + section.sold),
            reserved: section.reserved,
            sold: section.sold,
            blocked: section.blocked,
        })
    }

    /// The counts of every section of `show`, by section.
    pub fn show(&self, show: ShowId) -> Vec<(SectionKey, SectionCounts)> {
        self.sections
            .keys()
            .filter(|key| key.show == show)
            .filter_map(|key| Some((*key, self.section(*key)?)))
            .collect()
    }
}

impl Projection for AvailableSeats {
    fn apply(&mut self, stream: StreamId, event: &DomainEvent) {
        let (StreamId::Inventory(key), DomainEvent::Inventory(recorded)) = (stream, event) else {
            return;
        };
        let section = self.sections.entry(key).or_default();
        match &recorded.event {
            InventoryEvent::Initialized { spec, .. } => section.capacity = spec.capacity,
            InventoryEvent::PhaseChanged {
                phase, released, ..
            } => {
                if *phase == SalesPhase::Ended {
                    for order in released {
                        section.release(*order);
                    }
                }
            }
            InventoryEvent::SeatsReserved {
                order, quantity, ..
            } => {
                section.reserved += u32::from(*quantity);
                section
                    .claims
                    .insert(*order, Claim::Held(u32::from(*quantity)));
            }
            InventoryEvent::HoldExtended { .. } => {}
            InventoryEvent::HoldConfirmed { order } => {
                if let Some(claim) = section.claims.get_mut(order)
                    && let Claim::Held(quantity) = *claim
                {
                    section.reserved = section.reserved.saturating_sub(quantity);
                    section.sold += quantity;
                    *claim = Claim::Sold {
                        quantity,
                        returned: 0,
                    };
                }
            }
            InventoryEvent::HoldReleased { order } | InventoryEvent::HoldExpired { order } => {
                section.release(*order);
            }
            InventoryEvent::SeatsUnsold { order } => {
                if let Some(claim) = section.claims.get_mut(order)
                    && let Claim::Sold { quantity, returned } = *claim
                {
                    section.sold = section.sold.saturating_sub(quantity - returned);
                    *claim = Claim::Gone;
                }
            }
            InventoryEvent::SeatsBlocked { count, .. } => section.blocked += count,
            InventoryEvent::SeatsUnblocked { count, .. } => {
                section.blocked = section.blocked.saturating_sub(*count);
            }
            InventoryEvent::SeatReturned { ticket } => {
                if let Some(Claim::Sold { returned, .. }) = section.claims.get_mut(&ticket.order) {
                    *returned += 1;
                    section.sold = section.sold.saturating_sub(1);
                }
            }
        }
    }
}
