//! Turnstile for real: `turnstile serve` runs every service through the same
//! `turnstile-host` state machines the simulator proves, driven by real I/O.
//!
//! - [`runtime`]: the driver — hosts on one thread, rounds with one SQLite commit
//!   each (group commit), timers on the wall clock, replies only after the commit;
//! - [`store`]: the data directory's SQLite database (WAL): the services' logs as
//!   checksummed frames, the read-model tables, the access tokens;
//! - [`api`]: the HTTP JSON API (axum `Router`), bearer tokens, typed errors,
//!   `Idempotency-Key`;
//! - [`gateway`]: the payment gateway client, and the fake gateway server;
//! - [`http`]: our accept loop and client (hyper, no `axum::serve`, so the same source
//!   can later run under madsim);
//! - [`load`]: `turnstile load`, a flash sale against a server, verified from outside;
//! - [`ids`]: UUIDs, RFC 3339 times and cents at the boundary.
//!
//! This crate is outside the simulated boundary (wall clock, threads, I/O): the crate
//! graph shows it — nothing in `core`, `sim`, `host` or `harness` depends on it.

#![warn(missing_docs)]

pub mod api;
pub mod gateway;
pub mod http;
pub mod ids;
pub mod load;

pub mod runtime;
pub mod store;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

pub use store::Durability;

/// How `serve` runs.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// The data directory.
    pub data: PathBuf,
    /// Where the API listens.
    pub listen: SocketAddr,
    /// The payment gateway; `None` starts the embedded fake.
    pub gateway: Option<SocketAddr>,
    /// How long a gateway call may take before its outcome is unknown.
    pub gateway_timeout: Duration,
    /// The admin secret; `None` generates one and writes it to `DIR/admin-secret`.
    pub admin_secret: Option<String>,
    /// How hard a commit waits for the disk.
    pub durability: Durability,
    /// The currency of every amount.
    pub currency: String,
    /// HTTP worker threads.
    pub workers: usize,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            data: PathBuf::from("turnstile-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            gateway: None,
            gateway_timeout: Duration::from_secs(2),
            admin_secret: None,
            durability: Durability::Full,
            currency: "EUR".to_owned(),
            workers: 2,
        }
    }
}

/// Why the server did not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] store::StoreError),
    /// Binding or starting failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The driver stopped while starting.
    #[error("the service driver did not start: {0}")]
    Driver(String),
}

/// The file the generated admin secret is written to.
pub const ADMIN_SECRET_FILE: &str = "admin-secret";

/// A running server. Dropping it stops everything at once, as a crash would: what a
/// round had not committed is lost, and nothing that depended on it was answered.
pub struct Server {
    /// Where the API listens.
    pub addr: SocketAddr,
    /// Where the gateway is.
    pub gateway: SocketAddr,
    /// The admin secret.
    pub admin_secret: String,
    stop: watch::Sender<bool>,
    driver: runtime::Handle,
    driver_thread: Option<std::thread::JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
    checkpoint_stop: Arc<std::sync::atomic::AtomicBool>,
    checkpointer: Option<std::thread::JoinHandle<()>>,
}

fn admin_secret(dir: &Path, given: Option<String>) -> Result<String, ServeError> {
    if let Some(secret) = given {
        return Ok(secret);
    }
    let path = dir.join(ADMIN_SECRET_FILE);
    if let Ok(secret) = std::fs::read_to_string(&path) {
        return Ok(secret.trim().to_owned());
    }
    let secret = format!("{}", uuid::Uuid::new_v4().simple());
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    use std::io::Write;
    let mut file = options.open(&path)?;
    file.write_all(secret.as_bytes())?;
    file.sync_all()?;
    Ok(secret)
}

