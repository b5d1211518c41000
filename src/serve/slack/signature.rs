//! Slack's request signing: `v0=` HMAC-SHA256 over `v0:{timestamp}:{body}`
//! with the app's signing secret, compared in constant time, the timestamp
//! within [`MAX_SKEW_SECS`] of now so a captured request cannot be replayed later.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Requests signed further than this from now (either way) are refused.
pub const MAX_SKEW_SECS: i64 = 300;

/// Why a request's signature is refused (all 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SlackSignatureError {
    #[error("no X-Slack-Signature or X-Slack-Request-Timestamp header")]
    Missing,
    #[error(
        "X-Slack-Request-Timestamp is more than {MAX_SKEW_SECS}s from now (replayed or clock skew)"
    )]
    Stale,
    #[error("X-Slack-Signature does not match (wrong signing secret or altered body)")]
    Mismatch,
}

/// Checks `signature` (`v0=<hex>`) against HMAC-SHA256(`secret`,
/// `v0:{timestamp}:{body}`) in constant time, and the timestamp against `now`.
pub fn verify_signature(
    secret: &[u8],
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), SlackSignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SlackSignatureError::Missing);
    };
    let ts: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| SlackSignatureError::Mismatch)?;
    if (now - ts).abs() > MAX_SKEW_SECS {
        return Err(SlackSignatureError::Stale);
    }
    let digits = signature
        .trim()
        .strip_prefix("v0=")
        .ok_or(SlackSignatureError::Mismatch)?;
    let expected = hex::decode(digits).map_err(|_| SlackSignatureError::Mismatch)?;
    let mac = mac(secret, timestamp.trim(), body).ok_or(SlackSignatureError::Mismatch)?;
    mac.verify_slice(&expected)
        .map_err(|_| SlackSignatureError::Mismatch)
}

/// `v0=<hex>`: what Slack sends (and tests sign with).
pub fn sign(secret: &[u8], timestamp: &str, body: &[u8]) -> String {
    let Some(mac) = mac(secret, timestamp, body) else {
        return String::new();
    };
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).ok()?;
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    Some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"8f742231b10e8888abcd99yyyzzz85a5";
    const NOW: i64 = 1_531_420_618;

    fn check(timestamp: i64, signature: Option<&str>) -> Result<(), SlackSignatureError> {
        let ts = timestamp.to_string();
        let body = b"payload=%7B%7D";
        let good = sign(SECRET, &ts, body);
        verify_signature(
            SECRET,
            Some(&ts),
            Some(signature.unwrap_or(&good)),
            body,
            NOW,
        )
    }

    #[test]
    fn slack_signature_valid_bad_stale_and_future() {
        assert_eq!(check(NOW, None), Ok(()));
        assert_eq!(check(NOW - 300, None), Ok(()));
        assert_eq!(
            check(NOW, Some("v0=00ff")),
            Err(SlackSignatureError::Mismatch)
        );
        assert_eq!(
            check(NOW, Some("sha256=00")),
            Err(SlackSignatureError::Mismatch)
        );
        assert_eq!(check(NOW - 301, None), Err(SlackSignatureError::Stale));
        assert_eq!(check(NOW + 301, None), Err(SlackSignatureError::Stale));
        assert_eq!(
            verify_signature(SECRET, None, Some("v0=00"), b"", NOW),
            Err(SlackSignatureError::Missing)
        );
    }

    #[test]
    fn slack_signature_matches_slacks_documented_example() {
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        assert_eq!(
            sign(SECRET, "1531420618", body),
            "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
        );
    }
}
