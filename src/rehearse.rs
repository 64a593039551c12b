//! `upgrade --rehearse`: the whole plan really runs, timed step by step, and is then undone,
//! so the database is left as it was.
//!
//! - PostgreSQL: one transaction around the run, rolled back at the end; each step's own
//!   transaction becomes a savepoint ([`Savepoints`]). A `transaction = false` step cannot run
//!   inside a transaction: its script is not run, and the report says so.
//! - SQLite: the run goes to a `VACUUM INTO` copy in a temporary directory, removed afterwards.
//!
//! The migration lock is held throughout, as for `upgrade`.

use std::cell::Cell;
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::core::guard::Object;
use crate::core::plan::{self, Plan};
use crate::core::schema::{Schema, Scope};
use crate::core::set::Dialect;
use crate::core::state::State;
use crate::driver::url::DatabaseUrl;
use crate::driver::{self, Driver, OpenOptions, Rows, literal};
use crate::error::{DbError, Error, Result};
use crate::runner::{BackupPolicy, Event, Runner, StepReport};

/// Why a PostgreSQL rehearsal does not run a non-transactional script.
pub const NOT_IN_A_TRANSACTION: &str = "transaction = false: PostgreSQL cannot run it inside the rehearsal's transaction (e.g. CREATE INDEX CONCURRENTLY); its bookkeeping was rehearsed, its script was not";

/// What a rehearsal did.
#[derive(Debug, Clone, Serialize)]
pub struct Rehearsal {
    /// How the database was kept untouched.
    pub method: &'static str,
    pub before: State,
    /// The steps that ran (all of them, or those before the failure), with their times.
    pub steps: Vec<StepReport>,
    /// The version table's rows the upgrade would leave.
    pub heads_after: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<Failure>,
    pub total_ms: u128,
}

/// The step that failed, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Failure {
    pub step: String,
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub statement: Option<String>,
    pub duration_ms: u128,
}

impl Rehearsal {
    /// The steps whose scripts the rehearsal could not run, with the reason.
    pub fn not_rehearsed(&self) -> Vec<(&str, &str)> {
        self.steps
            .iter()
            .filter_map(|s| s.not_rehearsed.as_deref().map(|r| (s.label.as_str(), r)))
            .collect()
    }
}

/// Rehearses `upgrade TARGET`. A step that fails is reported in [`Rehearsal::failed`]; other
/// errors (lock, refused state, bad target, edited revisions) are returned as for `upgrade`.
pub fn rehearse(runner: &mut Runner<'_>, target: &str) -> Result<Rehearsal> {
    let started = Instant::now();
    let mut rehearsal = match runner.driver.dialect() {
        Dialect::Postgres => in_transaction(runner, target)?,
        Dialect::Sqlite => on_a_copy(runner, target)?,
    };
    rehearsal.total_ms = started.elapsed().as_millis();
    Ok(rehearsal)
}

/// PostgreSQL: BEGIN, every step in a savepoint, ROLLBACK.
fn in_transaction(runner: &mut Runner<'_>, target: &str) -> Result<Rehearsal> {
    runner.locked(|r| {
        let (state, probe) = r.inspect()?;
        let plan = plan::upgrade(r.set, r.graph, &state, target)?;
        plan::check_runnable(r.set, &plan, r.driver.dialect())?;
        r.driver
            .begin()
            .map_err(Error::reading("starting the rehearsal's transaction"))?;
        let (set, graph, accept) = (r.set, r.graph, r.accept_edited.clone());
        let outer = &mut r.on_event;
        let mut savepoints = Savepoints {
            inner: &mut *r.driver,
        };
        let failed_after = Rc::new(Cell::new(None));
        let outcome = {
            let mut inner = Runner::new(set, graph, &mut savepoints);
            inner.backup = BackupPolicy::Off;
            inner.accept_edited = accept;
            inner.rehearsal = Some(NOT_IN_A_TRANSACTION);
            inner.on_event = timed(outer, failed_after.clone());
            let result = inner
                .refuse_edited(&state, &probe)
                .and_then(|()| inner.execute(state.clone(), &plan));
            (result, std::mem::take(&mut inner.completed))
        };
        // Whatever happened, nothing stays.
        let undone = r.driver.rollback();
        let rehearsal = conclude(
            "in one transaction that was rolled back (each step in a savepoint)",
            state,
            &plan,
            outcome,
            failed_after.get(),
        );
        undone.map_err(Error::reading("rolling the rehearsal back"))?;
        rehearsal
    })
}

