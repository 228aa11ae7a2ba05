//! The planted bug (a repeated `Confirm` sells twice) is found by a swarm sweep, shrunk
//! to a short story, and replayed from its token; without the bug, sweeps pass.

use turnstile_sim::toy::{Bugs, Toy};
use turnstile_sim::{Choices, Sim, SweepConfig, Token, Xoshiro256pp, sweep};

use super::{BUILD, runs_or, swarm, toy_with};

const CONFIRM_TWICE: Bugs = Bugs {
    confirm_not_idempotent: true,
    ack_before_sync: false,
};

#[test]
fn a_sweep_finds_the_double_sale_and_shrinks_it_to_a_short_replayable_story() {
    // Found within 10,000 seeds, shrunk to at most 15 steps, and the token replays it.
    let mut config = SweepConfig::new(0, 10_000, 2, BUILD);
    config.determinism_samples = 2;
    let report = sweep(&swarm(), &config, || toy_with(CONFIRM_TWICE));
    assert!(
        !report.failures.is_empty(),
        "no seed of 10,000 found the double sale:\n{report}"
    );
    let group = &report.groups[0];
    assert_eq!(group.invariant, "seats_accounted", "{report}");
    let shrunk = group
        .shrunk
        .as_ref()
        .expect("the first failure of each invariant is shrunk");
    assert!(
        shrunk.steps <= 15,
        "shrunk to {} steps (from {}):\n{}",
        shrunk.steps,
        shrunk.original_steps,
        shrunk.trace.text()
    );
    assert!(
        shrunk.trace.text().contains("Confirm"),
        "{}",
        shrunk.trace.text()
    );
    // The shrunk story, readable: a change to the engine that changes it shows here.
    insta::assert_snapshot!(
        "double_sale_shrunk",
        format!(
            "{}\n{}\nprofile: {}",
            shrunk.failure,
            shrunk.trace.text(),
            shrunk.profile
        )
    );

    let token = Token::parse(&group.token.to_string(), BUILD).expect("own token parses");
    let mut sim = Sim::new(swarm());
    let replayed = sim.run(&mut toy_with(CONFIRM_TWICE), token.replay.choices());
    assert_eq!(replayed.failure.as_ref(), Some(&shrunk.failure));
    let fixed = sim.run(&mut Toy::reference(), token.replay.choices());
    assert_eq!(
        fixed.failure, None,
        "the same story passes once the bug is fixed"
    );
}

#[test]
fn without_the_bug_every_seed_passes() {
    // 100,000 swarm seeds (about 10 s in the debug profile on 2 cores);
    // TURNSTILE_SIM_RUNS overrides the count.
    let runs = runs_or(100_000);
    let mut config = SweepConfig::new(1_000_000, runs, 2, BUILD);
    config.determinism_samples = 4;
    let report = sweep(&swarm(), &config, Toy::reference);
    assert!(report.failures.is_empty(), "{report}");
    assert!(report.divergences.is_empty(), "{report}");
    assert_eq!(report.stats.runs, runs);
    assert!(
        report.stats.faults.total() > runs,
        "swarm profiles inject faults: {report}"
    );
}

#[test]
fn fuzzer_style_inputs_find_the_bug_and_replay_it_exactly() {
    // Byte inputs drive the same stream; a failing input fails the same way every time.
    let mut sim = Sim::new(swarm());
    let mut generator = Xoshiro256pp::from_seed(99);
    let failing = (0..500)
        .map(|_| {
            (0..2_048)
                .map(|_| generator.next_u64() as u8)
                .collect::<Vec<u8>>()
        })
        .find(|bytes| {
            sim.run(&mut toy_with(CONFIRM_TWICE), Choices::from_bytes(bytes))
                .failure
                .is_some()
        })
        .expect("one of 500 random inputs sells twice");
    let first = sim.run(&mut toy_with(CONFIRM_TWICE), Choices::from_bytes(&failing));
    let again = sim.run(&mut toy_with(CONFIRM_TWICE), Choices::from_bytes(&failing));
    assert_eq!(first, again);
    assert_eq!(
        first.failure.expect("fails").violation.invariant,
        "seats_accounted"
    );
}
