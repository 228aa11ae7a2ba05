//! Business rules of SPEC.md, end to end through the public API of `turnstile-core`.
//!
//! `support` and `mini_world` are test machinery; every other module pins down the
//! rules of one part of SPEC.md. `model` is a deliberately naive seat map and money
//! ledger, written from SPEC.md alone, that the property tests judge the core against.

mod mini_world;
mod support;

mod chaos;
mod inventory;
mod laws;
mod malformed;
mod model;
mod payment;
mod pricing;
mod read_models;
mod saga;
mod show;
mod tickets;
