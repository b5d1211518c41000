//! Reading and checking `deploy-agent.toml`.

use super::*;

fn load(text: &str) -> Result<Settings, SettingsError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deploy-agent.toml");
    std::fs::write(&path, text).unwrap();
    let env = Env {
        prometheus_bearer_token: Some("t0k".into()),
        ..Env::default()
    };
    Settings::load(Some(&path), &env)
}

#[test]
fn services_read_their_backends_with_defaults() {
    let s = load(
        r#"
[services.checkout.haproxy]
socket = "127.0.0.1:9999"
backend = "be_checkout"

[services.checkout.prometheus]
url = "http://prom:9090"
preset = "istio"
canary_version = "v2"
"#,
    )
    .unwrap();
    let svc = &s.services["checkout"];
    let h = svc.haproxy.as_ref().unwrap();
    assert_eq!(
        (h.backend.as_str(), h.canary_server.as_str()),
        ("be_checkout", "canary")
    );
    let p = svc.prometheus.as_ref().unwrap();
    assert_eq!(p.preset, crate::metrics::prometheus::Preset::Istio);
    assert_eq!(
        (p.stable_version.as_str(), p.max_latency_samples),
        ("stable", 2_000)
    );
    assert_eq!(s.prometheus_token.as_deref(), Some("t0k"));
}

#[test]
fn kubernetes_and_argo_sections_are_read_and_checked() {
    let s = load(
        r#"
[services.checkout.kubernetes]
namespace = "shop"
stable_deployment = "checkout"
canary_deployment = "checkout-canary"
httproute = "checkout"

[services.checkout.argo]
rollout = "checkout"
"#,
    )
    .unwrap();
    let k = s.services["checkout"].kubernetes.as_ref().unwrap();
    assert_eq!((k.canary_backend(), k.rule_index), ("checkout-canary", 0));
    assert_eq!(
        s.services["checkout"].argo.as_ref().unwrap().namespace,
        "default"
    );
    let err = load("[services.a.kubernetes]\nnamespace = \"Shop_1\"\n").unwrap_err();
    assert!(err.to_string().contains("kubernetes.namespace"), "{err}");
    let err = load("[services.a.argo]\nrollout = \"x\"\ntoken = \"t\"\n").unwrap_err();
    assert!(err.to_string().contains("token"), "{err}");
}

#[test]
fn github_section_has_defaults_and_refuses_tokens_in_the_file() {
    let s = load("").unwrap();
    assert_eq!(s.github.api_url, "https://api.github.com");
    assert_eq!((s.github.max_retries, s.github.max_pages), (3, 10));
    let s = load("[github]\napi_url = \"https://ghe.example.com/api/v3\"\n").unwrap();
    assert_eq!(s.github.api_url, "https://ghe.example.com/api/v3");
    let err = load("[github]\ntoken = \"ghp_x\"\n").unwrap_err();
    assert!(err.to_string().contains("GITHUB_TOKEN"), "{err}");
    let err = load("[github]\napi_url = \"ghe.example.com\"\n").unwrap_err();
    assert!(err.to_string().contains("github.api_url"), "{err}");
}

#[test]
fn serve_section_is_read_and_empty_service_names_refused() {
    let s = load("[serve]\nrepo = \"/srv/shop\"\nservices = [\"a\", \"b\"]\n").unwrap();
    assert_eq!(s.serve.repo.as_deref(), Some(Path::new("/srv/shop")));
    assert_eq!(s.serve.services, ["a", "b"]);
    let err = load("[serve]\nservices = [\" \"]\n").unwrap_err();
    assert!(err.to_string().contains("serve.services"), "{err}");
    let err = load("[serve]\nsecret = \"x\"\n").unwrap_err();
    assert!(err.to_string().contains("secret"), "{err}");
}

#[test]
fn slack_sections_give_channel_and_approvers() {
    let s = load("[slack]\nchannel = \"#deploys\"\n[services.a.slack]\napprovers = [\"U1\"]\n[services.b.slack]\nchannel = \"#b\"\n").unwrap();
    assert_eq!(s.slack_channel("a"), Some("#deploys"));
    assert_eq!(s.slack_channel("b"), Some("#b"));
    assert_eq!(s.slack_approvers()["a"], ["U1"]);
    assert_eq!(s.slack.api_url, "https://slack.com/api");
    assert_eq!(s.slack.group_cache_secs, 60);
    assert!(load("[slack]\ngroup_cache_secs = 3601\n").is_err());
    let err = load("[slack]\nbot_token = \"xoxb\"\n").unwrap_err();
    assert!(err.to_string().contains("SLACK_BOT_TOKEN"), "{err}");
}

#[test]
fn bad_backends_and_secrets_in_the_file_are_refused() {
    let err = load("[services.a.haproxy]\ncanary_server = \"stable\"\n").unwrap_err();
    assert!(err.to_string().contains("services.a.haproxy"), "{err}");
    let err = load("[services.a.prometheus]\ntoken = \"x\"\n").unwrap_err();
    assert!(err.to_string().contains("PROMETHEUS_BEARER_TOKEN"), "{err}");
}

#[test]
fn a_metrics_catalogue_is_read_and_a_bad_template_named() {
    let section = r#"
[services.shop.haproxy]
socket = "127.0.0.1:9999"

[services.shop.prometheus.catalogue."endpoint:/checkout"]
description = "failed checkouts"
total = 'sum(increase(orders_total{version="{version}"}[{range}]))'
"#;
    let good = format!(
        "{section}bad = 'sum(increase(orders_total{{version=\"{{version}}\",result=\"failed\"}}[{{range}}]))'\n"
    );
    let s = load(&good).unwrap();
    let p = s.services["shop"].prometheus.as_ref().unwrap();
    assert_eq!(
        p.catalogue["endpoint:/checkout"].description,
        "failed checkouts"
    );
    let typo = format!(
        "{section}bad = 'sum(increase(orders_total{{version=\"{{versoin}}\"}}[{{range}}]))'\n"
    );
    let err = load(&typo).unwrap_err().to_string();
    assert!(
        err.contains(r#"services.shop.prometheus.catalogue.endpoint:/checkout.bad"#)
            && err.contains("unknown placeholder {versoin}")
            && err.contains("the placeholders are {version}, {server}, {backend} and {range}"),
        "{err}"
    );
}
