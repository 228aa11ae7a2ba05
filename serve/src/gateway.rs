//! The payment gateway over HTTP: the client `serve` calls it with, and `turnstile
//! gateway`, a stand-alone fake with a ledger and flags for declines, timeouts and
//! late answers, so a demo and the tests need nothing else.
//!
//! The contract (SPEC, Payment): `POST /calls` with `{"key": …, "request": …}` and the
//! key again in the `Idempotency-Key` header; the answer is `{"outcome": "Approved" |
//! "Declined" | "NotFound"}`. A call whose key the ledger holds moves no money and gets
//! the recorded answer; `request: "Status"` asks what happened to the call with that
//! key. A call the client gets no answer to within its timeout is `Unknown` to the
//! payment service, which then asks the status by key.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use turnstile_core::payment::{GatewayCall, GatewayKey, GatewayOutcome, GatewayRequest};
use turnstile_core::{Money, PaymentId};

use crate::http::Client;
use crate::ids::{self, Kind};
use crate::runtime::{self, GatewayPort};

/// The gateway client: each call is its own task, answered into the driver.
pub struct HttpGateway {
    addr: SocketAddr,
    timeout: Duration,
    runtime: tokio::runtime::Handle,
    driver: runtime::Handle,
}

impl HttpGateway {
    /// A client of the gateway at `addr`, spawning on `runtime`, answering `driver`.
    pub fn new(
        addr: SocketAddr,
        timeout: Duration,
        runtime: tokio::runtime::Handle,
        driver: runtime::Handle,
    ) -> HttpGateway {
        HttpGateway {
            addr,
            timeout,
            runtime,
            driver,
        }
    }
}

/// The text form of a key, for the `Idempotency-Key` header.
pub fn key_text(key: &GatewayKey) -> String {
    serde_json::to_string(key).unwrap_or_default()
}

impl GatewayPort for HttpGateway {
    fn call(&self, call: GatewayCall) {
        let (addr, timeout, driver) = (self.addr, self.timeout, self.driver.clone());
        self.runtime.spawn(async move {
            let mut client = Client::new(addr, timeout);
            let key = key_text(&call.key);
            let body = serde_json::json!({ "key": call.key, "request": call.request });
            let outcome = match client
                .request("POST", "/calls", &[("idempotency-key", &key)], Some(&body))
                .await
            {
                Ok(answer) if answer.status == 200 => {
                    serde_json::from_value::<CallAnswer>(answer.json())
                        .map_or(GatewayOutcome::Unknown, |a| a.outcome)
                }
                Ok(answer) => {
                    tracing::warn!(status = answer.status, %key, "gateway refused the call");
                    GatewayOutcome::Unknown
                }
                Err(error) => {
                    tracing::info!(%error, %key, "gateway call unanswered: outcome unknown");
                    GatewayOutcome::Unknown
                }
            };
            driver.gateway_reply(call.key, outcome);
        });
    }
}

#[derive(Serialize, Deserialize)]
struct CallAnswer {
    outcome: GatewayOutcome,
}

/// How the fake gateway misbehaves.
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags {
    /// Authorizations declined, per mille.
    pub decline_per_mille: u64,
    /// Calls executed but answered only after `hang_ms` (the caller times out), per
    /// mille.
    pub timeout_per_mille: u64,
    /// How long a timed-out call hangs before answering.
    pub hang_ms: u64,
    /// Every answer is delayed by up to this many ms.
    pub late_ms: u64,
}

/// Money moved for one payment.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Account {
    /// Approved authorizations' amount.
    pub authorized: u64,
    /// Captured.
    pub captured: u64,
    /// Refunded.
    pub refunded: u64,
    /// Paid out to resellers.
    pub paid_out: u64,
    /// The authorization was voided.
    pub voided: bool,
}

/// The fake's ledger: every executed call by key, and what moved per payment.
#[derive(Default)]
pub struct Ledger {
    calls: BTreeMap<GatewayKey, GatewayOutcome>,
    accounts: BTreeMap<PaymentId, Account>,
}

impl Ledger {
    fn execute(&mut self, call: &GatewayCall, approve: bool) -> GatewayOutcome {
        let outcome = if approve {
            GatewayOutcome::Approved
        } else {
            GatewayOutcome::Declined
        };
        self.calls.insert(call.key, outcome);
        if approve {
            let account = self.accounts.entry(call.key.payment).or_default();
            let add = |total: &mut u64, amount: Money| *total = total.saturating_add(amount.0);
            match call.request {
                GatewayRequest::Authorize { amount, .. } => add(&mut account.authorized, amount),
                GatewayRequest::Capture { amount } => add(&mut account.captured, amount),
                GatewayRequest::Refund { amount } => add(&mut account.refunded, amount),
                GatewayRequest::Payout { amount, .. } => add(&mut account.paid_out, amount),
                GatewayRequest::Void => account.voided = true,
                GatewayRequest::Status => {}
            }
        }
        outcome
    }
}

