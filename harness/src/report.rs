//! The summary of a sweep, as people read it and as CI parses it (`--json`).
//!
//! A [`Summary`] is built from the engine's [`SweepReport`] plus what only the command
//! knows (wall time, worker count, the shard). Its text form leads with the verdict and
//! the figures a user compares (runs/s, messages per run), then faults, probes and
//! checks, then each failure group with its shrunk trace and the one command that
//! replays it. [`Summary::without_timings`] drops the wall-clock figures so two sweeps
//! can be compared byte for byte (CI's determinism check).

use std::fmt::{self, Write as _};

use serde::Serialize;
use turnstile_sim::{Choices, Config, Sim, SweepReport, sweep::faults_by_kind};

use crate::world::Ticketing;

/// How many trailing lines of a shrunk trace the text summary shows (when no story was
/// told).
const TRACE_TAIL_LINES: usize = 40;

/// A failure group as reported.
#[derive(Clone, Debug, Serialize)]
pub struct FailureSummary {
    /// The invariant's stable name.
    pub invariant: String,
    /// The group's signature (invariant and shape of the shrunk trace).
    pub signature: String,
    /// The first failing seed of the group.
    pub seed: u64,
    /// How many seeds failed this way.
    pub seeds: usize,
    /// What the check said.
    pub message: String,
    /// The swarm profile of the first seed.
    pub profile: String,
    /// Steps of the original failing run and of the shrunk one.
    pub steps_original: Option<u64>,
    /// Steps of the shrunk run.
    pub steps_shrunk: Option<u64>,
    /// The replay token.
    pub token: String,
    /// The one command that replays it.
    pub replay: String,
    /// The shrunk trace, one line per event.
    pub trace: Vec<String>,
    /// The world the shrunk run drew ([`Summary::tell_stories`]).
    pub world: Vec<String>,
    /// What was wrong and the causal story of the shrunk run ([`crate::story::tell`]).
    pub story: String,
}

/// Everything a sweep reports.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    /// The build tokens name.
    pub build: String,
    /// Seeds run.
    pub runs: u64,
    /// First seed run.
    pub first_seed: u64,
    /// Worker threads.
    pub jobs: usize,
    /// `I/N` when the sweep was one shard of a bigger one.
    pub shard: Option<String>,
    /// Wall time in seconds (absent in timing-free summaries).
    pub wall_seconds: Option<f64>,
    /// Runs per wall second (absent in timing-free summaries).
    pub runs_per_second: Option<f64>,
    /// Messages delivered per run, on average.
    pub messages_per_run: f64,
    /// Messages delivered in all.
    pub messages_delivered: u64,
    /// Steps (deliveries, timer firings, workload events, restarts) in all.
    pub steps: u64,
    /// Virtual time simulated, in seconds, over all runs.
    pub virtual_seconds: f64,
    /// Node restarts after crashes.
    pub restarts: u64,
    /// Invariant checks made.
    pub checks: u64,
    /// Faults injected, by kind.
    pub faults: Vec<(String, u64)>,
    /// Hits per probe.
    pub probes: Vec<(String, u64)>,
    /// Probes no run reached.
    pub probes_unreached: Vec<String>,
    /// Folded hash of every run's trace hash, in seed order.
    pub hash: String,
    /// Seeds re-run by the determinism self-check.
    pub determinism_checked: u64,
    /// Seeds whose re-runs differed, with the first differing event.
    pub divergences: Vec<String>,
    /// Failing seeds in all.
    pub failed_runs: usize,
    /// Failure groups.
    pub failures: Vec<FailureSummary>,
}

