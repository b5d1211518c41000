//! Figures of one method on one (scenario, rps) cell, from its run outcomes.

use serde::Serialize;

use super::runner::{Decision, Method, Outcome};
use super::traffic::{ScenarioKind, TrafficScenario};

/// z for a two-sided 95 % interval.
const Z_95: f64 = 1.959_963_984_540_054;

/// One row of the results table.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub method: &'static str,
    pub scenario: &'static str,
    pub kind: ScenarioKind,
    pub rps: f64,
    pub runs: u64,
    pub rollbacks: u64,
    pub promotions: u64,
    pub undecided: u64,
    /// Rollbacks / runs: the false rollback rate on healthy scenarios, the
    /// detection rate on bad ones.
    pub rollback_rate: f64,
    /// 95 % Wilson score interval of `rollback_rate`.
    pub rollback_ci: (f64, f64),
    /// Over the runs that rolled back.
    pub rollback_minutes_median: Option<f64>,
    pub rollback_minutes_p90: Option<f64>,
    pub mean_canary_requests_to_rollback: Option<f64>,
    pub mean_canary_errors_to_rollback: Option<f64>,
    /// Over all runs, a run that did not promote counting as never: `None`
    /// when fewer than half promoted.
    pub promote_minutes_median: Option<f64>,
    /// Promotions on `dead-canary` (only there).
    pub dead_promotions: Option<u64>,
    /// Wald's E[N | p1] for the scenario's error alternative (α = 0.01, β = 0.05).
    pub wald_bound: Option<f64>,
    /// Mean canary requests to rollback ÷ `wald_bound` (fixed-rate error scenarios).
    pub efficiency: Option<f64>,
}

impl Row {
    /// The figures of `method` over `outcomes` (one per run).
    pub fn new(
        method: Method,
        scenario: TrafficScenario,
        rps: f64,
        outcomes: &[Outcome],
        wald_bound: f64,
    ) -> Self {
        let runs = outcomes.len() as u64;
        let count = |d: Decision| outcomes.iter().filter(|o| o.decision == d).count() as u64;
        let rollbacks: Vec<&Outcome> = outcomes
            .iter()
            .filter(|o| o.decision == Decision::Rollback)
            .collect();
        let times: Vec<f64> = rollbacks.iter().map(|o| o.minutes).collect();
        let mean_of = |f: &dyn Fn(&Outcome) -> u64| {
            (!rollbacks.is_empty()).then(|| {
                rollbacks.iter().map(|o| f(o) as f64).sum::<f64>() / rollbacks.len() as f64
            })
        };
        let mean_requests = mean_of(&|o| o.canary_requests);
        let fixed = scenario.fixed_error_alternative();
        let promotions = count(Decision::Promote);
        Row {
            method: method.name(),
            scenario: scenario.name(),
            kind: scenario.kind(),
            rps,
            runs,
            rollbacks: rollbacks.len() as u64,
            promotions,
            undecided: count(Decision::Undecided),
            rollback_rate: rollbacks.len() as f64 / runs.max(1) as f64,
            rollback_ci: wilson(rollbacks.len() as u64, runs),
            rollback_minutes_median: quantile(&times, 0.5),
            rollback_minutes_p90: quantile(&times, 0.9),
            mean_canary_requests_to_rollback: mean_requests,
            mean_canary_errors_to_rollback: mean_of(&|o| o.canary_errors),
            promote_minutes_median: promote_median(outcomes),
            dead_promotions: (scenario.kind() == ScenarioKind::Dead).then_some(promotions),
            wald_bound: fixed.then_some(wald_bound),
            efficiency: mean_requests.filter(|_| fixed).map(|m| m / wald_bound),
        }
    }
}

/// The median time to promote over all runs, non-promotions counting as ∞.
fn promote_median(outcomes: &[Outcome]) -> Option<f64> {
    let times: Vec<f64> = outcomes
        .iter()
        .map(|o| match o.decision {
            Decision::Promote => o.minutes,
            _ => f64::INFINITY,
        })
        .collect();
    quantile(&times, 0.5).filter(|t| t.is_finite())
}

/// Wilson score interval for `k` successes in `n` trials at 95 %.
pub fn wilson(k: u64, n: u64) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let (all, none) = (k >= n, k == 0);
    let (k, n) = (k as f64, n as f64);
    let p = k / n;
    let z2 = Z_95 * Z_95;
    let denom = 1.0 + z2 / n;
    let centre = (p + z2 / (2.0 * n)) / denom;
    let half = Z_95 / denom * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    // At the extremes the bound is exactly 0 or 1 (rounding would leave ~1e-20).
    let lo = if none { 0.0 } else { (centre - half).max(0.0) };
    let hi = if all { 1.0 } else { (centre + half).min(1.0) };
    (lo, hi)
}

/// Nearest-rank quantile (an observed value: a time a run really decided at).
pub fn quantile(values: &[f64], q: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let rank = (q.clamp(0.0, 1.0) * v.len() as f64).ceil().max(1.0) as usize;
    v.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wilson_matches_reference_values() {
        // statsmodels proportion_confint(5, 100, method="wilson") = (0.02154, 0.11175).
        let (lo, hi) = wilson(5, 100);
        assert!((lo - 0.02154).abs() < 1e-4 && (hi - 0.11175).abs() < 1e-4);
        let (lo, hi) = wilson(0, 10_000);
        assert_eq!(lo, 0.0);
        assert!((hi - 0.000384).abs() < 1e-5, "{hi}");
    }

    #[test]
    fn quantiles_are_nearest_rank() {
        let v = [5.0, 1.0, 3.0, 2.0, 4.0];
        assert_eq!(quantile(&v, 0.5), Some(3.0));
        assert_eq!(quantile(&v, 0.9), Some(5.0));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn row_figures() {
        let o = |decision, minutes, canary_requests| Outcome {
            decision,
            minutes,
            canary_requests,
            canary_errors: canary_requests / 50,
        };
        let outcomes = [
            o(Decision::Rollback, 2.0, 1000),
            o(Decision::Rollback, 4.0, 3000),
            o(Decision::Promote, 10.0, 6000),
            o(Decision::Undecided, 90.0, 50_000),
        ];
        let r = Row::new(
            Method::Flagger,
            TrafficScenario::Errors1To2,
            100.0,
            &outcomes,
            1000.0,
        );
        assert_eq!((r.rollbacks, r.promotions, r.undecided), (2, 1, 1));
        assert_eq!(r.rollback_rate, 0.5);
        assert_eq!(r.mean_canary_requests_to_rollback, Some(2000.0));
        assert_eq!(r.efficiency, Some(2.0));
        assert_eq!(r.rollback_minutes_median, Some(2.0));
        assert_eq!(r.promote_minutes_median, None, "only 1 of 4 promoted");
        assert_eq!(r.dead_promotions, None);
        let r = Row::new(
            Method::Argo,
            TrafficScenario::Aa,
            100.0,
            &outcomes[1..3],
            1.0,
        );
        assert_eq!(r.promote_minutes_median, Some(10.0));
        assert_eq!(r.efficiency, None);
    }
}
