//! Whatever the server acknowledged survives any crash: checked at every restart over
//! many crash-heavy seeds, and shown to catch a server that answers before it syncs.

use turnstile_sim::toy::{self, Bugs, Toy, ToyConfig};
use turnstile_sim::{Config, FaultKind, ProfileMode, SweepConfig, sweep};

use super::BUILD;

/// Crashes every ~100 ms of virtual time, most of them tearing a write.
fn crashy() -> Config {
    let mut profile = toy::reference_profile(true);
    profile.process_fault_interval_ms = 100;
    profile.crash = true;
    profile.tear_per_mille = 700;
    profile.outage_ms_max = 300;
    profile.duplicate_per_mille = 50;
    Config::new(ProfileMode::Fixed(profile))
}

fn group_commit(bugs: Bugs) -> Toy {
    Toy::new(ToyConfig {
        group_commit_ms: 5,
        bugs,
        ..ToyConfig::default()
    })
}

#[test]
fn acknowledged_decisions_survive_every_crash() {
    // Property over many seeds, with sync-per-decision and with group commit.
    let runs = 5_000;
    for (name, make) in [
        ("sync per decision", Toy::reference as fn() -> Toy),
        ("group commit", || group_commit(Bugs::default())),
    ] {
        let report = sweep(&crashy(), &SweepConfig::new(0, runs, 2, BUILD), make);
        assert!(report.failures.is_empty(), "{name}:\n{report}");
        assert!(
            report.stats.restarts >= runs,
            "{name}: every run restarts the server\n{report}"
        );
        if name == "group commit" {
            assert!(
                report.stats.faults.get(FaultKind::TornWrite) > 0,
                "{report}"
            );
            let torn = report
                .probes
                .iter()
                .find(|(probe, _)| *probe == "torn_record_dropped");
            assert!(
                torn.is_some_and(|(_, hits)| *hits > 0),
                "recovery drops torn records\n{report}"
            );
        }
    }
}

#[test]
fn a_server_that_answers_before_syncing_is_caught_at_restart() {
    // The restart check fails when an acknowledged decision was lost with the tail.
    let bugs = Bugs {
        ack_before_sync: true,
        ..Bugs::default()
    };
    let report = sweep(&crashy(), &SweepConfig::new(0, 2_000, 2, BUILD), || {
        group_commit(bugs)
    });
    let group = report
        .groups
        .first()
        .unwrap_or_else(|| panic!("not caught:\n{report}"));
    assert_eq!(group.invariant, "acked_survives_crash", "{report}");
    let shrunk = group.shrunk.as_ref().expect("shrunk");
    assert!(
        shrunk.trace.text().contains("crash"),
        "{}",
        shrunk.trace.text()
    );
}
