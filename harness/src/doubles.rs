//! Every invariant broken on purpose: faulty test doubles of the services, each a hook
//! that rewrites one aggregate's decision (or how a service rebuilds), planted in the
//! hosts through `turnstile_host::doubles` (all off in production). A sweep must catch
//! each within 10,000 seeds under its invariant's name, and shrink it to a short story:
//! the tests in `tests/it/world/doubles.rs` hold every double to that, and
//! `turnstile doubles` prints how far each shrinks and how long it takes.

use turnstile_core::ids::fingerprint;
use turnstile_core::inventory::{Inventory, InventoryCommand, InventoryError, InventoryEvent};
use turnstile_core::order::{LateAnswer, Order, OrderCommand, OrderError, OrderEvent};
use turnstile_core::payment::{
    GatewayCall, GatewayKey, GatewayRequest, Operation, Payment, PaymentError, PaymentEvent,
};
use turnstile_core::read_models::{Published, StreamId};
use turnstile_core::ticket::{Ticket, TicketCommand, TicketError, TicketEvent};
use turnstile_core::{
    ArmedTimer, CommandId, Decision, Effect, Effects, Envelope, Message, Money, PaymentId,
    TicketId, Timer, recorded,
};
use turnstile_host::{Doubles, Rebuild, Service};
use turnstile_sim::{Choices, Shrunk, Sim, shrink};

use crate::world::{Ticketing, WorldConfig, sweep_config};

/// One faulty double and the invariant that must catch it.
#[derive(Clone, Copy, Debug)]
pub struct Double {
    /// Its name (the test is `<name>_is_caught`).
    pub name: &'static str,
    /// The invariant that must catch it.
    pub invariant: &'static str,
    /// What it does wrong, and what that breaks.
    pub breaks: &'static str,
    /// The hooks it plants in the hosts.
    pub doubles: Doubles,
}

