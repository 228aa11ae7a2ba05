//! Payment rules of SPEC.md on one payment: capture only what was authorized, void
//! only an uncaptured authorization, refund and pay out only captured money not yet
//! given back, one idempotency key per money movement, stale and duplicate gateway
//! answers ignored, and only our own services may ask.

use super::support::{Host, Outcome, T0};
use quickcheck::{QuickCheck, TestResult};
use turnstile_core::GuardError;
use turnstile_core::payment::{
    GatewayCall, GatewayKey, GatewayOutcome, GatewayRequest, Operation, Payment, PaymentCommand,
    PaymentError, PaymentEvent, PaymentMethod, PaymentStatus,
};
use turnstile_core::policy::{Tier, quote, refund_share};
use turnstile_core::time::DAY_MS;
use turnstile_core::{
    Actor, Aggregate, ArmedTimer, BasisPoints, CustomerId, Effect, Money, OrderId, PaymentId,
    PayoutId, RefundId, TicketId, Timer, Timestamp,
};

const PAYMENT: PaymentId = PaymentId::Order(OrderId(1));
const AMOUNT: Money = Money(10_000);

fn key(operation: Operation, attempt: u32) -> GatewayKey {
    GatewayKey {
        payment: PAYMENT,
        operation,
        attempt,
    }
}

fn service(host: &mut Host<Payment>, body: PaymentCommand) -> Outcome<PaymentEvent, PaymentError> {
    host.send(&(), Actor::Service, T0, body)
}

fn reply(
    host: &mut Host<Payment>,
    key: GatewayKey,
    outcome: GatewayOutcome,
) -> Outcome<PaymentEvent, PaymentError> {
    service(host, PaymentCommand::GatewayReplied { key, outcome })
}

fn refund_id(index: u8) -> RefundId {
    RefundId {
        payment: PAYMENT,
        ticket: Some(TicketId {
            order: OrderId(1),
            index,
        }),
    }
}

/// Customer 1's authorization of AMOUNT for PAYMENT.
fn authorize() -> PaymentCommand {
    PaymentCommand::Authorize {
        payment: PAYMENT,
        customer: CustomerId(1),
        amount: AMOUNT,
        method: PaymentMethod { token: 1 },
    }
}

fn authorized() -> Host<Payment> {
    let mut host = Host::<Payment>::default();
    service(&mut host, authorize()).new_event();
    reply(
        &mut host,
        key(Operation::Authorize, 0),
        GatewayOutcome::Approved,
    )
    .new_event();
    host
}

fn captured() -> Host<Payment> {
    let mut host = authorized();
    service(&mut host, PaymentCommand::Capture).new_event();
    reply(
        &mut host,
        key(Operation::Capture, 0),
        GatewayOutcome::Approved,
    )
    .new_event();
    assert_eq!(host.state().status(), Some(PaymentStatus::Captured));
    host
}

/// A captured payment with a refund of all of it asked (the gateway not answered yet).
fn refund_asked() -> (Host<Payment>, RefundId) {
    let mut host = captured();
    let refund = refund_id(0);
    service(
        &mut host,
        PaymentCommand::Refund {
            refund,
            amount: AMOUNT,
        },
    )
    .new_event();
    (host, refund)
}

/// The payout of resale 1's price `amount` to its seller, customer 2.
fn payout_of(amount: Money) -> PaymentCommand {
    PaymentCommand::Payout {
        payout: PayoutId {
            resale: turnstile_core::ResaleId(1),
        },
        amount,
        to: CustomerId(2),
    }
}

/// The gateway calls among `effects`.
fn calls(effects: &[Effect]) -> Vec<turnstile_core::payment::GatewayCall> {
    effects
        .iter()
        .filter_map(|effect| match effect {
            Effect::Gateway(call) => Some(*call),
            _ => None,
        })
        .collect()
}

