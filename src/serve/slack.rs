//! `POST /slack/interactivity`: a click on an Approve / Reject button.
//!
//! The handler does only the cheap part before answering: the signature
//! ([`signature`]: `v0=` HMAC-SHA256 over `v0:{timestamp}:{body}`, constant
//! time, timestamps within 300 s; else 401) and the payload's form (else 400).
//! It then answers 200 with an empty body at once — Slack gives up after 3 s —
//! and works the click out on a task ([`click`]): the user checked against
//! `[services.NAME.slack] approvers` (people, user ids, or user groups resolved
//! with `usergroups.users.list` and cached briefly, [`groups`]), the button's nonce
//! checked in the journal (bound to its rollout and revision, one click per
//! user), and the decision written through `Journal::decide_approval`. The
//! clicker learns the outcome (decided, waiting for a second approver, or why
//! not) from an ephemeral message posted to the payload's `response_url` — if
//! its host is one of `[slack] response_url_hosts` (Slack's own by default):
//! the URL is in the request body, so it is not followed anywhere else.

pub mod click;
pub mod groups;
pub mod signature;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use crate::approval::identity::Directory;
use crate::approval::slack::{ResponseUrlClient, SlackClient, SlackError, SlackSettings};
use crate::journal::{wall_now, Journal};

pub use click::{Click, ClickOutcome};
pub use groups::{GroupCache, GroupLookupError};
pub use signature::{sign, verify_signature, SlackSignatureError, MAX_SKEW_SECS};

/// The only place the signing secret comes from.
pub const SIGNING_SECRET_ENV: &str = "SLACK_SIGNING_SECRET";
pub const PATH: &str = "/slack/interactivity";

/// What the handler and its click tasks need.
#[derive(Clone)]
pub struct SlackState {
    pub secret: Arc<Vec<u8>>,
    pub journal: Arc<dyn Journal>,
    /// People and each service's approvers (people, Slack user ids `U…`, user
    /// groups `S…`): who may click, and which person a Slack user is.
    pub directory: Arc<Directory>,
    /// Group memberships, cached for `[slack] group_cache_secs`.
    pub groups: GroupCache,
    /// Posts the asynchronous replies to `response_url`.
    pub responder: ResponseUrlClient,
}

impl SlackState {
    /// From `[slack]` (timeout, retries; the bot token, without which only user
    /// ids match) and the signing secret.
    pub fn new(
        secret: &[u8],
        journal: Arc<dyn Journal>,
        directory: impl Into<Directory>,
        settings: &SlackSettings,
    ) -> Result<Self, SlackError> {
        Ok(Self {
            secret: Arc::new(secret.to_vec()),
            journal,
            directory: Arc::new(directory.into()),
            groups: GroupCache::new(
                SlackClient::new(settings).ok(),
                Duration::from_secs(settings.group_cache_secs),
            ),
            responder: ResponseUrlClient::new(settings)?,
        })
    }
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

/// The fields of a `block_actions` payload this handler reads.
#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    user: User,
    #[serde(default)]
    actions: Vec<Action>,
    #[serde(default)]
    response_url: Option<String>,
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

impl From<Payload> for Click {
    fn from(p: Payload) -> Self {
        let action = p.actions.into_iter().next();
        Click {
            kind: p.kind,
            user: p.user.id,
            action_id: action.as_ref().map(|a| a.action_id.clone()),
            value: action.map(|a| a.value).unwrap_or_default(),
            response_url: p.response_url,
        }
    }
}

fn refuse(status: StatusCode, error: &str) -> Response {
    (status, Json(json!({"error": error}))).into_response()
}

/// Verifies and parses, then acknowledges at once and hands the click to a task.
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
        wall_now() as i64,
    ) {
        tracing::warn!("slack interactivity rejected: {e}");
        return refuse(StatusCode::UNAUTHORIZED, &e.to_string());
    }
    let payload = form_urlencoded::parse(&body)
        .find(|(k, _)| k == "payload")
        .and_then(|(_, v)| serde_json::from_str::<Payload>(&v).ok());
    let Some(payload) = payload else {
        return refuse(StatusCode::BAD_REQUEST, "no readable `payload` field");
    };
    tokio::spawn(click::handle(state, payload.into()));
    StatusCode::OK.into_response()
}
