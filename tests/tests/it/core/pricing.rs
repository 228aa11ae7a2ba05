//! Pricing and order start: the tier in force when the order starts (30 and 7 days),
//! half-up rounding per seat, overflow as a typed error, the customer paying exactly
//! the quote, and the checks an order makes before asking for seats.

use super::mini_world::MiniWorld;
use super::support::{ALICE, T0, general, numbered, strings};
use turnstile_core::GuardError;
use turnstile_core::order::{OrderCommand, OrderError, OrderStatus};
use turnstile_core::policy::Tier;
use turnstile_core::show::ShowCommand;
use turnstile_core::time::{DAY_MS, MINUTE_MS};
use turnstile_core::{Actor, CommandId, Envelope, Money, OrderId, SectionIndex, ShowId, Timestamp};

const START: Timestamp = Timestamp(T0.0 + 40 * DAY_MS);

fn quote_of(world: &MiniWorld, order: OrderId) -> turnstile_core::policy::Quote {
    world.orders[&order]
        .state()
        .details
        .as_ref()
        .expect("initiated")
        .quote
}

#[test]
fn the_tier_switches_exactly_at_thirty_and_seven_days_before_the_start() {
    // Pins down: d ≥ 30 days is early bird (80 %), 7 ≤ d < 30 days regular (100 %), d < 7 days last minute (110 %), judged at initiation to the millisecond.
    let mut world = MiniWorld::with_show(START, vec![general(100, 10_000)]);
    let cases = [
        (START.0 - 30 * DAY_MS, Tier::EarlyBird, 8_000),
        (START.0 - 30 * DAY_MS + 1, Tier::Regular, 10_000),
        (START.0 - 7 * DAY_MS, Tier::Regular, 10_000),
        (START.0 - 7 * DAY_MS + 1, Tier::LastMinute, 11_000),
    ];
    for (n, (at, tier, seat_price)) in cases.into_iter().enumerate() {
        world.now = Timestamp(at);
        let order = OrderId(n as u64 + 1);
        world.initiate(ALICE, order, 1, None).unwrap();
        let quote = quote_of(&world, order);
        assert_eq!(
            (quote.tier, quote.seat_price),
            (tier, Money(seat_price)),
            "at start − {} ms",
            START.0 - at
        );
    }
}

#[test]
fn prices_round_half_up_per_seat_and_the_total_is_the_sum_of_the_seats() {
    // Pins down: each seat is rounded half up ((amount × bp + 5 000) / 10 000) and the total is seats × that price, not the rounded total.
    let last_minute = Timestamp(START.0 - DAY_MS);
    let cases = [
        // base, quantity, seat price, total
        (5, 8, 6, 48),            // 5.5 → 6 per seat; rounding the total would give 44
        (1_005, 3, 1_106, 3_318), // 1105.5 → 1106
        (1_003, 1, 1_103, 1_103), // 1103.3 → 1103
    ];
    for (base, quantity, seat, total) in cases {
        let mut world = MiniWorld::with_show(START, vec![general(100, base)]);
        world.now = last_minute;
        world.initiate(ALICE, OrderId(1), quantity, None).unwrap();
        let quote = quote_of(&world, OrderId(1));
        assert_eq!(
            (quote.seat_price, quote.total),
            (Money(seat), Money(total)),
            "base {base}"
        );
    }
    // Early bird: 80 % of one cent is 0.8 → 1 cent.
    let mut world = MiniWorld::with_show(START, vec![general(100, 1)]);
    world.initiate(ALICE, OrderId(1), 2, None).unwrap();
    assert_eq!(quote_of(&world, OrderId(1)).total, Money(2));
}

#[test]
fn a_price_that_overflows_is_a_typed_error_not_a_wrap() {
    // Pins down: a seat price or total beyond u64 cents is PriceOverflow and starts no order.
    for (base, quantity, at) in [
        (u64::MAX, 1, START.0 - DAY_MS),          // 110 % of u64::MAX
        (u64::MAX / 4, 8, START.0 - 10 * DAY_MS), // the sum of 8 seats
    ] {
        let mut world = MiniWorld::with_show(START, vec![general(100, base)]);
        world.now = Timestamp(at);
        assert_eq!(
            world.initiate(ALICE, OrderId(1), quantity, None),
            Err(OrderError::PriceOverflow)
        );
        assert_eq!(world.order_status(OrderId(1)), None);
    }
    // The largest price that fits is accepted.
    let mut world = MiniWorld::with_show(START, vec![general(100, u64::MAX)]);
    world.initiate(ALICE, OrderId(1), 1, None).unwrap();
    let eighty_percent = (u128::from(u64::MAX) * 8_000 + 5_000) / 10_000;
    assert_eq!(
        quote_of(&world, OrderId(1)).total,
        Money(eighty_percent as u64)
    );
}

