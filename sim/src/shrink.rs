//! Shrinking a failing run to the shortest story that still fails the same way.
//!
//! The failing run is re-run with recording on to get its tape of draws and the spans
//! that label them. Candidates are made by deleting spans (a whole step, a message's
//! network decisions, a fault, the swarm profile's choices), deleting chunks of draws,
//! moving an eventful draw into an earlier span of the same kind, and lowering values
//! toward 0 (to 0 directly, then by binary search). A candidate is kept when its run
//! fails the **same invariant** and is simpler: fewer steps before the failure, then a
//! shorter tape, then smaller values in order. The kept tape is always the one the
//! candidate run actually consumed, so the result replays exactly from its own tape.

use crate::checks::Failure;
use crate::choices::{Choices, Span, SpanKind};
use crate::faults::Profile;
use crate::sim::{Sim, System};
use crate::trace::{Trace, TraceMode};

/// The minimal failing run found.
#[derive(Clone, Debug)]
pub struct Shrunk {
    /// The choice values that replay it ([`crate::Replay::Tape`]).
    pub tape: Vec<u64>,
    /// The failure it ends in (same invariant as the original).
    pub failure: Failure,
    /// Its profile.
    pub profile: Profile,
    /// Its full trace (entries and readable lines).
    pub trace: Trace,
    /// Steps before and including the failing one.
    pub steps: u64,
    /// Steps of the original failing run.
    pub original_steps: u64,
    /// Runs spent shrinking.
    pub runs: u64,
}

struct Candidate {
    tape: Vec<u64>,
    spans: Vec<Span>,
    steps: u64,
}

impl Candidate {
    fn simpler_than(&self, other: &Candidate) -> bool {
        (self.steps, self.tape.len())
            .cmp(&(other.steps, other.tape.len()))
            .then_with(|| self.tape.cmp(&other.tape))
            == std::cmp::Ordering::Less
    }
}

struct Shrinker<'a, S: System> {
    sim: &'a mut Sim<S>,
    system: &'a mut S,
    invariant: &'static str,
    runs: u64,
    budget_runs: u64,
}

