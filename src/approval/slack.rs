//! Approval in Slack: the request is recorded in the journal (so `deploy-agent
//! approve` still decides it), posted once with Approve / Reject buttons, and the
//! message is updated with the outcome. Clicks come back through
//! `POST /slack/interactivity` ([`crate::serve::slack`]), which decides the
//! journal row; this side only polls the journal, like [`JournalApprover`].

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{ApprovalAnswer, ApprovalRequest, Approver, JournalApprover};
use crate::journal::{wall_now, Journal};

/// Where the bot token comes from (never a file or a flag).
pub const BOT_TOKEN_ENV: &str = "SLACK_BOT_TOKEN";
/// Slack's Web API.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";
pub const APPROVE_ACTION: &str = "approve";
pub const REJECT_ACTION: &str = "reject";

/// `[slack]` plus the bot token from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackSettings {
    pub api_url: String,
    /// The default channel; `[services.NAME.slack] channel` overrides it.
    pub channel: Option<String>,
    pub timeout_secs: u64,
    pub max_retries: u32,
    /// From `SLACK_BOT_TOKEN` only.
    pub bot_token: Option<String>,
}

impl Default for SlackSettings {
    fn default() -> Self {
        Self {
            api_url: DEFAULT_API_URL.into(),
            channel: None,
            timeout_secs: 10,
            max_retries: 2,
            bot_token: None,
        }
    }
}

/// Why a Slack call failed. Messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("Slack needs a bot token in {BOT_TOKEN_ENV} (scope chat:write); it is never read from a file")]
    NoToken,
    #[error("Slack {method} answered ok=false: {error} (check the bot token, its chat:write scope and that the bot is in the channel)")]
    Api { method: String, error: String },
    #[error("Slack {method} failed after {attempts} attempt(s): {detail}")]
    Transport {
        method: String,
        attempts: u32,
        detail: String,
    },
}

/// A minimal Slack Web API client: JSON POSTs with a bearer token, a timeout and
/// bounded retries on transport errors, 5xx and 429.
#[derive(Debug, Clone)]
pub struct SlackClient {
    http: reqwest::Client,
    api_url: String,
    token: String,
    max_retries: u32,
}

impl SlackClient {
    pub fn new(settings: &SlackSettings) -> Result<Self, SlackError> {
        let token = settings.bot_token.clone().ok_or(SlackError::NoToken)?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(settings.timeout_secs))
            .build()
            .map_err(|e| SlackError::Transport {
                method: "client".into(),
                attempts: 0,
                detail: e.to_string(),
            })?;
        Ok(Self {
            http,
            api_url: settings.api_url.trim_end_matches('/').to_string(),
            token,
            max_retries: settings.max_retries,
        })
    }

    /// Calls `method` with `body`; Slack's `{"ok": false, "error": ...}` is an error.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, SlackError> {
        let url = format!("{}/{method}", self.api_url);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let detail = match self
                .http
                .post(&url)
                .bearer_auth(&self.token)
                .json(body)
                .send()
                .await
            {
                Ok(resp) if resp.status().is_server_error() || resp.status().as_u16() == 429 => {
                    format!("HTTP {}", resp.status())
                }
                Ok(resp) => {
                    let status = resp.status();
                    let answer: Value = resp.json().await.map_err(|e| SlackError::Transport {
                        method: method.into(),
                        attempts,
                        detail: format!("HTTP {status}, unreadable answer: {e}"),
                    })?;
                    if answer["ok"].as_bool() == Some(true) {
                        return Ok(answer);
                    }
                    return Err(SlackError::Api {
                        method: method.into(),
                        error: answer["error"].as_str().unwrap_or("unknown").to_string(),
                    });
                }
                Err(e) => e.to_string(),
            };
            if attempts > self.max_retries {
                return Err(SlackError::Transport {
                    method: method.into(),
                    attempts,
                    detail,
                });
            }
            tokio::time::sleep(Duration::from_millis(200 * u64::from(attempts))).await;
        }
    }
}

