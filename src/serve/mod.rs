//! `deploy-agent serve`: GitHub webhooks in, guarded rollouts out.
//!
//! `POST /webhooks/github` ([`github`]) verifies the signature and reads the
//! payload ([`webhook`]), refuses repositories outside `[serve] repositories`,
//! maps a merge into `[serve] branch` onto the `[serve]` services and queues one
//! rollout per service ([`queue`]); before a rollout is assessed its commit is
//! fetched into the clone if missing ([`fetch`]). `GET /metrics` exposes
//! counters fed by an event sink in every rollout's fanout ([`metrics`]);
//! `GET /healthz` says ok; `POST /slack/interactivity` decides approvals from
//! Slack buttons ([`slack`]); `GET /rollouts…` are read-only pages of the
//! journal's rollouts ([`pages`], rendered by [`render`], kept live by [`live`]).
//! Connections are served with timeouts and a cap ([`http`]).
//!
//! Shutdown (SIGTERM or ctrl-c): stop accepting, let requests in flight finish
//! (bounded by the request timeout), drop queued rollouts that have not started, give running ones `shutdown_grace` to finish. A rollout still
//! running after that is left as it is in the journal — every event and
//! write-ahead intent is committed before the step it announces — and
//! `deploy-agent resume` finishes it. Nothing is interrupted mid-write by us.

mod error;
pub mod fetch;
mod github;
pub mod http;
pub mod live;
pub mod metrics;
pub mod pages;
pub mod queue;
pub mod render;
pub mod slack;
mod startup;
mod takeover;
pub mod webhook;

pub use error::ServeError;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

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

use fetch::Fetcher;
use metrics::Metrics;
use queue::{Job, Launch, Queue};
use webhook::Rules;

/// The only place the webhook secret comes from.
pub const SECRET_ENV: &str = "GITHUB_WEBHOOK_SECRET";

/// Everything `deploy-agent serve` needs, already parsed.
#[derive(Debug, Clone)]
pub struct ServeCommand {
    pub listen: SocketAddr,
    pub max_concurrent: usize,
    /// Simulated services: real seconds per simulated second (0: flat out).
    pub pace: f64,
    /// How long running rollouts get to finish after SIGTERM.
    pub shutdown_grace: Duration,
    pub config: Option<PathBuf>,
    pub journal: Option<PathBuf>,
}

#[derive(Clone)]
struct AppState {
    secret: Arc<Vec<u8>>,
    /// `[serve] repositories` and `branch`.
    rules: Arc<Rules>,
    services: Arc<Vec<String>>,
    queue: Queue,
    metrics: Metrics,
    /// Where deliveries and merges are claimed once, across replicas.
    journal: Arc<dyn Journal>,
}

