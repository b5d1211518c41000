//! GatewayRouter: HTTPRoute weights, canary pods Ready before traffic, the staged promotion.

use std::time::Duration;

use deploy_agent::traffic::kubernetes::{GatewayRouter, KubernetesConfig, MAX_CONFLICTS};
use deploy_agent::traffic::{Granularity, Staging, TrafficError, TrafficRouter};
use serde_json::{json, Value};

use super::*;
use crate::support::fake_kube::Entry;

#[tokio::test]
async fn gateway_weight_is_set_by_replacing_the_route_and_read_back() {
    let kube = cluster(0).await;
    let router = gateway(&kube);
    router.preflight().await.unwrap();
    assert_eq!(router.canary_weight().await.unwrap(), 0);
    assert_eq!(router.granularity().await.unwrap(), Granularity::Percent);

    router.set_canary_weight(25).await.unwrap();

    assert_eq!(router.canary_weight().await.unwrap(), 25);
    assert_eq!(route_weights(&kube), (json!(25), json!(75)));
    assert_eq!(
        replicas(&kube, "checkout-canary"),
        json!(1),
        "a pod before traffic"
    );
    let route = kube.object(ROUTE);
    assert_eq!(
        route["spec"]["rules"][0]["backendRefs"][0]["name"], "admin",
        "other rules untouched"
    );
    assert_eq!(route["spec"]["hostnames"][0], "checkout.example.com");
    let put = kube
        .writes()
        .into_iter()
        .find(|w| w.method == "PUT")
        .unwrap();
    assert_eq!(put.path, ROUTE);
    assert!(
        put.body["metadata"]["resourceVersion"].is_string(),
        "PUT is conditional"
    );

    // Idempotent: the same weight again writes nothing.
    let before = kube.writes().len();
    router.set_canary_weight(25).await.unwrap();
    assert_eq!(kube.writes().len(), before);
}

#[tokio::test]
async fn a_409_storm_within_the_bound_is_reread_and_retried_and_beyond_it_fails() {
    let kube = cluster(1).await;
    let router = gateway(&kube);
    kube.inject_conflicts(MAX_CONFLICTS);

    router.set_canary_weight(10).await.unwrap();

    assert_eq!(route_weights(&kube), (json!(10), json!(90)));
    let puts = kube
        .writes()
        .into_iter()
        .filter(|w| w.method == "PUT")
        .count();
    assert_eq!(
        puts as u32,
        MAX_CONFLICTS + 1,
        "every conflict re-read, then success"
    );

    kube.inject_conflicts(MAX_CONFLICTS + 1);
    let err = router.set_canary_weight(30).await.unwrap_err();
    assert!(
        matches!(err, TrafficError::Rejected(ref m) if m.contains("409") && m.contains("kept changing")),
        "{err}"
    );
    assert_eq!(
        route_weights(&kube),
        (json!(10), json!(90)),
        "nothing half-written"
    );
}

#[tokio::test]
async fn a_concurrent_writer_makes_the_replace_stale_and_its_change_survives() {
    let kube = cluster(1).await;
    kube.race_next_writes(1);

    gateway(&kube).set_canary_weight(15).await.unwrap();

    let route = kube.object(ROUTE);
    assert_eq!(
        route["metadata"]["annotations"]["other-writer"], "was here",
        "re-read, not overwritten"
    );
    assert_eq!(route_weights(&kube), (json!(15), json!(85)));
    let puts: Vec<_> = kube
        .writes()
        .into_iter()
        .filter(|w| w.method == "PUT")
        .collect();
    assert_eq!(
        puts.len(),
        2,
        "the stale one (409) and the one after re-reading"
    );
    assert_ne!(
        puts[0].body["metadata"]["resourceVersion"],
        puts[1].body["metadata"]["resourceVersion"]
    );
}

