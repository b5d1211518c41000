//! The transparent score: a logistic model whose weights come from policy.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::policy::{Category, Policy};

use super::features::Features;

/// One term of the score, as a report shows it.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Factor {
    pub name: String,
    /// The feature's value x.
    pub value: f64,
    /// The weight used (the policy's, or its per-repository calibration).
    pub weight: f64,
    /// The weight the policy file sets.
    pub policy_weight: f64,
    /// weight × value, in log-odds: positive raises risk, negative lowers it.
    pub contribution: f64,
    pub evidence: String,
    /// Where the value sits in this repository's history (0–1), when the
    /// repository's fitted model scored it (`deploy-agent calibrate`); its
    /// `weight` is then the step weight at that percentile.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentile: Option<f64>,
}

/// The floor that applies: the highest policy floor among touched categories.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Floor {
    pub category: Category,
    pub value: f64,
}

/// The deterministic score with everything behind it.
#[derive(Debug, Clone, PartialEq)]
pub struct RiskScore {
    pub intercept: f64,
    /// Sum of the intercept and all contributions.
    pub log_odds: f64,
    /// sigmoid(log_odds), before the floor.
    pub model_score: f64,
    pub floor: Option<Floor>,
    /// max(model_score, floor).
    pub score: f64,
    /// Factors by decreasing absolute contribution.
    pub factors: Vec<Factor>,
}

/// Scores `features` with `weights` (by feature name) and the policy's intercept and floors.
pub fn score(features: &Features, policy: &Policy, weights: &BTreeMap<String, f64>) -> RiskScore {
    let factors: Vec<Factor> = features
        .observations
        .iter()
        .filter_map(|o| {
            let weight = weights.get(o.name).copied().unwrap_or(0.0);
            let contribution = weight * o.value;
            (contribution != 0.0).then(|| Factor {
                name: o.name.to_string(),
                value: round(o.value, 4),
                weight: round(weight, 4),
                policy_weight: policy.weight(o.name),
                contribution: round(contribution, 4),
                evidence: o.evidence.clone(),
                percentile: None,
            })
        })
        .collect();
    assemble(features, policy, policy.risk.intercept, factors)
}

/// The score from an intercept and factors: sorted, summed, floored.
pub fn assemble(
    features: &Features,
    policy: &Policy,
    intercept: f64,
    mut factors: Vec<Factor>,
) -> RiskScore {
    factors.sort_by(|a, b| b.contribution.abs().total_cmp(&a.contribution.abs()));
    let log_odds = intercept + factors.iter().map(|f| f.contribution).sum::<f64>();
    let model_score = sigmoid(log_odds);
    let floor = floor_for(features, policy);
    let score = floor
        .as_ref()
        .map_or(model_score, |f| model_score.max(f.value));
    RiskScore {
        intercept,
        log_odds,
        model_score,
        floor,
        score,
        factors,
    }
}

pub fn floor_for(features: &Features, policy: &Policy) -> Option<Floor> {
    features
        .categories
        .keys()
        .filter_map(|cat| {
            policy.risk.floors.get(cat).map(|v| Floor {
                category: *cat,
                value: *v,
            })
        })
        .max_by(|a, b| a.value.total_cmp(&b.value))
}

pub fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

pub fn round(x: f64, digits: i32) -> f64 {
    let m = 10f64.powi(digits);
    (x * m).round() / m
}
