//! ReplicaRouter: the share is Ready pods; whole pods only, canary up before stable down.

use std::time::Duration;

use deploy_agent::traffic::kubernetes::{KubernetesConfig, ReplicaRouter};
use deploy_agent::traffic::{Granularity, Staging, TrafficError, TrafficRouter};
use serde_json::json;

use super::*;

fn router(kube: &FakeKube) -> ReplicaRouter {
    ReplicaRouter::new(config(None), kube.client(TOKEN)).unwrap()
}

fn counts(kube: &FakeKube) -> (Value, Value) {
    (
        replicas(kube, "checkout-canary"),
        replicas(kube, "checkout"),
    )
}

#[tokio::test]
async fn four_replicas_split_in_whole_pods_read_back_from_ready_pods() {
    let kube = cluster_of(4, 0).await;
    let router = router(&kube);
    router.preflight().await.unwrap();
    assert_eq!(
        router.granularity().await.unwrap(),
        Granularity::Replicas { total: 4 }
    );
    assert_eq!(router.canary_weight().await.unwrap(), 0);

    router.set_canary_weight(25).await.unwrap();
    assert_eq!(counts(&kube), (json!(1), json!(3)));
    assert_eq!(router.canary_weight().await.unwrap(), 25);

    router.set_canary_weight(50).await.unwrap();
    assert_eq!(counts(&kube), (json!(2), json!(2)));
    assert_eq!(router.canary_weight().await.unwrap(), 50);

    // Down: the canary shrinks first.
    router.set_canary_weight(25).await.unwrap();
    assert_eq!(counts(&kube), (json!(1), json!(3)));
    let scales: Vec<String> = kube
        .writes()
        .into_iter()
        .filter(|w| w.path.ends_with("/scale"))
        .map(|w| {
            format!(
                "{} {}",
                w.path
                    .trim_end_matches("/scale")
                    .rsplit('/')
                    .next()
                    .unwrap(),
                w.body["spec"]["replicas"]
            )
        })
        .collect();
    assert_eq!(
        scales,
        [
            "checkout-canary 1",
            "checkout 3",
            "checkout-canary 2",
            "checkout 2",
            "checkout-canary 1",
            "checkout 3"
        ]
    );

    let err = router.set_canary_weight(10).await.unwrap_err();
    assert!(
        matches!(err, TrafficError::Rejected(ref m) if m.contains("less than one pod") && m.contains("guard should have refused")),
        "{err}"
    );
    assert_eq!(counts(&kube), (json!(1), json!(3)), "never rounded up");

    router.rollback().await.unwrap();
    assert_eq!(counts(&kube), (json!(0), json!(4)));
    assert_eq!(router.canary_weight().await.unwrap(), 0);
}

#[tokio::test]
async fn the_share_counts_ready_pods_not_the_pods_asked_for() {
    let kube = cluster_of(4, 0).await;
    kube.pods_of("checkout-canary", Pods::Late(Duration::from_millis(300)));
    let router = router(&kube);
    kube.update(&deployment_path("checkout-canary"), |d| {
        d["spec"]["replicas"] = json!(1); // asked for, not Ready yet
        d["status"]["readyReplicas"] = json!(0);
    });
    assert_eq!(router.canary_weight().await.unwrap(), 0);

    // The canary is Ready before the stable gives up a pod.
    kube.update(&deployment_path("checkout-canary"), |d| {
        d["spec"]["replicas"] = json!(0)
    });
    router.set_canary_weight(25).await.unwrap();
    let log = kube.log();
    let ready = log.iter().position(|e| matches!(e, crate::support::fake_kube::Entry::Controller(c) if c == "ready deployments/checkout-canary 1")).unwrap();
    let stable_down = log.iter().position(|e| matches!(e, crate::support::fake_kube::Entry::Request(r) if r.path == format!("{}/scale", deployment_path("checkout")) && r.method == "PATCH")).unwrap();
    assert!(ready < stable_down, "{log:#?}");
    assert_eq!(router.canary_weight().await.unwrap(), 25);
}

#[tokio::test]
async fn replica_mode_stages_the_promotion_then_gives_the_stable_every_pod() {
    let kube = cluster_of(3, 0).await;
    let router = ReplicaRouter::new(
        KubernetesConfig {
            ready_timeout_seconds: 5,
            ..config(None)
        },
        kube.client(TOKEN),
    )
    .unwrap();
    assert_eq!(
        router.granularity().await.unwrap(),
        Granularity::Replicas { total: 3 }
    );
    router.set_canary_weight(34).await.unwrap();
    assert_eq!(counts(&kube), (json!(1), json!(2)));
    assert_eq!(
        router.canary_weight().await.unwrap(),
        34,
        "1 of 3, rounded up"
    );

    let plan = router.plan_promotion().await.unwrap();
    assert!(plan.staged);
    router.stage_promotion().await.unwrap();
    assert_eq!(router.staging().await.unwrap(), Staging::Ready);
    router.promote().await.unwrap();

    assert_eq!(counts(&kube), (json!(0), json!(3)));
    assert_eq!(app_image(&kube, "checkout"), json!("shop/checkout:v2"));
    assert!(router.promoted().await.unwrap());
    assert_eq!(router.canary_weight().await.unwrap(), 0);
}
