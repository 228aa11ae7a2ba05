//! The one stream of decisions a run draws from.
//!
//! Every choice in a run (a delay, a drop, a crash, a client's next move, the swarm
//! profile itself) is a draw of an integer in a closed range `0..=max`. There are no
//! floats. Drawing `0` is always the least eventful choice, and an exhausted stream draws
//! `0`; that convention is what lets the shrinker simplify a run by deleting draws and
//! lowering them.
//!
//! Three sources feed the same interface:
//! - [`Choices::from_seed`]: xoshiro256++ seeded through splitmix64, the fast path;
//! - [`Choices::from_bytes`]: a byte slice (a `cargo fuzz` input), so the fuzzer's
//!   coverage guidance steers the faults;
//! - [`Choices::from_tape`]: a recorded list of values, for replay and shrinking. A value
//!   larger than the bound it is drawn against reads as `0`.
//!
//! The hot path records nothing. [`Choices::record`] switches on recording of
//! `(value, max)` pairs and of labelled spans, which the shrinker uses to delete whole
//! steps; a failing seed is simply re-run with recording on.

/// xoshiro256++ (Blackman and Vigna), the named generator behind seeded runs.
#[derive(Clone, Debug)]
pub struct Xoshiro256pp {
    state: [u64; 4],
}

fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl Xoshiro256pp {
    /// The generator for `seed`, its state expanded with splitmix64 (never all zero).
    pub fn from_seed(seed: u64) -> Self {
        let mut sm = seed;
        let state = [
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
            splitmix64(&mut sm),
        ];
        Self { state }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        let s = &mut self.state;
        let result = s[0].wrapping_add(s[3]).rotate_left(23).wrapping_add(s[0]);
        let t = s[1] << 17;
        s[2] ^= s[0];
        s[3] ^= s[1];
        s[1] ^= s[2];
        s[0] ^= s[3];
        s[2] ^= t;
        s[3] = s[3].rotate_left(45);
        result
    }

    /// A uniform value in `0..=max` (Lemire's multiply-shift with rejection, unbiased).
    #[inline]
    pub fn below_inclusive(&mut self, max: u64) -> u64 {
        if max == u64::MAX {
            return self.next_u64();
        }
        let range = max + 1;
        let mut product = u128::from(self.next_u64()) * u128::from(range);
        let mut low = product as u64;
        if low < range {
            let threshold = range.wrapping_neg() % range;
            while low < threshold {
                product = u128::from(self.next_u64()) * u128::from(range);
                low = product as u64;
            }
        }
        (product >> 64) as u64
    }
}

/// What a span of draws decided; the shrinker deletes whole spans.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SpanKind {
    /// The swarm profile drawn at the start of a run.
    Profile,
    /// The system's setup (nodes, first workload events).
    Setup,
    /// One step: a delivery, a timer firing, a workload event, a restart.
    Step,
    /// The network's decisions for one sent message (delay, drop, duplicate, extra delay).
    Send,
    /// One injected process fault (crash, pause, partition) and its parameters.
    Fault,
    /// A decision the system drew itself (a workload move).
    Workload,
    /// One part of the world the system drew at setup (a customer's plan): zeroing it
    /// leaves the part doing nothing.
    Part,
}

/// One recorded draw: the value and the inclusive bound it was drawn against.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Draw {
    /// The value drawn, in `0..=max`.
    pub value: u64,
    /// The inclusive upper bound of the draw.
    pub max: u64,
}

/// A labelled range of draws, `start..end` in tape positions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// What the draws in this span decided.
    pub kind: SpanKind,
    /// First draw of the span.
    pub start: u32,
    /// One past the last draw of the span.
    pub end: u32,
    /// What the span is about, by kind: for a step, the index of its trace entry (in a
    /// traced run); for a part of the world, its node; otherwise [`NO_TAG`].
    pub tag: u32,
}

/// The tag of a span that is about nothing in particular.
pub const NO_TAG: u32 = u32::MAX;

/// The tape of a recorded run: every draw and the spans that label them.
#[derive(Clone, Debug, Default)]
pub struct Recording {
    /// The draws, in order.
    pub draws: Vec<Draw>,
    /// Closed spans, in the order they closed.
    pub spans: Vec<Span>,
    open: Vec<(SpanKind, u32, u32)>,
}

impl Recording {
    /// The draw values alone: the tape a replay feeds back in.
    pub fn values(&self) -> Vec<u64> {
        self.draws.iter().map(|draw| draw.value).collect()
    }
}

#[derive(Clone, Debug)]
enum Source {
    Prng(Xoshiro256pp),
    Bytes {
        bytes: Vec<u8>,
        position: usize,
    },
    Tape {
        values: Vec<u64>,
        position: usize,
        /// Past the end, draw from this generator instead of drawing 0.
        then: Option<Xoshiro256pp>,
    },
}

