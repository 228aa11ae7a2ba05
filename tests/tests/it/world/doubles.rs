//! Each invariant broken on purpose: a faulty test double of one service (a hook that
//! rewrites its aggregate's decision, planted in the hosts through
//! `turnstile_host::doubles`) must be caught by a sweep within 10,000 seeds, under the
//! invariant's name, and shrunk.

use turnstile::world::{Ticketing, WorldConfig, sweep_config};
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
use turnstile_sim::{Choices, Sim, shrink};

/// Sweeps seeds until one fails `invariant`, then shrinks it; panics if none of 10,000
/// seeds does. Returns the failure's story as a person reads it.
fn assert_caught(invariant: &str, doubles: Doubles) -> String {
    let config = WorldConfig::sweep().with_doubles(doubles);
    let mut sim = Sim::new(sweep_config());
    let mut world = Ticketing::new(config);
    for seed in 0..10_000 {
        let outcome = sim.run(&mut world, Choices::from_seed(seed));
        let Some(failure) = outcome.failure else {
            continue;
        };
        if failure.violation.invariant != invariant {
            continue;
        }
        let shrunk = shrink(&mut sim, &mut world, Choices::from_seed(seed), 300)
            .expect("the failing seed fails again");
        assert_eq!(shrunk.failure.violation.invariant, invariant);
        assert!(shrunk.steps <= shrunk.original_steps);
        eprintln!(
            "{invariant}: caught at seed {seed}, shrunk from {} to {} steps: {}",
            shrunk.original_steps, shrunk.steps, shrunk.failure
        );
        // The shrinker's last run is the shrunk one: `world` drew its world.
        let story = turnstile::story::tell(&world, &shrunk.trace, &shrunk.failure);
        if invariant == "no_money_twice" {
            check_timeline(&world, &shrunk);
        }
        if std::env::var_os("TURNSTILE_STORY").is_some() {
            eprintln!("{story}");
        }
        return story;
    }
    panic!("no seed of 10,000 caught `{invariant}`");
}

