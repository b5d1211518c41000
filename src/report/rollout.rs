//! The final rollout summary for people.

use std::fmt::Write;

use super::{describe_strategy, short};
use crate::rollout::RolloutSummary;

pub fn rollout_text(s: &RolloutSummary) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\nRollout {} of {} to {}: {}",
        s.id,
        short(&s.rev),
        s.service,
        s.outcome.as_str().to_uppercase().replace('_', " ")
    );
    let _ = writeln!(o, "  why       {}", s.reason);
    if let Some(n) = &s.explanation {
        let _ = writeln!(o, "  explained {} ({})", n.text, n.by.as_str());
        if let Some(why) = &n.withheld {
            let _ = writeln!(o, "            {why}");
        }
    }
    let _ = writeln!(
        o,
        "  risk      {:.2} {} → {}",
        s.risk.score,
        s.risk.level.as_str(),
        describe_strategy(&s.risk.strategy)
    );
    let approval = match &s.approval {
        Some(a) => format!(
            "{} by {} ({})",
            if a.approved { "granted" } else { "refused" },
            a.by.as_deref().unwrap_or("nobody"),
            a.reason
        ),
        None if s.risk.requires_approval => "required, never granted".into(),
        None => "not required".into(),
    };
    let _ = writeln!(o, "  approval  {approval}");
    let _ = writeln!(o, "  steps");
    if s.steps.is_empty() {
        let _ = writeln!(o, "    (no traffic moved)");
    }
    for step in &s.steps {
        let _ = writeln!(
            o,
            "    {:>3}%  {:<12} {}",
            step.weight,
            step.verdict.map_or("not judged", |v| v.as_str()),
            step.summary.as_deref().unwrap_or("")
        );
    }
    let _ = writeln!(o, "  vetoes    {}", s.vetoes.len());
    for v in &s.vetoes {
        let _ = writeln!(o, "    {:<18} {:<18} {}", v.tool, v.rule.as_str(), v.reason);
    }
    let _ = writeln!(
        o,
        "  planner   {}: {} turns, {} prompt + {} completion tokens",
        s.planner, s.turns, s.prompt_tokens, s.completion_tokens
    );
    if let Some(h) = &s.handover {
        let _ = writeln!(
            o,
            "  handover  {} → {} at turn {}: {}",
            h.from, h.to, h.turn, h.reason
        );
    }
    let d = s.duration_seconds();
    let _ = writeln!(
        o,
        "  duration  {}m{:02}s (rollout clock)",
        (d / 60.0) as u64,
        (d % 60.0) as u64
    );
    o
}
