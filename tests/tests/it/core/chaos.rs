//! The whole ticketing flow under a seeded delivery order: messages shuffled and
//! duplicated, the gateway declining, timing out and answering twice, customers
//! paying late or cancelling, timers firing mid-flight and the show sometimes
//! cancelled. Once quiet, what every customer sees must be consistent: an order either
//! completed — its quote captured once, its seats sold, one ticket per seat — or it
//! holds nothing and was charged nothing.

use super::mini_world::{CallKind, MiniWorld, Scripted, splitmix};
use super::support::{ALICE, BOB, CAROL, T0, general};
use proptest::prelude::*;
use turnstile_core::order::{OrderCommand, OrderStatus};
use turnstile_core::show::ShowCommand;
use turnstile_core::time::{DAY_MS, MINUTE_MS};
use turnstile_core::{Money, OrderId, PaymentId, ShowId};

const CAPACITY: u32 = 12;

fn script() -> impl Strategy<Value = Scripted> {
    prop_oneof![
        6 => Just(Scripted::Approve),
        2 => Just(Scripted::Decline),
        1 => Just(Scripted::TimeoutAfterDoing),
        1 => Just(Scripted::TimeoutLost),
        1 => Just(Scripted::ApproveTwice),
    ]
}

#[derive(Clone, Debug)]
struct Customer {
    quantity: u32,
    authorize: Scripted,
    capture: Scripted,
    /// 0: pays at once, 1: pays after 4 min, 2: after 6 min (too late), 3: never, 4: cancels.
    behaviour: u8,
}

