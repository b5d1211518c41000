//! `deploy-agent serve`: GitHub webhooks in, guarded rollouts out.
//!
//! `POST /webhooks/github` verifies the signature ([`webhook`]), maps a merge to
//! the default branch onto the `[serve]` services and queues one rollout per
//! service ([`queue`]); `GET /metrics` exposes counters fed by an event sink in
//! every rollout's fanout ([`metrics`]); `GET /healthz` says ok;
//! `POST /slack/interactivity` decides approvals from Slack buttons ([`slack`]).
//!
//! Shutdown (SIGTERM or ctrl-c): stop accepting, drop queued rollouts that have
//! not started, give running ones `shutdown_grace` to finish. A rollout still
//! running after that is left as it is in the journal — every event and
//! write-ahead intent is committed before the step it announces — and
//! `deploy-agent resume` finishes it. Nothing is interrupted mid-write by us.

pub mod metrics;
pub mod queue;
pub mod slack;
mod takeover;
pub mod webhook;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::json;

use crate::commands::rollout::{
    rollout_id, run_rollout_with, LeaseWait, PlannerKind, RolloutFormat, RolloutHooks, TargetKind,
};
use crate::error::Error;
use crate::journal::JournalError;
use crate::journal::{Journal, JournalSink};
use crate::rollout::events::{Event, EventSink, Fanout};
use crate::rollout::state::Outcome;
use crate::settings::{Env, Settings};
use crate::sim::Scenario;
use crate::RolloutCommand;

use metrics::{Metrics, WebhookResult};
use queue::{Job, Launch, Queue, Submitted};
use webhook::{Delivery, SignatureError};

/// The only place the webhook secret comes from.
pub const SECRET_ENV: &str = "GITHUB_WEBHOOK_SECRET";

/// Everything `deploy-agent serve` needs, already parsed.
#[derive(Debug, Clone)]
pub struct ServeCommand {
    pub listen: SocketAddr,
    pub max_concurrent: usize,
    /// How long running rollouts get to finish after SIGTERM.
    pub shutdown_grace: Duration,
    pub config: Option<PathBuf>,
    pub journal: Option<PathBuf>,
}

#[derive(Clone)]
struct AppState {
    secret: Arc<Vec<u8>>,
    services: Arc<Vec<String>>,
    queue: Queue,
    metrics: Metrics,
}

/// Serves until SIGTERM or ctrl-c; returns the exit code.
pub async fn run_serve(cmd: &ServeCommand) -> Result<u8, Error> {
    let secret = std::env::var(SECRET_ENV)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            Error::Usage(format!(
                "serve needs the webhook secret in {SECRET_ENV} (the same value as the GitHub hook's secret); it is never read from a file or flag"
            ))
        })?;
    let settings = Settings::load(cmd.config.as_deref(), &Env::from_process())?;
    let Some(repo) = settings.serve.repo.clone() else {
        return Err(Error::Usage(
            "serve needs `[serve] repo = \"PATH\"` (a local clone to assess merges from) in the config".into(),
        ));
    };
    if settings.serve.services.is_empty() {
        return Err(Error::Usage(
            "serve needs `[serve] services = [\"NAME\", ...]`: the services a merge rolls out"
                .into(),
        ));
    }
    crate::git::LocalGit::open(&repo)?;
    check_slack(&settings)?;
    let targets = service_targets(&settings)?;
    // One handle for the whole server: rollouts, failures and Slack clicks.
    let journal = crate::journal::open_path(&settings.journal_path(cmd.journal.as_deref()))?;
    let metrics = Metrics::default();
    // The launcher asks the queue whether a job waiting for a busy service's
    // lease is still wanted; the queue needs the launcher first.
    let queue_cell: Arc<std::sync::OnceLock<Queue>> = Arc::default();
    let repo_path = repo.clone();
    let launch = launcher(
        cmd,
        &settings,
        targets,
        repo,
        (metrics.clone(), queue_cell.clone()),
        journal.clone(),
    );
    let state = AppState {
        secret: Arc::new(secret.into_bytes()),
        services: Arc::new(settings.serve.services.clone()),
        queue: Queue::new(cmd.max_concurrent, metrics.clone(), launch),
        metrics,
    };
    let _ = queue_cell.set(state.queue.clone());
    let queue = state.queue.clone();
    // Rollouts whose owner died (any replica's) are taken over from here.
    let watch = Arc::new(takeover::Watch {
        journal: journal.clone(),
        policy: Arc::new(settings.policy(None)?),
        settings: Arc::new(settings.clone()),
        repo: repo_path.clone(),
        metrics: state.metrics.clone(),
    });
    let watcher = tokio::spawn(takeover::watch(watch));
    let app = router(state, slack_state(&settings, journal));
    let listener = tokio::net::TcpListener::bind(cmd.listen)
        .await
        .map_err(|e| Error::Usage(format!("cannot listen on {}: {e}", cmd.listen)))?;
    let addr = listener
        .local_addr()
        .map_err(|e| Error::Usage(e.to_string()))?;
    eprintln!("deploy-agent serve: listening on {addr}");
    tracing::info!(%addr, "listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| Error::Usage(format!("server error: {e}")))?;
    watcher.abort();
    eprintln!("deploy-agent serve: shutting down, waiting for running rollouts");
    let left = queue.shutdown(cmd.shutdown_grace).await;
    if left > 0 {
        eprintln!(
            "deploy-agent serve: {left} rollout(s) still running after the grace period; they stay in the journal: run `deploy-agent resume`"
        );
    }
    Ok(crate::exit::OK)
}