/// Every double: at least one per invariant of SIMULATION.md.
pub fn catalog() -> Vec<Double> {
    vec![
        Double {
            name: "no_oversell",
            invariant: "no_oversell",
            breaks: "An inventory that reserves beyond its capacity breaks `no_oversell`; the story of the failure is reviewed like code.",
            doubles: Doubles {
                inventory: Some(oversell),
                ..Doubles::default()
            },
        },
        Double {
            name: "no_double_seat",
            invariant: "no_double_seat",
            breaks: "An inventory that gives a held numbered seat to a second order breaks `no_double_seat`.",
            doubles: Doubles {
                inventory: Some(double_seat),
                ..Doubles::default()
            },
        },
        Double {
            name: "no_money_twice",
            invariant: "no_money_twice",
            breaks: "A payment service that captures twice breaks `no_money_twice` on the gateway's ledger.",
            doubles: Doubles {
                payment: Some(capture_twice),
                ..Doubles::default()
            },
        },
        Double {
            name: "sagas_terminate",
            invariant: "sagas_terminate",
            breaks: "An order that never expires is stuck: `sagas_terminate` names it.",
            doubles: Doubles {
                order: Some(never_expire),
                ..Doubles::default()
            },
        },
        Double {
            name: "recovery_is_exact",
            invariant: "recovery_is_exact",
            breaks: "An order service that rebuilds without its last log entry breaks `recovery_is_exact`.",
            doubles: Doubles {
                rebuild: Some(forget_last_entry),
                ..Doubles::default()
            },
        },
        Double {
            name: "recovery_without_hold_timers",
            invariant: "recovery_is_exact",
            breaks: "An inventory that forgets to re-arm hold expiries after a restart is caught at restart.",
            doubles: Doubles {
                rebuild: Some(forget_timers),
                ..Doubles::default()
            },
        },
        Double {
            name: "ledger_agrees",
            invariant: "ledger_agrees",
            breaks: "Payment records that disagree with the gateway's ledger break `ledger_agrees`.",
            doubles: Doubles {
                payment: Some(miscount_capture),
                ..Doubles::default()
            },
        },
        Double {
            name: "quote_matches_tier",
            invariant: "quote_matches_tier",
            breaks: "A quote off the pricing table breaks `quote_matches_tier`.",
            doubles: Doubles {
                order: Some(overcharge),
                ..Doubles::default()
            },
        },
        Double {
            name: "refund_matches_policy",
            invariant: "refund_matches_policy",
            breaks: "A refund off the cancellation policy breaks `refund_matches_policy`.",
            doubles: Doubles {
                ticket: Some(refund_everything),
                ..Doubles::default()
            },
        },
        Double {
            name: "authorized_only",
            invariant: "authorized_only",
            breaks: "An order that accepts another customer's payment breaks `authorized_only`.",
            doubles: Doubles {
                order: Some(anyone_pays),
                ..Doubles::default()
            },
        },
        Double {
            name: "terminal_is_final",
            invariant: "terminal_is_final",
            breaks: "An order that leaves a terminal state breaks `terminal_is_final`.",
            doubles: Doubles {
                order: Some(revive),
                ..Doubles::default()
            },
        },
        Double {
            name: "no_stale_holds",
            invariant: "no_stale_holds",
            breaks: "Holds that are never released break `no_stale_holds`.",
            doubles: Doubles {
                inventory: Some(keep_holds),
                ..Doubles::default()
            },
        },
        Double {
            name: "compensation_complete",
            invariant: "compensation_complete",
            breaks: "An order that fails without voiding its authorization breaks `compensation_complete`.",
            doubles: Doubles {
                order: Some(no_undo),
                ..Doubles::default()
            },
        },
        Double {
            name: "money_conserved",
            invariant: "money_conserved",
            breaks: "Refunding less than the rules say leaves money the gateway holds: `money_conserved`.",
            doubles: Doubles {
                payment: Some(half_refunds),
                ..Doubles::default()
            },
        },
        Double {
            name: "max_per_order",
            invariant: "max_per_order",
            breaks: "A hold of more than eight places breaks `max_per_order`.",
            doubles: Doubles {
                inventory: Some(hold_too_many),
                ..Doubles::default()
            },
        },
        Double {
            name: "tickets_are_paid",
            invariant: "tickets_are_paid",
            breaks: "Tickets issued before the money is captured break `tickets_are_paid`.",
            doubles: Doubles {
                order: Some(issue_before_capture),
                ..Doubles::default()
            },
        },
        Double {
            name: "projections_converge",
            invariant: "projections_converge",
            breaks: "Read models that miss events differ from the fold of the logs: `projections_converge`.",
            doubles: Doubles {
                read_models: Some(lose_payments),
                ..Doubles::default()
            },
        },
        Double {
            name: "owed_money_settled",
            invariant: "owed_money_settled",
            breaks: "A refund, void or payout abandoned while the gateway is down breaks `owed_money_settled`.",
            doubles: Doubles {
                payment: Some(give_up_on_declines),
                ..Doubles::default()
            },
        },
        Double {
            name: "inventory_reports_truth",
            invariant: "inventory_reports_truth",
            breaks: "A refusal that misstates the places available breaks `inventory_reports_truth`.",
            doubles: Doubles {
                inventory: Some(misreport_available),
                ..Doubles::default()
            },
        },
        Double {
            name: "a_pricing_table_a_day_off",
            invariant: "quote_matches_tier",
            breaks: "Tier boundaries moved by a day (a self-consistent quote) break `quote_matches_tier`.",
            doubles: Doubles {
                order: Some(price_a_day_early),
                ..Doubles::default()
            },
        },
        Double {
            name: "a_refund_table_in_whole_days",
            invariant: "refund_matches_policy",
            breaks: "A policy boundary read in whole days breaks `refund_matches_policy`.",
            doubles: Doubles {
                ticket: Some(refund_by_whole_days),
                ..Doubles::default()
            },
        },
        Double {
            name: "cutoffs_respected",
            invariant: "cutoffs_respected",
            breaks: "A transfer an hour past the 24-hour cut-off breaks `cutoffs_respected`.",
            doubles: Doubles {
                ticket: Some(transfer_late),
                ..Doubles::default()
            },
        },
        Double {
            name: "holds_follow_the_clock",
            invariant: "holds_follow_the_clock",
            breaks: "A hold that outlives the payment window breaks `holds_follow_the_clock`.",
            doubles: Doubles {
                inventory: Some(extend_too_far),
                ..Doubles::default()
            },
        },
    ]
}

