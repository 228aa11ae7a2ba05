//! Time: instants in milliseconds, passed in with every command, never read from a clock.
//!
//! The hosting service stamps `now` on each command from its own clock; the core only
//! compares and adds. Durations are plain `u64` milliseconds with the unit last in
//! the name, and every cut-off of SPEC.md is a constant here so there is one reading.

use serde::{Deserialize, Serialize};

/// Milliseconds in a second.
pub const SECOND_MS: u64 = 1_000;
/// Milliseconds in a minute.
pub const MINUTE_MS: u64 = 60 * SECOND_MS;
/// Milliseconds in an hour.
pub const HOUR_MS: u64 = 60 * MINUTE_MS;
/// Milliseconds in a day.
pub const DAY_MS: u64 = 24 * HOUR_MS;

/// How long a fresh hold lives: `expires_at = initiated_at + 5 min`.
pub const HOLD_DURATION_MS: u64 = 5 * MINUTE_MS;
/// The payment window: a hold is never extended beyond `initiated_at + 15 min`.
pub const PAYMENT_WINDOW_MS: u64 = 15 * MINUTE_MS;
/// Transfers, resale listings and show cancellation need `start − now ≥ 24 h`.
pub const CHANGE_CUTOFF_MS: u64 = 24 * HOUR_MS;

/// An instant: milliseconds since the Unix epoch (UTC).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// `self + duration_ms`, saturating at the end of time (a far-future instant is
    /// still later than every real one, which is all the rules need).
    pub const fn plus(self, duration_ms: u64) -> Timestamp {
        Timestamp(self.0.saturating_add(duration_ms))
    }

    /// `until − self` in ms as a signed quantity: negative once `until` has passed.
    pub const fn until(self, until: Timestamp) -> i128 {
        until.0 as i128 - self.0 as i128
    }

    /// The UTC day number (days since the epoch) this instant falls in.
    pub const fn utc_day(self) -> u64 {
        self.0 / DAY_MS
    }
}
