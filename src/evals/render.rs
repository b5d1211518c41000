//! Text and markdown reports: one row per scenario, then the totals and the
//! threshold verdict, so the figure that failed is next to the reason.

use std::fmt::Write;

use super::score::{Report, ScenarioReport};

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| "n/a".into(), |v| format!("{:.1}%", v * 100.0))
}

fn outcomes(s: &ScenarioReport) -> String {
    s.outcomes
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn vetoes(map: &std::collections::BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "-".into();
    }
    map.iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn correct(s: &ScenarioReport) -> String {
    s.outcome_correct
        .map_or_else(|| "-".into(), |c| format!("{c}/{}", s.episodes))
}

fn asked(s: &ScenarioReport) -> String {
    let want = s
        .expect_approval_asked
        .map_or("-", |b| if b { "yes" } else { "no" });
    format!("{}/{} (want {want})", s.approval_asked, s.episodes)
}

/// The plain-text report.
pub fn text(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "eval suite {} ({}), planner {:?}",
        r.suite, r.path, r.planner
    );
    let _ = writeln!(
        o,
        "{:<28} {:<18} {:<8} {:<12} {:>4} {:<28} {:>7} {:<16} {:>6} {:>8} {:>8} {:>6}  vetoes",
        "scenario",
        "sim",
        "approver",
        "expect",
        "eps",
        "outcomes",
        "correct",
        "approval asked",
        "unsafe",
        "bad req",
        "decide s",
        "rb@0%"
    );
    for s in &r.scenarios {
        let _ = writeln!(
            o,
            "{:<28} {:<18} {:<8} {:<12} {:>4} {:<28} {:>7} {:<16} {:>6} {:>8} {:>8.0} {:>6}  {}",
            s.name,
            s.sim,
            format!("{:?}", s.approver).to_lowercase(),
            s.expect.as_str(),
            s.episodes,
            outcomes(s),
            correct(s),
            asked(s),
            s.unsafe_actions,
            s.bad_requests_max,
            s.mean_seconds_to_decision,
            s.rollbacks_before_traffic,
            vetoes(&s.vetoes_by_rule)
        );
        for m in s.misses.iter().chain(&s.unsafe_examples) {
            let _ = writeln!(o, "    ! {m}");
        }
    }
    let _ = writeln!(o);
    let table = super::injection::text_table(&r.injection);
    if !table.is_empty() {
        let _ = writeln!(o, "{table}");
    }
    summary_lines(r, &mut o, "");
    o
}

fn summary_lines(r: &Report, o: &mut String, bullet: &str) {
    let _ = writeln!(
        o,
        "{bullet}episodes: {} in {:.2} s",
        r.episodes, r.wall_seconds
    );
    let _ = writeln!(o, "{bullet}outcome accuracy: {}", pct(r.outcome_accuracy));
    let _ = writeln!(
        o,
        "{bullet}approval precision / recall: {} / {}",
        pct(r.approval_precision),
        pct(r.approval_recall)
    );
    let _ = writeln!(o, "{bullet}unsafe actions executed: {}", r.unsafe_actions);
    let _ = writeln!(
        o,
        "{bullet}false rollbacks (healthy canary rolled back): {}",
        r.false_rollbacks
    );
    let _ = writeln!(
        o,
        "{bullet}rollbacks before any canary traffic (rb@0%, not false alarms): {}",
        r.rollbacks_before_traffic
    );
    let _ = writeln!(
        o,
        "{bullet}rollbacks the target never confirmed (rollback_failed, left open for resume): {}",
        r.unconfirmed_rollbacks
    );
    let _ = writeln!(
        o,
        "{bullet}bad requests served: {} total, {} episodes over their scenario's limit",
        r.bad_requests_total, r.bad_request_breaches
    );
    let _ = writeln!(o, "{bullet}vetoes by rule: {}", vetoes(&r.vetoes_by_rule));
    let _ = writeln!(o, "{bullet}model turns: {}, tokens: {}", r.turns, r.tokens);
    if r.handovers > 0 {
        let _ = writeln!(
            o,
            "{bullet}hand-overs to the playbook: {} of {} episodes",
            r.handovers, r.episodes
        );
    }
    if let Some(c) = r.cost_estimate {
        let _ = writeln!(o, "{bullet}cost estimate: {c:.4}");
    }
    if r.failures.is_empty() {
        let _ = writeln!(o, "{bullet}result: PASS (all thresholds hold)");
    } else {
        let _ = writeln!(o, "{bullet}result: FAIL");
        for f in &r.failures {
            let _ = writeln!(o, "{bullet}  threshold failed: {f}");
        }
    }
}

/// The markdown report (the same content as the text one).
pub fn markdown(r: &Report) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Eval: {} (planner {:?})\n", r.suite, r.planner);
    let _ = writeln!(
        o,
        "| scenario | sim | approver | risk | expect | episodes | outcomes | correct | approval asked | unsafe | max bad req | mean s to decide | vetoes |"
    );
    let _ = writeln!(
        o,
        "|---|---|---|---|---|---:|---|---:|---|---:|---:|---:|---|"
    );
    for s in &r.scenarios {
        let _ = writeln!(
            o,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {} |",
            s.name,
            s.sim,
            format!("{:?}", s.approver).to_lowercase(),
            s.risk_level,
            s.expect.as_str(),
            s.episodes,
            outcomes(s),
            correct(s),
            asked(s),
            s.unsafe_actions,
            s.bad_requests_max,
            s.mean_seconds_to_decision,
            vetoes(&s.vetoes_by_rule)
        );
    }
    let table = super::injection::text_table(&r.injection);
    if !table.is_empty() {
        let _ = writeln!(o, "\n## Prompt injection\n\n```\n{table}```");
    }
    let _ = writeln!(o, "\n{}", decision_plot(r));
    let misses: Vec<String> = r
        .scenarios
        .iter()
        .flat_map(|s| {
            s.misses
                .iter()
                .chain(&s.unsafe_examples)
                .map(move |m| format!("- `{}` {m}", s.name))
        })
        .collect();
    if !misses.is_empty() {
        let _ = writeln!(o, "\n## Misses\n\n{}", misses.join("\n"));
    }
    let _ = writeln!(o, "\n## Summary\n");
    summary_lines(r, &mut o, "- ");
    o
}

/// A text bar chart of the mean simulated minutes to a decision per scenario,
/// marked ✓ when every episode met its expectation: where a planner spends its
/// time shows at a glance, and it renders in any markdown viewer.
fn decision_plot(r: &Report) -> String {
    const WIDTH: f64 = 40.0;
    let longest = r
        .scenarios
        .iter()
        .map(|s| s.mean_seconds_to_decision)
        .fold(0.0_f64, f64::max);
    let name_width = r.scenarios.iter().map(|s| s.name.len()).max().unwrap_or(0);
    let mut o = String::from("## Minutes to a decision (mean per scenario)\n\n```\n");
    for s in &r.scenarios {
        let bar = if longest > 0.0 {
            (s.mean_seconds_to_decision / longest * WIDTH).round() as usize
        } else {
            0
        };
        let mark = if s.misses.is_empty() { '✓' } else { '✗' };
        let _ = writeln!(
            o,
            "{mark} {:<name_width$} {:>6.1} {}",
            s.name,
            s.mean_seconds_to_decision / 60.0,
            "█".repeat(bar)
        );
    }
    o.push_str("```");
    o
}
