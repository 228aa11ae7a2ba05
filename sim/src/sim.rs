//! The engine: the [`System`] trait a message-passing system implements, the context its
//! handlers act through ([`Ctx`]), and the event loop that runs one seed ([`Sim::run`]).
//!
//! Time is virtual and counted in **milliseconds** (`u64`); it jumps to the next event,
//! so idle time costs nothing. A run has two phases:
//! 1. *Safety*: the workload runs with faults on; `always` checks run after every step
//!    (a delivery, a timer firing, a workload event or a restart). The phase ends when
//!    the world is quiet (below) or at [`Config::safety_ms_max`].
//! 2. *Liveness*: faults stop, partitions heal, crashed nodes restart, paused nodes
//!    resume, workload events are no longer delivered, and the world runs until quiet or
//!    for at most [`Config::liveness_ms_max`]; then `eventually` checks run.
//!
//! *Quiet* means: no message in flight, and no pending timer the system marked as counting
//! for liveness ([`Ctx::set_liveness_timer`]); in the safety phase also no pending
//! workload event. A system whose messages await acknowledgment keeps a liveness timer
//! armed for the resend, so awaiting acknowledgment is not quiet.
//!
//! Nodes: the engine owns each node's volatile state (`System::Node`), its durable log
//! ([`crate::log::DurableLog`]), its timers and its clock skew. A crash drops the volatile
//! state, the armed timers and the unsynced tail of the log (possibly tearing a record);
//! restart calls [`System::start`] with the records recovered from the log alone. A pause
//! holds a node's deliveries and timers until it resumes (they then arrive late, and a
//! timer held by a pause can no longer be cancelled: handlers must tolerate stale timers,
//! as real ones must). Nodes added with `can_crash == false` are never crashed or paused.
//!
//! Architecture invariant: nothing in a run reads the wall clock, OS randomness, threads
//! or I/O, and every collection iterates in a deterministic order; the only source of
//! variation is the [`Choices`] stream.

use std::fmt::{Debug, Display, Write as _};
use std::hash::Hash;

use crate::checks::{CheckKind, Failure, Violation};
use crate::choices::{Choices, Recording, SpanKind};
use crate::faults::{FaultCounts, FaultKind, Profile, ProfileMode};
use crate::log::{DurableLog, Record, RecoveryReport, Tear};
use crate::queue::{EventQueue, Handle};
use crate::trace::{EventKind, Trace, TraceEntry, TraceMode, mix, stable_hash};

mod driven;

/// A node of the simulated world, numbered from 0 in the order the system added them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub u32);

impl NodeId {
    /// The node's index.
    pub fn index(self) -> usize {
        self.0 as usize
    }
}

/// The engine's id of one sent message; a duplicate carries the same id as its original.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MsgId(pub u64);

/// Who sent a delivered message, and its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Envelope {
    /// The sender.
    pub from: NodeId,
    /// The engine's message id (shared by network duplicates).
    pub id: MsgId,
}

/// An armed timer, to cancel it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TimerId(Handle);

/// What a starting node gets: the records recovered from its log (empty at first start).
#[derive(Clone, Copy, Debug)]
pub struct Recovered<'a, R> {
    /// The intact records of the log, in append order.
    pub records: &'a [R],
    /// What recovery found (e.g. a torn last record dropped).
    pub report: RecoveryReport,
    /// Whether this is a restart after a crash (false at the first start).
    pub is_restart: bool,
}

/// A message-passing system the engine can run. Implement it for a value holding the
/// system-wide state that is not a node's (configuration, and what the outside world saw:
/// receipts, a ledger), which is what invariants should be judged from.
pub trait System: Sized {
    /// A node's volatile state; dropped when the node crashes.
    type Node;
    /// A message between nodes. `Display` writes the readable trace (for people: words
    /// and units, not a dump), `Hash` feeds the trace hash (so it must not depend on
    /// addresses or hash-map order).
    type Msg: Clone + Debug + Display + Hash;
    /// A timer a node arms (a closed enum, typically).
    type Timer: Clone + Debug + Display + Hash;
    /// A workload event (a customer acts), scheduled on the queue by the system.
    type External: Clone + Debug + Display + Hash;
    /// What a node writes to its durable log.
    type Record: Record;

    /// Names of the `sometimes` probes this system may hit ([`Ctx::sometimes`]); a sweep
    /// reports each one's hits, and names those no run reached.
    const PROBES: &'static [&'static str] = &[];

    /// Starts a run: reset system-wide state, add the nodes, schedule the first workload
    /// events. Draws made here come from the run's choice stream.
    fn setup(&mut self, setup: &mut Setup<'_, Self>);

    /// Builds a node's volatile state from its log alone: at the first start (empty log)
    /// and after every crash. It may send messages and arm timers (resend the outbox,
    /// re-arm timers).
    fn start(
        &mut self,
        ctx: &mut Ctx<'_, Self>,
        recovered: Recovered<'_, Self::Record>,
    ) -> Self::Node;

    /// A message arrived at `ctx.node()`.
    fn on_message(
        &mut self,
        node: &mut Self::Node,
        ctx: &mut Ctx<'_, Self>,
        envelope: Envelope,
        msg: Self::Msg,
    );

    /// A timer of `ctx.node()` fired.
    fn on_timer(&mut self, node: &mut Self::Node, ctx: &mut Ctx<'_, Self>, timer: Self::Timer);

    /// A workload event reached `ctx.node()` (only in the safety phase, and only while the
    /// node is up).
    fn on_external(
        &mut self,
        node: &mut Self::Node,
        ctx: &mut Ctx<'_, Self>,
        event: Self::External,
    ) {
        let _ = (node, ctx, event);
    }

    /// `node` crashed (its state is already gone); for system-wide bookkeeping.
    fn on_crash(&mut self, node: NodeId) {
        let _ = node;
    }

    /// A partition healed: its outage ended, or the liveness phase healed the world.
    /// Returns a `sometimes` probe to count when this heal is one the system wants seen
    /// (say, with work in flight), or `None`.
    fn on_partition_healed(&mut self) -> Option<&'static str> {
        None
    }

    /// Checked after every step.
    fn check_always(&self, view: &View<'_, Self>) -> Result<(), Violation> {
        let _ = view;
        Ok(())
    }

    /// Checked right after `node` restarted.
    fn check_restart(&self, node: NodeId, view: &View<'_, Self>) -> Result<(), Violation> {
        let _ = (node, view);
        Ok(())
    }

    /// Checked once the world healed and went quiet (and also, first, when it did not go
    /// quiet in time: name what is stuck here).
    fn check_eventually(&self, view: &View<'_, Self>) -> Result<(), Violation> {
        let _ = view;
        Ok(())
    }
}

