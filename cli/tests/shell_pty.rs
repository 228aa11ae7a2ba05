//! `turnstile shell` in a real terminal, driven as a person would through tmux: help, a
//! typo, lines pasted at once, tab completion, a reservation, time advanced past the
//! hold, Ctrl-C, Ctrl-D.
//!
//! Needs `tmux` (CI installs it). Without it the test says so and passes, unless
//! `TURNSTILE_REQUIRE_TMUX=1` (set by CI), where a missing tmux fails it.

use std::process::{Command, Output};
use std::time::Duration;

struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("tmux runs")
    }

    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "shell"];
        args.extend_from_slice(keys);
        assert!(self.run(&args).status.success());
    }

    fn type_line(&self, line: &str) {
        self.keys(&["-l", line]);
        self.keys(&["Enter"]);
    }

    /// Sends `lines` in one burst, as a paste does, each ended by Enter.
    fn paste(&self, lines: &[&str]) {
        let mut keys = Vec::new();
        for line in lines {
            keys.extend_from_slice(&[*line, "Enter"]);
        }
        self.keys(&keys);
    }

    fn screen(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-J", "-S", "-200", "-t", "shell"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Waits (up to 20 s) until the screen shows `text` `times` times.
    fn wait_for(&self, text: &str, times: usize) -> String {
        for _ in 0..400 {
            let screen = self.screen();
            if screen.matches(text).count() >= times {
                return screen;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "the screen never showed {text:?} ×{times}:\n{}",
            self.screen()
        );
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

#[test]
fn a_person_at_the_terminal_reserves_watches_a_hold_expire_and_leaves() {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(
            std::env::var_os("TURNSTILE_REQUIRE_TMUX").is_none(),
            "tmux is required here (TURNSTILE_REQUIRE_TMUX) but not installed"
        );
        eprintln!("SKIPPED: tmux is not installed");
        return;
    }
    let tmux = Tmux {
        socket: format!("turnstile-shell-test-{}", std::process::id()),
    };
    let binary = env!("CARGO_BIN_EXE_turnstile");
    let started = tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "shell",
        "-x",
        "200",
        "-y",
        "60",
        &format!("{binary} shell; echo SHELL-EXITED-$?; sleep 30"),
    ]);
    assert!(started.status.success(), "{started:?}");
    tmux.wait_for("turnstile [2026-01-01 00:00:00.000]>", 1);

    tmux.type_line("help");
    tmux.wait_for("lists the commands, or one command's usage", 1);

    // A typo: a short error, and the shell stays.
    tmux.type_line("reserv alice 2");
    tmux.wait_for("error: unknown command `reserv` (try `help`)", 1);

    tmux.type_line("show create Gig +30d Stalls=2x5@50");
    tmux.wait_for("show 1 \"Gig\"", 1);
    // Lines pasted at once (typed ahead while the shell still answers the first) are
    // each run, in order: the line editor keeps what it read past the first line.
    tmux.paste(&["publish", "open", "now"]);
    tmux.wait_for("SalesOpen", 1);
    let screen = tmux.wait_for("]> now", 1);
    let (published, opened) = (screen.find("· Published"), screen.find("· SalesOpen"));
    assert!(published.is_some() && published < opened, "{screen}");

    // Tab completes the command, then the section's name.
    tmux.keys(&["-l", "reser"]);
    tmux.keys(&["Tab"]);
    tmux.keys(&["-l", "alice 2 in Sta"]);
    tmux.keys(&["Tab"]);
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_for("AwaitingPayment, held until 2026-01-01 00:05", 1);
    assert!(screen.contains("> reserve alice 2 in Stalls"), "{screen}");

    tmux.type_line("seats");
    tmux.wait_for("8 free, 2 held, 0 sold", 1);

    // Time stands still until asked to move; then the hold expires.
    tmux.type_line("advance 6m");
    tmux.wait_for("now 2026-01-01 00:06:", 1);
    tmux.type_line("orders");
    tmux.wait_for("· Expired", 1);

    // Ctrl-C drops a half-typed line; the world is untouched.
    tmux.keys(&["-l", "cancel"]);
    tmux.keys(&["C-c"]);
    tmux.type_line("check");
    tmux.wait_for("always: every invariant holds", 1);

    // Ctrl-D leaves, with exit code 0.
    tmux.keys(&["C-d"]);
    let screen = tmux.wait_for("SHELL-EXITED-", 1);
    assert!(screen.contains("bye"), "{screen}");
    assert!(screen.contains("SHELL-EXITED-0"), "{screen}");
    assert!(
        !screen.contains("Cancelled"),
        "Ctrl-C must not send the line: {screen}"
    );
}
