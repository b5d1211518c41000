//! Tool calls written as text. Models without native function calling (base
//! models, many GGUF chat templates, Hermes/Qwen-style templates the server
//! does not translate) answer with the call in their content instead of
//! `tool_calls`. This turns such text into calls — only for tools we defined,
//! only with a JSON object for arguments — so the guard sees a real proposal;
//! prose that merely mentions a tool is not a call.
//!
//! Recognised, anywhere in the text (in a `<tool_call>` tag, a code fence or bare):
//! `{"name": N, "arguments"|"parameters"|"args": {…} or "{…}"}`,
//! `{"tool"|"function": N, …}`, OpenAI's own `{"function": {"name": N, "arguments": "…"}}`,
//! `{"tool_calls": [ … ]}`, and `N({…})` / `N()`.

use serde_json::{Deserializer, Map, Value};

/// A call found in text: a known tool's name and its arguments object.
#[derive(Debug, Clone, PartialEq)]
pub struct TextCall {
    pub name: String,
    pub arguments: Value,
}

/// Every call in `content`, in the order written, for tools named in `known`.
pub fn parse(content: &str, known: &[&str]) -> Vec<TextCall> {
    let mut found: Vec<(usize, TextCall)> = json_calls(content, known);
    found.extend(function_syntax(content, known));
    found.sort_by_key(|(at, _)| *at);
    found.into_iter().map(|(_, call)| call).collect()
}

/// Calls written as JSON values, with their byte offsets.
fn json_calls(content: &str, known: &[&str]) -> Vec<(usize, TextCall)> {
    let mut out = vec![];
    let mut at = 0;
    while let Some(rel) = content[at..].find(['{', '[']) {
        let start = at + rel;
        let mut values = Deserializer::from_str(&content[start..]).into_iter::<Value>();
        match values.next() {
            Some(Ok(value)) => {
                let calls = interpret(&value, known);
                if calls.is_empty() {
                    at = start + 1;
                } else {
                    out.extend(calls.into_iter().map(|c| (start, c)));
                    at = start + values.byte_offset();
                }
            }
            _ => at = start + 1,
        }
    }
    out
}

/// The calls a JSON value stands for (none when it is not a call to a known tool).
fn interpret(value: &Value, known: &[&str]) -> Vec<TextCall> {
    match value {
        Value::Array(items) => {
            let calls: Vec<Vec<TextCall>> = items.iter().map(|v| interpret(v, known)).collect();
            // A list is a list of calls only if every item is one.
            if calls.iter().all(|c| c.len() == 1) {
                calls.into_iter().flatten().collect()
            } else {
                vec![]
            }
        }
        Value::Object(o) => {
            if let Some(Value::Array(list)) = o.get("tool_calls") {
                return interpret(&Value::Array(list.clone()), known);
            }
            one_call(o, known).into_iter().collect()
        }
        _ => vec![],
    }
}

fn one_call(o: &Map<String, Value>, known: &[&str]) -> Option<TextCall> {
    // OpenAI's own shape: {"type": "function", "function": {"name": …, "arguments": …}}.
    if let Some(Value::Object(inner)) = o.get("function") {
        return one_call(inner, known);
    }
    let name = ["name", "tool", "function", "tool_name"]
        .iter()
        .find_map(|k| o.get(*k).and_then(Value::as_str))?;
    if !known.contains(&name) {
        return None;
    }
    let args = ["arguments", "parameters", "args", "input"]
        .iter()
        .find_map(|k| o.get(*k));
    let arguments = match args {
        None => {
            // `{"name": "query_metrics"}`: a call with no arguments, but only
            // when nothing else in the object could have been them.
            let extra = o
                .keys()
                .any(|k| !matches!(k.as_str(), "name" | "tool" | "tool_name" | "type" | "id"));
            if extra {
                return None;
            }
            Value::Object(Map::new())
        }
        Some(Value::Object(a)) => Value::Object(a.clone()),
        Some(Value::String(s)) if s.trim().is_empty() => Value::Object(Map::new()),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(a)) => Value::Object(a),
            _ => return None,
        },
        Some(_) => return None,
    };
    Some(TextCall {
        name: name.to_string(),
        arguments,
    })
}

/// `name({...})` and `name()`, for known names only.
fn function_syntax(content: &str, known: &[&str]) -> Vec<(usize, TextCall)> {
    let mut out = vec![];
    for name in known {
        let pattern = format!("{name}(");
        let mut from = 0;
        while let Some(rel) = content[from..].find(&pattern) {
            let start = from + rel;
            from = start + pattern.len();
            let before = content[..start].chars().next_back();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
                continue;
            }
            let rest = content[from..].trim_start();
            let arguments = if rest.starts_with(')') {
                Value::Object(Map::new())
            } else {
                let mut values = Deserializer::from_str(rest).into_iter::<Value>();
                match values.next() {
                    Some(Ok(Value::Object(a)))
                        if rest[values.byte_offset()..].trim_start().starts_with(')') =>
                    {
                        Value::Object(a)
                    }
                    _ => continue,
                }
            };
            out.push((
                start,
                TextCall {
                    name: name.to_string(),
                    arguments,
                },
            ));
        }
    }
    out
}

#[cfg(test)]
#[path = "textcalls_tests.rs"]
mod tests;
