//! Seating: a numbered section's layout (labels grouped into rows) and the seat map
//! that finds the best available seats without scanning the venue.
//!
//! Best available means the lowest row with `quantity` adjacent free seats, at its
//! lowest first seat; if no row has such a block, the lowest-ordered free seats. For
//! each run length `k ∈ 1..=8` a [`RowSet`] (a three-level bitset over rows) holds the
//! rows whose longest free run is at least `k`, so the lowest qualifying row is found
//! in a few word operations whatever the venue's size, and only that row (bounded by
//! [`ROW_SEATS_MAX`]) is scanned. Every change to a seat re-measures only its row.

use crate::ids::SeatIndex;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, OnceLock};

/// At most this many seats per row, so scanning a row is bounded.
pub const ROW_SEATS_MAX: usize = 1_024;
/// A seat label is at most this many bytes.
pub const SEAT_LABEL_BYTES_MAX: usize = 32;
/// The longest run the index tracks: the largest quantity one order may take.
pub const RUN_TRACKED_MAX: usize = 8;

/// Rows up to this long keep a bitmask of their free seats.
const BITS_ROW_SEATS_MAX: usize = 64;

/// The lowest `len` bits set.
fn low_bits(len: u32) -> u64 {
    if len >= 64 {
        u64::MAX
    } else {
        (1u64 << len) - 1
    }
}

/// Bit `i` set when bits `i..i + quantity` of `free` are all set.
fn runs_of(free: u64, quantity: usize) -> u64 {
    let mut runs = free;
    for _ in 1..quantity {
        runs &= runs >> 1;
    }
    runs
}

/// An order's seats (at most `ORDER_QUANTITY_MAX`), inline.
pub type SeatList = SmallVec<[SeatIndex; super::ORDER_QUANTITY_MAX as usize]>;

/// The seat labels of a numbered section, shared: cloning a section (in events,
/// notices, snapshots, rebuilt services) copies a pointer, and the layout the labels
/// describe is built once, the first time anyone asks, then shared too.
#[derive(Clone, Default)]
pub struct SeatLabels(Arc<Labels>);

#[derive(Default)]
struct Labels {
    labels: Vec<String>,
    // A pure function of `labels`, computed on first use: no order, clock or
    // randomness can reach it.
    layout: OnceLock<Result<Arc<SeatLayout>, LayoutProblem>>,
}

impl SeatLabels {
    /// The layout these labels form, or what is wrong with them (built once).
    pub fn layout(&self) -> Result<Arc<SeatLayout>, LayoutProblem> {
        self.0
            .layout
            .get_or_init(|| SeatLayout::build(&self.0.labels).map(Arc::new))
            .clone()
    }
}

impl std::ops::Deref for SeatLabels {
    type Target = [String];

    fn deref(&self) -> &[String] {
        &self.0.labels
    }
}

impl From<Vec<String>> for SeatLabels {
    fn from(labels: Vec<String>) -> Self {
        SeatLabels(Arc::new(Labels {
            labels,
            layout: OnceLock::new(),
        }))
    }
}

impl PartialEq for SeatLabels {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.labels == other.0.labels
    }
}

impl Eq for SeatLabels {}

impl std::hash::Hash for SeatLabels {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.labels.hash(state);
    }
}

impl fmt::Debug for SeatLabels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.labels.iter()).finish()
    }
}

impl Serialize for SeatLabels {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.labels.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for SeatLabels {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<String>::deserialize(deserializer).map(SeatLabels::from)
    }
}

/// Why a seat list cannot form a layout.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, thiserror::Error)]
pub enum LayoutProblem {
    /// A label is not `ROW-SEAT` with both parts non-empty, or is too long.
    #[error("seat label {label:?} is not ROW-SEAT")]
    InvalidSeatLabel {
        /// The label.
        label: String,
    },
    /// A label appears twice.
    #[error("seat label {label:?} is listed twice")]
    DuplicateSeatLabel {
        /// The label.
        label: String,
    },
    /// A row has more than [`ROW_SEATS_MAX`] seats.
    #[error("row {row:?} has more than {ROW_SEATS_MAX} seats")]
    RowTooLong {
        /// The row.
        row: String,
    },
}

/// One row: its name and its seats' index range.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    /// The row's name (the label's part before the last `-`).
    pub name: String,
    /// Its first seat.
    pub start: u32,
    /// How many seats.
    pub len: u32,
}

/// A numbered section's fixed layout: seats in seating order, grouped into rows (rows
/// in order of first appearance in the listing, seats in listing order within a row).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatLayout {
    labels: Vec<String>,
    rows: Vec<Row>,
    row_of_seat: Vec<u32>,
    by_label: BTreeMap<String, SeatIndex>,
}

