//! The event queue: events ordered by `(time, sequence)`.
//!
//! Virtual time only moves forward and most events land a few milliseconds to a few
//! seconds ahead, so the queue is a timing wheel of one-millisecond buckets over the next
//! 2,048 ms, with a binary heap for events further out. Pushing and popping are O(1) with
//! few branches (a bitmap finds the next non-empty bucket), which is what the hot loop
//! needs; a binary heap of every event cost a third of a run.
//!
//! Order is exactly `(time, seq)`: the sequence number is global and increasing, a
//! bucket holds one instant and is a FIFO, and an event that waited in the far heap
//! moves into its bucket as soon as its instant enters the wheel, before anything else
//! can be pushed there — so ties pop in the order they were scheduled, never by layout.
//! Events live in a slab whose slots (and every buffer) are reused from run to run.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// A far-heap entry, 16 bytes: the time, then the sequence number (high 40 bits) and the
/// slot (low 24 bits) packed so that comparing `order` compares sequence numbers (which
/// are unique, so the slot bits never decide).
#[derive(Clone, Copy, PartialEq, Eq)]
struct Key {
    time_ms: u64,
    order: u64,
}

const SLOT_BITS: u32 = 24;
const SLOT_MASK: u64 = (1 << SLOT_BITS) - 1;
const WHEEL_MS: u64 = 2048;
const WORDS: usize = (WHEEL_MS / 64) as usize;
const NONE: u32 = u32::MAX;

impl Ord for Key {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        // Reversed: `BinaryHeap` is a max-heap and we want the earliest event first.
        (other.time_ms, other.order).cmp(&(self.time_ms, self.order))
    }
}

impl PartialOrd for Key {
    #[inline]
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
    time_ms: u64,
    /// Neighbours in the same bucket (an intrusive FIFO list), or `NONE`. A free slot
    /// links the free list through `next`.
    prev: u32,
    next: u32,
    event: Option<E>,
}

/// One instant's events: the ends of a list threaded through the slab.
#[derive(Clone, Copy)]
struct Bucket {
    head: u32,
    tail: u32,
}

const EMPTY: Bucket = Bucket {
    head: NONE,
    tail: NONE,
};

/// A min-queue of events by `(time_ms, seq)`; see the module docs.
pub struct EventQueue<E> {
    /// Bucket `t % WHEEL_MS` lists the events at instant `t`, for `base_ms <= t <
    /// base_ms + WHEEL_MS`, in scheduling order. A fixed-size array, so that indexing by
    /// `t % WHEEL_MS` needs no bounds check.
    buckets: Box<[Bucket; WHEEL_MS as usize]>,
    occupied: [u64; WORDS],
    in_wheel: usize,
    base_ms: u64,
    far: BinaryHeap<Key>,
    /// No far event is earlier than this (`u64::MAX` when none): lets `pop` skip
    /// `migrate` without looking into the heap while nothing there is due.
    far_min_ms: u64,
    slots: Vec<Slot<E>>,
    /// Head of the free slots, linked through `Slot::next` (last freed first, as a
    /// stack; `NONE` when empty): no separate buffer to grow or bounds-check.
    free: u32,
    next_seq: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self {
            buckets: Box::new([EMPTY; WHEEL_MS as usize]),
            occupied: [0; WORDS],
            in_wheel: 0,
            base_ms: 0,
            far: BinaryHeap::new(),
            far_min_ms: u64::MAX,
            slots: Vec::new(),
            free: NONE,
            next_seq: 0,
        }
    }
}

impl<E> EventQueue<E> {
    /// Empties the queue, keeping its buffers; time and sequence numbers restart at 0.
    pub fn clear(&mut self) {
        for (word, bits) in self.occupied.iter_mut().enumerate() {
            while *bits != 0 {
                let bucket = word * 64 + bits.trailing_zeros() as usize;
                self.buckets[bucket] = EMPTY;
                *bits &= *bits - 1;
            }
        }
        self.in_wheel = 0;
        self.base_ms = 0;
        self.far.clear();
        self.far_min_ms = u64::MAX;
        self.slots.clear();
        self.free = NONE;
        self.next_seq = 0;
    }

    /// Schedules `event` at `time_ms`, which must not be earlier than the last event
    /// popped.
    #[inline(always)]
    pub fn push(&mut self, time_ms: u64, event: E) -> Handle {
        assert!(
            time_ms >= self.base_ms,
            "event at {time_ms} ms scheduled in the past"
        );
        let seq = self.next_seq;
        self.next_seq += 1;
        let slot = if self.free != NONE {
            let slot = self.free;
            let entry = &mut self.slots[slot as usize];
            self.free = entry.next;
            entry.seq = seq;
            entry.time_ms = time_ms;
            entry.prev = NONE;
            entry.next = NONE;
            entry.event = Some(event);
            slot
        } else {
            self.slots.push(Slot {
                seq,
                time_ms,
                prev: NONE,
                next: NONE,
                event: Some(event),
            });
            (self.slots.len() - 1) as u32
        };
        assert!(
            u64::from(slot) <= SLOT_MASK,
            "more than 2^24 events queued at once"
        );
        if time_ms - self.base_ms < WHEEL_MS {
            self.link(time_ms, slot);
        } else {
            self.far_min_ms = self.far_min_ms.min(time_ms);
            self.far.push(Key {
                time_ms,
                order: seq << SLOT_BITS | u64::from(slot),
            });
        }
        Handle { slot, seq }
    }

