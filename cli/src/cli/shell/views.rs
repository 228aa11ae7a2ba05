//! The shell's views of the world: an order or a ticket on one line, the seat map, the
//! tables of orders and payments, the sales and history read models. They read the
//! hosts' state through the engine's view, as a debugger would.

use std::fmt::Write as _;

use turnstile::layout::{ORDERS, READ_MODELS, TICKETS};
use turnstile_core::inventory::seating::SeatState;
use turnstile_core::order::OrderDetails;
use turnstile_core::read_models::StreamId;
use turnstile_core::show::SectionKind;
use turnstile_core::ticket::TicketDetails;
use turnstile_core::{Money, OrderId, PaymentId, SectionKey, TicketId, Timestamp};
use turnstile_host::AggregateRef;

use super::interpreter::{Shell, ShellError, wrong};
use super::look::{ticket_name, timestamp};

/// One order on one line.
pub(super) fn order_line(shell: &Shell, details: &OrderDetails) -> String {
    let key = details.section;
    let section = shell
        .world
        .layout()
        .show(key.show)
        .and_then(|plan| plan.sections.get(key.section.0 as usize))
        .map_or("?".to_owned(), |spec| spec.name.clone());
    let seats: Vec<String> = details
        .seats
        .iter()
        .map(|seat| shell.seat_label(key, *seat))
        .collect();
    let what = if seats.is_empty() || shell_is_ga(shell, key) {
        format!("{} × {section}", details.quantity)
    } else {
        format!("{} × {section} {}", details.quantity, seats.join(", "))
    };
    let mut line = format!(
        "order {} · {} · {what} · {} ({} a seat, {:?}) · {:?}",
        details.order.0,
        shell.name(details.customer),
        details.quote.total,
        details.quote.seat_price,
        details.quote.tier,
        details.status
    );
    use turnstile_core::order::OrderStatus as S;
    match details.status {
        S::Reserving => {}
        S::AwaitingPayment | S::Extending | S::Authorizing | S::Confirming | S::Capturing => {
            // The inventory's hold is the truth (paying extends it to the window).
            let node = shell.world.layout().section_node(key);
            let hold = match shell.aggregate(node, StreamId::Inventory(key)) {
                Some(AggregateRef::Inventory(state)) => state
                    .order(details.order)
                    .map(|hold| (hold.extended, hold.expires_at)),
                _ => None,
            };
            match hold {
                Some((true, until)) => {
                    let _ = write!(line, ", held (extended) until {}", timestamp(until));
                }
                Some((false, until)) => {
                    let _ = write!(line, ", held until {}", timestamp(until));
                }
                None => {}
            }
        }
        S::Completed => {
            let tickets: Vec<String> = details.tickets.iter().map(|t| ticket_name(*t)).collect();
            let _ = write!(line, ", tickets {}", tickets.join(" "));
        }
        _ => {}
    }
    if let Some(cause) = &details.end_cause {
        let cause = format!("{cause:?}");
        if cause != format!("{:?}", details.status) {
            let _ = write!(line, " ({cause})");
        }
    }
    line
}

fn shell_is_ga(shell: &Shell, key: SectionKey) -> bool {
    shell
        .world
        .layout()
        .show(key.show)
        .and_then(|plan| plan.sections.get(key.section.0 as usize))
        .is_some_and(|spec| spec.kind == SectionKind::GeneralAdmission)
}

/// One ticket on one line.
pub(super) fn ticket_line(shell: &Shell, details: &TicketDetails) -> String {
    let key = details.section;
    let seat = details.seat.map_or("general admission".to_owned(), |seat| {
        shell.seat_label(key, seat)
    });
    let show = shell
        .world
        .layout()
        .show(key.show)
        .map_or("?".to_owned(), |plan| plan.name.clone());
    let mut line = format!(
        "{} · {} · \"{show}\" {seat} · paid {} · {:?}",
        ticket_name(details.ticket),
        shell.name(details.owner),
        details.paid_by_owner(),
        details.status
    );
    if let Some(listing) = details.listing {
        match listing.taken_by {
            None => {
                let _ = write!(line, " · listed at {}", listing.price);
            }
            Some((resale, buyer)) => {
                let _ = write!(
                    line,
                    " · listed at {}, being bought by {} (resale {})",
                    listing.price,
                    shell.name(buyer),
                    resale.0
                );
            }
        }
    }
    line
}

