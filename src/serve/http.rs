//! The listener: HTTP/1.1 connections with timeouts and a cap, and the signals
//! that stop it.
//!
//! axum's `serve` sets no timer, so hyper's header-read timeout never fires and
//! a client that stops mid-request holds its connection forever. Here each
//! connection is served by hyper's own HTTP/1 builder with
//!
//! - `header_read_timeout` (`[serve] request_timeout_secs`): a request's headers
//!   must arrive within it, else the connection is closed; hyper restarts it
//!   after each response, so it also closes idle keep-alive connections;
//! - tower-http's `RequestBodyDeadlineLayer` (same value): the whole body must
//!   arrive within it from the headers, however it trickles (tower-http's
//!   `RequestBodyTimeoutLayer` would restart at every chunk); a late body ends
//!   in 408 and hyper closes a connection whose body was not read to the end;
//! - a cap (`[serve] max_connections`): a connection is accepted only with a
//!   permit of a semaphore, so the ones above the cap wait in the kernel's
//!   listen backlog (they are not refused) until a served one ends.
//!
//! Shutdown: stop accepting, let requests in flight finish (hyper's graceful
//! shutdown closes idle connections at once), at most [`DRAIN`] past the
//! request timeout.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use axum::{Extension, Router};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tower_http::timeout::RequestBodyDeadlineLayer;

/// What bounds a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// For the headers of each request, and again for its whole body.
    pub request_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

/// Extra time, past the request timeout, that shutdown waits for connections.
pub const DRAIN: Duration = Duration::from_secs(5);

/// How often "the cap is reached" is logged at most.
const CAP_WARNING_EVERY: Duration = Duration::from_secs(60);

/// Serves `app` on `listener` until `shutdown` completes; then drains.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) {
    let app = app.layer(RequestBodyDeadlineLayer::new(limits.request_timeout));
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.request_timeout);
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut warned: Option<tokio::time::Instant> = None;
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        if permits.available_permits() == 0
            && warned.is_none_or(|at| at.elapsed() >= CAP_WARNING_EVERY)
        {
            warned = Some(tokio::time::Instant::now());
            tracing::warn!(
                max_connections = limits.max_connections,
                "connection cap reached: new connections wait in the listen backlog until one ends (at most {:?} each)",
                limits.request_timeout * 2
            );
        }
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit,
            () = &mut shutdown => break,
        };
        // Never closed: `permits` lives as long as this loop.
        let Ok(permit) = permit else { break };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // The peer for handlers that check it (the pages answer loopback only
        // when no token is set).
        let app = app.clone().layer(Extension(ConnectInfo(peer)));
        let conn = builder.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app));
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                // Header timeouts and clients that went away: expected, not alarming.
                tracing::debug!(%peer, "connection ended: {e}");
            }
            drop(permit);
        });
    }
    drop(listener);
    let open = graceful.count();
    if tokio::time::timeout(limits.request_timeout * 2 + DRAIN, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(open, "connections still open after the drain; closing them");
    }
}

/// Completes on SIGTERM or ctrl-c.
pub async fn shutdown_signal() {
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
