//! The Kubernetes API client shared by the [`kubernetes`](super::kubernetes)
//! and [`argo`](super::argo) routers: kube-rs (`kube::Client`) with our
//! timeouts, one bounded retry helper and errors that say what to fix.
//!
//! **Why kube-rs.** It owns the protocol: kubeconfig in all its forms (exec
//! plugins for EKS/GKE/AKS, auth providers, client certificates, token files
//! that rotate), in-cluster credentials with CA rotation, typed `apps/v1`
//! objects from `k8s-openapi`, subresources (`/scale`, `/status`), and above
//! all watches: `kube::runtime::wait::await_condition` waits for a Deployment's
//! pods through the API's own LIST+WATCH instead of a polling loop of ours.
//! Gateway API and Argo Rollouts are CRDs `k8s-openapi` does not type, so they
//! are [`kube::core::DynamicObject`]s: fields we do not know survive a
//! read-modify-replace untouched.
//!
//! **Connection settings**, in order: an explicit `kubeconfig` file (+ optional
//! `context`); in a pod (`KUBERNETES_SERVICE_HOST` set), the service account
//! (`Config::incluster`); else `$KUBECONFIG` or `~/.kube/config`, as
//! `Config::infer` would read them. The kubeconfig is read and its context
//! checked when the router is built, so a wrong path or context fails before
//! the rollout starts; the client itself is built on first use, inside the
//! runtime that uses it (kube's client spawns a worker task on that runtime).
//!
//! **Timeouts and retries.** `timeout_ms` is kube's connect, read and write
//! timeout for request/response calls; watches get no read timeout (an idle
//! watch is healthy; kube's watcher has its own idle limit and the caller
//! bounds the whole wait). kube's built-in retry layer is off: [`KubeClient::call`]
//! is the one place that retries — transport failures, 429 and 5xx, at most
//! `max_retries` times with a doubling backoff from 100 ms — so the bound in
//! the settings is the real bound. Every write we send is idempotent or guarded
//! by a resourceVersion or a JSON-patch `test`, so a retry is safe.

mod error;
mod wait;

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use backon::Retryable;
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::sync::OnceCell;

pub use error::{KubeError, Op};
pub use wait::WaitError;

use super::TrafficError;
use crate::error::ConfigError;

/// Longest pause between two retries.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// A client for one API server (cheap to clone; clones share the connection).
#[derive(Clone)]
pub struct KubeClient {
    inner: Arc<Inner>,
}

struct Inner {
    source: Source,
    server: String,
    timeout: Duration,
    max_retries: u32,
    clients: OnceCell<Clients>,
}

/// Where the connection settings come from.
enum Source {
    Kubeconfig {
        config: Box<Kubeconfig>,
        context: Option<String>,
    },
    InCluster,
}

/// kube clients: `calls` with the read timeout, `watches` without.
#[derive(Clone)]
struct Clients {
    calls: kube::Client,
    watches: kube::Client,
}

impl std::fmt::Debug for KubeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeClient")
            .field("server", &self.inner.server)
            .field("timeout", &self.inner.timeout)
            .field("max_retries", &self.inner.max_retries)
            .finish_non_exhaustive()
    }
}

impl KubeClient {
    /// The client a target's settings name (`kubeconfig`, `context`,
    /// `timeout_ms`, `max_retries`: the same keys for every Kubernetes-backed target).
    pub fn from_settings(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
        timeout_ms: u64,
        max_retries: u32,
    ) -> Result<Self, TrafficError> {
        let timeout = Duration::from_millis(timeout_ms);
        if let Some(path) = kubeconfig {
            let config = Kubeconfig::read_from(path).map_err(|e| {
                TrafficError::Misconfigured(format!(
                    "kubeconfig {}: {e}: fix the file or the `kubeconfig` setting",
                    path.display()
                ))
            })?;
            return Self::from_kubeconfig(config, context, timeout, max_retries);
        }
        if let Ok(host) = std::env::var("KUBERNETES_SERVICE_HOST") {
            let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
            let host = if host.contains(':') {
                format!("[{host}]")
            } else {
                host
            };
            return Ok(Self::with_source(
                Source::InCluster,
                format!("https://{host}:{port}"),
                timeout,
                max_retries,
            ));
        }
        let config = Kubeconfig::read().map_err(|e| {
            TrafficError::Misconfigured(format!(
                "no usable kubeconfig ({e}) and not running in a pod: set `kubeconfig` (and `context`) in the service's section, or KUBECONFIG"
            ))
        })?;
        Self::from_kubeconfig(config, context, timeout, max_retries)
    }

