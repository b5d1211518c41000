//! Crash injection for the resume tests: `FAILPOINTS=after_intent=abort` (or
//! `after_effect=abort`) makes the process abort at that point of a traffic
//! change, exactly as a SIGKILL would leave it — no destructor runs, nothing
//! more is written — so tests can stop a real agent between writing an intent
//! and changing the target, or between changing the target and marking the
//! intent applied. The variable follows the `fail` crate's convention
//! (`name=action;name=action`); only `abort` is understood, and without the
//! variable a failpoint is one environment lookup.

/// The points a traffic change passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// The intent is journaled; the target is not touched yet.
    AfterIntent,
    /// The target changed; the intent is not marked applied yet.
    AfterEffect,
}

impl Point {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AfterIntent => "after_intent",
            Self::AfterEffect => "after_effect",
        }
    }
}

/// The environment variable read.
pub const ENV: &str = "FAILPOINTS";

/// Aborts the process when `FAILPOINTS` arms `point`.
pub fn hit(point: Point) {
    let Ok(spec) = std::env::var(ENV) else {
        return;
    };
    if armed(&spec, point) {
        eprintln!("failpoint {}: aborting (FAILPOINTS)", point.as_str());
        std::process::abort();
    }
}

fn armed(spec: &str, point: Point) -> bool {
    spec.split(';')
        .filter_map(|p| p.split_once('='))
        .any(|(name, action)| name.trim() == point.as_str() && action.trim() == "abort")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_named_point_with_abort_is_armed() {
        assert!(armed("after_intent=abort", Point::AfterIntent));
        assert!(armed("x=abort; after_effect=abort", Point::AfterEffect));
        assert!(!armed("after_intent=abort", Point::AfterEffect));
        assert!(!armed("after_intent=panic", Point::AfterIntent));
        assert!(!armed("after_intent", Point::AfterIntent));
    }
}