/// How runs are run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// Where each run's fault profile comes from.
    pub profile: ProfileMode,
    /// Bound on the safety phase (virtual ms).
    pub safety_ms_max: u64,
    /// Bound on the liveness phase after heal (virtual ms).
    pub liveness_ms_max: u64,
    /// Bound on steps in a run (a failure `steps_bounded` past it).
    pub steps_max: u64,
    /// Whether `always` checks run after every step.
    pub check_always: bool,
    /// How much of the trace to keep.
    pub trace: TraceMode,
}

impl Config {
    /// A config with the given profile mode and generous bounds (60 s of workload, 60 s
    /// to go quiet, a million steps), checks on, hash-only traces.
    pub fn new(profile: ProfileMode) -> Self {
        Self {
            profile,
            safety_ms_max: 60_000,
            liveness_ms_max: 60_000,
            steps_max: 1_000_000,
            check_always: true,
            trace: TraceMode::Hash,
        }
    }
}

/// Counters of one run (or, merged, of a sweep).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Runs counted (1 for a run).
    pub runs: u64,
    /// Steps taken.
    pub steps: u64,
    /// Messages sent by handlers.
    pub messages_sent: u64,
    /// Messages delivered to a handler.
    pub messages_delivered: u64,
    /// Timers that fired.
    pub timers_fired: u64,
    /// Workload events delivered.
    pub externals: u64,
    /// Node restarts.
    pub restarts: u64,
    /// Virtual time simulated.
    pub virtual_time_ms: u64,
    /// Faults injected, by kind.
    pub faults: FaultCounts,
    /// Invariant checks made (every `always`, `restart` and `eventually` call).
    pub checks: u64,
    /// Draws from the choice stream.
    pub draws: u64,
    /// Hits per probe, in the order of [`System::PROBES`].
    pub probe_hits: Vec<u64>,
}

impl RunStats {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &RunStats) {
        self.runs += other.runs;
        self.steps += other.steps;
        self.messages_sent += other.messages_sent;
        self.messages_delivered += other.messages_delivered;
        self.timers_fired += other.timers_fired;
        self.externals += other.externals;
        self.restarts += other.restarts;
        self.virtual_time_ms += other.virtual_time_ms;
        self.faults.merge(&other.faults);
        self.checks += other.checks;
        self.draws += other.draws;
        if self.probe_hits.len() < other.probe_hits.len() {
            self.probe_hits.resize(other.probe_hits.len(), 0);
        }
        for (mine, theirs) in self.probe_hits.iter_mut().zip(&other.probe_hits) {
            *mine += theirs;
        }
    }
}

/// What one run came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// The trace hash (every event, folded).
    pub hash: u64,
    /// The first failed check, if any (the run stops there).
    pub failure: Option<Failure>,
    /// The fault profile the run used.
    pub profile: Profile,
}

enum Event<S: System> {
    Deliver {
        from: NodeId,
        to: NodeId,
        id: MsgId,
        /// The trace entry of the step that sent it (traced runs only).
        cause: u32,
        /// Boxed: a queue slot stays small, and moving an event through the queue
        /// copies a pointer instead of the whole message.
        msg: Box<S::Msg>,
    },
    Timer {
        node: NodeId,
        incarnation: u32,
        liveness: bool,
        /// The trace entry of the step that armed it (traced runs only).
        cause: u32,
        timer: S::Timer,
    },
    External {
        node: NodeId,
        /// The trace entry of the step that scheduled it (`NO_CAUSE`: the setup or the
        /// driver).
        cause: u32,
        event: S::External,
    },
    FaultTick,
    Restart {
        node: NodeId,
        incarnation: u32,
    },
    PartitionEnds,
}

#[derive(Clone, Copy, Debug, Default)]
struct NodeMeta {
    up: bool,
    can_crash: bool,
    incarnation: u32,
    paused_until_ms: u64,
    skew_ms: i64,
    liveness_timers: u32,
    side: u8,
}

/// The engine state handlers act on through [`Ctx`]; reused from run to run.
pub struct Kernel<S: System> {
    now_ms: u64,
    queue: EventQueue<Event<S>>,
    choices: Choices,
    meta: Vec<NodeMeta>,
    logs: Vec<DurableLog>,
    partitioned: bool,
    /// A partition is on or the driver asked to lose messages: deliveries check.
    lossy: bool,
    profile: Profile,
    faults_on: bool,
    in_flight: u64,
    liveness_timers: u64,
    pending_externals: u64,
    next_msg_id: u64,
    stats: RunStats,
    hash: u64,
    trace_mode: TraceMode,
    trace: Trace,
    /// Messages still to lose on arrival ([`Sim::drop_next`], driven runs only).
    drop_next: u32,
    /// When the event loop stops (driven runs choose; a run stops when quiet).
    stop: Stop,
    /// The trace entry of the step being run (traced runs only): what it sends, arms
    /// or schedules is caused by it.
    step_entry: u32,
}

/// No cause: an event the setup, the driver or a fault brought.
pub const NO_CAUSE: u32 = u32::MAX;

/// When the event loop stops, besides its deadline.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Stop {
    /// When the world is quiet (a run's phases).
    #[default]
    Quiet,
    /// Only at the deadline ([`Sim::run_until`]).
    Deadline,
    /// When nothing is in flight and nothing is due within the horizon
    /// ([`Sim::run_until_calm`]).
    Calm { horizon_ms: u64 },
}

impl<S: System> Kernel<S> {
    /// Whether a message from `from` to a node in state `to` is lost on arrival to a
    /// partition (counted) or to a driver's [`Sim::drop_next`] (a drop, counted).
    #[cold]
    #[inline(never)]
    fn loses(&mut self, from: NodeId, to: NodeMeta) -> bool {
        if self.partitioned && self.meta[from.index()].side != to.side {
            self.stats.faults.add(FaultKind::Partitioned);
            return true;
        }
        if to.up && self.drop_next > 0 {
            self.drop_next -= 1;
            self.lossy = self.partitioned || self.drop_next > 0;
            self.stats.faults.add(FaultKind::Drop);
            return true;
        }
        false
    }

    /// Notes that the faults healed (a partition's end, or the liveness phase).
    fn note_heal(&mut self) {
        let everyone = NodeId(u32::MAX);
        self.note(
            EventKind::Heal,
            everyone,
            u32::MAX,
            0,
            NO_CAUSE,
            String::new,
        );
    }