    /// From a parsed kubeconfig: `context`, else its current context.
    pub fn from_kubeconfig(
        config: Kubeconfig,
        context: Option<&str>,
        timeout: Duration,
        max_retries: u32,
    ) -> Result<Self, TrafficError> {
        let server =
            server_of(&config, context).map_err(|e| TrafficError::Misconfigured(e.to_string()))?;
        let source = Source::Kubeconfig {
            config: Box::new(config),
            context: context.map(str::to_string),
        };
        Ok(Self::with_source(source, server, timeout, max_retries))
    }

    fn with_source(source: Source, server: String, timeout: Duration, max_retries: u32) -> Self {
        Self {
            inner: Arc::new(Inner {
                source,
                server: server.trim_end_matches('/').to_string(),
                timeout,
                max_retries,
                clients: OnceCell::new(),
            }),
        }
    }

    /// The API server's URL, for labels and messages.
    pub fn server(&self) -> &str {
        &self.inner.server
    }

    pub fn max_retries(&self) -> u32 {
        self.inner.max_retries
    }

    /// kube's `Config` for these settings, with our timeouts and kube's own
    /// retry layer off (see the module doc).
    pub async fn resolve_config(&self) -> Result<kube::Config, KubeError> {
        let mut config = match &self.inner.source {
            Source::Kubeconfig { config, context } => {
                let options = KubeConfigOptions {
                    context: context.clone(),
                    ..KubeConfigOptions::default()
                };
                kube::Config::from_custom_kubeconfig((**config).clone(), &options)
                    .await
                    .map_err(|e| KubeError::Config(format!("kubeconfig: {e}")))?
            }
            Source::InCluster => kube::Config::incluster().map_err(|e| {
                KubeError::Config(format!(
                    "in-cluster credentials: {e}: mount the service account token (automountServiceAccountToken) or set `kubeconfig`"
                ))
            })?,
        };
        trim_token_file(&mut config.auth_info)?;
        let timeout = Some(self.inner.timeout);
        config.connect_timeout = timeout;
        config.read_timeout = timeout;
        config.write_timeout = timeout;
        config.reset_reader_on_write = true;
        config.default_retry = false;
        Ok(config)
    }

    /// Builds the clients once (on the runtime that first uses them).
    async fn clients(&self) -> Result<&Clients, KubeError> {
        self.inner
            .clients
            .get_or_try_init(|| async {
                let config = self.resolve_config().await?;
                let mut watch_config = config.clone();
                watch_config.read_timeout = None;
                let build = |c: kube::Config| {
                    kube::Client::try_from(c).map_err(|e| {
                        match KubeError::from_kube(&self.op(), e) {
                            KubeError::Transport { message, .. } => KubeError::Config(message),
                            other => other,
                        }
                    })
                };
                Ok(Clients {
                    calls: build(config)?,
                    watches: build(watch_config)?,
                })
            })
            .await
    }

    fn op(&self) -> Op {
        Op::new("connect", "", "server", "-", &self.inner.server)
    }

    /// Checks the settings by building the client (no request is sent).
    pub async fn connect(&self) -> Result<(), KubeError> {
        self.clients().await.map(drop)
    }

