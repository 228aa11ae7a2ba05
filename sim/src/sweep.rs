//! Sweeps: many seeds on worker threads, failures grouped and shrunk, determinism checked.
//!
//! Seeds `first_seed..first_seed + runs` are split into contiguous blocks, one per worker
//! thread; each worker owns its own [`Sim`] and system (made by the caller's factory), so
//! no run ever sees another thread. Results are put back in seed order, so the report
//! (hashes, failures, stats, probes) is identical whatever the thread count. Shrinking
//! and the determinism self-check run afterwards on the calling thread.
//!
//! Wall-clock figures (runs per second) are the caller's to measure: nothing here reads
//! a clock.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::checks::Failure;
use crate::choices::Choices;
use crate::faults::{FaultKind, Profile};
use crate::shrink::{Shrunk, shrink};
use crate::sim::{Config, RunStats, Sim, System};
use crate::token::{Replay, Token};
use crate::trace::{TraceMode, mix};

/// What to sweep and how.
#[derive(Clone, Debug)]
pub struct SweepConfig {
    /// The first seed.
    pub first_seed: u64,
    /// How many seeds.
    pub runs: u64,
    /// Worker threads (at least 1).
    pub threads: usize,
    /// How many failing seeds to shrink per invariant (0: none).
    pub shrink_per_invariant: usize,
    /// Run budget per shrink.
    pub shrink_budget_runs: u64,
    /// How many seeds the determinism self-check re-runs (spread over the sweep).
    pub determinism_samples: u64,
    /// The build id that replay tokens name.
    pub build: String,
    /// Counts finished runs as they finish, for a caller's progress display (one relaxed
    /// atomic add per run; it never influences a run).
    pub progress: Option<Arc<AtomicU64>>,
}

impl SweepConfig {
    /// `runs` seeds from `first_seed` on `threads` threads; shrink one failure per
    /// invariant with a 20,000-run budget; re-check 8 seeds for determinism.
    pub fn new(first_seed: u64, runs: u64, threads: usize, build: impl Into<String>) -> Self {
        Self {
            first_seed,
            runs,
            threads,
            shrink_per_invariant: 1,
            shrink_budget_runs: 20_000,
            determinism_samples: 8,
            build: build.into(),
            progress: None,
        }
    }
}

/// One failing seed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SeedFailure {
    /// The seed.
    pub seed: u64,
    /// Its failure.
    pub failure: Failure,
    /// Its profile.
    pub profile: Profile,
}

/// Failures that share a signature: the invariant and the shape of the shrunk trace.
#[derive(Clone, Debug)]
pub struct FailureGroup {
    /// `invariant` or `invariant/shape-of-shrunk-trace`.
    pub signature: String,
    /// The invariant.
    pub invariant: &'static str,
    /// Failing seeds in this group (seeds not shrunk join the first group of their
    /// invariant).
    pub seeds: Vec<u64>,
    /// The shrunk example, if shrinking was on.
    pub shrunk: Option<Shrunk>,
    /// Replays the example: the shrunk tape if shrunk, else the first seed.
    pub token: Token,
    /// The first seed's profile.
    pub profile: Profile,
}

/// Two runs of one seed that differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The seed.
    pub seed: u64,
    /// The first trace event at which two re-runs differ (`None`: the re-runs agree with
    /// each other but not with the sweep's run).
    pub first_event: Option<usize>,
}

/// Everything a sweep found.
#[derive(Clone, Debug)]
pub struct SweepReport {
    /// First seed.
    pub first_seed: u64,
    /// Seeds run.
    pub runs: u64,
    /// All run hashes folded in seed order.
    pub hash: u64,
    /// Counters summed over all runs.
    pub stats: RunStats,
    /// Every failing seed, in seed order.
    pub failures: Vec<SeedFailure>,
    /// Failures grouped by signature.
    pub groups: Vec<FailureGroup>,
    /// Hits per probe.
    pub probes: Vec<(&'static str, u64)>,
    /// Seeds re-run by the determinism self-check.
    pub determinism_checked: u64,
    /// Seeds whose re-runs differed.
    pub divergences: Vec<Divergence>,
}

impl SweepReport {
    /// Probes no run reached: blind spots of the workload.
    pub fn unreached_probes(&self) -> Vec<&'static str> {
        self.probes
            .iter()
            .filter(|(_, hits)| *hits == 0)
            .map(|(name, _)| *name)
            .collect()
    }
}

