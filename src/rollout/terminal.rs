//! Live progress for people: one line per step on stderr.

use std::io::Write;

use super::events::{Event, EventSink};
use crate::canary::Verdict;
use crate::report::describe_strategy;

/// Prints each step as it happens.
pub struct TerminalProgress<W: Write + Send> {
    out: W,
    start: Option<f64>,
}

impl<W: Write + Send> TerminalProgress<W> {
    pub fn new(out: W) -> Self {
        Self { out, start: None }
    }
}

impl<W: Write + Send> EventSink for TerminalProgress<W> {
    fn emit(&mut self, at: f64, event: &Event) {
        let start = *self.start.get_or_insert(at);
        let Some(line) = describe(event) else {
            return;
        };
        let t = at - start;
        let _ = writeln!(
            self.out,
            "[{:>3}m{:02}s] {line}",
            (t / 60.0) as u64,
            (t % 60.0) as u64
        );
        let _ = self.out.flush();
    }
}

/// The progress line for an event, or `None` for events too fine to show.
pub fn describe(event: &Event) -> Option<String> {
    Some(match event {
        Event::Started {
            service,
            rev,
            target,
            planner,
            ..
        } => format!(
            "rolling out {} to {service} on {target} (planner: {planner})",
            &rev[..rev.len().min(10)]
        ),
        Event::Assessed { risk } => format!(
            "risk {:.2} {} → {}{}",
            risk.score,
            risk.level.as_str().to_uppercase(),
            describe_strategy(&risk.strategy),
            if risk.requires_approval {
                "; approval required"
            } else {
                ""
            }
        ),
        Event::ApprovalRequested { .. } => "approval requested".into(),
        Event::ApprovalDecided {
            approved,
            by,
            reason,
        } => format!(
            "approval {} by {}: {reason}",
            if *approved { "GRANTED" } else { "REFUSED" },
            by.as_deref().unwrap_or("nobody")
        ),
        Event::WeightChanged { from, to } => format!("canary {from:>3}% → {to:>3}%"),
        Event::Judged { weight, verdict } => {
            format!("canary {weight:>3}%  {}", verdict_line(verdict))
        }
        Event::Vetoed {
            tool, rule, reason, ..
        } => {
            format!("VETO {tool}: {} — {reason}", rule.as_str())
        }
        Event::ToolFailed { tool, error, .. } => format!("FAILED {tool}: {error}"),
        Event::AutoRollback { reason } => format!("AUTOMATIC ROLLBACK: {reason}"),
        Event::Explained { text, by, withheld } => match withheld {
            Some(why) => format!("WHY ({}): {text} [{why}]", by.as_str()),
            None => format!("WHY ({}): {text}", by.as_str()),
        },
        Event::Adopted { detail, .. } => format!("ADOPTED: {detail}"),
        Event::Promotion { stage, detail } => format!("promotion {stage}: {detail}"),
        Event::BudgetExhausted { rule, detail } => format!("STOP {}: {detail}", rule.as_str()),
        Event::PlannerHandover {
            from,
            to,
            reason,
            turn,
        } => format!("HANDOVER {from} → {to} at turn {turn}: {reason}"),
        Event::StrategyChosen {
            level,
            reason,
            strategy,
        } => format!(
            "STRATEGY {} (more cautious) → {}: {reason}",
            level.as_str().to_uppercase(),
            describe_strategy(strategy)
        ),
        Event::MetricsAdded { metrics, reason } => {
            format!("METRICS ADDED {}: {reason}", metrics.join(", "))
        }
        Event::Finished {
            outcome, reason, ..
        } => {
            format!(
                "{} — {reason}",
                outcome.as_str().to_uppercase().replace('_', " ")
            )
        }
        Event::PlannerTurn {
            message: Some(m), ..
        } if !m.trim().is_empty() => {
            format!(
                "planner: {}",
                m.trim().chars().take(160).collect::<String>()
            )
        }
        _ => return None,
    })
}

/// "PASS  canary 1234 req, 0.49% errors, 81 ms | baseline …".
pub fn verdict_line(v: &Verdict) -> String {
    let mut line = format!("{:<12}", v.kind.as_str().to_uppercase());
    line.push_str(&format!(
        " canary {} req, baseline {} req",
        v.canary_requests, v.baseline_requests
    ));
    if !v.summary.is_empty() {
        line.push_str(&format!(" — {}", v.summary));
    }
    for c in &v.checks {
        line.push_str(&format!("; {}", c.detail));
    }
    line
}
