//! Kubernetes as the traffic splitter: a canary Deployment beside the stable
//! one, and either a Gateway API `HTTPRoute` ([`GatewayRouter`]) or, with no
//! route configured, the two Deployments' ready pods ([`ReplicaRouter`]).
//!
//! **What is served.** Every share these routers report is read from the
//! cluster, never from what was asked: the route's backendRef weights, or the
//! pods the Deployment controller reports Ready. A fractional share is stated
//! rounded up (1 ready canary pod of 3 is 34 %), so a stated share is never
//! below what is served.
//!
//! **Pods before traffic.** No traffic goes to canary pods that are not Ready:
//! a canary at 0 replicas is scaled to `canary_replicas` and the router waits
//! (kube's watch, at most `ready_timeout_seconds`) for them to be Ready before
//! it touches the route; if they never are, the canary goes back to 0 and the
//! error says so. In replica mode the canary is scaled up and Ready before the
//! stable is scaled down, so capacity never dips on the way up.
//!
//! **Promotion is staged** ([`PromotionPlan::staged`](super::PromotionPlan)):
//! the stable Deployment takes the canary's image (a JSON patch guarded by a
//! `test` of the container's name) and rolls it out under its own strategy
//! while the canary keeps its share and the loop keeps judging; the previous
//! image is the plan's `undo`, journaled before anything changes, so a later
//! process can restore it from the journal alone. Only when the stable runs the
//! new image everywhere does `promote` send it all traffic and empty the canary.
//! Rollback never waits: route to 0 (or canary to 0 replicas) and return; the
//! loop reads the share back until it is 0.

mod deployments;
mod gateway;
mod replicas;
mod rollout_status;
mod staging;

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use super::kube_client::{validate_name, KubeClient};
use super::{TrafficError, TrafficRouter};
use crate::error::ConfigError;

pub use gateway::GatewayRouter;
pub use replicas::ReplicaRouter;
pub use staging::ImageUndo;

/// Conflicts (409) retried per weight change.
pub const MAX_CONFLICTS: u32 = 5;

/// `[services.NAME.kubernetes]`.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesConfig {
    /// A kubeconfig file; unset: in-cluster, else `$KUBECONFIG` / `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context; unset: its current context.
    pub context: Option<String>,
    /// The namespace of both Deployments and the HTTPRoute.
    pub namespace: String,
    /// The Deployment serving the stable version (promotion copies the canary's image into it).
    pub stable_deployment: String,
    /// The Deployment serving the canary version.
    pub canary_deployment: String,
    /// The container whose image promotion copies; unset: the first.
    pub container: Option<String>,
    /// The HTTPRoute splitting traffic; unset: replica mode.
    pub httproute: Option<String>,
    /// Which rule of the HTTPRoute holds the two backendRefs.
    pub rule_index: usize,
    /// backendRef names (Services) in the rule; unset: the Deployments' names.
    pub stable_backend: Option<String>,
    /// The canary's backendRef name; unset: `canary_deployment`.
    pub canary_backend: Option<String>,
    /// Replicas a canary at 0 is scaled to before it first gets traffic.
    pub canary_replicas: u32,
    /// Per request.
    pub timeout_ms: u64,
    /// Retries after a transport failure, 429 or 5xx.
    pub max_retries: u32,
    /// Longest wait for the stable Deployment to roll out the canary's image
    /// (the staged promotion's timeout).
    pub rollout_timeout_seconds: u64,
    /// Longest wait for canary (or, in replica mode, stable) pods to be Ready
    /// after a scale, before traffic is moved onto them.
    pub ready_timeout_seconds: u64,
}

impl Default for KubernetesConfig {
    fn default() -> Self {
        Self {
            kubeconfig: None,
            context: None,
            namespace: "default".into(),
            stable_deployment: "app".into(),
            canary_deployment: "app-canary".into(),
            container: None,
            httproute: None,
            rule_index: 0,
            stable_backend: None,
            canary_backend: None,
            canary_replicas: 1,
            timeout_ms: 5_000,
            max_retries: 2,
            rollout_timeout_seconds: 600,
            ready_timeout_seconds: 300,
        }
    }
}

impl KubernetesConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_name("kubernetes.namespace", &self.namespace)?;
        validate_name("kubernetes.stable_deployment", &self.stable_deployment)?;
        validate_name("kubernetes.canary_deployment", &self.canary_deployment)?;
        for (field, value) in [
            ("httproute", &self.httproute),
            ("stable_backend", &self.stable_backend),
            ("canary_backend", &self.canary_backend),
        ] {
            if let Some(v) = value {
                validate_name(&format!("kubernetes.{field}"), v)?;
            }
        }
        if self.stable_deployment == self.canary_deployment
            || self.stable_backend() == self.canary_backend()
        {
            return Err(ConfigError::new(
                "kubernetes.canary_deployment",
                "must differ from stable_deployment, and canary_backend from stable_backend: each version needs its own",
            ));
        }
        for (field, value) in [
            ("rollout_timeout_seconds", self.rollout_timeout_seconds),
            ("ready_timeout_seconds", self.ready_timeout_seconds),
        ] {
            if !(1..=3600).contains(&value) {
                return Err(ConfigError::new(
                    format!("kubernetes.{field}"),
                    format!("must be 1-3600, got {value}"),
                ));
            }
        }
        if self.canary_replicas == 0 {
            return Err(ConfigError::new(
                "kubernetes.canary_replicas",
                "must be at least 1",
            ));
        }
        super::kube_client::check_limits("kubernetes", self.timeout_ms, self.max_retries)
    }

    pub fn stable_backend(&self) -> &str {
        self.stable_backend
            .as_deref()
            .unwrap_or(&self.stable_deployment)
    }

    pub fn canary_backend(&self) -> &str {
        self.canary_backend
            .as_deref()
            .unwrap_or(&self.canary_deployment)
    }

    /// The API client these settings name.
    pub fn client(&self) -> Result<KubeClient, TrafficError> {
        KubeClient::from_settings(
            self.kubeconfig.as_deref(),
            self.context.as_deref(),
            self.timeout_ms,
            self.max_retries,
        )
    }
}

/// The canary's share in percent of `canary + stable`, rounded up (0 when both are 0).
pub fn share(canary: u64, stable: u64) -> u8 {
    let total = canary + stable;
    if total == 0 {
        return 0;
    }
    (canary * 100).div_ceil(total).min(100) as u8
}

/// The router the settings name: Gateway mode with an `httproute`, else replicas.
pub fn router(config: KubernetesConfig) -> Result<(Arc<dyn TrafficRouter>, String), TrafficError> {
    config.validate()?;
    let client = config.client()?;
    let label = format!("kubernetes:{}/{}", client.server(), config.namespace);
    let router: Arc<dyn TrafficRouter> = if config.httproute.is_some() {
        Arc::new(GatewayRouter::new(config, client)?)
    } else {
        Arc::new(ReplicaRouter::new(config, client)?)
    };
    Ok((router, label))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_are_rounded_up_never_down() {
        for (canary, stable, stated) in [(0, 0, 0), (1, 3, 25), (1, 2, 34), (5, 95, 5), (1, 0, 100)]
        {
            assert_eq!(share(canary, stable), stated, "{canary}/{stable}");
        }
    }

    #[test]
    fn timeouts_are_bounded() {
        let bad = KubernetesConfig {
            ready_timeout_seconds: 0,
            ..KubernetesConfig::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("ready_timeout_seconds"));
        assert!(KubernetesConfig::default().validate().is_ok());
    }
}
