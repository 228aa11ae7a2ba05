//! Laws of one section's inventory, for any command sequence, judged against the naive
//! model in `model.rs` (never by asking the core): the same commands are accepted and
//! refused, the same seats are chosen, so nothing is oversold and no seat is held
//! twice; a refused command changes nothing; folding the log from empty rebuilds the
//! state exactly; and the read models agree with the model even when the events are
//! redelivered and shuffled.
//!
//! Case counts are modest (proptest's 256 by default); `PROPTEST_CASES=5000` for more.

use super::model::{Claim, Model, Verdict};
use super::support::{Host, ORGANIZER, Outcome, STRANGER, T0, general, key, numbered};
use proptest::prelude::*;
use turnstile_core::host::Stream;
use turnstile_core::inventory::seating::SeatState;
use turnstile_core::inventory::{
    HoldStatus, Inventory, InventoryCommand, InventoryEvent, SalesPhase, SeatSelection,
};
use turnstile_core::read_models::{DomainEvent, Published, ReadModels, StreamId};
use turnstile_core::time::{HOUR_MS, MINUTE_MS};
use turnstile_core::{Actor, Aggregate, CommandId, CustomerId, OrderId, TicketId, Timestamp};

const START: Timestamp = Timestamp(T0.0 + 12 * HOUR_MS);
const ROWS: &[(&str, u32)] = &[("A", 4), ("B", 3), ("C", 5)];
const GENERAL_CAPACITY: u32 = 10;

/// Seats named by a command: indexes into the section's labels, plus one unknown label.
type Picks = Vec<usize>;

#[derive(Clone, Debug)]
enum Op {
    Reserve {
        order: u64,
        quantity: u32,
        labels: Option<Picks>,
        initiated_back_ms: u64,
        life_ms: u64,
    },
    /// To `now + ms`, or (`None`) to exactly the end of the order's payment window.
    Extend {
        order: u64,
        ms: Option<u64>,
    },
    Confirm(u64),
    Release(u64),
    Unsell(u64),
    Expire(u64),
    Block(Result<Picks, u32>),
    Unblock(Result<Picks, u32>),
    Phase {
        version: u64,
        phase: SalesPhase,
    },
    Return {
        order: u64,
        index: u8,
    },
}

#[derive(Clone, Debug)]
struct Step {
    op: Op,
    /// `None`: the actor SPEC expects; otherwise one of a fixed list.
    actor: Option<usize>,
    /// Reuse the command id of an earlier step (index modulo the steps so far).
    reuse: Option<usize>,
    /// How the clock moves before the step.
    clock: Clock,
}

#[derive(Clone, Copy, Debug)]
enum Clock {
    /// By this many milliseconds (negative: a sender whose stamp is behind).
    By(i64),
    /// To the earliest deadline of a hold still held, plus this offset (−1, 0, +1),
    /// where the liveness rules switch.
    ToDeadline(i64),
}

/// An order id: mostly (≥ 100) "one the section already knows", resolved when the
/// step runs, so holds get extended, confirmed and released rather than missed.
fn order() -> impl Strategy<Value = u64> {
    prop_oneof![1 => 1u64..=12, 3 => 100u64..200]
}

fn resolve(order: u64, model: &Model) -> OrderId {
    let claimed: Vec<&OrderId> = model
        .holds
        .iter()
        .filter(|(_, hold)| matches!(hold.claim, Claim::Held | Claim::Sold))
        .map(|(order, _)| order)
        .collect();
    let known: Vec<&OrderId> = if claimed.is_empty() || order.is_multiple_of(5) {
        model.holds.keys().collect()
    } else {
        claimed
    };
    if order >= 100 && !known.is_empty() {
        *known[(order as usize - 100) % known.len()]
    } else {
        OrderId(order % 100)
    }
}

fn picks() -> impl Strategy<Value = Picks> {
    prop::collection::vec(0usize..=12, 0..=4)
}

fn selection() -> impl Strategy<Value = Result<Picks, u32>> {
    prop_oneof![picks().prop_map(Ok), (0u32..=4).prop_map(Err)]
}

