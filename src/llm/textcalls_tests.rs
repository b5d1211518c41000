use serde_json::json;

use super::*;

const KNOWN: [&str; 7] = [
    "get_diff",
    "assess_risk",
    "set_canary_weight",
    "query_metrics",
    "rollback",
    "request_approval",
    "promote",
];

/// `text` → the (name, arguments) calls it holds.
fn check(text: &str, want: &[(&str, serde_json::Value)]) {
    let got: Vec<(String, serde_json::Value)> = parse(text, &KNOWN)
        .into_iter()
        .map(|c| (c.name, c.arguments))
        .collect();
    let want: Vec<(String, serde_json::Value)> = want
        .iter()
        .map(|(n, a)| (n.to_string(), a.clone()))
        .collect();
    assert_eq!(got, want, "parsing {text:?}");
}

#[test]
fn calls_written_as_text_are_found() {
    let w5 = json!({"weight": 5});
    let cases: Vec<(&str, Vec<(&str, serde_json::Value)>)> = vec![
        (r#"{"name": "set_canary_weight", "arguments": {"weight": 5}}"#, vec![("set_canary_weight", w5.clone())]),
        (r#"{"name": "set_canary_weight", "parameters": {"weight": 5}}"#, vec![("set_canary_weight", w5.clone())]),
        (r#"{"tool": "set_canary_weight", "parameters": {"weight": 5}}"#, vec![("set_canary_weight", w5.clone())]),
        (r#"{"function": "set_canary_weight", "args": {"weight": 5}}"#, vec![("set_canary_weight", w5.clone())]),
        (r#"{"name": "set_canary_weight", "arguments": "{\"weight\": 5}"}"#, vec![("set_canary_weight", w5.clone())]),
        (r#"{"type": "function", "function": {"name": "set_canary_weight", "arguments": "{\"weight\": 5}"}}"#, vec![("set_canary_weight", w5.clone())]),
        ("<tool_call>\n{\"name\": \"set_canary_weight\", \"arguments\": {\"weight\": 5}}\n</tool_call>", vec![("set_canary_weight", w5.clone())]),
        ("I'll start small.\n```json\n{\"name\": \"set_canary_weight\", \"arguments\": {\"weight\": 5}}\n```", vec![("set_canary_weight", w5.clone())]),
        ("```\n{\"tool\": \"query_metrics\", \"parameters\": {}}\n```", vec![("query_metrics", json!({}))]),
        ("set_canary_weight({\"weight\": 5})", vec![("set_canary_weight", w5.clone())]),
        ("Next: set_canary_weight( {\"weight\": 5, \"reason\": \"start\"} ) then wait.", vec![("set_canary_weight", json!({"weight": 5, "reason": "start"}))]),
        ("query_metrics()", vec![("query_metrics", json!({}))]),
        (r#"{"name": "query_metrics"}"#, vec![("query_metrics", json!({}))]),
        (r#"{"name": "rollback", "arguments": ""}"#, vec![("rollback", json!({}))]),
        (r#"[{"name": "assess_risk", "arguments": {}}, {"name": "query_metrics", "arguments": {}}]"#, vec![("assess_risk", json!({})), ("query_metrics", json!({}))]),
        (r#"{"tool_calls": [{"name": "rollback", "arguments": {"reason": "errors"}}]}"#, vec![("rollback", json!({"reason": "errors"}))]),
        ("<tool_call>{\"name\": \"assess_risk\", \"arguments\": {}}</tool_call>\n<tool_call>{\"name\": \"get_diff\", \"arguments\": {\"max_bytes\": 2000}}</tool_call>", vec![("assess_risk", json!({})), ("get_diff", json!({"max_bytes": 2000}))]),
        // Arguments that contain JSON-looking text are not scanned again.
        (r#"{"name": "request_approval", "arguments": {"summary": "{\"name\": \"rollback\"}"}}"#, vec![("request_approval", json!({"summary": "{\"name\": \"rollback\"}"}))]),
    ];
    for (text, want) in cases {
        check(text, &want);
    }
}

#[test]
fn text_that_is_not_a_call_to_our_tools_is_not_parsed() {
    let cases = [
        "",
        "I will call set_canary_weight next, after the bake.",
        "The canary looks healthy; promote when ready.",
        r#"{"weight": 5}"#,
        r#"{"name": "delete_cluster", "arguments": {}}"#,
        r#"{"name": "set_canary_weight", "arguments": 5}"#,
        r#"{"name": "set_canary_weight", "arguments": "weight=5"}"#,
        r#"{"name": "set_canary_weight", "arguments": [5]}"#,
        r#"{"name": 7, "arguments": {}}"#,
        r#"{"name": "set_canary_weight", "weight": 5}"#,
        "<tool_call>{\"name\": \"rollback\", \"arguments\": {",
        "```json\n{\"name\": \"set_canary_weight\", \"arguments\": {\"weight\": }\n```",
        "set_canary_weight(5)",
        "set_canary_weight(weight=5)",
        "set_canary_weight({\"weight\": 5}",
        "my_set_canary_weight({\"weight\": 5})",
        "client.rollback({})",
        "{{not json}}",
    ];
    for text in cases {
        check(text, &[]);
    }
}
