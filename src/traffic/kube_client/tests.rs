//! Loading connection settings: what kube-rs accepts, what we refuse early.

use std::time::Duration;

use base64::Engine as _;
use kube::config::Kubeconfig;

use super::*;

/// A self-signed CA certificate (test only), so TLS setup really parses it.
const CA_PEM: &str = include_str!("testdata/ca.pem");

fn client(yaml: &str, context: Option<&str>) -> Result<KubeClient, TrafficError> {
    let config = Kubeconfig::from_yaml(yaml).expect("kubeconfig parses");
    KubeClient::from_kubeconfig(config, context, Duration::from_millis(1500), 2)
}

#[tokio::test]
async fn a_kubeconfig_with_token_and_ca_data_loads_with_our_timeouts() {
    let ca = base64::engine::general_purpose::STANDARD.encode(CA_PEM);
    let yaml = format!(
        "apiVersion: v1\nkind: Config\ncurrent-context: kind\ncontexts:\n- name: kind\n  context: {{cluster: c1, user: u1, namespace: shop}}\nclusters:\n- name: c1\n  cluster:\n    server: https://127.0.0.1:6443\n    certificate-authority-data: {ca}\nusers:\n- name: u1\n  user:\n    token: abc\n"
    );
    let client = client(&yaml, None).unwrap();
    assert_eq!(client.server(), "https://127.0.0.1:6443");

    let config = client.resolve_config().await.unwrap();
    assert_eq!(config.default_namespace, "shop");
    assert_eq!(config.root_cert.as_ref().map(Vec::len), Some(1), "the CA");
    assert!(config.auth_info.token.is_some());
    assert_eq!(config.read_timeout, Some(Duration::from_millis(1500)));
    assert_eq!(config.connect_timeout, Some(Duration::from_millis(1500)));
    assert!(!config.default_retry, "our retry helper is the only one");
    client.connect().await.expect("TLS setup accepts the CA");
}

#[tokio::test]
async fn a_kubeconfig_with_an_exec_plugin_is_accepted() {
    // A credential plugin as EKS/GKE use them (here `sh` printing an ExecCredential).
    let yaml = r#"current-context: eks
contexts: [{name: eks, context: {cluster: c, user: u}}]
clusters: [{name: c, cluster: {server: 'https://k.example:443'}}]
users:
- name: u
  user:
    exec:
      apiVersion: client.authentication.k8s.io/v1beta1
      command: sh
      args: ["-c", "echo '{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"from-exec\"}}'"]
      interactiveMode: Never
"#;
    let client = client(yaml, None).unwrap();
    let config = client.resolve_config().await.unwrap();
    assert_eq!(
        config
            .auth_info
            .exec
            .as_ref()
            .and_then(|e| e.command.as_deref()),
        Some("sh")
    );
    client
        .connect()
        .await
        .expect("an exec user builds a client");
}

#[test]
fn a_missing_context_or_cluster_is_misconfigured_before_anything_runs() {
    let yaml = "current-context: a\ncontexts: [{name: a, context: {cluster: gone}}]\nclusters: [{name: c, cluster: {server: 'https://k'}}]\n";
    let err = client(yaml, Some("prod")).unwrap_err();
    assert!(
        matches!(err, TrafficError::Misconfigured(ref m) if m.contains("no context `prod`") && m.contains("it has: a")),
        "{err}"
    );
    let err = client(yaml, None).unwrap_err();
    assert!(err.to_string().contains("cluster `gone`"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let err = KubeClient::from_settings(Some(&dir.path().join("nope")), None, 1000, 0).unwrap_err();
    assert!(
        matches!(err, TrafficError::Misconfigured(ref m) if m.contains("`kubeconfig` setting")),
        "{err}"
    );
}

#[test]
fn names_and_limits_are_checked() {
    assert!(validate_name("k.namespace", "shop-1").is_ok());
    assert!(validate_name("k.namespace", "Shop_1").is_err());
    assert!(check_limits("kubernetes", 0, 1).is_err());
    assert!(check_limits("kubernetes", 5000, 11).is_err());
}
