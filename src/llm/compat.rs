//! What one OpenAI-compatible endpoint accepts, configured or learned once.
//!
//! The servers people run differ in ways the API does not advertise:
//! llama-cpp-python's chat templates drop `role: "tool"` messages and refuse
//! `response_format: json_schema`; OpenAI's o-series refuse `max_tokens`. Each
//! difference is either set in `[llm]` or detected on first contact and
//! remembered for the process, per endpoint (base URL + model), so the second
//! rollout or assessment pays nothing for the first one's discovery.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How tool results are sent back to the model (`llm.tool_results`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ToolResults {
    /// Probe the endpoint once: `tool` if its template keeps tool messages, else `user`.
    #[default]
    Auto,
    /// As `role: "tool"` messages bound to the call id (the OpenAI protocol).
    Tool,
    /// As user messages `Result of tool call <id> (<name>): <json>`: every
    /// template keeps those.
    User,
}

/// How a JSON answer is asked for (`llm.structured_output`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum StructuredOutput {
    /// `json_schema`, stepping down to `json_object`, then `prompt`, on the first refusal.
    #[default]
    Auto,
    /// `response_format: json_schema` (OpenAI, vLLM, recent Ollama).
    JsonSchema,
    /// `response_format: json_object` with the schema in the system prompt
    /// (llama-cpp-python, LM Studio, older servers).
    JsonObject,
    /// No `response_format`: the schema in the system prompt only.
    Prompt,
}

impl StructuredOutput {
    /// The next mode down after a refusal, if any.
    pub fn fallback(self) -> Option<Self> {
        match self {
            StructuredOutput::Auto | StructuredOutput::JsonSchema => {
                Some(StructuredOutput::JsonObject)
            }
            StructuredOutput::JsonObject => Some(StructuredOutput::Prompt),
            StructuredOutput::Prompt => None,
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            StructuredOutput::Auto => "auto",
            StructuredOutput::JsonSchema => "json_schema",
            StructuredOutput::JsonObject => "json_object",
            StructuredOutput::Prompt => "prompt",
        }
    }
}

impl ToolResults {
    pub fn label(self) -> &'static str {
        match self {
            ToolResults::Auto => "auto",
            ToolResults::Tool => "tool",
            ToolResults::User => "user",
        }
    }
}

/// Which request field caps the answer's length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenParam {
    /// `max_tokens`: every local server and most hosted ones.
    #[default]
    MaxTokens,
    /// `max_completion_tokens`: OpenAI's reasoning models refuse `max_tokens`.
    MaxCompletionTokens,
}

impl TokenParam {
    pub fn label(self) -> &'static str {
        match self {
            TokenParam::MaxTokens => "max_tokens",
            TokenParam::MaxCompletionTokens => "max_completion_tokens",
        }
    }
}

/// What has been learned about one endpoint; `None`: not yet known.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Learned {
    pub tool_results: Option<ToolResults>,
    pub structured: Option<StructuredOutput>,
    pub token_param: Option<TokenParam>,
}

/// An endpoint: the base URL and the model (one server may serve several
/// models with different templates).
pub type Endpoint = (String, String);

static LEARNED: Mutex<Option<HashMap<Endpoint, Learned>>> = Mutex::new(None);

/// What is known about `endpoint` so far.
pub fn learned(endpoint: &Endpoint) -> Learned {
    let guard = LEARNED.lock().unwrap_or_else(PoisonError::into_inner);
    guard
        .as_ref()
        .and_then(|m| m.get(endpoint).copied())
        .unwrap_or_default()
}

/// Records a discovery about `endpoint` for the rest of the process.
pub fn remember(endpoint: &Endpoint, update: impl FnOnce(&mut Learned)) {
    let mut guard = LEARNED.lock().unwrap_or_else(PoisonError::into_inner);
    update(
        guard
            .get_or_insert_with(HashMap::new)
            .entry(endpoint.clone())
            .or_default(),
    );
}

/// Whether an error message refuses the `response_format` asked for
/// (llama-cpp-python: "Input should be 'text' or 'json_object'").
pub fn refuses_response_format(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    ["response_format", "json_schema", "input should be"]
        .iter()
        .any(|k| m.contains(k))
}

/// Whether an error message asks for `max_completion_tokens` instead of
/// `max_tokens` (OpenAI: "Unsupported parameter: 'max_tokens' is not supported
/// with this model. Use 'max_completion_tokens' instead.").
pub fn wants_max_completion_tokens(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    m.contains("max_completion_tokens") && m.contains("max_tokens")
}

/// Whether a 5xx body is really a validation error: the same request would be
/// refused again, so retrying it only burns time (FastAPI/pydantic servers
/// answer some bad requests with HTTP 500).
pub fn is_validation_error(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "input should be",
        "validation error",
        "invalid",
        "not supported",
        "unsupported parameter",
        "unsupported value",
        // A chat template's own check (Mistral's): the same messages fail again.
        "roles must alternate",
    ]
    .iter()
    .any(|k| m.contains(k))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_recognised_from_real_messages() {
        // (message, refuses response_format, wants max_completion_tokens, validation)
        let cases = [
            (
                r#"{"error":{"message":"1 validation error for CreateChatCompletionRequest\nresponse_format.type\n  Input should be 'text' or 'json_object'"}}"#,
                true,
                false,
                true,
            ),
            (
                "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
                false,
                true,
                true,
            ),
            (
                "Invalid parameter: 'response_format' of type 'json_schema' is not supported with this model.",
                true,
                false,
                true,
            ),
            ("upstream connect error", false, false, false),
            ("CUDA out of memory", false, false, false),
            ("", false, false, false),
        ];
        for (m, rf, mct, val) in cases {
            assert_eq!(refuses_response_format(m), rf, "{m}");
            assert_eq!(wants_max_completion_tokens(m), mct, "{m}");
            assert_eq!(is_validation_error(m), val, "{m}");
        }
    }

    #[test]
    fn structured_modes_step_down_to_the_prompt_and_stop() {
        let mut mode = StructuredOutput::Auto;
        let mut seen = vec![];
        while let Some(next) = mode.fallback() {
            seen.push(next.label());
            mode = next;
        }
        assert_eq!(seen, ["json_object", "prompt"]);
    }

    #[test]
    fn discoveries_are_kept_per_endpoint() {
        let a: Endpoint = ("http://compat-test-a/v1".into(), "m".into());
        let b: Endpoint = ("http://compat-test-a/v1".into(), "other".into());
        remember(&a, |l| l.tool_results = Some(ToolResults::User));
        assert_eq!(learned(&a).tool_results, Some(ToolResults::User));
        assert_eq!(learned(&b), Learned::default());
    }
}
