//! The staged promotion both Kubernetes routers share: the stable Deployment
//! takes the canary's image and rolls it out while the canary keeps serving.
//!
//! The plan's `undo` is an [`ImageUndo`]: everything needed to put the stable
//! Deployment's image back, so a process that only has the journal (after a
//! crash) can undo a promotion it did not start.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::super::{PromotionPlan, Staging, TrafficError};
use super::deployments::{configured_container, Deployments};
use super::rollout_status::{deadline_exceeded, Progress};

/// What undoing a staged promotion restores (the plan's `undo` JSON).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageUndo {
    pub namespace: String,
    /// The stable Deployment.
    pub deployment: String,
    pub container: String,
    /// The stable container's image before the promotion.
    pub image: String,
    /// The canary's image the promotion copies in (for operators and checks).
    pub canary_image: String,
}

/// The images of the promotion: (container name, stable image, canary image).
async fn images(d: &Deployments) -> Result<(String, String, String), TrafficError> {
    let c = &d.config;
    let canary = d
        .get_configured(&c.canary_deployment, "canary_deployment")
        .await?;
    let canary = configured_container(&canary, c.container.as_deref())?;
    let stable = d
        .get_configured(&c.stable_deployment, "stable_deployment")
        .await?;
    let stable = configured_container(&stable, Some(&canary.name))?;
    Ok((canary.name, stable.image, canary.image))
}

/// Read-only: what the promotion will change and how to undo it.
pub(super) async fn plan(d: &Deployments) -> Result<PromotionPlan, TrafficError> {
    let (container, image, canary_image) = images(d).await?;
    let c = &d.config;
    let detail = format!(
        "stable {}: image {image} → {canary_image}",
        c.stable_deployment
    );
    let undo = ImageUndo {
        namespace: c.namespace.clone(),
        deployment: c.stable_deployment.clone(),
        container,
        image,
        canary_image,
    };
    Ok(PromotionPlan {
        undo: serde_json::to_value(undo)
            .map_err(|e| TrafficError::Rejected(format!("serializing the undo: {e}")))?,
        staged: true,
        timeout_seconds: c.rollout_timeout_seconds as f64,
        detail,
    })
}

/// Copies the canary's image into the stable Deployment (no write when equal).
pub(super) async fn stage(d: &Deployments) -> Result<(), TrafficError> {
    let c = &d.config;
    let canary = d.get(&c.canary_deployment).await?;
    let canary = configured_container(&canary, c.container.as_deref())?;
    let stable = d.get(&c.stable_deployment).await?;
    let current = configured_container(&stable, Some(&canary.name))?;
    if current.image == canary.image {
        return Ok(());
    }
    d.set_image(&c.stable_deployment, &current, &canary.image)
        .await
}

/// Ready when the stable runs the canary's image on every replica; Failed
/// when its controller reports `ProgressDeadlineExceeded` for that spec.
pub(super) async fn staging(d: &Deployments) -> Result<Staging, TrafficError> {
    let c = &d.config;
    let canary = d.get(&c.canary_deployment).await?;
    let canary = configured_container(&canary, c.container.as_deref())?;
    let stable = d.get(&c.stable_deployment).await?;
    let current = configured_container(&stable, Some(&canary.name))?;
    if current.image != canary.image {
        return Ok(Staging::Waiting(format!(
            "deployment {} runs {}, not the canary's {} yet",
            c.stable_deployment, current.image, canary.image
        )));
    }
    if let Some(message) = deadline_exceeded(&stable) {
        return Ok(Staging::Failed(format!(
            "deployment {} cannot roll out {} (ProgressDeadlineExceeded: {message}); see `kubectl -n {} rollout status deployment/{}`",
            c.stable_deployment, canary.image, c.namespace, c.stable_deployment
        )));
    }
    let progress = Progress::of(&stable);
    if progress.done() {
        return Ok(Staging::Ready);
    }
    Ok(Staging::Waiting(progress.describe()))
}

/// Whether the stable runs the canary's image, fully rolled out.
pub(super) async fn stable_promoted(d: &Deployments) -> Result<bool, TrafficError> {
    Ok(staging(d).await? == Staging::Ready)
}

/// The switch of a promotion needs the staging done: the stable Deployment
/// runs the canary's image on every replica.
pub(super) async fn require_staged(d: &Deployments) -> Result<(), TrafficError> {
    if stable_promoted(d).await? {
        return Ok(());
    }
    Err(TrafficError::Rejected(format!(
        "deployment {} does not run the canary's image on every replica yet: stage the promotion and wait until it is Ready before promoting",
        d.config.stable_deployment
    )))
}

/// Puts the stable Deployment's image back (no write when it already is).
pub(super) async fn undo(d: &Deployments, undo: &Value) -> Result<(), TrafficError> {
    if undo.is_null() {
        return Ok(());
    }
    let undo: ImageUndo = serde_json::from_value(undo.clone()).map_err(|e| {
        TrafficError::Rejected(format!(
            "the promotion's undo record is not a Kubernetes image undo ({e}): {undo}"
        ))
    })?;
    let c = &d.config;
    if undo.namespace != c.namespace || undo.deployment != c.stable_deployment {
        return Err(TrafficError::Misconfigured(format!(
            "the undo record is for deployment {}/{}, but this service's stable deployment is {}/{}: restore image {} by hand (`kubectl -n {} set image deployment/{} {}={}`)",
            undo.namespace, undo.deployment, c.namespace, c.stable_deployment,
            undo.image, undo.namespace, undo.deployment, undo.container, undo.image
        )));
    }
    let stable = d.get(&undo.deployment).await?;
    let current = configured_container(&stable, Some(&undo.container))?;
    if current.image == undo.image {
        return Ok(());
    }
    d.set_image(&undo.deployment, &current, &undo.image).await
}
