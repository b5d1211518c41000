//! Does the endpoint's chat template keep `role: "tool"` messages?
//!
//! Some templates (llama-cpp-python's among them) silently drop them: the
//! model never sees a tool's result and repeats itself or invents one. The
//! probe asks the same tiny conversation twice, once with a short tool result
//! and once with a long one, each answer capped at one token: if the server
//! counts the same prompt tokens for both, the result never reached the model.
//! It is deterministic (no sampling is judged) and costs two one-token calls,
//! once per endpoint per process.

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestToolMessage,
    ChatCompletionRequestToolMessageContent, ChatCompletionRequestUserMessage,
    ChatCompletionRequestUserMessageContent, CreateChatCompletionRequest, FunctionCall,
};

use super::compat::{self, ToolResults};
use super::{LlmClient, LlmError};

/// The long tool result: long enough that any tokenizer counts it as more than `{}`.
const LONG_RESULT: &str = r#"{"canary_weight": 5, "verdict": "pass", "note": "error rate and latency of the canary match the stable version over the whole bake window"}"#;

/// How the probe decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeOutcome {
    pub mode: ToolResults,
    /// Why, in a few words, for `llm check`.
    pub reason: String,
}

impl LlmClient {
    /// How tool results reach this endpoint's model: the configured form,
    /// else what was learned, else the probe's finding (then remembered).
    pub async fn tool_results(&self) -> ToolResults {
        match self.settings.tool_results {
            ToolResults::Auto => {}
            fixed => return fixed,
        }
        if let Some(known) = compat::learned(&self.endpoint()).tool_results {
            return known;
        }
        probe(self).await.mode
    }
}

/// Runs the probe and remembers its finding for the endpoint (unless the
/// endpoint could not be reached: then `user`, which always works, for now).
pub async fn probe(client: &LlmClient) -> ProbeOutcome {
    let (mode, reason, remember) = match measure(client).await {
        Err(e @ LlmError::Http { .. }) => (
            ToolResults::User,
            format!("a tool message was refused ({e})"),
            true,
        ),
        Err(e) => (
            ToolResults::User,
            format!("the probe failed ({})", e.label()),
            false,
        ),
        Ok((Some(a), Some(b))) if a > 0 && b > a => (
            ToolResults::Tool,
            format!("tool messages reach the model ({a} vs {b} prompt tokens)"),
            true,
        ),
        Ok((Some(a), Some(_))) if a > 0 => (
            ToolResults::User,
            format!("the template drops tool messages ({a} prompt tokens either way)"),
            true,
        ),
        Ok(_) => (
            ToolResults::User,
            "the server reports no token usage; user messages always arrive".into(),
            true,
        ),
    };
    if remember {
        compat::remember(&client.endpoint(), |l| l.tool_results = Some(mode));
    }
    tracing::info!(mode = mode.label(), %reason, "tool results probe");
    ProbeOutcome { mode, reason }
}

/// The prompt tokens counted with a short and with a long tool result.
async fn measure(client: &LlmClient) -> Result<(Option<u32>, Option<u32>), LlmError> {
    let (short, _) = client.chat(conversation(client, "{}"), 1).await?;
    let (long, _) = client.chat(conversation(client, LONG_RESULT), 1).await?;
    Ok((
        short.usage.map(|u| u.prompt_tokens),
        long.usage.map(|u| u.prompt_tokens),
    ))
}

/// A system prompt, a question, the assistant's call and `result` for it.
fn conversation(client: &LlmClient, result: &str) -> CreateChatCompletionRequest {
    let call = ChatCompletionMessageToolCalls::Function(ChatCompletionMessageToolCall {
        id: "probe-1".into(),
        function: FunctionCall {
            name: "query_metrics".into(),
            arguments: "{}".into(),
        },
    });
    CreateChatCompletionRequest {
        model: client.model().to_string(),
        messages: vec![
            ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
                content: ChatCompletionRequestSystemMessageContent::Text(
                    "Answer in one word.".into(),
                ),
                name: None,
            }),
            ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
                content: ChatCompletionRequestUserMessageContent::Text("How is the canary?".into()),
                name: None,
            }),
            ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
                content: Some(ChatCompletionRequestAssistantMessageContent::Text(
                    String::new(),
                )),
                tool_calls: Some(vec![call]),
                ..Default::default()
            }),
            ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
                content: ChatCompletionRequestToolMessageContent::Text(result.into()),
                tool_call_id: "probe-1".into(),
            }),
        ],
        temperature: Some(0.0),
        ..Default::default()
    }
}