/// A stream of bounded integer decisions; see the module docs.
#[derive(Clone, Debug)]
pub struct Choices {
    source: Source,
    draws: u64,
    recording: bool,
    /// Seeded and not recording: the hot path, one branch per draw.
    fast: bool,
    /// The generator of the fast path (a copy of the `Prng` source's state).
    rng: Xoshiro256pp,
    tape: Recording,
}

impl Choices {
    /// Choices from xoshiro256++ seeded with `seed`.
    pub fn from_seed(seed: u64) -> Self {
        Self::with_source(Source::Prng(Xoshiro256pp::from_seed(seed)))
    }

    /// Choices read from raw bytes (a fuzzer input). A draw against a bound below 2^8
    /// takes one byte, below 2^16 two, below 2^32 four, otherwise eight (little endian),
    /// reduced modulo `max + 1`; missing bytes read as zero.
    pub fn from_bytes(bytes: &[u8]) -> Self {
        Self::with_source(Source::Bytes {
            bytes: bytes.to_vec(),
            position: 0,
        })
    }

    /// Choices replayed from recorded values; past the end, or for a value above the
    /// draw's bound, the draw is `0`.
    pub fn from_tape(values: Vec<u64>) -> Self {
        Self::with_source(Source::Tape {
            values,
            position: 0,
            then: None,
        })
    }

    /// Choices replayed from `values`, then (past their end) drawn from xoshiro256++
    /// seeded with `seed`: a run that begins as recorded and goes on as a fresh one (the
    /// shrinker's resampling).
    pub fn from_tape_then_seed(values: Vec<u64>, seed: u64) -> Self {
        Self::with_source(Source::Tape {
            values,
            position: 0,
            then: Some(Xoshiro256pp::from_seed(seed)),
        })
    }

    fn with_source(source: Source) -> Self {
        let (fast, rng) = match &source {
            Source::Prng(rng) => (true, rng.clone()),
            _ => (false, Xoshiro256pp::from_seed(0)),
        };
        Self {
            source,
            draws: 0,
            recording: false,
            fast,
            rng,
            tape: Recording::default(),
        }
    }

    /// Switches on recording of draws and spans (for shrinking and traces).
    pub fn record(mut self) -> Self {
        self.recording = true;
        self.fast = false;
        self
    }

    /// Whether draws are being recorded.
    pub fn is_recording(&self) -> bool {
        self.recording
    }

    /// How many draws have been made (every bounded draw counts, `max == 0` does not).
    pub fn draw_count(&self) -> u64 {
        self.draws
    }

    /// The recording so far (empty unless [`Choices::record`] was called).
    pub fn recording(&self) -> &Recording {
        &self.tape
    }

    /// Takes the recording out, leaving an empty one.
    pub fn take_recording(&mut self) -> Recording {
        std::mem::take(&mut self.tape)
    }

    /// A value in `0..=max`; `0` is the least eventful choice. `max == 0` is not a
    /// decision and consumes nothing.
    #[inline(always)]
    pub fn draw(&mut self, max: u64) -> u64 {
        if max == 0 {
            return 0;
        }
        self.draws += 1;
        if self.fast {
            return self.rng.below_inclusive(max);
        }
        self.draw_slow(max)
    }

    /// On the fast path (seeded, not recording), the generator and the draw counter, for
    /// a caller that makes several draws in a row: it must draw exactly as
    /// [`Choices::draw`] does (no draw for `max == 0`, one count per draw).
    #[inline(always)]
    pub(crate) fn fast_path(&mut self) -> Option<(&mut Xoshiro256pp, &mut u64)> {
        if self.fast {
            Some((&mut self.rng, &mut self.draws))
        } else {
            None
        }
    }

    /// Every source but the fast path, and recording.
    #[cold]
    #[inline(never)]
    fn draw_slow(&mut self, max: u64) -> u64 {
        let value = match self.source {
            Source::Prng(_) => self.rng.below_inclusive(max),
            _ => self.draw_replayed(max),
        };
        if self.recording {
            self.tape.draws.push(Draw { value, max });
        }
        value
    }

    /// Draws from a byte slice or a tape (off the hot path).
    #[cold]
    #[inline(never)]
    fn draw_replayed(&mut self, max: u64) -> u64 {
        match &mut self.source {
            Source::Prng(_) => self.rng.below_inclusive(max),
            Source::Tape {
                values,
                position,
                then,
            } => {
                let recorded = values.get(*position).copied();
                *position += 1;
                match (recorded, then) {
                    (Some(value), _) => {
                        if value > max {
                            0
                        } else {
                            value
                        }
                    }
                    (None, Some(rng)) => rng.below_inclusive(max),
                    (None, None) => 0,
                }
            }
            Source::Bytes { bytes, position } => {
                let width = if max <= 0xFF {
                    1
                } else if max <= 0xFFFF {
                    2
                } else if max <= 0xFFFF_FFFF {
                    4
                } else {
                    8
                };
                let mut raw = [0u8; 8];
                // Past the end the stream is exhausted and draws 0; `position` may already
                // be beyond `bytes.len()`, so never slice from it then.
                let available = bytes.len().saturating_sub(*position).min(width);
                if available > 0 {
                    raw[..available].copy_from_slice(&bytes[*position..*position + available]);
                }
                *position += width;
                let raw = u64::from_le_bytes(raw);
                if max == u64::MAX {
                    raw
                } else {
                    raw % (max + 1)
                }
            }
        }
    }

