//! The HTML page: one file a person can open or mail, and the body `serve`
//! shows live. No scripts and no external assets; the values a live page
//! replaces carry ids (`weight`, `outcome`, `reason`, `chart`, `events`).

use std::fmt::Write;

use super::model::RolloutChart;
use super::{escape, svg};

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em;color:#222}\
table{border-collapse:collapse;margin:1em 0}\
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left;vertical-align:top}\
th{background:#f4f4f4;white-space:nowrap}\
#events td:first-child{white-space:nowrap;font-family:monospace}\
#events td:last-child,#summary td{overflow-wrap:anywhere}\
.outcome-promoted{color:#2a9d3a}.outcome-rolled_back,.outcome-aborted,.outcome-rollback_failed{color:#d62828}\
#chart svg{max-width:100%;height:auto}\
.marker{cursor:help}";

pub(super) fn render(chart: &RolloutChart) -> String {
    let outcome = chart.outcome_text();
    let mut s =
        String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(
        s,
        "<link rel=\"icon\" href=\"data:,\">\n<title>{} {} — {}</title>\n<style>{STYLE}</style>\n</head>\n<body>",
        escape(&chart.service),
        escape(chart.short_rev()),
        escape(outcome)
    );
    let _ = writeln!(
        s,
        "<h1>{} <code>{}</code>: <span id=\"outcome\" class=\"outcome-{}\">{}</span></h1>",
        escape(&chart.service),
        escape(chart.short_rev()),
        escape(outcome),
        escape(outcome)
    );
    s.push_str(&summary(chart));
    let _ = writeln!(s, "<div id=\"chart\">{}</div>", svg::render(chart));
    s.push_str(&events(chart));
    s.push_str("</body>\n</html>\n");
    s
}

fn summary(chart: &RolloutChart) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        ("rollout", escape(&chart.id)),
        ("target", escape(&chart.target)),
    ];
    if let Some((score, level)) = &chart.risk {
        rows.push(("risk", format!("<span id=\"risk\">{score:.2}</span>")));
        rows.push((
            "level",
            format!("<span id=\"level\">{}</span>", escape(level)),
        ));
    }
    rows.push((
        "planner",
        format!("<span id=\"planner\">{}</span>", escape(&chart.planner)),
    ));
    rows.push((
        "canary weight",
        format!(
            "<span id=\"weight\">{}</span>% (at most <span id=\"max-weight\">{}</span>%)",
            chart.weight,
            chart.max_weight()
        ),
    ));
    rows.push((
        "outcome",
        format!(
            "<span id=\"outcome-cell\">{}</span>",
            escape(chart.outcome_text())
        ),
    ));
    rows.push((
        "reason",
        format!(
            "<span id=\"reason\">{}</span>",
            escape(chart.reason.as_deref().unwrap_or(""))
        ),
    ));
    if let Some(text) = &chart.explanation {
        rows.push((
            "explanation",
            format!("<span id=\"explanation\">{}</span>", escape(text)),
        ));
    }
    let mut s = String::from("<table id=\"summary\">\n");
    for (k, v) in rows {
        let _ = writeln!(s, "<tr><th>{k}</th><td>{v}</td></tr>");
    }
    s.push_str("</table>\n");
    s
}

fn events(chart: &RolloutChart) -> String {
    // `data-last-seq`: where a live page's event stream picks up.
    let last = chart.rows.last().map_or(0, |r| r.seq);
    let mut s = format!(
        "<table id=\"events\" data-last-seq=\"{last}\">\n<thead><tr><th>time</th><th>event</th><th>detail</th></tr></thead>\n<tbody>\n",
    );
    for r in &chart.rows {
        let _ = writeln!(
            s,
            "<tr data-seq=\"{}\" class=\"event {}\"><td>{}</td><td>{}</td><td>{}</td></tr>",
            r.seq,
            escape(&r.kind),
            escape(&r.time),
            escape(&r.kind),
            escape(&r.detail)
        );
    }
    s.push_str("</tbody>\n</table>\n");
    s
}
