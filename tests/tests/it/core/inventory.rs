//! Inventory rules of SPEC.md, one section at a time: reserve (quantity, the last seat,
//! labels, best available), the hold's life (5 minutes, one extension within 15, confirm
//! around `expires_at`, expiry), release and unsell, organizer blocks, who may ask what,
//! time and idempotency.

use super::support::{
    Host, ORGANIZER, Outcome, STRANGER, T0, general, numbered, open_section, strings,
};
use turnstile_core::GuardError;
use turnstile_core::inventory::seating::SeatState;
use turnstile_core::inventory::{
    HoldStatus, Inventory, InventoryCommand, InventoryError, InventoryEvent, SalesPhase,
    SeatSelection,
};
use turnstile_core::time::{DAY_MS, MINUTE_MS};
use turnstile_core::{Actor, CommandId, CustomerId, Effect, OrderId, TicketId, Timer, Timestamp};

const START: Timestamp = Timestamp(T0.0 + 10 * DAY_MS);

fn reserve(order: u64, quantity: u32, now: Timestamp) -> InventoryCommand {
    InventoryCommand::Reserve {
        order: OrderId(order),
        quantity,
        seats: None,
        initiated_at: now,
        expires_at: now.plus(5 * MINUTE_MS),
    }
}

fn reserve_labels(order: u64, seats: &[&str], now: Timestamp) -> InventoryCommand {
    InventoryCommand::Reserve {
        order: OrderId(order),
        quantity: seats.len() as u32,
        seats: Some(strings(seats)),
        initiated_at: now,
        expires_at: now.plus(5 * MINUTE_MS),
    }
}

fn service(
    host: &mut Host<Inventory>,
    now: Timestamp,
    body: InventoryCommand,
) -> Outcome<InventoryEvent, InventoryError> {
    host.send(&(), Actor::Service, now, body)
}

fn organizer(
    host: &mut Host<Inventory>,
    body: InventoryCommand,
) -> Outcome<InventoryEvent, InventoryError> {
    host.send(&(), Actor::Organizer(ORGANIZER), T0, body)
}

fn confirm(order: u64) -> InventoryCommand {
    InventoryCommand::Confirm {
        order: OrderId(order),
    }
}

/// The labels of the seats in `state`, in seating order.
fn seats_in(host: &Host<Inventory>, state: SeatState) -> Vec<String> {
    let map = host.state().seat_map().expect("numbered");
    map.states()
        .iter()
        .enumerate()
        .filter(|(_, seat)| **seat == state)
        .map(|(index, _)| {
            map.layout()
                .label(turnstile_core::SeatIndex(index as u32))
                .unwrap()
                .to_owned()
        })
        .collect()
}

fn reserved_labels(
    outcome: Outcome<InventoryEvent, InventoryError>,
    host: &Host<Inventory>,
) -> Vec<String> {
    let InventoryEvent::SeatsReserved { seats, .. } = outcome.new_event() else {
        panic!("not a reservation");
    };
    let layout = host.state().seat_map().unwrap().layout();
    seats
        .iter()
        .map(|seat| layout.label(*seat).unwrap().to_owned())
        .collect()
}

#[test]
fn quantity_must_be_one_to_eight() {
    // Pins down: quantity 0 and 9 are InvalidQuantity and hold nothing; 1 and 8 are held.
    let mut host = open_section(general(100, 1_000), START);
    for quantity in [0, 9] {
        assert_eq!(
            service(&mut host, T0, reserve(quantity.into(), quantity, T0)).rejection(),
            InventoryError::InvalidQuantity { quantity }
        );
    }
    assert!(service(&mut host, T0, reserve(1, 1, T0)).is_new());
    assert!(service(&mut host, T0, reserve(8, 8, T0)).is_new());
    assert_eq!(host.state().counts().reserved, 9);
}

