//! The show aggregate: creation with its venue sections, the sales lifecycle and the
//! 24-hour cancellation rule, plus the catalog of show terms the order service reads.
//!
//! `Draft → Published → SalesOpen ⇄ SalesClosed`, `Completed` when the start timer
//! fires (from any state but `Cancelled`), `Cancelled` from any state before
//! `Completed` while `start − now ≥ 24 h`. The show tells each section's inventory
//! its phase (closed, open, ended) with the show's version so reordered messages
//! cannot undo a newer phase, and publishes its terms for pricing.

use crate::ids::tag;
use crate::inventory::seating::SeatLabels;
use crate::inventory::{InventoryCommand, SalesPhase, SectionProblem, validate_section};
use crate::money::Money;
use crate::policy::before_change_cutoff;
use crate::time::Timestamp;
use crate::{
    Actor, Admission, Aggregate, ArmedTimer, CommandId, Decision, Effect, Effects, Envelope,
    GuardError, Journal, Message, Notice, OrganizerId, Recorded, SectionIndex, SectionKey, ShowId,
    Timer, recorded,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A show's name is 1..=200 characters after trimming.
pub const NAME_CHARS_MAX: usize = 200;
/// At most this many sections per show.
pub const SECTIONS_MAX: usize = 64;

/// Numbered seats or general admission.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SectionKind {
    /// Every seat has a label (`B-12`: row `B`, seat `12`).
    Numbered,
    /// A count of places, no labels.
    GeneralAdmission,
}

/// One section of the venue as the organizer describes it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SectionSpec {
    /// Its name ("Balcony").
    pub name: String,
    /// Numbered or general admission.
    pub kind: SectionKind,
    /// How many places (≥ 1).
    pub capacity: u32,
    /// For a numbered section exactly `capacity` distinct labels `ROW-SEAT`, listed row
    /// by row in seating order (the order defines "lowest" row and seat); none for
    /// general admission.
    pub seat_labels: SeatLabels,
    /// The base price of one place (> 0).
    pub base_price: Money,
}

/// Where a show is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ShowStatus {
    /// Created, not yet public.
    Draft,
    /// Public, sales not open.
    Published,
    /// Tickets can be bought.
    SalesOpen,
    /// Sales paused.
    SalesClosed,
    /// The show started.
    Completed,
    /// The organizer cancelled it.
    Cancelled,
}

/// What can be asked of a show.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ShowCommand {
    /// Create the show (organizer; the actor becomes its organizer).
    Create {
        /// The show's id (names the stream).
        show: ShowId,
        /// 1..=200 characters after trimming.
        name: String,
        /// Strictly after `now`.
        start_at: Timestamp,
        /// At least one.
        sections: Vec<SectionSpec>,
    },
    /// `Draft → Published` (its organizer).
    Publish,
    /// `Published | SalesClosed → SalesOpen`, before the start (its organizer).
    OpenSales,
    /// `SalesOpen → SalesClosed` (its organizer).
    CloseSales,
    /// Cancel while `start − now ≥ 24 h` (its organizer).
    Cancel,
    /// The start timer fired (system).
    Start,
}

/// What happened to a show.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ShowEvent {
    /// The show exists, in `Draft`.
    Created {
        /// Its id.
        show: ShowId,
        /// Its organizer.
        organizer: OrganizerId,
        /// Its trimmed name.
        name: String,
        /// When it starts.
        start_at: Timestamp,
        /// Its sections.
        sections: Vec<SectionSpec>,
    },
    /// `→ Published`.
    Published,
    /// `→ SalesOpen`.
    SalesOpened,
    /// `→ SalesClosed`.
    SalesClosed,
    /// `→ Completed` (the start).
    Completed,
    /// `→ Cancelled`.
    Cancelled,
}

