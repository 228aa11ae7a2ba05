//! The `turnstile` command: sweeps of the ticketing world, replays and shrinks.
//!
//! `turnstile run` is the main job; `turnstile replay <token>` brings one run back
//! (with `--trace`, every command a service handles and every delivery, through
//! `tracing`); `turnstile shrink <seed>` shrinks a failing seed to its shortest story.
//! Exit codes: 0 every run held, 1 an invariant failed, 2 bad arguments or an unreadable
//! replay token.

mod cli;

/// Small blocks from a per-thread cache: a sweep allocates and frees ~2,000 per run.
#[global_allocator]
static ALLOC: turnstile::pool::Pool = turnstile::pool::Pool;

fn main() -> std::process::ExitCode {
    cli::main()
}
