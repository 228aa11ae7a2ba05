//! Money: integer cents with checked arithmetic and half-up basis-point percentages.
//!
//! Every amount in Turnstile is a `Money` (cents in a `u64`); there are no floats
//! anywhere. Overflow is a typed error ([`MoneyError::Overflow`]), never a wrap, so a
//! malformed price can be refused instead of panicking the core.

use serde::{Deserialize, Serialize};

/// An amount of money in integer cents.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Money(pub u64);

/// A percentage in basis points: `10_000` is 100 %.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct BasisPoints(pub u32);

impl BasisPoints {
    /// 100 %.
    pub const FULL: BasisPoints = BasisPoints(10_000);
    /// 0 %.
    pub const ZERO: BasisPoints = BasisPoints(0);
}

/// Why an amount could not be computed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum MoneyError {
    /// The result does not fit in a `u64` of cents.
    #[error("amount overflows u64 cents")]
    Overflow,
    /// A subtraction would go below zero.
    #[error("amount would go below zero")]
    Underflow,
}

impl Money {
    /// No money.
    pub const ZERO: Money = Money(0);

    /// The amount in cents.
    pub const fn cents(self) -> u64 {
        self.0
    }

    /// `self + other`, or `Overflow`.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.0
            .checked_add(other.0)
            .map(Money)
            .ok_or(MoneyError::Overflow)
    }

    /// `self - other`, or `Underflow`.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.0
            .checked_sub(other.0)
            .map(Money)
            .ok_or(MoneyError::Underflow)
    }

    /// `bp` basis points of `self`, rounded half up to the cent:
    /// `(amount * bp + 5_000) / 10_000`, computed without overflow or `Overflow`.
    pub fn percent(self, bp: BasisPoints) -> Result<Money, MoneyError> {
        // u128 holds any u64 * u32 + 5_000 exactly; only the final narrowing can fail.
        let wide = u128::from(self.0) * u128::from(bp.0) + 5_000;
        u64::try_from(wide / 10_000)
            .map(Money)
            .map_err(|_| MoneyError::Overflow)
    }

    /// The sum of `amounts`, or `Overflow`.
    pub fn sum<I: IntoIterator<Item = Money>>(amounts: I) -> Result<Money, MoneyError> {
        amounts
            .into_iter()
            .try_fold(Money::ZERO, Money::checked_add)
    }
}

impl std::fmt::Display for Money {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_rounds_half_up() {
        // 80 % of 1 cent is 0.8 → 1; 50 % of 1 cent is 0.5 → 1; 40 % of 1 cent → 0.
        assert_eq!(Money(1).percent(BasisPoints(8_000)), Ok(Money(1)));
        assert_eq!(Money(1).percent(BasisPoints(5_000)), Ok(Money(1)));
        assert_eq!(Money(1).percent(BasisPoints(4_000)), Ok(Money(0)));
        assert_eq!(Money(1_005).percent(BasisPoints(11_000)), Ok(Money(1_106)));
    }

    #[test]
    fn overflow_is_an_error_not_a_wrap() {
        assert_eq!(
            Money(u64::MAX).checked_add(Money(1)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money(u64::MAX).percent(BasisPoints(11_000)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money(u64::MAX).percent(BasisPoints(10_000)),
            Ok(Money(u64::MAX))
        );
        assert_eq!(Money(0).checked_sub(Money(1)), Err(MoneyError::Underflow));
    }
}
