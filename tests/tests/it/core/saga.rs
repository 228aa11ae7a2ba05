//! The reservation saga: every row of SPEC's order table driven end to end through the
//! mini world, asserting what a customer sees — how the order ends, the seats, the
//! money at the gateway (its own ledger, not our records) and the tickets.

use super::mini_world::{CallKind, Ledger, MiniWorld, Scripted};
use super::support::{ALICE, BOB, T0, general, numbered};
use turnstile_core::GuardError;
use turnstile_core::inventory::{InventoryCommand, InventoryError};
use turnstile_core::order::{EndCause, OrderCommand, OrderError, OrderStatus, PaymentFailure};
use turnstile_core::show::{ShowCommand, ShowError, ShowStatus};
use turnstile_core::ticket::TicketStatus;
use turnstile_core::time::{DAY_MS, MINUTE_MS};
use turnstile_core::{
    Actor, CommandId, Envelope, Message, Money, OrderId, PaymentId, SeatIndex, ShowId, TicketId,
    Timer, Timestamp,
};

const ORDER: OrderId = OrderId(1);
/// Two seats at 50.00, regular tier (the show is 10 days away).
const TOTAL: Money = Money(10_000);
const CAPACITY: u32 = 100;

fn world() -> MiniWorld {
    MiniWorld::with_show(T0.plus(10 * DAY_MS), vec![general(CAPACITY, 5_000)])
}

/// Where to stop an order on its way to completion.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Stage {
    Reserving,
    AwaitingPayment,
    Extending,
    Authorizing,
    Confirming,
    Capturing,
    Completed,
}

/// Park every command to an inventory that `wanted` picks, until unparked.
fn park_inventory(world: &mut MiniWorld, wanted: fn(&InventoryCommand) -> bool) {
    world.park = Some(Box::new(
        move |message: &Message| matches!(message, Message::Inventory { body, .. } if wanted(body)),
    ));
}

/// Park every command to an order that `wanted` picks, until unparked.
fn park_order(world: &mut MiniWorld, wanted: fn(&OrderCommand) -> bool) {
    world.park = Some(Box::new(
        move |message: &Message| matches!(message, Message::Order { body, .. } if wanted(body)),
    ));
}

/// Drive `ORDER` (Alice, two seats) to `stage`, parking or holding what would move it on.
fn order_at(stage: Stage) -> MiniWorld {
    let mut world = world();
    match stage {
        Stage::Reserving => park_inventory(&mut world, |body| {
            matches!(body, InventoryCommand::Reserve { .. })
        }),
        Stage::Extending => park_inventory(&mut world, |body| {
            matches!(body, InventoryCommand::Extend { .. })
        }),
        Stage::Confirming => park_inventory(&mut world, |body| {
            matches!(body, InventoryCommand::Confirm { .. })
        }),
        Stage::Authorizing => {
            world.gateway.script.insert(
                (PaymentId::Order(ORDER), CallKind::Authorize),
                [Scripted::Hold].into(),
            );
        }
        Stage::Capturing => {
            world.gateway.script.insert(
                (PaymentId::Order(ORDER), CallKind::Capture),
                [Scripted::Hold].into(),
            );
        }
        Stage::AwaitingPayment | Stage::Completed => {}
    }
    world.initiate(ALICE, ORDER, 2, None).unwrap();
    world.settle();
    if stage != Stage::Reserving && stage != Stage::AwaitingPayment {
        world.pay(ALICE, ORDER).unwrap();
        world.settle();
    }
    let expected = match stage {
        Stage::Reserving => OrderStatus::Reserving,
        Stage::AwaitingPayment => OrderStatus::AwaitingPayment,
        Stage::Extending => OrderStatus::Extending,
        Stage::Authorizing => OrderStatus::Authorizing,
        Stage::Confirming => OrderStatus::Confirming,
        Stage::Capturing => OrderStatus::Capturing,
        Stage::Completed => OrderStatus::Completed,
    };
    assert_eq!(world.order_status(ORDER), Some(expected), "set-up");
    world
}

/// Nothing bought, nothing owed: no seat held or sold, no money kept or held, no ticket.
#[track_caller]
fn assert_nothing_sold(world: &MiniWorld) {
    let counts = world.inventory(0).counts();
    assert_eq!(
        (counts.available, counts.reserved, counts.sold),
        (CAPACITY, 0, 0),
        "seats"
    );
    let ledger = world.ledger(ORDER);
    assert_eq!(
        ledger.authorized_open,
        Money::ZERO,
        "an authorization is left open"
    );
    assert_eq!(ledger.kept(), Money::ZERO, "money kept: {ledger:?}");
    assert!(world.valid_tickets(ORDER).is_empty(), "tickets issued");
    assert!(
        world.gateway.violations.is_empty(),
        "{:?}",
        world.gateway.violations
    );
}

/// A message to the order as one of our services would send it, with a fresh id.
fn answer(n: u64, body: OrderCommand) -> Message {
    Message::Order {
        order: ORDER,
        id: CommandId::derive(&[0xA115, n]),
        body,
    }
}

fn order_events(world: &MiniWorld) -> usize {
    world.orders[&ORDER].log().len()
}

