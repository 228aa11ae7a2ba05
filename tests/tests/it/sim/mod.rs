//! Proofs of the engine on its toy system (the reference workload): a planted bug is
//! found and shrunk, runs are deterministic whatever the thread count or choice source,
//! and acknowledged writes survive crashes.

mod crash;
mod determinism;
mod engine;
mod planted_bug;

use turnstile_sim::toy::{self, Bugs, Toy, ToyConfig};
use turnstile_sim::{Config, ProfileMode};

/// The build id the tests' replay tokens carry.
const BUILD: &str = "tests";

/// Swarm runs of the toy: every run draws its own fault profile.
fn swarm() -> Config {
    Config::new(ProfileMode::Swarm(toy::swarm_ceiling()))
}

fn toy_with(bugs: Bugs) -> Toy {
    Toy::new(ToyConfig {
        bugs,
        ..ToyConfig::default()
    })
}

/// How many seeds the long sweeps run: `TURNSTILE_SIM_RUNS` if set, else `default`.
#[allow(clippy::disallowed_methods)] // Test configuration, read outside any run.
fn runs_or(default: u64) -> u64 {
    std::env::var("TURNSTILE_SIM_RUNS")
        .ok()
        .and_then(|runs| runs.parse().ok())
        .unwrap_or(default)
}
