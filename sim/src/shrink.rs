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
use crate::sim::NO_CAUSE;
use crate::sim::{Sim, System};
use crate::trace::{EventKind, Trace, TraceEntry, TraceMode};

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
        self.attempt_with(Choices::from_tape(tape))
    }

    fn attempt_with(&mut self, choices: Choices) -> Option<Candidate> {
        self.runs += 1;
        let outcome = self.sim.run(self.system, choices.record());
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

    /// One edit per span: tries `edit` on each span of `kinds` (all kinds when empty)
    /// that `worth` says the edit would change, the largest first, keeping every edit
    /// that makes the run simpler.
    fn edit_spans(
        &mut self,
        best: &mut Candidate,
        kinds: &[SpanKind],
        worth: impl Fn(&[u64], Span) -> bool,
        edit: impl Fn(&mut Vec<u64>, std::ops::Range<usize>),
    ) -> bool {
        let mut improved = false;
        let mut index = 0;
        while !self.out_of_budget() {
            let mut spans: Vec<Span> = best
                .spans
                .iter()
                .copied()
                .filter(|span| kinds.is_empty() || kinds.contains(&span.kind))
                .filter(|span| (span.end as usize) <= best.tape.len() && worth(&best.tape, *span))
                .collect();
            spans.sort_by_key(|span| (std::cmp::Reverse(span.end - span.start), span.start));
            spans.dedup_by_key(|span| (span.start, span.end));
            let Some(span) = spans.get(index).copied() else {
                break;
            };
            let mut tape = best.tape.clone();
            edit(&mut tape, span.start as usize..span.end as usize);
            if self.improve(best, tape) {
                improved = true;
            } else {
                index += 1;
            }
        }
        improved
    }

    /// Deletes whole spans (a step, a message's network draws, a fault, the profile).
    fn delete_spans(&mut self, best: &mut Candidate) -> bool {
        self.edit_spans(
            best,
            &[],
            |_, _| true,
            |tape, range| {
                tape.drain(range);
            },
        )
    }

    /// Replaces every draw of a span with 0, the least eventful choice, keeping the tape
    /// aligned: a message's network draws zeroed deliver it at once, a profile zeroed
    /// has no faults.
    fn zero_spans(&mut self, best: &mut Candidate, kinds: &[SpanKind]) -> bool {
        let nonzero = |tape: &[u64], span: Span| {
            tape[span.start as usize..span.end as usize]
                .iter()
                .any(|&value| value > 0)
        };
        self.edit_spans(best, kinds, nonzero, |tape, range| tape[range].fill(0))
    }

    /// Cuts each span of `kinds` down to a single 0: a part of the world or a fault whose
    /// first draw 0 means "it does not happen" and draws nothing more (a customer who
    /// stays home, a fault skipped), deleted without moving any later draw.
    fn skip_spans(&mut self, best: &mut Candidate, kinds: &[SpanKind]) -> bool {
        self.edit_spans(best, kinds, happens, |tape, range| {
            tape.splice(range, [0]);
        })
    }

    /// The best run once more, traced: its events (with their causes) and its spans
    /// (each step's tagged with its event).
    fn traced(&mut self, best: &Candidate) -> (Vec<TraceEntry>, Vec<Span>) {
        self.runs += 1;
        let mode = self.sim.config().trace;
        self.sim.config_mut().trace = TraceMode::Steps;
        self.sim
            .run(self.system, Choices::from_tape(best.tape.clone()).record());
        let entries = self.sim.trace().entries.clone();
        let spans = self.sim.take_recording().spans;
        self.sim.config_mut().trace = mode;
        (entries, spans)
    }

    /// Deletes one part of the world (a customer) with everything it caused: its span is
    /// cut to a single 0 (it does nothing) and the draws of every step its workload
    /// events led to, along their causes, are cut too. The other parts' draws stay where
    /// they were, so the rest of the run plays much as before — which cutting the part
    /// alone does not give when its steps drew in between.
    fn delete_parts_with_consequences(&mut self, best: &mut Candidate) -> bool {
        let mut improved = false;
        let mut index: usize = 0;
        let mut known: Option<(Vec<TraceEntry>, Vec<Span>)> = None;
        while !self.out_of_budget() {
            let (entries, spans) = match known.take() {
                Some(known) => known,
                None => self.traced(best),
            };
            let parts = active_parts(&spans, &best.tape);
            // First all parts but one at once (the one the failure is about plays on
            // alone), then each part alone.
            let cut: Vec<Span> = match index.checked_sub(parts.len()) {
                None if parts.len() < 2 => {
                    index = parts.len();
                    known = Some((entries, spans));
                    continue;
                }
                None => all_but(&parts, parts[index]),
                Some(alone) if alone < parts.len() => vec![parts[alone]],
                Some(_) => break,
            };
            // With everything they caused, else (their steps' draws left for the others
            // to draw) without.
            let with = cut_parts(&best.tape, &entries, &spans, &cut);
            if self.improve(best, with) || self.improve(best, cut_parts(&best.tape, &[], &[], &cut))
            {
                improved = true;
            } else {
                index += 1;
                known = Some((entries, spans));
            }
        }
        improved
    }

    /// Replays the world as drawn (the profile and setup of the best run), alone or with
    /// all its parts but one cut, and lets the steps draw afresh from a few seeds: in a
    /// world this small the failure often comes back in a far shorter run, which no edit
    /// of the old steps' draws reaches when it hung on their timing.
    fn resample_steps(&mut self, best: &mut Candidate) -> bool {
        let setup_end = setup_end(&best.spans);
        let parts = active_parts(&best.spans, &best.tape);
        let mut worlds = vec![best.tape[..setup_end].to_vec()];
        if parts.len() > 1 {
            for &keep in &parts {
                let cut = all_but(&parts, keep);
                worlds.push(cut_parts(&best.tape[..setup_end], &[], &[], &cut));
            }
        }
        let mut improved = false;
        for world in worlds {
            improved |= self.resample(best, world, RESAMPLED);
        }
        improved
    }

    /// Lowers each draw before the first step: the swarm profile and the world's shape
    /// (how many shows, sections, seats and customers). A smaller world makes every
    /// later candidate shorter and cheaper, so this goes first.
    fn lower_setup(&mut self, best: &mut Candidate) -> bool {
        let end = setup_end(&best.spans);
        let mut improved = self.lower_range(best, 0, end);
        // A world drawn smaller changes when everything happens, so the old steps' draws
        // rarely fit it: each setup draw lowered to 0 is also tried with fresh steps.
        let mut position = 0;
        loop {
            let end = setup_end(&best.spans);
            if position >= end || self.out_of_budget() {
                break;
            }
            if best.tape[position] > 0 {
                let mut world = best.tape[..end].to_vec();
                world[position] = 0;
                improved |= self.resample(best, world, RESAMPLED_LOWERED);
            }
            position += 1;
        }
        improved
    }

    /// Runs the world drawn by `world` (a tape of profile and setup draws) with steps
    /// drawn afresh from `seeds` seeds; keeps the simplest that fails the same way.
    fn resample(&mut self, best: &mut Candidate, world: Vec<u64>, seeds: u64) -> bool {
        let mut improved = false;
        for seed in 0..seeds {
            if self.out_of_budget() {
                break;
            }
            let choices = Choices::from_tape_then_seed(world.clone(), seed);
            if let Some(candidate) = self.attempt_with(choices)
                && candidate.simpler_than(best)
            {
                *best = candidate;
                improved = true;
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
        self.lower_range(best, 0, usize::MAX)
    }

    /// Lowers each draw at `start..end` toward 0: to 0 directly, else by binary search.
    fn lower_range(&mut self, best: &mut Candidate, start: usize, end: usize) -> bool {
        let mut improved = false;
        let mut position = start;
        while position < best.tape.len().min(end) && !self.out_of_budget() {
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

/// Fresh step draws tried per world in [`Shrinker::resample_steps`].
const RESAMPLED: u64 = 128;
/// Fresh step draws tried per setup draw lowered in [`Shrinker::lower_setup`].
const RESAMPLED_LOWERED: u64 = 16;

/// Where the draws of the profile and the setup end (the steps' begin).
fn setup_end(spans: &[Span]) -> usize {
    spans
        .iter()
        .filter(|span| matches!(span.kind, SpanKind::Profile | SpanKind::Setup))
        .map(|span| span.end as usize)
        .max()
        .unwrap_or(0)
}

/// Whether a part or fault happens: a span that is more than its first draw, or whose
/// first draw is not 0 (see [`Shrinker::skip_spans`]).
fn happens(tape: &[u64], span: Span) -> bool {
    span.end - span.start > 1 || tape[span.start as usize] != 0
}

/// The parts of the world that take part (customers not staying home).
fn active_parts(spans: &[Span], tape: &[u64]) -> Vec<Span> {
    spans
        .iter()
        .copied()
        .filter(|span| span.kind == SpanKind::Part && happens(tape, *span))
        .collect()
}

/// Every part of `parts` but `keep`.
fn all_but(parts: &[Span], keep: Span) -> Vec<Span> {
    parts
        .iter()
        .copied()
        .filter(|part| part.start != keep.start)
        .collect()
}

/// The tape with the parts `cut` deleted with everything they caused: each part's span
/// cut to a single 0, and the draws of every step their workload events led to, along
/// the causes of the traced run (`entries`, and `spans` tagged with them), cut too.
fn cut_parts(tape: &[u64], entries: &[TraceEntry], spans: &[Span], cut: &[Span]) -> Vec<u64> {
    let mut caused = vec![false; entries.len()];
    for (at, entry) in entries.iter().enumerate() {
        caused[at] = match entry.cause {
            NO_CAUSE => {
                entry.kind == EventKind::External && cut.iter().any(|part| part.tag == entry.node)
            }
            cause => caused.get(cause as usize).copied().unwrap_or(false),
        };
    }
    let mut cuts: Vec<Span> = spans
        .iter()
        .copied()
        .filter(|span| span.kind == SpanKind::Step)
        .filter(|span| caused.get(span.tag as usize).copied().unwrap_or(false))
        .chain(cut.iter().copied())
        .collect();
    cuts.sort_by_key(|span| std::cmp::Reverse(span.start));
    let mut tape = tape.to_vec();
    for cut in &cuts {
        let range = cut.start as usize..(cut.end as usize).min(tape.len());
        if cut.kind == SpanKind::Part {
            tape.splice(range, [0]);
        } else {
            tape.drain(range);
        }
    }
    tape
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
        // The world first (its shape, who takes part, which faults), then the steps.
        let mut improved = shrinker.zero_spans(&mut best, &[SpanKind::Profile]);
        improved |= shrinker.delete_parts_with_consequences(&mut best);
        improved |= shrinker.skip_spans(&mut best, &[SpanKind::Part, SpanKind::Fault]);
        improved |= shrinker.resample_steps(&mut best);
        improved |= shrinker.lower_setup(&mut best);
        improved |= shrinker.delete_spans(&mut best);
        improved |= shrinker.zero_spans(
            &mut best,
            &[
                SpanKind::Fault,
                SpanKind::Send,
                SpanKind::Workload,
                SpanKind::Step,
            ],
        );
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