    /// Sets whether the world is partitioned (and so whether messages may be lost on
    /// arrival).
    #[inline]
    fn set_partitioned(&mut self, partitioned: bool) {
        self.partitioned = partitioned;
        self.lossy = partitioned || self.drop_next > 0;
    }

    /// Counts a hit of the `sometimes` probe `name` (declared in [`System::PROBES`]).
    #[inline]
    fn count_probe(&mut self, name: &'static str) {
        // Same literal, same address (almost always): compare addresses before bytes.
        let position = S::PROBES
            .iter()
            .position(|probe| std::ptr::eq(probe.as_ptr(), name.as_ptr()))
            .or_else(|| S::PROBES.iter().position(|probe| *probe == name));
        match position {
            Some(index) => self.stats.probe_hits[index] += 1,
            None => debug_assert!(false, "probe `{name}` is not declared in System::PROBES"),
        }
    }

    fn new() -> Self {
        Self {
            now_ms: 0,
            queue: EventQueue::default(),
            choices: Choices::from_seed(0),
            meta: Vec::new(),
            logs: Vec::new(),
            partitioned: false,
            lossy: false,
            profile: Profile::calm(1, 1),
            faults_on: false,
            in_flight: 0,
            liveness_timers: 0,
            pending_externals: 0,
            next_msg_id: 0,
            stats: RunStats::default(),
            hash: 0,
            trace_mode: TraceMode::Hash,
            trace: Trace::default(),
            drop_next: 0,
            stop: Stop::Quiet,
            step_entry: NO_CAUSE,
        }
    }

    #[inline]
    fn is_quiet(&self, liveness_phase: bool) -> bool {
        self.in_flight == 0
            && self.liveness_timers == 0
            && (liveness_phase || self.pending_externals == 0)
    }

    /// Whether the event loop stops here: the world is quiet, or (a driven run) what
    /// the driver waits for came ([`Stop`]). One loop serves every caller, so the
    /// system's handlers are inlined into one dispatch.
    #[inline]
    fn should_stop(&mut self, liveness_phase: bool) -> bool {
        if self.in_flight != 0 || !(liveness_phase || self.pending_externals == 0) {
            return false;
        }
        match self.stop {
            Stop::Quiet => self.liveness_timers == 0,
            Stop::Deadline => false,
            Stop::Calm { horizon_ms } => self.calm(horizon_ms),
        }
    }

    #[cold]
    #[inline(never)]
    fn calm(&mut self, horizon_ms: u64) -> bool {
        let now_ms = self.now_ms;
        self.queue
            .peek_time_ms()
            .is_none_or(|at| at > now_ms + horizon_ms)
    }

    /// Folds one event into the hash and, if asked, the trace.
    #[inline]
    fn note(
        &mut self,
        kind: EventKind,
        node: NodeId,
        peer: u32,
        content_hash: u64,
        cause: u32,
        line: impl FnOnce() -> String,
    ) {
        let header = kind as u64 | u64::from(node.0) << 8 | u64::from(peer) << 32;
        self.hash = mix(mix(mix(self.hash, self.now_ms), header), content_hash);
        if self.trace_mode >= TraceMode::Steps {
            self.record_entry(kind, node, peer, content_hash, cause, line);
        }
    }

    /// Keeps a trace entry (and line): off the hot path, which only hashes.
    #[cold]
    #[inline(never)]
    fn record_entry(
        &mut self,
        kind: EventKind,
        node: NodeId,
        peer: u32,
        content_hash: u64,
        cause: u32,
        line: impl FnOnce() -> String,
    ) {
        if kind.is_step() {
            self.step_entry = self.trace.entries.len() as u32;
        }
        self.trace.entries.push(TraceEntry {
            cause,
            time_ms: self.now_ms,
            kind,
            node: node.0,
            peer,
            content_hash,
            hash_after: self.hash,
        });
        if self.trace_mode >= TraceMode::Text {
            let mut text = format!(
                "{:>4} {:>8}ms {:<9}",
                self.trace.lines.len(),
                self.now_ms,
                kind.name(),
            );
            if node.0 != u32::MAX {
                let _ = write!(text, " n{}", node.0);
            }
            if peer != u32::MAX {
                let _ = write!(text, " <- n{peer}");
            }
            let detail = line();
            if !detail.is_empty() {
                text.push(' ');
                text.push_str(&detail);
            }
            self.trace.lines.push(text);
        }
    }

    /// The network drops a message as it is sent (inside the send's span, which it
    /// closes).
    #[cold]
    #[inline(never)]
    fn drop_message(&mut self, from: NodeId, to: NodeId, msg: &S::Msg) {
        self.stats.faults.add(FaultKind::Drop);
        self.choices.end_span();
        let content = stable_hash(msg);
        let cause = self.step_entry;
        self.note(EventKind::Dropped, to, from.0, content, cause, || {
            format!("{msg}")
        });
    }

    /// The rarer network faults of one send, drawn in order (extra delay, then
    /// duplicate); returns the extra delay and queues the duplicate.
    #[cold]
    #[inline(never)]
    fn delay_or_duplicate(&mut self, from: NodeId, to: NodeId, id: MsgId, msg: &S::Msg) -> u64 {
        let profile = &self.profile;
        let choices = &mut self.choices;
        let mut extra_ms = 0;
        if choices.chance_per_mille(profile.delay_extra_per_mille) {
            extra_ms = choices.range(1, profile.delay_extra_ms_max.max(1));
            self.stats.faults.add(FaultKind::Delay);
        }
        if choices.chance_per_mille(profile.duplicate_per_mille) {
            let again_ms = choices.range(profile.delay_ms_min, profile.delay_ms_max);
            self.stats.faults.add(FaultKind::Duplicate);
            self.in_flight += 1;
            let copy = Event::Deliver {
                from,
                to,
                id,
                cause: self.step_entry,
                msg: Box::new(msg.clone()),
            };
            self.queue.push(self.now_ms + again_ms, copy);
        }
        extra_ms
    }

    #[inline(always)]
    fn push_timer(
        &mut self,
        node: NodeId,
        after_ms: u64,
        timer: S::Timer,
        liveness: bool,
    ) -> TimerId {
        let meta = &mut self.meta[node.index()];
        if liveness {
            meta.liveness_timers += 1;
            self.liveness_timers += 1;
        }
        let incarnation = meta.incarnation;
        let at = self.now_ms + after_ms;
        TimerId(self.queue.push(
            at,
            Event::Timer {
                node,
                incarnation,
                liveness,
                cause: self.step_entry,
                timer,
            },
        ))
    }
}

