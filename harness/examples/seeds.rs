//! Runs seeds of the default sweep's world one by one and prints each run's outcome:
//! `cargo run --release -p turnstile --example seeds -- FIRST COUNT`.

use turnstile::world::{Ticketing, sweep_config};
use turnstile_sim::{Choices, Sim, TraceMode};

fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let first = args.first().copied().unwrap_or(0);
    let count = args.get(1).copied().unwrap_or(10);
    let mut config = sweep_config();
    if count == 1 {
        config.trace = TraceMode::Text;
    }
    let mut sim = Sim::new(config);
    let mut world = Ticketing::sweep();
    for seed in first..first + count {
        let outcome = sim.run(&mut world, Choices::from_seed(seed));
        let stats = sim.stats();
        println!(
            "seed {seed} {:<11} steps {:>6} delivered {:>5} vt {:>9}ms restarts {} {}",
            world.workload().name(),
            stats.steps,
            stats.messages_delivered,
            stats.virtual_time_ms,
            stats.restarts,
            outcome
                .failure
                .as_ref()
                .map_or("ok".to_owned(), |f| f.to_string())
        );
        if count == 1 {
            for line in &sim.trace().lines {
                println!("{line}");
            }
        }
    }
}
