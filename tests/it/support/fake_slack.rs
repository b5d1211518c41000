//! A local server speaking Slack's Web API shapes (`chat.postMessage`,
//! `chat.update` with JSON bodies, `usergroups.users.list` with a query):
//! records each call's method, bearer and arguments (the JSON body, or the query
//! as a JSON object). It also takes the asynchronous replies to interactions:
//! a POST to `/response/{id}` (what [`FakeSlack::response_url`] hands out) is
//! recorded as method `response/{id}`, so a test reads the ephemeral text a click
//! got with [`FakeSlack::reply`]. A method can be made slow with `State::delays`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

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
    /// Method → how long to wait before answering it (e.g. a slow
    /// `usergroups.users.list`).
    pub delays: BTreeMap<String, Duration>,
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
                let delay = shared.lock().unwrap().delays.get(&method).copied();
                if let Some(delay) = delay {
                    tokio::time::sleep(delay).await;
                }
                let mut s = shared.lock().unwrap();
                let group = body["usergroup"].as_str().unwrap_or_default().to_string();
                s.calls.push(Call {
                    method: method.clone(),
                    auth,
                    body,
                });
                let answer = match (&s.error, method.as_str()) {
                    (_, m) if m.starts_with("response/") => json!({"ok": true}),
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
        let addr = crate::support::loopback::serve(app).await;
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

    /// A `response_url` for one click, unique per `id`.
    pub fn response_url(&self, id: &str) -> String {
        format!("{}/response/{id}", self.url())
    }

    /// How many replies [`FakeSlack::response_url`] `id` got so far.
    pub fn replies(&self, id: &str) -> usize {
        self.calls(&format!("response/{id}")).len()
    }

    /// The `n`th (from 1) ephemeral reply posted to [`FakeSlack::response_url`]
    /// `id`, waiting up to `wait` for it; checks it is an ephemeral that leaves
    /// the message as it is.
    pub async fn reply(&self, id: &str, n: usize, wait: Duration) -> String {
        let method = format!("response/{id}");
        let deadline = Instant::now() + wait;
        loop {
            if let Some(c) = self.calls(&method).get(n - 1) {
                assert_eq!(c.body["response_type"], "ephemeral", "{:?}", c.body);
                assert_eq!(c.body["replace_original"], false, "{:?}", c.body);
                return c.body["text"].as_str().unwrap_or_default().to_string();
            }
            assert!(Instant::now() < deadline, "no reply #{n} to click {id}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The form body Slack posts for a `block_actions` click on a button whose
/// value is `value`, replying to `response_url`.
pub fn click_form(user: &str, action: &str, value: &str, response_url: &str) -> String {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": user},
        "actions": [{"action_id": action, "value": value}],
        "response_url": response_url,
    });
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", &payload.to_string())
        .finish()
}
