//! The `postgres://` URL: what it may carry, the defaults filled in, and how it is
//! named in messages (never with a password).

use std::str::FromStr;
use std::time::Duration;

use tokio_postgres::config::Host;
use tokio_postgres::error::SqlState;
use tokio_postgres::Config;

use super::trouble::{chain, PgTrouble};
use super::PASSWORD_ENV;
use crate::journal::BoxError;

/// How long connecting may take before an attempt counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether `location` names a Postgres database rather than a SQLite file.
pub fn is_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

/// The server and database a URL names, for messages that say what to do.
#[derive(Debug, Clone)]
pub(super) struct Target {
    /// The URL, a password in it masked.
    pub(super) location: String,
    database: String,
    /// `host:port`.
    server: String,
    /// `createdb`'s options naming the same server and user.
    createdb_args: String,
}

impl Target {
    pub(super) fn new(config: &Config, location: String) -> Self {
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(host)) => Some(host.clone()),
            #[cfg(unix)]
            Some(Host::Unix(dir)) => Some(dir.display().to_string()),
            None => None,
        };
        let port = config.get_ports().first().copied();
        let user = config.get_user();
        // The server's default: a database named after the user.
        let database = config.get_dbname().or(user).unwrap_or_default().to_string();
        let mut createdb_args = String::new();
        for (flag, value) in [
            ("-h", host.clone()),
            ("-p", port.map(|p| p.to_string())),
            ("-U", user.map(str::to_string)),
        ] {
            if let Some(value) = value {
                createdb_args.push_str(&format!("{flag} {value} "));
            }
        }
        let server = format!(
            "{}:{}",
            host.as_deref().unwrap_or("localhost"),
            port.unwrap_or(5432)
        );
        Self {
            location,
            database,
            server,
            createdb_args,
        }
    }

    /// The message for a login refused with `code` (see `trouble::login_refusal`).
    pub(super) fn refused(&self, code: &SqlState, error: &tokio_postgres::Error) -> PgTrouble {
        if *code == SqlState::INVALID_CATALOG_NAME {
            return PgTrouble::MissingDatabase {
                database: self.database.clone(),
                server: self.server.clone(),
                createdb_args: self.createdb_args.clone(),
            };
        }
        PgTrouble::LoginRefused {
            location: self.location.clone(),
            detail: chain(error),
        }
    }
}

/// `url` with any password (`user:PASSWORD@`, `password=PASSWORD`) masked, for messages.
pub(super) fn redacted(url: &str) -> String {
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
pub(super) fn config(url: &str) -> Result<Config, BoxError> {
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

#[cfg(test)]
mod tests {
    use super::{config, is_url, redacted, Target};

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

    /// The message for a missing database names it and the `createdb` that makes it.
    #[test]
    fn a_missing_database_is_named_with_the_command_that_creates_it() {
        for (url, database, server, args) in [
            (
                "postgres://ann@db.example:6543/journal",
                "journal",
                "db.example:6543",
                "-h db.example -p 6543 -U ann ",
            ),
            (
                "postgres://ann@db.example",
                "ann",
                "db.example:5432",
                "-h db.example -p 5432 -U ann ",
            ),
        ] {
            let target = Target::new(&config(url).unwrap(), redacted(url));
            assert_eq!(
                (
                    target.database.as_str(),
                    target.server.as_str(),
                    target.createdb_args.as_str()
                ),
                (database, server, args),
                "{url}"
            );
        }
    }
}