/// Serves until SIGTERM or ctrl-c; returns the exit code.
pub async fn run_serve(cmd: &ServeCommand) -> Result<u8, Error> {
    let secret = std::env::var(SECRET_ENV)
        .ok()
        .filter(|s| !s.trim().is_empty())
        .ok_or(ServeError::NoWebhookSecret { env: SECRET_ENV })?;
    let settings = Settings::load(cmd.config.as_deref(), &Env::from_process())?;
    let Some(repo) = settings.serve.repo.clone() else {
        return Err(ServeError::NoRepo.into());
    };
    if settings.serve.services.is_empty() {
        return Err(ServeError::NoServices.into());
    }
    if settings.serve.repositories.is_empty() {
        return Err(ServeError::NoRepositories.into());
    }
    crate::git::LocalGit::open(&repo)?;
    startup::check_approvals(&settings)?;
    let targets = startup::service_targets(&settings)?;
    // One handle for the whole server: rollouts, failures and Slack clicks.
    let journal = crate::journal::open_path(&settings.journal_path(cmd.journal.as_deref()))?;
    let metrics = Metrics::default();
    // The launcher asks the queue whether a job waiting for a busy service's
    // lease is still wanted; the queue needs the launcher first.
    let queue_cell: Arc<std::sync::OnceLock<Queue>> = Arc::default();
    let repo_path = repo.clone();
    let fetcher = Fetcher::new(repo, &settings.serve);
    fetcher.check_remote().await;
    let launch = launcher(
        cmd,
        &settings,
        targets,
        fetcher,
        (metrics.clone(), queue_cell.clone()),
        journal.clone(),
    );
    let state = AppState {
        secret: Arc::new(secret.into_bytes()),
        rules: Arc::new(Rules {
            repositories: settings.serve.repositories.clone(),
            branch: settings.serve.branch.clone(),
        }),
        services: Arc::new(settings.serve.services.clone()),
        queue: Queue::new(cmd.max_concurrent, metrics.clone(), launch),
        metrics,
        journal: journal.clone(),
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
    // Open pages' event streams end at shutdown instead of holding up the drain.
    let (closing, closing_rx) = tokio::sync::watch::channel(false);
    let pages = pages::router(
        journal.clone(),
        pages::Access::from_env(),
        live::Closing::on(closing_rx),
    );
    let app = router(state, startup::slack_state(&settings, journal)).merge(pages);
    let listen_error = |source| ServeError::Listen {
        address: cmd.listen,
        source,
    };
    let listener = tokio::net::TcpListener::bind(cmd.listen)
        .await
        .map_err(listen_error)?;
    let addr = listener.local_addr().map_err(listen_error)?;
    eprintln!("deploy-agent serve: listening on {addr}");
    tracing::info!(%addr, "listening");
    let limits = http::Limits {
        request_timeout: Duration::from_secs(settings.serve.request_timeout_secs),
        max_connections: settings.serve.max_connections,
    };
    let shutdown = async move {
        http::shutdown_signal().await;
        let _ = closing.send(true);
    };
    http::serve(listener, app, limits, shutdown).await;
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
        .route("/webhooks/github", post(github::github))
        .with_state(state)
        .merge(slack::router(slack))
        .layer(DefaultBodyLimit::max(webhook::MAX_BODY_BYTES))
}

async fn metrics_text(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
        .into_response()
}

/// Starts each job's rollout on its own thread and runtime: a simulated rollout
/// on virtual time runs flat out, and must not starve the HTTP server. There the
/// job's commit is first fetched into the clone if it is missing ([`Fetcher`]);
/// one that cannot be fetched is journaled as aborted ([`record_failure`]).
fn launcher(
    cmd: &ServeCommand,
    settings: &Settings,
    targets: BTreeMap<String, TargetKind>,
    fetcher: Fetcher,
    (metrics, queue): (Metrics, Arc<std::sync::OnceLock<Queue>>),
    shared: Arc<dyn Journal>,
) -> Launch {
    let poll = std::time::Duration::from_secs_f64(settings.lease.heartbeat_secs);
    let pace = cmd.pace.max(0.0);
    let config = cmd.config.clone();
    let journal = cmd.journal.clone();
    let approve_as = settings.serve.approve_as.clone();
    let repo = fetcher.repo().to_path_buf();
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
            pace: Some(pace),
            journal: journal.clone(),
            no_journal: false,
            adopt: false,
        };
        let metrics = metrics.clone();
        let shared = shared.clone();
        let (queue, service) = (queue.clone(), job.service.clone());
        let fetcher = fetcher.clone();
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
                    // The commit first: assessing needs it in the clone.
                    Ok(rt) => rt.block_on(async {
                        fetcher.ensure(&rollout.rev).await?;
                        Ok(run_rollout_with(&rollout, hooks).await?)
                    }),
                    Err(e) => Err(LaunchError::Runtime(e)),
                };
                match result {
                    Ok(outcome) => tracing::info!(
                        service = %rollout.service, rev = %rollout.rev,
                        outcome = outcome.summary.outcome.as_str(), "rollout finished"
                    ),
                    // Gave up waiting for a busy service: a newer merge replaced it.
                    Err(LaunchError::Rollout(Error::Journal(JournalError::LeaseHeld { .. }))) => {
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

/// Why a queued rollout could not start.
#[derive(Debug, thiserror::Error)]
enum LaunchError {
    /// The merged commit is not in the clone and could not be fetched.
    #[error(transparent)]
    Fetch(#[from] crate::git::FetchError),
    #[error(transparent)]
    Rollout(#[from] Error),
    #[error("cannot start a runtime: {0} (the machine is out of threads or memory)")]
    Runtime(std::io::Error),
}

/// A rollout that could not start (a commit that cannot be fetched, bad config)
/// is journaled and counted as aborted with the reason, so `history` shows it.
fn record_failure(
    cmd: &RolloutCommand,
    journal: Arc<dyn Journal>,
    target: TargetKind,
    metrics: &Metrics,
    error: &LaunchError,
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
