//! GitHub webhooks: the signature check and what a delivery asks for. Pure: bytes
//! and header values in, a decision out.

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;

/// Deliveries larger than this are refused (413) before they are read whole.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Why a delivery's signature is refused (both are 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("no X-Hub-Signature-256 header: the delivery is unsigned")]
    Missing,
    #[error("X-Hub-Signature-256 does not match the body (wrong secret or altered payload)")]
    Mismatch,
}

/// Checks `header` (`sha256=<hex>`) against HMAC-SHA256(`secret`, `body`), in
/// constant time (`Mac::verify_slice`).
pub fn verify_signature(
    secret: &[u8],
    header: Option<&str>,
    body: &[u8],
) -> Result<(), SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let hex = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Mismatch)?;
    let expected = decode_hex(hex).ok_or(SignatureError::Mismatch)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    mac.update(body);
    mac.verify_slice(&expected)
        .map_err(|_| SignatureError::Mismatch)
}

/// `sha256=<hex>` for `body`: what GitHub sends (and tests sign with).
pub fn sign(secret: &[u8], body: &[u8]) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret) {
        Ok(m) => m,
        // HMAC takes keys of any length; this arm is unreachable.
        Err(_) => return String::new(),
    };
    mac.update(body);
    let bytes = mac.finalize().into_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Lower- or upper-case hex to bytes (None when malformed); shared by both signature checks.
pub(crate) fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

/// What a verified delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// GitHub's hello when a hook is created.
    Ping,
    /// A change landed on the default branch: roll out `sha`.
    Deploy { sha: String, source: String },
    /// Valid, but nothing to do (the reason is returned to GitHub and logged).
    Ignored(String),
}

/// The payload could not be read (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed payload: {0}")]
pub struct MalformedPayload(pub String);

#[derive(Deserialize)]
struct Repository {
    default_branch: String,
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
    base: Option<BaseRef>,
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

/// Reads a delivery of `event` (the `X-GitHub-Event` header). Unknown events are
/// ignored without reading the body; known ones must parse.
pub fn parse(event: Option<&str>, body: &[u8]) -> Result<Delivery, MalformedPayload> {
    let bad = |e: serde_json::Error| MalformedPayload(e.to_string());
    match event {
        Some("ping") => {
            serde_json::from_slice::<serde_json::Value>(body).map_err(bad)?;
            Ok(Delivery::Ping)
        }
        Some("push") => {
            let p: PushPayload = serde_json::from_slice(body).map_err(bad)?;
            let default = format!("refs/heads/{}", p.repository.default_branch);
            if p.git_ref != default {
                return Ok(Delivery::Ignored(format!(
                    "push to {} is not the default branch ({default})",
                    p.git_ref
                )));
            }
            if p.deleted || p.after.chars().all(|c| c == '0') {
                return Ok(Delivery::Ignored("the push deletes the branch".into()));
            }
            check_sha(&p.after)?;
            Ok(Delivery::Deploy {
                source: format!("push to {}", p.git_ref),
                sha: p.after,
            })
        }
        Some("pull_request") => {
            let p: PullRequestPayload = serde_json::from_slice(body).map_err(bad)?;
            if p.action != "closed" || !p.pull_request.merged {
                return Ok(Delivery::Ignored(format!(
                    "pull_request {} (not merged): nothing to roll out",
                    p.action
                )));
            }
            if let Some(base) = &p.pull_request.base {
                if base.git_ref != p.repository.default_branch {
                    return Ok(Delivery::Ignored(format!(
                        "merged into {}, not the default branch {}",
                        base.git_ref, p.repository.default_branch
                    )));
                }
            }
            let Some(sha) = p.pull_request.merge_commit_sha else {
                return Err(MalformedPayload(
                    "merged pull_request without merge_commit_sha".into(),
                ));
            };
            check_sha(&sha)?;
            Ok(Delivery::Deploy {
                sha,
                source: "merged pull request".into(),
            })
        }
        Some(other) => Ok(Delivery::Ignored(format!("event `{other}` is not handled"))),
        None => Ok(Delivery::Ignored("no X-GitHub-Event header".into())),
    }
}

/// A sha goes to `git` as an argument: only hex, so it can never be an option.
fn check_sha(sha: &str) -> Result<(), MalformedPayload> {
    let ok = (7..=64).contains(&sha.len()) && sha.chars().all(|c| c.is_ascii_hexdigit());
    if ok {
        Ok(())
    } else {
        Err(MalformedPayload(format!("`{sha}` is not a commit sha")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

    #[test]
    fn signatures_are_checked_against_the_raw_body() {
        let body = br#"{"zen":"x"}"#;
        let good = sign(b"s3cret", body);
        assert_eq!(verify_signature(b"s3cret", Some(&good), body), Ok(()));
        let cases: [(Option<&str>, SignatureError); 4] = [
            (None, SignatureError::Missing),
            (Some("sha256=00"), SignatureError::Mismatch),
            (Some("sha1=abc"), SignatureError::Mismatch),
            (Some("sha256=zz"), SignatureError::Mismatch),
        ];
        for (header, want) in cases {
            assert_eq!(verify_signature(b"s3cret", header, body), Err(want));
        }
        assert_eq!(
            verify_signature(b"other", Some(&good), body),
            Err(SignatureError::Mismatch)
        );
    }

    #[test]
    fn deliveries_read_like_a_table() {
        let push = |r: &str| {
            format!(r#"{{"ref":"{r}","after":"{SHA}","repository":{{"default_branch":"main"}}}}"#)
        };
        let pr = |action: &str, merged: bool| {
            format!(
                r#"{{"action":"{action}","pull_request":{{"merged":{merged},"merge_commit_sha":"{SHA}","base":{{"ref":"main"}}}},"repository":{{"default_branch":"main"}}}}"#
            )
        };
        let deploy = |source: &str| Delivery::Deploy {
            sha: SHA.into(),
            source: source.into(),
        };
        assert_eq!(parse(Some("ping"), b"{}"), Ok(Delivery::Ping));
        assert_eq!(
            parse(Some("push"), push("refs/heads/main").as_bytes()),
            Ok(deploy("push to refs/heads/main"))
        );
        assert!(matches!(
            parse(Some("push"), push("refs/heads/dev").as_bytes()),
            Ok(Delivery::Ignored(_))
        ));
        assert_eq!(
            parse(Some("pull_request"), pr("closed", true).as_bytes()),
            Ok(deploy("merged pull request"))
        );
        assert!(matches!(
            parse(Some("pull_request"), pr("closed", false).as_bytes()),
            Ok(Delivery::Ignored(_))
        ));
        assert!(matches!(
            parse(Some("issues"), b"not json"),
            Ok(Delivery::Ignored(_))
        ));
        assert!(parse(Some("push"), b"{not json").is_err());
        let evil = r#"{"ref":"refs/heads/main","after":"--upload-pack=x","repository":{"default_branch":"main"}}"#;
        assert!(parse(Some("push"), evil.as_bytes()).is_err());
    }
}
