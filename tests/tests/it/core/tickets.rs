//! Ticket rules of SPEC.md, end to end through the mini world: transfer (24 hours,
//! rights not money), customer cancellation (100/50/0 at 7 and 3 days, seat back on
//! sale), resale (R ≤ P, one buyer wins, refused capture, payouts, the show's
//! cancellation splitting R and P − R), and who may touch a ticket.

use super::mini_world::{CallKind, Ledger, MiniWorld, Scripted};
use super::support::{ALICE, BOB, CAROL, T0, general};
use turnstile_core::GuardError;
use turnstile_core::order::OrderStatus;
use turnstile_core::show::ShowCommand;
use turnstile_core::ticket::resale::ResaleStatus;
use turnstile_core::ticket::{TicketCommand, TicketError, TicketStatus};
use turnstile_core::time::{DAY_MS, HOUR_MS};
use turnstile_core::{
    Actor, CommandId, CustomerId, Envelope, Money, OrderId, PaymentId, ResaleId, ShowId, TicketId,
    Timestamp,
};

const START: Timestamp = Timestamp(T0.0 + 20 * DAY_MS);
/// What one ticket costs (regular tier).
const P: Money = Money(5_000);
const R: Money = Money(4_000);

fn world() -> MiniWorld {
    MiniWorld::with_show(START, vec![general(100, 5_000)])
}

/// `customer` buys one ticket with order `order`; its ticket id.
fn buy(world: &mut MiniWorld, customer: CustomerId, order: u64) -> TicketId {
    let order = OrderId(order);
    world.initiate(customer, order, 1, None).unwrap();
    world.settle();
    world.pay(customer, order).unwrap();
    world.settle();
    assert_eq!(
        world.order_status(order),
        Some(OrderStatus::Completed),
        "set-up"
    );
    TicketId { order, index: 0 }
}

fn owner(world: &MiniWorld, ticket: TicketId) -> CustomerId {
    world.tickets[&ticket].state().owner().unwrap()
}

fn status(world: &MiniWorld, ticket: TicketId) -> TicketStatus {
    world.tickets[&ticket].state().status().unwrap()
}

fn transfer(to: CustomerId) -> TicketCommand {
    TicketCommand::Transfer { to }
}

fn list(price: Money) -> TicketCommand {
    TicketCommand::List { price }
}

fn resale_status(world: &MiniWorld, resale: u64) -> ResaleStatus {
    world.resales[&ResaleId(resale)].state().status().unwrap()
}

fn no_violations(world: &MiniWorld) {
    assert!(
        world.gateway.violations.is_empty(),
        "{:?}",
        world.gateway.violations
    );
}

#[test]
fn a_transfer_is_allowed_until_twenty_four_hours_before_the_start() {
    // Pins down: Transfer at start − 24 h is allowed, at start − 24 h + 1 ms it is TooCloseToShow.
    let mut world = world();
    let first = buy(&mut world, ALICE, 1);
    let second = buy(&mut world, ALICE, 2);
    world.now = Timestamp(START.0 - 24 * HOUR_MS);
    world.ticket_command(ALICE, first, transfer(BOB)).unwrap();
    assert_eq!(owner(&world, first), BOB);
    world.advance(1);
    assert_eq!(
        world.ticket_command(ALICE, second, transfer(BOB)),
        Err(TicketError::TooCloseToShow)
    );
    assert_eq!(owner(&world, second), ALICE);
}

#[test]
fn a_transfer_moves_rights_not_money() {
    // Pins down: after a transfer the old owner can do nothing with the ticket, and a later refund goes back to the payment that bought it.
    let mut world = world();
    let ticket = buy(&mut world, ALICE, 1);
    assert_eq!(
        world.ticket_command(BOB, ticket, transfer(CAROL)),
        Err(TicketError::NotTicketOwner)
    );
    assert_eq!(
        world.ticket_command(ALICE, ticket, transfer(ALICE)),
        Err(TicketError::TransferToSelf)
    );
    world.ticket_command(ALICE, ticket, transfer(BOB)).unwrap();
    for body in [transfer(CAROL), list(R), TicketCommand::Cancel] {
        assert_eq!(
            world.ticket_command(ALICE, ticket, body),
            Err(TicketError::NotTicketOwner)
        );
    }
    world
        .ticket_command(BOB, ticket, TicketCommand::Cancel)
        .unwrap();
    world.settle();
    assert_eq!(status(&world, ticket), TicketStatus::Cancelled);
    assert_eq!(
        world.ledger(OrderId(1)).refunded,
        P,
        "the refund goes to Alice's payment"
    );
    no_violations(&world);
}

