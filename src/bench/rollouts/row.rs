//! One cell's figures, from its runs.

use serde::Serialize;

use super::{JudgeKind, Run};
use crate::bench::canary::stats::{quantile, wilson};
use crate::canary::baselines::wald_expected_n;
use crate::policy::{Level, Policy};
use crate::rollout::state::{Outcome, PromotedOn};
use crate::sim::{Scenario, BASELINE_ERROR_RATE};

/// Share of α the error test gets (see `canary::sequential`).
const ERROR_ALPHA_SHARE: f64 = 0.95;

/// One cell's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub judge: JudgeKind,
    pub level: Level,
    pub scenario: Scenario,
    pub healthy: bool,
    pub rps: f64,
    pub runs: u64,
    pub promoted: u64,
    /// 95 % Wilson interval of `promoted / runs`.
    pub promoted_ci: (f64, f64),
    /// Ended without a promotion and without a human asked: by a Fail,
    /// missing data, a budget or a give-up. "Rolled back" for a healthy
    /// release, "caught" for a bad one.
    pub stopped: u64,
    /// `stopped / runs` and its 95 % Wilson interval.
    pub stopped_rate: f64,
    pub stopped_ci: (f64, f64),
    /// Ended at a human's answer to "go on without a Pass?" (the benchmark's
    /// human says no; a real one decides with the judge's numbers).
    pub asked: u64,
    pub asked_ci: (f64, f64),
    /// Ended by the judge's Fail (part of `stopped`).
    pub failed_by_judge: u64,
    /// Promoted on a judged Pass / on a human's word / with no verdict at all.
    pub promoted_on_pass: u64,
    pub promoted_on_human: u64,
    pub unjudged_promotions: u64,
    pub minutes_median: Option<f64>,
    pub minutes_p90: Option<f64>,
    /// Requests served by the new version over all requests during the rollouts.
    pub canary_share: f64,
    /// Failed requests of the new version beyond the baseline's rate, per
    /// 1,000 requests of all users during the rollouts.
    pub excess_failed_per_1000: f64,
    /// Runs ended by a Fail: mean canary requests seen at the Fail, its 95 %
    /// interval, and Wald's bound for the same α and β when the scenario is a
    /// doubling (error-double): the least any test needs on average.
    pub fail_requests_mean: Option<f64>,
    pub fail_requests_ci: Option<(f64, f64)>,
    pub wald_bound: Option<f64>,
    /// Why runs that were neither promoted nor asked ended, most frequent first.
    pub stop_reasons: Vec<(String, u64)>,
}

impl Row {
    pub(crate) fn new(
        judge: JudgeKind,
        level: Level,
        scenario: Scenario,
        rps: f64,
        policy: &Policy,
        runs: &[Run],
    ) -> Self {
        let n = runs.len() as u64;
        let count = |f: &dyn Fn(&Run) -> bool| runs.iter().filter(|r| f(r)).count() as u64;
        let promoted = count(&|r| r.outcome == Outcome::Promoted);
        let asked = count(&|r| r.asked);
        let stopped = n - promoted - asked;
        let minutes: Vec<f64> = runs.iter().map(|r| r.minutes).collect();
        let all: u64 = runs.iter().map(|r| r.all_requests).sum();
        let canary: u64 = runs.iter().map(|r| r.canary_requests).sum();
        let excess: f64 = runs
            .iter()
            .map(|r| {
                (r.canary_errors as f64 - r.canary_requests as f64 * BASELINE_ERROR_RATE).max(0.0)
            })
            .sum();
        let at_fail: Vec<f64> = runs
            .iter()
            .filter_map(|r| r.fail_canary_requests.map(|x| x as f64))
            .collect();
        let c = &policy.canary;
        let wald = (scenario == Scenario::ErrorDouble).then(|| {
            wald_expected_n(
                BASELINE_ERROR_RATE,
                2.0 * BASELINE_ERROR_RATE,
                c.alpha * ERROR_ALPHA_SHARE,
                c.beta,
            )
        });
        let on = |basis: PromotedOn| count(&|r| r.promoted_on == Some(basis));
        Row {
            judge,
            level,
            scenario,
            healthy: scenario.canary_is_healthy(),
            rps,
            runs: n,
            promoted,
            promoted_ci: wilson(promoted, n),
            stopped,
            stopped_rate: stopped as f64 / n.max(1) as f64,
            stopped_ci: wilson(stopped, n),
            asked,
            asked_ci: wilson(asked, n),
            failed_by_judge: count(&|r| r.failed_by_judge),
            promoted_on_pass: on(PromotedOn::Pass),
            promoted_on_human: on(PromotedOn::Human),
            unjudged_promotions: on(PromotedOn::Unverified),
            minutes_median: quantile(&minutes, 0.5),
            minutes_p90: quantile(&minutes, 0.9),
            canary_share: canary as f64 / all.max(1) as f64,
            excess_failed_per_1000: 1000.0 * excess / all.max(1) as f64,
            fail_requests_mean: mean(&at_fail),
            fail_requests_ci: mean_ci(&at_fail),
            wald_bound: wald,
            stop_reasons: stop_reasons(runs),
        }
    }
}

fn mean(xs: &[f64]) -> Option<f64> {
    (!xs.is_empty()).then(|| xs.iter().sum::<f64>() / xs.len() as f64)
}

/// Normal-approximation 95 % interval of the mean (enough runs for the CLT).
fn mean_ci(xs: &[f64]) -> Option<(f64, f64)> {
    let m = mean(xs)?;
    if xs.len() < 2 {
        return None;
    }
    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64;
    let half = 1.96 * (var / xs.len() as f64).sqrt();
    Some((m - half, m + half))
}

fn stop_reasons(runs: &[Run]) -> Vec<(String, u64)> {
    let mut counts = std::collections::BTreeMap::<&str, u64>::new();
    for r in runs
        .iter()
        .filter(|r| r.outcome != Outcome::Promoted && !r.asked)
    {
        *counts.entry(r.reason.as_str()).or_default() += 1;
    }
    let mut out: Vec<(String, u64)> = counts
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    out
}