#[tokio::test]
async fn canary_pods_ready_late_get_no_traffic_until_they_are_ready() {
    let kube = cluster(0).await;
    kube.pods_of("checkout-canary", Pods::Late(Duration::from_millis(400)));
    let router = gateway(&kube);

    router.set_canary_weight(20).await.unwrap();

    assert_eq!(route_weights(&kube), (json!(20), json!(80)));
    let log = kube.log();
    let position = |wanted: &dyn Fn(&Entry) -> bool| log.iter().position(wanted).unwrap();
    let scaled = position(
        &|e| matches!(e, Entry::Request(r) if r.path.ends_with("checkout-canary/scale") && r.method == "PATCH"),
    );
    let ready = position(
        &|e| matches!(e, Entry::Controller(c) if c == "ready deployments/checkout-canary 1"),
    );
    let routed =
        position(&|e| matches!(e, Entry::Request(r) if r.path == ROUTE && r.method == "PUT"));
    assert!(
        scaled < ready && ready < routed,
        "scale {scaled}, ready {ready}, route {routed}: {log:#?}"
    );
}

#[tokio::test]
async fn canary_pods_never_ready_is_an_error_and_the_canary_goes_back_to_zero() {
    let kube = cluster(0).await;
    kube.pods_of("checkout-canary", Pods::Never);
    let router = GatewayRouter::new(
        KubernetesConfig {
            ready_timeout_seconds: 1,
            ..config(Some("checkout"))
        },
        kube.client(TOKEN),
    )
    .unwrap();

    let err = router.set_canary_weight(20).await.unwrap_err();

    assert!(
        matches!(err, TrafficError::Rejected(ref m) if m.contains("never became Ready") && m.contains("kubectl -n shop describe deployment checkout-canary")),
        "{err}"
    );
    assert_eq!(replicas(&kube, "checkout-canary"), json!(0));
    assert_eq!(
        route_weights(&kube),
        (json!(0), json!(100)),
        "the route was never touched"
    );
    assert!(kube.writes().iter().all(|w| w.path != ROUTE));
}

#[tokio::test]
async fn preflight_names_the_missing_object_and_the_setting() {
    let kube = cluster(1).await;
    let with = |change: fn(&mut KubernetesConfig)| {
        let mut c = config(Some("checkout"));
        change(&mut c);
        GatewayRouter::new(c, kube.client(TOKEN)).unwrap()
    };
    misconfigured(
        with(|c| c.canary_deployment = "checkout-next".into())
            .preflight()
            .await,
        &[
            "kubernetes.canary_deployment = `checkout-next`",
            "namespace shop",
        ],
    );
    misconfigured(
        with(|c| c.container = Some("web".into())).preflight().await,
        &["no container named `web`", "kubernetes.container"],
    );
    misconfigured(
        with(|c| c.rule_index = 0).preflight().await,
        &["no rules[0] with backendRefs named `checkout` and `checkout-canary`"],
    );
    misconfigured(
        with(|c| c.canary_backend = Some("canary-svc".into()))
            .preflight()
            .await,
        &["`canary-svc`"],
    );
    assert_eq!(kube.writes().len(), 0, "preflight changes nothing");
}

