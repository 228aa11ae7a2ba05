//! The HTTP JSON API: organizers, customers, the read models, health and tokens.
//!
//! Who is calling comes from the bearer token alone; a body never names its actor.
//! Every command becomes a core command sent to its service through the driver, and
//! its answer comes back only once the state it reflects is durable. An
//! `Idempotency-Key` header becomes the command id (and the id of what the command
//! creates), so a retry is a repeat at the service: the same key with the same body
//! answers the same; with another body the core says `IdempotencyConflict`: 422.
//!
//! Errors are typed JSON (`{"error": "InvalidQuantity", "message": …}`): malformed
//! JSON or unknown fields 400; a missing or unknown token 401; another's resource 404
//! (not 403, which would confirm it exists) or, where a role is wrong, 403; unknown
//! ids 404; business refusals 409 with the core's rejection. Nothing is written for any
//! of them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query as UrlQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use rusqlite::Connection;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use tracing::Instrument;
use turnstile_core::inventory::seating::SeatLabels;
use turnstile_core::order::{OrderCommand, OrderDetails, OrderStatus};
use turnstile_core::payment::PaymentMethod;
use turnstile_core::read_models::StreamId;
use turnstile_core::show::{SectionKind, SectionSpec, ShowCommand, ShowDetails, ShowStatus};
use turnstile_core::ticket::resale::{ResaleCommand, ResaleStatus};
use turnstile_core::ticket::{TicketCommand, TicketStatus};
use turnstile_core::{
    CommandId, CustomerId, Message, Money, OrderId, OrganizerId, ResaleId, SectionIndex, ShowId,
    TicketId,
};
use turnstile_host::{AggregateRef, Answer, Msg, Query, Rejection, Service};

use crate::ids::{self, Kind};
use crate::runtime::{self, Client, Hosts};
use crate::store;

/// How long a request waits for its saga to move (a hold, a payment).
const WAIT: Duration = Duration::from_secs(30);

/// What every handler shares.
pub struct AppState {
    /// The driver.
    pub driver: runtime::Handle,
    /// A read connection (read models and tokens).
    pub db: Mutex<Connection>,
    /// The admin secret that issues tokens.
    pub admin_secret: String,
    /// The currency every amount is in.
    pub currency: String,
    /// Where the payment gateway is (told to admins, for checks from outside).
    pub gateway: String,
    // Tokens seen, so most requests never touch SQLite for auth.
    tokens: RwLock<HashMap<String, Caller>>,
}

impl AppState {
    /// The state over a driver and a read connection.
    pub fn new(
        driver: runtime::Handle,
        db: Connection,
        admin_secret: String,
        currency: String,
        gateway: String,
    ) -> AppState {
        AppState {
            driver,
            db: Mutex::new(db),
            admin_secret,
            currency,
            gateway,
            tokens: RwLock::new(HashMap::default()),
        }
    }
}

type Shared = Arc<AppState>;

/// An error as the API answers it.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: String,
    message: String,
}

impl ApiError {
    fn new(status: StatusCode, error: &str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            error: error.to_owned(),
            message: message.into(),
        }
    }

    fn not_found(what: &str) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "NotFound", format!("no such {what}"))
    }

    fn unavailable() -> ApiError {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "the service is restarting",
        )
    }

    fn bad(error: &str, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, error, message)
    }

    /// A core rejection: named for its condition, with the status its class earns.
    fn rejected(rejection: &Rejection) -> ApiError {
        let value = serde_json::to_value(rejection).unwrap_or(Value::Null);
        let name = rejection_name(&value);
        let status = if name == "IdempotencyConflict" {
            StatusCode::UNPROCESSABLE_ENTITY
        } else if name.starts_with("Invalid")
            || name.starts_with("Empty")
            || name.ends_with("TooLong")
            || name.starts_with("Duplicate")
        {
            StatusCode::BAD_REQUEST
        } else if name.starts_with("Unknown") || name.ends_with("NotFound") {
            StatusCode::NOT_FOUND
        } else if name.starts_with("Not") && name.contains("Owner")
            || name.contains("Unauthorized")
            || name.contains("Forbidden")
        {
            StatusCode::FORBIDDEN
        } else {
            StatusCode::CONFLICT
        };
        ApiError {
            status,
            error: name,
            message: format!("refused: {value}"),
        }
    }
}

impl From<runtime::Gone> for ApiError {
    fn from(_: runtime::Gone) -> ApiError {
        ApiError::unavailable()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": self.error, "message": self.message });
        (self.status, Json(body)).into_response()
    }
}

/// The innermost variant name of a serialized rejection (`{"Order": {"Guard":
/// "IdempotencyConflict"}}` → `IdempotencyConflict`).
fn rejection_name(value: &Value) -> String {
    match value {
        Value::String(name) => name.clone(),
        Value::Object(map) if map.len() == 1 => {
            let Some((key, inner)) = map.iter().next() else {
                return "Rejected".to_owned();
            };
            match inner {
                Value::String(name) => name.clone(),
                Value::Object(inner_map)
                    if inner_map.len() == 1
                        && inner_map
                            .keys()
                            .next()
                            .is_some_and(|k| k.starts_with(char::is_uppercase)) =>
                {
                    rejection_name(inner)
                }
                _ => key.clone(),
            }
        }
        _ => "Rejected".to_owned(),
    }
}

