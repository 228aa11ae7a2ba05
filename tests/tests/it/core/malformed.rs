//! No input, however malformed, panics the core or changes state when rejected: show
//! creation with arbitrary names, labels, capacities and prices; orders, payments,
//! tickets and resales fed arbitrary commands from arbitrary actors at arbitrary times.
//! (The `Host` used here checks on every call that a refused command left the state
//! exactly as it was.)

use super::support::{Host, ORGANIZER, T0};
use proptest::prelude::*;
use turnstile_core::order::{Order, OrderCommand};
use turnstile_core::payment::{
    GatewayKey, GatewayOutcome, Operation, Payment, PaymentCommand, PaymentMethod,
};
use turnstile_core::show::{SectionKind, SectionSpec, Show, ShowCatalog, ShowCommand};
use turnstile_core::ticket::resale::{Resale, ResaleCommand};
use turnstile_core::ticket::{Ticket, TicketCommand};
use turnstile_core::{
    Actor, CommandId, CustomerId, Money, OrderId, OrganizerId, PaymentId, PayoutId, RefundId,
    ResaleId, SectionIndex, SectionKey, ShowId, TicketId, Timestamp,
};

fn actor() -> impl Strategy<Value = Actor> {
    prop_oneof![
        (0u64..3).prop_map(|id| Actor::Customer(CustomerId(id))),
        (6u64..9).prop_map(|id| Actor::Organizer(OrganizerId(id))),
        Just(Actor::Service),
        Just(Actor::System),
    ]
}

fn money() -> impl Strategy<Value = Money> {
    prop_oneof![
        Just(Money(0)),
        Just(Money(1)),
        Just(Money(u64::MAX)),
        any::<u64>().prop_map(Money)
    ]
}

fn time() -> impl Strategy<Value = Timestamp> {
    prop_oneof![
        Just(Timestamp(0)),
        Just(Timestamp(u64::MAX)),
        (0u64..4_000_000_000_000).prop_map(Timestamp)
    ]
}

fn label() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("A-1".to_owned()),
        Just("-".to_owned()),
        Just("A-".to_owned()),
        Just("-1".to_owned()),
        "[A-C]-[1-3]",
        any::<String>(),
    ]
}

fn section() -> impl Strategy<Value = SectionSpec> {
    (
        any::<String>(),
        any::<bool>(),
        prop_oneof![Just(0u32), Just(1), Just(3), Just(u32::MAX), any::<u32>()],
        prop::collection::vec(label(), 0..5),
        money(),
    )
        .prop_map(
            |(name, numbered, capacity, seat_labels, base_price)| SectionSpec {
                name,
                kind: if numbered {
                    SectionKind::Numbered
                } else {
                    SectionKind::GeneralAdmission
                },
                capacity,
                seat_labels: seat_labels.into(),
                base_price,
            },
        )
}

fn show_command() -> impl Strategy<Value = ShowCommand> {
    prop_oneof![
        3 => (any::<String>(), time(), prop::collection::vec(section(), 0..3)).prop_map(|(name, start_at, sections)| ShowCommand::Create {
            show: ShowId(1),
            name,
            start_at,
            sections,
        }),
        1 => Just(ShowCommand::Publish),
        1 => Just(ShowCommand::OpenSales),
        1 => Just(ShowCommand::CloseSales),
        1 => Just(ShowCommand::Cancel),
        1 => Just(ShowCommand::Start),
    ]
}

fn order_command() -> impl Strategy<Value = OrderCommand> {
    prop_oneof![
        (
            any::<u32>(),
            prop::option::of(prop::collection::vec(label(), 0..10)),
            0u32..3
        )
            .prop_map(|(quantity, seats, section)| OrderCommand::Initiate {
                order: OrderId(1),
                show: ShowId(1),
                section: SectionIndex(section),
                quantity,
                seats,
            }),
        Just(OrderCommand::Pay {
            method: PaymentMethod { token: 1 }
        }),
        Just(OrderCommand::Cancel),
        Just(OrderCommand::Expire),
        Just(OrderCommand::ShowCancelled),
        Just(OrderCommand::HoldExtended),
        Just(OrderCommand::Authorized),
        Just(OrderCommand::SeatsConfirmed),
        Just(OrderCommand::Captured),
    ]
}

fn payment_command() -> impl Strategy<Value = PaymentCommand> {
    let operation = prop_oneof![
        Just(Operation::Authorize),
        Just(Operation::Capture),
        Just(Operation::Void),
        Just(Operation::Refund(RefundId {
            payment: PaymentId::Order(OrderId(1)),
            ticket: None
        })),
        Just(Operation::Payout(PayoutId {
            resale: ResaleId(1)
        })),
    ];
    let outcome = prop_oneof![
        Just(GatewayOutcome::Approved),
        Just(GatewayOutcome::Declined),
        Just(GatewayOutcome::Unknown),
        Just(GatewayOutcome::NotFound),
    ];
    prop_oneof![
        money().prop_map(|amount| PaymentCommand::Authorize {
            payment: PaymentId::Order(OrderId(1)),
            customer: CustomerId(1),
            amount,
            method: PaymentMethod { token: 1 },
        }),
        Just(PaymentCommand::Capture),
        Just(PaymentCommand::Void),
        (any::<u8>(), money()).prop_map(|(index, amount)| PaymentCommand::Refund {
            refund: RefundId {
                payment: PaymentId::Order(OrderId(1)),
                ticket: Some(TicketId {
                    order: OrderId(1),
                    index
                })
            },
            amount,
        }),
        Just(PaymentCommand::RefundAll {
            refund: RefundId {
                payment: PaymentId::Order(OrderId(1)),
                ticket: None
            }
        }),
        money().prop_map(|amount| PaymentCommand::Payout {
            payout: PayoutId {
                resale: ResaleId(1)
            },
            amount,
            to: CustomerId(2)
        }),
        (operation, any::<u32>(), outcome).prop_map(|(operation, attempt, outcome)| {
            PaymentCommand::GatewayReplied {
                key: GatewayKey {
                    payment: PaymentId::Order(OrderId(1)),
                    operation,
                    attempt,
                },
                outcome,
            }
        }),
    ]
}

