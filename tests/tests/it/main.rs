//! Turnstile's integration tests, one binary: `core` pins the business rules of
//! SPEC.md, `sim` proves the engine on its toy system,
//! `world` sweeps the ticketing world and breaks each invariant on purpose.

mod core;
mod sim;
mod world;
