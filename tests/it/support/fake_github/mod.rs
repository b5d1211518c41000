//! A fake GitHub REST API on loopback, speaking the response shapes of the
//! endpoints `assess --github` and `--post` use.
//!
//! `GET /repos/{o}/{r}/commits/{sha}` (files paginated), `GET .../commits?sha=`,
//! `GET .../pulls/{n}`, `GET .../pulls/{n}/files`, `GET|POST
//! .../issues/{n}/comments`, `PATCH .../issues/comments/{id}`, `POST
//! .../check-runs`. Listings honour `per_page` up to the server's own page size
//! and answer with a real `Link` header (`rel="next"`, `rel="last"`). Errors are
//! GitHub's `{"message", "documentation_url"}`: 401 "Bad credentials" for a wrong
//! token, 404 "Not Found" for unknown repositories, commits and pulls, 403 when
//! a check run is created without the App token. Failures can be injected
//! (status + headers) for the next requests, and requests can be left hanging. `base_path = "/api/v3"` serves the
//! API where GitHub Enterprise Server does. Objects have every field GitHub
//! sends (see `shapes`), because octocrab's models insist on them. The server runs on its own thread
//! and runtime so that synchronous tests can run the binary against it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use serde_json::{json, Value};

pub mod shapes;

pub const TOKEN: &str = "ghp_fake_token";
pub const APP_TOKEN: &str = "ghs_fake_installation_token";
pub const REPO: &str = "acme/shop";

#[derive(Default)]
pub struct State {
    /// Full commits (`GET /commits/{sha}` shape, with `files`), newest first.
    pub commits: Vec<Value>,
    pub pulls: BTreeMap<u64, Value>,
    pub pull_files: BTreeMap<u64, Vec<Value>>,
    pub comments: BTreeMap<u64, Vec<Value>>,
    pub check_runs: Vec<Value>,
    /// `METHOD path?query` of every request.
    pub requests: Vec<String>,
    /// Answered to the next requests, in order: status and headers.
    pub failures: Vec<(u16, Vec<(String, String)>)>,
    /// The next this many requests get no answer for 30 s (a hung server).
    pub stalls: u32,
    pub page_size: usize,
    /// Path the API lives under: "" like api.github.com, "/api/v3" like GitHub
    /// Enterprise Server. Requests outside it get 404.
    pub base_path: String,
    next_id: u64,
    addr: String,
}

impl State {
    fn take_stall(&mut self) -> bool {
        let stall = self.stalls > 0;
        self.stalls = self.stalls.saturating_sub(1);
        stall
    }
}

pub struct FakeGitHub {
    pub addr: SocketAddr,
    pub state: Arc<Mutex<State>>,
}

impl FakeGitHub {
    pub fn start() -> Self {
        let state = Arc::new(Mutex::new(State {
            page_size: 100,
            next_id: 1000,
            ..State::default()
        }));
        let (tx, rx) = std::sync::mpsc::channel();
        let shared = state.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                tx.send(listener.local_addr().expect("addr")).expect("send");
                let app = Router::new().fallback(
                    move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                        let shared = shared.clone();
                        async move {
                            if shared.lock().unwrap().take_stall() {
                                tokio::time::sleep(std::time::Duration::from_secs(30)).await;
                            }
                            let mut s = shared.lock().unwrap();
                            handle(&mut s, method, &uri, &headers, &body)
                        }
                    },
                );
                let _ = axum::serve(listener, app).await;
            });
        });
        let addr = rx.recv().expect("server address");
        state.lock().unwrap().addr = addr.to_string();
        Self { addr, state }
    }

    /// The API's URL, `[github] api_url` (with the base path, if any).
    pub fn url(&self) -> String {
        format!("http://{}{}", self.addr, self.with(|s| s.base_path.clone()))
    }

    pub fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.state.lock().unwrap())
    }

    pub fn requests(&self) -> Vec<String> {
        self.with(|s| s.requests.clone())
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    let body = json!({
        "message": message,
        "documentation_url": "https://docs.github.com/rest",
        "status": status.as_u16().to_string(),
    });
    (status, axum::Json(body)).into_response()
}