#[test]
fn capture_takes_exactly_the_authorized_amount_and_needs_an_authorization() {
    // Pins down: Capture before the authorization is NoAuthorization; after it, the gateway is asked to capture exactly the authorized amount, once.
    let mut host = Host::<Payment>::default();
    assert_eq!(
        service(&mut host, PaymentCommand::Capture).rejection(),
        PaymentError::PaymentNotFound
    );
    service(&mut host, authorize()).new_event();
    assert_eq!(
        service(&mut host, PaymentCommand::Capture).rejection(),
        PaymentError::NoAuthorization {
            status: PaymentStatus::Pending
        }
    );
    reply(
        &mut host,
        key(Operation::Authorize, 0),
        GatewayOutcome::Approved,
    )
    .new_event();
    let effects = service(&mut host, PaymentCommand::Capture).effects();
    let calls = calls(&effects);
    assert_eq!(calls.len(), 1);
    assert_eq!(
        calls[0].request,
        turnstile_core::payment::GatewayRequest::Capture { amount: AMOUNT }
    );
    assert_eq!(
        service(&mut host, PaymentCommand::Capture),
        Outcome::Ignored,
        "no second capture"
    );
}

#[test]
fn only_an_uncaptured_authorization_is_voided() {
    // Pins down: Void of an authorization asks the gateway to void; Void of captured money is AlreadyCaptured; a second Void asks nothing.
    let mut host = authorized();
    let effects = service(&mut host, PaymentCommand::Void).effects();
    assert_eq!(calls(&effects).len(), 1);
    assert_eq!(service(&mut host, PaymentCommand::Void), Outcome::Ignored);
    reply(&mut host, key(Operation::Void, 0), GatewayOutcome::Approved).new_event();
    assert_eq!(host.state().status(), Some(PaymentStatus::Voided));
    assert!(matches!(
        service(&mut host, PaymentCommand::Capture).rejection(),
        PaymentError::NoAuthorization { .. }
    ));
    let mut host = captured();
    assert_eq!(
        service(&mut host, PaymentCommand::Void).rejection(),
        PaymentError::AlreadyCaptured
    );
}

#[test]
fn refunds_draw_only_on_captured_money_not_yet_refunded_or_paid_out() {
    // Pins down: refunds and payouts together never exceed the capture; a repeated refund id asks nothing; RefundAll takes exactly what is left; the status follows.
    let mut host = authorized();
    assert!(matches!(
        service(
            &mut host,
            PaymentCommand::Refund {
                refund: refund_id(0),
                amount: Money(1)
            }
        )
        .rejection(),
        PaymentError::ExceedsCaptured { .. }
    ));
    let mut host = captured();
    service(
        &mut host,
        PaymentCommand::Refund {
            refund: refund_id(0),
            amount: Money(6_000),
        },
    )
    .new_event();
    assert_eq!(
        service(
            &mut host,
            PaymentCommand::Refund {
                refund: refund_id(0),
                amount: Money(6_000)
            }
        ),
        Outcome::Ignored
    );
    assert_eq!(
        service(&mut host, payout_of(Money(4_001))).rejection(),
        PaymentError::ExceedsCaptured {
            requested: Money(4_001),
            refundable: Money(4_000)
        }
    );
    reply(
        &mut host,
        key(Operation::Refund(refund_id(0)), 0),
        GatewayOutcome::Approved,
    )
    .new_event();
    assert_eq!(
        host.state().status(),
        Some(PaymentStatus::PartiallyRefunded)
    );
    let all = RefundId {
        payment: PAYMENT,
        ticket: None,
    };
    let event = service(&mut host, PaymentCommand::RefundAll { refund: all }).new_event();
    assert_eq!(
        event,
        PaymentEvent::RefundRequested {
            refund: all,
            amount: Money(4_000)
        }
    );
    reply(
        &mut host,
        key(Operation::Refund(all), 0),
        GatewayOutcome::Approved,
    )
    .new_event();
    assert_eq!(host.state().status(), Some(PaymentStatus::Refunded));
    assert_eq!(
        service(
            &mut host,
            PaymentCommand::RefundAll {
                refund: RefundId {
                    payment: PAYMENT,
                    ticket: Some(TicketId {
                        order: OrderId(1),
                        index: 7
                    })
                }
            }
        ),
        Outcome::Ignored,
        "nothing left to refund"
    );
}

