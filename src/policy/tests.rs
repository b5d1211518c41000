//! The policy's parse and validation, against the embedded default.

use super::*;

#[test]
fn embedded_policy_is_valid() {
    let p = Policy::embedded().unwrap();
    assert_eq!(p.level_for(0.1), Level::Low);
    assert_eq!(p.level_for(0.8), Level::Critical);
    assert_eq!(p.hash.len(), 12);
}

#[test]
fn canary_weights_end_at_100() {
    let s = Strategy::Canary {
        first_weight: 5,
        step: 30,
        bake_seconds: 1,
        promote_at: 50,
    };
    assert_eq!(s.weights(), vec![5, 35, 65, 100]);
    assert_eq!(
        Strategy::Direct {
            verify_seconds: 300
        }
        .weights(),
        vec![100]
    );
}

#[test]
fn unknown_weight_is_named() {
    let text = DEFAULT_POLICY.replace("touches_ci = 0.8", "touches_cj = 0.8");
    let err = Policy::parse(&text, "x.toml").unwrap_err().to_string();
    assert!(err.contains("touches_cj"), "{err}");
}

#[test]
fn two_approvers_apply_to_listed_levels_that_need_approval() {
    let p = Policy::embedded().unwrap();
    assert_eq!(
        p.approval.required_approvals(Level::Critical),
        1,
        "default: one"
    );
    let text = DEFAULT_POLICY.replace("two_approvers = []", "two_approvers = [\"critical\"]");
    let p = Policy::parse(&text, "x.toml").unwrap();
    assert_eq!(p.approval.required_approvals(Level::Critical), 2);
    assert_eq!(p.approval.required_approvals(Level::High), 1);
    let text = DEFAULT_POLICY.replace("two_approvers = []", "two_approvers = [\"low\"]");
    let err = Policy::parse(&text, "x.toml").unwrap_err().to_string();
    assert!(err.contains("two_approvers lists `low`"), "{err}");
}