#[tokio::test]
async fn staging_waits_while_the_stable_rollout_stalls_and_fails_on_its_deadline() {
    let kube = cluster(1).await;
    let router = gateway(&kube);
    router.set_canary_weight(50).await.unwrap();
    let plan = router.plan_promotion().await.unwrap();
    assert!(plan.staged);
    assert_eq!(plan.timeout_seconds, 600.0);
    assert_eq!(
        plan.detail,
        "stable checkout: image shop/checkout:v1 → shop/checkout:v2"
    );
    assert_eq!(
        kube.writes()
            .iter()
            .filter(|w| w.path == deployment_path("checkout"))
            .count(),
        0,
        "planning writes nothing"
    );

    kube.pods_of("checkout", Pods::Never);
    router.stage_promotion().await.unwrap();
    router.stage_promotion().await.unwrap();
    let image_writes: Vec<_> = kube
        .writes()
        .into_iter()
        .filter(|w| w.path == deployment_path("checkout"))
        .collect();
    assert_eq!(image_writes.len(), 1, "staging again writes nothing");
    assert_eq!(
        image_writes[0].content_type.as_deref(),
        Some("application/json-patch+json")
    );
    assert_eq!(
        image_writes[0].body[0],
        json!({"op": "test", "path": "/spec/template/spec/containers/1/name", "value": "app"})
    );

    assert_eq!(
        router.staging().await.unwrap(),
        Staging::Waiting("0 of 3 replicas updated, 3 available".into())
    );
    assert!(!router.promoted().await.unwrap());
    assert_eq!(
        route_weights(&kube),
        (json!(50), json!(50)),
        "the canary keeps its share"
    );

    // The controller gives up on the stable's new ReplicaSet.
    kube.pods_of(
        "checkout",
        Pods::DeadlineExceeded(Duration::from_millis(200)),
    );
    router.undo_promotion(&plan.undo).await.unwrap();
    router.stage_promotion().await.unwrap();
    let mut staging = router.staging().await.unwrap();
    for _ in 0..40 {
        if matches!(staging, Staging::Failed(_)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        staging = router.staging().await.unwrap();
    }
    match staging {
        Staging::Failed(m) => assert!(
            m.contains("ProgressDeadlineExceeded") && m.contains("timed out"),
            "{m}"
        ),
        other => panic!("expected Failed, got {other:?}"),
    }
}

#[tokio::test]
async fn undo_restores_the_exact_previous_image_from_the_journaled_json_alone() {
    let kube = cluster(1).await;
    let undo: Value = {
        let router = gateway(&kube);
        let plan = router.plan_promotion().await.unwrap();
        router.stage_promotion().await.unwrap();
        assert_eq!(app_image(&kube, "checkout"), json!("shop/checkout:v2"));
        serde_json::from_str(&plan.undo.to_string()).unwrap() // as the journal stores it
    };
    assert_eq!(undo["image"], "shop/checkout:v1");

    // A new process: a fresh router and client, only the undo record.
    let fresh = gateway(&kube);
    fresh.undo_promotion(&undo).await.unwrap();
    assert_eq!(app_image(&kube, "checkout"), json!("shop/checkout:v1"));
    assert_eq!(
        kube.object(&deployment_path("checkout"))["spec"]["template"]["spec"]["containers"][0]
            ["image"],
        json!("envoy:1.30"),
        "only the named container changes"
    );
    let writes = kube.writes().len();
    fresh.undo_promotion(&undo).await.unwrap();
    fresh.undo_promotion(&Value::Null).await.unwrap();
    assert_eq!(kube.writes().len(), writes, "undo is idempotent");

    let mut other = undo.clone();
    other["deployment"] = json!("billing");
    misconfigured(
        fresh.undo_promotion(&other).await,
        &["billing", "kubectl -n shop set image"],
    );
}

#[tokio::test]
async fn promote_after_staging_is_ready_sends_all_traffic_to_stable_and_reads_back_promoted() {
    let kube = cluster(1).await;
    kube.pods_of("checkout", Pods::Late(Duration::from_millis(300)));
    let router = gateway(&kube);
    router.set_canary_weight(40).await.unwrap();
    let err = router.promote().await.unwrap_err();
    assert!(
        matches!(err, TrafficError::Rejected(ref m) if m.contains("stage the promotion")),
        "{err}"
    );

    router.stage_promotion().await.unwrap();
    assert!(matches!(
        router.staging().await.unwrap(),
        Staging::Waiting(_)
    ));
    let mut staging = router.staging().await.unwrap();
    for _ in 0..20 {
        if staging == Staging::Ready {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        staging = router.staging().await.unwrap();
    }
    assert_eq!(staging, Staging::Ready);

    router.promote().await.unwrap();

    assert!(router.promoted().await.unwrap());
    assert_eq!(route_weights(&kube), (json!(0), json!(100)));
    assert_eq!(replicas(&kube, "checkout-canary"), json!(0));
    assert_eq!(app_image(&kube, "checkout"), json!("shop/checkout:v2"));
    router.promote().await.unwrap();
    assert!(router.promoted().await.unwrap(), "idempotent");
}

#[tokio::test]
async fn gateway_rollback_sends_everything_to_stable_and_keeps_its_image() {
    let kube = cluster(2).await;
    let router = gateway(&kube);
    router.set_canary_weight(40).await.unwrap();

    router.rollback().await.unwrap();
    router.rollback().await.unwrap();

    assert_eq!(route_weights(&kube), (json!(0), json!(100)));
    assert_eq!(replicas(&kube, "checkout-canary"), json!(0));
    assert_eq!(app_image(&kube, "checkout"), json!("shop/checkout:v1"));
    assert_eq!(router.canary_weight().await.unwrap(), 0);
    let scale = kube
        .writes()
        .into_iter()
        .find(|w| w.path.ends_with("/scale"))
        .unwrap();
    assert_eq!(
        scale.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert!(router
        .manual_rollback()
        .contains("kubectl -n shop edit httproute checkout"));
}
