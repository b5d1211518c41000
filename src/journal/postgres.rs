//! The Postgres journal: one database shared by several replicas of the agent
//! (and by `deploy-agent approve` on an operator's machine).
//!
//! The same rules as the SQLite file, enforced by the server instead of a file lock:
//! every write is one transaction; a write to a rollout first locks its row
//! (`SELECT … FOR UPDATE`), so sequence numbers are handed out one at a time across
//! replicas and nothing lands after `finished`; a decision is written by an UPDATE
//! guarded by `decided_at IS NULL` on the locked request, so exactly one replica's
//! decision stands. The connection lives on its own thread ([`worker`]).

mod leases;
mod rows;
mod schema;
mod votes;
mod worker;

pub use schema::SCHEMA_VERSION;

use std::str::FromStr;
use std::time::Duration;

use postgres::Config;
use serde_json::Value;

use rows::{
    approval_in, approval_row, find_rollout, finish_in, insert_numbered, lock_running,
    numbered_row, require_rollout, rollout_row, wrong_request, APPROVAL_COLUMNS, NUMBERED_COLUMNS,
    ROLLOUT_COLUMNS,
};
use worker::{Failure, PgTrouble, Worker};

use super::{
    event_parts, rules, wall_now, ApprovalDecision, ApprovalProgress, ApprovalStatus, ApprovalVote,
    Fence, Intent, Journal, JournalError, Lease, LeaseRequest, PendingApproval, RolloutRecord,
    StoredEvent,
};
use crate::rollout::events::Event;
use crate::rollout::state::Outcome;

/// The environment variable a password is read from (never from the URL or a file,
/// so it shows up in neither `ps`, a config file nor an error message).
pub const PASSWORD_ENV: &str = "PGPASSWORD";

/// How long connecting may take before an attempt counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `location` names a Postgres database rather than a SQLite file.
pub fn is_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// A journal in a Postgres database, reached through one connection.
#[derive(Debug)]
pub struct PostgresJournal {
    worker: Worker,
    location: String,
}

impl PostgresJournal {
    /// Connects to `url` (`postgres://user@host:port/db`) and migrates its schema.
    pub fn open(url: &str) -> Result<Self, JournalError> {
        let location = redacted(url);
        let open_err = |source: BoxError| JournalError::Open {
            path: location.clone(),
            source,
        };
        let config = config(url).map_err(open_err)?;
        let worker = Worker::spawn(config, location.clone()).map_err(|e| open_err(Box::new(e)))?;
        let path = location.clone();
        worker.run(move |session| {
            let client = session.client().map_err(|e| JournalError::Open {
                path,
                source: Box::new(e),
            })?;
            schema::migrate(client)
        })?;
        Ok(Self { worker, location })
    }

    /// The URL it was opened with (a password in it masked).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The highest migration applied to the database.
    pub fn schema_version(&self) -> Result<u32, JournalError> {
        self.read(|c| Ok(schema::schema_version(c)?))
    }

    fn write<T: Send + 'static>(
        &self,
        op: impl FnMut(&mut postgres::Transaction<'_>) -> Result<T, Failure> + Send + 'static,
    ) -> Result<T, JournalError> {
        self.worker.run(move |session| session.write(op))
    }

    fn read<T: Send + 'static>(
        &self,
        op: impl FnMut(&mut postgres::Client) -> Result<T, Failure> + Send + 'static,
    ) -> Result<T, JournalError> {
        self.worker.run(move |session| session.read(op))
    }
}

impl PostgresJournal {
    /// An event, checked against `fence` first when one is given, in one transaction.
    fn append_checked(
        &self,
        fence: Option<Fence>,
        rollout_id: &str,
        at: f64,
        event: &Event,
    ) -> Result<u64, JournalError> {
        let (kind, payload) = event_parts(event)?;
        let (id, event) = (rollout_id.to_string(), event.clone());
        self.write(move |c| {
            if let Some(f) = &fence {
                leases::check(c, f)?;
            }
            lock_running(c, &id)?;
            let seq = insert_numbered(c, "events", &id, at, &kind, &payload)?;
            match &event {
                Event::WeightChanged { to, .. } => {
                    c.execute(
                        "UPDATE rollouts SET weight = $2 WHERE id = $1",
                        &[&id, &i16::from(*to)],
                    )?;
                }
                Event::Finished {
                    outcome,
                    reason,
                    weight,
                } => finish_in(c, &id, *outcome, reason, *weight)?,
                _ => {}
            }
            Ok(seq)
        })
    }

    /// An intent, checked against `fence` first when one is given.
    fn intent_checked(
        &self,
        fence: Option<Fence>,
        rollout_id: &str,
        at: f64,
        kind: &str,
        payload: Value,
    ) -> Result<u64, JournalError> {
        let (id, kind) = (rollout_id.to_string(), kind.to_string());
        self.write(move |c| {
            if let Some(f) = &fence {
                leases::check(c, f)?;
            }
            lock_running(c, &id)?;
            insert_numbered(c, "intents", &id, at, &kind, &payload)
        })
    }
}