/// The double named `name`.
pub fn find(name: &str) -> Option<Double> {
    catalog().into_iter().find(|double| double.name == name)
}

/// A double caught: the first failing seed and its shrunk run.
#[derive(Clone, Debug)]
pub struct Caught {
    /// The first seed of the default sweep that failed the double's invariant.
    pub seed: u64,
    /// The failure shrunk.
    pub shrunk: Shrunk,
}

/// Sweeps seeds `0..seeds` of the default sweep with `double` planted until one fails its
/// invariant (failures of other invariants are passed over), then shrinks it with at
/// most `budget` runs. `None` if no seed failed it. `world` is left as the shrunk run
/// drew it (to tell its story).
pub fn catch(double: &Double, seeds: u64, budget: u64, world: &mut Ticketing) -> Option<Caught> {
    *world = Ticketing::new(WorldConfig::sweep().with_doubles(double.doubles));
    let mut sim = Sim::new(sweep_config());
    for seed in 0..seeds {
        let outcome = sim.run(world, Choices::from_seed(seed));
        let failed = outcome
            .failure
            .is_some_and(|failure| failure.violation.invariant == double.invariant);
        if failed {
            let shrunk = shrink(&mut sim, world, Choices::from_seed(seed), budget)?;
            return Some(Caught { seed, shrunk });
        }
    }
    None
}

/// What a double forces on `command`: `event` accepted, with `effects`, recorded as the
/// aggregate would have recorded it.
fn accept<C: serde::Serialize, E>(
    command: &Envelope<C>,
    event: E,
    effects: Effects,
) -> Decision<E> {
    let fingerprint = fingerprint(&command.actor, &command.body);
    Decision::Accepted {
        event: recorded(command, fingerprint, event),
        effects,
    }
}

/// Inventory that holds general-admission places it does not have.
fn oversell(
    state: &Inventory,
    command: &Envelope<InventoryCommand>,
    result: &mut Result<Decision<InventoryEvent>, InventoryError>,
) {
    let InventoryCommand::Reserve {
        order,
        quantity,
        seats: None,
        initiated_at,
        expires_at,
    } = &command.body
    else {
        return;
    };
    let (Err(InventoryError::InsufficientInventory { .. }), None, Some(setup)) =
        (&*result, state.seat_map(), state.setup())
    else {
        return;
    };
    let event = InventoryEvent::SeatsReserved {
        order: *order,
        quantity: *quantity as u8,
        seats: Default::default(),
        initiated_at: *initiated_at,
        expires_at: *expires_at,
    };
    let mut effects = Effects::new();
    effects.push(Effect::Arm(ArmedTimer {
        timer: Timer::HoldExpiry {
            section: setup.section,
            order: *order,
        },
        at: *expires_at,
    }));
    *result = Ok(accept(command, event, effects));
}

/// Inventory that holds a numbered seat someone else holds.
fn double_seat(
    state: &Inventory,
    command: &Envelope<InventoryCommand>,
    result: &mut Result<Decision<InventoryEvent>, InventoryError>,
) {
    let InventoryCommand::Reserve {
        order,
        quantity,
        seats: Some(labels),
        initiated_at,
        expires_at,
    } = &command.body
    else {
        return;
    };
    let (Err(InventoryError::SeatNotFree { .. }), Some(map)) = (&*result, state.seat_map()) else {
        return;
    };
    let seats = labels
        .iter()
        .filter_map(|label| map.layout().seat(label))
        .collect();
    let event = InventoryEvent::SeatsReserved {
        order: *order,
        quantity: *quantity as u8,
        seats,
        initiated_at: *initiated_at,
        expires_at: *expires_at,
    };
    *result = Ok(accept(command, event, Effects::new()));
}