#[test]
fn a_customer_cancellation_refunds_by_time_to_start_100_50_0_and_frees_the_seat() {
    // Pins down: d > 7 days refunds 100 %, 3 ≤ d ≤ 7 days 50 %, d < 3 days nothing — at 7 d + 1 ms, 7 d, 3 d and 3 d − 1 ms — and the seat goes back on sale.
    let mut world = world();
    let tickets: Vec<TicketId> = (1..=4).map(|order| buy(&mut world, ALICE, order)).collect();
    let cases = [
        (START.0 - 7 * DAY_MS - 1, P),
        (START.0 - 7 * DAY_MS, Money(2_500)),
        (START.0 - 3 * DAY_MS, Money(2_500)),
        (START.0 - 3 * DAY_MS + 1, Money::ZERO),
    ];
    for (ticket, (at, refund)) in tickets.iter().zip(cases) {
        world.now = Timestamp(at);
        let sold = world.inventory(0).counts().sold;
        world
            .ticket_command(ALICE, *ticket, TicketCommand::Cancel)
            .unwrap();
        world.settle();
        assert_eq!(
            world.ledger(ticket.order).refunded,
            refund,
            "at start − {} ms",
            START.0 - at
        );
        assert_eq!(
            world.inventory(0).counts().sold,
            sold - 1,
            "the seat is back on sale"
        );
        assert_eq!(status(&world, *ticket), TicketStatus::Cancelled);
    }
    assert_eq!(world.inventory(0).counts().available, 100);
    no_violations(&world);
}

#[test]
fn nothing_is_transferred_listed_or_cancelled_once_the_show_has_started() {
    // Pins down: at the start a ticket can no longer be transferred, listed or cancelled.
    let mut world = world();
    let ticket = buy(&mut world, ALICE, 1);
    world.now = START;
    world.fire_due_timers();
    for body in [transfer(BOB), list(R), TicketCommand::Cancel] {
        assert!(world.ticket_command(ALICE, ticket, body).is_err());
    }
    assert_eq!(
        (owner(&world, ticket), status(&world, ticket)),
        (ALICE, TicketStatus::Valid)
    );
    assert_eq!(world.ledger(OrderId(1)).refunded, Money::ZERO);
}

#[test]
fn a_listing_asks_at_most_what_the_owner_paid_until_twenty_four_hours_before() {
    // Pins down: R ≤ P (P + 1 cent and 0 are InvalidResalePrice); listing is allowed at start − 24 h and refused 1 ms later.
    let mut world = world();
    let first = buy(&mut world, ALICE, 1);
    let second = buy(&mut world, ALICE, 2);
    assert_eq!(
        world.ticket_command(ALICE, first, list(Money(P.0 + 1))),
        Err(TicketError::InvalidResalePrice {
            price: Money(P.0 + 1),
            paid: P
        })
    );
    assert!(matches!(
        world.ticket_command(ALICE, first, list(Money::ZERO)),
        Err(TicketError::InvalidResalePrice { .. })
    ));
    world.now = Timestamp(START.0 - 24 * HOUR_MS);
    world.ticket_command(ALICE, first, list(P)).unwrap();
    world.advance(1);
    assert_eq!(
        world.ticket_command(ALICE, second, list(R)),
        Err(TicketError::TooCloseToShow)
    );
}

#[test]
fn a_resale_moves_the_ticket_to_the_buyer_and_pays_the_seller_r() {
    // Pins down: the buyer is charged R, ownership moves, the seller is paid R through the gateway, and later refunds go to the resale payment.
    let mut world = world();
    let ticket = buy(&mut world, ALICE, 1);
    world.ticket_command(ALICE, ticket, list(R)).unwrap();
    world.buy_resale(BOB, ResaleId(1), ticket, R).unwrap();
    world.settle();
    assert_eq!(resale_status(&world, 1), ResaleStatus::Completed);
    assert_eq!(owner(&world, ticket), BOB);
    assert_eq!(
        world
            .gateway
            .ledger(PaymentId::Resale(ResaleId(1)))
            .captured,
        R
    );
    assert_eq!(world.gateway.payouts.get(&ALICE), Some(&R));
    assert_eq!(
        world.ticket_command(ALICE, ticket, transfer(CAROL)),
        Err(TicketError::NotTicketOwner)
    );
    // Bob cancels more than 7 days out: R goes back to his resale payment, nothing to Alice's.
    world
        .ticket_command(BOB, ticket, TicketCommand::Cancel)
        .unwrap();
    world.settle();
    assert_eq!(
        world
            .gateway
            .ledger(PaymentId::Resale(ResaleId(1)))
            .refunded,
        R
    );
    assert_eq!(world.ledger(OrderId(1)).refunded, Money::ZERO);
    no_violations(&world);
}