fn op() -> impl Strategy<Value = Op> {
    let life = prop_oneof![Just(0), Just(1), Just(5 * MINUTE_MS), Just(15 * MINUTE_MS)];
    prop_oneof![
        8 => (1u64..=12, prop_oneof![3 => 1u32..=4, 1 => 0u32..=9], prop::option::weighted(0.3, picks()),
              prop_oneof![4 => Just(0), 1 => Just(MINUTE_MS), 1 => Just(4 * MINUTE_MS)], life)
            .prop_map(|(order, quantity, labels, initiated_back_ms, life_ms)| Op::Reserve {
                order, quantity, labels, initiated_back_ms, life_ms,
            }),
        3 => (order(), prop::option::of(prop_oneof![Just(0), Just(MINUTE_MS), Just(10 * MINUTE_MS), Just(16 * MINUTE_MS)]))
            .prop_map(|(order, ms)| Op::Extend { order, ms }),
        3 => order().prop_map(Op::Confirm),
        1 => order().prop_map(Op::Release),
        1 => order().prop_map(Op::Unsell),
        2 => order().prop_map(Op::Expire),
        1 => selection().prop_map(Op::Block),
        1 => selection().prop_map(Op::Unblock),
        1 => (1u64..=6, prop_oneof![3 => Just(SalesPhase::Open), 2 => Just(SalesPhase::Closed), 1 => Just(SalesPhase::Ended)])
            .prop_map(|(version, phase)| Op::Phase { version, phase }),
        1 => (order(), 0u8..=3).prop_map(|(order, index)| Op::Return { order, index }),
    ]
}

fn step() -> impl Strategy<Value = Step> {
    let dt = prop_oneof![
        6 => Just(0i64),
        2 => Just(1i64),
        4 => Just(1_000i64),
        3 => Just(MINUTE_MS as i64),
        1 => Just(5 * MINUTE_MS as i64 - 1),
        1 => Just(5 * MINUTE_MS as i64),
        1 => Just(15 * MINUTE_MS as i64 + 1),
        1 => Just(HOUR_MS as i64),
        1 => Just(-1i64),
    ]
    .prop_map(Clock::By);
    let clock = prop_oneof![8 => dt, 2 => (-1i64..=1).prop_map(Clock::ToDeadline)];
    (
        op(),
        prop::option::weighted(0.1, 0usize..5),
        prop::option::weighted(0.1, any::<usize>()),
        clock,
    )
        .prop_map(|(op, actor, reuse, clock)| Step {
            op,
            actor,
            reuse,
            clock,
        })
}

const ACTORS: [Actor; 5] = [
    Actor::Customer(CustomerId(1)),
    Actor::Organizer(ORGANIZER),
    Actor::Organizer(STRANGER),
    Actor::Service,
    Actor::System,
];

/// The labels a pick names (the last index is a label no section has).
fn labels(picks: &[usize]) -> Vec<String> {
    let all = super::support::labels(ROWS);
    picks
        .iter()
        .map(|pick| all.get(*pick).cloned().unwrap_or_else(|| "Z-9".to_owned()))
        .collect()
}

fn selection_of(choice: &Result<Picks, u32>) -> SeatSelection {
    match choice {
        Ok(picks) => SeatSelection::Labels(labels(picks)),
        Err(count) => SeatSelection::Count(*count),
    }
}

/// The command and the actor SPEC expects for it.
fn command(op: &Op, now: Timestamp, model: &Model) -> (InventoryCommand, Actor) {
    let service = Actor::Service;
    match op {
        Op::Reserve {
            order,
            quantity,
            labels: picks,
            initiated_back_ms,
            life_ms,
        } => {
            let initiated_at = Timestamp(now.0.saturating_sub(*initiated_back_ms));
            (
                InventoryCommand::Reserve {
                    order: resolve(*order, model),
                    quantity: *quantity,
                    seats: picks.as_deref().map(labels),
                    initiated_at,
                    expires_at: initiated_at.plus(*life_ms),
                },
                service,
            )
        }
        Op::Extend { order, ms } => {
            let expires_at = match ms {
                Some(ms) => now.plus(*ms),
                None => model
                    .holds
                    .get(&resolve(*order, model))
                    .map_or(now, |hold| hold.initiated_at.plus(15 * MINUTE_MS)),
            };
            (
                InventoryCommand::Extend {
                    order: resolve(*order, model),
                    expires_at,
                },
                service,
            )
        }
        Op::Confirm(order) => (
            InventoryCommand::Confirm {
                order: resolve(*order, model),
            },
            service,
        ),
        Op::Release(order) => (
            InventoryCommand::Release {
                order: resolve(*order, model),
            },
            service,
        ),
        Op::Unsell(order) => (
            InventoryCommand::Unsell {
                order: resolve(*order, model),
            },
            service,
        ),
        Op::Expire(order) => (
            InventoryCommand::ExpireHold {
                order: resolve(*order, model),
            },
            Actor::System,
        ),
        Op::Block(choice) => (
            InventoryCommand::Block(selection_of(choice)),
            Actor::Organizer(ORGANIZER),
        ),
        Op::Unblock(choice) => (
            InventoryCommand::Unblock(selection_of(choice)),
            Actor::Organizer(ORGANIZER),
        ),
        Op::Phase { version, phase } => (
            InventoryCommand::SetPhase {
                show_version: *version,
                phase: *phase,
            },
            service,
        ),
        Op::Return { order, index } => (
            InventoryCommand::ReturnSeat {
                ticket: TicketId {
                    order: resolve(*order, model),
                    index: *index,
                },
            },
            service,
        ),
    }
}

