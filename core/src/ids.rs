//! Identities: sender-chosen ids as `u64` newtypes, ids the core mints derived from
//! their parents, the actors that send commands, and the stable content fingerprint
//! idempotency compares.
//!
//! Nothing here draws randomness: a derived id is a pure function of the ids it comes
//! from (ticket `i` of order `o` is `TicketId { order: o, index: i }`), so a replay or a
//! retry names the same thing. Where a derived id must fit a `u64` (command ids of
//! messages between services) it is a stable hash with the top bit set, so it can never
//! collide with a client's id, which lives in the lower half.

use serde::{Deserialize, Serialize};
use std::hash::{Hash, Hasher};

macro_rules! id_newtype {
    ($(#[$doc:meta] $name:ident($inner:ty);)*) => {$(
        #[$doc]
        #[derive(
            Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize,
            Deserialize,
        )]
        pub struct $name(pub $inner);
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{}#{}", stringify!($name), self.0)
            }
        }
    )*};
}

id_newtype! {
    /// A show (the thing people buy tickets for), chosen by the organizer's client.
    ShowId(u64);
    /// An organizer account.
    OrganizerId(u64);
    /// A customer account.
    CustomerId(u64);
    /// A ticket order (one reservation saga), chosen by the customer's client.
    OrderId(u64);
    /// A resale purchase (one resale saga), chosen by the buying customer's client.
    ResaleId(u64);
    /// A command, chosen by its sender; retries reuse it.
    CommandId(u64);
    /// A section's position in its show's section list (0-based).
    SectionIndex(u32);
    /// A seat's position in its section's seat order (0-based, rows in listing order).
    SeatIndex(u32);
}

/// One inventory aggregate: a section of a show.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct SectionKey {
    /// The show.
    pub show: ShowId,
    /// The section within it.
    pub section: SectionIndex,
}

/// Ticket `index` (0-based, one per seat) of an order: minted by the core, collision-free
/// by construction.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct TicketId {
    /// The order that bought the ticket.
    pub order: OrderId,
    /// Its position among the order's seats.
    pub index: u8,
}

/// A payment: one per order and one per resale purchase.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum PaymentId {
    /// The payment of a ticket order.
    Order(OrderId),
    /// The payment of a resale purchase.
    Resale(ResaleId),
}

/// A refund: of payment `payment` for ticket `ticket`, or (`ticket: None`) the full
/// refund of a capture the saga undoes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RefundId {
    /// The payment the money goes back to.
    pub payment: PaymentId,
    /// The ticket refunded, or `None` for the whole capture.
    pub ticket: Option<TicketId>,
}

/// The payout to a reseller for resale `resale`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct PayoutId {
    /// The resale purchase whose seller is paid.
    pub resale: ResaleId,
}

/// Who sends a command. Stamped by the receiving service from the authenticated sender,
/// never read from a message body.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Actor {
    /// An organizer's session.
    Organizer(OrganizerId),
    /// A customer's session.
    Customer(CustomerId),
    /// One of our own services (the saga, inventory, payment, the gateway adapter).
    Service,
    /// A service's own timer.
    System,
}

/// Top bit of a derived command id: client ids live below it.
pub const DERIVED_COMMAND_BIT: u64 = 1 << 63;

impl CommandId {
    /// A command id derived from `parts`: the same parts always give the same id, and
    /// it has the top bit set so it never equals a client-chosen id.
    pub fn derive(parts: &[u64]) -> CommandId {
        let mut hasher = StableHasher::new();
        for part in parts {
            hasher.write_u64(*part);
        }
        CommandId(mix(hasher.finish()) | DERIVED_COMMAND_BIT)
    }

    /// Whether this id was derived by the core (top bit set).
    pub const fn is_derived(self) -> bool {
        self.0 & DERIVED_COMMAND_BIT != 0
    }
}

/// Tags that keep derived command ids of different purposes apart.
#[allow(missing_docs)]
pub mod tag {
    pub const INVENTORY_INIT: u64 = 1;
    pub const INVENTORY_PHASE: u64 = 2;
    pub const RESERVE: u64 = 3;
    pub const EXTEND: u64 = 4;
    pub const CONFIRM: u64 = 5;
    pub const RELEASE: u64 = 6;
    pub const UNSELL: u64 = 7;
    pub const AUTHORIZE: u64 = 8;
    pub const CAPTURE: u64 = 9;
    pub const VOID: u64 = 10;
    pub const REFUND: u64 = 11;
    pub const PAYOUT: u64 = 12;
    pub const ISSUE: u64 = 13;
    pub const REPLY: u64 = 14;
    pub const TIMER: u64 = 15;
    pub const SHOW_CANCELLED: u64 = 16;
    pub const RETURN_SEAT: u64 = 17;
    pub const TAKE_LISTING: u64 = 18;
    pub const RETURN_LISTING: u64 = 19;
    pub const COMPLETE_RESALE: u64 = 20;
}

/// splitmix64's finalizer: spreads the FNV state over all bits.
const fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// FNV-1a, 64 bit: a hasher whose output depends only on the bytes written, so
/// fingerprints are the same in every process (unlike `std`'s randomly keyed one).
#[derive(Clone, Debug)]
pub struct StableHasher(u64);

impl StableHasher {
    /// A hasher in its initial state.
    pub const fn new() -> StableHasher {
        StableHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Default for StableHasher {
    fn default() -> Self {
        StableHasher::new()
    }
}

impl Hasher for StableHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 ^= u64::from(*byte);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    // Integers are hashed whole, little-endian, so the fingerprint does not depend on
    // the platform and the hot path (ids, counts) costs one multiply per word.
    fn write_u64(&mut self, value: u64) {
        self.0 ^= value;
        self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        self.0 ^= self.0 >> 29;
    }

    fn write_u32(&mut self, value: u32) {
        self.write_u64(u64::from(value));
    }

    fn write_u8(&mut self, value: u8) {
        self.write_u64(u64::from(value));
    }

    fn write_usize(&mut self, value: usize) {
        self.write_u64(value as u64);
    }
}

/// The fingerprint of a command's content (its actor and body, not its id or `now`):
/// what idempotency compares when a command id comes back. It hashes the documented
/// [`crate::canonical`] encoding, so it does not depend on the compiler.
pub fn fingerprint<C: serde::Serialize>(actor: &Actor, body: &C) -> u64 {
    let mut hasher = StableHasher::new();
    crate::canonical::encode(actor, &mut hasher);
    crate::canonical::encode(body, &mut hasher);
    mix(hasher.finish())
}
