//! The metrics catalogue: extra ratio metrics (a share of bad events, per
//! version) that a service's configuration allow-lists and a planner may add
//! to the judge with `add_metrics` — e.g. the error ratio of the endpoint a
//! change touches. The catalogue is the allow-list: a planner can pick from
//! it, never write a query, so the model cannot make the backend run
//! anything an operator did not write.

use serde::{Deserialize, Serialize};

/// One metric a planner may choose: its name and what it reads when choosing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub struct CatalogueEntry {
    pub name: String,
    pub description: String,
}

/// One version's count of events and of bad ones over a window.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RatioSample {
    pub total: u64,
    pub bad: u64,
}

/// A chosen metric over one window, for both versions. `None` for a version
/// means its numbers are missing: NoData for the judge, never a pass.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ExtraWindow {
    pub name: String,
    pub stable: Option<RatioSample>,
    pub canary: Option<RatioSample>,
}

impl ExtraWindow {
    /// The metric with both versions missing.
    pub fn missing(name: &str) -> Self {
        Self {
            name: name.to_string(),
            stable: None,
            canary: None,
        }
    }
}

/// The names of `catalogue`, comma-separated, for vetoes and prompts.
pub fn names(catalogue: &[CatalogueEntry]) -> String {
    if catalogue.is_empty() {
        return "(none: this service configures no catalogue)".into();
    }
    catalogue
        .iter()
        .map(|e| e.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}