struct Fake {
    flags: Flags,
    ledger: Mutex<Ledger>,
    /// An outage (`POST /outage`): every call is declined, no status query answered.
    down: std::sync::atomic::AtomicBool,
}

fn chance(per_mille: u64) -> bool {
    per_mille > 0 && ids::fresh() % 1000 < per_mille
}

async fn calls(State(fake): State<Arc<Fake>>, Json(call): Json<GatewayCall>) -> Json<CallAnswer> {
    let flags = fake.flags;
    let (outcome, hang) = {
        let mut ledger = fake.ledger.lock().unwrap_or_else(|e| e.into_inner());
        let down = fake.down.load(std::sync::atomic::Ordering::Relaxed);
        if down && call.request == GatewayRequest::Status {
            (GatewayOutcome::Unknown, false)
        } else if down && !ledger.calls.contains_key(&call.key) {
            // Down: the call is declined, and the decline is the key's answer.
            (ledger.execute(&call, false), false)
        } else if call.request == GatewayRequest::Status {
            let known = ledger.calls.get(&call.key).copied();
            (known.unwrap_or(GatewayOutcome::NotFound), false)
        } else if let Some(known) = ledger.calls.get(&call.key).copied() {
            (known, false)
        } else {
            let decline = matches!(call.request, GatewayRequest::Authorize { .. })
                && chance(flags.decline_per_mille);
            (
                ledger.execute(&call, !decline),
                chance(flags.timeout_per_mille),
            )
        }
    };
    if hang {
        tokio::time::sleep(Duration::from_millis(flags.hang_ms)).await;
    } else if flags.late_ms > 0 {
        tokio::time::sleep(Duration::from_millis(ids::fresh() % (flags.late_ms + 1))).await;
    }
    Json(CallAnswer { outcome })
}

/// One account as `GET /ledger` shows it.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct LedgerRow {
    /// The order's public id (for an order's payment).
    pub order: Option<String>,
    /// The resale's public id (for a resale's payment).
    pub resale: Option<String>,
    /// Approved authorizations' amount, cents.
    pub authorized: u64,
    /// Captured, cents.
    pub captured: u64,
    /// Refunded, cents.
    pub refunded: u64,
    /// Paid out, cents.
    pub paid_out: u64,
    /// Voided.
    pub voided: bool,
}

async fn ledger(State(fake): State<Arc<Fake>>) -> Json<Vec<LedgerRow>> {
    let ledger = fake.ledger.lock().unwrap_or_else(|e| e.into_inner());
    let rows = ledger
        .accounts
        .iter()
        .map(|(payment, account)| {
            let (order, resale) = match payment {
                PaymentId::Order(order) => {
                    (Some(ids::public(Kind::Order, order.0, 0).to_string()), None)
                }
                PaymentId::Resale(resale) => (
                    None,
                    Some(ids::public(Kind::Resale, resale.0, 0).to_string()),
                ),
            };
            LedgerRow {
                order,
                resale,
                authorized: account.authorized,
                captured: account.captured,
                refunded: account.refunded,
                paid_out: account.paid_out,
                voided: account.voided,
            }
        })
        .collect();
    Json(rows)
}

/// `POST /outage` with `{"down": true}` starts an outage (every call declined, no status
/// query answered) and `{"down": false}` ends it.
async fn outage(State(fake): State<Arc<Fake>>, Json(body): Json<Outage>) -> Json<Outage> {
    fake.down
        .store(body.down, std::sync::atomic::Ordering::Relaxed);
    Json(body)
}

/// The body of `POST /outage`.
#[derive(Serialize, Deserialize, Clone, Copy, Debug)]
pub struct Outage {
    /// Whether the gateway is down.
    pub down: bool,
}

/// The fake gateway's routes.
pub fn router(flags: Flags) -> Router {
    let fake = Arc::new(Fake {
        flags,
        ledger: Mutex::new(Ledger::default()),
        down: std::sync::atomic::AtomicBool::new(false),
    });
    Router::new()
        .route("/calls", post(calls))
        .route("/outage", post(outage))
        .route("/ledger", get(ledger))
        .route("/health", get(|| async { "ok" }))
        .with_state(fake)
}
