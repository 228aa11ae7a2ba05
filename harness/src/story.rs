//! The story of a failure, told to a person: the world the run drew, and only the
//! events that led to the violation, with nodes named by role, times on the virtual
//! clock and money in units.
//!
//! The causal story is the closure, under the engine's causes ([`TraceEntry::cause`]:
//! the step that sent a message, armed a timer or scheduled a workload event), of the
//! failing step and of every event that touched what the violation names (an order, a
//! ticket's order, a section), together with the faults that struck the nodes on that
//! path. Acknowledgements, group-commit flushes and resend rounds are left out unless
//! they are the failing step; the whole trace stays behind `--trace`.

use std::fmt::Write as _;

use turnstile_core::{SectionKey, Timestamp};
use turnstile_host::{Change, Service};
use turnstile_sim::{Failure, NO_CAUSE, NodeId, Trace};

use crate::layout::{FLUSH_LINE, Layout, RESEND_LINE, Role, is_numbered, span, when};
use crate::world::Ticketing;

/// At most this many lines of causal story are printed (the latest ones).
pub const STORY_LINES_MAX: usize = 40;

/// A node by its role: `orders`, `inventory 1/Stalls`, `gateway`, `organizer`,
/// `customer 21` (or the name given in `names`, by customer id − 1).
pub fn node_name(layout: &Layout, node: NodeId, names: &[String]) -> String {
    if let Some(service) = layout.service_of(node) {
        return match service {
            Service::Shows => "shows".into(),
            Service::Orders => "orders".into(),
            Service::Payments => "payments".into(),
            Service::Tickets => "tickets".into(),
            Service::ReadModels => "read-models".into(),
            Service::Inventory(key) => inventory_name(layout, key),
        };
    }
    match layout.role(node) {
        Role::Gateway => "gateway".into(),
        Role::Organizer(_) => "organizer".into(),
        Role::Customer(customer) => names
            .get((customer.0 as usize).wrapping_sub(1))
            .cloned()
            .unwrap_or_else(|| format!("customer {}", customer.0)),
        Role::Service => format!("node {}", node.0),
    }
}

/// A section's inventory: `inventory 1/Stalls`.
pub fn inventory_name(layout: &Layout, key: SectionKey) -> String {
    let section = layout
        .show(key.show)
        .and_then(|plan| plan.sections.get(key.section.0 as usize))
        .map_or_else(|| key.section.0.to_string(), |spec| spec.name.clone());
    format!("inventory {}/{}", key.show.0, section)
}

/// A duration since the story began: `+0.021s`, `+4m05.3s`, `+2h10m`.
fn delta(ms: u64) -> String {
    if ms < 60_000 {
        format!("+{}.{:03}s", ms / 1_000, ms % 1_000)
    } else if ms < 3_600_000 {
        format!(
            "+{}m{:02}.{}s",
            ms / 60_000,
            ms / 1_000 % 60,
            ms % 1_000 / 100
        )
    } else {
        format!("+{}h{:02}m", ms / 3_600_000, ms / 60_000 % 60)
    }
}

