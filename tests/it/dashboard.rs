//! deploy/grafana-dashboard.json uses only metrics serve exports, and imports.

use deploy_agent::rollout::events::{Event, EventSink};
use deploy_agent::serve::metrics::Metrics;
use serde_json::Value;

/// Families in serve's exposition text (histograms with their series suffixes).
fn exported() -> Vec<String> {
    let metrics = Metrics::default();
    let mut sink = metrics.sink();
    sink.emit(
        0.0,
        &Event::ApprovalRequested {
            summary: "s".into(),
        },
    );
    sink.emit(
        3.0,
        &Event::ApprovalDecided {
            approved: true,
            by: None,
            reason: "ok".into(),
        },
    );
    let text = metrics.render();
    let mut names = Vec::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut parts = rest.split_whitespace();
            let (name, kind) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
            names.push(name.to_string());
            if kind == "histogram" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.push(format!("{name}{suffix}"));
                }
            }
        }
    }
    assert!(
        names
            .iter()
            .any(|n| n == "deploy_agent_approval_wait_seconds_bucket"),
        "{text}"
    );
    names
}

/// Every `deploy_agent_…` identifier in a PromQL expression.
fn metric_names(expr: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = expr;
    while let Some(at) = rest.find("deploy_agent_") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        out.push(tail[..end].to_string());
        rest = &tail[end..];
    }
    out
}

fn exprs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, v) in o {
                match (k.as_str(), v) {
                    ("expr", Value::String(e)) => out.push(e.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

#[test]
fn grafana_dashboard_uses_only_exported_metrics_and_imports() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana-dashboard.json");
    let text = std::fs::read_to_string(path).expect("deploy/grafana-dashboard.json");
    let dashboard: Value = serde_json::from_str(&text).expect("dashboard is JSON");
    assert!(
        dashboard["uid"].as_str().is_some_and(|u| !u.is_empty()),
        "a uid"
    );
    assert!(dashboard["title"].is_string(), "a title");
    let input = &dashboard["__inputs"][0];
    assert_eq!(input["type"], "datasource", "a datasource input");
    assert_eq!(input["pluginId"], "prometheus");
    let ds = format!("${{{}}}", input["name"].as_str().expect("input name"));

    let exported = exported();
    let mut all = Vec::new();
    exprs(&dashboard, &mut all);
    assert!(all.len() >= 5, "expressions: {all:?}");
    let mut used = Vec::new();
    for expr in &all {
        let names = metric_names(expr);
        assert!(!names.is_empty(), "`{expr}` uses no deploy_agent_ metric");
        for name in names {
            assert!(
                exported.contains(&name),
                "`{name}` (in `{expr}`) is not exported by serve: {exported:?}"
            );
            used.push(name);
        }
    }
    for wanted in [
        "deploy_agent_rollouts_total",
        "deploy_agent_vetoes_total",
        "deploy_agent_planner_handovers_total",
        "deploy_agent_takeovers_total",
        "deploy_agent_approval_wait_seconds_bucket",
    ] {
        assert!(used.iter().any(|u| u == wanted), "no panel shows {wanted}");
    }
    for panel in dashboard["panels"].as_array().expect("panels") {
        if panel["type"] != "row" {
            assert_eq!(
                panel["datasource"]["uid"], ds,
                "panel {} datasource",
                panel["title"]
            );
        }
    }
}
