//! Argument parsing and the subcommands.
//!
//! This is the one part of the harness outside a simulated run: it reads the wall
//! clock (runs/s), writes files (`--json`) and draws a progress bar from a second
//! thread. Nothing here can reach a run: runs get only their seed or token.

use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use clap::{Args, Parser, Subcommand};

mod real;
mod shell;
mod target;
use target as world;
use turnstile::report::Summary;
use turnstile_sim::{Choices, Sim, SweepConfig, Token, TraceMode, shrink, sweep};

/// The prefix of every replay command we print.
const REPLAY_COMMAND: &str = "cargo run --release -- replay";

#[derive(Parser, Debug)]
#[command(
    name = "turnstile",
    version,
    about = "Deterministic simulation of a ticketing system under a hostile world",
    long_about = "Sweeps seeds through the ticketing world (lost, late, duplicated and \
                  reordered messages, crashes, a misbehaving payment gateway, racing and \
                  cheating customers), checks every invariant after every step, and shrinks \
                  any failure to a short trace with a command that replays it."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Sweep seeds and print a summary (exit 0: every run held; 1: an invariant failed).
    Run(RunArgs),
    /// Replay one run from a replay token, a seed, or a fuzzer input file.
    Replay(ReplayArgs),
    /// Shrink a failing seed to its shortest failing trace.
    Shrink(ShrinkArgs),
    /// Run the ticketing system for real: HTTP API, SQLite log, payment gateway client.
    Serve(real::ServeArgs),
    /// Run a fake payment gateway (ledger, declines, timeouts, late answers).
    Gateway(real::GatewayArgs),
    /// Run a flash sale against a server and check the result from outside.
    Load(real::LoadArgs),
    /// The ticketing world on a virtual clock you control: an interactive demo (or a
    /// script with `expect` lines).
    Shell(shell::ShellArgs),
    /// Break every invariant on purpose (faulty doubles of the services) and show each
    /// caught by the default sweep and shrunk: a table of steps, shrink runs and seconds.
    Doubles(DoublesArgs),
}

#[derive(Args, Debug)]
struct DoublesArgs {
    /// Only these doubles (by name; default: every one).
    #[arg(long = "only", value_name = "NAME")]
    only: Vec<String>,
    /// Seeds of the default sweep each double must be caught within.
    #[arg(long, default_value_t = 10_000)]
    seeds: u64,
    /// At most this many runs spent shrinking each.
    #[arg(long, default_value_t = 20_000)]
    budget: u64,
    /// Also print each shrunk failure's story.
    #[arg(long)]
    stories: bool,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// How many seeds to run.
    #[arg(long, default_value_t = 100_000)]
    runs: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Worker threads (default: every core).
    #[arg(long)]
    jobs: Option<usize>,
    /// Run only shard I of N (1-based) of the seeds, e.g. `--shard 2/4`.
    #[arg(long)]
    shard: Option<Shard>,
    /// Also write the summary as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Leave wall-clock figures out of the summary (to compare two sweeps byte for byte).
    #[arg(long)]
    no_timings: bool,
    /// Never draw the progress bar.
    #[arg(long)]
    quiet: bool,
}

#[derive(Args, Debug)]
struct ReplayArgs {
    /// A replay token (`tsim1:…`) or a seed.
    #[arg(required_unless_present = "bytes", conflicts_with = "bytes")]
    token: Option<String>,
    /// Replay a fuzzer input: the file's bytes are the choice stream.
    #[arg(long, value_name = "FILE")]
    bytes: Option<PathBuf>,
    /// Show every command a service handles and every delivery (tracing), and the whole
    /// event trace.
    #[arg(long)]
    trace: bool,
    /// If the run fails, shrink it and print the shortest failing trace.
    #[arg(long)]
    shrink: bool,
    /// Also write the run as one self-contained HTML page: a lane per node, arrows
    /// for messages, faults marked, the causal story highlighted (of the shrunk run
    /// with `--shrink`).
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
}

