//! A fake Kubernetes API server on loopback, speaking the real REST wire format
//! for the objects the traffic adapters touch, and misbehaving like a real one
//! when a test asks it to.
//!
//! Paths: `/apis/apps/v1/namespaces/{ns}/deployments[/{name}[/scale]]`,
//! `/apis/gateway.networking.k8s.io/v1/namespaces/{ns}/httproutes/{name}`,
//! `/apis/argoproj.io/v1alpha1/namespaces/{ns}/rollouts/{name}[/status]`.
//! GET, LIST (`?fieldSelector=metadata.name=NAME`, a `…List` with
//! `metadata.resourceVersion`), WATCH (`?watch=true&resourceVersion=…`:
//! newline-delimited `{"type","object"}` events, replayed from that version
//! then live, ended after `timeoutSeconds`), PUT (conditional on
//! `metadata.resourceVersion`) and PATCH (merge, strategic-merge treated as
//! merge, JSON patch). Every write bumps the resourceVersion; a main-resource
//! write keeps `status`, a `/status` write keeps everything else. Errors are
//! real `Status` objects: 401 without the bearer token, 404, 409, 415, 422.
//!
//! Misbehaviours, per test: Deployment pods Ready late, never, or a rollout
//! that ends in `ProgressDeadlineExceeded` ([`Pods`], by a background
//! controller task that sends MODIFIED events); a storm of 409s; 429/500 for
//! the next N requests; a minimal Argo Rollouts controller.

mod controllers;
mod fixtures;
mod watch;
mod writes;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use deploy_agent::traffic::kube_client::KubeClient;
use serde_json::{json, Value};
use tokio::sync::broadcast;

pub use controllers::Pods;
pub use fixtures::{deployment, httproute, rollout, rollout_with};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub content_type: Option<String>,
    pub body: Value,
}

impl Seen {
    pub fn is_watch(&self) -> bool {
        self.query.contains("watch=true")
    }
}

/// The server's log: requests and what its controllers did, in order.
#[derive(Debug, Clone)]
pub enum Entry {
    Request(Seen),
    /// e.g. "ready deployments/checkout-canary 1".
    Controller(String),
}

/// A stored change, for watches.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub rv: u64,
    /// The object's path.
    pub path: String,
    pub kind: &'static str,
    pub object: Value,
}

pub(crate) struct Shared {
    pub objects: BTreeMap<String, Value>,
    pub resource_version: u64,
    pub conflicts_to_inject: u32,
    pub concurrent_writes: u32,
    pub failures_to_inject: VecDeque<u16>,
    pub pods: Pods,
    pub pods_of: HashMap<String, Pods>,
    /// The Argo controller's reaction time; `None`: no controller.
    pub argo: Option<Duration>,
    pub log: Vec<Entry>,
    pub changes: Vec<Change>,
    pub tx: broadcast::Sender<Change>,
}

impl Shared {
    /// Stores `object` at `path` as a new version and tells the watchers.
    pub fn commit(&mut self, path: &str, mut object: Value, kind: &'static str) -> Value {
        self.resource_version += 1;
        let rv = self.resource_version;
        object["metadata"]["resourceVersion"] = json!(rv.to_string());
        self.objects.insert(path.to_string(), object.clone());
        let change = Change {
            rv,
            path: path.to_string(),
            kind,
            object: object.clone(),
        };
        self.changes.push(change.clone());
        let _ = self.tx.send(change);
        object
    }

    pub fn pods_for(&self, name: &str) -> Pods {
        self.pods_of.get(name).copied().unwrap_or(self.pods)
    }

    pub fn note(&mut self, what: String) {
        self.log.push(Entry::Controller(what));
    }
}

pub(crate) type State = Arc<Mutex<Shared>>;

/// The running server.
pub struct FakeKube {
    pub addr: SocketAddr,
    pub token: String,
    shared: State,
}

