//! The ticketing world as a criterion benchmark: one run per workload (flash sale,
//! season, adversarial) of the default sweep's kind, swarm profiles, every `always`
//! check after every step, trace hashing on.
//!
//! `run/*` cycles through 64 fixed seeds and reads as runs per second (one run per
//! element); `messages/*` runs those 64 seeds and reads as messages delivered per second.
//!
//! `scaling/*`: a flash sale with 100, 1,000 and 10,000 customers for half as many seats
//! (one numbered section of 50-seat rows and as many standing places), swarm faults on,
//! read as runs per second and as messages delivered per second, so the cost per message
//! can be seen to stay flat as the world grows.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use turnstile::world::{FlashSaleShape, Ticketing, Workload, WorldConfig, sweep_config};
use turnstile_sim::{Choices, Sim};

/// The `turnstile` command's allocator, so the figures are the command's.
#[global_allocator]
static ALLOC: turnstile::pool::Pool = turnstile::pool::Pool;

const SEEDS: u64 = 64;

fn world(c: &mut Criterion) {
    let mut group = c.benchmark_group("world");
    group.sample_size(20);
    for workload in Workload::ALL {
        let mut sim = Sim::new(sweep_config());
        let mut system = Ticketing::new(WorldConfig::sweep().with_workload(workload));

        group.throughput(Throughput::Elements(1));
        let mut seed = 0u64;
        group.bench_function(format!("run/{}", workload.name()), |b| {
            b.iter(|| {
                seed = (seed + 1) % SEEDS;
                black_box(sim.run(&mut system, Choices::from_seed(seed)).hash)
            })
        });

        let messages: u64 = (0..SEEDS)
            .map(|seed| {
                sim.run(&mut system, Choices::from_seed(seed));
                sim.stats().messages_delivered
            })
            .sum();
        group.throughput(Throughput::Elements(messages));
        group.bench_function(format!("messages/{}", workload.name()), |b| {
            b.iter(|| {
                for seed in 0..SEEDS {
                    black_box(sim.run(&mut system, Choices::from_seed(seed)).hash);
                }
            })
        });
    }
    group.finish();
}

/// A flash sale of `customers` for `customers / 2` seats.
fn flash_sale_of(customers: u32) -> WorldConfig {
    let base = WorldConfig::sweep().with_workload(Workload::FlashSale);
    WorldConfig {
        flash_sale: FlashSaleShape {
            customers_min: customers,
            customers_max: customers,
            numbered_sections: 1,
            rows: (customers / 200).max(1),
            seats_per_row: 50,
            general_admission: customers / 4,
            ..base.flash_sale
        },
        ..base
    }
}

fn scaling(c: &mut Criterion) {
    const SCALING_SEEDS: u64 = 4;
    let mut group = c.benchmark_group("scaling");
    group.sample_size(10);
    for customers in [100u32, 1_000, 10_000] {
        let mut sim = Sim::new(sweep_config());
        let mut system = Ticketing::new(flash_sale_of(customers));
        let messages: u64 = (0..SCALING_SEEDS)
            .map(|seed| {
                sim.run(&mut system, Choices::from_seed(seed));
                sim.stats().messages_delivered
            })
            .sum();

        group.throughput(Throughput::Elements(SCALING_SEEDS));
        group.bench_function(format!("runs/{customers}_customers"), |b| {
            b.iter(|| {
                for seed in 0..SCALING_SEEDS {
                    black_box(sim.run(&mut system, Choices::from_seed(seed)).hash);
                }
            })
        });
        group.throughput(Throughput::Elements(messages));
        group.bench_function(format!("messages/{customers}_customers"), |b| {
            b.iter(|| {
                for seed in 0..SCALING_SEEDS {
                    black_box(sim.run(&mut system, Choices::from_seed(seed)).hash);
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, world, scaling);
criterion_main!(benches);
