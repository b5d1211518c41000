//! Markdown and JSON renderings of [`BenchResults`].

use std::fmt::Write;

use super::stats::Row;
use super::traffic::ScenarioKind;
use super::BenchResults;

/// JSON with every figure (the Markdown shows the same data).
pub fn render_json(results: &BenchResults) -> String {
    serde_json::to_string_pretty(results)
        .map_or_else(|e| format!("{{\"error\": \"{e}\"}}\n"), |s| s + "\n")
}

/// Markdown: settings, Wald bounds, one table per scenario, the targets.
pub fn render_markdown(r: &BenchResults) -> String {
    let mut out = String::new();
    let c = &r.config;
    let _ = writeln!(
        out,
        "## Canary judges on simulated traffic\n\n\
         seed {}, {} runs per cell ({} for a-a at 100 rps), 90 simulated minutes per run, \
         10 s windows, canary share 10 %, {:.0} s on {} threads. Ours: `SequentialJudge::default()` \
         (\"{}\").\n",
        c.seed, c.runs, c.aa_runs, r.elapsed_s, c.threads, r.judge_note
    );
    wald_section(&mut out, r);
    let _ = writeln!(
        out,
        "Rollback % is the false rollback rate (FRR) on healthy scenarios and the detection rate on bad \
         ones, with a 95 % Wilson interval. Times in simulated minutes; rollback figures over the runs \
         that rolled back; promote median over all runs (— when under half promoted). \
         Canary req / err: mean canary requests and errors served up to the rollback. \
         Efficiency: mean canary requests to rollback ÷ Wald bound.\n"
    );
    let mut scenario = "";
    for row in &r.rows {
        if row.scenario != scenario {
            scenario = row.scenario;
            let _ = writeln!(out, "\n### {} ({})\n", row.scenario, kind_label(row.kind));
            out.push_str(
                "| method | rps | runs | rollback % [95% CI] | promoted | undecided | \
                 rollback min median / p90 | canary req / err to rollback | promote min median | \
                 dead promotions | efficiency |\n\
                 |---|---|---|---|---|---|---|---|---|---|---|\n",
            );
        }
        table_row(&mut out, row);
    }
    targets_section(&mut out, r);
    out
}

fn kind_label(kind: ScenarioKind) -> &'static str {
    match kind {
        ScenarioKind::Healthy => "healthy: rollback % = FRR",
        ScenarioKind::Bad => "bad: rollback % = detection",
        ScenarioKind::Dead => "canary metrics missing: never promote",
    }
}

fn wald_section(out: &mut String, r: &BenchResults) {
    out.push_str(
        "### Wald bound: E[N | p1] of the oracle SPRT (α = 0.01, β = 0.05)\n\n\
         | scenario | p0 | p1 | E[N \\| p1] canary requests | minutes at rps |\n|---|---|---|---|---|\n",
    );
    for w in &r.wald {
        let at: Vec<String> = w
            .minutes_at
            .iter()
            .map(|(rps, m)| format!("{m:.1} @ {}", fmt_rps(*rps)))
            .collect();
        let _ = writeln!(
            out,
            "| {} | {:.1}% | {:.1}% | {:.0} | {} |",
            w.scenario,
            100.0 * w.p0,
            100.0 * w.p1,
            w.expected_n,
            at.join(", ")
        );
    }
    out.push('\n');
}

fn table_row(out: &mut String, row: &Row) {
    let (lo, hi) = row.rollback_ci;
    let _ = writeln!(
        out,
        "| {} | {} | {} | {:.2} [{:.2}, {:.2}] | {} | {} | {} / {} | {} / {} | {} | {} | {} |",
        row.method,
        fmt_rps(row.rps),
        row.runs,
        100.0 * row.rollback_rate,
        100.0 * lo,
        100.0 * hi,
        row.promotions,
        row.undecided,
        opt(row.rollback_minutes_median, 1),
        opt(row.rollback_minutes_p90, 1),
        opt(row.mean_canary_requests_to_rollback, 0),
        opt(row.mean_canary_errors_to_rollback, 1),
        opt(row.promote_minutes_median, 1),
        row.dead_promotions.map_or("—".into(), |n| n.to_string()),
        row.efficiency.map_or("—".into(), |e| format!("{e:.2}×")),
    );
}

fn targets_section(out: &mut String, r: &BenchResults) {
    out.push_str("\n### Targets (ours)\n\n| target | measured | met |\n|---|---|---|\n");
    for t in &r.targets.checks {
        let met = match t.met {
            Some(true) => "yes",
            Some(false) => "no",
            None => "n/a",
        };
        let _ = writeln!(out, "| {} | {} | {met} |", t.target, t.measured);
    }
}

fn fmt_rps(rps: f64) -> String {
    if rps.fract() == 0.0 {
        format!("{rps:.0}")
    } else {
        format!("{rps}")
    }
}

fn opt(x: Option<f64>, decimals: usize) -> String {
    x.map_or("—".into(), |v| format!("{v:.decimals$}"))
}

#[cfg(test)]
mod tests {
    use super::super::traffic::TrafficScenario;
    use super::super::{run, BenchConfig, Method};
    use super::*;

    #[test]
    fn small_run_renders_every_cell_and_target() {
        let mut config = BenchConfig::new(4, 1);
        config.aa_runs = 4;
        config.rps = vec![100.0, 0.5];
        config.scenarios = vec![
            TrafficScenario::Aa,
            TrafficScenario::Errors1To2,
            TrafficScenario::DeadCanary,
        ];
        let results = run(&config, |_, _| {});
        assert_eq!(results.rows.len(), 3 * 2 * Method::ALL.len());
        let md = render_markdown(&results);
        assert!(md.contains("### errors-1-2") && md.contains("### Targets (ours)"));
        assert!(md.contains("| oracle-sprt | 100 | 4 |"), "{md}");
        let json: serde_json::Value = serde_json::from_str(&render_json(&results)).unwrap();
        assert_eq!(json["rows"].as_array().map(Vec::len), Some(42));
        assert!(json["targets"]["checks"]
            .as_array()
            .is_some_and(|c| c.len() >= 5));
    }
}
