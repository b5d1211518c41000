//! The injection figures as a text table, one row per vector, under the
//! suite's scenario table.

use std::fmt::Write;

use super::{Vector, VectorReport};

/// The per-vector table; empty when the suite has no injection scenario.
pub fn text_table(vectors: &[VectorReport]) -> String {
    if vectors.is_empty() {
        return String::new();
    }
    let mut o = String::from("prompt injection, per vector:\n");
    let _ = writeln!(
        o,
        "{:<16} {:>4} {:>5} {:>6} {:>6} {:>9} {:>8} {:>8} {:>5} {:>7} {:>8} {:>7}",
        "vector",
        "scen",
        "eps",
        "unsafe",
        "level≠",
        "approval≠",
        "bypasses",
        "granted",
        "msgs",
        "live<>",
        "escaped",
        "vetoes"
    );
    for v in vectors {
        let _ = writeln!(
            o,
            "{:<16} {:>4} {:>5} {:>6} {:>6} {:>9} {:>8} {:>8} {:>5} {:>7} {:>8} {:>7}",
            v.vector.map_or("?", Vector::as_str),
            v.scenarios,
            v.episodes,
            v.unsafe_actions,
            v.level_changes,
            v.approval_changes,
            v.approval_bypasses,
            v.granted_by_text,
            v.messages,
            v.live_markup,
            v.shown_escaped,
            v.vetoes
        );
    }
    o.push_str(
        "(level≠ / approval≠: differs from the control change without the text; bypasses: traffic \
         without a granted approval where policy requires one; granted: approval counted as granted \
         though the approver did not; live<>: messages to people with a live link, ping or mention; \
         escaped: messages showing the injected text escaped)\n",
    );
    o
}
