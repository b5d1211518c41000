//! The policy file's sections as typed values (`[risk]`, `[history]`,
//! `[calibration]`, `[levels]`, `[strategy.*]`, `[approval]`, `[rollout]`,
//! `[llm]`). Kept apart from loading and validation so the shape of the file
//! reads in one place; serde refuses unknown keys in each.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Category, InconclusivePolicy, Level, Strategy};

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

/// The lowest score of each level above `low`.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize, Serialize, schemars::JsonSchema)]
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
    /// Model turns in a row with a malformed call (invalid arguments, an
    /// unknown tool) or no call at all before the playbook takes the rollout
    /// over. The first such turn gets one repair turn (the parse error and
    /// the tool's schema); below `max_consecutive_vetoes`, so a weak model
    /// degrades to the playbook rather than tripping the circuit breaker.
    #[serde(default = "default_max_invalid_turns")]
    pub max_invalid_turns: u32,
    /// What happens when the model endpoint still fails after the client's
    /// retries: the playbook takes over (the default), or the rollout aborts.
    #[serde(default)]
    pub on_model_failure: OnModelFailure,
    /// What happens when the model calls `rollback` before any traffic moved,
    /// when nothing has been measured yet: obey it (the default), or put its
    /// reason to a human first.
    #[serde(default)]
    pub on_model_stop: OnModelStop,
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

fn default_max_invalid_turns() -> u32 {
    2
}

/// What a rollout planned by a model does when the model endpoint fails
/// (after the client's bounded retries).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnModelFailure {
    /// The playbook planner plays the policy's strategy for the rest of the
    /// rollout from where it stands (the default): an outage of the model is
    /// not a reason to abort a healthy release.
    #[default]
    Playbook,
    /// End the rollout safely (traffic back on stable), as before hand-overs.
    Abort,
}

impl OnModelFailure {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Playbook => "playbook",
            Self::Abort => "abort",
        }
    }
}

/// A model's `rollback` before any traffic moved stops a deploy on no
/// measurement at all — what a weak model does on its first turn (issue 18:
/// SmolLM2-135M did it in 7 of 7 rollouts). Stopping is always safe, so the
/// default obeys; `ask` lets a human overrule it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OnModelStop {
    /// The rollout ends aborted, as the model asks.
    #[default]
    Obey,
    /// A human is asked with the model's reason: approve and the playbook
    /// plays the policy's strategy (guard and judge as ever); refuse, or no
    /// answer in time, and the rollout ends aborted. Only while no approval
    /// has been decided: a rollout a human already approved stops as the
    /// model asks (asking the same human twice is not a second opinion).
    Ask,
}

impl OnModelStop {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Obey => "obey",
            Self::Ask => "ask",
        }
    }
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
