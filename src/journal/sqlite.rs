//! The SQLite journal: one file shared by every process on the machine.
//!
//! WAL mode so readers (`history`, the approver's polling) never wait for the
//! writer; a busy timeout so two writers (the agent and `deploy-agent approve`)
//! queue instead of failing; every write one IMMEDIATE transaction, so the rules
//! that span rows (next sequence number, decide once) hold across processes.
//!
//! This file opens the store and runs transactions; `methods` is the [`Journal`]
//! impl, `rows`, `votes` and `leases` the statements it runs, `schema` the
//! migrations.
//!
//! [`Journal`]: super::Journal

mod leases;
mod methods;
mod rows;
mod schema;
mod votes;

pub use schema::SCHEMA_VERSION;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use rusqlite::{Connection, ErrorCode, TransactionBehavior};

use schema::{configure, migrate, user_version};

use super::JournalError;

/// A journal in one SQLite file. The connection is behind a mutex: SQLite
/// connections are not `Sync`, and the journal is shared as `Arc<dyn Journal>`.
#[derive(Debug)]
pub struct SqliteJournal {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl SqliteJournal {
    /// Opens (creating the file and its directories) and migrates the journal at `path`.
    pub fn open(path: &Path) -> Result<Self, JournalError> {
        let open_err = |source: Box<dyn std::error::Error + Send + Sync>| JournalError::Open {
            path: path.display().to_string(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| open_err(Box::new(e)))?;
        }
        let mut conn = Connection::open(path).map_err(|e| open_err(Box::new(e)))?;
        configure(&conn).map_err(|e| open_err(Box::new(e)))?;
        migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's `user_version`.
    pub fn schema_version(&self) -> Result<u32, JournalError> {
        Ok(user_version(&self.conn())?)
    }

    /// A poisoned lock is recovered: a panic mid-call dropped its transaction, which rolled back.
    fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` in one IMMEDIATE transaction (takes the write lock up front, so a
    /// read-then-write inside cannot race another process) and commits.
    fn write<T>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, JournalError>,
    ) -> Result<T, JournalError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let value = f(&tx)?;
        tx.commit()?;
        Ok(value)
    }
}

impl From<rusqlite::Error> for JournalError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::Error as E;
        match &e {
            E::FromSqlConversionFailure(..)
            | E::IntegralValueOutOfRange(..)
            | E::InvalidColumnType(..) => JournalError::Corrupt(e.to_string()),
            E::SqliteFailure(f, _)
                if matches!(f.code, ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) =>
            {
                JournalError::Corrupt(e.to_string())
            }
            _ => JournalError::Storage(Box::new(e)),
        }
    }
}