#[test]
fn happy_path_sells_the_seats_captures_the_quote_and_issues_one_ticket_per_seat() {
    // Pins down: a paid order ends Completed with its seats sold, exactly the quote captured once, one ticket per seat for its customer.
    let mut world = order_at(Stage::Completed);
    let counts = world.inventory(0).counts();
    assert_eq!((counts.sold, counts.reserved, counts.available), (2, 0, 98));
    let ledger = world.ledger(ORDER);
    assert_eq!(ledger.captured, TOTAL);
    assert_eq!(
        (ledger.refunded, ledger.authorized_open),
        (Money::ZERO, Money::ZERO)
    );
    assert_eq!(
        world
            .gateway
            .calls_of(PaymentId::Order(ORDER), CallKind::Capture),
        1
    );
    let tickets = world.valid_tickets(ORDER);
    assert_eq!(tickets.len(), 2);
    assert!(tickets.iter().all(|(_, owner)| *owner == ALICE));
    for (ticket, _) in &tickets {
        let details = world.tickets[ticket].state().details.clone().unwrap();
        assert_eq!(
            details.shares[0].paid,
            Money(5_000),
            "each ticket carries its seat's price"
        );
    }
    // Nothing lingers: letting every timer run out changes nothing.
    world.run_out_timers();
    assert!(world.is_quiet());
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Completed));
    assert_eq!(world.inventory(0).counts().sold, 2);
}

#[test]
fn numbered_seats_bought_early_cost_the_early_bird_price_and_each_ticket_has_its_own_seat() {
    // Pins down: 60 days out three numbered seats cost 80 % of 100.00 each and exactly that is captured; the seats are sold, each ticket is Alice's and carries its own seat (best available: the first three), only the show's start timer stays armed, and every stream replays to its live state.
    let mut world = MiniWorld::with_show(
        T0.plus(60 * DAY_MS),
        vec![numbered(&[("A", 10), ("B", 10)], 10_000)],
    );
    world.initiate(ALICE, ORDER, 3, None).unwrap();
    world.settle();
    assert_eq!(
        world.order_status(ORDER),
        Some(OrderStatus::AwaitingPayment)
    );
    world.pay(ALICE, ORDER).unwrap();
    world.settle();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Completed));
    assert_eq!(
        world.ledger(ORDER),
        Ledger {
            captured: Money(3 * 8_000),
            ..Ledger::default()
        }
    );
    assert!(
        world.gateway.violations.is_empty(),
        "{:?}",
        world.gateway.violations
    );
    let counts = world.inventory(0).counts();
    assert_eq!((counts.sold, counts.reserved), (3, 0));
    for index in 0..3 {
        let ticket = world.tickets[&TicketId {
            order: ORDER,
            index,
        }]
            .state();
        assert_eq!(ticket.owner(), Some(ALICE));
        assert_eq!(
            ticket.details.as_ref().unwrap().seat,
            Some(SeatIndex(u32::from(index)))
        );
    }
    assert!(
        world
            .timers
            .keys()
            .all(|timer| matches!(timer, Timer::ShowStart { .. })),
        "{:?}",
        world.timers
    );
    world.check_replay();
}

#[test]
fn a_reserve_rejection_ends_the_order_rejected_with_the_reason_and_moves_no_money() {
    // Pins down: Reserving + any reserve rejection → Rejected (with the reason), nothing held, nothing charged.
    let mut world = MiniWorld::with_show(T0.plus(10 * DAY_MS), vec![general(1, 5_000)]);
    world.initiate(ALICE, ORDER, 2, None).unwrap();
    world.settle();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Rejected));
    let cause = world.orders[&ORDER]
        .state()
        .details
        .as_ref()
        .unwrap()
        .end_cause
        .clone();
    assert_eq!(
        cause,
        Some(EndCause::ReserveRejected(
            InventoryError::InsufficientInventory {
                requested: 2,
                available: 1
            }
        ))
    );
    assert_eq!(world.inventory(0).counts().available, 1);
    assert!(world.gateway.calls.is_empty());
}

#[test]
fn a_customer_who_never_pays_has_an_order_that_expires_at_five_minutes_and_frees_the_seats() {
    // Pins down: AwaitingPayment + order expiry timer → Expired, seats released; not a millisecond early; an expired order cannot be paid.
    let mut world = order_at(Stage::AwaitingPayment);
    world.advance_and_fire(5 * MINUTE_MS - 1);
    assert_eq!(
        world.order_status(ORDER),
        Some(OrderStatus::AwaitingPayment)
    );
    assert_eq!(world.inventory(0).counts().reserved, 2);
    world.advance_and_fire(1);
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Expired));
    assert_nothing_sold(&world);
    assert_eq!(
        world.pay(ALICE, ORDER),
        Err(OrderError::NotAllowedInStatus {
            status: OrderStatus::Expired
        })
    );
    world.settle();
    assert!(world.gateway.calls.is_empty());
    assert!(world.is_quiet());
}

#[test]
fn an_order_expires_while_its_reserve_is_in_flight_and_the_late_hold_is_released() {
    // Pins down: Reserving + order expiry timer → Expired; the seats reserved late are released.
    let mut world = order_at(Stage::Reserving);
    world.advance(5 * MINUTE_MS);
    world.fire_due_timers();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Expired));
    world.park = None;
    world.unpark_all(); // the reserve lands now, born dead, then the release
    world.settle();
    world.run_out_timers();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Expired));
    assert_nothing_sold(&world);
}

#[test]
fn paying_after_the_hold_lapsed_ends_the_order_expired_without_touching_money() {
    // Pins down: Extending + hold not live → Expired (the hold was lost before any authorization was asked).
    let mut world = order_at(Stage::AwaitingPayment);
    world.advance(5 * MINUTE_MS); // the hold lapses; no timer has fired yet
    world.pay(ALICE, ORDER).unwrap();
    world.settle();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Expired));
    assert!(
        world.gateway.calls.is_empty(),
        "no authorization for a lapsed hold"
    );
    world.run_out_timers();
    assert_nothing_sold(&world);
    assert!(world.is_quiet());
}

