//! GitHub webhooks: the signature check and what a delivery asks for. Pure: bytes
//! and header values in, a decision out.
//!
//! The signature covers the raw body, whatever its content type; only then is
//! the JSON read, from the body (`application/json`) or from its `payload`
//! field (`application/x-www-form-urlencoded`).

use std::borrow::Cow;

use hmac::{Hmac, Mac};
use sha2::Sha256;

mod payload;

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
    let digits = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Mismatch)?;
    let expected = hex::decode(digits).map_err(|_| SignatureError::Mismatch)?;
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
    format!("sha256={}", hex::encode(bytes))
}

/// What a verified delivery asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// GitHub's hello when a hook is created.
    Ping,
    /// A change landed on the configured branch of an allowed repository: roll
    /// out `sha`. Carries what recognises the same merge delivered twice (a
    /// `push` and a `pull_request`, or a redelivery).
    Deploy {
        /// `owner/name` as the payload spells it.
        repository: String,
        sha: String,
        /// `push` or `pull_request` (the `X-GitHub-Event` header).
        event: String,
        /// The `X-GitHub-Delivery` id (GitHub keeps it on redeliveries).
        delivery: Option<String>,
        /// For logs, e.g. `push to refs/heads/main`.
        source: String,
    },
    /// Valid, but nothing to do (the reason is returned to GitHub and logged).
    Ignored(String),
    /// Signed, but from a repository not in `[serve] repositories` (403).
    Forbidden(String),
}

/// Where deliveries may roll out from: `[serve] repositories` and `branch`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// `owner/name`, compared case-insensitively.
    pub repositories: Vec<String>,
    /// A branch name without `refs/heads/`.
    pub branch: String,
}

/// The headers a delivery is read with.
#[derive(Debug, Clone, Copy, Default)]
pub struct Headers<'a> {
    /// `X-GitHub-Event`.
    pub event: Option<&'a str>,
    /// `X-GitHub-Delivery`.
    pub delivery: Option<&'a str>,
    /// `Content-Type`: `application/json` or `application/x-www-form-urlencoded`.
    pub content_type: Option<&'a str>,
}

/// The payload could not be read (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    #[error("malformed payload: {0}")]
    Malformed(String),
    #[error(
        "form-encoded delivery without a `payload` field: in the hook's settings choose Content type `application/json` (recommended), or send the JSON as `payload=<JSON>`"
    )]
    FormWithoutPayload,
}

/// Reads a delivery (`body` is the raw body whose signature was checked). Unknown
/// events are ignored without reading the body; known ones must parse. A
/// `push` or `pull_request` from a repository outside `rules` is
/// [`Delivery::Forbidden`] whatever it says; a repository hook's `ping` too, so
/// a misrouted hook fails from its first delivery. The branch is `rules.branch`,
/// never the payload's `default_branch`.
pub fn parse(headers: Headers<'_>, body: &[u8], rules: &Rules) -> Result<Delivery, PayloadError> {
    let event = match headers.event {
        Some(e @ ("ping" | "push" | "pull_request")) => e,
        Some(other) => return Ok(Delivery::Ignored(format!("event `{other}` is not handled"))),
        None => return Ok(Delivery::Ignored("no X-GitHub-Event header".into())),
    };
    let json = payload_json(headers.content_type, body)?;
    Ok(match payload::read(event, &json, rules)? {
        Delivery::Deploy {
            repository,
            sha,
            source,
            ..
        } => Delivery::Deploy {
            repository,
            sha,
            event: event.to_string(),
            delivery: headers.delivery.map(str::to_string),
            source,
        },
        other => other,
    })
}

