//! The ticketing world on the Turnstile engine: services hosting the core's
//! aggregates, a payment gateway outside our control, customers and organizers
//! driven by the choice stream, and the invariants of SIMULATION.md judged from
//! outside. The `turnstile` binary (`main.rs`, `cli`) sweeps it.
//!
//! Codemap: [`world`] (the `System` impl [`world::Ticketing`], its config, the node
//! layout, the public API the command uses; `world::wire` the messages and log
//! entries) · [`services`] (the host of every service: log, outbox, inbox, timers,
//! rebuild; and the [`services::Doubles`] seam for faulty test doubles) · [`gateway`]
//! (the payment gateway and its ledger) · [`workloads`] (the organizer and the
//! customers of the flash sale, the season and the adversarial workload) ·
//! [`invariants`] (the observer and every invariant by name) · [`probes`] (the
//! `sometimes` probes by name) · `report` (the sweep summary).
//!
//! Architecture invariant: the world reads nothing but the engine's envelope, clock,
//! choice stream and logs; no wall clock, threads, I/O or hash-map iteration inside a
//! run.

pub mod gateway;
pub mod invariants;
pub mod pool;
pub mod probes;
pub mod report;
pub mod services;
pub mod workloads;
pub mod world;
