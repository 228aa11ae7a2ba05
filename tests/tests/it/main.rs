//! Turnstile's integration tests, one binary: `core` pins the business rules of
//! SPEC.md, `sim` proves the engine on its toy system.

mod core;
mod sim;