/// The row part of a valid label.
fn row_name(label: &str) -> Option<&str> {
    let (row, seat) = label.rsplit_once('-')?;
    (!row.is_empty() && !seat.is_empty() && label.len() <= SEAT_LABEL_BYTES_MAX).then_some(row)
}

impl SeatLayout {
    /// Build the layout of `labels`, or say what is wrong with them.
    pub fn build(labels: &[String]) -> Result<SeatLayout, LayoutProblem> {
        let mut row_index: BTreeMap<&str, usize> = BTreeMap::new();
        let mut grouped: Vec<(&str, Vec<&String>)> = Vec::new();
        for label in labels {
            let row = row_name(label).ok_or_else(|| LayoutProblem::InvalidSeatLabel {
                label: label.clone(),
            })?;
            let index = *row_index.entry(row).or_insert_with(|| {
                grouped.push((row, Vec::new()));
                grouped.len() - 1
            });
            let seats = &mut grouped[index].1;
            if seats.len() == ROW_SEATS_MAX {
                return Err(LayoutProblem::RowTooLong {
                    row: row.to_owned(),
                });
            }
            seats.push(label);
        }
        let mut layout = SeatLayout {
            labels: Vec::with_capacity(labels.len()),
            rows: Vec::with_capacity(grouped.len()),
            row_of_seat: Vec::with_capacity(labels.len()),
            by_label: BTreeMap::new(),
        };
        for (row, seats) in grouped {
            let start = layout.labels.len() as u32;
            let row_number = layout.rows.len() as u32;
            for label in seats {
                let seat = SeatIndex(layout.labels.len() as u32);
                if layout.by_label.insert(label.clone(), seat).is_some() {
                    return Err(LayoutProblem::DuplicateSeatLabel {
                        label: label.clone(),
                    });
                }
                layout.labels.push(label.clone());
                layout.row_of_seat.push(row_number);
            }
            let len = layout.labels.len() as u32 - start;
            layout.rows.push(Row {
                name: row.to_owned(),
                start,
                len,
            });
        }
        Ok(layout)
    }

    /// How many seats.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are no seats.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The seat labelled `label`.
    pub fn seat(&self, label: &str) -> Option<SeatIndex> {
        self.by_label.get(label).copied()
    }

    /// The label of `seat`.
    pub fn label(&self, seat: SeatIndex) -> Option<&str> {
        self.labels.get(seat.0 as usize).map(String::as_str)
    }

    /// The row `seat` is in.
    pub fn row_of(&self, seat: SeatIndex) -> Option<&Row> {
        let row = *self.row_of_seat.get(seat.0 as usize)?;
        self.rows.get(row as usize)
    }

    /// The rows in seating order.
    pub fn rows(&self) -> &[Row] {
        &self.rows
    }
}

/// A set of row numbers with O(log₆₄ n) insert, remove and "first at or after".
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowSet {
    // levels[0] has one bit per row; each higher level one bit per non-zero word below.
    levels: Vec<Vec<u64>>,
}

impl RowSet {
    /// An empty set for rows `0..rows`.
    pub fn new(rows: usize) -> RowSet {
        let mut levels = vec![vec![0u64; rows.div_ceil(64).max(1)]];
        while levels.last().is_some_and(|level| level.len() > 1) {
            let below = levels.last().map_or(1, Vec::len);
            levels.push(vec![0u64; below.div_ceil(64)]);
        }
        RowSet { levels }
    }

    /// Add `row`.
    pub fn insert(&mut self, row: usize) {
        let mut position = row;
        for level in &mut self.levels {
            let Some(word) = level.get_mut(position / 64) else {
                return;
            };
            let was_empty = *word == 0;
            *word |= 1 << (position % 64);
            if !was_empty {
                return;
            }
            position /= 64;
        }
    }

    /// Remove `row`.
    pub fn remove(&mut self, row: usize) {
        let mut position = row;
        for level in &mut self.levels {
            let Some(word) = level.get_mut(position / 64) else {
                return;
            };
            *word &= !(1 << (position % 64));
            if *word != 0 {
                return;
            }
            position /= 64;
        }
    }

    /// The lowest row ≥ `from` in the set.
    pub fn first_from(&self, from: usize) -> Option<usize> {
        let mut level = 0;
        let mut position = from;
        loop {
            let words = &self.levels[level];
            let word_index = position / 64;
            let word = *words.get(word_index)?;
            let masked = word & (!0u64 << (position % 64));
            if masked != 0 {
                let mut found = word_index * 64 + masked.trailing_zeros() as usize;
                while level > 0 {
                    level -= 1;
                    found = found * 64 + self.levels[level][found].trailing_zeros() as usize;
                }
                return Some(found);
            }
            level += 1;
            if level == self.levels.len() {
                return None;
            }
            position = word_index + 1;
        }
    }