impl Shell {
    pub(super) fn describe_order(&self, order: OrderId) -> Option<String> {
        let Some(AggregateRef::Order(state)) = self.aggregate(ORDERS, StreamId::Order(order))
        else {
            return None;
        };
        let details = state.details.as_ref()?;
        Some(order_line(self, details))
    }

    pub(super) fn describe_ticket(&self, ticket: TicketId) -> String {
        match self.aggregate(TICKETS, StreamId::Ticket(ticket)) {
            Some(AggregateRef::Ticket(state)) => match &state.details {
                Some(details) => ticket_line(self, details),
                None => format!("{}: no such ticket", ticket_name(ticket)),
            },
            _ => format!("{}: no such ticket", ticket_name(ticket)),
        }
    }

    pub(super) fn seats(&self, args: &[&str]) -> Result<String, ShellError> {
        let command = "seats";
        let (section, show) = match args {
            [] => (None, None),
            [section] => (Some(*section), None),
            [section, "of", show] => (Some(*section), Some(*show)),
            ["of", show] => (None, Some(*show)),
            _ => return Err(wrong(command, "which section?")),
        };
        let show = self.show_ref(command, show)?;
        let plan = self.world.layout().show(show).expect("known show");
        let keys: Vec<SectionKey> = match section {
            Some(name) => vec![self.section_ref(command, show, Some(name))?],
            None => (0..plan.sections.len() as u32)
                .map(|i| SectionKey {
                    show,
                    section: turnstile_core::SectionIndex(i),
                })
                .collect(),
        };
        let mut out = String::new();
        for key in keys {
            out.push_str(&self.seat_map(key));
            out.push('\n');
        }
        Ok(out.trim_end().to_owned())
    }

    fn seat_map(&self, key: SectionKey) -> String {
        let layout = self.world.layout();
        let spec = &layout.show(key.show).expect("known show").sections[key.section.0 as usize];
        let node = layout.section_node(key);
        let state = match self.aggregate(node, StreamId::Inventory(key)) {
            Some(AggregateRef::Inventory(state)) if state.setup().is_some() => state,
            _ => {
                let down = if self.sim.is_up(node) {
                    ""
                } else {
                    " (its inventory is down)"
                };
                return format!("{}: not set up yet{down}", spec.name);
            }
        };
        let counts = state.counts();
        let mut out = format!(
            "{} ({:?}): {} free, {} held, {} sold, {} blocked of {}",
            spec.name,
            state.phase(),
            counts.available,
            counts.reserved,
            counts.sold,
            counts.blocked,
            counts.capacity
        );
        let Some(map) = state.seat_map() else {
            return out;
        };
        out.push_str("\n  legend: . free  h held  S sold  x blocked");
        for row in map.layout().rows() {
            let _ = write!(out, "\n  {:>3} ", row.name);
            for seat in row.start..row.start + row.len {
                let glyph = match map.state(turnstile_core::SeatIndex(seat)) {
                    Some(SeatState::Free) => ('.', "32"),
                    Some(SeatState::Reserved) => ('h', "33"),
                    Some(SeatState::Sold) => ('S', "31"),
                    Some(SeatState::Blocked) | None => ('x', "90"),
                };
                if self.colour {
                    let _ = write!(out, " \x1b[{}m{}\x1b[0m", glyph.1, glyph.0);
                } else {
                    let _ = write!(out, " {}", glyph.0);
                }
            }
        }
        out
    }

    pub(super) fn orders_table(&self) -> String {
        if self.orders.is_empty() {
            return "no orders".into();
        }
        let mut out = Vec::new();
        for (order, _) in &self.orders {
            match self.aggregate(ORDERS, StreamId::Order(*order)) {
                Some(AggregateRef::Order(state)) => match &state.details {
                    Some(details) => out.push(order_line(self, details)),
                    None => out.push(format!("order {}: not recorded", order.0)),
                },
                _ => out.push(format!(
                    "order {}: orders is down or never recorded it",
                    order.0
                )),
            }
        }
        out.join("\n")
    }