/// What a handler acts through: the clock, the network, timers, the node's log, the
/// choice stream and probes. Every effect is executed by the engine, deterministically.
pub struct Ctx<'a, S: System> {
    kernel: &'a mut Kernel<S>,
    node: NodeId,
}

impl<S: System> Ctx<'_, S> {
    /// The node this handler runs on.
    #[inline]
    pub fn node(&self) -> NodeId {
        self.node
    }

    /// The index of the step being run (steps finished before it): matches the order
    /// of the step events of a trace, so what a step wrote can be found again.
    #[inline]
    pub fn step(&self) -> u64 {
        self.kernel.stats.steps
    }

    /// Whether the run keeps a trace of its events (replays, shrunk runs), so that a
    /// system may keep what only a story needs.
    #[inline]
    pub fn is_traced(&self) -> bool {
        self.kernel.trace_mode >= TraceMode::Steps
    }

    /// This node's clock: virtual time plus its skew (never below 0).
    #[inline]
    pub fn now_ms(&self) -> u64 {
        let skew = self.kernel.meta[self.node.index()].skew_ms;
        self.kernel.now_ms.saturating_add_signed(skew)
    }

    /// Sends `msg` to `to`. The network draws a delay and, with faults on, may drop,
    /// duplicate or hold back the message; a partition or a down receiver loses it on
    /// arrival.
    #[inline(always)]
    pub fn send(&mut self, to: NodeId, msg: S::Msg) -> MsgId {
        self.send_boxed(to, Box::new(msg))
    }

    /// [`Ctx::send`] of a message already boxed (the queue holds messages boxed), for a
    /// sender that keeps messages waiting: no copy of the message on the way.
    #[inline(always)]
    pub fn send_boxed(&mut self, to: NodeId, msg: Box<S::Msg>) -> MsgId {
        let kernel = &mut *self.kernel;
        assert!(
            to.index() < kernel.meta.len(),
            "send to {to:?}, which the system never added"
        );
        let id = MsgId(kernel.next_msg_id);
        // (`stats.messages_sent` is this count, copied when the run ends.)
        kernel.next_msg_id += 1;
        let profile = &kernel.profile;
        let choices = &mut kernel.choices;
        // The delay, then (with faults on) the drop: the same draws as `range` and
        // `chance_per_mille`; on the seeded fast path (which records nothing, so has no
        // spans to open) drawn from a copy of the generator kept in registers.
        let (mut delay_ms, dropped) = if let Some((rng, draws)) = choices.fast_path() {
            let mut local = rng.clone();
            let mut delay_ms = profile.delay_ms_min;
            let spread = profile.delay_ms_max - profile.delay_ms_min;
            if spread > 0 {
                *draws += 1;
                delay_ms += local.below_inclusive(spread);
            }
            let per_mille = profile.drop_per_mille;
            let dropped = kernel.faults_on && per_mille > 0 && {
                *draws += 1;
                local.below_inclusive(999) >= 1000 - per_mille.min(1000)
            };
            *rng = local;
            (delay_ms, dropped)
        } else {
            choices.begin_span(SpanKind::Send);
            let delay_ms = choices.range(profile.delay_ms_min, profile.delay_ms_max);
            let dropped = kernel.faults_on && choices.chance_per_mille(profile.drop_per_mille);
            (delay_ms, dropped)
        };
        if dropped {
            kernel.drop_message(self.node, to, &msg);
            return id;
        }
        // Extra delays and duplicates are off in most profiles: decided off the hot path,
        // in the same order of draws.
        if kernel.faults_on
            && (profile.delay_extra_per_mille > 0 || profile.duplicate_per_mille > 0)
        {
            delay_ms += kernel.delay_or_duplicate(self.node, to, id, &msg);
        }
        let choices = &mut kernel.choices;
        choices.end_span();
        kernel.in_flight += 1;
        kernel.queue.push(
            kernel.now_ms + delay_ms,
            Event::Deliver {
                from: self.node,
                to,
                id,
                cause: kernel.step_entry,
                msg,
            },
        );
        id
    }

    /// Arms a timer that does not keep the world from being quiet (e.g. a show's start
    /// months away, a periodic flush).
    #[inline(always)]
    pub fn set_timer(&mut self, after_ms: u64, timer: S::Timer) -> TimerId {
        self.kernel.push_timer(self.node, after_ms, timer, false)
    }

    /// Arms a timer that counts for liveness: while it is pending the world is not quiet
    /// (resends awaiting acknowledgment, hold expiries, payment timeouts).
    #[inline(always)]
    pub fn set_liveness_timer(&mut self, after_ms: u64, timer: S::Timer) -> TimerId {
        self.kernel.push_timer(self.node, after_ms, timer, true)
    }

    /// Cancels a timer; false if it already fired, was cancelled, or died with a crash.
    #[inline(always)]
    pub fn cancel_timer(&mut self, id: TimerId) -> bool {
        let kernel = &mut *self.kernel;
        let Some(&mut Event::Timer {
            node,
            incarnation,
            liveness,
            ..
        }) = kernel.queue.get_mut(id.0)
        else {
            return false;
        };
        let meta = &mut kernel.meta[node.index()];
        if incarnation != meta.incarnation {
            return false;
        }
        kernel.queue.discard_queued(id.0);
        if liveness {
            meta.liveness_timers -= 1;
            kernel.liveness_timers -= 1;
        }
        true
    }

    /// Appends `record` to this node's log, unsynced (lost if the node crashes first).
    #[inline]
    pub fn append(&mut self, record: &S::Record) {
        self.kernel.logs[self.node.index()].append(record);
    }

    /// Makes everything this node appended durable.
    #[inline]
    pub fn sync(&mut self) {
        self.kernel.logs[self.node.index()].sync();
    }

    /// Appends `record` and syncs.
    #[inline]
    pub fn append_synced(&mut self, record: &S::Record) {
        let log = &mut self.kernel.logs[self.node.index()];
        log.append(record);
        log.sync();
    }

    /// A workload decision in `0..=max` from the run's choice stream (`0` = least
    /// eventful).
    #[inline(always)]
    pub fn draw(&mut self, max: u64) -> u64 {
        let choices = &mut self.kernel.choices;
        // The seeded fast path records nothing, so opens no span (the same draw).
        if let Some((rng, draws)) = choices.fast_path() {
            if max == 0 {
                return 0;
            }
            *draws += 1;
            return rng.below_inclusive(max);
        }
        choices.begin_span(SpanKind::Workload);
        let value = choices.draw(max);
        choices.end_span();
        value
    }

    /// A workload decision in `low..=high`.
    #[inline]
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.draw(high - low)
    }

    /// True with probability `per_mille / 1000` (drawn so that `0` means false).
    #[inline]
    pub fn chance_per_mille(&mut self, per_mille: u64) -> bool {
        per_mille > 0 && self.draw(999) >= 1000 - per_mille.min(1000)
    }

    /// Counts a hit of the `sometimes` probe `name` (declared in [`System::PROBES`]).
    #[inline]
    pub fn sometimes(&mut self, name: &'static str) {
        self.kernel.count_probe(name);
    }

    /// Schedules a workload event for `node` in `after_ms`.
    #[inline]
    pub fn schedule_external(&mut self, node: NodeId, after_ms: u64, event: S::External) {
        let kernel = &mut *self.kernel;
        kernel.pending_externals += 1;
        kernel.queue.push(
            kernel.now_ms + after_ms,
            Event::External {
                node,
                cause: kernel.step_entry,
                event,
            },
        );
    }

    /// Whether the run is in its liveness phase (faults healed, workload stopped).
    pub fn is_liveness_phase(&self) -> bool {
        !self.kernel.faults_on
    }
}

