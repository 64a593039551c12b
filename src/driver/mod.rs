//! Dialect drivers. Each one is a thin layer over its client library behind [`Driver`]; what
//! ferry does with a database (bookkeeping, detection, running steps) is written once, above it.
//! Adding a dialect means one file here plus its tests.

pub mod host;
pub mod postgres;
pub mod sqlite;
pub mod url;

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::core::guard::Object;
use crate::core::schema::{Schema, Scope};
use crate::core::set::Dialect;
use crate::error::{DbError, Error, Result};
use url::DatabaseUrl;

/// Rows of a query, every value as text (`None` for NULL).
pub type Rows = Vec<Vec<Option<String>>>;

/// How a driver is opened.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Create a missing SQLite file (only commands that write do).
    pub create: bool,
    /// The PostgreSQL schema every unqualified name resolves to.
    pub schema: Option<String>,
    /// How long a statement waits for a lock held by another connection.
    pub busy_timeout: Duration,
}

/// What ferry needs from a database. Errors are already free of passwords.
pub trait Driver {
    fn dialect(&self) -> Dialect;

    /// The tables of the managed schema (never the database's internal ones).
    fn tables(&mut self) -> Result<Vec<String>, DbError>;

    /// Whether a table, a column or an index exists (for guards).
    fn exists(&mut self, object: &Object) -> Result<bool, DbError>;

    /// Runs a query and returns every value as text.
    fn query(&mut self, sql: &str) -> Result<Rows, DbError>;

    /// Executes a whole script as the database's own batch (never split on `;` by ferry).
    fn execute(&mut self, script: &str) -> Result<(), DbError>;

    /// Runs a `COPY … FROM STDIN` statement with its rows (PostgreSQL's text format, as
    /// `pg_dump` writes them, without the closing `\.`), in the current transaction.
    fn copy_in(&mut self, statement: &str, _data: &str) -> Result<(), DbError> {
        Err(DbError {
            message: format!(
                "COPY … FROM stdin is PostgreSQL's (pg_dump's data format); {} cannot run it: \
                 write the rows as INSERT statements in this dialect's script",
                self.dialect().name()
            ),
            statement: Some(statement.lines().next().unwrap_or(statement).to_string()),
        })
    }

    fn begin(&mut self) -> Result<(), DbError>;

    /// Commits, after the dialect's integrity checks (SQLite: `PRAGMA foreign_key_check`).
    fn commit(&mut self) -> Result<(), DbError>;

    fn rollback(&mut self) -> Result<(), DbError>;

    /// Prepares the connection for running steps (SQLite: foreign keys off, outside any
    /// transaction), and `finish_run` restores it.
    fn start_run(&mut self) -> Result<(), DbError> {
        Ok(())
    }

    fn finish_run(&mut self) -> Result<(), DbError> {
        Ok(())
    }

    /// Takes the whole-run migration lock, waiting at most `timeout`; held until `unlock` or
    /// until the process dies. `Err(holder)` describes who holds it.
    fn lock(&mut self, timeout: Duration) -> Result<Result<(), String>, DbError>;

    fn unlock(&mut self) -> Result<(), DbError>;

    /// Who holds the migration lock right now, if anyone (read-only, for `status`).
    fn lock_holder(&mut self) -> Result<Option<String>, DbError>;

    /// Tells waiting processes which step the holder is at.
    fn lock_progress(&mut self, _step: &str) {}

    /// The schema that holds ferry's own tables and the marker, captured when the connection
    /// was opened (`--schema`, else the connection's current schema; SQLite: `main`). Every
    /// bookkeeping statement names its table with it, whatever a script did to the session.
    fn managed_schema(&self) -> Option<String>;

    /// The statements that put back the session ferry relies on, run after every step's script
    /// (before its bookkeeping and the next step): a script's `SET search_path`, `SET ROLE`,
    /// `SET statement_timeout` or SQLite pragma never reaches ferry's own statements.
    fn session_restore(&self) -> String;

    /// The columns of `table` (in the managed schema) a new row must name: NOT NULL, without
    /// a default, not generated. Empty when the table does not exist.
    fn required_columns(&mut self, table: &str) -> Result<Vec<String>, DbError>;

    /// The normalized schema, without the named tables (ferry's own and the marker's).
    fn snapshot(&mut self, skip: &[&str]) -> Result<Schema, DbError>;

    /// The normalized schema with the other schemas and the extensions `scope` names: their
    /// objects keyed `schema.name`. A dialect with one schema (SQLite: `main`) has nothing
    /// else to read, and this is [`Driver::snapshot`].
    fn snapshot_in(&mut self, skip: &[&str], _scope: &Scope) -> Result<Schema, DbError> {
        self.snapshot(skip)
    }

    /// The column definition of an auto-numbered primary key (for ferry_history).
    fn serial_primary_key(&self) -> &'static str {
        framing(self.dialect()).serial_primary_key
    }

    /// Copies the database before the first write of a run and verifies the copy, where the
    /// dialect can (SQLite files); `None` where it cannot (in memory, a server).
    fn backup(&mut self, _dir: Option<&Path>) -> Result<Option<Backup>, DbError> {
        Ok(None)
    }
}

/// The statements a driver wraps steps in, per dialect. The drivers run these very strings,
/// and `upgrade --sql` prints them, so the script shows what a run does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    pub begin: &'static str,
    pub commit: &'static str,
    pub rollback: &'static str,
    /// Runs inside the transaction right before COMMIT; any row it returns fails the step.
    pub commit_check: Option<&'static str>,
    /// Runs outside any transaction before the first step of a run.
    pub run_start: Option<&'static str>,
    /// Runs after the last step, when the setting `run_start` changed was on before.
    pub run_finish: Option<&'static str>,
    /// Runs after every step's script, in its transaction where it has one: the session
    /// settings ferry relies on, put back whatever the script changed (the driver may add what
    /// it captured at connect, such as PostgreSQL's search path).
    pub restore: &'static str,
    /// The column definition of an auto-numbered primary key (for ferry_history).
    pub serial_primary_key: &'static str,
}

/// The framing of a dialect.
pub fn framing(dialect: Dialect) -> &'static Framing {
    match dialect {
        Dialect::Sqlite => &sqlite::FRAMING,
        Dialect::Postgres => &postgres::FRAMING,
    }
}

/// A verified copy of the database, taken before a run's first write.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Backup {
    pub path: PathBuf,
    /// How to put it back, in words an operator can run.
    pub restore: String,
}

/// Opens a database.
pub fn open(url: &DatabaseUrl, options: &OpenOptions) -> Result<Box<dyn Driver>> {
    match url {
        DatabaseUrl::SqliteFile(..) | DatabaseUrl::SqliteMemory => {
            Ok(Box::new(sqlite::Sqlite::open(url, options)?))
        }
        DatabaseUrl::Postgres(conn) => Ok(Box::new(postgres::Postgres::connect(conn, options)?)),
    }
}

/// An `Error::Open` for a target.
pub(crate) fn open_error(url: &DatabaseUrl, message: impl Into<String>) -> Error {
    Error::Open {
        target: url.display(),
        message: message.into(),
    }
}

/// Quotes an identifier (already validated by the set loader; quotes are doubled anyway).
pub fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}

/// Quotes a string literal.
pub fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
