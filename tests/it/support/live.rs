//! A simulated rollout written to a journal over a few real seconds, for the
//! live pages: the rollout runs on virtual time first (its real events), then
//! its events are appended one by one, paced, as a running agent would.

use std::sync::Arc;
use std::time::Duration;

use deploy_agent::journal::{Journal, JournalSink, SqliteJournal};
use deploy_agent::planner::PlaybookPlanner;
use deploy_agent::rollout::events::{Event, EventSink};
use deploy_agent::sim::Scenario;

use super::rollout::{approve, migration_repo, run};

/// A model-written text with markup, journaled before `finished`: the pages
/// must show it as text, never run it.
pub const HOSTILE: &str = "<script>window.__xss = 1</script><b>bold</b> & \"quoted\"";

/// A temp SQLite journal.
pub fn journal() -> (tempfile::TempDir, Arc<dyn Journal>) {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = SqliteJournal::open(&dir.path().join("journal.db")).expect("open journal");
    (dir, Arc::new(journal))
}

/// The events of a healthy simulated rollout (promoted after an approval),
/// its `Started` renamed to `id`, with an explanation holding [`HOSTILE`].
pub async fn simulated_events(id: &str) -> Vec<(f64, Event)> {
    let repo = migration_repo();
    let mut planner = PlaybookPlanner::new(
        deploy_agent::policy::Policy::embedded()
            .expect("policy")
            .rollout
            .max_inconclusive_bakes,
    );
    let ran = run(&repo, Scenario::Healthy, 1, &mut planner, approve()).await;
    let mut events = ran.events;
    for (_, e) in &mut events {
        if let Event::Started { rollout_id, .. } = e {
            *rollout_id = id.to_string();
        }
    }
    let before_end = events.len().saturating_sub(1);
    let at = events[before_end].0;
    events.insert(
        before_end,
        (
            at,
            Event::ApprovalRequested {
                summary: HOSTILE.into(),
            },
        ),
    );
    events
}

/// Appends `events` to `journal` over about `over`, in a thread; `Started`
/// first, at once, so the rollout is in the journal when this returns.
pub fn replay(
    journal: Arc<dyn Journal>,
    events: Vec<(f64, Event)>,
    over: Duration,
) -> std::thread::JoinHandle<()> {
    let mut sink = JournalSink::new(journal);
    let mut events = events.into_iter();
    if let Some((at, first)) = events.next() {
        sink.emit(at, &first);
    }
    assert!(sink.error().is_none(), "journal: {:?}", sink.error());
    let rest: Vec<_> = events.collect();
    let pause = over / u32::try_from(rest.len().max(1)).unwrap_or(1);
    std::thread::spawn(move || {
        for (at, e) in rest {
            std::thread::sleep(pause);
            sink.emit(at, &e);
        }
        assert!(sink.error().is_none(), "journal: {:?}", sink.error());
    })
}
