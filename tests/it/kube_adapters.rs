//! The Kubernetes and Argo Rollouts traffic adapters against a fake API server
//! over real HTTP (see `support::fake_kube`).

use deploy_agent::traffic::argo::{ArgoConfig, ArgoRolloutRouter};
use deploy_agent::traffic::kubernetes::{self, GatewayRouter, KubernetesConfig, ReplicaRouter};
use deploy_agent::traffic::{TrafficError, TrafficRouter};
use serde_json::{json, Value};

use crate::support::fake_kube::{deployment, httproute, rollout, FakeKube};

const TOKEN: &str = "sa-token";
const NS: &str = "shop";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/shop/deployments";
const ROUTE: &str = "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/checkout";
const ROLLOUT: &str = "/apis/argoproj.io/v1alpha1/namespaces/shop/rollouts/checkout";

fn config(httproute: Option<&str>) -> KubernetesConfig {
    KubernetesConfig {
        namespace: NS.into(),
        stable_deployment: "checkout".into(),
        canary_deployment: "checkout-canary".into(),
        container: Some("app".into()),
        httproute: httproute.map(str::to_string),
        rule_index: 1,
        ..KubernetesConfig::default()
    }
}

/// Stable `v1` with 3 replicas, canary `v2` with `canary_replicas`, a route at 100/0.
async fn cluster(canary_replicas: u32) -> FakeKube {
    let kube = FakeKube::start(TOKEN).await;
    kube.insert(deployment(NS, "checkout", "shop/checkout:v1", 3));
    kube.insert(deployment(
        NS,
        "checkout-canary",
        "shop/checkout:v2",
        canary_replicas,
    ));
    kube.insert(httproute(
        NS,
        "checkout",
        ("checkout", 100),
        ("checkout-canary", 0),
    ));
    kube
}

fn gateway(kube: &FakeKube) -> GatewayRouter {
    GatewayRouter::new(config(Some("checkout")), kube.client(TOKEN)).unwrap()
}

/// (canary, stable) weights of rule 1.
fn route_weights(kube: &FakeKube) -> (Value, Value) {
    let route = kube.object(ROUTE);
    let refs = &route["spec"]["rules"][1]["backendRefs"];
    (refs[1]["weight"].clone(), refs[0]["weight"].clone())
}

fn replicas(kube: &FakeKube, name: &str) -> Value {
    kube.object(&format!("{DEPLOYMENTS}/{name}"))["spec"]["replicas"].clone()
}

fn app_image(kube: &FakeKube, name: &str) -> Value {
    kube.object(&format!("{DEPLOYMENTS}/{name}"))["spec"]["template"]["spec"]["containers"][1]
        ["image"]
        .clone()
}

