//! Policy: the TOML file that holds every weight, floor, threshold and rule.
//!
//! Loaded once, validated into typed values; the rest of the crate never parses
//! policy text. The embedded default is `policies/default.toml`.

mod categories;
mod freeze;
mod inconclusive;

pub use freeze::{Freeze, Window as FreezeWindow};
pub use inconclusive::{InconclusivePolicy, OnInconclusive};

pub use categories::{Category, CategoryMatcher, CategoryRule};

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The policy compiled into the binary, used when none is configured.
pub const DEFAULT_POLICY: &str = include_str!("../../policies/default.toml");

/// A risk level, from the score and the policy's thresholds.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
    clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Low,
    Medium,
    High,
    Critical,
}

impl Level {
    pub const ALL: [Level; 4] = [Level::Low, Level::Medium, Level::High, Level::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Low => "low",
            Level::Medium => "medium",
            Level::High => "high",
            Level::Critical => "critical",
        }
    }
}

/// How to roll a change out, as the policy recommends it for a level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Strategy {
    /// Shift all traffic at once, then verify: the new version's metrics are
    /// judged against the previous version's (the same hours a week earlier,
    /// or just before the switch) for `verify_seconds`, and promoted only on
    /// a Pass. `verify_seconds = 0` promotes without any verification, and
    /// every report says so.
    Direct {
        #[serde(default = "default_verify_seconds")]
        verify_seconds: u32,
    },
    /// Shift traffic in steps, baking at each one while the canary is judged.
    Canary {
        /// Percent of traffic on the canary at the first step.
        first_weight: u8,
        /// Percent added at each later step.
        step: u8,
        /// Seconds to wait and judge at each step before the next.
        bake_seconds: u32,
        /// Promote once a Pass is reached at this weight or more.
        promote_at: u8,
    },
}

/// A direct deploy is verified for five minutes unless policy says otherwise.
fn default_verify_seconds() -> u32 {
    300
}

