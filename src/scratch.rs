//! Scratch databases: where ferry builds what a position of the migration set looks like
//! (for `verify`, identifying unversioned databases, `--assume-legacy`, each `upgrade-test`
//! case), never in the live one.
//!
//! SQLite: an in-memory database. PostgreSQL: a throwaway database on the live database's
//! server (or the one `--scratch-url` names), made and removed by
//! [`crate::driver::postgres::scratch`].

use std::time::Duration;

use crate::core::graph::Graph;
use crate::core::guard::Object;
use crate::core::schema::{Schema, Scope};
use crate::core::set::{Dialect, MigrationSet};
use crate::core::state::Position;
use crate::core::state::State;
use crate::driver::postgres::scratch::{ScratchHolder, ScratchSpace};
use crate::driver::url::DatabaseUrl;
use crate::driver::{self, Driver, OpenOptions, Rows};
use crate::error::{DbError, Error, Result};
use crate::fixture::{self, TestDirs};
use crate::runner::{BackupPolicy, Runner};

/// Where the scratch databases of a live database are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Site {
    /// The live database (for SQLite only its dialect counts).
    pub live: DatabaseUrl,
    /// `--scratch-url`: a PostgreSQL server, or a database, for scratch work.
    pub server: Option<DatabaseUrl>,
    /// The live target's `--schema`; without it, the live connection's current schema.
    pub schema: Option<String>,
}

impl From<&DatabaseUrl> for Site {
    fn from(live: &DatabaseUrl) -> Site {
        Site {
            live: live.clone(),
            server: None,
            schema: None,
        }
    }
}

impl From<&Site> for Site {
    fn from(site: &Site) -> Site {
        site.clone()
    }
}

/// A place checked for making scratch databases: it refuses (exit 2) before anything is built
/// when there is none (a PostgreSQL role without CREATEDB, and no `--scratch-url`).
pub struct Space {
    kind: SpaceKind,
}

enum SpaceKind {
    Memory,
    Server(Box<ScratchSpace>),
}

impl Space {
    /// `purpose` names the command in the refusal, e.g. `verify`.
    pub fn prepare(site: &Site, purpose: &str) -> Result<Space> {
        let kind = match &site.live {
            DatabaseUrl::SqliteFile(..) | DatabaseUrl::SqliteMemory => SpaceKind::Memory,
            DatabaseUrl::Postgres(live) => {
                let server = match &site.server {
                    None => None,
                    Some(DatabaseUrl::Postgres(url)) => Some(url.as_str()),
                    Some(other) => {
                        return Err(Error::Usage(format!(
                            "--scratch-url {} is not a PostgreSQL URL; it names a server or a database ferry may \
                             use for scratch work (postgres://…); SQLite scratch databases are always in memory",
                            other.display()
                        )));
                    }
                };
                SpaceKind::Server(Box::new(ScratchSpace::prepare(
                    live,
                    server,
                    site.schema.as_deref(),
                    purpose,
                )?))
            }
        };
        Ok(Space { kind })
    }

    /// A new scratch database; `purpose` says in any failure inside it what was being built.
    pub fn create(&self, purpose: impl Into<String>) -> Result<Scratch> {
        let purpose = purpose.into();
        match &self.kind {
            SpaceKind::Memory => Ok(Scratch {
                driver: Private(driver::open(
                    &DatabaseUrl::SqliteMemory,
                    &OpenOptions {
                        create: true,
                        schema: None,
                        busy_timeout: Duration::from_secs(5),
                    },
                )?),
                holder: None,
                purpose,
            }),
            SpaceKind::Server(space) => {
                let (driver, holder) = space.create()?;
                Ok(Scratch {
                    driver: Private(Box::new(driver)),
                    holder: Some(holder),
                    purpose,
                })
            }
        }
    }
}

/// A private, throwaway database of the same dialect (and server) as a live one.
pub struct Scratch {
    // Declared first, so the connection is closed before the holder removes the database.
    driver: Private,
    /// PostgreSQL: what removes the scratch database once the driver is closed.
    holder: Option<ScratchHolder>,
    /// The command and what it builds, for failures inside the scratch database.
    purpose: String,
}

impl Scratch {
    /// A scratch database at `site` (in memory for SQLite, a throwaway database on the
    /// PostgreSQL server). `purpose` names the command and what it builds, for messages.
    pub fn beside(site: impl Into<Site>, purpose: &str) -> Result<Scratch> {
        Space::prepare(&site.into(), purpose)?.create(purpose)
    }

    pub fn driver(&mut self) -> &mut dyn Driver {
        &mut self.driver
    }

    pub fn dialect(&self) -> Dialect {
        self.driver.dialect()
    }

    /// Closes the scratch database's connection and hands over what removes it (PostgreSQL),
    /// so the removal, which waits for a checkpoint, can run elsewhere: dropping the holder
    /// removes the database.
    pub fn close(self) -> Option<ScratchHolder> {
        let Scratch { driver, holder, .. } = self;
        drop(driver);
        holder
    }

