//! The model planner: chat completions with tools over an OpenAI-compatible API.
//!
//! Parallel tool calls are switched off (`parallel_tool_calls: false`); if a
//! server sends several anyway, the loop still takes them one at a time through
//! the guard. The system prompt is `prompts/rollout.md`, recorded by content hash.
//!
//! The conversation is kept in a form every server accepts: an assistant
//! message always has `content` (llama-cpp-python answers HTTP 500 without it),
//! tool results go back as `tool` messages only where the chat template keeps
//! them (else as user messages, see [`crate::llm::compat::ToolResults`]), and
//! calls a model wrote as text are parsed ([`crate::llm::textcalls`]) and
//! answered as text.

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
use crate::llm::compat::ToolResults;
use crate::llm::{prompt_hash, textcalls, LlmClient};
use crate::rollout::state::RolloutState;
use crate::tools::{definitions, ProposedCall};

/// The system prompt for rollouts.
pub const ROLLOUT_PROMPT: &str = include_str!("../../prompts/rollout.md");

/// Plans with a model. Keeps the conversation; one instance per rollout.
pub struct LlmPlanner {
    client: LlmClient,
    messages: Vec<ChatCompletionRequestMessage>,
    tools: Vec<ChatCompletionTools>,
    /// Our tools' names: the only ones parsed out of text.
    known: Vec<&'static str>,
    /// Whether the previous answer was text only (no tool call).
    idle: bool,
    /// Whether the previous plan's results go back as user messages (the
    /// template drops tool messages, or the calls came as text).
    results_as_user: bool,
    /// Calls parsed from text so far (their ids are `text-N`).
    text_calls: u32,
}

impl LlmPlanner {
    /// `context` is the opening user message: the service, the change and its risk.
    pub fn new(client: LlmClient, context: &str) -> Self {
        let known = definitions().iter().map(|d| d.name).collect();
        let tools = tool_specs();
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
            known,
            idle: false,
            results_as_user: false,
            text_calls: 0,
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

    /// Appends a tool's result in the form the server keeps.
    fn push_result(&mut self, f: &Feedback) {
        let message = if self.results_as_user {
            user(&format!(
                "Result of tool call {} ({}): {}",
                f.call_id, f.tool, f.content
            ))
        } else {
            ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
                content: ChatCompletionRequestToolMessageContent::Text(f.content.to_string()),
                tool_call_id: f.call_id.clone(),
            })
        };
        self.messages.push(message);
    }

    /// Appends the model's turn. Native calls are kept as `tool_calls` (with
    /// `content: ""` at least) where tool messages are kept, else written out
    /// as text like the calls we parse, so no `tool_calls` is left unanswered
    /// by a `tool` message (OpenAI refuses that).
    async fn push_turn(
        &mut self,
        content: Option<String>,
        native: Vec<ChatCompletionMessageToolCalls>,
        calls: &[ProposedCall],
    ) {
        let text = content.unwrap_or_default();
        let mode = if native.is_empty() {
            ToolResults::User
        } else {
            self.client.tool_results().await
        };
        let (content, tool_calls) = if native.is_empty() || mode == ToolResults::User {
            (with_calls_as_text(&text, &native, calls), None)
        } else {
            (text, Some(native))
        };
        self.messages.push(ChatCompletionRequestMessage::Assistant(
            ChatCompletionRequestAssistantMessage {
                content: Some(ChatCompletionRequestAssistantMessageContent::Text(content)),
                tool_calls,
                ..Default::default()
            },
        ));
        self.results_as_user = mode == ToolResults::User;
    }

    /// Calls written in the reply's text, for our tools only, with fresh ids.
    fn calls_in_text(&mut self, content: Option<&str>) -> Vec<ProposedCall> {
        let Some(text) = content else {
            return vec![];
        };
        textcalls::parse(text, &self.known)
            .into_iter()
            .map(|c| {
                self.text_calls += 1;
                ProposedCall {
                    id: format!("text-{}", self.text_calls),
                    name: c.name,
                    arguments: c.arguments.to_string(),
                }
            })
            .collect()
    }
}

/// The user message that opens a rollout's conversation: the task and the
/// assessment's headline, the same for `rollout` and `eval --planner llm` so
/// the evals measure the model the product runs.
pub fn opening_message(service: &str, a: &crate::assess::Assessment) -> String {
    json!({
        "task": "Roll this change out to production safely.",
        "service": service,
        "rev": a.rev,
        "subject": a.commit.subject,
        "risk_score": a.risk_score,
        "level": a.level,
        "requires_approval": a.requires_approval,
    })
    .to_string()
}

/// Our tools as the request's `tools`, schemas generated from the argument types.
pub fn tool_specs() -> Vec<ChatCompletionTools> {
    definitions()
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
        .collect()
}

fn user(text: &str) -> ChatCompletionRequestMessage {
    ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
        content: ChatCompletionRequestUserMessageContent::Text(text.into()),
        name: None,
    })
}

/// The reply's text, plus its native calls written out as JSON (calls that
/// came as text are in it already).
fn with_calls_as_text(
    text: &str,
    native: &[ChatCompletionMessageToolCalls],
    calls: &[ProposedCall],
) -> String {
    if native.is_empty() {
        return text.to_string();
    }
    let mut out = text.to_string();
    for c in calls {
        let arguments: serde_json::Value =
            serde_json::from_str(&c.arguments).unwrap_or_else(|_| json!({}));
        if !out.is_empty() {
            out.push('\n');
        }
        out.push_str(&json!({"name": c.name, "arguments": arguments}).to_string());
    }
    out
}

fn proposed(call: &ChatCompletionMessageToolCalls) -> ProposedCall {
    match call {
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
    }
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
            self.push_result(f);
        }
        if feedback.is_empty() && self.idle {
            let nudge = json!({
                "note": "The rollout is not finished until promote or rollback. Call a tool.",
                "canary_weight": state.weight,
                "latest_verdict": state.verdict_kind(),
            });
            self.messages.push(user(&nudge.to_string()));
        }
        let cap = self.client.settings().max_tokens;
        let (response, _attempts) = self.client.chat(self.request(), cap).await?;
        let usage = response.usage.clone().unwrap_or_default();
        let message = response.choices.into_iter().next().map(|c| c.message);
        let content = message.as_ref().and_then(|m| m.content.clone());
        let native = message.and_then(|m| m.tool_calls).unwrap_or_default();
        let calls: Vec<ProposedCall> = if native.is_empty() {
            self.calls_in_text(content.as_deref())
        } else {
            native.iter().map(proposed).collect()
        };
        self.push_turn(content.clone(), native, &calls).await;
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
