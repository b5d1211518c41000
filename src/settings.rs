//! Configuration: `deploy-agent.toml` layered with `DEPLOY_AGENT_*` environment variables.
//!
//! Two stages: the raw layers (config crate) are read once and validated into
//! [`Settings`], which the rest of the crate receives explicitly. Secrets never
//! come from the file: the API key is read from `OPENAI_API_KEY` only, the
//! Prometheus bearer token from `PROMETHEUS_BEARER_TOKEN` only, the GitHub tokens
//! from `GITHUB_TOKEN` and `GITHUB_APP_INSTALLATION_TOKEN` only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

mod approvers;
mod raw;
pub mod reference;
mod serve;
mod services;
mod slack;
#[cfg(test)]
mod tests;
mod typos;

pub use approvers::ApproverConfigError;
use serve::validate_serve;
pub use serve::ServeSettings;
use services::validate_service;
pub use services::{ServiceSettings, ServiceSlack, ServiceTargetError};
use slack::validate_slack;

use crate::approval::identity::{Directory, Person};
use crate::approval::slack::SlackSettings;
use crate::git::github::GitHubSettings;
use crate::llm::compat::{StructuredOutput, ToolResults};
use crate::policy::{Policy, PolicyError};
use raw::{lease_timing, validate_github, RawSettings};

/// The default config file name, looked up in the current directory.
pub const CONFIG_FILE: &str = "deploy-agent.toml";

/// Settings for the OpenAI-compatible endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct LlmSettings {
    /// `llm.base_url`, else `OPENAI_BASE_URL`; `None` means the OpenAI default.
    pub base_url: Option<String>,
    /// From `OPENAI_API_KEY` only.
    pub api_key: Option<String>,
    pub model: String,
    /// Per request. 60 s by default: a local model on a CPU takes 5-50 s for
    /// a first turn (prompt processing), and a serial server queues the next call.
    pub timeout_secs: u64,
    pub max_retries: u32,
    /// Bytes of diff shown to the model at most.
    pub excerpt_bytes: usize,
    /// Answer tokens per planner turn (`llm.max_tokens`): a tool call needs
    /// fewer than 200; the cap stops a model that never stops before the timeout does.
    pub max_tokens: u32,
    /// Answer tokens for the risk opinion (`llm.opinion_max_tokens`): its JSON
    /// is three short fields.
    pub opinion_max_tokens: u32,
    /// How tool results are sent back (`llm.tool_results`).
    pub tool_results: ToolResults,
    /// How a JSON answer is asked for (`llm.structured_output`).
    pub structured_output: StructuredOutput,
}

impl Default for LlmSettings {
    /// The defaults of an empty `[llm]` section, with no endpoint configured.
    fn default() -> Self {
        Self {
            base_url: None,
            api_key: None,
            model: "gpt-4o-mini".into(),
            timeout_secs: 60,
            max_retries: 2,
            excerpt_bytes: 16_000,
            max_tokens: 512,
            opinion_max_tokens: 400,
            tool_results: ToolResults::Auto,
            structured_output: StructuredOutput::Auto,
        }
    }
}

impl LlmSettings {
    /// Whether an endpoint is configured at all (a key or a base URL).
    pub fn is_configured(&self) -> bool {
        self.api_key.is_some() || self.base_url.is_some()
    }
}

/// Settings for the rollout journal.
#[derive(Debug, Clone, PartialEq)]
pub struct JournalSettings {
    /// `journal.path` (env `DEPLOY_AGENT_JOURNAL__PATH`); `None`: [`crate::journal::DEFAULT_PATH`].
    pub path: Option<PathBuf>,
}

/// Validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where the policy came from (`None`: the embedded default).
    pub policy_path: Option<PathBuf>,
    pub llm: LlmSettings,
    /// By service name.
    pub services: BTreeMap<String, ServiceSettings>,
    /// From `PROMETHEUS_BEARER_TOKEN` only.
    pub prometheus_token: Option<String>,
    pub journal: JournalSettings,
    /// `[journal] lease_ttl_secs`, `lease_heartbeat_secs`: how long a service's
    /// lease lasts without renewal and how often its holder renews it.
    pub lease: crate::journal::LeaseTiming,
    /// `[github]` (for `assess --github`), tokens from the environment.
    pub github: GitHubSettings,
    pub serve: ServeSettings,
    /// `[slack]`, the bot token from `SLACK_BOT_TOKEN`.
    pub slack: SlackSettings,
    /// `[people.NAME]`: one person's OS account and Slack id, so either
    /// channel records the same approver.
    pub people: BTreeMap<String, Person>,
}

