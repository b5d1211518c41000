//! A fake Kubernetes API server on loopback, speaking the real REST wire format
//! for the objects the traffic adapters touch.
//!
//! Paths: `/apis/apps/v1/namespaces/{ns}/deployments/{name}[/scale]`,
//! `/apis/gateway.networking.k8s.io/v1/namespaces/{ns}/httproutes/{name}`,
//! `/apis/argoproj.io/v1alpha1/namespaces/{ns}/rollouts/{name}[/status]`.
//! GET, PUT (conditional on `metadata.resourceVersion`) and PATCH (merge,
//! strategic-merge treated as merge, and JSON patch). Every write bumps the
//! resourceVersion; a main-resource write keeps `status`, a `/status` write
//! keeps everything else, as the real server does for resources with a status
//! subresource. Errors are real `Status` objects: 401 without the bearer
//! token, 404 for unknown objects, 409 for a stale resourceVersion (or an
//! injected conflict), 415 for an unknown patch type, 422 for a failed `test`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use deploy_agent::traffic::kube_client::{KubeClient, KubeEndpoint};
use serde_json::{json, Value};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub content_type: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct Shared {
    objects: BTreeMap<String, Value>,
    resource_version: u64,
    conflicts_to_inject: u32,
    /// The Deployment controller stands still: a new spec is never rolled out.
    stalled: bool,
    requests: Vec<Seen>,
}

/// The running server.
pub struct FakeKube {
    pub addr: SocketAddr,
    pub token: String,
    shared: Arc<Mutex<Shared>>,
}

impl FakeKube {
    pub async fn start(token: &str) -> Self {
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = (shared.clone(), token.to_string());
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let state = state.clone();
                async move { handle(&state.0, &state.1, method, uri, headers, body) }
            },
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            token: token.to_string(),
            shared,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client with `token`, short timeout, no transport retries.
    pub fn client(&self, token: &str) -> KubeClient {
        let endpoint = KubeEndpoint {
            server: self.url(),
            token: Some(token.to_string()),
            ..KubeEndpoint::default()
        };
        KubeClient::new(endpoint, Duration::from_secs(2), 0).expect("client")
    }

    /// Stores an object (path from its apiVersion, kind and metadata).
    pub fn insert(&self, mut object: Value) -> String {
        let path = object_path(&object);
        let mut s = self.shared.lock().unwrap();
        s.resource_version += 1;
        object["metadata"]["resourceVersion"] = json!(s.resource_version.to_string());
        s.objects.insert(path.clone(), object);
        path
    }

    pub fn object(&self, path: &str) -> Value {
        self.shared.lock().unwrap().objects[path].clone()
    }

    /// Changes an object as a controller or another client would (bumps the resourceVersion).
    pub fn update(&self, path: &str, change: impl FnOnce(&mut Value)) {
        let mut s = self.shared.lock().unwrap();
        s.resource_version += 1;
        let rv = s.resource_version.to_string();
        let object = s.objects.get_mut(path).expect("object");
        change(object);
        object["metadata"]["resourceVersion"] = json!(rv);
    }

    /// From now on Deployments never finish rolling out a new spec (an image
    /// that cannot be pulled, say).
    pub fn stall_rollouts(&self) {
        self.shared.lock().unwrap().stalled = true;
    }

    /// The next `n` writes answer 409 Conflict.
    pub fn inject_conflicts(&self, n: u32) {
        self.shared.lock().unwrap().conflicts_to_inject = n;
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.shared.lock().unwrap().requests.clone()
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
    let prefix = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    format!("{prefix}/namespaces/{ns}/{plural}/{name}")
}

/// The kinds served, and their subresources.
const SERVED: &[(&str, &str, &[&str])] = &[
    ("apps/v1", "deployments", &["scale"]),
    ("gateway.networking.k8s.io/v1", "httproutes", &[]),
    ("argoproj.io/v1alpha1", "rollouts", &["status"]),
];

struct Target {
    base: String,
    plural: String,
    group: String,
    name: String,
    sub: Option<String>,
}

fn parse(path: &str) -> Option<Target> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let ["apis", group, version, "namespaces", ns, plural, name, rest @ ..] = parts.as_slice()
    else {
        return None;
    };
    let gv = format!("{group}/{version}");
    let (_, _, subs) = SERVED.iter().find(|(g, p, _)| *g == gv && p == plural)?;
    let sub = match rest {
        [] => None,
        [s] if subs.contains(s) => Some(s.to_string()),
        _ => return None,
    };
    Some(Target {
        base: format!("/apis/{gv}/namespaces/{ns}/{plural}/{name}"),
        plural: plural.to_string(),
        group: group.to_string(),
        name: name.to_string(),
        sub,
    })
}

