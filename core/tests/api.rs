//! The core's small public helpers, pinned: what a decision hands its host, which
//! command ids are the core's own, and the canonical encoding's corners (found by
//! mutation testing, `tests/MUTANTS.md`).

use serde::ser::Error as _;
use turnstile_core::canonical::{EncodeError, canonical_bytes};
use turnstile_core::{
    Actor, CommandId, Decision, Effect, Effects, OrderId, Recorded, Timer, Timestamp,
};

#[test]
fn an_accepted_decision_hands_over_its_event_and_effects_and_the_others_none() {
    let mut effects = Effects::new();
    effects.push(Effect::Disarm(Timer::OrderExpiry { order: OrderId(3) }));
    let accepted = Decision::Accepted {
        event: Recorded {
            command: CommandId(7),
            actor: Actor::System,
            now: Timestamp(11),
            fingerprint: 13,
            event: "happened",
        },
        effects,
    };
    let event = accepted.event().expect("an accepted decision has an event");
    assert_eq!((event.command, event.event), (CommandId(7), "happened"));
    assert_eq!(
        accepted.effects(),
        &[Effect::Disarm(Timer::OrderExpiry { order: OrderId(3) })]
    );
    for other in [Decision::<&str>::Repeat { version: 1 }, Decision::Ignored] {
        assert!(other.event().is_none());
        assert!(other.effects().is_empty());
    }
}

#[test]
fn only_derived_command_ids_carry_the_top_bit() {
    assert!(CommandId::derive(&[1, 2]).is_derived());
    assert!(!CommandId(1).is_derived());
    assert!(!CommandId((1 << 62) | 5).is_derived());
    assert!(CommandId(1 << 63).is_derived());
}

#[test]
fn a_u128_is_two_little_endian_words_low_first_and_errors_say_their_message() {
    let value: u128 = (7 << 64) | 9;
    let mut expected = 9u64.to_le_bytes().to_vec();
    expected.extend_from_slice(&7u64.to_le_bytes());
    assert_eq!(canonical_bytes(&value), expected);
    assert_eq!(EncodeError::custom("no maps").to_string(), "no maps");
}