fn handle(s: &mut State, method: Method, uri: &Uri, headers: &HeaderMap, body: &[u8]) -> Response {
    let query: BTreeMap<String, String> = uri
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    s.requests.push(format!(
        "{method} {}",
        uri.path_and_query().map_or("", |p| p.as_str())
    ));
    if !s.failures.is_empty() {
        let (code, hs) = s.failures.remove(0);
        let mut resp = error(StatusCode::from_u16(code).unwrap(), "injected failure");
        for (k, v) in hs {
            resp.headers_mut().insert(
                axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(&v).unwrap(),
            );
        }
        return resp;
    }
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let bearer = auth.strip_prefix("Bearer ").unwrap_or_default();
    if bearer != TOKEN && bearer != APP_TOKEN {
        return error(StatusCode::UNAUTHORIZED, "Bad credentials");
    }
    let path = uri.path().to_string();
    let Some(rest) = path.strip_prefix(&format!("{}/repos/{REPO}", s.base_path)) else {
        return error(StatusCode::NOT_FOUND, "Not Found");
    };
    let parts: Vec<&str> = rest.trim_start_matches('/').split('/').collect();
    let input: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    match (method.as_str(), parts.as_slice()) {
        ("GET", ["commits"]) => {
            let sha = query.get("sha").cloned().unwrap_or_default();
            let Some(start) = s.commits.iter().position(|c| c["sha"] == sha.as_str()) else {
                return error(StatusCode::NOT_FOUND, "Not Found");
            };
            let list: Vec<Value> = s.commits[start..]
                .iter()
                .map(|c| {
                    let mut c = c.clone();
                    c.as_object_mut().unwrap().remove("files");
                    c.as_object_mut().unwrap().remove("stats");
                    c
                })
                .collect();
            paginate(s, uri, &query, list, None)
        }
        ("GET", ["commits", sha]) => {
            let found = s
                .commits
                .iter()
                .find(|c| c["sha"].as_str().unwrap().starts_with(sha))
                .cloned();
            match found {
                Some(c) => {
                    let files = c["files"].as_array().cloned().unwrap_or_default();
                    paginate(s, uri, &query, files, Some(c))
                }
                None => error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &format!("No commit found for SHA: {sha}"),
                ),
            }
        }
        ("GET", ["pulls", n]) => match n.parse().ok().and_then(|n: u64| s.pulls.get(&n)) {
            Some(p) => axum::Json(p.clone()).into_response(),
            None => error(StatusCode::NOT_FOUND, "Not Found"),
        },
        ("GET", ["pulls", n, "files"]) => {
            match n.parse().ok().and_then(|n: u64| s.pull_files.get(&n)) {
                Some(f) => {
                    let f = f.clone();
                    paginate(s, uri, &query, f, None)
                }
                None => error(StatusCode::NOT_FOUND, "Not Found"),
            }
        }
        ("GET", ["issues", n, "comments"]) => {
            let n: u64 = n.parse().unwrap_or_default();
            let list = s.comments.get(&n).cloned().unwrap_or_default();
            paginate(s, uri, &query, list, None)
        }
        ("POST", ["issues", n, "comments"]) => {
            let n: u64 = n.parse().unwrap_or_default();
            if !s.pulls.contains_key(&n) {
                return error(StatusCode::NOT_FOUND, "Not Found");
            }
            s.next_id += 1;
            let id = s.next_id;
            let body = input["body"].as_str().unwrap_or_default();
            let comment = shapes::comment(id, n, body, "github-actions[bot]", "Bot");
            s.comments.entry(n).or_default().push(comment.clone());
            (StatusCode::CREATED, axum::Json(comment)).into_response()
        }
        ("PATCH", ["issues", "comments", id]) => {
            let id: u64 = id.parse().unwrap_or_default();
            for list in s.comments.values_mut() {
                if let Some(c) = list.iter_mut().find(|c| c["id"] == id) {
                    c["body"] = input["body"].clone();
                    c["updated_at"] = json!("2026-11-29T11:00:00Z");
                    return axum::Json(c.clone()).into_response();
                }
            }
            error(StatusCode::NOT_FOUND, "Not Found")
        }
        ("POST", ["check-runs"]) => {
            if bearer != APP_TOKEN {
                return error(
                    StatusCode::FORBIDDEN,
                    "You must authenticate via a GitHub App.",
                );
            }
            s.next_id += 1;
            // What was asked is kept for the tests; GitHub's whole object is answered.
            let mut asked = input.clone();
            asked["id"] = json!(s.next_id);
            s.check_runs.push(asked);
            let run = shapes::check_run(s.next_id, &input);
            (StatusCode::CREATED, axum::Json(run)).into_response()
        }
        _ => error(StatusCode::NOT_FOUND, "Not Found"),
    }
}

/// One page of `items` (or of `wrapper.files` when a wrapper is given) with a Link header.
fn paginate(
    s: &State,
    uri: &Uri,
    query: &BTreeMap<String, String>,
    items: Vec<Value>,
    wrapper: Option<Value>,
) -> Response {
    let default = if wrapper.is_some() { 300 } else { 30 };
    let per_page: usize = query
        .get("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
        .min(s.page_size)
        .max(1);
    let page: usize = query
        .get("page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let chunk: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let body = match wrapper {
        Some(mut w) => {
            w["files"] = Value::Array(chunk);
            w
        }
        None => Value::Array(chunk),
    };
    let mut resp = axum::Json(body).into_response();
    if last > 1 {
        let host = format!("http://{}", s.addr);
        let mut other: Vec<String> = query
            .iter()
            .filter(|(k, _)| k.as_str() != "page" && k.as_str() != "per_page")
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        other.push(format!("per_page={per_page}"));
        let base = format!("{host}{}?{}", uri.path(), other.join("&"));
        let mut links = Vec::new();
        if page < last {
            links.push(format!("<{base}&page={}>; rel=\"next\"", page + 1));
            links.push(format!("<{base}&page={last}>; rel=\"last\""));
        }
        if page > 1 {
            links.push(format!("<{base}&page=1>; rel=\"first\""));
            links.push(format!("<{base}&page={}>; rel=\"prev\"", page - 1));
        }
        resp.headers_mut()
            .insert("link", HeaderValue::from_str(&links.join(", ")).unwrap());
    }
    resp
}
