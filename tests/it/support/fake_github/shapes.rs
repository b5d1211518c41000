//! Realistic objects, as GitHub returns them (fields we do not read included):
//! octocrab's typed models refuse objects missing what GitHub always sends.

use serde_json::{json, Value};

use super::REPO;

pub fn commit(
    sha: &str,
    parent: Option<&str>,
    email: &str,
    date: &str,
    message: &str,
    files: Vec<Value>,
) -> Value {
    let parents: Vec<Value> = parent
        .map(|p| {
            vec![json!({
                "sha": p,
                "url": format!("https://api.github.com/repos/{REPO}/commits/{p}"),
                "html_url": format!("https://github.com/{REPO}/commit/{p}"),
            })]
        })
        .unwrap_or_default();
    let name = email.split('@').next().unwrap_or_default();
    json!({
        "sha": sha,
        "node_id": "C_kwDOAAAB",
        "commit": {
            "author": {"name": name, "email": email, "date": date},
            "committer": {"name": "GitHub", "email": "noreply@github.com", "date": date},
            "message": message,
            "tree": {"sha": "9c48853fa3dc5c1c3d6f1f1cd1f2743e72652840", "url": "https://api.github.com/repos/acme/shop/git/trees/9c48853"},
            "url": format!("https://api.github.com/repos/{REPO}/git/commits/{sha}"),
            "comment_count": 0,
            "verification": {"verified": false, "reason": "unsigned", "signature": null, "payload": null}
        },
        "url": format!("https://api.github.com/repos/{REPO}/commits/{sha}"),
        "html_url": format!("https://github.com/{REPO}/commit/{sha}"),
        "comments_url": format!("https://api.github.com/repos/{REPO}/commits/{sha}/comments"),
        "author": user(name, 1, "User"),
        "committer": user("web-flow", 19864447, "User"),
        "parents": parents,
        "stats": {"total": 0, "additions": 0, "deletions": 0},
        "files": files,
    })
}

/// A file entry; `patch: None` is what GitHub sends for binary or too-large diffs.
pub fn file(
    name: &str,
    status: &str,
    additions: u64,
    deletions: u64,
    patch: Option<&str>,
) -> Value {
    let mut f = json!({
        "sha": "bbcd538c8e72b8c175046e27cc8f907076331401",
        "filename": name,
        "status": status,
        "additions": additions,
        "deletions": deletions,
        "changes": additions + deletions,
        "blob_url": format!("https://github.com/{REPO}/blob/HEAD/{name}"),
        "raw_url": format!("https://github.com/{REPO}/raw/HEAD/{name}"),
        "contents_url": format!("https://api.github.com/repos/{REPO}/contents/{name}?ref=HEAD"),
    });
    if let Some(p) = patch {
        f["patch"] = json!(p);
    }
    f
}

pub fn pull(number: u64, head: &str, base: &str, title: &str) -> Value {
    json!({
        "url": format!("https://api.github.com/repos/{REPO}/pulls/{number}"),
        "id": 1_000_000 + number,
        "node_id": "PR_kwDOA",
        "html_url": format!("https://github.com/{REPO}/pull/{number}"),
        "number": number,
        "state": "open",
        "locked": false,
        "title": title,
        "user": user("alice", 1, "User"),
        "body": "Adds a column.\n\nFixes #3",
        "created_at": "2026-11-20T09:00:00Z",
        "updated_at": "2026-11-20T09:30:00Z",
        "draft": false,
        "head": {"label": "acme:feature", "ref": "feature", "sha": head, "user": user("acme", 9, "Organization"), "repo": repo()},
        "base": {"label": "acme:main", "ref": "main", "sha": base, "user": user("acme", 9, "Organization"), "repo": repo()},
        "merged": false,
        "mergeable": true,
        "commits": 1,
        "additions": 0,
        "deletions": 0,
        "changed_files": 0,
    })
}

/// A user (or bot, or organization) as GitHub embeds it in other objects.
pub fn user(login: &str, id: u64, kind: &str) -> Value {
    let api = format!("https://api.github.com/users/{login}");
    json!({
        "login": login,
        "id": id,
        "node_id": "MDQ6VXNlcjE=",
        "avatar_url": format!("https://avatars.githubusercontent.com/u/{id}?v=4"),
        "gravatar_id": "",
        "url": api,
        "html_url": format!("https://github.com/{login}"),
        "followers_url": format!("{api}/followers"),
        "following_url": format!("{api}/following{{/other_user}}"),
        "gists_url": format!("{api}/gists{{/gist_id}}"),
        "starred_url": format!("{api}/starred{{/owner}}{{/repo}}"),
        "subscriptions_url": format!("{api}/subscriptions"),
        "organizations_url": format!("{api}/orgs"),
        "repos_url": format!("{api}/repos"),
        "events_url": format!("{api}/events{{/privacy}}"),
        "received_events_url": format!("{api}/received_events"),
        "type": kind,
        "site_admin": false,
    })
}

/// The repository, as embedded in a pull request's `head` and `base`.
pub fn repo() -> Value {
    let name = REPO.split('/').nth(1).unwrap_or_default();
    json!({
        "id": 1296269,
        "node_id": "MDEwOlJlcG9zaXRvcnkxMjk2MjY5",
        "name": name,
        "full_name": REPO,
        "owner": user("acme", 9, "Organization"),
        "private": false,
        "html_url": format!("https://github.com/{REPO}"),
        "url": format!("https://api.github.com/repos/{REPO}"),
        "default_branch": "main",
    })
}

/// An issue (or pull request) comment.
pub fn comment(id: u64, number: u64, body: &str, login: &str, kind: &str) -> Value {
    json!({
        "id": id,
        "node_id": "IC_kwDOA",
        "url": format!("https://api.github.com/repos/{REPO}/issues/comments/{id}"),
        "html_url": format!("https://github.com/{REPO}/pull/{number}#issuecomment-{id}"),
        "issue_url": format!("https://api.github.com/repos/{REPO}/issues/{number}"),
        "body": body,
        "user": user(login, 41898282, kind),
        "created_at": "2026-11-29T10:00:00Z",
        "updated_at": "2026-11-29T10:00:00Z",
        "author_association": "NONE",
    })
}

/// The check run GitHub answers a `POST /check-runs` with (`input` is the request).
pub fn check_run(id: u64, input: &Value) -> Value {
    let mut output = input["output"].clone();
    output["annotations_count"] = json!(0);
    output["annotations_url"] = json!(format!(
        "https://api.github.com/repos/{REPO}/check-runs/{id}/annotations"
    ));
    json!({
        "id": id,
        "node_id": "CR_kwDOA",
        "name": input["name"],
        "head_sha": input["head_sha"],
        "external_id": "",
        "url": format!("https://api.github.com/repos/{REPO}/check-runs/{id}"),
        "html_url": format!("https://github.com/{REPO}/runs/{id}"),
        "details_url": input["details_url"],
        "status": input["status"],
        "conclusion": input["conclusion"],
        "started_at": "2026-11-29T10:00:00Z",
        "completed_at": "2026-11-29T10:00:00Z",
        "output": output,
        "app": {"slug": "deploy-agent"},
        "pull_requests": [],
    })
}
