//! `core_commands`: arbitrary command sequences against the core's aggregates.
//!
//! Laws checked after every command, for the inventory of one section (numbered or
//! general admission), a show and a payment: the core never panics; a rejected command
//! leaves the state exactly as it was; an accepted one keeps the section's always
//! invariants (blocked + reserved + sold ≤ capacity, no seat in two live claims, at most
//! 8 seats per order); and folding the recorded events from empty rebuilds the live
//! state exactly, idempotency records included.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use std::collections::BTreeSet;
use turnstile_core::host::Stream;
use turnstile_core::inventory::{
    HoldStatus, Inventory, InventoryCommand, SalesPhase, SeatSelection,
};
use turnstile_core::payment::{
    GatewayKey, GatewayOutcome, Operation, Payment, PaymentCommand, PaymentMethod,
};
use turnstile_core::show::{SectionKind, SectionSpec, Show, ShowCommand};
use turnstile_core::{
    Actor, Aggregate, CommandId, CustomerId, Envelope, Money, OrderId, OrganizerId, PaymentId,
    PayoutId, RefundId, ResaleId, SectionIndex, SectionKey, ShowId, TicketId, Timestamp,
};

const MINUTE_MS: u64 = 60_000;
const DAY_MS: u64 = 24 * 60 * MINUTE_MS;

#[derive(Arbitrary, Debug)]
struct Input {
    numbered: bool,
    rows: u8,
    seats_per_row: u8,
    inventory: Vec<Step<InventoryOp>>,
    show: Vec<Step<ShowOp>>,
    payment: Vec<Step<PaymentOp>>,
}