/// Why a show command was refused.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum ShowError {
    /// A rejection every aggregate shares: time going backwards, a reused command id,
    /// or the wrong kind of actor.
    #[error(transparent)]
    Guard(#[from] GuardError),
    /// Only the organizer who created the show may change it.
    #[error("only the show's organizer may change it")]
    NotShowOrganizer,
    /// The show does not exist yet.
    #[error("no such show")]
    ShowNotFound,
    /// `Create` on an existing show.
    #[error("the show already exists")]
    ShowAlreadyExists,
    /// The name is empty or longer than 200 characters after trimming.
    #[error("the name must be 1 to 200 characters after trimming")]
    InvalidName,
    /// `start_at ≤ now`.
    #[error("the show must start after now")]
    StartNotInFuture,
    /// No sections.
    #[error("a show needs at least one section")]
    NoSections,
    /// More than [`SECTIONS_MAX`] sections.
    #[error("too many sections")]
    TooManySections,
    /// A section is malformed.
    #[error("section {index} is invalid: {problem}")]
    InvalidSection {
        /// Its position.
        index: u32,
        /// What is wrong.
        problem: SectionProblem,
    },
    /// The command does not apply in this state.
    #[error("not allowed while the show is {status:?}")]
    NotAllowedInStatus {
        /// The current status.
        status: ShowStatus,
    },
    /// Sales cannot open at or after the start.
    #[error("the show has started")]
    ShowStarted,
    /// Cancellation needs `start − now ≥ 24 h`.
    #[error("too close to the show's start")]
    TooCloseToShow,
}

/// What the order and ticket services need to know about a show.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ShowTerms {
    /// The show.
    pub show: ShowId,
    /// The show's stream version these terms reflect.
    pub version: u64,
    /// Its organizer.
    pub organizer: OrganizerId,
    /// When it starts.
    pub start_at: Timestamp,
    /// Its status.
    pub status: ShowStatus,
    /// Per section: kind, capacity and base price.
    pub sections: Vec<SectionTerms>,
}

/// One section's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SectionTerms {
    /// Numbered or general admission.
    pub kind: SectionKind,
    /// How many places.
    pub capacity: u32,
    /// Base price of one place.
    pub base_price: Money,
}

/// The order service's view of every show: the newest terms it heard of, by version.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowCatalog {
    shows: BTreeMap<ShowId, ShowTerms>,
}

impl ShowCatalog {
    /// An empty catalog.
    pub fn new() -> ShowCatalog {
        ShowCatalog::default()
    }

    /// Take in `terms` unless newer ones are known (notices may arrive reordered).
    pub fn observe(&mut self, terms: ShowTerms) {
        match self.shows.get(&terms.show) {
            Some(known) if known.version >= terms.version => {}
            _ => {
                self.shows.insert(terms.show, terms);
            }
        }
    }

    /// The terms of `show`, if known.
    pub fn terms(&self, show: ShowId) -> Option<&ShowTerms> {
        self.shows.get(&show)
    }
}

/// The state of one show.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Show {
    /// Version, last `now`, idempotency records.
    pub journal: Journal,
    /// `None` until created.
    pub details: Option<ShowDetails>,
}

/// A created show.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShowDetails {
    /// Its id.
    pub show: ShowId,
    /// Its organizer.
    pub organizer: OrganizerId,
    /// Its trimmed name.
    pub name: String,
    /// When it starts.
    pub start_at: Timestamp,
    /// Its sections.
    pub sections: Vec<SectionSpec>,
    /// Where it is.
    pub status: ShowStatus,
}

impl ShowDetails {
    /// The venue's capacity: the sum of its sections' capacities.
    pub fn venue_capacity(&self) -> u64 {
        self.sections
            .iter()
            .map(|spec| u64::from(spec.capacity))
            .sum()
    }
}

impl Show {
    /// The status, if created.
    pub fn status(&self) -> Option<ShowStatus> {
        self.details.as_ref().map(|details| details.status)
    }

    /// The terms to publish, if created.
    pub fn terms(&self) -> Option<ShowTerms> {
        let details = self.details.as_ref()?;
        Some(ShowTerms {
            show: details.show,
            version: self.journal.version,
            organizer: details.organizer,
            start_at: details.start_at,
            status: details.status,
            sections: details
                .sections
                .iter()
                .map(|spec| SectionTerms {
                    kind: spec.kind,
                    capacity: spec.capacity,
                    base_price: spec.base_price,
                })
                .collect(),
        })
    }

