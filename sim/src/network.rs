//! At-least-once messaging helpers a system can keep in its node state.
//!
//! The engine's network may drop, duplicate and reorder messages. A system that needs
//! exactly-once effects keeps an [`Outbox`] (messages resent on a timer until the
//! receiver acknowledges them) and a [`Dedupe`] set (message ids already applied). The
//! engine knows nothing of either; it only sees sends and timers. Mark the resend timer
//! as a liveness timer so that "awaiting acknowledgment" keeps the world from being quiet.

use std::collections::{BTreeMap, BTreeSet};

use crate::NodeId;

/// Messages sent and not yet acknowledged, by a system-chosen id.
#[derive(Clone, Debug)]
pub struct Outbox<M> {
    pending: BTreeMap<u64, (NodeId, M)>,
}

impl<M> Default for Outbox<M> {
    fn default() -> Self {
        Self {
            pending: BTreeMap::new(),
        }
    }
}

impl<M> Outbox<M> {
    /// Remembers `message` to `to` under `id` until [`Outbox::acknowledge`]; returns
    /// false if `id` is already pending (the first message stays).
    pub fn push(&mut self, id: u64, to: NodeId, message: M) -> bool {
        if self.pending.contains_key(&id) {
            return false;
        }
        self.pending.insert(id, (to, message));
        true
    }

    /// Forgets `id`; true if it was pending (a repeated acknowledgment returns false).
    pub fn acknowledge(&mut self, id: u64) -> bool {
        self.pending.remove(&id).is_some()
    }

    /// Every unacknowledged message, by id: what a resend timer sends again.
    pub fn unacknowledged(&self) -> impl Iterator<Item = (u64, NodeId, &M)> {
        self.pending
            .iter()
            .map(|(id, (to, message))| (*id, *to, message))
    }

    /// Whether anything awaits acknowledgment.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Messages awaiting acknowledgment.
    pub fn len(&self) -> usize {
        self.pending.len()
    }
}

/// Ids of messages already applied; a receiver drops (and re-acknowledges) repeats.
#[derive(Clone, Debug, Default)]
pub struct Dedupe {
    seen: BTreeSet<u64>,
}

impl Dedupe {
    /// True the first time `id` is seen, false for every repeat.
    pub fn first_time(&mut self, id: u64) -> bool {
        self.seen.insert(id)
    }

    /// Whether `id` was seen.
    pub fn contains(&self, id: u64) -> bool {
        self.seen.contains(&id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_resends_until_acknowledged_once() {
        let mut outbox = Outbox::default();
        assert!(outbox.push(7, NodeId(1), "pay"));
        assert!(!outbox.push(7, NodeId(1), "other"));
        assert_eq!(
            outbox.unacknowledged().collect::<Vec<_>>(),
            vec![(7, NodeId(1), &"pay")]
        );
        assert!(outbox.acknowledge(7));
        assert!(!outbox.acknowledge(7), "a duplicated ack changes nothing");
        assert!(outbox.is_empty());
    }

    #[test]
    fn dedupe_accepts_each_id_once() {
        let mut dedupe = Dedupe::default();
        assert!(dedupe.first_time(3));
        assert!(!dedupe.first_time(3));
        assert!(dedupe.contains(3) && !dedupe.contains(4));
    }
}
