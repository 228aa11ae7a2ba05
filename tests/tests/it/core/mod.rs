//! Business rules of SPEC.md, end to end through the public API of `turnstile-core`.
//!
//! Machinery: `support` (people, instants, a one-stream host that checks every refused
//! command left the state untouched), `mini_world` (every aggregate in memory, a FIFO or
//! seeded delivery order, a scripted gateway with its own ledger, timers fired on
//! demand) and `model` (a deliberately naive seat map, written from SPEC.md alone, that
//! the inventory laws are judged against).
//!
//! Rules, by SPEC section: `show` (states, creation, sales window, 24-hour cancel),
//! `pricing` (tiers at 30 and 7 days, half-up per seat, overflow, order start checks),
//! `inventory` (quantity, the last seat, holds, 5 and 15 minutes, release, unsell,
//! blocks, best available), `saga` (every row of the order table), `payment` (money
//! limits, gateway keys), `tickets` (transfer, cancellation policy, resale),
//! `read_models` (snapshot and naive prediction). Laws: `laws` (inventory against the
//! model, replay, read models under redelivery), `chaos` (the whole flow under seeded
//! delivery orders), `malformed` (no input panics the core).
//!
//! Property tests run proptest's default 256 cases (some fewer); set `PROPTEST_CASES`
//! for longer runs.

mod mini_world;
mod model;
mod support;

mod chaos;
mod inventory;
mod laws;
mod malformed;
mod payment;
mod pricing;
mod read_models;
mod saga;
mod show;
mod tickets;
