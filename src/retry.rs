//! The adapters' retry schedule, on backon: one place says how a bounded retry
//! loop waits, so every adapter waits the same way.
//!
//! The pause starts at a first wait and doubles, without jitter: tests run on
//! paused Tokio time and assert what was retried, so the schedule must be a
//! pure function of the attempt (STYLE: deterministic time). Each adapter keeps
//! its own bound on the count and decides what is worth retrying (`when`).

use std::time::Duration;

use backon::ExponentialBuilder;

/// `first`, doubling, uncapped, at most `max_retries` retries.
pub fn doubling(first: Duration, max_retries: u32) -> ExponentialBuilder {
    ExponentialBuilder::new()
        .with_min_delay(first)
        .with_factor(2.0)
        .without_max_delay()
        .with_max_times(max_retries as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use backon::BackoffBuilder;

    #[test]
    fn pauses_double_from_the_first_and_stop_after_the_bound() {
        let waits: Vec<u128> = doubling(Duration::from_millis(100), 4)
            .build()
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(waits, [100, 200, 400, 800]);
        let capped: Vec<u128> = doubling(Duration::from_millis(100), 6)
            .with_max_delay(Duration::from_secs(2))
            .build()
            .map(|d| d.as_millis())
            .collect();
        assert_eq!(capped, [100, 200, 400, 800, 1600, 2000]);
        assert_eq!(doubling(Duration::from_secs(1), 0).build().count(), 0);
    }
}
