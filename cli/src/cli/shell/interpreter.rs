//! `turnstile shell`: the ticketing world on the engine, one command at a time.
//!
//! A [`Shell`] holds a driven run of the simulated world ([`Workload::Driven`]): the
//! real hosts of every service, the payment gateway and sixteen customer devices, on
//! the engine's virtual clock, with every fault off unless a command asks for one. Each
//! command becomes what a person would do — the organizer creates a show, a customer
//! reserves seats or pays — sent from that person's device and resent until answered,
//! and the world then runs until what it set off has played out (no message in flight,
//! nothing due within a second). Between commands the clock stands still: `advance 6m`
//! moves it, and a hold expires on the way.
//!
//! The shell does no I/O: [`Shell::execute`] takes a line and returns what to print, so
//! the same code serves the interactive shell (the `turnstile` command's line editor),
//! scripts (`--script`, with `expect` lines) and tests. Everything is deterministic: the
//! same lines on the same seed print the same transcript.

use std::fmt::Write as _;

use super::look::{self, clock, inventory_name, node_name, ticket_name, timestamp};
use super::parse;
use turnstile::layout::{EPOCH_MS, External, ORDERS, PAYMENTS, READ_MODELS, SHOWS, TICKETS};
use turnstile::world::{
    DRIVEN_BIT, DRIVEN_CUSTOMERS, GATEWAY, Node, Scripted, Ticketing, Workload, WorldConfig,
};
use turnstile_core::order::{OrderCommand, OrderStatus};
use turnstile_core::payment::PaymentMethod;
use turnstile_core::read_models::StreamId;
use turnstile_core::show::ShowCommand;
use turnstile_core::ticket::TicketCommand;
use turnstile_core::ticket::resale::ResaleCommand;
use turnstile_core::{
    CommandId, CustomerId, Message, Money, OrderId, ResaleId, SectionIndex, SectionKey, ShowId,
    TicketId, Timestamp,
};
use turnstile_host::{AggregateRef, Answer, Host};
use turnstile_sim::{Choices, Config, NodeId, Profile, ProfileMode, Sim, TraceMode};

/// A command's answer takes at most this long to come back before the shell gives up
/// waiting (the device keeps resending).
const ANSWER_WAIT_MS: u64 = 30_000;
/// The world is calm when nothing is due sooner than this: longer than the longest
/// resend backoff (`turnstile_host::RESEND_MS_MAX`), so that after a restart or a heal
/// every pending resend lands before the shell says what happened.
const CALM_HORIZON_MS: u64 = turnstile_host::RESEND_MS_MAX + 2_000;
/// `run` stops after this much virtual time even if the world never goes quiet.
const RUN_MAX_MS: u64 = 400 * 86_400_000;

/// Why a line did nothing.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShellError {
    /// No such command.
    #[error("unknown command `{0}` (try `help`)")]
    Unknown(String),
    /// The command's words do not fit it.
    #[error("{message}\nusage: {usage}")]
    Usage {
        /// What is wrong.
        message: String,
        /// The command's usage line.
        usage: &'static str,
    },
    /// An `expect` line does not hold.
    #[error("expected {expected}, found {found}")]
    Expectation {
        /// What the line expects.
        expected: String,
        /// What is.
        found: String,
    },
    /// An invariant broke: the world is wrong.
    #[error("invariant violated: {0}")]
    Violation(String),
}

/// One command: its name, usage line and what it does.
pub struct CommandHelp {
    /// The first word (two for `show create`, `drop next`).
    pub name: &'static str,
    /// The usage line.
    pub usage: &'static str,
    /// One line on what it does.
    pub summary: &'static str,
}

macro_rules! commands {
    ($($name:literal, $usage:literal, $summary:literal;)*) => {
        /// Every command, in the order `help` lists them.
        pub const COMMANDS: &[CommandHelp] = &[
            $(CommandHelp { name: $name, usage: $usage, summary: $summary },)*
        ];
    };
}

commands! {
    "show create", "show create NAME START SECTION...   (START: +30d | 2026-03-01 | 2026-03-01T20:00; SECTION: Stalls=2x5@49.99 | Floor=200@25)",
        "the organizer creates a show (numbered sections ROWSxSEATS, general admission CAPACITY)";
    "publish", "publish [SHOW]", "the organizer publishes a show (the last one created by default)";
    "open", "open [SHOW]", "the organizer opens sales";
    "close", "close [SHOW]", "the organizer closes sales";
    "cancel", "cancel [SHOW]", "the organizer cancels a show: every order ends, every ticket is refunded in full";
    "reserve", "reserve CUSTOMER N in SECTION [of SHOW] | reserve CUSTOMER SEAT,SEAT... [in SECTION] [of SHOW]",
        "a customer holds N best-available seats, or the named ones, for 5 minutes";
    "race", "race CUSTOMER CUSTOMER... for N in SECTION | race CUSTOMER CUSTOMER... for SEAT,SEAT...",
        "customers reserve the same seats in the same instant: one wins, nothing is sold twice";
    "pay", "pay CUSTOMER [--decline | --timeout | --late DURATION]",
        "a customer pays for their last order (scripting the gateway's answer)";
    "cancel-order", "cancel-order CUSTOMER", "a customer cancels their last order";
    "tickets", "tickets CUSTOMER", "the tickets a customer owns";
    "transfer", "transfer CUSTOMER TICKET to CUSTOMER", "a customer gives a ticket away (until 24 h before the show)";
    "list", "list CUSTOMER TICKET PRICE", "a customer lists a ticket for resale (at most what they paid)";
    "unlist", "unlist CUSTOMER TICKET", "a customer withdraws a listing";
    "buy-listing", "buy-listing CUSTOMER TICKET [--decline | --timeout | --late DURATION]",
        "a customer buys a listed ticket at its asking price";
    "cancel-ticket", "cancel-ticket CUSTOMER TICKET", "a customer cancels a ticket for a refund by the policy";
    "advance", "advance DURATION   (6m, 1h30m, 2d, 500ms)", "lets virtual time pass: timers fire on the way";
    "run", "run", "runs until the world is quiet (holds expire, answers arrive)";
    "crash", "crash SERVICE   (shows | orders | payments | tickets | read-models | inventory [SECTION])",
        "crashes a service: what it had not synced is lost";
    "restart", "restart [SERVICE]", "restarts a crashed service (every crashed one by default) from its log";
    "partition", "partition SERVICE...", "cuts services off from everyone else";
    "heal", "heal", "ends the partition";
    "drop next", "drop next [N]", "the network loses the next N messages (1 by default)";
    "seats", "seats [SECTION] [of SHOW]", "the seat map: free, held, sold, blocked";
    "orders", "orders", "every order: customer, seats, price, status";
    "payments", "payments", "the gateway's ledger: what moved for each payment";
    "sales", "sales [SHOW]", "the sales read model: tickets and money per day";
    "history", "history CUSTOMER", "a customer's orders and resale purchases (the read model)";
    "story", "story", "what the last command set off, event by event";
    "check", "check", "judges every invariant now";
    "now", "now", "the virtual clock";
    "expect", "expect order CUSTOMER STATUS | expect seats SECTION free|held|sold|blocked N | expect tickets CUSTOMER N | expect payment CUSTOMER CAPTURED REFUNDED | expect check ok",
        "fails the script unless it holds";
    "help", "help [COMMAND]", "lists the commands, or one command's usage";
    "quit", "quit", "leaves (Ctrl-D too)";
}

