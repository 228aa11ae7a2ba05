//! HTTP plumbing that also runs under madsim later: an axum `Router` served by our own
//! accept loop (hyper's HTTP/1 connection over a tokio `TcpStream`, no `axum::serve`,
//! no tower timeout layers), and a small HTTP/1 client on the same pieces.

use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Serves `router` on `listener` until `stop` turns true; each connection is its own
/// task.
pub async fn serve(listener: TcpListener, router: Router, mut stop: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stop.changed() => return,
        };
        let Ok((stream, _)) = accepted else {
            // Out of descriptors or a reset before accept: keep serving.
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(router.clone());
        let mut stop = stop.clone();
        tokio::spawn(async move {
            let conn = hyper::server::conn::http1::Builder::new()
                .keep_alive(true)
                .serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.changed() => {}
            }
        });
    }
}

/// Why a client request failed before an answer arrived.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Connecting, sending or reading failed.
    #[error("transport: {0}")]
    Transport(String),
    /// No answer within the timeout.
    #[error("timed out")]
    Timeout,
}

/// An answer: status and body.
#[derive(Clone, Debug)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// The body.
    pub body: Bytes,
}

impl Answer {
    /// The body as JSON (null if it is not).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One kept-alive HTTP/1 connection to a server, reopened when it breaks.
pub struct Client {
    addr: SocketAddr,
    sender: Option<SendRequest<Full<Bytes>>>,
    timeout: Duration,
}

impl Client {
    /// A client of `addr`; every request gives up after `timeout`.
    pub fn new(addr: SocketAddr, timeout: Duration) -> Client {
        Client {
            addr,
            sender: None,
            timeout,
        }
    }

    async fn connect(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, ClientError> {
        if self.sender.as_ref().is_none_or(|s| s.is_closed()) {
            let stream = TcpStream::connect(self.addr)
                .await
                .map_err(|e| ClientError::Transport(e.to_string()))?;
            let _ = stream.set_nodelay(true);
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .map_err(|e| ClientError::Transport(e.to_string()))?;
            tokio::spawn(async move {
                let _ = conn.await;
            });
            self.sender = Some(sender);
        }
        self.sender
            .as_mut()
            .ok_or_else(|| ClientError::Transport("no connection".to_owned()))
    }

    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Sends one request; `body` is JSON when given.
    pub async fn request(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&serde_json::Value>,
    ) -> Result<Answer, ClientError> {
        let bytes = body.map(|body| Bytes::from(body.to_string()));
        self.send(method, path, headers, bytes).await
    }

    /// Sends one request with a body of raw bytes, labelled JSON (for tests of bad
    /// input).
    pub async fn request_bytes(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Result<Answer, ClientError> {
        self.send(method, path, headers, Some(Bytes::copy_from_slice(body)))
            .await
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Bytes>,
    ) -> Result<Answer, ClientError> {
        let timeout = self.timeout;
        let attempt = async {
            let host = self.addr.to_string();
            let sender = self.connect().await?;
            sender
                .ready()
                .await
                .map_err(|e| ClientError::Transport(e.to_string()))?;
            let mut builder = hyper::Request::builder()
                .method(method)
                .uri(path)
                .header("host", host);
            for (name, value) in headers {
                builder = builder.header(*name, *value);
            }
            let bytes = match body {
                Some(body) => {
                    builder = builder.header("content-type", "application/json");
                    body
                }
                None => Bytes::new(),
            };
            let request = builder
                .body(Full::new(bytes))
                .map_err(|e| ClientError::Transport(e.to_string()))?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| ClientError::Transport(e.to_string()))?;
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .map_err(|e| ClientError::Transport(e.to_string()))?
                .to_bytes();
            Ok(Answer { status, body })
        };
        match tokio::time::timeout(timeout, attempt).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(error)) => {
                self.sender = None;
                Err(error)
            }
            Err(_) => {
                self.sender = None;
                Err(ClientError::Timeout)
            }
        }
    }
}