/// A section set up and opened (show version 1) in both the core and the model.
fn set_up(numbered_section: bool) -> (Host<Inventory>, Model) {
    let spec = if numbered_section {
        numbered(ROWS, 1_000)
    } else {
        general(GENERAL_CAPACITY, 1_000)
    };
    let mut host = Host::<Inventory>::default();
    host.send(
        &(),
        Actor::Service,
        T0,
        InventoryCommand::Initialize {
            section: key(1, 0),
            organizer: ORGANIZER,
            start_at: START,
            spec,
        },
    )
    .new_event();
    let rows: &[(&str, u32)] = if numbered_section { ROWS } else { &[] };
    let model = Model::new(ORGANIZER, START, rows, GENERAL_CAPACITY);
    (host, model)
}

fn claim_of(status: HoldStatus) -> Claim {
    match status {
        HoldStatus::Held => Claim::Held,
        HoldStatus::Sold => Claim::Sold,
        HoldStatus::Released => Claim::Released,
        HoldStatus::Unsold => Claim::Unsold,
    }
}

/// The core's section and the model's agree on every count, seat and hold.
fn agree(inventory: &Inventory, model: &Model) -> Result<(), TestCaseError> {
    let counts = inventory.counts();
    prop_assert_eq!(
        (
            counts.capacity,
            counts.available,
            counts.reserved,
            counts.sold,
            counts.blocked
        ),
        (
            model.capacity,
            model.available(),
            model.reserved(),
            model.sold(),
            model.blocked()
        ),
        "counts (capacity, available, reserved, sold, blocked)"
    );
    if let Some(map) = inventory.seat_map() {
        let expected = model.seat_states();
        prop_assert_eq!(map.states(), expected.as_slice(), "seat states");
    }
    for (order, hold) in &model.holds {
        let claim = inventory.order(*order);
        prop_assert!(claim.is_some(), "the core forgot {:?}", order);
        let claim = claim.expect("checked");
        prop_assert_eq!(claim_of(claim.status), hold.claim, "{:?}", order);
        if hold.claim == Claim::Held {
            prop_assert_eq!(
                (claim.expires_at, claim.extended),
                (hold.expires_at, hold.extended)
            );
        }
    }
    prop_assert_eq!(
        inventory.orders().count(),
        model.holds.len(),
        "orders known"
    );
    Ok(())
}

/// The core alone: counts add up to the capacity and no seat belongs to two orders.
fn never_oversold(inventory: &Inventory) -> Result<(), TestCaseError> {
    let counts = inventory.counts();
    prop_assert_eq!(
        counts.available + counts.reserved + counts.sold + counts.blocked,
        counts.capacity
    );
    if let Some(map) = inventory.seat_map() {
        let mut owners = vec![None; map.states().len()];
        for (order, claim) in inventory.orders() {
            let owns = match claim.status {
                HoldStatus::Held => true,
                HoldStatus::Sold => true,
                HoldStatus::Released | HoldStatus::Unsold => false,
            };
            if !owns {
                continue;
            }
            for (index, seat) in claim.seats.iter().enumerate() {
                if claim.status == HoldStatus::Sold && claim.returned & (1 << index) != 0 {
                    continue;
                }
                let slot = &mut owners[seat.0 as usize];
                prop_assert!(
                    slot.is_none(),
                    "seat {:?} held by {:?} and {:?}",
                    seat,
                    slot,
                    order
                );
                *slot = Some(*order);
            }
        }
    }
    Ok(())
}

