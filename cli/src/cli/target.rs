//! What the command sweeps: the one place that names the system under test.

pub use turnstile::world::{BUILD, Ticketing, install_trace_subscriber, sweep_config};

/// A fresh world for one worker, as the default sweep draws it.
pub fn system() -> Ticketing {
    Ticketing::sweep()
}
