//! Fault kinds, their counters, and the swarm profile a run draws first.
//!
//! A [`Profile`] says which fault kinds are on in a run and how hard. With
//! [`ProfileMode::Swarm`] every run draws its own profile from its choice stream before
//! anything else (so many runs have most faults off and a few have everything up, and
//! shrinking can switch fault kinds off); [`ProfileMode::Fixed`] uses one profile for all
//! runs (the reference workload, benchmarks). The profile prints on one line and is part
//! of every report.

use std::fmt;

use crate::choices::{Choices, SpanKind};

/// A kind of injected fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FaultKind {
    /// A message lost in the network.
    Drop,
    /// A message delivered twice.
    Duplicate,
    /// A message held back by an extra delay (reordering follows).
    Delay,
    /// A message lost to a partition.
    Partitioned,
    /// A set of nodes isolated from the rest.
    Partition,
    /// A node crashed.
    Crash,
    /// A crash that left a half-written record.
    TornWrite,
    /// A node paused.
    Pause,
}

impl FaultKind {
    /// Every kind, in report order.
    pub const ALL: [FaultKind; 8] = [
        FaultKind::Drop,
        FaultKind::Duplicate,
        FaultKind::Delay,
        FaultKind::Partitioned,
        FaultKind::Partition,
        FaultKind::Crash,
        FaultKind::TornWrite,
        FaultKind::Pause,
    ];

    /// Stable lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Drop => "drop",
            FaultKind::Duplicate => "duplicate",
            FaultKind::Delay => "delay",
            FaultKind::Partitioned => "partitioned",
            FaultKind::Partition => "partition",
            FaultKind::Crash => "crash",
            FaultKind::TornWrite => "torn_write",
            FaultKind::Pause => "pause",
        }
    }
}

/// Faults injected, counted by kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FaultCounts([u64; 8]);

impl FaultCounts {
    /// Counts one fault of `kind`.
    #[inline]
    pub fn add(&mut self, kind: FaultKind) {
        self.0[kind as usize] += 1;
    }

    /// Faults of `kind` so far.
    pub fn get(&self, kind: FaultKind) -> u64 {
        self.0[kind as usize]
    }

    /// Sum over all kinds.
    pub fn total(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &FaultCounts) {
        for (mine, theirs) in self.0.iter_mut().zip(other.0) {
            *mine += theirs;
        }
    }
}

impl fmt::Display for FaultCounts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for kind in FaultKind::ALL {
            if !first {
                f.write_str(" ")?;
            }
            first = false;
            write!(f, "{}={}", kind.name(), self.get(kind))?;
        }
        Ok(())
    }
}

/// Which faults are on in a run and how hard. Rates are per mille.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Profile {
    /// Shortest network delay of a message.
    pub delay_ms_min: u64,
    /// Longest network delay of a message (before any extra delay).
    pub delay_ms_max: u64,
    /// Chance a message is lost.
    pub drop_per_mille: u64,
    /// Chance a message is delivered twice.
    pub duplicate_per_mille: u64,
    /// Chance a message is held back by an extra delay.
    pub delay_extra_per_mille: u64,
    /// Longest extra delay.
    pub delay_extra_ms_max: u64,
    /// Mean virtual time between process faults (crash, pause, partition); 0 = none.
    pub process_fault_interval_ms: u64,
    /// Whether process faults include crashes.
    pub crash: bool,
    /// Chance that a crash tears the write in progress.
    pub tear_per_mille: u64,
    /// Whether process faults include pauses.
    pub pause: bool,
    /// Longest pause (and longest downtime after a crash).
    pub outage_ms_max: u64,
    /// Whether process faults include partitions.
    pub partition: bool,
    /// Largest clock skew of a node, either way.
    pub clock_skew_ms_max: u64,
}

impl Profile {
    /// No faults at all, delays `delay_ms_min..=delay_ms_max`.
    pub const fn calm(delay_ms_min: u64, delay_ms_max: u64) -> Self {
        Self {
            delay_ms_min,
            delay_ms_max,
            drop_per_mille: 0,
            duplicate_per_mille: 0,
            delay_extra_per_mille: 0,
            delay_extra_ms_max: 0,
            process_fault_interval_ms: 0,
            crash: false,
            tear_per_mille: 0,
            pause: false,
            outage_ms_max: 0,
            partition: false,
            clock_skew_ms_max: 0,
        }
    }

