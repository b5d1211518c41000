//! [`GatewayRouter`]: the canary's share is the backendRef weights of one
//! rule of a Gateway API `HTTPRoute` (`gateway.networking.k8s.io/v1`).
//!
//! **Why replace, not server-side apply.** A rule's `backendRefs` is an atomic
//! list in the HTTPRoute schema, so an apply would have to own the whole list
//! (and the rule's matches and filters, `rules` being atomic too) and would
//! take field ownership from whoever manages the route (GitOps, Helm). A
//! read-modify-replace changes only the two weights and carries the route's
//! `resourceVersion`, so a concurrent writer makes it fail with 409 instead
//! of being overwritten; we then re-read and retry, at most
//! [`MAX_CONFLICTS`](super::MAX_CONFLICTS) times. The replace's answer is read back.

use async_trait::async_trait;
use kube::api::{ApiResource, DynamicObject, PostParams};
use kube::core::GroupVersionKind;
use kube::Api;
use serde_json::{json, Value};

use super::super::kube_client::{KubeClient, KubeError, Op};
use super::super::{Granularity, PromotionPlan, Staging, TrafficError, TrafficRouter};
use super::deployments::{configured_container, spec_replicas, Deployments};
use super::rollout_status::Progress;
use super::{share, staging, KubernetesConfig, MAX_CONFLICTS};

const GROUP: &str = "gateway.networking.k8s.io";

/// A [`TrafficRouter`] over a Gateway API HTTPRoute's backendRef weights.
#[derive(Debug, Clone)]
pub struct GatewayRouter {
    deployments: Deployments,
    route: String,
    resource: ApiResource,
}

impl GatewayRouter {
    pub fn new(config: KubernetesConfig, kube: KubeClient) -> Result<Self, TrafficError> {
        config.validate()?;
        let route = config
            .httproute
            .clone()
            .ok_or_else(|| TrafficError::Misconfigured("kubernetes.httproute is not set".into()))?;
        let gvk = GroupVersionKind::gvk(GROUP, "v1", "HTTPRoute");
        Ok(Self {
            deployments: Deployments { kube, config },
            route,
            // The plural is stated, not guessed from the kind.
            resource: ApiResource::from_gvk_with_plural(&gvk, "httproutes"),
        })
    }

    fn config(&self) -> &KubernetesConfig {
        &self.deployments.config
    }

    fn op(&self, verb: &'static str) -> Op {
        Op::new(
            verb,
            GROUP,
            "httproutes",
            &self.config().namespace,
            &self.route,
        )
    }

    fn api(&self, client: kube::Client) -> Api<DynamicObject> {
        Api::namespaced_with(client, &self.config().namespace, &self.resource)
    }

    async fn fetch_route(&self) -> Result<DynamicObject, KubeError> {
        let name = self.route.as_str();
        self.deployments
            .kube
            .call(&self.op("get"), |c| {
                let api = self.api(c);
                async move { api.get(name).await }
            })
            .await
    }

    async fn get_route(&self) -> Result<DynamicObject, TrafficError> {
        Ok(self.fetch_route().await?)
    }

    /// Canary and stable weights of the configured rule (an absent weight is the API's default, 1).
    fn weights(&self, route: &DynamicObject) -> Result<(u64, u64), TrafficError> {
        let c = self.config();
        let refs = route
            .data
            .pointer(&format!("/spec/rules/{}/backendRefs", c.rule_index))
            .and_then(Value::as_array)
            .ok_or_else(|| self.bad_route())?;
        let weight = |name: &str| {
            refs.iter()
                .find(|r| r.get("name").and_then(Value::as_str) == Some(name))
                .map(|r| r.get("weight").and_then(Value::as_u64).unwrap_or(1))
        };
        match (weight(c.canary_backend()), weight(c.stable_backend())) {
            (Some(canary), Some(stable)) => Ok((canary, stable)),
            _ => Err(self.bad_route()),
        }
    }

    fn bad_route(&self) -> TrafficError {
        let c = self.config();
        TrafficError::Misconfigured(format!(
            "httproute {} has no rules[{}] with backendRefs named `{}` and `{}`: list both Services in that rule, or fix kubernetes.rule_index / stable_backend / canary_backend",
            self.route,
            c.rule_index,
            c.stable_backend(),
            c.canary_backend()
        ))
    }