impl Summary {
    /// Builds the summary of `report`. `replay_command` is the command prefix that
    /// replays a token (e.g. `cargo run --release -- replay`).
    pub fn new(
        report: &SweepReport,
        build: &str,
        jobs: usize,
        shard: Option<String>,
        wall_seconds: f64,
        replay_command: &str,
    ) -> Summary {
        let stats = &report.stats;
        let runs = report.runs.max(1) as f64;
        let failures = report
            .groups
            .iter()
            .map(|group| {
                let first = report
                    .failures
                    .iter()
                    .find(|failure| failure.seed == group.seeds[0]);
                let message = match (&group.shrunk, first) {
                    (Some(shrunk), _) => shrunk.failure.violation.message.clone(),
                    (None, Some(failure)) => failure.failure.violation.message.clone(),
                    (None, None) => String::new(),
                };
                let token = group.token.to_string();
                FailureSummary {
                    invariant: group.invariant.to_string(),
                    signature: group.signature.clone(),
                    seed: group.seeds[0],
                    seeds: group.seeds.len(),
                    message,
                    profile: group.profile.to_string(),
                    steps_original: group.shrunk.as_ref().map(|s| s.original_steps),
                    steps_shrunk: group.shrunk.as_ref().map(|s| s.steps),
                    replay: format!("{replay_command} {token}"),
                    token,
                    trace: group
                        .shrunk
                        .as_ref()
                        .map(|s| s.trace.lines.clone())
                        .unwrap_or_default(),
                    world: Vec::new(),
                    story: String::new(),
                }
            })
            .collect();
        Summary {
            build: build.to_string(),
            runs: report.runs,
            first_seed: report.first_seed,
            jobs,
            shard,
            wall_seconds: Some(wall_seconds),
            runs_per_second: Some(if wall_seconds > 0.0 {
                report.runs as f64 / wall_seconds
            } else {
                0.0
            }),
            messages_per_run: stats.messages_delivered as f64 / runs,
            messages_delivered: stats.messages_delivered,
            steps: stats.steps,
            virtual_seconds: stats.virtual_time_ms as f64 / 1_000.0,
            restarts: stats.restarts,
            checks: stats.checks,
            faults: faults_by_kind(stats)
                .into_iter()
                .map(|(name, count)| (name.to_string(), count))
                .collect(),
            probes: report
                .probes
                .iter()
                .map(|(name, hits)| (name.to_string(), *hits))
                .collect(),
            probes_unreached: report
                .unreached_probes()
                .into_iter()
                .map(str::to_string)
                .collect(),
            hash: format!("{:016x}", report.hash),
            determinism_checked: report.determinism_checked,
            divergences: report
                .divergences
                .iter()
                .map(|d| match d.first_event {
                    Some(event) => format!("seed {} diverges at event {event}", d.seed),
                    None => format!("seed {} differs from its sweep run", d.seed),
                })
                .collect(),
            failed_runs: report.failures.len(),
            failures,
        }
    }

    /// Tells each shrunk failure's story: replays its tape on a fresh world from `make`
    /// (with `config`, the sweep's engine configuration) to learn the world it drew,
    /// then picks the events on the path to the violation from its trace.
    pub fn tell_stories(
        &mut self,
        report: &SweepReport,
        config: Config,
        make: impl Fn() -> Ticketing,
    ) {
        for (summary, group) in self.failures.iter_mut().zip(&report.groups) {
            let Some(shrunk) = &group.shrunk else {
                continue;
            };
            let mut sim = Sim::new(config);
            let mut world = make();
            sim.run(&mut world, Choices::from_tape(shrunk.tape.clone()));
            summary.world = crate::story::world_lines(&world);
            summary.story = crate::story::tell(&world, &shrunk.trace, &shrunk.failure);
        }
    }

    /// Whether every run held every invariant (and the determinism check agreed).
    pub fn passed(&self) -> bool {
        self.failed_runs == 0 && self.divergences.is_empty()
    }

    /// The same summary without wall-clock figures, for byte-for-byte comparison of
    /// two sweeps (jobs are left out too: they must not change anything else).
    pub fn without_timings(&self) -> Summary {
        Summary {
            wall_seconds: None,
            runs_per_second: None,
            jobs: 0,
            ..self.clone()
        }
    }

    /// The JSON form (`--json`).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a summary always serializes")
    }
}

