//! A sweep of the default world with its probes and figures:
//! `cargo run --release -p turnstile --example sweep -- RUNS THREADS`.

#[allow(clippy::disallowed_types)] // Wall time of a whole run, outside it.
use std::time::Instant;

use turnstile::world::{BUILD, Ticketing, sweep_config};
use turnstile_sim::{SweepConfig, sweep};

/// The `turnstile` command's allocator, so the figures are the command's.
#[global_allocator]
static ALLOC: turnstile::pool::Pool = turnstile::pool::Pool;

#[allow(clippy::disallowed_methods, clippy::disallowed_types)] // Wall time of the sweep.
fn main() {
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let runs = args.first().copied().unwrap_or(1_000);
    let threads = args.get(1).copied().unwrap_or(2) as usize;
    let started = Instant::now();
    let mut config = SweepConfig::new(0, runs, threads, BUILD);
    config.shrink_budget_runs = 2_000;
    let report = sweep(&sweep_config(), &config, Ticketing::sweep);
    let seconds = started.elapsed().as_secs_f64();
    let stats = &report.stats;
    println!(
        "{runs} runs in {seconds:.2}s: {:.0} runs/s, {:.0} messages/run, {:.0} steps/run",
        runs as f64 / seconds,
        stats.messages_delivered as f64 / runs as f64,
        stats.steps as f64 / runs as f64
    );
    for (name, hits) in turnstile::probes::ALL.iter().zip(&stats.probe_hits) {
        println!("  probe {name}: {hits}");
    }
    for group in &report.groups {
        println!(
            "FAIL {} x{} seeds {:?}: {}",
            group.invariant,
            group.seeds.len(),
            &group.seeds[..group.seeds.len().min(5)],
            group.token
        );
        if let Some(shrunk) = &group.shrunk {
            println!("  {}", shrunk.failure);
        }
    }
}
