//! [`RolloutChart`]: what the pictures show, read from the journal's record and
//! events once, so the SVG, the HTML page and the Mermaid block agree.
//!
//! Events are read as JSON values (as `show` reads them), so an old journal
//! still draws after the event type grows: a missing field leaves a gap, not
//! an error.

use serde_json::Value;

use crate::journal::timeline::{detail, offset};
use crate::journal::{RolloutRecord, StoredEvent};

/// A rollout's timeline, ready to draw. Times are seconds since the first event.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutChart {
    pub id: String,
    pub service: String,
    pub rev: String,
    pub target: String,
    pub planner: String,
    /// `promoted`, `rolled_back`, …; None while running.
    pub outcome: Option<String>,
    pub reason: Option<String>,
    /// The record's weight: the latest while running, the final one when finished.
    pub weight: u8,
    /// Risk score and level from the `assessed` event.
    pub risk: Option<(f64, String)>,
    /// The `explained` event's text (why it was rolled back), if any.
    pub explanation: Option<String>,
    /// Canary weight as steps: a point at every change, both sides of it.
    pub weights: Vec<(f64, u8)>,
    pub judgements: Vec<Judgement>,
    pub markers: Vec<Marker>,
    pub rows: Vec<EventRow>,
    /// The last event's time (at least 1 s, so an axis has a width).
    pub span: f64,
}

/// One `judged` event: what the judge saw of both versions, and its evidence.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    pub at: f64,
    pub weight: u8,
    /// `pass`, `fail`, `inconclusive`, `no_data`.
    pub verdict: String,
    /// Error rates (fractions) of the canary and the baseline.
    pub error: Pair,
    /// Median latencies (ms) of the canary and the baseline.
    pub latency: Pair,
    /// The canary's error rate at most (the verdict's `harm` bound:
    /// `error_ratio_upper` × the baseline's error rate), when bounded.
    pub error_upper: Option<f64>,
    /// P(a canary request is slower than a baseline one), at most.
    pub slower_upper: Option<f64>,
    pub summary: String,
    pub evidence: Vec<Evidence>,
}

/// A canary value and a baseline value.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Pair {
    pub canary: Option<f64>,
    pub baseline: Option<f64>,
}

/// One check's e-value against the threshold (1/α) it fails at.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub metric: String,
    pub e_value: f64,
    /// Read from the check's `detail` (`fail at N`): the event does not carry
    /// it; it is 1/α of the policy's `[canary] alpha`, split between checks.
    pub threshold: Option<f64>,
}

/// Something that happened at a moment: drawn as a marker with its detail on hover.
#[derive(Debug, Clone, PartialEq)]
pub struct Marker {
    pub at: f64,
    pub kind: MarkerKind,
    /// The event's kind, e.g. `approval_requested`.
    pub event: String,
    /// The same line `show` prints for the event (unescaped: escape when writing).
    pub detail: String,
    /// The guard rule of a veto or a budget.
    pub rule: Option<String>,
    /// The verdict of a judgement.
    pub verdict: Option<String>,
}

/// Marker lanes, top to bottom; the CSS class is the lane's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerKind {
    Approval,
    Veto,
    Verdict,
    Intent,
    Handover,
    Choice,
    Rollback,
    Outcome,
}

impl MarkerKind {
    pub const ALL: [MarkerKind; 8] = [
        MarkerKind::Approval,
        MarkerKind::Veto,
        MarkerKind::Verdict,
        MarkerKind::Intent,
        MarkerKind::Handover,
        MarkerKind::Choice,
        MarkerKind::Rollback,
        MarkerKind::Outcome,
    ];

    /// The CSS class (after `marker`) and the lane's label.
    pub fn class(self) -> &'static str {
        match self {
            MarkerKind::Approval => "approval",
            MarkerKind::Veto => "veto",
            MarkerKind::Verdict => "verdict",
            MarkerKind::Intent => "intent",
            MarkerKind::Handover => "handover",
            MarkerKind::Choice => "choice",
            MarkerKind::Rollback => "rollback",
            MarkerKind::Outcome => "outcome",
        }
    }

    pub fn lane(self) -> usize {
        Self::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }

    fn of(event: &str) -> Option<Self> {
        Some(match event {
            "approval_requested" | "approval_decided" => MarkerKind::Approval,
            "vetoed" | "budget_exhausted" => MarkerKind::Veto,
            "judged" => MarkerKind::Verdict,
            // The journal's intents are applied by the time a rollout is
            // shown; the planner's proposals and what ran are the intents.
            "tool_proposed" | "tool_executed" | "tool_failed" => MarkerKind::Intent,
            "planner_handover" => MarkerKind::Handover,
            "strategy_chosen" | "metrics_added" => MarkerKind::Choice,
            "auto_rollback" => MarkerKind::Rollback,
            "finished" => MarkerKind::Outcome,
            _ => return None,
        })
    }
}

/// One line of the event table.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRow {
    pub seq: u64,
    /// `  2m05s` from the first event.
    pub time: String,
    pub kind: String,
    pub detail: String,
}

