//! `deploy-agent doctor`: the checks a rollout makes before anything moves
//! (its preflight), run on their own and printed as a checklist with what to
//! fix — so a first canary fails here, in seconds, instead of minutes into a
//! rollout. Nothing is changed: the target's weights are only read.

mod render;

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

pub use render::{render_json, render_text};

use crate::approval::FixedApprover;
use crate::commands::backends;
use crate::settings::{Env, Settings};
use crate::traffic::TargetKind;

/// What `doctor` checks.
#[derive(Debug, Clone, Default)]
pub struct DoctorCommand {
    pub config: Option<PathBuf>,
    pub policy: Option<PathBuf>,
    pub journal: Option<PathBuf>,
    /// Only this service (default: every configured one).
    pub service: Option<String>,
}

/// How one check went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Ok,
    /// Works, but something will bite later (e.g. a canary series that only
    /// appears with traffic, a credential only some commands need).
    Warn,
    /// A rollout would fail here.
    Fail,
    /// Not configured, so not checked.
    Skip,
}

/// One line of the checklist.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Check {
    /// What was checked (`config`, `web: target`, …).
    pub name: String,
    pub status: Status,
    /// What was found.
    pub detail: String,
    /// What to do about it (for `warn` and `fail`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Check {
    fn new(name: impl Into<String>, status: Status, detail: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            status,
            detail: detail.into(),
            fix: None,
        }
    }

    fn fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }
}

/// Every check, in the order they ran.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DoctorReport {
    pub checks: Vec<Check>,
}

impl DoctorReport {
    /// Whether any check failed (the command's exit code says so).
    pub fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.status == Status::Fail)
    }
}

/// Runs every check. Never fails itself: what goes wrong is a failed check.
pub async fn run_doctor(cmd: &DoctorCommand) -> DoctorReport {
    let mut checks = Vec::new();
    let settings =
        match Settings::load(cmd.config.as_deref(), &Env::from_process()) {
            Ok(s) => s,
            Err(e) => {
                checks.push(Check::new("config", Status::Fail, e.to_string()).fix(
                    "correct the file (reference: docs/configuration.md), then run doctor again",
                ));
                return DoctorReport { checks };
            }
        };
    checks.push(config_check(cmd, &settings));
    checks.push(policy_check(cmd, &settings));
    let services: Vec<String> = match &cmd.service {
        Some(name) => vec![name.clone()],
        None => settings.services.keys().cloned().collect(),
    };
    for name in &services {
        service_checks(name, &settings, &mut checks).await;
    }
    checks.push(journal_check(cmd, &settings));
    checks.extend(credential_checks(&settings, &services));
    DoctorReport { checks }
}

fn config_check(cmd: &DoctorCommand, settings: &Settings) -> Check {
    let file = cmd.config.as_ref().map_or_else(
        || {
            if std::path::Path::new(crate::settings::CONFIG_FILE).exists() {
                crate::settings::CONFIG_FILE.to_string()
            } else {
                format!("no {} here: the defaults", crate::settings::CONFIG_FILE)
            }
        },
        |p| p.display().to_string(),
    );
    let names: Vec<&str> = settings.services.keys().map(String::as_str).collect();
    let services = if names.is_empty() {
        "no services (only the simulated demo)".to_string()
    } else {
        format!("services: {}", names.join(", "))
    };
    Check::new("config", Status::Ok, format!("{file}; {services}"))
}

fn policy_check(cmd: &DoctorCommand, settings: &Settings) -> Check {
    match settings.policy(cmd.policy.as_deref()) {
        Ok(p) => {
            let source = cmd
                .policy
                .as_ref()
                .or(settings.policy_path.as_ref())
                .map_or("embedded default".to_string(), |p| p.display().to_string());
            Check::new("policy", Status::Ok, format!("{source} ({})", p.hash))
        }
        Err(e) => Check::new("policy", Status::Fail, e.to_string())
            .fix("correct the policy file (see policies/default.toml for every key)"),
    }
}

