//! The policy's rules beyond its shape: what serde accepts but no rollout
//! could use (levels out of order, a canary that never reaches 100, a weight
//! for a feature that does not exist). Each refusal is a [`RuleError`] that
//! names the section and says what it must satisfy.

use super::{RawPolicy, Strategy, KNOWN_FEATURES};

/// Why a parsed policy cannot be used; [`super::PolicyError::Invalid`] adds the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RuleError {
    #[error("[approval] two_approvers lists `{level}`, which is not in [approval] levels: add it there too, or drop it")]
    TwoApproversNeedApproval { level: &'static str },
    #[error("unknown feature `{name}` in [risk.weights]; known features: {}", KNOWN_FEATURES.join(", "))]
    UnknownFeature { name: String },
    /// A section's values that do not fit together, e.g. `[levels]` out of order.
    #[error("[{section}] {rule}")]
    Section { section: String, rule: String },
    /// A `[[freeze]]` whose window cannot be read.
    #[error("freeze '{name}': {problem}")]
    Freeze { name: String, problem: String },
    /// A category glob that does not compile.
    #[error("bad glob `{pattern}` in category `{category}`: {detail}")]
    Glob {
        pattern: String,
        category: &'static str,
        detail: String,
    },
}

impl RuleError {
    pub fn section(section: impl Into<String>, rule: impl Into<String>) -> Self {
        Self::Section {
            section: section.into(),
            rule: rule.into(),
        }
    }

    pub fn freeze(name: &str, problem: impl Into<String>) -> Self {
        Self::Freeze {
            name: name.into(),
            problem: problem.into(),
        }
    }
}

