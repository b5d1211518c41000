//! LIST and WATCH of a collection, as kube's `watcher` uses them: a LIST by
//! `fieldSelector=metadata.name=NAME` whose `metadata.resourceVersion` the
//! WATCH then starts from. The watch replays stored changes after that
//! version (as the API server's watch cache does) and then streams live ones,
//! one JSON event per line, until `timeoutSeconds`.

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::broadcast::error::RecvError;

use super::{status, Change, Shared, State, Target};

/// The object name a `fieldSelector=metadata.name=NAME` asks for.
fn selected(query: &HashMap<String, String>) -> Option<String> {
    query
        .get("fieldSelector")
        .and_then(|f| f.strip_prefix("metadata.name="))
        .map(str::to_string)
}

fn kind_of(t: &Target) -> String {
    match t.plural.as_str() {
        "deployments" => "Deployment".into(),
        "httproutes" => "HTTPRoute".into(),
        _ => "Rollout".into(),
    }
}

fn matches(t: &Target, name: &Option<String>, path: &str) -> bool {
    let Some(rest) = path.strip_prefix(&format!("{}/", t.collection)) else {
        return false;
    };
    !rest.contains('/') && name.as_deref().is_none_or(|n| n == rest)
}

pub(crate) fn list(s: &Shared, t: &Target, query: &HashMap<String, String>) -> Response {
    let name = selected(query);
    // As the real server does, list items carry no apiVersion/kind.
    let items: Vec<Value> = s
        .objects
        .iter()
        .filter(|(path, _)| matches(t, &name, path))
        .map(|(_, o)| {
            let mut o = o.clone();
            if let Some(map) = o.as_object_mut() {
                map.remove("apiVersion");
                map.remove("kind");
            }
            o
        })
        .collect();
    Json(json!({
        "apiVersion": format!("{}/{}", t.group, t.version),
        "kind": format!("{}List", kind_of(t)),
        "metadata": {"resourceVersion": s.resource_version.to_string()},
        "items": items,
    }))
    .into_response()
}

pub(crate) fn watch(shared: &State, t: &Target, query: &HashMap<String, String>) -> Response {
    let name = selected(query);
    let Some(from) = query
        .get("resourceVersion")
        .and_then(|v| v.parse::<u64>().ok())
    else {
        return status(
            400,
            "BadRequest",
            "this fake needs a resourceVersion to watch from".into(),
            json!({}),
        );
    };
    let timeout = query
        .get("timeoutSeconds")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(290);
    // Subscribe and read the backlog under one lock: no change falls in between.
    let (backlog, rx) = {
        let s = shared.lock().unwrap();
        let backlog: Vec<Change> = s
            .changes
            .iter()
            .filter(|c| c.rv > from && matches(t, &name, &c.path))
            .cloned()
            .collect();
        (backlog, s.tx.subscribe())
    };
    let last = backlog.last().map_or(from, |c| c.rv);
    let live = futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(change) => return Some((change, rx)),
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => return None,
            }
        }
    });
    let (collection, plural) = (t.collection.clone(), t.plural.clone());
    let target = Target {
        collection,
        plural,
        group: t.group.clone(),
        version: t.version.clone(),
        name: None,
        sub: None,
    };
    let live = live.filter(move |c| {
        let keep = c.rv > last && matches(&target, &name, &c.path);
        async move { keep }
    });
    let events = futures::stream::iter(backlog)
        .chain(live)
        .map(|c| {
            let mut line = serde_json::to_vec(&json!({"type": c.kind, "object": c.object}))
                .unwrap_or_default();
            line.push(b'\n');
            Ok::<Bytes, Infallible>(Bytes::from(line))
        })
        .take_until(tokio::time::sleep(Duration::from_secs(timeout)));
    (
        [(CONTENT_TYPE, "application/json")],
        Body::from_stream(events),
    )
        .into_response()
}
