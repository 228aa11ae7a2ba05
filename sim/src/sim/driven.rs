//! Driven runs: the engine stepped from outside, one command at a time (an interactive
//! shell, a script). [`Sim::run`] plays a whole run from its choice stream; a driven run
//! starts the same way ([`Sim::begin`]: the system's setup, every node's start) and then
//! does only what the driver asks: deliver a workload event now, let virtual time run
//! to a deadline or until the world is quiet, crash or restart a node, cut nodes off,
//! heal, lose the next messages. Between two calls nothing happens and the clock stands
//! still. Everything stays deterministic: the same calls on the same choices make the
//! same run, with the same trace.

use super::{
    CheckKind, Choices, Event, EventKind, Failure, FaultKind, NO_CAUSE, NodeId, Sim, Stop, System,
    View, Violation,
};

impl<S: System> Sim<S> {
    /// Starts a driven run on `choices`: draws the profile, sets `system` up and starts
    /// every node. Events the setup scheduled wait for [`Sim::run_until`].
    pub fn begin(&mut self, system: &mut S, choices: Choices) {
        self.reset(choices);
        self.start_run(system);
    }

    /// Virtual time now (ms since the run began).
    pub fn now_ms(&self) -> u64 {
        self.kernel.now_ms
    }

    /// Schedules a workload event for `node`, due now.
    pub fn inject(&mut self, node: NodeId, event: S::External) {
        let kernel = &mut self.kernel;
        kernel.pending_externals += 1;
        kernel.queue.push(
            kernel.now_ms,
            Event::External {
                node,
                cause: NO_CAUSE,
                event,
            },
        );
    }

    /// Runs every event due at or before `deadline_ms`; the clock then reads
    /// `deadline_ms` (time passes even where nothing happens).
    pub fn run_until(&mut self, system: &mut S, deadline_ms: u64) -> Result<(), Failure> {
        self.run_driven(system, Stop::Deadline, deadline_ms)?;
        self.kernel.now_ms = self.kernel.now_ms.max(deadline_ms);
        Ok(())
    }

    /// Runs until the world is quiet (no message in flight, no liveness timer, no
    /// workload event pending) or `deadline_ms` passed; returns whether it is quiet.
    /// The clock stops at the last event run.
    pub fn run_until_settled(&mut self, system: &mut S, deadline_ms: u64) -> Result<bool, Failure> {
        self.run_driven(system, Stop::Quiet, deadline_ms)?;
        Ok(self.kernel.is_quiet(false))
    }

    /// Runs until the world is calm: no message in flight, no workload event pending and
    /// nothing due in the next `horizon_ms` (only far timers left: a hold's expiry, a
    /// show's start), or until `deadline_ms`; returns whether it is calm. What a command
    /// set off has then played out, and the clock stops at its last event.
    pub fn run_until_calm(
        &mut self,
        system: &mut S,
        horizon_ms: u64,
        deadline_ms: u64,
    ) -> Result<bool, Failure> {
        let stop = Stop::Calm { horizon_ms };
        self.run_driven(system, stop, deadline_ms)?;
        self.kernel.stop = stop;
        let calm = self.kernel.should_stop(false);
        self.kernel.stop = Stop::Quiet;
        Ok(calm)
    }

    /// The run's own event loop, stopping as `stop` says.
    fn run_driven(&mut self, system: &mut S, stop: Stop, deadline_ms: u64) -> Result<(), Failure> {
        self.kernel.stop = stop;
        let result = self.run_until_quiet(system, false, deadline_ms);
        self.kernel.stop = Stop::Quiet;
        result
    }

    /// Crashes `node` (its unsynced records are lost); false if it was down already or
    /// may not crash. It stays down until [`Sim::restart_node`].
    pub fn crash_node(&mut self, system: &mut S, node: NodeId) -> bool {
        let meta = self.kernel.meta[node.index()];
        if !meta.up || !meta.can_crash {
            return false;
        }
        self.crash(system, node);
        true
    }

