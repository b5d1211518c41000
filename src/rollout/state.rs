//! The rollout's state: explicit phases and the facts the guard decides on.
//!
//! Plain data, changed only by the loop through the methods here, so every
//! transition is in one place.

use serde::{Deserialize, Serialize};

use crate::canary::{Verdict, VerdictKind};
use crate::policy::{Level, Strategy};

/// Where a rollout is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(tag = "phase", rename_all = "snake_case")]
pub enum Phase {
    Assessing,
    AwaitingApproval,
    /// Canary at `weight` percent (0 before the first step).
    Canary {
        weight: u8,
    },
    Promoted,
    RolledBack,
    Aborted,
}

impl Phase {
    pub fn is_terminal(self) -> bool {
        matches!(self, Phase::Promoted | Phase::RolledBack | Phase::Aborted)
    }
}

/// How a rollout ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Promoted,
    RolledBack,
    /// Ended without promotion and without a judge's Fail: approval refused, budget
    /// spent, circuit breaker, planner gave up. Traffic is back on stable.
    Aborted,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Promoted => "promoted",
            Outcome::RolledBack => "rolled_back",
            Outcome::Aborted => "aborted",
        }
    }
}

/// The risk facts a rollout runs under (computed by Rust, never by the model).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct RiskSnapshot {
    pub score: f64,
    pub level: Level,
    pub requires_approval: bool,
    pub approval_reasons: Vec<String>,
    pub strategy: Strategy,
}

/// A recorded approval decision.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct ApprovalRecord {
    pub approved: bool,
    pub by: Option<String>,
    pub at: f64,
    pub reason: String,
}

/// The guard's limits for this rollout: the policy strategy of the assessed level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Limits {
    pub max_first_weight: u8,
    pub max_step: u8,
    pub min_bake_seconds: f64,
    pub promote_min_weight: u8,
    /// The strategy is `direct`: promotion without a canary is allowed.
    pub direct: bool,
}

impl Limits {
    /// The strategy's numbers, read as limits.
    pub fn new(strategy: &Strategy) -> Self {
        match *strategy {
            Strategy::Direct => Self {
                max_first_weight: 100,
                max_step: 100,
                min_bake_seconds: 0.0,
                promote_min_weight: 100,
                direct: true,
            },
            Strategy::Canary {
                first_weight,
                step,
                bake_seconds,
                promote_at,
            } => Self {
                max_first_weight: first_weight,
                max_step: step,
                min_bake_seconds: f64::from(bake_seconds),
                promote_min_weight: promote_at,
                direct: false,
            },
        }
    }
}

/// One weight step, for the summary.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Step {
    pub weight: u8,
    pub at: f64,
    /// The last verdict at this weight, if any was reached.
    pub verdict: Option<VerdictKind>,
    pub summary: Option<String>,
}

/// Everything the guard and the planners may read about a rollout.
#[derive(Debug, Clone)]
pub struct RolloutState {
    pub id: String,
    pub phase: Phase,
    pub weight: u8,
    pub risk: RiskSnapshot,
    pub limits: Limits,
    pub approval: Option<ApprovalRecord>,
    pub started_at: f64,
    pub weight_changed_at: f64,
    /// The latest verdict at the current weight.
    pub verdict: Option<Verdict>,
    /// Bake periods judged at the current weight so far.
    pub judgements_at_weight: u32,
    pub turns: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub vetoes: u32,
    pub consecutive_vetoes: u32,
    pub steps: Vec<Step>,
}

impl RolloutState {
    pub fn new(id: String, risk: RiskSnapshot, limits: Limits, now: f64) -> Self {
        Self {
            id,
            phase: Phase::Assessing,
            weight: 0,
            risk,
            limits,
            approval: None,
            started_at: now,
            weight_changed_at: now,
            verdict: None,
            judgements_at_weight: 0,
            turns: 0,
            prompt_tokens: 0,
            completion_tokens: 0,
            vetoes: 0,
            consecutive_vetoes: 0,
            steps: Vec::new(),
        }
    }

    /// Whether an approval is still needed before traffic may move.
    pub fn approval_missing(&self) -> bool {
        self.risk.requires_approval && !self.approval.as_ref().is_some_and(|a| a.approved)
    }

    pub fn approval_rejected(&self) -> bool {
        self.approval.as_ref().is_some_and(|a| !a.approved)
    }

    pub fn tokens(&self) -> u64 {
        self.prompt_tokens + self.completion_tokens
    }

    /// Seconds baked at the current weight.
    pub fn baked(&self, now: f64) -> f64 {
        now - self.weight_changed_at
    }

    /// Records a weight change that took effect.
    pub fn set_weight(&mut self, weight: u8, now: f64) {
        self.weight = weight;
        self.weight_changed_at = now;
        self.verdict = None;
        self.judgements_at_weight = 0;
        self.phase = Phase::Canary { weight };
        self.steps.push(Step {
            weight,
            at: now,
            verdict: None,
            summary: None,
        });
    }

    /// Records a judge verdict at the current weight; `bake_end` when it closes a bake period.
    pub fn record_verdict(&mut self, verdict: Verdict, bake_end: bool) {
        self.judgements_at_weight += u32::from(bake_end);
        if let Some(step) = self.steps.last_mut() {
            step.verdict = Some(verdict.kind);
            step.summary = Some(verdict.summary.clone());
        }
        self.verdict = Some(verdict);
    }

    pub fn verdict_kind(&self) -> Option<VerdictKind> {
        self.verdict.as_ref().map(|v| v.kind)
    }

    pub fn finish(&mut self, outcome: Outcome) {
        self.phase = match outcome {
            Outcome::Promoted => Phase::Promoted,
            Outcome::RolledBack => Phase::RolledBack,
            Outcome::Aborted => Phase::Aborted,
        };
        if outcome != Outcome::Promoted {
            self.weight = 0;
        } else {
            self.weight = 100;
        }
    }
}