type BoxError = super::BoxError;

/// `url` with any password (`user:PASSWORD@`, `password=PASSWORD`) masked, for messages.
fn redacted(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => authority.to_string(),
        },
        None => authority.to_string(),
    };
    let tail = tail
        .split('&')
        .map(|part| match part.find("password=") {
            Some(i) => format!("{}password=***", &part[..i]),
            None => part.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&");
    format!("{scheme}://{authority}{tail}")
}

/// Parses the URL, refusing an inline password, and fills in the defaults.
fn config(url: &str) -> Result<Config, BoxError> {
    let mut config = Config::from_str(url)?;
    if config.get_password().is_some() {
        return Err(format!(
            "the URL carries a password: remove it and export {PASSWORD_ENV} instead"
        )
        .into());
    }
    if let Some(password) = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty()) {
        config.password(password);
    }
    if config.get_user().is_none() {
        let user = std::env::var("PGUSER")
            .or_else(|_| std::env::var("USER"))
            .map_err(|_| "no user in the URL: write postgres://USER@HOST:PORT/DB")?;
        config.user(&user);
    }
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(CONNECT_TIMEOUT);
    }
    if config.get_application_name().is_none() {
        config.application_name("deploy-agent");
    }
    Ok(config)
}

// === impl Journal ===

impl Journal for PostgresJournal {
    fn begin(&self, r: &RolloutRecord) -> Result<(), JournalError> {
        let r = r.clone();
        self.write(move |c| {
            let inserted = c.execute(
                &*format!("INSERT INTO rollouts ({ROLLOUT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) ON CONFLICT (id) DO NOTHING"),
                &[&r.id, &r.service, &r.rev, &r.target, &r.planner, &r.started_at, &r.finished_at, &r.outcome, &i16::from(r.weight), &r.reason],
            )?;
            if inserted == 0 {
                return Err(rules::duplicate_rollout(&r.id).into());
            }
            Ok(())
        })
    }

    fn append(&self, rollout_id: &str, at: f64, event: &Event) -> Result<u64, JournalError> {
        self.append_checked(None, rollout_id, at, event)
    }

    fn intent(
        &self,
        rollout_id: &str,
        at: f64,
        kind: &str,
        payload: Value,
    ) -> Result<u64, JournalError> {
        self.intent_checked(None, rollout_id, at, kind, payload)
    }

    fn append_fenced(
        &self,
        fence: &Fence,
        rollout_id: &str,
        at: f64,
        event: &Event,
    ) -> Result<u64, JournalError> {
        self.append_checked(Some(fence.clone()), rollout_id, at, event)
    }

    fn intent_fenced(
        &self,
        fence: &Fence,
        rollout_id: &str,
        at: f64,
        kind: &str,
        payload: Value,
    ) -> Result<u64, JournalError> {
        self.intent_checked(Some(fence.clone()), rollout_id, at, kind, payload)
    }

    fn acquire_lease(&self, req: &LeaseRequest) -> Result<Lease, JournalError> {
        let req = req.clone();
        self.write(move |c| leases::acquire(c, &req))
    }

    fn renew_lease(&self, fence: &Fence, ttl: f64, now: f64) -> Result<Lease, JournalError> {
        let fence = fence.clone();
        self.write(move |c| leases::renew(c, &fence, ttl, now))
    }

    fn release_lease(&self, fence: &Fence) -> Result<(), JournalError> {
        let fence = fence.clone();
        self.write(move |c| leases::release(c, &fence))
    }

    fn leases(&self) -> Result<Vec<Lease>, JournalError> {
        self.read(leases::all)
    }

    fn claim_merge(
        &self,
        delivery_id: &str,
        detail: &str,
        rev: &str,
        services: &[String],
        now: f64,
    ) -> Result<Option<Vec<String>>, JournalError> {
        let (id, detail, rev) = (delivery_id.to_string(), detail.to_string(), rev.to_string());
        let services = services.to_vec();
        self.write(move |c| {
            let first = c.execute(
                "INSERT INTO deliveries (delivery_id, received_at, detail) VALUES ($1, $2, $3) \
                 ON CONFLICT (delivery_id) DO NOTHING",
                &[&id, &now, &detail],
            )?;
            if first == 0 {
                return Ok(None);
            }
            let mut fresh = Vec::new();
            for service in &services {
                let n = c.execute(
                    "INSERT INTO merges (service, rev, delivery_id, claimed_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (service, rev) DO NOTHING",
                    &[service, &rev, &id, &now],
                )?;
                if n == 1 {
                    fresh.push(service.clone());
                }
            }
            Ok(Some(fresh))
        })
    }

