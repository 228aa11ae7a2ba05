//! `turnstile serve` for real: the server in-process on an ephemeral port with a temp
//! data dir, a fake gateway beside it, and HTTP requests from a client.

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use turnstile_serve::gateway::Flags;
use turnstile_serve::http::{Answer, Client};
use turnstile_serve::{Durability, GatewayServer, ServeConfig, Server};

const SECRET: &str = "test-admin-secret";

fn start(dir: &Path, gateway: SocketAddr) -> Server {
    Server::start(ServeConfig {
        data: dir.to_path_buf(),
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        gateway: Some(gateway),
        admin_secret: Some(SECRET.to_owned()),
        durability: Durability::Full,
        ..ServeConfig::default()
    })
    .expect("the server starts")
}

fn fake_gateway() -> GatewayServer {
    GatewayServer::start(SocketAddr::from(([127, 0, 0, 1], 0)), Flags::default()).unwrap()
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

/// Someone calling: a connection and a bearer token (maybe none).
struct As {
    client: Client,
    token: Option<String>,
}

impl As {
    fn new(addr: SocketAddr, token: &str) -> As {
        As {
            client: Client::new(addr, Duration::from_secs(40)),
            token: Some(token.to_owned()),
        }
    }

    fn anonymous(addr: SocketAddr) -> As {
        As {
            client: Client::new(addr, Duration::from_secs(40)),
            token: None,
        }
    }

    fn headers<'a>(&self, auth: &'a str, key: Option<&'a str>) -> Vec<(&'a str, &'a str)> {
        let mut headers = Vec::new();
        if self.token.is_some() {
            headers.push(("authorization", auth));
        }
        if let Some(key) = key {
            headers.push(("idempotency-key", key));
        }
        headers
    }

    async fn call(
        &mut self,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let auth = format!("Bearer {}", self.token.clone().unwrap_or_default());
        let headers = self.headers(&auth, key);
        self.client
            .request(method, path, &headers, body.as_ref())
            .await
            .expect("an answer")
    }

    async fn raw(&mut self, path: &str, body: &str) -> Answer {
        let auth = format!("Bearer {}", self.token.clone().unwrap_or_default());
        let headers = self.headers(&auth, None);
        self.client
            .request_bytes("POST", path, &headers, body.as_bytes())
            .await
            .expect("an answer")
    }
}

async fn token(addr: SocketAddr, role: &str) -> (String, String) {
    let mut admin = As::new(addr, SECRET);
    let answer = admin
        .call("POST", "/admin/tokens", None, Some(json!({ "role": role })))
        .await;
    assert_eq!(answer.status, 201, "{:?}", answer.json());
    let body = answer.json();
    (
        body["token"].as_str().unwrap().to_owned(),
        body["id"].as_str().unwrap().to_owned(),
    )
}

/// A show with one numbered section of `seats` seats in one row, on sale.
async fn show_on_sale(organizer: &mut As, seats: u32) -> String {
    let labels: Vec<String> = (1..=seats).map(|i| format!("A-{i}")).collect();
    let created = organizer
        .call(
            "POST",
            "/shows",
            None,
            Some(json!({
                "name": "Last seat",
                "start_at": "2030-01-01T20:00:00Z",
                "sections": [{ "name": "Stalls", "kind": "numbered", "seats": labels, "price_cents": 5000 }],
            })),
        )
        .await;
    assert_eq!(created.status, 201, "{:?}", created.json());
    let show = created.json()["show"].as_str().unwrap().to_owned();
    for step in ["publish", "open"] {
        let answer = organizer
            .call("POST", &format!("/shows/{show}/{step}"), None, None)
            .await;
        assert_eq!(answer.status, 200, "{step}: {:?}", answer.json());
    }
    show
}