#[test]
fn stale_and_duplicate_gateway_answers_are_ignored() {
    // Pins down: a second answer for a settled call, an answer for an older attempt, or for a call never made changes nothing.
    let mut host = captured();
    assert_eq!(
        reply(
            &mut host,
            key(Operation::Capture, 0),
            GatewayOutcome::Approved
        ),
        Outcome::Ignored
    );
    assert_eq!(
        reply(
            &mut host,
            key(Operation::Capture, 0),
            GatewayOutcome::Declined
        ),
        Outcome::Ignored
    );
    assert_eq!(
        reply(&mut host, key(Operation::Void, 0), GatewayOutcome::Approved),
        Outcome::Ignored
    );
    assert_eq!(host.state().details.as_ref().unwrap().captured, AMOUNT);
}

#[test]
fn an_unknown_outcome_is_resolved_by_a_status_query_on_the_same_key() {
    // Pins down: a timed-out call asks the gateway for the status of the same key; nothing is told to the saga until it is resolved; "never received" reissues the same key.
    let mut host = authorized();
    service(&mut host, PaymentCommand::Capture).new_event();
    let effects = reply(
        &mut host,
        key(Operation::Capture, 0),
        GatewayOutcome::Unknown,
    )
    .effects();
    assert_eq!(calls(&effects).len(), 1);
    assert_eq!(calls(&effects)[0].key, key(Operation::Capture, 0));
    assert_eq!(
        calls(&effects)[0].request,
        turnstile_core::payment::GatewayRequest::Status
    );
    assert!(
        effects
            .iter()
            .all(|effect| !matches!(effect, Effect::Send(_))),
        "the saga hears nothing yet"
    );
    let effects = reply(
        &mut host,
        key(Operation::Capture, 0),
        GatewayOutcome::NotFound,
    )
    .effects();
    assert_eq!(
        calls(&effects)[0].key,
        key(Operation::Capture, 0),
        "the same key again"
    );
    let effects = reply(
        &mut host,
        key(Operation::Capture, 0),
        GatewayOutcome::Approved,
    )
    .effects();
    assert!(
        effects
            .iter()
            .any(|effect| matches!(effect, Effect::Send(_))),
        "now the saga is told"
    );
    assert_eq!(host.state().status(), Some(PaymentStatus::Captured));
}

#[test]
fn a_declined_refund_is_retried_under_the_same_id_with_a_doubling_backoff_until_paid() {
    // Pins down: SPEC's never-abandon rule: a declined refund keeps its refund id, goes again with the next attempt's key after 1 s, 2 s, 4 s … capped at 10 minutes (30 declines: no giving up), the payment's retry timer follows the schedule, a timer firing early sends nothing, and the refund is paid once the gateway approves.
    let (mut host, refund) = refund_asked();
    let operation = Operation::Refund(refund);
    let mut now = T0;
    let mut waits = Vec::new();
    for attempt in 0..30 {
        let declined = PaymentCommand::GatewayReplied {
            key: key(operation, attempt),
            outcome: GatewayOutcome::Declined,
        };
        let event = host.send(&(), Actor::Service, now, declined).new_event();
        let PaymentEvent::RetryScheduled {
            key: next,
            at,
            resolve: false,
        } = event
        else {
            panic!("expected a scheduled retry, got {event:?}");
        };
        assert_eq!(next, key(operation, attempt + 1));
        waits.push(at.0 - now.0);
        assert_eq!(
            host.state().timers(),
            vec![ArmedTimer {
                timer: Timer::PaymentRetry { payment: PAYMENT },
                at
            }]
        );
        let early = host.send(
            &(),
            Actor::System,
            Timestamp(at.0 - 1),
            PaymentCommand::RetryDue,
        );
        assert_eq!(early, Outcome::Ignored, "not due yet");
        now = at;
        let effects = host
            .send(&(), Actor::System, now, PaymentCommand::RetryDue)
            .effects();
        assert_eq!(
            calls(&effects),
            vec![GatewayCall {
                key: next,
                request: GatewayRequest::Refund { amount: AMOUNT }
            }]
        );
        assert!(host.state().timers().is_empty());
    }
    let seconds: Vec<u64> = waits.iter().map(|ms| ms / 1_000).collect();
    assert_eq!(
        seconds[..11],
        [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 600],
        "doubling to the cap"
    );
    assert!(seconds[11..].iter().all(|s| *s == 600), "{seconds:?}");
    let approved = PaymentCommand::GatewayReplied {
        key: key(operation, 30),
        outcome: GatewayOutcome::Approved,
    };
    assert_eq!(
        host.send(&(), Actor::Service, now, approved).new_event(),
        PaymentEvent::Refunded {
            refund,
            amount: AMOUNT
        }
    );
    assert_eq!(host.state().status(), Some(PaymentStatus::Refunded));
}