/// What [`System::setup`] acts through: add nodes, schedule workload, draw choices.
pub struct Setup<'a, S: System> {
    kernel: &'a mut Kernel<S>,
}

impl<S: System> Setup<'_, S> {
    /// Adds a node; `can_crash == false` marks one the engine never crashes or pauses
    /// (an external service, a customer's device).
    #[inline]
    pub fn add_node(&mut self, can_crash: bool) -> NodeId {
        let kernel = &mut *self.kernel;
        let id = NodeId(kernel.meta.len() as u32);
        kernel.meta.push(NodeMeta {
            up: true,
            can_crash,
            ..NodeMeta::default()
        });
        if kernel.logs.len() < kernel.meta.len() {
            kernel.logs.push(DurableLog::default());
        }
        kernel.logs[id.index()].clear();
        id
    }

    /// Schedules a workload event for `node` at virtual time `at_ms`.
    #[inline]
    pub fn schedule_external(&mut self, node: NodeId, at_ms: u64, event: S::External) {
        let kernel = &mut *self.kernel;
        kernel.pending_externals += 1;
        let cause = NO_CAUSE;
        kernel
            .queue
            .push(at_ms, Event::External { node, cause, event });
    }

    /// Writes `record` to the durable log of `node` (added earlier) and syncs it: the
    /// node's disk as the world was left before the run (the node starts from it).
    pub fn preload(&mut self, node: NodeId, record: &S::Record) {
        let log = &mut self.kernel.logs[node.index()];
        log.append(record);
        log.sync();
    }

    /// Whether this run keeps a trace ([`TraceMode::Steps`] or more).
    pub fn is_traced(&self) -> bool {
        self.kernel.trace_mode >= TraceMode::Steps
    }

    /// A setup decision in `0..=max`.
    #[inline]
    pub fn draw(&mut self, max: u64) -> u64 {
        self.kernel.choices.draw(max)
    }

    /// A setup decision in `low..=high`.
    #[inline]
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        self.kernel.choices.range(low, high)
    }

    /// Opens a span labelling the draws of one part of the world, the node `node` (a
    /// customer's plan), until [`Setup::end_part`]. Its first draw must be 0 for "this
    /// part does nothing" (and nothing more drawn then): the shrinker cuts a part's span
    /// to a single 0, with every step the node's workload events caused.
    pub fn begin_part(&mut self, node: NodeId) {
        self.kernel
            .choices
            .begin_tagged(crate::choices::SpanKind::Part, node.0);
    }

    /// Closes the span [`Setup::begin_part`] opened.
    pub fn end_part(&mut self) {
        self.kernel.choices.end_span();
    }

    /// The run's fault profile (already drawn).
    pub fn profile(&self) -> &Profile {
        &self.kernel.profile
    }
}

/// A read-only view of the world for checks.
pub struct View<'a, S: System> {
    nodes: &'a [Option<S::Node>],
    kernel: &'a Kernel<S>,
}

impl<'a, S: System> View<'a, S> {
    /// A node's volatile state, `None` while it is down.
    #[inline]
    pub fn node(&self, id: NodeId) -> Option<&'a S::Node> {
        self.nodes.get(id.index()).and_then(Option::as_ref)
    }

    /// Every node in id order, with its state (`None` while down).
    pub fn nodes(&self) -> impl Iterator<Item = (NodeId, Option<&'a S::Node>)> + 'a {
        self.nodes
            .iter()
            .enumerate()
            .map(|(i, state)| (NodeId(i as u32), state.as_ref()))
    }

    /// Virtual time now.
    pub fn now_ms(&self) -> u64 {
        self.kernel.now_ms
    }

    /// Records durable in `id`'s log.
    pub fn synced_records(&self, id: NodeId) -> u32 {
        self.kernel.logs[id.index()].synced_len()
    }

    /// Decodes `id`'s synced log into `out`: judge from durable state, not counters.
    pub fn read_synced_log(&self, id: NodeId, out: &mut Vec<S::Record>) {
        self.kernel.logs[id.index()].read_synced(out);
    }

    /// Whether `id` is up (not crashed).
    pub fn is_up(&self, id: NodeId) -> bool {
        self.kernel.meta[id.index()].up
    }

    /// How many nodes the system added.
    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }
}

/// The engine for one system type: reusable buffers and the event loop.
pub struct Sim<S: System> {
    config: Config,
    kernel: Kernel<S>,
    nodes: Vec<Option<S::Node>>,
    recovered: Vec<S::Record>,
    last_profile: Profile,
}

impl<S: System> Sim<S> {
    /// An engine running runs as `config` says.
    pub fn new(config: Config) -> Self {
        Self {
            config,
            kernel: Kernel::new(),
            nodes: Vec::new(),
            recovered: Vec::new(),
            last_profile: Profile::calm(1, 1),
        }
    }

    /// The config.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Changes the config (e.g. the trace mode for a replay).
    pub fn config_mut(&mut self) -> &mut Config {
        &mut self.config
    }

    /// Counters of the last run.
    pub fn stats(&self) -> &RunStats {
        &self.kernel.stats
    }

