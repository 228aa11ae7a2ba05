//! The seam for faulty test doubles.
//!
//! [`Doubles`] (in [`crate::HostConfig`]) holds one optional hook per aggregate, called
//! right after the core decided and before the host acts on it:
//! `fn(&state, &command, &mut result)`. A test double rewrites the result (turns a
//! rejection into an event, drops an event, changes an amount, adds an effect) to break
//! one rule on purpose; the simulator must then catch it under the invariant's name.
//! The `rebuild` hook edits how a restarting host recovers ([`Rebuild`]: how many log
//! records to replay, whether to re-arm timers); the `read_models` hook may drop a
//! publication. Doubles live in the tests, never here; production code only calls the
//! hooks, which are all `None` by default.
//!
//! Writing a double: pick the aggregate whose rule you break, match the command and the
//! result you want to change, and rewrite it in place. To turn a rejection into an event,
//! build the event with `turnstile_core::recorded(command, fingerprint, event)` where
//! `fingerprint = turnstile_core::ids::fingerprint(&command.actor, &command.body)`, and
//! list its effects (timers to arm, messages to send) as the core would. Then assert
//! that a sweep catches it (`tests/tests/it/world/doubles.rs` has one per invariant):
//! ```ignore
//! fn oversell(state: &Inventory, command: &Envelope<InventoryCommand>,
//!             result: &mut Result<Decision<InventoryEvent>, InventoryError>) { /* … */ }
//! let world = Ticketing::new(WorldConfig::sweep().with_doubles(Doubles {
//!     inventory: Some(oversell),
//!     ..Doubles::default()
//! }));
//! ```

use turnstile_core::inventory::Inventory;
use turnstile_core::order::Order;
use turnstile_core::payment::Payment;
use turnstile_core::read_models::Published;
use turnstile_core::show::Show;
use turnstile_core::ticket::Ticket;
use turnstile_core::ticket::resale::Resale;
use turnstile_core::{Aggregate, Decision, Envelope};

use crate::Service;

/// A hook a test double sets to rewrite an aggregate's decision (see the module docs).
pub type Hook<A> = fn(
    &A,
    &Envelope<<A as Aggregate>::Command>,
    &mut Result<Decision<<A as Aggregate>::Event>, <A as Aggregate>::Error>,
);

/// How a restarting host recovers; the `rebuild` hook of [`Doubles`] may change it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rebuild {
    /// Log records to replay (all of them, in production).
    pub replay: usize,
    /// Whether to re-arm the timers the aggregates list.
    pub rearm_timers: bool,
}

/// Faulty test doubles: every hook `None` in production (see the module docs).
#[derive(Clone, Copy, Debug, Default)]
pub struct Doubles {
    /// Rewrites a show's decisions.
    pub show: Option<Hook<Show>>,
    /// Rewrites a section inventory's decisions.
    pub inventory: Option<Hook<Inventory>>,
    /// Rewrites an order's decisions.
    pub order: Option<Hook<Order>>,
    /// Rewrites a payment's decisions.
    pub payment: Option<Hook<Payment>>,
    /// Rewrites a ticket's decisions.
    pub ticket: Option<Hook<Ticket>>,
    /// Rewrites a resale purchase's decisions.
    pub resale: Option<Hook<Resale>>,
    /// Changes how a restarting service recovers.
    pub rebuild: Option<fn(Service, &mut Rebuild)>,
    /// Decides whether the read models take in a publication (`false`: it is lost).
    pub read_models: Option<fn(&Published) -> bool>,
}

/// Decides with the aggregate, then lets a double rewrite the result.
pub(crate) fn decide_with<A: Aggregate>(
    state: &A,
    context: &A::Context,
    envelope: &Envelope<A::Command>,
    hook: Option<Hook<A>>,
) -> Result<Decision<A::Event>, A::Error> {
    let mut result = state.decide(context, envelope);
    if let Some(hook) = hook {
        hook(state, envelope, &mut result);
    }
    result
}