impl Server {
    /// Starts the server: rebuilds every service from the data directory, starts the
    /// embedded gateway if none is given, and listens.
    pub fn start(config: ServeConfig) -> Result<Server, ServeError> {
        std::fs::create_dir_all(&config.data)?;
        let secret = admin_secret(&config.data, config.admin_secret.clone())?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.workers.max(1))
            .enable_all()
            .thread_name("turnstile-http")
            .build()?;
        let (stop, stop_rx) = watch::channel(false);
        let gateway = match config.gateway {
            Some(addr) => addr,
            None => {
                let listener = runtime.block_on(TcpListener::bind(("127.0.0.1", 0)))?;
                let addr = listener.local_addr()?;
                let router = gateway::router(gateway::Flags::default());
                runtime.spawn(http::serve(listener, router, stop_rx.clone()));
                addr
            }
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let driver = runtime::Handle::new(tx);
        let port = gateway::HttpGateway::new(
            gateway,
            config.gateway_timeout,
            runtime.handle().clone(),
            driver.clone(),
        );
        let store = store::Store::new(store::open_writer(&config.data, config.durability)?);

        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let driver_thread = std::thread::Builder::new()
            .name("turnstile-driver".to_owned())
            .spawn(move || {
                let local = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(local) => local,
                    Err(error) => {
                        let _ = ready_tx.send(Err(error.to_string()));
                        return;
                    }
                };
                local.block_on(async move {
                    let driver = match runtime::Driver::start(store, port, rx) {
                        Ok(driver) => driver,
                        Err(error) => {
                            let _ = ready_tx.send(Err(error.to_string()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    match driver.run().await {
                        Ok(stats) => tracing::info!(?stats, "driver stopped"),
                        Err(error) => tracing::error!(%error, "driver failed"),
                    }
                });
            })?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(error)) => return Err(ServeError::Driver(error)),
            Err(_) => return Err(ServeError::Driver("the driver thread ended".to_owned())),
        }
        let checkpoint_stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let checkpointer = store::checkpointer(
            &config.data,
            config.durability,
            Duration::from_millis(500),
            checkpoint_stop.clone(),
        )?;
        let read = store::open(&config.data, config.durability)?;
        let state = Arc::new(api::AppState::new(
            driver.clone(),
            read,
            secret.clone(),
            config.currency.clone(),
            gateway.to_string(),
        ));
        let listener = runtime.block_on(TcpListener::bind(config.listen))?;
        let addr = listener.local_addr()?;
        runtime.spawn(http::serve(listener, api::router(state), stop_rx));
        tracing::info!(%addr, %gateway, data = %config.data.display(), "serving");
        Ok(Server {
            addr,
            gateway,
            admin_secret: secret,
            stop,
            driver,
            driver_thread: Some(driver_thread),
            runtime: Some(runtime),
            checkpoint_stop,
            checkpointer: Some(checkpointer),
        })
    }

    /// Blocks until Ctrl-C (or SIGTERM), then stops.
    pub fn wait_for_signal(self) {
        if let Some(runtime) = &self.runtime {
            runtime.block_on(async {
                #[cfg(unix)]
                {
                    use tokio::signal::unix::{SignalKind, signal};
                    if let Ok(mut term) = signal(SignalKind::terminate()) {
                        tokio::select! {
                            _ = tokio::signal::ctrl_c() => {}
                            _ = term.recv() => {}
                        }
                        return;
                    }
                }
                let _ = tokio::signal::ctrl_c().await;
            });
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        let _ = self.driver.send(runtime::Input::Stop);
        if let Some(thread) = self.driver_thread.take() {
            let _ = thread.join();
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
        self.checkpoint_stop
            .store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.checkpointer.take() {
            let _ = thread.join();
        }
    }
}

/// The fake gateway on its own runtime (the `gateway` command, tests, demos);
/// dropping it stops it, and its ledger with it.
pub struct GatewayServer {
    /// Where it listens.
    pub addr: SocketAddr,
    stop: watch::Sender<bool>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl GatewayServer {
    /// Starts the fake gateway on `listen`.
    pub fn start(listen: SocketAddr, flags: gateway::Flags) -> Result<GatewayServer, ServeError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .thread_name("turnstile-gateway")
            .build()?;
        let listener = runtime.block_on(TcpListener::bind(listen))?;
        let addr = listener.local_addr()?;
        let (stop, stop_rx) = watch::channel(false);
        runtime.spawn(http::serve(listener, gateway::router(flags), stop_rx));
        Ok(GatewayServer {
            addr,
            stop,
            runtime: Some(runtime),
        })
    }

    /// Blocks until Ctrl-C.
    pub fn wait_for_signal(self) {
        if let Some(runtime) = &self.runtime {
            runtime.block_on(async {
                let _ = tokio::signal::ctrl_c().await;
            });
        }
    }
}

impl Drop for GatewayServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