    /// The trace of the last run (entries and lines only with a richer [`TraceMode`]).
    pub fn trace(&self) -> &Trace {
        &self.kernel.trace
    }

    /// The profile of the last run.
    pub fn profile(&self) -> &Profile {
        &self.last_profile
    }

    /// The recording of the last run's draws (empty unless its choices were recording).
    pub fn recording(&self) -> &Recording {
        self.kernel.choices.recording()
    }

    /// Takes the last run's recording out.
    pub fn take_recording(&mut self) -> Recording {
        self.kernel.choices.take_recording()
    }

    /// Runs `system` once on `choices`, from setup through heal and quiesce to the
    /// `eventually` checks, or up to the first failed check.
    pub fn run(&mut self, system: &mut S, choices: Choices) -> Outcome {
        self.reset(choices);
        let failure = self.run_phases(system).err();
        let kernel = &mut self.kernel;
        kernel.stats.virtual_time_ms = kernel.now_ms;
        kernel.stats.messages_sent = kernel.next_msg_id;
        kernel.stats.draws = kernel.choices.draw_count();
        Outcome {
            hash: kernel.hash,
            failure,
            profile: kernel.profile,
        }
    }

    fn reset(&mut self, choices: Choices) {
        let kernel = &mut self.kernel;
        kernel.now_ms = 0;
        kernel.queue.clear();
        kernel.choices = choices;
        kernel.meta.clear();
        kernel.drop_next = 0;
        kernel.set_partitioned(false);
        kernel.faults_on = true;
        kernel.in_flight = 0;
        kernel.liveness_timers = 0;
        kernel.pending_externals = 0;
        kernel.next_msg_id = 0;
        let mut probe_hits = std::mem::take(&mut kernel.stats.probe_hits);
        probe_hits.clear();
        probe_hits.resize(S::PROBES.len(), 0);
        kernel.stats = RunStats {
            runs: 1,
            probe_hits,
            ..RunStats::default()
        };
        kernel.hash = 0;
        kernel.trace_mode = self.config.trace;
        kernel.trace.entries.clear();
        kernel.trace.lines.clear();
        kernel.stop = Stop::Quiet;
        kernel.step_entry = NO_CAUSE;
        self.nodes.clear();
    }

    fn run_phases(&mut self, system: &mut S) -> Result<(), Failure> {
        self.start_run(system);
        self.run_until_quiet(system, false, self.config.safety_ms_max)?;
        self.heal(system)?;
        let deadline_ms = self.kernel.now_ms + self.config.liveness_ms_max;
        self.run_until_quiet(system, true, deadline_ms)?;
        self.finish(system)
    }

    /// Draws the profile, sets the system up, starts every node and arms the first
    /// process fault.
    fn start_run(&mut self, system: &mut S) {
        let kernel = &mut self.kernel;
        kernel.profile = match self.config.profile {
            ProfileMode::Fixed(profile) => profile,
            ProfileMode::Swarm(max) => Profile::swarm(&mut kernel.choices, &max),
        };
        self.last_profile = kernel.profile;
        kernel.choices.begin_span(SpanKind::Setup);
        system.setup(&mut Setup {
            kernel: &mut *kernel,
        });
        let skew_max = kernel.profile.clock_skew_ms_max;
        if skew_max > 0 {
            for meta in &mut kernel.meta {
                // 0 is no skew; odd draws run slow, even draws fast.
                let drawn = kernel.choices.draw(skew_max * 2) as i64;
                meta.skew_ms = if drawn % 2 == 1 {
                    -(drawn + 1) / 2
                } else {
                    drawn / 2
                };
            }
        }
        kernel.choices.end_span();
        for index in 0..kernel.meta.len() {
            let node = NodeId(index as u32);
            // A node starts from what the setup preloaded into its log, if anything.
            self.recovered.clear();
            if !kernel.logs[index].is_empty() {
                kernel.logs[index].read_synced(&mut self.recovered);
            }
            let recovered = Recovered {
                records: &self.recovered,
                report: RecoveryReport::default(),
                is_restart: false,
            };
            let state = system.start(
                &mut Ctx {
                    kernel: &mut *kernel,
                    node,
                },
                recovered,
            );
            self.nodes.push(Some(state));
        }
        let profile = kernel.profile;
        let any_process_fault = profile.crash || profile.pause || profile.partition;
        if any_process_fault && profile.process_fault_interval_ms > 0 {
            let first_ms = kernel
                .choices
                .range(0, profile.process_fault_interval_ms * 2);
            kernel.queue.push(first_ms, Event::FaultTick);
        }
    }

    /// The `eventually` checks and the quiet check that end a run.
    fn finish(&mut self, system: &mut S) -> Result<(), Failure> {
        let kernel = &mut self.kernel;
        kernel.stats.checks += 1;
        let view = View {
            nodes: &self.nodes,
            kernel: &self.kernel,
        };
        let eventually = system.check_eventually(&view);
        let kernel = &self.kernel;
        let failure = |violation, kind| Failure {
            violation,
            kind,
            step: kernel.stats.steps,
            time_ms: kernel.now_ms,
        };
        if let Err(violation) = eventually {
            return Err(failure(violation, CheckKind::Eventually));
        }
        if !kernel.is_quiet(true) {
            let message = format!(
                "not quiet {} ms after heal: {} messages in flight, {} liveness timers pending",
                self.config.liveness_ms_max, kernel.in_flight, kernel.liveness_timers
            );
            return Err(failure(
                Violation::new("quiesces", message),
                CheckKind::Quiet,
            ));
        }
        Ok(())
    }

    #[cold]
    #[inline(never)]
    fn heal(&mut self, system: &mut S) -> Result<(), Failure> {
        let kernel = &mut self.kernel;
        kernel.faults_on = false;
        if kernel.partitioned
            && let Some(probe) = system.on_partition_healed()
        {
            kernel.count_probe(probe);
        }
        kernel.set_partitioned(false);
        kernel.note_heal();
        for meta in &mut kernel.meta {
            meta.side = 0;
            meta.paused_until_ms = 0;
        }
        for index in 0..self.kernel.meta.len() {
            if !self.kernel.meta[index].up {
                self.restart(system, NodeId(index as u32))?;
            }
        }
        Ok(())
    }

