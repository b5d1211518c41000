//! The event stream every front end consumes: terminal, JSON lines, tests, and
//! later the journal and the server.

use std::io::Write;

use serde::Serialize;

use crate::canary::Verdict;
use crate::guard::Rule;
use crate::narrate::By;
use crate::policy::{Level, Strategy};
use crate::rollout::state::{Outcome, RiskSnapshot};

/// Something that happened in a rollout, in order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Started {
        rollout_id: String,
        service: String,
        rev: String,
        target: String,
        planner: String,
    },
    Assessed {
        risk: RiskSnapshot,
    },
    /// What the judge learned from the baseline's history before the canary.
    Calibrated {
        windows: usize,
        detail: String,
    },
    PlannerTurn {
        turn: u32,
        calls: usize,
        prompt_tokens: u32,
        completion_tokens: u32,
        /// Content hash of the system prompt, when a model planned.
        prompt_hash: Option<String>,
        message: Option<String>,
    },
    ToolProposed {
        call_id: String,
        tool: String,
        arguments: String,
    },
    Vetoed {
        call_id: String,
        tool: String,
        rule: Rule,
        reason: String,
    },
    ToolExecuted {
        call_id: String,
        tool: String,
        /// What happened, for operators (may hold more detail than the model sees).
        detail: String,
    },
    ToolFailed {
        call_id: String,
        tool: String,
        error: String,
    },
    WeightChanged {
        from: u8,
        to: u8,
    },
    Judged {
        weight: u8,
        verdict: Verdict,
    },
    ApprovalRequested {
        summary: String,
    },
    ApprovalDecided {
        approved: bool,
        by: Option<String>,
        reason: String,
    },
    AutoRollback {
        reason: String,
    },
    /// The rollout started on a canary the target already served (`--adopt`).
    Adopted {
        weight: u8,
        detail: String,
    },
    /// A staged promotion moved on: `staged` (the stable version is being
    /// changed), `ready`, or `undone`.
    Promotion {
        stage: String,
        detail: String,
    },
    /// `deploy-agent resume` picked the rollout up after its process died
    /// (`on_resume = "continue"`), at the weight read back from the target.
    Resumed {
        weight: u8,
        detail: String,
    },
    BudgetExhausted {
        rule: Rule,
        detail: String,
    },
    /// The planner changed mid-rollout (a model that could not go on, handed
    /// to the playbook); `turn` is the first turn the new planner plans.
    PlannerHandover {
        from: String,
        to: String,
        reason: String,
        turn: u32,
    },
    /// The planner chose the more cautious strategy policy sets for `level`
    /// (`choose_strategy`, before any traffic moved): the guard's limits are
    /// now this strategy's. The risk level and approval are unchanged.
    StrategyChosen {
        level: Level,
        reason: String,
        strategy: Strategy,
    },
    /// The planner added metrics from the service's catalogue to the judge
    /// (`add_metrics`, before any traffic moved): from now on each is judged
    /// beside the required ones, and a Pass needs them all.
    MetricsAdded {
        metrics: Vec<String>,
        reason: String,
    },
    /// Why the rollout was rolled back, for people, written once the
    /// traffic was back on stable: the model's text when grounded in the
    /// numbers (`by: model`), else the template (and why, in `withheld`).
    Explained {
        text: String,
        by: By,
        withheld: Option<String>,
    },
    Finished {
        outcome: Outcome,
        reason: String,
        weight: u8,
    },
}

/// A consumer of events. `at` is the rollout clock's time.
pub trait EventSink: Send {
    fn emit(&mut self, at: f64, event: &Event);
}

/// Keeps every event (tests, summaries).
#[derive(Debug, Default, Clone)]
pub struct Collector {
    pub events: Vec<(f64, Event)>,
}

impl EventSink for Collector {
    fn emit(&mut self, at: f64, event: &Event) {
        self.events.push((at, event.clone()));
    }
}

/// Writes one JSON object per line: `{"at": …, "event": "…", …}`.
pub struct JsonLines<W: Write + Send> {
    out: W,
}

impl<W: Write + Send> JsonLines<W> {
    pub fn new(out: W) -> Self {
        Self { out }
    }
}

impl<W: Write + Send> EventSink for JsonLines<W> {
    fn emit(&mut self, at: f64, event: &Event) {
        let mut value = serde_json::to_value(event).unwrap_or_default();
        if let Some(obj) = value.as_object_mut() {
            obj.insert(
                "at".into(),
                serde_json::json!((at * 1000.0).round() / 1000.0),
            );
        }
        // A closed stdout must not stop a rollout: the decision is already made.
        let _ = writeln!(self.out, "{value}");
        let _ = self.out.flush();
    }
}

/// Sends each event to several sinks.
#[derive(Default)]
pub struct Fanout {
    pub sinks: Vec<Box<dyn EventSink>>,
}

impl EventSink for Fanout {
    fn emit(&mut self, at: f64, event: &Event) {
        for s in &mut self.sinks {
            s.emit(at, event);
        }
    }
}
