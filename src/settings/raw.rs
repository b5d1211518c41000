//! The file's shape as written (`Raw*`: every field optional, unknown fields
//! refused, documented for the reference) and the checks that turn the
//! simple sections into their validated settings.

use std::collections::BTreeMap;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::Deserialize;

use super::slack::RawSlack;
use super::{Env, ServeSettings, ServiceSettings, SettingsError};
use crate::approval::identity::Person;
use crate::git::github::GitHubSettings;

/// The whole `deploy-agent.toml`. Every section and field is optional; secrets
/// are never read from it (environment only).
#[derive(Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "deploy-agent.toml")]
pub(crate) struct RawSettings {
    /// A policy file (TOML) replacing the embedded default (`policies/default.toml`).
    #[schemars(extend("examples" = ["policies/default.toml"]))]
    pub(super) policy: Option<PathBuf>,
    /// `[llm]`: the OpenAI-compatible endpoint the planner and `assess --llm` call.
    #[serde(default)]
    pub(super) llm: RawLlm,
    /// `[services.NAME]`: one section per service, with its target and metrics.
    #[serde(default)]
    pub(super) services: BTreeMap<String, ServiceSettings>,
    /// `[journal]`: where rollouts are recorded.
    #[serde(default)]
    pub(super) journal: RawJournal,
    /// `[github]`: the GitHub (or GitHub Enterprise) API.
    #[serde(default)]
    pub(super) github: RawGitHub,
    /// `[serve]`: the webhook server.
    #[serde(default)]
    pub(super) serve: ServeSettings,
    /// `[slack]`: approvals in Slack.
    #[serde(default)]
    pub(super) slack: RawSlack,
    /// `[people.NAME]`: one person's accounts, so a vote in Slack and one in the
    /// CLI are the same voter (names: lower case, no `:`).
    #[serde(default)]
    pub(super) people: BTreeMap<String, Person>,
}

/// `[github]` (`GITHUB_TOKEN` / `GITHUB_APP_INSTALLATION_TOKEN` from the environment only).
#[derive(Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawGitHub {
    /// The REST API base; GitHub Enterprise: `https://HOST/api/v3`.
    #[schemars(extend("default" = "https://api.github.com"))]
    pub(super) api_url: Option<String>,
    /// Per request (1-600).
    #[schemars(extend("default" = 20))]
    pub(super) timeout_secs: Option<u64>,
    /// Retries after 5xx, rate limits or transport errors (at most 10).
    #[schemars(extend("default" = 3))]
    pub(super) max_retries: Option<u32>,
    /// Pages of a listing read at most (1-100; 100 items a page).
    #[schemars(extend("default" = 10))]
    pub(super) max_pages: Option<usize>,
}

/// `[journal]`: the record every rollout writes ahead of its actions.
#[derive(Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawJournal {
    /// A SQLite file, or a `postgres://` URL shared by several replicas
    /// (password from `PGPASSWORD`). Env: `DEPLOY_AGENT_JOURNAL__PATH`.
    #[schemars(extend("default" = ".deploy-agent/journal.db", "examples" = ["postgres://deploy@db/deploy_agent"]))]
    pub(super) path: Option<PathBuf>,
    /// How long a service's lease lasts without renewal (1-3600).
    #[schemars(extend("default" = 30.0))]
    pub(super) lease_ttl_secs: Option<f64>,
    /// How often its holder renews it (at least 0.1, at most a third of the TTL).
    #[schemars(extend("default" = 5.0))]
    pub(super) lease_heartbeat_secs: Option<f64>,
}

