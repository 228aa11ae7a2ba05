//! What the command sweeps: the one place that names the system under test.

use turnstile_sim::toy::{self, Toy};
use turnstile_sim::{Config, ProfileMode};

/// The system a sweep runs.
pub type Ticketing = Toy;

/// The build replay tokens name.
pub const BUILD: &str = concat!("turnstile-", env!("CARGO_PKG_VERSION"));

/// The engine configuration of the default sweep.
pub fn sweep_config() -> Config {
    Config::new(ProfileMode::Swarm(toy::swarm_ceiling()))
}

/// Shows `tracing` output of the services on stderr (`replay --trace`).
pub fn install_trace_subscriber() {}

/// A fresh system for one worker.
pub fn system() -> Ticketing {
    Toy::reference()
}