/// Target resolution, the target's preflight and live weight, and the metrics'
/// preflight, each as its own line.
async fn service_checks(name: &str, settings: &Settings, checks: &mut Vec<Check>) {
    let label = |what: &str| format!("{name}: {what}");
    let Some(service) = settings.services.get(name) else {
        let known: Vec<&str> = settings.services.keys().map(String::as_str).collect();
        checks.push(
            Check::new(label("config"), Status::Fail, format!("no [services.{name}] in the config"))
                .fix(if known.is_empty() {
                    format!("add [services.{name}.haproxy] (or .kubernetes / .argo) and [services.{name}.prometheus]; the simulated demo needs none")
                } else {
                    format!("configured services: {}; add [services.{name}] or fix the name", known.join(", "))
                }),
        );
        return;
    };
    let target = match service.resolve_target(name) {
        Ok(t) => t,
        Err(e) => {
            let e = e.to_string();
            checks.push(Check::new(label("target"), Status::Fail, e.clone()).fix(e));
            return;
        }
    };
    let approver = Arc::new(FixedApprover::reject("doctor asks nobody"));
    let built = match target {
        TargetKind::Sim => {
            checks.push(Check::new(
                label("target"),
                Status::Ok,
                "the simulator (nothing to reach)",
            ));
            return;
        }
        TargetKind::Haproxy => backends::haproxy_prometheus(name, settings, false, approver),
        TargetKind::Kubernetes => backends::kubernetes_prometheus(name, settings, false, approver),
        TargetKind::Argo => backends::argo_prometheus(name, settings, false, approver),
    };
    let (backends, described) = match built {
        Ok(b) => b,
        Err(e) => {
            checks.push(
                Check::new(label("target"), Status::Fail, e.to_string())
                    .fix("complete the section (reference: docs/configuration.md)"),
            );
            return;
        }
    };
    let traffic = &backends.traffic;
    match traffic.preflight().await {
        Ok(()) => checks.push(target_weight(&label("target"), &described, traffic.as_ref()).await),
        Err(e) => checks.push(
            Check::new(label("target"), Status::Fail, format!("{described}: {e}"))
                .fix(fix_for_target(target)),
        ),
    }
    match backends.metrics.preflight().await {
        Ok(warnings) if warnings.is_empty() => checks.push(Check::new(
            label("metrics"),
            Status::Ok,
            "requests, errors and latency answer for both versions",
        )),
        Ok(warnings) => checks.push(
            Check::new(label("metrics"), Status::Warn, warnings.join("; "))
                .fix("expected before a first rollout: the canary's series appear once it gets traffic"),
        ),
        Err(e) => checks.push(
            Check::new(label("metrics"), Status::Fail, e.to_string()).fix(
                "check [services.NAME.prometheus] url, preset and version labels against your series (docs/configuration.md, Prometheus presets)",
            ),
        ),
    }
}

/// The target answered: a rollout starts only from a canary at 0 %.
async fn target_weight(
    name: &str,
    described: &str,
    traffic: &dyn crate::traffic::TrafficRouter,
) -> Check {
    match traffic.canary_weight().await {
        Ok(0) => Check::new(name, Status::Ok, format!("{described}: present, canary at 0 %")),
        Ok(w) => Check::new(name, Status::Warn, format!("{described}: the canary serves {w} % now"))
            .fix("a rollout refuses to start from a serving canary: set it back to 0 (an earlier promotion leaves it at 100 %), or pass --adopt"),
        Err(e) => Check::new(name, Status::Fail, format!("{described}: weight unreadable: {e}"))
            .fix("check the target's permissions"),
    }
}

fn fix_for_target(target: TargetKind) -> &'static str {
    match target {
        TargetKind::Haproxy => "check [services.NAME.haproxy]: socket is HAProxy's runtime API (`stats socket … level admin`), backend and both servers exist in haproxy.cfg",
        TargetKind::Kubernetes => "check [services.NAME.kubernetes]: kubeconfig/context reach the cluster, namespace, Deployments and HTTPRoute exist, RBAC allows get/patch (deploy/rbac.yaml)",
        TargetKind::Argo => "check [services.NAME.argo]: the Rollout exists in the namespace and ends its steps with a pause, RBAC allows get/patch",
        TargetKind::Sim => "",
    }
}

