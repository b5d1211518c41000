//! Argo Rollouts as the traffic splitter: an `argoproj.io/v1alpha1` `Rollout`
//! whose canary steps are `setWeight` each followed by an indefinite `pause: {}`.
//!
//! The Rollout controller owns the weights; we only move it along its steps,
//! the way `kubectl argo rollouts` does, with JSON merge patches on the
//! `/status` subresource:
//! - `set_canary_weight(w)` promotes one step (`status.pauseConditions: null`)
//!   when the rollout is paused and its next `setWeight` is `w`. Any other `w`
//!   is [`TrafficError::Rejected`] naming the steps' weights: Argo can only go
//!   forward along its steps. If the rollout is already on its way to `w` (not
//!   paused yet), nothing is sent, so a repeated call cannot skip a step.
//! - `canary_weight` is `status.canary.weights.canary.weight` when the rollout
//!   has traffic routing, else the last `setWeight` at or before
//!   `status.currentStepIndex` (100 past the last step, 0 when aborted).
//! - `promote` is `status.promoteFull: true`; `rollback` is `status.abort: true`.
//!
//! Changes are accepted by the API server at once and carried out by the
//! controller shortly after; `canary_weight` reports the controller's progress.

use std::path::PathBuf;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};

use super::kube_client::{validate_name, KubeClient, PatchKind};
use super::{TrafficError, TrafficRouter};

/// `[services.NAME.argo]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ArgoConfig {
    /// A kubeconfig file; unset: in-cluster, else `$KUBECONFIG` / `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: String,
    pub rollout: String,
    pub timeout_ms: u64,
    pub max_retries: u32,
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
        }
    }
}

impl ArgoConfig {
    pub fn validate(&self) -> Result<(), String> {
        validate_name("argo.namespace", &self.namespace)?;
        validate_name("argo.rollout", &self.rollout)?;
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
    client: KubeClient,
    config: ArgoConfig,
}

/// Where a Rollout stands, read from its spec and status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutState {
    /// `setWeight` of every step, `None` for other steps.
    pub steps: Vec<Option<u8>>,
    pub current_step: usize,
    pub paused: bool,
    pub aborted: bool,
    /// The controller's reported weight, if it routes traffic.
    pub reported_weight: Option<u8>,
}