#[test]
fn one_resale_buyer_wins_and_the_others_are_voided() {
    // Pins down: two buyers race for one listing: one gets the ticket, the other's authorization is voided and nothing is captured from them.
    let mut world = world();
    let ticket = buy(&mut world, ALICE, 1);
    world.ticket_command(ALICE, ticket, list(R)).unwrap();
    world.buy_resale(BOB, ResaleId(1), ticket, R).unwrap();
    world.buy_resale(CAROL, ResaleId(2), ticket, R).unwrap();
    world.settle();
    let statuses = [resale_status(&world, 1), resale_status(&world, 2)];
    assert_eq!(
        statuses
            .iter()
            .filter(|status| **status == ResaleStatus::Completed)
            .count(),
        1,
        "{statuses:?}"
    );
    let (winner, loser) = if statuses[0] == ResaleStatus::Completed {
        ((BOB, ResaleId(1)), ResaleId(2))
    } else {
        ((CAROL, ResaleId(2)), ResaleId(1))
    };
    assert_eq!(owner(&world, ticket), winner.0);
    let lost = world.gateway.ledger(PaymentId::Resale(loser));
    assert!(lost.voided && lost.captured == Money::ZERO, "{lost:?}");
    assert_eq!(
        world.gateway.payouts.get(&ALICE),
        Some(&R),
        "the seller is paid once"
    );
    no_violations(&world);
}

#[test]
fn a_refused_resale_capture_puts_the_listing_back() {
    // Pins down: a listed ticket cannot be listed again; when the buyer's capture is refused the buyer's authorization is voided with nothing captured, the ticket stays with its owner, listed again, and another buyer completes the purchase.
    let mut world = world();
    let ticket = buy(&mut world, ALICE, 1);
    world.ticket_command(ALICE, ticket, list(R)).unwrap();
    assert_eq!(
        world.ticket_command(ALICE, ticket, list(P)),
        Err(TicketError::AlreadyListed)
    );
    world.gateway.script.insert(
        (PaymentId::Resale(ResaleId(1)), CallKind::Capture),
        [Scripted::Decline].into(),
    );
    world.buy_resale(BOB, ResaleId(1), ticket, R).unwrap();
    world.settle();
    assert_eq!(resale_status(&world, 1), ResaleStatus::Compensated);
    assert_eq!(owner(&world, ticket), ALICE);
    let listing = world.tickets[&ticket]
        .state()
        .details
        .as_ref()
        .unwrap()
        .listing;
    assert_eq!(
        listing.map(|listing| (listing.price, listing.taken_by)),
        Some((R, None))
    );
    assert_eq!(
        world.gateway.ledger(PaymentId::Resale(ResaleId(1))),
        Ledger {
            voided: true,
            ..Ledger::default()
        }
    );
    world.buy_resale(CAROL, ResaleId(2), ticket, R).unwrap();
    world.settle();
    assert_eq!(resale_status(&world, 2), ResaleStatus::Completed);
    assert_eq!(owner(&world, ticket), CAROL);
    no_violations(&world);
}

/// Alice's ticket, listed at R and taken by Bob's resale 1, whose capture the gateway
/// holds unanswered.
fn taken_by_bob_with_the_capture_held() -> (MiniWorld, TicketId) {
    let mut world = world();
    let ticket = buy(&mut world, ALICE, 1);
    world.ticket_command(ALICE, ticket, list(R)).unwrap();
    world.gateway.script.insert(
        (PaymentId::Resale(ResaleId(1)), CallKind::Capture),
        [Scripted::Hold].into(),
    );
    world.buy_resale(BOB, ResaleId(1), ticket, R).unwrap();
    world.settle();
    (world, ticket)
}

#[test]
fn a_ticket_taken_by_a_resale_in_progress_is_locked() {
    // Pins down: while a buyer holds the listing the owner cannot transfer, cancel or unlist the ticket, and no second buyer can take it.
    let (mut world, ticket) = taken_by_bob_with_the_capture_held();
    for body in [
        transfer(CAROL),
        TicketCommand::Cancel,
        TicketCommand::Unlist,
    ] {
        assert_eq!(
            world.ticket_command(ALICE, ticket, body),
            Err(TicketError::TicketLocked)
        );
    }
    world.buy_resale(CAROL, ResaleId(2), ticket, R).unwrap();
    world.settle();
    assert_eq!(resale_status(&world, 2), ResaleStatus::Lost);
    world.release_gateway(Scripted::Approve);
    assert_eq!(owner(&world, ticket), BOB);
    no_violations(&world);
}

