//! Approval through the journal: the request is a row, and `deploy-agent approve`
//! (any shell, any process on the machine) decides it. A pending request survives a
//! restart of the agent because it is a row, not a prompt.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{ApprovalAnswer, ApprovalRequest, Approver};
use crate::clock::{Clock, SystemClock};
use crate::journal::{ApprovalDecision, ApprovalStatus, Journal, JournalError};

/// How often the journal is read while waiting (a local read; WAL readers never block).
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);

/// Writes the request to the journal and waits for a decision or the deadline.
pub struct JournalApprover {
    journal: Arc<dyn Journal>,
    /// Wall time for deadlines (injected so tests can run on paused time).
    clock: Arc<dyn Clock>,
    poll: Duration,
}

impl JournalApprover {
    pub fn new(journal: Arc<dyn Journal>) -> Self {
        Self::with_clock(journal, Arc::new(SystemClock))
    }

    pub fn with_clock(journal: Arc<dyn Journal>, clock: Arc<dyn Clock>) -> Self {
        Self {
            journal,
            clock,
            poll: POLL_INTERVAL,
        }
    }

    /// The journal it records in (the Slack approver issues its nonces there).
    pub(crate) fn journal(&self) -> &Arc<dyn Journal> {
        &self.journal
    }

    /// Polls until decided or past the deadline.
    pub(crate) async fn wait(&self, request: &ApprovalRequest) -> ApprovalAnswer {
        loop {
            match self
                .journal
                .approval_status(&request.rollout_id, &request.key())
            {
                Ok(Some(ApprovalStatus::Decided(d))) => return answer(d),
                Ok(Some(ApprovalStatus::Pending(p))) if self.clock.now() >= p.deadline => {
                    return self.time_out(request, p.deadline)
                }
                Ok(Some(ApprovalStatus::Pending(_))) => {}
                Ok(None) => return reject("the approval request vanished from the journal"),
                // A locked or busy journal is retried until the deadline passes.
                Err(e) => {
                    tracing::warn!(error = %e, "could not read the approval from the journal")
                }
            }
            tokio::time::sleep(self.poll).await;
        }
    }

    /// Records the timeout as the decision (at the deadline, so it is accepted), so a
    /// late `approve` is refused rather than silently ignored.
    fn time_out(&self, request: &ApprovalRequest, deadline: f64) -> ApprovalAnswer {
        let timeout = ApprovalDecision {
            approved: false,
            by: None,
            reason: format!("approval timed out after {}s", request.timeout_seconds),
            decided_at: deadline,
        };
        match self
            .journal
            .decide_approval(&request.rollout_id, &request.key(), &timeout)
        {
            Ok(_) => answer(timeout),
            // Someone answered just before the deadline: theirs stands.
            Err(JournalError::AlreadyDecided { .. }) => {
                self.recorded(request).unwrap_or(answer(timeout))
            }
            Err(e) => {
                tracing::error!(error = %e, "could not record the approval timeout in the journal");
                answer(timeout)
            }
        }
    }

    /// Writes the pending request (deadline = now + timeout); a failure is the
    /// rejection to return. Other approvers (Slack) record through this too.
    pub(crate) fn record(&self, request: &ApprovalRequest) -> Result<(), ApprovalAnswer> {
        let deadline = self.clock.now() + request.timeout_seconds as f64;
        self.journal
            .request_approval(
                &request.rollout_id,
                &request.key(),
                &request.summary,
                deadline,
                request.required_approvals,
            )
            .map_err(|e| {
                tracing::error!(error = %e, "could not record the approval request in the journal");
                reject(&format!(
                    "could not record the approval request in the journal: {e}"
                ))
            })
    }

    /// The decision the journal holds, if it can be read.
    fn recorded(&self, request: &ApprovalRequest) -> Option<ApprovalAnswer> {
        match self
            .journal
            .approval_status(&request.rollout_id, &request.key())
        {
            Ok(Some(ApprovalStatus::Decided(d))) => Some(answer(d)),
            _ => None,
        }
    }
}

#[async_trait]
impl Approver for JournalApprover {
    async fn request(&self, request: &ApprovalRequest) -> ApprovalAnswer {
        if let Err(refused) = self.record(request) {
            return refused;
        }
        tracing::info!(
            rollout = %request.rollout_id,
            "waiting for approval: run `deploy-agent approve {}` as an approver (or --reject)",
            request.rollout_id
        );
        self.wait(request).await
    }
}

fn answer(d: ApprovalDecision) -> ApprovalAnswer {
    ApprovalAnswer {
        approved: d.approved,
        by: d.by,
        reason: d.reason,
    }
}

fn reject(reason: &str) -> ApprovalAnswer {
    ApprovalAnswer {
        approved: false,
        by: None,
        reason: reason.to_string(),
    }
}