/// One button pair's secret: which rollout and revision it decides.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Button {
    rollout_id: String,
    rev: String,
}

/// Nonces of buttons still waiting for a click, shared (in memory) by the
/// approver that issues them and the interactivity handler that consumes them.
/// Each is accepted once.
#[derive(Debug, Clone, Default)]
pub struct NonceStore {
    open: Arc<Mutex<HashMap<String, Button>>>,
}

impl NonceStore {
    /// A new random nonce for `rollout_id` / `rev`.
    pub fn issue(&self, rollout_id: &str, rev: &str) -> String {
        let nonce = random_hex();
        if let Ok(mut open) = self.open.lock() {
            open.insert(
                nonce.clone(),
                Button {
                    rollout_id: rollout_id.into(),
                    rev: rev.into(),
                },
            );
        }
        nonce
    }

    /// Consumes `nonce` if it was issued for this rollout and revision.
    pub fn take(&self, nonce: &str, rollout_id: &str, rev: &str) -> bool {
        let Ok(mut open) = self.open.lock() else {
            return false;
        };
        match open.get(nonce) {
            Some(b) if b.rollout_id == rollout_id && b.rev == rev => {
                open.remove(nonce);
                true
            }
            _ => false,
        }
    }

    /// Drops every nonce of a rollout (it was decided some other way).
    pub fn forget(&self, rollout_id: &str) {
        if let Ok(mut open) = self.open.lock() {
            open.retain(|_, b| b.rollout_id != rollout_id);
        }
    }
}

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

/// Asks in Slack, waits on the journal.
pub struct SlackApprover {
    journal: JournalApprover,
    client: SlackClient,
    channel: String,
    nonces: NonceStore,
}

impl SlackApprover {
    pub fn new(
        journal: Arc<dyn Journal>,
        client: SlackClient,
        channel: &str,
        nonces: NonceStore,
    ) -> Self {
        Self::with_journal_approver(JournalApprover::new(journal), client, channel, nonces)
    }

    pub fn with_journal_approver(
        journal: JournalApprover,
        client: SlackClient,
        channel: &str,
        nonces: NonceStore,
    ) -> Self {
        Self {
            journal,
            client,
            channel: channel.to_string(),
            nonces,
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
}

#[async_trait]
impl Approver for SlackApprover {
    async fn request(&self, request: &ApprovalRequest) -> ApprovalAnswer {
        if let Err(refused) = self.journal.record(request) {
            return refused;
        }
        let nonce = self.nonces.issue(&request.rollout_id, &request.rev);
        let posted = match self.post(request, &nonce).await {
            Ok(p) => Some(p),
            Err(e) => {
                tracing::error!(error = %e, "could not ask in Slack: run `deploy-agent approve {} --by NAME` (or --reject)", request.rollout_id);
                None
            }
        };
        let answer = self.journal.wait(request).await;
        self.nonces.forget(&request.rollout_id);
        if let Some((channel, ts)) = posted {
            let update = decided_message(&channel, &ts, request, &answer);
            if let Err(e) = self.client.call("chat.update", &update).await {
                tracing::warn!(error = %e, "could not update the Slack message with the outcome");
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
pub fn decided_message(
    channel: &str,
    ts: &str,
    request: &ApprovalRequest,
    answer: &ApprovalAnswer,
) -> Value {
    let verb = if answer.approved {
        "Approved"
    } else {
        "Rejected"
    };
    let by = answer.by.as_deref().unwrap_or("nobody (timeout)");
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
    fn button_values_round_trip_and_nonces_are_accepted_once() {
        let v = button_value("svc:a-1", "abc123", "n0");
        assert_eq!(parse_button_value(&v), Some(("svc:a-1", "abc123", "n0")));
        assert_eq!(parse_button_value("x:y"), None);
        let store = NonceStore::default();
        let n = store.issue("r1", "abc");
        assert_ne!(n, store.issue("r1", "abc"));
        assert!(!store.take(&n, "r1", "other"));
        assert!(store.take(&n, "r1", "abc"));
        assert!(!store.take(&n, "r1", "abc"));
    }
}