    /// Read-modify-replace of the route's weights, retried on 409.
    async fn apply(&self, percent: u8) -> Result<(), TrafficError> {
        if percent > 100 {
            return Err(TrafficError::Rejected(format!(
                "canary weight must be 0-100, got {percent}"
            )));
        }
        let want = (u64::from(percent), 100 - u64::from(percent));
        let name = self.route.as_str();
        let mut conflicts = 0;
        loop {
            let mut route = self.get_route().await?;
            if self.weights(&route)? == want {
                return Ok(());
            }
            self.set_weights(&mut route, want)?;
            let replaced = self
                .deployments
                .kube
                .call(&self.op("update"), |c| {
                    let api = self.api(c);
                    let route = &route;
                    async move { api.replace(name, &PostParams::default(), route).await }
                })
                .await;
            match replaced {
                Ok(saved) => {
                    let (canary, stable) = self.weights(&saved)?;
                    if (canary, stable) != want {
                        return Err(TrafficError::NotApplied {
                            wanted: percent,
                            found: share(canary, stable),
                        });
                    }
                    return Ok(());
                }
                Err(e) if e.is_conflict() && conflicts < MAX_CONFLICTS => {
                    conflicts += 1;
                    tracing::warn!(route = %self.route, conflicts, "httproute changed under us (409); re-reading");
                }
                Err(e) if e.is_conflict() => {
                    return Err(TrafficError::Rejected(format!(
                        "httproute {} kept changing under us: {} conflicting writes (409) in a row; something else is writing it (a GitOps sync?): {e}",
                        self.route,
                        conflicts + 1
                    )))
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn set_weights(
        &self,
        route: &mut DynamicObject,
        (canary, stable): (u64, u64),
    ) -> Result<(), TrafficError> {
        let c = self.config();
        let pointer = format!("/spec/rules/{}/backendRefs", c.rule_index);
        let refs = route
            .data
            .pointer_mut(&pointer)
            .and_then(Value::as_array_mut)
            .ok_or_else(|| self.bad_route())?;
        for r in refs.iter_mut() {
            let name = r.get("name").and_then(Value::as_str).map(str::to_string);
            if let Some(obj) = r.as_object_mut() {
                if name.as_deref() == Some(c.canary_backend()) {
                    obj.insert("weight".into(), json!(canary));
                } else if name.as_deref() == Some(c.stable_backend()) {
                    obj.insert("weight".into(), json!(stable));
                }
            }
        }
        Ok(())
    }

    /// Gives a canary at 0 replicas its pods and waits for them to be Ready;
    /// if they never are, the canary goes back to 0 (no traffic was moved).
    async fn canary_pods_ready(&self) -> Result<(), TrafficError> {
        let d = &self.deployments;
        let name = &self.config().canary_deployment;
        let canary = d.get(name).await?;
        let progress = Progress::of(&canary);
        if spec_replicas(&canary) > 0 {
            if progress.ready > 0 {
                return Ok(());
            }
            return d
                .await_ready(name, 1)
                .await
                .map_err(|e| d.never_ready(name, 1, e));
        }
        let wanted = self.config().canary_replicas;
        d.scale(name, wanted).await?;
        if let Err(e) = d.await_ready(name, wanted).await {
            let error = d.never_ready(name, wanted, e);
            if let Err(undo) = d.scale(name, 0).await {
                tracing::warn!(error = %undo, "could not scale the canary back to 0");
            }
            return Err(error);
        }
        Ok(())
    }
}

#[async_trait]
impl TrafficRouter for GatewayRouter {
    fn describe(&self) -> String {
        let c = self.config();
        format!(
            "HTTPRoute {}/{} rule {} (backends {} and {}) at {}",
            c.namespace,
            self.route,
            c.rule_index,
            c.stable_backend(),
            c.canary_backend(),
            self.deployments.kube.server()
        )
    }

    fn manual_rollback(&self) -> String {
        let c = self.config();
        format!(
            "kubectl -n {ns} edit httproute {route} (in rules[{rule}], weight 0 on backendRef {canary} and 100 on {stable}), then kubectl -n {ns} scale deployment/{canary_deployment} --replicas=0",
            ns = c.namespace,
            route = self.route,
            rule = c.rule_index,
            canary = c.canary_backend(),
            stable = c.stable_backend(),
            canary_deployment = c.canary_deployment
        )
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
        let route = self.fetch_route().await.map_err(|e| match e.code() {
            Some(404) => TrafficError::Misconfigured(format!(
                "kubernetes.httproute = `{}`: no HTTPRoute `{}` in namespace {} (or the Gateway API CRDs are not installed); fix `httproute` or `namespace`",
                self.route, self.route, c.namespace
            )),
            _ => e.into(),
        })?;
        self.weights(&route).map(drop)
    }

    async fn canary_weight(&self) -> Result<u8, TrafficError> {
        let (canary, stable) = self.weights(&self.get_route().await?)?;
        Ok(share(canary, stable))
    }

    async fn set_canary_weight(&self, weight: u8) -> Result<(), TrafficError> {
        if weight > 0 {
            self.canary_pods_ready().await?;
        }
        self.apply(weight).await
    }

    async fn granularity(&self) -> Result<Granularity, TrafficError> {
        Ok(Granularity::Percent)
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

    /// All traffic to the stable (which already runs the new image), then the canary to 0.
    async fn promote(&self) -> Result<(), TrafficError> {
        staging::require_staged(&self.deployments).await?;
        self.apply(0).await?;
        let d = &self.deployments;
        d.scale(&d.config.canary_deployment, 0).await
    }

    async fn promoted(&self) -> Result<bool, TrafficError> {
        Ok(staging::stable_promoted(&self.deployments).await? && self.canary_weight().await? == 0)
    }

    /// Route first (no traffic to pods about to go), then the canary to 0. No waiting.
    async fn rollback(&self) -> Result<(), TrafficError> {
        self.apply(0).await?;
        let d = &self.deployments;
        d.scale(&d.config.canary_deployment, 0).await
    }
}
