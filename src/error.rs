//! ferry's one error type. Every variant maps to one exit code, here and nowhere else.

use crate::core::graph::TargetError;
use crate::core::plan::PlanError;
use crate::core::release::ReleaseError;
use crate::core::set::SetError;

/// An error reported by a database, with passwords already removed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DbError {
    pub message: String,
    /// The statement that failed, when the driver knows it.
    pub statement: Option<String>,
}

impl DbError {
    pub fn new(message: impl Into<String>) -> DbError {
        DbError {
            message: message.into(),
            statement: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The command line is wrong (exit 2).
    #[error("{0}")]
    Usage(String),
    /// The migration set breaks a rule (exit 2).
    #[error("migration set: {0}")]
    Set(#[from] SetError),
    /// The target does not resolve (exit 2).
    #[error("{0}")]
    Target(#[from] TargetError),
    /// A release requirement that does not parse, match, or fit what was asked (exit 2).
    #[error("{0}")]
    Release(#[from] ReleaseError),
    /// The set cannot run what was asked on this dialect (exit 2).
    #[error("{0}")]
    Unsupported(String),
    /// Applied revisions whose SQL changed since they ran (exit 2).
    #[error(
        "applied revision(s) changed since they ran:\n{details}\nIf the change is intended (e.g. a comment or a fix that is already applied), pass --accept-edited REV for each; it is recorded in ferry_history"
    )]
    Edited { details: String },
    /// The database's state is refused (exit 3).
    #[error("the database is {state}: {reason}")]
    Refused { state: &'static str, reason: String },
    /// A step failed and was rolled back (exit 4).
    #[error(
        "{step} failed and was rolled back: {source}{}\nThe database is at {position}; fix the cause and run `ferry upgrade` again to continue from there.{}",
        source.statement.as_deref().map(|s| format!("\n  in statement: {s}")).unwrap_or_default(),
        backup.as_ref().map(|b| format!("\nA verified backup taken before this run is at {}; to restore it, {}.", b.path.display(), b.restore)).unwrap_or_default()
    )]
    StepFailed {
        step: String,
        position: String,
        source: DbError,
        backup: Option<Box<crate::driver::Backup>>,
    },
    /// Building a fixture failed at a step (exit 4).
    #[error("building the fixture failed: {step} failed and was rolled back: {source}{}\n{after}",
        source.statement.as_deref().map(|s| format!("\n  in statement: {s}")).unwrap_or_default())]
    FixtureFailed {
        step: String,
        source: DbError,
        /// What became of the database.
        after: String,
    },
    /// A step failed while ferry built a position of the set in a scratch database (exit 4):
    /// the live database was not touched.
    #[error(
        "{purpose}: {step} failed in the scratch database: {source}{}\nThe scratch database is thrown away and the live \
         database was not touched: the migration set's step fails when it is built from scratch (an error in its SQL, or \
         something the server lacks, such as an extension or a role).",
        source.statement.as_deref().map(|s| format!("\n  in statement: {s}")).unwrap_or_default()
    )]
    ScratchFailed {
        /// The command and what it was building, e.g. `verify: building the expected schema at revision 0002`.
        purpose: String,
        step: String,
        source: DbError,
    },
    /// Another process holds the lock (exit 5).
    #[error(
        "could not take the migration lock within {waited_secs}s: {holder}. Wait for it to finish, or raise --lock-timeout"
    )]
    Locked { holder: String, waited_secs: u64 },
    /// The database cannot be opened or reached (exit 6).
    #[error("cannot open {target}: {message}")]
    Open { target: String, message: String },
    /// Reading the database failed (exit 6).
    #[error("{context}: {source}")]
    Database { context: String, source: DbError },
    /// A file ferry was asked to write (exit 2).
    #[error("{path}: {message}")]
    Io { path: String, message: String },
    /// The `[handoff]` command exited non-zero after the bridge (exit: the command's status).
    #[error(
        "the hand-off command `{command}` {how}. The bridge before it is committed: the database was at {position} \
         when ferry handed off. The command's own output is above; fix the cause and run `ferry upgrade` again (it \
         bridges nothing more and hands off again)"
    )]
    HandoffFailed {
        command: String,
        /// The command's exit status (never 0), which ferry exits with.
        status: u8,
        how: String,
        position: String,
    },
    /// The `[handoff]` command could not be started at all (exit 2).
    #[error("cannot start the hand-off command `{command}`: {message}")]
    HandoffStart { command: String, message: String },
}

impl From<PlanError> for Error {
    fn from(e: PlanError) -> Error {
        match e {
            PlanError::Refused { state, reason } => Error::Refused { state, reason },
            PlanError::Target(t) => Error::Target(t),
            PlanError::Unsupported(m) => Error::Unsupported(m),
        }
    }
}

impl Error {
    /// The documented exit code (spec §4).
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Usage(_)
            | Error::Edited { .. }
            | Error::Set(_)
            | Error::Target(_)
            | Error::Release(_)
            | Error::Unsupported(_)
            | Error::Io { .. }
            | Error::HandoffStart { .. } => 2,
            Error::Refused { .. } => 3,
            Error::StepFailed { .. }
            | Error::FixtureFailed { .. }
            | Error::ScratchFailed { .. } => 4,
            Error::Locked { .. } => 5,
            Error::Open { .. } | Error::Database { .. } => 6,
            Error::HandoffFailed { status, .. } => *status,
        }
    }

    /// A stable machine-readable name, for `--json`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Usage(_) => "usage",
            Error::Set(_) => "migration_set",
            Error::Target(_) => "target",
            Error::Release(_) => "release",
            Error::Unsupported(_) => "unsupported",
            Error::Refused { .. } => "refused",
            Error::Edited { .. } => "edited_revision",
            Error::StepFailed { .. } | Error::FixtureFailed { .. } => "step_failed",
            Error::ScratchFailed { .. } => "scratch_failed",
            Error::Locked { .. } => "locked",
            Error::Open { .. } => "open",
            Error::Database { .. } => "database",
            Error::Io { .. } => "io",
            Error::HandoffFailed { .. } => "handoff_failed",
            Error::HandoffStart { .. } => "handoff_start",
        }
    }

    /// Extra fields of the error's JSON object, where the error has any.
    pub fn detail(&self) -> Option<(&'static str, serde_json::Value)> {
        match self {
            Error::HandoffFailed {
                command,
                status,
                position,
                ..
            } => Some((
                "handoff",
                serde_json::json!({"command": command, "status": status, "position": position}),
            )),
            Error::HandoffStart { command, .. } => {
                Some(("handoff", serde_json::json!({"command": command})))
            }
            _ => None,
        }
    }

    /// Wraps a read failure with what ferry was doing.
    pub fn reading(context: impl Into<String>) -> impl FnOnce(DbError) -> Error {
        let context = context.into();
        move |source| Error::Database { context, source }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
