//! Metrics from Prometheus' HTTP API: three PromQL instant queries per version
//! (requests, errors, latency buckets), each `increase(...[{range}])` evaluated at
//! the window's end, so one query counts exactly one window.
//!
//! Every failure is visible, never a pass: a query with no clean answer makes that
//! version `None` in the window (NoData for the judge), and an unreachable server,
//! an HTTP error or a body that is not the API's JSON is a [`MetricsError`] (the
//! loop judges it as NoData too). Each request has a timeout and failures that may
//! be transient (connection errors, timeouts, 429, 5xx) are retried a bounded number
//! of times with exponential backoff. The bearer token comes from the environment
//! only (`PROMETHEUS_BEARER_TOKEN`, see `settings::Env`).

mod buckets;
pub mod catalogue;
mod config;
mod response;

use std::time::Duration;

use async_trait::async_trait;
use backon::Retryable;

pub use buckets::latency_samples;
pub use config::{render, Labels, LatencyUnit, Preset, PrometheusConfig, Queries};
pub use response::{parse_vector, Series};

use super::{CatalogueEntry, ExtraWindow, MetricsError, MetricsSource, RatioSample};
use crate::canary::{MetricsWindow, VersionSample};

/// How rollout-clock seconds map to Unix time, which Prometheus' `time=` takes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClockMapping {
    rollout_start: f64,
    unix_start: f64,
}

impl ClockMapping {
    /// The rollout runs on the system clock (`clock::SystemClock`): rollout time is
    /// Unix time. The real backends' case.
    pub fn unix() -> Self {
        Self::starting_at(0.0, 0.0)
    }

    /// Rollout time `rollout_start` happened at Unix time `unix_start` (a rollout
    /// clock counting from its own start, or a replay).
    pub fn starting_at(rollout_start: f64, unix_start: f64) -> Self {
        Self {
            rollout_start,
            unix_start,
        }
    }

    pub fn to_unix(&self, rollout_secs: f64) -> f64 {
        self.unix_start + (rollout_secs - self.rollout_start)
    }
}

/// A [`MetricsSource`] over one Prometheus server.
#[derive(Debug, Clone)]
pub struct PrometheusMetrics {
    http: reqwest::Client,
    endpoint: reqwest::Url,
    config: PrometheusConfig,
    queries: Queries,
    token: Option<String>,
    clock: ClockMapping,
}

/// One request's failure, and whether another try may help.
enum Attempt {
    Retry(MetricsError),
    Fatal(MetricsError),
}

impl Attempt {
    fn error(&self) -> &MetricsError {
        match self {
            Attempt::Retry(e) | Attempt::Fatal(e) => e,
        }
    }

    fn into_error(self) -> MetricsError {
        match self {
            Attempt::Retry(e) | Attempt::Fatal(e) => e,
        }
    }
}

impl PrometheusMetrics {
    /// Checks the config and builds the HTTP client (timeouts included).
    pub fn new(
        config: PrometheusConfig,
        token: Option<String>,
        clock: ClockMapping,
    ) -> Result<Self, MetricsError> {
        config.validate()?;
        // `join` replaces a last path segment without a trailing slash (`/prom`).
        let base = format!("{}/", config.url.trim_end_matches('/'));
        let endpoint = reqwest::Url::parse(&base)
            .and_then(|u| u.join("api/v1/query"))
            .map_err(|e| MetricsError::Query(format!("prometheus.url: {e}")))?;
        let timeout = Duration::from_millis(config.timeout_ms);
        let http = reqwest::Client::builder()
            .connect_timeout(timeout.min(Duration::from_secs(3)))
            .timeout(timeout)
            .build()
            .map_err(|e| MetricsError::Unreachable(e.to_string()))?;
        Ok(Self {
            http,
            endpoint,
            queries: config.queries(),
            config,
            token,
            clock,
        })
    }

    /// One version's sample over the `range_secs` before Unix time `at`.
    async fn version(
        &self,
        canary: bool,
        range_secs: f64,
        at: f64,
    ) -> Result<Option<VersionSample>, MetricsError> {
        let q = &self.queries;
        let labels = self.config.labels(canary);
        let (requests, errors, latency) = tokio::try_join!(
            self.query(render(&q.requests, &labels, range_secs), at),
            self.query(render(&q.errors, &labels, range_secs), at),
            self.query(render(&q.latency_buckets, &labels, range_secs), at),
        )?;
        let (Some(requests), Some(errors)) = (response::total(&requests), response::total(&errors))
        else {
            return Ok(None);
        };
        let Some(latency_ms) = response::buckets(&latency).and_then(|b| {
            latency_samples(&b, q.latency_unit.to_ms(), self.config.max_latency_samples)
        }) else {
            return Ok(None);
        };
        let requests = requests.round() as u64;
        // Counted by separate extrapolations, errors can come out a hair above requests.
        let errors = (errors.round() as u64).min(requests);
        Ok(Some(VersionSample {
            requests,
            errors,
            latency_ms,
        }))
    }

