//! Show rules of SPEC.md: creation checks, the state machine, sales only before the
//! start, the 24-hour cancellation cut-off, who may do what, time and idempotency.

use super::support::{Host, ORGANIZER, Outcome, STRANGER, T0, general, numbered, strings};
use turnstile_core::GuardError;
use turnstile_core::inventory::SectionProblem;
use turnstile_core::inventory::seating::LayoutProblem;
use turnstile_core::show::{
    SectionKind, SectionSpec, Show, ShowCommand, ShowError, ShowEvent, ShowStatus,
};
use turnstile_core::time::{DAY_MS, HOUR_MS};
use turnstile_core::{Actor, CommandId, CustomerId, ShowId, Timestamp};

const START: Timestamp = Timestamp(T0.0 + 10 * DAY_MS);

fn create(name: &str, start_at: Timestamp, sections: Vec<SectionSpec>) -> ShowCommand {
    ShowCommand::Create {
        show: ShowId(1),
        name: name.to_owned(),
        start_at,
        sections,
    }
}

fn by_organizer(
    host: &mut Host<Show>,
    now: Timestamp,
    body: ShowCommand,
) -> Outcome<ShowEvent, ShowError> {
    host.send(&(), Actor::Organizer(ORGANIZER), now, body)
}

fn created() -> Host<Show> {
    let mut host = Host::<Show>::default();
    by_organizer(
        &mut host,
        T0,
        create("Gala", START, vec![general(10, 1_000)]),
    )
    .new_event();
    host
}

fn status(host: &Host<Show>) -> ShowStatus {
    host.state().status().unwrap()
}

#[test]
fn a_show_name_is_one_to_two_hundred_characters_after_trimming() {
    // Pins down: a blank name or one of 201 characters after trimming is InvalidName; 1 and 200 characters (multi-byte too) are kept, trimmed.
    for name in [
        "",
        "   ",
        &"x".repeat(201),
        &format!("  {}  ", "é".repeat(201)),
    ] {
        let mut host = Host::<Show>::default();
        assert_eq!(
            by_organizer(&mut host, T0, create(name, START, vec![general(1, 1)])).rejection(),
            ShowError::InvalidName,
            "{name:?}"
        );
    }
    for (name, kept) in [
        ("  a ".to_owned(), "a".to_owned()),
        (format!(" {} ", "é".repeat(200)), "é".repeat(200)),
    ] {
        let mut host = Host::<Show>::default();
        by_organizer(&mut host, T0, create(&name, START, vec![general(1, 1)])).new_event();
        assert_eq!(host.state().details.as_ref().unwrap().name, kept);
    }
}

#[test]
fn a_show_starts_strictly_after_now() {
    // Pins down: start_at = now is StartNotInFuture; now + 1 ms is accepted.
    let mut host = Host::<Show>::default();
    assert_eq!(
        by_organizer(&mut host, T0, create("Gala", T0, vec![general(1, 1)])).rejection(),
        ShowError::StartNotInFuture
    );
    assert!(
        by_organizer(
            &mut host,
            T0,
            create("Gala", T0.plus(1), vec![general(1, 1)])
        )
        .is_new()
    );
}

#[test]
fn every_section_is_well_formed_and_priced() {
    // Pins down: at least one section; capacity ≥ 1; base price > 0; numbered sections list exactly `capacity` distinct ROW-SEAT labels, general admission none.
    let mut no_labels = numbered(&[("A", 2)], 1_000);
    no_labels.seat_labels = no_labels.seat_labels[..1].to_vec().into();
    let mut duplicate = numbered(&[("A", 2)], 1_000);
    duplicate.seat_labels = strings(&["A-1", "A-1"]).into();
    let mut no_row = numbered(&[("A", 1)], 1_000);
    no_row.seat_labels = strings(&["A1"]).into();
    let mut labelled_floor = general(1, 1_000);
    labelled_floor.seat_labels = strings(&["A-1"]).into();
    let cases: Vec<(Vec<SectionSpec>, ShowError)> = vec![
        (Vec::new(), ShowError::NoSections),
        (
            vec![general(0, 1_000)],
            ShowError::InvalidSection {
                index: 0,
                problem: SectionProblem::ZeroCapacity,
            },
        ),
        (
            vec![general(1, 1_000), general(1, 0)],
            ShowError::InvalidSection {
                index: 1,
                problem: SectionProblem::ZeroPrice,
            },
        ),
        (
            vec![no_labels],
            ShowError::InvalidSection {
                index: 0,
                problem: SectionProblem::SeatCountMismatch {
                    listed: 1,
                    capacity: 2,
                },
            },
        ),
        (
            vec![duplicate],
            ShowError::InvalidSection {
                index: 0,
                problem: SectionProblem::Layout(LayoutProblem::DuplicateSeatLabel {
                    label: "A-1".to_owned(),
                }),
            },
        ),
        (
            vec![no_row],
            ShowError::InvalidSection {
                index: 0,
                problem: SectionProblem::Layout(LayoutProblem::InvalidSeatLabel {
                    label: "A1".to_owned(),
                }),
            },
        ),
        (
            vec![labelled_floor],
            ShowError::InvalidSection {
                index: 0,
                problem: SectionProblem::LabelsOnGeneralAdmission,
            },
        ),
    ];
    for (sections, error) in cases {
        let mut host = Host::<Show>::default();
        assert_eq!(
            by_organizer(&mut host, T0, create("Gala", START, sections)).rejection(),
            error
        );
        assert_eq!(host.state().details, None);
    }
    let mut host = Host::<Show>::default();
    let event = by_organizer(
        &mut host,
        T0,
        create(
            "Gala",
            START,
            vec![numbered(&[("A", 2), ("B", 3)], 1_000), general(7, 500)],
        ),
    )
    .new_event();
    let ShowEvent::Created { sections, .. } = event else {
        panic!("created");
    };
    assert_eq!(
        sections.iter().map(|section| section.capacity).sum::<u32>(),
        12,
        "venue capacity"
    );
    assert_eq!(sections[0].kind, SectionKind::Numbered);
    assert_eq!(host.state().details.as_ref().unwrap().venue_capacity(), 12);
}

