//! [`ReplicaRouter`]: no traffic router, one Service selecting the pods of
//! both Deployments, so the canary's share is its share of the Ready pods.
//!
//! The share is read from what the Deployment controller reports Ready
//! (`readyReplicas` of each), never from the replica counts asked for: a
//! canary pod that is not Ready gets no traffic from the Service. The total
//! (stable + canary `spec.replicas`) is kept: `k` canary pods of `total` is
//! `ceil(100·k / total)` percent ([`Granularity::Replicas`]). A weight is
//! served as `floor(w·total / 100)` pods, never rounded up. On the way up the
//! canary is scaled and Ready before the stable shrinks (capacity never dips);
//! on the way down the canary shrinks first (less of the new version at once).

use std::sync::OnceLock;

use async_trait::async_trait;
use serde_json::Value;

use super::super::kube_client::KubeClient;
use super::super::{Granularity, PromotionPlan, Staging, TrafficError, TrafficRouter};
use super::deployments::{configured_container, spec_replicas, Deployments};
use super::rollout_status::Progress;
use super::{share, staging, KubernetesConfig};

/// Seconds a scale takes to show in the Ready counts (the controller acts
/// after the API accepted it; a rollback does not wait for it).
const SETTLE_SECONDS: f64 = 10.0;

/// A [`TrafficRouter`] that splits by Ready pods (no traffic router).
#[derive(Debug, Clone)]
pub struct ReplicaRouter {
    deployments: Deployments,
    /// The total as first read (see [`ReplicaRouter::total`]).
    total: OnceLock<u32>,
}

/// The two Deployments' counts.
#[derive(Debug, Clone, Copy)]
struct Counts {
    canary_spec: u32,
    stable_spec: u32,
    canary_ready: u32,
    stable_ready: u32,
}

impl Counts {
    fn total(self) -> u32 {
        self.canary_spec + self.stable_spec
    }
}

impl ReplicaRouter {
    pub fn new(config: KubernetesConfig, kube: KubeClient) -> Result<Self, TrafficError> {
        config.validate()?;
        Ok(Self {
            deployments: Deployments { kube, config },
            total: OnceLock::new(),
        })
    }

    /// The pods to split: stable + canary `spec.replicas` as first read by this
    /// router (the rollout's start), so a change that stopped halfway (canary
    /// scaled, stable not) cannot make the total drift for the next change or
    /// the rollback. A new process reads it afresh.
    fn total(&self, counts: Counts) -> u32 {
        if let Some(total) = self.total.get() {
            return *total;
        }
        let total = counts.total();
        if total > 0 {
            let _ = self.total.set(total);
        }
        total
    }

    fn config(&self) -> &KubernetesConfig {
        &self.deployments.config
    }

    async fn counts(&self) -> Result<Counts, TrafficError> {
        let d = &self.deployments;
        let canary = d.get(&d.config.canary_deployment).await?;
        let stable = d.get(&d.config.stable_deployment).await?;
        Ok(Counts {
            canary_spec: spec_replicas(&canary),
            stable_spec: spec_replicas(&stable),
            canary_ready: Progress::of(&canary).ready,
            stable_ready: Progress::of(&stable).ready,
        })
    }

    /// `k` canary pods and `total − k` stable pods, each Ready before the next step.
    async fn split(&self, weight: u8) -> Result<(), TrafficError> {
        if weight > 100 {
            return Err(TrafficError::Rejected(format!(
                "canary weight must be 0-100, got {weight}"
            )));
        }
        let counts = self.counts().await?;
        let total = self.total(counts);
        if total == 0 {
            return Err(TrafficError::Misconfigured(format!(
                "deployments {} and {} are both at 0 replicas: scale the stable one up first",
                self.config().stable_deployment,
                self.config().canary_deployment
            )));
        }
        let k = u32::from(weight) * total / 100;
        if weight > 0 && k == 0 {
            return Err(TrafficError::Rejected(format!(
                "{weight}% of {total} replicas is less than one pod (one pod is {}%); the guard should have refused it ({})",
                share(1, u64::from(total) - 1),
                Granularity::Replicas { total }.describe()
            )));
        }
        let d = &self.deployments;
        let (canary, stable) = (&d.config.canary_deployment, &d.config.stable_deployment);
        if k >= counts.canary_spec {
            // Up: canary pods Ready first, then the stable shrinks.
            if k > counts.canary_spec || counts.canary_ready < k {
                d.scale(canary, k).await?;
                if let Err(e) = d.await_settled(canary, k).await {
                    let error = d.never_ready(canary, k, e);
                    if let Err(undo) = d.scale(canary, counts.canary_spec).await {
                        tracing::warn!(error = %undo, "could not scale the canary back");
                    }
                    return Err(error);
                }
            }
            if let Err(e) = d.scale(stable, total - k).await {
                // Keep the total: the canary gives back the pods it just got.
                if let Err(undo) = d.scale(canary, counts.canary_spec).await {
                    tracing::warn!(error = %undo, "could not scale the canary back");
                }
                return Err(e);
            }
            d.await_settled(stable, total - k)
                .await
                .map_err(|e| d.never_ready(stable, total - k, e))
        } else {
            // Down: the canary shrinks first, then the stable takes its pods back.
            d.scale(canary, k).await?;
            d.await_settled(canary, k)
                .await
                .map_err(|e| d.never_ready(canary, k, e))?;
            d.scale(stable, total - k).await?;
            d.await_settled(stable, total - k)
                .await
                .map_err(|e| d.never_ready(stable, total - k, e))
        }
    }

