//! The Slack Web API client: the few methods the approver and the
//! interactivity handler call, and the poster of replies to a click's
//! `response_url`, both with a timeout and bounded retries.

use std::time::Duration;

use serde_json::Value;

/// Where the bot token comes from (never a file or a flag).
pub const BOT_TOKEN_ENV: &str = "SLACK_BOT_TOKEN";
/// Slack's Web API.
pub const DEFAULT_API_URL: &str = "https://slack.com/api";
/// Where Slack's `response_url`s point.
pub const RESPONSE_URL_HOST: &str = "hooks.slack.com";
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
    /// `[slack] approvers`: who decides for services without their own list.
    pub approvers: Vec<String>,
    /// Hosts a click's `response_url` may point at (lower case); any other is
    /// not followed, since the URL comes from the request body.
    pub response_url_hosts: Vec<String>,
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
            approvers: Vec::new(),
            response_url_hosts: vec![RESPONSE_URL_HOST.into()],
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
    #[error("not following the click's response_url to {host}: it is none of Slack's hosts ({allowed:?}, `[slack] response_url_hosts`); the decision itself stands")]
    UntrustedResponseUrl { host: String, allowed: Vec<String> },
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
    hosts: Vec<String>,
}

impl ResponseUrlClient {
    /// With `[slack] timeout_secs` and `max_retries`, like the Web API client,
    /// and `response_url_hosts`.
    pub fn new(settings: &SlackSettings) -> Result<Self, SlackError> {
        Ok(Self {
            http: http_client(settings.timeout_secs)?,
            max_retries: settings.max_retries,
            hosts: settings.response_url_hosts.clone(),
        })
    }

    /// POSTs `body` (JSON) to `url`; any 2xx is success (Slack answers `ok`
    /// in plain text or JSON depending on the surface). A URL whose host is
    /// not one of `response_url_hosts` is not called
    /// ([`SlackError::UntrustedResponseUrl`]): it comes from the request, and
    /// a signed request is still no reason to let `serve` POST anywhere.
    pub async fn post(&self, url: &str, body: &Value) -> Result<(), SlackError> {
        self.check(url)?;
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

impl ResponseUrlClient {
    /// https to a listed host; plain http only to a listed loopback address (tests).
    fn check(&self, url: &str) -> Result<(), SlackError> {
        let parsed = reqwest::Url::parse(url).ok();
        let host = parsed
            .as_ref()
            .and_then(|u| u.host_str())
            .map(|h| h.trim_matches(['[', ']']).to_ascii_lowercase());
        let scheme_ok = |host: &str| match parsed.as_ref().map(reqwest::Url::scheme) {
            Some("https") => true,
            Some("http") => host
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback()),
            _ => false,
        };
        match host {
            Some(h) if self.hosts.contains(&h) && scheme_ok(&h) => Ok(()),
            other => Err(SlackError::UntrustedResponseUrl {
                host: other.unwrap_or_else(|| format!("an unreadable URL ({url})")),
                allowed: self.hosts.clone(),
            }),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn client(hosts: &[&str]) -> ResponseUrlClient {
        ResponseUrlClient::new(&SlackSettings {
            response_url_hosts: hosts.iter().map(|h| h.to_string()).collect(),
            ..SlackSettings::default()
        })
        .unwrap()
    }

    #[test]
    fn response_urls_are_followed_only_to_listed_hosts() {
        let slack = client(&[RESPONSE_URL_HOST]);
        assert!(slack
            .check("https://hooks.slack.com/actions/T1/2/x")
            .is_ok());
        assert!(slack
            .check("https://HOOKS.slack.com/actions/T1/2/x")
            .is_ok());
        for bad in [
            "http://hooks.slack.com/actions/x",
            "https://hooks.slack.com.evil.example/actions/x",
            "https://evil.example/?hooks.slack.com",
            "https://user@169.254.169.254/latest",
            "not a url",
        ] {
            let err = slack.check(bad).unwrap_err();
            assert!(
                matches!(err, SlackError::UntrustedResponseUrl { .. }),
                "{bad}: {err}"
            );
        }
        let local = client(&["127.0.0.1"]);
        assert!(local.check("http://127.0.0.1:9/response/1").is_ok());
        assert!(local.check("http://localhost:9/response/1").is_err());
    }
}
