//! `deploy-agent llm check`: what the configured endpoint accepts, found the
//! way a rollout would find it, before a rollout depends on it. One small
//! planner turn (does the model call a tool, natively or as text, and how long
//! does a turn take), the tool-message probe, one structured answer, and the
//! answer-cap field the server wants. Nothing is changed anywhere.

use serde::Serialize;
use tokio::time::Instant;

use async_openai::types::chat::{
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestUserMessage,
    ChatCompletionRequestUserMessageContent, ChatCompletionToolChoiceOption,
    CreateChatCompletionRequest, ToolChoiceOptions,
};

use super::compat::ToolResults;
use super::opinion::{ModelOpinion, ASSESS_PROMPT};
use super::{probe, textcalls, LlmClient, LlmError, OPENAI_BASE_URL};
use crate::planner::openai::{tool_specs, ROLLOUT_PROMPT};
use crate::settings::LlmSettings;

/// How the model answered the planner turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolCalls {
    /// In `tool_calls`, as the protocol says.
    Native,
    /// Written in the content; parsed (see [`textcalls`]).
    Text,
    /// No call at all: the model cannot drive a rollout.
    None,
}

/// What `llm check` found. `None` fields were not reached.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LlmCheckReport {
    pub base_url: String,
    pub model: String,
    pub reachable: bool,
    pub tool_calls: Option<ToolCalls>,
    /// The call the model made in the turn, e.g. `set_canary_weight {"weight":5}`.
    pub first_call: Option<String>,
    /// `tool` or `user`.
    pub tool_results: Option<ToolResults>,
    pub tool_results_reason: Option<String>,
    /// `json_schema`, `json_object` or `prompt`; `None` when no structured answer came.
    pub structured_output: Option<String>,
    pub structured_detail: Option<String>,
    /// `max_tokens` or `max_completion_tokens`.
    pub max_tokens_param: String,
    /// Wall time of the planner turn.
    pub turn_ms: Option<u64>,
    pub usable: bool,
    /// What to fix, when not usable (or what will bite).
    pub problems: Vec<String>,
}

/// Runs the checks against `settings`' endpoint.
pub async fn run_check(settings: &LlmSettings) -> LlmCheckReport {
    let mut report = LlmCheckReport {
        base_url: settings
            .base_url
            .clone()
            .unwrap_or_else(|| OPENAI_BASE_URL.into()),
        model: settings.model.clone(),
        reachable: false,
        tool_calls: None,
        first_call: None,
        tool_results: None,
        tool_results_reason: None,
        structured_output: None,
        structured_detail: None,
        max_tokens_param: "max_tokens".into(),
        turn_ms: None,
        usable: false,
        problems: vec![],
    };
    if !settings.is_configured() {
        report.problems.push(
            "no endpoint configured: set OPENAI_BASE_URL (or llm.base_url) and, for hosted APIs, OPENAI_API_KEY".into(),
        );
        return report;
    }
    let client = match LlmClient::new(settings) {
        Ok(c) => c,
        Err(e) => {
            report.problems.push(e.to_string());
            return report;
        }
    };
    let started = Instant::now();
    match client
        .chat(turn_request(&client), settings.max_tokens)
        .await
    {
        Ok((response, _)) => {
            report.reachable = true;
            report.turn_ms = Some(started.elapsed().as_millis() as u64);
            let message = response.choices.into_iter().next().map(|c| c.message);
            let content = message.as_ref().and_then(|m| m.content.clone());
            let native = message.and_then(|m| m.tool_calls).unwrap_or_default();
            let known: Vec<&str> = crate::tools::definitions().iter().map(|d| d.name).collect();
            let text = textcalls::parse(content.as_deref().unwrap_or(""), &known);
            if let Some(c) = native.first() {
                report.tool_calls = Some(ToolCalls::Native);
                if let async_openai::types::chat::ChatCompletionMessageToolCalls::Function(f) = c {
                    report.first_call =
                        Some(format!("{} {}", f.function.name, f.function.arguments));
                }
            } else if let Some(c) = text.first() {
                report.tool_calls = Some(ToolCalls::Text);
                report.first_call = Some(format!("{} {}", c.name, c.arguments));
            } else {
                report.tool_calls = Some(ToolCalls::None);
                report.problems.push(format!(
                    "the model answered without a tool call ({:?}): use an instruct model with a tool-calling chat template",
                    content.unwrap_or_default().chars().take(80).collect::<String>()
                ));
            }
        }
        Err(e) => {
            report.reachable = !matches!(e, LlmError::Transport(_) | LlmError::Timeout(_));
            report.problems.push(e.to_string());
            report.max_tokens_param = client.token_param().label().into();
            return report;
        }
    }
    if settings.tool_results == ToolResults::Auto {
        let found = probe::probe(&client).await;
        report.tool_results = Some(found.mode);
        report.tool_results_reason = Some(found.reason);
    } else {
        report.tool_results = Some(settings.tool_results);
        report.tool_results_reason = Some("configured (llm.tool_results)".into());
    }
    let question =
        "Change: one line in src/retry.rs (a retry count from 3 to 4). Give your opinion.";
    match client
        .structured::<ModelOpinion>(
            ASSESS_PROMPT,
            question,
            "risk_opinion",
            settings.opinion_max_tokens,
        )
        .await
    {
        Ok(reply) => {
            report.structured_output = Some(client.structured_mode().label().into());
            report.structured_detail = Some(format!("score {:.2}", reply.value.score));
        }
        Err(e) => {
            report.structured_detail = Some(format!(
                "no valid answer in mode {}: {e}",
                client.structured_mode().label()
            ));
        }
    }
    report.max_tokens_param = client.token_param().label().into();
    report.usable =
        report.reachable && matches!(report.tool_calls, Some(ToolCalls::Native | ToolCalls::Text));
    report
}

