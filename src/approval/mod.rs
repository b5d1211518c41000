//! Asking humans. One trait; the terminal, a fixed answer for automation, the
//! journal (answered by `deploy-agent approve` from another shell), and Slack
//! (the journal plus buttons). Silence means no: a timeout is a rejection.

pub mod identity;
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
    /// Distinct approvers needed (policy's `[approval] two_approvers`: 1 or 2).
    /// Channels that record in the journal enforce it there; the terminal and
    /// `--approve-as` answer for one person and cannot.
    pub required_approvals: u32,
    /// `None`: approve the rollout before traffic moves. `Some(w)`: go on from
    /// `w` % without a Pass (the step stayed Inconclusive; `summary` holds the
    /// judge's numbers).
    pub go_on_at: Option<u8>,
}

impl ApprovalRequest {
    /// What the decision is recorded under in the journal (with the rollout
    /// id): the rev for the rollout's approval, `REV#go-on@W` for going on
    /// from W % without a Pass, so each question gets its own answer.
    pub fn key(&self) -> String {
        match self.go_on_at {
            None => self.rev.clone(),
            Some(w) => format!("{}#go-on@{w}", self.rev),
        }
    }

    /// The question, in a few words.
    pub fn question(&self) -> String {
        match self.go_on_at {
            None => format!("Approval needed: {}", self.service),
            Some(w) => format!(
                "Go on without a Pass? {} has stayed Inconclusive at {w}%",
                self.service
            ),
        }
    }
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

/// The rejection from a channel that speaks for one person when policy asks
/// for more: two approvers must be two people, not one answer counted twice.
pub(crate) fn one_voice_is_not_enough(request: &ApprovalRequest, why: &str) -> ApprovalAnswer {
    ApprovalAnswer {
        approved: false,
        by: None,
        reason: format!(
            "policy needs {} distinct approvers at level {} and {why}: approve through the journal (`deploy-agent approve`) or Slack",
            request.required_approvals,
            request.level.as_str()
        ),
    }
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

    /// Approves as the verified `identity` (`--approve-as LABEL` for a service
    /// with an allow-list, once the OS user was found on it): the identity is
    /// recorded, the label only said.
    pub fn approve_verified(identity: &str, label: &str) -> Self {
        Self {
            answer: ApprovalAnswer {
                approved: true,
                by: Some(identity.to_string()),
                reason: format!("approved by {identity} (--approve-as {label})"),
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
    async fn request(&self, request: &ApprovalRequest) -> ApprovalAnswer {
        if self.answer.approved && request.required_approvals > 1 {
            return one_voice_is_not_enough(request, "--approve-as names one approver");
        }
        self.answer.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn approve_as_is_one_approver_and_cannot_answer_for_two() {
        let mut request = ApprovalRequest {
            rollout_id: "r1".into(),
            service: "checkout".into(),
            rev: "abc".into(),
            risk_score: 0.9,
            level: Level::Critical,
            reasons: vec![],
            summary: String::new(),
            timeout_seconds: 1,
            required_approvals: 1,
            go_on_at: None,
        };
        let bot = FixedApprover::approve_as("ci-bot");
        assert!(bot.request(&request).await.approved);
        request.required_approvals = 2;
        let answer = bot.request(&request).await;
        assert!(!answer.approved);
        assert!(
            answer.reason.contains("2 distinct approvers"),
            "{}",
            answer.reason
        );
    }
}
