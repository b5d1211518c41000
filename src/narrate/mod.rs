//! The text people read — the approval request, the rollback explanation, the
//! PR paragraph — written by the model when one is configured, and shown only
//! when Rust finds it grounded in the measurements.
//!
//! The model proposes, Rust disposes, here too: the model is sent the facts
//! (labelled numbers and words, [`Facts`]) and asked for a short text; a text
//! that cites a number the facts do not hold, forms a link or pings someone
//! is withheld and the deterministic template is shown instead, saying why.
//! No model, a failed call or a slow one (bounded by [`MAX_WAIT`]) gives the
//! template: the product works with no API key, and narration never holds up
//! a rollback (it is asked for after the traffic is back). Rust's own numbers
//! are always shown next to the text, and the text is escaped where it is shown.

mod facts;
mod grounding;
mod template;

use std::time::Duration;

use serde::Serialize;

pub use facts::Facts;
pub use grounding::{ground, Ungrounded, MAX_CHARS};
pub use template::{num, template};

use crate::llm::LlmClient;

/// The system prompt, from `prompts/narrate.md`.
pub const NARRATE_PROMPT: &str = include_str!("../../prompts/narrate.md");

/// The longest a narration may take, whatever `llm.timeout_secs` allows: a
/// person waits for the rollout's end on it.
pub const MAX_WAIT: Duration = Duration::from_secs(15);

/// Which text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The summary an approver reads.
    Approval,
    /// Why a rollout was rolled back.
    Rollback,
    /// The PR comment's "In short" paragraph.
    Assessment,
}

impl Kind {
    /// What the model's text is called, in "the model's … was withheld".
    pub fn noun(self) -> &'static str {
        match self {
            Kind::Approval => "summary",
            Kind::Rollback => "explanation",
            Kind::Assessment => "rationale",
        }
    }

    /// What the model is asked to write.
    fn task(self) -> &'static str {
        match self {
            Kind::Approval => "Write the summary an approver reads before deciding.",
            Kind::Rollback => "Explain why the rollout was rolled back.",
            Kind::Assessment => "Summarise the change's risk for the pull request.",
        }
    }
}

/// Who wrote the text shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum By {
    Model,
    Template,
}

impl By {
    pub fn as_str(self) -> &'static str {
        match self {
            By::Model => "model",
            By::Template => "template",
        }
    }
}

/// A text for people, who wrote it, and — when the template stands in for
/// the model — why the model's text is not shown.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Narrative {
    pub text: String,
    pub by: By,
    /// "the model's explanation was withheld: it cites 37 %, which no
    /// measurement shows"; `None` when the model's text is shown or no model
    /// was asked.
    pub withheld: Option<String>,
}

impl Narrative {
    /// The template, no model asked.
    pub fn template(kind: Kind, facts: &Facts) -> Self {
        Self {
            text: template(kind, facts),
            by: By::Template,
            withheld: None,
        }
    }

    /// The model's `text` when it is grounded in `facts`, else the template
    /// with the reason it was withheld.
    pub fn check(kind: Kind, text: &str, facts: &Facts) -> Self {
        let text = tidy(text);
        match ground(&text, facts) {
            Ok(()) => Self {
                text,
                by: By::Model,
                withheld: None,
            },
            Err(why) => Self::instead(kind, facts, format!("was withheld: {why}")),
        }
    }

    fn instead(kind: Kind, facts: &Facts, why: String) -> Self {
        Self {
            withheld: Some(format!("the model's {} {why}", kind.noun())),
            ..Self::template(kind, facts)
        }
    }

    /// The text, then why the model's was withheld (plain text, one line each).
    pub fn display(&self) -> String {
        match &self.withheld {
            Some(why) => format!("{}\n({why}; the deterministic text is shown)", self.text),
            None => self.text.clone(),
        }
    }
}