/// Replaces `Name(digits)` everywhere in `text` by `render(digits)`.
fn replace_wrapped(text: &str, name: &str, render: impl Fn(u64) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(name) {
        let after = &rest[at + name.len()..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let preceded = rest[..at]
            .chars()
            .next_back()
            .is_some_and(|c| c.is_alphanumeric() || c == '_');
        if digits > 0 && after[digits..].starts_with(')') && !preceded {
            out.push_str(&rest[..at]);
            let value = after[..digits].parse::<u64>().unwrap_or(0);
            out.push_str(&render(value));
            rest = &after[digits + 1..];
        } else {
            out.push_str(&rest[..at + name.len()]);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// A `Debug` line made readable: money in units, timestamps on the virtual clock, ids
/// by name (`order 5`, `ticket 5.1`, `section 1/0`, `customer 3`, `show 1`).
pub fn humanize(text: &str) -> String {
    let mut text = text.to_owned();
    // The compound ids first, while their parts are still in Debug form.
    for (from, to, between) in [
        ("SectionKey { show: ShowId(", "section ", '/'),
        ("TicketId { order: OrderId(", "ticket ", '.'),
    ] {
        while let Some(at) = text.find(from) {
            let after = &text[at + from.len()..];
            let Some(close) = after.find(" }") else { break };
            let inner = &after[..close];
            let numbers: Vec<&str> = inner
                .split(|c: char| !c.is_ascii_digit())
                .filter(|part| !part.is_empty())
                .collect();
            let [first, second] = numbers[..] else { break };
            let replacement = format!("{to}{first}{between}{second}");
            text.replace_range(at..at + from.len() + close + 2, &replacement);
        }
    }
    let text = replace_wrapped(&text, "Money(", |cents| {
        format!("{}.{:02}", cents / 100, cents % 100)
    });
    let text = replace_wrapped(&text, "Timestamp(", |ms| when(Timestamp(ms)));
    let text = replace_wrapped(&text, "OrderId(", |id| format!("order {id}"));
    let text = replace_wrapped(&text, "ShowId(", |id| format!("show {id}"));
    let text = replace_wrapped(&text, "CustomerId(", |id| format!("customer {id}"));
    let text = replace_wrapped(&text, "ResaleId(", |id| format!("resale {id}"));
    replace_wrapped(&text, "NodeId(", |id| format!("node {id}"))
}

/// What a violation is about, as the trace's readable lines name it.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Subject {
    Order(u64),
    Section(u64, u64),
    /// A node the violation names (`orders (n1) rebuilt …`): what happened on it.
    Node(u32),
}

impl Subject {
    fn touches(&self, line: &str) -> bool {
        match *self {
            Subject::Node(node) => {
                let parsed = parse_line(line);
                parsed.is_some_and(|line| line.node == Some(node))
            }
            Subject::Order(order) => names_order(line, order),
            Subject::Section(show, section) => line.contains(&format!("section {show}/{section}")),
        }
    }
}

/// Whether `line` names `order N` as a whole number (`order 28` is not `order 2817`),
/// wherever it stands: before a space, a bracket, a comma or the end.
fn names_order(line: &str, order: u64) -> bool {
    let name = format!("order {order}");
    line.match_indices(&name).any(|(at, _)| {
        !line[at + name.len()..]
            .bytes()
            .next()
            .is_some_and(|next| next.is_ascii_digit())
    })
}

/// The subjects a violation's message names: orders (`order 7`, `OrderId(7)`, a
/// ticket's order) and sections.
fn subjects(message: &str) -> Vec<Subject> {
    let mut out = Vec::new();
    let human = humanize(message);
    let mut rest = human.as_str();
    while let Some(at) = rest.find("order ") {
        let after = &rest[at + 6..];
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        if digits > 0
            && let Ok(order) = after[..digits].parse()
            && !out.contains(&Subject::Order(order))
        {
            out.push(Subject::Order(order));
        }
        rest = after;
    }
    for part in human.split("section ").skip(1) {
        let token: String = part
            .chars()
            .take_while(|c| c.is_ascii_digit() || *c == '/')
            .collect();
        if let Some((show, section)) = token.split_once('/')
            && let (Ok(show), Ok(section)) = (show.parse(), section.parse())
            && !out.contains(&Subject::Section(show, section))
        {
            out.push(Subject::Section(show, section));
        }
    }
    for part in message.split("(n").skip(1) {
        let node: String = part.chars().take_while(char::is_ascii_digit).collect();
        if part[node.len()..].starts_with(')')
            && let Ok(node) = node.parse()
            && !out.contains(&Subject::Node(node))
        {
            out.push(Subject::Node(node));
        }
    }
    for part in human.split("ticket ").skip(1) {
        let order: String = part.chars().take_while(char::is_ascii_digit).collect();
        if let Ok(order) = order.parse()
            && !out.contains(&Subject::Order(order))
        {
            out.push(Subject::Order(order));
        }
    }
    out
}

/// The plumbing a story leaves out: acknowledgements, group-commit flushes, resend
/// rounds and (unless the read models are what failed) publications.
pub fn is_plumbing(detail: &str, keep_publications: bool) -> bool {
    detail.starts_with("ack ")
        || detail == FLUSH_LINE
        || detail == RESEND_LINE
        || (!keep_publications && detail.starts_with("publish "))
}

/// The parts of a readable trace line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// Virtual time, ms.
    pub time: u64,
    /// What happened (`deliver`, `timer`, `crash`…).
    pub kind: &'a str,
    /// The node it happened to.
    pub node: Option<u32>,
    /// The sender of a message.
    pub peer: Option<u32>,
    /// The message, timer or event, as the trace wrote it.
    pub detail: &'a str,
}

/// Splits a trace line into its parts.
pub fn parse_line(line: &str) -> Option<Line<'_>> {
    // "{index} {time}ms {kind} [n{node}] [<- n{peer}] {detail}"
    let line = line.trim_start();
    let (_, rest) = line.split_once(' ')?;
    let rest = rest.trim_start();
    let (time, rest) = rest.split_once("ms ")?;
    let time = time.trim().parse().ok()?;
    let rest = rest.trim_start();
    let (kind, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let node_of = |token: &str| token.strip_prefix('n').and_then(|n| n.parse::<u32>().ok());
    let mut node = None;
    if let Some((token, tail)) = rest
        .trim_start()
        .split_once(' ')
        .or(Some((rest.trim(), "")))
        && let Some(id) = node_of(token)
    {
        node = Some(id);
        rest = tail;
    }
    let mut peer = None;
    if let Some(tail) = rest.strip_prefix("<- ") {
        let (token, tail) = tail.split_once(' ').unwrap_or((tail, ""));
        peer = node_of(token);
        rest = tail;
    }
    Some(Line {
        time,
        kind,
        node,
        peer,
        detail: rest.trim(),
    })
}

/// The drawn world in a few lines: workload, shows and sections, customers, gateway.
pub fn world_lines(world: &Ticketing) -> Vec<String> {
    let layout = world.layout();
    let mut customers = format!("{} customer(s)", layout.customers);
    for note in world.world_notes() {
        customers.push_str(&format!(" · {note}"));
    }
    let mut out = vec![format!(
        "{} · {customers} · {}",
        world.workload().name(),
        world.gateway_profile()
    )];
    for plan in &layout.shows {
        let sections: Vec<String> = plan
            .sections
            .iter()
            .map(|spec| {
                if is_numbered(spec) {
                    format!(
                        "{} ({} seats) at {}",
                        spec.name, spec.capacity, spec.base_price
                    )
                } else {
                    format!(
                        "{} ({} places) at {}",
                        spec.name, spec.capacity, spec.base_price
                    )
                }
            })
            .collect();
        out.push(format!(
            "show {} starts at {}: {}",
            plan.show.0,
            when(plan.start_at),
            sections.join(", ")
        ));
    }
    out
}

/// The events of the causal story of `failure` in `trace` (a
/// [`turnstile_sim::TraceMode::Text`] trace of the run `world` just ran), by trace
/// index in order, plumbing included (the story's text leaves it out; a timeline may
/// draw it faintly).
pub fn story_events(world: &Ticketing, trace: &Trace, failure: &Failure) -> Vec<usize> {
    let layout = world.layout();
    let entries = &trace.entries;
    let lines = &trace.lines;
    let count = entries.len().min(lines.len());
    if count == 0 {
        return Vec::new();
    }
    let subjects = subjects(&failure.violation.message);
    let mut chosen = vec![false; count];
    let last = count - 1;
    chosen[last] = true;
    for (index, line) in lines.iter().enumerate().take(count) {
        if subjects.iter().any(|subject| subject.touches(line)) {
            chosen[index] = true;
        }
    }
    // Close under causes: whatever sent, armed or scheduled a chosen event. A flush or
    // a resend round only releases what other steps produced (and those steps touch
    // the subject themselves), so the step that happened to arm it is not followed.
    for index in (0..count).rev() {
        let released = parse_line(&lines[index])
            .is_some_and(|line| line.kind == "timer" && is_plumbing(line.detail, false));
        if chosen[index] && !released {
            let cause = entries[index].cause;
            if cause != NO_CAUSE && (cause as usize) < count {
                chosen[cause as usize] = true;
            }
        }
    }
    // The faults that struck a node on the path, while the path was under way.
    let first = chosen.iter().position(|c| *c).unwrap_or(0);
    let mut on_path = vec![false; layout.first_customer as usize + layout.customers as usize + 1];
    for (index, entry) in entries.iter().enumerate().take(count) {
        if chosen[index] {
            for node in [entry.node, entry.peer] {
                if let Some(slot) = on_path.get_mut(node as usize) {
                    *slot = true;
                }
            }
        }
    }
    for index in first..count {
        let kind = entries[index].kind.name();
        let fault = matches!(kind, "crash" | "restart" | "pause" | "partition" | "heal");
        let node = entries[index].node as usize;
        if fault && (kind == "heal" || on_path.get(node).copied().unwrap_or(false)) {
            chosen[index] = true;
        }
    }
    (0..count).filter(|&index| chosen[index]).collect()
}

/// The causal story of `failure` in `trace` (a [`turnstile_sim::TraceMode::Text`]
/// trace of the run `world` just ran), at most [`STORY_LINES_MAX`] lines, and how many
/// earlier lines of it were left out.
pub fn causal_story(world: &Ticketing, trace: &Trace, failure: &Failure) -> (Vec<String>, usize) {
    let layout = world.layout();
    let entries = &trace.entries;
    let lines = &trace.lines;
    let chosen = story_events(world, trace, failure);
    let Some(&first) = chosen.first() else {
        return (Vec::new(), 0);
    };
    let last = entries.len().min(lines.len()) - 1;
    let start_ms = entries[first].time_ms;
    let keep_publications = failure.violation.invariant == "projections_converge";
    // Step events in trace order are the engine's steps 0, 1, 2…: what a service's
    // step recorded is found in its store by that number.
    let mut step_of = vec![u64::MAX; entries.len()];
    let mut steps = 0;
    for (index, entry) in entries.iter().enumerate() {
        if entry.kind.is_step() {
            step_of[index] = steps;
            steps += 1;
        }
    }
    let mut story = Vec::new();
    for index in chosen {
        let Some(Line {
            time,
            kind,
            node,
            peer,
            detail,
        }) = parse_line(&lines[index])
        else {
            continue;
        };
        if index != last && is_plumbing(detail, keep_publications) {
            continue;
        }
        let name = |id: Option<u32>| id.map(|id| node_name(layout, NodeId(id), &[]));
        let arrow = match (name(peer), name(node)) {
            (Some(from), Some(to)) => format!("{from} → {to}"),
            (None, Some(node)) => node,
            _ => String::new(),
        };
        let mut text = format!(
            "{} {:>10}  {kind:<9} {arrow:<30} {}",
            span(time),
            delta(time - start_ms),
            humanize(detail)
        );
        let recorded = node.map_or_else(Vec::new, |node| recorded(world, node, step_of[index]));
        if !recorded.is_empty() {
            let _ = write!(text, "  ⇒ {}", recorded.join(", "));
        }
        if index == last {
            text.push_str("   ← the failing step");
        }
        story.push(text.trim_end().to_owned());
    }
    let left_out = story.len().saturating_sub(STORY_LINES_MAX);
    (story.split_off(left_out), left_out)
}

/// The domain events `node` recorded in engine step `step` (by name: `HoldExpired`).
fn recorded(world: &Ticketing, node: u32, step: u64) -> Vec<String> {
    let Some(store) = world.stores().get(node as usize) else {
        return Vec::new();
    };
    if store.steps.len() != store.entries.len() {
        return Vec::new(); // An untraced run kept no steps.
    }
    let mut out = Vec::new();
    for (entry, at) in store.entries.iter().zip(&store.steps) {
        if *at != step {
            continue;
        }
        if let Change::Event(published) = &entry.change {
            out.push(crate::layout::event_name(&published.event));
        }
    }
    out
}

/// The whole report of a failure: the world, what was wrong, the causal story.
pub fn tell(world: &Ticketing, trace: &Trace, failure: &Failure) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "  world");
    for line in world_lines(world) {
        let _ = writeln!(out, "    {line}");
    }
    let _ = writeln!(
        out,
        "  what            {} at {} (step {}): {}",
        failure.violation.invariant,
        span(failure.time_ms),
        failure.step,
        humanize(&failure.violation.message)
    );
    let (story, left_out) = causal_story(world, trace, failure);
    if left_out > 0 {
        let _ = writeln!(
            out,
            "  story           the last {} events on the path ({left_out} earlier ones; --trace shows the whole run):",
            story.len()
        );
    } else {
        let _ = writeln!(out, "  story           {} events on the path:", story.len());
    }
    for line in story {
        let _ = writeln!(out, "    {line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_ids_and_amounts_read_as_a_person_would_say_them() {
        let line = "SeatsReserved { order: OrderId(2561), seats: [], total: Money(15996), at: Timestamp(1767225602101) } in SectionKey { show: ShowId(1), section: SectionIndex(0) } for TicketId { order: OrderId(7), index: 1 }";
        assert_eq!(
            humanize(line),
            "SeatsReserved { order: order 2561, seats: [], total: 159.96, at: 00:00:02.101 } in section 1/0 for ticket 7.1"
        );
        assert_eq!(span(1_747_594), "00:29:07.594");
        assert_eq!(span(86_400_000 + 5), "1d 00:00:00.005");
        assert_eq!(delta(21), "+0.021s");
        assert_eq!(delta(245_300), "+4m05.3s");
    }

    #[test]
    fn a_violation_names_its_orders_and_sections() {
        let message = "order 4865 holds 11 places (0 seats) in SectionKey { show: ShowId(1), section: SectionIndex(1) }; ticket TicketId { order: OrderId(12), index: 0 }";
        assert_eq!(
            subjects(message),
            vec![
                Subject::Order(4865),
                Subject::Section(1, 1),
                Subject::Order(12)
            ]
        );
        assert!(
            Subject::Order(4865).touches("12 3ms deliver n1 <- n20 order.Initiate order 4865 #1")
        );
        assert!(!Subject::Order(486).touches("deliver order.Initiate order 4865 #1"));
        // A gateway line names its order inside brackets, at the end.
        let gateway = "deliver n3 <- n2 gateway reply: approved (capture #0 for order 2817)";
        assert!(Subject::Order(2817).touches(gateway));
        assert!(!Subject::Order(281).touches(gateway));
        assert!(Subject::Order(7).touches("order 7, seat A-1"));
        assert!(Subject::Section(1, 0).touches("inventory.Reserve section 1/0 #c4"));
    }

    #[test]
    fn trace_lines_split_into_their_parts() {
        let line = |time, kind, node, peer, detail| Line {
            time,
            kind,
            node,
            peer,
            detail,
        };
        assert_eq!(
            parse_line("  12     1939ms deliver   n4 <- n1 publish Order(OrderId(2)) v1"),
            Some(line(
                1939,
                "deliver",
                Some(4),
                Some(1),
                "publish Order(OrderId(2)) v1"
            ))
        );
        assert_eq!(
            parse_line("   3     5000ms crash     n2 lost 1 unsynced record(s)"),
            Some(line(
                5000,
                "crash",
                Some(2),
                None,
                "lost 1 unsynced record(s)"
            ))
        );
        assert_eq!(
            parse_line("   9    70000ms heal"),
            Some(line(70000, "heal", None, None, ""))
        );
    }
}
