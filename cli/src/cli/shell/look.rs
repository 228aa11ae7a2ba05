//! How the shell says things: answers, times, names of nodes and tickets, sections, a
//! story line. Pure functions of what they are given; the views of the world that need
//! the shell itself are in `views.rs`.

use chrono::DateTime;
use turnstile::layout::{EPOCH_MS, Layout};
use turnstile_core::show::{SectionKind, SectionSpec};
use turnstile_core::{SectionKey, TicketId, Timestamp};
use turnstile_host::{Answer, Rejection};
use turnstile_sim::NodeId;

/// A service's answer in words.
pub fn answer(answer: &Option<Answer>) -> String {
    match answer {
        None => "no answer yet: the device keeps resending".into(),
        Some(Answer::Accepted { new: true }) => "accepted".into(),
        Some(Answer::Accepted { new: false }) => "accepted (nothing new: a repeat)".into(),
        Some(Answer::Rejected(rejection)) => format!("refused: {}", rejection_text(rejection)),
        Some(Answer::Order(status)) => format!("order: {status:?}"),
        Some(Answer::Resale(status)) => format!("resale: {status:?}"),
    }
}

fn rejection_text(rejection: &Rejection) -> String {
    match rejection {
        Rejection::Show(e) => e.to_string(),
        Rejection::Inventory(e) => e.to_string(),
        Rejection::Order(e) => e.to_string(),
        Rejection::Payment(e) => e.to_string(),
        Rejection::Ticket(e) => e.to_string(),
        Rejection::Resale(e) => e.to_string(),
        Rejection::WrongService => "sent to the wrong service".into(),
    }
}

/// `Stalls 2×5 at 49.99` or `Floor 200 places at 25.00`.
pub fn section_summary(spec: &SectionSpec) -> String {
    match spec.kind {
        SectionKind::Numbered => {
            let rows = spec
                .seat_labels
                .iter()
                .map(|l| l.rsplit_once('-').map_or(l.as_str(), |(row, _)| row))
                .fold(Vec::<&str>::new(), |mut rows, row| {
                    if !rows.contains(&row) {
                        rows.push(row);
                    }
                    rows
                })
                .len();
            let per_row = spec.capacity as usize / rows.max(1);
            format!("{} {rows}×{per_row} at {}", spec.name, spec.base_price)
        }
        SectionKind::GeneralAdmission => {
            format!(
                "{} {} places at {}",
                spec.name, spec.capacity, spec.base_price
            )
        }
    }
}

/// A virtual time (ms since the run began) as a date and clock time.
pub fn clock(ms: u64) -> String {
    timestamp(Timestamp(EPOCH_MS + ms))
}

/// A timestamp as `2026-01-01 00:05:00.004`.
pub fn timestamp(at: Timestamp) -> String {
    match DateTime::from_timestamp_millis(at.0 as i64) {
        Some(at) => at.format("%Y-%m-%d %H:%M:%S%.3f").to_string(),
        None => format!("{} ms", at.0),
    }
}

/// A ticket's short name: `t1-2` is order 1's second ticket.
pub fn ticket_name(ticket: TicketId) -> String {
    format!("t{}-{}", ticket.order.0, u32::from(ticket.index) + 1)
}

pub fn inventory_name(layout: &Layout, key: SectionKey) -> String {
    turnstile::story::inventory_name(layout, key)
}

/// A node's name by its role: `orders`, `inventory 1/Stalls`, `gateway`, `alice`.
pub fn node_name(layout: &Layout, names: &[String], node: NodeId) -> String {
    turnstile::story::node_name(layout, node, names)
}

/// A trace line in names a person reads, or `None` for the plumbing (acknowledgements,
/// flushes, resend rounds).
pub fn story_line(line: &str, layout: &Layout, names: &[String]) -> Option<String> {
    let line = turnstile::story::parse_line(line)?;
    let kind = line.kind;
    if turnstile::story::is_plumbing(line.detail, false) && kind != "lost" && kind != "dropped" {
        return None;
    }
    let name = |id: u32| node_name(layout, names, NodeId(id));
    let node = line.node.map(name).unwrap_or_default();
    let arrow = match line.peer.map(name) {
        Some(peer) => format!("{peer} → {node}"),
        None => node,
    };
    let time = line.time;
    let detail = turnstile::story::humanize(line.detail);
    Some(format!(
        "{}  {kind:<9} {arrow:<28} {}",
        clock(time),
        shorten(&detail)
    ))
}

fn shorten(detail: &str) -> String {
    const MAX: usize = 160;
    if detail.chars().count() <= MAX {
        detail.to_owned()
    } else {
        let cut: String = detail.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn section_summaries_say_rows_and_places() {
        let stalls = turnstile::layout::numbered_section("Stalls", 2, 5, 4_999);
        assert_eq!(section_summary(&stalls), "Stalls 2×5 at 49.99");
        let floor = turnstile::layout::general_admission("Floor", 200, 2_500);
        assert_eq!(section_summary(&floor), "Floor 200 places at 25.00");
    }
}
