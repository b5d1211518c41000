//! What a failed call to the API server means for the operator.
//!
//! Every call is described by an [`Op`] (verb, API group, resource, name,
//! namespace), so a refusal can say exactly which RBAC rule is missing and a
//! 404 which object and setting to check, instead of kube's generic text.

use std::fmt;

use super::super::TrafficError;

/// One API call, as RBAC sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    /// `get`, `list`, `watch`, `patch`, `update`.
    pub verb: &'static str,
    /// The API group (`apps`, `gateway.networking.k8s.io`, `argoproj.io`).
    pub group: &'static str,
    /// The resource, with its subresource (`deployments/scale`).
    pub resource: &'static str,
    pub namespace: String,
    pub name: String,
}

impl Op {
    pub fn new(
        verb: &'static str,
        group: &'static str,
        resource: &'static str,
        namespace: &str,
        name: &str,
    ) -> Self {
        Self {
            verb,
            group,
            resource,
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} `{}` in namespace {}",
            self.verb, self.resource, self.name, self.namespace
        )
    }
}

/// Why a call to the API server failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum KubeError {
    /// The connection settings cannot be used (kubeconfig, context, certificates).
    #[error("kubernetes connection settings: {0}")]
    Config(String),
    /// No answer (connection refused, TLS, timeout).
    #[error("kubernetes API unreachable ({op}): {message}")]
    Transport { op: String, message: String },
    /// The server's `Status` answer.
    #[error("kubernetes API answered {code} {reason} to {op}: {message}")]
    Status {
        op: Box<Op>,
        code: u16,
        reason: String,
        message: String,
    },
    /// An answer that is not the object the API documents.
    #[error("kubernetes API answer to {op} cannot be read: {message}")]
    Decode { op: String, message: String },
}

impl KubeError {
    /// Classifies one of kube's errors for `op`.
    pub fn from_kube(op: &Op, e: kube::Error) -> Self {
        match e {
            kube::Error::Api(status) => Self::Status {
                op: Box::new(op.clone()),
                code: status.code,
                reason: status.reason.clone(),
                message: status.message.clone(),
            },
            kube::Error::SerdeError(e) => Self::Decode {
                op: op.to_string(),
                message: e.to_string(),
            },
            kube::Error::Auth(e) => Self::Config(format!(
                "the kubeconfig user's credentials could not be obtained ({e}): check its token, certificate or exec plugin (e.g. run the plugin's command by hand)"
            )),
            kube::Error::InferConfig(e) => Self::Config(e.to_string()),
            kube::Error::InferKubeconfig(e) => Self::Config(e.to_string()),
            kube::Error::RustlsTls(e) => Self::Config(format!(
                "TLS setup: {e}: check certificate-authority and client certificate in the kubeconfig"
            )),
            other => Self::Transport {
                op: op.to_string(),
                message: other.to_string(),
            },
        }
    }

    pub fn is_conflict(&self) -> bool {
        self.code() == Some(409)
    }

    pub fn code(&self) -> Option<u16> {
        match self {
            Self::Status { code, .. } => Some(*code),
            _ => None,
        }
    }

    /// Whether trying the same call again may help: no answer, 429 or 5xx.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport { .. } => true,
            Self::Status { code, .. } => *code == 429 || *code >= 500,
            Self::Config(_) | Self::Decode { .. } => false,
        }
    }
}

impl From<KubeError> for TrafficError {
    fn from(e: KubeError) -> Self {
        match e {
            KubeError::Config(m) => {
                TrafficError::Misconfigured(format!("kubernetes connection settings: {m}"))
            }
            KubeError::Transport { op, message } => {
                TrafficError::Unreachable(format!("kubernetes API ({op}): {message}"))
            }
            KubeError::Status { op, code: 401, .. } => TrafficError::Misconfigured(format!(
                "kubernetes API refused the credentials (401 Unauthorized) to {op}: the kubeconfig user's token or client certificate (or the pod's service account token) is invalid or expired; renew it, e.g. `kubectl -n {} create token deploy-agent`",
                op.namespace
            )),
            KubeError::Status {
                op, code: 403, message, ..
            } => TrafficError::Misconfigured(format!(
                "kubernetes API forbade {op} (403 Forbidden: {message}): the Role bound to deploy-agent must allow verb `{}` on resource `{}` in apiGroup `{}` for `{}` (see deploy/rbac.yaml)",
                op.verb, op.resource, op.group, op.name
            )),
            KubeError::Status {
                op, code: 404, message, ..
            } => TrafficError::Misconfigured(format!(
                "kubernetes object not found (404): {} `{}` in namespace {} ({message}); check the namespace and names in the service's [services.NAME.kubernetes|argo] section, and that the {} API (group {}) is installed",
                op.resource, op.name, op.namespace, op.resource, op.group
            )),
            e @ KubeError::Status { code, .. } if code == 429 || code >= 500 => {
                TrafficError::Unreachable(e.to_string())
            }
            other => TrafficError::Rejected(other.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: u16) -> KubeError {
        KubeError::Status {
            op: Box::new(Op::new(
                "patch",
                "apps",
                "deployments/scale",
                "shop",
                "checkout-canary",
            )),
            code,
            reason: "Forbidden".into(),
            message: "denied".into(),
        }
    }

    #[test]
    fn refusals_name_the_missing_rbac_rule_and_are_not_transient() {
        let e = TrafficError::from(status(403));
        assert!(!e.is_transient());
        let m = e.to_string();
        assert!(
            m.contains("verb `patch` on resource `deployments/scale` in apiGroup `apps`"),
            "{m}"
        );
        assert!(m.contains("deploy/rbac.yaml"), "{m}");
        let m = TrafficError::from(status(401)).to_string();
        assert!(
            m.contains("401 Unauthorized") && m.contains("create token"),
            "{m}"
        );
    }

    #[test]
    fn only_transport_429_and_5xx_are_retried() {
        assert!(status(429).is_retryable());
        assert!(status(500).is_retryable());
        assert!(!status(409).is_retryable());
        assert!(!status(403).is_retryable());
        assert!(matches!(
            TrafficError::from(status(503)),
            TrafficError::Unreachable(_)
        ));
        assert!(matches!(
            TrafficError::from(status(409)),
            TrafficError::Rejected(_)
        ));
    }
}
