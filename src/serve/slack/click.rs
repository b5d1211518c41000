//! What a verified click does, after the handler has acknowledged it: check the
//! clicker against the service's approvers (group lookups cached), spend the
//! button's nonce and record the decision or vote in the journal, then tell the
//! clicker the outcome in an ephemeral message through the payload's
//! `response_url`. This runs on its own task because Slack wants the HTTP
//! answer within 3 s and a group lookup alone may take longer.

use serde_json::json;

use super::SlackState;
use crate::approval::slack::{parse_button_value, APPROVE_ACTION, REJECT_ACTION};
use crate::journal::{wall_now, ApprovalDecision, ApprovalProgress, Journal, JournalError};

/// A verified click, as the handler read it from the payload.
#[derive(Debug, Clone)]
pub struct Click {
    pub kind: String,
    pub user: String,
    pub action_id: Option<String>,
    /// `{rollout_id}:{rev}:{nonce}`.
    pub value: String,
    /// Where Slack takes the asynchronous reply; without it the outcome is only logged.
    pub response_url: Option<String>,
}

/// How a click ended; the clicker is told [`ClickOutcome::text`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClickOutcome {
    /// Not an Approve / Reject click of ours.
    Ignored,
    Malformed,
    /// This click decided the request (`approved by slack:U1: …`).
    Decided {
        rollout_id: String,
        decision: String,
    },
    /// An approval vote was recorded; more approvers are needed.
    Waiting {
        rollout_id: String,
        approvals: u32,
        required: u32,
    },
    NotApprover {
        service: String,
    },
    /// Group membership could not be read, so the click does not count.
    LookupFailed(String),
    /// Unknown nonce, another rollout or revision, or this user's second click.
    Stale,
    AlreadyVoted(String),
    AlreadyDecided(String),
    Expired(String),
    Failed(String),
}

impl ClickOutcome {
    /// The ephemeral reply: what happened and, for a refusal, what to do.
    pub fn text(&self) -> String {
        match self {
            Self::Ignored => "nothing to do".into(),
            Self::Malformed => "this button is malformed".into(),
            Self::Decided { rollout_id, decision } => format!("{decision} {rollout_id}"),
            Self::Waiting { rollout_id, approvals, required } => format!(
                "{approvals} of {required} approvals recorded for {rollout_id}, waiting for another approver"
            ),
            Self::NotApprover { service } => format!(
                "you are not an approver of {service} (`[services.{service}.slack] approvers`)"
            ),
            Self::LookupFailed(e) => format!("your click was not counted: {e}"),
            Self::Stale => "this button is stale, already used by you, or was not posted for this rollout: decide with `deploy-agent approve`".into(),
            Self::AlreadyVoted(e) => e.clone(),
            Self::AlreadyDecided(e) => format!("this approval was already decided: {e}"),
            Self::Expired(e) => format!("too late: {e}"),
            Self::Failed(e) => format!("cannot decide: {e}"),
        }
    }
}

/// Works the click out and replies through its `response_url`.
pub async fn handle(state: SlackState, click: Click) {
    let outcome = outcome(&state, &click).await;
    tracing::info!(user = %click.user, outcome = ?outcome, "slack click handled");
    reply(&state, click.response_url.as_deref(), &outcome.text()).await;
}

