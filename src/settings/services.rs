//! One service's section of the settings (`[services.NAME]`): its real
//! backends, its Slack approvals, and which target `serve` rolls it out on.

use serde::Deserialize;

use super::SettingsError;
use crate::error::ConfigError;
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
    pub fn resolve_target(&self, name: &str) -> Result<TargetKind, ServiceTargetError> {
        let service = name.to_string();
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
            (None, []) => return Err(ServiceTargetError::NoTarget { service }),
            (None, many) => {
                return Err(ServiceTargetError::SeveralTargets {
                    service,
                    sections: many.iter().map(|k| k.as_str()).collect(),
                })
            }
        };
        let has_section = match target {
            TargetKind::Sim => true,
            TargetKind::Haproxy => self.haproxy.is_some(),
            TargetKind::Kubernetes => self.kubernetes.is_some(),
            TargetKind::Argo => self.argo.is_some(),
        };
        if !has_section {
            return Err(ServiceTargetError::MissingSection {
                service,
                target: target.as_str(),
            });
        }
        if target != TargetKind::Sim && self.prometheus.is_none() {
            return Err(ServiceTargetError::NoPrometheus {
                service,
                target: target.as_str(),
            });
        }
        Ok(target)
    }
}

/// Why a service's section does not say which target `serve` rolls it out on.
/// Each message names the section to add or the key to set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceTargetError {
    #[error("[services.{service}] names no target: add [services.{service}.haproxy], .kubernetes or .argo (with .prometheus), or `target = \"sim\"` to roll it out in the simulator")]
    NoTarget { service: String },
    #[error("[services.{service}] has several target sections ({}): choose one with `target = \"...\"`", sections.join(", "))]
    SeveralTargets {
        service: String,
        sections: Vec<&'static str>,
    },
    #[error("[services.{service}] target = \"{target}\" but there is no [services.{service}.{target}] section: add it, or change `target`")]
    MissingSection {
        service: String,
        target: &'static str,
    },
    #[error("[services.{service}] is rolled out on {target} but has no [services.{service}.prometheus] to judge it: add one (e.g. url = \"http://127.0.0.1:9090\")")]
    NoPrometheus {
        service: String,
        target: &'static str,
    },
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
    let section = format!("services.{name}");
    let invalid = |e: ConfigError| SettingsError::Setting(e.within(&section));
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_target_section_is_named_with_what_to_add() {
        let only_target = ServiceSettings {
            target: Some(TargetKind::Argo),
            ..ServiceSettings::default()
        };
        let e = only_target.resolve_target("shop").unwrap_err();
        assert_eq!(
            e,
            ServiceTargetError::MissingSection {
                service: "shop".into(),
                target: "argo"
            }
        );
        assert!(
            e.to_string().contains("no [services.shop.argo] section"),
            "{e}"
        );

        let no_metrics = ServiceSettings {
            haproxy: Some(HaproxyConfig::default()),
            ..ServiceSettings::default()
        };
        let e = no_metrics.resolve_target("shop").unwrap_err().to_string();
        assert!(e.contains("[services.shop.prometheus]"), "{e}");
        assert!(e.contains("e.g. url = \"http://127.0.0.1:9090\""), "{e}");

        let e = ServiceSettings::default()
            .resolve_target("shop")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("add [services.shop.haproxy]") && e.contains("target = \"sim\""),
            "{e}"
        );
    }

    #[test]
    fn a_bad_backend_setting_is_named_from_the_service_down() {
        let service = ServiceSettings {
            haproxy: Some(HaproxyConfig {
                backend: "be app".into(),
                ..HaproxyConfig::default()
            }),
            ..ServiceSettings::default()
        };
        let e = validate_service("shop", &service).unwrap_err().to_string();
        assert!(
            e.contains("services.shop.haproxy.backend must be a plain name"),
            "{e}"
        );
        assert!(e.contains("got `be app`"), "{e}");
    }
}