    /// The ceiling a swarm draws under: every kind on, at the rates given here.
    pub const fn everything(delay_ms_min: u64, delay_ms_max: u64) -> Self {
        Self {
            delay_ms_min,
            delay_ms_max,
            drop_per_mille: 200,
            duplicate_per_mille: 200,
            delay_extra_per_mille: 200,
            delay_extra_ms_max: 500,
            process_fault_interval_ms: 300,
            crash: true,
            tear_per_mille: 500,
            pause: true,
            outage_ms_max: 1_000,
            partition: true,
            clock_skew_ms_max: 500,
        }
    }

    /// Whether any message-level fault is on.
    pub fn network_faults(&self) -> bool {
        self.drop_per_mille > 0 || self.duplicate_per_mille > 0 || self.delay_extra_per_mille > 0
    }

    /// Draws a profile under the ceiling `max`: each kind is on or off (off is draw 0),
    /// and if on, how hard (gentlest is draw 0).
    pub fn swarm(choices: &mut Choices, max: &Profile) -> Self {
        choices.begin_span(SpanKind::Profile);
        let rate = |choices: &mut Choices, ceiling: u64| {
            if ceiling > 0 && choices.draw(1) == 1 {
                choices.range(1, ceiling)
            } else {
                0
            }
        };
        let drop_per_mille = rate(choices, max.drop_per_mille);
        let duplicate_per_mille = rate(choices, max.duplicate_per_mille);
        let delay_extra_per_mille = rate(choices, max.delay_extra_per_mille);
        let delay_extra_ms_max = if delay_extra_per_mille > 0 {
            choices.range(1, max.delay_extra_ms_max.max(1))
        } else {
            0
        };
        let crash = max.crash && choices.draw(1) == 1;
        let pause = max.pause && choices.draw(1) == 1;
        let partition = max.partition && choices.draw(1) == 1;
        let any_process = crash || pause || partition;
        // Larger draws mean more frequent faults: the interval shrinks as the draw grows.
        let process_fault_interval_ms = if any_process && max.process_fault_interval_ms > 0 {
            let ceiling = max.process_fault_interval_ms;
            ceiling * 10 - choices.draw(ceiling * 9)
        } else {
            0
        };
        let tear_per_mille = if crash {
            rate(choices, max.tear_per_mille)
        } else {
            0
        };
        let outage_ms_max = if any_process {
            choices.range(1, max.outage_ms_max.max(1))
        } else {
            0
        };
        let clock_skew_ms_max = rate(choices, max.clock_skew_ms_max);
        choices.end_span();
        Self {
            delay_ms_min: max.delay_ms_min,
            delay_ms_max: max.delay_ms_max,
            drop_per_mille,
            duplicate_per_mille,
            delay_extra_per_mille,
            delay_extra_ms_max,
            process_fault_interval_ms,
            crash,
            tear_per_mille,
            pause,
            outage_ms_max,
            partition,
            clock_skew_ms_max,
        }
    }
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "delay={}..{}ms drop={}‰ dup={}‰ delay_extra={}‰(≤{}ms) process_faults_every≈{}ms \
             crash={} tear={}‰ pause={} partition={} outage≤{}ms skew≤{}ms",
            self.delay_ms_min,
            self.delay_ms_max,
            self.drop_per_mille,
            self.duplicate_per_mille,
            self.delay_extra_per_mille,
            self.delay_extra_ms_max,
            self.process_fault_interval_ms,
            self.crash,
            self.tear_per_mille,
            self.pause,
            self.partition,
            self.outage_ms_max,
            self.clock_skew_ms_max,
        )
    }
}

/// How each run gets its profile.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProfileMode {
    /// Every run uses this profile; nothing is drawn.
    Fixed(Profile),
    /// Every run draws its profile under this ceiling ([`Profile::swarm`]).
    Swarm(Profile),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_all_zero_stream_draws_a_calm_profile() {
        let mut zeros = Choices::from_tape(Vec::new());
        let profile = Profile::swarm(&mut zeros, &Profile::everything(1, 50));
        assert_eq!(profile, Profile::calm(1, 50));
    }

    #[test]
    fn swarm_profiles_vary_across_seeds() {
        let max = Profile::everything(1, 50);
        let profiles: Vec<Profile> = (0..64)
            .map(|seed| Profile::swarm(&mut Choices::from_seed(seed), &max))
            .collect();
        assert!(profiles.iter().any(|p| p.crash) && profiles.iter().any(|p| !p.crash));
        assert!(profiles.iter().any(|p| p.drop_per_mille == 0));
        assert!(profiles.iter().any(|p| p.drop_per_mille > 0));
    }
}
