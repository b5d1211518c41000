//! The table, and the targets judged on 95 % intervals (a target holds
//! only when the whole interval satisfies it, not the point estimate).

use serde::Serialize;

use super::{JudgeKind, Row};
use crate::policy::Level;
use crate::sim::Scenario;

/// One target, judged.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub name: String,
    /// None when the rows needed were not run.
    pub met: Option<bool>,
    /// The figures it was judged on.
    pub detail: String,
}

/// Bad releases the loop must catch.
const BAD: [Scenario; 5] = [
    Scenario::ErrorDouble,
    Scenario::LatencyMild,
    Scenario::CanaryBurst,
    Scenario::SlowDegradation,
    Scenario::ErrorSpike,
];

/// The targets of issue 15 on `ours`' rows.
pub fn targets(rows: &[Row]) -> Vec<Target> {
    let ours: Vec<&Row> = rows.iter().filter(|r| r.judge == JudgeKind::Ours).collect();
    let healthy = |r: &&Row| r.healthy && r.scenario != Scenario::NoData;
    let bad = |r: &&Row| BAD.contains(&r.scenario);
    let pick =
        |keep: &dyn Fn(&&Row) -> bool| -> Vec<&&Row> { ours.iter().filter(|r| keep(r)).collect() };
    let upper = |r: &Row| format!("{:.2} %", 100.0 * r.stopped_ci.1);
    let mut out = vec![
        all(
            "healthy (incl. noisy, baseline degrading) rolled back ≤ 1 % at every level, 200 and 20 rps (upper 95 % bound)",
            &pick(&|r| healthy(r) && r.rps >= 20.0),
            |r| r.stopped_ci.1 <= 0.01,
            upper,
        ),
        all(
            "healthy rolled back ≤ 1 % at 2 rps, holding or asking instead (upper 95 % bound)",
            &pick(&|r| healthy(r) && r.rps < 20.0),
            |r| r.stopped_ci.1 <= 0.01,
            upper,
        ),
        all(
            "bad releases (error ×2, latency ×1.3, burst, degradation, spike) caught by the judge ≥ 99 % at every level incl. direct, 200 rps (lower 95 % bound)",
            &pick(&|r| bad(r) && r.rps == 200.0),
            |r| r.stopped_ci.0 >= 0.99,
            |r| format!("{:.2} %", 100.0 * r.stopped_ci.0),
        ),
        all(
            "bad releases never promoted without a human at 20 and 2 rps: ≤ 1 % (upper 95 % bound); the rest caught or put to a human with the numbers",
            &pick(&|r| bad(r) && r.rps < 200.0),
            |r| r.promoted_ci.1 <= 0.01,
            |r| format!("{:.2} %", 100.0 * r.promoted_ci.1),
        ),
    ];
    out.push(all(
        "0 promotions on dead metrics",
        &pick(&|r| r.scenario == Scenario::NoData),
        |r| r.promoted == 0,
        |r| r.promoted.to_string(),
    ));
    out.push(all(
        "0 unjudged promotions",
        &pick(&|_| true),
        |r| r.unjudged_promotions == 0,
        |r| r.unjudged_promotions.to_string(),
    ));
    out.push(all(
        "error ×2 at 100 rps, canary strategies: mean canary requests to the Fail ≤ 1.5 × Wald's bound (upper 95 % bound)",
        &pick(&|r| r.scenario == Scenario::ErrorDouble && r.rps == 100.0 && r.level != Level::Low),
        |r| match (r.fail_requests_ci, r.wald_bound) {
            (Some((_, hi)), Some(w)) => hi <= 1.5 * w,
            _ => false,
        },
        |r| match (r.fail_requests_mean, r.fail_requests_ci, r.wald_bound) {
            (Some(m), Some((_, hi)), Some(w)) => format!("{m:.0} (≤ {hi:.0}) vs 1.5 × {w:.0}"),
            _ => "no Fail".into(),
        },
    ));
    out.push(all(
        "healthy medium-risk release promoted in ≤ 15 min median at 200 rps",
        &pick(&|r| r.scenario == Scenario::Healthy && r.level == Level::Medium && r.rps == 200.0),
        |r| r.minutes_median.is_some_and(|m| m <= 15.0),
        |r| format!("{:.1} min", r.minutes_median.unwrap_or(f64::NAN)),
    ));
    out
}

