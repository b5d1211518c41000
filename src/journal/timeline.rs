//! Rendering the journal for people (`history`, `show`) and for programs (JSON).
//!
//! Events are read back as JSON values, not as [`crate::rollout::events::Event`],
//! so an old journal still renders after the event type grows: unknown kinds and
//! missing fields show as raw JSON or blanks rather than failing.

use serde_json::{json, Value};

use super::{ApprovalVote, RolloutRecord, StoredEvent};
use crate::report::describe_strategy;

/// `history` as a table, newest first.
///
/// A rollout in `awaiting` waits for a human: it says so, and how to answer,
/// rather than "unfinished" (which also means a crashed one, for `resume`).
pub fn render_history(records: &[RolloutRecord], awaiting: &[String]) -> String {
    if records.is_empty() {
        return "no rollouts in the journal\n".into();
    }
    let waiting = |r: &RolloutRecord| r.outcome.is_none() && awaiting.contains(&r.id);
    let rows: Vec<[String; 7]> = records
        .iter()
        .map(|r| {
            [
                r.id.clone(),
                r.service.clone(),
                short_rev(&r.rev).to_string(),
                utc(r.started_at),
                match (&r.outcome, waiting(r)) {
                    (Some(o), _) => o.clone(),
                    (None, true) => "awaiting approval".into(),
                    (None, false) => "unfinished".into(),
                },
                format!("{}%", r.weight),
                if waiting(r) {
                    format!("answer: deploy-agent approve {} (or --reject)", r.id)
                } else {
                    with_handover(r)
                },
            ]
        })
        .collect();
    let header = [
        "ID",
        "SERVICE",
        "REV",
        "STARTED (UTC)",
        "OUTCOME",
        "WEIGHT",
        "REASON",
    ];
    let mut out = table(&header, &rows);
    if records.iter().any(|r| r.outcome.is_none() && !waiting(r)) {
        out.push_str("\nunfinished: still running, or stopped (Ctrl-C, a crash): `deploy-agent resume` takes over the stopped ones\n");
    }
    out
}

/// The reason column, and the planners when one handed over to another (a
/// model that could not go on): an outcome the playbook reached says so.
fn with_handover(r: &RolloutRecord) -> String {
    let reason = r.reason.clone().unwrap_or_default();
    if !r.planner.contains(" → ") {
        return reason;
    }
    format!("{reason} [planner {}]", r.planner)
}

/// `show`: the rollout's header, then one line per event.
pub fn render_timeline(record: &RolloutRecord, events: &[StoredEvent]) -> String {
    let mut out = format!(
        "rollout {}\nservice {}  rev {}  target {}  planner {}\nstarted {} UTC  {}\n\n",
        record.id,
        record.service,
        short_rev(&record.rev),
        record.target,
        record.planner,
        utc(record.started_at),
        ending(record),
    );
    if events.is_empty() {
        out.push_str("no events recorded\n");
        return out;
    }
    let start = events.first().map_or(0.0, |e| e.at);
    let rows: Vec<[String; 3]> = events
        .iter()
        .map(|e| {
            [
                offset(e.at - start),
                e.kind.clone(),
                detail(&e.kind, &e.payload),
            ]
        })
        .collect();
    out.push_str(&table(&["TIME", "EVENT", "DETAIL"], &rows));
    out
}

/// The votes on a rollout's approval, one line each, after its timeline: with two
/// approvers required, the decision event names only the last one.
pub fn render_votes(votes: &[ApprovalVote]) -> String {
    if votes.is_empty() {
        return String::new();
    }
    let mut out = String::from("\napproval votes\n");
    for v in votes {
        let verb = if v.approved { "approved" } else { "rejected" };
        out.push_str(&format!(
            "  {} UTC  {verb} by {}: {}\n",
            utc(v.at),
            v.by,
            v.reason
        ));
    }
    out
}

/// `history --format json`.
pub fn history_json(records: &[RolloutRecord]) -> Value {
    json!(records)
}

/// `show --format json`.
pub fn timeline_json(
    record: &RolloutRecord,
    events: &[StoredEvent],
    votes: &[ApprovalVote],
) -> Value {
    json!({ "rollout": record, "events": events, "approval_votes": votes })
}

fn ending(r: &RolloutRecord) -> String {
    match (&r.outcome, r.finished_at) {
        (Some(outcome), Some(at)) => format!(
            "finished {} UTC: {outcome} at {}% — {}",
            utc(at),
            r.weight,
            r.reason.as_deref().unwrap_or("")
        ),
        _ => format!("unfinished (last weight {}%)", r.weight),
    }
}