#[derive(Args, Debug)]
struct ShrinkArgs {
    /// The failing seed.
    seed: u64,
    /// At most this many runs spent shrinking.
    #[arg(long, default_value_t = 20_000)]
    budget: u64,
}

/// `I/N`: shard I (1-based) of N.
#[derive(Clone, Copy, Debug)]
struct Shard {
    index: u64,
    count: u64,
}

impl FromStr for Shard {
    type Err = String;

    fn from_str(text: &str) -> Result<Shard, String> {
        let (index, count) = text
            .split_once('/')
            .ok_or_else(|| format!("`{text}` is not I/N (e.g. 2/4)"))?;
        let index: u64 = index
            .trim()
            .parse()
            .map_err(|_| format!("shard index `{index}` is not a number"))?;
        let count: u64 = count
            .trim()
            .parse()
            .map_err(|_| format!("shard count `{count}` is not a number"))?;
        if count == 0 || index == 0 || index > count {
            return Err(format!("shard {index}/{count}: need 1 ≤ I ≤ N"));
        }
        Ok(Shard { index, count })
    }
}

/// Runs the command line; the exit code says how it went.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Run(args) => run(args),
        Command::Replay(args) => replay(args),
        Command::Shrink(args) => shrink_seed(args),
        Command::Serve(args) => real::serve(args),
        Command::Gateway(args) => real::gateway(args),
        Command::Load(args) => real::load(args),
        Command::Shell(args) => shell::shell(args),
        Command::Doubles(args) => doubles(args),
    }
}

fn usage_error(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

fn verdict(passed: bool) -> ExitCode {
    if passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}

fn default_jobs() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

// The wall clock measures the sweep from outside for runs/s; no run ever sees it.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
fn run(args: RunArgs) -> ExitCode {
    let jobs = args.jobs.unwrap_or_else(default_jobs);
    if jobs == 0 {
        return usage_error("--jobs must be at least 1");
    }
    if args.runs == 0 {
        return usage_error("--runs must be at least 1");
    }
    let (first_seed, runs, shard) = match args.shard {
        Some(Shard { index, count }) => {
            let start = args.seed + args.runs * (index - 1) / count;
            let end = args.seed + args.runs * index / count;
            (start, end - start, Some(format!("{index}/{count}")))
        }
        None => (args.seed, args.runs, None),
    };
    let progress = Arc::new(AtomicU64::new(0));
    let mut sweep_config = SweepConfig::new(first_seed, runs, jobs, world::BUILD);
    sweep_config.progress = Some(progress.clone());
    let config = world::sweep_config();

    let show_bar = !args.quiet && std::io::stderr().is_terminal();
    let done = Arc::new(AtomicBool::new(false));
    let started = std::time::Instant::now();
    let bar_thread = show_bar.then(|| {
        let progress = progress.clone();
        let done = done.clone();
        std::thread::spawn(move || draw_progress(runs, &progress, &done))
    });
    let report = sweep(&config, &sweep_config, world::system);
    let wall_seconds = started.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    if let Some(bar) = bar_thread {
        let _ = bar.join();
    }

    let mut summary = Summary::new(
        &report,
        world::BUILD,
        jobs,
        shard,
        wall_seconds,
        REPLAY_COMMAND,
    );
    summary.tell_stories(&report, world::sweep_config(), world::system);
    if args.no_timings {
        summary = summary.without_timings();
    }
    print!("{summary}");
    if let Some(path) = &args.json
        && let Err(error) = std::fs::write(path, summary.to_json())
    {
        eprintln!("error: cannot write {}: {error}", path.display());
        return ExitCode::from(2);
    }
    verdict(summary.passed())
}

// Draws runs, runs/s, failures and ETA while the sweep's workers count finished runs.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)]
fn draw_progress(runs: u64, progress: &AtomicU64, done: &AtomicBool) {
    let bar = indicatif::ProgressBar::new(runs);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40.cyan/blue} {pos}/{len} runs  {per_sec}  ETA {eta}",
        )
        .expect("a valid template"),
    );
    while !done.load(Ordering::Relaxed) {
        bar.set_position(progress.load(Ordering::Relaxed));
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    bar.finish_and_clear();
}

