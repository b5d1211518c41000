//! What `assess --github OWNER/REPO REV` names, checked before any call: a
//! repository and a commit sha or `#PR`. Refusing a malformed name here gives
//! a usage error instead of a 404 that sends the user checking their token.

use super::github_client::GitHubError;

/// `OWNER/REPO`, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoName {
    pub owner: String,
    pub name: String,
}

impl RepoName {
    pub fn parse(s: &str) -> Result<Self, GitHubError> {
        let ok = |p: &str| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        };
        match s.split_once('/') {
            Some((o, n)) if ok(o) && ok(n) => Ok(Self {
                owner: o.into(),
                name: n.into(),
            }),
            _ => Err(GitHubError::RepoName { given: s.into() }),
        }
    }
}

impl std::fmt::Display for RepoName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.owner, self.name)
    }
}

/// What to read: a commit sha or a pull request (`#N`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Commit(String),
    Pull(u64),
}

impl Target {
    pub fn parse(rev: &str) -> Result<Self, GitHubError> {
        if let Some(n) = rev.strip_prefix('#') {
            return n
                .parse()
                .map(Target::Pull)
                .map_err(|_| GitHubError::PullNumber { rev: rev.into() });
        }
        if !rev.is_empty() && rev.len() <= 64 && rev.chars().all(|c| c.is_ascii_hexdigit()) {
            return Ok(Target::Commit(rev.to_ascii_lowercase()));
        }
        Err(GitHubError::Revision { rev: rev.into() })
    }
}