fn status(code: u16, reason: &str, message: String, details: Value) -> Response {
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
    shared: &Mutex<Shared>,
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
    s.requests.push(Seen {
        method: method.to_string(),
        path: uri.path().to_string(),
        content_type: content_type.clone(),
        body: body.clone(),
    });
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {token}")) {
        return status(401, "Unauthorized", "Unauthorized".into(), json!({}));
    }
    let Some(t) = parse(uri.path()) else {
        return status(
            404,
            "NotFound",
            "the server could not find the requested resource".into(),
            json!({}),
        );
    };
    let resource = format!("{}.{}", t.plural, t.group);
    let details = json!({"name": t.name, "group": t.group, "kind": t.plural});
    let Some(current) = s.objects.get(&t.base).cloned() else {
        return status(
            404,
            "NotFound",
            format!("{resource} \"{}\" not found", t.name),
            details,
        );
    };
    let view = |object: &Value| match t.sub.as_deref() {
        Some("scale") => scale_view(object),
        _ => object.clone(),
    };
    if method == Method::GET {
        return Json(view(&current)).into_response();
    }
    if method != Method::PUT && method != Method::PATCH {
        return status(
            405,
            "MethodNotAllowed",
            format!("{method} is not supported"),
            details,
        );
    }
    let conflict = || {
        status(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {resource} \"{}\": the object has been modified; please apply your changes to the latest version and try again", t.name),
            details.clone(),
        )
    };
    if s.conflicts_to_inject > 0 {
        s.conflicts_to_inject -= 1;
        return conflict();
    }
    let mut edited = view(&current);
    if method == Method::PUT {
        let sent = body
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str);
        let have = current
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str);
        if sent.is_some() && sent != have {
            return conflict();
        }
        edited = body;
    } else {
        match content_type.as_deref() {
            Some("application/merge-patch+json" | "application/strategic-merge-patch+json") => {
                merge_patch(&mut edited, &body)
            }
            Some("application/json-patch+json") => {
                if let Err(e) = json_patch(&mut edited, &body) {
                    return status(422, "Invalid", e, details);
                }
            }
            other => {
                return status(415, "UnsupportedMediaType", format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml (got {other:?})"), details)
            }
        }
    }
    // Subresources write only their part; the main resource never writes status.
    let mut next = current.clone();
    match t.sub.as_deref() {
        Some("scale") => next["spec"]["replicas"] = edited["spec"]["replicas"].clone(),
        Some("status") => next["status"] = edited["status"].clone(),
        _ => {
            next = edited;
            match current.get("status") {
                Some(st) => next["status"] = st.clone(),
                None => {
                    if let Some(o) = next.as_object_mut() {
                        o.remove("status");
                    }
                }
            }
        }
    }
    if t.base.contains("/deployments/") {
        control_deployment(&current, &mut next, s.stalled);
    }
    s.resource_version += 1;
    next["metadata"]["resourceVersion"] = json!(s.resource_version.to_string());
    s.objects.insert(t.base.clone(), next.clone());
    Json(view(&next)).into_response()
}

/// What the Deployment controller and the API server do on a write: a new spec
/// bumps `metadata.generation`; unless stalled, the rollout completes at once
/// (every replica updated and available at the latest generation).
fn control_deployment(current: &Value, next: &mut Value, stalled: bool) {
    let generation = current
        .pointer("/metadata/generation")
        .and_then(Value::as_u64)
        .unwrap_or(1);
    let generation = generation + u64::from(current["spec"] != next["spec"]);
    next["metadata"]["generation"] = json!(generation);
    if stalled {
        return;
    }
    let replicas = next.pointer("/spec/replicas").cloned().unwrap_or(json!(1));
    next["status"] = json!({
        "observedGeneration": generation,
        "replicas": replicas,
        "updatedReplicas": replicas,
        "readyReplicas": replicas,
        "availableReplicas": replicas,
    });
}