    /// PostgreSQL: the scratch database's name.
    pub fn database_name(&self) -> Option<&str> {
        self.holder.as_ref().map(ScratchHolder::name)
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
            fixture::build(&mut runner, target, dirs).map_err(failed(&self.purpose))?;
        }
        self.snapshot(set)
    }

    /// The scratch database's schema as a comparison sees it: everything the set created in
    /// it (on PostgreSQL every schema and extension; read a live database with its
    /// [`Schema::scope`] to compare).
    pub fn snapshot(&mut self, set: &MigrationSet) -> Result<Schema> {
        self.driver
            .snapshot_in(
                &crate::bookkeeping::skipped_tables(set),
                &Scope::everything(),
            )
            .map_err(Error::reading("reading the scratch database's schema"))
    }
}

/// Turns a step that failed in a scratch database into the error that says so (the runner's
/// own words are about a live database); other errors pass.
pub fn failed(purpose: &str) -> impl FnOnce(Error) -> Error + '_ {
    move |e| match e {
        Error::StepFailed { step, source, .. } | Error::FixtureFailed { step, source, .. } => {
            Error::ScratchFailed {
                purpose: purpose.to_string(),
                step,
                source,
            }
        }
        other => other,
    }
}

/// The schema a database at `state` should have, built in a scratch database at `site`.
/// `None` for states that have no defined schema (unversioned, ahead, inconsistent, a
/// future legacy version).
pub fn expected_schema(
    set: &MigrationSet,
    graph: &Graph,
    site: impl Into<Site>,
    state: &State,
) -> Result<Option<Schema>> {
    let Some(target) = Position::of_state(state) else {
        return Ok(None);
    };
    let purpose = format!("building the expected schema at {}", target.describe(set));
    let mut scratch = Scratch::beside(site, &purpose)?;
    let dirs = TestDirs::of(set, None);
    Ok(Some(scratch.schema_of(set, graph, &target, &dirs)?))
}

/// The schema after every legacy step, in chain order: the empty database first, then the
/// schema after each step (`set.legacy[i]` is index i + 1), built by replaying the chain once
/// in a scratch database at `site`. `purpose` names the command.
pub fn legacy_schemas(
    set: &MigrationSet,
    graph: &Graph,
    site: impl Into<Site>,
    purpose: &str,
) -> Result<Vec<Schema>> {
    Ok(legacy_schemas_by_version(set, graph, site, purpose)?
        .into_iter()
        .map(|(_, schema)| schema)
        .collect())
}

/// The schema of every legacy version a step leaves, with its number: `(0, empty)` first, then
/// `(N, schema after step N)` for each step in order.
pub fn legacy_schemas_by_version(
    set: &MigrationSet,
    graph: &Graph,
    site: impl Into<Site>,
    purpose: &str,
) -> Result<Vec<(u32, Schema)>> {
    let purpose = format!("{purpose}: replaying the legacy chain");
    let mut scratch = Scratch::beside(site, &purpose)?;
    let mut schemas = vec![(0, scratch.snapshot(set)?)];
    let dirs = TestDirs::default();
    for n in set.step_numbers() {
        {
            let mut runner = Runner::new(set, graph, &mut scratch.driver);
            runner.backup = BackupPolicy::Off;
            fixture::extend_legacy(&mut runner, n, &dirs).map_err(failed(&purpose))?;
        }
        schemas.push((n, scratch.snapshot(set)?));
    }
    Ok(schemas)
}

/// The schema at the baseline and after each revision (in the graph's order), each id with its
/// schema: one scratch database walked revision by revision when the history is a line, one
/// per revision when it branches. `purpose` names the command.
pub fn revision_schemas(
    set: &MigrationSet,
    graph: &Graph,
    site: impl Into<Site>,
    purpose: &str,
) -> Result<Vec<(String, Schema)>> {
    let site = site.into();
    let purpose = format!("{purpose}: building the baseline and every revision");
    let mut ids = vec![set.baseline_id().to_string()];
    ids.extend(graph.order().iter().map(|&n| graph.id(n).to_string()));
    let linear = graph.heads().len() <= 1 && (0..graph.len()).all(|n| graph.downs(n).len() <= 1);
    let mut schemas = Vec::with_capacity(ids.len());
    let mut walked: Option<Scratch> = None;
    for id in ids {
        let mut fresh;
        let scratch = match (&mut walked, linear) {
            (Some(s), true) => s,
            (slot @ None, true) => slot.insert(Scratch::beside(&site, &purpose)?),
            (_, false) => {
                fresh = Scratch::beside(&site, &purpose)?;
                &mut fresh
            }
        };
        {
            let mut runner = Runner::new(set, graph, &mut scratch.driver);
            runner.backup = BackupPolicy::Off;
            runner.upgrade(&id).map_err(failed(&purpose))?;
        }
        schemas.push((id, scratch.snapshot(set)?));
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
