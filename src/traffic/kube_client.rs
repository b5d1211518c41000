//! A small typed client for the Kubernetes REST API, shared by the
//! [`kubernetes`](super::kubernetes) and [`argo`](super::argo) routers.
//!
//! **Why not the `kube` crate.** The adapters need six calls (GET, PUT, and
//! PATCH in two content types, on three resource kinds and two subresources).
//! `kube` + `k8s-openapi` would add a large dependency tree and minutes of
//! compile time on small CI machines for types we barely use, and Gateway API
//! and Argo Rollouts are CRDs that `k8s-openapi` does not type anyway. So this
//! is reqwest (already a dependency, rustls) + `serde_json::Value` over the
//! documented REST paths, with our own timeout and bounded retries, like the
//! Prometheus and LLM clients. The objects stay `Value`s so fields we do not
//! know survive a read-modify-replace untouched.
//!
//! Connection settings come from, in order: an explicit kubeconfig path, the
//! in-cluster service account (`KUBERNETES_SERVICE_HOST`/`_PORT` and
//! `/var/run/secrets/kubernetes.io/serviceaccount/{token,ca.crt}`), `$KUBECONFIG`,
//! `~/.kube/config`. Kubeconfig support: the current (or named) context's
//! server, `certificate-authority[-data]`, `token`/`tokenFile`, and
//! `client-certificate[-data]` + `client-key[-data]`. Exec and auth-provider
//! plugins are refused with a message (mint a token instead).

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use reqwest::{Method, StatusCode};
use serde::Deserialize;
use serde_json::Value;

use super::TrafficError;

const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

/// How a PATCH body is to be read by the API server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchKind {
    /// RFC 7386 (`application/merge-patch+json`).
    Merge,
    /// RFC 6902 (`application/json-patch+json`).
    Json,
}

impl PatchKind {
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Merge => "application/merge-patch+json",
            Self::Json => "application/json-patch+json",
        }
    }
}

/// Why a call to the API server failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KubeError {
    #[error("kubernetes connection settings: {0}")]
    Config(String),
    #[error("kubernetes API unreachable: {0}")]
    Transport(String),
    /// The server's `Status` answer.
    #[error("kubernetes API answered {code} {reason} for {path}: {message}")]
    Status {
        code: u16,
        reason: String,
        message: String,
        path: String,
    },
}

impl KubeError {
    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Status { code: 409, .. })
    }
}

impl From<KubeError> for TrafficError {
    fn from(e: KubeError) -> Self {
        match e {
            KubeError::Transport(m) => TrafficError::Unreachable(format!("kubernetes API: {m}")),
            KubeError::Config(m) => TrafficError::Rejected(format!("kubernetes connection settings: {m}")),
            KubeError::Status { code: 401, path, .. } => TrafficError::Rejected(format!(
                "kubernetes API refused the credentials (401 Unauthorized) for {path}: check the kubeconfig user's token or the service account token"
            )),
            KubeError::Status { code: 403, path, message, .. } => TrafficError::Rejected(format!(
                "kubernetes API forbade {path} (403 Forbidden: {message}): the Role bound to deploy-agent must allow it (see deploy/rbac.yaml)"
            )),
            KubeError::Status { code: 404, path, message, .. } => TrafficError::Rejected(format!(
                "kubernetes object not found (404) at {path}: {message}; check the namespace and names in the service's [services.NAME.kubernetes|argo] section"
            )),
            other => TrafficError::Rejected(other.to_string()),
        }
    }
}

/// Where and how to reach the API server.
#[derive(Debug, Clone, Default)]
pub struct KubeEndpoint {
    /// `https://host:port` (no trailing slash).
    pub server: String,
    pub token: Option<String>,
    /// PEM CA bundle to trust (instead of the built-in roots).
    pub ca_pem: Option<Vec<u8>>,
    /// PEM client certificate followed by its private key.
    pub identity_pem: Option<Vec<u8>>,
    pub insecure_skip_tls_verify: bool,
    /// The context's namespace, if any.
    pub namespace: Option<String>,
}

/// A client for one API server.
#[derive(Debug, Clone)]
pub struct KubeClient {
    server: String,
    token: Option<String>,
    http: reqwest::Client,
    max_retries: u32,
}