fn router(state: AppState, slack: Option<slack::SlackState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok" }))
        .route("/metrics", get(metrics_text))
        .route("/webhooks/github", post(github))
        .with_state(state)
        .merge(slack::router(slack))
        .layer(DefaultBodyLimit::max(webhook::MAX_BODY_BYTES))
}

/// A service whose approvals go to Slack needs the bot token to post, checked at
/// start rather than at each rollout; without the signing secret the buttons
/// cannot be clicked, which is allowed (`deploy-agent approve` still decides) but
/// said.
fn check_slack(settings: &Settings) -> Result<(), Error> {
    if settings.serve.approve_as.is_some() {
        return Ok(());
    }
    let slack: Vec<&String> = settings
        .serve
        .services
        .iter()
        .filter(|s| settings.slack_channel(s).is_some())
        .collect();
    if slack.is_empty() {
        return Ok(());
    }
    if settings.slack.bot_token.is_none() {
        return Err(Error::Usage(format!(
            "approvals of {slack:?} go to Slack but {} is not set: set it to the app's bot token (xoxb-…, scope chat:write), or set `[serve] approve_as`",
            crate::approval::slack::BOT_TOKEN_ENV
        )));
    }
    if std::env::var(slack::SIGNING_SECRET_ENV).map_or(true, |s| s.trim().is_empty()) {
        tracing::warn!(
            "approvals of {slack:?} go to Slack but {} is not set: clicks will be refused (503); `deploy-agent approve` still works",
            slack::SIGNING_SECRET_ENV
        );
    }
    Ok(())
}

