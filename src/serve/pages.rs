//! serve's read-only pages: `GET /rollouts` (the journal's rollouts, live ones
//! on top), `GET /rollouts/{id}` (one rollout, kept live by [`live`]),
//! `GET /rollouts/{id}/chart.svg` and `GET /rollouts/{id}/events` (SSE).
//!
//! Only GET routes and no forms: nothing here can change a rollout. Who may
//! look ([`Access`]): with a token set (`SERVE_PAGES_TOKEN`), whoever
//! sends it as `Authorization: Bearer …` or `?token=` (an `EventSource` cannot
//! set headers); without one, loopback clients only, since serve usually binds
//! a public address for GitHub's webhooks.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::{live, render};
use crate::journal::{Journal, JournalError, RolloutRecord, StoredEvent};

/// The only place the pages' token comes from (a secret: never the config
/// file; and not `DEPLOY_AGENT_*`, which the settings read as fields).
pub const TOKEN_ENV: &str = "SERVE_PAGES_TOKEN";

/// Rollouts listed on `/rollouts`.
const LIST_LIMIT: usize = 200;

/// Who may read the pages.
#[derive(Clone, Default)]
pub struct Access {
    /// `None`: loopback clients only.
    pub token: Option<Arc<str>>,
}

impl Access {
    /// From [`TOKEN_ENV`] (blank counts as unset).
    pub fn from_env() -> Self {
        Self {
            token: std::env::var(TOKEN_ENV)
                .ok()
                .filter(|t| !t.trim().is_empty())
                .map(Into::into),
        }
    }
}

#[derive(Clone)]
struct PagesState {
    journal: Arc<dyn Journal>,
    closing: live::Closing,
}

/// Why a page was not shown.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error(
        "the rollout pages answer only loopback clients while no token is set: set {TOKEN_ENV} \
         in serve's environment and send it as `Authorization: Bearer <token>` or `?token=<token>`"
    )]
    NotLoopback,
    #[error("wrong or missing token: send {TOKEN_ENV}'s value as `Authorization: Bearer <token>` or `?token=<token>`")]
    BadToken,
    #[error("no rollout `{0}` in the journal: see /rollouts for the ones there are")]
    NotFound(String),
    #[error(
        "cannot read the journal: {0} (see serve's log; `deploy-agent doctor` checks the journal)"
    )]
    Journal(JournalError),
}

impl From<JournalError> for PageError {
    fn from(e: JournalError) -> Self {
        match e {
            JournalError::NotFound(id) => PageError::NotFound(id),
            e => PageError::Journal(e),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let status = match self {
            PageError::NotLoopback => StatusCode::FORBIDDEN,
            PageError::BadToken => StatusCode::UNAUTHORIZED,
            PageError::NotFound(_) => StatusCode::NOT_FOUND,
            PageError::Journal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, format!("{self}\n")).into_response()
    }
}

/// The pages' routes over `journal`, guarded by `access`; event streams end
/// when `closing` says so. Peers are read from `ConnectInfo<SocketAddr>`:
/// without it (a server that does not record them) only a token opens the pages.
pub fn router(journal: Arc<dyn Journal>, access: Access, closing: live::Closing) -> Router {
    Router::new()
        .route("/rollouts", get(list))
        .route("/rollouts/{id}", get(page))
        .route("/rollouts/{id}/chart.svg", get(chart))
        .route("/rollouts/{id}/events", get(events))
        .with_state(PagesState { journal, closing })
        .layer(middleware::from_fn(move |req: Request, next: Next| {
            let access = access.clone();
            async move {
                match check(&access, &req) {
                    Ok(()) => next.run(req).await,
                    Err(e) => e.into_response(),
                }
            }
        }))
}

/// The access rule of the module doc.
fn check(access: &Access, req: &Request) -> Result<(), PageError> {
    let Some(token) = &access.token else {
        let peer = req.extensions().get::<ConnectInfo<SocketAddr>>();
        return match peer {
            Some(ConnectInfo(addr)) if addr.ip().is_loopback() => Ok(()),
            _ => Err(PageError::NotLoopback),
        };
    };
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_string);
    let given = bearer.or_else(|| query_param(req.uri().query(), "token"));
    match given {
        Some(given) if same(given.as_bytes(), token.as_bytes()) => Ok(()),
        _ => Err(PageError::BadToken),
    }
}

/// Compares without stopping at the first difference (a token is a secret).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn query_param(query: Option<&str>, name: &str) -> Option<String> {
    form_urlencoded::parse(query?.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// `?token=…` to carry into links, when the token came in the URL.
fn token_query(req_query: Option<&str>) -> String {
    query_param(req_query, "token")
        .map(|t| format!("?token={}", render::url_segment(&t)))
        .unwrap_or_default()
}

/// Runs a journal read off the async threads (SQLite calls block).
async fn blocking<T: Send + 'static>(
    journal: &Arc<dyn Journal>,
    read: impl FnOnce(&dyn Journal) -> Result<T, JournalError> + Send + 'static,
) -> Result<T, PageError> {
    let journal = journal.clone();
    tokio::task::spawn_blocking(move || read(&*journal))
        .await
        .map_err(|e| PageError::Journal(JournalError::Corrupt(format!("reader failed: {e}"))))?
        .map_err(PageError::from)
}

async fn list(State(s): State<PagesState>, uri: axum::http::Uri) -> Result<Response, PageError> {
    // Live ones even when older than the newest LIST_LIMIT (a rollout waiting
    // hours for an approval), once each.
    let records = blocking(&s.journal, |j| {
        let mut records = j.unfinished()?;
        for r in j.list(None, LIST_LIMIT)? {
            if !records.iter().any(|u| u.id == r.id) {
                records.push(r);
            }
        }
        Ok(records)
    })
    .await?;
    Ok(Html(render::list_page(&records, &token_query(uri.query()))).into_response())
}

/// A rollout's page: the same self-contained chart page `show --format html`
/// writes, plus the live script (which only updates its ids).
fn rollout_document(record: &RolloutRecord, events: &[StoredEvent]) -> String {
    live::with_live_script(crate::chart::html(record, events))
}

async fn record_and_events(
    s: &PagesState,
    id: String,
) -> Result<(RolloutRecord, Vec<StoredEvent>), PageError> {
    blocking(&s.journal, move |j| Ok((j.rollout(&id)?, j.events(&id)?))).await
}

async fn page(State(s): State<PagesState>, Path(id): Path<String>) -> Result<Response, PageError> {
    let (record, events) = record_and_events(&s, id).await?;
    Ok(Html(rollout_document(&record, &events)).into_response())
}

async fn chart(State(s): State<PagesState>, Path(id): Path<String>) -> Result<Response, PageError> {
    let (record, events) = record_and_events(&s, id).await?;
    Ok((
        [(header::CONTENT_TYPE, "image/svg+xml")],
        crate::chart::svg(&record, &events),
    )
        .into_response())
}

async fn events(
    State(s): State<PagesState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: axum::http::Uri,
) -> Result<Response, PageError> {
    let check = id.clone();
    blocking(&s.journal, move |j| j.rollout(&check)).await?;
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| query_param(uri.query(), "after"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    Ok(live::stream(s.journal.clone(), id, after, s.closing.clone()).into_response())
}