pub(super) fn validate(raw: &RawPolicy) -> Result<(), RuleError> {
    // A two-approver level that never needs approval would be a rule that never
    // applies by score: refuse it rather than let the reader believe otherwise.
    for level in &raw.approval.two_approvers {
        if !raw.approval.levels.contains(level) {
            return Err(RuleError::TwoApproversNeedApproval {
                level: level.as_str(),
            });
        }
    }
    for name in raw.risk.weights.keys() {
        if !KNOWN_FEATURES.contains(&name.as_str()) {
            return Err(RuleError::UnknownFeature { name: name.clone() });
        }
    }
    for (name, w) in &raw.risk.weights {
        if !w.is_finite() {
            return Err(RuleError::section(
                "risk.weights",
                format!("weight `{name}` must be a finite number"),
            ));
        }
    }
    for (cat, floor) in &raw.risk.floors {
        if !(0.0..=1.0).contains(floor) {
            return Err(RuleError::section(
                "risk.floors",
                format!(
                    "floor for `{}` must be in [0, 1], got {floor}",
                    cat.as_str()
                ),
            ));
        }
    }
    let l = &raw.levels;
    if !(0.0 < l.medium && l.medium < l.high && l.high < l.critical && l.critical <= 1.0) {
        return Err(RuleError::section(
            "levels",
            "must satisfy 0 < medium < high < critical <= 1",
        ));
    }
    for (level, s) in [
        ("low", &raw.strategy.low),
        ("medium", &raw.strategy.medium),
        ("high", &raw.strategy.high),
        ("critical", &raw.strategy.critical),
    ] {
        if let Strategy::Canary {
            first_weight,
            step,
            promote_at,
            ..
        } = s
        {
            if *first_weight == 0 || *first_weight > 100 || *step == 0 || *step > 100 {
                return Err(RuleError::section(
                    format!("strategy.{level}"),
                    "needs 1 <= first_weight <= 100 and 1 <= step <= 100",
                ));
            }
            if *promote_at < *first_weight || *promote_at > 100 {
                return Err(RuleError::section(
                    format!("strategy.{level}"),
                    "needs first_weight <= promote_at <= 100",
                ));
            }
        }
    }
    let r = &raw.rollout;
    if r.max_turns == 0 || r.max_consecutive_vetoes == 0 || r.max_vetoes == 0 {
        return Err(RuleError::section(
            "rollout",
            "max_turns, max_consecutive_vetoes and max_vetoes must be at least 1",
        ));
    }
    if r.max_invalid_turns == 0 || r.max_invalid_turns >= r.max_consecutive_vetoes {
        return Err(RuleError::section(
            "rollout",
            format!(
                "max_invalid_turns ({}) must be at least 1 and below max_consecutive_vetoes ({}): the playbook takes over from a model after max_invalid_turns malformed turns, before the circuit breaker ends the rollout",
                r.max_invalid_turns, r.max_consecutive_vetoes
            ),
        ));
    }
    if r.check_interval_seconds.is_nan() || r.check_interval_seconds < 1.0 {
        return Err(RuleError::section(
            "rollout",
            "check_interval_seconds must be at least 1",
        ));
    }
    if r.max_verdict_age_seconds.is_nan() || r.max_verdict_age_seconds < r.check_interval_seconds {
        return Err(RuleError::section("rollout", "max_verdict_age_seconds must be at least check_interval_seconds (the judge looks that often)"));
    }
    if !(r.rollback_deadline_seconds >= 1.0 && r.rollback_deadline_seconds <= 86_400.0) {
        return Err(RuleError::section(
            "rollout",
            "rollback_deadline_seconds must be between 1 and 86400",
        ));
    }
    if r.max_target_failures == 0 {
        return Err(RuleError::section(
            "rollout",
            "max_target_failures must be at least 1",
        ));
    }
    let c = &raw.canary;
    let unit = |x: f64| 0.0 < x && x < 1.0;
    if !(unit(c.alpha) && unit(c.beta)) {
        return Err(RuleError::section(
            "canary",
            "alpha and beta must be between 0 and 1",
        ));
    }
    if c.error_margin < 0.0 || c.error_bad_ratio <= 1.0 + c.error_margin {
        return Err(RuleError::section(
            "canary",
            "needs error_margin >= 0 and error_bad_ratio > 1 + error_margin",
        ));
    }
    if c.latency_auc_margin < 0.0
        || c.latency_auc_pass <= c.latency_auc_margin
        || c.latency_auc_pass >= 0.5
    {
        return Err(RuleError::section(
            "canary",
            "needs 0 <= latency_auc_margin < latency_auc_pass < 0.5",
        ));
    }
    if raw.history.max_commits == 0 {
        return Err(RuleError::section(
            "history",
            "max_commits must be at least 1",
        ));
    }
    if !(0.0..=1.0).contains(&raw.llm.max_below_deterministic) {
        return Err(RuleError::section(
            "llm",
            "max_below_deterministic must be in [0, 1]",
        ));
    }
    if raw.calibration.prior_strength <= 0.0 || !raw.calibration.prior_strength.is_finite() {
        return Err(RuleError::section(
            "calibration",
            "prior_strength must be a positive number",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_feature_lists_the_known_ones() {
        let e = RuleError::UnknownFeature {
            name: "touches_cj".into(),
        }
        .to_string();
        assert!(e.starts_with("unknown feature `touches_cj` in [risk.weights]; known features: touches_migration, "), "{e}");
        assert!(e.contains("touches_ci"), "{e}");
    }

    #[test]
    fn the_hand_over_comes_before_the_circuit_breaker() {
        let text =
            super::super::DEFAULT_POLICY.replace("max_invalid_turns = 2", "max_invalid_turns = 3");
        assert_ne!(
            text,
            super::super::DEFAULT_POLICY,
            "the default names the field"
        );
        let e = super::super::Policy::parse(&text, "x.toml")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("[rollout] max_invalid_turns (3) must be at least 1 and below max_consecutive_vetoes (3)"),
            "{e}"
        );
        let text =
            super::super::DEFAULT_POLICY.replace("max_invalid_turns = 2", "max_invalid_turns = 0");
        let e = super::super::Policy::parse(&text, "x.toml")
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_invalid_turns (0)"), "{e}");
        let p = super::super::Policy::embedded().unwrap();
        assert_eq!(p.rollout.max_invalid_turns, 2);
        assert_eq!(
            p.rollout.on_model_failure,
            super::super::OnModelFailure::Playbook
        );
    }

    #[test]
    fn a_section_rule_names_its_section() {
        let text = super::super::DEFAULT_POLICY.replace("max_commits = ", "max_commits = 0 # ");
        let e = super::super::Policy::parse(&text, "x.toml").unwrap_err();
        assert!(
            matches!(&e, super::super::PolicyError::Invalid { rule: RuleError::Section { section, .. }, .. } if section == "history"),
            "{e}"
        );
        assert!(
            e.to_string()
                .contains("policy x.toml is invalid: [history] max_commits must be at least 1"),
            "{e}"
        );
    }
}
