//! Invariant failures and the kinds of check that find them.
//!
//! A system checks its invariants in three places: `always` after every step, at every
//! restart of a node, and `eventually` once the world has healed and gone quiet. A failed
//! check is a [`Violation`]: the invariant's stable name (used to group failures and to
//! decide whether a shrunk run still fails "the same way") and a message naming what is
//! wrong, in the system's words. `sometimes` probes are counted by the engine
//! ([`crate::Ctx::sometimes`]) and reported per sweep.

use std::fmt;

/// Where a check ran.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckKind {
    /// After a step.
    Always,
    /// After a node restarted.
    Restart,
    /// After heal and quiesce.
    Eventually,
    /// The world did not go quiet within the liveness bound.
    Quiet,
}

impl CheckKind {
    /// Stable lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            CheckKind::Always => "always",
            CheckKind::Restart => "restart",
            CheckKind::Eventually => "eventually",
            CheckKind::Quiet => "quiet",
        }
    }
}

/// A failed check: which invariant, and what the system says went wrong.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Violation {
    /// The invariant's stable name (`no_oversell`, `sagas_terminate`…).
    pub invariant: &'static str,
    /// What was wrong, in the system's words.
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.invariant, self.message)
    }
}

impl Violation {
    /// A violation of `invariant`.
    pub fn new(invariant: &'static str, message: impl Into<String>) -> Self {
        Self {
            invariant,
            message: message.into(),
        }
    }
}

/// A violation as the engine saw it: when and by which kind of check.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Failure {
    /// The invariant and message.
    pub violation: Violation,
    /// Which kind of check failed.
    pub kind: CheckKind,
    /// Steps taken when it failed (the failing step included).
    pub step: u64,
    /// Virtual time when it failed.
    pub time_ms: u64,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} check `{}` failed at step {} (t={}ms): {}",
            self.kind.name(),
            self.violation.invariant,
            self.step,
            self.time_ms,
            self.violation.message
        )
    }
}