/// The Slack interactivity handler's state, when `SLACK_SIGNING_SECRET` is set.
fn slack_state(settings: &Settings, journal: Arc<dyn Journal>) -> Option<slack::SlackState> {
    let secret = std::env::var(slack::SIGNING_SECRET_ENV)
        .ok()
        .filter(|s| !s.trim().is_empty())?;
    let state = slack::SlackState::new(
        secret.as_bytes(),
        journal,
        settings.slack_approvers(),
        &settings.slack,
    );
    state
        .map_err(|e| tracing::error!("Slack clicks are refused (503): {e}"))
        .ok()
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
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

async fn github(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let delivery_id = text("x-github-delivery").unwrap_or("-").to_string();
    let body = match body {
        Ok(b) => b,
        Err(e) => {
            tracing::warn!(delivery = %delivery_id, status = %e.status(), "webhook body refused: {e}");
            return reply(
                &state,
                WebhookResult::Rejected,
                e.status(),
                json!({"error": e.body_text()}),
            );
        }
    };
    if let Err(e) = webhook::verify_signature(&state.secret, text("x-hub-signature-256"), &body) {
        tracing::warn!(delivery = %delivery_id, "webhook rejected: {e}");
        let error = match e {
            SignatureError::Missing => "unsigned",
            SignatureError::Mismatch => "bad signature",
        };
        return reply(
            &state,
            WebhookResult::Rejected,
            StatusCode::UNAUTHORIZED,
            json!({"error": error}),
        );
    }
    let event = text("x-github-event");
    match webhook::parse(event, &body) {
        Err(e) => {
            tracing::warn!(delivery = %delivery_id, ?event, "webhook rejected: {e}");
            reply(
                &state,
                WebhookResult::Rejected,
                StatusCode::BAD_REQUEST,
                json!({"error": e.to_string()}),
            )
        }
        Ok(Delivery::Ping) => {
            tracing::info!(delivery = %delivery_id, "ping");
            reply(
                &state,
                WebhookResult::Accepted,
                StatusCode::OK,
                json!({"ok": "pong"}),
            )
        }
        Ok(Delivery::Ignored(reason)) => {
            tracing::info!(delivery = %delivery_id, ?event, %reason, "webhook ignored");
            reply(
                &state,
                WebhookResult::Ignored,
                StatusCode::ACCEPTED,
                json!({"ignored": reason}),
            )
        }
        Ok(Delivery::Deploy { sha, source }) => {
            let mut queued = Vec::new();
            for service in state.services.iter() {
                let job = Job {
                    service: service.clone(),
                    sha: sha.clone(),
                    source: source.clone(),
                };
                match state.queue.submit(job) {
                    Submitted::Refused => {
                        return reply(
                            &state,
                            WebhookResult::Rejected,
                            StatusCode::SERVICE_UNAVAILABLE,
                            json!({"error": "shutting down"}),
                        );
                    }
                    Submitted::Queued | Submitted::Superseded { .. } => {
                        queued.push(service.clone())
                    }
                }
            }
            tracing::info!(delivery = %delivery_id, %sha, %source, services = ?queued, "rollouts queued");
            reply(
                &state,
                WebhookResult::Accepted,
                StatusCode::ACCEPTED,
                json!({"sha": sha, "queued": queued}),
            )
        }
    }
}

/// The target of every `[serve] services` entry, resolved once at startup: a
/// service without a complete target is an error now, not a rollout silently
/// run in the simulator and reported promoted.
fn service_targets(settings: &Settings) -> Result<BTreeMap<String, TargetKind>, Error> {
    let mut targets = BTreeMap::new();
    for name in &settings.serve.services {
        let service = settings.services.get(name).cloned().unwrap_or_default();
        let target = service
            .resolve_target(name)
            .map_err(|e| Error::Usage(format!("serve.services: {e}")))?;
        targets.insert(name.clone(), target);
    }
    Ok(targets)
}

/// Starts each job's rollout on its own thread and runtime: a simulated rollout
/// on virtual time runs flat out, and must not starve the HTTP server.
fn launcher(
    cmd: &ServeCommand,
    settings: &Settings,
    targets: BTreeMap<String, TargetKind>,
    repo: PathBuf,
    (metrics, queue): (Metrics, Arc<std::sync::OnceLock<Queue>>),
    shared: Arc<dyn Journal>,
) -> Launch {
    let poll = std::time::Duration::from_secs_f64(settings.lease.heartbeat_secs);
    let config = cmd.config.clone();
    let journal = cmd.journal.clone();
    let approve_as = settings.serve.approve_as.clone();
    Arc::new(move |job: Job| {
        // Every queued service was resolved at startup (`service_targets`).
        let target = targets
            .get(&job.service)
            .copied()
            .unwrap_or(TargetKind::Sim);
        let rollout = RolloutCommand {
            rev: job.sha.clone(),
            repo: repo.clone(),
            service: job.service.clone(),
            target,
            metrics: None,
            dry_run: false,
            scenario: Scenario::Healthy,
            seed: 1,
            planner: PlannerKind::Playbook,
            format: RolloutFormat::Jsonl,
            approve_as: approve_as.clone(),
            config: config.clone(),
            policy: None,
            pace: None,
            journal: journal.clone(),
            no_journal: false,
            adopt: false,
        };
        let metrics = metrics.clone();
        let shared = shared.clone();
        let (queue, service) = (queue.clone(), job.service.clone());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name(format!("rollout-{}", job.service))
            .spawn(move || {
                let hooks = RolloutHooks {
                    sinks: vec![Box::new(metrics.sink())],
                    headless: true,
                    journal: Some(shared.clone()),
                    stop: None,
                    lease_wait: Some(LeaseWait {
                        poll,
                        still_wanted: Arc::new(move || {
                            !queue.get().is_some_and(|q| q.newer_or_closing(&service))
                        }),
                    }),
                };
                let result = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt.block_on(run_rollout_with(&rollout, hooks)),
                    Err(e) => Err(Error::Usage(format!("cannot start a runtime: {e}"))),
                };
                match result {
                    Ok(outcome) => tracing::info!(
                        service = %rollout.service, rev = %rollout.rev,
                        outcome = outcome.summary.outcome.as_str(), "rollout finished"
                    ),
                    // Gave up waiting for a busy service: a newer merge replaced it.
                    Err(Error::Journal(JournalError::LeaseHeld { .. })) => {
                        metrics.superseded();
                        tracing::info!(service = %rollout.service, rev = %rollout.rev, "superseded while waiting for the service's lease");
                    }
                    Err(e) => record_failure(&rollout, shared, target, &metrics, &e),
                }
                let _ = tx.send(());
            });
        Box::pin(async move {
            match spawned {
                Ok(_) => {
                    let _ = rx.await;
                }
                Err(e) => tracing::error!("cannot start a rollout thread: {e}"),
            }
        })
    })
}

/// A rollout that could not start (unknown sha, bad config) is journaled and
/// counted as aborted with the reason, so `history` shows it.
fn record_failure(
    cmd: &RolloutCommand,
    journal: Arc<dyn Journal>,
    target: TargetKind,
    metrics: &Metrics,
    error: &Error,
) {
    tracing::error!(service = %cmd.service, rev = %cmd.rev, "rollout could not start: {error}");
    let mut sink = Fanout::default();
    sink.sinks.push(Box::new(JournalSink::new(journal)));
    sink.sinks.push(Box::new(metrics.sink()));
    let target = match target {
        TargetKind::Sim => format!("sim:{}", Scenario::Healthy.as_str()),
        real => real.as_str().to_string(),
    };
    sink.emit(
        0.0,
        &Event::Started {
            rollout_id: rollout_id(&cmd.service, &cmd.rev),
            service: cmd.service.clone(),
            rev: cmd.rev.clone(),
            target,
            planner: "playbook".into(),
        },
    );
    sink.emit(
        0.0,
        &Event::Finished {
            outcome: Outcome::Aborted,
            reason: format!("could not start: {error}"),
            weight: 0,
        },
    );
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for ctrl-c: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!("ctrl-c: shutting down"),
        () = term => tracing::info!("SIGTERM: shutting down"),
    }
}
