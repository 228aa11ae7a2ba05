//! The durable form of a log [`Entry`]: a frame with a format version, the record's
//! sequence number and a checksum, so a driver that stores records (a file, a SQLite
//! table) can tell an intact log from a torn or corrupt one, and a later build can read
//! what an earlier one wrote (or refuse it by version rather than misread it).
//!
//! Frame layout, little-endian: `version: u8 · seq: u64 · len: u32 · payload (len
//! bytes, the entry as JSON) · crc32: u32` (CRC-32 of everything before it).
//! [`read_log`] takes the frames of a log in order and keeps the longest intact prefix:
//! the first frame that is short, corrupt, of an unknown version or out of sequence
//! ends the log, and nothing after it is trusted.

use std::rc::Rc;

use crate::wire::Entry;

/// The format this build writes and reads.
pub const FORMAT_VERSION: u8 = 1;

const HEADER_BYTES: usize = 1 + 8 + 4;
const CHECKSUM_BYTES: usize = 4;

/// Why a frame cannot be trusted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes than the header and checksum, or than the length says.
    Short {
        /// Bytes present.
        bytes: usize,
    },
    /// The checksum does not match: torn or corrupted.
    Checksum,
    /// Written by a format this build does not know.
    Version {
        /// The frame's version byte.
        found: u8,
    },
    /// Not the next record of the log.
    Sequence {
        /// The sequence number expected.
        expected: u64,
        /// The frame's.
        found: u64,
    },
    /// The checksum holds but the payload is not an entry (a bug, not a tear).
    Payload(String),
}

impl FrameError {
    /// Whether the frame was torn or corrupted in storage (short, a bad checksum, out
    /// of sequence): a driver may cut the log there. Otherwise the frame is intact but
    /// written by another build (another format version, a payload this build cannot
    /// read), and cutting the log would throw away what it holds.
    pub fn is_tear(&self) -> bool {
        matches!(
            self,
            FrameError::Short { .. } | FrameError::Checksum | FrameError::Sequence { .. }
        )
    }
}

/// The frame of record `seq` holding `entry`.
pub fn encode(seq: u64, entry: &Entry) -> Vec<u8> {
    encode_as(FORMAT_VERSION, seq, entry)
}

/// [`encode`] under another format's version byte, checksum and all: what a reader
/// meets in a log another build wrote (for tests of how drivers treat one).
pub fn encode_as(version: u8, seq: u64, entry: &Entry) -> Vec<u8> {
    let payload = serde_json::to_vec(entry).expect("an entry always serializes");
    let mut frame = Vec::with_capacity(HEADER_BYTES + payload.len() + CHECKSUM_BYTES);
    frame.push(version);
    frame.extend_from_slice(&seq.to_le_bytes());
    frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    frame.extend_from_slice(&payload);
    let checksum = crc32fast::hash(&frame);
    frame.extend_from_slice(&checksum.to_le_bytes());
    frame
}

/// The sequence number and entry of one frame, if it is intact.
pub fn decode(frame: &[u8]) -> Result<(u64, Entry), FrameError> {
    let short = FrameError::Short { bytes: frame.len() };
    if frame.len() < HEADER_BYTES + CHECKSUM_BYTES {
        return Err(short);
    }
    let (body, checksum) = frame.split_at(frame.len() - CHECKSUM_BYTES);
    let checksum = u32::from_le_bytes(checksum.try_into().expect("4 bytes"));
    if crc32fast::hash(body) != checksum {
        return Err(FrameError::Checksum);
    }
    if body[0] != FORMAT_VERSION {
        return Err(FrameError::Version { found: body[0] });
    }
    let seq = u64::from_le_bytes(body[1..9].try_into().expect("8 bytes"));
    let len = u32::from_le_bytes(body[9..13].try_into().expect("4 bytes")) as usize;
    let payload = &body[HEADER_BYTES..];
    if payload.len() != len {
        return Err(short);
    }
    let entry = serde_json::from_slice(payload).map_err(|e| FrameError::Payload(e.to_string()))?;
    Ok((seq, entry))
}

/// A log as read back: its intact prefix, and why reading stopped early, if it did.
#[derive(Debug, Default)]
pub struct ReadLog {
    /// The intact records, in order (record `i` has sequence number `i`).
    pub entries: Vec<Rc<Entry>>,
    /// The first frame not trusted: its position and what was wrong with it.
    pub dropped: Option<(usize, FrameError)>,
}

/// Reads a log's frames in append order, keeping the longest intact prefix.
pub fn read_log<'a>(frames: impl IntoIterator<Item = &'a [u8]>) -> ReadLog {
    let mut log = ReadLog::default();
    for (position, frame) in frames.into_iter().enumerate() {
        let expected = position as u64;
        match decode(frame) {
            Ok((seq, entry)) if seq == expected => log.entries.push(Rc::new(entry)),
            Ok((found, _)) => {
                log.dropped = Some((position, FrameError::Sequence { expected, found }));
                break;
            }
            Err(error) => {
                log.dropped = Some((position, error));
                break;
            }
        }
    }
    log
}