#[test]
fn the_last_seat_is_sold_once_and_then_there_is_none() {
    // Pins down: the last seat can be held; the next reserve is InsufficientInventory { requested, available: 0 } — never an oversell.
    for spec in [general(3, 1_000), numbered(&[("A", 3)], 1_000)] {
        let mut host = open_section(spec, START);
        assert!(service(&mut host, T0, reserve(1, 2, T0)).is_new());
        assert_eq!(
            service(&mut host, T0, reserve(2, 2, T0)).rejection(),
            InventoryError::InsufficientInventory {
                requested: 2,
                available: 1
            }
        );
        assert!(
            service(&mut host, T0, reserve(3, 1, T0)).is_new(),
            "the last seat"
        );
        assert_eq!(
            service(&mut host, T0, reserve(4, 1, T0)).rejection(),
            InventoryError::InsufficientInventory {
                requested: 1,
                available: 0
            }
        );
        let counts = host.state().counts();
        assert_eq!((counts.available, counts.reserved), (0, 3));
    }
}

#[test]
fn a_reserved_seat_counts_until_released_whatever_the_clock_says() {
    // Pins down: a lapsed but unreleased hold still takes its seat: no reserve can oversell it before the hold is released.
    let mut host = open_section(general(1, 1_000), START);
    service(&mut host, T0, reserve(1, 1, T0)).new_event();
    let later = T0.plus(60 * MINUTE_MS);
    assert!(matches!(
        service(&mut host, later, reserve(2, 1, later)).rejection(),
        InventoryError::InsufficientInventory { .. }
    ));
    let expired = host
        .send(
            &(),
            Actor::System,
            later,
            InventoryCommand::ExpireHold { order: OrderId(1) },
        )
        .new_event();
    assert_eq!(expired, InventoryEvent::HoldExpired { order: OrderId(1) });
    assert!(service(&mut host, later, reserve(2, 1, later)).is_new());
}

#[test]
fn a_hold_is_never_born_dead() {
    // Pins down: Reserve with expires_at ≤ now is HoldBornExpired; now + 1 ms is a live hold.
    let mut host = open_section(general(10, 1_000), START);
    let at_now = InventoryCommand::Reserve {
        order: OrderId(1),
        quantity: 1,
        seats: None,
        initiated_at: T0,
        expires_at: T0,
    };
    assert_eq!(
        service(&mut host, T0, at_now).rejection(),
        InventoryError::HoldBornExpired
    );
    let one_ms = InventoryCommand::Reserve {
        order: OrderId(1),
        quantity: 1,
        seats: None,
        initiated_at: T0,
        expires_at: T0.plus(1),
    };
    assert!(service(&mut host, T0, one_ms).is_new());
}

#[test]
fn confirm_works_one_ms_before_expires_at_and_not_at_or_after() {
    // Pins down: a hold is live while now < expires_at: confirm at expires_at − 1 sells, at and after is HoldNotLive and changes nothing.
    let expires_at = T0.plus(5 * MINUTE_MS);
    for (now, live) in [
        (expires_at.0 - 1, true),
        (expires_at.0, false),
        (expires_at.0 + 1, false),
    ] {
        let mut host = open_section(general(10, 1_000), START);
        service(&mut host, T0, reserve(1, 2, T0)).new_event();
        let outcome = service(&mut host, Timestamp(now), confirm(1));
        if live {
            assert_eq!(
                outcome.new_event(),
                InventoryEvent::HoldConfirmed { order: OrderId(1) }
            );
            assert_eq!(host.state().counts().sold, 2);
        } else {
            assert_eq!(
                outcome.rejection(),
                InventoryError::HoldNotLive { order: OrderId(1) },
                "at {now}"
            );
            assert_eq!(host.state().counts().sold, 0);
            assert_eq!(
                host.state().counts().reserved,
                2,
                "still held until released"
            );
        }
    }
}

#[test]
fn a_hold_is_live_until_expires_at_and_not_once_sold_and_a_second_confirm_says_so() {
    // Pins down `hold_is_live` (the query a real driver asks) against the same clock
    // as confirm, and the answer to confirming a hold that is already sold.
    let expires_at = T0.plus(5 * MINUTE_MS);
    let mut host = open_section(general(10, 1_000), START);
    service(&mut host, T0, reserve(1, 2, T0)).new_event();
    let live =
        |host: &Host<Inventory>, at: u64| host.state().hold_is_live(OrderId(1), Timestamp(at));
    assert!(live(&host, T0.0));
    assert!(live(&host, expires_at.0 - 1));
    assert!(!live(&host, expires_at.0), "dead at expires_at");
    assert!(!live(&host, expires_at.0 + 1));
    assert!(!host.state().hold_is_live(OrderId(2), T0), "no such hold");
    service(&mut host, T0.plus(1), confirm(1)).new_event();
    assert!(!live(&host, T0.0 + 2), "sold is not held");
    assert_eq!(
        service(&mut host, T0.plus(3), confirm(1)).rejection(),
        InventoryError::AlreadyConfirmed { order: OrderId(1) }
    );
}

