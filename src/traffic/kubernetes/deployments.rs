//! The stable and canary Deployments through typed `apps/v1` calls: reads,
//! the `/scale` subresource, the image patch, and waits on kube's watch.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Patch, PatchParams};
use kube::Api;
use serde_json::json;

use super::super::kube_client::{KubeClient, KubeError, Op, WaitError};
use super::super::TrafficError;
use super::rollout_status::Progress;
use super::KubernetesConfig;

/// The two Deployments of one service.
#[derive(Debug, Clone)]
pub(super) struct Deployments {
    pub kube: KubeClient,
    pub config: KubernetesConfig,
}

/// A container of a Deployment's pod template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ContainerImage {
    pub index: usize,
    pub name: String,
    pub image: String,
}

impl Deployments {
    fn op(&self, verb: &'static str, resource: &'static str, name: &str) -> Op {
        Op::new(verb, "apps", resource, &self.config.namespace, name)
    }

    fn api(&self, client: kube::Client) -> Api<Deployment> {
        Api::namespaced(client, &self.config.namespace)
    }

    async fn fetch(&self, name: &str) -> Result<Deployment, KubeError> {
        let op = self.op("get", "deployments", name);
        self.kube
            .call(&op, |c| {
                let api = self.api(c);
                async move { api.get(name).await }
            })
            .await
    }

    pub async fn get(&self, name: &str) -> Result<Deployment, TrafficError> {
        Ok(self.fetch(name).await?)
    }

    /// The Deployment, or a [`TrafficError::Misconfigured`] naming the setting `key`.
    pub async fn get_configured(&self, name: &str, key: &str) -> Result<Deployment, TrafficError> {
        self.fetch(name).await.map_err(|e| match e.code() {
            Some(404) => TrafficError::Misconfigured(format!(
                "kubernetes.{key} = `{name}`: no Deployment `{name}` in namespace {}; fix `{key}` or `namespace`",
                self.config.namespace
            )),
            _ => e.into(),
        })
    }

    /// Sets `spec.replicas` through `/scale` (no write when it already is `n`),
    /// and checks the answer took it.
    pub async fn scale(&self, name: &str, n: u32) -> Result<(), TrafficError> {
        let get = self.op("get", "deployments/scale", name);
        let scale = self
            .kube
            .call(&get, |c| {
                let api = self.api(c);
                async move { api.get_scale(name).await }
            })
            .await?;
        let replicas = |s: &k8s_openapi::api::autoscaling::v1::Scale| {
            s.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
        };
        let wanted = i32::try_from(n).unwrap_or(i32::MAX);
        if replicas(&scale) == wanted {
            return Ok(());
        }
        let op = self.op("patch", "deployments/scale", name);
        let patch = Patch::Merge(json!({"spec": {"replicas": wanted}}));
        let saved = self
            .kube
            .call(&op, |c| {
                let api = self.api(c);
                let patch = &patch;
                async move { api.patch_scale(name, &PatchParams::default(), patch).await }
            })
            .await?;
        if replicas(&saved) != wanted {
            return Err(TrafficError::Rejected(format!(
                "scaling deployment {name} to {n} replicas did not take: the scale reads {}",
                replicas(&saved)
            )));
        }
        Ok(())
    }

    /// Waits until at least `n` pods of `name` are Ready.
    pub async fn await_ready(&self, name: &str, n: u32) -> Result<(), WaitError> {
        let timeout = Duration::from_secs(self.config.ready_timeout_seconds);
        let ready = move |d: Option<&Deployment>| d.is_some_and(|d| Progress::of(d).ready >= n);
        self.kube
            .await_deployment(&self.config.namespace, name, timeout, ready)
            .await
            .map(drop)
    }

    /// Waits until `name` has exactly `n` pods, all Ready.
    pub async fn await_settled(&self, name: &str, n: u32) -> Result<(), WaitError> {
        let timeout = Duration::from_secs(self.config.ready_timeout_seconds);
        let settled =
            move |d: Option<&Deployment>| d.is_some_and(|d| Progress::of(d).settled_at(n));
        self.kube
            .await_deployment(&self.config.namespace, name, timeout, settled)
            .await
            .map(drop)
    }

    /// Sets container `container.name` (at `container.index`) of `name` to
    /// `image`: a JSON patch whose `test` makes it fail rather than change
    /// another container if the list changed since it was read.
    pub async fn set_image(
        &self,
        name: &str,
        container: &ContainerImage,
        image: &str,
    ) -> Result<(), TrafficError> {
        let at = format!("/spec/template/spec/containers/{}", container.index);
        let ops = json!([
            {"op": "test", "path": format!("{at}/name"), "value": container.name},
            {"op": "replace", "path": format!("{at}/image"), "value": image},
        ]);
        let ops = serde_json::from_value(ops)
            .map_err(|e| TrafficError::Rejected(format!("building the image patch: {e}")))?;
        let patch: Patch<()> = Patch::Json(ops);
        let op = self.op("patch", "deployments", name);
        self.kube
            .call(&op, |c| {
                let api = self.api(c);
                let patch = &patch;
                async move { api.patch(name, &PatchParams::default(), patch).await }
            })
            .await?;
        Ok(())
    }

    /// A message for pods that did not become Ready in time.
    pub fn never_ready(&self, name: &str, n: u32, e: WaitError) -> TrafficError {
        match e {
            WaitError::Api(e) => e.into(),
            WaitError::TimedOut(_) if n == 0 => TrafficError::Rejected(format!(
                "deployment {name} still has pods after ready_timeout_seconds = {}; see `kubectl -n {} get pods`",
                self.config.ready_timeout_seconds, self.config.namespace
            )),
            WaitError::TimedOut(_) => TrafficError::Rejected(format!(
                "the pods of deployment {name} never became Ready ({n} wanted) within ready_timeout_seconds = {}: no traffic was moved onto them; see `kubectl -n {ns} describe deployment {name}` and `kubectl -n {ns} get pods` (image pull, crash loop, failing readiness probe, no capacity)",
                self.config.ready_timeout_seconds,
                ns = self.config.namespace
            )),
        }
    }
}

/// A Deployment's container by name (or the first), with its image.
pub(super) fn container(deployment: &Deployment, name: Option<&str>) -> Option<ContainerImage> {
    let containers = &deployment.spec.as_ref()?.template.spec.as_ref()?.containers;
    containers.iter().enumerate().find_map(|(index, c)| {
        let image = c.image.as_ref()?;
        (name.is_none_or(|want| want == c.name)).then(|| ContainerImage {
            index,
            name: c.name.clone(),
            image: image.clone(),
        })
    })
}

/// The container, or a [`TrafficError::Misconfigured`] saying what is missing.
pub(super) fn configured_container(
    deployment: &Deployment,
    name: Option<&str>,
) -> Result<ContainerImage, TrafficError> {
    container(deployment, name).ok_or_else(|| {
        let deployment = deployment.metadata.name.as_deref().unwrap_or("?");
        TrafficError::Misconfigured(match name {
            Some(n) => format!(
                "deployment {deployment} has no container named `{n}` with an image: fix kubernetes.container"
            ),
            None => format!("deployment {deployment} has no container with an image"),
        })
    })
}

/// `spec.replicas` (the API's default is 1).
pub(super) fn spec_replicas(deployment: &Deployment) -> u32 {
    Progress::of(deployment).wanted
}
