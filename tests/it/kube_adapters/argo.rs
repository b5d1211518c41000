//! ArgoRolloutRouter against the fake API server and its minimal Argo controller.

use std::time::Duration;

use deploy_agent::traffic::argo::{ArgoConfig, ArgoRolloutRouter};
use deploy_agent::traffic::{Granularity, TrafficError, TrafficRouter};
use serde_json::{json, Value};

use super::*;
use crate::support::fake_kube::{rollout, rollout_with};

const ROLLOUT: &str = "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/checkout";

fn argo(kube: &FakeKube) -> ArgoRolloutRouter {
    let config = ArgoConfig {
        namespace: NS.into(),
        rollout: "checkout".into(),
        settle_seconds: 2,
        ..ArgoConfig::default()
    };
    ArgoRolloutRouter::new(config, kube.client(TOKEN)).unwrap()
}

/// Polls the read-back as the loop does, up to the router's settle time.
async fn settled(router: &ArgoRolloutRouter, wanted: u8) -> u8 {
    let mut weight = router.canary_weight().await.unwrap();
    for _ in 0..(router.settle_seconds() * 20.0) as u32 {
        if weight == wanted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        weight = router.canary_weight().await.unwrap();
    }
    weight
}

#[tokio::test]
async fn argo_advances_one_step_per_weight_and_only_forward() {
    let kube = FakeKube::start(TOKEN).await;
    kube.insert(rollout(NS, "checkout", 0));
    kube.argo_controller(Duration::from_millis(200));
    let router = argo(&kube);
    router.preflight().await.unwrap();
    assert_eq!(router.canary_weight().await.unwrap(), 0);
    assert_eq!(
        router.granularity().await.unwrap(),
        Granularity::Steps {
            steps: vec![20, 50],
            next: Some(20)
        }
    );

    router.set_canary_weight(20).await.unwrap();
    let writes = kube.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].path, format!("{ROLLOUT}/status"));
    assert_eq!(
        writes[0].content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(writes[0].body, json!({"status": {"pauseConditions": null}}));
    assert_eq!(
        router.canary_weight().await.unwrap(),
        0,
        "the controller has not acted yet"
    );

    // Not paused yet (the controller is moving): asking again sends nothing.
    router.set_canary_weight(20).await.unwrap();
    assert_eq!(kube.writes().len(), 1);

    assert_eq!(settled(&router, 20).await, 20);
    assert_eq!(kube.object(ROLLOUT)["status"]["currentStepIndex"], json!(2));
    assert_eq!(
        router.granularity().await.unwrap(),
        Granularity::Steps {
            steps: vec![20, 50],
            next: Some(50)
        }
    );

    for bad in [30, 80, 100] {
        let err = router.set_canary_weight(bad).await.unwrap_err();
        assert!(
            matches!(err, TrafficError::Rejected(ref m) if m.contains("[20%, 50%]") && m.contains("next step serves 50%")),
            "{err}"
        );
    }
    router.set_canary_weight(50).await.unwrap();
    assert_eq!(settled(&router, 50).await, 50);
    assert!(!router.promoted().await.unwrap());
    let err = router.set_canary_weight(100).await.unwrap_err();
    assert!(
        matches!(err, TrafficError::Rejected(ref m) if m.contains("promote to finish")),
        "{err}"
    );
}

#[tokio::test]
async fn argo_rollback_aborts_and_reads_what_the_controller_shows() {
    let kube = FakeKube::start(TOKEN).await;
    kube.insert(rollout(NS, "checkout", 2));
    kube.argo_controller(Duration::from_millis(300));
    let router = argo(&kube);
    assert_eq!(router.canary_weight().await.unwrap(), 20);

    router.rollback().await.unwrap();
    assert_eq!(kube.object(ROLLOUT)["status"]["abort"], json!(true));
    assert_eq!(
        router.canary_weight().await.unwrap(),
        20,
        "accepted, not yet carried out: the status still shows the canary's share"
    );
    assert_eq!(settled(&router, 0).await, 0);
    router.rollback().await.unwrap();
    assert_eq!(
        kube.object(ROLLOUT)["spec"]["replicas"],
        json!(4),
        "status writes leave spec alone"
    );
    assert!(kube.writes().iter().all(|w| w.path.ends_with("/status")));
}