/// The words tab completion offers: commands, and the names the world knows.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Vocabulary {
    /// Customer names.
    pub names: Vec<String>,
    /// Section names.
    pub sections: Vec<String>,
    /// Ticket names (`t1-1`).
    pub tickets: Vec<String>,
}

impl Vocabulary {
    /// The words that may come after `before` (the words typed so far).
    pub fn completions(&self, before: &[&str]) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let Some(first) = before.first() else {
            for command in COMMANDS {
                let first = command.name.split(' ').next().unwrap_or(command.name);
                if !out.iter().any(|known| known == first) {
                    out.push(first.to_owned());
                }
            }
            out.push("exit".into());
            return out;
        };
        match *first {
            "show" if before.len() == 1 => out.push("create".into()),
            "drop" if before.len() == 1 => out.push("next".into()),
            "help" => out.extend(COMMANDS.iter().map(|c| c.name.to_owned())),
            "crash" | "restart" | "partition" => {
                let services = [
                    "shows",
                    "orders",
                    "payments",
                    "tickets",
                    "read-models",
                    "inventory",
                ];
                out.extend(services.map(String::from));
                out.extend(self.sections.iter().cloned());
            }
            "pay" | "buy-listing" if before.len() >= 2 => {
                out.extend(["--decline", "--timeout", "--late"].map(String::from));
            }
            "expect" if before.len() == 1 => {
                out.extend(["order", "seats", "tickets", "payment", "check"].map(String::from));
            }
            _ => {
                out.extend(self.names.iter().cloned());
                out.extend(self.sections.iter().cloned());
                out.extend(self.tickets.iter().cloned());
                out.extend(["in", "of", "to"].map(String::from));
            }
        }
        out
    }
}

/// A script's transcript: each command after the prompt, as if typed, then what it
/// printed; comments and blank lines kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Transcript {
    /// The text.
    pub text: String,
    /// The first line that failed (1-based) and why; the script stops there.
    pub failed: Option<(usize, ShellError)>,
}

/// Runs a script's lines on `shell`, up to the first that fails or `quit`.
pub fn run_script(shell: &mut Shell, script: &str) -> Transcript {
    let mut out = Transcript::default();
    for (number, line) in script.lines().enumerate() {
        if line.trim().is_empty() {
            out.text.push('\n');
            continue;
        }
        if line.trim_start().starts_with('#') {
            out.text.push_str(line);
            out.text.push('\n');
            continue;
        }
        let _ = writeln!(out.text, "{}{line}", shell.prompt());
        match shell.execute(line) {
            Ok(Outcome::Print(text)) => {
                if !text.is_empty() {
                    out.text.push_str(&text);
                    out.text.push('\n');
                }
            }
            Ok(Outcome::Quit) => break,
            Err(error) => {
                let _ = writeln!(out.text, "error: {error}");
                out.failed = Some((number + 1, error));
                break;
            }
        }
    }
    out
}

/// What [`Shell::execute`] asks of its caller besides printing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Print this (maybe nothing) and read the next line.
    Print(String),
    /// Leave.
    Quit,
}

/// The world on a virtual clock, driven one line at a time.
pub struct Shell {
    pub(super) sim: Sim<Ticketing>,
    pub(super) world: Ticketing,
    /// Customer names, by `CustomerId - 1`.
    pub(super) names: Vec<String>,
    pub(super) next_command: u64,
    pub(super) orders: Vec<(OrderId, CustomerId)>,
    pub(super) resales: Vec<(ResaleId, CustomerId, TicketId)>,
    pub(super) current_show: Option<ShowId>,
    pub(super) story_from: usize,
    pub(super) story_to: usize,
    /// Answers that came back after their command gave up waiting.
    pub(super) late: Vec<(NodeId, Answer)>,
    /// Colour in seat maps.
    pub colour: bool,
}

pub(super) fn usage(name: &str) -> &'static str {
    COMMANDS
        .iter()
        .find(|c| c.name == name)
        .map_or("", |c| c.usage)
}

pub(super) fn wrong(name: &str, message: impl Into<String>) -> ShellError {
    ShellError::Usage {
        message: message.into(),
        usage: usage(name),
    }
}

impl Shell {
    /// A shell on a fresh world; `seed` picks the network's delays (every other choice
    /// is the commands').
    pub fn new(seed: u64) -> Shell {
        let mut config = Config::new(ProfileMode::Fixed(Profile::calm(1, 5)));
        config.trace = TraceMode::Text;
        config.steps_max = u64::MAX;
        let mut sim = Sim::new(config);
        let mut world = Ticketing::new(WorldConfig::sweep().with_workload(Workload::Driven));
        sim.begin(&mut world, Choices::from_seed(seed));
        Shell {
            sim,
            world,
            names: Vec::new(),
            next_command: 0,
            orders: Vec::new(),
            resales: Vec::new(),
            current_show: None,
            story_from: 0,
            story_to: 0,
            late: Vec::new(),
            colour: false,
        }
    }

    /// The prompt: the virtual clock.
    pub fn prompt(&self) -> String {
        format!("turnstile [{}]> ", clock(self.sim.now_ms()))
    }

    /// Where the world is: virtual time, the trace's length and hash. Equal before and
    /// after a line that did nothing.
    #[cfg(test)]
    pub fn fingerprint(&self) -> (u64, usize, u64) {
        let trace = self.sim.trace();
        let hash = trace.entries.last().map_or(0, |entry| entry.hash_after);
        (self.sim.now_ms(), trace.lines.len(), hash)
    }

