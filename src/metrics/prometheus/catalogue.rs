//! `[services.NAME.prometheus.catalogue.METRIC]`: the extra ratio metrics a
//! planner may add to the judge (`add_metrics`), each a pair of PromQL
//! templates — all events and the bad ones, per version — with the
//! placeholders of the main queries. The operator writes every query; the
//! model only picks a name, reading `description`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::metrics::CatalogueEntry;

/// Placeholders a template may use (see the module docs of `config`).
const PLACEHOLDERS: [&str; 4] = ["version", "server", "backend", "range"];

/// One catalogue metric: the share `bad / total` of one version's events.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogueMetric {
    /// What the model reads when choosing: what the metric counts and when it matters.
    pub description: String,
    /// PromQL for all events of one version over the window (one series),
    /// e.g. `sum(increase(http_requests_total{version="{version}",path="/checkout"}[{range}]))`.
    pub total: String,
    /// PromQL for the bad events among them (one series).
    pub bad: String,
}

/// Checks every metric; the error names the metric and the field.
pub fn validate(catalogue: &BTreeMap<String, CatalogueMetric>) -> Result<(), ConfigError> {
    for (name, m) in catalogue {
        let field = |f: &str| format!("prometheus.catalogue.{name}{f}");
        let ok_char = |c: char| c.is_ascii_alphanumeric() || "_-:/.".contains(c);
        if name.is_empty() || name.len() > 64 || !name.chars().all(ok_char) {
            return Err(ConfigError::new(
                field(""),
                "a metric name must be 1–64 characters of letters, digits and _ - : / . (the model names it in add_metrics)",
            ));
        }
        if m.description.trim().is_empty() {
            return Err(ConfigError::new(
                field(".description"),
                "must say what the metric counts and when it matters: the model chooses by it",
            ));
        }
        for (which, t) in [("total", &m.total), ("bad", &m.bad)] {
            check_template(t)
                .map_err(|problem| ConfigError::new(field(&format!(".{which}")), problem))?;
        }
    }
    Ok(())
}

/// A template must be non-empty, select one version and count one window,
/// and use no placeholder `render` would leave in the query.
fn check_template(t: &str) -> Result<(), String> {
    if t.trim().is_empty() {
        return Err("must be a PromQL query, got an empty string".into());
    }
    if let Some(unknown) = placeholders(t).find(|p| !PLACEHOLDERS.contains(p)) {
        return Err(format!(
            "unknown placeholder {{{unknown}}} in `{t}`; the placeholders are {{version}}, {{server}}, {{backend}} and {{range}}"
        ));
    }
    if !((t.contains("{version}") || t.contains("{server}")) && t.contains("{range}")) {
        return Err(format!(
            "must contain {{range}} and {{version}} or {{server}} (else it cannot tell the versions or the window apart): `{t}`"
        ));
    }
    Ok(())
}

/// Every `{word}` in `t` (a PromQL label matcher always holds `=`, `~` or a quote).
fn placeholders(t: &str) -> impl Iterator<Item = &str> {
    t.split('{').skip(1).filter_map(|rest| {
        let word = rest.split('}').next()?;
        (rest.contains('}')
            && !word.is_empty()
            && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .then_some(word)
    })
}

/// The names and descriptions the planner sees.
pub fn entries(catalogue: &BTreeMap<String, CatalogueMetric>) -> Vec<CatalogueEntry> {
    catalogue
        .iter()
        .map(|(name, m)| CatalogueEntry {
            name: name.clone(),
            description: m.description.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metric(total: &str, bad: &str) -> BTreeMap<String, CatalogueMetric> {
        BTreeMap::from([(
            "checkout_errors".to_string(),
            CatalogueMetric {
                description: "failed checkouts".into(),
                total: total.into(),
                bad: bad.into(),
            },
        )])
    }

    const TOTAL: &str =
        r#"sum(increase(http_requests_total{version="{version}",path="/checkout"}[{range}]))"#;
    const BAD: &str = r#"sum(increase(http_requests_total{version="{version}",path="/checkout",code=~"5.."}[{range}]))"#;

    #[test]
    fn a_well_formed_catalogue_validates() {
        assert_eq!(validate(&metric(TOTAL, BAD)), Ok(()));
        let e = entries(&metric(TOTAL, BAD));
        assert_eq!(e[0].name, "checkout_errors");
    }

    #[test]
    fn bad_templates_are_named_with_what_to_fix() {
        let cases = [
            (
                metric(TOTAL, ""),
                "prometheus.catalogue.checkout_errors.bad",
                "empty string",
            ),
            (
                metric(&TOTAL.replace("{version}", "{verison}"), BAD),
                "prometheus.catalogue.checkout_errors.total",
                "unknown placeholder {verison}",
            ),
            (
                metric(&TOTAL.replace("{range}", "5m"), BAD),
                "prometheus.catalogue.checkout_errors.total",
                "must contain {range}",
            ),
        ];
        for (catalogue, field, problem) in cases {
            let e = validate(&catalogue).unwrap_err();
            assert_eq!(e.field, field);
            assert!(e.problem.contains(problem), "{}", e.problem);
        }
        let mut no_description = metric(TOTAL, BAD);
        no_description
            .get_mut("checkout_errors")
            .unwrap()
            .description = " ".into();
        let e = validate(&no_description).unwrap_err();
        assert_eq!(e.field, "prometheus.catalogue.checkout_errors.description");
        let bad_name = BTreeMap::from([(
            "two words".to_string(),
            metric(TOTAL, BAD).remove("checkout_errors").unwrap(),
        )]);
        assert!(validate(&bad_name)
            .unwrap_err()
            .problem
            .contains("1–64 characters"));
    }
}
