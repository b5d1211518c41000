//! A rollout's page kept live: `GET /rollouts/{id}/events` streams each journal
//! event as a server-sent event, and [`SCRIPT`] (inline, no framework) applies
//! them to the page.
//!
//! The journal is the only source: the stream polls it every [`POLL`] for
//! events after the last sequence number sent, so it works for a rollout run
//! by this server, another replica or a CLI sharing the journal. Each SSE id is
//! the event's `seq`, so a reconnecting `EventSource` resumes with
//! `Last-Event-ID` (or `?after=N`, the last row the page was rendered with).
//! The stream ends after `finished`, and when serve shuts down ([`Closing`]):
//! an open page must not hold up the drain of connections.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde_json::json;

use super::render;
use crate::journal::{Journal, JournalError, StoredEvent};

/// How often the journal is read for new events.
pub const POLL: Duration = Duration::from_millis(250);

/// Applies streamed events to the page: `#weight`, `#outcome`, rows of
/// `#events`, and `#chart` re-fetched from `chart.svg` when the weight moves.
/// Texts are set with `textContent`, never parsed as HTML.
pub const SCRIPT: &str = r#"<script>
(function () {
  if (!window.EventSource) return;
  document.documentElement.setAttribute('data-script', 'ran');
  var m = location.search.match(/[?&]token=([^&]*)/);
  var token = m ? 'token=' + m[1] : '';
  var base = location.pathname.replace(/\/+$/, '');
  var table = document.getElementById('events');
  var rows = table.tBodies[0];
  var last = Number(table.getAttribute('data-last-seq')) || 0;
  var weight = document.getElementById('weight');
  var outcome = document.getElementById('outcome');
  var chart = document.getElementById('chart');
  // A finished rollout has nothing more to stream (and a stream that ends at
  // once would only make EventSource reconnect every few seconds).
  if (outcome.textContent !== 'running') return;
  document.documentElement.setAttribute('data-live', 'on');
  var q = '?after=' + last + (token ? '&' + token : '');
  var source = new EventSource(base + '/events' + q);
  source.onmessage = function (message) {
    var e = JSON.parse(message.data);
    if (e.seq <= last) return;
    last = e.seq;
    table.setAttribute('data-last-seq', String(last));
    var tr = document.createElement('tr');
    tr.setAttribute('data-seq', String(e.seq));
    tr.className = 'event ' + e.kind;
    [e.time, e.kind, e.detail].forEach(function (text) {
      var td = document.createElement('td');
      td.textContent = text;
      tr.appendChild(td);
    });
    rows.appendChild(tr);
    outcome.textContent = e.outcome;
    var cell = document.getElementById('outcome-cell');
    if (cell) cell.textContent = e.outcome;
    var most = document.getElementById('max-weight');
    if (most && e.weight > Number(most.textContent)) most.textContent = String(e.weight);
    if (weight.textContent !== String(e.weight) || e.kind === 'finished') {
      weight.textContent = String(e.weight);
      if (chart) {
        fetch(base + '/chart.svg' + (token ? '?' + token : ''))
          .then(function (r) { return r.ok ? r.text() : null; })
          .then(function (svg) { if (svg) chart.innerHTML = svg; });
      }
    }
    if (e.kind === 'finished') source.close();
  };
})();
</script>"#;

/// `page` with [`SCRIPT`] before `</body>` (at the end when it has none).
pub fn with_live_script(page: String) -> String {
    match page.rfind("</body>") {
        Some(at) => {
            let mut page = page;
            page.insert_str(at, SCRIPT);
            page
        }
        None => page + SCRIPT,
    }
}

/// Tells open streams that serve is shutting down; [`Closing::never`] for a
/// server that does not.
#[derive(Clone)]
pub struct Closing(Option<tokio::sync::watch::Receiver<bool>>);

impl Closing {
    pub fn never() -> Self {
        Closing(None)
    }

    /// Closes when `true` is sent (or the sender is dropped).
    pub fn on(receiver: tokio::sync::watch::Receiver<bool>) -> Self {
        Closing(Some(receiver))
    }

    /// Completes once serve is shutting down.
    async fn wait(&mut self) {
        match &mut self.0 {
            Some(rx) => {
                let _ = rx.wait_for(|closing| *closing).await;
            }
            None => std::future::pending().await,
        }
    }
}

/// The SSE stream of `rollout_id`'s events after `after`, ending after
/// `finished` or when `closing` says so.
pub fn stream(
    journal: Arc<dyn Journal>,
    rollout_id: String,
    after: u64,
    closing: Closing,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    struct Cursor {
        closing: Closing,
        journal: Arc<dyn Journal>,
        id: String,
        after: u64,
        pending: std::collections::VecDeque<SseEvent>,
        done: bool,
        first: bool,
    }
    let cursor = Cursor {
        closing,
        journal,
        id: rollout_id,
        after,
        pending: Default::default(),
        done: false,
        first: true,
    };
    let events = stream::unfold(cursor, |mut c| async move {
        loop {
            if let Some(next) = c.pending.pop_front() {
                return Some((Ok(next), c));
            }
            if c.done {
                return None;
            }
            if !c.first {
                tokio::select! {
                    () = tokio::time::sleep(POLL) => {}
                    () = c.closing.wait() => return None,
                }
            }
            c.first = false;
            let (journal, id) = (c.journal.clone(), c.id.clone());
            let read = tokio::task::spawn_blocking(move || read(&*journal, &id)).await;
            match read {
                Ok(Ok((events, finished))) => {
                    let mut weight = 0;
                    let t0 = events.first().map_or(0.0, |e| e.at);
                    for e in &events {
                        weight = render::weight_after(weight, e);
                        if e.seq > c.after {
                            c.pending
                                .push_back(sse_event(e, t0, weight, finished.as_deref()));
                            c.after = e.seq;
                        }
                    }
                    // Everything up to the end was sent (or queued just now).
                    c.done = finished.is_some();
                }
                Ok(Err(e)) => {
                    tracing::warn!(rollout = %c.id, "live page cannot read the journal: {e}");
                    c.done = true;
                }
                Err(e) => {
                    tracing::warn!(rollout = %c.id, "live page reader failed: {e}");
                    c.done = true;
                }
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// The rollout's events and, once it is finished, its outcome.
fn read(
    journal: &dyn Journal,
    id: &str,
) -> Result<(Vec<StoredEvent>, Option<String>), JournalError> {
    // The record first: once it says finished, the events read after it
    // include `finished` (both are written in one transaction).
    let record = journal.rollout(id)?;
    let events = journal.events(id)?;
    let finished = record.finished_at.map(|_| render::phase(&record));
    Ok((events, finished))
}

/// One journal event as the script reads it: the event (`at` from `start`, as
/// the rows show it), and the page's `weight` and `outcome` after it.
fn sse_event(event: &StoredEvent, start: f64, weight: u8, finished: Option<&str>) -> SseEvent {
    let outcome = match (event.kind.as_str(), finished) {
        ("finished", Some(outcome)) => outcome.to_string(),
        ("finished", None) => event
            .payload
            .get("outcome")
            .and_then(|o| o.as_str())
            .unwrap_or("finished")
            .to_string(),
        _ => "running".to_string(),
    };
    let data = json!({
        "seq": event.seq,
        "at": event.at - start,
        "time": crate::journal::timeline::offset(event.at - start).trim(),
        "kind": event.kind,
        "detail": crate::journal::timeline::detail(&event.kind, &event.payload),
        "weight": weight,
        "outcome": outcome,
    });
    SseEvent::default()
        .id(event.seq.to_string())
        .data(data.to_string())
}