    fn validate_create(
        now: Timestamp,
        name: &str,
        start_at: Timestamp,
        sections: &[SectionSpec],
    ) -> Result<(), ShowError> {
        let trimmed = name.trim();
        let chars = trimmed.chars().count();
        if chars == 0 || chars > NAME_CHARS_MAX {
            return Err(ShowError::InvalidName);
        }
        if start_at <= now {
            return Err(ShowError::StartNotInFuture);
        }
        if sections.is_empty() {
            return Err(ShowError::NoSections);
        }
        if sections.len() > SECTIONS_MAX {
            return Err(ShowError::TooManySections);
        }
        for (index, spec) in sections.iter().enumerate() {
            validate_section(spec).map_err(|problem| ShowError::InvalidSection {
                index: index as u32,
                problem,
            })?;
        }
        Ok(())
    }

    fn effects_of(&self, event: &Recorded<ShowEvent>) -> Effects {
        let mut next = self.clone();
        next.apply(event);
        let mut effects = Effects::new();
        let Some(details) = next.details.as_ref() else {
            return effects;
        };
        let show = details.show;
        let version = next.journal.version;
        let sections = (0..details.sections.len() as u32).map(|index| SectionKey {
            show,
            section: SectionIndex(index),
        });
        let phase = match &event.event {
            ShowEvent::Created { .. } => {
                effects.push(Effect::Arm(ArmedTimer {
                    timer: Timer::ShowStart { show },
                    at: details.start_at,
                }));
                for (key, spec) in sections.zip(&details.sections) {
                    effects.push(Effect::Send(Message::Inventory {
                        section: key,
                        id: CommandId::derive(&[
                            tag::INVENTORY_INIT,
                            show.0,
                            u64::from(key.section.0),
                        ]),
                        body: InventoryCommand::Initialize {
                            section: key,
                            organizer: details.organizer,
                            start_at: details.start_at,
                            spec: spec.clone(),
                        },
                    }));
                }
                None
            }
            ShowEvent::Published => None,
            ShowEvent::SalesOpened => Some(SalesPhase::Open),
            ShowEvent::SalesClosed => Some(SalesPhase::Closed),
            ShowEvent::Completed => Some(SalesPhase::Ended),
            ShowEvent::Cancelled => {
                effects.push(Effect::Disarm(Timer::ShowStart { show }));
                Some(SalesPhase::Ended)
            }
        };
        if let Some(phase) = phase {
            for key in (0..details.sections.len() as u32).map(|index| SectionKey {
                show,
                section: SectionIndex(index),
            }) {
                effects.push(Effect::Send(Message::Inventory {
                    section: key,
                    id: CommandId::derive(&[
                        tag::INVENTORY_PHASE,
                        show.0,
                        version,
                        u64::from(key.section.0),
                    ]),
                    body: InventoryCommand::SetPhase {
                        show_version: version,
                        phase,
                    },
                }));
            }
        }
        if let Some(terms) = next.terms() {
            effects.push(Effect::Notify(Notice::ShowTerms(terms)));
        }
        if matches!(event.event, ShowEvent::Cancelled) {
            effects.push(Effect::Notify(Notice::ShowCancelled(show)));
        }
        effects
    }
}

impl Aggregate for Show {
    type Command = ShowCommand;
    type Event = ShowEvent;
    type Error = ShowError;
    type Context = ();