fn ticket_command() -> impl Strategy<Value = TicketCommand> {
    let ticket = TicketId {
        order: OrderId(1),
        index: 0,
    };
    prop_oneof![
        (money(), time()).prop_map(move |(price, start_at)| TicketCommand::Issue {
            ticket,
            owner: CustomerId(1),
            section: SectionKey {
                show: ShowId(1),
                section: SectionIndex(0)
            },
            seat: None,
            price,
            payment: PaymentId::Order(OrderId(1)),
            start_at,
        }),
        (0u64..3).prop_map(|to| TicketCommand::Transfer { to: CustomerId(to) }),
        money().prop_map(|price| TicketCommand::List { price }),
        Just(TicketCommand::Unlist),
        Just(TicketCommand::Cancel),
        Just(TicketCommand::ShowCancelled),
        (money(), 0u64..3).prop_map(|(price, buyer)| TicketCommand::TakeListing {
            resale: ResaleId(1),
            buyer: CustomerId(buyer),
            price
        }),
        Just(TicketCommand::ReturnListing {
            resale: ResaleId(1)
        }),
        Just(TicketCommand::CompleteResale {
            resale: ResaleId(1)
        }),
    ]
}

fn resale_command() -> impl Strategy<Value = ResaleCommand> {
    prop_oneof![
        money().prop_map(|price| ResaleCommand::Buy {
            resale: ResaleId(1),
            ticket: TicketId {
                order: OrderId(1),
                index: 0
            },
            price,
            method: PaymentMethod { token: 1 },
        }),
        Just(ResaleCommand::Authorized),
        Just(ResaleCommand::ListingTaken),
        Just(ResaleCommand::Captured),
        Just(ResaleCommand::ResaleCompleted),
    ]
}

/// Commands from arbitrary actors at arbitrary (mostly rising) times, ids sometimes reused.
fn feed<C: Clone + std::fmt::Debug>(
    commands: impl Strategy<Value = C>,
) -> impl Strategy<Value = Vec<(C, Actor, Timestamp, u64)>> {
    prop::collection::vec((commands, actor(), time(), 0u64..6), 1..25)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases / 2, ..ProptestConfig::default() })]

    #[test]
    fn no_malformed_input_panics_a_show_or_changes_it_when_refused(commands in feed(show_command())) {
        // Pins down: arbitrary show commands (any name, labels, capacity, price, time, actor) never panic and change nothing when refused.
        let mut host = Host::<Show>::default();
        for (body, actor, now, id) in commands {
            let _ = host.send_with_id(&(), CommandId(id), actor, now, body);
        }
    }

    #[test]
    fn no_malformed_input_panics_an_order_or_changes_it_when_refused(commands in feed(order_command())) {
        // Pins down: arbitrary order commands against a real catalog never panic and change nothing when refused.
        let mut show = Host::<Show>::default();
        let mut catalog = ShowCatalog::new();
        for body in [
            ShowCommand::Create { show: ShowId(1), name: "x".to_owned(), start_at: T0.plus(1), sections: vec![super::support::general(3, u64::MAX)] },
            ShowCommand::Publish,
            ShowCommand::OpenSales,
        ] {
            show.send(&(), Actor::Organizer(ORGANIZER), Timestamp(0), body).new_event();
        }
        catalog.observe(show.state().terms().expect("created"));
        let mut host = Host::<Order>::default();
        for (body, actor, now, id) in commands {
            let _ = host.send_with_id(&catalog, CommandId(id), actor, now, body);
        }
    }

    #[test]
    fn no_malformed_input_panics_a_payment_ticket_or_resale(
        payments in feed(payment_command()),
        tickets in feed(ticket_command()),
        resales in feed(resale_command()),
    ) {
        // Pins down: arbitrary payment, ticket and resale commands (amounts up to u64::MAX, any attempt, any actor) never panic and change nothing when refused.
        let mut payment = Host::<Payment>::default();
        for (body, actor, now, id) in payments {
            let _ = payment.send_with_id(&(), CommandId(id), actor, now, body);
        }
        let mut ticket = Host::<Ticket>::default();
        let catalog = ShowCatalog::new();
        for (body, actor, now, id) in tickets {
            let _ = ticket.send_with_id(&catalog, CommandId(id), actor, now, body);
        }
        let mut resale = Host::<Resale>::default();
        for (body, actor, now, id) in resales {
            let _ = resale.send_with_id(&(), CommandId(id), actor, now, body);
        }
    }
}
