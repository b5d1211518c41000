//! Fitting this repository's model from its backtest rows (`deploy-agent calibrate`).
//!
//! Two candidates are judged out of sample on the same history, by blocked
//! cross-validation over time: the shipped prior alone (on this repository's
//! percentile scale), and the prior refitted to this repository's reverts.
//! The policy's own weights are the third candidate. On the development set
//! each of the three wins somewhere (benches/devset/risk-model.md), so none is
//! assumed: the one that ranked this history best is kept, all three reported.

use serde::Serialize;

use super::metrics::{Metrics, MetricsError};
use super::Scored;
use crate::policy::Policy;
use crate::risk::features::ALL_FEATURES;
use crate::risk::fitted::{self, FittedModel, HowWell, Prior, FORMAT};
use crate::risk::scale::Scale;

/// Folds of the blocked cross-validation.
pub const FOLDS: usize = 5;

/// The fitted model and both candidates' figures.
#[derive(Debug, Clone, Serialize)]
pub struct Calibrated {
    #[serde(skip)]
    pub model: FittedModel,
    /// `policy`, `prior` or `refit`: the candidate kept.
    pub chosen: &'static str,
    pub prior: HowWell,
    pub refit: HowWell,
    /// The shipped policy's score on the same commits.
    pub policy: HowWell,
}

/// Fits the model for `rows` (oldest first) under `policy` and `prior`.
pub fn fit(
    rows: &[Scored],
    policy: &Policy,
    prior: &Prior,
    tip: (&str, i64),
    seed: u64,
) -> Result<Calibrated, MetricsError> {
    let values: Vec<&[f64]> = rows.iter().map(|r| r.values.as_slice()).collect();
    let scale = Scale::fit(ALL_FEATURES, &values);
    let encoded: Vec<Vec<f64>> = values.iter().map(|v| scale.encode(v)).collect();
    let labels: Vec<bool> = rows.iter().map(|r| r.reverted).collect();
    let prior_w = prior.weights_for(ALL_FEATURES);
    let strength = policy.calibration.prior_strength;
    let prior_scores: Vec<f64> = encoded.iter().map(|e| fitted::dot(e, &prior_w)).collect();
    let refit_scores = fitted::out_of_fold(&encoded, &labels, &prior_w, strength, FOLDS);
    let policy_scores: Vec<f64> = rows.iter().map(|r| r.score).collect();
    let judge = |scores: &[f64], method: &str| -> Result<HowWell, MetricsError> {
        let m = Metrics::of(&with_scores(rows, scores), seed)?;
        Ok(how_well(&m, method))
    };
    let prior_fig = judge(&prior_scores, "shipped prior on this repository's scale")?;
    let refit_fig = judge(
        &refit_scores,
        &format!("prior refitted here, {FOLDS}-fold blocked by time, out of fold"),
    )?;
    let policy_fig = judge(&policy_scores, "the policy's weights")?;
    let best = [&policy_fig, &prior_fig, &refit_fig]
        .iter()
        .map(|f| f.auc)
        .fold(f64::MIN, f64::max);
    // Ties go to the simpler model: the policy, then the prior.
    let (chosen, weights, how) = if policy_fig.auc >= best {
        ("policy", vec![0.0; prior_w.len()], policy_fig.clone())
    } else if prior_fig.auc >= best {
        ("prior", prior_w, prior_fig.clone())
    } else {
        let w = fitted::fit_steps(&encoded, &labels, &prior_w, strength);
        ("refit", w, refit_fig.clone())
    };
    // Keep the policy's average log-odds: levels keep their meaning.
    let n = rows.len().max(1) as f64;
    let logit = |p: f64| {
        let p = p.clamp(1e-4, 1.0 - 1e-4);
        (p / (1.0 - p)).ln()
    };
    let policy_mean = policy_scores.iter().map(|p| logit(*p)).sum::<f64>() / n;
    let model_mean = encoded
        .iter()
        .map(|e| fitted::dot(e, &weights))
        .sum::<f64>()
        / n;
    let model = FittedModel {
        format: FORMAT,
        kind: chosen.to_string(),
        policy_hash: policy.hash.clone(),
        tip: tip.0.to_string(),
        tip_time: tip.1,
        scale,
        intercept: crate::risk::model::round(policy_mean - model_mean, 4),
        weights,
        how_well: how,
    };
    Ok(Calibrated {
        model,
        chosen,
        prior: prior_fig,
        refit: refit_fig,
        policy: policy_fig,
    })
}

fn how_well(m: &Metrics, method: &str) -> HowWell {
    let r = |x: f64| crate::risk::model::round(x, 4);
    HowWell {
        auc: r(m.auc),
        auc_low: r(m.auc_ci.0),
        auc_high: r(m.auc_ci.1),
        lines_auc: r(m.lines_auc),
        top10_recall: r(m.top10_recall),
        commits: m.commits,
        reverted: m.reverted,
        method: method.to_string(),
    }
}

/// The rows with other scores (for [`Metrics::of`]).
pub fn with_scores(rows: &[Scored], scores: &[f64]) -> Vec<Scored> {
    rows.iter()
        .zip(scores)
        .map(|(r, s)| Scored {
            score: *s,
            contributions: Vec::new(),
            ..r.clone()
        })
        .collect()
}
