//! `POST /webhooks/github`: a delivery is checked in this order, each step
//! answering before the next runs:
//!
//! 1. the body arrived whole, within the request timeout (else 408) and 1 MiB (413);
//! 2. `X-Hub-Signature-256` over the raw body, JSON or form-encoded alike (401);
//! 3. the payload reads ([`webhook::parse`]; 400, with the content-type hint for a
//!    form without `payload`);
//! 4. the repository is in `[serve] repositories` (403: signed, but not ours);
//! 5. a merge into `[serve] branch` queues one rollout per service (202); other
//!    branches, events and actions: 202 with the reason; `ping`: 200.

use std::error::Error as _;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use super::metrics::WebhookResult;
use super::queue::{Job, Submitted};
use super::webhook::{self, Delivery, Headers, SignatureError};
use super::AppState;

/// The handler.
pub(super) async fn github(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let delivery_id = text("x-github-delivery").unwrap_or("-");
    let body = match body {
        Ok(b) => b,
        Err(e) if is_timeout(&e) => {
            tracing::warn!(delivery = %delivery_id, "webhook body did not arrive in time");
            return reply(
                &state,
                WebhookResult::Rejected,
                StatusCode::REQUEST_TIMEOUT,
                json!({"error": "the body did not arrive within `[serve] request_timeout_secs`"}),
            );
        }
        Err(e) => {
            tracing::warn!(delivery = %delivery_id, status = %e.status(), "webhook body refused: {e}");
            let (status, error) = (e.status(), e.body_text());
            return reply(
                &state,
                WebhookResult::Rejected,
                status,
                json!({"error": error}),
            );
        }
    };
    if let Err(e) = webhook::verify_signature(&state.secret, text("x-hub-signature-256"), &body) {
        tracing::warn!(delivery = %delivery_id, "webhook rejected: {e}");
        let error = match e {
            SignatureError::Missing => "unsigned",
            SignatureError::Mismatch => "bad signature",
        };
        let body = json!({"error": error});
        return reply(
            &state,
            WebhookResult::Rejected,
            StatusCode::UNAUTHORIZED,
            body,
        );
    }
    let read = Headers {
        event: text("x-github-event"),
        delivery: text("x-github-delivery"),
        content_type: text(header::CONTENT_TYPE.as_str()),
    };
    let event = read.event;
    match webhook::parse(read, &body, &state.rules) {
        Err(e) => {
            tracing::warn!(delivery = %delivery_id, ?event, "webhook rejected: {e}");
            let body = json!({"error": e.to_string()});
            reply(
                &state,
                WebhookResult::Rejected,
                StatusCode::BAD_REQUEST,
                body,
            )
        }
        Ok(Delivery::Ping) => {
            tracing::info!(delivery = %delivery_id, "ping");
            let body = json!({"ok": "pong"});
            reply(&state, WebhookResult::Accepted, StatusCode::OK, body)
        }
        Ok(Delivery::Ignored(reason)) => {
            tracing::info!(delivery = %delivery_id, ?event, %reason, "webhook ignored");
            let body = json!({"ignored": reason});
            reply(&state, WebhookResult::Ignored, StatusCode::ACCEPTED, body)
        }
        Ok(Delivery::Forbidden(reason)) => {
            tracing::warn!(delivery = %delivery_id, ?event, allowed = ?state.rules.repositories, "webhook refused: {reason}");
            let body = json!({"error": reason});
            reply(&state, WebhookResult::Rejected, StatusCode::FORBIDDEN, body)
        }
        Ok(Delivery::Deploy {
            repository,
            sha,
            event,
            delivery,
            source,
        }) => {
            // Exactly once per merge, across replicas: a delivery id seen before
            // (a redelivery), and a (service, sha) already claimed (the push and
            // the merged pull_request of one merge), are dropped here.
            let claims = claim(&state, delivery.as_deref(), &sha, &event).await;
            let fresh = match claims {
                Ok(Claims::Duplicate) => {
                    state.metrics.duplicate();
                    tracing::info!(delivery = ?delivery, %sha, "redelivery dropped: already received");
                    let body = json!({"duplicate": delivery, "note": "this delivery was received before; nothing new is rolled out"});
                    return reply(&state, WebhookResult::Ignored, StatusCode::OK, body);
                }
                Ok(Claims::Fresh(services)) => services,
                Err(e) => {
                    tracing::error!(error = %e, "cannot claim the merge in the journal");
                    let body = json!({"error": format!("the journal cannot record the delivery ({e}); redeliver it later")});
                    return reply(
                        &state,
                        WebhookResult::Rejected,
                        StatusCode::SERVICE_UNAVAILABLE,
                        body,
                    );
                }
            };
            let skipped: Vec<&String> = state
                .services
                .iter()
                .filter(|s| !fresh.contains(s))
                .collect();
            if !skipped.is_empty() {
                state.metrics.duplicate();
            }
            let mut queued = Vec::new();
            for service in fresh.iter() {
                let job = Job {
                    service: service.clone(),
                    sha: sha.clone(),
                    source: source.clone(),
                };
                match state.queue.submit(job) {
                    Submitted::Refused => {
                        let body = json!({"error": "shutting down"});
                        let status = StatusCode::SERVICE_UNAVAILABLE;
                        return reply(&state, WebhookResult::Rejected, status, body);
                    }
                    Submitted::Queued | Submitted::Superseded { .. } => {
                        queued.push(service.clone())
                    }
                }
            }
            tracing::info!(delivery = ?delivery, %repository, %event, %sha, %source, services = ?queued, "rollouts queued");
            let body = json!({
                "sha": sha,
                "repository": repository,
                "event": event,
                "delivery": delivery,
                "queued": queued,
                "already_claimed": skipped,
            });
            reply(&state, WebhookResult::Accepted, StatusCode::ACCEPTED, body)
        }
    }
}