/// `[llm]`: the OpenAI-compatible endpoint (`OPENAI_API_KEY` from the environment only).
#[derive(Debug, Deserialize, Default, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawLlm {
    /// The endpoint's base URL, else `OPENAI_BASE_URL`, else OpenAI's.
    #[schemars(extend("examples" = ["http://127.0.0.1:8080/v1"]))]
    pub(super) base_url: Option<String>,
    /// The model name sent with every request.
    #[schemars(extend("default" = "gpt-4o-mini"))]
    pub(super) model: Option<String>,
    /// Per request (1-600). Local models on a CPU take 5-50 s for a first turn.
    #[schemars(extend("default" = 60))]
    pub(super) timeout_secs: Option<u64>,
    /// Retries after a timeout, 429 or 5xx (at most 10); a request the server
    /// calls invalid is never retried.
    #[schemars(extend("default" = 2))]
    pub(super) max_retries: Option<u32>,
    /// Bytes of the diff shown to the model at most.
    #[schemars(extend("default" = 16000))]
    pub(super) excerpt_bytes: Option<usize>,
    /// Answer tokens per planner turn (16-32768), sent on every request as
    /// `max_tokens` (or `max_completion_tokens` when the server asks for it).
    #[schemars(extend("default" = 512))]
    pub(super) max_tokens: Option<u32>,
    /// Answer tokens for the risk opinion of `assess --llm` (16-32768).
    #[schemars(extend("default" = 400))]
    pub(super) opinion_max_tokens: Option<u32>,
    /// How tool results go back to the model (`deploy-agent llm check` shows
    /// what `auto` finds).
    #[schemars(extend("default" = "auto"))]
    pub(super) tool_results: Option<crate::llm::compat::ToolResults>,
    /// How a JSON answer (the risk opinion) is asked for; the answer is
    /// checked against its type in every mode.
    #[schemars(extend("default" = "auto"))]
    pub(super) structured_output: Option<crate::llm::compat::StructuredOutput>,
}

/// Lease timing: a lease must outlive a few missed heartbeats, and a takeover
/// should come within a minute or so of a crash.
pub(super) fn lease_timing(raw: &RawJournal) -> Result<crate::journal::LeaseTiming, SettingsError> {
    let d = crate::journal::LeaseTiming::default();
    let ttl = raw.lease_ttl_secs.unwrap_or(d.ttl_secs);
    let beat = raw.lease_heartbeat_secs.unwrap_or(d.heartbeat_secs);
    if !((1.0..=3600.0).contains(&ttl) && beat >= 0.1 && beat * 3.0 <= ttl) {
        return Err(SettingsError::Invalid(format!(
            "journal.lease_ttl_secs must be 1-3600 and lease_heartbeat_secs at least 0.1 and at most a third of it (got {ttl} and {beat})"
        )));
    }
    Ok(crate::journal::LeaseTiming {
        ttl_secs: ttl,
        heartbeat_secs: beat,
    })
}

pub(super) fn validate_github(raw: RawGitHub, env: &Env) -> Result<GitHubSettings, SettingsError> {
    let d = GitHubSettings::default();
    let api_url = raw.api_url.unwrap_or(d.api_url);
    if !(api_url.starts_with("https://") || api_url.starts_with("http://")) {
        return Err(SettingsError::Invalid(format!(
            "github.api_url must be an http(s) URL (GitHub Enterprise: https://HOST/api/v3), got `{api_url}`"
        )));
    }
    let timeout_secs = raw.timeout_secs.unwrap_or(d.timeout_secs);
    let max_retries = raw.max_retries.unwrap_or(d.max_retries);
    let max_pages = raw.max_pages.unwrap_or(d.max_pages);
    if timeout_secs == 0
        || timeout_secs > 600
        || max_retries > 10
        || max_pages == 0
        || max_pages > 100
    {
        return Err(SettingsError::Invalid(
            "github: timeout_secs 1..=600, max_retries at most 10, max_pages 1..=100".into(),
        ));
    }
    Ok(GitHubSettings {
        api_url,
        token: env.github_token.clone(),
        app_installation_token: env.github_app_installation_token.clone(),
        timeout_secs,
        max_retries,
        max_pages,
    })
}