impl<S: System> Shrinker<'_, S> {
    fn attempt(&mut self, tape: Vec<u64>) -> Option<Candidate> {
        self.runs += 1;
        let outcome = self.sim.run(self.system, Choices::from_tape(tape).record());
        let failure = outcome.failure?;
        if failure.violation.invariant != self.invariant {
            return None;
        }
        let recording = self.sim.take_recording();
        Some(Candidate {
            tape: recording.values(),
            spans: recording.spans,
            steps: failure.step,
        })
    }

    fn out_of_budget(&self) -> bool {
        self.runs >= self.budget_runs
    }

    /// Tries `tape`; if it fails the same way and is simpler, it becomes `best`.
    fn improve(&mut self, best: &mut Candidate, tape: Vec<u64>) -> bool {
        if self.out_of_budget() || tape == best.tape {
            return false;
        }
        match self.attempt(tape) {
            Some(candidate) if candidate.simpler_than(best) => {
                *best = candidate;
                true
            }
            _ => false,
        }
    }

    fn delete_spans(&mut self, best: &mut Candidate) -> bool {
        let mut improved = false;
        let mut index = 0;
        loop {
            let mut spans = best.spans.clone();
            spans.sort_by_key(|span| (std::cmp::Reverse(span.end - span.start), span.start));
            spans.dedup_by_key(|span| (span.start, span.end));
            let Some(span) = spans.get(index).copied() else {
                break;
            };
            let mut tape = best.tape.clone();
            tape.drain(span.start as usize..(span.end as usize).min(tape.len()));
            if self.improve(best, tape) {
                improved = true;
            } else {
                index += 1;
            }
            if self.out_of_budget() {
                break;
            }
        }
        improved
    }

    fn delete_chunks(&mut self, best: &mut Candidate) -> bool {
        let mut improved = false;
        for size in [8usize, 4, 2, 1] {
            let mut start = best.tape.len().saturating_sub(size);
            loop {
                if start + size <= best.tape.len() {
                    let mut tape = best.tape.clone();
                    tape.drain(start..start + size);
                    improved |= self.improve(best, tape);
                }
                if start == 0 || self.out_of_budget() {
                    break;
                }
                start -= 1;
            }
        }
        improved
    }

    fn lower_values(&mut self, best: &mut Candidate) -> bool {
        let mut improved = false;
        let mut position = 0;
        while position < best.tape.len() && !self.out_of_budget() {
            let value = best.tape[position];
            if value > 0 {
                let mut tape = best.tape.clone();
                tape[position] = 0;
                if self.improve(best, tape) {
                    improved = true;
                } else {
                    // Binary search for the smallest value that still fails: `low` is
                    // known not to work (or not better), `high` works.
                    let (mut low, mut high) = (0u64, value);
                    while low + 1 < high && !self.out_of_budget() && position < best.tape.len() {
                        let middle = low + (high - low) / 2;
                        let mut tape = best.tape.clone();
                        tape[position] = middle;
                        if self.improve(best, tape) {
                            improved = true;
                            high = middle;
                        } else {
                            low = middle;
                        }
                    }
                }
            }
            position += 1;
        }
        improved
    }

    /// Moves each eventful draw of a `Send`/`Fault` span into the same offset of an
    /// earlier span of the same kind and size: a dropped or duplicated message becomes an
    /// earlier one, which shortens the story when deleting alone cannot.
    fn move_earlier(&mut self, best: &mut Candidate) -> bool {
        let mut improved = false;
        let mut index = 0;
        while index < best.spans.len() && !self.out_of_budget() {
            let span = best.spans[index];
            index += 1;
            if !matches!(span.kind, SpanKind::Send | SpanKind::Fault) {
                continue;
            }
            let len = (span.end - span.start) as usize;
            let earlier: Vec<Span> = best
                .spans
                .iter()
                .copied()
                .filter(|other| {
                    other.kind == span.kind
                        && other.end <= span.start
                        && (other.end - other.start) as usize == len
                })
                .collect();
            for target in earlier {
                if self.out_of_budget() {
                    break;
                }
                let (from, to) = (span.start as usize, target.start as usize);
                if best.tape.get(from..from + len) == best.tape.get(to..to + len) {
                    continue;
                }
                let mut tape = best.tape.clone();
                for offset in 0..len {
                    tape.swap(from + offset, to + offset);
                }
                if self.improve(best, tape) {
                    improved = true;
                    index = 0;
                    break;
                }
            }
        }
        improved
    }
}

/// Shrinks the failing run `choices` (any source: seed, bytes or tape) of `system`,
/// spending at most `budget_runs` runs. `None` if the run does not fail. The sim's trace
/// mode is restored afterwards.
pub fn shrink<S: System>(
    sim: &mut Sim<S>,
    system: &mut S,
    choices: Choices,
    budget_runs: u64,
) -> Option<Shrunk> {
    let trace_mode = sim.config().trace;
    sim.config_mut().trace = TraceMode::Hash;
    let outcome = sim.run(system, choices.record());
    let Some(original) = outcome.failure else {
        sim.config_mut().trace = trace_mode;
        return None;
    };
    let recording = sim.take_recording();
    let mut best = Candidate {
        tape: recording.values(),
        spans: recording.spans,
        steps: original.step,
    };
    let mut shrinker = Shrinker {
        sim,
        system,
        invariant: original.violation.invariant,
        runs: 1,
        budget_runs,
    };
    loop {
        let mut improved = shrinker.delete_spans(&mut best);
        improved |= shrinker.delete_chunks(&mut best);
        improved |= shrinker.move_earlier(&mut best);
        improved |= shrinker.lower_values(&mut best);
        if !improved || shrinker.out_of_budget() {
            break;
        }
    }
    let runs = shrinker.runs;
    sim.config_mut().trace = TraceMode::Text;
    let outcome = sim.run(system, Choices::from_tape(best.tape.clone()));
    let failure = outcome
        .failure
        .expect("the shrunk tape replays its failure");
    let trace = sim.trace().clone();
    sim.config_mut().trace = trace_mode;
    Some(Shrunk {
        steps: failure.step,
        tape: best.tape,
        failure,
        profile: outcome.profile,
        trace,
        original_steps: original.step,
        runs,
    })
}
