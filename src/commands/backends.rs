//! The real backends of a rollout, from `--target`/`--metrics` and the service's
//! section of `deploy-agent.toml`.

use std::sync::Arc;

use super::rollout::{RolloutCommand, TargetKind};
use super::ArgError;
use crate::approval::Approver;
use crate::clock::{Clock, VirtualClock};
use crate::error::Error;
use crate::metrics::prometheus::{ClockMapping, PrometheusMetrics};
use crate::rollout::Backends;
use crate::settings::{ServiceSettings, Settings};
use crate::sim::SimConfig;
use crate::traffic::argo::ArgoRolloutRouter;
use crate::traffic::dry_run::DryRunRouter;
use crate::traffic::haproxy::HaproxyRouter;
use crate::traffic::{kubernetes, TrafficRouter};

/// Where a rollout's metrics come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MetricsKind {
    /// The simulated world (only with `--target sim`).
    Sim,
    /// A Prometheus server (`[services.NAME.prometheus]`).
    Prometheus,
}

impl MetricsKind {
    /// The flag's value, as `--metrics` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            MetricsKind::Sim => "sim",
            MetricsKind::Prometheus => "prometheus",
        }
    }
}

/// The backends `--target` and `--metrics` name, and the target's label.
/// The simulated world's metrics live on its virtual clock, so they go only with
/// the simulated target, and real targets only with real metrics.
pub fn for_flags(
    cmd: &RolloutCommand,
    settings: &Settings,
    pace: f64,
    approver: Arc<dyn Approver>,
) -> Result<(Backends, String), Error> {
    let metrics = cmd.metrics.unwrap_or(match cmd.target {
        TargetKind::Sim => MetricsKind::Sim,
        TargetKind::Haproxy | TargetKind::Kubernetes | TargetKind::Argo => MetricsKind::Prometheus,
    });
    match (cmd.target, metrics) {
        (TargetKind::Sim, MetricsKind::Sim) if cmd.dry_run => Err(ArgError::DryRunOnSim.into()),
        (TargetKind::Sim, MetricsKind::Sim) => {
            let clock = Arc::new(VirtualClock::paced(crate::clock::SystemClock.now(), pace));
            let config = SimConfig::new(cmd.scenario, cmd.seed);
            let (backends, _world) = Backends::simulated(config, clock, approver);
            Ok((backends, format!("sim:{}", cmd.scenario.as_str())))
        }
        (TargetKind::Haproxy, MetricsKind::Prometheus) => {
            haproxy_prometheus(&cmd.service, settings, cmd.dry_run, approver)
        }
        (TargetKind::Kubernetes, MetricsKind::Prometheus) => {
            kubernetes_prometheus(&cmd.service, settings, cmd.dry_run, approver)
        }
        (TargetKind::Argo, MetricsKind::Prometheus) => {
            argo_prometheus(&cmd.service, settings, cmd.dry_run, approver)
        }
        (target, metrics) => Err(ArgError::UnsupportedPair {
            target: target.as_str(),
            metrics: metrics.as_str(),
        }
        .into()),
    }
}

/// HAProxy moves the traffic, Prometheus judges it, the system clock runs the loop.
/// With `dry_run`, weights are read live but every change is printed, not sent.
/// Returns the backends and the target's label for records.
pub fn haproxy_prometheus(
    service: &str,
    settings: &Settings,
    dry_run: bool,
    approver: Arc<dyn Approver>,
) -> Result<(Backends, String), Error> {
    let (haproxy, prometheus) = sections(service, settings, "haproxy", |s| s.haproxy.clone())?;
    let router = HaproxyRouter::new(haproxy).map_err(BackendError::from)?;
    let label = format!("haproxy:{}", router.address());
    let traffic: Arc<dyn TrafficRouter> = if dry_run {
        Arc::new(DryRunRouter::haproxy(router, Box::new(std::io::stderr())))
    } else {
        Arc::new(router)
    };
    Ok((real(traffic, prometheus, settings, approver)?, label))
}

