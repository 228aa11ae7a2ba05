//! The event queue: events ordered by `(time, sequence)`.
//!
//! The heap holds small `Copy` keys (time, sequence, slot); the events themselves sit in
//! a slab whose slots are reused, so a run allocates nothing per event once the buffers
//! have grown, and buffers survive from one run to the next. The sequence number is
//! global and increasing, so two events at the same time pop in the order they were
//! scheduled: ties are broken deterministically, never by heap layout.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    time_ms: u64,
    seq: u64,
    slot: u32,
}

impl Ord for Key {
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: `BinaryHeap` is a max-heap and we want the earliest event first.
        other
            .time_ms
            .cmp(&self.time_ms)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Where a scheduled event lives, to reach it again (e.g. to cancel a timer).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Handle {
    slot: u32,
    seq: u64,
}

struct Slot<E> {
    seq: u64,
    event: Option<E>,
}

/// A min-queue of events by `(time_ms, seq)`.
pub struct EventQueue<E> {
    heap: BinaryHeap<Key>,
    slots: Vec<Slot<E>>,
    free: Vec<u32>,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self {
            heap: BinaryHeap::new(),
            slots: Vec::new(),
            free: Vec::new(),
            next_seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// Empties the queue, keeping its buffers; sequence numbers restart at 0.
    pub fn clear(&mut self) {
        self.heap.clear();
        self.slots.clear();
        self.free.clear();
        self.next_seq = 0;
    }

    /// Schedules `event` at `time_ms`.
    #[inline]
    pub fn push(&mut self, time_ms: u64, event: E) -> Handle {
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = match self.free.pop() {
            Some(slot) => {
                self.slots[slot as usize] = Slot {
                    seq,
                    event: Some(event),
                };
                slot
            }
            None => {
                self.slots.push(Slot {
                    seq,
                    event: Some(event),
                });
                (self.slots.len() - 1) as u32
            }
        };
        self.heap.push(Key { time_ms, seq, slot });
        Handle { slot, seq }
    }

    /// The time of the earliest event.
    #[inline]
    pub fn peek_time_ms(&self) -> Option<u64> {
        self.heap.peek().map(|key| key.time_ms)
    }

    /// Removes and returns the earliest event with its time.
    #[inline]
    pub fn pop(&mut self) -> Option<(u64, E)> {
        let key = self.heap.pop()?;
        let slot = &mut self.slots[key.slot as usize];
        debug_assert_eq!(slot.seq, key.seq);
        let event = slot.event.take().expect("a queued slot holds its event");
        self.free.push(key.slot);
        Some((key.time_ms, event))
    }

    /// The event behind `handle`, if it is still queued.
    #[inline]
    pub fn get_mut(&mut self, handle: Handle) -> Option<&mut E> {
        let slot = self.slots.get_mut(handle.slot as usize)?;
        if slot.seq == handle.seq {
            slot.event.as_mut()
        } else {
            None
        }
    }

    /// Mutable access to every queued event (order unspecified; used on crash).
    pub fn events_mut(&mut self) -> impl Iterator<Item = &mut E> {
        self.slots.iter_mut().filter_map(|slot| slot.event.as_mut())
    }

    /// Number of queued events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_by_time_then_by_scheduling_order() {
        let mut queue = EventQueue::default();
        queue.push(5, "c");
        queue.push(1, "a");
        queue.push(5, "d");
        queue.push(1, "b");
        queue.push(3, "x");
        let order: Vec<_> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(
            order,
            vec![(1, "a"), (1, "b"), (3, "x"), (5, "c"), (5, "d")]
        );
    }

    #[test]
    fn a_handle_goes_stale_once_its_slot_is_reused() {
        let mut queue = EventQueue::default();
        let first = queue.push(1, 10);
        assert_eq!(queue.get_mut(first).copied(), Some(10));
        queue.pop();
        let second = queue.push(2, 20);
        assert_eq!(queue.get_mut(first), None, "slot reused by a later event");
        assert_eq!(queue.get_mut(second).copied(), Some(20));
    }
}