type ApiResult = Result<Response, ApiError>;

/// Parses a JSON body strictly (unknown fields refused) into a typed 400.
fn parse<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    if body.is_empty() {
        return serde_json::from_slice(b"{}")
            .map_err(|e| ApiError::bad("InvalidJson", e.to_string()));
    }
    serde_json::from_slice(body).map_err(|error| {
        let text = error.to_string();
        let kind = if text.contains("unknown field") {
            "UnknownField"
        } else if text.contains("missing field") {
            "MissingField"
        } else if error.is_syntax() || error.is_eof() {
            "InvalidJson"
        } else {
            "InvalidField"
        };
        ApiError::bad(kind, text)
    })
}

/// The authenticated caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// A customer.
    Customer(CustomerId),
    /// An organizer.
    Organizer(OrganizerId),
}

impl Caller {
    fn client(self) -> Client {
        match self {
            Caller::Customer(c) => Client::Customer(c),
            Caller::Organizer(o) => Client::Organizer(o),
        }
    }

    fn tag(self) -> [u8; 9] {
        let (kind, id) = match self {
            Caller::Customer(c) => (b'c', c.0),
            Caller::Organizer(o) => (b'o', o.0),
        };
        let mut bytes = [kind; 9];
        bytes[1..].copy_from_slice(&id.to_be_bytes());
        bytes
    }

    fn customer(self) -> Result<CustomerId, ApiError> {
        match self {
            Caller::Customer(c) => Ok(c),
            Caller::Organizer(_) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "customers only",
            )),
        }
    }

    fn organizer(self) -> Result<OrganizerId, ApiError> {
        match self {
            Caller::Organizer(o) => Ok(o),
            Caller::Customer(_) => Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "Forbidden",
                "organizers only",
            )),
        }
    }
}

fn bearer(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::trim)
}

impl FromRequestParts<Shared> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Shared) -> Result<Caller, ApiError> {
        let unauthorized = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "Unauthorized",
                "a bearer token is required",
            )
        };
        let token = bearer(parts).ok_or_else(unauthorized)?;
        if let Some(caller) = state
            .tokens
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(token)
        {
            return Ok(*caller);
        }
        let found = {
            let db = state.db.lock().unwrap_or_else(|e| e.into_inner());
            store::token(&db, token).map_err(|_| ApiError::unavailable())?
        };
        let caller = match found {
            Some((role, id)) if role == "customer" => Caller::Customer(CustomerId(id)),
            Some((role, id)) if role == "organizer" => Caller::Organizer(OrganizerId(id)),
            _ => return Err(unauthorized()),
        };
        state
            .tokens
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(token.to_owned(), caller);
        Ok(caller)
    }
}

/// The command id (and the id of what it creates) for a request: from its
/// `Idempotency-Key`, or fresh.
struct Ids {
    key: Option<String>,
    caller: Caller,
}

impl Ids {
    fn new(headers: &HeaderMap, caller: Caller) -> Result<Ids, ApiError> {
        let key = match headers.get("idempotency-key") {
            None => None,
            Some(value) => {
                let text = value
                    .to_str()
                    .map_err(|_| ApiError::bad("InvalidIdempotencyKey", "not visible ASCII"))?;
                if text.is_empty() || text.len() > 200 {
                    return Err(ApiError::bad("InvalidIdempotencyKey", "1..=200 characters"));
                }
                Some(text.to_owned())
            }
        };
        Ok(Ids { key, caller })
    }

    /// An id for `what` (`command`, `order`…): derived from the key, or fresh.
    fn id(&self, what: &str) -> u64 {
        match &self.key {
            Some(key) => ids::derived(&[what.as_bytes(), &self.caller.tag(), key.as_bytes()]),
            None => ids::fresh(),
        }
    }

    fn command(&self) -> CommandId {
        CommandId(self.id("command"))
    }
}

/// Sends a command for the caller and maps the answer.
async fn command(state: &AppState, caller: Caller, message: Message) -> Result<bool, ApiError> {
    let service = Service::of(&message);
    let id = message.id();
    let span = tracing::info_span!("command", command = id.0, service = %service.name());
    let msg = Msg::Command {
        msg: message,
        claimed: None,
    };
    let reply = state
        .driver
        .ask(service, caller.client(), msg)
        .instrument(span)
        .await?;
    match reply {
        Msg::Reply {
            answer: Answer::Accepted { new },
            ..
        } => Ok(new),
        Msg::Reply {
            answer: Answer::Rejected(rejection),
            ..
        } => Err(ApiError::rejected(&rejection)),
        _ => Err(ApiError::unavailable()),
    }
}

fn path_id(kind: Kind, text: &str, what: &str) -> Result<(u64, u8), ApiError> {
    ids::parse(kind, text).ok_or_else(|| ApiError::not_found(what))
}

// ---- admin -----------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRequest {
    role: String,
}