/// Everything the server keeps: log records, read-model rows, tokens.
fn footprint(dir: &Path) -> Vec<i64> {
    let conn = rusqlite::Connection::open(dir.join(turnstile_serve::store::DB_FILE)).unwrap();
    [
        "log",
        "rm_streams",
        "rm_seats",
        "rm_layout",
        "rm_sales",
        "rm_history",
        "tokens",
    ]
    .iter()
    .map(|table| {
        conn.query_row(&format!("SELECT COUNT(*) FROM {table}"), [], |row| {
            row.get(0)
        })
        .unwrap()
    })
    .collect()
}

/// The footprint once the server is quiet: the hosts log acknowledgements in a
/// resend round after the last command, so wait until nothing changes for a while.
async fn quiet_footprint(dir: &Path) -> Vec<i64> {
    let mut last = footprint(dir);
    loop {
        tokio::time::sleep(Duration::from_millis(700)).await;
        let now = footprint(dir);
        if now == last {
            return now;
        }
        last = now;
    }
}

#[test]
fn two_customers_race_for_the_last_seat_and_a_crash_loses_nothing_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = fake_gateway();
    let server = start(dir.path(), gateway.addr);
    let addr = server.addr;
    let rt = runtime();
    let (show, order, ticket, winner_token, winner_id, total) = rt.block_on(async {
        let (organizer_token, _) = token(addr, "organizer").await;
        let mut organizer = As::new(addr, &organizer_token);
        let show = show_on_sale(&mut organizer, 2).await;
        // Someone takes the first seat; two customers race for the last one.
        let (early, _) = token(addr, "customer").await;
        let first = As::new(addr, &early)
            .call(
                "POST",
                "/orders",
                None,
                Some(json!({ "show": show, "section": 0, "quantity": 1 })),
            )
            .await;
        assert_eq!(first.status, 201);
        let alice = token(addr, "customer").await;
        let bob = token(addr, "customer").await;
        let body = json!({ "show": show, "section": "Stalls", "quantity": 1 });
        let (a, b) = tokio::join!(
            async {
                As::new(addr, &alice.0)
                    .call("POST", "/orders", Some("k1"), Some(body.clone()))
                    .await
            },
            async {
                As::new(addr, &bob.0)
                    .call("POST", "/orders", Some("k1"), Some(body.clone()))
                    .await
            },
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [201, 409],
            "exactly one wins: {:?} {:?}",
            a.json(),
            b.json()
        );
        let (winner, won, lost) = if a.status == 201 {
            (alice, a, b)
        } else {
            (bob, b, a)
        };
        assert_eq!(lost.json()["error"], "InsufficientInventory");
        assert_eq!(won.json()["seats"], json!(["A-2"]));
        let order = won.json()["order"].as_str().unwrap().to_owned();
        let paid = As::new(addr, &winner.0)
            .call(
                "POST",
                &format!("/orders/{order}/pay"),
                Some("pay-1"),
                Some(json!({ "card_token": "tok_visa" })),
            )
            .await;
        assert_eq!(paid.status, 200, "{:?}", paid.json());
        assert_eq!(paid.json()["status"], "completed", "{:?}", paid.json());
        let ticket = paid.json()["tickets"][0].as_str().unwrap().to_owned();
        let total = paid.json()["total"]["cents"].as_u64().unwrap();
        (show, order, ticket, winner.0, winner.1, total)
    });
    // Crash: drop without shutdown (a round not yet committed is lost; nothing answered
    // depended on it), then restart on the same directory.
    drop(server);
    let server = start(dir.path(), gateway.addr);
    let addr = server.addr;
    rt.block_on(async {
        let mut winner = As::new(addr, &winner_token);
        let order_view = winner
            .call("GET", &format!("/orders/{order}"), None, None)
            .await;
        assert_eq!(order_view.status, 200);
        assert_eq!(order_view.json()["status"], "completed");
        let tickets = winner.call("GET", "/tickets", None, None).await.json();
        let tickets = tickets["tickets"].as_array().cloned().unwrap();
        assert_eq!(tickets.len(), 1);
        assert_eq!(tickets[0]["ticket"], ticket.as_str());
        assert_eq!(tickets[0]["seat"], "A-2");
        let seats = winner
            .call("GET", &format!("/shows/{show}/seats"), None, None)
            .await
            .json();
        let section = &seats["sections"][0];
        assert_eq!(section["sold"], 1, "{seats}");
        assert_eq!(
            section["reserved"], 1,
            "the early customer's hold is still live: {seats}"
        );
        assert_eq!(section["available"], 0);
        let history = winner
            .call(
                "GET",
                &format!("/customers/{winner_id}/history"),
                None,
                None,
            )
            .await;
        assert_eq!(history.status, 200);
        assert_eq!(history.json()["orders"][0]["status"], "completed");
        assert_eq!(history.json()["orders"][0]["paid"]["cents"], total);
        // The acknowledged payment retried with its key is a repeat, not a second charge.
        let again = winner
            .call(
                "POST",
                &format!("/orders/{order}/pay"),
                Some("pay-1"),
                Some(json!({ "card_token": "tok_visa" })),
            )
            .await;
        assert_eq!(again.status, 200);
        assert_eq!(again.json()["status"], "completed");
    });
    let mut ledger = Client::new(gateway.addr, Duration::from_secs(5));
    let rows = rt
        .block_on(ledger.request("GET", "/ledger", &[], None))
        .unwrap()
        .json();
    let captured: u64 = rows
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["captured"].as_u64().unwrap())
        .sum();
    assert_eq!(captured, total, "one seat, captured once: {rows}");
    drop(server);
}

