//! `turnstile shell`: the line editor (history, tab completion, Ctrl-C cancels a line,
//! Ctrl-D leaves) or a script, around [`interpreter::Shell`], which does no I/O:
//! the ticketing world on the engine, driven one command at a time.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use rustyline::completion::{Completer, Pair};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};
mod interpreter;
mod look;
mod parse;
#[cfg(test)]
mod tests;
mod views;

use interpreter::{Outcome, Shell, ShellError, Vocabulary};

#[derive(Args, Debug)]
pub struct ShellArgs {
    /// Run the commands of this file (one per line, `#` comments), print the
    /// transcript, and exit 1 at the first line that fails or `expect` that does not hold.
    #[arg(long, value_name = "FILE")]
    script: Option<PathBuf>,
    /// The seed of the network's delays.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Colour in seat maps (default: when stdout is a terminal).
    #[arg(long)]
    colour: Option<bool>,
}

pub fn shell(args: ShellArgs) -> ExitCode {
    let mut shell = Shell::new(args.seed);
    shell.colour = args
        .colour
        .unwrap_or_else(|| args.script.is_none() && std::io::stdout().is_terminal());
    match args.script {
        Some(path) => script(shell, &path),
        None => interactive(shell),
    }
}

/// Runs a script and prints its transcript; exit 1 at the first failing line.
fn script(mut shell: Shell, path: &PathBuf) -> ExitCode {
    // The one file the command reads, outside any run.
    #[allow(clippy::disallowed_methods)]
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) => return super::usage_error(format!("{}: {error}", path.display())),
    };
    let transcript = interpreter::run_script(&mut shell, &text);
    print!("{}", transcript.text);
    match transcript.failed {
        None => ExitCode::SUCCESS,
        Some((line, error)) => {
            eprintln!("{}:{line}: {error}", path.display());
            ExitCode::from(1)
        }
    }
}

/// Tab completion from the world's vocabulary of the moment.
struct Completion {
    vocabulary: Vocabulary,
}

impl Completer for Completion {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _ctx: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        let start = line[..pos].rfind(' ').map_or(0, |i| i + 1);
        let word = &line[start..pos];
        let before: Vec<&str> = line[..start].split_whitespace().collect();
        let pairs = self
            .vocabulary
            .completions(&before)
            .into_iter()
            .filter(|c| c.starts_with(word))
            .map(|c| Pair {
                display: c.clone(),
                replacement: format!("{c} "),
            })
            .collect();
        Ok((start, pairs))
    }
}

impl Hinter for Completion {
    type Hint = String;
}
impl Highlighter for Completion {}
impl Validator for Completion {}
impl Helper for Completion {}

fn interactive(mut shell: Shell) -> ExitCode {
    let mut editor: Editor<Completion, rustyline::history::DefaultHistory> = match Editor::new() {
        Ok(editor) => editor,
        Err(error) => return super::usage_error(format!("no terminal: {error}")),
    };
    println!(
        "turnstile shell: the ticketing world on a virtual clock that stands still between \
         commands. `help` lists the commands, Tab completes, Ctrl-D leaves."
    );
    loop {
        editor.set_helper(Some(Completion {
            vocabulary: shell.vocabulary(),
        }));
        match editor.readline(&shell.prompt()) {
            Ok(line) => {
                if !line.trim().is_empty() {
                    let _ = editor.add_history_entry(line.as_str());
                }
                match shell.execute(&line) {
                    Ok(Outcome::Print(text)) => {
                        if !text.is_empty() {
                            println!("{text}");
                        }
                    }
                    Ok(Outcome::Quit) => break,
                    Err(error @ ShellError::Violation(_)) => println!("{error}"),
                    Err(error) => println!("error: {error}"),
                }
            }
            // Ctrl-C drops the line being typed; the world is untouched.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(error) => return super::usage_error(error),
        }
    }
    println!("bye");
    ExitCode::SUCCESS
}