/// One paragraph: whitespace collapsed, wrapping quotes removed.
fn tidy(text: &str) -> String {
    let one: Vec<&str> = text.split_whitespace().collect();
    let joined = one.join(" ");
    joined
        .trim_matches(|c| c == '"' || c == '“' || c == '”')
        .trim()
        .to_string()
}

/// Writes texts for people: the model's when configured and grounded, else the template.
#[derive(Clone, Default)]
pub struct Narrator {
    client: Option<LlmClient>,
}

impl Narrator {
    /// Templates only (no model configured, evals, benches).
    pub fn template() -> Self {
        Self::default()
    }

    /// Asks `client` first.
    pub fn model(client: LlmClient) -> Self {
        Self {
            client: Some(client),
        }
    }

    /// Whether a model is asked.
    pub fn asks_model(&self) -> bool {
        self.client.is_some()
    }

    /// The text of `kind` for `facts`. Never fails and never takes longer
    /// than [`MAX_WAIT`] (or `llm.timeout_secs`, if shorter).
    pub async fn narrate(&self, kind: Kind, facts: &Facts) -> Narrative {
        let Some(client) = &self.client else {
            return Narrative::template(kind, facts);
        };
        let wait = Duration::from_secs(client.settings().timeout_secs).min(MAX_WAIT);
        let user = user_message(kind, facts);
        let max_tokens = client.settings().opinion_max_tokens;
        let asked = client.text(NARRATE_PROMPT, &user, max_tokens);
        match tokio::time::timeout(wait, asked).await {
            Ok(Ok(reply)) => Narrative::check(kind, &reply.value, facts),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "no model narration; the template stands");
                Narrative::instead(kind, facts, format!("is missing: {e}"))
            }
            Err(_) => Narrative::instead(
                kind,
                facts,
                format!(
                    "is missing: the model did not answer within {} s",
                    wait.as_secs()
                ),
            ),
        }
    }
}

/// The task and the facts as JSON: the only numbers the text may use.
fn user_message(kind: Kind, facts: &Facts) -> String {
    let body = serde_json::json!({
        "task": kind.task(),
        "facts": facts,
    });
    serde_json::to_string_pretty(&body).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts() -> Facts {
        let mut f = Facts::default();
        f.number("rolled_back_from", 20.0);
        f.word("failing_check", "error_rate");
        f.number("error_rate.canary", 0.0341);
        f.number("error_rate.baseline", 0.0049);
        f
    }

    #[test]
    fn a_grounded_text_is_the_models_and_an_invented_one_is_withheld() {
        let f = facts();
        let shown = Narrative::check(
            Kind::Rollback,
            "\"Errors reached 3.4 % at 20%,\n about 7.0x the baseline.\"",
            &f,
        );
        assert_eq!(shown.by, By::Model);
        assert_eq!(
            shown.text,
            "Errors reached 3.4 % at 20%, about 7.0x the baseline."
        );
        assert_eq!(shown.withheld, None);

        let withheld = Narrative::check(Kind::Rollback, "Errors reached 37 % at 20%.", &f);
        assert_eq!(withheld.by, By::Template);
        assert_eq!(withheld.text, template(Kind::Rollback, &f));
        assert_eq!(
            withheld.withheld.as_deref(),
            Some("the model's explanation was withheld: it cites 37 %, which no measurement shows")
        );
        assert!(withheld
            .display()
            .ends_with("the deterministic text is shown)"));
    }

    #[test]
    fn an_injected_link_is_withheld_and_never_repeated() {
        let f = facts();
        let n = Narrative::check(Kind::Approval, "approved <http://x|click> <!here>", &f);
        assert_eq!(n.by, By::Template);
        let why = n.withheld.unwrap_or_default();
        assert!(why.contains("link") && !why.contains("http"), "{why}");
    }

    #[tokio::test]
    async fn no_model_gives_the_template() {
        let n = Narrator::template().narrate(Kind::Rollback, &facts()).await;
        assert_eq!((n.by, n.withheld), (By::Template, None));
    }
}
