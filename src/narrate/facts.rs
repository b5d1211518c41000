//! The facts a text for people may use: labelled numbers and words, all
//! computed or written by Rust. The model is sent them as JSON; its answer is
//! checked against them ([`super::ground`]); the templates are built from them.

use std::collections::BTreeMap;

use serde::Serialize;

use super::grounding::{number, numbers};
use crate::assess::Assessment;
use crate::canary::{Verdict, VerdictKind};
use crate::policy::Strategy;
use crate::report::describe_strategy;
use crate::rollout::RolloutSummary;

/// Labelled numbers and words. A number inside a word is a fact too (the
/// words are Rust's own texts: approval reasons, the judge's details).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Facts {
    pub numbers: BTreeMap<String, f64>,
    pub words: BTreeMap<String, String>,
}

impl Facts {
    pub fn number(&mut self, label: &str, value: f64) {
        if value.is_finite() {
            self.numbers.insert(label.to_string(), value);
        }
    }

    pub fn word(&mut self, label: &str, text: &str) {
        if !text.trim().is_empty() {
            self.words.insert(label.to_string(), text.to_string());
        }
    }

    pub fn get(&self, label: &str) -> Option<f64> {
        self.numbers.get(label).copied()
    }

    pub fn text(&self, label: &str) -> Option<&str> {
        self.words.get(label).map(String::as_str)
    }

    /// Adds `other`'s facts under `prefix.` (what the model was also shown).
    pub fn include(&mut self, prefix: &str, other: Facts) {
        for (label, v) in other.numbers {
            self.numbers.insert(format!("{prefix}.{label}"), v);
        }
        for (label, w) in other.words {
            // `rev` keeps its label: its short forms are stripped by it.
            let label = if label == "rev" {
                label
            } else {
                format!("{prefix}.{label}")
            };
            self.words.insert(label, w);
        }
    }

    /// Every value a text may cite: the numbers, the numbers in the words,
    /// and each metric's canary ÷ baseline and canary − baseline (how people
    /// compare two measurements).
    pub fn values(&self) -> Vec<f64> {
        let mut out: Vec<f64> = vec![0.0];
        out.extend(self.numbers.values());
        for word in self.words.values() {
            out.extend(numbers(word).iter().map(|c| c.value));
        }
        for (label, canary) in &self.numbers {
            let Some(metric) = label.strip_suffix(".canary") else {
                continue;
            };
            if let Some(baseline) = self.get(&format!("{metric}.baseline")) {
                out.push(canary - baseline);
                if baseline != 0.0 {
                    out.push(canary / baseline);
                }
            }
        }
        out
    }

    /// `text` without the identifiers the facts name (revs and their short
    /// forms, the rollout id): their digits are not numbers. A token that
    /// reads as a number with a unit (`300s`, `1.6x`) is not an identifier.
    pub fn strip_words(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (label, word) in &self.words {
            for token in word.split_whitespace() {
                let mixed = token.chars().any(|c| c.is_ascii_digit())
                    && token.chars().any(|c| c.is_alphabetic());
                if !mixed || token.len() < 4 || number(token).is_some() {
                    continue;
                }
                out = out.replace(token, " ");
                if label == "rev" {
                    for n in [12, 10, 8, 7] {
                        if let Some(short) = token.get(..n) {
                            out = out.replace(short, " ");
                        }
                    }
                }
            }
        }
        out
    }

    /// A verdict's numbers: requests, and per metric the canary's and the
    /// baseline's value and the statistic, with the judge's own words.
    pub fn verdict(&mut self, v: &Verdict) {
        self.word("verdict", v.kind.as_str());
        self.word("verdict.summary", &v.summary);
        self.number("canary_requests", v.canary_requests as f64);
        self.number("baseline_requests", v.baseline_requests as f64);
        for c in &v.checks {
            let m = &c.metric;
            self.word(&format!("{m}.verdict"), c.verdict.as_str());
            self.word(&format!("{m}.detail"), &c.detail);
            for (part, value) in [
                ("canary", c.canary),
                ("baseline", c.baseline),
                ("statistic", c.statistic),
            ] {
                if let Some(value) = value {
                    self.number(&format!("{m}.{part}"), value);
                }
            }
        }
        if let Some(failing) = v.checks.iter().find(|c| c.verdict == VerdictKind::Fail) {
            self.word("failing_check", &failing.metric);
        }
        if let Some(h) = &v.harm {
            self.number("harm.baseline_error_rate", h.baseline_error_rate);
            self.number("harm.confidence", h.confidence);
            if let Some(u) = h.error_ratio_upper {
                self.number("harm.error_ratio_upper", u);
            }
            if let Some(p) = h.slower_upper {
                self.number("harm.slower_upper", p);
            }
        }
    }

    /// The strategy in words (its weights and bake time are in them).
    pub fn strategy(&mut self, s: &Strategy) {
        self.word("strategy", &describe_strategy(s));
    }

