//! `world`: the whole ticketing world with the fuzzer's bytes as the choice stream, so
//! libFuzzer's coverage guidance steers the swarm profile, every fault, every timing,
//! the gateway's answers and every customer's move. Any invariant failure is a crash;
//! `cargo run --release -- replay --bytes <crash file> --shrink` replays and shrinks it
//! like any seed.
#![no_main]

use libfuzzer_sys::fuzz_target;
use turnstile::world::{self, Ticketing};
use turnstile_sim::{Choices, Sim};

fuzz_target!(|bytes: &[u8]| {
    let mut sim = Sim::new(world::sweep_config());
    let outcome = sim.run(&mut Ticketing::sweep(), Choices::from_bytes(bytes));
    if let Some(failure) = outcome.failure {
        panic!(
            "invariant failed: {failure}\nreplay: cargo run --release -- replay --bytes <this file> --shrink"
        );
    }
});
