//! Moving traffic between the stable and the canary version. One trait, one file per backend.
//!
//! Only the rollout loop calls the mutating methods, and only for calls the
//! guard allowed (rollback aside, which is always allowed). Adapters do what
//! they are told, idempotently, and **report what the target serves**, never
//! what was asked: the loop reads every change back and rebuilds its state from
//! the answer (a target that rounds, lags or half-applies shows here).
//!
//! A router also states what it can serve ([`Granularity`]), so the guard never
//! allows a weight the target would have to round up, and how a promotion
//! proceeds on it ([`PromotionPlan`]): one traffic switch, or a staged change
//! (Kubernetes rolls the stable Deployment to the new image) that the loop
//! waits for with the judge still watching, and can undo.

pub mod argo;
pub mod dry_run;
mod granularity;
pub mod haproxy;
pub mod kube_client;
pub mod kubernetes;

use async_trait::async_trait;
use serde_json::Value;

pub use granularity::Granularity;

/// Where traffic moves and metrics come from.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    clap::ValueEnum,
    serde::Deserialize,
    serde::Serialize,
    schemars::JsonSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    /// The simulated world (no cluster needed).
    Sim,
    /// HAProxy's runtime API (`[services.NAME.haproxy]`), judged on Prometheus.
    Haproxy,
    /// A Gateway API HTTPRoute or replica counts (`[services.NAME.kubernetes]`), judged on Prometheus.
    Kubernetes,
    /// An Argo Rollout's steps (`[services.NAME.argo]`), judged on Prometheus.
    Argo,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Sim => "sim",
            TargetKind::Haproxy => "haproxy",
            TargetKind::Kubernetes => "kubernetes",
            TargetKind::Argo => "argo",
        }
    }
}

/// Why a traffic change failed.
#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    #[error("traffic backend unreachable: {0}")]
    Unreachable(String),
    #[error("traffic change rejected: {0}")]
    Rejected(String),
    #[error("traffic change did not take effect: wanted {wanted}%, found {found}%")]
    NotApplied { wanted: u8, found: u8 },
    /// The target is not what the configuration says (no such backend, server,
    /// route or Deployment; a Rollout whose steps the agent cannot drive): no
    /// retry helps, the configuration or the target must be fixed.
    #[error("traffic target misconfigured: {0}")]
    Misconfigured(String),
    /// A setting of the target's section cannot work; caught before any call.
    #[error("traffic target misconfigured: {0}")]
    Invalid(#[from] crate::error::ConfigError),
}

impl TrafficError {
    /// Whether trying again may help (a transport failure or a refusal that
    /// may pass later), as opposed to a target that is set up wrong.
    pub fn is_transient(&self) -> bool {
        !matches!(
            self,
            TrafficError::Misconfigured(_) | TrafficError::Invalid(_)
        )
    }
}

/// How a promotion proceeds on a target. Read before anything changes, so the
/// undo information is journaled with the promotion's intent (write-ahead).
#[derive(Debug, Clone, PartialEq)]
pub struct PromotionPlan {
    /// What [`TrafficRouter::undo_promotion`] needs to restore the target
    /// (e.g. the stable Deployment's image before the promotion); `Null` when
    /// there is nothing to undo beyond a rollback of traffic.
    pub undo: Value,
    /// The promotion is staged: [`TrafficRouter::stage_promotion`] changes
    /// the stable version first and [`TrafficRouter::staging`] says when it is
    /// ready for the traffic switch. The loop keeps judging while it waits.
    pub staged: bool,
    /// Longest wait for the staging, seconds (ignored when not staged).
    pub timeout_seconds: f64,
    /// In words, for operators ("stable checkout: image shop/checkout:v1 → v2").
    pub detail: String,
}

impl PromotionPlan {
    /// A promotion that is one traffic switch (HAProxy, the simulator, Argo).
    pub fn switch(detail: impl Into<String>) -> Self {
        Self {
            undo: Value::Null,
            staged: false,
            timeout_seconds: 0.0,
            detail: detail.into(),
        }
    }
}

/// Where a staged promotion stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Staging {
    /// The stable version runs the new release everywhere: traffic may switch.
    Ready,
    /// Still rolling out; the text says how far (for progress and timeouts).
    Waiting(String),
    /// It cannot finish (e.g. the image cannot be pulled); the text says why.
    Failed(String),
}

/// A router that splits traffic between stable and canary.
#[async_trait]
pub trait TrafficRouter: Send + Sync {
    /// Which target this is, in words an operator can act on
    /// ("HAProxy backend be_app (servers stable, canary) at unix:/run/haproxy/admin.sock").
    fn describe(&self) -> String;

    /// How a person sends all traffic back to stable by hand, for the message
    /// of a rollback that could not be confirmed.
    fn manual_rollback(&self) -> String;

    /// Seconds a change may take to show in [`TrafficRouter::canary_weight`]
    /// (a controller that acts after the API accepted the change). The loop
    /// polls the read-back this long before it calls a change not applied.
    fn settle_seconds(&self) -> f64 {
        0.0
    }

    /// Checks, before any traffic moves, that the target exists as configured
    /// (reachable; backend, servers, route, Deployments or Rollout present; a
    /// shape the agent can drive). [`TrafficError::Misconfigured`] says what
    /// to fix.
    async fn preflight(&self) -> Result<(), TrafficError>;

    /// The shares this target can serve now (read live where it depends on the
    /// target, e.g. its replica count or the Rollout's next step).
    async fn granularity(&self) -> Result<Granularity, TrafficError> {
        Ok(Granularity::Percent)
    }

    /// The canary's current share, in percent, as the target serves it.
    async fn canary_weight(&self) -> Result<u8, TrafficError>;

    /// Sets the canary's share (0–100). Idempotent. A router that must start
    /// canary pods first waits for them to be Ready before routing to them.
    async fn set_canary_weight(&self, weight: u8) -> Result<(), TrafficError>;

    /// How a promotion will proceed; changes nothing.
    async fn plan_promotion(&self) -> Result<PromotionPlan, TrafficError> {
        Ok(PromotionPlan::switch("all traffic to the new version"))
    }

    /// Stages a promotion whose plan says `staged` (e.g. patches the stable
    /// Deployment's image). Idempotent.
    async fn stage_promotion(&self) -> Result<(), TrafficError> {
        Ok(())
    }

    /// Where a staged promotion stands.
    async fn staging(&self) -> Result<Staging, TrafficError> {
        Ok(Staging::Ready)
    }

    /// Undoes a staged promotion with the plan's `undo` (e.g. restores the
    /// stable Deployment's image). Idempotent; a no-op when nothing was staged.
    async fn undo_promotion(&self, _undo: &Value) -> Result<(), TrafficError> {
        Ok(())
    }

    /// Makes the new version the stable one with all traffic (after a staged
    /// promotion is ready). Idempotent.
    async fn promote(&self) -> Result<(), TrafficError>;

    /// Whether the target shows the promotion complete (read back).
    async fn promoted(&self) -> Result<bool, TrafficError>;

    /// Sends all traffic back to the stable version. Idempotent and fast.
    async fn rollback(&self) -> Result<(), TrafficError>;
}
