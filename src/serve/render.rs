//! The HTML and SVG of serve's read-only pages, rendered on the server so they
//! are complete without JavaScript. Every text that comes from the journal (a
//! model-written explanation, an approval summary, a reason) goes through
//! [`escape`]: it can hold markup.
//!
//! [`rollout_page`] is this module's stand-in for the full chart page
//! (`crate::chart::html`, issue 19 item 1): it carries the same element ids
//! (`#weight`, `#outcome`, `#events`, `#chart`) the live script updates.

use std::fmt::Write;

use crate::journal::{RolloutRecord, StoredEvent};

/// Text made safe for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
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

/// Wall time as `YYYY-MM-DD HH:MM:SS UTC` (no date crate: days from the epoch).
pub fn utc(unix: f64) -> String {
    let secs = unix.max(0.0) as i64;
    let (days, rest) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
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

/// An event's fields as one line of text (unescaped: the caller escapes).
pub fn detail(event: &StoredEvent) -> String {
    match event.payload.as_object() {
        Some(fields) => fields
            .iter()
            .map(|(k, v)| match v {
                serde_json::Value::String(s) => format!("{k}={s}"),
                v => format!("{k}={v}"),
            })
            .collect::<Vec<_>>()
            .join(" "),
        None => event.payload.to_string(),
    }
}

/// The rollout clock's time of its first event: rows and the chart count from it
/// (the simulator's virtual clock starts far from zero).
pub fn start(events: &[StoredEvent]) -> f64 {
    events.first().map_or(0.0, |e| e.at)
}

/// One `<tr>` of the events table; `start` from [`start`].
pub fn event_row(event: &StoredEvent, start: f64) -> String {
    format!(
        "<tr><td>{}</td><td>{:.1}</td><td>{}</td><td>{}</td></tr>",
        event.seq,
        event.at - start,
        escape(&event.kind),
        escape(&detail(event))
    )
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

/// The page of one rollout: a complete document with `#weight`, `#outcome`,
/// `#chart` and `#events` (its `data-last-seq` the last event shown).
pub fn rollout_page(record: &RolloutRecord, events: &[StoredEvent]) -> String {
    let last_seq = events.last().map_or(0, |e| e.seq);
    let mut rows = String::new();
    for e in events {
        rows.push_str(&event_row(e, start(events)));
        rows.push('\n');
    }
    let body = format!(
        "<h1>{id}</h1>\n<p>{service} at {rev} (target {target}, planner {planner}), started {started}</p>\n\
<p>weight <span id=\"weight\">{weight}</span>% &middot; <span id=\"outcome\">{outcome}</span></p>\n\
<p id=\"reason\">{reason}</p>\n<div id=\"chart\">{chart}</div>\n\
<table id=\"events\" data-last-seq=\"{last_seq}\"><thead><tr><th>seq</th><th>at (s)</th>\
<th>event</th><th>detail</th></tr></thead><tbody>\n{rows}</tbody></table>",
        id = escape(&record.id),
        service = escape(&record.service),
        rev = escape(&record.rev),
        target = escape(&record.target),
        planner = escape(&record.planner),
        started = utc(record.started_at),
        weight = record.weight,
        outcome = escape(&phase(record)),
        reason = escape(record.reason.as_deref().unwrap_or("")),
        chart = chart_svg(events),
    );
    document(&record.id, &body)
}

/// Canary weight (0–100 %) over the rollout's clock, as a hand-made polyline.
pub fn chart_svg(events: &[StoredEvent]) -> String {
    const W: f64 = 600.0;
    const H: f64 = 200.0;
    let t0 = start(events);
    let end = (events.last().map_or(0.0, |e| e.at) - t0).max(1.0);
    let mut weight = 0;
    let mut points = format!("0,{H}");
    for e in events {
        let next = weight_after(weight, e);
        if next != weight {
            let x = (e.at - t0).max(0.0) / end * W;
            let _ = write!(
                points,
                " {x:.1},{:.1} {x:.1},{:.1}",
                H - f64::from(weight) * H / 100.0,
                H - f64::from(next) * H / 100.0
            );
            weight = next;
        }
    }
    let _ = write!(points, " {W},{:.1}", H - f64::from(weight) * H / 100.0);
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {W} {H}\" width=\"{W}\" height=\"{H}\" \
role=\"img\" aria-label=\"canary weight over time\"><rect width=\"{W}\" height=\"{H}\" fill=\"#f8f8f8\"/>\
<polyline fill=\"none\" stroke=\"#2a6\" stroke-width=\"2\" points=\"{points}\"/></svg>"
    )
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
    fn journal_text_is_escaped_everywhere_on_the_page() {
        let events = [
            event(1, 100.0, "started", json!({"rev": "abc"})),
            event(
                2,
                110.0,
                "explained",
                json!({"text": "<script>alert(2)</script>"}),
            ),
        ];
        let page = rollout_page(&record(false), &events);
        assert!(!page.contains("<script>"), "{page}");
        assert!(!page.contains("<b>"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("text=&lt;script&gt;alert(2)&lt;/script&gt;"));
        assert!(page.contains("<span id=\"weight\">25</span>"));
        assert!(page.contains("<span id=\"outcome\">running</span>"));
        assert!(page.contains("data-last-seq=\"2\""));
        assert_eq!(escape("a&'\""), "a&amp;&#39;&quot;");
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
    fn chart_steps_through_the_weights_from_the_first_event() {
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
        let svg = chart_svg(&events);
        assert!(
            svg.contains("points=\"0,200 300.0,200.0 300.0,100.0 600.0,100.0 600.0,0.0 600,0.0\""),
            "{svg}"
        );
        assert_eq!(weight_after(7, &events[0]), 7);
        assert_eq!(weight_after(0, &events[2]), 100);
    }
}