#[test]
fn every_bad_input_gets_its_status_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = fake_gateway();
    let server = start(dir.path(), gateway.addr);
    let addr = server.addr;
    let rt = runtime();
    rt.block_on(async {
        let (organizer_token, _) = token(addr, "organizer").await;
        let mut organizer = As::new(addr, &organizer_token);
        let show = show_on_sale(&mut organizer, 3).await;
        let (customer_token, _) = token(addr, "customer").await;
        let mut customer = As::new(addr, &customer_token);
        let held = customer
            .call("POST", "/orders", Some("mine"), Some(json!({ "show": show, "section": 0, "quantity": 1 })))
            .await;
        assert_eq!(held.status, 201);
        let order = held.json()["order"].as_str().unwrap().to_owned();
        let before = quiet_footprint(dir.path()).await;

        let reserve = |quantity: u32| json!({ "show": show, "section": 0, "quantity": quantity });
        let mut anonymous = As::anonymous(addr);
        let mut stranger = As::new(addr, "not-a-token");
        let mut wrong_admin = As::new(addr, "wrong-secret");
        let unknown_show = "73686f77-0000-8000-8000-000000000001";
        let cases: Vec<(&str, Answer, u16, &str)> = vec![
            ("malformed JSON", customer.raw("/orders", "{\"show\": ").await, 400, "InvalidJson"),
            ("not JSON", customer.raw("/orders", "quantity=1").await, 400, "InvalidJson"),
            (
                "unknown field",
                customer.call("POST", "/orders", None, Some(json!({ "show": show, "section": 0, "quantity": 1, "actor": "admin" }))).await,
                400,
                "UnknownField",
            ),
            (
                "wrong type",
                customer.call("POST", "/orders", None, Some(json!({ "show": show, "section": 0, "quantity": "two" }))).await,
                400,
                "InvalidField",
            ),
            ("missing field", customer.call("POST", "/orders", None, Some(json!({ "show": show }))).await, 400, "MissingField"),
            ("quantity 0", customer.call("POST", "/orders", None, Some(reserve(0))).await, 400, "InvalidQuantity"),
            ("quantity 9", customer.call("POST", "/orders", None, Some(reserve(9))).await, 400, "InvalidQuantity"),
            (
                "a bad start time",
                organizer.call("POST", "/shows", None, Some(json!({ "name": "x", "start_at": "soon", "sections": [] }))).await,
                400,
                "InvalidTime",
            ),
            ("no token", anonymous.call("POST", "/orders", None, Some(reserve(1))).await, 401, "Unauthorized"),
            ("unknown token", stranger.call("GET", "/tickets", None, None).await, 401, "Unauthorized"),
            (
                "wrong admin secret",
                wrong_admin.call("POST", "/admin/tokens", None, Some(json!({ "role": "customer" }))).await,
                403,
                "Forbidden",
            ),
            (
                "a customer creating a show",
                customer.call("POST", "/shows", None, Some(json!({ "name": "x", "start_at": "2030-01-01T00:00:00Z", "sections": [] }))).await,
                403,
                "Forbidden",
            ),
            (
                "unknown show",
                customer.call("POST", "/orders", None, Some(json!({ "show": unknown_show, "section": 0, "quantity": 1 }))).await,
                404,
                "UnknownShow",
            ),
            ("not an id", customer.call("GET", "/orders/42", None, None).await, 404, "NotFound"),
            ("no such endpoint", customer.call("GET", "/nowhere", None, None).await, 404, "NotFound"),
            (
                "publishing twice",
                organizer.call("POST", &format!("/shows/{show}/publish"), None, None).await,
                409,
                "",
            ),
            (
                "the same key with another body",
                customer.call("POST", "/orders", Some("mine"), Some(reserve(2))).await,
                422,
                "IdempotencyConflict",
            ),
        ];
        let mut failures = Vec::new();
        for (what, answer, status, error) in &cases {
            let body = answer.json();
            let named = body["error"].as_str().unwrap_or_default();
            let typed = body["message"].is_string() && !named.is_empty();
            if answer.status != *status || !typed || (!error.is_empty() && named != *error) {
                failures.push(format!("{what}: {} {body}", answer.status));
            }
        }
        assert!(failures.is_empty(), "wrong answers:\n{}", failures.join("\n"));
        assert_eq!(quiet_footprint(dir.path()).await, before, "a refused request wrote something");
        // And the same key with the same body answers as before, writing nothing.
        let again = customer.call("POST", "/orders", Some("mine"), Some(reserve(1))).await;
        assert_eq!(again.status, 201);
        assert_eq!(again.json()["order"], order.as_str());
        assert_eq!(quiet_footprint(dir.path()).await, before);
    });
    drop(server);
}

