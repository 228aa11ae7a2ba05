//! The ticketing world on the Turnstile engine: services hosting the core's
//! aggregates (through `turnstile-host`, the same host the real server runs), a payment
//! gateway outside our control, customers and organizers driven by the choice stream,
//! and the invariants of SIMULATION.md judged from outside. The `turnstile` binary
//! (`main.rs`, `cli`) sweeps it.
//!
//! Layers, bottom to top (each imports only those below it):
//! - [`layout`]: the shape of a run and the world's vocabulary (nodes and roles,
//!   timers, workload events, the log record; the `World` trait the parts drive);
//!   [`probes`]: the `sometimes` probes by name; [`spec`]: the observer's own model of
//!   SPEC's tables (no code shared with `turnstile_core::policy`);
//! - [`services`] (the engine's driver of the hosts), [`gateway`] (the payment gateway
//!   and its ledger), [`customers`] (the organizer and the customers of the flash sale,
//!   the season and the adversarial workload);
//! - [`invariants`]: the observer, reading what those parts expose, and every invariant
//!   by name;
//! - [`world`]: [`world::Ticketing`], the engine's `System`, wiring them all.
//!
//! `report` (the sweep summary) and `pool` (the command's allocator) sit beside them;
//! [`doubles`] breaks every invariant on purpose, above them all.
//!
//! Architecture invariant: the world reads nothing but the engine's envelope, clock,
//! choice stream and logs; no wall clock, threads, I/O or hash-map iteration inside a
//! run.

pub mod customers;
pub mod doubles;
pub mod gateway;
pub mod invariants;
pub mod layout;
pub mod pool;
pub mod probes;
pub mod report;
pub mod services;
pub mod spec;
pub mod story;
pub mod timeline;
pub mod world;
