//! Asking humans. One trait; the terminal, a fixed answer for automation, the
//! journal (answered by `deploy-agent approve` from another shell), and Slack
//! (the journal plus buttons). Silence means no: a timeout is a rejection.

mod journal;
pub mod slack;
mod terminal;

pub use journal::JournalApprover;
pub use slack::SlackApprover;
pub use terminal::TerminalApprover;

use async_trait::async_trait;
use serde::Serialize;

use crate::policy::Level;

/// What the approver is shown.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApprovalRequest {
    pub rollout_id: String,
    pub service: String,
    pub rev: String,
    pub risk_score: f64,
    pub level: Level,
    pub reasons: Vec<String>,
    /// The planner's summary for the approver.
    pub summary: String,
    pub timeout_seconds: u64,
}

/// The answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApprovalAnswer {
    pub approved: bool,
    pub by: Option<String>,
    pub reason: String,
}

/// An approval channel.
#[async_trait]
pub trait Approver: Send + Sync {
    /// Asks and waits (at most the request's timeout; then it is a rejection).
    async fn request(&self, request: &ApprovalRequest) -> ApprovalAnswer;
}

/// Answers every request the same way: `--approve-as NAME` for automation, or a
/// standing rejection when nobody can be asked.
#[derive(Debug, Clone)]
pub struct FixedApprover {
    answer: ApprovalAnswer,
}

impl FixedApprover {
    /// Approves as `name` (recorded as the approver).
    pub fn approve_as(name: &str) -> Self {
        Self {
            answer: ApprovalAnswer {
                approved: true,
                by: Some(name.to_string()),
                reason: format!("approved by {name} (--approve-as)"),
            },
        }
    }

    /// Rejects, with the reason given.
    pub fn reject(reason: &str) -> Self {
        Self {
            answer: ApprovalAnswer {
                approved: false,
                by: None,
                reason: reason.to_string(),
            },
        }
    }
}

#[async_trait]
impl Approver for FixedApprover {
    async fn request(&self, _request: &ApprovalRequest) -> ApprovalAnswer {
        self.answer.clone()
    }
}
