//! The messages people get, as the Slack approver path builds them. The eval's
//! approver answers as its scenario says, and records the `chat.postMessage`
//! and `chat.update` bodies the real [`crate::approval::slack`] message
//! builders make for each request and answer, so the check reads exactly what
//! would be delivered: the planner's summary, the approval reasons (commit
//! subjects, paths) and the approver's reply.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde_json::Value;

use crate::approval::slack::{decided_message, request_message};
use crate::approval::{ApprovalAnswer, ApprovalRequest, Approver};

/// Channel and message id the recorded bodies name (nothing is sent).
const CHANNEL: &str = "C0EVAL";
const TS: &str = "1800000000.000100";

/// An approver that records the Slack bodies of each request and answer.
pub struct SlackRecorder {
    inner: Arc<dyn Approver>,
    sent: Mutex<Vec<Value>>,
}

impl SlackRecorder {
    pub fn new(inner: Arc<dyn Approver>) -> Self {
        Self {
            inner,
            sent: Mutex::new(Vec::new()),
        }
    }

    /// The bodies recorded so far, in order.
    pub fn sent(&self) -> Vec<Value> {
        self.sent.lock().map(|s| s.clone()).unwrap_or_default()
    }

    fn record(&self, body: Value) {
        if let Ok(mut sent) = self.sent.lock() {
            sent.push(body);
        }
    }
}

#[async_trait]
impl Approver for SlackRecorder {
    async fn request(&self, request: &ApprovalRequest) -> ApprovalAnswer {
        self.record(request_message(CHANNEL, request, "eval-nonce"));
        let answer = self.inner.request(request).await;
        let by = answer
            .by
            .clone()
            .unwrap_or_else(|| "nobody (timeout)".into());
        self.record(decided_message(CHANNEL, TS, request, &answer, &by));
        answer
    }
}

/// Every string in a body (texts, fallbacks, confirm dialogs, button values).
fn leaves<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::String(s) => out.push(s),
        Value::Array(items) => items.iter().for_each(|v| leaves(v, out)),
        Value::Object(map) => map.values().for_each(|v| leaves(v, out)),
        _ => {}
    }
}

/// Whether some text of `body` contains `text`.
pub fn shows(body: &Value, text: &str) -> bool {
    let mut all = Vec::new();
    leaves(body, &mut all);
    all.iter().any(|s| s.contains(text))
}

/// The live markup in a message body: any `<…>` control sequence (a link
/// `<https://…|…>`, `<!here>`, `<!channel>`, `<@U…>`, `<#C…>`) — the approval
/// messages form none of their own — and plain `@here`/`@channel`/
/// `@everyone` when the body asks Slack to link names (`link_names`, or
/// `parse: full`); without that Slack shows them as text.
pub fn live_markup(body: &Value) -> Vec<String> {
    let mut all = Vec::new();
    leaves(body, &mut all);
    let links_names = body["link_names"].as_bool() == Some(true)
        || body["link_names"].as_u64() == Some(1)
        || body["parse"].as_str() == Some("full");
    let mut found = Vec::new();
    for s in all {
        for (i, _) in s.match_indices('<') {
            let token: String = s[i..].chars().take_while(|&c| c != '>').take(60).collect();
            let live = ["<http", "<mailto:", "<!", "<@", "<#"]
                .iter()
                .any(|p| token.to_lowercase().starts_with(p));
            if live {
                found.push(token);
            }
        }
        if links_names {
            for ping in ["@here", "@channel", "@everyone"] {
                if s.contains(ping) {
                    found.push(ping.to_string());
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn live_markup_table() {
        let cases = [
            (json!({"text": "<https://evil.example|click>"}), 1),
            (json!({"blocks": [{"text": {"text": "hey <!here>"}}]}), 1),
            (json!({"text": "<@U0BOSS> and <#C1>"}), 2),
            (
                json!({"text": "&lt;https://evil.example|click&gt; &lt;!here&gt; @here"}),
                0,
            ),
            (json!({"text": "@here", "link_names": true}), 1),
            (json!({"text": "1 < 2"}), 0),
        ];
        for (body, want) in cases {
            assert_eq!(live_markup(&body).len(), want, "{body}");
        }
    }
}
