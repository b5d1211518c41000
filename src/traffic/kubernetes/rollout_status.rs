//! Waiting for a Deployment to finish rolling out, as `kubectl rollout status`
//! does: the controller has seen the latest spec (`observedGeneration`), every
//! replica runs it (`updatedReplicas`), no old one is left (`replicas`), and all
//! are available. Promote waits for this on the stable Deployment before moving
//! the canary's traffic onto it, so capacity never dips mid-update and a stable
//! Deployment that cannot run the new image keeps the canary serving.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::super::kube_client::KubeClient;
use super::super::TrafficError;

/// How far a Deployment's rollout has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Progress {
    pub wanted: u64,
    pub updated: u64,
    pub available: u64,
    pub total: u64,
    pub observed: bool,
}

impl Progress {
    pub(super) fn of(deployment: &Value) -> Self {
        let n = |p: &str| deployment.pointer(p).and_then(Value::as_u64);
        let generation = n("/metadata/generation").unwrap_or(0);
        Self {
            wanted: n("/spec/replicas").unwrap_or(1),
            updated: n("/status/updatedReplicas").unwrap_or(0),
            available: n("/status/availableReplicas").unwrap_or(0),
            total: n("/status/replicas").unwrap_or(0),
            observed: n("/status/observedGeneration").is_some_and(|o| o >= generation),
        }
    }

    pub(super) fn done(self) -> bool {
        self.observed
            && self.updated >= self.wanted
            && self.total <= self.updated
            && self.available >= self.wanted
    }
}

/// Polls `path` until its rollout is done, at most `timeout`.
pub(super) async fn wait(
    client: &KubeClient,
    path: &str,
    name: &str,
    timeout: Duration,
) -> Result<(), TrafficError> {
    let started = Instant::now();
    let every = (timeout / 4).clamp(Duration::from_millis(100), Duration::from_secs(2));
    loop {
        let progress = Progress::of(&client.get(path).await?);
        if progress.done() {
            return Ok(());
        }
        if started.elapsed() >= timeout {
            return Err(TrafficError::Rejected(format!(
                "deployment {name} has not finished rolling out after {} s ({} of {} replicas updated, {} available{}): traffic left as it was; see `kubectl rollout status deployment/{name}`",
                timeout.as_secs(),
                progress.updated,
                progress.wanted,
                progress.available,
                if progress.observed { "" } else { ", latest spec not yet observed" }
            )));
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(
        generation: u64,
        observed: u64,
        updated: u64,
        available: u64,
        total: u64,
    ) -> Value {
        json!({
            "metadata": {"generation": generation},
            "spec": {"replicas": 3},
            "status": {"observedGeneration": observed, "updatedReplicas": updated,
                       "availableReplicas": available, "replicas": total},
        })
    }

    #[test]
    fn done_only_when_observed_updated_available_and_no_old_replicas() {
        assert!(Progress::of(&deployment(2, 2, 3, 3, 3)).done());
        assert!(
            !Progress::of(&deployment(2, 1, 3, 3, 3)).done(),
            "spec not observed"
        );
        assert!(
            !Progress::of(&deployment(2, 2, 2, 3, 3)).done(),
            "one old replica"
        );
        assert!(
            !Progress::of(&deployment(2, 2, 3, 3, 4)).done(),
            "surge pod left"
        );
        assert!(
            !Progress::of(&deployment(2, 2, 3, 2, 3)).done(),
            "one unavailable"
        );
        assert!(
            !Progress::of(&json!({"spec": {"replicas": 1}})).done(),
            "no status: not done"
        );
    }
}