#[test]
fn the_order_timer_expires_an_order_whose_extension_is_in_flight() {
    // Pins down: Extending + order expiry timer → Expired, seats released, no payment asked.
    let mut world = order_at(Stage::Extending);
    world.advance_and_fire(5 * MINUTE_MS);
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Expired));
    world.park = None;
    world.unpark_all();
    world.settle();
    world.run_out_timers();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Expired));
    assert_nothing_sold(&world);
    assert!(world.gateway.calls.is_empty());
}

#[test]
fn a_declined_authorization_compensates_the_order_and_frees_the_seats() {
    // Pins down: Authorizing + declined → Compensated, seats released, nothing charged, no ticket.
    let mut world = world();
    world.gateway.script.insert(
        (PaymentId::Order(ORDER), CallKind::Authorize),
        [Scripted::Decline].into(),
    );
    world.initiate(ALICE, ORDER, 2, None).unwrap();
    world.settle();
    world.pay(ALICE, ORDER).unwrap();
    world.settle();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Compensated));
    assert_nothing_sold(&world);
    assert_eq!(
        world
            .gateway
            .calls_of(PaymentId::Order(ORDER), CallKind::Capture),
        0
    );
}

#[test]
fn an_authorization_that_lands_after_the_hold_expired_is_voided() {
    // Pins down: Confirming + hold not live → void the authorization, Compensated; the customer keeps their money.
    let mut world = order_at(Stage::Authorizing);
    // The extended hold ends at initiated_at + 15 min; the gateway answers after that.
    world.advance_and_fire(15 * MINUTE_MS);
    assert_eq!(world.inventory(0).counts().reserved, 0, "the hold expired");
    world.release_gateway(Scripted::Approve);
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Compensated));
    let ledger = world.ledger(ORDER);
    assert!(ledger.voided, "the authorization is voided: {ledger:?}");
    assert_eq!(ledger.captured, Money::ZERO);
    assert_nothing_sold(&world);
}

#[test]
fn a_refused_capture_unsells_the_seats_and_voids_the_authorization() {
    // Pins down: Capturing + capture refused for good → unsell, void, Compensated; no ticket exists without captured money.
    let mut world = world();
    world.gateway.script.insert(
        (PaymentId::Order(ORDER), CallKind::Capture),
        [Scripted::Decline].into(),
    );
    world.initiate(ALICE, ORDER, 2, None).unwrap();
    world.settle();
    world.pay(ALICE, ORDER).unwrap();
    world.settle();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Compensated));
    assert!(world.ledger(ORDER).voided);
    assert_nothing_sold(&world);
}

#[test]
fn a_customer_cancels_while_reserving_and_the_reserve_that_lands_later_is_released() {
    // Pins down: Reserving + Cancel → Cancelled; whichever of reserve and release lands first, no seat stays held.
    for release_first in [false, true] {
        let mut world = order_at(Stage::Reserving);
        world.park = Some(Box::new(|message: &Message| {
            matches!(message, Message::Inventory { .. })
        }));
        world
            .order_command(ALICE, ORDER, OrderCommand::Cancel)
            .unwrap();
        world.settle();
        assert_eq!(world.order_status(ORDER), Some(OrderStatus::Cancelled));
        world.park = None;
        if release_first {
            world.parked.reverse();
        }
        world.unpark_all();
        world.settle();
        world.run_out_timers();
        assert_eq!(world.order_status(ORDER), Some(OrderStatus::Cancelled));
        assert_nothing_sold(&world);
    }
}

#[test]
fn a_customer_cancels_while_awaiting_payment_and_gets_the_seats_released_at_once() {
    // Pins down: AwaitingPayment + Cancel → Cancelled, seats back on sale immediately.
    let mut world = order_at(Stage::AwaitingPayment);
    world
        .order_command(ALICE, ORDER, OrderCommand::Cancel)
        .unwrap();
    world.settle();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Cancelled));
    assert_nothing_sold(&world);
    assert!(world.gateway.calls.is_empty());
}

#[test]
fn cancelling_once_payment_has_begun_is_too_late_and_changes_nothing() {
    // Pins down: Cancel in Extending, Authorizing, Confirming, Capturing or Completed is TooLateToCancel.
    for stage in [
        Stage::Extending,
        Stage::Authorizing,
        Stage::Confirming,
        Stage::Capturing,
        Stage::Completed,
    ] {
        let mut world = order_at(stage);
        let before = world.orders[&ORDER].state().clone();
        assert_eq!(
            world.order_command(ALICE, ORDER, OrderCommand::Cancel),
            Err(OrderError::TooLateToCancel),
            "{stage:?}"
        );
        assert_eq!(world.orders[&ORDER].state(), &before, "{stage:?}");
    }
}