    /// The lowest row in the set.
    pub fn first(&self) -> Option<usize> {
        self.first_from(0)
    }
}

/// What a numbered seat is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SeatState {
    /// On sale.
    Free,
    /// In an unconfirmed hold.
    Reserved,
    /// Sold.
    Sold,
    /// Taken out of sale by the organizer.
    Blocked,
}

/// The live state of a numbered section's seats, with the run index for best-available.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SeatMap {
    // The layout never changes after creation: shared, so copying a section's state
    // (snapshots, checks) does not copy every label.
    layout: Arc<SeatLayout>,
    states: Vec<SeatState>,
    // Per row of at most 64 seats, bit `i` set when its seat `i` is free: runs are
    // then found with a few word operations instead of a scan.
    free_bits: Vec<u64>,
    longest_run: Vec<u8>,
    rows_with_run: Vec<RowSet>,
}

impl SeatMap {
    /// Every seat of `layout` free.
    pub fn new(layout: impl Into<Arc<SeatLayout>>) -> SeatMap {
        let layout: Arc<SeatLayout> = layout.into();
        let rows = layout.rows.len();
        let mut map = SeatMap {
            states: vec![SeatState::Free; layout.len()],
            free_bits: layout
                .rows
                .iter()
                .map(|row| {
                    if row.len as usize <= BITS_ROW_SEATS_MAX {
                        low_bits(row.len)
                    } else {
                        0
                    }
                })
                .collect(),
            longest_run: vec![0; rows],
            rows_with_run: (0..RUN_TRACKED_MAX).map(|_| RowSet::new(rows)).collect(),
            layout,
        };
        for row in 0..rows {
            map.refresh_row(row);
        }
        map
    }

    /// The fixed layout.
    pub fn layout(&self) -> &SeatLayout {
        &self.layout
    }

    /// What `seat` is doing.
    pub fn state(&self, seat: SeatIndex) -> Option<SeatState> {
        self.states.get(seat.0 as usize).copied()
    }

    /// Every seat's state, in seating order.
    pub fn states(&self) -> &[SeatState] {
        &self.states
    }

    /// Set `seats` to `state` and re-measure their rows.
    pub fn set(&mut self, seats: &[SeatIndex], state: SeatState) {
        let mut last_row = None;
        for seat in seats {
            let Some(slot) = self.states.get_mut(seat.0 as usize) else {
                continue;
            };
            *slot = state;
            let row = self.layout.row_of_seat[seat.0 as usize] as usize;
            let Row { start, len, .. } = self.layout.rows[row];
            if len as usize <= BITS_ROW_SEATS_MAX {
                let bit = 1u64 << (seat.0 - start);
                if state == SeatState::Free {
                    self.free_bits[row] |= bit;
                } else {
                    self.free_bits[row] &= !bit;
                }
            }
            if last_row != Some(row) {
                if let Some(previous) = last_row {
                    self.refresh_row(previous);
                }
                last_row = Some(row);
            }
        }
        if let Some(row) = last_row {
            self.refresh_row(row);
        }
    }

    /// The best available `quantity` seats (1..=8), or `None` if fewer are free.
    pub fn best_available(&self, quantity: usize) -> Option<SeatList> {
        if quantity == 0 || quantity > RUN_TRACKED_MAX {
            return None;
        }
        if let Some(row) = self.rows_with_run[quantity - 1].first() {
            let Row { start, len, .. } = self.layout.rows[row];
            if len as usize <= BITS_ROW_SEATS_MAX {
                let first = runs_of(self.free_bits[row], quantity).trailing_zeros();
                if first < 64 {
                    let first = start + first;
                    return Some((first..first + quantity as u32).map(SeatIndex).collect());
                }
                return None; // unreachable while the index is right
            }
            let mut run_start = start;
            for seat in start..start + len {
                if self.states[seat as usize] != SeatState::Free {
                    run_start = seat + 1;
                } else if (seat - run_start + 1) as usize == quantity {
                    return Some((run_start..=seat).map(SeatIndex).collect());
                }
            }
            return None; // unreachable while the index is right
        }
        let mut seats = SeatList::new();
        let mut next_row = self.rows_with_run[0].first();
        while let Some(row) = next_row {
            let Row { start, len, .. } = self.layout.rows[row];
            if len as usize <= BITS_ROW_SEATS_MAX {
                let mut bits = self.free_bits[row];
                while bits != 0 {
                    seats.push(SeatIndex(start + bits.trailing_zeros()));
                    if seats.len() == quantity {
                        return Some(seats);
                    }
                    bits &= bits - 1;
                }
            } else {
                for seat in start..start + len {
                    if self.states[seat as usize] == SeatState::Free {
                        seats.push(SeatIndex(seat));
                        if seats.len() == quantity {
                            return Some(seats);
                        }
                    }
                }
            }
            next_row = self.rows_with_run[0].first_from(row + 1);
        }
        None
    }

