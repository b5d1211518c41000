//! Where a Deployment stands, read from its status as the controller reports it.
//!
//! "Rolled out" is stricter than kube's `conditions::is_deployment_completed`
//! (which looks only at the `Progressing` condition's reason): as `kubectl
//! rollout status` does, the controller must have seen the latest spec
//! (`observedGeneration`), every wanted replica must run it (`updatedReplicas`),
//! no old one may be left (`replicas`) and all must be available. Without the
//! generation check, a status written before our image patch was observed
//! would read as "done" for the old image.

use k8s_openapi::api::apps::v1::Deployment;

/// How far a Deployment's rollout has got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Progress {
    /// `spec.replicas` (the API's default is 1).
    pub wanted: u32,
    pub updated: u32,
    pub ready: u32,
    pub available: u32,
    /// Pods of every ReplicaSet, old and new (`status.replicas`).
    pub total: u32,
    /// The controller has seen the latest spec.
    pub observed: bool,
}

impl Progress {
    pub(super) fn of(deployment: &Deployment) -> Self {
        let count = |n: Option<i32>| n.map_or(0, |n| u32::try_from(n).unwrap_or(0));
        let generation = deployment.metadata.generation.unwrap_or(0);
        let status = deployment.status.as_ref();
        Self {
            wanted: count(
                deployment
                    .spec
                    .as_ref()
                    .map_or(Some(1), |s| s.replicas.or(Some(1))),
            ),
            updated: count(status.and_then(|s| s.updated_replicas)),
            ready: count(status.and_then(|s| s.ready_replicas)),
            available: count(status.and_then(|s| s.available_replicas)),
            total: count(status.and_then(|s| s.replicas)),
            observed: status
                .and_then(|s| s.observed_generation)
                .is_some_and(|o| o >= generation),
        }
    }

    /// The latest spec runs on every wanted replica, nothing old is left, all available.
    pub(super) fn done(self) -> bool {
        self.observed
            && self.updated >= self.wanted
            && self.total <= self.updated
            && self.available >= self.wanted
    }

    /// Scaled to `n` and settled: the controller saw the scale, `n` pods exist
    /// and all are Ready (a terminating pod no longer counts).
    pub(super) fn settled_at(self, n: u32) -> bool {
        self.observed && self.total == n && self.ready == n
    }

    /// "2 of 3 replicas updated, 1 available", for progress and timeouts.
    pub(super) fn describe(self) -> String {
        format!(
            "{} of {} replicas updated, {} available{}",
            self.updated,
            self.wanted,
            self.available,
            if self.observed {
                ""
            } else {
                ", latest spec not yet observed"
            }
        )
    }
}

/// The controller gave up on the rollout: the `Progressing` condition says
/// `ProgressDeadlineExceeded` for the latest spec (a stale condition from an
/// older spec does not count). Returns its message.
pub(super) fn deadline_exceeded(deployment: &Deployment) -> Option<String> {
    if !Progress::of(deployment).observed {
        return None;
    }
    deployment
        .status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| {
            c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
        })
        .map(|c| {
            c.message
                .clone()
                .unwrap_or_else(|| "progress deadline exceeded".into())
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(status: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "d", "generation": 2},
            "spec": {"replicas": 3, "selector": {}, "template": {}},
            "status": status,
        }))
        .unwrap()
    }

    fn progress(observed: u64, updated: u64, available: u64, total: u64) -> Progress {
        Progress::of(&deployment(json!({
            "observedGeneration": observed, "updatedReplicas": updated,
            "availableReplicas": available, "readyReplicas": available, "replicas": total,
        })))
    }

    #[test]
    fn done_only_when_observed_updated_available_and_no_old_replicas() {
        assert!(progress(2, 3, 3, 3).done());
        assert!(!progress(1, 3, 3, 3).done(), "spec not observed");
        assert!(!progress(2, 2, 3, 3).done(), "one old replica");
        assert!(!progress(2, 3, 3, 4).done(), "surge pod left");
        assert!(!progress(2, 3, 2, 3).done(), "one unavailable");
        assert!(!Progress::of(&deployment(json!({}))).done(), "no status");
        assert_eq!(
            progress(2, 2, 1, 3).describe(),
            "2 of 3 replicas updated, 1 available"
        );
        assert!(progress(2, 3, 3, 3).settled_at(3));
        assert!(
            !progress(2, 3, 3, 4).settled_at(3),
            "a pod still terminating"
        );
    }

    #[test]
    fn a_deadline_counts_only_for_the_latest_spec() {
        let condition = json!([{"type": "Progressing", "status": "False",
            "reason": "ProgressDeadlineExceeded", "message": "ReplicaSet \"d-2\" has timed out progressing."}]);
        let current = deployment(json!({"observedGeneration": 2, "conditions": condition}));
        assert!(deadline_exceeded(&current).unwrap().contains("timed out"));
        let stale = deployment(json!({"observedGeneration": 1, "conditions": condition}));
        assert_eq!(deadline_exceeded(&stale), None);
    }
}