fn customer() -> impl Strategy<Value = Customer> {
    (1u32..=4, script(), script(), 0u8..5).prop_map(|(quantity, authorize, capture, behaviour)| {
        Customer {
            quantity,
            authorize,
            capture,
            behaviour,
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn under_any_delivery_order_each_order_ends_either_sold_and_paid_or_with_nothing_taken(
        customers in prop::collection::vec(customer(), 1..6),
        seed in any::<u64>(),
        cancel_show_at_step in prop::option::weighted(0.25, 0usize..4),
    ) {
        // Pins down: whatever the delivery order, duplicates, gateway answers and timers, once quiet every order is terminal; a completed one has its quote captured once, its seats sold and one ticket per seat; any other holds no seat, no open authorization and no money.
        flow_under_chaos(&customers, seed, cancel_show_at_step)?;
    }
}

/// The body of the delivery-order property (outside the macro so it is formatted).
fn flow_under_chaos(
    customers: &[Customer],
    seed: u64,
    cancel_show_at_step: Option<usize>,
) -> Result<(), TestCaseError> {
    let start = T0.plus(10 * DAY_MS);
    let mut world = MiniWorld::with_show(start, vec![general(CAPACITY, 5_000)]);
    world.chaos = Some(seed);
    let people = [ALICE, BOB, CAROL];
    let mut state = seed ^ 0x5eed;
    for (index, plan) in customers.iter().enumerate() {
        let order = OrderId(index as u64 + 1);
        let payment = PaymentId::Order(order);
        world
            .gateway
            .script
            .insert((payment, CallKind::Authorize), [plan.authorize].into());
        world
            .gateway
            .script
            .insert((payment, CallKind::Capture), [plan.capture].into());
        world
            .initiate(people[index % 3], order, plan.quantity, None)
            .unwrap();
    }
    let mut show_cancelled = false;
    for step in 0..4usize {
        if cancel_show_at_step == Some(step) {
            world.show_command(ShowId(1), ShowCommand::Cancel).unwrap();
            show_cancelled = true;
        }
        // Deliver part of what is in flight, then let customers act.
        let partial = (splitmix(&mut state) % 4) as usize;
        for _ in 0..partial {
            if let Some(delivery) = world.queue.pop_front() {
                world.queue.push_back(delivery);
            }
        }
        world.settle();
        for (index, plan) in customers.iter().enumerate() {
            let order = OrderId(index as u64 + 1);
            let customer = people[index % 3];
            let acts = match plan.behaviour {
                0 => step == 0,
                1 | 2 => step == 2,
                4 => step == 1,
                _ => false,
            };
            if acts {
                // Refusals are part of the game (too late, already ended).
                let _ = if plan.behaviour == 4 {
                    world.order_command(customer, order, OrderCommand::Cancel)
                } else {
                    world.pay(customer, order)
                };
            }
        }
        prop_assert_eq!(
            &world.timers_after_restart(),
            &world.timers,
            "a restart would arm other timers"
        );
        world.advance_and_fire(match step {
            0 => 0,
            1 => 4 * MINUTE_MS,
            _ => 2 * MINUTE_MS,
        });
    }
    world.run_out_timers();
    world.settle();
    prop_assert!(world.is_quiet(), "not quiet: {:?}", world.timers);
    prop_assert_eq!(
        &world.timers_after_restart(),
        &world.timers,
        "a restart would arm other timers"
    );
    prop_assert!(
        world.gateway.violations.is_empty(),
        "{:?}",
        world.gateway.violations
    );

    let mut sold = 0;
    for (index, plan) in customers.iter().enumerate() {
        let order = OrderId(index as u64 + 1);
        let status = world.order_status(order).expect("initiated");
        prop_assert!(status.is_terminal(), "{:?} ended {:?}", order, status);
        let ledger = world.ledger(order);
        let tickets = world.valid_tickets(order).len() as u32;
        prop_assert_eq!(
            ledger.authorized_open,
            Money::ZERO,
            "{:?} {:?}: an authorization left open",
            order,
            status
        );
        if status == OrderStatus::Completed {
            sold += plan.quantity;
            let total = Money(u64::from(plan.quantity) * 5_000);
            prop_assert_eq!(ledger.captured, total, "{:?}", order);
            if show_cancelled {
                prop_assert_eq!((ledger.refunded, tickets), (total, 0), "{:?}", order);
            } else {
                prop_assert_eq!(
                    (ledger.refunded, tickets),
                    (Money::ZERO, plan.quantity),
                    "{:?}",
                    order
                );
            }
        } else {
            prop_assert_eq!(
                ledger.kept(),
                Money::ZERO,
                "{:?} {:?} kept money: {:?}",
                order,
                status,
                ledger
            );
            prop_assert_eq!(tickets, 0, "{:?} {:?} has tickets", order, status);
        }
    }
    // Our payment records agree with the gateway's ledger once quiet.
    for (payment, stream) in &world.payments {
        let Some(details) = stream.state().details.as_ref() else {
            continue;
        };
        let ledger = world.gateway.ledger(*payment);
        prop_assert_eq!(
            (details.captured, details.refunded, details.paid_out),
            (ledger.captured, ledger.refunded, ledger.paid_out),
            "{:?}: our record {:?} vs the gateway {:?}",
            payment,
            details.status,
            ledger
        );
    }
    let counts = world.inventory(0).counts();
    prop_assert_eq!(
        (counts.reserved, counts.sold),
        (0, sold),
        "seats held or sold without a completed order"
    );
    prop_assert_eq!(
        world
            .read_models
            .available_seats
            .section(super::support::key(1, 0)),
        Some(counts)
    );
    Ok(())
}

/// What a ticket's owner does after buying.
#[derive(Clone, Copy, Debug)]
enum TicketMove {
    Keep,
    Cancel,
    Transfer,
    Resell { price_cents: u64, capture: Scripted },
}

fn ticket_move() -> impl Strategy<Value = TicketMove> {
    prop_oneof![
        2 => Just(TicketMove::Keep),
        1 => Just(TicketMove::Cancel),
        1 => Just(TicketMove::Transfer),
        3 => (1u64..=5_000, prop_oneof![3 => Just(Scripted::Approve), 1 => Just(Scripted::Decline), 1 => Just(Scripted::TimeoutAfterDoing)])
            .prop_map(|(price_cents, capture)| TicketMove::Resell { price_cents, capture }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases / 2, ..ProptestConfig::default() })]

    #[test]
    fn after_a_cancelled_show_nobody_is_out_of_pocket_and_the_organizer_keeps_nothing(
        moves in prop::collection::vec((ticket_move(), 0u64..20), 1..6),
        seed in any::<u64>(),
        cancel_show in any::<bool>(),
    ) {
        // Pins down: tickets bought, cancelled, transferred and resold (captures refused or delayed) under shuffled delivery; once quiet our payment records equal the gateway's, and if the show is cancelled every buyer's money comes back except what a reseller was paid, so the organizer keeps nothing.
        tickets_under_chaos(&moves, seed, cancel_show)?;
    }
}

/// The body of the ticket property (outside the macro so it is formatted).
fn tickets_under_chaos(
    moves: &[(TicketMove, u64)],
    seed: u64,
    cancel_show: bool,
) -> Result<(), TestCaseError> {
    use turnstile_core::ticket::{TicketCommand, TicketStatus};
    use turnstile_core::{ResaleId, TicketId, Timestamp};
    let start = T0.plus(20 * DAY_MS);
    let mut world = MiniWorld::with_show(start, vec![general(CAPACITY, 5_000)]);
    let people = [ALICE, BOB, CAROL];
    for index in 0..moves.len() {
        let order = OrderId(index as u64 + 1);
        world.initiate(people[index % 3], order, 1, None).unwrap();
        world.settle();
        world.pay(people[index % 3], order).unwrap();
        world.settle();
        prop_assert_eq!(world.order_status(order), Some(OrderStatus::Completed));
    }
    world.chaos = Some(seed);
    for (index, (ticket_move, days_later)) in moves.iter().enumerate() {
        let owner = people[index % 3];
        let other = people[(index + 1) % 3];
        let ticket = TicketId {
            order: OrderId(index as u64 + 1),
            index: 0,
        };
        world.now = Timestamp(world.now.0.max(T0.0 + days_later * DAY_MS / 2));
        match ticket_move {
            TicketMove::Keep => {}
            TicketMove::Cancel => {
                let _ = world.ticket_command(owner, ticket, TicketCommand::Cancel);
            }
            TicketMove::Transfer => {
                let _ = world.ticket_command(owner, ticket, TicketCommand::Transfer { to: other });
            }
            TicketMove::Resell {
                price_cents,
                capture,
            } => {
                let resale = ResaleId(index as u64 + 1);
                world.gateway.script.insert(
                    (PaymentId::Resale(resale), CallKind::Capture),
                    [*capture].into(),
                );
                if world
                    .ticket_command(
                        owner,
                        ticket,
                        TicketCommand::List {
                            price: Money(*price_cents),
                        },
                    )
                    .is_ok()
                {
                    world
                        .buy_resale(other, resale, ticket, Money(*price_cents))
                        .unwrap();
                }
            }
        }
        world.settle();
    }
    if cancel_show {
        world.show_command(ShowId(1), ShowCommand::Cancel).unwrap();
    }
    world.run_out_timers();
    world.settle();
    prop_assert!(world.is_quiet());
    prop_assert!(
        world.gateway.violations.is_empty(),
        "{:?}",
        world.gateway.violations
    );
    let mut kept = 0u64;
    for (payment, stream) in &world.payments {
        let Some(details) = stream.state().details.as_ref() else {
            continue;
        };
        let ledger = world.gateway.ledger(*payment);
        prop_assert_eq!(
            (details.captured, details.refunded, details.paid_out),
            (ledger.captured, ledger.refunded, ledger.paid_out),
            "{:?}",
            payment
        );
        prop_assert_eq!(
            ledger.authorized_open,
            Money::ZERO,
            "{:?}: authorization left open",
            payment
        );
        kept += ledger.kept().0;
    }
    if cancel_show {
        prop_assert_eq!(kept, 0, "the organizer kept money of a cancelled show");
        for stream in world.tickets.values() {
            let status = stream.state().status();
            prop_assert!(
                matches!(
                    status,
                    Some(TicketStatus::ShowCancelled | TicketStatus::Cancelled)
                ),
                "{:?}",
                status
            );
        }
    }
    Ok(())
}

#[test]
fn a_flash_sale_of_150_buyers_for_100_seats_sells_exactly_100() {
    // Pins down: the plan's stress test — more buyers than seats, delivered in shuffled order: exactly the capacity is sold and charged, everyone else is refused and charged nothing.
    for seed in [1u64, 2, 3, 0xdead_beef] {
        let mut world = MiniWorld::with_show(T0.plus(10 * DAY_MS), vec![general(100, 5_000)]);
        world.chaos = Some(seed);
        let people = [ALICE, BOB, CAROL];
        for index in 0..150u64 {
            world
                .initiate(people[index as usize % 3], OrderId(index + 1), 1, None)
                .unwrap();
        }
        world.settle();
        for index in 0..150u64 {
            // Only orders holding seats may pay; the rest are refused.
            let _ = world.pay(people[index as usize % 3], OrderId(index + 1));
        }
        world.settle();
        world.run_out_timers();
        let completed = (1..=150)
            .filter(|order| world.order_status(OrderId(*order)) == Some(OrderStatus::Completed))
            .count();
        let rejected = (1..=150)
            .filter(|order| world.order_status(OrderId(*order)) == Some(OrderStatus::Rejected))
            .count();
        assert_eq!((completed, rejected), (100, 50), "seed {seed}");
        assert_eq!(world.inventory(0).counts().sold, 100);
        let charged: u64 = world
            .gateway
            .ledgers
            .values()
            .map(|ledger| ledger.kept().0)
            .sum();
        assert_eq!(charged, 100 * 5_000, "seed {seed}");
        assert!(world.gateway.violations.is_empty());
    }
}

#[test]
fn ten_buyers_racing_for_the_last_seat_leave_exactly_one_winner() {
    // Pins down: the plan's last-seat race — ten orders for one seat in any delivery order: one is sold, nine are refused, nobody else is charged.
    for seed in 0..16u64 {
        let mut world = MiniWorld::with_show(T0.plus(10 * DAY_MS), vec![general(1, 5_000)]);
        world.chaos = Some(seed);
        for order in 1..=10u64 {
            world.initiate(ALICE, OrderId(order), 1, None).unwrap();
            let _ = world.pay(ALICE, OrderId(order));
        }
        world.settle();
        for order in 1..=10u64 {
            let _ = world.pay(ALICE, OrderId(order));
        }
        world.settle();
        world.run_out_timers();
        let winners: Vec<u64> = (1..=10)
            .filter(|order| world.order_status(OrderId(*order)) == Some(OrderStatus::Completed))
            .collect();
        assert_eq!(winners.len(), 1, "seed {seed}: {winners:?}");
        assert_eq!(world.inventory(0).counts().sold, 1);
        let charged: u64 = world
            .gateway
            .ledgers
            .values()
            .map(|ledger| ledger.kept().0)
            .sum();
        assert_eq!(charged, 5_000, "seed {seed}");
    }
}
