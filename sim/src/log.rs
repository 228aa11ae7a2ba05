//! A node's durable append-only log, with synced and unsynced records and torn writes.
//!
//! Records are stored as real bytes in frames `[length: u32][checksum: u64][payload]`
//! (little endian). Appending writes a frame to the unsynced tail; [`DurableLog::sync`]
//! makes the whole log durable. A crash drops the unsynced tail; if the crash tears a
//! write, the first unsynced frame is left half-written at the end of the file (cut
//! short, or with its last bytes zeroed). Recovery reads frames from the start, checks
//! each checksum and drops a torn last frame, so a restarted node sees exactly the synced
//! prefix.

/// A record a system stores in a node's log; the system chooses the bytes.
pub trait Record: Sized {
    /// Appends this record's bytes to `out`.
    fn encode(&self, out: &mut Vec<u8>);
    /// Reads a record back from exactly the bytes [`Record::encode`] wrote; `None` if they
    /// do not form a record.
    fn decode(bytes: &[u8]) -> Option<Self>;
}

const HEADER_BYTES: usize = 12;

/// A 64-bit checksum of the payload and its length, eight bytes per step (the
/// FxHash mix): a real checksum over the bytes, so a torn frame is found by reading
/// them, not by a flag.
pub fn checksum(payload: &[u8]) -> u64 {
    let mut hash = crate::trace::mix(0x243F_6A88_85A3_08D3, payload.len() as u64);
    let mut chunks = payload.chunks_exact(8);
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        hash = crate::trace::mix(hash, word);
    }
    // The remainder as a little-endian word, zero-padded (built byte by byte: a
    // variable-length copy into an array costs a `memcpy` call per record).
    let mut tail = 0u64;
    for (i, &byte) in chunks.remainder().iter().enumerate() {
        tail |= u64::from(byte) << (8 * i);
    }
    // Final avalanche so that a change in any byte flips about half the bits.
    let hash = crate::trace::mix(hash, tail);
    (hash ^ (hash >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9) ^ (hash >> 32)
}

/// How a crash left the log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CrashEffect {
    /// Unsynced records lost.
    pub records_lost: u32,
    /// Whether a half-written frame was left at the end.
    pub torn: bool,
}

/// What recovery found.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Records read back intact.
    pub records: u32,
    /// Whether a torn last frame was found (by its checksum or length) and dropped.
    pub torn_dropped: bool,
}

/// The bytes of one node's log; see the module docs.
#[derive(Clone, Debug, Default)]
pub struct DurableLog {
    bytes: Vec<u8>,
    synced_bytes: usize,
    records: u32,
    synced_records: u32,
}

/// How a torn write is shaped (drawn by the engine at crash time).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tear {
    /// The frame is cut after this many bytes (at least 1, less than the frame).
    CutAt(usize),
    /// The frame is complete in length but its last this-many bytes never landed (zero).
    ZeroTail(usize),
}

impl DurableLog {
    /// Empties the log, keeping its buffer.
    pub fn clear(&mut self) {
        self.bytes.clear();
        self.synced_bytes = 0;
        self.records = 0;
        self.synced_records = 0;
    }