#[test]
fn a_section_may_reach_the_capacity_and_name_limits_and_not_one_more() {
    use turnstile_core::inventory::{
        SECTION_CAPACITY_MAX, SECTION_NAME_BYTES_MAX, SectionProblem, validate_section,
    };
    use turnstile_core::show::SectionSpec;
    assert_eq!(
        validate_section(&general(SECTION_CAPACITY_MAX, 1_000)),
        Ok(None)
    );
    assert_eq!(
        validate_section(&general(SECTION_CAPACITY_MAX + 1, 1_000)),
        Err(SectionProblem::CapacityTooLarge)
    );
    let named = |bytes: usize| SectionSpec {
        name: "n".repeat(bytes),
        ..general(10, 1_000)
    };
    assert_eq!(validate_section(&named(SECTION_NAME_BYTES_MAX)), Ok(None));
    assert_eq!(
        validate_section(&named(SECTION_NAME_BYTES_MAX + 1)),
        Err(SectionProblem::NameTooLong)
    );
}

#[test]
fn the_hold_timer_is_armed_for_expires_at_and_releases_only_a_lapsed_unconfirmed_hold() {
    // Pins down: expiry fires HoldExpired only if unconfirmed and now ≥ expires_at; an early or stale timer changes nothing.
    let mut host = open_section(general(10, 1_000), START);
    let effects = service(&mut host, T0, reserve(1, 2, T0)).effects();
    let expires_at = T0.plus(5 * MINUTE_MS);
    assert!(effects.iter().any(|effect| matches!(
        effect,
        Effect::Arm(armed) if armed.at == expires_at && matches!(armed.timer, Timer::HoldExpiry { .. })
    )));
    let expire = || InventoryCommand::ExpireHold { order: OrderId(1) };
    let early = expires_at.0 - 1;
    assert_eq!(
        host.send(&(), Actor::System, Timestamp(early), expire()),
        Outcome::Ignored
    );
    assert_eq!(
        host.send(&(), Actor::System, expires_at, expire())
            .new_event(),
        InventoryEvent::HoldExpired { order: OrderId(1) }
    );
    assert_eq!(host.state().counts().available, 10);
    // A confirmed hold never expires.
    service(&mut host, expires_at, reserve(2, 1, expires_at)).new_event();
    service(&mut host, expires_at, confirm(2)).new_event();
    let later = expires_at.plus(DAY_MS);
    assert_eq!(
        host.send(
            &(),
            Actor::System,
            later,
            InventoryCommand::ExpireHold { order: OrderId(2) }
        ),
        Outcome::Ignored
    );
    assert_eq!(host.state().counts().sold, 1);
}

#[test]
fn a_hold_extends_once_up_to_fifteen_minutes_after_initiation_and_only_while_live() {
    // Pins down: extend to initiated_at + 15 min is allowed (and re-arms the timer), + 15 min + 1 ms is refused, a second extension is refused, a lapsed hold cannot be extended.
    let window_end = T0.plus(15 * MINUTE_MS);
    let extend = |at: Timestamp| InventoryCommand::Extend {
        order: OrderId(1),
        expires_at: at,
    };
    let mut host = open_section(general(10, 1_000), START);
    service(&mut host, T0, reserve(1, 1, T0)).new_event();
    let now = T0.plus(MINUTE_MS);
    assert_eq!(
        service(&mut host, now, extend(window_end.plus(1))).rejection(),
        InventoryError::BeyondPaymentWindow { limit: window_end }
    );
    let effects = service(&mut host, now, extend(window_end)).effects();
    assert!(effects.iter().any(|effect| matches!(
        effect,
        Effect::Arm(armed) if armed.at == window_end
    )));
    assert_eq!(
        service(&mut host, now, extend(window_end)).rejection(),
        InventoryError::AlreadyExtended { order: OrderId(1) }
    );
    // The extended hold is live until the window's end, not the original 5 minutes.
    assert!(service(&mut host, Timestamp(window_end.0 - 1), confirm(1)).is_new());

    let mut lapsed = open_section(general(10, 1_000), START);
    service(&mut lapsed, T0, reserve(1, 1, T0)).new_event();
    assert_eq!(
        service(&mut lapsed, T0.plus(5 * MINUTE_MS), extend(window_end)).rejection(),
        InventoryError::HoldNotLive { order: OrderId(1) }
    );
}

