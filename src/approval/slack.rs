//! Approval in Slack: the request is recorded in the journal (so `deploy-agent
//! approve` still decides it), posted once with Approve / Reject buttons, and the
//! message is updated with the outcome. Clicks come back through
//! `POST /slack/interactivity` ([`crate::serve::slack`]), which checks the
//! button's nonce in the journal and decides the journal row; this side only
//! polls the journal, like [`JournalApprover`]. The message is updated with each
//! approval while a two-approver request waits, once when the approval is
//! decided and once more when the rollout ends: one post, no new messages.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::json;

use super::journal::POLL_INTERVAL;
use super::{ApprovalAnswer, ApprovalRequest, Approver, JournalApprover};
use crate::journal::{wall_now, ApprovalStatus, Journal};
use crate::narrate::Narrative;
use crate::rollout::state::Outcome;

mod client;
mod message;

pub use client::{
    ResponseUrlClient, SlackClient, SlackError, SlackSettings, BOT_TOKEN_ENV, DEFAULT_API_URL,
};
pub use message::{
    decided_message, ended_message, escape, progress_message, request_message, Ended,
};

pub const APPROVE_ACTION: &str = "approve";
pub const REJECT_ACTION: &str = "reject";

/// `{rollout_id}:{rev}:{nonce}`, the buttons' value.
pub fn button_value(rollout_id: &str, rev: &str, nonce: &str) -> String {
    format!("{rollout_id}:{rev}:{nonce}")
}

/// Splits a button value into (rollout_id, rev, nonce); the rollout id may hold colons.
pub fn parse_button_value(value: &str) -> Option<(&str, &str, &str)> {
    let mut parts = value.rsplitn(3, ':');
    let nonce = parts.next()?;
    let rev = parts.next()?;
    let rollout = parts.next()?;
    (!nonce.is_empty() && !rev.is_empty() && !rollout.is_empty()).then_some((rollout, rev, nonce))
}

fn random_hex() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    (0..2)
        .map(|i| {
            let mut h = RandomState::new().build_hasher();
            h.write_u64(n);
            h.write_u128(nanos);
            h.write_u8(i);
            format!("{:016x}", h.finish())
        })
        .collect()
}

/// The posted message, kept so it can be updated again when the rollout ends.
#[derive(Debug, Clone)]
struct Posted {
    channel: String,
    ts: String,
    /// The outcome text of the approval, repeated above the rollout's end.
    decided: String,
}

/// Asks in Slack, waits on the journal. The buttons' nonces are issued in the
/// journal, so the `serve` process that receives the clicks (another process,
/// often) can check them.
pub struct SlackApprover {
    journal: JournalApprover,
    client: SlackClient,
    channel: String,
    posted: Mutex<Option<Posted>>,
}

impl SlackApprover {
    pub fn new(journal: Arc<dyn Journal>, client: SlackClient, channel: &str) -> Self {
        Self::with_journal_approver(JournalApprover::new(journal), client, channel)
    }

    pub fn with_journal_approver(
        journal: JournalApprover,
        client: SlackClient,
        channel: &str,
    ) -> Self {
        Self {
            journal,
            client,
            channel: channel.to_string(),
            posted: Mutex::new(None),
        }
    }

    /// Updates the approval message (if one was posted) a last time with how the
    /// rollout ended and, after a rollback, why (`explanation`), so the channel
    /// shows the whole story in one message.
    pub async fn rollout_ended(
        &self,
        outcome: Outcome,
        reason: &str,
        explanation: Option<&Narrative>,
    ) {
        let posted = self.posted.lock().ok().and_then(|p| p.clone());
        let Some(p) = posted else {
            return;
        };
        let ended = Ended {
            outcome,
            reason,
            explanation,
        };
        let body = ended_message(&p.channel, &p.ts, &p.decided, &ended);
        if let Err(e) = self.client.call("chat.update", &body).await {
            tracing::warn!(error = %e, "could not update the Slack message with the rollout's end");
        }
    }

    /// Posts the request; returns the message's (channel, ts).
    async fn post(
        &self,
        request: &ApprovalRequest,
        nonce: &str,
    ) -> Result<(String, String), SlackError> {
        let answer = self
            .client
            .call(
                "chat.postMessage",
                &request_message(&self.channel, request, nonce),
            )
            .await?;
        let channel = answer["channel"]
            .as_str()
            .unwrap_or(&self.channel)
            .to_string();
        let ts = answer["ts"].as_str().unwrap_or_default().to_string();
        Ok((channel, ts))
    }

    /// Waits on the journal like [`JournalApprover`]; while a request that needs
    /// several approvers is pending, each new approval is shown on the posted
    /// message (one `chat.update`, no new message), so the channel sees that
    /// one more person is needed. Updates happen here, in the same task as the
    /// outcome's, so a late progress update can never overwrite the outcome.
    async fn wait(
        &self,
        request: &ApprovalRequest,
        posted: Option<&(String, String)>,
        nonce: &str,
    ) -> ApprovalAnswer {
        let Some((channel, ts)) = posted.filter(|_| request.required_approvals > 1) else {
            return self.journal.wait(request).await;
        };
        let mut shown = 0;
        loop {
            let waited = tokio::time::timeout(POLL_INTERVAL, self.journal.wait(request)).await;
            if let Ok(answer) = waited {
                return answer;
            }
            let Some((approvers, required)) = self.pending_approvers(request) else {
                continue;
            };
            if approvers.len() <= shown || approvers.len() >= required as usize {
                continue;
            }
            shown = approvers.len();
            let update = progress_message(channel, ts, request, nonce, &approvers, required);
            if let Err(e) = self.client.call("chat.update", &update).await {
                tracing::warn!(error = %e, "could not update the Slack message with an approval vote");
            }
        }
    }