fn scale_view(deployment: &Value) -> Value {
    let replicas = deployment
        .pointer("/spec/replicas")
        .cloned()
        .unwrap_or(json!(1));
    json!({
        "apiVersion": "autoscaling/v1",
        "kind": "Scale",
        "metadata": {
            "name": deployment["metadata"]["name"],
            "namespace": deployment["metadata"]["namespace"],
            "resourceVersion": deployment["metadata"]["resourceVersion"],
        },
        "spec": {"replicas": replicas},
        "status": {"replicas": replicas},
    })
}

/// RFC 7386.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(fields) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let object = target.as_object_mut().unwrap();
    for (k, v) in fields {
        if v.is_null() {
            object.remove(k);
        } else {
            merge_patch(object.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// RFC 6902: `test`, `add`, `replace`, `remove`.
pub fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    for op in ops.as_array().ok_or("a JSON patch is an array")? {
        let path = op["path"].as_str().ok_or("op without path")?;
        let value = op.get("value").cloned().unwrap_or(Value::Null);
        match op["op"].as_str() {
            Some("test") => {
                if target.pointer(path) != Some(&value) {
                    return Err(format!("the server rejected our request due to an error in our request: test failed at {path}"));
                }
            }
            Some("replace") => {
                *target
                    .pointer_mut(path)
                    .ok_or(format!("replace: no {path}"))? = value;
            }
            Some(kind @ ("add" | "remove")) => {
                let (parent, last) = path.rsplit_once('/').ok_or("bad path")?;
                let last = last.replace("~1", "/").replace("~0", "~");
                let parent = target
                    .pointer_mut(parent)
                    .ok_or(format!("{kind}: no {parent}"))?;
                match (parent, kind) {
                    (Value::Object(o), "add") => {
                        o.insert(last, value);
                    }
                    (Value::Object(o), _) => {
                        o.remove(&last).ok_or(format!("remove: no {path}"))?;
                    }
                    (Value::Array(a), "add") if last == "-" => a.push(value),
                    (Value::Array(a), k) => {
                        let i: usize = last.parse().map_err(|_| format!("bad index {last}"))?;
                        if k == "add" && i <= a.len() {
                            a.insert(i, value);
                        } else if i < a.len() {
                            a.remove(i);
                        } else {
                            return Err(format!("{kind}: index {i} out of range"));
                        }
                    }
                    _ => return Err(format!("{kind}: {path} is not in a container")),
                }
            }
            other => return Err(format!("unsupported op {other:?}")),
        }
    }
    Ok(())
}

// === fixtures ===

pub fn deployment(ns: &str, name: &str, image: &str, replicas: u32) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "checkout"}, "generation": 1},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "checkout", "track": name}},
            "template": {
                "metadata": {"labels": {"app": "checkout", "track": name}},
                "spec": {"containers": [
                    {"name": "sidecar", "image": "envoy:1.30"},
                    {"name": "app", "image": image, "ports": [{"containerPort": 8080}]},
                ]},
            },
        },
        "status": {
            "observedGeneration": 1,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        },
    })
}

pub fn httproute(ns: &str, name: &str, stable: (&str, u64), canary: (&str, u64)) -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "parentRefs": [{"name": "gw"}],
            "hostnames": ["checkout.example.com"],
            "rules": [
                {"matches": [{"path": {"type": "PathPrefix", "value": "/admin"}}],
                 "backendRefs": [{"name": "admin", "port": 80}]},
                {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}],
                 "backendRefs": [
                    {"name": stable.0, "port": 80, "weight": stable.1},
                    {"name": canary.0, "port": 80, "weight": canary.1},
                 ]},
            ],
        },
    })
}

/// A Rollout with steps setWeight 20, pause, setWeight 50, pause, paused at `step`.
pub fn rollout(ns: &str, name: &str, step: u64) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "namespace": ns},
        "spec": {
            "replicas": 4,
            "strategy": {"canary": {"steps": [
                {"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {}},
            ]}},
        },
        "status": {
            "currentStepIndex": step,
            "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}],
            "controllerPause": true,
        },
    })
}