    /// What tab completion offers now: the customers, sections and tickets the world
    /// knows.
    pub fn vocabulary(&self) -> Vocabulary {
        Vocabulary {
            names: self.names.clone(),
            sections: self.section_names(),
            tickets: self.ticket_names(),
        }
    }

    pub(super) fn section_names(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for plan in &self.world.layout().shows {
            for spec in &plan.sections {
                if !out.contains(&spec.name) {
                    out.push(spec.name.clone());
                }
            }
        }
        out
    }

    pub(super) fn ticket_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some((_, host)) = self.hosts_of(TICKETS) {
            for (stream, _) in host.aggregates() {
                if let StreamId::Ticket(ticket) = stream {
                    out.push(ticket_name(ticket));
                }
            }
        }
        out
    }

    /// Runs one line: prints what happened, or says why it did nothing.
    pub fn execute(&mut self, line: &str) -> Result<Outcome, ShellError> {
        let words = parse::words(line).map_err(|e| ShellError::Usage {
            message: e,
            usage: "",
        })?;
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let Some((&first, rest)) = words.split_first() else {
            return Ok(Outcome::Print(String::new()));
        };
        // Commands that take no words.
        if ["run", "heal", "orders", "payments", "story", "check", "now"].contains(&first) {
            no_args(first, rest)?;
        }
        let print = match first {
            "quit" | "exit" => return Ok(Outcome::Quit),
            "help" => help(rest),
            "show" => match rest.split_first() {
                Some((&"create", args)) => self.show_create(args)?,
                _ => return Err(wrong("show create", "did you mean `show create`?")),
            },
            "publish" | "open" | "close" | "cancel" => self.show_step(first, rest)?,
            "reserve" => self.reserve(rest)?,
            "race" => self.race(rest)?,
            "pay" => self.pay(rest)?,
            "cancel-order" => self.cancel_order(rest)?,
            "tickets" => {
                let customer = self.known_customer("tickets", rest, 1)?;
                self.tickets_of(customer)
            }
            "transfer" => self.transfer(rest)?,
            "list" | "unlist" | "cancel-ticket" => self.ticket_command(first, rest)?,
            "buy-listing" => self.buy_listing(rest)?,
            "advance" => {
                let [duration] = rest else {
                    return Err(wrong("advance", "how long?"));
                };
                let ms = parse::duration_ms(duration).map_err(|e| wrong("advance", e))?;
                self.advance(ms)?
            }
            "run" => self.run()?,
            "crash" => self.crash(rest)?,
            "restart" => self.restart(rest)?,
            "partition" => self.partition(rest)?,
            "heal" => self.heal(),
            "drop" => self.drop_next(rest)?,
            "seats" => self.seats(rest)?,
            "orders" => self.orders_table(),
            "payments" => self.payments_table(),
            "sales" => self.sales(rest)?,
            "history" => {
                let customer = self.known_customer("history", rest, 1)?;
                self.history(customer)
            }
            "story" => self.story(),
            "check" => self.check(),
            "now" => clock(self.sim.now_ms()),
            "expect" => self.expect(rest)?,
            other => return Err(ShellError::Unknown(other.to_owned())),
        };
        Ok(Outcome::Print(self.with_late_answers(print)))
    }

    /// `print`, then any answer that arrived after its command stopped waiting (a
    /// device kept resending through a partition or a crash).
    pub(super) fn with_late_answers(&mut self, mut print: String) -> String {
        let arrived = self.world.take_driven_answers();
        self.late.extend(
            arrived
                .into_iter()
                .map(|driven| (driven.client, driven.answer)),
        );
        for (client, answer) in std::mem::take(&mut self.late) {
            let who = node_name(self.world.layout(), &self.names, client);
            if !print.is_empty() {
                print.push('\n');
            }
            let _ = write!(
                print,
                "({who}'s device finally heard: {})",
                look::answer(&Some(answer))
            );
        }
        print
    }

    // ---- sending ------------------------------------------------------------------

    pub(super) fn command_id(&mut self) -> CommandId {
        self.next_command += 1;
        CommandId(DRIVEN_BIT | self.next_command)
    }

    /// Sends `message` from `client`'s device, runs the world until it is calm, and
    /// returns the answer (`None` if none came back in time).
    pub(super) fn send(
        &mut self,
        client: NodeId,
        message: Message,
    ) -> Result<Option<Answer>, ShellError> {
        let mut answers = self.send_all(vec![(client, message)])?;
        Ok(answers.pop().flatten())
    }

    /// Sends every message in the same instant, runs the world until it is calm, and
    /// returns their answers in order.
    pub(super) fn send_all(
        &mut self,
        sends: Vec<(NodeId, Message)>,
    ) -> Result<Vec<Option<Answer>>, ShellError> {
        let ids: Vec<CommandId> = sends.iter().map(|(_, message)| message.id()).collect();
        self.story_from = self.sim.trace().lines.len();
        for (client, message) in sends {
            self.sim.inject(client, External::Driven(Box::new(message)));
        }
        let mut answers = vec![None; ids.len()];
        let deadline = self.sim.now_ms() + ANSWER_WAIT_MS;
        loop {
            let calm = self.settle(deadline)?;
            for driven in self.world.take_driven_answers() {
                match ids.iter().position(|id| *id == driven.id) {
                    Some(index) => answers[index] = Some(driven.answer),
                    None => self.late.push((driven.client, driven.answer)),
                }
            }
            let all = answers.iter().all(Option::is_some);
            if all || calm || self.sim.now_ms() >= deadline {
                break;
            }
        }
        self.story_to = self.sim.trace().lines.len();
        Ok(answers)
    }

    pub(super) fn settle(&mut self, deadline: u64) -> Result<bool, ShellError> {
        self.sim
            .run_until_calm(&mut self.world, CALM_HORIZON_MS, deadline)
            .map_err(|failure| ShellError::Violation(failure.to_string()))
    }

    pub(super) fn organizer(&self) -> NodeId {
        NodeId(self.world.layout().organizer)
    }

    pub(super) fn device(&self, customer: CustomerId) -> NodeId {
        self.world.layout().customer_node(customer)
    }

    // ---- names --------------------------------------------------------------------

    pub(super) fn customer(&mut self, command: &str, name: &str) -> Result<CustomerId, ShellError> {
        if let Some(index) = self.names.iter().position(|n| n == name) {
            return Ok(CustomerId(index as u64 + 1));
        }
        self.valid_name(command, name)?;
        self.names.push(name.to_owned());
        Ok(CustomerId(self.names.len() as u64))
    }

    /// Whether `name` is known, or may name a new customer.
    pub(super) fn valid_name(&self, command: &str, name: &str) -> Result<(), ShellError> {
        if self.names.iter().any(|n| n == name) {
            return Ok(());
        }
        let valid = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !valid || COMMANDS.iter().any(|c| c.name == name) {
            return Err(wrong(
                command,
                format!("`{name}` is not a customer's name (lower-case letters, like alice)"),
            ));
        }
        if self.names.len() as u32 >= DRIVEN_CUSTOMERS {
            return Err(wrong(
                command,
                format!("the world has room for {DRIVEN_CUSTOMERS} customers"),
            ));
        }
        Ok(())
    }

    pub(super) fn known_customer(
        &self,
        command: &str,
        args: &[&str],
        count: usize,
    ) -> Result<CustomerId, ShellError> {
        if args.len() != count {
            return Err(wrong(command, "wrong number of words"));
        }
        self.find_customer(command, args[0])
    }

    pub(super) fn find_customer(
        &self,
        command: &str,
        name: &str,
    ) -> Result<CustomerId, ShellError> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|index| CustomerId(index as u64 + 1))
            .ok_or_else(|| wrong(command, format!("no customer named `{name}` yet")))
    }

    /// The customer's name.
    pub fn name(&self, customer: CustomerId) -> String {
        self.names
            .get((customer.0 as usize).wrapping_sub(1))
            .cloned()
            .unwrap_or_else(|| format!("customer {}", customer.0))
    }

    pub(super) fn show_ref(&self, command: &str, text: Option<&str>) -> Result<ShowId, ShellError> {
        let layout = self.world.layout();
        let Some(text) = text else {
            return self
                .current_show
                .ok_or_else(|| wrong(command, "no show yet: `show create` first"));
        };
        if let Ok(number) = text.parse::<u64>()
            && layout.show(ShowId(number)).is_some()
        {
            return Ok(ShowId(number));
        }
        layout
            .shows
            .iter()
            .find(|plan| plan.name == text)
            .map(|plan| plan.show)
            .ok_or_else(|| wrong(command, format!("no show `{text}`")))
    }

    pub(super) fn section_ref(
        &self,
        command: &str,
        show: ShowId,
        name: Option<&str>,
    ) -> Result<SectionKey, ShellError> {
        let plan = self.world.layout().show(show).expect("a known show");
        let index = match name {
            None => 0,
            Some(name) => plan
                .sections
                .iter()
                .position(|spec| spec.name == name)
                .ok_or_else(|| {
                    wrong(command, format!("show {} has no section `{name}`", show.0))
                })?,
        };
        Ok(SectionKey {
            show,
            section: SectionIndex(index as u32),
        })
    }

    pub(super) fn last_order(
        &self,
        command: &str,
        customer: CustomerId,
    ) -> Result<OrderId, ShellError> {
        self.orders
            .iter()
            .rev()
            .find(|(_, c)| *c == customer)
            .map(|(order, _)| *order)
            .ok_or_else(|| wrong(command, format!("{} has no order yet", self.name(customer))))
    }

    // ---- hosts --------------------------------------------------------------------

    pub(super) fn hosts_of(&self, node: NodeId) -> Option<(NodeId, &Host)> {
        match self.sim.view().node(node) {
            Some(Node::Service(service)) => Some((node, &service.host)),
            _ => None,
        }
    }

    pub(super) fn aggregate(&self, node: NodeId, stream: StreamId) -> Option<AggregateRef<'_>> {
        self.hosts_of(node)?.1.aggregate(stream)
    }

    // ---- organizer ----------------------------------------------------------------

    pub(super) fn show_create(&mut self, args: &[&str]) -> Result<String, ShellError> {
        let name = "show create";
        let [title, start, sections @ ..] = args else {
            return Err(wrong(name, "a name, a start and at least one section"));
        };
        if sections.is_empty() {
            return Err(wrong(name, "at least one section"));
        }
        let start =
            parse::instant_ms(start, EPOCH_MS + self.sim.now_ms()).map_err(|e| wrong(name, e))?;
        let specs = sections
            .iter()
            .map(|text| parse::section(text))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| wrong(name, e))?;
        let Some(show) = self
            .world
            .add_driven_show(title, Timestamp(start), specs.clone())
        else {
            return Err(wrong(
                name,
                "the world has room for 4 shows of up to 4 sections",
            ));
        };
        let id = self.command_id();
        let message = Message::Show {
            show,
            id,
            body: ShowCommand::Create {
                show,
                name: (*title).to_owned(),
                start_at: Timestamp(start),
                sections: specs,
            },
        };
        let answer = self.send(self.organizer(), message)?;
        if !matches!(answer, Some(Answer::Accepted { .. })) {
            self.world.remove_driven_show(show);
        } else {
            self.current_show = Some(show);
        }
        let mut out = look::answer(&answer);
        if matches!(answer, Some(Answer::Accepted { .. })) {
            out.push('\n');
            out.push_str(&self.describe_show(show));
        }
        Ok(out)
    }

    pub(super) fn show_step(&mut self, command: &str, args: &[&str]) -> Result<String, ShellError> {
        if args.len() > 1 {
            return Err(wrong(command, "at most one show"));
        }
        let show = self.show_ref(command, args.first().copied())?;
        let body = match command {
            "publish" => ShowCommand::Publish,
            "open" => ShowCommand::OpenSales,
            "close" => ShowCommand::CloseSales,
            _ => ShowCommand::Cancel,
        };
        let id = self.command_id();
        let answer = self.send(self.organizer(), Message::Show { show, id, body })?;
        Ok(format!(
            "{}\n{}",
            look::answer(&answer),
            self.describe_show(show)
        ))
    }

    pub(super) fn describe_show(&self, show: ShowId) -> String {
        let Some(plan) = self.world.layout().show(show) else {
            return String::new();
        };
        let status = match self.aggregate(SHOWS, StreamId::Show(show)) {
            Some(AggregateRef::Show(state)) => state
                .details
                .as_ref()
                .map_or("unknown".to_owned(), |d| format!("{:?}", d.status)),
            _ => "unknown".to_owned(),
        };
        let sections: Vec<String> = plan.sections.iter().map(look::section_summary).collect();
        format!(
            "show {} \"{}\" · starts {} · {} · {}",
            show.0,
            plan.name,
            timestamp(plan.start_at),
            sections.join(", "),
            status
        )
    }

    // ---- customers ----------------------------------------------------------------

    pub(super) fn reserve(&mut self, args: &[&str]) -> Result<String, ShellError> {
        let command = "reserve";
        let [who, what, rest @ ..] = args else {
            return Err(wrong(command, "who, and how many seats or which"));
        };
        let (order, message) = self.initiate(command, what, rest)?;
        let customer = self.customer(command, who)?;
        // The order is the customer's from the moment they ask, answered or not.
        self.orders.push((order, customer));
        let answer = self.send(self.device(customer), message)?;
        Ok(self.reserved(order, customer, &answer))
    }

    /// Everyone named reserves the same seats in the same instant.
    pub(super) fn race(&mut self, args: &[&str]) -> Result<String, ShellError> {
        let command = "race";
        let Some(for_at) = args.iter().position(|w| *w == "for") else {
            return Err(wrong(command, "who races, `for` what"));
        };
        let (who, what) = args.split_at(for_at);
        let [_, what, rest @ ..] = what else {
            return Err(wrong(command, "`for` what?"));
        };
        if who.len() < 2 {
            return Err(wrong(command, "a race needs two customers at least"));
        }
        for (index, name) in who.iter().enumerate() {
            self.valid_name(command, name)?;
            if who[..index].contains(name) {
                return Err(wrong(command, format!("{name} is named twice")));
            }
        }
        // Everything checked before anything changes.
        self.initiate(command, what, rest)?;
        let mut sends = Vec::new();
        let mut racers = Vec::new();
        for name in who {
            let customer = self.customer(command, name)?;
            let (order, message) = self.initiate(command, what, rest)?;
            self.orders.push((order, customer));
            sends.push((self.device(customer), message));
            racers.push((customer, order));
        }
        let answers = self.send_all(sends)?;
        let mut out = Vec::new();
        for ((customer, order), answer) in racers.into_iter().zip(answers) {
            out.push(format!(
                "{}: {}",
                self.name(customer),
                self.reserved(order, customer, &answer)
            ));
        }
        Ok(out.join("\n"))
    }

    pub(super) fn reserved(
        &mut self,
        order: OrderId,
        customer: CustomerId,
        answer: &Option<Answer>,
    ) -> String {
        if matches!(answer, Some(Answer::Rejected(_))) {
            // Refused outright: no order was made.
            self.orders.retain(|entry| *entry != (order, customer));
        }
        let mut out = look::answer(answer);
        if let Some(line) = self.describe_order(order) {
            out.push('\n');
            out.push_str(&line);
        }
        out
    }

    /// The `Initiate` of the next order for `what` (`N` or `SEAT,SEAT`) with
    /// `in SECTION` / `of SHOW` after it.
    pub(super) fn initiate(
        &mut self,
        command: &str,
        what: &str,
        rest: &[&str],
    ) -> Result<(OrderId, Message), ShellError> {
        let mut section = None;
        let mut show = None;
        let mut rest = rest;
        while let [key, value, tail @ ..] = rest {
            match *key {
                "in" => section = Some(*value),
                "of" => show = Some(*value),
                _ => return Err(wrong(command, format!("unexpected `{key}`"))),
            }
            rest = tail;
        }
        if !rest.is_empty() {
            return Err(wrong(command, format!("unexpected `{}`", rest[0])));
        }
        let show = self.show_ref(command, show)?;
        let (quantity, seats) = match what.parse::<u32>() {
            Ok(quantity) => (quantity, None),
            Err(_) => {
                let labels: Vec<String> = what.split(',').map(str::to_owned).collect();
                (labels.len() as u32, Some(labels))
            }
        };
        let key = match (section, &seats) {
            (Some(name), _) => self.section_ref(command, show, Some(name))?,
            (None, Some(labels)) => self.section_with(show, &labels[0]).unwrap_or(SectionKey {
                show,
                section: SectionIndex(0),
            }),
            (None, None) => self.section_ref(command, show, None)?,
        };
        let order = OrderId(self.orders.len() as u64 + 1);
        let id = self.command_id();
        let message = Message::Order {
            order,
            id,
            body: OrderCommand::Initiate {
                order,
                show,
                section: key.section,
                quantity,
                seats,
            },
        };
        Ok((order, message))
    }

    pub(super) fn section_with(&self, show: ShowId, label: &str) -> Option<SectionKey> {
        let plan = self.world.layout().show(show)?;
        let index = plan
            .sections
            .iter()
            .position(|spec| spec.seat_labels.iter().any(|l| l == label))?;
        Some(SectionKey {
            show,
            section: SectionIndex(index as u32),
        })
    }

    pub(super) fn gateway_flag(&mut self, command: &str, flags: &[&str]) -> Result<(), ShellError> {
        let scripted = match flags {
            [] => None,
            ["--decline"] => Some(Scripted::Decline),
            ["--timeout"] => Some(Scripted::Timeout),
            ["--late", duration] => Some(Scripted::Late {
                ms: parse::duration_ms(duration).map_err(|e| wrong(command, e))?,
            }),
            ["--late"] => return Err(wrong(command, "--late needs a duration")),
            _ => return Err(wrong(command, format!("unexpected `{}`", flags.join(" ")))),
        };
        self.world.script_gateway(scripted);
        Ok(())
    }

    pub(super) fn pay(&mut self, args: &[&str]) -> Result<String, ShellError> {
        let command = "pay";
        let [who, flags @ ..] = args else {
            return Err(wrong(command, "who pays?"));
        };
        let customer = self.find_customer(command, who)?;
        let order = self.last_order(command, customer)?;
        self.gateway_flag(command, flags)?;
        let id = self.command_id();
        let message = Message::Order {
            order,
            id,
            body: OrderCommand::Pay {
                method: PaymentMethod { token: customer.0 },
            },
        };
        let answer = self.send(self.device(customer), message);
        self.world.script_gateway(None);
        let answer = answer?;
        let mut out = look::answer(&answer);
        if let Some(line) = self.describe_order(order) {
            out.push('\n');
            out.push_str(&line);
        }
        Ok(out)
    }

    pub(super) fn cancel_order(&mut self, args: &[&str]) -> Result<String, ShellError> {
        let customer = self.known_customer("cancel-order", args, 1)?;
        let order = self.last_order("cancel-order", customer)?;
        let id = self.command_id();
        let message = Message::Order {
            order,
            id,
            body: OrderCommand::Cancel,
        };
        let answer = self.send(self.device(customer), message)?;
        let mut out = look::answer(&answer);
        if let Some(line) = self.describe_order(order) {
            out.push('\n');
            out.push_str(&line);
        }
        Ok(out)
    }

    pub(super) fn ticket_ref(&self, command: &str, text: &str) -> Result<TicketId, ShellError> {
        parse_ticket(text).ok_or_else(|| {
            wrong(
                command,
                format!("`{text}` is not a ticket (say t1-1: order 1, its first ticket)"),
            )
        })
    }

    pub(super) fn transfer(&mut self, args: &[&str]) -> Result<String, ShellError> {
        let command = "transfer";
        let [who, ticket, "to", to] = args else {
            return Err(wrong(command, "who, which ticket, `to` whom"));
        };
        let customer = self.find_customer(command, who)?;
        let ticket = self.ticket_ref(command, ticket)?;
        let to = self.customer(command, to)?;
        let id = self.command_id();
        let message = Message::Ticket {
            ticket,
            id,
            body: TicketCommand::Transfer { to },
        };
        let answer = self.send(self.device(customer), message)?;
        Ok(format!(
            "{}\n{}",
            look::answer(&answer),
            self.describe_ticket(ticket)
        ))
    }

    pub(super) fn ticket_command(
        &mut self,
        command: &str,
        args: &[&str],
    ) -> Result<String, ShellError> {
        let (who, ticket, body) = match (command, args) {
            ("list", [who, ticket, price]) => {
                let price = parse::money(price).map_err(|e| wrong(command, e))?;
                (*who, *ticket, TicketCommand::List { price })
            }
            ("unlist", [who, ticket]) => (*who, *ticket, TicketCommand::Unlist),
            ("cancel-ticket", [who, ticket]) => (*who, *ticket, TicketCommand::Cancel),
            _ => return Err(wrong(command, "wrong number of words")),
        };
        let customer = self.find_customer(command, who)?;
        let ticket = self.ticket_ref(command, ticket)?;
        let id = self.command_id();
        let message = Message::Ticket { ticket, id, body };
        let answer = self.send(self.device(customer), message)?;
        Ok(format!(
            "{}\n{}",
            look::answer(&answer),
            self.describe_ticket(ticket)
        ))
    }

    pub(super) fn buy_listing(&mut self, args: &[&str]) -> Result<String, ShellError> {
        let command = "buy-listing";
        let [who, ticket, flags @ ..] = args else {
            return Err(wrong(command, "who, and which ticket"));
        };
        let customer = self.customer(command, who)?;
        let ticket = self.ticket_ref(command, ticket)?;
        let listing = match self.aggregate(TICKETS, StreamId::Ticket(ticket)) {
            Some(AggregateRef::Ticket(state)) => state.details.as_ref().and_then(|d| d.listing),
            _ => None,
        };
        let Some(listing) = listing else {
            return Err(wrong(
                command,
                format!("{} is not listed", ticket_name(ticket)),
            ));
        };
        self.gateway_flag(command, flags)?;
        let resale = ResaleId(self.resales.len() as u64 + 1);
        let id = self.command_id();
        let message = Message::Resale {
            resale,
            id,
            body: ResaleCommand::Buy {
                resale,
                ticket,
                price: listing.price,
                method: PaymentMethod { token: customer.0 },
            },
        };
        let answer = self.send(self.device(customer), message);
        self.world.script_gateway(None);
        let answer = answer?;
        if matches!(answer, Some(Answer::Accepted { new: true })) {
            self.resales.push((resale, customer, ticket));
        }
        let status = match self.aggregate(TICKETS, StreamId::Resale(resale)) {
            Some(AggregateRef::Resale(state)) => state.status().map(|s| format!("{s:?}")),
            _ => None,
        };
        Ok(format!(
            "{}\nresale {} · {} buys {} at {} · {}\n{}",
            look::answer(&answer),
            resale.0,
            self.name(customer),
            ticket_name(ticket),
            listing.price,
            status.unwrap_or_else(|| "unknown".into()),
            self.describe_ticket(ticket)
        ))
    }

    // ---- time and faults ----------------------------------------------------------

    pub(super) fn advance(&mut self, ms: u64) -> Result<String, ShellError> {
        self.story_from = self.sim.trace().lines.len();
        let target = self.sim.now_ms() + ms;
        self.sim
            .run_until(&mut self.world, target)
            .map_err(|failure| ShellError::Violation(failure.to_string()))?;
        self.story_to = self.sim.trace().lines.len();
        let events = self.story_to - self.story_from;
        Ok(format!(
            "now {} ({events} events)",
            clock(self.sim.now_ms())
        ))
    }

    pub(super) fn run(&mut self) -> Result<String, ShellError> {
        self.story_from = self.sim.trace().lines.len();
        let deadline = self.sim.now_ms() + RUN_MAX_MS;
        let quiet = self
            .sim
            .run_until_settled(&mut self.world, deadline)
            .map_err(|failure| ShellError::Violation(failure.to_string()))?;
        self.story_to = self.sim.trace().lines.len();
        let events = self.story_to - self.story_from;
        Ok(format!(
            "{} at {} ({events} events)",
            if quiet { "quiet" } else { "still busy" },
            clock(self.sim.now_ms())
        ))
    }

    pub(super) fn service(
        &self,
        command: &str,
        args: &[&str],
    ) -> Result<(NodeId, String), ShellError> {
        let layout = self.world.layout();
        match args {
            ["shows"] => Ok((SHOWS, "shows".into())),
            ["orders"] => Ok((ORDERS, "orders".into())),
            ["payments"] => Ok((PAYMENTS, "payments".into())),
            ["tickets"] => Ok((TICKETS, "tickets".into())),
            ["read-models"] => Ok((READ_MODELS, "read-models".into())),
            ["gateway"] => Err(wrong(command, "the gateway is not ours: it never crashes")),
            ["inventory", rest @ ..] if rest.len() <= 1 => {
                let show = self.show_ref(command, None)?;
                let key = self.section_ref(command, show, rest.first().copied())?;
                Ok((layout.section_node(key), inventory_name(layout, key)))
            }
            [section] if self.section_names().iter().any(|s| s == section) => {
                let show = self.show_ref(command, None)?;
                let key = self.section_ref(command, show, Some(section))?;
                Ok((layout.section_node(key), inventory_name(layout, key)))
            }
            _ => Err(wrong(command, "which service?")),
        }
    }

    pub(super) fn crash(&mut self, args: &[&str]) -> Result<String, ShellError> {
        let (node, name) = self.service("crash", args)?;
        self.story_from = self.sim.trace().lines.len();
        let crashed = self.sim.crash_node(&mut self.world, node);
        self.story_to = self.sim.trace().lines.len();
        if !crashed {
            return Ok(format!("{name} is down already"));
        }
        let line = self.sim.trace().lines.last().cloned().unwrap_or_default();
        let lost = line.split_once("lost ").map_or("", |(_, rest)| rest);
        Ok(format!("{name} crashed: lost {lost}"))
    }

    pub(super) fn restart(&mut self, args: &[&str]) -> Result<String, ShellError> {
        let nodes: Vec<(NodeId, String)> = if args.is_empty() {
            let layout = self.world.layout();
            (0..layout.organizer)
                .map(NodeId)
                .filter(|&node| node != GATEWAY && !self.sim.is_up(node))
                .map(|node| (node, node_name(layout, &self.names, node)))
                .collect()
        } else {
            vec![self.service("restart", args)?]
        };
        if nodes.is_empty() {
            return Ok("nothing is down".into());
        }
        self.story_from = self.sim.trace().lines.len();
        let mut out = String::new();
        for (node, name) in nodes {
            let restarted = self
                .sim
                .restart_node(&mut self.world, node)
                .map_err(|failure| ShellError::Violation(failure.to_string()))?;
            if restarted {
                let line = self
                    .sim
                    .trace()
                    .lines
                    .iter()
                    .rev()
                    .find(|l| l.contains(" restart "))
                    .cloned()
                    .unwrap_or_default();
                let from = line.split_once(" from ").map_or("", |(_, rest)| rest);
                let _ = writeln!(out, "{name} restarted from {from}");
            } else {
                let _ = writeln!(out, "{name} is up");
            }
        }
        let deadline = self.sim.now_ms() + ANSWER_WAIT_MS;
        self.settle(deadline)?;
        self.story_to = self.sim.trace().lines.len();
        Ok(out.trim_end().to_owned())
    }

    pub(super) fn partition(&mut self, args: &[&str]) -> Result<String, ShellError> {
        if args.is_empty() {
            return Err(wrong("partition", "which services?"));
        }
        let mut nodes = Vec::new();
        let mut names = Vec::new();
        let mut index = 0;
        while index < args.len() {
            let take = if args[index] == "inventory"
                && index + 1 < args.len()
                && self.section_names().iter().any(|s| s == args[index + 1])
            {
                2
            } else {
                1
            };
            let (node, name) = self.service("partition", &args[index..index + take])?;
            nodes.push(node);
            names.push(name);
            index += take;
        }
        self.sim.isolate(&nodes);
        Ok(format!("cut off: {}", names.join(", ")))
    }

    pub(super) fn heal(&mut self) -> String {
        if !self.sim.heal_partition(&mut self.world) {
            return "no partition".into();
        }
        let deadline = self.sim.now_ms() + ANSWER_WAIT_MS;
        match self.settle(deadline) {
            Ok(_) => "healed".into(),
            Err(error) => error.to_string(),
        }
    }

    pub(super) fn drop_next(&mut self, args: &[&str]) -> Result<String, ShellError> {
        let count = match args {
            ["next"] => 1,
            ["next", n] => n
                .parse::<u32>()
                .ok()
                .filter(|&n| n > 0 && n <= 1_000)
                .ok_or_else(|| wrong("drop next", "N is a number from 1 to 1000"))?,
            _ => return Err(wrong("drop next", "say `drop next` or `drop next 3`")),
        };
        self.sim.drop_next(count);
        Ok(format!(
            "the network will lose the next {} message(s)",
            self.sim.drops_pending()
        ))
    }

    // ---- looking ------------------------------------------------------------------

    pub(super) fn check(&self) -> String {
        let mut out = String::new();
        match self.sim.check_always_now(&self.world) {
            Ok(()) => out.push_str("always: every invariant holds"),
            Err(failure) => {
                let _ = write!(out, "always: VIOLATED {}", failure.violation);
            }
        }
        match self.sim.check_eventually_now(&self.world) {
            Ok(()) => {
                out.push_str("\neventually: every order ended, money settled, read models agree")
            }
            Err(violation) => {
                let _ = write!(out, "\neventually: not yet: {violation}");
            }
        }
        out
    }

    pub(super) fn story(&self) -> String {
        let lines = &self.sim.trace().lines[self.story_from.min(self.story_to)..self.story_to];
        if lines.is_empty() {
            return "nothing happened".into();
        }
        let layout = self.world.layout();
        // (the first time, what happened, how many times again, the last time)
        let mut shown: Vec<(String, String, usize, String)> = Vec::new();
        let mut hidden = 0;
        for line in lines {
            let Some(text) = look::story_line(line, layout, &self.names) else {
                hidden += 1;
                continue;
            };
            let (at, what) = text.split_at(text.find("  ").unwrap_or(0));
            match shown.iter_mut().find(|entry| entry.1 == what) {
                Some(entry) => {
                    entry.2 += 1;
                    entry.3 = at.to_owned();
                }
                None => shown.push((at.to_owned(), what.to_owned(), 0, String::new())),
            }
        }
        let mut out = String::new();
        for (at, what, again, last) in shown {
            let _ = write!(out, "{at}{what}");
            if again > 0 {
                let _ = write!(out, "  (again ×{again}, the last at {last})");
            }
            out.push('\n');
        }
        if hidden > 0 {
            let _ = write!(
                out,
                "({hidden} acknowledgements, publications, flushes and resends not shown)"
            );
        }
        out.trim_end().to_owned()
    }
}

