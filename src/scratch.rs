//! Scratch databases: where ferry builds what a position of the migration set looks like
//! (for `verify`, identifying unversioned databases, `upgrade-test`), never in the live one.
//!
//! SQLite: an in-memory database. PostgreSQL: a schema of its own in the same database,
//! created for the purpose and dropped (with everything in it) when the scratch is dropped.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use crate::core::graph::Graph;
use crate::core::guard::Object;
use crate::core::schema::{Schema, Scope};
use crate::core::set::{Dialect, MigrationSet};
use crate::core::state::Position;
use crate::core::state::State;
use crate::driver::url::DatabaseUrl;
use crate::driver::{self, Driver, OpenOptions, Rows, quote};
use crate::error::{DbError, Error, Result};
use crate::fixture::{self, TestDirs};
use crate::runner::{BackupPolicy, Runner};

/// A private, throwaway database of the same dialect (and server) as a live one.
pub struct Scratch {
    driver: Private,
    /// PostgreSQL: the connection that created the scratch schema, and its name, to drop it.
    owner: Option<(Box<dyn Driver>, String)>,
}

impl Scratch {
    /// A scratch database beside `like`: in memory for SQLite, a new schema on the same
    /// PostgreSQL database (the role needs CREATE on it).
    pub fn beside(like: &DatabaseUrl) -> Result<Scratch> {
        let options = |schema: Option<String>| OpenOptions {
            create: true,
            schema,
            busy_timeout: Duration::from_secs(5),
        };
        match like {
            DatabaseUrl::SqliteFile(..) | DatabaseUrl::SqliteMemory => Ok(Scratch {
                driver: Private(driver::open(&DatabaseUrl::SqliteMemory, &options(None))?),
                owner: None,
            }),
            DatabaseUrl::Postgres(_) => {
                let mut owner = driver::open(like, &options(None))?;
                let name = scratch_schema_name();
                owner
                    .execute(&format!("CREATE SCHEMA {}", quote(&name)))
                    .map_err(|e| Error::Open {
                        target: like.display(),
                        message: format!(
                            "cannot create the scratch schema {name} that ferry builds the expected schema in \
                             (the role needs CREATE on the database): {e}"
                        ),
                    })?;
                let scratch = driver::open(like, &options(Some(name.clone())));
                match scratch {
                    Ok(d) => Ok(Scratch {
                        driver: Private(d),
                        owner: Some((owner, name)),
                    }),
                    Err(e) => {
                        let _ = owner.execute(&format!("DROP SCHEMA {} CASCADE", quote(&name)));
                        Err(e)
                    }
                }
            }
        }
    }

    pub fn driver(&mut self) -> &mut dyn Driver {
        &mut self.driver
    }

    pub fn dialect(&self) -> Dialect {
        self.driver.dialect()
    }

    /// Builds `target` (from empty) in the scratch database, without seeds, and returns its
    /// schema as a comparison sees it (ferry's tables and the marker's left out).
    pub fn schema_of(
        &mut self,
        set: &MigrationSet,
        graph: &Graph,
        target: &Position,
        dirs: &TestDirs,
    ) -> Result<Schema> {
        {
            let mut runner = Runner::new(set, graph, &mut self.driver);
            runner.backup = BackupPolicy::Off;
            fixture::build(&mut runner, target, dirs)?;
        }
        self.snapshot(set)
    }

    /// The scratch database's schema as a comparison sees it.
    pub fn snapshot(&mut self, set: &MigrationSet) -> Result<Schema> {
        self.driver
            .snapshot(&crate::bookkeeping::skipped_tables(set))
            .map_err(Error::reading("reading the scratch database's schema"))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Some((owner, name)) = &mut self.owner {
            let _ = owner.execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", quote(name)));
        }
    }
}