/// The detail column: what a person needs from each kind of event.
pub(crate) fn detail(kind: &str, p: &Value) -> String {
    match kind {
        "started" => format!("{} on {}", text(p, "service"), text(p, "target")),
        "assessed" => assessed(&p["risk"]),
        "planner_turn" => format!(
            "turn {}: {} calls, {}+{} tokens{}",
            p["turn"],
            p["calls"],
            p["prompt_tokens"],
            p["completion_tokens"],
            p["message"]
                .as_str()
                .map(|m| format!(" — {}", clip(m, 120)))
                .unwrap_or_default()
        ),
        "tool_proposed" => format!("{}({})", text(p, "tool"), clip(text(p, "arguments"), 120)),
        "tool_executed" => format!("{}: {}", text(p, "tool"), text(p, "detail")),
        "tool_failed" => format!("{}: {}", text(p, "tool"), text(p, "error")),
        "vetoed" => format!(
            "{} {}: {}",
            text(p, "tool"),
            text(p, "rule"),
            text(p, "reason")
        ),
        "weight_changed" => format!("{}% → {}%", p["from"], p["to"]),
        "judged" => judged(p),
        "approval_requested" => clip(text(p, "summary"), 160),
        "approval_decided" => approval_decided(p),
        "auto_rollback" => text(p, "reason").to_string(),
        "explained" => explained(p),
        "budget_exhausted" => format!("{}: {}", text(p, "rule"), text(p, "detail")),
        "planner_handover" => format!(
            "{} → {} at turn {}: {}",
            text(p, "from"),
            text(p, "to"),
            p["turn"],
            text(p, "reason")
        ),
        "strategy_chosen" => strategy_chosen(p),
        "metrics_added" => format!(
            "judging also {}: {}",
            p["metrics"]
                .as_array()
                .map(|m| m
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(", "))
                .unwrap_or_default(),
            text(p, "reason")
        ),
        "calibrated" => format!("{} baseline minutes: {}", p["windows"], text(p, "detail")),
        "resumed" => format!("at {}%: {}", p["weight"], text(p, "detail")),
        "finished" => format!(
            "{} at {}%: {}",
            text(p, "outcome"),
            p["weight"],
            text(p, "reason")
        ),
        _ => p.to_string(),
    }
}

/// `(model) The canary …` or `(template) … — the model's explanation was withheld: …`.
fn explained(p: &Value) -> String {
    let withheld = p["withheld"]
        .as_str()
        .map(|w| format!(" — {w}"))
        .unwrap_or_default();
    format!("({}) {}{withheld}", text(p, "by"), text(p, "text"))
}

/// `high strategy chosen: canary: 5% first, … — <reason>`.
fn strategy_chosen(p: &Value) -> String {
    let strategy = serde_json::from_value::<crate::policy::Strategy>(p["strategy"].clone())
        .map_or_else(|_| p["strategy"].to_string(), |s| describe_strategy(&s));
    format!(
        "{} strategy chosen: {strategy} — {}",
        text(p, "level"),
        text(p, "reason")
    )
}

fn assessed(risk: &Value) -> String {
    let approval = if risk["requires_approval"].as_bool() == Some(true) {
        ", approval required"
    } else {
        ""
    };
    format!(
        "risk {:.2} ({}){approval}",
        risk["score"].as_f64().unwrap_or(f64::NAN),
        text(risk, "level")
    )
}

/// `pass at 25%: canary 1200 req, baseline 4800 req — <summary>`.
fn judged(p: &Value) -> String {
    let v = &p["verdict"];
    let mut line = format!(
        "{} at {}%: canary {} req, baseline {} req",
        text(v, "kind"),
        p["weight"],
        v["canary_requests"],
        v["baseline_requests"]
    );
    let summary = text(v, "summary");
    if !summary.is_empty() {
        line.push_str(&format!(" — {summary}"));
    }
    line
}

fn approval_decided(p: &Value) -> String {
    let verb = if p["approved"].as_bool() == Some(true) {
        "approved"
    } else {
        "rejected"
    };
    let by = p["by"].as_str().unwrap_or("nobody");
    format!("{verb} by {by}: {}", text(p, "reason"))
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn clip(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max).collect();
    out.push('…');
    out
}

pub(crate) fn short_rev(rev: &str) -> &str {
    rev.get(..10).unwrap_or(rev)
}

/// `  2m05s` from the first event (the rollout's own clock).
pub(crate) fn offset(secs: f64) -> String {
    let t = secs.max(0.0);
    format!("{:>3}m{:02}s", (t / 60.0) as u64, (t % 60.0) as u64)
}

/// `2026-11-29 13:55:20` for unix seconds (proleptic Gregorian, UTC).
pub fn utc(unix: f64) -> String {
    let secs = unix.max(0.0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Howard Hinnant's `civil_from_days`: days since 1970-01-01 → (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Left-aligned columns two spaces apart; the last column is not padded.
fn table<const N: usize>(header: &[&str; N], rows: &[[String; N]]) -> String {
    let mut widths: [usize; N] = header.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, cell) in cells.iter().enumerate() {
            if i + 1 == N {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  ", w = widths[i]));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(header.to_vec());
    for row in rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}
