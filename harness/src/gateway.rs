//! The payment gateway: a node outside our control, with SPEC's Payment contract.
//!
//! Every call carries an idempotency key; a call with a key the ledger already holds
//! moves no money and gets the recorded answer; a status query by key answers what
//! happened to that call (or that it never arrived). It approves or declines
//! authorizations (and, rarely, captures), times out with the money moved or not,
//! answers late and answers twice, at rates drawn per run ([`GatewayProfile`]); in some
//! runs it has a long outage (a minute to two hours of virtual time) in which it
//! declines or leaves unknown every call and can answer no status query. It never
//! crashes, and it does not protect us from ourselves: it captures, refunds and
//! pays out whatever a valid key asks. Its [`Ledger`] is the truth about money; the
//! invariants read it, never our payment records alone.

use std::collections::BTreeMap;
use std::fmt;

use turnstile_core::payment::{GatewayCall, GatewayKey, GatewayOutcome, GatewayRequest, Operation};
use turnstile_core::{Money, PaymentId};
use turnstile_host::Msg;
use turnstile_sim::{Ctx, NodeId, Setup, System};

use crate::layout::{World, WorldTimer};
use crate::probes;

/// How the gateway misbehaves in a run, per mille of calls. Drawn at setup from the
/// run's choice stream (0 = well behaved), printed with the engine's profile.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct GatewayProfile {
    /// Authorizations declined.
    pub decline_per_mille: u64,
    /// Captures declined.
    pub capture_decline_per_mille: u64,
    /// Calls that time out (outcome unknown to the caller).
    pub timeout_per_mille: u64,
    /// Of the timed-out calls, those whose money moved anyway.
    pub moved_on_timeout_per_mille: u64,
    /// Answers sent late.
    pub late_per_mille: u64,
    /// Longest extra lateness.
    pub late_ms_max: u64,
    /// Answers sent twice.
    pub twice_per_mille: u64,
    /// Calls the gateway stalls on for minutes before executing (ignoring resends).
    pub stall_per_mille: u64,
    /// A long outage: from this time (ms on the gateway's clock, since the run began)…
    pub outage_from_ms: u64,
    /// …for this long (0 = none): every call is declined or left unknown, unexecuted.
    pub outage_ms: u64,
}

impl GatewayProfile {
    /// Draws a profile: each misbehaviour off (draw 0) or on at a drawn rate.
    pub fn draw<S: System>(setup: &mut Setup<'_, S>) -> Self {
        let rate = |setup: &mut Setup<'_, S>, ceiling: u64| {
            if setup.draw(1) == 1 {
                setup.range(1, ceiling)
            } else {
                0
            }
        };
        let decline_per_mille = rate(setup, 300);
        let capture_decline_per_mille = rate(setup, 100);
        let timeout_per_mille = rate(setup, 300);
        let moved_on_timeout_per_mille = if timeout_per_mille > 0 {
            setup.range(0, 1000)
        } else {
            0
        };
        let late_per_mille = rate(setup, 300);
        let late_ms_max = if late_per_mille > 0 {
            setup.range(1, 3_000)
        } else {
            0
        };
        let twice_per_mille = rate(setup, 300);
        let stall_per_mille = rate(setup, 100);
        // One run in eight has a long outage: 1, 2, 4 … 128 minutes, starting within
        // the first 20 minutes (a shrunk run has none).
        let (outage_from_ms, outage_ms) = if setup.draw(7) == 7 {
            let from = setup.range(0, 20 * 60_000);
            (from, 60_000 << setup.draw(7))
        } else {
            (0, 0)
        };
        Self {
            decline_per_mille,
            capture_decline_per_mille,
            timeout_per_mille,
            moved_on_timeout_per_mille,
            late_per_mille,
            late_ms_max,
            twice_per_mille,
            stall_per_mille,
            outage_from_ms,
            outage_ms,
        }
    }

    /// Whether the gateway is down at `now_ms` (since the run began).
    pub fn down_at(&self, now_ms: u64) -> bool {
        self.outage_ms > 0
            && now_ms >= self.outage_from_ms
            && now_ms - self.outage_from_ms < self.outage_ms
    }
}

impl fmt::Display for GatewayProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "gateway: decline={}‰ capture_decline={}‰ timeout={}‰(moved {}‰) late={}‰(≤{}ms) twice={}‰ stall={}‰ outage={}",
            self.decline_per_mille,
            self.capture_decline_per_mille,
            self.timeout_per_mille,
            self.moved_on_timeout_per_mille,
            self.late_per_mille,
            self.late_ms_max,
            self.twice_per_mille,
            self.stall_per_mille,
            if self.outage_ms == 0 {
                "none".to_owned()
            } else {
                format!(
                    "{}min from {}s",
                    self.outage_ms / 60_000,
                    self.outage_from_ms / 1_000
                )
            }
        )
    }
}

