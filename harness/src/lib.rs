//! The ticketing world on the Turnstile engine: services hosting the core's
//! aggregates, a payment gateway outside our control, customers and organizers
//! driven by the choice stream, and the invariants of SIMULATION.md judged from
//! outside. The `turnstile` binary (`main.rs`, `cli`) sweeps it.

pub mod gateway;
pub mod invariants;
pub mod probes;
pub mod report;
pub mod services;
pub mod workloads;
pub mod world;
