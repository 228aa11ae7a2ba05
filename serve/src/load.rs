//! `turnstile load`: a flash sale against a running server, then a check from outside.
//!
//! One organizer creates one show with `seats` numbered seats and opens its sales;
//! `customers` customers each reserve one seat (best available) from `concurrency`
//! connections, at most `rate` requests a second if given; every holder pays. Then it
//! verifies through the API and the gateway's ledger — never the server's own word
//! alone — that no seat was sold twice, every captured payment has its tickets or its
//! refund, and no order is left pending. A request whose answer did not arrive is
//! retried with the same `Idempotency-Key` for up to 30 s, so a run survives the
//! server being killed and restarted mid-sale.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::Mutex;

use crate::gateway::LedgerRow;
use crate::http::{Answer, Client};

/// What to run.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// The server.
    pub server: SocketAddr,
    /// The gateway whose ledger is checked (`None`: ask the server).
    pub gateway: Option<SocketAddr>,
    /// The admin secret.
    pub admin_secret: String,
    /// Customers.
    pub customers: usize,
    /// Seats in the show.
    pub seats: u32,
    /// Connections at once.
    pub concurrency: usize,
    /// Reservations a second at most.
    pub rate: Option<f64>,
}

/// What a run measured and found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct LoadReport {
    /// Reservation requests decided (held or refused) per second of the reserve phase.
    pub reservations_per_second: f64,
    /// Of them, holds.
    pub holds: u64,
    /// Refused as sold out (or otherwise by the rules).
    pub refused: u64,
    /// Orders that ended completed.
    pub orders_completed: u64,
    /// Reserve latency, median (ms).
    pub reserve_p50_ms: f64,
    /// Reserve latency, 99th percentile (ms).
    pub reserve_p99_ms: f64,
    /// Pay latency, 99th percentile (ms).
    pub pay_p99_ms: f64,
    /// Seats sold more than once, plus sales beyond the capacity.
    pub oversold: u64,
    /// Captured payments with neither their tickets nor their refund.
    pub paid_without_tickets: u64,
    /// Orders not ended, or authorizations neither captured nor voided.
    pub pending: u64,
    /// Requests that failed for good (no answer within 30 s, or an unexpected status).
    pub errors: u64,
    /// Retries of unanswered requests.
    pub retries: u64,
}

/// Why the run could not be made.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LoadError(String);

const RETRY_FOR: Duration = Duration::from_secs(30);

/// One caller: a keep-alive connection and a token.
struct Caller {
    client: Client,
    token: String,
    retries: u64,
}

impl Caller {
    fn new(server: SocketAddr, token: String) -> Caller {
        Caller {
            client: Client::new(server, Duration::from_secs(10)),
            token,
            retries: 0,
        }
    }