#[test]
fn every_read_is_guarded() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = fake_gateway();
    let server = start(dir.path(), gateway.addr);
    let addr = server.addr;
    let rt = runtime();
    rt.block_on(async {
        let (owner_token, _) = token(addr, "organizer").await;
        let (rival_token, _) = token(addr, "organizer").await;
        let mut owner = As::new(addr, &owner_token);
        let mut rival = As::new(addr, &rival_token);
        let show = show_on_sale(&mut owner, 4).await;
        let (alice_token, alice_id) = token(addr, "customer").await;
        let (bob_token, bob_id) = token(addr, "customer").await;
        let mut alice = As::new(addr, &alice_token);
        let mut bob = As::new(addr, &bob_token);
        let held = alice
            .call(
                "POST",
                "/orders",
                None,
                Some(json!({ "show": show, "section": 0, "quantity": 1 })),
            )
            .await;
        let order = held.json()["order"].as_str().unwrap().to_owned();
        let paid = alice
            .call(
                "POST",
                &format!("/orders/{order}/pay"),
                None,
                Some(json!({ "card_token": "tok" })),
            )
            .await;
        assert_eq!(paid.json()["status"], "completed");
        let ticket = paid.json()["tickets"][0].as_str().unwrap().to_owned();

        // Each read endpoint: the owner sees it; anyone else gets 403 or 404.
        let own = alice
            .call("GET", &format!("/orders/{order}"), None, None)
            .await;
        assert_eq!(own.status, 200);
        for (who, answer) in [
            (
                "bob",
                bob.call("GET", &format!("/orders/{order}"), None, None)
                    .await,
            ),
            (
                "an organizer",
                owner
                    .call("GET", &format!("/orders/{order}"), None, None)
                    .await,
            ),
        ] {
            assert!(
                matches!(answer.status, 403 | 404),
                "{who} read alice's order: {}",
                answer.status
            );
        }
        let mine = alice.call("GET", "/tickets", None, None).await.json();
        assert_eq!(mine["tickets"].as_array().unwrap().len(), 1);
        let bobs = bob.call("GET", "/tickets", None, None).await.json();
        assert_eq!(
            bobs["tickets"],
            json!([]),
            "bob sees none of alice's tickets"
        );
        assert!(matches!(
            owner.call("GET", "/tickets", None, None).await.status,
            403 | 404
        ));
        // Acting on another's ticket is refused as if it did not exist.
        let transfer = bob
            .call(
                "POST",
                &format!("/tickets/{ticket}/transfer"),
                None,
                Some(json!({ "to": bob_id })),
            )
            .await;
        assert_eq!(transfer.status, 404);

        assert_eq!(
            alice
                .call("GET", &format!("/customers/{alice_id}/history"), None, None)
                .await
                .status,
            200
        );
        for (who, answer) in [
            (
                "bob",
                bob.call("GET", &format!("/customers/{alice_id}/history"), None, None)
                    .await,
            ),
            (
                "an organizer",
                owner
                    .call("GET", &format!("/customers/{alice_id}/history"), None, None)
                    .await,
            ),
        ] {
            assert!(
                matches!(answer.status, 403 | 404),
                "{who} read alice's history: {}",
                answer.status
            );
        }
        assert_eq!(
            owner
                .call("GET", &format!("/shows/{show}/sales"), None, None)
                .await
                .status,
            200
        );
        for (who, answer) in [
            (
                "a rival organizer",
                rival
                    .call("GET", &format!("/shows/{show}/sales"), None, None)
                    .await,
            ),
            (
                "a customer",
                alice
                    .call("GET", &format!("/shows/{show}/sales"), None, None)
                    .await,
            ),
        ] {
            assert!(
                matches!(answer.status, 403 | 404),
                "{who} read the sales: {}",
                answer.status
            );
        }
        // Public to any signed-in caller, and to nobody else.
        for path in [
            format!("/shows/{show}"),
            format!("/shows/{show}/seats"),
            format!("/shows/{show}/layout"),
        ] {
            assert_eq!(
                bob.call("GET", &path, None, None).await.status,
                200,
                "{path}"
            );
            assert_eq!(
                As::anonymous(addr)
                    .call("GET", &path, None, None)
                    .await
                    .status,
                401,
                "{path}"
            );
        }
        // And every mutation on another's order is refused without writing.
        let cancel = bob
            .call("POST", &format!("/orders/{order}/cancel"), None, None)
            .await;
        assert_eq!(cancel.status, 404);
    });
    drop(server);
}

