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

#[test]
fn a_payment_refusing_an_authorization_or_a_capture_outright_is_told_to_the_saga_that_asked() {
    use turnstile_core::Message;
    use turnstile_core::order::{self, OrderCommand, PaymentFailure};
    use turnstile_core::payment::{PaymentCommand, PaymentError, PaymentMethod};
    use turnstile_core::ticket::resale::{self, ResaleCommand};
    use turnstile_core::{CustomerId, Money, PaymentId, ResaleId};
    let authorize = PaymentCommand::Authorize {
        payment: PaymentId::Order(OrderId(5)),
        customer: CustomerId(1),
        amount: Money(100),
        method: PaymentMethod { token: 1 },
    };
    let error = PaymentError::PaymentAlreadyExists;
    let refused = PaymentFailure::Refused(error.clone());
    let request = CommandId(77);
    let order_body = |command: &PaymentCommand| {
        order::input_from_payment_rejection(OrderId(5), request, command, &error).map(|message| {
            let Message::Order { order, id, body } = message else {
                panic!("{message:?} is not for the order");
            };
            assert_eq!(order, OrderId(5));
            assert_ne!(id, request, "the answer has an id of its own");
            body
        })
    };
    assert_eq!(
        order_body(&authorize),
        Some(OrderCommand::AuthorizationFailed {
            reason: refused.clone()
        })
    );
    assert_eq!(
        order_body(&PaymentCommand::Capture),
        Some(OrderCommand::CaptureFailed {
            reason: refused.clone()
        })
    );
    assert_eq!(order_body(&PaymentCommand::Void), None);
    let resale_body = |command: &PaymentCommand| {
        resale::input_from_payment_rejection(ResaleId(6), request, command, &error).map(|message| {
            let Message::Resale { resale, body, .. } = message else {
                panic!("{message:?} is not for the resale");
            };
            assert_eq!(resale, ResaleId(6));
            body
        })
    };
    assert_eq!(
        resale_body(&authorize),
        Some(ResaleCommand::AuthorizationFailed {
            reason: refused.clone()
        })
    );
    assert_eq!(
        resale_body(&PaymentCommand::Capture),
        Some(ResaleCommand::CaptureFailed { reason: refused })
    );
    assert_eq!(resale_body(&PaymentCommand::Void), None);
}