    /// Restarts a crashed `node` from its log; `Ok(false)` if it was up.
    pub fn restart_node(&mut self, system: &mut S, node: NodeId) -> Result<bool, Failure> {
        if self.kernel.meta[node.index()].up {
            return Ok(false);
        }
        self.restart(system, node).map(|()| true)
    }

    /// Whether `node` is up.
    pub fn is_up(&self, node: NodeId) -> bool {
        self.kernel.meta[node.index()].up
    }

    /// Cuts `nodes` off from the rest (added to the cut-off side if a partition is on):
    /// messages between the two sides are lost on arrival until [`Sim::heal_partition`].
    pub fn isolate(&mut self, nodes: &[NodeId]) {
        let kernel = &mut self.kernel;
        for node in nodes {
            kernel.meta[node.index()].side = 1;
        }
        kernel.set_partitioned(true);
        kernel.stats.faults.add(FaultKind::Partition);
        let first = nodes.first().copied().unwrap_or(NodeId(0));
        let count = nodes.len();
        kernel.note(
            EventKind::Partition,
            first,
            u32::MAX,
            count as u64,
            NO_CAUSE,
            || format!("{count} node(s) cut off"),
        );
    }

    /// Ends the partition; false if there was none.
    pub fn heal_partition(&mut self, system: &mut S) -> bool {
        let kernel = &mut self.kernel;
        if !kernel.partitioned {
            return false;
        }
        kernel.set_partitioned(false);
        for meta in &mut kernel.meta {
            meta.side = 0;
        }
        if let Some(probe) = system.on_partition_healed() {
            kernel.count_probe(probe);
        }
        kernel.note_heal();
        true
    }

    /// Loses the next `count` messages to arrive at an up node (each is traced as lost).
    pub fn drop_next(&mut self, count: u32) {
        let kernel = &mut self.kernel;
        kernel.drop_next = kernel.drop_next.saturating_add(count);
        kernel.lossy = kernel.partitioned || kernel.drop_next > 0;
    }

    /// Messages still to be lost by [`Sim::drop_next`].
    pub fn drops_pending(&self) -> u32 {
        self.kernel.drop_next
    }

    /// A read-only view of the world (what the checks see).
    pub fn view(&self) -> View<'_, S> {
        View {
            nodes: &self.nodes,
            kernel: &self.kernel,
        }
    }

    /// The `always` checks, now.
    pub fn check_always_now(&self, system: &S) -> Result<(), Failure> {
        system
            .check_always(&self.view())
            .map_err(|violation| self.failure(violation, CheckKind::Always))
    }

    /// The `eventually` checks, now (they hold only once the world settled: an open
    /// order is not yet a stuck one).
    pub fn check_eventually_now(&self, system: &S) -> Result<(), Violation> {
        system.check_eventually(&self.view())
    }
}

#[cfg(test)]
mod tests {
    use crate::faults::{Profile, ProfileMode};
    use crate::sim::{Config, Sim};
    use crate::toy::Toy;
    use crate::{Choices, TraceMode};

    fn driven() -> (Sim<Toy>, Toy) {
        let mut config = Config::new(ProfileMode::Fixed(Profile::calm(1, 5)));
        config.trace = TraceMode::Text;
        (Sim::new(config), Toy::reference())
    }

    #[test]
    fn a_driven_run_does_nothing_between_calls_and_replays_exactly() {
        let play = || {
            let (mut sim, mut toy) = driven();
            sim.begin(&mut toy, Choices::from_seed(7));
            sim.run_until(&mut toy, 1_000).unwrap();
            let at = sim.now_ms();
            let lines = sim.trace().lines.len();
            sim.run_until(&mut toy, at).unwrap();
            assert_eq!(sim.trace().lines.len(), lines, "no call, no event");
            sim.drop_next(1);
            sim.run_until_settled(&mut toy, 60_000).unwrap();
            sim.trace().text()
        };
        assert_eq!(play(), play());
    }
}
