//! The reference matches the code, and its defaults are the applied ones.

use super::*;

#[test]
fn the_committed_reference_is_the_generated_one() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(DOC_PATH);
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == config_markdown(),
        "{DOC_PATH} is stale: regenerate it with `cargo run -- schema config --format markdown > {DOC_PATH}`"
    );
}

#[test]
fn the_reference_documents_every_section_and_preset() {
    let md = config_markdown();
    for heading in [
        "## [llm]",
        "## [services.NAME]",
        "## [services.NAME.haproxy]",
        "## [services.NAME.prometheus]",
        "## [services.NAME.kubernetes]",
        "## [services.NAME.argo]",
        "## [services.NAME.slack]",
        "## [journal]",
        "## [github]",
        "## [serve]",
        "## [slack]",
        "### `haproxy`",
        "### `istio`",
        "### `nginx_ingress`",
    ] {
        assert!(md.contains(heading), "missing {heading}");
    }
    assert!(
        md.contains("| `timeout_ms` | integer | `2000` |"),
        "haproxy default"
    );
    assert!(md.contains("`haproxy_server_http_responses_total` with labels `proxy`, `server`"));
    assert!(md.contains("`istio_requests_total` with labels `reporter`, `destination_version`"));
}

#[test]
fn schema_defaults_are_the_defaults_settings_apply() {
    let settings =
        super::super::Settings::load(Some(&write_config("")), &super::super::Env::default())
            .unwrap();
    let default = |key: &str| -> Value { lookup_default(key) };
    assert_eq!(
        default("llm.timeout_secs"),
        Value::from(settings.llm.timeout_secs)
    );
    assert_eq!(
        default("llm.max_retries"),
        Value::from(settings.llm.max_retries)
    );
    assert_eq!(
        default("llm.model"),
        Value::from(settings.llm.model.clone())
    );
    assert_eq!(
        default("llm.excerpt_bytes"),
        Value::from(settings.llm.excerpt_bytes)
    );
    assert_eq!(
        default("github.api_url"),
        Value::from(settings.github.api_url.clone())
    );
    assert_eq!(
        default("github.timeout_secs"),
        Value::from(settings.github.timeout_secs)
    );
    assert_eq!(
        default("github.max_retries"),
        Value::from(settings.github.max_retries)
    );
    assert_eq!(
        default("github.max_pages"),
        Value::from(settings.github.max_pages)
    );
    assert_eq!(
        default("slack.api_url"),
        Value::from(settings.slack.api_url.clone())
    );
    assert_eq!(
        default("slack.timeout_secs"),
        Value::from(settings.slack.timeout_secs)
    );
    assert_eq!(
        default("slack.max_retries"),
        Value::from(settings.slack.max_retries)
    );
    assert_eq!(
        default("slack.group_cache_secs"),
        Value::from(settings.slack.group_cache_secs)
    );
    assert_eq!(
        default("journal.lease_ttl_secs"),
        Value::from(settings.lease.ttl_secs)
    );
    assert_eq!(
        default("journal.lease_heartbeat_secs"),
        Value::from(settings.lease.heartbeat_secs)
    );
    assert_eq!(
        default("journal.path"),
        Value::from(crate::journal::DEFAULT_PATH)
    );
    assert_eq!(
        default("serve.branch"),
        Value::from(settings.serve.branch.clone())
    );
}

fn lookup_default(key: &str) -> Value {
    let (parent, field) = key.rsplit_once('.').unwrap();
    let (schema, _) = lookup(parent).unwrap();
    schema["properties"][field]["default"].clone()
}

fn write_config(text: &str) -> std::path::PathBuf {
    let dir = tempfile::tempdir().unwrap().keep();
    let path = dir.join("deploy-agent.toml");
    std::fs::write(&path, text).unwrap();
    path
}
