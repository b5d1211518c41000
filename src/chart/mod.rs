//! Pictures of a rollout, from its journal: `show --format svg|html`, the live
//! page `serve` builds from [`html`], and Mermaid blocks GitHub renders in a
//! pull-request comment.
//!
//! Every picture is built from one [`RolloutChart`] (pure, from the record and
//! its events), so they agree with each other and with `show`'s text. Text
//! from events can be a model's (a veto reason, an explanation) and is
//! escaped wherever it is written: it can never become markup.

mod html;
mod mermaid;
mod model;
mod svg;

#[cfg(test)]
mod tests;

pub use mermaid::{mermaid_label, risk_factors_mermaid};
pub use model::{fail_at, EventRow, Evidence, Judgement, Marker, MarkerKind, Pair, RolloutChart};

use crate::journal::{RolloutRecord, StoredEvent};

/// The rollout's timeline as one SVG document: weight, error rate and latency
/// of both versions with the judge's bound, evidence against its threshold on
/// a log axis, and a marker (detail on hover, `<title>`) per approval, veto,
/// verdict, intent, hand-over, choice and the outcome.
pub fn svg(record: &RolloutRecord, events: &[StoredEvent]) -> String {
    svg::render(&RolloutChart::build(record, events))
}

/// A self-contained HTML page (inline CSS and SVG, no scripts, no external
/// assets): title, summary, the SVG, and the events. Values a live page
/// updates have ids: `weight`, `outcome`, `reason`, `events`, `chart`.
pub fn html(record: &RolloutRecord, events: &[StoredEvent]) -> String {
    html::render(&RolloutChart::build(record, events))
}

/// The canary weight over time as a Mermaid `xychart-beta` line, in a
/// ```` ```mermaid ```` fence, for Markdown that GitHub renders.
pub fn mermaid(record: &RolloutRecord, events: &[StoredEvent]) -> String {
    mermaid::weight_line(&RolloutChart::build(record, events))
}

/// Text for XML and HTML, in content and in quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters are not allowed in XML 1.0.
            c if c.is_control() && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}
