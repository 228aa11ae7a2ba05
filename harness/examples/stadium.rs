//! The stadium flash sale: 100,000 customers for 50,000 seats (four numbered sections
//! of 100 rows of 100 seats, and 10,000 standing places) in one run, every `always`
//! check after every step. Measure it with
//! `cargo build --release -p turnstile --example stadium &&
//!  /usr/bin/time -v target/release/examples/stadium [SEED] [--faults]`.

#[allow(clippy::disallowed_types)] // Wall time of a whole run, outside it.
use std::time::Instant;

use turnstile::world::{Ticketing, WorldConfig, sweep_config};
use turnstile_sim::{Choices, Profile, ProfileMode, Sim};

/// The `turnstile` command's allocator, so the figures are the command's.
#[global_allocator]
static ALLOC: turnstile::pool::Pool = turnstile::pool::Pool;

#[allow(clippy::disallowed_methods, clippy::disallowed_types)] // Wall time of the run.
fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seed = args.iter().find_map(|a| a.parse().ok()).unwrap_or(1);
    let faults = args.iter().any(|a| a == "--faults");
    let mut config = sweep_config();
    let mut profile = Profile::calm(1, 50);
    if faults {
        profile.drop_per_mille = 10;
        profile.duplicate_per_mille = 10;
    }
    config.profile = ProfileMode::Fixed(profile);
    let mut sim = Sim::new(config);
    let mut world = Ticketing::new(WorldConfig::stadium());
    let started = Instant::now();
    let outcome = sim.run(&mut world, Choices::from_seed(seed));
    let seconds = started.elapsed().as_secs_f64();
    let stats = sim.stats();
    println!(
        "stadium seed {seed}: {} customers, {:.2}s wall, {} messages delivered, {} steps, {} checks, {:.0} s virtual",
        world.layout().customers,
        seconds,
        stats.messages_delivered,
        stats.steps,
        stats.checks,
        stats.virtual_time_ms as f64 / 1_000.0
    );
    println!(
        "seats sold (captures on the gateway's ledger): {}",
        world
            .ledger()
            .accounts
            .values()
            .filter(|a| a.captures > 0)
            .count()
    );
    match outcome.failure {
        Some(failure) => {
            println!("FAILED: {failure}");
            std::process::exit(1);
        }
        None => println!("every invariant held"),
    }
}
