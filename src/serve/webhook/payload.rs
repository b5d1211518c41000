//! The parts of GitHub's `ping`, `push` and `pull_request` payloads that decide
//! a delivery, and the rules they are held to.

use serde::Deserialize;

use super::{Delivery, PayloadError, Rules};

/// Reads the JSON of a `ping`, `push` or `pull_request` delivery (any other
/// `event` reads as a pull request). A `Deploy` leaves `event` and `delivery`
/// for [`super::parse`] to fill in.
pub(super) fn read(event: &str, json: &[u8], rules: &Rules) -> Result<Delivery, PayloadError> {
    let bad = |e: serde_json::Error| PayloadError::Malformed(e.to_string());
    match event {
        "ping" => {
            let p: PingPayload = serde_json::from_slice(json).map_err(bad)?;
            Ok(match p.repository.map(|r| rules.check(&r.full_name)) {
                Some(Err(forbidden)) => forbidden,
                _ => Delivery::Ping,
            })
        }
        "push" => read_push(serde_json::from_slice(json).map_err(bad)?, rules),
        _ => read_pull_request(serde_json::from_slice(json).map_err(bad)?, rules),
    }
}

impl Rules {
    fn check(&self, full_name: &str) -> Result<(), Delivery> {
        if self
            .repositories
            .iter()
            .any(|r| r.eq_ignore_ascii_case(full_name))
        {
            return Ok(());
        }
        Err(Delivery::Forbidden(format!(
            "repository `{full_name}` is not in `[serve] repositories`: nothing is rolled out (add it there, or remove this hook)"
        )))
    }
}

#[derive(Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Deserialize)]
struct PushPayload {
    #[serde(rename = "ref")]
    git_ref: String,
    after: String,
    repository: Repository,
    #[serde(default)]
    deleted: bool,
}

#[derive(Deserialize)]
struct PullRequest {
    #[serde(default)]
    merged: bool,
    merge_commit_sha: Option<String>,
    base: BaseRef,
}

#[derive(Deserialize)]
struct BaseRef {
    #[serde(rename = "ref")]
    git_ref: String,
}

#[derive(Deserialize)]
struct PullRequestPayload {
    action: String,
    pull_request: PullRequest,
    repository: Repository,
}

#[derive(Deserialize)]
struct PingPayload {
    repository: Option<Repository>,
}

fn read_push(p: PushPayload, rules: &Rules) -> Result<Delivery, PayloadError> {
    if let Err(forbidden) = rules.check(&p.repository.full_name) {
        return Ok(forbidden);
    }
    let wanted = format!("refs/heads/{}", rules.branch);
    if p.git_ref != wanted {
        return Ok(Delivery::Ignored(format!(
            "push to {} is not the deploy branch {wanted} (`[serve] branch`)",
            p.git_ref
        )));
    }
    if p.deleted || p.after.chars().all(|c| c == '0') {
        return Ok(Delivery::Ignored("the push deletes the branch".into()));
    }
    check_sha(&p.after)?;
    Ok(deploy(
        p.repository.full_name,
        p.after,
        format!("push to {wanted}"),
    ))
}

fn read_pull_request(p: PullRequestPayload, rules: &Rules) -> Result<Delivery, PayloadError> {
    if let Err(forbidden) = rules.check(&p.repository.full_name) {
        return Ok(forbidden);
    }
    if p.action != "closed" || !p.pull_request.merged {
        return Ok(Delivery::Ignored(format!(
            "pull_request {} (not merged): nothing to roll out",
            p.action
        )));
    }
    let base = &p.pull_request.base.git_ref;
    if *base != rules.branch {
        return Ok(Delivery::Ignored(format!(
            "merged into {base}, not the deploy branch {} (`[serve] branch`)",
            rules.branch
        )));
    }
    let Some(sha) = p.pull_request.merge_commit_sha else {
        return Err(PayloadError::Malformed(
            "merged pull_request without merge_commit_sha".into(),
        ));
    };
    check_sha(&sha)?;
    Ok(deploy(
        p.repository.full_name,
        sha,
        format!("merged pull request into {base}"),
    ))
}

/// A [`Delivery::Deploy`] whose event and delivery id [`parse`] fills in.
fn deploy(repository: String, sha: String, source: String) -> Delivery {
    Delivery::Deploy {
        repository,
        sha,
        event: String::new(),
        delivery: None,
        source,
    }
}

/// A sha goes to `git` as an argument: only hex, so it can never be an option.
fn check_sha(sha: &str) -> Result<(), PayloadError> {
    let ok = (7..=64).contains(&sha.len()) && sha.chars().all(|c| c.is_ascii_hexdigit());
    if ok {
        Ok(())
    } else {
        Err(PayloadError::Malformed(format!(
            "`{sha}` is not a commit sha"
        )))
    }
}
