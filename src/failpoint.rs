//! Crash injection for the resume tests: `FAILPOINTS=after_intent=abort` (or
//! `after_effect=abort`) makes the process abort at that point of a traffic
//! change, exactly as a SIGKILL would leave it — no destructor runs, nothing
//! more is written — so tests can stop a real agent between writing an intent
//! and changing the target, or between changing the target and marking the
//! intent applied. `before_rollback=sleep(MS)` makes every rollback wait MS
//! real milliseconds first, as a slow target would (the signal tests send a
//! second Ctrl-C meanwhile). The variable follows the `fail` crate's
//! convention (`name=action;name=action`); only `abort` and `sleep(MS)` are
//! understood, and without the variable a failpoint is one environment lookup.

/// The points a traffic change passes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    /// The intent is journaled; the target is not touched yet.
    AfterIntent,
    /// The target changed; the intent is not marked applied yet.
    AfterEffect,
    /// A rollback is about to be sent.
    BeforeRollback,
}

impl Point {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AfterIntent => "after_intent",
            Self::AfterEffect => "after_effect",
            Self::BeforeRollback => "before_rollback",
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

/// Waits when `FAILPOINTS` arms `point` with `sleep(MS)`.
pub async fn delay(point: Point) {
    let Ok(spec) = std::env::var(ENV) else {
        return;
    };
    if let Some(ms) = sleep_ms(&spec, point) {
        eprintln!(
            "failpoint {}: sleeping {ms} ms (FAILPOINTS)",
            point.as_str()
        );
        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
    }
}

fn actions(spec: &str, point: Point) -> impl Iterator<Item = &str> {
    spec.split(';')
        .filter_map(|p| p.split_once('='))
        .filter(move |(name, _)| name.trim() == point.as_str())
        .map(|(_, action)| action.trim())
}

fn armed(spec: &str, point: Point) -> bool {
    actions(spec, point).any(|a| a == "abort")
}

fn sleep_ms(spec: &str, point: Point) -> Option<u64> {
    actions(spec, point).find_map(|a| a.strip_prefix("sleep(")?.strip_suffix(')')?.parse().ok())
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
        assert_eq!(
            sleep_ms("before_rollback=sleep(1500)", Point::BeforeRollback),
            Some(1500)
        );
        assert_eq!(
            sleep_ms("before_rollback=abort", Point::BeforeRollback),
            None
        );
    }
}
