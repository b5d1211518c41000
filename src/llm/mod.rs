//! The OpenAI-compatible model endpoint: one client, explicit timeouts, bounded retries.
//!
//! async-openai sets no HTTP timeout, and its default transport retries 429/5xx
//! three times on its own schedule (honouring any `Retry-After`). We install the
//! bare transport instead, so both are ours: a reqwest client with connect and
//! total timeouts, and at most `max_retries` retries with exponential backoff on
//! 429, 5xx and transport errors.

pub mod opinion;

use std::time::Duration;

use async_openai::config::OpenAIConfig;
use async_openai::error::OpenAIError;
use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestUserMessage,
    ChatCompletionRequestUserMessageContent, CreateChatCompletionRequest,
    CreateChatCompletionResponse, ResponseFormat, ResponseFormatJsonSchema,
};
use async_openai::Client;
use backon::Retryable;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};

use crate::settings::LlmSettings;

/// Why a model call gave no usable answer. The deterministic result stands in every case.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    #[error("the model endpoint did not answer within {0:?} (raise llm.timeout_secs or check the server)")]
    Timeout(Duration),
    #[error("the model endpoint answered HTTP {status}: {message}")]
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

    fn retryable(&self) -> bool {
        match self {
            LlmError::Timeout(_) | LlmError::Transport(_) => true,
            LlmError::Http { status, .. } => *status == 429 || *status >= 500,
            LlmError::Malformed(_) | LlmError::Client(_) => false,
        }
    }
}

/// A parsed answer with its token usage.
#[derive(Debug, Clone)]
pub struct Reply<T> {
    pub value: T,
    pub prompt_tokens: u32,
    pub completion_tokens: u32,
    /// Attempts made (1 when the first succeeded).
    pub attempts: u32,
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

    /// Asks for a JSON answer shaped by `T`'s JSON Schema (structured outputs).
    pub async fn structured<T>(
        &self,
        system: &str,
        user: &str,
        name: &str,
    ) -> Result<Reply<T>, LlmError>
    where
        T: DeserializeOwned + schemars::JsonSchema,
    {
        let request = CreateChatCompletionRequest {
            model: self.settings.model.clone(),
            messages: vec![
                ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
                    content: ChatCompletionRequestSystemMessageContent::Text(system.into()),
                    name: None,
                }),
                ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
                    content: ChatCompletionRequestUserMessageContent::Text(user.into()),
                    name: None,
                }),
            ],
            response_format: Some(ResponseFormat::JsonSchema {
                json_schema: ResponseFormatJsonSchema {
                    description: None,
                    name: name.into(),
                    schema: serde_json::to_value(schemars::schema_for!(T))
                        .map_err(|e| LlmError::Client(e.to_string()))?,
                    strict: Some(true),
                },
            }),
            temperature: Some(0.0),
            ..Default::default()
        };
        let (response, attempts) = self.chat(request).await?;
        let content = response
            .choices
            .first()
            .and_then(|c| c.message.content.clone())
            .ok_or_else(|| LlmError::Malformed("the reply has no message content".into()))?;
        let value = parse_json_answer(&content)?;
        let usage = response.usage.unwrap_or_default();
        Ok(Reply {
            value,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            attempts,
        })
    }

    /// One chat completion with bounded retries; returns the response and the attempts made.
    pub async fn chat(
        &self,
        request: CreateChatCompletionRequest,
    ) -> Result<(CreateChatCompletionResponse, u32), LlmError> {
        let mut attempts = 0;
        let (this, request, made) = (self, &request, &mut attempts);
        let response = (move || {
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
        .await?;
        Ok((response, attempts))
    }

    fn classify(&self, e: OpenAIError) -> LlmError {
        match e {
            OpenAIError::Reqwest(r) if r.is_timeout() => {
                LlmError::Timeout(Duration::from_secs(self.settings.timeout_secs))
            }
            OpenAIError::Reqwest(r) => LlmError::Transport(r.to_string()),
            OpenAIError::ApiError(api) => LlmError::Http {
                status: api.status_code.as_u16(),
                message: truncate(&api.api_error.message, 200),
            },
            OpenAIError::JSONDeserialize(err, _) => LlmError::Malformed(err.to_string()),
            other => LlmError::Transport(other.to_string()),
        }
    }
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
