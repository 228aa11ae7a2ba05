//! Policy: the pricing tiers, the refund policy and the cut-offs, each in one place.
//!
//! Every boundary of SPEC.md is read here and nowhere else: "until X before the start"
//! means allowed while `start − now ≥ X`. The functions take instants and return the
//! tier or the percentage, so tests (and outside checkers) can judge any recorded
//! event with the same code.

use crate::money::{BasisPoints, Money, MoneyError};
use crate::time::{CHANGE_CUTOFF_MS, DAY_MS, Timestamp};
use serde::{Deserialize, Serialize};

/// Early bird from this far before the start (inclusive).
pub const EARLY_BIRD_MS_MIN: u64 = 30 * DAY_MS;
/// Regular from this far before the start (inclusive).
pub const REGULAR_MS_MIN: u64 = 7 * DAY_MS;
/// Full refund while strictly more than this before the start.
pub const FULL_REFUND_MS_MIN: u64 = 7 * DAY_MS;
/// Half refund from this far before the start (inclusive).
pub const HALF_REFUND_MS_MIN: u64 = 3 * DAY_MS;

/// The pricing tier in force when an order starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Tier {
    /// `d ≥ 30 days`: 80 %.
    EarlyBird,
    /// `7 days ≤ d < 30 days`: 100 %.
    Regular,
    /// `d < 7 days`: 110 %.
    LastMinute,
}

impl Tier {
    /// The tier for an order initiated at `initiated_at` for a show starting at `start_at`.
    pub fn at(initiated_at: Timestamp, start_at: Timestamp) -> Tier {
        let d = initiated_at.until(start_at);
        if d >= i128::from(EARLY_BIRD_MS_MIN) {
            Tier::EarlyBird
        } else if d >= i128::from(REGULAR_MS_MIN) {
            Tier::Regular
        } else {
            Tier::LastMinute
        }
    }

    /// The tier's factor in basis points.
    pub fn factor(self) -> BasisPoints {
        match self {
            Tier::EarlyBird => BasisPoints(8_000),
            Tier::Regular => BasisPoints(10_000),
            Tier::LastMinute => BasisPoints(11_000),
        }
    }
}

/// What an order pays: the tier, the price of one seat and the total for `quantity`
/// seats (priced per seat and summed).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Quote {
    /// The tier in force at `initiated_at`.
    pub tier: Tier,
    /// The section's base price.
    pub base_price: Money,
    /// One seat's price: `base_price` at the tier's factor, rounded half up.
    pub seat_price: Money,
    /// How many seats.
    pub quantity: u8,
    /// `seat_price × quantity`.
    pub total: Money,
}

/// The quote for `quantity` seats at `base_price` for an order initiated at
/// `initiated_at` for a show starting at `start_at`.
pub fn quote(
    base_price: Money,
    quantity: u8,
    initiated_at: Timestamp,
    start_at: Timestamp,
) -> Result<Quote, MoneyError> {
    let tier = Tier::at(initiated_at, start_at);
    let seat_price = base_price.percent(tier.factor())?;
    let total = Money::sum((0..quantity).map(|_| seat_price))?;
    Ok(Quote {
        tier,
        base_price,
        seat_price,
        quantity,
        total,
    })
}

/// The share of a ticket's price refunded when its owner cancels at `now`:
/// `d > 7 days` 100 %, `3 days ≤ d ≤ 7 days` 50 %, `d < 3 days` nothing.
pub fn refund_share(now: Timestamp, start_at: Timestamp) -> BasisPoints {
    let d = now.until(start_at);
    if d > i128::from(FULL_REFUND_MS_MIN) {
        BasisPoints::FULL
    } else if d >= i128::from(HALF_REFUND_MS_MIN) {
        BasisPoints(5_000)
    } else {
        BasisPoints::ZERO
    }
}

/// The refund for cancelling a ticket bought for `paid` at `now`.
pub fn cancellation_refund(
    paid: Money,
    now: Timestamp,
    start_at: Timestamp,
) -> Result<Money, MoneyError> {
    paid.percent(refund_share(now, start_at))
}

/// Whether changes guarded by the 24-hour rule (transfer, resale listing, show
/// cancellation) are still allowed: `start − now ≥ 24 h`.
pub fn before_change_cutoff(now: Timestamp, start_at: Timestamp) -> bool {
    now.until(start_at) >= i128::from(CHANGE_CUTOFF_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiers_switch_exactly_at_30_and_7_days() {
        let start = Timestamp(100 * DAY_MS);
        assert_eq!(Tier::at(Timestamp(70 * DAY_MS), start), Tier::EarlyBird);
        assert_eq!(Tier::at(Timestamp(70 * DAY_MS + 1), start), Tier::Regular);
        assert_eq!(Tier::at(Timestamp(93 * DAY_MS), start), Tier::Regular);
        assert_eq!(
            Tier::at(Timestamp(93 * DAY_MS + 1), start),
            Tier::LastMinute
        );
    }

    #[test]
    fn refunds_switch_at_7_and_3_days() {
        let start = Timestamp(100 * DAY_MS);
        assert_eq!(
            refund_share(Timestamp(93 * DAY_MS - 1), start),
            BasisPoints::FULL
        );
        assert_eq!(
            refund_share(Timestamp(93 * DAY_MS), start),
            BasisPoints(5_000)
        );
        assert_eq!(
            refund_share(Timestamp(97 * DAY_MS), start),
            BasisPoints(5_000)
        );
        assert_eq!(
            refund_share(Timestamp(97 * DAY_MS + 1), start),
            BasisPoints::ZERO
        );
    }
}