#[tokio::test]
async fn argo_promote_is_full_and_reads_back_promoted() {
    let kube = FakeKube::start(TOKEN).await;
    kube.insert(rollout(NS, "checkout", 4));
    kube.argo_controller(Duration::from_millis(200));
    let router = argo(&kube);
    assert!(!router.plan_promotion().await.unwrap().staged);

    router.promote().await.unwrap();
    assert_eq!(
        kube.writes()[0].body,
        json!({"status": {"promoteFull": true}})
    );
    assert!(
        !router.promoted().await.unwrap(),
        "the controller has not acted yet"
    );
    let mut promoted = false;
    for _ in 0..40 {
        promoted = router.promoted().await.unwrap();
        if promoted {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(promoted);
    assert_eq!(
        router.canary_weight().await.unwrap(),
        0,
        "no canary left: all is stable"
    );
}

#[tokio::test]
async fn a_rollout_that_shifts_traffic_before_the_agent_runs_is_misconfigured() {
    let kube = FakeKube::start(TOKEN).await;
    misconfigured(
        argo(&kube).preflight().await,
        &["argo rollout shop/checkout: not found", "argo.rollout"],
    );
    let steps = json!([{"setWeight": 5}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]);
    kube.insert(rollout_with(NS, "checkout", 4, true, steps));
    misconfigured(
        argo(&kube).preflight().await,
        &[
            "argo rollout shop/checkout",
            "first step is not `pause: {}`",
            "before the agent",
            "add `- pause: {}` as step 0",
        ],
    );

    // No update in progress: nothing to roll out yet.
    kube.update(ROLLOUT, |r| {
        r["spec"]["strategy"]["canary"]["steps"] =
            json!([{"pause": {}}, {"setWeight": 5}, {"pause": {}}]);
        r["status"]["stableRS"] = r["status"]["currentPodHash"].clone();
    });
    misconfigured(
        argo(&kube).preflight().await,
        &[
            "no update in progress",
            "kubectl argo rollouts set image checkout",
        ],
    );
    assert!(kube.writes().is_empty());
}

#[tokio::test]
async fn a_basic_canary_of_4_replicas_at_set_weight_5_serves_20_percent() {
    // Argo gives the canary ceil(4·5 %) = 1 pod and the stable ceil(4·95 %) = 4.
    let kube = FakeKube::start(TOKEN).await;
    let steps = json!([{"pause": {}}, {"setWeight": 5}, {"pause": {}}, {"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]);
    kube.insert(rollout_with(NS, "checkout", 4, false, steps));
    kube.argo_controller(Duration::from_millis(100));
    let router = argo(&kube);
    router.preflight().await.unwrap();
    let granularity = router.granularity().await.unwrap();
    assert_eq!(
        granularity,
        Granularity::Steps {
            steps: vec![20, 25, 50],
            next: Some(20)
        }
    );
    assert!(!granularity.exact(0, 5), "the guard cannot allow 5 %");

    let err = router.set_canary_weight(5).await.unwrap_err();
    assert!(
        matches!(err, TrafficError::Rejected(ref m) if m.contains("next step serves 20%")),
        "{err}"
    );
    router.set_canary_weight(20).await.unwrap();
    assert_eq!(settled(&router, 20).await, 20);
    let status = &kube.object(ROLLOUT)["status"];
    assert_eq!(
        (&status["updatedReplicas"], &status["replicas"]),
        (&json!(1), &json!(5))
    );
}

#[tokio::test]
async fn the_shipped_argo_rollout_passes_preflight_with_exact_weights() {
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/argo-rollout.yaml"
    ))
    .unwrap();
    let docs: Vec<Value> = serde_saphyr::from_multiple(&text).unwrap();
    let mut shipped = docs
        .into_iter()
        .find(|d| d["kind"] == "Rollout")
        .expect("a Rollout in deploy/argo-rollout.yaml");
    assert_eq!(shipped["metadata"]["namespace"], "shop");
    // The image was just changed: the controller paused it at step 0.
    shipped["status"] = json!({
        "currentStepIndex": 0, "stableRS": "6d4f8a", "currentPodHash": "7c9b5d",
        "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}],
    });
    let kube = FakeKube::start(TOKEN).await;
    kube.insert(shipped);
    let router = argo(&kube);

    router.preflight().await.unwrap();
    match router.granularity().await.unwrap() {
        Granularity::Steps { steps, next } => {
            assert_eq!(next, Some(steps[0]));
            assert_eq!(
                steps,
                vec![5, 25, 50],
                "traffic routing serves the setWeights exactly"
            );
        }
        other => panic!("{other:?}"),
    }
}
