//! `--dry-run`: read the live router, change nothing, print what would be sent.

use std::io::Write;
use std::sync::Mutex;

use async_trait::async_trait;

use super::haproxy::HaproxyRouter;
use super::{TrafficError, TrafficRouter};

/// Wraps a [`HaproxyRouter`]: reads its live weights, and prints each runtime-API
/// command it would send instead of sending it.
///
/// After a pretend change it reports the pretended weight, so the loop's
/// read-back check passes and the whole plan can be shown; the metrics it is
/// judged on are still live (the canary gets no real traffic).
pub struct DryRunRouter {
    inner: HaproxyRouter,
    pretend: Mutex<Option<u8>>,
    out: Mutex<Box<dyn Write + Send>>,
}

impl DryRunRouter {
    /// Prints to `out` (stderr for the command line).
    pub fn new(inner: HaproxyRouter, out: Box<dyn Write + Send>) -> Self {
        Self {
            inner,
            pretend: Mutex::new(None),
            out: Mutex::new(out),
        }
    }

    pub fn stderr(inner: HaproxyRouter) -> Self {
        Self::new(inner, Box::new(std::io::stderr()))
    }

    fn pretend(&self, weight: u8) -> Result<(), TrafficError> {
        let commands = self.inner.weight_commands(weight)?;
        if let Ok(mut out) = self.out.lock() {
            for c in commands {
                // Best effort: a closed stderr must not fail the rollout.
                let _ = writeln!(out, "dry-run: would send to {}: {c}", self.inner.address());
            }
        }
        if let Ok(mut p) = self.pretend.lock() {
            *p = Some(weight);
        }
        Ok(())
    }
}

#[async_trait]
impl TrafficRouter for DryRunRouter {
    async fn canary_weight(&self) -> Result<u8, TrafficError> {
        let pretended = self.pretend.lock().ok().and_then(|p| *p);
        match pretended {
            Some(w) => Ok(w),
            None => self.inner.canary_weight().await,
        }
    }

    async fn set_canary_weight(&self, weight: u8) -> Result<(), TrafficError> {
        self.pretend(weight)
    }

    async fn promote(&self) -> Result<(), TrafficError> {
        self.pretend(100)
    }

    async fn rollback(&self) -> Result<(), TrafficError> {
        self.pretend(0)
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
        let dry = DryRunRouter::new(router, Box::new(buf.clone()));
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
}
