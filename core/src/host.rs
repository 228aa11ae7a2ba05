//! A minimal in-memory host for one aggregate stream: decide, append, apply.
//!
//! It is the calling protocol of `lib.rs` in a dozen lines, for tests, benches and
//! examples: real services add a durable log, an outbox and timers around the same
//! steps. It keeps the log so a repeat can be answered with the original event and the
//! state can be rebuilt by replay.

use crate::{Aggregate, Decision, Effects, Envelope, Recorded};

/// One aggregate and its log.
#[derive(Clone, Debug)]
pub struct Stream<A: Aggregate> {
    state: A,
    log: Vec<Recorded<A::Event>>,
}

impl<A: Aggregate> Default for Stream<A> {
    fn default() -> Self {
        Stream::new()
    }
}

/// What handling a command did.
#[allow(clippy::large_enum_variant)] // New is the common case; no boxing on the hot path.
#[derive(Debug)]
pub enum Handled<'a, E> {
    /// A new event was appended and applied; here are its effects.
    New {
        /// The event.
        event: &'a Recorded<E>,
        /// What to do now.
        effects: Effects,
    },
    /// The command was already decided: its original event.
    Repeat {
        /// The original event.
        event: &'a Recorded<E>,
    },
    /// Acknowledged; nothing recorded.
    Ignored,
}

impl<'a, E> Handled<'a, E> {
    /// The event this command is answered with (new or repeated).
    pub fn event(&self) -> Option<&'a Recorded<E>> {
        match self {
            Handled::New { event, .. } | Handled::Repeat { event } => Some(event),
            Handled::Ignored => None,
        }
    }
}

impl<A: Aggregate> Stream<A> {
    /// An empty stream.
    pub fn new() -> Stream<A> {
        Stream {
            state: A::default(),
            log: Vec::new(),
        }
    }

    /// The current state.
    pub fn state(&self) -> &A {
        &self.state
    }

    /// Every event, oldest first (version `i + 1` at index `i`).
    pub fn log(&self) -> &[Recorded<A::Event>] {
        &self.log
    }

    /// Decide `command`; on a new event append and apply it.
    pub fn handle(
        &mut self,
        context: &A::Context,
        command: &Envelope<A::Command>,
    ) -> Result<Handled<'_, A::Event>, A::Error> {
        match self.state.decide(context, command)? {
            Decision::Accepted { event, effects } => {
                self.state.apply(&event);
                self.log.push(event);
                let event = self.log.last().expect("just pushed");
                Ok(Handled::New { event, effects })
            }
            Decision::Repeat { version } => {
                let index = usize::try_from(version)
                    .unwrap_or(usize::MAX)
                    .wrapping_sub(1);
                let event = self
                    .log
                    .get(index)
                    .expect("a repeat names a logged version");
                Ok(Handled::Repeat { event })
            }
            Decision::Ignored => Ok(Handled::Ignored),
        }
    }

    /// The state rebuilt from `log` alone, as after a restart.
    pub fn replay(log: &[Recorded<A::Event>]) -> A {
        let mut state = A::default();
        for event in log {
            state.apply(event);
        }
        state
    }
}