#[test]
fn the_show_moves_draft_published_sales_open_and_closed_in_order() {
    // Pins down: Draft → Published → SalesOpen ⇄ SalesClosed; any other transition is NotAllowedInStatus.
    let mut host = created();
    assert_eq!(status(&host), ShowStatus::Draft);
    for wrong in [ShowCommand::OpenSales, ShowCommand::CloseSales] {
        assert_eq!(
            by_organizer(&mut host, T0, wrong).rejection(),
            ShowError::NotAllowedInStatus {
                status: ShowStatus::Draft
            }
        );
    }
    by_organizer(&mut host, T0, ShowCommand::Publish).new_event();
    assert!(matches!(
        by_organizer(&mut host, T0, ShowCommand::Publish).rejection(),
        ShowError::NotAllowedInStatus { .. }
    ));
    by_organizer(&mut host, T0, ShowCommand::OpenSales).new_event();
    assert_eq!(status(&host), ShowStatus::SalesOpen);
    by_organizer(&mut host, T0, ShowCommand::CloseSales).new_event();
    assert_eq!(status(&host), ShowStatus::SalesClosed);
    by_organizer(&mut host, T0, ShowCommand::OpenSales).new_event();
    assert_eq!(status(&host), ShowStatus::SalesOpen);
}

#[test]
fn sales_open_only_before_the_start() {
    // Pins down: OpenSales at start − 1 ms is allowed, at the start it is refused.
    let mut host = created();
    by_organizer(&mut host, T0, ShowCommand::Publish).new_event();
    assert_eq!(
        by_organizer(&mut host, START, ShowCommand::OpenSales).rejection(),
        ShowError::ShowStarted
    );
    assert!(by_organizer(&mut host, Timestamp(START.0 - 1), ShowCommand::OpenSales).is_new());
}

#[test]
fn cancellation_needs_twenty_four_hours_before_the_start() {
    // Pins down: Cancel at start − 24 h is allowed, at start − 24 h + 1 ms it is TooCloseToShow.
    let cutoff = Timestamp(START.0 - 24 * HOUR_MS);
    let mut host = created();
    assert_eq!(
        by_organizer(&mut host, cutoff.plus(1), ShowCommand::Cancel).rejection(),
        ShowError::TooCloseToShow
    );
    assert_eq!(status(&host), ShowStatus::Draft);
    let mut host = created();
    by_organizer(&mut host, cutoff, ShowCommand::Cancel).new_event();
    assert_eq!(status(&host), ShowStatus::Cancelled);
}

#[test]
fn the_start_completes_any_show_but_a_cancelled_one() {
    // Pins down: the start timer completes a show from Draft, Published, SalesOpen or SalesClosed, never a cancelled one, never early; nothing follows Completed.
    let prepare: [&[ShowCommand]; 4] = [
        &[],
        &[ShowCommand::Publish],
        &[ShowCommand::Publish, ShowCommand::OpenSales],
        &[
            ShowCommand::Publish,
            ShowCommand::OpenSales,
            ShowCommand::CloseSales,
        ],
    ];
    for steps in prepare {
        let mut host = created();
        for step in steps {
            by_organizer(&mut host, T0, step.clone()).new_event();
        }
        assert_eq!(
            host.send(
                &(),
                Actor::System,
                Timestamp(START.0 - 1),
                ShowCommand::Start
            ),
            Outcome::Ignored
        );
        host.send(&(), Actor::System, START, ShowCommand::Start)
            .new_event();
        assert_eq!(status(&host), ShowStatus::Completed, "after {steps:?}");
        for after in [
            ShowCommand::Cancel,
            ShowCommand::OpenSales,
            ShowCommand::Publish,
        ] {
            assert_eq!(
                by_organizer(&mut host, START, after).rejection(),
                ShowError::NotAllowedInStatus {
                    status: ShowStatus::Completed
                }
            );
        }
        assert_eq!(status(&host), ShowStatus::Completed);
    }
    let mut host = created();
    by_organizer(&mut host, T0, ShowCommand::Cancel).new_event();
    assert_eq!(
        host.send(&(), Actor::System, START, ShowCommand::Start),
        Outcome::Ignored
    );
    assert_eq!(status(&host), ShowStatus::Cancelled);
}

