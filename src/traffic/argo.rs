//! Argo Rollouts as the traffic splitter: an `argoproj.io/v1alpha1` `Rollout`
//! whose canary steps start with `pause: {}` and follow every `setWeight` with
//! another `pause: {}` (checked by [`TrafficRouter::preflight`]).
//!
//! The Rollout controller owns the weights; the agent only moves it along its
//! steps, the way `kubectl argo rollouts` does, with JSON merge patches on the
//! `/status` subresource:
//! - `set_canary_weight(w)` promotes one step (`status.pauseConditions: null`)
//!   when the Rollout is paused and its next `setWeight` step serves `w`. Any
//!   other `w` is [`TrafficError::Rejected`] with the steps' served shares
//!   (the guard sees them as [`Granularity::Steps`] and should not ask). On its
//!   way to `w` already (not paused), nothing is sent, so a repeated call
//!   cannot skip a step.
//! - `canary_weight` is what the controller reports: `status.canary.weights`
//!   with traffic routing, else the canary's share of the pods in the status
//!   (after `abort`, until the controller has scaled the canary down, that is
//!   still above 0 — the loop's read-back waits for it).
//! - `promote` is `status.promoteFull: true`; `rollback` is `status.abort: true`.
//!
//! The API accepts a patch at once and the controller acts on it shortly after,
//! so a change shows in `canary_weight` only after [`ArgoConfig::settle_seconds`].

mod state;

use std::path::PathBuf;

use async_trait::async_trait;
use kube::api::{ApiResource, DynamicObject, Patch, PatchParams};
use kube::core::GroupVersionKind;
use kube::Api;
use serde::Deserialize;
use serde_json::{json, Value};

use super::kube_client::{validate_name, KubeClient, KubeError, Op};
use super::{Granularity, PromotionPlan, TrafficError, TrafficRouter};
use crate::error::ConfigError;

pub use state::{ArgoRolloutState, Step};

const GROUP: &str = "argoproj.io";

/// `[services.NAME.argo]`.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ArgoConfig {
    /// A kubeconfig file; unset: in-cluster, else `$KUBECONFIG` / `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context; unset: its current context.
    pub context: Option<String>,
    /// The namespace of the Rollout.
    pub namespace: String,
    /// The Argo Rollout (`kind: Rollout`) whose steps deploy-agent drives.
    pub rollout: String,
    /// Per request.
    pub timeout_ms: u64,
    /// Retries after a transport failure, 429 or 5xx.
    pub max_retries: u32,
    /// How long the controller may take to carry out a step, an abort or a
    /// promotion after the API accepted it (the loop's read-back waits this long).
    pub settle_seconds: u64,
}

impl Default for ArgoConfig {
    fn default() -> Self {
        Self {
            kubeconfig: None,
            context: None,
            namespace: "default".into(),
            rollout: "app".into(),
            timeout_ms: 5_000,
            max_retries: 2,
            settle_seconds: 30,
        }
    }
}

impl ArgoConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_name("argo.namespace", &self.namespace)?;
        validate_name("argo.rollout", &self.rollout)?;
        if !(1..=600).contains(&self.settle_seconds) {
            return Err(ConfigError::new(
                "argo.settle_seconds",
                format!("must be 1-600, got {}", self.settle_seconds),
            ));
        }
        super::kube_client::check_limits("argo", self.timeout_ms, self.max_retries)
    }

    pub fn client(&self) -> Result<KubeClient, TrafficError> {
        KubeClient::from_settings(
            self.kubeconfig.as_deref(),
            self.context.as_deref(),
            self.timeout_ms,
            self.max_retries,
        )
    }
}

/// A [`TrafficRouter`] over one Argo Rollout.
#[derive(Debug, Clone)]
pub struct ArgoRolloutRouter {
    kube: KubeClient,
    config: ArgoConfig,
    resource: ApiResource,
}

impl ArgoRolloutRouter {
    pub fn new(config: ArgoConfig, kube: KubeClient) -> Result<Self, TrafficError> {
        config.validate()?;
        let gvk = GroupVersionKind::gvk(GROUP, "v1alpha1", "Rollout");
        Ok(Self {
            kube,
            config,
            resource: ApiResource::from_gvk_with_plural(&gvk, "rollouts"),
        })
    }

    fn op(&self, verb: &'static str, resource: &'static str) -> Op {
        Op::new(
            verb,
            GROUP,
            resource,
            &self.config.namespace,
            &self.config.rollout,
        )
    }

    fn api(&self, client: kube::Client) -> Api<DynamicObject> {
        Api::namespaced_with(client, &self.config.namespace, &self.resource)
    }

    async fn fetch(&self) -> Result<DynamicObject, KubeError> {
        let name = self.config.rollout.as_str();
        self.kube
            .call(&self.op("get", "rollouts"), |c| {
                let api = self.api(c);
                async move { api.get(name).await }
            })
            .await
    }

    /// The Rollout as JSON.
    pub async fn rollout(&self) -> Result<Value, TrafficError> {
        self.json(self.fetch().await?)
    }

    fn json(&self, object: DynamicObject) -> Result<Value, TrafficError> {
        serde_json::to_value(object).map_err(|e| {
            TrafficError::Rejected(format!("reading rollout {}: {e}", self.config.rollout))
        })
    }