#[test]
fn a_status_query_the_gateway_cannot_answer_is_asked_again_after_a_backoff() {
    // Pins down: an unknown outcome sends a status query at once; if the gateway cannot tell either, the same key's status is asked again after the backoff (not in a tight loop), a late "unknown" meanwhile changes nothing, and a definite answer while waiting settles the call.
    let (mut host, refund) = refund_asked();
    let operation = Operation::Refund(refund);
    let effects = reply(&mut host, key(operation, 0), GatewayOutcome::Unknown).effects();
    assert_eq!(
        calls(&effects),
        vec![GatewayCall {
            key: key(operation, 0),
            request: GatewayRequest::Status
        }]
    );
    let event = reply(&mut host, key(operation, 0), GatewayOutcome::Unknown).new_event();
    assert_eq!(
        event,
        PaymentEvent::RetryScheduled {
            key: key(operation, 0),
            at: T0.plus(1_000),
            resolve: true
        }
    );
    assert_eq!(
        reply(&mut host, key(operation, 0), GatewayOutcome::Unknown),
        Outcome::Ignored
    );
    let effects = host
        .send(&(), Actor::System, T0.plus(1_000), PaymentCommand::RetryDue)
        .effects();
    assert_eq!(
        calls(&effects),
        vec![GatewayCall {
            key: key(operation, 0),
            request: GatewayRequest::Status
        }]
    );
    let event = host
        .send(
            &(),
            Actor::Service,
            T0.plus(1_000),
            PaymentCommand::GatewayReplied {
                key: key(operation, 0),
                outcome: GatewayOutcome::Unknown,
            },
        )
        .new_event();
    assert_eq!(
        event,
        PaymentEvent::RetryScheduled {
            key: key(operation, 0),
            at: T0.plus(3_000),
            resolve: true
        },
        "the second wait doubles"
    );
    let event = host
        .send(
            &(),
            Actor::Service,
            T0.plus(1_500),
            PaymentCommand::GatewayReplied {
                key: key(operation, 0),
                outcome: GatewayOutcome::Approved,
            },
        )
        .new_event();
    assert_eq!(
        event,
        PaymentEvent::Refunded {
            refund,
            amount: AMOUNT
        }
    );
    assert!(host.state().timers().is_empty());
}

#[test]
fn a_void_asked_while_the_capture_is_in_flight_becomes_a_full_refund_when_it_lands() {
    // Pins down: money is never stranded by a race: a void wanted while the capture is in flight cannot void captured money, so when the capture lands the whole capture is refunded (one refund, whole-capture id), and a later RefundAll of the same id asks nothing more.
    let mut host = authorized();
    service(&mut host, PaymentCommand::Capture).new_event();
    assert_eq!(
        service(&mut host, PaymentCommand::Void).new_event(),
        PaymentEvent::VoidRequested
    );
    let effects = reply(
        &mut host,
        key(Operation::Capture, 0),
        GatewayOutcome::Approved,
    )
    .effects();
    let whole = RefundId {
        payment: PAYMENT,
        ticket: None,
    };
    assert_eq!(
        calls(&effects),
        vec![GatewayCall {
            key: key(Operation::Refund(whole), 0),
            request: GatewayRequest::Refund { amount: AMOUNT }
        }]
    );
    assert_eq!(
        service(&mut host, PaymentCommand::RefundAll { refund: whole }),
        Outcome::Ignored
    );
    reply(
        &mut host,
        key(Operation::Refund(whole), 0),
        GatewayOutcome::Approved,
    )
    .new_event();
    assert_eq!(host.state().status(), Some(PaymentStatus::Refunded));
}

