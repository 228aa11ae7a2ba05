//! Helpers shared by the core tests: fixed people and instants, section builders, and a
//! one-stream host that numbers client command ids and reports what a command did.
//!
//! Nothing here judges a rule: the assertions live in the tests, so a helper cannot
//! hide a bug by agreeing with the code under test.

use turnstile_core::host::{Handled, Stream};
use turnstile_core::inventory::{Inventory, InventoryCommand, SalesPhase};
use turnstile_core::show::{SectionKind, SectionSpec};
use turnstile_core::time::DAY_MS;
use turnstile_core::{
    Actor, Aggregate, CommandId, CustomerId, Effect, Envelope, Money, OrganizerId, SectionIndex,
    SectionKey, ShowId, Timestamp,
};

/// An instant far from the epoch, so "before" arithmetic never saturates.
pub const T0: Timestamp = Timestamp(20_000 * DAY_MS);
/// The organizer of every show in these tests.
pub const ORGANIZER: OrganizerId = OrganizerId(7);
/// Another organizer, who owns nothing.
pub const STRANGER: OrganizerId = OrganizerId(8);
/// Customers.
pub const ALICE: CustomerId = CustomerId(1);
pub const BOB: CustomerId = CustomerId(2);
pub const CAROL: CustomerId = CustomerId(3);

/// The section key of section `index` of show `show`.
pub fn key(show: u64, index: u32) -> SectionKey {
    SectionKey {
        show: ShowId(show),
        section: SectionIndex(index),
    }
}

/// Seat labels `ROW-1..=ROW-n`, row by row.
pub fn labels(rows: &[(&str, u32)]) -> Vec<String> {
    rows.iter()
        .flat_map(|(row, len)| (1..=*len).map(move |seat| format!("{row}-{seat}")))
        .collect()
}

/// A numbered section with these rows.
pub fn numbered(rows: &[(&str, u32)], base_price: u64) -> SectionSpec {
    let seat_labels = labels(rows);
    SectionSpec {
        name: "Stalls".to_owned(),
        kind: SectionKind::Numbered,
        capacity: seat_labels.len() as u32,
        seat_labels: seat_labels.into(),
        base_price: Money(base_price),
    }
}

/// A general-admission section.
pub fn general(capacity: u32, base_price: u64) -> SectionSpec {
    SectionSpec {
        name: "Floor".to_owned(),
        kind: SectionKind::GeneralAdmission,
        capacity,
        seat_labels: Default::default(),
        base_price: Money(base_price),
    }
}

/// Strings from string slices.
pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

/// What one command did to one stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome<E, X> {
    /// A new event, and its effects.
    New(E, Vec<Effect>),
    /// A repeat, answered with the original event.
    Repeat(E),
    /// Acknowledged, nothing recorded.
    Ignored,
    /// Refused.
    Rejected(X),
}

impl<E: std::fmt::Debug, X: std::fmt::Debug> Outcome<E, X> {
    /// The new event, or a panic naming what happened instead.
    #[track_caller]
    pub fn new_event(self) -> E {
        match self {
            Outcome::New(event, _) => event,
            other => panic!("expected a new event, got {other:?}"),
        }
    }

    /// The new event's effects.
    #[track_caller]
    pub fn effects(self) -> Vec<Effect> {
        match self {
            Outcome::New(_, effects) => effects,
            other => panic!("expected a new event, got {other:?}"),
        }
    }

    /// The rejection, or a panic naming what happened instead.
    #[track_caller]
    pub fn rejection(self) -> X {
        match self {
            Outcome::Rejected(error) => error,
            other => panic!("expected a rejection, got {other:?}"),
        }
    }

    /// Whether a new event was recorded.
    pub fn is_new(&self) -> bool {
        matches!(self, Outcome::New(..))
    }
}

/// One aggregate stream behind the core's own tiny host, with numbered client ids.
pub struct Host<A: Aggregate> {
    pub stream: Stream<A>,
    next_id: u64,
}

impl<A: Aggregate> Default for Host<A> {
    fn default() -> Self {
        Host {
            stream: Stream::new(),
            next_id: 1,
        }
    }
}

impl<A> Host<A>
where
    A: Aggregate + std::fmt::Debug + PartialEq,
    A::Event: std::fmt::Debug,
{
    /// The current state.
    pub fn state(&self) -> &A {
        self.stream.state()
    }

    /// A fresh client command id.
    pub fn fresh_id(&mut self) -> CommandId {
        let id = CommandId(self.next_id);
        self.next_id += 1;
        id
    }

    /// Send `body` with a fresh id.
    pub fn send(
        &mut self,
        context: &A::Context,
        actor: Actor,
        now: Timestamp,
        body: A::Command,
    ) -> Outcome<A::Event, A::Error> {
        let id = self.fresh_id();
        self.send_with_id(context, id, actor, now, body)
    }

    /// Send `body` with the given id; a rejection or an ignored command must leave the
    /// state exactly as it was (checked on every call).
    pub fn send_with_id(
        &mut self,
        context: &A::Context,
        id: CommandId,
        actor: Actor,
        now: Timestamp,
        body: A::Command,
    ) -> Outcome<A::Event, A::Error> {
        let before = self.stream.state().clone();
        let log_len = self.stream.log().len();
        let outcome = match self
            .stream
            .handle(context, &Envelope::new(id, actor, now, body))
        {
            Ok(Handled::New { event, effects }) => {
                Outcome::New(event.event.clone(), effects.to_vec())
            }
            Ok(Handled::Repeat { event }) => Outcome::Repeat(event.event.clone()),
            Ok(Handled::Ignored) => Outcome::Ignored,
            Err(error) => Outcome::Rejected(error),
        };
        if !outcome.is_new() {
            assert_eq!(
                self.stream.state(),
                &before,
                "a command that recorded nothing changed the state"
            );
            assert_eq!(self.stream.log().len(), log_len);
        }
        outcome
    }
}

/// An inventory for one section, set up by the show's service with sales open.
pub fn open_section(spec: SectionSpec, start_at: Timestamp) -> Host<Inventory> {
    let mut host = Host::<Inventory>::default();
    host.send(
        &(),
        Actor::Service,
        T0,
        InventoryCommand::Initialize {
            section: key(1, 0),
            organizer: ORGANIZER,
            start_at,
            spec,
        },
    )
    .new_event();
    host.send(
        &(),
        Actor::Service,
        T0,
        InventoryCommand::SetPhase {
            show_version: 3,
            phase: SalesPhase::Open,
        },
    )
    .new_event();
    host
}