/// What the click does; journal calls run on the blocking pool (SQLite waits
/// for locks), the group lookup on the executor.
pub async fn outcome(state: &SlackState, click: &Click) -> ClickOutcome {
    let action = click.action_id.as_deref();
    if click.kind != "block_actions" || !matches!(action, Some(APPROVE_ACTION | REJECT_ACTION)) {
        return ClickOutcome::Ignored;
    }
    let Some((rollout_id, _, _)) = parse_button_value(&click.value) else {
        return ClickOutcome::Malformed;
    };
    let journal = state.journal.clone();
    let id = rollout_id.to_string();
    let service = match off_executor(move || journal.rollout(&id)).await {
        Ok(Ok(r)) => r.service,
        Ok(Err(e)) => return ClickOutcome::Failed(e.to_string()),
        Err(e) => return ClickOutcome::Failed(e.to_string()),
    };
    // People listed by name stand for their Slack ids here.
    let approvers = state.directory.slack_entries(&service);
    match state.groups.is_approver(&approvers, &click.user).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!(user = %click.user, %service, rollout = %rollout_id, "slack click refused: not an approver");
            return ClickOutcome::NotApprover { service };
        }
        Err(e) => return ClickOutcome::LookupFailed(e.to_string()),
    }
    let journal = state.journal.clone();
    let click = click.clone();
    let voter = state.directory.identify_slack(&click.user).key();
    off_executor(move || record(journal.as_ref(), &click, &voter))
        .await
        .unwrap_or_else(|e| ClickOutcome::Failed(e.to_string()))
}

/// Spends the nonce and records the decision (or vote) as `voter`: the person
/// the Slack user is in `[people]`, else `slack:<user>`, so a person who
/// already voted from a shell does not count twice.
fn record(journal: &dyn Journal, click: &Click, voter: &str) -> ClickOutcome {
    let Some((rollout_id, rev, nonce)) = parse_button_value(&click.value) else {
        return ClickOutcome::Malformed;
    };
    match journal.take_nonce(nonce, rollout_id, rev, &click.user) {
        Ok(true) => {}
        Ok(false) => return ClickOutcome::Stale,
        Err(e) => return ClickOutcome::Failed(e.to_string()),
    }
    let approved = click.action_id.as_deref() == Some(APPROVE_ACTION);
    let decision = ApprovalDecision {
        approved,
        by: Some(voter.to_string()),
        reason: format!(
            "{} in Slack",
            if approved { "approved" } else { "rejected" }
        ),
        decided_at: wall_now(),
    };
    match journal.decide_approval(rollout_id, rev, &decision) {
        Ok(ApprovalProgress::Decided) => ClickOutcome::Decided {
            rollout_id: rollout_id.into(),
            decision: decision.describe(),
        },
        Ok(ApprovalProgress::Waiting {
            approvals,
            required,
        }) => ClickOutcome::Waiting {
            rollout_id: rollout_id.into(),
            approvals,
            required,
        },
        Err(e @ JournalError::AlreadyVoted { .. }) => ClickOutcome::AlreadyVoted(e.to_string()),
        Err(e @ JournalError::AlreadyDecided { .. }) => ClickOutcome::AlreadyDecided(e.to_string()),
        Err(e @ JournalError::Expired { .. }) => ClickOutcome::Expired(e.to_string()),
        Err(e) => ClickOutcome::Failed(e.to_string()),
    }
}

/// Runs blocking journal work on the blocking pool; a panic there is a failure.
async fn off_executor<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, JournalTaskFailed> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(JournalTaskFailed)
}

/// The blocking task that ran a click's journal work panicked or was
/// cancelled: the click is told it failed and may be tried again.
#[derive(Debug, thiserror::Error)]
#[error(
    "the journal task failed: {0}; try the button again, or decide with `deploy-agent approve`"
)]
struct JournalTaskFailed(#[source] tokio::task::JoinError);

/// Posts `text` as an ephemeral message to the clicker (bounded retries and
/// timeout, from `[slack]`); a failure is logged, the decision stands.
async fn reply(state: &SlackState, response_url: Option<&str>, text: &str) {
    let Some(url) = response_url else {
        tracing::warn!(%text, "slack click without a response_url: the clicker cannot be told");
        return;
    };
    let body = json!({"response_type": "ephemeral", "replace_original": false, "text": text});
    if let Err(e) = state.responder.post(url, &body).await {
        tracing::warn!(error = %e, %text, "could not reply to a slack click");
    }
}