#[test]
fn only_our_services_talk_to_a_payment() {
    // Pins down: authorization per actor: customers, organizers and the system can never authorize, capture, void, refund or pay out.
    let mut host = captured();
    for actor in [
        Actor::Customer(CustomerId(1)),
        Actor::Organizer(super::support::ORGANIZER),
        Actor::System,
    ] {
        for body in [
            PaymentCommand::Capture,
            PaymentCommand::Void,
            PaymentCommand::RefundAll {
                refund: refund_id(0),
            },
            PaymentCommand::GatewayReplied {
                key: key(Operation::Capture, 0),
                outcome: GatewayOutcome::Approved,
            },
        ] {
            assert_eq!(
                host.send(&(), actor, T0, body).rejection(),
                PaymentError::Guard(GuardError::NotAuthorized { actor })
            );
        }
    }
}

#[test]
fn quotes_equal_a_naive_per_seat_computation() {
    // Pins down: for any base price, quantity and start distance, the quote is the tier by d ≥ 30 / ≥ 7 days, each seat rounded half up in u128, summed, or an overflow error.
    fn property(base: u64, quantity: u8, days_out: u16) -> TestResult {
        let quantity = quantity % 9;
        let start = Timestamp(T0.0 + u64::from(days_out % 60) * DAY_MS);
        let initiated_at = T0;
        let bp: u128 = match u64::from(days_out % 60) {
            d if d >= 30 => 8_000,
            d if d >= 7 => 10_000,
            _ => 11_000,
        };
        let seat = (u128::from(base) * bp + 5_000) / 10_000;
        let total = seat * u128::from(quantity);
        let expected = u64::try_from(seat).ok().zip(u64::try_from(total).ok());
        match (quote(Money(base), quantity, initiated_at, start), expected) {
            (Ok(quote), Some((seat, total))) => TestResult::from_bool(
                quote.seat_price == Money(seat)
                    && quote.total == Money(total)
                    && quote.tier == Tier::at(initiated_at, start),
            ),
            (Err(_), None) => TestResult::passed(),
            _ => TestResult::failed(),
        }
    }
    QuickCheck::new().quickcheck(property as fn(u64, u8, u16) -> TestResult);
}

#[test]
fn refund_shares_equal_the_100_50_0_policy_for_any_distance() {
    // Pins down: for any time to start d, the refund share is 100 % if d > 7 days, 50 % if 3 ≤ d ≤ 7 days, 0 otherwise.
    fn property(distance_ms: u32, scale: u8) -> bool {
        let d = u64::from(distance_ms) * u64::from(scale % 4 + 1);
        let start = Timestamp(T0.0 + 10 * DAY_MS);
        let now = Timestamp(start.0 - d.min(10 * DAY_MS));
        let d = start.0 - now.0;
        let expected = if d > 7 * DAY_MS {
            BasisPoints(10_000)
        } else if d >= 3 * DAY_MS {
            BasisPoints(5_000)
        } else {
            BasisPoints(0)
        };
        refund_share(now, start) == expected
    }
    QuickCheck::new().quickcheck(property as fn(u32, u8) -> bool);
}

#[test]
fn a_payout_to_a_reseller_is_not_a_refund() {
    // Pins down: SPEC's status counts refunds only: after a payout the payment stays Captured; a refund of the rest makes it Refunded, a smaller one PartiallyRefunded.
    let payout = PayoutId {
        resale: turnstile_core::ResaleId(1),
    };
    let mut host = captured();
    service(&mut host, payout_of(Money(4_000))).new_event();
    reply(
        &mut host,
        key(Operation::Payout(payout), 0),
        GatewayOutcome::Approved,
    )
    .new_event();
    assert_eq!(host.state().status(), Some(PaymentStatus::Captured));
    service(
        &mut host,
        PaymentCommand::Refund {
            refund: refund_id(0),
            amount: Money(1_000),
        },
    )
    .new_event();
    reply(
        &mut host,
        key(Operation::Refund(refund_id(0)), 0),
        GatewayOutcome::Approved,
    )
    .new_event();
    assert_eq!(
        host.state().status(),
        Some(PaymentStatus::PartiallyRefunded)
    );
    service(
        &mut host,
        PaymentCommand::Refund {
            refund: refund_id(1),
            amount: Money(5_000),
        },
    )
    .new_event();
    reply(
        &mut host,
        key(Operation::Refund(refund_id(1)), 0),
        GatewayOutcome::Approved,
    )
    .new_event();
    assert_eq!(host.state().status(), Some(PaymentStatus::Refunded));
}