/// Run `steps` against the core and the model; return the log's published events.
fn run(
    numbered_section: bool,
    steps: &[Step],
    replay_every_step: bool,
) -> Result<(Host<Inventory>, Model, Vec<Published>), TestCaseError> {
    let (mut host, mut model) = set_up(numbered_section);
    let opening = InventoryCommand::SetPhase {
        show_version: 1,
        phase: SalesPhase::Open,
    };
    let id = CommandId(1_000_000);
    prop_assert_eq!(
        model.judge(id, Actor::Service, T0, &opening),
        Verdict::Accept { seats: None }
    );
    host.send_with_id(&(), id, Actor::Service, T0, opening.clone())
        .new_event();
    model.accept(id, Actor::Service, T0, &opening, None);
    model.last_now = T0;

    let mut now = T0;
    let mut ids: Vec<CommandId> = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        now = match step.clock {
            Clock::By(ms) => Timestamp(now.0.saturating_add_signed(ms)),
            Clock::ToDeadline(offset) => model
                .holds
                .values()
                .filter(|hold| hold.claim == Claim::Held)
                .map(|hold| Timestamp(hold.expires_at.0.saturating_add_signed(offset)))
                .filter(|at| *at >= now)
                .min()
                .unwrap_or(now),
        };
        let (body, expected_actor) = command(&step.op, now, &model);
        let actor = step.actor.map_or(expected_actor, |choice| ACTORS[choice]);
        let id = match step.reuse {
            Some(pick) if !ids.is_empty() => ids[pick % ids.len()],
            _ => CommandId(index as u64 + 100),
        };
        ids.push(id);
        let verdict = model.judge(id, actor, now, &body);
        let before = host.state().clone();
        let outcome = host.send_with_id(&(), id, actor, now, body.clone());
        match (verdict, outcome) {
            (Verdict::Accept { seats }, Outcome::New(event, _)) => {
                if let InventoryEvent::SeatsReserved { seats: chosen, .. } = &event {
                    let chosen: Vec<usize> = chosen.iter().map(|seat| seat.0 as usize).collect();
                    prop_assert_eq!(
                        &chosen,
                        &seats.clone().unwrap_or_default(),
                        "seats chosen for {:?}",
                        body
                    );
                }
                model.accept(id, actor, now, &body, seats);
            }
            (Verdict::Nothing, Outcome::Repeat(_) | Outcome::Ignored) => {}
            (Verdict::Reject(_), Outcome::Rejected(_)) => {
                prop_assert_eq!(host.state(), &before, "a refused command changed the state");
            }
            (verdict, outcome) => {
                prop_assert!(
                    false,
                    "step {}: {:?} by {:?} at {:?}: model {:?}, core {:?}",
                    index,
                    body,
                    actor,
                    now,
                    verdict,
                    outcome
                );
            }
        }
        agree(host.state(), &model)?;
        never_oversold(host.state())?;
        if replay_every_step {
            let rebuilt = Stream::<Inventory>::replay(host.stream.log());
            prop_assert_eq!(&rebuilt, host.state(), "replay after step {}", index);
            prop_assert_eq!(rebuilt.timers(), host.state().timers());
        }
    }
    let published = host
        .stream
        .log()
        .iter()
        .enumerate()
        .map(|(index, event)| Published {
            stream: StreamId::Inventory(key(1, 0)),
            version: index as u64 + 1,
            event: DomainEvent::Inventory(event.clone()),
        })
        .collect();
    Ok((host, model, published))
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(step(), 1..60)
}

/// A deterministic shuffle with duplicates: every event once or twice, in an order
/// drawn from `seed`.
fn redelivered(published: &[Published], seed: u64) -> Vec<Published> {
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let mut out: Vec<Published> = Vec::new();
    for event in published {
        out.push(event.clone());
        if next().is_multiple_of(3) {
            out.push(event.clone());
        }
    }
    for index in (1..out.len()).rev() {
        let other = (next() % (index as u64 + 1)) as usize;
        out.swap(index, other);
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::default())]

    #[test]
    fn any_command_sequence_is_judged_exactly_as_the_naive_model_judges_it(
        numbered_section in any::<bool>(),
        steps in steps(),
    ) {
        // Pins down: for any reserve/extend/confirm/release/unsell/block/unblock/expire sequence with arbitrary actors, ids, times, quantities and labels, the core accepts and refuses what the naive model does, picks the same seats, never oversells and never holds a seat twice.
        run(numbered_section, &steps, false)?;
    }

    #[test]
    fn folding_the_log_from_empty_rebuilds_the_live_state_exactly(
        numbered_section in any::<bool>(),
        steps in steps(),
    ) {
        // Pins down: after every step, applying the log to an empty state gives the live state exactly — idempotency records, holds, seat index and armed timers included — so a restarted service decides as before.
        let (host, _, _) = run(numbered_section, &steps, true)?;
        // And the replica decides a repeat of every logged command as a repeat.
        let rebuilt = Stream::<Inventory>::replay(host.stream.log());
        for (index, event) in host.stream.log().iter().enumerate().skip(1) {
            let record = rebuilt.journal.record_of(event.command);
            prop_assert!(record.is_some_and(|record| record.version == index as u64 + 1));
        }
    }

    #[test]
    fn the_read_models_equal_the_naive_model_under_redelivery_and_reordering(
        numbered_section in any::<bool>(),
        steps in steps(),
        seed in any::<u64>(),
    ) {
        // Pins down: available seats and the venue layout, fed every event once or twice in any order, equal the naive model's counts and seat statuses.
        let (_, model, published) = run(numbered_section, &steps, false)?;
        let mut read_models = ReadModels::new();
        for event in redelivered(&published, seed) {
            read_models.observe(event);
        }
        let counts = read_models.available_seats.section(key(1, 0));
        prop_assert!(counts.is_some());
        let counts = counts.expect("checked");
        prop_assert_eq!(
            (counts.capacity, counts.available, counts.reserved, counts.sold, counts.blocked),
            (model.capacity, model.available(), model.reserved(), model.sold(), model.blocked())
        );
        if numbered_section {
            let seats = read_models.venue_layout.seats(key(1, 0));
            prop_assert!(seats.is_some());
            let statuses: Vec<SeatState> = seats.expect("checked").iter().map(|seat| seat.status).collect();
            prop_assert_eq!(statuses, model.seat_states());
        }
    }
}

