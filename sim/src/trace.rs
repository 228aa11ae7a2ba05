//! Traces: every event of a run, as a rolling 64-bit hash, compact records, or text.
//!
//! The hash is always on (a few multiplications per event, cheap enough for sweeps): it
//! folds each event's time, kind, nodes and the system's message/timer contents (through
//! their `Hash` impls and a fixed, seedless hasher), so it is stable across processes and
//! thread counts. [`TraceMode::Steps`] also keeps a [`TraceEntry`] and the running hash
//! per event (to name the first event where two runs differ); [`TraceMode::Text`] adds a
//! readable line per event, written with the system's `Debug` impls.

use std::hash::{Hash, Hasher};

/// How much of a run to keep.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub enum TraceMode {
    /// Only the rolling hash (sweeps).
    #[default]
    Hash,
    /// The hash plus one compact entry per event.
    Steps,
    /// Entries plus one readable line per event.
    Text,
}

/// What happened at one event of a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventKind {
    /// A message was delivered to `node` from `peer` (a step).
    Deliver,
    /// A message to `node` was lost on arrival: the node was down, or cut off from `peer`.
    Lost,
    /// The network dropped a message from `peer` to `node` as it was sent.
    Dropped,
    /// A timer of `node` fired (a step).
    Timer,
    /// A workload event reached `node` (a step).
    External,
    /// `node` crashed.
    Crash,
    /// `node` restarted from its log (a step).
    Restart,
    /// `node` paused.
    Pause,
    /// A partition isolated `node` (and possibly others).
    Partition,
    /// Faults healed for the liveness phase.
    Heal,
}

impl EventKind {
    /// Stable lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Deliver => "deliver",
            EventKind::Lost => "lost",
            EventKind::Dropped => "dropped",
            EventKind::Timer => "timer",
            EventKind::External => "external",
            EventKind::Crash => "crash",
            EventKind::Restart => "restart",
            EventKind::Pause => "pause",
            EventKind::Partition => "partition",
            EventKind::Heal => "heal",
        }
    }

    /// Whether this event is a step (after which `always` checks run).
    pub fn is_step(self) -> bool {
        matches!(
            self,
            EventKind::Deliver | EventKind::Timer | EventKind::External | EventKind::Restart
        )
    }
}

/// One event of a trace, compactly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceEntry {
    /// The entry of the step that caused this event: the step that sent the message,
    /// armed the timer or scheduled the workload event (`u32::MAX`: none, for the
    /// setup's events, faults and a driver's commands). Following causes back from any
    /// event walks the causal chain that led to it.
    pub cause: u32,
    /// Virtual time of the event.
    pub time_ms: u64,
    /// What happened.
    pub kind: EventKind,
    /// The node it happened to.
    pub node: u32,
    /// The other node involved (the sender of a message), or `u32::MAX`.
    pub peer: u32,
    /// Hash of the content (message, timer or workload event).
    pub content_hash: u64,
    /// The rolling trace hash after this event.
    pub hash_after: u64,
}

/// A recorded trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// One entry per event ([`TraceMode::Steps`] and up).
    pub entries: Vec<TraceEntry>,
    /// One readable line per event ([`TraceMode::Text`]).
    pub lines: Vec<String>,
}

impl Trace {
    /// The readable form: one line per event.
    pub fn text(&self) -> String {
        let mut out = String::new();
        for line in &self.lines {
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    /// Canonical bytes of the compact trace (for byte-for-byte comparison).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * 37);
        for entry in &self.entries {
            out.extend_from_slice(&entry.time_ms.to_le_bytes());
            out.push(entry.kind as u8);
            out.extend_from_slice(&entry.node.to_le_bytes());
            out.extend_from_slice(&entry.peer.to_le_bytes());
            out.extend_from_slice(&entry.content_hash.to_le_bytes());
            out.extend_from_slice(&entry.hash_after.to_le_bytes());
        }
        out
    }

    /// The shape of the trace: its event kinds in order (what a failure signature uses).
    pub fn shape(&self) -> String {
        let mut out = String::new();
        for entry in &self.entries {
            out.push(match entry.kind {
                EventKind::Deliver => 'd',
                EventKind::Lost => 'l',
                EventKind::Dropped => 'D',
                EventKind::Timer => 't',
                EventKind::External => 'x',
                EventKind::Crash => 'C',
                EventKind::Restart => 'R',
                EventKind::Pause => 'P',
                EventKind::Partition => 'N',
                EventKind::Heal => 'H',
            });
        }
        out
    }

    /// Index of the first entry at which two traces differ, if any.
    pub fn first_difference(&self, other: &Trace) -> Option<usize> {
        let common = self.entries.len().min(other.entries.len());
        (0..common)
            .find(|&i| self.entries[i] != other.entries[i])
            .or((self.entries.len() != other.entries.len()).then_some(common))
    }
}

const MULTIPLIER: u64 = 0x517C_C1B7_2722_0A95;

/// Folds `value` into `hash` (the FxHash step: rotate, xor, multiply).
#[inline]
pub fn mix(hash: u64, value: u64) -> u64 {
    (hash.rotate_left(5) ^ value).wrapping_mul(MULTIPLIER)
}

/// A seedless FxHash-style hasher: the same value hashes the same in every process.
#[derive(Clone, Copy, Debug, Default)]
pub struct StableHasher {
    hash: u64,
}

impl Hasher for StableHasher {
    #[inline]
    fn finish(&self) -> u64 {
        self.hash
    }

    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            self.hash = mix(
                self.hash,
                u64::from_le_bytes(chunk.try_into().expect("8 bytes")),
            );
        }
        for &byte in chunks.remainder() {
            self.hash = mix(self.hash, u64::from(byte));
        }
    }

    #[inline]
    fn write_u8(&mut self, value: u8) {
        self.hash = mix(self.hash, u64::from(value));
    }

    #[inline]
    fn write_u16(&mut self, value: u16) {
        self.hash = mix(self.hash, u64::from(value));
    }

    #[inline]
    fn write_u32(&mut self, value: u32) {
        self.hash = mix(self.hash, u64::from(value));
    }

    #[inline]
    fn write_u64(&mut self, value: u64) {
        self.hash = mix(self.hash, value);
    }

    #[inline]
    fn write_usize(&mut self, value: usize) {
        self.hash = mix(self.hash, value as u64);
    }
}

/// Hash of any `Hash` value with [`StableHasher`].
#[inline]
pub fn stable_hash<T: Hash + ?Sized>(value: &T) -> u64 {
    let mut hasher = StableHasher::default();
    value.hash(&mut hasher);
    hasher.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_hash_is_fixed_across_builds_and_processes() {
        // Pinned: a change here changes every recorded trace hash.
        assert_eq!(stable_hash(&(1u32, 2u64)), mix(mix(0, 1), 2));
        assert_ne!(stable_hash(&(1u32, 2u64)), stable_hash(&(2u32, 1u64)));
    }
}