#[test]
fn a_void_is_asked_once_goes_out_when_the_authorization_lands_and_is_a_no_op_once_settled() {
    // Pins down (found by mutation testing): a Void asked while the authorization is in flight is recorded once (a second asks nothing) and the void call leaves when the approval lands; an approval nobody wants voided asks no void; a Void after the payment was voided or failed changes nothing and is not an error; a payout may take exactly what is refundable.
    let is_void = |call: &GatewayCall| call.request == GatewayRequest::Void;

    // Wanted while pending: asked once, sent when the authorization lands.
    let mut host = Host::<Payment>::default();
    service(&mut host, authorize()).new_event();
    assert_eq!(
        service(&mut host, PaymentCommand::Void).new_event(),
        PaymentEvent::VoidRequested
    );
    assert_eq!(service(&mut host, PaymentCommand::Void), Outcome::Ignored);
    let Outcome::New(_, effects) = reply(
        &mut host,
        key(Operation::Authorize, 0),
        GatewayOutcome::Approved,
    ) else {
        panic!("the approval is recorded");
    };
    assert_eq!(calls(&effects).iter().filter(|c| is_void(c)).count(), 1);
    reply(&mut host, key(Operation::Void, 0), GatewayOutcome::Approved).new_event();
    assert_eq!(host.state().status(), Some(PaymentStatus::Voided));
    assert_eq!(service(&mut host, PaymentCommand::Void), Outcome::Ignored);

    // Not wanted: the approval asks no void.
    let mut host = Host::<Payment>::default();
    service(&mut host, authorize()).new_event();
    let Outcome::New(_, effects) = reply(
        &mut host,
        key(Operation::Authorize, 0),
        GatewayOutcome::Approved,
    ) else {
        panic!("the approval is recorded");
    };
    assert!(!calls(&effects).iter().any(is_void), "{effects:?}");

    // Declined: the payment failed, and a void changes nothing.
    let mut host = Host::<Payment>::default();
    service(&mut host, authorize()).new_event();
    reply(
        &mut host,
        key(Operation::Authorize, 0),
        GatewayOutcome::Declined,
    )
    .new_event();
    assert_eq!(host.state().status(), Some(PaymentStatus::Failed));
    assert_eq!(service(&mut host, PaymentCommand::Void), Outcome::Ignored);

    // A payout of everything refundable is allowed.
    let mut host = captured();
    service(&mut host, payout_of(AMOUNT)).new_event();
}

#[test]
fn a_late_answer_to_an_earlier_attempt_is_ignored_while_the_retry_is_in_flight() {
    // Pins down (found by mutation testing): a reply carries its attempt; once a declined refund went out again as attempt 1, an approval of attempt 0 arriving late settles nothing (the gateway's answer to attempt 1 does).
    let (mut host, refund) = refund_asked();
    let operation = Operation::Refund(refund);
    let event = reply(&mut host, key(operation, 0), GatewayOutcome::Declined).new_event();
    let PaymentEvent::RetryScheduled { at, .. } = event else {
        panic!("expected a scheduled retry, got {event:?}");
    };
    host.send(&(), Actor::System, at, PaymentCommand::RetryDue)
        .new_event();
    let answer = |attempt| PaymentCommand::GatewayReplied {
        key: key(operation, attempt),
        outcome: GatewayOutcome::Approved,
    };
    assert_eq!(
        host.send(&(), Actor::Service, at, answer(0)),
        Outcome::Ignored,
        "attempt 0 is over"
    );
    assert_eq!(host.state().status(), Some(PaymentStatus::Captured));
    assert_eq!(
        host.send(&(), Actor::Service, at, answer(1)).new_event(),
        PaymentEvent::Refunded {
            refund,
            amount: AMOUNT
        }
    );
}