    /// One catalogue metric for one version over the `range_secs` before
    /// Unix time `at`; `None` when either query has no clean answer.
    async fn ratio(
        &self,
        metric: &catalogue::CatalogueMetric,
        canary: bool,
        range_secs: f64,
        at: f64,
    ) -> Result<Option<RatioSample>, MetricsError> {
        let labels = self.config.labels(canary);
        let (total, bad) = tokio::try_join!(
            self.query(render(&metric.total, &labels, range_secs), at),
            self.query(render(&metric.bad, &labels, range_secs), at),
        )?;
        let (Some(total), Some(bad)) = (response::total(&total), response::total(&bad)) else {
            return Ok(None);
        };
        let total = total.round() as u64;
        // Separate extrapolations can put bad a hair above total.
        let bad = (bad.round() as u64).min(total);
        Ok(Some(RatioSample { total, bad }))
    }

    /// The catalogue's templates for the stable version: a query Prometheus
    /// rejects or that finds no series is a warning, not an error (a metric
    /// no planner chooses never matters), so it is fixed before a planner
    /// picks it and every window reads NoData.
    async fn preflight_catalogue(&self, at: f64) -> Vec<String> {
        let labels = self.config.labels(false);
        let mut warnings = Vec::new();
        for (name, m) in &self.config.catalogue {
            for (which, template) in [("total", &m.total), ("bad", &m.bad)] {
                let promql = render(template, &labels, PREFLIGHT_RANGE);
                let problem = match self.query(promql.clone(), at).await {
                    Ok(series) if series.is_empty() => {
                        "returned no series for the stable version over the last 5 minutes"
                            .to_string()
                    }
                    Ok(_) => continue,
                    Err(e) => format!("fails: {e}"),
                };
                warnings.push(format!(
                    "catalogue metric `{name}`: the {which} query `{promql}` {problem}; if a planner adds it, it is judged NoData until [services.NAME.prometheus.catalogue.{name}] is fixed"
                ));
            }
        }
        warnings
    }

    /// An instant query at Unix time `at`, retried while failures look transient.
    pub async fn query(&self, promql: String, at: f64) -> Result<Vec<Series>, MetricsError> {
        let time = format!("{at:.3}");
        let url = reqwest::Url::parse_with_params(
            self.endpoint.as_str(),
            [("query", promql.as_str()), ("time", time.as_str())],
        )
        .map_err(|e| MetricsError::Query(e.to_string()))?;
        let backoff = crate::retry::doubling(
            Duration::from_millis(self.config.retry_backoff_ms),
            self.config.max_retries,
        );
        (|| self.query_once(url.clone()))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|a| matches!(a, Attempt::Retry(_)))
            .notify(|a, wait| {
                tracing::warn!(error = %a.error(), ?wait, "prometheus query failed; retrying");
            })
            .await
            .map_err(Attempt::into_error)
    }

    async fn query_once(&self, url: reqwest::Url) -> Result<Vec<Series>, Attempt> {
        let mut request = self.http.get(url);
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.map_err(|e| self.transport(e))?;
        let status = response.status();
        let body = response.bytes().await.map_err(|e| self.transport(e))?;
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(Attempt::Retry(MetricsError::Query(format!(
                "HTTP {status}: {}",
                response::snippet(&body)
            ))));
        }
        // 400/422 carry the API's JSON error (bad query, execution error): say it.
        response::parse_vector(&body).map_err(|e| {
            if status.is_success() {
                Attempt::Fatal(e)
            } else {
                Attempt::Fatal(MetricsError::Query(format!("HTTP {status}: {e}")))
            }
        })
    }

    fn transport(&self, e: reqwest::Error) -> Attempt {
        let what = if e.is_timeout() {
            format!(
                "no answer from {} within {} ms (raise prometheus.timeout_ms or check the server)",
                self.config.url, self.config.timeout_ms
            )
        } else {
            format!("{}: {e}", self.config.url)
        };
        Attempt::Retry(MetricsError::Unreachable(what))
    }
}