/// Unique per process and call, and recognizable if a killed run ever leaves one behind.
fn scratch_schema_name() -> String {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "ferry_scratch_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The schema a database at `state` should have, built in a scratch database beside `like`.
/// `None` for states that have no defined schema (unversioned, ahead, inconsistent, a
/// future legacy version).
pub fn expected_schema(
    set: &MigrationSet,
    graph: &Graph,
    like: &DatabaseUrl,
    state: &State,
) -> Result<Option<Schema>> {
    let Some(target) = Position::of_state(state) else {
        return Ok(None);
    };
    let mut scratch = Scratch::beside(like)?;
    let dirs = TestDirs::of(set, None);
    Ok(Some(scratch.schema_of(set, graph, &target, &dirs)?))
}

/// The schema after every legacy step, in chain order: the empty database first, then the
/// schema after each step (`set.legacy[i]` is index i + 1), built by replaying the chain once
/// in a scratch database beside `like`.
pub fn legacy_schemas(
    set: &MigrationSet,
    graph: &Graph,
    like: &DatabaseUrl,
) -> Result<Vec<Schema>> {
    Ok(legacy_schemas_by_version(set, graph, like)?
        .into_iter()
        .map(|(_, schema)| schema)
        .collect())
}

/// The schema of every legacy version a step leaves, with its number: `(0, empty)` first, then
/// `(N, schema after step N)` for each step in order.
pub fn legacy_schemas_by_version(
    set: &MigrationSet,
    graph: &Graph,
    like: &DatabaseUrl,
) -> Result<Vec<(u32, Schema)>> {
    let mut scratch = Scratch::beside(like)?;
    let mut schemas = vec![(0, scratch.snapshot(set)?)];
    let dirs = TestDirs::default();
    for n in set.step_numbers() {
        {
            let mut runner = Runner::new(set, graph, &mut scratch.driver);
            runner.backup = BackupPolicy::Off;
            fixture::extend_legacy(&mut runner, n, &dirs)?;
        }
        schemas.push((n, scratch.snapshot(set)?));
    }
    Ok(schemas)
}

/// A scratch database is private to this process: no other ferry can reach it, so the
/// migration lock (and a backup) would only cost a connection or a file.
struct Private(Box<dyn Driver>);

impl Driver for Private {
    fn dialect(&self) -> Dialect {
        self.0.dialect()
    }
    fn tables(&mut self) -> Result<Vec<String>, DbError> {
        self.0.tables()
    }
    fn exists(&mut self, object: &Object) -> Result<bool, DbError> {
        self.0.exists(object)
    }
    fn query(&mut self, sql: &str) -> Result<Rows, DbError> {
        self.0.query(sql)
    }
    fn execute(&mut self, script: &str) -> Result<(), DbError> {
        self.0.execute(script)
    }
    fn copy_in(&mut self, statement: &str, data: &str) -> Result<(), DbError> {
        self.0.copy_in(statement, data)
    }
    fn begin(&mut self) -> Result<(), DbError> {
        self.0.begin()
    }
    fn commit(&mut self) -> Result<(), DbError> {
        self.0.commit()
    }
    fn rollback(&mut self) -> Result<(), DbError> {
        self.0.rollback()
    }
    fn start_run(&mut self) -> Result<(), DbError> {
        self.0.start_run()
    }
    fn finish_run(&mut self) -> Result<(), DbError> {
        self.0.finish_run()
    }
    fn lock(&mut self, _timeout: Duration) -> Result<Result<(), String>, DbError> {
        Ok(Ok(()))
    }
    fn unlock(&mut self) -> Result<(), DbError> {
        Ok(())
    }
    fn lock_holder(&mut self) -> Result<Option<String>, DbError> {
        Ok(None)
    }
    fn required_columns(&mut self, table: &str) -> Result<Vec<String>, DbError> {
        self.0.required_columns(table)
    }
    fn managed_schema(&self) -> Option<String> {
        self.0.managed_schema()
    }
    fn session_restore(&self) -> String {
        self.0.session_restore()
    }
    fn snapshot(&mut self, skip: &[&str]) -> Result<Schema, DbError> {
        self.0.snapshot(skip)
    }
    fn snapshot_in(&mut self, skip: &[&str], scope: &Scope) -> Result<Schema, DbError> {
        self.0.snapshot_in(skip, scope)
    }
}