/// Only the holder of the admin secret passes.
fn check_admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let secret = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match secret {
        None => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "the admin secret is required",
        )),
        Some(secret) if !constant_time_eq(secret.as_bytes(), state.admin_secret.as_bytes()) => Err(
            ApiError::new(StatusCode::FORBIDDEN, "Forbidden", "wrong admin secret"),
        ),
        Some(_) => Ok(()),
    }
}

async fn admin_info(State(state): State<Shared>, headers: HeaderMap) -> ApiResult {
    check_admin(&state, &headers)?;
    Ok(Json(json!({ "gateway": state.gateway, "currency": state.currency })).into_response())
}

/// `GET /admin/stuck-payments[?all=true]`: refunds, voids and payouts we owe and the
/// gateway has not settled for 24 hours or more (with `all`, every one still owed).
/// They are still being retried.
async fn stuck_payments(
    State(state): State<Shared>,
    headers: HeaderMap,
    UrlQuery(query): UrlQuery<StuckQuery>,
) -> ApiResult {
    check_admin(&state, &headers)?;
    let now = runtime::wall_ms() as i64;
    let since_max = if query.all.unwrap_or(false) {
        i64::MAX
    } else {
        now - turnstile_core::read_models::stuck_payments::STUCK_AFTER_MS as i64
    };
    let currency = state.currency.clone();
    let db = state.db.lock().unwrap_or_else(|e| e.into_inner());
    let mut stmt = db
        .prepare_cached(
            "SELECT payment_kind, payment, operation, ticket_order, ticket_index, amount, since,
                    retries
             FROM rm_owed WHERE since <= ?1 ORDER BY since, payment_kind, payment",
        )
        .map_err(db_error)?;
    let rows = stmt
        .query_map([since_max], |row| {
            let kind: String = row.get(0)?;
            let payment = row.get::<_, i64>(1)? as u64;
            let ticket = match (row.get::<_, Option<i64>>(3)?, row.get::<_, Option<i64>>(4)?) {
                (Some(order), Some(index)) => {
                    Some(ids::public(Kind::Ticket, order as u64, index as u8).to_string())
                }
                _ => None,
            };
            let since: i64 = row.get(6)?;
            Ok(json!({
                "payment": ids::public(if kind == "resale" { Kind::Resale } else { Kind::Order }, payment, 0).to_string(),
                "kind": kind,
                "operation": row.get::<_, String>(2)?,
                "ticket": ticket,
                "amount": ids::Amount::new(Money(row.get::<_, i64>(5)? as u64), &currency),
                "owed_since": ids::time(turnstile_core::Timestamp(since as u64)),
                "retries": row.get::<_, i64>(7)?,
                "stuck": now - since >= turnstile_core::read_models::stuck_payments::STUCK_AFTER_MS as i64,
            }))
        })
        .map_err(db_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_error)?;
    Ok(Json(json!({ "payments": rows })).into_response())
}

/// The query of `GET /admin/stuck-payments`.
#[derive(Debug, Deserialize)]
struct StuckQuery {
    all: Option<bool>,
}

