//! Planners propose tool calls; they never execute anything. One trait, two
//! implementations: an OpenAI-compatible model and the offline playbook, and
//! one wrapper that hands a rollout from the first to the second when the
//! model cannot go on ([`HandoverPlanner`]).

pub mod chaos;
pub mod handover;
pub mod hijacked;
pub mod openai;
pub mod playbook;
mod repair;

use async_trait::async_trait;
use serde_json::Value;

use crate::rollout::state::RolloutState;
use crate::tools::ProposedCall;

pub use chaos::ChaosPlanner;
pub use handover::HandoverPlanner;
pub use openai::LlmPlanner;
pub use playbook::PlaybookPlanner;

/// The result (or veto) of one proposed call, fed back to the planner.
#[derive(Debug, Clone, PartialEq)]
pub struct Feedback {
    pub call_id: String,
    pub tool: String,
    /// What the planner sees: a short, safe JSON value.
    pub content: Value,
}

/// One planning step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    pub calls: Vec<ProposedCall>,
    /// Free text the planner said (a model's content), if any.
    pub message: Option<String>,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    pub prompt_hash: Option<String>,
}

/// Why a planner could not plan. The loop ends the rollout safely on it.
#[derive(Debug, thiserror::Error)]
pub enum PlannerError {
    #[error("the model endpoint failed: {0}")]
    Llm(#[from] crate::llm::LlmError),
}

/// A change of planner in the middle of a rollout: who planned, who plans
/// from now on, and why. The loop records it (an event, the summary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handover {
    pub from: String,
    pub to: String,
    pub reason: String,
}

/// Proposes the next tool calls from the rollout state and the last feedback.
#[async_trait]
pub trait Planner: Send {
    /// A short name for records (`playbook`, `llm:<model>`).
    fn name(&self) -> String;
    /// The next calls. `feedback` answers every call of the previous plan, in order.
    async fn next(
        &mut self,
        state: &RolloutState,
        feedback: &[Feedback],
    ) -> Result<Plan, PlannerError>;
    /// Tells the planner how the rollout ended when the loop, not the planner,
    /// ended it (an automatic rollback, a budget, the circuit breaker).
    fn notify(&mut self, _note: &str) {}
    /// A hand-over that happened in the last [`Planner::next`], reported once:
    /// the loop asks after every plan so the change is said in the events and
    /// the summary. Planners that never hand over keep the default.
    fn take_handover(&mut self) -> Option<Handover> {
        None
    }
    /// Whether the texts in this planner's calls (an approval summary, a
    /// rollback reason) are Rust's own, not a model's: those are shown as
    /// written; a model's are checked against the measurements first
    /// ([`crate::narrate`]). Models, and planners standing in for them, keep
    /// the default.
    fn writes_rust_text(&self) -> bool {
        false
    }
}
