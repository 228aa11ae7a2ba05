//! Benchmarks of the ticketing core's hot paths, read per second.
//!
//! - `general_admission/reserve_confirm/{1k,10k}_orders`: successful reserve + confirm
//!   decide-and-apply pairs on one general-admission section, each for a distinct
//!   order, 1,000 or 10,000 orders per fresh section.
//! - `best_available/{1k,100k}_seats`: "reserve 4 best available, then release" in a
//!   venue of rows of 40 seats with 90 % of the seats sold uniformly at random from a
//!   fixed seed; the two sizes show that choosing seats does not scan the venue.
//!
//! General admission works on a fresh copy of a prepared section per iteration (copied
//! outside the timing). Best available runs in a steady state: one section serves
//! round after round, starting over from its prepared copy every 200,000 rounds.

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;
use turnstile_core::inventory::Inventory;
use turnstile_core::inventory::{InventoryCommand, InventoryError, SalesPhase};
use turnstile_core::show::{SectionKind, SectionSpec};
use turnstile_core::time::{HOLD_DURATION_MS, Timestamp};
use turnstile_core::{
    Actor, Aggregate, CommandId, Decision, Envelope, Money, OrderId, OrganizerId, SectionIndex,
    SectionKey, ShowId,
};

/// The best-available section starts over from its prepared copy this often.
const RESET_ROUNDS: u64 = 200_000;
const SEATS_PER_ROW: u32 = 40;
const START: Timestamp = Timestamp(1_000 * 24 * 3_600 * 1_000);
const NOW: Timestamp = Timestamp(900 * 24 * 3_600 * 1_000);

/// xorshift64*: a fixed-seed generator, enough to scatter sold seats.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, bound: u64) -> u64 {
        self.next() % bound
    }
}

fn run(inventory: &mut Inventory, id: u64, actor: Actor, body: InventoryCommand) {
    let command = Envelope::new(CommandId(id), actor, NOW, body);
    match inventory.decide(&(), &command) {
        Ok(Decision::Accepted { event, .. }) => inventory.apply(&event),
        other => panic!("setup command refused: {other:?}"),
    }
}

/// A section with sales open: general admission, or numbered rows of 40.
fn section(spec: SectionSpec) -> Inventory {
    let mut inventory = Inventory::default();
    let key = SectionKey {
        show: ShowId(1),
        section: SectionIndex(0),
    };
    let organizer = OrganizerId(1);
    let initialize = InventoryCommand::Initialize {
        section: key,
        organizer,
        start_at: START,
        spec,
    };
    run(&mut inventory, 1, Actor::Service, initialize);
    let open = InventoryCommand::SetPhase {
        show_version: 2,
        phase: SalesPhase::Open,
    };
    run(&mut inventory, 2, Actor::Service, open);
    inventory
}

fn general_admission() -> Inventory {
    section(SectionSpec {
        name: "Floor".into(),
        kind: SectionKind::GeneralAdmission,
        capacity: 1_000_000,
        seat_labels: Default::default(),
        base_price: Money(5_000),
    })
}

/// Rows of 40 seats, 90 % sold uniformly at random from a fixed seed.
fn mostly_sold_venue(seats: u32) -> Inventory {
    let labels: Vec<String> = (0..seats)
        .map(|seat| format!("R{}-{}", seat / SEATS_PER_ROW, seat % SEATS_PER_ROW + 1))
        .collect();
    let mut inventory = section(SectionSpec {
        name: "Stalls".into(),
        kind: SectionKind::Numbered,
        capacity: seats,
        seat_labels: labels.clone().into(),
        base_price: Money(5_000),
    });
    let mut order: Vec<u32> = (0..seats).collect();
    let mut rng = Rng(0x5eed_1234_abcd_ef01);
    for index in (1..order.len()).rev() {
        order.swap(index, rng.below(index as u64 + 1) as usize);
    }
    let sold = &order[..(seats as usize * 9 / 10)];
    for (batch, chunk) in sold.chunks(8).enumerate() {
        let order_id = OrderId(1_000_000 + batch as u64);
        let chosen = chunk
            .iter()
            .map(|seat| labels[*seat as usize].clone())
            .collect();
        let reserve = InventoryCommand::Reserve {
            order: order_id,
            quantity: chunk.len() as u32,
            seats: Some(chosen),
            initiated_at: NOW,
            expires_at: NOW.plus(HOLD_DURATION_MS),
        };
        run(
            &mut inventory,
            10 + 2 * batch as u64,
            Actor::Service,
            reserve,
        );
        let confirm = InventoryCommand::Confirm { order: order_id };
        run(
            &mut inventory,
            11 + 2 * batch as u64,
            Actor::Service,
            confirm,
        );
    }
    inventory
}

