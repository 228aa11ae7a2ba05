//! Same inputs, same run: traces are byte-identical across re-runs, sweeps are
//! identical on 1 and 2 threads, fuzzer bytes and recorded tapes replay exactly.

use turnstile_sim::toy::Toy;
use turnstile_sim::{Choices, Sim, SweepConfig, TraceMode, sweep};

use super::{BUILD, swarm};

fn traced() -> Sim<Toy> {
    let mut config = swarm();
    config.trace = TraceMode::Text;
    Sim::new(config)
}

#[test]
fn the_same_seed_gives_identical_trace_bytes() {
    let mut first = traced();
    let mut second = traced();
    for seed in [0, 1, 17, 123_456_789] {
        let a = first.run(&mut Toy::reference(), Choices::from_seed(seed));
        let b = second.run(&mut Toy::reference(), Choices::from_seed(seed));
        assert_eq!(a, b, "seed {seed}");
        assert_eq!(
            first.trace().to_bytes(),
            second.trace().to_bytes(),
            "seed {seed}"
        );
        assert_eq!(first.trace().text(), second.trace().text(), "seed {seed}");
        assert!(
            first.trace().entries.len() > 200,
            "seed {seed} trace too short"
        );
    }
    // Different seeds do differ (the hash is not constant).
    let a = first.run(&mut Toy::reference(), Choices::from_seed(1)).hash;
    let b = first.run(&mut Toy::reference(), Choices::from_seed(2)).hash;
    assert_ne!(a, b);
}

#[test]
fn a_sweep_reports_the_same_on_one_and_two_threads() {
    let one = sweep(
        &swarm(),
        &SweepConfig::new(500, 600, 1, BUILD),
        Toy::reference,
    );
    let two = sweep(
        &swarm(),
        &SweepConfig::new(500, 600, 2, BUILD),
        Toy::reference,
    );
    assert_eq!(one.to_string(), two.to_string());
    assert_eq!(one.hash, two.hash);
    assert_eq!(one.stats, two.stats);
    assert!(one.stats.faults.total() > 0, "{one}");
}

#[test]
fn fuzzer_bytes_and_recorded_tapes_replay_identically() {
    let bytes: Vec<u8> = (0..3_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let mut sim = traced();
    let first = sim.run(&mut Toy::reference(), Choices::from_bytes(&bytes).record());
    let first_bytes = sim.trace().to_bytes();
    let tape = sim.take_recording().values();
    let again = sim.run(&mut Toy::reference(), Choices::from_bytes(&bytes));
    assert_eq!(first, again);
    assert_eq!(first_bytes, sim.trace().to_bytes());
    let from_tape = sim.run(&mut Toy::reference(), Choices::from_tape(tape));
    assert_eq!(
        first, from_tape,
        "the recorded tape replays the byte-driven run"
    );
    assert_eq!(first_bytes, sim.trace().to_bytes());
}

#[test]
fn the_self_check_names_no_divergence_for_a_deterministic_system() {
    let mut config = SweepConfig::new(0, 100, 2, BUILD);
    config.determinism_samples = 10;
    let report = sweep(&swarm(), &config, Toy::reference);
    assert_eq!(report.determinism_checked, 10);
    assert!(report.divergences.is_empty(), "{report}");
}
