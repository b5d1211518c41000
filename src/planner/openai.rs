//! The model planner: chat completions with tools over an OpenAI-compatible API.
//!
//! Parallel tool calls are switched off (`parallel_tool_calls: false`); if a
//! server sends several anyway, the loop still takes them one at a time through
//! the guard. The system prompt is `prompts/rollout.md`, recorded by content hash.

use async_openai::types::chat::{
    ChatCompletionMessageToolCalls, ChatCompletionRequestAssistantMessage,
    ChatCompletionRequestAssistantMessageContent, ChatCompletionRequestMessage,
    ChatCompletionRequestSystemMessage, ChatCompletionRequestSystemMessageContent,
    ChatCompletionRequestToolMessage, ChatCompletionRequestToolMessageContent,
    ChatCompletionRequestUserMessage, ChatCompletionRequestUserMessageContent, ChatCompletionTool,
    ChatCompletionToolChoiceOption, ChatCompletionTools, CreateChatCompletionRequest,
    FunctionObject, ToolChoiceOptions,
};
use async_trait::async_trait;
use serde_json::json;

use super::{Feedback, Plan, Planner, PlannerError};
use crate::llm::{prompt_hash, LlmClient};
use crate::rollout::state::RolloutState;
use crate::tools::{definitions, ProposedCall};

/// The system prompt for rollouts.
pub const ROLLOUT_PROMPT: &str = include_str!("../../prompts/rollout.md");

/// Plans with a model. Keeps the conversation; one instance per rollout.
pub struct LlmPlanner {
    client: LlmClient,
    messages: Vec<ChatCompletionRequestMessage>,
    tools: Vec<ChatCompletionTools>,
    /// Whether the previous answer was text only (no tool call).
    idle: bool,
}

impl LlmPlanner {
    /// `context` is the opening user message: the service, the change and its risk.
    pub fn new(client: LlmClient, context: &str) -> Self {
        let tools = definitions()
            .into_iter()
            .map(|d| {
                ChatCompletionTools::Function(ChatCompletionTool {
                    function: FunctionObject {
                        name: d.name.to_string(),
                        description: Some(d.description.to_string()),
                        parameters: Some(d.parameters),
                        strict: None,
                    },
                })
            })
            .collect();
        let messages = vec![
            ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
                content: ChatCompletionRequestSystemMessageContent::Text(ROLLOUT_PROMPT.into()),
                name: None,
            }),
            user(context),
        ];
        Self {
            client,
            messages,
            tools,
            idle: false,
        }
    }

    fn request(&self) -> CreateChatCompletionRequest {
        CreateChatCompletionRequest {
            model: self.client.model().to_string(),
            messages: self.messages.clone(),
            tools: Some(self.tools.clone()),
            tool_choice: Some(ChatCompletionToolChoiceOption::Mode(
                ToolChoiceOptions::Auto,
            )),
            parallel_tool_calls: Some(false),
            temperature: Some(0.0),
            ..Default::default()
        }
    }
}

fn user(text: &str) -> ChatCompletionRequestMessage {
    ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
        content: ChatCompletionRequestUserMessageContent::Text(text.into()),
        name: None,
    })
}

#[async_trait]
impl Planner for LlmPlanner {
    fn name(&self) -> String {
        format!("llm:{}", self.client.model())
    }

    fn notify(&mut self, note: &str) {
        self.messages.push(user(note));
    }

    async fn next(
        &mut self,
        state: &RolloutState,
        feedback: &[Feedback],
    ) -> Result<Plan, PlannerError> {
        for f in feedback {
            self.messages.push(ChatCompletionRequestMessage::Tool(
                ChatCompletionRequestToolMessage {
                    content: ChatCompletionRequestToolMessageContent::Text(f.content.to_string()),
                    tool_call_id: f.call_id.clone(),
                },
            ));
        }
        if feedback.is_empty() && self.idle {
            let nudge = json!({
                "note": "The rollout is not finished until promote or rollback. Call a tool.",
                "canary_weight": state.weight,
                "latest_verdict": state.verdict_kind(),
            });
            self.messages.push(user(&nudge.to_string()));
        }
        let (response, _attempts) = self.client.chat(self.request()).await?;
        let usage = response.usage.clone().unwrap_or_default();
        let message = response.choices.into_iter().next().map(|c| c.message);
        let content = message.as_ref().and_then(|m| m.content.clone());
        let tool_calls = message.and_then(|m| m.tool_calls).unwrap_or_default();
        let calls: Vec<ProposedCall> = tool_calls
            .iter()
            .map(|c| match c {
                ChatCompletionMessageToolCalls::Function(f) => ProposedCall {
                    id: f.id.clone(),
                    name: f.function.name.clone(),
                    arguments: f.function.arguments.clone(),
                },
                // Not one of ours: proposed as is, so the guard vetoes it visibly.
                ChatCompletionMessageToolCalls::Custom(c) => ProposedCall {
                    id: c.id.clone(),
                    name: format!("custom:{}", c.custom_tool.name),
                    arguments: c.custom_tool.input.clone(),
                },
            })
            .collect();
        self.messages.push(ChatCompletionRequestMessage::Assistant(
            ChatCompletionRequestAssistantMessage {
                content: content
                    .clone()
                    .map(ChatCompletionRequestAssistantMessageContent::Text),
                tool_calls: (!tool_calls.is_empty()).then_some(tool_calls),
                ..Default::default()
            },
        ));
        self.idle = calls.is_empty();
        Ok(Plan {
            calls,
            message: content,
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            prompt_hash: Some(prompt_hash(ROLLOUT_PROMPT)),
        })
    }
}