fn thousands(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (index, digit) in digits.chars().enumerate() {
        if index > 0 && (digits.len() - index).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

fn human_duration(seconds: f64) -> String {
    const DAY: f64 = 86_400.0;
    if seconds >= 365.0 * DAY {
        format!("{:.1} years", seconds / (365.0 * DAY))
    } else if seconds >= DAY {
        format!("{:.1} days", seconds / DAY)
    } else if seconds >= 3_600.0 {
        format!("{:.1} hours", seconds / 3_600.0)
    } else {
        format!("{seconds:.1} s")
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verdict = if self.passed() {
            "PASS: every invariant held in every run".to_string()
        } else if self.failed_runs > 0 {
            format!(
                "FAIL: {} of {} runs broke an invariant ({} group(s))",
                self.failed_runs,
                self.runs,
                self.failures.len()
            )
        } else {
            "FAIL: the determinism self-check found runs that differ".to_string()
        };
        writeln!(f, "{verdict}")?;
        let last_seed = self.first_seed + self.runs;
        let shard = match &self.shard {
            Some(shard) => format!(", shard {shard}"),
            None => String::new(),
        };
        writeln!(
            f,
            "  runs            {} (seeds {}..{last_seed}{shard}), build {}",
            thousands(self.runs),
            self.first_seed,
            self.build
        )?;
        if let (Some(rate), Some(wall)) = (self.runs_per_second, self.wall_seconds) {
            writeln!(
                f,
                "  speed           {} runs/s on {} job(s), {wall:.1} s wall",
                thousands(rate as u64),
                self.jobs
            )?;
        }
        writeln!(
            f,
            "  messages        {:.0} per run, {} delivered, {} steps",
            self.messages_per_run,
            thousands(self.messages_delivered),
            thousands(self.steps)
        )?;
        writeln!(
            f,
            "  virtual time    {} simulated",
            human_duration(self.virtual_seconds)
        )?;
        let mut faults = String::new();
        for (name, count) in &self.faults {
            let _ = write!(faults, "{name} {}, ", thousands(*count));
        }
        writeln!(
            f,
            "  faults          {}; {} restarts",
            faults.trim_end_matches(", "),
            thousands(self.restarts)
        )?;
        writeln!(
            f,
            "  checks          {} invariant checks",
            thousands(self.checks)
        )?;
        let reached = self.probes.len() - self.probes_unreached.len();
        writeln!(
            f,
            "  probes          {reached}/{} reached",
            self.probes.len()
        )?;
        for (name, hits) in &self.probes {
            writeln!(f, "    {name:<36} {}", thousands(*hits))?;
        }
        if !self.probes_unreached.is_empty() {
            writeln!(
                f,
                "  unreached       {} (blind spots of this sweep)",
                self.probes_unreached.join(", ")
            )?;
        }
        writeln!(
            f,
            "  determinism     {} seeds re-run, {}; sweep hash {}",
            self.determinism_checked,
            if self.divergences.is_empty() {
                "all identical".to_string()
            } else {
                format!("{} differ", self.divergences.len())
            },
            self.hash
        )?;
        for divergence in &self.divergences {
            writeln!(f, "    {divergence}")?;
        }
        for (index, failure) in self.failures.iter().enumerate() {
            writeln!(f)?;
            writeln!(
                f,
                "failure {} of {}: {} ({} seed(s), first {})",
                index + 1,
                self.failures.len(),
                failure.invariant,
                failure.seeds,
                failure.seed
            )?;
            if failure.story.is_empty() {
                writeln!(f, "  what            {}", failure.message)?;
            }
            writeln!(f, "  profile         {}", failure.profile)?;
            if let (Some(original), Some(shrunk)) = (failure.steps_original, failure.steps_shrunk) {
                writeln!(f, "  shrunk          from {original} to {shrunk} steps")?;
            }
            if !failure.story.is_empty() {
                write!(f, "{}", failure.story)?;
            } else if !failure.trace.is_empty() {
                let skip = failure.trace.len().saturating_sub(TRACE_TAIL_LINES);
                if skip > 0 {
                    writeln!(
                        f,
                        "  trace (last {TRACE_TAIL_LINES} of {} events):",
                        failure.trace.len()
                    )?;
                } else {
                    writeln!(f, "  trace:")?;
                }
                for line in &failure.trace[skip..] {
                    writeln!(f, "    {line}")?;
                }
            }
            writeln!(f, "  replay          {}", failure.replay)?;
        }
        Ok(())
    }
}
