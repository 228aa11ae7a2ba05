//! The host's contract, tested with a tiny driver: one general-admission section's
//! inventory, fed the saga's messages by hand, with a log kept as a list of records.

use std::rc::Rc;

use turnstile_core::inventory::{InventoryCommand, SalesPhase};
use turnstile_core::show::{SectionKind, SectionSpec};
use turnstile_core::{
    CommandId, Message, Money, OrderId, OrganizerId, SectionIndex, SectionKey, ShowId, Timer,
    Timestamp,
};

use crate::record::{self, FrameError};
use crate::{Entry, Host, HostConfig, HostTimer, Msg, Note, Output, Peer, Service};

const NOW: Timestamp = Timestamp(1_767_225_600_000);
const SECTION: SectionKey = SectionKey {
    show: ShowId(1),
    section: SectionIndex(0),
};
const MINUTE_MS: u64 = 60_000;

/// What a driver saw of the host's outputs, and the log it keeps.
#[derive(Default)]
struct Driver {
    log: Vec<Rc<Entry>>,
    synced: usize,
    /// Messages to services, in the order they left, with how many records were durable
    /// when each left.
    sent: Vec<(Service, Msg, usize)>,
    armed: Vec<(HostTimer, Timestamp)>,
    notes: Vec<Note>,
}

impl Driver {
    fn drain(&mut self, host: &mut Host) {
        for output in host.outputs() {
            match output {
                Output::Append(entry) => self.log.push(entry),
                Output::Sync => self.synced = self.log.len(),
                Output::Send { to, msg } => self.sent.push((to, *msg, self.synced)),
                Output::Arm { timer, at } => self.armed.push((timer, at)),
                Output::Note(note) => self.notes.push(note),
                Output::Reply { .. } | Output::Gateway(_) | Output::Cancel(_) => {}
            }
        }
    }

    /// Fires the flush timer the host armed: the group commit.
    fn flush(&mut self, host: &mut Host, now: Timestamp) {
        host.handle_timer(now, HostTimer::Flush);
        self.drain(host);
    }
}

fn inventory(id: u64, body: InventoryCommand) -> Msg {
    Msg::Command {
        msg: Message::Inventory {
            section: SECTION,
            id: CommandId::derive(&[id]),
            body,
        },
        claimed: None,
    }
}

fn initialize() -> Msg {
    inventory(
        1,
        InventoryCommand::Initialize {
            section: SECTION,
            organizer: OrganizerId(1),
            start_at: Timestamp(NOW.0 + 40 * 24 * 60 * MINUTE_MS),
            spec: SectionSpec {
                name: "Floor".to_owned(),
                kind: SectionKind::GeneralAdmission,
                capacity: 10,
                seat_labels: Default::default(),
                base_price: Money(5_000),
            },
        },
    )
}

fn open_sales() -> Msg {
    inventory(
        2,
        InventoryCommand::SetPhase {
            show_version: 3,
            phase: SalesPhase::Open,
        },
    )
}

fn reserve(order: u64) -> Msg {
    inventory(
        10 + order,
        InventoryCommand::Reserve {
            order: OrderId(order),
            quantity: 2,
            seats: None,
            initiated_at: NOW,
            expires_at: Timestamp(NOW.0 + 5 * MINUTE_MS),
        },
    )
}

/// A section's inventory host at its first start, and a driver with nothing seen yet.
fn started() -> (Host, Driver) {
    let service = Service::Inventory(SECTION);
    let mut host = Host::rebuild(service, HostConfig::default(), &[], None);
    host.start(NOW);
    (host, Driver::default())
}

/// A started inventory host with sales open and one hold, its records synced.
fn host_with_a_hold() -> (Host, Driver) {
    let (mut host, mut driver) = started();
    for msg in [initialize(), open_sales(), reserve(7)] {
        host.handle_message(NOW, Peer::Service(Service::Shows), msg);
        driver.drain(&mut host);
    }
    driver.flush(&mut host, Timestamp(NOW.0 + 20));
    (host, driver)
}

fn hold_expiry(order: u64) -> Timer {
    Timer::HoldExpiry {
        section: SECTION,
        order: OrderId(order),
    }
}