    fn set_approval_message(
        &self,
        rollout_id: &str,
        rev: &str,
        message: &str,
    ) -> Result<(), JournalError> {
        let (id, rev, message) = (rollout_id.to_string(), rev.to_string(), message.to_string());
        self.write(move |c| leases::set_message(c, &id, &rev, &message))
    }

    fn approval_message(
        &self,
        rollout_id: &str,
        rev: &str,
    ) -> Result<Option<String>, JournalError> {
        let (id, rev) = (rollout_id.to_string(), rev.to_string());
        self.read(move |c| leases::message(c, &id, &rev))
    }

    fn applied(
        &self,
        rollout_id: &str,
        intent_seq: u64,
        ok: bool,
        detail: &str,
    ) -> Result<(), JournalError> {
        let id = rollout_id.to_string();
        let not_found = move || JournalError::IntentNotFound {
            rollout_id: id.clone(),
            seq: intent_seq,
        };
        let seq = i64::try_from(intent_seq).map_err(|_| not_found())?;
        let (id, detail) = (rollout_id.to_string(), detail.to_string());
        self.write(move |c| {
            let changed = c.execute(
                "UPDATE intents SET applied_wall = $3, ok = $4, detail = $5 \
                 WHERE rollout_id = $1 AND seq = $2 AND applied_wall IS NULL",
                &[&id, &seq, &wall_now(), &ok, &detail],
            )?;
            if changed == 1 {
                return Ok(());
            }
            let exists = c.query_opt(
                "SELECT 1 FROM intents WHERE rollout_id = $1 AND seq = $2",
                &[&id, &seq],
            )?;
            Err(match exists {
                Some(_) => rules::applied_twice(&id, intent_seq),
                None => not_found(),
            }
            .into())
        })
    }

    fn finish(
        &self,
        rollout_id: &str,
        outcome: Outcome,
        reason: &str,
        weight: u8,
    ) -> Result<(), JournalError> {
        let (id, reason) = (rollout_id.to_string(), reason.to_string());
        self.write(move |c| finish_in(c, &id, outcome, &reason, weight))
    }

    fn rollout(&self, id: &str) -> Result<RolloutRecord, JournalError> {
        let id = id.to_string();
        self.read(move |c| require_rollout(c, &id))
    }

    fn list(
        &self,
        service: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RolloutRecord>, JournalError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let service = service.map(str::to_string);
        self.read(move |c| {
            let rows = c.query(
                &*format!(
                    "SELECT {ROLLOUT_COLUMNS} FROM rollouts WHERE $1::TEXT IS NULL OR service = $1 \
                     ORDER BY started_at DESC, id DESC LIMIT $2"
                ),
                &[&service, &limit],
            )?;
            rows.iter().map(rollout_row).collect()
        })
    }

    fn events(&self, rollout_id: &str) -> Result<Vec<StoredEvent>, JournalError> {
        let id = rollout_id.to_string();
        self.read(move |c| {
            require_rollout(c, &id)?;
            let rows = c.query(
                &*format!(
                    "SELECT {NUMBERED_COLUMNS} FROM events WHERE rollout_id = $1 ORDER BY seq"
                ),
                &[&id],
            )?;
            rows.iter().map(numbered_row).collect()
        })
    }

    fn unfinished(&self) -> Result<Vec<RolloutRecord>, JournalError> {
        self.read(|c| {
            let rows = c.query(
                &*format!(
                    "SELECT {ROLLOUT_COLUMNS} FROM rollouts WHERE finished_at IS NULL ORDER BY started_at"
                ),
                &[],
            )?;
            rows.iter().map(rollout_row).collect()
        })
    }

    fn open_intents(&self, rollout_id: &str) -> Result<Vec<Intent>, JournalError> {
        let id = rollout_id.to_string();
        self.read(move |c| {
            require_rollout(c, &id)?;
            let rows = c.query(
                &*format!(
                    "SELECT {NUMBERED_COLUMNS} FROM intents \
                     WHERE rollout_id = $1 AND applied_wall IS NULL ORDER BY seq"
                ),
                &[&id],
            )?;
            rows.iter().map(numbered_row).collect()
        })
    }

    fn request_approval(
        &self,
        rollout_id: &str,
        rev: &str,
        summary: &str,
        deadline_wall: f64,
        required: u32,
    ) -> Result<(), JournalError> {
        let (id, rev, summary) = (rollout_id.to_string(), rev.to_string(), summary.to_string());
        let required = i32::try_from(required.max(1)).unwrap_or(i32::MAX);
        self.write(move |c| {
            lock_running(c, &id)?;
            c.execute(
                &*format!("INSERT INTO approvals ({APPROVAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, NULL, NULL, NULL, NULL, $6) ON CONFLICT (rollout_id, rev) DO NOTHING"),
                &[&id, &rev, &wall_now(), &deadline_wall, &summary, &required],
            )?;
            Ok(())
        })
    }

