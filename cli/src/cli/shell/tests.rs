//! The shell as a person uses it: the demo script's transcript (a snapshot, reviewed
//! like code), mistakes that change nothing, and determinism.

use super::interpreter::{Outcome, Shell, ShellError, run_script};

/// The demo, as the README runs it.
const DEMO: &str = include_str!("../../../../examples/demo.tsh");

fn demo() -> String {
    DEMO.to_owned()
}

#[test]
fn the_demo_script_tells_the_whole_story_and_every_expectation_holds() {
    let transcript = run_script(&mut Shell::new(1), &demo());
    assert_eq!(transcript.failed, None, "{}", transcript.text);
    insta::assert_snapshot!("demo", transcript.text);
}

#[test]
fn the_same_script_on_the_same_seed_prints_the_same_transcript() {
    let first = run_script(&mut Shell::new(1), &demo());
    let again = run_script(&mut Shell::new(1), &demo());
    assert_eq!(first, again);
}

#[test]
fn a_mistake_prints_the_usage_and_changes_nothing() {
    let mut shell = Shell::new(1);
    let setup = "show create Gig +30d Stalls=2x5@50\npublish\nopen\nreserve alice 2 in Stalls";
    assert_eq!(run_script(&mut shell, setup).failed, None);
    let mistakes = [
        "reserv alice 2",
        "reserve",
        "reserve alice 2 in Balcony",
        "reserve Alice 2 in Stalls",
        "reserve alice 2 on Stalls",
        "pay zed",
        "pay alice --late",
        "pay alice --decline --timeout",
        "advance soon",
        "advance 6",
        "show create Gig +30d",
        "show create Gig tomorrow Stalls=2x5@50",
        "show create Gig +30d Stalls=0x5@50",
        "show create Gig +30d Stalls=2x5@-1",
        "show make Gig",
        "transfer alice t1-1 bob",
        "transfer alice ticket1 to bob",
        "list alice t1-1 lots",
        "crash gateway",
        "crash everything",
        "partition",
        "drop next 0",
        "drop everything",
        "seats Balcony",
        "history nobody",
        "expect order alice",
        "expect seats Stalls sold many",
        "orders now",
        "say \"unclosed",
    ];
    for line in mistakes {
        let before = shell.fingerprint();
        let result = shell.execute(line);
        assert!(
            matches!(
                result,
                Err(ShellError::Usage { .. } | ShellError::Unknown(_))
            ),
            "{line}: {result:?}"
        );
        let message = result.unwrap_err().to_string();
        assert!(
            message.contains("usage:") || message.contains("help"),
            "{line}: the error names no usage: {message}"
        );
        assert_eq!(shell.fingerprint(), before, "{line} changed the world");
    }
    // And the shell goes on.
    assert_eq!(
        run_script(&mut shell, "expect order alice AwaitingPayment").failed,
        None
    );
}

#[test]
fn an_expectation_that_does_not_hold_fails_the_script_at_its_line() {
    let script = "show create Gig +30d Stalls=2x5@50\npublish\nopen\n\
                  reserve alice 2 in Stalls\nexpect order alice Completed\nnow";
    let transcript = run_script(&mut Shell::new(1), script);
    let (line, error) = transcript.failed.expect("the expectation fails");
    assert_eq!(line, 5);
    assert!(matches!(error, ShellError::Expectation { .. }), "{error}");
    assert!(
        !transcript.text.contains("> now"),
        "the script stops at the failure"
    );
}

#[test]
fn quit_and_exit_leave() {
    let mut shell = Shell::new(1);
    assert_eq!(shell.execute("quit"), Ok(Outcome::Quit));
    assert_eq!(shell.execute("exit"), Ok(Outcome::Quit));
}

#[test]
fn completion_offers_commands_then_the_names_the_world_knows() {
    let mut shell = Shell::new(1);
    let setup = "show create Gig +30d Stalls=2x5@50\npublish\nopen\nreserve alice 2 in Stalls";
    assert_eq!(run_script(&mut shell, setup).failed, None);
    let words = shell.vocabulary();
    assert!(words.completions(&[]).contains(&"reserve".to_owned()));
    let after_pay = words.completions(&["pay"]);
    assert!(after_pay.contains(&"alice".to_owned()), "{after_pay:?}");
    assert!(
        words
            .completions(&["pay", "alice"])
            .contains(&"--decline".to_owned())
    );
    assert!(
        words
            .completions(&["reserve", "bob", "2", "in"])
            .contains(&"Stalls".to_owned())
    );
    assert!(words.completions(&["crash"]).contains(&"orders".to_owned()));
}

#[test]
fn faults_asked_for_delay_the_world_but_never_break_it() {
    let mut shell = Shell::new(1);
    let script = "\
show create Gig +30d Stalls=2x5@50
publish
open
partition orders
reserve alice 2 in Stalls
heal
expect order alice AwaitingPayment
drop next 3
pay alice
expect order alice Completed
crash inventory Stalls
reserve bob 1 in Stalls
restart
expect order bob AwaitingPayment
expect seats Stalls held 1
expect seats Stalls sold 2
run
expect order bob Expired
expect check ok";
    let transcript = run_script(&mut shell, script);
    assert_eq!(transcript.failed, None, "{}", transcript.text);
    assert!(
        transcript.text.contains("no answer yet"),
        "{}",
        transcript.text
    );
    assert!(
        transcript.text.contains("cut off: orders"),
        "{}",
        transcript.text
    );
    assert!(
        transcript
            .text
            .contains("inventory 1/Stalls restarted from"),
        "{}",
        transcript.text
    );
}

#[test]
fn a_scripted_gateway_times_out_or_answers_too_late_and_the_saga_copes() {
    let mut shell = Shell::new(1);
    let script = "\
show create Gig +30d Stalls=2x5@50
publish
open
reserve alice 2 in Stalls
pay alice --timeout
expect order alice Completed
expect payment alice 100.00 0
reserve bob 1 in Stalls
pay bob --late 20m
expect order bob Authorizing
run
expect order bob Compensated
expect payment bob 0 0
expect seats Stalls sold 2
expect seats Stalls free 8
expect check ok";
    let transcript = run_script(&mut shell, script);
    assert_eq!(transcript.failed, None, "{}", transcript.text);
    assert!(
        transcript
            .text
            .contains("held (extended) until 2026-01-01 00:15"),
        "{}",
        transcript.text
    );
    let payments = shell.execute("payments").unwrap();
    assert!(
        matches!(&payments, Outcome::Print(text) if text.contains("order 2 (bob): authorized 50.00 (voided)")),
        "{payments:?}"
    );
    let story = shell.execute("story").unwrap();
    assert!(
        matches!(&story, Outcome::Print(text) if text.contains("again ×") && text.contains("order.ConfirmRejected")),
        "{story:?}"
    );
}