/// SQLite: the same run on a `VACUUM INTO` copy, removed afterwards.
fn on_a_copy(runner: &mut Runner<'_>, target: &str) -> Result<Rehearsal> {
    runner.locked(|r| {
        let (state, _) = r.inspect()?;
        // Refuse before copying anything.
        let plan = plan::upgrade(r.set, r.graph, &state, target)?;
        plan::check_runnable(r.set, &plan, r.driver.dialect())?;
        let scratch = Scratch::new()?;
        let copy = scratch.0.join("rehearsal.db");
        r.driver
            .execute(&format!("VACUUM INTO {}", literal(&copy.to_string_lossy())))
            .map_err(Error::reading(
                "copying the database for the rehearsal (VACUUM INTO)",
            ))?;
        let mut db = driver::open(
            &DatabaseUrl::SqliteFile(copy.clone(), Default::default()),
            &OpenOptions {
                create: true, // it exists: this opens it for writing
                schema: None,
                busy_timeout: Duration::from_secs(5),
            },
        )?;
        let failed_after = Rc::new(Cell::new(None));
        let outcome = {
            let mut inner = Runner::new(r.set, r.graph, db.as_mut());
            inner.backup = BackupPolicy::Off;
            inner.accept_edited = r.accept_edited.clone();
            inner.lock_timeout = r.lock_timeout;
            inner.on_event = timed(&mut r.on_event, failed_after.clone());
            let result = inner.locked(|i| {
                let (state, probe) = i.inspect()?;
                i.refuse_edited(&state, &probe)?;
                i.execute(state, &plan)
            });
            (result, std::mem::take(&mut inner.completed))
        };
        drop(db);
        drop(scratch);
        conclude(
            "on a VACUUM INTO copy in a temporary directory, removed afterwards",
            state,
            &plan,
            outcome,
            failed_after.get(),
        )
    })
}