/// What the journal says of a merge's delivery.
enum Claims {
    /// This delivery id was received before.
    Duplicate,
    /// The services whose rollout of this sha nobody claimed before.
    Fresh(Vec<String>),
}

/// Claims the delivery, then each service's rollout of `sha`, in the journal
/// (off the async threads: the journal is synchronous).
async fn claim(
    state: &AppState,
    delivery: Option<&str>,
    sha: &str,
    event: &str,
) -> Result<Claims, crate::journal::JournalError> {
    let journal = state.journal.clone();
    let services = state.services.clone();
    let (delivery, sha) = (delivery.map(str::to_string), sha.to_string());
    let detail = format!("{event} {sha}");
    let claimed = tokio::task::spawn_blocking(move || {
        let now = crate::journal::wall_now();
        let id = delivery.unwrap_or_else(|| format!("{detail} (no delivery id)"));
        // One transaction: the delivery and every service's claim.
        Ok(
            match journal.claim_merge(&id, &detail, &sha, &services, now)? {
                None => Claims::Duplicate,
                Some(fresh) => Claims::Fresh(fresh),
            },
        )
    })
    .await;
    claimed.unwrap_or_else(|e| {
        Err(crate::journal::JournalError::Storage(
            format!("the claim task failed: {e}").into(),
        ))
    })
}

fn reply(
    state: &AppState,
    result: WebhookResult,
    status: StatusCode,
    body: serde_json::Value,
) -> Response {
    state.metrics.webhook(result);
    (status, Json(body)).into_response()
}

/// Whether the body failed because it missed the request deadline
/// (tower-http's `TimeoutError`, somewhere in the error's sources).
fn is_timeout(e: &BytesRejection) -> bool {
    let mut source = e.source();
    while let Some(s) = source {
        if s.is::<tower_http::timeout::TimeoutError>() {
            return true;
        }
        source = s.source();
    }
    false
}