impl RolloutChart {
    /// Reads the record and its events (in journal order). Pure.
    pub fn build(record: &RolloutRecord, events: &[StoredEvent]) -> Self {
        let start = events.first().map_or(0.0, |e| e.at);
        let mut chart = RolloutChart {
            id: record.id.clone(),
            service: record.service.clone(),
            rev: record.rev.clone(),
            target: record.target.clone(),
            planner: record.planner.clone(),
            outcome: record.outcome.clone(),
            reason: record.reason.clone(),
            weight: record.weight,
            risk: None,
            explanation: None,
            weights: vec![(0.0, 0)],
            judgements: Vec::new(),
            markers: Vec::new(),
            rows: Vec::new(),
            span: 1.0,
        };
        for e in events {
            let at = (e.at - start).max(0.0);
            chart.span = chart.span.max(at);
            chart.read(at, e);
        }
        let last = chart.weights.last().map_or(0, |w| w.1);
        chart.weights.push((chart.span, last));
        chart
    }

    fn read(&mut self, at: f64, e: &StoredEvent) {
        let p = &e.payload;
        self.rows.push(EventRow {
            seq: e.seq,
            time: offset(at).trim().to_string(),
            kind: e.kind.clone(),
            detail: detail(&e.kind, p),
        });
        match e.kind.as_str() {
            "assessed" => {
                let r = &p["risk"];
                if let Some(score) = r["score"].as_f64() {
                    self.risk = Some((score, str_of(r, "level")));
                }
            }
            "weight_changed" => self.step(at, p["from"].as_u64(), p["to"].as_u64()),
            "adopted" | "resumed" => self.step(at, None, p["weight"].as_u64()),
            "finished" => self.step(at, None, p["weight"].as_u64()),
            "judged" => self.judgements.push(judgement(at, p)),
            "explained" => self.explanation = p["text"].as_str().map(str::to_string),
            _ => {}
        }
        if let Some(kind) = MarkerKind::of(&e.kind) {
            let rule = p["rule"].as_str().map(str::to_string);
            let verdict = p["verdict"]["kind"].as_str().map(str::to_string);
            self.markers.push(Marker {
                at,
                kind,
                event: e.kind.clone(),
                detail: detail(&e.kind, p),
                rule,
                verdict,
            });
        }
    }

    /// A step to `to` at `at` (from `from`, or the current weight).
    fn step(&mut self, at: f64, from: Option<u64>, to: Option<u64>) {
        let Some(to) = to.map(clamp_weight) else {
            return;
        };
        let before = from
            .map(clamp_weight)
            .unwrap_or_else(|| self.weights.last().map_or(0, |w| w.1));
        self.weights.push((at, before));
        self.weights.push((at, to));
    }

    /// The highest canary weight the rollout reached.
    pub fn max_weight(&self) -> u8 {
        self.weights.iter().map(|w| w.1).max().unwrap_or(0)
    }

    /// `abc1234567`: the revision as people read it.
    pub fn short_rev(&self) -> &str {
        crate::journal::timeline::short_rev(&self.rev)
    }

    /// `rolled_back`, or `running` while there is no outcome.
    pub fn outcome_text(&self) -> &str {
        self.outcome.as_deref().unwrap_or("running")
    }
}

fn judgement(at: f64, p: &Value) -> Judgement {
    let v = &p["verdict"];
    let checks = v["checks"].as_array().map(Vec::as_slice).unwrap_or(&[]);
    let pair = |metric: &str| {
        checks
            .iter()
            .find(|c| c["metric"] == metric)
            .map_or(Pair::default(), |c| Pair {
                canary: c["canary"].as_f64(),
                baseline: c["baseline"].as_f64(),
            })
    };
    let harm = &v["harm"];
    let error_upper = harm["error_ratio_upper"]
        .as_f64()
        .zip(harm["baseline_error_rate"].as_f64())
        .map(|(ratio, base)| ratio * base);
    let evidence = checks
        .iter()
        .filter_map(|c| {
            Some(Evidence {
                metric: str_of(c, "metric"),
                e_value: c["statistic"].as_f64()?,
                threshold: fail_at(c["detail"].as_str().unwrap_or("")),
            })
        })
        .collect();
    Judgement {
        at,
        weight: clamp_weight(p["weight"].as_u64().unwrap_or(0)),
        verdict: str_of(v, "kind"),
        error: pair("error_rate"),
        latency: pair("latency_distribution"),
        error_upper,
        slower_upper: harm["slower_upper"].as_f64(),
        summary: str_of(v, "summary"),
        evidence,
    }
}

/// The threshold a sequential check writes into its detail: `(fail at 21)`.
pub fn fail_at(detail: &str) -> Option<f64> {
    let rest = &detail[detail.find("fail at ")? + "fail at ".len()..];
    let number: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    number.parse().ok().filter(|t: &f64| *t > 0.0)
}

fn clamp_weight(w: u64) -> u8 {
    w.min(100) as u8
}

fn str_of(v: &Value, key: &str) -> String {
    v[key].as_str().unwrap_or("").to_string()
}
