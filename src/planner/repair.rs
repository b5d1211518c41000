//! The repair turn: a call the parser refused (arguments that do not fit the
//! tool's schema, a tool that does not exist) goes back to the model with the
//! parse error, the JSON Schema it must match and an instruction to call again.
//!
//! Weak models (small local ones behind llama.cpp) often get the JSON of a call
//! wrong once and right when shown what was expected; the bare veto alone did
//! not show them. The loop's feedback is left as it is; the hand-over planner
//! rewrites it on its way to the model.

use serde_json::{json, Map, Value};

use super::Feedback;
use crate::tools::{definitions, Rule};

/// Whether this feedback is a veto of a malformed call (the parser's, not a
/// policy rule's): the loop answers a veto with `{"vetoed": true, "rule": …}`.
pub(super) fn is_malformed(feedback: &Feedback) -> bool {
    let c = &feedback.content;
    c["vetoed"] == true
        && [Rule::InvalidArguments, Rule::UnknownTool]
            .iter()
            .any(|r| c["rule"] == r.as_str())
}

/// The feedback as the model should see it: malformed calls carry their
/// schema and the instruction to call again; everything else is unchanged.
pub(super) fn repaired(feedback: &[Feedback]) -> Vec<Feedback> {
    feedback
        .iter()
        .map(|f| {
            if !is_malformed(f) {
                return f.clone();
            }
            Feedback {
                content: repair(f),
                ..f.clone()
            }
        })
        .collect()
}

fn repair(f: &Feedback) -> Value {
    let mut content = f.content.as_object().cloned().unwrap_or_default();
    let schema = definitions()
        .into_iter()
        .find(|d| d.name == f.tool)
        .map(|d| d.parameters);
    match schema {
        Some(schema) => {
            content.insert(
                "repair".into(),
                json!(format!(
                    "Your call to `{}` was not executed: its arguments could not be parsed. Call `{}` again now, with arguments that are one complete JSON object matching this JSON Schema exactly (all strings closed, no extra fields).",
                    f.tool, f.tool
                )),
            );
            content.insert("schema".into(), schema);
        }
        None => {
            let tools: Map<String, Value> = definitions()
                .into_iter()
                .map(|d| (d.name.to_string(), d.parameters))
                .collect();
            content.insert(
                "repair".into(),
                json!("That tool does not exist and nothing was executed. Call one of these tools now, with arguments that are one JSON object matching its JSON Schema."),
            );
            content.insert("tools".into(), Value::Object(tools));
        }
    }
    Value::Object(content)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn veto(tool: &str, rule: Rule) -> Feedback {
        Feedback {
            call_id: "c1".into(),
            tool: tool.into(),
            content: json!({"vetoed": true, "rule": rule.as_str(), "reason": "EOF while parsing a string"}),
        }
    }

    #[test]
    fn malformed_calls_get_their_schema_and_others_are_untouched() {
        let policy = veto("set_canary_weight", Rule::MaxStep);
        let out = repaired(&[
            veto("set_canary_weight", Rule::InvalidArguments),
            policy.clone(),
            veto("launch_rockets", Rule::UnknownTool),
        ]);
        let bad = &out[0].content;
        assert_eq!(bad["reason"], "EOF while parsing a string");
        assert_eq!(bad["schema"]["properties"]["weight"]["maximum"], 100);
        assert!(bad["repair"]
            .as_str()
            .unwrap()
            .contains("Call `set_canary_weight` again"));
        assert_eq!(out[1], policy, "a policy veto is the model's to re-plan");
        let unknown = &out[2].content;
        assert!(unknown["tools"]["promote"]["properties"]["reason"].is_object());
        assert!(is_malformed(&out[0]) && !is_malformed(&out[1]) && is_malformed(&out[2]));
    }
}