#[test]
fn only_the_orders_customer_may_pay_or_cancel_and_nobody_pays_twice() {
    // Pins down: Pay/Cancel by another customer is NotOrderCustomer, by a service or the system NotAuthorized; a second Pay is refused.
    let mut world = order_at(Stage::AwaitingPayment);
    assert_eq!(world.pay(BOB, ORDER), Err(OrderError::NotOrderCustomer));
    assert_eq!(
        world.order_command(BOB, ORDER, OrderCommand::Cancel),
        Err(OrderError::NotOrderCustomer)
    );
    for actor in [Actor::Service, Actor::System] {
        let stream = world.orders.get_mut(&ORDER).unwrap();
        let cancel = Envelope::new(CommandId(900), actor, world.now, OrderCommand::Cancel);
        assert_eq!(
            stream.handle(&world.catalog, &cancel).err(),
            Some(OrderError::Guard(GuardError::NotAuthorized { actor }))
        );
    }
    world.pay(ALICE, ORDER).unwrap();
    assert!(matches!(
        world.pay(ALICE, ORDER),
        Err(OrderError::NotAllowedInStatus { .. })
    ));
    world.settle();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Completed));
    assert_eq!(world.ledger(ORDER).captured, TOTAL, "charged once");
}

#[test]
fn the_show_cancelled_before_payment_began_cancels_the_order_and_frees_the_seats() {
    // Pins down: Reserving, AwaitingPayment, Extending + show cancelled → release, Cancelled.
    for stage in [Stage::Reserving, Stage::AwaitingPayment, Stage::Extending] {
        let mut world = order_at(stage);
        world.show_command(ShowId(1), ShowCommand::Cancel).unwrap();
        world.settle();
        assert_eq!(
            world.order_status(ORDER),
            Some(OrderStatus::Cancelled),
            "{stage:?}"
        );
        world.park = None;
        world.unpark_all();
        world.settle();
        world.run_out_timers();
        assert_eq!(
            world.order_status(ORDER),
            Some(OrderStatus::Cancelled),
            "{stage:?}"
        );
        assert_nothing_sold(&world);
        assert!(world.gateway.calls.is_empty(), "{stage:?}");
    }
}

#[test]
fn the_show_start_closes_sales_releases_the_open_holds_and_the_unpaid_order_still_expires() {
    // Pins down: 3 minutes before the start the show can no longer be cancelled; the start timer completes the show, releases the seats an unpaid order holds and refuses new orders; that order expires at its 5 minutes.
    let mut world = MiniWorld::with_show(T0.plus(3 * MINUTE_MS), vec![general(CAPACITY, 5_000)]);
    assert_eq!(
        world.show_command(ShowId(1), ShowCommand::Cancel),
        Err(ShowError::TooCloseToShow)
    );
    world.initiate(ALICE, ORDER, 2, None).unwrap();
    world.settle();
    assert_eq!(world.inventory(0).counts().reserved, 2);
    world.advance_and_fire(3 * MINUTE_MS);
    assert_eq!(
        world.shows[&ShowId(1)].state().status(),
        Some(ShowStatus::Completed)
    );
    assert_eq!(world.inventory(0).counts().reserved, 0);
    assert_eq!(
        world.initiate(ALICE, OrderId(2), 1, None),
        Err(OrderError::SalesNotOpen)
    );
    world.advance_and_fire(2 * MINUTE_MS);
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Expired));
    world.check_replay();
}

#[test]
fn the_show_cancelled_during_authorization_waits_for_the_answer_then_undoes_it() {
    // Pins down: Authorizing + show cancelled → unchanged; then authorized → release + void, declined → release; both end Cancelled.
    for gateway_answer in [Scripted::Approve, Scripted::Decline] {
        let mut world = order_at(Stage::Authorizing);
        world.show_command(ShowId(1), ShowCommand::Cancel).unwrap();
        world.settle();
        assert_eq!(world.order_status(ORDER), Some(OrderStatus::Authorizing));
        world.release_gateway(gateway_answer);
        assert_eq!(
            world.order_status(ORDER),
            Some(OrderStatus::Cancelled),
            "{gateway_answer:?}"
        );
        if gateway_answer == Scripted::Approve {
            assert!(world.ledger(ORDER).voided, "the authorization is voided");
        }
        assert_nothing_sold(&world);
    }
}

#[test]
fn the_show_cancelled_during_confirmation_waits_for_the_answer_then_undoes_it() {
    // Pins down: Confirming + show cancelled → unchanged; confirmed then → unsell + void, refused → release + void; Cancelled, no ticket.
    for phase_change_first in [false, true] {
        let mut world = order_at(Stage::Confirming);
        world.park = Some(Box::new(|message: &Message| {
            matches!(message, Message::Inventory { .. })
        }));
        world.show_command(ShowId(1), ShowCommand::Cancel).unwrap();
        world.settle();
        assert_eq!(world.order_status(ORDER), Some(OrderStatus::Confirming));
        world.park = None;
        if phase_change_first {
            world.parked.reverse();
        }
        world.unpark_all();
        world.settle();
        assert_eq!(
            world.order_status(ORDER),
            Some(OrderStatus::Cancelled),
            "phase change first: {phase_change_first}"
        );
        assert!(world.ledger(ORDER).voided);
        assert_nothing_sold(&world);
    }
}

#[test]
fn the_show_cancelled_during_capture_refunds_the_capture_in_full_and_issues_no_ticket() {
    // Pins down: Capturing + show cancelled → unchanged; captured then → unsell + refund in full, Cancelled, no ticket.
    let mut world = order_at(Stage::Capturing);
    world.show_command(ShowId(1), ShowCommand::Cancel).unwrap();
    world.settle();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Capturing));
    world.release_gateway(Scripted::Approve);
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Cancelled));
    let ledger = world.ledger(ORDER);
    assert_eq!((ledger.captured, ledger.refunded), (TOTAL, TOTAL));
    assert_nothing_sold(&world);
}