/// One command: who sends it, with which id (small, so ids collide and repeat), and how
/// far time moves (sometimes backwards).
#[derive(Arbitrary, Debug)]
struct Step<Op> {
    actor: ActorPick,
    id: u8,
    time: TimeMove,
    op: Op,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum ActorPick {
    Organizer(u8),
    Customer(u8),
    Service,
    System,
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum TimeMove {
    Same,
    Millis(u16),
    Minutes(u8),
    Days(u8),
    Back(u16),
}

#[derive(Arbitrary, Debug)]
enum InventoryOp {
    SetPhase(u8, u8),
    Reserve {
        order: u8,
        quantity: u8,
        labels: Option<Vec<u8>>,
        expires_in_minutes: i8,
    },
    Extend {
        order: u8,
        minutes: u8,
    },
    Confirm(u8),
    Release(u8),
    Unsell(u8),
    ExpireHold(u8),
    Block(Vec<u8>),
    BlockCount(u8),
    Unblock(Vec<u8>),
    ReturnSeat {
        order: u8,
        index: u8,
    },
}

#[derive(Arbitrary, Debug)]
enum ShowOp {
    Create {
        name_len: u8,
        start_in_days: i8,
        capacity: u8,
        price: u32,
        numbered: bool,
    },
    Publish,
    OpenSales,
    CloseSales,
    Cancel,
    Start,
}

#[derive(Arbitrary, Debug)]
enum PaymentOp {
    Authorize {
        amount: u32,
        customer: u8,
    },
    Capture,
    Void,
    Refund {
        ticket: Option<u8>,
        amount: u32,
    },
    RefundAll,
    Payout {
        amount: u32,
        to: u8,
    },
    Replied {
        operation: u8,
        attempt: u8,
        outcome: u8,
    },
    RetryDue,
}

fn actor(pick: ActorPick) -> Actor {
    match pick {
        ActorPick::Organizer(id) => Actor::Organizer(OrganizerId(u64::from(id % 3))),
        ActorPick::Customer(id) => Actor::Customer(CustomerId(u64::from(id % 4))),
        ActorPick::Service => Actor::Service,
        ActorPick::System => Actor::System,
    }
}

fn advance(now: u64, time: TimeMove) -> u64 {
    match time {
        TimeMove::Same => now,
        TimeMove::Millis(ms) => now + u64::from(ms),
        TimeMove::Minutes(m) => now + u64::from(m % 20) * MINUTE_MS,
        TimeMove::Days(d) => now + u64::from(d % 40) * DAY_MS,
        TimeMove::Back(ms) => now.saturating_sub(u64::from(ms)),
    }
}

fn labels(rows: u32, per_row: u32) -> Vec<String> {
    (0..rows)
        .flat_map(|row| {
            (1..=per_row).map(move |seat| format!("{}-{seat}", (b'A' + row as u8) as char))
        })
        .collect()
}

/// Runs `command` through `stream` and checks the shared laws.
fn check<A>(stream: &mut Stream<A>, context: &A::Context, command: &Envelope<A::Command>) -> bool
where
    A: Aggregate + PartialEq + std::fmt::Debug,
{
    let before = stream.state().clone();
    let accepted = match stream.handle(context, command) {
        Ok(_) => true,
        Err(_) => {
            assert_eq!(
                stream.state(),
                &before,
                "a rejected command changed the state"
            );
            false
        }
    };
    let mut rebuilt = A::default();
    for event in stream.log() {
        rebuilt.apply(event);
    }
    assert_eq!(
        &rebuilt,
        stream.state(),
        "folding the log does not rebuild the state"
    );
    accepted
}

fn section_invariants(inventory: &Inventory) {
    let counts = inventory.counts();
    assert!(
        counts.blocked + counts.reserved + counts.sold <= counts.capacity,
        "oversold: {counts:?}"
    );
    let mut claimed = BTreeSet::new();
    let mut held_or_sold = 0u32;
    for (order, seats) in inventory.orders() {
        if matches!(seats.status, HoldStatus::Held | HoldStatus::Sold) {
            assert!(
                seats.quantity <= 8,
                "order {order:?} claims {} seats",
                seats.quantity
            );
            held_or_sold += u32::from(seats.quantity);
            for seat in &seats.seats {
                assert!(claimed.insert(*seat), "seat {seat:?} claimed twice");
            }
        }
    }
    assert!(
        held_or_sold <= counts.capacity,
        "holds exceed capacity: {counts:?}"
    );
}

fuzz_target!(|input: Input| {
    let rows = u32::from(input.rows % 4) + 1;
    let per_row = u32::from(input.seats_per_row % 10) + 1;
    let capacity = rows * per_row;
    let all_labels = labels(rows, per_row);
    let section = SectionKey {
        show: ShowId(1),
        section: SectionIndex(0),
    };
    let start_at = Timestamp(40 * DAY_MS);
    let spec = SectionSpec {
        name: "Floor".into(),
        kind: if input.numbered {
            SectionKind::Numbered
        } else {
            SectionKind::GeneralAdmission
        },
        capacity,
        seat_labels: if input.numbered {
            all_labels.clone().into()
        } else {
            Default::default()
        },
        base_price: Money(5_000),
    };

    // Inventory of one section.
    let mut inventory = Stream::<Inventory>::new();
    let mut now = 0u64;
    let init = Envelope::new(
        CommandId(1_000),
        Actor::Service,
        Timestamp(now),
        InventoryCommand::Initialize {
            section,
            organizer: OrganizerId(0),
            start_at,
            spec,
        },
    );
    assert!(
        check(&mut inventory, &(), &init),
        "a valid section is accepted"
    );
    for step in input.inventory.iter().take(64) {
        now = advance(now, step.time);
        let order = |o: u8| OrderId(u64::from(o % 6));
        let pick = |indexes: &[u8]| -> Vec<String> {
            indexes
                .iter()
                .take(9)
                .map(|i| all_labels[usize::from(*i) % all_labels.len()].clone())
                .collect()
        };
        let body = match &step.op {
            InventoryOp::SetPhase(version, phase) => InventoryCommand::SetPhase {
                show_version: u64::from(*version % 8),
                phase: [SalesPhase::Closed, SalesPhase::Open, SalesPhase::Ended]
                    [usize::from(*phase % 3)],
            },
            InventoryOp::Reserve {
                order: o,
                quantity,
                labels,
                expires_in_minutes,
            } => InventoryCommand::Reserve {
                order: order(*o),
                quantity: u32::from(*quantity % 10),
                seats: labels.as_deref().map(pick),
                initiated_at: Timestamp(now),
                expires_at: Timestamp(
                    now.saturating_add_signed(i64::from(*expires_in_minutes) * MINUTE_MS as i64),
                ),
            },
            InventoryOp::Extend { order: o, minutes } => InventoryCommand::Extend {
                order: order(*o),
                expires_at: Timestamp(now + u64::from(*minutes % 20) * MINUTE_MS),
            },
            InventoryOp::Confirm(o) => InventoryCommand::Confirm { order: order(*o) },
            InventoryOp::Release(o) => InventoryCommand::Release { order: order(*o) },
            InventoryOp::Unsell(o) => InventoryCommand::Unsell { order: order(*o) },
            InventoryOp::ExpireHold(o) => InventoryCommand::ExpireHold { order: order(*o) },
            InventoryOp::Block(indexes) => {
                InventoryCommand::Block(SeatSelection::Labels(pick(indexes)))
            }
            InventoryOp::BlockCount(count) => {
                InventoryCommand::Block(SeatSelection::Count(u32::from(*count % 12)))
            }
            InventoryOp::Unblock(indexes) => {
                InventoryCommand::Unblock(SeatSelection::Labels(pick(indexes)))
            }
            InventoryOp::ReturnSeat { order: o, index } => InventoryCommand::ReturnSeat {
                ticket: TicketId {
                    order: order(*o),
                    index: *index % 9,
                },
            },
        };
        let command = Envelope::new(
            CommandId(u64::from(step.id)),
            actor(step.actor),
            Timestamp(now),
            body,
        );
        check(&mut inventory, &(), &command);
        section_invariants(inventory.state());
    }

    // A show.
    let mut show = Stream::<Show>::new();
    let mut now = 0u64;
    for step in input.show.iter().take(32) {
        now = advance(now, step.time);
        let body = match &step.op {
            ShowOp::Create {
                name_len,
                start_in_days,
                capacity,
                price,
                numbered,
            } => {
                let capacity = u32::from(*capacity % 12);
                ShowCommand::Create {
                    show: ShowId(1),
                    name: "x".repeat(usize::from(*name_len)),
                    start_at: Timestamp(
                        now.saturating_add_signed(i64::from(*start_in_days) * DAY_MS as i64),
                    ),
                    sections: vec![SectionSpec {
                        name: "S".into(),
                        kind: if *numbered {
                            SectionKind::Numbered
                        } else {
                            SectionKind::GeneralAdmission
                        },
                        capacity,
                        seat_labels: if *numbered {
                            labels(1, capacity).into()
                        } else {
                            Default::default()
                        },
                        base_price: Money(u64::from(*price)),
                    }],
                }
            }
            ShowOp::Publish => ShowCommand::Publish,
            ShowOp::OpenSales => ShowCommand::OpenSales,
            ShowOp::CloseSales => ShowCommand::CloseSales,
            ShowOp::Cancel => ShowCommand::Cancel,
            ShowOp::Start => ShowCommand::Start,
        };
        let command = Envelope::new(
            CommandId(u64::from(step.id)),
            actor(step.actor),
            Timestamp(now),
            body,
        );
        check(&mut show, &(), &command);
    }

    // A payment, with gateway replies in any order.
    let mut payment = Stream::<Payment>::new();
    let mut now = 0u64;
    let id = PaymentId::Order(OrderId(7));
    for step in input.payment.iter().take(48) {
        now = advance(now, step.time);
        let body = match &step.op {
            PaymentOp::Authorize { amount, customer } => PaymentCommand::Authorize {
                payment: id,
                customer: CustomerId(u64::from(*customer % 3)),
                amount: Money(u64::from(*amount)),
                method: PaymentMethod { token: 1 },
            },
            PaymentOp::Capture => PaymentCommand::Capture,
            PaymentOp::Void => PaymentCommand::Void,
            PaymentOp::Refund { ticket, amount } => PaymentCommand::Refund {
                refund: RefundId {
                    payment: id,
                    ticket: ticket.map(|index| TicketId {
                        order: OrderId(7),
                        index: index % 4,
                    }),
                },
                amount: Money(u64::from(*amount)),
            },
            PaymentOp::RefundAll => PaymentCommand::RefundAll {
                refund: RefundId {
                    payment: id,
                    ticket: None,
                },
            },
            PaymentOp::Payout { amount, to } => PaymentCommand::Payout {
                payout: PayoutId {
                    resale: ResaleId(u64::from(*to % 2)),
                },
                amount: Money(u64::from(*amount)),
                to: CustomerId(u64::from(*to % 3)),
            },
            PaymentOp::RetryDue => PaymentCommand::RetryDue,
            PaymentOp::Replied {
                operation,
                attempt,
                outcome,
            } => {
                let operation = match operation % 5 {
                    0 => Operation::Authorize,
                    1 => Operation::Capture,
                    2 => Operation::Void,
                    3 => Operation::Refund(RefundId {
                        payment: id,
                        ticket: None,
                    }),
                    _ => Operation::Payout(PayoutId {
                        resale: ResaleId(0),
                    }),
                };
                PaymentCommand::GatewayReplied {
                    key: GatewayKey {
                        payment: id,
                        operation,
                        attempt: u32::from(attempt % 3),
                    },
                    outcome: [
                        GatewayOutcome::Approved,
                        GatewayOutcome::Declined,
                        GatewayOutcome::Unknown,
                    ][usize::from(*outcome % 3)],
                }
            }
        };
        let command = Envelope::new(
            CommandId(u64::from(step.id)),
            actor(step.actor),
            Timestamp(now),
            body,
        );
        check(&mut payment, &(), &command);
    }
});