#[test]
fn a_ticket_changes_hands_and_a_cancelled_show_refunds() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = fake_gateway();
    let server = start(dir.path(), gateway.addr);
    let addr = server.addr;
    let rt = runtime();
    rt.block_on(async {
        let (organizer_token, _) = token(addr, "organizer").await;
        let mut organizer = As::new(addr, &organizer_token);
        let show = show_on_sale(&mut organizer, 6).await;
        let (alice_token, _) = token(addr, "customer").await;
        let (bob_token, bob_id) = token(addr, "customer").await;
        let (carol_token, carol_id) = token(addr, "customer").await;
        let (mut alice, mut bob, mut carol) = (
            As::new(addr, &alice_token),
            As::new(addr, &bob_token),
            As::new(addr, &carol_token),
        );
        let held = alice
            .call(
                "POST",
                "/orders",
                None,
                Some(json!({ "show": show, "section": 0, "quantity": 2, "seats": ["A-3", "A-4"] })),
            )
            .await;
        assert_eq!(
            held.json()["seats"],
            json!(["A-3", "A-4"]),
            "{:?}",
            held.json()
        );
        let order = held.json()["order"].as_str().unwrap().to_owned();
        let paid = alice
            .call(
                "POST",
                &format!("/orders/{order}/pay"),
                None,
                Some(json!({ "card_token": "alice" })),
            )
            .await
            .json();
        let (first, second) = (
            paid["tickets"][0].as_str().unwrap().to_owned(),
            paid["tickets"][1].as_str().unwrap().to_owned(),
        );
        // A transfer moves the ticket to Bob; Alice no longer holds it.
        let moved = alice
            .call(
                "POST",
                &format!("/tickets/{first}/transfer"),
                None,
                Some(json!({ "to": bob_id })),
            )
            .await;
        assert_eq!(moved.status, 200, "{:?}", moved.json());
        let bobs = bob.call("GET", "/tickets", None, None).await.json();
        assert_eq!(bobs["tickets"][0]["ticket"], first.as_str());
        let alices = alice.call("GET", "/tickets", None, None).await.json();
        assert_eq!(alices["tickets"].as_array().unwrap().len(), 1);
        // Alice lists the other for resale; Carol buys it.
        let listed = alice
            .call(
                "POST",
                &format!("/tickets/{second}/list"),
                None,
                Some(json!({ "price_cents": 3000 })),
            )
            .await;
        assert_eq!(
            listed.json()["listing"]["price"]["cents"],
            3000,
            "{:?}",
            listed.json()
        );
        let bought = carol
            .call(
                "POST",
                &format!("/tickets/{second}/buy"),
                None,
                Some(json!({ "card_token": "carol" })),
            )
            .await;
        assert_eq!(bought.json()["status"], "completed", "{:?}", bought.json());
        let carols = carol.call("GET", "/tickets", None, None).await.json();
        assert_eq!(carols["tickets"][0]["ticket"], second.as_str());
        assert_eq!(carols["tickets"][0]["paid"]["cents"], 3000);
        // The purchase is in Carol's history, as a resale of that ticket.
        let history = carol
            .call("GET", &format!("/customers/{carol_id}/history"), None, None)
            .await
            .json();
        let entry = &history["orders"][0];
        assert_eq!(
            (&entry["kind"], &entry["status"], &entry["ticket"]),
            (&json!("resale"), &json!("completed"), &json!(second)),
            "{history:?}"
        );
        assert_eq!(
            (&entry["tickets"], &entry["paid"]["cents"]),
            (&json!(1), &json!(3000))
        );
        assert_eq!(
            alice.call("GET", "/tickets", None, None).await.json()["tickets"],
            json!([])
        );
        // Bob cancels his (more than 7 days ahead: a full refund, the seat back on sale).
        let cancelled = bob
            .call("POST", &format!("/tickets/{first}/cancel"), None, None)
            .await;
        assert_eq!(
            cancelled.json()["status"],
            "cancelled",
            "{:?}",
            cancelled.json()
        );
        // A hold cancelled by its customer; then the organizer cancels the show.
        let other = bob
            .call(
                "POST",
                "/orders",
                None,
                Some(json!({ "show": show, "section": 0, "quantity": 1 })),
            )
            .await;
        let other = other.json()["order"].as_str().unwrap().to_owned();
        let dropped = bob
            .call("POST", &format!("/orders/{other}/cancel"), None, None)
            .await;
        assert_eq!(dropped.json()["status"], "cancelled");
        let gone = organizer
            .call("POST", &format!("/shows/{show}/cancel"), None, None)
            .await;
        assert_eq!(gone.json()["status"], "cancelled");
        // Carol's ticket ends with the show, and her money comes back.
        let mut status = Value::Null;
        for _ in 0..100 {
            status = carol.call("GET", "/tickets", None, None).await.json()["tickets"][0]["status"]
                .clone();
            if status == "show_cancelled" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(status, "show_cancelled");
    });
    // The ledger: Alice's capture is refunded for the cancelled ticket; Carol's resale
    // payment is refunded in full with the show.
    let mut ledger = Client::new(gateway.addr, Duration::from_secs(5));
    let mut refunded_everything = false;
    for _ in 0..100 {
        let rows = rt
            .block_on(ledger.request("GET", "/ledger", &[], None))
            .unwrap()
            .json();
        let resale = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resale"].is_string())
            .cloned();
        if let Some(resale) = resale
            && resale["captured"] == 3000
            && resale["refunded"] == 3000
        {
            refunded_everything = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(refunded_everything, "the resale buyer's money came back");
    drop(server);
}

#[test]
fn a_refund_declined_through_an_outage_is_owed_until_the_gateway_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = fake_gateway();
    let server = start(dir.path(), gateway.addr);
    let addr = server.addr;
    let rt = runtime();
    rt.block_on(async {
        let (organizer_token, _) = token(addr, "organizer").await;
        let mut organizer = As::new(addr, &organizer_token);
        let show = show_on_sale(&mut organizer, 4).await;
        let (alice_token, _) = token(addr, "customer").await;
        let mut alice = As::new(addr, &alice_token);
        let held = alice
            .call(
                "POST",
                "/orders",
                None,
                Some(json!({ "show": show, "section": 0, "quantity": 1 })),
            )
            .await
            .json();
        let order = held["order"].as_str().unwrap().to_owned();
        let paid = alice
            .call(
                "POST",
                &format!("/orders/{order}/pay"),
                None,
                Some(json!({ "card_token": "alice" })),
            )
            .await
            .json();
        let ticket = paid["tickets"][0].as_str().unwrap().to_owned();
        let mut control = Client::new(gateway.addr, Duration::from_secs(5));
        control
            .request("POST", "/outage", &[], Some(&json!({ "down": true })))
            .await
            .unwrap();
        let cancelled = alice
            .call("POST", &format!("/tickets/{ticket}/cancel"), None, None)
            .await;
        assert_eq!(cancelled.json()["status"], "cancelled");
        // Declined, and declined again after a second: owed, retried, not yet stuck.
        let mut admin = As::new(addr, SECRET);
        let mut owed = Value::Null;
        for _ in 0..100 {
            owed = admin
                .call("GET", "/admin/stuck-payments?all=true", None, None)
                .await
                .json();
            if owed["payments"][0]["retries"].as_i64().unwrap_or(0) >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let entry = &owed["payments"][0];
        assert_eq!(
            (&entry["operation"], &entry["ticket"], &entry["stuck"]),
            (&json!("refund"), &json!(ticket), &json!(false)),
            "{owed:?}"
        );
        assert!(entry["retries"].as_i64().unwrap() >= 2, "{owed:?}");
        let stuck = admin
            .call("GET", "/admin/stuck-payments", None, None)
            .await
            .json();
        assert_eq!(stuck["payments"], json!([]), "not stuck before 24 hours");
        assert_eq!(
            alice
                .call("GET", "/admin/stuck-payments", None, None)
                .await
                .status,
            403,
            "a customer is not an operator"
        );
        // The gateway comes back: the next retry pays, and nothing is owed.
        control
            .request("POST", "/outage", &[], Some(&json!({ "down": false })))
            .await
            .unwrap();
        let mut settled = false;
        for _ in 0..200 {
            let owed = admin
                .call("GET", "/admin/stuck-payments?all=true", None, None)
                .await
                .json();
            if owed["payments"] == json!([]) {
                settled = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(settled, "the refund was paid once the gateway was back");
        let rows = control
            .request("GET", "/ledger", &[], None)
            .await
            .unwrap()
            .json();
        assert!(rows[0]["refunded"].as_u64().unwrap() > 0, "{rows:?}");
    });
    drop(server);
}
