//! [`Migrator`]: one database, one migration set, and the operations the `ferry` command line
//! runs for `status`, `upgrade`, `check` and `verify`. The command line only formats what
//! these return, so an application that upgrades at start-up gets the very same run: one lock
//! for detect → replay → stamp → upgrade, a verified backup of a SQLite file before the first
//! write, refusals of databases it cannot place, one transaction per step with its
//! bookkeeping (a crash leaves the last completed step; running again continues).

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::core::graph::Graph;
use crate::core::identify::Identification;
use crate::core::plan::{self, Step};
use crate::core::release::{Releases, Requirement};
use crate::core::schema::{Difference, diff};
use crate::core::set::MigrationSet;
use crate::core::state::{Position, State, unversioned_refusal};
use crate::driver::url::DatabaseUrl;
use crate::driver::{self, Backup, Driver, OpenOptions};
use crate::error::{Error, Result};
use crate::fixture::TestDirs;
use crate::handoff::{HandoffReport, Invocation};
use crate::runner::{RunReport, Runner, StepReport, describe};
use crate::scratch::{Scratch, Site};
use crate::unversioned::{self, Assume, Assumed};

pub use crate::runner::BackupPolicy;
/// What a run reports while it goes: the number of steps once planned, then each step as it
/// starts and finishes (with its duration).
pub use crate::runner::Event as Progress;

/// Runs a migration set against one database. It is `Send`: an application may run it on
/// another thread (e.g. `spawn_blocking`).
///
/// ```no_run
/// # fn main() -> Result<(), ferry::Error> {
/// use std::time::Duration;
/// use ferry::{BackupPolicy, Migrator, Progress};
///
/// let report = Migrator::new(ferry::reference_set())
///     .database("sqlite:app.db")
///     .lock_timeout(Duration::from_secs(30))
///     .backup(BackupPolicy::Into("backups".into()))
///     .on_progress(|p| {
///         if let Progress::Finished { label, duration, .. } = p {
///             eprintln!("{label}: {} ms", duration.as_millis());
///         }
///     })
///     .upgrade()?;
/// println!("{} step(s), now at {}", report.steps.len(), report.heads.join(", "));
/// # Ok(())
/// # }
/// ```
pub struct Migrator {
    set: MigrationSet,
    database: Option<String>,
    schema: Option<String>,
    scratch_url: Option<String>,
    lock_timeout: Duration,
    backup: BackupPolicy,
    on_progress: Box<dyn FnMut(Progress<'_>) + Send>,
    accept_edited: Vec<String>,
    assume: Option<Assume>,
    /// With a `[handoff]`: the command's stdout goes to stderr (the CLI's `--json`).
    pub(crate) handoff_stdout_to_stderr: bool,
    /// With a `[handoff]`: say on stderr that the hand-off starts.
    pub(crate) handoff_announce: bool,
    /// The set's graph, built once (the set cannot change inside a `Migrator`).
    pub(crate) graph: Option<Graph>,
}

impl std::fmt::Debug for Migrator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Migrator")
            .field("database", &self.url().map(|u| u.display()).ok())
            .field("schema", &self.schema)
            .field("lock_timeout", &self.lock_timeout)
            .field("backup", &self.backup)
            .finish_non_exhaustive()
    }
}

/// What `upgrade` did.
#[derive(Debug, Clone, Serialize)]
pub struct UpgradeReport {
    /// The database, without its password.
    pub database: String,
    /// The SQLite file this run created, because it did not exist (absolute).
    pub created: Option<PathBuf>,
    /// Where the database stood before.
    pub before: State,
    /// What ran, in order, each with its label and duration.
    pub steps: Vec<StepReport>,
    /// The version table's rows after ferry's steps (with a hand-off: after the bridge).
    pub heads: Vec<String>,
    /// The verified copy taken before the first write, if any.
    pub backup: Option<Backup>,
    /// What `assume_legacy` checked and recorded, if it was given.
    pub assumed: Option<Assumed>,
    /// With `[handoff]` in ferry.toml: what the external runner did after the bridge.
    pub handoff: Option<HandoffReport>,
}

impl UpgradeReport {
    /// The report of a run on `database` (no assumption checked, no hand-off).
    pub fn of_run(database: String, created: Option<PathBuf>, run: RunReport) -> UpgradeReport {
        UpgradeReport {
            database,
            created,
            before: run.before,
            steps: run.steps,
            heads: run.heads,
            backup: run.backup,
            assumed: None,
            handoff: None,
        }
    }
}

