//! The journal as an event sink: the rollout loop's events, written as they happen.

use std::sync::Arc;

use super::{wall_now, Fence, Journal, JournalError, RolloutRecord};
use crate::rollout::events::{Event, EventSink};

/// Writes a rollout's events to a journal: the rollout row on `Started`, each
/// event after it, and the end on `Finished` (done by [`Journal::append`]).
///
/// `emit` cannot fail, and a journal that stops working must not stop a rollout
/// whose traffic is already moving, so a write error is logged and the first one
/// kept for the caller ([`JournalSink::error`]).
pub struct JournalSink {
    journal: Arc<dyn Journal>,
    /// Writes carry the service's lease: once another process holds it, every
    /// write is refused and this sink stops writing.
    fence: Option<Fence>,
    rollout_id: Option<String>,
    /// `begin` failed: later events would land in someone else's rollout.
    refused: bool,
    error: Option<JournalError>,
}

impl JournalSink {
    /// A sink for a new rollout: it expects `Started` first.
    pub fn new(journal: Arc<dyn Journal>) -> Self {
        Self {
            journal,
            fence: None,
            rollout_id: None,
            refused: false,
            error: None,
        }
    }

    /// Every write made under `fence` (see [`Journal::append_fenced`]).
    pub fn fenced(mut self, fence: Fence) -> Self {
        self.fence = Some(fence);
        self
    }

    /// A sink that continues a rollout already in the journal (a resume).
    pub fn resuming(journal: Arc<dyn Journal>, rollout_id: &str) -> Self {
        Self {
            rollout_id: Some(rollout_id.to_string()),
            ..Self::new(journal)
        }
    }

    /// The first write that failed, if any.
    pub fn error(&self) -> Option<&JournalError> {
        self.error.as_ref()
    }

    pub fn rollout_id(&self) -> Option<&str> {
        self.rollout_id.as_deref()
    }

    fn write(&mut self, at: f64, event: &Event) -> Result<(), JournalError> {
        // A resumed rollout is already in the journal; its Started (if any) is just logged.
        if matches!(event, Event::Started { .. }) && self.rollout_id.is_none() {
            self.begin(event)?;
        }
        let Some(id) = &self.rollout_id else {
            return Err(JournalError::OutOfOrder(
                super::event_parts(event).map_or_else(|_| "?".into(), |(kind, _)| kind),
            ));
        };
        match &self.fence {
            Some(fence) => self.journal.append_fenced(fence, id, at, event).map(drop),
            None => self.journal.append(id, at, event).map(drop),
        }
    }

    fn begin(&mut self, event: &Event) -> Result<(), JournalError> {
        let Event::Started {
            rollout_id,
            service,
            rev,
            target,
            planner,
        } = event
        else {
            return Ok(());
        };
        let record = RolloutRecord {
            id: rollout_id.clone(),
            service: service.clone(),
            rev: rev.clone(),
            target: target.clone(),
            planner: planner.clone(),
            started_at: wall_now(),
            finished_at: None,
            outcome: None,
            weight: 0,
            reason: None,
        };
        if let Err(e) = self.journal.begin(&record) {
            self.refused = true;
            return Err(e);
        }
        self.rollout_id = Some(rollout_id.clone());
        Ok(())
    }
}

impl EventSink for JournalSink {
    fn emit(&mut self, at: f64, event: &Event) {
        if self.refused {
            return;
        }
        if let Err(e) = self.write(at, event) {
            tracing::error!(error = %e, "could not write a rollout event to the journal");
            // Another process owns the rollout's record now: write nothing more.
            self.refused |= matches!(e, JournalError::Fenced { .. });
            self.error.get_or_insert(e);
        }
    }
}