#[test]
fn transferring_or_cancelling_the_ticket_withdraws_its_listing() {
    // Pins down: an untaken listing is withdrawn by a transfer or a cancellation; a buyer arriving afterwards gets nothing and is not charged.
    for body in [transfer(BOB), TicketCommand::Cancel] {
        let mut world = world();
        let ticket = buy(&mut world, ALICE, 1);
        world.ticket_command(ALICE, ticket, list(R)).unwrap();
        world.ticket_command(ALICE, ticket, body.clone()).unwrap();
        world.settle();
        assert_eq!(
            world.tickets[&ticket]
                .state()
                .details
                .as_ref()
                .unwrap()
                .listing,
            None
        );
        world.buy_resale(CAROL, ResaleId(1), ticket, R).unwrap();
        world.settle();
        assert_eq!(resale_status(&world, 1), ResaleStatus::Lost, "{body:?}");
        assert_eq!(
            world.gateway.ledger(PaymentId::Resale(ResaleId(1))).kept(),
            Money::ZERO
        );
        no_violations(&world);
    }
}

#[test]
fn the_show_cancelled_after_a_resale_refunds_r_to_the_buyer_and_p_minus_r_to_the_original_payment()
{
    // Pins down: on show cancellation the resale buyer gets R back and the original payment P − R; the seller keeps the R they were paid.
    let mut world = world();
    let ticket = buy(&mut world, ALICE, 1);
    world.ticket_command(ALICE, ticket, list(R)).unwrap();
    world.buy_resale(BOB, ResaleId(1), ticket, R).unwrap();
    world.settle();
    world.show_command(ShowId(1), ShowCommand::Cancel).unwrap();
    world.settle();
    assert_eq!(status(&world, ticket), TicketStatus::ShowCancelled);
    assert_eq!(
        world
            .gateway
            .ledger(PaymentId::Resale(ResaleId(1)))
            .refunded,
        R
    );
    let original = world.ledger(OrderId(1));
    assert_eq!(
        (original.refunded, original.paid_out),
        (Money(P.0 - R.0), R)
    );
    assert_eq!(original.kept(), Money::ZERO);
    no_violations(&world);
}

#[test]
fn the_show_cancelled_withdraws_listings_and_refunds_every_valid_ticket_once() {
    // Pins down: show cancellation withdraws an untaken listing, refunds each valid ticket in full once, leaves a cancelled ticket's refund as it was, and the ticket can no longer move.
    let mut world = world();
    let listed = buy(&mut world, ALICE, 1);
    let cancelled = buy(&mut world, BOB, 2);
    world.ticket_command(ALICE, listed, list(R)).unwrap();
    world.now = Timestamp(START.0 - 5 * DAY_MS);
    world
        .ticket_command(BOB, cancelled, TicketCommand::Cancel)
        .unwrap();
    world.settle();
    world.show_command(ShowId(1), ShowCommand::Cancel).unwrap();
    world.settle();
    assert_eq!(
        world.tickets[&listed]
            .state()
            .details
            .as_ref()
            .unwrap()
            .listing,
        None
    );
    assert_eq!(world.ledger(OrderId(1)).refunded, P);
    assert_eq!(
        world.ledger(OrderId(2)).refunded,
        Money(2_500),
        "already cancelled at 50 %"
    );
    assert_eq!(
        world.ticket_command(ALICE, listed, transfer(CAROL)),
        Err(TicketError::TicketNotValid)
    );
    world.buy_resale(CAROL, ResaleId(1), listed, R).unwrap();
    world.settle();
    assert_eq!(
        world.gateway.ledger(PaymentId::Resale(ResaleId(1))).kept(),
        Money::ZERO
    );
    no_violations(&world);
}

#[test]
fn only_the_owner_acts_on_a_ticket_and_only_services_issue_or_hand_it_over() {
    // Pins down: authorization per actor: organizers, services and the system cannot transfer, list or cancel; customers cannot issue, take or complete resales.
    let mut world = world();
    let ticket = buy(&mut world, ALICE, 1);
    let before = world.tickets[&ticket].state().clone();
    let catalog = world.catalog.clone();
    let stream = world.tickets.get_mut(&ticket).unwrap();
    for actor in [
        Actor::Organizer(super::support::ORGANIZER),
        Actor::Service,
        Actor::System,
    ] {
        for body in [transfer(BOB), list(R), TicketCommand::Cancel] {
            let result = stream.handle(
                &catalog,
                &Envelope::new(CommandId(900), actor, world.now, body),
            );
            assert_eq!(
                result.err(),
                Some(TicketError::Guard(GuardError::NotAuthorized { actor }))
            );
        }
    }
    for body in [
        TicketCommand::ShowCancelled,
        TicketCommand::TakeListing {
            resale: ResaleId(1),
            buyer: ALICE,
            price: R,
        },
        TicketCommand::CompleteResale {
            resale: ResaleId(1),
        },
    ] {
        let actor = Actor::Customer(ALICE);
        let result = stream.handle(
            &catalog,
            &Envelope::new(CommandId(901), actor, world.now, body),
        );
        assert_eq!(
            result.err(),
            Some(TicketError::Guard(GuardError::NotAuthorized { actor }))
        );
    }
    assert_eq!(world.tickets[&ticket].state(), &before);
}