    fn refresh_row(&mut self, row: usize) {
        let Row { start, len, .. } = self.layout.rows[row];
        let mut longest = 0usize;
        let mut current = 0usize;
        if len as usize <= BITS_ROW_SEATS_MAX {
            let mut runs = self.free_bits[row];
            while runs != 0 && longest < RUN_TRACKED_MAX {
                longest += 1;
                runs &= runs >> 1;
            }
        }
        let scan = if len as usize <= BITS_ROW_SEATS_MAX {
            start..start
        } else {
            start..start + len
        };
        for seat in scan {
            if self.states[seat as usize] == SeatState::Free {
                current += 1;
                longest = longest.max(current);
                if longest == RUN_TRACKED_MAX {
                    break;
                }
            } else {
                current = 0;
            }
        }
        let old = usize::from(self.longest_run[row]);
        if longest > old {
            for set in &mut self.rows_with_run[old..longest] {
                set.insert(row);
            }
        } else {
            for set in &mut self.rows_with_run[longest..old] {
                set.remove(row);
            }
        }
        self.longest_run[row] = longest as u8;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout(rows: &[(&str, u32)]) -> SeatLayout {
        let labels: Vec<String> = rows
            .iter()
            .flat_map(|(row, len)| (1..=*len).map(move |seat| format!("{row}-{seat}")))
            .collect();
        SeatLayout::build(&labels).unwrap()
    }

    #[test]
    fn seat_labels_are_shared_and_build_their_layout_once() {
        let labels = SeatLabels::from(vec!["A-1".to_owned(), "A-2".to_owned(), "B-1".to_owned()]);
        let copy = labels.clone();
        let first = copy.layout().unwrap();
        // Every clone sees the one layout built on first use.
        assert!(Arc::ptr_eq(&first, &labels.layout().unwrap()));
        assert_eq!(first.len(), 3);
        assert_eq!(first.seat("B-1"), Some(SeatIndex(2)));
        // Equality, hashing and Debug go by the labels alone, like the Vec they replace.
        let rebuilt = SeatLabels::from(labels.to_vec());
        assert_eq!(rebuilt, labels);
        let hash = |labels: &SeatLabels| {
            let mut hasher = crate::ids::StableHasher::new();
            std::hash::Hash::hash(labels, &mut hasher);
            std::hash::Hasher::finish(&hasher)
        };
        assert_eq!(hash(&rebuilt), hash(&labels));
        assert_ne!(
            hash(&SeatLabels::from(vec!["A-1".to_owned()])),
            hash(&labels)
        );
        // Deserialized from the plain list of labels it serializes as.
        let list = serde::de::value::SeqDeserializer::<_, serde::de::value::Error>::new(
            labels.iter().cloned(),
        );
        assert_eq!(SeatLabels::deserialize(list), Ok(labels.clone()));
        assert_ne!(SeatLabels::from(vec!["A-1".to_owned()]), labels);
        assert_eq!(format!("{labels:?}"), r#"["A-1", "A-2", "B-1"]"#);
        // A bad list says what is wrong, every time it is asked.
        let bad = SeatLabels::from(vec!["A1".to_owned()]);
        assert!(bad.layout().is_err());
        assert_eq!(bad.layout().unwrap_err(), bad.layout().unwrap_err());
        assert!(SeatLabels::default().is_empty());
    }

    #[test]
    fn row_set_finds_the_lowest_member_at_every_level() {
        let mut set = RowSet::new(300_000);
        assert_eq!(set.first(), None);
        for row in [299_999, 70_000, 4_097, 64, 63] {
            set.insert(row);
        }
        assert_eq!(set.first(), Some(63));
        assert_eq!(set.first_from(65), Some(4_097));
        assert_eq!(set.first_from(4_098), Some(70_000));
        set.remove(70_000);
        assert_eq!(set.first_from(4_098), Some(299_999));
        assert_eq!(set.first_from(300_000), None);
    }

    #[test]
    fn best_available_prefers_an_adjacent_block_in_the_lowest_row() {
        let mut map = SeatMap::new(layout(&[("A", 4), ("B", 4)]));
        map.set(&[SeatIndex(1)], SeatState::Sold); // A-2 taken: A has no run of 3
        let seats = map.best_available(3).unwrap();
        assert_eq!(
            seats.as_slice(),
            &[SeatIndex(4), SeatIndex(5), SeatIndex(6)]
        );
        assert_eq!(
            map.best_available(2).unwrap().as_slice(),
            &[SeatIndex(2), SeatIndex(3)]
        );
    }

    #[test]
    fn best_available_falls_back_to_the_lowest_free_seats() {
        let mut map = SeatMap::new(layout(&[("A", 3), ("B", 3)]));
        map.set(&[SeatIndex(1), SeatIndex(4)], SeatState::Sold);
        let seats = map.best_available(3).unwrap();
        assert_eq!(
            seats.as_slice(),
            &[SeatIndex(0), SeatIndex(2), SeatIndex(3)]
        );
        map.set(&seats, SeatState::Reserved);
        assert_eq!(map.best_available(2), None);
        // Quantities outside 1..=8 find nothing, however many seats are free.
        let roomy = SeatMap::new(layout(&[("A", 20)]));
        assert_eq!(roomy.best_available(0), None);
        assert_eq!(roomy.best_available(RUN_TRACKED_MAX + 1), None);
        assert!(roomy.best_available(RUN_TRACKED_MAX).is_some());
    }

    #[test]
    fn labels_must_be_row_dash_seat_and_distinct() {
        assert!(SeatLayout::build(&["A1".to_owned()]).is_err());
        // Both parts non-empty, and at most SEAT_LABEL_BYTES_MAX bytes in all.
        assert!(SeatLayout::build(&["A-".to_owned()]).is_err());
        assert!(SeatLayout::build(&["-1".to_owned()]).is_err());
        let longest = format!("{}-1", "R".repeat(SEAT_LABEL_BYTES_MAX - 2));
        assert!(SeatLayout::build(std::slice::from_ref(&longest)).is_ok());
        assert!(SeatLayout::build(&[format!("R{longest}")]).is_err());
        assert!(SeatLayout::build(&["A-1".to_owned(), "A-1".to_owned()]).is_err());
        let layout = SeatLayout::build(&["B-1".into(), "A-1".into(), "B-2".into()]).unwrap();
        assert_eq!(layout.label(SeatIndex(1)), Some("B-2"));
        assert_eq!(layout.rows()[1].name, "A");
        assert!(!layout.is_empty());
        assert!(SeatLayout::build(&[]).is_ok_and(|empty| empty.is_empty()));
    }
}

#[cfg(test)]
mod model_tests {
    use super::*;

    /// The rule as written, by brute force over every seat.
    fn naive_best(layout: &SeatLayout, states: &[SeatState], quantity: usize) -> Option<SeatList> {
        for row in layout.rows() {
            let mut run = 0;
            for seat in row.start..row.start + row.len {
                run = if states[seat as usize] == SeatState::Free {
                    run + 1
                } else {
                    0
                };
                if run == quantity {
                    return Some((seat + 1 - quantity as u32..=seat).map(SeatIndex).collect());
                }
            }
        }
        let free: SeatList = (0..states.len() as u32)
            .filter(|seat| states[*seat as usize] == SeatState::Free)
            .take(quantity)
            .map(SeatIndex)
            .collect();
        (free.len() == quantity).then_some(free)
    }

    #[test]
    fn best_available_agrees_with_brute_force_under_random_changes() {
        let mut rng = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move |bound: u64| {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            rng % bound
        };
        for _ in 0..20 {
            let rows = 1 + next(70) as usize;
            let labels: Vec<String> = (0..rows)
                .flat_map(|row| {
                    let len = 1 + (row * 37 + 3) % 100;
                    (0..len).map(move |seat| format!("R{row}-{seat}"))
                })
                .collect();
            let mut map = SeatMap::new(SeatLayout::build(&labels).unwrap());
            for _ in 0..400 {
                let seat = SeatIndex(next(labels.len() as u64) as u32);
                let state = match next(4) {
                    0 => SeatState::Free,
                    1 => SeatState::Reserved,
                    2 => SeatState::Sold,
                    _ => SeatState::Blocked,
                };
                map.set(&[seat], state);
                for quantity in 1..=8 {
                    assert_eq!(
                        map.best_available(quantity),
                        naive_best(map.layout(), map.states(), quantity),
                        "quantity {quantity}"
                    );
                }
            }
        }
    }
}
