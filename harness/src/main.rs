//! The `turnstile` command: sweeps of the ticketing world, replays and shrinks.
//!
//! `turnstile run` is the main job; `turnstile replay <token>` brings one run back
//! (with `--trace`, every command a service handles and every delivery, through
//! `tracing`); `turnstile shrink <seed>` shrinks a failing seed to its shortest story.
//! Exit codes: 0 every run held, 1 an invariant failed, 2 bad arguments or an unreadable
//! replay token.

mod cli;

fn main() -> std::process::ExitCode {
    cli::main()
}
