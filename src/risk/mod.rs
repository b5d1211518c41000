//! Risk: features of a change → a transparent score, a level, a strategy, an approval rule.
//!
//! Pure: takes a change and its history as data, does no I/O.

pub mod calibrate;
pub mod features;
pub mod fitted;
pub mod history;
pub mod message;
pub mod model;
pub mod scale;
pub mod signals;

use std::collections::BTreeMap;

use crate::change::{Change, History};
use crate::policy::{Level, Policy, Strategy};

use calibrate::{CalibrationReport, Examples};
use features::{Features, NAME_ONLY_FEATURES};
use history::HistoryIndex;
use model::RiskScore;

/// The deterministic verdict on a change.
#[derive(Debug, Clone)]
pub struct RiskEvaluation {
    pub features: Features,
    pub score: RiskScore,
    pub calibration: CalibrationReport,
    pub history_commits: usize,
    pub history_truncated: bool,
}

/// Scores `change` given its `history` (newest first) under `policy`.
pub fn evaluate(change: &Change, history: &History, policy: &Policy) -> RiskEvaluation {
    let (index, examples) = walk(history, policy);
    let (weights, calibration) = calibrated_weights(&index, &examples, policy);
    let features = features::of_change(change, policy, &index);
    let score = model::score(&features, policy, &weights);
    RiskEvaluation {
        features,
        score,
        calibration,
        history_commits: history.commits.len(),
        history_truncated: history.truncated,
    }
}

/// Scores `change` with this repository's fitted model, over `index` (the
/// whole history before the change). Each feature's term is its step weight at
/// the value's percentile in this repository; the policy's floors still apply.
pub fn evaluate_fitted(
    change: &Change,
    index: &HistoryIndex,
    fitted: &fitted::FittedModel,
    policy: &Policy,
) -> RiskEvaluation {
    let features = features::of_change(change, policy, index);
    let how = &fitted.how_well;
    let calibration = CalibrationReport {
        status: format!("repository_model_{}", fitted.kind),
        commits: how.commits,
        reverts: how.reverted,
        largest_shifts: Vec::new(),
    };
    if fitted.kind == "policy" {
        // The policy's weights ranked this history best: use them, over the
        // whole history the figures were measured on.
        let score = model::score(&features, policy, &policy.risk.weights);
        return RiskEvaluation {
            features,
            score,
            calibration,
            history_commits: index.len(),
            history_truncated: false,
        };
    }
    let row: Vec<f64> = features::ALL_FEATURES
        .iter()
        .map(|n| features.value(n))
        .collect();
    let (intercept, terms) = fitted.terms(&row);
    let factors = terms
        .into_iter()
        .filter(|t| t.contribution != 0.0)
        .map(|t| {
            let name = features::ALL_FEATURES[t.feature];
            let evidence = features
                .observations
                .iter()
                .find(|o| o.name == name)
                .map_or_else(|| "none".to_string(), |o| o.evidence.clone());
            model::Factor {
                name: name.to_string(),
                value: model::round(row[t.feature], 4),
                weight: model::round(t.contribution, 4),
                policy_weight: policy.weight(name),
                contribution: model::round(t.contribution, 4),
                evidence: format!(
                    "{evidence} (percentile {:.0} in this repository)",
                    100.0 * t.percentile
                ),
                percentile: Some(model::round(t.percentile, 3)),
            }
        })
        .collect();
    let score = model::assemble(&features, policy, intercept, factors);
    RiskEvaluation {
        features,
        score,
        calibration,
        history_commits: index.len(),
        history_truncated: false,
    }
}

/// Walks the history oldest first, building the index and, when calibration is on,
/// one example per commit from what was known just before it.
fn walk(history: &History, policy: &Policy) -> (HistoryIndex, Vec<(String, Vec<f64>)>) {
    let mut index = HistoryIndex::default();
    let mut rows = Vec::new();
    for commit in history.commits.iter().rev() {
        if policy.calibration.enabled {
            let f = features::of_history_commit(commit, policy, &index);
            let row = NAME_ONLY_FEATURES.iter().map(|n| f.value(n)).collect();
            rows.push((commit.sha.clone(), row));
        }
        index.add(commit);
    }
    (index, rows)
}

fn calibrated_weights(
    index: &HistoryIndex,
    rows: &[(String, Vec<f64>)],
    policy: &Policy,
) -> (BTreeMap<String, f64>, CalibrationReport) {
    let policy_weights = policy.risk.weights.clone();
    let reverts = index.reverted_count();
    let mut report = CalibrationReport {
        status: "disabled".into(),
        commits: rows.len(),
        reverts,
        largest_shifts: Vec::new(),
    };
    if !policy.calibration.enabled {
        return (policy_weights, report);
    }
    if reverts < policy.calibration.min_reverts {
        report.status = "too_few_reverts".into();
        return (policy_weights, report);
    }
    let examples = Examples {
        rows: rows.iter().map(|(_, r)| r.clone()).collect(),
        labels: rows.iter().map(|(sha, _)| index.is_reverted(sha)).collect(),
    };
    let prior: Vec<f64> = NAME_ONLY_FEATURES
        .iter()
        .map(|n| policy.weight(n))
        .collect();
    let fitted = calibrate::fit(
        &examples,
        &prior,
        policy.risk.intercept,
        policy.calibration.prior_strength,
    );
    let mut weights = policy_weights.clone();
    let mut calibrated = BTreeMap::new();
    for (name, w) in NAME_ONLY_FEATURES.iter().zip(fitted) {
        weights.insert(name.to_string(), w);
        calibrated.insert(name.to_string(), w);
    }
    report.status = "applied".into();
    report.largest_shifts = calibrate::largest_shifts(&policy_weights, &calibrated, 5);
    (weights, report)
}

/// What policy says to do about a score: level, strategy, approval and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub level: Level,
    pub strategy: Strategy,
    pub requires_approval: bool,
    pub approval_reasons: Vec<String>,
}

/// Applies the policy's levels, strategies and approval rules to a final score.
pub fn decide(score: f64, features: &Features, policy: &Policy) -> Decision {
    let level = policy.level_for(score);
    let mut reasons = Vec::new();
    if policy.approval.levels.contains(&level) {
        reasons.push(format!(
            "policy requires approval at level {}",
            level.as_str()
        ));
    }
    for cat in &policy.approval.categories {
        if let Some(paths) = features.categories.get(cat) {
            reasons.push(format!(
                "policy requires approval for {} changes ({})",
                cat.as_str(),
                paths.first().map(String::as_str).unwrap_or_default()
            ));
        }
    }
    Decision {
        level,
        strategy: policy.strategy_for(level).clone(),
        requires_approval: !reasons.is_empty(),
        approval_reasons: reasons,
    }
}
