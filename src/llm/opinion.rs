//! The model's opinion on a change's risk, and the rule that merges it with ours.
//!
//! The model may raise the score freely. It may lower it by at most the policy's
//! margin below the deterministic score, and never below the floor for what the
//! diff touches. Anything else is clamped, and the report says so.

use serde::{Deserialize, Serialize};

use super::{LlmClient, LlmError, Reply};

/// The system prompt, from `prompts/assess.md`.
pub const ASSESS_PROMPT: &str = include_str!("../../prompts/assess.md");

/// What the model is asked to return (its JSON Schema is sent as the response format).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelOpinion {
    /// Probability in [0, 1] that deploying the change causes an incident or a rollback.
    pub score: f64,
    /// At most three sentences.
    pub rationale: String,
    /// Concrete concerns, at most five.
    pub concerns: Vec<String>,
}

/// Asks the model; rejects a score outside [0, 1] as malformed.
pub async fn ask(client: &LlmClient, user_message: &str) -> Result<Reply<ModelOpinion>, LlmError> {
    let reply: Reply<ModelOpinion> = client
        .structured(
            ASSESS_PROMPT,
            user_message,
            "risk_opinion",
            client.settings().opinion_max_tokens,
        )
        .await?;
    let s = reply.value.score;
    if !(0.0..=1.0).contains(&s) {
        return Err(LlmError::Malformed(format!("score {s} is outside [0, 1]")));
    }
    Ok(reply)
}

/// The merged score and, when the model's score was not taken as is, why.
#[derive(Debug, Clone, PartialEq)]
pub struct Merged {
    pub score: f64,
    pub clamped: Option<String>,
}

/// Merges the model's score into the deterministic one under the policy's limits.
pub fn merge(deterministic: f64, floor: f64, model: f64, max_below: f64) -> Merged {
    if model >= deterministic {
        return Merged {
            score: model,
            clamped: None,
        };
    }
    let margin_bound = deterministic - max_below;
    let lowest = margin_bound.max(floor);
    if model >= lowest {
        return Merged {
            score: model,
            clamped: None,
        };
    }
    let why = if floor >= margin_bound {
        format!("model score {model:.2} is below the policy floor {floor:.2}; clamped to the floor")
    } else {
        format!(
            "model score {model:.2} is more than {max_below:.2} below the deterministic {deterministic:.2}; clamped to {lowest:.2}"
        )
    };
    Merged {
        score: lowest,
        clamped: Some(why),
    }
}

#[cfg(test)]
mod tests {
    use super::merge;

    #[test]
    fn merge_table() {
        // (deterministic, floor, model, margin) -> (final, clamped?)
        let cases = [
            (0.30, 0.0, 0.80, 0.1, 0.80, false),
            (0.30, 0.0, 0.25, 0.1, 0.25, false),
            (0.30, 0.0, 0.05, 0.1, 0.20, true),
            (0.60, 0.55, 0.10, 0.1, 0.55, true),
            (0.60, 0.55, 0.57, 0.1, 0.57, false),
        ];
        for (det, floor, model, margin, want, clamped) in cases {
            let m = merge(det, floor, model, margin);
            assert!(
                (m.score - want).abs() < 1e-9,
                "{det} {floor} {model}: {m:?}"
            );
            assert_eq!(m.clamped.is_some(), clamped);
        }
    }
}