#[test]
fn a_release_frees_the_hold_is_idempotent_and_refuses_a_reserve_that_arrives_later() {
    // Pins down: Release frees an unconfirmed hold, a second release changes nothing, and a reserve for a released order is refused even if the release came first.
    let mut host = open_section(general(10, 1_000), START);
    service(&mut host, T0, reserve(1, 3, T0)).new_event();
    let release = |order| InventoryCommand::Release {
        order: OrderId(order),
    };
    service(&mut host, T0, release(1)).new_event();
    assert_eq!(host.state().counts().available, 10);
    assert_eq!(service(&mut host, T0, release(1)), Outcome::Ignored);
    // Reordered: the release overtakes its reserve.
    service(&mut host, T0, release(2)).new_event();
    assert_eq!(
        service(&mut host, T0, reserve(2, 1, T0)).rejection(),
        InventoryError::OrderReleased { order: OrderId(2) }
    );
    assert_eq!(host.state().counts().available, 10);
}

#[test]
fn a_release_never_touches_sold_seats() {
    // Pins down: Release of a confirmed order changes nothing: its seats stay sold.
    let mut host = open_section(numbered(&[("A", 4)], 1_000), START);
    service(&mut host, T0, reserve(1, 2, T0)).new_event();
    service(&mut host, T0, confirm(1)).new_event();
    assert_eq!(
        service(
            &mut host,
            T0,
            InventoryCommand::Release { order: OrderId(1) }
        ),
        Outcome::Ignored
    );
    assert_eq!(seats_in(&host, SeatState::Sold), strings(&["A-1", "A-2"]));
}

#[test]
fn unsell_returns_sold_seats_once_and_is_idempotent() {
    // Pins down: Unsell puts an order's sold seats back on sale; a second Unsell changes nothing.
    let mut host = open_section(numbered(&[("A", 4)], 1_000), START);
    service(&mut host, T0, reserve(1, 2, T0)).new_event();
    service(&mut host, T0, confirm(1)).new_event();
    let unsell = || InventoryCommand::Unsell { order: OrderId(1) };
    service(&mut host, T0, unsell()).new_event();
    assert_eq!(seats_in(&host, SeatState::Free).len(), 4);
    assert_eq!(host.state().counts().sold, 0);
    assert_eq!(service(&mut host, T0, unsell()), Outcome::Ignored);
    assert_eq!(host.state().counts().available, 4);
    // The freed seats sell again.
    assert_eq!(
        reserved_labels(service(&mut host, T0, reserve(2, 2, T0)), &host),
        strings(&["A-1", "A-2"])
    );
}

#[test]
fn the_organizer_blocks_only_free_seats() {
    // Pins down: Block takes free seats out of sale; a reserved, sold or already blocked seat cannot be blocked, all or nothing.
    let mut host = open_section(numbered(&[("A", 4)], 1_000), START);
    service(&mut host, T0, reserve_labels(1, &["A-1"], T0)).new_event();
    service(&mut host, T0, reserve_labels(2, &["A-2"], T0)).new_event();
    service(&mut host, T0, confirm(2)).new_event();
    let block = |labels: &[&str]| InventoryCommand::Block(SeatSelection::Labels(strings(labels)));
    for taken in ["A-1", "A-2"] {
        assert_eq!(
            organizer(&mut host, block(&["A-3", taken])).rejection(),
            InventoryError::SeatNotFree {
                label: taken.to_owned()
            }
        );
    }
    assert_eq!(
        seats_in(&host, SeatState::Blocked),
        Vec::<String>::new(),
        "all or nothing"
    );
    organizer(&mut host, block(&["A-3"])).new_event();
    assert!(matches!(
        organizer(&mut host, block(&["A-3"])).rejection(),
        InventoryError::SeatNotFree { .. }
    ));
    let counts = host.state().counts();
    assert_eq!((counts.available, counts.blocked), (1, 1));
    // A blocked seat is not for sale: only A-4 is left.
    assert_eq!(
        reserved_labels(service(&mut host, T0, reserve(3, 1, T0)), &host),
        strings(&["A-4"])
    );
    organizer(
        &mut host,
        InventoryCommand::Unblock(SeatSelection::Labels(strings(&["A-3"]))),
    )
    .new_event();
    assert_eq!(host.state().counts().available, 1);
}

