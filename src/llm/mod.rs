//! The OpenAI-compatible model endpoint: one client, explicit timeouts, bounded retries.
//!
//! async-openai sets no HTTP timeout, and its default transport retries 429/5xx
//! three times on its own schedule (honouring any `Retry-After`). We install the
//! bare transport instead, so both are ours: a reqwest client with connect and
//! total timeouts, and at most `max_retries` retries with exponential backoff on
//! 429, 5xx and transport errors — never on a request the server calls invalid.
//!
//! Every request carries a cap on the answer's length: a base model that never
//! stops would otherwise run past the timeout, and a serial local server would
//! then make the next calls time out too. What each endpoint accepts (the cap's
//! field name, `response_format`, tool messages) is in [`compat`].

pub mod check;
pub mod compat;
mod error;
pub mod opinion;
pub mod probe;
mod structured;
mod text;
pub mod textcalls;

use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{CreateChatCompletionRequest, CreateChatCompletionResponse};
use async_openai::Client;
use backon::Retryable;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

pub use error::LlmError;

use crate::settings::LlmSettings;
use compat::{Endpoint, TokenParam};

/// The base URL async-openai uses when none is configured.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";

/// A parsed answer with its token usage.
#[derive(Debug, Clone)]
pub struct Reply<T> {
    pub value: T,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    /// Attempts made (1 when the first succeeded).
    pub attempts: u32,
}

impl<T> Reply<T> {
    /// `value` with the usage the server reported (zero when it reported none).
    pub(crate) fn counted(
        value: T,
        usage: Option<async_openai::types::chat::CompletionUsage>,
        attempts: u32,
    ) -> Self {
        let usage = usage.unwrap_or_default();
        Self {
            value,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            attempts,
        }
    }
}

/// A chat-completions client for one model.
#[derive(Clone)]
pub struct LlmClient {
    client: Client<OpenAIConfig>,
    settings: LlmSettings,
}

impl LlmClient {
    pub fn new(settings: &LlmSettings) -> Result<Self, LlmError> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(settings.timeout_secs.clamp(1, 10)))
            .timeout(Duration::from_secs(settings.timeout_secs))
            .build()
            .map_err(|e| LlmError::Client(e.to_string()))?;
        let mut config = OpenAIConfig::new()
            .with_api_key(settings.api_key.clone().unwrap_or_else(|| "none".into()));
        if let Some(base) = &settings.base_url {
            config = config.with_api_base(base.trim_end_matches('/'));
        }
        Ok(Self {
            // The bare transport: no hidden retry layer under ours.
            client: Client::with_config(config)
                .with_http_service(async_openai::middleware::ReqwestService::new(http)),
            settings: settings.clone(),
        })
    }

    pub fn model(&self) -> &str {
        &self.settings.model
    }

    pub fn settings(&self) -> &LlmSettings {
        &self.settings
    }

    /// The key under which what this endpoint accepts is remembered.
    pub fn endpoint(&self) -> Endpoint {
        let base = self.settings.base_url.as_deref().unwrap_or(OPENAI_BASE_URL);
        (
            base.trim_end_matches('/').to_string(),
            self.settings.model.clone(),
        )
    }

    /// The field that caps the answer's length: learned, else `max_tokens`.
    pub fn token_param(&self) -> TokenParam {
        compat::learned(&self.endpoint())
            .token_param
            .unwrap_or_default()
    }

    /// One chat completion capped at `max_tokens` answer tokens, with bounded
    /// retries; returns the response and the attempts made. A server that
    /// refuses `max_tokens` and names `max_completion_tokens` gets the request
    /// again with that field, once, and keeps getting it.
    pub async fn chat(
        &self,
        mut request: CreateChatCompletionRequest,
        max_tokens: u32,
    ) -> Result<(CreateChatCompletionResponse, u32), LlmError> {
        let mut param = self.token_param();
        let mut attempts = 0;
        loop {
            set_cap(&mut request, param, max_tokens);
            match self.send(&request, &mut attempts).await {
                Err(LlmError::Http { ref message, .. })
                    if param == TokenParam::MaxTokens
                        && compat::wants_max_completion_tokens(message) =>
                {
                    tracing::info!(
                        "the endpoint wants max_completion_tokens; using it from now on"
                    );
                    param = TokenParam::MaxCompletionTokens;
                    compat::remember(&self.endpoint(), |l| l.token_param = Some(param));
                }
                other => return other.map(|r| (r, attempts)),
            }
        }
    }

    async fn send(
        &self,
        request: &CreateChatCompletionRequest,
        made: &mut u32,
    ) -> Result<CreateChatCompletionResponse, LlmError> {
        let this = self;
        (move || {
            *made += 1;
            async move {
                let reply = this.client.chat().create(request.clone()).await;
                reply.map_err(|e| this.classify(e))
            }
        })
        .retry(crate::retry::doubling(
            Duration::from_millis(200),
            self.settings.max_retries,
        ))
        .sleep(tokio::time::sleep)
        .when(LlmError::retryable)
        .notify(|e, wait| tracing::warn!(error = %e, ?wait, "model call failed; retrying"))
        .await
    }

    fn classify(&self, e: OpenAIError) -> LlmError {
        match e {
            OpenAIError::Reqwest(r) if r.is_timeout() => {
                LlmError::Timeout(Duration::from_secs(self.settings.timeout_secs))
            }
            OpenAIError::Reqwest(r) => LlmError::Transport(r.to_string()),
            OpenAIError::ApiError(api) => LlmError::Http {
                status: api.status_code.as_u16(),
                message: truncate(&api.api_error.message, 300),
            },
            // A 4xx whose body is not OpenAI's error shape (FastAPI's
            // `{"detail": …}`, Ollama's `{"error": "…"}`) arrives as a
            // deserialization error: keep its text, it says what was refused.
            OpenAIError::JSONDeserialize(_, body) if is_error_body(&body) => LlmError::Http {
                status: 400,
                message: truncate(&body, 300),
            },
            OpenAIError::JSONDeserialize(err, _) => LlmError::Malformed(err.to_string()),
            other => LlmError::Transport(other.to_string()),
        }
    }
}

/// Sets the answer cap in the field the endpoint accepts, and clears the other.
#[allow(deprecated)] // `max_tokens` is deprecated by OpenAI and the only field local servers read
fn set_cap(request: &mut CreateChatCompletionRequest, param: TokenParam, cap: u32) {
    match param {
        TokenParam::MaxTokens => {
            request.max_tokens = Some(cap);
            request.max_completion_tokens = None;
        }
        TokenParam::MaxCompletionTokens => {
            request.max_tokens = None;
            request.max_completion_tokens = Some(cap);
        }
    }
}

/// Whether a body that is not a completion is an error report.
fn is_error_body(body: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.as_object().cloned())
        .is_some_and(|o| {
            !o.contains_key("choices") && (o.contains_key("error") || o.contains_key("detail"))
        })
}

/// Parses a JSON answer, tolerating a Markdown code fence around it.
pub fn parse_json_answer<T: DeserializeOwned>(content: &str) -> Result<T, LlmError> {
    let trimmed = content.trim();
    let body = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|s| s.strip_suffix("```"))
        .unwrap_or(trimmed);
    serde_json::from_str(body.trim()).map_err(|e| {
        LlmError::Malformed(format!("{e}; the reply began: {}", truncate(trimmed, 80)))
    })
}

/// The first 12 hex digits of a prompt's SHA-256, recorded with every model call.
pub fn prompt_hash(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..6])
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}