/// The failure's timeline page: one group per event, a lane per node, the failing
/// step marked, nothing fetched from elsewhere. With `TURNSTILE_HTML_OUT=FILE` the page
/// is written there (CI opens it in headless Chromium).
fn check_timeline(world: &Ticketing, shrunk: &turnstile_sim::Shrunk) {
    let page = turnstile::timeline::html(world, &shrunk.trace, Some(&shrunk.failure), "double");
    let events = shrunk.trace.entries.len();
    assert_eq!(page.matches("<g class=\"ev ").count(), events);
    assert_eq!(page.matches(" failing\"").count(), 1, "one failing step");
    for lane in [
        "orders",
        "payments",
        "gateway",
        "inventory 1/Numbered 0",
        "customer 1",
    ] {
        assert!(page.contains(&format!(">{lane}</span>")), "lane {lane}");
    }
    assert!(page.contains("FAIL: no_money_twice"));
    for remote in ["http://", "https://", "<link", "src=\""] {
        let allowed = remote == "http://" && page.matches(remote).count() == 1;
        assert!(
            !page.contains(remote) || allowed,
            "the page fetches {remote}"
        );
    }
    if let Some(path) = std::env::var_os("TURNSTILE_HTML_OUT") {
        // A file for CI's browser check, outside any run.
        #[allow(clippy::disallowed_methods)]
        std::fs::write(path, &page).expect("write the timeline");
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
    let fingerprint = fingerprint(&command.actor, &command.body);
    *result = Ok(Decision::Accepted {
        event: recorded(command, fingerprint, event),
        effects,
    });
}

#[test]
fn no_oversell_is_caught() {
    // An inventory that reserves beyond its capacity breaks `no_oversell`; the story
    // of the failure is reviewed like code.
    let story = assert_caught(
        "no_oversell",
        Doubles {
            inventory: Some(oversell),
            ..Doubles::default()
        },
    );
    insta::assert_snapshot!("story_no_oversell", story);
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
    let fingerprint = fingerprint(&command.actor, &command.body);
    *result = Ok(Decision::Accepted {
        event: recorded(command, fingerprint, event),
        effects: Effects::new(),
    });
}

#[test]
fn no_double_seat_is_caught() {
    // An inventory that gives a held numbered seat to a second order breaks `no_double_seat`.
    assert_caught(
        "no_double_seat",
        Doubles {
            inventory: Some(double_seat),
            ..Doubles::default()
        },
    );
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

#[test]
fn no_money_twice_is_caught() {
    // A payment service that captures twice breaks `no_money_twice` on the gateway's ledger.
    let story = assert_caught(
        "no_money_twice",
        Doubles {
            payment: Some(capture_twice),
            ..Doubles::default()
        },
    );
    insta::assert_snapshot!("story_no_money_twice", story);
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

#[test]
fn sagas_terminate_is_caught() {
    // An order that never expires is stuck: `sagas_terminate` names it.
    let story = assert_caught(
        "sagas_terminate",
        Doubles {
            order: Some(never_expire),
            ..Doubles::default()
        },
    );
    insta::assert_snapshot!("story_sagas_terminate", story);
}

fn forget_last_entry(kind: Service, rebuild: &mut Rebuild) {
    if kind == Service::Orders {
        rebuild.replay = rebuild.replay.saturating_sub(1);
    }
}

#[test]
fn recovery_is_exact_is_caught() {
    // An order service that rebuilds without its last log entry breaks `recovery_is_exact`.
    assert_caught(
        "recovery_is_exact",
        Doubles {
            rebuild: Some(forget_last_entry),
            ..Doubles::default()
        },
    );
}

fn forget_timers(kind: Service, rebuild: &mut Rebuild) {
    if matches!(kind, Service::Inventory(_)) {
        rebuild.rearm_timers = false;
    }
}

#[test]
fn recovery_without_hold_timers_is_caught() {
    // An inventory that forgets to re-arm hold expiries after a restart is caught at restart.
    assert_caught(
        "recovery_is_exact",
        Doubles {
            rebuild: Some(forget_timers),
            ..Doubles::default()
        },
    );
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

#[test]
fn ledger_agrees_is_caught() {
    // Payment records that disagree with the gateway's ledger break `ledger_agrees`.
    assert_caught(
        "ledger_agrees",
        Doubles {
            payment: Some(miscount_capture),
            ..Doubles::default()
        },
    );
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

#[test]
fn quote_matches_tier_is_caught() {
    // A quote off the pricing table breaks `quote_matches_tier`.
    assert_caught(
        "quote_matches_tier",
        Doubles {
            order: Some(overcharge),
            ..Doubles::default()
        },
    );
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

#[test]
fn refund_matches_policy_is_caught() {
    // A refund off the cancellation policy breaks `refund_matches_policy`.
    assert_caught(
        "refund_matches_policy",
        Doubles {
            ticket: Some(refund_everything),
            ..Doubles::default()
        },
    );
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
        let fingerprint = fingerprint(&command.actor, &command.body);
        *result = Ok(Decision::Accepted {
            event: recorded(command, fingerprint, event),
            effects: Effects::new(),
        });
    }
}

#[test]
fn authorized_only_is_caught() {
    // An order that accepts another customer's payment breaks `authorized_only`.
    assert_caught(
        "authorized_only",
        Doubles {
            order: Some(anyone_pays),
            ..Doubles::default()
        },
    );
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

#[test]
fn terminal_is_final_is_caught() {
    // An order that leaves a terminal state breaks `terminal_is_final`.
    assert_caught(
        "terminal_is_final",
        Doubles {
            order: Some(revive),
            ..Doubles::default()
        },
    );
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

#[test]
fn no_stale_holds_is_caught() {
    // Holds that are never released break `no_stale_holds`.
    assert_caught(
        "no_stale_holds",
        Doubles {
            inventory: Some(keep_holds),
            ..Doubles::default()
        },
    );
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

#[test]
fn compensation_complete_is_caught() {
    // An order that fails without voiding its authorization breaks `compensation_complete`.
    assert_caught(
        "compensation_complete",
        Doubles {
            order: Some(no_undo),
            ..Doubles::default()
        },
    );
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

#[test]
fn money_conserved_is_caught() {
    // Refunding less than the rules say leaves money the gateway holds: `money_conserved`.
    assert_caught(
        "money_conserved",
        Doubles {
            payment: Some(half_refunds),
            ..Doubles::default()
        },
    );
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

#[test]
fn max_per_order_is_caught() {
    // A hold of more than eight places breaks `max_per_order`.
    assert_caught(
        "max_per_order",
        Doubles {
            inventory: Some(hold_too_many),
            ..Doubles::default()
        },
    );
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

#[test]
fn tickets_are_paid_is_caught() {
    // Tickets issued before the money is captured break `tickets_are_paid`.
    assert_caught(
        "tickets_are_paid",
        Doubles {
            order: Some(issue_before_capture),
            ..Doubles::default()
        },
    );
}

/// Read models that lose every payment event.
fn lose_payments(published: &Published) -> bool {
    !matches!(published.stream, StreamId::Payment(_))
}

#[test]
fn projections_converge_is_caught() {
    // Read models that miss events differ from the fold of the logs: `projections_converge`.
    assert_caught(
        "projections_converge",
        Doubles {
            read_models: Some(lose_payments),
            ..Doubles::default()
        },
    );
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

#[test]
fn owed_money_settled_is_caught() {
    // A refund, void or payout abandoned while the gateway is down breaks `owed_money_settled`.
    assert_caught(
        "owed_money_settled",
        Doubles {
            payment: Some(give_up_on_declines),
            ..Doubles::default()
        },
    );
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

#[test]
fn inventory_reports_truth_is_caught() {
    // A refusal that misstates the places available breaks `inventory_reports_truth`.
    assert_caught(
        "inventory_reports_truth",
        Doubles {
            inventory: Some(misreport_available),
            ..Doubles::default()
        },
    );
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

#[test]
fn a_pricing_table_a_day_off_is_caught() {
    // Tier boundaries moved by a day (a self-consistent quote) break `quote_matches_tier`.
    assert_caught(
        "quote_matches_tier",
        Doubles {
            order: Some(price_a_day_early),
            ..Doubles::default()
        },
    );
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

#[test]
fn a_refund_table_in_whole_days_is_caught() {
    // A policy boundary read in whole days breaks `refund_matches_policy`.
    assert_caught(
        "refund_matches_policy",
        Doubles {
            ticket: Some(refund_by_whole_days),
            ..Doubles::default()
        },
    );
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

#[test]
fn cutoffs_respected_is_caught() {
    // A transfer an hour past the 24-hour cut-off breaks `cutoffs_respected`.
    assert_caught(
        "cutoffs_respected",
        Doubles {
            ticket: Some(transfer_late),
            ..Doubles::default()
        },
    );
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

#[test]
fn holds_follow_the_clock_is_caught() {
    // A hold that outlives the payment window breaks `holds_follow_the_clock`.
    assert_caught(
        "holds_follow_the_clock",
        Doubles {
            inventory: Some(extend_too_far),
            ..Doubles::default()
        },
    );
}
