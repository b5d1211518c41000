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
use crate::risk::model::sigmoid;
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
    pub levels: LevelShares,
}

/// Share of this history at each level (low, medium, high, critical), floors
/// included: under the policy's weights, and under the model kept.
#[derive(Debug, Clone, Serialize)]
pub struct LevelShares {
    pub policy: [f64; 4],
    pub kept: [f64; 4],
}

/// The policy floor of the riskiest category a row touches.
fn floor_of(row: &Scored, policy: &Policy) -> f64 {
    policy
        .risk
        .floors
        .iter()
        .filter(|(cat, _)| {
            cat.touch_feature().is_some_and(|f| {
                ALL_FEATURES
                    .iter()
                    .position(|n| *n == f)
                    .is_some_and(|j| row.values.get(j).is_some_and(|v| *v > 0.0))
            })
        })
        .map(|(_, v)| *v)
        .fold(0.0, f64::max)
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
    let centre = fitted::centres(&encoded, &weights, ALL_FEATURES.len());
    let centred: Vec<f64> = encoded
        .iter()
        .map(|e| fitted::dot(e, &weights) - centre.iter().sum::<f64>())
        .collect();
    // A typical commit here scores the policy's intercept; each factor moves
    // it by how much more (or less) often commits like it were reverted here.
    let intercept = policy.risk.intercept;
    let kept: Vec<f64> = if chosen == "policy" {
        policy_scores.clone()
    } else {
        rows.iter()
            .zip(&centred)
            .map(|(r, c)| sigmoid(intercept + c).max(floor_of(r, policy)))
            .collect()
    };
    let levels = LevelShares {
        policy: level_shares(policy_scores.iter().copied(), policy),
        kept: level_shares(kept.into_iter(), policy),
    };
    let model = FittedModel {
        format: FORMAT,
        kind: chosen.to_string(),
        policy_hash: policy.hash.clone(),
        tip: tip.0.to_string(),
        tip_time: tip.1,
        scale,
        intercept: crate::risk::model::round(intercept, 4),
        weights,
        centre,
        how_well: how,
    };
    Ok(Calibrated {
        model,
        chosen,
        prior: prior_fig,
        refit: refit_fig,
        policy: policy_fig,
        levels,
    })
}

/// Share of rows at each level (low, medium, high, critical) for scores.
fn level_shares(scores: impl Iterator<Item = f64>, policy: &Policy) -> [f64; 4] {
    let mut counts = [0usize; 4];
    let mut n = 0;
    for s in scores {
        counts[policy.level_for(s) as usize] += 1;
        n += 1;
    }
    counts.map(|c| c as f64 / n.max(1) as f64)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_follow_the_touched_categories() {
        let policy = Policy::embedded().unwrap();
        let mut values = vec![0.0; ALL_FEATURES.len()];
        let at = |n: &str| ALL_FEATURES.iter().position(|f| *f == n).unwrap();
        let row = |values: Vec<f64>| Scored {
            sha: "a".into(),
            time: 0,
            score: 0.1,
            level: crate::policy::Level::Low,
            lines: 1,
            reverted: false,
            contributions: vec![],
            values,
        };
        assert_eq!(floor_of(&row(values.clone()), &policy), 0.0);
        values[at("touches_migration")] = 1.0;
        values[at("touches_config")] = 1.0;
        let migration = policy.risk.floors[&crate::policy::Category::Migration];
        assert_eq!(floor_of(&row(values), &policy), migration);
        let shares = level_shares([0.1, 0.3, 0.6, 0.9].into_iter(), &policy);
        assert_eq!(shares, [0.25; 4]);
    }
}
