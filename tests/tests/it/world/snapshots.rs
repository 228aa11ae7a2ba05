//! Snapshots of the readable: the traces of three fixed seeds (a flash sale, a season,
//! and one where a service crashes and recovers) and a sweep's summary without timings.

use turnstile::report::Summary;
use turnstile::world::{BUILD, Ticketing, Workload, WorldConfig, sweep_config};
use turnstile_sim::{Choices, Sim, SweepConfig, TraceMode, sweep};

fn trace_of(config: WorldConfig, seed: u64) -> (String, u64) {
    let mut engine = sweep_config();
    engine.trace = TraceMode::Text;
    let mut sim = Sim::new(engine);
    let mut world = Ticketing::new(config);
    let outcome = sim.run(&mut world, Choices::from_seed(seed));
    assert!(outcome.failure.is_none(), "{:?}", outcome.failure);
    let header = format!(
        "seed {seed}, workload {}\nprofile: {}\n{}\n",
        world.workload().name(),
        outcome.profile,
        world.gateway_profile()
    );
    (header + &sim.trace().text(), sim.stats().restarts)
}

#[test]
fn a_flash_sale_trace() {
    // The readable trace of a fixed flash-sale seed.
    let (trace, _) = trace_of(WorldConfig::sweep().with_workload(Workload::FlashSale), 3);
    insta::assert_snapshot!("flash_sale_trace", trace);
}

#[test]
fn a_season_trace() {
    // The readable trace of a fixed season seed.
    let (trace, _) = trace_of(WorldConfig::sweep().with_workload(Workload::Season), 3);
    insta::assert_snapshot!("season_trace", trace);
}

#[test]
fn a_crash_recovery_trace() {
    // A run in which services crash and rebuild from their logs, and every invariant holds.
    let seed = (0..200)
        .find(|&seed| {
            let (_, restarts) = trace_of(
                WorldConfig::sweep().with_workload(Workload::FlashSale),
                seed,
            );
            restarts > 0
        })
        .expect("a flash sale with a crash");
    let (trace, restarts) = trace_of(
        WorldConfig::sweep().with_workload(Workload::FlashSale),
        seed,
    );
    assert!(restarts > 0);
    insta::assert_snapshot!("crash_recovery_trace", trace);
}

#[test]
fn a_sweep_summary() {
    // The summary of a small fixed sweep, without wall-clock figures.
    let report = sweep(
        &sweep_config(),
        &SweepConfig::new(0, 60, 2, BUILD),
        Ticketing::sweep,
    );
    let summary = Summary::new(&report, BUILD, 2, None, 1.0, "turnstile replay").without_timings();
    insta::assert_snapshot!("sweep_summary", summary.to_string());
}
