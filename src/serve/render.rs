//! The HTML and SVG of serve's read-only pages, rendered on the server so they
//! are complete without JavaScript. Every text that comes from the journal (a
//! model-written explanation, an approval summary, a reason) goes through
//! [`escape`]: it can hold markup.
//!
//! A rollout's own page is the chart page (`crate::chart::html`); this module
//! renders the list and what the live stream needs.

use std::fmt::Write;

use crate::journal::{RolloutRecord, StoredEvent};

pub use crate::chart::escape;

/// A path segment made safe for a URL inside an attribute (ids are
/// `service-rev-millis`, but a journal is not trusted to keep them so).
pub fn url_segment(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

/// What a rollout came to, or where it stands while it runs.
pub fn phase(record: &RolloutRecord) -> String {
    match (&record.outcome, record.finished_at) {
        (Some(outcome), _) => outcome.clone(),
        (None, Some(_)) => "finished".into(),
        (None, None) => "running".into(),
    }
}

/// Wall time as `YYYY-MM-DD HH:MM:SS UTC`.
fn utc(unix: f64) -> String {
    format!("{} UTC", crate::journal::timeline::utc(unix))
}

/// The canary weight after each event: a `weight_changed` sets it, a
/// `finished` states the final one.
pub fn weight_after(weight: u8, event: &StoredEvent) -> u8 {
    let field = match event.kind.as_str() {
        "weight_changed" => "to",
        "finished" => "weight",
        _ => return weight,
    };
    event
        .payload
        .get(field)
        .and_then(serde_json::Value::as_u64)
        .and_then(|w| u8::try_from(w).ok())
        .unwrap_or(weight)
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em;color:#222}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;text-align:left}\
.running{font-weight:bold}td:last-child{overflow-wrap:anywhere;max-width:50em}";

/// A whole document around `body`.
fn document(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<link rel=\"icon\" href=\"data:,\"><title>{}</title><style>{STYLE}</style></head>\n\
<body>\n{body}\n</body></html>\n",
        escape(title)
    )
}

/// `GET /rollouts`: live rollouts first, then the rest, each group newest first. `query` (`?token=…` or empty) is carried into
/// the links so a token given in the URL still opens each page.
pub fn list_page(records: &[RolloutRecord], query: &str) -> String {
    let mut sorted: Vec<&RolloutRecord> = records.iter().collect();
    // Stable: within each group, newest first.
    sorted.sort_by(|a, b| {
        (a.finished_at.is_some(), -a.started_at)
            .partial_cmp(&(b.finished_at.is_some(), -b.started_at))
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut body = String::from(
        "<h1>Rollouts</h1>\n<table id=\"rollouts\"><thead><tr><th>id</th><th>service</th>\
<th>rev</th><th>outcome</th><th>weight</th><th>started</th></tr></thead><tbody>\n",
    );
    for r in sorted {
        let class = if r.finished_at.is_none() {
            " class=\"running\""
        } else {
            ""
        };
        let _ = writeln!(
            body,
            "<tr{class}><td><a href=\"/rollouts/{}{}\">{}</a></td><td>{}</td><td>{}</td>\
<td>{}</td><td>{}%</td><td>{}</td></tr>",
            url_segment(&r.id),
            escape(query),
            escape(&r.id),
            escape(&r.service),
            escape(&r.rev),
            escape(&phase(r)),
            r.weight,
            utc(r.started_at)
        );
    }
    body.push_str("</tbody></table>");
    document("deploy-agent rollouts", &body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(seq: u64, at: f64, kind: &str, payload: serde_json::Value) -> StoredEvent {
        StoredEvent {
            rollout_id: "r".into(),
            seq,
            at,
            wall: 0.0,
            kind: kind.into(),
            payload,
        }
    }

    fn record(finished: bool) -> RolloutRecord {
        RolloutRecord {
            id: "checkout-<b>".into(),
            service: "checkout".into(),
            rev: "abc".into(),
            target: "sim:healthy".into(),
            planner: "playbook".into(),
            started_at: 1_800_000_000.0,
            finished_at: finished.then_some(1_800_000_100.0),
            outcome: finished.then(|| "promoted".into()),
            weight: if finished { 100 } else { 25 },
            reason: Some("<script>alert(1)</script>".into()),
        }
    }

    #[test]
    fn list_puts_live_rollouts_first_and_links_each_page() {
        let mut done = record(true);
        done.id = "done".into();
        let mut live = record(false);
        live.id = "live one".into();
        let mut older = record(true);
        older.id = "older".into();
        older.started_at -= 100.0;
        let page = list_page(&[older, done, live], "?token=t");
        let at = |id: &str| page.find(&format!(">{id}<")).unwrap();
        assert!(
            at("live one") < at("done") && at("done") < at("older"),
            "{page}"
        );
        assert!(page.contains("href=\"/rollouts/live+one?token=t\""));
        assert!(page.contains("<td>2027-01-15 08:00:00 UTC</td>"), "{page}");
    }

    #[test]
    fn the_weight_follows_changes_and_the_final_event() {
        let events = [
            event(1, 1000.0, "started", json!({})),
            event(2, 1050.0, "weight_changed", json!({"from": 0, "to": 50})),
            event(
                3,
                1100.0,
                "finished",
                json!({"outcome": "promoted", "weight": 100}),
            ),
        ];
        assert_eq!(weight_after(7, &events[0]), 7);
        assert_eq!(weight_after(0, &events[1]), 50);
        assert_eq!(weight_after(0, &events[2]), 100);
    }
}