    /// What a rollback explanation may say: the rollout, the weight the canary
    /// failed at, the judge's last verdict there. `reason_by_rust`: the end
    /// reason is Rust's (the judge's Fail), not the planner's words.
    pub fn for_rollback(
        summary: &RolloutSummary,
        verdict: Option<&Verdict>,
        rolled_back_from: u8,
        reason_by_rust: bool,
    ) -> Self {
        let mut f = Self::default();
        f.word("service", &summary.service);
        f.word("rev", &summary.rev);
        f.word("rollout_id", &summary.id);
        f.word("outcome", summary.outcome.as_str());
        f.word("level", summary.risk.level.as_str());
        f.number("risk_score", summary.risk.score);
        f.number("rolled_back_from", f64::from(rolled_back_from));
        f.number("final_weight", f64::from(summary.final_weight));
        f.number("duration_seconds", summary.duration_seconds().round());
        f.number(
            "duration_minutes",
            (summary.duration_seconds() / 60.0).round(),
        );
        f.number("vetoes", summary.vetoes.len() as f64);
        let rules: Vec<&str> = summary.vetoes.iter().map(|v| v.rule.as_str()).collect();
        f.word("veto_rules", &rules.join(" "));
        let weights: Vec<String> = summary.steps.iter().map(|s| s.weight.to_string()).collect();
        f.word("weights", &weights.join(" "));
        if reason_by_rust {
            f.word("reason", &summary.reason);
        }
        if let Some(v) = verdict {
            f.verdict(v);
        }
        f
    }

    /// What a summary for an approver may say: the risk and why approval is
    /// needed, the strategy, and — going on without a Pass — the judge's numbers.
    pub fn for_approval(
        request: &crate::approval::ApprovalRequest,
        strategy: &Strategy,
        verdict: Option<&Verdict>,
        judge_numbers: Option<&str>,
    ) -> Self {
        let mut f = Self::default();
        f.word("service", &request.service);
        f.word("rev", &request.rev);
        f.word("level", request.level.as_str());
        f.number("risk_score", request.risk_score);
        f.word("reasons", &request.reasons.join("; "));
        f.number("required_approvals", f64::from(request.required_approvals));
        f.number("timeout_seconds", request.timeout_seconds as f64);
        f.number(
            "timeout_minutes",
            (request.timeout_seconds as f64 / 60.0).round(),
        );
        f.strategy(strategy);
        if let Some(w) = request.go_on_at {
            f.number("go_on_at", f64::from(w));
        }
        if let Some(v) = verdict {
            f.verdict(v);
        }
        if let Some(text) = judge_numbers {
            f.word("judge", text);
        }
        f
    }

    /// What a PR paragraph may say: the scores, the factors, the change's size.
    pub fn for_assessment(a: &Assessment) -> Self {
        let mut f = Self::default();
        f.word("rev", &a.rev);
        f.word("level", a.level.as_str());
        f.number("risk_score", a.risk_score);
        f.number("deterministic_score", a.deterministic_score);
        f.number("logistic_score", a.logistic_score);
        if let Some(floor) = &a.floor {
            f.number("floor", floor.value);
            f.word("floor_category", floor.category.as_str());
        }
        if let Some(s) = a.llm.score {
            f.number("model_score", s);
        }
        f.word("approval_reasons", &a.approval_reasons.join("; "));
        f.strategy(&a.strategy);
        f.number("files", a.stats.files as f64);
        f.number("lines_added", a.stats.lines_added as f64);
        f.number("lines_deleted", a.stats.lines_deleted as f64);
        f.number("commits_read", a.history.commits_read as f64);
        for factor in &a.factors {
            f.number(&format!("factor.{}", factor.name), factor.contribution);
            f.number(&format!("factor.{}.value", factor.name), factor.value);
            f.word(
                &format!("factor.{}.evidence", factor.name),
                &factor.evidence,
            );
        }
        if let Some(top) = a.factors.first() {
            f.word("top_factor", &top.name);
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::narrate::{ground, Ungrounded};

    #[test]
    fn identifiers_are_stripped_and_units_are_not() {
        let mut f = Facts::default();
        f.word("rev", "3052871aa9c0ffee");
        f.word("rollout_id", "checkout-3052871a-1800000000000");
        f.word("detail", "1.6x slower over 300s");
        let text = "checkout-3052871a-1800000000000 at 3052871 was 1.6x slower for 300s";
        assert_eq!(ground(text, &f), Ok(()));
        // A unit-bearing fact is not cut out of a longer, invented number.
        assert_eq!(
            ground("11.6x slower", &f),
            Err(Ungrounded::Number {
                cited: "11.6".into()
            })
        );
    }

    #[test]
    fn comparisons_of_canary_and_baseline_are_facts() {
        let mut f = Facts::default();
        f.number("error_rate.canary", 0.06);
        f.number("error_rate.baseline", 0.005);
        // 12 times the baseline; 5.5 points above it.
        assert_eq!(ground("12x the baseline, 5.5 points more", &f), Ok(()));
        let mut included = Facts::default();
        included.include("run", f);
        assert_eq!(included.get("run.error_rate.canary"), Some(0.06));
    }
}