/// Payment that captures a second time, with a fresh idempotency key.
fn capture_twice(
    state: &Payment,
    _command: &Envelope<turnstile_core::payment::PaymentCommand>,
    result: &mut Result<Decision<PaymentEvent>, PaymentError>,
) {
    let (Ok(Decision::Accepted { event, effects }), Some(details)) = (result, &state.details)
    else {
        return;
    };
    if let PaymentEvent::Captured { amount } = event.event {
        effects.push(Effect::Gateway(GatewayCall {
            key: GatewayKey {
                payment: details.payment,
                operation: Operation::Capture,
                attempt: 1,
            },
            request: GatewayRequest::Capture { amount },
        }));
    }
}

/// An order saga that ignores its expiry.
fn never_expire(
    _state: &Order,
    _command: &Envelope<OrderCommand>,
    result: &mut Result<Decision<OrderEvent>, OrderError>,
) {
    if let Ok(Decision::Accepted { event, .. }) = result
        && let OrderEvent::Ended {
            cause: turnstile_core::order::EndCause::Expired,
            ..
        } = event.event
    {
        *result = Ok(Decision::Ignored);
    }
}

fn forget_last_entry(kind: Service, rebuild: &mut Rebuild) {
    if kind == Service::Orders {
        rebuild.replay = rebuild.replay.saturating_sub(1);
    }
}

fn forget_timers(kind: Service, rebuild: &mut Rebuild) {
    if matches!(kind, Service::Inventory(_)) {
        rebuild.rearm_timers = false;
    }
}

/// Payment that records a capture a cent larger than the gateway's.
fn miscount_capture(
    _state: &Payment,
    _command: &Envelope<turnstile_core::payment::PaymentCommand>,
    result: &mut Result<Decision<PaymentEvent>, PaymentError>,
) {
    if let Ok(Decision::Accepted { event, .. }) = result
        && let PaymentEvent::Captured { amount } = &mut event.event
    {
        *amount = Money(amount.0 + 1);
    }
}

/// An order that quotes one cent too much.
fn overcharge(
    _state: &Order,
    _command: &Envelope<OrderCommand>,
    result: &mut Result<Decision<OrderEvent>, OrderError>,
) {
    if let Ok(Decision::Accepted { event, .. }) = result
        && let OrderEvent::Initiated { quote, .. } = &mut event.event
    {
        quote.total = Money(quote.total.0 + 1);
    }
}

/// A ticket that refunds everything whenever it is cancelled.
fn refund_everything(
    state: &Ticket,
    _command: &Envelope<turnstile_core::ticket::TicketCommand>,
    result: &mut Result<Decision<TicketEvent>, TicketError>,
) {
    if let (Ok(Decision::Accepted { event, .. }), Some(details)) = (result, &state.details)
        && let TicketEvent::Cancelled { refund, .. } = &mut event.event
    {
        *refund = details.paid_by_owner();
    }
}

/// An order that lets anyone pay for it.
fn anyone_pays(
    state: &Order,
    command: &Envelope<OrderCommand>,
    result: &mut Result<Decision<OrderEvent>, OrderError>,
) {
    if let (OrderCommand::Pay { method }, Err(OrderError::NotOrderCustomer), Some(details)) =
        (&command.body, &*result, &state.details)
        && details.status == turnstile_core::order::OrderStatus::AwaitingPayment
    {
        let event = OrderEvent::PaymentStarted { method: *method };
        *result = Ok(accept(command, event, Effects::new()));
    }
}

/// An ended order that takes late seats back instead of undoing them.
fn revive(
    _state: &Order,
    command: &Envelope<OrderCommand>,
    result: &mut Result<Decision<OrderEvent>, OrderError>,
) {
    if let (OrderCommand::SeatsReserved { seats }, Ok(Decision::Accepted { event, effects })) =
        (&command.body, result)
        && let OrderEvent::LateAnswerUndone {
            answer: LateAnswer::SeatsReserved,
            ..
        } = event.event
    {
        event.event = OrderEvent::Reserved {
            seats: seats.clone(),
        };
        effects.clear();
    }
}