fn parse_token(text: &str) -> Result<Token, String> {
    if let Ok(seed) = text.trim().parse::<u64>() {
        return Ok(Token::new(world::BUILD, turnstile_sim::Replay::Seed(seed)));
    }
    match Token::parse(text, world::BUILD) {
        Ok(token) => Ok(token),
        Err(turnstile_sim::TokenError::OtherBuild { token, current }) => {
            eprintln!(
                "warning: this token comes from build `{token}`, this is `{current}`: the run \
                 may differ from the one reported"
            );
            Token::parse_any_build(text).map_err(|error| error.to_string())
        }
        Err(error) => Err(error.to_string()),
    }
}

// Reading a fuzzer input is the command's own I/O, before any run starts.
#[allow(clippy::disallowed_methods)]
fn replay(args: ReplayArgs) -> ExitCode {
    let (choices, what) = match (&args.token, &args.bytes) {
        (_, Some(path)) => match std::fs::read(path) {
            Ok(bytes) => (
                Choices::from_bytes(&bytes),
                format!("fuzzer input {}", path.display()),
            ),
            Err(error) => {
                return usage_error(format!("cannot read {}: {error}", path.display()));
            }
        },
        (Some(text), None) => match parse_token(text) {
            Ok(token) => (token.replay.choices(), format!("token {token}")),
            Err(error) => return usage_error(error),
        },
        (None, None) => return usage_error("give a token, a seed or --bytes FILE"),
    };
    if args.trace {
        world::install_trace_subscriber();
    }
    let mut config = world::sweep_config();
    config.trace = TraceMode::Text;
    let mut sim = Sim::new(config);
    let mut system = world::system();
    let outcome = sim.run(&mut system, choices.clone());
    let stats = sim.stats().clone();
    println!("replay of {what}");
    println!("  profile         {}", outcome.profile);
    println!(
        "  run             {} steps, {} messages delivered, {:.1} s virtual, hash {:016x}",
        stats.steps,
        stats.messages_delivered,
        stats.virtual_time_ms as f64 / 1_000.0,
        outcome.hash
    );
    if args.trace {
        println!("  trace ({} events):", sim.trace().lines.len());
        for line in &sim.trace().lines {
            println!("    {line}");
        }
    }
    let _ = std::io::stdout().flush();
    let title = what.clone();
    let html = |system: &world::Ticketing, trace: &turnstile_sim::Trace, failure| match &args.html {
        None => true,
        Some(path) => {
            let page = turnstile::timeline::html(system, trace, failure, &title);
            // The command writes the file the user asked for, outside any run.
            #[allow(clippy::disallowed_methods)]
            let written = std::fs::write(path, page);
            match written {
                Ok(()) => {
                    println!("  html            {}", path.display());
                    true
                }
                Err(error) => {
                    eprintln!("error: cannot write {}: {error}", path.display());
                    false
                }
            }
        }
    };
    match outcome.failure {
        None => {
            if !html(&system, sim.trace(), None) {
                return ExitCode::from(2);
            }
            if !args.trace {
                println!("  world");
                for line in turnstile::story::world_lines(&system) {
                    println!("    {line}");
                }
            }
            println!("PASS: every invariant held");
            ExitCode::SUCCESS
        }
        Some(failure) => {
            println!("FAIL: {}", failure.violation.invariant);
            print!("{}", turnstile::story::tell(&system, sim.trace(), &failure));
            if args.shrink {
                if let Some(shrunk) = print_shrunk(&mut sim, &mut system, choices, 20_000)
                    && !html(&system, &shrunk.trace, Some(&shrunk.failure))
                {
                    return ExitCode::from(2);
                }
            } else if !html(&system, sim.trace(), Some(&failure)) {
                return ExitCode::from(2);
            }
            ExitCode::from(1)
        }
    }
}