    /// One API call, retried on transport failures, 429 and 5xx at most
    /// `max_retries` times (backoff 100 ms, doubling, at most 2 s).
    pub async fn call<T, F, Fut>(&self, op: &Op, call: F) -> Result<T, KubeError>
    where
        F: Fn(kube::Client) -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let client = self.clients().await?.calls.clone();
        let backoff = crate::retry::doubling(Duration::from_millis(100), self.inner.max_retries)
            .with_max_delay(MAX_BACKOFF);
        (|| {
            let pending = call(client.clone());
            async move { pending.await.map_err(|e| KubeError::from_kube(op, e)) }
        })
        .retry(backoff)
        .sleep(tokio::time::sleep)
        .when(KubeError::is_retryable)
        .notify(|e, wait| tracing::warn!(error = %e, ?wait, "kubernetes API call failed; retrying"))
        .await
    }

    /// The client for watches (no read timeout).
    async fn watch_client(&self) -> Result<kube::Client, KubeError> {
        Ok(self.clients().await?.watches.clone())
    }
}

/// kube sends a `tokenFile`'s content as is, so a file written with `echo`
/// (trailing newline) makes an invalid header, where kubectl (client-go) trims
/// it. Such a file is read here, trimmed, and used as an inline token; a file
/// without surrounding whitespace (a projected, rotating token) is left to
/// kube, which re-reads it as it rotates.
fn trim_token_file(auth: &mut kube::config::AuthInfo) -> Result<(), KubeError> {
    let Some(path) = auth.token_file.clone() else {
        return Ok(());
    };
    let text = std::fs::read_to_string(&path)
        .map_err(|e| KubeError::Config(format!("kubeconfig tokenFile {path}: {e}")))?;
    let token = text.trim();
    if token.len() != text.len() && auth.token.is_none() {
        auth.token = Some(token.to_string().into());
        auth.token_file = None;
    }
    Ok(())
}

/// The server of `context` (default: the current context) in a kubeconfig.
fn server_of(config: &Kubeconfig, context: Option<&str>) -> Result<String, KubeconfigError> {
    let name = context
        .map(str::to_string)
        .or_else(|| config.current_context.clone())
        .ok_or(KubeconfigError::NoCurrentContext)?;
    let ctx = config
        .contexts
        .iter()
        .find(|c| c.name == name)
        .and_then(|c| c.context.as_ref())
        .ok_or_else(|| KubeconfigError::UnknownContext {
            name: name.clone(),
            known: config.contexts.iter().map(|c| c.name.clone()).collect(),
        })?;
    config
        .clusters
        .iter()
        .find(|c| c.name == ctx.cluster)
        .and_then(|c| c.cluster.as_ref())
        .and_then(|c| c.server.clone())
        .ok_or_else(|| KubeconfigError::NoCluster {
            context: name.clone(),
            cluster: ctx.cluster.clone(),
        })
}

/// A kubeconfig that does not lead to a server: the section's `context`
/// (or the file's current-context) names nothing usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KubeconfigError {
    #[error("the kubeconfig has no current-context: name one with `context`")]
    NoCurrentContext,
    #[error("the kubeconfig has no context `{name}` (it has: {}): fix `context`", known.join(", "))]
    UnknownContext { name: String, known: Vec<String> },
    #[error("context `{context}` names cluster `{cluster}`, which the kubeconfig does not have (or it has no server): fix the kubeconfig or choose another `context`")]
    NoCluster { context: String, cluster: String },
}

/// A path segment check: Kubernetes names are DNS labels/subdomains.
pub fn validate_name(field: &str, value: &str) -> Result<(), ConfigError> {
    let ok = !value.is_empty()
        && value.len() <= 253
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    if ok {
        Ok(())
    } else {
        Err(ConfigError::new(
            field,
            format!(
                "must be a Kubernetes name (lowercase letters, digits, `-`, `.`), got `{value}`"
            ),
        ))
    }
}

/// Checks the connection limits every Kubernetes-backed section shares.
pub fn check_limits(section: &str, timeout_ms: u64, max_retries: u32) -> Result<(), ConfigError> {
    if !(1..=60_000).contains(&timeout_ms) || max_retries > 10 {
        return Err(ConfigError::new(
            format!("{section}.timeout_ms"),
            "must be 1-60000 and max_retries at most 10",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