impl fmt::Display for SweepReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let stats = &self.stats;
        writeln!(
            f,
            "runs={} seeds={}..{} hash={:016x}",
            self.runs,
            self.first_seed,
            self.first_seed + self.runs,
            self.hash
        )?;
        writeln!(
            f,
            "steps={} messages_delivered={} messages_sent={} timers={} restarts={} \
             virtual_time_ms={} checks={} draws={}",
            stats.steps,
            stats.messages_delivered,
            stats.messages_sent,
            stats.timers_fired,
            stats.restarts,
            stats.virtual_time_ms,
            stats.checks,
            stats.draws
        )?;
        writeln!(f, "faults: {}", stats.faults)?;
        write!(f, "probes:")?;
        for (name, hits) in &self.probes {
            write!(f, " {name}={hits}")?;
        }
        writeln!(f)?;
        let unreached = self.unreached_probes();
        if !unreached.is_empty() {
            writeln!(f, "unreached probes: {}", unreached.join(", "))?;
        }
        writeln!(
            f,
            "determinism: {} seeds re-run, {} diverged",
            self.determinism_checked,
            self.divergences.len()
        )?;
        for divergence in &self.divergences {
            match divergence.first_event {
                Some(event) => writeln!(f, "  seed {} diverges at event {event}", divergence.seed)?,
                None => writeln!(f, "  seed {} differs from its sweep run", divergence.seed)?,
            }
        }
        writeln!(
            f,
            "failures: {} in {} group(s)",
            self.failures.len(),
            self.groups.len()
        )?;
        for group in &self.groups {
            writeln!(
                f,
                "- {} ({} seeds, first {})",
                group.signature,
                group.seeds.len(),
                group.seeds[0]
            )?;
            writeln!(f, "  profile: {}", group.profile)?;
            if let Some(shrunk) = &group.shrunk {
                writeln!(
                    f,
                    "  shrunk from {} to {} steps in {} runs: {}",
                    shrunk.original_steps, shrunk.steps, shrunk.runs, shrunk.failure
                )?;
            }
            writeln!(f, "  replay: {}", group.token)?;
        }
        Ok(())
    }
}

struct Block {
    hashes: Vec<u64>,
    failures: Vec<SeedFailure>,
    stats: RunStats,
}

fn run_block<S: System>(
    config: &Config,
    system: &mut S,
    seeds: std::ops::Range<u64>,
    progress: Option<&AtomicU64>,
) -> Block {
    let mut sim = Sim::new(*config);
    let mut block = Block {
        hashes: Vec::with_capacity((seeds.end - seeds.start) as usize),
        failures: Vec::new(),
        stats: RunStats::default(),
    };
    for seed in seeds {
        let outcome = sim.run(system, Choices::from_seed(seed));
        block.hashes.push(outcome.hash);
        block.stats.merge(sim.stats());
        if let Some(progress) = progress {
            progress.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(failure) = outcome.failure {
            block.failures.push(SeedFailure {
                seed,
                failure,
                profile: outcome.profile,
            });
        }
    }
    block
}

/// Runs the sweep; `make` builds one system per worker thread.
pub fn sweep<S, F>(config: &Config, sweep: &SweepConfig, make: F) -> SweepReport
where
    S: System,
    F: Fn() -> S + Sync,
{
    let threads = sweep.threads.max(1) as u64;
    let first = sweep.first_seed;
    let mut config = *config;
    config.trace = TraceMode::Hash;
    let blocks: Vec<Block> = if threads == 1 {
        vec![run_block(
            &config,
            &mut make(),
            first..first + sweep.runs,
            sweep.progress.as_deref(),
        )]
    } else {
        // Seeds are handed out in chunks as workers free up (runs differ in cost, and a
        // shared machine slows one core at a time): no worker idles while another
        // still has half the sweep. Chunks are merged back in seed order.
        let chunk = (sweep.runs / (threads * 16)).clamp(1, 512);
        let bounds: Vec<std::ops::Range<u64>> = (0..sweep.runs.div_ceil(chunk))
            .map(|c| first + c * chunk..first + ((c + 1) * chunk).min(sweep.runs))
            .collect();
        run_blocks_on_threads(
            &config,
            &make,
            threads as usize,
            &bounds,
            sweep.progress.as_deref(),
        )
    };

    let mut hash = 0;
    let mut stats = RunStats {
        probe_hits: vec![0; S::PROBES.len()],
        ..RunStats::default()
    };
    let mut failures = Vec::new();
    let mut run_hashes = Vec::with_capacity(sweep.runs as usize);
    for block in blocks {
        for &run_hash in &block.hashes {
            hash = mix(hash, run_hash);
        }
        run_hashes.extend(block.hashes);
        stats.merge(&block.stats);
        failures.extend(block.failures);
    }
    let probes = S::PROBES
        .iter()
        .copied()
        .zip(stats.probe_hits.iter().copied())
        .collect();

    let mut system = make();
    let mut sim = Sim::new(config);
    let groups = group_failures(&mut sim, &mut system, sweep, &failures);
    let (determinism_checked, divergences) =
        check_determinism(&mut sim, &mut system, sweep, &run_hashes);
    SweepReport {
        first_seed: first,
        runs: sweep.runs,
        hash,
        stats,
        failures,
        groups,
        probes,
        determinism_checked,
        divergences,
    }
}

// The one place threads are allowed: each worker runs whole seeds with its own engine
// and system; no run ever shares state with another thread, and results are merged in
// seed order.
#[allow(clippy::disallowed_methods)]
fn run_blocks_on_threads<S, F>(
    config: &Config,
    make: &F,
    threads: usize,
    bounds: &[std::ops::Range<u64>],
    progress: Option<&AtomicU64>,
) -> Vec<Block>
where
    S: System,
    F: Fn() -> S + Sync,
{
    let next = AtomicUsize::new(0);
    let mut blocks: Vec<(usize, Block)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                let next = &next;
                scope.spawn(move || {
                    let mut system = make();
                    let mut done = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(seeds) = bounds.get(index) else {
                            break done;
                        };
                        let block = run_block(config, &mut system, seeds.clone(), progress);
                        done.push((index, block));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| worker.join().expect("sweep worker panicked"))
            .collect()
    });
    blocks.sort_unstable_by_key(|(index, _)| *index);
    blocks.into_iter().map(|(_, block)| block).collect()
}

