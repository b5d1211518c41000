//! A local OpenAI-compatible HTTP server with scripted replies.
//!
//! Real HTTP on loopback, so the real async-openai client, its serialization and
//! our timeouts and retries are exercised. Each request takes the next scripted
//! reply; requests are recorded for assertions.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// A reply computed from the request: a model that reads its tool results.
pub type Respond = Arc<dyn Fn(&Value) -> Value + Send + Sync>;

/// One scripted reply.
#[derive(Clone)]
pub enum Reply {
    /// The assistant `message` computed from the request body.
    Adaptive(Respond),
    /// A 200 chat completion whose assistant message has this text content.
    Content(String),
    /// A 200 chat completion with this assistant `message` object (e.g. tool calls).
    Message(Value),
    /// Any status with a raw body.
    Status(u16, String),
    /// Wait this long, then answer with the inner reply.
    Delay(Duration, Box<Reply>),
}

#[derive(Default)]
struct Shared {
    script: VecDeque<Reply>,
    requests: Vec<Value>,
    auth: Vec<Option<String>>,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reply::Adaptive(_) => write!(f, "Adaptive"),
            Reply::Content(c) => write!(f, "Content({c:?})"),
            Reply::Message(m) => write!(f, "Message({m})"),
            Reply::Status(s, b) => write!(f, "Status({s}, {b:?})"),
            Reply::Delay(d, r) => write!(f, "Delay({d:?}, {r:?})"),
        }
    }
}

/// The running server.
pub struct FakeOpenAi {
    pub addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
}

impl FakeOpenAi {
    /// Starts a server that answers the given replies in order (then 500s).
    pub async fn start(script: Vec<Reply>) -> Self {
        let shared = Arc::new(Mutex::new(Shared {
            script: script.into(),
            ..Default::default()
        }));
        let app = Router::new()
            .route("/v1/chat/completions", post(chat))
            .with_state(shared.clone());
        let addr = crate::support::loopback::serve(app).await;
        Self { addr, shared }
    }

    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    /// Settings for a planner that talks to this server. The server counts the
    /// same prompt tokens whatever it is sent, so the tool-message probe would
    /// find tool messages dropped: this server keeps them (`tool_results = tool`).
    pub fn planner_settings(&self, timeout_secs: u64) -> deploy_agent::settings::LlmSettings {
        deploy_agent::settings::LlmSettings {
            base_url: Some(self.base_url()),
            api_key: Some("k".into()),
            model: "scripted".into(),
            timeout_secs,
            max_retries: 0,
            excerpt_bytes: 1000,
            tool_results: deploy_agent::llm::compat::ToolResults::Tool,
            ..Default::default()
        }
    }

    /// The JSON bodies received so far.
    pub fn requests(&self) -> Vec<Value> {
        self.shared.lock().expect("lock").requests.clone()
    }

    /// The Authorization headers received so far.
    pub fn auth_headers(&self) -> Vec<Option<String>> {
        self.shared.lock().expect("lock").auth.clone()
    }
}

async fn chat(
    State(shared): State<Arc<Mutex<Shared>>>,
    headers: axum::http::HeaderMap,
    Json(body): Json<Value>,
) -> Response {
    let request = body.clone();
    let reply = {
        let mut s = shared.lock().expect("lock");
        s.requests.push(body);
        s.auth.push(
            headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string),
        );
        s.script.pop_front()
    };
    let mut reply = reply.unwrap_or(Reply::Status(500, "script exhausted".into()));
    loop {
        match reply {
            Reply::Delay(d, inner) => {
                tokio::time::sleep(d).await;
                reply = *inner;
            }
            Reply::Content(text) => {
                return completion(json!({"role": "assistant", "content": text})).into_response()
            }
            Reply::Message(message) => return completion(message).into_response(),
            Reply::Adaptive(respond) => return completion(respond(&request)).into_response(),
            Reply::Status(code, body) => {
                let status = StatusCode::from_u16(code).expect("status");
                return (status, [("content-type", "application/json")], body).into_response();
            }
        }
    }
}

fn completion(message: Value) -> Json<Value> {
    Json(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "created": 1,
        "model": "scripted",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150}
    }))
}

/// The next step of a sensible rollout model, from the tool results it has read
/// (oldest first): assess, ask, start at 5, wait for a pass, step by 15, promote
/// at 50. Shared by the scripted servers that play a model.
pub fn sensible_step(results: &[Value]) -> (&'static str, Value) {
    let weight = results
        .iter()
        .rev()
        .find_map(|r| r["canary_weight"].as_u64())
        .unwrap_or(0);
    let asked = results.iter().any(|r| r.get("approved").is_some());
    let last = results.last().cloned().unwrap_or(Value::Null);
    if results.is_empty() {
        ("assess_risk", json!({}))
    } else if !asked {
        (
            "request_approval",
            json!({"summary": "migration adds an index"}),
        )
    } else if weight == 0 {
        (
            "set_canary_weight",
            json!({"weight": 5, "reason": "start small"}),
        )
    } else if last["verdict"] == "pass" && weight >= 50 {
        ("promote", json!({"reason": "pass at 50%"}))
    } else if last["verdict"] == "pass" {
        (
            "set_canary_weight",
            json!({"weight": weight + 15, "reason": "pass"}),
        )
    } else {
        ("query_metrics", json!({}))
    }
}

/// What llama.cpp sent in issue 18: a call whose JSON string never ends.
pub fn unterminated() -> Reply {
    Reply::Message(
        json!({"role": "assistant", "content": null, "tool_calls": [{
        "id": "call_bad", "type": "function",
        "function": {"name": "set_canary_weight", "arguments": "{\"weight\": 5, \"reason\": \"first st"}}]}),
    )
}

/// The tool results a request shows the model, oldest first (vetoes included).
pub fn results(request: &Value) -> Vec<Value> {
    request["messages"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter(|m| m["role"] == "tool")
        .filter_map(|m| serde_json::from_str(m["content"].as_str()?).ok())
        .collect()
}

/// A reply calling `name` with `args`, its id unique within the conversation.
pub fn tool_call(request: &Value, name: &str, args: Value) -> Value {
    let n = request["messages"].as_array().map_or(0, Vec::len);
    json!({"role": "assistant", "content": null, "tool_calls": [{
        "id": format!("call_{n}"), "type": "function",
        "function": {"name": name, "arguments": args.to_string()}}]})
}