#[test]
fn general_admission_blocks_count_only_free_places() {
    // Pins down: in general admission the organizer blocks at most the available places and unblocks at most the blocked ones.
    let mut host = open_section(general(5, 1_000), START);
    service(&mut host, T0, reserve(1, 3, T0)).new_event();
    let block = |count| InventoryCommand::Block(SeatSelection::Count(count));
    assert_eq!(
        organizer(&mut host, block(3)).rejection(),
        InventoryError::InsufficientInventory {
            requested: 3,
            available: 2
        }
    );
    organizer(&mut host, block(2)).new_event();
    assert_eq!(host.state().counts().available, 0);
    assert!(matches!(
        organizer(
            &mut host,
            InventoryCommand::Unblock(SeatSelection::Count(3))
        )
        .rejection(),
        InventoryError::NotThatManyBlocked { .. }
    ));
}

#[test]
fn only_the_shows_organizer_blocks_and_only_services_and_timers_move_holds() {
    // Pins down: authorization per actor: Block by another organizer, a customer or a service is refused; Reserve/Confirm/Release/Unsell only from a service; ExpireHold only from the system.
    let mut host = open_section(general(5, 1_000), START);
    let block = || InventoryCommand::Block(SeatSelection::Count(1));
    assert_eq!(
        host.send(&(), Actor::Organizer(STRANGER), T0, block())
            .rejection(),
        InventoryError::NotShowOrganizer
    );
    for actor in [
        Actor::Customer(CustomerId(1)),
        Actor::Service,
        Actor::System,
    ] {
        assert_eq!(
            host.send(&(), actor, T0, block()).rejection(),
            InventoryError::Guard(GuardError::NotAuthorized { actor })
        );
    }
    service(&mut host, T0, reserve(9, 1, T0)).new_event();
    for actor in [
        Actor::Customer(CustomerId(1)),
        Actor::Organizer(ORGANIZER),
        Actor::System,
    ] {
        for body in [
            reserve(1, 1, T0),
            confirm(9),
            InventoryCommand::Extend {
                order: OrderId(9),
                expires_at: T0.plus(10 * MINUTE_MS),
            },
            InventoryCommand::Release { order: OrderId(9) },
            InventoryCommand::Unsell { order: OrderId(9) },
        ] {
            assert_eq!(
                host.send(&(), actor, T0, body.clone()).rejection(),
                InventoryError::Guard(GuardError::NotAuthorized { actor }),
                "{body:?}"
            );
        }
    }
    let at = T0.plus(5 * MINUTE_MS);
    assert_eq!(
        host.send(
            &(),
            Actor::Service,
            at,
            InventoryCommand::ExpireHold { order: OrderId(9) }
        )
        .rejection(),
        InventoryError::Guard(GuardError::NotAuthorized {
            actor: Actor::Service
        })
    );
    assert_eq!(host.state().counts().reserved, 1);
}

