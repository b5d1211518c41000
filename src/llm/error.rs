//! Why a model call gave no usable answer, and which failures are worth a retry.

use std::time::Duration;

use super::compat::is_validation_error;

/// Why a model call gave no usable answer. The deterministic result stands in every case.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("the model endpoint did not answer within {0:?} (raise llm.timeout_secs, lower llm.max_tokens, or check the server)")]
    Timeout(Duration),
    #[error("the model endpoint answered HTTP {status}: {message}{hint}", hint = http_hint(*.status, .message))]
    Http { status: u16, message: String },
    #[error("could not reach the model endpoint: {0} (check OPENAI_BASE_URL)")]
    Transport(String),
    #[error("the model's answer was not the JSON asked for: {0}")]
    Malformed(String),
    #[error("could not build the model client: {0}")]
    Client(String),
}

impl LlmError {
    /// A short label for reports and metrics.
    pub fn label(&self) -> &'static str {
        match self {
            LlmError::Timeout(_) => "timeout",
            LlmError::Http { .. } => "http_error",
            LlmError::Transport(_) => "unreachable",
            LlmError::Malformed(_) => "malformed",
            LlmError::Client(_) => "client_error",
        }
    }

    /// Whether the same request may succeed later: rate limits, overload,
    /// timeouts and lost connections. A request the server calls invalid —
    /// any 4xx but 408/429, or a 5xx whose body is a validation error — is
    /// refused again however often it is sent.
    pub fn retryable(&self) -> bool {
        match self {
            LlmError::Timeout(_) | LlmError::Transport(_) => true,
            LlmError::Http { status, message } => match *status {
                408 | 429 => true,
                s if s >= 500 => !is_validation_error(message),
                _ => false,
            },
            LlmError::Malformed(_) | LlmError::Client(_) => false,
        }
    }
}

/// What to do about an HTTP error, by status.
fn http_hint(status: u16, message: &str) -> &'static str {
    match status {
        401 | 403 => " (check OPENAI_API_KEY)",
        404 => " (check llm.base_url ends in /v1 and llm.model names a served model)",
        400 | 422 => {
            " (the server refused the request; `deploy-agent llm check` shows what it accepts)"
        }
        s if s >= 500 && is_validation_error(message) => {
            " (the server refused the request; `deploy-agent llm check` shows what it accepts)"
        }
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_may_succeed_later_is_retried() {
        let http = |status: u16, message: &str| LlmError::Http {
            status,
            message: message.into(),
        };
        let cases = [
            (http(400, "bad"), false),
            (http(401, "bad key"), false),
            (http(403, "forbidden"), false),
            (http(404, "no such model"), false),
            (http(422, "unprocessable"), false),
            (http(408, "request timeout"), true),
            (http(429, "slow down"), true),
            (http(500, "boom"), true),
            (http(502, "bad gateway"), true),
            (http(503, "overloaded"), true),
            (http(500, "Input should be 'text' or 'json_object'"), false),
            (http(500, "1 validation error for Request"), false),
            (http(500, "Unsupported parameter: 'max_tokens'"), false),
            (LlmError::Timeout(Duration::from_secs(1)), true),
            (LlmError::Transport("reset".into()), true),
            (LlmError::Malformed("x".into()), false),
        ];
        for (e, want) in cases {
            assert_eq!(e.retryable(), want, "{e}");
        }
    }

    #[test]
    fn messages_say_what_to_do() {
        let e = LlmError::Http {
            status: 401,
            message: "bad key".into(),
        };
        assert!(e.to_string().contains("OPENAI_API_KEY"), "{e}");
        let e = LlmError::Http {
            status: 500,
            message: "Input should be 'text'".into(),
        };
        assert!(e.to_string().contains("llm check"), "{e}");
    }
}