#[test]
fn the_customer_pays_exactly_the_quote_whatever_the_clock_does_afterwards() {
    // Pins down: the amount authorized and captured is the quote fixed at initiation, even if the tier changes before payment.
    let mut world = MiniWorld::with_show(START, vec![general(100, 10_000)]);
    world.now = Timestamp(START.0 - 7 * DAY_MS - MINUTE_MS); // regular
    world.initiate(ALICE, OrderId(1), 2, None).unwrap();
    world.settle();
    world.advance(2 * MINUTE_MS); // last minute now
    world.pay(ALICE, OrderId(1)).unwrap();
    world.settle();
    assert_eq!(world.order_status(OrderId(1)), Some(OrderStatus::Completed));
    assert_eq!(world.ledger(OrderId(1)).captured, Money(20_000));
}

#[test]
fn an_order_asks_for_one_to_eight_seats() {
    // Pins down: quantity 0 and 9 are InvalidQuantity at the order; 1 and 8 start an order and reserve that many.
    let mut world = MiniWorld::with_show(START, vec![general(100, 1_000)]);
    for quantity in [0, 9] {
        assert_eq!(
            world.initiate(ALICE, OrderId(u64::from(quantity)), quantity, None),
            Err(OrderError::InvalidQuantity { quantity })
        );
    }
    world.initiate(ALICE, OrderId(1), 1, None).unwrap();
    world.initiate(ALICE, OrderId(8), 8, None).unwrap();
    world.settle();
    assert_eq!(
        world.order_status(OrderId(1)),
        Some(OrderStatus::AwaitingPayment)
    );
    assert_eq!(
        world.order_status(OrderId(8)),
        Some(OrderStatus::AwaitingPayment)
    );
    assert_eq!(world.inventory(0).counts().reserved, 9);
}

#[test]
fn an_order_starts_only_while_sales_are_open_and_before_the_start() {
    // Pins down: Initiate needs the show SalesOpen and now < start; closed sales or a started show is SalesNotOpen.
    let mut world = MiniWorld::with_show(START, vec![general(100, 1_000)]);
    world
        .show_command(ShowId(1), ShowCommand::CloseSales)
        .unwrap();
    world.settle();
    assert_eq!(
        world.initiate(ALICE, OrderId(1), 1, None),
        Err(OrderError::SalesNotOpen)
    );
    world
        .show_command(ShowId(1), ShowCommand::OpenSales)
        .unwrap();
    world.settle();
    world.now = Timestamp(START.0 - 1);
    world.initiate(ALICE, OrderId(2), 1, None).unwrap();
    world.now = START;
    assert_eq!(
        world.initiate(ALICE, OrderId(3), 1, None),
        Err(OrderError::SalesNotOpen)
    );
    // Once the start timer fired the show is Completed: still nothing to buy.
    world.fire_due_timers();
    assert_eq!(
        world.initiate(ALICE, OrderId(4), 1, None),
        Err(OrderError::SalesNotOpen)
    );
}

#[test]
fn an_order_checks_its_show_section_and_named_seats() {
    // Pins down: unknown show or section, labels in general admission, and a label count other than the quantity are refused before anything is reserved.
    let mut world =
        MiniWorld::with_show(START, vec![numbered(&[("A", 4)], 1_000), general(5, 1_000)]);
    let initiate = |show: u64, section: u32, quantity: u32, seats: Option<Vec<String>>| {
        OrderCommand::Initiate {
            order: OrderId(1),
            show: ShowId(show),
            section: SectionIndex(section),
            quantity,
            seats,
        }
    };
    let cases = [
        (initiate(2, 0, 1, None), OrderError::UnknownShow),
        (initiate(1, 2, 1, None), OrderError::UnknownSection),
        (
            initiate(1, 1, 1, Some(strings(&["A-1"]))),
            OrderError::LabelsOnGeneralAdmission,
        ),
        (
            initiate(1, 0, 2, Some(strings(&["A-1"]))),
            OrderError::SeatCountMismatch {
                listed: 1,
                quantity: 2,
            },
        ),
    ];
    for (body, error) in cases {
        assert_eq!(world.order_command(ALICE, OrderId(1), body), Err(error));
    }
    assert_eq!(world.order_status(OrderId(1)), None);
    world
        .order_command(
            ALICE,
            OrderId(1),
            initiate(1, 0, 2, Some(strings(&["A-2", "A-3"]))),
        )
        .unwrap();
    world.settle();
    assert_eq!(
        world.order_status(OrderId(1)),
        Some(OrderStatus::AwaitingPayment)
    );
}

