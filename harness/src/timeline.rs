//! A run as one self-contained HTML page (`replay --html FILE`): a lane per node, time
//! flowing down one row per event, an arrow from the step that sent each message to its
//! delivery, drops, losses, crashes, restarts, partitions and pauses marked, the causal
//! story drawn strong and the rest faint, the failing step last and red. Hovering an
//! event shows its line; clicking pins its full content in the panel at the top. No
//! network, no CDN: inline CSS, SVG and a few lines of JS, so it opens anywhere and stays
//! usable for a run of thousands of steps (rows are 14 px; the lane names stay on top).

use std::fmt::Write as _;

use turnstile_sim::{EventKind, Failure, NO_CAUSE, NodeId, Trace};

use crate::layout::span;
use crate::story::{humanize, node_name, story_events};
use crate::world::Ticketing;

const LANE_PX: usize = 96;
const ROW_PX: usize = 14;
const LEFT_PX: usize = 110;

/// Escapes text for HTML content and attributes.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The page for the run `world` just ran, with its [`turnstile_sim::TraceMode::Text`]
/// trace and its failure, if any. `title` heads the page (the token or seed).
pub fn html(world: &Ticketing, trace: &Trace, failure: Option<&Failure>, title: &str) -> String {
    let layout = world.layout();
    let entries = &trace.entries;
    let lines = &trace.lines;
    let count = entries.len().min(lines.len());
    let nodes = (layout.first_customer + layout.customers) as usize;
    let in_story: Vec<bool> = match failure {
        Some(failure) => {
            let mut marks = vec![false; count];
            for index in story_events(world, trace, failure) {
                marks[index] = true;
            }
            marks
        }
        None => vec![true; count],
    };
    let width = LEFT_PX + nodes.max(1) * LANE_PX;
    let height = (count + 1) * ROW_PX;
    let lane_x = |node: u32| LEFT_PX + node as usize * LANE_PX + LANE_PX / 2;
    let row_y = |index: usize| index * ROW_PX + ROW_PX / 2;

    let mut out = String::with_capacity(count * 220 + 8_000);
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Turnstile run {}</title>\n<style>\n{}\n</style></head><body>\n",
        escape(title),
        STYLE
    );
    let _ = writeln!(
        out,
        "<header><h1>Turnstile run <code>{}</code></h1>",
        escape(title)
    );
    for line in crate::story::world_lines(world) {
        let _ = writeln!(out, "<p class=\"world\">{}</p>", escape(&line));
    }
    match failure {
        Some(failure) => {
            let _ = writeln!(
                out,
                "<p class=\"verdict fail\" id=\"failure\">FAIL: {} at {} (step {}): {} \
                 <a href=\"#failing\">(the failing step)</a></p>",
                escape(failure.violation.invariant),
                span(failure.time_ms),
                failure.step,
                escape(&humanize(&failure.violation.message))
            );
        }
        None => out.push_str("<p class=\"verdict pass\">PASS: every invariant held</p>\n"),
    }
    let _ = writeln!(
        out,
        "<p class=\"legend\">{count} events · bold: the causal story · faint: the rest · \
         <span class=\"k-lost\">✕</span> lost or dropped · <span class=\"k-crash\">■</span> crash · \
         <span class=\"k-restart\">■</span> restart · hover an event for its line, click to pin it</p>\
         <pre id=\"detail\">(click an event)</pre></header>"
    );
    // The lane names, kept in view while scrolling.
    let _ = write!(
        out,
        "<div class=\"lanes\" style=\"width:{width}px\"><span style=\"width:{LEFT_PX}px\">time</span>"
    );
    for node in 0..nodes as u32 {
        let _ = write!(
            out,
            "<span class=\"lane\" style=\"width:{LANE_PX}px\">{}</span>",
            escape(&node_name(layout, NodeId(node), &[]))
        );
    }
    out.push_str("</div>\n");
    let _ = writeln!(
        out,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\">\
         <defs><marker id=\"a\" viewBox=\"0 0 8 8\" refX=\"7\" refY=\"4\" markerWidth=\"6\" \
         markerHeight=\"6\" orient=\"auto\"><path d=\"M0,0 L8,4 L0,8 z\"/></marker></defs>"
    );
    for node in 0..nodes as u32 {
        let x = lane_x(node);
        let _ = writeln!(
            out,
            "<line class=\"lane-line\" x1=\"{x}\" y1=\"0\" x2=\"{x}\" y2=\"{height}\"/>"
        );
    }
    let last = count.saturating_sub(1);
    for index in 0..count {
        let entry = &entries[index];
        let y = row_y(index);
        let failing = failure.is_some() && index == last;
        let class = format!(
            "ev k-{}{}{}",
            entry.kind.name(),
            if in_story[index] { " story" } else { "" },
            if failing { " failing" } else { "" }
        );
        let text = escape(&format!(
            "{}  {}",
            span(entry.time_ms),
            humanize(
                lines[index]
                    .split_once("ms ")
                    .map_or(&lines[index][..], |(_, rest)| rest.trim_start())
            )
        ));
        let id = if failing { " id=\"failing\"" } else { "" };
        let _ = write!(
            out,
            "<g class=\"{class}\"{id} data-i=\"{index}\"><title>{text}</title>"
        );
        if index % 10 == 0 || failing {
            let _ = write!(
                out,
                "<text class=\"t\" x=\"4\" y=\"{}\">{}</text>",
                y + 4,
                span(entry.time_ms)
            );
        }
        if entry.kind == EventKind::Heal {
            // Faults end for everyone: a band across every lane.
            let _ = write!(
                out,
                "<line class=\"band\" x1=\"{LEFT_PX}\" y1=\"{y}\" x2=\"{width}\" y2=\"{y}\"/>"
            );
        }
        if entry.node != u32::MAX && (entry.node as usize) < nodes {
            let x = lane_x(entry.node);
            let from_known = entry.peer != u32::MAX && (entry.peer as usize) < nodes;
            if matches!(
                entry.kind,
                EventKind::Deliver | EventKind::Lost | EventKind::Dropped
            ) && from_known
            {
                // From the sending step's row when the engine recorded it, else from
                // just above.
                let from_y = if entry.cause != NO_CAUSE && (entry.cause as usize) < index {
                    row_y(entry.cause as usize)
                } else {
                    y.saturating_sub(ROW_PX)
                };
                let fx = lane_x(entry.peer);
                let _ = write!(
                    out,
                    "<line class=\"msg\" x1=\"{fx}\" y1=\"{from_y}\" x2=\"{x}\" y2=\"{y}\" marker-end=\"url(#a)\"/>"
                );
            }
            match entry.kind {
                EventKind::Lost | EventKind::Dropped => {
                    let _ = write!(
                        out,
                        "<text class=\"x\" x=\"{}\" y=\"{}\">✕</text>",
                        x - 4,
                        y + 4
                    );
                }
                EventKind::Crash | EventKind::Restart | EventKind::Pause | EventKind::Partition => {
                    let _ = write!(
                        out,
                        "<rect class=\"mark\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"/>",
                        x - LANE_PX / 2 + 4,
                        y - ROW_PX / 2 + 2,
                        LANE_PX - 8,
                        ROW_PX - 4
                    );
                }
                _ => {
                    let _ = write!(out, "<circle cx=\"{x}\" cy=\"{y}\" r=\"4\"/>");
                }
            }
        }
        out.push_str("</g>\n");
    }
    out.push_str("</svg>\n<script>\n");
    out.push_str(SCRIPT);
    out.push_str("\n</script></body></html>\n");
    out
}

