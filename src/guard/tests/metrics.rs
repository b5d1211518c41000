//! `add_metrics`: names from the catalogue, before any traffic; anything
//! else is vetoed with a reason that lists the catalogue.

use super::*;
use crate::metrics::CatalogueEntry;
use crate::tools::AddMetricsArgs;

fn add(names: &[&str]) -> ToolCall {
    ToolCall::AddMetrics(AddMetricsArgs {
        metrics: names.iter().map(|n| n.to_string()).collect(),
        reason: "the diff touches checkout".into(),
    })
}

fn with_catalogue() -> RolloutState {
    let mut s = state(Level::High, false);
    s.catalogue = ["endpoint:/checkout", "endpoint:/search"]
        .iter()
        .map(|n| CatalogueEntry {
            name: n.to_string(),
            description: format!("share of failed requests on {n}"),
        })
        .collect();
    s
}

#[test]
fn catalogue_metrics_are_allowed_before_traffic() {
    let s = with_catalogue();
    assert!(check(add(&["endpoint:/checkout"]), &s, 0.0).is_ok());
    assert!(check(add(&["endpoint:/checkout", "endpoint:/search"]), &s, 0.0).is_ok());
}

#[test]
fn unknown_metrics_are_vetoed_listing_the_catalogue() {
    let s = with_catalogue();
    for names in [
        &["endpoint:/admin"][..],
        &["endpoint:/checkout", "sum(rate(x[5m]))"][..],
        &[][..],
    ] {
        let veto = check(add(names), &s, 0.0).unwrap_err();
        assert_eq!(veto.rule, Rule::MetricNotInCatalogue, "{names:?}");
        assert!(
            veto.reason.contains("endpoint:/checkout, endpoint:/search"),
            "{}",
            veto.reason
        );
    }
    let veto = check(add(&["endpoint:/admin"]), &s, 0.0).unwrap_err();
    assert!(
        veto.reason.starts_with("`endpoint:/admin` not in"),
        "{}",
        veto.reason
    );
    // A service without a catalogue says so.
    let veto = check(
        add(&["endpoint:/checkout"]),
        &state(Level::High, false),
        0.0,
    )
    .unwrap_err();
    assert!(
        veto.reason.contains("configures no catalogue"),
        "{}",
        veto.reason
    );
}

#[test]
fn metrics_are_fixed_once_traffic_moved() {
    let mut s = with_catalogue();
    at(5, 0.0, Some(VerdictKind::Pass), &mut s);
    let veto = check(add(&["endpoint:/checkout"]), &s, 400.0).unwrap_err();
    assert_eq!(veto.rule, Rule::MetricsAfterTraffic, "{}", veto.reason);
    assert!(veto.reason.contains("5%"), "{}", veto.reason);
}

#[test]
fn a_direct_deploy_must_choose_a_canary_strategy_first() {
    let mut s = with_catalogue();
    s.limits.direct = true;
    let veto = check(add(&["endpoint:/checkout"]), &s, 0.0).unwrap_err();
    assert_eq!(veto.rule, Rule::MetricsNeedCanary);
    assert!(veto.reason.contains("choose_strategy"), "{}", veto.reason);
}

#[test]
fn metrics_cannot_be_added_after_the_end() {
    let mut s = with_catalogue();
    s.finish(crate::rollout::state::Outcome::RolledBack, 0);
    let veto = check(add(&["endpoint:/checkout"]), &s, 0.0).unwrap_err();
    assert_eq!(veto.rule, Rule::RolloutFinished);
}
