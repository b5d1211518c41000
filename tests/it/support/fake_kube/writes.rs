//! GET, PUT and PATCH of one object (and its `/scale` or `/status`).

use axum::http::Method;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::{controllers, status, Shared, State, Target};

pub(crate) fn object(
    shared: &State,
    s: &mut Shared,
    t: &Target,
    method: Method,
    content_type: Option<&str>,
    body: Value,
) -> Response {
    let name = t.name.clone().unwrap_or_default();
    let base = t.base();
    let resource = format!("{}.{}", t.plural, t.group);
    let details = json!({"name": name, "group": t.group, "kind": t.plural});
    if method != Method::GET && s.concurrent_writes > 0 {
        // Another client writes the object just before this request lands.
        s.concurrent_writes -= 1;
        if let Some(mut other) = s.objects.get(&base).cloned() {
            other["metadata"]["annotations"]["other-writer"] = json!("was here");
            s.commit(&base, other, "MODIFIED");
        }
    }
    let Some(current) = s.objects.get(&base).cloned() else {
        return status(
            404,
            "NotFound",
            format!("{resource} \"{name}\" not found"),
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
            format!("Operation cannot be fulfilled on {resource} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"),
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
        match content_type {
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
    if t.plural == "deployments" {
        controllers::deployment_written(shared, s, &name, &current, &mut next);
    }
    let saved = s.commit(&base, next, "MODIFIED");
    if t.plural == "rollouts" && t.sub.as_deref() == Some("status") {
        controllers::rollout_status_written(shared, s, &base);
    }
    Json(view(&saved)).into_response()
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
        "status": {"replicas": deployment.pointer("/status/replicas").cloned().unwrap_or(json!(0))},
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
