//! The Block Kit bodies the approver posts: the request with its buttons, the
//! same message with the votes so far (buttons kept), and the outcome.

use serde_json::{json, Value};

use super::{button_value, APPROVE_ACTION, REJECT_ACTION};
use crate::approval::{ApprovalAnswer, ApprovalRequest};
use crate::journal::wall_now;

/// The chat.postMessage body: the change and two buttons.
pub fn request_message(channel: &str, request: &ApprovalRequest, nonce: &str) -> Value {
    let value = button_value(&request.rollout_id, &request.key(), nonce);
    let reasons: String = request.reasons.iter().map(|r| format!("\n• {r}")).collect();
    let text = format!(
        "*{}* at `{}`\nRisk score {:.2}, level *{}*{reasons}\n{}",
        request.question(),
        request.rev,
        request.risk_score,
        request.level.as_str(),
        request.summary
    );
    json!({
        "channel": channel,
        "text": format!("{} at {}", request.question(), request.rev),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "actions", "block_id": "approval", "elements": [
                {"type": "button", "action_id": APPROVE_ACTION, "style": "primary",
                 "text": {"type": "plain_text", "text": "Approve"}, "value": value},
                {"type": "button", "action_id": REJECT_ACTION, "style": "danger",
                 "text": {"type": "plain_text", "text": "Reject"}, "value": value,
                 "confirm": {
                     "title": {"type": "plain_text", "text": "Reject this rollout?"},
                     "text": {"type": "mrkdwn", "text": format!("The rollout of {} stops.", request.service)},
                     "confirm": {"type": "plain_text", "text": "Reject"},
                     "deny": {"type": "plain_text", "text": "Cancel"}
                 }}
            ]}
        ]
    })
}

/// The chat.update body: the outcome, no buttons.
/// `by` names who decided (both approvers when two were needed).
pub fn decided_message(
    channel: &str,
    ts: &str,
    request: &ApprovalRequest,
    answer: &ApprovalAnswer,
    by: &str,
) -> Value {
    let verb = if answer.approved {
        "Approved"
    } else {
        "Rejected"
    };
    let when = crate::journal::timeline::utc(wall_now());
    let text = format!(
        "*{verb}*: {} at `{}` by {by} at {when}\n{}",
        request.service, request.rev, answer.reason
    );
    json!({
        "channel": channel,
        "ts": ts,
        "text": format!("{verb}: {} at {} by {by}", request.service, request.rev),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    })
}

/// The chat.update body while a request that needs several approvers waits:
/// the request and its buttons as posted (someone else must still click), with
/// a line saying who approved so far, e.g. "1 of 2 approvals: approved by
/// <@U1>, waiting for another approver".
pub fn progress_message(
    channel: &str,
    ts: &str,
    request: &ApprovalRequest,
    nonce: &str,
    approvers: &[String],
    required: u32,
) -> Value {
    let names: Vec<String> = approvers.iter().map(|a| mention(a)).collect();
    let line = format!(
        "{} of {required} approvals: approved by {}, waiting for another approver",
        approvers.len(),
        names.join(" and ")
    );
    let mut body = request_message(channel, request, nonce);
    body["ts"] = json!(ts);
    if let Some(blocks) = body["blocks"].as_array_mut() {
        blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": line}]}));
    }
    body
}

/// `slack:U1` (a click) as a Slack mention `<@U1>`; other names (the CLI's
/// `--by`) as they are.
fn mention(by: &str) -> String {
    match by.strip_prefix("slack:") {
        Some(user) => format!("<@{user}>"),
        None => by.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Level;

    #[test]
    fn progress_keeps_the_buttons_and_names_the_approvers() {
        let request = ApprovalRequest {
            rollout_id: "r1".into(),
            service: "checkout".into(),
            rev: "abc".into(),
            risk_score: 0.9,
            level: Level::Critical,
            reasons: vec![],
            summary: String::new(),
            timeout_seconds: 60,
            required_approvals: 2,
            go_on_at: None,
        };
        let body = progress_message("C1", "1.2", &request, "n0", &["slack:U1".into()], 2);
        assert_eq!(body["ts"], "1.2");
        assert_eq!(body["blocks"][1]["elements"][0]["value"], "r1:abc:n0");
        assert_eq!(
            body["blocks"][2]["elements"][0]["text"],
            "1 of 2 approvals: approved by <@U1>, waiting for another approver"
        );
        let cli = progress_message("C1", "1.2", &request, "n0", &["alice".into()], 3);
        assert!(cli
            .to_string()
            .contains("1 of 3 approvals: approved by alice"));
    }
}
