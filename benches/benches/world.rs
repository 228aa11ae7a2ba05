//! The ticketing world as a criterion benchmark: one run per workload (flash sale,
//! season, adversarial) of the default sweep's kind, swarm profiles, every `always`
//! check after every step, trace hashing on.
//!
//! `run/*` cycles through 64 fixed seeds and reads as runs per second (one run per
//! element); `messages/*` runs those 64 seeds and reads as messages delivered per second.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use turnstile::world::{Ticketing, Workload, WorldConfig, sweep_config};
use turnstile_sim::{Choices, Sim};

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

criterion_group!(benches, world);
criterion_main!(benches);