/// A Gateway API HTTPRoute (or, without `httproute`, replica counts) moves the
/// traffic, Prometheus judges it.
pub fn kubernetes_prometheus(
    service: &str,
    settings: &Settings,
    dry_run: bool,
    approver: Arc<dyn Approver>,
) -> Result<(Backends, String), Error> {
    let (config, prometheus) = sections(service, settings, "kubernetes", |s| s.kubernetes.clone())?;
    let (traffic, label) = kubernetes::router(config).map_err(BackendError::from)?;
    let traffic = dry_run_if(dry_run, traffic, &label);
    Ok((real(traffic, prometheus, settings, approver)?, label))
}

/// An Argo Rollout's steps move the traffic, Prometheus judges it.
pub fn argo_prometheus(
    service: &str,
    settings: &Settings,
    dry_run: bool,
    approver: Arc<dyn Approver>,
) -> Result<(Backends, String), Error> {
    let (config, prometheus) = sections(service, settings, "argo", |s| s.argo.clone())?;
    let usage = BackendError::Traffic;
    let client = config.client().map_err(usage)?;
    let label = format!(
        "argo:{}/{}/{}",
        client.server(),
        config.namespace,
        config.rollout
    );
    let router = ArgoRolloutRouter::new(config, client).map_err(usage)?;
    Ok((
        real(
            dry_run_if(dry_run, Arc::new(router), &label),
            prometheus,
            settings,
            approver,
        )?,
        label,
    ))
}

/// With `dry_run`, the router reads live weights and prints each change instead.
fn dry_run_if(
    dry_run: bool,
    router: Arc<dyn TrafficRouter>,
    label: &str,
) -> Arc<dyn TrafficRouter> {
    if dry_run {
        Arc::new(DryRunRouter::described(
            router,
            label.to_string(),
            Box::new(std::io::stderr()),
        ))
    } else {
        router
    }
}

/// The service's `[services.NAME.<target>]` section and its Prometheus section;
/// a missing one is a usage error that shows what to add.
fn sections<T>(
    service: &str,
    settings: &Settings,
    target: &'static str,
    pick: impl Fn(&ServiceSettings) -> Option<T>,
) -> Result<(T, crate::metrics::prometheus::PrometheusConfig), Error> {
    let section = settings.services.get(service);
    let config = section
        .and_then(&pick)
        .ok_or_else(|| missing(service, target))?;
    let prometheus = section
        .and_then(|s| s.prometheus.clone())
        .ok_or_else(|| missing(service, "prometheus"))?;
    Ok((config, prometheus))
}

/// A minimal line of each section, for error messages.
fn example(section: &str) -> &'static str {
    match section {
        "haproxy" => "socket = \"/run/haproxy/admin.sock\"",
        "kubernetes" => "namespace = \"shop\", httproute = \"checkout\"",
        "argo" => "namespace = \"shop\", rollout = \"checkout\"",
        _ => "url = \"http://127.0.0.1:9090\"",
    }
}

fn real(
    traffic: Arc<dyn TrafficRouter>,
    prometheus: crate::metrics::prometheus::PrometheusConfig,
    settings: &Settings,
    approver: Arc<dyn Approver>,
) -> Result<Backends, Error> {
    // Real backends run on the system clock, so rollout time is Unix time.
    let metrics = PrometheusMetrics::new(
        prometheus,
        settings.prometheus_token.clone(),
        ClockMapping::unix(),
    )
    .map_err(BackendError::from)?;
    Ok(Backends::real(traffic, Arc::new(metrics), approver))
}

fn missing(service: &str, section: &'static str) -> BackendError {
    BackendError::MissingSection {
        service: service.into(),
        section,
        example: example(section),
    }
}

/// Why a real target's backends could not be built. All bad input (exit 2):
/// the configuration names something the adapter cannot drive.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("no [services.{service}.{section}] in the config: add it to deploy-agent.toml (e.g. {example})")]
    MissingSection {
        service: String,
        section: &'static str,
        /// A minimal line of the section.
        example: &'static str,
    },
    #[error(transparent)]
    Traffic(#[from] crate::traffic::TrafficError),
    #[error(transparent)]
    Metrics(#[from] crate::metrics::MetricsError),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_section_is_named_with_an_example() {
        let e = missing("shop", "argo").to_string();
        assert_eq!(
            e,
            "no [services.shop.argo] in the config: add it to deploy-agent.toml (e.g. namespace = \"shop\", rollout = \"checkout\")"
        );
        assert!(missing("shop", "prometheus").to_string().contains("url = "));
    }
}
