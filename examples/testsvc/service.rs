//! A small HTTP service to roll out in the quickstart and the end-to-end tests
//! (`testsvc serve`, an example, not part of the product): a stable and a
//! canary instance with chosen error rates and latencies, behind a real
//! HAProxy and scraped by a real Prometheus.
//!
//! `GET /` sleeps about `latency_ms` (log-normal jitter, mean `latency_ms`) and
//! answers 200, or 500 with probability `error_rate`. `GET /metrics` serves, in
//! Prometheus' text format, `http_requests_total{version,code}` and the
//! `http_request_duration_seconds{version}` histogram. Every series exists from
//! the start (at 0), so "no requests yet" reads as zero, not as missing.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use deploy_agent::sim::{seeded, Draws, SimRng};

/// Upper bounds of the latency histogram, in seconds (then `+Inf`).
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 1.0,
];

/// Spread of the latency jitter (σ of the log-normal).
const JITTER_SIGMA: f64 = 0.25;

/// How the service behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct TestServiceConfig {
    pub listen: SocketAddr,
    /// The `version` label of its metrics.
    pub version: String,
    /// Share of requests answered 500 (0..=1).
    pub error_rate: f64,
    /// Mean latency in milliseconds.
    pub latency_ms: f64,
    pub seed: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum TestServiceError {
    #[error("invalid test service setting: {0}")]
    Invalid(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("test service stopped: {0}")]
    Serve(std::io::Error),
}

#[derive(Debug, Default, Clone)]
struct Counters {
    ok: u64,
    errors: u64,
    /// Per bucket of [`BUCKETS`], then the overflow.
    buckets: [u64; BUCKETS.len() + 1],
    sum_seconds: f64,
}

struct Service {
    config: TestServiceConfig,
    rng: Mutex<SimRng>,
    counters: Mutex<Counters>,
}

/// Binds, prints `listening on ADDR` on stdout (port 0 picks one) and serves until killed.
pub async fn serve(config: TestServiceConfig) -> Result<(), TestServiceError> {
    let (listener, app) = bind(config).await?;
    let addr = listener.local_addr().map_err(TestServiceError::Serve)?;
    println!("listening on {addr}");
    axum::serve(listener, app)
        .await
        .map_err(TestServiceError::Serve)
}

/// The bound listener and the app, for callers that run it themselves.
pub async fn bind(
    config: TestServiceConfig,
) -> Result<(tokio::net::TcpListener, Router), TestServiceError> {
    if !(0.0..=1.0).contains(&config.error_rate) {
        return Err(TestServiceError::Invalid(
            "--error-rate must be in [0, 1]".into(),
        ));
    }
    if !(0.0..=60_000.0).contains(&config.latency_ms) {
        return Err(TestServiceError::Invalid(
            "--latency-ms must be in [0, 60000]".into(),
        ));
    }
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| TestServiceError::Bind {
            addr: config.listen,
            source,
        })?;
    let service = Arc::new(Service {
        rng: Mutex::new(seeded(config.seed)),
        counters: Mutex::default(),
        config,
    });
    let app = Router::new()
        .route("/", get(handle))
        .route("/metrics", get(metrics))
        .with_state(service);
    Ok((listener, app))
}

async fn handle(State(svc): State<Arc<Service>>) -> impl IntoResponse {
    let started = tokio::time::Instant::now();
    let (delay, fail) = svc.draw();
    tokio::time::sleep(delay).await;
    svc.record(started.elapsed().as_secs_f64(), fail);
    let status = if fail {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    };
    (
        status,
        format!("{} {}\n", svc.config.version, status.as_u16()),
    )
}

async fn metrics(State(svc): State<Arc<Service>>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        svc.render(),
    )
}

impl Service {
    /// This request's delay and whether it fails.
    fn draw(&self) -> (Duration, bool) {
        let Ok(mut rng) = self.rng.lock() else {
            return (Duration::ZERO, true);
        };
        let c = &self.config;
        let jitter = (JITTER_SIGMA * rng.normal() - JITTER_SIGMA * JITTER_SIGMA / 2.0).exp();
        let fail = rng.uniform() < c.error_rate;
        (
            Duration::from_secs_f64(c.latency_ms * jitter / 1_000.0),
            fail,
        )
    }

    fn record(&self, seconds: f64, fail: bool) {
        let Ok(mut c) = self.counters.lock() else {
            return;
        };
        if fail {
            c.errors += 1;
        } else {
            c.ok += 1;
        }
        let i = BUCKETS
            .iter()
            .position(|&le| seconds <= le)
            .unwrap_or(BUCKETS.len());
        c.buckets[i] += 1;
        c.sum_seconds += seconds;
    }

    /// The Prometheus text exposition of the counters.
    fn render(&self) -> String {
        let Ok(c) = self.counters.lock().map(|c| c.clone()) else {
            return String::new();
        };
        exposition(&self.config.version, &c)
    }
}

fn exposition(version: &str, c: &Counters) -> String {
    let v = version.replace('\\', r"\\").replace('"', "\\\"");
    let mut out = String::new();
    out.push_str("# HELP http_requests_total Requests answered, by version and status code.\n");
    out.push_str("# TYPE http_requests_total counter\n");
    out.push_str(&format!(
        "http_requests_total{{version=\"{v}\",code=\"200\"}} {}\n",
        c.ok
    ));
    out.push_str(&format!(
        "http_requests_total{{version=\"{v}\",code=\"500\"}} {}\n",
        c.errors
    ));
    out.push_str("# HELP http_request_duration_seconds Time to answer GET /.\n");
    out.push_str("# TYPE http_request_duration_seconds histogram\n");
    let mut cumulative = 0;
    for (i, le) in BUCKETS
        .iter()
        .map(|b| b.to_string())
        .chain(["+Inf".into()])
        .enumerate()
    {
        cumulative += c.buckets[i];
        out.push_str(&format!(
            "http_request_duration_seconds_bucket{{version=\"{v}\",le=\"{le}\"}} {cumulative}\n"
        ));
    }
    out.push_str(&format!(
        "http_request_duration_seconds_sum{{version=\"{v}\"}} {}\n",
        c.sum_seconds
    ));
    out.push_str(&format!(
        "http_request_duration_seconds_count{{version=\"{v}\"}} {cumulative}\n"
    ));
    out
}
