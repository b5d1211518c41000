//! The GitHub connection: an `octocrab::Octocrab` built from `[github]`, with our
//! deadline and bounded retries around each call, and capped `Link` pagination.
//!
//! **octocrab owns the protocol.** Authentication, `base_uri` (GitHub Enterprise
//! Server: `https://HOST/api/v3`, path kept), the API version and media-type
//! headers, error bodies, `Link` headers and the typed models are its job; the
//! token goes only to the configured API's host (octocrab's auth layer checks
//! the authority, so a redirect or a foreign pagination link never carries it).
//!
//! **What stays ours, and why.** octocrab's `retry` feature would sleep until a
//! rate limit resets however far away that is, and retries 5xx with no pause;
//! [`GitHubClient::call`] backs off, honours `Retry-After`/`x-ratelimit-reset`
//! up to 60 s, and fails with the reset time beyond that, so a CI job never
//! hangs. octocrab's connect/read/write timeouts bound each socket operation;
//! `call` adds a deadline for the whole attempt, so a server that trickles
//! bytes cannot hold a run either. Listings stop after a page cap, because a
//! pull request of 3 000 files or a long history must not cost hundreds of calls.

use std::future::Future;
use std::time::Duration;

use octocrab::{Octocrab, Page};
use serde::de::DeserializeOwned;

pub use super::github_error::GitHubError;
use super::github_error::{Attempt, Failure, Next};

/// The public GitHub API.
pub const DEFAULT_API_URL: &str = "https://api.github.com";

/// Connection settings (`[github]` in the config; tokens from the environment).
#[derive(Debug, Clone, PartialEq)]
pub struct GitHubSettings {
    /// `[github] api_url` (env `DEPLOY_AGENT_GITHUB__API_URL`); GitHub Enterprise: `https://HOST/api/v3`.
    pub api_url: String,
    /// From `GITHUB_TOKEN` only.
    pub token: Option<String>,
    /// From `GITHUB_APP_INSTALLATION_TOKEN` only; enables the check run on `--post`.
    pub app_installation_token: Option<String>,
    pub timeout_secs: u64,
    /// Retries on transport errors, 5xx, 429 and rate-limited 403 (each waits as told, at most 60 s).
    pub max_retries: u32,
    /// Pages followed per listing (100 items a page; 300 for a commit's files).
    pub max_pages: usize,
}

impl Default for GitHubSettings {
    fn default() -> Self {
        Self {
            api_url: DEFAULT_API_URL.into(),
            token: None,
            app_installation_token: None,
            timeout_secs: 20,
            max_retries: 3,
            max_pages: 10,
        }
    }
}

/// octocrab configured for one API and one token, plus our retry bounds.
#[derive(Clone)]
pub struct GitHubClient {
    crab: Octocrab,
    api: String,
    timeout: Duration,
    max_retries: u32,
    max_pages: usize,
}

impl std::fmt::Debug for GitHubClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GitHubClient")
            .field("api", &self.api)
            .field("max_retries", &self.max_retries)
            .finish_non_exhaustive()
    }
}

impl GitHubClient {
    /// Builds the client; call it inside the Tokio runtime that will use it
    /// (octocrab spawns its request buffer there).
    pub fn new(settings: &GitHubSettings, token: Option<String>) -> Result<Self, GitHubError> {
        let api = settings.api_url.trim_end_matches('/').to_string();
        let timeout = Duration::from_secs(settings.timeout_secs.max(1));
        let mut builder = Octocrab::builder()
            .base_uri(api.as_str())
            .map_err(|_| GitHubError::ApiUrl {
                api: api.to_string(),
            })?
            .set_connect_timeout(Some(timeout))
            .set_read_timeout(Some(timeout))
            .set_write_timeout(Some(timeout));
        if let Some(token) = token {
            builder = builder.personal_token(token);
        }
        let crab = builder.build().map_err(|e| GitHubError::Transport {
            api: api.clone(),
            detail: e.to_string(),
        })?;
        Ok(Self {
            crab,
            api,
            timeout,
            max_retries: settings.max_retries.min(10),
            max_pages: settings.max_pages.max(1),
        })
    }