pub(super) fn no_args(command: &str, args: &[&str]) -> Result<(), ShellError> {
    if args.is_empty() {
        Ok(())
    } else {
        Err(wrong(command, format!("`{command}` takes no words")))
    }
}

pub(super) fn help(args: &[&str]) -> String {
    let wanted = args.join(" ");
    if !wanted.is_empty() {
        return match COMMANDS.iter().find(|c| c.name == wanted) {
            Some(c) => format!("{}\n  {}", c.usage, c.summary),
            None => format!("no command `{wanted}`"),
        };
    }
    let mut out = String::from("commands (help COMMAND for its usage):\n");
    for c in COMMANDS {
        let _ = writeln!(out, "  {:<14} {}", c.name, c.summary);
    }
    out.push_str("customers are named by you (alice, bob…); tickets are t<order>-<n>: t1-2 is order 1's second ticket");
    out
}

pub(super) fn parse_ticket(text: &str) -> Option<TicketId> {
    let (order, n) = text.strip_prefix('t')?.split_once('-')?;
    let order: u64 = order.parse().ok()?;
    let n: u32 = n.parse().ok()?;
    let index = u8::try_from(n.checked_sub(1)?).ok()?;
    Some(TicketId {
        order: OrderId(order),
        index,
    })
}

impl Shell {
    pub(super) fn seat_label(&self, key: SectionKey, seat: turnstile_core::SeatIndex) -> String {
        self.world
            .layout()
            .show(key.show)
            .and_then(|plan| plan.sections.get(key.section.0 as usize))
            .and_then(|spec| spec.seat_labels.get(seat.0 as usize).cloned())
            .unwrap_or_else(|| format!("#{}", seat.0))
    }

