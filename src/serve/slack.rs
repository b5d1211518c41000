//! `POST /slack/interactivity`: a click on an Approve / Reject button.
//!
//! Verified with Slack's signing secret (`v0=` HMAC-SHA256 over
//! `v0:{timestamp}:{body}`, constant time, timestamps within 300 s), the user
//! checked against `[services.NAME.slack] approvers` (user ids, or user groups
//! resolved with `usergroups.users.list`), the button's nonce checked in the
//! journal (bound to its rollout and revision, one click per user, so a replay
//! or a double click is refused but a second approver can still click), and the
//! decision written through `Journal::decide_approval` (which
//! accepts once per rollout and revision). Refusals to a verified user are
//! ephemeral replies (200), so Slack shows them only to the clicker.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use hmac::{Hmac, Mac};
use serde::Deserialize;

use super::webhook::decode_hex;
use serde_json::json;
use sha2::Sha256;

use crate::approval::slack::{parse_button_value, SlackClient, APPROVE_ACTION, REJECT_ACTION};
use crate::journal::{wall_now, ApprovalDecision, ApprovalProgress, Journal, JournalError};

/// The only place the signing secret comes from.
pub const SIGNING_SECRET_ENV: &str = "SLACK_SIGNING_SECRET";
/// Requests signed further than this from now (either way) are refused.
pub const MAX_SKEW_SECS: i64 = 300;
pub const PATH: &str = "/slack/interactivity";

/// Why a request's signature is refused (all 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackSignatureError {
    #[error("no X-Slack-Signature or X-Slack-Request-Timestamp header")]
    Missing,
    #[error(
        "X-Slack-Request-Timestamp is more than {MAX_SKEW_SECS}s from now (replayed or clock skew)"
    )]
    Stale,
    #[error("X-Slack-Signature does not match (wrong signing secret or altered body)")]
    Mismatch,
}

/// Checks `signature` (`v0=<hex>`) against HMAC-SHA256(`secret`,
/// `v0:{timestamp}:{body}`) in constant time, and the timestamp against `now`.
pub fn verify_signature(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SlackSignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SlackSignatureError::Missing);
    };
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SlackSignatureError::Mismatch)?;
    if (now - ts).abs() > MAX_SKEW_SECS {
        return Err(SlackSignatureError::Stale);
    }
    let hex = signature
        .trim()
        .strip_prefix("v0=")
        .ok_or(SlackSignatureError::Mismatch)?;
    let expected = decode_hex(hex).ok_or(SlackSignatureError::Mismatch)?;
    let mac = mac(secret, timestamp.trim(), body).ok_or(SlackSignatureError::Mismatch)?;
    mac.verify_slice(&expected)
        .map_err(|_| SlackSignatureError::Mismatch)
}

/// `v0=<hex>`: what Slack sends (and tests sign with).
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let Some(mac) = mac(secret, timestamp, body) else {
        return String::new();
    };
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("v0={hex}")
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    Some(mac)
}

/// What the handler needs.
#[derive(Clone)]
pub struct SlackState {
    pub secret: Arc<Vec<u8>>,
    pub journal: Arc<dyn Journal>,
    /// Slack user ids (`U…`) or user group ids (`S…`) allowed to decide, by service.
    pub approvers: Arc<BTreeMap<String, Vec<String>>>,
    /// Resolves user groups (`usergroups.users.list`); without it (no bot
    /// token) only user ids match.
    pub client: Option<SlackClient>,
}

/// The route; without a signing secret it answers 503 saying what to set.
pub fn router(state: Option<SlackState>) -> Router {
    match state {
        Some(state) => Router::new()
            .route(PATH, post(interactivity))
            .with_state(state),
        None => Router::new().route(
            PATH,
            post(|| async {
                (
                    StatusCode::SERVICE_UNAVAILABLE,
                    Json(json!({"error": format!("Slack is not configured: set {SIGNING_SECRET_ENV} and restart serve")})),
                )
            }),
        ),
    }
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    user: User,
    #[serde(default)]
    actions: Vec<Action>,
}

#[derive(Deserialize)]
struct User {
    id: String,
}

#[derive(Deserialize)]
struct Action {
    action_id: String,
    #[serde(default)]
    value: String,
}

fn ephemeral(text: &str) -> Response {
    Json(json!({"response_type": "ephemeral", "text": text})).into_response()
}

fn now_secs() -> i64 {
    wall_now() as i64
}

