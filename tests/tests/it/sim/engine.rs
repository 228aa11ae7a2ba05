//! Engine behaviours seen through a tiny two-node system: the determinism self-check
//! catches hidden state, a world that never goes quiet fails liveness, clocks stay within
//! their skew, and probes that no run reaches are reported.

use turnstile_sim::toy::{self, Decision, Toy};
use turnstile_sim::{
    CheckKind, Choices, Config, Ctx, Envelope, NodeId, Profile, ProfileMode, Recovered, Setup, Sim,
    SweepConfig, System, View, Violation, sweep,
};

/// Node 0 sends node 1 a ping when the workload says so; both note their local clock.
#[derive(Default)]
struct Pinger {
    /// Planted nondeterminism: a counter that survives from one run to the next.
    forget_to_reset: bool,
    /// Node 0 re-arms a liveness timer forever.
    tick_forever: bool,
    runs_seen: u64,
    steps: u64,
}

/// A node's last clock reading, and the step at which it was taken.
#[derive(Default)]
struct Clock {
    local_ms: Option<(u64, u64)>,
}

impl Pinger {
    fn read_clock(&mut self, node: &mut Clock, ctx: &Ctx<'_, Self>) {
        self.steps += 1;
        node.local_ms = Some((ctx.now_ms(), self.steps));
    }
}

/// The engine's one timer and workload event here: read the clock.
#[derive(Clone, Copy, Debug, Hash)]
struct Tick;

impl std::fmt::Display for Tick {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("tick")
    }
}

impl System for Pinger {
    type Node = Clock;
    type Msg = u64;
    type Timer = Tick;
    type External = Tick;
    type Record = Decision;

    fn setup(&mut self, setup: &mut Setup<'_, Self>) {
        if !self.forget_to_reset {
            self.runs_seen = 0;
        }
        self.steps = 0;
        self.runs_seen += 1;
        let first = setup.add_node(true);
        setup.add_node(true);
        for at_ms in [0, 40, 80] {
            setup.schedule_external(first, at_ms, Tick);
        }
    }

    fn start(&mut self, ctx: &mut Ctx<'_, Self>, _recovered: Recovered<'_, Decision>) -> Clock {
        if self.tick_forever && ctx.node() == NodeId(0) {
            ctx.set_liveness_timer(10, Tick);
        }
        Clock { local_ms: None }
    }

    fn on_message(&mut self, node: &mut Clock, ctx: &mut Ctx<'_, Self>, _: Envelope, _: u64) {
        self.read_clock(node, ctx);
    }

    fn on_timer(&mut self, node: &mut Clock, ctx: &mut Ctx<'_, Self>, _: Tick) {
        self.read_clock(node, ctx);
        ctx.set_liveness_timer(10, Tick);
    }

    fn on_external(&mut self, node: &mut Clock, ctx: &mut Ctx<'_, Self>, _: Tick) {
        self.read_clock(node, ctx);
        ctx.send(NodeId(1), self.runs_seen);
    }

    fn check_always(&self, view: &View<'_, Self>) -> Result<(), Violation> {
        for (id, clock) in view.nodes() {
            // Only the reading taken in this step is compared with the time now.
            let reading = clock.and_then(|clock| clock.local_ms);
            if let Some((local_ms, _)) = reading.filter(|(_, step)| *step == self.steps) {
                // Skew is at most 500 ms either way (the swarm ceiling), clamped at 0.
                if local_ms.abs_diff(view.now_ms()) > 500 {
                    return Err(Violation::new(
                        "clock_skew_bounded",
                        format!("n{} reads {local_ms} at {}", id.0, view.now_ms()),
                    ));
                }
            }
        }
        Ok(())
    }
}

fn swarm() -> Config {
    Config::new(ProfileMode::Swarm(Profile::everything(1, 50)))
}

#[test]
fn the_determinism_check_names_the_first_event_where_reruns_differ() {
    let mut config = SweepConfig::new(0, 50, 1, "tests");
    config.determinism_samples = 3;
    let report = sweep(&swarm(), &config, || Pinger {
        forget_to_reset: true,
        ..Pinger::default()
    });
    assert_eq!(report.divergences.len(), 3, "{report}");
    assert!(
        report.divergences.iter().all(|d| d.first_event.is_some()),
        "{report}"
    );
    assert!(report.to_string().contains("diverges at event"), "{report}");

    let honest = sweep(&swarm(), &config, Pinger::default);
    assert!(honest.divergences.is_empty(), "{honest}");
}

#[test]
fn a_world_that_never_goes_quiet_fails_liveness_within_its_bound() {
    let mut config = Config::new(ProfileMode::Fixed(Profile::calm(1, 5)));
    config.liveness_ms_max = 1_000;
    let mut sim = Sim::new(config);
    let mut system = Pinger {
        tick_forever: true,
        ..Pinger::default()
    };
    let outcome = sim.run(&mut system, Choices::from_seed(3));
    let failure = outcome
        .failure
        .expect("a liveness timer re-armed forever is never quiet");
    assert_eq!(failure.kind, CheckKind::Quiet);
    assert_eq!(failure.violation.invariant, "quiesces");
    assert!(
        failure
            .violation
            .message
            .contains("1 liveness timers pending"),
        "{failure}"
    );

    let quiet = sim.run(&mut Pinger::default(), Choices::from_seed(3));
    assert_eq!(quiet.failure, None);
}

#[test]
fn node_clocks_stay_within_the_drawn_skew() {
    let report = sweep(
        &swarm(),
        &SweepConfig::new(0, 2_000, 2, "tests"),
        Pinger::default,
    );
    assert!(report.failures.is_empty(), "{report}");
}

#[test]
fn probes_no_run_reaches_are_reported() {
    let calm = Config::new(ProfileMode::Fixed(toy::reference_profile(false)));
    let report = sweep(&calm, &SweepConfig::new(0, 200, 2, "tests"), Toy::reference);
    let unreached = report.unreached_probes();
    assert!(unreached.contains(&"server_restarted"), "{report}");
    assert!(unreached.contains(&"client_retried"), "{report}");
    assert!(!unreached.contains(&"seats_ran_out"), "{report}");
    assert!(
        report.to_string().contains("unreached probes: "),
        "{report}"
    );
}