#[test]
fn only_a_customer_starts_an_order_and_the_saga_hears_only_services_and_timers() {
    // Pins down: Initiate from an organizer, a service or the system is NotAuthorized; an answer from a customer or an organizer is NotAuthorized; Expire only from the system.
    let mut world = MiniWorld::with_show(START, vec![general(100, 1_000)]);
    let body = OrderCommand::Initiate {
        order: OrderId(1),
        show: ShowId(1),
        section: SectionIndex(0),
        quantity: 1,
        seats: None,
    };
    for actor in [
        Actor::Organizer(super::support::ORGANIZER),
        Actor::Service,
        Actor::System,
    ] {
        let stream = world.orders.entry(OrderId(1)).or_default();
        let result = stream.handle(
            &world.catalog,
            &Envelope::new(CommandId(1), actor, world.now, body.clone()),
        );
        assert_eq!(
            result.err(),
            Some(OrderError::Guard(GuardError::NotAuthorized { actor }))
        );
    }
    world.initiate(ALICE, OrderId(1), 1, None).unwrap();
    world.settle();
    for (actor, body) in [
        (Actor::Customer(ALICE), OrderCommand::HoldExtended),
        (
            Actor::Organizer(super::support::ORGANIZER),
            OrderCommand::ShowCancelled,
        ),
        (Actor::Customer(ALICE), OrderCommand::Expire),
        (Actor::Service, OrderCommand::Expire),
    ] {
        let stream = world.orders.get_mut(&OrderId(1)).unwrap();
        let result = stream.handle(
            &world.catalog,
            &Envelope::new(CommandId(9), actor, world.now, body),
        );
        assert_eq!(
            result.err(),
            Some(OrderError::Guard(GuardError::NotAuthorized { actor }))
        );
    }
    assert_eq!(
        world.order_status(OrderId(1)),
        Some(OrderStatus::AwaitingPayment)
    );
}

#[test]
fn time_never_goes_backwards_for_an_order_and_ids_are_idempotent() {
    // Pins down: an order refuses a command stamped before its last `now`; the same command id repeats with the same content and conflicts with another.
    let mut world = MiniWorld::with_show(START, vec![general(100, 1_000)]);
    world.initiate(ALICE, OrderId(1), 1, None).unwrap();
    world.settle();
    let last = world.now;
    let stream = world.orders.get_mut(&OrderId(1)).unwrap();
    let cancel = |now| {
        Envelope::new(
            CommandId(90),
            Actor::Customer(ALICE),
            now,
            OrderCommand::Cancel,
        )
    };
    assert_eq!(
        stream
            .handle(&world.catalog, &cancel(Timestamp(last.0 - 1)))
            .err(),
        Some(OrderError::Guard(GuardError::TimeWentBackwards {
            now: Timestamp(last.0 - 1),
            last
        }))
    );
    let version = stream.state().journal.version;
    assert!(stream.handle(&world.catalog, &cancel(last)).is_ok());
    assert_eq!(stream.state().journal.version, version + 1);
    assert!(matches!(
        stream.handle(&world.catalog, &cancel(last.plus(1))),
        Ok(turnstile_core::host::Handled::Repeat { .. })
    ));
    assert_eq!(stream.state().journal.version, version + 1);
    let pay = Envelope::new(
        CommandId(90),
        Actor::Customer(ALICE),
        last,
        OrderCommand::Pay {
            method: turnstile_core::payment::PaymentMethod { token: 1 },
        },
    );
    assert_eq!(
        stream.handle(&world.catalog, &pay).err(),
        Some(OrderError::Guard(GuardError::IdempotencyConflict {
            command: CommandId(90)
        }))
    );
    assert_eq!(world.order_status(OrderId(1)), Some(OrderStatus::Cancelled));
}