    /// A value in the closed range `low..=high` (`low` is the least eventful).
    #[inline]
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        debug_assert!(low <= high, "empty range {low}..={high}");
        low + self.draw(high - low)
    }

    /// True with probability `per_mille / 1000`; the eventful outcome (true) sits at the
    /// top of the range so that lowering the draw toward `0` turns it off.
    #[inline]
    pub fn chance_per_mille(&mut self, per_mille: u64) -> bool {
        if per_mille == 0 {
            return false;
        }
        self.draw(999) >= 1000 - per_mille.min(1000)
    }

    /// Opens a labelled span (recorded only in recording mode).
    #[inline]
    pub fn begin_span(&mut self, kind: SpanKind) {
        self.begin_tagged(kind, NO_TAG);
    }

    /// Opens a labelled span about `tag` (see [`Span::tag`]).
    #[inline]
    pub fn begin_tagged(&mut self, kind: SpanKind, tag: u32) {
        if self.recording {
            let at = self.tape.draws.len() as u32;
            self.tape.open.push((kind, at, tag));
        }
    }

    /// Closes the innermost open span; empty spans are not kept.
    #[inline]
    pub fn end_span(&mut self) {
        if self.recording
            && let Some((kind, start, tag)) = self.tape.open.pop()
        {
            let end = self.tape.draws.len() as u32;
            if end > start {
                self.tape.spans.push(Span {
                    kind,
                    start,
                    end,
                    tag,
                });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xoshiro_matches_the_reference_output() {
        // Reference vector: state {1, 2, 3, 4} gives 41943041 first (from the C code).
        let mut rng = Xoshiro256pp {
            state: [1, 2, 3, 4],
        };
        assert_eq!(rng.next_u64(), 41_943_041);
        assert_eq!(rng.next_u64(), 58_720_359);
    }

    #[test]
    fn an_exhausted_byte_stream_draws_zero_forever() {
        // Regression: found by the `canary` fuzz target on its first input (empty bytes):
        // a wide draw moved the position past the end and the next draw sliced from it.
        for bytes in [&[][..], &[0xFF][..], &[1, 2, 3][..]] {
            let mut choices = Choices::from_bytes(bytes);
            for max in [u64::MAX, 0xFFFF, 9, 1, 0xFFFF_FFFF] {
                choices.draw(max);
            }
            for max in [1u64, 0xFF, 0xFFFF, u64::MAX] {
                assert_eq!(choices.draw(max), 0);
            }
        }
    }

    #[test]
    fn draws_stay_in_their_closed_range() {
        let mut choices = Choices::from_seed(7);
        for max in [1u64, 2, 3, 9, 999, u64::MAX / 3] {
            for _ in 0..1000 {
                assert!(choices.draw(max) <= max);
            }
        }
        let hits = (0..10_000).filter(|_| choices.range(3, 5) == 5).count();
        assert!(
            (2_800..3_900).contains(&hits),
            "5 drawn {hits} times of 10000"
        );
    }

    #[test]
    fn exhausted_and_out_of_range_tapes_draw_zero() {
        let mut choices = Choices::from_tape(vec![3, 50]);
        assert_eq!(choices.draw(9), 3);
        assert_eq!(choices.draw(9), 0, "50 is above the bound 9");
        assert_eq!(choices.draw(9), 0, "past the end");
        let mut bytes = Choices::from_bytes(&[5, 1, 2]);
        assert_eq!(bytes.draw(255), 5);
        assert_eq!(bytes.draw(0xFFFF), 0x0201);
        assert_eq!(bytes.draw(255), 0);
    }

    #[test]
    fn recording_replays_to_the_same_draws() {
        let mut original = Choices::from_seed(42).record();
        original.begin_span(SpanKind::Step);
        let drawn: Vec<u64> = (1..50).map(|max| original.draw(max)).collect();
        original.end_span();
        let recording = original.take_recording();
        assert_eq!(
            recording.spans,
            vec![Span {
                kind: SpanKind::Step,
                start: 0,
                end: 49,
                tag: NO_TAG,
            }]
        );
        let mut replay = Choices::from_tape(recording.values());
        let replayed: Vec<u64> = (1..50).map(|max| replay.draw(max)).collect();
        assert_eq!(drawn, replayed);
    }
}
