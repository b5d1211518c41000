use serde_json::json;

use super::*;
use crate::journal::{RolloutRecord, StoredEvent};
use crate::policy::{Level, Policy};
use crate::risk::model::Factor;

const HOSTILE: &str = "<script>alert(1)</script>\"'&";

fn record() -> RolloutRecord {
    RolloutRecord {
        id: "r1".into(),
        service: "checkout".into(),
        rev: "0123456789abcdef".into(),
        target: "sim:error_spike".into(),
        planner: "chaos".into(),
        started_at: 1_800_000_000.0,
        finished_at: Some(1_800_000_600.0),
        outcome: Some("rolled_back".into()),
        weight: 0,
        reason: Some(format!("judge failed {HOSTILE}")),
    }
}

fn event(seq: u64, at: f64, kind: &str, payload: serde_json::Value) -> StoredEvent {
    StoredEvent {
        rollout_id: "r1".into(),
        seq,
        at,
        wall: 1_800_000_000.0 + at,
        kind: kind.into(),
        payload,
    }
}

fn check(metric: &str, e: f64, canary: f64, baseline: f64) -> serde_json::Value {
    json!({"metric": metric, "verdict": "inconclusive", "canary": canary, "baseline": baseline,
           "statistic": e, "detail": format!("e-value {e:.3} (fail at 21)")})
}

fn events() -> Vec<StoredEvent> {
    let verdict = |kind: &str, e: f64| {
        json!({"kind": kind, "canary_requests": 100, "baseline_requests": 900, "summary": "s",
               "checks": [check("error_rate", e, 0.05, 0.01), check("latency_distribution", 1.0, 120.0, 100.0)],
               "harm": {"error_ratio_upper": 6.0, "baseline_error_rate": 0.01, "slower_upper": 0.6, "confidence": 0.9}})
    };
    vec![
        event(
            1,
            10.0,
            "assessed",
            json!({"risk": {"score": 0.62, "level": "high"}}),
        ),
        event(
            2,
            11.0,
            "approval_requested",
            json!({"summary": "migration"}),
        ),
        event(
            3,
            20.0,
            "approval_decided",
            json!({"approved": true, "by": "alice", "reason": "ok"}),
        ),
        event(
            4,
            21.0,
            "vetoed",
            json!({"call_id": "c1", "tool": "set_weight", "rule": "max_step", "reason": HOSTILE}),
        ),
        event(
            5,
            22.0,
            "vetoed",
            json!({"call_id": "c2", "tool": "promote", "rule": "promote_needs_pass", "reason": "no pass"}),
        ),
        event(
            6,
            23.0,
            "tool_proposed",
            json!({"call_id": "c3", "tool": "set_weight", "arguments": "{\"weight\":5}"}),
        ),
        event(7, 24.0, "weight_changed", json!({"from": 0, "to": 5})),
        event(
            8,
            84.0,
            "judged",
            json!({"weight": 5, "verdict": verdict("inconclusive", 2.0)}),
        ),
        event(9, 90.0, "weight_changed", json!({"from": 5, "to": 25})),
        event(
            10,
            150.0,
            "judged",
            json!({"weight": 25, "verdict": verdict("fail", 40.0)}),
        ),
        event(
            11,
            151.0,
            "auto_rollback",
            json!({"reason": "judge failed"}),
        ),
        event(12, 152.0, "weight_changed", json!({"from": 25, "to": 0})),
        event(
            13,
            153.0,
            "explained",
            json!({"text": HOSTILE, "by": "model"}),
        ),
        event(
            14,
            154.0,
            "finished",
            json!({"outcome": "rolled_back", "reason": "judge failed", "weight": 0}),
        ),
    ]
}

#[test]
fn the_model_reads_weights_judgements_and_markers() {
    let c = RolloutChart::build(&record(), &events());
    assert_eq!(c.max_weight(), 25);
    assert_eq!(c.risk, Some((0.62, "high".into())));
    assert_eq!(c.judgements.len(), 2);
    let j = &c.judgements[1];
    assert_eq!((j.weight, j.verdict.as_str()), (25, "fail"));
    assert!((j.error_upper.unwrap() - 0.06).abs() < 1e-12);
    assert_eq!(j.evidence[0].threshold, Some(21.0));
    let vetoes: Vec<_> = c
        .markers
        .iter()
        .filter(|m| m.kind == MarkerKind::Veto)
        .collect();
    assert_eq!(vetoes.len(), 2);
    assert_eq!(vetoes[0].rule.as_deref(), Some("max_step"));
    assert_eq!(c.explanation.as_deref(), Some(HOSTILE));
    assert_eq!(c.weights.last(), Some(&(144.0, 0)));
}

#[test]
fn fail_at_reads_the_threshold_from_a_checks_detail() {
    assert_eq!(
        fail_at("e-value 0.123 (fail at 21), pass evidence"),
        Some(21.0)
    );
    assert_eq!(fail_at("mSPRT e-value 1.000 (fail at 800)"), Some(800.0));
    assert_eq!(fail_at("no threshold here"), None);
}