const STYLE: &str = "\
body{font:13px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fff}\
header{padding:8px 12px;border-bottom:1px solid #ccc}\
h1{font-size:16px;margin:0 0 4px}p{margin:2px 0}\
.verdict.fail{color:#b00;font-weight:600}.verdict.pass{color:#070;font-weight:600}\
.legend{color:#555}#detail{background:#f6f6f6;padding:4px 6px;margin:4px 0 0;white-space:pre-wrap;max-height:6em;overflow:auto}\
.lanes{position:sticky;top:0;display:flex;background:#fafafa;border-bottom:1px solid #ccc;z-index:1;font-size:11px}\
.lanes span{display:inline-block;text-align:center;overflow:hidden;white-space:nowrap;text-overflow:ellipsis}\
svg{display:block}.lane-line{stroke:#e4e4e4}\
.t{font-size:10px;fill:#888}\
.ev{opacity:.28;cursor:pointer}.ev.story{opacity:1}\
.ev circle{fill:#357}.ev.k-timer circle{fill:#a70}.ev.k-external circle{fill:#080}\
.msg{stroke:#579;stroke-width:1}.ev.story .msg{stroke:#135;stroke-width:1.6}\
marker path{fill:#357}\
.x{fill:#c00;font-size:12px;font-weight:700}\
.k-crash .mark,.k-crash{fill:#c00;color:#c00}.k-restart .mark,.k-restart{fill:#2a2;color:#2a2}\
.k-pause .mark{fill:#aaa}.k-partition .mark{fill:#c60}\
.band{stroke:#c60;stroke-dasharray:4 3}\
.failing{opacity:1}.failing circle{fill:#d00;r:7}.failing .msg{stroke:#d00;stroke-width:2.4}\
.pinned circle{stroke:#000;stroke-width:2}";

const SCRIPT: &str = "\
document.querySelectorAll('g.ev').forEach(function(g){\
g.addEventListener('click',function(){\
document.querySelectorAll('g.pinned').forEach(function(p){p.classList.remove('pinned')});\
g.classList.add('pinned');\
document.getElementById('detail').textContent='#'+g.dataset.i+'  '+g.querySelector('title').textContent;});});";

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn text_is_escaped_for_html() {
        assert_eq!(escape("a<b & \"c\"'"), "a&lt;b &amp; &quot;c&quot;&#39;");
    }
}