    fn run_until_quiet(
        &mut self,
        system: &mut S,
        liveness_phase: bool,
        deadline_ms: u64,
    ) -> Result<(), Failure> {
        while !self.kernel.should_stop(liveness_phase) {
            let Some((time_ms, event)) = self.kernel.queue.pop_until(deadline_ms) else {
                break;
            };
            self.kernel.now_ms = time_ms;
            self.dispatch(system, event, liveness_phase)?;
        }
        Ok(())
    }

    #[inline]
    fn dispatch(
        &mut self,
        system: &mut S,
        event: Event<S>,
        liveness_phase: bool,
    ) -> Result<(), Failure> {
        let kernel = &mut self.kernel;
        match event {
            Event::Deliver {
                from,
                to,
                id,
                cause,
                msg,
            } => {
                kernel.in_flight -= 1;
                let meta = kernel.meta[to.index()];
                // One flag on the hot path: a partition or a driver's `drop_next` is on.
                let lost = kernel.lossy && kernel.loses(from, meta);
                if !meta.up || lost {
                    let content = stable_hash(&msg);
                    kernel.note(EventKind::Lost, to, from.0, content, cause, || {
                        format!("{msg}")
                    });
                    return Ok(());
                }
                if meta.paused_until_ms > kernel.now_ms {
                    kernel.in_flight += 1;
                    kernel.queue.push(
                        meta.paused_until_ms,
                        Event::Deliver {
                            from,
                            to,
                            id,
                            cause,
                            msg,
                        },
                    );
                    return Ok(());
                }
                let content = stable_hash(&msg);
                kernel.note(EventKind::Deliver, to, from.0, content, cause, || {
                    format!("{msg}")
                });
                kernel.stats.messages_delivered += 1;
                kernel
                    .choices
                    .begin_tagged(SpanKind::Step, kernel.step_entry);
                let state = self.nodes[to.index()]
                    .as_mut()
                    .expect("an up node has state");
                let envelope = Envelope { from, id };
                system.on_message(
                    state,
                    &mut Ctx {
                        kernel: &mut *kernel,
                        node: to,
                    },
                    envelope,
                    *msg,
                );
                kernel.choices.end_span();
                self.after_step(system)
            }
            Event::Timer {
                node,
                incarnation,
                liveness,
                cause,
                timer,
            } => {
                let meta = kernel.meta[node.index()];
                if incarnation != meta.incarnation {
                    return Ok(());
                }
                if meta.paused_until_ms > kernel.now_ms {
                    let late = Event::Timer {
                        node,
                        incarnation,
                        liveness,
                        cause,
                        timer,
                    };
                    kernel.queue.push(meta.paused_until_ms, late);
                    return Ok(());
                }
                if liveness {
                    kernel.meta[node.index()].liveness_timers -= 1;
                    kernel.liveness_timers -= 1;
                }
                let content = stable_hash(&timer);
                kernel.note(EventKind::Timer, node, u32::MAX, content, cause, || {
                    format!("{timer}")
                });
                kernel.stats.timers_fired += 1;
                kernel
                    .choices
                    .begin_tagged(SpanKind::Step, kernel.step_entry);
                let state = self.nodes[node.index()]
                    .as_mut()
                    .expect("an up node has state");
                system.on_timer(
                    state,
                    &mut Ctx {
                        kernel: &mut *kernel,
                        node,
                    },
                    timer,
                );
                kernel.choices.end_span();
                self.after_step(system)
            }
            Event::External { node, cause, event } => {
                kernel.pending_externals -= 1;
                if liveness_phase {
                    return Ok(());
                }
                let meta = kernel.meta[node.index()];
                let content = stable_hash(&event);
                if !meta.up {
                    kernel.note(EventKind::Lost, node, u32::MAX, content, cause, || {
                        format!("{event}")
                    });
                    return Ok(());
                }
                if meta.paused_until_ms > kernel.now_ms {
                    kernel.pending_externals += 1;
                    kernel
                        .queue
                        .push(meta.paused_until_ms, Event::External { node, cause, event });
                    return Ok(());
                }
                kernel.note(EventKind::External, node, u32::MAX, content, cause, || {
                    format!("{event}")
                });
                kernel.stats.externals += 1;
                kernel
                    .choices
                    .begin_tagged(SpanKind::Step, kernel.step_entry);
                let state = self.nodes[node.index()]
                    .as_mut()
                    .expect("an up node has state");
                system.on_external(
                    state,
                    &mut Ctx {
                        kernel: &mut *kernel,
                        node,
                    },
                    event,
                );
                kernel.choices.end_span();
                self.after_step(system)
            }
            Event::FaultTick => {
                if !kernel.faults_on {
                    return Ok(());
                }
                self.inject_process_fault(system);
                let kernel = &mut self.kernel;
                let interval_ms = kernel.profile.process_fault_interval_ms;
                let next_ms = kernel
                    .choices
                    .range(interval_ms / 2, interval_ms * 3 / 2)
                    .max(1);
                kernel.queue.push(kernel.now_ms + next_ms, Event::FaultTick);
                Ok(())
            }
            Event::Restart { node, incarnation } => {
                let meta = kernel.meta[node.index()];
                if meta.up || meta.incarnation != incarnation {
                    return Ok(());
                }
                self.restart(system, node)
            }
            Event::PartitionEnds => {
                kernel.set_partitioned(false);
                for meta in &mut kernel.meta {
                    meta.side = 0;
                }
                if let Some(probe) = system.on_partition_healed() {
                    kernel.count_probe(probe);
                }
                Ok(())
            }
        }
    }

    #[inline]
    fn after_step(&mut self, system: &mut S) -> Result<(), Failure> {
        let kernel = &mut self.kernel;
        kernel.stats.steps += 1;
        if self.config.check_always {
            kernel.stats.checks += 1;
            let view = View {
                nodes: &self.nodes,
                kernel: &self.kernel,
            };
            if let Err(violation) = system.check_always(&view) {
                return Err(self.failure(violation, CheckKind::Always));
            }
        }
        if self.kernel.stats.steps >= self.config.steps_max {
            let message = format!("{} steps without finishing", self.kernel.stats.steps);
            return Err(self.failure(Violation::new("steps_bounded", message), CheckKind::Quiet));
        }
        Ok(())
    }

    fn failure(&self, violation: Violation, kind: CheckKind) -> Failure {
        Failure {
            violation,
            kind,
            step: self.kernel.stats.steps,
            time_ms: self.kernel.now_ms,
        }
    }

