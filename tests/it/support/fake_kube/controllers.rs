//! What the cluster's controllers do after a write: the Deployment controller
//! (pods Ready at once, late, never, or a rollout that hits its progress
//! deadline) and a minimal Argo Rollouts controller. Late work runs on a
//! background task that commits the new status, so watchers get MODIFIED events.

use std::time::Duration;

use serde_json::{json, Value};

use super::{Shared, State};

/// How a Deployment's pods follow a new spec or scale.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pods {
    /// Ready as soon as the API accepted the write.
    Immediate,
    /// Ready this long after the write (the status catches up then).
    Late(Duration),
    /// Never Ready: the status stays where it was (image cannot be pulled).
    Never,
    /// Never Ready, and this long after the write the `Progressing`
    /// condition turns to `ProgressDeadlineExceeded`.
    DeadlineExceeded(Duration),
}

fn count(object: &Value, pointer: &str) -> u64 {
    object.pointer(pointer).and_then(Value::as_u64).unwrap_or(0)
}

/// The API server's and the controller's part of a Deployment write: a new
/// spec bumps `metadata.generation`; the controller observes it at once, and
/// its pods are Ready when [`Pods`] says.
pub(crate) fn deployment_written(
    shared: &State,
    s: &mut Shared,
    name: &str,
    current: &Value,
    next: &mut Value,
) {
    let changed = current["spec"] != next["spec"];
    let generation = count(current, "/metadata/generation").max(1) + u64::from(changed);
    next["metadata"]["generation"] = json!(generation);
    if !changed {
        return;
    }
    let wanted = next
        .pointer("/spec/replicas")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    let new_template = current["spec"]["template"] != next["spec"]["template"];
    let pods = s.pods_for(name);
    if pods == Pods::Immediate {
        next["status"] = caught_up(wanted, generation);
        s.note(format!("ready deployments/{name} {wanted}"));
        return;
    }
    // Observed at once: old pods keep serving, new ones are not Ready yet.
    let ready = count(current, "/status/readyReplicas").min(wanted);
    next["status"] = json!({
        "observedGeneration": generation,
        "replicas": wanted,
        "updatedReplicas": if new_template { 0 } else { wanted },
        "readyReplicas": ready,
        "availableReplicas": ready,
        "conditions": [{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}],
    });
    let (delay, outcome) = match pods {
        Pods::Late(d) => (d, Some(caught_up(wanted, generation))),
        Pods::DeadlineExceeded(d) => (d, None),
        Pods::Never | Pods::Immediate => return,
    };
    let shared = shared.clone();
    let path = format!(
        "/apis/apps/v1/namespaces/{}/deployments/{name}",
        next["metadata"]["namespace"].as_str().unwrap_or("default")
    );
    let name = name.to_string();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let mut s = shared.lock().unwrap();
        let Some(mut object) = s.objects.get(&path).cloned() else {
            return;
        };
        if count(&object, "/metadata/generation") != generation {
            return; // a newer spec: its own task will report on it
        }
        match outcome {
            Some(status) => {
                object["status"] = status;
                s.note(format!("ready deployments/{name} {wanted}"));
            }
            None => {
                object["status"]["conditions"] = json!([{
                    "type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                    "message": format!("ReplicaSet \"{name}-2\" has timed out progressing."),
                }]);
                s.note(format!("deadline deployments/{name}"));
            }
        }
        s.commit(&path, object, "MODIFIED");
    });
}

fn caught_up(replicas: u64, generation: u64) -> Value {
    json!({
        "observedGeneration": generation,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
        "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}],
    })
}

/// A client wrote a Rollout's status: the Argo controller (if running) acts on it later.
pub(crate) fn rollout_status_written(shared: &State, s: &Shared, path: &str) {
    let Some(delay) = s.argo else { return };
    let shared = shared.clone();
    let path = path.to_string();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let mut s = shared.lock().unwrap();
        let Some(mut rollout) = s.objects.get(&path).cloned() else {
            return;
        };
        let what = reconcile(&mut rollout);
        s.note(format!("argo {path}: {what}"));
        s.commit(&path, rollout, "MODIFIED");
    });
}

/// One reconcile of Argo's canary logic: abort, full promotion, or the next steps up to a pause.
pub fn reconcile(rollout: &mut Value) -> String {
    let steps = rollout["spec"]["strategy"]["canary"]["steps"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let replicas = rollout["spec"]["replicas"].as_u64().unwrap_or(1);
    let routing = !rollout["spec"]["strategy"]["canary"]["trafficRouting"].is_null();
    let status = &mut rollout["status"];
    let paused = status["pauseConditions"]
        .as_array()
        .is_some_and(|p| !p.is_empty());
    if status["abort"] == json!(true) {
        apply_weight(status, replicas, routing, 0);
        remove(status, "pauseConditions");
        status["phase"] = json!("Degraded");
        return "aborted".into();
    }
    if status["promoteFull"] == json!(true) || (!paused && index(status) >= steps.len()) {
        complete(status, replicas, steps.len());
        return "promoted".into();
    }
    if paused {
        return "paused".into();
    }
    let mut i = index(status) + 1;
    while i < steps.len() {
        if let Some(w) = steps[i]["setWeight"].as_u64() {
            apply_weight(status, replicas, routing, w);
        } else if steps[i].get("pause").is_some() {
            status["currentStepIndex"] = json!(i);
            status["pauseConditions"] =
                json!([{"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}]);
            return format!("paused at step {i}");
        }
        i += 1;
    }
    complete(status, replicas, steps.len());
    "promoted".into()
}

fn index(status: &Value) -> usize {
    status["currentStepIndex"].as_u64().unwrap_or(0) as usize
}

fn remove(status: &mut Value, key: &str) {
    if let Some(o) = status.as_object_mut() {
        o.remove(key);
    }
}

/// Weights and pod counts for `setWeight: w` (Argo's `DesiredReplicaCountsForCanary`).
fn apply_weight(status: &mut Value, replicas: u64, routing: bool, w: u64) {
    let canary = (replicas * w).div_ceil(100);
    let stable = if routing {
        replicas
    } else {
        (replicas * (100 - w)).div_ceil(100)
    };
    status["updatedReplicas"] = json!(canary);
    status["replicas"] = json!(canary + stable);
    status["readyReplicas"] = json!(canary + stable);
    status["availableReplicas"] = json!(canary + stable);
    if routing {
        status["canary"]["weights"] = json!({
            "canary": {"weight": w, "podTemplateHash": status["currentPodHash"]},
            "stable": {"weight": 100 - w, "podTemplateHash": status["stableRS"]},
        });
    }
}

fn complete(status: &mut Value, replicas: u64, steps: usize) {
    status["currentStepIndex"] = json!(steps);
    status["stableRS"] = status["currentPodHash"].clone();
    for key in ["pauseConditions", "promoteFull"] {
        remove(status, key);
    }
    for key in [
        "replicas",
        "updatedReplicas",
        "readyReplicas",
        "availableReplicas",
    ] {
        status[key] = json!(replicas);
    }
    if status["canary"]["weights"].is_object() {
        status["canary"]["weights"]["canary"]["weight"] = json!(0);
        status["canary"]["weights"]["stable"]["weight"] = json!(100);
    }
    status["phase"] = json!("Healthy");
}