#[test]
fn a_message_is_not_sent_before_its_record_is_synced() {
    // Nothing a decision causes leaves the host until the record holding it is durable.
    let (mut host, mut driver) = started();
    host.handle_message(NOW, Peer::Service(Service::Shows), initialize());
    driver.drain(&mut host);
    assert_eq!(driver.log.len(), 1, "one append");
    assert_eq!(driver.synced, 0);
    assert!(
        driver.sent.is_empty(),
        "nothing leaves before the sync: {:?}",
        driver.sent
    );
    assert!(
        driver
            .armed
            .iter()
            .any(|(timer, at)| *timer == HostTimer::Flush && at.0 == NOW.0 + 20),
        "the append armed the group commit"
    );
    driver.flush(&mut host, Timestamp(NOW.0 + 20));
    assert!(
        !driver.sent.is_empty(),
        "the sync lets the ack and publication out"
    );
    for (to, msg, synced) in &driver.sent {
        assert_eq!(
            *synced, 1,
            "{msg:?} to {to:?} left before its record was durable"
        );
    }
}

#[test]
fn a_duplicate_is_dropped_and_acknowledged() {
    // A service message whose id the log holds changes nothing and is acknowledged again.
    let (mut host, mut driver) = host_with_a_hold();
    let records = driver.log.len();
    driver.sent.clear();
    host.handle_message(NOW, Peer::Service(Service::Orders), reserve(7));
    driver.drain(&mut host);
    assert_eq!(driver.log.len(), records, "a duplicate appends nothing");
    assert_eq!(driver.notes, vec![Note::DuplicateDropped]);
    let id = CommandId::derive(&[17]);
    assert!(
        matches!(&driver.sent[..], [(Service::Orders, Msg::Ack(acked), _)] if *acked == id),
        "acknowledged to its sender: {:?}",
        driver.sent
    );
}

#[test]
fn a_restart_resends_the_outbox_and_rearms_every_timer_the_log_implies() {
    // Rebuilt from its records alone, the host holds what it held, re-arms the hold's
    // expiry and resends every unacknowledged message.
    let (host, driver) = host_with_a_hold();
    let outbox: Vec<(Service, CommandId)> = host.outbox().collect();
    assert!(!outbox.is_empty(), "the answer and publications await acks");
    let mut restarted = Host::rebuild(host.service(), HostConfig::default(), &driver.log, None);
    let mut after = Driver::default();
    restarted.start(Timestamp(NOW.0 + MINUTE_MS));
    after.drain(&mut restarted);
    assert!(restarted.aggregates().eq(host.aggregates()));
    assert_eq!(restarted.consumed(), host.consumed());
    let expiry = (hold_expiry(7), Timestamp(NOW.0 + 5 * MINUTE_MS));
    assert!(
        after.armed.iter().any(|(timer, at)| *timer
            == HostTimer::Core {
                timer: expiry.0,
                at: expiry.1
            }
            && *at == expiry.1),
        "the hold's expiry is re-armed: {:?}",
        after.armed
    );
    assert_eq!(restarted.armed_timers().collect::<Vec<_>>(), vec![expiry]);
    let resent: Vec<(Service, CommandId)> = after
        .sent
        .iter()
        .map(|(to, msg, _)| (*to, msg.outbox_id().expect("an outbox message")))
        .collect();
    assert_eq!(resent, outbox, "every unacknowledged message is resent");
}

#[test]
fn an_acknowledged_message_is_not_resent_after_a_restart_once_logged() {
    // An acknowledgement rides on the next append; after it, a restart does not resend.
    let (mut host, mut driver) = host_with_a_hold();
    let (to, id) = host.outbox().next().expect("an outbox message");
    host.handle_message(NOW, Peer::Service(to), Msg::Ack(id));
    host.handle_message(NOW, Peer::Service(Service::Orders), reserve(8));
    driver.drain(&mut host);
    driver.flush(&mut host, Timestamp(NOW.0 + 40));
    let restarted = Host::rebuild(host.service(), HostConfig::default(), &driver.log, None);
    assert!(!restarted.outbox().any(|key| key == (to, id)));
}