fn print_shrunk(
    sim: &mut Sim<world::Ticketing>,
    system: &mut world::Ticketing,
    choices: Choices,
    budget: u64,
) -> Option<turnstile_sim::Shrunk> {
    let Some(shrunk) = shrink(sim, system, choices, budget) else {
        println!("the run does not fail: nothing to shrink");
        return None;
    };
    let token = Token::new(
        world::BUILD,
        turnstile_sim::Replay::Tape(shrunk.tape.clone()),
    );
    println!(
        "shrunk from {} to {} steps in {} runs: {}",
        shrunk.original_steps, shrunk.steps, shrunk.runs, shrunk.failure.violation.invariant
    );
    println!("  profile         {}", shrunk.profile);
    // The shrinker's last run was the shrunk one: the world is the one it drew.
    print!(
        "{}",
        turnstile::story::tell(system, &shrunk.trace, &shrunk.failure)
    );
    println!("  replay          {REPLAY_COMMAND} {token}");
    println!(
        "  (add --trace to the replay for every event of the run, --html FILE for a timeline)"
    );
    Some(shrunk)
}

/// `turnstile doubles`: each double caught and shrunk, one table row each, timed on
/// one core.
#[allow(clippy::disallowed_types, clippy::disallowed_methods)] // Seconds for the table.
fn doubles(args: DoublesArgs) -> ExitCode {
    let catalog = turnstile::doubles::catalog();
    let chosen: Vec<_> = catalog
        .iter()
        .filter(|double| args.only.is_empty() || args.only.iter().any(|name| name == double.name))
        .collect();
    if chosen.is_empty() {
        let names: Vec<&str> = catalog.iter().map(|double| double.name).collect();
        eprintln!(
            "error: no double by that name; the doubles are: {}",
            names.join(", ")
        );
        return ExitCode::from(2);
    }
    println!("| double | invariant | seed | steps: original → shrunk | shrink runs | seconds |");
    println!("|---|---|---:|---:|---:|---:|");
    let mut shrunk_steps = Vec::new();
    let mut slowest = 0f64;
    let mut missed = Vec::new();
    let mut world = turnstile::world::Ticketing::sweep();
    for double in chosen {
        let started = std::time::Instant::now();
        let caught = turnstile::doubles::catch(double, args.seeds, args.budget, &mut world);
        let seconds = started.elapsed().as_secs_f64();
        let Some(caught) = caught else {
            println!(
                "| `{}` | `{}` | — | not caught | — | {seconds:.1} |",
                double.name, double.invariant
            );
            missed.push(double.name);
            continue;
        };
        let shrunk = &caught.shrunk;
        println!(
            "| `{}` | `{}` | {} | {} → {} | {} | {seconds:.1} |",
            double.name,
            double.invariant,
            caught.seed,
            shrunk.original_steps,
            shrunk.steps,
            shrunk.runs
        );
        if args.stories {
            println!(
                "\n{}\n",
                turnstile::story::tell(&world, &shrunk.trace, &shrunk.failure)
            );
        }
        shrunk_steps.push(shrunk.steps);
        slowest = slowest.max(seconds);
    }
    shrunk_steps.sort_unstable();
    if let (Some(&most), Some(&median)) = (
        shrunk_steps.last(),
        shrunk_steps.get(shrunk_steps.len() / 2),
    ) {
        println!(
            "\n{} double(s) caught and shrunk: median {median} steps, most {most}; the slowest \
             took {slowest:.1} s (catch and shrink, one core)",
            shrunk_steps.len()
        );
    }
    if missed.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!(
            "not caught within {} seeds: {}",
            args.seeds,
            missed.join(", ")
        );
        ExitCode::from(1)
    }
}

fn shrink_seed(args: ShrinkArgs) -> ExitCode {
    let mut sim = Sim::new(world::sweep_config());
    let mut system = world::system();
    if print_shrunk(
        &mut sim,
        &mut system,
        Choices::from_seed(args.seed),
        args.budget,
    )
    .is_some()
    {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
