//! The rollout's state: explicit phases and the facts the guard decides on.
//!
//! Plain data, changed only by the loop through the methods here, so every
//! transition is in one place.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::canary::{Verdict, VerdictKind};
use crate::policy::{InconclusivePolicy, Level, Strategy};
use crate::traffic::Granularity;

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
    /// The rollback could not be confirmed on the target before its deadline:
    /// the canary may still serve. The loop stops; the journal keeps the
    /// rollout open so `resume` retries the rollback.
    RollbackFailed,
}

impl Phase {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Phase::Promoted | Phase::RolledBack | Phase::Aborted | Phase::RollbackFailed
        )
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
    /// A rollback was needed and the target never confirmed it: the canary
    /// may still serve, at the final weight recorded. Not an end: the journal
    /// keeps the rollout open and `resume` retries the rollback.
    RollbackFailed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Promoted => "promoted",
            Outcome::RolledBack => "rolled_back",
            Outcome::Aborted => "aborted",
            Outcome::RollbackFailed => "rollback_failed",
        }
    }

    /// Whether the journal may close the rollout: every outcome but a
    /// rollback that was never confirmed.
    pub fn is_final(self) -> bool {
        self != Outcome::RollbackFailed
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

/// What a promotion rested on (for the report: a promotion without a Pass says so).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum PromotedOn {
    /// The judge's Pass at the promotion weight.
    Pass,
    /// A human's decision to go on without a Pass (the step stayed Inconclusive).
    Human,
    /// Nothing: a direct deploy policy lets go unverified (`verify_seconds = 0`).
    Unverified,
}

impl PromotedOn {
    pub fn as_str(self) -> &'static str {
        match self {
            PromotedOn::Pass => "a Pass",
            PromotedOn::Human => "a human's decision without a Pass",
            PromotedOn::Unverified => "nothing: not verified (policy verify_seconds = 0)",
        }
    }
}

/// The guard's limits for this rollout: the policy strategy of the assessed level.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Limits {
    pub max_first_weight: u8,
    pub max_step: u8,
    pub min_bake_seconds: f64,
    pub promote_min_weight: u8,
    /// The strategy is `direct`: all traffic at once (then verified).
    pub direct: bool,
    /// A direct deploy that policy lets promote without any verification
    /// (`verify_seconds = 0`): the only promotion allowed without a verdict.
    pub unverified: bool,
}