    pub(super) fn status_of(&self, order: OrderId) -> Option<OrderStatus> {
        match self.aggregate(ORDERS, StreamId::Order(order)) {
            Some(AggregateRef::Order(state)) => state.details.as_ref().map(|d| d.status),
            _ => None,
        }
    }

    pub(super) fn owned_tickets(&self, customer: CustomerId) -> Vec<TicketId> {
        let mut out = Vec::new();
        if let Some((_, host)) = self.hosts_of(TICKETS) {
            for (stream, aggregate) in host.aggregates() {
                if let (StreamId::Ticket(ticket), AggregateRef::Ticket(state)) = (stream, aggregate)
                    && state.details.as_ref().is_some_and(|d| {
                        d.owner == customer
                            && d.status == turnstile_core::ticket::TicketStatus::Valid
                    })
                {
                    out.push(ticket);
                }
            }
        }
        out
    }

    pub(super) fn tickets_of(&self, customer: CustomerId) -> String {
        let tickets = self.owned_tickets(customer);
        if tickets.is_empty() {
            return format!("{} owns no ticket", self.name(customer));
        }
        tickets
            .iter()
            .map(|ticket| self.describe_ticket(*ticket))
            .collect::<Vec<_>>()
            .join("\n")
    }

    pub(super) fn paid(&self, customer: CustomerId) -> (Money, Money) {
        let ledger = self.world.ledger();
        let mut captured = Money::ZERO;
        let mut refunded = Money::ZERO;
        for (payment, account) in &ledger.accounts {
            let who = match payment {
                turnstile_core::PaymentId::Order(order) => self
                    .orders
                    .iter()
                    .find(|(o, _)| o == order)
                    .map(|(_, c)| *c),
                turnstile_core::PaymentId::Resale(resale) => self
                    .resales
                    .iter()
                    .find(|(r, _, _)| r == resale)
                    .map(|(_, c, _)| *c),
            };
            if who == Some(customer) {
                captured = Money(captured.0 + account.captured.0);
                refunded = Money(refunded.0 + account.refunded.0);
            }
        }
        (captured, refunded)
    }

