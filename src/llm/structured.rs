//! JSON answers shaped by a Rust type, asked for in the strongest form the
//! endpoint accepts: `json_schema` (the server enforces the schema), else
//! `json_object` (the server enforces JSON, the prompt carries the schema),
//! else the prompt alone. The answer is checked the same way in every mode:
//! it must deserialize into the type, whose unknown fields are refused.

use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestUserMessage,
    ChatCompletionRequestUserMessageContent, CreateChatCompletionRequest, ResponseFormat,
    ResponseFormatJsonSchema,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::compat::{self, StructuredOutput};
use super::{parse_json_answer, LlmClient, LlmError, Reply};

impl LlmClient {
    /// The mode the next structured request starts in: the configured one,
    /// else what this endpoint was found to accept, else `json_schema`.
    pub fn structured_mode(&self) -> StructuredOutput {
        match self.settings.structured_output {
            StructuredOutput::Auto => compat::learned(&self.endpoint())
                .structured
                .unwrap_or(StructuredOutput::JsonSchema),
            fixed => fixed,
        }
    }

    /// Asks for a JSON answer shaped by `T`'s JSON Schema, at most `max_tokens`
    /// long. With `llm.structured_output = "auto"`, a refusal of the
    /// `response_format` steps down one mode at once (a refusal is never
    /// retried) and the endpoint is remembered in that mode.
    pub async fn structured<T>(
        &self,
        system: &str,
        user: &str,
        name: &str,
        max_tokens: u32,
    ) -> Result<Reply<T>, LlmError>
    where
        T: DeserializeOwned + schemars::JsonSchema,
    {
        let schema = serde_json::to_value(schemars::schema_for!(T))
            .map_err(|e| LlmError::Client(e.to_string()))?;
        let mut mode = self.structured_mode();
        let mut attempts = 0;
        let response = loop {
            let request = self.structured_request(mode, system, user, name, &schema);
            match self.chat(request, max_tokens).await {
                Ok((response, made)) => {
                    attempts += made;
                    break response;
                }
                Err(LlmError::Http { ref message, .. })
                    if self.settings.structured_output == StructuredOutput::Auto
                        && compat::refuses_response_format(message)
                        && mode.fallback().is_some() =>
                {
                    attempts += 1;
                    let next = mode.fallback().unwrap_or(StructuredOutput::Prompt);
                    tracing::info!(
                        from = mode.label(),
                        to = next.label(),
                        "the endpoint refused the response format; stepping down"
                    );
                    mode = next;
                    compat::remember(&self.endpoint(), |l| l.structured = Some(next));
                }
                Err(e) => return Err(e),
            }
        };
        let content = response
            .choices
            .first()
            .and_then(|c| c.message.content.clone())
            .ok_or_else(|| LlmError::Malformed("the reply has no message content".into()))?;
        let value = parse_json_answer(&content)?;
        Ok(Reply::counted(value, response.usage, attempts))
    }

    fn structured_request(
        &self,
        mode: StructuredOutput,
        system: &str,
        user: &str,
        name: &str,
        schema: &Value,
    ) -> CreateChatCompletionRequest {
        let (system, response_format) = match mode {
            StructuredOutput::Auto | StructuredOutput::JsonSchema => (
                system.to_string(),
                Some(ResponseFormat::JsonSchema {
                    json_schema: ResponseFormatJsonSchema {
                        description: None,
                        name: name.into(),
                        schema: schema.clone(),
                        strict: Some(true),
                    },
                }),
            ),
            StructuredOutput::JsonObject => (
                with_schema(system, schema),
                Some(ResponseFormat::JsonObject),
            ),
            StructuredOutput::Prompt => (with_schema(system, schema), None),
        };
        CreateChatCompletionRequest {
            model: self.settings.model.clone(),
            messages: vec![
                ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
                    content: ChatCompletionRequestSystemMessageContent::Text(system),
                    name: None,
                }),
                ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
                    content: ChatCompletionRequestUserMessageContent::Text(user.into()),
                    name: None,
                }),
            ],
            response_format,
            temperature: Some(0.0),
            ..Default::default()
        }
    }
}

/// The system prompt with the schema the server no longer enforces.
pub(crate) fn with_schema(system: &str, schema: &Value) -> String {
    format!(
        "{system}\n\nAnswer with one JSON object only (no prose, no code fence) that matches this JSON Schema:\n{schema}"
    )
}
