//! Approval in Slack: the request is recorded in the journal (so `deploy-agent
//! approve` still decides it), posted once with Approve / Reject buttons, and the
//! message is updated with the outcome. Clicks come back through
//! `POST /slack/interactivity` ([`crate::serve::slack`]), which checks the
//! button's nonce in the journal and decides the journal row; this side only
//! polls the journal, like [`JournalApprover`]. The message is updated once when
//! the approval is decided and once more when the rollout ends: one post, no
//! messages while waiting.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{ApprovalAnswer, ApprovalRequest, Approver, JournalApprover};
use crate::journal::{wall_now, Journal};
use crate::rollout::state::Outcome;

mod client;

pub use client::{SlackClient, SlackError, SlackSettings, BOT_TOKEN_ENV, DEFAULT_API_URL};

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
    /// rollout ended, so the channel shows the whole story in one message.
    pub async fn rollout_ended(&self, outcome: Outcome, reason: &str) {
        let posted = self.posted.lock().ok().and_then(|p| p.clone());
        let Some(p) = posted else {
            return;
        };
        let when = crate::journal::timeline::utc(wall_now());
        let text = format!(
            "{}\n*Rollout {}* at {when}: {reason}",
            p.decided,
            outcome.as_str().replace('_', " ")
        );
        let body = json!({
            "channel": p.channel,
            "ts": p.ts,
            "text": format!("Rollout {}", outcome.as_str().replace('_', " ")),
            "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
        });
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

    /// Approvers who voted yes, for the outcome line (two when policy asks two).
    fn approvers(&self, request: &ApprovalRequest, answer: &ApprovalAnswer) -> String {
        let votes = self
            .journal
            .journal()
            .approval_votes(&request.rollout_id, &request.rev)
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
            &request.rev,
            &nonce,
        ) {
            Err(e) => {
                tracing::error!(error = %e, "could not record the Slack button nonce: run `deploy-agent approve {} --by NAME`", request.rollout_id);
                None
            }
            Ok(()) => match self.post(request, &nonce).await {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::error!(error = %e, "could not ask in Slack: run `deploy-agent approve {} --by NAME` (or --reject)", request.rollout_id);
                    None
                }
            },
        };
        let answer = self.journal.wait(request).await;
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

/// The chat.postMessage body: the change and two buttons.
pub fn request_message(channel: &str, request: &ApprovalRequest, nonce: &str) -> Value {
    let value = button_value(&request.rollout_id, &request.rev, nonce);
    let reasons: String = request.reasons.iter().map(|r| format!("\n• {r}")).collect();
    let text = format!(
        "*Approval needed: {}* at `{}`\nRisk score {:.2}, level *{}*{reasons}\n{}",
        request.service,
        request.rev,
        request.risk_score,
        request.level.as_str(),
        request.summary
    );
    json!({
        "channel": channel,
        "text": format!("Approval needed: {} at {}", request.service, request.rev),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "actions", "block_id": "approval", "elements": [
                {"type": "button", "action_id": APPROVE_ACTION, "style": "primary",
                 "text": {"type": "plain_text", "text": "Approve"}, "value": value},
                {"type": "button", "action_id": REJECT_ACTION, "style": "danger",
                 "text": {"type": "plain_text", "text": "Reject"}, "value": value,
                 "confirm": {
                     "title": {"type": "plain_text", "text": "Reject this rollout?"},
                     "text": {"type": "mrkdwn", "text": format!("The rollout of {} stops.", request.service)},
                     "confirm": {"type": "plain_text", "text": "Reject"},
                     "deny": {"type": "plain_text", "text": "Cancel"}
                 }}
            ]}
        ]
    })
}

/// The chat.update body: the outcome, no buttons.
/// `by` names who decided (both approvers when two were needed).
pub fn decided_message(
    channel: &str,
    ts: &str,
    request: &ApprovalRequest,
    answer: &ApprovalAnswer,
    by: &str,
) -> Value {
    let verb = if answer.approved {
        "Approved"
    } else {
        "Rejected"
    };
    let when = crate::journal::timeline::utc(wall_now());
    let text = format!(
        "*{verb}*: {} at `{}` by {by} at {when}\n{}",
        request.service, request.rev, answer.reason
    );
    json!({
        "channel": channel,
        "ts": ts,
        "text": format!("{verb}: {} at {} by {by}", request.service, request.rev),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    })
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