#[async_trait]
impl MetricsSource for PrometheusMetrics {
    /// Every query must be one Prometheus accepts, and the requests query must
    /// find the stable version's series over the last five minutes (else the
    /// labels are wrong and every window would be NoData). The canary's series
    /// must exist too for the HAProxy preset (its exporter reports every server,
    /// with traffic or not); for others it appears with the first canary
    /// traffic, so its absence is only a warning.
    async fn preflight(&self) -> Result<Vec<String>, MetricsError> {
        // The present, in Unix time, whatever clock the rollout runs on.
        let at = crate::clock::Clock::now(&crate::clock::SystemClock);
        let q = &self.queries;
        let mut warnings = Vec::new();
        for canary in [false, true] {
            let labels = self.config.labels(canary);
            let who = if canary { "canary" } else { "stable" };
            for (name, template) in [
                ("errors", &q.errors),
                ("latency_buckets", &q.latency_buckets),
            ] {
                self.query(render(template, &labels, PREFLIGHT_RANGE), at)
                    .await
                    .map_err(|e| misconfigured(name, who, &e))?;
            }
            let promql = render(&q.requests, &labels, PREFLIGHT_RANGE);
            let series = self
                .query(promql.clone(), at)
                .await
                .map_err(|e| misconfigured("requests", who, &e))?;
            if !series.is_empty() {
                continue;
            }
            let missing = format!(
                "the requests query for the {who} version returned no series from {} over the last 5 minutes: `{promql}` (labels: version `{}`, server `{}`, backend `{}`)",
                self.config.url, labels.version, labels.server, labels.backend
            );
            if canary && self.config.preset != Preset::Haproxy {
                warnings.push(format!("{missing}; it should appear once the canary gets traffic, and until it does the canary is judged NoData"));
            } else {
                return Err(MetricsError::Misconfigured(format!(
                    "{missing}. Check [services.NAME.prometheus] (stable_version/canary_version, backend, servers, or the query templates) against what Prometheus scrapes"
                )));
            }
        }
        warnings.extend(self.preflight_catalogue(at).await);
        Ok(warnings)
    }

    /// Both versions over `[from, to)` on the rollout clock, queried at `to`.
    async fn window(&self, from: f64, to: f64) -> Result<MetricsWindow, MetricsError> {
        if !(from.is_finite() && to.is_finite()) || to <= from {
            return Err(MetricsError::Query(format!("empty window [{from}, {to})")));
        }
        let at = self.clock.to_unix(to);
        let range = to - from;
        let (stable, canary) = tokio::try_join!(
            self.version(false, range, at),
            self.version(true, range, at),
        )?;
        Ok(MetricsWindow {
            start: from,
            end: to,
            stable,
            canary,
        })
    }

    fn catalogue(&self) -> Vec<CatalogueEntry> {
        catalogue::entries(&self.config.catalogue)
    }

    /// Each chosen metric's `total` and `bad` templates for both versions,
    /// queried at `to`; a name the catalogue does not list is missing.
    async fn extra(
        &self,
        names: &[String],
        from: f64,
        to: f64,
    ) -> Result<Vec<ExtraWindow>, MetricsError> {
        if !(from.is_finite() && to.is_finite()) || to <= from {
            return Err(MetricsError::Query(format!("empty window [{from}, {to})")));
        }
        let (at, range) = (self.clock.to_unix(to), to - from);
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let Some(metric) = self.config.catalogue.get(name) else {
                out.push(ExtraWindow::missing(name));
                continue;
            };
            let (stable, canary) = tokio::try_join!(
                self.ratio(metric, false, range, at),
                self.ratio(metric, true, range, at),
            )?;
            out.push(ExtraWindow {
                name: name.clone(),
                stable,
                canary,
            });
        }
        Ok(out)
    }
}

/// The span the preflight looks back over, seconds.
const PREFLIGHT_RANGE: f64 = 300.0;

fn misconfigured(query: &str, version: &str, e: &MetricsError) -> MetricsError {
    match e {
        // The inner text, not `e`'s Display: that already says "unreachable".
        MetricsError::Unreachable(what) => MetricsError::Unreachable(format!(
            "{what} (checking the {query} query for the {version} version)"
        )),
        _ => MetricsError::Misconfigured(format!(
            "the {query} query for the {version} version fails: {e}; fix it in [services.NAME.prometheus]"
        )),
    }
}

#[cfg(test)]
mod tests;
