//! Time, injected: a virtual clock for the simulator and tests, the system clock otherwise.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

/// Seconds on the rollout's clock, and a way to wait.
#[async_trait]
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch (virtual clocks start wherever they are told).
    fn now(&self) -> f64;
    /// Waits `secs` seconds of this clock's time.
    async fn sleep(&self, secs: f64);
}

/// Real time: tokio's sleep (which `tokio::time::pause` can make instant in tests).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> f64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64())
    }

    async fn sleep(&self, secs: f64) {
        if secs > 0.0 {
            tokio::time::sleep(Duration::from_secs_f64(secs)).await;
        }
    }
}

/// Virtual time: `sleep` advances the clock at once, optionally pacing real time
/// (`real_per_virtual` real seconds per virtual second) so a person can watch.
#[derive(Debug)]
pub struct VirtualClock {
    /// Virtual time in microseconds.
    micros: AtomicU64,
    real_per_virtual: f64,
}

impl VirtualClock {
    pub fn new(start: f64) -> Self {
        Self::paced(start, 0.0)
    }

    pub fn paced(start: f64, real_per_virtual: f64) -> Self {
        Self {
            micros: AtomicU64::new((start * 1e6) as u64),
            real_per_virtual,
        }
    }

    /// Advances without waiting. Any positive interval advances by at least one
    /// microsecond (rounded up, never down): a wait loop that sleeps "until the
    /// boundary" with a remainder below the clock's resolution must still reach
    /// it, or it would spin forever at the same instant.
    pub fn advance(&self, secs: f64) {
        let micros = (secs.max(0.0) * 1e6).ceil() as u64;
        self.micros.fetch_add(micros, Ordering::SeqCst);
    }
}

#[async_trait]
impl Clock for VirtualClock {
    fn now(&self) -> f64 {
        self.micros.load(Ordering::SeqCst) as f64 / 1e6
    }

    async fn sleep(&self, secs: f64) {
        if self.real_per_virtual > 0.0 && secs > 0.0 {
            let real = (secs * self.real_per_virtual).min(5.0);
            tokio::time::sleep(Duration::from_secs_f64(real)).await;
        }
        self.advance(secs);
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sleep_shorter_than_the_resolution_still_moves_time_forward() {
        let clock = VirtualClock::new(1_700_000_000.0);
        let before = clock.now();
        clock.sleep(4e-7).await;
        assert!(
            clock.now() > before,
            "a positive sleep must advance the clock"
        );
        clock.sleep(0.0).await;
        clock.sleep(-3.0).await;
        assert!((clock.now() - before - 1e-6).abs() < 1e-7);
    }

    #[tokio::test]
    async fn sleeping_to_a_boundary_off_the_microsecond_grid_reaches_it() {
        let clock = VirtualClock::new(1_700_000_000.0);
        let target = clock.now() + 30.000_000_4;
        let mut sleeps = 0;
        while clock.now() < target - 1e-9 {
            clock.sleep(target - clock.now()).await;
            sleeps += 1;
            assert!(sleeps < 4, "stuck short of the boundary at {}", clock.now());
        }
    }
}