async fn interactivity(
    State(state): State<SlackState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Err(e) = verify_signature(
        &state.secret,
        text("x-slack-request-timestamp"),
        text("x-slack-signature"),
        &body,
        now_secs(),
    ) {
        tracing::warn!("slack interactivity rejected: {e}");
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({"error": e.to_string()})),
        )
            .into_response();
    }
    let payload = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned());
    let Some(payload) = payload.and_then(|p| serde_json::from_str::<Payload>(&p).ok()) else {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "no readable `payload` field"})),
        )
            .into_response();
    };
    let Some(action) = payload.actions.first() else {
        return ephemeral("nothing to do");
    };
    if payload.kind != "block_actions"
        || !(action.action_id == APPROVE_ACTION || action.action_id == REJECT_ACTION)
    {
        return ephemeral("nothing to do");
    }
    let Some((rollout_id, rev, nonce)) = parse_button_value(&action.value) else {
        return ephemeral("this button is malformed");
    };
    decide(&state, &payload.user.id, action, rollout_id, rev, nonce).await
}

/// Whether `user` is one of `approvers`: listed by id, or a member of a listed
/// user group (asked of Slack at click time, so membership changes count at once).
async fn is_approver(state: &SlackState, approvers: &[String], user: &str) -> bool {
    if approvers.iter().any(|a| a == user) {
        return true;
    }
    let Some(client) = &state.client else {
        return false;
    };
    for group in approvers.iter().filter(|a| a.starts_with('S')) {
        match client.usergroup_members(group).await {
            Ok(members) if members.iter().any(|m| m == user) => return true,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(%group, error = %e, "could not read a Slack user group's members")
            }
        }
    }
    false
}

async fn decide(
    state: &SlackState,
    user: &str,
    action: &Action,
    rollout_id: &str,
    rev: &str,
    nonce: &str,
) -> Response {
    let service = match state.journal.rollout(rollout_id) {
        Ok(r) => r.service,
        Err(e) => return ephemeral(&format!("cannot decide: {e}")),
    };
    let approvers = state.approvers.get(&service).cloned().unwrap_or_default();
    if !is_approver(state, &approvers, user).await {
        tracing::warn!(%user, %service, rollout = %rollout_id, "slack click refused: not an approver");
        return ephemeral(&format!(
            "you are not an approver of {service} (`[services.{service}.slack] approvers`)"
        ));
    }
    match state.journal.take_nonce(nonce, rollout_id, rev, user) {
        Ok(true) => {}
        Ok(false) => return ephemeral("this button is stale, already used by you, or was not posted for this rollout: decide with `deploy-agent approve`"),
        Err(e) => return ephemeral(&format!("cannot decide: {e}")),
    }
    let approved = action.action_id == APPROVE_ACTION;
    let decision = ApprovalDecision {
        approved,
        by: Some(format!("slack:{user}")),
        reason: format!(
            "{} in Slack",
            if approved { "approved" } else { "rejected" }
        ),
        decided_at: wall_now(),
    };
    match state.journal.decide_approval(rollout_id, rev, &decision) {
        Ok(ApprovalProgress::Decided) => {
            tracing::info!(%user, rollout = %rollout_id, approved, "decided in Slack");
            ephemeral(&format!("{} {rollout_id}", decision.describe()))
        }
        Ok(ApprovalProgress::Waiting {
            approvals,
            required,
        }) => {
            tracing::info!(%user, rollout = %rollout_id, approvals, required, "approval vote in Slack");
            ephemeral(&format!(
                "{approvals} of {required} approvals recorded for {rollout_id}, waiting for another approver"
            ))
        }
        Err(e @ JournalError::AlreadyVoted { .. }) => ephemeral(&e.to_string()),
        Err(e @ JournalError::AlreadyDecided { .. }) => {
            ephemeral(&format!("this approval was already decided: {e}"))
        }
        Err(e) => ephemeral(&format!("cannot decide: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const NOW: i64 = 1_531_420_618;

    fn check(timestamp: i64, signature: Option<&str>) -> Result<(), SlackSignatureError> {
        let ts = timestamp.to_string();
        let body = b"payload=%7B%7D";
        let good = sign(SECRET, &ts, body);
        verify_signature(
            SECRET,
            Some(&ts),
            Some(signature.unwrap_or(&good)),
            body,
            NOW,
        )
    }

    #[test]
    fn slack_signature_valid_bad_stale_and_future() {
        assert_eq!(check(NOW, None), Ok(()));
        assert_eq!(check(NOW - 300, None), Ok(()));
        assert_eq!(
            check(NOW, Some("v0=00ff")),
            Err(SlackSignatureError::Mismatch)
        );
        assert_eq!(
            check(NOW, Some("sha256=00")),
            Err(SlackSignatureError::Mismatch)
        );
        assert_eq!(check(NOW - 301, None), Err(SlackSignatureError::Stale));
        assert_eq!(check(NOW + 301, None), Err(SlackSignatureError::Stale));
        assert_eq!(
            verify_signature(SECRET, None, Some("v0=00"), b"", NOW),
            Err(SlackSignatureError::Missing)
        );
    }

    #[test]
    fn slack_signature_matches_slacks_documented_example() {
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        assert_eq!(
            sign(SECRET, "1531420618", body),
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
    }
}