#[test]
fn reserves_need_sales_open_and_stop_at_the_start() {
    // Pins down: no reserve while sales are closed, and none at or after the show's start even if the phase still says open.
    let mut host = Host::<Inventory>::default();
    service(
        &mut host,
        T0,
        InventoryCommand::Initialize {
            section: super::support::key(1, 0),
            organizer: ORGANIZER,
            start_at: START,
            spec: general(10, 1_000),
        },
    )
    .new_event();
    assert_eq!(
        service(&mut host, T0, reserve(1, 1, T0)).rejection(),
        InventoryError::SalesNotOpen
    );
    service(
        &mut host,
        T0,
        InventoryCommand::SetPhase {
            show_version: 3,
            phase: SalesPhase::Open,
        },
    )
    .new_event();
    let before_start = Timestamp(START.0 - 1);
    assert!(service(&mut host, before_start, reserve(1, 1, before_start)).is_new());
    assert_eq!(
        service(&mut host, START, reserve(2, 1, START)).rejection(),
        InventoryError::SalesNotOpen
    );
    // An older phase message arriving late cannot reopen or close anything.
    assert_eq!(
        service(
            &mut host,
            START,
            InventoryCommand::SetPhase {
                show_version: 2,
                phase: SalesPhase::Closed,
            }
        ),
        Outcome::Ignored
    );
    assert_eq!(host.state().phase(), SalesPhase::Open);
}

#[test]
fn the_show_ending_releases_every_open_hold_but_keeps_sold_seats() {
    // Pins down: at the start (phase Ended) open holds are released, sold seats stay sold, nothing more can be reserved.
    let mut host = open_section(general(10, 1_000), START);
    service(&mut host, T0, reserve(1, 2, T0)).new_event();
    service(&mut host, T0, reserve(2, 3, T0)).new_event();
    service(&mut host, T0, confirm(2)).new_event();
    service(
        &mut host,
        T0,
        InventoryCommand::SetPhase {
            show_version: 9,
            phase: SalesPhase::Ended,
        },
    )
    .new_event();
    let counts = host.state().counts();
    assert_eq!((counts.reserved, counts.sold, counts.available), (0, 3, 7));
    assert_eq!(
        host.state().order(OrderId(1)).unwrap().status,
        HoldStatus::Released
    );
    assert_eq!(
        service(&mut host, T0, reserve(3, 1, T0)).rejection(),
        InventoryError::SalesNotOpen
    );
}

#[test]
fn best_available_takes_an_adjacent_block_in_the_lowest_row_at_its_lowest_seat() {
    // Pins down: without labels, the lowest row with `quantity` adjacent free seats wins, at its lowest first seat.
    let mut host = open_section(numbered(&[("A", 5), ("B", 5), ("C", 5)], 1_000), START);
    service(&mut host, T0, reserve_labels(1, &["A-3", "B-4"], T0)).new_event();
    // A has runs of 2 (A-1..2, A-4..5); B has B-1..3: the lowest row with 3 adjacent is B.
    assert_eq!(
        reserved_labels(service(&mut host, T0, reserve(2, 3, T0)), &host),
        strings(&["B-1", "B-2", "B-3"])
    );
    // Two adjacent fit in row A, at its lowest first seat.
    assert_eq!(
        reserved_labels(service(&mut host, T0, reserve(3, 2, T0)), &host),
        strings(&["A-1", "A-2"])
    );
    assert_eq!(
        reserved_labels(service(&mut host, T0, reserve(4, 2, T0)), &host),
        strings(&["A-4", "A-5"])
    );
}

#[test]
fn best_available_falls_back_to_the_lowest_ordered_free_seats() {
    // Pins down: when no row has `quantity` adjacent free seats, the lowest-ordered free seats are taken across rows.
    let mut host = open_section(numbered(&[("A", 3), ("B", 3)], 1_000), START);
    service(&mut host, T0, reserve_labels(1, &["A-2", "B-2"], T0)).new_event();
    assert_eq!(
        reserved_labels(service(&mut host, T0, reserve(2, 3, T0)), &host),
        strings(&["A-1", "A-3", "B-1"])
    );
    assert_eq!(seats_in(&host, SeatState::Free), strings(&["B-3"]));
}

