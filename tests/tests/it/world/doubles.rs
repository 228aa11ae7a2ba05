//! Each invariant broken on purpose (`turnstile::doubles`): every faulty double must be
//! caught by the default sweep within 10,000 seeds, under its invariant's name, and
//! shrunk to a short story: none over 150 steps, the median at most 40.

use turnstile::doubles::{Caught, catalog, catch, find};
use turnstile::world::Ticketing;

/// Seeds of the default sweep each double must be caught within.
const SEEDS: u64 = 10_000;
/// Runs each shrink may spend (`TURNSTILE_SHRINK_BUDGET` overrides it).
const BUDGET: u64 = 20_000;

/// Catches and shrinks the double `name`; panics if no seed catches it. Returns the
/// failure's story as a person reads it.
fn assert_caught(name: &str) -> String {
    let double = find(name).expect("a double of the catalog");
    let budget = super::env_number("TURNSTILE_SHRINK_BUDGET").unwrap_or(BUDGET);
    let mut world = Ticketing::sweep();
    let Some(Caught { seed, shrunk }) = catch(&double, SEEDS, budget, &mut world) else {
        panic!("no seed of {SEEDS} caught `{}`", double.invariant);
    };
    assert_eq!(shrunk.failure.violation.invariant, double.invariant);
    assert!(shrunk.steps <= shrunk.original_steps);
    // No shrunk double over 150 steps (`turnstile doubles` prints the table).
    assert!(
        shrunk.steps <= 150,
        "{name}: caught at seed {seed}, shrunk only from {} to {} steps",
        shrunk.original_steps,
        shrunk.steps
    );
    eprintln!(
        "{name}: caught at seed {seed}, shrunk from {} to {} steps in {} runs: {}",
        shrunk.original_steps, shrunk.steps, shrunk.runs, shrunk.failure
    );
    // The shrinker's last run is the shrunk one: `world` drew its world.
    let story = turnstile::story::tell(&world, &shrunk.trace, &shrunk.failure);
    if double.invariant == "no_money_twice" {
        check_timeline(&world, &shrunk);
    }
    if std::env::var_os("TURNSTILE_STORY").is_some() {
        eprintln!("{story}");
    }
    story
}

#[test]
fn the_median_double_shrinks_to_40_steps_or_fewer() {
    let mut world = Ticketing::sweep();
    let mut steps: Vec<u64> = catalog()
        .iter()
        .map(|double| {
            let caught = catch(double, SEEDS, BUDGET, &mut world).expect("caught");
            caught.shrunk.steps
        })
        .collect();
    steps.sort_unstable();
    let median = steps[steps.len() / 2];
    assert!(median <= 40, "median {median} steps: {steps:?}");
}

#[test]
fn every_invariant_has_a_double_and_each_is_tested() {
    let invariants = turnstile::invariants::INVARIANTS;
    let doubles = catalog();
    for invariant in invariants {
        assert!(
            doubles.iter().any(|double| double.invariant == *invariant),
            "no double breaks `{invariant}`"
        );
    }
    let source = include_str!("doubles.rs");
    for double in &doubles {
        let test = format!("fn {}_is_caught()", double.name);
        assert!(source.contains(&test), "no test `{test}`");
    }
}

/// The failure's timeline page: one group per event, a lane per node, the failing
/// step marked, nothing fetched from elsewhere. With `TURNSTILE_HTML_OUT=FILE` the page
/// is written there (CI opens it in headless Chromium).
fn check_timeline(world: &Ticketing, shrunk: &turnstile_sim::Shrunk) {
    let page = turnstile::timeline::html(world, &shrunk.trace, Some(&shrunk.failure), "double");
    let events = shrunk.trace.entries.len();
    assert_eq!(page.matches("<g class=\"ev ").count(), events);
    assert_eq!(page.matches(" failing\"").count(), 1, "one failing step");
    for lane in ["orders", "payments", "gateway", "customer 1"] {
        assert!(page.contains(&format!(">{lane}</span>")), "lane {lane}");
    }
    assert!(
        page.contains(">inventory 1/"),
        "a lane per section's inventory"
    );
    assert!(page.contains("FAIL: no_money_twice"));
    for remote in ["http://", "https://", "<link", "src=\""] {
        let allowed = remote == "http://" && page.matches(remote).count() == 1;
        assert!(
            !page.contains(remote) || allowed,
            "the page fetches {remote}"
        );
    }
    if let Some(path) = std::env::var_os("TURNSTILE_HTML_OUT") {
        // A file for CI's browser check, outside any run.
        #[allow(clippy::disallowed_methods)]
        std::fs::write(path, &page).expect("write the timeline");
    }
}

#[test]
fn no_oversell_is_caught() {
    let story = assert_caught("no_oversell");
    insta::assert_snapshot!("story_no_oversell", story);
}

#[test]
fn no_double_seat_is_caught() {
    assert_caught("no_double_seat");
}

#[test]
fn no_money_twice_is_caught() {
    let story = assert_caught("no_money_twice");
    insta::assert_snapshot!("story_no_money_twice", story);
}

#[test]
fn sagas_terminate_is_caught() {
    let story = assert_caught("sagas_terminate");
    insta::assert_snapshot!("story_sagas_terminate", story);
}

#[test]
fn recovery_is_exact_is_caught() {
    assert_caught("recovery_is_exact");
}

#[test]
fn recovery_without_hold_timers_is_caught() {
    assert_caught("recovery_without_hold_timers");
}

#[test]
fn ledger_agrees_is_caught() {
    assert_caught("ledger_agrees");
}

#[test]
fn quote_matches_tier_is_caught() {
    assert_caught("quote_matches_tier");
}

#[test]
fn refund_matches_policy_is_caught() {
    assert_caught("refund_matches_policy");
}

#[test]
fn authorized_only_is_caught() {
    assert_caught("authorized_only");
}

#[test]
fn terminal_is_final_is_caught() {
    assert_caught("terminal_is_final");
}

#[test]
fn no_stale_holds_is_caught() {
    assert_caught("no_stale_holds");
}

#[test]
fn compensation_complete_is_caught() {
    assert_caught("compensation_complete");
}

#[test]
fn money_conserved_is_caught() {
    assert_caught("money_conserved");
}

#[test]
fn max_per_order_is_caught() {
    assert_caught("max_per_order");
}

#[test]
fn tickets_are_paid_is_caught() {
    assert_caught("tickets_are_paid");
}

#[test]
fn projections_converge_is_caught() {
    assert_caught("projections_converge");
}

#[test]
fn owed_money_settled_is_caught() {
    assert_caught("owed_money_settled");
}

#[test]
fn inventory_reports_truth_is_caught() {
    assert_caught("inventory_reports_truth");
}

#[test]
fn a_pricing_table_a_day_off_is_caught() {
    assert_caught("a_pricing_table_a_day_off");
}

#[test]
fn a_refund_table_in_whole_days_is_caught() {
    assert_caught("a_refund_table_in_whole_days");
}

#[test]
fn cutoffs_respected_is_caught() {
    assert_caught("cutoffs_respected");
}

#[test]
fn holds_follow_the_clock_is_caught() {
    assert_caught("holds_follow_the_clock");
}
