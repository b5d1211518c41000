//! Where canary and baseline metrics come from. One trait, one file per backend.

pub mod sim;

use async_trait::async_trait;

use crate::canary::MetricsWindow;

/// Why metrics could not be read. The loop treats every error as NoData.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("metrics backend unreachable: {0}")]
    Unreachable(String),
    #[error("metrics query failed: {0}")]
    Query(String),
}

/// A source of per-version request, error and latency metrics.
#[async_trait]
pub trait MetricsSource: Send + Sync {
    /// Metrics for both versions over `[from, to)`, in seconds on the rollout clock.
    async fn window(&self, from: f64, to: f64) -> Result<MetricsWindow, MetricsError>;
}
