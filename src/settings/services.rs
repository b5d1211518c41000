//! One service's section of the settings (`[services.NAME]`): its real
//! backends, its Slack approvals, and which target `serve` rolls it out on.

use serde::Deserialize;

use super::SettingsError;
use crate::metrics::prometheus::PrometheusConfig;
use crate::traffic::argo::ArgoConfig;
use crate::traffic::haproxy::HaproxyConfig;
use crate::traffic::kubernetes::KubernetesConfig;
use crate::traffic::TargetKind;

/// The real backends of one service (`[services.NAME.haproxy]`,
/// `[services.NAME.kubernetes]`, `[services.NAME.argo]`,
/// `[services.NAME.prometheus]`); each is needed only by the target that uses it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSettings {
    /// Which target `serve` rolls this service out on; unset: the one target
    /// section present. The simulator only when named (`target = "sim"`).
    pub target: Option<TargetKind>,
    /// Traffic split by HAProxy's runtime API (weights of two servers of one backend).
    pub haproxy: Option<HaproxyConfig>,
    /// Traffic split by a Gateway API HTTPRoute, or by replica counts.
    pub kubernetes: Option<KubernetesConfig>,
    /// Traffic split by an Argo Rollout's controller.
    pub argo: Option<ArgoConfig>,
    /// Where both versions' requests, errors and latency are read.
    pub prometheus: Option<PrometheusConfig>,
    /// Where this service's approvals are asked, and who may answer.
    pub slack: Option<ServiceSlack>,
}

impl ServiceSettings {
    /// The target a merge of this service is rolled out on, with its section
    /// complete: `serve` never substitutes the simulator for a real target.
    pub fn resolve_target(&self, name: &str) -> Result<TargetKind, String> {
        let present: Vec<TargetKind> = [
            (TargetKind::Haproxy, self.haproxy.is_some()),
            (TargetKind::Kubernetes, self.kubernetes.is_some()),
            (TargetKind::Argo, self.argo.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, on)| on.then_some(k))
        .collect();
        let target = match (self.target, present.as_slice()) {
            (Some(t), _) => t,
            (None, [one]) => *one,
            (None, []) => {
                return Err(format!(
                    "[services.{name}] names no target: add [services.{name}.haproxy], .kubernetes or .argo (with .prometheus), or `target = \"sim\"` to roll it out in the simulator"
                ))
            }
            (None, many) => {
                let names: Vec<&str> = many.iter().map(|k| k.as_str()).collect();
                return Err(format!(
                    "[services.{name}] has several target sections ({}): choose one with `target = \"...\"`",
                    names.join(", ")
                ));
            }
        };
        let has_section = match target {
            TargetKind::Sim => true,
            TargetKind::Haproxy => self.haproxy.is_some(),
            TargetKind::Kubernetes => self.kubernetes.is_some(),
            TargetKind::Argo => self.argo.is_some(),
        };
        if !has_section {
            return Err(format!(
                "[services.{name}] target = \"{}\" but there is no [services.{name}.{}] section",
                target.as_str(),
                target.as_str()
            ));
        }
        if target != TargetKind::Sim && self.prometheus.is_none() {
            return Err(format!(
                "[services.{name}] is rolled out on {} but has no [services.{name}.prometheus] to judge it: add one (e.g. url = \"http://127.0.0.1:9090\")",
                target.as_str()
            ));
        }
        Ok(target)
    }
}

/// `[services.NAME.slack]`: where its approvals are asked and who may answer.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSlack {
    /// Overrides `[slack] channel`.
    pub channel: Option<String>,
    /// Slack user ids (`U123…`) whose clicks decide; nobody else's do.
    #[serde(default)]
    pub approvers: Vec<String>,
}

pub(super) fn validate_service(name: &str, service: &ServiceSettings) -> Result<(), SettingsError> {
    let invalid = |e: String| SettingsError::Invalid(format!("services.{name}.{e}"));
    if let Some(h) = &service.haproxy {
        h.validate().map_err(invalid)?;
    }
    if let Some(k) = &service.kubernetes {
        k.validate().map_err(invalid)?;
    }
    if let Some(a) = &service.argo {
        a.validate().map_err(invalid)?;
    }
    if let Some(p) = &service.prometheus {
        p.validate().map_err(invalid)?;
    }
    Ok(())
}
