//! The reference engine workload (SIMULATION.md): one inventory server with 100 seats,
//! 50 clients, delays 1–50 ms, with faults 5 % drops and client retries after 200 ms.
//!
//! `cargo run --release -p turnstile-sim --example reference -- <runs> <faults 0|1> [seed]`
//! runs seeds `seed..seed + runs` on one thread, with per-step checks and trace hashing
//! on as in a sweep, and prints throughput and an outcome hash (the same for the same
//! arguments on every machine).

use std::process::ExitCode;

use turnstile_sim::toy::{self, Toy};
use turnstile_sim::trace::mix;
use turnstile_sim::{Choices, Config, ProfileMode, Sim};

// Timing the example is the point of the example: the wall clock is read outside the
// simulated runs, never inside one.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let parse = |index: usize, default: u64| -> Option<u64> {
        args.get(index)
            .map_or(Some(default), |text| text.parse().ok())
    };
    let (Some(runs), Some(faults), Some(first_seed)) =
        (parse(0, 100_000), parse(1, 1), parse(2, 0))
    else {
        eprintln!("usage: reference <runs> <faults 0|1> [seed]");
        return ExitCode::from(2);
    };
    let config = Config::new(ProfileMode::Fixed(toy::reference_profile(faults == 1)));
    let mut sim = Sim::new(config);
    let mut system = Toy::reference();
    let mut outcome_hash = 0u64;
    let mut messages = 0u64;
    let mut failures = 0u64;
    let started = std::time::Instant::now();
    for seed in first_seed..first_seed + runs {
        let outcome = sim.run(&mut system, Choices::from_seed(seed));
        outcome_hash = mix(outcome_hash, outcome.hash);
        messages += sim.stats().messages_delivered;
        if let Some(failure) = outcome.failure {
            failures += 1;
            eprintln!("seed {seed}: {failure}");
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!("runs={runs} faults={faults} first_seed={first_seed} failures={failures}");
    println!("runs_per_second={:.0}", runs as f64 / elapsed);
    println!("messages_per_run={:.1}", messages as f64 / runs as f64);
    println!("ns_per_message={:.1}", elapsed * 1e9 / messages as f64);
    println!("outcome_hash={outcome_hash:016x}");
    if failures == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