#[tokio::test]
async fn gateway_weight_is_set_by_replacing_the_route_and_read_back() {
    let kube = cluster(0).await;
    let router = gateway(&kube);
    assert_eq!(router.canary_weight().await.unwrap(), 0);

    router.set_canary_weight(25).await.unwrap();

    assert_eq!(router.canary_weight().await.unwrap(), 25);
    assert_eq!(route_weights(&kube), (json!(25), json!(75)));
    // The canary at 0 replicas got a pod before it got traffic.
    assert_eq!(replicas(&kube, "checkout-canary"), json!(1));
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
async fn a_conflicting_write_is_reread_and_retried() {
    let kube = cluster(1).await;
    let router = gateway(&kube);
    kube.inject_conflicts(1);

    router.set_canary_weight(10).await.unwrap();

    assert_eq!(route_weights(&kube), (json!(10), json!(90)));
    let puts: Vec<_> = kube
        .writes()
        .into_iter()
        .filter(|w| w.method == "PUT")
        .collect();
    assert_eq!(puts.len(), 2, "one conflict, one success");
    assert_ne!(
        puts[0].body["metadata"]["resourceVersion"],
        Value::Null,
        "each attempt carries the version it read"
    );
}

#[tokio::test]
async fn a_stale_resource_version_is_a_409_status_and_endless_conflicts_give_up() {
    let kube = cluster(1).await;
    let client = kube.client(TOKEN);
    let mut route = client.get(ROUTE).await.unwrap();
    kube.update(ROUTE, |r| {
        r["spec"]["hostnames"] = json!(["other.example.com"])
    });
    route["spec"]["rules"][1]["backendRefs"][1]["weight"] = json!(50);
    let err = client.put(ROUTE, &route).await.unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert!(
        err.to_string().contains("the object has been modified"),
        "{err}"
    );

    kube.inject_conflicts(100);
    let err = gateway(&kube).set_canary_weight(30).await.unwrap_err();
    assert!(
        matches!(err, TrafficError::Rejected(ref m) if m.contains("409")),
        "{err}"
    );
}

#[tokio::test]
async fn gateway_promote_moves_the_image_to_stable_and_empties_the_canary() {
    let kube = cluster(1).await;
    let router = gateway(&kube);
    router.set_canary_weight(50).await.unwrap();

    router.promote().await.unwrap();

    assert_eq!(app_image(&kube, "checkout"), json!("shop/checkout:v2"));
    assert_eq!(
        kube.object(&format!("{DEPLOYMENTS}/checkout"))["spec"]["template"]["spec"]["containers"]
            [0]["image"],
        json!("envoy:1.30"),
        "only the named container changes"
    );
    assert_eq!(route_weights(&kube), (json!(0), json!(100)));
    assert_eq!(replicas(&kube, "checkout-canary"), json!(0));
    assert_eq!(router.canary_weight().await.unwrap(), 0);
    let image_patch = kube
        .writes()
        .into_iter()
        .find(|w| w.path == format!("{DEPLOYMENTS}/checkout"))
        .unwrap();
    assert_eq!(
        image_patch.content_type.as_deref(),
        Some("application/json-patch+json")
    );
    // Idempotent.
    router.promote().await.unwrap();
}

#[tokio::test]
async fn gateway_promote_waits_for_the_stable_rollout_and_moves_no_traffic_if_it_stalls() {
    let kube = cluster(1).await;
    let router = GatewayRouter::new(
        KubernetesConfig {
            rollout_timeout_seconds: 1,
            ..config(Some("checkout"))
        },
        kube.client(TOKEN),
    )
    .unwrap();
    router.set_canary_weight(50).await.unwrap();
    kube.stall_rollouts();

    let err = router.promote().await.unwrap_err();
    assert!(
        matches!(err, TrafficError::Rejected(ref m) if m.contains("has not finished rolling out")),
        "{err}"
    );
    // The image was handed over, but the canary keeps serving its share.
    assert_eq!(app_image(&kube, "checkout"), json!("shop/checkout:v2"));
    assert_eq!(route_weights(&kube), (json!(50), json!(50)));
    assert_eq!(replicas(&kube, "checkout-canary"), json!(1));
}

#[tokio::test]
async fn gateway_rollback_sends_everything_to_stable_and_keeps_its_image() {
    let kube = cluster(2).await;
    let router = gateway(&kube);
    router.set_canary_weight(40).await.unwrap();

    router.rollback().await.unwrap();

    assert_eq!(route_weights(&kube), (json!(0), json!(100)));
    assert_eq!(replicas(&kube, "checkout-canary"), json!(0));
    assert_eq!(app_image(&kube, "checkout"), json!("shop/checkout:v1"));
    let scale = kube
        .writes()
        .into_iter()
        .find(|w| w.path.ends_with("/scale"))
        .unwrap();
    assert_eq!(
        scale.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
}

#[tokio::test]
async fn replica_mode_splits_by_the_scale_subresource() {
    let kube = cluster(1).await;
    let router = ReplicaRouter::new(config(None), kube.client(TOKEN)).unwrap();
    assert_eq!(router.canary_weight().await.unwrap(), 25);

    router.set_canary_weight(50).await.unwrap();
    assert_eq!(
        (
            replicas(&kube, "checkout-canary"),
            replicas(&kube, "checkout")
        ),
        (json!(2), json!(2))
    );
    assert_eq!(router.canary_weight().await.unwrap(), 50);

    router.rollback().await.unwrap();
    assert_eq!(
        (
            replicas(&kube, "checkout-canary"),
            replicas(&kube, "checkout")
        ),
        (json!(0), json!(4))
    );

    router.set_canary_weight(25).await.unwrap();
    router.promote().await.unwrap();
    assert_eq!(app_image(&kube, "checkout"), json!("shop/checkout:v2"));
    assert_eq!(
        (
            replicas(&kube, "checkout-canary"),
            replicas(&kube, "checkout")
        ),
        (json!(0), json!(4))
    );
}

fn argo(kube: &FakeKube) -> ArgoRolloutRouter {
    let config = ArgoConfig {
        namespace: NS.into(),
        rollout: "checkout".into(),
        ..ArgoConfig::default()
    };
    ArgoRolloutRouter::new(config, kube.client(TOKEN)).unwrap()
}

#[tokio::test]
async fn argo_advances_one_step_per_weight_and_only_forward() {
    let kube = FakeKube::start(TOKEN).await;
    kube.insert(rollout(NS, "checkout", 1));
    let router = argo(&kube);
    assert_eq!(router.canary_weight().await.unwrap(), 20);

    router.set_canary_weight(50).await.unwrap();

    let writes = kube.writes();
    assert_eq!(writes.len(), 1);
    assert_eq!(writes[0].path, format!("{ROLLOUT}/status"));
    assert_eq!(
        writes[0].content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(writes[0].body, json!({"status": {"pauseConditions": null}}));
    assert!(kube.object(ROLLOUT)["status"]
        .get("pauseConditions")
        .is_none());

    // Not paused yet (the controller is moving): asking again sends nothing.
    router.set_canary_weight(50).await.unwrap();
    assert_eq!(kube.writes().len(), 1);

    // The controller reaches the next pause.
    kube.update(ROLLOUT, |r| {
        r["status"]["currentStepIndex"] = json!(3);
        r["status"]["pauseConditions"] = json!([{"reason": "CanaryPauseStep"}]);
    });
    assert_eq!(router.canary_weight().await.unwrap(), 50);

    for bad in [30, 80] {
        let err = router.set_canary_weight(bad).await.unwrap_err();
        assert!(
            matches!(err, TrafficError::Rejected(ref m) if m.contains("[20%, 50%]") && m.contains("next step is 100%")),
            "{err}"
        );
    }
}

#[tokio::test]
async fn argo_rollback_aborts_and_promote_is_full() {
    let kube = FakeKube::start(TOKEN).await;
    kube.insert(rollout(NS, "checkout", 1));
    let router = argo(&kube);

    router.rollback().await.unwrap();
    assert_eq!(kube.object(ROLLOUT)["status"]["abort"], json!(true));
    assert_eq!(router.canary_weight().await.unwrap(), 0);
    assert_eq!(
        kube.object(ROLLOUT)["spec"]["replicas"],
        json!(4),
        "status writes leave spec alone"
    );

    router.promote().await.unwrap();
    assert_eq!(kube.object(ROLLOUT)["status"]["promoteFull"], json!(true));
    assert!(kube.writes().iter().all(|w| w.path.ends_with("/status")));
}

#[tokio::test]
async fn a_refused_token_and_a_missing_object_are_clear_errors() {
    let kube = cluster(1).await;
    let router = GatewayRouter::new(config(Some("checkout")), kube.client("wrong")).unwrap();
    let err = router.canary_weight().await.unwrap_err();
    assert!(
        matches!(err, TrafficError::Rejected(ref m) if m.contains("401 Unauthorized") && m.contains("token")),
        "{err}"
    );

    let router = GatewayRouter::new(config(Some("chekout")), kube.client(TOKEN)).unwrap();
    let err = router.set_canary_weight(10).await.unwrap_err();
    assert!(
        matches!(err, TrafficError::Rejected(ref m) if m.contains("not found (404)") && m.contains("httproutes/chekout")),
        "{err}"
    );

    let err = argo(&kube).canary_weight().await.unwrap_err();
    assert!(
        matches!(err, TrafficError::Rejected(ref m) if m.contains("404")),
        "{err}"
    );
}

#[tokio::test]
async fn an_unreachable_server_is_unreachable() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let endpoint = deploy_agent::traffic::kube_client::KubeEndpoint {
        server: format!("http://{addr}"),
        token: Some(TOKEN.into()),
        ..Default::default()
    };
    let client = deploy_agent::traffic::kube_client::KubeClient::new(
        endpoint,
        std::time::Duration::from_millis(500),
        1,
    )
    .unwrap();
    let err = GatewayRouter::new(config(Some("checkout")), client)
        .unwrap()
        .canary_weight()
        .await
        .unwrap_err();
    assert!(matches!(err, TrafficError::Unreachable(_)), "{err}");
}

#[tokio::test]
async fn the_settings_path_reads_a_kubeconfig_and_picks_the_mode() {
    let kube = cluster(1).await;
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: other\ncontexts:\n- name: other\n  context: {{cluster: nowhere}}\n- name: fake\n  context: {{cluster: fake, user: agent}}\nclusters:\n- name: fake\n  cluster: {{server: '{}'}}\n- name: nowhere\n  cluster: {{server: 'http://127.0.0.1:9'}}\nusers:\n- name: agent\n  user: {{tokenFile: token}}\n",
            kube.url()
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("token"), format!("{TOKEN}\n")).unwrap();
    let settings = |httproute: Option<&str>| KubernetesConfig {
        kubeconfig: Some(kubeconfig.clone()),
        context: Some("fake".into()),
        ..config(httproute)
    };

    let (router, label) = kubernetes::router(settings(Some("checkout"))).unwrap();
    assert_eq!(label, format!("kubernetes:{}/shop", kube.url()));
    router.set_canary_weight(5).await.unwrap();
    assert_eq!(route_weights(&kube), (json!(5), json!(95)));

    let (router, _) = kubernetes::router(settings(None)).unwrap();
    assert_eq!(
        router.canary_weight().await.unwrap(),
        25,
        "replica mode: 1 of 4"
    );
}