    /// Sends until answered (not 5xx) or 30 s passed; the same key on every attempt.
    async fn send(
        &mut self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Option<Answer> {
        let auth = format!("Bearer {}", self.token);
        let mut headers = vec![("authorization", auth.as_str())];
        if let Some(key) = key {
            headers.push(("idempotency-key", key));
        }
        let deadline = Instant::now() + RETRY_FOR;
        loop {
            match self.client.request(method, path, &headers, body).await {
                Ok(answer) if answer.status < 500 => return Some(answer),
                _ if Instant::now() >= deadline => return None,
                _ => {
                    self.retries += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn err(message: impl Into<String>) -> LoadError {
    LoadError(message.into())
}

async fn token(admin: &mut Caller, role: &str) -> Result<(String, String), LoadError> {
    let answer = admin
        .send(
            "POST",
            "/admin/tokens",
            None,
            Some(&json!({ "role": role })),
        )
        .await
        .ok_or_else(|| err("the server did not answer"))?;
    if answer.status != 201 {
        return Err(err(format!(
            "token: {} {}",
            answer.status,
            String::from_utf8_lossy(&answer.body)
        )));
    }
    let body = answer.json();
    Ok((
        body["token"].as_str().unwrap_or_default().to_owned(),
        body["id"].as_str().unwrap_or_default().to_owned(),
    ))
}

struct Order {
    customer: usize,
    order: String,
    seats: Vec<String>,
}

/// Runs the flash sale and the check.
pub async fn run(config: LoadConfig) -> Result<LoadReport, LoadError> {
    let server = config.server;
    let mut admin = Caller::new(server, config.admin_secret.clone());
    let (organizer_token, _) = token(&mut admin, "organizer").await?;
    let mut organizer = Caller::new(server, organizer_token);

    // The customers' tokens, from `concurrency` connections.
    let customers = Arc::new(Mutex::new(Vec::with_capacity(config.customers)));
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..config.concurrency.max(1) {
        let (customers, next, secret) =
            (customers.clone(), next.clone(), config.admin_secret.clone());
        let count = config.customers;
        tasks.push(tokio::spawn(async move {
            let mut admin = Caller::new(server, secret);
            while next.fetch_add(1, Ordering::Relaxed) < count {
                let issued = token(&mut admin, "customer").await?;
                customers.lock().await.push(issued);
            }
            Ok::<(), LoadError>(())
        }));
    }
    for task in tasks {
        task.await.map_err(|e| err(e.to_string()))??;
    }
    let customers: Vec<(String, String)> = std::mem::take(&mut *customers.lock().await);

    // The show: one numbered section of `seats`, rows of up to 50.
    let per_row = config.seats.clamp(1, 50);
    let labels: Vec<String> = (0..config.seats)
        .map(|i| format!("R{}-{}", i / per_row + 1, i % per_row + 1))
        .collect();
    let start = chrono::Utc::now() + chrono::Duration::days(60);
    let show = json!({
        "name": "Load test",
        "start_at": start.to_rfc3339(),
        "sections": [{ "name": "Floor", "kind": "numbered", "seats": labels, "price_cents": 5_000 }],
    });
    let created = organizer
        .send("POST", "/shows", Some("load-show"), Some(&show))
        .await
        .ok_or_else(|| err("create show: no answer"))?;
    if created.status >= 300 {
        return Err(err(format!(
            "create show: {} {}",
            created.status,
            String::from_utf8_lossy(&created.body)
        )));
    }
    let show_id = created.json()["show"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    for step in ["publish", "open"] {
        let answer = organizer
            .send(
                "POST",
                &format!("/shows/{show_id}/{step}"),
                Some(step),
                None,
            )
            .await
            .ok_or_else(|| err(format!("{step}: no answer")))?;
        if answer.status >= 300 {
            return Err(err(format!("{step}: {}", answer.status)));
        }
    }

    // Reserve: every customer once.
    eprintln!(
        "load: reserving: {} customers, {} seats",
        customers.len(),
        config.seats
    );
    let customers = Arc::new(customers);
    let next = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new((Vec::new(), Vec::new(), 0u64, 0u64, 0u64)));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..config.concurrency.max(1) {
        let (customers, next, results, show_id) = (
            customers.clone(),
            next.clone(),
            results.clone(),
            show_id.clone(),
        );
        let rate = config.rate;
        tasks.push(tokio::spawn(async move {
            let mut callers: BTreeMap<usize, Caller> = BTreeMap::new();
            let mut connection = Client::new(server, Duration::from_secs(10));
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= customers.len() {
                    break;
                }
                if let Some(rate) = rate {
                    let due = started + Duration::from_secs_f64(i as f64 / rate);
                    tokio::time::sleep_until(due.into()).await;
                }
                let caller = callers
                    .entry(i)
                    .or_insert_with(|| Caller::new(server, customers[i].0.clone()));
                // Reuse this task's connection for every customer it serves.
                std::mem::swap(&mut caller.client, &mut connection);
                let body = json!({ "show": show_id, "section": 0, "quantity": 1 });
                let sent = Instant::now();
                let answer = caller
                    .send("POST", "/orders", Some("reserve"), Some(&body))
                    .await;
                let ms = sent.elapsed().as_secs_f64() * 1000.0;
                std::mem::swap(&mut caller.client, &mut connection);
                let mut results = results.lock().await;
                results.4 += caller.retries;
                match answer {
                    Some(answer) if answer.status == 201 || answer.status == 200 => {
                        let body = answer.json();
                        results.0.push(ms);
                        results.1.push(Order {
                            customer: i,
                            order: body["order"].as_str().unwrap_or_default().to_owned(),
                            seats: body["seats"]
                                .as_array()
                                .map(|s| {
                                    s.iter()
                                        .filter_map(|v| v.as_str().map(str::to_owned))
                                        .collect()
                                })
                                .unwrap_or_default(),
                        });
                    }
                    Some(answer) if answer.status == 409 => {
                        results.0.push(ms);
                        results.2 += 1;
                    }
                    _ => results.3 += 1,
                }
            }
        }));
    }
    for task in tasks {
        task.await.map_err(|e| err(e.to_string()))?;
    }
    let reserve_seconds = started.elapsed().as_secs_f64();
    let (mut reserve_ms, orders, refused, mut errors, mut retries) = {
        let mut results = results.lock().await;
        std::mem::take(&mut *results)
    };
    reserve_ms.sort_by(f64::total_cmp);
    let decided = reserve_ms.len();

    // Pay: every holder.
    eprintln!("load: paying: {} holds", orders.len());
    let orders = Arc::new(orders);
    let next = Arc::new(AtomicUsize::new(0));
    let paid = Arc::new(Mutex::new((Vec::new(), 0u64, 0u64)));
    let mut tasks = Vec::new();
    for _ in 0..config.concurrency.max(1) {
        let (customers, orders, next, paid) = (
            customers.clone(),
            orders.clone(),
            next.clone(),
            paid.clone(),
        );
        tasks.push(tokio::spawn(async move {
            let mut connection = Client::new(server, Duration::from_secs(35));
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(order) = orders.get(i) else { break };
                let mut caller = Caller::new(server, customers[order.customer].0.clone());
                std::mem::swap(&mut caller.client, &mut connection);
                let body = json!({ "card_token": format!("card-{}", order.customer) });
                let sent = Instant::now();
                let answer = caller
                    .send(
                        "POST",
                        &format!("/orders/{}/pay", order.order),
                        Some("pay"),
                        Some(&body),
                    )
                    .await;
                let ms = sent.elapsed().as_secs_f64() * 1000.0;
                std::mem::swap(&mut caller.client, &mut connection);
                let mut paid = paid.lock().await;
                paid.2 += caller.retries;
                match answer {
                    Some(answer) if answer.status == 200 => paid.0.push(ms),
                    _ => paid.1 += 1,
                }
            }
        }));
    }
    for task in tasks {
        task.await.map_err(|e| err(e.to_string()))?;
    }
    let (mut pay_ms, pay_errors, pay_retries) = std::mem::take(&mut *paid.lock().await);
    pay_ms.sort_by(f64::total_cmp);
    errors += pay_errors;
    retries += pay_retries;

    // The check, from outside.
    eprintln!("load: checking from outside");
    let mut report = LoadReport {
        reservations_per_second: decided as f64 / reserve_seconds.max(1e-9),
        holds: orders.len() as u64,
        refused,
        reserve_p50_ms: percentile(&reserve_ms, 50.0),
        reserve_p99_ms: percentile(&reserve_ms, 99.0),
        pay_p99_ms: percentile(&pay_ms, 99.0),
        errors,
        retries,
        ..LoadReport::default()
    };
    let mut sold: BTreeMap<String, u64> = BTreeMap::new();
    let mut completed: BTreeSet<String> = BTreeSet::new();
    let mut ticketed: BTreeSet<String> = BTreeSet::new();
    for order in orders.iter() {
        let mut caller = Caller::new(server, customers[order.customer].0.clone());
        // Wait (30 s at most) for the order to end.
        let deadline = Instant::now() + RETRY_FOR;
        let mut status = String::new();
        while Instant::now() < deadline {
            match caller
                .send("GET", &format!("/orders/{}", order.order), None, None)
                .await
            {
                Some(answer) if answer.status == 200 => {
                    let body = answer.json();
                    status = body["status"].as_str().unwrap_or_default().to_owned();
                    if matches!(
                        status.as_str(),
                        "completed" | "compensated" | "expired" | "cancelled" | "rejected"
                    ) {
                        if status == "completed" {
                            for seat in body["seats"].as_array().into_iter().flatten() {
                                *sold
                                    .entry(seat.as_str().unwrap_or_default().to_owned())
                                    .or_default() += 1;
                            }
                        }
                        break;
                    }
                }
                _ => report.errors += 1,
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        match status.as_str() {
            "completed" => {
                report.orders_completed += 1;
                completed.insert(order.order.clone());
                if let Some(answer) = caller.send("GET", "/tickets", None, None).await {
                    let valid = answer.json()["tickets"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter(|t| t["order"] == order.order.as_str() && t["status"] == "valid")
                        .count();
                    if valid == order.seats.len().max(1) {
                        ticketed.insert(order.order.clone());
                    }
                }
            }
            "compensated" | "expired" | "cancelled" | "rejected" => {}
            _ => report.pending += 1,
        }
    }
    report.oversold = sold.values().map(|n| n.saturating_sub(1)).sum::<u64>()
        + (sold.len() as u64).saturating_sub(u64::from(config.seats));
    // The read model agrees: never more sold than seats.
    let mut organizer_view = Caller::new(server, organizer.token.clone());
    if let Some(answer) = organizer_view
        .send("GET", &format!("/shows/{show_id}/seats"), None, None)
        .await
    {
        let sold_rm = answer.json()["sections"][0]["sold"].as_u64().unwrap_or(0);
        report.oversold += sold_rm.saturating_sub(u64::from(config.seats));
    }
    // The gateway's ledger: captured money has its tickets or its refund; no
    // authorization is left open.
    let gateway = match config.gateway {
        Some(gateway) => gateway,
        None => {
            let answer = admin
                .send("GET", "/admin/info", None, None)
                .await
                .ok_or_else(|| err("admin info: no answer"))?;
            answer.json()["gateway"]
                .as_str()
                .and_then(|a| a.parse().ok())
                .ok_or_else(|| err("the server did not say where its gateway is"))?
        }
    };
    let mut ledger_client = Client::new(gateway, Duration::from_secs(10));
    let ledger = ledger_client
        .request("GET", "/ledger", &[], None)
        .await
        .map_err(|e| err(format!("ledger: {e}")))?;
    let rows: Vec<LedgerRow> =
        serde_json::from_slice(&ledger.body).map_err(|e| err(format!("ledger: {e}")))?;
    let ours: BTreeSet<&str> = orders.iter().map(|o| o.order.as_str()).collect();
    for row in rows
        .iter()
        .filter(|r| r.order.as_deref().is_some_and(|o| ours.contains(o)))
    {
        let order = row.order.clone().unwrap_or_default();
        let net = row.captured.saturating_sub(row.refunded);
        if net > 0 && !(completed.contains(&order) && ticketed.contains(&order)) {
            report.paid_without_tickets += 1;
        }
        if row.authorized > 0 && row.captured == 0 && !row.voided {
            report.pending += 1;
        }
    }
    Ok(report)
}