/// The JSON of a delivery: the body itself, or for
/// `application/x-www-form-urlencoded` its `payload` field. Any other content
/// type is read as JSON.
pub fn payload_json<'a>(
    content_type: Option<&str>,
    body: &'a [u8],
) -> Result<Cow<'a, [u8]>, PayloadError> {
    let mime = content_type
        .and_then(|c| c.split(';').next())
        .map(str::trim)
        .unwrap_or_default();
    if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        return Ok(Cow::Borrowed(body));
    }
    form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| Cow::Owned(v.into_owned().into_bytes()))
        .ok_or(PayloadError::FormWithoutPayload)
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

    fn rules() -> Rules {
        Rules {
            repositories: vec!["Acme/Shop".into()],
            branch: "main".into(),
        }
    }

    fn read(event: &str, body: &str) -> Result<Delivery, PayloadError> {
        let headers = Headers {
            event: Some(event),
            delivery: Some("d-1"),
            content_type: Some("application/json"),
        };
        parse(headers, body.as_bytes(), &rules())
    }

    fn push(repo: &str, r: &str, default_branch: &str) -> String {
        format!(
            r#"{{"ref":"{r}","after":"{SHA}","repository":{{"full_name":"{repo}","default_branch":"{default_branch}"}}}}"#
        )
    }

    fn pr(repo: &str, action: &str, merged: bool, base: &str) -> String {
        format!(
            r#"{{"action":"{action}","pull_request":{{"merged":{merged},"merge_commit_sha":"{SHA}","base":{{"ref":"{base}"}}}},"repository":{{"full_name":"{repo}","default_branch":"{base}"}}}}"#
        )
    }

    fn deploy(event: &str, source: &str) -> Delivery {
        Delivery::Deploy {
            repository: "acme/shop".into(),
            sha: SHA.into(),
            event: event.into(),
            delivery: Some("d-1".into()),
            source: source.into(),
        }
    }

    #[test]
    fn deliveries_read_like_a_table() {
        let ignored = |d: Result<Delivery, PayloadError>| matches!(d, Ok(Delivery::Ignored(_)));
        let forbidden = |d: Result<Delivery, PayloadError>| matches!(d, Ok(Delivery::Forbidden(_)));
        assert_eq!(read("ping", "{}"), Ok(Delivery::Ping));
        assert_eq!(
            read("ping", r#"{"repository":{"full_name":"acme/shop"}}"#),
            Ok(Delivery::Ping)
        );
        assert!(forbidden(read(
            "ping",
            r#"{"repository":{"full_name":"evil/shop"}}"#
        )));
        assert_eq!(
            read("push", &push("acme/shop", "refs/heads/main", "main")),
            Ok(deploy("push", "push to refs/heads/main"))
        );
        // The payload's default branch is not trusted: only `rules.branch` deploys.
        assert!(ignored(read(
            "push",
            &push("acme/shop", "refs/heads/dev", "dev")
        )));
        assert!(forbidden(read(
            "push",
            &push("evil/shop", "refs/heads/main", "main")
        )));
        assert!(forbidden(read(
            "push",
            &push("acme/shop-fork", "refs/heads/main", "main")
        )));
        assert_eq!(
            read("pull_request", &pr("acme/shop", "closed", true, "main")),
            Ok(deploy("pull_request", "merged pull request into main"))
        );
        assert!(ignored(read(
            "pull_request",
            &pr("acme/shop", "closed", true, "dev")
        )));
        assert!(ignored(read(
            "pull_request",
            &pr("acme/shop", "closed", false, "main")
        )));
        assert!(forbidden(read(
            "pull_request",
            &pr("evil/x", "closed", true, "main")
        )));
        assert!(ignored(read("issues", "not json")));
        assert!(read("push", "{not json").is_err());
        assert!(read("push", r#"{"ref":"refs/heads/main","after":"abc1234"}"#).is_err());
        let evil = r#"{"ref":"refs/heads/main","after":"--upload-pack=x","repository":{"full_name":"acme/shop"}}"#;
        assert!(read("push", evil).is_err());
    }

    #[test]
    fn form_encoded_deliveries_carry_the_json_in_payload() {
        let json = push("acme/shop", "refs/heads/main", "main");
        let form: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", &json)
            .finish();
        let headers = |content_type| Headers {
            event: Some("push"),
            delivery: Some("d-1"),
            content_type: Some(content_type),
        };
        let form_type = "application/x-www-form-urlencoded; charset=utf-8";
        assert_eq!(
            parse(headers(form_type), form.as_bytes(), &rules()),
            Ok(deploy("push", "push to refs/heads/main"))
        );
        assert_eq!(
            parse(headers("Application/JSON"), json.as_bytes(), &rules()),
            Ok(deploy("push", "push to refs/heads/main"))
        );
        assert_eq!(
            parse(headers(form_type), b"zen=hi", &rules()),
            Err(PayloadError::FormWithoutPayload)
        );
        assert!(PayloadError::FormWithoutPayload
            .to_string()
            .contains("application/json"));
        assert!(matches!(
            parse(headers(form_type), b"payload=%7Bnot", &rules()),
            Err(PayloadError::Malformed(_))
        ));
    }
}
