//! Ids, times and money at the HTTP boundary: UUIDs, RFC 3339 and integer cents.
//!
//! Inside, ids stay the core's `u64`s. At the boundary every id we mint is a UUID
//! (version 8, "custom") that carries its kind and its `u64`: a show's UUID cannot be
//! read as an order's, and the mapping needs no table, so it survives any restart.
//! Internal ids we mint are below 2^62, so the variant bits never touch them.

use chrono::{DateTime, SecondsFormat, Utc};
use turnstile_core::{Money, Timestamp};
use uuid::Uuid;

/// The kind of thing a public id names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    /// A show.
    Show,
    /// An order.
    Order,
    /// A ticket (an order and an index).
    Ticket,
    /// A customer.
    Customer,
    /// An organizer.
    Organizer,
    /// A resale purchase.
    Resale,
}

impl Kind {
    fn tag(self) -> [u8; 4] {
        match self {
            Kind::Show => *b"show",
            Kind::Order => *b"ordr",
            Kind::Ticket => *b"tckt",
            Kind::Customer => *b"cust",
            Kind::Organizer => *b"orgn",
            Kind::Resale => *b"rsal",
        }
    }
}

/// The largest internal id we mint (exclusive).
pub const ID_LIMIT: u64 = 1 << 62;

/// The public UUID of an internal id of `kind`. `extra` is a ticket's index (0 for
/// every other kind).
pub fn public(kind: Kind, id: u64, extra: u8) -> Uuid {
    let mut bytes = [0u8; 16];
    bytes[..4].copy_from_slice(&kind.tag());
    bytes[5] = extra;
    bytes[8..].copy_from_slice(&id.to_be_bytes());
    Uuid::new_v8(bytes)
}

/// The internal id (and extra byte) a public UUID of `kind` carries, or `None` if it is
/// not one of ours of that kind.
pub fn internal(kind: Kind, uuid: &Uuid) -> Option<(u64, u8)> {
    let bytes = uuid.as_bytes();
    if bytes[..4] != kind.tag() || uuid.get_version_num() != 8 {
        return None;
    }
    let mut id = [0u8; 8];
    id.copy_from_slice(&bytes[8..]);
    // The variant bits sit in the top two bits of byte 8; our ids never use them.
    id[0] &= 0x3f;
    Some((u64::from_be_bytes(id), bytes[5]))
}

/// Parses a public id from a path segment.
pub fn parse(kind: Kind, text: &str) -> Option<(u64, u8)> {
    let uuid = Uuid::parse_str(text).ok()?;
    internal(kind, &uuid)
}

/// A fresh internal id (random, below [`ID_LIMIT`]).
pub fn fresh() -> u64 {
    let uuid = Uuid::new_v4();
    let (high, low) = uuid.as_u64_pair();
    (high ^ low) % ID_LIMIT
}

/// An id derived from `parts` (below [`ID_LIMIT`]): the same parts, the same id. Used
/// where an `Idempotency-Key` must name the same order on a retry.
pub fn derived(parts: &[&[u8]]) -> u64 {
    // FNV-1a, 64 bits: stable across builds and platforms.
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.iter().chain(&[0xff]) {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash % ID_LIMIT
}

/// A core timestamp as RFC 3339 (UTC, milliseconds).
pub fn time(at: Timestamp) -> String {
    DateTime::<Utc>::from_timestamp_millis(at.0 as i64)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// Parses an RFC 3339 time into a core timestamp (before 1970 is refused).
pub fn parse_time(text: &str) -> Option<Timestamp> {
    let at = DateTime::parse_from_rfc3339(text).ok()?;
    u64::try_from(at.timestamp_millis()).ok().map(Timestamp)
}

/// An order's status as the API spells it.
pub fn order_status(status: turnstile_core::order::OrderStatus) -> &'static str {
    use turnstile_core::order::OrderStatus;
    match status {
        OrderStatus::Reserving => "reserving",
        OrderStatus::AwaitingPayment => "awaiting_payment",
        OrderStatus::Extending => "extending",
        OrderStatus::Authorizing => "authorizing",
        OrderStatus::Confirming => "confirming",
        OrderStatus::Capturing => "capturing",
        OrderStatus::Completed => "completed",
        OrderStatus::Compensated => "compensated",
        OrderStatus::Expired => "expired",
        OrderStatus::Cancelled => "cancelled",
        OrderStatus::Rejected => "rejected",
    }
}

/// A payment as the read-model tables key it: its kind (`order` or `resale`) and id.
pub fn payment_key(payment: turnstile_core::PaymentId) -> (&'static str, u64) {
    match payment {
        turnstile_core::PaymentId::Order(order) => ("order", order.0),
        turnstile_core::PaymentId::Resale(resale) => ("resale", resale.0),
    }
}

/// A gateway operation as the API spells it, with the ticket a refund is for.
pub fn operation_name(
    operation: turnstile_core::payment::Operation,
) -> (&'static str, Option<turnstile_core::TicketId>) {
    use turnstile_core::payment::Operation;
    match operation {
        Operation::Authorize => ("authorize", None),
        Operation::Capture => ("capture", None),
        Operation::Void => ("void", None),
        Operation::Refund(refund) => ("refund", refund.ticket),
        Operation::Payout(_) => ("payout", None),
    }
}

/// A resale purchase's status as the API spells it.
pub fn resale_status(status: turnstile_core::ticket::resale::ResaleStatus) -> &'static str {
    use turnstile_core::ticket::resale::ResaleStatus;
    match status {
        ResaleStatus::Authorizing => "authorizing",
        ResaleStatus::Taking => "taking",
        ResaleStatus::Capturing => "capturing",
        ResaleStatus::Completing => "completing",
        ResaleStatus::Completed => "completed",
        ResaleStatus::Declined => "declined",
        ResaleStatus::Lost => "lost",
        ResaleStatus::Compensated => "compensated",
        ResaleStatus::Refunded => "refunded",
    }
}

/// Money as the boundary shows it: integer cents with the currency.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Amount {
    /// Cents.
    pub cents: u64,
    /// ISO 4217 code.
    pub currency: String,
}

impl Amount {
    /// `money` in `currency`.
    pub fn new(money: Money, currency: &str) -> Amount {
        Amount {
            cents: money.0,
            currency: currency.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_ids_round_trip_and_keep_their_kind() {
        for id in [0, 1, 42, ID_LIMIT - 1, fresh()] {
            let uuid = public(Kind::Order, id, 0);
            assert_eq!(internal(Kind::Order, &uuid), Some((id, 0)));
            assert_eq!(internal(Kind::Show, &uuid), None);
            assert_eq!(parse(Kind::Order, &uuid.to_string()), Some((id, 0)));
        }
        let ticket = public(Kind::Ticket, 7, 3);
        assert_eq!(internal(Kind::Ticket, &ticket), Some((7, 3)));
        assert_eq!(parse(Kind::Show, "not-a-uuid"), None);
        assert_eq!(internal(Kind::Show, &Uuid::new_v4()), None);
    }

    #[test]
    fn times_round_trip_at_millisecond_precision() {
        let at = Timestamp(1_780_000_000_123);
        assert_eq!(parse_time(&time(at)), Some(at));
        assert_eq!(parse_time("yesterday"), None);
        assert_eq!(parse_time("1960-01-01T00:00:00Z"), None);
    }
}
