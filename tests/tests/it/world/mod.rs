//! The ticketing world: a fixed sweep that must hold every invariant and reach every
//! probe, runs big enough to be real tests, one seed on demand, snapshots of readable
//! traces and of a sweep summary, and (in `doubles`) each invariant broken on purpose.
//!
//! `TURNSTILE_SEED=S` runs seed S alone and prints its trace; `TURNSTILE_RUNS=N` sets
//! the size of the fixed sweep.

mod doubles;
mod snapshots;
mod spec_model;

use turnstile::world::{BUILD, Ticketing, Workload, sweep_config};
use turnstile_sim::{Choices, Sim, SweepConfig, TraceMode, sweep};

/// An environment variable as a number, read outside any run.
#[allow(clippy::disallowed_methods)] // Test configuration, not inside a run.
fn env_number(name: &str) -> Option<u64> {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
}

#[test]
fn the_fixed_sweep_holds_every_invariant_and_reaches_every_probe() {
    // Every invariant holds in every run, and no probe is a blind spot of the sweep.
    let runs = env_number("TURNSTILE_RUNS").unwrap_or(2_500);
    let mut config = SweepConfig::new(0, runs, 2, BUILD);
    config.shrink_budget_runs = 500;
    let report = sweep(&sweep_config(), &config, Ticketing::sweep);
    for group in &report.groups {
        let message = group
            .shrunk
            .as_ref()
            .map(|shrunk| shrunk.failure.to_string())
            .unwrap_or_default();
        eprintln!(
            "FAILED {} in {} seed(s), first {}: {message}\n  replay: {}",
            group.invariant,
            group.seeds.len(),
            group.seeds[0],
            group.token
        );
    }
    assert!(
        report.groups.is_empty(),
        "{} failing seeds",
        report.failures.len()
    );
    assert!(report.divergences.is_empty(), "{:?}", report.divergences);
    assert_eq!(
        report.unreached_probes(),
        Vec::<&str>::new(),
        "unreached probes"
    );
    assert!(
        report.stats.checks > report.stats.steps,
        "always checks after every step"
    );
}

#[test]
fn runs_are_real_tests_and_every_workload_gets_its_share() {
    // The median run delivers at least 500 messages; each workload is a quarter or more.
    let runs = 240;
    let mut sim = Sim::new(sweep_config());
    let mut world = Ticketing::sweep();
    let mut delivered = Vec::new();
    let mut per_workload = [0u64; 3];
    for seed in 0..runs {
        let outcome = sim.run(&mut world, Choices::from_seed(seed));
        assert!(
            outcome.failure.is_none(),
            "seed {seed}: {:?}",
            outcome.failure
        );
        delivered.push(sim.stats().messages_delivered);
        let index = Workload::ALL
            .iter()
            .position(|w| *w == world.workload())
            .unwrap();
        per_workload[index] += 1;
    }
    delivered.sort_unstable();
    let median = delivered[delivered.len() / 2];
    assert!(median >= 500, "median run delivered {median} messages");
    for (workload, count) in Workload::ALL.iter().zip(per_workload) {
        assert!(
            count * 4 >= runs,
            "{} got {count} of {runs} runs",
            workload.name()
        );
    }
}

#[test]
fn one_seed_from_the_environment() {
    // `TURNSTILE_SEED=S` replays one seed of the default sweep and prints its trace.
    let Some(seed) = env_number("TURNSTILE_SEED") else {
        return;
    };
    let mut config = sweep_config();
    config.trace = TraceMode::Text;
    let mut sim = Sim::new(config);
    let mut world = Ticketing::sweep();
    let outcome = sim.run(&mut world, Choices::from_seed(seed));
    println!("seed {seed}: workload {}", world.workload().name());
    println!("profile: {}", outcome.profile);
    println!("{}", world.gateway_profile());
    println!("{}", sim.trace().text());
    match &outcome.failure {
        Some(failure) => panic!("seed {seed}: {failure}"),
        None => println!("seed {seed} held every invariant"),
    }
}
