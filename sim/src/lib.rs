//! Turnstile's deterministic simulation engine for message-passing systems.
//!
//! A system implements [`System`]: its nodes' volatile state, messages, timers, workload
//! events, log records, and its invariants. The engine runs it on one stream of
//! decisions ([`Choices`]) in virtual time (milliseconds), with a network that delays,
//! drops, duplicates and reorders, partitions that heal, nodes that crash (losing
//! volatile state, timers and the unsynced tail of their log, sometimes tearing a
//! record), restart from their log and pause, clocks with bounded skew, and a swarm
//! profile per run that decides which faults are on. `always` checks run after every
//! step, restart checks after every restart, and `eventually` checks once the world has
//! healed and gone quiet. A failing run shrinks to a short trace and a replay token;
//! sweeps run many seeds on worker threads with identical results whatever the thread
//! count. The engine knows nothing about tickets.
//!
//! Codemap: [`choices`] (the stream) · [`queue`] (time, seq) · [`log`] (durable log,
//! torn writes) · [`network`] (at-least-once helpers) · [`faults`] (kinds, swarm
//! profile) · [`checks`] (violations) · [`sim`] (the `System` trait and the event loop) ·
//! [`trace`] (hash, entries, text) · [`shrink`](mod@shrink) · [`sweep`](mod@sweep) · [`token`] (replay tokens) ·
//! [`toy`] (the reference workload, used by the example, tests, bench and fuzzing).
//!
//! # Example
//!
//! Run the reference workload once, sweep it, and shrink a planted bug:
//!
//! ```
//! use turnstile_sim::toy::{self, Bugs, Toy, ToyConfig};
//! use turnstile_sim::{Choices, Config, ProfileMode, Replay, Sim, SweepConfig, Token};
//!
//! // One run: 50 clients, 100 seats, 5 % drops.
//! let config = Config::new(ProfileMode::Fixed(toy::reference_profile(true)));
//! let mut sim = Sim::new(config);
//! let mut system = Toy::reference();
//! let outcome = sim.run(&mut system, Choices::from_seed(7));
//! assert!(outcome.failure.is_none());
//! assert!(sim.stats().messages_delivered > 150);
//!
//! // A sweep over swarm profiles, on two threads, with the planted bug on.
//! let swarm = Config::new(ProfileMode::Swarm(toy::swarm_ceiling()));
//! let buggy = ToyConfig { bugs: Bugs { confirm_not_idempotent: true, ..Bugs::default() }, ..ToyConfig::default() };
//! let report = turnstile_sim::sweep(&swarm, &SweepConfig::new(0, 200, 2, "doc"), || Toy::new(buggy));
//! let group = &report.groups[0];
//! assert_eq!(group.invariant, "seats_accounted");
//!
//! // Its replay token brings the shrunk run back.
//! let token = Token::parse(&group.token.to_string(), "doc").unwrap();
//! let mut sim = Sim::new(swarm);
//! let again = sim.run(&mut Toy::new(buggy), token.replay.choices());
//! assert_eq!(again.failure.unwrap().violation.invariant, "seats_accounted");
//! # let _ = Replay::Seed(0);
//! ```

#![warn(missing_docs)]

pub mod checks;
pub mod choices;
pub mod faults;
pub mod log;
pub mod network;
pub mod queue;
pub mod shrink;
pub mod sim;
pub mod sweep;
pub mod token;
pub mod toy;
pub mod trace;

pub use checks::{CheckKind, Failure, Violation};
pub use choices::{Choices, Draw, NO_TAG, Recording, Span, SpanKind, Xoshiro256pp};
pub use faults::{FaultCounts, FaultKind, Profile, ProfileMode};
pub use log::{DurableLog, Record, RecoveryReport};
pub use network::{Dedupe, Outbox};
pub use shrink::{Shrunk, shrink};
pub use sim::{
    Config, Ctx, Envelope, MsgId, NO_CAUSE, NodeId, Outcome, Recovered, RunStats, Setup, Sim,
    System, TimerId, View,
};
pub use sweep::{Divergence, FailureGroup, SeedFailure, SweepConfig, SweepReport, sweep};
pub use token::{Replay, Token, TokenError};
pub use trace::{EventKind, Trace, TraceEntry, TraceMode};
