//! The real drivers: `serve`, `gateway` and `load`. They live outside the simulated
//! boundary (wall clock, sockets, the environment), in `turnstile-serve`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, ValueEnum};
use turnstile_serve::gateway::Flags;
use turnstile_serve::load::LoadConfig;
use turnstile_serve::{Durability, ServeConfig, Server};

/// The environment variable holding the admin secret.
pub const ADMIN_SECRET_ENV: &str = "TURNSTILE_ADMIN_SECRET";

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// The data directory (SQLite database, admin secret).
    #[arg(long, default_value = "turnstile-data")]
    data: PathBuf,
    /// Where the HTTP API listens.
    #[arg(long, default_value = "127.0.0.1:8080")]
    listen: String,
    /// The payment gateway (`http://host:port`); without it an embedded fake starts.
    #[arg(long)]
    gateway: Option<String>,
    /// `full`: every commit on the disk (fsync); `normal`: survives a process crash,
    /// not a power cut.
    #[arg(long, value_enum, default_value_t = Sync::Full)]
    sync: Sync,
    /// Log lines as JSON.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    log: LogFormat,
    /// The currency of every price.
    #[arg(long, default_value = "EUR")]
    currency: String,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Sync {
    Full,
    Normal,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Args, Debug)]
pub struct GatewayArgs {
    /// Where the fake gateway listens.
    #[arg(long, default_value = "127.0.0.1:8081")]
    listen: String,
    /// Authorizations declined, per mille.
    #[arg(long, default_value_t = 0)]
    decline_per_mille: u64,
    /// Calls executed but answered only after --hang-ms (callers time out), per mille.
    #[arg(long, default_value_t = 0)]
    timeout_per_mille: u64,
    /// How long a timed-out call hangs.
    #[arg(long, default_value_t = 5_000)]
    hang_ms: u64,
    /// Every answer is delayed by up to this many ms.
    #[arg(long, default_value_t = 0)]
    late_ms: u64,
}

#[derive(Args, Debug)]
pub struct LoadArgs {
    /// The server (`http://host:port`).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    url: String,
    /// The gateway whose ledger is checked (default: the one the server names).
    #[arg(long)]
    gateway: Option<String>,
    /// Customers.
    #[arg(long, default_value_t = 2_000)]
    customers: usize,
    /// Seats in the show.
    #[arg(long, default_value_t = 1_000)]
    seats: u32,
    /// Connections at once.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Reservations a second at most.
    #[arg(long)]
    rate: Option<f64>,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn address(text: &str) -> Result<SocketAddr, String> {
    let bare = text.trim_start_matches("http://").trim_end_matches('/');
    bare.to_socket_addrs()
        .map_err(|e| format!("`{text}`: {e}"))?
        .next()
        .ok_or_else(|| format!("`{text}` names no address"))
}

#[allow(clippy::disallowed_methods)] // configuration from the environment, outside any run
fn secret_from_env() -> Option<String> {
    std::env::var(ADMIN_SECRET_ENV)
        .ok()
        .filter(|s| !s.is_empty())
}

fn init_logs(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

pub fn serve(args: ServeArgs) -> ExitCode {
    init_logs(args.log);
    let listen = match address(&args.listen) {
        Ok(listen) => listen,
        Err(e) => return super::usage_error(e),
    };
    let gateway = match args.gateway.as_deref().map(address).transpose() {
        Ok(gateway) => gateway,
        Err(e) => return super::usage_error(e),
    };
    let config = ServeConfig {
        data: args.data.clone(),
        listen,
        gateway,
        admin_secret: secret_from_env(),
        durability: match args.sync {
            Sync::Full => Durability::Full,
            Sync::Normal => Durability::Normal,
        },
        currency: args.currency,
        ..ServeConfig::default()
    };
    let generated = config.admin_secret.is_none();
    match Server::start(config) {
        Ok(server) => {
            eprintln!("turnstile serving on http://{}", server.addr);
            eprintln!("payment gateway at http://{}", server.gateway);
            if generated {
                eprintln!(
                    "admin secret in {} (or set {ADMIN_SECRET_ENV})",
                    args.data.join(turnstile_serve::ADMIN_SECRET_FILE).display()
                );
            }
            server.wait_for_signal();
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}

pub fn gateway(args: GatewayArgs) -> ExitCode {
    init_logs(LogFormat::Text);
    let listen = match address(&args.listen) {
        Ok(listen) => listen,
        Err(e) => return super::usage_error(e),
    };
    if args.decline_per_mille > 1000 || args.timeout_per_mille > 1000 {
        return super::usage_error("rates are per mille: 0..=1000");
    }
    let flags = Flags {
        decline_per_mille: args.decline_per_mille,
        timeout_per_mille: args.timeout_per_mille,
        hang_ms: args.hang_ms,
        late_ms: args.late_ms,
    };
    match turnstile_serve::GatewayServer::start(listen, flags) {
        Ok(gateway) => {
            eprintln!("fake payment gateway on http://{}", gateway.addr);
            gateway.wait_for_signal();
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}

pub fn load(args: LoadArgs) -> ExitCode {
    let server = match address(&args.url) {
        Ok(server) => server,
        Err(e) => return super::usage_error(e),
    };
    let gateway = match args.gateway.as_deref().map(address).transpose() {
        Ok(gateway) => gateway,
        Err(e) => return super::usage_error(e),
    };
    let Some(admin_secret) = secret_from_env() else {
        return super::usage_error(format!(
            "set {ADMIN_SECRET_ENV} to the server's admin secret"
        ));
    };
    if args.customers == 0 || args.seats == 0 || args.concurrency == 0 {
        return super::usage_error("--customers, --seats and --concurrency must be at least 1");
    }
    if args.rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
        return super::usage_error("--rate must be positive");
    }
    let config = LoadConfig {
        server,
        gateway,
        admin_secret,
        customers: args.customers,
        seats: args.seats,
        concurrency: args.concurrency,
        rate: args.rate,
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(1);
        }
    };
    let report = match runtime.block_on(turnstile_serve::load::run(config)) {
        Ok(report) => report,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(1);
        }
    };
    runtime.shutdown_timeout(Duration::from_secs(1));
    let json = serde_json::to_string_pretty(&report).unwrap_or_default();
    println!("{json}");
    if let Some(path) = args.json {
        #[allow(clippy::disallowed_methods)] // the report file, after the run
        if let Err(error) = std::fs::write(&path, format!("{json}\n")) {
            eprintln!("error: writing {}: {error}", path.display());
            return ExitCode::from(1);
        }
    }
    if report.oversold > 0 || report.paid_without_tickets > 0 || report.pending > 0 {
        eprintln!("FAIL: the check from outside found a violation");
        return ExitCode::from(1);
    }
    ExitCode::SUCCESS
}
