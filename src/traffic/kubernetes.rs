//! Kubernetes as the traffic splitter: a canary Deployment beside the stable
//! one, and either a Gateway API `HTTPRoute` ([`GatewayRouter`]) or, with no
//! route configured, the two Deployments' replica counts ([`ReplicaRouter`]).
//!
//! **Gateway mode.** One rule of the route (`rule_index`) has two backendRefs,
//! the stable and the canary Service. A canary share of `w` % is backendRef
//! weights `w` and `100 − w` (an absent weight is the API's default, 1). The
//! route's `rules` is an atomic list, so a change is a read-modify-replace: GET
//! the route, set the two weights, PUT it back carrying its `resourceVersion`;
//! a 409 Conflict (someone else wrote in between) re-reads and retries, at most
//! [`MAX_CONFLICTS`] times. The PUT's answer is read back; a route that did not
//! take the weights is [`TrafficError::NotApplied`]. A weight above 0 first
//! scales a canary Deployment at 0 replicas to `canary_replicas`.
//! Promote copies the canary container's image into the stable Deployment (a
//! JSON patch guarded by a `test` of the container's name), sends all traffic
//! to stable and scales the canary to 0: the stable Deployment rolls to the new
//! image under its own rolling-update strategy (promote does not wait for it).
//! Rollback is weight 0 and canary scaled to 0.
//!
//! **Replica mode** (no `httproute`): the share is canary replicas ÷ (stable +
//! canary), read and written through the `/scale` subresource; the total is kept,
//! the canary is scaled first so capacity never dips. Shares are as exact as the
//! replica count allows (4 replicas: 0, 25, 50, 75, 100 %).

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{json, Value};

use super::kube_client::{validate_name, KubeClient, PatchKind};
use super::{TrafficError, TrafficRouter};

mod rollout_status;

/// Conflicts (409) retried per weight change.
pub const MAX_CONFLICTS: u32 = 5;

/// `[services.NAME.kubernetes]`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct KubernetesConfig {
    /// A kubeconfig file; unset: in-cluster, else `$KUBECONFIG` / `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// The kubeconfig context; unset: its current context.
    pub context: Option<String>,
    pub namespace: String,
    pub stable_deployment: String,
    pub canary_deployment: String,
    /// The container whose image promote copies; unset: the first.
    pub container: Option<String>,
    /// The HTTPRoute splitting traffic; unset: replica mode.
    pub httproute: Option<String>,
    pub rule_index: usize,
    /// backendRef names (Services) in the rule; unset: the Deployments' names.
    pub stable_backend: Option<String>,
    pub canary_backend: Option<String>,
    /// Replicas a canary at 0 is scaled to when it first gets traffic.
    pub canary_replicas: u32,
    /// Per request.
    pub timeout_ms: u64,
    /// Retries after a transport failure, 429 or 5xx.
    pub max_retries: u32,
    /// How long promote waits for the stable Deployment to roll out the canary's
    /// image before it moves the canary's traffic onto it.
    pub rollout_timeout_seconds: u64,
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
        }
    }
}

