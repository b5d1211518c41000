//! A local server speaking Slack's Web API shapes (`chat.postMessage`,
//! `chat.update` with JSON bodies, `usergroups.users.list` with a query):
//! records each call's method, bearer and arguments (the JSON body, or the query
//! as a JSON object).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, Uri};
use axum::Router;
use serde_json::{json, Value};

#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub auth: String,
    pub body: Value,
}

#[derive(Debug, Default)]
pub struct State {
    pub calls: Vec<Call>,
    /// When set, every call answers `{"ok": false, "error": <this>}`.
    pub error: Option<String>,
    /// User group id (`S…`) → member user ids, for `usergroups.users.list`.
    pub groups: BTreeMap<String, Vec<String>>,
}

pub struct FakeSlack {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
}

pub const CHANNEL_ID: &str = "C0DEPLOYS";
pub const TS: &str = "1700000000.000100";

impl FakeSlack {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let shared = shared.clone();
            async move {
                let method = uri.path().trim_start_matches('/').to_string();
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_string();
                let body: Value = match uri.query() {
                    Some(q) => form_urlencoded::parse(q.as_bytes())
                        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
                        .collect::<serde_json::Map<_, _>>()
                        .into(),
                    None => serde_json::from_slice(&body).unwrap_or(Value::Null),
                };
                let mut s = shared.lock().unwrap();
                let group = body["usergroup"].as_str().unwrap_or_default().to_string();
                s.calls.push(Call {
                    method: method.clone(),
                    auth,
                    body,
                });
                let answer = match (&s.error, method.as_str()) {
                    (Some(e), _) => json!({"ok": false, "error": e}),
                    (None, "usergroups.users.list") => match s.groups.get(&group) {
                        Some(users) => json!({"ok": true, "users": users}),
                        None => json!({"ok": false, "error": "no_such_subteam"}),
                    },
                    (None, _) => json!({"ok": true, "channel": CHANNEL_ID, "ts": TS}),
                };
                axum::Json(answer)
            }
        });
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { addr, state }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn calls(&self, method: &str) -> Vec<Call> {
        let s = self.state.lock().unwrap();
        s.calls
            .iter()
            .filter(|c| c.method == method)
            .cloned()
            .collect()
    }
}