#[test]
fn the_show_cancelled_during_a_resale_refunds_the_buyer_and_the_original_payment() {
    // Pins down: a resale whose capture lands after the show's cancellation gives the buyer R back and the original payment P; nobody keeps a ticket to a cancelled show, which stays its seller's with the listing withdrawn.
    let (mut world, ticket) = taken_by_bob_with_the_capture_held();
    world.show_command(ShowId(1), ShowCommand::Cancel).unwrap();
    world.settle();
    world.release_gateway(Scripted::Approve);
    assert_eq!(resale_status(&world, 1), ResaleStatus::Refunded);
    assert_eq!(status(&world, ticket), TicketStatus::ShowCancelled);
    let details = world.tickets[&ticket].state().details.clone().unwrap();
    assert_eq!((details.owner, details.listing), (ALICE, None));
    let resale = world.gateway.ledger(PaymentId::Resale(ResaleId(1)));
    assert_eq!((resale.captured, resale.refunded), (R, R));
    let original = world.ledger(OrderId(1));
    assert_eq!((original.refunded, original.paid_out), (P, Money::ZERO));
    assert_eq!(
        world.gateway.payouts.get(&ALICE),
        None,
        "no payout for a sale that did not happen"
    );
    no_violations(&world);
}

#[test]
fn a_ticket_issued_after_its_show_was_cancelled_is_refunded_in_full() {
    // Pins down: every valid ticket of a cancelled show is refunded, even one whose issue was still in flight when the show was cancelled.
    let mut world = world();
    world.park = Some(Box::new(|message: &turnstile_core::Message| {
        matches!(message, turnstile_core::Message::Ticket { .. })
    }));
    world.initiate(ALICE, OrderId(1), 2, None).unwrap();
    world.settle();
    world.pay(ALICE, OrderId(1)).unwrap();
    world.settle();
    assert_eq!(world.order_status(OrderId(1)), Some(OrderStatus::Completed));
    assert!(world.tickets.is_empty(), "the issues are in flight");
    world.show_command(ShowId(1), ShowCommand::Cancel).unwrap();
    world.settle();
    world.park = None;
    world.unpark_all();
    world.settle();
    assert_eq!(world.ledger(OrderId(1)).refunded, Money(2 * P.0));
    assert!(world.valid_tickets(OrderId(1)).is_empty());
    let statuses: Vec<_> = world
        .tickets
        .keys()
        .map(|ticket| status(&world, *ticket))
        .collect();
    assert_eq!(
        statuses,
        [TicketStatus::ShowCancelled; 2],
        "both tickets issued, then cancelled with the show"
    );
    no_violations(&world);
}

#[test]
fn a_resold_ticket_resold_again_splits_a_show_cancellation_refund_along_the_chain() {
    // Pins down: after two resales (P → R → R2) a show cancellation refunds P − R, R − R2 and R2 to the three payments, and each seller keeps their payout.
    let r2 = Money(3_000);
    let mut world = world();
    let ticket = buy(&mut world, ALICE, 1);
    world.ticket_command(ALICE, ticket, list(R)).unwrap();
    world.buy_resale(BOB, ResaleId(1), ticket, R).unwrap();
    world.settle();
    assert_eq!(
        world.ticket_command(BOB, ticket, list(Money(R.0 + 1))),
        Err(TicketError::InvalidResalePrice {
            price: Money(R.0 + 1),
            paid: R
        }),
        "R ≤ what the current owner paid"
    );
    world.ticket_command(BOB, ticket, list(r2)).unwrap();
    world.buy_resale(CAROL, ResaleId(2), ticket, r2).unwrap();
    world.settle();
    assert_eq!(owner(&world, ticket), CAROL);
    world.show_command(ShowId(1), ShowCommand::Cancel).unwrap();
    world.settle();
    assert_eq!(world.ledger(OrderId(1)).refunded, Money(P.0 - R.0));
    assert_eq!(
        world
            .gateway
            .ledger(PaymentId::Resale(ResaleId(1)))
            .refunded,
        Money(R.0 - r2.0)
    );
    assert_eq!(
        world
            .gateway
            .ledger(PaymentId::Resale(ResaleId(2)))
            .refunded,
        r2
    );
    assert_eq!(world.gateway.payouts.get(&ALICE), Some(&R));
    assert_eq!(world.gateway.payouts.get(&BOB), Some(&r2));
    no_violations(&world);
}

