//! Moving traffic between the stable and the canary version. One trait, one file per backend.
//!
//! Only `tools::execute` calls the mutating methods, and it only runs calls the
//! guard allowed; adapters just do what they are told, idempotently.

pub mod argo;
pub mod dry_run;
pub mod haproxy;
pub mod kube_client;
pub mod kubernetes;
pub mod sim;

use async_trait::async_trait;

/// Why a traffic change failed.
#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    #[error("traffic backend unreachable: {0}")]
    Unreachable(String),
    #[error("traffic change rejected: {0}")]
    Rejected(String),
    #[error("traffic change did not take effect: wanted {wanted}%, found {found}%")]
    NotApplied { wanted: u8, found: u8 },
}

/// A router that splits traffic between stable and canary.
#[async_trait]
pub trait TrafficRouter: Send + Sync {
    /// The canary's current share of traffic, in percent.
    async fn canary_weight(&self) -> Result<u8, TrafficError>;
    /// Sets the canary's share (0–100). Idempotent.
    async fn set_canary_weight(&self, weight: u8) -> Result<(), TrafficError>;
    /// Makes the new version the stable one with all traffic. Idempotent.
    async fn promote(&self) -> Result<(), TrafficError>;
    /// Sends all traffic back to the stable version. Idempotent and fast.
    async fn rollback(&self) -> Result<(), TrafficError>;
}