#[test]
fn a_torn_record_at_the_tail_is_dropped_and_nothing_after_it_is_trusted() {
    // Frames carry a checksum and a sequence number: a torn one ends the log.
    let (_, driver) = host_with_a_hold();
    let mut frames: Vec<Vec<u8>> = driver
        .log
        .iter()
        .enumerate()
        .map(|(seq, entry)| record::encode(seq as u64, entry))
        .collect();
    let intact = record::read_log(frames.iter().map(Vec::as_slice));
    assert_eq!(intact.entries.len(), driver.log.len());
    assert!(intact.dropped.is_none());
    assert_eq!(*intact.entries[2], *driver.log[2], "a frame round-trips");

    // Tear the second record, and leave an intact third after it.
    let torn = frames[1].len() / 2;
    frames[1].truncate(torn);
    let read = record::read_log(frames.iter().map(Vec::as_slice));
    assert_eq!(
        read.entries.len(),
        1,
        "nothing after a torn record is trusted"
    );
    assert!(matches!(
        read.dropped,
        Some((1, FrameError::Checksum | FrameError::Short { .. }))
    ));

    // A frame out of sequence (a record lost in the middle) ends the log too.
    let skipped = [
        record::encode(0, &driver.log[0]),
        record::encode(2, &driver.log[2]),
    ];
    let read = record::read_log(skipped.iter().map(Vec::as_slice));
    assert_eq!(read.entries.len(), 1);
    assert_eq!(
        read.dropped,
        Some((
            1,
            FrameError::Sequence {
                expected: 1,
                found: 2
            }
        ))
    );

    // The host rebuilt from what survived is the host of that prefix.
    let service = Service::Inventory(SECTION);
    let rebuilt = Host::rebuild(service, HostConfig::default(), &read.entries, None);
    let prefix = Host::rebuild(service, HostConfig::default(), &driver.log[..1], None);
    assert!(rebuilt.aggregates().eq(prefix.aggregates()));
    assert_eq!(rebuilt.consumed(), prefix.consumed());
}

#[test]
fn a_flipped_bit_is_found_and_a_later_format_is_refused() {
    // Corruption fails the checksum; a frame of an unknown format version is not misread.
    let (_, driver) = host_with_a_hold();
    let mut frame = record::encode(0, &driver.log[0]);
    frame[20] ^= 0x10;
    assert_eq!(record::decode(&frame).unwrap_err(), FrameError::Checksum);
    let frame = record::encode_as(record::FORMAT_VERSION + 1, 0, &driver.log[0]);
    assert_eq!(
        record::decode(&frame).unwrap_err(),
        FrameError::Version {
            found: record::FORMAT_VERSION + 1
        }
    );
    // A driver may cut a log at a tear, never at a record another build wrote.
    assert!(FrameError::Checksum.is_tear());
    assert!(!record::decode(&frame).unwrap_err().is_tear());
}

#[test]
fn the_actor_and_time_come_from_the_driver_never_the_body() {
    // A customer cannot send an internal command: the actor is the driver's word.
    let (mut host, mut driver) = started();
    host.handle_message(
        NOW,
        Peer::Customer {
            customer: turnstile_core::CustomerId(3),
            reply_to: crate::ReplyTo(9),
        },
        initialize(),
    );
    driver.drain(&mut host);
    assert!(
        driver.log.is_empty(),
        "a customer's internal command is refused"
    );
    assert!(matches!(driver.notes[..], [Note::Rejected(_)]));
}

#[test]
fn the_stamp_never_goes_back_when_the_clock_does() {
    // A clock that steps back stamps the log's last `now`, not an earlier time.
    let (mut host, mut driver) = host_with_a_hold();
    let last = host.last_now();
    host.handle_message(
        Timestamp(last.0 - 10_000),
        Peer::Service(Service::Orders),
        reserve(8),
    );
    driver.drain(&mut host);
    let crate::Change::Event(published) = &driver.log.last().expect("an entry").change else {
        panic!("an event");
    };
    let turnstile_core::read_models::DomainEvent::Inventory(event) = &published.event else {
        panic!("an inventory event");
    };
    assert_eq!(event.now, last);
}