#[test]
fn the_show_cancelled_after_completion_refunds_every_ticket_in_full() {
    // Pins down: ShowCancelled → every valid ticket refunded in full; the order stays Completed.
    let mut world = order_at(Stage::Completed);
    world.show_command(ShowId(1), ShowCommand::Cancel).unwrap();
    world.settle();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Completed));
    let ledger = world.ledger(ORDER);
    assert_eq!((ledger.captured, ledger.refunded), (TOTAL, TOTAL));
    assert!(world.valid_tickets(ORDER).is_empty());
    assert!(
        world
            .tickets
            .values()
            .all(|ticket| ticket.state().status() == Some(TicketStatus::ShowCancelled))
    );
    assert!(
        world.gateway.violations.is_empty(),
        "{:?}",
        world.gateway.violations
    );
}

#[test]
fn the_order_timer_does_nothing_once_payment_is_in_flight() {
    // Pins down: Authorizing, Confirming, Capturing + order expiry timer → unchanged; the answers in flight decide.
    for stage in [Stage::Authorizing, Stage::Confirming, Stage::Capturing] {
        let mut world = order_at(stage);
        let details = world.orders[&ORDER].state().details.clone().unwrap();
        world.advance(5 * MINUTE_MS);
        let expiry = Timer::OrderExpiry { order: ORDER }.command(details.expires_at);
        world.queue.push_back(super::mini_world::Delivery {
            message: expiry,
            actor: turnstile_core::Actor::System,
            copy: false,
        });
        world.settle();
        assert_eq!(
            world.orders[&ORDER]
                .state()
                .details
                .as_ref()
                .unwrap()
                .status,
            details.status
        );
        world.park = None;
        world.unpark_all();
        world.release_gateway(Scripted::Approve);
        assert_eq!(
            world.order_status(ORDER),
            Some(OrderStatus::Completed),
            "{stage:?}"
        );
        assert_eq!(world.ledger(ORDER).captured, TOTAL);
    }
}

#[test]
fn seats_reserved_after_the_order_was_rejected_are_released() {
    // Pins down: terminal (Rejected) + seats reserved late (a refused reserve accepted on resend) → release those seats.
    let mut world = order_at(Stage::Reserving);
    let reserve = world.parked.pop().expect("the parked reserve");
    // Sales close before the reserve lands: refused, the order ends Rejected.
    world
        .show_command(ShowId(1), ShowCommand::CloseSales)
        .unwrap();
    world.park = None;
    world.settle();
    world.queue.push_back(reserve.clone());
    world.settle();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Rejected));
    // Sales reopen and the saga's resend of the same reserve is accepted.
    world
        .show_command(ShowId(1), ShowCommand::OpenSales)
        .unwrap();
    world.settle();
    world.queue.push_back(reserve);
    world.settle();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Rejected));
    assert_nothing_sold(&world);
}

#[test]
fn seats_confirmed_after_the_order_ended_are_unsold() {
    // Pins down: terminal + seats confirmed (late) → unsell; the order's state does not change.
    let mut world = order_at(Stage::Confirming);
    world.inject(answer(
        1,
        OrderCommand::ConfirmRejected {
            reason: InventoryError::HoldNotLive { order: ORDER },
        },
    ));
    world.settle();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Compensated));
    world.park = None;
    world.unpark_all(); // the first confirm lands after all
    world.settle();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Compensated));
    assert!(world.ledger(ORDER).voided);
    assert_nothing_sold(&world);
}

#[test]
fn an_authorization_after_the_order_ended_is_voided() {
    // Pins down: terminal + authorized (late) → void; the order's state does not change.
    let mut world = order_at(Stage::Authorizing);
    world.inject(answer(
        1,
        OrderCommand::AuthorizationFailed {
            reason: PaymentFailure::Declined,
        },
    ));
    world.settle();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Compensated));
    world.release_gateway(Scripted::Approve);
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Compensated));
    assert!(world.ledger(ORDER).voided);
    assert_nothing_sold(&world);
}

#[test]
fn a_capture_after_the_order_ended_is_refunded_in_full() {
    // Pins down: terminal + captured (late) → refund in full; no ticket for money given back.
    let mut world = order_at(Stage::Capturing);
    world.inject(answer(
        1,
        OrderCommand::CaptureFailed {
            reason: PaymentFailure::Declined,
        },
    ));
    world.settle();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Compensated));
    world.release_gateway(Scripted::Approve);
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Compensated));
    let ledger = world.ledger(ORDER);
    assert_eq!((ledger.captured, ledger.refunded), (TOTAL, TOTAL));
    assert_nothing_sold(&world);
}

#[test]
fn a_completed_order_ignores_every_later_answer() {
    // Pins down: any terminal + anything else (duplicates included) → acknowledged, ignored, state unchanged.
    let mut world = order_at(Stage::Completed);
    let before = world.orders[&ORDER].state().details.clone();
    let events = order_events(&world);
    let bodies = [
        OrderCommand::SeatsReserved {
            seats: Default::default(),
        },
        OrderCommand::HoldExtended,
        OrderCommand::Authorized,
        OrderCommand::SeatsConfirmed,
        OrderCommand::Captured,
        OrderCommand::CaptureFailed {
            reason: PaymentFailure::Declined,
        },
        OrderCommand::ShowCancelled,
    ];
    for (n, body) in bodies.into_iter().enumerate() {
        world.inject(answer(n as u64, body));
    }
    world.settle();
    assert_eq!(world.orders[&ORDER].state().details, before);
    assert_eq!(
        order_events(&world),
        events,
        "no event for an ignored answer"
    );
    assert_eq!(world.ledger(ORDER).refunded, Money::ZERO);
    assert_eq!(world.inventory(0).counts().sold, 2);
}

