//! Where canary and baseline metrics come from. One trait, one file per backend.

pub mod catalogue;
pub mod prometheus;

use async_trait::async_trait;

use crate::canary::MetricsWindow;
pub use catalogue::{CatalogueEntry, ExtraWindow, RatioSample};

/// Why metrics could not be read. The loop treats every error as NoData.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("metrics backend unreachable: {0}")]
    Unreachable(String),
    #[error("metrics query failed: {0}")]
    Query(String),
    /// The queries cannot judge this service as configured (no series for a
    /// version, a query Prometheus rejects): fix the configuration.
    #[error("metrics misconfigured: {0}")]
    Misconfigured(String),
    /// A setting of `[services.NAME.prometheus]` cannot work; caught before any query.
    #[error("metrics misconfigured: {0}")]
    Invalid(#[from] crate::error::ConfigError),
}

/// A source of per-version request, error and latency metrics.
#[async_trait]
pub trait MetricsSource: Send + Sync {
    /// Checks, before any traffic moves, that the queries answer for both
    /// versions; returns warnings for what cannot be checked yet. Missing
    /// data must be found here, not mid-rollout as an endless NoData.
    async fn preflight(&self) -> Result<Vec<String>, MetricsError> {
        Ok(Vec::new())
    }

    /// Metrics for both versions over `[from, to)`, in seconds on the rollout clock.
    async fn window(&self, from: f64, to: f64) -> Result<MetricsWindow, MetricsError>;

    /// The extra metrics a planner may add to the judge (`add_metrics`):
    /// the service's allow-listed catalogue; empty when it configures none.
    fn catalogue(&self) -> Vec<CatalogueEntry> {
        Vec::new()
    }

    /// The chosen catalogue metrics over `[from, to)`, one per name, in the
    /// order asked. A backend without a catalogue answers every version
    /// missing, so a chosen metric it cannot read is NoData, never a pass.
    async fn extra(
        &self,
        names: &[String],
        _from: f64,
        _to: f64,
    ) -> Result<Vec<ExtraWindow>, MetricsError> {
        Ok(names.iter().map(|n| ExtraWindow::missing(n)).collect())
    }

    /// Consecutive windows of `step` seconds over `[from, to)`: the baseline's
    /// recent history for the judge's noise model. Backends with range queries
    /// may answer in one request; this default asks window by window.
    async fn history(
        &self,
        from: f64,
        to: f64,
        step: f64,
    ) -> Result<Vec<MetricsWindow>, MetricsError> {
        let mut windows = Vec::new();
        let mut t = from;
        while step > 0.0 && t + step <= to + 1e-9 {
            windows.push(self.window(t, t + step).await?);
            t += step;
        }
        Ok(windows)
    }
}