/// A target over `rows`: met when every row is; the detail names the worst.
fn all(
    name: &str,
    rows: &[&&Row],
    ok: impl Fn(&Row) -> bool,
    figure: impl Fn(&Row) -> String,
) -> Target {
    if rows.is_empty() {
        return Target {
            name: name.into(),
            met: None,
            detail: "not run".into(),
        };
    }
    let failing: Vec<String> = rows
        .iter()
        .filter(|r| !ok(r))
        .map(|r| {
            format!(
                "{} {} {} rps: {}",
                r.level.as_str(),
                r.scenario.as_str(),
                r.rps,
                figure(r)
            )
        })
        .collect();
    let detail = if failing.is_empty() {
        format!("{} cells, e.g. {}", rows.len(), figure(rows[0]))
    } else {
        format!(
            "missed in {} of {} cells: {}",
            failing.len(),
            rows.len(),
            failing.join("; ")
        )
    };
    Target {
        name: name.into(),
        met: Some(failing.is_empty()),
        detail,
    }
}

/// The table, one row a cell, then the targets.
pub fn render_markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| judge | level | scenario | rps | runs | rolled back / caught % [95% CI] | by a Fail | asked % | promoted on Pass / human / unjudged | minutes median / p90 | canary share | excess failed per 1,000 |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let what = if r.healthy { "rolled back" } else { "caught" };
        let minutes = match (r.minutes_median, r.minutes_p90) {
            (Some(m), Some(p)) => format!("{m:.1} / {p:.1}"),
            _ => "—".into(),
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {what} {:.2} [{:.2}, {:.2}] | {} | {:.1} | {} / {} / {} | {minutes} | {:.3} | {:.3} |\n",
            r.judge.as_str(),
            r.level.as_str(),
            r.scenario.as_str(),
            r.rps,
            r.runs,
            100.0 * r.stopped_rate,
            100.0 * r.stopped_ci.0,
            100.0 * r.stopped_ci.1,
            r.failed_by_judge,
            100.0 * r.asked as f64 / r.runs.max(1) as f64,
            r.promoted_on_pass,
            r.promoted_on_human,
            r.unjudged_promotions,
            r.canary_share,
            r.excess_failed_per_1000,
        ));
    }
    let wald: Vec<&Row> = rows.iter().filter(|r| r.wald_bound.is_some()).collect();
    if !wald.is_empty() {
        out.push_str("\nCanary requests seen at a Fail (error ×2), against Wald's bound for the same α and β:\n\n| judge | level | rps | Fails | mean [95% CI] | Wald's bound | ratio |\n|---|---|---|---|---|---|---|\n");
        for r in wald {
            if let (Some(m), Some((lo, hi)), Some(w)) =
                (r.fail_requests_mean, r.fail_requests_ci, r.wald_bound)
            {
                out.push_str(&format!(
                    "| {} | {} | {} | {} | {m:.0} [{lo:.0}, {hi:.0}] | {w:.0} | {:.2} |\n",
                    r.judge.as_str(),
                    r.level.as_str(),
                    r.rps,
                    r.failed_by_judge,
                    m / w
                ));
            }
        }
    }
    let t = targets(rows);
    if t.iter().any(|t| t.met.is_some()) {
        out.push_str("\nTargets (ours), judged on 95 % intervals:\n\n");
        for t in t {
            let mark = match t.met {
                Some(true) => "met",
                Some(false) => "MISSED",
                None => "not run",
            };
            out.push_str(&format!("- **{mark}** — {}: {}\n", t.name, t.detail));
        }
    }
    out
}