fn group_failures<S: System>(
    sim: &mut Sim<S>,
    system: &mut S,
    sweep: &SweepConfig,
    failures: &[SeedFailure],
) -> Vec<FailureGroup> {
    let mut by_invariant: BTreeMap<&'static str, Vec<&SeedFailure>> = BTreeMap::new();
    for failure in failures {
        by_invariant
            .entry(failure.failure.violation.invariant)
            .or_default()
            .push(failure);
    }
    let mut groups: Vec<FailureGroup> = Vec::new();
    for (invariant, seeds) in by_invariant {
        let first_group = groups.len();
        for (index, failure) in seeds.iter().enumerate() {
            let shrunk = if index < sweep.shrink_per_invariant {
                shrink(
                    sim,
                    system,
                    Choices::from_seed(failure.seed),
                    sweep.shrink_budget_runs,
                )
            } else {
                None
            };
            let signature = match &shrunk {
                Some(shrunk) => format!("{invariant}/{}", shrunk.trace.shape()),
                None => invariant.to_string(),
            };
            if let Some(group) = groups[first_group..]
                .iter_mut()
                .find(|group| group.signature == signature || shrunk.is_none())
            {
                group.seeds.push(failure.seed);
                continue;
            }
            let token = match &shrunk {
                Some(shrunk) => Token::new(&sweep.build, Replay::Tape(shrunk.tape.clone())),
                None => Token::new(&sweep.build, Replay::Seed(failure.seed)),
            };
            groups.push(FailureGroup {
                signature,
                invariant,
                seeds: vec![failure.seed],
                shrunk,
                token,
                profile: failure.profile,
            });
        }
    }
    groups
}

fn check_determinism<S: System>(
    sim: &mut Sim<S>,
    system: &mut S,
    sweep: &SweepConfig,
    run_hashes: &[u64],
) -> (u64, Vec<Divergence>) {
    let samples = sweep.determinism_samples.min(sweep.runs);
    let mut divergences = Vec::new();
    let trace_mode = sim.config().trace;
    sim.config_mut().trace = TraceMode::Steps;
    for sample in 0..samples {
        let offset = sweep.runs * sample / samples;
        let seed = sweep.first_seed + offset;
        let first = sim.run(system, Choices::from_seed(seed));
        let first_trace = sim.trace().clone();
        let second = sim.run(system, Choices::from_seed(seed));
        if first.hash != second.hash || first_trace != *sim.trace() {
            divergences.push(Divergence {
                seed,
                first_event: first_trace.first_difference(sim.trace()),
            });
        } else if first.hash != run_hashes[offset as usize] {
            divergences.push(Divergence {
                seed,
                first_event: None,
            });
        }
    }
    sim.config_mut().trace = trace_mode;
    (samples, divergences)
}

/// Fault kinds with their counts from a report's stats, for printing.
pub fn faults_by_kind(stats: &RunStats) -> Vec<(&'static str, u64)> {
    FaultKind::ALL
        .iter()
        .map(|kind| (kind.name(), stats.faults.get(*kind)))
        .collect()
}