#[test]
fn svg_escapes_event_text_and_has_one_marker_per_veto() {
    let s = svg(&record(), &events());
    assert!(s.starts_with("<svg"), "{}", &s[..80]);
    assert!(s.trim_end().ends_with("</svg>"));
    assert!(!s.contains("<script"), "unescaped model text in the SVG");
    assert!(s.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert_eq!(s.matches("class=\"marker veto\"").count(), 2);
    assert!(s.contains("data-rule=\"max_step\""));
    assert!(s.contains("data-rule=\"promote_needs_pass\""));
    assert_eq!(s.matches("class=\"marker verdict\"").count(), 2);
    assert!(s.contains("data-verdict=\"fail\""));
    assert_eq!(s.matches("class=\"marker approval\"").count(), 2);
    assert_eq!(s.matches("class=\"marker outcome\"").count(), 1);
    assert!(s.contains("fails at 21"), "the threshold is labelled");
    assert_eq!(s.matches("<g").count(), s.matches("</g>").count());
    // The two vetoes, a second apart, are set side by side to be hovered apart.
    let cx: Vec<i32> = s
        .split("class=\"marker veto\"")
        .skip(1)
        .filter_map(|g| g.split("cx=\"").nth(1)?.split('"').next()?.parse().ok())
        .collect();
    assert_eq!(cx.len(), 2);
    assert!(cx[1] - cx[0] >= 9, "{cx:?}");
}

#[test]
fn html_is_one_page_without_scripts_and_with_live_ids() {
    let h = html(&record(), &events());
    assert!(h.starts_with("<!DOCTYPE html>"));
    assert!(!h.contains("<script"), "unescaped model text in the page");
    // The one link is the empty inline favicon (so a browser asks for no
    // /favicon.ico); nothing is loaded from anywhere.
    assert!(!h.contains("src="), "no external assets");
    assert_eq!(h.matches("href=").count(), 1, "no external assets");
    assert!(h.contains("<link rel=\"icon\" href=\"data:,\">"));
    for id in [
        "weight", "outcome", "reason", "events", "chart", "summary", "risk", "level",
    ] {
        assert!(h.contains(&format!("id=\"{id}\"")), "no #{id}");
    }
    assert!(h.contains("<span id=\"max-weight\">25</span>"));
    assert!(h.contains("<span id=\"outcome\" class=\"outcome-rolled_back\">rolled_back</span>"));
    assert!(h.contains("<span id=\"explanation\">&lt;script&gt;"));
    assert_eq!(h.matches("<tr data-seq=").count(), 14);
    assert_eq!(h.matches("<table").count(), h.matches("</table>").count());
}

#[test]
fn mermaid_weight_line_has_a_point_per_weight() {
    let m = mermaid(&record(), &events());
    assert!(m.starts_with("```mermaid\nxychart-beta\n"), "{m}");
    assert!(m.ends_with("```\n"));
    let line = m
        .lines()
        .find(|l| l.trim_start().starts_with("line ["))
        .unwrap();
    assert_eq!(line.trim(), "line [0, 5, 25, 0, 0]");
    let x = m
        .lines()
        .find(|l| l.trim_start().starts_with("x-axis"))
        .unwrap();
    assert_eq!(x.matches('"').count(), 2 * 5);
}

#[test]
fn mermaid_labels_lose_quotes_brackets_and_newlines() {
    assert_eq!(mermaid_label("a\"b]\n[c`d"), "a b c d");
    assert_eq!(mermaid_label("files_touched: 12%"), "files_touched: 12%");
    assert_eq!(mermaid_label(&"x".repeat(100)).len(), 40);
}

fn factor(name: &str, contribution: f64) -> Factor {
    Factor {
        name: name.into(),
        value: 1.0,
        weight: contribution,
        policy_weight: contribution,
        contribution,
        evidence: String::new(),
        percentile: None,
    }
}

#[test]
fn risk_factor_bars_are_the_largest_with_sanitised_labels_and_thresholds() {
    let policy = Policy::embedded().expect("policy");
    let mut a = crate::commands::bench::synthetic_assessment(&policy, Level::High);
    a.factors = (0..8)
        .map(|i| factor(&format!("f{i}"), 0.1 * f64::from(i)))
        .chain([factor("evil\"]\nbar [99]", -2.0), factor("zero", 0.0)])
        .collect();
    let m = risk_factors_mermaid(&a);
    let lines: Vec<&str> = m.lines().collect();
    assert_eq!(&lines[..2], ["```mermaid", "xychart-beta"]);
    assert_eq!(*lines.last().unwrap(), "```");
    let bars: Vec<&str> = lines
        .iter()
        .filter(|l| l.trim_start().starts_with("bar"))
        .copied()
        .collect();
    assert_eq!(
        bars.len(),
        1,
        "the hostile name made no statement of its own: {m}"
    );
    assert_eq!(bars[0].matches(',').count() + 1, 6);
    assert!(bars[0].contains("-2"));
    let x = lines.iter().find(|l| l.contains("x-axis")).unwrap();
    assert!(x.contains("\"evil bar 99\""), "{x}");
    assert_eq!(x.matches('"').count(), 12);
    let t = &policy.levels;
    assert!(
        lines[2].contains(&format!("high ≥ {:.2}", t.high)),
        "{}",
        lines[2]
    );
    a.factors.clear();
    assert_eq!(risk_factors_mermaid(&a), "");
}

#[test]
fn a_rollout_without_events_still_draws() {
    let mut r = record();
    r.outcome = None;
    r.finished_at = None;
    let s = svg(&r, &[]);
    assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
    assert!(!s.contains("class=\"marker"));
    assert!(s.contains("<tspan id=\"svg-outcome\">running</tspan>"));
    let h = html(&r, &[]);
    assert!(h.contains("<span id=\"outcome\" class=\"outcome-running\">running</span>"));
    assert_eq!(h.matches("<tr data-seq=").count(), 0);
}
