//! `[serve]`: what `deploy-agent serve` accepts deliveries from, what a merge
//! rolls out, and the limits of its HTTP endpoint and of fetching a merge.

use std::path::PathBuf;

use serde::Deserialize;

use super::SettingsError;

/// Settings for `deploy-agent serve` (`[serve]`): where deliveries may come from,
/// which services a merge rolls out, and the limits of the HTTP endpoint.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize, schemars::JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct ServeSettings {
    /// The local clone changes are assessed from; a merged sha missing from it is
    /// fetched from its `origin` first.
    pub repo: Option<PathBuf>,
    /// Services rolled out for every merge to [`ServeSettings::branch`].
    pub services: Vec<String>,
    /// Approve as this name without asking (automation); else the journal waits
    /// for `deploy-agent approve`.
    pub approve_as: Option<String>,
    /// `owner/name` of every repository whose deliveries may roll out, compared
    /// case-insensitively with the payload's `repository.full_name`. `serve`
    /// refuses to start without one.
    pub repositories: Vec<String>,
    /// The branch whose merges roll out (the payload's `default_branch` is not
    /// trusted). Default `main`.
    pub branch: String,
    /// Seconds a client gets to send a request's headers, and again its whole
    /// body; idle keep-alive connections are closed after as long. Default 10.
    pub request_timeout_secs: u64,
    /// Connections served at once; more wait in the listen backlog. Default 256.
    pub max_connections: usize,
    /// Seconds one `git fetch` of a merged commit may take. Default 60.
    pub fetch_timeout_secs: u64,
    /// Further fetch attempts after a failed one, with backoff. Default 3.
    pub fetch_retries: u32,
}

impl Default for ServeSettings {
    fn default() -> Self {
        Self {
            repo: None,
            services: Vec::new(),
            approve_as: None,
            repositories: Vec::new(),
            branch: "main".into(),
            request_timeout_secs: 10,
            max_connections: 256,
            fetch_timeout_secs: 60,
            fetch_retries: 3,
        }
    }
}

/// `[serve]`: names and limits checked, the branch without `refs/heads/`.
/// An empty `repositories` passes here (other commands do not need it); `serve`
/// refuses to start without one.
pub(super) fn validate_serve(mut serve: ServeSettings) -> Result<ServeSettings, SettingsError> {
    let invalid = |m: String| Err(SettingsError::Invalid(m));
    if let Some(bad) = serve.services.iter().find(|s| s.trim().is_empty()) {
        return invalid(format!("serve.services holds an empty name ({bad:?})"));
    }
    for r in &serve.repositories {
        if !is_full_name(r) {
            return invalid(format!(
                "serve.repositories: `{r}` is not `owner/name` (e.g. repositories = [\"acme/shop\"])"
            ));
        }
    }
    let branch = serve.branch.trim();
    serve.branch = branch
        .strip_prefix("refs/heads/")
        .unwrap_or(branch)
        .to_string();
    if !is_branch_name(&serve.branch) {
        return invalid(format!(
            "serve.branch: `{}` is not a branch name (e.g. branch = \"main\")",
            serve.branch
        ));
    }
    if serve.request_timeout_secs == 0 || serve.request_timeout_secs > 300 {
        return invalid("serve.request_timeout_secs must be between 1 and 300".into());
    }
    if serve.max_connections == 0 || serve.max_connections > 65_536 {
        return invalid("serve.max_connections must be between 1 and 65536".into());
    }
    if serve.fetch_timeout_secs == 0 || serve.fetch_timeout_secs > 3600 {
        return invalid("serve.fetch_timeout_secs must be between 1 and 3600".into());
    }
    if serve.fetch_retries > 10 {
        return invalid("serve.fetch_retries must be at most 10".into());
    }
    Ok(serve)
}

/// GitHub's `owner/name`: one slash, both parts of letters, digits, `.`, `_`, `-`.
fn is_full_name(s: &str) -> bool {
    let ok = |p: &str| {
        !p.is_empty()
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
    };
    matches!(s.split_once('/'), Some((owner, name)) if ok(owner) && ok(name))
}

/// A plain branch name git accepts, and never an option (it goes to `git fetch`).
fn is_branch_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with(['-', '/', '.'])
        && !s.ends_with(['/', '.'])
        && !s.contains("..")
        && !s.contains("//")
        && !s.ends_with(".lock")
        && !s
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || "~^:?*[\\@{".contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body of a `[serve]` section, read and validated.
    fn serve(text: &str) -> Result<ServeSettings, SettingsError> {
        let raw: ServeSettings =
            toml::from_str(text).map_err(|e| SettingsError::Invalid(e.to_string()))?;
        validate_serve(raw)
    }

    #[test]
    fn serve_limits_repositories_and_branch_have_defaults_and_are_checked() {
        let d = serve("").unwrap();
        assert_eq!(d.branch, "main");
        assert!(d.repositories.is_empty());
        assert_eq!((d.request_timeout_secs, d.max_connections), (10, 256));
        assert_eq!((d.fetch_timeout_secs, d.fetch_retries), (60, 3));
        let s = serve(
            "repositories = [\"Acme/Shop\"]\nbranch = \"refs/heads/release\"\nmax_connections = 4\n",
        )
        .unwrap();
        assert_eq!(s.repositories, ["Acme/Shop"]);
        assert_eq!((s.branch.as_str(), s.max_connections), ("release", 4));
        let refused = [
            ("repositories = [\"shop\"]", "serve.repositories"),
            ("repositories = [\"a/b/c\"]", "serve.repositories"),
            ("branch = \"--upload-pack=x\"", "serve.branch"),
            ("branch = \"a b\"", "serve.branch"),
            ("branch = \"\"", "serve.branch"),
            ("request_timeout_secs = 0", "request_timeout_secs"),
            ("max_connections = 0", "max_connections"),
            ("fetch_timeout_secs = 0", "fetch_timeout_secs"),
            ("fetch_retries = 11", "fetch_retries"),
            ("services = [\" \"]", "serve.services"),
            ("secret = \"x\"", "secret"),
        ];
        for (line, says) in refused {
            let err = serve(line).unwrap_err();
            assert!(err.to_string().contains(says), "{line}: {err}");
        }
    }
}