impl RolloutState {
    pub fn read(rollout: &Value) -> Self {
        let steps = rollout
            .pointer("/spec/strategy/canary/steps")
            .and_then(Value::as_array)
            .map(|s| {
                s.iter()
                    .map(|step| {
                        step.get("setWeight")
                            .and_then(Value::as_u64)
                            .map(|w| w.min(100) as u8)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let status = rollout.get("status").cloned().unwrap_or(Value::Null);
        let pause_conditions = status
            .get("pauseConditions")
            .and_then(Value::as_array)
            .is_some_and(|p| !p.is_empty());
        let spec_paused = rollout.pointer("/spec/paused").and_then(Value::as_bool) == Some(true);
        Self {
            steps,
            current_step: status
                .get("currentStepIndex")
                .and_then(Value::as_u64)
                .unwrap_or(0) as usize,
            paused: pause_conditions || spec_paused,
            aborted: status.get("abort").and_then(Value::as_bool) == Some(true),
            reported_weight: status
                .pointer("/canary/weights/canary/weight")
                .and_then(Value::as_u64)
                .map(|w| w.min(100) as u8),
        }
    }

    /// The canary's share now.
    pub fn weight(&self) -> u8 {
        if self.aborted {
            return 0;
        }
        if let Some(w) = self.reported_weight {
            return w;
        }
        self.weight_at(self.current_step)
    }

    /// The weight once step `index` has run: the last `setWeight` up to it.
    fn weight_at(&self, index: usize) -> u8 {
        if index >= self.steps.len() {
            return 100;
        }
        self.steps[..=index]
            .iter()
            .rev()
            .find_map(|w| *w)
            .unwrap_or(0)
    }

    /// The weight the rollout reaches when it next pauses after the current step.
    pub fn next_weight(&self) -> u8 {
        let mut i = self.current_step + 1;
        while i < self.steps.len() && self.steps[i].is_none() {
            i += 1;
        }
        self.weight_at(i)
    }

    fn step_weights(&self) -> String {
        let ws: Vec<String> = self
            .steps
            .iter()
            .flatten()
            .map(|w| format!("{w}%"))
            .collect();
        format!("[{}]", ws.join(", "))
    }
}

impl ArgoRolloutRouter {
    pub fn new(config: ArgoConfig, client: KubeClient) -> Result<Self, TrafficError> {
        config.validate().map_err(TrafficError::Rejected)?;
        Ok(Self { client, config })
    }

    fn path(&self) -> String {
        format!(
            "/apis/argoproj.io/v1alpha1/namespaces/{}/rollouts/{}",
            self.config.namespace, self.config.rollout
        )
    }

    pub async fn state(&self) -> Result<RolloutState, TrafficError> {
        Ok(RolloutState::read(&self.client.get(&self.path()).await?))
    }

    async fn patch_status(&self, status: Value) -> Result<(), TrafficError> {
        let path = format!("{}/status", self.path());
        self.client
            .patch(&path, &json!({ "status": status }), PatchKind::Merge)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl TrafficRouter for ArgoRolloutRouter {
    fn describe(&self) -> String {
        format!(
            "Argo Rollout {}/{}",
            self.config.namespace, self.config.rollout
        )
    }

    fn manual_rollback(&self) -> String {
        format!(
            "kubectl argo rollouts abort {} -n {}",
            self.config.rollout, self.config.namespace
        )
    }

    async fn preflight(&self) -> Result<(), TrafficError> {
        self.state().await.map(drop)
    }

    async fn promoted(&self) -> Result<bool, TrafficError> {
        Ok(self.state().await?.weight() == 100)
    }

    async fn canary_weight(&self) -> Result<u8, TrafficError> {
        Ok(self.state().await?.weight())
    }

    async fn set_canary_weight(&self, weight: u8) -> Result<(), TrafficError> {
        let state = self.state().await?;
        let current = state.weight();
        if weight == current {
            return Ok(());
        }
        let next = state.next_weight();
        if state.aborted || weight < current || weight != next {
            return Err(TrafficError::Rejected(format!(
                "rollout {} is at {current}%{} and its next step is {next}%; Argo Rollouts only moves forward along its steps {}, so {weight}% cannot be set",
                self.config.rollout,
                if state.aborted { " (aborted)" } else { "" },
                state.step_weights()
            )));
        }
        if !state.paused {
            return Ok(()); // already on its way to `next`: promoting again would skip a step
        }
        if state.current_step >= state.steps.len() {
            return Ok(());
        }
        self.patch_status(json!({ "pauseConditions": null })).await
    }

    async fn promote(&self) -> Result<(), TrafficError> {
        self.patch_status(json!({ "promoteFull": true })).await
    }

    async fn rollback(&self) -> Result<(), TrafficError> {
        self.patch_status(json!({ "abort": true })).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(index: u64, weights: Value) -> Value {
        json!({
            "spec": {"strategy": {"canary": {"steps": [
                {"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}
            ]}}},
            "status": {"currentStepIndex": index, "pauseConditions": [{"reason": "CanaryPauseStep"}], "canary": weights}
        })
    }

    #[test]
    fn weights_follow_the_steps_or_the_controllers_report() {
        let table = [
            (0, json!({}), 20, 50),
            (1, json!({}), 20, 50),
            (3, json!({}), 50, 100),
            (4, json!({}), 100, 100),
            (1, json!({"weights": {"canary": {"weight": 7}}}), 7, 50),
        ];
        for (index, weights, now, next) in table {
            let s = RolloutState::read(&rollout(index, weights));
            assert_eq!((s.weight(), s.next_weight()), (now, next), "step {index}");
        }
    }
}
