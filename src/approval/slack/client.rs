//! The Slack Web API client: the few methods the approver and the
//! interactivity handler call, and the poster of replies to a click's
//! `response_url`, both with a timeout and bounded retries.

use std::time::Duration;

use serde_json::Value;

/// Where the bot token comes from (never a file or a flag).
pub const BOT_TOKEN_ENV: &str = "SLACK_BOT_TOKEN";
/// Slack's Web API.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";
/// `[slack]` plus the bot token from the environment.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackSettings {
    pub api_url: String,
    /// The default channel; `[services.NAME.slack] channel` overrides it.
    pub channel: Option<String>,
    pub timeout_secs: u64,
    pub max_retries: u32,
    /// How long `serve` trusts a user group's members read from Slack.
    pub group_cache_secs: u64,
    /// From `SLACK_BOT_TOKEN` only.
    pub bot_token: Option<String>,
}

impl Default for SlackSettings {
    fn default() -> Self {
        Self {
            api_url: DEFAULT_API_URL.into(),
            channel: None,
            timeout_secs: 10,
            max_retries: 2,
            group_cache_secs: 60,
            bot_token: None,
        }
    }
}

/// Why a Slack call failed. Messages say what to do.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    #[error("Slack needs a bot token in {BOT_TOKEN_ENV} (scope chat:write); it is never read from a file")]
    NoToken,
    #[error("Slack {method} answered ok=false: {error} (check the bot token, its scopes — chat:write, and usergroups:read for approver groups — and that the bot is in the channel)")]
    Api { method: String, error: String },
    #[error("Slack refused the reply to a click with HTTP {status} (a response_url takes 5 replies within 30 minutes; the decision itself stands)")]
    Response { status: u16 },
    #[error("Slack {method} failed after {attempts} attempt(s): {detail}")]
    Transport {
        method: String,
        attempts: u32,
        detail: String,
    },
}

/// A minimal Slack Web API client: JSON POSTs with a bearer token, a timeout and
/// bounded retries on transport errors, 5xx and 429.
#[derive(Debug, Clone)]
pub struct SlackClient {
    http: reqwest::Client,
    api_url: String,
    token: String,
    max_retries: u32,
}

impl SlackClient {
    pub fn new(settings: &SlackSettings) -> Result<Self, SlackError> {
        let token = settings.bot_token.clone().ok_or(SlackError::NoToken)?;
        let http = http_client(settings.timeout_secs)?;
        Ok(Self {
            http,
            api_url: settings.api_url.trim_end_matches('/').to_string(),
            token,
            max_retries: settings.max_retries,
        })
    }

    /// Calls `method` with a JSON `body` (Slack's write methods);
    /// `{"ok": false, "error": ...}` is an error.
    pub async fn call(&self, method: &str, body: &Value) -> Result<Value, SlackError> {
        let url = format!("{}/{method}", self.api_url);
        self.send(method, || self.http.post(&url).json(body)).await
    }

    /// Calls a read method with query arguments: Slack's read methods (e.g.
    /// `usergroups.users.list`) take form or query arguments, not JSON.
    pub async fn get(&self, method: &str, query: &[(&str, &str)]) -> Result<Value, SlackError> {
        let url = format!("{}/{method}", self.api_url);
        self.send(method, || self.http.get(&url).query(query)).await
    }

    /// The members of user group `group` (`S…`); needs the `usergroups:read` scope.
    pub async fn usergroup_members(&self, group: &str) -> Result<Vec<String>, SlackError> {
        let answer = self
            .get("usergroups.users.list", &[("usergroup", group)])
            .await?;
        Ok(answer["users"]
            .as_array()
            .map(|users| {
                users
                    .iter()
                    .filter_map(|u| u.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }

    async fn send(
        &self,
        method: &str,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<Value, SlackError> {
        let (resp, attempts) = with_retries(method, self.max_retries, || {
            request().bearer_auth(&self.token)
        })
        .await?;
        let status = resp.status();
        let answer: Value = resp.json().await.map_err(|e| SlackError::Transport {
            method: method.into(),
            attempts,
            detail: format!("HTTP {status}, unreadable answer: {e}"),
        })?;
        if answer["ok"].as_bool() == Some(true) {
            return Ok(answer);
        }
        Err(SlackError::Api {
            method: method.into(),
            error: answer["error"].as_str().unwrap_or("unknown").to_string(),
        })
    }
}

/// Posts to an interaction's `response_url`: how Slack takes a reply that comes
/// after the 3 s acknowledgement. It needs no token (the URL is the credential),
/// so it works even where `usergroups.users.list` could not be called.
#[derive(Debug, Clone)]
pub struct ResponseUrlClient {
    http: reqwest::Client,
    max_retries: u32,
}

impl ResponseUrlClient {
    /// With `[slack] timeout_secs` and `max_retries`, like the Web API client.
    pub fn new(settings: &SlackSettings) -> Result<Self, SlackError> {
        Ok(Self {
            http: http_client(settings.timeout_secs)?,
            max_retries: settings.max_retries,
        })
    }

    /// POSTs `body` (JSON) to `url`; any 2xx is success (Slack answers `ok`
    /// in plain text or JSON depending on the surface).
    pub async fn post(&self, url: &str, body: &Value) -> Result<(), SlackError> {
        let (resp, _) = with_retries("response_url", self.max_retries, || {
            self.http.post(url).json(body)
        })
        .await?;
        if resp.status().is_success() {
            return Ok(());
        }
        Err(SlackError::Response {
            status: resp.status().as_u16(),
        })
    }
}

fn http_client(timeout_secs: u64) -> Result<reqwest::Client, SlackError> {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(timeout_secs))
        .build()
        .map_err(|e| SlackError::Transport {
            method: "client".into(),
            attempts: 0,
            detail: e.to_string(),
        })
}

/// Sends `request()` until it gets an answer that is not 5xx or 429, at most
/// `max_retries` more times, backing off 200 ms × attempt: a Slack hiccup is
/// retried, a refusal is returned at once. Returns the answer and the attempts.
async fn with_retries(
    method: &str,
    max_retries: u32,
    request: impl Fn() -> reqwest::RequestBuilder,
) -> Result<(reqwest::Response, u32), SlackError> {
    let mut attempts = 0;
    loop {
        attempts += 1;
        let detail = match request().send().await {
            Ok(resp) if resp.status().is_server_error() || resp.status().as_u16() == 429 => {
                format!("HTTP {}", resp.status())
            }
            Ok(resp) => return Ok((resp, attempts)),
            Err(e) => e.to_string(),
        };
        if attempts > max_retries {
            return Err(SlackError::Transport {
                method: method.into(),
                attempts,
                detail,
            });
        }
        tokio::time::sleep(Duration::from_millis(200 * u64::from(attempts))).await;
    }
}
