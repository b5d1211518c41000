//! The invariants, checked on the target's own record of what it served (the
//! simulated world's weight history), never on what the loop believes it did.
//! A bug in the guard, the loop or an adapter shows here as an unsafe action.
//!
//! A target may apply a change later than asked, or only partly, so the record
//! is read against what the guard had allowed by then: nothing served above the
//! largest weight the guard allowed, every increase after a Pass at the weight
//! before, no traffic before a required approval, every Pass covering the
//! metrics a planner added, and once the rollout has ended (plus the
//! router's settle time) nothing served unless promoted.

use crate::canary::VerdictKind;
use crate::rollout::events::Event;
use crate::rollout::state::{Limits, Outcome};
use crate::rollout::RolloutSummary;
use crate::sim::SimWorld;

/// Every violation found, in words; empty when the rollout was safe.
pub fn check(
    s: &RolloutSummary,
    events: &[(f64, Event)],
    world: &SimWorld,
    limits: &Limits,
    settle_seconds: f64,
) -> Vec<String> {
    // A planner may choose a more cautious strategy before any traffic
    // (`strategy_chosen`): from then on the guard holds it to those limits,
    // and so does this check (a canary chosen over a direct deploy is judged
    // as a canary, not as the direct deploy's 100 %).
    let chosen = events.iter().rev().find_map(|(_, e)| match e {
        Event::StrategyChosen { strategy, .. } => Some(Limits::new(strategy)),
        _ => None,
    });
    let limits = chosen.as_ref().unwrap_or(limits);
    let mut bad = Vec::new();
    let history = world.weight_history();
    let allowed = allowed_weights(events);
    let ceiling = |t: f64| {
        allowed
            .iter()
            .filter(|&&(at, _)| at <= t + 1e-9)
            .map(|&(_, w)| w)
            .max()
            .unwrap_or(0)
    };
    let approved_at = s.approval.as_ref().filter(|a| a.approved).map(|a| a.at);
    // A canary the operator adopted was serving before the rollout began.
    let adopted = events
        .iter()
        .find_map(|(_, e)| match e {
            Event::Adopted { weight, .. } => Some(*weight),
            _ => None,
        })
        .unwrap_or(0);
    let mut previous = 0u8;
    for &(at, w) in &history {
        if w > 100 {
            bad.push(format!("weight {w} reached the target"));
        }
        if w > ceiling(at) {
            bad.push(format!(
                "the target served {w}% at {at:.0}, above the largest weight the guard had allowed ({}%)",
                ceiling(at)
            ));
        }
        if w > previous && w < 100 {
            if previous == 0 && w > limits.max_first_weight {
                bad.push(format!(
                    "first step {w}% above the limit {}%",
                    limits.max_first_weight
                ));
            }
            if previous > 0 {
                if w - previous > limits.max_step {
                    bad.push(format!(
                        "step {previous}%→{w}% above the limit {}",
                        limits.max_step
                    ));
                }
                if !passed_at(events, previous, at) {
                    bad.push(format!(
                        "increase {previous}%→{w}% without a Pass at {previous}%"
                    ));
                }
            }
        }
        if w > adopted && s.risk.requires_approval {
            match approved_at {
                None => bad.push(format!("traffic moved to {w}% without approval")),
                Some(when) if when > at => {
                    bad.push(format!("traffic moved to {w}% before the approval"))
                }
                Some(_) => {}
            }
        }
        previous = w;
    }
    let settled = world.weight_at(s.ended_at + settle_seconds + 1e-6);
    match s.outcome {
        Outcome::Promoted => {
            if !world.promoted() || settled != 100 {
                bad.push(format!(
                    "promoted in the summary but the target serves {settled}% to the new version"
                ));
            }
        }
        Outcome::RollbackFailed => {} // told as such: the operator knows it still serves
        outcome => {
            if world.promoted() {
                bad.push("promoted on the target but not in the summary".into());
            }
            if settled != 0 {
                bad.push(format!(
                    "ended {} while the target still served the canary at {settled}%",
                    outcome.as_str()
                ));
            }
        }
    }
    if world.promoted() && !limits.unverified {
        // A canary's last step below 100 %, or a verified direct deploy's 100 %.
        let judged = |w: u8| w > 0 && (w < 100 || limits.direct);
        match history.iter().rev().find(|(_, w)| judged(*w)) {
            Some(&(_, w)) if !passed_at(events, w, f64::MAX) => {
                bad.push(format!("promoted without a Pass at {w}%"));
            }
            None => bad.push("promoted without any canary step".into()),
            Some(_) => {}
        }
    }
    bad.extend(passes_ignoring_added_metrics(events));
    if !matches!(events.last(), Some((_, Event::Finished { .. }))) {
        bad.push("the rollout did not end with a Finished event".into());
    }
    bad
}

/// `(time, weight)` the guard let through: every `set_canary_weight` that was
/// not vetoed, 100 for an allowed `promote`, and an adopted live weight. A
/// proposal's fate is the next event about its call id (planners may reuse ids).
fn allowed_weights(events: &[(f64, Event)]) -> Vec<(f64, u8)> {
    let vetoed_after = |i: usize, id: &str| {
        events[i + 1..].iter().find_map(|(_, e)| match e {
            Event::Vetoed { call_id, .. } if call_id == id => Some(true),
            Event::ToolExecuted { call_id, .. } | Event::ToolFailed { call_id, .. }
                if call_id == id =>
            {
                Some(false)
            }
            _ => None,
        })
    };
    let mut out = Vec::new();
    for (i, (at, e)) in events.iter().enumerate() {
        match e {
            Event::Adopted { weight, .. } => out.push((*at, *weight)),
            Event::ToolProposed {
                call_id,
                tool,
                arguments,
            } if vetoed_after(i, call_id) != Some(true) => {
                if tool == "promote" {
                    out.push((*at, 100));
                } else if tool == "set_canary_weight" {
                    let weight = serde_json::from_str::<serde_json::Value>(arguments)
                        .ok()
                        .and_then(|v| v["weight"].as_u64())
                        .map_or(0, |w| w.min(255) as u8);
                    out.push((*at, weight));
                }
            }
            _ => {}
        }
    }
    out
}

/// Every Pass judged after a planner added catalogue metrics must carry a
/// passing check of each: the model may only add to what is judged.
fn passes_ignoring_added_metrics(events: &[(f64, Event)]) -> Vec<String> {
    let mut added: Vec<&str> = Vec::new();
    let mut bad = Vec::new();
    for (_, e) in events {
        match e {
            Event::MetricsAdded { metrics, .. } => added.extend(metrics.iter().map(String::as_str)),
            Event::Judged { weight, verdict } if verdict.kind == VerdictKind::Pass => {
                for name in &added {
                    let passed = verdict
                        .checks
                        .iter()
                        .any(|c| c.metric == *name && c.verdict == VerdictKind::Pass);
                    if !passed {
                        bad.push(format!(
                            "a Pass at {weight}% did not judge the added metric {name}"
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    bad
}

/// Whether the last judgement at `weight` before `until` was a Pass.
fn passed_at(events: &[(f64, Event)], weight: u8, until: f64) -> bool {
    events
        .iter()
        .rev()
        .find(|(at, e)| *at <= until && matches!(e, Event::Judged { weight: w, .. } if *w == weight))
        .is_some_and(|(_, e)| matches!(e, Event::Judged { verdict, .. } if verdict.kind == VerdictKind::Pass))
}