    pub(super) fn expect(&mut self, args: &[&str]) -> Result<String, ShellError> {
        let command = "expect";
        let fail =
            |expected: String, found: String| Err(ShellError::Expectation { expected, found });
        match args {
            ["order", who, status] => {
                let customer = self.find_customer(command, who)?;
                let order = self.last_order(command, customer)?;
                let found = self
                    .status_of(order)
                    .map_or("none".into(), |s| format!("{s:?}"));
                if found.eq_ignore_ascii_case(status) {
                    Ok(format!("ok: {who}'s order {} is {found}", order.0))
                } else {
                    fail(format!("{who}'s order {} {status}", order.0), found)
                }
            }
            ["seats", section, state, count] => {
                let count: u32 = count.parse().map_err(|_| wrong(command, "a count"))?;
                let show = self.show_ref(command, None)?;
                let key = self.section_ref(command, show, Some(section))?;
                let counts = self
                    .counts(key)
                    .ok_or_else(|| wrong(command, "the section is not set up"))?;
                let found = match *state {
                    "free" => counts.available,
                    "held" => counts.reserved,
                    "sold" => counts.sold,
                    "blocked" => counts.blocked,
                    _ => return Err(wrong(command, "free, held, sold or blocked")),
                };
                if found == count {
                    Ok(format!("ok: {section} has {count} {state}"))
                } else {
                    fail(format!("{section} {state} {count}"), found.to_string())
                }
            }
            ["tickets", who, count] => {
                let count: usize = count.parse().map_err(|_| wrong(command, "a count"))?;
                let customer = self.find_customer(command, who)?;
                let found = self.owned_tickets(customer).len();
                if found == count {
                    Ok(format!("ok: {who} owns {count} ticket(s)"))
                } else {
                    fail(format!("{who} owns {count} ticket(s)"), found.to_string())
                }
            }
            ["payment", who, captured, refunded] => {
                let customer = self.find_customer(command, who)?;
                let want = (
                    parse::money(captured).map_err(|e| wrong(command, e))?,
                    parse::money(refunded).map_err(|e| wrong(command, e))?,
                );
                let found = self.paid(customer);
                if found == want {
                    Ok(format!(
                        "ok: the gateway captured {} and refunded {} for {who}",
                        want.0, want.1
                    ))
                } else {
                    fail(
                        format!("captured {} refunded {} for {who}", want.0, want.1),
                        format!("captured {} refunded {}", found.0, found.1),
                    )
                }
            }
            ["check", "ok"] => {
                let always = self.sim.check_always_now(&self.world);
                match always {
                    Ok(()) => Ok("ok: every invariant holds".into()),
                    Err(failure) => fail(
                        "every invariant to hold".into(),
                        failure.violation.to_string(),
                    ),
                }
            }
            _ => Err(wrong(command, "what to expect?")),
        }
    }

    pub(super) fn counts(
        &self,
        key: SectionKey,
    ) -> Option<turnstile_core::inventory::SectionCounts> {
        let node = self.world.layout().section_node(key);
        match self.aggregate(node, StreamId::Inventory(key)) {
            Some(AggregateRef::Inventory(state)) => state.setup().map(|_| state.counts()),
            _ => None,
        }
    }
}
