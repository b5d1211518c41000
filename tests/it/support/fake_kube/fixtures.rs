//! Objects as a cluster would hold them.

use serde_json::{json, Value};

pub fn deployment(ns: &str, name: &str, image: &str, replicas: u32) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "checkout"}, "generation": 1},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "checkout", "track": name}},
            "template": {
                "metadata": {"labels": {"app": "checkout", "track": name}},
                "spec": {"containers": [
                    {"name": "sidecar", "image": "envoy:1.30"},
                    {"name": "app", "image": image, "ports": [{"containerPort": 8080}]},
                ]},
            },
        },
        "status": {
            "observedGeneration": 1,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable"}],
        },
    })
}

pub fn httproute(ns: &str, name: &str, stable: (&str, u64), canary: (&str, u64)) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "hostnames": ["checkout.example.com"],
            "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/admin"}}],
                 "backendRefs": [{"name": "admin", "port": 80}]},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                 "backendRefs": [
                    {"name": stable.0, "port": 80, "weight": stable.1},
                    {"name": canary.0, "port": 80, "weight": canary.1},
                 ]},
            ],
        },
    })
}

/// A Rollout with nginx traffic routing and steps pause, setWeight 20, pause,
/// setWeight 50, pause; an update in progress, paused at `step`.
pub fn rollout(ns: &str, name: &str, step: u64) -> Value {
    let steps = json!([
        {"pause": {}}, {"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {}},
    ]);
    let mut r = rollout_with(ns, name, 4, true, steps);
    let weight = match step {
        0 | 1 => 0,
        2 | 3 => 20,
        _ => 50,
    };
    r["status"]["currentStepIndex"] = json!(step);
    r["status"]["canary"] = json!({"weights": {
        "canary": {"weight": weight, "podTemplateHash": "7c9b5d"},
        "stable": {"weight": 100 - weight, "podTemplateHash": "6d4f8a"},
    }});
    r
}

/// A Rollout of `replicas` with `steps` (nginx traffic routing if `routing`),
/// whose image just changed: paused at step 0, nothing shifted yet.
pub fn rollout_with(ns: &str, name: &str, replicas: u64, routing: bool, steps: Value) -> Value {
    let mut canary =
        json!({"canaryService": "checkout-canary", "stableService": "checkout", "steps": steps});
    if routing {
        canary["trafficRouting"] = json!({"nginx": {"stableIngress": "checkout"}});
    }
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": ns, "generation": 2},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "checkout"}},
            "template": {"metadata": {"labels": {"app": "checkout"}},
                         "spec": {"containers": [{"name": "app", "image": "shop/checkout:v2"}]}},
            "strategy": {"canary": canary},
        },
        "status": {
            "currentStepIndex": 0,
            "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}],
            "controllerPause": true,
            "stableRS": "6d4f8a",
            "currentPodHash": "7c9b5d",
            "replicas": replicas,
            "updatedReplicas": 0,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
            "phase": "Paused",
        },
    })
}