    /// Appends `slot` to the bucket of `time_ms`.
    #[inline(always)]
    fn link(&mut self, time_ms: u64, slot: u32) {
        let index = (time_ms % WHEEL_MS) as usize;
        let bucket = &mut self.buckets[index];
        if bucket.tail == NONE {
            bucket.head = slot;
            self.occupied[index / 64] |= 1 << (index % 64);
        } else {
            self.slots[bucket.tail as usize].next = slot;
        }
        let tail = bucket.tail;
        bucket.tail = slot;
        // `next` is already `NONE`: the slot was just filled, or waited unlinked in the
        // far heap.
        self.slots[slot as usize].prev = tail;
        self.in_wheel += 1;
    }

    /// Puts an emptied, unlinked slot on the free list.
    #[inline(always)]
    fn free_slot(&mut self, slot: u32) {
        self.slots[slot as usize].next = self.free;
        self.free = slot;
    }

    /// Offset from `base_ms` of the first non-empty bucket (the wheel must not be empty).
    #[inline(always)]
    fn next_offset(&self) -> u64 {
        let start = (self.base_ms % WHEEL_MS) as usize;
        let (word, bit) = (start / 64, start % 64);
        let here = self.occupied[word] & (u64::MAX << bit);
        if here != 0 {
            return (word * 64 + here.trailing_zeros() as usize - start) as u64;
        }
        for step in 1..=WORDS {
            let index = (word + step) % WORDS;
            let bits = self.occupied[index];
            if bits != 0 {
                let bucket = index * 64 + bits.trailing_zeros() as usize;
                return ((bucket + WHEEL_MS as usize - start) % WHEEL_MS as usize) as u64;
            }
        }
        unreachable!(
            "the wheel holds {} events but no bucket is marked",
            self.in_wheel
        )
    }

    /// The time of the earliest event.
    #[inline(always)]
    pub fn peek_time_ms(&mut self) -> Option<u64> {
        if self.in_wheel > 0 {
            return Some(self.base_ms + self.next_offset());
        }
        self.drop_removed_far();
        self.far.peek().map(|key| key.time_ms)
    }

    /// Pops far keys of events removed early, freeing their slots.
    fn drop_removed_far(&mut self) {
        while let Some(key) = self.far.peek().copied() {
            let slot = (key.order & SLOT_MASK) as u32;
            if self.slots[slot as usize].event.is_some() {
                break;
            }
            self.far.pop();
            self.free_slot(slot);
        }
    }

    /// Moves far events whose instant entered the wheel into their buckets; called as
    /// soon as `base_ms` advances, before any push can reach those buckets, so they keep
    /// their place in `(time, seq)` order.
    #[inline(never)]
    fn migrate(&mut self) {
        while let Some(key) = self.far.peek().copied() {
            if key.time_ms - self.base_ms >= WHEEL_MS {
                self.far_min_ms = key.time_ms;
                return;
            }
            self.far.pop();
            let slot = (key.order & SLOT_MASK) as u32;
            if self.slots[slot as usize].event.is_some() {
                self.link(key.time_ms, slot);
            } else {
                self.free_slot(slot);
            }
        }
        self.far_min_ms = u64::MAX;
    }

    /// Removes and returns the earliest event with its time.
    #[inline(always)]
    pub fn pop(&mut self) -> Option<(u64, E)> {
        self.pop_until(u64::MAX)
    }

    /// Removes and returns the earliest event if it is due at or before `deadline_ms`.
    #[inline(always)]
    pub fn pop_until(&mut self, deadline_ms: u64) -> Option<(u64, E)> {
        let time_ms = self.peek_time_ms()?;
        if time_ms > deadline_ms {
            return None;
        }
        if time_ms != self.base_ms || self.in_wheel == 0 {
            self.base_ms = time_ms;
            // (A lower bound: removed far events may have left it early, never late.)
            if self.far_min_ms < time_ms.saturating_add(WHEEL_MS) {
                self.migrate();
            }
        }
        let index = (time_ms % WHEEL_MS) as usize;
        let bucket = &mut self.buckets[index];
        let slot_index = bucket.head;
        let slot = &mut self.slots[slot_index as usize];
        let next = slot.next;
        let event = slot.event.take().expect("a queued slot holds its event");
        slot.next = self.free;
        self.free = slot_index;
        bucket.head = next;
        if next == NONE {
            bucket.tail = NONE;
            self.occupied[index / 64] &= !(1 << (index % 64));
        } else {
            self.slots[next as usize].prev = NONE;
        }
        self.in_wheel -= 1;
        Some((time_ms, event))
    }

    /// Takes the event behind `handle` out of the queue (e.g. a cancelled timer), so it
    /// costs nothing more; `None` if it already left.
    pub fn remove(&mut self, handle: Handle) -> Option<E> {
        let slot = self.slots.get_mut(handle.slot as usize)?;
        if slot.seq != handle.seq {
            return None;
        }
        let event = slot.event.take()?;
        self.unlink(handle.slot);
        Some(event)
    }