async fn issue_token(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> ApiResult {
    check_admin(&state, &headers)?;
    let request: TokenRequest = parse(&body)?;
    let kind = match request.role.as_str() {
        "customer" => Kind::Customer,
        "organizer" => Kind::Organizer,
        _ => {
            return Err(ApiError::bad(
                "InvalidRole",
                "role is customer or organizer",
            ));
        }
    };
    let id = ids::fresh();
    let token = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    {
        let db = state.db.lock().unwrap_or_else(|e| e.into_inner());
        db.execute(
            "INSERT INTO tokens (token, role, id) VALUES (?1, ?2, ?3)",
            rusqlite::params![token, request.role, id as i64],
        )
        .map_err(|_| ApiError::unavailable())?;
    }
    let body = json!({
        "token": token,
        "role": request.role,
        "id": ids::public(kind, id, 0).to_string(),
    });
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// ---- shows -----------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSection {
    name: String,
    /// `numbered` (with `rows` and `seats_per_row`, or `seats` labels) or
    /// `general_admission` (with `capacity`).
    kind: String,
    rows: Option<u32>,
    seats_per_row: Option<u32>,
    seats: Option<Vec<String>>,
    capacity: Option<u32>,
    price_cents: u64,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewShow {
    name: String,
    start_at: String,
    sections: Vec<NewSection>,
}

const MAX_SEATS: u32 = 100_000;

fn row_name(mut row: u32) -> String {
    let mut name = Vec::new();
    loop {
        name.push(b'A' + (row % 26) as u8);
        if row < 26 {
            break;
        }
        row = row / 26 - 1;
    }
    name.reverse();
    String::from_utf8(name).unwrap_or_default()
}

fn section_spec(section: NewSection) -> Result<SectionSpec, ApiError> {
    let invalid = |message: &str| ApiError::bad("InvalidSection", message.to_owned());
    match section.kind.as_str() {
        "numbered" => {
            let labels = match (section.seats, section.rows, section.seats_per_row) {
                (Some(labels), None, None) => labels,
                (None, Some(rows), Some(per_row)) => {
                    if rows == 0 || per_row == 0 || rows.saturating_mul(per_row) > MAX_SEATS {
                        return Err(invalid("rows × seats_per_row must be 1..=100000"));
                    }
                    (0..rows)
                        .flat_map(|row| {
                            let row = row_name(row);
                            (1..=per_row).map(move |seat| format!("{row}-{seat}"))
                        })
                        .collect()
                }
                _ => {
                    return Err(invalid(
                        "a numbered section has seats, or rows and seats_per_row",
                    ));
                }
            };
            if labels.len() > MAX_SEATS as usize {
                return Err(invalid("at most 100000 seats"));
            }
            Ok(SectionSpec {
                name: section.name,
                kind: SectionKind::Numbered,
                capacity: labels.len() as u32,
                seat_labels: SeatLabels::from(labels),
                base_price: Money(section.price_cents),
            })
        }
        "general_admission" => {
            let capacity = section
                .capacity
                .ok_or_else(|| invalid("a general-admission section has a capacity"))?;
            if section.rows.is_some() || section.seats.is_some() {
                return Err(invalid("a general-admission section has no seats"));
            }
            Ok(SectionSpec {
                name: section.name,
                kind: SectionKind::GeneralAdmission,
                capacity,
                seat_labels: SeatLabels::default(),
                base_price: Money(section.price_cents),
            })
        }
        _ => Err(invalid("kind is numbered or general_admission")),
    }
}

async fn create_show(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    caller.organizer()?;
    let request: NewShow = parse(&body)?;
    let start_at = ids::parse_time(&request.start_at)
        .ok_or_else(|| ApiError::bad("InvalidTime", "start_at is an RFC 3339 time"))?;
    if request.sections.len() > 64 {
        return Err(ApiError::bad("InvalidSection", "at most 64 sections"));
    }
    let sections = request
        .sections
        .into_iter()
        .map(section_spec)
        .collect::<Result<Vec<_>, _>>()?;
    let ids = Ids::new(&headers, caller)?;
    let show = ShowId(ids.id("show"));
    let message = Message::Show {
        show,
        id: ids.command(),
        body: ShowCommand::Create {
            show,
            name: request.name,
            start_at,
            sections,
        },
    };
    command(&state, caller, message).await?;
    let view = show_view(&state, show).await?;
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

fn show_status(status: ShowStatus) -> &'static str {
    match status {
        ShowStatus::Draft => "draft",
        ShowStatus::Published => "published",
        ShowStatus::SalesOpen => "sales_open",
        ShowStatus::SalesClosed => "sales_closed",
        ShowStatus::Completed => "completed",
        ShowStatus::Cancelled => "cancelled",
    }
}

fn show_details(hosts: &Hosts, show: ShowId) -> Option<ShowDetails> {
    match hosts.aggregate(StreamId::Show(show))? {
        AggregateRef::Show(show) => show.details.clone(),
        _ => None,
    }
}

async fn show_view(state: &AppState, show: ShowId) -> Result<Value, ApiError> {
    let details = state
        .driver
        .read(move |hosts| show_details(hosts, show))
        .await?
        .ok_or_else(|| ApiError::not_found("show"))?;
    let currency = &state.currency;
    let sections: Vec<Value> = details
        .sections
        .iter()
        .enumerate()
        .map(|(index, spec)| {
            json!({
                "index": index,
                "name": spec.name,
                "kind": match spec.kind {
                    SectionKind::Numbered => "numbered",
                    SectionKind::GeneralAdmission => "general_admission",
                },
                "capacity": spec.capacity,
                "base_price": ids::Amount::new(spec.base_price, currency),
            })
        })
        .collect();
    Ok(json!({
        "show": ids::public(Kind::Show, show.0, 0).to_string(),
        "organizer": ids::public(Kind::Organizer, details.organizer.0, 0).to_string(),
        "name": details.name,
        "start_at": ids::time(details.start_at),
        "status": show_status(details.status),
        "sections": sections,
    }))
}

async fn get_show(
    State(state): State<Shared>,
    _caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let (show, _) = path_id(Kind::Show, &id, "show")?;
    Ok(Json(show_view(&state, ShowId(show)).await?).into_response())
}

/// `POST /shows/{id}/{step}`: publish, open, close or cancel.
async fn show_step(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Path((id, step)): Path<(String, String)>,
) -> ApiResult {
    let body = match step.as_str() {
        "publish" => ShowCommand::Publish,
        "open" => ShowCommand::OpenSales,
        "close" => ShowCommand::CloseSales,
        "cancel" => ShowCommand::Cancel,
        _ => return Err(fallback().await),
    };
    caller.organizer()?;
    let (show, _) = path_id(Kind::Show, &id, "show")?;
    let ids = Ids::new(&headers, caller)?;
    let message = Message::Show {
        show: ShowId(show),
        id: ids.command(),
        body,
    };
    command(&state, caller, message).await?;
    Ok(Json(show_view(&state, ShowId(show)).await?).into_response())
}

// ---- orders ----------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(untagged)]
enum SectionRef {
    Index(u32),
    Name(String),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewOrder {
    show: String,
    section: SectionRef,
    quantity: u32,
    seats: Option<Vec<String>>,
}

/// An order as its customer sees it (read on the driver).
fn order_view(hosts: &Hosts, details: &OrderDetails, currency: &str) -> Value {
    let labels = show_details(hosts, details.section.show)
        .and_then(|show| {
            show.sections
                .get(details.section.section.0 as usize)
                .cloned()
        })
        .map(|spec| spec.seat_labels);
    let seats: Vec<String> = details
        .seats
        .iter()
        .map(|seat| {
            labels
                .as_ref()
                .and_then(|labels| labels.get(seat.0 as usize).cloned())
                .unwrap_or_else(|| format!("#{}", seat.0))
        })
        .collect();
    let tickets: Vec<String> = details
        .tickets
        .iter()
        .map(|t| ids::public(Kind::Ticket, t.order.0, t.index).to_string())
        .collect();
    let end_cause = details
        .end_cause
        .as_ref()
        .map(|cause| rejection_name(&serde_json::to_value(cause).unwrap_or(Value::Null)));
    json!({
        "order": ids::public(Kind::Order, details.order.0, 0).to_string(),
        "show": ids::public(Kind::Show, details.section.show.0, 0).to_string(),
        "section": details.section.section.0,
        "status": ids::order_status(details.status),
        "quantity": details.quantity,
        "seats": seats,
        "seat_price": ids::Amount::new(details.quote.seat_price, currency),
        "total": ids::Amount::new(details.quote.total, currency),
        "expires_at": ids::time(details.expires_at),
        "tickets": tickets,
        "end_cause": end_cause,
    })
}

/// The caller's order as JSON, or 404 (also when it is someone else's).
async fn my_order(
    state: &AppState,
    customer: CustomerId,
    order: OrderId,
) -> Result<Value, ApiError> {
    let currency = state.currency.clone();
    state
        .driver
        .read(move |hosts| match hosts.aggregate(StreamId::Order(order)) {
            Some(AggregateRef::Order(o)) => o
                .details
                .as_ref()
                .filter(|d| d.customer == customer)
                .map(|d| order_view(hosts, d, &currency)),
            _ => None,
        })
        .await?
        .ok_or_else(|| ApiError::not_found("order"))
}

fn settled_hold(status: OrderStatus) -> bool {
    status != OrderStatus::Reserving
}

fn settled_payment(status: OrderStatus) -> bool {
    status.is_terminal()
}

async fn create_order(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let customer = caller.customer()?;
    let request: NewOrder = parse(&body)?;
    let (show, _) = path_id(Kind::Show, &request.show, "show")?;
    let show = ShowId(show);
    let section = match request.section {
        SectionRef::Index(index) => SectionIndex(index),
        SectionRef::Name(name) => {
            let details = state
                .driver
                .read(move |hosts| show_details(hosts, show))
                .await?
                .ok_or_else(|| ApiError::not_found("show"))?;
            let index = details
                .sections
                .iter()
                .position(|spec| spec.name == name)
                .ok_or_else(|| ApiError::not_found("section"))?;
            SectionIndex(index as u32)
        }
    };
    let ids = Ids::new(&headers, caller)?;
    let order = OrderId(ids.id("order"));
    let message = Message::Order {
        order,
        id: ids.command(),
        body: OrderCommand::Initiate {
            order,
            show,
            section,
            quantity: request.quantity,
            seats: request.seats,
        },
    };
    // A repeat (the same Idempotency-Key and body) answers as the first did: 201 with
    // the order as it is now.
    command(&state, caller, message).await?;
    let _ = state.driver.wait(order, settled_hold, WAIT).await;
    let view = my_order(&state, customer, order).await?;
    if view["status"] == "rejected" {
        let cause = view["end_cause"].as_str().unwrap_or("Rejected").to_owned();
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            &cause,
            format!("reservation refused: {cause}"),
        ));
    }
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

async fn get_order(
    State(state): State<Shared>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult {
    let customer = caller
        .customer()
        .map_err(|_| ApiError::not_found("order"))?;
    let (order, _) = path_id(Kind::Order, &id, "order")?;
    Ok(Json(my_order(&state, customer, OrderId(order)).await?).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Pay {
    card_token: String,
}

/// A card token as the core's payment method (a stable hash of the text).
fn method(card: &str) -> Result<PaymentMethod, ApiError> {
    if card.is_empty() || card.len() > 200 {
        return Err(ApiError::bad("InvalidCardToken", "1..=200 characters"));
    }
    Ok(PaymentMethod {
        token: ids::derived(&[b"card", card.as_bytes()]),
    })
}

/// Owner check before a command: someone else's order is 404.
async fn owned_order(
    state: &AppState,
    customer: CustomerId,
    id: &str,
) -> Result<OrderId, ApiError> {
    let (order, _) = path_id(Kind::Order, id, "order")?;
    my_order(state, customer, OrderId(order)).await?;
    Ok(OrderId(order))
}

async fn pay(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let customer = caller.customer()?;
    let request: Pay = parse(&body)?;
    let method = method(&request.card_token)?;
    let order = owned_order(&state, customer, &id).await?;
    let ids = Ids::new(&headers, caller)?;
    let message = Message::Order {
        order,
        id: ids.command(),
        body: OrderCommand::Pay { method },
    };
    command(&state, caller, message).await?;
    let _ = state.driver.wait(order, settled_payment, WAIT).await;
    Ok(Json(my_order(&state, customer, order).await?).into_response())
}

async fn cancel_order(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let customer = caller.customer()?;
    let order = owned_order(&state, customer, &id).await?;
    let ids = Ids::new(&headers, caller)?;
    let message = Message::Order {
        order,
        id: ids.command(),
        body: OrderCommand::Cancel,
    };
    command(&state, caller, message).await?;
    let _ = state
        .driver
        .wait(order, settled_payment, Duration::from_secs(5))
        .await;
    Ok(Json(my_order(&state, customer, order).await?).into_response())
}

// ---- tickets ---------------------------------------------------------------------

fn ticket_view(
    hosts: &Hosts,
    ticket: &turnstile_core::ticket::TicketDetails,
    currency: &str,
) -> Value {
    let seat = ticket.seat.map(|seat| {
        show_details(hosts, ticket.section.show)
            .and_then(|show| {
                show.sections
                    .get(ticket.section.section.0 as usize)
                    .cloned()
            })
            .and_then(|spec| spec.seat_labels.get(seat.0 as usize).cloned())
            .unwrap_or_else(|| format!("#{}", seat.0))
    });
    json!({
        "ticket": ids::public(Kind::Ticket, ticket.ticket.order.0, ticket.ticket.index).to_string(),
        "order": ids::public(Kind::Order, ticket.ticket.order.0, 0).to_string(),
        "show": ids::public(Kind::Show, ticket.section.show.0, 0).to_string(),
        "section": ticket.section.section.0,
        "seat": seat,
        "status": match ticket.status {
            TicketStatus::Valid => "valid",
            TicketStatus::Cancelled => "cancelled",
            TicketStatus::ShowCancelled => "show_cancelled",
        },
        "paid": ids::Amount::new(ticket.paid_by_owner(), currency),
        "listing": ticket.listing.map(|l| json!({
            "price": ids::Amount::new(l.price, currency),
            "taken": l.taken_by.is_some(),
        })),
    })
}

async fn my_tickets(State(state): State<Shared>, caller: Caller) -> ApiResult {
    let customer = caller.customer()?;
    let currency = state.currency.clone();
    let tickets = state
        .driver
        .read(move |hosts| {
            hosts
                .host(Service::Tickets)
                .map(|host| {
                    host.aggregates()
                        .filter_map(|(_, aggregate)| match aggregate {
                            AggregateRef::Ticket(t) => t.details.as_ref(),
                            _ => None,
                        })
                        .filter(|t| t.owner == customer)
                        .map(|t| ticket_view(hosts, t, &currency))
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
        .await?;
    Ok(Json(json!({ "tickets": tickets })).into_response())
}

fn ticket_id(text: &str) -> Result<TicketId, ApiError> {
    let (order, index) = path_id(Kind::Ticket, text, "ticket")?;
    Ok(TicketId {
        order: OrderId(order),
        index,
    })
}

/// The ticket's details, if it exists (anyone's).
async fn ticket_details(
    state: &AppState,
    ticket: TicketId,
) -> Result<(turnstile_core::ticket::TicketDetails, Value), ApiError> {
    let currency = state.currency.clone();
    state
        .driver
        .read(
            move |hosts| match hosts.aggregate(StreamId::Ticket(ticket)) {
                Some(AggregateRef::Ticket(t)) => t.details.clone().map(|d| {
                    let view = ticket_view(hosts, &d, &currency);
                    (d, view)
                }),
                _ => None,
            },
        )
        .await?
        .ok_or_else(|| ApiError::not_found("ticket"))
}

async fn ticket_command(
    state: &AppState,
    caller: Caller,
    headers: &HeaderMap,
    ticket: TicketId,
    body: TicketCommand,
) -> ApiResult {
    let customer = caller.customer()?;
    let (details, _) = ticket_details(state, ticket).await?;
    if details.owner != customer {
        return Err(ApiError::not_found("ticket"));
    }
    let ids = Ids::new(headers, caller)?;
    let message = Message::Ticket {
        ticket,
        id: ids.command(),
        body,
    };
    command(state, caller, message).await?;
    let (_, view) = ticket_details(state, ticket).await?;
    Ok(Json(view).into_response())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Transfer {
    to: String,
}

async fn transfer(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let request: Transfer = parse(&body)?;
    let ticket = ticket_id(&id)?;
    let (to, _) = ids::parse(Kind::Customer, &request.to)
        .ok_or_else(|| ApiError::bad("InvalidCustomer", "to is a customer id"))?;
    ticket_command(
        &state,
        caller,
        &headers,
        ticket,
        TicketCommand::Transfer { to: CustomerId(to) },
    )
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct List {
    price_cents: u64,
}

async fn list_ticket(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    let request: List = parse(&body)?;
    let ticket = ticket_id(&id)?;
    let price = Money(request.price_cents);
    ticket_command(
        &state,
        caller,
        &headers,
        ticket,
        TicketCommand::List { price },
    )
    .await
}

async fn cancel_ticket(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> ApiResult {
    let ticket = ticket_id(&id)?;
    ticket_command(&state, caller, &headers, ticket, TicketCommand::Cancel).await
}

async fn buy_listing(
    State(state): State<Shared>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult {
    caller.customer()?;
    let request: Pay = parse(&body)?;
    let method = method(&request.card_token)?;
    let ticket = ticket_id(&id)?;
    let (details, _) = ticket_details(&state, ticket).await?;
    let Some(listing) = details.listing else {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "NotListed",
            "the ticket is not for sale",
        ));
    };
    let ids = Ids::new(&headers, caller)?;
    let resale = ResaleId(ids.id("resale"));
    let message = Message::Resale {
        resale,
        id: ids.command(),
        body: ResaleCommand::Buy {
            resale,
            ticket,
            price: listing.price,
            method,
        },
    };
    command(&state, caller, message).await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut status = None;
    while tokio::time::Instant::now() < deadline {
        let query = Msg::Query {
            id: CommandId(ids::fresh()),
            query: Query::Resale(resale),
        };
        if let Msg::Reply {
            answer: Answer::Resale(found),
            ..
        } = state
            .driver
            .ask(Service::Tickets, caller.client(), query)
            .await?
        {
            status = found;
            if found.is_some_and(|s| {
                !matches!(
                    s,
                    ResaleStatus::Authorizing
                        | ResaleStatus::Taking
                        | ResaleStatus::Capturing
                        | ResaleStatus::Completing
                )
            }) {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(Json(json!({
        "resale": ids::public(Kind::Resale, resale.0, 0).to_string(),
        "ticket": id,
        "price": ids::Amount::new(listing.price, &state.currency),
        "status": status.map(ids::resale_status),
    }))
    .into_response())
}

// ---- read models -----------------------------------------------------------------

fn db_error(_: rusqlite::Error) -> ApiError {
    ApiError::unavailable()
}

async fn seats(State(state): State<Shared>, _caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (show, _) = path_id(Kind::Show, &id, "show")?;
    let db = state.db.lock().unwrap_or_else(|e| e.into_inner());
    let mut stmt = db
        .prepare_cached(
            "SELECT section, capacity, available, reserved, sold, blocked FROM rm_seats
             WHERE show = ?1 ORDER BY section",
        )
        .map_err(db_error)?;
    let rows = stmt
        .query_map([show as i64], |row| {
            Ok(json!({
                "section": row.get::<_, i64>(0)?,
                "capacity": row.get::<_, i64>(1)?,
                "available": row.get::<_, i64>(2)?,
                "reserved": row.get::<_, i64>(3)?,
                "sold": row.get::<_, i64>(4)?,
                "blocked": row.get::<_, i64>(5)?,
            }))
        })
        .map_err(db_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_error)?;
    if rows.is_empty() {
        return Err(ApiError::not_found("show"));
    }
    Ok(Json(json!({ "show": id, "sections": rows })).into_response())
}

async fn layout(State(state): State<Shared>, _caller: Caller, Path(id): Path<String>) -> ApiResult {
    let (show, _) = path_id(Kind::Show, &id, "show")?;
    let db = state.db.lock().unwrap_or_else(|e| e.into_inner());
    let mut stmt = db
        .prepare_cached(
            "SELECT section, label, row_name, status FROM rm_layout WHERE show = ?1
             ORDER BY section, seat",
        )
        .map_err(db_error)?;
    let mut sections: Vec<(i64, Vec<Value>)> = Vec::new();
    let rows = stmt
        .query_map([show as i64], |row| {
            Ok((
                row.get::<_, i64>(0)?,
                json!({
                    "label": row.get::<_, String>(1)?,
                    "row": row.get::<_, String>(2)?,
                    "status": row.get::<_, String>(3)?,
                }),
            ))
        })
        .map_err(db_error)?;
    for row in rows {
        let (section, seat) = row.map_err(db_error)?;
        match sections.last_mut() {
            Some((last, seats)) if *last == section => seats.push(seat),
            _ => sections.push((section, vec![seat])),
        }
    }
    if sections.is_empty() {
        return Err(ApiError::not_found("show"));
    }
    let sections: Vec<Value> = sections
        .into_iter()
        .map(|(section, seats)| json!({ "section": section, "seats": seats }))
        .collect();
    Ok(Json(json!({ "show": id, "sections": sections })).into_response())
}

async fn sales(State(state): State<Shared>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let not_found = || ApiError::not_found("show");
    let organizer = caller.organizer().map_err(|_| not_found())?;
    let (show, _) = path_id(Kind::Show, &id, "show")?;
    let owner = state
        .driver
        .read(move |hosts| show_details(hosts, ShowId(show)).map(|d| d.organizer))
        .await?;
    if owner != Some(organizer) {
        return Err(not_found());
    }
    let currency = state.currency.clone();
    let db = state.db.lock().unwrap_or_else(|e| e.into_inner());
    let mut stmt = db
        .prepare_cached(
            "SELECT day, tickets_sold, revenue, refunds FROM rm_sales WHERE show = ?1 ORDER BY day",
        )
        .map_err(db_error)?;
    let days = stmt
        .query_map([show as i64], |row| {
            Ok(json!({
                "day": row.get::<_, String>(0)?,
                "tickets_sold": row.get::<_, i64>(1)?,
                "revenue": ids::Amount::new(Money(row.get::<_, i64>(2)? as u64), &currency),
                "refunds": ids::Amount::new(Money(row.get::<_, i64>(3)? as u64), &currency),
            }))
        })
        .map_err(db_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_error)?;
    Ok(Json(json!({ "show": id, "days": days })).into_response())
}

async fn history(State(state): State<Shared>, caller: Caller, Path(id): Path<String>) -> ApiResult {
    let not_found = || ApiError::not_found("customer");
    let me = caller.customer().map_err(|_| not_found())?;
    let (customer, _) = path_id(Kind::Customer, &id, "customer")?;
    if CustomerId(customer) != me {
        return Err(not_found());
    }
    let now = runtime::wall_ms() as i64;
    let currency = state.currency.clone();
    let db = state.db.lock().unwrap_or_else(|e| e.into_inner());
    let mut stmt = db
        .prepare_cached(
            "SELECT h.kind, h.purchase, h.ticket_order, h.ticket_index, h.show, s.name,
                    s.start_at, h.status, h.tickets, h.paid, h.refunded
             FROM rm_history h LEFT JOIN rm_shows s ON s.show = h.show
             WHERE h.customer = ?1 ORDER BY h.kind, h.purchase",
        )
        .map_err(db_error)?;
    let orders = stmt
        .query_map([customer as i64], |row| {
            let kind: String = row.get(0)?;
            let purchase = row.get::<_, i64>(1)? as u64;
            let start: Option<i64> = row.get(6)?;
            let mut entry = json!({
                "kind": kind,
                "show": ids::public(Kind::Show, row.get::<_, i64>(4)? as u64, 0).to_string(),
                "show_name": row.get::<_, Option<String>>(5)?,
                "show_start_at": start.map(|s| ids::time(turnstile_core::Timestamp(s as u64))),
                "status": row.get::<_, String>(7)?,
                "tickets": row.get::<_, i64>(8)?,
                "paid": ids::Amount::new(Money(row.get::<_, i64>(9)? as u64), &currency),
                "refunded": ids::Amount::new(Money(row.get::<_, i64>(10)? as u64), &currency),
                "upcoming": start.map(|s| s > now),
            });
            if kind == "resale" {
                let ticket_order = row.get::<_, Option<i64>>(2)?.unwrap_or_default() as u64;
                let ticket_index = row.get::<_, Option<i64>>(3)?.unwrap_or_default() as u8;
                entry["resale"] = ids::public(Kind::Resale, purchase, 0).to_string().into();
                entry["ticket"] = ids::public(Kind::Ticket, ticket_order, ticket_index)
                    .to_string()
                    .into();
            } else {
                entry["order"] = ids::public(Kind::Order, purchase, 0).to_string().into();
            }
            Ok(entry)
        })
        .map_err(db_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(db_error)?;
    Ok(Json(json!({ "customer": id, "orders": orders })).into_response())
}

async fn health(State(state): State<Shared>) -> ApiResult {
    let services = state.driver.read(|hosts| hosts.all().count()).await?;
    Ok(Json(json!({ "status": "ok", "services": services })).into_response())
}

/// Every request runs in a span naming it (method, path, a request number); the
/// commands it sends open their own spans inside, with the command id.
async fn traced(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    static REQUESTS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let number = REQUESTS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let span = tracing::info_span!(
        "request",
        id = number,
        method = %request.method(),
        path = %request.uri().path(),
    );
    async move {
        let response = next.run(request).await;
        tracing::debug!(status = response.status().as_u16(), "answered");
        response
    }
    .instrument(span)
    .await
}

async fn fallback() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NotFound", "no such endpoint")
}

/// Every route.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/admin/tokens", post(issue_token))
        .route("/admin/info", get(admin_info))
        .route("/admin/stuck-payments", get(stuck_payments))
        .route("/shows", post(create_show))
        .route("/shows/{id}", get(get_show))
        .route("/shows/{id}/{step}", post(show_step))
        .route("/shows/{id}/seats", get(seats))
        .route("/shows/{id}/layout", get(layout))
        .route("/shows/{id}/sales", get(sales))
        .route("/orders", post(create_order))
        .route("/orders/{id}", get(get_order))
        .route("/orders/{id}/pay", post(pay))
        .route("/orders/{id}/cancel", post(cancel_order))
        .route("/tickets", get(my_tickets))
        .route("/tickets/{id}/transfer", post(transfer))
        .route("/tickets/{id}/list", post(list_ticket))
        .route("/tickets/{id}/buy", post(buy_listing))
        .route("/tickets/{id}/cancel", post(cancel_ticket))
        .route("/customers/{id}/history", get(history))
        .fallback(fallback)
        .layer(axum::middleware::from_fn(traced))
        .with_state(state)
}