#[test]
fn a_terminal_order_ignores_answers_that_need_no_undo() {
    // Pins down: an Expired order stays Expired whatever answer arrives, and only late money or seats trigger undo steps.
    let mut world = order_at(Stage::AwaitingPayment);
    world.advance_and_fire(5 * MINUTE_MS);
    let events = order_events(&world);
    for (n, body) in [
        OrderCommand::HoldExtended,
        OrderCommand::ReserveRejected {
            reason: InventoryError::SalesNotOpen,
        },
        OrderCommand::ShowCancelled,
    ]
    .into_iter()
    .enumerate()
    {
        world.inject(answer(n as u64, body));
    }
    world.settle();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Expired));
    assert_eq!(order_events(&world), events);
}

#[test]
fn every_message_delivered_twice_changes_no_outcome() {
    // Pins down: duplicates are ignored — with every message delivered twice the happy path and each compensation end as with one delivery.
    let scripts = [
        None,
        Some((CallKind::Authorize, Scripted::Decline)),
        Some((CallKind::Capture, Scripted::Decline)),
        Some((CallKind::Authorize, Scripted::ApproveTwice)),
    ];
    for script in scripts {
        let mut world = world();
        world.duplicate = true;
        if let Some((kind, answer)) = script {
            world
                .gateway
                .script
                .insert((PaymentId::Order(ORDER), kind), [answer].into());
        }
        world.initiate(ALICE, ORDER, 2, None).unwrap();
        world.settle();
        world.pay(ALICE, ORDER).unwrap();
        world.settle();
        world.run_out_timers();
        assert!(
            world.gateway.violations.is_empty(),
            "{:?}",
            world.gateway.violations
        );
        if script.is_some_and(|(_, answer)| answer == Scripted::Decline) {
            assert_eq!(
                world.order_status(ORDER),
                Some(OrderStatus::Compensated),
                "{script:?}"
            );
            assert_nothing_sold(&world);
        } else {
            assert_eq!(
                world.order_status(ORDER),
                Some(OrderStatus::Completed),
                "{script:?}"
            );
            assert_eq!(world.ledger(ORDER).captured, TOTAL, "{script:?}");
            assert_eq!(world.ledger(ORDER).refunded, Money::ZERO, "{script:?}");
            assert_eq!(world.inventory(0).counts().sold, 2, "{script:?}");
            assert_eq!(world.valid_tickets(ORDER).len(), 2, "{script:?}");
        }
    }
}

#[test]
fn unknown_gateway_outcomes_are_resolved_by_status_query_and_never_move_money_twice() {
    // Pins down: a timed-out call is resolved by a status query before the saga hears anything; a lost call is reissued with the same key.
    for answer in [Scripted::TimeoutAfterDoing, Scripted::TimeoutLost] {
        for kind in [CallKind::Authorize, CallKind::Capture] {
            let mut world = world();
            world
                .gateway
                .script
                .insert((PaymentId::Order(ORDER), kind), [answer].into());
            world.initiate(ALICE, ORDER, 2, None).unwrap();
            world.settle();
            world.pay(ALICE, ORDER).unwrap();
            world.settle();
            assert_eq!(
                world.order_status(ORDER),
                Some(OrderStatus::Completed),
                "{answer:?} on {kind:?}"
            );
            assert_eq!(
                world.ledger(ORDER).captured,
                TOTAL,
                "{answer:?} on {kind:?}"
            );
            assert!(
                world.gateway.violations.is_empty(),
                "{:?}",
                world.gateway.violations
            );
            let keys: std::collections::BTreeSet<_> = world
                .gateway
                .calls
                .iter()
                .filter(|call| call.request != turnstile_core::payment::GatewayRequest::Status)
                .map(|call| call.key)
                .collect();
            assert_eq!(
                keys.len(),
                2,
                "one key for the authorization, one for the capture"
            );
        }
    }
}

#[test]
fn an_order_whose_payment_lands_after_the_start_is_not_sold() {
    // Pins down: at the start nothing more can be bought: an authorization answered after the start ends the order without a sale or a capture, even if the section has not yet heard that the show started.
    let start = T0.plus(10 * DAY_MS);
    let mut world = MiniWorld::with_show(start, vec![general(CAPACITY, 5_000)]);
    world.now = Timestamp(start.0 - 2 * MINUTE_MS);
    world.gateway.script.insert(
        (PaymentId::Order(ORDER), CallKind::Authorize),
        [Scripted::Hold].into(),
    );
    world.initiate(ALICE, ORDER, 2, None).unwrap();
    world.settle();
    world.pay(ALICE, ORDER).unwrap();
    world.settle();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Authorizing));
    // The show starts; its phase change to the section is still in flight.
    park_inventory(&mut world, |body| {
        matches!(body, InventoryCommand::SetPhase { .. })
    });
    world.now = start;
    world.fire_due_timers();
    world.release_gateway(Scripted::Approve);
    assert_ne!(
        world.order_status(ORDER),
        Some(OrderStatus::Completed),
        "bought after the start"
    );
    assert_eq!(
        world.ledger(ORDER).captured,
        Money::ZERO,
        "captured after the start"
    );
    assert_eq!(world.inventory(0).counts().sold, 0);
}

