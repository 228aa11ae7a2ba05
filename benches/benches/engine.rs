//! The reference engine workload (SIMULATION.md) as a criterion benchmark: one inventory
//! server, 50 clients, delays 1–50 ms, with and without 5 % drops, per-step checks and
//! trace hashing on as in a sweep.
//!
//! `reference_run/*` reads as runs per second (one run per element); `messages/*` runs a
//! fixed batch of 100 seeds and reads as messages delivered per second.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use turnstile_sim::toy::{self, Toy};
use turnstile_sim::{Choices, Config, ProfileMode, Sim};

fn engine(c: &mut Criterion) {
    let mut group = c.benchmark_group("engine");
    for (name, faults) in [("calm", false), ("faults", true)] {
        let config = Config::new(ProfileMode::Fixed(toy::reference_profile(faults)));
        let mut sim = Sim::new(config);
        let mut system = Toy::reference();

        group.throughput(Throughput::Elements(1));
        let mut seed = 0u64;
        group.bench_function(format!("reference_run/{name}"), |b| {
            b.iter(|| {
                seed += 1;
                black_box(sim.run(&mut system, Choices::from_seed(seed)).hash)
            })
        });

        let batch = 0..100u64;
        let messages: u64 = batch
            .clone()
            .map(|seed| {
                sim.run(&mut system, Choices::from_seed(seed));
                sim.stats().messages_delivered
            })
            .sum();
        group.throughput(Throughput::Elements(messages));
        group.bench_function(format!("messages/{name}"), |b| {
            b.iter(|| {
                for seed in batch.clone() {
                    black_box(sim.run(&mut system, Choices::from_seed(seed)).hash);
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, engine);
criterion_main!(benches);