/// An applied revision whose up SQL changed since it ran.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Edited {
    pub revision: String,
    /// The checksum recorded when it ran.
    pub applied: String,
    /// The checksum of its SQL now.
    pub now: String,
}

/// Where a database stands and what `upgrade` would do. Nothing is written to find out.
#[derive(Debug, Clone)]
pub struct Status {
    pub database: String,
    pub state: State,
    /// The version table's rows.
    pub current: Vec<String>,
    /// The set's head revision(s).
    pub heads: Vec<String>,
    /// What `upgrade heads` would run (every branch), empty when refused.
    pub pending: Vec<Step>,
    /// The label of each pending step.
    pub pending_labels: Vec<String>,
    /// Why no plan can be made (e.g. a dialect without its SQL), when the state is not refused.
    pub plan_error: Option<String>,
    /// Why `upgrade` refuses this database, if it does.
    pub refusal: Option<String>,
    /// Who holds the migration lock right now.
    pub lock_holder: Option<String>,
    /// Applied revisions whose SQL changed since they ran (`upgrade` refuses them).
    pub edited: Vec<Edited>,
    /// An unversioned database: the legacy version(s) its schema matches, or why unknown.
    pub identified: Option<std::result::Result<Identification, String>>,
}

/// What `check` found: pending steps, or none at head.
#[derive(Debug, Clone)]
pub struct Check {
    pub database: String,
    pub state: State,
    /// What `upgrade heads` would run.
    pub pending: Vec<Step>,
    pub pending_labels: Vec<String>,
}

impl Check {
    /// Every head applied, nothing pending.
    pub fn at_head(&self) -> bool {
        self.pending.is_empty()
    }
}

/// The live schema compared with the one the set gives at the database's position.
#[derive(Debug, Clone)]
pub struct Verification {
    pub database: String,
    pub state: State,
    /// The position, in words.
    pub position: String,
    /// Empty when the schemas are equal.
    pub differences: Vec<Difference>,
    pub tables: usize,
    pub indexes: usize,
    pub triggers: usize,
    pub views: usize,
}

impl Verification {
    pub fn equal(&self) -> bool {
        self.differences.is_empty()
    }
}

/// What `verify` finds: a comparison, or an unversioned database identified instead.
#[derive(Debug)]
pub(crate) enum Verified {
    Compared(Verification),
    Unversioned {
        database: String,
        state: State,
        identified: Option<Identification>,
        refusal: String,
    },
}

