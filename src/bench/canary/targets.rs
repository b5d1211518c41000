//! The targets the sequential judge is held to, measured on the results.

use serde::Serialize;

use super::runner::Method;
use super::stats::Row;
use super::traffic::TrafficScenario;
use super::WaldRow;

/// Healthy A/A scenarios the false-rollback target covers.
const AA_SCENARIOS: [TrafficScenario; 3] = [
    TrafficScenario::Aa,
    TrafficScenario::NoisyAa,
    TrafficScenario::MissingScrapesAa,
];

/// One target, what was measured and whether it is met (`None`: cannot be
/// judged, e.g. no baseline qualifies for the comparison).
#[derive(Debug, Clone, Serialize)]
pub struct TargetCheck {
    pub target: String,
    pub measured: String,
    pub met: Option<bool>,
}

/// All targets for `ours`.
#[derive(Debug, Clone, Serialize)]
pub struct Targets {
    pub checks: Vec<TargetCheck>,
}

fn find(rows: &[Row], method: Method, scenario: TrafficScenario, rps: f64) -> Option<&Row> {
    rows.iter()
        .find(|r| r.method == method.name() && r.scenario == scenario.name() && r.rps == rps)
}

fn pct(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

impl Targets {
    pub fn evaluate(rows: &[Row], wald: &[WaldRow]) -> Self {
        let mut checks = vec![aa_frr(rows), dead_promotions(rows)];
        checks.extend(errors_1_2(rows, wald));
        checks.extend(promotion_speed(rows));
        Self { checks }
    }
}

/// A/A false rollback rate ≤ 1 % in every A/A cell, noisy and missing included.
fn aa_frr(rows: &[Row]) -> TargetCheck {
    let ours: Vec<&Row> = rows
        .iter()
        .filter(|r| {
            r.method == Method::Ours.name() && AA_SCENARIOS.iter().any(|s| s.name() == r.scenario)
        })
        .collect();
    let worst = ours
        .iter()
        .max_by(|a, b| a.rollback_rate.total_cmp(&b.rollback_rate));
    TargetCheck {
        target: "A/A false rollback rate ≤ 1% (a-a, noisy-aa, missing-scrapes-aa; every rps)"
            .into(),
        measured: worst.map_or("no A/A rows".into(), |r| {
            format!(
                "worst {} at {} rps: {} [{}, {}]",
                r.scenario,
                r.rps,
                pct(r.rollback_rate),
                pct(r.rollback_ci.0),
                pct(r.rollback_ci.1)
            )
        }),
        met: worst.map(|r| r.rollback_rate <= 0.01),
    }
}

fn dead_promotions(rows: &[Row]) -> TargetCheck {
    let n: Option<u64> = rows
        .iter()
        .filter(|r| r.method == Method::Ours.name())
        .filter_map(|r| r.dead_promotions)
        .reduce(|a, b| a + b);
    TargetCheck {
        target: "0 promotions with dead canary metrics".into(),
        measured: n.map_or("no dead-canary rows".into(), |n| format!("{n} promotions")),
        met: n.map(|n| n == 0),
    }
}

/// errors-1-2 at 100 rps: detection, cost against Wald and the best baseline.
fn errors_1_2(rows: &[Row], wald: &[WaldRow]) -> Vec<TargetCheck> {
    let (s, rps) = (TrafficScenario::Errors1To2, 100.0);
    let ours = find(rows, Method::Ours, s, rps);
    let bound = wald
        .iter()
        .find(|w| w.scenario == s.name())
        .map(|w| w.expected_n);
    let mean = ours.and_then(|r| r.mean_canary_requests_to_rollback);
    let detection = TargetCheck {
        target: "errors-1-2 at 100 rps detected ≥ 99%".into(),
        measured: ours.map_or("—".into(), |r| pct(r.rollback_rate)),
        met: ours.map(|r| r.rollback_rate >= 0.99),
    };
    let vs_wald = TargetCheck {
        target: "… with mean canary requests to rollback ≤ 1.5 × Wald bound".into(),
        measured: match (mean, bound) {
            (Some(m), Some(b)) => format!("{m:.0} vs 1.5 × {b:.0} = {:.0}", 1.5 * b),
            _ => "no rollbacks".into(),
        },
        met: Some(matches!((mean, bound), (Some(m), Some(b)) if m <= 1.5 * b)),
    };
    // Baselines whose A/A false rollback rate (100 rps) is no higher than ours.
    let our_frr = find(rows, Method::Ours, TrafficScenario::Aa, rps).map(|r| r.rollback_rate);
    let best = Method::ALL
        .iter()
        .filter(|m| m.is_baseline())
        .filter(|m| {
            let frr = find(rows, **m, TrafficScenario::Aa, rps).map(|r| r.rollback_rate);
            matches!((frr, our_frr), (Some(f), Some(o)) if f <= o)
        })
        .filter_map(|m| find(rows, *m, s, rps))
        .filter_map(|r| r.mean_canary_requests_to_rollback.map(|m| (r.method, m)))
        .min_by(|a, b| a.1.total_cmp(&b.1));
    let frr_of = |name: &str| {
        rows.iter()
            .find(|r| r.method == name && r.scenario == TrafficScenario::Aa.name() && r.rps == rps)
            .map_or("—".into(), |r| pct(r.rollback_rate))
    };
    let vs_baseline = TargetCheck {
        target: "… and ≤ ½ of the best baseline with equal or lower A/A FRR (100 rps)".into(),
        measured: match (mean, best) {
            (Some(m), Some((name, b))) => format!(
                "{m:.0} vs ½ × {b:.0} ({name}, A/A FRR {} vs ours {})",
                frr_of(name),
                our_frr.map_or("—".into(), pct)
            ),
            (None, _) => "no rollbacks".into(),
            (_, None) => "no baseline has an A/A FRR this low".into(),
        },
        met: match (mean, best) {
            (Some(m), Some((_, b))) => Some(m <= 0.5 * b),
            (None, _) => Some(false),
            (_, None) => None,
        },
    };
    vec![detection, vs_wald, vs_baseline]
}

/// a-a promoted no slower (median) than the fastest baseline with FRR ≤ 1 %, per rps.
fn promotion_speed(rows: &[Row]) -> Vec<TargetCheck> {
    let mut rates: Vec<f64> = rows.iter().map(|r| r.rps).collect();
    rates.sort_by(|a, b| b.total_cmp(a));
    rates.dedup();
    rates
        .into_iter()
        .map(|rps| {
            let ours = find(rows, Method::Ours, TrafficScenario::Aa, rps);
            let fastest = Method::ALL
                .iter()
                .filter(|m| m.is_baseline())
                .filter_map(|m| find(rows, *m, TrafficScenario::Aa, rps))
                .filter(|r| r.rollback_rate <= 0.01)
                .filter_map(|r| r.promote_minutes_median.map(|t| (r.method, t)))
                .min_by(|a, b| a.1.total_cmp(&b.1));
            // Our own FRR is the first target's business, not this one's.
            let mine = ours.and_then(|r| r.promote_minutes_median);
            TargetCheck {
                target: format!(
                    "a-a at {rps} rps promoted (median) no slower than the fastest baseline with FRR ≤ 1%"
                ),
                measured: match (mine, fastest) {
                    (m, Some((name, t))) => format!("{} vs {t:.1} min ({name})", minutes(m)),
                    (m, None) => format!("{}; no baseline qualifies", minutes(m)),
                },
                met: fastest.map(|(_, t)| mine.is_some_and(|m| m <= t)),
            }
        })
        .collect()
}

fn minutes(m: Option<f64>) -> String {
    m.map_or("not promoted in most runs".into(), |m| {
        format!("{m:.1} min")
    })
}

#[cfg(test)]
mod tests {
    use super::super::runner::{Decision, Outcome};
    use super::*;

    fn rows(
        method: Method,
        scenario: TrafficScenario,
        decision: Decision,
        minutes: f64,
        n: u64,
    ) -> Row {
        let o = Outcome {
            decision,
            minutes,
            canary_requests: n,
            canary_errors: n / 50,
        };
        Row::new(method, scenario, 100.0, &[o; 10], 1067.0)
    }

    #[test]
    fn targets_compare_ours_with_the_qualifying_baselines() {
        let all = vec![
            rows(
                Method::Ours,
                TrafficScenario::Aa,
                Decision::Promote,
                3.0,
                1800,
            ),
            rows(
                Method::Ours,
                TrafficScenario::Errors1To2,
                Decision::Rollback,
                2.0,
                1200,
            ),
            rows(
                Method::Ours,
                TrafficScenario::DeadCanary,
                Decision::Undecided,
                90.0,
                0,
            ),
            rows(
                Method::Flagger,
                TrafficScenario::Aa,
                Decision::Promote,
                10.0,
                6000,
            ),
            rows(
                Method::Flagger,
                TrafficScenario::Errors1To2,
                Decision::Rollback,
                5.0,
                3000,
            ),
            // Faster to roll back, but with a worse A/A FRR: not a fair comparison.
            rows(
                Method::FixedMw,
                TrafficScenario::Aa,
                Decision::Rollback,
                2.0,
                1200,
            ),
            rows(
                Method::FixedMw,
                TrafficScenario::Errors1To2,
                Decision::Rollback,
                1.0,
                600,
            ),
        ];
        let wald = vec![super::super::WaldRow::new(
            TrafficScenario::Errors1To2,
            &[100.0],
        )];
        let t = Targets::evaluate(&all, &wald);
        let met: Vec<Option<bool>> = t.checks.iter().map(|c| c.met).collect();
        assert_eq!(met, vec![Some(true); 6], "{t:#?}");
        assert!(t.checks[4].measured.contains("flagger"), "{t:#?}");
    }
}
