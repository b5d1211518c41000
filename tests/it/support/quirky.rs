//! An OpenAI-compatible server that misbehaves like the servers people run
//! (llama.cpp / llama-cpp-python, OpenAI's o-series), one switch per quirk.
//!
//! Unlike [`super::openai::FakeOpenAi`] it keeps a model's view of the
//! conversation: it counts prompt tokens over the messages its "template"
//! keeps, and the model function sees only those — so a dropped tool result
//! really never reaches the model.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// The model: the kept messages → the next call `(name, arguments)`, or `None` for prose.
pub type Model = Arc<dyn Fn(&[Value]) -> Option<(String, Value)> + Send + Sync>;

/// How the server misbehaves.
#[derive(Clone, Default)]
pub struct Quirks {
    /// HTTP 500 when an assistant message with `tool_calls` has no `content` (llama-cpp-python).
    pub needs_content: bool,
    /// The chat template drops `role: "tool"` messages (llama-cpp-python).
    pub drops_tool_role: bool,
    /// HTTP 500 "Input should be 'text' or 'json_object'" on json_schema (llama-cpp-python).
    pub refuses_json_schema: bool,
    /// HTTP 400 on json_object as well (a server with no JSON mode at all).
    pub refuses_json_object: bool,
    /// HTTP 500 on any `role: "tool"` message (Mistral-style templates:
    /// "Conversation roles must alternate user/assistant/user/assistant/...").
    pub refuses_tool_role: bool,
    /// No `usage` in replies.
    pub no_usage: bool,
    /// Answers only after this long unless the request caps the answer.
    pub slow_without_cap: Option<Duration>,
    /// HTTP 400 on `max_tokens`, naming `max_completion_tokens` (OpenAI o-series).
    pub wants_max_completion_tokens: bool,
    /// Calls are written in the content (Hermes `<tool_call>` tags), never in `tool_calls`.
    pub text_calls: bool,
}

/// The running server.
pub struct QuirkyServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Value>>>,
}

struct Shared {
    quirks: Quirks,
    model: Model,
    requests: Arc<Mutex<Vec<Value>>>,
}

impl QuirkyServer {
    pub async fn start(quirks: Quirks, model: Model) -> Self {
        let requests = Arc::new(Mutex::new(vec![]));
        let shared = Arc::new(Shared {
            quirks,
            model,
            requests: requests.clone(),
        });
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .with_state(shared);
        let addr = crate::support::loopback::serve(app).await;
        Self { addr, requests }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// The JSON bodies received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().expect("lock").clone()
    }
}

fn error(status: u16, body: Value) -> Response {
    let status = StatusCode::from_u16(status).expect("status");
    (status, Json(body)).into_response()
}

async fn chat(State(s): State<Arc<Shared>>, Json(body): Json<Value>) -> Response {
    s.requests.lock().expect("lock").push(body.clone());
    let q = &s.quirks;
    if q.wants_max_completion_tokens && body.get("max_tokens").is_some() {
        return error(
            400,
            json!({"error": {
            "message": "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens' instead.",
            "type": "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter"}}),
        );
    }
    let format = body["response_format"]["type"].as_str().unwrap_or("text");
    if q.refuses_json_schema && format == "json_schema" {
        return error(
            500,
            json!({"error": {
            "message": "1 validation error for CreateChatCompletionRequest\nresponse_format.type\n  Input should be 'text' or 'json_object' [type=literal_error, input_value='json_schema', input_type=str]",
            "type": "internal_server_error"}}),
        );
    }
    if q.refuses_json_object && format == "json_object" {
        return error(
            400,
            json!({"error": {
            "message": "response_format of type json_object is not supported by this model",
            "type": "invalid_request_error", "param": "response_format", "code": null}}),
        );
    }
    let messages = body["messages"].as_array().cloned().unwrap_or_default();
    let bare_call = messages.iter().any(|m| {
        m["role"] == "assistant" && m.get("tool_calls").is_some() && m.get("content").is_none()
    });
    if q.needs_content && bare_call {
        return error(
            500,
            json!({"error": {"message": "'content'", "type": "internal_server_error"}}),
        );
    }
    if q.refuses_tool_role && messages.iter().any(|m| m["role"] == "tool") {
        return error(
            500,
            json!({"error": {
            "message": "Conversation roles must alternate user/assistant/user/assistant/...",
            "type": "internal_server_error"}}),
        );
    }
    let capped = body.get("max_tokens").is_some() || body.get("max_completion_tokens").is_some();
    if let (Some(wait), false) = (q.slow_without_cap, capped) {
        tokio::time::sleep(wait).await;
    }
    let kept: Vec<Value> = messages
        .into_iter()
        .filter(|m| !(q.drops_tool_role && m["role"] == "tool"))
        .collect();
    let prompt_tokens = kept
        .iter()
        .map(|m| m.to_string().len() as u64 / 4)
        .sum::<u64>();
    let message = if body["max_tokens"] == 1 || body["max_completion_tokens"] == 1 {
        json!({"role": "assistant", "content": "ok"})
    } else if format != "text" || body.get("tools").is_none() {
        let opinion = json!({"score": 0.4, "rationale": "A small change.", "concerns": []});
        json!({"role": "assistant", "content": opinion.to_string()})
    } else {
        match (s.model)(&kept) {
            None => json!({"role": "assistant", "content": "The rollout looks fine."}),
            Some((name, args)) if q.text_calls => json!({"role": "assistant", "content":
                format!("<tool_call>\n{}\n</tool_call>", json!({"name": name, "arguments": args}))}),
            Some((name, args)) => json!({"role": "assistant", "content": null, "tool_calls": [{
                "id": format!("call_{}", kept.len()), "type": "function",
                "function": {"name": name, "arguments": args.to_string()}}]}),
        }
    };
    let mut reply = json!({
        "id": "chatcmpl-quirky", "object": "chat.completion", "created": 1, "model": "quirky",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
    });
    if !q.no_usage {
        reply["usage"] = json!({"prompt_tokens": prompt_tokens, "completion_tokens": 10,
                                "total_tokens": prompt_tokens + 10});
    }
    Json(reply).into_response()
}

/// The tool results a model can see: `tool` messages, or user messages
/// `Result of tool call <id> (<name>): <json>`.
pub fn results(messages: &[Value]) -> Vec<Value> {
    messages
        .iter()
        .filter_map(|m| {
            let text = m["content"].as_str()?;
            match m["role"].as_str()? {
                "tool" => serde_json::from_str(text).ok(),
                "user" if text.starts_with("Result of tool call ") => {
                    let (_, json) = text.split_once("): ")?;
                    serde_json::from_str(json).ok()
                }
                _ => None,
            }
        })
        .collect()
}

/// A sensible rollout model that reads its results: assess, ask, start at 5,
/// step by 15 on a pass, promote at 50. Without results it assesses forever.
pub fn sensible() -> Model {
    Arc::new(|messages: &[Value]| {
        let results = results(messages);
        let (name, args) = super::openai::sensible_step(&results);
        Some((name.to_string(), args))
    })
}
