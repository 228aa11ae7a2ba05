//! The data directory: one SQLite database (WAL) holding every service's durable log,
//! the read-model tables, and the access tokens.
//!
//! A log record is the host's [`turnstile_host::record`] frame (format version,
//! sequence number, CRC-32) in a row keyed by service and sequence number. Appends go
//! into one open transaction; [`Store::commit`] is the group commit the host's `Sync`
//! asks for: nothing that depends on a record leaves before the commit returned.

use std::path::Path;
use std::rc::Rc;

use rusqlite::{Connection, OptionalExtension, params};
use turnstile_host::record::{self, FrameError};
use turnstile_host::{Entry, Service};

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A service name in the log is not one we know.
    #[error("unknown service in the log: {0}")]
    UnknownService(String),
    /// The data directory could not be made.
    #[error("data directory: {0}")]
    Io(#[from] std::io::Error),
    /// A record is intact but this build cannot read it (another format version, or a
    /// payload that is not an entry): the log is left as it is, not cut short.
    #[error("the log of {service} cannot be read by this build at record {at}: {problem:?}")]
    Unreadable {
        /// The service whose log it is.
        service: String,
        /// The record's position.
        at: usize,
        /// What is wrong with it.
        problem: FrameError,
    },
}

/// How hard a commit waits for the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// `synchronous=FULL`: every commit is on the disk before anything depends on it.
    #[default]
    Full,
    /// `synchronous=NORMAL`: survives a crash of the process, not of the machine.
    Normal,
}

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "turnstile.db";

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS log (
    service TEXT NOT NULL,
    seq INTEGER NOT NULL,
    frame BLOB NOT NULL,
    PRIMARY KEY (service, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    role TEXT NOT NULL,
    id INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rm_streams (
    stream TEXT PRIMARY KEY,
    version INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rm_seats (
    show INTEGER NOT NULL,
    section INTEGER NOT NULL,
    capacity INTEGER NOT NULL,
    available INTEGER NOT NULL,
    reserved INTEGER NOT NULL,
    sold INTEGER NOT NULL,
    blocked INTEGER NOT NULL,
    PRIMARY KEY (show, section)
);
CREATE TABLE IF NOT EXISTS rm_layout (
    show INTEGER NOT NULL,
    section INTEGER NOT NULL,
    seat INTEGER NOT NULL,
    label TEXT NOT NULL,
    row_name TEXT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (show, section, seat)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS rm_sales (
    show INTEGER NOT NULL,
    day TEXT NOT NULL,
    tickets_sold INTEGER NOT NULL,
    revenue INTEGER NOT NULL,
    refunds INTEGER NOT NULL,
    PRIMARY KEY (show, day)
);
CREATE TABLE IF NOT EXISTS rm_shows (
    show INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    start_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS rm_owed (
    payment_kind TEXT NOT NULL,
    payment INTEGER NOT NULL,
    operation TEXT NOT NULL,
    ticket_order INTEGER,
    ticket_index INTEGER,
    amount INTEGER NOT NULL,
    since INTEGER NOT NULL,
    retries INTEGER NOT NULL,
    PRIMARY KEY (payment_kind, payment, operation, ticket_order, ticket_index)
);
CREATE TABLE IF NOT EXISTS rm_history (
    customer INTEGER NOT NULL,
    kind TEXT NOT NULL,
    purchase INTEGER NOT NULL,
    ticket_index INTEGER,
    ticket_order INTEGER,
    show INTEGER NOT NULL,
    status TEXT NOT NULL,
    tickets INTEGER NOT NULL,
    paid INTEGER NOT NULL,
    refunded INTEGER NOT NULL,
    PRIMARY KEY (customer, kind, purchase)
);
";

/// Opens (creating if needed) the database in `dir`.
pub fn open(dir: &Path, durability: Durability) -> Result<Connection, StoreError> {
    std::fs::create_dir_all(dir)?;
    let conn = Connection::open(dir.join(DB_FILE))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let synchronous = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", synchronous)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.execute_batch(SCHEMA)?;
    Ok(conn)
}

/// Opens the driver's connection: like [`open`], but it never checkpoints the WAL
/// itself (a checkpoint inside a commit is a latency spike for every request of that
/// round); [`checkpointer`] does it beside it.
pub fn open_writer(dir: &Path, durability: Durability) -> Result<Connection, StoreError> {
    let conn = open(dir, durability)?;
    conn.pragma_update(None, "wal_autocheckpoint", 0)?;
    Ok(conn)
}

/// Checkpoints the WAL of the database in `dir` every `every` until `stop` is set, on
/// its own connection and thread, off the driver's path.
pub fn checkpointer(
    dir: &Path,
    durability: Durability,
    every: std::time::Duration,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Result<std::thread::JoinHandle<()>, StoreError> {
    let conn = open(dir, durability)?;
    let thread = std::thread::Builder::new()
        .name("turnstile-checkpoint".to_owned())
        .spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                std::thread::sleep(every);
                if let Err(error) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                    tracing::warn!(%error, "checkpoint failed");
                }
            }
        })?;
    Ok(thread)
}

/// A service's log as read back: the intact prefix, and what ended it early.
pub struct Loaded {
    /// The service.
    pub service: Service,
    /// Its intact records, oldest first.
    pub entries: Vec<Rc<Entry>>,
    /// Why reading stopped before the last row (a torn or corrupt record), if it did.
    pub dropped: Option<(usize, FrameError)>,
}

/// The log writer: the driver's connection, one transaction open between commits.
pub struct Store {
    conn: Connection,
    open: bool,
    next_seq: std::collections::BTreeMap<Service, u64>,
    /// Records appended since the last commit.
    pub pending: usize,
}

fn service_key(service: Service) -> String {
    serde_json::to_string(&service).unwrap_or_default()
}

impl Store {
    /// The store over an opened database.
    pub fn new(conn: Connection) -> Store {
        Store {
            conn,
            open: false,
            next_seq: Default::default(),
            pending: 0,
        }
    }

    /// Reads every service's log (the intact prefix of each), and positions the next
    /// sequence numbers after it; a torn tail is deleted so the next append follows the
    /// prefix. A log holding a record of another format version is refused
    /// ([`StoreError::Unreadable`]) and left untouched.
    pub fn load(&mut self) -> Result<Vec<Loaded>, StoreError> {
        let mut services: Vec<String> = Vec::new();
        {
            let mut stmt = self
                .conn
                .prepare("SELECT DISTINCT service FROM log ORDER BY service")?;
            let rows = stmt.query_map([], |row| row.get::<_, String>(0))?;
            for row in rows {
                services.push(row?);
            }
        }
        let mut loaded = Vec::new();
        for key in services {
            let service: Service =
                serde_json::from_str(&key).map_err(|_| StoreError::UnknownService(key.clone()))?;
            let frames: Vec<Vec<u8>> = {
                let mut stmt = self
                    .conn
                    .prepare("SELECT frame FROM log WHERE service = ?1 ORDER BY seq")?;
                let rows = stmt.query_map([&key], |row| row.get::<_, Vec<u8>>(0))?;
                rows.collect::<Result<_, _>>()?
            };
            let read = record::read_log(frames.iter().map(Vec::as_slice));
            // A torn or corrupt tail is cut; a record written by another build is
            // refused, since cutting it would throw away what it holds.
            if let Some((at, problem)) = &read.dropped
                && !problem.is_tear()
            {
                return Err(StoreError::Unreadable {
                    service: service.name(),
                    at: *at,
                    problem: problem.clone(),
                });
            }
            let intact = read.entries.len() as u64;
            if read.dropped.is_some() {
                self.conn.execute(
                    "DELETE FROM log WHERE service = ?1 AND seq >= ?2",
                    params![key, intact as i64],
                )?;
            }
            self.next_seq.insert(service, intact);
            loaded.push(Loaded {
                service,
                entries: read.entries,
                dropped: read.dropped,
            });
        }
        Ok(loaded)
    }

    /// Appends one record of `service` to the open transaction (not durable until
    /// [`Store::commit`]).
    pub fn append(&mut self, service: Service, entry: &Entry) -> Result<(), StoreError> {
        self.begin()?;
        let seq = self.next_seq.entry(service).or_insert(0);
        let frame = record::encode(*seq, entry);
        let mut stmt = self
            .conn
            .prepare_cached("INSERT INTO log (service, seq, frame) VALUES (?1, ?2, ?3)")?;
        stmt.execute(params![service_key(service), *seq as i64, frame])?;
        *seq += 1;
        self.pending += 1;
        Ok(())
    }

    /// Opens the transaction if none is (read-model rows join it).
    pub fn begin(&mut self) -> Result<&Connection, StoreError> {
        if !self.open {
            self.conn.execute_batch("BEGIN")?;
            self.open = true;
        }
        Ok(&self.conn)
    }

    /// Makes everything appended durable (one commit, one sync: group commit).
    pub fn commit(&mut self) -> Result<bool, StoreError> {
        if !self.open {
            return Ok(false);
        }
        self.conn.execute_batch("COMMIT")?;
        self.open = false;
        self.pending = 0;
        Ok(true)
    }

    /// The connection (outside a transaction: tokens).
    pub fn conn(&self) -> &Connection {
        &self.conn
    }
}

/// Looks up a token: its role and id.
pub fn token(conn: &Connection, token: &str) -> Result<Option<(String, u64)>, StoreError> {
    Ok(conn
        .query_row(
            "SELECT role, id FROM tokens WHERE token = ?1",
            [token],
            |row| Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)? as u64)),
        )
        .optional()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use turnstile_host::Change;

    fn entry() -> Entry {
        Entry {
            consumed: None,
            change: Change::Nothing,
            outbox: Vec::new(),
            publish: None,
            acked: Default::default(),
        }
    }

    fn rows(store: &Store) -> i64 {
        store
            .conn()
            .query_row("SELECT COUNT(*) FROM log", [], |row| row.get(0))
            .unwrap()
    }

    #[test]
    fn a_torn_tail_is_cut_and_a_record_of_another_format_refused_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = Store::new(open(dir.path(), Durability::Normal).unwrap());
        for _ in 0..3 {
            store.append(Service::Shows, &entry()).unwrap();
        }
        store.commit().unwrap();
        let key = service_key(Service::Shows);
        // The last record torn: cut, and the two before it kept.
        store
            .conn()
            .execute(
                "UPDATE log SET frame = substr(frame, 1, 10) WHERE service = ?1 AND seq = 2",
                params![key],
            )
            .unwrap();
        let loaded = store.load().unwrap();
        assert_eq!(loaded[0].entries.len(), 2);
        assert_eq!(rows(&store), 2);
        // The middle record written by another format: refused, and nothing deleted.
        let frame = record::encode_as(record::FORMAT_VERSION + 1, 1, &entry());
        store
            .conn()
            .execute(
                "UPDATE log SET frame = ?2 WHERE service = ?1 AND seq = 1",
                params![key, frame],
            )
            .unwrap();
        let refused = store.load().map(|_| ()).unwrap_err();
        assert!(
            matches!(
                &refused,
                StoreError::Unreadable { at: 1, problem: FrameError::Version { found }, .. }
                    if *found == record::FORMAT_VERSION + 1
            ),
            "{refused}"
        );
        assert_eq!(
            rows(&store),
            2,
            "a log this build cannot read is left as it is"
        );
    }
}