#[test]
fn a_ticket_of_a_cancelled_show_cannot_be_transferred_or_listed_even_before_it_hears_of_it() {
    // Pins down: a transfer needs the show not cancelled — the ticket service knows the show's status from its catalog, so a transfer or listing is refused even while the ticket's own cancellation message is in flight.
    let mut world = world();
    let ticket = buy(&mut world, ALICE, 1);
    world.park = Some(Box::new(|message: &turnstile_core::Message| {
        matches!(message, turnstile_core::Message::Ticket { .. })
    }));
    world.show_command(ShowId(1), ShowCommand::Cancel).unwrap();
    world.settle();
    let transferred = world.ticket_command(ALICE, ticket, transfer(BOB));
    let listed = world.ticket_command(ALICE, ticket, list(R));
    world.park = None;
    world.unpark_all();
    world.settle();
    assert!(
        transferred.is_err(),
        "transferred a ticket of a cancelled show"
    );
    assert!(listed.is_err(), "listed a ticket of a cancelled show");
    assert_eq!(world.ledger(OrderId(1)).refunded, P);
}

#[test]
fn only_a_customer_buys_a_resale_and_only_services_answer_it() {
    // Pins down: authorization per actor for resale purchases: Buy from an organizer, a service or the system is NotAuthorized, and so is an answer from a customer.
    use turnstile_core::ticket::resale::{Resale, ResaleCommand, ResaleError};
    let buy_body = ResaleCommand::Buy {
        resale: ResaleId(1),
        ticket: TicketId {
            order: OrderId(1),
            index: 0,
        },
        price: R,
        method: turnstile_core::payment::PaymentMethod { token: 1 },
    };
    let mut host = super::support::Host::<Resale>::default();
    for actor in [
        Actor::Organizer(super::support::ORGANIZER),
        Actor::Service,
        Actor::System,
    ] {
        assert_eq!(
            host.send(&(), actor, T0, buy_body.clone()).rejection(),
            ResaleError::Guard(GuardError::NotAuthorized { actor })
        );
    }
    host.send(&(), Actor::Customer(BOB), T0, buy_body)
        .new_event();
    let actor = Actor::Customer(BOB);
    assert_eq!(
        host.send(&(), actor, T0, ResaleCommand::Authorized)
            .rejection(),
        ResaleError::Guard(GuardError::NotAuthorized { actor })
    );
    assert_eq!(host.state().status(), Some(ResaleStatus::Authorizing));
}

#[test]
fn a_half_refund_of_an_odd_price_rounds_half_up_to_the_cent() {
    // Pins down: the 50 % refund of a 50.01 ticket is 25.01 ((5 001 × 5 000 + 5 000) / 10 000), computed per ticket.
    let mut world = MiniWorld::with_show(START, vec![general(10, 5_001)]);
    world.initiate(ALICE, OrderId(1), 2, None).unwrap();
    world.settle();
    world.pay(ALICE, OrderId(1)).unwrap();
    world.settle();
    world.now = Timestamp(START.0 - 5 * DAY_MS);
    for index in 0..2 {
        let ticket = TicketId {
            order: OrderId(1),
            index,
        };
        world
            .ticket_command(ALICE, ticket, TicketCommand::Cancel)
            .unwrap();
    }
    world.settle();
    assert_eq!(world.ledger(OrderId(1)).refunded, Money(2 * 2_501));
    no_violations(&world);
}

#[test]
fn time_never_goes_backwards_for_a_ticket_and_its_ids_are_idempotent() {
    // Pins down: a ticket refuses a command stamped before its last `now`; the same id and content repeats without a second refund; other content under that id conflicts.
    let mut world = world();
    let ticket = buy(&mut world, ALICE, 1);
    let catalog = world.catalog.clone();
    let last = world.now;
    let stream = world.tickets.get_mut(&ticket).unwrap();
    let cancel = |id, now| {
        Envelope::new(
            CommandId(id),
            Actor::Customer(ALICE),
            now,
            TicketCommand::Cancel,
        )
    };
    assert!(matches!(
        stream.handle(&catalog, &cancel(70, Timestamp(last.0 - 1))),
        Err(TicketError::Guard(GuardError::TimeWentBackwards { .. }))
    ));
    let effects = match stream.handle(&catalog, &cancel(71, last)) {
        Ok(turnstile_core::host::Handled::New { effects, .. }) => effects.len(),
        other => panic!("{other:?}"),
    };
    assert_eq!(effects, 2, "a refund and the seat back on sale");
    assert!(matches!(
        stream.handle(&catalog, &cancel(71, last.plus(1))),
        Ok(turnstile_core::host::Handled::Repeat { .. })
    ));
    let transfer = Envelope::new(
        CommandId(71),
        Actor::Customer(ALICE),
        last,
        TicketCommand::Transfer { to: BOB },
    );
    assert_eq!(
        stream.handle(&catalog, &transfer).err(),
        Some(TicketError::Guard(GuardError::IdempotencyConflict {
            command: CommandId(71)
        }))
    );
}