    #[cold]
    #[inline(never)]
    fn inject_process_fault(&mut self, system: &mut S) {
        const FAULT_HAPPENS_SCALE: u64 = 255;
        const FAULT_SKIPPED: u64 = 8;
        let kernel = &mut self.kernel;
        let profile = kernel.profile;
        let mut kinds = [FaultKind::Crash; 3];
        let mut count = 0;
        for (on, kind) in [
            (profile.crash, FaultKind::Crash),
            (profile.pause, FaultKind::Pause),
            (profile.partition, FaultKind::Partition),
        ] {
            if on {
                kinds[count] = kind;
                count += 1;
            }
        }
        if count == 0 {
            return;
        }
        kernel.choices.begin_span(SpanKind::Fault);
        // A fault's first draw says whether it happens: 0 (and a sliver of draws) skips
        // it and draws nothing more, so the shrinker deletes one fault by cutting its span
        // to a single 0 without moving any later draw.
        if kernel.choices.draw(FAULT_HAPPENS_SCALE) < FAULT_SKIPPED {
            kernel.choices.end_span();
            return;
        }
        let kind = kinds[kernel.choices.draw(count as u64 - 1) as usize];
        let now_ms = kernel.now_ms;
        let candidate =
            |meta: &NodeMeta| meta.up && meta.can_crash && meta.paused_until_ms <= now_ms;
        let candidates = kernel.meta.iter().filter(|meta| candidate(meta)).count() as u64;
        match kind {
            FaultKind::Crash | FaultKind::Pause if candidates > 0 => {
                let pick = kernel.choices.draw(candidates - 1) as usize;
                let index = (0..kernel.meta.len())
                    .filter(|&i| candidate(&kernel.meta[i]))
                    .nth(pick)
                    .expect("pick below candidate count");
                let outage_ms = kernel.choices.range(1, profile.outage_ms_max.max(1));
                let node = NodeId(index as u32);
                if kind == FaultKind::Crash {
                    self.crash(system, node);
                    let kernel = &mut self.kernel;
                    let incarnation = kernel.meta[index].incarnation;
                    kernel
                        .queue
                        .push(now_ms + outage_ms, Event::Restart { node, incarnation });
                } else {
                    kernel.meta[index].paused_until_ms = now_ms + outage_ms;
                    kernel.stats.faults.add(FaultKind::Pause);
                    kernel.note(
                        EventKind::Pause,
                        node,
                        u32::MAX,
                        outage_ms,
                        NO_CAUSE,
                        || format!("for {outage_ms}ms"),
                    );
                }
            }
            FaultKind::Partition if !kernel.partitioned && kernel.meta.len() > 1 => {
                let nodes = kernel.meta.len() as u64;
                let isolated = kernel.choices.range(1, (nodes / 2).clamp(1, 3));
                for _ in 0..isolated {
                    let index = kernel.choices.draw(nodes - 1) as usize;
                    kernel.meta[index].side = 1;
                }
                let first = kernel
                    .meta
                    .iter()
                    .position(|meta| meta.side == 1)
                    .unwrap_or(0);
                kernel.set_partitioned(true);
                let outage_ms = kernel.choices.range(1, profile.outage_ms_max.max(1));
                kernel.queue.push(now_ms + outage_ms, Event::PartitionEnds);
                kernel.stats.faults.add(FaultKind::Partition);
                let node = NodeId(first as u32);
                kernel.note(
                    EventKind::Partition,
                    node,
                    u32::MAX,
                    outage_ms,
                    NO_CAUSE,
                    || format!("{isolated} node(s) cut off for {outage_ms}ms"),
                );
            }
            _ => {}
        }
        self.kernel.choices.end_span();
    }

    #[cold]
    #[inline(never)]
    fn crash(&mut self, system: &mut S, node: NodeId) {
        let kernel = &mut self.kernel;
        let index = node.index();
        let profile = kernel.profile;
        let log = &mut kernel.logs[index];
        let tear = match log.first_unsynced_frame_bytes() {
            Some(frame) if kernel.choices.chance_per_mille(profile.tear_per_mille) => {
                if kernel.choices.draw(1) == 0 {
                    Some(Tear::CutAt(
                        kernel.choices.range(1, frame as u64 - 1) as usize
                    ))
                } else {
                    Some(Tear::ZeroTail(
                        kernel.choices.range(1, frame.min(16) as u64) as usize,
                    ))
                }
            }
            _ => None,
        };
        let effect = log.crash(tear);
        let meta = &mut kernel.meta[index];
        meta.up = false;
        meta.incarnation += 1;
        meta.paused_until_ms = 0;
        kernel.liveness_timers -= u64::from(meta.liveness_timers);
        meta.liveness_timers = 0;
        kernel.stats.faults.add(FaultKind::Crash);
        if effect.torn {
            kernel.stats.faults.add(FaultKind::TornWrite);
        }
        let content = u64::from(effect.records_lost) << 1 | u64::from(effect.torn);
        kernel.note(EventKind::Crash, node, u32::MAX, content, NO_CAUSE, || {
            format!(
                "lost {} unsynced record(s){}",
                effect.records_lost,
                if effect.torn { ", torn" } else { "" }
            )
        });
        self.nodes[index] = None;
        system.on_crash(node);
    }

    #[cold]
    #[inline(never)]
    fn restart(&mut self, system: &mut S, node: NodeId) -> Result<(), Failure> {
        let kernel = &mut self.kernel;
        let index = node.index();
        let meta = &mut kernel.meta[index];
        meta.up = true;
        meta.paused_until_ms = 0;
        let report = kernel.logs[index].recover(&mut self.recovered);
        let content = u64::from(report.records) << 1 | u64::from(report.torn_dropped);
        kernel.note(
            EventKind::Restart,
            node,
            u32::MAX,
            content,
            NO_CAUSE,
            || {
                format!(
                    "from {} record(s){}",
                    report.records,
                    if report.torn_dropped {
                        ", torn record dropped"
                    } else {
                        ""
                    }
                )
            },
        );
        kernel.stats.restarts += 1;
        kernel
            .choices
            .begin_tagged(SpanKind::Step, kernel.step_entry);
        let recovered = Recovered {
            records: &self.recovered,
            report,
            is_restart: true,
        };
        let state = system.start(
            &mut Ctx {
                kernel: &mut *kernel,
                node,
            },
            recovered,
        );
        kernel.choices.end_span();
        self.nodes[index] = Some(state);
        self.kernel.stats.checks += 1;
        let view = View {
            nodes: &self.nodes,
            kernel: &self.kernel,
        };
        if let Err(violation) = system.check_restart(node, &view) {
            return Err(self.failure(violation, CheckKind::Restart));
        }
        self.after_step(system)
    }
}