/// Inventory that never lets a hold go.
fn keep_holds(
    _state: &Inventory,
    _command: &Envelope<InventoryCommand>,
    result: &mut Result<Decision<InventoryEvent>, InventoryError>,
) {
    if let Ok(Decision::Accepted { event, .. }) = result
        && matches!(
            event.event,
            InventoryEvent::HoldExpired { .. } | InventoryEvent::HoldReleased { .. }
        )
    {
        *result = Ok(Decision::Ignored);
    }
}

/// An order that ends without undoing anything.
fn no_undo(
    _state: &Order,
    _command: &Envelope<OrderCommand>,
    result: &mut Result<Decision<OrderEvent>, OrderError>,
) {
    if let Ok(Decision::Accepted { event, effects }) = result
        && let OrderEvent::Ended { undo, .. } = &mut event.event
        && undo.void
    {
        *undo = Default::default();
        effects.retain(|effect| !matches!(effect, Effect::Send(_)));
    }
}

/// A payment that refunds half of what it should, on our records and at the gateway.
fn half_refunds(
    _state: &Payment,
    _command: &Envelope<turnstile_core::payment::PaymentCommand>,
    result: &mut Result<Decision<PaymentEvent>, PaymentError>,
) {
    if let Ok(Decision::Accepted { event, effects }) = result
        && let PaymentEvent::RefundRequested { amount, .. } = &mut event.event
        && amount.0 > 1
    {
        *amount = Money(amount.0 / 2);
        let halved = *amount;
        for effect in effects.iter_mut() {
            if let Effect::Gateway(GatewayCall {
                request: GatewayRequest::Refund { amount },
                ..
            }) = effect
            {
                *amount = halved;
            }
        }
    }
}

/// Inventory that records eight more places than it holds.
fn hold_too_many(
    _state: &Inventory,
    _command: &Envelope<InventoryCommand>,
    result: &mut Result<Decision<InventoryEvent>, InventoryError>,
) {
    if let Ok(Decision::Accepted { event, .. }) = result
        && let InventoryEvent::SeatsReserved {
            quantity, seats, ..
        } = &mut event.event
        && seats.is_empty()
    {
        *quantity += 8;
    }
}

/// An order that issues its tickets once the seats are confirmed, before the capture.
fn issue_before_capture(
    state: &Order,
    _command: &Envelope<OrderCommand>,
    result: &mut Result<Decision<OrderEvent>, OrderError>,
) {
    let (Ok(Decision::Accepted { event, effects }), Some(details)) = (result, &state.details)
    else {
        return;
    };
    if event.event != OrderEvent::SeatsConfirmed {
        return;
    }
    let tickets: Vec<TicketId> = (0..details.quantity)
        .map(|index| TicketId {
            order: details.order,
            index,
        })
        .collect();
    effects.clear();
    for ticket in &tickets {
        effects.push(Effect::Send(Message::Ticket {
            ticket: *ticket,
            id: CommandId::derive(&[13, details.order.0, u64::from(ticket.index)]),
            body: TicketCommand::Issue {
                ticket: *ticket,
                owner: details.customer,
                section: details.section,
                seat: details.seats.get(usize::from(ticket.index)).copied(),
                price: details.quote.seat_price,
                payment: PaymentId::Order(details.order),
                start_at: details.start_at,
            },
        }));
    }
    event.event = OrderEvent::Completed { tickets };
}

/// Read models that lose every payment event.
fn lose_payments(published: &Published) -> bool {
    !matches!(published.stream, StreamId::Payment(_))
}

/// A payment that gives up on money it owes: a declined refund, void or payout is put
/// off for a year (the old "abandon after a few tries"), so it is never paid.
fn give_up_on_declines(
    _state: &Payment,
    command: &Envelope<turnstile_core::payment::PaymentCommand>,
    result: &mut Result<Decision<PaymentEvent>, PaymentError>,
) {
    const YEAR_MS: u64 = 365 * 24 * 60 * 60 * 1_000;
    if let Ok(Decision::Accepted { event, effects }) = result
        && let PaymentEvent::RetryScheduled {
            at, resolve: false, ..
        } = &mut event.event
    {
        *at = command.now.plus(YEAR_MS);
        for effect in effects.iter_mut() {
            if let Effect::Arm(armed) = effect {
                armed.at = command.now.plus(YEAR_MS);
            }
        }
    }
}