    pub fn api(&self) -> &str {
        &self.api
    }

    /// Pages a listing may read: `wanted`, but never more than `[github] max_pages`.
    pub fn page_cap(&self, wanted: usize) -> usize {
        wanted.min(self.max_pages).max(1)
    }

    /// The octocrab instance, for the typed calls passed to [`Self::call`].
    pub fn octocrab(&self) -> &Octocrab {
        &self.crab
    }

    /// Runs `op` (one octocrab call) with a deadline per attempt and bounded
    /// retries; `path` names the call in errors and logs.
    pub async fn call<T, F, Fut>(&self, path: &str, op: F) -> Result<T, GitHubError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = octocrab::Result<T>>,
    {
        let mut number = 0;
        loop {
            let failure = match tokio::time::timeout(self.timeout, op()).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(e)) => Failure::from(e),
                Err(_) => Failure::Transport(format!(
                    "no complete answer within {}s ([github] timeout_secs)",
                    self.timeout.as_secs()
                )),
            };
            let attempt = Attempt {
                api: &self.api,
                path,
                number,
                max_retries: self.max_retries,
            };
            match attempt.next(failure) {
                Next::Fail(e) => return Err(e),
                Next::Retry(wait) => {
                    number += 1;
                    tracing::warn!(
                        path,
                        attempt = number,
                        wait_ms = wait.as_millis() as u64,
                        "GitHub call failed; retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    /// A listing: the first page from `first` (a typed octocrab call), then
    /// `Link: rel="next"` for at most `max_pages` pages in all (fewer when
    /// `[github] max_pages` is smaller). Returns the items and whether pages
    /// were left unread.
    pub async fn pages<T, F, Fut>(
        &self,
        path: &str,
        max_pages: usize,
        first: F,
    ) -> Result<(Vec<T>, bool), GitHubError>
    where
        T: DeserializeOwned,
        F: Fn() -> Fut,
        Fut: Future<Output = octocrab::Result<Page<T>>>,
    {
        let mut page = self.call(path, first).await?;
        let mut items = page.take_items();
        for _ in 1..self.page_cap(max_pages) {
            let Some(next) = page.next.take() else {
                return Ok((items, false));
            };
            if !self.same_api(&next.to_string()) {
                return Ok((items, false));
            }
            let next = Some(next);
            match self.call(path, || self.crab.get_page::<T>(&next)).await? {
                Some(p) => page = p,
                None => return Ok((items, false)),
            }
            items.extend(page.take_items());
        }
        Ok((items, page.next.is_some()))
    }

    /// One GET whose answer is an object with a paginated array inside (a
    /// commit's `files`, which octocrab's `Page` cannot hold): the body as
    /// text and the `rel="next"` link, if it stays on this API.
    pub async fn object_page(
        &self,
        path: &str,
        uri: &str,
    ) -> Result<(String, Option<String>), GitHubError> {
        let (body, next) = self
            .call(path, || async {
                let answer = octocrab::map_github_error(self.crab._get(uri).await?).await?;
                let next = answer
                    .headers()
                    .get("link")
                    .and_then(|v| v.to_str().ok())
                    .and_then(next_link);
                Ok((self.crab.body_to_string(answer).await?, next))
            })
            .await?;
        Ok((body, next.filter(|n| self.same_api(n))))
    }

    /// Pagination links are followed only on the configured API.
    fn same_api(&self, next: &str) -> bool {
        let same = next.starts_with(&self.api);
        if !same {
            tracing::warn!(next, "ignoring a pagination link to another host");
        }
        same
    }
}

/// The `rel="next"` target of a `Link` header.
pub fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"")
            .then(|| {
                url.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .to_string()
            })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_link_is_found_among_others() {
        assert_eq!(
            next_link(
                "<https://api.github.com/x?page=2>; rel=\"next\", <https://api.github.com/x?page=5>; rel=\"last\""
            )
            .as_deref(),
            Some("https://api.github.com/x?page=2")
        );
        assert_eq!(
            next_link("<https://api.github.com/x?page=1>; rel=\"prev\""),
            None
        );
    }
}
