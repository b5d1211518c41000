//! The Kubernetes and Argo Rollouts traffic adapters (kube-rs) against a fake
//! API server over real HTTP (see `support::fake_kube`): the connection and
//! its failures here, the routers in the submodules.

mod argo;
mod gateway;
mod replicas;

use std::time::Duration;

use deploy_agent::traffic::kube_client::KubeClient;
use deploy_agent::traffic::kubernetes::{self, GatewayRouter, KubernetesConfig};
use deploy_agent::traffic::{TrafficError, TrafficRouter};
use serde_json::{json, Value};

use crate::support::fake_kube::{deployment, httproute, FakeKube, Pods};

const TOKEN: &str = "sa-token";
const NS: &str = "shop";
const DEPLOYMENTS: &str = "/apis/apps/v1/namespaces/shop/deployments";
const ROUTE: &str = "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/checkout";

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

/// Stable `v1` with `stable` replicas, canary `v2` with `canary` replicas, a route at 100/0.
async fn cluster_of(stable: u32, canary: u32) -> FakeKube {
    let kube = FakeKube::start(TOKEN).await;
    kube.insert(deployment(NS, "checkout", "shop/checkout:v1", stable));
    kube.insert(deployment(
        NS,
        "checkout-canary",
        "shop/checkout:v2",
        canary,
    ));
    kube.insert(httproute(
        NS,
        "checkout",
        ("checkout", 100),
        ("checkout-canary", 0),
    ));
    kube
}