/// The naive best-available over raw seat states: the lowest row with `quantity`
/// adjacent free seats at its lowest first seat, else the lowest-ordered free seats.
fn naive_best(rows: &[u32], free: &[bool], quantity: usize) -> Option<Vec<usize>> {
    let mut first = 0usize;
    for len in rows {
        let len = *len as usize;
        for start in 0..len {
            if start + quantity <= len && (start..start + quantity).all(|seat| free[first + seat]) {
                return Some((first + start..first + start + quantity).collect());
            }
        }
        first += len;
    }
    let picked: Vec<usize> = (0..free.len())
        .filter(|seat| free[*seat])
        .take(quantity)
        .collect();
    (picked.len() == quantity).then_some(picked)
}

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: ProptestConfig::default().cases / 8, ..ProptestConfig::default() })]

    #[test]
    fn best_available_in_a_stadium_equals_a_naive_scan(
        row_count in prop_oneof![Just(70usize), Just(700), Just(4_200)],
        mixed_lengths in any::<bool>(),
        seats_per_row in 1u32..=9,
        occupied_per_mille in prop_oneof![Just(500u64), Just(900), Just(990), Just(1_000)],
        seed in any::<u64>(),
    ) {
        // Pins down: best-available seating in venues of many rows (every level of the row index) and of rows shorter and longer than 64 seats chooses exactly what a naive scan chooses, before and after seats change, whatever the quantity.
        use turnstile_core::inventory::seating::{SeatLayout, SeatMap};
        use turnstile_core::SeatIndex;
        let mut state = seed;
        const LENGTHS: [u32; 8] = [1, 7, 8, 9, 63, 64, 65, 100];
        let rows: Vec<u32> = (0..row_count)
            .map(|_| {
                if mixed_lengths && row_count <= 700 {
                    LENGTHS[(splitmix(&mut state) % 8) as usize]
                } else {
                    seats_per_row
                }
            })
            .collect();
        let labels: Vec<String> = rows
            .iter()
            .enumerate()
            .flat_map(|(row, len)| (1..=*len).map(move |seat| format!("R{row}-{seat}")))
            .collect();
        let mut map = SeatMap::new(SeatLayout::build(&labels).expect("layout"));
        let mut free = vec![true; labels.len()];
        let taken: Vec<SeatIndex> = (0..labels.len())
            .filter(|_| splitmix(&mut state) % 1_000 < occupied_per_mille)
            .map(|seat| SeatIndex(seat as u32))
            .collect();
        for seat in &taken {
            free[seat.0 as usize] = false;
        }
        map.set(&taken, SeatState::Sold);
        for round in 0..16 {
            for quantity in 1..=8usize {
                let chosen = map.best_available(quantity).map(|seats| seats.iter().map(|seat| seat.0 as usize).collect::<Vec<_>>());
                prop_assert_eq!(chosen, naive_best(&rows, &free, quantity), "round {} quantity {}", round, quantity);
            }
            // Free a few seats anywhere and take a few others.
            for _ in 0..4 {
                let seat = (splitmix(&mut state) % labels.len() as u64) as usize;
                free[seat] = !free[seat];
                let state_now = if free[seat] { SeatState::Free } else { SeatState::Reserved };
                map.set(&[SeatIndex(seat as u32)], state_now);
            }
        }
    }
}