impl Limits {
    /// The strategy's numbers, read as limits.
    pub fn new(strategy: &Strategy) -> Self {
        match *strategy {
            Strategy::Direct { verify_seconds } => Self {
                max_first_weight: 100,
                max_step: 100,
                min_bake_seconds: f64::from(verify_seconds),
                promote_min_weight: 100,
                direct: true,
                unverified: verify_seconds == 0,
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
                unverified: false,
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
    /// The limits the guard holds planners to: the assessed level's strategy,
    /// or a more cautious one a planner chose (`choose_strategy`).
    pub limits: Limits,
    /// The strategy policy sets for every level, so a planner may choose a
    /// more cautious one; `new` knows only the assessed level's, the loop
    /// fills in policy's table.
    pub strategies: BTreeMap<Level, Strategy>,
    /// The level whose strategy `limits` come from: the assessed one, or the
    /// one a planner chose (vetoes name it).
    pub strategy_level: Level,
    /// The extra metrics a planner may add (`add_metrics`): the metrics
    /// backend's allow-listed catalogue.
    pub catalogue: Vec<crate::metrics::CatalogueEntry>,
    /// The catalogue metrics a planner added, judged beside the required ones.
    pub extra_metrics: Vec<String>,
    pub approval: Option<ApprovalRecord>,
    pub started_at: f64,
    pub weight_changed_at: f64,
    /// What the target can serve (the guard allows only exact shares).
    pub granularity: Granularity,
    /// The latest verdict at the current weight.
    pub verdict: Option<Verdict>,
    /// End of the last window the judge saw (the verdict's freshness): an
    /// increase needs a Pass whose evidence reaches past the bake and is no
    /// older than `max_verdict_age`.
    pub verdict_until: f64,
    /// Oldest verdict an increase or promotion may act on, seconds (from
    /// `[rollout] max_verdict_age_seconds`).
    pub max_verdict_age: f64,
    /// Bake periods judged at the current weight so far.
    pub judgements_at_weight: u32,
    /// Bake periods at one weight without a Pass before the playbook stops
    /// waiting (`[rollout] max_inconclusive_bakes`), and what then.
    pub inconclusive_bakes: u32,
    pub inconclusive: InconclusivePolicy,
    /// A human decided to go on from this weight without a Pass.
    pub continued_at: Option<u8>,
    /// A human was asked about going on from this weight.
    pub asked_at: Option<u8>,
    /// What the promotion rested on, once promoted.
    pub promoted_on: Option<PromotedOn>,
    pub turns: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub vetoes: u32,
    pub consecutive_vetoes: u32,
    pub steps: Vec<Step>,
}

impl RolloutState {
    /// Whether the canary has served any traffic in this rollout (weights
    /// only go up, so 0 with no step means never).
    pub fn traffic_moved(&self) -> bool {
        self.weight > 0 || !self.steps.is_empty()
    }

    pub fn new(id: String, risk: RiskSnapshot, limits: Limits, now: f64) -> Self {
        let strategies = BTreeMap::from([(risk.level, risk.strategy.clone())]);
        let strategy_level = risk.level;
        Self {
            id,
            phase: Phase::Assessing,
            weight: 0,
            risk,
            limits,
            strategies,
            strategy_level,
            catalogue: Vec::new(),
            extra_metrics: Vec::new(),
            approval: None,
            started_at: now,
            weight_changed_at: now,
            granularity: Granularity::Percent,
            verdict: None,
            verdict_until: now,
            max_verdict_age: f64::INFINITY,
            judgements_at_weight: 0,
            inconclusive_bakes: 6,
            inconclusive: InconclusivePolicy::default(),
            continued_at: None,
            asked_at: None,
            promoted_on: None,
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

    /// Records a weight change that took effect (read back from the target).
    pub fn set_weight(&mut self, weight: u8, now: f64) {
        self.weight = weight;
        self.weight_changed_at = now;
        self.verdict_until = now;
        self.verdict = None;
        self.judgements_at_weight = 0;
        self.phase = Phase::Canary { weight };
        self.asked_at = None;
        self.steps.push(Step {
            weight,
            at: now,
            verdict: None,
            summary: None,
        });
    }

    /// Records a judge verdict at the current weight, on evidence up to
    /// `until`; `bake_end` when it closes a bake period.
    pub fn record_verdict(&mut self, verdict: Verdict, until: f64, bake_end: bool) {
        self.judgements_at_weight += u32::from(bake_end);
        self.verdict_until = until;
        if let Some(step) = self.steps.last_mut() {
            step.verdict = Some(verdict.kind);
            step.summary = Some(verdict.summary.clone());
        }
        self.verdict = Some(verdict);
    }

    pub fn verdict_kind(&self) -> Option<VerdictKind> {
        self.verdict.as_ref().map(|v| v.kind)
    }

    /// The step has stayed Inconclusive for the bakes policy waits for: a
    /// human may be asked, or a bounded step taken, as policy says.
    pub fn inconclusive_settled(&self) -> bool {
        self.verdict_kind() == Some(VerdictKind::Inconclusive)
            && self.judgements_at_weight >= self.inconclusive_bakes
    }

    /// Going on from this weight without a Pass to `next` % (None: promote)
    /// is allowed: a human decided so here, or policy's bounded step allows it.
    /// `Err` says why not.
    pub fn may_go_on_without_pass(&self, next: Option<u8>) -> Result<String, NoPassRefused> {
        if self.verdict_kind() != Some(VerdictKind::Inconclusive) {
            return Err(NoPassRefused::NotInconclusive);
        }
        if self.continued_at == Some(self.weight) {
            return Ok(format!(
                "a human decided to go on from {}% without a Pass",
                self.weight
            ));
        }
        if !self.inconclusive_settled() {
            return Err(NoPassRefused::StillBaking {
                judged: self.judgements_at_weight,
                needed: self.inconclusive_bakes,
                weight: self.weight,
            });
        }
        let Some(next) = next else {
            return Err(NoPassRefused::PromotionNeedsPass);
        };
        let harm = self.verdict.as_ref().and_then(|v| v.harm.as_ref());
        Ok(self.inconclusive.unproven_step(harm, next)?)
    }

    /// Ends the rollout with the weight the target was last read to serve:
    /// never assumed from the outcome (a rollback that failed leaves the
    /// canary serving, and the record must say so).
    pub fn finish(&mut self, outcome: Outcome, served: u8) {
        self.phase = match outcome {
            Outcome::Promoted => Phase::Promoted,
            Outcome::RolledBack => Phase::RolledBack,
            Outcome::Aborted => Phase::Aborted,
            Outcome::RollbackFailed => Phase::RollbackFailed,
        };
        self.weight = served;
    }
}
/// Why the step may not go on without a Pass; the guard's veto quotes it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum NoPassRefused {
    #[error("only an Inconclusive step may go on without a Pass")]
    NotInconclusive,
    #[error("{judged} of {needed} bake periods judged at {weight}%")]
    StillBaking {
        judged: u32,
        needed: u32,
        weight: u8,
    },
    #[error("promotion needs a Pass or a human's decision (request_approval with without_pass)")]
    PromotionNeedsPass,
    /// Policy's bounds do not allow this unproven step.
    #[error(transparent)]
    Bounds(#[from] crate::policy::UnprovenStepRefused),
}

#[cfg(test)]
mod fixture;