    /// Who approved a still-pending request so far, and how many are needed.
    fn pending_approvers(&self, request: &ApprovalRequest) -> Option<(Vec<String>, u32)> {
        let journal = self.journal.journal();
        let Ok(Some(ApprovalStatus::Pending(pending))) =
            journal.approval_status(&request.rollout_id, &request.key())
        else {
            return None;
        };
        let votes = journal
            .approval_votes(&request.rollout_id, &request.key())
            .ok()?;
        let yes = votes.into_iter().filter(|v| v.approved).map(|v| v.by);
        Some((yes.collect(), pending.required))
    }

    /// Approvers who voted yes, for the outcome line (two when policy asks two).
    fn approvers(&self, request: &ApprovalRequest, answer: &ApprovalAnswer) -> String {
        let votes = self
            .journal
            .journal()
            .approval_votes(&request.rollout_id, &request.key())
            .unwrap_or_default();
        let yes: Vec<&str> = votes
            .iter()
            .filter(|v| v.approved == answer.approved)
            .map(|v| v.by.as_str())
            .collect();
        match (yes.is_empty(), &answer.by) {
            (false, _) if answer.approved => yes.join(" and "),
            (_, Some(by)) => by.clone(),
            (_, None) => "nobody (timeout)".into(),
        }
    }
}

#[async_trait]
impl Approver for SlackApprover {
    async fn request(&self, request: &ApprovalRequest) -> ApprovalAnswer {
        if let Err(refused) = self.journal.record(request) {
            return refused;
        }
        let nonce = random_hex();
        let posted = match self.journal.journal().issue_nonce(
            &request.rollout_id,
            &request.key(),
            &nonce,
        ) {
            Err(e) => {
                tracing::error!(error = %e, "could not record the Slack button nonce: run `deploy-agent approve {}` as an approver", request.rollout_id);
                None
            }
            Ok(()) => match self.post(request, &nonce).await {
                Ok(p) => {
                    // Whoever ends the rollout (a takeover, `resume`) closes it too.
                    let message = format!("{}:{}", p.0, p.1);
                    let journal = self.journal.journal();
                    let (id, rev) = (&request.rollout_id, &request.key());
                    if let Err(e) = journal.set_approval_message(id, rev, &message) {
                        tracing::warn!(error = %e, "could not record where the approval was posted");
                    }
                    Some(p)
                }
                Err(e) => {
                    tracing::error!(error = %e, "could not ask in Slack: run `deploy-agent approve {}` as an approver (or --reject)", request.rollout_id);
                    None
                }
            },
        };
        let answer = self.wait(request, posted.as_ref(), &nonce).await;
        if let Some((channel, ts)) = posted {
            let by = self.approvers(request, &answer);
            let update = decided_message(&channel, &ts, request, &answer, &by);
            let decided = update["blocks"][0]["text"]["text"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if let Err(e) = self.client.call("chat.update", &update).await {
                tracing::warn!(error = %e, "could not update the Slack message with the outcome");
            }
            if let Ok(mut slot) = self.posted.lock() {
                *slot = Some(Posted {
                    channel,
                    ts,
                    decided,
                });
            }
        }
        answer
    }
}

/// Closes the approval message of a rollout ended by another process than the
/// one that posted it (a takeover, `resume`): the buttons are replaced by how
/// the rollout ended, so nobody clicks a request that no longer matters.
pub async fn close_approval_message(
    journal: &dyn Journal,
    client: &SlackClient,
    rollout_id: &str,
    rev: &str,
    outcome: Outcome,
    reason: &str,
) {
    let Ok(Some(message)) = journal.approval_message(rollout_id, rev) else {
        return;
    };
    let Some((channel, ts)) = message.split_once(':') else {
        return;
    };
    let when = crate::journal::timeline::utc(wall_now());
    let outcome = outcome.as_str().replace('_', " ");
    let text = format!(
        "*Rollout {}* ended {outcome} at {when} (finished by another process: {}). This approval request is closed.",
        escape(rollout_id),
        escape(reason)
    );
    let body = json!({
        "channel": channel,
        "ts": ts,
        "text": format!("Rollout {outcome}: approval request closed"),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    });
    if let Err(e) = client.call("chat.update", &body).await {
        tracing::warn!(error = %e, rollout = rollout_id, "could not close the Slack approval message");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn button_values_round_trip_and_nonces_differ() {
        let v = button_value("svc:a-1", "abc123", "n0");
        assert_eq!(parse_button_value(&v), Some(("svc:a-1", "abc123", "n0")));
        assert_eq!(parse_button_value("x:y"), None);
        assert_ne!(random_hex(), random_hex());
    }
}