/// Inventory that says one place more is available than it has when it refuses.
fn misreport_available(
    _state: &Inventory,
    _command: &Envelope<InventoryCommand>,
    result: &mut Result<Decision<InventoryEvent>, InventoryError>,
) {
    if let Err(InventoryError::InsufficientInventory { available, .. }) = result {
        *available += 1;
    }
}

/// An order whose pricing table is a day off at each boundary: early bird from 29
/// days, regular from 6 — the quote is consistent with itself, just not with SPEC.
fn price_a_day_early(
    _state: &Order,
    _command: &Envelope<OrderCommand>,
    result: &mut Result<Decision<OrderEvent>, OrderError>,
) {
    use turnstile_core::policy::Tier;
    const DAY: i128 = 24 * 60 * 60 * 1_000;
    if let Ok(Decision::Accepted { event, .. }) = result
        && let OrderEvent::Initiated {
            quote,
            start_at,
            initiated_at,
            ..
        } = &mut event.event
    {
        let d = initiated_at.until(*start_at);
        let (tier, factor) = match quote.tier {
            Tier::Regular if d >= 29 * DAY => (Tier::EarlyBird, 8_000),
            Tier::LastMinute if d >= 6 * DAY => (Tier::Regular, 10_000),
            _ => return,
        };
        quote.tier = tier;
        quote.seat_price = Money((quote.base_price.0 * factor + 5_000) / 10_000);
        quote.total = Money(quote.seat_price.0 * u64::from(quote.quantity));
    }
}

/// A ticket that counts whole days to the start (rounding down): cancelled 7 days and
/// some hours out it refunds 50 % instead of 100 %.
fn refund_by_whole_days(
    state: &Ticket,
    _command: &Envelope<turnstile_core::ticket::TicketCommand>,
    result: &mut Result<Decision<TicketEvent>, TicketError>,
) {
    const DAY: i128 = 24 * 60 * 60 * 1_000;
    if let (Ok(Decision::Accepted { event, .. }), Some(details)) = (result, &state.details)
        && let TicketEvent::Cancelled { refund, share, .. } = &mut event.event
    {
        let days = event.now.until(details.start_at) / DAY;
        if days == 7 {
            *share = turnstile_core::BasisPoints(5_000);
            *refund = Money((details.paid_by_owner().0 * 5_000 + 5_000) / 10_000);
        }
    }
}

/// A ticket that lets its owner transfer it up to 23 hours before the start.
fn transfer_late(
    state: &Ticket,
    command: &Envelope<turnstile_core::ticket::TicketCommand>,
    result: &mut Result<Decision<TicketEvent>, TicketError>,
) {
    const HOUR: i128 = 60 * 60 * 1_000;
    let (Err(TicketError::TooCloseToShow), Some(details)) = (&*result, &state.details) else {
        return;
    };
    let TicketCommand::Transfer { to } = command.body else {
        return;
    };
    if command.now.until(details.start_at) < 23 * HOUR {
        return;
    }
    let event = TicketEvent::Transferred {
        from: details.owner,
        to,
    };
    *result = Ok(Decision::Accepted {
        event: recorded(command, fingerprint(&command.actor, &command.body), event),
        effects: Effects::new(),
    });
}

/// Inventory that extends a hold five minutes past the 15-minute payment window.
fn extend_too_far(
    _state: &Inventory,
    _command: &Envelope<InventoryCommand>,
    result: &mut Result<Decision<InventoryEvent>, InventoryError>,
) {
    if let Ok(Decision::Accepted { event, effects }) = result
        && let InventoryEvent::HoldExtended { expires_at, .. } = &mut event.event
    {
        *expires_at = expires_at.plus(5 * 60 * 1_000);
        let later = *expires_at;
        for effect in effects.iter_mut() {
            if let Effect::Arm(armed) = effect {
                armed.at = later;
            }
        }
    }
}
