//! SPEC.md's tables, written a second time from the text for the observer, sharing no
//! code with `turnstile_core::policy` (or the core's money and time helpers): a wrong
//! table in the core cannot agree with itself here. Plain integers — milliseconds and
//! cents — and the same reading of "until X before the start" (allowed while
//! `start − now ≥ X`). A property test checks the two implementations agree on random
//! and boundary inputs.

/// One hour, in milliseconds.
pub const HOUR: u64 = 3_600_000;
/// One day, in milliseconds.
pub const DAY: u64 = 24 * HOUR;
/// A hold's life: 5 minutes from the order's start.
pub const HOLD: u64 = 5 * 60_000;
/// The payment window: an extended hold lives at most 15 minutes from the order's start.
pub const PAYMENT_WINDOW: u64 = 15 * 60_000;
/// The cut-off for transfer, resale listing and taking, and show cancellation.
pub const CUTOFF: u64 = DAY;
/// Seats per order, at most: the observer's own copy of the rule (not the core's
/// `ORDER_QUANTITY_MAX`), so a wrong constant there is caught.
pub const QUANTITY_MAX: u32 = 8;

/// How long before the start `now` is (negative once started).
fn before_start(now_ms: u64, start_ms: u64) -> i128 {
    i128::from(start_ms) - i128::from(now_ms)
}

/// The pricing tiers of SPEC's table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tier {
    /// `d ≥ 30 days`: 80 %.
    EarlyBird,
    /// `7 days ≤ d < 30 days`: 100 %.
    Regular,
    /// `d < 7 days`: 110 %.
    LastMinute,
}

/// The tier in force for an order started at `initiated_ms` for a show at `start_ms`.
pub fn tier(initiated_ms: u64, start_ms: u64) -> Tier {
    let d = before_start(initiated_ms, start_ms);
    if d >= i128::from(30 * DAY) {
        Tier::EarlyBird
    } else if d >= i128::from(7 * DAY) {
        Tier::Regular
    } else {
        Tier::LastMinute
    }
}

/// `amount` at `percent` %, rounded half up to the cent (SPEC: basis points,
/// `(amount × bp + 5 000) / 10 000`); `None` on overflow.
fn percent_of(amount: u64, percent: u64) -> Option<u64> {
    let exact = u128::from(amount) * u128::from(percent) * 100 + 5_000;
    u64::try_from(exact / 10_000).ok()
}

/// One seat's price: the base price at the tier's factor.
pub fn seat_price(base_cents: u64, initiated_ms: u64, start_ms: u64) -> Option<u64> {
    let percent = match tier(initiated_ms, start_ms) {
        Tier::EarlyBird => 80,
        Tier::Regular => 100,
        Tier::LastMinute => 110,
    };
    percent_of(base_cents, percent)
}

/// An order's total: priced per seat and summed.
pub fn order_total(
    base_cents: u64,
    quantity: u32,
    initiated_ms: u64,
    start_ms: u64,
) -> Option<u64> {
    seat_price(base_cents, initiated_ms, start_ms)?.checked_mul(u64::from(quantity))
}

/// The refund percentage of a ticket cancelled by its owner at `now_ms`: more than 7
/// days before the start 100 %, from 3 to 7 days 50 %, under 3 days nothing.
pub fn refund_percent(now_ms: u64, start_ms: u64) -> u64 {
    let d = before_start(now_ms, start_ms);
    if d > i128::from(7 * DAY) {
        100
    } else if d >= i128::from(3 * DAY) {
        50
    } else {
        0
    }
}

/// The refund of a ticket bought for `paid_cents`, cancelled at `now_ms`.
pub fn cancellation_refund(paid_cents: u64, now_ms: u64, start_ms: u64) -> Option<u64> {
    percent_of(paid_cents, refund_percent(now_ms, start_ms))
}

/// Whether a change guarded by the 24-hour rule may happen at `now_ms`.
pub fn before_cutoff(now_ms: u64, start_ms: u64) -> bool {
    before_start(now_ms, start_ms) >= i128::from(CUTOFF)
}

/// Whether a hold of an order started at `initiated_ms` may expire at `expires_ms`:
/// born at 5 minutes, extended once to at most 15.
pub fn hold_expiry_allowed(initiated_ms: u64, expires_ms: u64) -> bool {
    expires_ms <= initiated_ms.saturating_add(PAYMENT_WINDOW)
}