    fn decide_approval(
        &self,
        rollout_id: &str,
        rev: &str,
        d: &ApprovalDecision,
    ) -> Result<ApprovalProgress, JournalError> {
        let (id, rev, d) = (rollout_id.to_string(), rev.to_string(), d.clone());
        self.write(move |c| {
            // Locks in the order every write takes them (rollout, then request), so
            // two replicas deciding at once queue instead of deadlocking.
            let rollout =
                find_rollout(c, &id, true)?.ok_or_else(|| JournalError::NotFound(id.clone()))?;
            let Some(status) = approval_in(c, &id, &rev, true)? else {
                return Err(wrong_request(c, &id, &rev)?.into());
            };
            let required = match (&status, rollout.finished_at) {
                (ApprovalStatus::Pending(p), None) if d.decided_at <= p.deadline => p.required,
                _ => return Err(rules::refusal(&id, &rollout, status).into()),
            };
            if let Some(voter) = &d.by {
                if let Some(approvals) = votes::vote(c, &id, &rev, voter, &d, required)? {
                    return Ok(ApprovalProgress::Waiting {
                        approvals,
                        required,
                    });
                }
            }
            // The guard against a second decision is `decided_at IS NULL`, read and
            // written under the request's row lock.
            let changed = c.execute(
                "UPDATE approvals SET decided_at = $3, approved = $4, decided_by = $5, reason = $6 \
                 WHERE rollout_id = $1 AND rev = $2 AND decided_at IS NULL AND deadline >= $3",
                &[&id, &rev, &d.decided_at, &d.approved, &d.by, &d.reason],
            )?;
            if changed == 1 {
                return Ok(ApprovalProgress::Decided);
            }
            Err(rules::refusal(&id, &rollout, status).into())
        })
    }

    fn approval_votes(
        &self,
        rollout_id: &str,
        rev: &str,
    ) -> Result<Vec<ApprovalVote>, JournalError> {
        let (id, rev) = (rollout_id.to_string(), rev.to_string());
        self.read(move |c| votes::votes_in(c, &id, &rev))
    }

    fn issue_nonce(&self, rollout_id: &str, rev: &str, nonce: &str) -> Result<(), JournalError> {
        let (id, rev, nonce) = (rollout_id.to_string(), rev.to_string(), nonce.to_string());
        self.write(move |c| votes::issue_nonce_in(c, &id, &rev, &nonce))
    }

    fn take_nonce(
        &self,
        nonce: &str,
        rollout_id: &str,
        rev: &str,
        user: &str,
    ) -> Result<bool, JournalError> {
        let (nonce, id, rev, user) = (
            nonce.to_string(),
            rollout_id.to_string(),
            rev.to_string(),
            user.to_string(),
        );
        self.write(move |c| votes::take_nonce_in(c, &nonce, &id, &rev, &user))
    }

    fn approval_status(
        &self,
        rollout_id: &str,
        rev: &str,
    ) -> Result<Option<ApprovalStatus>, JournalError> {
        let (id, rev) = (rollout_id.to_string(), rev.to_string());
        self.read(move |c| approval_in(c, &id, &rev, false))
    }

    fn pending_approvals(&self) -> Result<Vec<PendingApproval>, JournalError> {
        self.read(|c| {
            let rows = c.query(
                &*format!(
                    "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE decided_at IS NULL ORDER BY requested_at"
                ),
                &[],
            )?;
            let mut pending = Vec::with_capacity(rows.len());
            for row in &rows {
                if let ApprovalStatus::Pending(p) = approval_row(row)? {
                    pending.push(p);
                }
            }
            Ok(pending)
        })
    }
}

impl From<PgTrouble> for JournalError {
    fn from(e: PgTrouble) -> Self {
        JournalError::Storage(Box::new(e))
    }
}

#[cfg(test)]
mod tests {
    use super::{is_url, redacted};

    #[test]
    fn passwords_never_reach_messages() {
        for (url, shown) in [
            ("postgres://u@h:5432/db", "postgres://u@h:5432/db"),
            ("postgres://u:pw@h:5432/db", "postgres://u:***@h:5432/db"),
            ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),
            (
                "postgres://u@h/db?password=pw&x=1",
                "postgres://u@h/db?password=***&x=1",
            ),
        ] {
            assert_eq!(redacted(url), shown, "{url}");
        }
    }

    #[test]
    fn only_postgres_urls_select_the_postgres_backend() {
        assert!(is_url("postgres://u@h/db") && is_url("postgresql://u@h/db"));
        assert!(!is_url(".deploy-agent/journal.db") && !is_url("postgres.db"));
    }
}