    /// Appends `record` to the unsynced tail.
    #[inline]
    pub fn append<R: Record>(&mut self, record: &R) {
        let start = self.bytes.len();
        self.bytes.reserve(HEADER_BYTES + 32);
        self.bytes.extend_from_slice(&[0; HEADER_BYTES]);
        record.encode(&mut self.bytes);
        let (header, payload) = self.bytes[start..].split_at_mut(HEADER_BYTES);
        let sum = checksum(payload);
        let mut frame = [0u8; HEADER_BYTES];
        frame[..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
        frame[4..].copy_from_slice(&sum.to_le_bytes());
        header.copy_from_slice(&frame);
        self.records += 1;
    }

    /// Makes every appended record durable.
    pub fn sync(&mut self) {
        self.synced_bytes = self.bytes.len();
        self.synced_records = self.records;
    }

    /// Records appended (synced or not).
    pub fn len(&self) -> u32 {
        self.records
    }

    /// Whether nothing was ever appended (or everything was lost).
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Records durable so far.
    pub fn synced_len(&self) -> u32 {
        self.synced_records
    }

    /// Length of the first unsynced frame, if any (what a tear can cut).
    pub fn first_unsynced_frame_bytes(&self) -> Option<usize> {
        if self.synced_bytes == self.bytes.len() {
            return None;
        }
        let at = self.synced_bytes;
        let len = u32::from_le_bytes(self.bytes[at..at + 4].try_into().expect("4 bytes"));
        Some(HEADER_BYTES + len as usize)
    }

    /// A crash: the unsynced tail is lost; with `tear`, the first unsynced frame is left
    /// half-written at the end.
    pub fn crash(&mut self, tear: Option<Tear>) -> CrashEffect {
        let records_lost = self.records - self.synced_records;
        let frame_bytes = self.first_unsynced_frame_bytes();
        let mut torn = false;
        match (tear, frame_bytes) {
            (Some(Tear::CutAt(cut)), Some(frame)) if cut > 0 && cut < frame => {
                self.bytes.truncate(self.synced_bytes + cut);
                torn = true;
            }
            (Some(Tear::ZeroTail(zeroed)), Some(frame)) if zeroed > 0 && zeroed <= frame => {
                let end = self.synced_bytes + frame;
                self.bytes.truncate(end);
                self.bytes[end - zeroed..end].fill(0);
                torn = true;
            }
            _ => self.bytes.truncate(self.synced_bytes),
        }
        self.records = self.synced_records;
        CrashEffect { records_lost, torn }
    }

    /// Reads every intact record into `out` (cleared first), drops a torn tail from the
    /// bytes, and reports what it found.
    pub fn recover<R: Record>(&mut self, out: &mut Vec<R>) -> RecoveryReport {
        let (intact_bytes, torn_dropped) = read_frames(&self.bytes, out);
        self.bytes.truncate(intact_bytes);
        self.synced_bytes = intact_bytes;
        self.records = out.len() as u32;
        self.synced_records = self.records;
        RecoveryReport {
            records: self.records,
            torn_dropped,
        }
    }

    /// Reads the synced records into `out` (cleared first) without changing the log:
    /// what a restart would see, for checks that judge from durable state.
    pub fn read_synced<R: Record>(&self, out: &mut Vec<R>) {
        read_frames(&self.bytes[..self.synced_bytes], out);
    }
}

/// Decodes intact frames from the start of `bytes` into `out`; returns how many bytes
/// they span and whether a torn or corrupt frame stopped the reading.
fn read_frames<R: Record>(bytes: &[u8], out: &mut Vec<R>) -> (usize, bool) {
    out.clear();
    let mut at = 0;
    while at < bytes.len() {
        let rest = &bytes[at..];
        if rest.len() < HEADER_BYTES {
            return (at, true);
        }
        let len = u32::from_le_bytes(rest[..4].try_into().expect("4 bytes")) as usize;
        let sum = u64::from_le_bytes(rest[4..HEADER_BYTES].try_into().expect("8 bytes"));
        let Some(payload) = rest.get(HEADER_BYTES..HEADER_BYTES + len) else {
            return (at, true);
        };
        if checksum(payload) != sum {
            return (at, true);
        }
        let Some(record) = R::decode(payload) else {
            return (at, true);
        };
        out.push(record);
        at += HEADER_BYTES + len;
    }
    (at, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Entry(u64);

    impl Record for Entry {
        fn encode(&self, out: &mut Vec<u8>) {
            out.extend_from_slice(&self.0.to_le_bytes());
        }
        fn decode(bytes: &[u8]) -> Option<Self> {
            Some(Entry(u64::from_le_bytes(bytes.try_into().ok()?)))
        }
    }

    fn log_with(synced: u64, unsynced: u64) -> DurableLog {
        let mut log = DurableLog::default();
        for value in 0..synced {
            log.append(&Entry(value + 1));
        }
        log.sync();
        for value in 0..unsynced {
            log.append(&Entry(u64::MAX - value));
        }
        log
    }

    #[test]
    fn a_crash_keeps_exactly_the_synced_prefix() {
        let mut log = log_with(3, 2);
        let mut synced: Vec<Entry> = Vec::new();
        log.read_synced(&mut synced);
        assert_eq!(
            synced,
            vec![Entry(1), Entry(2), Entry(3)],
            "what a restart would see"
        );
        assert_eq!(
            log.crash(None),
            CrashEffect {
                records_lost: 2,
                torn: false
            }
        );
        let mut out: Vec<Entry> = Vec::new();
        assert_eq!(
            log.recover(&mut out),
            RecoveryReport {
                records: 3,
                torn_dropped: false
            }
        );
        assert_eq!(out, vec![Entry(1), Entry(2), Entry(3)]);
    }

    #[test]
    fn a_torn_write_is_found_by_its_checksum_and_dropped() {
        for tear in [
            Tear::CutAt(5),
            Tear::CutAt(15),
            Tear::ZeroTail(1),
            Tear::ZeroTail(8),
        ] {
            let mut log = log_with(2, 1);
            assert!(log.crash(Some(tear)).torn, "{tear:?}");
            let mut out: Vec<Entry> = Vec::new();
            let report = log.recover(&mut out);
            assert!(report.torn_dropped, "{tear:?} must be detected");
            assert_eq!(out, vec![Entry(1), Entry(2)], "{tear:?}");
            // Appending after recovery starts at a clean frame boundary.
            log.append(&Entry(9));
            log.sync();
            assert_eq!(log.recover(&mut out).records, 3);
        }
    }

    #[test]
    fn without_unsynced_records_there_is_nothing_to_tear() {
        let mut log = log_with(2, 0);
        assert!(!log.crash(Some(Tear::CutAt(3))).torn);
    }
}