/// Stable with 3 replicas, canary with `canary_replicas`.
async fn cluster(canary_replicas: u32) -> FakeKube {
    cluster_of(3, canary_replicas).await
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

fn deployment_path(name: &str) -> String {
    format!("{DEPLOYMENTS}/{name}")
}

fn replicas(kube: &FakeKube, name: &str) -> Value {
    kube.object(&deployment_path(name))["spec"]["replicas"].clone()
}

fn app_image(kube: &FakeKube, name: &str) -> Value {
    kube.object(&deployment_path(name))["spec"]["template"]["spec"]["containers"][1]["image"]
        .clone()
}

fn misconfigured(result: Result<impl std::fmt::Debug, TrafficError>, wants: &[&str]) {
    match result {
        Err(TrafficError::Misconfigured(m)) => {
            for w in wants {
                assert!(m.contains(w), "`{w}` not in: {m}");
            }
        }
        other => panic!("expected Misconfigured with {wants:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_refused_token_and_a_missing_object_are_misconfigured_with_what_to_fix() {
    let kube = cluster(1).await;
    let router = GatewayRouter::new(config(Some("checkout")), kube.client("wrong")).unwrap();
    misconfigured(
        router.canary_weight().await,
        &["401 Unauthorized", "create token"],
    );

    let router = GatewayRouter::new(config(Some("chekout")), kube.client(TOKEN)).unwrap();
    misconfigured(
        router.set_canary_weight(10).await,
        &["not found (404)", "httproutes `chekout`"],
    );
    misconfigured(
        router.preflight().await,
        &["kubernetes.httproute = `chekout`"],
    );
}

#[tokio::test]
async fn an_unreachable_server_is_unreachable_after_bounded_retries() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let yaml = format!(
        "current-context: x\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\nclusters: [{{name: c, cluster: {{server: 'http://{addr}'}}}}]\nusers: [{{name: u, user: {{token: t}}}}]\n"
    );
    let config_yaml = kube::config::Kubeconfig::from_yaml(&yaml).unwrap();
    let client =
        KubeClient::from_kubeconfig(config_yaml, None, Duration::from_millis(500), 1).unwrap();
    let err = GatewayRouter::new(config(Some("checkout")), client)
        .unwrap()
        .canary_weight()
        .await
        .unwrap_err();
    assert!(matches!(err, TrafficError::Unreachable(_)), "{err}");
    assert!(err.is_transient());
}

#[tokio::test]
async fn answers_429_and_500_are_retried_within_max_retries_and_not_beyond() {
    let kube = cluster(1).await;
    let router =
        GatewayRouter::new(config(Some("checkout")), kube.client_with_retries(TOKEN, 2)).unwrap();
    kube.fail_next(429, 1);
    kube.fail_next(500, 1);
    let before = kube.requests().len();
    assert_eq!(router.canary_weight().await.unwrap(), 0);
    assert_eq!(
        kube.requests().len() - before,
        3,
        "two refused, the third answered"
    );

    kube.fail_next(500, 3);
    let err = router.canary_weight().await.unwrap_err();
    assert!(
        matches!(err, TrafficError::Unreachable(ref m) if m.contains("500")),
        "{err}"
    );
    assert!(err.is_transient());
}

#[tokio::test]
async fn an_exec_plugin_kubeconfig_authenticates_with_the_plugins_token() {
    let kube = cluster(1).await;
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("token-plugin");
    std::fs::write(
        &plugin,
        format!("#!/bin/sh\necho '{{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{TOKEN}\"}}}}'\n"),
    )
    .unwrap();
    std::fs::set_permissions(&plugin, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let kubeconfig = dir.path().join("config");
    std::fs::write(
        &kubeconfig,
        format!(
            "current-context: eks\ncontexts: [{{name: eks, context: {{cluster: c, user: u}}}}]\nclusters: [{{name: c, cluster: {{server: '{}'}}}}]\nusers:\n- name: u\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: {}\n      interactiveMode: Never\n",
            kube.url(),
            plugin.display()
        ),
    )
    .unwrap();
    let (router, _) = kubernetes::router(KubernetesConfig {
        kubeconfig: Some(kubeconfig),
        ..config(Some("checkout"))
    })
    .unwrap();
    router.preflight().await.unwrap();
    assert_eq!(router.canary_weight().await.unwrap(), 0);
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
    let settings = |httproute: Option<&str>, context: &str| KubernetesConfig {
        kubeconfig: Some(kubeconfig.clone()),
        context: Some(context.into()),
        ..config(httproute)
    };

    let (router, label) = kubernetes::router(settings(Some("checkout"), "fake")).unwrap();
    assert_eq!(label, format!("kubernetes:{}/shop", kube.url()));
    router.set_canary_weight(5).await.unwrap();
    assert_eq!(route_weights(&kube), (json!(5), json!(95)));

    let (router, _) = kubernetes::router(settings(None, "fake")).unwrap();
    assert_eq!(
        router.canary_weight().await.unwrap(),
        25,
        "replica mode: 1 Ready canary pod of 4"
    );

    let err = kubernetes::router(settings(None, "prod")).err().unwrap();
    assert!(
        matches!(err, TrafficError::Misconfigured(ref m) if m.contains("no context `prod`")),
        "{err}"
    );
}

#[tokio::test]
async fn waiting_for_pods_lists_then_watches_the_one_deployment() {
    let kube = cluster(0).await;
    kube.pods_of("checkout-canary", Pods::Late(Duration::from_millis(300)));

    gateway(&kube).set_canary_weight(10).await.unwrap();

    let reads: Vec<_> = kube
        .requests()
        .into_iter()
        .filter(|r| r.path == DEPLOYMENTS)
        .collect();
    assert!(reads.len() >= 2, "{reads:?}");
    let (list, watch) = (&reads[0], &reads[1]);
    assert!(!list.is_watch(), "{list:?}");
    assert!(
        list.query
            .contains("fieldSelector=metadata.name%3Dcheckout-canary"),
        "{}",
        list.query
    );
    assert!(watch.is_watch(), "{watch:?}");
    for part in [
        "fieldSelector=metadata.name%3Dcheckout-canary",
        "resourceVersion=",
        "timeoutSeconds=",
    ] {
        assert!(watch.query.contains(part), "{part} not in {}", watch.query);
    }
}