impl FakeKube {
    pub async fn start(token: &str) -> Self {
        let (tx, _) = broadcast::channel(1024);
        let shared = Arc::new(Mutex::new(Shared {
            objects: BTreeMap::new(),
            resource_version: 0,
            conflicts_to_inject: 0,
            concurrent_writes: 0,
            failures_to_inject: VecDeque::new(),
            pods: Pods::Immediate,
            pods_of: HashMap::new(),
            argo: None,
            log: Vec::new(),
            changes: Vec::new(),
            tx,
        }));
        let state = (shared.clone(), token.to_string());
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { handle(&state.0, &state.1, method, uri, headers, body) }
            },
        );
        let addr = crate::support::loopback::serve(app).await;
        Self {
            addr,
            token: token.to_string(),
            shared,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig for this server with `token`.
    pub fn kubeconfig(&self, token: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fake\ncontexts:\n- name: fake\n  context: {{cluster: fake, user: agent, namespace: shop}}\nclusters:\n- name: fake\n  cluster: {{server: '{}'}}\nusers:\n- name: agent\n  user: {{token: '{token}'}}\n",
            self.url()
        )
    }

    /// A client with `token`, a 2 s timeout, no retries.
    pub fn client(&self, token: &str) -> KubeClient {
        self.client_with_retries(token, 0)
    }

    pub fn client_with_retries(&self, token: &str, max_retries: u32) -> KubeClient {
        let config = kube::config::Kubeconfig::from_yaml(&self.kubeconfig(token)).expect("yaml");
        KubeClient::from_kubeconfig(config, None, Duration::from_secs(2), max_retries)
            .expect("client")
    }

    /// Stores an object (path from its apiVersion, kind and metadata).
    pub fn insert(&self, object: Value) -> String {
        let path = object_path(&object);
        self.shared.lock().unwrap().commit(&path, object, "ADDED");
        path
    }

    pub fn object(&self, path: &str) -> Value {
        self.shared.lock().unwrap().objects[path].clone()
    }

    /// Changes an object as a controller or another client would (bumps the resourceVersion).
    pub fn update(&self, path: &str, change: impl FnOnce(&mut Value)) {
        let mut s = self.shared.lock().unwrap();
        let mut object = s.objects[path].clone();
        change(&mut object);
        s.commit(path, object, "MODIFIED");
    }

    /// How every Deployment's pods follow a new spec or scale from now on.
    pub fn pods(&self, pods: Pods) {
        self.shared.lock().unwrap().pods = pods;
    }

    /// How Deployment `name`'s pods follow a new spec or scale from now on.
    pub fn pods_of(&self, name: &str, pods: Pods) {
        self.shared
            .lock()
            .unwrap()
            .pods_of
            .insert(name.to_string(), pods);
    }

    /// From now on Deployments never finish rolling out a new spec.
    pub fn stall_rollouts(&self) {
        self.pods(Pods::Never);
    }

    /// The next `n` writes answer 409 Conflict.
    pub fn inject_conflicts(&self, n: u32) {
        self.shared.lock().unwrap().conflicts_to_inject = n;
    }

    /// Before each of the next `n` writes, another client changes the object
    /// (an annotation), so a write carrying the version read before is stale.
    pub fn race_next_writes(&self, n: u32) {
        self.shared.lock().unwrap().concurrent_writes = n;
    }

    /// The next `n` requests (of any kind) answer `code` (429, 500, …).
    pub fn fail_next(&self, code: u16, n: u32) {
        let mut s = self.shared.lock().unwrap();
        s.failures_to_inject
            .extend(std::iter::repeat_n(code, n as usize));
    }

    /// Runs a minimal Argo Rollouts controller reacting `delay` after each `/status` write.
    pub fn argo_controller(&self, delay: Duration) {
        self.shared.lock().unwrap().argo = Some(delay);
    }

    pub fn log(&self) -> Vec<Entry> {
        self.shared.lock().unwrap().log.clone()
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.log()
            .into_iter()
            .filter_map(|e| match e {
                Entry::Request(seen) => Some(seen),
                Entry::Controller(_) => None,
            })
            .collect()
    }

    /// The writes (PUT and PATCH) seen so far.
    pub fn writes(&self) -> Vec<Seen> {
        self.requests()
            .into_iter()
            .filter(|r| r.method != "GET")
            .collect()
    }
}

