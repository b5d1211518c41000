//! The Block Kit bodies the approver posts: the request with its buttons, the
//! same message with the votes so far (buttons kept), and the outcome.
//!
//! Every text that is not ours — the planner's summary, the reasons (commit
//! subjects, paths), a `--reason`, the rollout's end reason, names — goes
//! through [`escape`] first: in mrkdwn, `<https://evil|click>` is a link and
//! `<!channel>` pings everyone, and a model's output must not do either.

use serde_json::{json, Value};

use super::{button_value, APPROVE_ACTION, REJECT_ACTION};
use crate::approval::{ApprovalAnswer, ApprovalRequest};
use crate::journal::wall_now;
use crate::narrate::{By, Narrative};
use crate::rollout::state::Outcome;

/// The chat.postMessage body: the change and two buttons.
pub fn request_message(channel: &str, request: &ApprovalRequest, nonce: &str) -> Value {
    let value = button_value(&request.rollout_id, &request.key(), nonce);
    let reasons: String = (request.reasons.iter())
        .map(|r| format!("\n• {}", escape(r)))
        .collect();
    let (question, rev) = (escape(&request.question()), escape(&request.rev));
    let text = format!(
        "*{question}* at `{rev}`\nRisk score {:.2}, level *{}*{reasons}\n{}",
        request.risk_score,
        request.level.as_str(),
        escape(&request.summary)
    );
    json!({
        "channel": channel,
        "text": format!("{question} at {rev}"),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "actions", "block_id": "approval", "elements": [
                {"type": "button", "action_id": APPROVE_ACTION, "style": "primary",
                 "text": {"type": "plain_text", "text": "Approve"}, "value": value},
                {"type": "button", "action_id": REJECT_ACTION, "style": "danger",
                 "text": {"type": "plain_text", "text": "Reject"}, "value": value,
                 "confirm": {
                     "title": {"type": "plain_text", "text": "Reject this rollout?"},
                     "text": {"type": "mrkdwn", "text": format!("The rollout of {} stops.", escape(&request.service))},
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
    let (service, rev, by) = (escape(&request.service), escape(&request.rev), escape(by));
    let text = format!(
        "*{verb}*: {service} at `{rev}` by {by} at {when}\n{}",
        escape(&answer.reason)
    );
    json!({
        "channel": channel,
        "ts": ts,
        "text": format!("{verb}: {service} at {rev} by {by}"),
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

/// How a rollout ended, for the last update of its approval message.
pub struct Ended<'a> {
    pub outcome: Outcome,
    pub reason: &'a str,
    /// Why it was rolled back: the model's words (grounded in the numbers) or the template's.
    pub explanation: Option<&'a Narrative>,
}

/// The chat.update body when the rollout ends: the approval's outcome
/// (`decided`, already built), how the rollout ended and, after a rollback,
/// why — the model's words marked as such, below Rust's reason, escaped.
pub fn ended_message(channel: &str, ts: &str, decided: &str, ended: &Ended) -> Value {
    let when = crate::journal::timeline::utc(wall_now());
    let outcome = ended.outcome.as_str().replace('_', " ");
    let mut text = format!(
        "{decided}\n*Rollout {outcome}* at {when}: {}",
        escape(ended.reason)
    );
    if let Some(n) = ended.explanation {
        let by = match n.by {
            By::Model => "written by the model, checked against the numbers",
            By::Template => "deterministic",
        };
        text.push_str(&format!("\n*Why* ({by}): {}", escape(&n.text)));
        if let Some(why) = &n.withheld {
            text.push_str(&format!("\n_{}_", escape(why)));
        }
    }
    json!({
        "channel": channel,
        "ts": ts,
        "text": format!("Rollout {outcome}"),
        "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": text}}]
    })
}

/// `slack:U1` (a click) as a Slack mention `<@U1>` (only when the id is
/// `U`/`W` and upper-case letters or digits, so nothing else can be formed);
/// other voters (people, `os:LOGIN`) escaped, as text.
fn mention(by: &str) -> String {
    let id = |u: &str| {
        u.len() > 1
            && u.starts_with(['U', 'W'])
            && u.chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
    };
    match by.strip_prefix("slack:") {
        Some(user) if id(user) => format!("<@{user}>"),
        _ => escape(by),
    }
}

/// Text shown literally in mrkdwn: `&`, `<` and `>` as Slack's entities (the
/// three characters Slack asks to escape), so no link, mention or
/// `<!channel>` can be formed by what goes in.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
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

    #[test]
    fn model_text_shows_literally_in_mrkdwn() {
        let evil = "<https://evil.example|click> <!channel> <@U0BOSS> & co";
        let literal =
            "&lt;https://evil.example|click&gt; &lt;!channel&gt; &lt;@U0BOSS&gt; &amp; co";
        assert_eq!(escape(evil), literal);
        assert_eq!(escape("plain *bold* text"), "plain *bold* text");
        let request = ApprovalRequest {
            rollout_id: "r1".into(),
            service: "checkout".into(),
            rev: "abc".into(),
            risk_score: 0.9,
            level: Level::Critical,
            reasons: vec![format!("commit says {evil}")],
            summary: evil.into(),
            timeout_seconds: 60,
            required_approvals: 2,
            go_on_at: None,
        };
        let posted = request_message("C1", &request, "n0");
        let text = posted["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(text.contains(&format!("• commit says {literal}")), "{text}");
        assert!(text.ends_with(&format!("\n{literal}")), "{text}");
        assert!(!text.contains('<') && !text.contains('>'), "{text}");
        let answer = ApprovalAnswer {
            approved: false,
            by: Some("alice".into()),
            reason: evil.into(),
        };
        let decided = decided_message("C1", "1.2", &request, &answer, "<!here>");
        let text = decided["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(
            text.contains("by &lt;!here&gt;") && text.ends_with(literal),
            "{text}"
        );
        // A rollback's explanation is escaped too, whoever wrote it.
        let narrative = Narrative {
            text: evil.into(),
            by: By::Model,
            withheld: Some(evil.into()),
        };
        let ended = Ended {
            outcome: Outcome::RolledBack,
            reason: evil,
            explanation: Some(&narrative),
        };
        let body = ended_message("C1", "1.2", "*Approved*", &ended);
        let text = body["blocks"][0]["text"]["text"].as_str().unwrap();
        assert!(
            text.contains(&format!(
                "*Why* (written by the model, checked against the numbers): {literal}"
            )) && !text.contains('<')
                && !text.contains('>'),
            "{text}"
        );
        // A real Slack voter is still a mention; anything else is text.
        let voters = ["slack:U0ALICE".to_string(), "slack:<!channel>".into()];
        let progress = progress_message("C1", "1.2", &request, "n0", &voters, 3);
        let line = progress["blocks"][2]["elements"][0]["text"]
            .as_str()
            .unwrap();
        assert!(
            line.contains("<@U0ALICE> and slack:&lt;!channel&gt;"),
            "{line}"
        );
    }
}