    pub(super) fn payments_table(&self) -> String {
        let ledger = self.world.ledger();
        if ledger.accounts.is_empty() && ledger.calls.is_empty() {
            return "the gateway moved no money".into();
        }
        let mut out = String::from("the gateway's ledger:");
        for (payment, account) in &ledger.accounts {
            let (what, who) = match payment {
                PaymentId::Order(order) => (
                    format!("order {}", order.0),
                    self.orders
                        .iter()
                        .find(|(o, _)| o == order)
                        .map(|(_, c)| self.name(*c)),
                ),
                PaymentId::Resale(resale) => (
                    format!("resale {}", resale.0),
                    self.resales
                        .iter()
                        .find(|(r, _, _)| r == resale)
                        .map(|(_, c, _)| self.name(*c)),
                ),
            };
            let _ = write!(
                out,
                "\n  {what} ({}): authorized {}{}, captured {}, refunded {}, paid out {}, held {}",
                who.unwrap_or_else(|| "?".into()),
                account.authorized,
                if account.voided { " (voided)" } else { "" },
                account.captured,
                account.refunded,
                account.paid_out,
                Money(account.net().max(0) as u64)
            );
        }
        let declined = ledger
            .calls
            .values()
            .filter(|o| **o == turnstile_core::payment::GatewayOutcome::Declined)
            .count();
        if declined > 0 {
            let _ = write!(out, "\n  {declined} call(s) declined");
        }
        out
    }

    pub(super) fn sales(&self, args: &[&str]) -> Result<String, ShellError> {
        if args.len() > 1 {
            return Err(wrong("sales", "at most one show"));
        }
        let show = self.show_ref("sales", args.first().copied())?;
        let Some((_, host)) = self.hosts_of(READ_MODELS) else {
            return Ok("the read models are down".into());
        };
        let Some(models) = host.read_models() else {
            return Ok("no read models".into());
        };
        let days = models.sales.show(show);
        if days.is_empty() {
            return Ok(format!("show {}: no sales yet", show.0));
        }
        let mut out = format!("show {} sales by day (the read model):", show.0);
        for (day, sales) in days {
            let date = timestamp(Timestamp(day * 86_400_000));
            let _ = write!(
                out,
                "\n  {}  {} ticket(s)  revenue {}  refunds {}",
                &date[..10],
                sales.tickets_sold,
                sales.revenue,
                sales.refunds
            );
        }
        Ok(out)
    }

    pub(super) fn history(&self, customer: turnstile_core::CustomerId) -> String {
        let Some((_, host)) = self.hosts_of(READ_MODELS) else {
            return "the read models are down".into();
        };
        let Some(models) = host.read_models() else {
            return "no read models".into();
        };
        let now = Timestamp(turnstile::layout::EPOCH_MS + self.sim.now_ms());
        let entries = models.customer_history.orders(customer, now);
        if entries.is_empty() {
            return format!("{}: no history", self.name(customer));
        }
        let mut out = format!("{}'s history (the read model):", self.name(customer));
        for entry in entries {
            let what = match entry.purchase {
                turnstile_core::read_models::customer_history::Purchase::Order {
                    order,
                    status,
                } => {
                    format!("order {} {status:?}", order.0)
                }
                turnstile_core::read_models::customer_history::Purchase::Resale {
                    resale,
                    ticket,
                    status,
                } => format!("resale {} of {} {status:?}", resale.0, ticket_name(ticket)),
            };
            let _ = write!(
                out,
                "\n  {what} · \"{}\" · {} ticket(s) · paid {} · refunded {}{}",
                entry
                    .show_name
                    .unwrap_or_else(|| format!("show {}", entry.show.0)),
                entry.tickets,
                entry.paid,
                entry.refunded,
                match entry.upcoming {
                    Some(true) => " · upcoming",
                    Some(false) => " · past",
                    None => "",
                }
            );
        }
        out
    }
}