#[test]
fn named_seats_must_exist_be_distinct_match_the_quantity_and_be_free_all_or_nothing() {
    // Pins down: reserve with labels refuses unknown, duplicate, miscounted or taken seats and then holds none of them.
    let mut host = open_section(numbered(&[("A", 4)], 1_000), START);
    service(&mut host, T0, reserve_labels(1, &["A-4"], T0)).new_event();
    let cases: [(InventoryCommand, InventoryError); 4] = [
        (
            reserve_labels(2, &["A-1", "Z-9"], T0),
            InventoryError::UnknownSeat {
                label: "Z-9".to_owned(),
            },
        ),
        (
            reserve_labels(2, &["A-1", "A-1"], T0),
            InventoryError::DuplicateSeat {
                label: "A-1".to_owned(),
            },
        ),
        (
            InventoryCommand::Reserve {
                order: OrderId(2),
                quantity: 3,
                seats: Some(strings(&["A-1", "A-2"])),
                initiated_at: T0,
                expires_at: T0.plus(5 * MINUTE_MS),
            },
            InventoryError::SeatCountMismatch {
                listed: 2,
                quantity: 3,
            },
        ),
        (
            reserve_labels(2, &["A-1", "A-4"], T0),
            InventoryError::SeatNotFree {
                label: "A-4".to_owned(),
            },
        ),
    ];
    for (body, error) in cases {
        assert_eq!(service(&mut host, T0, body).rejection(), error);
        assert_eq!(
            seats_in(&host, SeatState::Free),
            strings(&["A-1", "A-2", "A-3"])
        );
    }
    let mut general_admission = open_section(general(4, 1_000), START);
    assert_eq!(
        service(&mut general_admission, T0, reserve_labels(1, &["A-1"], T0)).rejection(),
        InventoryError::LabelsOnGeneralAdmission
    );
}

#[test]
fn time_never_goes_backwards_for_an_inventory() {
    // Pins down: a command stamped earlier than the last recorded `now` is TimeWentBackwards and changes nothing.
    let mut host = open_section(general(4, 1_000), START);
    let later = T0.plus(MINUTE_MS);
    service(&mut host, later, reserve(1, 1, later)).new_event();
    assert_eq!(
        service(&mut host, T0, reserve(2, 1, T0)).rejection(),
        InventoryError::Guard(GuardError::TimeWentBackwards {
            now: T0,
            last: later
        })
    );
    assert_eq!(host.state().counts().reserved, 1);
}

#[test]
fn the_same_command_id_twice_repeats_with_the_same_content_and_conflicts_with_other_content() {
    // Pins down: same id + same content → the original outcome, no new event (even later); same id + different content → IdempotencyConflict.
    let mut host = open_section(general(10, 1_000), START);
    let id = CommandId(500);
    let first = host
        .send_with_id(&(), id, Actor::Service, T0, reserve(1, 2, T0))
        .new_event();
    let version = host.state().journal.version;
    let later = T0.plus(MINUTE_MS);
    assert_eq!(
        host.send_with_id(&(), id, Actor::Service, later, reserve(1, 2, T0)),
        Outcome::Repeat(first)
    );
    assert_eq!(host.state().journal.version, version);
    assert_eq!(host.state().counts().reserved, 2, "held once");
    assert_eq!(
        host.send_with_id(&(), id, Actor::Service, later, reserve(1, 3, T0))
            .rejection(),
        InventoryError::Guard(GuardError::IdempotencyConflict { command: id })
    );
    assert_eq!(
        host.send_with_id(&(), id, Actor::Service, later, reserve(2, 2, T0))
            .rejection(),
        InventoryError::Guard(GuardError::IdempotencyConflict { command: id })
    );
    assert_eq!(host.state().counts().reserved, 2);
}

#[test]
fn a_cancelled_tickets_seat_goes_back_on_sale_once() {
    // Pins down: ReturnSeat frees exactly that ticket's seat of a sold order, once; an unsold ticket is refused.
    let mut host = open_section(numbered(&[("A", 3)], 1_000), START);
    service(&mut host, T0, reserve(1, 2, T0)).new_event();
    service(&mut host, T0, confirm(1)).new_event();
    let ticket = TicketId {
        order: OrderId(1),
        index: 1,
    };
    service(&mut host, T0, InventoryCommand::ReturnSeat { ticket }).new_event();
    assert_eq!(seats_in(&host, SeatState::Sold), strings(&["A-1"]));
    assert_eq!(seats_in(&host, SeatState::Free), strings(&["A-2", "A-3"]));
    assert_eq!(
        service(&mut host, T0, InventoryCommand::ReturnSeat { ticket }),
        Outcome::Ignored
    );
    assert_eq!(host.state().counts().sold, 1);
    // Unselling the order afterwards returns only the seat still sold.
    service(
        &mut host,
        T0,
        InventoryCommand::Unsell { order: OrderId(1) },
    )
    .new_event();
    let counts = host.state().counts();
    assert_eq!((counts.sold, counts.available), (0, 3));
    assert!(matches!(
        service(
            &mut host,
            T0,
            InventoryCommand::ReturnSeat {
                ticket: TicketId {
                    order: OrderId(7),
                    index: 0
                }
            }
        )
        .rejection(),
        InventoryError::TicketNotSold { .. }
    ));
}