/// Why settings could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("config file {0} does not exist (fix the --config path)")]
    Missing(String),
    #[error("invalid configuration: {message}{see}", message = .0, see = see_reference(.0))]
    Invalid(String),
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// One setting of a backend section (`services.NAME.haproxy.…`) cannot work.
    #[error("invalid configuration: {0} (reference: docs/configuration.md, or `deploy-agent schema config`)")]
    Setting(#[from] crate::error::ConfigError),
}

/// Points at the reference unless the message already names its section.
fn see_reference(message: &str) -> &'static str {
    if message.contains(reference::DOC_PATH) {
        ""
    } else {
        " (reference: docs/configuration.md, or `deploy-agent schema config`)"
    }
}

/// Environment values the settings read besides `DEPLOY_AGENT_*`.
#[derive(Debug, Clone, Default)]
pub struct Env {
    pub openai_api_key: Option<String>,
    pub openai_base_url: Option<String>,
    pub prometheus_bearer_token: Option<String>,
    pub github_token: Option<String>,
    pub github_app_installation_token: Option<String>,
    pub slack_bot_token: Option<String>,
}

impl Env {
    pub fn from_process() -> Self {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        Self {
            openai_api_key: get("OPENAI_API_KEY"),
            openai_base_url: get("OPENAI_BASE_URL"),
            prometheus_bearer_token: get("PROMETHEUS_BEARER_TOKEN"),
            github_token: get("GITHUB_TOKEN"),
            github_app_installation_token: get("GITHUB_APP_INSTALLATION_TOKEN"),
            slack_bot_token: get(crate::approval::slack::BOT_TOKEN_ENV),
        }
    }
}

