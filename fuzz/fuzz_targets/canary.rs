//! The canary: the engine's toy system with its planted bug (confirm is not
//! idempotent, so a duplicated Confirm sells twice) switched on, run with the
//! fuzzer's bytes as the choice stream. libFuzzer must find the double sale from an
//! empty corpus within a minute: proof that the fuzzing path steers the faults at all.
#![no_main]

use libfuzzer_sys::fuzz_target;
use turnstile_sim::toy::{self, Bugs, Toy, ToyConfig};
use turnstile_sim::{Choices, Config, ProfileMode, Sim};

fuzz_target!(|bytes: &[u8]| {
    let config = Config::new(ProfileMode::Swarm(toy::swarm_ceiling()));
    let mut sim = Sim::new(config);
    let planted = ToyConfig {
        bugs: Bugs {
            confirm_not_idempotent: true,
            ..Bugs::default()
        },
        ..ToyConfig::default()
    };
    let outcome = sim.run(&mut Toy::new(planted), Choices::from_bytes(bytes));
    if let Some(failure) = outcome.failure {
        panic!("canary found the planted bug: {failure}");
    }
});