    fn decide(
        &self,
        _context: &(),
        command: &Envelope<ShowCommand>,
    ) -> Result<Decision<ShowEvent>, ShowError> {
        let fingerprint = match self.journal.admit(command)? {
            Admission::Repeat { version } => return Ok(Decision::Repeat { version }),
            Admission::Fresh { fingerprint } => fingerprint,
        };
        let now = command.now;
        let event = match (&command.body, self.details.as_ref()) {
            (
                ShowCommand::Create {
                    show,
                    name,
                    start_at,
                    sections,
                },
                None,
            ) => {
                let Actor::Organizer(organizer) = command.actor else {
                    return Err(ShowError::Guard(GuardError::NotAuthorized {
                        actor: command.actor,
                    }));
                };
                Show::validate_create(now, name, *start_at, sections)?;
                ShowEvent::Created {
                    show: *show,
                    organizer,
                    name: name.trim().to_owned(),
                    start_at: *start_at,
                    sections: sections.clone(),
                }
            }
            (ShowCommand::Create { .. }, Some(_)) => return Err(ShowError::ShowAlreadyExists),
            (ShowCommand::Start, None) => return Err(ShowError::ShowNotFound),
            (ShowCommand::Start, Some(details)) => {
                if command.actor != Actor::System {
                    return Err(ShowError::Guard(GuardError::NotAuthorized {
                        actor: command.actor,
                    }));
                }
                // A timer that fires early, or after the end, changes nothing.
                if now < details.start_at
                    || matches!(
                        details.status,
                        ShowStatus::Completed | ShowStatus::Cancelled
                    )
                {
                    return Ok(Decision::Ignored);
                }
                ShowEvent::Completed
            }
            (_, None) => return Err(ShowError::ShowNotFound),
            (body, Some(details)) => {
                match command.actor {
                    Actor::Organizer(organizer) if organizer == details.organizer => {}
                    Actor::Organizer(_) => return Err(ShowError::NotShowOrganizer),
                    actor => return Err(ShowError::Guard(GuardError::NotAuthorized { actor })),
                }
                let status = details.status;
                let not_allowed = ShowError::NotAllowedInStatus { status };
                match body {
                    ShowCommand::Publish if status == ShowStatus::Draft => ShowEvent::Published,
                    ShowCommand::OpenSales
                        if matches!(status, ShowStatus::Published | ShowStatus::SalesClosed) =>
                    {
                        if now >= details.start_at {
                            return Err(ShowError::ShowStarted);
                        }
                        ShowEvent::SalesOpened
                    }
                    ShowCommand::CloseSales if status == ShowStatus::SalesOpen => {
                        ShowEvent::SalesClosed
                    }
                    ShowCommand::Cancel
                        if !matches!(status, ShowStatus::Completed | ShowStatus::Cancelled) =>
                    {
                        if !before_change_cutoff(now, details.start_at) {
                            return Err(ShowError::TooCloseToShow);
                        }
                        ShowEvent::Cancelled
                    }
                    _ => return Err(not_allowed),
                }
            }
        };
        let event = recorded(command, fingerprint, event);
        let effects = self.effects_of(&event);
        Ok(Decision::Accepted { event, effects })
    }

    fn apply(&mut self, event: &Recorded<ShowEvent>) {
        self.journal.record(event);
        let status = match &event.event {
            ShowEvent::Created {
                show,
                organizer,
                name,
                start_at,
                sections,
            } => {
                self.details = Some(ShowDetails {
                    show: *show,
                    organizer: *organizer,
                    name: name.clone(),
                    start_at: *start_at,
                    sections: sections.clone(),
                    status: ShowStatus::Draft,
                });
                return;
            }
            ShowEvent::Published => ShowStatus::Published,
            ShowEvent::SalesOpened => ShowStatus::SalesOpen,
            ShowEvent::SalesClosed => ShowStatus::SalesClosed,
            ShowEvent::Completed => ShowStatus::Completed,
            ShowEvent::Cancelled => ShowStatus::Cancelled,
        };
        if let Some(details) = self.details.as_mut() {
            details.status = status;
        }
    }

    fn timers(&self) -> Vec<ArmedTimer> {
        match self.details.as_ref() {
            Some(details)
                if !matches!(
                    details.status,
                    ShowStatus::Completed | ShowStatus::Cancelled
                ) =>
            {
                vec![ArmedTimer {
                    timer: Timer::ShowStart { show: details.show },
                    at: details.start_at,
                }]
            }
            _ => Vec::new(),
        }
    }

    fn version(&self) -> u64 {
        self.journal.version
    }
}