#[test]
fn a_transferred_ticket_of_a_cancelled_show_is_refunded_to_the_payment_that_bought_it() {
    // Pins down: a transfer moves rights, not money: when the show is cancelled the refund goes to the original buyer's payment, not to the new owner.
    let mut world = world();
    let ticket = buy(&mut world, ALICE, 1);
    world.ticket_command(ALICE, ticket, transfer(BOB)).unwrap();
    world.show_command(ShowId(1), ShowCommand::Cancel).unwrap();
    world.settle();
    assert_eq!(world.ledger(OrderId(1)).refunded, P);
    assert_eq!(status(&world, ticket), TicketStatus::ShowCancelled);
    no_violations(&world);
}

#[test]
fn a_listing_can_be_taken_only_until_twenty_four_hours_before_the_start() {
    // Pins down: a resale authorized at start − 24 h takes the listing and completes; one at start − 24 h + 1 ms loses it, is voided with nothing captured, and the ticket stays its owner's, still listed.
    let mut world = world();
    let first = buy(&mut world, ALICE, 1);
    let second = buy(&mut world, ALICE, 2);
    world.ticket_command(ALICE, first, list(R)).unwrap();
    world.ticket_command(ALICE, second, list(R)).unwrap();
    world.now = Timestamp(START.0 - 24 * HOUR_MS);
    world.buy_resale(BOB, ResaleId(1), first, R).unwrap();
    world.settle();
    assert_eq!(resale_status(&world, 1), ResaleStatus::Completed);
    assert_eq!(owner(&world, first), BOB);
    world.advance(1);
    world.buy_resale(CAROL, ResaleId(2), second, R).unwrap();
    world.settle();
    assert_eq!(resale_status(&world, 2), ResaleStatus::Lost);
    assert_eq!(owner(&world, second), ALICE);
    let lost = world.gateway.ledger(PaymentId::Resale(ResaleId(2)));
    assert!(lost.voided && lost.captured == Money::ZERO, "{lost:?}");
    no_violations(&world);
}

#[test]
fn a_resale_captured_at_the_start_is_undone_and_the_seller_keeps_the_ticket_unlisted() {
    // Pins down: ownership never moves at or after the start: a capture answered then is refunded in full, the ticket stays with the seller, unlisted, and no payout is made.
    let mut world = world();
    let ticket = buy(&mut world, ALICE, 1);
    world.ticket_command(ALICE, ticket, list(R)).unwrap();
    world.gateway.script.insert(
        (PaymentId::Resale(ResaleId(1)), CallKind::Capture),
        [Scripted::Hold].into(),
    );
    world.now = Timestamp(START.0 - 2 * DAY_MS);
    world.buy_resale(BOB, ResaleId(1), ticket, R).unwrap();
    world.settle();
    world.now = START;
    world.release_gateway(Scripted::Approve);
    assert_eq!(resale_status(&world, 1), ResaleStatus::Refunded);
    let details = world.tickets[&ticket].state().details.clone().unwrap();
    assert_eq!(
        (details.owner, details.status, details.listing),
        (ALICE, TicketStatus::Valid, None)
    );
    let resale = world.gateway.ledger(PaymentId::Resale(ResaleId(1)));
    assert_eq!((resale.captured, resale.refunded), (R, R));
    assert_eq!(world.gateway.payouts.get(&ALICE), None);
    no_violations(&world);
}

fn listing(world: &MiniWorld, ticket: TicketId) -> Option<turnstile_core::ticket::Listing> {
    world.tickets[&ticket]
        .state()
        .details
        .as_ref()
        .unwrap()
        .listing
}

#[test]
fn an_owner_unlists_an_untaken_listing_and_no_buyer_can_take_it_afterwards() {
    // Pins down: Unlist withdraws a listing nobody has taken (only a taken one is locked); a second Unlist says NotListed; a buyer arriving afterwards loses and pays nothing.
    let mut world = world();
    let ticket = buy(&mut world, ALICE, 1);
    world.ticket_command(ALICE, ticket, list(R)).unwrap();
    assert_eq!(
        world.ticket_command(ALICE, ticket, TicketCommand::Unlist),
        Ok(())
    );
    assert_eq!(listing(&world, ticket), None);
    assert_eq!(
        world.ticket_command(ALICE, ticket, TicketCommand::Unlist),
        Err(TicketError::NotListed)
    );
    world.buy_resale(BOB, ResaleId(1), ticket, R).unwrap();
    world.settle();
    assert_eq!(resale_status(&world, 1), ResaleStatus::Lost);
    assert_eq!(owner(&world, ticket), ALICE);
    assert_eq!(
        world.gateway.ledger(PaymentId::Resale(ResaleId(1))).kept(),
        Money::ZERO
    );
    no_violations(&world);
}