    pub async fn state(&self) -> Result<ArgoRolloutState, TrafficError> {
        Ok(ArgoRolloutState::read(&self.rollout().await?))
    }

    async fn patch_status(&self, status: Value) -> Result<(), TrafficError> {
        let name = self.config.rollout.as_str();
        let patch = Patch::Merge(json!({ "status": status }));
        self.kube
            .call(&self.op("patch", "rollouts/status"), |c| {
                let api = self.api(c);
                let patch = &patch;
                async move { api.patch_status(name, &PatchParams::default(), patch).await }
            })
            .await?;
        Ok(())
    }

    fn misconfigured(&self, why: &str) -> TrafficError {
        TrafficError::Misconfigured(format!(
            "argo rollout {}/{}: {why}",
            self.config.namespace, self.config.rollout
        ))
    }

    fn refused(&self, state: &ArgoRolloutState, current: u8, weight: u8) -> TrafficError {
        let steps: Vec<String> = state
            .step_shares()
            .iter()
            .map(|s| format!("{s}%"))
            .collect();
        let next = match state.target_index() {
            Some(i) => format!("its next step serves {}%", state.served_at(i)),
            None => "no setWeight step is left (promote to finish)".into(),
        };
        TrafficError::Rejected(format!(
            "rollout {} serves {current}% and {next}; Argo Rollouts only moves forward one step at a time along its steps [{}], so {weight}% cannot be set",
            self.config.rollout,
            steps.join(", ")
        ))
    }
}

#[async_trait]
impl TrafficRouter for ArgoRolloutRouter {
    fn describe(&self) -> String {
        format!(
            "Argo Rollout {}/{} at {}",
            self.config.namespace,
            self.config.rollout,
            self.kube.server()
        )
    }

    fn manual_rollback(&self) -> String {
        format!(
            "kubectl argo rollouts abort {} -n {}",
            self.config.rollout, self.config.namespace
        )
    }

    fn settle_seconds(&self) -> f64 {
        self.config.settle_seconds as f64
    }

    async fn preflight(&self) -> Result<(), TrafficError> {
        let object = self.fetch().await.map_err(|e| match e.code() {
            Some(404) => self.misconfigured(
                "not found; fix argo.rollout or argo.namespace, and check that the Argo Rollouts CRDs are installed",
            ),
            _ => e.into(),
        })?;
        let json = self.json(object)?;
        let state = ArgoRolloutState::read(&json);
        if let Some(problem) = state.steps_problem() {
            return Err(self.misconfigured(&problem));
        }
        if state.aborted {
            return Err(self.misconfigured(&format!(
                "its update was aborted; start a new one (`kubectl argo rollouts retry rollout {} -n {}`, or set a new image)",
                self.config.rollout, self.config.namespace
            )));
        }
        if !state.update_in_progress() {
            return Err(self.misconfigured(&format!(
                "no update in progress (status.stableRS = status.currentPodHash): change the image first, e.g. `kubectl argo rollouts set image {} app=IMAGE -n {}`, then run the agent while it waits at step 0",
                self.config.rollout, self.config.namespace
            )));
        }
        Ok(())
    }

    async fn granularity(&self) -> Result<Granularity, TrafficError> {
        Ok(self.state().await?.granularity())
    }

    async fn canary_weight(&self) -> Result<u8, TrafficError> {
        Ok(self.state().await?.weight())
    }

    async fn set_canary_weight(&self, weight: u8) -> Result<(), TrafficError> {
        let state = self.state().await?;
        let current = state.weight();
        if weight == 0 {
            // Only an abort brings a Rollout back to 0.
            return if state.aborted || (current == 0 && state.current_step == 0) {
                Ok(())
            } else {
                self.rollback().await
            };
        }
        if state.aborted || !state.update_in_progress() {
            return Err(TrafficError::Rejected(format!(
                "rollout {} has {}: no step can be promoted",
                self.config.rollout,
                if state.aborted {
                    "been aborted"
                } else {
                    "no update in progress"
                }
            )));
        }
        let Some(target) = state.target_index() else {
            return if weight == current {
                Ok(())
            } else {
                Err(self.refused(&state, current, weight))
            };
        };
        if weight == state.served_at(target) {
            if state.paused && state.current_step < target {
                return self.patch_status(json!({ "pauseConditions": null })).await;
            }
            return Ok(()); // already on its way: promoting again would skip a step
        }
        if weight == current && state.paused {
            return Ok(());
        }
        Err(self.refused(&state, current, weight))
    }

    async fn plan_promotion(&self) -> Result<PromotionPlan, TrafficError> {
        Ok(PromotionPlan::switch(format!(
            "argo rollout {}: promote fully (status.promoteFull)",
            self.config.rollout
        )))
    }

    async fn promote(&self) -> Result<(), TrafficError> {
        self.patch_status(json!({ "promoteFull": true })).await
    }

    async fn promoted(&self) -> Result<bool, TrafficError> {
        Ok(self.state().await?.promoted())
    }

    async fn rollback(&self) -> Result<(), TrafficError> {
        self.patch_status(json!({ "abort": true })).await
    }
}
