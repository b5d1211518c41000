//! `--dry-run`: read the live router, change nothing, print what would be sent.

use std::io::Write;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;

use super::haproxy::HaproxyRouter;
use super::{TrafficError, TrafficRouter};

/// A change the loop asks of the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    Weight(u8),
    Promote,
    Rollback,
}

impl Change {
    /// The canary's share once the change is made.
    fn weight(self) -> u8 {
        match self {
            Change::Weight(w) => w,
            Change::Promote => 100,
            Change::Rollback => 0,
        }
    }
}

/// What a router would send for a change, one line per request or command.
pub type Plan = Box<dyn Fn(Change) -> Result<Vec<String>, TrafficError> + Send + Sync>;

/// Wraps a router: reads its live weights, and prints what it would send for
/// each change instead of sending it.
///
/// After a pretend change it reports the pretended weight, so the loop's
/// read-back check passes and the whole plan can be shown; the metrics it is
/// judged on are still live (the canary gets no real traffic).
pub struct DryRunRouter {
    inner: Arc<dyn TrafficRouter>,
    target: String,
    plan: Plan,
    pretend: Mutex<Option<u8>>,
    out: Mutex<Box<dyn Write + Send>>,
}

impl DryRunRouter {
    /// Prints `plan`'s lines for `target` to `out` (stderr for the command line).
    pub fn new(
        inner: Arc<dyn TrafficRouter>,
        target: String,
        plan: Plan,
        out: Box<dyn Write + Send>,
    ) -> Self {
        Self {
            inner,
            target,
            plan,
            pretend: Mutex::new(None),
            out: Mutex::new(out),
        }
    }

    /// HAProxy: the exact runtime-API commands.
    pub fn haproxy(inner: HaproxyRouter, out: Box<dyn Write + Send>) -> Self {
        let router = Arc::new(inner);
        let target = router.address().to_string();
        let planner = Arc::clone(&router);
        let plan: Plan = Box::new(move |change| planner.weight_commands(change.weight()));
        Self::new(router, target, plan, out)
    }

    /// Any router: each change described at the level of the objects it moves
    /// (`promote` and `rollback` as the router's doc comments define them).
    pub fn described(
        inner: Arc<dyn TrafficRouter>,
        target: String,
        out: Box<dyn Write + Send>,
    ) -> Self {
        let plan: Plan = Box::new(|change| {
            Ok(vec![match change {
                Change::Weight(w) if w > 100 => {
                    return Err(TrafficError::Rejected(format!("weight {w} is above 100")))
                }
                Change::Weight(w) => format!("set canary weight {w} (stable {})", 100 - w),
                Change::Promote => {
                    "promote: the new version becomes stable with all traffic, canary to 0".into()
                }
                Change::Rollback => "rollback: all traffic to stable, canary to 0".into(),
            }])
        });
        Self::new(inner, target, plan, out)
    }

    fn pretend(&self, change: Change) -> Result<(), TrafficError> {
        let lines = (self.plan)(change)?;
        if let Ok(mut out) = self.out.lock() {
            for line in lines {
                // Best effort: a closed stderr must not fail the rollout.
                let _ = writeln!(out, "dry-run: would send to {}: {line}", self.target);
            }
        }
        if let Ok(mut p) = self.pretend.lock() {
            *p = Some(change.weight());
        }
        Ok(())
    }
}

#[async_trait]
impl TrafficRouter for DryRunRouter {
    fn describe(&self) -> String {
        format!("{} (dry run: nothing is sent)", self.inner.describe())
    }

    fn manual_rollback(&self) -> String {
        self.inner.manual_rollback()
    }

    async fn preflight(&self) -> Result<(), TrafficError> {
        self.inner.preflight().await
    }

    async fn granularity(&self) -> Result<crate::traffic::Granularity, TrafficError> {
        self.inner.granularity().await
    }

    async fn promoted(&self) -> Result<bool, TrafficError> {
        let pretended = self.pretend.lock().ok().and_then(|p| *p);
        match pretended {
            Some(w) => Ok(w == 100),
            None => self.inner.promoted().await,
        }
    }

    async fn canary_weight(&self) -> Result<u8, TrafficError> {
        let pretended = self.pretend.lock().ok().and_then(|p| *p);
        match pretended {
            Some(w) => Ok(w),
            None => self.inner.canary_weight().await,
        }
    }

    async fn set_canary_weight(&self, weight: u8) -> Result<(), TrafficError> {
        self.pretend(Change::Weight(weight))
    }

    async fn promote(&self) -> Result<(), TrafficError> {
        self.pretend(Change::Promote)
    }

    async fn rollback(&self) -> Result<(), TrafficError> {
        self.pretend(Change::Rollback)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::traffic::haproxy::HaproxyConfig;

    /// A `Write` that keeps what it gets, for tests and callers that collect output.
    #[derive(Clone, Default)]
    struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

    impl SharedBuffer {
        fn text(&self) -> String {
            self.0
                .lock()
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default()
        }
    }

    impl Write for SharedBuffer {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut b) = self.0.lock() {
                b.extend_from_slice(buf);
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn prints_commands_and_sends_none() {
        // No HAProxy at all: nothing is sent, so nothing fails.
        let router = HaproxyRouter::new(HaproxyConfig {
            socket: "/nonexistent/admin.sock".into(),
            max_retries: 0,
            timeout_ms: 100,
            ..HaproxyConfig::default()
        })
        .unwrap();
        let buf = SharedBuffer::default();
        let dry = DryRunRouter::haproxy(router, Box::new(buf.clone()));
        assert!(dry.canary_weight().await.is_err()); // the live read is real
        dry.set_canary_weight(10).await.unwrap();
        assert_eq!(dry.canary_weight().await.unwrap(), 10);
        dry.rollback().await.unwrap();
        assert_eq!(
            buf.text(),
            "dry-run: would send to unix:/nonexistent/admin.sock: set weight be_app/canary 10\n\
             dry-run: would send to unix:/nonexistent/admin.sock: set weight be_app/stable 90\n\
             dry-run: would send to unix:/nonexistent/admin.sock: set weight be_app/canary 0\n\
             dry-run: would send to unix:/nonexistent/admin.sock: set weight be_app/stable 100\n"
        );
        assert!(dry.set_canary_weight(120).await.is_err());
    }

    #[tokio::test]
    async fn any_router_can_be_dry_run() {
        let world = crate::sim::SimWorld::new(
            crate::sim::SimConfig::default(),
            Arc::new(crate::clock::VirtualClock::new(0.0)),
        );
        let buf = SharedBuffer::default();
        let dry = DryRunRouter::described(
            Arc::new(world.traffic()),
            "kubernetes:ns/route".into(),
            Box::new(buf.clone()),
        );
        dry.set_canary_weight(25).await.unwrap();
        dry.promote().await.unwrap();
        assert_eq!(dry.canary_weight().await.unwrap(), 100);
        assert_eq!(world.canary_weight(), 0, "nothing reached the router");
        assert!(buf
            .text()
            .contains("would send to kubernetes:ns/route: set canary weight 25 (stable 75)"));
        assert!(dry.set_canary_weight(101).await.is_err());
    }
}