#[test]
fn only_the_creating_organizer_changes_a_show_and_only_the_system_starts_it() {
    // Pins down: authorization per actor: another organizer is NotShowOrganizer; customers, services and the system may not publish, open, close or cancel; only the system sends Start; only an organizer creates.
    let mut host = Host::<Show>::default();
    for actor in [
        Actor::Customer(CustomerId(1)),
        Actor::Service,
        Actor::System,
    ] {
        assert_eq!(
            host.send(&(), actor, T0, create("Gala", START, vec![general(1, 1)]))
                .rejection(),
            ShowError::Guard(GuardError::NotAuthorized { actor })
        );
    }
    let mut host = created();
    for body in [
        ShowCommand::Publish,
        ShowCommand::OpenSales,
        ShowCommand::CloseSales,
        ShowCommand::Cancel,
    ] {
        assert_eq!(
            host.send(&(), Actor::Organizer(STRANGER), T0, body.clone())
                .rejection(),
            ShowError::NotShowOrganizer
        );
        for actor in [
            Actor::Customer(CustomerId(1)),
            Actor::Service,
            Actor::System,
        ] {
            assert_eq!(
                host.send(&(), actor, T0, body.clone()).rejection(),
                ShowError::Guard(GuardError::NotAuthorized { actor })
            );
        }
    }
    for actor in [Actor::Organizer(ORGANIZER), Actor::Service] {
        assert_eq!(
            host.send(&(), actor, START, ShowCommand::Start).rejection(),
            ShowError::Guard(GuardError::NotAuthorized { actor })
        );
    }
    assert_eq!(status(&host), ShowStatus::Draft);
}

#[test]
fn time_never_goes_backwards_for_a_show() {
    // Pins down: a command stamped before the show's last recorded `now` is TimeWentBackwards and changes nothing.
    let mut host = created();
    let later = T0.plus(HOUR_MS);
    by_organizer(&mut host, later, ShowCommand::Publish).new_event();
    assert_eq!(
        by_organizer(&mut host, T0, ShowCommand::OpenSales).rejection(),
        ShowError::Guard(GuardError::TimeWentBackwards {
            now: T0,
            last: later
        })
    );
    assert_eq!(status(&host), ShowStatus::Published);
}

#[test]
fn the_same_show_command_id_repeats_or_conflicts() {
    // Pins down: the same id and content is answered with the original event and adds none; the same id with another body or actor is IdempotencyConflict.
    let mut host = created();
    let id = CommandId(77);
    let actor = Actor::Organizer(ORGANIZER);
    let first = host
        .send_with_id(&(), id, actor, T0, ShowCommand::Publish)
        .new_event();
    let version = host.state().journal.version;
    assert_eq!(
        host.send_with_id(&(), id, actor, T0.plus(1), ShowCommand::Publish),
        Outcome::Repeat(first)
    );
    assert_eq!(host.state().journal.version, version);
    assert_eq!(
        host.send_with_id(&(), id, actor, T0, ShowCommand::OpenSales)
            .rejection(),
        ShowError::Guard(GuardError::IdempotencyConflict { command: id })
    );
    assert_eq!(
        host.send_with_id(
            &(),
            id,
            Actor::Organizer(STRANGER),
            T0,
            ShowCommand::Publish
        )
        .rejection(),
        ShowError::Guard(GuardError::IdempotencyConflict { command: id })
    );
    assert_eq!(status(&host), ShowStatus::Published);
}

#[test]
fn a_show_may_have_as_many_sections_as_the_limit_and_not_one_more() {
    // Pins down (found by mutation testing): SECTIONS_MAX sections are accepted, one more is TooManySections.
    use turnstile_core::show::SECTIONS_MAX;
    let sections = |count: usize| vec![general(1, 1_000); count];
    let mut host = Host::<Show>::default();
    assert_eq!(
        by_organizer(
            &mut host,
            T0,
            create("Gala", START, sections(SECTIONS_MAX + 1))
        )
        .rejection(),
        ShowError::TooManySections
    );
    let ShowEvent::Created { sections, .. } =
        by_organizer(&mut host, T0, create("Gala", START, sections(SECTIONS_MAX))).new_event()
    else {
        panic!("a show is created first");
    };
    assert_eq!(sections.len(), SECTIONS_MAX);
}