fn journal_check(cmd: &DoctorCommand, settings: &Settings) -> Check {
    let path = settings.journal_path(cmd.journal.as_deref());
    let is_url = crate::journal::is_database_url(&path);
    let shown = if is_url {
        "the PostgreSQL journal".to_string()
    } else {
        path.display().to_string()
    };
    if !is_url && !path.exists() {
        // Doctor changes nothing: probe the nearest directory that exists (the
        // rollout creates the rest), not the journal's own, which may not yet.
        let existing = path
            .ancestors()
            .skip(1)
            .map(|d| {
                if d.as_os_str().is_empty() {
                    std::path::Path::new(".")
                } else {
                    d
                }
            })
            .find(|d| d.is_dir());
        let writable = existing.is_some_and(|d| tempfile_in(d).is_ok());
        return if writable {
            Check::new(
                "journal",
                Status::Ok,
                format!("{shown}: created at the first rollout"),
            )
        } else {
            Check::new(
                "journal",
                Status::Fail,
                format!("{shown}: its directory is not writable"),
            )
            .fix("set journal.path (or --journal) to a writable place")
        };
    }
    match crate::journal::open_path(&path).and_then(|j| j.list(None, 1)) {
        Ok(r) => Check::new(
            "journal",
            Status::Ok,
            format!("{shown}: readable ({})", if r.is_empty() { "empty" } else { "has rollouts" }),
        ),
        Err(e) => Check::new("journal", Status::Fail, format!("{shown}: {e}"))
            .fix("fix journal.path / --journal (PostgreSQL: the database must exist, password in PGPASSWORD)"),
    }
}

fn tempfile_in(dir: &std::path::Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".doctor-{}", std::process::id()));
    std::fs::write(&probe, b"")?;
    std::fs::remove_file(probe)
}

/// Credentials the configured channels need (presence only: doctor sends nothing).
fn credential_checks(settings: &Settings, services: &[String]) -> Vec<Check> {
    let mut checks = Vec::new();
    let channels: Vec<(&str, &str)> = services
        .iter()
        .filter_map(|s| settings.slack_channel(s).map(|c| (s.as_str(), c)))
        .collect();
    checks.push(match (channels.is_empty(), settings.slack.bot_token.is_some()) {
        (true, _) => Check::new("slack", Status::Skip, "no channel configured: approvals in the terminal or with `deploy-agent approve`"),
        (false, true) => Check::new("slack", Status::Ok, format!("approvals in {}; SLACK_BOT_TOKEN set", channels[0].1)),
        (false, false) => Check::new("slack", Status::Fail, format!("approvals of {} go to {} but SLACK_BOT_TOKEN is not set", channels[0].0, channels[0].1))
            .fix("export SLACK_BOT_TOKEN=xoxb-… (scope chat:write; docs/slack.md), or remove the channel"),
    });
    let serving = !settings.serve.repositories.is_empty();
    if serving {
        // What `serve` refuses to start with: approvers nobody can be.
        checks.push(match settings.check_approvers() {
            Ok(()) => Check::new(
                "approvers",
                Status::Ok,
                "every approver can match a person, a Slack user or a group",
            ),
            Err(e) => Check::new("approvers", Status::Fail, e.to_string())
                .fix("serve refuses to start with this: see docs/slack.md, \"Who is who\""),
        });
    }
    checks.push(match (settings.github.token.is_some(), serving) {
        (true, _) => Check::new(
            "github",
            Status::Ok,
            format!("GITHUB_TOKEN set ({})", settings.github.api_url),
        ),
        (false, true) => Check::new(
            "github",
            Status::Warn,
            "serve is configured but GITHUB_TOKEN is not set: no PR comments or statuses",
        )
        .fix("export GITHUB_TOKEN (docs/github.md for scopes)"),
        (false, false) => Check::new(
            "github",
            Status::Skip,
            "GITHUB_TOKEN not set: only `assess --github` and serve's comments need it",
        ),
    });
    checks.push(if settings.llm.is_configured() {
        Check::new(
            "llm",
            Status::Ok,
            format!(
                "{} at {} (not called here: `deploy-agent llm check` tries it)",
                settings.llm.model,
                settings.llm.base_url.as_deref().unwrap_or("OpenAI")
            ),
        )
    } else {
        Check::new(
            "llm",
            Status::Skip,
            "no endpoint: the playbook planner decides, assess gives no model opinion",
        )
    });
    checks
}
