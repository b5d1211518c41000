//! Policy: the TOML file that holds every weight, floor, threshold and rule.
//!
//! Loaded once, validated into typed values; the rest of the crate never parses
//! policy text. The embedded default is `policies/default.toml`.

mod categories;
mod freeze;
mod inconclusive;
mod rules;
mod sections;

pub use freeze::{Freeze, Window as FreezeWindow};
pub use inconclusive::{InconclusivePolicy, OnInconclusive, UnprovenStepRefused};

pub use categories::{Category, CategoryMatcher, CategoryRule};
pub use rules::RuleError;
pub use sections::{
    ApprovalPolicy, CalibrationPolicy, HistoryPolicy, LevelThresholds, LlmPolicy, OnModelFailure,
    OnModelStop, OnResume, RiskModel, RolloutPolicy, StrategyTable,
};

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
    #[error("policy {origin} is invalid: {rule}")]
    Invalid {
        origin: String,
        #[source]
        rule: RuleError,
    },
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
        let invalid = |rule: RuleError| PolicyError::Invalid {
            origin: origin.to_string(),
            rule,
        };
        rules::validate(&raw).map_err(invalid)?;
        let categories = CategoryMatcher::new(&raw.categories).map_err(invalid)?;
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

    /// Every level's strategy, for a planner that chooses a more cautious one.
    pub fn strategies(&self) -> std::collections::BTreeMap<Level, Strategy> {
        Level::ALL
            .iter()
            .map(|&l| (l, self.strategy_for(l).clone()))
            .collect()
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

#[cfg(test)]
mod tests;