/// `/apis/{group}/{version}/namespaces/{ns}/{plural}/{name}` of an object.
pub fn object_path(object: &Value) -> String {
    let api_version = object["apiVersion"].as_str().expect("apiVersion");
    let plural = format!("{}s", object["kind"].as_str().expect("kind").to_lowercase());
    let ns = object["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default");
    let name = object["metadata"]["name"].as_str().expect("name");
    format!("/apis/{api_version}/namespaces/{ns}/{plural}/{name}")
}

/// The kinds served, and their subresources.
const SERVED: &[(&str, &str, &[&str])] = &[
    ("apps/v1", "deployments", &["scale"]),
    ("gateway.networking.k8s.io/v1", "httproutes", &[]),
    ("argoproj.io/v1alpha1", "rollouts", &["status"]),
];

/// What a path names.
pub(crate) struct Target {
    /// The collection, e.g. `/apis/apps/v1/namespaces/shop/deployments`.
    pub collection: String,
    pub plural: String,
    pub group: String,
    pub version: String,
    /// `None` for the collection itself (LIST/WATCH).
    pub name: Option<String>,
    pub sub: Option<String>,
}

impl Target {
    pub fn base(&self) -> String {
        format!("{}/{}", self.collection, self.name.as_deref().unwrap_or(""))
    }
}

fn parse(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ["apis", group, version, "namespaces", ns, plural, rest @ ..] = parts.as_slice() else {
        return None;
    };
    let gv = format!("{group}/{version}");
    let (_, _, subs) = SERVED.iter().find(|(g, p, _)| *g == gv && p == plural)?;
    let (name, sub) = match rest {
        [] => (None, None),
        [name] => (Some(name.to_string()), None),
        [name, s] if subs.contains(s) => (Some(name.to_string()), Some(s.to_string())),
        _ => return None,
    };
    Some(Target {
        collection: format!("/apis/{gv}/namespaces/{ns}/{plural}"),
        plural: plural.to_string(),
        group: group.to_string(),
        version: version.to_string(),
        name,
        sub,
    })
}

pub(crate) fn status(code: u16, reason: &str, message: String, details: Value) -> Response {
    let body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": details,
        "code": code,
    });
    (StatusCode::from_u16(code).unwrap(), Json(body)).into_response()
}

fn handle(
    shared: &State,
    token: &str,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or("").trim().to_string());
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let mut s = shared.lock().unwrap();
    s.log.push(Entry::Request(Seen {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or_default().to_string(),
        content_type: content_type.clone(),
        body: body.clone(),
    }));
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {token}")) {
        return status(401, "Unauthorized", "Unauthorized".into(), json!({}));
    }
    if let Some(code) = s.failures_to_inject.pop_front() {
        let reason = if code == 429 {
            "TooManyRequests"
        } else {
            "InternalError"
        };
        return status(code, reason, format!("injected failure {code}"), json!({}));
    }
    let Some(t) = parse(uri.path()) else {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
            json!({}),
        );
    };
    let query: HashMap<String, String> =
        form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    match (&method, &t.name) {
        (&Method::GET, None) if query.get("watch").map(String::as_str) == Some("true") => {
            drop(s);
            watch::watch(shared, &t, &query)
        }
        (&Method::GET, None) => watch::list(&s, &t, &query),
        (_, None) => status(
            405,
            "MethodNotAllowed",
            format!("{method} on a collection is not supported"),
            json!({}),
        ),
        _ => writes::object(shared, &mut s, &t, method, content_type.as_deref(), body),
    }
}