#[test]
fn the_hold_lives_five_minutes_then_exactly_until_the_fifteen_minute_window_ends() {
    // Pins down: the saga reserves with expires_at = initiated_at + 5 min and extends to initiated_at + 15 min; an authorization answered 1 ms before the window ends still sells.
    let mut world = order_at(Stage::AwaitingPayment);
    let initiated_at = world.orders[&ORDER]
        .state()
        .details
        .as_ref()
        .unwrap()
        .initiated_at;
    let hold = |world: &MiniWorld| world.inventory(0).order(ORDER).unwrap().expires_at;
    assert_eq!(hold(&world), initiated_at.plus(5 * MINUTE_MS));
    world.gateway.script.insert(
        (PaymentId::Order(ORDER), CallKind::Authorize),
        [Scripted::Hold].into(),
    );
    world.pay(ALICE, ORDER).unwrap();
    world.settle();
    assert_eq!(hold(&world), initiated_at.plus(15 * MINUTE_MS));
    world.now = Timestamp(initiated_at.plus(15 * MINUTE_MS).0 - 1);
    world.fire_due_timers();
    world.release_gateway(Scripted::Approve);
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Completed));
    assert_eq!(world.ledger(ORDER).captured, TOTAL);
}

/// Holds back the news of the show's cancellation (to the order and to the inventory)
/// until the test lets it go: the order must end right from its catalog alone.
fn park_the_cancellation_news(world: &mut MiniWorld) {
    world.park = Some(Box::new(|message: &Message| {
        matches!(
            message,
            Message::Order {
                body: OrderCommand::ShowCancelled,
                ..
            } | Message::Inventory {
                body: InventoryCommand::SetPhase { .. },
                ..
            }
        )
    }));
}

#[test]
fn an_order_paid_after_its_show_was_cancelled_ends_cancelled_even_if_the_news_is_late() {
    // Pins down: every order open when the show is cancelled ends Cancelled with nothing kept — also when the order's cancellation message is still in flight as the customer pays (the order service already knows from its catalog).
    let mut world = order_at(Stage::AwaitingPayment);
    park_the_cancellation_news(&mut world);
    world.show_command(ShowId(1), ShowCommand::Cancel).unwrap();
    world.settle();
    assert_eq!(world.pay(ALICE, ORDER), Err(OrderError::ShowCancelled));
    world.settle();
    world.park = None;
    world.unpark_all();
    world.settle();
    world.run_out_timers();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Cancelled));
    assert_nothing_sold(&world);
}

#[test]
fn an_order_paying_when_its_show_is_cancelled_ends_cancelled_even_if_the_news_is_late() {
    // Pins down: an order between authorization and capture when the show is cancelled ends Cancelled with everything undone, also when its own cancellation message arrives after the answers (the order service knows from its catalog).
    for stage in [Stage::Authorizing, Stage::Capturing] {
        let mut world = order_at(stage);
        park_the_cancellation_news(&mut world);
        world.show_command(ShowId(1), ShowCommand::Cancel).unwrap();
        world.settle();
        world.release_gateway(Scripted::Approve);
        world.park = None;
        world.unpark_all();
        world.settle();
        world.run_out_timers();
        assert_eq!(
            world.order_status(ORDER),
            Some(OrderStatus::Cancelled),
            "{stage:?}"
        );
        let ledger = world.ledger(ORDER);
        assert_eq!(ledger.kept(), Money::ZERO, "{stage:?}: {ledger:?}");
        assert_eq!(ledger.authorized_open, Money::ZERO, "{stage:?}");
        assert!(world.valid_tickets(ORDER).is_empty(), "{stage:?}");
    }
}

/// The last event `ORDER` recorded.
fn last_order_event(world: &MiniWorld) -> turnstile_core::order::OrderEvent {
    world.orders[&ORDER]
        .log()
        .last()
        .expect("an event")
        .event
        .clone()
}

#[test]
fn every_late_answer_to_an_ended_order_is_undone_by_its_own_step() {
    // Pins down: SPEC's rows for a terminal order that is not Completed, answer by answer and recorded as such: seats reserved late → release, confirmed late → unsell, authorized late → void, captured late → refund in full (the saga itself never causes the last two today; a resent or reordered message could).
    use turnstile_core::order::{LateAnswer, OrderEvent, Undo};
    let mut world = order_at(Stage::Confirming);
    world.inject(answer(
        1,
        OrderCommand::ConfirmRejected {
            reason: InventoryError::HoldNotLive { order: ORDER },
        },
    ));
    world.settle();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Compensated));
    let none = Undo::default();
    let cases = [
        (
            OrderCommand::SeatsReserved {
                seats: Default::default(),
            },
            LateAnswer::SeatsReserved,
            Undo {
                release: true,
                ..none
            },
        ),
        (
            OrderCommand::SeatsConfirmed,
            LateAnswer::SeatsConfirmed,
            Undo {
                unsell: true,
                ..none
            },
        ),
        (
            OrderCommand::Authorized,
            LateAnswer::Authorized,
            Undo { void: true, ..none },
        ),
        (
            OrderCommand::Captured,
            LateAnswer::Captured,
            Undo {
                refund: true,
                ..none
            },
        ),
    ];
    for (index, (body, late, undo)) in cases.into_iter().enumerate() {
        world.inject(answer(10 + index as u64, body));
        world.settle();
        assert_eq!(
            last_order_event(&world),
            OrderEvent::LateAnswerUndone { answer: late, undo },
            "{late:?}"
        );
        assert_eq!(world.order_status(ORDER), Some(OrderStatus::Compensated));
    }
}

