//! The observer's own model of SPEC's tables (`turnstile::spec`) and the core's policy
//! (`turnstile_core::policy`) are two implementations written apart; they must agree on
//! every input — random instants, every boundary and the millisecond either side, and
//! prices up to the largest that cannot overflow.

use proptest::prelude::*;
use turnstile::spec;
use turnstile_core::policy::{
    Tier, before_change_cutoff, cancellation_refund, quote, refund_share,
};
use turnstile_core::{Money, Timestamp};

const START: u64 = 400 * spec::DAY;

/// Instants around every boundary of SPEC: 30 and 7 days (pricing), 7 and 3 days
/// (refunds), 24 hours (cut-off) and the start itself, each ±1 ms.
fn boundary_instants() -> Vec<u64> {
    let mut instants = Vec::new();
    for before in [30 * spec::DAY, 7 * spec::DAY, 3 * spec::DAY, spec::DAY, 0] {
        for delta in [-1i64, 0, 1] {
            instants.push((START - before).saturating_add_signed(delta));
        }
    }
    instants.push(START + spec::DAY);
    instants
}

fn agree(base: u64, quantity: u8, now: u64, paid: u64) -> Result<(), TestCaseError> {
    let (at, start) = (Timestamp(now), Timestamp(START));
    let tier = match spec::tier(now, START) {
        spec::Tier::EarlyBird => Tier::EarlyBird,
        spec::Tier::Regular => Tier::Regular,
        spec::Tier::LastMinute => Tier::LastMinute,
    };
    let core = quote(Money(base), quantity, at, start).ok();
    prop_assert_eq!(core.map(|q| q.tier), Some(tier), "tier at {}", now);
    prop_assert_eq!(
        core.map(|q| q.seat_price.0),
        spec::seat_price(base, now, START)
    );
    prop_assert_eq!(
        core.map(|q| q.total.0),
        spec::order_total(base, u32::from(quantity), now, START)
    );
    prop_assert_eq!(
        u64::from(refund_share(at, start).0),
        spec::refund_percent(now, START) * 100,
        "refund share at {}",
        now
    );
    prop_assert_eq!(
        cancellation_refund(Money(paid), at, start)
            .ok()
            .map(|m| m.0),
        spec::cancellation_refund(paid, now, START)
    );
    prop_assert_eq!(
        before_change_cutoff(at, start),
        spec::before_cutoff(now, START),
        "cut-off at {}",
        now
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn the_two_policies_agree_at_random_instants(
        base in 1u64..1_000_000_000,
        quantity in 1u8..=8,
        now in 0u64..START + 2 * spec::DAY,
        paid in 0u64..10_000_000_000,
    ) {
        agree(base, quantity, now, paid)?;
    }

    #[test]
    fn the_two_policies_agree_at_every_boundary(
        base in prop_oneof![Just(1u64), Just(3), Just(4_999), Just(u64::MAX / 11_000), 1u64..100_000],
        quantity in 1u8..=8,
        index in 0usize..17,
        paid in prop_oneof![Just(0u64), Just(1), Just(u64::MAX / 10_000), 0u64..100_000],
    ) {
        let instants = boundary_instants();
        agree(base, quantity, instants[index % instants.len()], paid)?;
    }
}

#[test]
fn every_boundary_is_where_spec_puts_it() {
    // Pins down: the observer's model itself, at SPEC's literal boundaries.
    let at = |before: u64| START - before;
    assert_eq!(spec::tier(at(30 * spec::DAY), START), spec::Tier::EarlyBird);
    assert_eq!(
        spec::tier(at(30 * spec::DAY) + 1, START),
        spec::Tier::Regular
    );
    assert_eq!(spec::tier(at(7 * spec::DAY), START), spec::Tier::Regular);
    assert_eq!(
        spec::tier(at(7 * spec::DAY) + 1, START),
        spec::Tier::LastMinute
    );
    assert_eq!(spec::refund_percent(at(7 * spec::DAY) - 1, START), 100);
    assert_eq!(spec::refund_percent(at(7 * spec::DAY), START), 50);
    assert_eq!(spec::refund_percent(at(3 * spec::DAY), START), 50);
    assert_eq!(spec::refund_percent(at(3 * spec::DAY) + 1, START), 0);
    assert!(spec::before_cutoff(at(spec::DAY), START));
    assert!(!spec::before_cutoff(at(spec::DAY) + 1, START));
    assert_eq!(
        spec::seat_price(4_999, at(31 * spec::DAY), START),
        Some(3_999)
    );
    assert_eq!(spec::seat_price(4_999, at(spec::DAY), START), Some(5_499));
    assert_eq!(
        spec::cancellation_refund(3_333, at(5 * spec::DAY), START),
        Some(1_667)
    );
}