impl KubeClient {
    pub fn new(
        endpoint: KubeEndpoint,
        timeout: Duration,
        max_retries: u32,
    ) -> Result<Self, KubeError> {
        let config = |e: reqwest::Error| KubeError::Config(e.to_string());
        let mut builder = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout);
        if let Some(pem) = &endpoint.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem).map_err(config)?;
            builder = builder.tls_certs_only(certs);
        }
        if let Some(pem) = &endpoint.identity_pem {
            builder = builder.identity(reqwest::Identity::from_pem(pem).map_err(config)?);
        }
        if endpoint.insecure_skip_tls_verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        Ok(Self {
            server: endpoint.server.trim_end_matches('/').to_string(),
            token: endpoint.token,
            http: builder.build().map_err(config)?,
            max_retries,
        })
    }

    /// The client a target's settings name (`kubeconfig`, `context`,
    /// `timeout_ms`, `max_retries`: the same keys for every Kubernetes-backed target).
    pub fn from_settings(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
        timeout_ms: u64,
        max_retries: u32,
    ) -> Result<Self, super::TrafficError> {
        Ok(Self::infer(
            kubeconfig,
            context,
            Duration::from_millis(timeout_ms),
            max_retries,
        )?)
    }

    /// From `kubeconfig` if given, else in-cluster, else `$KUBECONFIG` or `~/.kube/config`.
    pub fn infer(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
        timeout: Duration,
        max_retries: u32,
    ) -> Result<Self, KubeError> {
        let endpoint = match kubeconfig {
            Some(path) => from_kubeconfig(path, context)?,
            None if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => in_cluster()?,
            None => {
                let path = std::env::var_os("KUBECONFIG")
                    .and_then(|v| std::env::split_paths(&v).next())
                    .or_else(|| {
                        std::env::var_os("HOME").map(|h| Path::new(&h).join(".kube/config"))
                    })
                    .ok_or_else(|| {
                        KubeError::Config(
                            "no kubeconfig: set kubeconfig in the config file or KUBECONFIG".into(),
                        )
                    })?;
                from_kubeconfig(&path, context)?
            }
        };
        Self::new(endpoint, timeout, max_retries)
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    pub async fn get(&self, path: &str) -> Result<Value, KubeError> {
        self.send(Method::GET, path, None).await
    }

    /// Replaces the object; the body's `metadata.resourceVersion` makes it conditional.
    pub async fn put(&self, path: &str, body: &Value) -> Result<Value, KubeError> {
        self.send(Method::PUT, path, Some((body, "application/json")))
            .await
    }

    pub async fn patch(
        &self,
        path: &str,
        body: &Value,
        kind: PatchKind,
    ) -> Result<Value, KubeError> {
        self.send(Method::PATCH, path, Some((body, kind.content_type())))
            .await
    }

    /// One call; transport failures, 429 and 5xx are retried (backoff from
    /// 100 ms, doubling) up to `max_retries` times. Every write we send is
    /// idempotent or guarded by a resourceVersion, so a retry is safe.
    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<(&Value, &str)>,
    ) -> Result<Value, KubeError> {
        let mut backoff = Duration::from_millis(100);
        let mut attempt = 0;
        loop {
            match self.send_once(method.clone(), path, body).await {
                Err(e) if attempt < self.max_retries && retryable(&e) => {
                    attempt += 1;
                    tracing::warn!(error = %e, attempt, %method, path, "kubernetes API call failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
                other => return other,
            }
        }
    }

    async fn send_once(
        &self,
        method: Method,
        path: &str,
        body: Option<(&Value, &str)>,
    ) -> Result<Value, KubeError> {
        let url = format!("{}{path}", self.server);
        let mut request = self
            .http
            .request(method, &url)
            .header("Accept", "application/json");
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some((body, content_type)) = body {
            let bytes = serde_json::to_vec(body).map_err(|e| KubeError::Config(e.to_string()))?;
            request = request.header("Content-Type", content_type).body(bytes);
        }
        let response = request
            .send()
            .await
            .map_err(|e| KubeError::Transport(format!("{url}: {e}")))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .map_err(|e| KubeError::Transport(format!("{url}: reading the answer: {e}")))?;
        if status.is_success() {
            return serde_json::from_slice(&bytes)
                .map_err(|e| KubeError::Transport(format!("{url}: answer is not JSON: {e}")));
        }
        Err(status_error(status, &bytes, path))
    }
}

fn retryable(e: &KubeError) -> bool {
    match e {
        KubeError::Transport(_) => true,
        KubeError::Status { code, .. } => *code == 429 || *code >= 500,
        KubeError::Config(_) => false,
    }
}

/// Reads the server's `Status` object; falls back to the HTTP reason.
fn status_error(status: StatusCode, body: &[u8], path: &str) -> KubeError {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let text = |k: &str| parsed.get(k).and_then(Value::as_str).map(str::to_string);
    KubeError::Status {
        code: status.as_u16(),
        reason: text("reason")
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("").replace(' ', "")),
        message: text("message")
            .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(300).collect()),
        path: path.to_string(),
    }
}

