//! A rollout: the loop where a planner proposes, the guard disposes, tools act on
//! the world and the canary judge watches independently.

mod approval;
mod budgets;
pub mod events;
mod exec;
mod explain;
mod handover;
mod judging;
mod metrics;
mod promote;
mod reference;
mod resume;
pub mod rollback;
mod runner;
pub mod start;
pub mod state;
pub mod stop;
mod strategy;
pub mod terminal;
mod weight;

use std::sync::Arc;

use serde::Serialize;

use crate::approval::Approver;
use crate::assess::Assessment;
use crate::clock::Clock;
use crate::guard::Rule;
use crate::journal::{Journal, LeaseKeeper};
use crate::metrics::MetricsSource;
use crate::narrate::{Narrative, Narrator};
use crate::traffic::TrafficRouter;

pub use resume::{resume, ResumePoint};
pub use runner::{run, MAX_IDLE_TURNS};
pub use start::{check_start, StartError};
use state::{ApprovalRecord, Outcome, RiskSnapshot, Step};
pub use stop::StopSignal;

/// What is being rolled out, where.
#[derive(Debug, Clone)]
pub struct RolloutSpec {
    pub id: String,
    pub service: String,
    pub rev: String,
    /// `sim`, `haproxy`, ... (for records).
    pub target: String,
    /// The canary weight the target serves when the rollout starts: 0, unless
    /// the operator adopted a live canary (`--adopt`, see [`check_start`]).
    pub start_weight: u8,
}

/// The world a rollout acts on, behind traits.
#[derive(Clone)]
pub struct Backends {
    pub traffic: Arc<dyn TrafficRouter>,
    pub metrics: Arc<dyn MetricsSource>,
    pub approver: Arc<dyn Approver>,
    pub clock: Arc<dyn Clock>,
    /// Where write-ahead intents go before each traffic change; `None` (evals,
    /// benches, tests) skips them.
    pub journal: Option<Arc<dyn Journal>>,
    /// An operator's stop (Ctrl-C, SIGTERM): the loop rolls back and ends.
    pub stop: StopSignal,
    /// The service's lease, when journaled: every intent is fenced by it, and
    /// once it is lost the loop makes no further change (the new owner does).
    pub lease: Option<Arc<LeaseKeeper>>,
    /// Writes the texts people read about the rollout (the rollback's
    /// explanation): templates unless a model is configured.
    pub narrator: Narrator,
}

impl Backends {
    /// The simulated world as a complete set of backends (the embedded default).
    pub fn simulated(
        config: crate::sim::SimConfig,
        clock: Arc<crate::clock::VirtualClock>,
        approver: Arc<dyn Approver>,
    ) -> (Self, Arc<crate::sim::SimWorld>) {
        let world = crate::sim::SimWorld::new(config, clock.clone());
        let backends = Self {
            traffic: Arc::new(world.traffic()),
            metrics: Arc::new(world.metrics()),
            approver,
            clock,
            journal: None,
            stop: StopSignal::default(),
            lease: None,
            narrator: Narrator::template(),
        };
        (backends, world)
    }

    /// Real traffic and metrics on the system clock. Metrics adapters map the
    /// rollout clock to wall time; here it *is* Unix time.
    pub fn real(
        traffic: Arc<dyn TrafficRouter>,
        metrics: Arc<dyn MetricsSource>,
        approver: Arc<dyn Approver>,
    ) -> Self {
        Self {
            traffic,
            metrics,
            approver,
            clock: Arc::new(crate::clock::SystemClock),
            journal: None,
            stop: StopSignal::default(),
            lease: None,
            narrator: Narrator::template(),
        }
    }

    /// Records a write-ahead intent in `journal` before every traffic change.
    pub fn with_journal(mut self, journal: Arc<dyn Journal>) -> Self {
        self.journal = Some(journal);
        self
    }

    /// Stops the loop (rolling back) when `stop` is triggered.
    pub fn with_stop(mut self, stop: StopSignal) -> Self {
        self.stop = stop;
        self
    }

    /// Has the model write the texts people read, checked against the numbers.
    pub fn with_narrator(mut self, narrator: Narrator) -> Self {
        self.narrator = narrator;
        self
    }

    /// Fences every intent by `lease`, and stops the loop, hands off, once it is lost.
    pub fn with_lease(mut self, lease: Arc<LeaseKeeper>) -> Self {
        self.lease = Some(lease);
        self
    }
}

/// What the rollout knows about the change before it starts.
#[derive(Debug, Clone)]
pub struct ChangeContext {
    pub assessment: Assessment,
    /// A bounded diff excerpt for `get_diff`.
    pub diff: String,
}

impl ChangeContext {
    pub fn risk(&self) -> RiskSnapshot {
        let a = &self.assessment;
        RiskSnapshot {
            score: a.risk_score,
            level: a.level,
            requires_approval: a.requires_approval,
            approval_reasons: a.approval_reasons.clone(),
            strategy: a.strategy.clone(),
        }
    }
}

/// A veto, for the summary.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct VetoRecord {
    pub call_id: String,
    pub tool: String,
    pub rule: Rule,
    pub reason: String,
}

/// A change of planner during the rollout, for the summary.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct HandoverRecord {
    pub from: String,
    pub to: String,
    pub reason: String,
    /// The first turn the new planner planned.
    pub turn: u32,
}

/// How a rollout went: every decision with its reason.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct RolloutSummary {
    pub id: String,
    pub service: String,
    pub rev: String,
    /// Who planned: `playbook`, `llm:<model>`, or `llm:<model> → playbook`
    /// after a hand-over.
    pub planner: String,
    /// Why the planner changed mid-rollout, if it did.
    pub handover: Option<HandoverRecord>,
    pub outcome: Outcome,
    pub reason: String,
    pub final_weight: u8,
    pub risk: RiskSnapshot,
    pub steps: Vec<Step>,
    pub vetoes: Vec<VetoRecord>,
    pub approval: Option<ApprovalRecord>,
    /// What the promotion rested on (None unless promoted).
    pub promoted_on: Option<state::PromotedOn>,
    /// Why it was rolled back, for people (None unless rolled back): the
    /// model's words when grounded in the numbers, else the template's.
    pub explanation: Option<Narrative>,
    pub turns: u32,
    pub prompt_tokens: u64,
    pub completion_tokens: u64,
    pub started_at: f64,
    pub ended_at: f64,
}

impl RolloutSummary {
    pub fn duration_seconds(&self) -> f64 {
        self.ended_at - self.started_at
    }
}
