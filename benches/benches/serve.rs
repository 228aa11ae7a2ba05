//! The host on the real server's durable log: an inventory `Host` handling commands
//! whose records `turnstile-serve`'s SQLite store appends (WAL, `synchronous=FULL`),
//! read as appends per second.
//!
//! - `sqlite_log/group_commit_64`: 64 commands (32 reserve + release pairs, each an
//!   append), then one commit — what a busy round of `serve` does;
//! - `sqlite_log/commit_each`: a commit after every append — what a server without
//!   group commit would pay.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use turnstile_core::inventory::{InventoryCommand, SalesPhase};
use turnstile_core::show::{SectionKind, SectionSpec};
use turnstile_core::{
    CommandId, Message, Money, OrderId, OrganizerId, SectionIndex, SectionKey, ShowId, Timestamp,
};
use turnstile_host::{Host, HostConfig, HostTimer, Msg, Output, Peer, Service};
use turnstile_serve::store::{self, Durability, Store};

const NOW: Timestamp = Timestamp(1_767_225_600_000);
const SECTION: SectionKey = SectionKey {
    show: ShowId(1),
    section: SectionIndex(0),
};

fn command(id: u64, body: InventoryCommand) -> Msg {
    Msg::Command {
        msg: Message::Inventory {
            section: SECTION,
            id: CommandId::derive(&[id]),
            body,
        },
        claimed: None,
    }
}

/// A started inventory host with sales open, on a fresh SQLite store.
struct Bench {
    _dir: tempfile::TempDir,
    store: Store,
    host: Host,
    next: u64,
}

impl Bench {
    fn new() -> Bench {
        let dir = tempfile::tempdir().expect("a temp dir");
        let conn = store::open_writer(dir.path(), Durability::Full).expect("the store opens");
        let mut bench = Bench {
            _dir: dir,
            store: Store::new(conn),
            host: Host::new(Service::Inventory(SECTION), HostConfig::default()),
            next: 1,
        };
        bench.host.start(NOW);
        let initialize = InventoryCommand::Initialize {
            section: SECTION,
            organizer: OrganizerId(1),
            start_at: Timestamp(NOW.0 + 40 * 86_400_000),
            spec: SectionSpec {
                name: "Floor".to_owned(),
                kind: SectionKind::GeneralAdmission,
                capacity: 100,
                seat_labels: Default::default(),
                base_price: Money(5_000),
            },
        };
        let open = InventoryCommand::SetPhase {
            show_version: 3,
            phase: SalesPhase::Open,
        };
        bench.handle(command(1, initialize));
        bench.handle(command(2, open));
        bench.store.commit().expect("commit");
        bench
    }

    /// Hands a command to the host and appends its records; returns how many.
    fn handle(&mut self, msg: Msg) -> u64 {
        self.host
            .handle_message(NOW, Peer::Service(Service::Orders), msg);
        self.host.handle_timer(NOW, HostTimer::Flush);
        let mut appended = 0;
        for output in self.host.outputs() {
            if let Output::Append(entry) = output {
                self.store
                    .append(Service::Inventory(SECTION), &entry)
                    .expect("append");
                appended += 1;
            }
        }
        appended
    }

    /// A reserve for a fresh order, then its release: one append each.
    fn reserve_release(&mut self, commit_each: bool) -> u64 {
        let order = OrderId(self.next);
        self.next += 1;
        let reserve = InventoryCommand::Reserve {
            order,
            quantity: 1,
            seats: None,
            initiated_at: NOW,
            expires_at: Timestamp(NOW.0 + 300_000),
        };
        let mut appended = self.handle(command(2 * order.0 + 10, reserve));
        if commit_each {
            self.store.commit().expect("commit");
        }
        appended += self.handle(command(
            2 * order.0 + 11,
            InventoryCommand::Release { order },
        ));
        if commit_each {
            self.store.commit().expect("commit");
        }
        appended
    }
}

fn sqlite_log(c: &mut Criterion) {
    let mut group = c.benchmark_group("sqlite_log");
    group.sample_size(10);
    let mut bench = Bench::new();
    group.throughput(Throughput::Elements(64));
    group.bench_function("group_commit_64", |b| {
        b.iter(|| {
            let mut appended = 0;
            while appended < 64 {
                appended += bench.reserve_release(false);
            }
            bench.store.commit().expect("commit");
        })
    });
    let mut bench = Bench::new();
    group.throughput(Throughput::Elements(2));
    group.bench_function("commit_each", |b| b.iter(|| bench.reserve_release(true)));
    group.finish();
}

criterion_group!(benches, sqlite_log);
criterion_main!(benches);