/// Money moved for one payment, as the gateway's ledger shows it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Account {
    /// Approved authorizations.
    pub authorizations: u32,
    /// Their amount.
    pub authorized: Money,
    /// Approved captures.
    pub captures: u32,
    /// Captured money.
    pub captured: Money,
    /// Refunded money.
    pub refunded: Money,
    /// Money paid out to resellers from this payment.
    pub paid_out: Money,
    /// Whether the authorization was voided.
    pub voided: bool,
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} authorization(s) of {}{}, {} capture(s) of {}, refunded {}, paid out {}",
            self.authorizations,
            self.authorized,
            if self.voided { " (voided)" } else { "" },
            self.captures,
            self.captured,
            self.refunded,
            self.paid_out
        )
    }
}

impl Account {
    /// Money the gateway holds for us on this payment: captured − refunded − paid out.
    pub fn net(&self) -> i128 {
        i128::from(self.captured.0) - i128::from(self.refunded.0) - i128::from(self.paid_out.0)
    }

    /// An approved authorization neither voided nor captured.
    pub fn open_authorization(&self) -> bool {
        self.authorizations > 0 && !self.voided && self.captures == 0
    }
}

/// The gateway's ledger: every executed call by key, and per payment what moved.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    /// Executed calls and their outcome.
    pub calls: BTreeMap<GatewayKey, GatewayOutcome>,
    /// Calls the gateway is stalled on (received, not yet executed).
    pub stalled: std::collections::BTreeSet<GatewayKey>,
    /// Per payment.
    pub accounts: BTreeMap<PaymentId, Account>,
}

impl Ledger {
    /// Empties the ledger for a new run.
    pub fn clear(&mut self) {
        self.calls.clear();
        self.stalled.clear();
        self.accounts.clear();
    }

    /// The account of `payment` (all zero if nothing moved).
    pub fn account(&self, payment: PaymentId) -> Account {
        self.accounts.get(&payment).copied().unwrap_or_default()
    }

    /// Executes a call once: moves the money and records the outcome by key.
    fn execute(&mut self, call: GatewayCall, approve: bool) -> GatewayOutcome {
        let outcome = if approve {
            GatewayOutcome::Approved
        } else {
            GatewayOutcome::Declined
        };
        self.calls.insert(call.key, outcome);
        if !approve {
            return outcome;
        }
        let account = self.accounts.entry(call.key.payment).or_default();
        match call.request {
            GatewayRequest::Authorize { amount, .. } => {
                account.authorizations += 1;
                account.authorized = Money(account.authorized.0 + amount.0);
            }
            GatewayRequest::Capture { amount } => {
                account.captures += 1;
                account.captured = Money(account.captured.0 + amount.0);
            }
            GatewayRequest::Void => account.voided = true,
            GatewayRequest::Refund { amount } => {
                account.refunded = Money(account.refunded.0 + amount.0);
            }
            GatewayRequest::Payout { amount, .. } => {
                account.paid_out = Money(account.paid_out.0 + amount.0);
            }
            GatewayRequest::Status => {}
        }
        outcome
    }
}

/// A driver's say over how the gateway treats the next new authorization (a driven
/// run's `pay --decline`, `--timeout`, `--late`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scripted {
    /// The card is declined.
    Decline,
    /// The money moves, but the caller hears nothing it can use (outcome unknown).
    Timeout,
    /// The gateway works on it for this long (resends unanswered), then approves.
    Late {
        /// How long.
        ms: u64,
    },
}

/// The gateway node: how it misbehaves in this run, and its ledger (it never crashes,
/// so both live outside the engine's volatile node state).
#[derive(Clone, Debug, Default)]
pub struct Gateway {
    /// This run's misbehaviour.
    pub profile: GatewayProfile,
    /// The truth about money.
    pub ledger: Ledger,
    /// What the driver scripted for the next new authorization (driven runs only).
    pub scripted: Option<Scripted>,
}

/// A call the gateway executed (money may have moved), for the observer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Executed {
    /// The call.
    pub call: GatewayCall,
    /// What the gateway did (approved or declined), whatever it answered.
    pub outcome: GatewayOutcome,
}

impl Gateway {
    /// A message reached the gateway; returns the call it executed, if it did.
    pub fn on_message<S: World>(
        &mut self,
        ctx: &mut Ctx<'_, S>,
        from: NodeId,
        msg: Msg,
    ) -> Option<Executed> {
        let Msg::Gateway(call) = msg else {
            return None;
        };
        self.call(ctx, from, call)
    }