impl Strategy {
    /// The weights the canary goes through, ending at 100 (the promotion).
    pub fn weights(&self) -> Vec<u8> {
        match *self {
            Strategy::Direct { .. } => vec![100],
            Strategy::Canary {
                first_weight,
                step,
                promote_at,
                ..
            } => {
                let mut out = vec![first_weight.min(100)];
                let mut w = u16::from(first_weight);
                while w < u16::from(promote_at) && w < 100 {
                    w = (w + u16::from(step.max(1))).min(100);
                    out.push(w as u8);
                }
                if w < 100 {
                    out.push(100);
                }
                out
            }
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskModel {
    pub intercept: f64,
    pub weights: BTreeMap<String, f64>,
    #[serde(default)]
    pub floors: BTreeMap<Category, f64>,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryPolicy {
    pub max_commits: usize,
    pub max_age_days: u32,
    pub recent_days: u32,
    pub young_days: u32,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationPolicy {
    pub enabled: bool,
    pub min_reverts: usize,
    pub prior_strength: f64,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LevelThresholds {
    pub medium: f64,
    pub high: f64,
    pub critical: f64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyTable {
    pub low: Strategy,
    pub medium: Strategy,
    pub high: Strategy,
    pub critical: Strategy,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovalPolicy {
    #[serde(default)]
    pub levels: Vec<Level>,
    #[serde(default)]
    pub categories: Vec<Category>,
    /// Levels whose approval needs two distinct approvers (four eyes on the
    /// riskiest changes); every other approval needs one.
    #[serde(default)]
    pub two_approvers: Vec<Level>,
}

impl ApprovalPolicy {
    /// How many distinct approvers an approval at `level` needs: 2 for the
    /// `two_approvers` levels, else 1.
    pub fn required_approvals(&self, level: Level) -> u32 {
        if self.two_approvers.contains(&level) {
            2
        } else {
            1
        }
    }
}

/// Limits on every rollout, enforced by the guard and the loop.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RolloutPolicy {
    /// How often the judge looks at the metrics while a canary has traffic.
    pub check_interval_seconds: f64,
    pub max_turns: u32,
    pub max_tokens: u64,
    pub max_duration_seconds: u64,
    pub max_consecutive_vetoes: u32,
    pub max_vetoes: u32,
    pub approval_timeout_seconds: u64,
    pub max_inconclusive_bakes: u32,
    /// What `deploy-agent resume` does with a rollout whose process died.
    #[serde(default)]
    pub on_resume: OnResume,
    /// Oldest Pass an increase or promotion may act on (seconds since the end
    /// of the last window the judge saw).
    #[serde(default = "default_max_verdict_age")]
    pub max_verdict_age_seconds: f64,
    /// How long a rollback is retried (with backoff) before the rollout ends
    /// `rollback_failed` and the operator is told what still serves.
    #[serde(default = "default_rollback_deadline")]
    pub rollback_deadline_seconds: f64,
    /// Traffic changes the target refused in a row before the rollout ends
    /// (traffic back on stable) instead of letting the planner retry.
    #[serde(default = "default_max_target_failures")]
    pub max_target_failures: u32,
    /// What happens when a step stays Inconclusive (`[rollout.inconclusive]`).
    #[serde(default)]
    pub inconclusive: InconclusivePolicy,
}

fn default_max_verdict_age() -> f64 {
    60.0
}

fn default_rollback_deadline() -> f64 {
    300.0
}

fn default_max_target_failures() -> u32 {
    3
}

/// What `deploy-agent resume` does with a rollout left unfinished by a crash.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnResume {
    /// Route all traffic to stable and finish the rollout as rolled back (the default).
    #[default]
    Rollback,
    /// Pick the loop up at the live weight from the journaled state (risk,
    /// approval, budgets); the judge starts over. Rolls back when it cannot.
    Continue,
}

impl OnResume {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rollback => "rollback",
            Self::Continue => "continue",
        }
    }
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmPolicy {
    pub max_below_deterministic: f64,
}

/// The policy as written in TOML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPolicy {
    name: String,
    version: u32,
    risk: RiskModel,
    history: HistoryPolicy,
    calibration: CalibrationPolicy,
    levels: LevelThresholds,
    strategy: StrategyTable,
    approval: ApprovalPolicy,
    rollout: RolloutPolicy,
    #[serde(default)]
    canary: crate::canary::SequentialConfig,
    llm: LlmPolicy,
    categories: Vec<CategoryRule>,
    /// Change freezes (`[[freeze]]`); none by default.
    #[serde(default)]
    freeze: Vec<freeze::RawFreeze>,
}

/// A validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    pub name: String,
    pub version: u32,
    /// First 12 hex digits of the SHA-256 of the policy text, recorded in every report.
    pub hash: String,
    pub risk: RiskModel,
    pub history: HistoryPolicy,
    pub calibration: CalibrationPolicy,
    pub levels: LevelThresholds,
    pub strategy: StrategyTable,
    pub approval: ApprovalPolicy,
    pub rollout: RolloutPolicy,
    /// The canary judge's settings.
    pub canary: crate::canary::SequentialConfig,
    pub llm: LlmPolicy,
    pub categories: CategoryMatcher,
    /// Change freezes, checked when a rollout starts.
    pub freezes: Vec<Freeze>,
}

/// Why a policy could not be used. Messages name the file and the fix.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("cannot read policy {path}: {source} (check the path given by --policy or `policy` in deploy-agent.toml)")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("policy {origin} is not valid TOML for a policy: {message}")]
    Parse { origin: String, message: String },
    #[error("policy {origin} is invalid: {message}")]
    Invalid { origin: String, message: String },
}

/// Feature names the risk model knows, in a fixed order (the columns of
/// `backtest --features` and of a fitted model); a weight for any other name
/// is a typo.
pub const KNOWN_FEATURES: &[&str] = &[
    "touches_migration",
    "touches_security",
    "touches_infra",
    "touches_config",
    "touches_api_contract",
    "touches_dependency",
    "touches_ci",
    "touches_source",
    "touches_other",
    "binary_files",
    "submodule_bump",
    "tests_only",
    "docs_only",
    "log_lines",
    "log_files",
    "subsystems",
    "entropy",
    "history_reverts",
    "history_fixes",
    "history_churn",
    "history_authors",
    "young_files",
    "author_experience",
    "message_revert",
    "message_hotfix",
    "message_fix",
    "message_wip",
    "file_revert_rate",
    "dir_revert_rate",
    "author_revert_rate",
    "author_recent",
    "author_ownership",
    "author_idle",
    "repo_busy",
    "file_age",
    "file_idle",
    "message_reland",
    "bot_author",
    "dependency_bump",
    "message_length",
    "subject_length",
    "log_added",
    "log_deleted",
    "new_files",
    "log_dirs",
];

impl Policy {
    /// The embedded default policy.
    pub fn embedded() -> Result<Self, PolicyError> {
        Self::parse(DEFAULT_POLICY, "policies/default.toml (embedded)")
    }

    /// Loads a policy file.
    pub fn load(path: &Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses and validates policy text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Self, PolicyError> {
        let raw: RawPolicy = toml::from_str(text).map_err(|e| PolicyError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        let invalid = |message: String| PolicyError::Invalid {
            origin: origin.to_string(),
            message,
        };
        validate(&raw).map_err(invalid)?;
        let categories =
            CategoryMatcher::new(&raw.categories).map_err(|m| PolicyError::Invalid {
                origin: origin.to_string(),
                message: m,
            })?;
        let freezes = raw
            .freeze
            .iter()
            .cloned()
            .map(Freeze::from_raw)
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid)?;
        let digest = Sha256::digest(text.as_bytes());
        let hash = hex::encode(&digest[..6]);
        Ok(Policy {
            name: raw.name,
            version: raw.version,
            hash,
            risk: raw.risk,
            history: raw.history,
            calibration: raw.calibration,
            levels: raw.levels,
            strategy: raw.strategy,
            approval: raw.approval,
            rollout: raw.rollout,
            canary: raw.canary,
            llm: raw.llm,
            categories,
            freezes,
        })
    }

    /// The first freeze covering Unix time `now`, blocking ones first.
    pub fn active_freeze(&self, now: f64) -> Option<&Freeze> {
        let active = || self.freezes.iter().filter(|f| f.is_active(now));
        active().find(|f| f.block).or_else(|| active().next())
    }

    /// The weight of a feature (0 when the policy leaves it out).
    pub fn weight(&self, feature: &str) -> f64 {
        self.risk.weights.get(feature).copied().unwrap_or(0.0)
    }

    pub fn level_for(&self, score: f64) -> Level {
        let t = &self.levels;
        if score >= t.critical {
            Level::Critical
        } else if score >= t.high {
            Level::High
        } else if score >= t.medium {
            Level::Medium
        } else {
            Level::Low
        }
    }

    pub fn strategy_for(&self, level: Level) -> &Strategy {
        match level {
            Level::Low => &self.strategy.low,
            Level::Medium => &self.strategy.medium,
            Level::High => &self.strategy.high,
            Level::Critical => &self.strategy.critical,
        }
    }
}

fn validate(raw: &RawPolicy) -> Result<(), String> {
    // A two-approver level that never needs approval would be a rule that never
    // applies by score: refuse it rather than let the reader believe otherwise.
    for level in &raw.approval.two_approvers {
        if !raw.approval.levels.contains(level) {
            return Err(format!(
                "[approval] two_approvers lists `{}`, which is not in [approval] levels: add it there too, or drop it",
                level.as_str()
            ));
        }
    }
    for name in raw.risk.weights.keys() {
        if !KNOWN_FEATURES.contains(&name.as_str()) {
            return Err(format!(
                "unknown feature `{name}` in [risk.weights]; known features: {}",
                KNOWN_FEATURES.join(", ")
            ));
        }
    }
    for (name, w) in &raw.risk.weights {
        if !w.is_finite() {
            return Err(format!("weight `{name}` must be a finite number"));
        }
    }
    for (cat, floor) in &raw.risk.floors {
        if !(0.0..=1.0).contains(floor) {
            return Err(format!(
                "floor for `{}` must be in [0, 1], got {floor}",
                cat.as_str()
            ));
        }
    }
    let l = &raw.levels;
    if !(0.0 < l.medium && l.medium < l.high && l.high < l.critical && l.critical <= 1.0) {
        return Err("[levels] must satisfy 0 < medium < high < critical <= 1".into());
    }
    for (level, s) in [
        ("low", &raw.strategy.low),
        ("medium", &raw.strategy.medium),
        ("high", &raw.strategy.high),
        ("critical", &raw.strategy.critical),
    ] {
        if let Strategy::Canary {
            first_weight,
            step,
            promote_at,
            ..
        } = s
        {
            if *first_weight == 0 || *first_weight > 100 || *step == 0 || *step > 100 {
                return Err(format!(
                    "[strategy.{level}] needs 1 <= first_weight <= 100 and 1 <= step <= 100"
                ));
            }
            if *promote_at < *first_weight || *promote_at > 100 {
                return Err(format!(
                    "[strategy.{level}] needs first_weight <= promote_at <= 100"
                ));
            }
        }
    }
    let r = &raw.rollout;
    if r.max_turns == 0 || r.max_consecutive_vetoes == 0 || r.max_vetoes == 0 {
        return Err(
            "[rollout] max_turns, max_consecutive_vetoes and max_vetoes must be at least 1".into(),
        );
    }
    if r.check_interval_seconds.is_nan() || r.check_interval_seconds < 1.0 {
        return Err("[rollout] check_interval_seconds must be at least 1".into());
    }
    if r.max_verdict_age_seconds.is_nan() || r.max_verdict_age_seconds < r.check_interval_seconds {
        return Err(
            "[rollout] max_verdict_age_seconds must be at least check_interval_seconds (the judge looks that often)".into(),
        );
    }
    if !(r.rollback_deadline_seconds >= 1.0 && r.rollback_deadline_seconds <= 86_400.0) {
        return Err("[rollout] rollback_deadline_seconds must be between 1 and 86400".into());
    }
    if r.max_target_failures == 0 {
        return Err("[rollout] max_target_failures must be at least 1".into());
    }
    let c = &raw.canary;
    let unit = |x: f64| 0.0 < x && x < 1.0;
    if !(unit(c.alpha) && unit(c.beta)) {
        return Err("[canary] alpha and beta must be between 0 and 1".into());
    }
    if c.error_margin < 0.0 || c.error_bad_ratio <= 1.0 + c.error_margin {
        return Err(
            "[canary] needs error_margin >= 0 and error_bad_ratio > 1 + error_margin".into(),
        );
    }
    if c.latency_auc_margin < 0.0
        || c.latency_auc_pass <= c.latency_auc_margin
        || c.latency_auc_pass >= 0.5
    {
        return Err("[canary] needs 0 <= latency_auc_margin < latency_auc_pass < 0.5".into());
    }
    if raw.history.max_commits == 0 {
        return Err("[history] max_commits must be at least 1".into());
    }
    if !(0.0..=1.0).contains(&raw.llm.max_below_deterministic) {
        return Err("[llm] max_below_deterministic must be in [0, 1]".into());
    }
    if raw.calibration.prior_strength <= 0.0 || !raw.calibration.prior_strength.is_finite() {
        return Err("[calibration] prior_strength must be a positive number".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_policy_is_valid() {
        let p = Policy::embedded().unwrap();
        assert_eq!(p.level_for(0.1), Level::Low);
        assert_eq!(p.level_for(0.8), Level::Critical);
        assert_eq!(p.hash.len(), 12);
    }

    #[test]
    fn canary_weights_end_at_100() {
        let s = Strategy::Canary {
            first_weight: 5,
            step: 30,
            bake_seconds: 1,
            promote_at: 50,
        };
        assert_eq!(s.weights(), vec![5, 35, 65, 100]);
        assert_eq!(
            Strategy::Direct {
                verify_seconds: 300
            }
            .weights(),
            vec![100]
        );
    }

    #[test]
    fn unknown_weight_is_named() {
        let text = DEFAULT_POLICY.replace("touches_ci = 0.8", "touches_cj = 0.8");
        let err = Policy::parse(&text, "x.toml").unwrap_err().to_string();
        assert!(err.contains("touches_cj"), "{err}");
    }

    #[test]
    fn two_approvers_apply_to_listed_levels_that_need_approval() {
        let p = Policy::embedded().unwrap();
        assert_eq!(
            p.approval.required_approvals(Level::Critical),
            1,
            "default: one"
        );
        let text = DEFAULT_POLICY.replace("two_approvers = []", "two_approvers = [\"critical\"]");
        let p = Policy::parse(&text, "x.toml").unwrap();
        assert_eq!(p.approval.required_approvals(Level::Critical), 2);
        assert_eq!(p.approval.required_approvals(Level::High), 1);
        let text = DEFAULT_POLICY.replace("two_approvers = []", "two_approvers = [\"low\"]");
        let err = Policy::parse(&text, "x.toml").unwrap_err().to_string();
        assert!(err.contains("two_approvers lists `low`"), "{err}");
    }
}