/// What `upgrade` goes to.
enum Goal<'t> {
    Target(&'t str),
    Release(&'t str),
}

impl Migrator {
    /// A migrator for `set` with the defaults: no database yet, a 60 s lock timeout, the
    /// backup beside a SQLite file, no progress reports.
    pub fn new(set: MigrationSet) -> Migrator {
        Migrator {
            set,
            database: None,
            schema: None,
            scratch_url: None,
            lock_timeout: Duration::from_secs(60),
            backup: BackupPolicy::default(),
            on_progress: Box::new(|_| {}),
            accept_edited: Vec::new(),
            assume: None,
            handoff_stdout_to_stderr: false,
            handoff_announce: false,
            graph: None,
        }
    }

    /// The database: `sqlite:PATH`, `sqlite::memory:`, a bare path, `postgres://…` (the URLs
    /// of the command line's `--database`).
    pub fn database(mut self, url: &str) -> Migrator {
        self.database = Some(url.to_string());
        self
    }

    /// PostgreSQL: the schema that holds the application and ferry's tables.
    pub fn schema(mut self, name: impl Into<String>) -> Migrator {
        self.schema = Some(name.into());
        self
    }

    /// PostgreSQL: where scratch databases go (for `verify`, identifying an unversioned
    /// database, `assume_legacy`) when the role cannot create databases: a server whose role
    /// can, or an empty database.
    pub fn scratch_url(mut self, url: &str) -> Migrator {
        self.scratch_url = Some(url.to_string());
        self
    }

    /// How long to wait for another ferry holding the migration lock (then
    /// [`Error::Locked`], exit code 5).
    pub fn lock_timeout(mut self, timeout: Duration) -> Migrator {
        self.lock_timeout = timeout;
        self
    }

    /// Where the verified backup of a SQLite file taken before the first write goes.
    pub fn backup(mut self, policy: BackupPolicy) -> Migrator {
        self.backup = policy;
        self
    }

    /// Called as a run goes: planned, then each step started and finished.
    pub fn on_progress(mut self, report: impl FnMut(Progress<'_>) + Send + 'static) -> Migrator {
        self.on_progress = Box::new(report);
        self
    }

    /// Accepts that applied revision `revision`'s SQL changed since it ran (recorded in
    /// ferry_history); `upgrade` refuses an edited revision otherwise.
    pub fn accept_edited(mut self, revision: impl Into<String>) -> Migrator {
        self.accept_edited.push(revision.into());
        self
    }

    /// For an unversioned database: take it to be at legacy `version` (a step number) once
    /// its schema is checked against legacy `version`'s (`force`: even when it differs).
    pub fn assume_legacy(self, version: u32, force: bool) -> Migrator {
        self.assume(Assume {
            at: Position::Legacy(version),
            force,
        })
    }

    /// For an unversioned database whose schema is a revision's (or the baseline's): take it
    /// to be at `revision` (an id or unique prefix) once its schema is checked, stamp it, and
    /// upgrade (`force`: even when the schema differs).
    pub fn assume_revision(self, revision: &str, force: bool) -> Migrator {
        self.assume(Assume {
            at: Position::Revisions(vec![revision.to_string()]),
            force,
        })
    }

    pub(crate) fn assume(mut self, assume: Assume) -> Migrator {
        self.assume = Some(assume);
        self
    }

    /// The migration set.
    pub fn migration_set(&self) -> &MigrationSet {
        &self.set
    }

    /// The set's graph: built on first use, then kept.
    fn graph(&mut self) -> Result<Graph> {
        if let Some(graph) = &self.graph {
            return Ok(graph.clone());
        }
        let graph = Graph::new(&self.set)?;
        self.graph = Some(graph.clone());
        Ok(graph)
    }

    /// Where the database stands and what `upgrade` would do. Writes nothing; a missing
    /// SQLite file is reported `empty`, not created.
    pub fn status(&mut self) -> Result<Status> {
        let url = self.url()?;
        let graph = self.graph()?;
        let site = self.site(&url)?;
        let mut db = self.open(&url, false)?;
        let mut runner = Runner::new(&self.set, &graph, db.as_mut());
        let (state, probe) = runner.inspect()?;
        let identified = match &state {
            State::Unversioned { .. } => Some(
                match unversioned::identify(&self.set, &graph, &site, runner.driver) {
                    // No place for a scratch database: refused before anything is built.
                    Err(e @ Error::Usage(_)) => return Err(e),
                    other => other
                        .map_err(|e| e.to_string())
                        .and_then(|i| i.ok_or_else(|| "the set has no legacy version".into())),
                },
            ),
            _ => None,
        };
        let edited = runner
            .edited(&state, &probe)?
            .into_iter()
            .map(|(revision, applied, now)| Edited {
                revision,
                applied,
                now,
            })
            .collect();
        let lock_holder = runner
            .driver
            .lock_holder()
            .map_err(Error::reading("reading the migration lock"))?;
        let refusal = match (&state, &identified) {
            (State::Unversioned { tables }, Some(Ok(id))) => {
                Some(unversioned_refusal(tables, Some(id)))
            }
            _ => state.refusal(&self.set),
        };
        let (pending, plan_error) = match plan::upgrade(&self.set, &graph, &state, "heads")
            .and_then(|p| plan::check_runnable(&self.set, &p, url.dialect()).map(|()| p))
        {
            Ok(p) => (p.steps, None),
            Err(e) => (Vec::new(), Some(e.to_string())),
        };
        Ok(Status {
            database: url.display(),
            current: match &state {
                State::Managed { heads } => heads.clone(),
                _ => Vec::new(),
            },
            heads: heads(&graph),
            pending_labels: pending.iter().map(|s| s.label(&self.set)).collect(),
            pending,
            plan_error,
            refusal,
            lock_holder,
            edited,
            identified,
            state,
        })
    }

    /// What is pending to reach every head. Writes nothing. A state `upgrade` refuses is an
    /// error ([`Error::Refused`], exit code 3).
    pub fn check(&mut self) -> Result<Check> {
        let url = self.url()?;
        let graph = self.graph()?;
        let mut db = self.open(&url, false)?;
        let (state, _) = Runner::new(&self.set, &graph, db.as_mut()).inspect()?;
        let plan = plan::upgrade(&self.set, &graph, &state, "heads")?;
        Ok(Check {
            database: url.display(),
            pending_labels: plan.steps.iter().map(|s| s.label(&self.set)).collect(),
            pending: plan.steps,
            state,
        })
    }

    /// Compares the live schema with the one the set gives at the database's position (built
    /// in a scratch database, never in the live one). Writes nothing. A database without a
    /// position (unversioned, ahead, …) is an error ([`Error::Refused`], exit code 3); an
    /// unversioned one's message names the legacy version its schema matches.
    pub fn verify(&mut self) -> Result<Verification> {
        match self.verify_or_identify()? {
            Verified::Compared(v) => Ok(v),
            Verified::Unversioned { state, refusal, .. } => Err(Error::Refused {
                state: state.name(),
                reason: refusal,
            }),
        }
    }

    pub(crate) fn verify_or_identify(&mut self) -> Result<Verified> {
        let url = self.url()?;
        let site = self.site(&url)?;
        let graph = self.graph()?;
        let set = &self.set;
        let mut db = self.open(&url, false)?;
        let (state, _) = Runner::new(set, &graph, db.as_mut()).inspect()?;
        let Some(target) = Position::of_state(&state) else {
            if let State::Unversioned { tables } = &state {
                let identified = unversioned::identify(set, &graph, &site, db.as_mut())?;
                let refusal = unversioned_refusal(tables, identified.as_ref());
                return Ok(Verified::Unversioned {
                    database: url.display(),
                    state,
                    identified,
                    refusal,
                });
            }
            return Err(Error::Refused {
                state: state.name(),
                reason: format!(
                    "{} There is no position to verify against",
                    state.refusal(set).unwrap_or_default()
                ),
            });
        };
        // Seeds only add rows; a superseded version needs what pre-release builds ran.
        let dirs = TestDirs {
            seeds: None,
            superseded: TestDirs::of(set, None).superseded,
        };
        let purpose = format!(
            "verify: building the expected schema at {}",
            target.describe(set)
        );
        let expected = Scratch::beside(site, &purpose)?.schema_of(set, &graph, &target, &dirs)?;
        // Everything the set creates, wherever it creates it; nothing else of the live database.
        let live = unversioned::live_schema(set, db.as_mut(), &expected.scope())?;
        Ok(Verified::Compared(Verification {
            database: url.display(),
            position: describe(&state),
            differences: diff(&expected, &live),
            tables: live.tables.len(),
            indexes: live.indexes.len(),
            triggers: live.triggers.len(),
            views: live.views.len(),
            state,
        }))
    }

    /// Bridges as needed (fresh install, legacy replay, baseline stamp), then applies every
    /// revision up to the single head; with `[handoff]` in ferry.toml, hands off to the
    /// external runner after the bridge. Creates a missing SQLite file.
    pub fn upgrade(&mut self) -> Result<UpgradeReport> {
        self.run_upgrade(Goal::Target("head"))
    }

    /// As [`Migrator::upgrade`], up to `target`: `head`, `heads` (every branch), `+N`,
    /// `REV+N`, a revision id or unique prefix.
    pub fn upgrade_to(&mut self, target: &str) -> Result<UpgradeReport> {
        self.run_upgrade(Goal::Target(target))
    }

    /// As [`Migrator::upgrade`], up to the revision of the newest release matching
    /// `requirement` (ferry.toml `[[release]]`; a bare version: `4.1` = any 4.1.x).
    pub fn upgrade_to_release(&mut self, requirement: &str) -> Result<UpgradeReport> {
        self.run_upgrade(Goal::Release(requirement))
    }

    fn run_upgrade(&mut self, goal: Goal<'_>) -> Result<UpgradeReport> {
        let graph = self.graph()?;
        // Everything that can be refused without the database is, before it is opened (or a
        // SQLite file created).
        if let Goal::Release(requirement) = goal {
            let requirement = Requirement::parse(requirement)?;
            Releases::of(&self.set)?.upgrade_target(&graph, &requirement, None)?;
        }
        if let (Some(h), Goal::Release(_)) = (&self.set.config.handoff, &goal) {
            return Err(Error::Usage(format!(
                "--to-release picks one of ferry's revisions, and this set hands off to `{}` after the bridge \
                 ([handoff] in ferry.toml): run `ferry upgrade` and let that runner choose",
                plan::shown(&h.command)
            )));
        }
        let url = self.url()?;
        let site = self.site(&url)?;
        let assume = self.checked_assume(&graph, &url)?;
        let handoff = match &self.set.config.handoff {
            Some(h) => {
                let raw = self.database.clone().unwrap_or_else(|| url.display());
                let mut invocation =
                    Invocation::new(&h.command, &raw, &url, self.schema.as_deref())?;
                invocation.stdout_to_stderr = self.handoff_stdout_to_stderr;
                invocation.announce = self.handoff_announce;
                Some(invocation)
            }
            None => None,
        };
        let created = url.missing_file();
        let mut db = self.open(&url, true)?;
        let Migrator {
            set,
            lock_timeout,
            backup,
            on_progress,
            accept_edited,
            ..
        } = self;
        let mut runner = Runner::new(set, &graph, db.as_mut());
        runner.lock_timeout = *lock_timeout;
        runner.backup = backup.clone();
        runner.on_event = Box::new(on_progress);
        runner.accept_edited = accept_edited.clone();
        runner.scratch = Some(site);
        runner.assume = assume;
        let (report, handoff) = match (&handoff, goal) {
            (Some(invocation), Goal::Target(target)) => {
                let (report, h) = runner.hand_off(target, invocation)?;
                (report, Some(h))
            }
            (_, Goal::Target(target)) => (runner.upgrade(target)?, None),
            (_, Goal::Release(requirement)) => {
                let requirement = Requirement::parse(requirement)?;
                let releases = Releases::of(runner.set)?;
                // Checked against the state read now; the upgrade reads it again under the lock.
                let current = Position::of_state(&runner.detect()?);
                let (_, revision) =
                    releases.upgrade_target(runner.graph, &requirement, current.as_ref())?;
                (runner.upgrade(&revision)?, None)
            }
        };
        Ok(UpgradeReport {
            assumed: runner.assumed.take(),
            handoff,
            ..UpgradeReport::of_run(url.display(), created, report)
        })
    }

    /// What `assume_legacy` / `assume_revision` ask for, checked before the database is
    /// opened: a step of the set, a known revision (its full id), an existing database.
    fn checked_assume(&self, graph: &Graph, url: &DatabaseUrl) -> Result<Option<Assume>> {
        let Some(Assume { at, force }) = &self.assume else {
            return Ok(None);
        };
        let at = match at {
            Position::Legacy(version) => {
                if self.set.step(*version).is_none() {
                    return Err(Error::Usage(format!(
                        "--assume-legacy {version}: a legacy version is {} (a step number; `ferry status` names the one whose schema the database has)",
                        self.set.steps_text()
                    )));
                }
                Position::Legacy(*version)
            }
            Position::Revisions(revisions) => {
                let mut ids = Vec::with_capacity(revisions.len());
                for r in revisions {
                    ids.push(if r == self.set.baseline_id() {
                        r.clone()
                    } else {
                        graph.id(graph.lookup(r)?).to_string()
                    });
                }
                Position::Revisions(ids)
            }
        };
        let assume = Assume { at, force: *force };
        if let DatabaseUrl::SqliteFile(path, _) = url
            && !path.exists()
        {
            return Err(Error::Usage(format!(
                "{} is for an existing unversioned database, and {} does not exist",
                assume.option(),
                path.display()
            )));
        }
        Ok(Some(assume))
    }

    fn url(&self) -> Result<DatabaseUrl> {
        let text = self.database.as_deref().ok_or_else(|| {
            Error::Usage(
                "no database given: name one with Migrator::database(URL), e.g. \"sqlite:app.db\""
                    .into(),
            )
        })?;
        let url = DatabaseUrl::parse(text).map_err(Error::Usage)?;
        if self.schema.is_some() && !matches!(url, DatabaseUrl::Postgres(_)) {
            return Err(Error::Usage(format!(
                "a schema applies to PostgreSQL databases only, and {} is not one",
                url.display()
            )));
        }
        Ok(url)
    }

    /// Where scratch databases of `url` are made.
    fn site(&self, url: &DatabaseUrl) -> Result<Site> {
        let server = match &self.scratch_url {
            None => None,
            Some(text) => Some(
                DatabaseUrl::parse(text)
                    .map_err(|e| Error::Usage(format!("the scratch URL: {e}")))?,
            ),
        };
        Ok(Site {
            live: url.clone(),
            server,
            schema: self.schema.clone(),
        })
    }

    fn open(&self, url: &DatabaseUrl, create: bool) -> Result<Box<dyn Driver>> {
        driver::open(
            url,
            &OpenOptions {
                create,
                schema: self.schema.clone(),
                busy_timeout: self.lock_timeout,
            },
        )
    }
}

/// The set's head revision(s).
fn heads(graph: &Graph) -> Vec<String> {
    graph
        .heads()
        .iter()
        .map(|&n| graph.id(n).to_string())
        .collect()
}