/// The in-cluster service account's endpoint.
pub fn in_cluster() -> Result<KubeEndpoint, KubeError> {
    let env = |k: &str| {
        std::env::var(k)
            .map_err(|_| KubeError::Config(format!("{k} is not set: not running in a pod")))
    };
    let host = env("KUBERNETES_SERVICE_HOST")?;
    let port = env("KUBERNETES_SERVICE_PORT")?;
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let read = |name: &str| {
        let path = Path::new(SA_DIR).join(name);
        std::fs::read(&path).map_err(|e| KubeError::Config(format!("{}: {e}", path.display())))
    };
    let token = String::from_utf8_lossy(&read("token")?).trim().to_string();
    let namespace = read("namespace")
        .ok()
        .map(|n| String::from_utf8_lossy(&n).trim().to_string());
    Ok(KubeEndpoint {
        server: format!("https://{host}:{port}"),
        token: Some(token),
        ca_pem: Some(read("ca.crt")?),
        namespace,
        ..KubeEndpoint::default()
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct Kubeconfig {
    #[serde(default)]
    current_context: Option<String>,
    #[serde(default)]
    contexts: Vec<Named<ContextEntry>>,
    #[serde(default)]
    clusters: Vec<Named<ClusterEntry>>,
    #[serde(default)]
    users: Vec<Named<UserEntry>>,
}

#[derive(Debug, Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "context", alias = "cluster", alias = "user")]
    value: T,
}

#[derive(Debug, Deserialize)]
struct ContextEntry {
    cluster: String,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    namespace: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct ClusterEntry {
    server: String,
    certificate_authority: Option<PathBuf>,
    certificate_authority_data: Option<String>,
    #[serde(default)]
    insecure_skip_tls_verify: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct UserEntry {
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<PathBuf>,
    client_certificate: Option<PathBuf>,
    client_certificate_data: Option<String>,
    client_key: Option<PathBuf>,
    client_key_data: Option<String>,
    exec: Option<serde_yaml::Value>,
    auth_provider: Option<serde_yaml::Value>,
}

/// The endpoint of `context` (default: the current context) in a kubeconfig file.
pub fn from_kubeconfig(path: &Path, context: Option<&str>) -> Result<KubeEndpoint, KubeError> {
    let at = |m: String| KubeError::Config(format!("kubeconfig {}: {m}", path.display()));
    let text = std::fs::read_to_string(path).map_err(|e| at(e.to_string()))?;
    let config: Kubeconfig = serde_yaml::from_str(&text).map_err(|e| at(e.to_string()))?;
    let name = context
        .map(str::to_string)
        .or(config.current_context.clone())
        .ok_or_else(|| at("no current-context; name one with `context`".into()))?;
    let ctx = find(&config.contexts, &name).ok_or_else(|| at(format!("no context `{name}`")))?;
    let cluster = find(&config.clusters, &ctx.cluster)
        .ok_or_else(|| at(format!("no cluster `{}`", ctx.cluster)))?;
    let empty = UserEntry::default();
    let user = match &ctx.user {
        Some(u) => find(&config.users, u).ok_or_else(|| at(format!("no user `{u}`")))?,
        None => &empty,
    };
    if user.exec.is_some() || user.auth_provider.is_some() {
        return Err(at(format!(
            "user of context `{name}` uses an exec/auth-provider plugin, which is not supported: use a token (e.g. `kubectl create token`) or a client certificate"
        )));
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    let material =
        |data: &Option<String>, file: &Option<PathBuf>| -> Result<Option<Vec<u8>>, KubeError> {
            if let Some(d) = data {
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(d.trim())
                    .map_err(|e| at(format!("bad base64: {e}")))?;
                return Ok(Some(bytes));
            }
            match file {
                Some(f) => std::fs::read(dir.join(f))
                    .map(Some)
                    .map_err(|e| at(format!("{}: {e}", f.display()))),
                None => Ok(None),
            }
        };
    let token = match (&user.token, &user.token_file) {
        (Some(t), _) => Some(t.clone()),
        (None, Some(f)) => Some(
            std::fs::read_to_string(dir.join(f))
                .map_err(|e| at(format!("{}: {e}", f.display())))?
                .trim()
                .to_string(),
        ),
        (None, None) => None,
    };
    let cert = material(&user.client_certificate_data, &user.client_certificate)?;
    let key = material(&user.client_key_data, &user.client_key)?;
    let identity_pem = match (cert, key) {
        (Some(mut c), Some(k)) => {
            c.push(b'\n');
            c.extend(k);
            Some(c)
        }
        (None, None) => None,
        _ => {
            return Err(at(
                "a client certificate needs both the certificate and the key".into(),
            ))
        }
    };
    Ok(KubeEndpoint {
        server: cluster.server.clone(),
        token,
        ca_pem: material(
            &cluster.certificate_authority_data,
            &cluster.certificate_authority,
        )?,
        identity_pem,
        insecure_skip_tls_verify: cluster.insecure_skip_tls_verify,
        namespace: ctx.namespace.clone(),
    })
}

fn find<'a, T>(entries: &'a [Named<T>], name: &str) -> Option<&'a T> {
    entries.iter().find(|e| e.name == name).map(|e| &e.value)
}

/// A path segment check: Kubernetes names are DNS labels/subdomains.
pub fn validate_name(field: &str, value: &str) -> Result<(), String> {
    let ok = !value.is_empty()
        && value.len() <= 253
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{field} must be a Kubernetes name (lowercase letters, digits, `-`, `.`), got `{value}`"
        ))
    }
}