impl Settings {
    /// Loads `explicit` (must exist) or `./deploy-agent.toml` (if present), then the environment.
    pub fn load(explicit: Option<&Path>, env: &Env) -> Result<Self, SettingsError> {
        let mut builder = config::Config::builder();
        match explicit {
            Some(path) if !path.exists() => {
                return Err(SettingsError::Missing(path.display().to_string()))
            }
            Some(path) => builder = builder.add_source(config::File::from(path).required(true)),
            None => {
                builder = builder.add_source(config::File::with_name(CONFIG_FILE).required(false))
            }
        }
        builder = builder.add_source(
            config::Environment::with_prefix("DEPLOY_AGENT")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true),
        );
        let raw: RawSettings = builder
            .build()
            .and_then(|c| c.try_deserialize())
            .map_err(|e| SettingsError::Invalid(explain(e)))?;
        Self::validate(raw, env)
    }

    fn validate(raw: RawSettings, env: &Env) -> Result<Self, SettingsError> {
        let d = LlmSettings::default();
        let timeout_secs = raw.llm.timeout_secs.unwrap_or(d.timeout_secs);
        if timeout_secs == 0 || timeout_secs > 600 {
            return Err(SettingsError::Invalid(
                "llm.timeout_secs must be between 1 and 600".into(),
            ));
        }
        let max_retries = raw.llm.max_retries.unwrap_or(d.max_retries);
        if max_retries > 10 {
            return Err(SettingsError::Invalid(
                "llm.max_retries must be at most 10".into(),
            ));
        }
        let max_tokens = raw.llm.max_tokens.unwrap_or(d.max_tokens);
        let opinion_max_tokens = raw.llm.opinion_max_tokens.unwrap_or(d.opinion_max_tokens);
        if !(16..=32_768).contains(&max_tokens) || !(16..=32_768).contains(&opinion_max_tokens) {
            return Err(SettingsError::Invalid(
                "llm.max_tokens and llm.opinion_max_tokens must be between 16 and 32768".into(),
            ));
        }
        let mut services = raw.services;
        for (name, service) in services.iter_mut() {
            // The HAProxy preset queries the backend this service moves.
            if let (Some(h), Some(p)) = (&service.haproxy, service.prometheus.take()) {
                service.prometheus =
                    Some(p.with_haproxy(&h.backend, &h.stable_server, &h.canary_server));
            }
            validate_service(name, service)?;
        }
        let github = validate_github(raw.github, env)?;
        let serve = validate_serve(raw.serve)?;
        let slack = validate_slack(raw.slack, env)?;
        approvers::validate_people(&raw.people)?;
        Ok(Settings {
            slack,
            people: raw.people,
            github,
            services,
            prometheus_token: env.prometheus_bearer_token.clone(),
            policy_path: raw.policy,
            llm: LlmSettings {
                base_url: raw.llm.base_url.or_else(|| env.openai_base_url.clone()),
                api_key: env.openai_api_key.clone(),
                model: raw.llm.model.unwrap_or(d.model),
                timeout_secs,
                max_retries,
                excerpt_bytes: raw.llm.excerpt_bytes.unwrap_or(d.excerpt_bytes),
                max_tokens,
                opinion_max_tokens,
                tool_results: raw.llm.tool_results.unwrap_or_default(),
                structured_output: raw.llm.structured_output.unwrap_or_default(),
            },
            lease: lease_timing(&raw.journal)?,
            journal: JournalSettings {
                path: raw.journal.path.filter(|p| !p.as_os_str().is_empty()),
            },
            serve,
        })
    }

    /// The journal file: `override_path` (`--journal`), else `journal.path`, else
    /// `.deploy-agent/journal.db` under the current directory.
    pub fn journal_path(&self, override_path: Option<&Path>) -> PathBuf {
        override_path.or(self.journal.path.as_deref()).map_or_else(
            || PathBuf::from(crate::journal::DEFAULT_PATH),
            Path::to_path_buf,
        )
    }

    /// The Slack channel for `service`: its own, else `[slack] channel`.
    pub fn slack_channel(&self, service: &str) -> Option<&str> {
        self.services
            .get(service)
            .and_then(|s| s.slack.as_ref())
            .and_then(|s| s.channel.as_deref())
            .or(self.slack.channel.as_deref())
    }

    /// Each service's own `approvers` (people, Slack user ids, user groups);
    /// [`Settings::directory`] adds people and the `[slack] approvers` default.
    pub fn slack_approvers(&self) -> BTreeMap<String, Vec<String>> {
        self.services
            .iter()
            .filter_map(|(n, s)| s.slack.as_ref().map(|s| (n.clone(), s.approvers.clone())))
            .collect()
    }

    /// People and allow-lists: who an account is and whom each service lets
    /// decide (see [`Directory`]).
    pub fn directory(&self) -> Directory {
        Directory::new(
            self.people.clone(),
            self.slack_approvers(),
            self.slack.approvers.clone(),
        )
    }

    /// The policy: `override_path`, else the configured one, else the embedded default.
    pub fn policy(&self, override_path: Option<&Path>) -> Result<Policy, PolicyError> {
        match override_path.or(self.policy_path.as_deref()) {
            Some(path) => Policy::load(path),
            None => Policy::embedded(),
        }
    }
}

fn explain(e: config::ConfigError) -> String {
    let s = e.to_string();
    if s.contains("api_key") {
        return "secrets are read only from the environment: remove api_key from the file and set OPENAI_API_KEY".into();
    }
    if s.contains("slack") && (s.contains("token") || s.contains("secret")) {
        return "secrets are read only from the environment: remove it from the file and set SLACK_BOT_TOKEN / SLACK_SIGNING_SECRET".into();
    }
    if s.contains("github") && s.contains("token") {
        return "secrets are read only from the environment: remove the token from [github] and set GITHUB_TOKEN (or GITHUB_APP_INSTALLATION_TOKEN)".into();
    }
    if s.contains("`token`") || s.contains("`bearer_token`") {
        return "secrets are read only from the environment: remove the token from the file and set PROMETHEUS_BEARER_TOKEN".into();
    }
    typos::explain_unknown(&s).unwrap_or(s)
}