fn decide_apply(
    inventory: &mut Inventory,
    command: &Envelope<InventoryCommand>,
) -> Result<(), InventoryError> {
    if let Decision::Accepted { event, .. } = inventory.decide(&(), command)? {
        inventory.apply(&event);
    }
    Ok(())
}

fn bench_general_admission(c: &mut Criterion) {
    let base = general_admission();
    let mut group = c.benchmark_group("general_admission");
    // Each iteration sells to `orders` distinct orders on a fresh section: the larger
    // size shows the cost of the per-order and idempotency records as they grow.
    for (name, orders) in [
        ("reserve_confirm/1k_orders", 1_000u64),
        ("reserve_confirm/10k_orders", 10_000),
    ] {
        group.throughput(Throughput::Elements(orders));
        group.bench_function(name, |b| {
            b.iter_batched(
                || base.clone(),
                |mut inventory| {
                    for order in 0..orders {
                        let reserve = Envelope::new(
                            CommandId(1_000 + 2 * order),
                            Actor::Service,
                            NOW,
                            InventoryCommand::Reserve {
                                order: OrderId(order),
                                quantity: 1,
                                seats: None,
                                initiated_at: NOW,
                                expires_at: NOW.plus(HOLD_DURATION_MS),
                            },
                        );
                        decide_apply(&mut inventory, &reserve).expect("reserve");
                        let confirm = Envelope::new(
                            CommandId(1_001 + 2 * order),
                            Actor::Service,
                            NOW,
                            InventoryCommand::Confirm {
                                order: OrderId(order),
                            },
                        );
                        decide_apply(&mut inventory, &confirm).expect("confirm");
                    }
                    black_box(inventory.available());
                    inventory
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

fn bench_best_available(c: &mut Criterion) {
    let mut group = c.benchmark_group("best_available");
    group.throughput(Throughput::Elements(1));
    for (name, seats) in [("1k_seats", 1_000), ("100k_seats", 100_000)] {
        let base = mostly_sold_venue(seats);
        group.bench_function(name, |b| {
            // Steady state: one section keeps serving "reserve 4, release" with fresh
            // order ids, accumulating history as a venue on sale does; it starts over
            // from the prepared copy every RESET_ROUNDS rounds (inside the timing, a
            // cost spread over all of them) so memory stays bounded.
            let mut inventory = base.clone();
            let mut round = 0u64;
            b.iter(|| {
                if round.is_multiple_of(RESET_ROUNDS) {
                    inventory = base.clone();
                }
                // Above every id the prepared venue used (its orders are 1,000,000 and
                // up): a long sample must never reserve for an order it already holds.
                let order = OrderId((1 << 40) | round);
                let reserve = Envelope::new(
                    CommandId((1 << 40) | (2 * round)),
                    Actor::Service,
                    NOW,
                    InventoryCommand::Reserve {
                        order,
                        quantity: 4,
                        seats: None,
                        initiated_at: NOW,
                        expires_at: NOW.plus(HOLD_DURATION_MS),
                    },
                );
                decide_apply(&mut inventory, &reserve).expect("reserve");
                let release = Envelope::new(
                    CommandId((1 << 40) | (2 * round + 1)),
                    Actor::Service,
                    NOW,
                    InventoryCommand::Release { order },
                );
                decide_apply(&mut inventory, &release).expect("release");
                round += 1;
                black_box(inventory.available())
            });
        });
    }
    group.finish();
}

criterion_group!(benches, bench_general_admission, bench_best_available);
criterion_main!(benches);