/// Checks the connection limits every Kubernetes-backed section shares.
pub fn check_limits(section: &str, timeout_ms: u64, max_retries: u32) -> Result<(), String> {
    if !(1..=60_000).contains(&timeout_ms) || max_retries > 10 {
        return Err(format!(
            "{section}.timeout_ms must be 1-60000 and max_retries at most 10"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_current_context_with_token_and_ca_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        let ca = base64::engine::general_purpose::STANDARD.encode("PEM");
        std::fs::write(
            &path,
            format!(
                "apiVersion: v1\nkind: Config\ncurrent-context: kind\ncontexts:\n- name: kind\n  context: {{cluster: c1, user: u1, namespace: shop}}\nclusters:\n- name: c1\n  cluster:\n    server: https://127.0.0.1:6443\n    certificate-authority-data: {ca}\nusers:\n- name: u1\n  user:\n    token: abc\n"
            ),
        )
        .unwrap();
        let e = from_kubeconfig(&path, None).unwrap();
        assert_eq!(e.server, "https://127.0.0.1:6443");
        assert_eq!(e.token.as_deref(), Some("abc"));
        assert_eq!(e.ca_pem.as_deref(), Some(&b"PEM"[..]));
        assert_eq!(e.namespace.as_deref(), Some("shop"));
        let err = from_kubeconfig(&path, Some("prod")).unwrap_err();
        assert!(err.to_string().contains("no context `prod`"), "{err}");
    }

    #[test]
    fn exec_plugins_are_refused_with_a_way_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config");
        std::fs::write(
            &path,
            "current-context: x\ncontexts: [{name: x, context: {cluster: c, user: u}}]\nclusters: [{name: c, cluster: {server: 'https://k'}}]\nusers: [{name: u, user: {exec: {command: aws}}}]\n",
        )
        .unwrap();
        let err = from_kubeconfig(&path, None).unwrap_err();
        assert!(err.to_string().contains("kubectl create token"), "{err}");
    }
}