impl KubernetesConfig {
    pub fn validate(&self) -> Result<(), String> {
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
            return Err(
                "kubernetes: the stable and canary deployments (and backends) must differ".into(),
            );
        }
        if !(1..=3600).contains(&self.rollout_timeout_seconds) {
            return Err(format!(
                "kubernetes.rollout_timeout_seconds must be 1-3600, got {}",
                self.rollout_timeout_seconds
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

// === Deployments ===

/// The two Deployments, through `apps/v1`.
#[derive(Debug, Clone)]
struct Deployments {
    client: KubeClient,
    config: KubernetesConfig,
}

impl Deployments {
    fn path(&self, name: &str) -> String {
        format!(
            "/apis/apps/v1/namespaces/{}/deployments/{name}",
            self.config.namespace
        )
    }

    async fn replicas(&self, name: &str) -> Result<u32, TrafficError> {
        let scale = self
            .client
            .get(&format!("{}/scale", self.path(name)))
            .await?;
        Ok(scale
            .pointer("/spec/replicas")
            .and_then(Value::as_u64)
            .unwrap_or(0) as u32)
    }

    async fn scale(&self, name: &str, replicas: u32) -> Result<(), TrafficError> {
        let path = format!("{}/scale", self.path(name));
        let saved = self
            .client
            .patch(
                &path,
                &json!({"spec": {"replicas": replicas}}),
                PatchKind::Merge,
            )
            .await?;
        match saved.pointer("/spec/replicas").and_then(Value::as_u64) {
            Some(n) if n == u64::from(replicas) => Ok(()),
            other => Err(TrafficError::Rejected(format!(
                "scaling {name} to {replicas} replicas did not take: the scale reads {other:?}"
            ))),
        }
    }

    /// Waits until the stable Deployment runs its latest spec on every replica.
    async fn stable_rolled_out(&self) -> Result<(), TrafficError> {
        let name = &self.config.stable_deployment;
        let timeout = std::time::Duration::from_secs(self.config.rollout_timeout_seconds);
        rollout_status::wait(&self.client, &self.path(name), name, timeout).await
    }

    /// The stable Deployment takes the canary's image and finishes rolling it out.
    async fn promote_image(&self) -> Result<(), TrafficError> {
        self.copy_canary_image().await?;
        self.stable_rolled_out().await
    }

    /// Sets the stable Deployment's container image to the canary's.
    async fn copy_canary_image(&self) -> Result<(), TrafficError> {
        let c = &self.config;
        let canary = self.client.get(&self.path(&c.canary_deployment)).await?;
        let (_, name, image) = container(&canary, c.container.as_deref())
            .ok_or_else(|| missing_container(&c.canary_deployment, c.container.as_deref()))?;
        let stable_path = self.path(&c.stable_deployment);
        let stable = self.client.get(&stable_path).await?;
        let (index, _, current) = container(&stable, Some(&name))
            .ok_or_else(|| missing_container(&c.stable_deployment, Some(&name)))?;
        if current == image {
            return Ok(());
        }
        let at = format!("/spec/template/spec/containers/{index}");
        let patch = json!([
            {"op": "test", "path": format!("{at}/name"), "value": name},
            {"op": "replace", "path": format!("{at}/image"), "value": image},
        ]);
        self.client
            .patch(&stable_path, &patch, PatchKind::Json)
            .await?;
        Ok(())
    }
}

/// A Deployment's container by name (or the first): index, name, image.
fn container(deployment: &Value, name: Option<&str>) -> Option<(usize, String, String)> {
    let containers = deployment
        .pointer("/spec/template/spec/containers")?
        .as_array()?;
    containers.iter().enumerate().find_map(|(i, c)| {
        let n = c.get("name")?.as_str()?;
        let image = c.get("image")?.as_str()?;
        (name.is_none_or(|want| want == n)).then(|| (i, n.to_string(), image.to_string()))
    })
}

fn missing_container(deployment: &str, name: Option<&str>) -> TrafficError {
    TrafficError::Rejected(format!(
        "deployment {deployment} has no container {} with an image",
        name.map_or("at all".to_string(), |n| format!("named `{n}`"))
    ))
}

// === impl GatewayRouter ===

/// A [`TrafficRouter`] over a Gateway API HTTPRoute's backendRef weights.
#[derive(Debug, Clone)]
pub struct GatewayRouter {
    deployments: Deployments,
    route: String,
}

impl GatewayRouter {
    pub fn new(config: KubernetesConfig, client: KubeClient) -> Result<Self, TrafficError> {
        config.validate().map_err(TrafficError::Rejected)?;
        let route = config
            .httproute
            .clone()
            .ok_or_else(|| TrafficError::Rejected("kubernetes.httproute is not set".into()))?;
        Ok(Self {
            deployments: Deployments { client, config },
            route,
        })
    }

    fn route_path(&self) -> String {
        format!(
            "/apis/gateway.networking.k8s.io/v1/namespaces/{}/httproutes/{}",
            self.deployments.config.namespace, self.route
        )
    }

    /// Canary and stable weights of the configured rule.
    pub fn weights(&self, route: &Value) -> Result<(u64, u64), TrafficError> {
        let c = &self.deployments.config;
        let refs = backend_refs(route, c.rule_index).ok_or_else(|| self.bad_route())?;
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
        let c = &self.deployments.config;
        TrafficError::Rejected(format!(
            "httproute {} has no rules[{}] with backendRefs named `{}` and `{}`: list both Services in that rule",
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
        let path = self.route_path();
        let want = (u64::from(percent), 100 - u64::from(percent));
        let mut conflicts = 0;
        loop {
            let mut route = self.deployments.client.get(&path).await?;
            if self.weights(&route)? == want {
                return Ok(());
            }
            self.set_weights(&mut route, want)?;
            match self.deployments.client.put(&path, &route).await {
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
                Err(e) => return Err(e.into()),
            }
        }
    }

    fn set_weights(
        &self,
        route: &mut Value,
        (canary, stable): (u64, u64),
    ) -> Result<(), TrafficError> {
        let c = &self.deployments.config;
        let pointer = format!("/spec/rules/{}/backendRefs", c.rule_index);
        let refs = route
            .pointer_mut(&pointer)
            .and_then(Value::as_array_mut)
            .ok_or_else(|| self.bad_route())?;
        for r in refs.iter_mut() {
            let name = r
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if let Some(obj) = r.as_object_mut() {
                if name == c.canary_backend() {
                    obj.insert("weight".into(), json!(canary));
                } else if name == c.stable_backend() {
                    obj.insert("weight".into(), json!(stable));
                }
            }
        }
        Ok(())
    }
}

fn backend_refs(route: &Value, rule: usize) -> Option<&Vec<Value>> {
    route
        .pointer(&format!("/spec/rules/{rule}/backendRefs"))?
        .as_array()
}

/// The canary's share in percent (0 when both are 0).
fn share(canary: u64, stable: u64) -> u8 {
    let total = canary + stable;
    if total == 0 {
        return 0;
    }
    ((canary * 100 + total / 2) / total).min(100) as u8
}

#[async_trait]
impl TrafficRouter for GatewayRouter {
    fn describe(&self) -> String {
        let c = &self.deployments.config;
        format!(
            "HTTPRoute {}/{} (backends {} and {})",
            c.namespace,
            self.route,
            c.stable_backend(),
            c.canary_backend()
        )
    }

    fn manual_rollback(&self) -> String {
        let c = &self.deployments.config;
        format!(
            "kubectl -n {} edit httproute {} (weight 0 on {}, 100 on {})",
            c.namespace,
            self.route,
            c.canary_backend(),
            c.stable_backend()
        )
    }

    async fn preflight(&self) -> Result<(), TrafficError> {
        self.canary_weight().await.map(drop)
    }

    async fn promoted(&self) -> Result<bool, TrafficError> {
        Ok(false)
    }

    async fn canary_weight(&self) -> Result<u8, TrafficError> {
        let route = self.deployments.client.get(&self.route_path()).await?;
        let (canary, stable) = self.weights(&route)?;
        Ok(share(canary, stable))
    }

    async fn set_canary_weight(&self, weight: u8) -> Result<(), TrafficError> {
        let d = &self.deployments;
        if weight > 0 && d.replicas(&d.config.canary_deployment).await? == 0 {
            d.scale(&d.config.canary_deployment, d.config.canary_replicas.max(1))
                .await?;
        }
        self.apply(weight).await
    }

    async fn promote(&self) -> Result<(), TrafficError> {
        self.deployments.promote_image().await?;
        self.apply(0).await?;
        let d = &self.deployments;
        d.scale(&d.config.canary_deployment, 0).await
    }

    async fn rollback(&self) -> Result<(), TrafficError> {
        self.apply(0).await?;
        let d = &self.deployments;
        d.scale(&d.config.canary_deployment, 0).await
    }
}

// === impl ReplicaRouter ===

/// A [`TrafficRouter`] that splits by replica counts (no traffic router).
#[derive(Debug, Clone)]
pub struct ReplicaRouter {
    deployments: Deployments,
}

impl ReplicaRouter {
    pub fn new(config: KubernetesConfig, client: KubeClient) -> Result<Self, TrafficError> {
        config.validate().map_err(TrafficError::Rejected)?;
        Ok(Self {
            deployments: Deployments { client, config },
        })
    }

    /// (canary, stable) replicas.
    async fn counts(&self) -> Result<(u32, u32), TrafficError> {
        let d = &self.deployments;
        let canary = d.replicas(&d.config.canary_deployment).await?;
        let stable = d.replicas(&d.config.stable_deployment).await?;
        Ok((canary, stable))
    }

    /// Keeps the total; canary first so capacity never dips.
    async fn split(&self, percent: u8) -> Result<(), TrafficError> {
        if percent > 100 {
            return Err(TrafficError::Rejected(format!(
                "canary weight must be 0-100, got {percent}"
            )));
        }
        let (canary, stable) = self.counts().await?;
        let total = canary + stable;
        if total == 0 {
            return Err(TrafficError::Rejected(
                "both deployments are at 0 replicas: scale the stable one up first".into(),
            ));
        }
        let mut want = (total * u32::from(percent) + 50) / 100;
        if percent > 0 && want == 0 {
            want = 1; // a canary that asked for traffic gets a pod
        }
        let d = &self.deployments;
        if want != canary {
            d.scale(&d.config.canary_deployment, want).await?;
        }
        if total - want.min(total) != stable {
            d.scale(&d.config.stable_deployment, total - want.min(total))
                .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl TrafficRouter for ReplicaRouter {
    fn describe(&self) -> String {
        let c = &self.deployments.config;
        format!(
            "Deployments {}/{} and {} (replica ratio)",
            c.namespace, c.stable_deployment, c.canary_deployment
        )
    }

    fn manual_rollback(&self) -> String {
        let c = &self.deployments.config;
        format!(
            "kubectl -n {} scale deployment/{} --replicas=0",
            c.namespace, c.canary_deployment
        )
    }

    async fn preflight(&self) -> Result<(), TrafficError> {
        self.canary_weight().await.map(drop)
    }

    async fn promoted(&self) -> Result<bool, TrafficError> {
        Ok(false)
    }

    async fn canary_weight(&self) -> Result<u8, TrafficError> {
        let (canary, stable) = self.counts().await?;
        Ok(share(u64::from(canary), u64::from(stable)))
    }

    async fn set_canary_weight(&self, weight: u8) -> Result<(), TrafficError> {
        self.split(weight).await
    }

    async fn promote(&self) -> Result<(), TrafficError> {
        self.deployments.promote_image().await?;
        self.split(0).await
    }

    async fn rollback(&self) -> Result<(), TrafficError> {
        self.split(0).await
    }
}

/// The router the settings name: Gateway mode with an `httproute`, else replicas.
pub fn router(config: KubernetesConfig) -> Result<(Arc<dyn TrafficRouter>, String), TrafficError> {
    let client = config.client()?;
    let label = format!("kubernetes:{}/{}", client.server(), config.namespace);
    let router: Arc<dyn TrafficRouter> = if config.httproute.is_some() {
        Arc::new(GatewayRouter::new(config, client)?)
    } else {
        Arc::new(ReplicaRouter::new(config, client)?)
    };
    Ok((router, label))
}