#[test]
fn nothing_more_is_bought_once_the_show_has_started_even_before_the_phase_change_lands() {
    // Pins down: at the start nothing more can be bought — a hold still live past the start cannot be confirmed or extended at now ≥ start, whether or not the show's "ended" phase has reached the section.
    let mut host = open_section(general(10, 1_000), START);
    let initiated_at = Timestamp(START.0 - MINUTE_MS);
    service(&mut host, initiated_at, reserve(1, 2, initiated_at)).new_event();
    service(&mut host, initiated_at, reserve(2, 2, initiated_at)).new_event();
    assert!(
        host.state().hold_is_live(OrderId(1), START),
        "the hold outlives the start"
    );
    let confirmed_at_start = service(&mut host, START, confirm(1));
    assert!(
        matches!(confirmed_at_start, Outcome::Rejected(_)),
        "a confirm at the start must be refused, got {confirmed_at_start:?}"
    );
    assert!(matches!(
        service(
            &mut host,
            START,
            InventoryCommand::Extend {
                order: OrderId(2),
                expires_at: initiated_at.plus(15 * MINUTE_MS),
            }
        ),
        Outcome::Rejected(_)
    ));
    assert_eq!(host.state().counts().sold, 0, "sold after the start");
}

#[test]
fn the_eighth_ticket_of_a_full_order_returns_its_own_seat() {
    // Pins down: with the largest order (8 seats) the last ticket's seat goes back on sale alone, and unselling afterwards frees exactly the other seven.
    let mut host = open_section(numbered(&[("A", 8), ("B", 2)], 1_000), START);
    service(&mut host, T0, reserve(1, 8, T0)).new_event();
    service(&mut host, T0, confirm(1)).new_event();
    let ticket = TicketId {
        order: OrderId(1),
        index: 7,
    };
    service(&mut host, T0, InventoryCommand::ReturnSeat { ticket }).new_event();
    assert_eq!(
        seats_in(&host, SeatState::Free),
        strings(&["A-8", "B-1", "B-2"])
    );
    assert_eq!(host.state().counts().sold, 7);
    service(
        &mut host,
        T0,
        InventoryCommand::Unsell { order: OrderId(1) },
    )
    .new_event();
    let counts = host.state().counts();
    assert_eq!((counts.sold, counts.available), (0, 10));
}

#[test]
fn a_rejected_command_is_not_remembered_and_its_id_is_judged_afresh() {
    // Pins down: SPEC's idempotency: only accepted commands are remembered. A reserve refused (quantity 9, then 3 of 2 free) leaves its id free: the same id with valid content is accepted, then repeats, and only then conflicts with different content.
    let mut host = open_section(general(2, 1_000), START);
    let id = CommandId(77);
    let send = |host: &mut Host<Inventory>, quantity| {
        host.send_with_id(&(), id, Actor::Service, T0, reserve(1, quantity, T0))
    };
    assert_eq!(
        send(&mut host, 9).rejection(),
        InventoryError::InvalidQuantity { quantity: 9 }
    );
    assert!(matches!(
        send(&mut host, 3).rejection(),
        InventoryError::InsufficientInventory { .. }
    ));
    let accepted = send(&mut host, 2).new_event();
    assert_eq!(send(&mut host, 2), Outcome::Repeat(accepted));
    assert_eq!(
        send(&mut host, 1).rejection(),
        InventoryError::Guard(GuardError::IdempotencyConflict { command: id })
    );
}