/// Forwards events to the progress bar and remembers when the current step started.
fn timed<'a>(
    outer: &'a mut Box<dyn FnMut(Event<'_>) + '_>,
    started: Rc<Cell<Option<Instant>>>,
) -> Box<dyn FnMut(Event<'_>) + 'a> {
    Box::new(move |event| {
        if let Event::Started { .. } = event {
            started.set(Some(Instant::now()));
        }
        outer(event);
    })
}

/// The report, from the run's result and the steps completed before any failure.
fn conclude(
    method: &'static str,
    before: State,
    plan: &Plan,
    (result, completed): (Result<crate::runner::RunReport>, Vec<StepReport>),
    failed_since: Option<Instant>,
) -> Result<Rehearsal> {
    match result {
        Ok(report) => Ok(Rehearsal {
            method,
            before,
            steps: report.steps,
            heads_after: report.heads,
            failed: None,
            total_ms: 0,
        }),
        Err(Error::StepFailed { step, source, .. }) => Ok(Rehearsal {
            method,
            before,
            steps: completed,
            heads_after: plan.heads_after.clone(),
            failed: Some(Failure {
                step,
                error: source.message,
                statement: source.statement,
                duration_ms: failed_since.map_or(0, |t| t.elapsed().as_millis()),
            }),
            total_ms: 0,
        }),
        Err(other) => Err(other),
    }
}

/// A private temporary directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Scratch> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let base = std::env::temp_dir();
        for attempt in 0..100u32 {
            let dir = base.join(format!(
                "ferry-rehearsal-{}-{nanos}-{attempt}",
                std::process::id()
            ));
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(Scratch(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    return Err(Error::Io {
                        path: dir.display().to_string(),
                        message: format!("cannot create the rehearsal's temporary directory: {e}"),
                    });
                }
            }
        }
        Err(Error::Io {
            path: base.display().to_string(),
            message: "cannot find a free name for the rehearsal's temporary directory".into(),
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A driver inside an open transaction: each step's BEGIN / COMMIT / ROLLBACK becomes
/// SAVEPOINT / RELEASE / ROLLBACK TO, so a step can fail and be undone alone while everything
/// stays in the one transaction the rehearsal rolls back. The lock is the outer run's.
pub struct Savepoints<'d> {
    pub inner: &'d mut dyn Driver,
}

const SAVEPOINT: &str = "ferry_rehearsal_step";

impl Driver for Savepoints<'_> {
    fn dialect(&self) -> Dialect {
        self.inner.dialect()
    }

    fn tables(&mut self) -> Result<Vec<String>, DbError> {
        self.inner.tables()
    }

    fn exists(&mut self, object: &Object) -> Result<bool, DbError> {
        self.inner.exists(object)
    }

    fn query(&mut self, sql: &str) -> Result<Rows, DbError> {
        self.inner.query(sql)
    }

    fn execute(&mut self, script: &str) -> Result<(), DbError> {
        self.inner.execute(script)
    }

    fn copy_in(&mut self, statement: &str, data: &str) -> Result<(), DbError> {
        self.inner.copy_in(statement, data)
    }

    fn begin(&mut self) -> Result<(), DbError> {
        self.inner.execute(&format!("SAVEPOINT {SAVEPOINT}"))
    }

    fn commit(&mut self) -> Result<(), DbError> {
        if let Some(check) = driver::framing(self.dialect()).commit_check
            && !self.inner.query(check)?.is_empty()
        {
            return Err(DbError::new(format!(
                "{check} returned rows: a foreign key points nowhere"
            )));
        }
        self.inner
            .execute(&format!("RELEASE SAVEPOINT {SAVEPOINT}"))
    }

    fn rollback(&mut self) -> Result<(), DbError> {
        self.inner.execute(&format!(
            "ROLLBACK TO SAVEPOINT {SAVEPOINT}; RELEASE SAVEPOINT {SAVEPOINT}"
        ))
    }

    fn lock(&mut self, _timeout: Duration) -> Result<Result<(), String>, DbError> {
        Ok(Ok(())) // held by the outer run
    }

    fn unlock(&mut self) -> Result<(), DbError> {
        Ok(())
    }

    fn lock_holder(&mut self) -> Result<Option<String>, DbError> {
        self.inner.lock_holder()
    }

    fn lock_progress(&mut self, step: &str) {
        self.inner.lock_progress(step);
    }

    fn required_columns(&mut self, table: &str) -> Result<Vec<String>, DbError> {
        self.inner.required_columns(table)
    }
    fn managed_schema(&self) -> Option<String> {
        self.inner.managed_schema()
    }
    fn session_restore(&self) -> String {
        self.inner.session_restore()
    }
    fn snapshot(&mut self, skip: &[&str]) -> Result<Schema, DbError> {
        self.inner.snapshot(skip)
    }
    fn snapshot_in(&mut self, skip: &[&str], scope: &Scope) -> Result<Schema, DbError> {
        self.inner.snapshot_in(skip, scope)
    }
}

#[cfg(test)]
mod tests {
    use super::Scratch;

    #[test]
    fn the_scratch_directory_is_removed_when_dropped() {
        let scratch = Scratch::new().unwrap();
        let path = scratch.0.clone();
        std::fs::write(path.join("x"), "y").unwrap();
        assert!(path.is_dir());
        drop(scratch);
        assert!(!path.exists());
    }
}