/// One small planner turn: the real system prompt and tools, a plain ask.
fn turn_request(client: &LlmClient) -> CreateChatCompletionRequest {
    let ask = serde_json::json!({
        "service": "checkout",
        "canary_weight": 0,
        "risk": {"level": "low", "approval_required": false},
        "task": "Start the canary: call set_canary_weight with weight 5.",
    });
    CreateChatCompletionRequest {
        model: client.model().to_string(),
        messages: vec![
            ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
                content: ChatCompletionRequestSystemMessageContent::Text(ROLLOUT_PROMPT.into()),
                name: None,
            }),
            ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
                content: ChatCompletionRequestUserMessageContent::Text(ask.to_string()),
                name: None,
            }),
        ],
        tools: Some(tool_specs()),
        tool_choice: Some(ChatCompletionToolChoiceOption::Mode(
            ToolChoiceOptions::Auto,
        )),
        parallel_tool_calls: Some(false),
        temperature: Some(0.0),
        ..Default::default()
    }
}

/// A table for people: one line per finding, then the verdict.
pub fn render_text(r: &LlmCheckReport) -> String {
    let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
    let rows = [
        ("endpoint", r.base_url.clone()),
        ("model", r.model.clone()),
        ("reachable", if r.reachable { "yes" } else { "no" }.into()),
        (
            "tool calls",
            or_dash(r.tool_calls.map(|t| {
                let kind = match t {
                    ToolCalls::Native => "native",
                    ToolCalls::Text => "text (parsed)",
                    ToolCalls::None => "none",
                };
                match &r.first_call {
                    Some(c) => format!("{kind}: {c}"),
                    None => kind.into(),
                }
            })),
        ),
        (
            "tool results",
            or_dash(r.tool_results.map(|m| {
                format!(
                    "{} messages ({})",
                    m.label(),
                    r.tool_results_reason.clone().unwrap_or_default()
                )
            })),
        ),
        (
            "structured output",
            match (&r.structured_output, &r.structured_detail) {
                (Some(m), Some(d)) => format!("{m} ({d})"),
                (None, Some(d)) => d.chars().take(120).collect(),
                _ => "-".into(),
            },
        ),
        ("answer cap", r.max_tokens_param.clone()),
        (
            "planner turn",
            or_dash(r.turn_ms.map(|ms| format!("{:.1} s", ms as f64 / 1000.0))),
        ),
    ];
    let mut out = String::new();
    for (k, v) in rows {
        out.push_str(&format!("{k:<18} {v}\n"));
    }
    for p in &r.problems {
        out.push_str(&format!("problem: {p}\n"));
    }
    out.push_str(if r.usable {
        "\nusable: the planner can drive rollouts with this endpoint\n"
    } else {
        "\nnot usable: fix the problem above and run `deploy-agent llm check` again\n"
    });
    out
}

/// The report as JSON.
pub fn render_json(r: &LlmCheckReport) -> String {
    serde_json::to_string_pretty(r).unwrap_or_default() + "\n"
}