#[test]
fn a_show_cancelled_after_a_resale_at_the_full_price_refunds_only_the_buyer() {
    // Pins down: the cancellation lists a refund only for a payment that still holds money: after a resale at R = P the original payment holds nothing and gets no refund of zero.
    let mut world = world();
    let ticket = buy(&mut world, ALICE, 1);
    world.ticket_command(ALICE, ticket, list(P)).unwrap();
    world.buy_resale(BOB, ResaleId(1), ticket, P).unwrap();
    world.settle();
    world.show_command(ShowId(1), ShowCommand::Cancel).unwrap();
    world.settle();
    let last = world.tickets[&ticket].log().last().unwrap();
    assert_eq!(
        last.event,
        turnstile_core::ticket::TicketEvent::ShowCancelledRefunded {
            refunds: vec![(PaymentId::Resale(ResaleId(1)), P)]
        }
    );
    let original = world.ledger(OrderId(1));
    assert_eq!((original.refunded, original.paid_out), (Money::ZERO, P));
    no_violations(&world);
}

/// Sends `body` to `ticket` as the resale saga would.
fn from_a_resale(world: &mut MiniWorld, ticket: TicketId, id: u64, body: TicketCommand) {
    world.inject(turnstile_core::Message::Ticket {
        ticket,
        id: CommandId(id),
        body,
    });
    world.settle();
}

#[test]
fn only_the_resale_holding_a_listing_returns_it_or_completes_it() {
    // Pins down: a ReturnListing or CompleteResale naming a resale other than the one holding the listing (a loser's late step) changes nothing: the holder keeps the listing and the ticket stays its owner's until the holder completes.
    let (mut world, ticket) = taken_by_bob_with_the_capture_held();
    let held = Some(turnstile_core::ticket::Listing {
        price: R,
        taken_by: Some((ResaleId(1), BOB)),
    });
    assert_eq!(listing(&world, ticket), held, "set-up");
    let other = ResaleId(2);
    from_a_resale(
        &mut world,
        ticket,
        900,
        TicketCommand::ReturnListing { resale: other },
    );
    assert_eq!(listing(&world, ticket), held);
    from_a_resale(
        &mut world,
        ticket,
        901,
        TicketCommand::CompleteResale { resale: other },
    );
    assert_eq!(
        (owner(&world, ticket), listing(&world, ticket)),
        (ALICE, held)
    );
    world.release_gateway(Scripted::Approve);
    assert_eq!(owner(&world, ticket), BOB);
    assert_eq!(resale_status(&world, 1), ResaleStatus::Completed);
    no_violations(&world);
}

#[test]
fn every_late_answer_to_an_ended_resale_is_undone_by_its_own_step() {
    // Pins down (found by mutation testing): once a resale purchase ended without completing, a late approval of its authorization is voided, a late taking of the listing gives the listing back, a late capture is refunded in full — each undo only its own step — and a late completion changes nothing.
    use super::support::Host;
    use turnstile_core::order::PaymentFailure;
    use turnstile_core::ticket::resale::{Resale, ResaleCommand, ResaleEvent, ResaleUndo};
    let mut host = Host::<Resale>::default();
    let ticket = TicketId {
        order: OrderId(1),
        index: 0,
    };
    host.send(
        &(),
        Actor::Customer(BOB),
        T0,
        ResaleCommand::Buy {
            resale: ResaleId(1),
            ticket,
            price: R,
            method: turnstile_core::payment::PaymentMethod { token: 7 },
        },
    )
    .new_event();
    host.send(
        &(),
        Actor::Service,
        T0,
        ResaleCommand::AuthorizationFailed {
            reason: PaymentFailure::Declined,
        },
    )
    .new_event();
    assert_eq!(
        host.state().status(),
        Some(ResaleStatus::Declined),
        "set-up"
    );
    let none = ResaleUndo::default();
    for (late, undo) in [
        (ResaleCommand::Authorized, ResaleUndo { void: true, ..none }),
        (
            ResaleCommand::ListingTaken,
            ResaleUndo {
                return_listing: true,
                ..none
            },
        ),
        (
            ResaleCommand::Captured,
            ResaleUndo {
                refund: true,
                ..none
            },
        ),
    ] {
        assert_eq!(
            host.send(&(), Actor::Service, T0, late.clone()).new_event(),
            ResaleEvent::LateAnswerUndone { undo },
            "{late:?}"
        );
    }
    assert_eq!(
        host.send(&(), Actor::Service, T0, ResaleCommand::ResaleCompleted),
        super::support::Outcome::Ignored
    );
    assert_eq!(host.state().status(), Some(ResaleStatus::Declined));
}