/// What the stuck-payments read model, folded from this payment's log alone, lists as
/// owed: `(operation, amount, since)`.
fn owed(host: &Host<Payment>) -> Vec<(Operation, Money, Timestamp)> {
    use turnstile_core::read_models::stuck_payments::StuckPayments;
    use turnstile_core::read_models::{DomainEvent, Projection, StreamId};
    let mut model = StuckPayments::default();
    for recorded in host.stream.log() {
        model.apply(
            StreamId::Payment(PAYMENT),
            &DomainEvent::Payment(recorded.clone()),
        );
    }
    model
        .owed()
        .map(|owed| (owed.operation, owed.amount, owed.since))
        .collect()
}

#[test]
fn every_void_refund_and_payout_owed_is_listed_from_its_ask_until_the_gateway_settles_it() {
    // Pins down (found by mutation testing): the stuck-payments model lists a void with the authorized amount from the moment it is asked, through declines, until it is voided; a void whose authorization is declined owes nothing; a void overtaken by a landing capture becomes the whole refund, owed since the void was asked; a payout is owed from its ask until paid.
    let at = |minutes: u64| Timestamp(T0.0 + minutes * 60_000);
    let send = |host: &mut Host<Payment>, minute: u64, body: PaymentCommand| {
        host.send(&(), Actor::Service, at(minute), body)
    };
    let answer = |host: &mut Host<Payment>, minute: u64, key: GatewayKey, outcome| {
        send(
            host,
            minute,
            PaymentCommand::GatewayReplied { key, outcome },
        )
    };

    // A void of a settled authorization, declined once, then done.
    let mut host = authorized();
    assert!(owed(&host).is_empty());
    send(&mut host, 1, PaymentCommand::Void).new_event();
    assert_eq!(owed(&host), vec![(Operation::Void, AMOUNT, at(1))]);
    answer(
        &mut host,
        2,
        key(Operation::Void, 0),
        GatewayOutcome::Declined,
    )
    .new_event();
    assert_eq!(owed(&host), vec![(Operation::Void, AMOUNT, at(1))]);
    host.send(&(), Actor::System, at(30), PaymentCommand::RetryDue)
        .new_event();
    let attempt = host.state().details.as_ref().unwrap().operations[&Operation::Void].attempt;
    assert_eq!(owed(&host), vec![(Operation::Void, AMOUNT, at(1))]);
    answer(
        &mut host,
        31,
        key(Operation::Void, attempt),
        GatewayOutcome::Approved,
    )
    .new_event();
    assert_eq!(host.state().status(), Some(PaymentStatus::Voided));
    assert!(owed(&host).is_empty());

    // A void wanted while the authorization is pending, which the gateway declines.
    let mut host = Host::<Payment>::default();
    send(&mut host, 0, authorize()).new_event();
    send(&mut host, 1, PaymentCommand::Void).new_event();
    assert_eq!(owed(&host), vec![(Operation::Void, AMOUNT, at(1))]);
    answer(
        &mut host,
        2,
        key(Operation::Authorize, 0),
        GatewayOutcome::Declined,
    )
    .new_event();
    assert!(owed(&host).is_empty());

    // A void overtaken by the capture in flight: the whole capture is owed back.
    let mut host = authorized();
    send(&mut host, 1, PaymentCommand::Capture).new_event();
    send(&mut host, 2, PaymentCommand::Void).new_event();
    answer(
        &mut host,
        5,
        key(Operation::Capture, 0),
        GatewayOutcome::Approved,
    )
    .new_event();
    let whole = Operation::Refund(RefundId {
        payment: PAYMENT,
        ticket: None,
    });
    assert_eq!(owed(&host), vec![(whole, AMOUNT, at(2))]);

    // A payout, owed until paid.
    let payout = PayoutId {
        resale: turnstile_core::ResaleId(1),
    };
    let mut host = captured();
    send(&mut host, 1, payout_of(Money(4_000))).new_event();
    assert_eq!(
        owed(&host),
        vec![(Operation::Payout(payout), Money(4_000), at(1))]
    );
    answer(
        &mut host,
        2,
        key(Operation::Payout(payout), 0),
        GatewayOutcome::Approved,
    )
    .new_event();
    assert!(owed(&host).is_empty());
}