    /// A timer of the gateway fired: a late answer leaves, or a stalled call executes.
    pub fn on_timer<S: World>(
        &mut self,
        ctx: &mut Ctx<'_, S>,
        timer: WorldTimer,
    ) -> Option<Executed> {
        match timer {
            WorldTimer::GatewayStalled { to, call } => {
                self.ledger.stalled.remove(&call.key);
                self.call(ctx, to, call)
            }
            WorldTimer::GatewayLate { to, key, outcome } => {
                ctx.send(to, Msg::GatewayReply { key, outcome });
                None
            }
            _ => None,
        }
    }

    fn call<S: World>(
        &mut self,
        ctx: &mut Ctx<'_, S>,
        from: NodeId,
        call: GatewayCall,
    ) -> Option<Executed> {
        let mut executed = None;
        let profile = if ctx.is_liveness_phase() {
            // The gateway recovers with the rest of the world: it still declines cards,
            // but answers every call, on time, once.
            GatewayProfile {
                decline_per_mille: self.profile.decline_per_mille,
                capture_decline_per_mille: self.profile.capture_decline_per_mille,
                ..GatewayProfile::default()
            }
        } else {
            self.profile
        };
        let down = profile.down_at(ctx.now_ms());
        let outcome = if call.request == GatewayRequest::Status {
            let known = self.ledger.calls.get(&call.key).copied();
            // Down, the gateway cannot answer a status query either.
            if down || ctx.chance_per_mille(profile.timeout_per_mille) {
                GatewayOutcome::Unknown
            } else {
                known.unwrap_or(GatewayOutcome::NotFound)
            }
        } else if let Some(known) = self.ledger.calls.get(&call.key).copied() {
            // Idempotency: the same key never moves money twice (even while down).
            known
        } else if down {
            // Down: nothing executes; the call is declined (an answer the gateway keeps
            // for the key) or left unknown.
            if ctx.draw(1) == 1 {
                if matches!(
                    call.key.operation,
                    Operation::Void | Operation::Refund(_) | Operation::Payout(_)
                ) {
                    ctx.sometimes(probes::OWED_MONEY_DECLINED_IN_OUTAGE);
                }
                let done = self.ledger.execute(call, false);
                executed = Some(Executed {
                    call,
                    outcome: done,
                });
                done
            } else {
                GatewayOutcome::Unknown
            }
        } else if self.ledger.stalled.contains(&call.key) {
            return None; // Still working on it: resends go unanswered.
        } else if let (Operation::Authorize, Some(scripted)) =
            (call.key.operation, self.scripted.take())
        {
            let approve = match scripted {
                Scripted::Decline => false,
                Scripted::Timeout => true,
                Scripted::Late { ms } => {
                    self.ledger.stalled.insert(call.key);
                    ctx.set_liveness_timer(ms, WorldTimer::GatewayStalled { to: from, call });
                    return None;
                }
            };
            let done = self.ledger.execute(call, approve);
            executed = Some(Executed {
                call,
                outcome: done,
            });
            if scripted == Scripted::Timeout {
                GatewayOutcome::Unknown
            } else {
                done
            }
        } else if ctx.chance_per_mille(profile.stall_per_mille) {
            // A slow gateway: it executes the call minutes later, past a payment window.
            self.ledger.stalled.insert(call.key);
            let stall_ms = ctx.range(10 * 60_000, 16 * 60_000);
            ctx.set_liveness_timer(stall_ms, WorldTimer::GatewayStalled { to: from, call });
            return None;
        } else {
            let timeout = ctx.chance_per_mille(profile.timeout_per_mille);
            let executes = !timeout || ctx.chance_per_mille(profile.moved_on_timeout_per_mille);
            let mut outcome = GatewayOutcome::Unknown;
            if executes {
                let decline = match call.key.operation {
                    Operation::Authorize => ctx.chance_per_mille(profile.decline_per_mille),
                    Operation::Capture => ctx.chance_per_mille(profile.capture_decline_per_mille),
                    _ => false,
                };
                let done = self.ledger.execute(call, !decline);
                executed = Some(Executed {
                    call,
                    outcome: done,
                });
                if !timeout {
                    outcome = done;
                }
            }
            outcome
        };
        if outcome == GatewayOutcome::Unknown {
            ctx.sometimes(probes::GATEWAY_OUTCOME_UNKNOWN);
        }
        tracing::debug!(key = ?call.key, request = ?call.request, outcome = ?outcome, "gateway");
        let reply = Msg::GatewayReply {
            key: call.key,
            outcome,
        };
        if ctx.chance_per_mille(profile.late_per_mille) {
            let late_ms = ctx.range(1, profile.late_ms_max.max(1));
            ctx.set_liveness_timer(
                late_ms,
                WorldTimer::GatewayLate {
                    to: from,
                    key: call.key,
                    outcome,
                },
            );
        } else {
            ctx.send(from, reply.clone());
        }
        if ctx.chance_per_mille(profile.twice_per_mille) {
            ctx.sometimes(probes::GATEWAY_ANSWERED_TWICE);
            ctx.send(from, reply);
        }
        executed
    }
}