#[test]
fn an_authorization_landing_after_the_show_was_cancelled_ends_the_order_at_once() {
    // Pins down: Authorizing with the show cancelled + authorized → Cancelled at once, releasing the seats and voiding (no confirm is asked), not one step later.
    use turnstile_core::order::{OrderEvent, Undo};
    let mut world = order_at(Stage::Authorizing);
    world.show_command(ShowId(1), ShowCommand::Cancel).unwrap();
    world.settle();
    world.release_gateway(Scripted::Approve);
    assert!(
        !world.orders[&ORDER]
            .log()
            .iter()
            .any(|recorded| recorded.event == OrderEvent::Authorized),
        "no step towards confirming"
    );
    assert_eq!(
        last_order_event(&world),
        OrderEvent::Ended {
            status: OrderStatus::Cancelled,
            cause: EndCause::ShowCancelled,
            undo: Undo {
                release: true,
                void: true,
                ..Undo::default()
            },
        }
    );
    assert_nothing_sold(&world);
}

#[test]
fn an_expiry_that_fires_before_its_deadline_changes_nothing_and_a_second_cancellation_notice_is_not_noted_twice()
 {
    // Pins down: the order expiry guard (`now ≥ expires_at`: a stale or early timer expires nothing) and the show-cancellation note in Authorizing (recorded once; another notice with a new id adds nothing).
    use turnstile_core::order::OrderEvent;
    let mut world = order_at(Stage::AwaitingPayment);
    let before = order_events(&world);
    world.queue.push_back(super::mini_world::Delivery {
        message: answer(1, OrderCommand::Expire),
        actor: Actor::System,
        copy: false,
    });
    world.settle();
    assert_eq!(
        world.order_status(ORDER),
        Some(OrderStatus::AwaitingPayment)
    );
    assert_eq!(order_events(&world), before, "an early expiry is ignored");

    let mut world = order_at(Stage::Authorizing);
    world.inject(answer(1, OrderCommand::ShowCancelled));
    world.settle();
    assert_eq!(last_order_event(&world), OrderEvent::ShowCancellationNoted);
    let noted = order_events(&world);
    world.inject(answer(2, OrderCommand::ShowCancelled));
    world.settle();
    assert_eq!(order_events(&world), noted, "noted once");
}

#[test]
fn a_reserve_answer_landing_after_the_catalog_learned_of_the_cancellation_ends_the_order_at_once() {
    // Pins down: Reserving, the show cancelled in the order service's catalog but its own notice not yet delivered, + SeatsReserved → Cancelled at once with the seats released, never Reserved (one hop later the notice would end it the same way, so only "never Reserved" tells).
    use turnstile_core::order::{OrderEvent, Undo};
    let mut world = order_at(Stage::Reserving);
    // The inventory reserves; its answer waits.
    park_order(&mut world, |body| {
        matches!(
            body,
            OrderCommand::SeatsReserved { .. } | OrderCommand::ShowCancelled
        )
    });
    world.unpark_all();
    world.settle();
    // The show is cancelled: the catalog knows at once, the order's own notice waits.
    world.show_command(ShowId(1), ShowCommand::Cancel).unwrap();
    world.settle();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Reserving));
    // The reserve answer lands first.
    park_order(&mut world, |body| {
        matches!(body, OrderCommand::ShowCancelled)
    });
    world.unpark_all();
    world.settle();
    assert!(
        !world.orders[&ORDER]
            .log()
            .iter()
            .any(|recorded| matches!(recorded.event, OrderEvent::Reserved { .. })),
        "no step towards payment"
    );
    assert_eq!(
        last_order_event(&world),
        OrderEvent::Ended {
            status: OrderStatus::Cancelled,
            cause: EndCause::ShowCancelled,
            undo: Undo {
                release: true,
                ..Undo::default()
            },
        }
    );
    world.park = None;
    world.unpark_all();
    world.settle();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Cancelled));
    assert_nothing_sold(&world);
}

#[test]
fn a_confirm_refused_because_the_show_started_releases_the_live_hold_at_once() {
    // Pins down: Confirming + ConfirmRejected for a reason other than AlreadyConfirmed (here ShowStarted, the hold still live) → the order ends releasing its seats then, not at the hold's expiry minutes later (and voids its authorization).
    use turnstile_core::order::{OrderEvent, Undo};
    let start = T0.plus(15 * MINUTE_MS);
    let mut world = MiniWorld::with_show(start, vec![general(CAPACITY, 5_000)]);
    park_inventory(&mut world, |body| {
        matches!(body, InventoryCommand::Confirm { .. })
    });
    world.initiate(ALICE, ORDER, 2, None).unwrap();
    world.settle();
    world.pay(ALICE, ORDER).unwrap();
    world.settle();
    assert_eq!(world.order_status(ORDER), Some(OrderStatus::Confirming));
    // The show starts while the confirmation is on its way; the hold is still live.
    world.now = start;
    world.park = None;
    world.unpark_all();
    world.settle();
    let Some(OrderEvent::Ended { undo, .. }) = world.orders[&ORDER]
        .log()
        .iter()
        .rev()
        .map(|recorded| recorded.event.clone())
        .find(|event| matches!(event, OrderEvent::Ended { .. }))
    else {
        panic!("the order ended: {:?}", world.order_status(ORDER));
    };
    assert_eq!(
        undo,
        Undo {
            release: true,
            void: true,
            ..Undo::default()
        }
    );
    let counts = world.inventory(0).counts();
    assert_eq!(
        (counts.reserved, counts.sold),
        (0, 0),
        "released at once, before the hold's expiry"
    );
}