    /// Canary to 0 and the stable back to the total, without waiting.
    async fn empty_canary(&self) -> Result<(), TrafficError> {
        let counts = self.counts().await?;
        let d = &self.deployments;
        d.scale(&d.config.canary_deployment, 0).await?;
        d.scale(&d.config.stable_deployment, self.total(counts))
            .await
    }
}

#[async_trait]
impl TrafficRouter for ReplicaRouter {
    fn describe(&self) -> String {
        let c = self.config();
        format!(
            "Deployments {ns}/{} and {ns}/{} (share of Ready pods) at {}",
            c.stable_deployment,
            c.canary_deployment,
            self.deployments.kube.server(),
            ns = c.namespace
        )
    }

    fn manual_rollback(&self) -> String {
        let c = self.config();
        format!(
            "kubectl -n {ns} scale deployment/{} --replicas=0, then kubectl -n {ns} scale deployment/{} --replicas=<the total it had>",
            c.canary_deployment,
            c.stable_deployment,
            ns = c.namespace
        )
    }

    fn settle_seconds(&self) -> f64 {
        SETTLE_SECONDS
    }

    async fn preflight(&self) -> Result<(), TrafficError> {
        let d = &self.deployments;
        let c = self.config();
        let canary = d
            .get_configured(&c.canary_deployment, "canary_deployment")
            .await?;
        let container = configured_container(&canary, c.container.as_deref())?;
        let stable = d
            .get_configured(&c.stable_deployment, "stable_deployment")
            .await?;
        configured_container(&stable, Some(&container.name))?;
        if spec_replicas(&stable) + spec_replicas(&canary) == 0 {
            return Err(TrafficError::Misconfigured(format!(
                "deployments {} and {} are both at 0 replicas: replica mode splits the pods the two have; scale the stable one up",
                c.stable_deployment, c.canary_deployment
            )));
        }
        Ok(())
    }

    async fn granularity(&self) -> Result<Granularity, TrafficError> {
        let counts = self.counts().await?;
        Ok(Granularity::Replicas {
            total: self.total(counts),
        })
    }

    async fn canary_weight(&self) -> Result<u8, TrafficError> {
        let c = self.counts().await?;
        Ok(share(u64::from(c.canary_ready), u64::from(c.stable_ready)))
    }

    async fn set_canary_weight(&self, weight: u8) -> Result<(), TrafficError> {
        self.split(weight).await
    }

    async fn plan_promotion(&self) -> Result<PromotionPlan, TrafficError> {
        staging::plan(&self.deployments).await
    }

    async fn stage_promotion(&self) -> Result<(), TrafficError> {
        staging::stage(&self.deployments).await
    }

    async fn staging(&self) -> Result<Staging, TrafficError> {
        staging::staging(&self.deployments).await
    }

    async fn undo_promotion(&self, undo: &Value) -> Result<(), TrafficError> {
        staging::undo(&self.deployments, undo).await
    }

    /// The stable (already on the new image) takes every pod back and is
    /// Ready before the canary goes to 0, so capacity never dips.
    async fn promote(&self) -> Result<(), TrafficError> {
        staging::require_staged(&self.deployments).await?;
        let total = self.total(self.counts().await?);
        let d = &self.deployments;
        let (canary, stable) = (&d.config.canary_deployment, &d.config.stable_deployment);
        d.scale(stable, total).await?;
        d.await_settled(stable, total)
            .await
            .map_err(|e| d.never_ready(stable, total, e))?;
        d.scale(canary, 0).await?;
        d.await_settled(canary, 0)
            .await
            .map_err(|e| d.never_ready(canary, 0, e))
    }

    async fn promoted(&self) -> Result<bool, TrafficError> {
        let counts = self.counts().await?;
        Ok(counts.canary_spec == 0
            && counts.canary_ready == 0
            && staging::stable_promoted(&self.deployments).await?)
    }

    async fn rollback(&self) -> Result<(), TrafficError> {
        self.empty_canary().await
    }
}