    /// Like [`EventQueue::remove`], dropping the event in place instead of returning it;
    /// false if it already left.
    #[inline]
    pub fn discard(&mut self, handle: Handle) -> bool {
        let Some(slot) = self.slots.get_mut(handle.slot as usize) else {
            return false;
        };
        if slot.seq != handle.seq || slot.event.is_none() {
            return false;
        }
        slot.event = None;
        self.unlink(handle.slot);
        true
    }

    /// Like [`EventQueue::discard`] for a handle [`EventQueue::get_mut`] just found
    /// queued (no second lookup).
    #[inline]
    pub(crate) fn discard_queued(&mut self, handle: Handle) {
        self.slots[handle.slot as usize].event = None;
        self.unlink(handle.slot);
    }

    /// Unlinks an emptied slot from its bucket and frees it; a far event's key stays in
    /// the heap and is dropped (and its slot freed) when it comes due.
    #[inline]
    fn unlink(&mut self, slot_index: u32) {
        let slot = &self.slots[slot_index as usize];
        let (prev, next, time_ms) = (slot.prev, slot.next, slot.time_ms);
        if time_ms - self.base_ms >= WHEEL_MS {
            return;
        }
        let index = (time_ms % WHEEL_MS) as usize;
        match prev {
            NONE => self.buckets[index].head = next,
            prev => self.slots[prev as usize].next = next,
        }
        match next {
            NONE => self.buckets[index].tail = prev,
            next => self.slots[next as usize].prev = prev,
        }
        if self.buckets[index].head == NONE {
            self.occupied[index / 64] &= !(1 << (index % 64));
        }
        self.in_wheel -= 1;
        self.free_slot(slot_index);
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
        self.in_wheel + self.far.len()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
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

    #[test]
    fn far_events_keep_their_place_among_near_ones() {
        // Far events (beyond the wheel) scheduled first pop before near ones scheduled
        // later at the same instant, across time jumps and wheel wrap-arounds.
        let mut queue = EventQueue::default();
        let far = WHEEL_MS * 3 + 7;
        queue.push(far, 1);
        queue.push(far + 1, 2);
        queue.push(10, 0);
        assert_eq!(queue.pop(), Some((10, 0)));
        queue.push(far, 3); // Still beyond the wheel from t = 10.
        queue.push(far - 5, 4);
        assert_eq!(queue.pop(), Some((far - 5, 4)));
        queue.push(far, 5); // Now inside the wheel: after 1 and 3.
        let rest: Vec<_> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(rest, vec![(far, 1), (far, 3), (far, 5), (far + 1, 2)]);
        assert!(queue.is_empty());
    }

    #[test]
    fn matches_a_sorted_reference_on_random_schedules() {
        // Against (time, seq) sorting, with pushes interleaved between pops.
        let mut rng = crate::choices::Xoshiro256pp::from_seed(5);
        let mut queue = EventQueue::default();
        let mut reference: Vec<(u64, u64)> = Vec::new();
        let (mut now, mut seq) = (0u64, 0u64);
        let mut handles = Vec::new();
        for _ in 0..20_000 {
            if rng.below_inclusive(2) > 0 || reference.is_empty() {
                let far = rng.below_inclusive(9) == 0;
                let ahead = rng.below_inclusive(if far { 20_000 } else { 60 });
                handles.push(queue.push(now + ahead, seq));
                reference.push((now + ahead, seq));
                seq += 1;
            } else if rng.below_inclusive(3) == 0 && !reference.is_empty() {
                // Remove a random pending event through its handle.
                let pick = rng.below_inclusive(reference.len() as u64 - 1) as usize;
                let (_, removed_seq) = reference.swap_remove(pick);
                let handle = handles[removed_seq as usize];
                assert_eq!(queue.remove(handle), Some(removed_seq));
            } else {
                reference.sort_unstable();
                let expected = reference.remove(0);
                assert_eq!(queue.pop(), Some(expected));
                now = expected.0;
            }
        }
    }

    #[test]
    fn removed_events_never_pop_near_or_far() {
        // Removing a near or a far event takes it out; the rest keep their order.
        let mut queue = EventQueue::default();
        let near = queue.push(5, "near");
        queue.push(5, "kept");
        let far = queue.push(WHEEL_MS * 2, "far");
        queue.push(WHEEL_MS * 2, "far kept");
        assert_eq!(queue.remove(near), Some("near"));
        assert_eq!(queue.remove(near), None, "already removed");
        assert_eq!(queue.remove(far), Some("far"));
        let rest: Vec<_> = std::iter::from_fn(|| queue.pop()).collect();
        assert_eq!(rest, vec![(5, "kept"), (WHEEL_MS * 2, "far kept")]);
        let lonely = queue.push(WHEEL_MS * 9, "lonely");
        assert_eq!(queue.remove(lonely), Some("lonely"));
        assert_eq!(queue.peek_time_ms(), None);
        assert_eq!(queue.pop(), None);
    }
}
