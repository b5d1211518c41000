//! Plain-text answers: a system prompt, one user message, the answer's content
//! as written (no schema, no tools). For text meant for people, which Rust then
//! checks before anyone sees it (see [`crate::narrate`]).

use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestUserMessage,
    ChatCompletionRequestUserMessageContent, CreateChatCompletionRequest,
};

use super::{LlmClient, LlmError, Reply};

impl LlmClient {
    /// Asks for a plain-text answer at most `max_tokens` long, with the same
    /// timeouts and bounded retries as every request. An empty answer is malformed.
    pub async fn text(
        &self,
        system: &str,
        user: &str,
        max_tokens: u32,
    ) -> Result<Reply<String>, LlmError> {
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
            temperature: Some(0.0),
            ..Default::default()
        };
        let (response, attempts) = self.chat(request, max_tokens).await?;
        let value = response
            .choices
            .first()
            .and_then(|c| c.message.content.clone())
            .filter(|c| !c.trim().is_empty())
            .ok_or_else(|| LlmError::Malformed("the reply has no text".into()))?;
        Ok(Reply::counted(value, response.usage, attempts))
    }
}
